/* test_protocol.c: the measurement protocol of common/models on cases worked
 * out by hand: a validation part held out by prompt, the per-user mean over
 * trained users only with its minority mean, the bootstrap interval over test
 * pairs, and the validation measures the epoch choice reads. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/models/evaluate.h"
#include "common/models/method.h"
#include "common/models/pairs.h"
#include "common/rng.h"
#include "tests/testlib.h"

#define DIM 4

/* ================ the validation part, by prompt ================ */

/* Pairs whose prompts are prompt[i]; rows and users do not matter here. */
static pairs_buf pairs_of(const uint32_t *prompt, size_t n)
{
    pairs_buf b = {0};
    ppr_err e = {0};
    for (size_t i = 0; i < n; i++) {
        uint32_t rows[3] = {prompt[i], (uint32_t)(100 + i), (uint32_t)(200 + i)};
        CU_ASSERT_FATAL(pairs_push(&b, rows, (uint32_t)(i % 2), prompt[i], (float)i, &e) ==
                        PPR_OK);
    }
    return b;
}

static void test_split_by_prompt(void)
{
    /* 10 pairs on 6 prompts; 20% wants 2 held-out pairs, so whole prompts go
     * until there are 2 or more: 2 or 3 pairs (prompt 0 holds 3). */
    static const uint32_t prompt[10] = {0, 0, 0, 1, 1, 2, 3, 3, 4, 5};
    pairs_buf b = pairs_of(prompt, 10), held, rest;
    ppr_err e = {0};
    for (uint64_t seed = 1; seed <= 50; seed++) {
        int by_prompt;
        CU_ASSERT_EQUAL_FATAL(pairs_split_prompts(&b, 0.2, seed, &held, &rest, &by_prompt, &e),
                              PPR_OK);
        CU_ASSERT(by_prompt);
        CU_ASSERT(held.n >= 2 && held.n <= 3 + 1 && held.n + rest.n == 10);
        for (size_t i = 0; i < held.n; i++)
            for (size_t j = 0; j < rest.n; j++)
                CU_ASSERT(held.prompt[i] != rest.prompt[j]); /* no prompt on both sides */
        /* both keep the file order: p holds each pair's index here */
        for (size_t i = 1; i < held.n; i++)
            CU_ASSERT(held.p[i - 1] < held.p[i]);
        for (size_t i = 1; i < rest.n; i++)
            CU_ASSERT(rest.p[i - 1] < rest.p[i]);
        pairs_buf again_held, again_rest; /* the same seed, the same split */
        CU_ASSERT_EQUAL_FATAL(
            pairs_split_prompts(&b, 0.2, seed, &again_held, &again_rest, &by_prompt, &e), PPR_OK);
        CU_ASSERT(again_held.n == held.n &&
                  memcmp(again_held.prompt, held.prompt, held.n * sizeof *held.prompt) == 0);
        pairs_release(&held);
        pairs_release(&rest);
        pairs_release(&again_held);
        pairs_release(&again_rest);
    }
    /* Every pair on one prompt: held out by pairs, and said so; ceil(0.2 5) = 1 */
    static const uint32_t one[5] = {7, 7, 7, 7, 7};
    pairs_buf same = pairs_of(one, 5);
    int by_prompt;
    CU_ASSERT_EQUAL_FATAL(pairs_split_prompts(&same, 0.2, 1, &held, &rest, &by_prompt, &e),
                          PPR_OK);
    CU_ASSERT(!by_prompt && held.n == 1 && rest.n == 4);
    pairs_release(&held);
    pairs_release(&rest);
    CU_ASSERT_EQUAL(pairs_split_prompts(&b, 0.0, 1, &held, &rest, &by_prompt, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "too few"));
    pairs_release(&same);
    pairs_release(&b);
}

/* ================ the bootstrap over test pairs ================ */

