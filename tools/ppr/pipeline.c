/* pipeline.c: stage instances, config slices and the generated Ninja grid. */
#include "pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/lock.h"
#include "common/strbuf.h"

typedef int (*slice_fn)(const pipeline *p, const char *instance, cJSON **cfg,
                        ppr_err *e);

typedef const char *(*extra_fn)(const pipeline *p);

enum node_list {
    ON_DATASETS = 1, /* config "datasets" */
    ON_EVALSETS = 2, /* config "evalsets" */
    ON_AUX = 4,      /* sources fetched only for another stage (the GloVe embeddings) */
};

struct stage_def {
    const char *name;
    const char *binary;
    const char *upstream[4]; /* stages of the same instance whose outputs it reads */
    int lists;               /* which instances it runs on: a mask of enum node_list */
    slice_fn slice;
    extra_fn extra; /* a further instance of 01-fetch whose outputs it reads, or NULL */
};

/* fetch reads its source entry (and the seed, when it simulates) and the
 * manifests/sources.json entry of the files it reads (a real source's own, or
 * the texts a simulated one labels), so that a changed pin or URL reruns it. */
static int slice_fetch(const pipeline *p, const char *instance, cJSON **cfg, ppr_err *e)
{
    const cJSON *fetch = cJSON_GetObjectItemCaseSensitive(p->config, "fetch");
    const cJSON *sources = cJSON_GetObjectItemCaseSensitive(fetch, "sources");
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(sources, instance);
    if (!src)
        return err_set(e, PPR_EINPUT,
                       "'%s': dataset \"%s\" has no entry under \"fetch.sources\"",
                       CONFIG_PATH, instance);
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(src, "kind");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(
        src, strcmp(kind->valuestring, "sim") == 0 ? "texts" : "source");
    const char *origin = strcmp(name->valuestring, "composed") == 0 ? NULL : name->valuestring;
    const cJSON *entry = origin ? cJSON_GetObjectItemCaseSensitive(p->sources, origin) : NULL;
    if (origin && !entry)
        return err_set(e, PPR_EINPUT, "'%s': source \"%s\" (read by \"%s\") is not listed",
                       SOURCES_PATH, origin, instance);
    int sim = strcmp(kind->valuestring, "sim") == 0;
    cJSON *c = cJSON_CreateObject();
    if (!c || (sim && !cJSON_AddItemToObject(c, "seed", cJSON_Duplicate(
                          cJSON_GetObjectItemCaseSensitive(fetch, "seed"), 1))) ||
        !cJSON_AddItemToObject(c, "source", cJSON_Duplicate(src, 1)) ||
        (origin && (!cJSON_AddStringToObject(c, "origin_name", origin) ||
                    !cJSON_AddItemToObject(c, "origin", cJSON_Duplicate(entry, 1))))) {
        cJSON_Delete(c);
        return err_nomem(e);
    }
    *cfg = c;
    return PPR_OK;
}

static int slice_section(const pipeline *p, const char *section, cJSON **cfg, ppr_err *e)
{
    *cfg = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(p->config, section), 1);
    return *cfg ? PPR_OK : err_nomem(e);
}

static int slice_characterize(const pipeline *p, const char *instance, cJSON **cfg,
                              ppr_err *e)
{
    (void)instance;
    return slice_section(p, "characterize", cfg, e);
}

/* The encoder this config selects. */
static const char *encoder_name(const pipeline *p)
{
    const cJSON *enc = cJSON_GetObjectItemCaseSensitive(p->config, "encode");
    return cJSON_GetObjectItemCaseSensitive(enc, "encoder")->valuestring;
}

/* encode reads the selected encoder's settings (not the others'), and whether
 * Conditional RM runs, which needs its "User ID" prompts encoded too. */
