/* features.c: packing and checking feature matrices. */
#include "features.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(features_header) == 40, "features_header layout");

/* Hashes are compared bytewise; qsort's comparator needs them reachable. */
typedef struct {
    const unsigned char *hashes;
    uint32_t row;
} sort_item;

static int item_cmp(const void *a, const void *b)
{
    const sort_item *x = a, *y = b;
    int c = memcmp(x->hashes + 32 * (size_t)x->row, y->hashes + 32 * (size_t)y->row, 32);
    return c ? c : (x->row > y->row) - (x->row < y->row);
}

int features_pack(uint32_t n_rows, uint32_t dim, const unsigned char *hashes,
                  const float *matrix, void **payload, size_t *size, ppr_err *e)
{
    features_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, FEATURES_MAGIC, 8);
    h.n_rows = n_rows;
    h.dim = dim;
    h.hashes_off = sizeof h;
    h.order_off = h.hashes_off + 32 * (uint64_t)n_rows;
    h.matrix_off = (h.order_off + 4 * (uint64_t)n_rows + 63) & ~(uint64_t)63;
    uint64_t total = h.matrix_off + sizeof(float) * (uint64_t)n_rows * dim;
    unsigned char *p = calloc(1, total);
    sort_item *items = malloc((n_rows ? n_rows : 1) * sizeof *items);
    if (!p || !items) {
        free(p);
        free(items);
        return err_nomem(e);
    }
    memcpy(p, &h, sizeof h);
    if (n_rows) {
        memcpy(p + h.hashes_off, hashes, 32 * (size_t)n_rows);
        memcpy(p + h.matrix_off, matrix, sizeof(float) * (size_t)n_rows * dim);
    }
    for (uint32_t i = 0; i < n_rows; i++)
        items[i] = (sort_item){hashes, i};
    qsort(items, n_rows, sizeof *items, item_cmp);
    uint32_t *order = (uint32_t *)(p + h.order_off);
    for (uint32_t i = 0; i < n_rows; i++)
        order[i] = items[i].row;
    free(items);
    *payload = p;
    *size = total;
    return PPR_OK;
}

int features_view_init(features_view *v, const void *payload, size_t n, const char *what,
                       ppr_err *e)
{
    memset(v, 0, sizeof *v);
    const unsigned char *p = payload;
    if (n < sizeof(features_header) || memcmp(p, FEATURES_MAGIC, 8) != 0)
        return err_set(e, PPR_EINPUT, "'%s' is not a feature matrix", what);
    const features_header *h = payload;
    uint64_t rows = h->n_rows;
    if (h->hashes_off != sizeof *h || h->order_off != h->hashes_off + 32 * rows ||
        h->matrix_off % 64 != 0 || h->matrix_off < h->order_off + 4 * rows ||
        h->matrix_off > n || (n - h->matrix_off) / sizeof(float) / (h->dim ? h->dim : 1) < rows)
        return err_set(e, PPR_EINPUT, "'%s': a section lies outside the payload", what);
    v->h = h;
    v->hashes = p + h->hashes_off;
    v->order = (const uint32_t *)(p + h->order_off);
    v->matrix = (const float *)(p + h->matrix_off);
    for (uint64_t i = 0; i < rows; i++) {
        if (v->order[i] >= rows ||
            (i && memcmp(v->hashes + 32 * (size_t)v->order[i - 1],
                         v->hashes + 32 * (size_t)v->order[i], 32) > 0))
            return err_set(e, PPR_EINPUT, "'%s': the hash order is broken at %llu", what,
                           (unsigned long long)i);
    }
    for (uint64_t i = 0; i < rows * h->dim; i++)
        if (!isfinite(v->matrix[i]))
            return err_set(e, PPR_EINPUT, "'%s': row %llu holds a non-finite value", what,
                           (unsigned long long)(i / h->dim));
    return PPR_OK;
}

int64_t features_find(const features_view *v, const unsigned char hash[32])
{
    size_t lo = 0, hi = v->h->n_rows;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(v->hashes + 32 * (size_t)v->order[mid], hash, 32);
        if (c == 0)
            return v->order[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}
