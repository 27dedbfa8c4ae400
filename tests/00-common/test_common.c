/* test_common.c: unit tests of common/: SHA-256 vectors, the artifact store,
 * canonical JSON and config checks. Each test works in its own temp dir. */
#include <CUnit/Basic.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/lock.h"
#include "common/prefs.h"
#include "common/proc.h"
#include "common/sha256.h"
#include "common/store.h"
#include "common/storelock.h"
#include "tests/testlib.h"

static char tmpdir[64];
static char origdir[4096];

static int suite_init(void)
{
    if (!getcwd(origdir, sizeof origdir))
        return -1;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ppr-test-common-XXXXXX");
    if (!mkdtemp(tmpdir) || chdir(tmpdir) != 0)
        return -1;
    return 0;
}

static int suite_clean(void)
{
    char cmd[128];
    if (chdir(origdir) != 0)
        return -1;
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void hex_of(const char *s, size_t n, char out[65])
{
    unsigned char d[SHA256_LEN];
    sha256_buf(s, n, d);
    sha256_hex(d, out);
}

/* FIPS 180-2 test vectors. */
static void test_sha256_vectors(void)
{
    char hex[65];
    hex_of("", 0, hex);
    CU_ASSERT_STRING_EQUAL(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hex_of("abc", 3, hex);
    CU_ASSERT_STRING_EQUAL(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hex_of(two, strlen(two), hex);
    CU_ASSERT_STRING_EQUAL(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* One million 'a': streamed through the context in uneven chunks. */
    sha256_ctx *c = sha256_new();
    char chunk[1000];
    memset(chunk, 'a', sizeof chunk);
    for (int i = 0; i < 1000; i++)
        sha256_update(c, chunk, sizeof chunk);
    unsigned char d[SHA256_LEN];
    sha256_final(c, d);
    sha256_free(c);
    sha256_hex(d, hex);
    CU_ASSERT_STRING_EQUAL(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    unsigned char raw[SHA256_LEN];
    CU_ASSERT_EQUAL(sha256_parse("zz", raw), -1);
    CU_ASSERT_EQUAL(sha256_parse(hex, raw), 0);
    CU_ASSERT_EQUAL(memcmp(raw, d, SHA256_LEN), 0);
}

static void test_store_round_trip(void)
{
    store s;
    ppr_err e;
    CU_ASSERT_EQUAL_FATAL(store_init(&s, "a1", &e), PPR_OK);
    const char *payload = "hello, store";
    char hex[65], want[65];
    CU_ASSERT_EQUAL_FATAL(store_put(&s, PAYLOAD_JSON, payload, strlen(payload), hex, &e), PPR_OK);
    hex_of(payload, strlen(payload), want);
    CU_ASSERT_STRING_EQUAL(hex, want); /* named by the uncompressed payload */
    void *back;
    size_t n;
    int type;
    CU_ASSERT_EQUAL_FATAL(store_get(&s, hex, PAYLOAD_JSON, &back, &n, &type, &e), PPR_OK);
    CU_ASSERT_EQUAL(n, strlen(payload));
    CU_ASSERT_EQUAL(memcmp(back, payload, n), 0);
    CU_ASSERT_EQUAL(type, PAYLOAD_JSON);
    free(back);
    /* Asking for the wrong type is an error naming the object. */
    CU_ASSERT_EQUAL(store_get(&s, hex, PAYLOAD_PREFS, &back, &n, NULL, &e), PPR_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, hex + 2));
    /* An empty payload is a valid object too. */
    CU_ASSERT_EQUAL(store_put(&s, PAYLOAD_JSON, "", 0, hex, &e), PPR_OK);
    CU_ASSERT_EQUAL(store_get(&s, hex, -1, &back, &n, NULL, &e), PPR_OK);
    CU_ASSERT_EQUAL(n, 0);
    free(back);
    store_release(&s);
}

static void test_store_corruption(void)
{
    store s;
    ppr_err e;
    CU_ASSERT_EQUAL_FATAL(store_init(&s, "a2", &e), PPR_OK);
    char payload[4096];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (char)(i * 7);
    char hex[65];
    CU_ASSERT_EQUAL_FATAL(store_put(&s, PAYLOAD_MODEL, payload, sizeof payload, hex, &e), PPR_OK);
    char *path = store_path(&s, hex);
    void *back;
    size_t n;
    /* A flipped byte inside the zstd frame. */
    flip_byte(path, -6);
    CU_ASSERT_EQUAL(store_get(&s, hex, -1, &back, &n, NULL, &e), PPR_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "corrupt"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, path));
    /* store_put repairs a damaged object instead of trusting it. */
    CU_ASSERT_EQUAL(store_put(&s, PAYLOAD_MODEL, payload, sizeof payload, hex, &e), PPR_OK);
    CU_ASSERT_EQUAL(store_get(&s, hex, -1, &back, &n, NULL, &e), PPR_OK);
    free(back);
    /* A truncated file. */
    CU_ASSERT_EQUAL(truncate(path, 30), 0);
    CU_ASSERT_EQUAL(store_get(&s, hex, -1, &back, &n, NULL, &e), PPR_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, path));
    /* A wrong header. */
    CU_ASSERT_EQUAL(store_put(&s, PAYLOAD_MODEL, payload, sizeof payload, hex, &e), PPR_OK);
    flip_byte(path, 0);
    CU_ASSERT_EQUAL(store_get(&s, hex, -1, &back, &n, NULL, &e), PPR_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "header"));
    /* A missing object. */
    CU_ASSERT_EQUAL(unlink(path), 0);
    CU_ASSERT_EQUAL(store_get(&s, hex, -1, &back, &n, NULL, &e), PPR_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "missing"));
    free(path);
    store_release(&s);
}

