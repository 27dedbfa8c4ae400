/* methods.c: the five Bradley-Terry methods behind methods.h (methods.md
 * sections 1-3, design section 11) and the model payload they save.
 *
 * Every head is an MLP (mlp.h) over [phi(prompt); phi(response)]:
 *   pretrained, vanilla  one head on all pairs, no user information; they differ
 *                        only in what the stage trains them on and the name saved.
 *   conditional          the same head; the stage passes the "User ID: u"
 *                        prompt's feature row as each pair's prompt row, so the
 *                        user enters through the features and nothing here differs.
 *   individual           one head per training user, trained on that user's pairs
 *                        only. A user with no pairs keeps its untrained head (the
 *                        caller reports the user); its scores are the untrained
 *                        head's, defined but meaningless.
 *   prm                  one head over [phi(prompt); phi(response); e_u] with
 *                        e_u = e_0 + o_u (P-RLHF). Every pair is trained twice in
 *                        its minibatch, as its user and as the generic user e_0,
 *                        loss alpha * mean(user) + (1 - alpha) * mean(generic).
 *                        e_0 and the o_u start N(0, 0.01^2) and live in the
 *                        head's extra parameters: [e_0; o_0; ...; o_{n_users-1}],
 *                        each [user_dim], so weight decay applies to them too.
 *                        Users the model never saw score with e_0.
 *
 * The architecture (hidden widths, user_dim, alpha) and the initial parameters
 * come from method_new's cfg; train and adapt read only its optimisation fields
 * (lr, weight_decay, clip, warmup_ratio, batch, epochs, seed) and continue from
 * the current parameters.
 *
 * adapt, for a user >= n_users with k pairs:
 *   pretrained, vanilla  nothing to fit: the same reward for everyone.
 *   conditional          nothing to fit: the new user scores through the prompt
 *                        rows it is given (its own "User ID" prompt is unseen).
 *   individual           a fresh head (seeded by cfg->seed and the user) trained
 *                        on the k pairs; k = 0 is refused.
 *   prm                  o_new from 0 (that is, e_0), fitted by AdamW on the user
 *                        loss with the head and e_0 frozen; weight decay pulls
 *                        o_new back to e_0. k = 0 leaves e_0, the zero-shot choice.
 * Adapting a user again replaces what was fitted for it; the fitted heads and
 * offsets are saved with the model.
 *
 * Model payload (PAYLOAD_MODEL), little-endian:
 *   header  model_header               104 bytes, fields below
 *   ids     uint32[n_adapted]          users fitted by adapt, strictly increasing,
 *                                      each >= n_users
 *   pad     zero bytes to a multiple of 8
 *   digest  uint8[32]                  SHA-256 of every byte before it
 *   params  float32[n_heads][n_params] the heads: shared and prm one; individual
 *                                      n_users, then one per adapted user in ids order
 *           float32[n_adapted][user_dim]  prm only: o_new of each adapted user
 * Parameters are data: a changed value loads (if finite); any change to the
 * header, ids or digest, a wrong size or a foreign layout is refused. */
#include "stages/04-train/methods.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/rng.h"
#include "common/sha256.h"
#include "stages/04-train/mlp.h"
#include "stages/04-train/optim.h"
#include "stages/04-train/trainer.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the model payload is little-endian");

#define MODEL_MAGIC "PPRMODL1"
#define MODEL_VERSION 1
#define MAX_HIDDEN 4     /* train_cfg.hidden */
#define SCORE_CHUNK 1024 /* pairs scored per forward pass */

_Static_assert(sizeof((train_cfg *)0)->hidden == MAX_HIDDEN * sizeof(uint32_t),
               "the payload holds every hidden width train_cfg can");

typedef struct {
    char magic[8];
    uint32_t version;
    char method[20];      /* NUL-padded */
    uint32_t dim, n_users;
    uint32_t n_hidden, hidden[MAX_HIDDEN]; /* unused widths 0 */
    uint32_t user_dim;    /* prm; 0 otherwise */
    uint32_t in;          /* head input width: 2 dim + user_dim */
    uint32_t n_heads, n_adapted;
    uint32_t reserved;    /* 0 */
    double alpha;         /* prm; 0 otherwise */
    uint64_t n_params;    /* per head, extra parameters included */
    uint64_t n_extra;     /* prm: (n_users + 1) user_dim; 0 otherwise */
} model_header;

_Static_assert(sizeof(model_header) == 104, "model_header has no hidden padding");

enum { KIND_SHARED, KIND_INDIVIDUAL, KIND_PRM };

static const struct {
    const char *name;
    int kind;
} method_kinds[] = {
    {"pretrained", KIND_SHARED}, {"vanilla", KIND_SHARED},  {"individual", KIND_INDIVIDUAL},
    {"conditional", KIND_SHARED}, {"prm", KIND_PRM},
};
#define N_KINDS (sizeof method_kinds / sizeof method_kinds[0])

/* rng streams under a config seed. The shared trainer's shuffles use streams
 * 0 .. epochs-1 of cfg->seed itself; per-user seeds are drawn from these. */
#define STREAM_HEAD (1ULL << 32)    /* + head's user: the seed mlp_init gets */
#define STREAM_SHUFFLE (2ULL << 32) /* + user: individual heads' trainer seeds */
#define STREAM_USERS (3ULL << 32)   /* prm's initial embeddings */

typedef struct model model;

/* The input of a batch of rows as the head's column blocks (mlp_block), each
 * by its distinct rows: block 0 the prompts' feature rows, 1 the responses',
 * 2 (prm) the user embeddings. id says what each batch row reads: a feature
 * row, or in block 2 0 for e_0 and 1 + u for user u's embedding. */
enum { BLOCK_PROMPT, BLOCK_RESPONSE, BLOCK_USER, N_BLOCKS };

typedef struct {
    uint32_t *id[N_BLOCKS];    /* [rows] */
    uint32_t *map[N_BLOCKS];   /* [rows] each row's distinct row */
    uint32_t *first[N_BLOCKS]; /* [rows] the distinct ids, first seen first */
    float *rows[N_BLOCKS];     /* [distinct][width] */
    float *grad;               /* [distinct][user_dim] dLoss/d(block 2's rows) */
    uint32_t *table;           /* [2 cap] scratch of dedupe */
    mlp_block blocks[N_BLOCKS];
    size_t cap;                /* rows each array holds */
} batch_in;

