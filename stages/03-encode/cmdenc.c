/* cmdenc.c: the `command` encoder, which turns texts into vectors by running a
 * user-given program (an LLM's embedding script, say) under the protocol of
 * docs/encoders.md, section "command": texts go in as JSON lines on stdin,
 * vectors come back as little-endian float32 on stdout, one program run per
 * batch. Anything the program gets wrong is an input error naming it.
 *
 * encode keeps no state between calls (the dimension is fixed at open), so
 * several threads may call it at once: pipes are close-on-exec from birth and
 * SIGPIPE is blocked per thread. */
#include "encoder.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "common/mem.h"

#define CMDENC_MAX_DIM 1000000u /* as the config schema; beyond it, an announcement is garbage */
#define CMDENC_WINDOW 65536     /* bytes of JSON lines prepared per write round */

extern char **environ;

typedef struct {
    encoder base;
    char **argv;      /* [argc + 1], NULL-terminated, owned */
    char *what;       /* the config location, for messages */
    uint32_t cfg_dim; /* 0: base.dim came from the program's run with no input */
    size_t batch;     /* texts per program run */
} cmdenc;

/* ============================ stdin: JSON lines ============================ */

/* The texts of one run, turned into JSON lines a window at a time. */
typedef struct {
    const char *const *texts; /* [n] */
    const size_t *lens;       /* [n] */
    size_t n, next;           /* next: the first text not yet in buf */
    char *buf;                /* [cap] bytes buf[off, len) still to write */
    size_t cap, len, off;
} run_in;

/* Append {"text":"..."}\n for bytes s[0, n). Control bytes, '"' and '\' are
 * escaped; every other byte, including invalid UTF-8, passes through raw, so
 * the program gets the exact bytes back and 0x0A only ends lines. */
static int line_append(run_in *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (n > (SIZE_MAX - w->len - 16) / 6 ||
        mem_grow((void **)&w->buf, &w->cap, w->len + 6 * n + 16, 1))
        return -1;
    char *p = w->buf + w->len;
    memcpy(p, "{\"text\":\"", 9);
    p += 9;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = (char)c;
        } else if (c >= 0x20) {
            *p++ = (char)c;
        } else if (c == '\n' || c == '\t' || c == '\r' || c == '\b' || c == '\f') {
            *p++ = '\\';
            *p++ = c == '\n' ? 'n' : c == '\t' ? 't' : c == '\r' ? 'r' : c == '\b' ? 'b' : 'f';
        } else {
            memcpy(p, "\\u00", 4);
            p[4] = hex[c >> 4];
            p[5] = hex[c & 15];
            p += 6;
        }
    }
    memcpy(p, "\"}\n", 3);
    w->len = (size_t)(p + 3 - w->buf);
    return 0;
}

/* Write what the pipe takes without blocking. *done when every line is written
 * or the program closed its stdin (EPIPE): then its output and exit status
 * say what went wrong, if anything did. */
static int in_write(int fd, run_in *w, const char *prog, int *done, ppr_err *e)
{
    for (;;) {
        if (w->off == w->len) {
            w->off = w->len = 0;
            while (w->next < w->n && w->len < CMDENC_WINDOW) {
                if (line_append(w, w->texts[w->next], w->lens[w->next]))
                    return err_nomem(e);
                w->next++;
            }
            if (w->len == 0) {
                *done = 1;
                return PPR_OK;
            }
        }
        ssize_t k = write(fd, w->buf + w->off, w->len - w->off);
        if (k >= 0) {
            w->off += (size_t)k;
        } else if (errno == EPIPE) {
            *done = 1;
            return PPR_OK;
        } else if (errno == EAGAIN) {
            return PPR_OK;
        } else if (errno != EINTR) {
            return err_set(e, PPR_EINTERNAL, "writing to '%s': %s", prog, strerror(errno));
        }
    }
}

/* ============================ stdout: vectors ============================== */

/* Where the program's output goes: 4 bytes of dimension, then straight into
 * out; bytes beyond out are counted and dropped. */
