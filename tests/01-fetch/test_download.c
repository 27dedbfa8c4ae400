/* test_download.c: unit tests of common/download.c and common/hfrows.c against
 * tests/servers/upstream.py, started on 127.0.0.1 for the suite: pinned
 * downloads, resume of a cut transfer, checksum and size rejection, retries,
 * clear failures, and the rows API paged, resumed and rejected. Each test uses
 * its own upstream paths, so the server's per-path counts (/_stats) are its own. */
#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/download.h"
#include "common/fsutil.h"
#include "common/hfrows.h"
#include "common/json.h"
#include "common/sha256.h"
#include "tests/testlib.h"

#define FILES "https://files.test"
#define API "https://datasets-server.test"
#define ROWS_KEY "/datasets-server.test/rows/Org/"
#define BIG 200000 /* bytes of the file fixture */
#define N_ROWS 250 /* rows of each rows fixture: pages at 0, 100, 200 */

extern char **environ;

static char root[64];         /* the server's fixture directory */
static char upstream[64];     /* "http://127.0.0.1:<port>" */
static pid_t server = -1;
static unsigned char big[BIG];
static char big_hex[SHA256_HEX_LEN + 1];

/* ---- fixtures and the server ------------------------------------------- */

static int put_file(const char *rel, const void *data, size_t n)
{
    char *path = path_join(root, rel), *dir = strdup(path);
    int rc = !path || !dir;
    if (!rc) {
        *strrchr(dir, '/') = '\0';
        rc = dir_make(dir, NULL) || file_write_atomic(path, data, n, NULL);
    }
    free(path);
    free(dir);
    return rc;
}

static void set_faults(const char *json)
{
    CU_ASSERT_EQUAL_FATAL(put_file("faults.json", json, strlen(json)), 0);
}

/* Row i: text with unicode, quotes and a newline, keys out of order. */
static cJSON *row_make(int i)
{
    char text[64];
    snprintf(text, sizeof text, "row %d \xC3\xA9 \"q\"\nx", i);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "text", text);
    cJSON_AddNumberToObject(r, "id", i);
    cJSON_AddNumberToObject(r, "score", i / 4.0);
    return r;
}

static int put_rows(const char *dataset)
{
    char rel[128], *s;
    strbuf b = {0};
    for (int i = 0; i < N_ROWS; i++) {
        cJSON *r = row_make(i);
        s = cJSON_PrintUnformatted(r);
        strbuf_adds(&b, s);
        strbuf_adds(&b, "\n");
        free(s);
        cJSON_Delete(r);
    }
    snprintf(rel, sizeof rel, "datasets-server.test/rows/Org/%s/default/train.jsonl", dataset);
    int rc = b.failed || put_file(rel, b.p, b.len);
    strbuf_release(&b);
    return rc;
}

/* Start the server and read "PORT <n>" from its first line. */
static int server_start(void)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    char *argv[] = {"/usr/bin/python3", "tests/servers/upstream.py", "--root", root,
                    "--port", "0", "--timeout", "60", NULL};
    int rc = posix_spawn(&server, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        server = -1;
        close(fds[0]);
        return -1;
    }
    FILE *f = fdopen(fds[0], "r");
    char line[64];
    int port = 0;
    if (!f || !fgets(line, sizeof line, f) || sscanf(line, "PORT %d", &port) != 1)
        port = 0;
    if (f)
        fclose(f);
    else
        close(fds[0]);
    snprintf(upstream, sizeof upstream, "http://127.0.0.1:%d", port);
    return port > 0 ? 0 : -1;
}

static int suite_init(void)
{
    snprintf(root, sizeof root, "/tmp/ppr-test-download-XXXXXX");
    if (!mkdtemp(root))
        return -1;
    for (size_t i = 0; i < BIG; i++)
        big[i] = (unsigned char)(i * 7 + i / 251);
    unsigned char d[SHA256_LEN];
    sha256_buf(big, BIG, d);
    sha256_hex(d, big_hex);
    static const char *const names[] = {"plain", "cut", "part", "norange", "whole",
                                        "badsum", "badsize", "flaky", "down", "moved"};
    char rel[64];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(rel, sizeof rel, "files.test/%s.bin", names[i]);
        if (put_file(rel, big, BIG))
            return -1;
    }
    if (put_rows("set") || put_rows("gap") || put_rows("cut") || put_file("out/.keep", "", 0))
        return -1;
    if (server_start() != 0)
        return -1;
    setenv("PPR_UPSTREAM", upstream, 1);
    setenv("PPR_DOWNLOAD_ATTEMPTS", "5", 1);
    setenv("PPR_DOWNLOAD_BACKOFF_MS", "5", 1);
    setenv("no_proxy", "127.0.0.1", 1);
    setenv("NO_PROXY", "127.0.0.1", 1);
    return download_global_init(NULL);
}