/* What a minibatch function needs beside the pair indices. */
typedef struct {
    model *md;
    mlp *head;
    const pair_set *ps;
    float *offset, *offset_grad; /* prm adapt: [user_dim] o_new and its gradient */
} batch_ctx;

struct model {
    method base;
    int kind;
    uint32_t n_hidden, hidden[MAX_HIDDEN];
    uint32_t user_dim; /* prm: width of e_u; 0 otherwise */
    double alpha;      /* prm: weight of the user loss; 0 otherwise */
    uint32_t in;       /* head input width: 2 dim + user_dim */
    mlp *heads;        /* [n_heads]: one, or (individual) n_users then one per adapted user */
    uint32_t n_heads;
    uint32_t *adapted; /* [n_adapted] users fitted by adapt, strictly increasing */
    uint32_t n_adapted;
    float *offsets;    /* prm: [n_adapted][user_dim] o_new of each adapted user */
    uint8_t *decay;    /* [n_params] weight-decay mask of a head */
    mlp_ws ws;
    batch_in in_rows;  /* the current batch's input blocks */
    float *v;          /* [3 rows]: rewards [rows], dLoss/dr [rows], weights [rows / 2] */
    batch_ctx ctx;     /* the current training task's */
};

static uint64_t seed_derive(uint64_t seed, uint64_t stream)
{
    rng r;
    rng_seed(&r, seed, stream);
    return rng_next(&r);
}

static int kind_find(const char *name)
{
    for (size_t i = 0; i < N_KINDS; i++)
        if (strcmp(name, method_kinds[i].name) == 0)
            return (int)i;
    return -1;
}

/* ================ pairs, scratch and inputs ================ */

/* Every pair's user below the set's n_users (and below max_user when it is not
 * 0), features as wide as the model's. */
static int pairs_check(const model *md, const pair_set *ps, uint32_t max_user, const char *op,
                       ppr_err *e)
{
    if (ps->dim != md->base.dim)
        return err_set(e, PPR_EINPUT, "%s: features are %u wide, the %s model takes %u", op,
                       ps->dim, md->base.name, md->base.dim);
    if (ps->n && (!ps->matrix || !ps->rows || !ps->user))
        return err_set(e, PPR_EINTERNAL, "%s: a pair set without its arrays", op);
    for (size_t i = 0; i < ps->n; i++) {
        if (ps->user[i] >= ps->n_users)
            return err_set(e, PPR_EINPUT, "%s: pair %zu's user %u is not below the set's %u users",
                           op, i, ps->user[i], ps->n_users);
        if (max_user && ps->user[i] >= max_user)
            return err_set(e, PPR_EINPUT, "%s: pair %zu's user %u is not one of the model's %u",
                           op, i, ps->user[i], max_user);
    }
    return PPR_OK;
}

static void input_release(batch_in *in)
{
    for (int k = 0; k < N_BLOCKS; k++) {
        free(in->id[k]);
        free(in->map[k]);
        free(in->first[k]);
        free(in->rows[k]);
    }
    free(in->grad);
    free(in->table);
    memset(in, 0, sizeof *in);
}

/* Room for a batch of rows rows (and 3 rows of md->v). */
static int input_fit(model *md, size_t rows, ppr_err *e)
{
    batch_in *in = &md->in_rows;
    if (rows <= in->cap)
        return PPR_OK;
    size_t cap = 1, ud = md->user_dim ? md->user_dim : 1;
    while (cap < rows)
        cap *= 2;
    input_release(in);
    int ok = 1;
    for (int k = 0; k < N_BLOCKS; k++) {
        size_t width = k == BLOCK_USER ? ud : md->base.dim;
        ok = ok && (in->id[k] = malloc(cap * sizeof *in->id[k])) &&
             (in->map[k] = malloc(cap * sizeof *in->map[k])) &&
             (in->first[k] = malloc(cap * sizeof *in->first[k])) &&
             (in->rows[k] = malloc(cap * width * sizeof *in->rows[k]));
    }
    ok = ok && (in->grad = malloc(cap * ud * sizeof *in->grad)) &&
         (in->table = malloc(2 * cap * sizeof *in->table));
    float *v = realloc(md->v, 3 * cap * sizeof *v);
    if (v)
        md->v = v;
    if (!ok || !v) {
        input_release(in);
        return err_nomem(e);
    }
    in->cap = cap;
    return PPR_OK;
}

/* map [n]: each id's slot among the distinct ids, which go to first in the
 * order first seen; table [cap] (a power of two >= 2 n) is scratch. Returns
 * how many are distinct. */
static size_t dedupe(const uint32_t *id, size_t n, uint32_t *map, uint32_t *first,
                     uint32_t *table, size_t cap)
{
    memset(table, 0, cap * sizeof *table); /* 1 + slot; 0 is empty */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t h = (id[i] * 2654435761u) & (cap - 1);
        while (table[h] && first[table[h] - 1] != id[i])
            h = (h + 1) & (cap - 1);
        if (!table[h]) {
            first[k] = id[i];
            table[h] = (uint32_t)++k;
        }
        map[i] = table[h] - 1;
    }
    return k;
}

/* How many of the blocks a model's head reads: block 2 only for prm. */
static int blocks_of(const model *md)
{
    return md->user_dim ? N_BLOCKS : BLOCK_USER;
}

/* The blocks of a batch of rows rows whose ids are set: each block deduped,
 * the feature blocks' distinct rows copied from ps's matrix; block 2's rows
 * (prm) are the caller's to fill (in->first[BLOCK_USER] says whose). */
