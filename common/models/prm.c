/* prm.c: Personalized RM after P-RLHF (methods.md section 3). Each user u
 * has an embedding e_u = e_0 + o_u, e_0 the generic user's; the embeddings
 * start U(-0.5, 0.5), P-RLHF's alternative to copying token embeddings. Two
 * ways for the embedding to reach the reward (prm.mode, docs/train.md):
 *
 *   embed   one Bradley-Terry head over [phi(prompt); phi(response); e_u]:
 *           the embedding enters the first layer beside the features, as
 *           P-RLHF's soft token enters the LLM; it can shift the hidden
 *           units' thresholds but not turn the reward's direction.
 *   output  a head over [phi(prompt); phi(response)] whose output layer is
 *           the user's: r = (w_0 + A e_u) . h + b, h the last hidden layer
 *           (methods.md 9.1, option 2). A starts at 0, so the model starts as
 *           the shared head; with A e_u free per user it contains one output
 *           layer per user over a shared trunk.
 *
 * Training: as P-RLHF's loaders do, every pair is a row as its user and a
 * duplicate row as the generic user (id 0, e_0); the trainer shuffles the 2n
 * rows, so an epoch takes 2n / batch steps, and a minibatch's loss is alpha *
 * mean(its user rows) + (1 - alpha) * mean(its generic rows), a mean left out
 * when the minibatch has none of its rows (P-RLHF's loss, unnormalized). The
 * embeddings (and A) are extra parameters of the head, so weight decay
 * applies to them too. Users the model never saw score with e_0.
 *
 * Adapting to a new user fits o_new from 0 (that is, e_0) by AdamW on the
 * user loss with the head (and A, and e_0) frozen; weight decay pulls o_new
 * back to e_0. k = 0 leaves e_0, the zero-shot choice. Adapting again
 * replaces o_new.
 *
 * Settings: "head": {"hidden"} and "prm": {"alpha", "user_dim", "mode"}.
 * Extra parameters: output mode's A [k][user_dim] first, then e_0, o_0, ...,
 * o_{n_users-1}, each [user_dim]. Shape: bt_shape, prm_tail, uint32
 * ids[n_adapted] (increasing, >= n_users). Params: the head (extra parameters
 * included), then o_new [n_adapted][user_dim] in ids order. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/mem.h"
#include "common/models/bt.h"
#include "common/models/optim.h"
#include "common/models/registry.h"
#include "common/rng.h"

enum { PRM_EMBED, PRM_OUTPUT, N_MODES };
static const char *const prm_modes[N_MODES] = {"embed", "output"};

typedef struct {
    bt_model bt;
    int mode;
    double alpha;      /* weight of the user loss */
    uint32_t user_dim; /* width of e_u */
    uint32_t k;        /* output mode: width of h, the last hidden layer */
    uint32_t *adapted; /* [n_adapted] users fitted by adapt, strictly increasing */
    uint32_t n_adapted;
    float *offsets;    /* [n_adapted][user_dim] o_new of each adapted user */
    /* A minibatch's scratch, grown on demand: */
    uint32_t *pair;    /* [entries] each row entry's pair */
    float *emb;        /* output: [distinct][user_dim] the embeddings of the batch's users */
    float *v;          /* output: [distinct][k] A e of each */
    float *wr, *gwr;   /* output: [rows][k] each row's output weights and their gradient */
    size_t cap_pair, cap_emb, cap_v, cap_wr, cap_gwr;
} prm;

/* The shape after bt_shape. */
typedef struct {
    double alpha;
    uint32_t n_adapted, mode, user_dim, reserved;
} prm_tail;

static float *prm_extra(const prm *p)
{
    const mlp *h = &p->bt.heads[0];
    return h->params + (h->n_params - h->n_extra);
}

static float *prm_extra_grad(const prm *p)
{
    const mlp *h = &p->bt.heads[0];
    return h->grads + (h->n_params - h->n_extra);
}

/* Where e_0 starts among the extra parameters (after output mode's A). */
static size_t users_at(const prm *p)
{
    return p->mode == PRM_OUTPUT ? (size_t)p->k * p->user_dim : 0;
}

/* out [user_dim] = the embedding of block-2 id `id`: e_0 for 0; for 1 + u,
 * e_0 + o_u for a training user, e_0 + o_new for an adapted one, e_0 for any
 * other. */
