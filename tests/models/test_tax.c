/* test_tax.c: the personalization tax (common/models/tax.c): category and
 * subset accuracies, per-user scoring and intervals on fixtures worked out
 * by hand; the chance rule; the mechanism on data generated here (a
 * reference that refuses harmful requests, fine-tuned on a user who prefers
 * compliance, loses safety beyond the interval; fine-tuned on a user
 * indifferent to refusals, it does not); and RewardBench's two subset
 * mappings on the fixture in RewardBench's format. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/models/bt.h"
#include "common/models/method.h"
#include "common/models/tax.h"
#include "common/rewardbench.h"
#include "common/rng.h"
#include "tests/testlib.h"

#define TOL 1e-9

/* ---- fixtures with known weights --------------------------------------------- */

/* A BT method of one hidden unit per head: head u's reward is the ReLU of
 * response feature pick[u] (the head reads [phi(prompt); phi(response)],
 * dim 2 each). */
static method *picker(const char *name, uint32_t n_users, const int *pick)
{
    cJSON *settings = cJSON_Parse("{\"head\": {\"hidden\": [1]}}");
    method *m = NULL;
    ppr_err e = {0};
    CU_ASSERT_EQUAL_FATAL(method_new(&m, name, 2, n_users, settings, 1, &e), PPR_OK);
    cJSON_Delete(settings);
    bt_model *md = (bt_model *)m;
    for (uint32_t h = 0; h < md->n_heads; h++) {
        mlp *head = &md->heads[h];
        memset(head->params, 0, head->n_params * sizeof *head->params);
        head->params[head->w_off[0] + 2 + pick[h]] = 1; /* W1 [1][4]: the response's feature */
        head->params[head->w_off[1]] = 1;               /* W2 [1][1] */
    }
    return m;
}

/* Response rows: row 0 is the prompt (0, 0); row 1 + 10 a + b is (a, b) for a,
 * b < 10. */
static float matrix[101 * 2];

static void matrix_fill(void)
{
    for (int a = 0; a < 10; a++)
        for (int b = 0; b < 10; b++) {
            matrix[2 * (1 + 10 * a + b)] = (float)a;
            matrix[2 * (1 + 10 * a + b) + 1] = (float)b;
        }
}

static uint32_t row_of(int a, int b)
{
    return (uint32_t)(1 + 10 * a + b);
}

/* Pairs (chosen (ca, cb), rejected (ra, rb)) of subsets "a" (the first 5)
 * and "b" (the last 3). */
static void fixture(tax_pairs *t)
{
    static const int p[8][4] = {
        {2, 0, 1, 9}, {3, 1, 1, 0}, {1, 5, 2, 0}, {0, 2, 0, 1}, {5, 0, 4, 0}, /* "a" */
        {1, 0, 0, 3}, {0, 4, 1, 0}, {4, 1, 1, 2},                             /* "b" */
    };
    memset(t, 0, sizeof *t);
    matrix_fill();
    t->matrix = matrix;
    t->dim = 2;
    ppr_err e = {0};
    for (int i = 0; i < 8; i++) {
        int64_t k = tax_pairs_subset(t, i < 5 ? "a" : "b");
        uint32_t rows[3] = {0, row_of(p[i][0], p[i][1]), row_of(p[i][2], p[i][3])};
        CU_ASSERT_EQUAL_FATAL(pairs_push(&t->pairs, rows, (uint32_t)k, 0, NAN, &e), PPR_OK);
    }
}

static const cJSON *at(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
    return b ? cJSON_GetObjectItemCaseSensitive(x, b) : x;
}

static double num(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = at(o, a, b);
    CU_ASSERT_FATAL(cJSON_IsNumber(x));
    return x->valuedouble;
}

/* One reward picking feature 0: pairs a are right 1, 1, 0, 0 (a tie), 1 (3
 * of 5); pairs b 1, 0, 1 (2 of 3). Pooled 5/8, subset mean (3/5 + 2/3) / 2. */
