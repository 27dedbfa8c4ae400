/* artifact.c: fuzz target for the artifact reader: store_decode
 * (common/store.c: header, zstd frame, content hash) and the views over what
 * it yields, prefs_view_init, features_view_init, embeddings_view_init and
 * JSON, each walked as the stages walk them. A fuzzed file cannot know its
 * own payload's hash, so the first decode is made against a name that cannot
 * match; when all but the name checks out, its error gives the payload's
 * hash, and the second decode under that name must succeed. The views also
 * run on the raw bytes, so that payloads are fuzzed without a zstd frame
 * around them. Seeds: tests/fixtures/store (an object of each payload type),
 * small objects of the store when the pipeline has run, and their payloads. */
#include "common/embeddings.h"
#include "common/features.h"
#include "common/json.h"
#include "common/store.h"
#include "tests/fuzz/fuzz.h"

#define HASH_SAID "content hash "

static void walk_prefs(const void *p, size_t n)
{
    prefs_view v;
    ppr_err e;
    if (!fuzz_ok(prefs_view_init(&v, p, n, "fuzz", &e), &e))
        return;
    size_t len, sum = prefs_n_main(&v);
    for (uint32_t u = 0; u < v.h->n_users; u++)
        sum += strlen(prefs_user_name(&v, u));
    for (uint32_t t = 0; t < v.h->n_texts; t++)
        if (prefs_text(&v, t, &len)[len] != '\0')
            abort();
    for (uint32_t i = 0; i < v.h->n_rows; i++)
        sum += strlen(prefs_text(&v, v.rows[i].chosen, NULL)) +
               strlen(prefs_user_name(&v, v.rows[i].user));
    (void)sum;
}

static void walk_features(const void *p, size_t n)
{
    features_view v;
    ppr_err e;
    if (!fuzz_ok(features_view_init(&v, p, n, "fuzz", &e), &e))
        return;
    for (uint32_t r = 0; r < v.h->n_rows; r++) {
        int64_t found = features_find(&v, v.hashes + 32 * (size_t)r);
        if (found < 0 || memcmp(v.hashes + 32 * (size_t)found, v.hashes + 32 * (size_t)r, 32))
            abort();
        (void)features_row(&v, (uint32_t)found);
    }
}

static void walk_embeddings(const void *p, size_t n)
{
    embeddings_view v;
    ppr_err e;
    if (!fuzz_ok(embeddings_view_init(&v, p, n, "fuzz", &e), &e))
        return;
    for (uint32_t w = 0; w < v.h->n_words; w++) {
        size_t len;
        const char *word = embeddings_word(&v, w, &len);
        if (embeddings_find(&v, word, len) != w)
            abort();
        (void)embeddings_row(&v, w);
    }
}

static void walk_json(const void *p, size_t n)
{
    ppr_err e;
    cJSON *v = json_parse_buf(p, n, "fuzz", &e);
    if (v)
        fuzz_canonical(v);
    cJSON_Delete(v);
}

static void walk_views(const void *p, size_t n)
{
    walk_prefs(p, n);
    walk_features(p, n);
    walk_embeddings(p, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    walk_views(bytes, size);
    static const char no_name[SHA256_HEX_LEN + 1] =
        "0000000000000000000000000000000000000000000000000000000000000000";
    void *payload;
    size_t n;
    int type;
    ppr_err e;
    if (fuzz_ok(store_decode("fuzz.zst", no_name, bytes, size, &payload, &n, &type, &e), &e))
        abort();
    const char *said = strstr(e.msg, HASH_SAID);
    if (!said)
        return 0;
    char hex[SHA256_HEX_LEN + 1];
    snprintf(hex, sizeof hex, "%s", said + strlen(HASH_SAID));
    if (store_decode("fuzz.zst", hex, bytes, size, &payload, &n, &type, &e) != PPR_OK)
        abort();
    if (type == PAYLOAD_JSON)
        walk_json(payload, n);
    else
        walk_views(payload, n);
    free(payload);
    return 0;
}
