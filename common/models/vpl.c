/* vpl.c: VPL, variational preference learning (Poddar et al. 2024;
 * methods.md section 4) on frozen features, as a ppr method. A user is a
 * context of labelled pairs: the encoder (vpl_net.h) maps it to a Gaussian
 * over a latent z (mu and logvar clamped to [-1, 1]), and the reward is a
 * decoder over [phi(prompt); phi(response); z].
 *
 * Training: each pair is `duplicates` rows (row i is pair i % n), each row
 * with its own context of L ~ U{context_min .. context_max} other pairs of
 * its user (fewer when the user has fewer), drawn without replacement from
 * rng_seed(context seed, minibatch call). z = mu + exp(logvar / 2) eps, then
 * z <- sqrt(latent) z / |z| (the official rescale); the loss is the mean BT
 * loss + kl_weight anneal(call) times the batch mean of KL(q || N(0, I)).
 * Users with fewer than context_max training pairs are neither trained on nor
 * served. After training each served user keeps z_u = mu(C_u), C_u
 * context_max of its pairs drawn from the seed; scoring reads z_u (the
 * clamped mu, not rescaled: the official code's asymmetry). Adapting encodes
 * all k pairs of the new user, without gradient steps; adapting again
 * replaces its z. There is no init_from: the decoder reads z beside the
 * features, so a Bradley-Terry reference head does not map onto it.
 *
 * Settings: "vpl": {"latent", "hidden", "context_min", "context_max",
 * "duplicates", "kl_weight", "anneal_steps"}, all required (the stage reads
 * the section's optimizer overrides itself). Shape: vpl_shape, then uint32
 * served[n_served] (strictly increasing: the served training users, below
 * n_users, then the adapted users). Params: the network (vpl_net.h's
 * order), then z [n_served][latent] in served order. */
#include "common/models/vpl.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/models/bt.h"
#include "common/models/optim.h"
#include "common/models/registry.h"
#include "common/models/vpl_net.h"
#include "common/rng.h"

#define VPL_MAX_WIDTH 65536
#define VPL_MAX_CONTEXT 1024 /* Floyd's sampling costs context^2 a row */
#define VPL_MAX_DUPLICATES 65536
#define SCORE_CHUNK 1024 /* decoder rows a forward pass */
#define SERVE_CHUNK 256  /* users encoded a forward pass */
#define NO_SLOT UINT32_MAX

/* rng streams under a seed */
#define VPL_STREAM_INIT (1ULL << 32)    /* the network's initial values */
#define VPL_STREAM_CONTEXT (2ULL << 32) /* root of the minibatches' streams */
#define VPL_STREAM_SERVE (3ULL << 32)   /* root of the served users' streams */

enum { K_LATENT, K_HIDDEN, K_CONTEXT_MIN, K_CONTEXT_MAX, K_DUPLICATES, K_ANNEAL, N_INTS };

static const struct {
    const char *key;
    int64_t lo, hi;
} vpl_ints[N_INTS] = {
    {"latent", 1, VPL_MAX_WIDTH},           {"hidden", 1, VPL_MAX_WIDTH},
    {"context_min", 1, VPL_MAX_CONTEXT},    {"context_max", 1, VPL_MAX_CONTEXT},
    {"duplicates", 1, VPL_MAX_DUPLICATES},  {"anneal_steps", 1, 1LL << 53},
};

typedef struct {
    uint32_t latent, hidden, context_min, context_max, duplicates;
    uint64_t anneal_steps;
    double kl_weight;
} vpl_arch;

/* What training on a pair set needs beside the minibatch. */
typedef struct {
    const pair_set *ps;
    uint32_t *order;  /* [n] pairs grouped by user */
    size_t *start;    /* [n_users + 1] user u's pairs: order[start[u] .. start[u + 1]) */
    uint32_t *pos;    /* [n] each pair's place in its user's group */
    uint32_t *slot;   /* [n] NO_SLOT, or a pair's distinct index in the current batch */
    uint64_t seed;    /* root of each minibatch call's stream */
    uint64_t call;    /* minibatch calls so far in this run */
} vpl_run;

