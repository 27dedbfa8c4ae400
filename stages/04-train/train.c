/* train.c: one training instance of stage 04: pair sets, epoch selection,
 * training, per-user evaluation and the metrics (rules in docs/train.md). */
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/models/dataset.h"
#include "common/models/evaluate.h"
#include "common/models/method.h"
#include "common/models/stats.h"
#include "common/store.h"

/* ---- settings ---------------------------------------------------------------- */

static int int_list(const cJSON *arr, const char *what, int64_t *out, int max, int *n,
                    ppr_err *e)
{
    *n = 0;
    for (const cJSON *it = arr ? arr->child : NULL; it; it = it->next) {
        if (*n == max)
            return err_set(e, PPR_EINPUT, "'%s': more than %d values", what, max);
        out[(*n)++] = (int64_t)it->valuedouble;
    }
    return *n ? PPR_OK : err_set(e, PPR_EINPUT, "'%s': no values", what);
}

int train_setup_read(train_setup *ts, stage_run *r, ppr_err *e)
{
    memset(ts, 0, sizeof *ts);
    const char *w = r->slice_path;
    const cJSON *c = r->config, *head, *rules;
    int64_t threads, eval_size, seeds[TRAIN_MAX_SEEDS];
    if (json_get_str(c, "method", w, &ts->method, e) ||
        json_get_num(c, "validation_fraction", w, &ts->validation_fraction, e) ||
        json_get_int(c, "eval_size", w, &eval_size, e) ||
        json_get_int(c, "threads", w, &threads, e) ||
        !(head = json_get_obj(c, "head", w, e)) || !(rules = json_get_arr(c, "epochs", w, e)) ||
        int_list(json_get_arr(c, "seeds", w, e), "seeds", seeds, TRAIN_MAX_SEEDS, &ts->n_seeds,
                 e))
        return PPR_EINPUT;
    const cJSON *sizes = cJSON_GetObjectItemCaseSensitive(c, "sizes");
    if (sizes && int_list(sizes, "sizes", ts->sizes, TRAIN_MAX_SIZES, &ts->n_sizes, e))
        return PPR_EINPUT;
    for (int i = 0; i < ts->n_seeds; i++)
        ts->seeds[i] = (uint64_t)seeds[i];
    ts->eval_size = eval_size;
    ts->threads = (int)threads;
    /* The method's own section may override the epoch rules and the head's
     * optimizer (VPL and GPO train as their official code does). */
    const cJSON *own = cJSON_GetObjectItemCaseSensitive(c, ts->method);
    if (cJSON_IsObject(own) && cJSON_GetObjectItemCaseSensitive(own, "epochs") &&
        !(rules = json_get_arr(own, "epochs", w, e)))
        return PPR_EINPUT;
    for (const cJSON *it = rules->child; it; it = it->next) {
        if (ts->n_rules == TRAIN_MAX_RULES)
            return err_set(e, PPR_EINPUT, "'%s': more than %d epoch rules", w, TRAIN_MAX_RULES);
        epoch_rule *er = &ts->rules[ts->n_rules++];
        if (json_get_int(it, "up_to", w, &er->up_to, e) ||
            int_list(cJSON_GetObjectItemCaseSensitive(it, "choices"), "epochs.choices",
                     er->choices, 8, &er->n_choices, e))
            return PPR_EINPUT;
    }
    /* A fine-tuned instance of the tax (docs/tax.md) may have its own
     * optimizer settings over both. */
    const cJSON *tune = cJSON_GetObjectItemCaseSensitive(c, "fine_tune");
    if (optim_settings_read(&ts->optim, head, w, e) ||
        (cJSON_IsObject(own) && optim_settings_override(&ts->optim, own, w, e)) ||
        (tune && (!json_get_obj(c, "fine_tune", w, e) ||
                  optim_settings_override(&ts->optim, tune, w, e))))
        return PPR_EINPUT;
    ts->settings = c;
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(c, "from_pretrained");
    ts->from_pretrained = cJSON_IsTrue(from) && strcmp(ts->method, "pretrained") != 0;
    return PPR_OK;
}

