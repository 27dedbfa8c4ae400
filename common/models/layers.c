/* layers.c: the layers of layers.h, forward and backward by hand. Every
 * product of a weight matrix with a batch is one row-major sgemm, and so are
 * the attention products of each sequence and head; what lies between the
 * GEMMs (biases, activations, softmax, normalization) is plain loops over
 * rows, eight floats at a time where the CPU has AVX2 and FMA (the row
 * kernels below). Attention computes Q, K and V with one GEMM: attention_place puts
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

/* ---- row kernels ------------------------------------------------------------------------
 * The loops between the GEMMs, over one row of k floats at a time: an AVX2 and
 * FMA part for the first k - k % 8 entries where the CPU has both, then the
 * scalar loop for the rest (or all, elsewhere). Element-wise, the two do the
 * same float operations in the same order, with three exceptions: a sum runs
 * in eight float lanes (a row's mean in four double lanes) that are then
 * added in double, where the scalar loop adds each term in double; the
 * softmax's exp is exp8's polynomial where the scalar loop calls expf; and
 * the norm's backward multiplies by a reciprocal of the gain refined from
 * rcpps where the scalar loop divides. The path is fixed for a given CPU, so
 * each is deterministic. */

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma")))

static int has_avx2(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/* the eight lanes of v added in double */
AVX2 static double lanes_sum(__m256 v)
{
    float t[8];
    memcpy(t, &v, sizeof t);
    double s = 0;
    for (int l = 0; l < 8; l++)
        s += t[l];
    return s;
}

/* y += x */
AVX2 static size_t add8(float *y, const float *x, size_t k)
{
    size_t j = 0;
    for (; j + 8 <= k; j += 8)
        _mm256_storeu_ps(y + j, _mm256_add_ps(_mm256_loadu_ps(y + j), _mm256_loadu_ps(x + j)));
    return j;
}

/* dy = y > 0 ? dy : 0 (relu's forward with y = dy = x) */
AVX2 static size_t relu_mask8(const float *y, float *dy, size_t k)
{
    const __m256 zero = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 8 <= k; j += 8) {
        __m256 on = _mm256_cmp_ps(_mm256_loadu_ps(y + j), zero, _CMP_GT_OQ);
        _mm256_storeu_ps(dy + j, _mm256_and_ps(on, _mm256_loadu_ps(dy + j)));
    }
    return j;
}

/* gb [k] += the column sums of D [n][k], each column added row by row to gb
 * as the scalar loop does: 64 columns (8 registers) at a time, then 8. */
AVX2 static size_t colsum8(float *gb, const float *D, size_t n, size_t k)
{
    size_t j = 0;
    for (; j + 64 <= k; j += 64) {
        __m256 s[8];
        for (int r = 0; r < 8; r++)
            s[r] = _mm256_loadu_ps(gb + j + 8 * r);
        for (size_t i = 0; i < n; i++)
            for (int r = 0; r < 8; r++)
                s[r] = _mm256_add_ps(s[r], _mm256_loadu_ps(D + i * k + j + 8 * r));
        for (int r = 0; r < 8; r++)
            _mm256_storeu_ps(gb + j + 8 * r, s[r]);
    }
    for (; j + 8 <= k; j += 8) {
        __m256 s = _mm256_loadu_ps(gb + j);
        for (size_t i = 0; i < n; i++)
            s = _mm256_add_ps(s, _mm256_loadu_ps(D + i * k + j));
        _mm256_storeu_ps(gb + j, s);
    }
    return j;
}

/* exp(x) for x <= 0 (a softmax's scores less their maximum), as Cephes'
 * expf: x = n ln 2 + r with |r| <= ln 2 / 2 (ln 2 in two parts, the first
 * exact in n's multiples), exp(r) = 1 + r + r^2 p(r) with p of degree 5,
 * times 2^n built in the exponent bits. Below ln 2^-126, where exp(x) leaves
 * the normal floats, it is 0; NaN stays NaN (maxps passes its second operand
 * when either is NaN). */
AVX2 static __m256 exp8(__m256 x)
{
    const __m256 lo = _mm256_set1_ps(-87.33654475f);
    __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    __m256 v = _mm256_max_ps(lo, x);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(v, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), v);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    __m256 e = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
    __m256i pow2 = _mm256_slli_epi32(
        _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(under, _mm256_mul_ps(e, _mm256_castsi256_ps(pow2)));
}

/* *mx = the largest entry done, when k >= 8 */
AVX2 static size_t max8(const float *p, size_t k, float *mx)
{
    if (k < 8)
        return 0;
    __m256 m = _mm256_loadu_ps(p);
    size_t j = 8;
    for (; j + 8 <= k; j += 8)
        m = _mm256_max_ps(m, _mm256_loadu_ps(p + j));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
    *mx = _mm_cvtss_f32(h);
    return j;
}

