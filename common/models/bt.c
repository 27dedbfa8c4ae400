/* bt.c: the Bradley-Terry heads' common machinery (see bt.h). */
#include "common/models/bt.h"

#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/models/optim.h"
#include "common/models/registry.h"
#include "common/rng.h"

#define SCORE_CHUNK 1024 /* pairs scored per forward pass */

uint64_t bt_seed(uint64_t seed, uint64_t stream)
{
    rng r;
    rng_seed(&r, seed, stream);
    return rng_next(&r);
}

int bt_hidden_read(const cJSON *settings, uint32_t *n_hidden, uint32_t *hidden, ppr_err *e)
{
    const cJSON *head = json_get_obj(settings, "head", "settings", e), *list;
    if (!head || !(list = json_get_arr(head, "hidden", "settings", e)))
        return PPR_EINPUT;
    *n_hidden = 0;
    for (const cJSON *it = list->child; it; it = it->next) {
        if (*n_hidden == BT_MAX_HIDDEN)
            return err_set(e, PPR_EINPUT, "settings: \"head.hidden\" has more than %d widths",
                           BT_MAX_HIDDEN);
        if (!cJSON_IsNumber(it) || !(it->valuedouble >= 1 && it->valuedouble <= UINT32_MAX) ||
            it->valuedouble != (double)(uint32_t)it->valuedouble)
            return err_set(e, PPR_EINPUT, "settings: \"head.hidden\" has a width that is not a "
                           "positive integer");
        hidden[(*n_hidden)++] = (uint32_t)it->valuedouble;
    }
    return PPR_OK;
}

void bt_release(bt_model *md)
{
    for (uint32_t h = 0; h < md->n_heads; h++)
        mlp_release(&md->heads[h]);
    free(md->heads);
    free(md->decay);
    mlp_ws_release(&md->ws);
    batch_release(&md->batch);
    md->heads = NULL;
    md->decay = NULL;
    md->n_heads = 0;
}

int bt_init(bt_model *md, const method_ops *ops, uint32_t dim, uint32_t n_users,
            uint32_t n_hidden, const uint32_t *hidden, uint32_t user_dim, size_t n_extra,
            uint32_t n_heads, uint64_t seed, const char *what, ppr_err *e)
{
    if (dim == 0 || dim > (UINT32_MAX - user_dim) / 2)
        return err_set(e, PPR_EINPUT, "%s: a head takes %u-wide features", what, dim);
    if (n_users == 0)
        return err_set(e, PPR_EINPUT, "%s: a model needs at least one user", what);
    if (n_hidden > BT_MAX_HIDDEN)
        return err_set(e, PPR_EINPUT, "%s: %u hidden layers, at most %d", what, n_hidden,
                       BT_MAX_HIDDEN);
    for (uint32_t i = 0; i < n_hidden; i++)
        if (hidden[i] == 0)
            return err_set(e, PPR_EINPUT, "%s: hidden layer %u has width 0", what, i);
    md->base = (method){.ops = ops, .dim = dim, .n_users = n_users};
    md->n_hidden = n_hidden;
    memcpy(md->hidden, hidden, n_hidden * sizeof *hidden);
    md->in = 2 * dim + user_dim;
    batch_init(&md->batch, dim, user_dim);
    int rc = PPR_OK;
    if (!(md->heads = calloc(n_heads ? n_heads : 1, sizeof *md->heads)))
        rc = err_nomem(e);
    for (uint32_t h = 0; h < n_heads && rc == PPR_OK; h++) {
        rc = mlp_init(&md->heads[h], md->in, hidden, n_hidden, n_extra,
                      bt_seed(seed, BT_STREAM_HEAD + h), e);
        if (rc == PPR_OK)
            md->n_heads++;
    }
    if (rc == PPR_OK && !(md->decay = malloc(md->heads[0].n_params)))
        rc = err_nomem(e);
    if (rc == PPR_OK)
        mlp_decay_mask(&md->heads[0], md->decay);
    if (rc)
        bt_release(md);
    return rc;
}

