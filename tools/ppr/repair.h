/* repair.h: bringing a stage instance's lock back when it is not valid
 * (lock.h: unreadable, edited, or naming an object the store lost) by
 * running its stage again. The stage finds its run record and rewrites the
 * lock from it, or recomputes what was lost; it never trusts the bad file.
 *
 * Ninja reruns a stage whose lock or output changed after it ran (the stage
 * rule's depfile); `ppr slice` repairs, before naming their outputs, the
 * upstream locks whose damage left their timestamps alone. */
#ifndef PPR_REPAIR_H
#define PPR_REPAIR_H

#include <stddef.h>

#include "pipeline.h"

/* Repair every node n reads whose lock is not valid (and, first, theirs). */
int repair_upstream(const pipeline *p, const pipe_node *n, size_t *repaired, ppr_err *e);

/* Repair n if its lock is not valid: its upstream first, then its slice is
 * rewritten and its stage run. */
int repair_node(const pipeline *p, const pipe_node *n, size_t *repaired, ppr_err *e);

/* Write n's slice as it reads now (only when its bytes change) and its edge's
 * depfile (pipeline_slice_deps), under the store lock held shared; print the
 * warning of a simulated dataset whose texts fall back. */
int repair_write_slice(const pipeline *p, const pipe_node *n, ppr_err *e);

#endif