typedef struct {
    method base;
    vpl_arch a;
    vpl_net net;
    float *params, *grads; /* [net.n] */
    uint8_t *decay;        /* [net.n] 1 on weights, 0 on biases */
    uint32_t *served;      /* [n_served] strictly increasing: training users, then adapted */
    uint32_t n_served, n_adapted;
    float *z;              /* [n_served][latent] */
    vpl_ws ws;
    vpl_run run;
} vpl;

/* The model file's shape, before served[n_served]. */
typedef struct {
    uint32_t latent, hidden, context_min, context_max, duplicates;
    uint32_t n_served, n_adapted, reserved;
    uint64_t anneal_steps;
    double kl_weight;
} vpl_shape;

_Static_assert(sizeof(vpl_shape) == 48, "vpl_shape has no hidden padding");

double vpl_anneal(uint64_t t, uint64_t T)
{
    double x = (double)(t % T) / (double)T;
    return 0.1 + 0.9 * (cos(M_PI * (x - 1)) + 1) / 2;
}

double vpl_kl(const float *mu, const float *logvar, size_t d, float scale, float *dmu,
              float *dlogvar)
{
    double kl = 0;
    for (size_t c = 0; c < d; c++) {
        double m = mu[c], l = logvar[c], el = exp(l);
        kl += -0.5 * (1 + l - m * m - el);
        dmu[c] += (float)(scale * m);
        dlogvar[c] += (float)(scale * 0.5 * (el - 1));
    }
    return kl;
}

/* ---- shape and lifecycle ------------------------------------------------------- */

/* The architecture from its integer settings vals [N_INTS] and kl_weight,
 * checked against the features' width; errors name the key. */
static int arch_make(vpl_arch *a, const int64_t *vals, double kl_weight, uint32_t dim,
                     const char *what, ppr_err *e)
{
    for (int k = 0; k < N_INTS; k++)
        if (vals[k] < vpl_ints[k].lo || vals[k] > vpl_ints[k].hi)
            return err_set(e, PPR_EINPUT, "%s: vpl's \"%s\" is %lld, not in [%lld, %lld]", what,
                           vpl_ints[k].key, (long long)vals[k], (long long)vpl_ints[k].lo,
                           (long long)vpl_ints[k].hi);
    if (vals[K_CONTEXT_MIN] > vals[K_CONTEXT_MAX])
        return err_set(e, PPR_EINPUT, "%s: vpl's \"context_min\" %lld is above its "
                       "\"context_max\" %lld", what, (long long)vals[K_CONTEXT_MIN],
                       (long long)vals[K_CONTEXT_MAX]);
    if (!(kl_weight >= 0) || !isfinite(kl_weight))
        return err_set(e, PPR_EINPUT, "%s: vpl's \"kl_weight\" %g is not a finite number >= 0",
                       what, kl_weight);
    if (dim == 0 || dim > (INT_MAX - VPL_MAX_WIDTH) / 3)
        return err_set(e, PPR_EINPUT, "%s: vpl takes %u-wide features", what, dim);
    *a = (vpl_arch){(uint32_t)vals[K_LATENT], (uint32_t)vals[K_HIDDEN],
                    (uint32_t)vals[K_CONTEXT_MIN], (uint32_t)vals[K_CONTEXT_MAX],
                    (uint32_t)vals[K_DUPLICATES], (uint64_t)vals[K_ANNEAL], kl_weight};
    return PPR_OK;
}

static void run_release(vpl_run *run)
{
    free(run->order);
    free(run->start);
    free(run->pos);
    free(run->slot);
    memset(run, 0, sizeof *run);
}

static void vpl_free(method *m)
{
    if (!m)
        return;
    vpl *v = (vpl *)m;
    free(v->params);
    free(v->grads);
    free(v->decay);
    free(v->served);
    free(v->z);
    vpl_ws_release(&v->ws);
    run_release(&v->run);
    free(v);
}

/* A model of architecture a, its parameters zero and its decay mask set. */
static int vpl_make(vpl **out, uint32_t dim, uint32_t n_users, const vpl_arch *a, ppr_err *e)
{
    if (n_users == 0)
        return err_set(e, PPR_EINPUT, "vpl: a model needs at least one user");
    vpl *v = calloc(1, sizeof *v);
    if (!v)
        return err_nomem(e);
    v->base = (method){.ops = &vpl_ops, .dim = dim, .n_users = n_users};
    v->a = *a;
    size_t n = vpl_net_place(&v->net, dim, a->latent, a->hidden);
    v->params = calloc(n, sizeof *v->params);
    v->grads = calloc(n, sizeof *v->grads);
    v->decay = calloc(n, 1);
    if (!v->params || !v->grads || !v->decay) {
        vpl_free(&v->base);
        return err_nomem(e);
    }
    vpl_net_decay_mask(&v->net, v->decay);
    *out = v;
    return PPR_OK;
}

