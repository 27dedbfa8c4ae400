/* trainer.c: the shared minibatch loop (see trainer.h). */
#include "common/models/trainer.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/rng.h"

int optim_settings_read(optim_settings *o, const cJSON *head, const char *where, ppr_err *e)
{
    memset(o, 0, sizeof *o);
    int64_t batch;
    if (json_get_num(head, "lr", where, &o->lr, e) ||
        json_get_num(head, "weight_decay", where, &o->weight_decay, e) ||
        json_get_num(head, "clip", where, &o->clip, e) ||
        json_get_num(head, "warmup_ratio", where, &o->warmup_ratio, e) ||
        json_get_int(head, "batch", where, &batch, e))
        return PPR_EINPUT;
    o->batch = (uint32_t)batch;
    return PPR_OK;
}

int optim_settings_override(optim_settings *o, const cJSON *section, const char *where,
                            ppr_err *e)
{
    static const char *const nums[] = {"lr", "weight_decay", "clip", "warmup_ratio"};
    double *fields[] = {&o->lr, &o->weight_decay, &o->clip, &o->warmup_ratio};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
        if (cJSON_GetObjectItemCaseSensitive(section, nums[i]) &&
            json_get_num(section, nums[i], where, fields[i], e))
            return PPR_EINPUT;
    int64_t batch;
    if (cJSON_GetObjectItemCaseSensitive(section, "batch")) {
        if (json_get_int(section, "batch", where, &batch, e))
            return PPR_EINPUT;
        if (batch < 1 || batch > UINT32_MAX)
            return err_set(e, PPR_EINPUT, "'%s': batch %lld is out of range", where,
                           (long long)batch);
        o->batch = (uint32_t)batch;
    }
    const char *schedule;
    if (cJSON_GetObjectItemCaseSensitive(section, "schedule")) {
        if (json_get_str(section, "schedule", where, &schedule, e))
            return PPR_EINPUT;
        if (strcmp(schedule, "linear") != 0 && strcmp(schedule, "cosine") != 0)
            return err_set(e, PPR_EINPUT, "'%s': schedule \"%s\" is not \"linear\" or "
                           "\"cosine\"", where, schedule);
        o->cosine = strcmp(schedule, "cosine") == 0;
    }
    return PPR_OK;
}

adamw_cfg optim_adamw_cfg(const optim_settings *o, uint64_t total)
{
    adamw_cfg c = {
        .lr = o->lr,
        .beta1 = 0.9,
        .beta2 = 0.999,
        .eps = 1e-8,
        .weight_decay = o->weight_decay,
        .clip = o->clip,
        .total = total,
        .cosine = o->cosine,
    };
    c.warmup = (uint64_t)ceil(o->warmup_ratio * (double)total); /* as the HF Trainer */
    return c;
}

/* What adamw_init does not check itself. */
static int cfg_check(const optim_settings *cfg, ppr_err *e)
{
    if (cfg->batch == 0)
        return err_set(e, PPR_EINPUT, "training: the batch size must be at least 1");
    if (!(cfg->warmup_ratio >= 0 && cfg->warmup_ratio <= 1))
        return err_set(e, PPR_EINPUT, "training: warmup_ratio %g is outside [0, 1]",
                       cfg->warmup_ratio);
    return PPR_OK;
}

int trainer_run(const trainer_task *t, const uint32_t *subset, size_t n_pairs,
                const optim_settings *cfg, uint64_t seed, ppr_err *e)
{
    int rc = cfg_check(cfg, e);
    if (rc)
        return rc;
    if (n_pairs == 0 || cfg->epochs == 0)
        return PPR_OK;
    uint64_t per_epoch = (n_pairs + cfg->batch - 1) / cfg->batch;
    adamw_cfg oc = optim_adamw_cfg(cfg, per_epoch * cfg->epochs);
    uint32_t *order = malloc(n_pairs * sizeof *order); /* [n_pairs] this epoch's pairs */
    if (!order)
        return err_nomem(e);
    adamw opt;
    rc = adamw_init(&opt, &oc, t->n, t->decay, e);
    if (rc) {
        free(order);
        return rc;
    }
    /* adamw_step leaves the gradients at zero for the next batch. */
    memset(t->grads, 0, t->n * sizeof *t->grads);
    for (uint32_t epoch = 0; epoch < cfg->epochs && rc == PPR_OK; epoch++) {
        /* Fisher-Yates from the same start each epoch, so an epoch's order
         * depends on the seed and the epoch only. */
        memcpy(order, subset, n_pairs * sizeof *order);
        rng r;
        rng_seed(&r, seed, epoch);
        for (size_t i = n_pairs - 1; i > 0; i--) {
            size_t j = (size_t)rng_below(&r, i + 1);
            uint32_t tmp = order[i];
            order[i] = order[j];
            order[j] = tmp;
        }
        for (size_t at = 0; at < n_pairs && rc == PPR_OK; at += cfg->batch) {
            size_t b = n_pairs - at < cfg->batch ? n_pairs - at : cfg->batch;
            rc = t->batch(t->ctx, order + at, b, e);
            if (rc == PPR_OK)
                adamw_step(&opt, t->params, t->grads);
        }
    }
    adamw_release(&opt);
    free(order);
    for (size_t i = 0; i < t->n && rc == PPR_OK; i++)
        if (!isfinite(t->params[i]))
            rc = err_set(e, PPR_EINPUT,
                         "training diverged (a parameter is not finite after %u epochs at "
                         "lr %g); lower the learning rate",
                         cfg->epochs, cfg->lr);
    return rc;
}