static int suite_clean(void)
{
    if (server > 0) {
        kill(server, SIGTERM);
        waitpid(server, NULL, 0);
    }
    download_global_release();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- helpers ------------------------------------------------------------ */

/* root/out/name, in a static buffer (one at a time). */
static const char *out(const char *name)
{
    static char p[256];
    snprintf(p, sizeof p, "%s/out/%s", root, name);
    return p;
}

static int exists_with(const char *path, const char *suffix)
{
    char p[320];
    snprintf(p, sizeof p, "%s%s", path, suffix);
    return file_exists(p);
}

/* The server's /_stats member `what` for key (NULL when absent), from a fresh
 * copy that the caller frees through *stats. */
static const cJSON *stat_get(cJSON **stats, const char *what, const char *key)
{
    char url[128];
    strbuf body = {0};
    snprintf(url, sizeof url, "%s/_stats", upstream);
    ppr_err e = {0};
    CU_ASSERT_EQUAL_FATAL(download_buffer(url, &body, &e), PPR_OK);
    *stats = json_parse_buf(body.p, body.len, "/_stats", &e);
    strbuf_release(&body);
    CU_ASSERT_PTR_NOT_NULL_FATAL(*stats);
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(*stats, what),
                                            key);
}

static int requests(const char *key)
{
    cJSON *s;
    const cJSON *n = stat_get(&s, "requests", key);
    int v = n ? n->valueint : 0;
    cJSON_Delete(s);
    return v;
}

/* Download FILES/name.bin to out/name.bin with the given pins. */
static int fetch(const char *name, const char *sha, uint64_t bytes, char got[65],
                 uint64_t *got_bytes, ppr_err *e)
{
    char up[128];
    snprintf(up, sizeof up, FILES "/%s.bin", name);
    char *url = download_url(up);
    CU_ASSERT_PTR_NOT_NULL_FATAL(url);
    snprintf(up, sizeof up, "%s.bin", name);
    int rc = download_file(url, out(up), sha, bytes, got, got_bytes, e);
    free(url);
    return rc;
}

/* out/name.bin holds exactly the big fixture. */
static void check_big(const char *name)
{
    char rel[64], *data;
    size_t n;
    snprintf(rel, sizeof rel, "%s.bin", name);
    CU_ASSERT_EQUAL_FATAL(file_read_all(out(rel), &data, &n, NULL), PPR_OK);
    CU_ASSERT_EQUAL(n, BIG);
    CU_ASSERT(n == BIG && memcmp(data, big, BIG) == 0);
    CU_ASSERT_FALSE(exists_with(out(rel), ".part"));
    free(data);
}

/* ---- download_url -------------------------------------------------------- */

static void test_url(void)
{
    char *u = download_url("https://huggingface.co/d/x/resolve/main/a.json?download=true");
    char want[160];
    snprintf(want, sizeof want, "%s/huggingface.co/d/x/resolve/main/a.json?download=true",
             upstream);
    CU_ASSERT_STRING_EQUAL(u, want);
    char *again = download_url(u); /* already rewritten: left alone */
    CU_ASSERT_STRING_EQUAL(again, want);
    free(u);
    free(again);

    setenv("PPR_UPSTREAM", "http://127.0.0.1:8123/", 1);
    u = download_url("https://openaipublic.blob.core.windows.net/a/b.json");
    CU_ASSERT_STRING_EQUAL(u, "http://127.0.0.1:8123/openaipublic.blob.core.windows.net/a/b.json");
    free(u);
    setenv("PPR_UPSTREAM", "", 1);
    u = download_url("https://host.test/p");
    CU_ASSERT_STRING_EQUAL(u, "https://host.test/p");
    free(u);
    unsetenv("PPR_UPSTREAM");
    u = download_url("https://host.test/p");
    CU_ASSERT_STRING_EQUAL(u, "https://host.test/p");
    free(u);
    setenv("PPR_UPSTREAM", upstream, 1);
}

/* ---- download_file ------------------------------------------------------- */

