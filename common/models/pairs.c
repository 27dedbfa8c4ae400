/* pairs.c: pair lists and views (see pairs.h). */
#include "common/models/pairs.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

void pairs_release(pairs_buf *b)
{
    free(b->rows);
    free(b->user);
    free(b->p);
    memset(b, 0, sizeof *b);
}

int pairs_push(pairs_buf *b, uint32_t prompt, uint32_t chosen, uint32_t rejected, uint32_t user,
               float p, ppr_err *e)
{
    if (mem_grow((void **)&b->rows, &b->cap_rows, 3 * (b->n + 1), sizeof *b->rows) ||
        mem_grow((void **)&b->user, &b->cap_user, b->n + 1, sizeof *b->user) ||
        mem_grow((void **)&b->p, &b->cap_p, b->n + 1, sizeof *b->p))
        return err_nomem(e);
    b->rows[3 * b->n] = prompt;
    b->rows[3 * b->n + 1] = chosen;
    b->rows[3 * b->n + 2] = rejected;
    b->user[b->n] = user;
    b->p[b->n++] = p;
    return PPR_OK;
}

int pairs_pick(const pairs_buf *b, const size_t *idx, size_t n, pairs_buf *out, ppr_err *e)
{
    memset(out, 0, sizeof *out);
    int rc = PPR_OK;
    for (size_t i = 0; i < n && rc == PPR_OK; i++) {
        const uint32_t *r3 = b->rows + 3 * idx[i];
        rc = pairs_push(out, r3[0], r3[1], r3[2], b->user[idx[i]], b->p[idx[i]], e);
    }
    return rc;
}

pair_set pairs_view(const pairs_buf *b, const float *matrix, uint32_t dim, uint32_t n_users)
{
    return (pair_set){matrix, dim, b->rows, b->user, b->n, n_users};
}

void pairs_group(const uint32_t *key, size_t n, uint32_t n_keys, uint32_t *order, size_t *start)
{
    memset(start, 0, (n_keys + 1) * sizeof *start);
    for (size_t i = 0; i < n; i++)
        start[key[i] + 1]++;
    for (uint32_t k = 0; k < n_keys; k++)
        start[k + 1] += start[k];
    for (size_t i = 0; i < n; i++)
        order[start[key[i]]++] = (uint32_t)i;
    for (uint32_t k = n_keys; k > 0; k--)
        start[k] = start[k - 1];
    start[0] = 0;
}

uint32_t *pairs_indices(size_t n)
{
    uint32_t *idx = malloc((n ? n : 1) * sizeof *idx);
    for (size_t i = 0; idx && i < n; i++)
        idx[i] = (uint32_t)i;
    return idx;
}
