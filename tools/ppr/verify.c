/* verify.c: `ppr verify`, and the pieces every repository command shares:
 * which objects the roots (locks, run records) reference, and what the store
 * directory actually holds. */
#include "repo.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/mem.h"
#include "common/proc.h"
#include "common/progress.h"

/* ---- references --------------------------------------------------------- */

static int refs_add(repo_refs *r, const char *hex, const char *from, ppr_err *e)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 64;
        repo_ref *v = realloc(r->v, cap * sizeof *v);
        if (!v)
            return err_nomem(e);
        r->v = v;
        r->cap = cap;
    }
    repo_ref *ref = &r->v[r->n];
    memcpy(ref->hex, hex, sizeof ref->hex);
    if (!(ref->from = strdup(from)))
        return err_nomem(e);
    ref->seq = r->n++;
    return PPR_OK;
}

int repo_refs_add_lock(repo_refs *r, const lock *l, ppr_err *e)
{
    for (size_t i = 0; i < l->n_inputs; i++)
        if (strcmp(l->inputs[i].kind, "object") == 0 &&
            refs_add(r, l->inputs[i].sha256, l->path, e))
            return PPR_EINTERNAL;
    for (size_t i = 0; i < l->n_outputs; i++)
        if (refs_add(r, l->outputs[i].sha256, l->path, e))
            return PPR_EINTERNAL;
    return PPR_OK;
}

static int ref_cmp(const void *a, const void *b)
{
    const repo_ref *x = a, *y = b;
    int c = strcmp(x->hex, y->hex);
    return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

void repo_refs_sort(repo_refs *r)
{
    if (r->n == 0)
        return;
    qsort(r->v, r->n, sizeof *r->v, ref_cmp);
    size_t k = 0;
    for (size_t i = 1; i < r->n; i++) {
        if (strcmp(r->v[i].hex, r->v[k].hex) == 0) {
            free(r->v[i].from);
            continue;
        }
        r->v[++k] = r->v[i];
    }
    r->n = k + 1;
}

static int ref_key_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const repo_ref *)elem)->hex);
}

const repo_ref *repo_refs_find(const repo_refs *r, const char *hex)
{
    return r->n ? bsearch(hex, r->v, r->n, sizeof *r->v, ref_key_cmp) : NULL;
}

void repo_refs_release(repo_refs *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i].from);
    free(r->v);
    memset(r, 0, sizeof *r);
}

/* ---- lock sets ---------------------------------------------------------- */

int repo_lockset_load(repo_lockset *ls, const char *dir, ppr_err *e)
{
    memset(ls, 0, sizeof *ls);
    char **paths;
    size_t n;
    int rc = lock_paths(dir, &paths, &n, e);
    if (rc)
        return rc;
    ls->locks = calloc(n ? n : 1, sizeof *ls->locks);
    ls->bad_paths = calloc(n ? n : 1, sizeof *ls->bad_paths);
    ls->bad_msgs = calloc(n ? n : 1, sizeof *ls->bad_msgs);
    if (!ls->locks || !ls->bad_paths || !ls->bad_msgs) {
        rc = err_nomem(e);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        ppr_err le = {0};
        int lrc = lock_load(&ls->locks[ls->n], paths[i], &le);
        if (lrc == PPR_OK) {
            ls->n++;
            continue;
        }
        if (lrc != PPR_EINPUT) {
            rc = err_set(e, lrc, "%s", le.msg);
            goto done;
        }
        ls->bad_paths[ls->n_bad] = strdup(paths[i]);
        ls->bad_msgs[ls->n_bad] = strdup(le.msg);
        if (!ls->bad_paths[ls->n_bad] || !ls->bad_msgs[ls->n_bad]) {
            ls->n_bad++;
            rc = err_nomem(e);
            goto done;
        }
        ls->n_bad++;
    }
done:
    lock_paths_free(paths, n);
    if (rc)
        repo_lockset_release(ls);
    return rc;
}

void repo_lockset_release(repo_lockset *ls)
{
    if (!ls)
        return;
    for (size_t i = 0; i < ls->n; i++)
        lock_release(&ls->locks[i]);
    for (size_t i = 0; i < ls->n_bad; i++) {
        free(ls->bad_paths[i]);
        free(ls->bad_msgs[i]);
    }
    free(ls->locks);
    free(ls->bad_paths);
    free(ls->bad_msgs);
    memset(ls, 0, sizeof *ls);
}

/* ---- store contents ----------------------------------------------------- */

static int is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

