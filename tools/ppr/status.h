/* status.h: why a stage instance would run, computed from hashes, not mtimes:
 * its lock against the slice it would read now, its binary and the store. */
#ifndef PPR_STATUS_H
#define PPR_STATUS_H

#include <stdio.h>

#include "pipeline.h"

/* Print one line per reason node is stale to out (prefixed by indent); *stale
 * receives the number of reasons (0: up to date). */
int status_explain(const pipeline *p, const pipe_node *n, FILE *out, const char *indent,
                   size_t *stale, ppr_err *e);

/* When n's lock was made from composed texts standing in for a source whose
 * files were missing (the ci profile's fallback), one warning line to out,
 * opening with prefix; nothing otherwise, or when there is no lock. */
void status_warn_texts(const pipe_node *n, const char *prefix, FILE *out);

#endif