static void test_plain(void)
{
    char got[65];
    uint64_t n = 0;
    ppr_err e = {0};
    CU_ASSERT_EQUAL(fetch("plain", big_hex, BIG, got, &n, &e), PPR_OK);
    CU_ASSERT_STRING_EQUAL(got, big_hex);
    CU_ASSERT_EQUAL(n, BIG);
    check_big("plain");
    CU_ASSERT_EQUAL(requests("/files.test/plain.bin"), 1);
}

/* The server closes half-way through; the second request asks for the rest. */
static void test_cut_resumed(void)
{
    set_faults("{\"/files.test/cut.bin\": {\"cut_after\": 100000}}");
    char got[65];
    ppr_err e = {0};
    CU_ASSERT_EQUAL(fetch("cut", big_hex, BIG, got, NULL, &e), PPR_OK);
    check_big("cut");
    cJSON *s;
    const cJSON *ranges = stat_get(&s, "ranges", "/files.test/cut.bin");
    CU_ASSERT_EQUAL(cJSON_GetArraySize(ranges), 1);
    CU_ASSERT(cJSON_IsString(cJSON_GetArrayItem(ranges, 0)) &&
              strcmp(cJSON_GetArrayItem(ranges, 0)->valuestring, "bytes=100000-") == 0);
    cJSON_Delete(s);
    CU_ASSERT_EQUAL(requests("/files.test/cut.bin"), 2);
}

/* A .part left by an earlier run is resumed; one that the server will not
 * resume (200 to a Range request) is started over; a whole one gets a 416 and is
 * taken as it is. */
static void test_part_left_over(void)
{
    char rel[64];
    ppr_err e = {0};
    snprintf(rel, sizeof rel, "out/part.bin.part");
    CU_ASSERT_EQUAL_FATAL(put_file(rel, big, 5000), 0);
    CU_ASSERT_EQUAL(fetch("part", big_hex, 0, NULL, NULL, &e), PPR_OK);
    check_big("part");
    CU_ASSERT_EQUAL(requests("/files.test/part.bin"), 1);

    set_faults("{\"/files.test/norange.bin\": {\"ignore_range\": true}}");
    unsigned char junk[5000];
    memset(junk, 'j', sizeof junk);
    CU_ASSERT_EQUAL_FATAL(put_file("out/norange.bin.part", junk, sizeof junk), 0);
    CU_ASSERT_EQUAL(fetch("norange", big_hex, BIG, NULL, NULL, &e), PPR_OK);
    check_big("norange");

    CU_ASSERT_EQUAL_FATAL(put_file("out/whole.bin.part", big, BIG), 0);
    CU_ASSERT_EQUAL(fetch("whole", big_hex, 0, NULL, NULL, &e), PPR_OK);
    check_big("whole");
    CU_ASSERT_EQUAL(requests("/files.test/whole.bin"), 1);
}

static void test_bad_checksum(void)
{
    const char *wrong = "0000000000000000000000000000000000000000000000000000000000000000";
    ppr_err e = {0};
    CU_ASSERT_EQUAL(fetch("badsum", wrong, BIG, NULL, NULL, &e), PPR_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "/files.test/badsum.bin'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, wrong));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, big_hex));
    CU_ASSERT_FALSE(file_exists(out("badsum.bin")));
    CU_ASSERT_FALSE(exists_with(out("badsum.bin"), ".part"));
}

static void test_bad_size(void)
{
    ppr_err e = {0};
    CU_ASSERT_EQUAL(fetch("badsize", NULL, BIG + 1, NULL, NULL, &e), PPR_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "200000 bytes, expected 200001"));
    CU_ASSERT_FALSE(exists_with(out("badsize.bin"), ".part"));
    CU_ASSERT_EQUAL(fetch("badsize", NULL, BIG - 1, NULL, NULL, &e), PPR_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "larger than the expected 199999 bytes"));
    CU_ASSERT_FALSE(file_exists(out("badsize.bin")));
    CU_ASSERT_FALSE(exists_with(out("badsize.bin"), ".part"));
}

static void test_retried(void)
{
    set_faults("{\"/files.test/flaky.bin\": {\"fail\": [500, 429]}}");
    ppr_err e = {0};
    CU_ASSERT_EQUAL(fetch("flaky", big_hex, BIG, NULL, NULL, &e), PPR_OK);
    check_big("flaky");
    CU_ASSERT_EQUAL(requests("/files.test/flaky.bin"), 3);
}