int repo_object_name(const char *dir2, const char *file, char hex[SHA256_HEX_LEN + 1])
{
    if (strlen(dir2) != 2 || !is_lower_hex(dir2, 2) || strlen(file) != 66 ||
        !is_lower_hex(file, 62) || strcmp(file + 62, ".zst") != 0)
        return 0;
    memcpy(hex, dir2, 2);
    memcpy(hex + 2, file, 62);
    hex[SHA256_HEX_LEN] = '\0';
    return 1;
}

static int files_add(repo_files *f, int kind, char *path, const char *hex,
                     uint64_t bytes, const char *why, ppr_err *e)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 64;
        repo_file *v = realloc(f->v, cap * sizeof *v);
        if (!v) {
            free(path);
            return err_nomem(e);
        }
        f->v = v;
        f->cap = cap;
    }
    repo_file *r = &f->v[f->n++];
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->path = path;
    if (hex)
        memcpy(r->hex, hex, sizeof r->hex);
    r->bytes = bytes;
    r->why = why;
    return PPR_OK;
}

/* Visit the entries of dir; fn takes ownership of the joined path. A missing
 * directory has no entries. */
typedef int (*entry_fn)(repo_files *f, char *path, const char *name,
                        const struct stat *st, const void *arg, ppr_err *e);

static int dir_each(repo_files *f, const char *dir, entry_fn fn, const void *arg,
                    ppr_err *e)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? PPR_OK
                               : err_set(e, PPR_EINPUT, "cannot read directory '%s': %s",
                                         dir, strerror(errno));
    int rc = PPR_OK;
    struct dirent *de;
    while (rc == PPR_OK && (de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *path = path_join(dir, de->d_name);
        if (!path) {
            rc = err_nomem(e);
            break;
        }
        struct stat st;
        if (lstat(path, &st) != 0) { /* vanished meanwhile */
            free(path);
            continue;
        }
        rc = fn(f, path, de->d_name, &st, arg, e);
    }
    closedir(d);
    return rc;
}

static int temp_entry(repo_files *f, char *path, const char *name, const struct stat *st,
                      const void *arg, ppr_err *e)
{
    (void)arg;
    if (S_ISREG(st->st_mode) && file_is_temp_name(name))
        return files_add(f, REPO_FILE_TEMP, path, NULL, (uint64_t)st->st_size, NULL, e);
    free(path);
    return PPR_OK;
}

static int bucket_entry(repo_files *f, char *path, const char *name, const struct stat *st,
                        const void *arg, ppr_err *e)
{
    char hex[SHA256_HEX_LEN + 1];
    uint64_t bytes = (uint64_t)st->st_size;
    if (!S_ISREG(st->st_mode))
        return files_add(f, REPO_FILE_MISNAMED, path, NULL, 0, "not a regular file", e);
    if (repo_object_name(arg, name, hex))
        return files_add(f, REPO_FILE_OBJECT, path, hex, bytes, NULL, e);
    if (file_is_temp_name(name))
        return files_add(f, REPO_FILE_TEMP, path, NULL, bytes, NULL, e);
    return files_add(f, REPO_FILE_MISNAMED, path, NULL, bytes,
                     "not an object name (<62 hex>.zst)", e);
}

static int objects_entry(repo_files *f, char *path, const char *name,
                         const struct stat *st, const void *arg, ppr_err *e)
{
    (void)arg;
    if (S_ISDIR(st->st_mode) && strlen(name) == 2 && is_lower_hex(name, 2)) {
        int rc = dir_each(f, path, bucket_entry, name, e);
        free(path);
        return rc;
    }
    if (S_ISREG(st->st_mode) && file_is_temp_name(name))
        return files_add(f, REPO_FILE_TEMP, path, NULL, (uint64_t)st->st_size, NULL, e);
    return files_add(f, REPO_FILE_MISNAMED, path, NULL,
                     S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0,
                     "not a two-hex-digit object directory", e);
}

static int file_cmp(const void *a, const void *b)
{
    return strcmp(((const repo_file *)a)->path, ((const repo_file *)b)->path);
}

int repo_files_scan(repo_files *f, const store *s, ppr_err *e)
{
    memset(f, 0, sizeof *f);
    char **dirs = stage_temp_dirs(s);
    int rc = dirs ? dir_each(f, s->objects, objects_entry, NULL, e) : err_nomem(e);
    for (size_t i = 0; rc == PPR_OK && dirs[i]; i++)
        rc = dir_each(f, dirs[i], temp_entry, NULL, e);
    stage_temp_dirs_free(dirs);
    if (rc) {
        repo_files_release(f);
        return rc;
    }
    if (f->n)
        qsort(f->v, f->n, sizeof *f->v, file_cmp);
    return PPR_OK;
}

