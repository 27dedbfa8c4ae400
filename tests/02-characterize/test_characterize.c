/* test_characterize.c: stage 02 statistics on hand-made datasets whose every
 * expected value is worked out by hand in the comment beside its assertion. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "stages/02-characterize/characterize.h"
#include "tests/testlib.h"

#define EPS 1e-12

static const char_params PARAMS = {0.3, 0.5};

typedef struct {
    const char *name;
    uint32_t pool;
} spec_user;

typedef struct {
    uint32_t user;                           /* index into the spec_user table */
    const char *prompt, *chosen, *rejected; /* texts, deduplicated by the builder */
    uint32_t split;
    float p; /* true P(chosen > rejected) or NAN */
} spec_row;

/* A dataset and its view; the view points into payload. */
typedef struct {
    void *payload;
    prefs_view v;
} fixture;

/* Build the rows in order, or reversed with "B" given the first text id so that
 * every pair's lower text id flips; texts get ids in order of first use. */
static void fixture_init(fixture *f, const spec_user *users, size_t nu,
                         const spec_row *rows /* [nr] */, size_t nr, int reverse)
{
    ppr_err e = {0};
    size_t n;
    prefs_builder *b = prefs_builder_new();
    CU_ASSERT_FATAL(b != NULL);
    for (size_t u = 0; u < nu; u++)
        CU_ASSERT_FATAL(prefs_builder_user(b, users[u].name, users[u].pool) == (int64_t)u);
    if (reverse)
        CU_ASSERT_FATAL(prefs_builder_text(b, "B", 1) == 0);
    for (size_t k = 0; k < nr; k++) {
        const spec_row *s = &rows[reverse ? nr - 1 - k : k];
        prefs_row r = {
            .user = s->user,
            .prompt = (uint32_t)prefs_builder_text(b, s->prompt, strlen(s->prompt)),
            .chosen = (uint32_t)prefs_builder_text(b, s->chosen, strlen(s->chosen)),
            .rejected = (uint32_t)prefs_builder_text(b, s->rejected, strlen(s->rejected)),
            .split = s->split,
            .p_chosen = s->p,
        };
        CU_ASSERT_FATAL(prefs_builder_row(b, &r, &e) == PPR_OK);
    }
    CU_ASSERT_FATAL(prefs_builder_finish(b, &f->payload, &n, &e) == PPR_OK);
    prefs_builder_free(b);
    CU_ASSERT_FATAL(prefs_view_init(&f->v, f->payload, n, "fixture", &e) == PPR_OK);
}

static void fixture_release(fixture *f)
{
    free(f->payload);
    f->payload = NULL;
}

/* ==================== fixture A: disagreement, repeats ==================== */
/*
 * Users 0 alice, 1 bob, 2 carol, 3 dave (main pool), 4 newbie (new pool).
 * "A>B" below means the user chose A over B under that prompt.
 *
 *   T1 (P1): alice A>B, bob A>B, carol B>A            3 voters, 1 deviator
 *   T2 (P2): alice, bob, carol A>B; dave B>A twice      4 voters, 1 deviator
 *   T3 (P3): alice, bob A>B; carol, dave B>A (split test)  2 vs 2 tie
 *   T4 (P4): alice A>B, A>B, B>A                        one user only: not shared
 *   T5 (P5): alice A>B and B>A (ties: abstains); bob, carol A>B
 *   T6 (P6): dave A>B; carol and bob B>A, i.e. the pair in the other order
 *   newbie: P1 B>A, P3 A>B (would turn T1 into a tie if it counted)
 *   alice: P1 A over A (chosen == rejected: ignored)
 */