static int vpl_create(method **m, uint32_t dim, uint32_t n_users, const cJSON *settings,
                      uint64_t seed, ppr_err *e)
{
    const cJSON *s = json_get_obj(settings, "vpl", "settings", e);
    int64_t vals[N_INTS];
    double kl_weight;
    if (!s)
        return PPR_EINPUT;
    for (int k = 0; k < N_INTS; k++)
        if (json_get_int(s, vpl_ints[k].key, "settings", &vals[k], e))
            return PPR_EINPUT;
    if (json_get_num(s, "kl_weight", "settings", &kl_weight, e))
        return PPR_EINPUT;
    vpl_arch a;
    vpl *v;
    int rc = arch_make(&a, vals, kl_weight, dim, "settings", e);
    if (rc == PPR_OK)
        rc = vpl_make(&v, dim, n_users, &a, e);
    if (rc)
        return rc;
    rng r;
    rng_seed(&r, seed, VPL_STREAM_INIT);
    vpl_net_init(&v->net, v->params, &r);
    *m = &v->base;
    return PPR_OK;
}

/* The served ids of a model file, checked: strictly increasing, the first
 * n_served - n_adapted below n_users, the rest not. */
static int served_read(const unsigned char *src, uint32_t n_served, uint32_t n_adapted,
                       uint32_t n_users, uint32_t *out, const char *what, ppr_err *e)
{
    for (uint32_t j = 0; j < n_served; j++) {
        memcpy(out + j, src + (size_t)j * sizeof *out, sizeof *out);
        int adapted = j >= n_served - n_adapted;
        if ((j && out[j] <= out[j - 1]) || (out[j] >= n_users) != adapted)
            return err_set(e, PPR_EINPUT, "'%s': served user %u is out of order", what, out[j]);
    }
    return PPR_OK;
}

static int vpl_load(method **m, uint32_t dim, uint32_t n_users, const void *shape,
                    size_t shape_bytes, const void *params, size_t n_params, const char *what,
                    ppr_err *e)
{
    vpl_shape s;
    if (shape_bytes < sizeof s)
        return err_set(e, PPR_EINPUT, "'%s': the model's shape is truncated", what);
    memcpy(&s, shape, sizeof s);
    int64_t vals[N_INTS] = {s.latent, s.hidden, s.context_min, s.context_max, s.duplicates,
                            s.anneal_steps > (1ULL << 53) ? (1LL << 53) + 1
                                                         : (int64_t)s.anneal_steps};
    vpl_arch a;
    int rc = arch_make(&a, vals, s.kl_weight, dim, what, e);
    if (rc)
        return rc;
    if (s.reserved || s.n_adapted > s.n_served ||
        shape_bytes != sizeof s + (size_t)s.n_served * sizeof(uint32_t))
        return err_set(e, PPR_EINPUT, "'%s': the model's shape is malformed", what);
    vpl_net net;
    if (n_params != vpl_net_place(&net, dim, a.latent, a.hidden) + (size_t)s.n_served * a.latent)
        return err_set(e, PPR_EINPUT, "'%s': the model's sizes disagree", what);
    uint32_t *served = malloc((s.n_served ? s.n_served : 1) * sizeof *served);
    float *z = malloc((s.n_served ? (size_t)s.n_served * a.latent : 1) * sizeof *z);
    vpl *v = NULL;
    rc = served && z ? PPR_OK : err_nomem(e);
    if (rc == PPR_OK)
        rc = served_read((const unsigned char *)shape + sizeof s, s.n_served, s.n_adapted,
                         n_users, served, what, e);
    if (rc == PPR_OK)
        rc = vpl_make(&v, dim, n_users, &a, e);
    if (rc) {
        free(served);
        free(z);
        return rc;
    }
    memcpy(v->params, params, v->net.n * sizeof *v->params);
    memcpy(z, (const unsigned char *)params + v->net.n * sizeof(float),
           (size_t)s.n_served * a.latent * sizeof *z);
    v->served = served;
    v->z = z;
    v->n_served = s.n_served;
    v->n_adapted = s.n_adapted;
    *m = &v->base;
    return PPR_OK;
}

