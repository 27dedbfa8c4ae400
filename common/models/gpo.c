/* gpo.c: GPO, Group Preference Optimization (Zhao, Dang and Grover 2023;
 * methods.md section 5) in Dong et al.'s pairwise form: an in-context
 * learner that reads a user from a few of the user's labelled pairs.
 *
 * A point is a response, x = [phi(prompt); phi(response)]; a pair is a
 * two-option question. A context token is [x; y], y 1 for the chosen
 * response and 0 for the rejected one; a target token is [x; 0]. Tokens go
 * through an embedder (embed_depth linear layers to d_model, ReLU between),
 * `layers` post-norm encoder layers in which every token attends only to its
 * group's context tokens (no positional encoding, so a question's option
 * order does not matter; no dropout), and a head Linear(d, d) ReLU Linear(d,
 * 2) giving each target (m_raw, s). A question's means are the softmax of its
 * options' m_raw, the std exp(s); the loss is minus the mean over groups of
 * the sum over target tokens of log N(y; mean, std^2). A response scores its
 * m_raw: strict accuracy is Dong's argmax of the softmax.
 *
 * Meta-training: the groups are the users with at least eval_context
 * training pairs (the served users). A step takes the next G = min(groups,
 * served users) of a seeded shuffle of them (reshuffled when fewer than G
 * are left) and draws n_ctx in [ctx_min, ctx_max] and n_tar in [tar_min,
 * tar_max]; each group takes n_ctx random pairs of its own as context and
 * n_tar more as targets, or splits what it has in that proportion (at least
 * one of each). All groups' tokens are one batch, and each step one AdamW
 * step. An epoch is ceil(served pairs / (G (tar_min + tar_max) / 2)) steps.
 *
 * A served user's context is eval_context of its training pairs drawn from
 * the seed; adapting to a new user makes all its k >= 1 pairs its context,
 * with no gradient step. Contexts are stored in the model as features, so a
 * saved model scores without the training matrix. GPO cannot start from a
 * Bradley-Terry reference (no init_from).
 *
 * Settings: "gpo": {d_model, layers, heads, ff, embed_depth, ctx_min,
 * ctx_max, tar_min, tar_max, eval_context, groups}, all required (the
 * section's optimizer overrides are the stage's). Shape: gpo_shape, uint32
 * ctx_n[n_users + n_adapted] (each context's pairs: a training user's 0 or
 * eval_context, an adapted user's k), uint32 ids[n_adapted] (increasing, >=
 * n_users). Params: the network (embedder, encoder layers, head, as placed),
 * then each context's [ctx_n][3][dim] (prompt, chosen, rejected) in turn. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/mem.h"
#include "common/models/bt.h"
#include "common/models/gpo.h"
#include "common/models/layers.h"
#include "common/models/optim.h"
#include "common/models/registry.h"
#include "common/rng.h"

#define GPO_STREAM_INIT 1    /* create's seed: the network's initial parameters */
#define GPO_STREAM_STEPS 2   /* train's seed: the meta-steps' draws */
#define GPO_STREAM_CONTEXT 3 /* train's seed: the served users' evaluation contexts */
#define GPO_MAX_WIDTH 65536
#define GPO_MAX_DEPTH 256
#define GPO_MAX_COUNT (1u << 20) /* questions, groups */
#define SCORE_TARGETS 512        /* target tokens of one scoring pass */


/* The model file's shape, before ctx_n and ids. */
typedef struct {
    gpo_arch a;
    uint32_t n_users, n_adapted;
} gpo_shape;

_Static_assert(sizeof(gpo_shape) == 52, "gpo_shape has no hidden padding");

/* Every key of the "gpo" section, sorted as settings() writes them, with
 * its range. A served user has eval_context >= 2 pairs, so that it can give
 * a context and a target question in meta-training. */
