/* test_layers.c: unit tests of common/models/layers.h: every layer's
 * parameter and input gradients against finite differences, the attention's
 * output worked by hand, the context mask (a target row moves only its own
 * output), the parameter layout and initialization, bad batches, the
 * norm's backward against double precision, the aliasing the header allows,
 * and workspaces that stop growing.
 *
 * The finite differences perturb one float at a time by FD_STEP and take the
 * scalar loss L = sum(Y R) in double, R a fixed random [rows][out] matrix, so
 * the analytic side is the backward pass for dY = R. The five-point formula
 * leaves an O(h^4) truncation error, so what remains is the float rounding of
 * L (about 2e-6 of it for the encoder's 256 outputs, 2.6e-4 in a derivative).
 * Relative errors are |a - n| / max(|a|, |n|, floor), the floor FD_FLOOR of
 * the checked values' rms, so that derivatives near 0, which that rounding
 * swamps, are held to an absolute error instead; the whole vector's relative
 * error |a - n|_2 / |a|_2 is checked too. Where a ReLU lies inside (the
 * encoder's feed-forward), a difference whose points have other ReLU
 * patterns crosses a kink and is skipped. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/models/layers.h"
#include "common/rng.h"
#include "tests/testlib.h"

#define FD_STEP 1e-2
#define FD_FLOOR 5e-2
#define FD_TOL 1e-2
#define FD_L2_TOL 1e-3

static void fill(float *x, size_t n, rng *r, double lo, double hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * rng_uniform(r));
}

static float *alloc_floats(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    return p;
}

/* A sequence batch of up to 4 sequences of the given lengths and contexts. */
typedef struct {
    uint32_t start[5], ctx[4];
    seq_batch sb;
} batch;

static void batch_make(batch *b, uint32_t n_seq, const uint32_t *len, const uint32_t *ctx)
{
    b->start[0] = 0;
    for (uint32_t s = 0; s < n_seq; s++) {
        b->start[s + 1] = b->start[s] + len[s];
        b->ctx[s] = ctx[s];
    }
    b->sb = (seq_batch){n_seq, b->start, b->ctx};
}

/* ---- the finite-difference harness ---------------------------------------------- */

enum { K_DENSE, K_RELU, K_LEAKY, K_NORM, K_ATT, K_ENC };

typedef struct {
    int kind;
    size_t n_params, n_x, n_y, rows;
    float *params, *grads; /* [n_params] */
    float *X, *dX;         /* [n_x] */
    float *Y, *R, *dY;     /* [n_y] */
    float *stats;          /* [rows][2] the norm's */
    uint8_t *pat[2];       /* [rows][ff] the encoder's ReLU pattern at the first point
                              of a difference, and at another */
    dense d;
    norm nl;
    attention a;
    encoder_layer enc;
    attention_ws aws;
    encoder_ws ews;
    batch b;
} fd_case;

static void fd_alloc(fd_case *t, size_t n_params, size_t n_x, size_t n_y, uint64_t seed)
{
    t->n_params = n_params;
    t->n_x = n_x;
    t->n_y = n_y;
    t->params = alloc_floats(n_params);
    t->grads = alloc_floats(n_params);
    t->X = alloc_floats(n_x);
    t->dX = alloc_floats(n_x);
    t->Y = alloc_floats(n_y);
    t->R = alloc_floats(n_y);
    t->dY = alloc_floats(n_y);
    t->stats = alloc_floats(2 * t->rows);
    rng r;
    rng_seed(&r, seed, 7);
    fill(t->X, n_x, &r, -1, 1);
    fill(t->R, n_y, &r, -1, 1);
}

static void fd_free(fd_case *t)
{
    free(t->params);
    free(t->grads);
    free(t->X);
    free(t->dX);
    free(t->Y);
    free(t->R);
    free(t->dY);
    free(t->stats);
    free(t->pat[0]);
    free(t->pat[1]);
    attention_ws_release(&t->aws);
    encoder_ws_release(&t->ews);
}

static void fd_forward(fd_case *t)
{
    ppr_err e = {0};
    switch (t->kind) {
    case K_DENSE:
        dense_forward(&t->d, t->params, t->X, t->rows, t->Y);
        break;
    case K_RELU:
    case K_LEAKY:
        memcpy(t->Y, t->X, t->n_x * sizeof *t->Y);
        (t->kind == K_RELU ? relu_forward : leaky_forward)(t->Y, t->n_y);
        break;
    case K_NORM:
        norm_forward(&t->nl, t->params, t->X, t->rows, t->Y, t->stats);
        break;
    case K_ATT:
        CU_ASSERT_FATAL(attention_forward(&t->a, t->params, &t->b.sb, t->X, t->Y, &t->aws, &e) ==
                        PPR_OK);
        break;
    case K_ENC:
        CU_ASSERT_FATAL(encoder_forward(&t->enc, t->params, &t->b.sb, t->X, t->Y, &t->ews, &e) ==
                        PPR_OK);
        break;
    }
}

