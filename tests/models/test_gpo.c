/* test_gpo.c: GPO (common/models/gpo.c) against a reference written here in
 * double from methods.md section 5 and layers.h's definitions: the whole
 * loss's gradient against central finite differences of the reference, and
 * scores against its forward pass; in-context learning of a user held out of
 * meta-training, against Vanilla, on pairs whose users' utilities are
 * linear in the response features; byte-identical retraining and round
 * trips; unserved users and bad settings. */
#include <CUnit/Basic.h>
#include <cblas.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/models/evaluate.h"
#include "common/models/layers.h"
#include "common/models/method.h"
#include "common/models/modelfile.h"
#include "common/rng.h"
#include "common/sha256.h"
#include "tests/testlib.h"

#define MAX_DEPTH 4
#define MAX_LAYERS 2

/* The "gpo" settings, in the order of the settings JSON below. */
typedef struct {
    uint32_t d_model, layers, heads, ff, embed_depth;
    uint32_t ctx_min, ctx_max, tar_min, tar_max, eval_context, groups;
} arch;

static int make(method **m, const char *name, uint32_t dim, uint32_t n_users, const arch *a,
                uint64_t seed, ppr_err *e)
{
    char text[512];
    snprintf(text, sizeof text,
             "{\"head\": {\"hidden\": [16]}, \"gpo\": {\"d_model\": %u, \"layers\": %u, "
             "\"heads\": %u, \"ff\": %u, \"embed_depth\": %u, \"ctx_min\": %u, \"ctx_max\": %u, "
             "\"tar_min\": %u, \"tar_max\": %u, \"eval_context\": %u, \"groups\": %u, "
             "\"lr\": 1e-4, \"schedule\": \"cosine\"}}",
             a->d_model, a->layers, a->heads, a->ff, a->embed_depth, a->ctx_min, a->ctx_max,
             a->tar_min, a->tar_max, a->eval_context, a->groups);
    cJSON *settings = cJSON_Parse(text);
    CU_ASSERT_FATAL(settings != NULL);
    int rc = method_new(m, name, dim, n_users, settings, seed, e);
    cJSON_Delete(settings);
    return rc;
}

/* ---- pairs ---------------------------------------------------------------------- */

/* Pairs of random texts, each with its own prompt row and two response
 * rows of features N(0, 1/dim). A user of utility theta prefers response a
 * over b with probability sigmoid(beta theta . (phi(a) - phi(b))) (the
 * prompt carries nothing); each label is drawn from it. */
typedef struct {
    pair_set ps;
    float *matrix;  /* [3 n][dim] */
    uint32_t *rows; /* [n][3] */
    uint32_t *user; /* [n] */
    double *best;   /* [n] max(p, 1 - p): the Bayes-optimal chance of ordering pair i right */
} pairs;

#define MAX_USERS 16

/* theta . (a - b) over dim features. */
static double utility_gap(const double *theta, const float *a, const float *b, uint32_t dim)
{
    double z = 0;
    for (uint32_t j = 0; j < dim; j++)
        z += theta[j] * ((double)a[j] - b[j]);
    return z;
}

/* Users first .. first + n_users - 1 of utilities theta [n_users][dim],
 * n_of[k] pairs of user first + k, user by user. */
static pairs pairs_of(uint32_t dim, const double *theta, uint32_t n_users, uint32_t first,
                      const size_t *n_of, double beta, uint64_t seed)
{
    size_t n = 0;
    for (uint32_t k = 0; k < n_users; k++)
        n += n_of[k];
    pairs s = {.matrix = malloc(3 * n * dim * sizeof(float)),
               .rows = malloc(3 * n * sizeof(uint32_t)),
               .user = malloc(n * sizeof(uint32_t)),
               .best = malloc(n * sizeof(double))};
    CU_ASSERT_FATAL(s.matrix && s.rows && s.user && s.best);
    rng r;
    rng_seed(&r, seed, 0);
    size_t i = 0;
    for (uint32_t k = 0; k < n_users; k++)
        for (size_t j = 0; j < n_of[k]; j++, i++) {
            float *x = s.matrix + 3 * i * dim; /* [3][dim] prompt, a, b */
            for (size_t c = 0; c < 3 * (size_t)dim; c++)
                x[c] = (float)(rng_normal(&r) / sqrt(dim));
            double p = 1 / (1 + exp(-beta * utility_gap(theta + k * dim, x + dim, x + 2 * dim, dim)));
            uint32_t b_wins = rng_uniform(&r) >= p;
            s.rows[3 * i] = (uint32_t)(3 * i);
            s.rows[3 * i + 1] = (uint32_t)(3 * i + 1 + b_wins);
            s.rows[3 * i + 2] = (uint32_t)(3 * i + 2 - b_wins);
            s.user[i] = first + k;
            s.best[i] = fmax(p, 1 - p);
        }
    s.ps = (pair_set){s.matrix, dim, s.rows, s.user, n, first + n_users, NULL};
    return s;
}