void train_setup_release(train_setup *ts)
{
    memset(ts, 0, sizeof *ts);
}

/* The epoch choices of the first rule that covers size. */
static const epoch_rule *rule_for(const train_setup *ts, int64_t size)
{
    for (int i = 0; i < ts->n_rules; i++)
        if (size <= ts->rules[i].up_to)
            return &ts->rules[i];
    return &ts->rules[ts->n_rules - 1];
}

/* ---- training and evaluation -------------------------------------------------- */

/* A new method trained on ps with o; started from init's heads when init is
 * not NULL. */
static int fit(const train_setup *ts, const char *name, const pair_set *ps,
               const optim_settings *o, const method *init, method **out, ppr_err *e)
{
    method *m;
    int rc = method_new(&m, name, ps->dim, ps->n_users, ts->settings, o->seed, e);
    if (rc == PPR_OK && init && (rc = method_init_from(m, init, e)))
        err_wrap(e, "train.from_pretrained");
    if (rc == PPR_OK && (rc = method_train(m, ps, o, e)) != PPR_OK) {
        method_free(m);
        m = NULL;
    }
    *out = m;
    return rc;
}

/* Choose the epochs for pairs `all` of size S: hold out a validation part by
 * prompt (pairs_split_prompts), train on the rest with each choice, and keep
 * the best unweighted mean over users of validation accuracy (the measure
 * that is reported), a tie going to the lower validation loss, then to the
 * fewer epochs; one choice needs no validation. Each choice's mean and loss
 * go to `validation`. */
static int choose_epochs(stage_run *r, const train_setup *ts, const pairs_buf *all,
                         const float *matrix, const unsigned char *matrix_id, uint32_t dim, uint32_t n_users, uint64_t seed, const method *init,
                         cJSON *validation, int64_t *best, ppr_err *e)
{
    const epoch_rule *rule = rule_for(ts, (int64_t)all->n);
    *best = method_no_epochs(ts->method) ? 0 : rule->choices[0];
    if (rule->n_choices == 1 || method_no_epochs(ts->method))
        return PPR_OK;
    pairs_buf val, part;
    int by_prompt;
    int rc = pairs_split_prompts(all, ts->validation_fraction, seed, &val, &part, &by_prompt, e);
    if (rc == PPR_OK && !by_prompt)
        stage_say(r, "warning: the first %zu training pairs have too few prompts to hold out "
                  "a validation part by prompt; held out by pairs (\"split\": \"pairs\")",
                  all->n);
    double best_mean = -INFINITY, best_loss = INFINITY;
    for (int c = 0; c < rule->n_choices && rc == PPR_OK; c++) {
        optim_settings o = ts->optim;
        o.seed = seed;
        o.epochs = (uint32_t)rule->choices[c];
        pair_set fit_set = pairs_view(&part, matrix, matrix_id, dim, n_users);
        pair_set val_set = pairs_view(&val, matrix, matrix_id, dim, n_users);
        method *m;
        double mean, loss;
        if ((rc = fit(ts, ts->method, &fit_set, &o, init, &m, e)) == PPR_OK)
            rc = evaluate_validation(m, &val_set, &mean, &loss, e);
        method_free(m);
        if (rc)
            break;
        evaluate_choice(validation, rule->choices[c], val.n, by_prompt, mean, loss, &best_mean,
                        &best_loss, best);
    }
    pairs_release(&val);
    pairs_release(&part);
    return rc;
}

/* Store m as output "model-<size>-s<seed>" (size 0: "model-s<seed>"). */
static int save_model(stage_run *r, const method *m, int64_t size, uint64_t seed, ppr_err *e)
{
    char name[64];
    if (size)
        snprintf(name, sizeof name, "model-%lld-s%llu", (long long)size,
                 (unsigned long long)seed);
    else
        snprintf(name, sizeof name, "model-s%llu", (unsigned long long)seed);
    void *payload;
    size_t n;
    int rc = method_save(m, &payload, &n, e);
    if (rc == PPR_OK)
        rc = stage_put(r, name, PAYLOAD_MODEL, payload, n, 1, e);
    free(payload);
    return rc;
}

