/* test_repo.c: unit tests of `ppr verify`, `ppr gc`, `ppr archive` and
 * `ppr restore` (tools/ppr/repo.h) on small stores built in temp directories. */
#include <CUnit/Basic.h>
#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/json.h"
#include "common/lock.h"
#include "common/store.h"
#include "tools/ppr/repo.h"
#include "tests/testlib.h"

static char origdir[4096];

/* ---- fixtures ----------------------------------------------------------- */

/* A fresh directory to work in; the path is written to dir. */
static void tmp_enter(char dir[64])
{
    snprintf(dir, 64, "/tmp/ppr-test-repo-XXXXXX");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    CU_ASSERT_EQUAL_FATAL(chdir(dir), 0);
}

/* Go back to `back` and remove dir. */
static void tmp_leave(const char *dir, const char *back)
{
    char cmd[128];
    CU_ASSERT_EQUAL(chdir(back), 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CU_ASSERT_EQUAL(system(cmd), 0);
}

/* An object of the store and its payload size. */
typedef struct {
    char hex[65];
    size_t n;
} obj;

static void put(const char *text, obj *o)
{
    store s;
    ppr_err e = {0};
    CU_ASSERT_EQUAL_FATAL(store_init(&s, NULL, &e), PPR_OK);
    CU_ASSERT_EQUAL_FATAL(store_put(&s, PAYLOAD_JSON, text, strlen(text), o->hex, &e), PPR_OK);
    o->n = strlen(text);
    store_release(&s);
}

static void obj_path(const char *hex, char path[128])
{
    snprintf(path, 128, "artifacts/objects/%.2s/%s.zst", hex, hex + 2);
}

static cJSON *entry(const char *kind, const char *name, const obj *o, int output,
                    const char *from)
{
    cJSON *it = cJSON_CreateObject();
    if (kind)
        cJSON_AddStringToObject(it, "kind", kind);
    cJSON_AddStringToObject(it, "name", name);
    cJSON_AddStringToObject(it, "sha256", o->hex);
    cJSON_AddNumberToObject(it, "bytes", (double)o->n);
    if (from)
        cJSON_AddStringToObject(it, "from", from);
    if (output) {
        cJSON_AddStringToObject(it, "type", "json");
        cJSON_AddNumberToObject(it, "rows", 1);
    }
    return it;
}

/* The lock of node "<stage>-sim" run with config {"seed": seed}: one "object"
 * input "out0" made by node `from` (in may be NULL), one "file" input outside the
 * store, and outputs "out0", "out1", ... Written at path (NULL: nowhere) and,
 * when record is set, as its run record. */
static void write_lock(const char *path, const char *stage, int seed, const obj *in,
                       const char *from, const obj *outs, int n, int record)
{
    static const obj mirror = {"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
                               10};
    cJSON *l = cJSON_CreateObject();
    cJSON *cfg = cJSON_AddObjectToObject(l, "config");
    cJSON_AddNumberToObject(cfg, "seed", seed);
    cJSON *inputs = cJSON_AddArrayToObject(l, "inputs");
    if (in)
        cJSON_AddItemToArray(inputs, entry("object", "out0", in, 0, from));
    cJSON_AddItemToArray(inputs, entry("file", "mirror", &mirror, 0, NULL));
    cJSON_AddStringToObject(l, "instance", "sim");
    cJSON *outputs = cJSON_AddArrayToObject(l, "outputs");
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "out%d", i);
        cJSON_AddItemToArray(outputs, entry(NULL, name, &outs[i], 1, NULL));
    }
    cJSON_AddStringToObject(l, "stage", stage);
    cJSON_AddObjectToObject(l, "tool");
    ppr_err e = {0};
    if (path) {
        CU_ASSERT_EQUAL_FATAL(dir_make_parent(path, &e), PPR_OK);
        CU_ASSERT_EQUAL_FATAL(json_write_if_changed(path, l, NULL, &e), PPR_OK);
    }
    if (record) {
        char key[65], rec[128];
        CU_ASSERT_EQUAL_FATAL(lock_run_key(l, key, &e), PPR_OK);
        snprintf(rec, sizeof rec, "artifacts/runs/%s.json", key);
        CU_ASSERT_EQUAL_FATAL(dir_make_parent(rec, &e), PPR_OK);
        CU_ASSERT_EQUAL_FATAL(json_write_if_changed(rec, l, NULL, &e), PPR_OK);
    }
    cJSON_Delete(l);
}