static void test_json_canonical(void)
{
    ppr_err e;
    const char *in = "{ \"b\": [1, 2.5, -0.1, 1e300], \"a\": {\"z\": true, \"y\": null},"
                     " \"\\u00e9\": \"x\\ny\\u0001\", \"B\": 3 }";
    cJSON *v = json_parse_buf(in, strlen(in), "inline", &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    char *s = json_canonical(v, &e);
    /* Keys sorted bytewise ("B" < "a" < "b" < "\xc3\xa9"), integers without a
     * fraction, shortest round-trip decimals, control characters escaped. */
    CU_ASSERT_STRING_EQUAL(s, "{\"B\":3,\"a\":{\"y\":null,\"z\":true},\"b\":[1,2.5,-0.1,1e+300],"
                              "\"\xc3\xa9\":\"x\\ny\\u0001\"}\n");
    free(s);
    cJSON_Delete(v);
    char num[40];
    json_format_number(0.1 + 0.2, num, sizeof num);
    CU_ASSERT_STRING_EQUAL(num, "0.30000000000000004");
    json_format_number(1.0 / 3.0, num, sizeof num);
    CU_ASSERT_STRING_EQUAL(num, "0.3333333333333333");
    /* A locale with a decimal comma must not change the bytes. */
    if (setlocale(LC_NUMERIC, "de_DE.UTF-8") || setlocale(LC_NUMERIC, "fr_FR.UTF-8")) {
        json_format_number(2.5, num, sizeof num);
        CU_ASSERT_STRING_EQUAL(num, "2.5");
        setlocale(LC_NUMERIC, "C");
    }
    /* Malformed JSON names the line and column. */
    v = json_parse_buf("{\n  \"a\": ,\n}", 11, "bad.json", &e);
    CU_ASSERT_PTR_NULL(v);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "'bad.json':2:"));
    /* Non-finite numbers cannot be written. */
    v = cJSON_CreateNumber(0.0 / 0.0);
    CU_ASSERT_PTR_NULL(json_canonical(v, &e));
    cJSON_Delete(v);
}

static void test_write_if_changed(void)
{
    ppr_err e;
    int changed;
    CU_ASSERT_EQUAL(file_write_if_changed("w.txt", "abc", 3, &changed, &e), PPR_OK);
    CU_ASSERT_EQUAL(changed, 1);
    CU_ASSERT_EQUAL(file_write_if_changed("w.txt", "abc", 3, &changed, &e), PPR_OK);
    CU_ASSERT_EQUAL(changed, 0);
    CU_ASSERT_EQUAL(file_write_if_changed("w.txt", "abd", 3, &changed, &e), PPR_OK);
    CU_ASSERT_EQUAL(changed, 1);
    /* An unwritable place is an error naming the file, nothing left behind. */
    CU_ASSERT_EQUAL(file_write_atomic("no/such/dir/x", "a", 1, &e), PPR_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "no/such/dir/x"));
}

static const char *schema =
    "{\"type\":\"object\",\"keys\":{"
    "\"profile\":{\"type\":\"string\"},"
    "\"n\":{\"type\":\"integer\",\"min\":1,\"max\":10},"
    "\"x\":{\"type\":\"number\",\"min\":0,\"max\":1},"
    "\"mode\":{\"type\":\"string\",\"enum\":[\"a\",\"b\"]},"
    "\"opt\":{\"type\":\"boolean\",\"optional\":true},"
    "\"m\":{\"type\":\"object\",\"each\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}},"
    "\"t\":{\"type\":\"object\",\"optional\":true,\"tag\":\"kind\",\"variants\":{"
    "\"p\":{\"type\":\"object\",\"keys\":{\"kind\":{\"type\":\"string\"},\"a\":{\"type\":\"integer\"},"
    "\"triples\":{\"type\":\"integer\",\"optional\":true}}},"
    "\"q\":{\"type\":\"object\",\"keys\":{\"kind\":{\"type\":\"string\"},\"b\":{\"type\":\"string\"}}}}},"
    "\"u\":{\"type\":\"array\",\"optional\":true,\"unique\":true,\"min_items\":1,\"max_items\":3,"
    "\"items\":{\"type\":\"string\"}},"
    "\"r\":{\"type\":\"array\",\"optional\":true,\"unique\":\"id\",\"items\":{\"type\":\"object\","
    "\"keys\":{\"id\":{\"type\":\"integer\"},\"w\":{\"type\":\"number\"}}}},"
    "\"h\":{\"type\":\"array\",\"optional\":true,\"items\":{\"type\":\"integer\"}}}}";

