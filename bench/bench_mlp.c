/* bench_mlp.c: training speed of the MLP reward head (stages/04-train mlp.h
 * and optim.h) with the BT loss and AdamW, the loop of the shared trainer:
 * a seeded shuffle per epoch, minibatches gathered into one [chosen; rejected]
 * batch, forward, loss, backward, clipped AdamW step under the linear
 * schedule (which leaves the gradient zero for the next batch).
 * bench/train_mlp.sh runs it beside numpy. Modes:
 *   bench_mlp threads                     OpenBLAS's thread count
 *   bench_mlp features D N PATH           N random pairs [N][2][D] float32 to PATH
 *   bench_mlp train D H B N EPOCHS PATH   one run, one hidden layer of H,
 *                                         batches of B pairs: prints pairs x
 *                                         epochs per second, the GEMMs' GFLOP/s,
 *                                         the sgemm peak (best of square sgemms
 *                                         of 2048 just before and after) and
 *                                         the last minibatch's loss */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/rng.h"
#include "common/models/mlp.h"
#include "common/models/optim.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Square sgemms of PEAK_N, the best rate in GFLOP/s of `reps`. */
#define PEAK_N 2048
static double peak(int reps)
{
    size_t n = PEAK_N;
    float *a = malloc(n * n * sizeof *a), *b = malloc(n * n * sizeof *b),
          *c = malloc(n * n * sizeof *c);
    if (!a || !b || !c) {
        fprintf(stderr, "bench_mlp: out of memory\n");
        exit(3);
    }
    rng r;
    rng_seed(&r, 1, 0);
    for (size_t i = 0; i < n * n; i++) {
        a[i] = (float)rng_uniform(&r);
        b[i] = (float)rng_uniform(&r);
    }
    double best = 0;
    for (int rep = 0; rep < reps; rep++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, PEAK_N, PEAK_N, PEAK_N, 1.0f, a,
                    PEAK_N, b, PEAK_N, 0.0f, c, PEAK_N);
        double g = 2.0 * PEAK_N * PEAK_N * PEAK_N / (now() - t0) / 1e9;
        best = g > best ? g : best;
    }
    free(a);
    free(b);
    free(c);
    return best;
}

static int features(size_t D, size_t N, const char *path)
{
    FILE *f = fopen(path, "wb");
    float *row = malloc(D * sizeof *row);
    if (!f || !row) {
        fprintf(stderr, "bench_mlp: cannot write '%s'\n", path);
        return 2;
    }
    rng r;
    rng_seed(&r, 7, 0);
    for (size_t i = 0; i < 2 * N; i++) {
        for (size_t k = 0; k < D; k++)
            row[k] = (float)(rng_normal(&r) / sqrt((double)D)); /* rows of norm ~1 */
        if (fwrite(row, sizeof *row, D, f) != D) {
            fprintf(stderr, "bench_mlp: cannot write '%s'\n", path);
            return 2;
        }
    }
    free(row);
    return fclose(f) == 0 ? 0 : 2;
}

/* One run of `epochs` epochs from a fresh head; returns seconds and the last
 * minibatch loss. */
