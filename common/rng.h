/* rng.h: the seeded random number generator every stage uses (xoshiro256**,
 * seeded through splitmix64), so that a seed fixes every draw on every machine. */
#ifndef PPR_RNG_H
#define PPR_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} rng;

/* Seed from a 64-bit seed and a stream id, so independent streams (one per
 * dataset, user, ...) can be derived from one config seed. */
void rng_seed(rng *r, uint64_t seed, uint64_t stream);
uint64_t rng_next(rng *r);
double rng_uniform(rng *r);                /* [0, 1) with 53 random bits */
uint64_t rng_below(rng *r, uint64_t n);    /* uniform in [0, n), unbiased; n > 0 */
double rng_normal(rng *r);                 /* standard normal (Box-Muller, no cache) */

#endif
