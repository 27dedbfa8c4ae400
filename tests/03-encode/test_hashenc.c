/* test_hashenc.c: the hash encoder against values derived apart from it: small
 * vectors worked out by hand (slots and signs from a separate Python script,
 * checked again by this file's own hash), and a plain second implementation of
 * the rule in docs/encoders.md that must agree on varied texts. */
#include <CUnit/Basic.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "stages/03-encode/encoder.h"
#include "tests/testlib.h"

#define EPS 1e-6
#define CFG(dim, lo, hi, bigrams)                                                          \
    "{\"dim\":" dim ",\"char_ngram_min\":" lo ",\"char_ngram_max\":" hi                     \
    ",\"word_bigrams\":" bigrams "}"
#define BIG_CFG CFG("1024", "3", "5", "true")
#define TINY_CFG CFG("16", "0", "0", "true")

static encoder *enc_open(const char *json)
{
    cJSON *cfg = cJSON_Parse(json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    encoder *enc = NULL;
    ppr_err e = {0};
    int rc = hashenc_open(&enc, cfg, "test", &e);
    cJSON_Delete(cfg);
    if (rc)
        fprintf(stderr, "\n  %s\n", e.msg);
    CU_ASSERT_EQUAL_FATAL(rc, PPR_OK);
    return enc;
}

/* One text's row; malloc'd, [enc->dim]. */
static float *text_encode(encoder *enc, const char *text, size_t len)
{
    float *row = malloc(enc->dim * sizeof *row);
    CU_ASSERT_PTR_NOT_NULL_FATAL(row);
    ppr_err e = {0};
    CU_ASSERT_EQUAL_FATAL(enc->encode(enc, &text, &len, 1, row, &e), PPR_OK);
    return row;
}

/* ================ the reference: the rule written plainly ================ */

static uint64_t ref_fnv1a(const unsigned char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t ref_fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return k;
}

static uint64_t ref_hash(const char *s)
{
    return ref_fmix64(ref_fnv1a((const unsigned char *)s, strlen(s)));
}

typedef struct {
    int dim, lo, hi, bigrams;
} ref_cfg;

static int ref_wordish(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80;
}

static int ref_space(unsigned char c)
{
    return c && strchr(" \t\n\v\f\r", c) != NULL;
}

/* Byte i of the lower-cased text l belongs to a word. */
static int ref_in_word(const unsigned char *l, size_t n, size_t i)
{
    if (ref_wordish(l[i]))
        return 1;
    return l[i] == '\'' && i > 0 && ref_wordish(l[i - 1]) && i + 1 < n && ref_wordish(l[i + 1]);
}

/* Hash the string kind ++ a (++ " " ++ b when b) and count it. */
static void ref_count(long long *counts, int dim, const char *kind, const unsigned char *a,
                      size_t na, const unsigned char *b, size_t nb)
{
    unsigned char *buf = malloc(2 + na + 1 + nb);
    size_t m = 0;
    memcpy(buf, kind, 2);
    m += 2;
    memcpy(buf + m, a, na);
    m += na;
    if (b) {
        buf[m++] = ' ';
        memcpy(buf + m, b, nb);
        m += nb;
    }
    uint64_t h = ref_fmix64(ref_fnv1a(buf, m));
    counts[h % (uint64_t)dim] += (h >> 63) ? -1 : 1;
    free(buf);
}

/* Does line (n bytes, no '\n') open with a list marker after spaces and tabs? */
static int ref_list_item(const char *line, size_t n)
{
    size_t i = 0;
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        i++;
    int blank_next = i + 1 < n && (line[i + 1] == ' ' || line[i + 1] == '\t');
    if (blank_next && line[i] && strchr("-*+", line[i]))
        return 1;
    size_t d = i;
    while (d < n && line[d] >= '0' && line[d] <= '9')
        d++;
    return d > i && d + 1 < n && (line[d] == '.' || line[d] == ')') &&
           (line[d + 1] == ' ' || line[d + 1] == '\t');
}

static int ref_fence(const char *line, size_t n)
{
    size_t i = 0;
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        i++;
    return n - i >= 3 && memcmp(line + i, "```", 3) == 0;
}

static void ref_encode(ref_cfg c, const char *text, size_t n, double *out /* [c.dim + 4] */)
{
    unsigned char *l = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)text[i];
        l[i] = (b >= 'A' && b <= 'Z') ? (unsigned char)(b - 'A' + 'a') : b;
    }
    long long *counts = calloc((size_t)c.dim, sizeof *counts);

    /* words as (start, length) */
    size_t *ws = malloc((n + 1) * sizeof *ws), *wl = malloc((n + 1) * sizeof *wl), nw = 0;
    for (size_t i = 0; i < n;) {
        if (!ref_in_word(l, n, i)) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && ref_in_word(l, n, j))
            j++;
        ws[nw] = i;
        wl[nw++] = j - i;
        i = j;
    }
    for (size_t k = 0; k < nw; k++) {
        ref_count(counts, c.dim, "w:", l + ws[k], wl[k], NULL, 0);
        if (c.bigrams && k > 0)
            ref_count(counts, c.dim, "w:", l + ws[k - 1], wl[k - 1], l + ws[k], wl[k]);
    }

    /* character n-grams of " " ++ (non-space runs joined by one space) ++ " " */
    if (c.lo) {
        unsigned char *s = malloc(n + 2);
        size_t m = 0;
        for (size_t i = 0; i < n;) {
            if (ref_space(l[i])) {
                i++;
                continue;
            }
            s[m++] = ' ';
            while (i < n && !ref_space(l[i]))
                s[m++] = l[i++];
        }
        if (m)
            s[m++] = ' ';
        for (int g = c.lo; g <= c.hi; g++)
            for (size_t i = 0; i + (size_t)g <= m; i++)
                ref_count(counts, c.dim, "c:", s + i, (size_t)g, NULL, 0);
        free(s);
    }

    double ss = 0;
    for (int j = 0; j < c.dim; j++) {
        long long k = counts[j];
        out[j] = k == 0 ? 0.0 : (k > 0 ? 1.0 : -1.0) * (1.0 + log((double)llabs(k)));
        ss += out[j] * out[j];
    }
    for (int j = 0; j < c.dim && ss > 0; j++)
        out[j] /= sqrt(ss);

    /* sentences: pieces cut after each . ! ? followed by whitespace or the end */
    size_t sentences = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        int cut = i == n || (l[i] && strchr(".!?", l[i]) && (i + 1 == n || ref_space(l[i + 1])));
        if (!cut)
            continue;
        size_t end = i == n ? n : i + 1;
        for (size_t j = start; j < end; j++) {
            if (ref_in_word(l, n, j)) {
                sentences++;
                break;
            }
        }
        start = end;
    }

    size_t items = 0, fences = 0;
    for (size_t i = 0; i <= n;) {
        const char *nl = memchr(text + i, '\n', n - i);
        size_t len = nl ? (size_t)(nl - (text + i)) : n - i;
        items += (size_t)ref_list_item(text + i, len);
        fences += (size_t)ref_fence(text + i, len);
        i += len + 1;
    }
    out[c.dim + 0] = log(1.0 + (double)nw);
    out[c.dim + 1] = log(1.0 + (double)sentences);
    out[c.dim + 2] = log(1.0 + (double)items);
    out[c.dim + 3] = log(1.0 + (double)(fences / 2));
    free(ws);
    free(wl);
    free(counts);
    free(l);
}