typedef struct {
    unsigned char head[4];
    char *out;        /* [out_bytes]: the caller's [n][dim] floats, raw */
    size_t out_bytes;
    size_t got;       /* bytes read, head included */
} run_out;

/* Read what the pipe holds without blocking; *eof at end of output. */
static int out_read(int fd, run_out *r, const char *prog, int *eof, ppr_err *e)
{
    char drop[65536];
    for (;;) {
        char *dst = drop;
        size_t room = sizeof drop;
        if (r->got < 4) {
            dst = (char *)r->head + r->got;
            room = 4 - r->got;
        } else if (r->got - 4 < r->out_bytes) {
            dst = r->out + (r->got - 4);
            room = r->out_bytes - (r->got - 4);
        }
        ssize_t k = read(fd, dst, room);
        if (k > 0) {
            r->got += (size_t)k;
        } else if (k == 0) {
            *eof = 1;
            return PPR_OK;
        } else if (errno == EAGAIN) {
            return PPR_OK;
        } else if (errno != EINTR) {
            return err_set(e, PPR_EINTERNAL, "reading from '%s': %s", prog, strerror(errno));
        }
    }
}

static uint32_t le32_load(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* ================================ one run ================================== */

/* Start the program with stdin and stdout on non-blocking pipes (parent ends).
 * The child gets the caller's signal mask and SIGPIPE's default action back,
 * whatever ppr does with SIGPIPE itself. */
static int child_start(const cmdenc *c, const sigset_t *mask, pid_t *pid, int *in_fd,
                       int *out_fd, ppr_err *e)
{
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC))
        return err_set(e, PPR_EINTERNAL, "pipe: %s", strerror(errno));
    if (pipe2(out, O_CLOEXEC)) {
        int rc = err_set(e, PPR_EINTERNAL, "pipe: %s", strerror(errno));
        close(in[0]);
        close(in[1]);
        return rc;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t def;
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    int en = posix_spawn_file_actions_init(&fa); /* an errno value, 0 when fine */
    if (!en) {
        en = posix_spawnattr_init(&at);
        if (en)
            posix_spawn_file_actions_destroy(&fa);
    }
    if (!en) {
        if (!(en = posix_spawn_file_actions_adddup2(&fa, in[0], 0)) &&
            !(en = posix_spawn_file_actions_adddup2(&fa, out[1], 1)) &&
            !(en = posix_spawnattr_setsigmask(&at, mask)) &&
            !(en = posix_spawnattr_setsigdefault(&at, &def)) &&
            !(en = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)))
            en = posix_spawnp(pid, c->argv[0], &fa, &at, c->argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&at);
    }
    close(in[0]);
    close(out[1]);
    int rc = PPR_OK;
    if (en) {
        rc = err_set(e, PPR_EINPUT, "cannot start '%s': %s", c->argv[0], strerror(en));
    } else if (fcntl(in[1], F_SETFL, O_NONBLOCK) || fcntl(out[0], F_SETFL, O_NONBLOCK)) {
        rc = err_set(e, PPR_EINTERNAL, "fcntl: %s", strerror(errno));
        kill(*pid, SIGKILL);
        while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    if (rc) {
        close(in[1]);
        close(out[0]);
        return rc;
    }
    *in_fd = in[1];
    *out_fd = out[0];
    return PPR_OK;
}

/* Feed stdin and drain stdout together until both are done, so neither side
 * can fill a pipe and wait on the other. */