/* p = exp(p - mx); *sum = the sum of the entries done */
AVX2 static size_t exp_sum8(float *p, float mx, size_t k, double *sum)
{
    const __m256 m = _mm256_set1_ps(mx);
    __m256 s = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 8 <= k; j += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(p + j), m));
        _mm256_storeu_ps(p + j, e);
        s = _mm256_add_ps(s, e);
    }
    *sum = lanes_sum(s);
    return j;
}

/* p *= c */
AVX2 static size_t scale8(float *p, float c, size_t k)
{
    const __m256 c8 = _mm256_set1_ps(c);
    size_t j = 0;
    for (; j + 8 <= k; j += 8)
        _mm256_storeu_ps(p + j, _mm256_mul_ps(_mm256_loadu_ps(p + j), c8));
    return j;
}

/* dp = p (dp - d) */
AVX2 static size_t softmax_back8(const float *p, float *dp, float d, size_t k)
{
    const __m256 d8 = _mm256_set1_ps(d);
    size_t j = 0;
    for (; j + 8 <= k; j += 8)
        _mm256_storeu_ps(dp + j, _mm256_mul_ps(_mm256_loadu_ps(p + j),
                                               _mm256_sub_ps(_mm256_loadu_ps(dp + j), d8)));
    return j;
}

/* *sum = the sum of the entries done, each float exact in four double lanes */
AVX2 static size_t sum8(const float *x, size_t k, double *sum)
{
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    size_t j = 0;
    for (; j + 8 <= k; j += 8) {
        __m256 v = _mm256_loadu_ps(x + j);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    double t[4];
    _mm256_storeu_pd(t, _mm256_add_pd(s0, s1));
    *sum = t[0] + t[1] + t[2] + t[3];
    return j;
}

/* *sq = the sum of (x - mu)^2 over the entries done */
AVX2 static size_t sqdev8(const float *x, float mu, size_t k, double *sq)
{
    const __m256 m = _mm256_set1_ps(mu);
    __m256 s = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 8 <= k; j += 8) {
        __m256 t = _mm256_sub_ps(_mm256_loadu_ps(x + j), m);
        s = _mm256_add_ps(s, _mm256_mul_ps(t, t));
    }
    *sq = lanes_sum(s);
    return j;
}

/* y = (x - mu) rstd g + b */
AVX2 static size_t norm_out8(const float *x, float mu, float rstd, const float *g, const float *b,
                             float *y, size_t k)
{
    const __m256 m = _mm256_set1_ps(mu), rs = _mm256_set1_ps(rstd);
    size_t j = 0;
    for (; j + 8 <= k; j += 8) {
        __m256 t = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + j), m), rs);
        _mm256_storeu_ps(y + j, _mm256_add_ps(_mm256_mul_ps(t, _mm256_loadu_ps(g + j)),
                                              _mm256_loadu_ps(b + j)));
    }
    return j;
}

/* xhat = (y - b) / g as (y - b) times 1 / g, the reciprocal from rcpps (12
 * bits) and one Newton step r (2 - g r) (about 23) */
AVX2 static __m256 xhat8(const float *y, const float *g, const float *b)
{
    __m256 gv = _mm256_loadu_ps(g), r = _mm256_rcp_ps(gv);
    r = _mm256_mul_ps(r, _mm256_fnmadd_ps(gv, r, _mm256_set1_ps(2.0f)));
    return _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(y), _mm256_loadu_ps(b)), r);
}

/* gy = g dy into dx (dx may be dy); *s_gy, *s_gyx = the sums of gy and gy
 * xhat over the entries done; gg += dy xhat; gb += dy */
AVX2 static size_t norm_grad8(const float *y, const float *dy, const float *g, const float *b,
                              float *gg, float *gb, float *dx, size_t k, double *s_gy,
                              double *s_gyx)
{
    __m256 a = _mm256_setzero_ps(), ax = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 8 <= k; j += 8) {
        __m256 xh = xhat8(y + j, g + j, b + j), d = _mm256_loadu_ps(dy + j);
        __m256 gy = _mm256_mul_ps(_mm256_loadu_ps(g + j), d);
        a = _mm256_add_ps(a, gy);
        ax = _mm256_add_ps(ax, _mm256_mul_ps(gy, xh));
        _mm256_storeu_ps(gg + j, _mm256_add_ps(_mm256_loadu_ps(gg + j), _mm256_mul_ps(d, xh)));
        _mm256_storeu_ps(gb + j, _mm256_add_ps(_mm256_loadu_ps(gb + j), d));
        _mm256_storeu_ps(dx + j, gy);
    }
    *s_gy = lanes_sum(a);
    *s_gyx = lanes_sum(ax);
    return j;
}

