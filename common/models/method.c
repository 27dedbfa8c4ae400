/* method.c: the method interface's entry points (see method.h): each finds
 * the method's ops, checks what every method shares, and dispatches. */
#include "common/models/method.h"

#include <stdlib.h>
#include <string.h>

#include "common/models/modelfile.h"
#include "common/models/registry.h"

int method_new(method **m, const char *name, uint32_t dim, uint32_t n_users,
               const cJSON *settings, uint64_t seed, ppr_err *e)
{
    *m = NULL;
    const method_ops *ops = registry_find(name);
    if (!ops)
        return err_set(e, PPR_EINPUT, "unknown method \"%s\" (known: %s)", name,
                       registry_list());
    if (strlen(name) >= MODELFILE_NAME_MAX)
        return err_set(e, PPR_EINTERNAL, "method name \"%s\" is too long for a model file",
                       name);
    int rc = ops->create(m, dim, n_users, settings, seed, e);
    if (rc == PPR_OK)
        (*m)->name = registry_name(name);
    return rc;
}

int method_settings_digest(const method *m, unsigned char *out, ppr_err *e)
{
    cJSON *s = m->ops->settings(m);
    char *text = s ? cJSON_PrintUnformatted(s) : NULL;
    cJSON_Delete(s);
    if (!text)
        return err_nomem(e);
    sha256_buf(text, strlen(text), out);
    cJSON_free(text);
    return PPR_OK;
}

int method_save(const method *m, void **payload, size_t *n, ppr_err *e)
{
    modelfile_header h;
    memset(&h, 0, sizeof h);
    strcpy(h.method, m->name);
    h.dim = m->dim;
    h.n_users = m->n_users;
    size_t shape_bytes, n_params;
    m->ops->body_size(m, &shape_bytes, &n_params);
    h.shape_bytes = shape_bytes;
    h.n_params = n_params;
    void *shape;
    float *params;
    int rc = method_settings_digest(m, h.settings, e);
    if (rc == PPR_OK)
        rc = modelfile_new(&h, payload, n, &shape, &params, e);
    if (rc)
        return rc;
    m->ops->save(m, shape, params);
    modelfile_seal(*payload);
    return PPR_OK;
}

int method_input(method **m, stage_run *r, const char *name, uint32_t dim, ppr_err *e)
{
    void *payload;
    size_t n;
    *m = NULL;
    int rc = stage_input(r, name, PAYLOAD_MODEL, &payload, &n, e);
    if (rc)
        return rc;
    rc = method_load(m, payload, n, name, e);
    free(payload);
    if (rc == PPR_OK && (*m)->dim != dim) {
        rc = err_set(e, PPR_EINPUT, "'%s' reads %u-wide features, the features it is given "
                     "have %u", name, (*m)->dim, dim);
        method_free(*m);
        *m = NULL;
    }
    return rc;
}

int method_load(method **m, const void *payload, size_t n, const char *what, ppr_err *e)
{
    *m = NULL;
    modelfile f;
    int rc = modelfile_parse(&f, payload, n, what, e);
    if (rc)
        return rc;
    const method_ops *ops = registry_find(f.h.method);
    if (!ops)
        return err_set(e, PPR_EINPUT, "'%s': unknown method \"%s\" in the model", what,
                       f.h.method);
    if (f.h.dim == 0 || f.h.n_users == 0)
        return err_set(e, PPR_EINPUT, "'%s': the model has no features or no users", what);
    rc = ops->load(m, f.h.dim, f.h.n_users, f.shape, (size_t)f.h.shape_bytes, f.params,
                   (size_t)f.h.n_params, what, e);
    if (rc)
        return rc;
    (*m)->name = registry_name(f.h.method);
    unsigned char digest[SHA256_LEN];
    if ((rc = method_settings_digest(*m, digest, e)) == PPR_OK &&
        memcmp(digest, f.h.settings, SHA256_LEN) != 0)
        rc = err_set(e, PPR_EINPUT, "'%s': the model's settings digest does not match its shape",
                     what);
    if (rc) {
        method_free(*m);
        *m = NULL;
    }
    return rc;
}

void method_free(method *m)
{
    if (m)
        m->ops->free(m);
}

int method_train(method *m, const pair_set *ps, const optim_settings *o, ppr_err *e)
{
    if (ps->n == 0)
        return err_set(e, PPR_EINPUT, "training %s: no training pairs", m->name);
    int rc = m->ops->train(m, ps, o, e);
    return rc ? err_wrap(e, "training %s", m->name) : PPR_OK;
}

int method_score(method *m, const pair_set *ps, int which, float *r, ppr_err *e)
{
    return m->ops->score(m, ps, which, r, e);
}

int method_adapt(method *m, const pair_set *ps, uint32_t new_user, const optim_settings *o,
                 ppr_err *e)
{
    return m->ops->adapt(m, ps, new_user, o, e);
}

int method_init_from(method *m, const method *src, ppr_err *e)
{
    if (!m->ops->init_from)
        return err_set(e, PPR_EINPUT, "%s cannot start from a reference model", m->name);
    return m->ops->init_from(m, src, e);
}

int method_task(method *m, const pair_set *ps, trainer_task *t, ppr_err *e)
{
    if (!m->ops->task)
        return err_set(e, PPR_EINPUT, "%s has no single trainer task", m->name);
    return m->ops->task(m, ps, t, e);
}

int method_serves(const method *m, uint32_t u)
{
    return !m->ops->serves || m->ops->serves(m, u);
}

int method_no_epochs(const char *name)
{
    const method_ops *ops = registry_find(name);
    return ops && ops->no_epochs;
}

int method_pairs_check(const method *m, const pair_set *ps, uint32_t max_user, const char *op,
                       ppr_err *e)
{
    if (ps->dim != m->dim)
        return err_set(e, PPR_EINPUT, "%s: features are %u wide, the %s model takes %u", op,
                       ps->dim, m->name, m->dim);
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

int method_adapt_check(const method *m, const pair_set *ps, uint32_t new_user, ppr_err *e)
{
    int rc = method_pairs_check(m, ps, 0, "adapting", e);
    if (rc)
        return rc;
    if (new_user < m->n_users)
        return err_set(e, PPR_EINPUT, "adapting %s: user %u is one of the %u training users",
                       m->name, new_user, m->n_users);
    for (size_t i = 0; i < ps->n; i++)
        if (ps->user[i] != new_user)
            return err_set(e, PPR_EINPUT, "adapting %s to user %u: pair %zu is user %u's",
                           m->name, new_user, i, ps->user[i]);
    return PPR_OK;
}
