/* evaluate.c: per-user and overall accuracy (see evaluate.h). */
#include "common/models/evaluate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int evaluate_all(method *m, const pair_set *ps, double *acc, ppr_err *e)
{
    uint64_t *c = calloc(ps->n_users, sizeof *c), *t = calloc(ps->n_users, sizeof *t);
    int rc = c && t ? method_accuracy(m, ps, c, t, e) : err_nomem(e);
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

int evaluate_users(method *m, const pairs_buf *test, const float *matrix, uint32_t dim,
                   const prefs_view *v, const cJSON *minority, cJSON *run, ppr_err *e)
{
    uint32_t n_users = v->h->n_users;
    pair_set ps = pairs_view(test, matrix, dim, n_users);
    uint64_t *c = calloc(n_users, sizeof *c), *t = calloc(n_users, sizeof *t);
    double *bayes = calloc(n_users, sizeof *bayes);
    int *truth = calloc(n_users, sizeof *truth);
    int rc = c && t && bayes && truth ? method_accuracy(m, &ps, c, t, e) : err_nomem(e);
    for (uint32_t u = 0; truth && u < n_users; u++)
        truth[u] = 1;
    for (size_t i = 0; rc == PPR_OK && i < test->n; i++) {
        float p = test->p[i];
        if (isnan(p))
            truth[test->user[i]] = 0;
        else
            bayes[test->user[i]] += p > 0.5f ? p : 1.0f - p;
    }
    cJSON *users = cJSON_AddArrayToObject(run, "users");
    double sum = 0, msum = 0;
    int n = 0, mn = 0;
    for (uint32_t u = 0; rc == PPR_OK && u < n_users; u++) {
        if (v->users[u].pool != PREFS_POOL_MAIN || !t[u])
            continue;
        const char *name = prefs_user_name(v, u);
        double acc = (double)c[u] / (double)t[u];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", name);
        cJSON_AddNumberToObject(o, "pairs", (double)t[u]);
        cJSON_AddNumberToObject(o, "accuracy", acc);
        if (truth[u]) {
            cJSON_AddNumberToObject(o, "bayes", bayes[u] / (double)t[u]);
            cJSON_AddNumberToObject(o, "gap", bayes[u] / (double)t[u] - acc);
        }
        cJSON_AddItemToArray(users, o);
        sum += acc;
        n++;
        for (const cJSON *mu = minority ? minority->child : NULL; mu; mu = mu->next)
            if (strcmp(mu->valuestring, name) == 0) {
                msum += acc;
                mn++;
            }
    }
    if (rc == PPR_OK) {
        cJSON_AddNumberToObject(run, "test_pairs", (double)test->n);
        if (n)
            cJSON_AddNumberToObject(run, "mean", sum / n);
        if (mn)
            cJSON_AddNumberToObject(run, "minority_mean", msum / mn);
    }
    free(c);
    free(t);
    free(bayes);
    free(truth);
    return rc;
}
