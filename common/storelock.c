/* storelock.c: flock(2) locks beside the store, and who holds them. */
#include "storelock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fsutil.h"

/* The command line of pid, NULs turned to spaces, into out[n]. */
static void cmdline_of(long pid, char *out, size_t n)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
    snprintf(out, n, "?");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t got = read(fd, out, n - 1);
    close(fd);
    if (got <= 0) {
        snprintf(out, n, "?");
        return;
    }
    out[got] = '\0';
    for (ssize_t i = 0; i < got - 1; i++)
        if (out[i] == '\0')
            out[i] = ' ';
}

/* "pid 12 (cmd), pid 34 (cmd)" for the flock holders of path, from
 * /proc/locks (whose device is major:minor in hex); "" when none is found. */
static void holders_of(const char *path, char *out, size_t n)
{
    out[0] = '\0';
    struct stat st;
    FILE *f = stat(path, &st) == 0 ? fopen("/proc/locks", "re") : NULL;
    if (!f)
        return;
    char line[256], cmd[160];
    size_t at = 0;
    while (at < n && fgets(line, sizeof line, f)) {
        char kind[16];
        long pid;
        unsigned maj, min;
        unsigned long ino;
        if (strstr(line, "->") || /* a waiter, not a holder */
            sscanf(line, "%*d: %15s %*s %*s %ld %x:%x:%lu", kind, &pid, &maj, &min, &ino) != 5 ||
            strcmp(kind, "FLOCK") != 0 || ino != (unsigned long)st.st_ino ||
            maj != major(st.st_dev) || min != minor(st.st_dev) || pid == (long)getpid())
            continue;
        cmdline_of(pid, cmd, sizeof cmd);
        at += (size_t)snprintf(out + at, n - at, "%spid %ld (%s)", at ? ", " : "", pid, cmd);
    }
    fclose(f);
}

static int lock_open(storelock *l, const store *s, const char *name, ppr_err *e)
{
    l->fd = -1;
    char *rel = path_join(STORELOCK_DIR, name);
    l->path = rel ? path_join(s->root, rel) : NULL;
    free(rel);
    if (!l->path)
        return err_nomem(e);
    char *slash = strrchr(l->path, '/');
    *slash = '\0';
    int rc = dir_make(l->path, e);
    *slash = '/';
    if (rc == PPR_OK && (l->fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
        rc = err_set(e, PPR_EINPUT, "cannot open the lock '%s': %s", l->path, strerror(errno));
    if (rc)
        storelock_release(l);
    return rc;
}

static int op_of(int mode)
{
    return mode == STORELOCK_EXCLUSIVE ? LOCK_EX : LOCK_SH;
}

/* flock, first without waiting; when that fails, say who holds it, then wait. */
static int lock_wait(storelock *l, int mode, const char *who, ppr_err *e)
{
    if (flock(l->fd, op_of(mode) | LOCK_NB) == 0)
        return PPR_OK;
    if (errno != EWOULDBLOCK)
        return err_set(e, PPR_EINPUT, "cannot lock '%s': %s", l->path, strerror(errno));
    if (who) {
        char held[512];
        holders_of(l->path, held, sizeof held);
        fprintf(stderr, "%s: waiting for '%s', held by %s\n", who, l->path,
                held[0] ? held : "another process");
    }
    while (flock(l->fd, op_of(mode)) != 0)
        if (errno != EINTR)
            return err_set(e, PPR_EINPUT, "cannot lock '%s': %s", l->path, strerror(errno));
    return PPR_OK;
}

int storelock_take(storelock *l, const store *s, const char *name, int mode, const char *who,
                   ppr_err *e)
{
    int rc = lock_open(l, s, name, e);
    if (rc == PPR_OK && (rc = lock_wait(l, mode, who, e)))
        storelock_release(l);
    return rc;
}

int storelock_try(storelock *l, const store *s, const char *name, int mode, int *got,
                  ppr_err *e)
{
    *got = 0;
    int rc = lock_open(l, s, name, e);
    if (rc)
        return rc;
    if (flock(l->fd, op_of(mode) | LOCK_NB) == 0) {
        *got = 1;
        return PPR_OK;
    }
    rc = errno == EWOULDBLOCK ? PPR_OK
                              : err_set(e, PPR_EINPUT, "cannot lock '%s': %s", l->path,
                                        strerror(errno));
    storelock_release(l);
    return rc;
}

int storelock_convert(storelock *l, int mode, const char *who, ppr_err *e)
{
    return lock_wait(l, mode, who, e);
}

void storelock_release(storelock *l)
{
    if (!l)
        return;
    if (l->path && l->fd >= 0) /* a zeroed lock has fd 0 but no path */
        close(l->fd);
    free(l->path);
    l->fd = -1;
    l->path = NULL;
}

int storelock_open(store *s, storelock *l, int mode, const char *who, ppr_err *e)
{
    l->fd = -1;
    l->path = NULL;
    int rc = store_init(s, NULL, e);
    if (rc == PPR_OK && (rc = storelock_take(l, s, "store", mode, who, e)))
        store_release(s);
    return rc;
}

void storelock_close(store *s, storelock *l)
{
    storelock_release(l);
    store_release(s);
}