static int child_talk(const cmdenc *c, int in_fd, int out_fd, run_in *w, run_out *r,
                      ppr_err *e)
{
    int rc = PPR_OK;
    while (rc == PPR_OK && (in_fd >= 0 || out_fd >= 0)) {
        struct pollfd p[2];
        nfds_t np = 0;
        if (in_fd >= 0)
            p[np++] = (struct pollfd){.fd = in_fd, .events = POLLOUT};
        if (out_fd >= 0)
            p[np++] = (struct pollfd){.fd = out_fd, .events = POLLIN};
        if (poll(p, np, -1) < 0) {
            if (errno != EINTR)
                rc = err_set(e, PPR_EINTERNAL, "poll: %s", strerror(errno));
            continue;
        }
        for (nfds_t i = 0; i < np && rc == PPR_OK; i++) {
            if (!p[i].revents)
                continue;
            int fin = 0;
            if (p[i].fd == in_fd) {
                rc = in_write(in_fd, w, c->argv[0], &fin, e);
                if (fin) {
                    close(in_fd);
                    in_fd = -1;
                }
            } else {
                rc = out_read(out_fd, r, c->argv[0], &fin, e);
                if (fin) {
                    close(out_fd);
                    out_fd = -1;
                }
            }
        }
    }
    if (in_fd >= 0)
        close(in_fd);
    if (out_fd >= 0)
        close(out_fd);
    return rc;
}

/* Judge a finished run: exit status first (a crash explains everything after
 * it), then the dimension against want (0: anything), then the byte count,
 * then the values, converted in place from little-endian. */
static int run_check(const cmdenc *c, int status, const run_out *r, size_t n, uint32_t want,
                     uint32_t *dim, ppr_err *e)
{
    const char *prog = c->argv[0];
    if (WIFSIGNALED(status))
        return err_set(e, PPR_EINPUT, "'%s' was killed by signal %d", prog, WTERMSIG(status));
    if (WEXITSTATUS(status))
        return err_set(e, PPR_EINPUT, "'%s' exited with status %d", prog, WEXITSTATUS(status));
    if (r->got < 4)
        return err_set(e, PPR_EINPUT,
                       "'%s' wrote %zu bytes, too few for its dimension (a little-endian "
                       "uint32 first)",
                       prog, r->got);
    uint32_t d = le32_load(r->head);
    if (d < 1 || d > CMDENC_MAX_DIM)
        return err_set(e, PPR_EINPUT, "'%s' announced dimension %u; it must be between 1 and %u",
                       prog, d, CMDENC_MAX_DIM);
    if (want && d != want && c->cfg_dim)
        return err_set(e, PPR_EINPUT, "'%s' announced dimension %u, but '%s' sets dim %u", prog,
                       d, c->what, want);
    if (want && d != want)
        return err_set(e, PPR_EINPUT,
                       "'%s' announced dimension %u, but %u when started with no input", prog,
                       d, want);
    size_t vec = (size_t)d * sizeof(float), body = r->got - 4;
    if (body % vec)
        return err_set(e, PPR_EINPUT, "'%s' wrote %zu vectors and %zu bytes for %zu texts", prog,
                       body / vec, body % vec, n);
    if (body / vec != n)
        return err_set(e, PPR_EINPUT, "'%s' wrote %zu vectors for %zu texts", prog, body / vec, n);
    for (size_t i = 0; i < body / sizeof(float); i++) {
        uint32_t u = le32_load((const unsigned char *)r->out + 4 * i);
        float x;
        memcpy(&x, &u, sizeof x);
        if (!isfinite(x))
            return err_set(e, PPR_EINPUT,
                           "'%s' wrote a non-finite value (%s) at vector %zu, component %zu",
                           prog, isnan(x) ? "nan" : "inf", i / d, i % d);
        memcpy(r->out + 4 * i, &x, sizeof x);
    }
    if (dim)
        *dim = d;
    return PPR_OK;
}

/* Run the program once on texts [n] into out [n][want]. want 0 (with n 0)
 * accepts any dimension and stores it in *dim, which may otherwise be NULL.
 * SIGPIPE stays blocked in this thread for the run, and one the run raised is
 * taken before the mask is restored. */
