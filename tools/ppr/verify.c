/* verify.c: `ppr verify`, and the pieces every repository command shares:
 * which objects the roots (locks, run records) reference, and what the store
 * directory actually holds. */
#include "repo.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/fsutil.h"
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

/* Whether a file name ends in ".tmp" plus the six characters of mkstemp. */
static int is_temp_name(const char *name)
{
    size_t len = strlen(name);
    if (len <= 10 || strncmp(name + len - 10, ".tmp", 4) != 0)
        return 0;
    for (const char *p = name + len - 6; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
              (*p >= 'A' && *p <= 'Z')))
            return 0;
    return 1;
}

char *repo_runs_dir(const store *s)
{
    return path_join(s->root, RUNS_DIR);
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
    if (S_ISREG(st->st_mode) && is_temp_name(name))
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
    if (is_temp_name(name))
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
    if (S_ISREG(st->st_mode) && is_temp_name(name))
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
    char *runs = repo_runs_dir(s);
    int rc = runs ? PPR_OK : err_nomem(e);
    if (rc == PPR_OK)
        rc = dir_each(f, s->objects, objects_entry, NULL, e);
    if (rc == PPR_OK)
        rc = dir_each(f, runs, temp_entry, NULL, e);
    if (rc == PPR_OK)
        rc = dir_each(f, LOCK_DIR, temp_entry, NULL, e);
    if (rc == PPR_OK)
        rc = dir_each(f, "manifests", temp_entry, NULL, e);
    free(runs);
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

int repo_state_load(repo_state *st, ppr_err *e)
{
    memset(st, 0, sizeof *st);
    int rc = store_init(&st->s, NULL, e);
    if (rc)
        return rc;
    if (!(st->runs_dir = repo_runs_dir(&st->s)))
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
    store_release(&st->s);
    memset(st, 0, sizeof *st);
}

/* ---- ppr verify --------------------------------------------------------- */

int repo_verify(FILE *out, size_t *n_bad, ppr_err *e)
{
    *n_bad = 0;
    repo_state st;
    int rc = repo_state_load(&st, e);
    if (rc)
        return rc;
    size_t bad = 0, n_objects = 0, n_temps = 0;
    for (size_t i = 0; i < st.locks.n_bad; i++, bad++)
        fprintf(out, "malformed lock '%s': %s\n", st.locks.bad_paths[i], st.locks.bad_msgs[i]);
    for (size_t i = 0; i < st.runs.n_bad; i++, bad++)
        fprintf(out, "malformed run record '%s': %s (ppr gc removes it)\n",
                st.runs.bad_paths[i], st.runs.bad_msgs[i]);
    for (size_t i = 0; i < st.runs.n && rc == PPR_OK; i++)
        rc = repo_refs_add_lock(&st.refs, &st.runs.locks[i], e);
    if (rc)
        goto done;
    repo_refs_sort(&st.refs);
    size_t total = 0;
    for (size_t i = 0; i < st.files.n; i++)
        total += st.files.v[i].kind == REPO_FILE_OBJECT;
    progress pg;
    progress_init(&pg, "verify", total);
    for (size_t i = 0; i < st.files.n; i++) {
        const repo_file *f = &st.files.v[i];
        if (f->kind == REPO_FILE_TEMP) {
            fprintf(out, "stale temp file '%s' (ppr gc removes it)\n", f->path);
            n_temps++;
            continue;
        }
        if (f->kind == REPO_FILE_MISNAMED) {
            fprintf(out, "misnamed file '%s': %s\n", f->path, f->why);
            bad++;
            continue;
        }
        n_objects++;
        ppr_err ve = {0};
        int vrc = store_verify_file(f->path, f->hex, &ve);
        progress_add(&pg, 1);
        if (vrc == PPR_EINTERNAL) {
            rc = err_set(e, vrc, "%s", ve.msg);
            goto done;
        }
        if (vrc) {
            const repo_ref *r = repo_refs_find(&st.refs, f->hex);
            fprintf(out, "corrupt object %s: %s%s%s%s\n", f->hex, ve.msg,
                    r ? " (referenced by '" : "", r ? r->from : "", r ? "')" : "");
            bad++;
        }
    }
    progress_done(&pg, "objects", NULL);
    for (size_t i = 0; i < st.refs.n; i++) {
        if (store_has(&st.s, st.refs.v[i].hex))
            continue;
        int stale = strncmp(st.refs.v[i].from, st.runs_dir, strlen(st.runs_dir)) == 0;
        fprintf(out, "missing object %s: referenced by '%s'%s\n", st.refs.v[i].hex,
                st.refs.v[i].from, stale ? " (a stale run record; ppr gc removes it)" : "");
        n_objects++;
        bad++;
    }
    fprintf(out, "verified %zu objects, %zu bad", n_objects, bad);
    if (n_temps)
        fprintf(out, ", %zu stale temp file%s", n_temps, n_temps == 1 ? "" : "s");
    fputc('\n', out);
    *n_bad = bad;
done:
    repo_state_release(&st);
    return rc;
}