/* ============================= hand-worked ============================== */

/* The reference hash is FNV-1a 64 (published test vectors) then fmix64; the
 * slots and signs below at dim 16 came from a separate Python script. */
static void test_hash_vectors(void)
{
    CU_ASSERT_EQUAL(ref_fnv1a((const unsigned char *)"", 0), 0xcbf29ce484222325ull);
    CU_ASSERT_EQUAL(ref_fnv1a((const unsigned char *)"a", 1), 0xaf63dc4c8601ec8cull);
    CU_ASSERT_EQUAL(ref_fnv1a((const unsigned char *)"foobar", 6), 0x85944171f73967e8ull);
    CU_ASSERT_EQUAL(ref_hash("w:hi"), 0x3da108aa01649bc0ull);       /* slot 0, + */
    CU_ASSERT_EQUAL(ref_hash("w:there"), 0x0f02ea35724b10e2ull);    /* slot 2, + */
    CU_ASSERT_EQUAL(ref_hash("w:hi hi"), 0xdc1a8f9c8fec787eull);    /* slot 14, - */
    CU_ASSERT_EQUAL(ref_hash("w:hi there"), 0x0c4f68744ec569acull); /* slot 12, + */
    CU_ASSERT_EQUAL(ref_hash("w:a") & 15, 11u);                     /* + */
    CU_ASSERT_EQUAL(ref_hash("w:a") >> 63, 0u);
    CU_ASSERT_EQUAL(ref_hash("w:b") & 15, 5u); /* - */
    CU_ASSERT_EQUAL(ref_hash("w:b") >> 63, 1u);
    CU_ASSERT_EQUAL(ref_hash("w:a b") & 15, 5u); /* - */
    CU_ASSERT_EQUAL(ref_hash("w:a b") >> 63, 1u);
    CU_ASSERT_EQUAL(ref_hash("w:q") & 15, 11u); /* - */
    CU_ASSERT_EQUAL(ref_hash("w:q") >> 63, 1u);
    CU_ASSERT_EQUAL(ref_hash("w:it's") & 15, 3u); /* + */
    CU_ASSERT_EQUAL(ref_hash("w:it's") >> 63, 0u);
}

