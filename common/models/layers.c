/* layers.c: the layers of layers.h, forward and backward by hand. Every
 * product of a weight matrix with a batch is one row-major sgemm, and so are
 * the attention products of each sequence and head; what lies between the
 * GEMMs (biases, activations, softmax, normalization) is plain loops over
 * rows. Attention computes Q, K and V with one GEMM: attention_place puts
 * Wq, Wk, Wv one after another and then bq, bk, bv (torch's in_proj_weight
 * and in_proj_bias), so [Wq; Wk; Wv] is one [3 dim][dim] matrix while q, k
 * and v stay dense layers of their own. Workspaces grow with mem_grow and
 * stop growing once they fit the batch. */
#include "common/models/layers.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

#define NORM_EPS 1e-5f
#define LEAKY_SLOPE 0.2f

/* ---- dense ---------------------------------------------------------------------- */

size_t dense_place(dense *d, uint32_t in, uint32_t out, size_t at)
{
    d->in = in;
    d->out = out;
    d->w = at;
    d->b = at + (size_t)in * out;
    return d->b + out;
}

/* p [n] from U(-bound, bound) */
static void uniform_fill(float *p, size_t n, double bound, rng *r)
{
    for (size_t k = 0; k < n; k++)
        p[k] = (float)((2.0 * rng_uniform(r) - 1.0) * bound);
}

void dense_init(const dense *d, float *params, rng *r)
{
    double bound = 1.0 / sqrt((double)d->in);
    uniform_fill(params + d->w, (size_t)d->in * d->out, bound, r);
    uniform_fill(params + d->b, d->out, bound, r);
}

void dense_decay_mask(const dense *d, uint8_t *mask)
{
    memset(mask + d->w, 1, (size_t)d->in * d->out);
    memset(mask + d->b, 0, d->out);
}

/* Y starts as the bias in every row, so that the GEMM adds X W^T to it. */
void dense_forward(const dense *d, const float *params, const float *X, size_t n, float *Y)
{
    if (n == 0)
        return;
    const float *b = params + d->b;
    for (size_t i = 0; i < n; i++)
        memcpy(Y + i * d->out, b, d->out * sizeof *Y);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)d->out, (int)d->in, 1.0f,
                X, (int)d->in, params + d->w, (int)d->in, 1.0f, Y, (int)d->out);
}

/* dense_backward with dX [n][in] = beta dX + dY W, so that a residual's
 * gradient already in dX is added to rather than copied. */
static void dense_backprop(const dense *d, const float *params, float *grads, const float *X,
                           size_t n, const float *dY, float *dX, float beta)
{
    if (n == 0)
        return;
    int in = (int)d->in, out = (int)d->out;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, (int)n, 1.0f, dY, out, X, in,
                1.0f, grads + d->w, in);
    float *gb = grads + d->b; /* [out] */
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < out; j++)
            gb[j] += dY[i * d->out + j];
    if (dX)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, in, out, 1.0f, dY, out,
                    params + d->w, in, beta, dX, in);
}

void dense_backward(const dense *d, const float *params, float *grads, const float *X, size_t n,
                    const float *dY, float *dX)
{
    dense_backprop(d, params, grads, X, n, dY, dX, 0.0f);
}

/* ---- activations -------------------------------------------------------------------- */

void relu_forward(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = x[i] > 0 ? x[i] : 0;
}

void relu_backward(const float *y, float *dy, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dy[i] = y[i] > 0 ? dy[i] : 0;
}

void leaky_forward(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = x[i] > 0 ? x[i] : LEAKY_SLOPE * x[i];
}

/* y > 0 exactly when x > 0, the slope being positive; x = 0 takes the slope,
 * as torch's does. */
void leaky_backward(const float *y, float *dy, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dy[i] = y[i] > 0 ? dy[i] : LEAKY_SLOPE * dy[i];
}

/* ---- layer normalization -------------------------------------------------------------- */

size_t norm_place(norm *l, uint32_t dim, size_t at)
{
    l->dim = dim;
    l->g = at;
    l->b = at + dim;
    return at + 2 * (size_t)dim;
}

void norm_init(const norm *l, float *params)
{
    for (uint32_t j = 0; j < l->dim; j++) {
        params[l->g + j] = 1.0f;
        params[l->b + j] = 0.0f;
    }
}