#define NA NAN
static const spec_user A_USERS[] = {
    {"alice", PREFS_POOL_MAIN}, {"bob", PREFS_POOL_MAIN}, {"carol", PREFS_POOL_MAIN},
    {"dave", PREFS_POOL_MAIN},  {"newbie", PREFS_POOL_NEW},
};
static const spec_row A_ROWS[] = {
    {0, "P1", "A", "B", PREFS_TRAIN, NA}, {1, "P1", "A", "B", PREFS_TRAIN, NA},
    {2, "P1", "B", "A", PREFS_TRAIN, NA},
    {0, "P2", "A", "B", PREFS_TRAIN, NA}, {1, "P2", "A", "B", PREFS_TRAIN, NA},
    {2, "P2", "A", "B", PREFS_TRAIN, NA}, {3, "P2", "B", "A", PREFS_TRAIN, NA},
    {3, "P2", "B", "A", PREFS_TRAIN, NA},
    {0, "P3", "A", "B", PREFS_TEST, NA},  {1, "P3", "A", "B", PREFS_TEST, NA},
    {2, "P3", "B", "A", PREFS_TEST, NA},  {3, "P3", "B", "A", PREFS_TEST, NA},
    {0, "P4", "A", "B", PREFS_TRAIN, NA}, {0, "P4", "A", "B", PREFS_TRAIN, NA},
    {0, "P4", "B", "A", PREFS_TRAIN, NA},
    {0, "P5", "A", "B", PREFS_TRAIN, NA}, {0, "P5", "B", "A", PREFS_TRAIN, NA},
    {1, "P5", "A", "B", PREFS_TRAIN, NA}, {2, "P5", "A", "B", PREFS_TRAIN, NA},
    {3, "P6", "A", "B", PREFS_TRAIN, NA}, {2, "P6", "B", "A", PREFS_TRAIN, NA},
    {1, "P6", "B", "A", PREFS_TRAIN, NA},
    {4, "P1", "B", "A", PREFS_TRAIN, NA}, {4, "P3", "A", "B", PREFS_TRAIN, NA},
    {0, "P1", "A", "A", PREFS_TRAIN, NA},
};
#define A_NROWS (sizeof A_ROWS / sizeof A_ROWS[0])
#define A_NUSERS (sizeof A_USERS / sizeof A_USERS[0])