static void write_text(const char *path, const char *text)
{
    ppr_err e = {0};
    char dir[256];
    snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(path, '/') - path), path);
    CU_ASSERT_EQUAL_FATAL(dir_make(dir, &e), PPR_OK);
    CU_ASSERT_EQUAL_FATAL(file_write_atomic(path, text, strlen(text), &e), PPR_OK);
}

static char *slurp(const char *path, size_t *n)
{
    char *data = NULL;
    if (file_read_all(path, &data, n, NULL) != PPR_OK)
        return NULL;
    return data;
}

/* Replace `find` by `repl` in the lock at path and write the result as the
 * lock and as its run record, so the two agree. */
static void rewrite_both(const char *path, const char *find, const char *repl)
{
    size_t n;
    char *text = slurp(path, &n), *at = text ? strstr(text, find) : NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(at);
    size_t head = (size_t)(at - text), m = n - strlen(find) + strlen(repl);
    char *out = malloc(m + 1);
    snprintf(out, m + 1, "%.*s%s%s", (int)head, text, repl, at + strlen(find));
    ppr_err e = {0};
    cJSON *json = json_parse_buf(out, m, path, &e);
    char key[65], rec[128];
    CU_ASSERT_EQUAL_FATAL(lock_run_key(json, key, &e), PPR_OK);
    snprintf(rec, sizeof rec, "artifacts/runs/%s.json", key);
    CU_ASSERT_EQUAL(file_write_atomic(path, out, m, &e), PPR_OK);
    CU_ASSERT_EQUAL(file_write_atomic(rec, out, m, &e), PPR_OK);
    cJSON_Delete(json);
    free(text);
    free(out);
}