static const struct {
    const char *key;
    size_t at;
    uint32_t min, max;
} gpo_keys[] = {
    {"ctx_max", offsetof(gpo_arch, ctx_max), 1, GPO_MAX_COUNT},
    {"ctx_min", offsetof(gpo_arch, ctx_min), 1, GPO_MAX_COUNT},
    {"d_model", offsetof(gpo_arch, d_model), 1, GPO_MAX_WIDTH},
    {"embed_depth", offsetof(gpo_arch, embed_depth), 1, GPO_MAX_DEPTH},
    {"eval_context", offsetof(gpo_arch, eval_context), 2, GPO_MAX_COUNT},
    {"ff", offsetof(gpo_arch, ff), 1, GPO_MAX_WIDTH},
    {"groups", offsetof(gpo_arch, groups), 1, GPO_MAX_COUNT},
    {"heads", offsetof(gpo_arch, heads), 1, GPO_MAX_WIDTH},
    {"layers", offsetof(gpo_arch, layers), 1, GPO_MAX_DEPTH},
    {"tar_max", offsetof(gpo_arch, tar_max), 1, GPO_MAX_COUNT},
    {"tar_min", offsetof(gpo_arch, tar_min), 1, GPO_MAX_COUNT},
};
#define N_KEYS (sizeof gpo_keys / sizeof gpo_keys[0])


static uint32_t *arch_field(gpo_arch *a, size_t at)
{
    return (uint32_t *)((unsigned char *)a + at);
}

/* ---- settings ------------------------------------------------------------------ */

static int arch_check(gpo_arch *a, const char *what, ppr_err *e)
{
    for (size_t k = 0; k < N_KEYS; k++) {
        uint32_t v = *arch_field(a, gpo_keys[k].at);
        if (v < gpo_keys[k].min || v > gpo_keys[k].max)
            return err_set(e, PPR_EINPUT, "%s: gpo's %s %u is not in [%u, %u]", what,
                           gpo_keys[k].key, v, gpo_keys[k].min, gpo_keys[k].max);
    }
    if (a->d_model % a->heads)
        return err_set(e, PPR_EINPUT, "%s: gpo's heads %u does not divide d_model %u", what,
                       a->heads, a->d_model);
    if (a->ctx_min > a->ctx_max)
        return err_set(e, PPR_EINPUT, "%s: gpo's ctx_min %u is above ctx_max %u", what,
                       a->ctx_min, a->ctx_max);
    if (a->tar_min > a->tar_max)
        return err_set(e, PPR_EINPUT, "%s: gpo's tar_min %u is above tar_max %u", what,
                       a->tar_min, a->tar_max);
    return PPR_OK;
}

static int arch_read(const cJSON *settings, gpo_arch *a, ppr_err *e)
{
    const cJSON *s = json_get_obj(settings, "gpo", "settings", e);
    if (!s)
        return PPR_EINPUT;
    for (size_t k = 0; k < N_KEYS; k++) {
        int64_t v;
        if (json_get_int(s, gpo_keys[k].key, "settings", &v, e))
            return PPR_EINPUT;
        if (v < 0 || v > UINT32_MAX)
            return err_set(e, PPR_EINPUT, "settings: gpo's %s %lld is out of range",
                           gpo_keys[k].key, (long long)v);
        *arch_field(a, gpo_keys[k].at) = (uint32_t)v;
    }
    return arch_check(a, "settings", e);
}

static cJSON *gpo_settings(const method *m)
{
    gpo_arch a = ((const gpo *)m)->a;
    cJSON *s = cJSON_CreateObject(), *sec = cJSON_AddObjectToObject(s, "gpo");
    for (size_t k = 0; k < N_KEYS; k++)
        cJSON_AddNumberToObject(sec, gpo_keys[k].key, *arch_field(&a, gpo_keys[k].at));
    return s;
}

/* ---- lifecycle ------------------------------------------------------------------- */

static void gpo_free(method *m)
{
    if (!m)
        return;
    gpo *g = (gpo *)m;
    for (uint32_t l = 0; g->w.enc && l < g->a.layers; l++)
        encoder_ws_release(&g->w.enc[l]);
    free(g->w.enc);
    free(g->w.arena);
    free(g->w.seq);
    for (size_t j = 0; g->ctx && j < (size_t)m->n_users + g->n_adapted; j++)
        free(g->ctx[j]);
    free(g->ctx);
    free(g->ctx_n);
    free(g->adapted);
    free(g->embed);
    free(g->enc);
    free(g->params);
    free(g->grads);
    free(g->decay);
    free(g);
}

/* A model of arch a with its layers placed (g->n_net) and empty contexts,
 * but no parameter arrays yet, so that a loader can check its sizes first. */