/* The minority users stage 02 found for this dataset, from input "table2"
 * (the metrics' "minority_users"). Every failure is an error: metrics computed
 * without them would silently drop the minority mean. */
static int minority_of(stage_run *r, const prefs_view *v, cJSON **out, ppr_err *e)
{
    *out = NULL;
    cJSON *t;
    int rc = stage_input_json(r, "table2", &t, e);
    if (rc)
        return rc;
    const char *dataset, *dot = strchr(r->instance, '.');
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(t, "minority_users");
    if (json_get_str(t, "dataset", "input \"table2\"", &dataset, e))
        rc = PPR_EINPUT;
    else if (!dot || strlen(dataset) != (size_t)(dot - r->instance) ||
             strncmp(dataset, r->instance, strlen(dataset)) != 0)
        rc = err_set(e, PPR_EINPUT, "input \"table2\" of %s is the table of \"%s\"",
                     r->instance, dataset);
    else if (!cJSON_IsArray(m))
        rc = err_set(e, PPR_EINPUT, "input \"table2\" of %s has no \"minority_users\" list",
                     r->instance);
    for (const cJSON *u = m ? m->child : NULL; rc == PPR_OK && u; u = u->next) {
        int known = 0;
        for (uint32_t k = 0; cJSON_IsString(u) && k < v->h->n_users && !known; k++)
            known = strcmp(prefs_user_name(v, k), u->valuestring) == 0;
        if (!known)
            rc = err_set(e, PPR_EINPUT, "input \"table2\" of %s names a minority user that "
                         "\"%s\" does not have", r->instance, dataset);
    }
    if (rc == PPR_OK)
        *out = cJSON_DetachItemFromObjectCaseSensitive(t, "minority_users");
    cJSON_Delete(t);
    return rc;
}

/* The metrics' frame; minority NULL for the reference, which has no users. */
static cJSON *metrics_new(stage_run *r, const train_setup *ts, cJSON *minority)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "instance", r->instance);
    cJSON_AddStringToObject(m, "method", ts->method);
    cJSON_AddItemToObject(m, "minority_users", minority ? minority : cJSON_CreateArray());
    cJSON_AddArrayToObject(m, "runs");
    return m;
}

/* The reference's model of this seed (input "pretrained/model-s<seed>"),
 * which must read dim-wide features. */
static int reference_load(stage_run *r, uint64_t seed, uint32_t dim, method **out, ppr_err *e)
{
    char name[64];
    snprintf(name, sizeof name, "pretrained/model-s%llu", (unsigned long long)seed);
    return method_input(out, r, name, dim, e);
}

/* trained [n_users]: 1 for a user with a pair among these training pairs.
 * The others are listed in run["untrained_users"] and never averaged in:
 * an Individual RM cannot learn them (its head stays as initialized), and
 * every method is measured over the same users. */
static int trained_users(const pairs_buf *train, const prefs_view *v, cJSON *run,
                         uint8_t **trained, ppr_err *e)
{
    uint32_t n_users = v->h->n_users;
    *trained = calloc(n_users ? n_users : 1, 1);
    if (!*trained)
        return err_nomem(e);
    for (size_t i = 0; i < train->n; i++)
        (*trained)[train->user[i]] = 1;
    cJSON *list = cJSON_AddArrayToObject(run, "untrained_users");
    for (uint32_t u = 0; u < n_users; u++)
        if (!(*trained)[u] && v->users[u].pool == PREFS_POOL_MAIN)
            cJSON_AddItemToArray(list, cJSON_CreateString(prefs_user_name(v, u)));
    return PPR_OK;
}

