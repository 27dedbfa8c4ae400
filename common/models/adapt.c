/* adapt.c: new users with k pairs (see adapt.h; rules in docs/adapt.md). */
#include "common/models/adapt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/models/dataset.h"
#include "common/models/evaluate.h"
#include "common/models/metrics_stage.h"
#include "common/models/stats.h"
#include "common/rng.h"

#define ADAPT_MAX_SEEDS 16
#define ADAPT_MAX_K 16

/* ---- draws and the retrieve-similar-user rule ---------------------------------- */

void adapt_draw(uint32_t *order, size_t n, uint64_t draw, uint32_t user)
{
    rng r;
    rng_seed(&r, ADAPT_DRAW_SEED, draw << 32 | user);
    for (size_t i = 0; i < n; i++)
        order[i] = (uint32_t)i;
    for (size_t i = 0; i + 1 < n; i++) {
        size_t j = i + (size_t)rng_below(&r, n - i);
        uint32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

/* Compare the first n fields of keys x and y. */
static int key_cmp_n(const uint32_t *x, const uint32_t *y, int n)
{
    for (int i = 0; i < n; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

static int key_cmp(const void *a, const void *b)
{
    return key_cmp_n(a, b, 4);
}

/* key [4] of the pair (prompt, chosen, rejected) of user u. */
static void key_of(const uint32_t *rows, uint32_t u, uint32_t *key)
{
    int reversed = rows[1] > rows[2];
    key[0] = rows[0];
    key[1] = reversed ? rows[2] : rows[1];
    key[2] = reversed ? rows[1] : rows[2];
    key[3] = u << 1 | (uint32_t)reversed;
}

int adapt_known_init(adapt_known *k, const pairs_buf *b, uint32_t n_users, ppr_err *e)
{
    memset(k, 0, sizeof *k);
    if (!(k->key = malloc((b->n ? b->n : 1) * sizeof *k->key)))
        return err_nomem(e);
    for (size_t i = 0; i < b->n; i++) {
        if (b->user[i] >= n_users || b->user[i] > UINT32_MAX >> 1) {
            adapt_known_release(k);
            return err_set(e, PPR_EINTERNAL, "known pair %zu: user %u of %u", i, b->user[i],
                           n_users);
        }
        key_of(b->rows + 3 * i, b->user[i], k->key[i]);
    }
    qsort(k->key, b->n, sizeof *k->key, key_cmp);
    k->n = b->n;
    k->n_users = n_users;
    return PPR_OK;
}

void adapt_known_release(adapt_known *k)
{
    free(k->key);
    memset(k, 0, sizeof *k);
}

/* Agreements minus disagreements per user (score [n_users]) and whether a
 * user labelled any of kp's pairs (has [n_users]); returns 1 when one did. */
static int shared_votes(const adapt_known *known, const pair_set *kp, int64_t *score,
                        uint8_t *has)
{
    int any = 0;
    for (size_t i = 0; i < kp->n; i++) {
        uint32_t want[4];
        key_of(kp->rows + 3 * i, 0, want);
        size_t lo = 0, hi = known->n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (key_cmp_n(known->key[mid], want, 3) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (size_t j = lo; j < known->n; j++) {
            const uint32_t *k = known->key[j];
            if (key_cmp_n(k, want, 3) != 0)
                break;
            uint32_t u = k[3] >> 1;
            score[u] += (k[3] & 1) == (want[3] & 1) ? 1 : -1;
            has[u] = 1;
            any = 1;
        }
    }
    return any;
}

int adapt_agreement(method *ind, const pair_set *ps, uint32_t n_users, uint8_t *agree,
                    ppr_err *e)
{
    if (ind->n_users != n_users)
        return err_set(e, PPR_EINPUT, "retrieving a similar user: the %s model has %u users, "
                       "the labelled pairs %u", ind->name, ind->n_users, n_users);
    size_t n = (size_t)n_users * ps->n;
    uint32_t *user = malloc((n ? n : 1) * sizeof *user);     /* [n_users * n] */
    uint32_t *rows = malloc((n ? n : 1) * 3 * sizeof *rows); /* [n_users * n][3] */
    float *r = malloc((n ? n : 1) * 2 * sizeof *r);          /* [2][n_users * n] */
    int rc = rows && user && r ? PPR_OK : err_nomem(e);
    for (size_t i = 0; i < ps->n && rc == PPR_OK; i++)
        for (uint32_t u = 0; u < n_users; u++) {
            memcpy(rows + 3 * (i * n_users + u), ps->rows + 3 * i, 3 * sizeof *rows);
            user[i * n_users + u] = u;
        }
    pair_set all = *ps;
    all.rows = rows;
    all.user = user;
    all.n = n;
    all.n_users = n_users;
    if (rc == PPR_OK && (rc = method_score(ind, &all, 0, r, e)) == PPR_OK)
        rc = method_score(ind, &all, 1, r + n, e);
    for (size_t i = 0; i < n && rc == PPR_OK; i++)
        agree[i] = r[i] > r[n + i];
    free(rows);
    free(user);
    free(r);
    return rc;
}

int adapt_similar(const adapt_known *known, const pair_set *kp, const uint8_t *agree,
                  adapt_match *out, ppr_err *e)
{
    uint32_t nu = known->n_users;
    int64_t *score = calloc(nu ? nu : 1, sizeof *score); /* [n_users] */
    uint8_t *has = calloc(nu ? nu : 1, 1);               /* [n_users] */
    if (!score || !has) {
        free(score);
        free(has);
        return err_nomem(e);
    }
    out->rule = shared_votes(known, kp, score, has) ? ADAPT_RULE_SHARED : ADAPT_RULE_PREDICTIONS;
    if (out->rule == ADAPT_RULE_PREDICTIONS) {
        memset(score, 0, nu * sizeof *score);
        memset(has, 1, nu);
        for (size_t i = 0; i < kp->n; i++)
            for (uint32_t u = 0; u < nu; u++)
                score[u] += agree[i * nu + u];
    }
    int found = 0;
    for (uint32_t u = 0; u < nu; u++)
        if (has[u] && (!found || score[u] > score[out->user])) {
            out->user = u;
            found = 1;
        }
    int rc = found ? PPR_OK
                   : err_set(e, PPR_EINPUT, "retrieving a similar user: there are no existing "
                             "users");
    if (rc == PPR_OK)
        out->score = (double)score[out->user];
    free(score);
    free(has);
    return rc;
}

/* ---- the instance's setup and its new users ------------------------------------- */

enum row_kind {
    ROW_VANILLA,  /* the Vanilla RM as it is: no adaptation */
    ROW_SIMILAR,  /* the retrieved user's head of the Individual RM */
    ROW_FINETUNE, /* the Vanilla RM fine-tuned on the k pairs */
    ROW_CONTEXT,  /* method_adapt: GPO and VPL read the k pairs, PRM fits an embedding */
    ROW_UPPER     /* an Individual RM trained on the new users' whole pools */
};

typedef struct {
    const char *row, *dataset;
    int kind, n_seeds, n_k;
    uint64_t seeds[ADAPT_MAX_SEEDS];
    int64_t k[ADAPT_MAX_K], draws, size;
    optim_settings fit; /* the head's optimizer, under the row's "fit" section */
    /* ROW_UPPER: the epochs to choose from on a validation part of the
     * pools, of validation_fraction of their pairs, held out by prompt */
    int64_t choices[ADAPT_MAX_K];
    int n_choices;
    double validation_fraction;
} adapt_setup;

static int row_kind_of(const char *row, const char *w, int *kind, ppr_err *e)
{
    static const struct {
        const char *name;
        int kind;
    } rows[] = {{"vanilla", ROW_VANILLA}, {"similar", ROW_SIMILAR}, {"finetune", ROW_FINETUNE},
                {"gpo", ROW_CONTEXT},     {"vpl", ROW_CONTEXT},     {"prm", ROW_CONTEXT},
                {"upper", ROW_UPPER}};
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
        if (strcmp(row, rows[i].name) == 0) {
            *kind = rows[i].kind;
            return PPR_OK;
        }
    return err_set(e, PPR_EINPUT, "'%s': \"%s\" is not a row of the new-user table (vanilla, "
                   "similar, finetune, gpo, vpl, prm, upper)", w, row);
}

static int int_list(const cJSON *c, const char *key, const char *w, int64_t *out, int max,
                    int64_t lo, int *n, ppr_err *e)
{
    const cJSON *arr = json_get_arr(c, key, w, e);
    if (!arr)
        return PPR_EINPUT;
    *n = 0;
    for (const cJSON *it = arr->child; it; it = it->next) {
        if (*n == max || !cJSON_IsNumber(it) || it->valuedouble < (double)lo ||
            it->valuedouble > 1e9 || it->valuedouble != floor(it->valuedouble))
            return err_set(e, PPR_EINPUT, "'%s': \"%s\" must hold 1 to %d integers >= %lld",
                           w, key, max, (long long)lo);
        out[(*n)++] = (int64_t)it->valuedouble;
    }
    return *n ? PPR_OK
              : err_set(e, PPR_EINPUT, "'%s': \"%s\" must hold 1 to %d integers >= %lld", w, key,
                        max, (long long)lo);
}

static int setup_read(stage_run *r, adapt_setup *s, ppr_err *e)
{
    memset(s, 0, sizeof *s);
    const char *w = r->slice_path;
    const cJSON *c = r->config, *head;
    int64_t seeds[ADAPT_MAX_SEEDS], sizes[16];
    int n_sizes;
    if (json_get_str(c, "method", w, &s->row, e) || json_get_str(c, "dataset", w, &s->dataset, e) ||
        row_kind_of(s->row, w, &s->kind, e) ||
        int_list(c, "seeds", w, seeds, ADAPT_MAX_SEEDS, 0, &s->n_seeds, e) ||
        int_list(c, "k", w, s->k, ADAPT_MAX_K, 1, &s->n_k, e) ||
        int_list(c, "sizes", w, sizes, 16, 1, &n_sizes, e) ||
        json_get_int(c, "draws", w, &s->draws, e) || !(head = json_get_obj(c, "head", w, e)) ||
        optim_settings_read(&s->fit, head, w, e))
        return PPR_EINPUT;
    for (int i = 0; i < s->n_seeds; i++)
        s->seeds[i] = (uint64_t)seeds[i];
    for (int i = 0; i < n_sizes; i++)
        s->size = sizes[i] > s->size ? sizes[i] : s->size;
    if (s->draws < 1 || s->draws > 1000)
        return err_set(e, PPR_EINPUT, "'%s': \"draws\" must be in [1, 1000]", w);
    const cJSON *fit = cJSON_GetObjectItemCaseSensitive(c, "fit");
    int fits = s->kind == ROW_FINETUNE || s->kind == ROW_UPPER || strcmp(s->row, "prm") == 0;
    if (fits && !cJSON_IsObject(fit))
        return err_set(e, PPR_EINPUT, "'%s': row \"%s\" fits parameters and needs its "
                       "settings, \"adapt.%s\" (epochs and optimizer)", w, s->row, s->row);
    int64_t epochs = 0;
    if (fits && optim_settings_override(&s->fit, fit, w, e))
        return PPR_EINPUT;
    if (s->kind == ROW_UPPER)
        return int_list(fit, "epochs", w, s->choices, ADAPT_MAX_K, 1, &s->n_choices, e) ||
                       json_get_num(c, "validation_fraction", w, &s->validation_fraction, e)
                   ? PPR_EINPUT
                   : PPR_OK;
    if (fits && json_get_int(fit, "epochs", w, &epochs, e))
        return PPR_EINPUT;
    if (fits && (epochs < 1 || epochs > 100000))
        return err_set(e, PPR_EINPUT, "'%s': \"fit.epochs\" must be in [1, 100000]", w);
    s->fit.epochs = (uint32_t)epochs;
    return PPR_OK;
}

/* The new users: pool [n] (adaptation pool) and test [n] (held out by
 * prompt), user j being the dataset's user first + j. */
typedef struct {
    uint32_t n, first;
    pairs_buf *pool, *test;
} new_users;

static void new_users_release(new_users *nu)
{
    for (uint32_t j = 0; j < nu->n && nu->pool; j++) {
        pairs_release(&nu->pool[j]);
        pairs_release(&nu->test[j]);
    }
    free(nu->pool);
    free(nu->test);
    memset(nu, 0, sizeof *nu);
}

static int new_users_load(const dataset_in *d, new_users *nu, ppr_err *e)
{
    memset(nu, 0, sizeof *nu);
    nu->first = prefs_n_main(&d->v);
    nu->n = d->v.h->n_users - nu->first;
    if (!nu->n)
        return err_set(e, PPR_EINPUT, "input \"dataset\" has no new users: its source must "
                       "hold some out (a simulator's \"new_users\", Personal-LLM's \"new_users\" "
                       "option)");
    nu->pool = calloc(nu->n, sizeof *nu->pool);
    nu->test = calloc(nu->n, sizeof *nu->test);
    pairs_buf all[2] = {{0}, {0}};
    int rc = nu->pool && nu->test ? PPR_OK : err_nomem(e);
    if (rc == PPR_OK && (rc = dataset_new_user_pairs(d, PREFS_TRAIN, &all[0], e)) == PPR_OK)
        rc = dataset_new_user_pairs(d, PREFS_TEST, &all[1], e);
    for (int s = 0; s < 2 && rc == PPR_OK; s++)
        for (size_t i = 0; i < all[s].n && rc == PPR_OK; i++) {
            uint32_t j = all[s].user[i] - nu->first;
            rc = pairs_push(s ? &nu->test[j] : &nu->pool[j], all[s].rows + 3 * i, j,
                            all[s].prompt[i], all[s].p[i], e);
        }
    pairs_release(&all[0]);
    pairs_release(&all[1]);
    if (rc)
        new_users_release(nu);
    return rc;
}

/* ---- measuring one adaptation ------------------------------------------------- */

int adapt_accuracy(method *m, const pairs_buf *test, const float *matrix,
                   const unsigned char *matrix_id, uint32_t dim, uint32_t as, double *acc,
                   ppr_err *e)
{
    size_t n = test->n;
    uint32_t *rows = malloc((n ? 2 * n : 1) * 3 * sizeof *rows); /* [2n][3] */
    uint32_t *user = malloc((n ? 2 * n : 1) * sizeof *user);     /* [2n] */
    float *r = malloc((n ? 2 * n : 1) * sizeof *r);              /* [2n] */
    int rc = rows && user && r ? PPR_OK : err_nomem(e);
    for (size_t i = 0; i < n && rc == PPR_OK; i++) {
        const uint32_t *p = test->rows + 3 * i;
        uint32_t *fwd = rows + 3 * i, *rev = rows + 3 * (n + i);
        fwd[0] = rev[0] = p[0];
        fwd[1] = rev[2] = p[1];
        fwd[2] = rev[1] = p[2];
        user[i] = user[n + i] = as;
    }
    pair_set ps = {matrix, dim, rows, user, 2 * n, as + 1, matrix_id};
    if (rc == PPR_OK && n)
        rc = method_score(m, &ps, 0, r, e);
    size_t right = 0;
    for (size_t i = 0; i < n && rc == PPR_OK; i++)
        right += r[i] > r[n + i];
    *acc = rc == PPR_OK && n ? (double)right / (double)n : NAN;
    free(rows);
    free(user);
    free(r);
    return rc;
}

int adapt_finetune(const method *vanilla, const cJSON *settings, const pair_set *kp,
                   const optim_settings *o, method **out, ppr_err *e)
{
    method *m;
    int rc = method_new(&m, "vanilla", kp->dim, 1, settings, o->seed, e);
    if (rc == PPR_OK && (rc = method_init_from(m, vanilla, e)) == PPR_OK)
        rc = method_train(m, kp, o, e);
    if (rc) {
        method_free(m);
        m = NULL;
    }
    *out = m;
    return rc;
}

int adapt_upper(const pair_set *ps, const cJSON *settings, const optim_settings *o,
                method **out, ppr_err *e)
{
    method *m = NULL;
    int rc = method_new(&m, "individual", ps->dim, ps->n_users, settings, o->seed, e);
    if (rc == PPR_OK)
        rc = method_train(m, ps, o, e);
    if (rc) {
        method_free(m);
        m = NULL;
    }
    *out = m;
    return rc;
}

/* adapt_accuracy on new user j's test pairs. */
static int test_accuracy(method *m, const dataset_in *d, const new_users *nu, uint32_t j,
                         uint32_t as, double *acc, ppr_err *e)
{
    return adapt_accuracy(m, &nu->test[j], d->f.matrix, d->features_id, d->f.h->dim, as, acc, e);
}

/* The k pairs of draw `draw` of user j into out, each with user id `as`;
 * pick [k] receives their indices in the user's pool. */
static int draw_pairs(const new_users *nu, uint32_t j, int64_t k, int64_t draw, uint32_t as,
                      pairs_buf *out, size_t *pick, ppr_err *e)
{
    const pairs_buf *pool = &nu->pool[j];
    uint32_t *order = malloc(pool->n * sizeof *order); /* [pool] */
    if (!order)
        return err_nomem(e);
    adapt_draw(order, pool->n, (uint64_t)draw, nu->first + j);
    for (int64_t i = 0; i < k; i++)
        pick[i] = order[i];
    free(order);
    int rc = pairs_pick(pool, pick, (size_t)k, out, e);
    for (size_t i = 0; rc == PPR_OK && i < out->n; i++)
        out->user[i] = as;
    return rc;
}

/* What one seed's adaptations share. */
typedef struct {
    const adapt_setup *s;
    stage_run *r;
    const dataset_in *d;
    const new_users *nu;
    const adapt_known *known; /* ROW_SIMILAR: the existing users' pairs */
    uint8_t **agree;          /* ROW_SIMILAR: [n users] adapt_agreement of each pool */
    method *base;             /* the seed's trained model; NULL for ROW_UPPER */
    uint64_t seed;
} seed_ctx;

/* The result of one (k, draw, seed) for one user. */
typedef struct {
    double acc;        /* NaN: skipped */
    adapt_match match; /* ROW_SIMILAR */
} outcome;

/* Adapt the seed's model to user j from k pairs of draw `draw` and measure it. */
static int adapt_one(const seed_ctx *c, uint32_t j, int64_t k, int64_t draw, outcome *out,
                     ppr_err *e)
{
    const adapt_setup *s = c->s;
    method *base = c->base, *m = NULL;
    uint32_t dim = c->d->f.h->dim, as = s->kind == ROW_FINETUNE ? 0 : base->n_users;
    uint32_t n_main = c->nu->first;
    pairs_buf kb = {0};
    size_t *pick = malloc((size_t)k * sizeof *pick); /* [k] */
    uint8_t *agree = s->kind == ROW_SIMILAR ? malloc((size_t)k * n_main) : NULL; /* [k][n_main] */
    int rc = pick && (agree || s->kind != ROW_SIMILAR) ? PPR_OK : err_nomem(e);
    if (rc == PPR_OK)
        rc = draw_pairs(c->nu, j, k, draw, as, &kb, pick, e);
    pair_set kp = pairs_view(&kb, c->d->f.matrix, c->d->features_id, dim, as + 1);
    optim_settings o = s->fit;
    o.seed = c->seed;
    if (rc == PPR_OK && s->kind == ROW_SIMILAR) {
        for (int64_t i = 0; i < k; i++)
            memcpy(agree + (size_t)i * n_main, c->agree[j] + pick[i] * n_main, n_main);
        if ((rc = adapt_similar(c->known, &kp, agree, &out->match, e)) == PPR_OK)
            rc = test_accuracy(base, c->d, c->nu, j, out->match.user, &out->acc, e);
    } else if (rc == PPR_OK && s->kind == ROW_FINETUNE) {
        if ((rc = adapt_finetune(base, c->r->config, &kp, &o, &m, e)) == PPR_OK)
            rc = test_accuracy(m, c->d, c->nu, j, 0, &out->acc, e);
    } else if (rc == PPR_OK) {
        if ((rc = method_adapt(base, &kp, as, &o, e)) == PPR_OK)
            rc = test_accuracy(base, c->d, c->nu, j, as, &out->acc, e);
    }
    method_free(m);
    pairs_release(&kb);
    free(pick);
    free(agree);
    return rc;
}

/* acc [n]: each new user's accuracy of a model that does not adapt: the
 * Vanilla RM as it is, or (ROW_UPPER) an Individual RM trained with seed for
 * epochs on every new user's whole pool (pools: user j's pairs as user j). */
static int fixed_accuracies(const adapt_setup *s, stage_run *r, method *base,
                            const dataset_in *d, const new_users *nu, const pairs_buf *pools,
                            uint64_t seed, uint32_t epochs, double *acc, ppr_err *e)
{
    method *m = base;
    int rc = PPR_OK;
    if (s->kind == ROW_UPPER) {
        optim_settings o = s->fit;
        o.seed = seed;
        o.epochs = epochs;
        pair_set ps = pairs_view(pools, d->f.matrix, d->features_id, d->f.h->dim, nu->n);
        rc = adapt_upper(&ps, r->config, &o, &m, e);
    }
    for (uint32_t j = 0; j < nu->n && rc == PPR_OK; j++)
        rc = nu->test[j].n ? test_accuracy(m, d, nu, j, s->kind == ROW_UPPER ? j : 0, &acc[j], e)
                           : PPR_OK;
    if (m != base)
        method_free(m);
    return rc;
}

/* ROW_UPPER: every new user's pool in one set, user j's pairs as user j. */
static int pools_join(const new_users *nu, pairs_buf *all, ppr_err *e)
{
    int rc = PPR_OK;
    for (uint32_t j = 0; j < nu->n && rc == PPR_OK; j++)
        for (size_t i = 0; i < nu->pool[j].n && rc == PPR_OK; i++)
            rc = pairs_push(all, nu->pool[j].rows + 3 * i, j, nu->pool[j].prompt[i],
                            nu->pool[j].p[i], e);
    return rc;
}

/* ROW_UPPER's epochs, as stage 04 chooses them (docs/train.md): a validation
 * part of the pools held out by prompt, an Individual RM trained with seed on
 * the rest for each choice, the best unweighted mean over users of
 * validation accuracy (ties to the lower validation loss, then the fewer
 * epochs); each choice's mean and loss into validation. */
static int upper_epochs(const adapt_setup *s, stage_run *r, const dataset_in *d,
                        const pairs_buf *pools, uint32_t n_users, uint64_t seed,
                        cJSON *validation, int64_t *best, ppr_err *e)
{
    *best = s->choices[0];
    if (s->n_choices == 1)
        return PPR_OK;
    pairs_buf val = {0}, part = {0};
    int by_prompt;
    int rc = pairs_split_prompts(pools, s->validation_fraction, seed, &val, &part, &by_prompt, e);
    double best_mean = -INFINITY, best_loss = INFINITY;
    uint32_t dim = d->f.h->dim;
    for (int c = 0; c < s->n_choices && rc == PPR_OK; c++) {
        optim_settings o = s->fit;
        o.seed = seed;
        o.epochs = (uint32_t)s->choices[c];
        pair_set fit_set = pairs_view(&part, d->f.matrix, d->features_id, dim, n_users);
        pair_set val_set = pairs_view(&val, d->f.matrix, d->features_id, dim, n_users);
        method *m = NULL;
        double mean, loss;
        if ((rc = adapt_upper(&fit_set, r->config, &o, &m, e)) == PPR_OK)
            rc = evaluate_validation(m, &val_set, &mean, &loss, e);
        method_free(m);
        if (rc)
            break;
        evaluate_choice(validation, s->choices[c], val.n, by_prompt, mean, loss, &best_mean,
                        &best_loss, best);
    }
    pairs_release(&val);
    pairs_release(&part);
    return rc;
}

/* ---- the instance --------------------------------------------------------------- */

/* Whether user j is measured at k: a pool of at least k pairs and test pairs. */
static int eligible(const new_users *nu, uint32_t j, int64_t k)
{
    return nu->pool[j].n >= (size_t)k && nu->test[j].n > 0;
}

/* The existing users' training pairs the Individual RM was trained on: the
 * first `size` of the main pool's (stage 04's rule). */
static int known_load(const adapt_setup *s, const dataset_in *d, adapt_known *known,
                      ppr_err *e)
{
    pairs_buf b = {0};
    int rc = dataset_pairs(d, PREFS_TRAIN, 0, (size_t)s->size, 0, &b, e);
    if (rc == PPR_OK)
        rc = adapt_known_init(known, &b, prefs_n_main(&d->v), e);
    pairs_release(&b);
    return rc;
}

/* ROW_SIMILAR: c->agree [n users], each user's pool's adapt_agreement with
 * the seed's Individual RM (a prediction does not depend on the draw). */
static int agreements(seed_ctx *c, ppr_err *e)
{
    const new_users *nu = c->nu;
    int rc = (c->agree = calloc(nu->n, sizeof *c->agree)) ? PPR_OK : err_nomem(e);
    for (uint32_t j = 0; j < nu->n && rc == PPR_OK; j++) {
        pair_set ps = pairs_view(&nu->pool[j], c->d->f.matrix, c->d->features_id,
                                 c->d->f.h->dim, nu->n);
        if (!(c->agree[j] = malloc((nu->pool[j].n ? nu->pool[j].n : 1) * nu->first)))
            rc = err_nomem(e);
        else
            rc = adapt_agreement(c->base, &ps, nu->first, c->agree[j], e);
    }
    return rc;
}

static void agreements_free(seed_ctx *c)
{
    for (uint32_t j = 0; c->agree && j < c->nu->n; j++)
        free(c->agree[j]);
    free(c->agree);
    c->agree = NULL;
}

/* Every outcome: out [n_k][draws][n_seeds][n users], NaN where skipped;
 * ROW_UPPER's epoch choice into validation and *epochs (chosen with the first
 * seed, kept for the others, as stage 04 does). */
static int measure_all(const adapt_setup *s, stage_run *r, const dataset_in *d,
                       const new_users *nu, outcome *out, cJSON *validation, int64_t *epochs,
                       ppr_err *e)
{
    size_t per_k = (size_t)s->draws * (size_t)s->n_seeds * nu->n;
    int fixed = s->kind == ROW_VANILLA || s->kind == ROW_UPPER;
    double *acc = malloc(nu->n * sizeof *acc); /* [n users] */
    adapt_known known = {0};
    pairs_buf pools = {0};
    int rc = acc ? PPR_OK : err_nomem(e);
    if (rc == PPR_OK && s->kind == ROW_SIMILAR)
        rc = known_load(s, d, &known, e);
    if (rc == PPR_OK && s->kind == ROW_UPPER && (rc = pools_join(nu, &pools, e)) == PPR_OK)
        rc = upper_epochs(s, r, d, &pools, nu->n, s->seeds[0], validation, epochs, e);
    for (int si = 0; si < s->n_seeds && rc == PPR_OK; si++) {
        seed_ctx c = {s, r, d, nu, &known, NULL, NULL, s->seeds[si]};
        char name[128];
        snprintf(name, sizeof name, "trained/model-%lld-s%llu", (long long)s->size,
                 (unsigned long long)c.seed);
        if (s->kind != ROW_UPPER && (rc = method_input(&c.base, r, name, d->f.h->dim, e)))
            break;
        if (fixed)
            rc = fixed_accuracies(s, r, c.base, d, nu, &pools, c.seed, (uint32_t)*epochs, acc, e);
        else if (s->kind == ROW_SIMILAR)
            rc = agreements(&c, e);
        for (int ki = 0; ki < s->n_k && rc == PPR_OK; ki++)
            for (int64_t dr = 0; dr < s->draws && rc == PPR_OK; dr++)
                for (uint32_t j = 0; j < nu->n && rc == PPR_OK; j++) {
                    outcome *o = &out[(size_t)ki * per_k +
                                      ((size_t)dr * (size_t)s->n_seeds + (size_t)si) * nu->n + j];
                    o->acc = NAN;
                    if (!eligible(nu, j, s->k[ki]) || (fixed && dr > 0))
                        continue;
                    if (fixed)
                        o->acc = acc[j];
                    else
                        rc = adapt_one(&c, j, s->k[ki], dr, o, e);
                }
        agreements_free(&c);
        method_free(c.base);
        if (rc == PPR_OK)
            stage_say(r, "seed %llu: %u new users, k in %d sizes", (unsigned long long)c.seed,
                      nu->n, s->n_k);
    }
    adapt_known_release(&known);
    pairs_release(&pools);
    free(acc);
    return rc;
}

/* metrics["users"]: each new user's name and pool and test pairs. */
static void users_json(cJSON *m, const dataset_in *d, const new_users *nu)
{
    cJSON *users = cJSON_AddArrayToObject(m, "users");
    for (uint32_t j = 0; j < nu->n; j++) {
        cJSON *u = cJSON_CreateObject();
        cJSON_AddStringToObject(u, "name", prefs_user_name(&d->v, nu->first + j));
        cJSON_AddNumberToObject(u, "pool", (double)nu->pool[j].n);
        cJSON_AddNumberToObject(u, "test", (double)nu->test[j].n);
        cJSON_AddItemToArray(users, u);
    }
}

static const char *const rule_names[] = {"shared pairs", "predictions"};

/* metrics["runs"] and metrics["summary"] from the outcomes; users skipped at
 * a k are named in the summary and said on the console. */
static void results_json(stage_run *r, const adapt_setup *s, cJSON *m, const dataset_in *d,
                         const new_users *nu, const outcome *out)
{
    cJSON *runs = cJSON_AddArrayToObject(m, "runs"), *summary = cJSON_AddArrayToObject(m, "summary");
    int fixed = s->kind == ROW_VANILLA || s->kind == ROW_UPPER;
    int64_t draws = fixed ? 1 : s->draws;
    size_t per_k = (size_t)s->draws * (size_t)s->n_seeds * nu->n;
    for (int ki = 0; ki < s->n_k; ki++) {
        double sum = 0.0, sq = 0.0;
        int n_runs = 0;
        size_t rules[2] = {0, 0};
        for (int64_t dr = 0; dr < draws; dr++)
            for (int si = 0; si < s->n_seeds; si++) {
                const outcome *o =
                    out + (size_t)ki * per_k + ((size_t)dr * (size_t)s->n_seeds + (size_t)si) * nu->n;
                cJSON *run = cJSON_CreateObject(), *users = cJSON_CreateArray();
                cJSON_AddNumberToObject(run, "k", (double)s->k[ki]);
                cJSON_AddNumberToObject(run, "draw", (double)dr);
                cJSON_AddNumberToObject(run, "seed", (double)s->seeds[si]);
                double mean = 0.0;
                uint32_t n = 0;
                for (uint32_t j = 0; j < nu->n; j++) {
                    if (isnan(o[j].acc))
                        continue;
                    cJSON *u = cJSON_CreateObject();
                    cJSON_AddStringToObject(u, "name", prefs_user_name(&d->v, nu->first + j));
                    cJSON_AddNumberToObject(u, "accuracy", o[j].acc);
                    if (s->kind == ROW_SIMILAR) {
                        cJSON_AddStringToObject(u, "similar", prefs_user_name(&d->v, o[j].match.user));
                        cJSON_AddStringToObject(u, "rule", rule_names[o[j].match.rule]);
                        rules[o[j].match.rule]++;
                    }
                    cJSON_AddItemToArray(users, u);
                    mean += o[j].acc;
                    n++;
                }
                if (n) {
                    mean /= n;
                    cJSON_AddNumberToObject(run, "mean", mean);
                    sum += mean;
                    sq += mean * mean;
                    n_runs++;
                }
                cJSON_AddItemToObject(run, "users", users);
                cJSON_AddItemToArray(runs, run);
            }
        cJSON *it = cJSON_CreateObject(), *skipped = cJSON_CreateArray();
        cJSON_AddNumberToObject(it, "k", (double)s->k[ki]);
        uint32_t served = 0;
        for (uint32_t j = 0; j < nu->n; j++) {
            if (eligible(nu, j, s->k[ki])) {
                served++;
                continue;
            }
            const char *name = prefs_user_name(&d->v, nu->first + j);
            cJSON *u = cJSON_CreateObject();
            cJSON_AddStringToObject(u, "name", name);
            cJSON_AddNumberToObject(u, "pool", (double)nu->pool[j].n);
            cJSON_AddNumberToObject(u, "test", (double)nu->test[j].n);
            cJSON_AddItemToArray(skipped, u);
            stage_say(r, "warning: k = %lld: new user \"%s\" is skipped: %zu pairs in its pool, "
                      "%zu test pairs", (long long)s->k[ki], name, nu->pool[j].n,
                      nu->test[j].n);
        }
        cJSON_AddNumberToObject(it, "users", served);
        cJSON_AddItemToObject(it, "skipped_users", skipped);
        cJSON_AddNumberToObject(it, "runs", n_runs);
        if (n_runs) {
            cJSON_AddNumberToObject(it, "mean", sum / n_runs);
            double ci = stats_ci95_sums(sum, sq, n_runs);
            if (isnan(ci))
                cJSON_AddNullToObject(it, "ci95");
            else
                cJSON_AddNumberToObject(it, "ci95", ci);
        }
        if (s->kind == ROW_SIMILAR) {
            cJSON *ru = cJSON_AddObjectToObject(it, "rules");
            cJSON_AddNumberToObject(ru, rule_names[0], (double)rules[0]);
            cJSON_AddNumberToObject(ru, rule_names[1], (double)rules[1]);
        }
        cJSON_AddItemToArray(summary, it);
    }
}

int adapt_run(stage_run *r, cJSON **metrics, ppr_err *e)
{
    *metrics = NULL;
    adapt_setup s;
    dataset_in d;
    new_users nu = {0};
    int rc = setup_read(r, &s, e);
    if (rc)
        return rc;
    if ((rc = dataset_load(r, "", &d, e)))
        return rc;
    outcome *out = NULL;
    if ((rc = new_users_load(&d, &nu, e)) == PPR_OK &&
        !(out = calloc((size_t)s.n_k * (size_t)s.draws * (size_t)s.n_seeds * nu.n, sizeof *out)))
        rc = err_nomem(e);
    cJSON *validation = cJSON_CreateArray();
    int64_t epochs = s.fit.epochs;
    if (rc == PPR_OK && !validation)
        rc = err_nomem(e);
    if (rc == PPR_OK)
        rc = measure_all(&s, r, &d, &nu, out, validation, &epochs, e);
    if (rc == PPR_OK) {
        cJSON *m = *metrics = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "instance", r->instance);
        cJSON_AddStringToObject(m, "dataset", s.dataset);
        cJSON_AddStringToObject(m, "method", s.row);
        cJSON_AddItemToObject(m, "trained_from",
                              cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(r->config,
                                                                               "trained_from"),
                                              1));
        cJSON_AddNumberToObject(m, "size", (double)s.size);
        cJSON_AddBoolToObject(m, "adapts", s.kind != ROW_VANILLA && s.kind != ROW_UPPER);
        cJSON_AddNumberToObject(m, "draws", (double)s.draws);
        if (s.kind == ROW_FINETUNE || s.kind == ROW_UPPER || strcmp(s.row, "prm") == 0)
            cJSON_AddNumberToObject(m, "epochs", (double)epochs);
        if (s.kind == ROW_UPPER) {
            cJSON_AddItemToObject(m, "validation", validation);
            validation = NULL;
        }
        users_json(m, &d, &nu);
        results_json(r, &s, m, &d, &nu, out);
    }
    cJSON_Delete(validation);
    free(out);
    new_users_release(&nu);
    dataset_release(&d);
    return rc;
}

static int adapt_metrics(stage_run *r, const void *arg, cJSON **metrics, ppr_err *e)
{
    (void)arg;
    return adapt_run(r, metrics, e);
}

int adapt_stage(stage_run *r, ppr_err *e)
{
    return metrics_stage_run(r, adapt_metrics, NULL, e);
}
