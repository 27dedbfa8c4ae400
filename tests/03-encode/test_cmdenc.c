/* test_cmdenc.c: unit tests of the `command` encoder (stages/03-encode/cmdenc.c)
 * against build/tests/fake_encoder, whose vectors are a documented function of
 * each text's bytes (fake_encoder.c): exact values and byte round trips, runs
 * split by batch, the dimension learned at open, every misbehaviour of the
 * program as a clear error, 50 MB through a slow reader without deadlock,
 * concurrent callers, and no child, fd or SIGPIPE left behind. */
#include <CUnit/Basic.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stages/03-encode/encoder.h"
#include "tests/testlib.h"

#define FAKE "build/tests/fake_encoder"
#define WHAT "test.json: encode"

static int fds_at_start; /* open descriptors before any test */

/* ---- helpers ------------------------------------------------------------- */

static int fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* No child left to reap (running or zombie), no descriptor left open. */
static void assert_clean(void)
{
    int st;
    CU_ASSERT_EQUAL(waitpid(-1, &st, WNOHANG), -1);
    CU_ASSERT_EQUAL(errno, ECHILD);
    CU_ASSERT_EQUAL(fd_count(), fds_at_start);
}

/* {"argv": [FAKE, mode, arg], "dim": dim, "batch": batch}; arg may be NULL. */
static cJSON *cfg_make(const char *mode, const char *arg, double dim, double batch)
{
    cJSON *c = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(c, "argv");
    cJSON_AddItemToArray(a, cJSON_CreateString(FAKE));
    cJSON_AddItemToArray(a, cJSON_CreateString(mode));
    if (arg)
        cJSON_AddItemToArray(a, cJSON_CreateString(arg));
    cJSON_AddNumberToObject(c, "dim", dim);
    cJSON_AddNumberToObject(c, "batch", batch);
    return c;
}

static encoder *open_ok(const char *mode, const char *arg, double dim, double batch)
{
    cJSON *c = cfg_make(mode, arg, dim, batch);
    encoder *enc = NULL;
    ppr_err e = {0};
    int rc = cmdenc_open(&enc, c, WHAT, &e);
    cJSON_Delete(c);
    if (rc)
        fprintf(stderr, "\n  open: %s\n", e.msg);
    CU_ASSERT_EQUAL_FATAL(rc, PPR_OK);
    return enc;
}

/* The fake's vector of text t [len], line k of its run, computed here apart. */
static void expect_vec(const char *t, size_t len, unsigned k, float *v, unsigned dim)
{
    uint32_t h = 2166136261u;
    unsigned a = 0;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (unsigned char)t[i]) * 16777619u;
        a += t[i] == 'a';
    }
    float all[] = {(float)len, (float)a, (float)(h & 0xffffff), (float)k, 4, 5, 6, 7};
    memcpy(v, all, dim * sizeof *v);
}

/* Encode the 4 texts "a", "bb", "ccc", "dddd" with the fake in `mode`; the
 * error must be PPR_EINPUT and contain want. */
static void expect_run_error(const char *mode, const char *arg, double dim, const char *want)
{
    static const char *const texts[] = {"a", "bb", "ccc", "dddd"};
    static const size_t lens[] = {1, 2, 3, 4};
    encoder *enc = open_ok(mode, arg, dim, 16);
    float out[4 * 5];
    ppr_err e = {0};
    CU_ASSERT_EQUAL(enc->encode(enc, texts, lens, 4, out, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, want));
    encoder_free(enc);
    assert_clean();
}

static void expect_open_error(cJSON *c, int code, const char *want)
{
    encoder *enc = (encoder *)1;
    ppr_err e = {0};
    CU_ASSERT_EQUAL(cmdenc_open(&enc, c, WHAT, &e), code);
    CU_ASSERT_PTR_NULL(enc);
    CU_ASSERT(err_has(&e, want));
    cJSON_Delete(c);
    assert_clean();
}

/* ---- tests --------------------------------------------------------------- */

/* Every byte value that needs care comes back exact: newlines, quotes,
 * backslashes, control bytes, NUL, DEL, UTF-8 and invalid UTF-8. */
