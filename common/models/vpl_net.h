/* vpl_net.h: VPL's network (methods.md section 4), for vpl.c: the pair
 * encoder, the one-head self-attention over a context with the mean of its
 * rows, the mu and logvar layers with their clamps to [-1, 1], and the reward
 * decoder, built from layers.h in one contiguous parameter vector; their
 * forward and backward passes over a batch of contexts, and the buffers they
 * keep. What feeds the decoder (the sampled and rescaled z in training, mu at
 * scoring) is vpl.c's. */
#ifndef PPR_MODELS_VPL_NET_H
#define PPR_MODELS_VPL_NET_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/models/layers.h"
#include "common/models/pairs.h"
#include "common/rng.h"

typedef struct {
    uint32_t dim, latent, hidden;
    dense e1, e2, e3; /* pair encoder: 3 dim -> hidden -> hidden -> latent */
    attention att;    /* latent wide, one head, no output projection */
    dense mu, lv;     /* latent -> latent each */
    dense d1, d2, d3; /* decoder: 2 dim + latent -> hidden -> hidden -> 1 */
    size_t n;         /* parameters in all, in the order above */
} vpl_net;

/* A pass's buffers, grown on demand (start zeroed). */
typedef struct {
    attention_ws att;
    /* Contexts: sequence s is rows start[s] .. start[s + 1] - 1, row j
     * reading pair pair[j], the map[j]-th of the distinct pairs dist. */
    uint32_t *ids; /* the arena of the arrays below */
    size_t cap_ids;
    uint32_t *pair, *dist, *map; /* [rows] */
    uint32_t *start;             /* [n_seq + 1] */
    uint32_t *n_ctx, *target;    /* [n_seq] context lengths; the caller's per sequence */
    float *arena;                /* the arrays below */
    size_t cap_arena;
    float *xe, *e1, *e2, *m, *dm;      /* [distinct][3 dim], [.][hidden] x2, [.][latent] x2 */
    float *xa, *ya, *dya, *dxa;        /* [rows][latent] attention in- and output */
    float *s, *mu, *lv, *muc, *lvc;    /* [n_seq][latent] mean, raw and clamped mu, logvar */
    float *eps, *zr, *z, *dmu, *dlv;   /* [n_seq][latent] the caller's sampling; dL/d(muc,
                                          lvc) */
    float *ds, *ds2;                   /* [n_seq][latent] */
    float *xd, *d1, *d2, *dz, *r, *dr; /* [n_dec][2 dim + latent], [.][hidden] x2, [.][latent],
                                          [n_dec] x2 */
    float *ga, *gb;                    /* [max(distinct, n_dec)][hidden] backward scratch */
} vpl_ws;

/* The layers for dim-wide features placed one after another; returns n. */
size_t vpl_net_place(vpl_net *n, uint32_t dim, uint32_t latent, uint32_t hidden);
/* Every layer from r in placement order (layers.h's nn.Linear init). */
void vpl_net_init(const vpl_net *n, float *params, rng *r);
/* mask [n.n]: 1 on weights, 0 on biases. */
void vpl_net_decay_mask(const vpl_net *n, uint8_t *mask);
void vpl_ws_release(vpl_ws *w);

/* Room for n_seq sequences of rows rows in all (the id arrays). */
int vpl_ws_fit_ids(vpl_ws *w, size_t n_seq, size_t rows, ppr_err *e);
/* The float arrays of a pass over n_dist distinct context pairs in rows
 * rows, n_seq sequences and n_dec decoder rows. */
int vpl_ws_fit(vpl_ws *w, const vpl_net *n, size_t n_dist, size_t rows, size_t n_seq,
               size_t n_dec, ppr_err *e);

/* mu and logvar, raw (w->mu, w->lv) and clamped (w->muc, w->lvc) [n_seq]
 * [latent], of the n_seq sequences set in w (start, pair, dist [n_dist] and
 * map) over ps's pairs. */
int vpl_encode(const vpl_net *n, const float *params, const pair_set *ps, vpl_ws *w,
               size_t n_seq, size_t n_dist, ppr_err *e);
/* After vpl_encode: grads += dL/dparams of the encoder from dL/d(muc, lvc)
 * in w->dmu and w->dlv (the clamps pass nothing outside [-1, 1]; both are
 * spent). */
int vpl_encode_backward(const vpl_net *n, const float *params, float *grads, vpl_ws *w,
                        size_t n_seq, size_t n_dist, ppr_err *e);

/* out [2 dim + latent]: the decoder row [phi(prompt); phi(response); z] of
 * ps's pair p (which 0: chosen, 1: rejected). */
void vpl_decoder_row(const vpl_net *n, const pair_set *ps, uint32_t p, int which, const float *z,
                     float *out);
/* w->r [n_dec] for the rows w->xd [n_dec]. */
void vpl_decode(const vpl_net *n, const float *params, vpl_ws *w, size_t n_dec);
/* After vpl_decode: grads += dL/dparams of the decoder for dL/dr = w->dr,
 * and w->dz [n_dec][latent] = dL/dz of each row. */
void vpl_decode_backward(const vpl_net *n, const float *params, float *grads, vpl_ws *w,
                         size_t n_dec);

#endif