void repo_files_release(repo_files *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i].path);
    free(f->v);
    memset(f, 0, sizeof *f);
}

int repo_state_load(repo_state *st, const char *who, ppr_err *e)
{
    memset(st, 0, sizeof *st);
    int rc = storelock_open(&st->s, &st->lk, STORELOCK_EXCLUSIVE, who, e);
    if (rc)
        return rc;
    if (!(st->runs_dir = lock_runs_dir(&st->s)))
        rc = err_nomem(e);
    if (rc == PPR_OK)
        rc = repo_lockset_load(&st->locks, LOCK_DIR, e);
    if (rc == PPR_OK)
        rc = repo_lockset_load(&st->runs, st->runs_dir, e);
    for (size_t i = 0; i < st->locks.n && rc == PPR_OK; i++)
        rc = repo_refs_add_lock(&st->refs, &st->locks.locks[i], e);
    if (rc == PPR_OK)
        rc = repo_files_scan(&st->files, &st->s, e);
    if (rc)
        repo_state_release(st);
    return rc;
}

void repo_state_release(repo_state *st)
{
    if (!st)
        return;
    repo_files_release(&st->files);
    repo_refs_release(&st->refs);
    repo_lockset_release(&st->runs);
    repo_lockset_release(&st->locks);
    free(st->runs_dir);
    storelock_close(&st->s, &st->lk);
    memset(st, 0, sizeof *st);
}

/* ---- ppr verify --------------------------------------------------------- */

/* An object as the store holds it, from the pass over its files. */
typedef struct {
    char hex[SHA256_HEX_LEN + 1];
    int type;      /* its payload type; -1 when it is damaged */
    uint64_t size; /* its payload bytes */
} held;

/* One output of one lock or run record: which node made which object. */
typedef struct {
    char hex[SHA256_HEX_LEN + 1];
    char node[256];
    const char *name;
} made;

typedef struct {
    repo_state st;
    held *objects; /* [n_objects], sorted by hex */
    size_t n_objects;
    made *outputs; /* [n_outputs], sorted by hex */
    size_t n_outputs;
    FILE *out;
    size_t bad;
    char **doomed; /* [n_doomed] files a repair removes */
    size_t n_doomed, cap_doomed;
} verifier;

static int held_cmp(const void *a, const void *b)
{
    return strcmp(((const held *)a)->hex, ((const held *)b)->hex);
}

static int held_key_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const held *)elem)->hex);
}

static int made_cmp(const void *a, const void *b)
{
    return strcmp(((const made *)a)->hex, ((const made *)b)->hex);
}

static const held *held_find(const verifier *v, const char *hex)
{
    return v->n_objects ? bsearch(hex, v->objects, v->n_objects, sizeof *v->objects, held_key_cmp)
                        : NULL;
}

/* Report one finding; when the file it is about can be rebuilt, a repair
 * removes it (a stage reruns, or a cache entry is dropped). */