/* Write cfg to c.json and load it; returns the error message or "" on success. */
static const char *load(const char *cfg, cJSON **out)
{
    static ppr_err e;
    memset(&e, 0, sizeof e);
    file_write_atomic("s.json", schema, strlen(schema), NULL);
    file_write_atomic("c.json", cfg, strlen(cfg), NULL);
    cJSON *v = NULL;
    int rc = config_load("c.json", "s.json", &v, &e);
    if (out)
        *out = v;
    else
        cJSON_Delete(v);
    return rc == PPR_OK ? "" : e.msg;
}

static void test_config(void)
{
    const char *base_ok = "{\"profile\":\"p\",\"n\":3,\"x\":0.5,\"mode\":\"a\",\"m\":{\"k\":[1]},"
                          "\"profiles\":{\"p\":{\"n\":4,\"m\":{\"k\":[2,3]}}}}";
    cJSON *v;
    CU_ASSERT_STRING_EQUAL(load(base_ok, &v), "");
    /* The profile overrides n and replaces the array whole. */
    CU_ASSERT_EQUAL(cJSON_GetObjectItem(v, "n")->valueint, 4);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(v, "m"), "k")), 2);
    CU_ASSERT_PTR_NULL(cJSON_GetObjectItem(v, "profiles"));
    cJSON_Delete(v);
    CU_ASSERT_STRING_EQUAL(
        load("{\"profile\":\"p\",\"n\":3,\"x\":0.5,\"mode\":\"a\",\"m\":{},\"typo\":1,"
             "\"profiles\":{\"p\":{}}}", NULL),
        "'c.json': unknown key \"typo\" (allowed: profile, n, x, mode, opt, m, t, u, r, h)");
    CU_ASSERT_STRING_EQUAL(
        load("{\"profile\":\"p\",\"n\":3,\"x\":0.5,\"modes\":\"a\",\"m\":{},"
             "\"profiles\":{\"p\":{}}}", NULL),
        "'c.json': unknown key \"modes\" (did you mean \"mode\"?)");
    CU_ASSERT_STRING_EQUAL(
        load("{\"profile\":\"p\",\"n\":\"3\",\"x\":0.5,\"mode\":\"a\",\"m\":{},"
             "\"profiles\":{\"p\":{}}}", NULL),
        "'c.json': key \"n\" must be an integer");
    CU_ASSERT_STRING_EQUAL(
        load("{\"profile\":\"p\",\"n\":11,\"x\":0.5,\"mode\":\"a\",\"m\":{},"
             "\"profiles\":{\"p\":{}}}", NULL),
        "'c.json': key \"n\" must be in [1, 10]");
    CU_ASSERT_STRING_EQUAL(
        load("{\"profile\":\"p\",\"n\":1,\"x\":0.5,\"mode\":\"c\",\"m\":{},"
             "\"profiles\":{\"p\":{}}}", NULL),
        "'c.json': key \"mode\" has unknown value \"c\"");
    CU_ASSERT_STRING_EQUAL(
        load("{\"profile\":\"p\",\"n\":1,\"mode\":\"a\",\"m\":{},\"profiles\":{\"p\":{}}}", NULL),
        "'c.json': missing key \"x\"");
    CU_ASSERT_STRING_EQUAL(
        load("{\"profile\":\"p\",\"n\":1,\"x\":0,\"mode\":\"a\",\"m\":{\"k\":[1.5]},"
             "\"profiles\":{\"p\":{}}}", NULL),
        "'c.json': key \"m.k[0]\" must be an integer");
    CU_ASSERT_STRING_EQUAL(
        load("{\"profile\":\"q\",\"n\":1,\"x\":0,\"mode\":\"a\",\"m\":{},\"profiles\":{\"p\":{}}}",
             NULL),
        "'c.json': profile \"q\" is not defined under \"profiles\"");
    /* A profile is checked against the same schema. */
    CU_ASSERT_STRING_EQUAL(
        load("{\"profile\":\"p\",\"n\":1,\"x\":0,\"mode\":\"a\",\"m\":{},"
             "\"profiles\":{\"p\":{\"x\":2}}}", NULL),
        "'c.json': key \"profiles.p.x\" must be in [0, 1]");
    CU_ASSERT_PTR_NOT_NULL(strstr(load("{\"profile\": }", NULL), "'c.json':1:"));
    /* A tagged object: the tag picks the variant; a profile may leave it out. */
    CU_ASSERT_STRING_EQUAL(
        load("{\"profile\":\"p\",\"n\":1,\"x\":0,\"mode\":\"a\",\"m\":{},"
             "\"t\":{\"kind\":\"q\",\"b\":\"s\"},\"profiles\":{\"p\":{\"t\":{\"b\":\"u\"}}}}",
             NULL),
        "");
    CU_ASSERT_STRING_EQUAL(
        load("{\"profile\":\"p\",\"n\":1,\"x\":0,\"mode\":\"a\",\"m\":{},"
             "\"t\":{\"kind\":\"q\",\"a\":1},\"profiles\":{\"p\":{}}}", NULL),
        "'c.json': unknown key \"t.a\" (allowed: kind, b)");
    CU_ASSERT_STRING_EQUAL(
        load("{\"profile\":\"p\",\"n\":1,\"x\":0,\"mode\":\"a\",\"m\":{},"
             "\"t\":{\"kind\":\"r\"},\"profiles\":{\"p\":{}}}", NULL),
        "'c.json': key \"t.kind\" has unknown value \"r\"");
    /* The merged config is checked again: an override of the wrong variant fails. */
    CU_ASSERT_STRING_EQUAL(
        load("{\"profile\":\"p\",\"n\":1,\"x\":0,\"mode\":\"a\",\"m\":{},"
             "\"t\":{\"kind\":\"q\",\"b\":\"s\"},\"profiles\":{\"p\":{\"t\":{\"a\":2}}}}",
             NULL),
        "'c.json': unknown key \"t.a\" (allowed: kind, b)");
    /* Without its tag, a typo beside a valid key is named, not the valid key
     * the other variant lacks; a key only one variant has picks that variant's
     * error; keys of two variants get the error of the first. */
    CU_ASSERT_STRING_EQUAL(
        load("{\"profile\":\"p\",\"n\":1,\"x\":0,\"mode\":\"a\",\"m\":{},"
             "\"t\":{\"kind\":\"p\",\"a\":1},"
             "\"profiles\":{\"p\":{\"t\":{\"triples\":5,\"triplez\":5}}}}", NULL),
        "'c.json': unknown key \"profiles.p.t.triplez\" (did you mean \"triples\"?)");
    CU_ASSERT_STRING_EQUAL(
        load("{\"profile\":\"p\",\"n\":1,\"x\":0,\"mode\":\"a\",\"m\":{},"
             "\"t\":{\"kind\":\"p\",\"a\":1},\"profiles\":{\"p\":{\"t\":{\"zz\":5}}}}", NULL),
        "'c.json': unknown key \"profiles.p.t.zz\" (allowed: kind, a, triples, b)");
    CU_ASSERT_STRING_EQUAL(
        load("{\"profile\":\"p\",\"n\":1,\"x\":0,\"mode\":\"a\",\"m\":{},"
             "\"t\":{\"kind\":\"p\",\"a\":1},\"profiles\":{\"p\":{\"t\":{\"a\":\"s\"}}}}",
             NULL),
        "'c.json': key \"profiles.p.t.a\" must be an integer");
    CU_ASSERT_STRING_EQUAL(
        load("{\"profile\":\"p\",\"n\":1,\"x\":0,\"mode\":\"a\",\"m\":{},"
             "\"t\":{\"kind\":\"p\",\"a\":1},"
             "\"profiles\":{\"p\":{\"t\":{\"a\":1,\"b\":\"s\"}}}}", NULL),
        "'c.json': unknown key \"profiles.p.t.b\" (allowed: kind, a, triples)");
}

