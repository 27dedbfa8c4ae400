/* stage.c: slice in, verified artifacts and a byte-stable lock out, with a run cache. */
#include "stage.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "fsutil.h"
#include "json.h"
#include "lock.h"
#include "progress.h"

void stage_say(const stage_run *r, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s %s: ", r->stage, r->instance ? r->instance : "?");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int stage_init(stage_run *r, const char *stage, int argc, char **argv, ppr_err *e)
{
    memset(r, 0, sizeof *r);
    r->stage = stage;
    r->threads = 1;
    r->start = clock_seconds();
    if (argc != 3)
        return err_set(e, PPR_EINPUT, "usage: %s <slice.json> <lock.json>", argv[0]);
    r->slice_path = argv[1];
    r->lock_path = argv[2];
    if (!(r->slice = json_parse_file(r->slice_path, e)))
        return PPR_EINPUT;
    const char *name;
    const cJSON *inputs;
    if (json_get_str(r->slice, "stage", r->slice_path, &name, e) ||
        json_get_str(r->slice, "instance", r->slice_path, &r->instance, e) ||
        !(r->config = json_get_obj(r->slice, "config", r->slice_path, e)) ||
        !(inputs = json_get_arr(r->slice, "inputs", r->slice_path, e)))
        return PPR_EINPUT;
    if (strcmp(name, stage) != 0)
        return err_set(e, PPR_EINPUT, "'%s' is a slice for stage \"%s\", not \"%s\"",
                       r->slice_path, name, stage);
    if (store_init(&r->st, NULL, e))
        return PPR_EINPUT;
    const char *slash = strrchr(r->lock_path, '/');
    if (slash) {
        char *dir = strndup(r->lock_path, (size_t)(slash - r->lock_path));
        int rc = dir ? dir_make(dir, e) : err_nomem(e);
        free(dir);
        if (rc)
            return rc;
    }
    unsigned char bin[SHA256_LEN];
    char hex[SHA256_HEX_LEN + 1];
    if (sha256_file("/proc/self/exe", bin, NULL, e))
        return err_wrap(e, "hashing the stage binary");
    sha256_hex(bin, hex);
    r->lock = cJSON_CreateObject();
    cJSON *tool = cJSON_AddObjectToObject(r->lock, "tool");
    if (!r->lock || !tool || !cJSON_AddStringToObject(r->lock, "stage", stage) ||
        !cJSON_AddStringToObject(r->lock, "instance", r->instance) ||
        !cJSON_AddItemToObject(r->lock, "config", cJSON_Duplicate(r->config, 1)) ||
        !cJSON_AddItemToObject(r->lock, "inputs", cJSON_Duplicate(inputs, 1)) ||
        !cJSON_AddStringToObject(tool, "binary_sha256", hex) ||
        !cJSON_AddStringToObject(tool, "zstd", ZSTD_versionString()))
        return err_nomem(e);
    return PPR_OK;
}

int stage_main(const char *stage, const char *prog, int argc, char **argv, stage_fn run)
{
    stage_run r;
    ppr_err e = {0};
    int rc = stage_init(&r, stage, argc, argv, &e);
    if (rc == PPR_OK)
        rc = run(&r, &e);
    if (rc)
        fprintf(stderr, "%s: %s\n", prog, e.msg);
    stage_release(&r);
    return rc;
}

void stage_release(stage_run *r)
{
    if (!r)
        return;
    cJSON_Delete(r->slice);
    cJSON_Delete(r->lock);
    store_release(&r->st);
    memset(r, 0, sizeof *r);
}

int stage_add_file(stage_run *r, const char *name, const char *sha256_hex,
                   uint64_t bytes, ppr_err *e)
{
    cJSON *in = cJSON_GetObjectItemCaseSensitive(r->lock, "inputs");
    cJSON *it = cJSON_CreateObject();
    if (!it || !cJSON_AddStringToObject(it, "kind", "file") ||
        !cJSON_AddStringToObject(it, "name", name) ||
        !cJSON_AddStringToObject(it, "sha256", sha256_hex) ||
        !cJSON_AddNumberToObject(it, "bytes", (double)bytes)) {
        cJSON_Delete(it);
        return err_nomem(e);
    }
    cJSON_AddItemToArray(in, it);
    return PPR_OK;
}

/* Complete the tool record; called once the computation's settings are known. */
static int finish_tool(stage_run *r, ppr_err *e)
{
    cJSON *tool = cJSON_GetObjectItemCaseSensitive(r->lock, "tool");
    cJSON_DeleteItemFromObjectCaseSensitive(tool, "threads");
    cJSON_DeleteItemFromObjectCaseSensitive(tool, "openblas");
    if (!cJSON_AddNumberToObject(tool, "threads", r->threads) ||
        !(r->openblas ? cJSON_AddStringToObject(tool, "openblas", r->openblas)
                      : cJSON_AddNullToObject(tool, "openblas")))
        return err_nomem(e);
    return PPR_OK;
}

/* The run key: SHA-256 of the canonical lock without its outputs. */
static int run_key(const stage_run *r, char hex[SHA256_HEX_LEN + 1], char **canon,
                   ppr_err *e)
{
    cJSON *copy = cJSON_Duplicate(r->lock, 1);
    if (!copy)
        return err_nomem(e);
    cJSON_DeleteItemFromObjectCaseSensitive(copy, "outputs");
    char *s = json_canonical(copy, e);
    cJSON_Delete(copy);
    if (!s)
        return PPR_EINTERNAL;
    unsigned char d[SHA256_LEN];
    sha256_buf(s, strlen(s), d);
    sha256_hex(d, hex);
    if (canon)
        *canon = s;
    else
        free(s);
    return PPR_OK;
}

/* 1 if the lock at path describes the run `key` and all its outputs are stored. */
static int lock_matches(const stage_run *r, const char *path, const char *key)
{
    cJSON *json = json_parse_file(path, NULL);
    if (!json)
        return 0;
    lock l;
    if (lock_from_json(&l, json, path, NULL))
        return 0;
    int ok = 1;
    for (size_t i = 0; i < l.n_outputs && ok; i++)
        ok = store_has(&r->st, l.outputs[i].sha256);
    cJSON *copy = ok ? cJSON_Duplicate(l.json, 1) : NULL;
    ok = 0;
    if (copy) {
        cJSON_DeleteItemFromObjectCaseSensitive(copy, "outputs");
        char *s = json_canonical(copy, NULL);
        if (s) {
            unsigned char d[SHA256_LEN];
            char hex[SHA256_HEX_LEN + 1];
            sha256_buf(s, strlen(s), d);
            sha256_hex(d, hex);
            ok = strcmp(hex, key) == 0;
            free(s);
        }
        cJSON_Delete(copy);
    }
    lock_release(&l);
    return ok;
}

static char *run_path(const stage_run *r, const char *key)
{
    size_t n = strlen(r->st.root) + strlen(RUNS_DIR) + SHA256_HEX_LEN + 8;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s/%s.json", r->st.root, RUNS_DIR, key);
    return p;
}

int stage_lookup(stage_run *r, int *done, ppr_err *e)
{
    *done = 0;
    char key[SHA256_HEX_LEN + 1];
    if (finish_tool(r, e) || run_key(r, key, NULL, e))
        return e ? e->code : PPR_EINTERNAL;
    if (lock_matches(r, r->lock_path, key)) {
        stage_say(r, "up to date");
        *done = 1;
        return PPR_OK;
    }
    char *cached = run_path(r, key);
    if (!cached)
        return err_nomem(e);
    int rc = PPR_OK;
    if (lock_matches(r, cached, key)) {
        char *data;
        size_t n;
        rc = file_read_all(cached, &data, &n, e);
        if (rc == PPR_OK) {
            rc = file_write_if_changed(r->lock_path, data, n, NULL, e);
            free(data);
        }
        if (rc == PPR_OK) {
            stage_say(r, "reused run %.12s from the run cache", key);
            *done = 1;
        }
    }
    free(cached);
    return rc;
}

int stage_input(stage_run *r, const char *name, int type, void **payload, size_t *n,
                ppr_err *e)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(r->slice, "inputs");
    for (const cJSON *it = in->child; it; it = it->next) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(it, "name");
        const cJSON *sha = cJSON_GetObjectItemCaseSensitive(it, "sha256");
        if (cJSON_IsString(nm) && strcmp(nm->valuestring, name) == 0 && cJSON_IsString(sha)) {
            int rc = store_get(&r->st, sha->valuestring, type, payload, n, NULL, e);
            return rc ? err_wrap(e, "input \"%s\" of %s %s", name, r->stage, r->instance)
                      : PPR_OK;
        }
    }
    return err_set(e, PPR_EINPUT, "'%s' has no input \"%s\"", r->slice_path, name);
}

