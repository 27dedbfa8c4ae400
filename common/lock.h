/* lock.h: lock manifests (design section 5), written by each stage instance to
 * manifests/lock/<stage>-<instance>.json in canonical JSON:
 *
 *   {"config":   the config slice the stage read,
 *    "inputs":   [{"kind": "object"|"file", "name", "sha256", "bytes"}],
 *    "instance": e.g. "sim-psoups",
 *    "outputs":  [{"name", "sha256", "bytes", "type", "rows"}],
 *    "stage":    e.g. "02-characterize",
 *    "tool":     {"binary_sha256", "openblas", "threads", "zstd"}}
 *
 * "object" inputs and all outputs are store objects; "file" inputs are source
 * files read from outside the store (a mirror). Timings and hosts never appear
 * here, so an unchanged result gives byte-identical locks. */
#ifndef PPR_LOCK_H
#define PPR_LOCK_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "sha256.h"

#define LOCK_DIR "manifests/lock"

typedef struct {
    const char *kind; /* "object" or "file" for inputs; "object" for outputs */
    const char *name;
    char sha256[SHA256_HEX_LEN + 1];
    uint64_t bytes;
    const char *type; /* outputs only; NULL for inputs */
    uint64_t rows;    /* outputs only */
} lock_entry;

typedef struct {
    char *path;
    cJSON *json; /* owns every string the entries point to */
    const char *stage, *instance;
    lock_entry *inputs;  /* [n_inputs] */
    size_t n_inputs;
    lock_entry *outputs; /* [n_outputs] */
    size_t n_outputs;
} lock;

/* Parse and check a lock file; a malformed one is PPR_EINPUT naming the file. */
int lock_load(lock *l, const char *path, ppr_err *e);
/* Same from a parsed JSON value that l takes ownership of. */
int lock_from_json(lock *l, cJSON *json, const char *what, ppr_err *e);
void lock_release(lock *l);

/* Sorted paths of every *.json lock in dir (missing dir: none). Free with
 * lock_paths_free. */
int lock_paths(const char *dir, char ***paths, size_t *n, ppr_err *e);
void lock_paths_free(char **paths, size_t n);

/* The lock's output of that name, or NULL. */
const lock_entry *lock_output(const lock *l, const char *name);

#endif
