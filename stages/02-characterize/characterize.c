/* characterize.c: table 2 statistics in one sorted sweep over the rows, so that
 * a dataset of 333k rows takes a fraction of a second (rules: docs/characterize.md). */
#include "characterize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One counted row, keyed so that sorting groups rows by triple, then by user. */
typedef struct {
    uint64_t tri;   /* prompt << 32 | lower text id */
    uint64_t hi_us; /* higher text id << 32 | user */
    int lower;      /* 1 when the row prefers the lower text id */
} row_key;

/* A user's non-zero preference on the triple being swept. */
typedef struct {
    uint32_t user;
    int side; /* +1 lower text id, -1 higher */
} vote;

static int row_key_cmp(const void *pa, const void *pb)
{
    const row_key *a = pa, *b = pb;
    if (a->tri != b->tri)
        return a->tri < b->tri ? -1 : 1;
    if (a->hi_us != b->hi_us)
        return a->hi_us < b->hi_us ? -1 : 1;
    return 0;
}

/* C(r, 2): the label pairs among r labels. */
static uint64_t pairs_of(uint64_t r)
{
    return r ? r * (r - 1) / 2 : 0;
}

/* ======================== rows and ground truth ========================= */

/* Count rows per pool and split, accumulate per-user truth sums, and fill keys
 * with the counted rows; returns their number. */
static uint32_t rows_scan(const prefs_view *v, char_result *out, row_key *keys,
                          double *bayes_sum, double *tc_sum /* [n_users] each */)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < v->h->n_rows; i++) {
        const prefs_row *r = &v->rows[i];
        if (v->users[r->user].pool != PREFS_POOL_MAIN) {
            out->n_rows_new++;
            continue;
        }
        if (r->chosen == r->rejected) {
            out->n_rows_self++;
            continue;
        }
        char_user *u = &out->users[r->user];
        u->n_rows++;
        if (r->split == PREFS_TRAIN)
            out->n_rows_train++;
        else
            out->n_rows_test++;
        if (!isnan(r->p_chosen)) {
            double p = r->p_chosen;
            u->n_rows_truth++;
            bayes_sum[r->user] += p > 1.0 - p ? p : 1.0 - p;
            tc_sum[r->user] += p * p + (1.0 - p) * (1.0 - p);
        }
        uint32_t lo = r->chosen < r->rejected ? r->chosen : r->rejected;
        uint32_t hi = r->chosen < r->rejected ? r->rejected : r->chosen;
        keys[n].tri = (uint64_t)r->prompt << 32 | lo;
        keys[n].hi_us = (uint64_t)hi << 32 | r->user;
        keys[n].lower = r->chosen == lo;
        n++;
    }
    out->n_rows = n;
    return n;
}

/* ============================ triple sweep ============================== */

/* Score every voter of one triple; ka, kb are the votes for each side. */
static void triple_score(char_result *out, const vote *votes /* [ka + kb] */,
                         uint32_t ka, uint32_t kb, double *mv_sum /* [n_users] */)
{
    uint32_t n = ka + kb;
    if (n < 2)
        return;
    uint32_t m = ka < kb ? ka : kb;
    out->n_shared++;
    out->n_contested += m >= 1;
    out->n_highly += (double)m / n >= out->params.highly_threshold;
    int major = ka > kb ? 1 : -1;
    for (uint32_t j = 0; j < n; j++) {
        out->users[votes[j].user].n_shared_votes++;
        mv_sum[votes[j].user] += ka == kb ? 0.5 : votes[j].side == major;
    }
}

/* Walk the sorted keys one triple at a time, one user at a time within it. */
static void triples_sweep(char_result *out, const row_key *keys /* [n] */, uint32_t n,
                          vote *votes /* [n_users] */, double *mv_sum /* [n_users] */)
{
    uint32_t i = 0;
    while (i < n) {
        uint64_t tri = keys[i].tri, hi = keys[i].hi_us >> 32;
        uint32_t ka = 0, kb = 0;
        out->n_triples++;
        while (i < n && keys[i].tri == tri && keys[i].hi_us >> 32 == hi) {
            uint64_t us = keys[i].hi_us;
            uint32_t user = (uint32_t)us;
            uint64_t ra = 0, rb = 0;
            for (; i < n && keys[i].tri == tri && keys[i].hi_us == us; i++) {
                ra += keys[i].lower;
                rb += !keys[i].lower;
            }
            char_user *u = &out->users[user];
            u->n_triples++;
            if (ra + rb >= 2) {
                u->n_repeated++;
                u->agree_pairs += pairs_of(ra) + pairs_of(rb);
                u->label_pairs += pairs_of(ra + rb);
            }
            if (ra == rb) {
                u->n_abstain++;
                continue;
            }
            votes[ka + kb] = (vote){user, ra > rb ? 1 : -1};
            ka += ra > rb;
            kb += ra < rb;
        }
        triple_score(out, votes, ka, kb, mv_sum);
    }
}

