/* storelock.h: who may change the store at the same time (design section 4).
 *
 * Two kinds of advisory locks (flock(2)), as files under <store root>/flock/:
 *
 *   store          the repository lock. A stage holds it shared for its whole
 *                  run (so nothing it has written but not yet named in a lock
 *                  can be collected); `ppr gc`, `ppr restore` and `ppr verify`
 *                  hold it exclusive, so they never see a run half-done.
 *   node/<id>      one stage instance: held exclusive by the stage while it
 *                  runs, so two Ninja runs in one checkout do an instance once
 *                  and the second finds it up to date.
 *
 * A lock that is taken waits; before waiting it says on stderr who holds it
 * (pid and command line, read from /proc/locks), once, unless the wait is
 * routine (a stage waiting for another's sweep). The kernel drops a lock
 * when its holder dies, so a killed run never leaves one behind. */
#ifndef PPR_STORELOCK_H
#define PPR_STORELOCK_H

#include "error.h"
#include "store.h"

#define STORELOCK_DIR "flock"

enum storelock_mode {
    STORELOCK_SHARED = 1,
    STORELOCK_EXCLUSIVE = 2,
};

typedef struct {
    int fd;     /* -1 when not held */
    char *path; /* <root>/flock/<name> */
} storelock;

/* Take the lock called name ("store", or "node/<id>") in mode, waiting for
 * it. `who` names the taker in the waiting message ("ppr gc"); NULL waits
 * without one. */
int storelock_take(storelock *l, const store *s, const char *name, int mode, const char *who,
                   ppr_err *e);

/* Take it only if nobody holds it: *got says whether it was taken. */
int storelock_try(storelock *l, const store *s, const char *name, int mode, int *got,
                  ppr_err *e);

/* Turn a held lock into the other mode, waiting if needed (who as above). */
int storelock_convert(storelock *l, int mode, const char *who, ppr_err *e);

/* Release; accepts a lock never taken (fd -1) or zeroed. */
void storelock_release(storelock *l);

/* Open the store (store_init with the default root) and take its "store"
 * lock in mode (who as for storelock_take): what every command that reads or
 * writes beside the store starts with. On error neither is held. */
int storelock_open(store *s, storelock *l, int mode, const char *who, ppr_err *e);

/* Release the lock, then the store. */
void storelock_close(store *s, storelock *l);

#endif
