/* test_adapt.c: new users (common/models/adapt.c) on data generated here,
 * whose utilities are known linear functions of the response features:
 * the draws; the retrieve-similar-user rule by hand (shared pairs, ties,
 * predictions) and on users copied from an archetype; accuracy by hand; the
 * upper bound against the Bayes-optimal accuracy of its users; further
 * fine-tuning with k = 300 against k = 30; and PRM's adaptation, which moves
 * the new user's embedding and nothing else. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/models/adapt.h"
#include "common/models/bt.h"
#include "common/models/method.h"
#include "common/models/stats.h"
#include "common/rng.h"
#include "tests/testlib.h"

#define D 4 /* feature width of every generated text */

/* ---- generated users --------------------------------------------------------- */

/* Texts as rows of one matrix [cap][D], filled from the front. */
typedef struct {
    float *x;
    uint32_t n, cap;
} texts;

static uint32_t text_add(texts *t, rng *r)
{
    CU_ASSERT_FATAL(t->n < t->cap);
    for (int c = 0; c < D; c++)
        t->x[(size_t)t->n * D + c] = (float)rng_normal(r);
    return t->n++;
}

static double utility(const texts *t, uint32_t row, const double *w)
{
    double u = 0.0;
    for (int c = 0; c < D; c++)
        u += w[c] * t->x[(size_t)row * D + c];
    return u;
}

/* Append n pairs of user `user`, whose utility is w . phi(response): each
 * pair a fresh prompt and two fresh responses, the first chosen with
 * probability sigmoid(beta (u_a - u_b)) (labels sampled). *bayes (when not
 * NULL) gains each pair's Bayes-optimal expected accuracy sigmoid(beta |du|)
 * and *hits (when not NULL) 1 where the chosen response has the higher
 * utility: the Bayes-optimal rule's measured hit. */
static void gen_pairs(texts *t, size_t n, const double *w, double beta, uint32_t user, rng *r,
                      pairs_buf *out, double *bayes, double *hits)
{
    ppr_err e = {0};
    for (size_t i = 0; i < n; i++) {
        uint32_t p = text_add(t, r), a = text_add(t, r), b = text_add(t, r);
        double du = utility(t, a, w) - utility(t, b, w), pa = 1.0 / (1.0 + exp(-beta * du));
        int a_wins = rng_uniform(r) < pa;
        uint32_t rows[3] = {p, a_wins ? a : b, a_wins ? b : a};
        CU_ASSERT_EQUAL_FATAL(pairs_push(out, rows, user, p, (float)(a_wins ? pa : 1 - pa), &e),
                              PPR_OK);
        if (bayes)
            *bayes += 1.0 / (1.0 + exp(-beta * fabs(du)));
        if (hits)
            *hits += (du > 0) == a_wins;
    }
}

/* A Bradley-Terry method whose head u computes exactly w[u] . phi(response):
 * hidden [2], ReLU(w . x) - ReLU(-w . x). */
static method *linear_heads(const char *name, uint32_t n_users, const double (*w)[D])
{
    cJSON *settings = cJSON_Parse("{\"head\": {\"hidden\": [2]}}");
    method *m = NULL;
    ppr_err e = {0};
    CU_ASSERT_EQUAL_FATAL(method_new(&m, name, D, n_users, settings, 1, &e), PPR_OK);
    cJSON_Delete(settings);
    bt_model *md = (bt_model *)m;
    for (uint32_t h = 0; h < md->n_heads; h++) {
        mlp *head = &md->heads[h];
        memset(head->params, 0, head->n_params * sizeof *head->params);
        float *w1 = head->params + head->w_off[0]; /* [2][2D] */
        for (int c = 0; c < D; c++) {
            w1[D + c] = (float)w[h][c];
            w1[2 * D + D + c] = (float)-w[h][c];
        }
        float *w2 = head->params + head->w_off[1]; /* [1][2] */
        w2[0] = 1;
        w2[1] = -1;
    }
    return m;
}

static optim_settings optim(double lr, uint32_t epochs, uint64_t seed)
{
    optim_settings o = {.lr = lr, .batch = 64, .epochs = epochs, .seed = seed};
    return o;
}

/* ---- the draws ------------------------------------------------------------------ */