size_t bt_shape_size(size_t tail_bytes, uint32_t n_ids)
{
    return sizeof(bt_shape) + tail_bytes + (size_t)n_ids * sizeof(uint32_t);
}

void bt_shape_write(const bt_model *md, const void *tail, size_t tail_bytes, const uint32_t *ids,
                    uint32_t n_ids, void *shape)
{
    bt_shape s;
    memset(&s, 0, sizeof s);
    s.n_hidden = md->n_hidden;
    memcpy(s.hidden, md->hidden, md->n_hidden * sizeof *md->hidden);
    s.user_dim = md->batch.user_dim;
    s.n_heads = md->n_heads;
    s.head_params = md->heads[0].n_params;
    unsigned char *p = shape;
    memcpy(p, &s, sizeof s);
    if (tail_bytes)
        memcpy(p + sizeof s, tail, tail_bytes);
    if (n_ids) /* else ids may be NULL, which memcpy must never get */
        memcpy(p + sizeof s + tail_bytes, ids, n_ids * sizeof *ids);
}

int bt_shape_read(const void *shape, size_t shape_bytes, bt_shape *s, void *tail,
                  size_t tail_bytes, const char *what, ppr_err *e)
{
    if (shape_bytes < sizeof *s + tail_bytes)
        return err_set(e, PPR_EINPUT, "'%s': the model's shape is truncated", what);
    memcpy(s, shape, sizeof *s);
    if (tail_bytes)
        memcpy(tail, (const unsigned char *)shape + sizeof *s, tail_bytes);
    return PPR_OK;
}

int bt_shape_check(const bt_shape *s, uint32_t dim, uint64_t n_extra, const char *what,
                   ppr_err *e)
{
    if (s->n_hidden > BT_MAX_HIDDEN || s->reserved)
        return err_set(e, PPR_EINPUT, "'%s': the model's shape is malformed", what);
    for (uint32_t i = s->n_hidden; i < BT_MAX_HIDDEN; i++)
        if (s->hidden[i])
            return err_set(e, PPR_EINPUT, "'%s': an unused hidden width is set", what);
    uint64_t total = n_extra, fan_in = 2 * (uint64_t)dim + s->user_dim;
    for (uint32_t l = 0; l <= s->n_hidden; l++) {
        uint64_t out = l < s->n_hidden ? s->hidden[l] : 1, layer;
        if (__builtin_mul_overflow(fan_in + 1, out, &layer) ||
            __builtin_add_overflow(total, layer, &total))
            return err_set(e, PPR_EINPUT, "'%s': the model's shape is malformed", what);
        fan_in = out;
    }
    if (total != s->head_params)
        return err_set(e, PPR_EINPUT, "'%s': the model's sizes disagree", what);
    return PPR_OK;
}

void bt_params_save(const bt_model *md, float *params)
{
    size_t n = md->heads[0].n_params;
    for (uint32_t h = 0; h < md->n_heads; h++)
        memcpy(params + h * n, md->heads[h].params, n * sizeof *params);
}

void bt_params_load(bt_model *md, const void *params)
{
    size_t n = md->heads[0].n_params;
    for (uint32_t h = 0; h < md->n_heads; h++)
        memcpy(md->heads[h].params, (const unsigned char *)params + h * n * sizeof(float),
               n * sizeof(float));
}

/* [...]: the hidden widths, the settings every BT method has. */
static cJSON *bt_hidden_json(const bt_model *md)
{
    cJSON *hidden = cJSON_CreateArray();
    for (uint32_t i = 0; i < md->n_hidden; i++)
        cJSON_AddItemToArray(hidden, cJSON_CreateNumber(md->hidden[i]));
    return hidden;
}

cJSON *bt_plain_settings(const method *m)
{
    cJSON *s = cJSON_CreateObject(), *head = cJSON_AddObjectToObject(s, "head");
    cJSON_AddItemToObject(head, "hidden", bt_hidden_json((const bt_model *)m));
    return s;
}

/* ---- training ---------------------------------------------------------------- */

