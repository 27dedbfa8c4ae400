/* pipeline.c: stage instances, config slices and the generated Ninja grid. */
#include "pipeline.h"
#include "launch.h"
#include "provenance.h"
#include "stage_def.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/lock.h"
#include "common/mirror.h"
#include "common/store.h"
#include "common/strbuf.h"

/* ---- stages and what they read ------------------------------------------ */

/* Append path to a Ninja depfile rule, escaped as GCC escapes it. */
static void dep_add(strbuf *deps, const char *path)
{
    strbuf_adds(deps, " ");
    for (const char *c = path; *c; c++) {
        if (*c == ' ' || *c == '#')
            strbuf_adds(deps, "\\");
        strbuf_add(deps, *c == '$' ? "$$" : c, *c == '$' ? 2 : 1);
    }
}

/* Look for every file of a texts source (its sources.json entry) in the mirror
 * and the download cache. *n_missing counts the files in neither; missing (n
 * bytes, when not NULL) receives the words for the first of them; deps, when
 * not NULL, each file's path where found, or both places where it was looked
 * for. */
static int texts_locate(const cJSON *entry, strbuf *deps, int *n_missing, char *missing,
                        size_t n, ppr_err *e)
{
    *n_missing = 0;
    const char *folder;
    const cJSON *files;
    if (json_get_str(entry, "mirror", SOURCES_PATH, &folder, e) ||
        !(files = json_get_arr(entry, "files", SOURCES_PATH, e)))
        return PPR_EINPUT;
    store st;
    int rc = store_init(&st, NULL, e);
    for (const cJSON *f = files->child; f && rc == PPR_OK; f = f->next) {
        const char *rel;
        mirror_file mf;
        if ((rc = json_get_str(f, "path", SOURCES_PATH, &rel, e)) ||
            (rc = mirror_locate(&mf, st.root, folder, rel, e)))
            break;
        if (!mf.path && (*n_missing)++ == 0 && missing)
            mirror_say_missing(&mf, missing, n);
        if (deps && mf.path)
            dep_add(deps, mf.path);
        if (deps && !mf.path) {
            dep_add(deps, mf.mirror);
            dep_add(deps, mf.cached);
        }
        mirror_file_release(&mf);
    }
    store_release(&st);
    return rc;
}

/* Whether missing texts fall back to composed ones: on the ci profile only. */
static int texts_may_fall_back(const pipeline *p)
{
    return strcmp(cJSON_GetObjectItemCaseSensitive(p->config, "profile")->valuestring, "ci") == 0;
}

/* Whether n's set is simulated: its entry under fetch.sources is of kind "sim". */
static int node_simulated(const pipeline *p, const pipe_node *n)
{
    const cJSON *fetch = cJSON_GetObjectItemCaseSensitive(p->config, "fetch");
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(fetch, "sources"), n->data);
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(src, "kind");
    return cJSON_IsString(kind) && strcmp(kind->valuestring, "sim") == 0;
}

/* fetch also reads the manifests/sources.json entry of the files it reads (a
 * real source's own, or the texts a simulated one labels), so that a changed
 * pin or URL reruns it. A simulated dataset's texts are resolved here, so that
 * which texts it labels is part of its slice: "texts_resolved" is the source
 * whose files it reads, or "composed"; on the ci profile, texts whose files are
 * not all in the mirror or the download cache resolve to composed ones, and
 * "texts_fallback" names the source they stand in for. Elsewhere fetch reads
 * or downloads the files, or stops. */