static void prm_embedding(const prm *p, uint32_t id, float *out)
{
    const float *e0 = prm_extra(p) + users_at(p), *o = NULL;
    int64_t j;
    if (id > 0 && id - 1 < p->bt.base.n_users)
        o = e0 + (size_t)id * p->user_dim;
    else if (id > 0 && (j = bt_adapted_find(p->adapted, p->n_adapted, id - 1)) >= 0)
        o = p->offsets + (size_t)j * p->user_dim;
    for (uint32_t c = 0; c < p->user_dim; c++)
        out[c] = o ? e0[c] + o[c] : e0[c];
}

/* ---- what a batch's users add ----------------------------------------------- */

/* embed: block 2's distinct rows from their ids. */
static int users_embed(bt_model *md, size_t rows, const float **wr, ppr_err *e)
{
    (void)rows;
    (void)e;
    prm *p = (prm *)md;
    batch_in *in = &md->batch;
    for (size_t j = 0; j < in->blocks[BLOCK_USER].n_rows; j++)
        prm_embedding(p, in->first[BLOCK_USER][j], in->rows[BLOCK_USER] + j * p->user_dim);
    *wr = NULL;
    return PPR_OK;
}

/* output: for block 2's ids of rows rows, each distinct user's embedding
 * (p->emb), v = A e (p->v), and each row's output weights (p->wr); when
 * offset is not NULL every row is the user e_0 + offset instead. Returns the
 * number of distinct users. */
static int output_weights(prm *p, size_t rows, const float *offset, size_t *n_dist, ppr_err *e)
{
    batch_in *in = &p->bt.batch;
    size_t ud = p->user_dim, k = p->k, n = offset ? 1 : batch_users(in, rows);
    if (mem_grow((void **)&p->emb, &p->cap_emb, n * ud, sizeof *p->emb) ||
        mem_grow((void **)&p->v, &p->cap_v, n * k, sizeof *p->v) ||
        mem_grow((void **)&p->wr, &p->cap_wr, rows * k, sizeof *p->wr) ||
        mem_grow((void **)&p->gwr, &p->cap_gwr, rows * k, sizeof *p->gwr))
        return err_nomem(e);
    for (size_t j = 0; j < n; j++) {
        float *emb = p->emb + j * ud;
        prm_embedding(p, offset ? 0 : in->first[BLOCK_USER][j], emb);
        for (size_t c = 0; offset && c < ud; c++)
            emb[c] += offset[c];
    }
    /* v [n][k] = emb [n][ud] A^T, A [k][ud] */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)k, (int)ud, 1.0f, p->emb,
                (int)ud, prm_extra(p), (int)ud, 0.0f, p->v, (int)k);
    for (size_t i = 0; i < rows; i++)
        memcpy(p->wr + i * k, p->v + (offset ? 0 : in->map[BLOCK_USER][i]) * k,
               k * sizeof *p->wr);
    *n_dist = n;
    return PPR_OK;
}

static int users_output(bt_model *md, size_t rows, const float **wr, ppr_err *e)
{
    prm *p = (prm *)md;
    size_t n;
    int rc = output_weights(p, rows, NULL, &n, e);
    *wr = rc ? NULL : p->wr;
    return rc;
}

/* output: from gwr [rows][k], dL/dwr, with G [n_dist][k] the sum of gwr
 * over each distinct user's rows: A's gradient gA [k][user_dim] += G^T emb
 * (when gA is not NULL), then each user's embedding gradient G A over p->emb
 * [n_dist][user_dim], which it no longer needs. */
static void output_grads(prm *p, size_t rows, size_t n_dist, int one_user, float *gA)
{
    batch_in *in = &p->bt.batch;
    int ud = (int)p->user_dim, k = (int)p->k, n = (int)n_dist;
    float *G = p->v; /* v served its purpose */
    memset(G, 0, n_dist * p->k * sizeof *G);
    for (size_t i = 0; i < rows; i++) {
        float *g = G + (one_user ? 0 : in->map[BLOCK_USER][i]) * p->k;
        for (size_t r = 0; r < p->k; r++)
            g[r] += p->gwr[i * p->k + r];
    }
    if (gA)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, ud, n, 1.0f, G, k, p->emb, ud,
                    1.0f, gA, ud);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, ud, k, 1.0f, G, k, prm_extra(p), ud,
                0.0f, p->emb, ud);
}