static void row_expect(const float *row, const double *want, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        if (fabs(row[j] - want[j]) > EPS)
            fprintf(stderr, "\n  slot %zu: %.9g, want %.9g\n", j, row[j], want[j]);
        CU_ASSERT_DOUBLE_EQUAL(row[j], want[j], EPS);
    }
}

/* "Hi, hi there!": unigrams hi x2 (slot 0, +), there (2, +); bigrams "hi hi"
 * (14, -), "hi there" (12, +). Signed counts +2, +1, -1, +1; weights 1 + ln 2,
 * 1, -1, 1; norm sqrt((1 + ln 2)^2 + 3) = 2.42214. 3 words, 1 sentence. */
static void test_hand_vector(void)
{
    encoder *enc = enc_open(TINY_CFG);
    CU_ASSERT_STRING_EQUAL(enc->name, "hash");
    CU_ASSERT_EQUAL(enc->dim, 20u);
    const char *t = "Hi, hi there!";
    float *row = text_encode(enc, t, strlen(t));
    double w = 1.0 + log(2.0), norm = sqrt(w * w + 3.0), want[20] = {0};
    want[0] = w / norm;
    want[2] = 1.0 / norm;
    want[14] = -1.0 / norm;
    want[12] = 1.0 / norm;
    want[16] = log(4.0);
    want[17] = log(2.0);
    row_expect(row, want, 20);
    CU_ASSERT_DOUBLE_EQUAL(row[0], 0.6990303, EPS); /* as in docs/encoders.md */
    CU_ASSERT_DOUBLE_EQUAL(row[14], -0.4128586, EPS);
    free(row);
    encoder_free(enc);
}

/* "a b": a (slot 11, +), b (5, -), "a b" (5, -): slot 5 holds -2, so weights
 * -(1 + ln 2) and 1. "a q" without bigrams: a (11, +) and q (11, -) cancel,
 * and a zero vector stays zero. */
static void test_hand_collisions(void)
{
    encoder *enc = enc_open(TINY_CFG);
    float *row = text_encode(enc, "a b", 3);
    double w = 1.0 + log(2.0), norm = sqrt(w * w + 1.0), want[20] = {0};
    want[5] = -w / norm;
    want[11] = 1.0 / norm;
    want[16] = log(3.0);
    want[17] = log(2.0);
    row_expect(row, want, 20);
    free(row);
    encoder_free(enc);

    enc = enc_open(CFG("16", "0", "0", "false"));
    row = text_encode(enc, "a q", 3);
    double zero[20] = {0};
    zero[16] = log(3.0);
    zero[17] = log(2.0);
    row_expect(row, zero, 20);
    free(row);
    encoder_free(enc);
}

