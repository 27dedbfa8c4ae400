/* shared.c: the methods with one Bradley-Terry head for everyone (methods.md
 * sections 1 and 3): pretrained and vanilla see no user information and
 * differ only in what stage 04 trains them on; conditional is the same head,
 * to which the stage passes the "User ID: u" prompt's feature row as each
 * pair's prompt row, so the user enters through the features. Adapting to a
 * new user fits nothing: the same reward for everyone (conditional's new user
 * scores through the prompt rows it is given). Shape: bt_shape alone. */
#include <stdlib.h>
#include <string.h>

#include "common/models/bt.h"
#include "common/models/registry.h"

static void shared_free(method *m)
{
    if (!m)
        return;
    bt_release((bt_model *)m);
    free(m);
}

static int shared_make(method **m, uint32_t dim, uint32_t n_users, uint32_t n_hidden,
                       const uint32_t *hidden, uint64_t seed, const char *what, ppr_err *e)
{
    bt_model *md = calloc(1, sizeof *md);
    if (!md)
        return err_nomem(e);
    int rc = bt_init(md, &shared_ops, dim, n_users, n_hidden, hidden, 0, 0, 1, seed, what, e);
    if (rc) {
        free(md);
        return rc;
    }
    *m = &md->base;
    return PPR_OK;
}

static int shared_create(method **m, uint32_t dim, uint32_t n_users, const cJSON *settings,
                         uint64_t seed, ppr_err *e)
{
    uint32_t n_hidden, hidden[BT_MAX_HIDDEN];
    int rc = bt_hidden_read(settings, &n_hidden, hidden, e);
    return rc ? rc : shared_make(m, dim, n_users, n_hidden, hidden, seed, "settings", e);
}

static int shared_load(method **m, uint32_t dim, uint32_t n_users, const void *shape,
                       size_t shape_bytes, const void *params, size_t n_params,
                       const char *what, ppr_err *e)
{
    bt_shape s;
    int rc = bt_shape_read(shape, shape_bytes, &s, NULL, 0, what, e);
    if (rc == PPR_OK)
        rc = bt_shape_check(&s, dim, 0, what, e);
    if (rc == PPR_OK && (shape_bytes != sizeof s || s.user_dim || s.n_heads != 1 ||
                         n_params != s.head_params))
        rc = err_set(e, PPR_EINPUT, "'%s': the model's shape is malformed", what);
    if (rc == PPR_OK)
        rc = shared_make(m, dim, n_users, s.n_hidden, s.hidden, 0, what, e);
    if (rc == PPR_OK)
        bt_params_load((bt_model *)*m, params);
    return rc;
}

static void shared_body_size(const method *m, size_t *shape_bytes, size_t *n_params)
{
    *shape_bytes = sizeof(bt_shape);
    *n_params = ((const bt_model *)m)->heads[0].n_params;
}

static void shared_save(const method *m, void *shape, float *params)
{
    bt_shape_write((const bt_model *)m, NULL, 0, NULL, 0, shape);
    bt_params_save((const bt_model *)m, params);
}

static int shared_train(method *m, const pair_set *ps, const optim_settings *o, ppr_err *e)
{
    return bt_train_all(m, ps, ps->n, bt_batch_plain, o, e);
}

static int shared_task(method *m, const pair_set *ps, trainer_task *t, ppr_err *e)
{
    return bt_first_task(m, ps, bt_batch_plain, t, e);
}

static int shared_adapt(method *m, const pair_set *ps, uint32_t new_user,
                        const optim_settings *o, ppr_err *e)
{
    (void)o;
    return method_adapt_check(m, ps, new_user, e);
}

const method_ops shared_ops = {
    .create = shared_create,
    .load = shared_load,
    .body_size = shared_body_size,
    .save = shared_save,
    .settings = bt_plain_settings,
    .train = shared_train,
    .score = bt_score,
    .adapt = shared_adapt,
    .init_from = bt_init_from,
    .task = shared_task,
    .free = shared_free,
};
