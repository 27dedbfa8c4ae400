/* inputs.c: what stages 04-07 read beyond their own set's upstream outputs
 * (the pre-trained reference, the fine-tuned models, the evaluation sets, the
 * models a new-user row adapts) and the slice values they resolve (see
 * stage_def.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/sha256.h"
#include "stage_def.h"

/* The pre-trained reference reads the general preference sets it is trained
 * on; a (dataset, "pretrained") instance reads the reference's models, and so
 * does every training instance when heads start from the reference. */
int inputs_train(const pipeline *p, pipe_node *n, ppr_err *e)
{
    const cJSON *train = cJSON_GetObjectItemCaseSensitive(p->config, "train");
    if (n->data)
        return strcmp(n->method, "pretrained") == 0 ||
                       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(train, "from_pretrained"))
                   ? node_input(p, n, "04-train-pretrained", "pretrained/", e)
                   : PPR_OK;
    const cJSON *on = cJSON_GetObjectItemCaseSensitive(train, "pretrained_on");
    int rc = PPR_OK;
    for (const cJSON *s = on->child; s && rc == PPR_OK; s = s->next) {
        char id[256], prefix[256];
        snprintf(prefix, sizeof prefix, "%s/", s->valuestring);
        snprintf(id, sizeof id, "01-fetch-%s", s->valuestring);
        rc = node_input(p, n, id, prefix, e);
        snprintf(id, sizeof id, "03-encode-%s", s->valuestring);
        if (rc == PPR_OK)
            rc = node_input(p, n, id, prefix, e);
    }
    return rc;
}

/* The personalization tax (docs/tax.md) reads the reference, and the method
 * a row shows: for "pretrained", the accuracy stage 04 measured of the
 * reference on the dataset; for a method, its fine-tuned models and their
 * metrics, and the dataset they were tuned on. Then the dataset and features
 * of each evaluation set of a source its stage reads (stage_def.sources), and
 * the datasets the reference was trained on, whose training prompts no
 * evaluation pair may share. */
static const char *tax_source(const pipeline *p, const char *set)
{
    const cJSON *fetch = cJSON_GetObjectItemCaseSensitive(p->config, "fetch");
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(fetch, "sources"), set);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(src, "source");
    return cJSON_IsString(name) ? name->valuestring : "";
}

static int tax_reads_set(const pipeline *p, const pipe_node *n, const char *set)
{
    for (const char *const *s = n->def->sources; *s; s++)
        if (strcmp(tax_source(p, set), *s) == 0)
            return 1;
    return 0;
}

int inputs_tax(const pipeline *p, pipe_node *n, ppr_err *e)
{
    char id[512], prefix[256];
    int ref = strcmp(n->method, "pretrained") == 0;
    snprintf(id, sizeof id, ref ? "04-train-%s.%s" : "04-train-%s.%s.ft", n->data, n->method);
    int rc = node_input_only(p, n, "04-train-pretrained", "reference/", "model-s*", e);
    if (rc == PPR_OK)
        rc = node_input_only(p, n, id, "tuned/", ref ? "metrics" : NULL, e);
    snprintf(id, sizeof id, "01-fetch-%s", n->data);
    if (rc == PPR_OK && !ref)
        rc = node_input_only(p, n, id, "tuned/", "dataset", e);
    const cJSON *evalsets = cJSON_GetObjectItemCaseSensitive(p->config, "evalsets");
    for (const cJSON *s = evalsets->child; s && rc == PPR_OK; s = s->next) {
        if (!tax_reads_set(p, n, s->valuestring))
            continue;
        snprintf(prefix, sizeof prefix, "%s/", s->valuestring);
        snprintf(id, sizeof id, "01-fetch-%s", s->valuestring);
        rc = node_input_only(p, n, id, prefix, "dataset", e);
        snprintf(id, sizeof id, "03-encode-%s", s->valuestring);
        if (rc == PPR_OK)
            rc = node_input_only(p, n, id, prefix, "features", e);
    }
    const cJSON *on = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(p->config, "train"), "pretrained_on");
    for (const cJSON *s = on->child; s && rc == PPR_OK; s = s->next) {
        if (json_list_has(evalsets, s->valuestring) && tax_reads_set(p, n, s->valuestring))
            continue;
        snprintf(prefix, sizeof prefix, "%s/", s->valuestring);
        snprintf(id, sizeof id, "01-fetch-%s", s->valuestring);
        rc = node_input_only(p, n, id, prefix, "dataset", e);
    }
    return rc;
}

/* The evaluation sets a tax instance reads, in "evalsets" order, each with
 * its source and, for RewardBench, the subset mapping its rows were selected
 * by: "sets" in the slice. */
int inputs_tax_slice(const pipeline *p, const pipe_node *n, cJSON *c, ppr_err *e)
{
    const cJSON *evalsets = cJSON_GetObjectItemCaseSensitive(p->config, "evalsets");
    const cJSON *sources = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(p->config, "fetch"), "sources");
    cJSON *sets = cJSON_AddArrayToObject(c, "sets");
    if (!sets)
        return err_nomem(e);
    for (const cJSON *s = evalsets->child; s; s = s->next) {
        if (!tax_reads_set(p, n, s->valuestring))
            continue;
        const cJSON *mapping = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(sources, s->valuestring), "mapping");
        cJSON *it = cJSON_CreateObject();
        if (!it || !cJSON_AddItemToArray(sets, it) ||
            !cJSON_AddStringToObject(it, "name", s->valuestring) ||
            !cJSON_AddStringToObject(it, "source", tax_source(p, s->valuestring)) ||
            (cJSON_IsString(mapping) &&
             !cJSON_AddStringToObject(it, "mapping", mapping->valuestring)))
            return err_nomem(e);
    }
    return PPR_OK;
}