static void input_build(model *md, const pair_set *ps, size_t rows)
{
    batch_in *in = &md->in_rows;
    for (int k = 0; k < blocks_of(md); k++) {
        size_t width = k == BLOCK_USER ? md->user_dim : ps->dim;
        size_t n = dedupe(in->id[k], rows, in->map[k], in->first[k], in->table, 2 * in->cap);
        for (size_t j = 0; k != BLOCK_USER && j < n; j++)
            memcpy(in->rows[k] + j * width, ps->matrix + (size_t)in->first[k][j] * width,
                   width * sizeof(float));
        in->blocks[k] = (mlp_block){in->rows[k], n, (uint32_t)width, in->map[k],
                                    k == BLOCK_USER ? in->grad : NULL};
    }
}

/* id [b]: pair idx[i]'s prompt row, for block 0. */
static void ids_prompt(const pair_set *ps, const uint32_t *idx, size_t b, uint32_t *id)
{
    for (size_t i = 0; i < b; i++)
        id[i] = ps->rows[(size_t)idx[i] * 3];
}

/* id [b]: pair idx[i]'s chosen (which 0) or rejected (1) response row, for
 * block 1. */
static void ids_response(const pair_set *ps, const uint32_t *idx, size_t b, int which,
                         uint32_t *id)
{
    for (size_t i = 0; i < b; i++)
        id[i] = ps->rows[(size_t)idx[i] * 3 + 1 + which];
}

/* [n] 0 .. n-1 (one entry when n is 0); malloc'd, NULL when out of memory. */
static uint32_t *indices_new(size_t n)
{
    uint32_t *idx = malloc((n ? n : 1) * sizeof *idx);
    for (size_t i = 0; idx && i < n; i++)
        idx[i] = (uint32_t)i;
    return idx;
}

