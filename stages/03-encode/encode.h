/* encode.h: what stage 03 encodes and how it reuses earlier work: the texts of
 * a dataset (its text table, then Conditional RM's "User ID: u" prompts), each
 * encoded once; a text whose SHA-256 the previous feature matrix of the same
 * encoder holds is copied from it instead. */
#ifndef PPR_ENCODE_ENCODE_H
#define PPR_ENCODE_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/features.h"
#include "common/prefs.h"
#include "encoder.h"

typedef struct {
    const char **texts;     /* [n] */
    size_t *lens;           /* [n] */
    unsigned char *hashes;  /* [n][32] */
    size_t n;
    size_t n_table;         /* the first n_table are the dataset's text table */
    char *arena;            /* owns the conditional prompts */
} text_list;

/* The text table of v, then (conditional) one "User ID" prompt per distinct
 * (user, prompt) of v's rows, in row order. texts point into v or the arena. */
int text_list_build(text_list *tl, const prefs_view *v, int conditional, ppr_err *e);
void text_list_release(text_list *tl);

/* Fill out [tl->n][enc->dim]: rows found in prev (may be NULL) by hash are
 * copied, the rest encoded in batches of `batch` texts split over `threads`
 * threads (contiguous shares, so the result does not depend on the count).
 * *n_encoded receives how many texts were encoded. */
int encode_texts(encoder *enc, const features_view *prev, const text_list *tl,
                 size_t batch, int threads, float *out, size_t *n_encoded, ppr_err *e);

#endif
