/* pairs.c: pair lists and views (see pairs.h). */
#include "common/models/pairs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/rng.h"

void pairs_release(pairs_buf *b)
{
    free(b->rows);
    free(b->user);
    free(b->prompt);
    free(b->p);
    memset(b, 0, sizeof *b);
}

int pairs_push(pairs_buf *b, const uint32_t *rows, uint32_t user, uint32_t prompt, float p,
               ppr_err *e)
{
    if (mem_grow((void **)&b->rows, &b->cap_rows, 3 * (b->n + 1), sizeof *b->rows) ||
        mem_grow((void **)&b->user, &b->cap_user, b->n + 1, sizeof *b->user) ||
        mem_grow((void **)&b->prompt, &b->cap_prompt, b->n + 1, sizeof *b->prompt) ||
        mem_grow((void **)&b->p, &b->cap_p, b->n + 1, sizeof *b->p))
        return err_nomem(e);
    memcpy(b->rows + 3 * b->n, rows, 3 * sizeof *rows);
    b->user[b->n] = user;
    b->prompt[b->n] = prompt;
    b->p[b->n++] = p;
    return PPR_OK;
}

int pairs_pick(const pairs_buf *b, const size_t *idx, size_t n, pairs_buf *out, ppr_err *e)
{
    memset(out, 0, sizeof *out);
    int rc = PPR_OK;
    for (size_t i = 0; i < n && rc == PPR_OK; i++)
        rc = pairs_push(out, b->rows + 3 * idx[i], b->user[idx[i]], b->prompt[idx[i]],
                        b->p[idx[i]], e);
    return rc;
}

/* A pair's prompt and index, sorted by both. */
typedef struct {
    uint32_t prompt, i;
} prompt_at;

static int prompt_cmp(const void *a, const void *b)
{
    const prompt_at *x = a, *y = b;
    if (x->prompt != y->prompt)
        return x->prompt < y->prompt ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

int pairs_split_prompts(const pairs_buf *b, double fraction, uint64_t seed, pairs_buf *held,
                        pairs_buf *rest, int *by_prompt, ppr_err *e)
{
    memset(held, 0, sizeof *held);
    memset(rest, 0, sizeof *rest);
    size_t n = b->n, want = (size_t)ceil(fraction * (double)n);
    if (want < 1 || want >= n)
        return err_set(e, PPR_EINPUT, "%zu training pairs are too few to hold out a "
                       "validation part", n);
    prompt_at *by = malloc(n * sizeof *by);      /* [n] pairs by prompt */
    size_t *start = malloc((n + 1) * sizeof *start); /* [groups + 1] each prompt's pairs in by */
    uint8_t *in_held = calloc(n, 1);             /* [n] */
    size_t *idx = malloc(n * sizeof *idx);       /* [n] held's, then rest's indices */
    if (!by || !start || !in_held || !idx) {
        free(by);
        free(start);
        free(in_held);
        free(idx);
        return err_nomem(e);
    }
    *by_prompt = 1;
    for (int attempt = 0; attempt < 2; attempt++) {
        /* groups: each pair's prompt, or (the fallback) each pair alone */
        for (size_t i = 0; i < n; i++)
            by[i] = (prompt_at){*by_prompt ? b->prompt[i] : (uint32_t)i, (uint32_t)i};
        qsort(by, n, sizeof *by, prompt_cmp);
        size_t groups = 0;
        for (size_t i = 0; i < n; i++)
            if (i == 0 || by[i].prompt != by[i - 1].prompt)
                start[groups++] = i;
        start[groups] = n;
        /* Fisher-Yates over the group numbers, kept in idx's first groups slots. */
        for (size_t g = 0; g < groups; g++)
            idx[g] = g;
        rng r;
        rng_seed(&r, seed, PAIRS_STREAM_SPLIT);
        for (size_t g = groups - 1; g > 0; g--) {
            size_t j = (size_t)rng_below(&r, g + 1), t = idx[g];
            idx[g] = idx[j];
            idx[j] = t;
        }
        memset(in_held, 0, n);
        size_t n_held = 0;
        for (size_t k = 0; k < groups && n_held < want; k++)
            for (size_t at = start[idx[k]]; at < start[idx[k] + 1]; at++, n_held++)
                in_held[by[at].i] = 1;
        if (n_held < n)
            break;
        *by_prompt = 0;
    }
    size_t n_held = 0, h = 0;
    for (size_t i = 0; i < n; i++)
        n_held += in_held[i];
    size_t o = n_held;
    for (size_t i = 0; i < n; i++)
        idx[in_held[i] ? h++ : o++] = i;
    int rc = pairs_pick(b, idx, n_held, held, e);
    if (rc == PPR_OK)
        rc = pairs_pick(b, idx + n_held, n - n_held, rest, e);
    if (rc) {
        pairs_release(held);
        pairs_release(rest);
    }
    free(by);
    free(start);
    free(in_held);
    free(idx);
    return rc;
}

pair_set pairs_view(const pairs_buf *b, const float *matrix, const unsigned char *matrix_id,
                    uint32_t dim, uint32_t n_users)
{
    return (pair_set){matrix, dim, b->rows, b->user, b->n, n_users, matrix_id};
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