/* The row's sums run in double: var is a difference of nearby terms when a
 * row's spread is small beside its mean. */
void norm_forward(const norm *l, const float *params, const float *X, size_t n, float *Y,
                  float *stats)
{
    size_t dim = l->dim;
    const float *g = params + l->g, *b = params + l->b;
    for (size_t i = 0; i < n; i++) {
        const float *x = X + i * dim;
        float *y = Y + i * dim;
        double sum = 0, sq = 0;
        for (size_t j = 0; j < dim; j++)
            sum += x[j];
        double mean = sum / (double)dim;
        for (size_t j = 0; j < dim; j++)
            sq += (x[j] - mean) * (x[j] - mean);
        float mu = (float)mean, rstd = (float)(1.0 / sqrt(sq / (double)dim + NORM_EPS));
        for (size_t j = 0; j < dim; j++)
            y[j] = (x[j] - mu) * rstd * g[j] + b[j];
        stats[2 * i] = mu;
        stats[2 * i + 1] = rstd;
    }
}

/* xhat = (Y - b) / g recovers the normalized input from the output: Y is
 * rounded to 2^-24 |Y|, so xhat carries an error of about 2^-24 (|Y| + |b|)
 * / |g|, negligible while the gains are not tiny beside the biases (at g =
 * 1e-3, b = 1: 1e-4 of xhat, 2e-3 of dX, test_layers measures); a gain of
 * exactly 0 loses xhat altogether, which training from g = 1 does not reach
 * in practice. With gy = g dY: dX = rstd (gy - mean(gy) - xhat mean(gy xhat)). */
void norm_backward(const norm *l, const float *params, float *grads, const float *Y, size_t n,
                   const float *stats, const float *dY, float *dX)
{
    size_t dim = l->dim;
    const float *g = params + l->g, *b = params + l->b;
    float *gg = grads + l->g, *gb = grads + l->b; /* [dim] each */
    for (size_t i = 0; i < n; i++) {
        const float *y = Y + i * dim, *dy = dY + i * dim;
        double s_gy = 0, s_gyx = 0;
        for (size_t j = 0; j < dim; j++) {
            float xhat = (y[j] - b[j]) / g[j];
            s_gy += g[j] * dy[j];
            s_gyx += g[j] * dy[j] * xhat;
            gg[j] += dy[j] * xhat;
            gb[j] += dy[j];
        }
        float m_gy = (float)(s_gy / (double)dim), m_gyx = (float)(s_gyx / (double)dim);
        float rstd = stats[2 * i + 1], *dx = dX + i * dim;
        for (size_t j = 0; j < dim; j++) {
            float xhat = (y[j] - b[j]) / g[j];
            dx[j] = rstd * (g[j] * dy[j] - m_gy - xhat * m_gyx);
        }
    }
}

/* ---- attention ------------------------------------------------------------------------ */

size_t attention_place(attention *a, uint32_t dim, uint32_t heads, int project, size_t at)
{
    size_t w = (size_t)dim * dim, b = at + 3 * w;
    a->dim = dim;
    a->heads = heads;
    a->project = project;
    a->q = (dense){dim, dim, at, b};
    a->k = (dense){dim, dim, at + w, b + dim};
    a->v = (dense){dim, dim, at + 2 * w, b + 2 * (size_t)dim};
    at = b + 3 * (size_t)dim;
    if (project)
        return dense_place(&a->o, dim, dim, at);
    a->o = (dense){0, 0, at, at};
    return at;
}

/* q, k and v as the one dense layer [Wq; Wk; Wv] of attention_place. */
static dense qkv_dense(const attention *a)
{
    return (dense){a->dim, 3 * a->dim, a->q.w, a->q.b};
}

void attention_init(const attention *a, float *params, rng *r)
{
    dense_init(&a->q, params, r);
    dense_init(&a->k, params, r);
    dense_init(&a->v, params, r);
    if (a->project)
        dense_init(&a->o, params, r);
}

void attention_decay_mask(const attention *a, uint8_t *mask)
{
    dense qkv = qkv_dense(a);
    dense_decay_mask(&qkv, mask);
    if (a->project)
        dense_decay_mask(&a->o, mask);
}

