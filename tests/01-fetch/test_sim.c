/* test_sim.c: unit tests of the corpus loaders (stages/01-fetch/corpus.c) and the
 * simulator (sim.c): parse errors that name file and line, config checks, and
 * the invariants of generated datasets (sizes, split by prompt, distinct triples,
 * argmax and Bradley-Terry labels, repeats, new users, determinism). */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stages/01-fetch/sim.h"
#include "tests/testlib.h"


static int add_alpaca(corpus *c, const char *model, const char *json, const char *what,
                      ppr_err *e)
{
    return corpus_add_alpaca(c, model, json, strlen(json), what, e);
}

static void test_alpaca(void)
{
    corpus c;
    ppr_err e;
    CU_ASSERT_EQUAL_FATAL(corpus_init(&c, &e), PPR_OK);
    /* p3's answer is blank: the cell stays empty */
    CU_ASSERT_EQUAL(add_alpaca(&c, "A",
                               "[{\"instruction\":\"p1\",\"output\":\"one two\"},"
                               "{\"instruction\":\"p2\",\"output\":\"three\"},"
                               "{\"instruction\":\"p3\",\"output\":\" \\n\"}]",
                               "A.json", &e),
                    PPR_OK);
    /* another order, p2 missing: matched by instruction text */
    CU_ASSERT_EQUAL(add_alpaca(&c, "B",
                               "[{\"instruction\":\"p3\",\"output\":\"four five six\"},"
                               "{\"instruction\":\"p1\",\"output\":\"seven\"}]",
                               "B.json", &e),
                    PPR_OK);
    CU_ASSERT_EQUAL(c.n_prompts, 3);
    CU_ASSERT_EQUAL(c.n_models, 2);
    CU_ASSERT_EQUAL(c.n_cells, 4);

    CU_ASSERT_EQUAL(add_alpaca(&c, "A", "[]", "again.json", &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'again.json': model \"A\" is already loaded"));
    /* only p1 has answers from two models */
    CU_ASSERT_EQUAL_FATAL(corpus_measure(&c, &e), PPR_OK);
    CU_ASSERT_EQUAL(c.n_usable, 1);
    CU_ASSERT_EQUAL(c.usable[0], 0);
    CU_ASSERT_EQUAL(c.grid[1 * c.n_models + 1], CORPUS_NONE);
    size_t len;
    CU_ASSERT_STRING_EQUAL(corpus_text(&c, c.prompt_text[2], &len), "p3");
    CU_ASSERT_EQUAL(len, 2);
    for (size_t i = 0; i < c.n_cells * ATTR_COUNT; i++)
        CU_ASSERT(c.attr[i] >= -1.0f && c.attr[i] <= 1.0f);
    CU_ASSERT_EQUAL(add_alpaca(&c, "H", "[]", "late.json", &e), PPR_EINTERNAL);
    corpus_release(&c);

    /* input errors name the buffer and the entry; a failed load leaves a
     * partial corpus, to be released */
    CU_ASSERT_EQUAL_FATAL(corpus_init(&c, &e), PPR_OK);
    CU_ASSERT_EQUAL(add_alpaca(&c, "C", "[{\"instruction\":\"p1\",\n\"output\":}]",
                               "bad.json", &e),
                    PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'bad.json':2:"));
    CU_ASSERT_EQUAL(add_alpaca(&c, "D", "{}", "obj.json", &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'obj.json': expected a JSON array"));
    CU_ASSERT_EQUAL(add_alpaca(&c, "E",
                               "[{\"instruction\":\"p1\",\"output\":\"x\"},"
                               "{\"instruction\":\"p2\"}]",
                               "miss.json", &e),
                    PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'miss.json[1]': missing field \"output\""));
    CU_ASSERT_EQUAL(add_alpaca(&c, "F", "[{\"instruction\":\"p1\",\"output\":3}]",
                               "type.json", &e),
                    PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'type.json[0]': field \"output\" must be a string"));
    CU_ASSERT_EQUAL(add_alpaca(&c, "G",
                               "[{\"instruction\":\"p2\",\"output\":\"x\"},"
                               "{\"instruction\":\"p2\",\"output\":\"y\"}]",
                               "dup.json", &e),
                    PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'dup.json[1]': instruction repeats entry 0"));

    corpus_release(&c);
}

static void test_flask(void)
{
    corpus c;
    ppr_err e;
    const char *q = "{\"idx\": 1, \"instruction\": \"q1\"}\n\n"
                    "{\"idx\": 2, \"instruction\": \"q2\"}\r\n"
                    "{\"idx\": 3, \"instruction\": \"q3\"}";
    CU_ASSERT_EQUAL_FATAL(corpus_init(&c, &e), PPR_OK);
    CU_ASSERT_EQUAL(corpus_add_flask_model(&c, "early", "", 0, "early.jsonl", &e),
                    PPR_EINTERNAL);
    corpus_release(&c);
    CU_ASSERT_EQUAL_FATAL(corpus_init(&c, &e), PPR_OK);
    CU_ASSERT_EQUAL(corpus_add_flask_questions(&c, q, strlen(q), "eval.jsonl", &e), PPR_OK);
    CU_ASSERT_EQUAL(c.n_prompts, 3);
    const char *m1 = "{\"question_id\": 2, \"text\": \"b2\"}\n"
                     "{\"question_id\": 1, \"text\": \"b1\", \"model_id\": \"x\"}\n"
                     "{\"question_id\": 3, \"text\": \"\"}\n";
    const char *m2 = "{\"question_id\": 1, \"text\": \"c1\"}\n"
                     "{\"question_id\": 3, \"text\": \"c3\"}\n";
    CU_ASSERT_EQUAL(corpus_add_flask_model(&c, "m1", m1, strlen(m1), "m1.jsonl", &e), PPR_OK);
    CU_ASSERT_EQUAL(corpus_add_flask_model(&c, "m2", m2, strlen(m2), "m2.jsonl", &e), PPR_OK);
    CU_ASSERT_EQUAL(c.n_cells, 4);

    const char *bad = "{\"question_id\": 1, \"text\": \"x\"}\n{\"question_id\": 9, \"text\": \"y\"}";
    CU_ASSERT_EQUAL(corpus_add_flask_model(&c, "m3", bad, strlen(bad), "m3.jsonl", &e),
                    PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'m3.jsonl:2': question_id 9 is not in the evaluation set"));
    bad = "{\"question_id\": 1, \"text\": \"x\"}\n\n{\"question_id\": 2, \"text\": \"y\"";
    CU_ASSERT_EQUAL(corpus_add_flask_model(&c, "m4", bad, strlen(bad), "m4.jsonl", &e),
                    PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'m4.jsonl:3': malformed JSON"));
    bad = "{\"question_id\": 1}";
    CU_ASSERT_EQUAL(corpus_add_flask_model(&c, "m5", bad, strlen(bad), "m5.jsonl", &e),
                    PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'m5.jsonl:1': missing field \"text\""));
    bad = "{\"question_id\": 1.5, \"text\": \"x\"}";
    CU_ASSERT_EQUAL(corpus_add_flask_model(&c, "m6", bad, strlen(bad), "m6.jsonl", &e),
                    PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'m6.jsonl:1': field \"question_id\" must be an integer"));
    bad = "{\"question_id\": 1, \"text\": \"x\"}\n{\"question_id\": 1, \"text\": \"y\"}";
    CU_ASSERT_EQUAL(corpus_add_flask_model(&c, "m7", bad, strlen(bad), "m7.jsonl", &e),
                    PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'m7.jsonl:2': question_id 1 was answered already"));
    bad = "{\"idx\": 2, \"instruction\": \"again\"}";
    CU_ASSERT_EQUAL(corpus_add_flask_questions(&c, bad, strlen(bad), "eval2.jsonl", &e),
                    PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'eval2.jsonl:1': idx 2 appears twice"));
    bad = "[1]";
    CU_ASSERT_EQUAL(corpus_add_flask_questions(&c, bad, strlen(bad), "eval3.jsonl", &e),
                    PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'eval3.jsonl:1': expected an object"));

    /* q1 (b1, c1) and q3 (c3 only after the blank b3) -> only q1 is usable */
    CU_ASSERT_EQUAL_FATAL(corpus_measure(&c, &e), PPR_OK);
    CU_ASSERT_EQUAL(c.n_usable, 1);
    corpus_release(&c);
}

static corpus composed;

static int suite_init(void)
{
    ppr_err e;
    if (corpus_init(&composed, &e) || corpus_compose(&composed, 7, 40, 6, &e) ||
        corpus_measure(&composed, &e))
        return -1;
    return 0;
}

static int suite_clean(void)
{
    corpus_release(&composed);
    return 0;
}

static void test_compose(void)
{
    CU_ASSERT_EQUAL(composed.n_prompts, 40);
    CU_ASSERT_EQUAL(composed.n_models, 6);
    CU_ASSERT_EQUAL(composed.n_cells, 240);
    CU_ASSERT_EQUAL(composed.n_usable, 40);
    /* every attribute spans a range, as over real texts */
    for (int a = 0; a < ATTR_COUNT; a++) {
        float lo = 1.0f, hi = -1.0f;
        for (size_t i = 0; i < composed.n_cells; i++) {
            float x = composed.attr[i * ATTR_COUNT + a];
            lo = x < lo ? x : lo;
            hi = x > hi ? x : hi;
        }
        CU_ASSERT(lo >= -1.0f && hi <= 1.0f);
        CU_ASSERT(hi - lo > 0.5f);
    }
    /* the same seed composes the same bytes */
    corpus c;
    ppr_err e;
    CU_ASSERT_EQUAL_FATAL(corpus_init(&c, &e), PPR_OK);
    CU_ASSERT_EQUAL_FATAL(corpus_compose(&c, 7, 40, 6, &e), PPR_OK);
    CU_ASSERT_EQUAL(c.blob_len, composed.blob_len);
    CU_ASSERT(memcmp(c.blob, composed.blob, c.blob_len) == 0);
    CU_ASSERT_EQUAL(corpus_compose(&c, 7, 40, 6, &e), PPR_EINTERNAL);
    corpus_release(&c);
    size_t np, nm;
    sim_texts_shape("flask", &np, &nm);
    CU_ASSERT(np == 1700 && nm == 15);
    sim_texts_shape("alpaca-eval", &np, &nm);
    CU_ASSERT(np == 805 && nm == 48);
}

static const char *psoups_json =
    "{\"kind\":\"sim\",\"regime\":\"psoups\",\"texts\":\"composed\",\"triples\":100,"
    "\"test_fraction\":0.25,\"labels\":\"argmax\",\"labelers\":[0,0,0,1],"
    "\"repeat_fraction\":0,\"users\":["
    "{\"name\":\"long\",\"beta\":1,\"weights\":{\"informativeness\":1}},"
    "{\"name\":\"short\",\"beta\":1,\"weights\":{\"informativeness\":-1}},"
    "{\"name\":\"warm\",\"beta\":2,\"weights\":{\"style\":1,\"quality\":0.1}},"
    "{\"name\":\"expert\",\"beta\":1,\"weights\":{\"expertise\":1}}],"
    "\"new_users\":0,\"new_user_triples\":0}";

static int parse_cfg(sim_config *cfg, const char *json, ppr_err *e)
{
    cJSON *o = cJSON_Parse(json);
    if (!o)
        return err_set(e, PPR_EINTERNAL, "test fixture is not JSON");
    int rc = sim_config_parse(cfg, o, "src", e);
    cJSON_Delete(o);
    return rc;
}

/* Parse json with `from` replaced by `to`; returns the parse result. */
static int parse_edit(const char *json, const char *from, const char *to, ppr_err *e)
{
    char buf[4096];
    const char *at = strstr(json, from);
    if (!at)
        return err_set(e, PPR_EINTERNAL, "fixture lacks \"%s\"", from);
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - json), json, to, at + strlen(from));
    sim_config cfg;
    int rc = parse_cfg(&cfg, buf, e);
    sim_config_release(&cfg);
    return rc;
}

static void test_config(void)
{
    sim_config cfg;
    ppr_err e;
    CU_ASSERT_EQUAL_FATAL(parse_cfg(&cfg, psoups_json, &e), PPR_OK);
    CU_ASSERT_EQUAL(cfg.n_users, 4);
    CU_ASSERT_STRING_EQUAL(cfg.users[2].name, "warm");
    CU_ASSERT_EQUAL(cfg.users[2].weight[ATTR_QUALITY], 0.1);
    CU_ASSERT_EQUAL(cfg.users[2].weight[ATTR_EXPERTISE], 0.0);
    CU_ASSERT_EQUAL(cfg.users[3].activity, 1.0);
    CU_ASSERT_EQUAL(cfg.labels, SIM_ARGMAX);
    sim_config_release(&cfg);

    CU_ASSERT_EQUAL(parse_edit(psoups_json, "\"triples\":100,", "", &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'src': missing field \"triples\""));
    CU_ASSERT_EQUAL(parse_edit(psoups_json, "\"test_fraction\":0.25", "\"test_fraction\":2", &e),
                    PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'src': field \"test_fraction\" must be in [0, 0.9]"));
    CU_ASSERT_EQUAL(parse_edit(psoups_json, "\"triples\":100", "\"triples\":1.5", &e),
                    PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'src': field \"triples\" must be an integer"));
    CU_ASSERT_EQUAL(parse_edit(psoups_json, "\"regime\":\"psoups\"", "\"regime\":\"x\"", &e),
                    PPR_EINPUT);
    CU_ASSERT(err_has(&e, "field \"regime\" must be one of \"psoups\", \"tldr\", \"pllm\""));
    CU_ASSERT_EQUAL(parse_edit(psoups_json, "\"kind\":\"sim\",", "\"kind\":\"sim\",\"tripels\":1,",
                               &e),
                    PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'src': unknown field \"tripels\""));
    CU_ASSERT_EQUAL(parse_edit(psoups_json, "{\"expertise\":1}", "{\"wit\":1}", &e),
                    PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'src.users[3].weights': unknown attribute \"wit\""));
    CU_ASSERT_EQUAL(parse_edit(psoups_json, "\"beta\":2", "\"beta\":-2", &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'src.users[2]': field \"beta\" must be in [0, 1000]"));
    CU_ASSERT_EQUAL(parse_edit(psoups_json, "\"name\":\"short\"", "\"name\":\"long\"", &e),
                    PPR_EINPUT);
    CU_ASSERT(err_has(&e, "user name \"long\" is used twice"));
    CU_ASSERT_EQUAL(parse_edit(psoups_json, "[0,0,0,1]", "[0,1]", &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'src': field \"labelers\" must have one number per user (4)"));
    CU_ASSERT_EQUAL(parse_edit(psoups_json, "[0,0,0,1]", "[0,0,0,0]", &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "field \"labelers\" must have a positive weight"));
    CU_ASSERT_EQUAL(parse_edit(psoups_json, "\"repeat_fraction\":0,",
                               "\"repeat_fraction\":0,\"activity\":[1,1,0,1],", &e),
                    PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'src': field \"activity\" must hold numbers in [1e-06, 1e+06]"));
    CU_ASSERT_EQUAL(parse_edit(psoups_json, "\"new_users\":0", "\"new_users\":-1", &e),
                    PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'src': field \"new_users\" must be in [0, 10000]"));
}

