/* progress.c: count, rate and ETA on stderr. */
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

double clock_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void progress_init(progress *p, const char *label, uint64_t total)
{
    p->label = label;
    p->done = 0;
    p->total = total;
    p->start = p->last_draw = clock_seconds();
    p->tty = isatty(2);
}

void progress_add(progress *p, uint64_t n)
{
    p->done += n;
    if (!p->tty)
        return;
    double now = clock_seconds();
    if (now - p->last_draw < 0.2)
        return;
    p->last_draw = now;
    double rate = p->done / (now - p->start);
    if (p->total && rate > 0)
        fprintf(stderr, "\r%s: %llu/%llu (%.0f/s, ETA %.0f s)   ", p->label,
                (unsigned long long)p->done, (unsigned long long)p->total, rate,
                (double)(p->total - p->done) / rate);
    else
        fprintf(stderr, "\r%s: %llu (%.0f/s)   ", p->label, (unsigned long long)p->done,
                rate);
}

void progress_done(progress *p, const char *unit, const char *extra)
{
    double s = clock_seconds() - p->start;
    if (p->tty)
        fprintf(stderr, "\r\033[K");
    fprintf(stderr, "%s: %llu %s in %.2f s (%.0f/s)%s\n", p->label,
            (unsigned long long)p->done, unit, s, s > 0 ? p->done / s : 0.0,
            extra ? extra : "");
}
