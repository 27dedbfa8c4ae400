/* repair.c: rerunning the stage of a lock that is not valid. */
#include "repair.h"

#include <stdio.h>

#include "common/fsutil.h"
#include "common/json.h"
#include "common/lock.h"
#include "common/proc.h"
#include "common/store.h"
#include "common/storelock.h"

int repair_write_slice(const pipeline *p, const pipe_node *n, ppr_err *e)
{
    store s;
    storelock l;
    cJSON *slice = NULL;
    char warning[1200] = "";
    /* Shared: a stage's sweep must not take a temp file being written here. */
    int rc = storelock_open(&s, &l, STORELOCK_SHARED, NULL, e);
    if (rc)
        return rc;
    if ((rc = pipeline_slice(p, n, &slice, e)) == PPR_OK &&
        (rc = dir_make(STAGE_SLICE_DIR, e)) == PPR_OK &&
        (rc = json_write_if_changed(n->slice_path, slice, NULL, e)) == PPR_OK)
        rc = pipeline_slice_deps(p, n, slice, warning, sizeof warning, e);
    storelock_close(&s, &l);
    cJSON_Delete(slice);
    if (rc == PPR_OK && warning[0])
        fprintf(stderr, "ppr slice: warning: %s\n", warning);
    return rc;
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
    char *argv[] = {(char *)pipe_node_binary(n), n->slice_path, n->lock_path, NULL};
    char what[300];
    snprintf(what, sizeof what, "to repair the lock of '%s'", n->id);
    if ((rc = repair_upstream(p, n, repaired, e)) || (rc = repair_write_slice(p, n, e)) ||
        (rc = proc_run(argv, what, e)))
        return rc;
    (*repaired)++;
    return PPR_OK;
}

int repair_upstream(const pipeline *p, const pipe_node *n, size_t *repaired, ppr_err *e)
{
    int rc = PPR_OK;
    for (size_t i = 0; i < n->n_inputs && rc == PPR_OK; i++)
        rc = repair_node(p, n->inputs[i].node, repaired, e);
    return rc;
}