/* Apostrophes join only between word bytes, and case does not matter: "IT'S"
 * is the one word it's (slot 3, +), "it''s" the two words it and s. */
static void test_hand_apostrophes(void)
{
    encoder *enc = enc_open(CFG("16", "0", "0", "false"));
    float *row = text_encode(enc, "IT'S", 4);
    double want[20] = {0};
    want[3] = 1.0;
    want[16] = log(2.0);
    want[17] = log(2.0);
    row_expect(row, want, 20);
    free(row);
    const char *t = "'rock 'n' roll, students' books''";
    row = text_encode(enc, t, strlen(t));
    CU_ASSERT_DOUBLE_EQUAL(row[16], log(1.0 + 5.0), EPS); /* rock n roll students books */
    free(row);
    row = text_encode(enc, "it''s", 5);
    CU_ASSERT_DOUBLE_EQUAL(row[16], log(3.0), EPS);
    free(row);
    encoder_free(enc);
}

/* ============================== edge texts =============================== */

static void test_empty(void)
{
    encoder *enc = enc_open(BIG_CFG);
    const char *texts[] = {"", " \n\t \r\n "};
    for (size_t k = 0; k < 2; k++) {
        float *row = text_encode(enc, texts[k], strlen(texts[k]));
        for (uint32_t j = 0; j < enc->dim; j++)
            CU_ASSERT_EQUAL(row[j], 0.0f);
        free(row);
    }
    encoder_free(enc);
}

/* Punctuation has no words, hence no word features and no sentence, but with
 * n-grams on it has those of " ?!... --- ***! " and a unit norm. */
static void test_punctuation(void)
{
    const char *t = "?!... ---\n***!";
    encoder *tiny = enc_open(TINY_CFG);
    float *row = text_encode(tiny, t, strlen(t));
    for (uint32_t j = 0; j < tiny->dim; j++)
        CU_ASSERT_EQUAL(row[j], 0.0f);
    free(row);
    encoder_free(tiny);

    encoder *enc = enc_open(BIG_CFG);
    row = text_encode(enc, t, strlen(t));
    double *want = malloc(enc->dim * sizeof *want), ss = 0;
    ref_encode((ref_cfg){1024, 3, 5, 1}, t, strlen(t), want);
    row_expect(row, want, enc->dim);
    for (int j = 0; j < 1024; j++)
        ss += (double)row[j] * row[j];
    CU_ASSERT_DOUBLE_EQUAL(ss, 1.0, 1e-5);
    for (int j = 1024; j < 1028; j++)
        CU_ASSERT_EQUAL(row[j], 0.0f);
    free(want);
    free(row);
    encoder_free(enc);
}

/* Bytes that are not UTF-8 are word bytes like any other at or above 0x80:
 * "\xff\xfe\xc3" and "\x80abc\xe2\x82" are two words. Same bits every time. */
static void test_invalid_utf8(void)
{
    const char t[] = "\xff\xfe\xc3(\x80" "ABC\xe2\x82";
    size_t n = sizeof t - 1;
    encoder *enc = enc_open(BIG_CFG);
    float *a = text_encode(enc, t, n), *b = text_encode(enc, t, n);
    CU_ASSERT_EQUAL(memcmp(a, b, enc->dim * sizeof *a), 0);
    CU_ASSERT_DOUBLE_EQUAL(a[1024], log(3.0), EPS);
    CU_ASSERT_DOUBLE_EQUAL(a[1025], log(2.0), EPS);
    double *want = malloc(enc->dim * sizeof *want);
    ref_encode((ref_cfg){1024, 3, 5, 1}, t, n, want);
    row_expect(a, want, enc->dim);
    free(want);
    free(a);
    free(b);
    encoder_free(enc);
}

/* Lines: item, item, not (+third), item, item, not (4.no), not (**bold**),
 * fence, -, fence, fence: 4 items, 3 fences so 1 block. 16 words. Sentences
 * end after "line." and "12." and at the end: 3. */