static void check_fixture_a(const char_result *r)
{
    /* rows: T1 3 + T2 5 + T3 4 + T4 3 + T5 4 + T6 3 = 22; T3's 4 are test */
    CU_ASSERT_EQUAL(r->n_rows, 22);
    CU_ASSERT_EQUAL(r->n_rows_train, 18); /* 22 - 4 */
    CU_ASSERT_EQUAL(r->n_rows_test, 4);
    CU_ASSERT_EQUAL(r->n_rows_self, 1);   /* alice's A over A */
    CU_ASSERT_EQUAL(r->n_rows_new, 2);    /* newbie's two rows */
    CU_ASSERT_EQUAL(r->n_users, 4);       /* alice, bob, carol, dave */
    CU_ASSERT_EQUAL(r->n_users_rows, 4);
    CU_ASSERT_EQUAL(r->n_users_new, 1);   /* newbie */

    /* triples T1..T6 (the self row forms none); shared: all but T4 (one voter) */
    CU_ASSERT_EQUAL(r->n_triples, 6);
    CU_ASSERT_EQUAL(r->n_shared, 5);
    /* contested: T1 (m=1), T2 (m=1), T3 (m=2), T6 (m=1); T5 is 2 vs 0 */
    CU_ASSERT_EQUAL(r->n_contested, 4);
    /* highly: T1 1/3 >= 0.3, T3 2/4 >= 0.3, T6 1/3 >= 0.3; T2 1/4 < 0.3 */
    CU_ASSERT_EQUAL(r->n_highly, 3);
    CU_ASSERT_DOUBLE_EQUAL(r->contested_rate, 0.8, EPS); /* 4 / 5 */
    CU_ASSERT_DOUBLE_EQUAL(r->highly_rate, 0.6, EPS);    /* 3 / 5 */

    const char_user *al = &r->users[0], *bo = &r->users[1], *ca = &r->users[2],
                    *da = &r->users[3], *nb = &r->users[4];
    /* alice: T1 1 + T2 1 + T3 0.5 (tie); T4 not shared, T5 abstained -> 2.5 / 3 */
    CU_ASSERT_EQUAL(al->n_shared_votes, 3);
    CU_ASSERT_DOUBLE_EQUAL(al->mv_acc, 2.5 / 3.0, EPS);
    /* bob: T1 1 + T2 1 + T3 0.5 + T5 1 + T6 1 (B side has 2 of 3) = 4.5 / 5 */
    CU_ASSERT_EQUAL(bo->n_shared_votes, 5);
    CU_ASSERT_DOUBLE_EQUAL(bo->mv_acc, 0.9, EPS);
    /* carol: T1 0 + T2 1 + T3 0.5 + T5 1 + T6 1 = 3.5 / 5 */
    CU_ASSERT_DOUBLE_EQUAL(ca->mv_acc, 0.7, EPS);
    /* dave: T2 0 (his two labels are one vote) + T3 0.5 + T6 0 = 0.5 / 3 */
    CU_ASSERT_EQUAL(da->n_shared_votes, 3);
    CU_ASSERT_DOUBLE_EQUAL(da->mv_acc, 0.5 / 3.0, EPS);
    CU_ASSERT_EQUAL(da->minority, 1); /* 1/6 < 0.5 */
    CU_ASSERT_EQUAL(al->minority + bo->minority + ca->minority, 0);
    CU_ASSERT_EQUAL(r->n_minority, 1);
    CU_ASSERT_DOUBLE_EQUAL(r->mv_acc_min, 1.0 / 6.0, EPS); /* dave */
    CU_ASSERT_DOUBLE_EQUAL(r->mv_acc_max, 0.9, EPS);       /* bob */
    /* (5/6 + 9/10 + 7/10 + 1/6) / 4 = (1 + 1.6) / 4 */
    CU_ASSERT_DOUBLE_EQUAL(r->mv_acc_mean, 0.65, EPS);

    /* per-user rows: alice T1..T3 1 each + T4 3 + T5 2 = 8; bob 5; carol 5;
     * dave T2 2 + T3 1 + T6 1 = 4 */
    CU_ASSERT_EQUAL(al->n_rows, 8);
    CU_ASSERT_EQUAL(bo->n_rows, 5);
    CU_ASSERT_EQUAL(ca->n_rows, 5);
    CU_ASSERT_EQUAL(da->n_rows, 4);
    CU_ASSERT_EQUAL(al->n_triples, 5); /* T1..T5 */
    CU_ASSERT_EQUAL(da->n_triples, 3); /* T2, T3, T6 */
    CU_ASSERT_EQUAL(al->n_abstain, 1); /* T5: one A>B, one B>A */
    CU_ASSERT_EQUAL(bo->n_abstain, 0);

    /* alice repeats T4 (r_a 2, r_b 1: C(2,2)+C(1,2) = 1 of C(3,2) = 3) and
     * T5 (r_a 1, r_b 1: 0 of C(2,2) = 1): 1 of 4 */
    CU_ASSERT_EQUAL(al->n_repeated, 2);
    CU_ASSERT_EQUAL(al->agree_pairs, 1);
    CU_ASSERT_EQUAL(al->label_pairs, 4);
    CU_ASSERT_DOUBLE_EQUAL(al->consistency, 0.25, EPS);
    /* dave repeats T2 (r_b 2: C(2,2) = 1 of 1) */
    CU_ASSERT_EQUAL(da->n_repeated, 1);
    CU_ASSERT_DOUBLE_EQUAL(da->consistency, 1.0, EPS);
    CU_ASSERT(isnan(bo->consistency)); /* no repeats */
    CU_ASSERT(isnan(ca->consistency));
    /* (0.25 + 1) / 2 over alice and dave */
    CU_ASSERT_DOUBLE_EQUAL(r->consistency, 0.625, EPS);
    /* 0.625 - 0.65 */
    CU_ASSERT_DOUBLE_EQUAL(r->room_labels, -0.025, EPS);

    /* no row carries a true probability */
    CU_ASSERT_EQUAL(r->has_truth, 0);
    CU_ASSERT(isnan(al->bayes_acc));
    CU_ASSERT(isnan(r->bayes_acc_mean));
    CU_ASSERT(isnan(r->truth_consistency));
    CU_ASSERT(isnan(r->room_truth));

    /* newbie is reported by count only */
    CU_ASSERT_EQUAL(nb->pool, PREFS_POOL_NEW);
    CU_ASSERT_EQUAL(nb->n_rows, 0);
    CU_ASSERT(isnan(nb->mv_acc));
}