/* Generate into a payload and a validated view; the caller frees *payload. */
static int generate(const char *json, const char *dataset, void **payload, size_t *n,
                    prefs_view *v, cJSON **params)
{
    sim_config cfg;
    ppr_err e;
    int rc = parse_cfg(&cfg, json, &e);
    if (rc)
        return rc;
    prefs_builder *b = prefs_builder_new();
    cJSON *p = NULL;
    rc = b ? sim_generate(&cfg, &composed, 11, dataset, b, &p, &e) : PPR_EINTERNAL;
    if (!rc)
        rc = prefs_builder_finish(b, payload, n, &e);
    if (!rc)
        rc = prefs_view_init(v, *payload, *n, dataset, &e);
    if (rc)
        fprintf(stderr, "\n  %s\n", e.msg);
    if (params)
        *params = p;
    else
        cJSON_Delete(p);
    prefs_builder_free(b);
    sim_config_release(&cfg);
    return rc;
}

static uint32_t words_of(const prefs_view *v, uint32_t text)
{
    size_t len;
    const char *s = prefs_text(v, text, &len);
    attrs_counts c;
    attrs_count(s, len, &c);
    return c.words;
}

/* The row's triple as (prompt, smaller text id, larger text id). */
static uint64_t triple_key(const prefs_row *r)
{
    uint32_t x = r->chosen < r->rejected ? r->chosen : r->rejected;
    uint32_t y = r->chosen ^ r->rejected ^ x;
    return ((uint64_t)r->prompt << 40) ^ ((uint64_t)x << 20) ^ y;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_generate_all_label(void)
{
    void *payload, *again;
    size_t n, n2;
    prefs_view v, v2;
    cJSON *params;
    CU_ASSERT_EQUAL_FATAL(generate(psoups_json, "sim-a", &payload, &n, &v, &params), PPR_OK);
    const prefs_header *h = v.h;
    CU_ASSERT_EQUAL(h->n_users, 4);
    CU_ASSERT_EQUAL(h->n_rows, 400);
    CU_ASSERT_STRING_EQUAL(prefs_user_name(&v, 1), "short");
    CU_ASSERT_EQUAL(v.users[3].pool, PREFS_POOL_MAIN);

    uint64_t keys[400];       /* [n_rows] triple of each row */
    uint8_t split[4096] = {0}; /* [n_texts] 1 + split seen for a prompt text */
    uint32_t per_user[4] = {0};
    int split_ok = 1, order_ok = 1, p_ok = 1;
    for (uint32_t i = 0; i < h->n_rows; i++) {
        const prefs_row *r = &v.rows[i];
        keys[i] = triple_key(r);
        per_user[r->user]++;
        CU_ASSERT(r->chosen != r->rejected);
        CU_ASSERT_FATAL(r->prompt < sizeof split);
        if (split[r->prompt] && split[r->prompt] != r->split + 1)
            split_ok = 0;
        split[r->prompt] = (uint8_t)(r->split + 1);
        p_ok &= r->p_chosen == 1.0f || r->p_chosen == 0.5f;
        /* argmax on informativeness = ln(1 + words): the longer answer wins */
        uint32_t wc = words_of(&v, r->chosen), wr = words_of(&v, r->rejected);
        if (r->user == 0)
            order_ok &= wc > wr || r->p_chosen == 0.5f;
        if (r->user == 1)
            order_ok &= wc < wr || r->p_chosen == 0.5f;
    }
    CU_ASSERT(split_ok);
    CU_ASSERT(order_ok);
    CU_ASSERT(p_ok);
    for (int u = 0; u < 4; u++)
        CU_ASSERT_EQUAL(per_user[u], 100);
    /* each of the 100 distinct triples is labelled once by each user */
    qsort(keys, 400, sizeof *keys, cmp_u64);
    size_t distinct = 0;
    int runs_ok = 1;
    for (size_t i = 0; i < 400; i++)
        if (i == 0 || keys[i] != keys[i - 1]) {
            distinct++;
            runs_ok &= i + 3 < 400 && keys[i + 3] == keys[i];
        }
    CU_ASSERT_EQUAL(distinct, 100);
    CU_ASSERT(runs_ok);
    /* some prompts are test, some train */
    int seen_test = 0, seen_train = 0;
    for (size_t t = 0; t < sizeof split; t++) {
        seen_test |= split[t] == PREFS_TEST + 1;
        seen_train |= split[t] == PREFS_TRAIN + 1;
    }
    CU_ASSERT(seen_test && seen_train);

    const cJSON *users = cJSON_GetObjectItemCaseSensitive(params, "users");
    CU_ASSERT_EQUAL(cJSON_GetArraySize(users), 4);
    CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(params, "triples")->valuedouble, 100);
    CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(params, "test_prompts")->valuedouble, 10);
    CU_ASSERT_PTR_NOT_NULL(cJSON_GetObjectItemCaseSensitive(params, "corpus"));
    cJSON_Delete(params);

    /* deterministic from (seed, dataset); another dataset name draws anew */
    CU_ASSERT_EQUAL_FATAL(generate(psoups_json, "sim-a", &again, &n2, &v2, NULL), PPR_OK);
    CU_ASSERT(n == n2 && memcmp(payload, again, n) == 0);
    free(again);
    CU_ASSERT_EQUAL_FATAL(generate(psoups_json, "sim-b", &again, &n2, &v2, NULL), PPR_OK);
    CU_ASSERT(n != n2 || memcmp(payload, again, n) != 0);
    free(again);
    free(payload);
}