void stage_previous(stage_run *r, const char *const *keys, const char *name, int type,
                    void **payload, size_t *n)
{
    *payload = NULL;
    *n = 0;
    lock l;
    if (lock_load(&l, r->lock_path, NULL))
        return;
    const cJSON *was = cJSON_GetObjectItemCaseSensitive(l.json, "config");
    int same = 1;
    for (const char *const *k = keys; *k && same; k++)
        same = cJSON_Compare(cJSON_GetObjectItemCaseSensitive(was, *k),
                             cJSON_GetObjectItemCaseSensitive(r->config, *k), 1);
    const lock_entry *out = lock_output(&l, name);
    if (same && out && store_get(&r->st, out->sha256, type, payload, n, NULL, NULL) != PPR_OK) {
        *payload = NULL;
        *n = 0;
    }
    lock_release(&l);
}

int stage_put(stage_run *r, const char *name, int type, const void *payload, size_t n,
              uint64_t rows, ppr_err *e)
{
    char hex[SHA256_HEX_LEN + 1];
    int rc = store_put(&r->st, type, payload, n, hex, e);
    if (rc)
        return rc;
    if (!r->outputs && !(r->outputs = cJSON_AddArrayToObject(r->lock, "outputs")))
        return err_nomem(e);
    cJSON *it = cJSON_CreateObject();
    if (!it || !cJSON_AddStringToObject(it, "name", name) ||
        !cJSON_AddStringToObject(it, "sha256", hex) ||
        !cJSON_AddNumberToObject(it, "bytes", (double)n) ||
        !cJSON_AddStringToObject(it, "type", payload_type_name(type)) ||
        !cJSON_AddNumberToObject(it, "rows", (double)rows)) {
        cJSON_Delete(it);
        return err_nomem(e);
    }
    cJSON_AddItemToArray(r->outputs, it);
    return PPR_OK;
}