static void test_fixture_a(void)
{
    fixture f;
    fixture_init(&f, A_USERS, A_NUSERS, A_ROWS, A_NROWS, 0);
    char_result r;
    ppr_err e = {0};
    CU_ASSERT_FATAL(characterize(&f.v, &PARAMS, &r, &e) == PPR_OK);
    CU_ASSERT_EQUAL(r.n_user_ids, 5);
    check_fixture_a(&r);
    char_result_release(&r);
    fixture_release(&f);
}

/* Reversed rows and flipped text ids change nothing. */
static void test_fixture_a_reversed(void)
{
    fixture f;
    fixture_init(&f, A_USERS, A_NUSERS, A_ROWS, A_NROWS, 1);
    char_result r;
    ppr_err e = {0};
    CU_ASSERT_FATAL(characterize(&f.v, &PARAMS, &r, &e) == PPR_OK);
    check_fixture_a(&r);
    char_result_release(&r);
    fixture_release(&f);
}

static const cJSON *json_user(const cJSON *o, const char *name)
{
    const cJSON *u;
    cJSON_ArrayForEach(u, cJSON_GetObjectItemCaseSensitive(o, "users"))
        if (strcmp(cJSON_GetObjectItemCaseSensitive(u, "name")->valuestring, name) == 0)
            return u;
    return NULL;
}

static void test_fixture_a_json(void)
{
    fixture f;
    fixture_init(&f, A_USERS, A_NUSERS, A_ROWS, A_NROWS, 0);
    char_result r;
    ppr_err e = {0};
    CU_ASSERT_FATAL(characterize(&f.v, &PARAMS, &r, &e) == PPR_OK);
    cJSON *o = char_result_json(&r, &f.v);
    CU_ASSERT_FATAL(o != NULL);
    char *text = json_canonical(o, &e); /* fails if a NaN slipped through */
    CU_ASSERT_PTR_NOT_NULL(text);
    free(text);
    /* 4 / 5 as above; 0.625 as above */
    CU_ASSERT_DOUBLE_EQUAL(cJSON_GetObjectItem(o, "contested_rate")->valuedouble, 0.8, EPS);
    CU_ASSERT_DOUBLE_EQUAL(cJSON_GetObjectItem(o, "consistency")->valuedouble, 0.625, EPS);
    CU_ASSERT(cJSON_IsNull(cJSON_GetObjectItem(o, "bayes_acc_mean"))); /* no truth */
    CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItem(o, "users")), 4); /* no newbie */
    CU_ASSERT_PTR_NULL(json_user(o, "newbie"));
    const cJSON *minority = cJSON_GetObjectItem(o, "minority_users");
    CU_ASSERT_EQUAL(cJSON_GetArraySize(minority), 1);
    CU_ASSERT_STRING_EQUAL(cJSON_GetArrayItem(minority, 0)->valuestring, "dave");
    const cJSON *bob = json_user(o, "bob");
    CU_ASSERT_FATAL(bob != NULL);
    CU_ASSERT_DOUBLE_EQUAL(cJSON_GetObjectItem(bob, "mv_acc")->valuedouble, 0.9, EPS);
    CU_ASSERT(cJSON_IsNull(cJSON_GetObjectItem(bob, "consistency"))); /* no repeats */
    cJSON_Delete(o);
    char_result_release(&r);
    fixture_release(&f);
}

