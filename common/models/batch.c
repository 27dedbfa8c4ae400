/* batch.c: minibatch input blocks and their de-duplication (see batch.h). */
#include "common/models/batch.h"

#include <stdlib.h>
#include <string.h>

void batch_init(batch_in *in, uint32_t dim, uint32_t user_dim)
{
    memset(in, 0, sizeof *in);
    in->dim = dim;
    in->user_dim = user_dim;
}

void batch_release(batch_in *in)
{
    for (int k = 0; k < N_BLOCKS; k++) {
        free(in->id[k]);
        free(in->map[k]);
        free(in->first[k]);
        free(in->rows[k]);
    }
    free(in->grad);
    free(in->table);
    free(in->v);
    batch_init(in, in->dim, in->user_dim);
}

int batch_fit(batch_in *in, size_t rows, ppr_err *e)
{
    if (rows <= in->cap)
        return PPR_OK;
    size_t cap = 1, ud = in->user_dim ? in->user_dim : 1;
    while (cap < rows)
        cap *= 2;
    batch_release(in);
    int ok = 1;
    for (int k = 0; k < N_BLOCKS; k++) {
        size_t width = k == BLOCK_USER ? ud : in->dim;
        ok = ok && (in->id[k] = malloc(cap * sizeof *in->id[k])) &&
             (in->map[k] = malloc(cap * sizeof *in->map[k])) &&
             (in->first[k] = malloc(cap * sizeof *in->first[k])) &&
             (in->rows[k] = malloc(cap * width * sizeof *in->rows[k]));
    }
    ok = ok && (in->grad = malloc(cap * ud * sizeof *in->grad)) &&
         (in->table = malloc(2 * cap * sizeof *in->table)) &&
         (in->v = malloc(3 * cap * sizeof *in->v));
    if (!ok) {
        batch_release(in);
        return err_nomem(e);
    }
    in->cap = cap;
    return PPR_OK;
}

int batch_blocks(const batch_in *in)
{
    return in->user_dim ? N_BLOCKS : BLOCK_USER;
}

/* map [n]: each id's slot among the distinct ids, which go to first in the
 * order first seen; table [cap] (a power of two >= 2 n) is scratch. Returns
 * how many are distinct. */
static size_t dedupe(const uint32_t *id, size_t n, uint32_t *map, uint32_t *first,
                     uint32_t *table, size_t cap)
{
    memset(table, 0, cap * sizeof *table); /* 1 + slot; 0 is empty */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t h = (id[i] * 2654435761u) & (cap - 1);
        while (table[h] && first[table[h] - 1] != id[i])
            h = (h + 1) & (cap - 1);
        if (!table[h]) {
            first[k] = id[i];
            table[h] = (uint32_t)++k;
        }
        map[i] = table[h] - 1;
    }
    return k;
}

void batch_ids_prompt(const pair_set *ps, const uint32_t *idx, size_t b, uint32_t *id)
{
    for (size_t i = 0; i < b; i++)
        id[i] = ps->rows[(size_t)idx[i] * 3];
}

void batch_ids_response(const pair_set *ps, const uint32_t *idx, size_t b, int which,
                        uint32_t *id)
{
    for (size_t i = 0; i < b; i++)
        id[i] = ps->rows[(size_t)idx[i] * 3 + 1 + which];
}

int batch_pairs(batch_in *in, const pair_set *ps, const uint32_t *idx, size_t b, ppr_err *e)
{
    int rc = batch_fit(in, 2 * b, e);
    if (rc)
        return rc;
    batch_ids_prompt(ps, idx, b, in->id[BLOCK_PROMPT]);
    batch_ids_prompt(ps, idx, b, in->id[BLOCK_PROMPT] + b);
    batch_ids_response(ps, idx, b, 0, in->id[BLOCK_RESPONSE]);
    batch_ids_response(ps, idx, b, 1, in->id[BLOCK_RESPONSE] + b);
    return PPR_OK;
}

size_t batch_users(batch_in *in, size_t rows)
{
    return dedupe(in->id[BLOCK_USER], rows, in->map[BLOCK_USER], in->first[BLOCK_USER], in->table,
                  2 * in->cap);
}

void batch_build(batch_in *in, const pair_set *ps, size_t rows)
{
    for (int k = 0; k < batch_blocks(in); k++) {
        size_t width = k == BLOCK_USER ? in->user_dim : ps->dim;
        size_t n = k == BLOCK_USER ? batch_users(in, rows)
                                   : dedupe(in->id[k], rows, in->map[k], in->first[k], in->table,
                                            2 * in->cap);
        for (size_t j = 0; k != BLOCK_USER && j < n; j++)
            memcpy(in->rows[k] + j * width, ps->matrix + (size_t)in->first[k][j] * width,
                   width * sizeof(float));
        in->blocks[k] = (mlp_block){in->rows[k], n, (uint32_t)width, in->map[k],
                                    k == BLOCK_USER ? in->grad : NULL};
    }
}
