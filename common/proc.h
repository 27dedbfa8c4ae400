/* proc.h: running another program and waiting for it (ppr's repairs run
 * stages and Ninja this way, and its launcher runs them through Slurm). */
#ifndef PPR_PROC_H
#define PPR_PROC_H

#include <stddef.h>

#include "error.h"

/* Run argv (argv[0] looked up in PATH when it has no '/'), with this
 * process's stdin, stdout, stderr and environment, and wait for it. A failure
 * to start or a nonzero exit is PPR_EINPUT naming the program and `why` it
 * ran ("to repair the lock of 'x'"). */
int proc_run(char *const argv[], const char *why, ppr_err *e);

/* Run argv as proc_run does and wait for it as a wrapper that stands for it:
 * while it runs, this process ignores SIGINT, SIGTERM and SIGHUP, which reach
 * the child through their shared process group (the child gets the default
 * actions back), so the child decides how to end and this process outlives
 * it. *status is its exit code, or 128 + the signal that ended it. Only a
 * failure to start is an error (PPR_EINPUT naming the program). */
int proc_wrap(char *const argv[], int *status, ppr_err *e);

/* Run argv with stdin from /dev/null and its stdout and stderr together into
 * out[cap] (NUL-terminated; what does not fit is read and dropped), and wait
 * for it, killing it after timeout_s seconds (0: no limit). *status as for
 * proc_wrap. A failure to start is PPR_EINPUT naming the program, a timeout
 * PPR_EINPUT naming it and `why`. */
int proc_capture(char *const argv[], double timeout_s, const char *why, char *out, size_t cap,
                 int *status, ppr_err *e);

#endif
