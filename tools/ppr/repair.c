/* repair.c: rerunning the stage of a lock that is not valid. */
#include "repair.h"

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "common/fsutil.h"
#include "common/json.h"
#include "common/lock.h"
#include "common/store.h"

extern char **environ;

int repair_write_slice(const pipeline *p, const pipe_node *n, cJSON **out, ppr_err *e)
{
    cJSON *slice = NULL;
    int rc = pipeline_slice(p, n, &slice, e);
    if (rc == PPR_OK)
        rc = dir_make(SLICE_DIR, e);
    if (rc == PPR_OK)
        rc = json_write_if_changed(n->slice_path, slice, NULL, e);
    if (rc == PPR_OK && out)
        *out = slice;
    else
        cJSON_Delete(slice);
    return rc;
}

/* Run `<binary> <slice> <lock>` and wait; it prints its own lines. */
static int run_stage(const pipe_node *n, ppr_err *e)
{
    char *argv[] = {(char *)pipe_node_binary(n), n->slice_path, n->lock_path, NULL};
    pid_t pid;
    int status, en = posix_spawn(&pid, argv[0], NULL, NULL, argv, environ);
    if (en)
        return err_set(e, PPR_EINPUT, "cannot run '%s': %s", argv[0], strerror(en));
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return err_set(e, PPR_EINTERNAL, "waitpid: %s", strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return PPR_OK;
    return err_set(e, PPR_EINPUT, "rerunning '%s' to repair its lock failed (%s %d)", n->id,
                   WIFEXITED(status) ? "exit code" : "signal",
                   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

int repair_node(const pipeline *p, const pipe_node *n, size_t *repaired, ppr_err *e)
{
    store st;
    lock l;
    ppr_err why = {0};
    int rc = store_init(&st, NULL, e);
    if (rc)
        return rc;
    int valid = lock_load_checked(&l, &st, n->lock_path, &why) == PPR_OK;
    if (valid)
        lock_release(&l);
    store_release(&st);
    if (valid)
        return PPR_OK;
    fprintf(stderr, "ppr: %s; rerunning %s\n",
            file_exists(n->lock_path) ? why.msg : "its lock is missing", n->id);
    if ((rc = repair_upstream(p, n, repaired, e)) || (rc = repair_write_slice(p, n, NULL, e)) ||
        (rc = run_stage(n, e)))
        return rc;
    (*repaired)++;
    return PPR_OK;
}

int repair_upstream(const pipeline *p, const pipe_node *n, size_t *repaired, ppr_err *e)
{
    const pipe_node *up[PIPE_MAX_UPSTREAM];
    const char *prefix[PIPE_MAX_UPSTREAM];
    size_t n_up;
    int rc = pipeline_upstream(p, n, up, prefix, &n_up, e);
    for (size_t i = 0; i < n_up && rc == PPR_OK; i++)
        rc = repair_node(p, up[i], repaired, e);
    return rc;
}