/* Users with training pairs whose model m does not serve (VPL and GPO need a
 * context of a user's pairs): named in run["skipped_users"] with their pair
 * counts and said on the console; evaluate_users leaves them out. */
static int report_skipped(stage_run *r, const method *m, const pairs_buf *train,
                          const prefs_view *v, cJSON *run, ppr_err *e)
{
    size_t *pairs = calloc(m->n_users ? m->n_users : 1, sizeof *pairs); /* [n_users] */
    if (!pairs)
        return err_nomem(e);
    for (size_t i = 0; i < train->n; i++)
        pairs[train->user[i]]++;
    cJSON *list = NULL;
    for (uint32_t u = 0; u < m->n_users; u++) {
        if (!pairs[u] || method_serves(m, u))
            continue;
        if (!list)
            list = cJSON_AddArrayToObject(run, "skipped_users");
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", prefs_user_name(v, u));
        cJSON_AddNumberToObject(o, "pairs", (double)pairs[u]);
        cJSON_AddItemToArray(list, o);
        stage_say(r, "warning: %s skips user \"%s\": %zu training pairs, fewer than its context "
                  "takes", m->name, prefs_user_name(v, u), pairs[u]);
    }
    free(pairs);
    return PPR_OK;
}

int train_dataset(stage_run *r, const train_setup *ts, cJSON **metrics, ppr_err *e)
{
    dataset_in d;
    int rc = dataset_load(r, "", &d, e);
    if (rc)
        return rc;
    int conditional = strcmp(ts->method, "conditional") == 0;
    pairs_buf all = {0}, test = {0};
    /* The methods learn the main pool's users; the new users (ids from n_users
     * on) are left for adaptation, as users the models have not seen. */
    uint32_t dim = d.f.h->dim, n_users = prefs_n_main(&d.v);
    cJSON *minority;
    if ((rc = minority_of(r, &d.v, &minority, e))) {
        dataset_release(&d);
        return rc;
    }
    *metrics = metrics_new(r, ts, minority);
    cJSON *runs = cJSON_GetObjectItemCaseSensitive(*metrics, "runs");
    if ((rc = dataset_pairs(&d, PREFS_TRAIN, conditional, 0, 0, &all, e)) ||
        (rc = dataset_pairs(&d, PREFS_TEST, conditional, (size_t)ts->eval_size, 0, &test, e)))
        goto out;
    for (int s = 0; s < ts->n_sizes && rc == PPR_OK; s++) {
        int64_t size = ts->sizes[s];
        if ((size_t)size > all.n) {
            rc = err_set(e, PPR_EINPUT, "train size %lld is larger than the %zu training pairs "
                         "of \"%s\"", (long long)size, all.n, r->instance);
            break;
        }
        pairs_buf first = all;
        first.n = (size_t)size;
        int64_t epochs = 0; /* chosen with the first seed, kept for the others */
        for (int k = 0; k < ts->n_seeds && rc == PPR_OK; k++) {
            cJSON *run = cJSON_CreateObject();
            cJSON_AddItemToArray(runs, run);
            cJSON_AddNumberToObject(run, "size", (double)size);
            cJSON_AddNumberToObject(run, "seed", (double)ts->seeds[k]);
            uint8_t *trained = NULL;
            optim_settings o = ts->optim;
            method *init = NULL;
            rc = trained_users(&first, &d.v, run, &trained, e);
            if (rc == PPR_OK && ts->from_pretrained)
                rc = reference_load(r, ts->seeds[k], dim, &init, e);
            if (rc == PPR_OK && k == 0)
                rc = choose_epochs(r, ts, &first, d.f.matrix, d.features_id, dim, n_users, ts->seeds[k], init,
                                   cJSON_AddArrayToObject(run, "validation"), &epochs, e);
            else if (rc == PPR_OK)
                cJSON_AddNumberToObject(run, "epochs_chosen_with_seed", (double)ts->seeds[0]);
            o.seed = ts->seeds[k];
            o.epochs = (uint32_t)epochs;
            cJSON_AddNumberToObject(run, "epochs", (double)epochs);
            method *m = NULL;
            pair_set ps = pairs_view(&first, d.f.matrix, d.features_id, dim, n_users);
            if (rc == PPR_OK)
                rc = fit(ts, ts->method, &ps, &o, init, &m, e);
            method_free(init);
            if (rc == PPR_OK)
                rc = report_skipped(r, m, &first, &d.v, run, e);
            if (rc == PPR_OK)
                rc = evaluate_users(m, &test, d.f.matrix, d.features_id, dim, &d.v,
                                    cJSON_GetObjectItemCaseSensitive(*metrics, "minority_users"),
                                    trained, run, e);
            if (rc == PPR_OK)
                rc = save_model(r, m, size, ts->seeds[k], e);
            method_free(m);
            free(trained);
        }
        if (rc == PPR_OK)
            stage_say(r, "size %lld: %d seeds", (long long)size, ts->n_seeds);
    }
    stats_summarize(*metrics);
out:
    pairs_release(&all);
    pairs_release(&test);
    dataset_release(&d);
    if (rc) {
        cJSON_Delete(*metrics);
        *metrics = NULL;
    }
    return rc;
}

