/* hfrows.h: one split of a Hugging Face dataset through the dataset viewer's
 * rows API (GET {api}/rows?dataset=&config=&split=&offset=&length=100), paged
 * into one JSON-lines file. Used for sources published only as HF datasets
 * (design section 8) when they are not in the mirror.
 *
 * Every page is checked before it is kept: it parses, its rows are numbered
 * offset, offset+1, ..., no cell is truncated, num_rows_total stays the same,
 * the split is not served in part ("partial": true), and only the last page is
 * short. A verified page is kept as "<dest>.pages/<offset>.json" so that a later
 * call fetches only what is missing; requests retry as download.h says. */
#ifndef PPR_HFROWS_H
#define PPR_HFROWS_H

#include "error.h"

/* Fetch dataset/config/split from api_base (e.g.
 * "https://datasets-server.huggingface.co", rewritten by download_url) and
 * write dest atomically: one line per row holding exactly the API's `row`
 * object as canonical JSON (json.h), in row order, so equal rows give equal
 * bytes. The pages directory is removed once dest is written. Errors are
 * PPR_EINPUT naming the dataset, config, split and offset (or row). */
int hfrows_fetch(const char *api_base, const char *dataset, const char *config,
                 const char *split, const char *dest, ppr_err *e);

#endif
