/* embeddings.h: the word-embedding table payload (PAYLOAD_EMBEDDINGS), design
 * section 10: a vocabulary and one float vector per word, converted once from
 * an upstream format (GloVe's npm package) so that encoders look words up in
 * place after decompression instead of parsing text. Little-endian, every
 * section 8-byte aligned and the matrix 64-byte aligned:
 *
 *   header  embeddings_header
 *   offs    uint64[n_words + 1]   word w is blob[offs[w] .. offs[w+1] - 1)
 *   blob    char[blob_len]        words, each followed by a NUL (not counted)
 *   order   uint32[n_words]       word ids sorted by their bytes, for lookups
 *   matrix  float[n_words][dim]   row w is the vector of word w
 *
 * Words are byte strings (UTF-8 as the source spelled them), distinct, compared
 * with memcmp and a shorter word first when one is a prefix of the other. */
#ifndef PPR_EMBEDDINGS_H
#define PPR_EMBEDDINGS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define EMBEDDINGS_MAGIC "PPREMBD1"

typedef struct {
    char magic[8];
    uint32_t n_words, dim;
    uint64_t offs_off;
    uint64_t blob_off, blob_len;
    uint64_t order_off;
    uint64_t matrix_off;
} embeddings_header;

/* A validated view into a payload; it does not own the bytes. */
typedef struct {
    const embeddings_header *h;
    const uint64_t *offs;  /* [n_words + 1] */
    const char *blob;      /* [blob_len] */
    const uint32_t *order; /* [n_words] */
    const float *matrix;   /* [n_words][dim] */
} embeddings_view;

/* Serialize n_words words of dim floats each: word w is
 * words[offs[w] .. offs[w+1]) (offs is [n_words + 1], no terminators needed)
 * and matrix is [n_words][dim]. A repeated word or a value that is not finite
 * is PPR_EINPUT naming the word; *payload is malloc'd. */
int embeddings_pack(uint32_t n_words, uint32_t dim, const char *words, const uint64_t *offs,
                    const float *matrix, void **payload, size_t *size, ppr_err *e);

/* Check the layout, the words, that order sorts them strictly (so no word
 * repeats) and that every value is finite; a bad payload is PPR_EINPUT naming
 * `what`. */
int embeddings_view_init(embeddings_view *v, const void *payload, size_t n, const char *what,
                         ppr_err *e);

/* The row of the word of these len bytes, or -1. */
int64_t embeddings_find(const embeddings_view *v, const char *word, size_t len);

/* Word w (NUL-terminated); *len (if not NULL) receives its length. */
const char *embeddings_word(const embeddings_view *v, uint32_t w, size_t *len);

static inline const float *embeddings_row(const embeddings_view *v, uint32_t w)
{
    return v->matrix + (size_t)w * v->h->dim;
}

#endif