static int same_file(const char *a, const char *b)
{
    size_t na, nb;
    char *x = slurp(a, &na), *y = slurp(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

/* Run a repo command with its findings captured in *text (caller frees). */
typedef struct {
    char *text;
    size_t len;
    FILE *f;
} capture;

static FILE *cap_open(capture *c)
{
    c->text = NULL;
    c->len = 0;
    c->f = open_memstream(&c->text, &c->len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c->f);
    return c->f;
}

static const char *cap_close(capture *c)
{
    fclose(c->f);
    return c->text;
}

/* The usual checkout: config, grid, the lock of 01-fetch-sim making a, the
 * lock of 02-characterize-sim reading a and making b and c, their run
 * records, plus an object nothing references. */
#define FETCH_LOCK "manifests/lock/01-fetch-sim.json"
#define CHAR_LOCK "manifests/lock/02-characterize-sim.json"

static void make_checkout(obj *a, obj *b, obj *c, obj *junk)
{
    write_text("manifests/config.json", "{\"profile\":\"ci\"}\n");
    write_text("manifests/grid.ninja", "# grid\n");
    put("{\"a\":1}", a);
    put("{\"b\":2}", b);
    put("{\"c\":3}", c);
    put("{\"junk\":true}", junk);
    write_lock(FETCH_LOCK, "01-fetch", 7, NULL, NULL, a, 1, 1);
    const obj outs[] = {*b, *c};
    write_lock(CHAR_LOCK, "02-characterize", 7, a, "01-fetch-sim", outs, 2, 1);
}

/* Copy an archive entry by entry, changing one thing on the way. */
enum { REPACK_FLIP_OBJECT, REPACK_EDIT_LOCK, REPACK_ADD_UNSAFE, REPACK_DROP_LAST };

static void repack(const char *src, const char *dst, int how)
{
    struct archive *in = archive_read_new(), *out = archive_write_new();
    archive_read_support_filter_zstd(in);
    archive_read_support_format_tar(in);
    CU_ASSERT_EQUAL_FATAL(archive_read_open_filename(in, src, 1 << 16), ARCHIVE_OK);
    archive_write_set_format_ustar(out);
    archive_write_add_filter_zstd(out);
    CU_ASSERT_EQUAL_FATAL(archive_write_open_filename(out, dst), ARCHIVE_OK);
    struct archive_entry *en;
    int n_entries = 0, flipped = 0;
    char *names[64];
    char *datas[64];
    size_t sizes[64];
    while (archive_read_next_header(in, &en) == ARCHIVE_OK && n_entries < 64) {
        size_t n = (size_t)archive_entry_size(en);
        char *data = malloc(n + 1);
        CU_ASSERT_EQUAL_FATAL(archive_read_data(in, data, n), (la_ssize_t)n);
        const char *name = archive_entry_pathname(en);
        if (how == REPACK_FLIP_OBJECT && !flipped && strncmp(name, "artifacts/", 10) == 0) {
            data[n - 1] ^= 0x01; /* inside the zstd frame's checksum */
            flipped = 1;
        }
        if (how == REPACK_EDIT_LOCK && strcmp(name, CHAR_LOCK) == 0) {
            char *seed = strstr(data, "\"seed\":7");
            CU_ASSERT_PTR_NOT_NULL_FATAL(seed);
            seed[7] = '8';
        }
        names[n_entries] = strdup(name);
        datas[n_entries] = data;
        sizes[n_entries++] = n;
    }
    if (how == REPACK_ADD_UNSAFE) {
        names[n_entries] = strdup("manifests/../evil");
        datas[n_entries] = strdup("x");
        sizes[n_entries++] = 1;
    }
    if (how == REPACK_DROP_LAST) {
        n_entries--;
        free(names[n_entries]);
        free(datas[n_entries]);
    }
    for (int i = 0; i < n_entries; i++) {
        struct archive_entry *w = archive_entry_new();
        archive_entry_set_pathname(w, names[i]);
        archive_entry_set_filetype(w, AE_IFREG);
        archive_entry_set_perm(w, 0644);
        archive_entry_set_size(w, (la_int64_t)sizes[i]);
        CU_ASSERT_EQUAL(archive_write_header(out, w), ARCHIVE_OK);
        CU_ASSERT_EQUAL(archive_write_data(out, datas[i], sizes[i]), (la_ssize_t)sizes[i]);
        archive_entry_free(w);
        free(names[i]);
        free(datas[i]);
    }
    archive_read_free(in);
    archive_write_close(out);
    archive_write_free(out);
}

/* Restore an archive into an empty directory: it must fail and leave nothing. */
static void restore_refused(const char *archive)
{
    char dir[64], back[4096];
    CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(back, sizeof back));
    tmp_enter(dir);
    capture c;
    ppr_err e = {0};
    CU_ASSERT_EQUAL(repo_restore(archive, cap_open(&c), &e), PPR_EINPUT);
    free((char *)cap_close(&c));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, archive));
    CU_ASSERT_FALSE(file_exists("manifests"));
    CU_ASSERT_FALSE(file_exists("artifacts"));
    tmp_leave(dir, back);
}

/* ---- tests -------------------------------------------------------------- */

/* Run repo_verify; *text receives its findings (caller frees). */
static size_t verify_text(char **text)
{
    capture cap;
    size_t bad = 99;
    ppr_err e = {0};
    CU_ASSERT_EQUAL(repo_verify(cap_open(&cap), &bad, &e), PPR_OK);
    *text = (char *)cap_close(&cap);
    return bad;
}

