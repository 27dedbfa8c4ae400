/* test_rag.c: RAG-kNN (common/models/rag.c) on a fixture small enough to
 * work out by hand: cosines of the prompt rows, the top-k with its tie rule,
 * the vote and the predicted order; that the query reads the test prompt
 * only; that a model works over the matrix it was built on only; the model
 * file's round trip; adaptation; and users it does not serve. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/sha256.h"
#include "common/models/evaluate.h"
#include "common/models/method.h"
#include "tests/testlib.h"

#define DIM 3
#define N_USERS 3 /* user 2 has no training pair */
#define TOL 1e-6

/* The feature rows [N_ROWS][DIM]. Prompts are not unit rows, so a cosine that
 * skipped the normalisation would show. */
enum {
    P_A,  /* (0, 0, 2) */
    P_B,  /* (3, 4, 0) */
    P_C,  /* (4, 3, 0) */
    P_D,  /* (-2, 0, 0) */
    P_E,  /* (0, 1, 0) */
    P_F,  /* (3, 0, 4) */
    E1,   /* (1, 0, 0) */
    E2,   /* (0, 1, 0) */
    TWO2, /* (0, 2, 0) */
    E3,   /* (0, 0, 1) */
    ZERO, /* (0, 0, 0) */
    TEN3, /* (0, 0, 10) */
    FIVE, /* (5, 5, 5) */
    M7,   /* (-7, 0, 0) */
    Q1,   /* (2, 0, 0): a test prompt */
    Q2,   /* (0, 3, 4): a test prompt */
    ONES, /* (1, 1, 1) */
    Q3,   /* (-3, 4, 0): a test prompt */
    N_ROWS
};

static const float matrix[N_ROWS][DIM] = {
    [P_A] = {0, 0, 2},  [P_B] = {3, 4, 0},  [P_C] = {4, 3, 0},   [P_D] = {-2, 0, 0},
    [P_E] = {0, 1, 0},  [P_F] = {3, 0, 4},  [E1] = {1, 0, 0},    [E2] = {0, 1, 0},
    [TWO2] = {0, 2, 0}, [E3] = {0, 0, 1},   [ZERO] = {0, 0, 0},  [TEN3] = {0, 0, 10},
    [FIVE] = {5, 5, 5}, [M7] = {-7, 0, 0},  [Q1] = {2, 0, 0},    [Q2] = {0, 3, 4},
    [ONES] = {1, 1, 1}, [Q3] = {-3, 4, 0},
};

/* Two names of features: the fixture's, and another matrix's. */
static unsigned char id_a[SHA256_LEN], id_b[SHA256_LEN];

/* The training pairs, users interleaved: the memory sorts them by user and
 * keeps each user's training order, its memory index j.
 *
 *   user 0                                   user 1
 *   j0  P_A  FIVE - ZERO  delta ( 5, 5, 5)   j0  P_E  E3 - E1  delta (-1, 0, 1)
 *   j1  P_B  E1 - E2      delta ( 1,-1, 0)   j1  P_F  E2 - E3  delta ( 0, 1,-1)
 *   j2  P_C  TWO2 - E1    delta (-1, 2, 0)
 *   j3  P_B  E3 - ZERO    delta ( 0, 0, 1)
 *   j4  P_D  M7 - ZERO    delta (-7, 0, 0)
 *   j5  P_B  ZERO - TEN3  delta ( 0, 0,-10)
 */
static const uint32_t train_rows[8][3] = {
    {P_A, FIVE, ZERO}, {P_E, E3, E1},   {P_B, E1, E2},   {P_C, TWO2, E1},
    {P_F, E2, E3},     {P_B, E3, ZERO}, {P_D, M7, ZERO}, {P_B, ZERO, TEN3},
};
static const uint32_t train_user[8] = {0, 1, 0, 0, 1, 0, 0, 0};

static pair_set set_of(const uint32_t (*rows)[3], const uint32_t *user, size_t n,
                       uint32_t n_users, const unsigned char *id)
{
    return (pair_set){&matrix[0][0], DIM, &rows[0][0], user, n, n_users, id};
}

static pair_set train_set(void)
{
    return set_of(train_rows, train_user, 8, N_USERS, id_a);
}

