/* optim.c: the Bradley-Terry loss, AdamW with global-norm clipping and the
 * schedules of optim.h. AdamW follows torch.optim.AdamW: moments in
 * float32 like the parameters, bias corrections 1 - beta^t from double
 * scalars, eps added after sqrt(v) / sqrt(1 - beta2^t) (a product with the
 * reciprocal here), and the decoupled decay p *= 1 - lr * wd before the
 * update; clipping follows torch.nn.utils.clip_grad_norm_ (scale by
 * clip / (norm + 1e-6) when that is below 1). The update is one pass over the
 * arrays that also zeroes the gradient, saving the caller a pass of its own
 * (at a million parameters these passes are bound by memory bandwidth), eight
 * floats at a time where the CPU has AVX2; the scalar loop does the same
 * operations in the same order, so both give the same bits. */
#include "common/models/optim.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

double bt_loss(const float *rc, const float *rr, const float *w, size_t n, float *d_rc, float *d_rr)
{
    double wsum = 0;
    for (size_t i = 0; i < n; i++)
        wsum += w ? w[i] : 1.0;
    if (!(wsum > 0)) {
        memset(d_rc, 0, n * sizeof *d_rc);
        memset(d_rr, 0, n * sizeof *d_rr);
        return 0;
    }
    double loss = 0;
    for (size_t i = 0; i < n; i++) {
        double t = (double)rc[i] - rr[i], wi = w ? w[i] : 1.0;
        double a = exp(-fabs(t)); /* in (0, 1]: never overflows */
        loss += wi * (fmax(-t, 0) + log1p(a));
        /* dL/dt = sigmoid(t) - 1 = -sigmoid(-t), from a on either side of 0 */
        double s = t >= 0 ? a / (1 + a) : 1 / (1 + a);
        d_rc[i] = (float)(-wi * s / wsum);
        d_rr[i] = -d_rc[i];
    }
    return loss / wsum;
}

int adamw_init(adamw *o, const adamw_cfg *cfg, size_t n, const uint8_t *decay, ppr_err *e)
{
    memset(o, 0, sizeof *o);
    if (!(cfg->lr >= 0 && cfg->weight_decay >= 0 && cfg->clip >= 0 && cfg->eps > 0) ||
        !isfinite(cfg->lr + cfg->weight_decay + cfg->clip + cfg->eps))
        return err_set(e, PPR_EINPUT,
                       "adamw: lr %g, weight decay %g and clip %g must be finite and >= 0, "
                       "eps %g finite and > 0",
                       cfg->lr, cfg->weight_decay, cfg->clip, cfg->eps);
    if (!(cfg->beta1 >= 0 && cfg->beta1 < 1) || !(cfg->beta2 >= 0 && cfg->beta2 < 1))
        return err_set(e, PPR_EINPUT, "adamw: betas %g and %g must be in [0, 1)", cfg->beta1,
                       cfg->beta2);
    o->cfg = *cfg;
    o->m = calloc(n ? n : 1, sizeof *o->m);
    o->v = calloc(n ? n : 1, sizeof *o->v);
    if (!o->m || !o->v) {
        adamw_release(o);
        return err_nomem(e);
    }
    o->decay = decay;
    o->n = n;
    return PPR_OK;
}

void adamw_release(adamw *o)
{
    if (!o)
        return;
    free(o->m);
    free(o->v);
    memset(o, 0, sizeof *o);
}

/* The schedules of optim.h: the warmup ramp, then linear or cosine decay. */
double adamw_lr(const adamw_cfg *cfg, uint64_t t)
{
    if (t < cfg->warmup)
        return cfg->lr * (double)(t + 1) / (double)(cfg->warmup + 1);
    if (t >= cfg->total)
        return 0;
    double span = (double)(cfg->total - cfg->warmup), at = (double)(t - cfg->warmup);
    if (cfg->cosine)
        return cfg->lr * 0.5 * (1 + cos(M_PI * at / span));
    return cfg->lr * (span - at) / span;
}