static int slice_encode(const pipeline *p, const char *instance, cJSON **cfg, ppr_err *e)
{
    (void)instance;
    const cJSON *enc = cJSON_GetObjectItemCaseSensitive(p->config, "encode");
    const char *name = encoder_name(p);
    if (!cJSON_GetObjectItemCaseSensitive(enc, name))
        return err_set(e, PPR_EINPUT, "'%s': encoder \"%s\" needs a section \"encode.%s\"",
                       CONFIG_PATH, name, name);
    int conditional = 0;
    const cJSON *methods = cJSON_GetObjectItemCaseSensitive(p->config, "methods");
    for (const cJSON *m = methods->child; m; m = m->next)
        conditional |= strcmp(m->valuestring, "conditional") == 0;
    cJSON *c = cJSON_CreateObject();
    if (!c || !cJSON_AddStringToObject(c, "encoder", name) ||
        !cJSON_AddItemToObject(c, name, cJSON_Duplicate(
                                   cJSON_GetObjectItemCaseSensitive(enc, name), 1)) ||
        !cJSON_AddItemToObject(c, "threads", cJSON_Duplicate(
                                   cJSON_GetObjectItemCaseSensitive(enc, "threads"), 1)) ||
        !cJSON_AddItemToObject(c, "batch", cJSON_Duplicate(
                                   cJSON_GetObjectItemCaseSensitive(enc, "batch"), 1)) ||
        !cJSON_AddBoolToObject(c, "conditional", conditional)) {
        cJSON_Delete(c);
        return err_nomem(e);
    }
    *cfg = c;
    return PPR_OK;
}

/* The GloVe encoder reads the embeddings fetched as source "glove". */
static const char *encode_extra(const pipeline *p)
{
    return strcmp(encoder_name(p), "glove") == 0 ? GLOVE_NODE : NULL;
}

static const stage_def stages[] = {
    {"01-fetch", "build/bin/ppr-fetch", {NULL}, ON_DATASETS | ON_EVALSETS | ON_AUX, slice_fetch,
     NULL},
    {"02-characterize", "build/bin/ppr-characterize", {"01-fetch", NULL}, ON_DATASETS,
     slice_characterize, NULL},
    {"03-encode", "build/bin/ppr-encode", {"01-fetch", NULL}, ON_DATASETS | ON_EVALSETS,
     slice_encode, encode_extra},
};

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

/* Add the node of stage def on instance, refusing an instance listed twice. */
static int node_add(pipeline *p, const stage_def *def, const char *instance, ppr_err *e)
{
    for (size_t k = 0; k < p->n_nodes; k++)
        if (p->nodes[k].def == def && strcmp(p->nodes[k].instance, instance) == 0)
            return err_set(e, PPR_EINPUT, "'%s': \"%s\" is listed twice in datasets and "
                           "evalsets", CONFIG_PATH, instance);
    pipe_node *n = &p->nodes[p->n_nodes++];
    n->def = def;
    n->instance = strdup(instance);
    n->id = str_printf("%s-%s", def->name, instance);
    if (!n->instance || !n->id ||
        !(n->slice_path = str_printf("%s/%s.json", SLICE_DIR, n->id)) ||
        !(n->lock_path = str_printf("%s/%s.json", LOCK_DIR, n->id)))
        return err_nomem(e);
    return PPR_OK;
}

