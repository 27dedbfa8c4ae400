/* bt.h: what the Bradley-Terry head methods (shared.c, individual.c, prm.c;
 * methods.md sections 1-3) have in common: one or more MLP heads (mlp.h) over
 * [phi(prompt); phi(response)] (and, for PRM, a user row), trained on the BT
 * loss by the shared trainer, scored in chunks, saved as a shape and the
 * heads' parameters, and started from a reference's head. */
#ifndef PPR_MODELS_BT_H
#define PPR_MODELS_BT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/models/batch.h"
#include "common/models/method.h"
#include "common/models/mlp.h"
#include "common/models/trainer.h"

#define BT_MAX_HIDDEN 4 /* hidden layers a head may have */

/* rng streams under a seed. The trainer's shuffles use streams 0 .. epochs-1
 * of the seed itself; per-user seeds are drawn from these. */
#define BT_STREAM_HEAD (1ULL << 32)    /* + head: the seed mlp_init gets */
#define BT_STREAM_SHUFFLE (2ULL << 32) /* + user: per-user trainer seeds */
#define BT_STREAM_USERS (3ULL << 32)   /* prm's initial embeddings */

typedef struct bt_model bt_model;

/* What a minibatch function needs beside the pair indices. */
typedef struct {
    bt_model *md;
    mlp *head;
    const pair_set *ps;
} bt_ctx;

struct bt_model {
    method base;
    uint32_t n_hidden, hidden[BT_MAX_HIDDEN];
    uint32_t in;       /* head input width: 2 dim + the user row's width */
    mlp *heads;        /* [n_heads] */
    uint32_t n_heads;
    uint8_t *decay;    /* [n_params] weight-decay mask of a head */
    mlp_ws ws;
    batch_in batch;    /* the current batch's input blocks */
    bt_ctx ctx;        /* the current training task's */
    /* Scoring: the head that scores user u (-1: none; NULL: always head 0),
     * and what a batch's users add once block 2's ids (1 + u) are set: block
     * 2's rows, or per-row output weights *wr [rows][k] (mlp_forward_rows; NULL
     * for none). NULL: the head reads no user information. */
    int64_t (*head_of)(const bt_model *md, uint32_t u);
    int (*users)(bt_model *md, size_t rows, const float **wr, ppr_err *e);
};

/* The common part of a BT method's model file shape. */
typedef struct {
    uint32_t n_hidden, hidden[BT_MAX_HIDDEN]; /* unused widths 0 */
    uint32_t user_dim;                        /* width of the user row; 0: none */
    uint32_t n_heads;
    uint32_t reserved;                        /* 0 */
    uint64_t head_params;                     /* per head, extra parameters included */
} bt_shape;

_Static_assert(sizeof(bt_shape) == 40, "bt_shape has no hidden padding");

uint64_t bt_seed(uint64_t seed, uint64_t stream);

/* The heads' hidden widths: settings' "head": {"hidden": [...]}. */
int bt_hidden_read(const cJSON *settings, uint32_t *n_hidden, uint32_t *hidden, ppr_err *e);

/* A model of n_heads heads of in = 2 dim + user_dim inputs, each with
 * n_extra extra parameters (zero), head h seeded from bt_seed(seed,
 * BT_STREAM_HEAD + h). A bad shape is PPR_EINPUT naming `what`. */
int bt_init(bt_model *md, const method_ops *ops, uint32_t dim, uint32_t n_users,
            uint32_t n_hidden, const uint32_t *hidden, uint32_t user_dim, size_t n_extra,
            uint32_t n_heads, uint64_t seed, const char *what, ppr_err *e);
void bt_release(bt_model *md);

/* A shape laid out as bt_shape, a method's fixed tail [tail_bytes], then
 * uint32 ids [n_ids] (adapted users): its size, writing it from md, and
 * reading the first two parts back (shape_bytes at least their size). */
size_t bt_shape_size(size_t tail_bytes, uint32_t n_ids);
void bt_shape_write(const bt_model *md, const void *tail, size_t tail_bytes, const uint32_t *ids,
                    uint32_t n_ids, void *shape);
int bt_shape_read(const void *shape, size_t shape_bytes, bt_shape *s, void *tail,
                  size_t tail_bytes, const char *what, ppr_err *e);
/* n_extra: the extra parameters each head of this shape must have. The sizes
 * are checked before anything is allocated for them. */
int bt_shape_check(const bt_shape *s, uint32_t dim, uint64_t n_extra, const char *what,
                   ppr_err *e);
/* Every head's parameters, in order, to or from params (n_heads x
 * heads[0].n_params floats; the model file's, read with memcpy). */
void bt_params_save(const bt_model *md, float *params);
void bt_params_load(bt_model *md, const void *params);
/* method_ops.settings of a method whose only settings are the widths:
 * {"head": {"hidden": [...]}}, as in a stage's slice. */
cJSON *bt_plain_settings(const method *m);

/* The task of training head h on ps with the batch function fn. */
trainer_task bt_task(bt_model *md, mlp *h, const pair_set *ps, trainer_batch_fn fn);
/* The BT loss of one head over the rows of batch_pairs (ctx: a bt_ctx). */
int bt_batch_plain(void *ctx, const uint32_t *idx, size_t b, ppr_err *e);
/* Train head h on the n pairs subset[] with fn. */
int bt_head_train(bt_model *md, mlp *h, const pair_set *ps, const uint32_t *subset, size_t n,
                  trainer_batch_fn fn, const optim_settings *o, uint64_t seed, ppr_err *e);

/* Train head 0 on rows 0 .. n_rows-1 of ps (its pairs, or what fn makes of
 * such indices: PRM's 2n rows) with fn, shuffled from o->seed. */
int bt_train_all(method *m, const pair_set *ps, size_t n_rows, trainer_batch_fn fn,
                 const optim_settings *o, ppr_err *e);
/* The task of training head 0 on ps with fn (method_ops.task). */
int bt_first_task(method *m, const pair_set *ps, trainer_batch_fn fn, trainer_task *t,
                  ppr_err *e);

int bt_score(method *m, const pair_set *ps, int which, float *r, ppr_err *e);
int bt_init_from(method *m, const method *src, ppr_err *e);

/* Users fitted by adapt, a strictly increasing list ids [n]: the index of u
 * or -1; the slot of u, inserted when new (*fresh 1); a slot removed. */
int64_t bt_adapted_find(const uint32_t *ids, uint32_t n, uint32_t u);
int bt_adapted_slot(uint32_t **ids, uint32_t *n, uint32_t u, uint32_t *j, int *fresh,
                    ppr_err *e);
void bt_adapted_drop(uint32_t *ids, uint32_t *n, uint32_t j);
/* Set u's row of rows [n][width] (parallel to ids) to row [width]: u's slot
 * when it has one, else a new slot (*fresh 1) inserted in both. */
int bt_adapted_put(uint32_t **ids, uint32_t *n, uint32_t u, float **rows, size_t width,
                   const float *row, int *fresh, ppr_err *e);
/* Check a model file's adapted ids [n] (each >= n_users, increasing) and
 * copy them to a new array *out. */
int bt_adapted_read(const void *src, uint32_t n, uint32_t n_users, uint32_t **out,
                    const char *what, ppr_err *e);

#endif
