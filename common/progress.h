/* progress.h: one progress reporter for long work. On a terminal it redraws a
 * line with count, rate and ETA at most five times a second; a summary line is
 * always printed at the end. Output goes to stderr. */
#ifndef PPR_PROGRESS_H
#define PPR_PROGRESS_H

#include <stdint.h>

typedef struct {
    const char *label;
    uint64_t done, total; /* total 0: unknown */
    double start, last_draw;
    int tty;
} progress;

void progress_init(progress *p, const char *label, uint64_t total);
void progress_add(progress *p, uint64_t n);
/* Prints "<label>: <done> <unit> in <s> s (<rate>/s)<extra>". */
void progress_done(progress *p, const char *unit, const char *extra);

double clock_seconds(void); /* monotonic */

#endif
