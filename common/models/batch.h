/* batch.h: the input of a minibatch as column blocks of a head (mlp_block),
 * each given by its distinct rows: block 0 the prompts' feature rows, block 1
 * the responses', block 2 (for a head that reads a user embedding, PRM) the
 * user rows. Many pairs of a minibatch share a prompt, and PRM's user and
 * generic rows share their features, so de-duplicating the rows first lets
 * the first layer's GEMMs run over distinct rows only. */
#ifndef PPR_MODELS_BATCH_H
#define PPR_MODELS_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/models/mlp.h"
#include "common/models/pairs.h"

enum { BLOCK_PROMPT, BLOCK_RESPONSE, BLOCK_USER, N_BLOCKS };

/* id says what each batch row reads: a feature row, or in block 2 whatever
 * the method numbers its user rows by. */
typedef struct {
    uint32_t *id[N_BLOCKS];    /* [rows] */
    uint32_t *map[N_BLOCKS];   /* [rows] each row's distinct row */
    uint32_t *first[N_BLOCKS]; /* [rows] the distinct ids, first seen first */
    float *rows[N_BLOCKS];     /* [distinct][width] */
    float *grad;               /* [distinct][user_dim] dLoss/d(block 2's rows) */
    uint32_t *table;           /* [2 cap] scratch of the de-duplication */
    float *v;                  /* [3 cap] scratch: rewards, dLoss/dr, loss weights */
    mlp_block blocks[N_BLOCKS];
    size_t cap;                /* rows each array holds */
    uint32_t dim, user_dim;    /* widths of the feature blocks and of block 2 (0: none) */
} batch_in;

/* An empty batch for dim-wide features and user_dim-wide user rows (0: the
 * head reads no block 2); arrays grow on demand. */
void batch_init(batch_in *in, uint32_t dim, uint32_t user_dim);
void batch_release(batch_in *in);
/* Room for a batch of rows rows. */
int batch_fit(batch_in *in, size_t rows, ppr_err *e);
/* How many blocks the head reads: 3 with user rows, else 2. */
int batch_blocks(const batch_in *in);

/* id [b]: pair idx[i]'s prompt row (block 0). */
void batch_ids_prompt(const pair_set *ps, const uint32_t *idx, size_t b, uint32_t *id);
/* id [b]: pair idx[i]'s chosen (which 0) or rejected (1) row (block 1). */
void batch_ids_response(const pair_set *ps, const uint32_t *idx, size_t b, int which,
                        uint32_t *id);
/* Room for and the feature ids of 2b rows: pair idx[i]'s chosen response at
 * row i and its rejected one at row b + i, each with its prompt; block 2's
 * ids are left to the caller. */
int batch_pairs(batch_in *in, const pair_set *ps, const uint32_t *idx, size_t b, ppr_err *e);
/* De-duplicate block 2's ids of a batch of rows rows into its map and first
 * (whether or not the head reads block 2); returns how many are distinct. */
size_t batch_users(batch_in *in, size_t rows);
/* The blocks of a batch of rows rows whose ids are set: each block
 * de-duplicated, the feature blocks' distinct rows copied from ps's matrix;
 * block 2's rows are the caller's to fill (in->first[BLOCK_USER] says whose). */
void batch_build(batch_in *in, const pair_set *ps, size_t rows);

#endif