static int gpo_alloc(gpo **out, uint32_t dim, uint32_t n_users, const gpo_arch *a,
                     const char *what, ppr_err *e)
{
    *out = NULL;
    if (dim == 0 || dim > (INT32_MAX - 1) / 2) /* a token's width is a BLAS int */
        return err_set(e, PPR_EINPUT, "%s: gpo takes %u-wide features", what, dim);
    if (n_users == 0)
        return err_set(e, PPR_EINPUT, "%s: a model needs at least one user", what);
    gpo *g = calloc(1, sizeof *g);
    if (!g)
        return err_nomem(e);
    g->base = (method){.ops = &gpo_ops, .dim = dim, .n_users = n_users};
    g->a = *a;
    g->embed = calloc(a->embed_depth, sizeof *g->embed);
    g->enc = calloc(a->layers, sizeof *g->enc);
    g->w.enc = calloc(a->layers, sizeof *g->w.enc);
    g->ctx_n = calloc(n_users, sizeof *g->ctx_n);
    g->ctx = calloc(n_users, sizeof *g->ctx);
    if (!g->embed || !g->enc || !g->w.enc || !g->ctx_n || !g->ctx) {
        gpo_free(&g->base);
        return err_nomem(e);
    }
    size_t at = 0;
    for (uint32_t l = 0; l < a->embed_depth; l++)
        at = dense_place(&g->embed[l], l ? a->d_model : 2 * dim + 1, a->d_model, at);
    for (uint32_t l = 0; l < a->layers; l++)
        at = encoder_place(&g->enc[l], a->d_model, a->heads, a->ff, at);
    at = dense_place(&g->head1, a->d_model, a->d_model, at);
    g->n_net = dense_place(&g->head2, a->d_model, 2, at);
    *out = g;
    return PPR_OK;
}

/* The parameter arrays of a model from gpo_alloc (parameters zero) and its
 * weight-decay mask. */
static int gpo_arrays(gpo *g, ppr_err *e)
{
    g->params = calloc(g->n_net, sizeof *g->params);
    g->grads = calloc(g->n_net, sizeof *g->grads);
    g->decay = calloc(g->n_net, 1);
    if (!g->params || !g->grads || !g->decay)
        return err_nomem(e);
    for (uint32_t l = 0; l < g->a.embed_depth; l++)
        dense_decay_mask(&g->embed[l], g->decay);
    for (uint32_t l = 0; l < g->a.layers; l++)
        encoder_decay_mask(&g->enc[l], g->decay);
    dense_decay_mask(&g->head1, g->decay);
    dense_decay_mask(&g->head2, g->decay);
    return PPR_OK;
}

static int gpo_create(method **m, uint32_t dim, uint32_t n_users, const cJSON *settings,
                      uint64_t seed, ppr_err *e)
{
    *m = NULL;
    gpo_arch a;
    gpo *g;
    int rc = arch_read(settings, &a, e);
    if (rc == PPR_OK)
        rc = gpo_alloc(&g, dim, n_users, &a, "settings", e);
    if (rc)
        return rc;
    if ((rc = gpo_arrays(g, e))) {
        gpo_free(&g->base);
        return rc;
    }
    rng r;
    rng_seed(&r, seed, GPO_STREAM_INIT);
    for (uint32_t l = 0; l < a.embed_depth; l++)
        dense_init(&g->embed[l], g->params, &r);
    for (uint32_t l = 0; l < a.layers; l++)
        encoder_init(&g->enc[l], g->params, &r);
    dense_init(&g->head1, g->params, &r);
    dense_init(&g->head2, g->params, &r);
    *m = &g->base;
    return PPR_OK;
}

/* ---- meta-steps -------------------------------------------------------------------- */

/* grads += the gradient of the loss of n_groups groups: group k is the pairs
 * pick[gs[k] .. gs[k + 1]) of ps, its first nc[k] the context, the rest
 * targets; each group weighs 1 / n_groups. */