/* After fd_forward: grads and dX for dY = R. */
static void fd_backward(fd_case *t)
{
    ppr_err e = {0};
    memcpy(t->dY, t->R, t->n_y * sizeof *t->dY);
    switch (t->kind) {
    case K_DENSE:
        dense_backward(&t->d, t->params, t->grads, t->X, t->rows, t->dY, t->dX);
        break;
    case K_RELU:
    case K_LEAKY:
        (t->kind == K_RELU ? relu_backward : leaky_backward)(t->Y, t->dY, t->n_y);
        memcpy(t->dX, t->dY, t->n_x * sizeof *t->dX);
        break;
    case K_NORM:
        norm_backward(&t->nl, t->params, t->grads, t->Y, t->rows, t->stats, t->dY, t->dX);
        break;
    case K_ATT:
        CU_ASSERT_FATAL(attention_backward(&t->a, t->params, t->grads, &t->b.sb, t->X, t->dY,
                                           t->dX, &t->aws, &e) == PPR_OK);
        break;
    case K_ENC:
        CU_ASSERT_FATAL(encoder_backward(&t->enc, t->params, t->grads, &t->b.sb, t->X, t->Y,
                                         t->dY, t->dX, &t->ews, &e) == PPR_OK);
        break;
    }
}

static double fd_loss(fd_case *t, int side)
{
    fd_forward(t);
    if (t->kind == K_ENC)
        for (size_t i = 0; i < t->rows * t->enc.ff1.out; i++)
            t->pat[side][i] = t->ews.f[i] > 0;
    double L = 0;
    for (size_t i = 0; i < t->n_y; i++)
        L += (double)t->Y[i] * t->R[i];
    return L;
}

/* The loss with v = x, and whether the encoder's ReLU pattern differs from
 * the one pat[0] holds (first = 1: record it there). */
static double fd_loss_at(fd_case *t, float *v, float x, int first, int *kink)
{
    *v = x;
    double L = fd_loss(t, first ? 0 : 1);
    if (t->kind == K_ENC && !first)
        *kink |= memcmp(t->pat[0], t->pat[1], t->rows * t->enc.ff1.out) != 0;
    return L;
}

/* What a sweep found: the worst relative error, the worst absolute one, and
 * the relative error of the whole vector, |a - n|_2 / |a|_2. */
typedef struct {
    double worst, worst_abs, l2;
} fd_result;

/* Every value of v [n] against its analytic derivative a [n] by the
 * five-point difference (8 (L(h) - L(-h)) - (L(2h) - L(-2h))) / 12h, whose
 * truncation error is O(h^4), so what remains is float rounding of L; h is
 * the float step actually applied. Values whose differences cross a kink
 * are counted into *skipped. */
static fd_result fd_sweep(fd_case *t, float *v, const float *a, size_t n, size_t *skipped)
{
    double ss = 0, se = 0, least;
    for (size_t k = 0; k < n; k++)
        ss += (double)a[k] * a[k];
    least = FD_FLOOR * sqrt(ss / (double)(n ? n : 1));
    fd_result r = {0, 0, 0};
    for (size_t k = 0; k < n; k++) {
        float keep = v[k];
        float p1 = (float)(keep + FD_STEP), m1 = (float)(keep - FD_STEP);
        float p2 = (float)(keep + 2 * FD_STEP), m2 = (float)(keep - 2 * FD_STEP);
        int kink = 0;
        double lp1 = fd_loss_at(t, v + k, p1, 1, &kink), lm1 = fd_loss_at(t, v + k, m1, 0, &kink);
        double lp2 = fd_loss_at(t, v + k, p2, 0, &kink), lm2 = fd_loss_at(t, v + k, m2, 0, &kink);
        v[k] = keep;
        if (kink) {
            (*skipped)++;
            continue;
        }
        double num = (8 * (lp1 - lm1) - (lp2 - lm2)) / (6 * ((double)p1 - (double)m1));
        double diff = fabs(a[k] - num);
        r.worst = fmax(r.worst, diff / fmax(fmax(fabs(a[k]), fabs(num)), least));
        r.worst_abs = fmax(r.worst_abs, diff);
        se += diff * diff;
    }
    r.l2 = ss > 0 ? sqrt(se / ss) : sqrt(se);
    return r;
}

