/* individual.c: Individual RM (methods.md section 2): one Bradley-Terry head
 * per training user, trained on that user's pairs only. A user with no pairs
 * keeps its untrained head (the caller reports the user); its scores are the
 * untrained head's, defined but meaningless. Adapting to a new user trains a
 * fresh head (seeded by the optimizer seed and the user) on its k pairs; k = 0
 * is refused. Adapting a user again replaces its head.
 *
 * Shape: bt_shape, uint32 n_adapted, uint32 0, uint32 ids[n_adapted] (the
 * adapted users, increasing, each >= n_users). Params: the heads, n_users
 * training users' then one per adapted user in ids order. */
#include <stdlib.h>
#include <string.h>

#include "common/models/bt.h"
#include "common/models/registry.h"

typedef struct {
    bt_model bt;
    uint32_t *adapted; /* [n_adapted] users fitted by adapt, strictly increasing */
    uint32_t n_adapted;
} individual;


static int64_t individual_head_of(const bt_model *md, uint32_t u)
{
    const individual *iv = (const individual *)md;
    if (u < md->base.n_users)
        return u;
    int64_t j = bt_adapted_find(iv->adapted, iv->n_adapted, u);
    return j < 0 ? -1 : (int64_t)md->base.n_users + j;
}

static void individual_free(method *m)
{
    if (!m)
        return;
    individual *iv = (individual *)m;
    bt_release(&iv->bt);
    free(iv->adapted);
    free(iv);
}

static int individual_make(method **m, uint32_t dim, uint32_t n_users, uint32_t n_hidden,
                           const uint32_t *hidden, uint32_t n_heads, uint64_t seed,
                           const char *what, ppr_err *e)
{
    individual *iv = calloc(1, sizeof *iv);
    if (!iv)
        return err_nomem(e);
    int rc = bt_init(&iv->bt, &individual_ops, dim, n_users, n_hidden, hidden, 0, 0, n_heads,
                     seed, what, e);
    if (rc) {
        free(iv);
        return rc;
    }
    iv->bt.head_of = individual_head_of;
    *m = &iv->bt.base;
    return PPR_OK;
}

static int individual_create(method **m, uint32_t dim, uint32_t n_users, const cJSON *settings,
                             uint64_t seed, ppr_err *e)
{
    uint32_t n_hidden, hidden[BT_MAX_HIDDEN];
    int rc = bt_hidden_read(settings, &n_hidden, hidden, e);
    return rc ? rc
              : individual_make(m, dim, n_users, n_hidden, hidden, n_users, seed, "settings", e);
}

/* The shape after bt_shape. */
typedef struct {
    uint32_t n_adapted, reserved;
} individual_tail;

static int individual_load(method **m, uint32_t dim, uint32_t n_users, const void *shape,
                           size_t shape_bytes, const void *params, size_t n_params,
                           const char *what, ppr_err *e)
{
    bt_shape s;
    individual_tail t;
    const unsigned char *p = shape;
    int rc = bt_shape_read(shape, shape_bytes, &s, &t, sizeof t, what, e);
    if (rc == PPR_OK)
        rc = bt_shape_check(&s, dim, 0, what, e);
    if (rc)
        return rc;
    uint64_t floats;
    if (s.user_dim || t.reserved || shape_bytes != bt_shape_size(sizeof t, t.n_adapted) ||
        (uint64_t)s.n_heads != (uint64_t)n_users + t.n_adapted ||
        __builtin_mul_overflow((uint64_t)s.n_heads, s.head_params, &floats) || floats != n_params)
        return err_set(e, PPR_EINPUT, "'%s': the model's shape is malformed", what);
    uint32_t *adapted;
    if ((rc = bt_adapted_read(p + sizeof s + sizeof t, t.n_adapted, n_users, &adapted, what, e)))
        return rc;
    if ((rc = individual_make(m, dim, n_users, s.n_hidden, s.hidden, s.n_heads, 0, what, e))) {
        free(adapted);
        return rc;
    }
    individual *iv = (individual *)*m;
    iv->adapted = adapted;
    iv->n_adapted = t.n_adapted;
    bt_params_load(&iv->bt, params);
    return PPR_OK;
}

