/* bench_gpo.c: the speed of GPO's meta-training (common/models/gpo.c) at
 * the official size: d_model 128, 6 layers, 4 heads, ff 128, embedder depth
 * 4, 1024-wide features, 8 groups, 10..100 context and target questions.
 * Every cblas_sgemm the library calls passes through the counting wrapper
 * below (the program's definition comes before OpenBLAS's in symbol lookup),
 * which adds 2 m n k flops and its time, then calls OpenBLAS's. Prints the
 * seconds per meta-step, the GEMM flops per step, the achieved GFLOP/s over
 * the whole step and inside the GEMMs, and their ratios to the sgemm peak: a
 * 2048^3 sgemm, best of 3, measured in this process just before and after,
 * at the same thread count; then each kind of GEMM taking 0.1% of the time
 * or more (transposes and sizes, v for a size drawn each step) with its share
 * of the time and its rate. bench/gpo_gemm.sh runs it.
 *
 *   bench_gpo [THREADS [EPOCHS]]   OpenBLAS threads (default 1); epochs of
 *                                  10 meta-steps each (default 3) */
#include <cblas.h>
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/models/method.h"
#include "common/rng.h"

#define DIM 1024
#define USERS 8
#define PER_USER 550 /* 8 x 550 pairs / (8 groups x 55 mean targets): 10 steps an epoch */
#define PEAK_N 2048

typedef void (*sgemm_fn)(const enum CBLAS_ORDER, const enum CBLAS_TRANSPOSE,
                         const enum CBLAS_TRANSPOSE, const blasint, const blasint, const blasint,
                         const float, const float *, const blasint, const float *, const blasint,
                         const float, float *, const blasint);

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define KINDS 64

/* A kind of GEMM: its transposes and sizes, a size that changes with the
 * step's draws -1. */
typedef struct {
    int ta, tb, m, n, k;
} gemm_kind;

/* What the wrapper counts: the one piece of state a counting wrapper needs. */
static struct {
    sgemm_fn real;
    int on;
    double flops, seconds;
    unsigned long calls;
    gemm_kind kind[KINDS];
    double kind_flops[KINDS], kind_seconds[KINDS];
    int n_kinds;
} gemm;

/* s when GPO's layers have that size at this width, else -1 (drawn). */
static int size_fixed(blasint s)
{
    static const blasint fixed[] = {2, 32, 128, 384, 2 * DIM + 1};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        if (s == fixed[i])
            return (int)s;
    return -1;
}

static void kind_add(gemm_kind c, double flops, double seconds)
{
    int i = 0;
    while (i < gemm.n_kinds && memcmp(&gemm.kind[i], &c, sizeof c) != 0)
        i++;
    if (i == KINDS)
        return;
    if (i == gemm.n_kinds)
        gemm.kind[gemm.n_kinds++] = c;
    gemm.kind_flops[i] += flops;
    gemm.kind_seconds[i] += seconds;
}

static void size_print(char what, int s)
{
    if (s < 0)
        printf(" %c=v   ", what);
    else
        printf(" %c=%-4d", what, s);
}

void cblas_sgemm(const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE ta,
                 const enum CBLAS_TRANSPOSE tb, const blasint m, const blasint n, const blasint k,
                 const float alpha, const float *a, const blasint lda, const float *b,
                 const blasint ldb, const float beta, float *c, const blasint ldc)
{
    if (!gemm.real)
        gemm.real = (sgemm_fn)dlsym(RTLD_NEXT, "cblas_sgemm");
    double t0 = gemm.on ? now() : 0;
    gemm.real(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    if (gemm.on) {
        double s = now() - t0;
        gemm.seconds += s;
        gemm.flops += 2.0 * m * n * k;
        gemm.calls++;
        gemm_kind c = {ta == CblasTrans, tb == CblasTrans, size_fixed(m), size_fixed(n),
                       size_fixed(k)};
        kind_add(c, 2.0 * m * n * k, s);
    }
}

/* The best rate of 3 square sgemms of PEAK_N, in GFLOP/s. */
static double peak(void)
{
    size_t n = PEAK_N;
    float *a = malloc(n * n * sizeof *a), *b = malloc(n * n * sizeof *b),
          *c = malloc(n * n * sizeof *c);
    if (!a || !b || !c) {
        fprintf(stderr, "bench_gpo: out of memory\n");
        exit(3);
    }
    for (size_t i = 0; i < n * n; i++)
        a[i] = b[i] = (float)(i % 7) / 7;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, PEAK_N, PEAK_N, PEAK_N, 1.0f, a,
                    PEAK_N, b, PEAK_N, 0.0f, c, PEAK_N);
        best = fmax(best, 2.0 * n * n * n / (now() - t0) / 1e9);
    }
    free(a);
    free(b);
    free(c);
    return best;
}