static int slice_texts(const pipeline *p, const pipe_node *n, cJSON *c, ppr_err *e)
{
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(c, "source");
    int sim = node_simulated(p, n);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(src, sim ? "texts" : "source");
    const char *origin = strcmp(name->valuestring, "composed") == 0 ? NULL : name->valuestring;
    const cJSON *entry = origin ? cJSON_GetObjectItemCaseSensitive(p->sources, origin) : NULL;
    if (origin && !entry)
        return err_set(e, PPR_EINPUT, "'%s': source \"%s\" (read by \"%s\") is not listed",
                       SOURCES_PATH, origin, n->data);
    const char *fallback = NULL;
    int n_missing = 0;
    if (sim && origin && texts_may_fall_back(p)) {
        if (texts_locate(entry, NULL, &n_missing, NULL, 0, e))
            return PPR_EINPUT;
        fallback = n_missing ? origin : NULL;
        origin = n_missing ? NULL : origin;
    }
    if ((sim && !cJSON_AddStringToObject(c, "texts_resolved", origin ? origin : "composed")) ||
        (fallback && !cJSON_AddStringToObject(c, "texts_fallback", fallback)) ||
        (origin && (!cJSON_AddStringToObject(c, "origin_name", origin) ||
                    !cJSON_AddItemToObject(c, "origin", cJSON_Duplicate(entry, 1)))))
        return err_nomem(e);
    return PPR_OK;
}

int pipeline_slice_deps(const pipeline *p, const pipe_node *n, const cJSON *slice,
                        char *warning, size_t wn, ppr_err *e)
{
    warning[0] = '\0';
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(slice, "config");
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(cfg, "source");
    const cJSON *texts = cJSON_GetObjectItemCaseSensitive(src, "texts");
    const cJSON *fallback = cJSON_GetObjectItemCaseSensitive(cfg, "texts_fallback");
    char path[512], missing[900] = "a file is missing";
    snprintf(path, sizeof path, "%s/%s.slice.d", STAGE_DEPS_DIR, n->id);
    strbuf deps = {0};
    int n_missing = 0, rc = PPR_OK;
    strbuf_addf(&deps, "%s:", n->slice_path);
    size_t none = deps.len;
    if (n->def->resolve == slice_texts && cJSON_IsString(texts) &&
        strcmp(texts->valuestring, "composed") != 0 && texts_may_fall_back(p))
        rc = texts_locate(cJSON_GetObjectItemCaseSensitive(p->sources, texts->valuestring),
                          &deps, &n_missing, missing, sizeof missing, e);
    char commit[41];
    if (n->def->provenance)
        provenance_git(commit, &deps);
    int any = deps.len > none;
    strbuf_adds(&deps, "\n");
    if (rc == PPR_OK && deps.failed)
        rc = err_nomem(e);
    else if (rc == PPR_OK && any)
        rc = dir_make(STAGE_DEPS_DIR, e) ? PPR_EINPUT
                                          : file_write_atomic(path, deps.p, deps.len, e);
    else if (rc == PPR_OK && unlink(path) != 0 && errno != ENOENT)
        rc = err_set(e, PPR_EINPUT, "cannot remove '%s': %s", path, strerror(errno));
    if (rc == PPR_OK && cJSON_IsString(fallback))
        snprintf(warning, wn,
                 "\"%s\" labels composed texts in place of \"%s\": %s (set PPR_MIRROR to a "
                 "mirror that holds it; composed texts do not reproduce Table 2)",
                 n->data, fallback->valuestring, missing);
    strbuf_release(&deps);
    return rc;
}

/* The encoder a config selects. */
static const char *encoder_name(const cJSON *config)
{
    const cJSON *enc = cJSON_GetObjectItemCaseSensitive(config, "encode");
    return cJSON_GetObjectItemCaseSensitive(enc, "encoder")->valuestring;
}

/* The GloVe encoder reads the embeddings fetched as source "glove". */
static int encode_extras(const pipeline *p, pipe_node *n, ppr_err *e)
{
    return strcmp(encoder_name(p->config), "glove") == 0
               ? node_input(p, n, GLOVE_NODE, "glove/", e)
               : PPR_OK;
}

/* A NULL-ended list of names, and a stage's slice keys ended by a NULL path. */
#define NAMES(...) ((const char *const[]){__VA_ARGS__, NULL})
#define KEYS(...) ((const slice_key[]){__VA_ARGS__, {0}})

/* What every training instance reads: its method, the seeds, the
 * validation part, the test pairs, the head's settings, the threads and the
 * method's own section ("train.prm"); and every tax row: its method and
 * dataset, the seeds, the threads and the reference's training sets. */
