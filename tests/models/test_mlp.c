/* test_mlp.c: unit tests of the training numerics (common/models/mlp.h and
 * optim.h): gradients of the MLP, of its input and of the BT loss against
 * central finite differences, AdamW, the schedule and clipping against values
 * worked by hand, and bit-identical results for a fixed seed.
 *
 * The finite differences run on float32 code, so they are made well
 * conditioned: small nets, a reward that is piecewise linear in any single
 * parameter or input (so a central difference is exact up to rounding unless
 * it crosses a ReLU kink, which is detected from the activation pattern and
 * skipped), steps of 1e-2 measured as the float difference actually applied,
 * and sums in double. Relative errors are |a - n| / max(|a|, |n|, 1e-2).
 * Blocks of distinct rows (mlp_block) are checked against the plain rows
 * they stand for. Widths of 9 to 12 run both the 8-wide AVX2 part of mlp.c's row kernels and
 * their scalar rest. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "common/models/mlp.h"
#include "common/models/optim.h"
#include "tests/testlib.h"

#define FD_STEP 1e-2
#define FD_TOL 1e-2

static void fill(float *x, size_t n, rng *r, double lo, double hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * rng_uniform(r));
}

static double rel_err(double a, double n)
{
    double s = fmax(fmax(fabs(a), fabs(n)), 1e-2);
    return fabs(a - n) / s;
}

/* Every hidden unit's ReLU state over the last forward's n rows, as bytes. */
static void relu_pattern(const mlp *m, const mlp_ws *ws, size_t n, uint8_t *out)
{
    for (uint32_t l = 1; l < m->n_layers; l++)
        for (size_t i = 0; i < n * m->dims[l]; i++)
            *out++ = ws->act[l][i] > 0;
}

/* The check's objective: either sum_i c[i] r[i] (pairs == 0), or the BT loss
 * of the first `pairs` rows over the next `pairs` rows weighted by c. */
typedef struct {
    mlp m;
    mlp_ws ws;
    float *X, *c, *r, *dr; /* [n][in], [n], [n], [n] */
    size_t n, pairs;
    uint8_t *pat[2]; /* [n * hidden units] ReLU patterns of f(+h), f(-h) */
} fd_case;

static double objective(fd_case *t, int side)
{
    CU_ASSERT_FATAL(mlp_forward(&t->m, &t->ws, t->X, t->n, t->r, NULL) == PPR_OK);
    if (side >= 0)
        relu_pattern(&t->m, &t->ws, t->n, t->pat[side]);
    if (t->pairs)
        return bt_loss(t->r, t->r + t->pairs, t->c, t->pairs, t->dr, t->dr + t->pairs);
    double f = 0;
    for (size_t i = 0; i < t->n; i++)
        f += (double)t->c[i] * t->r[i];
    return f;
}

static void fd_setup(fd_case *t, uint32_t in, const uint32_t *hidden, uint32_t n_hidden,
                     size_t n_extra, size_t n, size_t pairs, uint64_t seed)
{
    memset(t, 0, sizeof *t);
    ppr_err e = {0};
    CU_ASSERT_FATAL(mlp_init(&t->m, in, hidden, n_hidden, n_extra, seed, &e) == PPR_OK);
    t->n = n;
    t->pairs = pairs;
    t->X = malloc(n * in * sizeof *t->X);
    t->c = malloc(n * sizeof *t->c);
    t->r = malloc(n * sizeof *t->r);
    t->dr = malloc(n * sizeof *t->dr);
    size_t units = 0;
    for (uint32_t l = 0; l < n_hidden; l++)
        units += hidden[l];
    t->pat[0] = malloc(n * units + 1);
    t->pat[1] = malloc(n * units + 1);
    CU_ASSERT_FATAL(t->X && t->c && t->r && t->dr && t->pat[0] && t->pat[1]);
    rng r;
    rng_seed(&r, seed, 1);
    fill(t->X, n * in, &r, -1, 1);
    if (pairs)
        fill(t->c, pairs, &r, 0.5, 2); /* BT weights */
    else
        fill(t->c, n, &r, -1, 1);
    fill(t->m.params + t->m.n_params - n_extra, n_extra, &r, -1, 1);
}

static void fd_free(fd_case *t)
{
    mlp_release(&t->m);
    mlp_ws_release(&t->ws);
    free(t->X);
    free(t->c);
    free(t->r);
    free(t->dr);
    free(t->pat[0]);
    free(t->pat[1]);
}

/* Analytic gradients into t->m.grads (and dX if not NULL). */
static void fd_analytic(fd_case *t, float *dX)
{
    mlp_zero_grad(&t->m);
    objective(t, -1);
    const float *dr = t->pairs ? t->dr : t->c;
    CU_ASSERT_FATAL(mlp_backward(&t->m, &t->ws, t->X, t->n, dr, dX, NULL) == PPR_OK);
}