int stage_put_json(stage_run *r, const char *name, const cJSON *v, uint64_t rows,
                   ppr_err *e)
{
    char *s = json_canonical(v, e);
    if (!s)
        return e ? e->code : PPR_EINTERNAL;
    int rc = stage_put(r, name, PAYLOAD_JSON, s, strlen(s), rows, e);
    free(s);
    return rc;
}

static void append_run_log(const stage_run *r, const char *key)
{
    char *dir = path_join(r->st.root, "log");
    char *path = path_join(r->st.root, RUN_LOG);
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    struct rusage ru;
    long peak_kib = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1; /* Linux: KiB */
    if (dir && path && dir_make(dir, NULL) == PPR_OK) {
        FILE *f = fopen(path, "a");
        if (f) {
            fprintf(f,
                    "{\"stage\":\"%s\",\"instance\":\"%s\",\"run\":\"%s\","
                    "\"seconds\":%.3f,\"peak_kib\":%ld,\"host\":\"%s\",\"unix_time\":%lld}\n",
                    r->stage, r->instance, key, clock_seconds() - r->start, peak_kib, host,
                    (long long)time(NULL));
            fclose(f);
        }
    }
    free(dir);
    free(path);
}

int stage_commit(stage_run *r, ppr_err *e)
{
    if (!r->outputs && !(r->outputs = cJSON_AddArrayToObject(r->lock, "outputs")))
        return err_nomem(e);
    char key[SHA256_HEX_LEN + 1];
    if (finish_tool(r, e) || run_key(r, key, NULL, e))
        return e ? e->code : PPR_EINTERNAL;
    char *runs = path_join(r->st.root, RUNS_DIR);
    char *cached = run_path(r, key);
    int rc = !runs || !cached ? err_nomem(e) : dir_make(runs, e);
    if (rc == PPR_OK)
        rc = json_write_if_changed(cached, r->lock, NULL, e);
    if (rc == PPR_OK)
        rc = json_write_if_changed(r->lock_path, r->lock, NULL, e);
    if (rc == PPR_OK)
        append_run_log(r, key);
    free(runs);
    free(cached);
    return rc;
}