static void test_surface(void)
{
    const char *t = "Intro line.\n- first item\n  * second\n+third\n12. twelve\n3) three\n"
                    "4.no\n**bold**\n```python\nx = 1\n```\n```\n";
    encoder *enc = enc_open(TINY_CFG);
    float *row = text_encode(enc, t, strlen(t));
    CU_ASSERT_DOUBLE_EQUAL(row[16], log(17.0), EPS);
    CU_ASSERT_DOUBLE_EQUAL(row[17], log(4.0), EPS);
    CU_ASSERT_DOUBLE_EQUAL(row[18], log(5.0), EPS);
    CU_ASSERT_DOUBLE_EQUAL(row[19], log(2.0), EPS);
    free(row);

    /* 3 14 is pi | really | yes | e g | this: 9 words, 5 sentences */
    t = "3.14 is pi. Really?! Yes... e.g. this";
    row = text_encode(enc, t, strlen(t));
    CU_ASSERT_DOUBLE_EQUAL(row[16], log(10.0), EPS);
    CU_ASSERT_DOUBLE_EQUAL(row[17], log(6.0), EPS);
    free(row);
    encoder_free(enc);
}

/* ========================== against the reference ======================== */

static const char *const VARIED[] = {
    "Hello, World!",
    "The quick brown fox jumps over the lazy dog. The dog sleeps.",
    "  leading and trailing   spaces \t\n",
    "UPPER lower MiXeD 123 abc123 ABC-def_ghi",
    "Café — naïve résumé; São Paulo’s “quotes”",
    "日本語のテキストです。 中文文本！",
    "emoji 😀😀 and 🚀 rockets",
    "line one\nline two\r\nline three\n\n\nfour",
    "- a\n- b\n* c\n+ d\n1. e\n2) f\n10. g\n-not\n",
    ("Here is code:\n```python\ndef f(x):\n    return x * 2\n```\n"
     "and more ```inline``` text\n```\nopen"),
    "don't won't it's 'quoted' rock 'n' roll students' ''' a'b'c",
    "3.14159 is pi. e.g. this! Really?! Yes... No.",
    "?!?!...",
    "a",
    "ab",
    "x y z",
    "\xff\xfe\xfd invalid \xc3\x28 bytes \xe2\x82",
    "\x80\x81\x82\x83\x84\x85\x86\x87",
    "tabs\tand\vvertical\fform\rfeeds",
    "repeat repeat repeat repeat repeat repeat repeat repeat",
    "A. B. C. D. E. F. G.",
    "http://example.com/path?q=1&r=2#frag",
    "   1. indented item\n\t2) tabbed item\n   ```\n   indented fence\n   ```",
    "Numbers: 1,000,000 and 3.5% and $42.00",
    "MIXED\nCase\nLines\nWITH\nwords",
    "**Bold** _italic_ `code` [link](url) <tag>",
    "a b c d e f g h i j k l m n o p q r s t u v w x y z",
    "The the THE tHe",
    "x\n",
    "!",
    "...a...",
    "He said \"hi.\" Then left!",
    "'",
    "word'",
    "'word",
};
#define N_VARIED (sizeof VARIED / sizeof *VARIED)

static void ref_check(const char *json, ref_cfg c)
{
    encoder *enc = enc_open(json);
    CU_ASSERT_EQUAL_FATAL(enc->dim, (uint32_t)c.dim + 4);
    double *want = malloc(enc->dim * sizeof *want);
    for (size_t k = 0; k < N_VARIED; k++) {
        size_t n = strlen(VARIED[k]);
        float *row = text_encode(enc, VARIED[k], n);
        ref_encode(c, VARIED[k], n, want);
        row_expect(row, want, enc->dim);
        free(row);
    }
    free(want);
    encoder_free(enc);
}

/* "surface": false leaves the four surface features out: the row is the
 * hashed part alone, the same values as with them. */
