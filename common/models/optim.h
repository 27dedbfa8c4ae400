/* optim.h: training arithmetic shared by every method: the Bradley-Terry loss
 * with a numerically stable softplus, AdamW (decoupled weight decay, not on
 * biases), global gradient-norm clipping, and a linear warmup then linear decay
 * learning-rate schedule (the official code's `linear` schedule) or warmup then
 * cosine decay (VPL's and GPO's). */
#ifndef PPR_MODELS_OPTIM_H
#define PPR_MODELS_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Sum over i of w[i] * softplus(-(rc[i] - rr[i])) divided by sum of w (w NULL:
 * all 1), computed in double. Writes d_rc[i] = dLoss/drc[i] and d_rr[i] =
 * -d_rc[i]. Returns the loss. softplus(t) = max(t, 0) + log1p(exp(-|t|)): no
 * overflow for any t. When the weights sum to 0 (or n is 0) the loss and the
 * gradients are 0. */
double bt_loss(const float *rc, const float *rr, const float *w, size_t n, float *d_rc,
               float *d_rr);

typedef struct {
    double lr;           /* peak learning rate */
    double beta1, beta2; /* 0.9, 0.999 */
    double eps;          /* 1e-8 */
    double weight_decay; /* decoupled, on weights only */
    double clip;         /* max global gradient norm; 0: none */
    uint64_t warmup;     /* steps of linear warmup */
    uint64_t total;      /* steps in all; decay to 0 after warmup */
    int cosine;          /* 1: cosine decay after warmup (torch's CosineAnnealingLR, the
                            official VPL and GPO schedules); 0: linear */
} adamw_cfg;

typedef struct {
    adamw_cfg cfg;
    float *m, *v;         /* [n] first and second moments, float32 as in torch */
    const uint8_t *decay; /* [n] 1 where weight decay applies; borrowed, not NULL */
    size_t n;
    uint64_t step;
} adamw;

/* A negative or non-finite lr, weight decay or clip, eps <= 0 or a beta
 * outside [0, 1) is PPR_EINPUT. */
int adamw_init(adamw *o, const adamw_cfg *cfg, size_t n, const uint8_t *decay, ppr_err *e);
void adamw_release(adamw *o);

/* The learning rate of step t (0-based) under cfg's schedule: lr * (t + 1) /
 * (warmup + 1) while t < warmup, then lr * (total - t) / (total - warmup)
 * (cosine: lr * (1 + cos(pi (t - warmup) / (total - warmup))) / 2), 0 from
 * t = total on. Hugging Face's get_linear_schedule_with_warmup ramps
 * lr * t / warmup instead, whose first step has rate 0: a one-step run would
 * train nothing. Here every step taken moves the weights, and the ramp still
 * reaches lr at t = warmup. */
double adamw_lr(const adamw_cfg *cfg, uint64_t t);

/* Clip grads [n] to cfg.clip in global L2 norm (scaled by clip / (norm +
 * 1e-6) when that is below 1, as torch's clip_grad_norm_), then one AdamW step
 * on params [n] at adamw_lr(cfg, step). The step consumes the gradient: grads
 * are all zero on return, ready for the next minibatch to accumulate into
 * (no zeroing pass needed between steps). Returns the norm before clipping. */
double adamw_step(adamw *o, float *params, float *grads);

#endif