#define TRAIN_KEYS                                                                           \
    {"method", "{method}", KEY_TEXT}, {"seeds", "train.seeds", 0},                            \
        {"validation_fraction", "train.validation_fraction", 0},                              \
        {"eval_size", "train.eval_size", 0}, {"head", "train.head", 0},                       \
        {"threads", "train.threads", 0}, {"{method}", "train.{method}", KEY_OPTIONAL}
#define TAX_KEYS                                                                             \
    {"method", "{method}", KEY_TEXT}, {"dataset", "{data}", KEY_TEXT},                        \
        {"seeds", "train.seeds", 0}, {"threads", "train.threads", 0},                         \
        {"pretrained_on", "train.pretrained_on", 0}

/* The stages, upstream before downstream. A stage's keys say which config
 * values each instance reads: only those rerun it when they change. */
static const stage_def stages[] = {
    /* fetch: its source entry, and the seed when it simulates; then which
     * texts it labels and their sources.json entry (slice_texts) */
    {.name = "01-fetch", .binary = "build/bin/ppr-fetch",
     .lists = ON_DATASETS | ON_EVALSETS | ON_AUX,
     .keys = KEYS({"source", "fetch.sources.{data}", 0}, {"seed", "fetch.seed", IF_SIM}),
     .resolve = slice_texts},
    {.name = "02-characterize", .binary = "build/bin/ppr-characterize", .lists = ON_DATASETS,
     .upstream = NAMES("01-fetch"),
     .keys = KEYS({NULL, "characterize", 0}),
     .reads = NAMES("dataset")},
    /* encode: the selected encoder's settings (not the others'), and whether
     * Conditional RM runs, which needs its "User ID" prompts encoded too */
    {.name = "03-encode", .binary = "build/bin/ppr-encode", .lists = ON_DATASETS | ON_EVALSETS,
     .upstream = NAMES("01-fetch"),
     .keys = KEYS({"encoder", "encode.encoder", 0},
                  {"{encode.encoder}", "encode.{encode.encoder}", 0},
                  {"threads", "encode.threads", 0},
                  {"batch", "encode.batch", 0},
                  {"conditional", "methods", KEY_LISTS}),
     .extras = encode_extras,
     .reads = NAMES("dataset", "embeddings")},
    /* train: its method, the dataset's sizes (or the default ones), the seeds,
     * the epoch rule, the head's settings and the method's own section
     * ("train.prm") */
    {.name = "04-train", .binary = "build/bin/ppr-train", .lists = ON_PRETRAINED | ON_METHODS,
     .upstream = NAMES("01-fetch", "02-characterize", "03-encode"),
     .keys = KEYS(TRAIN_KEYS, {"epochs", "train.epochs", 0},
                  {"sizes", "train.sizes.{data}|train.sizes.default", IF_SET},
                  {"pretrained_on", "train.pretrained_on", IF_NO_SET},
                  {"from_pretrained", "train.from_pretrained", IF_TUNED}),
     .extras = inputs_train,
     .reads = NAMES("dataset", "features", "table2", "model-s*")},
    /* the tax experiment's models (docs/tax.md): each of "tax.methods" on each
     * of "tax.datasets", every head started from the reference's, at
     * "tax.sizes" and "tax.epochs", with "tax.optimizer"'s settings over
     * the head's and the method's; stage 04's program, as instances of
     * their own ("sim-pllm.vanilla.ft") */
    {.name = "04-train", .binary = "build/bin/ppr-train", .lists = ON_FINE_TUNED, .suffix = ".ft",
     .upstream = NAMES("01-fetch", "02-characterize", "03-encode"),
     .keys = KEYS(TRAIN_KEYS, {"epochs", "tax.epochs", 0},
                  {"sizes", "tax.sizes.{data}|tax.sizes.default", 0},
                  {"fine_tune", "tax.optimizer", KEY_OPTIONAL}),
     .resolve = inputs_fine_tuned_slice,
     .extras = inputs_fine_tuned,
     .reads = NAMES("dataset", "features", "table2", "model-s*")},
    /* the tax: one row of Table 3 (a dataset and a method) against the
     * reference, on the safety sets (05) or the reasoning, chat-hard and chat
     * sets (06) */
    {.name = "05-safety-eval", .binary = "build/bin/ppr-safety-eval", .lists = ON_TAX_ROWS,
     .sources = NAMES("xstest", "hh-harmless", "rewardbench"),
     .keys = KEYS(TAX_KEYS),
     .resolve = inputs_tax_slice,
     .extras = inputs_tax,
     .reads = NAMES("dataset", "features", "model-*", "metrics")},
    {.name = "06-reasoning-eval", .binary = "build/bin/ppr-reasoning-eval",
     .lists = ON_TAX_ROWS,
     .sources = NAMES("hep", "llmbar", "rewardbench"),
     .keys = KEYS(TAX_KEYS),
     .resolve = inputs_tax_slice,
     .extras = inputs_tax,
     .reads = NAMES("dataset", "features", "model-*", "metrics")},
    /* new users: one row of Table 4 on a dataset's new users (docs/adapt.md):
     * the k list, the draws, the seeds, the dataset's training sizes (whose
     * largest gives the models it adapts), the head (the upper bound's and the
     * fine-tuning's architecture and optimizer), the validation part (the
     * upper bound's epoch choice) and the row's fit settings */
    {.name = "07-adapt", .binary = "build/bin/ppr-adapt", .lists = ON_ADAPT_ROWS,
     .upstream = NAMES("01-fetch", "03-encode"),
     .keys = KEYS({"method", "{method}", KEY_TEXT}, {"dataset", "{data}", KEY_TEXT},
                  {"seeds", "train.seeds", 0}, {"threads", "train.threads", 0},
                  {"head", "train.head", 0}, {"k", "adapt.k", 0}, {"draws", "adapt.draws", 0},
                  {"validation_fraction", "train.validation_fraction", 0},
                  {"sizes", "train.sizes.{data}|train.sizes.default", 0},
                  {"fit", "adapt.{method}", KEY_OPTIONAL}),
     .resolve = inputs_adapt_slice,
     .extras = inputs_adapt,
     .reads = NAMES("dataset", "features", "model-*")},
    /* the report (docs/report.md): every table and metrics artifact beside
     * the published numbers (manifests/paper.json), rendered under figures/;
     * the profile and the seeds, for its provenance */
    {.name = "08-report", .binary = "build/bin/ppr-report", .lists = ON_REPORT,
     .keys = KEYS({"profile", "profile", 0}, {"seeds", "train.seeds", 0}),
     .resolve = inputs_report_slice,
     .extras = inputs_report,
     .files = NAMES(PAPER_PATH),
     .provenance = 1,
     .writes = REPORT_MAIN,
     .reads = NAMES("metrics", "table2")},
};