/* pairs_of with n_per pairs of each user. */
static pairs pairs_make(uint32_t dim, const double *theta, uint32_t n_users, uint32_t first,
                        size_t n_per, double beta, uint64_t seed)
{
    size_t n_of[MAX_USERS];
    CU_ASSERT_FATAL(n_users <= MAX_USERS);
    for (uint32_t k = 0; k < n_users; k++)
        n_of[k] = n_per;
    return pairs_of(dim, theta, n_users, first, n_of, beta, seed);
}

/* theta [n] N(0, 1) from seed. */
static void theta_normal(double *theta, size_t n, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed, 1);
    for (size_t i = 0; i < n; i++)
        theta[i] = rng_normal(&r);
}

static void pairs_free(pairs *s)
{
    free(s->matrix);
    free(s->rows);
    free(s->user);
    free(s->best);
}

/* ---- the reference, in double ------------------------------------------------------ */

/* The network's layers where gpo.c places them: embedder, encoder layers,
 * head, one after another from offset 0. */
typedef struct {
    arch a;
    uint32_t dim;
    dense embed[MAX_DEPTH];
    encoder_layer enc[MAX_LAYERS];
    dense head1, head2;
    size_t n;
} ref_net;

static ref_net ref_place(const arch *a, uint32_t dim)
{
    ref_net r = {.a = *a, .dim = dim};
    size_t at = 0;
    for (uint32_t l = 0; l < a->embed_depth; l++)
        at = dense_place(&r.embed[l], l ? a->d_model : 2 * dim + 1, a->d_model, at);
    for (uint32_t l = 0; l < a->layers; l++)
        at = encoder_place(&r.enc[l], a->d_model, a->heads, a->ff, at);
    at = dense_place(&r.head1, a->d_model, a->d_model, at);
    r.n = dense_place(&r.head2, a->d_model, 2, at);
    return r;
}

/* Y [n][out] = X [n][in] W^T + b. */
static void ref_dense(const dense *l, const double *P, const double *X, size_t n, double *Y)
{
    for (size_t i = 0; i < n; i++)
        for (uint32_t o = 0; o < l->out; o++) {
            double s = P[l->b + o];
            for (uint32_t k = 0; k < l->in; k++)
                s += X[i * l->in + k] * P[l->w + (size_t)o * l->in + k];
            Y[i * l->out + o] = s;
        }
}

static void ref_relu(double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = x[i] > 0 ? x[i] : 0;
}

/* X [n][dim] normalized in place, eps 1e-5, biased variance. */
static void ref_norm(const norm *l, const double *P, double *X, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double *x = X + i * l->dim, mean = 0, var = 0;
        for (uint32_t k = 0; k < l->dim; k++)
            mean += x[k] / l->dim;
        for (uint32_t k = 0; k < l->dim; k++)
            var += (x[k] - mean) * (x[k] - mean) / l->dim;
        for (uint32_t k = 0; k < l->dim; k++)
            x[k] = (x[k] - mean) / sqrt(var + 1e-5) * P[l->g + k] + P[l->b + k];
    }
}

/* Sequences of a batch: sequence s is rows start[s] .. start[s + 1] - 1,
 * its first n_ctx[s] the context every row of s attends to. */
typedef struct {
    size_t n_seq, start[16], n_ctx[16];
} ref_seqs;