static void test_draws(void)
{
    uint32_t a[50], b[50], c[50];
    adapt_draw(a, 50, 0, 7);
    adapt_draw(b, 50, 0, 7);
    adapt_draw(c, 50, 1, 7);
    CU_ASSERT_EQUAL(memcmp(a, b, sizeof a), 0); /* seeded */
    CU_ASSERT_NOT_EQUAL(memcmp(a, c, sizeof a), 0);
    int seen[50] = {0};
    for (int i = 0; i < 50; i++)
        seen[a[i]]++;
    for (int i = 0; i < 50; i++)
        CU_ASSERT_EQUAL(seen[i], 1); /* a permutation */
    adapt_draw(c, 50, 0, 8);
    CU_ASSERT_NOT_EQUAL(memcmp(a, c, sizeof a), 0); /* per user */
}

/* ---- retrieve-similar-user, by hand ----------------------------------------------- */

static void similar(const adapt_known *k, const uint32_t (*rows)[3], size_t n,
                    const uint8_t *agree, adapt_match *m)
{
    ppr_err e = {0};
    uint32_t user[8] = {0};
    pair_set kp = {NULL, D, &rows[0][0], user, n, 1, NULL};
    CU_ASSERT_EQUAL_FATAL(adapt_similar(k, &kp, agree, m, &e), PPR_OK);
}

static void test_similar_by_hand(void)
{
    /* user 0: (1: 10 > 11), (2: 20 > 21); user 1: (1: 11 > 10), (2: 20 > 21);
     * user 2: (3: 30 > 31) */
    pairs_buf b = {0};
    ppr_err e = {0};
    const uint32_t known[5][3] = {{1, 10, 11}, {2, 20, 21}, {1, 11, 10}, {2, 20, 21}, {3, 30, 31}};
    const uint32_t who[5] = {0, 0, 1, 1, 2};
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL_FATAL(pairs_push(&b, known[i], who[i], known[i][0], NAN, &e), PPR_OK);
    adapt_known k;
    CU_ASSERT_EQUAL_FATAL(adapt_known_init(&k, &b, 3, &e), PPR_OK);
    adapt_match m;
    /* 10 > 11: user 0 +1, user 1 -1; 21 > 20: users 0 and 1 -1 each. User 0
     * (0) beats user 1 (-2); user 2 shares nothing and is not a candidate. */
    const uint32_t q1[2][3] = {{1, 10, 11}, {2, 21, 20}};
    similar(&k, q1, 2, NULL, &m);
    CU_ASSERT_EQUAL(m.rule, ADAPT_RULE_SHARED);
    CU_ASSERT_EQUAL(m.user, 0);
    CU_ASSERT_EQUAL(m.score, 0);
    const uint32_t q2[1][3] = {{1, 11, 10}}; /* user 1 +1, user 0 -1 */
    similar(&k, q2, 1, NULL, &m);
    CU_ASSERT_EQUAL(m.user, 1);
    CU_ASSERT_EQUAL(m.score, 1);
    const uint32_t q3[1][3] = {{2, 20, 21}}; /* users 0 and 1 +1: the lower id */
    similar(&k, q3, 1, NULL, &m);
    CU_ASSERT_EQUAL(m.user, 0);
    /* nothing shared: agreement with each user's predictions, [k][3] */
    const uint32_t q4[2][3] = {{5, 50, 51}, {6, 60, 61}};
    const uint8_t agree[6] = {0, 1, 1, 0, 1, 0}; /* users 0, 1, 2: 0, 2, 1 */
    similar(&k, q4, 2, agree, &m);
    CU_ASSERT_EQUAL(m.rule, ADAPT_RULE_PREDICTIONS);
    CU_ASSERT_EQUAL(m.user, 1);
    CU_ASSERT_EQUAL(m.score, 2);
    adapt_known_release(&k);
    pairs_release(&b);
}

/* A new user copied from archetype j (its utility, labels sampled) is matched
 * to j by the predictions of an Individual RM whose heads are the archetypes'
 * utilities. With k = 100 and beta = 2 the copy agrees with j's head on
 * about 0.8 of its pairs and with an orthogonal archetype's on 0.5: a margin
 * of 30 agreements against a standard deviation of about 6 of their
 * difference. */