trainer_task bt_task(bt_model *md, mlp *h, const pair_set *ps, trainer_batch_fn fn)
{
    md->ctx = (bt_ctx){.md = md, .head = h, .ps = ps};
    return (trainer_task){h->params, h->grads, md->decay, h->n_params, fn, &md->ctx};
}

int bt_batch_plain(void *vctx, const uint32_t *idx, size_t b, ppr_err *e)
{
    bt_ctx *c = vctx;
    batch_in *in = &c->md->batch;
    int rc = batch_pairs(in, c->ps, idx, b, e);
    if (rc)
        return rc;
    batch_build(in, c->ps, 2 * b);
    float *r = in->v, *dr = in->v + 2 * b; /* [2b] each */
    rc = mlp_forward_blocks(c->head, &c->md->ws, in->blocks, BLOCK_USER, 2 * b, r, e);
    if (rc)
        return rc;
    bt_loss(r, r + b, NULL, b, dr, dr + b);
    return mlp_backward_blocks(c->head, &c->md->ws, in->blocks, BLOCK_USER, 2 * b, dr, e);
}

int bt_head_train(bt_model *md, mlp *h, const pair_set *ps, const uint32_t *subset, size_t n,
                  trainer_batch_fn fn, const optim_settings *o, uint64_t seed, ppr_err *e)
{
    trainer_task t = bt_task(md, h, ps, fn);
    return trainer_run(&t, subset, n, o, seed, e);
}

int bt_train_all(method *m, const pair_set *ps, size_t n_rows, trainer_batch_fn fn,
                 const optim_settings *o, ppr_err *e)
{
    bt_model *md = (bt_model *)m;
    int rc = method_pairs_check(&md->base, ps, m->n_users, "training", e);
    if (rc)
        return rc;
    uint32_t *order = pairs_indices(n_rows); /* [n_rows] */
    if (!order)
        return err_nomem(e);
    rc = bt_head_train(md, &md->heads[0], ps, order, n_rows, fn, o, o->seed, e);
    free(order);
    return rc;
}

int bt_first_task(method *m, const pair_set *ps, trainer_batch_fn fn, trainer_task *t,
                  ppr_err *e)
{
    bt_model *md = (bt_model *)m;
    int rc = method_pairs_check(&md->base, ps, m->n_users, "method_task", e);
    if (rc == PPR_OK)
        *t = bt_task(md, &md->heads[0], ps, fn);
    return rc;
}