/* One post-norm encoder layer over X [rows][d], in place. */
static void ref_encoder(const encoder_layer *l, const double *P, const ref_seqs *sq, double *X)
{
    size_t rows = sq->start[sq->n_seq], d = l->att.dim, H = l->att.heads, dh = d / H;
    double *q = malloc(rows * d * sizeof *q), *k = malloc(rows * d * sizeof *k),
           *v = malloc(rows * d * sizeof *v), *o = malloc(rows * d * sizeof *o),
           *y = malloc(rows * d * sizeof *y), *f = malloc(rows * l->ff1.out * sizeof *f),
           *p = malloc(rows * sizeof *p);
    CU_ASSERT_FATAL(q && k && v && o && y && f && p);
    ref_dense(&l->att.q, P, X, rows, q);
    ref_dense(&l->att.k, P, X, rows, k);
    ref_dense(&l->att.v, P, X, rows, v);
    for (size_t s = 0; s < sq->n_seq; s++)
        for (size_t i = sq->start[s]; i < sq->start[s + 1]; i++)
            for (size_t h = 0; h < H; h++) {
                double top = -INFINITY, sum = 0;
                for (size_t j = 0; j < sq->n_ctx[s]; j++) {
                    const double *qi = q + i * d + h * dh, *kj = k + (sq->start[s] + j) * d + h * dh;
                    double dot = 0;
                    for (size_t c = 0; c < dh; c++)
                        dot += qi[c] * kj[c];
                    p[j] = dot / sqrt((double)dh);
                    top = fmax(top, p[j]);
                }
                for (size_t j = 0; j < sq->n_ctx[s]; j++)
                    sum += p[j] = exp(p[j] - top);
                for (size_t c = 0; c < dh; c++) {
                    double acc = 0;
                    for (size_t j = 0; j < sq->n_ctx[s]; j++)
                        acc += p[j] / sum * v[(sq->start[s] + j) * d + h * dh + c];
                    o[i * d + h * dh + c] = acc;
                }
            }
    ref_dense(&l->att.o, P, o, rows, y);
    for (size_t i = 0; i < rows * d; i++)
        X[i] += y[i];
    ref_norm(&l->n1, P, X, rows);
    ref_dense(&l->ff1, P, X, rows, f);
    ref_relu(f, rows * l->ff1.out);
    ref_dense(&l->ff2, P, f, rows, y);
    for (size_t i = 0; i < rows * d; i++)
        X[i] += y[i];
    ref_norm(&l->n2, P, X, rows);
    free(q);
    free(k);
    free(v);
    free(o);
    free(y);
    free(f);
    free(p);
}

/* out [targets][2] (m_raw, s) of the target rows of tokens X [rows][2 dim +
 * 1] in sequences sq, in order. */
static void ref_forward(const ref_net *r, const double *P, const ref_seqs *sq, const double *X,
                        double *out)
{
    size_t rows = sq->start[sq->n_seq], d = r->a.d_model;
    double *a = malloc(rows * d * sizeof *a), *b = malloc(rows * d * sizeof *b);
    CU_ASSERT_FATAL(a && b);
    const double *x = X;
    for (uint32_t l = 0; l < r->a.embed_depth; l++) {
        ref_dense(&r->embed[l], P, x, rows, a);
        if (l + 1 < r->a.embed_depth)
            ref_relu(a, rows * d);
        memcpy(b, a, rows * d * sizeof *b);
        x = b;
    }
    for (uint32_t l = 0; l < r->a.layers; l++)
        ref_encoder(&r->enc[l], P, sq, b);
    size_t t = 0;
    for (size_t s = 0; s < sq->n_seq; s++)
        for (size_t i = sq->start[s] + sq->n_ctx[s]; i < sq->start[s + 1]; i++, t++) {
            ref_dense(&r->head1, P, b + i * d, 1, a);
            ref_relu(a, d);
            ref_dense(&r->head2, P, a, 1, out + 2 * t);
        }
    free(a);
    free(b);
}

/* x [2 dim + 1] = [phi(prompt); phi(response `resp` of pair i); y]. */
static void ref_token(const pair_set *ps, size_t i, int resp, double y, double *x)
{
    for (uint32_t c = 0; c < 2 * ps->dim; c++) {
        uint32_t row = ps->rows[3 * i + (c < ps->dim ? 0 : 1 + resp)];
        x[c] = ps->matrix[(size_t)row * ps->dim + c % ps->dim];
    }
    x[2 * ps->dim] = y;
}

/* The GPO loss of the task's batch idx [b] of ps, from methods.md: a group
 * is a run of one user's pairs in idx, its first half (rounded down) the
 * context; minus the mean over groups of the sum over target tokens of
 * log N(y; softmax of the question's m_raw, exp(s)^2). */
static double ref_loss(const ref_net *r, const double *P, const pair_set *ps, const uint32_t *idx,
                       size_t b)
{
    size_t in = 2 * ps->dim + 1, rows = 0, n_tar = 0;
    double *X = calloc(2 * b * in, sizeof *X), *out = calloc(2 * b * 2, sizeof *out);
    CU_ASSERT_FATAL(X && out);
    ref_seqs sq = {0};
    for (size_t i = 0; i < b; i++) {
        size_t first = i, n = 1;
        while (first > 0 && ps->user[idx[first - 1]] == ps->user[idx[i]])
            first--;
        for (size_t j = first + 1; j < b && ps->user[idx[j]] == ps->user[idx[i]]; j++)
            n++;
        if (first == i) { /* a new group */
            sq.start[sq.n_seq] = rows;
            sq.n_ctx[sq.n_seq++] = 2 * (n / 2);
        }
        int ctx = i - first < n / 2;
        ref_token(ps, idx[i], 0, ctx ? 1 : 0, X + rows++ * in);
        ref_token(ps, idx[i], 1, 0, X + rows++ * in);
        n_tar += ctx ? 0 : 2;
    }
    sq.start[sq.n_seq] = rows;
    ref_forward(r, P, &sq, X, out);
    double loss = 0;
    for (size_t q = 0; q < n_tar / 2; q++) {
        const double *o = out + 4 * q;
        double mean[2] = {exp(o[0]) / (exp(o[0]) + exp(o[2])), exp(o[2]) / (exp(o[0]) + exp(o[2]))};
        for (int k = 0; k < 2; k++) {
            double var = exp(2 * o[2 * k + 1]), y = k == 0;
            loss -= -0.5 * log(2 * M_PI * var) - (y - mean[k]) * (y - mean[k]) / (2 * var);
        }
    }
    free(X);
    free(out);
    return loss / (double)sq.n_seq;
}

