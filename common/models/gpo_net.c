/* gpo_net.c: GPO's network (gpo.h): the embedder, the encoder layers and the
 * head over a step's tokens, forward and backward, and the Gaussian loss's
 * gradient. */
#include "common/models/gpo.h"

#include <math.h>
#include <string.h>

#include "common/mem.h"

/* Grow the work buffers for rows tokens (n_tar of them targets) in n_seq
 * sequences; the pointers move, so tokens are written after this. */
int gpo_work_fit(gpo *g, size_t rows, size_t n_tar, size_t n_seq, ppr_err *e)
{
    gpo_work *w = &g->w;
    size_t d = g->a.d_model, in = 2 * (size_t)g->base.dim + 1;
    size_t stages = (size_t)g->a.embed_depth + g->a.layers;
    size_t sizes[] = {rows * in, stages * rows * d, n_tar * d, n_tar * d, 2 * n_tar,
                      n_tar * d, n_tar * d, 2 * n_tar, rows * d, rows * d};
    float **parts[] = {&w->tok, &w->act, &w->z, &w->h, &w->out,
                       &w->dz, &w->dh, &w->dout, &w->ga, &w->gb};
    size_t total = 0;
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++)
        total += sizes[k];
    if (mem_grow((void **)&w->arena, &w->cap_arena, total, sizeof *w->arena) ||
        mem_grow((void **)&w->seq, &w->cap_seq, 2 * n_seq + 1, sizeof *w->seq))
        return err_nomem(e);
    float *p = w->arena;
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        *parts[k] = p;
        p += sizes[k];
    }
    return PPR_OK;
}

/* [rows][d_model] the output of stage s (embedder layers, then encoder layers). */
static float *gpo_stage(const gpo *g, size_t s, size_t rows)
{
    return g->w.act + s * rows * g->a.d_model;
}

/* x [2 dim + 1] = [prompt; response; y]. */
void gpo_token_put(float *x, const float *prompt, const float *response, uint32_t dim,
                      float y)
{
    memcpy(x, prompt, dim * sizeof *x);
    memcpy(x + dim, response, dim * sizeof *x);
    x[2 * (size_t)dim] = y;
}

/* x [2][2 dim + 1]: a question's two tokens, chosen then rejected; y 1 and 0
 * for a context question, both 0 for a target. */
void gpo_question_put(float *x, const float *prompt, const float *chosen,
                         const float *rejected, uint32_t dim, int context)
{
    gpo_token_put(x, prompt, chosen, dim, context ? 1.0f : 0.0f);
    gpo_token_put(x + 2 * (size_t)dim + 1, prompt, rejected, dim, 0.0f);
}

/* The network over w->tok's tokens packed as sb's sequences: the targets'
 * (m_raw, s) into w->out [n_tar][2], in sequence order. */
int gpo_net_forward(gpo *g, const seq_batch *sb, size_t n_tar, ppr_err *e)
{
    gpo_work *w = &g->w;
    size_t rows = sb->start[sb->n_seq], d = g->a.d_model, depth = g->a.embed_depth;
    const float *x = w->tok;
    for (size_t l = 0; l < depth; l++) {
        float *y = gpo_stage(g, l, rows);
        dense_forward(&g->embed[l], g->params, x, rows, y);
        if (l + 1 < depth)
            relu_forward(y, rows * d);
        x = y;
    }
    for (size_t l = 0; l < g->a.layers; l++) {
        float *y = gpo_stage(g, depth + l, rows);
        int rc = encoder_forward(&g->enc[l], g->params, sb, x, y, &w->enc[l], e);
        if (rc)
            return rc;
        x = y;
    }
    float *z = w->z; /* the head reads the targets only */
    for (uint32_t s = 0; s < sb->n_seq; s++) {
        size_t lo = sb->start[s] + sb->n_ctx[s], n = sb->start[s + 1] - lo;
        memcpy(z, x + lo * d, n * d * sizeof *z);
        z += n * d;
    }
    dense_forward(&g->head1, g->params, w->z, n_tar, w->h);
    relu_forward(w->h, n_tar * d);
    dense_forward(&g->head2, g->params, w->h, n_tar, w->out);
    return PPR_OK;
}

/* After net_forward: grads += dL/dparams for dL/dout = w->dout. */
int gpo_net_backward(gpo *g, const seq_batch *sb, size_t n_tar, ppr_err *e)
{
    gpo_work *w = &g->w;
    size_t rows = sb->start[sb->n_seq], d = g->a.d_model, depth = g->a.embed_depth;
    dense_backward(&g->head2, g->params, g->grads, w->h, n_tar, w->dout, w->dh);
    relu_backward(w->h, w->dh, n_tar * d);
    dense_backward(&g->head1, g->params, g->grads, w->z, n_tar, w->dh, w->dz);
    memset(w->ga, 0, rows * d * sizeof *w->ga); /* context rows of the last stage feed nothing */
    const float *dz = w->dz;
    for (uint32_t s = 0; s < sb->n_seq; s++) {
        size_t lo = sb->start[s] + sb->n_ctx[s], n = sb->start[s + 1] - lo;
        memcpy(w->ga + lo * d, dz, n * d * sizeof *dz);
        dz += n * d;
    }
    for (size_t l = g->a.layers; l-- > 0;) {
        int rc = encoder_backward(&g->enc[l], g->params, g->grads, sb,
                                  gpo_stage(g, depth + l - 1, rows), gpo_stage(g, depth + l, rows),
                                  w->ga, w->ga, &w->enc[l], e);
        if (rc)
            return rc;
    }
    float *dy = w->ga, *dx = w->gb;
    for (size_t l = depth; l-- > 0;) {
        if (l + 1 < depth)
            relu_backward(gpo_stage(g, l, rows), dy, rows * d);
        dense_backward(&g->embed[l], g->params, g->grads, l ? gpo_stage(g, l - 1, rows) : w->tok,
                       rows, dy, l ? dx : NULL);
        float *t = dy;
        dy = dx;
        dx = t;
    }
    return PPR_OK;
}

/* dout [2 n_q][2] = the gradient of the loss of n_q target questions, each
 * two rows of out [2 n_q][2] (m_raw, s), the chosen option (y = 1) first:
 * scale times minus the sum over the rows of log N(y; mean, exp(s)^2), a
 * question's means the softmax of its m_raw (methods.md section 8's notes:
 * dL/dmean = (mean - y) / std^2, dL/ds = 1 - (y - mean)^2 / std^2). */
void gpo_nll_grad(const float *out, size_t n_q, double scale, float *dout)
{
    for (size_t q = 0; q < n_q; q++) {
        const float *o = out + 4 * q;
        double t = (double)o[0] - o[2];
        double mean[2] = {1 / (1 + exp(-t)), 1 / (1 + exp(t))}, y[2] = {1, 0}, dmean[2];
        for (int k = 0; k < 2; k++) {
            double inv_var = exp(-2.0 * o[2 * k + 1]), r = y[k] - mean[k];
            dmean[k] = -r * inv_var;
            dout[4 * q + 2 * k + 1] = (float)(scale * (1 - r * r * inv_var));
        }
        double dt = mean[0] * mean[1] * (dmean[0] - dmean[1]); /* through the softmax */
        dout[4 * q] = (float)(scale * dt);
        dout[4 * q + 2] = (float)(-scale * dt);
    }
}
