/* archive.h: what the writer (archive.c) and the reader (archive_read.c) of
 * ppr's archives share: the entry layout and the names an archive may hold.
 * Private to tools/ppr. */
#ifndef PPR_TOOLS_ARCHIVE_H
#define PPR_TOOLS_ARCHIVE_H

#include <stddef.h>

#include "repo.h"

#define CHUNK (1 << 16)
#define OBJECTS_PREFIX "artifacts/objects/"

/* The committed inputs an archive carries besides the locks. */
extern const char *const archive_manifests[];
extern const size_t archive_n_manifests;

enum entry_kind { ENTRY_INDEX, ENTRY_OBJECT, ENTRY_MANIFEST, ENTRY_LOCK, ENTRY_UNSAFE,
                  ENTRY_UNEXPECTED };

/* manifests/lock/<name>.json with a plain file name, as restore accepts it. */
int archive_lock_name_ok(const char *path);
/* What an entry of this name is; hex [SHA256_HEX_LEN + 1] gets an object's
 * hash. */
int archive_entry_classify(const char *name, char *hex);
/* "" for 1, "s" otherwise. */
const char *archive_plural(size_t n);

#endif