static void vpl_body_size(const method *m, size_t *shape_bytes, size_t *n_params)
{
    const vpl *v = (const vpl *)m;
    *shape_bytes = sizeof(vpl_shape) + (size_t)v->n_served * sizeof(uint32_t);
    *n_params = v->net.n + (size_t)v->n_served * v->a.latent;
}

static void vpl_save(const method *m, void *shape, float *params)
{
    const vpl *v = (const vpl *)m;
    const vpl_arch *a = &v->a;
    vpl_shape s = {a->latent,    a->hidden,      a->context_min, a->context_max, a->duplicates,
                   v->n_served,  v->n_adapted,   0,              a->anneal_steps, a->kl_weight};
    memcpy(shape, &s, sizeof s);
    if (v->n_served) /* else served may be NULL, which memcpy must never get */
        memcpy((unsigned char *)shape + sizeof s, v->served, v->n_served * sizeof *v->served);
    memcpy(params, v->params, v->net.n * sizeof *params);
    if (v->n_served)
        memcpy(params + v->net.n, v->z, (size_t)v->n_served * a->latent * sizeof *params);
}

static cJSON *vpl_settings(const method *m)
{
    const vpl_arch *a = &((const vpl *)m)->a;
    cJSON *s = cJSON_CreateObject(), *sec = cJSON_AddObjectToObject(s, "vpl");
    /* keys in sorted order */
    cJSON_AddNumberToObject(sec, "anneal_steps", (double)a->anneal_steps);
    cJSON_AddNumberToObject(sec, "context_max", a->context_max);
    cJSON_AddNumberToObject(sec, "context_min", a->context_min);
    cJSON_AddNumberToObject(sec, "duplicates", a->duplicates);
    cJSON_AddNumberToObject(sec, "hidden", a->hidden);
    cJSON_AddNumberToObject(sec, "kl_weight", a->kl_weight);
    cJSON_AddNumberToObject(sec, "latent", a->latent);
    return s;
}

static int vpl_serves(const method *m, uint32_t u)
{
    const vpl *v = (const vpl *)m;
    return bt_adapted_find(v->served, v->n_served, u) >= 0;
}

/* The clamped mu (and logvar when lv is not NULL) [n_seq][latent] of the
 * sequences already in w->pair and w->start, each made of distinct pairs. */
static int posterior_run(vpl *v, const pair_set *ps, size_t n_seq, float *mu, float *lv,
                         ppr_err *e)
{
    vpl_ws *w = &v->ws;
    size_t rows = w->start[n_seq], d = v->a.latent;
    for (size_t j = 0; j < rows; j++) {
        w->dist[j] = w->pair[j];
        w->map[j] = (uint32_t)j;
    }
    int rc = vpl_ws_fit(w, &v->net, rows, rows, n_seq, 0, e);
    if (rc == PPR_OK)
        rc = vpl_encode(&v->net, v->params, ps, w, n_seq, rows, e);
    if (rc)
        return rc;
    memcpy(mu, w->muc, n_seq * d * sizeof *mu);
    if (lv)
        memcpy(lv, w->lvc, n_seq * d * sizeof *lv);
    return PPR_OK;
}

/* ---- contexts -------------------------------------------------------------------- */

/* out [k]: k distinct values of 0 .. m-1, k <= m (Floyd's algorithm: no
 * scratch, k^2 comparisons). */
static void sample_distinct(rng *r, uint32_t m, uint32_t k, uint32_t *out)
{
    for (uint32_t j = m - k, n = 0; j < m; j++, n++) {
        uint32_t t = (uint32_t)rng_below(r, (uint64_t)j + 1);
        for (uint32_t i = 0; i < n; i++)
            if (out[i] == t) {
                t = j;
                break;
            }
        out[n] = t;
    }
}

/* Group ps's pairs by user for training or encoding, contexts drawn under
 * seed; ps's users below the model's. */
