/* tax.c: the personalization tax (see tax.h and docs/tax.md): evaluation
 * pairs by category, every seed's model and reference scored on them, and the
 * accuracies, their changes and intervals. */
#include "common/models/tax.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/models/dataset.h"
#include "common/models/evaluate.h"
#include "common/models/metrics_stage.h"
#include "common/models/stats.h"
#include "common/rewardbench.h"

#define TAX_MAX_SEEDS 16

void tax_pairs_release(tax_pairs *t)
{
    pairs_release(&t->pairs);
    for (uint32_t k = 0; k < t->n_subsets; k++)
        free(t->subsets[k]);
    free(t->subsets);
    memset(t, 0, sizeof *t);
}

int64_t tax_pairs_subset(tax_pairs *t, const char *name)
{
    for (uint32_t k = 0; k < t->n_subsets; k++)
        if (strcmp(t->subsets[k], name) == 0)
            return k;
    char **s = realloc(t->subsets, (t->n_subsets + 1) * sizeof *s);
    if (!s)
        return -1;
    t->subsets = s;
    if (!(s[t->n_subsets] = strdup(name)))
        return -1;
    return t->n_subsets++;
}

int tax_scores(method *m, const tax_pairs *t, uint32_t users, double *v, ppr_err *e)
{
    size_t n = t->pairs.n;
    uint32_t *user = malloc((n ? n : 1) * sizeof *user);
    float *rc = malloc((n ? n : 1) * sizeof *rc), *rr = malloc((n ? n : 1) * sizeof *rr);
    int ret = user && rc && rr ? PPR_OK : err_nomem(e);
    pair_set ps = {.matrix = t->matrix, .dim = t->dim, .rows = t->pairs.rows, .user = user,
                   .n = n, .n_users = m->n_users};
    for (size_t i = 0; i < n; i++)
        v[i] = 0;
    for (uint32_t u = 0; u < users && ret == PPR_OK; u++) {
        if (!method_serves(m, u)) {
            ret = err_set(e, PPR_EINPUT, "%s cannot score as its user %u", m->name, u);
            break;
        }
        for (size_t i = 0; i < n; i++)
            user[i] = u;
        if (n && ((ret = method_score(m, &ps, 0, rc, e)) || (ret = method_score(m, &ps, 1, rr, e))))
            break;
        for (size_t i = 0; i < n; i++)
            v[i] += rc[i] > rr[i]; /* a tie (or NaN) is wrong */
    }
    for (size_t i = 0; i < n && users; i++)
        v[i] /= users;
    free(user);
    free(rc);
    free(rr);
    return ret;
}

/* ---- summaries --------------------------------------------------------------- */

/* {seeds, mean, ci95, pairs95} of v [n_seeds][n] (minus sub, when not NULL)
 * into a new object; *lo_out the lower end of its interval over pairs. */