/* ---- lifecycle ----------------------------------------------------------------- */

static void prm_free(method *m)
{
    if (!m)
        return;
    prm *p = (prm *)m;
    bt_release(&p->bt);
    free(p->adapted);
    free(p->offsets);
    free(p->pair);
    free(p->emb);
    free(p->v);
    free(p->wr);
    free(p->gwr);
    free(p);
}

/* A model of this shape; its embeddings drawn from seed when draw is set. */
static int prm_make(method **m, uint32_t dim, uint32_t n_users, uint32_t n_hidden,
                    const uint32_t *hidden, uint32_t user_dim, double alpha, int mode,
                    uint64_t seed, int draw, const char *what, ppr_err *e)
{
    if (user_dim == 0 || user_dim > 65536)
        return err_set(e, PPR_EINPUT, "%s: prm's user embedding width (user_dim) is %u, not in "
                       "[1, 65536]", what, user_dim);
    if (!(alpha >= 0 && alpha <= 1))
        return err_set(e, PPR_EINPUT, "%s: prm's alpha %g is outside [0, 1]", what, alpha);
    if (mode == PRM_OUTPUT && n_hidden == 0)
        return err_set(e, PPR_EINPUT, "%s: prm's mode \"output\" needs a hidden layer", what);
    prm *p = calloc(1, sizeof *p);
    if (!p)
        return err_nomem(e);
    p->mode = mode;
    p->alpha = alpha;
    p->user_dim = user_dim;
    p->k = mode == PRM_OUTPUT ? hidden[n_hidden - 1] : 0;
    size_t n_extra = users_at(p) + ((size_t)n_users + 1) * user_dim;
    int rc = bt_init(&p->bt, &prm_ops, dim, n_users, n_hidden, hidden,
                     mode == PRM_EMBED ? user_dim : 0, n_extra, 1, seed, what, e);
    if (rc) {
        free(p);
        return rc;
    }
    p->bt.users = mode == PRM_EMBED ? users_embed : users_output;
    if (draw) {
        rng r;
        rng_seed(&r, seed, BT_STREAM_USERS);
        float *u = prm_extra(p) + users_at(p);
        for (size_t i = 0; i < n_extra - users_at(p); i++)
            u[i] = (float)(rng_uniform(&r) - 0.5);
    }
    *m = &p->bt.base;
    return PPR_OK;
}

static int prm_create(method **m, uint32_t dim, uint32_t n_users, const cJSON *settings,
                      uint64_t seed, ppr_err *e)
{
    uint32_t n_hidden, hidden[BT_MAX_HIDDEN];
    const cJSON *s;
    const char *mode_name;
    double alpha;
    int64_t user_dim;
    if (bt_hidden_read(settings, &n_hidden, hidden, e) ||
        !(s = json_get_obj(settings, "prm", "settings", e)) ||
        json_get_num(s, "alpha", "settings", &alpha, e) ||
        json_get_int(s, "user_dim", "settings", &user_dim, e) ||
        json_get_str(s, "mode", "settings", &mode_name, e))
        return PPR_EINPUT;
    int mode = 0;
    while (mode < N_MODES && strcmp(prm_modes[mode], mode_name) != 0)
        mode++;
    if (mode == N_MODES)
        return err_set(e, PPR_EINPUT, "settings: prm's mode \"%s\" is not \"embed\" or "
                       "\"output\"", mode_name);
    if (user_dim < 0 || user_dim > UINT32_MAX)
        return err_set(e, PPR_EINPUT, "settings: prm's user_dim %lld is out of range",
                       (long long)user_dim);
    return prm_make(m, dim, n_users, n_hidden, hidden, (uint32_t)user_dim, alpha, mode, seed, 1,
                    "settings", e);
}

