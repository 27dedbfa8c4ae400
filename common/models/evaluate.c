/* evaluate.c: per-user and overall accuracy, validation measures and the
 * bootstrap interval (see evaluate.h). */
#include "common/models/evaluate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"

#define EVALUATE_SEED 0xb0075742ULL

/* served [n_users]: 1 for each user m serves (method_serves); malloc'd. */
static uint8_t *served_users(const method *m, uint32_t n_users)
{
    uint8_t *served = malloc(n_users ? n_users : 1);
    for (uint32_t u = 0; served && u < n_users; u++)
        served[u] = (uint8_t)method_serves(m, u);
    return served;
}

/* right [n]: 1 where m scores ps's chosen response above its rejected one
 * (strict), 0 also for every pair of a user served[] leaves out, which is
 * never scored; loss, when not NULL: the mean BT loss over the scored pairs. */
static int evaluate_right(method *m, const pair_set *ps, const uint8_t *served, uint8_t *right,
                          double *loss, ppr_err *e)
{
    size_t n = 0;
    for (size_t i = 0; i < ps->n; i++)
        n += served[ps->user[i]];
    memset(right, 0, ps->n);
    if (loss)
        *loss = NAN;
    if (n == 0)
        return PPR_OK;
    /* The served pairs: rows [n][3] and user [n], and each one's index. */
    uint32_t *rows = malloc(n * 3 * sizeof *rows), *user = malloc(n * sizeof *user);
    size_t *at = malloc(n * sizeof *at);
    float *rc = malloc(n * sizeof *rc), *rr = malloc(n * sizeof *rr); /* [n] */
    int ret = rows && user && at && rc && rr ? PPR_OK : err_nomem(e);
    for (size_t i = 0, j = 0; ret == PPR_OK && i < ps->n; i++)
        if (served[ps->user[i]]) {
            memcpy(rows + 3 * j, ps->rows + 3 * i, 3 * sizeof *rows);
            user[j] = ps->user[i];
            at[j++] = i;
        }
    pair_set sub = *ps;
    sub.rows = rows;
    sub.user = user;
    sub.n = n;
    if (ret == PPR_OK)
        ret = method_score(m, &sub, 0, rc, e);
    if (ret == PPR_OK)
        ret = method_score(m, &sub, 1, rr, e);
    double sum = 0;
    for (size_t j = 0; j < n && ret == PPR_OK; j++) {
        double t = (double)rc[j] - rr[j];
        right[at[j]] = rc[j] > rr[j]; /* a tie (or NaN) is wrong */
        sum += fmax(-t, 0) + log1p(exp(-fabs(t)));
    }
    if (loss && ret == PPR_OK)
        *loss = sum / (double)n;
    free(rows);
    free(user);
    free(at);
    free(rr);
    free(rc);
    return ret;
}

/* The unweighted mean over counted users with pairs of per-user accuracy,
 * from c and t [n_users]; NaN when no counted user has a pair. */
