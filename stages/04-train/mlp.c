/* mlp.c: the reward head of mlp.h. Each hidden layer is one row-major sgemm
 * (A W^T) and one pass that adds the bias and applies the ReLU; the output
 * layer has one unit, so it is a dot product per row. The backward pass
 * mirrors it: dW = delta^T A and dA = delta W as sgemms, while the bias
 * gradient (column sums of delta) and the ReLU's derivative ride along in the
 * one pass that builds each delta. The passes run in place over the
 * workspace, which stops growing once it fits the batch. */
#include "stages/04-train/mlp.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/rng.h"

int mlp_init(mlp *m, uint32_t in, const uint32_t *hidden, uint32_t n_hidden, size_t n_extra,
             uint64_t seed, ppr_err *e)
{
    memset(m, 0, sizeof *m);
    if (n_hidden >= MLP_MAX_LAYERS)
        return err_set(e, PPR_EINPUT, "mlp: %u hidden layers, at most %d", n_hidden,
                       MLP_MAX_LAYERS - 1);
    m->n_layers = n_hidden + 1;
    m->dims[0] = in;
    for (uint32_t l = 0; l < n_hidden; l++)
        m->dims[l + 1] = hidden[l];
    m->dims[m->n_layers] = 1;
    for (uint32_t l = 0; l < m->n_layers; l++)
        if (m->dims[l] == 0 || m->dims[l] > INT_MAX)
            return err_set(e, PPR_EINPUT, "mlp: layer %u has width %u, not in [1, %d]", l,
                           m->dims[l], INT_MAX);
    size_t n = 0;
    for (uint32_t l = 0; l < m->n_layers; l++) {
        m->w_off[l] = n;
        n += (size_t)m->dims[l] * m->dims[l + 1];
        m->b_off[l] = n;
        n += m->dims[l + 1];
    }
    if (n_extra > SIZE_MAX / sizeof(float) - n)
        return err_nomem(e);
    m->n_extra = n_extra;
    m->n_params = n + n_extra;
    m->params = calloc(m->n_params, sizeof *m->params);
    m->grads = calloc(m->n_params, sizeof *m->grads);
    if (!m->params || !m->grads) {
        mlp_release(m);
        return err_nomem(e);
    }
    /* nn.Linear's kaiming_uniform_(a = sqrt(5)) is U(+-1/sqrt(fan_in)), and so is
     * its bias; drawn in PyTorch's order: W row-major, then b, layer by layer. */
    rng r;
    rng_seed(&r, seed, 0);
    for (uint32_t l = 0; l < m->n_layers; l++) {
        double bound = 1.0 / sqrt((double)m->dims[l]);
        size_t count = (size_t)m->dims[l + 1] * (m->dims[l] + 1); /* W then b, adjacent */
        float *p = m->params + m->w_off[l];
        for (size_t k = 0; k < count; k++)
            p[k] = (float)((2.0 * rng_uniform(&r) - 1.0) * bound);
    }
    return PPR_OK;
}

void mlp_decay_mask(const mlp *m, uint8_t *mask)
{
    memset(mask, 1, m->n_params);
    for (uint32_t l = 0; l < m->n_layers; l++)
        memset(mask + m->b_off[l], 0, m->dims[l + 1]);
}

void mlp_release(mlp *m)
{
    if (!m)
        return;
    free(m->params);
    free(m->grads);
    memset(m, 0, sizeof *m);
}

void mlp_ws_release(mlp_ws *ws)
{
    if (!ws)
        return;
    for (int l = 0; l < MLP_MAX_LAYERS; l++)
        free(ws->act[l]);
    free(ws->delta[0]);
    free(ws->delta[1]);
    memset(ws, 0, sizeof *ws);
}

void mlp_zero_grad(mlp *m)
{
    memset(m->grads, 0, m->n_params * sizeof *m->grads);
}

/* Grow ws to hold the activations of n rows. */
static int ws_fit(const mlp *m, mlp_ws *ws, size_t n, ppr_err *e)
{
    if (n > INT_MAX)
        return err_set(e, PPR_EINTERNAL, "mlp: a batch of %zu rows is beyond a BLAS int", n);
    size_t widest = 0;
    for (uint32_t l = 1; l < m->n_layers; l++) {
        if (mem_grow((void **)&ws->act[l], &ws->act_cap[l], n * m->dims[l], sizeof(float)))
            return err_nomem(e);
        if (m->dims[l] > widest)
            widest = m->dims[l];
    }
    for (int d = 0; d < 2 && widest; d++)
        if (mem_grow((void **)&ws->delta[d], &ws->delta_cap[d], n * widest, sizeof(float)))
            return err_nomem(e);
    return PPR_OK;
}