/* ======================= fixture B: ground truth ========================= */
/*
 * Users 0 x, 1 y, with dyadic probabilities so the arithmetic is exact:
 *   Q1: x A>B p 0.75;   y B>A p 0.625   -> 1 vs 1 tie
 *   Q2: x B>A p 0.875;  y A>B p 0.25    -> 1 vs 1 tie
 * With `partial`, a third user z labels Q3 alone without a probability.
 */
static const spec_user B_USERS[] = {
    {"x", PREFS_POOL_MAIN}, {"y", PREFS_POOL_MAIN}, {"z", PREFS_POOL_MAIN}};
static const spec_row B_ROWS[] = {
    {0, "Q1", "A", "B", PREFS_TRAIN, 0.75f},  {1, "Q1", "B", "A", PREFS_TRAIN, 0.625f},
    {0, "Q2", "B", "A", PREFS_TEST, 0.875f},  {1, "Q2", "A", "B", PREFS_TEST, 0.25f},
    {2, "Q3", "A", "B", PREFS_TRAIN, NA},
};

static void test_fixture_b_truth(void)
{
    fixture f;
    fixture_init(&f, B_USERS, 2, B_ROWS, 4, 0);
    char_result r;
    ppr_err e = {0};
    CU_ASSERT_FATAL(characterize(&f.v, &PARAMS, &r, &e) == PPR_OK);
    /* both triples are 1 vs 1: contested and highly (1/2 >= 0.3) */
    CU_ASSERT_EQUAL(r.n_shared, 2);
    CU_ASSERT_DOUBLE_EQUAL(r.contested_rate, 1.0, EPS);
    CU_ASSERT_DOUBLE_EQUAL(r.highly_rate, 1.0, EPS);
    /* every vote is in a tie: 0.5 each; 0.5 is not < 0.5, so no minority */
    CU_ASSERT_DOUBLE_EQUAL(r.users[0].mv_acc, 0.5, EPS);
    CU_ASSERT_DOUBLE_EQUAL(r.users[1].mv_acc, 0.5, EPS);
    CU_ASSERT_EQUAL(r.n_minority, 0);
    CU_ASSERT_EQUAL(r.has_truth, 1);
    /* x: (max(.75,.25) + max(.875,.125)) / 2 = (0.75 + 0.875) / 2 */
    CU_ASSERT_DOUBLE_EQUAL(r.users[0].bayes_acc, 0.8125, EPS);
    /* y: (max(.625,.375) + max(.25,.75)) / 2 = (0.625 + 0.75) / 2 */
    CU_ASSERT_DOUBLE_EQUAL(r.users[1].bayes_acc, 0.6875, EPS);
    CU_ASSERT_DOUBLE_EQUAL(r.bayes_acc_mean, 0.75, EPS); /* (0.8125 + 0.6875) / 2 */
    /* x: (.75^2 + .25^2 = 0.625) and (.875^2 + .125^2 = 0.78125): mean 0.703125 */
    CU_ASSERT_DOUBLE_EQUAL(r.users[0].truth_consistency, 0.703125, EPS);
    /* y: (.625^2 + .375^2 = 0.53125) and (.25^2 + .75^2 = 0.625): mean 0.578125 */
    CU_ASSERT_DOUBLE_EQUAL(r.users[1].truth_consistency, 0.578125, EPS);
    CU_ASSERT_DOUBLE_EQUAL(r.truth_consistency, 0.640625, EPS); /* mean of the two */
    /* 0.75 - mean MV-ACC 0.5 */
    CU_ASSERT_DOUBLE_EQUAL(r.room_truth, 0.25, EPS);
    /* no repeats: label consistency and its room are unknown */
    CU_ASSERT(isnan(r.consistency));
    CU_ASSERT(isnan(r.room_labels));
    char_result_release(&r);
    fixture_release(&f);
}

