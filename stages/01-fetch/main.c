/* main.c: stage 01, fetch: one dataset or evaluation set per run. A real source
 * is read (mirror, download cache or network; every file pinned) and normalized
 * by its loader; a simulated one labels real texts read the same way, or texts
 * it composes when its slice says so. Writes the dataset and its parameters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/download.h"
#include "common/json.h"
#include "common/prefs.h"
#include "common/stage.h"
#include "corpus.h"
#include "loaders.h"
#include "origin.h"
#include "sim.h"

/* Downloads are allowed unless PPR_OFFLINE is set to something other than 0. */
static int downloads_allowed(void)
{
    const char *off = getenv("PPR_OFFLINE");
    return !off || !*off || strcmp(off, "0") == 0;
}

/* Model name of a texts file: its base name without the extension. */
static void model_of(const char *rel, char *out, size_t n)
{
    const char *base = strrchr(rel, '/');
    snprintf(out, n, "%s", base ? base + 1 : rel);
    char *dot = strrchr(out, '.');
    if (dot)
        *dot = '\0';
}

/* Fill c from the texts source's files: FLASK's questions first (answers refer
 * to them by idx), then one file per model. */
static int corpus_load(corpus *c, const origin *o, ppr_err *e)
{
    char model[256];
    int flask = strcmp(o->source, "flask") == 0;
    for (size_t i = 0; flask && i < o->n_files; i++)
        if (!strchr(o->files[i].name, '/') &&
            corpus_add_flask_questions(c, o->files[i].data, o->files[i].n, o->files[i].name, e))
            return PPR_EINPUT;
    for (size_t i = 0; i < o->n_files; i++) {
        const src_file *f = &o->files[i];
        if (!strchr(f->name, '/'))
            continue;
        model_of(f->name, model, sizeof model);
        int rc = flask ? corpus_add_flask_model(c, model, f->data, f->n, f->name, e)
                       : corpus_add_alpaca(c, model, f->data, f->n, f->name, e);
        if (rc)
            return rc;
    }
    return PPR_OK;
}

/* The simulated dataset into b; params receives the simulator's parameters.
 * The slice says which texts it labels ("texts_resolved", see `ppr slice`):
 * composed ones, chosen in the config or standing in for missing files on the
 * ci profile ("texts_fallback"), or a source's files, which must then be read:
 * fetch never falls back by itself. */
static int run_sim(stage_run *r, const cJSON *src, const char *origin_name,
                   const cJSON *entry, int64_t seed, prefs_builder *b, cJSON **params,
                   int *done, ppr_err *e)
{
    sim_config cfg;
    const char *resolved;
    int rc = json_get_str(r->config, "texts_resolved", r->slice_path, &resolved, e);
    if (rc || (rc = sim_config_parse(&cfg, src, r->instance, e)))
        return rc;
    int fallback = cJSON_GetObjectItemCaseSensitive(r->config, "texts_fallback") != NULL;
    int have_texts = strcmp(resolved, "composed") != 0, have_corpus = 0;
    origin o = {0};
    corpus c;
    if (have_texts && !entry)
        rc = err_set(e, PPR_EINPUT, "'%s': texts \"%s\" have no \"origin\"", r->slice_path,
                     resolved);
    else if (have_texts)
        rc = origin_read(&o, r, origin_name, entry, downloads_allowed(), e);
    if (rc && o.unavailable) {
        char why[sizeof e->msg];
        snprintf(why, sizeof why, "%s", e->msg);
        err_set(e, PPR_EINPUT, "%s; to label composed texts instead, set \"texts\": "
                "\"composed\" in \"fetch.sources.%s\" of %s", why, r->instance, CONFIG_PATH);
    }
    if (rc || (rc = stage_lookup(r, done, e)) || *done)
        goto out;
    if ((rc = corpus_init(&c, e)))
        goto out;
    have_corpus = 1;
    if (have_texts) {
        rc = corpus_load(&c, &o, e);
    } else {
        size_t n_prompts, n_models;
        sim_texts_shape(cfg.texts, &n_prompts, &n_models);
        rc = corpus_compose(&c, (uint64_t)seed, n_prompts, n_models, e);
    }
    if (rc == PPR_OK)
        rc = corpus_measure(&c, e);
    if (rc == PPR_OK)
        rc = sim_generate(&cfg, &c, (uint64_t)seed, r->instance, b, params, e);
    if (rc == PPR_OK &&
        (!cJSON_AddStringToObject(*params, "texts_used", resolved) ||
         !cJSON_AddStringToObject(*params, "texts_choice", fallback ? "fallback" : "config")))
        rc = err_nomem(e);
out:
    if (have_corpus)
        corpus_release(&c);
    origin_release(&o);
    sim_config_release(&cfg);
    return rc;
}

