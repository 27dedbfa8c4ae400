/* fsutil.c: file helpers every stage uses; all writes go through one atomic path. */
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int file_read_all(const char *path, char **data, size_t *n, ppr_err *e)
{
    *data = NULL;
    *n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(e, PPR_EINPUT, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(e, PPR_EINPUT, "'%s' is not a regular file", path);
    }
    size_t cap = (size_t)st.st_size;
    char *buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        return err_nomem(e);
    }
    size_t got = 0;
    while (got < cap) {
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != cap) {
        free(buf);
        return err_set(e, PPR_EINPUT, "cannot read '%s': short read", path);
    }
    buf[got] = '\0';
    *data = buf;
    *n = got;
    return PPR_OK;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

int dir_sync(const char *dir, ppr_err *e)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return err_set(e, PPR_EINPUT, "cannot open directory '%s': %s", dir,
                       strerror(errno));
    int rc = fsync(fd);
    close(fd);
    if (rc != 0)
        return err_set(e, PPR_EINPUT, "cannot sync directory '%s': %s", dir,
                       strerror(errno));
    return PPR_OK;
}

int fd_write_full(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int staged_open(staged_file *t, const char *final, ppr_err *e)
{
    size_t n = strlen(final) + 16;
    t->fd = -1;
    if (!(t->path = malloc(n)))
        return err_nomem(e);
    snprintf(t->path, n, "%s.tmpXXXXXX", final);
    t->fd = mkstemp(t->path);
    if (t->fd < 0 || fchmod(t->fd, 0644) != 0) {
        int rc = err_set(e, PPR_EINPUT, "cannot create a file beside '%s': %s", final,
                         strerror(errno));
        staged_discard(t);
        return rc;
    }
    return PPR_OK;
}

void staged_discard(staged_file *t)
{
    if (!t->path)
        return;
    if (t->fd >= 0) {
        close(t->fd);
        unlink(t->path);
    }
    free(t->path);
    t->path = NULL;
    t->fd = -1;
}

int staged_commit(staged_file *t, const char *final, ppr_err *e)
{
    int rc = PPR_OK;
    if (fsync(t->fd) != 0 || close(t->fd) != 0)
        rc = err_set(e, PPR_EINPUT, "cannot write '%s': %s", final, strerror(errno));
    t->fd = -1;
    if (rc == PPR_OK && rename(t->path, final) != 0)
        rc = err_set(e, PPR_EINPUT, "cannot write '%s': %s", final, strerror(errno));
    if (rc)
        unlink(t->path);
    free(t->path);
    t->path = NULL;
    if (rc)
        return rc;
    char *dir = dir_of(final);
    if (!dir)
        return err_nomem(e);
    rc = dir_sync(dir, e);
    free(dir);
    return rc;
}

int file_write_atomic(const char *path, const void *data, size_t n, ppr_err *e)
{
    staged_file t;
    int rc = staged_open(&t, path, e);
    if (rc)
        return rc;
    if (fd_write_full(t.fd, data, n) != 0) {
        rc = err_set(e, PPR_EINPUT, "cannot write '%s': %s", path, strerror(errno));
        staged_discard(&t);
        return rc;
    }
    return staged_commit(&t, path, e);
}

int file_write_if_changed(const char *path, const void *data, size_t n, int *changed,
                          ppr_err *e)
{
    char *old = NULL;
    size_t old_n = 0;
    if (changed)
        *changed = 0;
    if (file_read_all(path, &old, &old_n, NULL) == PPR_OK) {
        int same = old_n == n && memcmp(old, data, n) == 0;
        free(old);
        if (same)
            return PPR_OK;
    }
    int rc = file_write_atomic(path, data, n, e);
    if (rc == PPR_OK && changed)
        *changed = 1;
    return rc;
}

int dir_make(const char *path, ppr_err *e)
{
    char *p = strdup(path);
    if (!p)
        return err_nomem(e);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            int rc = err_set(e, PPR_EINPUT, "cannot create directory '%s': %s", p,
                             strerror(errno));
            free(p);
            return rc;
        }
        *s = '/';
    }
    int rc = PPR_OK;
    if (mkdir(p, 0755) != 0 && errno != EEXIST)
        rc = err_set(e, PPR_EINPUT, "cannot create directory '%s': %s", p,
                     strerror(errno));
    free(p);
    return rc;
}

int dir_make_parent(const char *path, ppr_err *e)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return PPR_OK;
    char *dir = strndup(path, (size_t)(slash - path));
    int rc = dir ? dir_make(dir, e) : err_nomem(e);
    free(dir);
    return rc;
}

char *path_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 2);
    if (!s)
        return NULL;
    memcpy(s, a, la);
    s[la] = '/';
    memcpy(s + la + 1, b, lb + 1);
    return s;
}

int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int file_is_temp_name(const char *name)
{
    size_t len = strlen(name);
    if (len <= 10 || strncmp(name + len - 10, ".tmp", 4) != 0)
        return 0;
    for (const char *p = name + len - 6; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
              (*p >= 'A' && *p <= 'Z')))
            return 0;
    return 1;
}