/* Check every parameter and every input of t; prints the worst errors. */
static void fd_check(fd_case *t, const char *label)
{
    if (t->kind == K_ENC) {
        t->pat[0] = malloc(t->rows * t->enc.ff1.out);
        t->pat[1] = malloc(t->rows * t->enc.ff1.out);
        CU_ASSERT_FATAL(t->pat[0] && t->pat[1]);
    }
    memset(t->grads, 0, t->n_params * sizeof *t->grads);
    fd_forward(t);
    fd_backward(t);
    float *ga = alloc_floats(t->n_params), *gx = alloc_floats(t->n_x);
    memcpy(ga, t->grads, t->n_params * sizeof *ga);
    memcpy(gx, t->dX, t->n_x * sizeof *gx);
    size_t skipped = 0;
    fd_result p = fd_sweep(t, t->params, ga, t->n_params, &skipped);
    fd_result x = fd_sweep(t, t->X, gx, t->n_x, &skipped);
    printf("\n  %s: %zu parameters: worst %.1e (absolute %.1e), whole %.1e; %zu inputs: worst "
           "%.1e (absolute %.1e), whole %.1e; %zu at a kink skipped ", label, t->n_params,
           p.worst, p.worst_abs, p.l2, t->n_x, x.worst, x.worst_abs, x.l2, skipped);
    CU_ASSERT(p.worst < FD_TOL && x.worst < FD_TOL);
    CU_ASSERT(p.l2 < FD_L2_TOL && x.l2 < FD_L2_TOL);
    CU_ASSERT(skipped * 5 < t->n_params + t->n_x);
    free(ga);
    free(gx);
}

/* ---- finite differences, layer by layer ------------------------------------------- */

static void check_dense(uint32_t in, uint32_t out, size_t rows, uint64_t seed)
{
    fd_case t = {.kind = K_DENSE, .rows = rows};
    size_t n_params = dense_place(&t.d, in, out, 3) + 2; /* not at 0, not at the end */
    fd_alloc(&t, n_params, rows * in, rows * out, seed);
    rng r;
    rng_seed(&r, seed, 1);
    dense_init(&t.d, t.params, &r);
    fill(t.params + t.d.b, out, &r, -1, 1); /* biases that matter */
    char label[64];
    snprintf(label, sizeof label, "dense %u -> %u, %zu rows", in, out, rows);
    fd_check(&t, label);
    fd_free(&t);
}

static void test_fd_dense(void)
{
    check_dense(5, 3, 4, 1);
    check_dense(16, 12, 20, 2);
}

/* Inputs 0.1 to 1 away from 0, so no step of FD_STEP crosses the kink. */
static void check_activation(int kind, size_t n, uint64_t seed)
{
    fd_case t = {.kind = kind, .rows = n};
    fd_alloc(&t, 0, n, n, seed);
    rng r;
    rng_seed(&r, seed, 1);
    for (size_t i = 0; i < n; i++)
        t.X[i] = (float)((0.1 + 0.9 * rng_uniform(&r)) * (rng_below(&r, 2) ? 1 : -1));
    char label[64];
    snprintf(label, sizeof label, "%s over %zu values", kind == K_RELU ? "relu" : "leaky", n);
    fd_check(&t, label);
    fd_free(&t);
}

static void test_fd_activations(void)
{
    check_activation(K_RELU, 7, 3);
    check_activation(K_RELU, 200, 4);
    check_activation(K_LEAKY, 7, 5);
    check_activation(K_LEAKY, 200, 6);
}

/* The slopes by hand: relu(-2, 0, 3) = (0, 0, 3), leaky = (-0.4, 0, 3); the
 * backward of dy = 1 is (0, 0, 1) and (0.2, 0.2, 1). */
static void test_activations_by_hand(void)
{
    float x[3] = {-2, 0, 3}, y[3] = {-2, 0, 3}, dx[3] = {1, 1, 1}, dy[3] = {1, 1, 1};
    relu_forward(x, 3);
    leaky_forward(y, 3);
    relu_backward(x, dx, 3);
    leaky_backward(y, dy, 3);
    CU_ASSERT(x[0] == 0 && x[1] == 0 && x[2] == 3);
    CU_ASSERT(fabsf(y[0] + 0.4f) < 1e-7f && y[1] == 0 && y[2] == 3);
    CU_ASSERT(dx[0] == 0 && dx[1] == 0 && dx[2] == 1);
    CU_ASSERT(fabsf(dy[0] - 0.2f) < 1e-7f && fabsf(dy[1] - 0.2f) < 1e-7f && dy[2] == 1);
}

static void check_norm(uint32_t dim, size_t rows, uint64_t seed)
{
    fd_case t = {.kind = K_NORM, .rows = rows};
    size_t n_params = norm_place(&t.nl, dim, 0);
    fd_alloc(&t, n_params, rows * dim, rows * dim, seed);
    rng r;
    rng_seed(&r, seed, 1);
    fill(t.params + t.nl.g, dim, &r, 0.5, 1.5);
    fill(t.params + t.nl.b, dim, &r, -0.5, 0.5);
    char label[64];
    snprintf(label, sizeof label, "norm of width %u, %zu rows", dim, rows);
    fd_check(&t, label);
    fd_free(&t);
}

