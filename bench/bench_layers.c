/* bench_layers.c: speed of one transformer encoder layer (common/models/
 * layers.h) at GPO's size, single-threaded: width 128, 4 heads, feed-forward
 * 128, a batch of 8 sequences of 220 rows whose first 110 are the context.
 * Prints the best and median milliseconds of the forward and of the backward
 * pass over `reps` runs, and their GFLOP/s counting 2 m n k per GEMM, beside
 * one square sgemm of 1024 as the machine's single-thread reference.
 *   bench_layers [reps]   (default 50) */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/models/layers.h"
#include "common/rng.h"

enum { DIM = 128, HEADS = 4, FF = 128, N_SEQ = 8, LEN = 220, CTX = 110, SQUARE = 1024 };

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static float *floats(size_t n, rng *r)
{
    float *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "bench_layers: out of memory\n");
        exit(3);
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (float)(2.0 * rng_uniform(r) - 1.0);
    return p;
}

/* GFLOP/s of one SQUARE x SQUARE x SQUARE sgemm, best of 3. */
static double square_rate(rng *r)
{
    size_t n = (size_t)SQUARE * SQUARE;
    float *a = floats(n, r), *b = floats(n, r), *c = floats(n, r);
    double best = 1e30;
    for (int k = 0; k < 3; k++) {
        double t0 = seconds();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, SQUARE, SQUARE, SQUARE, 1.0f, a,
                    SQUARE, b, SQUARE, 0.0f, c, SQUARE);
        double t = seconds() - t0;
        best = t < best ? t : best;
    }
    free(a);
    free(b);
    free(c);
    return 2.0 * SQUARE * SQUARE * SQUARE / best / 1e9;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 50;
    if (reps < 1) {
        fprintf(stderr, "bench_layers: reps '%s' is not a positive count\n", argv[1]);
        return 2;
    }
    openblas_set_num_threads(1);
    uint32_t start[N_SEQ + 1], ctx[N_SEQ];
    for (int s = 0; s <= N_SEQ; s++)
        start[s] = (uint32_t)(s * LEN);
    for (int s = 0; s < N_SEQ; s++)
        ctx[s] = CTX;
    seq_batch sb = {N_SEQ, start, ctx};
    size_t rows = (size_t)N_SEQ * LEN;

    encoder_layer l;
    size_t n = encoder_place(&l, DIM, HEADS, FF, 0);
    rng r;
    rng_seed(&r, 1, 0);
    float *params = floats(n, &r), *grads = floats(n, &r), *X = floats(rows * DIM, &r);
    float *Y = floats(rows * DIM, &r), *dY = floats(rows * DIM, &r), *dX = floats(rows * DIM, &r);
    encoder_init(&l, params, &r);
    encoder_ws ws;
    memset(&ws, 0, sizeof ws);
    ppr_err e = {0};
    double *fwd = malloc(reps * sizeof *fwd), *bwd = malloc(reps * sizeof *bwd);
    if (!fwd || !bwd)
        return 3;
    for (int k = -1; k < reps; k++) { /* k = -1 grows the workspace, untimed */
        double t0 = seconds();
        if (encoder_forward(&l, params, &sb, X, Y, &ws, &e))
            break;
        double t1 = seconds();
        if (encoder_backward(&l, params, grads, &sb, X, Y, dY, dX, &ws, &e))
            break;
        if (k >= 0) {
            fwd[k] = t1 - t0;
            bwd[k] = seconds() - t1;
        }
    }
    if (e.code) {
        fprintf(stderr, "bench_layers: %s\n", e.msg);
        return e.code;
    }
    /* The dense layers' GEMMs: Q K V (3 DIM wide), the projection, ff1, ff2;
     * attention: QK^T and PV per sequence and head, 2 LEN CTX DIM each over
     * the heads. The backward doubles the dense ones (dW and dX) and runs four
     * attention GEMMs per head. */
    double dense = 2.0 * rows * DIM * (3 * DIM + DIM + 2 * FF);
    double att = 2.0 * N_SEQ * LEN * CTX * DIM;
    double f_flop = dense + 2 * att, b_flop = 2 * dense + 4 * att;
    qsort(fwd, reps, sizeof *fwd, by_value);
    qsort(bwd, reps, sizeof *bwd, by_value);
    double f = fwd[0], b = bwd[0];
    printf("encoder layer dim %d heads %d ff %d, %d sequences of %d rows (context %d), "
           "1 thread, %d runs\n", DIM, HEADS, FF, N_SEQ, LEN, CTX, reps);
    printf("forward   best %7.3f ms  median %7.3f ms  %6.1f GFLOP/s (%.3f GFLOP)\n", f * 1e3,
           fwd[reps / 2] * 1e3, f_flop / f / 1e9, f_flop / 1e9);
    printf("backward  best %7.3f ms  median %7.3f ms  %6.1f GFLOP/s (%.3f GFLOP)\n", b * 1e3,
           bwd[reps / 2] * 1e3, b_flop / b / 1e9, b_flop / 1e9);
    printf("both      best %7.3f ms  %6.1f GFLOP/s\n", (f + b) * 1e3,
           (f_flop + b_flop) / (f + b) / 1e9);
    printf("sgemm %d^3, 1 thread: %.1f GFLOP/s\n", SQUARE, square_rate(&r));
    encoder_ws_release(&ws);
    free(params);
    free(grads);
    free(X);
    free(Y);
    free(dY);
    free(dX);
    free(fwd);
    free(bwd);
    return 0;
}
