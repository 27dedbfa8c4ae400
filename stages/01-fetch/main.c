/* main.c: stage 01, fetch (simulator part): reads the real texts the simulator
 * labels from the mirror, checks each file against its pinned SHA-256, and
 * writes the simulated preference dataset and the simulator's parameters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/fsutil.h"
#include "common/json.h"
#include "common/prefs.h"
#include "common/stage.h"
#include "corpus.h"
#include "sim.h"

#define DEFAULT_MIRROR "../shared/data"

/* One pinned file of a text source, read into memory. */
typedef struct {
    const char *path; /* inside the source's mirror folder */
    char *data;
    size_t n;
} source_file;

typedef struct {
    const char *name;    /* "alpaca-eval" or "flask" */
    source_file *files;  /* [n_files] */
    size_t n_files;
} text_source;

static void text_source_release(text_source *t)
{
    for (size_t i = 0; i < t->n_files; i++)
        free(t->files[i].data);
    free(t->files);
    memset(t, 0, sizeof *t);
}

static const char *mirror_root(void)
{
    const char *m = getenv("PPR_MIRROR");
    return m && *m ? m : DEFAULT_MIRROR;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Read every pinned file of the texts source from the mirror, checking size and
 * SHA-256 before anything is parsed. *found = 0 when the mirror lacks the source. */
static int texts_read(stage_run *r, const cJSON *pins, text_source *t, int *found,
                      ppr_err *e)
{
    memset(t, 0, sizeof *t);
    *found = 0;
    const char *folder;
    const cJSON *files;
    if (json_get_str(pins, "mirror", r->slice_path, &folder, e) ||
        !(files = json_get_arr(pins, "files", r->slice_path, e)))
        return PPR_EINPUT;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", mirror_root(), folder);
    if (!is_dir(dir))
        return PPR_OK;
    *found = 1;
    t->name = folder;
    t->n_files = (size_t)cJSON_GetArraySize(files);
    if (!(t->files = calloc(t->n_files ? t->n_files : 1, sizeof *t->files)))
        return err_nomem(e);
    size_t i = 0;
    for (const cJSON *f = files->child; f; f = f->next, i++) {
        const char *rel, *pin;
        int64_t bytes;
        if (json_get_str(f, "path", r->slice_path, &rel, e) ||
            json_get_str(f, "sha256", r->slice_path, &pin, e) ||
            json_get_int(f, "bytes", r->slice_path, &bytes, e))
            return PPR_EINPUT;
        char *path = path_join(dir, rel), *name = path_join(folder, rel);
        char hex[SHA256_HEX_LEN + 1];
        source_file *sf = &t->files[i];
        sf->path = rel;
        int rc = !path || !name ? err_nomem(e) : file_read_all(path, &sf->data, &sf->n, e);
        if (rc == PPR_EINPUT)
            err_wrap(e, "mirror of \"%s\" is incomplete", folder);
        if (rc == PPR_OK) {
            unsigned char d[SHA256_LEN];
            sha256_buf(sf->data, sf->n, d);
            sha256_hex(d, hex);
            if (strcmp(hex, pin) != 0 || (int64_t)sf->n != bytes)
                rc = err_set(e, PPR_EINPUT,
                             "'%s' does not match its pin in manifests/sources.json "
                             "(sha256 %s, %zu bytes; expected %s, %lld bytes)",
                             path, hex, sf->n, pin, (long long)bytes);
        }
        if (rc == PPR_OK)
            rc = stage_add_file(r, name, hex, sf->n, e);
        free(path);
        free(name);
        if (rc)
            return rc;
    }
    return PPR_OK;
}

/* Model name of a mirror file: its base name without the extension. */
static void model_of(const char *rel, char *out, size_t n)
{
    const char *base = strrchr(rel, '/');
    base = base ? base + 1 : rel;
    snprintf(out, n, "%s", base);
    char *dot = strrchr(out, '.');
    if (dot)
        *dot = '\0';
}

static int corpus_load(corpus *c, const text_source *t, ppr_err *e)
{
    char model[256];
    int flask = strcmp(t->name, "flask") == 0;
    /* FLASK's questions come first: answers refer to them by idx. */
    for (size_t i = 0; flask && i < t->n_files; i++)
        if (!strchr(t->files[i].path, '/') &&
            corpus_add_flask_questions(c, t->files[i].data, t->files[i].n, t->files[i].path, e))
            return PPR_EINPUT;
    for (size_t i = 0; i < t->n_files; i++) {
        const source_file *f = &t->files[i];
        if (!strchr(f->path, '/'))
            continue;
        model_of(f->path, model, sizeof model);
        int rc = flask ? corpus_add_flask_model(c, model, f->data, f->n, f->path, e)
                       : corpus_add_alpaca(c, model, f->data, f->n, f->path, e);
        if (rc)
            return rc;
    }
    return PPR_OK;
}

static int run(stage_run *r, ppr_err *e)
{
    int64_t seed;
    const cJSON *src;
    if (json_get_int(r->config, "seed", r->slice_path, &seed, e) ||
        !(src = json_get_obj(r->config, "source", r->slice_path, e)))
        return PPR_EINPUT;
    sim_config cfg;
    int rc = sim_config_parse(&cfg, src, r->instance, e);
    if (rc)
        return rc;
    text_source t = {0};
    int found = 0;
    const cJSON *pins = cJSON_GetObjectItemCaseSensitive(r->config, "texts");
    if (pins)
        rc = texts_read(r, pins, &t, &found, e);
    if (rc == PPR_OK && pins && !found)
        fprintf(stderr,
                "ppr-fetch: %s: no mirror of \"%s\" under '%s' (set PPR_MIRROR): "
                "composing the texts instead\n", r->instance, cfg.texts, mirror_root());
    int done = 0;
    if (rc == PPR_OK)
        rc = stage_lookup(r, &done, e);
    corpus c;
    int have_corpus = 0;
    prefs_builder *b = NULL;
    cJSON *params = NULL;
    void *payload = NULL;
    size_t n = 0;
    if (rc || done)
        goto out;
    if ((rc = corpus_init(&c, e)))
        goto out;
    have_corpus = 1;
    if (found) {
        rc = corpus_load(&c, &t, e);
    } else {
        size_t n_prompts, n_models;
        sim_texts_shape(cfg.texts, &n_prompts, &n_models);
        rc = corpus_compose(&c, (uint64_t)seed, n_prompts, n_models, e);
    }
    if (rc || (rc = corpus_measure(&c, e)))
        goto out;
    if (!(b = prefs_builder_new())) {
        rc = err_nomem(e);
        goto out;
    }
    if ((rc = sim_generate(&cfg, &c, (uint64_t)seed, r->instance, b, &params, e)) ||
        (rc = prefs_builder_finish(b, &payload, &n, e)))
        goto out;
    const prefs_header *h = payload;
    if (!cJSON_AddStringToObject(params, "texts_used", found ? cfg.texts : "composed")) {
        rc = err_nomem(e);
        goto out;
    }
    if ((rc = stage_put(r, "dataset", PAYLOAD_PREFS, payload, n, h->n_rows, e)) ||
        (rc = stage_put_json(r, "params", params, h->n_users, e)) ||
        (rc = stage_commit(r, e)))
        goto out;
    stage_say(r, "%u rows, %u users, %u texts (%s texts)", h->n_rows, h->n_users,
              h->n_texts, found ? cfg.texts : "composed");
out:
    free(payload);
    cJSON_Delete(params);
    prefs_builder_free(b);
    if (have_corpus)
        corpus_release(&c);
    text_source_release(&t);
    sim_config_release(&cfg);
    return rc;
}

int main(int argc, char **argv)
{
    stage_run r;
    ppr_err e = {0};
    int rc = stage_init(&r, "01-fetch", argc, argv, &e);
    if (rc == PPR_OK)
        rc = run(&r, &e);
    if (rc)
        fprintf(stderr, "ppr-fetch: %s\n", e.msg);
    stage_release(&r);
    return rc;
}
