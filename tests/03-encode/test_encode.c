/* test_encode.c: what stage 03 encodes (the text table, then one "User ID"
 * prompt per (user, prompt)), reuse by text hash (a dataset grown by ten texts
 * encodes exactly ten), thread-count independence, and the feature payload. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/features.h"
#include "common/prefs.h"
#include "common/sha256.h"
#include "stages/03-encode/encode.h"
#include "tests/testlib.h"

/* A dataset of n_texts texts "text <i>" and rows (user i % 2, prompt 0,
 * chosen i, rejected i + 1) over them. */
static void *dataset(size_t n_texts, prefs_view *v)
{
    prefs_builder *b = prefs_builder_new();
    prefs_builder_user(b, "alice", PREFS_POOL_MAIN);
    prefs_builder_user(b, "bob", PREFS_POOL_MAIN);
    char s[32];
    for (size_t i = 0; i < n_texts; i++) {
        snprintf(s, sizeof s, "text %zu", i);
        CU_ASSERT_EQUAL_FATAL(prefs_builder_text(b, s, strlen(s)), (int64_t)i);
    }
    ppr_err e;
    for (size_t i = 1; i + 1 < n_texts; i++) {
        prefs_row r = {(uint32_t)(i % 2), 0, (uint32_t)i, (uint32_t)i + 1, PREFS_TRAIN, NAN};
        CU_ASSERT_EQUAL_FATAL(prefs_builder_row(b, &r, &e), PPR_OK);
    }
    void *payload;
    size_t n;
    CU_ASSERT_EQUAL_FATAL(prefs_builder_finish(b, &payload, &n, &e), PPR_OK);
    prefs_builder_free(b);
    CU_ASSERT_EQUAL_FATAL(prefs_view_init(v, payload, n, "fixture", &e), PPR_OK);
    return payload;
}

static encoder *hash_encoder(void)
{
    cJSON *cfg = cJSON_Parse("{\"dim\": 64, \"char_ngram_min\": 3, \"char_ngram_max\": 4, "
                             "\"word_bigrams\": true}");
    encoder *enc;
    ppr_err e;
    CU_ASSERT_EQUAL_FATAL(hashenc_open(&enc, cfg, "test", &e), PPR_OK);
    cJSON_Delete(cfg);
    return enc;
}

static void test_text_list(void)
{
    prefs_view v;
    void *p = dataset(6, &v);
    text_list tl;
    ppr_err e;
    /* Rows: (bob, 1, 2), (alice, 2, 3), (bob, 3, 4), (alice, 4, 5), all on prompt
     * 0 ("text 0"): distinct (user, prompt) pairs in first-seen order are bob
     * then alice, so rows 6 and 7 are their prompts. */
    CU_ASSERT_EQUAL_FATAL(text_list_build(&tl, &v, 1, &e), PPR_OK);
    CU_ASSERT_EQUAL(tl.n_table, 6);
    CU_ASSERT_EQUAL(tl.n, 8);
    CU_ASSERT_EQUAL(tl.lens[6], strlen("User ID: bob\ntext 0"));
    CU_ASSERT_EQUAL(memcmp(tl.texts[6], "User ID: bob\ntext 0", tl.lens[6]), 0);
    CU_ASSERT_EQUAL(memcmp(tl.texts[7], "User ID: alice\ntext 0", tl.lens[7]), 0);
    unsigned char h[32];
    sha256_buf("User ID: alice\ntext 0", strlen("User ID: alice\ntext 0"), h);
    CU_ASSERT_EQUAL(memcmp(tl.hashes + 32 * 7, h, 32), 0);
    sha256_buf("text 3", 6, h);
    CU_ASSERT_EQUAL(memcmp(tl.hashes + 32 * 3, h, 32), 0);
    text_list_release(&tl);
    /* Without Conditional RM, only the table. */
    CU_ASSERT_EQUAL_FATAL(text_list_build(&tl, &v, 0, &e), PPR_OK);
    CU_ASSERT_EQUAL(tl.n, 6);
    text_list_release(&tl);
    free(p);
}