static int step_grad(gpo *g, const pair_set *ps, const uint32_t *pick, const uint32_t *gs,
                     const uint32_t *nc, uint32_t n_groups, ppr_err *e)
{
    size_t rows = 2 * (size_t)gs[n_groups], n_tar = rows, dim = ps->dim, in = 2 * dim + 1;
    const float *f = ps->matrix;
    for (uint32_t k = 0; k < n_groups; k++)
        n_tar -= 2 * (size_t)nc[k];
    int rc = gpo_work_fit(g, rows, n_tar, n_groups, e);
    if (rc)
        return rc;
    gpo_work *w = &g->w;
    uint32_t *start = w->seq, *n_ctx = w->seq + n_groups + 1;
    float *x = w->tok;
    for (uint32_t k = 0; k < n_groups; k++) {
        start[k] = 2 * gs[k];
        n_ctx[k] = 2 * nc[k];
        for (uint32_t j = gs[k]; j < gs[k + 1]; j++, x += 2 * in) {
            const uint32_t *r = ps->rows + 3 * (size_t)pick[j];
            gpo_question_put(x, f + r[0] * dim, f + r[1] * dim, f + r[2] * dim, ps->dim,
                         j - gs[k] < nc[k]);
        }
    }
    start[n_groups] = (uint32_t)rows;
    seq_batch sb = {n_groups, start, n_ctx};
    if ((rc = gpo_net_forward(g, &sb, n_tar, e)))
        return rc;
    gpo_nll_grad(w->out, n_tar / 2, 1.0 / n_groups, w->dout);
    return gpo_net_backward(g, &sb, n_tar, e);
}

