/* download.c: one libcurl request loop with the retry policy of download.h,
 * shared by file and in-memory downloads; the file path adds resume through a
 * ".part" file, the size and SHA-256 pins and the atomic rename. */
#include "download.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "progress.h"
#include "sha256.h"

#define CONNECT_TIMEOUT_S 30L
#define LOW_SPEED_BYTES 1024L /* a transfer slower than this many bytes/s ... */
#define LOW_SPEED_TIME_S 60L  /* ... for this long has timed out */
#define MAX_REDIRECTS 10L
#define MAX_DELAY_MS 60000L /* the longest wait between attempts */

int download_global_init(ppr_err *e)
{
    CURLcode c = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (c != CURLE_OK)
        return err_set(e, PPR_EINTERNAL, "cannot initialize libcurl: %s",
                       curl_easy_strerror(c));
    return PPR_OK;
}

void download_global_release(void)
{
    curl_global_cleanup();
}

char *download_url(const char *upstream)
{
    static const char https[] = "https://";
    const char *base = getenv("PPR_UPSTREAM");
    if (!base || !*base || strncasecmp(upstream, https, sizeof https - 1) != 0)
        return strdup(upstream);
    size_t nb = strlen(base);
    while (nb > 0 && base[nb - 1] == '/')
        nb--;
    const char *rest = upstream + sizeof https - 1;
    size_t n = nb + strlen(rest) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%.*s/%s", (int)nb, base, rest);
    return s;
}

/* One request's state, shared with libcurl's callbacks. The sink is a file
 * appended to (fd >= 0; O_APPEND, so truncating it restarts the writes at 0) or
 * a buffer. */
typedef struct {
    CURL *curl;
    const char *url;
    int fd;
    const char *path; /* the file's name, for messages */
    strbuf *mem;
    uint64_t want_bytes; /* 0: unknown */
    progress *prog;      /* NULL: quiet */
    uint64_t have;       /* bytes in the sink */
    ppr_err *e;

    /* The response being received (a redirect starts a new one). */
    long status;
    int has_location;
    int64_t length;                   /* Content-Length; -1: absent */
    int64_t range_start, range_total; /* Content-Range; -1: absent or "*" */
    long retry_after_s;               /* -1: absent */

    /* Why a callback stopped the transfer. */
    int failed;    /* a fatal error, already in *e */
    int oversize;  /* more bytes than want_bytes arrived */
    int bad_range; /* a 206 that does not continue the file */
    int restarted; /* the file was emptied to start over */
} transfer;

/* What one attempt came to. */
enum { ATTEMPT_DONE, ATTEMPT_RETRY, ATTEMPT_FAIL };

static int sink_truncate(transfer *t)
{
    if (t->fd >= 0 && ftruncate(t->fd, 0) != 0) {
        t->failed = 1;
        return err_set(t->e, PPR_EINPUT, "cannot truncate '%s': %s", t->path,
                       strerror(errno));
    }
    t->have = 0;
    t->restarted = 1;
    return PPR_OK;
}

/* The value of header line (len bytes, not NUL-terminated) if it is `name`,
 * copied NUL-terminated into val; 0 when it is not that header. */