static void die(const ppr_err *e)
{
    fprintf(stderr, "bench_gpo: %s\n", e->msg);
    exit(3);
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    uint32_t epochs = argc > 2 ? (uint32_t)atoi(argv[2]) : 3;
    if (threads < 1 || epochs < 1 || argc > 3) {
        fprintf(stderr, "usage: bench_gpo [THREADS [EPOCHS]]\n");
        return 2;
    }
    openblas_set_num_threads(threads);
    size_t n = (size_t)USERS * PER_USER;
    float *matrix = malloc(3 * n * DIM * sizeof *matrix); /* [3 n][DIM] */
    uint32_t *rows = malloc(3 * n * sizeof *rows), *user = malloc(n * sizeof *user);
    if (!matrix || !rows || !user) {
        fprintf(stderr, "bench_gpo: out of memory\n");
        return 3;
    }
    rng r;
    rng_seed(&r, 1, 0);
    for (size_t i = 0; i < 3 * n * DIM; i++)
        matrix[i] = (float)(rng_normal(&r) / sqrt(DIM));
    for (size_t i = 0; i < n; i++) {
        for (int c = 0; c < 3; c++)
            rows[3 * i + c] = (uint32_t)(3 * i + c);
        user[i] = (uint32_t)(i % USERS);
    }
    pair_set ps = {matrix, DIM, rows, user, n, USERS, NULL};
    cJSON *settings = cJSON_Parse(
        "{\"gpo\": {\"d_model\": 128, \"layers\": 6, \"heads\": 4, \"ff\": 128, "
        "\"embed_depth\": 4, \"ctx_min\": 10, \"ctx_max\": 100, \"tar_min\": 10, "
        "\"tar_max\": 100, \"eval_context\": 20, \"groups\": 8}}");
    optim_settings o = {.lr = 1e-4, .weight_decay = 0.01, .clip = 1.0, .warmup_ratio = 0,
                        .batch = 1, .epochs = epochs, .cosine = 1, .seed = 1};
    method *m;
    ppr_err e = {0};
    if (!settings || method_new(&m, "gpo", DIM, USERS, settings, 1, &e))
        die(&e);
    double top = peak();
    gemm.on = 1;
    double t0 = now();
    if (method_train(m, &ps, &o, &e))
        die(&e);
    double t = now() - t0;
    gemm.on = 0;
    top = fmax(top, peak());
    double steps = 10.0 * epochs;
    printf("threads %d, %.0f meta-steps: %.4f s a step, %.2f GFLOP of GEMMs a step (%lu calls)\n",
           threads, steps, t / steps, gemm.flops / steps / 1e9, gemm.calls / (unsigned long)steps);
    printf("achieved %.1f GFLOP/s over the step (%.0f%% of the %.1f GFLOP/s sgemm peak), "
           "%.1f inside the GEMMs (%.0f%%), GEMMs %.0f%% of the time\n",
           gemm.flops / t / 1e9, 100 * gemm.flops / t / 1e9 / top, top,
           gemm.flops / gemm.seconds / 1e9, 100 * gemm.flops / gemm.seconds / 1e9 / top,
           100 * gemm.seconds / t);
    for (int i = 0; i < gemm.n_kinds; i++) {
        const gemm_kind *c = &gemm.kind[i];
        if (gemm.kind_seconds[i] < 1e-3 * t)
            continue;
        printf("  %c%c", c->ta ? 'T' : 'N', c->tb ? 'T' : 'N');
        size_print('m', c->m);
        size_print('n', c->n);
        size_print('k', c->k);
        printf(" %5.1f%% of the time, %5.1f GFLOP/s\n", 100 * gemm.kind_seconds[i] / t,
               gemm.kind_flops[i] / gemm.kind_seconds[i] / 1e9);
    }
    method_free(m);
    cJSON_Delete(settings);
    free(matrix);
    free(rows);
    free(user);
    return 0;
}
