/* attrs.c: one pass over an answer's bytes counts words, complex words, friendly
 * markers, markup and refusal markers; a corpus-wide standardization turns the
 * raw measures into attributes in [-1, 1] (docs/simulator.md, "Attributes"). */
#include "attrs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const attr_names[ATTR_COUNT] = {
    "expertise", "informativeness", "style", "compliance", "formatting", "quality",
};

/* Friendly words and second-person words, by length: each occurrence is a
 * friendly marker. */
static const char *const lex2[] = {"hi", NULL};
static const char *const lex3[] = {"fun", "hey", "you", NULL};
static const char *const lex4[] = {"glad", "hope", "love", "sure", "your", NULL};
static const char *const lex5[] = {"enjoy", "great", "happy", "hello", "thank", "yours", NULL};
static const char *const lex6[] = {"cheers", "lovely", "please", "thanks", NULL};
static const char *const lex7[] = {"amazing", "awesome", "excited", "welcome", NULL};
static const char *const lex8[] = {"yourself", NULL};
static const char *const lex9[] = {"certainly", "delighted", "fantastic", "hopefully",
                                   "wonderful", NULL};
static const char *const lex10[] = {"absolutely", "yourselves", NULL};
static const char *const lex15[] = {"congratulations", NULL};
static const char *const *const lexicon[16] = {
    [2] = lex2, [3] = lex3, [4] = lex4,   [5] = lex5,   [6] = lex6,
    [7] = lex7, [8] = lex8, [9] = lex9, [10] = lex10, [15] = lex15,
};