/* Index of user u in md->adapted, or -1. */
static int64_t adapted_find(const model *md, uint32_t u)
{
    size_t lo = 0, hi = md->n_adapted;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (md->adapted[mid] == u)
            return (int64_t)mid;
        if (md->adapted[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* prm: e_0 [user_dim], then o_u of training user u at e_0 + (1 + u) user_dim. */
static float *prm_users(const model *md)
{
    const mlp *h = &md->heads[0];
    return h->params + (h->n_params - h->n_extra);
}

/* prm: out [user_dim] = the embedding user u scores with: e_0 + o_u for a
 * training user, e_0 + o_new for an adapted one, e_0 for any other. */
static void prm_embedding(const model *md, uint32_t u, float *out)
{
    const float *e0 = prm_users(md), *o = NULL;
    int64_t j;
    if (u < md->base.n_users)
        o = e0 + (size_t)(1 + u) * md->user_dim;
    else if ((j = adapted_find(md, u)) >= 0)
        o = md->offsets + (size_t)j * md->user_dim;
    for (uint32_t k = 0; k < md->user_dim; k++)
        out[k] = o ? e0[k] + o[k] : e0[k];
}

/* ================ training ================ */

/* Block 2's distinct rows from their ids: e_0 for 0, user u's embedding for
 * 1 + u. */
static void prm_fill(model *md)
{
    batch_in *in = &md->in_rows;
    size_t ud = md->user_dim;
    for (size_t j = 0; j < in->blocks[BLOCK_USER].n_rows; j++) {
        uint32_t id = in->first[BLOCK_USER][j];
        float *out = in->rows[BLOCK_USER] + j * ud;
        if (id == 0)
            memcpy(out, prm_users(md), ud * sizeof *out);
        else
            prm_embedding(md, id - 1, out);
    }
}

/* A batch of 2b rows, pair idx[i]'s chosen response at row i and its rejected
 * one at row b + i, each with its prompt; block 2's ids are left to the
 * caller. */
static int input_pairs(model *md, const pair_set *ps, const uint32_t *idx, size_t b, ppr_err *e)
{
    int rc = input_fit(md, 2 * b, e);
    if (rc)
        return rc;
    batch_in *in = &md->in_rows;
    ids_prompt(ps, idx, b, in->id[BLOCK_PROMPT]);
    ids_prompt(ps, idx, b, in->id[BLOCK_PROMPT] + b);
    ids_response(ps, idx, b, 0, in->id[BLOCK_RESPONSE]);
    ids_response(ps, idx, b, 1, in->id[BLOCK_RESPONSE] + b);
    return PPR_OK;
}

/* The BT loss of one head over the rows of input_pairs. */
static int batch_plain(void *vctx, const uint32_t *idx, size_t b, ppr_err *e)
{
    batch_ctx *c = vctx;
    model *md = c->md;
    int rc = input_pairs(md, c->ps, idx, b, e);
    if (rc)
        return rc;
    input_build(md, c->ps, 2 * b);
    const mlp_block *blk = md->in_rows.blocks;
    float *r = md->v, *dr = md->v + 2 * b; /* [2b] each */
    rc = mlp_forward_blocks(c->head, &md->ws, blk, BLOCK_USER, 2 * b, r, e);
    if (rc)
        return rc;
    bt_loss(r, r + b, NULL, b, dr, dr + b);
    return mlp_backward_blocks(c->head, &md->ws, blk, BLOCK_USER, 2 * b, dr, e);
}

/* prm's loss over 4b rows in blocks of b: chosen as the pair's user, chosen as
 * the generic user, rejected as the user, rejected as generic (the user and
 * generic rows share their features' rows, so their product is taken once);
 * the user rows weigh alpha and the generic rows 1 - alpha, so bt_loss's
 * weighted mean is alpha * mean(user) + (1 - alpha) * mean(generic). The
 * embeddings' gradient is block 2's: every row's goes to e_0, a user row's
 * also to o_u. */
static int batch_prm(void *vctx, const uint32_t *idx, size_t b, ppr_err *e)
{
    batch_ctx *c = vctx;
    model *md = c->md;
    const pair_set *ps = c->ps;
    size_t ud = md->user_dim;
    int rc = input_fit(md, 4 * b, e);
    if (rc)
        return rc;
    batch_in *in = &md->in_rows;
    for (int part = 0; part < 4; part++) {
        ids_prompt(ps, idx, b, in->id[BLOCK_PROMPT] + part * b);
        ids_response(ps, idx, b, part / 2, in->id[BLOCK_RESPONSE] + part * b);
        for (size_t i = 0; i < b; i++)
            in->id[BLOCK_USER][part * b + i] = part % 2 ? 0 : 1 + ps->user[idx[i]];
    }
    input_build(md, ps, 4 * b);
    prm_fill(md);
    float *r = md->v, *dr = md->v + 4 * b, *w = md->v + 8 * b; /* [4b], [4b], [2b] */
    for (size_t i = 0; i < b; i++) {
        w[i] = (float)md->alpha;
        w[b + i] = (float)(1 - md->alpha);
    }
    rc = mlp_forward_blocks(c->head, &md->ws, in->blocks, N_BLOCKS, 4 * b, r, e);
    if (rc)
        return rc;
    bt_loss(r, r + 2 * b, w, 2 * b, dr, dr + 2 * b);
    rc = mlp_backward_blocks(c->head, &md->ws, in->blocks, N_BLOCKS, 4 * b, dr, e);
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

/* prm adapt: the plain BT loss of the new user's pairs under e_0 + o_new; only
 * o_new learns, so the head's own gradient is discarded. */
static int batch_offset(void *vctx, const uint32_t *idx, size_t b, ppr_err *e)
{
    batch_ctx *c = vctx;
    model *md = c->md;
    size_t ud = md->user_dim;
    int rc = input_pairs(md, c->ps, idx, b, e);
    if (rc)
        return rc;
    batch_in *in = &md->in_rows;
    memset(in->id[BLOCK_USER], 0, 2 * b * sizeof *in->id[BLOCK_USER]);
    input_build(md, c->ps, 2 * b);
    const float *e0 = prm_users(md);
    for (size_t k = 0; k < ud; k++)
        in->rows[BLOCK_USER][k] = e0[k] + c->offset[k];
    float *r = md->v, *dr = md->v + 2 * b;
    rc = mlp_forward_blocks(c->head, &md->ws, in->blocks, N_BLOCKS, 2 * b, r, e);
    if (rc)
        return rc;
    bt_loss(r, r + b, NULL, b, dr, dr + b);
    mlp_zero_grad(c->head);
    rc = mlp_backward_blocks(c->head, &md->ws, in->blocks, N_BLOCKS, 2 * b, dr, e);
    for (size_t k = 0; k < ud && rc == PPR_OK; k++)
        c->offset_grad[k] += in->grad[k];
    return rc;
}

/* The task of training head h on ps with the batch function fn. */
static trainer_task task_make(model *md, mlp *h, const pair_set *ps, trainer_batch_fn fn)
{
    md->ctx = (batch_ctx){.md = md, .head = h, .ps = ps};
    return (trainer_task){h->params, h->grads, md->decay, h->n_params, fn, &md->ctx};
}

int method_task(method *m, const pair_set *ps, trainer_task *t, ppr_err *e)
{
    model *md = (model *)m;
    int rc = pairs_check(md, ps, m->n_users, "method_task", e);
    if (rc == PPR_OK)
        *t = task_make(md, &md->heads[0], ps, md->kind == KIND_PRM ? batch_prm : batch_plain);
    return rc;
}

/* Train head h on the n pairs subset[] with the batch function fn. */
static int head_train(model *md, mlp *h, const pair_set *ps, const uint32_t *subset, size_t n,
                      trainer_batch_fn fn, const train_cfg *cfg, uint64_t seed, ppr_err *e)
{
    trainer_task t = task_make(md, h, ps, fn);
    return trainer_run(&t, subset, n, cfg, seed, e);
}

/* order [ps->n]: the pairs grouped by key[i] < n_keys, stably; start [n_keys + 1]:
 * group k is order[start[k] .. start[k+1]). */
static void pairs_group(const uint32_t *key, size_t n, uint32_t n_keys, uint32_t *order,
                        size_t *start)
{
    memset(start, 0, (n_keys + 1) * sizeof *start);
    for (size_t i = 0; i < n; i++)
        start[key[i] + 1]++;
    for (uint32_t k = 0; k < n_keys; k++)
        start[k + 1] += start[k];
    for (size_t i = 0; i < n; i++)
        order[start[key[i]]++] = (uint32_t)i;
    for (uint32_t k = n_keys; k > 0; k--)
        start[k] = start[k - 1];
    start[0] = 0;
}

static int method_train(method *m, const pair_set *ps, const train_cfg *cfg, ppr_err *e)
{
    model *md = (model *)m;
    int rc = pairs_check(md, ps, m->n_users, "training", e);
    if (rc)
        return rc;
    if (ps->n == 0)
        return err_set(e, PPR_EINPUT, "training %s: no training pairs", m->name);
    uint32_t *order = indices_new(ps->n); /* [n] */
    size_t *start = NULL;                 /* [n_users + 1] individual's groups */
    if (!order || (md->kind == KIND_INDIVIDUAL &&
                   !(start = malloc(((size_t)m->n_users + 1) * sizeof *start)))) {
        free(order);
        return err_nomem(e);
    }
    if (md->kind == KIND_INDIVIDUAL) {
        pairs_group(ps->user, ps->n, m->n_users, order, start);
        for (uint32_t u = 0; u < m->n_users && rc == PPR_OK; u++)
            rc = head_train(md, &md->heads[u], ps, order + start[u], start[u + 1] - start[u],
                            batch_plain, cfg, seed_derive(cfg->seed, STREAM_SHUFFLE + u), e);
    } else {
        rc = head_train(md, &md->heads[0], ps, order, ps->n,
                        md->kind == KIND_PRM ? batch_prm : batch_plain, cfg, cfg->seed, e);
    }
    free(start);
    free(order);
    return rc ? err_wrap(e, "training %s", m->name) : PPR_OK;
}

int method_init_from(method *m, const method *src, ppr_err *e)
{
    model *md = (model *)m;
    const model *sd = (const model *)src;
    if (sd->kind != KIND_SHARED || sd->n_heads != 1 || sd->user_dim)
        return err_set(e, PPR_EINPUT, "cannot start %s from \"%s\": not a shared head",
                       m->name, src->name);
    if (sd->base.dim != m->dim || sd->n_hidden != md->n_hidden ||
        memcmp(sd->hidden, md->hidden, sizeof sd->hidden) != 0)
        return err_set(e, PPR_EINPUT, "cannot start %s from \"%s\": its features or hidden "
                       "widths differ", m->name, src->name);
    const mlp *from = &sd->heads[0];
    for (uint32_t h = 0; h < md->n_heads; h++) {
        mlp *to = &md->heads[h];
        for (uint32_t l = 0; l < to->n_layers; l++) {
            uint32_t out = to->dims[l + 1], in = to->dims[l], src_in = from->dims[l];
            /* Row by row: PRM's first layer is wider by the user embedding. */
            for (uint32_t o = 0; o < out; o++)
                memcpy(to->params + to->w_off[l] + (size_t)o * in,
                       from->params + from->w_off[l] + (size_t)o * src_in,
                       src_in * sizeof(float));
            memcpy(to->params + to->b_off[l], from->params + from->b_off[l],
                   out * sizeof(float));
        }
    }
    return PPR_OK;
}

/* ================ scoring ================ */

/* The head that scores user u: -1 when an individual model has none. */
static int64_t head_of(const model *md, uint32_t u)
{
    if (md->kind != KIND_INDIVIDUAL)
        return 0;
    if (u < md->base.n_users)
        return u;
    int64_t j = adapted_find(md, u);
    return j < 0 ? -1 : (int64_t)md->base.n_users + j;
}

static int method_score(method *m, const pair_set *ps, int which, float *r, ppr_err *e)
{
    model *md = (model *)m;
    if (which != 0 && which != 1)
        return err_set(e, PPR_EINTERNAL, "score: which is %d, not 0 or 1", which);
    int rc = pairs_check(md, ps, 0, "scoring", e);
    if (rc || ps->n == 0)
        return rc;
    uint32_t *key = malloc(ps->n * sizeof *key);     /* [n] each pair's head */
    uint32_t *order = malloc(ps->n * sizeof *order); /* [n] pairs grouped by head */
    size_t *start = malloc(((size_t)md->n_heads + 1) * sizeof *start);
    if (!key || !order || !start)
        rc = err_nomem(e);
    for (size_t i = 0; i < ps->n && rc == PPR_OK; i++) {
        int64_t h = head_of(md, ps->user[i]);
        if (h < 0)
            rc = err_set(e, PPR_EINPUT,
                         "scoring individual: user %u (pair %zu) has no head: it is not a "
                         "training user and was not adapted",
                         ps->user[i], i);
        else
            key[i] = (uint32_t)h;
    }
    if (rc == PPR_OK)
        pairs_group(key, ps->n, md->n_heads, order, start);
    batch_in *in = &md->in_rows;
    for (uint32_t h = 0; h < md->n_heads && rc == PPR_OK; h++)
        for (size_t lo = start[h]; lo < start[h + 1] && rc == PPR_OK; lo += SCORE_CHUNK) {
            size_t b = start[h + 1] - lo < SCORE_CHUNK ? start[h + 1] - lo : SCORE_CHUNK;
            const uint32_t *idx = order + lo;
            if ((rc = input_fit(md, b, e)))
                break;
            ids_prompt(ps, idx, b, in->id[BLOCK_PROMPT]);
            ids_response(ps, idx, b, which, in->id[BLOCK_RESPONSE]);
            for (size_t i = 0; md->user_dim && i < b; i++)
                in->id[BLOCK_USER][i] = 1 + ps->user[idx[i]];
            input_build(md, ps, b);
            if (md->user_dim)
                prm_fill(md);
            rc = mlp_forward_blocks(&md->heads[h], &md->ws, in->blocks, blocks_of(md), b, md->v,
                                    e);
            for (size_t i = 0; i < b && rc == PPR_OK; i++)
                r[idx[i]] = md->v[i];
        }
    free(start);
    free(order);
    free(key);
    return rc;
}

int method_accuracy(method *m, const pair_set *pairs, uint64_t *correct, uint64_t *total,
                    ppr_err *e)
{
    memset(correct, 0, pairs->n_users * sizeof *correct);
    memset(total, 0, pairs->n_users * sizeof *total);
    if (pairs->n == 0)
        return PPR_OK;
    float *rc = malloc(pairs->n * sizeof *rc), *rr = malloc(pairs->n * sizeof *rr); /* [n] */
    int ret = rc && rr ? PPR_OK : err_nomem(e);
    if (ret == PPR_OK)
        ret = m->score(m, pairs, 0, rc, e);
    if (ret == PPR_OK)
        ret = m->score(m, pairs, 1, rr, e);
    for (size_t i = 0; i < pairs->n && ret == PPR_OK; i++) {
        total[pairs->user[i]]++;
        correct[pairs->user[i]] += rc[i] > rr[i]; /* a tie (or NaN) is wrong */
    }
    free(rr);
    free(rc);
    return ret;
}

/* ================ adaptation ================ */

/* Make room for adapted user u (slot j of md->adapted, existing or inserted);
 * *fresh is 1 when it was inserted. */
static int adapted_slot(model *md, uint32_t u, uint32_t *j, int *fresh, ppr_err *e)
{
    int64_t found = adapted_find(md, u);
    if (found >= 0) {
        *j = (uint32_t)found;
        *fresh = 0;
        return PPR_OK;
    }
    uint32_t n = md->n_adapted, at = 0;
    while (at < n && md->adapted[at] < u)
        at++;
    uint32_t *ids = realloc(md->adapted, (n + 1) * sizeof *ids);
    if (!ids)
        return err_nomem(e);
    md->adapted = ids;
    memmove(ids + at + 1, ids + at, (n - at) * sizeof *ids);
    ids[at] = u;
    md->n_adapted = n + 1;
    *j = at;
    *fresh = 1;
    return PPR_OK;
}

static void adapted_drop(model *md, uint32_t j)
{
    memmove(md->adapted + j, md->adapted + j + 1, (md->n_adapted - j - 1) * sizeof *md->adapted);
    md->n_adapted--;
}

static int adapt_check(model *md, const pair_set *ps, uint32_t new_user, ppr_err *e)
{
    int rc = pairs_check(md, ps, 0, "adapting", e);
    if (rc)
        return rc;
    if (new_user < md->base.n_users)
        return err_set(e, PPR_EINPUT, "adapting %s: user %u is one of the %u training users",
                       md->base.name, new_user, md->base.n_users);
    for (size_t i = 0; i < ps->n; i++)
        if (ps->user[i] != new_user)
            return err_set(e, PPR_EINPUT, "adapting %s to user %u: pair %zu is user %u's",
                           md->base.name, new_user, i, ps->user[i]);
    return PPR_OK;
}

static int adapt_individual(model *md, const pair_set *ps, uint32_t new_user,
                            const train_cfg *cfg, ppr_err *e)
{
    if (ps->n == 0)
        return err_set(e, PPR_EINPUT, "adapting individual to user %u: no pairs to train on",
                       new_user);
    mlp h;
    int rc = mlp_init(&h, md->in, md->hidden, md->n_hidden, 0,
                      seed_derive(cfg->seed, STREAM_HEAD + new_user), e);
    if (rc)
        return rc;
    uint32_t *subset = indices_new(ps->n); /* [k] */
    if (!subset)
        rc = err_nomem(e);
    if (rc == PPR_OK)
        rc = head_train(md, &h, ps, subset, ps->n, batch_plain, cfg,
                        seed_derive(cfg->seed, STREAM_SHUFFLE + new_user), e);
    free(subset);
    uint32_t j;
    int fresh = 0;
    if (rc == PPR_OK)
        rc = adapted_slot(md, new_user, &j, &fresh, e);
    if (rc == PPR_OK && fresh) {
        mlp *heads = realloc(md->heads, (md->n_heads + 1) * sizeof *heads);
        if (!heads) {
            adapted_drop(md, j);
            rc = err_nomem(e);
        } else {
            md->heads = heads;
            mlp *at = heads + md->base.n_users + j;
            memmove(at + 1, at, (md->n_heads - md->base.n_users - j) * sizeof *at);
            md->n_heads++;
            *at = h;
        }
    } else if (rc == PPR_OK) {
        mlp_release(&md->heads[md->base.n_users + j]);
        md->heads[md->base.n_users + j] = h;
    }
    if (rc)
        mlp_release(&h);
    return rc;
}

static int adapt_prm(model *md, const pair_set *ps, uint32_t new_user, const train_cfg *cfg,
                     ppr_err *e)
{
    size_t ud = md->user_dim;
    float *o = calloc(2 * ud, sizeof *o); /* [user_dim] o_new from 0, then its gradient */
    uint8_t *decay = malloc(ud);          /* [user_dim] all 1: decay pulls o_new to 0 */
    if (!o || !decay) {
        free(o);
        free(decay);
        return err_nomem(e);
    }
    memset(decay, 1, ud);
    uint32_t *subset = indices_new(ps->n); /* [k] */
    int rc = subset ? PPR_OK : err_nomem(e);
    batch_ctx c = {.md = md, .head = &md->heads[0], .ps = ps, .offset = o, .offset_grad = o + ud};
    trainer_task t = {o, o + ud, decay, ud, batch_offset, &c};
    if (rc == PPR_OK)
        rc = trainer_run(&t, subset, ps->n, cfg, seed_derive(cfg->seed, STREAM_SHUFFLE + new_user),
                         e);
    mlp_zero_grad(&md->heads[0]);
    uint32_t j;
    int fresh = 0;
    if (rc == PPR_OK)
        rc = adapted_slot(md, new_user, &j, &fresh, e);
    if (rc == PPR_OK && fresh) {
        float *offsets = realloc(md->offsets, md->n_adapted * ud * sizeof *offsets);
        if (!offsets) {
            adapted_drop(md, j);
            rc = err_nomem(e);
        } else {
            md->offsets = offsets;
            memmove(offsets + (j + 1) * ud, offsets + j * ud,
                    (md->n_adapted - 1 - j) * ud * sizeof *offsets);
        }
    }
    if (rc == PPR_OK)
        memcpy(md->offsets + j * ud, o, ud * sizeof *o);
    free(subset);
    free(decay);
    free(o);
    return rc;
}

static int method_adapt(method *m, const pair_set *ps, uint32_t new_user, const train_cfg *cfg,
                        ppr_err *e)
{
    model *md = (model *)m;
    int rc = adapt_check(md, ps, new_user, e);
    if (rc == PPR_OK && md->kind == KIND_INDIVIDUAL)
        rc = adapt_individual(md, ps, new_user, cfg, e);
    else if (rc == PPR_OK && md->kind == KIND_PRM)
        rc = adapt_prm(md, ps, new_user, cfg, e);
    return rc;
}

/* ================ lifecycle ================ */

static void model_free(method *m)
{
    model *md = (model *)m;
    for (uint32_t h = 0; h < md->n_heads; h++)
        mlp_release(&md->heads[h]);
    free(md->heads);
    free(md->adapted);
    free(md->offsets);
    free(md->decay);
    mlp_ws_release(&md->ws);
    input_release(&md->in_rows);
    free(md->v);
    free(md);
}

static int method_save(const method *m, void **payload, size_t *n, ppr_err *e);

/* A model of method kinds[k] with n_heads heads from mlp_init (head h seeded
 * from seed and h) and, for prm, embeddings N(0, 0.01^2). The shapes are
 * checked by the callers. */
static int model_create(model **out, int k, uint32_t dim, uint32_t n_users, uint32_t n_hidden,
                        const uint32_t *hidden, uint32_t user_dim, double alpha,
                        uint32_t n_heads, uint64_t seed, ppr_err *e)
{
    model *md = calloc(1, sizeof *md);
    if (!md)
        return err_nomem(e);
    md->base = (method){
        .name = method_kinds[k].name,
        .dim = dim,
        .n_users = n_users,
        .train = method_train,
        .score = method_score,
        .adapt = method_adapt,
        .save = method_save,
        .free = model_free,
    };
    md->kind = method_kinds[k].kind;
    md->n_hidden = n_hidden;
    memcpy(md->hidden, hidden, n_hidden * sizeof *hidden);
    md->user_dim = user_dim;
    md->alpha = alpha;
    md->in = 2 * dim + user_dim;
    size_t n_extra = md->kind == KIND_PRM ? ((size_t)n_users + 1) * user_dim : 0;
    int rc = PPR_OK;
    if (!(md->heads = calloc(n_heads, sizeof *md->heads)))
        rc = err_nomem(e);
    for (uint32_t h = 0; h < n_heads && rc == PPR_OK; h++) {
        rc = mlp_init(&md->heads[h], md->in, hidden, n_hidden, n_extra,
                      seed_derive(seed, STREAM_HEAD + h), e);
        if (rc == PPR_OK)
            md->n_heads++;
    }
    if (rc == PPR_OK && !(md->decay = malloc(md->heads[0].n_params)))
        rc = err_nomem(e);
    if (rc == PPR_OK) {
        mlp_decay_mask(&md->heads[0], md->decay);
        if (md->kind == KIND_PRM) {
            rng r;
            rng_seed(&r, seed, STREAM_USERS);
            float *u = prm_users(md);
            for (size_t i = 0; i < n_extra; i++)
                u[i] = (float)(0.01 * rng_normal(&r));
        }
    }
    if (rc) {
        model_free(&md->base);
        return rc;
    }
    *out = md;
    return PPR_OK;
}

/* The architecture cfg or a header describes, for method kinds[k]. */
static int shape_check(int k, uint32_t dim, uint32_t n_users, uint32_t n_hidden,
                       const uint32_t *hidden, uint32_t user_dim, double alpha, const char *what,
                       ppr_err *e)
{
    const char *name = method_kinds[k].name;
    if (dim == 0 || dim > (UINT32_MAX - user_dim) / 2)
        return err_set(e, PPR_EINPUT, "%s: %s takes %u-wide features", what, name, dim);
    if (n_users == 0)
        return err_set(e, PPR_EINPUT, "%s: %s needs at least one user", what, name);
    if (n_hidden > MAX_HIDDEN)
        return err_set(e, PPR_EINPUT, "%s: %u hidden layers, at most %d", what, n_hidden,
                       MAX_HIDDEN);
    for (uint32_t i = 0; i < n_hidden; i++)
        if (hidden[i] == 0)
            return err_set(e, PPR_EINPUT, "%s: hidden layer %u has width 0", what, i);
    if (method_kinds[k].kind == KIND_PRM) {
        if (user_dim == 0)
            return err_set(e, PPR_EINPUT, "%s: prm needs a user embedding width (user_dim)",
                           what);
        if (!(alpha >= 0 && alpha <= 1))
            return err_set(e, PPR_EINPUT, "%s: prm's alpha %g is outside [0, 1]", what, alpha);
    }
    return PPR_OK;
}

int method_new(method **m, const char *name, uint32_t dim, uint32_t n_users,
               const train_cfg *cfg, ppr_err *e)
{
    *m = NULL;
    int k = kind_find(name);
    if (k < 0)
        return err_set(e, PPR_EINPUT,
                       "unknown method \"%s\" (known: pretrained, vanilla, individual, "
                       "conditional, prm)",
                       name);
    int prm = method_kinds[k].kind == KIND_PRM;
    uint32_t user_dim = prm ? cfg->user_dim : 0;
    double alpha = prm ? cfg->alpha : 0;
    int rc = shape_check(k, dim, n_users, cfg->n_hidden, cfg->hidden, user_dim, alpha, "config", e);
    if (rc)
        return rc;
    uint32_t n_heads = method_kinds[k].kind == KIND_INDIVIDUAL ? n_users : 1;
    model *md;
    rc = model_create(&md, k, dim, n_users, cfg->n_hidden, cfg->hidden, user_dim, alpha, n_heads,
                      cfg->seed, e);
    if (rc == PPR_OK)
        *m = &md->base;
    return rc;
}

/* ================ the payload ================ */

static size_t ids_end(uint32_t n_adapted)
{
    return (sizeof(model_header) + (size_t)n_adapted * sizeof(uint32_t) + 7) & ~(size_t)7;
}

/* Floats after the digest: the heads, then prm's adapted offsets. */
static size_t offsets_len(const model *md)
{
    return md->kind == KIND_PRM ? (size_t)md->n_adapted * md->user_dim : 0;
}

static int method_save(const method *m, void **payload, size_t *n, ppr_err *e)
{
    const model *md = (const model *)m;
    model_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, MODEL_MAGIC, 8);
    h.version = MODEL_VERSION;
    strcpy(h.method, m->name);
    h.dim = m->dim;
    h.n_users = m->n_users;
    h.n_hidden = md->n_hidden;
    memcpy(h.hidden, md->hidden, md->n_hidden * sizeof *md->hidden);
    h.user_dim = md->user_dim;
    h.in = md->in;
    h.n_heads = md->n_heads;
    h.n_adapted = md->n_adapted;
    h.alpha = md->alpha;
    h.n_params = md->heads[0].n_params;
    h.n_extra = md->heads[0].n_extra;
    size_t head_bytes = md->heads[0].n_params * sizeof(float);
    size_t at = ids_end(md->n_adapted) + SHA256_LEN;
    size_t size = at + md->n_heads * head_bytes + offsets_len(md) * sizeof(float);
    unsigned char *p = calloc(1, size);
    if (!p)
        return err_nomem(e);
    memcpy(p, &h, sizeof h);
    if (md->n_adapted) /* else adapted may be NULL, which memcpy must never get */
        memcpy(p + sizeof h, md->adapted, md->n_adapted * sizeof *md->adapted);
    sha256_buf(p, ids_end(md->n_adapted), p + ids_end(md->n_adapted));
    for (uint32_t i = 0; i < md->n_heads; i++, at += head_bytes)
        memcpy(p + at, md->heads[i].params, head_bytes);
    if (offsets_len(md))
        memcpy(p + at, md->offsets, offsets_len(md) * sizeof(float));
    *payload = p;
    *n = size;
    return PPR_OK;
}

/* Parameters of one head over the header's shape, or 0 on overflow. */
static uint64_t header_params(const model_header *h)
{
    uint64_t total = h->n_extra, fan_in = h->in;
    for (uint32_t l = 0; l <= h->n_hidden; l++) {
        uint64_t out = l < h->n_hidden ? h->hidden[l] : 1, layer;
        if (__builtin_mul_overflow(fan_in + 1, out, &layer) ||
            __builtin_add_overflow(total, layer, &total))
            return 0;
        fan_in = out;
    }
    return total;
}

/* The header's fields agree with each other (the digest already matched). */
static int header_check(const model_header *h, int *kind, const char *what, ppr_err *e)
{
    if (memchr(h->method, '\0', sizeof h->method) == NULL ||
        (*kind = kind_find(h->method)) < 0)
        return err_set(e, PPR_EINPUT, "'%s': unknown method \"%.*s\" in the model", what,
                       (int)strnlen(h->method, sizeof h->method), h->method);
    int k = *kind, kd = method_kinds[k].kind;
    int rc = shape_check(k, h->dim, h->n_users, h->n_hidden, h->hidden, h->user_dim, h->alpha,
                         what, e);
    if (rc)
        return rc;
    for (uint32_t i = h->n_hidden; i < MAX_HIDDEN; i++)
        if (h->hidden[i])
            return err_set(e, PPR_EINPUT, "'%s': an unused hidden width is set", what);
    if (kd != KIND_PRM && (h->user_dim || h->alpha != 0))
        return err_set(e, PPR_EINPUT, "'%s': %s has a user embedding", what, h->method);
    if (kd == KIND_SHARED && h->n_adapted)
        return err_set(e, PPR_EINPUT, "'%s': %s has adapted users", what, h->method);
    uint64_t n_heads = kd == KIND_INDIVIDUAL ? (uint64_t)h->n_users + h->n_adapted : 1;
    uint64_t n_extra = kd == KIND_PRM ? ((uint64_t)h->n_users + 1) * h->user_dim : 0;
    if (h->in != 2ULL * h->dim + h->user_dim || h->n_heads != n_heads ||
        h->n_extra != n_extra || h->reserved || h->n_params != header_params(h) ||
        h->n_params == 0)
        return err_set(e, PPR_EINPUT, "'%s': the model header's sizes disagree", what);
    return PPR_OK;
}

int method_load(method **m, const void *payload, size_t n, const char *what, ppr_err *e)
{
    *m = NULL;
    const unsigned char *p = payload;
    model_header h;
    if (n < sizeof h || memcmp(p, MODEL_MAGIC, 8) != 0)
        return err_set(e, PPR_EINPUT, "'%s' is not a ppr model (no \"%s\" magic)", what,
                       MODEL_MAGIC);
    memcpy(&h, p, sizeof h);
    if (h.version != MODEL_VERSION)
        return err_set(e, PPR_EINPUT, "'%s': model format version %u, this build reads %d",
                       what, h.version, MODEL_VERSION);
    size_t ids = ids_end(h.n_adapted);
    if (n < ids + SHA256_LEN)
        return err_set(e, PPR_EINPUT, "'%s': the model is truncated (%zu bytes)", what, n);
    unsigned char digest[SHA256_LEN];
    sha256_buf(p, ids, digest);
    if (memcmp(digest, p + ids, SHA256_LEN) != 0)
        return err_set(e, PPR_EINPUT, "'%s': the model header is corrupt (its SHA-256 differs)",
                       what);
    int k;
    int rc = header_check(&h, &k, what, e);
    if (rc)
        return rc;
    int kd = method_kinds[k].kind;
    uint64_t floats, offsets = kd == KIND_PRM ? (uint64_t)h.n_adapted * h.user_dim : 0, bytes;
    if (__builtin_mul_overflow(h.n_heads, h.n_params, &floats) ||
        __builtin_add_overflow(floats, offsets, &floats) ||
        __builtin_mul_overflow(floats, (uint64_t)sizeof(float), &bytes) ||
        bytes != n - ids - SHA256_LEN)
        return err_set(e, PPR_EINPUT,
                       "'%s': the model is %zu bytes, its header describes %llu floats after "
                       "%zu header bytes (truncated or padded)",
                       what, n, (unsigned long long)floats, ids + SHA256_LEN);
    uint32_t *adapted = NULL; /* [n_adapted] */
    if (h.n_adapted && !(adapted = malloc(h.n_adapted * sizeof *adapted)))
        return err_nomem(e);
    if (h.n_adapted)
        memcpy(adapted, p + sizeof h, h.n_adapted * sizeof *adapted);
    for (uint32_t j = 0; j < h.n_adapted && rc == PPR_OK; j++)
        if (adapted[j] < h.n_users || (j && adapted[j] <= adapted[j - 1]))
            rc = err_set(e, PPR_EINPUT, "'%s': adapted user %u is out of order", what,
                         adapted[j]);
    for (uint64_t i = 0; i < floats && rc == PPR_OK; i++) {
        float x;
        memcpy(&x, p + ids + SHA256_LEN + i * sizeof x, sizeof x);
        if (!isfinite(x))
            rc = err_set(e, PPR_EINPUT, "'%s': model parameter %llu is not finite", what,
                         (unsigned long long)i);
    }
    model *md = NULL;
    if (rc == PPR_OK)
        rc = model_create(&md, k, h.dim, h.n_users, h.n_hidden, h.hidden, h.user_dim, h.alpha,
                          h.n_heads, 0, e);
    if (rc) {
        free(adapted);
        return rc;
    }
    if (md->heads[0].n_params != h.n_params) {
        free(adapted);
        model_free(&md->base);
        return err_set(e, PPR_EINTERNAL, "'%s': mlp_init made %zu parameters, the header %llu",
                       what, md->heads[0].n_params, (unsigned long long)h.n_params);
    }
    md->adapted = adapted;
    md->n_adapted = h.n_adapted;
    size_t at = ids + SHA256_LEN, head_bytes = h.n_params * sizeof(float);
    for (uint32_t i = 0; i < h.n_heads; i++, at += head_bytes)
        memcpy(md->heads[i].params, p + at, head_bytes);
    if (offsets) {
        if (!(md->offsets = malloc(offsets * sizeof(float)))) {
            model_free(&md->base);
            return err_nomem(e);
        }
        memcpy(md->offsets, p + at, offsets * sizeof(float));
    }
    *m = &md->base;
    return PPR_OK;
}
