/* mirror.h: where a file of a manifests/sources.json source is on this machine
 * (design section 8): in the mirror ($PPR_MIRROR, else ../shared/data), else in
 * the download cache (<store root>/downloads), both laid out <folder>/<file>.
 * Stage 01 reads files from there; `ppr slice` looks there to resolve which
 * texts a simulated dataset will label before stage 01 runs. */
#ifndef PPR_MIRROR_H
#define PPR_MIRROR_H

#include <stddef.h>

#include "error.h"

#define MIRROR_DEFAULT_ROOT "../shared/data"
#define MIRROR_DOWNLOADS "downloads" /* under the store root */

/* The mirror root this process reads. */
const char *mirror_root(void);

typedef struct {
    char *key;        /* "<folder>/<file>", as the mirror and the cache lay it out */
    char *mirror;     /* <mirror root>/<key> */
    char *cache_dir;  /* <store root>/downloads */
    char *cached;     /* <cache_dir>/<key> */
    const char *path; /* mirror or cached, the first that exists; NULL for neither */
} mirror_file;

/* Where file of a source whose mirror folder is folder is, with the download
 * cache under store_root. */
int mirror_locate(mirror_file *f, const char *store_root, const char *folder,
                  const char *file, ppr_err *e);
void mirror_file_release(mirror_file *f); /* accepts a released one */

/* "'<key>' is neither in the mirror '<root>' nor in '<cache dir>'": the words
 * every message about a missing file uses. */
void mirror_say_missing(const mirror_file *f, char *out, size_t n);

#endif