static void individual_body_size(const method *m, size_t *shape_bytes, size_t *n_params)
{
    const individual *iv = (const individual *)m;
    *shape_bytes = bt_shape_size(sizeof(individual_tail), iv->n_adapted);
    *n_params = (size_t)iv->bt.n_heads * iv->bt.heads[0].n_params;
}

static void individual_save(const method *m, void *shape, float *params)
{
    const individual *iv = (const individual *)m;
    individual_tail t = {iv->n_adapted, 0};
    bt_shape_write(&iv->bt, &t, sizeof t, iv->adapted, iv->n_adapted, shape);
    bt_params_save(&iv->bt, params);
}

static int individual_train(method *m, const pair_set *ps, const optim_settings *o, ppr_err *e)
{
    bt_model *md = (bt_model *)m;
    int rc = method_pairs_check(&md->base, ps, m->n_users, "training", e);
    if (rc)
        return rc;
    uint32_t *order = malloc((ps->n ? ps->n : 1) * sizeof *order); /* [n] */
    size_t *start = malloc(((size_t)m->n_users + 1) * sizeof *start); /* [n_users + 1] */
    if (!order || !start)
        rc = err_nomem(e);
    if (rc == PPR_OK)
        pairs_group(ps->user, ps->n, m->n_users, order, start);
    for (uint32_t u = 0; u < m->n_users && rc == PPR_OK; u++)
        rc = bt_head_train(md, &md->heads[u], ps, order + start[u], start[u + 1] - start[u],
                           bt_batch_plain, o, bt_seed(o->seed, BT_STREAM_SHUFFLE + u), e);
    free(start);
    free(order);
    return rc;
}

static int individual_task(method *m, const pair_set *ps, trainer_task *t, ppr_err *e)
{
    return bt_first_task(m, ps, bt_batch_plain, t, e);
}

static int individual_adapt(method *m, const pair_set *ps, uint32_t new_user,
                            const optim_settings *o, ppr_err *e)
{
    individual *iv = (individual *)m;
    bt_model *md = &iv->bt;
    int rc = method_adapt_check(&md->base, ps, new_user, e);
    if (rc)
        return rc;
    if (ps->n == 0)
        return err_set(e, PPR_EINPUT, "adapting individual to user %u: no pairs to train on",
                       new_user);
    mlp h;
    if ((rc = mlp_init(&h, md->in, md->hidden, md->n_hidden, 0,
                       bt_seed(o->seed, BT_STREAM_HEAD + new_user), e)))
        return rc;
    uint32_t *subset = pairs_indices(ps->n); /* [k] */
    if (!subset)
        rc = err_nomem(e);
    if (rc == PPR_OK)
        rc = bt_head_train(md, &h, ps, subset, ps->n, bt_batch_plain, o,
                           bt_seed(o->seed, BT_STREAM_SHUFFLE + new_user), e);
    free(subset);
    uint32_t j;
    int fresh = 0;
    if (rc == PPR_OK)
        rc = bt_adapted_slot(&iv->adapted, &iv->n_adapted, new_user, &j, &fresh, e);
    if (rc == PPR_OK && fresh) {
        mlp *heads = realloc(md->heads, (md->n_heads + 1) * sizeof *heads);
        if (!heads) {
            bt_adapted_drop(iv->adapted, &iv->n_adapted, j);
            rc = err_nomem(e);
        } else {
            md->heads = heads;
            mlp *at = heads + m->n_users + j;
            memmove(at + 1, at, (md->n_heads - m->n_users - j) * sizeof *at);
            md->n_heads++;
            *at = h;
        }
    } else if (rc == PPR_OK) {
        mlp_release(&md->heads[m->n_users + j]);
        md->heads[m->n_users + j] = h;
    }
    if (rc)
        mlp_release(&h);
    return rc;
}

const method_ops individual_ops = {
    .create = individual_create,
    .load = individual_load,
    .body_size = individual_body_size,
    .save = individual_save,
    .settings = bt_plain_settings,
    .train = individual_train,
    .score = bt_score,
    .adapt = individual_adapt,
    .init_from = bt_init_from,
    .task = individual_task,
    .free = individual_free,
};
