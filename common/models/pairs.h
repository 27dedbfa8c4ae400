/* pairs.h: preference pairs as rows of a feature matrix (common/features.h),
 * the form every method trains and scores on: a pair is the rows of its
 * prompt, chosen and rejected texts, and its user. A pairs_buf owns a growing
 * list of pairs; a pair_set is a read-only view of one over a matrix. */
#ifndef PPR_MODELS_PAIRS_H
#define PPR_MODELS_PAIRS_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct {
    const float *matrix; /* [n_rows][dim] feature rows */
    uint32_t dim;
    const uint32_t *rows; /* [n][3]: prompt, chosen, rejected row of each pair */
    const uint32_t *user; /* [n]: user id of each pair, < n_users */
    size_t n;
    uint32_t n_users;
    /* [SHA256_LEN] what names matrix (its features artifact's digest), or
     * NULL: a method that keeps training pairs as row ids (RAG) checks that
     * it scores over the matrix it was trained on. */
    const unsigned char *matrix_id;
} pair_set;

/* Pairs with the true probability of their order (NaN when unknown) and the
 * prompt each was asked on, whatever row the method reads for it (Conditional
 * RM's "User ID" prompts differ per user; the prompt is one). */
typedef struct {
    uint32_t *rows;   /* [n][3] */
    uint32_t *user;   /* [n] */
    uint32_t *prompt; /* [n] the prompt's text id, offset like rows */
    float *p;         /* [n] */
    size_t n, cap_rows, cap_user, cap_prompt, cap_p;
} pairs_buf;

void pairs_release(pairs_buf *b);
/* rows: the pair's prompt, chosen and rejected rows [3]. */
int pairs_push(pairs_buf *b, const uint32_t *rows, uint32_t user, uint32_t prompt, float p,
               ppr_err *e);
/* The pairs of b at idx[0 .. n-1] as a new buffer out. */
int pairs_pick(const pairs_buf *b, const size_t *idx, size_t n, pairs_buf *out, ppr_err *e);
/* Hold out a validation part by prompt, as the test split is: the distinct
 * prompts of b in a shuffle drawn from rng_seed(seed, PAIRS_STREAM_SPLIT) go
 * to held until it has at least ceil(fraction n) pairs; every other pair goes
 * to rest; both keep b's order, and no prompt is on both sides (*by_prompt
 * 1). When that would hold out every pair (the pairs share one prompt, or
 * one prompt holds nearly all of them) the pairs themselves are shuffled so
 * instead, and *by_prompt is 0 for the caller to report. Fewer pairs than a
 * part of each side needs is PPR_EINPUT. */
#define PAIRS_STREAM_SPLIT 0x7a11da7e
int pairs_split_prompts(const pairs_buf *b, double fraction, uint64_t seed, pairs_buf *held,
                        pairs_buf *rest, int *by_prompt, ppr_err *e);
/* A view of b over matrix (named by matrix_id [SHA256_LEN], or NULL). */
pair_set pairs_view(const pairs_buf *b, const float *matrix, const unsigned char *matrix_id,
                    uint32_t dim, uint32_t n_users);

/* order [n]: the indices 0 .. n-1 grouped by key[i] < n_keys, stably; start
 * [n_keys + 1]: group k is order[start[k] .. start[k+1]). */
void pairs_group(const uint32_t *key, size_t n, uint32_t n_keys, uint32_t *order, size_t *start);

/* [n] 0 .. n-1 (one entry when n is 0); malloc'd, NULL when out of memory. */
uint32_t *pairs_indices(size_t n);

#endif