static void test_hand_accuracy(void)
{
    tax_pairs t;
    fixture(&t);
    int pick[1] = {0};
    method *m = picker("pretrained", 1, pick);
    double v[8];
    ppr_err e = {0};
    CU_ASSERT_EQUAL_FATAL(tax_scores(m, &t, 1, v, &e), PPR_OK);
    const double want[8] = {1, 1, 0, 0, 1, 1, 0, 1};
    for (int i = 0; i < 8; i++)
        CU_ASSERT_DOUBLE_EQUAL(v[i], want[i], TOL);
    cJSON *out = cJSON_CreateObject();
    CU_ASSERT_EQUAL_FATAL(tax_summarize(&t, v, NULL, 1, out, &e), PPR_OK);
    CU_ASSERT_DOUBLE_EQUAL(num(out, "pairs", NULL), 8, TOL);
    CU_ASSERT_DOUBLE_EQUAL(num(out, "accuracy", "mean"), 5.0 / 8, TOL);
    CU_ASSERT_DOUBLE_EQUAL(num(out, "subset_mean", NULL), (3.0 / 5 + 2.0 / 3) / 2, TOL);
    CU_ASSERT_DOUBLE_EQUAL(num(at(out, "subsets", "a"), "accuracy", NULL), 3.0 / 5, TOL);
    CU_ASSERT_DOUBLE_EQUAL(num(at(out, "subsets", "b"), "pairs", NULL), 3, TOL);
    CU_ASSERT_PTR_NULL(at(out, "accuracy", "ci95")); /* one seed: no interval over seeds */
    CU_ASSERT_PTR_NULL(at(out, "change", NULL));     /* the reference itself */
    cJSON_Delete(out);
    method_free(m);
    tax_pairs_release(&t);
}

/* Two users, head 0 picking feature 0 and head 1 feature 1: each pair counts
 * the share of the two that order it right. Feature 1 orders the pairs
 * 0, 1, 1, 1, 0 and 0, 1, 0, so v = (1, 2, 1, 1, 1)/2 and (1, 1, 1)/2:
 * pooled 8/16, subset a 6/10, b 3/6. */
static void test_hand_per_user(void)
{
    tax_pairs t;
    fixture(&t);
    int pick[2] = {0, 1};
    method *m = picker("individual", 2, pick);
    double v[8];
    ppr_err e = {0};
    CU_ASSERT_EQUAL_FATAL(tax_scores(m, &t, 2, v, &e), PPR_OK);
    const double want[8] = {0.5, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5};
    for (int i = 0; i < 8; i++)
        CU_ASSERT_DOUBLE_EQUAL(v[i], want[i], TOL);
    cJSON *out = cJSON_CreateObject();
    CU_ASSERT_EQUAL_FATAL(tax_summarize(&t, v, NULL, 1, out, &e), PPR_OK);
    CU_ASSERT_DOUBLE_EQUAL(num(out, "accuracy", "mean"), 9.0 / 16, TOL);
    CU_ASSERT_DOUBLE_EQUAL(num(at(out, "subsets", "a"), "accuracy", NULL), 6.0 / 10, TOL);
    CU_ASSERT_DOUBLE_EQUAL(num(at(out, "subsets", "b"), "accuracy", NULL), 3.0 / 6, TOL);
    cJSON_Delete(out);
    method_free(m);
    tax_pairs_release(&t);
}

/* Intervals worked out by hand:
 * - over seeds: accuracies 5/8 and 7/8 (mean 3/4, sd sqrt(2)/8) give
 *   t(0.975, 1) sd / sqrt(2) = 12.7062 / 8;
 * - over pairs, two pairs right and wrong: a resample's mean is 0, 1/2 or 1
 *   with chances 1/4, 1/2, 1/4, so among 1000 resamples the 26th smallest is
 *   0 and the 26th largest is 1 (failing that needs fewer than 26 of about
 *   250 draws);
 * - a change that is the same on every pair, c, has the interval [c, c]. */