/* ---- config slices ------------------------------------------------------ */

static const cJSON *slice_lookup(const pipeline *p, const pipe_node *n, const char *path,
                                 size_t len, strbuf *where);

/* What the placeholder component of k bytes at c ("{data}") stands for in n's
 * slice, or NULL. */
static const char *slice_placeholder(const pipeline *p, const pipe_node *n, const char *c,
                                     size_t k)
{
    if (k == 6 && strncmp(c, "{data}", k) == 0)
        return n->data;
    if (k == 8 && strncmp(c, "{method}", k) == 0)
        return n->method;
    strbuf inner = {0};
    const cJSON *s = slice_lookup(p, n, c + 1, k - 2, &inner);
    strbuf_release(&inner);
    return cJSON_IsString(s) ? s->valuestring : NULL;
}

/* The config value at the path (slice_key) of len bytes for n, or NULL; where
 * receives the path expanded ("encode.hash"). */
static const cJSON *slice_lookup(const pipeline *p, const pipe_node *n, const char *path,
                                 size_t len, strbuf *where)
{
    const cJSON *v = p->config;
    for (size_t i = 0, k; i < len; i += k + 1) {
        const char *c = path + i;
        const char *stop = memchr(c, *c == '{' ? '}' : '.', len - i);
        k = *c == '{' ? (size_t)(stop - c) + 1 : stop ? (size_t)(stop - c) : len - i;
        const char *name = *c == '{' ? slice_placeholder(p, n, c, k) : NULL;
        size_t mark = where->len + (where->len > 0);
        strbuf_adds(where, where->len ? "." : "");
        strbuf_add(where, name ? name : c, name ? strlen(name) : k);
        /* a placeholder that stands for nothing names no value */
        v = where->failed || (*c == '{' && !name)
                ? NULL
                : cJSON_GetObjectItemCaseSensitive(v, where->p + mark);
    }
    return v;
}