static int finding(verifier *v, const char *doom, ppr_err *e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int finding(verifier *v, const char *doom, ppr_err *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(v->out, fmt, ap);
    va_end(ap);
    fputc('\n', v->out);
    v->bad++;
    if (!doom)
        return PPR_OK;
    for (size_t i = 0; i < v->n_doomed; i++)
        if (strcmp(v->doomed[i], doom) == 0)
            return PPR_OK;
    if (mem_grow((void **)&v->doomed, &v->cap_doomed, v->n_doomed + 1, sizeof *v->doomed) ||
        !(v->doomed[v->n_doomed] = strdup(doom)))
        return err_nomem(e);
    v->n_doomed++;
    return PPR_OK;
}

/* Decompress and re-hash every file of the store. */
static int verify_files(verifier *v, ppr_err *e)
{
    const repo_files *f = &v->st.files;
    size_t total = 0;
    for (size_t i = 0; i < f->n; i++)
        total += f->v[i].kind == REPO_FILE_OBJECT;
    if (!(v->objects = calloc(total ? total : 1, sizeof *v->objects)))
        return err_nomem(e);
    progress pg;
    progress_init(&pg, "verify", total);
    int rc = PPR_OK;
    for (size_t i = 0; i < f->n && rc == PPR_OK; i++) {
        const repo_file *rf = &f->v[i];
        if (rf->kind == REPO_FILE_TEMP) {
            rc = finding(v, rf->path, e, "stale temp file '%s' (left by a killed run)",
                         rf->path);
            continue;
        }
        if (rf->kind == REPO_FILE_MISNAMED) {
            rc = finding(v, NULL, e, "misnamed file '%s': %s", rf->path, rf->why);
            continue;
        }
        held *h = &v->objects[v->n_objects++];
        memcpy(h->hex, rf->hex, sizeof h->hex);
        void *payload;
        size_t n;
        ppr_err ve = {0};
        int vrc = store_get(&v->st.s, rf->hex, -1, &payload, &n, &h->type, &ve);
        progress_add(&pg, 1);
        if (vrc == PPR_EINTERNAL)
            rc = err_set(e, vrc, "%s", ve.msg);
        else if (vrc == PPR_OK)
            free(payload);
        h->size = n;
        if (vrc == PPR_EINPUT) {
            h->type = -1;
            const repo_ref *r = repo_refs_find(&v->st.refs, rf->hex);
            rc = finding(v, rf->path, e, "corrupt object %s: %s%s%s%s", rf->hex, ve.msg,
                         r ? " (referenced by '" : "", r ? r->from : "", r ? "')" : "");
        }
    }
    progress_done(&pg, "objects", NULL);
    return rc;
}

/* Index every output of every lock and run record by object. */
static int index_outputs(verifier *v, ppr_err *e)
{
    const repo_lockset *sets[2] = {&v->st.locks, &v->st.runs};
    size_t total = 0;
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < sets[k]->n; i++)
            total += sets[k]->locks[i].n_outputs;
    if (!(v->outputs = calloc(total ? total : 1, sizeof *v->outputs)))
        return err_nomem(e);
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < sets[k]->n; i++) {
            const lock *l = &sets[k]->locks[i];
            for (size_t j = 0; j < l->n_outputs; j++) {
                made *m = &v->outputs[v->n_outputs++];
                memcpy(m->hex, l->outputs[j].sha256, sizeof m->hex);
                lock_node_id(l, m->node, sizeof m->node);
                m->name = l->outputs[j].name;
            }
        }
    if (v->n_outputs)
        qsort(v->outputs, v->n_outputs, sizeof *v->outputs, made_cmp);
    return PPR_OK;
}

/* Whether node `from` made object hex as the output the input `name` is. */
static int made_by(const verifier *v, const char *hex, const char *from, const char *name)
{
    made key;
    memcpy(key.hex, hex, sizeof key.hex);
    const made *m = v->n_outputs ? bsearch(&key, v->outputs, v->n_outputs, sizeof *v->outputs,
                                           made_cmp)
                                 : NULL;
    while (m && m > v->outputs && strcmp(m[-1].hex, hex) == 0)
        m--;
    for (; m && m < v->outputs + v->n_outputs && strcmp(m->hex, hex) == 0; m++)
        if (strcmp(m->node, from) == 0 && lock_input_is_output(name, m->name))
            return 1;
    return 0;
}

/* Every field l records about an object, against the store: each output is
 * there, whole, of its type and size; each object input too, and made by the
 * node it names. `what` is "lock" or "run record"; a record with a missing
 * object is stale (gc drops it), which is only counted. */
static int verify_entries(verifier *v, const lock *l, const char *what, ppr_err *e)
{
    int rc = PPR_OK;
    for (size_t i = 0; i < l->n_outputs && rc == PPR_OK; i++) {
        const lock_entry *o = &l->outputs[i];
        const held *h = held_find(v, o->sha256);
        if (!h)
            rc = finding(v, l->path, e, "missing object %s: output \"%s\" of %s '%s'", o->sha256,
                         o->name, what, l->path);
        else if (h->type >= 0 && (strcmp(payload_type_name(h->type) ? payload_type_name(h->type)
                                                                     : "?",
                                         o->type) != 0 ||
                                  h->size != o->bytes))
            rc = finding(v, l->path, e,
                         "%s '%s': output \"%s\" (%.12s) holds %s, %llu bytes; the %s records "
                         "%s, %llu bytes",
                         what, l->path, o->name, o->sha256,
                         payload_type_name(h->type) ? payload_type_name(h->type) : "?",
                         (unsigned long long)h->size, what, o->type,
                         (unsigned long long)o->bytes);
    }
    for (size_t i = 0; i < l->n_inputs && rc == PPR_OK; i++) {
        const lock_entry *in = &l->inputs[i];
        if (strcmp(in->kind, "object") != 0)
            continue;
        const held *h = held_find(v, in->sha256);
        if (!h)
            rc = finding(v, NULL, e, "missing object %s: input \"%s\" of %s '%s'", in->sha256,
                         in->name, what, l->path);
        else if (h->type >= 0 && h->size != in->bytes)
            rc = finding(v, l->path, e,
                         "%s '%s': input \"%s\" (%.12s) holds %llu bytes; the %s records %llu",
                         what, l->path, in->name, in->sha256, (unsigned long long)h->size, what,
                         (unsigned long long)in->bytes);
        else if (!made_by(v, in->sha256, in->from, in->name))
            rc = finding(v, l->path, e,
                         "%s '%s': input \"%s\" (%.12s) is no output \"%s\" of '%s' in any lock "
                         "or run record",
                         what, l->path, in->name, in->sha256, in->name, in->from);
    }
    return rc;
}