static void test_fixture_b_partial_truth(void)
{
    fixture f;
    fixture_init(&f, B_USERS, 3, B_ROWS, 5, 0);
    char_result r;
    ppr_err e = {0};
    CU_ASSERT_FATAL(characterize(&f.v, &PARAMS, &r, &e) == PPR_OK);
    /* Q1, Q2, Q3; Q3 has one voter, not shared */
    CU_ASSERT_EQUAL(r.n_triples, 3);
    CU_ASSERT_EQUAL(r.n_shared, 2);
    /* z has no shared triple: MV-ACC undefined, outside the range and the mean */
    CU_ASSERT(isnan(r.users[2].mv_acc));
    CU_ASSERT_EQUAL(r.users[2].minority, 0);
    CU_ASSERT_DOUBLE_EQUAL(r.mv_acc_min, 0.5, EPS);
    CU_ASSERT_DOUBLE_EQUAL(r.mv_acc_max, 0.5, EPS);
    CU_ASSERT_DOUBLE_EQUAL(r.mv_acc_mean, 0.5, EPS);
    /* z's only row lacks p: z unknown, so the dataset has no ground truth */
    CU_ASSERT(isnan(r.users[2].bayes_acc));
    CU_ASSERT_DOUBLE_EQUAL(r.users[0].bayes_acc, 0.8125, EPS); /* as before */
    CU_ASSERT_EQUAL(r.has_truth, 0);
    CU_ASSERT(isnan(r.bayes_acc_mean));
    CU_ASSERT(isnan(r.room_truth));
    char_result_release(&r);
    fixture_release(&f);
}

/* ================= fixture C: the 30% boundary itself ==================== */

/* 10 users on one triple, 7 A>B and 3 B>A: 3/10 = 0.3 >= 0.3 is highly. With 8
 * users, 6 vs 2: 2/8 = 0.25 < 0.3 is contested only. */
static void boundary_check(uint32_t n, uint32_t deviators, uint32_t want_highly)
{
    static const spec_user users[] = {
        {"u0", 0}, {"u1", 0}, {"u2", 0}, {"u3", 0}, {"u4", 0},
        {"u5", 0}, {"u6", 0}, {"u7", 0}, {"u8", 0}, {"u9", 0}};
    spec_row rows[10];
    for (uint32_t u = 0; u < n; u++)
        rows[u] = (spec_row){u, "P", u < deviators ? "B" : "A", u < deviators ? "A" : "B",
                             PREFS_TRAIN, NA};
    fixture f;
    fixture_init(&f, users, n, rows, n, 0);
    char_result r;
    ppr_err e = {0};
    CU_ASSERT_FATAL(characterize(&f.v, &PARAMS, &r, &e) == PPR_OK);
    CU_ASSERT_EQUAL(r.n_contested, 1);
    CU_ASSERT_EQUAL(r.n_highly, want_highly);
    /* a deviator scores 0 and a majority voter 1 */
    CU_ASSERT_DOUBLE_EQUAL(r.users[0].mv_acc, 0.0, EPS);
    CU_ASSERT_DOUBLE_EQUAL(r.users[n - 1].mv_acc, 1.0, EPS);
    CU_ASSERT_EQUAL(r.n_minority, deviators);
    char_result_release(&r);
    fixture_release(&f);
}

static void test_highly_boundary(void)
{
    boundary_check(10, 3, 1); /* 3 / 10 = 0.3 >= 0.3 */
    boundary_check(8, 2, 0);  /* 2 / 8 = 0.25 < 0.3 */
}

/* ============================ edge cases ================================ */