static int run_setup(vpl *v, const pair_set *ps, uint64_t seed, ppr_err *e)
{
    vpl_run *run = &v->run;
    run_release(run);
    size_t n = ps->n ? ps->n : 1;
    run->order = malloc(n * sizeof *run->order);
    run->start = malloc(((size_t)v->base.n_users + 1) * sizeof *run->start);
    run->pos = malloc(n * sizeof *run->pos);
    run->slot = malloc(n * sizeof *run->slot);
    if (!run->order || !run->start || !run->pos || !run->slot) {
        run_release(run);
        return err_nomem(e);
    }
    pairs_group(ps->user, ps->n, v->base.n_users, run->order, run->start);
    for (uint32_t u = 0; u < v->base.n_users; u++)
        for (size_t i = run->start[u]; i < run->start[u + 1]; i++)
            run->pos[run->order[i]] = (uint32_t)(i - run->start[u]);
    memset(run->slot, 0xff, n * sizeof *run->slot);
    run->ps = ps;
    run->seed = seed;
    return PPR_OK;
}

/* The pairs of training user u. */
static size_t user_pairs(const vpl_run *run, uint32_t u, const uint32_t **mine)
{
    *mine = run->order + run->start[u];
    return run->start[u + 1] - run->start[u];
}

/* Pair p's context for a training row into out: L ~ U{context_min ..
 * context_max}, at most its user's other pairs, drawn without replacement
 * from them. Returns L. */
static uint32_t context_draw(const vpl *v, rng *r, uint32_t p, uint32_t *out)
{
    const vpl_run *run = &v->run;
    const uint32_t *mine;
    uint32_t others = (uint32_t)user_pairs(run, run->ps->user[p], &mine) - 1;
    uint32_t L = v->a.context_min +
                 (uint32_t)rng_below(r, (uint64_t)v->a.context_max - v->a.context_min + 1);
    if (L > others)
        L = others;
    sample_distinct(r, others, L, out);
    for (uint32_t k = 0; k < L; k++) /* skip p's own place */
        out[k] = mine[out[k] >= run->pos[p] ? out[k] + 1 : out[k]];
    return L;
}

/* ---- training ---------------------------------------------------------------------- */

/* The rec part of dL/dz [n_seq][latent] from dL/d(decoder input), through
 * the rescale z = sqrt(d) zr / |zr| (Jacobian sqrt(d) / |zr| (I - zh zh^T),
 * zh = zr / |zr|) and zr = mu + exp(logvar / 2) eps, added to dmu and dlv. */
static void sample_backward(vpl *v, size_t b)
{
    vpl_ws *w = &v->ws;
    size_t d = v->a.latent;
    for (size_t i = 0; i < b; i++) {
        const float *zr = w->zr + i * d, *g1 = w->dz + i * d, *g2 = w->dz + (b + i) * d;
        double norm = 0, dot = 0;
        for (size_t c = 0; c < d; c++)
            norm += (double)zr[c] * zr[c];
        norm = sqrt(norm);
        for (size_t c = 0; c < d; c++)
            dot += zr[c] / norm * ((double)g1[c] + g2[c]);
        for (size_t c = 0; c < d; c++) {
            double g = sqrt((double)d) / norm * ((double)g1[c] + g2[c] - zr[c] / norm * dot);
            size_t k = i * d + c;
            w->dmu[k] += (float)g;
            w->dlv[k] += (float)(g * w->eps[k] * 0.5 * exp(0.5 * w->lvc[k]));
        }
    }
}

/* The loss of the minibatch of rows[0 .. b-1] as call `call` of the run set
 * up by run_setup (contexts, noise and KL weight from it), and with grad its
 * gradient added to v->grads. */
