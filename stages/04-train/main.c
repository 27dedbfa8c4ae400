/* main.c: stage 04, train: one (dataset, method) over the configured train
 * sizes and seeds (docs/train.md): the first `size` training pairs in file
 * order, epochs chosen on a validation part of them by the paper's rule, the
 * final head retrained on all of them, then strict per-user accuracy on the
 * first `eval_size` test pairs. Writes one model per (size, seed) and the
 * metrics. The "pretrained" instance trains the reference on general
 * preference data; a (dataset, "pretrained") instance evaluates it. */
#include <cblas.h>
#include <string.h>

#include "common/stage.h"
#include "train.h"

static int run(stage_run *r, ppr_err *e)
{
    train_setup ts;
    int rc = train_setup_read(&ts, r, e);
    if (rc)
        return rc;
    openblas_set_num_threads(ts.threads);
    r->threads = ts.threads;
    r->openblas = openblas_get_config();
    int done;
    if ((rc = stage_lookup(r, &done, e)) || done) {
        train_setup_release(&ts);
        return rc;
    }
    cJSON *metrics = NULL;
    if (strcmp(r->instance, "pretrained") == 0)
        rc = train_reference(r, &ts, &metrics, e);
    else if (strcmp(ts.method, "pretrained") == 0)
        rc = train_evaluate_reference(r, &ts, &metrics, e);
    else
        rc = train_dataset(r, &ts, &metrics, e);
    if (rc == PPR_OK)
        rc = stage_put_json(r, "metrics", metrics, (uint64_t)cJSON_GetArraySize(
                                cJSON_GetObjectItemCaseSensitive(metrics, "runs")), e);
    if (rc == PPR_OK)
        rc = stage_commit(r, e);
    cJSON_Delete(metrics);
    train_setup_release(&ts);
    return rc;
}

int main(int argc, char **argv)
{
    return stage_main("04-train", "ppr-train", argc, argv, run);
}