static void test_fd_norm(void)
{
    check_norm(5, 3, 7);
    check_norm(16, 20, 8);
}

/* With t's attention or encoder placed in n_params floats: a batch of the
 * given sequences at width dim, initialized from seed, checked. */
static void check_batched(fd_case *t, size_t n_params, uint32_t dim, uint32_t n_seq,
                          const uint32_t *len, const uint32_t *ctx, uint64_t seed,
                          const char *label)
{
    batch_make(&t->b, n_seq, len, ctx);
    t->rows = t->b.start[n_seq];
    fd_alloc(t, n_params, t->rows * dim, t->rows * dim, seed);
    rng r;
    rng_seed(&r, seed, 1);
    if (t->kind == K_ATT) {
        attention_init(&t->a, t->params, &r);
    } else { /* norms' gains and biases away from 1 and 0 */
        encoder_init(&t->enc, t->params, &r);
        fill(t->params + t->enc.n1.g, dim, &r, 0.5, 1.5);
        fill(t->params + t->enc.n1.b, dim, &r, -0.5, 0.5);
        fill(t->params + t->enc.n2.g, dim, &r, 0.5, 1.5);
        fill(t->params + t->enc.n2.b, dim, &r, -0.5, 0.5);
    }
    fd_check(t, label);
    fd_free(t);
}

static void check_attention(uint32_t dim, uint32_t heads, int project, uint32_t n_seq,
                            const uint32_t *len, const uint32_t *ctx, uint64_t seed)
{
    fd_case t = {.kind = K_ATT};
    char label[96];
    snprintf(label, sizeof label, "attention %u wide, %u heads, %s, %u sequences", dim, heads,
             project ? "projected" : "no projection", n_seq);
    check_batched(&t, attention_place(&t.a, dim, heads, project, 0), dim, n_seq, len, ctx, seed,
                  label);
}

/* VPL's shape (one sequence all context, one head, no projection), then
 * masked batches: heads 1 and more, with and without a projection, narrow
 * and at dim 16. */
static void test_fd_attention(void)
{
    uint32_t l1[] = {5}, c1[] = {5};
    uint32_t l2[] = {3, 4}, c2[] = {1, 2};
    uint32_t l3[] = {3, 2, 4}, c3[] = {2, 2, 1};
    uint32_t l4[] = {5, 9, 2}, c4[] = {3, 4, 2};
    check_attention(4, 1, 0, 1, l1, c1, 11);
    check_attention(4, 1, 1, 2, l2, c2, 12);
    check_attention(6, 2, 0, 3, l3, c3, 13);
    check_attention(6, 3, 1, 3, l3, c3, 14);
    check_attention(16, 1, 1, 3, l4, c4, 15);
    check_attention(16, 4, 0, 3, l4, c4, 16);
    check_attention(16, 4, 1, 3, l4, c4, 17);
}

static void check_encoder(uint32_t dim, uint32_t heads, uint32_t ff, uint32_t n_seq,
                          const uint32_t *len, const uint32_t *ctx, uint64_t seed)
{
    fd_case t = {.kind = K_ENC};
    char label[96];
    snprintf(label, sizeof label, "encoder %u wide, %u heads, ff %u, %u sequences", dim, heads,
             ff, n_seq);
    check_batched(&t, encoder_place(&t.enc, dim, heads, ff, 0), dim, n_seq, len, ctx, seed,
                  label);
}

static void test_fd_encoder(void)
{
    uint32_t l2[] = {3, 4}, c2[] = {2, 1};
    uint32_t l4[] = {5, 9, 2}, c4[] = {3, 4, 2};
    check_encoder(4, 2, 6, 2, l2, c2, 21);
    check_encoder(16, 4, 12, 3, l4, c4, 22);
}

/* ---- attention by hand -------------------------------------------------------------- */

static void set_identity(const dense *d, float *params)
{
    for (uint32_t i = 0; i < d->out; i++)
        params[d->w + (size_t)i * d->in + i] = 1.0f;
}