static void test_surface_off(void)
{
    encoder *with = enc_open(BIG_CFG);
    encoder *without = enc_open("{\"dim\":1024,\"char_ngram_min\":3,\"char_ngram_max\":5,"
                                "\"word_bigrams\":true,\"surface\":false}");
    CU_ASSERT_EQUAL(with->dim, 1024 + 4);
    CU_ASSERT_EQUAL(without->dim, 1024);
    const char *text = "One sentence. Two!\n- a list item\n```\ncode\n```\n";
    float *a = text_encode(with, text, strlen(text)), *b = text_encode(without, text, strlen(text));
    CU_ASSERT(memcmp(a, b, 1024 * sizeof *a) == 0);
    CU_ASSERT(a[1024] > 0); /* log(1 + words) */
    free(a);
    free(b);
    with->free(with);
    without->free(without);
    cJSON *cfg = cJSON_Parse("{\"dim\":16,\"char_ngram_min\":0,\"char_ngram_max\":0,"
                             "\"word_bigrams\":true,\"surface\":1}");
    encoder *enc = NULL;
    ppr_err e = {0};
    CU_ASSERT_EQUAL(hashenc_open(&enc, cfg, "test", &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "surface"));
    cJSON_Delete(cfg);
}

static void test_reference_big(void)
{
    ref_check(BIG_CFG, (ref_cfg){1024, 3, 5, 1});
}

static void test_reference_other(void)
{
    ref_check(CFG("16", "1", "2", "false"),
                      (ref_cfg){16, 1, 2, 0});
    ref_check(CFG("64", "4", "4", "true"),
                      (ref_cfg){64, 4, 4, 1});
}

/* 300 strings of up to 40 bytes drawn (fixed LCG) from the bytes the rule
 * treats specially, so that markers, apostrophes and ends meet in every order. */
static void test_reference_random(void)
{
    static const char alphabet[] = "aZ9 '\n\t\r.!?-*+`)\xc3\xa9\xff";
    encoder *enc = enc_open(CFG("64", "2", "4", "true"));
    double want[68];
    char t[40];
    uint64_t x = 42;
    for (int k = 0; k < 300; k++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        size_t n = (size_t)(x >> 33) % sizeof t;
        for (size_t i = 0; i < n; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            t[i] = alphabet[(x >> 33) % (sizeof alphabet - 1)];
        }
        float *row = text_encode(enc, t, n);
        ref_encode((ref_cfg){64, 2, 4, 1}, t, n, want);
        row_expect(row, want, 68);
        free(row);
    }
    encoder_free(enc);
}

/* Counts beyond any small table: "ab " 5000 times. */
static void test_reference_long(void)
{
    size_t n = 15000;
    char *t = malloc(n + 1);
    for (size_t i = 0; i < n; i += 3)
        memcpy(t + i, "ab ", 3);
    t[n] = 0;
    encoder *enc = enc_open(BIG_CFG);
    float *row = text_encode(enc, t, n);
    double *want = malloc(enc->dim * sizeof *want);
    ref_encode((ref_cfg){1024, 3, 5, 1}, t, n, want);
    row_expect(row, want, enc->dim);
    free(want);
    free(row);
    free(t);
    encoder_free(enc);
}

/* ======================= batches and threads ============================ */

typedef struct {
    encoder *enc;
    size_t lo, hi;
    const size_t *lens;
    float *out;
    int rc;
} slice;

static void *slice_run(void *p)
{
    slice *s = p;
    ppr_err e = {0};
    s->rc = s->enc->encode(s->enc, VARIED + s->lo, s->lens + s->lo, s->hi - s->lo,
                           s->out + s->lo * s->enc->dim, &e);
    return NULL;
}

/* One call over all texts equals one call per text, and four threads sharing
 * the encoder on disjoint slices give the same bits. */