void attention_ws_release(attention_ws *ws)
{
    if (!ws)
        return;
    free(ws->qkv);
    free(ws->p);
    free(ws->o);
    free(ws->grad);
    memset(ws, 0, sizeof *ws);
}

/* What a batch needs: its rows, the softmax weights of all its sequences and
 * heads, and the largest one sequence's [rows][n_ctx]. */
typedef struct {
    size_t rows, p, p_seq;
} att_sizes;

/* The heads divide the width, and each sequence is a run of rows starting
 * where the last ended, with a context of 1 to all of its rows. */
static int att_check(const attention *a, const seq_batch *sb, att_sizes *sz, ppr_err *e)
{
    if (a->dim == 0)
        return err_set(e, PPR_EINPUT, "attention: a width of 0");
    if (a->heads == 0 || a->dim % a->heads)
        return err_set(e, PPR_EINPUT, "attention: %u heads do not divide the width %u", a->heads,
                       a->dim);
    if (a->dim > INT_MAX / 3)
        return err_set(e, PPR_EINPUT, "attention: width %u is beyond a BLAS int", a->dim);
    if (sb->start[0] != 0)
        return err_set(e, PPR_EINTERNAL, "attention: the first sequence starts at row %u, not 0",
                       sb->start[0]);
    memset(sz, 0, sizeof *sz);
    for (uint32_t s = 0; s < sb->n_seq; s++) {
        uint32_t r0 = sb->start[s], r1 = sb->start[s + 1], c = sb->n_ctx[s];
        if (r1 <= r0 || c == 0 || c > r1 - r0)
            return err_set(e, PPR_EINTERNAL, "attention: sequence %u has rows %u .. %u and a "
                           "context of %u", s, r0, r1, c);
        size_t m = r1 - r0;
        sz->p += (size_t)a->heads * m * c;
        if (m * c > sz->p_seq)
            sz->p_seq = m * c;
    }
    sz->rows = sb->start[sb->n_seq];
    if (sz->rows > INT_MAX / 3)
        return err_set(e, PPR_EINPUT, "attention: a batch of %zu rows is beyond a BLAS int",
                       sz->rows);
    return PPR_OK;
}

/* Each row of P [m][c] to its softmax, the maximum subtracted first. */
static void softmax_rows(float *P, size_t m, size_t c)
{
    for (size_t i = 0; i < m; i++, P += c) {
        float mx = P[0];
        for (size_t j = 1; j < c; j++)
            mx = P[j] > mx ? P[j] : mx;
        double sum = 0;
        for (size_t j = 0; j < c; j++) {
            P[j] = expf(P[j] - mx);
            sum += P[j];
        }
        float inv = (float)(1.0 / sum);
        for (size_t j = 0; j < c; j++)
            P[j] *= inv;
    }
}

/* dP [m][c] becomes dS = P (dP - rowsum(dP P)), the softmax's backward. */
static void softmax_backward(const float *P, float *dP, size_t m, size_t c)
{
    for (size_t i = 0; i < m; i++, P += c, dP += c) {
        double dot = 0;
        for (size_t j = 0; j < c; j++)
            dot += (double)dP[j] * P[j];
        float d = (float)dot;
        for (size_t j = 0; j < c; j++)
            dP[j] = P[j] * (dP[j] - d);
    }
}

/* Without a projection the heads write Y, and ws->o stays unused. */
int attention_forward(const attention *a, const float *params, const seq_batch *sb,
                      const float *X, float *Y, attention_ws *ws, ppr_err *e)
{
    att_sizes sz;
    int rc = att_check(a, sb, &sz, e);
    if (rc)
        return rc;
    size_t dim = a->dim, ld = 3 * dim, dh = dim / a->heads;
    if (mem_grow((void **)&ws->qkv, &ws->cap_qkv, sz.rows * ld, sizeof(float)) ||
        mem_grow((void **)&ws->p, &ws->cap_p, sz.p, sizeof(float)) ||
        (a->project && mem_grow((void **)&ws->o, &ws->cap_o, sz.rows * dim, sizeof(float))))
        return err_nomem(e);
    dense qkv = qkv_dense(a);
    dense_forward(&qkv, params, X, sz.rows, ws->qkv);
    float scale = (float)(1.0 / sqrt((double)dh)), *O = a->project ? ws->o : Y, *P = ws->p;
    for (uint32_t s = 0; s < sb->n_seq; s++) {
        size_t r0 = sb->start[s], m = sb->start[s + 1] - r0, c = sb->n_ctx[s];
        const float *Q = ws->qkv + r0 * ld, *K = Q + dim, *V = Q + 2 * dim; /* [m][3 dim] */
        for (size_t h = 0; h < a->heads; h++, P += m * c) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)c, (int)dh, scale,
                        Q + h * dh, (int)ld, K + h * dh, (int)ld, 0.0f, P, (int)c);
            softmax_rows(P, m, c);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)dh, (int)c, 1.0f,
                        P, (int)c, V + h * dh, (int)ld, 0.0f, O + r0 * dim + h * dh, (int)dim);
        }
    }
    if (a->project)
        dense_forward(&a->o, params, ws->o, sz.rows, Y);
    return PPR_OK;
}

