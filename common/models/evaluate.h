/* evaluate.h: how a model is measured (docs/train.md): strict per-user
 * accuracy on test pairs, each user's Bayes-optimal accuracy where the truth
 * is known (the simulator), the unweighted mean over the users it was trained
 * for and the minority users' mean, with a bootstrap interval over the test
 * pairs; the same mean and the BT loss on a validation part; and the accuracy
 * over all pairs of a set. */
#ifndef PPR_MODELS_EVALUATE_H
#define PPR_MODELS_EVALUATE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/models/method.h"
#include "common/models/pairs.h"
#include "common/prefs.h"

#define EVALUATE_RESAMPLES 1000 /* bootstrap resamples of the test pairs */

/* m on the test pairs (rows of matrix, named by matrix_id or NULL; users of
 * v) into run: "users" (name, pairs, accuracy, bayes and gap where known,
 * "untrained": true for a user trained[u] says had no training pair;
 * "skipped": true and no accuracy for a user m does not serve, whose pairs are
 * never scored), "test_pairs", and over the trained users m serves (trained
 * NULL: every user) with test pairs "mean", its bootstrap interval
 * "mean_pairs95" [lo, hi], and "minority_mean" (minority: a list of user
 * names, or NULL). */
int evaluate_users(method *m, const pairs_buf *test, const float *matrix,
                   const unsigned char *matrix_id, uint32_t dim, const prefs_view *v,
                   const cJSON *minority, const uint8_t *trained, cJSON *run, ppr_err *e);

/* On ps: *mean, the unweighted mean over users with pairs of their strict
 * accuracy, and *loss, the mean BT loss over the pairs; pairs of users m
 * does not serve left out of both. */
int evaluate_validation(method *m, const pair_set *ps, double *mean, double *loss, ppr_err *e);

/* Strict accuracy (a tie is wrong, as in the official code): correct[u] and
 * total[u] [n_users] count pairs with r(chosen) > r(rejected) per user. */
int evaluate_counts(method *m, const pair_set *ps, uint64_t *correct, uint64_t *total,
                    ppr_err *e);

/* *acc: the share of ps's pairs m orders right (strict); NaN without pairs. */
int evaluate_all(method *m, const pair_set *ps, double *acc, ppr_err *e);

/* The percentile bootstrap 95% interval [*lo, *hi] of the unweighted mean
 * over counted users (counted [n_users], 1 to count) of per-user accuracy,
 * from right [n] (1: pair i ordered right) and user [n]: EVALUATE_RESAMPLES
 * resamples of the n pairs with replacement, resample b drawn from
 * rng_seed(EVALUATE_SEED, b) whatever the method or training seed, so that
 * every method's interval on the same test pairs uses the same resamples
 * (paired); a resample in which no counted user has a pair is skipped. The
 * 26th smallest and the 26th largest of the means. */
int evaluate_bootstrap(const uint8_t *right, const uint32_t *user, size_t n,
                       const uint8_t *counted, uint32_t n_users, double *lo, double *hi,
                       ppr_err *e);

/* The percentile bootstrap 95% interval [*lo, *hi] of the mean of v [n],
 * from the same resamples as evaluate_bootstrap (resample b of the n values
 * drawn from rng_seed(EVALUATE_SEED, b)), so intervals of values over the
 * same pairs are paired: v may be a difference of two models' scores on
 * them. NaN when n is 0. */
int evaluate_bootstrap_mean(const double *v, size_t n, double *lo, double *hi, ppr_err *e);

/* One epoch choice's validation result: {epochs, pairs, split ("prompts"
 * when the validation part is held out by prompt, else "pairs"), mean, loss}
 * appended to validation, and epochs kept in *best when it beats the best so
 * far (*best_mean, *best_loss, updated): a higher mean, or the same mean
 * with a lower loss; so among equals the choice tried first stays. */
void evaluate_choice(cJSON *validation, int64_t epochs, size_t pairs, int by_prompt,
                     double mean, double loss, double *best_mean, double *best_loss,
                     int64_t *best);

#endif
