/* mlp.h: the reward head every Bradley-Terry method trains (design section 11):
 * a multi-layer perceptron from an input vector to one scalar reward, ReLU
 * between layers, forward and backward through OpenBLAS GEMMs on row-major
 * float32 batches. All parameters live in one contiguous vector (and their
 * gradients in another) so that the optimizer and checkpoints see one array. */
#ifndef PPR_MODELS_MLP_H
#define PPR_MODELS_MLP_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define MLP_MAX_LAYERS 8

typedef struct {
    uint32_t n_layers;                 /* linear layers; the last maps to 1 output */
    uint32_t dims[MLP_MAX_LAYERS + 1]; /* dims[0] = input, dims[n_layers] = 1 */
    float *params;                     /* [n_params]: per layer W [out][in], then b [out];
                                          then n_extra values of the method's own */
    float *grads;                      /* [n_params], same layout */
    size_t n_params, n_extra;
    size_t w_off[MLP_MAX_LAYERS], b_off[MLP_MAX_LAYERS]; /* offsets into params */
} mlp;

/* Activations kept by a forward pass for the backward pass, grown on demand
 * by mlp_forward (start from a zeroed mlp_ws; one may serve several heads),
 * so that a steady batch size allocates nothing. */
typedef struct {
    float *act[MLP_MAX_LAYERS];     /* act[l] [rows][dims[l]] after the ReLU, 1 <= l < n_layers;
                                       act[0] unused (the input is the caller's) */
    float *delta[2];                /* scratch [rows][widest layer] for dL/d(pre-activation) */
    float *part;                    /* scratch [distinct rows][dims[1]]: a block's share of
                                       the first layer, or its rows' summed deltas */
    size_t act_cap[MLP_MAX_LAYERS]; /* floats each buffer holds */
    size_t delta_cap[2], part_cap;
} mlp_ws;

/* One block of columns of the input, given by its distinct rows: batch row i
 * reads rows[map[i]] in these columns (map NULL: rows[i]). A head over
 * [phi(prompt); phi(response)] thus multiplies each prompt once per minibatch
 * however many of the batch's rows share it, and PRM's user and generic rows
 * share their features' product: W1 x = sum over blocks of W1[:, block] x_block,
 * so the first layer's GEMMs run over distinct rows only. */
typedef struct {
    const float *rows;   /* [n_rows][width] */
    size_t n_rows;
    uint32_t width;      /* the blocks' widths add up to dims[0], in column order */
    const uint32_t *map; /* [n] each batch row's row in rows, or NULL */
    float *grad;         /* [n_rows][width] set to dL/drows by the backward pass, or NULL */
} mlp_block;

/* in inputs, hidden widths hidden[0 .. n_hidden-1], then one output. Weights
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)) like PyTorch's nn.Linear, biases too,
 * from rng_seed(seed, 0): the same seed gives the same bits. n_extra further
 * parameters (zero) follow the layers in params and grads, for a method's own
 * (PRM's user embeddings), so one optimizer and one checkpoint cover all.
 * A zero width, more than MLP_MAX_LAYERS layers or a width beyond a BLAS int
 * is PPR_EINPUT. */
int mlp_init(mlp *m, uint32_t in, const uint32_t *hidden, uint32_t n_hidden, size_t n_extra,
             uint64_t seed, ppr_err *e);

/* mask [n_params]: 1 for weights and extra parameters (weight decay applies),
 * 0 for biases. */
void mlp_decay_mask(const mlp *m, uint8_t *mask);
void mlp_release(mlp *m);
void mlp_ws_release(mlp_ws *ws);

/* r[i] = head(X[i]) for X [n][dims[0]] row-major; n fits a BLAS int. */
int mlp_forward(const mlp *m, mlp_ws *ws, const float *X, size_t n, float *r, ppr_err *e);

/* After mlp_forward on the same X and n: add dL/dparams for dL/dr = dr [n]
 * to m->grads (the extra parameters' stay as they are); if dX is not NULL, set
 * dX [n][dims[0]] = dL/dX, which costs one more GEMM of the first layer's size. */
int mlp_backward(mlp *m, mlp_ws *ws, const float *X, size_t n, const float *dr, float *dX,
                 ppr_err *e);

/* The same over n batch rows given as n_blocks blocks (mlp_forward is one
 * block without a map). Widths that do not add up to dims[0], or a map entry
 * beyond its block's rows, is PPR_EINTERNAL. */
int mlp_forward_blocks(const mlp *m, mlp_ws *ws, const mlp_block *blocks, int n_blocks, size_t n,
                       float *r, ppr_err *e);
int mlp_backward_blocks(mlp *m, mlp_ws *ws, const mlp_block *blocks, int n_blocks, size_t n,
                        const float *dr, ppr_err *e);

/* The same with per-row output weights (a head with a hidden layer): row i's
 * reward is the head's plus wr[i] . h_i, h_i [k] being the last hidden
 * layer's output (k = dims[n_layers - 1]), as if its output weights were
 * w + wr[i]; wr [n][k], NULL for none. The backward also sets gwr [n][k] =
 * dL/dwr[i] = dr[i] h_i (gwr NULL: not wanted). */
int mlp_forward_rows(const mlp *m, mlp_ws *ws, const mlp_block *blocks, int n_blocks, size_t n,
                     const float *wr, float *r, ppr_err *e);
int mlp_backward_rows(mlp *m, mlp_ws *ws, const mlp_block *blocks, int n_blocks, size_t n,
                      const float *dr, const float *wr, float *gwr, ppr_err *e);
void mlp_zero_grad(mlp *m);

#endif
