/* train.h: what stage 04 does for one instance (docs/train.md): read its
 * settings, build pair sets from a dataset and its feature matrix, select the
 * epochs on a validation part, train, evaluate per user, and describe it all
 * in the metrics artifact. */
#ifndef PPR_TRAIN_TRAIN_H
#define PPR_TRAIN_TRAIN_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "common/error.h"
#include "common/models/trainer.h"
#include "common/stage.h"

#define TRAIN_MAX_SIZES 8
#define TRAIN_MAX_SEEDS 16
#define TRAIN_MAX_RULES 8

typedef struct {
    int64_t up_to;        /* the rule applies to sizes <= up_to */
    int64_t choices[8];   /* epoch counts to choose from */
    int n_choices;
} epoch_rule;

typedef struct {
    const char *method;
    int64_t sizes[TRAIN_MAX_SIZES];
    int n_sizes;
    uint64_t seeds[TRAIN_MAX_SEEDS];
    int n_seeds;
    epoch_rule rules[TRAIN_MAX_RULES];
    int n_rules;
    double validation_fraction;
    int64_t eval_size;
    int threads;
    int from_pretrained; /* start every head from the reference's (same seed) */
    optim_settings optim; /* lr, decay, clip, warmup, batch; seed and epochs set per run */
    const cJSON *settings; /* the slice's config, where each method finds its own */
} train_setup;

int train_setup_read(train_setup *ts, stage_run *r, ppr_err *e);
void train_setup_release(train_setup *ts);

/* A (dataset, method) instance: every size and seed. */
int train_dataset(stage_run *r, const train_setup *ts, cJSON **metrics, ppr_err *e);
/* The "pretrained" instance: the reference on the general preference sets. */
int train_reference(stage_run *r, const train_setup *ts, cJSON **metrics, ppr_err *e);
/* A (dataset, "pretrained") instance: the reference's models on the dataset. */
int train_evaluate_reference(stage_run *r, const train_setup *ts, cJSON **metrics, ppr_err *e);

#endif
