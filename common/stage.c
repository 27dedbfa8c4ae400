/* stage.c: slice in, verified artifacts and a byte-stable lock out, with a run
 * cache whose records are the evidence every lock is checked against. */
#include "stage.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "fsutil.h"
#include "json.h"
#include "lock.h"
#include "progress.h"
#include "strbuf.h"

void stage_say(const stage_run *r, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s %s: ", r->stage, r->instance ? r->instance : "?");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

char **stage_temp_dirs(const store *s)
{
    char **dirs = calloc(6, sizeof *dirs);
    if (!dirs || !(dirs[0] = lock_runs_dir(s)) || !(dirs[1] = strdup(LOCK_DIR)) ||
        !(dirs[2] = strdup("manifests")) || !(dirs[3] = strdup(STAGE_SLICE_DIR)) ||
        !(dirs[4] = strdup(STAGE_DEPS_DIR))) {
        stage_temp_dirs_free(dirs);
        return NULL;
    }
    return dirs;
}

void stage_temp_dirs_free(char **dirs)
{
    for (size_t i = 0; dirs && dirs[i]; i++)
        free(dirs[i]);
    free(dirs);
}

/* Take the instance's lock, then the store lock shared. Whoever finds the
 * store free holds it exclusive for a moment and sweeps the temp files of
 * killed runs, which nobody can be writing then. */
static int stage_lock(stage_run *r, const char *prog, ppr_err *e)
{
    char name[512];
    snprintf(name, sizeof name, "node/%s-%s", r->stage, r->instance);
    int got, rc = storelock_take(&r->node_lock, &r->st, name, STORELOCK_EXCLUSIVE, prog, e);
    if (rc == PPR_OK)
        rc = storelock_try(&r->store_lock, &r->st, "store", STORELOCK_EXCLUSIVE, &got, e);
    if (rc)
        return rc;
    if (!got) /* waiting for another stage's sweep is routine: no message */
        return storelock_take(&r->store_lock, &r->st, "store", STORELOCK_SHARED, NULL, e);
    char **dirs = stage_temp_dirs(&r->st);
    size_t removed;
    rc = dirs ? store_sweep_temps(&r->st, (const char *const *)dirs, &removed, e)
              : err_nomem(e);
    stage_temp_dirs_free(dirs);
    if (rc == PPR_OK && removed)
        stage_say(r, "removed %zu temp file%s left by an interrupted run", removed,
                  removed == 1 ? "" : "s");
    return rc ? rc : storelock_convert(&r->store_lock, STORELOCK_SHARED, NULL, e);
}

int stage_init(stage_run *r, const char *stage, int argc, char **argv, ppr_err *e)
{
    memset(r, 0, sizeof *r);
    r->node_lock.fd = r->store_lock.fd = -1;
    r->stage = stage;
    r->threads = 1;
    r->start = clock_seconds();
    if (argc != 3 && argc != 4)
        return err_set(e, PPR_EINPUT, "usage: %s <slice.json> <lock.json> [<depfile>]",
                       argv[0]);
    r->slice_path = argv[1];
    r->lock_path = argv[2];
    r->depfile_path = argc == 4 ? argv[3] : NULL;
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
    int rc = dir_make_parent(r->lock_path, e);
    if (rc == PPR_OK)
        rc = stage_lock(r, argv[0], e);
    if (rc)
        return rc;
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
        !cJSON_AddStringToObject(tool, "zstd", ZSTD_versionString()) ||
        !(r->notes = cJSON_CreateObject()) || !(r->read = cJSON_CreateArray()))
        return err_nomem(e);
    return PPR_OK;
}

/* One path in a depfile: spaces, '#' and '$' escaped as Ninja reads them. */
static void depfile_add(strbuf *b, const char *path)
{
    strbuf_adds(b, " ");
    for (const char *p = path; *p; p++) {
        if (*p == ' ' || *p == '#')
            strbuf_adds(b, "\\");
        else if (*p == '$')
            strbuf_adds(b, "$");
        strbuf_add(b, p, 1);
    }
}

