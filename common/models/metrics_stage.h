/* metrics_stage.h: how a stage whose result is one "metrics" artifact runs
 * (stages 05-07): OpenBLAS on the slice's "threads" (recorded in the lock),
 * the run cache, the computation, and its result stored and committed. */
#ifndef PPR_MODELS_METRICS_STAGE_H
#define PPR_MODELS_METRICS_STAGE_H

#include <cjson/cJSON.h>

#include "common/error.h"
#include "common/stage.h"

/* The computation: *metrics from r's slice and inputs, given arg. */
typedef int (*metrics_fn)(stage_run *r, const void *arg, cJSON **metrics, ppr_err *e);

int metrics_stage_run(stage_run *r, metrics_fn fn, const void *arg, ppr_err *e);

#endif
