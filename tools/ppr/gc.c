/* gc.c: `ppr gc`: free the store of what no root can reach: objects that no
 * lock and no live run record references, run records whose objects are gone,
 * and temp files left by killed writers. Referenced objects are never touched,
 * even corrupt ones (`ppr verify` reports those). */
#include "repo.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The first object l references that the store lacks, or NULL. */
static const char *first_missing(const store *s, const lock *l)
{
    for (size_t i = 0; i < l->n_inputs; i++)
        if (strcmp(l->inputs[i].kind, "object") == 0 && !store_has(s, l->inputs[i].sha256))
            return l->inputs[i].sha256;
    for (size_t i = 0; i < l->n_outputs; i++)
        if (!store_has(s, l->outputs[i].sha256))
            return l->outputs[i].sha256;
    return NULL;
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static int drop(const char *path, int dry_run, ppr_err *e)
{
    if (!dry_run && unlink(path) != 0 && errno != ENOENT)
        return err_set(e, PPR_EINPUT, "cannot remove '%s': %s", path, strerror(errno));
    return PPR_OK;
}

/* Remove an emptied <2 hex> directory; one still holding files stays. */
static void bucket_prune(const char *object_path)
{
    const char *slash = strrchr(object_path, '/');
    char *dir = slash ? strndup(object_path, (size_t)(slash - object_path)) : NULL;
    if (dir)
        rmdir(dir);
    free(dir);
}

int repo_gc(int dry_run, FILE *out, uint64_t *freed_bytes, size_t *n_removed, ppr_err *e)
{
    *freed_bytes = 0;
    *n_removed = 0;
    repo_state st;
    int rc = repo_state_load(&st, "ppr gc", e);
    if (rc)
        return rc;
    const char *verb = dry_run ? "would remove" : "removed";
    uint64_t freed = 0;
    size_t removed = 0, kept = 0;
    if (st.locks.n_bad) {
        rc = err_set(e, PPR_EINPUT,
                     "lock '%s' is malformed, so gc cannot tell what it references; fix or "
                     "remove it first (%s)",
                     st.locks.bad_paths[0], st.locks.bad_msgs[0]);
        goto done;
    }

    /* Dead run records go first: the objects only they named become garbage. */
    for (size_t i = 0; i < st.runs.n_bad; i++) {
        uint64_t bytes = file_size(st.runs.bad_paths[i]);
        fprintf(out, "%s run record '%s': malformed\n", verb, st.runs.bad_paths[i]);
        if ((rc = drop(st.runs.bad_paths[i], dry_run, e)))
            goto done;
        freed += bytes;
        removed++;
    }
    for (size_t i = 0; i < st.runs.n; i++) {
        const lock *l = &st.runs.locks[i];
        const char *missing = first_missing(&st.s, l);
        if (!missing) {
            if ((rc = repo_refs_add_lock(&st.refs, l, e)))
                goto done;
            continue;
        }
        uint64_t bytes = file_size(l->path);
        fprintf(out, "%s run record '%s': object %s is missing\n", verb, l->path, missing);
        if ((rc = drop(l->path, dry_run, e)))
            goto done;
        freed += bytes;
        removed++;
    }
    repo_refs_sort(&st.refs);

    for (size_t i = 0; i < st.files.n; i++) {
        const repo_file *f = &st.files.v[i];
        if (f->kind != REPO_FILE_OBJECT)
            continue;
        if (repo_refs_find(&st.refs, f->hex)) {
            kept++;
            continue;
        }
        fprintf(out, "%s object %s (%llu bytes)\n", verb, f->hex,
                (unsigned long long)f->bytes);
        if ((rc = drop(f->path, dry_run, e)))
            goto done;
        if (!dry_run)
            bucket_prune(f->path);
        freed += f->bytes;
        removed++;
    }
    for (size_t i = 0; i < st.files.n; i++) {
        const repo_file *f = &st.files.v[i];
        if (f->kind != REPO_FILE_TEMP)
            continue;
        fprintf(out, "%s stale temp file '%s' (%llu bytes)\n", verb, f->path,
                (unsigned long long)f->bytes);
        if ((rc = drop(f->path, dry_run, e)))
            goto done;
        freed += f->bytes;
        removed++;
    }
    fprintf(out, "kept %zu referenced object%s; %s %zu file%s, %s %llu bytes\n", kept,
            kept == 1 ? "" : "s", verb, removed, removed == 1 ? "" : "s",
            dry_run ? "would free" : "freed", (unsigned long long)freed);
done:
    *freed_bytes = freed;
    *n_removed = removed;
    repo_state_release(&st);
    return rc;
}
