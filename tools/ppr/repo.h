/* repo.h: the whole-repository commands of `ppr` (design sections 4 and 5):
 * verify the store against the locks, collect garbage, and pack the state that
 * produced a report into one archive that can be checked and restored.
 *
 * Roots are the lock manifests (manifests/lock/<name>.json) and the run-cache
 * records (<store>/runs/<key>.json, see stage.h), which share one schema: an
 * object is referenced when one of them names it as an output or as an input
 * of kind "object".
 * Per-item findings go to `out`, one line each, then one summary line; the
 * returned code only says whether the command could run at all.
 *
 * Each command holds the store lock exclusive (storelock.h) while it reads
 * or changes the store, so it never sees a stage's run half-done: an object a
 * running stage has written but not yet named in a lock would look
 * unreferenced to gc. Long passes show progress on stderr. */
#ifndef PPR_REPO_H
#define PPR_REPO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "common/lock.h"
#include "common/sha256.h"
#include "common/stage.h"
#include "common/store.h"
#include "common/storelock.h"

/* First entry of every archive: "<sha256>  <entry name>\n" for every other
 * entry (sha256sum format), so a missing entry or any changed byte inside one
 * is caught, whatever the entry holds. */
#define REPO_ARCHIVE_INDEX "SHA256SUMS"

/* Re-hash every object in the store, and check every field each lock and
 * run record holds about an object: present, whole, of the recorded type and
 * size, and (inputs) made by the node named "from"; each lock must equal its
 * run record. *n_bad counts every finding: corrupt, missing and misnamed
 * objects, malformed, edited or unrecorded locks, bad or stale run records,
 * and temp files left by killed runs (under the exclusive store lock nobody
 * is writing, so every temp file is stale). */
int repo_verify(FILE *out, size_t *n_bad, ppr_err *e);

/* Verify, remove every damaged file that can be rebuilt (corrupt objects,
 * bad locks and run records, temp files), run `ninja` to recompute what they
 * held, and verify again; *n_bad is the second verify's count. */
int repo_repair(FILE *out, size_t *n_bad, ppr_err *e);

/* Delete unreferenced objects, run records that name a missing object (or do
 * not parse) and stale temp files. A malformed lock stops gc before anything is
 * removed, since its references are unknown. dry_run only reports. */
int repo_gc(int dry_run, FILE *out, uint64_t *freed_bytes, size_t *n_removed,
            ppr_err *e);

/* Write a deterministic zstd-compressed ustar archive of the committed
 * manifests, every lock and every object the locks reference (each verified
 * first). Written to a temp file and renamed: on error nothing is left. */
int repo_archive(const char *path, FILE *out, ppr_err *e);

/* Check an archive without touching the checkout: the index, every object's
 * name and store format, every lock's references. *n_bad counts bad entries; an
 * unreadable, truncated or corrupt container is PPR_EINPUT. */
int repo_archive_verify(const char *path, FILE *out, size_t *n_bad, ppr_err *e);

/* Verify an archive (as repo_archive_verify; any bad entry restores nothing),
 * then write its objects into the store and its manifests and locks in place.
 * A manifest that would change is first copied to <file>.before-restore (one
 * line on out each); when such a copy exists with other bytes, nothing is
 * restored. */
int repo_restore(const char *path, FILE *out, ppr_err *e);

/* ---- shared by verify.c, gc.c and archive.c ---------------------------- */

/* One referenced object and the first root (lock before run record) naming it. */
typedef struct {
    char hex[SHA256_HEX_LEN + 1];
    char *from; /* path of the lock or record */
    size_t seq; /* insertion order, so the first root wins after sorting */
} repo_ref;

typedef struct {
    repo_ref *v; /* [n], sorted by hex and unique after repo_refs_sort */
    size_t n, cap;
} repo_refs;

/* Add the objects l references (outputs and "object" inputs). */
int repo_refs_add_lock(repo_refs *r, const lock *l, ppr_err *e);
void repo_refs_sort(repo_refs *r);
/* The reference to hex, or NULL; r must be sorted. */
const repo_ref *repo_refs_find(const repo_refs *r, const char *hex);
void repo_refs_release(repo_refs *r);

/* Every *.json in a directory, parsed as locks; the malformed ones are kept
 * apart with their messages instead of failing the whole load. */
typedef struct {
    lock *locks;      /* [n] well-formed, sorted by path */
    size_t n;
    char **bad_paths; /* [n_bad] malformed files, sorted */
    char **bad_msgs;  /* [n_bad] why each one failed */
    size_t n_bad;
} repo_lockset;

int repo_lockset_load(repo_lockset *ls, const char *dir, ppr_err *e);
void repo_lockset_release(repo_lockset *ls);

enum repo_file_kind {
    REPO_FILE_OBJECT,   /* <2 hex>/<62 hex>.zst, a regular file */
    REPO_FILE_TEMP,     /* <name>.tmpXXXXXX left by a writer */
    REPO_FILE_MISNAMED, /* anything else under objects/ */
};

typedef struct {
    int kind;
    char *path;
    char hex[SHA256_HEX_LEN + 1]; /* objects only */
    uint64_t bytes;
    const char *why; /* misnamed only: a static reason */
} repo_file;

typedef struct {
    repo_file *v; /* [n], sorted by path */
    size_t n, cap;
} repo_files;

/* Classify every file under the store's objects directory and add the temp
 * files beside the other things ppr writes (run records, locks, manifests);
 * the result is sorted by path. */
int repo_files_scan(repo_files *f, const store *s, ppr_err *e);
void repo_files_release(repo_files *f);

/* What verify and gc both start from: the store, the locks and run records
 * (malformed ones kept apart), the objects the locks reference, and the files
 * of the store. Run records' references are each command's own decision. */
typedef struct {
    store s;
    storelock lk; /* the store lock, held exclusive */
    char *runs_dir;
    repo_lockset locks, runs;
    repo_refs refs; /* the locks' references, unsorted */
    repo_files files;
} repo_state;

/* who names the command in the message printed while it waits for the store
 * lock (storelock.h). */
int repo_state_load(repo_state *st, const char *who, ppr_err *e);
void repo_state_release(repo_state *st);

/* Whether "<dir2>/<file>" is a store object name (lower-case hex, ".zst");
 * if so hex receives the 64-char name. */
int repo_object_name(const char *dir2, const char *file, char hex[SHA256_HEX_LEN + 1]);

#endif