static int prm_load(method **m, uint32_t dim, uint32_t n_users, const void *shape,
                    size_t shape_bytes, const void *params, size_t n_params, const char *what,
                    ppr_err *e)
{
    bt_shape s;
    prm_tail t;
    const unsigned char *b = shape;
    int rc = bt_shape_read(shape, shape_bytes, &s, &t, sizeof t, what, e);
    if (rc)
        return rc;
    uint64_t ud = t.user_dim, k = 0;
    if (t.mode >= N_MODES || t.reserved || s.n_heads != 1 || s.n_hidden > BT_MAX_HIDDEN ||
        ud == 0 || ud > 65536 || s.user_dim != (t.mode == PRM_EMBED ? ud : 0) ||
        (t.mode == PRM_OUTPUT && s.n_hidden == 0))
        return err_set(e, PPR_EINPUT, "'%s': the model's shape is malformed", what);
    if (t.mode == PRM_OUTPUT)
        k = s.hidden[s.n_hidden - 1];
    if ((rc = bt_shape_check(&s, dim, (k + n_users + 1) * ud, what, e)))
        return rc;
    uint64_t offsets = (uint64_t)t.n_adapted * ud;
    if (shape_bytes != bt_shape_size(sizeof t, t.n_adapted) || n_params != s.head_params + offsets)
        return err_set(e, PPR_EINPUT, "'%s': the model's shape is malformed", what);
    uint32_t *adapted;
    if ((rc = bt_adapted_read(b + sizeof s + sizeof t, t.n_adapted, n_users, &adapted, what, e)))
        return rc;
    if ((rc = prm_make(m, dim, n_users, s.n_hidden, s.hidden, (uint32_t)ud, t.alpha, (int)t.mode,
                       0, 0, what, e))) {
        free(adapted);
        return rc;
    }
    prm *p = (prm *)*m;
    p->adapted = adapted;
    p->n_adapted = t.n_adapted;
    if (offsets && !(p->offsets = malloc(offsets * sizeof *p->offsets))) {
        prm_free(*m);
        *m = NULL;
        return err_nomem(e);
    }
    bt_params_load(&p->bt, params);
    if (offsets)
        memcpy(p->offsets, (const unsigned char *)params + s.head_params * sizeof(float),
               offsets * sizeof(float));
    return PPR_OK;
}

static void prm_body_size(const method *m, size_t *shape_bytes, size_t *n_params)
{
    const prm *p = (const prm *)m;
    *shape_bytes = bt_shape_size(sizeof(prm_tail), p->n_adapted);
    *n_params = p->bt.heads[0].n_params + (size_t)p->n_adapted * p->user_dim;
}

static void prm_save(const method *m, void *shape, float *params)
{
    const prm *p = (const prm *)m;
    prm_tail t = {p->alpha, p->n_adapted, (uint32_t)p->mode, p->user_dim, 0};
    bt_shape_write(&p->bt, &t, sizeof t, p->adapted, p->n_adapted, shape);
    bt_params_save(&p->bt, params);
    if (p->n_adapted)
        memcpy(params + p->bt.heads[0].n_params, p->offsets,
               (size_t)p->n_adapted * p->user_dim * sizeof *params);
}

static cJSON *prm_settings(const method *m)
{
    const prm *p = (const prm *)m;
    cJSON *s = bt_plain_settings(m), *sec = cJSON_AddObjectToObject(s, "prm");
    cJSON_AddNumberToObject(sec, "alpha", p->alpha);
    cJSON_AddStringToObject(sec, "mode", prm_modes[p->mode]);
    cJSON_AddNumberToObject(sec, "user_dim", p->user_dim);
    return s;
}

/* ---- training ------------------------------------------------------------------ */

/* P-RLHF's loss over b row entries idx (entry i < n: pair i as its user; n + i:
 * pair i as the generic user), 2b batch rows: entry j's chosen response at
 * row j, its rejected one at b + j. Each user row weighs alpha / (user rows)
 * and each generic row (1 - alpha) / (generic rows). The embeddings' gradient
 * goes to e_0 from every row and to o_u from user u's rows. */