/* Width 2, Wq = Wk = Wv = I, zero biases. Two sequences: rows x0 = (1, 0),
 * x1 = (0, 1), x2 = (1, 1) with context x0, x1; and x3 = (3, -2) alone.
 * One head, scale 1/sqrt(2): x0's scores (1/sqrt 2, 0) give the weights
 * (s, 1 - s), s = 1 / (1 + e^(-1/sqrt 2)) = 1 / (1 + 0.493069) = 0.669762,
 * so O0 = s x0 + (1 - s) x1 = (0.669762, 0.330238); x1 mirrors it, O1 =
 * (0.330238, 0.669762); x2 scores both alike, O2 = (0.5, 0.5); x3 attends to
 * itself only, O3 = x3. Two heads (width 1 each, scale 1): head 0 reads
 * column 0, so x0 scores (1, 0) and takes t = 1 / (1 + e^-1) = 0.731059 of
 * x0's 1, while head 1 scores (0, 0) and averages x0's and x1's column 1:
 * O0 = (t, 0.5); likewise O1 = (0.5, t), O2 = (t, t). With the projection
 * Wo = [0 1; 1 0] and bo = (1, -1), one head: Y0 = (0.330238 + 1, 0.669762 -
 * 1), Y3 = (-2 + 1, 3 - 1). */
static void check_by_hand(uint32_t heads, int project, const float *want)
{
    uint32_t len[] = {3, 1}, ctx[] = {2, 1};
    batch b;
    batch_make(&b, 2, len, ctx);
    float X[8] = {1, 0, 0, 1, 1, 1, 3, -2}, Y[8], params[32] = {0};
    attention a;
    CU_ASSERT_FATAL(attention_place(&a, 2, heads, project, 0) <= 32);
    set_identity(&a.q, params);
    set_identity(&a.k, params);
    set_identity(&a.v, params);
    if (project) {
        params[a.o.w + 1] = params[a.o.w + 2] = 1.0f;
        params[a.o.b] = 1.0f;
        params[a.o.b + 1] = -1.0f;
    }
    attention_ws ws = {0};
    ppr_err e = {0};
    CU_ASSERT_FATAL(attention_forward(&a, params, &b.sb, X, Y, &ws, &e) == PPR_OK);
    for (int i = 0; i < 8; i++)
        CU_ASSERT_DOUBLE_EQUAL(Y[i], want[i], 1e-6);
    attention_ws_release(&ws);
}

static void test_attention_by_hand(void)
{
    const float s = 0.66976155f, t = 0.73105858f;
    const float one[8] = {s, 1 - s, 1 - s, s, 0.5f, 0.5f, 3, -2};
    const float two[8] = {t, 0.5f, 0.5f, t, t, t, 3, -2};
    const float projected[8] = {2 - s, s - 1, 1 + s, -s, 1.5f, -0.5f, -1, 2};
    check_by_hand(1, 0, one);
    check_by_hand(2, 0, two);
    check_by_hand(1, 1, projected);
}

/* ---- the mask ------------------------------------------------------------------------- */

/* Row i of A and B [rows][dim] are the same bits. */
static int row_same(const float *A, const float *B, size_t i, size_t dim)
{
    return memcmp(A + i * dim, B + i * dim, dim * sizeof *A) == 0;
}

/* Width 16, 4 heads, sequences of 5, 9, 2 rows with contexts 3, 4, 2 (rows
 * 0-4, 5-13, 14-15). Moving target row 11 moves row 11's output alone;
 * moving context row 6 moves every row of its sequence and no other. */
static void check_isolation(int encoder)
{
    const uint32_t dim = 16, len[] = {5, 9, 2}, ctx[] = {3, 4, 2};
    batch b;
    batch_make(&b, 3, len, ctx);
    size_t rows = b.start[3];
    attention a;
    encoder_layer l;
    size_t n = encoder ? encoder_place(&l, dim, 4, 12, 0) : attention_place(&a, dim, 4, 1, 0);
    float *params = alloc_floats(n), *X = alloc_floats(rows * dim);
    float *Y0 = alloc_floats(rows * dim), *Y1 = alloc_floats(rows * dim);
    rng r;
    rng_seed(&r, 31, 0);
    if (encoder)
        encoder_init(&l, params, &r);
    else
        attention_init(&a, params, &r);
    fill(X, rows * dim, &r, -1, 1);
    attention_ws aws = {0};
    encoder_ws ews = {0};
    ppr_err e = {0};
#define RUN(Y)                                                                                \
    CU_ASSERT_FATAL((encoder ? encoder_forward(&l, params, &b.sb, X, Y, &ews, &e)             \
                             : attention_forward(&a, params, &b.sb, X, Y, &aws, &e)) == PPR_OK)
    RUN(Y0);
    const size_t moved[2] = {11, 6};
    for (int k = 0; k < 2; k++) {
        for (size_t j = 0; j < dim; j++)
            X[moved[k] * dim + j] += 0.5f;
        RUN(Y1);
        for (size_t j = 0; j < dim; j++)
            X[moved[k] * dim + j] -= 0.5f;
        for (size_t i = 0; i < rows; i++) {
            int changes = k == 0 ? i == moved[0] : i >= 5 && i <= 13;
            CU_ASSERT(row_same(Y0, Y1, i, dim) == !changes);
        }
    }
#undef RUN
    attention_ws_release(&aws);
    encoder_ws_release(&ews);
    free(params);
    free(X);
    free(Y0);
    free(Y1);
}