int train_reference(stage_run *r, const train_setup *ts, cJSON **metrics, ppr_err *e)
{
    const cJSON *on = cJSON_GetObjectItemCaseSensitive(r->config, "pretrained_on");
    size_t n_sets = (size_t)cJSON_GetArraySize(on), rows = 0, s = 0;
    dataset_in *sets = calloc(n_sets ? n_sets : 1, sizeof *sets);
    uint32_t *base = calloc(n_sets ? n_sets : 1, sizeof *base);
    float *matrix = NULL;
    pairs_buf train = {0}, *tests = calloc(n_sets ? n_sets : 1, sizeof *tests);
    int rc = sets && base && tests ? PPR_OK : err_nomem(e);
    *metrics = metrics_new(r, ts, NULL);
    for (const cJSON *it = on->child; it && rc == PPR_OK; it = it->next, s++) {
        char prefix[256];
        snprintf(prefix, sizeof prefix, "%s/", it->valuestring);
        rc = dataset_load(r, prefix, &sets[s], e);
        if (rc == PPR_OK && sets[s].f.h->dim != sets[0].f.h->dim)
            rc = err_set(e, PPR_EINPUT, "'%s' has features of another width", prefix);
        if (rc == PPR_OK) {
            base[s] = (uint32_t)rows;
            rows += sets[s].f.h->n_rows;
        }
    }
    uint32_t dim = n_sets && rc == PPR_OK ? sets[0].f.h->dim : 0;
    if (rc == PPR_OK && !(matrix = malloc((rows ? rows : 1) * dim * sizeof *matrix)))
        rc = err_nomem(e);
    /* One matrix for all sets; each set's pairs count as one "user" for the
     * per-set accuracies of the reference. */
    for (size_t k = 0; k < n_sets && rc == PPR_OK; k++) {
        memcpy(matrix + (size_t)base[k] * dim, sets[k].f.matrix,
               (size_t)sets[k].f.h->n_rows * dim * sizeof *matrix);
        size_t before = train.n;
        rc = dataset_pairs(&sets[k], PREFS_TRAIN, 0, 0, base[k], &train, e);
        for (size_t i = before; i < train.n; i++)
            train.user[i] = (uint32_t)k;
        if (rc == PPR_OK)
            rc = dataset_pairs(&sets[k], PREFS_TEST, 0, 0, base[k], &tests[k], e);
        for (size_t i = 0; i < tests[k].n; i++)
            tests[k].user[i] = (uint32_t)k;
    }
    cJSON *runs = cJSON_GetObjectItemCaseSensitive(*metrics, "runs");
    int64_t epochs = 0; /* chosen with the first seed, kept for the others */
    for (int k = 0; k < ts->n_seeds && rc == PPR_OK; k++) {
        cJSON *run = cJSON_CreateObject();
        cJSON_AddItemToArray(runs, run);
        cJSON_AddNumberToObject(run, "size", (double)train.n);
        cJSON_AddNumberToObject(run, "seed", (double)ts->seeds[k]);
        optim_settings o = ts->optim;
        if (k == 0)
            rc = choose_epochs(r, ts, &train, matrix, NULL, dim, (uint32_t)n_sets, ts->seeds[k], NULL,
                               cJSON_AddArrayToObject(run, "validation"), &epochs, e);
        else
            cJSON_AddNumberToObject(run, "epochs_chosen_with_seed", (double)ts->seeds[0]);
        o.seed = ts->seeds[k];
        o.epochs = (uint32_t)epochs;
        cJSON_AddNumberToObject(run, "epochs", (double)epochs);
        method *m = NULL;
        pair_set ps = pairs_view(&train, matrix, NULL, dim, (uint32_t)n_sets);
        if (rc == PPR_OK)
            rc = fit(ts, "pretrained", &ps, &o, NULL, &m, e);
        cJSON *per = cJSON_AddObjectToObject(run, "test_accuracy");
        s = 0;
        for (const cJSON *it = on->child; it && rc == PPR_OK; it = it->next, s++) {
            pair_set tset = pairs_view(&tests[s], matrix, NULL, dim, (uint32_t)n_sets);
            double acc;
            if ((rc = evaluate_all(m, &tset, &acc, e)) == PPR_OK && !isnan(acc))
                cJSON_AddNumberToObject(per, it->valuestring, acc);
        }
        if (rc == PPR_OK)
            rc = save_model(r, m, 0, ts->seeds[k], e);
        method_free(m);
    }
    if (rc == PPR_OK)
        stage_say(r, "reference trained on %zu pairs of %zu sets, %d seeds", train.n, n_sets,
                  ts->n_seeds);
    for (size_t k = 0; k < n_sets && sets && tests; k++) {
        dataset_release(&sets[k]);
        pairs_release(&tests[k]);
    }
    pairs_release(&train);
    free(sets);
    free(tests);
    free(base);
    free(matrix);
    if (rc) {
        cJSON_Delete(*metrics);
        *metrics = NULL;
    }
    return rc;
}