static int prm_batch(void *vctx, const uint32_t *idx, size_t b, ppr_err *e)
{
    bt_ctx *c = vctx;
    prm *p = (prm *)c->md;
    const pair_set *ps = c->ps;
    size_t ud = p->user_dim, n = ps->n, n_user = 0;
    batch_in *in = &p->bt.batch;
    int rc = batch_fit(in, 2 * b, e);
    if (rc == PPR_OK && mem_grow((void **)&p->pair, &p->cap_pair, b, sizeof *p->pair))
        rc = err_nomem(e);
    if (rc)
        return rc;
    for (size_t j = 0; j < b; j++) {
        int generic = idx[j] >= n;
        p->pair[j] = generic ? idx[j] - (uint32_t)n : idx[j];
        in->id[BLOCK_USER][j] = in->id[BLOCK_USER][b + j] =
            generic ? 0 : 1 + ps->user[p->pair[j]];
        n_user += !generic;
    }
    batch_ids_prompt(ps, p->pair, b, in->id[BLOCK_PROMPT]);
    batch_ids_prompt(ps, p->pair, b, in->id[BLOCK_PROMPT] + b);
    batch_ids_response(ps, p->pair, b, 0, in->id[BLOCK_RESPONSE]);
    batch_ids_response(ps, p->pair, b, 1, in->id[BLOCK_RESPONSE] + b);
    batch_build(in, ps, 2 * b);
    size_t n_gen = b - n_user;
    float *r = in->v, *dr = in->v + 2 * b, *w = in->v + 4 * b; /* [2b], [2b], [b] */
    for (size_t j = 0; j < b; j++)
        w[j] = (float)(in->id[BLOCK_USER][j] ? p->alpha / (double)n_user
                                             : (1 - p->alpha) / (double)n_gen);
    float sum_w = (float)((n_user ? p->alpha : 0) + (n_gen ? 1 - p->alpha : 0));
    const float *wr = NULL;
    size_t n_dist = 0;
    if (p->mode == PRM_OUTPUT)
        rc = output_weights(p, 2 * b, NULL, &n_dist, e);
    else
        rc = users_embed(&p->bt, 2 * b, &wr, e);
    if (rc == PPR_OK)
        rc = mlp_forward_rows(c->head, &p->bt.ws, in->blocks, batch_blocks(in), 2 * b,
                              p->mode == PRM_OUTPUT ? p->wr : NULL, r, e);
    if (rc)
        return rc;
    bt_loss(r, r + b, w, b, dr, dr + b);
    for (size_t i = 0; i < 2 * b; i++) /* bt_loss divides by sum_w: P-RLHF does not */
        dr[i] *= sum_w;
    float *g0 = prm_extra_grad(p) + users_at(p); /* e_0's gradient, then o_u's */
    const float *gemb = in->grad;                /* [distinct][user_dim] */
    const uint32_t *ids = in->first[BLOCK_USER];
    if (p->mode == PRM_OUTPUT) {
        rc = mlp_backward_rows(c->head, &p->bt.ws, in->blocks, batch_blocks(in), 2 * b, dr, p->wr,
                               p->gwr, e);
        if (rc == PPR_OK)
            output_grads(p, 2 * b, n_dist, 0, prm_extra_grad(p));
        gemb = p->emb;
    } else {
        n_dist = in->blocks[BLOCK_USER].n_rows;
        rc = mlp_backward_blocks(c->head, &p->bt.ws, in->blocks, N_BLOCKS, 2 * b, dr, e);
    }
    for (size_t j = 0; rc == PPR_OK && j < n_dist; j++) {
        const float *g = gemb + j * ud;
        for (size_t k = 0; k < ud; k++)
            g0[k] += g[k];
        for (size_t k = 0; ids[j] && k < ud; k++)
            g0[(size_t)ids[j] * ud + k] += g[k];
    }
    return rc;
}

static int prm_train(method *m, const pair_set *ps, const optim_settings *o, ppr_err *e)
{
    return bt_train_all(m, ps, 2 * ps->n, prm_batch, o, e); /* each pair as its user, then generic */
}

static int prm_task(method *m, const pair_set *ps, trainer_task *t, ppr_err *e)
{
    return bt_first_task(m, ps, prm_batch, t, e);
}

/* ---- adaptation ------------------------------------------------------------------ */

/* What adapt's minibatch function needs: o_new and its gradient. */
typedef struct {
    bt_ctx c;
    float *offset, *offset_grad; /* [user_dim] each */
} offset_ctx;

/* The plain BT loss of the new user's pairs under e_0 + o_new; only o_new
 * learns, so the head's own gradient is discarded. */
