/* layers.h: the layers VPL and GPO are built from (methods.md sections 4
 * and 5): dense layers, ReLU and LeakyReLU, layer normalization, multi-head
 * self-attention in which every token attends only to its sequence's first
 * n_ctx tokens (its context), and the post-norm transformer encoder layer
 * made of them. Forward and backward passes are written out by hand over
 * row-major float32 batches; every product of a weight matrix with a batch,
 * and every attention product, is one OpenBLAS GEMM.
 *
 * A layer owns no parameters: it holds offsets into its method's one
 * contiguous parameter vector (and the same offsets into the gradient
 * vector), so that the shared AdamW and the model file see one array. A
 * method places its layers one after another with the *_place functions,
 * which return the next free offset, then allocates that many floats. */
#ifndef PPR_MODELS_LAYERS_H
#define PPR_MODELS_LAYERS_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/rng.h"

/* ---- dense: Y [n][out] = X [n][in] W^T + b ----------------------------------- */

typedef struct {
    uint32_t in, out;
    size_t w, b; /* offsets of W [out][in] and b [out] */
} dense;

/* Place a dense layer at offset at; returns the offset after it. */
size_t dense_place(dense *d, uint32_t in, uint32_t out, size_t at);
/* W and b from U(-1/sqrt(in), 1/sqrt(in)), PyTorch's nn.Linear, drawn from r
 * in order (W row by row, then b). */
void dense_init(const dense *d, float *params, rng *r);
/* mask [n_params]: 1 over W (weight decay applies), 0 over b. */
void dense_decay_mask(const dense *d, uint8_t *mask);
/* Y must not be X; n, in and out fit a BLAS int. */
void dense_forward(const dense *d, const float *params, const float *X, size_t n, float *Y);
/* After dense_forward on X: grads' W and b += dL/d(W, b) for dL/dY = dY;
 * when dX is not NULL, dX [n][in] = dY W (overwritten). */
void dense_backward(const dense *d, const float *params, float *grads, const float *X, size_t n,
                    const float *dY, float *dX);

/* ---- activations, in place over n values --------------------------------------- */

void relu_forward(float *x, size_t n);
/* dy *= [y > 0], y the activation's output. */
void relu_backward(const float *y, float *dy, size_t n);
/* x < 0: slope 0.2 (VPL's nn.LeakyReLU(0.2)). */
void leaky_forward(float *x, size_t n);
void leaky_backward(const float *y, float *dy, size_t n);

/* ---- layer normalization over rows of width dim, eps 1e-5 ------------------------ */

typedef struct {
    uint32_t dim;
    size_t g, b; /* offsets of the gain [dim] (starts 1) and bias [dim] (starts 0) */
} norm;

size_t norm_place(norm *l, uint32_t dim, size_t at);
void norm_init(const norm *l, float *params);
/* Y [n][dim] = (X - mean) / sqrt(var + eps) * g + b per row (biased variance,
 * as torch); stats [n][2] keeps each row's mean and 1 / sqrt(var + eps). Y may
 * be X. */
void norm_forward(const norm *l, const float *params, const float *X, size_t n, float *Y,
                  float *stats);
/* After norm_forward into Y with stats: grads += dL/d(g, b); dX [n][dim] =
 * dL/dX (overwritten; dX may be dY). The normalized input is recovered as
 * (Y - b) / g, which needs no gain to be 0 (layers.c gives the precision). */
void norm_backward(const norm *l, const float *params, float *grads, const float *Y, size_t n,
                   const float *stats, const float *dY, float *dX);

/* ---- attention ----------------------------------------------------------------- */

/* Sequences packed one after another as rows of one batch: sequence s is rows
 * start[s] .. start[s + 1] - 1, and its first n_ctx[s] >= 1 rows are its
 * context: every row of s attends to those rows only (GPO's mask; VPL's
 * encoder has n_ctx = the whole sequence). */
typedef struct {
    uint32_t n_seq;
    const uint32_t *start; /* [n_seq + 1], start[0] = 0 */
    const uint32_t *n_ctx; /* [n_seq] */
} seq_batch;