static void test_hand_intervals(void)
{
    tax_pairs t;
    fixture(&t);
    ppr_err e = {0};
    double v[16] = {1, 1, 0, 0, 1, 1, 0, 1, /* seed 1: 5/8 */
                    1, 1, 1, 0, 1, 1, 1, 1}; /* seed 2: 7/8 */
    double ref[16] = {1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1}; /* 3/8 both seeds */
    cJSON *out = cJSON_CreateObject();
    CU_ASSERT_EQUAL_FATAL(tax_summarize(&t, v, ref, 2, out, &e), PPR_OK);
    CU_ASSERT_DOUBLE_EQUAL(num(out, "accuracy", "mean"), 0.75, TOL);
    CU_ASSERT_DOUBLE_EQUAL(num(out, "accuracy", "ci95"), 12.706 / 8, TOL);
    /* the reference's seed interval is 0 wide, but its interval over pairs
     * (3/8 with 8 pairs) reaches 1/2: at chance, so no change is reported */
    CU_ASSERT(cJSON_IsTrue(at(out, "reference_at_chance", NULL)));
    CU_ASSERT_PTR_NULL(at(out, "change", NULL));
    CU_ASSERT_STRING_EQUAL(at(out, "not_measurable", NULL)->valuestring, "reference at chance");
    cJSON_Delete(out);

    /* a reference right on every pair is measurable; the change of a model
     * one pair worse on every seed: -1/8 on each seed, paired interval
     * [-1/8 - x, ...] containing -1/8 */
    double all[16], one_less[16];
    for (int i = 0; i < 16; i++) {
        all[i] = 1;
        one_less[i] = i % 8 == 3 ? 0 : 1;
    }
    out = cJSON_CreateObject();
    CU_ASSERT_EQUAL_FATAL(tax_summarize(&t, one_less, all, 2, out, &e), PPR_OK);
    CU_ASSERT(cJSON_IsFalse(at(out, "reference_at_chance", NULL)));
    const cJSON *ref95 = at(at(out, "reference", NULL), "pairs95", NULL);
    CU_ASSERT_DOUBLE_EQUAL(ref95->child->valuedouble, 1, TOL);
    CU_ASSERT_DOUBLE_EQUAL(num(out, "change", "mean"), -1.0 / 8, TOL);
    CU_ASSERT_DOUBLE_EQUAL(num(out, "change", "ci95"), 0, TOL);
    cJSON_Delete(out);

    /* the same model against itself: every change 0, interval [0, 0] */
    out = cJSON_CreateObject();
    CU_ASSERT_EQUAL_FATAL(tax_summarize(&t, all, all, 2, out, &e), PPR_OK);
    const cJSON *d95 = at(at(out, "change", NULL), "pairs95", NULL);
    CU_ASSERT_DOUBLE_EQUAL(d95->child->valuedouble, 0, TOL);
    CU_ASSERT_DOUBLE_EQUAL(d95->child->next->valuedouble, 0, TOL);
    cJSON_Delete(out);
    tax_pairs_release(&t);

    /* two pairs, one right */
    tax_pairs two = {0};
    two.matrix = matrix;
    two.dim = 2;
    int64_t k = tax_pairs_subset(&two, "x");
    uint32_t rows[3] = {0, 1, 2};
    pairs_push(&two.pairs, rows, (uint32_t)k, 0, NAN, &e);
    pairs_push(&two.pairs, rows, (uint32_t)k, 0, NAN, &e);
    double half[2] = {1, 0};
    out = cJSON_CreateObject();
    CU_ASSERT_EQUAL_FATAL(tax_summarize(&two, half, NULL, 1, out, &e), PPR_OK);
    const cJSON *p95 = at(at(out, "accuracy", NULL), "pairs95", NULL);
    CU_ASSERT_DOUBLE_EQUAL(p95->child->valuedouble, 0, TOL);
    CU_ASSERT_DOUBLE_EQUAL(p95->child->next->valuedouble, 1, TOL);
    CU_ASSERT(cJSON_IsTrue(at(out, "reference_at_chance", NULL)));
    cJSON_Delete(out);
    tax_pairs_release(&two);
}

/* ---- the mechanism ---------------------------------------------------------------- */

/* Features (dim 4): a prompt is harmful (0: 1) or benign (1: 1); a response
 * refuses (2: 1) or complies (2: 0) and has a quality (3: in [0, 1]). Rows:
 * 0 harmful prompt, 1 benign prompt, then responses 2 + 2 q + s for quality
 * level q < Q and s = 1 refusing. */
enum { MDIM = 4, Q = 20 };
/* The reference's epochs; the users' pairs and epochs (the paper's one):
 * with 1,000 pairs the 31 steps do not move a 20-epoch reference at all. */
enum { REF_EPOCHS = 5, N_TUNE = 4000, TUNE_EPOCHS = 1 };
static float mech[(2 + 2 * Q) * MDIM];

static uint32_t resp(int q, int refuses)
{
    return (uint32_t)(2 + 2 * q + refuses);
}

static void mech_fill(void)
{
    memset(mech, 0, sizeof mech);
    mech[0] = 1;
    mech[MDIM + 1] = 1;
    for (int q = 0; q < Q; q++)
        for (int s = 0; s < 2; s++) {
            mech[resp(q, s) * MDIM + 2] = (float)s;
            mech[resp(q, s) * MDIM + 3] = (float)q / (Q - 1);
        }
}

/* n pairs drawn from r: kind 0, the reference's data and the safety
 * evaluation pairs (harmful: the refusal chosen; benign: the compliance);
 * kind 1, the compliance-preferring user (harmful prompts, the compliance
 * chosen); kind 2, the indifferent user (both responses comply, or both
 * refuse, the better quality chosen). */