/* "<lock>: <each output object> <run record>": what the lock stands on. */
static int write_depfile(const stage_run *r, ppr_err *e)
{
    char key[SHA256_HEX_LEN + 1];
    int rc = lock_run_key(r->lock, key, e);
    if (rc)
        return rc;
    strbuf b = {0};
    strbuf_adds(&b, r->lock_path);
    strbuf_adds(&b, ":");
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(r->lock, "outputs");
    for (const cJSON *o = outs ? outs->child : NULL; o; o = o->next) {
        const cJSON *sha = cJSON_GetObjectItemCaseSensitive(o, "sha256");
        char *path = cJSON_IsString(sha) ? store_path(&r->st, sha->valuestring) : NULL;
        if (path)
            depfile_add(&b, path);
        b.failed |= !path;
        free(path);
    }
    char *record = lock_record_path(&r->st, key);
    if (record)
        depfile_add(&b, record);
    b.failed |= !record;
    free(record);
    strbuf_adds(&b, "\n");
    rc = b.failed ? err_nomem(e) : dir_make_parent(r->depfile_path, e);
    if (rc == PPR_OK)
        rc = file_write_atomic(r->depfile_path, b.p, b.len, e);
    strbuf_release(&b);
    return rc;
}

int stage_main(const char *stage, const char *prog, int argc, char **argv, stage_fn run)
{
    /* Past a file size limit a write fails (EFBIG) and says so, instead of a
     * signal killing the stage before it can clean up. */
    signal(SIGXFSZ, SIG_IGN);
    stage_run r;
    ppr_err e = {0};
    int rc = stage_init(&r, stage, argc, argv, &e);
    if (rc == PPR_OK)
        rc = run(&r, &e);
    if (rc == PPR_OK && r.depfile_path)
        rc = write_depfile(&r, &e);
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
    cJSON_Delete(r->notes);
    cJSON_Delete(r->read);
    storelock_release(&r->store_lock);
    storelock_release(&r->node_lock);
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

int stage_note(stage_run *r, const char *key, double value, ppr_err *e)
{
    cJSON_DeleteItemFromObjectCaseSensitive(r->notes, key);
    return cJSON_AddNumberToObject(r->notes, key, value) ? PPR_OK : err_nomem(e);
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

/* Whether the run record at path is the run `key` and every output it names
 * verifies; *l receives it when so. A record that does not is a cache miss. */
static int record_usable(const stage_run *r, const char *path, const char *key, lock *l)
{
    char hex[SHA256_HEX_LEN + 1];
    if (lock_load(l, path, NULL))
        return 0;
    int ok = lock_run_key(l->json, hex, NULL) == PPR_OK && strcmp(hex, key) == 0;
    for (size_t i = 0; i < l->n_outputs && ok; i++)
        ok = store_check(&r->st, l->outputs[i].sha256, l->outputs[i].type, l->outputs[i].bytes,
                         NULL) == PPR_OK;
    if (!ok)
        lock_release(l);
    return ok;
}

int stage_lookup(stage_run *r, int *done, ppr_err *e)
{
    *done = 0;
    char key[SHA256_HEX_LEN + 1];
    if (finish_tool(r, e) || lock_run_key(r->lock, key, e))
        return e ? e->code : PPR_EINTERNAL;
    const char *again = getenv("PPR_RECOMPUTE");
    if (again && *again && strcmp(again, "0") != 0)
        return PPR_OK;
    char *record = lock_record_path(&r->st, key);
    if (!record)
        return err_nomem(e);
    lock l;
    int rc = PPR_OK;
    if (record_usable(r, record, key, &l)) {
        char *data;
        size_t n;
        int changed = 0;
        rc = file_read_all(record, &data, &n, e);
        if (rc == PPR_OK) {
            rc = file_write_if_changed(r->lock_path, data, n, &changed, e);
            free(data);
        }
        if (rc == PPR_OK) {
            /* The record is now this run's lock (the depfile lists its outputs). */
            cJSON_Delete(r->lock);
            r->lock = l.json;
            r->outputs = NULL;
            l.json = NULL;
            /* Ninja ran this stage because something the lock stands on is
             * newer than it; a lock left older than its own run record would
             * keep it dirty (stage.h), so an unchanged lock is touched. */
            if (!changed && utimensat(AT_FDCWD, r->lock_path, NULL, 0) != 0)
                rc = err_set(e, PPR_EINPUT, "cannot touch '%s': %s", r->lock_path,
                             strerror(errno));
            if (changed)
                stage_say(r, "reused run %.12s from the run cache", key);
            else
                stage_say(r, "up to date");
            *done = rc == PPR_OK;
        }
        lock_release(&l);
    }
    free(record);
    return rc;
}

/* Whether the valid lock of node `from` names the object sha as the output
 * that the input called name is (lock_input_is_output). */
static int check_producer(const stage_run *r, const char *name, const char *from,
                          const char *sha, ppr_err *e)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.json", LOCK_DIR, from);
    lock l;
    int rc = lock_load_checked(&l, &r->st, path, e);
    if (rc)
        return err_wrap(e, "input \"%s\" of %s %s", name, r->stage, r->instance);
    int found = 0;
    for (size_t i = 0; i < l.n_outputs && !found; i++)
        found = strcmp(l.outputs[i].sha256, sha) == 0 &&
                lock_input_is_output(name, l.outputs[i].name);
    lock_release(&l);
    return found ? PPR_OK
                 : err_set(e, PPR_EINPUT, "input \"%s\" of %s %s (%.12s) is not an output of "
                           "'%s' (a stale slice or an edited lock: run ninja)",
                           name, r->stage, r->instance, sha, path);
}

int stage_input(stage_run *r, const char *name, int type, void **payload, size_t *n,
                ppr_err *e)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(r->slice, "inputs");
    for (const cJSON *it = in->child; it; it = it->next) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(it, "name");
        if (!cJSON_IsString(nm) || strcmp(nm->valuestring, name) != 0)
            continue;
        const char *sha, *from;
        int64_t bytes;
        if (json_get_str(it, "sha256", r->slice_path, &sha, e) ||
            json_get_str(it, "from", r->slice_path, &from, e) ||
            json_get_int(it, "bytes", r->slice_path, &bytes, e))
            return PPR_EINPUT;
        int rc = store_get(&r->st, sha, type, payload, n, NULL, e);
        if (rc)
            return err_wrap(e, "input \"%s\" of %s %s", name, r->stage, r->instance);
        if (*n != (uint64_t)bytes)
            rc = err_set(e, PPR_EINPUT, "input \"%s\" of %s %s holds %zu bytes, not the %lld "
                         "its producer recorded", name, r->stage, r->instance, *n,
                         (long long)bytes);
        if (rc == PPR_OK)
            rc = check_producer(r, name, from, sha, e);
        if (rc == PPR_OK && !cJSON_AddItemToArray(r->read, cJSON_CreateString(name)))
            rc = err_nomem(e);
        if (rc) {
            free(*payload);
            *payload = NULL;
            *n = 0;
        }
        return rc;
    }
    return err_set(e, PPR_EINPUT, "'%s' has no input \"%s\"", r->slice_path, name);
}