static int batch_run(vpl *v, const uint32_t *rows, size_t b, uint64_t call, int grad,
                     double *loss, size_t *clamped, ppr_err *e)
{
    vpl_run *run = &v->run;
    vpl_ws *w = &v->ws;
    const pair_set *ps = run->ps;
    size_t d = v->a.latent, dim = ps->dim, total = 0, n_dist = 0;
    int rc = vpl_ws_fit_ids(w, b, b * v->a.context_max, e);
    if (rc)
        return rc;
    rng r;
    rng_seed(&r, run->seed, call);
    w->start[0] = 0;
    for (size_t i = 0; i < b; i++) {
        uint32_t p = (uint32_t)(rows[i] % ps->n), u = ps->user[p];
        if (run->start[u + 1] - run->start[u] < 2)
            return err_set(e, PPR_EINPUT, "vpl: pair %u's user %u has no other pair for a "
                           "context", p, u);
        w->target[i] = p;
        total += context_draw(v, &r, p, w->pair + total);
        w->start[i + 1] = (uint32_t)total;
    }
    for (size_t j = 0; j < total; j++) { /* the distinct pairs, first seen first */
        uint32_t p = w->pair[j];
        if (run->slot[p] == NO_SLOT) {
            run->slot[p] = (uint32_t)n_dist;
            w->dist[n_dist++] = p;
        }
        w->map[j] = run->slot[p];
    }
    for (size_t k = 0; k < n_dist; k++)
        run->slot[w->dist[k]] = NO_SLOT;
    if ((rc = vpl_ws_fit(w, &v->net, n_dist, total, b, 2 * b, e)) ||
        (rc = vpl_encode(&v->net, v->params, ps, w, b, n_dist, e)))
        return rc;
    if (clamped) {
        *clamped = 0;
        for (size_t i = 0; i < b * d; i++)
            *clamped += (w->mu[i] != w->muc[i]) + (w->lv[i] != w->lvc[i]);
    }
    for (size_t i = 0; i < b; i++) {
        float *zr = w->zr + i * d, *z = w->z + i * d;
        double norm = 0;
        for (size_t c = 0; c < d; c++) {
            w->eps[i * d + c] = (float)rng_normal(&r);
            zr[c] = w->muc[i * d + c] + expf(0.5f * w->lvc[i * d + c]) * w->eps[i * d + c];
            norm += (double)zr[c] * zr[c];
        }
        for (size_t c = 0; c < d; c++)
            z[c] = (float)(zr[c] * sqrt((double)d / norm));
        vpl_decoder_row(&v->net, ps, w->target[i], 0, z, w->xd + i * (2 * dim + d));
        vpl_decoder_row(&v->net, ps, w->target[i], 1, z, w->xd + (b + i) * (2 * dim + d));
    }
    vpl_decode(&v->net, v->params, w, 2 * b);
    *loss = bt_loss(w->r, w->r + b, NULL, b, w->dr, w->dr + b);
    memset(w->dmu, 0, b * d * sizeof *w->dmu);
    memset(w->dlv, 0, b * d * sizeof *w->dlv);
    if (v->a.kl_weight > 0) {
        double beta = v->a.kl_weight * vpl_anneal(call, v->a.anneal_steps), kl = 0;
        for (size_t i = 0; i < b; i++)
            kl += vpl_kl(w->muc + i * d, w->lvc + i * d, d, (float)(beta / (double)b),
                         w->dmu + i * d, w->dlv + i * d);
        *loss += beta * kl / (double)b;
    }
    if (!grad)
        return PPR_OK;
    vpl_decode_backward(&v->net, v->params, v->grads, w, 2 * b);
    sample_backward(v, b);
    return vpl_encode_backward(&v->net, v->params, v->grads, w, b, n_dist, e);
}

/* trainer_batch_fn: the next minibatch of the run. */
static int vpl_step(void *ctx, const uint32_t *idx, size_t b, ppr_err *e)
{
    vpl *v = ctx;
    double loss;
    return batch_run(v, idx, b, v->run.call++, 1, &loss, NULL, e);
}

int vpl_batch_loss(method *m, const pair_set *ps, const uint32_t *rows, size_t b, uint64_t seed,
                   uint64_t call, int grad, double *loss, size_t *clamped, ppr_err *e)
{
    if (m->ops != &vpl_ops)
        return err_set(e, PPR_EINTERNAL, "vpl_batch_loss: \"%s\" is not vpl", m->name);
    vpl *v = (vpl *)m;
    int rc = method_pairs_check(m, ps, m->n_users, "vpl_batch_loss", e);
    if (rc == PPR_OK && ps->n == 0)
        rc = err_set(e, PPR_EINPUT, "vpl_batch_loss: no pairs");
    if (rc == PPR_OK)
        rc = run_setup(v, ps, seed, e);
    return rc ? rc : batch_run(v, rows, b, call, grad, loss, clamped, e);
}

static int vpl_task(method *m, const pair_set *ps, trainer_task *t, ppr_err *e)
{
    vpl *v = (vpl *)m;
    int rc = method_pairs_check(m, ps, m->n_users, "method_task", e);
    if (rc == PPR_OK)
        rc = run_setup(v, ps, bt_seed(0, VPL_STREAM_CONTEXT), e);
    if (rc == PPR_OK)
        *t = (trainer_task){v->params, v->grads, v->decay, v->net.n, vpl_step, v};
    return rc;
}