static double train_once(const float *F, uint32_t D, uint32_t H, size_t B, size_t N,
                         uint32_t epochs, double *loss)
{
    mlp m;
    mlp_ws ws = {0};
    adamw o;
    ppr_err e = {0};
    uint64_t per_epoch = (N + B - 1) / B;
    adamw_cfg c = {.lr = 1e-3,
                   .beta1 = 0.9,
                   .beta2 = 0.999,
                   .eps = 1e-8,
                   .weight_decay = 0.01,
                   .clip = 1.0,
                   .total = per_epoch * epochs};
    c.warmup = (uint64_t)ceil(0.1 * (double)c.total);
    float *X = malloc(2 * B * D * sizeof *X);    /* [2b][D] chosen rows, then rejected */
    float *r = malloc(4 * B * sizeof *r);        /* [2b] rewards, then [2b] dLoss/dr */
    uint32_t *order = malloc(N * sizeof *order); /* [N] the epoch's pairs */
    if (!X || !r || !order || mlp_init(&m, D, &H, 1, 0, 3, &e)) {
        fprintf(stderr, "bench_mlp: %s\n", e.msg[0] ? e.msg : "out of memory");
        exit(3);
    }
    uint8_t *decay = malloc(m.n_params); /* [n_params] */
    if (!decay) {
        fprintf(stderr, "bench_mlp: out of memory\n");
        exit(3);
    }
    mlp_decay_mask(&m, decay);
    if (adamw_init(&o, &c, m.n_params, decay, &e)) {
        fprintf(stderr, "bench_mlp: %s\n", e.msg);
        exit(3);
    }
    float *dr = r + 2 * B;
    double t0 = now();
    for (uint32_t ep = 0; ep < epochs; ep++) {
        rng g;
        rng_seed(&g, 5, ep);
        for (size_t i = 0; i < N; i++)
            order[i] = (uint32_t)i;
        for (size_t i = N - 1; i > 0; i--) {
            size_t j = (size_t)rng_below(&g, i + 1);
            uint32_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        for (size_t at = 0; at < N; at += B) {
            size_t b = N - at < B ? N - at : B;
            for (size_t i = 0; i < b; i++) {
                const float *pair = F + (size_t)order[at + i] * 2 * D;
                memcpy(X + i * D, pair, D * sizeof *X);
                memcpy(X + (b + i) * D, pair + D, D * sizeof *X);
            }
            if (mlp_forward(&m, &ws, X, 2 * b, r, &e)) {
                fprintf(stderr, "bench_mlp: %s\n", e.msg);
                exit(3);
            }
            *loss = bt_loss(r, r + b, NULL, b, dr, dr + b);
            if (mlp_backward(&m, &ws, X, 2 * b, dr, NULL, &e)) {
                fprintf(stderr, "bench_mlp: %s\n", e.msg);
                exit(3);
            }
            adamw_step(&o, m.params, m.grads);
        }
    }
    double t = now() - t0;
    adamw_release(&o);
    mlp_release(&m);
    mlp_ws_release(&ws);
    free(decay);
    free(order);
    free(r);
    free(X);
    return t;
}

static int train(uint32_t D, uint32_t H, size_t B, size_t N, uint32_t epochs, const char *path)
{
    float *F = malloc(N * 2 * D * sizeof *F); /* [N][2][D] */
    FILE *f = fopen(path, "rb");
    if (!F || !f || fread(F, sizeof *F, N * 2 * D, f) != N * 2 * D) {
        fprintf(stderr, "bench_mlp: cannot read %zu pairs of %u features from '%s'\n", N, D, path);
        return 2;
    }
    fclose(f);
    /* the peak just before and after, so that both see the same clock speed
     * and the same neighbours on a shared machine */
    double loss, top = peak(2), t = train_once(F, D, H, B, N, epochs, &loss), after = peak(2);
    top = after > top ? after : top;
    /* multiply-adds of the GEMMs run per row: forward and dW of both layers,
     * dX of the output layer only (no one needs dL/dX of the input) */
    double flops = 2.0 * 2 * N * epochs * (2.0 * D * H + 3.0 * H);
    printf("%.1f %.2f %.1f %.4f\n", (double)N * epochs / t, flops / t / 1e9, top, loss);
    free(F);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "threads") == 0) {
        printf("%d\n", openblas_get_num_threads());
        return 0;
    }
    if (argc == 5 && strcmp(argv[1], "features") == 0)
        return features(strtoul(argv[2], NULL, 10), strtoul(argv[3], NULL, 10), argv[4]);
    if (argc == 8 && strcmp(argv[1], "train") == 0)
        return train((uint32_t)strtoul(argv[2], NULL, 10), (uint32_t)strtoul(argv[3], NULL, 10),
                     strtoul(argv[4], NULL, 10), strtoul(argv[5], NULL, 10),
                     (uint32_t)strtoul(argv[6], NULL, 10), argv[7]);
    fprintf(stderr, "usage: bench_mlp threads | features D N PATH | "
                    "train D H B N EPOCHS PATH\n");
    return 2;
}