/* ---- the gradient ------------------------------------------------------------------- */

/* The task gradient of one batch of three users' pairs against central
 * differences of ref_loss at every parameter, and the scores of an adapted
 * user against ref_forward. */
static void gradient_at(const arch *a, uint32_t dim)
{
    double theta[3 * 8];
    theta_normal(theta, 3 * dim, dim);
    rng r;
    rng_seed(&r, dim, 5);
    const size_t n_of[3] = {4, 5, 6};
    pairs tr = pairs_of(dim, theta, 3, 0, n_of, 2.0, 40 + dim);
    method *m = NULL;
    ppr_err e = {0};
    CU_ASSERT_EQUAL_FATAL(make(&m, "gpo", dim, 3, a, 9, &e), PPR_OK);
    trainer_task t;
    CU_ASSERT_EQUAL_FATAL(method_task(m, &tr.ps, &t, &e), PPR_OK);
    ref_net net = ref_place(a, dim);
    CU_ASSERT_EQUAL_FATAL(t.n, net.n);
    /* away from the start's structure (norm gains 1, biases 0) */
    for (size_t j = 0; j < t.n; j++)
        t.params[j] += (float)(0.2 * rng_normal(&r));
    /* a batch of all 15 pairs, user by user (1, 0, 2), each user's shuffled:
     * groups of 5, 4 and 6 pairs, 2, 2 and 3 of them the context */
    uint32_t idx[15] = {6, 4, 8, 5, 7, 2, 0, 3, 1, 12, 9, 14, 10, 13, 11};
    memset(t.grads, 0, t.n * sizeof *t.grads);
    CU_ASSERT_EQUAL_FATAL(t.batch(t.ctx, idx, 15, &e), PPR_OK);
    double *P = malloc(t.n * sizeof *P);
    CU_ASSERT_FATAL(P != NULL);
    for (size_t j = 0; j < t.n; j++)
        P[j] = t.params[j];
    /* Central differences in double at step h = 1e-5: truncation ~h^2 f''',
     * rounding ~1e-16 |L| / h, both below 1e-9, so the error is gpo's float32
     * gradient's. An error counts against max(|fd|, 1e-3 of the largest). */
    const double h = 1e-5;
    double largest = 0, worst = 0;
    double *fd = malloc(t.n * sizeof *fd);
    CU_ASSERT_FATAL(fd != NULL);
    for (size_t j = 0; j < t.n; j++) {
        double keep = P[j];
        P[j] = keep + h;
        double up = ref_loss(&net, P, &tr.ps, idx, 15);
        P[j] = keep - h;
        double down = ref_loss(&net, P, &tr.ps, idx, 15);
        P[j] = keep;
        fd[j] = (up - down) / (2 * h);
        largest = fmax(largest, fabs(fd[j]));
    }
    size_t bad = 0;
    for (size_t j = 0; j < t.n; j++) {
        double rel = fabs(t.grads[j] - fd[j]) / fmax(fabs(fd[j]), 1e-3 * largest);
        worst = fmax(worst, rel);
        if (rel > 1e-3 && bad++ < 5)
            fprintf(stderr, "\n  parameter %zu: finite difference %.8g, gradient %.8g", j, fd[j],
                    t.grads[j]);
    }
    fprintf(stderr, "\n  d_model %u, %u layers, %zu parameters: worst relative error %.2g, "
            "largest gradient %.3g", a->d_model, a->layers, t.n, worst, largest);
    CU_ASSERT(bad == 0);
    CU_ASSERT(largest > 1e-2); /* the check saw real gradients */

    /* scores: user 3 adapted from 4 pairs, scored on 6 others */
    pairs k = pairs_make(dim, theta, 1, 3, 10, 2.0, 50 + dim);
    pair_set ctx = k.ps, tar = k.ps;
    ctx.n = 4;
    tar.rows += 3 * 4;
    tar.user += 4;
    tar.n = 6;
    float got[2][6];
    optim_settings none = {0}; /* adapt takes no gradient step */
    CU_ASSERT_EQUAL_FATAL(method_adapt(m, &ctx, 3, &none, &e), PPR_OK);
    CU_ASSERT_EQUAL_FATAL(method_score(m, &tar, 0, got[0], &e), PPR_OK);
    CU_ASSERT_EQUAL_FATAL(method_score(m, &tar, 1, got[1], &e), PPR_OK);
    size_t in = 2 * dim + 1;
    double X[20 * 64], out[12 * 2];
    CU_ASSERT_FATAL(20 * in <= sizeof X / sizeof *X);
    ref_seqs sq = {1, {0, 20}, {8}};
    for (size_t i = 0; i < 4; i++) {
        ref_token(&k.ps, i, 0, 1, X + 2 * i * in);
        ref_token(&k.ps, i, 1, 0, X + (2 * i + 1) * in);
    }
    for (size_t i = 0; i < 12; i++)
        ref_token(&k.ps, 4 + i % 6, i / 6, 0, X + (8 + i) * in);
    ref_forward(&net, P, &sq, X, out);
    double diff = 0;
    for (size_t i = 0; i < 12; i++)
        diff = fmax(diff, fabs(got[i / 6][i % 6] - out[2 * i]) / fmax(1, fabs(out[2 * i])));
    fprintf(stderr, ", scores within %.2g of the reference", diff);
    CU_ASSERT(diff < 1e-5);
    free(fd);
    free(P);
    method_free(m);
    pairs_free(&tr);
    pairs_free(&k);
}