static void test_verify_good(void)
{
    char dir[64], *text;
    obj a, b, c, junk, run;
    tmp_enter(dir);
    make_checkout(&a, &b, &c, &junk);
    put("{\"run\":1}", &run);
    write_lock(NULL, "02-characterize", 8, &a, "01-fetch-sim", &run, 1, 1);
    CU_ASSERT_EQUAL(verify_text(&text), 0);
    CU_ASSERT_STRING_EQUAL(text, "verified 5 objects, 2 locks, 3 run records: 0 bad\n");
    free(text);
    tmp_leave(dir, origdir);
}

static void test_verify_bad(void)
{
    char dir[64], path[128], want[160], *text;
    obj a, b, c, junk;
    tmp_enter(dir);
    make_checkout(&a, &b, &c, &junk);
    obj_path(b.hex, path);
    flip_byte(path, -1);
    CU_ASSERT_EQUAL(verify_text(&text), 1);
    snprintf(want, sizeof want, "corrupt object %s: ", b.hex);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, want));
    CU_ASSERT_PTR_NULL(strstr(text, a.hex));
    CU_ASSERT_PTR_NULL(strstr(text, c.hex));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "verified 4 objects, 2 locks, 2 run records: 1 bad\n"));
    free(text);

    /* A missing object is named by each root that references it (the lock and
     * its run record); a misnamed file, a malformed lock and a temp file left
     * by a killed run are each bad. */
    obj_path(c.hex, path);
    CU_ASSERT_EQUAL(unlink(path), 0);
    write_text("artifacts/objects/ab/not-an-object", "x");
    write_text("artifacts/objects/ab/0123.zst.tmpAbC123", "x");
    write_text("manifests/lock/broken.json", "{\"stage\":");
    CU_ASSERT_EQUAL(verify_text(&text), 6);
    snprintf(want, sizeof want, "missing object %s: output \"out1\" of lock '" CHAR_LOCK "'",
             c.hex);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, want));
    snprintf(want, sizeof want, "missing object %s: output \"out1\" of run record 'artifacts/runs/",
             c.hex);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, want));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "misnamed file 'artifacts/objects/ab/not-an-object'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "malformed lock: 'manifests/lock/broken.json'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "stale temp file 'artifacts/objects/ab/0123.zst.tmpAbC123'"));
    free(text);
    tmp_leave(dir, origdir);
}

/* Every field a lock records about an object is checked, and a lock must be
 * its run record's copy. */
static void test_verify_fields(void)
{
    char dir[64], want[200], *text;
    obj a, b, c, junk;
    tmp_enter(dir);
    make_checkout(&a, &b, &c, &junk);

    /* Pointed at another valid object (its name edited, its size not): not
     * its run record, and the size the lock records is not that object's. */
    obj other = junk;
    other.n = b.n;
    const obj edited[] = {other, c};
    write_lock(CHAR_LOCK, "02-characterize", 7, &a, "01-fetch-sim", edited, 2, 0);
    CU_ASSERT_EQUAL(verify_text(&text), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "lock '" CHAR_LOCK "' differs from its run record"));
    snprintf(want, sizeof want,
             "lock '" CHAR_LOCK "': output \"out0\" (%.12s) holds json, %zu bytes; the lock "
             "records json, %zu bytes",
             junk.hex, junk.n, b.n);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, want));
    free(text);

    /* Edited together with its record (so the copies agree): an output of
     * another type than the lock records. */
    const obj swapped[] = {junk};
    write_lock(CHAR_LOCK, "02-characterize", 7, &a, "01-fetch-sim", swapped, 1, 1);
    CU_ASSERT_EQUAL(verify_text(&text), 0);
    free(text);
    rewrite_both(CHAR_LOCK, "\"type\":\"json\"", "\"type\":\"prefs\"");
    CU_ASSERT_EQUAL(verify_text(&text), 2); /* the lock and its record */
    snprintf(want, sizeof want, "output \"out0\" (%.12s) holds json, %zu bytes; the lock "
             "records prefs, %zu bytes", junk.hex, junk.n, junk.n);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, want));
    free(text);

    /* The input names a producer that never made it. */
    rewrite_both(CHAR_LOCK, "\"from\":\"01-fetch-sim\"", "\"from\":\"01-fetch-old\"");
    /* The old record's type; the new lock's and record's type and input. */
    CU_ASSERT_EQUAL(verify_text(&text), 5);
    snprintf(want, sizeof want, "lock '" CHAR_LOCK "': input \"out0\" (%.12s) is no output "
             "\"out0\" of '01-fetch-old' in any lock or run record", a.hex);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, want));
    free(text);
    tmp_leave(dir, origdir);
}