static void test_similar_archetypes(void)
{
    static const double w[3][D] = {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 1}};
    method *ind = linear_heads("individual", 3, w);
    texts t = {calloc(3 * 100 * 3 * D, sizeof(float)), 0, 3 * 100 * 3};
    rng r;
    rng_seed(&r, 11, 0);
    adapt_known none = {NULL, 0, 3};
    ppr_err e = {0};
    for (uint32_t j = 0; j < 3; j++) {
        pairs_buf b = {0};
        gen_pairs(&t, 100, w[j], 2.0, 0, &r, &b, NULL, NULL);
        pair_set kp = pairs_view(&b, t.x, NULL, D, 1);
        uint8_t agree[100 * 3];
        adapt_match m;
        CU_ASSERT_EQUAL_FATAL(adapt_agreement(ind, &kp, 3, agree, &e), PPR_OK);
        CU_ASSERT_EQUAL_FATAL(adapt_similar(&none, &kp, agree, &m, &e), PPR_OK);
        CU_ASSERT_EQUAL(m.rule, ADAPT_RULE_PREDICTIONS);
        CU_ASSERT_EQUAL(m.user, j);
        pairs_release(&b);
    }
    free(t.x);
    method_free(ind);
}

/* ---- accuracy, by hand ------------------------------------------------------------ */

static void test_accuracy_by_hand(void)
{
    static const double w[1][D] = {{1, 0, 0, 0}};
    method *van = linear_heads("vanilla", 1, w);
    /* responses' first feature: 2 vs 1 right, 1 vs 2 wrong, 3 vs 3 a tie
     * (wrong), 5 vs -1 right: 2 of 4 */
    const float first[8] = {2, 1, 1, 2, 3, 3, 5, -1};
    float x[9 * D] = {0};
    for (int i = 0; i < 8; i++)
        x[(1 + i) * D] = first[i];
    pairs_buf b = {0};
    ppr_err e = {0};
    for (uint32_t i = 0; i < 4; i++) {
        uint32_t rows[3] = {0, 1 + 2 * i, 2 + 2 * i};
        CU_ASSERT_EQUAL_FATAL(pairs_push(&b, rows, 0, 0, NAN, &e), PPR_OK);
    }
    double acc;
    CU_ASSERT_EQUAL_FATAL(adapt_accuracy(van, &b, x, NULL, D, 0, &acc, &e), PPR_OK);
    CU_ASSERT_DOUBLE_EQUAL(acc, 0.5, 1e-12);
    pairs_release(&b);
    method_free(van);
}

/* ---- the upper bound --------------------------------------------------------------- */

/* Three new users with utilities w_j . phi(response), beta 1; an Individual
 * RM (hidden [16]) trained on each one's whole pool of N = 3000 pairs, tested
 * on n = 3000 fresh pairs. The Bayes-optimal rule (the higher utility wins)
 * has expected accuracy B_j = mean sigmoid(|du|) on them and a measured
 * accuracy within 3 * 0.5 / sqrt(n) = 0.027 of it. The learned rule differs
 * from it only on the pairs its estimate of w_j misorders: with D = 4
 * parameters from N pairs the direction's error is about sqrt(D / N) = 0.037
 * rad, which misorders about that share over pi of the pairs (1.2%), each of
 * them near the boundary and worth little. So the learned accuracy is within
 * 0.02 of the Bayes rule's measured on the same labels, and within 0.027 +
 * 0.02 of B_j. */