/* A fine-tuned instance starts every head from the reference's. */
int inputs_fine_tuned_slice(const pipeline *p, const pipe_node *n, cJSON *c, ppr_err *e)
{
    (void)p;
    (void)n;
    return cJSON_AddTrueToObject(c, "from_pretrained") ? PPR_OK : err_nomem(e);
}

int inputs_fine_tuned(const pipeline *p, pipe_node *n, ppr_err *e)
{
    return node_input(p, n, "04-train-pretrained", "pretrained/", e);
}

/* The rows of the new-user table (docs/adapt.md) and the stage 04 method
 * each starts from; the upper bound trains in stage 07 but is the Individual
 * RM, so it too exists only where that method is trained. */
static const struct {
    const char *row, *method;
    int reads_models;
} adapt_rows[] = {{"vanilla", "vanilla", 1}, {"similar", "individual", 1},
                  {"finetune", "vanilla", 1}, {"gpo", "gpo", 1}, {"vpl", "vpl", 1},
                  {"prm", "prm", 1}, {"upper", "individual", 0}};

/* The stage 04 method of an adapt row, or NULL. */
const char *inputs_adapt_method(const char *row)
{
    for (size_t i = 0; i < sizeof adapt_rows / sizeof *adapt_rows; i++)
        if (strcmp(adapt_rows[i].row, row) == 0)
            return adapt_rows[i].method;
    return NULL;
}

/* The largest training size of n's dataset: the models a row adapts. */
static long long adapt_size(const pipeline *p, const pipe_node *n)
{
    const cJSON *sizes = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(p->config, "train"), "sizes");
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(sizes, n->data);
    long long size = 0;
    if (!list)
        list = cJSON_GetObjectItemCaseSensitive(sizes, "default");
    for (const cJSON *it = list ? list->child : NULL; it; it = it->next)
        size = it->valuedouble > (double)size ? (long long)it->valuedouble : size;
    return size;
}

/* A row names the method it starts from ("trained_from"). */
int inputs_adapt_slice(const pipeline *p, const pipe_node *n, cJSON *c, ppr_err *e)
{
    (void)p;
    return cJSON_AddStringToObject(c, "trained_from", inputs_adapt_method(n->method)) ? PPR_OK
                                                                                : err_nomem(e);
}

/* A row reads the models its method was trained to at the dataset's largest
 * size, one per seed, except the upper bound, which trains its own. */
int inputs_adapt(const pipeline *p, pipe_node *n, ppr_err *e)
{
    for (size_t i = 0; i < sizeof adapt_rows / sizeof *adapt_rows; i++) {
        if (strcmp(adapt_rows[i].row, n->method) != 0 || !adapt_rows[i].reads_models)
            continue;
        char id[512], only[64];
        snprintf(id, sizeof id, "04-train-%s.%s", n->data, adapt_rows[i].method);
        snprintf(only, sizeof only, "model-%lld-s*", adapt_size(p, n));
        return node_input_only(p, n, id, "trained/", only, e);
    }
    return PPR_OK;
}


/* The report reads the table of every characterized dataset and the metrics
 * of every training instance on a dataset (Tables 5 and 6; not the
 * reference's own, nor the fine-tuned ones, whose accuracy Table 3's rows
 * carry), tax row and new-user row, each under its node's id
 * ("04-train-sim-pllm.vanilla/metrics"). */
int inputs_report(const pipeline *p, pipe_node *n, ppr_err *e)
{
    static const struct {
        const char *stage, *output;
    } read[] = {{"02-characterize", "table2"}, {"04-train", "metrics"},
                {"05-safety-eval", "metrics"}, {"06-reasoning-eval", "metrics"},
                {"07-adapt", "metrics"}};
    int rc = PPR_OK;
    for (size_t k = 0; k < p->n_nodes && rc == PPR_OK && &p->nodes[k] != n; k++) {
        const pipe_node *u = &p->nodes[k];
        for (size_t i = 0; i < sizeof read / sizeof *read && rc == PPR_OK; i++) {
            if (strcmp(pipe_node_stage(u), read[i].stage) != 0 || u->def->suffix || !u->data)
                continue;
            char prefix[512];
            snprintf(prefix, sizeof prefix, "%s/", u->id);
            rc = node_input_only(p, n, u->id, prefix, read[i].output, e);
        }
    }
    return rc;
}

/* The report's slice records each committed file it reads by its SHA-256
 * ("files": {path: hex}), and the config's ("config_sha256": of the resolved
 * config, which the report names as its provenance). The hash leaves out
 * "run", where stages run (launch.h), which changes no result. */
int inputs_report_slice(const pipeline *p, const pipe_node *n, cJSON *c, ppr_err *e)
{
    cJSON *files = cJSON_AddObjectToObject(c, "files");
    cJSON *results = cJSON_Duplicate(p->config, 1);
    if (results)
        cJSON_DeleteItemFromObjectCaseSensitive(results, "run");
    char *text = results ? cJSON_PrintUnformatted(results) : NULL;
    cJSON_Delete(results);
    if (!files || !text) {
        free(text);
        return err_nomem(e);
    }
    unsigned char d[SHA256_LEN];
    char hex[SHA256_HEX_LEN + 1];
    sha256_buf(text, strlen(text), d);
    free(text);
    sha256_hex(d, hex);
    if (!cJSON_AddStringToObject(c, "config_sha256", hex))
        return err_nomem(e);
    for (const char *const *f = n->def->files; f && *f; f++) {
        uint64_t bytes;
        if (sha256_file(*f, d, &bytes, e))
            return err_wrap(e, "'%s' reads it", n->id);
        sha256_hex(d, hex);
        if (!cJSON_AddStringToObject(files, *f, hex))
            return err_nomem(e);
    }
    return PPR_OK;
}
