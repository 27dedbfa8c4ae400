/* bench_vpl.c: the wall-clock time of one VPL training epoch (common/models/
 * vpl.c through method_train: every pair `duplicates` times, each row with
 * its own context, AdamW over the whole network) and of serving its users,
 * on random features, for sizing a profile. Run single-threaded with
 * OPENBLAS_NUM_THREADS=1, or as OpenBLAS is set. Usage:
 *   bench_vpl DIM PAIRS USERS LATENT HIDDEN [BATCH]
 * prints the epoch's seconds (with the model's creation and the served
 * users' encoding) and rows per second. A time, never a test. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/models/method.h"
#include "common/rng.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc != 6 && argc != 7) {
        fprintf(stderr, "usage: bench_vpl DIM PAIRS USERS LATENT HIDDEN [BATCH]\n");
        return 2;
    }
    uint32_t dim = (uint32_t)atol(argv[1]), users = (uint32_t)atol(argv[3]);
    size_t n = (size_t)atol(argv[2]);
    unsigned latent = (unsigned)atol(argv[4]), hidden = (unsigned)atol(argv[5]);
    uint32_t batch = argc == 7 ? (uint32_t)atol(argv[6]) : 32;
    float *matrix = malloc(3 * n * dim * sizeof *matrix); /* [3 n][dim] */
    uint32_t *rows = malloc(3 * n * sizeof *rows), *user = malloc(n * sizeof *user);
    if (!matrix || !rows || !user || !dim || !n || !users) {
        fprintf(stderr, "bench_vpl: bad sizes or out of memory\n");
        return 2;
    }
    rng r;
    rng_seed(&r, 1, 0);
    for (size_t i = 0; i < 3 * n * dim; i++)
        matrix[i] = (float)(rng_normal(&r) / 32);
    for (size_t i = 0; i < n; i++) {
        for (int t = 0; t < 3; t++)
            rows[3 * i + t] = (uint32_t)(3 * i + t);
        user[i] = (uint32_t)(i % users);
    }
    pair_set ps = {matrix, dim, rows, user, n, users, NULL};
    char text[400];
    snprintf(text, sizeof text,
             "{\"vpl\": {\"latent\": %u, \"hidden\": %u, \"context_min\": 2, \"context_max\": 8, "
             "\"duplicates\": 4, \"kl_weight\": 3e-6, \"anneal_steps\": 10000}}",
             latent, hidden);
    cJSON *settings = cJSON_Parse(text);
    optim_settings o = {.lr = 1e-4, .weight_decay = 1e-3, .clip = 1, .warmup_ratio = 0.03,
                        .batch = batch, .epochs = 1, .cosine = 1, .seed = 1};
    method *m = NULL;
    ppr_err e = {0};
    double t0 = now();
    int rc = method_new(&m, "vpl", dim, users, settings, 1, &e);
    if (rc == PPR_OK)
        rc = method_train(m, &ps, &o, &e);
    double t1 = now();
    if (rc) {
        fprintf(stderr, "bench_vpl: %s\n", e.msg);
        return rc;
    }
    printf("dim %u, %zu pairs of %u users, latent %u, hidden %u, batch %u: one epoch (%zu rows) "
           "%.2f s, %.0f rows/s\n",
           dim, n, users, latent, hidden, batch, 4 * n, t1 - t0, 4.0 * (double)n / (t1 - t0));
    method_free(m);
    cJSON_Delete(settings);
    free(matrix);
    free(rows);
    free(user);
    return 0;
}