static void mech_pairs(pairs_buf *b, int kind, size_t n, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed, 0);
    ppr_err e = {0};
    for (size_t i = 0; i < n; i++) {
        int harmful = kind == 1 || (kind != 2 && rng_below(&r, 2));
        int q1 = (int)rng_below(&r, Q), q2 = (int)rng_below(&r, Q);
        uint32_t rows[3] = {harmful ? 0 : 1, 0, 0};
        if (kind == 2) {
            int s = (int)rng_below(&r, 2);
            if (q1 == q2)
                q2 = (q1 + 1) % Q;
            rows[1] = resp(q1 > q2 ? q1 : q2, s);
            rows[2] = resp(q1 > q2 ? q2 : q1, s);
        } else {
            int chosen_refuses = kind == 0 && harmful;
            rows[1] = resp(q1, chosen_refuses);
            rows[2] = resp(q2, !chosen_refuses);
        }
        CU_ASSERT_EQUAL_FATAL(pairs_push(b, rows, 0, rows[0], NAN, &e), PPR_OK);
    }
}

static method *mech_train(const char *name, const method *init, const pairs_buf *b,
                          uint32_t epochs, uint64_t seed)
{
    cJSON *settings = cJSON_Parse("{\"head\": {\"hidden\": [16]}}");
    method *m = NULL;
    ppr_err e = {0};
    CU_ASSERT_EQUAL_FATAL(method_new(&m, name, MDIM, 1, settings, seed, &e), PPR_OK);
    cJSON_Delete(settings);
    if (init)
        CU_ASSERT_EQUAL_FATAL(method_init_from(m, init, &e), PPR_OK);
    optim_settings o = {.lr = 3e-3, .weight_decay = 0, .clip = 1, .warmup_ratio = 0,
                        .batch = 32, .epochs = epochs, .seed = seed};
    pair_set ps = pairs_view(b, mech, NULL, MDIM, 1);
    CU_ASSERT_EQUAL_FATAL(method_train(m, &ps, &o, &e), PPR_OK);
    return m;
}

/* The reference (2,000 pairs, 5 epochs, 3 seeds) learns to refuse harmful
 * requests and answer benign ones: safety near 1 on 400 evaluation pairs.
 * Vanilla RM started from it and trained one epoch on 4,000 pairs of the
 * compliance-preferring user loses the harmful half (measured: -0.49): its
 * change is below -0.2 and its intervals end below 0. On 4,000 pairs of the
 * indifferent user the change's interval contains 0 (measured: 0). */
static void test_mechanism(void)
{
    mech_fill();
    pairs_buf ref_data = {0}, comply = {0}, indifferent = {0};
    tax_pairs eval = {0};
    eval.matrix = mech;
    eval.dim = MDIM;
    tax_pairs_subset(&eval, "safety");
    mech_pairs(&ref_data, 0, 2000, 11);
    mech_pairs(&eval.pairs, 0, 400, 12);
    mech_pairs(&comply, 1, N_TUNE, 13);
    mech_pairs(&indifferent, 2, N_TUNE, 14);
    enum { SEEDS = 3 };
    size_t n = eval.pairs.n;
    double *ref = malloc(SEEDS * n * sizeof *ref), *a = malloc(SEEDS * n * sizeof *a),
           *b = malloc(SEEDS * n * sizeof *b);
    CU_ASSERT_FATAL(ref && a && b);
    ppr_err e = {0};
    for (int s = 0; s < SEEDS; s++) {
        method *r = mech_train("pretrained", NULL, &ref_data, REF_EPOCHS, 100 + s);
        method *ma = mech_train("vanilla", r, &comply, TUNE_EPOCHS, 200 + s);
        method *mb = mech_train("vanilla", r, &indifferent, TUNE_EPOCHS, 300 + s);
        CU_ASSERT_EQUAL(tax_scores(r, &eval, 1, ref + s * n, &e), PPR_OK);
        CU_ASSERT_EQUAL(tax_scores(ma, &eval, 1, a + s * n, &e), PPR_OK);
        CU_ASSERT_EQUAL(tax_scores(mb, &eval, 1, b + s * n, &e), PPR_OK);
        method_free(r);
        method_free(ma);
        method_free(mb);
    }
    cJSON *oa = cJSON_CreateObject(), *ob = cJSON_CreateObject();
    CU_ASSERT_EQUAL_FATAL(tax_summarize(&eval, a, ref, SEEDS, oa, &e), PPR_OK);
    CU_ASSERT_EQUAL_FATAL(tax_summarize(&eval, b, ref, SEEDS, ob, &e), PPR_OK);
    double ref_acc = num(at(oa, "reference", NULL), "mean", NULL);
    const cJSON *da = at(at(oa, "change", NULL), "pairs95", NULL);
    const cJSON *db = at(at(ob, "change", NULL), "pairs95", NULL);
    printf("\n  reference safety %.3f; compliance user: change %.3f [%.3f, %.3f]; "
           "indifferent user: change %.3f [%.3f, %.3f]\n",
           ref_acc, num(oa, "change", "mean"), da->child->valuedouble,
           da->child->next->valuedouble, num(ob, "change", "mean"), db->child->valuedouble,
           db->child->next->valuedouble);
    CU_ASSERT(ref_acc > 0.95);
    CU_ASSERT(num(oa, "change", "mean") < -0.2);
    CU_ASSERT(da->child->next->valuedouble < 0);
    CU_ASSERT(num(oa, "change", "mean") + num(oa, "change", "ci95") < 0);
    CU_ASSERT(db->child->valuedouble <= 0 && db->child->next->valuedouble >= 0);
    cJSON_Delete(oa);
    cJSON_Delete(ob);
    free(ref);
    free(a);
    free(b);
    pairs_release(&ref_data);
    pairs_release(&comply);
    pairs_release(&indifferent);
    tax_pairs_release(&eval);
}