/* ---- row kernels ------------------------------------------------------
 * The passes between the GEMMs, over one row of k floats at a time: an AVX2
 * part for the first k - k % 8 entries where the CPU has AVX2, then the scalar
 * loop for the rest (or all, elsewhere). Element-wise, the two do the same
 * float operations in the same order; only the dot product sums in another
 * order, which is fixed for a given CPU. */

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2")))

static int has_avx2(void)
{
    return __builtin_cpu_supports("avx2");
}

/* c = max(c + b, 0) */
AVX2 static size_t bias_relu8(float *c, const float *b, size_t k)
{
    size_t j = 0;
    for (; j + 8 <= k; j += 8) {
        __m256 z = _mm256_add_ps(_mm256_loadu_ps(c + j), _mm256_loadu_ps(b + j));
        _mm256_storeu_ps(c + j, _mm256_max_ps(z, _mm256_setzero_ps()));
    }
    return j;
}

/* *sum = sum of a[j] w[j] over the entries done */
AVX2 static size_t dot8(const float *a, const float *w, size_t k, float *sum)
{
    __m256 acc = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 8 <= k; j += 8)
        acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(w + j)));
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    *sum = _mm_cvtss_f32(h);
    return j;
}

/* y += s x */
AVX2 static size_t axpy8(float *y, float s, const float *x, size_t k)
{
    __m256 s8 = _mm256_set1_ps(s);
    size_t j = 0;
    for (; j + 8 <= k; j += 8)
        _mm256_storeu_ps(y + j, _mm256_add_ps(_mm256_loadu_ps(y + j),
                                              _mm256_mul_ps(s8, _mm256_loadu_ps(x + j))));
    return j;
}

/* d = a > 0 ? s w : 0, then gb += d */
AVX2 static size_t relu_delta8(float *d, const float *a, float s, const float *w, float *gb,
                               size_t k)
{
    __m256 s8 = _mm256_set1_ps(s), zero = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 8 <= k; j += 8) {
        __m256 on = _mm256_cmp_ps(_mm256_loadu_ps(a + j), zero, _CMP_GT_OQ);
        __m256 v = _mm256_and_ps(on, _mm256_mul_ps(s8, _mm256_loadu_ps(w + j)));
        _mm256_storeu_ps(d + j, v);
        _mm256_storeu_ps(gb + j, _mm256_add_ps(_mm256_loadu_ps(gb + j), v));
    }
    return j;
}

/* d = a > 0 ? d : 0, then gb += d */
AVX2 static size_t relu_mask8(float *d, const float *a, float *gb, size_t k)
{
    __m256 zero = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 8 <= k; j += 8) {
        __m256 on = _mm256_cmp_ps(_mm256_loadu_ps(a + j), zero, _CMP_GT_OQ);
        __m256 v = _mm256_and_ps(on, _mm256_loadu_ps(d + j));
        _mm256_storeu_ps(d + j, v);
        _mm256_storeu_ps(gb + j, _mm256_add_ps(_mm256_loadu_ps(gb + j), v));
    }
    return j;
}
#define VEC(call) (has_avx2() ? (call) : 0)
#else
#define VEC(call) 0
#endif

/* C [n][k] = max(C + b, 0) */
static void bias_relu(float *C, const float *b, size_t n, size_t k)
{
    for (size_t i = 0; i < n; i++, C += k)
        for (size_t j = VEC(bias_relu8(C, b, k)); j < k; j++) {
            float z = C[j] + b[j];
            C[j] = z > 0 ? z : 0;
        }
}

/* r [n] = A [n][k] w + b */
static void out_forward(float *r, const float *A, const float *w, float b, size_t n, size_t k)
{
    for (size_t i = 0; i < n; i++, A += k) {
        float s = 0;
        for (size_t j = VEC(dot8(A, w, k, &s)); j < k; j++)
            s += A[j] * w[j];
        r[i] = b + s;
    }
}

