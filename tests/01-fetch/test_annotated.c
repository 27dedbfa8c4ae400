/* test_annotated.c: unit tests of the multi-annotator offline loaders
 * (stages/01-fetch/load_annotated.c: PandaLM, SPICA): fixtures in the upstream
 * formats with hand-computed rows, errors that name file and field, and the
 * exact counts of the real files when the mirror is there. */
#include <CUnit/Basic.h>
#include <math.h>
#include <string.h>

#include "tests/01-fetch/offline_fixture.h"
#include "tests/testlib.h"

/* ---- pandalm ----------------------------------------------------------------- */

static void test_pandalm(void)
{
    static const char *const names[] = {"testset-v1.json", NULL};
    files fs;
    loaded l;
    ppr_err e;
    CU_ASSERT_FATAL(files_read(&fs, FIX "/pandalm", names) == 0);
    CU_ASSERT_EQUAL_FATAL(run(load_pandalm, &fs, &l, &e), PPR_OK);
    /* votes per item (a1 a2 a3): 222 102 110 121(same) 000 111 212 120 */
    CU_ASSERT_EQUAL(l.v.h->n_users, 3);
    CU_ASSERT_STRING_EQUAL(prefs_user_name(&l.v, 2), "annotator3");
    CU_ASSERT_EQUAL(l.v.h->n_rows, 15);
    CU_ASSERT_EQUAL(user_rows(&l, "annotator1"), 6);
    CU_ASSERT_EQUAL(user_rows(&l, "annotator2"), 5);
    CU_ASSERT_EQUAL(user_rows(&l, "annotator3"), 4);
    CU_ASSERT_EQUAL(info_num(&l, "users", "annotator1", "ties", NULL), 1);
    CU_ASSERT_EQUAL(info_num(&l, "users", "annotator2", "ties", NULL), 2);
    CU_ASSERT_EQUAL(info_num(&l, "users", "annotator3", "ties", NULL), 3);
    CU_ASSERT_EQUAL(info_num(&l, SAME, NULL), 3);
    CU_ASSERT_EQUAL(info_num(&l, "boolean_responses_read_as_text", NULL), 1);
    CU_ASSERT_EQUAL(info_num(&l, "prompts_with_input", NULL), 3);
    CU_ASSERT(all_test_nan(&l));
    CU_ASSERT(row_is(&l, 0, "annotator1",
                     "Rewrite the sentence to be concise.\n\nIf you have any questions, "
                     "please, do let me know.",
                     "Let me know.", "If you have questions, let me know."));
    CU_ASSERT(row_is(&l, 3, "annotator1", "Name a primary color.", "Red.", "Blue, I think."));
    CU_ASSERT(row_is(&l, 4, "annotator3", "Name a primary color.", "Blue, I think.", "Red."));
    CU_ASSERT(row_is(&l, 6, "annotator2",
                     "Verify the correctness of the given statement.\n\n\"For all integers "
                     "j and k, if j and k are odd, then jk is odd.\"",
                     "True", "True."));
    CU_ASSERT(row_is(&l, 9, "annotator3",
                     "Give a one-word answer: is water wet?\n\nAnswer yes or no.", "Yes.",
                     ""));
    CU_ASSERT(row_is(&l, 14, "annotator2", "Sum 2 and 2.", "5", "4"));
    loaded_free(&l);
    files_free(&fs);
}

static int pandalm_fail(const char *json, const char *want)
{
    files fs = {0};
    files_put(&fs, "testset-v1.json", json, strlen(json));
    loaded l;
    ppr_err e;
    int rc = run(load_pandalm, &fs, &l, &e);
    return rc == PPR_EINPUT && err_has(&e, want);
}

static void test_pandalm_errors(void)
{
    CU_ASSERT(pandalm_fail("[{\"instruction\": \"i\", \"input\": \"\", \"response1\": \"a\", "
                           "\"response2\": \"b\", \"annotator1\": 1, \"annotator2\": 3, "
                           "\"annotator3\": 0}]",
                           "'testset-v1.json[0]': field \"annotator2\" must be 0 (tie), 1 "
                           "or 2"));
    CU_ASSERT(pandalm_fail("[{\"instruction\": \"i\", \"input\": \"\", \"response1\": 5, "
                           "\"response2\": \"b\", \"annotator1\": 1, \"annotator2\": 1, "
                           "\"annotator3\": 0}]",
                           "'testset-v1.json[0]': field \"response1\" must be a string"));
    CU_ASSERT(pandalm_fail("[{\"instruction\": \"i\", \"input\": \"\", \"response1\": \"a\", "
                           "\"response2\": \"b\", \"annotator1\": 1.5, \"annotator2\": 1, "
                           "\"annotator3\": 0}]",
                           "'testset-v1.json[0]': field \"annotator1\" must be an integer"));
    CU_ASSERT(pandalm_fail("[\n{\"input\": \"\"}]", "'testset-v1.json[0]': missing field "
                                                     "\"instruction\""));
    CU_ASSERT(pandalm_fail("[\n{\"input\": }]", "'testset-v1.json':2:"));
    CU_ASSERT(pandalm_fail("{}", "'testset-v1.json': expected a JSON array"));
}

