/* mlp.c: the reward head of mlp.h. Each hidden layer is one row-major sgemm
 * (A W^T) and one pass that adds the bias and applies the ReLU; the output
 * layer has one unit, so it is a dot product per row. The first layer runs per
 * input block: one sgemm over the block's distinct rows, spread to the batch
 * rows that read them (mlp_block). The backward pass mirrors it: dW = delta^T A
 * and dA = delta W as sgemms (a block's deltas summed per distinct row first),
 * while the bias gradient (column sums of delta) and the ReLU's derivative
 * ride along in the one pass that builds each delta. The passes run in place
 * over the workspace, which stops growing once it fits the batch. */
#include "common/models/mlp.h"

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
    free(ws->part);
    memset(ws, 0, sizeof *ws);
}

void mlp_zero_grad(mlp *m)
{
    memset(m->grads, 0, m->n_params * sizeof *m->grads);
}

/* The blocks cover the input's columns, and every map entry names a row. */
static int blocks_check(const mlp *m, const mlp_block *bl, int n_blocks, size_t n, ppr_err *e)
{
    size_t cols = 0;
    for (int k = 0; k < n_blocks; k++) {
        const mlp_block *b = &bl[k];
        cols += b->width;
        if (b->n_rows > INT_MAX || (!b->map && b->n_rows != n))
            return err_set(e, PPR_EINTERNAL, "mlp: block %d has %zu rows for %zu batch rows", k,
                           b->n_rows, n);
        for (size_t i = 0; b->map && i < n; i++)
            if (b->map[i] >= b->n_rows)
                return err_set(e, PPR_EINTERNAL, "mlp: block %d maps batch row %zu to row %u of "
                               "%zu", k, i, b->map[i], b->n_rows);
    }
    if (cols != m->dims[0])
        return err_set(e, PPR_EINTERNAL, "mlp: blocks %zu columns wide for an input of %u", cols,
                       m->dims[0]);
    return PPR_OK;
}

/* Floats of ws->part the blocks need. */
static size_t part_need(const mlp *m, const mlp_block *bl, int n_blocks)
{
    size_t need = 0;
    for (int k = 0; k < n_blocks; k++)
        if (bl[k].map && bl[k].n_rows * m->dims[1] > need)
            need = bl[k].n_rows * m->dims[1];
    return need;
}

/* Grow ws to hold the activations of n rows and the blocks' scratch. */
static int ws_fit(const mlp *m, mlp_ws *ws, size_t n, size_t part, ppr_err *e)
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
    if (part && mem_grow((void **)&ws->part, &ws->part_cap, part, sizeof(float)))
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

/* s = a [k] . w [k] */
static float dot(const float *a, const float *w, size_t k)
{
    float s = 0;
    for (size_t j = VEC(dot8(a, w, k, &s)); j < k; j++)
        s += a[j] * w[j];
    return s;
}

/* r [n] = A [n][k] w + b, plus A[i] . wr[i] per row when wr [n][k] is not NULL */
static void out_forward(float *r, const float *A, const float *w, const float *wr, float b,
                        size_t n, size_t k)
{
    for (size_t i = 0; i < n; i++, A += k)
        r[i] = b + dot(A, w, k) + (wr ? dot(A, wr + i * k, k) : 0.0f);
}

/* The output layer's backward over A [n][k], its input: gw [k] += sum over
 * rows of dr[i] A[i]; and unless D is NULL (no hidden layer), D [n][k] =
 * dL/d(pre-activation) of the last hidden layer (A being its ReLU output) and
 * gb [k], that layer's bias gradient, += the column sums of D. With per-row
 * weights wr [n][k] (or NULL), row i's output weights are w + wr[i], and
 * gwr [n][k] = dr[i] A[i], their gradient. */