/* The output layer's backward over A [n][k], its input: gw [k] += sum over
 * rows of dr[i] A[i]; and unless D is NULL (no hidden layer), D [n][k] =
 * dL/d(pre-activation) of the last hidden layer (A being its ReLU output) and
 * gb [k], that layer's bias gradient, += the column sums of D. */
static void out_backward(float *gw, const float *A, const float *dr, const float *w, float *D,
                         float *gb, size_t n, size_t k)
{
    for (size_t i = 0; i < n; i++, A += k) {
        for (size_t j = VEC(axpy8(gw, dr[i], A, k)); j < k; j++)
            gw[j] += dr[i] * A[j];
        if (!D)
            continue;
        float *d = D + i * k;
        for (size_t j = VEC(relu_delta8(d, A, dr[i], w, gb, k)); j < k; j++) {
            d[j] = A[j] > 0 ? dr[i] * w[j] : 0;
            gb[j] += d[j];
        }
    }
}

/* D [n][k] = D where A > 0, else 0 (the ReLU's derivative); gb [k] += its
 * column sums. */
static void relu_mask(float *D, const float *A, float *gb, size_t n, size_t k)
{
    for (size_t i = 0; i < n; i++, D += k, A += k)
        for (size_t j = VEC(relu_mask8(D, A, gb, k)); j < k; j++) {
            D[j] = A[j] > 0 ? D[j] : 0;
            gb[j] += D[j];
        }
}

int mlp_forward(const mlp *m, mlp_ws *ws, const float *X, size_t n, float *r, ppr_err *e)
{
    int rc = ws_fit(m, ws, n, e);
    if (rc || n == 0)
        return rc;
    const float *A = X; /* [n][dims[l]] the layer's input */
    uint32_t L = m->n_layers;
    for (uint32_t l = 0; l + 1 < L; l++) {
        int in = (int)m->dims[l], out = (int)m->dims[l + 1];
        float *C = ws->act[l + 1]; /* [n][out] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, out, in, 1.0f, A, in,
                    m->params + m->w_off[l], in, 0.0f, C, out);
        bias_relu(C, m->params + m->b_off[l], n, (size_t)out);
        A = C;
    }
    out_forward(r, A, m->params + m->w_off[L - 1], m->params[m->b_off[L - 1]], n, m->dims[L - 1]);
    return PPR_OK;
}

int mlp_backward(mlp *m, mlp_ws *ws, const float *X, size_t n, const float *dr, float *dX,
                 ppr_err *e)
{
    uint32_t L = m->n_layers;
    for (uint32_t l = 1; l < L; l++)
        if (n * m->dims[l] > ws->act_cap[l])
            return err_set(e, PPR_EINTERNAL, "mlp: backward over %zu rows without their forward",
                           n);
    if (n == 0)
        return PPR_OK;
    /* The output layer: w [k], one bias; and D [n][k] = dL/d(pre-activation)
     * of the last hidden layer, if any, with its bias gradient. */
    size_t k = m->dims[L - 1];
    const float *A = L > 1 ? ws->act[L - 1] : X; /* [n][k] */
    const float *w = m->params + m->w_off[L - 1];
    float *D = L > 1 ? ws->delta[0] : NULL;
    out_backward(m->grads + m->w_off[L - 1], A, dr, w, D, L > 1 ? m->grads + m->b_off[L - 2] : NULL,
                 n, k);
    float gb = 0;
    for (size_t i = 0; i < n; i++)
        gb += dr[i];
    m->grads[m->b_off[L - 1]] += gb;
    if (L == 1) {
        for (size_t i = 0; dX && i < n; i++)
            for (size_t j = 0; j < k; j++)
                dX[i * k + j] = dr[i] * w[j];
        return PPR_OK;
    }
    int cur = 0;
    for (uint32_t l = L - 1; l-- > 0;) {
        int in = (int)m->dims[l], out = (int)m->dims[l + 1];
        const float *Al = l ? ws->act[l] : X; /* [n][in] the layer's input */
        const float *W = m->params + m->w_off[l];
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, (int)n, 1.0f, D, out, Al, in,
                    1.0f, m->grads + m->w_off[l], in);
        float *next = l ? ws->delta[cur ^ 1] : dX; /* [n][in] */
        if (!next)
            break;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, in, out, 1.0f, D, out, W, in,
                    0.0f, next, in);
        if (l)
            relu_mask(next, Al, m->grads + m->b_off[l - 1], n, (size_t)in);
        D = next;
        cur ^= 1;
    }
    return PPR_OK;
}
