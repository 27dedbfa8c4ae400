/* test_hf.c: unit tests of the Hugging Face and TL;DR loaders (stages/01-fetch
 * load_hf.c, load_tldr.c) on hand-made fixtures in the upstream formats
 * (tests/fixtures/hf, tests/fixtures/tldr). Every expected user, row, text and
 * count is worked out by hand in the comment beside its assertion. */
#include <CUnit/Basic.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/fsutil.h"
#include "common/json.h"
#include "stages/01-fetch/loaders.h"
#include "tests/testlib.h"

#define FIXTURES "tests/fixtures/"


/* ---- a source's files, read from a fixture folder --------------------------- */

typedef struct {
    src_file files[64]; /* names and data malloc'd */
    size_t n;
} source;

static void source_add(source *s, const char *name, const char *data, size_t n)
{
    CU_ASSERT_FATAL(s->n < sizeof s->files / sizeof *s->files);
    char *copy = malloc(n + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
    memcpy(copy, data, n);
    copy[n] = '\0';
    s->files[s->n++] = (src_file){strdup(name), copy, n};
}

/* Every file under root/rel, named by its path below root. */
static void source_read_dir(source *s, const char *root, const char *rel)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s%s%s", root, *rel ? "/" : "", rel);
    DIR *d = opendir(dir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_name[0] == '.')
            continue;
        char sub[512], path[1024];
        snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", de->d_name);
        snprintf(path, sizeof path, "%s/%s", root, sub);
        struct stat st;
        CU_ASSERT_FATAL(stat(path, &st) == 0);
        if (S_ISDIR(st.st_mode)) {
            source_read_dir(s, root, sub);
            continue;
        }
        char *data;
        size_t n;
        ppr_err e;
        CU_ASSERT_EQUAL_FATAL(file_read_all(path, &data, &n, &e), PPR_OK);
        source_add(s, sub, data, n);
        free(data);
    }
    closedir(d);
}

static void source_read(source *s, const char *fixture)
{
    s->n = 0;
    source_read_dir(s, fixture, "");
}

static src_file *source_file(source *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->files[i].name, name) == 0)
            return &s->files[i];
    return NULL;
}

/* Replace the content of file name with text. */
static void source_set(source *s, const char *name, const char *text)
{
    src_file *f = source_file(s, name);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    free((char *)f->data);
    f->data = strdup(text);
    f->n = strlen(text);
}

static void source_drop(source *s, const char *name)
{
    src_file *f = source_file(s, name);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    free((char *)f->name);
    free((char *)f->data);
    *f = s->files[--s->n];
}

static void source_release(source *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free((char *)s->files[i].name);
        free((char *)s->files[i].data);
    }
    s->n = 0;
}

/* ---- running a loader --------------------------------------------------------- */

/* A loaded dataset: its payload, a view into it and the loader's info. */
typedef struct {
    void *payload;
    prefs_view v;
    cJSON *info;
} loaded;

/* Run load on s with options (JSON text); PPR_OK fills out, else e says why. */
static int run(loader_fn load, source *s, const char *options, loaded *out, ppr_err *e)
{
    memset(out, 0, sizeof *out);
    cJSON *opts = cJSON_Parse(options);
    CU_ASSERT_PTR_NOT_NULL_FATAL(opts);
    src_input in = {s->files, s->n, opts};
    prefs_builder *b = prefs_builder_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    size_t n;
    int rc = load(&in, b, &out->info, e);
    if (rc == PPR_OK)
        CU_ASSERT_EQUAL_FATAL(prefs_builder_finish(b, &out->payload, &n, e), PPR_OK);
    prefs_builder_free(b);
    cJSON_Delete(opts);
    if (rc) {
        cJSON_Delete(out->info);
        out->info = NULL;
        return rc;
    }
    CU_ASSERT_EQUAL_FATAL(prefs_view_init(&out->v, out->payload, n, "test", e), PPR_OK);
    return PPR_OK;
}