/* z of every user with at least context_max pairs in the run's pair set:
 * mu of context_max of its pairs drawn from rng_seed(seed, u). These users
 * become the served ones; adapted users, encoded by the old network, go. */
static int serve_training_users(vpl *v, uint64_t seed, ppr_err *e)
{
    const vpl_run *run = &v->run;
    uint32_t n_users = v->base.n_users, n = 0, L = v->a.context_max;
    size_t d = v->a.latent;
    uint32_t *served = malloc(n_users * sizeof *served); /* [n_users] at most */
    int rc = served ? PPR_OK : err_nomem(e);
    for (uint32_t u = 0; u < n_users && rc == PPR_OK; u++)
        if (run->start[u + 1] - run->start[u] >= L)
            served[n++] = u;
    float *z = NULL;
    if (rc == PPR_OK && !(z = malloc(((size_t)n * d + 1) * sizeof *z))) /* + 1: never 0 */
        rc = err_nomem(e);
    for (uint32_t lo = 0; lo < n && rc == PPR_OK; lo += SERVE_CHUNK) {
        uint32_t chunk = n - lo < SERVE_CHUNK ? n - lo : SERVE_CHUNK;
        if ((rc = vpl_ws_fit_ids(&v->ws, chunk, (size_t)chunk * L, e)))
            break;
        vpl_ws *w = &v->ws;
        for (uint32_t s = 0; s < chunk; s++) {
            const uint32_t *mine;
            uint32_t *out = w->pair + (size_t)s * L;
            size_t c = user_pairs(run, served[lo + s], &mine);
            rng r;
            rng_seed(&r, seed, served[lo + s]);
            sample_distinct(&r, (uint32_t)c, L, out);
            for (uint32_t k = 0; k < L; k++)
                out[k] = mine[out[k]];
            w->start[s] = s * L;
        }
        w->start[chunk] = chunk * L;
        rc = posterior_run(v, run->ps, chunk, z + (size_t)lo * d, NULL, e);
    }
    if (rc == PPR_OK && n == 0)
        rc = err_set(e, PPR_EINPUT, "vpl: no user has %u training pairs (context_max) to be "
                     "served from", L);
    if (rc) {
        free(served);
        free(z);
        return rc;
    }
    free(v->served);
    free(v->z);
    v->served = served;
    v->z = z;
    v->n_served = n;
    v->n_adapted = 0;
    return PPR_OK;
}

static int vpl_train(method *m, const pair_set *ps, const optim_settings *o, ppr_err *e)
{
    vpl *v = (vpl *)m;
    int rc = method_pairs_check(m, ps, m->n_users, "training", e);
    if (rc == PPR_OK && (uint64_t)v->a.duplicates * ps->n > UINT32_MAX)
        rc = err_set(e, PPR_EINPUT, "training vpl: %zu pairs %u times over are too many rows",
                     ps->n, v->a.duplicates);
    if (rc == PPR_OK)
        rc = run_setup(v, ps, bt_seed(o->seed, VPL_STREAM_CONTEXT), e);
    if (rc)
        return rc;
    /* Rows of the users trained on: at least context_max pairs, and another
     * pair for each one's context. */
    size_t n_all = (size_t)v->a.duplicates * ps->n, n_rows = 0;
    uint32_t *rows = malloc((n_all ? n_all : 1) * sizeof *rows); /* [n_rows] */
    if (!rows)
        return err_nomem(e);
    for (size_t i = 0; i < n_all; i++) {
        uint32_t u = ps->user[i % ps->n];
        size_t c = v->run.start[u + 1] - v->run.start[u];
        if (c >= v->a.context_max && c >= 2)
            rows[n_rows++] = (uint32_t)i;
    }
    trainer_task t = {v->params, v->grads, v->decay, v->net.n, vpl_step, v};
    v->run.call = 0;
    rc = trainer_run(&t, rows, n_rows, o, o->seed, e);
    free(rows);
    return rc ? rc : serve_training_users(v, bt_seed(o->seed, VPL_STREAM_SERVE), e);
}

/* ---- scoring and adaptation ----------------------------------------------------------- */