/* Looks up the attributes of an answer by its text (texts repeated across
 * models carry the same text-measured attributes; quality is not used here). */
static const float *attr_of(const prefs_view *v, uint32_t text)
{
    size_t len;
    const char *s = prefs_text(v, text, &len);
    for (size_t i = 0; i < composed.n_cells; i++) {
        size_t l2;
        const char *t = corpus_text(&composed, composed.cell_text[i], &l2);
        if (l2 == len && memcmp(s, t, len) == 0)
            return composed.attr + i * ATTR_COUNT;
    }
    return NULL;
}

static const char *sample_json =
    "{\"kind\":\"sim\",\"regime\":\"tldr\",\"texts\":\"composed\",\"triples\":200,"
    "\"test_fraction\":0.1,\"labels\":\"sample\",\"labelers\":[1,0,0],"
    "\"activity\":[1,1e-6,1e-6],\"repeat_fraction\":0.2,\"users\":["
    "{\"name\":\"w1\",\"beta\":1.5,\"weights\":{\"informativeness\":0.7,\"style\":0.4}},"
    "{\"name\":\"w2\",\"beta\":1,\"weights\":{\"expertise\":1}},"
    "{\"name\":\"w3\",\"beta\":1,\"weights\":{\"style\":-1}}],"
    "\"new_users\":0,\"new_user_triples\":0}";