/* Item counts, "unique" lists and repeated members, in the base and in a
 * profile. */
static void test_config_lists(void)
{
    const char *base = "{\"profile\":\"p\",\"n\":1,\"x\":0,\"mode\":\"a\",\"m\":{},";
    char cfg[512];
    snprintf(cfg, sizeof cfg, "%s\"u\":[\"a\",\"b\",\"c\"],\"h\":[1,1],"
             "\"r\":[{\"id\":1,\"w\":0},{\"id\":2,\"w\":0}],\"profiles\":{\"p\":{}}}", base);
    CU_ASSERT_STRING_EQUAL(load(cfg, NULL), "");
    snprintf(cfg, sizeof cfg, "%s\"u\":[\"a\",\"b\",\"a\"],\"profiles\":{\"p\":{}}}", base);
    CU_ASSERT_STRING_EQUAL(load(cfg, NULL), "'c.json': key \"u\" lists \"a\" twice");
    snprintf(cfg, sizeof cfg, "%s\"u\":[],\"profiles\":{\"p\":{}}}", base);
    CU_ASSERT_STRING_EQUAL(load(cfg, NULL), "'c.json': key \"u\" must have at least 1 item");
    snprintf(cfg, sizeof cfg, "%s\"u\":[\"a\",\"b\",\"c\",\"d\"],\"profiles\":{\"p\":{}}}",
             base);
    CU_ASSERT_STRING_EQUAL(load(cfg, NULL), "'c.json': key \"u\" must have at most 3 items");
    snprintf(cfg, sizeof cfg, "%s\"r\":[{\"id\":1,\"w\":0},{\"id\":2,\"w\":0},"
             "{\"id\":1,\"w\":1}],\"profiles\":{\"p\":{}}}", base);
    CU_ASSERT_STRING_EQUAL(load(cfg, NULL), "'c.json': key \"r\" lists id 1 twice");
    snprintf(cfg, sizeof cfg, "%s\"profiles\":{\"p\":{\"u\":[\"x\",\"x\"]}}}", base);
    CU_ASSERT_STRING_EQUAL(load(cfg, NULL), "'c.json': key \"profiles.p.u\" lists \"x\" twice");
    /* A member given twice in one object (JSON allows it) is a repeat too. */
    CU_ASSERT_STRING_EQUAL(load("{\"profile\":\"p\",\"n\":1,\"x\":0,\"mode\":\"a\","
                                "\"m\":{\"k\":[1],\"k\":[2]},\"profiles\":{\"p\":{}}}", NULL),
                           "'c.json': key \"m.k\" appears twice");
}

