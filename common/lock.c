/* lock.c: reading lock manifests back (stages write them through stage.c). */
#include "lock.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "json.h"

static int parse_entries(const cJSON *arr, int outputs, lock_entry **out, size_t *n,
                         const char *what, ppr_err *e)
{
    *out = NULL;
    *n = 0;
    size_t count = (size_t)cJSON_GetArraySize(arr);
    lock_entry *v = calloc(count ? count : 1, sizeof *v);
    if (!v)
        return err_nomem(e);
    size_t i = 0;
    for (const cJSON *it = arr->child; it; it = it->next, i++) {
        const char *hex;
        int64_t bytes;
        if (json_get_str(it, "name", what, &v[i].name, e) ||
            json_get_str(it, "sha256", what, &hex, e) ||
            json_get_int(it, "bytes", what, &bytes, e))
            goto fail;
        unsigned char raw[SHA256_LEN];
        if (sha256_parse(hex, raw) != 0 || bytes < 0) {
            err_set(e, PPR_EINPUT, "'%s': entry \"%s\" has a bad sha256 or size", what,
                    v[i].name);
            goto fail;
        }
        sha256_hex(raw, v[i].sha256);
        v[i].bytes = (uint64_t)bytes;
        if (outputs) {
            int64_t rows;
            v[i].kind = "object";
            if (json_get_str(it, "type", what, &v[i].type, e) ||
                json_get_int(it, "rows", what, &rows, e))
                goto fail;
            v[i].rows = (uint64_t)rows;
        } else {
            if (json_get_str(it, "kind", what, &v[i].kind, e))
                goto fail;
            if (strcmp(v[i].kind, "object") != 0 && strcmp(v[i].kind, "file") != 0) {
                err_set(e, PPR_EINPUT, "'%s': input \"%s\" has unknown kind \"%s\"", what,
                        v[i].name, v[i].kind);
                goto fail;
            }
            if (strcmp(v[i].kind, "object") == 0 &&
                json_get_str(it, "from", what, &v[i].from, e))
                goto fail;
        }
    }
    *out = v;
    *n = count;
    return PPR_OK;
fail:
    free(v);
    return PPR_EINPUT;
}

int lock_from_json(lock *l, cJSON *json, const char *what, ppr_err *e)
{
    memset(l, 0, sizeof *l);
    l->json = json;
    l->path = strdup(what);
    if (!l->path) {
        lock_release(l);
        return err_nomem(e);
    }
    const cJSON *in, *out;
    if (json_get_str(json, "stage", what, &l->stage, e) ||
        json_get_str(json, "instance", what, &l->instance, e) ||
        !json_get_obj(json, "config", what, e) || !json_get_obj(json, "tool", what, e) ||
        !(in = json_get_arr(json, "inputs", what, e)) ||
        !(out = json_get_arr(json, "outputs", what, e)) ||
        parse_entries(in, 0, &l->inputs, &l->n_inputs, what, e) ||
        parse_entries(out, 1, &l->outputs, &l->n_outputs, what, e)) {
        lock_release(l);
        return PPR_EINPUT;
    }
    return PPR_OK;
}

int lock_load(lock *l, const char *path, ppr_err *e)
{
    memset(l, 0, sizeof *l);
    cJSON *json = json_parse_file(path, e);
    if (!json)
        return e ? e->code : PPR_EINPUT;
    return lock_from_json(l, json, path, e);
}

void lock_release(lock *l)
{
    if (!l)
        return;
    cJSON_Delete(l->json);
    free(l->path);
    free(l->inputs);
    free(l->outputs);
    memset(l, 0, sizeof *l);
}

