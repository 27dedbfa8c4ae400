/* store.h: the content-addressed artifact store (design section 4).
 *
 * An object lives at <root>/objects/<2 hex>/<62 hex>.zst, named by the SHA-256 of
 * its *uncompressed* payload. The file is a 16-byte header followed by one zstd
 * frame with its content checksum on:
 *
 *   offset 0  char[4]  magic "PPRA"
 *          4  u16      format version (STORE_FORMAT_VERSION)
 *          6  u16      payload type (enum payload_type)
 *          8  u64      uncompressed payload size
 *         16  ...      zstd frame
 *
 * All integers are little-endian. Every read decompresses, re-hashes and compares
 * with the name; a mismatch is an error naming the file. */
#ifndef PPR_STORE_H
#define PPR_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "sha256.h"

#define STORE_FORMAT_VERSION 1
#define STORE_HEADER_SIZE 16

enum payload_type {
    PAYLOAD_PREFS = 1,    /* preference dataset, see prefs.h */
    PAYLOAD_TEXTS = 2,    /* text table */
    PAYLOAD_FEATURES = 3, /* feature matrix */
    PAYLOAD_MODEL = 4,    /* trained model */
    PAYLOAD_JSON = 5,     /* metrics and parameters, canonical JSON */
    PAYLOAD_EMBEDDINGS = 6, /* a word-embedding table, see embeddings.h */
    PAYLOAD_FILE = 7,     /* a rendered file of the report, its bytes as written under figures/ */
};

typedef struct {
    char *root;    /* e.g. "artifacts" */
    char *objects; /* <root>/objects */
} store;

/* root NULL means $PPR_ARTIFACTS, else "artifacts". Creates the directories. */
int store_init(store *s, const char *root, ppr_err *e);
void store_release(store *s);

const char *payload_type_name(int type); /* "prefs", "json", ...; NULL if unknown */
int payload_type_parse(const char *name);  /* -1 if unknown */

/* malloc'd object path for a hex name. */
char *store_path(const store *s, const char *hex);

/* Store a payload; hex receives its name. An existing object with that name is
 * verified and rewritten only if it is damaged. */
int store_put(store *s, int type, const void *payload, size_t n,
              char hex[SHA256_HEX_LEN + 1], ppr_err *e);

/* Load and verify an object. type -1 accepts any type; *type_out (may be NULL)
 * receives the stored type. The caller frees *payload. */
int store_get(const store *s, const char *hex, int type, void **payload, size_t *n,
              int *type_out, ppr_err *e);

/* Decode the whole image[file_n] of an object file (path names it in errors):
 * check the header and the zstd frame, decompress, and compare the payload's
 * SHA-256 with hex. *payload is malloc'd; *type_out (may be NULL) receives the
 * stored type. store_get and store_verify_file read the file and call this. */
int store_decode(const char *path, const char *hex, const void *image, size_t file_n,
                 void **payload, size_t *n, int *type_out, ppr_err *e);

/* Verify one object file by path (decompress, hash, compare with its name). */
int store_verify_file(const char *path, const char *hex, ppr_err *e);

int store_has(const store *s, const char *hex);

/* Check an object against everything a lock records about it: it is stored,
 * whole and named by its content, holds `type` (a payload type name, or NULL
 * for any) and `bytes` payload bytes. */
int store_check(const store *s, const char *hex, const char *type, uint64_t bytes,
                ppr_err *e);

/* Remove the temp files ("<name>.tmpXXXXXX", fsutil.h) that killed writers
 * left in the objects directory, its buckets and the directories in dirs
 * (NULL-ended). Only safe while nobody writes: hold the store lock exclusive
 * (storelock.h). *removed counts them. */
int store_sweep_temps(const store *s, const char *const *dirs, size_t *removed, ppr_err *e);

#endif