/* Move a uniformly random k of a [n] to its front, in random order. */
static void shuffle_head(uint32_t *a, size_t n, size_t k, rng *r)
{
    for (size_t i = 0; i < k && i + 1 < n; i++) {
        size_t j = i + (size_t)rng_below(r, n - i);
        uint32_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* The task's minibatch: each run of one user's pairs in idx is a group, the
 * first half of it (rounded down) its context. A run of one pair has no
 * context: PPR_EINPUT. */
static int gpo_task_batch(void *ctx, const uint32_t *idx, size_t b, ppr_err *e)
{
    gpo *g = ctx;
    const pair_set *ps = g->task_ps;
    uint32_t *gs = malloc(2 * (b + 1) * sizeof *gs); /* [b + 1] group starts, then nc */
    if (!gs)
        return err_nomem(e);
    uint32_t *nc = gs + b + 1, n_groups = 0;
    int rc = PPR_OK;
    for (size_t i = 0, j; i < b && rc == PPR_OK; i = j) {
        for (j = i + 1; j < b && ps->user[idx[j]] == ps->user[idx[i]]; j++)
            ;
        gs[n_groups] = (uint32_t)i;
        if ((nc[n_groups++] = (uint32_t)(j - i) / 2) == 0)
            rc = err_set(e, PPR_EINPUT, "gpo's task: pair %zu is a group of one, with no "
                         "context and target", i);
    }
    if (rc == PPR_OK && n_groups) {
        gs[n_groups] = (uint32_t)b;
        rc = step_grad(g, ps, idx, gs, nc, n_groups, e);
    }
    free(gs);
    return rc;
}

static int gpo_task(method *m, const pair_set *ps, trainer_task *t, ppr_err *e)
{
    gpo *g = (gpo *)m;
    int rc = method_pairs_check(m, ps, m->n_users, "method_task", e);
    if (rc)
        return rc;
    g->task_ps = ps;
    *t = (trainer_task){g->params, g->grads, g->decay, g->n_net, gpo_task_batch, g};
    return PPR_OK;
}

/* ---- contexts ------------------------------------------------------------------ */

/* The context slot of user u, or -1 when u has none. */
static int64_t ctx_slot(const gpo *g, uint32_t u)
{
    if (u < g->base.n_users)
        return g->ctx_n[u] ? (int64_t)u : -1;
    int64_t j = bt_adapted_find(g->adapted, g->n_adapted, u);
    return j < 0 ? -1 : (int64_t)g->base.n_users + j;
}

static int gpo_serves(const method *m, uint32_t u)
{
    return ctx_slot((const gpo *)m, u) >= 0;
}

/* f [n][3][dim] = the prompt, chosen and rejected rows of pairs idx[0 ..
 * n-1] of ps (idx NULL: pairs 0 .. n-1); malloc'd, NULL when out of memory. */
static float *ctx_features(const pair_set *ps, const uint32_t *idx, size_t n)
{
    size_t dim = ps->dim;
    float *f = malloc((n ? n : 1) * 3 * dim * sizeof *f);
    for (size_t j = 0; f && j < n; j++) {
        const uint32_t *r = ps->rows + 3 * (size_t)(idx ? idx[j] : j);
        for (int c = 0; c < 3; c++)
            memcpy(f + (3 * j + c) * dim, ps->matrix + (size_t)r[c] * dim, dim * sizeof *f);
    }
    return f;
}

/* The training users' contexts: eval_context of each served user's pairs
 * order[start[u] .. start[u + 1]) drawn from seed (the draw reorders them);
 * a user with fewer pairs has none. */
static int contexts_draw(gpo *g, const pair_set *ps, uint32_t *order, const size_t *start,
                         uint64_t seed, ppr_err *e)
{
    rng r;
    rng_seed(&r, seed, GPO_STREAM_CONTEXT);
    for (uint32_t u = 0; u < g->base.n_users; u++) {
        size_t n = start[u + 1] - start[u];
        free(g->ctx[u]);
        g->ctx[u] = NULL;
        g->ctx_n[u] = 0;
        if (n < g->a.eval_context)
            continue;
        shuffle_head(order + start[u], n, g->a.eval_context, &r);
        if (!(g->ctx[u] = ctx_features(ps, order + start[u], g->a.eval_context)))
            return err_nomem(e);
        g->ctx_n[u] = g->a.eval_context;
    }
    return PPR_OK;
}

/* ctx_n and ctx grown to n_slots entries (the new ones unset). */
static int slots_grow(gpo *g, size_t n_slots, ppr_err *e)
{
    uint32_t *ctx_n = realloc(g->ctx_n, n_slots * sizeof *ctx_n);
    if (ctx_n)
        g->ctx_n = ctx_n;
    float **ctx = ctx_n ? realloc(g->ctx, n_slots * sizeof *ctx) : NULL;
    if (ctx)
        g->ctx = ctx;
    return ctx ? PPR_OK : err_nomem(e);
}

static int gpo_adapt(method *m, const pair_set *ps, uint32_t new_user, const optim_settings *o,
                     ppr_err *e)
{
    (void)o; /* no gradient step */
    gpo *g = (gpo *)m;
    int rc = method_adapt_check(m, ps, new_user, e);
    if (rc)
        return rc;
    if (ps->n == 0 || ps->n > GPO_MAX_COUNT)
        return err_set(e, PPR_EINPUT, "adapting %s to user %u: %zu pairs, not in [1, %u]: GPO "
                       "reads a user from a context of its pairs", m->name, new_user, ps->n,
                       GPO_MAX_COUNT);
    float *f = ctx_features(ps, NULL, ps->n);
    uint32_t j;
    int fresh = 0;
    if (!f)
        return err_nomem(e);
    if ((rc = bt_adapted_slot(&g->adapted, &g->n_adapted, new_user, &j, &fresh, e))) {
        free(f);
        return rc;
    }
    size_t slot = (size_t)m->n_users + j, n_slots = (size_t)m->n_users + g->n_adapted;
    if (fresh && (rc = slots_grow(g, n_slots, e))) {
        bt_adapted_drop(g->adapted, &g->n_adapted, j);
        free(f);
        return rc;
    }
    if (fresh) {
        memmove(g->ctx_n + slot + 1, g->ctx_n + slot, (n_slots - 1 - slot) * sizeof *g->ctx_n);
        memmove(g->ctx + slot + 1, g->ctx + slot, (n_slots - 1 - slot) * sizeof *g->ctx);
    } else {
        free(g->ctx[slot]);
    }
    g->ctx[slot] = f;
    g->ctx_n[slot] = (uint32_t)ps->n;
    return PPR_OK;
}

/* ---- training ------------------------------------------------------------------ */

/* One meta-step's groups: the next G users of the cycle served [n_srv]
 * (reshuffled from r when fewer than G are left; *pos its place), each with
 * pairs order[start[u] .. start[u + 1]), split as the file's comment says.
 * pick, gs [G + 1] and nc [G] as step_grad takes them. */
static void step_draw(const gpo *g, uint32_t *served, uint32_t n_srv, uint32_t G, size_t *pos,
                      uint32_t *order, const size_t *start, rng *r, uint32_t *pick,
                      uint32_t *gs, uint32_t *nc)
{
    const gpo_arch *a = &g->a;
    if (*pos + G > n_srv) {
        shuffle_head(served, n_srv, n_srv, r);
        *pos = 0;
    }
    uint32_t want_c = a->ctx_min + (uint32_t)rng_below(r, a->ctx_max - a->ctx_min + 1);
    uint32_t want_t = a->tar_min + (uint32_t)rng_below(r, a->tar_max - a->tar_min + 1);
    uint32_t at = 0;
    for (uint32_t k = 0; k < G; k++) {
        uint32_t u = served[(*pos)++], *mine = order + start[u];
        size_t n = start[u + 1] - start[u], c = want_c, t = want_t;
        if (n < c + t) {
            c = (n * want_c + (want_c + want_t) / 2) / (want_c + want_t);
            c = c < 1 ? 1 : c > n - 1 ? n - 1 : c;
            t = n - c;
        }
        shuffle_head(mine, n, c + t, r);
        memcpy(pick + at, mine, (c + t) * sizeof *pick);
        gs[k] = at;
        nc[k] = (uint32_t)c;
        at += (uint32_t)(c + t);
    }
    gs[G] = at;
}

/* Meta-train on ps, whose pairs order[start[u] .. start[u + 1]) are user
 * u's, over the n_srv served users served [n_srv] with srv_pairs pairs. */
static int meta_train(gpo *g, const pair_set *ps, uint32_t *order, const size_t *start,
                      uint32_t *served, uint32_t n_srv, size_t srv_pairs,
                      const optim_settings *o, ppr_err *e)
{
    const gpo_arch *a = &g->a;
    uint32_t G = n_srv < a->groups ? n_srv : a->groups;
    uint64_t total = o->epochs * (uint64_t)ceil((double)srv_pairs /
                                                (G * ((double)a->tar_min + a->tar_max) / 2));
    size_t max_pick = (size_t)G * ((size_t)a->ctx_max + a->tar_max);
    uint32_t *pick = malloc(max_pick * sizeof *pick); /* [G (ctx_max + tar_max)] */
    uint32_t *gs = malloc(((size_t)G + 1) * sizeof *gs), *nc = malloc(G * sizeof *nc);
    adamw opt;
    adamw_cfg cfg = optim_adamw_cfg(o, total);
    int rc = pick && gs && nc ? PPR_OK : err_nomem(e);
    if (rc == PPR_OK)
        rc = adamw_init(&opt, &cfg, g->n_net, g->decay, e);
    if (rc == PPR_OK) {
        memset(g->grads, 0, g->n_net * sizeof *g->grads); /* adamw_step zeroes them after */
        rng r;
        rng_seed(&r, o->seed, GPO_STREAM_STEPS);
        size_t pos = n_srv;
        for (uint64_t step = 0; step < total && rc == PPR_OK; step++) {
            step_draw(g, served, n_srv, G, &pos, order, start, &r, pick, gs, nc);
            if ((rc = step_grad(g, ps, pick, gs, nc, G, e)) == PPR_OK)
                adamw_step(&opt, g->params, g->grads);
        }
        adamw_release(&opt);
    }
    for (size_t i = 0; i < g->n_net && rc == PPR_OK; i++)
        if (!isfinite(g->params[i]))
            rc = err_set(e, PPR_EINPUT, "training diverged (a parameter is not finite after %u "
                         "epochs at lr %g); lower the learning rate", o->epochs, o->lr);
    free(pick);
    free(gs);
    free(nc);
    return rc;
}

static int gpo_train(method *m, const pair_set *ps, const optim_settings *o, ppr_err *e)
{
    gpo *g = (gpo *)m;
    int rc = method_pairs_check(m, ps, m->n_users, "training", e);
    if (rc)
        return rc;
    if (!(o->warmup_ratio >= 0 && o->warmup_ratio <= 1))
        return err_set(e, PPR_EINPUT, "training: warmup_ratio %g is outside [0, 1]",
                       o->warmup_ratio);
    uint32_t n_users = m->n_users, n_srv = 0;
    uint32_t *order = malloc(ps->n * sizeof *order);     /* [n] pairs grouped by user */
    uint32_t *served = malloc(n_users * sizeof *served); /* [n_users] */
    size_t *start = malloc(((size_t)n_users + 1) * sizeof *start), srv_pairs = 0;
    if (!order || !served || !start)
        rc = err_nomem(e);
    if (rc == PPR_OK) {
        pairs_group(ps->user, ps->n, n_users, order, start);
        for (uint32_t u = 0; u < n_users; u++)
            if (start[u + 1] - start[u] >= g->a.eval_context) {
                served[n_srv++] = u;
                srv_pairs += start[u + 1] - start[u];
            }
        if (n_srv == 0)
            rc = err_set(e, PPR_EINPUT, "no user has eval_context = %u training pairs, so GPO "
                         "would serve no one", g->a.eval_context);
    }
    if (rc == PPR_OK)
        rc = contexts_draw(g, ps, order, start, o->seed, e);
    if (rc == PPR_OK)
        rc = meta_train(g, ps, order, start, served, n_srv, srv_pairs, o, e);
    free(order);
    free(served);
    free(start);
    return rc;
}

/* ---- scoring ------------------------------------------------------------------- */

/* r[order[i]] = the m_raw of response `which` of the pairs order[lo .. lo +
 * n) of ps, as targets of context slot's. */
static int score_pass(gpo *g, const pair_set *ps, int which, size_t slot, const uint32_t *order,
                      size_t lo, size_t n, float *r, ppr_err *e)
{
    size_t dim = g->base.dim, in = 2 * dim + 1, n_ctx = 2 * (size_t)g->ctx_n[slot];
    int rc = gpo_work_fit(g, n_ctx + n, n, 1, e);
    if (rc)
        return rc;
    float *x = g->w.tok;
    const float *c = g->ctx[slot];
    for (size_t j = 0; j < n_ctx / 2; j++, c += 3 * dim, x += 2 * in)
        gpo_question_put(x, c, c + dim, c + 2 * dim, g->base.dim, 1);
    for (size_t i = lo; i < lo + n; i++, x += in) {
        const uint32_t *pr = ps->rows + 3 * (size_t)order[i];
        gpo_token_put(x, ps->matrix + pr[0] * dim, ps->matrix + pr[1 + which] * dim, g->base.dim,
                  0.0f);
    }
    uint32_t *seq = g->w.seq; /* start [2], n_ctx [1] */
    seq[0] = 0;
    seq[1] = (uint32_t)(n_ctx + n);
    seq[2] = (uint32_t)n_ctx;
    seq_batch sb = {1, seq, seq + 2};
    if ((rc = gpo_net_forward(g, &sb, n, e)))
        return rc;
    for (size_t i = 0; i < n; i++)
        r[order[lo + i]] = g->w.out[2 * i];
    return PPR_OK;
}

/* Each user's pairs in one forward pass over its context and up to
 * SCORE_TARGETS of its pairs' responses as targets, which never see each
 * other. */
static int gpo_score(method *m, const pair_set *ps, int which, float *r, ppr_err *e)
{
    gpo *g = (gpo *)m;
    if (which != 0 && which != 1)
        return err_set(e, PPR_EINTERNAL, "score: which is %d, not 0 or 1", which);
    int rc = method_pairs_check(m, ps, 0, "scoring", e);
    if (rc || ps->n == 0)
        return rc;
    size_t n_slots = (size_t)m->n_users + g->n_adapted;
    uint32_t *key = malloc(ps->n * sizeof *key);     /* [n] each pair's context slot */
    uint32_t *order = malloc(ps->n * sizeof *order); /* [n] pairs grouped by slot */
    size_t *start = malloc((n_slots + 1) * sizeof *start);
    if (!key || !order || !start)
        rc = err_nomem(e);
    for (size_t i = 0; i < ps->n && rc == PPR_OK; i++) {
        int64_t slot = ctx_slot(g, ps->user[i]);
        if (slot < 0)
            rc = err_set(e, PPR_EINPUT, "scoring %s: user %u (pair %zu) is not served: it had "
                         "fewer than eval_context = %u training pairs and was not adapted",
                         m->name, ps->user[i], i, g->a.eval_context);
        else
            key[i] = (uint32_t)slot;
    }
    if (rc == PPR_OK)
        pairs_group(key, ps->n, (uint32_t)n_slots, order, start);
    for (size_t s = 0; s < n_slots && rc == PPR_OK; s++)
        for (size_t lo = start[s]; lo < start[s + 1] && rc == PPR_OK; lo += SCORE_TARGETS) {
            size_t n = start[s + 1] - lo < SCORE_TARGETS ? start[s + 1] - lo : SCORE_TARGETS;
            rc = score_pass(g, ps, which, s, order, lo, n, r, e);
        }
    free(key);
    free(order);
    free(start);
    return rc;
}

/* ---- the model file ------------------------------------------------------------ */

static void gpo_body_size(const method *m, size_t *shape_bytes, size_t *n_params)
{
    const gpo *g = (const gpo *)m;
    size_t n_slots = (size_t)m->n_users + g->n_adapted, pairs = 0;
    for (size_t j = 0; j < n_slots; j++)
        pairs += g->ctx_n[j];
    *shape_bytes = sizeof(gpo_shape) + (n_slots + g->n_adapted) * sizeof(uint32_t);
    *n_params = g->n_net + pairs * 3 * m->dim;
}

static void gpo_save(const method *m, void *shape, float *params)
{
    const gpo *g = (const gpo *)m;
    size_t n_slots = (size_t)m->n_users + g->n_adapted;
    gpo_shape s = {g->a, m->n_users, g->n_adapted};
    unsigned char *b = shape;
    memcpy(b, &s, sizeof s);
    memcpy(b + sizeof s, g->ctx_n, n_slots * sizeof *g->ctx_n);
    if (g->n_adapted)
        memcpy(b + sizeof s + n_slots * sizeof *g->ctx_n, g->adapted,
               g->n_adapted * sizeof *g->adapted);
    memcpy(params, g->params, g->n_net * sizeof *params);
    float *p = params + g->n_net;
    for (size_t j = 0; j < n_slots; j++) {
        size_t n = (size_t)g->ctx_n[j] * 3 * m->dim;
        if (n)
            memcpy(p, g->ctx[j], n * sizeof *p);
        p += n;
    }
}

static int gpo_load(method **m, uint32_t dim, uint32_t n_users, const void *shape,
                    size_t shape_bytes, const void *params, size_t n_params, const char *what,
                    ppr_err *e)
{
    *m = NULL;
    gpo_shape s;
    const unsigned char *b = shape, *pb = params;
    if (shape_bytes < sizeof s)
        return err_set(e, PPR_EINPUT, "'%s': the model's shape is truncated", what);
    memcpy(&s, shape, sizeof s);
    int rc = arch_check(&s.a, what, e);
    if (rc)
        return rc;
    uint64_t n_slots = (uint64_t)n_users + s.n_adapted, pairs = 0;
    if (s.n_users != n_users || shape_bytes != sizeof s + (n_slots + s.n_adapted) * 4)
        return err_set(e, PPR_EINPUT, "'%s': the model's shape is malformed", what);
    for (uint64_t j = 0; j < n_slots; j++) {
        uint32_t c;
        memcpy(&c, b + sizeof s + 4 * j, sizeof c);
        if (j < n_users ? c != 0 && c != s.a.eval_context : c == 0 || c > GPO_MAX_COUNT)
            return err_set(e, PPR_EINPUT, "'%s': the model's context sizes are malformed", what);
        pairs += c;
    }
    gpo *g;
    uint64_t feats, total;
    if ((rc = gpo_alloc(&g, dim, n_users, &s.a, what, e)))
        return rc;
    if (__builtin_mul_overflow(pairs, 3 * (uint64_t)dim, &feats) ||
        __builtin_add_overflow(feats, (uint64_t)g->n_net, &total) || total != n_params)
        rc = err_set(e, PPR_EINPUT, "'%s': the model's sizes disagree", what);
    if (rc == PPR_OK)
        rc = bt_adapted_read(b + sizeof s + 4 * n_slots, s.n_adapted, n_users, &g->adapted,
                             what, e);
    if (rc == PPR_OK && (rc = slots_grow(g, n_slots, e)) == PPR_OK) {
        g->n_adapted = s.n_adapted;
        memset(g->ctx, 0, n_slots * sizeof *g->ctx);
        memcpy(g->ctx_n, b + sizeof s, n_slots * sizeof *g->ctx_n);
        rc = gpo_arrays(g, e);
    }
    if (rc == PPR_OK)
        memcpy(g->params, pb, g->n_net * sizeof *g->params);
    size_t at = g->n_net * sizeof(float);
    for (uint64_t j = 0; j < n_slots && rc == PPR_OK; j++) {
        size_t bytes = (size_t)g->ctx_n[j] * 3 * dim * sizeof(float);
        if (!bytes)
            continue;
        if (!(g->ctx[j] = malloc(bytes)))
            rc = err_nomem(e);
        else
            memcpy(g->ctx[j], pb + at, bytes);
        at += bytes;
    }
    if (rc) {
        gpo_free(&g->base);
        return rc;
    }
    *m = &g->base;
    return PPR_OK;
}

const method_ops gpo_ops = {
    .create = gpo_create,
    .load = gpo_load,
    .body_size = gpo_body_size,
    .save = gpo_save,
    .settings = gpo_settings,
    .train = gpo_train,
    .score = gpo_score,
    .adapt = gpo_adapt,
    .task = gpo_task,
    .serves = gpo_serves,
    .free = gpo_free,
};