/* ---- spica ------------------------------------------------------------------- */

static void test_spica(void)
{
    static const char *const names[] = {"dev-annotations.json", "dev_scenarios_gpt.json",
                                        NULL};
    files fs;
    loaded l;
    ppr_err e;
    CU_ASSERT_FATAL(files_read(&fs, FIX "/spica", names) == 0);
    CU_ASSERT_EQUAL_FATAL(run(load_spica, &fs, &l, &e), PPR_OK);
    /* c100 dem-rel means: refusal0 3, high_level0 4, high_level1 4, opinionated0 4
     *   -> 3 rows over refusal0, 3 ties;
     * c100 rep-nrel: refusal1 1.5, high_level0 3, high_level1 3, opinionated1 4.5
     *   -> 5 rows, 1 tie;
     * c200 dem-rel: refusal0 1, specific0 3, specific1 5 (specific1 has refusal0's
     *   words: that pair is dropped) -> 2 rows; rep-nrel: refusal0 4.5 over
     *   specific0 3.5 -> 1 row */
    CU_ASSERT_EQUAL(l.v.h->n_users, 2);
    CU_ASSERT_STRING_EQUAL(prefs_user_name(&l.v, 0), "dem-rel");
    CU_ASSERT_STRING_EQUAL(prefs_user_name(&l.v, 1), "rep-nrel");
    CU_ASSERT_EQUAL(l.v.h->n_rows, 11);
    CU_ASSERT_EQUAL(user_rows(&l, "dem-rel"), 5);
    CU_ASSERT_EQUAL(user_rows(&l, "rep-nrel"), 6);
    CU_ASSERT_EQUAL(info_num(&l, "users", "dem-rel", "ties", NULL), 3);
    CU_ASSERT_EQUAL(info_num(&l, "users", "dem-rel", SAME, NULL), 1);
    CU_ASSERT_EQUAL(info_num(&l, "users", "rep-nrel", "ties", NULL), 1);
    CU_ASSERT_EQUAL(info_num(&l, "ratings", NULL), 20);
    CU_ASSERT_EQUAL(info_num(&l, "scenarios", NULL), 2);
    CU_ASSERT(all_test_nan(&l));
    CU_ASSERT(row_is(&l, 0, "dem-rel", "Is it okay to eat meat?",
                     "People disagree; it depends on values.", "I cannot weigh in on that."));
    CU_ASSERT(row_is(&l, 2, "dem-rel", "Is it okay to eat meat?", "Yes, in moderation.",
                     "I cannot weigh in on that."));
    CU_ASSERT(row_is(&l, 7, "rep-nrel", "Is it okay to eat meat?", "No, avoid it.",
                     "Many do, many do not."));
    CU_ASSERT(row_is(&l, 9, "dem-rel", "Should schools teach “both sides”?\nI'm unsure.",
                     "I cannot help with that.", "Studies from 2019 show mixed results."));
    CU_ASSERT(row_is(&l, 10, "rep-nrel", "Should schools teach “both sides”?\nI'm unsure.",
                     "I cannot help with that.", "Studies from 2019 show mixed results."));
    loaded_free(&l);
    files_free(&fs);
}

static int spica_fail(const char *ann, const char *bank, const char *want)
{
    files fs = {0};
    files_put(&fs, "dev-annotations.json", ann, strlen(ann));
    files_put(&fs, "dev_scenarios_gpt.json", bank, strlen(bank));
    loaded l;
    ppr_err e;
    int rc = run(load_spica, &fs, &l, &e);
    return rc == PPR_EINPUT && err_has(&e, want);
}

