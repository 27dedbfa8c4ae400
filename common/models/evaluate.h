/* evaluate.h: how a model is measured (docs/train.md): strict per-user
 * accuracy on test pairs, each user's Bayes-optimal accuracy where the truth
 * is known (the simulator), the unweighted mean over users and the minority
 * users' mean; and the accuracy over all pairs of a set. */
#ifndef PPR_MODELS_EVALUATE_H
#define PPR_MODELS_EVALUATE_H

#include <cjson/cJSON.h>

#include "common/error.h"
#include "common/models/method.h"
#include "common/models/pairs.h"
#include "common/prefs.h"

/* m on the test pairs (rows of matrix, users of v) into run: "users" (name,
 * pairs, accuracy, and bayes and gap where known), "test_pairs", "mean" and
 * "minority_mean" (minority: a list of user names, or NULL). */
int evaluate_users(method *m, const pairs_buf *test, const float *matrix, uint32_t dim,
                   const prefs_view *v, const cJSON *minority, cJSON *run, ppr_err *e);

/* *acc: the share of ps's pairs m orders right (strict); NaN without pairs. */
int evaluate_all(method *m, const pair_set *ps, double *acc, ppr_err *e);

#endif
