/* main.c: stage 03, encode: every text of one dataset or evaluation set (and
 * Conditional RM's "User ID" prompts when that method runs) as a vector of the
 * configured encoder, each text encoded once: rows the previous matrix of the
 * same encoder holds are reused. Writes the feature matrix and a summary; how
 * many rows it encoded and reused goes to the run log. */
#include <stdlib.h>
#include <string.h>

#include "common/features.h"
#include "common/json.h"
#include "common/prefs.h"
#include "common/stage.h"
#include "encode.h"
#include "encoder.h"

#define GLOVE_INPUT "glove/embeddings"

/* The configured encoder; *emb receives the embeddings it reads (glove). */
static int open_encoder(stage_run *r, const char *name, encoder **enc, void **emb,
                        ppr_err *e)
{
    const cJSON *cfg = json_get_obj(r->config, name, r->slice_path, e);
    if (!cfg)
        return PPR_EINPUT;
    if (strcmp(name, "hash") == 0)
        return hashenc_open(enc, cfg, r->slice_path, e);
    if (strcmp(name, "command") == 0)
        return cmdenc_open(enc, cfg, r->slice_path, e);
    if (strcmp(name, "glove") == 0) {
        size_t n;
        int rc = stage_input(r, GLOVE_INPUT, PAYLOAD_EMBEDDINGS, emb, &n, e);
        return rc ? rc : gloveenc_open(enc, cfg, *emb, n, r->slice_path, e);
    }
    return err_set(e, PPR_EINPUT, "'%s': unknown encoder \"%s\"", r->slice_path, name);
}

static int run(stage_run *r, ppr_err *e)
{
    const char *name;
    int64_t threads, batch;
    const cJSON *cond = cJSON_GetObjectItemCaseSensitive(r->config, "conditional");
    if (json_get_str(r->config, "encoder", r->slice_path, &name, e) ||
        json_get_int(r->config, "threads", r->slice_path, &threads, e) ||
        json_get_int(r->config, "batch", r->slice_path, &batch, e))
        return PPR_EINPUT;
    /* The command encoder is one external program at a time. */
    r->threads = strcmp(name, "command") == 0 ? 1 : (int)threads;
    int done;
    int rc = stage_lookup(r, &done, e);
    if (rc || done)
        return rc;
    void *data = NULL, *emb = NULL, *prev = NULL, *payload = NULL;
    size_t n_data, n_prev, size;
    encoder *enc = NULL;
    text_list tl = {0};
    float *matrix = NULL;
    prefs_view v;
    features_view pv;
    if ((rc = stage_input(r, "dataset", PAYLOAD_PREFS, &data, &n_data, e)) ||
        (rc = prefs_view_init(&v, data, n_data, r->instance, e)) ||
        (rc = open_encoder(r, name, &enc, &emb, e)) ||
        (rc = text_list_build(&tl, &v, cJSON_IsTrue(cond), e)))
        goto out;
    /* Vectors depend on the encoder and its settings only. */
    const char *const same[] = {"encoder", name, NULL};
    stage_previous(r, same, "features", PAYLOAD_FEATURES, &prev, &n_prev);
    if (prev && features_view_init(&pv, prev, n_prev, "previous features", NULL) != PPR_OK) {
        free(prev);
        prev = NULL;
    }
    if (!(matrix = malloc((tl.n ? tl.n : 1) * (size_t)enc->dim * sizeof *matrix))) {
        rc = err_nomem(e);
        goto out;
    }
    size_t encoded;
    if ((rc = encode_texts(enc, prev ? &pv : NULL, &tl, (size_t)batch, r->threads, matrix,
                           &encoded, e)) ||
        (rc = features_pack((uint32_t)tl.n, enc->dim, tl.hashes, matrix, &payload, &size, e)) ||
        (rc = stage_put(r, "features", PAYLOAD_FEATURES, payload, size, tl.n, e)))
        goto out;
    cJSON *info = cJSON_CreateObject();
    if (!info || !cJSON_AddStringToObject(info, "encoder", name) ||
        !cJSON_AddNumberToObject(info, "dim", enc->dim) ||
        !cJSON_AddNumberToObject(info, "rows", (double)tl.n) ||
        !cJSON_AddNumberToObject(info, "table_rows", (double)tl.n_table) ||
        !cJSON_AddNumberToObject(info, "conditional_rows", (double)(tl.n - tl.n_table)))
        rc = err_nomem(e);
    /* How many rows were reused depends on what the store held before, not on
     * the config and inputs: the run log's, never the lock's. */
    if (rc == PPR_OK && (rc = stage_note(r, "encoded", (double)encoded, e)) == PPR_OK)
        rc = stage_note(r, "reused", (double)(tl.n - encoded), e);
    if (rc == PPR_OK)
        rc = stage_put_json(r, "info", info, tl.n, e);
    cJSON_Delete(info);
    if (rc == PPR_OK && (rc = stage_commit(r, e)) == PPR_OK)
        stage_say(r, "%zu texts x %u (%s): encoded %zu, reused %zu", tl.n, enc->dim, name,
                  encoded, tl.n - encoded);
out:
    free(payload);
    free(matrix);
    text_list_release(&tl);
    encoder_free(enc);
    free(prev);
    free(emb);
    free(data);
    return rc;
}

int main(int argc, char **argv)
{
    return stage_main("03-encode", "ppr-encode", argc, argv, run);
}