static void test_gradient(void)
{
    const arch tiny = {4, 1, 2, 6, 2, 1, 1, 1, 1, 2, 1};
    const arch small = {8, 2, 4, 12, 4, 1, 1, 1, 1, 2, 1};
    gradient_at(&tiny, 3);
    gradient_at(&small, 6);
}

/* ---- learning ----------------------------------------------------------------------- */

#define DIM 8
#define BETA (2 * sqrt(DIM)) /* theta . delta ~ N(0, 1/4) for unit theta: Bayes-optimal ~0.8 */

/* theta [n][DIM] unit vectors: the first n_major a shared direction plus 0.3
 * of their own, the others its opposite plus 0.3 of their own. */
static void thetas(double *theta, uint32_t n, uint32_t n_major, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed, 1);
    double shared[DIM];
    for (int j = 0; j < DIM; j++)
        shared[j] = rng_normal(&r);
    for (uint32_t k = 0; k < n; k++) {
        double norm = 0, *t = theta + k * DIM, own = 0;
        for (int j = 0; j < DIM; j++)
            own += shared[j] * shared[j];
        for (int j = 0; j < DIM; j++) {
            t[j] = (k < n_major ? 1 : -1) * shared[j] / sqrt(own) + 0.3 * rng_normal(&r) / sqrt(DIM);
            norm += t[j] * t[j];
        }
        for (int j = 0; j < DIM; j++)
            t[j] /= sqrt(norm);
    }
}

/* Accuracy of m on the pairs of s (every pair one user's). */
static double accuracy(method *m, const pairs *s)
{
    double acc = NAN;
    ppr_err e = {0};
    int rc = evaluate_all(m, &s->ps, &acc, &e);
    if (rc)
        fprintf(stderr, "\n  %s\n", e.msg);
    CU_ASSERT_EQUAL_FATAL(rc, PPR_OK);
    return acc;
}

static const arch learn_arch = {32, 2, 2, 64, 2, 10, 30, 10, 30, 20, 8};
static const optim_settings gpo_optim = {.lr = 1e-3, .weight_decay = 0.01, .clip = 1.0,
                                         .warmup_ratio = 0.05, .batch = 1, .epochs = 100,
                                         .cosine = 1, .seed = 3};

/* Eight users meta-train GPO (five of a majority taste, three of its
 * opposite); a ninth, held out, is the exact opposite of majority user 0 and
 * arrives with 50 labelled pairs. */