static int cmdenc_run(const cmdenc *c, const char *const *texts, const size_t *lens, size_t n,
                      float *out, uint32_t want, uint32_t *dim, ppr_err *e)
{
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);

    pid_t pid = -1;
    int in_fd = -1, out_fd = -1;
    int rc = child_start(c, &old, &pid, &in_fd, &out_fd, e);
    if (rc == PPR_OK) {
        run_in w = {.texts = texts, .lens = lens, .n = n};
        run_out r = {.out = (char *)out, .out_bytes = n * want * sizeof(float)};
        rc = child_talk(c, in_fd, out_fd, &w, &r, e);
        free(w.buf);
        if (rc != PPR_OK)
            kill(pid, SIGKILL);
        int status = 0;
        pid_t got;
        while ((got = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
            ;
        if (rc == PPR_OK && got < 0)
            rc = err_set(e, PPR_EINTERNAL, "waiting for '%s': %s", c->argv[0], strerror(errno));
        if (rc == PPR_OK)
            rc = run_check(c, status, &r, n, want, dim, e);
    }

    sigpending(&pending);
    if (!was_pending && sigismember(&pending, SIGPIPE))
        sigtimedwait(&pipe_set, NULL, &(struct timespec){0});
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* ============================== the encoder ================================ */

static int cmdenc_encode(encoder *enc, const char *const *texts, const size_t *lens, size_t n,
                         float *out, ppr_err *e)
{
    const cmdenc *c = (const cmdenc *)enc;
    for (size_t at = 0; at < n; at += c->batch) {
        size_t m = n - at < c->batch ? n - at : c->batch;
        int rc = cmdenc_run(c, texts + at, lens + at, m, out + at * enc->dim, enc->dim, NULL, e);
        if (rc)
            return rc;
    }
    return PPR_OK;
}

static void cmdenc_free(encoder *enc)
{
    cmdenc *c = (cmdenc *)enc;
    if (!c)
        return;
    for (char **a = c->argv; a && *a; a++)
        free(*a);
    free(c->argv);
    free(c->what);
    free(c);
}

/* argv: a non-empty array of strings, copied NULL-terminated. */
static int argv_copy(cmdenc *c, const cJSON *cfg, const char *what, ppr_err *e)
{
    const cJSON *a = json_get_arr(cfg, "argv", what, e);
    if (!a)
        return PPR_EINPUT;
    int argc = cJSON_GetArraySize(a);
    if (argc < 1)
        return err_set(e, PPR_EINPUT, "'%s': field \"argv\" must name a program", what);
    c->argv = calloc((size_t)argc + 1, sizeof *c->argv);
    if (!c->argv)
        return err_nomem(e);
    int i = 0;
    for (const cJSON *s = a->child; s; s = s->next, i++) {
        if (!cJSON_IsString(s))
            return err_set(e, PPR_EINPUT, "'%s': \"argv\" item %d must be a string", what, i);
        if (!(c->argv[i] = strdup(s->valuestring)))
            return err_nomem(e);
    }
    return PPR_OK;
}

int cmdenc_open(encoder **enc, const cJSON *cfg, const char *what, ppr_err *e)
{
    *enc = NULL;
    cmdenc *c = calloc(1, sizeof *c);
    if (!c)
        return err_nomem(e);
    c->base.name = "command";
    c->base.encode = cmdenc_encode;
    c->base.free = cmdenc_free;
    int64_t dim = 0, batch = 0;
    int rc = argv_copy(c, cfg, what, e);
    if (!rc && !(c->what = strdup(what)))
        rc = err_nomem(e);
    if (!rc)
        rc = json_get_int(cfg, "dim", what, &dim, e);
    if (!rc && (dim < 0 || dim > CMDENC_MAX_DIM))
        rc = err_set(e, PPR_EINPUT, "'%s': field \"dim\" must be between 0 and %u", what,
                     CMDENC_MAX_DIM);
    if (!rc)
        rc = json_get_int(cfg, "batch", what, &batch, e);
    if (!rc && batch < 1)
        rc = err_set(e, PPR_EINPUT, "'%s': field \"batch\" must be at least 1", what);
    if (!rc) {
        c->cfg_dim = c->base.dim = (uint32_t)dim;
        c->batch = (size_t)batch;
        if (!dim)
            rc = cmdenc_run(c, NULL, NULL, 0, NULL, 0, &c->base.dim, e);
    }
    if (rc) {
        cmdenc_free(&c->base);
        return rc;
    }
    *enc = &c->base;
    return PPR_OK;
}
