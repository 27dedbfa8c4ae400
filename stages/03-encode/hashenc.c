/* hashenc.c: the default text encoder: signed feature hashing of words, word
 * bigrams and byte n-grams with sub-linear weights, L2-normalized, then four
 * surface counts. The rule is docs/encoders.md, section "hash"; this file is
 * one fast way to compute it (a scan of the text plus a scan of its padded
 * lower-cased copy, counts in one dense array per call). */
#include <math.h>
#include <stdlib.h>

#include "common/json.h"
#include "encoder.h"
#include "tokens.h"

#define DIM_MIN 16u
#define DIM_MAX 1048576u
#define GRAM_MAX 16   /* longest character n-gram a config may ask for */
#define SUBLIN_N 1024 /* counts whose weight comes from a table */
#define N_SURFACE 4   /* words, sentences, list items, code blocks */

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

typedef struct {
    encoder base;            /* first, so that an encoder * is a hashenc * */
    uint64_t mask;           /* cfg.dim - 1: the slot is the hash's low bits */
    uint64_t word_seed;      /* FNV-1a state after "w:" */
    uint64_t gram_seed;      /* FNV-1a state after "c:" */
    int gram_min, gram_max;  /* 0 0: no character n-grams */
    int bigrams;             /* cfg.word_bigrams */
    int surface;             /* cfg.surface: the four surface features follow */
    double sublin[SUBLIN_N]; /* [SUBLIN_N] 1 + ln c for c >= 1; 0 for c = 0 */
} hashenc;

/* The counts behind the four surface features of one text. */
typedef struct {
    size_t words, sentences, items, fences;
} surface;

/* ============================== hashing ================================= */

static inline uint64_t fnv_step(uint64_t h, unsigned c)
{
    return (h ^ c) * FNV_PRIME;
}

/* MurmurHash3's fmix64: FNV-1a's low bits depend only on the inputs' low bits,
 * and the slot is taken from the low bits, so they are mixed first. */
static inline uint64_t hash_mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

/* One occurrence of the feature whose FNV-1a state is h: bit 63 of the mixed
 * hash is the sign (1: -1), the low bits the slot. */
static inline void feature_add(int64_t *counts, uint64_t mask, uint64_t h)
{
    uint64_t m = hash_mix(h);
    counts[m & mask] += 1 - 2 * (int64_t)(m >> 63);
}

/* =============================== bytes ================================== */

