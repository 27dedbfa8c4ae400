/* model_seeds.c: model_seeds DIR writes one small model file of each method
 * and shape (tests/fuzz/seeds.sh's seeds for the `model` fuzz target): a
 * shared head, Individual RM, PRM in both modes, VPL, GPO and RAG, each trained a little on
 * random pairs and adapted to one new user, so that every part of each body
 * (heads, adapted users, offsets) is present. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/models/method.h"
#include "common/rng.h"

#define DIM 4
#define PAIRS 24

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: model_seeds DIR\n");
        return 2;
    }
    static const struct {
        const char *method, *mode;
    } kinds[] = {{"vanilla", "embed"}, {"individual", "embed"}, {"prm", "embed"},
                 {"prm", "output"}, {"vpl", "embed"}, {"gpo", "embed"},
                 {"rag", "embed"}};
    float matrix[3 * PAIRS * DIM]; /* [3 PAIRS][DIM] */
    uint32_t rows[3 * PAIRS], user[PAIRS], new_user[PAIRS];
    rng r;
    rng_seed(&r, 1, 0);
    for (size_t i = 0; i < sizeof matrix / sizeof *matrix; i++)
        matrix[i] = (float)rng_normal(&r);
    for (uint32_t i = 0; i < 3 * PAIRS; i++)
        rows[i] = i;
    for (uint32_t i = 0; i < PAIRS; i++) {
        user[i] = i % 2;
        new_user[i] = 2;
    }
    static const unsigned char matrix_id[SHA256_LEN] = {1}; /* RAG keeps rows of a named matrix */
    pair_set train = {matrix, DIM, rows, user, PAIRS, 2, matrix_id};
    pair_set adapt = {matrix, DIM, rows, new_user, 4, 3, matrix_id};
    optim_settings o = {.lr = 1e-2, .weight_decay = 1e-3, .clip = 1, .warmup_ratio = 0.1,
                        .batch = 8, .epochs = 2, .seed = 3};
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        char text[640], path[4096];
        snprintf(text, sizeof text,
                 "{\"head\": {\"hidden\": [3]}, \"prm\": {\"alpha\": 0.5, \"user_dim\": 2, "
                 "\"mode\": \"%s\"}, \"rag\": {\"k\": 2}, \"vpl\": {\"latent\": 2, \"hidden\": 3, "
                 "\"context_min\": 1, \"context_max\": 4, \"duplicates\": 2, \"kl_weight\": 0.1, "
                 "\"anneal_steps\": 10}, \"gpo\": {\"d_model\": 4, \"layers\": 1, \"heads\": 2, "
                 "\"ff\": 4, \"embed_depth\": 2, \"ctx_min\": 1, \"ctx_max\": 3, \"tar_min\": 1, "
                 "\"tar_max\": 3, \"eval_context\": 3, \"groups\": 2}}",
                 kinds[k].mode);
        cJSON *settings = cJSON_Parse(text);
        method *m = NULL;
        ppr_err e = {0};
        void *payload = NULL;
        size_t n = 0;
        int rc = settings ? method_new(&m, kinds[k].method, DIM, 2, settings, 5, &e) : PPR_EINTERNAL;
        if (rc == PPR_OK)
            rc = method_train(m, &train, &o, &e);
        if (rc == PPR_OK)
            rc = method_adapt(m, &adapt, 2, &o, &e);
        if (rc == PPR_OK)
            rc = method_save(m, &payload, &n, &e);
        snprintf(path, sizeof path, "%s/%s-%s.model", argv[1], kinds[k].method, kinds[k].mode);
        FILE *f = rc == PPR_OK ? fopen(path, "wb") : NULL;
        if (rc == PPR_OK && (!f || fwrite(payload, 1, n, f) != n || fclose(f) != 0)) {
            fprintf(stderr, "model_seeds: cannot write '%s'\n", path);
            return 2;
        }
        if (rc) {
            fprintf(stderr, "model_seeds: %s\n", e.msg);
            return 2;
        }
        free(payload);
        method_free(m);
        cJSON_Delete(settings);
    }
    return 0;
}