/* Whether n reads a key of these flags (enum slice_flag). */
static int key_applies(const pipeline *p, const pipe_node *n, unsigned flags)
{
    return !((flags & IF_SET) && !n->data) && !((flags & IF_NO_SET) && n->data) &&
           !((flags & IF_SIM) && !node_simulated(p, n)) &&
           !((flags & IF_TUNED) && (!n->method || strcmp(n->method, "pretrained") == 0));
}

/* Add the value of key k, as n reads it, to the slice config *c. */
static int slice_add(const pipeline *p, const pipe_node *n, const slice_key *k, cJSON **c,
                     ppr_err *e)
{
    strbuf where = {0}, key = {0};
    const cJSON *v = NULL;
    for (const char *alt = k->path, *bar; !v && alt; alt = bar ? bar + 1 : NULL) {
        bar = strchr(alt, '|');
        strbuf_release(&where);
        v = slice_lookup(p, n, alt, bar ? (size_t)(bar - alt) : strlen(alt), &where);
    }
    if (k->key)
        slice_lookup(p, n, k->key, strlen(k->key), &key);
    int text = k->flags & KEY_TEXT, rc = PPR_OK;
    if (where.failed || key.failed) {
        rc = err_nomem(e);
    } else if (!v && !text && !(k->flags & KEY_OPTIONAL)) {
        rc = err_set(e, PPR_EINPUT, "'%s': key \"%s\" is missing; '%s' reads it", CONFIG_PATH,
                     where.p, n->id);
    } else if (v || text) {
        cJSON *item = text                  ? cJSON_CreateString(where.p)
                      : k->flags & KEY_LISTS ? cJSON_CreateBool(json_list_has(v, key.p))
                                             : cJSON_Duplicate(v, 1);
        if (!item || (k->key && !cJSON_AddItemToObject(*c, key.p, item))) {
            cJSON_Delete(item);
            rc = err_nomem(e);
        } else if (!k->key) {
            cJSON_Delete(*c);
            *c = item;
        }
    }
    strbuf_release(&where);
    strbuf_release(&key);
    return rc;
}

/* n's slice config: the keys of its stage that it reads, then what its stage
 * resolves. */
static int slice_config(const pipeline *p, const pipe_node *n, cJSON **cfg, ppr_err *e)
{
    cJSON *c = cJSON_CreateObject();
    int rc = c ? PPR_OK : err_nomem(e);
    for (const slice_key *k = n->def->keys; k->path && rc == PPR_OK; k++)
        if (key_applies(p, n, k->flags))
            rc = slice_add(p, n, k, &c, e);
    if (rc == PPR_OK && n->def->resolve)
        rc = n->def->resolve(p, n, c, e);
    if (rc) {
        cJSON_Delete(c);
        return rc;
    }
    *cfg = c;
    return PPR_OK;
}

/* ---- the graph ---------------------------------------------------------- */

/* Whether an output called name matches pattern ("model-s*": any name that
 * starts so). */
static int name_matches(const char *pattern, const char *name)
{
    size_t len = strlen(pattern);
    return pattern[len - 1] == '*' ? strncmp(name, pattern, len - 1) == 0
                                   : strcmp(name, pattern) == 0;
}

/* Whether a node of def reads an upstream output called name. */
static int def_reads(const stage_def *def, const char *name)
{
    for (const char *const *r = def->reads; r && *r; r++)
        if (name_matches(*r, name))
            return 1;
    return 0;
}

const char *pipe_node_stage(const pipe_node *n)
{
    return n->def->name;
}

const char *pipe_node_binary(const pipe_node *n)
{
    return n->def->binary;
}

static char *str_printf(const char *fmt, const char *a, const char *b)
{
    size_t n = strlen(fmt) + strlen(a) + strlen(b) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, fmt, a, b);
    return s;
}

/* Add the node of stage def on data (and method, for a training instance),
 * refusing an instance listed twice, with the nodes it reads. */