/* Central difference of the objective in the float *x, or NAN when the two
 * sides' ReLU patterns differ (a kink lies between them). */
static double fd_at(fd_case *t, float *x)
{
    float keep = *x;
    float hi = (float)(keep + FD_STEP), lo = (float)(keep - FD_STEP);
    *x = hi;
    double fp = objective(t, 0);
    *x = lo;
    double fm = objective(t, 1);
    *x = keep;
    size_t units = 0;
    for (uint32_t l = 1; l < t->m.n_layers; l++)
        units += t->m.dims[l];
    if (memcmp(t->pat[0], t->pat[1], t->n * units) != 0)
        return NAN;
    return (fp - fm) / ((double)hi - (double)lo);
}

/* Check every layer parameter; the extra ones must get exactly 0 from mlp. */
static void check_params(const char *label, uint32_t in, const uint32_t *hidden, uint32_t n_hidden,
                         size_t pairs)
{
    fd_case t;
    size_t n = pairs ? 2 * pairs : 7, n_extra = 5;
    fd_setup(&t, in, hidden, n_hidden, n_extra, n, pairs, 42 + n_hidden);
    fd_analytic(&t, NULL);
    float *ga = malloc(t.m.n_params * sizeof *ga);
    CU_ASSERT_FATAL(ga != NULL);
    memcpy(ga, t.m.grads, t.m.n_params * sizeof *ga);
    double worst = 0;
    size_t skipped = 0, layer = t.m.n_params - n_extra;
    for (size_t k = 0; k < t.m.n_params; k++) {
        double num = fd_at(&t, t.m.params + k);
        if (k >= layer) {
            CU_ASSERT(ga[k] == 0.0f && num == 0.0);
            continue;
        }
        if (isnan(num)) {
            skipped++;
            continue;
        }
        worst = fmax(worst, rel_err(ga[k], num));
    }
    printf("\n  %s: max relative error %.2e over %zu parameters (%zu at a kink skipped) ", label,
           worst, layer, skipped);
    CU_ASSERT(worst < FD_TOL);
    CU_ASSERT(skipped * 4 < layer);
    free(ga);
    fd_free(&t);
}

static void test_grad_one_hidden(void)
{
    uint32_t hidden[] = {11};
    check_params("1 hidden layer", 5, hidden, 1, 0);
}

static void test_grad_two_hidden(void)
{
    uint32_t hidden[] = {9, 10};
    check_params("2 hidden layers", 4, hidden, 2, 0);
}

static void test_grad_linear(void)
{
    check_params("no hidden layer", 11, NULL, 0, 0);
}

/* The BT loss of an MLP's rewards, with pair weights: what training minimises. */
static void test_grad_bt_through_mlp(void)
{
    uint32_t hidden[] = {12, 9};
    check_params("BT loss through 2 hidden layers", 5, hidden, 2, 4);
}

static void test_grad_input(void)
{
    uint32_t hidden[] = {10, 9};
    for (uint32_t nh = 0; nh <= 2; nh++) {
        fd_case t;
        uint32_t in = 11;
        fd_setup(&t, in, hidden, nh, 0, 5, 0, 7 + nh);
        float *dX = malloc(t.n * in * sizeof *dX);
        CU_ASSERT_FATAL(dX != NULL);
        fd_analytic(&t, dX);
        double worst = 0;
        size_t skipped = 0;
        for (size_t k = 0; k < t.n * in; k++) {
            double num = fd_at(&t, t.X + k);
            if (isnan(num))
                skipped++;
            else
                worst = fmax(worst, rel_err(dX[k], num));
        }
        printf("\n  dL/dX, %u hidden: max relative error %.2e over %zu inputs (%zu skipped) ", nh,
               worst, t.n * in, skipped);
        CU_ASSERT(worst < FD_TOL);
        CU_ASSERT(skipped * 4 < t.n * in);
        free(dX);
        fd_free(&t);
    }
}

/* bt_loss's derivative by central differences in double, at ordinary margins
 * and at |t| where log(1 + exp(-t)) computed naively overflows. */