static void test_prefs_round_trip(void)
{
    ppr_err e;
    prefs_builder *b = prefs_builder_new();
    CU_ASSERT_EQUAL(prefs_builder_user(b, "alice", PREFS_POOL_MAIN), 0);
    CU_ASSERT_EQUAL(prefs_builder_user(b, "bob", PREFS_POOL_NEW), 1);
    int64_t p = prefs_builder_text(b, "prompt", 6);
    int64_t x = prefs_builder_text(b, "x", 1);
    int64_t y = prefs_builder_text(b, "", 0);
    CU_ASSERT_EQUAL(prefs_builder_text(b, "x", 1), x); /* deduplicated */
    prefs_row r = {0, (uint32_t)p, (uint32_t)x, (uint32_t)y, PREFS_TEST, 0.75f};
    CU_ASSERT_EQUAL(prefs_builder_row(b, &r, &e), PPR_OK);
    r.user = 7;
    CU_ASSERT_EQUAL(prefs_builder_row(b, &r, &e), PPR_EINTERNAL);
    void *payload;
    size_t n;
    CU_ASSERT_EQUAL_FATAL(prefs_builder_finish(b, &payload, &n, &e), PPR_OK);
    prefs_builder_free(b);
    prefs_view v;
    CU_ASSERT_EQUAL_FATAL(prefs_view_init(&v, payload, n, "fixture", &e), PPR_OK);
    CU_ASSERT_EQUAL(v.h->n_users, 2);
    CU_ASSERT_EQUAL(v.h->n_texts, 3);
    CU_ASSERT_EQUAL(v.h->n_rows, 1);
    CU_ASSERT_STRING_EQUAL(prefs_user_name(&v, 1), "bob");
    CU_ASSERT_EQUAL(v.users[1].pool, PREFS_POOL_NEW);
    CU_ASSERT_EQUAL(prefs_n_main(&v), 1);
    size_t len;
    CU_ASSERT_STRING_EQUAL(prefs_text(&v, (uint32_t)p, &len), "prompt");
    CU_ASSERT_EQUAL(len, 6);
    CU_ASSERT_EQUAL(v.rows[0].split, PREFS_TEST);
    CU_ASSERT_EQUAL(v.rows[0].p_chosen, 0.75f);
    /* A row pointing past the text table is refused. */
    ((prefs_row *)v.rows)[0].chosen = 99;
    CU_ASSERT_EQUAL(prefs_view_init(&v, payload, n, "fixture", &e), PPR_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "'fixture': row 0"));
    CU_ASSERT_EQUAL(prefs_view_init(&v, payload, 40, "short", &e), PPR_EINPUT);
    free(payload);
    /* The main pool comes first: a main user after a new one is refused, by the
     * view and by the builder. */
    b = prefs_builder_new();
    prefs_builder_user(b, "alice", PREFS_POOL_MAIN);
    prefs_builder_user(b, "bob", PREFS_POOL_NEW);
    CU_ASSERT_EQUAL_FATAL(prefs_builder_finish(b, &payload, &n, &e), PPR_OK);
    prefs_builder_free(b);
    CU_ASSERT_EQUAL_FATAL(prefs_view_init(&v, payload, n, "fixture", &e), PPR_OK);
    prefs_user *users = (prefs_user *)v.users;
    users[0].pool = PREFS_POOL_NEW;
    users[1].pool = PREFS_POOL_MAIN;
    CU_ASSERT_EQUAL(prefs_view_init(&v, payload, n, "fixture", &e), PPR_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "'fixture': user 1 of the main pool follows a new user"));
    free(payload);
    b = prefs_builder_new();
    prefs_builder_user(b, "newbie", PREFS_POOL_NEW);
    prefs_builder_user(b, "alice", PREFS_POOL_MAIN);
    CU_ASSERT_EQUAL(prefs_builder_finish(b, &payload, &n, &e), PPR_EINTERNAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "added after a new user"));
    prefs_builder_free(b);
}

/* The split by key, worked out by hand: SHA-256 puts "a" at 0.792 of 2^64,
 * "b" at 0.290 and "HumanEval/1" at 0.172. Rows keyed "HumanEval/1" go with
 * their key whatever their prompt; the others with their prompt. */
