/* stage.h: the run protocol every stage binary follows (design sections 5-6).
 *
 * A stage is invoked by Ninja as `<binary> <slice.json> <lock.json>`. The slice
 * (written by `ppr slice`) holds {"stage", "instance", "config", "inputs"}: the
 * config values this instance reads and the store objects it consumes. The
 * stage then:
 *   1. stage_init: reads the slice, opens the store, hashes its own binary;
 *   2. stage_add_file (fetch only): records files read from outside the store;
 *   3. stage_lookup: if the lock already describes this exact run (same slice,
 *      inputs and tool) and its outputs are stored, nothing is done; if the run
 *      cache (artifacts/runs/<key>.json, key = SHA-256 of the lock without its
 *      outputs) knows the run, that lock is re-emitted; else it computes:
 *   4. stage_input / stage_put: verified reads, content-addressed writes;
 *   5. stage_commit: writes the lock (only if its bytes change), records the run
 *      in the run cache and appends its time and peak memory to
 *      artifacts/log/runs.jsonl. */
#ifndef PPR_STAGE_H
#define PPR_STAGE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "sha256.h"
#include "store.h"

#define RUNS_DIR "runs"
#define RUN_LOG "log/runs.jsonl"

typedef struct {
    const char *stage;     /* e.g. "02-characterize" */
    const char *instance;  /* from the slice */
    const char *slice_path, *lock_path;
    cJSON *slice;          /* owns config and the slice inputs */
    const cJSON *config;   /* slice "config" */
    cJSON *lock;           /* the lock being built: config, inputs, tool, ... */
    cJSON *outputs;        /* array inside lock */
    store st;
    int threads;           /* threads the computation uses; recorded in the lock */
    const char *openblas;  /* OpenBLAS version for stages that link it, else NULL */
    double start;
} stage_run;

/* argv: <slice.json> <lock.json>. stage must match the slice's "stage". */
int stage_init(stage_run *r, const char *stage, int argc, char **argv, ppr_err *e);
void stage_release(stage_run *r);

/* Record a file read from outside the store (kind "file"), by content hash. */
int stage_add_file(stage_run *r, const char *name, const char *sha256_hex,
                   uint64_t bytes, ppr_err *e);

/* *done = 1 when the lock is current or was re-emitted from the run cache. */
int stage_lookup(stage_run *r, int *done, ppr_err *e);

/* Load the slice input called name; verified against its hash. */
int stage_input(stage_run *r, const char *name, int type, void **payload, size_t *n,
                ppr_err *e);

/* The output called name of the lock this instance wrote last, if that run
 * read the same values under each of the NULL-ended config keys: what an
 * incremental stage may reuse. *payload is NULL when there is none (no lock,
 * other values, or the object is gone or damaged); that is not an error. */
void stage_previous(stage_run *r, const char *const *keys, const char *name, int type,
                    void **payload, size_t *n);

/* Store an output and record it under name with its row count. */
int stage_put(stage_run *r, const char *name, int type, const void *payload, size_t n,
              uint64_t rows, ppr_err *e);

/* Store a JSON output (canonical bytes). */
int stage_put_json(stage_run *r, const char *name, const cJSON *v, uint64_t rows,
                   ppr_err *e);

int stage_commit(stage_run *r, ppr_err *e);

/* The whole life of a stage program: stage_init, run, and on failure one line
 * "<prog>: <message>" on stderr; returns the exit code for main to return. */
typedef int (*stage_fn)(stage_run *r, ppr_err *e);
int stage_main(const char *stage, const char *prog, int argc, char **argv, stage_fn run);

/* Prints "<stage> <instance>: <msg>" on stderr for the final summary line. */
void stage_say(const stage_run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