/* p_chosen = sigmoid(beta * theta . (a(chosen) - a(rejected))); one labeller per
 * triple (all but always w1); 40 extra rows relabel 40 distinct (user, triple). */
static void test_sample_and_repeats(void)
{
    void *payload;
    size_t n;
    prefs_view v;
    cJSON *params;
    CU_ASSERT_EQUAL_FATAL(generate(sample_json, "sim-s", &payload, &n, &v, &params), PPR_OK);
    CU_ASSERT_EQUAL(v.h->n_rows, 240);
    CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(params, "repeat_rows")->valuedouble, 40);
    cJSON_Delete(params);
    uint64_t keys[240]; /* [n_rows] (user, triple) of each row, hashed */
    int p_ok = 1, flips = 0;
    for (uint32_t i = 0; i < v.h->n_rows; i++) {
        const prefs_row *r = &v.rows[i];
        CU_ASSERT_EQUAL(r->user, 0);
        keys[i] = triple_key(r) * 31 + r->user;
        const float *a = attr_of(&v, r->chosen), *b = attr_of(&v, r->rejected);
        CU_ASSERT_FATAL(a && b);
        double m = 1.5 * (0.7 * (a[ATTR_INFORMATIVENESS] - b[ATTR_INFORMATIVENESS]) +
                          0.4 * (a[ATTR_STYLE] - b[ATTR_STYLE]));
        p_ok &= fabs(r->p_chosen - 1.0 / (1.0 + exp(-m))) < 1e-5;
        flips += r->p_chosen < 0.5f;
    }
    CU_ASSERT(p_ok);
    CU_ASSERT(flips > 0); /* sampled labels sometimes go against the odds */
    qsort(keys, 240, sizeof *keys, cmp_u64);
    size_t distinct = 0;
    for (size_t i = 0; i < 240; i++)
        distinct += i == 0 || keys[i] != keys[i - 1];
    CU_ASSERT_EQUAL(distinct, 200);
    free(payload);
}