static void test_held_out(void)
{
    double theta[9 * DIM];
    thetas(theta, 8, 5, 21);
    for (int j = 0; j < DIM; j++)
        theta[8 * DIM + j] = -theta[j];
    pairs tr = pairs_make(DIM, theta, 8, 0, 200, BETA, 22);
    pairs k = pairs_make(DIM, theta + 8 * DIM, 1, 8, 50, BETA, 23);
    pairs te = pairs_make(DIM, theta + 8 * DIM, 1, 8, 2000, BETA, 24);
    method *gpo = NULL, *van = NULL;
    ppr_err e = {0};
    CU_ASSERT_EQUAL_FATAL(make(&gpo, "gpo", DIM, 8, &learn_arch, 1, &e), PPR_OK);
    int rc = method_train(gpo, &tr.ps, &gpo_optim, &e);
    if (rc)
        fprintf(stderr, "\n  %s\n", e.msg);
    CU_ASSERT_EQUAL_FATAL(rc, PPR_OK);
    CU_ASSERT_EQUAL_FATAL(method_adapt(gpo, &k.ps, 8, &gpo_optim, &e), PPR_OK);
    optim_settings vo = {.lr = 3e-3, .weight_decay = 1e-3, .clip = 1.0, .warmup_ratio = 0.03,
                         .batch = 32, .epochs = 20, .seed = 7};
    CU_ASSERT_EQUAL_FATAL(make(&van, "vanilla", DIM, 8, &learn_arch, 1, &e), PPR_OK);
    CU_ASSERT_EQUAL_FATAL(method_train(van, &tr.ps, &vo, &e), PPR_OK);
    double best = 0;
    for (size_t i = 0; i < te.ps.n; i++)
        best += te.best[i] / (double)te.ps.n;
    double a_gpo = accuracy(gpo, &te), a_van = accuracy(van, &te);
    /* The held-out user is user 0's exact opposite: on any pair, its
     * chance of preferring a is user 0's chance of preferring b. So any
     * scorer's expected accuracy on it is 1 minus its expected accuracy on
     * user 0; Vanilla, which learns the majority's taste, expects about
     * 1 - B, B the Bayes-optimal accuracy (computed from the truth above),
     * and a scorer that knows the user reaches B. Fifty pairs settle which
     * of the two tastes the user has (a majority vote of 50 labels drawn at
     * about 0.8 points the wrong way with chance below 1e-5). GPO must close
     * at least half of the gap 2B - 1 between the two; the accuracies'
     * standard errors on 2000 pairs are about 0.01. */
    double margin = (2 * best - 1) / 2;
    fprintf(stderr, "\n  held-out user: gpo %.4f, vanilla %.4f, Bayes-optimal %.4f, margin %.3f",
            a_gpo, a_van, best, margin);
    CU_ASSERT(a_gpo > a_van + margin);
    method_free(gpo);
    method_free(van);
    pairs_free(&tr);
    pairs_free(&k);
    pairs_free(&te);
}

/* ---- determinism and the model file ------------------------------------------------ */

static const arch small_arch = {8, 1, 2, 8, 2, 3, 6, 3, 6, 5, 2};

/* A trained and adapted small model, saved: *payload [*n]. */
static void trained_payload(uint64_t seed, const pairs *tr, const pairs *k, void **payload,
                            size_t *n)
{
    method *m = NULL;
    ppr_err e = {0};
    optim_settings o = gpo_optim;
    o.epochs = 3;
    o.seed = seed;
    CU_ASSERT_EQUAL_FATAL(make(&m, "gpo", 4, 3, &small_arch, seed, &e), PPR_OK);
    CU_ASSERT_EQUAL_FATAL(method_train(m, &tr->ps, &o, &e), PPR_OK);
    CU_ASSERT_EQUAL_FATAL(method_adapt(m, &k->ps, 5, &o, &e), PPR_OK);
    CU_ASSERT_EQUAL_FATAL(method_save(m, payload, n, &e), PPR_OK);
    method_free(m);
}

/* 1 when a and b give both responses of ps's pairs the same bits. */
static int same_scores(method *a, method *b, const pair_set *ps)
{
    size_t n = ps->n;
    float *r = malloc(4 * n * sizeof *r); /* [4][n] a's chosen, rejected, then b's */
    ppr_err e = {0};
    CU_ASSERT_FATAL(r != NULL);
    for (int k = 0; k < 4; k++)
        CU_ASSERT_EQUAL_FATAL(method_score(k < 2 ? a : b, ps, k % 2, r + k * n, &e), PPR_OK);
    int same = memcmp(r, r + 2 * n, 2 * n * sizeof *r) == 0;
    free(r);
    return same;
}