/* Searched in the lower-cased opening, curly apostrophes folded to '. */
static const char *const refusal_markers[] = {
    "i'm sorry, but",   "i am sorry, but",   "i apologize, but", "as an ai",
    "i cannot",         "i can't",           "i can not",        "i'm unable to",
    "i am unable to",   "i'm not able to",   "i am not able to", "i won't be able to",
    "i will not be able to", "i must decline", "i'm afraid i can",
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

const char *attrs_name(int id)
{
    return id >= 0 && id < ATTR_COUNT ? attr_names[id] : "?";
}

int attrs_lookup(const char *name)
{
    for (int a = 0; a < ATTR_COUNT; a++)
        if (strcmp(name, attr_names[a]) == 0)
            return a;
    return -1;
}

static int in_lexicon(const char *w, size_t n)
{
    if (n >= N_OF(lexicon) || !lexicon[n])
        return 0;
    for (const char *const *l = lexicon[n]; *l; l++)
        if ((*l)[0] == w[0] && memcmp(*l, w, n) == 0)
            return 1;
    return 0;
}

static const unsigned char vowel[256] = {
    ['a'] = 1, ['e'] = 1, ['i'] = 1, ['o'] = 1, ['u'] = 1, ['y'] = 1,
    ['A'] = 1, ['E'] = 1, ['I'] = 1, ['O'] = 1, ['U'] = 1, ['Y'] = 1,
};

static int is_vowel(unsigned char c)
{
    return vowel[c];
}

/* Vowel groups, less a silent final 'e' after a consonant, at least one. */
static unsigned syllables(const unsigned char *w, size_t n)
{
    unsigned groups = 0;
    for (size_t i = 0; i < n; i++)
        if (is_vowel(w[i]) && (i == 0 || !is_vowel(w[i - 1])))
            groups++;
    if (groups > 1 && n >= 2 && (w[n - 1] | 0x20) == 'e' && !is_vowel(w[n - 2]))
        groups--;
    return groups ? groups : 1;
}

/* Length of a separator that looks like a word byte: curly single quotes
 * (U+2018, U+2019) and 4-byte emoji (F0 9F ..); 0 when s[i] is not one. */
static size_t wide_separator(const unsigned char *s, size_t n, size_t i, int *emoji)
{
    *emoji = 0;
    if (s[i] == 0xE2 && i + 2 < n && s[i + 1] == 0x80 && (s[i + 2] == 0x98 || s[i + 2] == 0x99))
        return 3;
    if (s[i] == 0xF0 && i + 3 < n && s[i + 1] == 0x9F) {
        *emoji = 1;
        return 4;
    }
    return 0;
}

static int is_word_byte(unsigned char c)
{
    return (unsigned char)((c | 0x20) - 'a') < 26 || (unsigned char)(c - '0') < 10 ||
           c >= 0x80;
}

static void count_word(const unsigned char *w, size_t n, attrs_counts *c)
{
    c->words++;
    if (syllables(w, n) >= 3)
        c->complex_words++;
    if (n >= N_OF(lexicon) || !lexicon[n])
        return;
    char key[N_OF(lexicon)];
    for (size_t i = 0; i < n; i++)
        key[i] = (char)(w[i] >= 'A' && w[i] <= 'Z' ? w[i] | 0x20 : w[i]);
    key[n] = '\0';
    if (in_lexicon(key, n))
        c->friendly++;
}

/* A line is markup when, after blanks, it opens a list item ("- ", "* ", "+ ",
 * "•", "12. ", "3) "), a header ('#'), a code fence ("```") or a table ('|'). */
static int markup_line(const unsigned char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (i >= n)
        return 0;
    if ((s[i] == '-' || s[i] == '*' || s[i] == '+') && i + 1 < n &&
        (s[i + 1] == ' ' || s[i + 1] == '\t'))
        return 1;
    if (s[i] == 0xE2 && i + 2 < n && s[i + 1] == 0x80 && s[i + 2] == 0xA2)
        return 1;
    if (s[i] == '#' || s[i] == '|')
        return 1;
    if (i + 2 < n && s[i] == '`' && s[i + 1] == '`' && s[i + 2] == '`')
        return 1;
    size_t d = i;
    while (d < n && d - i < 3 && s[d] >= '0' && s[d] <= '9')
        d++;
    return d > i && d + 1 < n && (s[d] == '.' || s[d] == ')') &&
           (s[d + 1] == ' ' || s[d + 1] == '\t');
}

static int has_refusal(const unsigned char *s, size_t n)
{
    char open[ATTRS_REFUSAL_WINDOW + 1];
    size_t m = 0;
    for (size_t i = 0; i < n && m < ATTRS_REFUSAL_WINDOW; i++) {
        unsigned char b = s[i];
        if (b == 0xE2 && i + 2 < n && s[i + 1] == 0x80 && (s[i + 2] == 0x98 || s[i + 2] == 0x99)) {
            open[m++] = '\'';
            i += 2;
        } else if (b == '\0') {
            open[m++] = ' ';
        } else {
            open[m++] = (char)(b >= 'A' && b <= 'Z' ? b | 0x20 : b);
        }
    }
    open[m] = '\0';
    for (size_t i = 0; i < m; i++) {
        if (open[i] != 'i' && open[i] != 'a')
            continue;
        for (size_t k = 0; k < N_OF(refusal_markers); k++)
            if (refusal_markers[k][1] == open[i + 1] &&
                strncmp(open + i, refusal_markers[k], strlen(refusal_markers[k])) == 0)
                return 1;
    }
    return 0;
}

void attrs_count(const char *text, size_t n, attrs_counts *c)
{
    const unsigned char *s = (const unsigned char *)text;
    memset(c, 0, sizeof *c);
    uint32_t stars = 0;
    size_t word_start = 0;
    int in_word = 0;
    if (n)
        c->markup += (uint32_t)markup_line(s, n, 0);
    for (size_t i = 0; i < n;) {
        unsigned char b = s[i];
        int emoji = 0;
        size_t sep = b == 0xE2 || b == 0xF0 ? wide_separator(s, n, i, &emoji) : 0;
        if (sep == 0 && is_word_byte(b)) {
            if (!in_word) {
                word_start = i;
                in_word = 1;
            }
            i++;
            continue;
        }
        if (in_word) {
            count_word(s + word_start, i - word_start, c);
            in_word = 0;
        }
        if (sep) {
            c->friendly += (uint32_t)emoji;
            i += sep;
        } else if (b == '*' && i + 1 < n && s[i + 1] == '*') {
            stars++;
            i += 2;
        } else {
            if (b == '!')
                c->friendly++;
            else if (b == '\n' && i + 1 < n)
                c->markup += (uint32_t)markup_line(s, n, i + 1);
            i++;
        }
    }
    if (in_word)
        count_word(s + word_start, n - word_start, c);
    c->markup += stars / 2;
    c->refusal = has_refusal(s, n);
}

void attrs_raw(const attrs_counts *c, double raw[ATTR_COUNT])
{
    raw[ATTR_EXPERTISE] = c->words ? (double)c->complex_words / c->words : 0.0;
    raw[ATTR_INFORMATIVENESS] = log1p((double)c->words);
    raw[ATTR_STYLE] = (c->friendly - 0.5) / (c->words + 20.0);
    raw[ATTR_COMPLIANCE] = c->refusal ? -1.0 : 1.0;
    raw[ATTR_FORMATTING] = log1p((double)c->markup);
    raw[ATTR_QUALITY] = 0.0;
}

/* tanh of the z-score of x[i * stride] over i < n, written to out likewise. */
static void squash(const double *x, size_t stride, size_t n, float *out, double *mean,
                   double *sd)
{
    double s = 0.0, ss = 0.0;
    for (size_t i = 0; i < n; i++)
        s += x[i * stride];
    double m = n ? s / n : 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = x[i * stride] - m;
        ss += d * d;
    }
    double v = n ? sqrt(ss / n) : 0.0;
    for (size_t i = 0; i < n; i++)
        out[i * ATTR_COUNT] = v > 1e-12 ? (float)tanh((x[i * stride] - m) / v) : 0.0f;
    *mean = m;
    *sd = v;
}