static void test_bootstrap_by_hand(void)
{
    ppr_err e = {0};
    double lo, hi;
    uint8_t right[1000];
    uint32_t user[1000] = {0};
    uint8_t counted[2] = {1, 0};
    /* every pair right: every resample's mean is 1 */
    memset(right, 1, sizeof right);
    CU_ASSERT_EQUAL_FATAL(evaluate_bootstrap(right, user, 10, counted, 1, &lo, &hi, &e), PPR_OK);
    CU_ASSERT(lo == 1.0 && hi == 1.0);
    /* one right, one wrong: a resample's mean is 0, 1/2 or 1 with chances
     * 1/4, 1/2, 1/4, so 25 of 1,000 below 0 or above 1 is impossible and the
     * 26th smallest is 0 unless fewer than 26 of 1,000 draws gave 0 (a chance
     * below 1e-80) */
    right[1] = 0;
    CU_ASSERT_EQUAL_FATAL(evaluate_bootstrap(right, user, 2, counted, 1, &lo, &hi, &e), PPR_OK);
    CU_ASSERT(lo == 0.0 && hi == 1.0);
    /* 700 of 1,000 right: the interval is about 0.7 +- 1.96 sqrt(0.7 0.3 / 1000)
     * = 0.7 +- 0.0284 (the normal approximation, within resampling noise) */
    for (int i = 0; i < 1000; i++)
        right[i] = i % 10 < 7;
    CU_ASSERT_EQUAL_FATAL(evaluate_bootstrap(right, user, 1000, counted, 1, &lo, &hi, &e),
                          PPR_OK);
    fprintf(stderr, "\n  700 of 1000: [%.4f, %.4f]", lo, hi);
    CU_ASSERT(fabs((hi - lo) / 2 - 0.0284) < 0.004 && fabs((hi + lo) / 2 - 0.7) < 0.004);
    /* a user who is not counted moves nothing: user 1, all wrong */
    for (int i = 0; i < 1000; i++) {
        user[i] = i % 2;
        right[i] = user[i] == 0;
    }
    CU_ASSERT_EQUAL_FATAL(evaluate_bootstrap(right, user, 1000, counted, 2, &lo, &hi, &e),
                          PPR_OK);
    CU_ASSERT(lo == 1.0 && hi == 1.0);
}

/* ================ per-user means over trained users ================ */

/* Scores of m for text rows a and b: which is higher. */
static int higher(method *m, const float *matrix, uint32_t prompt, uint32_t a, uint32_t b)
{
    uint32_t rows[3] = {prompt, a, b}, u = 0;
    pair_set ps = {matrix, DIM, rows, &u, 1, 1, NULL};
    float ra = 0, rb = 0;
    ppr_err e = {0};
    CU_ASSERT_FATAL(method_score(m, &ps, 0, &ra, &e) == PPR_OK &&
                    method_score(m, &ps, 1, &rb, &e) == PPR_OK);
    CU_ASSERT_FATAL(ra != rb);
    return ra > rb;
}

/* Three users, A (4 test pairs, 3 ordered right), B (2, none right) and C (2,
 * both right; no training pair); minority users B and C. Right pairs are
 * oriented by the model's own scores, wrong ones are ties (chosen ==
 * rejected, which strict accuracy counts wrong). By hand: A 0.75, B 0, C 1
 * (listed, untrained); mean over A and B 0.375; minority mean over B alone 0. */
