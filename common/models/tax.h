/* tax.h: the personalization tax (docs/tax.md, paper.md Table 3): how a
 * model fine-tuned from the reference scores on general evaluation pairs
 * (safety, reasoning, chat-hard, chat) against the reference itself. One
 * evaluation for stages 05 and 06, which differ only in the categories
 * they measure. */
#ifndef PPR_MODELS_TAX_H
#define PPR_MODELS_TAX_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/models/method.h"
#include "common/models/pairs.h"
#include "common/stage.h"

/* The chance level of a pairwise accuracy, and the rule built on it: a
 * reference whose 95% interval (over pairs, or over seeds) reaches down to
 * it cannot lose anything measurable, so its tax is not reported. */
#define TAX_CHANCE 0.5

/* The evaluation pairs of one category: rows of a feature matrix the caller
 * owns, each pair's user its subset (an index into subsets). */
typedef struct {
    const float *matrix; /* [rows][dim] */
    uint32_t dim;
    pairs_buf pairs;     /* .user: the subset */
    char **subsets;      /* [n_subsets] names, owned */
    uint32_t n_subsets;
} tax_pairs;

void tax_pairs_release(tax_pairs *t);
/* The id of the subset called name, added when new; -1 when out of memory. */
int64_t tax_pairs_subset(tax_pairs *t, const char *name);

/* v [t->pairs.n]: for each pair, the share of m's users 0 .. users-1 whose
 * reward orders it right (strict: a tie is wrong), m scoring every pair as
 * each of them in turn: an Individual RM's per-user models, PRM's per-user
 * rewards; a model with one reward for all (the reference) takes users 1. */
int tax_scores(method *m, const tax_pairs *t, uint32_t users, double *v, ppr_err *e);

/* Into out: "pairs"; "subsets" {name: {pairs, accuracy}}; "accuracy" {seeds
 * [n_seeds], mean, ci95 (Student's t over seeds), pairs95 [lo, hi] (the
 * bootstrap over pairs of the seeds' mean)}; "subset_mean" (the unweighted
 * mean over subsets); "reference_at_chance" (TAX_CHANCE rule, of ref or, with
 * ref NULL, of v itself); and with ref: "reference" (as "accuracy") and
 * either "change" (as "accuracy", of v - ref per seed; its pairs95 a paired
 * bootstrap) or "not_measurable" (why). v and ref: [n_seeds][pairs] from
 * tax_scores, ref the same seeds' reference. */
int tax_summarize(const tax_pairs *t, const double *v, const double *ref, int n_seeds,
                  cJSON *out, ppr_err *e);

/* A tax stage's whole computation for the instance of r: its slice names the
 * method, the dataset, the seeds, the evaluation sets ("sets": name, source,
 * mapping) and the reference's training sets ("pretrained_on"). Every
 * evaluation pair of the categories (NULL-ended names of rb_categories)
 * is scored by the row's models and by the reference. An evaluation prompt
 * the reference was trained on is PPR_EINPUT naming it. *metrics is the
 * result (docs/tax.md). */
int tax_run(stage_run *r, const char *const *categories, cJSON **metrics, ppr_err *e);

/* The run of stage 05 or 06: OpenBLAS on the slice's "threads" (recorded in
 * the lock), the run cache, tax_run, and the result stored as output
 * "metrics". */
int tax_stage(stage_run *r, const char *const *categories, ppr_err *e);

#endif