int stage_input_json(stage_run *r, const char *name, cJSON **out, ppr_err *e)
{
    void *payload;
    size_t n;
    *out = NULL;
    int rc = stage_input(r, name, PAYLOAD_JSON, &payload, &n, e);
    if (rc)
        return rc;
    char what[300];
    snprintf(what, sizeof what, "input \"%s\"", name);
    *out = json_parse_buf(payload, n, what, e);
    free(payload);
    return *out ? PPR_OK : PPR_EINPUT;
}

int stage_input_digest(const stage_run *r, const char *name, unsigned char *out, ppr_err *e)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(r->slice, "inputs");
    for (const cJSON *it = in->child; it; it = it->next) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(it, "name");
        const char *sha;
        if (!cJSON_IsString(nm) || strcmp(nm->valuestring, name) != 0)
            continue;
        if (json_get_str(it, "sha256", r->slice_path, &sha, e))
            return PPR_EINPUT;
        if (sha256_parse(sha, out))
            return err_set(e, PPR_EINPUT, "'%s': input \"%s\" has a malformed sha256",
                           r->slice_path, name);
        return PPR_OK;
    }
    return err_set(e, PPR_EINPUT, "'%s' has no input \"%s\"", r->slice_path, name);
}

void stage_previous(stage_run *r, const char *const *keys, const char *name, int type,
                    void **payload, size_t *n)
{
    *payload = NULL;
    *n = 0;
    lock l;
    if (lock_load_checked(&l, &r->st, r->lock_path, NULL))
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

/* One line of artifacts/log/runs.jsonl, written with one append so that a
 * failed or concurrent write never leaves half a line inside another. The
 * log is a diary, not a result: failing to write it does not fail the run. */
static void append_run_log(const stage_run *r, const char *key)
{
    char *dir = path_join(r->st.root, "log");
    char *path = path_join(r->st.root, RUN_LOG);
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    struct rusage ru;
    long peak_kib = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1; /* Linux: KiB */
    char *notes = cJSON_PrintUnformatted(r->notes);
    /* a stage that the Slurm launcher ran (launch.h) names its job */
    const char *job = getenv("SLURM_JOB_ID");
    strbuf line = {0};
    strbuf_addf(&line,
                RUN_LOG_HEAD "\"run\":\"%s\",\"seconds\":%.3f,"
                "\"peak_kib\":%ld,\"host\":\"%s\",",
                r->stage, r->instance, key, clock_seconds() - r->start, peak_kib, host);
    if (job && job[0] && strspn(job, "0123456789") == strlen(job))
        strbuf_addf(&line, "\"slurm_job\":\"%s\",", job);
    strbuf_addf(&line, "\"unix_time\":%lld,\"notes\":%s}\n", (long long)time(NULL),
                notes ? notes : "{}");
    int fd = dir && path && !line.failed && dir_make(dir, NULL) == PPR_OK
                 ? open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)
                 : -1;
    if (fd >= 0) {
        if (fd_write_full(fd, line.p, line.len) != 0)
            fprintf(stderr, "%s %s: cannot append to '%s': %s\n", r->stage, r->instance, path,
                    strerror(errno));
        close(fd);
    }
    strbuf_release(&line);
    cJSON_free(notes);
    free(dir);
    free(path);
}