static int vpl_score(method *m, const pair_set *ps, int which, float *r, ppr_err *e)
{
    vpl *v = (vpl *)m;
    vpl_ws *w = &v->ws;
    if (which != 0 && which != 1)
        return err_set(e, PPR_EINTERNAL, "score: which is %d, not 0 or 1", which);
    int rc = method_pairs_check(m, ps, 0, "scoring", e);
    size_t d = v->a.latent, width = 2 * (size_t)ps->dim + d;
    for (size_t lo = 0; lo < ps->n && rc == PPR_OK; lo += SCORE_CHUNK) {
        size_t b = ps->n - lo < SCORE_CHUNK ? ps->n - lo : SCORE_CHUNK;
        if ((rc = vpl_ws_fit(w, &v->net, 0, 0, 0, b, e)))
            break;
        for (size_t i = 0; i < b && rc == PPR_OK; i++) {
            uint32_t u = ps->user[lo + i];
            int64_t j = bt_adapted_find(v->served, v->n_served, u);
            if (j < 0)
                rc = err_set(e, PPR_EINPUT, "scoring vpl: user %u (pair %zu) is not served: it "
                             "had fewer than %u training pairs (context_max) and was not "
                             "adapted", u, lo + i, v->a.context_max);
            else
                vpl_decoder_row(&v->net, ps, (uint32_t)(lo + i), which, v->z + (size_t)j * d,
                                w->xd + i * width);
        }
        if (rc)
            break;
        vpl_decode(&v->net, v->params, w, b);
        memcpy(r + lo, w->r, b * sizeof *r);
    }
    return rc;
}

int vpl_posterior(method *m, const pair_set *ps, const uint32_t *pairs, size_t n, float *mu,
                  float *logvar, ppr_err *e)
{
    if (m->ops != &vpl_ops)
        return err_set(e, PPR_EINTERNAL, "vpl_posterior: \"%s\" is not vpl", m->name);
    vpl *v = (vpl *)m;
    int rc = method_pairs_check(m, ps, 0, "vpl_posterior", e);
    if (rc)
        return rc;
    if (n == 0)
        return err_set(e, PPR_EINPUT, "vpl: an empty context");
    for (size_t j = 0; j < n; j++)
        if (pairs[j] >= ps->n)
            return err_set(e, PPR_EINPUT, "vpl: context pair %u is not one of the set's %zu",
                           pairs[j], ps->n);
    rc = vpl_ws_fit_ids(&v->ws, 1, n, e);
    if (rc)
        return rc;
    memcpy(v->ws.pair, pairs, n * sizeof *pairs);
    v->ws.start[0] = 0;
    v->ws.start[1] = (uint32_t)n;
    return posterior_run(v, ps, 1, mu, logvar, e);
}

static int vpl_adapt(method *m, const pair_set *ps, uint32_t new_user, const optim_settings *o,
                     ppr_err *e)
{
    (void)o;
    vpl *v = (vpl *)m;
    size_t d = v->a.latent;
    int rc = method_adapt_check(m, ps, new_user, e);
    if (rc)
        return rc;
    if (ps->n == 0)
        return err_set(e, PPR_EINPUT, "adapting vpl to user %u: no pairs for a context",
                       new_user);
    float *mu = malloc(d * sizeof *mu); /* [latent] */
    uint32_t *all = pairs_indices(ps->n); /* [k] */
    rc = mu && all ? PPR_OK : err_nomem(e);
    if (rc == PPR_OK)
        rc = vpl_posterior(m, ps, all, ps->n, mu, NULL, e);
    int fresh = 0;
    if (rc == PPR_OK)
        rc = bt_adapted_put(&v->served, &v->n_served, new_user, &v->z, d, mu, &fresh, e);
    if (rc == PPR_OK && fresh)
        v->n_adapted++;
    free(all);
    free(mu);
    return rc;
}

const method_ops vpl_ops = {
    .create = vpl_create,
    .load = vpl_load,
    .body_size = vpl_body_size,
    .save = vpl_save,
    .settings = vpl_settings,
    .train = vpl_train,
    .score = vpl_score,
    .adapt = vpl_adapt,
    .init_from = NULL, /* the decoder reads z beside the features: no BT head maps onto it */
    .task = vpl_task,
    .serves = vpl_serves,
    .free = vpl_free,
};
