/* main.c: stage 02, characterize: table 2 of the paper for one dataset
 * (disagreement, minority users, consistency, room for personalization). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "characterize.h"
#include "common/json.h"
#include "common/stage.h"

/* x with `digits` decimals into buf[16], or "?" (the paper's unknown) for NaN. */
static const char *fmt_or_unknown(char buf[16], double x, int digits)
{
    if (isnan(x))
        return "?";
    snprintf(buf, 16, "%.*f", digits, x);
    return buf;
}

static int run(stage_run *r, ppr_err *e)
{
    int done;
    char_params p;
    if (json_get_num(r->config, "highly_threshold", r->slice_path, &p.highly_threshold, e) ||
        json_get_num(r->config, "minority_below", r->slice_path, &p.minority_below, e) ||
        stage_lookup(r, &done, e))
        return e->code;
    if (done)
        return PPR_OK;
    void *payload;
    size_t n;
    int rc = stage_input(r, "dataset", PAYLOAD_PREFS, &payload, &n, e);
    if (rc)
        return rc;
    prefs_view v;
    char_result res = {0};
    rc = prefs_view_init(&v, payload, n, r->instance, e);
    if (rc == PPR_OK)
        rc = characterize(&v, &p, &res, e);
    if (rc == PPR_OK) {
        /* The dataset's name goes with its numbers, so a reader can check
         * that it was handed the table it asked for. */
        cJSON *json = char_result_json(&res, &v);
        rc = json && cJSON_AddStringToObject(json, "dataset", r->instance)
                 ? stage_put_json(r, "table2", json, res.n_users, e)
                 : err_nomem(e);
        cJSON_Delete(json);
    }
    if (rc == PPR_OK)
        rc = stage_commit(r, e);
    if (rc == PPR_OK) {
        char cont[16], highly[16], lo[16], hi[16];
        stage_say(r, "%u rows, %u shared triples, %%Cont %s%%, %%Highly %s%%, MV-ACC [%s, %s]",
                  res.n_rows, res.n_shared, fmt_or_unknown(cont, 100 * res.contested_rate, 1),
                  fmt_or_unknown(highly, 100 * res.highly_rate, 1),
                  fmt_or_unknown(lo, res.mv_acc_min, 2), fmt_or_unknown(hi, res.mv_acc_max, 2));
    }
    char_result_release(&res);
    free(payload);
    return rc;
}

int main(int argc, char **argv)
{
    return stage_main("02-characterize", "ppr-characterize", argc, argv, run);
}