static void test_gc(void)
{
    char dir[64], path[128];
    obj a, b, c, junk, kept, dead, never;
    tmp_enter(dir);
    make_checkout(&a, &b, &c, &junk);
    /* A live run record keeps its object; a record with a missing output dies
     * and takes its only other object with it. */
    put("{\"cached\":1}", &kept);
    put("{\"dead\":1}", &dead);
    memset(&never, 0, sizeof never);
    memset(never.hex, 'f', 64);
    const obj dead_outs[] = {dead, never};
    write_lock(NULL, "02-characterize", 8, &a, "01-fetch-sim", &kept, 1, 1);
    write_lock("manifests/lock/dead.json", "02-characterize", 9, &a, "01-fetch-sim", dead_outs,
               2, 1);
    CU_ASSERT_EQUAL(unlink("manifests/lock/dead.json"), 0); /* only its record is left */
    write_text("manifests/lock/x.json.tmpQwErTy", "partial");

    capture cap;
    uint64_t freed = 0;
    size_t removed = 0;
    ppr_err e = {0};
    CU_ASSERT_EQUAL(repo_gc(1, cap_open(&cap), &freed, &removed, &e), PPR_OK);
    free((char *)cap_close(&cap));
    CU_ASSERT_EQUAL(removed, 4);
    obj_path(junk.hex, path);
    CU_ASSERT_TRUE(file_exists(path)); /* dry run */
    CU_ASSERT_TRUE(file_exists("manifests/lock/x.json.tmpQwErTy"));

    uint64_t dry_freed = freed;
    CU_ASSERT_EQUAL(repo_gc(0, cap_open(&cap), &freed, &removed, &e), PPR_OK);
    const char *text = cap_close(&cap);
    CU_ASSERT_EQUAL(removed, 4);
    CU_ASSERT_EQUAL(freed, dry_freed);
    CU_ASSERT_TRUE(freed > 0);
    char want[128];
    snprintf(want, sizeof want, "removed object %s", junk.hex);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, want));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "kept 4 referenced objects; removed 4 files"));
    free(cap.text);
    CU_ASSERT_FALSE(file_exists(path));
    obj_path(dead.hex, path);
    CU_ASSERT_FALSE(file_exists(path));
    CU_ASSERT_FALSE(file_exists("manifests/lock/x.json.tmpQwErTy"));
    const obj *keep[] = {&a, &b, &c, &kept};
    for (int i = 0; i < 4; i++) {
        obj_path(keep[i]->hex, path);
        CU_ASSERT_TRUE(file_exists(path));
    }
    char *vt;
    CU_ASSERT_EQUAL(verify_text(&vt), 0);
    free(vt);

    /* A malformed lock might reference anything: gc refuses to run. */
    put("{\"orphan\":1}", &junk);
    write_text("manifests/lock/broken.json", "[");
    CU_ASSERT_EQUAL(repo_gc(0, cap_open(&cap), &freed, &removed, &e), PPR_EINPUT);
    free((char *)cap_close(&cap));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "'manifests/lock/broken.json'"));
    CU_ASSERT_EQUAL(removed, 0);
    obj_path(junk.hex, path);
    CU_ASSERT_TRUE(file_exists(path));
    tmp_leave(dir, origdir);
}