/* attention_backward with dX = beta dX + dL/dX. dY may be dX: dY is read
 * before the last GEMM, which alone writes dX. */
static int attention_backprop(const attention *a, const float *params, float *grads,
                              const seq_batch *sb, const float *X, const float *dY, float *dX,
                              float beta, attention_ws *ws, ppr_err *e)
{
    att_sizes sz;
    int rc = att_check(a, sb, &sz, e);
    if (rc)
        return rc;
    size_t dim = a->dim, ld = 3 * dim, dh = dim / a->heads;
    size_t n_do = a->project ? sz.rows * dim : 0;
    if (mem_grow((void **)&ws->grad, &ws->cap_grad, sz.rows * ld + n_do + sz.p_seq,
                 sizeof(float)))
        return err_nomem(e);
    float *dQKV = ws->grad, *dP = dQKV + sz.rows * ld + n_do; /* [rows][3 dim], [m][c] */
    const float *dO = dY;                                     /* [rows][dim] */
    if (a->project) {
        dense_backward(&a->o, params, grads, ws->o, sz.rows, dY, dQKV + sz.rows * ld);
        dO = dQKV + sz.rows * ld;
    }
    float scale = (float)(1.0 / sqrt((double)dh));
    const float *P = ws->p;
    for (uint32_t s = 0; s < sb->n_seq; s++) {
        size_t r0 = sb->start[s], m = sb->start[s + 1] - r0, c = sb->n_ctx[s];
        const float *Q = ws->qkv + r0 * ld, *K = Q + dim, *V = Q + 2 * dim; /* [m][3 dim] */
        float *dQ = dQKV + r0 * ld, *dK = dQ + dim, *dV = dQ + 2 * dim;
        for (size_t i = c; i < m; i++) /* targets are no one's keys or values */
            memset(dK + i * ld, 0, 2 * dim * sizeof *dK);
        for (size_t h = 0; h < a->heads; h++, P += m * c) {
            const float *dOh = dO + r0 * dim + h * dh;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)c, (int)dh, 1.0f,
                        dOh, (int)dim, V + h * dh, (int)ld, 0.0f, dP, (int)c);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)c, (int)dh, (int)m, 1.0f,
                        P, (int)c, dOh, (int)dim, 0.0f, dV + h * dh, (int)ld);
            softmax_backward(P, dP, m, c);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)dh, (int)c, scale,
                        dP, (int)c, K + h * dh, (int)ld, 0.0f, dQ + h * dh, (int)ld);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)c, (int)dh, (int)m, scale,
                        dP, (int)c, Q + h * dh, (int)ld, 0.0f, dK + h * dh, (int)ld);
        }
    }
    dense qkv = qkv_dense(a);
    dense_backprop(&qkv, params, grads, X, sz.rows, dQKV, dX, beta);
    return PPR_OK;
}

int attention_backward(const attention *a, const float *params, float *grads,
                       const seq_batch *sb, const float *X, const float *dY, float *dX,
                       attention_ws *ws, ppr_err *e)
{
    return attention_backprop(a, params, grads, sb, X, dY, dX, 0.0f, ws, e);
}

/* ---- the transformer encoder layer ----------------------------------------------------------- */

