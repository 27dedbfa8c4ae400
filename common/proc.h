/* proc.h: running another program and waiting for it (ppr's repairs run
 * stages and Ninja this way). */
#ifndef PPR_PROC_H
#define PPR_PROC_H

#include "error.h"

/* Run argv (argv[0] looked up in PATH when it has no '/'), with this
 * process's stdin, stdout, stderr and environment, and wait for it. A failure
 * to start or a nonzero exit is PPR_EINPUT naming the program and `why` it
 * ran ("to repair the lock of 'x'"). */
int proc_run(char *const argv[], const char *why, ppr_err *e);

#endif
