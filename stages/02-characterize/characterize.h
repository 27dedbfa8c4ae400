/* characterize.h: the table 2 statistics of one preference dataset (paper.md 2.2-2.3,
 * rules in docs/characterize.md): disagreement between users, accuracy of each user
 * under majority vote (minority users), consistency of repeated labels, and the room
 * left for personalization.
 *
 * Only main-pool users count; all splits count. Rates and means that have nothing to
 * average over are NaN, which means "unknown" (the paper's "?"). */
#ifndef PPR_CHARACTERIZE_H
#define PPR_CHARACTERIZE_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "common/error.h"
#include "common/prefs.h"

typedef struct {
    double highly_threshold; /* highly contested when minority / voters >= this (0.3) */
    double minority_below;   /* minority user when MV-ACC < this, strictly (0.5) */
} char_params;

/* One user's values; every count is over main-pool rows with chosen != rejected. */
typedef struct {
    uint32_t pool;           /* enum prefs_pool; new-pool users keep zeros and NaN */
    uint32_t n_rows;         /* rows the user labelled */
    uint32_t n_rows_truth;   /* of which carry a true probability */
    uint32_t n_triples;      /* distinct triples the user labelled */
    uint32_t n_abstain;      /* triples whose repeated labels tie (no vote) */
    uint32_t n_shared_votes; /* shared triples the user votes on: MV-ACC denominator */
    uint32_t n_repeated;     /* triples labelled >= 2 times */
    uint64_t agree_pairs;    /* agreeing label pairs over repeated triples */
    uint64_t label_pairs;    /* all label pairs over repeated triples */
    double mv_acc;           /* mean majority-vote score; NaN without a shared vote */
    double consistency;      /* agree_pairs / label_pairs; NaN without repeats */
    double bayes_acc;        /* mean max(p, 1-p); NaN unless every row carries p */
    double truth_consistency; /* mean p^2 + (1-p)^2; NaN unless every row carries p */
    int minority;            /* 1 when mv_acc < minority_below */
} char_user;

typedef struct {
    char_params params; /* the values used */

    uint32_t n_rows;        /* main-pool rows counted (chosen != rejected) */
    uint32_t n_rows_train;  /* of which split train */
    uint32_t n_rows_test;   /* of which split test */
    uint32_t n_rows_self;   /* main-pool rows with chosen == rejected: ignored */
    uint32_t n_rows_new;    /* rows of new-pool users: ignored, counted only */
    uint32_t n_users;       /* main-pool users in the user table */
    uint32_t n_users_rows;  /* main-pool users with at least one counted row */
    uint32_t n_users_new;   /* new-pool users in the user table */

    uint32_t n_triples;    /* distinct (prompt, {chosen, rejected}) */
    uint32_t n_shared;     /* triples with >= 2 voters */
    uint32_t n_contested;  /* shared triples with voters on both sides */
    uint32_t n_highly;     /* shared triples with minority / voters >= threshold */
    double contested_rate; /* n_contested / n_shared; NaN when no shared triple */
    double highly_rate;    /* n_highly / n_shared; NaN when no shared triple */

    double mv_acc_min, mv_acc_max, mv_acc_mean; /* over users with MV-ACC; NaN if none */
    uint32_t n_minority;                        /* users with minority set */

    double consistency;       /* mean of per-user consistency where defined, else NaN */
    double room_labels;       /* consistency - mv_acc_mean, else NaN */
    int has_truth;            /* 1 when every counted row carries p (and there is one) */
    double bayes_acc_mean;    /* mean per-user bayes_acc when has_truth, else NaN */
    double truth_consistency; /* mean per-user truth_consistency when has_truth, else NaN */
    double room_truth;        /* bayes_acc_mean - mv_acc_mean, else NaN */

    uint32_t n_user_ids; /* = the view's n_users */
    char_user *users;    /* [n_user_ids], indexed by user id */
} char_result;

/* Compute every statistic of the validated view v into out, which the caller
 * releases whatever the return code. Bad parameters are PPR_EINPUT; out of memory
 * is PPR_EINTERNAL. */
int characterize(const prefs_view *v, const char_params *p, char_result *out, ppr_err *e);

/* Free what characterize allocated; r may be NULL or zeroed. */
void char_result_release(char_result *r);

/* The result as a JSON object (user names taken from v, the view it was computed
 * from); NaN becomes null, meaning unknown. NULL when out of memory. */
cJSON *char_result_json(const char_result *r, const prefs_view *v);

#endif