static void test_upper_bayes(void)
{
    static const double w[3][D] = {{1.5, -1, 0, 0.5}, {0, 2, 1, 0}, {-1, 0, 0, -2}};
    enum { N = 3000, TEST = 3000 };
    texts t = {calloc((size_t)3 * (N + TEST) * 3 * D, sizeof(float)), 0, 3 * (N + TEST) * 3};
    rng r;
    rng_seed(&r, 21, 0);
    pairs_buf pools = {0}, tests[3] = {{0}};
    double bayes[3] = {0}, hits[3] = {0};
    for (uint32_t j = 0; j < 3; j++) {
        gen_pairs(&t, N, w[j], 1.0, j, &r, &pools, NULL, NULL);
        gen_pairs(&t, TEST, w[j], 1.0, j, &r, &tests[j], &bayes[j], &hits[j]);
    }
    cJSON *settings = cJSON_Parse("{\"head\": {\"hidden\": [16]}}");
    optim_settings o = optim(1e-2, 10, 3);
    method *m = NULL;
    ppr_err e = {0};
    pair_set ps = pairs_view(&pools, t.x, NULL, D, 3);
    CU_ASSERT_EQUAL_FATAL(adapt_upper(&ps, settings, &o, &m, &e), PPR_OK);
    for (uint32_t j = 0; j < 3; j++) {
        double acc, b = bayes[j] / TEST, h = hits[j] / TEST;
        CU_ASSERT_EQUAL_FATAL(adapt_accuracy(m, &tests[j], t.x, NULL, D, j, &acc, &e), PPR_OK);
        fprintf(stderr, "\n  user %u: upper bound %.4f, Bayes rule %.4f measured, %.4f expected",
                j, acc, h, b);
        CU_ASSERT(acc >= h - 0.02);
        CU_ASSERT(fabs(acc - b) <= 0.027 + 0.02);
        pairs_release(&tests[j]);
    }
    pairs_release(&pools);
    method_free(m);
    cJSON_Delete(settings);
    free(t.x);
}

/* ---- further fine-tuning ---------------------------------------------------------- */

/* A Vanilla RM that learned one utility, fine-tuned for one epoch on k pairs
 * of a new user with another: over 8 draws, k = 300 is not worse than k = 30
 * beyond the 95% interval of the k = 30 mean over draws. */
static void test_finetune_k(void)
{
    static const double w_old[1][D] = {{1, 0, 0, 0}};
    static const double w_new[D] = {0.5, 1, 0, 0};
    enum { DRAWS = 8, TEST = 1000 };
    texts t = {calloc((size_t)(DRAWS * 330 + TEST) * 3 * D, sizeof(float)), 0,
               (DRAWS * 330 + TEST) * 3};
    rng r;
    rng_seed(&r, 31, 0);
    method *van = linear_heads("vanilla", 1, w_old);
    cJSON *settings = cJSON_Parse("{\"head\": {\"hidden\": [2]}}");
    pairs_buf test = {0};
    gen_pairs(&t, TEST, w_new, 2.0, 0, &r, &test, NULL, NULL);
    double acc[2][DRAWS];
    ppr_err e = {0};
    const size_t ks[2] = {30, 300};
    for (int d = 0; d < DRAWS; d++)
        for (int i = 0; i < 2; i++) {
            pairs_buf kb = {0};
            gen_pairs(&t, ks[i], w_new, 2.0, 0, &r, &kb, NULL, NULL);
            pair_set kp = pairs_view(&kb, t.x, NULL, D, 1);
            optim_settings o = optim(1e-2, 1, (uint64_t)d + 1);
            method *m = NULL;
            CU_ASSERT_EQUAL_FATAL(adapt_finetune(van, settings, &kp, &o, &m, &e), PPR_OK);
            CU_ASSERT_EQUAL_FATAL(adapt_accuracy(m, &test, t.x, NULL, D, 0, &acc[i][d], &e),
                                  PPR_OK);
            method_free(m);
            pairs_release(&kb);
        }
    double mean[2] = {0, 0}, sq = 0;
    for (int i = 0; i < 2; i++)
        for (int d = 0; d < DRAWS; d++)
            mean[i] += acc[i][d] / DRAWS;
    for (int d = 0; d < DRAWS; d++)
        sq += (acc[0][d] - mean[0]) * (acc[0][d] - mean[0]);
    double ci = stats_ci95(sqrt(sq / (DRAWS - 1)), DRAWS);
    fprintf(stderr, "\n  fine-tuned: k = 30 %.4f +- %.4f, k = 300 %.4f", mean[0], ci, mean[1]);
    CU_ASSERT(mean[1] >= mean[0] - ci);
    pairs_release(&test);
    cJSON_Delete(settings);
    method_free(van);
    free(t.x);
}

/* ---- PRM: the new embedding and nothing else ------------------------------------ */