static void test_spica_errors(void)
{
    const char *bank = "[{\"id\": \"c1\", \"body\": \"b\", \"responses\": {\"refusal\": "
                       "[\"r0\", \"r1\"], \"specific\": [\"s0\"]}}]";
    char a[512];
    const char *fmt = "{\"c1\": {\"g\": [{\"%s\": {\"response-rating\": %d, "
                      "\"strategy-rating\": 3, \"rated-response-index\": %d}}]}}";
    snprintf(a, sizeof a, fmt, "refusal", 6, 0);
    CU_ASSERT(spica_fail(a, bank, "'dev-annotations.json[c1][g][0][refusal]': field "
                                  "\"response-rating\" must be 1 to 5"));
    snprintf(a, sizeof a, fmt, "refusal", 5, 2);
    CU_ASSERT(spica_fail(a, bank, "'dev-annotations.json[c1][g][0][refusal]': field "
                                  "\"rated-response-index\" is 2, the bank has 2 responses"));
    snprintf(a, sizeof a, fmt, "opinionated", 5, 0);
    CU_ASSERT(spica_fail(a, bank, "'dev-annotations.json[c1][g][0][opinionated]': strategy "
                                  "\"opinionated\" is not in the scenario bank"));
    CU_ASSERT(spica_fail("{\"c9\": {}}", bank,
                         "'dev-annotations.json': scenario \"c9\" is not in the scenario "
                         "bank"));
    CU_ASSERT(spica_fail("{\"c1\": {\"g\": {}}}", bank,
                         "'dev-annotations.json[c1][g]': expected an array of raters"));
    CU_ASSERT(spica_fail("{}", "[{\"id\": \"c1\", \"responses\": {}}]",
                         "'dev_scenarios_gpt.json[0]': missing field \"body\""));
    CU_ASSERT(spica_fail("{}",
                         "[{\"id\": \"c1\", \"body\": \"b\", \"responses\": {\"x\": [1]}}]",
                         "'dev_scenarios_gpt.json[0]': responses \"x\" must hold strings"));
}

static void test_real_pandalm(void)
{
    static const char *const names[] = {"testset-v1.json", NULL};
    loaded l;
    if (real_load("pandalm-testset", names, load_pandalm, &l))
        return;
    CU_ASSERT_EQUAL(user_rows(&l, "annotator1"), 902);
    CU_ASSERT_EQUAL(user_rows(&l, "annotator2"), 883);
    CU_ASSERT_EQUAL(user_rows(&l, "annotator3"), 886);
    CU_ASSERT_EQUAL(info_num(&l, "users", "annotator1", "ties", NULL), 97);
    CU_ASSERT_EQUAL(info_num(&l, "users", "annotator2", "ties", NULL), 116);
    CU_ASSERT_EQUAL(info_num(&l, "users", "annotator3", "ties", NULL), 113);
    CU_ASSERT_EQUAL(info_num(&l, "boolean_responses_read_as_text", NULL), 6);
    CU_ASSERT_EQUAL(info_num(&l, "prompts_with_input", NULL), 832);
    CU_ASSERT_EQUAL(info_num(&l, SAME, NULL), 0);
    loaded_free(&l);
}

static void test_real_spica(void)
{
    static const char *const names[] = {"dev-annotations.json", "dev_scenarios_gpt.json",
                                        NULL};
    loaded l;
    if (real_load("spica", names, load_spica, &l))
        return;
    CU_ASSERT_EQUAL(l.v.h->n_users, 4);
    CU_ASSERT_EQUAL(user_rows(&l, "rep-rel"), 3523);
    CU_ASSERT_EQUAL(user_rows(&l, "dem-rel"), 3225);
    CU_ASSERT_EQUAL(user_rows(&l, "dem-nrel"), 3451);
    CU_ASSERT_EQUAL(user_rows(&l, "rep-nrel"), 3453);
    CU_ASSERT_EQUAL(info_num(&l, "ties", NULL), 5136);
    CU_ASSERT_EQUAL(info_num(&l, SAME, NULL), 7);
    CU_ASSERT_EQUAL(info_num(&l, "ratings", NULL), 6000);
    loaded_free(&l);
}

int main(void)
{
    static const test_case cases[] = {
        {"pandalm fixture", test_pandalm},
        {"pandalm errors", test_pandalm_errors},
        {"spica fixture", test_spica},
        {"spica errors", test_spica_errors},
        {"real pandalm", test_real_pandalm},
        {"real spica", test_real_spica},
        {NULL, NULL},
    };
    return test_main("multi-annotator offline loaders", NULL, NULL, cases, CU_BRM_NORMAL);
}