/* The per-step constants of the update, as float32 like torch's scalars. */
typedef struct {
    float scale;          /* gradient clip factor */
    float b1, c1, b2, c2; /* beta1, 1 - beta1, beta2, 1 - beta2 */
    float keep;           /* 1 - lr * wd where decay applies */
    float step;           /* lr / (1 - beta1^t) */
    float inv_bc2_sqrt;   /* 1 / sqrt(1 - beta2^t): a product, not torch's quotient, to
                             save a division per element */
    float eps;
} adamw_k;

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* The first n - n % 8 elements of the scalar loop below, eight at a time with
 * the same operations in the same order: the same bits. */
__attribute__((target("avx2"))) static size_t
adamw_pass8(const adamw_k *k, float *p, float *g, float *m, float *v, const uint8_t *d, size_t n)
{
    const __m256 scale = _mm256_set1_ps(k->scale), b1 = _mm256_set1_ps(k->b1),
                 c1 = _mm256_set1_ps(k->c1), b2 = _mm256_set1_ps(k->b2), c2 = _mm256_set1_ps(k->c2),
                 keep = _mm256_set1_ps(k->keep), one = _mm256_set1_ps(1.0f),
                 step = _mm256_set1_ps(k->step), ibc2 = _mm256_set1_ps(k->inv_bc2_sqrt),
                 eps = _mm256_set1_ps(k->eps);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 gi = _mm256_mul_ps(_mm256_loadu_ps(g + i), scale);
        __m256 mi = _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(c1, gi));
        __m256 vi = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(v + i)),
                                  _mm256_mul_ps(_mm256_mul_ps(c2, gi), gi));
        __m256 den = _mm256_add_ps(_mm256_mul_ps(_mm256_sqrt_ps(vi), ibc2), eps);
        __m256i di = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(d + i)));
        __m256 off = _mm256_castsi256_ps(_mm256_cmpeq_epi32(di, _mm256_setzero_si256()));
        __m256 factor = _mm256_blendv_ps(keep, one, off);
        _mm256_storeu_ps(g + i, _mm256_setzero_ps());
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        _mm256_storeu_ps(p + i, _mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(p + i), factor),
                                              _mm256_mul_ps(step, _mm256_div_ps(mi, den))));
    }
    return i;
}
#endif

static void adamw_pass(const adamw_k *k, float *p, float *g, float *m, float *v, const uint8_t *d,
                       size_t n)
{
    size_t i = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx2"))
        i = adamw_pass8(k, p, g, m, v, d, n);
#endif
    for (; i < n; i++) {
        float gi = g[i] * k->scale;
        float mi = k->b1 * m[i] + k->c1 * gi;
        float vi = k->b2 * v[i] + k->c2 * gi * gi;
        float den = sqrtf(vi) * k->inv_bc2_sqrt + k->eps;
        g[i] = 0;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * (d[i] ? k->keep : 1.0f) - k->step * (mi / den);
    }
}

double adamw_step(adamw *o, float *params, float *grads)
{
    const adamw_cfg *c = &o->cfg;
    double norm = 0;
    /* dsdot: float32 data summed in double, in BLAS-int sized pieces */
    for (size_t at = 0; at < o->n; at += INT_MAX) {
        int len = o->n - at < INT_MAX ? (int)(o->n - at) : INT_MAX;
        norm += cblas_dsdot(len, grads + at, 1, grads + at, 1);
    }
    norm = sqrt(norm);
    double lr = adamw_lr(c, o->step);
    o->step++;
    double coef = c->clip > 0 ? c->clip / (norm + 1e-6) : 1;
    adamw_k k = {
        .scale = coef < 1 ? (float)coef : 1.0f,
        .b1 = (float)c->beta1,
        .c1 = (float)(1 - c->beta1),
        .b2 = (float)c->beta2,
        .c2 = (float)(1 - c->beta2),
        .keep = (float)(1 - lr * c->weight_decay),
        .step = (float)(lr / (1 - pow(c->beta1, (double)o->step))),
        .inv_bc2_sqrt = (float)(1 / sqrt(1 - pow(c->beta2, (double)o->step))),
        .eps = (float)c->eps,
    };
    adamw_pass(&k, params, grads, o->m, o->v, o->decay, o->n);
    return norm;
}