static int verify_roots(verifier *v, ppr_err *e)
{
    const repo_lockset *locks = &v->st.locks, *runs = &v->st.runs;
    int rc = PPR_OK;
    for (size_t i = 0; i < locks->n_bad && rc == PPR_OK; i++)
        rc = finding(v, locks->bad_paths[i], e, "malformed lock: %s", locks->bad_msgs[i]);
    for (size_t i = 0; i < runs->n_bad && rc == PPR_OK; i++)
        rc = finding(v, runs->bad_paths[i], e, "malformed run record: %s", runs->bad_msgs[i]);
    for (size_t i = 0; i < runs->n && rc == PPR_OK; i++) {
        const lock *l = &runs->locks[i];
        char key[SHA256_HEX_LEN + 1];
        const char *base = strrchr(l->path, '/');
        rc = lock_run_key(l->json, key, e);
        if (rc == PPR_OK && (strncmp(base ? base + 1 : l->path, key, SHA256_HEX_LEN) != 0))
            rc = finding(v, l->path, e, "run record '%s' is not named by its run key %.12s",
                         l->path, key);
        else if (rc == PPR_OK)
            rc = verify_entries(v, l, "run record", e);
    }
    for (size_t i = 0; i < locks->n && rc == PPR_OK; i++) {
        const lock *l = &locks->locks[i];
        ppr_err why = {0};
        if (lock_record_matches(&v->st.s, l, &why))
            rc = finding(v, l->path, e, "%s", why.msg);
        if (rc == PPR_OK)
            rc = verify_entries(v, l, "lock", e);
    }
    return rc;
}

static void verifier_release(verifier *v)
{
    repo_state_release(&v->st);
    free(v->objects);
    free(v->outputs);
    for (size_t i = 0; i < v->n_doomed; i++)
        free(v->doomed[i]);
    free(v->doomed);
    memset(v, 0, sizeof *v);
}

/* The whole check, under the store lock held exclusive. */
static int verify_run(verifier *v, FILE *out, const char *who, ppr_err *e)
{
    memset(v, 0, sizeof *v);
    v->out = out;
    int rc = repo_state_load(&v->st, who, e);
    if (rc == PPR_OK) {
        repo_refs_sort(&v->st.refs);
        rc = verify_files(v, e);
    }
    if (rc == PPR_OK && v->n_objects)
        qsort(v->objects, v->n_objects, sizeof *v->objects, held_cmp);
    if (rc == PPR_OK)
        rc = index_outputs(v, e);
    if (rc == PPR_OK)
        rc = verify_roots(v, e);
    if (rc == PPR_OK)
        fprintf(out, "verified %zu objects, %zu locks, %zu run records: %zu bad\n",
                v->n_objects, v->st.locks.n + v->st.locks.n_bad, v->st.runs.n + v->st.runs.n_bad,
                v->bad);
    return rc;
}

int repo_verify(FILE *out, size_t *n_bad, ppr_err *e)
{
    verifier v;
    int rc = verify_run(&v, out, "ppr verify", e);
    *n_bad = v.bad;
    verifier_release(&v);
    return rc;
}

int repo_repair(FILE *out, size_t *n_bad, ppr_err *e)
{
    *n_bad = 0;
    verifier v;
    int rc = verify_run(&v, out, "ppr verify --repair", e);
    size_t removed = 0;
    for (size_t i = 0; i < v.n_doomed && rc == PPR_OK; i++) {
        if (unlink(v.doomed[i]) != 0 && errno != ENOENT)
            rc = err_set(e, PPR_EINPUT, "cannot remove '%s': %s", v.doomed[i], strerror(errno));
        removed++;
    }
    size_t found = v.bad;
    verifier_release(&v);
    if (rc)
        return rc;
    if (!found) {
        *n_bad = 0;
        return PPR_OK;
    }
    fprintf(out, "repair: removed %zu damaged file%s; rebuilding them with ninja\n", removed,
            removed == 1 ? "" : "s");
    char *argv[] = {"ninja", NULL};
    if ((rc = proc_run(argv, "while rebuilding what was removed", e)))
        return rc;
    return repo_verify(out, n_bad, e);
}
