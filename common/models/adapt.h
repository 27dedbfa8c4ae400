/* adapt.h: new users (docs/adapt.md, paper.md Table 4): users the models
 * never saw arrive with k labelled pairs drawn from their adaptation pool, a
 * row of the table adapts to them (or does not), and is measured on each
 * user's held-out test pairs. One row per stage 07 instance. */
#ifndef PPR_MODELS_ADAPT_H
#define PPR_MODELS_ADAPT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/models/method.h"
#include "common/models/pairs.h"
#include "common/stage.h"

/* The root of the draws of k pairs: draw d of a user is the first k of a
 * permutation of the user's pool from rng_seed(ADAPT_DRAW_SEED, stream (d,
 * user)), the same for every row, seed and k (so the draws of a smaller k are
 * part of those of a larger one, and rows are compared on the same pairs). */
#define ADAPT_DRAW_SEED 0xada97d2a

/* order [n]: the permutation of 0 .. n-1 of draw `draw` of user `user`. */
void adapt_draw(uint32_t *order, size_t n, uint64_t draw, uint32_t user);

/* The existing users' labelled pairs, as the retrieve-similar-user rule
 * looks them up: by prompt and unordered response pair. */
typedef struct {
    uint32_t (*key)[4]; /* [n] prompt, lower response, higher response, user << 1 | reversed */
    size_t n;
    uint32_t n_users;
} adapt_known;

/* The pairs of b (rows: prompt, chosen, rejected text rows; users < n_users). */
int adapt_known_init(adapt_known *k, const pairs_buf *b, uint32_t n_users, ppr_err *e);
void adapt_known_release(adapt_known *k);

enum adapt_rule {
    ADAPT_RULE_SHARED = 0,     /* agreements minus disagreements on identical pairs */
    ADAPT_RULE_PREDICTIONS = 1 /* agreement with each user's model's predictions */
};

typedef struct {
    uint32_t user; /* the existing user chosen */
    int rule;      /* enum adapt_rule */
    double score;  /* its agreements minus disagreements, or agreements */
} adapt_match;

/* agree [ps->n][n_users]: 1 where existing user u's model in ind (an
 * Individual RM of n_users users) orders pair i of ps as it is labelled
 * (strictly); ps's user ids are ignored. */
int adapt_agreement(method *ind, const pair_set *ps, uint32_t n_users, uint8_t *agree,
                    ppr_err *e);

/* Retrieve the existing user most like the new user of the k pairs kp (its
 * user ids are ignored): over every existing user who labelled an identical
 * pair (same prompt, same two responses), the largest agreements minus
 * disagreements; when none of the k pairs is shared with any user, the
 * largest number of the k pairs that user's model orders as the new user
 * did, from agree [k][n_users] (adapt_agreement). Ties go to the lower id. */
int adapt_similar(const adapt_known *known, const pair_set *kp, const uint8_t *agree,
                  adapt_match *out, ppr_err *e);

/* *acc: the share of test's pairs (rows of matrix [..][dim], named by
 * matrix_id) m orders right, strictly (a tie is wrong), every pair scored as
 * m's user `as`; NaN without pairs. Both sides go to one scoring call (the
 * pairs, then the same pairs reversed), so that a method serving a user from
 * a context (GPO) reads it once. */
int adapt_accuracy(method *m, const pairs_buf *test, const float *matrix,
                   const unsigned char *matrix_id, uint32_t dim, uint32_t as, double *acc,
                   ppr_err *e);

/* Further fine-tuning: *out, a Vanilla RM (architecture from settings)
 * started from vanilla's head and trained on kp (every user 0) under o. */
int adapt_finetune(const method *vanilla, const cJSON *settings, const pair_set *kp,
                   const optim_settings *o, method **out, ppr_err *e);

/* The upper bound: *out, an Individual RM (settings) of ps->n_users users
 * trained under o on ps (the new users' whole pools, user j's pairs as its
 * user j). */
int adapt_upper(const pair_set *ps, const cJSON *settings, const optim_settings *o,
                method **out, ppr_err *e);

/* The whole computation of a stage 07 instance (docs/adapt.md): its slice
 * names the row ("method"), the dataset, the seeds, the k list, the draws,
 * the size of the models it starts from and, for the rows that fit
 * parameters, their settings ("fit"). *metrics is the result. */
int adapt_run(stage_run *r, cJSON **metrics, ppr_err *e);

/* The run of stage 07: OpenBLAS on the slice's "threads" (recorded in the
 * lock), the run cache, adapt_run, and the result stored as "metrics". */
int adapt_stage(stage_run *r, ppr_err *e);

#endif
