/* prm.c: Personalized RM after P-RLHF (methods.md section 3): one
 * Bradley-Terry head over [phi(prompt); phi(response); e_u] with
 * e_u = e_0 + o_u. Every pair is trained twice in its minibatch, as its user
 * and as the generic user e_0, loss alpha * mean(user) + (1 - alpha) *
 * mean(generic). e_0 and the o_u start N(0, 0.01^2) and live in the head's
 * extra parameters, [e_0; o_0; ...; o_{n_users-1}], each [user_dim], so
 * weight decay applies to them too. Users the model never saw score with e_0.
 *
 * Adapting to a new user fits o_new from 0 (that is, e_0) by AdamW on the
 * user loss with the head and e_0 frozen; weight decay pulls o_new back to
 * e_0. k = 0 leaves e_0, the zero-shot choice. Adapting again replaces o_new.
 *
 * Settings: "head": {"hidden"} and "prm": {"alpha", "user_dim"}.
 * Shape: bt_shape, prm_tail, uint32 ids[n_adapted] (increasing, >= n_users).
 * Params: the head (extra parameters included), then o_new [n_adapted]
 * [user_dim] of each adapted user in ids order. */
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/models/bt.h"
#include "common/models/optim.h"
#include "common/models/registry.h"
#include "common/rng.h"

typedef struct {
    bt_model bt;
    double alpha;      /* weight of the user loss */
    uint32_t user_dim; /* width of e_u */
    uint32_t *adapted; /* [n_adapted] users fitted by adapt, strictly increasing */
    uint32_t n_adapted;
    float *offsets;    /* [n_adapted][user_dim] o_new of each adapted user */
} prm;

/* The shape after bt_shape. */
typedef struct {
    double alpha;
    uint32_t n_adapted, reserved;
} prm_tail;

/* e_0 [user_dim], then o_u of training user u at e_0 + (1 + u) user_dim. */
static float *prm_users(const prm *p)
{
    const mlp *h = &p->bt.heads[0];
    return h->params + (h->n_params - h->n_extra);
}

/* out [user_dim] = the embedding user u scores with: e_0 + o_u for a training
 * user, e_0 + o_new for an adapted one, e_0 for any other. */
static void prm_embedding(const prm *p, uint32_t u, float *out)
{
    const float *e0 = prm_users(p), *o = NULL;
    int64_t j;
    if (u < p->bt.base.n_users)
        o = e0 + (size_t)(1 + u) * p->user_dim;
    else if ((j = bt_adapted_find(p->adapted, p->n_adapted, u)) >= 0)
        o = p->offsets + (size_t)j * p->user_dim;
    for (uint32_t k = 0; k < p->user_dim; k++)
        out[k] = o ? e0[k] + o[k] : e0[k];
}

/* Block 2's distinct rows from their ids: e_0 for 0, user u's embedding for
 * 1 + u. */
static void prm_fill(bt_model *md)
{
    prm *p = (prm *)md;
    batch_in *in = &md->batch;
    size_t ud = p->user_dim;
    for (size_t j = 0; j < in->blocks[BLOCK_USER].n_rows; j++) {
        uint32_t id = in->first[BLOCK_USER][j];
        float *out = in->rows[BLOCK_USER] + j * ud;
        if (id == 0)
            memcpy(out, prm_users(p), ud * sizeof *out);
        else
            prm_embedding(p, id - 1, out);
    }
}

static void prm_free(method *m)
{
    if (!m)
        return;
    prm *p = (prm *)m;
    bt_release(&p->bt);
    free(p->adapted);
    free(p->offsets);
    free(p);
}

/* A model of this shape; its embeddings drawn from seed when draw is set. */
static int prm_make(method **m, uint32_t dim, uint32_t n_users, uint32_t n_hidden,
                    const uint32_t *hidden, uint32_t user_dim, double alpha, uint64_t seed,
                    int draw, const char *what, ppr_err *e)
{
    if (user_dim == 0)
        return err_set(e, PPR_EINPUT, "%s: prm needs a user embedding width (user_dim)", what);
    if (!(alpha >= 0 && alpha <= 1))
        return err_set(e, PPR_EINPUT, "%s: prm's alpha %g is outside [0, 1]", what, alpha);
    prm *p = calloc(1, sizeof *p);
    if (!p)
        return err_nomem(e);
    size_t n_extra = ((size_t)n_users + 1) * user_dim;
    int rc = bt_init(&p->bt, &prm_ops, dim, n_users, n_hidden, hidden, user_dim, n_extra, 1, seed,
                     what, e);
    if (rc) {
        free(p);
        return rc;
    }
    p->alpha = alpha;
    p->user_dim = user_dim;
    p->bt.fill_users = prm_fill;
    if (draw) {
        rng r;
        rng_seed(&r, seed, BT_STREAM_USERS);
        float *u = prm_users(p);
        for (size_t i = 0; i < n_extra; i++)
            u[i] = (float)(0.01 * rng_normal(&r));
    }
    *m = &p->bt.base;
    return PPR_OK;
}