static inline int byte_is_space(unsigned c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static inline int byte_is_blank(unsigned c)
{
    return c == ' ' || c == '\t';
}

/* ============================== one text ================================ */

/* Count the line starting at t[i] as a code fence (after spaces and tabs,
 * "```") or a list item (after spaces and tabs, "-", "*", "+" or digits then
 * "." or ")", followed by a space or a tab), or as neither. */
static void line_classify(const unsigned char *t, size_t i, size_t len, surface *s)
{
    while (i < len && byte_is_blank(t[i]))
        i++;
    if (i == len)
        return;
    if (len - i >= 3 && t[i] == '`' && t[i + 1] == '`' && t[i + 2] == '`') {
        s->fences++;
        return;
    }
    size_t j = i;
    if (t[j] == '-' || t[j] == '*' || t[j] == '+') {
        j++;
    } else {
        while (j < len && t[j] >= '0' && t[j] <= '9')
            j++;
        if (j == i || j == len || (t[j] != '.' && t[j] != ')'))
            return;
        j++;
    }
    if (j < len && byte_is_blank(t[j]))
        s->items++;
}

/* The word features and the surface counts of t, in one scan that also writes
 * norm, the text the character n-grams are taken from: lower-cased, whitespace
 * runs as one space, with one space before and after (empty when the text has
 * no byte other than whitespace). Returns norm's length. Word bytes, most of
 * the text, take the shortest path; norm is written without a branch. */
static size_t text_scan(const hashenc *h, const unsigned char *t, size_t len,
                        int64_t *counts, unsigned char *norm /* [len + 2] */, surface *s)
{
    const uint64_t mask = h->mask;
    uint64_t hw = 0; /* "w:" and the word so far */
    uint64_t hb = 0; /* "w:", the previous word, a space and the word so far */
    int in_word = 0, prev = 0, sentence_open = 0, last_space = 1;
    size_t m = 1;
    norm[0] = ' ';
    line_classify(t, 0, len, s);
    for (size_t i = 0; i < len; i++) {
        unsigned c = token_lower(t[i]);
        int space = byte_is_space(c);
        norm[m] = space ? ' ' : (unsigned char)c;
        m += !(space & last_space);
        last_space = space;

        if (token_in_word(t, i, len, c, in_word)) {
            if (!in_word) {
                in_word = 1;
                hw = h->word_seed;
                s->words++;
                sentence_open = 1;
            }
            hw = fnv_step(hw, c);
            if (prev)
                hb = fnv_step(hb, c);
            continue;
        }
        if (in_word) {
            in_word = 0;
            feature_add(counts, mask, hw);
            if (h->bigrams) {
                if (prev)
                    feature_add(counts, mask, hb);
                hb = fnv_step(hw, ' ');
                prev = 1;
            }
        }
        if (c == '\n') {
            line_classify(t, i + 1, len, s);
        } else if ((c == '.' || c == '!' || c == '?') && sentence_open &&
                   (i + 1 == len || byte_is_space(t[i + 1]))) {
            s->sentences++;
            sentence_open = 0;
        }
    }
    if (in_word) {
        feature_add(counts, mask, hw);
        if (prev)
            feature_add(counts, mask, hb);
    }
    if (sentence_open)
        s->sentences++;
    if (m == 1)
        return 0;
    if (!last_space)
        norm[m++] = ' ';
    return m;
}

/* Every n-gram of norm with n in [gram_min, gram_max]: one FNV-1a chain per
 * start position, emitting at each length in range. */
static void grams_add(const hashenc *h, const unsigned char *norm, size_t m,
                      int64_t *counts)
{
    const size_t lo = (size_t)h->gram_min, hi = (size_t)h->gram_max;
    const uint64_t mask = h->mask, seed = h->gram_seed;
    for (size_t i = 0; i + lo <= m; i++) {
        const unsigned char *p = norm + i;
        size_t n = m - i < hi ? m - i : hi;
        uint64_t x = seed;
        size_t k = 0;
        for (; k + 1 < lo; k++)
            x = fnv_step(x, p[k]);
        for (; k < n; k++) {
            x = fnv_step(x, p[k]);
            feature_add(counts, mask, x);
        }
    }
}

/* 1 + ln |c| for c != 0, and 0 for c = 0 (sublin[0] is 0). */
static inline double sublin_of(const hashenc *h, int64_t c)
{
    uint64_t a = c < 0 ? -(uint64_t)c : (uint64_t)c;
    return a < SUBLIN_N ? h->sublin[a] : 1.0 + log((double)a);
}

/* Turn the signed counts into row (sub-linear, L2-normalized, then the surface
 * features) and leave counts all zero for the next text. Branch-free on the
 * count's sign and on zero counts, which are unpredictable. */
static void row_finish(const hashenc *h, int64_t *counts, const surface *s,
                       float *row /* [base.dim] */)
{
    size_t dim = (size_t)h->mask + 1;
    double ss = 0.0;
    for (size_t j = 0; j < dim; j++) {
        double w = sublin_of(h, counts[j]);
        ss += w * w;
    }
    double inv = ss > 0.0 ? 1.0 / sqrt(ss) : 0.0;
    for (size_t j = 0; j < dim; j++) {
        double w = sublin_of(h, counts[j]) * inv;
        row[j] = (float)(counts[j] < 0 ? -w : w);
        counts[j] = 0;
    }
    if (!h->surface)
        return;
    row[dim + 0] = (float)log1p((double)s->words);
    row[dim + 1] = (float)log1p((double)s->sentences);
    row[dim + 2] = (float)log1p((double)s->items);
    row[dim + 3] = (float)log1p((double)(s->fences / 2));
}

/* ============================= interface ================================ */

static int hashenc_encode(encoder *enc, const char *const *texts, const size_t *lens,
                          size_t n, float *out /* [n][dim] */, ppr_err *e)
{
    const hashenc *h = (const hashenc *)enc;
    size_t longest = 0;
    for (size_t i = 0; i < n; i++)
        longest = lens[i] > longest ? lens[i] : longest;
    int64_t *counts = calloc((size_t)h->mask + 1, sizeof *counts); /* [cfg.dim] */
    unsigned char *norm = malloc(longest + 2);                    /* [longest + 2] */
    if (!counts || !norm) {
        free(counts);
        free(norm);
        return err_nomem(e);
    }
    for (size_t i = 0; i < n; i++) {
        surface s = {0};
        size_t m = text_scan(h, (const unsigned char *)texts[i], lens[i], counts, norm, &s);
        if (h->gram_min)
            grams_add(h, norm, m, counts);
        row_finish(h, counts, &s, out + i * enc->dim);
    }
    free(counts);
    free(norm);
    return PPR_OK;
}

static void hashenc_free(encoder *enc)
{
    free(enc);
}

int hashenc_open(encoder **enc, const cJSON *cfg, const char *what, ppr_err *e)
{
    int64_t dim = 0, lo = 0, hi = 0;
    int bigrams = 0, surface = 1;
    *enc = NULL;
    if (json_get_int(cfg, "dim", what, &dim, e) ||
        json_get_int(cfg, "char_ngram_min", what, &lo, e) ||
        json_get_int(cfg, "char_ngram_max", what, &hi, e) ||
        json_get_bool(cfg, "word_bigrams", what, &bigrams, e) ||
        (cJSON_GetObjectItemCaseSensitive(cfg, "surface") &&
         json_get_bool(cfg, "surface", what, &surface, e)))
        return PPR_EINPUT;
    if (dim < DIM_MIN || dim > DIM_MAX || (dim & (dim - 1)))
        return err_set(e, PPR_EINPUT, "'%s': field \"dim\" must be a power of two in [%u, %u]",
                       what, DIM_MIN, DIM_MAX);
    if (lo || hi) {
        if (lo < 1 || lo > GRAM_MAX)
            return err_set(e, PPR_EINPUT,
                           "'%s': field \"char_ngram_min\" must be in [1, %d], or 0 with "
                           "\"char_ngram_max\" 0 to turn character n-grams off",
                           what, GRAM_MAX);
        if (hi < 1 || hi > GRAM_MAX)
            return err_set(e, PPR_EINPUT,
                           "'%s': field \"char_ngram_max\" must be in [1, %d], or 0 with "
                           "\"char_ngram_min\" 0 to turn character n-grams off",
                           what, GRAM_MAX);
        if (lo > hi)
            return err_set(e, PPR_EINPUT,
                           "'%s': field \"char_ngram_min\" (%d) must not exceed "
                           "\"char_ngram_max\" (%d)",
                           what, (int)lo, (int)hi);
    }

    hashenc *h = calloc(1, sizeof *h);
    if (!h)
        return err_nomem(e);
    h->base.name = "hash";
    h->base.dim = (uint32_t)dim + (surface ? N_SURFACE : 0);
    h->base.encode = hashenc_encode;
    h->base.free = hashenc_free;
    h->mask = (uint64_t)dim - 1;
    h->word_seed = fnv_step(fnv_step(FNV_OFFSET, 'w'), ':');
    h->gram_seed = fnv_step(fnv_step(FNV_OFFSET, 'c'), ':');
    h->gram_min = (int)lo;
    h->gram_max = (int)hi;
    h->bigrams = bigrams;
    h->surface = surface;
    for (int c = 1; c < SUBLIN_N; c++)
        h->sublin[c] = 1.0 + log((double)c);
    *enc = &h->base;
    return PPR_OK;
}