static void test_grad_bt_loss(void)
{
    enum { N = 9 };
    float rc[N] = {0.3f, -1.2f, 2.5f, 0.0f, 500, -500, 60, -90, 45};
    float rr[N] = {-0.4f, 0.7f, 2.5f, 1.5f, -500, 500, -40, 0, -45};
    float w[N] = {1, 0.5f, 2, 1.5f, 1, 1, 0.25f, 1, 3};
    float grc[N], grr[N], scratch[2][N];
    double loss = bt_loss(rc, rr, w, N, grc, grr);
    /* t = rc - rr: 0.7, -1.9, 0, -1.5, 1000, -1000, 100, -90, 90; softplus(-t) */
    double want = 0, wsum = 0;
    for (int i = 0; i < N; i++) {
        double t = (double)rc[i] - rr[i];
        want += w[i] * (t < 0 ? -t + log1p(exp(t)) : log1p(exp(-t)));
        wsum += w[i];
    }
    CU_ASSERT(isfinite(loss));
    CU_ASSERT_DOUBLE_EQUAL(loss, want / wsum, 1e-12 * want / wsum);
    CU_ASSERT(isinf(log(1 + exp(1000.0)))); /* what the stable form avoids */
    double worst = 0;
    for (int side = 0; side < 2; side++)
        for (int i = 0; i < N; i++) {
            float *x = side ? &rr[i] : &rc[i], keep = *x;
            float hi = (float)(keep + 1e-3), lo = (float)(keep - 1e-3);
            *x = hi;
            double fp = bt_loss(rc, rr, w, N, scratch[0], scratch[1]);
            *x = lo;
            double fm = bt_loss(rc, rr, w, N, scratch[0], scratch[1]);
            *x = keep;
            double num = (fp - fm) / ((double)hi - (double)lo);
            double a = side ? grr[i] : grc[i];
            worst = fmax(worst, fabs(a - num) / fmax(fabs(num), 1e-6));
        }
    printf("\n  bt_loss: max relative error %.2e ", worst);
    CU_ASSERT(worst < 1e-4);
    /* exactly: dL/drc = -w sigmoid(-t) / sum w */
    CU_ASSERT_DOUBLE_EQUAL(grc[5], -1.0 / wsum, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(grc[4], 0.0, 1e-30);
    CU_ASSERT_DOUBLE_EQUAL(grc[2], -2 * 0.5 / wsum, 1e-7);
    CU_ASSERT(bt_loss(rc, rr, NULL, 0, grc, grr) == 0);
}

/* in 2, hidden 2, by hand: x = (1, 2), W1 = [[1, -1], [0.5, 2]], b1 = (0, -1):
 * z = (1 - 2 + 0, 0.5 + 4 - 1) = (-1, 3.5), ReLU (0, 3.5); w2 = (2, -3),
 * b2 = 0.5: r = 0.5 + 2 * 0 - 3 * 3.5 = -10. With dL/dr = 1: dw2 = (0, 3.5),
 * db2 = 1, delta1 = (0, -3) (unit 0 is off), dW1 = [[0, 0], [-3, -6]],
 * db1 = (0, -3), dL/dx = -3 * (0.5, 2) = (-1.5, -6). */
static void test_forward_backward_by_hand(void)
{
    mlp m;
    mlp_ws ws = {0};
    uint32_t hidden[] = {2};
    CU_ASSERT_FATAL(mlp_init(&m, 2, hidden, 1, 0, 1, NULL) == PPR_OK);
    CU_ASSERT_EQUAL_FATAL(m.n_params, 9);
    const float p[9] = {1, -1, 0.5f, 2, 0, -1, 2, -3, 0.5f};
    memcpy(m.params, p, sizeof p);
    float x[2] = {1, 2}, r, dr = 1, dx[2];
    CU_ASSERT_FATAL(mlp_forward(&m, &ws, x, 1, &r, NULL) == PPR_OK);
    CU_ASSERT_EQUAL(r, -10.0f);
    mlp_zero_grad(&m);
    CU_ASSERT_FATAL(mlp_backward(&m, &ws, x, 1, &dr, dx, NULL) == PPR_OK);
    const float g[9] = {0, 0, -3, -6, 0, -3, 0, 3.5f, 1};
    CU_ASSERT(memcmp(m.grads, g, sizeof g) == 0);
    CU_ASSERT_EQUAL(dx[0], -1.5f);
    CU_ASSERT_EQUAL(dx[1], -6.0f);
    /* grads accumulate over calls */
    CU_ASSERT_FATAL(mlp_backward(&m, &ws, x, 1, &dr, NULL, NULL) == PPR_OK);
    CU_ASSERT_EQUAL(m.grads[3], -12.0f);
    mlp_release(&m);
    mlp_ws_release(&ws);
}

static void test_init_and_mask(void)
{
    mlp m;
    uint32_t hidden[] = {16, 8};
    CU_ASSERT_FATAL(mlp_init(&m, 100, hidden, 2, 3, 9, NULL) == PPR_OK);
    CU_ASSERT_EQUAL(m.n_params, 100 * 16 + 16 + 16 * 8 + 8 + 8 + 1 + 3);
    for (uint32_t l = 0; l < m.n_layers; l++) {
        float bound = (float)(1 / sqrt(m.dims[l])), big = 0;
        for (size_t k = m.w_off[l]; k < m.b_off[l] + m.dims[l + 1]; k++)
            big = fmaxf(big, fabsf(m.params[k]));
        CU_ASSERT(big <= bound && big > 0.8f * bound);
    }
    for (size_t k = m.n_params - 3; k < m.n_params; k++)
        CU_ASSERT(m.params[k] == 0.0f);
    uint8_t *mask = malloc(m.n_params);
    CU_ASSERT_FATAL(mask != NULL);
    mlp_decay_mask(&m, mask);
    size_t ones = 0;
    for (size_t k = 0; k < m.n_params; k++)
        ones += mask[k];
    CU_ASSERT_EQUAL(ones, 100 * 16 + 16 * 8 + 8 + 3);
    CU_ASSERT(mask[m.b_off[0]] == 0 && mask[m.b_off[2]] == 0 && mask[m.w_off[2]] == 1);
    CU_ASSERT(mask[m.n_params - 1] == 1);
    free(mask);
    mlp_release(&m);
}

static void test_bad_input(void)
{
    mlp m;
    ppr_err e = {0};
    uint32_t hidden[MLP_MAX_LAYERS] = {4, 0, 4, 4, 4, 4, 4, 4};
    CU_ASSERT(mlp_init(&m, 8, hidden, 2, 0, 1, &e) == PPR_EINPUT);
    CU_ASSERT(err_has(&e, "width 0"));
    CU_ASSERT(mlp_init(&m, 8, hidden + 2, MLP_MAX_LAYERS, 0, 1, &e) == PPR_EINPUT);
    CU_ASSERT(err_has(&e, "hidden layers"));
    CU_ASSERT(mlp_init(&m, 0, hidden, 1, 0, 1, &e) == PPR_EINPUT);
    adamw o;
    adamw_cfg c = {.lr = 1e-3, .beta1 = 1, .beta2 = 0.999, .eps = 1e-8, .total = 1};
    CU_ASSERT(adamw_init(&o, &c, 4, NULL, &e) == PPR_EINPUT);
    CU_ASSERT(err_has(&e, "betas"));
    c.beta1 = 0.9;
    c.lr = NAN;
    CU_ASSERT(adamw_init(&o, &c, 4, NULL, &e) == PPR_EINPUT);
    /* a backward over more rows than the forward kept */
    mlp_ws ws = {0};
    CU_ASSERT_FATAL(mlp_init(&m, 3, hidden, 1, 0, 1, &e) == PPR_OK);
    float X[3 * 100] = {0}, r[100], dr[100] = {0};
    CU_ASSERT(mlp_forward(&m, &ws, X, 2, r, &e) == PPR_OK);
    CU_ASSERT(mlp_backward(&m, &ws, X, 100, dr, NULL, &e) == PPR_EINTERNAL);
    CU_ASSERT(err_has(&e, "without their forward"));
    mlp_release(&m);
    mlp_ws_release(&ws);
}

/* Blocks with maps give what the rows they stand for give: a batch of 10 rows
 * over three blocks (5 columns from 4 distinct rows, 4 columns without a map,
 * 3 columns from 2 distinct rows), against the same batch written out as plain
 * rows, for 0, 1 and 2 hidden layers: the rewards, the parameters' gradients,
 * and each block's gradient against the sum of the plain dL/dX rows it stands
 * for. Only the order of float sums differs. */
static void blocks_case(const uint32_t *hidden, uint32_t n_hidden)
{
    enum { N = 10, IN = 12 };
    static const uint32_t width[3] = {5, 4, 3}, distinct[3] = {4, N, 2};
    static const uint32_t map_a[N] = {0, 1, 2, 3, 0, 1, 2, 3, 3, 0};
    static const uint32_t map_c[N] = {1, 0, 0, 1, 1, 1, 0, 0, 1, 0};
    const uint32_t *map[3] = {map_a, NULL, map_c};
    mlp m;
    mlp_ws ws = {0}, ws_plain = {0};
    CU_ASSERT_FATAL(mlp_init(&m, IN, hidden, n_hidden, 0, 21, NULL) == PPR_OK);
    rng g;
    rng_seed(&g, 22, 0);
    float rows[3][N * 5], grad[3][N * 5], X[N * IN], dX[N * IN], r[N], r_plain[N], dr[N];
    mlp_block blk[3];
    for (int k = 0; k < 3; k++) {
        fill(rows[k], distinct[k] * width[k], &g, -1, 1);
        blk[k] = (mlp_block){rows[k], distinct[k], width[k], map[k], grad[k]};
    }
    for (size_t i = 0; i < N; i++)
        for (int k = 0, col = 0; k < 3; col += (int)width[k], k++)
            memcpy(X + i * IN + col, rows[k] + (map[k] ? map[k][i] : i) * width[k],
                   width[k] * sizeof *X);
    fill(dr, N, &g, -1, 1);
    float *grads_plain = malloc(m.n_params * sizeof *grads_plain);
    CU_ASSERT_FATAL(grads_plain != NULL);
    mlp_zero_grad(&m);
    CU_ASSERT_FATAL(mlp_forward(&m, &ws_plain, X, N, r_plain, NULL) == PPR_OK);
    CU_ASSERT_FATAL(mlp_backward(&m, &ws_plain, X, N, dr, dX, NULL) == PPR_OK);
    memcpy(grads_plain, m.grads, m.n_params * sizeof *grads_plain);
    mlp_zero_grad(&m);
    CU_ASSERT_FATAL(mlp_forward_blocks(&m, &ws, blk, 3, N, r, NULL) == PPR_OK);
    CU_ASSERT_FATAL(mlp_backward_blocks(&m, &ws, blk, 3, N, dr, NULL) == PPR_OK);
    double worst = 0;
    for (size_t i = 0; i < N; i++)
        worst = fmax(worst, rel_err(r[i], r_plain[i]));
    for (size_t j = 0; j < m.n_params; j++)
        worst = fmax(worst, rel_err(m.grads[j], grads_plain[j]));
    for (int k = 0, col = 0; k < 3; col += (int)width[k], k++)
        for (uint32_t row = 0; row < distinct[k]; row++)
            for (uint32_t c = 0; c < width[k]; c++) {
                double sum = 0;
                for (size_t i = 0; i < N; i++)
                    if ((map[k] ? map[k][i] : i) == row)
                        sum += dX[i * IN + col + c];
                worst = fmax(worst, rel_err(grad[k][row * width[k] + c], sum));
            }
    CU_ASSERT(worst < 1e-5);
    /* blocks that do not cover the input, or a map beyond its rows */
    ppr_err e = {0};
    blk[2].width = 2;
    CU_ASSERT(mlp_forward_blocks(&m, &ws, blk, 3, N, r, &e) == PPR_EINTERNAL);
    CU_ASSERT(err_has(&e, "columns wide"));
    blk[2].width = 3;
    blk[0].n_rows = 3;
    CU_ASSERT(mlp_forward_blocks(&m, &ws, blk, 3, N, r, &e) == PPR_EINTERNAL);
    CU_ASSERT(err_has(&e, "maps batch row"));
    free(grads_plain);
    mlp_release(&m);
    mlp_ws_release(&ws);
    mlp_ws_release(&ws_plain);
}

static void test_blocks(void)
{
    static const uint32_t one[] = {9}, two[] = {11, 9};
    blocks_case(NULL, 0);
    blocks_case(one, 1);
    blocks_case(two, 2);
}

static const adamw_cfg hand_cfg = {
    .lr = 0.01,
    .beta1 = 0.9,
    .beta2 = 0.999,
    .eps = 1e-8,
    .weight_decay = 0.1,
    .clip = 0,
    .warmup = 0,
    .total = 10,
};

/* Step 1 (t = 1, lr = 0.01 * 10 / 10): m = 0.1 g, v = 0.001 g^2, bias
 * corrections 0.1 and 0.001, so m / 0.1 = g and sqrt(v / 0.001) = |g|:
 *   p0 = 1 * (1 - 0.01 * 0.1) - 0.01 * 0.1 / (0.1 + 1e-8) = 0.999 - 0.009999999 = 0.989
 *   p1 = -2 - 0.01 * -0.2 / (0.2 + 1e-8) = -1.99            (a bias: no decay)
 *   p2 = 0.5 * 0.999 = 0.4995                                (g = 0: decay only)
 *   p3 = 3 - 0.01 * 1e-8 / (1e-8 + 1e-8) = 2.995            (eps after the bias
 *        correction; added before it, the step would be 0.0003)
 * Step 2 (t = 2, lr = 0.01 * 9 / 10 = 0.009), g = (0.3, 0.1, 0, 0):
 * 1 - 0.9^2 = 0.19, 1 - 0.999^2 = 0.001999, sqrt(0.001999) = 0.04471018:
 *   p0: m = 0.9 * 0.01 + 0.1 * 0.3 = 0.039, v = 0.999e-5 + 0.001 * 0.09 = 9.999e-5,
 *       den = sqrt(9.999e-5) / 0.04471018 + 1e-8 = 0.22365155,
 *       p0 = 0.989 * (1 - 0.009 * 0.1) - (0.009 / 0.19) * 0.039 / 0.22365155
 *          = 0.98810990 - 0.00826003 = 0.97984987
 *   p1: m = -0.018 + 0.01 = -0.008, v = 3.996e-5 + 1e-5 = 4.996e-5,
 *       den = 0.00706824 / 0.04471018 + 1e-8 = 0.15809016,
 *       p1 = -1.99 + 0.04736842 * 0.008 / 0.15809016 = -1.98760297
 *   p2 = 0.4995 * 0.9991 = 0.49905045 */
/* Per-row output weights: row i with wr[i] scores as a copy of the head whose
 * output weights are w + wr[i]; the backward's parameter gradient is the sum
 * of those copies' over their rows, and gwr[i] = dr[i] h_i is the slope of
 * r_i in wr[i], taken here by differences (r_i is linear in wr[i]). */
static void test_rows(void)
{
    enum { N = 3, IN = 6, K = 4 };
    uint32_t hidden[2] = {5, K};
    mlp m, copy;
    mlp_ws ws = {0}, ws2 = {0};
    ppr_err e = {0};
    CU_ASSERT_FATAL(mlp_init(&m, IN, hidden, 2, 0, 3, &e) == PPR_OK);
    CU_ASSERT_FATAL(mlp_init(&copy, IN, hidden, 2, 0, 3, &e) == PPR_OK);
    float X[N * IN], wr[N * K], dr[N], r[N], gwr[N * K];
    rng g;
    rng_seed(&g, 8, 0);
    for (int i = 0; i < N * IN; i++)
        X[i] = (float)rng_normal(&g);
    for (int i = 0; i < N * K; i++)
        wr[i] = (float)(0.5 * rng_normal(&g));
    for (int i = 0; i < N; i++)
        dr[i] = (float)rng_normal(&g);
    mlp_block all = {X, N, IN, NULL, NULL};
    CU_ASSERT_FATAL(mlp_forward_rows(&m, &ws, &all, 1, N, wr, r, &e) == PPR_OK);
    mlp_zero_grad(&m);
    CU_ASSERT_FATAL(mlp_backward_rows(&m, &ws, &all, 1, N, dr, wr, gwr, &e) == PPR_OK);
    float *sum = calloc(m.n_params, sizeof *sum); /* [n_params] the copies' gradients */
    CU_ASSERT_FATAL(sum != NULL);
    float *wout = copy.params + copy.w_off[2];
    for (int i = 0; i < N; i++) {
        memcpy(copy.params, m.params, m.n_params * sizeof *m.params);
        for (int j = 0; j < K; j++)
            wout[j] += wr[i * K + j];
        float ri;
        mlp_block one = {X + i * IN, 1, IN, NULL, NULL};
        CU_ASSERT_FATAL(mlp_forward_blocks(&copy, &ws2, &one, 1, 1, &ri, &e) == PPR_OK);
        CU_ASSERT_DOUBLE_EQUAL(ri, r[i], 1e-5);
        mlp_zero_grad(&copy);
        CU_ASSERT_FATAL(mlp_backward_blocks(&copy, &ws2, &one, 1, 1, &dr[i], &e) == PPR_OK);
        for (size_t p = 0; p < m.n_params; p++)
            sum[p] += copy.grads[p];
        for (int j = 0; j < K; j++) { /* the slope of r_i in wr[i][j], times dr[i] */
            float keep = wout[j];
            float up, down;
            wout[j] = keep + 0.5f;
            mlp_forward_blocks(&copy, &ws2, &one, 1, 1, &up, &e);
            wout[j] = keep - 0.5f;
            mlp_forward_blocks(&copy, &ws2, &one, 1, 1, &down, &e);
            wout[j] = keep;
            CU_ASSERT_DOUBLE_EQUAL(gwr[i * K + j], dr[i] * (up - down), 1e-4);
        }
    }
    for (size_t p = 0; p < m.n_params; p++)
        CU_ASSERT_DOUBLE_EQUAL(m.grads[p], sum[p], 1e-4);
    /* a head without a hidden layer has no h: refused */
    mlp lin;
    CU_ASSERT_FATAL(mlp_init(&lin, IN, NULL, 0, 0, 3, &e) == PPR_OK);
    CU_ASSERT_EQUAL(mlp_forward_rows(&lin, &ws2, &all, 1, N, wr, r, &e), PPR_EINTERNAL);
    free(sum);
    mlp_release(&lin);
    mlp_release(&m);
    mlp_release(&copy);
    mlp_ws_release(&ws);
    mlp_ws_release(&ws2);
}

static void test_adamw_by_hand(void)
{
    /* the four cases three times over: elements 0-7 take the 8-wide loop
     * where the CPU has one, 8-11 the scalar loop; all must match the hand
     * values, and each copy the others bit for bit */
    enum { COPIES = 3, N = 4 * COPIES };
    float p[N], g[N], g2[N];
    uint8_t decay[N];
    for (int i = 0; i < N; i++) {
        p[i] = (const float[]){1, -2, 0.5f, 3}[i % 4];
        g[i] = (const float[]){0.1f, -0.2f, 0, 1e-8f}[i % 4];
        g2[i] = (const float[]){0.3f, 0.1f, 0, 0}[i % 4];
        decay[i] = (const uint8_t[]){1, 0, 1, 0}[i % 4];
    }
    adamw o;
    CU_ASSERT_FATAL(adamw_init(&o, &hand_cfg, N, decay, NULL) == PPR_OK);
    adamw_step(&o, p, g);
    for (int c = 0; c < COPIES; c++) {
        const float *q = p + 4 * c;
        CU_ASSERT_DOUBLE_EQUAL(q[0], 0.989, 1e-6);
        CU_ASSERT_DOUBLE_EQUAL(q[1], -1.99, 1e-6);
        CU_ASSERT_DOUBLE_EQUAL(q[2], 0.4995, 1e-6);
        CU_ASSERT_DOUBLE_EQUAL(q[3], 2.995, 1e-6);
        CU_ASSERT_DOUBLE_EQUAL(o.m[4 * c + 1], -0.02, 1e-8);
        CU_ASSERT_DOUBLE_EQUAL(o.v[4 * c + 1], 4e-5, 1e-11);
        CU_ASSERT(g[4 * c] == 0 && g[4 * c + 1] == 0 && g[4 * c + 3] == 0); /* consumed */
    }
    adamw_step(&o, p, g2);
    for (int c = 0; c < COPIES; c++) {
        const float *q = p + 4 * c;
        CU_ASSERT_DOUBLE_EQUAL(q[0], 0.97984987, 1e-6);
        CU_ASSERT_DOUBLE_EQUAL(q[1], -1.98760297, 1e-6);
        CU_ASSERT_DOUBLE_EQUAL(q[2], 0.49905045, 1e-6);
        CU_ASSERT(memcmp(q, p, 4 * sizeof *p) == 0 && memcmp(o.v + 4 * c, o.v, 4 * sizeof *p) == 0);
    }
    CU_ASSERT_EQUAL(o.step, 2);
    adamw_release(&o);
}

/* lr 1e-3, warmup 10, total 110: (t + 1) / 11 * 1e-3 up to the peak at t =
 * 10, then (110 - t) / 100 * 1e-3 down to 0 at t = 110. */
static void test_schedule_by_hand(void)
{
    adamw_cfg c = {.lr = 1e-3, .warmup = 10, .total = 110};
    CU_ASSERT_DOUBLE_EQUAL(adamw_lr(&c, 0), 1e-3 / 11, 1e-15); /* the first step moves */
    CU_ASSERT_DOUBLE_EQUAL(adamw_lr(&c, 5), 6e-3 / 11, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(adamw_lr(&c, 9), 10e-3 / 11, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(adamw_lr(&c, 10), 1e-3, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(adamw_lr(&c, 60), 5e-4, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(adamw_lr(&c, 109), 1e-5, 1e-15);
    CU_ASSERT_EQUAL(adamw_lr(&c, 110), 0.0);
    CU_ASSERT_EQUAL(adamw_lr(&c, 1000), 0.0);
    c.warmup = 0;
    c.total = 4; /* no warmup: full lr at once, then 3/4, 2/4, 1/4 */
    CU_ASSERT_DOUBLE_EQUAL(adamw_lr(&c, 0), 1e-3, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(adamw_lr(&c, 2), 5e-4, 1e-15);
    c.warmup = 1;
    c.total = 1; /* one step with warmup_ratio 0.03: ceil(0.03) = 1 warmup step */
    CU_ASSERT_DOUBLE_EQUAL(adamw_lr(&c, 0), 5e-4, 1e-15);
    /* cosine, warmup 2, total 10: the ramp as before, then (1 + cos(pi (t -
     * 2) / 8)) / 2: 1 at t = 2, 1/2 at t = 6, (1 - cos(pi / 8)) / 2 =
     * 0.0380602 at t = 9, 0 at t = 10. */
    c = (adamw_cfg){.lr = 1e-3, .warmup = 2, .total = 10, .cosine = 1};
    CU_ASSERT_DOUBLE_EQUAL(adamw_lr(&c, 1), 1e-3 * 2 / 3, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(adamw_lr(&c, 2), 1e-3, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(adamw_lr(&c, 6), 5e-4, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(adamw_lr(&c, 9), 1e-3 * 0.0380602337443566, 1e-15);
    CU_ASSERT_EQUAL(adamw_lr(&c, 10), 0.0);
}

/* g = (3, 4): norm 5. With clip 1 the step sees g / (5 + 1e-6) =
 * (0.59999988, 0.79999984), so the first moments are 0.1 of those; with clip
 * 10 or no clip it sees g. lr 0 leaves the parameters; the grads are zero
 * after the step either way. */
static void test_clip_by_hand(void)
{
    const uint8_t decay[2] = {0, 0};
    adamw_cfg c = hand_cfg;
    c.lr = 0;
    c.clip = 1;
    for (int k = 0; k < 3; k++) {
        float p[2] = {1, 2}, g[2] = {3, 4};
        adamw o;
        CU_ASSERT_FATAL(adamw_init(&o, &c, 2, decay, NULL) == PPR_OK);
        CU_ASSERT_DOUBLE_EQUAL(adamw_step(&o, p, g), 5.0, 1e-12);
        double want = c.clip == 1 ? 1 / (5 + 1e-6) : 1;
        CU_ASSERT_DOUBLE_EQUAL(o.m[0], 0.3 * want, 1e-7);
        CU_ASSERT_DOUBLE_EQUAL(o.m[1], 0.4 * want, 1e-7);
        CU_ASSERT(g[0] == 0 && g[1] == 0);
        CU_ASSERT(p[0] == 1 && p[1] == 2);
        adamw_release(&o);
        c.clip = k == 0 ? 10 : 0;
    }
}

/* A few training steps from a seed, returning the parameters' bits. */
static float *train_bits(uint64_t seed, size_t *n)
{
    enum { IN = 32, B = 16 };
    mlp m;
    mlp_ws ws = {0};
    uint32_t hidden[] = {24, 12};
    CU_ASSERT_FATAL(mlp_init(&m, IN, hidden, 2, 0, seed, NULL) == PPR_OK);
    uint8_t *decay = malloc(m.n_params);
    float X[2 * B * IN], r[2 * B], dr[2 * B];
    CU_ASSERT_FATAL(decay != NULL);
    mlp_decay_mask(&m, decay);
    adamw o;
    adamw_cfg c = hand_cfg;
    c.clip = 1;
    c.warmup = 2;
    CU_ASSERT_FATAL(adamw_init(&o, &c, m.n_params, decay, NULL) == PPR_OK);
    rng g;
    rng_seed(&g, seed, 5);
    for (int step = 0; step < 5; step++) {
        fill(X, sizeof X / sizeof *X, &g, -1, 1);
        CU_ASSERT_FATAL(mlp_forward(&m, &ws, X, 2 * B, r, NULL) == PPR_OK);
        bt_loss(r, r + B, NULL, B, dr, dr + B);
        CU_ASSERT_FATAL(mlp_backward(&m, &ws, X, 2 * B, dr, NULL, NULL) == PPR_OK);
        adamw_step(&o, m.params, m.grads);
    }
    float *p = m.params;
    *n = m.n_params;
    m.params = NULL;
    adamw_release(&o);
    free(decay);
    mlp_release(&m);
    mlp_ws_release(&ws);
    return p;
}

static void test_determinism(void)
{
    size_t n1, n2, n3;
    float *a = train_bits(11, &n1), *b = train_bits(11, &n2), *c = train_bits(12, &n3);
    CU_ASSERT_FATAL(a && b && c && n1 == n2 && n1 == n3);
    CU_ASSERT(memcmp(a, b, n1 * sizeof *a) == 0);
    CU_ASSERT(memcmp(a, c, n1 * sizeof *a) != 0);
    free(a);
    free(b);
    free(c);
}

int main(void)
{
    static const test_case cases[] = {
        {"forward and backward by hand", test_forward_backward_by_hand},
        {"gradient, 1 hidden layer", test_grad_one_hidden},
        {"gradient, 2 hidden layers", test_grad_two_hidden},
        {"gradient, no hidden layer", test_grad_linear},
        {"gradient of the BT loss through the MLP", test_grad_bt_through_mlp},
        {"gradient of the input", test_grad_input},
        {"input blocks with distinct rows", test_blocks},
        {"per-row output weights", test_rows},
        {"bt_loss derivative and large margins", test_grad_bt_loss},
        {"init bounds and decay mask", test_init_and_mask},
        {"bad input", test_bad_input},
        {"AdamW by hand", test_adamw_by_hand},
        {"schedule by hand", test_schedule_by_hand},
        {"clipping by hand", test_clip_by_hand},
        {"same seed, same bits", test_determinism},
        {NULL, NULL},
    };
    return test_main("04-train numerics", NULL, NULL, cases, CU_BRM_NORMAL);
}