static int prm_batch_offset(void *vctx, const uint32_t *idx, size_t b, ppr_err *e)
{
    offset_ctx *oc = vctx;
    prm *p = (prm *)oc->c.md;
    size_t ud = p->user_dim;
    batch_in *in = &p->bt.batch;
    int rc = batch_pairs(in, oc->c.ps, idx, b, e);
    if (rc)
        return rc;
    memset(in->id[BLOCK_USER], 0, 2 * b * sizeof *in->id[BLOCK_USER]);
    batch_build(in, oc->c.ps, 2 * b);
    size_t n_dist = 1;
    if (p->mode == PRM_OUTPUT) {
        rc = output_weights(p, 2 * b, oc->offset, &n_dist, e);
    } else {
        prm_embedding(p, 0, in->rows[BLOCK_USER]);
        for (size_t k = 0; k < ud; k++)
            in->rows[BLOCK_USER][k] += oc->offset[k];
    }
    float *r = in->v, *dr = in->v + 2 * b;
    const float *wr = p->mode == PRM_OUTPUT ? p->wr : NULL;
    if (rc == PPR_OK)
        rc = mlp_forward_rows(oc->c.head, &p->bt.ws, in->blocks, batch_blocks(in), 2 * b, wr, r,
                              e);
    if (rc)
        return rc;
    bt_loss(r, r + b, NULL, b, dr, dr + b);
    rc = mlp_backward_rows(oc->c.head, &p->bt.ws, in->blocks, batch_blocks(in), 2 * b, dr, wr,
                           p->mode == PRM_OUTPUT ? p->gwr : NULL, e);
    mlp_zero_grad(oc->c.head);
    const float *g = in->grad;
    if (rc == PPR_OK && p->mode == PRM_OUTPUT) {
        output_grads(p, 2 * b, n_dist, 1, NULL);
        g = p->emb;
    }
    for (size_t k = 0; k < ud && rc == PPR_OK; k++)
        oc->offset_grad[k] += g[k];
    return rc;
}

/* Output mode: the trunk is frozen while o_new learns, so each pair's last
 * hidden layer and shared reward are computed once (frozen_trunk), and a
 * step needs only v = A (e_0 + o_new): pair i's margin is d0[i] + v . dh[i]. */
typedef struct {
    prm *p;
    float *dh, *d0;              /* [k][K] h(chosen) - h(rejected); [k] r0(chosen) - r0(rejected) */
    float *offset, *offset_grad; /* [user_dim] each */
    float *emb, *v, *gv;         /* scratch [user_dim], [K], [K] */
    float *mg, *zero, *dmg, *dz; /* scratch [k] each: margins, zeros, their gradients */
} frozen_ctx;

/* dh [n][K] and d0 [n] of ps's pairs under the head's own output weights. */
static int frozen_trunk(prm *p, const pair_set *ps, float *dh, float *d0, ppr_err *e)
{
    enum { CHUNK = 256 };
    const mlp *head = &p->bt.heads[0];
    size_t K = p->k;
    batch_in *in = &p->bt.batch;
    uint32_t idx[CHUNK];
    float r[2 * CHUNK];
    int rc = PPR_OK;
    for (size_t lo = 0; lo < ps->n && rc == PPR_OK; lo += CHUNK) {
        size_t b = ps->n - lo < CHUNK ? ps->n - lo : CHUNK;
        for (size_t t = 0; t < b; t++)
            idx[t] = (uint32_t)(lo + t);
        if ((rc = batch_pairs(in, ps, idx, b, e)))
            break;
        memset(in->id[BLOCK_USER], 0, 2 * b * sizeof *in->id[BLOCK_USER]);
        batch_build(in, ps, 2 * b);
        if ((rc = mlp_forward_rows(head, &p->bt.ws, in->blocks, batch_blocks(in), 2 * b, NULL, r,
                                   e)))
            break;
        const float *h = p->bt.ws.act[head->n_layers - 1]; /* [2b][K] */
        for (size_t t = 0; t < b; t++) {
            d0[lo + t] = r[t] - r[b + t];
            for (size_t c = 0; c < K; c++)
                dh[(lo + t) * K + c] = h[t * K + c] - h[(b + t) * K + c];
        }
    }
    return rc;
}

