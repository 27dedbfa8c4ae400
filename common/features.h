/* features.h: the feature matrix payload (PAYLOAD_FEATURES), design section 10.
 *
 * One matrix per dataset and encoder: row i is the vector of one text, and the
 * text's SHA-256 names the row. For a dataset, rows 0 .. n_texts-1 are its text
 * table in order (prefs.h), so a text id is a row; further rows hold texts the
 * methods need beyond the table (Conditional RM's "User ID: u" prompts). The
 * payload is little-endian and readable in place after decompression:
 *
 *   header  features_header
 *   hashes  uint8[n_rows][32]     SHA-256 of each row's text
 *   order   uint32[n_rows]        row ids sorted by hash, for lookups
 *   matrix  float[n_rows][dim]    64-byte aligned */
#ifndef PPR_FEATURES_H
#define PPR_FEATURES_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define FEATURES_MAGIC "PPRFEAT1"

typedef struct {
    char magic[8];
    uint32_t n_rows, dim;
    uint64_t hashes_off, order_off, matrix_off;
} features_header;

typedef struct {
    const features_header *h;
    const unsigned char *hashes; /* [n_rows][32] */
    const uint32_t *order;       /* [n_rows] */
    const float *matrix;         /* [n_rows][dim] */
} features_view;

/* Serialize n rows of dim floats with their text hashes; *payload is malloc'd. */
int features_pack(uint32_t n_rows, uint32_t dim, const unsigned char *hashes,
                  const float *matrix, void **payload, size_t *size, ppr_err *e);

/* Check the layout, that order sorts the hashes and that every value is finite;
 * a bad payload is PPR_EINPUT naming `what`. */
int features_view_init(features_view *v, const void *payload, size_t n, const char *what,
                       ppr_err *e);

/* The row of the text with this SHA-256, or -1. */
int64_t features_find(const features_view *v, const unsigned char hash[32]);

static inline const float *features_row(const features_view *v, uint32_t row)
{
    return v->matrix + (size_t)row * v->h->dim;
}

#endif