/* A real source through its loader into b. */
static int run_real(stage_run *r, const cJSON *src, const char *origin_name,
                    const cJSON *entry, prefs_builder *b, cJSON **params, int *done,
                    ppr_err *e)
{
    const char *format;
    if (json_get_str(entry, "format", "manifests/sources.json", &format, e))
        return PPR_EINPUT;
    const loader_def *loader = loader_find(format);
    if (!loader)
        return err_set(e, PPR_EINPUT, "'manifests/sources.json': source \"%s\" has unknown "
                       "format \"%s\"", origin_name, format);
    origin o;
    int rc = origin_read(&o, r, origin_name, entry, downloads_allowed(), e);
    if (rc)
        return rc;
    if ((rc = stage_lookup(r, done, e)) || *done) {
        origin_release(&o);
        return rc;
    }
    src_input in = {o.files, o.n_files, src};
    rc = loader->load(&in, b, params, e);
    const cJSON *tf = cJSON_GetObjectItemCaseSensitive(src, "test_fraction");
    if (rc == PPR_OK && cJSON_IsNumber(tf))
        prefs_builder_split(b, tf->valuedouble);
    origin_release(&o);
    if (rc)
        return err_wrap(e, "source \"%s\"", origin_name);
    return PPR_OK;
}

/* The GloVe embeddings: not a dataset, so they get their own output. */
static int run_embeddings(stage_run *r, const char *origin_name, const cJSON *entry,
                          ppr_err *e)
{
    origin o;
    int done, rc = origin_read(&o, r, origin_name, entry, downloads_allowed(), e);
    if (rc)
        return rc;
    void *payload = NULL;
    size_t size;
    cJSON *info = NULL;
    if ((rc = stage_lookup(r, &done, e)) || done)
        goto out;
    if (o.n_files != 1) {
        rc = err_set(e, PPR_EINPUT, "'manifests/sources.json': source \"%s\" must list one "
                     "file, the package tarball", origin_name);
        goto out;
    }
    if ((rc = glove_convert(o.files[0].data, o.files[0].n, o.files[0].name, &payload, &size,
                            &info, e)))
        goto out;
    const cJSON *words = cJSON_GetObjectItemCaseSensitive(info, "words");
    uint64_t n_words = cJSON_IsNumber(words) ? (uint64_t)words->valuedouble : 0;
    if ((rc = stage_put(r, "embeddings", PAYLOAD_EMBEDDINGS, payload, size, n_words, e)) ||
        (rc = stage_put_json(r, "params", info, n_words, e)) || (rc = stage_commit(r, e)))
        goto out;
    stage_say(r, "%llu words", (unsigned long long)n_words);
out:
    free(payload);
    cJSON_Delete(info);
    origin_release(&o);
    return rc;
}

static int run(stage_run *r, ppr_err *e)
{
    int64_t seed = 0;
    const cJSON *src;
    const char *kind;
    if (!(src = json_get_obj(r->config, "source", r->slice_path, e)) ||
        json_get_str(src, "kind", r->slice_path, &kind, e) ||
        (strcmp(kind, "sim") == 0 && json_get_int(r->config, "seed", r->slice_path, &seed, e)))
        return PPR_EINPUT;
    const cJSON *origin_name = cJSON_GetObjectItemCaseSensitive(r->config, "origin_name");
    const cJSON *entry = cJSON_GetObjectItemCaseSensitive(r->config, "origin");
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(entry, "format");
    if (cJSON_IsString(format) && strcmp(format->valuestring, "glove") == 0)
        return run_embeddings(r, origin_name->valuestring, entry, e);
    prefs_builder *b = prefs_builder_new();
    cJSON *params = NULL;
    void *payload = NULL;
    size_t n = 0;
    int done = 0, rc;
    if (!b)
        return err_nomem(e);
    if (strcmp(kind, "sim") == 0)
        rc = run_sim(r, src, cJSON_IsString(origin_name) ? origin_name->valuestring : NULL,
                     entry, seed, b, &params, &done, e);
    else if (cJSON_IsString(origin_name) && entry)
        rc = run_real(r, src, origin_name->valuestring, entry, b, &params, &done, e);
    else
        rc = err_set(e, PPR_EINPUT, "'%s' names no source for \"%s\"", r->slice_path,
                     r->instance);
    if (rc == PPR_OK && !done)
        rc = prefs_builder_finish(b, &payload, &n, e);
    if (rc == PPR_OK && !done) {
        const prefs_header *h = payload;
        if ((rc = stage_put(r, "dataset", PAYLOAD_PREFS, payload, n, h->n_rows, e)) ||
            (rc = stage_put_json(r, "params", params, h->n_users, e)) ||
            (rc = stage_commit(r, e)))
            goto out;
        stage_say(r, "%u rows, %u users, %u texts", h->n_rows, h->n_users, h->n_texts);
    }
out:
    free(payload);
    cJSON_Delete(params);
    prefs_builder_free(b);
    return rc;
}

/* libcurl's global state around the stage: set up once, before any thread. */
static int run_with_curl(stage_run *r, ppr_err *e)
{
    int rc = download_global_init(e);
    if (rc == PPR_OK)
        rc = run(r, e);
    download_global_release();
    return rc;
}

int main(int argc, char **argv)
{
    return stage_main("01-fetch", "ppr-fetch", argc, argv, run_with_curl);
}