/* In the order of torch's state_dict: self_attn, linear1, linear2, norm1, norm2. */
size_t encoder_place(encoder_layer *l, uint32_t dim, uint32_t heads, uint32_t ff, size_t at)
{
    at = attention_place(&l->att, dim, heads, 1, at);
    at = dense_place(&l->ff1, dim, ff, at);
    at = dense_place(&l->ff2, ff, dim, at);
    at = norm_place(&l->n1, dim, at);
    return norm_place(&l->n2, dim, at);
}

void encoder_init(const encoder_layer *l, float *params, rng *r)
{
    attention_init(&l->att, params, r);
    dense_init(&l->ff1, params, r);
    dense_init(&l->ff2, params, r);
    norm_init(&l->n1, params);
    norm_init(&l->n2, params);
}

void encoder_decay_mask(const encoder_layer *l, uint8_t *mask)
{
    attention_decay_mask(&l->att, mask);
    dense_decay_mask(&l->ff1, mask);
    dense_decay_mask(&l->ff2, mask);
    memset(mask + l->n1.g, 0, 2 * (size_t)l->n1.dim);
    memset(mask + l->n2.g, 0, 2 * (size_t)l->n2.dim);
}

void encoder_ws_release(encoder_ws *ws)
{
    if (!ws)
        return;
    attention_ws_release(&ws->att);
    free(ws->h);
    free(ws->f);
    free(ws->stats1);
    free(ws->stats2);
    free(ws->scratch);
    memset(ws, 0, sizeof *ws);
}

/* y [n] += x [n] */
static void add_to(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += x[i];
}

int encoder_forward(const encoder_layer *l, const float *params, const seq_batch *sb,
                    const float *X, float *Y, encoder_ws *ws, ppr_err *e)
{
    att_sizes sz;
    int rc = att_check(&l->att, sb, &sz, e);
    if (rc)
        return rc;
    size_t n = sz.rows, dim = l->att.dim, ff = l->ff1.out, wide = ff > dim ? ff : dim;
    if (mem_grow((void **)&ws->h, &ws->cap_h, n * dim, sizeof(float)) ||
        mem_grow((void **)&ws->f, &ws->cap_f, n * ff, sizeof(float)) ||
        mem_grow((void **)&ws->stats1, &ws->cap_s1, 2 * n, sizeof(float)) ||
        mem_grow((void **)&ws->stats2, &ws->cap_s2, 2 * n, sizeof(float)) ||
        mem_grow((void **)&ws->scratch, &ws->cap_scratch, n * wide, sizeof(float)))
        return err_nomem(e);
    rc = attention_forward(&l->att, params, sb, X, ws->scratch, &ws->att, e);
    if (rc)
        return rc;
    add_to(ws->scratch, X, n * dim);
    norm_forward(&l->n1, params, ws->scratch, n, ws->h, ws->stats1);
    dense_forward(&l->ff1, params, ws->h, n, ws->f);
    relu_forward(ws->f, n * ff);
    dense_forward(&l->ff2, params, ws->f, n, ws->scratch);
    add_to(ws->scratch, ws->h, n * dim);
    norm_forward(&l->n2, params, ws->scratch, n, Y, ws->stats2);
    return PPR_OK;
}

/* dX carries the gradient down the layer: dL/d(H + FF(H)), then dL/dH (the
 * feed-forward's share added by its GEMM), dL/d(X + att(X)), and last dL/dX
 * (attention's share added likewise). */
int encoder_backward(const encoder_layer *l, const float *params, float *grads,
                     const seq_batch *sb, const float *X, const float *Y, const float *dY,
                     float *dX, encoder_ws *ws, ppr_err *e)
{
    att_sizes sz;
    int rc = att_check(&l->att, sb, &sz, e);
    if (rc)
        return rc;
    size_t n = sz.rows, ff = l->ff1.out;
    norm_backward(&l->n2, params, grads, Y, n, ws->stats2, dY, dX);
    dense_backward(&l->ff2, params, grads, ws->f, n, dX, ws->scratch);
    relu_backward(ws->f, ws->scratch, n * ff);
    dense_backprop(&l->ff1, params, grads, ws->h, n, ws->scratch, dX, 1.0f);
    norm_backward(&l->n1, params, grads, ws->h, n, ws->stats1, dX, dX);
    return attention_backprop(&l->att, params, grads, sb, X, dX, dX, 1.0f, &ws->att, e);
}