static method *make(uint32_t k, ppr_err *e)
{
    char text[64];
    snprintf(text, sizeof text, "{\"rag\": {\"k\": %u}}", k);
    cJSON *settings = cJSON_Parse(text);
    CU_ASSERT_FATAL(settings != NULL);
    method *m = NULL;
    int rc = method_new(&m, "rag", DIM, N_USERS, settings, 1, e);
    cJSON_Delete(settings);
    return rc == PPR_OK ? m : NULL;
}

static method *trained(uint32_t k)
{
    ppr_err e = {0};
    method *m = make(k, &e);
    CU_ASSERT_FATAL(m != NULL);
    pair_set ps = train_set();
    optim_settings o = {0};
    int rc = method_train(m, &ps, &o, &e);
    if (rc)
        fprintf(stderr, "\n  %s\n", e.msg);
    CU_ASSERT_EQUAL_FATAL(rc, PPR_OK);
    return m;
}

/* r [2][ps->n]: chosen, then rejected scores. */
static void scores(method *m, const pair_set *ps, float *r)
{
    ppr_err e = {0};
    int rc = method_score(m, ps, 0, r, &e);
    if (rc == PPR_OK)
        rc = method_score(m, ps, 1, r + ps->n, &e);
    if (rc)
        fprintf(stderr, "\n  %s\n", e.msg);
    CU_ASSERT_EQUAL_FATAL(rc, PPR_OK);
}

static void expect(const float *got, const double *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fabs(got[i] - want[i]) > TOL) {
            fprintf(stderr, "\n  score %zu: %.9g, by hand %.9g", i, got[i], want[i]);
            CU_FAIL("a score differs from the hand computation");
        }
}

/* ================ by hand ================ */

/* The test pairs:
 *
 *   t0  user 0  Q1  ONES - E2
 *   t1  user 0  Q2  E1 - E3
 *   t2  user 1  Q1  E2 - ONES
 *   t3  user 0  Q1  E3 - ONES
 *
 * Q1 = (2,0,0) is (1,0,0) normalised; its cosines with user 0's memory
 * prompts: P_A 0, P_B (3,4,0)/5: 0.6, P_C (4,3,0)/5: 0.8, P_D -1. So
 * s = (0, 0.6, 0.8, 0.6, -1, 0.6) for j0 .. j5; top-3: j2 (0.8), then the
 * tie at 0.6 to the lower indices, j1 and j3 (j5 left out), and
 *   w(Q1) = 0.8 (-1,2,0) + 0.6 (1,-1,0) + 0.6 (0,0,1) = (-0.2, 1.0, 0.6).
 * t0: r(ONES) = 1.4, r(E2) = 1.0: right. t3: r(E3) = 0.6, r(ONES) = 1.4:
 * wrong. Had the tie gone to j5, w3 would be 0.6 - 6 and t0 would flip.
 *
 * Q2 = (0,3,4)/5 = (0, 0.6, 0.8): P_A 0.8, P_B 0.48, P_C 0.36, P_D 0, so
 * top-3 j0 (0.8), j1 and j3 (0.48; j5 left out again), and
 *   w(Q2) = 0.8 (5,5,5) + 0.48 (1,-1,0) + 0.48 (0,0,1) = (4.48, 3.52, 4.48).
 * t1: r(E1) = r(E3) = 4.48 exactly (j1 and j3 share P_B, hence one cosine):
 * a tie, which counts wrong.
 *
 * User 1 has 2 pairs, fewer than k: both. Q1 against P_E 0, P_F (3,0,4)/5:
 * 0.6, so w(Q1) = 0.6 (0,1,-1) + 0 (-1,0,1) = (0, 0.6, -0.6). t2: r(E2) =
 * 0.6, r(ONES) = 0: right, where user 0's memory would order the same pair
 * the other way (1.0 against 1.4). */
static const uint32_t test_rows[4][3] = {
    {Q1, ONES, E2}, {Q2, E1, E3}, {Q1, E2, ONES}, {Q1, E3, ONES}};
static const uint32_t test_user[4] = {0, 0, 1, 0};