static void loaded_release(loaded *l)
{
    free(l->payload);
    cJSON_Delete(l->info);
}

/* Text t is exactly s (its bytes and length). */
static int text_is(const prefs_view *v, uint32_t t, const char *s)
{
    size_t len;
    const char *got = prefs_text(v, t, &len);
    int ok = len == strlen(s) && memcmp(got, s, len) == 0;
    if (!ok)
        fprintf(stderr, "\n  text %u is \"%s\", expected \"%s\"\n", t, got, s);
    return ok;
}

/* The info's canonical JSON is exactly expected (without the newline). */
static int info_is(const cJSON *info, const char *expected)
{
    ppr_err e;
    char *got = json_canonical(info, &e);
    int ok = got && strlen(got) == strlen(expected) + 1 &&
             strncmp(got, expected, strlen(expected)) == 0;
    if (!ok)
        fprintf(stderr, "\n  info %s  expected %s\n", got ? got : e.msg, expected);
    free(got);
    return ok;
}

/* Rows' users and splits are exactly users[] and splits[] ("T" train, "E" test). */
static int rows_are(const prefs_view *v, const uint32_t *users, const char *splits)
{
    if (v->h->n_rows != strlen(splits))
        return 0;
    for (uint32_t i = 0; i < v->h->n_rows; i++) {
        const prefs_row *r = &v->rows[i];
        if (r->user != users[i] || r->split != (splits[i] == 'E' ? PREFS_TEST : PREFS_TRAIN) ||
            !isnan(r->p_chosen)) {
            fprintf(stderr, "\n  row %u: user %u split %u\n", i, r->user, r->split);
            return 0;
        }
    }
    return 1;
}

/* Users are names[] in order, the first n_main in the main pool, the rest new. */
static void users_are(const prefs_view *v, const char *const *names, uint32_t n_main)
{
    for (uint32_t u = 0; u < v->h->n_users; u++) {
        CU_ASSERT_STRING_EQUAL(prefs_user_name(v, u), names[u]);
        CU_ASSERT_EQUAL(v->users[u].pool, u < n_main ? PREFS_POOL_MAIN : PREFS_POOL_NEW);
    }
}

/* ---- P-SOUPS ------------------------------------------------------------------- */

static void test_psoups(void)
{
    source s = {0};
    loaded l;
    ppr_err e;
    source_read(&s, FIXTURES "hf/psoups");
    CU_ASSERT_EQUAL_FATAL(run(load_psoups, &s, "{}", &l, &e), PPR_OK);
    /* uids 1..6, created by ascending uid whatever order the rows come in */
    static const char *const names[] = {"1", "2", "3", "4", "5", "6"};
    CU_ASSERT_EQUAL_FATAL(l.v.h->n_users, 6);
    users_are(&l.v, names, 6);
    /* train: lines 1, 2, 4, 5, 6, 7 (line 3 has chosen == rejected; a CRLF ending and
     * a blank line in between are skipped); test: lines 1 and 3 (line 2 equal) */
    static const uint32_t users[] = {1, 0, 5, 2, 4, 3, 0, 4};
    CU_ASSERT(rows_are(&l.v, users, "TTTTTTEE"));
    const prefs_row *r = l.v.rows;
    /* texts get ids in order of first use, shared when equal */
    CU_ASSERT_EQUAL(l.v.h->n_texts, 14);
    CU_ASSERT(r[0].prompt == 0 && r[0].chosen == 1 && r[0].rejected == 2);
    CU_ASSERT(r[1].prompt == 0 && r[1].chosen == 2 && r[1].rejected == 1);
    CU_ASSERT(r[6].prompt == 0 && r[6].chosen == 1 && r[6].rejected == 2);
    CU_ASSERT(text_is(&l.v, r[0].rejected, "It's magic."));
    CU_ASSERT(text_is(&l.v, r[2].prompt, "Traduis « bonjour » en 日本語 🙂"));
    CU_ASSERT(text_is(&l.v, r[2].chosen, "こんにちは"));
    CU_ASSERT(text_is(&l.v, r[3].prompt, "Write a poem:\n\"roses\""));
    CU_ASSERT(text_is(&l.v, r[3].chosen, "Roses are red,\n\tviolets \"blue\"\\"));
    /* empty fields are texts like any other: "" chosen (train line 6), "" prompt
     * (line 7), "" rejected (test line 3) are one text */
    CU_ASSERT(text_is(&l.v, r[4].chosen, ""));
    CU_ASSERT(r[5].prompt == r[4].chosen && r[7].rejected == r[4].chosen);
    CU_ASSERT(r[7].chosen == r[4].rejected);
    CU_ASSERT(info_is(l.info,
                      "{\"configs\":{\"default\":{"
                      "\"test\":{\"dropped_equal\":1,\"kept\":2,\"rows\":3},"
                      "\"train\":{\"dropped_equal\":1,\"kept\":6,\"rows\":7}}},"
                      "\"users\":{\"1\":{\"pool\":\"main\",\"test\":1,\"train\":1},"
                      "\"2\":{\"pool\":\"main\",\"test\":0,\"train\":1},"
                      "\"3\":{\"pool\":\"main\",\"test\":0,\"train\":1},"
                      "\"4\":{\"pool\":\"main\",\"test\":0,\"train\":1},"
                      "\"5\":{\"pool\":\"main\",\"test\":1,\"train\":1},"
                      "\"6\":{\"pool\":\"main\",\"test\":0,\"train\":1}}}"));
    loaded_release(&l);
    source_release(&s);
}

