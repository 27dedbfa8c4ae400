/* fsutil.h: whole-file reads, atomic writes (temp, fsync, rename, fsync dir) and
 * writes that leave a file untouched when its bytes would not change. */
#ifndef PPR_FSUTIL_H
#define PPR_FSUTIL_H

#include <stddef.h>

#include "error.h"

/* Read a whole file into a NUL-terminated malloc'd buffer; *n excludes the NUL. */
int file_read_all(const char *path, char **data, size_t *n, ppr_err *e);

/* Write data to path atomically: a temp file in the same directory, fsync,
 * rename over path, fsync the directory. On failure nothing is left behind. */
int file_write_atomic(const char *path, const void *data, size_t n, ppr_err *e);

/* As file_write_atomic, but only when the file's bytes differ (so its mtime only
 * moves on a real change). *changed (if not NULL) says whether it was written. */
int file_write_if_changed(const char *path, const void *data, size_t n, int *changed,
                          ppr_err *e);

/* A file being written beside its final path, for writers that stream: open,
 * write to fd, then commit (fsync, rename over final, fsync the directory) or
 * discard. file_write_atomic is the one-buffer case. */
typedef struct {
    char *path; /* "<final>.tmpXXXXXX" */
    int fd;
} staged_file;

int staged_open(staged_file *t, const char *final, ppr_err *e);
int staged_commit(staged_file *t, const char *final, ppr_err *e);
void staged_discard(staged_file *t); /* accepts a discarded or committed one */

/* write(2) until all n bytes are written; -1 on error (errno set). */
int fd_write_full(int fd, const void *data, size_t n);

/* mkdir -p; existing directories are fine. */
int dir_make(const char *path, ppr_err *e);

/* mkdir -p of the directory a file path lies in (none for a bare name). */
int dir_make_parent(const char *path, ppr_err *e);

/* fsync a directory so that a rename inside it is durable. */
int dir_sync(const char *dir, ppr_err *e);

/* malloc'd "a/b"; NULL when out of memory. */
char *path_join(const char *a, const char *b);

int file_exists(const char *path);

/* Whether a file name is a staged_file's temp name: "<name>.tmp" plus the six
 * letters or digits of mkstemp. */
int file_is_temp_name(const char *name);

#endif