static void test_values(void)
{
#define T(s) {s, sizeof s - 1}
    static const struct {
        const char *s;
        size_t len;
    } in[] = {
        T("banana"),
        T(""),
        T("line one\nline \"two\"\\ end\r\n"),
        T("\x01\x1f\t\b\f\x7f"),
        T("nul\0inside"),
        T("caf\xc3\xa9 \xe2\x82\xac"),
        T("bad \xff\xfe \xc3 \xed\xa0\x80 utf-8 a"),
        T("{\"text\":\"fake\"}\n"),
    };
#undef T
    enum { n = sizeof in / sizeof *in };
    const char *texts[n];
    size_t lens[n];
    for (size_t i = 0; i < n; i++) {
        texts[i] = in[i].s;
        lens[i] = in[i].len;
    }
    encoder *enc = open_ok("ok", "6", 6, 100);
    CU_ASSERT_STRING_EQUAL(enc->name, "command");
    CU_ASSERT_EQUAL(enc->dim, 6);
    float out[n * 6], want[6];
    ppr_err e = {0};
    CU_ASSERT_EQUAL_FATAL(enc->encode(enc, texts, lens, n, out, &e), PPR_OK);
    for (size_t i = 0; i < n; i++) {
        expect_vec(texts[i], lens[i], (unsigned)i, want, 6);
        CU_ASSERT(memcmp(out + 6 * i, want, sizeof want) == 0);
    }
    /* by hand: "banana" has 6 bytes and 3 a's; line 0; then 4, 5 */
    CU_ASSERT_EQUAL(out[0], 6.0f);
    CU_ASSERT_EQUAL(out[1], 3.0f);
    CU_ASSERT_EQUAL(out[3], 0.0f);
    CU_ASSERT_EQUAL(out[4], 4.0f);
    CU_ASSERT_EQUAL(out[5], 5.0f);
    /* the empty text: FNV-1a's offset basis 0x811c9dc5, low 24 bits */
    CU_ASSERT_EQUAL(out[6 + 2], (float)0x1c9dc5);
    CU_ASSERT_EQUAL(enc->encode(enc, texts, lens, 0, out, &e), PPR_OK);
    encoder_free(enc);
    assert_clean();
}

/* 5 texts at batch 2 are 3 runs: the fake's line number restarts each run. */
static void test_batches(void)
{
    static const char *const texts[] = {"a", "b", "c", "d", "e"};
    static const size_t lens[] = {1, 1, 1, 1, 1};
    encoder *enc = open_ok("ok", "4", 4, 2);
    float out[5 * 4];
    ppr_err e = {0};
    CU_ASSERT_EQUAL_FATAL(enc->encode(enc, texts, lens, 5, out, &e), PPR_OK);
    for (int i = 0; i < 5; i++) {
        CU_ASSERT_EQUAL(out[4 * i + 3], (float)(i % 2));
        CU_ASSERT_EQUAL(out[4 * i + 1], i == 0 ? 1.0f : 0.0f);
    }
    encoder_free(enc);
    assert_clean();
}

/* dim 0: the dimension comes from a run with no input at open. */
static void test_dim_learned(void)
{
    static const char *const texts[] = {"aa"};
    static const size_t lens[] = {2};
    encoder *enc = open_ok("ok", "7", 0, 8);
    CU_ASSERT_EQUAL_FATAL(enc->dim, 7);
    float out[7];
    ppr_err e = {0};
    CU_ASSERT_EQUAL(enc->encode(enc, texts, lens, 1, out, &e), PPR_OK);
    CU_ASSERT_EQUAL(out[0], 2.0f);
    CU_ASSERT_EQUAL(out[1], 2.0f);
    CU_ASSERT_EQUAL(out[6], 6.0f);
    encoder_free(enc);
    assert_clean();
}

static void test_program_errors(void)
{
    expect_run_error("crash-after", "2", 4, "'" FAKE "' was killed by signal 6");
    expect_run_error("exit", "3", 4, "'" FAKE "' exited with status 3");
    expect_run_error("wrong-dim", NULL, 4,
                     "'" FAKE "' announced dimension 5, but '" WHAT "' sets dim 4");
    expect_run_error("wrong-dim", NULL, 0,
                     "'" FAKE "' announced dimension 5, but 4 when started with no input");
    expect_run_error("short", NULL, 4, "'" FAKE "' wrote 3 vectors for 4 texts");
    expect_run_error("extra", NULL, 4, "'" FAKE "' wrote 5 vectors for 4 texts");
    expect_run_error("partial", NULL, 4, "'" FAKE "' wrote 4 vectors and 2 bytes for 4 texts");
    expect_run_error("silent", NULL, 4, "'" FAKE "' wrote 0 bytes, too few for its dimension");
    expect_run_error("nan", NULL, 4,
                     "'" FAKE "' wrote a non-finite value (nan) at vector 0, component 1");
    expect_run_error("ok", "0", 4, "'" FAKE "' announced dimension 0; it must be between 1");
    expect_run_error("ok", "2000000", 4, "announced dimension 2000000; it must be between 1");
}

/* POSIX lets posix_spawn report a program that cannot be executed either by
 * its return value (glibc) or as the child's exit status 127 (glibc under
 * valgrind, whose vfork is a fork): either message names the program. */