/* ============================ summaries ================================= */

static void users_summarize(char_result *out, const double *mv_sum,
                            const double *bayes_sum, const double *tc_sum /* [n_users] */)
{
    double mv_total = 0.0, cons_total = 0.0, bayes_total = 0.0, tc_total = 0.0;
    uint32_t n_mv = 0, n_cons = 0;
    out->has_truth = out->n_rows > 0;
    for (uint32_t id = 0; id < out->n_user_ids; id++) {
        char_user *u = &out->users[id];
        if (u->pool != PREFS_POOL_MAIN)
            continue;
        out->n_users++;
        out->n_users_rows += u->n_rows > 0;
        if (u->n_shared_votes) {
            u->mv_acc = mv_sum[id] / u->n_shared_votes;
            u->minority = u->mv_acc < out->params.minority_below;
            out->n_minority += u->minority;
            if (n_mv == 0 || u->mv_acc < out->mv_acc_min)
                out->mv_acc_min = u->mv_acc;
            if (n_mv == 0 || u->mv_acc > out->mv_acc_max)
                out->mv_acc_max = u->mv_acc;
            mv_total += u->mv_acc;
            n_mv++;
        }
        if (u->label_pairs) {
            u->consistency = (double)u->agree_pairs / (double)u->label_pairs;
            cons_total += u->consistency;
            n_cons++;
        }
        if (u->n_rows && u->n_rows_truth == u->n_rows) {
            u->bayes_acc = bayes_sum[id] / u->n_rows;
            u->truth_consistency = tc_sum[id] / u->n_rows;
            bayes_total += u->bayes_acc;
            tc_total += u->truth_consistency;
        } else if (u->n_rows) {
            out->has_truth = 0;
        }
    }
    if (out->n_shared) {
        out->contested_rate = (double)out->n_contested / out->n_shared;
        out->highly_rate = (double)out->n_highly / out->n_shared;
    }
    if (n_mv)
        out->mv_acc_mean = mv_total / n_mv;
    if (n_cons)
        out->consistency = cons_total / n_cons;
    if (out->has_truth) {
        out->bayes_acc_mean = bayes_total / out->n_users_rows;
        out->truth_consistency = tc_total / out->n_users_rows;
    }
    out->room_labels = out->consistency - out->mv_acc_mean;
    out->room_truth = out->bayes_acc_mean - out->mv_acc_mean;
}

/* ============================ public API ================================ */

static void result_init(char_result *out, const char_params *p)
{
    memset(out, 0, sizeof *out);
    out->params = *p;
    out->contested_rate = out->highly_rate = NAN;
    out->mv_acc_min = out->mv_acc_max = out->mv_acc_mean = NAN;
    out->consistency = out->room_labels = NAN;
    out->bayes_acc_mean = out->truth_consistency = out->room_truth = NAN;
}

int characterize(const prefs_view *v, const char_params *p, char_result *out, ppr_err *e)
{
    result_init(out, p);
    if (!(p->highly_threshold >= 0.0 && p->highly_threshold <= 1.0))
        return err_set(e, PPR_EINPUT, "'highly_threshold' must lie in [0, 1], not %g",
                       p->highly_threshold);
    if (!(p->minority_below >= 0.0 && p->minority_below <= 1.0))
        return err_set(e, PPR_EINPUT, "'minority_below' must lie in [0, 1], not %g",
                       p->minority_below);
    uint32_t nu = v->h->n_users;
    size_t nu1 = nu ? nu : 1, nr1 = v->h->n_rows ? v->h->n_rows : 1;
    out->n_user_ids = nu;
    out->users = calloc(nu1, sizeof *out->users);
    row_key *keys = malloc(nr1 * sizeof *keys);
    vote *votes = malloc(nu1 * sizeof *votes);
    double *sums = calloc(3 * nu1, sizeof *sums); /* [3][n_users]: mv, bayes, truth cons. */
    int rc = PPR_OK;
    if (!out->users || !keys || !votes || !sums) {
        rc = err_nomem(e);
        goto done;
    }
    for (uint32_t id = 0; id < nu; id++) {
        char_user *u = &out->users[id];
        u->pool = v->users[id].pool;
        out->n_users_new += u->pool == PREFS_POOL_NEW;
        u->mv_acc = u->consistency = u->bayes_acc = u->truth_consistency = NAN;
    }
    uint32_t n = rows_scan(v, out, keys, sums + nu1, sums + 2 * nu1);
    qsort(keys, n, sizeof *keys, row_key_cmp);
    triples_sweep(out, keys, n, votes, sums);
    users_summarize(out, sums, sums + nu1, sums + 2 * nu1);
done:
    free(keys);
    free(votes);
    free(sums);
    return rc;
}