static void test_archive_round_trip(void)
{
    char src[64], dst[64], path[128];
    char archive[128], again[128], lock_copy[4096];
    obj a, b, c, junk;
    tmp_enter(src);
    make_checkout(&a, &b, &c, &junk);
    snprintf(archive, sizeof archive, "%s/state.tar.zst", src);
    snprintf(again, sizeof again, "%s/again.tar.zst", src);
    snprintf(lock_copy, sizeof lock_copy, "%s/" CHAR_LOCK, src);

    capture cap;
    ppr_err e = {0};
    CU_ASSERT_EQUAL_FATAL(repo_archive(archive, cap_open(&cap), &e), PPR_OK);
    const char *text = cap_close(&cap);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "archived 3 objects, 2 locks and 2 manifest files"));
    free(cap.text);
    /* Same state, later mtimes: the same bytes. */
    write_text("manifests/grid.ninja", "# grid\n");
    CU_ASSERT_EQUAL_FATAL(repo_archive(again, cap_open(&cap), &e), PPR_OK);
    free((char *)cap_close(&cap));
    CU_ASSERT_TRUE(same_file(archive, again));

    size_t bad = 99;
    CU_ASSERT_EQUAL(repo_archive_verify(archive, cap_open(&cap), &bad, &e), PPR_OK);
    text = cap_close(&cap);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_STRING_EQUAL(text, "verified 3 objects, 0 bad\n");
    free(cap.text);

    /* Restored into an empty checkout: the locks get their run records back,
     * so the store verifies. */
    tmp_enter(dst);
    CU_ASSERT_EQUAL(repo_restore(archive, cap_open(&cap), &e), PPR_OK);
    text = cap_close(&cap);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "restored 3 objects (0 already present), 2 locks and 2 manifest files"));
    free(cap.text);
    CU_ASSERT_TRUE(same_file(CHAR_LOCK, lock_copy));
    snprintf(lock_copy, sizeof lock_copy, "%s/manifests/config.json", src);
    CU_ASSERT_TRUE(same_file("manifests/config.json", lock_copy));
    obj_path(junk.hex, path);
    CU_ASSERT_FALSE(file_exists(path)); /* unreferenced: not archived */
    char *vt;
    CU_ASSERT_EQUAL(verify_text(&vt), 0);
    CU_ASSERT_STRING_EQUAL(vt, "verified 3 objects, 2 locks, 2 run records: 0 bad\n");
    free(vt);
    /* Restoring again finds everything in place. */
    CU_ASSERT_EQUAL(repo_restore(archive, cap_open(&cap), &e), PPR_OK);
    text = cap_close(&cap);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "(3 already present)"));
    free(cap.text);
    tmp_leave(dst, src); /* back in the first checkout, never the one the test runs in */

    /* A lock that is not its run record's copy is not archived. */
    write_lock(CHAR_LOCK, "02-characterize", 8, &a, "01-fetch-sim", &b, 1, 0);
    CU_ASSERT_EQUAL(repo_archive(again, cap_open(&cap), &e), PPR_EINPUT);
    free((char *)cap_close(&cap));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "cannot archive: lock '" CHAR_LOCK "' has no run record"));
    tmp_leave(src, origdir);
}