static int cannot_start(const ppr_err *e, const char *prog)
{
    char a[256], b[256];
    snprintf(a, sizeof a, "cannot start '%s'", prog);
    snprintf(b, sizeof b, "'%s' exited with status 127", prog);
    return strstr(e->msg, a) || strstr(e->msg, b);
}

static void test_cannot_start(void)
{
    cJSON *c = cJSON_Parse("{\"argv\": [\"/nonexistent/encoder\", \"x\"], \"dim\": 0, "
                           "\"batch\": 4}");
    encoder *enc = (encoder *)1;
    ppr_err e = {0};
    CU_ASSERT_EQUAL(cmdenc_open(&enc, c, WHAT, &e), PPR_EINPUT);
    CU_ASSERT_PTR_NULL(enc);
    CU_ASSERT(cannot_start(&e, "/nonexistent/encoder"));
    cJSON_Delete(c);
    assert_clean();
    c = cJSON_Parse("{\"argv\": [\"no-such-encoder-in-path\"], \"dim\": 3, \"batch\": 4}");
    CU_ASSERT_EQUAL_FATAL(cmdenc_open(&enc, c, WHAT, &e), PPR_OK);
    cJSON_Delete(c);
    const char *t = "x";
    size_t len = 1;
    float out[3];
    CU_ASSERT_EQUAL(enc->encode(enc, &t, &len, 1, out, &e), PPR_EINPUT);
    CU_ASSERT(cannot_start(&e, "no-such-encoder-in-path"));
    encoder_free(enc);
    assert_clean();
}

static void test_config_errors(void)
{
    expect_open_error(cJSON_Parse("{\"dim\": 4, \"batch\": 4}"), PPR_EINPUT,
                      "'" WHAT "': missing field \"argv\"");
    expect_open_error(cJSON_Parse("{\"argv\": \"x\", \"dim\": 4, \"batch\": 4}"), PPR_EINPUT,
                      "\"argv\" must be an array");
    expect_open_error(cJSON_Parse("{\"argv\": [], \"dim\": 4, \"batch\": 4}"), PPR_EINPUT,
                      "\"argv\" must name a program");
    expect_open_error(cJSON_Parse("{\"argv\": [\"x\", 3], \"dim\": 4, \"batch\": 4}"),
                      PPR_EINPUT, "\"argv\" item 1 must be a string");
    expect_open_error(cfg_make("ok", NULL, -1, 4), PPR_EINPUT, "\"dim\" must be between 0");
    expect_open_error(cfg_make("ok", NULL, 2.5, 4), PPR_EINPUT, "\"dim\" must be an integer");
    expect_open_error(cfg_make("ok", NULL, 4, 0), PPR_EINPUT, "\"batch\" must be at least 1");
    expect_open_error(cJSON_Parse("{\"argv\": [\"x\"], \"dim\": 4}"), PPR_EINPUT,
                      "missing field \"batch\"");
}

/* The program's stderr reaches ppr's stderr (here redirected to a file). */
static void test_stderr_passes(void)
{
    char path[] = "/tmp/test_cmdenc_XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    static const char *const texts[] = {"x", "y", "z"};
    static const size_t lens[] = {1, 1, 1};
    encoder *enc = open_ok("stderr", NULL, 4, 8);
    float out[3 * 4];
    ppr_err e = {0};
    int rc = enc->encode(enc, texts, lens, 3, out, &e);
    dup2(saved, 2);
    close(saved);
    CU_ASSERT_EQUAL(rc, PPR_OK);
    char buf[256] = {0};
    CU_ASSERT(pread(fd, buf, sizeof buf - 1, 0) > 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "fake_encoder: 3 texts\n"));
    close(fd);
    unlink(path);
    encoder_free(enc);
    assert_clean();
}

/* 50 MB of texts (50,000 x 1000 bytes) to a reader that sleeps, with 800 KB
 * of vectors coming back as it goes: more than both pipe buffers. */
static void test_large_slow(void)
{
    enum { N = 50000, LEN = 1000 };
    char *data = malloc((size_t)N * LEN);
    const char **texts = malloc(N * sizeof *texts);
    size_t *lens = malloc(N * sizeof *lens);
    float *out = malloc((size_t)N * 4 * sizeof *out);
    CU_ASSERT_FATAL(data && texts && lens && out);
    for (size_t i = 0; i < (size_t)N * LEN; i++)
        data[i] = (char)('a' + (i * 7 + i / LEN) % 26);
    for (int i = 0; i < N; i++) {
        texts[i] = data + (size_t)i * LEN;
        lens[i] = LEN;
    }
    encoder *enc = open_ok("slow-reader", NULL, 4, N);
    ppr_err e = {0};
    CU_ASSERT_EQUAL_FATAL(enc->encode(enc, texts, lens, N, out, &e), PPR_OK);
    int bad = 0;
    float want[4];
    for (int i = 0; i < N; i++) {
        expect_vec(texts[i], LEN, (unsigned)i, want, 4);
        bad += memcmp(out + 4 * i, want, sizeof want) != 0;
    }
    CU_ASSERT_EQUAL(bad, 0);
    encoder_free(enc);
    free(data);
    free(texts);
    free(lens);
    free(out);
    assert_clean();
}