static int node_add(pipeline *p, const stage_def *def, const char *data, const char *method,
                    ppr_err *e)
{
    pipe_node *n = &p->nodes[p->n_nodes];
    n->def = def;
    if (data && method)
        n->instance = str_printf(def->suffix ? "%s.%s.ft" : "%s.%s", data, method);
    else
        n->instance = strdup(data ? data : method);
    if (!n->instance)
        return err_nomem(e);
    for (size_t k = 0; k < p->n_nodes; k++)
        if (p->nodes[k].def == def && strcmp(p->nodes[k].instance, n->instance) == 0) {
            int rc = err_set(e, PPR_EINPUT, "'%s': \"%s\" is listed in both \"datasets\" and "
                             "\"evalsets\"; a set is trained on or held out, not both",
                             CONFIG_PATH, n->instance);
            free(n->instance);
            n->instance = NULL;
            return rc;
        }
    p->n_nodes++;
    if ((data && !(n->data = strdup(data))) || (method && !(n->method = strdup(method))) ||
        !(n->id = str_printf("%s-%s", def->name, n->instance)) ||
        !(n->slice_path = str_printf("%s/%s.json", STAGE_SLICE_DIR, n->id)) ||
        !(n->lock_path = str_printf("%s/%s.json", LOCK_DIR, n->id)))
        return err_nomem(e);
    int rc = PPR_OK;
    for (const char *const *s = def->upstream; data && s && *s && rc == PPR_OK; s++) {
        char *id = str_printf("%s-%s", *s, data);
        rc = id ? node_input(p, n, id, "", e) : err_nomem(e);
        free(id);
    }
    return rc == PPR_OK && def->extras ? def->extras(p, n, e) : rc;
}