static void test_mean_over_trained_users(void)
{
    prefs_builder *pb = prefs_builder_new();
    CU_ASSERT_FATAL(pb != NULL);
    const char *names[3] = {"A", "B", "C"};
    for (int u = 0; u < 3; u++)
        CU_ASSERT_FATAL(prefs_builder_user(pb, names[u], PREFS_POOL_MAIN) == u);
    char text[16];
    for (int t = 0; t < 20; t++) { /* text t: prompt or response, all distinct */
        snprintf(text, sizeof text, "text %d", t);
        CU_ASSERT_FATAL(prefs_builder_text(pb, text, strlen(text)) == t);
    }
    float matrix[20 * DIM];
    rng r;
    rng_seed(&r, 5, 0);
    for (int i = 0; i < 20 * DIM; i++)
        matrix[i] = (float)rng_normal(&r);
    const char *settings_text = "{\"head\": {\"hidden\": [8]}}";
    cJSON *settings = cJSON_Parse(settings_text);
    method *m = NULL;
    ppr_err e = {0};
    CU_ASSERT_FATAL(method_new(&m, "vanilla", DIM, 3, settings, 3, &e) == PPR_OK);
    static const uint32_t user[8] = {0, 0, 0, 0, 1, 1, 2, 2};
    static const int right[8] = {1, 1, 1, 0, 0, 0, 1, 1};
    for (uint32_t i = 0; i < 8; i++) {
        uint32_t a = 2 + 2 * i, b = 3 + 2 * i; /* texts 2 .. 17; prompts 0 and 1 */
        prefs_row row = {.user = user[i], .prompt = i % 2, .split = PREFS_TEST, .p_chosen = NAN};
        if (right[i]) {
            int a_wins = higher(m, matrix, i % 2, a, b);
            row.chosen = a_wins ? a : b;
            row.rejected = a_wins ? b : a;
        } else {
            row.chosen = row.rejected = a;
        }
        CU_ASSERT_FATAL(prefs_builder_row(pb, &row, &e) == PPR_OK);
    }
    void *payload;
    size_t n;
    CU_ASSERT_FATAL(prefs_builder_finish(pb, &payload, &n, &e) == PPR_OK);
    prefs_view v;
    CU_ASSERT_FATAL(prefs_view_init(&v, payload, n, "fixture", &e) == PPR_OK);
    pairs_buf test = {0};
    for (uint32_t i = 0; i < 8; i++) {
        const prefs_row *row = &v.rows[i];
        uint32_t rows[3] = {row->prompt, row->chosen, row->rejected};
        CU_ASSERT_FATAL(pairs_push(&test, rows, row->user, row->prompt, NAN, &e) == PPR_OK);
    }
    uint8_t trained[3] = {1, 1, 0};
    cJSON *minority = cJSON_Parse("[\"B\", \"C\"]"), *run = cJSON_CreateObject();
    CU_ASSERT_EQUAL_FATAL(
        evaluate_users(m, &test, matrix, NULL, DIM, &v, minority, trained, run, &e), PPR_OK);
    const cJSON *users = cJSON_GetObjectItem(run, "users");
    CU_ASSERT_EQUAL(cJSON_GetArraySize(users), 3);
    static const double acc[3] = {0.75, 0.0, 1.0};
    for (int u = 0; u < 3; u++) {
        const cJSON *o = cJSON_GetArrayItem(users, u);
        CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(o, "name")->valuestring, names[u]);
        CU_ASSERT_DOUBLE_EQUAL(cJSON_GetObjectItem(o, "accuracy")->valuedouble, acc[u], 1e-12);
        CU_ASSERT_EQUAL(cJSON_IsTrue(cJSON_GetObjectItem(o, "untrained")), u == 2);
        CU_ASSERT(cJSON_GetObjectItem(o, "bayes") == NULL); /* no truth known */
    }
    CU_ASSERT_DOUBLE_EQUAL(cJSON_GetObjectItem(run, "mean")->valuedouble, 0.375, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(cJSON_GetObjectItem(run, "minority_mean")->valuedouble, 0.0, 1e-12);
    const cJSON *iv = cJSON_GetObjectItem(run, "mean_pairs95");
    CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(iv), 2);
    CU_ASSERT(cJSON_GetArrayItem(iv, 0)->valuedouble <= 0.375 &&
              cJSON_GetArrayItem(iv, 1)->valuedouble >= 0.375);
    /* validation measures over the same pairs: the user mean counts every user
     * (A 0.75, B 0, C 1: 0.583...), not the pair share (5 of 8) */
    pair_set ps = pairs_view(&test, matrix, NULL, DIM, 3);
    double mean, loss;
    CU_ASSERT_EQUAL_FATAL(evaluate_validation(m, &ps, &mean, &loss, &e), PPR_OK);
    CU_ASSERT_DOUBLE_EQUAL(mean, (0.75 + 0 + 1) / 3, 1e-12);
    CU_ASSERT(loss > 0 && isfinite(loss));
    cJSON_Delete(run);
    cJSON_Delete(minority);
    cJSON_Delete(settings);
    pairs_release(&test);
    method_free(m);
    free(payload);
    prefs_builder_free(pb);
}

int main(void)
{
    static const test_case cases[] = {
        {"a validation part held out by prompt", test_split_by_prompt},
        {"the bootstrap interval, by hand", test_bootstrap_by_hand},
        {"the mean over trained users, the minority mean and validation", test_mean_over_trained_users},
        {NULL, NULL},
    };
    return test_main("models: protocol", NULL, NULL, cases, CU_BRM_VERBOSE);
}