/* The program dies with most of 10 MB unwritten: ppr gets EPIPE, survives
 * SIGPIPE, and leaves neither SIGPIPE blocked nor pending. */
static void test_sigpipe(void)
{
    enum { N = 10000, LEN = 1000 };
    char *data = malloc(LEN);
    const char **texts = malloc(N * sizeof *texts);
    size_t *lens = malloc(N * sizeof *lens);
    float *out = malloc((size_t)N * 4 * sizeof *out);
    CU_ASSERT_FATAL(data && texts && lens && out);
    memset(data, 'q', LEN);
    for (int i = 0; i < N; i++) {
        texts[i] = data;
        lens[i] = LEN;
    }
    encoder *enc = open_ok("crash-after", "1", 4, N);
    ppr_err e = {0};
    CU_ASSERT_EQUAL(enc->encode(enc, texts, lens, N, out, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "was killed by signal 6"));
    sigset_t mask, pending;
    sigprocmask(SIG_BLOCK, NULL, &mask);
    sigpending(&pending);
    CU_ASSERT_FALSE(sigismember(&mask, SIGPIPE));
    CU_ASSERT_FALSE(sigismember(&pending, SIGPIPE));
    encoder_free(enc);
    free(data);
    free(texts);
    free(lens);
    free(out);
    assert_clean();
}

/* Two threads encode at once through one encoder. */
typedef struct {
    encoder *enc;
    const char *const *texts;
    const size_t *lens;
    float *out; /* [n][4] */
    size_t n;
    int rc;
} job;

static void *job_run(void *p)
{
    job *j = p;
    ppr_err e = {0};
    j->rc = j->enc->encode(j->enc, j->texts, j->lens, j->n, j->out, &e);
    return NULL;
}

static void test_threads(void)
{
    enum { N = 3000 };
    static char bufs[N][16];
    const char *texts[N];
    size_t lens[N];
    for (int i = 0; i < N; i++) {
        lens[i] = (size_t)snprintf(bufs[i], sizeof bufs[i], "text %d aa", i);
        texts[i] = bufs[i];
    }
    static float out[N * 4];
    encoder *enc = open_ok("ok", "4", 4, 500);
    job jobs[2] = {{enc, texts, lens, out, N / 2, -1},
                   {enc, texts + N / 2, lens + N / 2, out + N / 2 * 4, N - N / 2, -1}};
    pthread_t th[2];
    for (int t = 0; t < 2; t++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[t], NULL, job_run, &jobs[t]), 0);
    for (int t = 0; t < 2; t++)
        pthread_join(th[t], NULL);
    CU_ASSERT_EQUAL(jobs[0].rc, PPR_OK);
    CU_ASSERT_EQUAL(jobs[1].rc, PPR_OK);
    int bad = 0;
    float want[4];
    for (int i = 0; i < N; i++) {
        expect_vec(texts[i], lens[i], (unsigned)((i % (N / 2)) % 500), want, 4);
        bad += memcmp(out + 4 * i, want, sizeof want) != 0;
    }
    CU_ASSERT_EQUAL(bad, 0);
    encoder_free(enc);
    assert_clean();
}

static int suite_init(void)
{
    if (access(FAKE, X_OK)) {
        fprintf(stderr, "%s: not built (ninja %s)\n", FAKE, FAKE);
        return 1;
    }
    fds_at_start = fd_count();
    return 0;
}

int main(void)
{
    static const test_case cases[] = {
        {"values and byte round trips", test_values},
        {"runs split by batch", test_batches},
        {"dimension learned at open", test_dim_learned},
        {"program misbehaviour", test_program_errors},
        {"program cannot start", test_cannot_start},
        {"config errors", test_config_errors},
        {"stderr passes through", test_stderr_passes},
        {"50 MB to a slow reader", test_large_slow},
        {"SIGPIPE survived", test_sigpipe},
        {"two threads at once", test_threads},
        {NULL, NULL},
    };
    return test_main("cmdenc", suite_init, NULL, cases, CU_BRM_VERBOSE);
}