int pipeline_load(pipeline *p, ppr_err *e)
{
    memset(p, 0, sizeof *p);
    if (config_load(CONFIG_PATH, CONFIG_SCHEMA_PATH, &p->config, e) ||
        pipeline_check_refs(p->config, e) || !(p->sources = json_parse_file(SOURCES_PATH, e))) {
        pipeline_release(p);
        return PPR_EINPUT;
    }
    cJSON *aux = cJSON_CreateArray();
    if (!aux || (strcmp(encoder_name(p->config), "glove") == 0 &&
                 !cJSON_AddItemToArray(aux, cJSON_CreateString("glove")))) {
        cJSON_Delete(aux);
        pipeline_release(p);
        return err_nomem(e);
    }
    const cJSON *lists[3] = {cJSON_GetObjectItemCaseSensitive(p->config, "datasets"),
                             cJSON_GetObjectItemCaseSensitive(p->config, "evalsets"), aux};
    const cJSON *methods = cJSON_GetObjectItemCaseSensitive(p->config, "methods");
    const cJSON *tax = cJSON_GetObjectItemCaseSensitive(p->config, "tax");
    const cJSON *tax_sets = cJSON_GetObjectItemCaseSensitive(tax, "datasets");
    const cJSON *tax_methods = cJSON_GetObjectItemCaseSensitive(tax, "methods");
    const cJSON *adapt = cJSON_GetObjectItemCaseSensitive(p->config, "adapt");
    const cJSON *adapt_sets = cJSON_GetObjectItemCaseSensitive(adapt, "datasets");
    const cJSON *adapt_methods = cJSON_GetObjectItemCaseSensitive(adapt, "methods");
    size_t n_sets = 0, n_methods = (size_t)cJSON_GetArraySize(methods);
    for (int l = 0; l < 3; l++)
        n_sets += (size_t)cJSON_GetArraySize(lists[l]);
    size_t n_stages = sizeof stages / sizeof *stages;
    size_t per_set = n_methods + 1 + (size_t)cJSON_GetArraySize(adapt_methods);
    int rc = (p->nodes = calloc(n_sets * per_set * n_stages + 3, sizeof *p->nodes))
                 ? PPR_OK
                 : err_nomem(e);
    for (size_t s = 0; s < n_stages && rc == PPR_OK; s++) {
        int on = stages[s].lists;
        if (on & ON_REPORT)
            rc = node_add(p, &stages[s], NULL, "figures", e);
        for (const cJSON *m = methods->child; (on & ON_PRETRAINED) && m && rc == PPR_OK;
             m = m->next)
            if (strcmp(m->valuestring, "pretrained") == 0)
                rc = node_add(p, &stages[s], NULL, "pretrained", e);
        /* the tax's rows: of its datasets and methods, those that are
         * trained, when the reference is */
        int tax = (on & (ON_FINE_TUNED | ON_TAX_ROWS)) && json_list_has(methods, "pretrained");
        for (const cJSON *d = tax ? tax_sets->child : NULL; d && rc == PPR_OK; d = d->next) {
            if (!json_list_has(lists[0], d->valuestring))
                continue;
            if (on & ON_TAX_ROWS)
                rc = node_add(p, &stages[s], d->valuestring, "pretrained", e);
            for (const cJSON *m = tax_methods->child; m && rc == PPR_OK; m = m->next)
                if (json_list_has(methods, m->valuestring))
                    rc = node_add(p, &stages[s], d->valuestring, m->valuestring, e);
        }
        /* the new-user table's rows: of its datasets and rows, those whose
         * method is trained */
        for (const cJSON *d = (on & ON_ADAPT_ROWS) ? adapt_sets->child : NULL; d && rc == PPR_OK;
             d = d->next) {
            if (!json_list_has(lists[0], d->valuestring))
                continue;
            for (const cJSON *m = adapt_methods->child; m && rc == PPR_OK; m = m->next)
                if (json_list_has(methods, inputs_adapt_method(m->valuestring)))
                    rc = node_add(p, &stages[s], d->valuestring, m->valuestring, e);
        }
        for (int l = 0; l < 3 && rc == PPR_OK; l++) {
            if (!(on & (1 << l)) && !(l == 0 && (on & ON_METHODS)))
                continue;
            for (const cJSON *d = lists[l]->child; d && rc == PPR_OK; d = d->next) {
                if (!(on & ON_METHODS)) {
                    rc = node_add(p, &stages[s], d->valuestring, NULL, e);
                    continue;
                }
                for (const cJSON *m = methods->child; m && rc == PPR_OK; m = m->next)
                    rc = node_add(p, &stages[s], d->valuestring, m->valuestring, e);
            }
        }
    }
    cJSON_Delete(aux);
    if (rc) {
        pipeline_release(p);
        return rc;
    }
    /* Fail early, naming it, on a key a slice reads that the config lacks. */
    for (size_t k = 0; k < p->n_nodes; k++) {
        cJSON *cfg;
        if (slice_config(p, &p->nodes[k], &cfg, e)) {
            pipeline_release(p);
            return PPR_EINPUT;
        }
        cJSON_Delete(cfg);
    }
    return PPR_OK;
}

void pipeline_release(pipeline *p)
{
    if (!p)
        return;
    for (size_t k = 0; k < p->n_nodes; k++) {
        free(p->nodes[k].instance);
        free(p->nodes[k].data);
        free(p->nodes[k].method);
        for (size_t i = 0; i < p->nodes[k].n_inputs; i++) {
            free(p->nodes[k].inputs[i].prefix);
            free(p->nodes[k].inputs[i].only);
        }
        free(p->nodes[k].inputs);
        free(p->nodes[k].id);
        free(p->nodes[k].slice_path);
        free(p->nodes[k].lock_path);
    }
    free(p->nodes);
    cJSON_Delete(p->config);
    cJSON_Delete(p->sources);
    memset(p, 0, sizeof *p);
}

/* Append the outputs of the lock of node u that n reads to inputs, named
 * prefix + name, each with the node it comes from. The lock must be valid
 * (lock.h). */