static void test_gives_up(void)
{
    set_faults("{\"/files.test/down.bin\": {\"status\": 503}}");
    setenv("PPR_DOWNLOAD_ATTEMPTS", "3", 1);
    ppr_err e = {0};
    CU_ASSERT_EQUAL(fetch("down", big_hex, BIG, NULL, NULL, &e), PPR_EINPUT);
    setenv("PPR_DOWNLOAD_ATTEMPTS", "5", 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "HTTP 503 (3 attempts)"));
    CU_ASSERT_EQUAL(requests("/files.test/down.bin"), 3);
    CU_ASSERT_FALSE(file_exists(out("down.bin")));
    CU_ASSERT_FALSE(exists_with(out("down.bin"), ".part"));
}

static void test_not_found(void)
{
    ppr_err e = {0};
    CU_ASSERT_EQUAL(fetch("absent", NULL, 0, NULL, NULL, &e), PPR_EINPUT);
    char want[160];
    snprintf(want, sizeof want, "HTTP 404 for '%s/files.test/absent.bin'", upstream);
    CU_ASSERT_STRING_EQUAL(e.msg, want);
    CU_ASSERT_EQUAL(requests("/files.test/absent.bin"), 1);
    CU_ASSERT_FALSE(file_exists(out("absent.bin")));
    CU_ASSERT_FALSE(exists_with(out("absent.bin"), ".part"));
}

static void test_redirect(void)
{
    set_faults("{\"/files.test/old.bin\": {\"redirect\": \"/files.test/moved.bin\"}}");
    ppr_err e = {0};
    CU_ASSERT_EQUAL(fetch("old", big_hex, BIG, NULL, NULL, &e), PPR_OK);
    check_big("old");
    CU_ASSERT_EQUAL(requests("/files.test/moved.bin"), 1);
}

/* Nothing listens on a port that was just released: a connection error,
 * retried, then reported. */
static void test_refused(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    CU_ASSERT_EQUAL_FATAL(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    CU_ASSERT_EQUAL_FATAL(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x.bin", ntohs(a.sin_port));
    setenv("PPR_DOWNLOAD_ATTEMPTS", "2", 1);
    ppr_err e = {0};
    CU_ASSERT_EQUAL(download_file(url, out("refused.bin"), NULL, 0, NULL, NULL, &e),
                    PPR_EINPUT);
    setenv("PPR_DOWNLOAD_ATTEMPTS", "5", 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "cannot download"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "(2 attempts)"));
    CU_ASSERT_FALSE(file_exists(out("refused.bin")));
    CU_ASSERT_FALSE(exists_with(out("refused.bin"), ".part"));

    setenv("PPR_DOWNLOAD_ATTEMPTS", "zero", 1);
    CU_ASSERT_EQUAL(download_file(url, out("refused.bin"), NULL, 0, NULL, NULL, &e),
                    PPR_EINPUT);
    setenv("PPR_DOWNLOAD_ATTEMPTS", "5", 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "PPR_DOWNLOAD_ATTEMPTS 'zero'"));
}

/* ---- hfrows_fetch -------------------------------------------------------- */

/* out/name holds the N_ROWS rows as canonical JSON lines. */
static void check_rows(const char *name)
{
    char *data;
    size_t n;
    CU_ASSERT_EQUAL_FATAL(file_read_all(out(name), &data, &n, NULL), PPR_OK);
    /* Row 1 by hand: keys sorted, UTF-8 kept, quote and newline escaped. */
    const char *row1 = "{\"id\":1,\"score\":0.25,\"text\":\"row 1 \xC3\xA9 \\\"q\\\"\\nx\"}\n";
    const char *line = data;
    for (int i = 0; i < N_ROWS && line; i++) {
        cJSON *r = row_make(i);
        char *want = json_canonical(r, NULL);
        CU_ASSERT_EQUAL(strncmp(line, want, strlen(want)), 0);
        if (i == 1)
            CU_ASSERT_STRING_EQUAL(want, row1);
        free(want);
        cJSON_Delete(r);
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    CU_ASSERT(line && *line == '\0'); /* exactly N_ROWS lines */
    free(data);
    CU_ASSERT_FALSE(exists_with(out(name), ".pages"));
}

/* The offsets the server was asked for, as "0,100,200". */
static void check_offsets(const char *dataset, const char *want)
{
    char key[128];
    snprintf(key, sizeof key, ROWS_KEY "%s/default/train", dataset);
    cJSON *s;
    const cJSON *offs = stat_get(&s, "offsets", key);
    char got[128] = "";
    for (const cJSON *o = offs ? offs->child : NULL; o; o = o->next)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%d", *got ? "," : "",
                 o->valueint);
    CU_ASSERT_STRING_EQUAL(got, want);
    cJSON_Delete(s);
}