/* Multi-head self-attention of width dim, heads | dim: Q, K, V = X Wq^T + bq,
 * ...; per head h and sequence s, P = softmax(Q_h K_h[ctx]^T / sqrt(dim /
 * heads)) over the context rows, O_h = P V_h[ctx]; Y = [O_1 ... O_heads]
 * Wo^T + bo, or Y = O when the layer has no output projection (VPL's).
 * attention_place puts Wq, Wk, Wv one after another, then bq, bk, bv, then
 * o (torch's in_proj_weight, in_proj_bias, out_proj), so that Q, K and V are
 * one GEMM with [Wq; Wk; Wv]; q, k and v keep their own offsets. */
typedef struct {
    uint32_t dim, heads;
    int project; /* 1: an output projection o */
    dense q, k, v, o;
} attention;

/* What a forward pass keeps for its backward pass, grown on demand (start
 * zeroed; one workspace per layer of a model). */
typedef struct {
    float *qkv;  /* [rows][3][dim] */
    float *p;    /* the softmax weights, each sequence's [heads][rows][n_ctx] in turn */
    float *o;    /* [rows][dim] the heads' outputs, before the projection (unused
                    without one: the heads write Y) */
    float *grad; /* backward scratch: [rows][3][dim] dL/d(Q, K, V), [rows][dim]
                    dL/dO when projecting, then dP of one sequence and head */
    size_t cap_qkv, cap_p, cap_o, cap_grad;
} attention_ws;

size_t attention_place(attention *a, uint32_t dim, uint32_t heads, int project, size_t at);
void attention_init(const attention *a, float *params, rng *r); /* q, k, v, o in turn */
void attention_decay_mask(const attention *a, uint8_t *mask);
void attention_ws_release(attention_ws *ws);
/* Y [rows][dim] for X [rows][dim], rows = sb->start[sb->n_seq]; Y must not be
 * X (the backward reads X). Heads that do not divide dim are PPR_EINPUT; a
 * seq_batch whose sequences are empty, do not follow one another from row 0
 * or have a context of 0 or more than their rows is PPR_EINTERNAL. */
int attention_forward(const attention *a, const float *params, const seq_batch *sb,
                      const float *X, float *Y, attention_ws *ws, ppr_err *e);
/* After attention_forward on X: grads += dL/dparams for dL/dY = dY; dX =
 * dL/dX (overwritten). */
int attention_backward(const attention *a, const float *params, float *grads,
                       const seq_batch *sb, const float *X, const float *dY, float *dX,
                       attention_ws *ws, ppr_err *e);

/* ---- the transformer encoder layer (torch's, post-norm, ReLU, no dropout) ------- */

/* H = norm1(X + attention(X)); Y = norm2(H + W2 relu(W1 H + b1) + b2). */
typedef struct {
    attention att;
    norm n1, n2;
    dense ff1, ff2;
} encoder_layer;

typedef struct {
    attention_ws att;
    float *h, *f;         /* [rows][dim] H; [rows][ff] relu(W1 H + b1) */
    float *stats1, *stats2; /* [rows][2] */
    float *scratch;       /* [rows][max(dim, ff)] */
    size_t cap_h, cap_f, cap_s1, cap_s2, cap_scratch;
} encoder_ws;

size_t encoder_place(encoder_layer *l, uint32_t dim, uint32_t heads, uint32_t ff, size_t at);
void encoder_init(const encoder_layer *l, float *params, rng *r); /* att, ff1, ff2; norms 1, 0 */
void encoder_decay_mask(const encoder_layer *l, uint8_t *mask);   /* norms' g and b: 0 */
void encoder_ws_release(encoder_ws *ws);
/* Y [rows][dim] for X [rows][dim]; Y must not be X (the backward reads X). */
int encoder_forward(const encoder_layer *l, const float *params, const seq_batch *sb,
                    const float *X, float *Y, encoder_ws *ws, ppr_err *e);
/* After encoder_forward on X into Y: grads += dL/dparams; dX = dL/dX
 * (overwritten; dX may be dY). */
int encoder_backward(const encoder_layer *l, const float *params, float *grads,
                     const seq_batch *sb, const float *X, const float *Y, const float *dY,
                     float *dX, encoder_ws *ws, ppr_err *e);

#endif