static int add_outputs(cJSON *inputs, const store *st, const pipe_input *in,
                       const pipe_node *n, ppr_err *e)
{
    const pipe_node *u = in->node;
    const char *prefix = in->prefix;
    lock l;
    if (!file_exists(u->lock_path))
        return err_set(e, PPR_EINPUT, "upstream lock '%s' of '%s' is missing (run ninja)",
                       u->lock_path, n->id);
    if (lock_load_checked(&l, st, u->lock_path, e))
        return err_wrap(e, "upstream of '%s'", n->id);
    int rc = PPR_OK;
    for (size_t i = 0; i < l.n_outputs && rc == PPR_OK; i++) {
        if (!def_reads(n->def, l.outputs[i].name) ||
            (in->only && !name_matches(in->only, l.outputs[i].name)))
            continue;
        char name[256];
        snprintf(name, sizeof name, "%s%s", prefix, l.outputs[i].name);
        cJSON *it = cJSON_CreateObject();
        if (!it || !cJSON_AddStringToObject(it, "kind", "object") ||
            !cJSON_AddStringToObject(it, "name", name) ||
            !cJSON_AddStringToObject(it, "sha256", l.outputs[i].sha256) ||
            !cJSON_AddNumberToObject(it, "bytes", (double)l.outputs[i].bytes) ||
            !cJSON_AddStringToObject(it, "from", u->id)) {
            cJSON_Delete(it);
            rc = err_nomem(e);
        } else {
            cJSON_AddItemToArray(inputs, it);
        }
    }
    lock_release(&l);
    return rc;
}

int pipeline_slice(const pipeline *p, const pipe_node *n, cJSON **slice, ppr_err *e)
{
    *slice = NULL;
    cJSON *cfg;
    if (slice_config(p, n, &cfg, e))
        return PPR_EINPUT;
    cJSON *s = cJSON_CreateObject();
    cJSON *inputs = cJSON_CreateArray();
    if (!s || !inputs || !cJSON_AddStringToObject(s, "stage", n->def->name) ||
        !cJSON_AddStringToObject(s, "instance", n->instance)) {
        cJSON_Delete(cfg);
        cJSON_Delete(inputs);
        cJSON_Delete(s);
        return err_nomem(e);
    }
    cJSON_AddItemToObject(s, "config", cfg);
    cJSON_AddItemToObject(s, "inputs", inputs);
    store st;
    int rc = n->def->provenance ? provenance_add(p, n, cfg, e) : PPR_OK;
    if (rc == PPR_OK)
        rc = store_init(&st, NULL, e);
    if (rc == PPR_OK) {
        for (size_t i = 0; i < n->n_inputs && rc == PPR_OK; i++)
            rc = add_outputs(inputs, &st, &n->inputs[i], n, e);
        store_release(&st);
    }
    if (rc) {
        cJSON_Delete(s);
        return rc;
    }
    *slice = s;
    return PPR_OK;
}

int pipeline_write_grid(const pipeline *p, const char *path, int *changed, ppr_err *e)
{
    strbuf t = {0};
    strbuf_addf(&t,
                "# %s: generated by `ppr grid` from %s; do not edit.\n"
                "# One slice edge and one stage edge per stage instance.\n",
                GRID_PATH, CONFIG_PATH);
    for (size_t k = 0; k < p->n_nodes; k++) {
        const pipe_node *n = &p->nodes[k];
        strbuf_addf(&t, "\nbuild %s: slice %s %s %s", n->slice_path, CONFIG_PATH,
                    CONFIG_SCHEMA_PATH, SOURCES_PATH);
        for (const char *const *f = n->def->files; f && *f; f++)
            strbuf_addf(&t, " %s", *f);
        for (size_t i = 0; i < n->n_inputs; i++)
            strbuf_addf(&t, " %s", n->inputs[i].node->lock_path);
        strbuf_addf(&t, " | build/bin/ppr\n  node = %s\n", n->id);
        strbuf_addf(&t, "build %s%s%s: stage %s | %s || %s\n  bin = %s\n  node = %s\n",
                    n->lock_path, n->def->writes ? " | " : "",
                    n->def->writes ? n->def->writes : "", n->slice_path, n->def->binary,
                    LAUNCH_BIN, n->def->binary, n->id);
    }
    strbuf_adds(&t, "\nbuild pipeline: phony");
    for (size_t k = 0; k < p->n_nodes; k++)
        strbuf_addf(&t, " %s", p->nodes[k].lock_path);
    strbuf_adds(&t, "\n");
    if (t.failed) {
        strbuf_release(&t);
        return err_nomem(e);
    }
    int rc = file_write_if_changed(path, t.p, t.len, changed, e);
    strbuf_release(&t);
    return rc;
}