/* Three archetypes and four new users, each with 25 triples of their own. */
static void test_new_users(void)
{
    const char *json =
        "{\"kind\":\"sim\",\"regime\":\"pllm\",\"texts\":\"composed\",\"triples\":60,"
        "\"test_fraction\":0.2,\"labels\":\"argmax\",\"labelers\":[0,0,1],"
        "\"repeat_fraction\":0,\"users\":["
        "{\"name\":\"a\",\"beta\":1,\"weights\":{\"quality\":1}},"
        "{\"name\":\"b\",\"beta\":2,\"weights\":{\"expertise\":1}},"
        "{\"name\":\"c\",\"beta\":3,\"weights\":{\"style\":-1}}],"
        "\"new_users\":4,\"new_user_triples\":25}";
    void *payload;
    size_t n;
    prefs_view v;
    cJSON *params;
    CU_ASSERT_EQUAL_FATAL(generate(json, "sim-n", &payload, &n, &v, &params), PPR_OK);
    CU_ASSERT_EQUAL(v.h->n_users, 7);
    CU_ASSERT_EQUAL(v.h->n_rows, 60 * 3 + 4 * 25);
    CU_ASSERT_STRING_EQUAL(prefs_user_name(&v, 3), "new-001");
    CU_ASSERT_EQUAL(v.users[6].pool, PREFS_POOL_NEW);
    CU_ASSERT_EQUAL(v.users[2].pool, PREFS_POOL_MAIN);
    uint32_t per_user[7] = {0};
    uint64_t keys[280];
    for (uint32_t i = 0; i < v.h->n_rows; i++) {
        per_user[v.rows[i].user]++;
        keys[i] = triple_key(&v.rows[i]);
    }
    for (int u = 3; u < 7; u++)
        CU_ASSERT_EQUAL(per_user[u], 25);
    /* new users' triples are their own: 60 main + 100 new distinct triples */
    qsort(keys, 280, sizeof *keys, cmp_u64);
    size_t distinct = 0;
    for (size_t i = 0; i < 280; i++)
        distinct += i == 0 || keys[i] != keys[i - 1];
    CU_ASSERT_EQUAL(distinct, 160);
    /* a new user's weights and beta are its mixture of the archetypes' */
    const cJSON *nu = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(params, "users"), 4);
    const cJSON *mix = cJSON_GetObjectItemCaseSensitive(nu, "mixture");
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(nu, "weights");
    CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(mix), 3);
    double m0 = cJSON_GetArrayItem(mix, 0)->valuedouble;
    double m1 = cJSON_GetArrayItem(mix, 1)->valuedouble;
    double m2 = cJSON_GetArrayItem(mix, 2)->valuedouble;
    CU_ASSERT_DOUBLE_EQUAL(m0 + m1 + m2, 1.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(cJSON_GetObjectItemCaseSensitive(w, "quality")->valuedouble, m0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(cJSON_GetObjectItemCaseSensitive(w, "style")->valuedouble, -m2, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(cJSON_GetObjectItemCaseSensitive(nu, "beta")->valuedouble,
                           m0 + 2 * m1 + 3 * m2, 1e-12);
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItemCaseSensitive(nu, "pool")->valuestring, "new");
    cJSON_Delete(params);
    free(payload);
}

static void test_too_many_triples(void)
{
    corpus small;
    ppr_err e;
    CU_ASSERT_EQUAL_FATAL(corpus_init(&small, &e), PPR_OK);
    CU_ASSERT_EQUAL_FATAL(corpus_compose(&small, 3, 3, 3, &e), PPR_OK);
    CU_ASSERT_EQUAL_FATAL(corpus_measure(&small, &e), PPR_OK);
    sim_config cfg;
    CU_ASSERT_EQUAL_FATAL(parse_cfg(&cfg, psoups_json, &e), PPR_OK);
    prefs_builder *b = prefs_builder_new();
    cJSON *params;
    /* 3 prompts x 3 models = 9 pairs at most */
    CU_ASSERT_EQUAL(sim_generate(&cfg, &small, 1, "sim-x", b, &params, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'sim-x': 100 distinct triples asked for, but the corpus has at most 9"));
    CU_ASSERT_PTR_NULL(params);
    prefs_builder_free(b);
    sim_config_release(&cfg);
    corpus_release(&small);
}

int main(void)
{
    static const test_case cases[] = {
        {"alpaca-eval buffers", test_alpaca},
        {"flask buffers", test_flask},
        {"composed corpus", test_compose},
        {"config checks", test_config},
        {"all users label every triple", test_generate_all_label},
        {"sampled labels and repeats", test_sample_and_repeats},
        {"new users", test_new_users},
        {"too many triples", test_too_many_triples},
        {NULL, NULL},
    };
    return test_main("sim", suite_init, suite_clean, cases, CU_BRM_NORMAL);
}
