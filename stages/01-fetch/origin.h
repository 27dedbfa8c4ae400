/* origin.h: where a source's files come from (design section 8). Each file of a
 * manifests/sources.json entry is looked up in the mirror ($PPR_MIRROR, else
 * ../shared/data), then in the download cache (artifacts/downloads, laid out
 * like a mirror), and downloaded into that cache only when both lack it. Every
 * file is checked against its pin (the entry's sha256, or the pin recorded in
 * manifests/sources.lock.json on first download) before anything reads it.
 * The two local places are common/mirror.h's rule. */
#ifndef PPR_FETCH_ORIGIN_H
#define PPR_FETCH_ORIGIN_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "common/error.h"
#include "common/stage.h"
#include "loaders.h"

#define ORIGIN_PIN_LOCK "manifests/sources.lock.json"

typedef struct {
    const char *source;  /* the sources.json key, e.g. "hep" */
    src_file *files;     /* [n_files] in entry order; data owned here */
    size_t n_files;
    int downloaded;      /* how many came from the network in this run */
    int unavailable;     /* after an error: a file could not be had at all (as
                            opposed to a file that is there but fails its pin) */
} origin;

/* Read every file of entry (the sources.json entry of source) into o and
 * record each as a "file" input of r. download: 0 never touches the network
 * (then a file missing everywhere is PPR_EINPUT naming where it was looked
 * for). On error o holds nothing. */
int origin_read(origin *o, stage_run *r, const char *source, const cJSON *entry,
                int download, ppr_err *e);
void origin_release(origin *o);

#endif