static void test_isolation(void)
{
    check_isolation(0);
    check_isolation(1);
}

/* ---- layout, initialization, decay masks ----------------------------------------------- */

static size_t count_ones(const uint8_t *mask, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += mask[i] == 1;
    return k;
}

/* Offsets worked out for width 8 (64 weights a matrix): Wq, Wk, Wv at 10,
 * 74, 138, their biases at 202, 210, 218, o at 226 and 290, end 298. The
 * encoder of width 8 and ff 6: attention 288 floats, ff1 8 x 6 + 6 at 288,
 * ff2 6 x 8 + 8 at 342, norms 16 each at 398 and 414, end 430. */
static void test_layout(void)
{
    attention a;
    CU_ASSERT(attention_place(&a, 8, 2, 1, 10) == 298);
    CU_ASSERT(a.q.w == 10 && a.k.w == 74 && a.v.w == 138);
    CU_ASSERT(a.q.b == 202 && a.k.b == 210 && a.v.b == 218);
    CU_ASSERT(a.o.w == 226 && a.o.b == 290);
    CU_ASSERT(attention_place(&a, 8, 2, 0, 10) == 226);
    encoder_layer l;
    CU_ASSERT(encoder_place(&l, 8, 2, 6, 0) == 430);
    CU_ASSERT(l.ff1.w == 288 && l.ff1.b == 336 && l.ff2.w == 342 && l.ff2.b == 390);
    CU_ASSERT(l.n1.g == 398 && l.n1.b == 406 && l.n2.g == 414 && l.n2.b == 422);

    uint8_t mask[430];
    memset(mask, 7, sizeof mask);
    encoder_decay_mask(&l, mask);
    CU_ASSERT(count_ones(mask, 430) == 4 * 64 + 2 * 48); /* the weight matrices */
    for (size_t i = 0; i < 430; i++)
        CU_ASSERT(mask[i] <= 1);
    CU_ASSERT(mask[l.att.o.b] == 0 && mask[l.att.v.w + 63] == 1 && mask[l.n2.b + 7] == 0);
}

/* dense_init is nn.Linear's U(-1/sqrt(in), 1/sqrt(in)), W row-major then b,
 * from the caller's generator; the encoder's norms start at g = 1, b = 0. */
static void test_init(void)
{
    encoder_layer l;
    size_t n = encoder_place(&l, 8, 2, 6, 0);
    float *params = alloc_floats(n);
    rng r, mine;
    rng_seed(&r, 5, 3);
    rng_seed(&mine, 5, 3);
    encoder_init(&l, params, &r);
    const dense *order[] = {&l.att.q, &l.att.k, &l.att.v, &l.att.o, &l.ff1, &l.ff2};
    for (int k = 0; k < 6; k++) {
        double bound = 1.0 / sqrt((double)order[k]->in);
        size_t nw = (size_t)order[k]->in * order[k]->out;
        for (size_t i = 0; i < nw + order[k]->out; i++) {
            float want = (float)((2.0 * rng_uniform(&mine) - 1.0) * bound);
            float got = params[i < nw ? order[k]->w + i : order[k]->b + i - nw];
            CU_ASSERT(got == want && fabs(got) <= bound);
        }
    }
    for (uint32_t j = 0; j < 8; j++)
        CU_ASSERT(params[l.n1.g + j] == 1 && params[l.n1.b + j] == 0 &&
                  params[l.n2.g + j] == 1 && params[l.n2.b + j] == 0);
    free(params);
}

/* ---- bad batches ------------------------------------------------------------------------ */