static void test_empty(void)
{
    fixture f;
    fixture_init(&f, NULL, 0, NULL, 0, 0);
    char_result r;
    ppr_err e = {0};
    CU_ASSERT_FATAL(characterize(&f.v, &PARAMS, &r, &e) == PPR_OK);
    CU_ASSERT_EQUAL(r.n_rows + r.n_users + r.n_triples + r.n_shared + r.n_minority, 0);
    CU_ASSERT(isnan(r.contested_rate) && isnan(r.highly_rate));
    CU_ASSERT(isnan(r.mv_acc_min) && isnan(r.mv_acc_max) && isnan(r.mv_acc_mean));
    CU_ASSERT(isnan(r.consistency) && isnan(r.room_labels));
    CU_ASSERT_EQUAL(r.has_truth, 0);
    CU_ASSERT(isnan(r.bayes_acc_mean) && isnan(r.room_truth));
    cJSON *o = char_result_json(&r, &f.v);
    CU_ASSERT_FATAL(o != NULL);
    CU_ASSERT(cJSON_IsNull(cJSON_GetObjectItem(o, "contested_rate")));
    char *text = json_canonical(o, &e);
    CU_ASSERT_PTR_NOT_NULL(text);
    free(text);
    cJSON_Delete(o);
    char_result_release(&r);
    fixture_release(&f);
}

/* Users but only new-pool rows: the main pool is empty, the new rows counted. */
static void test_only_new_pool(void)
{
    static const spec_user users[] = {{"m", PREFS_POOL_MAIN}, {"n", PREFS_POOL_NEW}};
    static const spec_row rows[] = {{1, "P", "A", "B", PREFS_TRAIN, 0.5f}};
    fixture f;
    fixture_init(&f, users, 2, rows, 1, 0);
    char_result r;
    ppr_err e = {0};
    CU_ASSERT_FATAL(characterize(&f.v, &PARAMS, &r, &e) == PPR_OK);
    CU_ASSERT_EQUAL(r.n_rows, 0);
    CU_ASSERT_EQUAL(r.n_rows_new, 1);
    CU_ASSERT_EQUAL(r.n_users, 1);      /* m */
    CU_ASSERT_EQUAL(r.n_users_rows, 0); /* m has no row */
    CU_ASSERT_EQUAL(r.n_triples, 0);
    CU_ASSERT_EQUAL(r.has_truth, 0);    /* no counted row at all */
    CU_ASSERT(isnan(r.users[0].mv_acc));
    char_result_release(&r);
    fixture_release(&f);
}

static void test_bad_params(void)
{
    fixture f;
    fixture_init(&f, A_USERS, A_NUSERS, A_ROWS, A_NROWS, 0);
    char_result r;
    ppr_err e = {0};
    char_params bad = {1.5, 0.5};
    CU_ASSERT_EQUAL(characterize(&f.v, &bad, &r, &e), PPR_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "'highly_threshold'"));
    char_result_release(&r);
    bad = (char_params){0.3, NAN};
    CU_ASSERT_EQUAL(characterize(&f.v, &bad, &r, &e), PPR_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "'minority_below'"));
    char_result_release(&r);
    char_result_release(NULL);
    fixture_release(&f);
}

int main(void)
{
    static const test_case cases[] = {
        {"fixture A: disagreement and repeats", test_fixture_a},
        {"fixture A reversed: order does not matter", test_fixture_a_reversed},
        {"fixture A as JSON", test_fixture_a_json},
        {"fixture B: ground truth", test_fixture_b_truth},
        {"fixture B: partial ground truth", test_fixture_b_partial_truth},
        {"highly contested at exactly 30%", test_highly_boundary},
        {"empty dataset", test_empty},
        {"only new-pool rows", test_only_new_pool},
        {"bad parameters", test_bad_params},
        {NULL, NULL},
    };
    return test_main("characterize", NULL, NULL, cases, CU_BRM_VERBOSE);
}