static int header_value(const char *line, size_t len, const char *name, char *val,
                        size_t val_n)
{
    size_t k = strlen(name);
    if (len <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return 0;
    const char *v = line + k + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    size_t n = (size_t)(end - v) < val_n - 1 ? (size_t)(end - v) : val_n - 1;
    memcpy(val, v, n);
    val[n] = '\0';
    return 1;
}

/* "bytes 100-199/200"; an asterisk stands for an unknown start or total. */
static void parse_content_range(transfer *t, const char *v)
{
    if (strncasecmp(v, "bytes ", 6) != 0)
        return;
    v += 6;
    if (*v != '*')
        t->range_start = strtoll(v, NULL, 10);
    const char *slash = strchr(v, '/');
    if (slash && slash[1] != '*')
        t->range_total = strtoll(slash + 1, NULL, 10);
}

/* The headers of the response whose body follows are complete. */
static int response_begin(transfer *t)
{
    if (t->status == 200 && t->have > 0) {
        /* The server ignored the Range request: start over. */
        if (sink_truncate(t))
            return -1;
    } else if (t->status == 206 && t->range_start != (int64_t)t->have) {
        t->bad_range = 1;
        sink_truncate(t);
        return -1;
    }
    if (t->prog && t->status >= 200 && t->status < 300 && t->length >= 0)
        t->prog->total = t->prog->done + (uint64_t)t->length;
    return 0;
}

static size_t on_header(char *line, size_t size, size_t n, void *arg)
{
    transfer *t = arg;
    size_t len = size * n;
    char val[128];
    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        const char *sp = memchr(line, ' ', len);
        t->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        t->has_location = 0;
        t->length = t->range_start = t->range_total = -1;
        t->retry_after_s = -1;
    } else if (line[0] == '\r' || line[0] == '\n') {
        int redirect = t->status >= 300 && t->status < 400 && t->has_location;
        if (t->status >= 200 && !redirect && response_begin(t))
            return 0;
    } else if (header_value(line, len, "content-length", val, sizeof val)) {
        t->length = strtoll(val, NULL, 10);
    } else if (header_value(line, len, "content-range", val, sizeof val)) {
        parse_content_range(t, val);
    } else if (header_value(line, len, "retry-after", val, sizeof val)) {
        t->retry_after_s = strtol(val, NULL, 10);
    } else if (header_value(line, len, "location", val, sizeof val)) {
        t->has_location = 1;
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    transfer *t = arg;
    size_t len = size * n;
    if (t->status < 200 || t->status > 299)
        return len; /* an error page: the status says enough */
    if (t->want_bytes && t->have + len > t->want_bytes) {
        t->oversize = 1;
        return 0;
    }
    if (t->fd >= 0 && fd_write_full(t->fd, data, len) != 0) {
        t->failed = 1;
        err_set(t->e, PPR_EINPUT, "cannot write '%s': %s", t->path, strerror(errno));
        return 0;
    }
    if (t->mem) {
        strbuf_add(t->mem, data, len);
        if (t->mem->failed) {
            t->failed = 1;
            err_nomem(t->e);
            return 0;
        }
    }
    t->have += len;
    if (t->prog)
        progress_add(t->prog, len);
    return len;
}

static int curl_retryable(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

/* One request; on ATTEMPT_RETRY why says what went wrong, on ATTEMPT_FAIL *e. */
static int transfer_attempt(transfer *t, char *why, size_t why_n)
{
    char errbuf[CURL_ERROR_SIZE] = "", range[32];
    t->status = 0;
    t->failed = t->oversize = t->bad_range = 0;
    t->retry_after_s = -1;
    if (t->mem) {
        strbuf_release(t->mem);
        t->have = 0;
    }
    snprintf(range, sizeof range, "%" PRIu64 "-", t->have);
    curl_easy_setopt(t->curl, CURLOPT_RANGE, t->have > 0 ? range : NULL);
    curl_easy_setopt(t->curl, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode cc = curl_easy_perform(t->curl);
    if (t->failed)
        return ATTEMPT_FAIL;
    if (t->oversize) {
        err_set(t->e, PPR_EINPUT, "'%s' is larger than the expected %" PRIu64 " bytes",
                t->url, t->want_bytes);
        return ATTEMPT_FAIL;
    }
    if (t->bad_range) {
        snprintf(why, why_n, "a Content-Range that does not continue the partial file");
        return ATTEMPT_RETRY;
    }
    if (cc != CURLE_OK) {
        snprintf(why, why_n, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
        if (curl_retryable(cc))
            return ATTEMPT_RETRY;
        err_set(t->e, PPR_EINPUT, "cannot download '%s': %s", t->url, why);
        return ATTEMPT_FAIL;
    }
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300)
        return ATTEMPT_DONE;
    if (status == 416 && t->have > 0) {
        if (t->range_total == (int64_t)t->have)
            return ATTEMPT_DONE; /* the partial file was already whole */
        snprintf(why, why_n, "HTTP 416 for the rest of a partial file");
        return sink_truncate(t) ? ATTEMPT_FAIL : ATTEMPT_RETRY;
    }
    snprintf(why, why_n, "HTTP %ld", status);
    if (status == 429 || (status >= 500 && status < 600))
        return ATTEMPT_RETRY;
    err_set(t->e, PPR_EINPUT, "HTTP %ld for '%s'", status, t->url);
    return ATTEMPT_FAIL;
}

static int env_long(const char *name, long dflt, long min, long *out, ppr_err *e)
{
    const char *s = getenv(name);
    *out = dflt;
    if (!s || !*s)
        return PPR_OK;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > 1000000000L)
        return err_set(e, PPR_EINPUT, "%s '%s' must be an integer of at least %ld", name,
                       s, min);
    *out = v;
    return PPR_OK;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Run t's request until it succeeds, fails for good, or runs out of attempts.
 * *requests (if not NULL) counts the requests made. */
static int transfer_run(transfer *t, int *requests, ppr_err *e)
{
    long attempts, backoff_ms;
    if (env_long("PPR_DOWNLOAD_ATTEMPTS", 5, 1, &attempts, e) ||
        env_long("PPR_DOWNLOAD_BACKOFF_MS", 500, 0, &backoff_ms, e))
        return e ? e->code : PPR_EINPUT;
    t->e = e;
    if (!(t->curl = curl_easy_init()))
        return err_set(e, PPR_EINTERNAL, "cannot start a libcurl transfer");
    CURL *c = t->curl;
    curl_easy_setopt(c, CURLOPT_URL, t->url);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, MAX_REDIRECTS);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, LOW_SPEED_BYTES);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, LOW_SPEED_TIME_S);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ppr (libcurl)");
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, t);

    uint64_t high = t->have; /* the most bytes the file ever held */
    long failures = 0, delay_ms = backoff_ms;
    int n = 0, rc = PPR_OK;
    char why[CURL_ERROR_SIZE + 64];
    for (;;) {
        int r = transfer_attempt(t, why, sizeof why);
        n++;
        if (r == ATTEMPT_DONE)
            break;
        if (r == ATTEMPT_FAIL) {
            rc = e ? e->code : PPR_EINPUT;
            break;
        }
        if (t->fd >= 0 && t->have > high) {
            high = t->have;
            failures = 0;
            delay_ms = backoff_ms;
        }
        if (++failures >= attempts) {
            rc = err_set(e, PPR_EINPUT, "cannot download '%s': %s (%d attempts)", t->url,
                         why, n);
            break;
        }
        long wait_ms = delay_ms;
        if (t->retry_after_s >= MAX_DELAY_MS / 1000)
            wait_ms = MAX_DELAY_MS;
        else if (t->retry_after_s * 1000 > wait_ms)
            wait_ms = t->retry_after_s * 1000;
        sleep_ms(wait_ms < MAX_DELAY_MS ? wait_ms : MAX_DELAY_MS);
        delay_ms = delay_ms < MAX_DELAY_MS / 2 ? delay_ms * 2 : MAX_DELAY_MS;
    }
    curl_easy_cleanup(c);
    t->curl = NULL;
    if (requests)
        *requests = n;
    return rc;
}