static void test_prefs_split(void)
{
    ppr_err e;
    prefs_builder *b = prefs_builder_new();
    prefs_builder_user(b, "u", PREFS_POOL_MAIN);
    uint32_t a = (uint32_t)prefs_builder_text(b, "a", 1);
    uint32_t bb = (uint32_t)prefs_builder_text(b, "b", 1);
    prefs_row r = {0, a, a, bb, PREFS_TRAIN, NAN};
    static const char key[] = "HumanEval/1";
    CU_ASSERT_EQUAL(prefs_builder_row(b, &r, &e), PPR_OK);                           /* a */
    CU_ASSERT_EQUAL(prefs_builder_row_keyed(b, &r, key, sizeof key - 1, &e), PPR_OK); /* a, key */
    r.prompt = bb;
    CU_ASSERT_EQUAL(prefs_builder_row(b, &r, &e), PPR_OK);                           /* b */
    CU_ASSERT_EQUAL(prefs_builder_row_keyed(b, &r, key, sizeof key - 1, &e), PPR_OK); /* b, key */
    r.user = 1;
    CU_ASSERT_EQUAL(prefs_builder_row_keyed(b, &r, key, sizeof key - 1, &e), PPR_EINTERNAL);
    static const struct {
        double fraction;
        uint32_t want[4];
    } cases[] = {
        {0.5, {PREFS_TRAIN, PREFS_TEST, PREFS_TEST, PREFS_TEST}},
        {0.2, {PREFS_TRAIN, PREFS_TEST, PREFS_TRAIN, PREFS_TEST}},
        {0.1, {PREFS_TRAIN, PREFS_TRAIN, PREFS_TRAIN, PREFS_TRAIN}},
        {0.8, {PREFS_TEST, PREFS_TEST, PREFS_TEST, PREFS_TEST}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        prefs_builder_split(b, cases[c].fraction);
        void *payload;
        size_t n;
        prefs_view v;
        CU_ASSERT_EQUAL_FATAL(prefs_builder_finish(b, &payload, &n, &e), PPR_OK);
        CU_ASSERT_EQUAL_FATAL(prefs_view_init(&v, payload, n, "split", &e), PPR_OK);
        CU_ASSERT_EQUAL_FATAL(v.h->n_rows, 4);
        for (uint32_t i = 0; i < 4; i++)
            CU_ASSERT_EQUAL(v.rows[i].split, cases[c].want[i]);
        free(payload);
    }
    prefs_builder_free(b);
}

/* Interleaving, worked out by hand: user A's rows a0..a4 come first, then B's
 * b0..b2, with sides a0 a1 train, a2 test, a3 a4 train, b0 test, b1 b2 train.
 * Train: A's 4 rows at 1/8, 3/8, 5/8, 7/8 and B's 2 at 1/4, 3/4; test: a2
 * and b0 both at 1/2 (A first). So the rows are a0 b1 a1 a2 b0 a3 b2 a4, the
 * train part a0 b1 a1 a3 b2 a4: its first 3 hold 2 + 1, its first 6 4 + 2. */
static void test_prefs_interleave(void)
{
    static const char *const names[8] = {"a0", "a1", "a2", "a3", "a4", "b0", "b1", "b2"};
    static const uint32_t sides[8] = {PREFS_TRAIN, PREFS_TRAIN, PREFS_TEST, PREFS_TRAIN,
                                      PREFS_TRAIN, PREFS_TEST,  PREFS_TRAIN, PREFS_TRAIN};
    static const char *const want[8] = {"a0", "b1", "a1", "a2", "b0", "a3", "b2", "a4"};
    ppr_err e;
    prefs_builder *b = prefs_builder_new();
    prefs_builder_user(b, "A", PREFS_POOL_MAIN);
    prefs_builder_user(b, "B", PREFS_POOL_MAIN);
    uint32_t p = (uint32_t)prefs_builder_text(b, "p", 1);
    for (uint32_t i = 0; i < 8; i++) {
        uint32_t t = (uint32_t)prefs_builder_text(b, names[i], 2);
        prefs_row r = {i < 5 ? 0 : 1, p, t, p, sides[i], NAN};
        CU_ASSERT_EQUAL(prefs_builder_row(b, &r, &e), PPR_OK);
    }
    prefs_builder_interleave(b);
    void *payload;
    size_t n;
    prefs_view v;
    CU_ASSERT_EQUAL_FATAL(prefs_builder_finish(b, &payload, &n, &e), PPR_OK);
    prefs_builder_free(b);
    CU_ASSERT_EQUAL_FATAL(prefs_view_init(&v, payload, n, "interleave", &e), PPR_OK);
    CU_ASSERT_EQUAL_FATAL(v.h->n_rows, 8);
    for (uint32_t i = 0; i < 8; i++) {
        const char *got = prefs_text(&v, v.rows[i].chosen, NULL);
        CU_ASSERT_STRING_EQUAL(got, want[i]);
        CU_ASSERT_EQUAL(v.rows[i].user, (uint32_t)(got[0] - 'a'));
        CU_ASSERT_EQUAL(v.rows[i].split, sides[(got[0] - 'a') * 5 + (got[1] - '0')]);
    }
    free(payload);
}

/* store_check holds an object to every field a lock records about it. */
static void test_store_check(void)
{
    store s;
    ppr_err e = {0};
    char hex[65];
    CU_ASSERT_EQUAL_FATAL(store_init(&s, "chk", &e), PPR_OK);
    CU_ASSERT_EQUAL_FATAL(store_put(&s, PAYLOAD_JSON, "{\"x\":1}", 7, hex, &e), PPR_OK);
    CU_ASSERT_EQUAL(store_check(&s, hex, "json", 7, &e), PPR_OK);
    CU_ASSERT_EQUAL(store_check(&s, hex, NULL, 7, &e), PPR_OK);
    CU_ASSERT_EQUAL(store_check(&s, hex, "json", 8, &e), PPR_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "holds 7 bytes, not the 8 recorded"));
    CU_ASSERT_EQUAL(store_check(&s, hex, "prefs", 7, &e), PPR_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "holds json, expected prefs"));
    CU_ASSERT_EQUAL(store_check(&s, hex, "nonsense", 7, &e), PPR_EINPUT);
    hex[0] = hex[0] == '0' ? '1' : '0';
    CU_ASSERT_EQUAL(store_check(&s, hex, "json", 7, &e), PPR_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "is missing from the store"));
    store_release(&s);
}