static void test_archive_rejects(void)
{
    char dir[64], path[128], good[128], bad_path[128];
    obj a, b, c, junk;
    tmp_enter(dir);
    make_checkout(&a, &b, &c, &junk);
    snprintf(good, sizeof good, "%s/state.tar.zst", dir);
    snprintf(bad_path, sizeof bad_path, "%s/bad.tar.zst", dir);
    capture cap;
    ppr_err e = {0};
    size_t bad = 0;
    CU_ASSERT_EQUAL_FATAL(repo_archive(good, cap_open(&cap), &e), PPR_OK);
    free((char *)cap_close(&cap));

    /* Truncated: the container itself is bad. */
    size_t n;
    char *data = slurp(good, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(data);
    FILE *f = fopen(bad_path, "wb");
    fwrite(data, 1, n / 2, f);
    fclose(f);
    free(data);
    CU_ASSERT_EQUAL(repo_archive_verify(bad_path, cap_open(&cap), &bad, &e), PPR_EINPUT);
    free((char *)cap_close(&cap));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, bad_path));
    restore_refused(bad_path);

    /* One flipped byte inside an archived object. */
    repack(good, bad_path, REPACK_FLIP_OBJECT);
    CU_ASSERT_EQUAL(repo_archive_verify(bad_path, cap_open(&cap), &bad, &e), PPR_OK);
    const char *text = cap_close(&cap);
    CU_ASSERT_EQUAL(bad, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "corrupt object "));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "bad.tar.zst:artifacts/objects/"));
    free(cap.text);
    restore_refused(bad_path);

    /* A lock whose bytes changed no longer matches the index. */
    repack(good, bad_path, REPACK_EDIT_LOCK);
    CU_ASSERT_EQUAL(repo_archive_verify(bad_path, cap_open(&cap), &bad, &e), PPR_OK);
    text = cap_close(&cap);
    CU_ASSERT_EQUAL(bad, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "02-characterize-sim.json': does not match"));
    free(cap.text);
    restore_refused(bad_path);

    /* Cut at an entry boundary: the index still knows what is missing. */
    repack(good, bad_path, REPACK_DROP_LAST);
    CU_ASSERT_EQUAL(repo_archive_verify(bad_path, cap_open(&cap), &bad, &e), PPR_OK);
    text = cap_close(&cap);
    CU_ASSERT_EQUAL(bad, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "missing entry"));
    free(cap.text);

    /* Paths that escape the checkout are refused. */
    repack(good, bad_path, REPACK_ADD_UNSAFE);
    CU_ASSERT_EQUAL(repo_archive_verify(bad_path, cap_open(&cap), &bad, &e), PPR_OK);
    text = cap_close(&cap);
    CU_ASSERT_EQUAL(bad, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "manifests/../evil': is unsafe"));
    free(cap.text);
    restore_refused(bad_path);

    /* Missing archive; archiving a corrupt object or into a missing directory
     * leaves nothing behind. */
    CU_ASSERT_EQUAL(repo_archive_verify("nope.tar.zst", cap_open(&cap), &bad, &e), PPR_EINPUT);
    free((char *)cap_close(&cap));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "'nope.tar.zst'"));
    CU_ASSERT_EQUAL(repo_archive("nodir/x.tar.zst", cap_open(&cap), &e), PPR_EINPUT);
    free((char *)cap_close(&cap));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "'nodir/x.tar.zst'"));
    obj_path(c.hex, path);
    flip_byte(path, -1);
    CU_ASSERT_EQUAL(repo_archive("new.tar.zst", cap_open(&cap), &e), PPR_EINPUT);
    free((char *)cap_close(&cap));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, path));
    CU_ASSERT_FALSE(file_exists("new.tar.zst"));
    CU_ASSERT_EQUAL(system("ls | grep -q tmp"), 256); /* no temp file either */
    tmp_leave(dir, origdir);
}

int main(void)
{
    if (!getcwd(origdir, sizeof origdir))
        return 1;
    unsetenv("PPR_ARTIFACTS");
    static const test_case cases[] = {
        {"verify a good store", test_verify_good},
        {"verify finds bad objects", test_verify_bad},
        {"verify checks every recorded field", test_verify_fields},
        {"gc", test_gc},
        {"archive round trip", test_archive_round_trip},
        {"archive rejects damage", test_archive_rejects},
        {NULL, NULL},
    };
    return test_main("repo", NULL, NULL, cases, CU_BRM_NORMAL);
}