static void test_reuse(void)
{
    encoder *enc = hash_encoder();
    prefs_view small, big;
    void *ps = dataset(20, &small), *pb = dataset(30, &big);
    text_list ts, tb;
    ppr_err e;
    CU_ASSERT_EQUAL_FATAL(text_list_build(&ts, &small, 0, &e), PPR_OK);
    CU_ASSERT_EQUAL_FATAL(text_list_build(&tb, &big, 0, &e), PPR_OK);
    float *ms = malloc(ts.n * enc->dim * sizeof(float));
    float *mb = malloc(tb.n * enc->dim * sizeof(float));
    float *fresh = malloc(tb.n * enc->dim * sizeof(float));
    size_t encoded;
    CU_ASSERT_EQUAL_FATAL(encode_texts(enc, NULL, &ts, 7, 1, ms, &encoded, &e), PPR_OK);
    CU_ASSERT_EQUAL(encoded, 20);
    void *payload;
    size_t n;
    CU_ASSERT_EQUAL_FATAL(features_pack((uint32_t)ts.n, enc->dim, ts.hashes, ms, &payload, &n, &e),
                          PPR_OK);
    features_view prev;
    CU_ASSERT_EQUAL_FATAL(features_view_init(&prev, payload, n, "prev", &e), PPR_OK);
    /* The dataset grew by ten texts: exactly ten are encoded. */
    CU_ASSERT_EQUAL_FATAL(encode_texts(enc, &prev, &tb, 7, 2, mb, &encoded, &e), PPR_OK);
    CU_ASSERT_EQUAL(encoded, 10);
    /* And the result is what encoding everything afresh on 3 threads gives. */
    CU_ASSERT_EQUAL_FATAL(encode_texts(enc, NULL, &tb, 5, 3, fresh, &encoded, &e), PPR_OK);
    CU_ASSERT_EQUAL(encoded, 30);
    CU_ASSERT_EQUAL(memcmp(mb, fresh, tb.n * enc->dim * sizeof(float)), 0);
    /* Lookups by hash. */
    unsigned char h[32];
    sha256_buf("text 7", 6, h);
    CU_ASSERT_EQUAL(features_find(&prev, h), 7);
    sha256_buf("text 25", 7, h);
    CU_ASSERT_EQUAL(features_find(&prev, h), -1);
    free(payload);
    free(ms);
    free(mb);
    free(fresh);
    text_list_release(&ts);
    text_list_release(&tb);
    free(ps);
    free(pb);
    encoder_free(enc);
}

static void test_payload_checks(void)
{
    unsigned char hashes[2 * 32];
    memset(hashes, 0, sizeof hashes);
    hashes[0] = 9; /* row 0 sorts after row 1 */
    float m[2 * 3] = {1, 2, 3, 4, 5, 6};
    void *p;
    size_t n;
    ppr_err e;
    CU_ASSERT_EQUAL_FATAL(features_pack(2, 3, hashes, m, &p, &n, &e), PPR_OK);
    features_view v;
    CU_ASSERT_EQUAL_FATAL(features_view_init(&v, p, n, "fx", &e), PPR_OK);
    CU_ASSERT_EQUAL(v.order[0], 1);
    CU_ASSERT_EQUAL(v.order[1], 0);
    CU_ASSERT_EQUAL(features_row(&v, 1)[2], 6.0f);
    /* A non-finite value and a short payload are refused, naming it. */
    ((float *)v.matrix)[4] = NAN;
    CU_ASSERT_EQUAL(features_view_init(&v, p, n, "fx", &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'fx': row 1 holds a non-finite value"));
    CU_ASSERT_EQUAL(features_view_init(&v, p, n - 4, "fx", &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "'fx': a section lies outside the payload"));
    free(p);
}

int main(void)
{
    static const test_case cases[] = {
        {"text list", test_text_list},
        {"reuse by hash", test_reuse},
        {"payload checks", test_payload_checks},
        {NULL, NULL},
    };
    return test_main("encode", NULL, NULL, cases, CU_BRM_NORMAL);
}
