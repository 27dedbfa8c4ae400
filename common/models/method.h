/* method.h: the one interface every reward-model method implements (design
 * section 11, methods.md sections 0-6) and the registry of methods by name:
 * train on a set of preference pairs, score (prompt, response, user) to a
 * reward, adapt to a new user from k pairs, and save or load itself as a
 * model file (modelfile.h). Used by stages 04-07.
 *
 * What a method is (its architecture) comes from its settings, a JSON object
 * (a stage's config slice) from which each method reads its own keys; how it
 * is optimized comes apart, as optim_settings. A Bradley-Terry head reads
 * [phi(prompt); phi(response)] (and, for PRM, the user embedding);
 * Conditional RM's prompt row is the "User ID: u" prompt's. */
#ifndef PPR_MODELS_METHOD_H
#define PPR_MODELS_METHOD_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/models/pairs.h"
#include "common/models/trainer.h"
#include "common/sha256.h"
#include "common/stage.h"

typedef struct method method;

/* What a method implements. Every function gets the method it was created
 * by; only init_from, task and serves may be NULL. */
typedef struct {
    /* A fresh, untrained model for dim-wide features and n_users users, its
     * architecture read from settings, its initial parameters from seed. */
    int (*create)(method **m, uint32_t dim, uint32_t n_users, const cJSON *settings,
                  uint64_t seed, ppr_err *e);
    /* A saved model from the body save wrote: shape [shape_bytes] (already
     * checked by the model file's digest) and params, float32 [n_params], all
     * finite, to be read with memcpy. */
    int (*load)(method **m, uint32_t dim, uint32_t n_users, const void *shape,
                size_t shape_bytes, const void *params, size_t n_params, const char *what,
                ppr_err *e);
    /* The body's sizes, then the body itself into shape and params. */
    void (*body_size)(const method *m, size_t *shape_bytes, size_t *n_params);
    void (*save)(const method *m, void *shape, float *params);
    /* The architecture settings the model was made with, as the JSON whose
     * digest the model file carries (keys sorted, no spaces). */
    cJSON *(*settings)(const method *m);
    int (*train)(method *m, const pair_set *ps, const optim_settings *o, ppr_err *e);
    /* r[i] for ps's (prompt, chosen) when which = 0, (prompt, rejected) when 1. */
    int (*score)(method *m, const pair_set *ps, int which, float *r, ppr_err *e);
    /* Fit what the method fits for a user it has not seen, from k pairs
     * (ps->user all equal to new_user, which is >= n_users of training). */
    int (*adapt)(method *m, const pair_set *ps, uint32_t new_user, const optim_settings *o,
                 ppr_err *e);
    /* Start from src's parameters (a trained shared-head reference). */
    int (*init_from)(method *m, const method *src, ppr_err *e);
    /* The trainer task train runs on ps (its first head), for gradient tests. */
    int (*task)(method *m, const pair_set *ps, trainer_task *t, ppr_err *e);
    /* 1 when the model can score user u: VPL and GPO serve a user from a
     * context of the user's pairs, so a user with fewer training pairs than
     * the context takes is skipped (never scored). NULL: every user. */
    int (*serves)(const method *m, uint32_t u);
    void (*free)(method *m);
    /* 1 when train takes no epochs (RAG keeps its pairs and learns nothing):
     * a stage then chooses none. */
    int no_epochs;
} method_ops;

struct method {
    const method_ops *ops;
    const char *name; /* the registry's: "vanilla", "prm", ... */
    uint32_t dim, n_users;
};

/* A fresh model of the method called name. An unknown name is PPR_EINPUT
 * listing the known ones; bad settings are PPR_EINPUT naming the key. */
int method_new(method **m, const char *name, uint32_t dim, uint32_t n_users,
               const cJSON *settings, uint64_t seed, ppr_err *e);
/* A saved model (PAYLOAD_MODEL); a corrupt or foreign payload is PPR_EINPUT
 * naming `what`. */
int method_load(method **m, const void *payload, size_t n, const char *what, ppr_err *e);
int method_save(const method *m, void **payload, size_t *n, ppr_err *e);
/* The model of a stage's slice input called name (a model artifact), which
 * must read dim-wide features. */
int method_input(method **m, stage_run *r, const char *name, uint32_t dim, ppr_err *e);
/* out [SHA256_LEN]: the digest of m's architecture settings, which its model
 * file records. */
int method_settings_digest(const method *m, unsigned char *out, ppr_err *e);
void method_free(method *m);

int method_train(method *m, const pair_set *ps, const optim_settings *o, ppr_err *e);
int method_score(method *m, const pair_set *ps, int which, float *r, ppr_err *e);
int method_adapt(method *m, const pair_set *ps, uint32_t new_user, const optim_settings *o,
                 ppr_err *e);
/* Start m from src, a trained shared-head method over the same features with
 * the same hidden widths: every head of m (each user's, for individual) gets
 * src's parameters; PRM's first layer gets them for the feature columns and
 * keeps its own for the user embedding. Anything else is PPR_EINPUT. */
int method_init_from(method *m, const method *src, ppr_err *e);
int method_task(method *m, const pair_set *ps, trainer_task *t, ppr_err *e);
int method_serves(const method *m, uint32_t u);
/* Every pair's user below the set's n_users (and below max_user when it is
 * not 0), features as wide as the model's. */
int method_pairs_check(const method *m, const pair_set *ps, uint32_t max_user, const char *op,
                       ppr_err *e);
/* A pair set of new_user's pairs only, new_user not a training user. */
int method_adapt_check(const method *m, const pair_set *ps, uint32_t new_user, ppr_err *e);
/* 1 when the method called name trains without epochs (method_ops.no_epochs). */
int method_no_epochs(const char *name);

#endif