/* Temp names are "<name>.tmp" and six letters or digits; the sweep removes
 * those and nothing else. */
static void test_sweep_temps(void)
{
    CU_ASSERT_TRUE(file_is_temp_name("x.zst.tmpAbC123"));
    CU_ASSERT_FALSE(file_is_temp_name("x.zst.tmpAbC12"));
    CU_ASSERT_FALSE(file_is_temp_name("x.zst.tmpAbC1_3"));
    CU_ASSERT_FALSE(file_is_temp_name(".tmpAbC123"));
    CU_ASSERT_FALSE(file_is_temp_name("x.json"));
    store s;
    ppr_err e = {0};
    char hex[65];
    CU_ASSERT_EQUAL_FATAL(store_init(&s, "swp", &e), PPR_OK);
    CU_ASSERT_EQUAL_FATAL(store_put(&s, PAYLOAD_JSON, "[]", 2, hex, &e), PPR_OK);
    CU_ASSERT_EQUAL_FATAL(dir_make("swp/runs", &e), PPR_OK);
    const char *temps[] = {"swp/objects/ab/cd.zst.tmpQwErTy", "swp/objects/x.tmp123456",
                           "swp/runs/k.json.tmpzzzzzz"};
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(dir_make_parent(temps[i], &e), PPR_OK);
        CU_ASSERT_EQUAL(file_write_atomic(temps[i], "t", 1, &e), PPR_OK);
    }
    CU_ASSERT_EQUAL(file_write_atomic("swp/runs/keep.json", "{}", 2, &e), PPR_OK);
    const char *const dirs[] = {"swp/runs", "swp/nonexistent", NULL};
    size_t removed = 0;
    CU_ASSERT_EQUAL(store_sweep_temps(&s, dirs, &removed, &e), PPR_OK);
    CU_ASSERT_EQUAL(removed, 3);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_FALSE(file_exists(temps[i]));
    CU_ASSERT_TRUE(file_exists("swp/runs/keep.json"));
    CU_ASSERT_EQUAL(store_check(&s, hex, "json", 2, &e), PPR_OK);
    store_release(&s);
}

/* A lock is valid only as a copy of its run record whose outputs are stored. */
static void test_lock_checked(void)
{
    store s;
    ppr_err e = {0};
    char out[65], key[65], rec[256];
    CU_ASSERT_EQUAL_FATAL(store_init(&s, "lk", &e), PPR_OK);
    CU_ASSERT_EQUAL_FATAL(store_put(&s, PAYLOAD_JSON, "1", 1, out, &e), PPR_OK);
    char text[512];
    snprintf(text, sizeof text,
             "{\"config\":{},\"inputs\":[],\"instance\":\"x\",\"outputs\":[{\"bytes\":1,"
             "\"name\":\"o\",\"rows\":1,\"sha256\":\"%s\",\"type\":\"json\"}],"
             "\"stage\":\"02-characterize\",\"tool\":{}}\n",
             out);
    CU_ASSERT_EQUAL_FATAL(file_write_atomic("lk/x.json", text, strlen(text), &e), PPR_OK);
    lock l;
    CU_ASSERT_EQUAL(lock_load_checked(&l, &s, "lk/x.json", &e), PPR_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "has no run record"));
    cJSON *json = cJSON_Parse(text);
    CU_ASSERT_EQUAL_FATAL(lock_run_key(json, key, &e), PPR_OK);
    cJSON_Delete(json);
    snprintf(rec, sizeof rec, "lk/runs/%s.json", key);
    CU_ASSERT_EQUAL(dir_make("lk/runs", &e), PPR_OK);
    CU_ASSERT_EQUAL(file_write_atomic(rec, text, strlen(text), &e), PPR_OK);
    CU_ASSERT_EQUAL(lock_load_checked(&l, &s, "lk/x.json", &e), PPR_OK);
    char id[64];
    lock_node_id(&l, id, sizeof id);
    CU_ASSERT_STRING_EQUAL(id, "02-characterize-x");
    lock_release(&l);
    /* The record ends in a different byte: an edited copy. */
    text[strlen(text) - 1] = ' ';
    CU_ASSERT_EQUAL(file_write_atomic(rec, text, strlen(text), &e), PPR_OK);
    CU_ASSERT_EQUAL(lock_load_checked(&l, &s, "lk/x.json", &e), PPR_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "differs from its run record"));
    CU_ASSERT_TRUE(lock_input_is_output("model-s1", "model-s1"));
    CU_ASSERT_TRUE(lock_input_is_output("pretrained/model-s1", "model-s1"));
    CU_ASSERT_FALSE(lock_input_is_output("pretrained/model-s11", "model-s1"));
    CU_ASSERT_FALSE(lock_input_is_output("xmodel-s1", "model-s1"));
    CU_ASSERT_FALSE(lock_input_is_output("s1", "model-s1"));
    store_release(&s);
}

