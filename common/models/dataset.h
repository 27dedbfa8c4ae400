/* dataset.h: a preference dataset with its feature matrix, as a stage reads
 * them from its slice's inputs, and the pairs of a split as rows of that
 * matrix (the form the methods take). Used by stages 04-07. */
#ifndef PPR_MODELS_DATASET_H
#define PPR_MODELS_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/features.h"
#include "common/models/pairs.h"
#include "common/prefs.h"
#include "common/sha256.h"
#include "common/stage.h"

typedef struct {
    void *prefs_payload, *feat_payload;
    prefs_view v;
    features_view f;
    unsigned char features_id[SHA256_LEN]; /* the features artifact's digest */
} dataset_in;

/* Inputs "<prefix>dataset" and "<prefix>features" of r (prefix "" or, say,
 * "hep/"); features with fewer rows than the dataset has texts is PPR_EINPUT. */
int dataset_load(stage_run *r, const char *prefix, dataset_in *d, ppr_err *e);
void dataset_release(dataset_in *d);

/* Append the first `limit` pairs (0: no limit) of split of d's main-pool
 * users, in file order, to out; row ids offset by `base` (pairs of several
 * sets in one matrix). With conditional, each pair's prompt row is the
 * "User ID: u" prompt's, which the features must have. */
int dataset_pairs(const dataset_in *d, int split, int conditional, size_t limit, uint32_t base,
                  pairs_buf *out, ppr_err *e);

/* Append the pairs of split of d's new users (PREFS_POOL_NEW: held out of
 * training for adaptation, stage 07), in file order, to out; each pair's
 * user is its id in d (>= prefs_n_main). */
int dataset_new_user_pairs(const dataset_in *d, int split, pairs_buf *out, ppr_err *e);

#endif