static int prm_create(method **m, uint32_t dim, uint32_t n_users, const cJSON *settings,
                      uint64_t seed, ppr_err *e)
{
    uint32_t n_hidden, hidden[BT_MAX_HIDDEN];
    const cJSON *s;
    double alpha;
    int64_t user_dim;
    if (bt_hidden_read(settings, &n_hidden, hidden, e) ||
        !(s = json_get_obj(settings, "prm", "settings", e)) ||
        json_get_num(s, "alpha", "settings", &alpha, e) ||
        json_get_int(s, "user_dim", "settings", &user_dim, e))
        return PPR_EINPUT;
    if (user_dim < 0 || user_dim > UINT32_MAX / 4)
        return err_set(e, PPR_EINPUT, "settings: prm's user_dim %lld is out of range",
                       (long long)user_dim);
    return prm_make(m, dim, n_users, n_hidden, hidden, (uint32_t)user_dim, alpha, seed, 1,
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
    if (rc == PPR_OK)
        rc = bt_shape_check(&s, dim, ((uint64_t)n_users + 1) * s.user_dim, what, e);
    if (rc)
        return rc;
    uint64_t offsets = (uint64_t)t.n_adapted * s.user_dim;
    if (s.n_heads != 1 || t.reserved || s.user_dim > UINT32_MAX / 4 ||
        shape_bytes != bt_shape_size(sizeof t, t.n_adapted) ||
        n_params != s.head_params + offsets)
        return err_set(e, PPR_EINPUT, "'%s': the model's shape is malformed", what);
    uint32_t *adapted;
    if ((rc = bt_adapted_read(b + sizeof s + sizeof t, t.n_adapted, n_users, &adapted, what, e)))
        return rc;
    if ((rc = prm_make(m, dim, n_users, s.n_hidden, s.hidden, s.user_dim, t.alpha, 0, 0, what,
                       e))) {
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
    prm_tail t = {p->alpha, p->n_adapted, 0};
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
    cJSON_AddNumberToObject(sec, "user_dim", p->user_dim);
    return s;
}

/* prm's loss over 4b rows in blocks of b: chosen as the pair's user, chosen as
 * the generic user, rejected as the user, rejected as generic (the user and
 * generic rows share their features' rows, so their product is taken once);
 * the user rows weigh alpha and the generic rows 1 - alpha, so bt_loss's
 * weighted mean is alpha * mean(user) + (1 - alpha) * mean(generic). The
 * embeddings' gradient is block 2's: every row's goes to e_0, a user row's
 * also to o_u. */
static int prm_batch(void *vctx, const uint32_t *idx, size_t b, ppr_err *e)
{
    bt_ctx *c = vctx;
    prm *p = (prm *)c->md;
    const pair_set *ps = c->ps;
    size_t ud = p->user_dim;
    batch_in *in = &p->bt.batch;
    int rc = batch_fit(in, 4 * b, e);
    if (rc)
        return rc;
    for (int part = 0; part < 4; part++) {
        batch_ids_prompt(ps, idx, b, in->id[BLOCK_PROMPT] + part * b);
        batch_ids_response(ps, idx, b, part / 2, in->id[BLOCK_RESPONSE] + part * b);
        for (size_t i = 0; i < b; i++)
            in->id[BLOCK_USER][part * b + i] = part % 2 ? 0 : 1 + ps->user[idx[i]];
    }
    batch_build(in, ps, 4 * b);
    prm_fill(&p->bt);
    float *r = in->v, *dr = in->v + 4 * b, *w = in->v + 8 * b; /* [4b], [4b], [2b] */
    for (size_t i = 0; i < b; i++) {
        w[i] = (float)p->alpha;
        w[b + i] = (float)(1 - p->alpha);
    }
    rc = mlp_forward_blocks(c->head, &p->bt.ws, in->blocks, N_BLOCKS, 4 * b, r, e);
    if (rc)
        return rc;
    bt_loss(r, r + 2 * b, w, 2 * b, dr, dr + 2 * b);
    rc = mlp_backward_blocks(c->head, &p->bt.ws, in->blocks, N_BLOCKS, 4 * b, dr, e);
    if (rc)
        return rc;
    mlp *h = c->head;
    float *g0 = h->grads + (h->n_params - h->n_extra); /* e_0's gradient, then o_u's */
    for (size_t j = 0; j < in->blocks[BLOCK_USER].n_rows; j++) {
        const float *g = in->grad + j * ud;
        uint32_t id = in->first[BLOCK_USER][j];
        for (size_t k = 0; k < ud; k++)
            g0[k] += g[k];
        for (size_t k = 0; id && k < ud; k++)
            g0[(size_t)id * ud + k] += g[k];
    }
    return PPR_OK;
}

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
    const float *e0 = prm_users(p);
    for (size_t k = 0; k < ud; k++)
        in->rows[BLOCK_USER][k] = e0[k] + oc->offset[k];
    float *r = in->v, *dr = in->v + 2 * b;
    rc = mlp_forward_blocks(oc->c.head, &p->bt.ws, in->blocks, N_BLOCKS, 2 * b, r, e);
    if (rc)
        return rc;
    bt_loss(r, r + b, NULL, b, dr, dr + b);
    mlp_zero_grad(oc->c.head);
    rc = mlp_backward_blocks(oc->c.head, &p->bt.ws, in->blocks, N_BLOCKS, 2 * b, dr, e);
    for (size_t k = 0; k < ud && rc == PPR_OK; k++)
        oc->offset_grad[k] += in->grad[k];
    return rc;
}

static int prm_train(method *m, const pair_set *ps, const optim_settings *o, ppr_err *e)
{
    return bt_train_all(m, ps, prm_batch, o, e);
}

static int prm_adapt(method *m, const pair_set *ps, uint32_t new_user, const optim_settings *o,
                     ppr_err *e)
{
    prm *p = (prm *)m;
    int rc = bt_adapt_check(&p->bt, ps, new_user, e);
    if (rc)
        return rc;
    size_t ud = p->user_dim;
    float *off = calloc(2 * ud, sizeof *off); /* [user_dim] o_new from 0, then its gradient */
    uint8_t *decay = malloc(ud);              /* [user_dim] all 1: decay pulls o_new to 0 */
    uint32_t *subset = pairs_indices(ps->n);  /* [k] */
    if (!off || !decay || !subset)
        rc = err_nomem(e);
    if (rc == PPR_OK) {
        memset(decay, 1, ud);
        offset_ctx oc = {{&p->bt, &p->bt.heads[0], ps}, off, off + ud};
        trainer_task t = {off, off + ud, decay, ud, prm_batch_offset, &oc};
        rc = trainer_run(&t, subset, ps->n, o, bt_seed(o->seed, BT_STREAM_SHUFFLE + new_user), e);
        mlp_zero_grad(&p->bt.heads[0]);
    }
    uint32_t j;
    int fresh = 0;
    if (rc == PPR_OK)
        rc = bt_adapted_slot(&p->adapted, &p->n_adapted, new_user, &j, &fresh, e);
    if (rc == PPR_OK && fresh) {
        float *offsets = realloc(p->offsets, p->n_adapted * ud * sizeof *offsets);
        if (!offsets) {
            bt_adapted_drop(p->adapted, &p->n_adapted, j);
            rc = err_nomem(e);
        } else {
            p->offsets = offsets;
            memmove(offsets + (j + 1) * ud, offsets + j * ud,
                    (p->n_adapted - 1 - j) * ud * sizeof *offsets);
        }
    }
    if (rc == PPR_OK)
        memcpy(p->offsets + j * ud, off, ud * sizeof *off);
    free(subset);
    free(decay);
    free(off);
    return rc;
}

static int prm_task(method *m, const pair_set *ps, trainer_task *t, ppr_err *e)
{
    return bt_first_task(m, ps, prm_batch, t, e);
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
