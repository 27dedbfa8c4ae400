/* bench_rag.c: scoring speed of RAG-kNN (common/models/rag.c): T test pairs
 * of one user against M memory pairs of that user, D-wide random features,
 * each pair on its own prompt (the worst case: no prompt shared), k = 3.
 * Prints the seconds of one method_score call (best of 3), both responses'
 * calls, and the similarity GEMM's rate if it were all the time.
 *   bench_rag [M T D]        defaults 12500 1000 1024 */
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
    size_t m = 12500, t = 1000;
    uint32_t dim = 1024;
    if (argc == 4) {
        m = strtoul(argv[1], NULL, 10);
        t = strtoul(argv[2], NULL, 10);
        dim = (uint32_t)strtoul(argv[3], NULL, 10);
    } else if (argc != 1) {
        fprintf(stderr, "usage: bench_rag [M T D]\n");
        return 2;
    }
    size_t n_rows = 3 * (m + t);
    float *matrix = malloc(n_rows * dim * sizeof *matrix);      /* [n_rows][dim] */
    uint32_t *rows = malloc(3 * (m + t) * sizeof *rows);         /* [m + t][3] */
    uint32_t *user = calloc(m + t, sizeof *user);                /* [m + t], all user 0 */
    float *r = malloc(2 * t * sizeof *r);                        /* [2][t] */
    if (!matrix || !rows || !user || !r) {
        fprintf(stderr, "bench_rag: out of memory\n");
        return 3;
    }
    rng g;
    rng_seed(&g, 1, 0);
    for (size_t i = 0; i < n_rows * dim; i++)
        matrix[i] = (float)rng_normal(&g);
    for (size_t i = 0; i < 3 * (m + t); i++)
        rows[i] = (uint32_t)i;
    static const unsigned char id[32] = {1};
    pair_set memory = {matrix, dim, rows, user, m, 1, id};
    pair_set test = {matrix, dim, rows + 3 * m, user + m, t, 1, id};
    cJSON *settings = cJSON_Parse("{\"rag\": {\"k\": 3}}");
    method *md = NULL;
    ppr_err e = {0};
    optim_settings o = {0};
    int rc = method_new(&md, "rag", dim, 1, settings, 1, &e);
    if (rc == PPR_OK)
        rc = method_train(md, &memory, &o, &e);
    double best = 1e30, both = 0;
    for (int rep = 0; rep < 3 && rc == PPR_OK; rep++) {
        double t0 = now();
        rc = method_score(md, &test, 0, r, &e);
        double t1 = now();
        if (rc == PPR_OK)
            rc = method_score(md, &test, 1, r + t, &e);
        double t2 = now();
        best = t1 - t0 < best ? t1 - t0 : best;
        both = rep == 0 || t2 - t0 < both ? t2 - t0 : both;
    }
    if (rc) {
        fprintf(stderr, "bench_rag: %s\n", e.msg);
        return rc;
    }
    printf("rag: %zu test pairs against %zu memory pairs, dim %u, k 3: one score call %.3f s, "
           "chosen and rejected %.3f s (%.1f GFLOP/s if the GEMM were all of it)\n",
           t, m, dim, best, both, 2.0 * t * m * dim / best / 1e9);
    method_free(md);
    cJSON_Delete(settings);
    free(matrix);
    free(rows);
    free(user);
    free(r);
    return 0;
}