static void test_by_hand(void)
{
    method *m = trained(3);
    pair_set ps = set_of(test_rows, test_user, 4, N_USERS, id_a);
    float r[8];
    scores(m, &ps, r);
    static const double want[8] = {1.4, 4.48, 0.6, 0.6, 1.0, 4.48, 0.0, 1.4};
    expect(r, want, 8);
    CU_ASSERT(r[1] == r[5]); /* t1's tie is exact */
    uint64_t c[N_USERS], t[N_USERS];
    ppr_err e = {0};
    CU_ASSERT_EQUAL_FATAL(evaluate_counts(m, &ps, c, t, &e), PPR_OK);
    CU_ASSERT(c[0] == 1 && t[0] == 3); /* t0 right; t1 a tie; t3 wrong */
    CU_ASSERT(c[1] == 1 && t[1] == 1);
    method_free(m);

    /* k = 1: j2 alone, w(Q1) = 0.8 (-1,2,0): t0 r(ONES) = 0.8, r(E2) = 1.6.
     * k = 10, more than user 0's 6 pairs: all of them, the dissimilar j4
     * voting against its own preference (s = -1):
     *   w(Q1) = 0 (5,5,5) + 0.6 (1,-1,0) + 0.8 (-1,2,0) + 0.6 (0,0,1)
     *           - (-7,0,0) + 0.6 (0,0,-10) = (6.8, 1.0, -5.4),
     * t0 r(ONES) = 2.4, r(E2) = 1.0.
     * k = 2 on Q3 = (-3,4,0)/5: P_A 0, P_B 0.28, P_C 0, P_D 0.6, so s = (0,
     * 0.28, 0, 0.28, 0.6, 0.28): the tie j1, j3 fills the list before j4
     * displaces one of them, which must be j3, the later: top-2 j4, j1,
     *   w(Q3) = 0.6 (-7,0,0) + 0.28 (1,-1,0) = (-3.92, -0.28, 0),
     * and Q3's E1 - E2 scores -3.92 and -0.28. */
    static const uint32_t q3_rows[1][3] = {{Q3, E1, E2}};
    static const struct {
        uint32_t k;
        const uint32_t (*rows)[3];
        double want[2];
    } ks[] = {
        {1, test_rows, {0.8, 1.6}}, {10, test_rows, {2.4, 1.0}}, {2, q3_rows, {-3.92, -0.28}}};
    for (size_t i = 0; i < sizeof ks / sizeof *ks; i++) {
        pair_set one = set_of(ks[i].rows, test_user, 1, N_USERS, id_a);
        m = trained(ks[i].k);
        scores(m, &one, r);
        expect(r, ks[i].want, 2);
        method_free(m);
    }
}

/* ================ the query is the prompt ================ */

/* A response y scores r(y) = <w(prompt), phi(y)>, w fixed by the retrieval
 * alone; so when retrieval reads the prompt only, a test pair's scores are
 * those of the prompt's w whatever its responses. Set A reads w(Q1) off unit
 * responses (E1, E2, E3). Set B gives Q1 adversarial responses: j0's own
 * (FIVE - ZERO; a query built from the responses, Dong's paired_pref, or
 * from their difference, pair_diff, would find j0 first at similarity 1,
 * where the prompt puts it at 0) and j5's (ZERO - TEN3, which the prompt
 * leaves out on the tie). Both score by w(Q1) = (-0.2, 1.0, 0.6) of the
 * hand computation: r(FIVE) = 7.0, r(ZERO) = 0, r(TEN3) = 6.0; retrieving j0
 * (weight 1) instead of j3 would give r(FIVE) = 7 + 5 * 3 - 3 = 19.
 *
 * A matrix whose test response rows are NaN would prove nothing here: the
 * score reads those rows by definition, so every score would be NaN (and is
 * refused) whatever the query read. */
static void test_prompt_only(void)
{
    method *m = trained(3);
    static const uint32_t probe_rows[2][3] = {{Q1, E1, E2}, {Q1, E3, E1}};
    static const uint32_t adversarial_rows[2][3] = {{Q1, FIVE, ZERO}, {Q1, TEN3, ZERO}};
    static const uint32_t users[2] = {0, 0};
    pair_set a = set_of(probe_rows, users, 2, N_USERS, id_a);
    pair_set b = set_of(adversarial_rows, users, 2, N_USERS, id_a);
    float ra[4], rb[4];
    scores(m, &a, ra);
    scores(m, &b, rb);
    float w[3] = {ra[0], ra[2], ra[1]}; /* r(E1), r(E2), r(E3) */
    CU_ASSERT(ra[3] == ra[0]);          /* E1 twice: the same score */
    static const double w_hand[3] = {-0.2, 1.0, 0.6};
    expect(w, w_hand, 3);
    static const double want[4] = {7.0, 6.0, 0.0, 0.0};
    expect(rb, want, 4);
    /* and the same from set A's w: 5 (w1 + w2 + w3), 10 w3 */
    CU_ASSERT(fabs(rb[0] - 5 * ((double)w[0] + w[1] + w[2])) < TOL);
    CU_ASSERT(fabs(rb[1] - 10 * (double)w[2]) < TOL);
    method_free(m);
}

