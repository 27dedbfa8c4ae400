/* prefs.h: the preference dataset payload (PAYLOAD_PREFS), design section 7.
 *
 * A dataset is a table of rows (user, prompt, chosen, rejected, split) whose texts
 * are deduplicated in a text table. The payload is little-endian and readable in
 * place after decompression: a header of section offsets (all 8-byte aligned),
 * then the sections:
 *
 *   names   char[names_len]        user names, each NUL-terminated
 *   users   prefs_user[n_users]
 *   offs    uint64[n_texts + 1]    text t is blob[offs[t] .. offs[t+1])
 *   blob    char[blob_len]         texts, each followed by a NUL (not counted)
 *   hashes  uint8[n_texts][32]     SHA-256 of each text's bytes
 *   rows    prefs_row[n_rows]
 *
 * A row's label is its order: the user preferred `chosen` over `rejected`.
 * p_chosen is the true probability of that preference where the source knows it
 * (the simulator), NaN elsewhere. */
#ifndef PPR_PREFS_H
#define PPR_PREFS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define PREFS_MAGIC "PPRPREF1"

/* The prompt Conditional RM reads for a user (paper.md 1.3; the official code's
 * f"User ID: {uid}\n{prompt}"), printf-style with the user's name, followed by
 * the prompt's bytes. Stage 03 encodes these texts, stage 04 looks them up. */
#define PREFS_CONDITIONAL_PREFIX "User ID: %s\n"

enum prefs_split {
    PREFS_TRAIN = 0,
    PREFS_TEST = 1,
};

enum prefs_pool {
    PREFS_POOL_MAIN = 0, /* the dataset's users */
    PREFS_POOL_NEW = 1,  /* new users held out for adaptation (stage 07) */
};

typedef struct {
    char magic[8];
    uint32_t n_users, n_texts, n_rows, reserved;
    uint64_t names_off, names_len;
    uint64_t users_off;
    uint64_t offs_off;
    uint64_t blob_off, blob_len;
    uint64_t hashes_off;
    uint64_t rows_off;
} prefs_header;

typedef struct {
    uint32_t name_off; /* into names */
    uint32_t pool;     /* enum prefs_pool */
} prefs_user;

typedef struct {
    uint32_t user, prompt, chosen, rejected; /* user id; text ids */
    uint32_t split;                           /* enum prefs_split */
    float p_chosen;                           /* true P(chosen > rejected) or NaN */
} prefs_row;

/* A validated view into a payload; it does not own the bytes. */
typedef struct {
    const prefs_header *h;
    const char *names;
    const prefs_user *users;   /* [n_users] */
    const uint64_t *offs;      /* [n_texts + 1] */
    const char *blob;          /* [blob_len] */
    const unsigned char *hashes; /* [n_texts][32] */
    const prefs_row *rows;     /* [n_rows] */
} prefs_view;

/* Check every offset, length and id, and that the main pool's users come
 * first (ids 0 .. prefs_n_main - 1, the new users after them); a bad payload
 * is PPR_EINPUT naming `what`. */
int prefs_view_init(prefs_view *v, const void *payload, size_t n, const char *what,
                    ppr_err *e);
/* How many users the main pool has: the ids below it are theirs. */
uint32_t prefs_n_main(const prefs_view *v);
const char *prefs_user_name(const prefs_view *v, uint32_t user);
const char *prefs_text(const prefs_view *v, uint32_t text, size_t *len);

typedef struct prefs_builder prefs_builder;

prefs_builder *prefs_builder_new(void);
void prefs_builder_free(prefs_builder *b);
/* Returns the user id (>= 0) or -1 when out of memory. */
int64_t prefs_builder_user(prefs_builder *b, const char *name, uint32_t pool);
/* Returns the text id of these bytes, adding them once (dedup by SHA-256), or -1. */
int64_t prefs_builder_text(prefs_builder *b, const char *s, size_t n);
int prefs_builder_row(prefs_builder *b, const prefs_row *r, ppr_err *e);
/* As prefs_builder_row, but the row's train/test side is decided by key[n]
 * instead of its prompt text: rows that share a key (one task asked in six
 * languages, say) land on one side. */
int prefs_builder_row_keyed(prefs_builder *b, const prefs_row *r, const char *key, size_t n,
                            ppr_err *e);
/* Assign every row to train or test by its split key (the prompt text unless
 * the row was added with a key): test when the first 8 bytes of the key's
 * SHA-256, read as a little-endian fraction of 2^64, are below test_fraction.
 * No seed: a key lands on the same side in every run and every dataset, so no
 * evaluation prompt or task is ever trained on. */
void prefs_builder_split(prefs_builder *b, double test_fraction);
/* Ask finish to interleave the users' rows, for sources that list each user's
 * rows in a block of its own (one file per user, say), whatever split is
 * assigned in between: within each split, user u's k-th of n rows goes to
 * position (k + 1/2) / n, ties to the lower user id, so every prefix of a split
 * holds each user's rows in proportion to the user's share of the split (equal
 * shares: round-robin). Each user's rows keep their order; no randomness. */
void prefs_builder_interleave(prefs_builder *b);

/* Serialize; *payload is malloc'd. Rows keep their insertion order unless
 * prefs_builder_interleave asked for the interleaved one. */
int prefs_builder_finish(prefs_builder *b, void **payload, size_t *n, ppr_err *e);

#endif