static void out_backward(float *gw, const float *A, const float *dr, const float *w,
                         const float *wr, float *gwr, float *D, float *gb, size_t n, size_t k)
{
    for (size_t i = 0; i < n; i++, A += k) {
        for (size_t j = VEC(axpy8(gw, dr[i], A, k)); j < k; j++)
            gw[j] += dr[i] * A[j];
        if (gwr)
            for (size_t j = 0; j < k; j++)
                gwr[i * k + j] = dr[i] * A[j];
        if (!D)
            continue;
        float *d = D + i * k;
        if (wr) {
            const float *wi = wr + i * k;
            for (size_t j = 0; j < k; j++) {
                d[j] = A[j] > 0 ? dr[i] * (w[j] + wi[j]) : 0;
                gb[j] += d[j];
            }
            continue;
        }
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

/* y [k] += x [k] */
static void row_add(float *y, const float *x, size_t k)
{
    for (size_t j = VEC(axpy8(y, 1.0f, x, k)); j < k; j++)
        y[j] += x[j];
}

/* Z [n][out] = T[map[i]] for every row i (or += when add), T [..][out]. */
static void rows_spread(float *Z, const float *T, const uint32_t *map, size_t n, size_t out,
                        int add)
{
    for (size_t i = 0; i < n; i++, Z += out) {
        const float *t = T + (size_t)map[i] * out;
        if (add)
            row_add(Z, t, out);
        else
            memcpy(Z, t, out * sizeof *Z);
    }
}

/* The first layer without its bias: Z [n][dims[1]] = the sum over blocks of
 * their rows times their columns of W. */
static void first_forward(const mlp *m, mlp_ws *ws, const mlp_block *bl, int n_blocks, size_t n,
                          float *Z)
{
    int in = (int)m->dims[0], out = (int)m->dims[1];
    const float *W = m->params + m->w_off[0]; /* [out][in] */
    size_t col = 0;
    int any = 0;
    for (int k = 0; k < n_blocks; col += bl[k].width, k++) {
        const mlp_block *b = &bl[k];
        int w = (int)b->width;
        if (w == 0)
            continue;
        if (!b->map) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, out, w, 1.0f, b->rows, w,
                        W + col, in, any ? 1.0f : 0.0f, Z, out);
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)b->n_rows, out, w, 1.0f,
                        b->rows, w, W + col, in, 0.0f, ws->part, out);
            rows_spread(Z, ws->part, b->map, n, (size_t)out, any);
        }
        any = 1;
    }
}

/* The first layer's backward from D [n][dims[1]] = dL/d(its output): each
 * block's rows' summed deltas times its rows into the weights' gradient, and
 * times its columns of W into the block's grad when asked. */
static void first_backward(mlp *m, mlp_ws *ws, const mlp_block *bl, int n_blocks, size_t n,
                           const float *D)
{
    int in = (int)m->dims[0], out = (int)m->dims[1];
    const float *W = m->params + m->w_off[0];
    float *gW = m->grads + m->w_off[0];
    size_t col = 0;
    for (int k = 0; k < n_blocks; col += bl[k].width, k++) {
        const mlp_block *b = &bl[k];
        int w = (int)b->width, rows = (int)b->n_rows;
        if (w == 0 || rows == 0)
            continue;
        const float *Ds = D; /* [rows][out] */
        if (b->map) {
            memset(ws->part, 0, b->n_rows * (size_t)out * sizeof *ws->part);
            for (size_t i = 0; i < n; i++)
                row_add(ws->part + (size_t)b->map[i] * out, D + i * out, (size_t)out);
            Ds = ws->part;
        }
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, w, rows, 1.0f, Ds, out, b->rows,
                    w, 1.0f, gW + col, in);
        if (b->grad)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, w, out, 1.0f, Ds, out,
                        W + col, in, 0.0f, b->grad, w);
    }
}

