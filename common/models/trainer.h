/* trainer.h: the minibatch loop every Bradley-Terry method shares (design
 * section 11) and the optimizer settings it runs on: a seeded shuffle of the
 * pairs each epoch, minibatches of `batch` pairs, a method-supplied gradient
 * of the minibatch loss, then one AdamW step (lr, weight decay and clipping)
 * under linear warmup over warmup_ratio of all steps and linear decay after.
 * With a fixed OpenBLAS thread count the same inputs give the same bits. */
#ifndef PPR_MODELS_TRAINER_H
#define PPR_MODELS_TRAINER_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/models/optim.h"

/* How a method is optimized, apart from what it is (its architecture, which
 * each method reads from its own settings). */
typedef struct {
    double lr, weight_decay, clip, warmup_ratio;
    uint32_t batch, epochs;
    int cosine;    /* cosine decay after warmup instead of linear */
    uint64_t seed; /* the shuffles' (and per-user seeds') root */
} optim_settings;

/* lr, weight_decay, clip, warmup_ratio and batch from the object `head` of
 * the file `where`; epochs and seed are left 0 for the caller. */
int optim_settings_read(optim_settings *o, const cJSON *head, const char *where, ppr_err *e);

/* A method's own section may override the head's optimizer: any of "lr",
 * "weight_decay", "clip", "warmup_ratio", "batch" and "schedule" ("linear" or
 * "cosine") present in `section` replaces o's (VPL and GPO train with their
 * official code's settings, not the Bradley-Terry heads'). */
int optim_settings_override(optim_settings *o, const cJSON *section, const char *where,
                            ppr_err *e);

/* The AdamW settings of a run of `total` steps under o. */
adamw_cfg optim_adamw_cfg(const optim_settings *o, uint64_t total);

/* Add dLoss/dparams of the minibatch of pairs idx[0 .. b-1] (indices into the
 * method's pair set) to the task's grads, which the loop has zeroed. */
typedef int (*trainer_batch_fn)(void *ctx, const uint32_t *idx, size_t b, ppr_err *e);

typedef struct {
    float *params, *grads; /* [n] what the optimizer updates, and its gradient */
    const uint8_t *decay;  /* [n] 1 where weight decay applies */
    size_t n;
    trainer_batch_fn batch;
    void *ctx;
} trainer_task;

/* Train on the n_pairs pairs subset[] for o->epochs epochs. The shuffle of
 * epoch t draws from rng_seed(seed, t). A non-finite parameter afterwards is
 * PPR_EINPUT (the run diverged: lower the learning rate), as are bad settings. */
int trainer_run(const trainer_task *t, const uint32_t *subset, size_t n_pairs,
                const optim_settings *o, uint64_t seed, ppr_err *e);

#endif