/* ================ the matrix's identity ================ */

static void test_matrix_identity(void)
{
    ppr_err e = {0};
    method *m = make(3, &e);
    CU_ASSERT_FATAL(m != NULL);
    pair_set ps = train_set(), t = set_of(test_rows, test_user, 4, N_USERS, id_a);
    optim_settings o = {0};
    ps.matrix_id = NULL;
    CU_ASSERT_EQUAL(method_train(m, &ps, &o, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "training rag") && err_has(&e, "matrix_id"));
    ps.matrix_id = id_a;
    CU_ASSERT_EQUAL_FATAL(method_train(m, &ps, &o, &e), PPR_OK);
    char a_hex[SHA256_HEX_LEN + 1], b_hex[SHA256_HEX_LEN + 1];
    sha256_hex(id_a, a_hex);
    sha256_hex(id_b, b_hex);
    float r[4];
    t.matrix_id = id_b;
    CU_ASSERT_EQUAL(method_score(m, &t, 0, r, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "scoring rag") && err_has(&e, "built over features") &&
              err_has(&e, a_hex) && err_has(&e, b_hex));
    t.matrix_id = NULL;
    CU_ASSERT_EQUAL(method_score(m, &t, 0, r, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "matrix_id"));
    static const uint32_t new_rows[1][3] = {{P_C, E1, E2}}, new_user[1] = {3};
    pair_set k = set_of(new_rows, new_user, 1, N_USERS + 1, id_b);
    CU_ASSERT_EQUAL(method_adapt(m, &k, 3, &o, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "adapting rag to user 3") && err_has(&e, b_hex));
    /* a prompt row of norm 0 has no cosine */
    static const uint32_t zero_rows[1][3] = {{ZERO, E1, E2}}, zero_user[1] = {0};
    pair_set z = set_of(zero_rows, zero_user, 1, N_USERS, id_a);
    CU_ASSERT_EQUAL(method_score(m, &z, 0, r, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "prompt row 10 has norm 0"));
    method_free(m);
}

/* ================ adaptation ================ */

/* New user 3 with one pair, P_C (cosine 0.8 with Q1), E1 - E2: delta (1,-1,0),
 * w(Q1) = (0.8, -0.8, 0), so Q1's E1 - E2 scores 0.8 and -0.8. Adapted again
 * with P_B (0.6), E2 - E1: w(Q1) = (-0.6, 0.6, 0): -0.6 and 0.6, the first
 * pair gone. Adapted with no pairs: not served. */
static void test_adapt(void)
{
    method *m = trained(3);
    optim_settings o = {0};
    ppr_err e = {0};
    static const uint32_t first[1][3] = {{P_C, E1, E2}}, second[1][3] = {{P_B, E2, E1}};
    static const uint32_t three[1] = {3}, q1_rows[1][3] = {{Q1, E1, E2}};
    pair_set t = set_of(q1_rows, three, 1, N_USERS + 1, id_a);
    float r[2];
    CU_ASSERT(!method_serves(m, 3));
    pair_set k = set_of(first, three, 1, N_USERS + 1, id_a);
    CU_ASSERT_EQUAL_FATAL(method_adapt(m, &k, 3, &o, &e), PPR_OK);
    CU_ASSERT(method_serves(m, 3));
    scores(m, &t, r);
    expect(r, (const double[]){0.8, -0.8}, 2);
    k = set_of(second, three, 1, N_USERS + 1, id_a);
    CU_ASSERT_EQUAL_FATAL(method_adapt(m, &k, 3, &o, &e), PPR_OK);
    scores(m, &t, r);
    expect(r, (const double[]){-0.6, 0.6}, 2);
    /* the training users are untouched */
    pair_set t0 = set_of(test_rows, test_user, 1, N_USERS + 1, id_a);
    scores(m, &t0, r);
    expect(r, (const double[]){1.4, 1.0}, 2);
    CU_ASSERT_EQUAL(method_adapt(m, &k, 2, &o, &e), PPR_EINPUT); /* a training user */
    CU_ASSERT(err_has(&e, "training users"));
    CU_ASSERT_EQUAL(method_adapt(m, &k, 4, &o, &e), PPR_EINPUT); /* user 3's pair */
    CU_ASSERT(err_has(&e, "pair 0 is user 3's"));
    k.n = 0;
    CU_ASSERT_EQUAL_FATAL(method_adapt(m, &k, 3, &o, &e), PPR_OK);
    CU_ASSERT(!method_serves(m, 3));
    method_free(m);

    method *fresh = make(3, &e);
    CU_ASSERT_FATAL(fresh != NULL);
    k = set_of(first, three, 1, N_USERS + 1, id_a);
    CU_ASSERT_EQUAL(method_adapt(fresh, &k, 3, &o, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "train it first"));
    method_free(fresh);
}