static int prm_batch_frozen(void *vctx, const uint32_t *idx, size_t b, ppr_err *e)
{
    (void)e;
    frozen_ctx *fc = vctx;
    prm *p = fc->p;
    int K = (int)p->k, ud = (int)p->user_dim;
    const float *A = prm_extra(p); /* [K][user_dim] */
    prm_embedding(p, 0, fc->emb);
    for (int c = 0; c < ud; c++)
        fc->emb[c] += fc->offset[c];
    cblas_sgemv(CblasRowMajor, CblasNoTrans, K, ud, 1.0f, A, ud, fc->emb, 1, 0.0f, fc->v, 1);
    for (size_t t = 0; t < b; t++)
        fc->mg[t] = fc->d0[idx[t]] + cblas_sdot(K, fc->v, 1, fc->dh + (size_t)idx[t] * K, 1);
    bt_loss(fc->mg, fc->zero, NULL, b, fc->dmg, fc->dz);
    memset(fc->gv, 0, (size_t)K * sizeof *fc->gv);
    for (size_t t = 0; t < b; t++)
        cblas_saxpy(K, fc->dmg[t], fc->dh + (size_t)idx[t] * K, 1, fc->gv, 1);
    cblas_sgemv(CblasRowMajor, CblasTrans, K, ud, 1.0f, A, ud, fc->gv, 1, 1.0f, fc->offset_grad,
                1);
    return PPR_OK;
}

/* Fit o_new (off [user_dim], from 0) on ps under o in output mode. */
static int adapt_frozen(prm *p, const pair_set *ps, const optim_settings *o, uint32_t new_user,
                        float *off, const uint8_t *decay, const uint32_t *subset, ppr_err *e)
{
    size_t K = p->k, ud = p->user_dim, n = ps->n;
    float *buf = calloc(n * K + 5 * n + ud + 2 * K, sizeof *buf), *at = buf;
    if (!buf)
        return err_nomem(e);
    frozen_ctx fc = {.p = p, .offset = off, .offset_grad = off + ud};
    float **parts[] = {&fc.dh, &fc.d0, &fc.emb, &fc.v, &fc.gv,
                       &fc.mg, &fc.zero, &fc.dmg, &fc.dz};
    size_t sizes[] = {n * K, n, ud, K, K, n, n, n, n};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; at += sizes[i++])
        *parts[i] = at;
    int rc = frozen_trunk(p, ps, fc.dh, fc.d0, e);
    if (rc == PPR_OK) {
        trainer_task t = {off, off + ud, decay, ud, prm_batch_frozen, &fc};
        rc = trainer_run(&t, subset, n, o, bt_seed(o->seed, BT_STREAM_SHUFFLE + new_user), e);
    }
    free(buf);
    return rc;
}

static int prm_adapt(method *m, const pair_set *ps, uint32_t new_user, const optim_settings *o,
                     ppr_err *e)
{
    prm *p = (prm *)m;
    int rc = method_adapt_check(&p->bt.base, ps, new_user, e);
    if (rc)
        return rc;
    size_t ud = p->user_dim;
    float *off = calloc(2 * ud, sizeof *off); /* [user_dim] o_new from 0, then its gradient */
    uint8_t *decay = malloc(ud);              /* [user_dim] all 1: decay pulls o_new to 0 */
    uint32_t *subset = pairs_indices(ps->n);  /* [k] */
    if (!off || !decay || !subset)
        rc = err_nomem(e);
    if (rc == PPR_OK)
        memset(decay, 1, ud);
    if (rc == PPR_OK && p->mode == PRM_OUTPUT) {
        rc = adapt_frozen(p, ps, o, new_user, off, decay, subset, e);
    } else if (rc == PPR_OK) {
        offset_ctx oc = {{&p->bt, &p->bt.heads[0], ps}, off, off + ud};
        trainer_task t = {off, off + ud, decay, ud, prm_batch_offset, &oc};
        rc = trainer_run(&t, subset, ps->n, o, bt_seed(o->seed, BT_STREAM_SHUFFLE + new_user), e);
        mlp_zero_grad(&p->bt.heads[0]);
    }
    int fresh;
    if (rc == PPR_OK)
        rc = bt_adapted_put(&p->adapted, &p->n_adapted, new_user, &p->offsets, ud, off, &fresh,
                            e);
    free(subset);
    free(decay);
    free(off);
    return rc;
}

const method_ops prm_ops = {
    .create = prm_create,
    .load = prm_load,
    .body_size = prm_body_size,
    .save = prm_save,
    .settings = prm_settings,
    .train = prm_train,
    .score = bt_score,
    .adapt = prm_adapt,
    .init_from = bt_init_from,
    .task = prm_task,
    .free = prm_free,
};