static float *body(method *m, size_t *n)
{
    size_t shape_bytes;
    m->ops->body_size(m, &shape_bytes, n);
    void *shape = malloc(shape_bytes);
    float *params = malloc(*n * sizeof *params);
    CU_ASSERT_FATAL(shape && params);
    m->ops->save(m, shape, params);
    free(shape);
    return params;
}

/* A PRM trained on three users (output mode's A starts at 0, where no
 * embedding reaches the reward), then adapted to a fourth. */
static void test_prm_moves_embedding_only(void)
{
    static const char *const modes[] = {"output", "embed"};
    static const double users[3][D] = {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}};
    static const double w[D] = {0, 0, 1, -1};
    for (int md = 0; md < 2; md++) {
        char js[256];
        snprintf(js, sizeof js, "{\"head\": {\"hidden\": [8]}, \"prm\": {\"alpha\": 0.5, "
                 "\"user_dim\": 4, \"mode\": \"%s\"}}", modes[md]);
        cJSON *settings = cJSON_Parse(js);
        method *m = NULL;
        ppr_err e = {0};
        CU_ASSERT_EQUAL_FATAL(method_new(&m, "prm", D, 3, settings, 5, &e), PPR_OK);
        texts t = {calloc(1100 * 3 * D, sizeof(float)), 0, 1100 * 3};
        rng r;
        rng_seed(&r, 41, 0);
        pairs_buf train = {0}, kb = {0}, test = {0};
        for (uint32_t u = 0; u < 3; u++)
            gen_pairs(&t, 300, users[u], 2.0, u, &r, &train, NULL, NULL);
        pair_set ts = pairs_view(&train, t.x, NULL, D, 3);
        optim_settings to = optim(1e-2, 5, 1);
        CU_ASSERT_EQUAL_FATAL(method_train(m, &ts, &to, &e), PPR_OK);
        gen_pairs(&t, 100, w, 2.0, 3, &r, &kb, NULL, NULL);
        gen_pairs(&t, 100, w, 2.0, 3, &r, &test, NULL, NULL);
        size_t n0, n1;
        float *before = body(m, &n0);
        double acc0, acc1;
        CU_ASSERT_EQUAL_FATAL(adapt_accuracy(m, &test, t.x, NULL, D, 3, &acc0, &e), PPR_OK);
        pair_set kp = pairs_view(&kb, t.x, NULL, D, 4);
        optim_settings o = optim(5e-2, 20, 1);
        CU_ASSERT_EQUAL_FATAL(method_adapt(m, &kp, 3, &o, &e), PPR_OK);
        float *after = body(m, &n1);
        CU_ASSERT_EQUAL_FATAL(n1, n0 + 4); /* the head, then o_new [user_dim] */
        CU_ASSERT_EQUAL(memcmp(before, after, n0 * sizeof *before), 0);
        double moved = 0;
        for (size_t c = n0; c < n1; c++)
            moved += fabs(after[c]);
        CU_ASSERT(moved > 0.1);
        CU_ASSERT_EQUAL_FATAL(adapt_accuracy(m, &test, t.x, NULL, D, 3, &acc1, &e), PPR_OK);
        fprintf(stderr, "\n  prm %s: |o_new| %.3f, new user's accuracy %.3f -> %.3f", modes[md],
                moved, acc0, acc1);
        CU_ASSERT_NOT_EQUAL(acc0, acc1);
        free(before);
        free(after);
        pairs_release(&train);
        pairs_release(&kb);
        pairs_release(&test);
        free(t.x);
        method_free(m);
        cJSON_Delete(settings);
    }
}

int main(void)
{
    static const test_case cases[] = {
        {"draws: seeded permutations per draw and user", test_draws},
        {"retrieve-similar-user by hand: shared pairs, ties, predictions", test_similar_by_hand},
        {"retrieve-similar-user picks the archetype a new user copies", test_similar_archetypes},
        {"accuracy by hand: a tie is wrong", test_accuracy_by_hand},
        {"the upper bound reaches its users' Bayes-optimal accuracy", test_upper_bayes},
        {"fine-tuning with k = 300 is not worse than with k = 30", test_finetune_k},
        {"PRM's adaptation moves the new embedding and nothing else",
         test_prm_moves_embedding_only},
        {NULL, NULL},
    };
    return test_main("adapt", NULL, NULL, cases, CU_BRM_VERBOSE);
}