/* ================ users it does not serve ================ */

static void test_unserved(void)
{
    method *m = trained(3);
    CU_ASSERT(method_serves(m, 0) && method_serves(m, 1) && !method_serves(m, 2));
    static const uint32_t rows[2][3] = {{Q1, ONES, E2}, {Q1, ONES, E2}}, users[2] = {0, 2};
    pair_set ps = set_of(rows, users, 2, N_USERS, id_a);
    float r[2];
    ppr_err e = {0};
    CU_ASSERT_EQUAL(method_score(m, &ps, 0, r, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "user 2 (pair 1)") && err_has(&e, "does not serve"));
    uint64_t c[N_USERS], t[N_USERS];
    CU_ASSERT_EQUAL_FATAL(evaluate_counts(m, &ps, c, t, &e), PPR_OK);
    CU_ASSERT(c[0] == 1 && t[0] == 1 && t[2] == 0); /* user 2's pair skipped */
    method_free(m);
}

/* ================ the model file ================ */

/* m saved into *payload [*n], loaded back and saved again: the same bytes.
 * Returns the loaded model. */
static method *reloaded(const method *m, void **payload, size_t *n)
{
    method *back = NULL;
    void *again;
    size_t n_again;
    ppr_err e = {0};
    CU_ASSERT_EQUAL_FATAL(method_save(m, payload, n, &e), PPR_OK);
    CU_ASSERT_EQUAL_FATAL(method_load(&back, *payload, *n, "model", &e), PPR_OK);
    CU_ASSERT_STRING_EQUAL(back->name, "rag");
    CU_ASSERT_EQUAL_FATAL(method_save(back, &again, &n_again, &e), PPR_OK);
    CU_ASSERT(n_again == *n && memcmp(again, *payload, *n) == 0);
    free(again);
    return back;
}

/* Training user 0 to 2 and adapted user 3: 10 memory pairs. */
static method *adapted(void)
{
    method *m = trained(3);
    optim_settings o = {0};
    ppr_err e = {0};
    static const uint32_t adapt_rows[2][3] = {{P_C, E1, E2}, {P_A, E3, E2}};
    static const uint32_t three[2] = {3, 3};
    pair_set k = set_of(adapt_rows, three, 2, N_USERS + 1, id_a);
    CU_ASSERT_EQUAL_FATAL(method_adapt(m, &k, 3, &o, &e), PPR_OK);
    return m;
}

static void test_round_trip(void)
{
    method *m = adapted(), *twin = adapted();
    void *payload, *twin_payload;
    size_t n, n_twin;
    method *back = reloaded(m, &payload, &n);
    method_free(reloaded(twin, &twin_payload, &n_twin));
    CU_ASSERT(n == n_twin && memcmp(payload, twin_payload, n) == 0); /* deterministic */
    /* header 96, shape 48 + 10 pairs x 16, digest 32, no parameters */
    CU_ASSERT_EQUAL(n, 96 + 48 + 10 * 16 + 32);
    static const uint32_t rows[5][3] = {
        {Q1, ONES, E2}, {Q2, E1, E3}, {Q1, E2, ONES}, {Q1, E3, ONES}, {Q1, E1, E2}};
    static const uint32_t users[5] = {0, 0, 1, 0, 3};
    pair_set ps = set_of(rows, users, 5, N_USERS + 1, id_a);
    float r1[10], r2[10];
    scores(m, &ps, r1);
    scores(back, &ps, r2);
    CU_ASSERT(memcmp(r1, r2, sizeof r1) == 0);
    CU_ASSERT(!method_serves(back, 2) && method_serves(back, 3));
    free(twin_payload);
    free(payload);
    method_free(back);
    method_free(twin);
    method_free(m);

    /* an untrained model: no memory, no matrix, saved and loaded alike */
    ppr_err e = {0};
    method *empty = make(5, &e);
    CU_ASSERT_FATAL(empty != NULL);
    method_free(reloaded(empty, &payload, &n));
    CU_ASSERT_EQUAL(n, 96 + 48 + 32);
    free(payload);
    method_free(empty);
}

