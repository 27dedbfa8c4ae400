/* embeddings.c: packing, validating and looking up a word-embedding table. */
#include "embeddings.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t align_up(uint64_t x, uint64_t to)
{
    return (x + to - 1) & ~(to - 1);
}

/* Bytewise order, a prefix before the longer word. */
static int bytes_cmp(const char *a, size_t na, const char *b, size_t nb)
{
    int c = memcmp(a, b, na < nb ? na : nb);
    return c ? c : (na > nb) - (na < nb);
}

typedef struct {
    const char *words;
    const uint64_t *offs; /* [n_words + 1] */
} word_list;

static int word_cmp(const void *a, const void *b, void *ctx)
{
    const word_list *l = ctx;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return bytes_cmp(l->words + l->offs[x], l->offs[x + 1] - l->offs[x],
                     l->words + l->offs[y], l->offs[y + 1] - l->offs[y]);
}

int embeddings_pack(uint32_t n_words, uint32_t dim, const char *words, const uint64_t *offs,
                    const float *matrix, void **payload, size_t *size, ppr_err *e)
{
    if (dim == 0)
        return err_set(e, PPR_EINPUT, "an embedding table needs at least one dimension");
    for (uint32_t w = 0; w < n_words; w++) {
        if (offs[w + 1] < offs[w])
            return err_set(e, PPR_EINTERNAL, "embeddings_pack: offsets decrease at word %u", w);
        if (memchr(words + offs[w], '\0', offs[w + 1] - offs[w]))
            return err_set(e, PPR_EINPUT, "word %u (\"%.*s\") contains a NUL byte", w,
                           (int)(offs[w + 1] - offs[w]), words + offs[w]);
    }
    embeddings_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, EMBEDDINGS_MAGIC, 8);
    h.n_words = n_words;
    h.dim = dim;
    uint64_t at = align_up(sizeof h, 8);
    h.offs_off = at;
    at = align_up(at + ((uint64_t)n_words + 1) * sizeof(uint64_t), 8);
    h.blob_off = at;
    h.blob_len = offs[n_words] - offs[0] + n_words;
    at = align_up(at + h.blob_len, 8);
    h.order_off = at;
    at = align_up(at + (uint64_t)n_words * sizeof(uint32_t), 64);
    h.matrix_off = at;
    at += (uint64_t)n_words * dim * sizeof(float);
    unsigned char *p = calloc(1, at);
    if (!p)
        return err_nomem(e);
    memcpy(p, &h, sizeof h);
    uint64_t *out_offs = (uint64_t *)(p + h.offs_off);
    char *blob = (char *)p + h.blob_off;
    uint32_t *order = (uint32_t *)(p + h.order_off);
    float *out_matrix = (float *)(p + h.matrix_off);
    out_offs[0] = 0;
    for (uint32_t w = 0; w < n_words; w++) {
        uint64_t len = offs[w + 1] - offs[w];
        memcpy(blob + out_offs[w], words + offs[w], len); /* the NUL is calloc's */
        out_offs[w + 1] = out_offs[w] + len + 1;
        order[w] = w;
    }
    word_list l = {words, offs};
    qsort_r(order, n_words, sizeof *order, word_cmp, &l);
    int rc = PPR_OK;
    for (uint32_t i = 1; i < n_words && rc == PPR_OK; i++)
        if (word_cmp(&order[i - 1], &order[i], &l) == 0)
            rc = err_set(e, PPR_EINPUT, "word \"%s\" appears twice (words %u and %u)",
                         blob + out_offs[order[i]], order[i - 1], order[i]);
    size_t n_values = (size_t)n_words * dim;
    for (size_t i = 0; i < n_values && rc == PPR_OK; i++)
        if (!isfinite(matrix[i]))
            rc = err_set(e, PPR_EINPUT, "word \"%s\" has a value that is not finite",
                         blob + out_offs[i / dim]);
    if (rc) {
        free(p);
        return rc;
    }
    if (n_values)
        memcpy(out_matrix, matrix, n_values * sizeof(float));
    *payload = p;
    *size = at;
    return PPR_OK;
}

static int section_ok(uint64_t off, uint64_t len, uint64_t align, size_t n)
{
    return off % align == 0 && off <= n && len <= n - off;
}

int embeddings_view_init(embeddings_view *v, const void *payload, size_t n, const char *what,
                         ppr_err *e)
{
    memset(v, 0, sizeof *v);
    const unsigned char *p = payload;
    if (n < sizeof(embeddings_header) || memcmp(p, EMBEDDINGS_MAGIC, 8) != 0)
        return err_set(e, PPR_EINPUT, "'%s' is not a word-embedding table", what);
    const embeddings_header *h = payload;
    uint64_t nw = h->n_words, matrix_len;
    if (h->dim == 0 || __builtin_mul_overflow(nw * h->dim, (uint64_t)sizeof(float), &matrix_len))
        return err_set(e, PPR_EINPUT, "'%s': the table has %u dimensions", what, h->dim);
    if (!section_ok(h->offs_off, (nw + 1) * sizeof(uint64_t), 8, n) ||
        !section_ok(h->blob_off, h->blob_len, 8, n) ||
        !section_ok(h->order_off, nw * sizeof(uint32_t), 8, n) ||
        !section_ok(h->matrix_off, matrix_len, 64, n))
        return err_set(e, PPR_EINPUT, "'%s': a section lies outside the payload", what);
    const uint64_t *offs = (const uint64_t *)(p + h->offs_off);
    const char *blob = (const char *)p + h->blob_off;
    if (offs[0] != 0 || offs[nw] != h->blob_len)
        return err_set(e, PPR_EINPUT, "'%s': word offsets do not span the words", what);
    for (uint64_t w = 0; w < nw; w++)
        if (offs[w + 1] <= offs[w] || offs[w + 1] > h->blob_len ||
            memchr(blob + offs[w], '\0', offs[w + 1] - offs[w]) != blob + offs[w + 1] - 1)
            return err_set(e, PPR_EINPUT, "'%s': word %llu is malformed", what,
                           (unsigned long long)w);
    const uint32_t *order = (const uint32_t *)(p + h->order_off);
    word_list l = {blob, offs}; /* lengths here count the NUL, which sorts the same */
    for (uint64_t i = 0; i < nw; i++)
        if (order[i] >= nw || (i && word_cmp(&order[i - 1], &order[i], &l) >= 0))
            return err_set(e, PPR_EINPUT, "'%s': the word index is not sorted at %llu", what,
                           (unsigned long long)i);
    const float *matrix = (const float *)(p + h->matrix_off);
    for (uint64_t i = 0; i < nw * h->dim; i++)
        if (!isfinite(matrix[i]))
            return err_set(e, PPR_EINPUT, "'%s': word %llu has a value that is not finite", what,
                           (unsigned long long)(i / h->dim));
    v->h = h;
    v->offs = offs;
    v->blob = blob;
    v->order = order;
    v->matrix = matrix;
    return PPR_OK;
}

int64_t embeddings_find(const embeddings_view *v, const char *word, size_t len)
{
    size_t lo = 0, hi = v->h->n_words;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint32_t w = v->order[mid];
        int c = bytes_cmp(v->blob + v->offs[w], v->offs[w + 1] - v->offs[w] - 1, word, len);
        if (c == 0)
            return w;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

const char *embeddings_word(const embeddings_view *v, uint32_t w, size_t *len)
{
    if (len)
        *len = v->offs[w + 1] - v->offs[w] - 1;
    return v->blob + v->offs[w];
}