int mlp_forward_rows(const mlp *m, mlp_ws *ws, const mlp_block *blocks, int n_blocks, size_t n,
                     const float *wr, float *r, ppr_err *e)
{
    if (wr && m->n_layers < 2)
        return err_set(e, PPR_EINTERNAL, "mlp: per-row output weights need a hidden layer");
    int rc = blocks_check(m, blocks, n_blocks, n, e);
    if (rc == PPR_OK)
        rc = ws_fit(m, ws, n, part_need(m, blocks, n_blocks), e);
    if (rc || n == 0)
        return rc;
    uint32_t L = m->n_layers;
    if (L == 1) {
        first_forward(m, ws, blocks, n_blocks, n, r);
        for (size_t i = 0; i < n; i++)
            r[i] += m->params[m->b_off[0]];
        return PPR_OK;
    }
    first_forward(m, ws, blocks, n_blocks, n, ws->act[1]);
    bias_relu(ws->act[1], m->params + m->b_off[0], n, m->dims[1]);
    const float *A = ws->act[1]; /* [n][dims[l]] the layer's input */
    for (uint32_t l = 1; l + 1 < L; l++) {
        int in = (int)m->dims[l], out = (int)m->dims[l + 1];
        float *C = ws->act[l + 1]; /* [n][out] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, out, in, 1.0f, A, in,
                    m->params + m->w_off[l], in, 0.0f, C, out);
        bias_relu(C, m->params + m->b_off[l], n, (size_t)out);
        A = C;
    }
    out_forward(r, A, m->params + m->w_off[L - 1], wr, m->params[m->b_off[L - 1]], n,
                m->dims[L - 1]);
    return PPR_OK;
}

int mlp_forward_blocks(const mlp *m, mlp_ws *ws, const mlp_block *blocks, int n_blocks, size_t n,
                       float *r, ppr_err *e)
{
    return mlp_forward_rows(m, ws, blocks, n_blocks, n, NULL, r, e);
}

int mlp_forward(const mlp *m, mlp_ws *ws, const float *X, size_t n, float *r, ppr_err *e)
{
    mlp_block all = {X, n, m->dims[0], NULL, NULL};
    return mlp_forward_blocks(m, ws, &all, 1, n, r, e);
}

int mlp_backward_rows(mlp *m, mlp_ws *ws, const mlp_block *blocks, int n_blocks, size_t n,
                      const float *dr, const float *wr, float *gwr, ppr_err *e)
{
    uint32_t L = m->n_layers;
    if ((wr || gwr) && L < 2)
        return err_set(e, PPR_EINTERNAL, "mlp: per-row output weights need a hidden layer");
    int rc = blocks_check(m, blocks, n_blocks, n, e);
    if (rc)
        return rc;
    int fits = part_need(m, blocks, n_blocks) <= ws->part_cap;
    for (uint32_t l = 1; l < L; l++)
        fits = fits && n * m->dims[l] <= ws->act_cap[l];
    if (!fits)
        return err_set(e, PPR_EINTERNAL, "mlp: backward over %zu rows without their forward",
                       n);
    if (n == 0)
        return PPR_OK;
    float gb = 0;
    for (size_t i = 0; i < n; i++)
        gb += dr[i];
    m->grads[m->b_off[L - 1]] += gb;
    const float *D = dr; /* [n][dims[1]] at the end: dL/d(the first layer's output) */
    if (L > 1) {
        /* The output layer: w [k], one bias; and D [n][k] = dL/d(pre-activation)
         * of the last hidden layer, with its bias gradient. */
        size_t k = m->dims[L - 1];
        float *Dl = ws->delta[0];
        out_backward(m->grads + m->w_off[L - 1], ws->act[L - 1], dr, m->params + m->w_off[L - 1],
                     wr, gwr, Dl, m->grads + m->b_off[L - 2], n, k);
        int cur = 0;
        for (uint32_t l = L - 2; l >= 1; l--) {
            int in = (int)m->dims[l], out = (int)m->dims[l + 1];
            const float *Al = ws->act[l]; /* [n][in] the layer's input */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, (int)n, 1.0f, Dl, out,
                        Al, in, 1.0f, m->grads + m->w_off[l], in);
            float *next = ws->delta[cur ^ 1]; /* [n][in] */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, in, out, 1.0f, Dl, out,
                        m->params + m->w_off[l], in, 0.0f, next, in);
            relu_mask(next, Al, m->grads + m->b_off[l - 1], n, (size_t)in);
            Dl = next;
            cur ^= 1;
        }
        D = Dl;
    }
    first_backward(m, ws, blocks, n_blocks, n, D);
    return PPR_OK;
}

int mlp_backward_blocks(mlp *m, mlp_ws *ws, const mlp_block *blocks, int n_blocks, size_t n,
                        const float *dr, ppr_err *e)
{
    return mlp_backward_rows(m, ws, blocks, n_blocks, n, dr, NULL, NULL, e);
}

int mlp_backward(mlp *m, mlp_ws *ws, const float *X, size_t n, const float *dr, float *dX,
                 ppr_err *e)
{
    mlp_block all = {X, n, m->dims[0], NULL, dX};
    return mlp_backward_blocks(m, ws, &all, 1, n, dr, e);
}
