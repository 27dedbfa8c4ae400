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
 * "object" inputs and all outputs are store objects; an "object" input also
 * names the node whose output it is ("from": "01-fetch-sim-tldr"); "file"
 * inputs are source files read from outside the store (a mirror). Timings and
 * hosts never appear here, so an unchanged result gives byte-identical locks.
 *
 * Run records: when a stage commits, the same bytes go to
 * <store root>/runs/<key>.json, key being the SHA-256 of the canonical lock
 * without its outputs (what the run read and which tool ran it). The record is
 * the evidence a lock file is checked against: a lock is valid only when its
 * record exists with the same bytes, so an edited, truncated or half-restored
 * lock is never believed. */
#ifndef PPR_LOCK_H
#define PPR_LOCK_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "sha256.h"
#include "store.h"

#define LOCK_DIR "manifests/lock"
#define LOCK_RUNS_DIR "runs" /* under the store root */

typedef struct {
    const char *kind; /* "object" or "file" for inputs; "object" for outputs */
    const char *name;
    char sha256[SHA256_HEX_LEN + 1];
    uint64_t bytes;
    const char *type; /* outputs only; NULL for inputs */
    uint64_t rows;    /* outputs only */
    const char *from; /* "object" inputs: the producing node's id; else NULL */
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

/* Whether the input called input is its producer's output called output: the
 * same name, or output under a prefix ending in '/' ("pretrained/model-s1" is
 * the output "model-s1" of 04-train-pretrained). */
int lock_input_is_output(const char *input, const char *output);

/* "<stage>-<instance>", the node id of a lock, into buf[n]. */
void lock_node_id(const lock *l, char *buf, size_t n);

/* The run key of a lock's JSON: SHA-256 (hex) of it without "outputs". */
int lock_run_key(const cJSON *json, char hex[SHA256_HEX_LEN + 1], ppr_err *e);

/* malloc'd "<store root>/runs" and "<store root>/runs/<key>.json". */
char *lock_runs_dir(const store *s);
char *lock_record_path(const store *s, const char *key);

/* Whether the file l was read from has the same bytes as its run record;
 * PPR_EINPUT naming both when not. */
int lock_record_matches(const store *s, const lock *l, ppr_err *e);

/* Load the lock at path and check that a stage wrote it: it parses, its run
 * record has the same bytes, and every output it names is in the store (by
 * existence; reading an object verifies it). Not valid: PPR_EINPUT with the
 * reason, naming the file. */
int lock_load_checked(lock *l, const store *s, const char *path, ppr_err *e);

#endif