void char_result_release(char_result *r)
{
    if (!r)
        return;
    free(r->users);
    r->users = NULL;
    r->n_user_ids = 0;
}

/* ================================ JSON ================================== */

/* Attach item to o under key (to the array o when key is NULL); on failure the
 * item is freed, so nothing leaks. */
static int json_attach(cJSON *o, const char *key, cJSON *item)
{
    int ok = item && (key ? cJSON_AddItemToObject(o, key, item)
                          : cJSON_AddItemToArray(o, item));
    if (!ok)
        cJSON_Delete(item);
    return ok;
}

static int json_add_num(cJSON *o, const char *key, double x)
{
    return json_attach(o, key, isfinite(x) ? cJSON_CreateNumber(x) : cJSON_CreateNull());
}

static int json_add_user(cJSON *arr, const char_user *u, uint32_t id, const prefs_view *v)
{
    cJSON *o = cJSON_CreateObject();
    if (!json_attach(arr, NULL, o))
        return 0;
    return json_add_num(o, "id", id) &&
           cJSON_AddStringToObject(o, "name", prefs_user_name(v, id)) &&
           json_add_num(o, "rows", u->n_rows) &&
           json_add_num(o, "rows_with_truth", u->n_rows_truth) &&
           json_add_num(o, "triples", u->n_triples) &&
           json_add_num(o, "abstained_triples", u->n_abstain) &&
           json_add_num(o, "shared_votes", u->n_shared_votes) &&
           json_add_num(o, "repeated_triples", u->n_repeated) &&
           json_add_num(o, "agreeing_label_pairs", (double)u->agree_pairs) &&
           json_add_num(o, "label_pairs", (double)u->label_pairs) &&
           json_add_num(o, "mv_acc", u->mv_acc) &&
           json_add_num(o, "consistency", u->consistency) &&
           json_add_num(o, "bayes_acc", u->bayes_acc) &&
           json_add_num(o, "truth_consistency", u->truth_consistency) &&
           cJSON_AddBoolToObject(o, "minority", u->minority);
}

cJSON *char_result_json(const char_result *r, const prefs_view *v)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *params = cJSON_AddObjectToObject(o, "params");
    cJSON *users = cJSON_AddArrayToObject(o, "users");
    cJSON *minority = cJSON_AddArrayToObject(o, "minority_users");
    int ok = params && users && minority &&
             json_add_num(params, "highly_threshold", r->params.highly_threshold) &&
             json_add_num(params, "minority_below", r->params.minority_below) &&
             json_add_num(o, "rows", r->n_rows) &&
             json_add_num(o, "rows_train", r->n_rows_train) &&
             json_add_num(o, "rows_test", r->n_rows_test) &&
             json_add_num(o, "rows_self_pairs", r->n_rows_self) &&
             json_add_num(o, "rows_new_pool", r->n_rows_new) &&
             json_add_num(o, "n_users", r->n_users) &&
             json_add_num(o, "n_users_with_rows", r->n_users_rows) &&
             json_add_num(o, "n_users_new_pool", r->n_users_new) &&
             json_add_num(o, "triples", r->n_triples) &&
             json_add_num(o, "shared_triples", r->n_shared) &&
             json_add_num(o, "contested_triples", r->n_contested) &&
             json_add_num(o, "highly_contested_triples", r->n_highly) &&
             json_add_num(o, "contested_rate", r->contested_rate) &&
             json_add_num(o, "highly_contested_rate", r->highly_rate) &&
             json_add_num(o, "mv_acc_min", r->mv_acc_min) &&
             json_add_num(o, "mv_acc_max", r->mv_acc_max) &&
             json_add_num(o, "mv_acc_mean", r->mv_acc_mean) &&
             json_add_num(o, "n_minority", r->n_minority) &&
             json_add_num(o, "consistency", r->consistency) &&
             json_add_num(o, "room_labels", r->room_labels) &&
             cJSON_AddBoolToObject(o, "has_truth", r->has_truth) &&
             json_add_num(o, "bayes_acc_mean", r->bayes_acc_mean) &&
             json_add_num(o, "truth_consistency", r->truth_consistency) &&
             json_add_num(o, "room_truth", r->room_truth);
    for (uint32_t id = 0; ok && id < r->n_user_ids; id++) {
        const char_user *u = &r->users[id];
        if (u->pool != PREFS_POOL_MAIN)
            continue;
        ok = json_add_user(users, u, id, v);
        if (ok && u->minority)
            ok = json_attach(minority, NULL, cJSON_CreateString(prefs_user_name(v, id)));
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}
