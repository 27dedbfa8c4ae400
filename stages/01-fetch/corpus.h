/* corpus.h: the texts the simulator labels: prompts crossed with the answers of
 * many models (AlpacaEval, FLASK), parsed from in-memory mirror files or composed
 * from word lists when there is no mirror, then measured once (attrs.h). */
#ifndef PPR_FETCH_CORPUS_H
#define PPR_FETCH_CORPUS_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "attrs.h"
#include "common/error.h"

#define CORPUS_NONE UINT32_MAX /* an empty cell: this model has no answer here */

typedef struct corpus_index corpus_index; /* lookup tables used while loading */

typedef struct {
    /* interned texts: identical bytes share one id */
    char *blob;          /* [blob_len] texts, each followed by a NUL */
    size_t blob_len, blob_cap;
    uint64_t *text_off;  /* [n_texts + 1] text t is blob[text_off[t] .. text_off[t+1] - 1) */
    size_t n_texts, text_cap;

    uint32_t *prompt_text; /* [n_prompts] text id of each prompt */
    size_t n_prompts, prompt_cap;
    char **model_name;     /* [n_models] */
    size_t n_models, model_cap;

    /* answers as loaded; corpus_measure lays them out as a grid */
    uint32_t *cell_prompt, *cell_model, *cell_text; /* [n_cells] each */
    size_t n_cells, cell_cap;

    /* filled by corpus_measure */
    uint32_t *grid;      /* [n_prompts][n_models] cell id or CORPUS_NONE */
    float *attr;         /* [n_cells][ATTR_COUNT] */
    attrs_stats stats;
    uint32_t *usable;    /* [n_usable] prompts with answers from 2+ models */
    size_t n_usable;
    int measured;

    corpus_index *index;
} corpus;

/* After any error the corpus holds a partial load: release it. */
int corpus_init(corpus *c, ppr_err *e);
void corpus_release(corpus *c);

/* One AlpacaEval model_outputs file: a JSON array of objects with string fields
 * "instruction" and "output". Entries are matched to prompts by the exact
 * instruction text (upstream files are not all in the same order); a new
 * instruction adds a prompt. `what` names the buffer in errors. */
int corpus_add_alpaca(corpus *c, const char *model, const char *buf, size_t n,
                      const char *what, ppr_err *e);

/* FLASK's evaluation set: JSON lines with integer "idx" and string "instruction". */
int corpus_add_flask_questions(corpus *c, const char *buf, size_t n, const char *what,
                               ppr_err *e);

/* One FLASK model's outputs: JSON lines with integer "question_id" (an idx of
 * the evaluation set, loaded first) and string "text". */
int corpus_add_flask_model(corpus *c, const char *model, const char *buf, size_t n,
                           const char *what, ppr_err *e);

/* The offline fallback: n_prompts prompts and n_models models' answers composed
 * from word lists, deterministic from seed, into an empty corpus. */
int corpus_compose(corpus *c, uint64_t seed, size_t n_prompts, size_t n_models,
                   ppr_err *e);

/* Measure every answer once and standardize (attrs_standardize); after this
 * the corpus takes no more texts. Fails when fewer than one prompt has answers
 * from two models. */
int corpus_measure(corpus *c, ppr_err *e);

/* Text t and its length in bytes. */
const char *corpus_text(const corpus *c, uint32_t t, size_t *len);

/* Counts, attribute standardization and per-model quality, for the record. */
cJSON *corpus_describe(const corpus *c);

#endif