int attrs_standardize(const double *raw, const uint32_t *model, size_t n,
                      size_t n_models, float *out, attrs_stats *st, ppr_err *e)
{
    static const int scaled[] = {ATTR_EXPERTISE, ATTR_INFORMATIVENESS, ATTR_STYLE,
                                 ATTR_FORMATTING};
    for (size_t i = 0; i < n; i++)
        if (model[i] >= n_models)
            return err_set(e, PPR_EINTERNAL, "answer %zu names model %u of %zu", i,
                           model[i], n_models);
    for (size_t k = 0; k < N_OF(scaled); k++) {
        int a = scaled[k];
        squash(raw + a, ATTR_COUNT, n, out + a, &st->mean[a], &st->sd[a]);
    }
    for (size_t i = 0; i < n; i++)
        out[i * ATTR_COUNT + ATTR_COMPLIANCE] = (float)raw[i * ATTR_COUNT + ATTR_COMPLIANCE];
    st->mean[ATTR_COMPLIANCE] = 0.0;
    st->sd[ATTR_COMPLIANCE] = 1.0;

    double *sum = calloc(n_models ? n_models : 1, sizeof *sum);   /* [n_models] */
    size_t *cnt = calloc(n_models ? n_models : 1, sizeof *cnt);   /* [n_models] */
    double *q = malloc((n ? n : 1) * sizeof *q);                   /* [n] */
    if (!sum || !cnt || !q) {
        free(sum);
        free(cnt);
        free(q);
        return err_nomem(e);
    }
    for (size_t i = 0; i < n; i++) {
        const float *o = out + i * ATTR_COUNT;
        sum[model[i]] +=
            (o[ATTR_INFORMATIVENESS] + o[ATTR_FORMATTING] + o[ATTR_COMPLIANCE]) / 3.0;
        cnt[model[i]]++;
    }
    for (size_t i = 0; i < n; i++)
        q[i] = sum[model[i]] / cnt[model[i]];
    squash(q, 1, n, out + ATTR_QUALITY, &st->mean[ATTR_QUALITY], &st->sd[ATTR_QUALITY]);
    free(sum);
    free(cnt);
    free(q);
    return PPR_OK;
}
