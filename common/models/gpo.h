/* gpo.h: GPO's model and its network (gpo.c the method, gpo_net.c the
 * network's forward and backward passes and its loss), shared by the two
 * files only. */
#ifndef PPR_MODELS_GPO_H
#define PPR_MODELS_GPO_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/models/layers.h"
#include "common/models/method.h"

/* The settings: the architecture and the meta-training draws. */
typedef struct {
    uint32_t d_model, layers, heads, ff, embed_depth;
    uint32_t ctx_min, ctx_max, tar_min, tar_max, eval_context, groups;
} gpo_arch;

/* One forward and backward pass's buffers, carved from one arena. */
typedef struct {
    float *arena;
    size_t cap_arena;
    float *tok;    /* [rows][2 dim + 1] the tokens */
    float *act;    /* [embed_depth + layers][rows][d_model] every stage's output */
    float *z, *h;  /* [n_tar][d_model] the targets' last stage; the head's hidden layer */
    float *out;    /* [n_tar][2] (m_raw, s) */
    float *dz, *dh, *dout; /* their gradients */
    float *ga, *gb;        /* [rows][d_model] gradients through the stages */
    uint32_t *seq;         /* [2 n_seq + 1] start [n_seq + 1], then n_ctx [n_seq] */
    size_t cap_seq;
    encoder_ws *enc;       /* [layers] */
} gpo_work;

typedef struct {
    method base;
    gpo_arch a;
    dense *embed;        /* [embed_depth] */
    encoder_layer *enc;  /* [layers] */
    dense head1, head2;
    size_t n_net;        /* the network's parameters */
    float *params, *grads; /* [n_net] */
    uint8_t *decay;        /* [n_net] 1 on weights, 0 on biases and norms */
    /* Contexts: slot u < n_users is training user u's, slot n_users + j
     * adapted user adapted[j]'s. */
    uint32_t *ctx_n;     /* [n_users + n_adapted] pairs of each context; 0: none */
    float **ctx;         /* [n_users + n_adapted] each [ctx_n][3][dim] */
    uint32_t *adapted;   /* [n_adapted] strictly increasing, >= n_users */
    uint32_t n_adapted;
    gpo_work w;
    const pair_set *task_ps; /* method_task's pairs */
} gpo;

/* Grow the work buffers for rows tokens (n_tar of them targets) in n_seq
 * sequences; the pointers move, so tokens are written after this. */
int gpo_work_fit(gpo *g, size_t rows, size_t n_tar, size_t n_seq, ppr_err *e);

/* x [2 dim + 1] = [prompt; response; y]. */
void gpo_token_put(float *x, const float *prompt, const float *response, uint32_t dim,
                   float y);

/* x [2][2 dim + 1]: a question's two tokens, chosen then rejected; y 1 and 0
 * for a context question, both 0 for a target. */
void gpo_question_put(float *x, const float *prompt, const float *chosen,
                      const float *rejected, uint32_t dim, int context);

/* The network over w->tok's tokens packed as sb's sequences: the targets'
 * (m_raw, s) into w->out [n_tar][2], in sequence order. */
int gpo_net_forward(gpo *g, const seq_batch *sb, size_t n_tar, ppr_err *e);

/* After gpo_net_forward: grads += dL/dparams for dL/dout = w->dout. */
int gpo_net_backward(gpo *g, const seq_batch *sb, size_t n_tar, ppr_err *e);

/* dout [2 n_q][2] = the gradient of the loss of n_q target questions, each
 * two rows of out [2 n_q][2] (m_raw, s), the chosen option (y = 1) first:
 * scale times minus the sum over the rows of log N(y; mean, exp(s)^2), a
 * question's means the softmax of its m_raw (methods.md section 8's notes:
 * dL/dmean = (mean - y) / std^2, dL/ds = 1 - (y - mean)^2 / std^2). */
void gpo_nll_grad(const float *out, size_t n_q, double scale, float *dout);

#endif