static void test_determinism(void)
{
    double theta[3 * 4];
    theta_normal(theta, 3 * 4, 31);
    pairs tr = pairs_make(4, theta, 3, 0, 12, 2.0, 32), k = pairs_make(4, theta, 1, 5, 7, 2.0, 33);
    pairs all = pairs_make(4, theta, 3, 0, 4, 2.0, 34);
    void *p1, *p2, *p3, *again;
    size_t n1, n2, n3, n4;
    trained_payload(5, &tr, &k, &p1, &n1);
    trained_payload(5, &tr, &k, &p2, &n2);
    trained_payload(6, &tr, &k, &p3, &n3);
    CU_ASSERT(n1 == n2 && memcmp(p1, p2, n1) == 0);
    CU_ASSERT(n1 == n3 && memcmp(p1, p3, n1) != 0); /* another seed: other draws */
    method *m = NULL, *back = NULL;
    ppr_err e = {0};
    CU_ASSERT_EQUAL_FATAL(method_load(&back, p1, n1, "model", &e), PPR_OK);
    CU_ASSERT_STRING_EQUAL(back->name, "gpo");
    CU_ASSERT_EQUAL_FATAL(method_save(back, &again, &n4, &e), PPR_OK);
    CU_ASSERT(n4 == n1 && memcmp(again, p1, n1) == 0);
    /* the loaded model scores as the trained one, its adapted user too */
    optim_settings o = gpo_optim;
    o.epochs = 3;
    o.seed = 5;
    CU_ASSERT_EQUAL_FATAL(make(&m, "gpo", 4, 3, &small_arch, 5, &e), PPR_OK);
    CU_ASSERT_EQUAL_FATAL(method_train(m, &tr.ps, &o, &e), PPR_OK);
    CU_ASSERT_EQUAL_FATAL(method_adapt(m, &k.ps, 5, &o, &e), PPR_OK);
    CU_ASSERT(same_scores(m, back, &all.ps));
    CU_ASSERT(same_scores(m, back, &k.ps));
    free(p1);
    free(p2);
    free(p3);
    free(again);
    method_free(m);
    method_free(back);
    pairs_free(&tr);
    pairs_free(&k);
    pairs_free(&all);
}

/* Bytes of a model file before its digest (modelfile.h). */
static size_t digest_at(const void *payload)
{
    modelfile_header h;
    memcpy(&h, payload, sizeof h);
    return sizeof h + (size_t)((h.shape_bytes + 7) & ~7ULL);
}

/* A model file whose shape's uint32 at byte `at` of the shape is v, with
 * its digest recomputed: refused with `expect`. */
static void shape_edit(const void *payload, size_t n, size_t at, uint32_t v, const char *expect)
{
    unsigned char *p = malloc(n);
    CU_ASSERT_FATAL(p != NULL);
    memcpy(p, payload, n);
    memcpy(p + sizeof(modelfile_header) + at, &v, sizeof v);
    sha256_buf(p, digest_at(p), p + digest_at(p));
    method *m = NULL;
    ppr_err e = {0};
    int rc = method_load(&m, p, n, "model-x", &e);
    if (rc != PPR_EINPUT)
        fprintf(stderr, "\n  shape byte %zu = %u: %d, not PPR_EINPUT", at, v, rc);
    CU_ASSERT(rc == PPR_EINPUT && err_has(&e, expect) && err_has(&e, "model-x"));
    method_free(m);
    free(p);
}

/* ---- serving and bad input ---------------------------------------------------------- */

static void test_unserved(void)
{
    double theta[3 * 4];
    theta_normal(theta, 3 * 4, 41);
    /* users 0 and 1 with 12 pairs each, user 2 with 4 (eval_context is 5) */
    const size_t n_of[3] = {12, 12, 4};
    pairs tr = pairs_of(4, theta, 3, 0, n_of, 2.0, 42), few = pairs_make(4, theta, 1, 3, 4, 2.0, 43);
    method *m = NULL;
    ppr_err e = {0};
    optim_settings o = gpo_optim;
    o.epochs = 2;
    CU_ASSERT_EQUAL_FATAL(make(&m, "gpo", 4, 3, &small_arch, 1, &e), PPR_OK);
    CU_ASSERT(!method_serves(m, 0)); /* untrained: no contexts yet */
    CU_ASSERT_EQUAL_FATAL(method_train(m, &tr.ps, &o, &e), PPR_OK);
    CU_ASSERT(method_serves(m, 0) && method_serves(m, 1) && !method_serves(m, 2));
    CU_ASSERT(!method_serves(m, 3));
    float r2[28];
    CU_ASSERT_EQUAL(method_score(m, &tr.ps, 0, r2, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "user 2"));
    pair_set served = tr.ps;
    served.n = 24; /* users 0 and 1 */
    CU_ASSERT_EQUAL(method_score(m, &served, 0, r2, &e), PPR_OK);
    uint64_t correct[3], total[3];
    CU_ASSERT_EQUAL(evaluate_counts(m, &tr.ps, correct, total, &e), PPR_OK);
    CU_ASSERT(total[0] == 12 && total[1] == 12 && total[2] == 0);
    /* adapting needs pairs, of a new user only */
    pair_set none = few.ps;
    none.n = 0;
    CU_ASSERT_EQUAL(method_adapt(m, &none, 3, &o, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "user 3"));
    pair_set two = tr.ps; /* user 2's pairs, as a training user */
    two.rows += 3 * 24;
    two.user += 24;
    two.n = 4;
    CU_ASSERT_EQUAL(method_adapt(m, &two, 2, &o, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "training user"));
    pair_set zero = tr.ps; /* user 0's, as a training user: 0 is no "none" */
    zero.n = 12;
    CU_ASSERT_EQUAL(method_adapt(m, &zero, 0, &o, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "training user"));
    CU_ASSERT_EQUAL_FATAL(method_adapt(m, &few.ps, 3, &o, &e), PPR_OK);
    CU_ASSERT(method_serves(m, 3));
    /* adapting again replaces the context: 4 pairs, then 2, 2 x 3 x 4 floats fewer */
    void *payload;
    size_t n, n2;
    CU_ASSERT_EQUAL_FATAL(method_save(m, &payload, &n2, &e), PPR_OK);
    free(payload);
    few.ps.n = 2;
    CU_ASSERT_EQUAL_FATAL(method_adapt(m, &few.ps, 3, &o, &e), PPR_OK);
    few.ps.n = 4;
    CU_ASSERT_EQUAL_FATAL(method_save(m, &payload, &n, &e), PPR_OK);
    CU_ASSERT(n2 - n == 2 * 3 * 4 * sizeof(float));
    free(payload);
    CU_ASSERT_EQUAL_FATAL(method_adapt(m, &few.ps, 3, &o, &e), PPR_OK);
    /* the shape: each context size, then the adapted id (gpo.c's layout) */
    CU_ASSERT_EQUAL_FATAL(method_save(m, &payload, &n, &e), PPR_OK);
    method *back = NULL;
    CU_ASSERT_EQUAL(method_load(&back, payload, n, "model", &e), PPR_OK);
    method_free(back);
    size_t sizes = 13 * 4; /* the settings, n_users, n_adapted */
    shape_edit(payload, n, sizes + 0, 4, "context sizes");      /* not eval_context */
    shape_edit(payload, n, sizes + 8, 5, "sizes disagree");     /* user 2 now served */
    shape_edit(payload, n, sizes + 12, 0, "context sizes");     /* adapted, empty */
    shape_edit(payload, n, sizes + 16, 2, "adapted user");      /* a training user's id */
    shape_edit(payload, n, 12 * 4, 4, "malformed");             /* n_users */
    shape_edit(payload, n, 2 * 4, 3, "heads");                  /* heads 3 of d_model 8 */
    shape_edit(payload, n, 0, 0, "d_model");
    free(payload);
    method_free(m);
    pairs_free(&few);
    pairs_free(&tr);
}