/* Every object input of the slice was read: an input the stage skips would
 * be one it depends on in its lock but never checked. */
static int check_all_read(const stage_run *r, ppr_err *e)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(r->slice, "inputs");
    for (const cJSON *it = in->child; it; it = it->next) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(it, "name");
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(it, "kind");
        if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "object") != 0)
            continue;
        int seen = 0;
        for (const cJSON *rd = r->read->child; rd && !seen; rd = rd->next)
            seen = cJSON_IsString(nm) && strcmp(rd->valuestring, nm->valuestring) == 0;
        if (!seen)
            return err_set(e, PPR_EINTERNAL, "%s %s never read its input \"%s\" (the pipeline "
                           "lists an input this stage does not use)", r->stage, r->instance,
                           cJSON_IsString(nm) ? nm->valuestring : "?");
    }
    return PPR_OK;
}

int stage_commit(stage_run *r, ppr_err *e)
{
    int rc = check_all_read(r, e);
    if (rc)
        return rc;
    if (!r->outputs && !(r->outputs = cJSON_AddArrayToObject(r->lock, "outputs")))
        return err_nomem(e);
    char key[SHA256_HEX_LEN + 1];
    if (finish_tool(r, e) || lock_run_key(r->lock, key, e))
        return e ? e->code : PPR_EINTERNAL;
    char *runs = lock_runs_dir(&r->st);
    char *record = lock_record_path(&r->st, key);
    rc = !runs || !record ? err_nomem(e) : dir_make(runs, e);
    if (rc == PPR_OK)
        rc = json_write_if_changed(record, r->lock, NULL, e);
    if (rc == PPR_OK)
        rc = json_write_if_changed(r->lock_path, r->lock, NULL, e);
    if (rc == PPR_OK)
        append_run_log(r, key);
    free(runs);
    free(record);
    return rc;
}