static cJSON *seeds_summary(const double *v, const double *sub, int n_seeds, size_t n,
                            double *lo_out, ppr_err *e)
{
    double *mean_pair = malloc((n ? n : 1) * sizeof *mean_pair); /* [n] over seeds */
    cJSON *o = cJSON_CreateObject(), *seeds = cJSON_AddArrayToObject(o, "seeds");
    if (!mean_pair || !seeds) {
        free(mean_pair);
        cJSON_Delete(o);
        err_nomem(e);
        return NULL;
    }
    double sum = 0, sq = 0;
    for (size_t i = 0; i < n; i++)
        mean_pair[i] = 0;
    for (int s = 0; s < n_seeds; s++) {
        double acc = 0;
        for (size_t i = 0; i < n; i++) {
            double x = v[(size_t)s * n + i] - (sub ? sub[(size_t)s * n + i] : 0);
            acc += x;
            mean_pair[i] += x / n_seeds;
        }
        acc /= (double)n;
        cJSON_AddItemToArray(seeds, cJSON_CreateNumber(acc));
        sum += acc;
        sq += acc * acc;
    }
    double mean = sum / n_seeds;
    double sd = n_seeds > 1 ? sqrt(fmax(sq - n_seeds * mean * mean, 0) / (n_seeds - 1)) : NAN;
    double ci = stats_ci95(sd, n_seeds), lo, hi;
    if (evaluate_bootstrap_mean(mean_pair, n, &lo, &hi, e)) {
        free(mean_pair);
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddNumberToObject(o, "mean", mean);
    if (!isnan(ci))
        cJSON_AddNumberToObject(o, "ci95", ci);
    cJSON *pairs95 = cJSON_AddArrayToObject(o, "pairs95");
    cJSON_AddItemToArray(pairs95, cJSON_CreateNumber(lo));
    cJSON_AddItemToArray(pairs95, cJSON_CreateNumber(hi));
    *lo_out = isnan(ci) ? lo : fmin(lo, mean - ci);
    free(mean_pair);
    return o;
}

int tax_summarize(const tax_pairs *t, const double *v, const double *ref, int n_seeds,
                  cJSON *out, ppr_err *e)
{
    size_t n = t->pairs.n;
    uint32_t k_n = t->n_subsets ? t->n_subsets : 1;
    double *right = calloc(k_n, sizeof *right), *total = calloc(k_n, sizeof *total);
    if (!right || !total) {
        free(right);
        free(total);
        return err_nomem(e);
    }
    for (int s = 0; s < n_seeds; s++)
        for (size_t i = 0; i < n; i++) {
            right[t->pairs.user[i]] += v[(size_t)s * n + i] / n_seeds;
            total[t->pairs.user[i]] += 1.0 / n_seeds;
        }
    cJSON_AddNumberToObject(out, "pairs", (double)n);
    cJSON *subsets = cJSON_AddObjectToObject(out, "subsets");
    double subset_sum = 0;
    for (uint32_t k = 0; k < t->n_subsets; k++) {
        cJSON *so = cJSON_AddObjectToObject(subsets, t->subsets[k]);
        cJSON_AddNumberToObject(so, "pairs", round(total[k]));
        cJSON_AddNumberToObject(so, "accuracy", right[k] / total[k]);
        subset_sum += right[k] / total[k];
    }
    free(right);
    free(total);
    double lo, ref_lo;
    cJSON *acc = seeds_summary(v, NULL, n_seeds, n, &lo, e), *r = NULL, *d = NULL;
    if (!acc)
        return PPR_EINTERNAL;
    ref_lo = lo;
    if (ref && !(r = seeds_summary(ref, NULL, n_seeds, n, &ref_lo, e))) {
        cJSON_Delete(acc);
        return PPR_EINTERNAL;
    }
    int at_chance = !(ref_lo > TAX_CHANCE); /* NaN (no interval) counts as chance */
    if (r && !at_chance && !(d = seeds_summary(v, ref, n_seeds, n, &lo, e))) {
        cJSON_Delete(acc);
        cJSON_Delete(r);
        return PPR_EINTERNAL;
    }
    cJSON_AddItemToObject(out, "accuracy", acc);
    cJSON_AddNumberToObject(out, "subset_mean", subset_sum / k_n);
    cJSON_AddBoolToObject(out, "reference_at_chance", at_chance);
    if (r)
        cJSON_AddItemToObject(out, "reference", r);
    if (d)
        cJSON_AddItemToObject(out, "change", d);
    else if (ref)
        cJSON_AddStringToObject(out, "not_measurable", "reference at chance");
    return PPR_OK;
}

/* ---- the stage's computation -------------------------------------------------- */

/* The category id of an evaluation pair by its subset (its user's name):
 * RewardBench's under the set's mapping; HH-RLHF harmless, which RewardBench
 * does not have, is safety data. -1: no category. */
static int subset_category(const char *source, int mapping, const char *subset)
{
    if (strcmp(source, "hh-harmless") == 0)
        return rb_category_id("safety");
    return rb_category(mapping, subset);
}

/* The evaluation pairs of one group of sets (ppr's offline sets together,
 * or one RewardBench set) per category, over one matrix. */
typedef struct {
    const char *name;    /* the RewardBench set's name; NULL for ppr's own sets */
    const char *mapping; /* the RewardBench set's mapping, or NULL */
    float *matrix;       /* [rows][dim] the group's sets' features */
    uint32_t rows, dim;
    tax_pairs cat[RB_CATEGORIES];
    size_t in_tuning[RB_CATEGORIES]; /* pairs whose prompt the fine-tuning data holds */
} tax_group;

static void group_release(tax_group *g)
{
    free(g->matrix);
    for (int c = 0; c < RB_CATEGORIES; c++)
        tax_pairs_release(&g->cat[c]);
}

/* The prompts of some training rows, by the SHA-256 of their text. */
typedef struct {
    unsigned char *h; /* [n][SHA256_LEN], sorted once prompts_sort has run */
    size_t n, cap;
} prompt_set;

static int cmp_hash(const void *a, const void *b)
{
    return memcmp(a, b, SHA256_LEN);
}

/* Add the prompts of the training rows of input `name` (a dataset). */
static int prompts_add(stage_run *r, const char *name, prompt_set *ps, ppr_err *e)
{
    void *payload;
    size_t bytes;
    prefs_view v;
    int rc = stage_input(r, name, PAYLOAD_PREFS, &payload, &bytes, e);
    if (rc)
        return rc;
    rc = prefs_view_init(&v, payload, bytes, name, e);
    for (uint32_t i = 0; rc == PPR_OK && i < v.h->n_rows; i++) {
        if (v.rows[i].split != PREFS_TRAIN)
            continue;
        if (ps->n == ps->cap) {
            size_t cap = ps->cap ? 2 * ps->cap : 1024;
            unsigned char *h = realloc(ps->h, cap * SHA256_LEN);
            if (!h) {
                rc = err_nomem(e);
                break;
            }
            ps->h = h;
            ps->cap = cap;
        }
        memcpy(ps->h + ps->n++ * SHA256_LEN, v.hashes + (size_t)v.rows[i].prompt * SHA256_LEN,
               SHA256_LEN);
    }
    free(payload);
    return rc;
}

static void prompts_sort(prompt_set *ps)
{
    if (ps->n)
        qsort(ps->h, ps->n, SHA256_LEN, cmp_hash);
}

/* Whether the SHA-256 h [SHA256_LEN] is in ps (sorted). */
static int prompts_has(const prompt_set *ps, const unsigned char *h)
{
    size_t lo = 0, hi = ps->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = memcmp(ps->h + mid * SHA256_LEN, h, SHA256_LEN);
        if (c == 0)
            return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* Add evaluation set `set` (its "name" and "source" checked by the caller;
 * inputs "<name>/dataset", "<name>/features") to g:
 * its features appended to g's matrix, its test pairs of the wanted
 * categories (want [RB_CATEGORIES]) to g's. A prompt the reference was trained
 * on (reference) is PPR_EINPUT; those the row's fine-tuning data holds
 * (tuning) are counted in g->in_tuning. */
static int group_add(stage_run *r, tax_group *g, const cJSON *set, const uint8_t *want,
                     const prompt_set *reference, const prompt_set *tuning, ppr_err *e)
{
    const char *name = cJSON_GetObjectItemCaseSensitive(set, "name")->valuestring;
    const char *source = cJSON_GetObjectItemCaseSensitive(set, "source")->valuestring;
    int mapping = g->mapping && strcmp(g->mapping, "paper-code") == 0 ? RB_PAPER_CODE
                                                                        : RB_OFFICIAL;
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%s/", name);
    dataset_in d;
    pairs_buf test = {0};
    int rc = dataset_load(r, prefix, &d, e);
    if (rc)
        return rc;
    uint32_t dim = d.f.h->dim, base = g->rows;
    if (g->matrix && dim != g->dim)
        rc = err_set(e, PPR_EINPUT, "'%s': features %u wide, the other sets' %u", name, dim,
                     g->dim);
    float *m = rc ? NULL : realloc(g->matrix, ((size_t)base + d.f.h->n_rows) * dim * sizeof *m);
    if (rc == PPR_OK && !m)
        rc = err_nomem(e);
    if (rc == PPR_OK) {
        g->matrix = m;
        g->dim = dim;
        memcpy(m + (size_t)base * dim, d.f.matrix, (size_t)d.f.h->n_rows * dim * sizeof *m);
        g->rows += d.f.h->n_rows;
        rc = dataset_pairs(&d, PREFS_TEST, 0, 0, base, &test, e);
    }
    for (size_t i = 0; i < test.n && rc == PPR_OK; i++) {
        const char *subset = prefs_user_name(&d.v, test.user[i]);
        int c = subset_category(source, mapping, subset);
        if (c < 0 || !want[c])
            continue;
        const unsigned char *h = d.v.hashes + (size_t)(test.prompt[i] - base) * SHA256_LEN;
        g->in_tuning[c] += prompts_has(tuning, h);
        if (prompts_has(reference, h)) {
            rc = err_set(e, PPR_EINPUT, "an evaluation prompt of \"%s\" (subset \"%s\", text %u) "
                         "is in the training data of the reference: its tax would be measured "
                         "on what it learned", name, subset, test.prompt[i] - base);
            break;
        }
        tax_pairs *t = &g->cat[c];
        int64_t k = tax_pairs_subset(t, subset);
        rc = k < 0 ? err_nomem(e)
                   : pairs_push(&t->pairs, test.rows + 3 * i, (uint32_t)k, test.prompt[i],
                                test.p[i], e);
    }
    pairs_release(&test);
    dataset_release(&d);
    return rc;
}

/* The row's personal accuracy from input "tuned/metrics" (stage 04's), into
 * metrics["personal"]; *size the train size of its models. */
static int personal_accuracy(stage_run *r, cJSON *metrics, int64_t *size, ppr_err *e)
{
    cJSON *t;
    int rc = stage_input_json(r, "tuned/metrics", &t, e);
    if (rc)
        return rc;
    const cJSON *summary = cJSON_GetObjectItemCaseSensitive(t, "summary");
    const cJSON *first = cJSON_IsArray(summary) ? summary->child : NULL;
    double s;
    if (!first || first->next || json_get_num(first, "size", "input \"tuned/metrics\"", &s, e))
        rc = first && first->next
                 ? err_set(e, PPR_EINPUT, "input \"tuned/metrics\" has more than one size")
                 : err_set(e, PPR_EINPUT, "input \"tuned/metrics\" has no summary");
    if (rc == PPR_OK) {
        *size = (int64_t)s;
        cJSON_AddItemToObject(metrics, "personal", cJSON_Duplicate(first, 1));
    }
    cJSON_Delete(t);
    return rc;
}

/* Score every category of g with models and refs [n_seeds] into out: the
 * reference's (is_ref), or the fine-tuned models of the row, one per seed
 * (inputs "tuned/model-<size>-s<seed>"). */
static int group_measure(tax_group *g, const uint8_t *want, method **models, method **refs,
                         int n_seeds, int is_ref, cJSON *out, ppr_err *e)
{
    int rc = PPR_OK;
    for (int c = 0; c < RB_CATEGORIES && rc == PPR_OK; c++) {
        if (!want[c])
            continue;
        tax_pairs *t = &g->cat[c];
        if (!t->pairs.n) {
            cJSON_AddStringToObject(cJSON_AddObjectToObject(out, rb_categories[c]), "unavailable",
                                    "no evaluation pair of this category among \"evalsets\"");
            continue;
        }
        t->matrix = g->matrix;
        t->dim = g->dim;
        size_t n = t->pairs.n;
        double *v = malloc((size_t)n_seeds * n * sizeof *v);
        double *ref = is_ref ? NULL : malloc((size_t)n_seeds * n * sizeof *ref);
        rc = v && (is_ref || ref) ? PPR_OK : err_nomem(e);
        for (int s = 0; s < n_seeds && rc == PPR_OK; s++) {
            rc = tax_scores(models[s], t, is_ref ? 1 : models[s]->n_users, v + (size_t)s * n, e);
            if (rc == PPR_OK && !is_ref)
                rc = tax_scores(refs[s], t, 1, ref + (size_t)s * n, e);
        }
        cJSON *o = cJSON_AddObjectToObject(out, rb_categories[c]);
        if (rc == PPR_OK)
            rc = tax_summarize(t, v, ref, n_seeds, o, e);
        if (!is_ref)
            cJSON_AddNumberToObject(o, "prompts_in_tuning_data", (double)g->in_tuning[c]);
        free(v);
        free(ref);
    }
    return rc;
}

int tax_run(stage_run *r, const char *const *categories, cJSON **metrics, ppr_err *e)
{
    const char *w = r->slice_path, *method_name, *dataset;
    const cJSON *c = r->config, *sets, *seeds_arr;
    *metrics = NULL;
    if (json_get_str(c, "method", w, &method_name, e) ||
        json_get_str(c, "dataset", w, &dataset, e) ||
        !(sets = json_get_arr(c, "sets", w, e)) || !(seeds_arr = json_get_arr(c, "seeds", w, e)))
        return PPR_EINPUT;
    uint8_t want[RB_CATEGORIES] = {0};
    for (const char *const *k = categories; *k; k++)
        want[rb_category_id(*k)] = 1;
    int n_seeds = cJSON_GetArraySize(seeds_arr), is_ref = strcmp(method_name, "pretrained") == 0;
    if (n_seeds < 1 || n_seeds > TAX_MAX_SEEDS)
        return err_set(e, PPR_EINPUT, "'%s': %d seeds; 1 to %d are allowed", w, n_seeds,
                       TAX_MAX_SEEDS);
    /* groups[0]: ppr's own sets; then one per RewardBench set */
    size_t n_groups = 1 + (size_t)cJSON_GetArraySize(sets);
    tax_group *groups = calloc(n_groups, sizeof *groups);
    method *models[TAX_MAX_SEEDS] = {0}, *refs[TAX_MAX_SEEDS] = {0};
    prompt_set trained = {0}, tuning = {0}; /* the reference's and the row's training prompts */
    int64_t size = 0;
    cJSON *m = *metrics = cJSON_CreateObject();
    int rc = groups && m ? PPR_OK : err_nomem(e);
    if (rc == PPR_OK) {
        cJSON_AddStringToObject(m, "instance", r->instance);
        cJSON_AddStringToObject(m, "dataset", dataset);
        cJSON_AddStringToObject(m, "method", method_name);
        cJSON_AddItemToObject(m, "seeds", cJSON_Duplicate(seeds_arr, 1));
        const cJSON *on = cJSON_GetObjectItemCaseSensitive(c, "pretrained_on");
        for (const cJSON *it = cJSON_IsArray(on) ? on->child : NULL; it && rc == PPR_OK;
             it = it->next) {
            char name[256];
            snprintf(name, sizeof name, "%s/dataset", it->valuestring);
            rc = prompts_add(r, name, &trained, e);
        }
        if (rc == PPR_OK && !is_ref)
            rc = prompts_add(r, "tuned/dataset", &tuning, e);
        prompts_sort(&trained);
        prompts_sort(&tuning);
    }
    if (rc == PPR_OK)
        rc = personal_accuracy(r, m, &size, e);
    size_t g_n = 1;
    for (const cJSON *s = sets->child; s && rc == PPR_OK; s = s->next) {
        const char *name, *src;
        if (json_get_str(s, "name", w, &name, e) || json_get_str(s, "source", w, &src, e)) {
            rc = PPR_EINPUT;
            break;
        }
        tax_group *g = &groups[0];
        if (strcmp(src, "rewardbench") == 0) {
            const cJSON *map = cJSON_GetObjectItemCaseSensitive(s, "mapping");
            g = &groups[g_n++];
            g->name = name;
            g->mapping = cJSON_IsString(map) ? map->valuestring : "official";
        }
        rc = group_add(r, g, s, want, &trained, &tuning, e);
    }
    uint32_t dim = rc ? 0 : groups[0].matrix ? groups[0].dim : g_n > 1 ? groups[1].dim : 0;
    for (size_t k = 1; k < g_n && rc == PPR_OK; k++)
        if (groups[k].dim != dim && groups[0].matrix)
            rc = err_set(e, PPR_EINPUT, "'%s': features %u wide, the other sets' %u",
                         groups[k].name, groups[k].dim, dim);
    if (rc == PPR_OK && !dim)
        rc = err_set(e, PPR_EINPUT, "'%s' names no evaluation set of this stage (\"sets\" is "
                     "empty): \"evalsets\" must list one", w);
    for (int s = 0; s < n_seeds && rc == PPR_OK; s++) {
        char name[128];
        unsigned long long seed = (unsigned long long)cJSON_GetArrayItem(seeds_arr, s)->valuedouble;
        snprintf(name, sizeof name, "reference/model-s%llu", seed);
        rc = method_input(&refs[s], r, name, dim, e);
        snprintf(name, sizeof name, "tuned/model-%lld-s%llu", (long long)size, seed);
        if (rc == PPR_OK && !is_ref)
            rc = method_input(&models[s], r, name, dim, e);
    }
    if (rc == PPR_OK)
        rc = group_measure(&groups[0], want, is_ref ? refs : models, refs, n_seeds, is_ref,
                           cJSON_AddObjectToObject(m, "categories"), e);
    cJSON *rb = rc == PPR_OK && g_n > 1 ? cJSON_AddObjectToObject(m, "rewardbench") : NULL;
    for (size_t k = 1; k < g_n && rc == PPR_OK; k++) {
        cJSON *o = cJSON_AddObjectToObject(rb, groups[k].name);
        cJSON_AddStringToObject(o, "mapping", groups[k].mapping);
        rc = group_measure(&groups[k], want, is_ref ? refs : models, refs, n_seeds, is_ref,
                           cJSON_AddObjectToObject(o, "categories"), e);
    }
    for (int s = 0; s < n_seeds; s++) {
        method_free(models[s]);
        method_free(refs[s]);
    }
    for (size_t k = 0; groups && k < n_groups; k++)
        group_release(&groups[k]);
    free(groups);
    free(trained.h);
    free(tuning.h);
    if (rc) {
        cJSON_Delete(*metrics);
        *metrics = NULL;
    }
    return rc;
}

/* tax_run as a metrics_fn: arg is the categories. */
static int tax_metrics(stage_run *r, const void *arg, cJSON **metrics, ppr_err *e)
{
    return tax_run(r, arg, metrics, e);
}

int tax_stage(stage_run *r, const char *const *categories, ppr_err *e)
{
    return metrics_stage_run(r, tax_metrics, categories, e);
}
