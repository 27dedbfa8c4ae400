/* offline.h: what the loaders of the offline mirror's sources
 * (load_offline.c, load_annotated.c) share: the rows they add, per user, and
 * the counts each reports in its info (docs/sources-offline.md). */
#ifndef PPR_FETCH_OFFLINE_H
#define PPR_FETCH_OFFLINE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/prefs.h"
#include "loaders.h"

typedef struct {
    const char *s;
    size_t n;
} span;

span offline_span(const char *s);

/* One user of the dataset being built and what became of its pairs. */
typedef struct {
    const char *name; /* alive until the loader has built its info */
    uint32_t id;
    size_t rows; /* rows kept */
    size_t same; /* pairs dropped because chosen == rejected */
    size_t ties; /* pairs without a preference (pandalm, spica) */
    uint32_t split; /* of the rows added: PREFS_TEST unless the upstream splits */
} tally;

/* A main-pool user called name, its counts at 0. */
int offline_user(prefs_builder *b, const char *name, tally *t, ppr_err *e);
/* Add the row "t's user prefers chosen to rejected", split by key (when
 * key.s is not NULL) or else by its prompt, or count it as dropped when both
 * responses are the same bytes. *added (if not NULL) receives the row when one
 * was added; its user is then set, else UINT32_MAX. */
int offline_pair_keyed(prefs_builder *b, tally *t, span key, span prompt, span chosen,
                       span rejected, prefs_row *added, ppr_err *e);
/* offline_pair_keyed split by the prompt. */
int offline_pair(prefs_builder *b, tally *t, span prompt, span chosen, span rejected,
                 prefs_row *added, ppr_err *e);
/* o[key] = v; 0 when out of memory. */
int offline_count(cJSON *o, const char *key, size_t v);
/* The counts every loader reports: totals and, per user, rows kept, pairs
 * dropped as chosen == rejected and (with_ties) pairs without a preference.
 * NULL when out of memory. */
cJSON *offline_info(const tally *t, size_t n, int with_ties);
/* The input file called name, or PPR_EINPUT naming it. */
int offline_need_file(const src_input *in, const char *name, const src_file **f, ppr_err *e);

#endif
