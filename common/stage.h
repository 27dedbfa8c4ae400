/* stage.h: the run protocol every stage binary follows (design sections 5-6).
 *
 * A stage is invoked by Ninja as `<binary> <slice.json> <lock.json> [<depfile>]`.
 * The slice (written by `ppr slice`) holds {"stage", "instance", "config",
 * "inputs"}: the config values this instance reads and the store objects it
 * consumes, each with the node it comes from. The stage then:
 *   1. stage_init: reads the slice, takes its instance's lock and the store
 *      lock shared (storelock.h; with nobody else running it first sweeps the
 *      temp files killed runs left), hashes its own binary;
 *   2. stage_add_file (fetch only): records files read from outside the store;
 *   3. stage_lookup: the run key (SHA-256 of the lock without outputs) names
 *      a run record, <store>/runs/<key>.json; when it exists and every output
 *      it names verifies (content, type, size), its bytes are (re)written as the
 *      lock and nothing is computed. PPR_RECOMPUTE=1 skips this. Else:
 *   4. stage_input / stage_put: verified reads (content, type, size, and that
 *      the producing node's lock names the object), content-addressed writes;
 *   5. stage_commit: checks that every input of the slice was read (a slice
 *      lists only what its stage reads: no input is optional by accident),
 *      writes the run record, then the lock (only if its bytes change), and
 *      appends time, peak memory and the run's notes to
 *      artifacts/log/runs.jsonl.
 * On success the depfile lists what the lock stands on (its output objects and
 * its run record), so that Ninja reruns the stage when one goes missing or
 * changes. */
#ifndef PPR_STAGE_H
#define PPR_STAGE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "sha256.h"
#include "store.h"
#include "storelock.h"

#define RUN_LOG "log/runs.jsonl"
/* How every run record (line) of RUN_LOG starts, with its stage and instance:
 * a reader after one instance's records finds them without parsing others. */
#define RUN_LOG_HEAD "{\"stage\":\"%s\",\"instance\":\"%s\","
#define STAGE_SLICE_DIR "build/slice" /* <node id>.json, written by `ppr slice` */
#define STAGE_DEPS_DIR "build/deps"   /* <node id>.d, the stage's depfile (and
                                         <node id>.slice.d, its slice edge's) */

typedef struct {
    const char *stage;     /* e.g. "02-characterize" */
    const char *instance;  /* from the slice */
    const char *slice_path, *lock_path;
    const char *depfile_path; /* NULL when not asked for */
    cJSON *slice;          /* owns config and the slice inputs */
    const cJSON *config;   /* slice "config" */
    cJSON *lock;           /* the lock being built: config, inputs, tool, ... */
    cJSON *outputs;        /* array inside lock */
    cJSON *notes;          /* facts about this run for the run log, never the lock */
    cJSON *read;           /* names of the slice inputs stage_input has read */
    store st;
    storelock node_lock, store_lock;
    int threads;           /* threads the computation uses; recorded in the lock */
    const char *openblas;  /* OpenBLAS version for stages that link it, else NULL */
    double start;
} stage_run;

/* argv: <slice.json> <lock.json> [<depfile>]. stage must match the slice's
 * "stage". */
int stage_init(stage_run *r, const char *stage, int argc, char **argv, ppr_err *e);
void stage_release(stage_run *r);

/* Record a file read from outside the store (kind "file"), by content hash. */
int stage_add_file(stage_run *r, const char *name, const char *sha256_hex,
                   uint64_t bytes, ppr_err *e);

/* *done = 1 when the lock is current or was re-emitted from the run cache. */
int stage_lookup(stage_run *r, int *done, ppr_err *e);

/* Load the slice input called name: verified against its hash, its type and
 * size, and its producer's lock, which must name it as its output. */
int stage_input(stage_run *r, const char *name, int type, void **payload, size_t *n,
                ppr_err *e);

/* The JSON slice input called name (stage_input of PAYLOAD_JSON), parsed
 * into *out; bad JSON is PPR_EINPUT naming the input. */
int stage_input_json(stage_run *r, const char *name, cJSON **out, ppr_err *e);

/* out [SHA256_LEN]: the digest of the slice input called name (the artifact
 * stage_input reads), which names its content. */
int stage_input_digest(const stage_run *r, const char *name, unsigned char *out, ppr_err *e);

/* The output called name of the lock this instance wrote last, if that lock
 * is valid (lock_load_checked) and its run read the same values under each of
 * the NULL-ended config keys: what an incremental stage may reuse. *payload is
 * NULL when there is none (no valid lock, other values, or the object is gone
 * or damaged); that is not an error, since reuse only saves work. */
void stage_previous(stage_run *r, const char *const *keys, const char *name, int type,
                    void **payload, size_t *n);

/* Store an output and record it under name with its row count. */
int stage_put(stage_run *r, const char *name, int type, const void *payload, size_t n,
              uint64_t rows, ppr_err *e);

/* Store a JSON output (canonical bytes). */
int stage_put_json(stage_run *r, const char *name, const cJSON *v, uint64_t rows,
                   ppr_err *e);

/* Record a fact about this run (e.g. how many texts it reused) in the run
 * log: what depends on the store's history belongs there, not in a lock. */
int stage_note(stage_run *r, const char *key, double value, ppr_err *e);

int stage_commit(stage_run *r, ppr_err *e);

/* Directories besides the objects where ppr's writers stage temp files: the
 * run records, the locks, the manifests, the slices and the depfiles. Every
 * writer there holds the store lock (at least shared), so a holder of it
 * exclusive may remove what it finds. NULL-ended, malloc'd; free with
 * stage_temp_dirs_free. */
char **stage_temp_dirs(const store *s);
void stage_temp_dirs_free(char **dirs);

/* The whole life of a stage program: stage_init, run, and on failure one line
 * "<prog>: <message>" on stderr; returns the exit code for main to return. */
typedef int (*stage_fn)(stage_run *r, ppr_err *e);
int stage_main(const char *stage, const char *prog, int argc, char **argv, stage_fn run);

/* Prints "<stage> <instance>: <msg>" on stderr for the final summary line. */
void stage_say(const stage_run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