static void test_bad_input(void)
{
    float params[400] = {0}, X[64] = {0}, Y[64];
    attention a;
    attention_place(&a, 8, 3, 1, 0);
    attention_ws ws = {0};
    ppr_err e = {0};
    uint32_t len[] = {3, 2}, ctx[] = {2, 1};
    batch b;
    batch_make(&b, 2, len, ctx);
    CU_ASSERT(attention_forward(&a, params, &b.sb, X, Y, &ws, &e) == PPR_EINPUT);
    CU_ASSERT(err_has(&e, "3 heads do not divide the width 8"));
    attention_place(&a, 0, 1, 1, 0);
    CU_ASSERT(attention_forward(&a, params, &b.sb, X, Y, &ws, &e) == PPR_EINPUT);
    CU_ASSERT(err_has(&e, "a width of 0"));
    attention_place(&a, 8, 2, 1, 0);
    CU_ASSERT(attention_forward(&a, params, &b.sb, X, Y, &ws, &e) == PPR_OK);

    const uint32_t bad_ctx[][2] = {{0, 1}, {2, 3}};
    for (int k = 0; k < 2; k++) {
        batch_make(&b, 2, len, bad_ctx[k]);
        CU_ASSERT(attention_forward(&a, params, &b.sb, X, Y, &ws, &e) == PPR_EINTERNAL);
        CU_ASSERT(err_has(&e, "context of"));
    }
    uint32_t empty[] = {3, 0};
    batch_make(&b, 2, empty, ctx);
    CU_ASSERT(attention_forward(&a, params, &b.sb, X, Y, &ws, &e) == PPR_EINTERNAL);
    CU_ASSERT(err_has(&e, "sequence 1 has rows 3 .. 3"));
    batch_make(&b, 2, len, ctx);
    b.start[0] = 1;
    CU_ASSERT(attention_forward(&a, params, &b.sb, X, Y, &ws, &e) == PPR_EINTERNAL);
    CU_ASSERT(err_has(&e, "starts at row 1"));

    encoder_layer l;
    float *ep = alloc_floats(encoder_place(&l, 8, 3, 4, 0));
    encoder_ws ews = {0};
    batch_make(&b, 2, len, ctx);
    CU_ASSERT(encoder_forward(&l, ep, &b.sb, X, Y, &ews, &e) == PPR_EINPUT);
    CU_ASSERT(encoder_backward(&l, ep, ep, &b.sb, X, Y, Y, Y, &ews, &e) == PPR_EINPUT);
    free(ep);
    encoder_ws_release(&ews);
    attention_ws_release(&ws);
}

/* ---- aliasing, workspaces, precision of the norm's backward -------------------------------- */

/* An encoder at width 16 over the mask test's batch, ready to run. */
typedef struct {
    encoder_layer l;
    batch b;
    size_t n, rows;
    float *params, *grads, *X, *Y, *dY, *dX; /* [n], [n], then [rows][16] each */
    encoder_ws ws;
} enc_run;

static void enc_setup(enc_run *t, uint64_t seed)
{
    const uint32_t len[] = {5, 9, 2}, ctx[] = {3, 4, 2};
    memset(t, 0, sizeof *t);
    batch_make(&t->b, 3, len, ctx);
    t->rows = t->b.start[3];
    t->n = encoder_place(&t->l, 16, 4, 12, 0);
    t->params = alloc_floats(t->n);
    t->grads = alloc_floats(t->n);
    t->X = alloc_floats(t->rows * 16);
    t->Y = alloc_floats(t->rows * 16);
    t->dY = alloc_floats(t->rows * 16);
    t->dX = alloc_floats(t->rows * 16);
    rng r;
    rng_seed(&r, seed, 0);
    encoder_init(&t->l, t->params, &r);
    fill(t->X, t->rows * 16, &r, -1, 1);
    fill(t->dY, t->rows * 16, &r, -1, 1);
}

static void enc_step(enc_run *t, float *dX)
{
    ppr_err e = {0};
    CU_ASSERT_FATAL(encoder_forward(&t->l, t->params, &t->b.sb, t->X, t->Y, &t->ws, &e) ==
                    PPR_OK);
    CU_ASSERT_FATAL(encoder_backward(&t->l, t->params, t->grads, &t->b.sb, t->X, t->Y, t->dY,
                                     dX, &t->ws, &e) == PPR_OK);
}

static void enc_free(enc_run *t)
{
    free(t->params);
    free(t->grads);
    free(t->X);
    free(t->Y);
    free(t->dY);
    free(t->dX);
    encoder_ws_release(&t->ws);
}

/* encoder_backward with dX = dY gives the bits of separate buffers, and a
 * second pass over the same or a smaller batch grows no workspace. */
static void test_alias_and_steady(void)
{
    enc_run t;
    enc_setup(&t, 41);
    enc_step(&t, t.dX);
    float *g1 = alloc_floats(t.n);
    memcpy(g1, t.grads, t.n * sizeof *g1);
    memset(t.grads, 0, t.n * sizeof *t.grads);
    encoder_ws kept = t.ws;
    enc_step(&t, t.dY); /* in place */
    CU_ASSERT(memcmp(t.dX, t.dY, t.rows * 16 * sizeof *t.dX) == 0);
    CU_ASSERT(memcmp(g1, t.grads, t.n * sizeof *g1) == 0);
    CU_ASSERT(memcmp(&kept, &t.ws, sizeof kept) == 0);
    t.b.sb.n_seq = 2;
    enc_step(&t, t.dX);
    CU_ASSERT(memcmp(&kept, &t.ws, sizeof kept) == 0);
    free(g1);
    enc_free(&t);
}