int train_evaluate_reference(stage_run *r, const train_setup *ts, cJSON **metrics, ppr_err *e)
{
    dataset_in d;
    int rc = dataset_load(r, "", &d, e);
    if (rc)
        return rc;
    pairs_buf test = {0};
    cJSON *minority;
    if ((rc = minority_of(r, &d.v, &minority, e))) {
        dataset_release(&d);
        return rc;
    }
    *metrics = metrics_new(r, ts, minority);
    cJSON *runs = cJSON_GetObjectItemCaseSensitive(*metrics, "runs");
    rc = dataset_pairs(&d, PREFS_TEST, 0, (size_t)ts->eval_size, 0, &test, e);
    for (int k = 0; k < ts->n_seeds && rc == PPR_OK; k++) {
        method *m = NULL;
        if ((rc = reference_load(r, ts->seeds[k], d.f.h->dim, &m, e)))
            break;
        cJSON *run = cJSON_CreateObject();
        cJSON_AddItemToArray(runs, run);
        cJSON_AddNumberToObject(run, "size", 0);
        cJSON_AddNumberToObject(run, "seed", (double)ts->seeds[k]);
        if (rc == PPR_OK)
            rc = evaluate_users(m, &test, d.f.matrix, d.features_id, d.f.h->dim, &d.v,
                                cJSON_GetObjectItemCaseSensitive(*metrics, "minority_users"),
                                NULL, run, e);
        method_free(m);
    }
    if (rc == PPR_OK)
        stats_summarize(*metrics);
    pairs_release(&test);
    dataset_release(&d);
    if (rc) {
        cJSON_Delete(*metrics);
        *metrics = NULL;
    }
    return rc;
}
