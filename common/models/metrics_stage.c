/* metrics_stage.c: the run of a stage with one metrics artifact (see
 * metrics_stage.h). */
#include "common/models/metrics_stage.h"

#include <cblas.h>
#include <stdint.h>

#include "common/json.h"

int metrics_stage_run(stage_run *r, metrics_fn fn, const void *arg, ppr_err *e)
{
    int64_t threads;
    if (json_get_int(r->config, "threads", r->slice_path, &threads, e))
        return PPR_EINPUT;
    openblas_set_num_threads((int)threads);
    r->threads = (int)threads;
    r->openblas = openblas_get_config();
    int done, rc = stage_lookup(r, &done, e);
    if (rc || done)
        return rc;
    cJSON *metrics;
    if ((rc = fn(r, arg, &metrics, e)))
        return rc;
    rc = stage_put_json(r, "metrics", metrics, 1, e);
    cJSON_Delete(metrics);
    return rc ? rc : stage_commit(r, e);
}
