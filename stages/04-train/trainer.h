/* trainer.h: the minibatch loop every Bradley-Terry method shares (design
 * section 11): a seeded shuffle of the pairs each epoch, minibatches of
 * cfg->batch pairs, a method-supplied gradient of the minibatch loss, then one
 * AdamW step (cfg's lr, weight decay and clipping) under linear warmup over
 * warmup_ratio of all steps and linear decay after. With a fixed OpenBLAS
 * thread count the same inputs give the same bits. Also the hook through which
 * tests reach a method's loss gradient. */
#ifndef PPR_TRAIN_TRAINER_H
#define PPR_TRAIN_TRAINER_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "stages/04-train/methods.h"

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

/* Train on the n_pairs pairs subset[] for cfg->epochs epochs. The shuffle of
 * epoch t draws from rng_seed(seed, t). A non-finite parameter afterwards is
 * PPR_EINPUT (the run diverged: lower the learning rate), as is a bad cfg. */
int trainer_run(const trainer_task *t, const uint32_t *subset, size_t n_pairs,
                const train_cfg *cfg, uint64_t seed, ppr_err *e);

/* The task m->train runs on ps (for individual, user 0's head): its parameters
 * [n] (the head's, prm's user embeddings last), gradients and minibatch loss.
 * Tests check that gradient against finite differences of the loss computed
 * from m->score. t points into m and ps and is valid while both are. */
int method_task(method *m, const pair_set *ps, trainer_task *t, ppr_err *e);

#endif