static int path_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int lock_paths(const char *dir, char ***paths, size_t *n, ppr_err *e)
{
    *paths = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? PPR_OK
                               : err_set(e, PPR_EINPUT, "cannot read directory '%s'", dir);
    size_t cap = 0, count = 0;
    char **v = NULL;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0 || de->d_name[0] == '.')
            continue;
        if (count == cap) {
            cap = cap ? 2 * cap : 16;
            char **q = realloc(v, cap * sizeof *q);
            if (!q)
                goto nomem;
            v = q;
        }
        size_t m = strlen(dir) + len + 2;
        if (!(v[count] = malloc(m)))
            goto nomem;
        snprintf(v[count++], m, "%s/%s", dir, de->d_name);
    }
    closedir(d);
    qsort(v, count, sizeof *v, path_cmp);
    *paths = v;
    *n = count;
    return PPR_OK;
nomem:
    closedir(d);
    lock_paths_free(v, count);
    return err_nomem(e);
}

void lock_paths_free(char **paths, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
}

const lock_entry *lock_output(const lock *l, const char *name)
{
    for (size_t i = 0; i < l->n_outputs; i++)
        if (strcmp(l->outputs[i].name, name) == 0)
            return &l->outputs[i];
    return NULL;
}

int lock_input_is_output(const char *input, const char *output)
{
    size_t a = strlen(input), b = strlen(output);
    return b <= a && strcmp(input + a - b, output) == 0 && (a == b || input[a - b - 1] == '/');
}

void lock_node_id(const lock *l, char *buf, size_t n)
{
    snprintf(buf, n, "%s-%s", l->stage, l->instance);
}

int lock_run_key(const cJSON *json, char hex[SHA256_HEX_LEN + 1], ppr_err *e)
{
    cJSON *copy = cJSON_Duplicate(json, 1);
    if (!copy)
        return err_nomem(e);
    cJSON_DeleteItemFromObjectCaseSensitive(copy, "outputs");
    char *s = json_canonical(copy, e);
    cJSON_Delete(copy);
    if (!s)
        return e ? e->code : PPR_EINPUT;
    unsigned char d[SHA256_LEN];
    sha256_buf(s, strlen(s), d);
    sha256_hex(d, hex);
    free(s);
    return PPR_OK;
}

char *lock_runs_dir(const store *s)
{
    return path_join(s->root, LOCK_RUNS_DIR);
}

char *lock_record_path(const store *s, const char *key)
{
    size_t n = strlen(s->root) + strlen(LOCK_RUNS_DIR) + SHA256_HEX_LEN + 8;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s/%s.json", s->root, LOCK_RUNS_DIR, key);
    return p;
}

int lock_record_matches(const store *s, const lock *l, ppr_err *e)
{
    char *data = NULL, *rec = NULL, *rec_path = NULL;
    size_t n, rec_n;
    char key[SHA256_HEX_LEN + 1];
    int rc = file_read_all(l->path, &data, &n, e);
    if (rc == PPR_OK && (rc = lock_run_key(l->json, key, e)) == PPR_OK &&
        !(rec_path = lock_record_path(s, key)))
        rc = err_nomem(e);
    if (rc == PPR_OK && file_read_all(rec_path, &rec, &rec_n, NULL) != PPR_OK)
        rc = err_set(e, PPR_EINPUT, "lock '%s' has no run record '%s'", l->path, rec_path);
    if (rc == PPR_OK && (rec_n != n || memcmp(rec, data, n) != 0))
        rc = err_set(e, PPR_EINPUT, "lock '%s' differs from its run record '%s' (edited?)",
                     l->path, rec_path);
    free(data);
    free(rec);
    free(rec_path);
    return rc;
}

int lock_load_checked(lock *l, const store *s, const char *path, ppr_err *e)
{
    int rc = lock_load(l, path, e);
    if (rc == PPR_OK)
        rc = lock_record_matches(s, l, e);
    for (size_t i = 0; rc == PPR_OK && i < l->n_outputs; i++)
        if (!store_has(s, l->outputs[i].sha256))
            rc = err_set(e, PPR_EINPUT, "lock '%s': output \"%s\" (%.12s) is missing from the "
                         "store", path, l->outputs[i].name, l->outputs[i].sha256);
    if (rc)
        lock_release(l);
    return rc;
}