/* The worst relative error of norm_backward's dg, db and dX against the
 * backward computed in double from X itself, for gains drawn from [g_lo,
 * g_hi] and biases from [0.9, 1.1]; dX's errors are relative to 1e-2 of its
 * largest entry at least (its entries scale with g). Checks that the backward
 * in place (dX = dY) gives the same bits. */
static double norm_vs_double(double g_lo, double g_hi)
{
    enum { DIM = 12, ROWS = 6 };
    norm l;
    float params[2 * DIM], grads[2 * DIM] = {0}, X[ROWS * DIM], Y[ROWS * DIM];
    float dY[ROWS * DIM], dX[ROWS * DIM], stats[2 * ROWS];
    double want_x[ROWS * DIM], want_g[DIM] = {0}, want_b[DIM] = {0}, scale = 0, worst = 0;
    norm_place(&l, DIM, 0);
    rng r;
    rng_seed(&r, 51, 0);
    fill(X, ROWS * DIM, &r, -2, 2);
    fill(dY, ROWS * DIM, &r, -1, 1);
    fill(params, DIM, &r, g_lo, g_hi);
    fill(params + DIM, DIM, &r, 0.9, 1.1);
    norm_forward(&l, params, X, ROWS, Y, stats);
    norm_backward(&l, params, grads, Y, ROWS, stats, dY, dX);
    for (int i = 0; i < ROWS; i++) {
        const float *x = X + i * DIM, *dy = dY + i * DIM;
        double mean = 0, var = 0, xh[DIM], a = 0, c = 0;
        for (int j = 0; j < DIM; j++)
            mean += x[j] / (double)DIM;
        for (int j = 0; j < DIM; j++)
            var += (x[j] - mean) * (x[j] - mean) / DIM;
        double rstd = 1 / sqrt(var + 1e-5);
        for (int j = 0; j < DIM; j++) {
            xh[j] = (x[j] - mean) * rstd;
            want_g[j] += dy[j] * xh[j];
            want_b[j] += dy[j];
            a += params[j] * dy[j] / DIM;
            c += params[j] * dy[j] * xh[j] / DIM;
        }
        for (int j = 0; j < DIM; j++) {
            want_x[i * DIM + j] = rstd * (params[j] * dy[j] - a - xh[j] * c);
            scale = fmax(scale, fabs(want_x[i * DIM + j]));
        }
    }
    for (int k = 0; k < ROWS * DIM; k++)
        worst = fmax(worst, fabs(dX[k] - want_x[k]) / fmax(fabs(want_x[k]), 1e-2 * scale));
    for (int j = 0; j < DIM; j++) {
        worst = fmax(worst, fabs(grads[j] - want_g[j]) / fmax(fabs(want_g[j]), 1e-2));
        worst = fmax(worst, fabs(grads[DIM + j] - want_b[j]) / fmax(fabs(want_b[j]), 1e-2));
    }
    memset(grads, 0, sizeof grads);
    norm_backward(&l, params, grads, Y, ROWS, stats, dY, dY);
    CU_ASSERT(memcmp(dX, dY, sizeof dX) == 0);
    return worst;
}

/* norm_backward recovers xhat = (Y - b) / g, which loses about 2^-24 (|Y| +
 * |b|) / |g| of it: 1e-7 at gains near 1, 1.2e-4 at gains of 1e-3 beside
 * biases of 1, where sums over the row make dX's error some 10 times that. */
static void test_norm_precision(void)
{
    double usual = norm_vs_double(0.5, 1.5), small = norm_vs_double(0.8e-3, 1.2e-3);
    printf("\n  norm against double from X: worst relative error %.2e at gains 0.5-1.5, %.2e at "
           "gains 1e-3 ", usual, small);
    CU_ASSERT(usual < 1e-5);
    CU_ASSERT(small < 5e-3);
}

int main(void)
{
    static const test_case cases[] = {
        {"dense: finite differences", test_fd_dense},
        {"relu and leaky: finite differences", test_fd_activations},
        {"relu and leaky by hand", test_activations_by_hand},
        {"norm: finite differences", test_fd_norm},
        {"norm against double, small gains, in place", test_norm_precision},
        {"attention: finite differences", test_fd_attention},
        {"attention by hand", test_attention_by_hand},
        {"encoder: finite differences", test_fd_encoder},
        {"targets move only their own output", test_isolation},
        {"layout and decay masks", test_layout},
        {"initialization", test_init},
        {"bad batches", test_bad_input},
        {"in-place backward and steady workspaces", test_alias_and_steady},
        {NULL, NULL},
    };
    return test_main("layers", NULL, NULL, cases, CU_BRM_NORMAL);
}