static void test_rows(void)
{
    ppr_err e = {0};
    CU_ASSERT_EQUAL(hfrows_fetch(API, "Org/set", "default", "train", out("set.jsonl"), &e),
                    PPR_OK);
    check_rows("set.jsonl");
    check_offsets("set", "0,100,200");
}

/* A missing page fails the fetch but keeps the pages before it; once the page
 * is there, only it is fetched. */
static void test_rows_missing_page(void)
{
    set_faults("{\"" ROWS_KEY "gap/default/train\": {\"missing_offset\": 200}}");
    ppr_err e = {0};
    CU_ASSERT_EQUAL(hfrows_fetch(API, "Org/gap", "default", "train", out("gap.jsonl"), &e),
                    PPR_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(e.msg, "dataset 'Org/gap' config 'default' split 'train' offset 200: HTTP 404"));
    CU_ASSERT_FALSE(file_exists(out("gap.jsonl")));
    CU_ASSERT(file_exists(out("gap.jsonl.pages/0.json")));
    CU_ASSERT(file_exists(out("gap.jsonl.pages/100.json")));

    set_faults("{}");
    CU_ASSERT_EQUAL(hfrows_fetch(API, "Org/gap", "default", "train", out("gap.jsonl"), &e),
                    PPR_OK);
    check_rows("gap.jsonl");
    check_offsets("gap", "0,100,200,200");
}

static void test_rows_truncated(void)
{
    set_faults("{\"" ROWS_KEY "cut/default/train\": {\"truncate_row\": 130}}");
    ppr_err e = {0};
    CU_ASSERT_EQUAL(hfrows_fetch(API, "Org/cut", "default", "train", out("cut.jsonl"), &e),
                    PPR_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "dataset 'Org/cut' config 'default' split 'train'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "row 130 has a truncated cell \"text\""));
    CU_ASSERT_FALSE(file_exists(out("cut.jsonl")));
    CU_ASSERT_FALSE(file_exists(out("cut.jsonl.pages/100.json")));
}

/* Pages kept by an earlier run are checked like fetched ones. */
static void test_rows_kept_page_checked(void)
{
    static const struct {
        const char *page, *msg;
    } cases[] = {
        {"{\"features\":[],\"num_rows_total\":250,\"rows\":[{\"row_idx\":0,\"row\":{},"
         "\"truncated_cells\":[]}]}",
         "offset 0: 1 rows, expected 100 of 250 in all"},
        {"{\"features\":[],\"num_rows_total\":1,\"rows\":[{\"row_idx\":7,\"row\":{},"
         "\"truncated_cells\":[]}]}",
         "offset 0: rows[0] is not row 0"},
        {"{\"features\":[],\"num_rows_total\":0,\"rows\":[],\"partial\":true}",
         "offset 0: the API serves only part of this split"},
        {"{\"features\":[],\"rows\":[]}", "field \"num_rows_total\" must be a count"},
        {"{\"rows\":", "malformed JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        CU_ASSERT_EQUAL_FATAL(put_file("out/kept.jsonl.pages/0.json", cases[i].page,
                                       strlen(cases[i].page)),
                              0);
        ppr_err e = {0};
        CU_ASSERT_EQUAL(
            hfrows_fetch(API, "Org/kept", "default", "train", out("kept.jsonl"), &e),
            PPR_EINPUT);
        CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, cases[i].msg));
        CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "kept.jsonl.pages/0.json"));
        CU_ASSERT_FALSE(file_exists(out("kept.jsonl")));
    }
    CU_ASSERT_EQUAL(requests(ROWS_KEY "kept/default/train"), 0);
}

int main(void)
{
    static const test_case cases[] = {
        {"download_url rewriting", test_url},
        {"plain download with pins", test_plain},
        {"cut transfer resumed", test_cut_resumed},
        {"partial file left over", test_part_left_over},
        {"wrong checksum", test_bad_checksum},
        {"wrong size", test_bad_size},
        {"500 and 429 retried", test_retried},
        {"503 until attempts run out", test_gives_up},
        {"404", test_not_found},
        {"redirect", test_redirect},
        {"connection refused", test_refused},
        {"rows paged", test_rows},
        {"rows page missing, then resumed", test_rows_missing_page},
        {"rows truncated cell", test_rows_truncated},
        {"rows kept page checked", test_rows_kept_page_checked},
        {NULL, NULL},
    };
    return test_main("download", suite_init, suite_clean, cases, CU_BRM_NORMAL);
}
