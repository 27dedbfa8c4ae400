/* methods.h: the one interface every reward-model method implements (design
 * section 11, methods.md sections 0-3): train on a set of preference pairs,
 * score (prompt, response, user) to a reward, adapt to a new user from k pairs,
 * and save or load itself as a model artifact. Used by train, safety-eval,
 * reasoning-eval and adapt.
 *
 * Inputs are rows of a feature matrix (common/features.h): a pair is the rows
 * of its prompt, chosen and rejected texts and its user. A head reads
 * [phi(prompt); phi(response)] (and, for PRM, the user embedding); Conditional
 * RM's prompt row is the "User ID: u" prompt's. */
#ifndef PPR_TRAIN_METHODS_H
#define PPR_TRAIN_METHODS_H

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
} pair_set;

typedef struct {
    uint32_t hidden[4];   /* hidden widths; n_hidden of them */
    uint32_t n_hidden;
    double lr, weight_decay, clip, warmup_ratio;
    uint32_t batch, epochs;
    uint64_t seed;
    double alpha;         /* PRM: weight of the user loss (0.5) */
    uint32_t user_dim;    /* PRM: user embedding width */
} train_cfg;

typedef struct method method;

struct method {
    const char *name; /* "pretrained", "vanilla", "individual", "conditional", "prm" */
    uint32_t dim, n_users;
    int (*train)(method *m, const pair_set *pairs, const train_cfg *cfg, ppr_err *e);
    /* r[i] for pairs' (prompt, chosen) when which = 0, (prompt, rejected) when 1. */
    int (*score)(method *m, const pair_set *pairs, int which, float *r, ppr_err *e);
    /* Fit what the method fits for a user it has not seen, from k pairs
     * (pairs->user all equal to new_user, which is >= n_users of training). */
    int (*adapt)(method *m, const pair_set *pairs, uint32_t new_user, const train_cfg *cfg,
                 ppr_err *e);
    int (*save)(const method *m, void **payload, size_t *n, ppr_err *e);
    void (*free)(method *m);
};

/* A fresh, untrained method for dim-wide features and n_users users. An unknown
 * name is PPR_EINPUT naming it. */
int method_new(method **m, const char *name, uint32_t dim, uint32_t n_users,
               const train_cfg *cfg, ppr_err *e);

/* A saved method (PAYLOAD_MODEL); a corrupt or foreign payload is PPR_EINPUT
 * naming `what`. */
int method_load(method **m, const void *payload, size_t n, const char *what, ppr_err *e);

static inline void method_free(method *m)
{
    if (m)
        m->free(m);
}

/* Start m's heads from src's, a trained shared-head method (the pre-trained
 * reference) over the same features with the same hidden widths: every head of
 * m (each user's, for individual) gets src's parameters; PRM's first layer
 * gets them for the feature columns and keeps its own for the user embedding.
 * Anything else is PPR_EINPUT saying what differs. */
int method_init_from(method *m, const method *src, ppr_err *e);

/* Strict accuracy (a tie is wrong, as in the official code): correct[u] and
 * total[u] [n_users] count pairs with r(chosen) > r(rejected) per user. */
int method_accuracy(method *m, const pair_set *pairs, uint64_t *correct, uint64_t *total,
                    ppr_err *e);

#endif