/* ---- Personal-LLM -------------------------------------------------------------- */

static void test_pllm(void)
{
    source s = {0};
    loaded l;
    ppr_err e;
    source_read(&s, FIXTURES "hf/pllm");
    /* default config only: uid 3's one row has chosen == rejected, so it has no
     * user; users 1 and 8 */
    CU_ASSERT_EQUAL_FATAL(run(load_pllm, &s, "{\"new_users\": false}", &l, &e), PPR_OK);
    static const char *const main_names[] = {"1", "8"};
    CU_ASSERT_EQUAL_FATAL(l.v.h->n_users, 2);
    users_are(&l.v, main_names, 2);
    static const uint32_t main_rows[] = {1, 0, 1};
    CU_ASSERT(rows_are(&l.v, main_rows, "TTE"));
    loaded_release(&l);

    /* with the new-user config: new users 12 and 9 come after the main pool,
     * by ascending uid (9 before 12), named apart from uid 1..8 */
    CU_ASSERT_EQUAL_FATAL(run(load_pllm, &s, "{\"new_users\": true}", &l, &e), PPR_OK);
    static const char *const names[] = {"1", "8", "new-9", "new-12"};
    CU_ASSERT_EQUAL_FATAL(l.v.h->n_users, 4);
    users_are(&l.v, names, 2);
    static const uint32_t rows[] = {1, 0, 1, 3, 2, 3};
    CU_ASSERT(rows_are(&l.v, rows, "TTETTE"));
    /* "Q1", "a", "b" of the new-user train file are the default config's texts */
    CU_ASSERT(l.v.rows[3].prompt == l.v.rows[0].prompt && l.v.rows[3].chosen == l.v.rows[0].chosen);
    CU_ASSERT(text_is(&l.v, l.v.rows[4].prompt, "Q4"));
    CU_ASSERT(info_is(l.info,
                      "{\"configs\":{\"default\":{"
                      "\"test\":{\"dropped_equal\":0,\"kept\":1,\"rows\":1},"
                      "\"train\":{\"dropped_equal\":1,\"kept\":2,\"rows\":3}},"
                      "\"new-user\":{"
                      "\"test\":{\"dropped_equal\":0,\"kept\":1,\"rows\":1},"
                      "\"train\":{\"dropped_equal\":0,\"kept\":2,\"rows\":2}}},"
                      "\"new_users\":true,"
                      "\"users\":{\"1\":{\"pool\":\"main\",\"test\":0,\"train\":1},"
                      "\"8\":{\"pool\":\"main\",\"test\":1,\"train\":1},"
                      "\"new-12\":{\"pool\":\"new\",\"test\":1,\"train\":1},"
                      "\"new-9\":{\"pool\":\"new\",\"test\":0,\"train\":1}}}"));
    loaded_release(&l);

    /* the new-user files are needed only when asked for; the default option is false */
    source_drop(&s, "new-user/test.jsonl");
    CU_ASSERT_EQUAL(run(load_pllm, &s, "{}", &l, &e), PPR_OK);
    CU_ASSERT_EQUAL(l.v.h->n_users, 2);
    loaded_release(&l);
    CU_ASSERT_EQUAL(run(load_pllm, &s, "{\"new_users\": true}", &l, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'new-user/test.jsonl' is missing from the source's files"));
    CU_ASSERT_EQUAL(run(load_pllm, &s, "{\"new_users\": 1}", &l, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'options': field \"new_users\" must be true or false"));
    source_release(&s);
}

/* ---- RewardBench --------------------------------------------------------------- */

/* The subsets of the raw fixture, as each mapping sees them. */
#define RB_SUBSETS_INFO                                                                    \
    "\"subsets\":{"                                                                        \
    "\"alpacaeval-easy\":{\"official\":\"chat\",\"paper-code\":\"chat\",\"rows\":2},"     \
    "\"donotanswer\":{\"official\":\"safety\",\"paper-code\":null,\"rows\":1},"           \
    "\"hep-python\":{\"official\":\"reasoning\",\"paper-code\":\"reasoning\",\"rows\":1}," \
    "\"llmbar-natural\":{\"official\":\"chat-hard\",\"paper-code\":\"chat-hard\",\"rows\":1}," \
    "\"math-prm\":{\"official\":\"reasoning\",\"paper-code\":\"reasoning\",\"rows\":1},"  \
    "\"mt-bench-hard\":{\"official\":\"chat-hard\",\"paper-code\":\"chat-hard\",\"rows\":1}," \
    "\"mt-bench-med\":{\"official\":\"chat\",\"paper-code\":null,\"rows\":1},"            \
    "\"xstest-should-respond\":{\"official\":\"safety\",\"paper-code\":\"safety\",\"rows\":1}}"

/* Map subsets the fixture lacks, in map order; the two names only the paper's
 * code uses are among them under paper-code, and the real labels it misses are
 * "dropped" (in order of first appearance). */
#define RB_MAPPINGS_INFO                                                                   \
    "\"mappings\":{\"official\":{\"dropped\":[],\"unmatched\":["                           \
    "\"alpacaeval-length\",\"alpacaeval-hard\",\"mt-bench-easy\",\"llmbar-adver-neighbor\"," \
    "\"llmbar-adver-GPTInst\",\"llmbar-adver-GPTOut\",\"llmbar-adver-manual\","            \
    "\"refusals-dangerous\",\"refusals-offensive\",\"xstest-should-refuse\",\"hep-cpp\","  \
    "\"hep-go\",\"hep-java\",\"hep-js\",\"hep-rust\"]},"                                    \
    "\"paper-code\":{\"dropped\":[\"donotanswer\",\"mt-bench-med\"],\"unmatched\":["       \
    "\"alpacaeval-length\",\"alpacaeval-hard\",\"mt-bench-easy\",\"mt-bench-medium\","     \
    "\"llmbar-adver-neighbor\",\"llmbar-adver-GPTInst\",\"llmbar-adver-GPTOut\","          \
    "\"llmbar-adver-manual\",\"refusals-dangerous\",\"refusals-offensive\","               \
    "\"xstest-should-refuse\",\"do not answer\",\"hep-cpp\",\"hep-go\",\"hep-java\","      \
    "\"hep-js\",\"hep-rust\"]}}"

static void test_rewardbench(void)
{
    source s = {0};
    loaded l;
    ppr_err e;
    source_read(&s, FIXTURES "hf/rewardbench");

    /* official map (the default), raw split (the default): all 9 rows. Users in
     * the map's order; rows category by category (chat, chat-hard, safety,
     * reasoning), each in file order: lines 2, 4, 6 | 5, 9 | 3, 8 | 1, 7 */
    CU_ASSERT_EQUAL_FATAL(run(load_rewardbench, &s, "{}", &l, &e), PPR_OK);
    static const char *const official[] = {
        "alpacaeval-easy", "mt-bench-med", "mt-bench-hard", "llmbar-natural",
        "xstest-should-respond", "donotanswer", "math-prm", "hep-python"};
    CU_ASSERT_EQUAL_FATAL(l.v.h->n_users, 8);
    users_are(&l.v, official, 8);
    static const uint32_t official_rows[] = {0, 1, 0, 3, 2, 5, 4, 7, 6};
    CU_ASSERT(rows_are(&l.v, official_rows, "EEEEEEEEE"));
    CU_ASSERT(text_is(&l.v, l.v.rows[1].chosen,
                      "Autumn moonlight—\na worm digs silently\ninto the chestnut."));
    CU_ASSERT(text_is(&l.v, l.v.rows[7].prompt, "def add(a, b):\n    \"\"\"Add.\"\"\""));
    CU_ASSERT(info_is(l.info, "{\"categories\":{\"chat\":3,\"chat-hard\":2,\"reasoning\":2,"
                              "\"safety\":2},\"dropped\":0,\"kept\":9,\"mapping\":\"official\","
                              RB_MAPPINGS_INFO ",\"rows\":9,\"split\":\"raw\"," RB_SUBSETS_INFO
                              "}"));
    loaded_release(&l);

    /* the paper's code: mt-bench-med and donotanswer silently gone */
    const char *paper_code = "{\"split\": \"raw\", \"mapping\": \"paper-code\"}";
    CU_ASSERT_EQUAL_FATAL(run(load_rewardbench, &s, paper_code, &l, &e), PPR_OK);
    static const char *const paper[] = {"alpacaeval-easy", "mt-bench-hard", "llmbar-natural",
                                        "xstest-should-respond", "math-prm", "hep-python"};
    CU_ASSERT_EQUAL_FATAL(l.v.h->n_users, 6);
    users_are(&l.v, paper, 6);
    static const uint32_t paper_rows[] = {0, 0, 2, 1, 3, 5, 4};
    CU_ASSERT(rows_are(&l.v, paper_rows, "EEEEEEE"));
    CU_ASSERT(info_is(l.info, "{\"categories\":{\"chat\":2,\"chat-hard\":2,\"reasoning\":2,"
                              "\"safety\":1},\"dropped\":2,\"kept\":7,\"mapping\":\"paper-code\","
                              RB_MAPPINGS_INFO ",\"rows\":9,\"split\":\"raw\"," RB_SUBSETS_INFO
                              "}"));
    loaded_release(&l);

    /* the filtered split is its own file */
    CU_ASSERT_EQUAL_FATAL(run(load_rewardbench, &s, "{\"split\": \"filtered\"}", &l, &e), PPR_OK);
    static const char *const filtered[] = {"alpacaeval-easy", "donotanswer"};
    CU_ASSERT_EQUAL_FATAL(l.v.h->n_users, 2);
    users_are(&l.v, filtered, 2);
    loaded_release(&l);
    CU_ASSERT_EQUAL_FATAL(
        run(load_rewardbench, &s, "{\"split\": \"filtered\", \"mapping\": \"paper-code\"}", &l, &e),
        PPR_OK);
    CU_ASSERT_EQUAL(l.v.h->n_users, 1);
    CU_ASSERT_EQUAL(l.v.h->n_rows, 1);
    loaded_release(&l);

    CU_ASSERT_EQUAL(run(load_rewardbench, &s, "{\"mapping\": \"leaderboard\"}", &l, &e),
                    PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'options': field \"mapping\" must be \"official\" or \"paper-code\", "
                      "not \"leaderboard\""));
    CU_ASSERT_EQUAL(run(load_rewardbench, &s, "{\"split\": 3}", &l, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'options': field \"split\" must be a string"));
    source_drop(&s, "default/filtered.jsonl");
    CU_ASSERT_EQUAL(run(load_rewardbench, &s, "{\"split\": \"filtered\"}", &l, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'default/filtered.jsonl' is missing from the source's files"));
    source_set(&s, "default/raw.jsonl",
               "{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"b\"}");
    CU_ASSERT_EQUAL(run(load_rewardbench, &s, "{}", &l, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'default/raw.jsonl:1': missing field \"subset\""));
    source_release(&s);
}

/* ---- TL;DR --------------------------------------------------------------------- */

#define W_A "ikNmucwunMnYJCQpnq6ZYb57OW7NiD"
#define W_B "Bq2vXo9LrT4kZs7MwN1cYh8JdE3uFa"
#define W_C "C7hWq1ZxPl0sKe9RvT2mYb6NaJ4uGo"
#define W_D "D0pLs8VnQw3ZrX5tYk1MbH7cJe9GuA"
#define W_F "F9yUi3OpAs7DfG2hJk5LzX1cVb8NmQ"
#define PROMPT "Summarize the following text:\n"

/* A user's entry in the info: rows kept per split, train annotations, worker id. */
#define TLDR_USER(name, test, train, annotations, worker)                                  \
    "\"" name "\":{\"test\":" #test ",\"train\":" #train                                  \
    ",\"train_annotations\":" #annotations ",\"worker\":\"" worker "\"}"

static void test_tldr(void)
{
    source s = {0};
    loaded l;
    ppr_err e;
    source_read(&s, FIXTURES "tldr");
    CU_ASSERT_EQUAL_FATAL(s.n, 23);
    /* Train annotations, in the loading script's file order (batch3, batch4,
     * batch10, batch22, batch6, batch7, batch0_cnndm, ...):
     *   A 4: batch3 x2, batch4, batch7        C 3: batch10 x2, batch6
     *   B 3: batch6 x3                         D 2: batch3, batch10
     *   F 2: batch6, batch0_cnndm (no post: counted, as the code counts first)
     *   E 1: batch3 (a worker with one label)  G 0 (validation only)
     * Ranks: A, C (tie with B, first seen in batch10, which the script reads
     * before batch6), B, D, F (tie with D, first seen later; without the
     * no-post row F would tie E and lose) -> W1..W5. */
    CU_ASSERT_EQUAL_FATAL(run(load_tldr, &s, "{}", &l, &e), PPR_OK);
    static const char *const names[] = {"W1", "W2", "W3", "W4", "W5"};
    CU_ASSERT_EQUAL_FATAL(l.v.h->n_users, 5);
    users_are(&l.v, names, 5);
    /* rows in file order: batch3 1 2 3 5 | batch4 1 | batch10 1 2 3 | batch22 1 |
     * batch6 1..5 | batch7 1; dropped: batch3 4 (E), batch10 4 (G), batch22 2
     * (null post), batch0_cnndm 1, 2 (no post), edit_b2_eval_test 1 (E) */
    static const uint32_t rows[] = {0, 3, 0, 0, 0, 1, 3, 1, 1, 2, 4, 2, 1, 2, 0};
    CU_ASSERT(rows_are(&l.v, rows, "TTTETTTTETTTTTT"));
    const prefs_row *r = l.v.rows;
    /* batch3 line 2: choice 1, \u escapes (a surrogate pair too) decoded to UTF-8 */
    CU_ASSERT(text_is(&l.v, r[1].prompt,
                      PROMPT "Je suis allé à Zürich — 日本語も話します 🙂. Ça va?"));
    CU_ASSERT(text_is(&l.v, r[1].chosen, " speaks 日本語 🙂"));
    CU_ASSERT(text_is(&l.v, r[1].rejected, " moved to Zürich"));
    /* batch3 line 3: embedded newlines, quotes, tab and backslash */
    CU_ASSERT(text_is(&l.v, r[2].prompt,
                      PROMPT "Line one\n\nHe said \"no\" and left.\tTab\\backslash"));
    CU_ASSERT(text_is(&l.v, r[2].chosen, " left\nsuddenly"));
    CU_ASSERT(text_is(&l.v, r[2].rejected, " he said \"no\""));
    /* batch10 line 2: an empty summary; line 3: an empty post is still a post */
    CU_ASSERT(text_is(&l.v, r[6].chosen, " not empty"));
    CU_ASSERT(text_is(&l.v, r[6].rejected, ""));
    CU_ASSERT(text_is(&l.v, r[7].prompt, PROMPT));
    /* the same post in batch3 (A, valid1) and batch22 (C, valid1): one prompt */
    CU_ASSERT_EQUAL(r[3].prompt, r[8].prompt);
    /* batch7: both summaries equal; TL;DR keeps such rows (only P-SOUPS and
     * Personal-LLM drop them) */
    CU_ASSERT_EQUAL(r[14].chosen, r[14].rejected);
    CU_ASSERT(info_is(l.info,
                      "{\"rows\":{"
                      "\"test\":{\"kept\":2,\"no_post\":2,\"other_workers\":2,\"read\":6},"
                      "\"train\":{\"kept\":13,\"no_post\":1,\"other_workers\":1,\"read\":15}},"
                      "\"train_workers\":6,\"users\":{"
                      TLDR_USER("W1", 1, 4, 4, W_A) ","
                      TLDR_USER("W2", 1, 3, 3, W_C) ","
                      TLDR_USER("W3", 0, 3, 3, W_B) ","
                      TLDR_USER("W4", 0, 2, 2, W_D) ","
                      TLDR_USER("W5", 0, 1, 2, W_F) "},"
                      "\"workers\":5}"));
    loaded_release(&l);

    /* two workers asked for: A and C */
    CU_ASSERT_EQUAL_FATAL(run(load_tldr, &s, "{\"workers\": 2}", &l, &e), PPR_OK);
    CU_ASSERT_EQUAL(l.v.h->n_users, 2);
    static const uint32_t two[] = {0, 0, 0, 0, 1, 1, 1, 1, 0};
    CU_ASSERT(rows_are(&l.v, two, "TTETTTETT"));
    loaded_release(&l);
    source_release(&s);
}

/* ---- input errors name the file, the line and the field -------------------------- */

static void test_errors(void)
{
    source s = {0};
    loaded l;
    ppr_err e;
    source_read(&s, FIXTURES "hf/psoups");
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"b\", \"uid\": 1}\n{\"prompt\": ",
         "'default/test.jsonl:2': malformed JSON"},
        {"\n\n{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"b\", \"uid\": 1} x",
         "'default/test.jsonl:3': malformed JSON"},
        {"[1]", "'default/test.jsonl:1': expected a JSON object"},
        {"{\"prompt\": \"p\", \"chosen\": \"a\", \"uid\": 1}",
         "'default/test.jsonl:1': missing field \"rejected\""},
        {"{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": null, \"uid\": 1}",
         "'default/test.jsonl:1': field \"rejected\" must be a string"},
        {"{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"b\", \"uid\": \"1\"}",
         "'default/test.jsonl:1': field \"uid\" must be an integer"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        source_set(&s, "default/test.jsonl", bad[i].text);
        CU_ASSERT_EQUAL(run(load_psoups, &s, "{}", &l, &e), PPR_EINPUT);
        CU_ASSERT(err_has(&e, bad[i].msg));
        CU_ASSERT_PTR_NULL(l.info);
    }
    source_drop(&s, "default/train.jsonl");
    CU_ASSERT_EQUAL(run(load_psoups, &s, "{}", &l, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'default/train.jsonl' is missing from the source's files"));
    source_release(&s);

    /* TL;DR: every row needs split, worker and info; a kept row (a top worker's,
     * on a post) also a choice of 0 or 1 and two summaries with texts */
    source_read(&s, FIXTURES "tldr");
    static const char *const head = "{\"info\": {\"post\": \"p\"}, \"worker\": \"" W_A "\", ";
    static const struct {
        const char *tail, *msg;
    } tl[] = {
        {"\"split\": \"test\"}", "'comparisons/batch5.json:1': split \"test\" is not \"train\", "
                                 "\"valid1\" or \"valid2\""},
        {"\"split\": \"valid2\", \"choice\": \"1\", \"summaries\": []}",
         "'comparisons/batch5.json:1': field \"choice\" must be an integer"},
        {"\"split\": \"valid2\", \"choice\": 2, "
         "\"summaries\": [{\"text\": \"a\"}, {\"text\": \"b\"}]}",
         "'comparisons/batch5.json:1': field \"choice\" must be 0 or 1"},
        {"\"split\": \"train\", \"choice\": 0, \"summaries\": [{\"text\": \"a\"}]}",
         "'comparisons/batch5.json:1': field \"summaries\" must hold two summaries"},
        {"\"split\": \"train\", \"choice\": 0, "
         "\"summaries\": [{\"text\": \"a\"}, {\"policy\": \"ref\"}]}",
         "'comparisons/batch5.json:1': field \"summaries[1].text\" is missing"},
        {"\"split\": \"train\"}", "'comparisons/batch5.json:1': missing field \"choice\""},
    };
    char line[512];
    for (size_t i = 0; i < sizeof tl / sizeof *tl; i++) {
        snprintf(line, sizeof line, "%s%s", head, tl[i].tail);
        source_set(&s, "comparisons/batch5.json", line);
        CU_ASSERT_EQUAL(run(load_tldr, &s, "{}", &l, &e), PPR_EINPUT);
        CU_ASSERT(err_has(&e, tl[i].msg));
    }
    source_set(&s, "comparisons/batch5.json", "{\"info\": {\"post\": 3}, \"worker\": \"w\", "
                                              "\"split\": \"train\"}");
    CU_ASSERT_EQUAL(run(load_tldr, &s, "{}", &l, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'comparisons/batch5.json:1': field \"info.post\" must be a string or null"));
    source_set(&s, "comparisons/batch5.json", "{\"info\": {}, \"split\": \"train\"}");
    CU_ASSERT_EQUAL(run(load_tldr, &s, "{}", &l, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'comparisons/batch5.json:1': missing field \"worker\""));
    source_set(&s, "comparisons/batch5.json", "{\"info\": {}, \"split\": \"train\", \"worker\": "
                                              "\"w\"}\n{\"info\": ");
    CU_ASSERT_EQUAL(run(load_tldr, &s, "{}", &l, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'comparisons/batch5.json:2': malformed JSON"));
    source_set(&s, "comparisons/batch5.json", "");
    CU_ASSERT_EQUAL(run(load_tldr, &s, "{\"workers\": 0}", &l, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'options': field \"workers\" must be at least 1"));
    source_drop(&s, "comparisons/cnndm2.json");
    CU_ASSERT_EQUAL(run(load_tldr, &s, "{}", &l, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'comparisons/cnndm2.json' is missing from the source's files"));
    source_release(&s);
}

int main(void)
{
    static const test_case cases[] = {
        {"psoups", test_psoups},
        {"pllm and its new users", test_pllm},
        {"rewardbench, both mappings", test_rewardbench},
        {"tldr top workers", test_tldr},
        {"input errors", test_errors},
        {NULL, NULL},
    };
    return test_main("hf", NULL, NULL, cases, CU_BRM_NORMAL);
}