int pipeline_load(pipeline *p, ppr_err *e)
{
    memset(p, 0, sizeof *p);
    if (config_load(CONFIG_PATH, CONFIG_SCHEMA_PATH, &p->config, e) ||
        !(p->sources = json_parse_file(SOURCES_PATH, e))) {
        pipeline_release(p);
        return PPR_EINPUT;
    }
    cJSON *aux = cJSON_CreateArray();
    if (!aux || (strcmp(encoder_name(p), "glove") == 0 &&
                 !cJSON_AddItemToArray(aux, cJSON_CreateString("glove")))) {
        cJSON_Delete(aux);
        pipeline_release(p);
        return err_nomem(e);
    }
    const cJSON *lists[3] = {cJSON_GetObjectItemCaseSensitive(p->config, "datasets"),
                             cJSON_GetObjectItemCaseSensitive(p->config, "evalsets"), aux};
    size_t n_sets = 0;
    for (int l = 0; l < 3; l++)
        n_sets += (size_t)cJSON_GetArraySize(lists[l]);
    size_t n_stages = sizeof stages / sizeof *stages;
    int rc = (p->nodes = calloc(n_sets * n_stages + 1, sizeof *p->nodes)) ? PPR_OK
                                                                          : err_nomem(e);
    for (size_t s = 0; s < n_stages && rc == PPR_OK; s++)
        for (int l = 0; l < 3 && rc == PPR_OK; l++) {
            if (!(stages[s].lists & (1 << l)))
                continue;
            for (const cJSON *d = lists[l]->child; d && rc == PPR_OK; d = d->next)
                rc = node_add(p, &stages[s], d->valuestring, e);
        }
    cJSON_Delete(aux);
    if (rc) {
        pipeline_release(p);
        return rc;
    }
    /* Fail early on a dataset with no source, naming it. */
    for (size_t k = 0; k < p->n_nodes; k++) {
        cJSON *cfg;
        if (p->nodes[k].def->slice(p, p->nodes[k].instance, &cfg, e)) {
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
        free(p->nodes[k].id);
        free(p->nodes[k].slice_path);
        free(p->nodes[k].lock_path);
    }
    free(p->nodes);
    cJSON_Delete(p->config);
    cJSON_Delete(p->sources);
    memset(p, 0, sizeof *p);
}

const pipe_node *pipeline_find(const pipeline *p, const char *id)
{
    for (size_t k = 0; k < p->n_nodes; k++)
        if (strcmp(p->nodes[k].id, id) == 0)
            return &p->nodes[k];
    return NULL;
}

static const pipe_node *upstream_node(const pipeline *p, const pipe_node *n,
                                      const char *stage)
{
    for (size_t k = 0; k < p->n_nodes; k++)
        if (strcmp(p->nodes[k].def->name, stage) == 0 &&
            strcmp(p->nodes[k].instance, n->instance) == 0)
            return &p->nodes[k];
    return NULL;
}

/* Append the outputs of the lock of node u to inputs, named prefix + name. */
static int add_outputs(cJSON *inputs, const pipe_node *u, const char *prefix,
                       const pipe_node *n, ppr_err *e)
{
    lock l;
    if (lock_load(&l, u->lock_path, e))
        return err_set(e, PPR_EINPUT, "upstream lock '%s' of '%s' is missing or unreadable "
                       "(run ninja)", u->lock_path, n->id);
    int rc = PPR_OK;
    for (size_t i = 0; i < l.n_outputs && rc == PPR_OK; i++) {
        char name[256];
        snprintf(name, sizeof name, "%s%s", prefix, l.outputs[i].name);
        cJSON *it = cJSON_CreateObject();
        if (!it || !cJSON_AddStringToObject(it, "kind", "object") ||
            !cJSON_AddStringToObject(it, "name", name) ||
            !cJSON_AddStringToObject(it, "sha256", l.outputs[i].sha256) ||
            !cJSON_AddNumberToObject(it, "bytes", (double)l.outputs[i].bytes)) {
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
    if (n->def->slice(p, n->instance, &cfg, e))
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
    int rc = PPR_OK;
    for (const char *const *up = n->def->upstream; *up && rc == PPR_OK; up++) {
        const pipe_node *u = upstream_node(p, n, *up);
        rc = u ? add_outputs(inputs, u, "", n, e)
               : err_set(e, PPR_EINPUT, "'%s' has no upstream %s", n->id, *up);
    }
    const char *extra = n->def->extra ? n->def->extra(p) : NULL;
    if (rc == PPR_OK && extra) {
        const pipe_node *u = pipeline_find(p, extra);
        char prefix[128];
        snprintf(prefix, sizeof prefix, "%s/", u ? u->instance : "");
        rc = u ? add_outputs(inputs, u, prefix, n, e)
               : err_set(e, PPR_EINPUT, "'%s' needs %s, which the config does not run", n->id,
                         extra);
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
        for (const char *const *up = n->def->upstream; *up; up++)
            strbuf_addf(&t, " %s/%s-%s.json", LOCK_DIR, *up, n->instance);
        const char *extra = n->def->extra ? n->def->extra(p) : NULL;
        if (extra)
            strbuf_addf(&t, " %s/%s.json", LOCK_DIR, extra);
        strbuf_addf(&t, " | build/bin/ppr\n  node = %s\n", n->id);
        strbuf_addf(&t, "build %s: stage %s | %s\n  bin = %s\n", n->lock_path,
                    n->slice_path, n->def->binary, n->def->binary);
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