/* dx = rstd (dx - m_gy - xhat m_gyx), dx holding g dy */
AVX2 static size_t norm_dx8(const float *y, const float *g, const float *b, float rstd,
                            float m_gy, float m_gyx, float *dx, size_t k)
{
    const __m256 rs = _mm256_set1_ps(rstd), mg = _mm256_set1_ps(m_gy),
                 mgx = _mm256_set1_ps(m_gyx);
    size_t j = 0;
    for (; j + 8 <= k; j += 8) {
        __m256 t = _mm256_sub_ps(_mm256_loadu_ps(dx + j), mg);
        t = _mm256_sub_ps(t, _mm256_mul_ps(xhat8(y + j, g + j, b + j), mgx));
        _mm256_storeu_ps(dx + j, _mm256_mul_ps(rs, t));
    }
    return j;
}
#define VEC(call) (has_avx2() ? (call) : 0)
#else
#define VEC(call) 0
#endif

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
    size_t done = VEC(colsum8(gb, dY, n, d->out));
    for (size_t i = 0; i < n; i++)
        for (size_t j = done; j < d->out; j++)
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
    for (size_t i = VEC(relu_mask8(x, x, n)); i < n; i++)
        x[i] = x[i] > 0 ? x[i] : 0;
}

void relu_backward(const float *y, float *dy, size_t n)
{
    for (size_t i = VEC(relu_mask8(y, dy, n)); i < n; i++)
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

/* Two passes over each row: its mean from a sum in double, then the squared
 * deviations from the mean rounded to float (x - mu is exact for the x near
 * mu, by Sterbenz's lemma, and the rounding of mu adds only its square to the
 * variance). */
void norm_forward(const norm *l, const float *params, const float *X, size_t n, float *Y,
                  float *stats)
{
    size_t dim = l->dim;
    const float *g = params + l->g, *b = params + l->b;
    for (size_t i = 0; i < n; i++) {
        const float *x = X + i * dim;
        float *y = Y + i * dim;
        double sum = 0, sq = 0;
        for (size_t j = VEC(sum8(x, dim, &sum)); j < dim; j++)
            sum += x[j];
        float mu = (float)(sum / (double)dim);
        for (size_t j = VEC(sqdev8(x, mu, dim, &sq)); j < dim; j++) {
            float t = x[j] - mu;
            sq += t * t;
        }
        float rstd = (float)(1.0 / sqrt(sq / (double)dim + NORM_EPS));
        for (size_t j = VEC(norm_out8(x, mu, rstd, g, b, y, dim)); j < dim; j++)
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
        float *dx = dX + i * dim; /* g dy, then dL/dX */
        double s_gy = 0, s_gyx = 0;
        for (size_t j = VEC(norm_grad8(y, dy, g, b, gg, gb, dx, dim, &s_gy, &s_gyx)); j < dim;
             j++) {
            float xhat = (y[j] - b[j]) / g[j], gy = g[j] * dy[j];
            s_gy += gy;
            s_gyx += gy * xhat;
            gg[j] += dy[j] * xhat;
            gb[j] += dy[j];
            dx[j] = gy;
        }
        float m_gy = (float)(s_gy / (double)dim), m_gyx = (float)(s_gyx / (double)dim);
        float rstd = stats[2 * i + 1];
        for (size_t j = VEC(norm_dx8(y, g, b, rstd, m_gy, m_gyx, dx, dim)); j < dim; j++) {
            float xhat = (y[j] - b[j]) / g[j];
            dx[j] = rstd * (dx[j] - m_gy - xhat * m_gyx);
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
        for (size_t j = VEC(max8(P, c, &mx)); j < c; j++)
            mx = P[j] > mx ? P[j] : mx;
        double sum = 0;
        for (size_t j = VEC(exp_sum8(P, mx, c, &sum)); j < c; j++) {
            P[j] = expf(P[j] - mx);
            sum += P[j];
        }
        float inv = (float)(1.0 / sum);
        for (size_t j = VEC(scale8(P, inv, c)); j < c; j++)
            P[j] *= inv;
    }
}

/* dP [m][c] becomes dS = P (dP - rowsum(dP P)), the softmax's backward (the
 * row sums in double, by dsdot). */
static void softmax_backward(const float *P, float *dP, size_t m, size_t c)
{
    for (size_t i = 0; i < m; i++, P += c, dP += c) {
        float d = (float)cblas_dsdot((int)c, dP, 1, P, 1);
        for (size_t j = VEC(softmax_back8(P, dP, d, c)); j < c; j++)
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
    for (size_t i = VEC(add8(y, x, n)); i < n; i++)
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