static void test_bad_settings(void)
{
    method *m = NULL;
    ppr_err e = {0};
    static const struct {
        size_t at;
        uint32_t v;
        const char *key;
    } bad[] = {
        {offsetof(arch, heads), 3, "heads"},   /* of d_model 8 */
        {offsetof(arch, d_model), 0, "d_model"},
        {offsetof(arch, ff), 0, "ff"},
        {offsetof(arch, layers), 0, "layers"},
        {offsetof(arch, ctx_min), 7, "ctx_min"}, /* above ctx_max 6 */
        {offsetof(arch, tar_max), 2, "tar_min"}, /* below tar_min 3 */
        {offsetof(arch, eval_context), 1, "eval_context"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        arch a = small_arch;
        memcpy((unsigned char *)&a + bad[k].at, &bad[k].v, sizeof bad[k].v);
        CU_ASSERT_EQUAL(make(&m, "gpo", 4, 2, &a, 1, &e), PPR_EINPUT);
        CU_ASSERT(err_has(&e, bad[k].key) && m == NULL);
    }
    cJSON *missing = cJSON_Parse("{\"gpo\": {\"d_model\": 8}}");
    CU_ASSERT_EQUAL(method_new(&m, "gpo", 4, 2, missing, 1, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "ctx_max"));
    cJSON_Delete(missing);
    /* no user with eval_context pairs: nothing to serve */
    double theta[8] = {1, 0, 0, 0, 0, 1, 0, 0};
    pairs s = pairs_make(4, theta, 2, 0, 4, 2.0, 45);
    CU_ASSERT_EQUAL_FATAL(make(&m, "gpo", 4, 2, &small_arch, 1, &e), PPR_OK);
    CU_ASSERT_EQUAL(method_train(m, &s.ps, &gpo_optim, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "eval_context"));
    CU_ASSERT_EQUAL(method_init_from(m, m, &e), PPR_EINPUT); /* no reference start */
    method_free(m);
    pairs_free(&s);
}

int main(void)
{
    /* one thread: the same bits on every machine, and these GEMMs are too
     * small for a second one to pay */
    openblas_set_num_threads(1);
    static const test_case cases[] = {
        {"the loss's gradient matches the reference's finite differences", test_gradient},
        {"a held-out user from 50 pairs: gpo beats vanilla by the margin", test_held_out},
        {"same seed, same bytes; loaded, the same scores", test_determinism},
        {"users below eval_context are not served; the shape is checked", test_unserved},
        {"bad settings name the key", test_bad_settings},
        {NULL, NULL},
    };
    return test_main("models: gpo", NULL, NULL, cases, CU_BRM_VERBOSE);
}
