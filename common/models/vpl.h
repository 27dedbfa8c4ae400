/* vpl.h: what VPL (vpl.c, methods.md section 4) offers beside its
 * method_ops, for its tests and benchmark: the KL term and its annealing
 * multiplier, the training loss of one minibatch with its contexts and
 * sampling noise fixed by (seed, call), and the posterior mean of a given
 * context. */
#ifndef PPR_MODELS_VPL_H
#define PPR_MODELS_VPL_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/models/method.h"
#include "common/models/pairs.h"

/* The KL multiplier of batch call t under the cyclical cosine annealer of
 * period T: 0.1 + 0.9 (cos(pi ((t mod T) / T - 1)) + 1) / 2, from 0.1 at
 * t = 0 up towards 1, and back to 0.1 at t = T. */
double vpl_anneal(uint64_t t, uint64_t T);

/* KL(N(mu, exp(logvar)) || N(0, I)) = -0.5 sum (1 + logvar - mu^2 -
 * exp(logvar)) over d dims, in double; adds scale times its gradient to dmu
 * (scale mu) and dlogvar (scale 0.5 (exp(logvar) - 1)), each [d]. */
double vpl_kl(const float *mu, const float *logvar, size_t d, float scale, float *dmu,
              float *dlogvar);

/* The training loss (mean BT loss + KL term) of m, a vpl model, on the
 * minibatch of rows[0 .. b-1] (row i: pair i % ps->n of ps, every pair's
 * user with another pair for a context) as the call-th minibatch of a run
 * whose contexts are drawn under seed: the same (seed, call) gives the same
 * contexts, noise and KL weight. With grad set, its gradient is added to the
 * gradient vector method_task(m, ...) exposes. *clamped (may be NULL): how
 * many entries of mu and logvar their clamps to [-1, 1] cut. */
int vpl_batch_loss(method *m, const pair_set *ps, const uint32_t *rows, size_t b, uint64_t seed,
                   uint64_t call, int grad, double *loss, size_t *clamped, ppr_err *e);

/* The encoder's clamped mu and logvar [latent] each (logvar may be NULL) of
 * the context made of ps's pairs[0 .. n-1], n >= 1. */
int vpl_posterior(method *m, const pair_set *ps, const uint32_t *pairs, size_t n, float *mu,
                  float *logvar, ppr_err *e);

#endif