/* Shape fields changed, the digest made consistent again: refused by name. */
static void test_malformed(void)
{
    method *m = adapted();
    void *payload;
    size_t n;
    ppr_err e = {0};
    CU_ASSERT_EQUAL_FATAL(method_save(m, &payload, &n, &e), PPR_OK);
    static const struct {
        size_t at;      /* byte from the start of the payload */
        uint32_t set;   /* the uint32 written there */
        size_t words;   /* times, one after the other */
        const char *msg;
    } bad[] = {
        {96, 4, 1, "settings digest"},                   /* k 3 -> 4 */
        {100, 0, 1, "adapted users disagree"},           /* n_adapted 1 -> 0 */
        {104, 11, 1, "malformed"},                       /* n_pairs 10 -> 11 */
        {112, 0, 8, "malformed"},                        /* no matrix_id, yet pairs */
        {96 + 48 + 10 * 12, 1, 1, "not sorted by user"}, /* first user 0 -> 1, above 0 */
    };
    size_t at = 96 + 48 + 10 * 16; /* the digest's offset: the shape is 8-aligned */
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        unsigned char *p = malloc(n);
        CU_ASSERT_FATAL(p != NULL);
        memcpy(p, payload, n);
        for (size_t w = 0; w < bad[i].words; w++)
            memcpy(p + bad[i].at + 4 * w, &bad[i].set, sizeof bad[i].set);
        sha256_buf(p, at, p + at);
        method *x = NULL;
        CU_ASSERT_EQUAL(method_load(&x, p, n, "model-x", &e), PPR_EINPUT);
        CU_ASSERT(err_has(&e, bad[i].msg) && err_has(&e, "model-x") && x == NULL);
        free(p);
    }
    free(payload);
    method_free(m);
}

static void test_settings(void)
{
    ppr_err e = {0};
    CU_ASSERT(make(0, &e) == NULL);
    CU_ASSERT(err_has(&e, "k (pairs retrieved) is 0"));
    CU_ASSERT(make(1025, &e) == NULL);
    cJSON *none = cJSON_Parse("{\"head\": {\"hidden\": [4]}}");
    method *m = NULL;
    CU_ASSERT_EQUAL(method_new(&m, "rag", DIM, N_USERS, none, 1, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "rag"));
    cJSON_Delete(none);
    m = make(5, &e);
    CU_ASSERT_FATAL(m != NULL);
    unsigned char digest[SHA256_LEN], want[SHA256_LEN];
    CU_ASSERT_EQUAL(method_settings_digest(m, digest, &e), PPR_OK);
    const char *text = "{\"rag\":{\"k\":5}}";
    sha256_buf(text, strlen(text), want);
    CU_ASSERT(memcmp(digest, want, SHA256_LEN) == 0);
    method_free(m);
}

int main(void)
{
    sha256_buf("features a", 10, id_a);
    sha256_buf("features b", 10, id_b);
    static const test_case cases[] = {
        {"scores, retrieval and ties as worked out by hand", test_by_hand},
        {"the query reads the test prompt, never its responses", test_prompt_only},
        {"a model works over the matrix it was built on only", test_matrix_identity},
        {"adapt: k pairs become the new user's memory, again replaces", test_adapt},
        {"a user with no memory pairs is not served", test_unserved},
        {"saved twice alike, loaded and scored alike", test_round_trip},
        {"a malformed shape is refused", test_malformed},
        {"settings: rag.k read, checked and digested", test_settings},
        {NULL, NULL},
    };
    return test_main("models: rag", NULL, NULL, cases, CU_BRM_VERBOSE);
}