static void test_batches_threads(void)
{
    encoder *enc = enc_open(BIG_CFG);
    size_t lens[N_VARIED], d = enc->dim;
    for (size_t k = 0; k < N_VARIED; k++)
        lens[k] = strlen(VARIED[k]);
    float *all = malloc(N_VARIED * d * sizeof *all), *par = malloc(N_VARIED * d * sizeof *par);
    ppr_err e = {0};
    CU_ASSERT_EQUAL_FATAL(enc->encode(enc, VARIED, lens, N_VARIED, all, &e), PPR_OK);
    for (size_t k = 0; k < N_VARIED; k++) {
        float *row = text_encode(enc, VARIED[k], lens[k]);
        CU_ASSERT_EQUAL(memcmp(row, all + k * d, d * sizeof *row), 0);
        free(row);
    }
    slice sl[4];
    pthread_t th[4];
    for (size_t t = 0; t < 4; t++) {
        sl[t] = (slice){enc, N_VARIED * t / 4, N_VARIED * (t + 1) / 4, lens, par, -1};
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[t], NULL, slice_run, &sl[t]), 0);
    }
    for (size_t t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        CU_ASSERT_EQUAL(sl[t].rc, PPR_OK);
    }
    CU_ASSERT_EQUAL(memcmp(all, par, N_VARIED * d * sizeof *all), 0);
    free(all);
    free(par);
    encoder_free(enc);
}

/* ============================== config ================================== */

static void open_expect_fail(const char *json, const char *needle)
{
    cJSON *cfg = cJSON_Parse(json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    encoder *enc = (encoder *)1;
    ppr_err e = {0};
    CU_ASSERT_EQUAL(hashenc_open(&enc, cfg, "encoders.hash", &e), PPR_EINPUT);
    CU_ASSERT_PTR_NULL(enc);
    CU_ASSERT_EQUAL(e.code, PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'encoders.hash'"));
    CU_ASSERT(err_has(&e, needle));
    cJSON_Delete(cfg);
}

static void test_config_errors(void)
{
    const char *pow2 = "field \"dim\" must be a power of two in [16, 1048576]";
    open_expect_fail(CFG("1000", "3", "5", "true"), pow2);
    open_expect_fail(CFG("8", "3", "5", "true"), pow2);
    open_expect_fail(CFG("2097152", "3", "5", "true"), pow2);
    open_expect_fail(CFG("0", "3", "5", "true"), pow2);
    open_expect_fail(CFG("1024.5", "3", "5", "true"), "field \"dim\" must be an integer");
    open_expect_fail(CFG("1024", "5", "3", "true"),
                     "field \"char_ngram_min\" (5) must not exceed \"char_ngram_max\" (3)");
    open_expect_fail(CFG("1024", "0", "3", "true"), "field \"char_ngram_min\" must be in [1, 16]");
    open_expect_fail(CFG("1024", "3", "17", "true"), "field \"char_ngram_max\" must be in [1, 16]");
    open_expect_fail("{\"char_ngram_min\":3,\"char_ngram_max\":5,\"word_bigrams\":true}",
                     "missing field \"dim\"");
    open_expect_fail("{\"dim\":1024,\"char_ngram_max\":5,\"word_bigrams\":true}",
                     "missing field \"char_ngram_min\"");
    open_expect_fail("{\"dim\":1024,\"char_ngram_min\":3,\"char_ngram_max\":5}",
                     "missing field \"word_bigrams\"");
    open_expect_fail(CFG("1024", "3", "5", "1"), "field \"word_bigrams\" must be true or false");
    open_expect_fail("[]", "missing field \"dim\"");
}

int main(void)
{
    static const test_case cases[] = {
        {"hash vectors", test_hash_vectors},
        {"hand vector", test_hand_vector},
        {"hand collisions", test_hand_collisions},
        {"hand apostrophes", test_hand_apostrophes},
        {"empty", test_empty},
        {"punctuation", test_punctuation},
        {"invalid utf-8", test_invalid_utf8},
        {"surface", test_surface},
        {"surface off", test_surface_off},
        {"reference dim 1024", test_reference_big},
        {"reference other configs", test_reference_other},
        {"reference random", test_reference_random},
        {"reference long", test_reference_long},
        {"batches and threads", test_batches_threads},
        {"config errors", test_config_errors},
        {NULL, NULL},
    };
    return test_main("hashenc", NULL, NULL, cases, CU_BRM_VERBOSE);
}
