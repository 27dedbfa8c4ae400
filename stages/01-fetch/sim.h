/* sim.h: the preference simulator (design section 9): users with Bradley-Terry
 * tastes over text attributes label triples drawn from a measured corpus, into a
 * preference dataset (prefs.h). Rules: docs/simulator.md. */
#ifndef PPR_FETCH_SIM_H
#define PPR_FETCH_SIM_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "attrs.h"
#include "common/error.h"
#include "common/prefs.h"
#include "corpus.h"

#define SIM_NAME_MAX 64
#define SIM_USERS_MAX 64

enum sim_labels {
    SIM_ARGMAX = 0, /* the higher-scoring answer wins: consistency 1 */
    SIM_SAMPLE = 1, /* drawn from the Bradley-Terry probability */
};

typedef struct {
    char name[SIM_NAME_MAX];
    double beta;               /* inverse temperature */
    double weight[ATTR_COUNT]; /* [ATTR_COUNT] theta; attributes not named are 0 */
    double activity;           /* relative chance of being among a triple's labellers
                                  (the source's "activity" array; 1 without it) */
} sim_user;

/* One "sim" source of manifests/config.json, after profile overrides. */
typedef struct {
    char regime[16];        /* "psoups", "tldr" or "pllm": a tag, recorded */
    char texts[16];         /* "alpaca-eval", "flask" or "composed" */
    int64_t triples;        /* distinct (prompt, answer, answer) triples of the main users */
    double test_fraction;   /* share of prompts whose triples are test */
    int labels;             /* enum sim_labels */
    double *labelers;       /* [n_users] weight of a triple being labelled by 1..n_users users */
    double repeat_fraction; /* extra rows, as a share of the first labels, that label again */
    sim_user *users;        /* [n_users] */
    size_t n_users;
    int64_t new_users;        /* users of pool PREFS_POOL_NEW, mixtures of `users` */
    int64_t new_user_triples; /* triples per new user, split by prompt like the rest */
} sim_config;

/* Read and range-check a source object; errors name `what` (the source) and the
 * field. Unknown fields are errors too, so that a typo never goes unnoticed. */
int sim_config_parse(sim_config *cfg, const cJSON *obj, const char *what, ppr_err *e);
void sim_config_release(sim_config *cfg);

/* The shape of the corpus a composed fallback should have to stand in for
 * `texts` (AlpacaEval: 805 x 48; FLASK: 1,700 x 15; "composed": as AlpacaEval). */
void sim_texts_shape(const char *texts, size_t *n_prompts, size_t *n_models);

/* Generate the dataset `dataset` into b (which must have no users yet): users
 * 0..n_users-1 in config order, then the new users. Deterministic from (seed,
 * dataset). *params receives the simulator's parameters and counts (users'
 * weights, the new users' mixtures, the corpus standardization) as an object the
 * caller owns. c must be measured (corpus_measure). */
int sim_generate(const sim_config *cfg, const corpus *c, uint64_t seed,
                 const char *dataset, prefs_builder *b, cJSON **params, ppr_err *e);

#endif