int download_buffer(const char *url, strbuf *out, ppr_err *e)
{
    transfer t = {.url = url, .fd = -1, .mem = out};
    return transfer_run(&t, NULL, e);
}

/* The .part of a file: a fixed name beside dest, so that a later run finds it
 * and resumes; once checked it is committed like a staged_file. */
int download_file(const char *url, const char *dest, const char *want_sha256,
                  uint64_t want_bytes, char got_sha256[65], uint64_t *got_bytes,
                  ppr_err *e)
{
    unsigned char want[SHA256_LEN], got[SHA256_LEN];
    if (want_sha256 && sha256_parse(want_sha256, want) != 0)
        return err_set(e, PPR_EINPUT, "expected SHA-256 '%s' of '%s' is not 64 hex digits",
                       want_sha256, url);
    staged_file part = {.path = malloc(strlen(dest) + 6), .fd = -1};
    if (!part.path)
        return err_nomem(e);
    sprintf(part.path, "%s.part", dest);
    part.fd = open(part.path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (part.fd < 0) {
        int rc = err_set(e, PPR_EINPUT, "cannot open '%s': %s", part.path, strerror(errno));
        free(part.path);
        return rc;
    }
    if (flock(part.fd, LOCK_EX | LOCK_NB) != 0) {
        int rc = err_set(e, PPR_EINPUT, "'%s' is being downloaded by another process",
                         part.path);
        close(part.fd);
        free(part.path);
        return rc;
    }

    int rc = PPR_OK, requests = 0, drop = 0;
    struct stat st;
    uint64_t resumed = 0;
    if (fstat(part.fd, &st) != 0)
        rc = err_set(e, PPR_EINPUT, "cannot stat '%s': %s", part.path, strerror(errno));
    else
        resumed = (uint64_t)st.st_size;
    if (rc == PPR_OK && want_bytes && resumed > want_bytes) {
        if (ftruncate(part.fd, 0) != 0)
            rc = err_set(e, PPR_EINPUT, "cannot truncate '%s': %s", part.path,
                         strerror(errno));
        resumed = 0;
    }

    char label[320];
    snprintf(label, sizeof label, "download '%.300s'", url);
    progress prog;
    progress_init(&prog, label, want_bytes > resumed ? want_bytes - resumed : 0);
    transfer t = {.url = url, .fd = part.fd, .path = part.path, .want_bytes = want_bytes,
                  .prog = &prog, .have = resumed};
    /* A .part of the pinned size needs no request: the checks below decide. */
    if (rc == PPR_OK && !(want_bytes && resumed == want_bytes)) {
        rc = transfer_run(&t, &requests, e);
        drop = t.oversize;
    }

    uint64_t size = 0;
    if (rc == PPR_OK)
        rc = sha256_file(part.path, got, &size, e);
    char got_hex[SHA256_HEX_LEN + 1] = "";
    if (rc == PPR_OK) {
        sha256_hex(got, got_hex);
        if (want_bytes && size != want_bytes)
            rc = err_set(e, PPR_EINPUT, "'%s' is %" PRIu64 " bytes, expected %" PRIu64, url,
                         size, want_bytes);
        else if (want_sha256 && memcmp(got, want, SHA256_LEN) != 0)
            rc = err_set(e, PPR_EINPUT, "'%s' has SHA-256 %s, expected %s", url, got_hex,
                         want_sha256);
        drop = rc != PPR_OK;
    }
    if (rc != PPR_OK) {
        if (drop || (fstat(part.fd, &st) == 0 && st.st_size == 0))
            unlink(part.path);
        close(part.fd);
        free(part.path);
        return rc;
    }
    if ((rc = staged_commit(&part, dest, e))) /* fsync, rename, fsync the directory */
        return rc;
    if (got_sha256)
        memcpy(got_sha256, got_hex, sizeof got_hex);
    if (got_bytes)
        *got_bytes = size;
    char extra[96];
    int k = snprintf(extra, sizeof extra, ", %d request%s", requests,
                     requests == 1 ? "" : "s");
    if (resumed && t.restarted)
        snprintf(extra + k, sizeof extra - (size_t)k, ", started over");
    else if (resumed)
        snprintf(extra + k, sizeof extra - (size_t)k, ", resumed at byte %" PRIu64, resumed);
    progress_done(&prog, "bytes", extra);
    return PPR_OK;
}