static double users_mean(const uint64_t *c, const uint64_t *t, const uint8_t *counted,
                         uint32_t n_users)
{
    double sum = 0;
    int n = 0;
    for (uint32_t u = 0; u < n_users; u++)
        if (t[u] && (!counted || counted[u])) {
            sum += (double)c[u] / (double)t[u];
            n++;
        }
    return n ? sum / n : NAN;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* [*lo, *hi]: the 26th smallest and the 26th largest of the kept means
 * (sorted in place); NaN unless more than the two tails are kept. */
static void percentiles(double *means, size_t kept, double *lo, double *hi)
{
    size_t tail = EVALUATE_RESAMPLES / 40; /* 2.5% */
    if (kept > 2 * tail) {
        qsort(means, kept, sizeof *means, cmp_double);
        *lo = means[tail];
        *hi = means[kept - 1 - tail];
    }
}

int evaluate_bootstrap(const uint8_t *right, const uint32_t *user, size_t n,
                       const uint8_t *counted, uint32_t n_users, double *lo, double *hi,
                       ppr_err *e)
{
    *lo = *hi = NAN;
    uint64_t *c = calloc(2 * (size_t)n_users, sizeof *c); /* [2][n_users] correct, total */
    double *means = malloc(EVALUATE_RESAMPLES * sizeof *means);
    if (!c || !means) {
        free(c);
        free(means);
        return err_nomem(e);
    }
    size_t kept = 0;
    for (uint64_t b = 0; n && b < EVALUATE_RESAMPLES; b++) {
        rng r;
        rng_seed(&r, EVALUATE_SEED, b);
        memset(c, 0, 2 * (size_t)n_users * sizeof *c);
        for (size_t k = 0; k < n; k++) {
            size_t i = (size_t)rng_below(&r, n);
            c[user[i]] += right[i];
            c[n_users + user[i]]++;
        }
        double mean = users_mean(c, c + n_users, counted, n_users);
        if (!isnan(mean))
            means[kept++] = mean;
    }
    percentiles(means, kept, lo, hi);
    free(c);
    free(means);
    return PPR_OK;
}

int evaluate_bootstrap_mean(const double *v, size_t n, double *lo, double *hi, ppr_err *e)
{
    *lo = *hi = NAN;
    double *means = malloc(EVALUATE_RESAMPLES * sizeof *means);
    if (!means)
        return err_nomem(e);
    for (uint64_t b = 0; n && b < EVALUATE_RESAMPLES; b++) {
        rng r;
        rng_seed(&r, EVALUATE_SEED, b);
        double sum = 0;
        for (size_t k = 0; k < n; k++)
            sum += v[rng_below(&r, n)];
        means[b] = sum / (double)n;
    }
    percentiles(means, n ? EVALUATE_RESAMPLES : 0, lo, hi);
    free(means);
    return PPR_OK;
}

/* evaluate_counts, and the mean BT loss into loss when it is not NULL. Pairs
 * of users m does not serve count nowhere. */
static int counts_loss(method *m, const pair_set *ps, uint64_t *correct, uint64_t *total,
                       double *loss, ppr_err *e)
{
    memset(correct, 0, ps->n_users * sizeof *correct);
    memset(total, 0, ps->n_users * sizeof *total);
    uint8_t *right = malloc(ps->n ? ps->n : 1), *served = served_users(m, ps->n_users);
    int rc = right && served ? evaluate_right(m, ps, served, right, loss, e) : err_nomem(e);
    for (size_t i = 0; rc == PPR_OK && i < ps->n; i++) {
        if (!served[ps->user[i]])
            continue;
        correct[ps->user[i]] += right[i];
        total[ps->user[i]]++;
    }
    free(right);
    free(served);
    return rc;
}

int evaluate_counts(method *m, const pair_set *ps, uint64_t *correct, uint64_t *total,
                    ppr_err *e)
{
    return counts_loss(m, ps, correct, total, NULL, e);
}

int evaluate_validation(method *m, const pair_set *ps, double *mean, double *loss, ppr_err *e)
{
    uint64_t *c = calloc(2 * (size_t)ps->n_users, sizeof *c); /* [2][n_users] */
    int rc = c ? counts_loss(m, ps, c, c + ps->n_users, loss, e) : err_nomem(e);
    *mean = rc == PPR_OK ? users_mean(c, c + ps->n_users, NULL, ps->n_users) : NAN;
    free(c);
    return rc;
}

int evaluate_all(method *m, const pair_set *ps, double *acc, ppr_err *e)
{
    uint64_t *c = calloc(ps->n_users, sizeof *c), *t = calloc(ps->n_users, sizeof *t);
    int rc = c && t ? evaluate_counts(m, ps, c, t, e) : err_nomem(e);
    uint64_t sc = 0, st = 0;
    for (uint32_t u = 0; rc == PPR_OK && u < ps->n_users; u++) {
        sc += c[u];
        st += t[u];
    }
    *acc = st ? (double)sc / (double)st : NAN;
    free(c);
    free(t);
    return rc;
}

int evaluate_users(method *m, const pairs_buf *test, const float *matrix,
                   const unsigned char *matrix_id, uint32_t dim, const prefs_view *v,
                   const cJSON *minority, const uint8_t *trained, cJSON *run, ppr_err *e)
{
    uint32_t n_users = v->h->n_users;
    pair_set ps = pairs_view(test, matrix, matrix_id, dim, n_users);
    uint64_t *c = calloc(2 * (size_t)n_users, sizeof *c); /* [2][n_users] correct, total */
    uint64_t *t = c ? c + n_users : NULL;
    double *bayes = calloc(n_users, sizeof *bayes);
    uint8_t *truth = malloc(n_users), *right = malloc(test->n ? test->n : 1); /* [n_users], [n] */
    uint8_t *counted = malloc(n_users), *minor = calloc(n_users, 1);          /* [n_users] */
    uint8_t *served = served_users(m, n_users);                                /* [n_users] */
    int rc = c && bayes && truth && right && counted && minor && served
                 ? evaluate_right(m, &ps, served, right, NULL, e)
                 : err_nomem(e);
    if (rc == PPR_OK) {
        memset(truth, 1, n_users);
        for (uint32_t u = 0; u < n_users; u++)
            counted[u] = v->users[u].pool == PREFS_POOL_MAIN && (!trained || trained[u]) &&
                         served[u];
    }
    for (size_t i = 0; rc == PPR_OK && i < test->n; i++) {
        uint32_t u = test->user[i];
        float p = test->p[i];
        c[u] += right[i];
        t[u]++;
        if (isnan(p))
            truth[u] = 0;
        else
            bayes[u] += p > 0.5f ? p : 1.0f - p;
    }
    cJSON *users = cJSON_AddArrayToObject(run, "users");
    for (uint32_t u = 0; rc == PPR_OK && u < n_users; u++) {
        if (v->users[u].pool != PREFS_POOL_MAIN || !t[u])
            continue;
        const char *name = prefs_user_name(v, u);
        double acc = (double)c[u] / (double)t[u];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", name);
        cJSON_AddNumberToObject(o, "pairs", (double)t[u]);
        cJSON_AddItemToArray(users, o);
        if (!served[u]) {
            cJSON_AddTrueToObject(o, "skipped"); /* not scored: no accuracy */
            continue;
        }
        cJSON_AddNumberToObject(o, "accuracy", acc);
        if (truth[u]) {
            cJSON_AddNumberToObject(o, "bayes", bayes[u] / (double)t[u]);
            cJSON_AddNumberToObject(o, "gap", bayes[u] / (double)t[u] - acc);
        }
        if (!counted[u])
            cJSON_AddTrueToObject(o, "untrained");
        for (const cJSON *mu = minority ? minority->child : NULL; mu; mu = mu->next)
            minor[u] |= counted[u] && strcmp(mu->valuestring, name) == 0;
    }
    double lo = NAN, hi = NAN;
    if (rc == PPR_OK)
        rc = evaluate_bootstrap(right, test->user, test->n, counted, n_users, &lo, &hi, e);
    if (rc == PPR_OK) {
        double mean = users_mean(c, t, counted, n_users), mmean = users_mean(c, t, minor, n_users);
        cJSON_AddNumberToObject(run, "test_pairs", (double)test->n);
        if (!isnan(mean))
            cJSON_AddNumberToObject(run, "mean", mean);
        if (!isnan(lo)) {
            cJSON *iv = cJSON_AddArrayToObject(run, "mean_pairs95");
            cJSON_AddItemToArray(iv, cJSON_CreateNumber(lo));
            cJSON_AddItemToArray(iv, cJSON_CreateNumber(hi));
        }
        if (!isnan(mmean))
            cJSON_AddNumberToObject(run, "minority_mean", mmean);
    }
    free(c);
    free(bayes);
    free(truth);
    free(right);
    free(counted);
    free(minor);
    free(served);
    return rc;
}

void evaluate_choice(cJSON *validation, int64_t epochs, size_t pairs, int by_prompt,
                     double mean, double loss, double *best_mean, double *best_loss,
                     int64_t *best)
{
    cJSON *it = cJSON_CreateObject();
    cJSON_AddNumberToObject(it, "epochs", (double)epochs);
    cJSON_AddNumberToObject(it, "pairs", (double)pairs);
    cJSON_AddStringToObject(it, "split", by_prompt ? "prompts" : "pairs");
    cJSON_AddNumberToObject(it, "mean", mean);
    cJSON_AddNumberToObject(it, "loss", loss);
    cJSON_AddItemToArray(validation, it);
    if (mean > *best_mean || (mean == *best_mean && loss < *best_loss)) {
        *best_mean = mean;
        *best_loss = loss;
        *best = epochs;
    }
}