/* ---- RewardBench's subset mappings ------------------------------------------------ */

/* The fixture tests/fixtures/hf/rewardbench/default/raw.jsonl (RewardBench's
 * rows as the rows API pages them) holds, by subset: alpacaeval-easy 2,
 * mt-bench-med 1, mt-bench-hard 1, llmbar-natural 1, xstest-should-respond 1,
 * donotanswer 1, math-prm 1, hep-python 1 (9 rows).
 * Counted by hand, chat / chat-hard / safety / reasoning: official 3 / 2 / 2
 * / 2; paper-code 2 / 2 / 1 / 2, mt-bench-med and donotanswer (the two
 * misnamed subsets) being exactly the rows it loses. */
static void test_mappings(void)
{
    FILE *f = fopen("tests/fixtures/hf/rewardbench/default/raw.jsonl", "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    int count[2][RB_CATEGORIES] = {{0}}, rows = 0;
    char line[65536];
    while (fgets(line, sizeof line, f)) {
        cJSON *o = cJSON_Parse(line);
        CU_ASSERT_PTR_NOT_NULL_FATAL(o);
        const cJSON *row = cJSON_GetObjectItemCaseSensitive(o, "row");
        const cJSON *subset = cJSON_GetObjectItemCaseSensitive(row ? row : o, "subset");
        CU_ASSERT_FATAL(cJSON_IsString(subset));
        for (int m = 0; m < 2; m++) {
            int c = rb_category(m, subset->valuestring);
            if (c >= 0)
                count[m][c]++;
        }
        rows++;
        cJSON_Delete(o);
    }
    fclose(f);
    const int official[RB_CATEGORIES] = {3, 2, 2, 2}, paper[RB_CATEGORIES] = {2, 2, 1, 2};
    for (int c = 0; c < RB_CATEGORIES; c++) {
        CU_ASSERT_EQUAL(count[RB_OFFICIAL][c], official[c]);
        CU_ASSERT_EQUAL(count[RB_PAPER_CODE][c], paper[c]);
    }
    CU_ASSERT_EQUAL(rows, 9);
    CU_ASSERT_EQUAL(rb_category(RB_PAPER_CODE, "mt-bench-med"), -1);
    CU_ASSERT_EQUAL(rb_category(RB_PAPER_CODE, "donotanswer"), -1);
    CU_ASSERT_EQUAL(rb_category(RB_OFFICIAL, "mt-bench-med"), rb_category_id("chat"));
    CU_ASSERT_EQUAL(rb_category(RB_OFFICIAL, "donotanswer"), rb_category_id("safety"));
}

int main(void)
{
    static const test_case cases[] = {
        {"category and subset accuracy by hand", test_hand_accuracy},
        {"per-user models averaged, by hand", test_hand_per_user},
        {"intervals and the chance rule, by hand", test_hand_intervals},
        {"compliance lowers safety, indifference does not", test_mechanism},
        {"RewardBench's two subset mappings", test_mappings},
        {NULL, NULL},
    };
    return test_main("models: tax", NULL, NULL, cases, CU_BRM_VERBOSE);
}