int bt_init_from(method *m, const method *src, ppr_err *e)
{
    bt_model *md = (bt_model *)m;
    if (src->ops != &shared_ops)
        return err_set(e, PPR_EINPUT, "cannot start %s from \"%s\": not a shared head",
                       m->name, src->name);
    const bt_model *sd = (const bt_model *)src;
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

/* ---- scoring ------------------------------------------------------------------- */

int bt_score(method *m, const pair_set *ps, int which, float *r, ppr_err *e)
{
    bt_model *md = (bt_model *)m;
    if (which != 0 && which != 1)
        return err_set(e, PPR_EINTERNAL, "score: which is %d, not 0 or 1", which);
    int rc = method_pairs_check(&md->base, ps, 0, "scoring", e);
    if (rc || ps->n == 0)
        return rc;
    uint32_t *key = malloc(ps->n * sizeof *key);     /* [n] each pair's head */
    uint32_t *order = malloc(ps->n * sizeof *order); /* [n] pairs grouped by head */
    size_t *start = malloc(((size_t)md->n_heads + 1) * sizeof *start);
    if (!key || !order || !start)
        rc = err_nomem(e);
    for (size_t i = 0; i < ps->n && rc == PPR_OK; i++) {
        int64_t h = md->head_of ? md->head_of(md, ps->user[i]) : 0;
        if (h < 0)
            rc = err_set(e, PPR_EINPUT,
                         "scoring %s: user %u (pair %zu) has no head: it is not a training "
                         "user and was not adapted",
                         m->name, ps->user[i], i);
        else
            key[i] = (uint32_t)h;
    }
    if (rc == PPR_OK)
        pairs_group(key, ps->n, md->n_heads, order, start);
    batch_in *in = &md->batch;
    for (uint32_t h = 0; h < md->n_heads && rc == PPR_OK; h++)
        for (size_t lo = start[h]; lo < start[h + 1] && rc == PPR_OK; lo += SCORE_CHUNK) {
            size_t b = start[h + 1] - lo < SCORE_CHUNK ? start[h + 1] - lo : SCORE_CHUNK;
            const uint32_t *idx = order + lo;
            if ((rc = batch_fit(in, b, e)))
                break;
            batch_ids_prompt(ps, idx, b, in->id[BLOCK_PROMPT]);
            batch_ids_response(ps, idx, b, which, in->id[BLOCK_RESPONSE]);
            for (size_t i = 0; md->users && i < b; i++)
                in->id[BLOCK_USER][i] = 1 + ps->user[idx[i]];
            batch_build(in, ps, b);
            const float *wr = NULL;
            if (md->users && (rc = md->users(md, b, &wr, e)))
                break;
            rc = mlp_forward_rows(&md->heads[h], &md->ws, in->blocks, batch_blocks(in), b, wr,
                                  in->v, e);
            for (size_t i = 0; i < b && rc == PPR_OK; i++)
                r[idx[i]] = in->v[i];
        }
    free(start);
    free(order);
    free(key);
    return rc;
}

/* ---- adapted users ------------------------------------------------------------- */

int64_t bt_adapted_find(const uint32_t *ids, uint32_t n, uint32_t u)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ids[mid] == u)
            return (int64_t)mid;
        if (ids[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

int bt_adapted_slot(uint32_t **ids, uint32_t *n, uint32_t u, uint32_t *j, int *fresh,
                    ppr_err *e)
{
    int64_t found = bt_adapted_find(*ids, *n, u);
    if (found >= 0) {
        *j = (uint32_t)found;
        *fresh = 0;
        return PPR_OK;
    }
    uint32_t at = 0;
    while (at < *n && (*ids)[at] < u)
        at++;
    uint32_t *grown = realloc(*ids, (*n + 1) * sizeof *grown);
    if (!grown)
        return err_nomem(e);
    *ids = grown;
    memmove(grown + at + 1, grown + at, (*n - at) * sizeof *grown);
    grown[at] = u;
    (*n)++;
    *j = at;
    *fresh = 1;
    return PPR_OK;
}

int bt_adapted_put(uint32_t **ids, uint32_t *n, uint32_t u, float **rows, size_t width,
                   const float *row, int *fresh, ppr_err *e)
{
    uint32_t j;
    int rc = bt_adapted_slot(ids, n, u, &j, fresh, e);
    if (rc == PPR_OK && *fresh) {
        float *grown = realloc(*rows, (size_t)*n * width * sizeof *grown);
        if (!grown) {
            bt_adapted_drop(*ids, n, j);
            return err_nomem(e);
        }
        *rows = grown;
        memmove(grown + (j + 1) * width, grown + j * width,
                (*n - 1 - j) * width * sizeof *grown);
    }
    if (rc == PPR_OK)
        memcpy(*rows + j * width, row, width * sizeof *row);
    return rc;
}

void bt_adapted_drop(uint32_t *ids, uint32_t *n, uint32_t j)
{
    memmove(ids + j, ids + j + 1, (*n - j - 1) * sizeof *ids);
    (*n)--;
}

int bt_adapted_read(const void *src, uint32_t n, uint32_t n_users, uint32_t **out,
                    const char *what, ppr_err *e)
{
    *out = NULL;
    if (n == 0)
        return PPR_OK;
    uint32_t *ids = malloc(n * sizeof *ids); /* [n] */
    if (!ids)
        return err_nomem(e);
    memcpy(ids, src, n * sizeof *ids);
    for (uint32_t j = 0; j < n; j++)
        if (ids[j] < n_users || (j && ids[j] <= ids[j - 1])) {
            uint32_t bad = ids[j];
            free(ids);
            return err_set(e, PPR_EINPUT, "'%s': adapted user %u is out of order", what, bad);
        }
    *out = ids;
    return PPR_OK;
}