/* Shared holders exclude an exclusive one and admit each other. */
static void test_storelock(void)
{
    store s;
    ppr_err e = {0};
    CU_ASSERT_EQUAL_FATAL(store_init(&s, "fl", &e), PPR_OK);
    storelock a, b, c;
    int got = -1;
    CU_ASSERT_EQUAL(storelock_take(&a, &s, "store", STORELOCK_SHARED, NULL, &e), PPR_OK);
    CU_ASSERT_EQUAL(storelock_try(&b, &s, "store", STORELOCK_SHARED, &got, &e), PPR_OK);
    CU_ASSERT_EQUAL(got, 1);
    CU_ASSERT_EQUAL(storelock_try(&c, &s, "store", STORELOCK_EXCLUSIVE, &got, &e), PPR_OK);
    CU_ASSERT_EQUAL(got, 0);
    storelock_release(&a);
    storelock_release(&b);
    CU_ASSERT_EQUAL(storelock_try(&c, &s, "store", STORELOCK_EXCLUSIVE, &got, &e), PPR_OK);
    CU_ASSERT_EQUAL(got, 1);
    CU_ASSERT_TRUE(file_exists("fl/flock/store"));
    CU_ASSERT_EQUAL(storelock_try(&a, &s, "node/02-x", STORELOCK_EXCLUSIVE, &got, &e), PPR_OK);
    CU_ASSERT_EQUAL(got, 1);
    storelock_release(&a);
    storelock_release(&c);
    storelock z;
    memset(&z, 0, sizeof z);
    storelock_release(&z); /* zeroed: nothing to close, stdin untouched */
    CU_ASSERT_NOT_EQUAL(fcntl(0, F_GETFD), -1);
    store_release(&s);
}

static void test_proc_run(void)
{
    ppr_err e = {0};
    char *ok[] = {"true", NULL}, *no[] = {"false", NULL}, *none[] = {"/nonexistent/prog", NULL};
    CU_ASSERT_EQUAL(proc_run(ok, "to test", &e), PPR_OK);
    CU_ASSERT_EQUAL(proc_run(no, "to test", &e), PPR_EINPUT);
    CU_ASSERT_STRING_EQUAL(e.msg, "'false' failed to test (exit code 1)");
    CU_ASSERT_EQUAL(proc_run(none, "to test", &e), PPR_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "'/nonexistent/prog'"));
}

/* proc_wrap: the child's exit code or 128 + its signal, and this process
 * outlives a SIGINT sent to it while it waits (the child's own interrupt
 * reaches the child, which keeps the default action). */
static void test_proc_wrap(void)
{
    ppr_err e = {0};
    int status = -1;
    char *five[] = {"sh", "-c", "kill -INT $PPID; exit 5", NULL};
    char *term[] = {"sh", "-c", "kill -TERM $$", NULL};
    CU_ASSERT_EQUAL(proc_wrap(five, &status, &e), PPR_OK);
    CU_ASSERT_EQUAL(status, 5);
    CU_ASSERT_EQUAL(proc_wrap(term, &status, &e), PPR_OK);
    CU_ASSERT_EQUAL(status, 128 + 15);
    char *none[] = {"/nonexistent/prog", NULL};
    CU_ASSERT_EQUAL(proc_wrap(none, &status, &e), PPR_EINPUT);
}

/* proc_capture: stdout and stderr together, truncated to the buffer, the exit
 * code, and a timeout that kills the child and names it. */
static void test_proc_capture(void)
{
    ppr_err e = {0};
    char out[8];
    int status = -1;
    char *both[] = {"sh", "-c", "echo ab; echo cd >&2; exit 3", NULL};
    CU_ASSERT_EQUAL(proc_capture(both, 5, "", out, sizeof out, &status, &e), PPR_OK);
    CU_ASSERT_STRING_EQUAL(out, "ab\ncd\n");
    CU_ASSERT_EQUAL(status, 3);
    char *long_out[] = {"sh", "-c", "echo 0123456789", NULL};
    CU_ASSERT_EQUAL(proc_capture(long_out, 5, "", out, sizeof out, &status, &e), PPR_OK);
    CU_ASSERT_STRING_EQUAL(out, "0123456");
    char *slow[] = {"sleep", "10", NULL};
    CU_ASSERT_EQUAL(proc_capture(slow, 0.2, "(a test)", out, sizeof out, &status, &e),
                    PPR_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "'sleep' did not answer within 0.2 s (a test)"));
    CU_ASSERT_EQUAL(status, 128 + 9);
}

int main(void)
{
    static const test_case cases[] = {
        {"sha256 vectors", test_sha256_vectors},
        {"store round trip", test_store_round_trip},
        {"store corruption", test_store_corruption},
        {"canonical json", test_json_canonical},
        {"write if changed", test_write_if_changed},
        {"config checks", test_config},
        {"config lists", test_config_lists},
        {"prefs round trip", test_prefs_round_trip},
        {"prefs split by key", test_prefs_split},
        {"prefs interleave users", test_prefs_interleave},
        {"store check", test_store_check},
        {"temp sweep", test_sweep_temps},
        {"lock checked against its run record", test_lock_checked},
        {"store locks", test_storelock},
        {"run a program", test_proc_run},
        {"wrap a program", test_proc_wrap},
        {"capture a program's output", test_proc_capture},
        {NULL, NULL},
    };
    return test_main("common", suite_init, suite_clean, cases, CU_BRM_NORMAL);
}
