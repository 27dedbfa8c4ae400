/* vpl_net.c: VPL's network and its passes (see vpl_net.h). The pair
 * encoder reads each text's row once, [phi(p); phi(y+); phi(y-)]: the
 * official [phi+; phi-] repeats the prompt, whose two column blocks would only
 * add up. The encoder runs once over a batch's distinct context pairs, which
 * many sequences share; the attention then reads each sequence's rows. */
#include "common/models/vpl_net.h"

#include <cblas.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

static float clampf(float x)
{
    return x < -1.0f ? -1.0f : x > 1.0f ? 1.0f : x;
}

size_t vpl_net_place(vpl_net *n, uint32_t dim, uint32_t latent, uint32_t hidden)
{
    uint32_t h = hidden, d = latent;
    n->dim = dim;
    n->latent = d;
    n->hidden = h;
    size_t at = dense_place(&n->e1, 3 * dim, h, 0);
    at = dense_place(&n->e2, h, h, at);
    at = dense_place(&n->e3, h, d, at);
    at = attention_place(&n->att, d, 1, 0, at);
    at = dense_place(&n->mu, d, d, at);
    at = dense_place(&n->lv, d, d, at);
    at = dense_place(&n->d1, 2 * dim + d, h, at);
    at = dense_place(&n->d2, h, h, at);
    at = dense_place(&n->d3, h, 1, at);
    return n->n = at;
}

/* The dense layers in placement order, the attention coming after the third. */
static void net_dense(const vpl_net *n, const dense *out[8])
{
    const dense *all[8] = {&n->e1, &n->e2, &n->e3, &n->mu, &n->lv, &n->d1, &n->d2, &n->d3};
    memcpy(out, all, sizeof all);
}

void vpl_net_init(const vpl_net *n, float *params, rng *r)
{
    const dense *layers[8];
    net_dense(n, layers);
    for (int i = 0; i < 8; i++) {
        if (i == 3)
            attention_init(&n->att, params, r);
        dense_init(layers[i], params, r);
    }
}

void vpl_net_decay_mask(const vpl_net *n, uint8_t *mask)
{
    const dense *layers[8];
    net_dense(n, layers);
    for (int i = 0; i < 8; i++)
        dense_decay_mask(layers[i], mask);
    attention_decay_mask(&n->att, mask);
}

void vpl_ws_release(vpl_ws *w)
{
    attention_ws_release(&w->att);
    free(w->ids);
    free(w->arena);
    memset(w, 0, sizeof *w);
}

int vpl_ws_fit_ids(vpl_ws *w, size_t n_seq, size_t rows, ppr_err *e)
{
    if (rows > INT_MAX || n_seq > INT_MAX)
        return err_set(e, PPR_EINPUT, "vpl: a batch of %zu contexts in %zu rows is too large",
                       n_seq, rows);
    if (mem_grow((void **)&w->ids, &w->cap_ids, 3 * rows + 3 * n_seq + 1, sizeof *w->ids))
        return err_nomem(e);
    w->pair = w->ids;
    w->dist = w->pair + rows;
    w->map = w->dist + rows;
    w->start = w->map + rows;
    w->n_ctx = w->start + n_seq + 1;
    w->target = w->n_ctx + n_seq;
    return PPR_OK;
}

int vpl_ws_fit(vpl_ws *w, const vpl_net *n, size_t n_dist, size_t rows, size_t n_seq,
               size_t n_dec, ppr_err *e)
{
    size_t dim = n->dim, d = n->latent, h = n->hidden;
    size_t scratch = n_dist > n_dec ? n_dist : n_dec;
    if (n_dec > INT_MAX)
        return err_set(e, PPR_EINPUT, "vpl: a batch of %zu rows is too large", n_dec);
    struct {
        float **p;
        size_t rows, width;
    } part[] = {
        {&w->xe, n_dist, 3 * dim},    {&w->e1, n_dist, h},  {&w->e2, n_dist, h},
        {&w->m, n_dist, d},           {&w->dm, n_dist, d},  {&w->xa, rows, d},
        {&w->ya, rows, d},            {&w->dya, rows, d},   {&w->dxa, rows, d},
        {&w->s, n_seq, d},            {&w->mu, n_seq, d},   {&w->lv, n_seq, d},
        {&w->muc, n_seq, d},          {&w->lvc, n_seq, d},  {&w->eps, n_seq, d},
        {&w->zr, n_seq, d},           {&w->z, n_seq, d},    {&w->dmu, n_seq, d},
        {&w->dlv, n_seq, d},          {&w->ds, n_seq, d},   {&w->ds2, n_seq, d},
        {&w->xd, n_dec, 2 * dim + d}, {&w->d1, n_dec, h},   {&w->d2, n_dec, h},
        {&w->dz, n_dec, d},           {&w->r, n_dec, 1},    {&w->dr, n_dec, 1},
        {&w->ga, scratch, h},         {&w->gb, scratch, h},
    };
    size_t n_parts = sizeof part / sizeof *part, need = 0, size;
    for (size_t i = 0; i < n_parts; i++)
        if (__builtin_mul_overflow(part[i].rows, part[i].width, &size) ||
            __builtin_add_overflow(need, size, &need))
            return err_nomem(e);
    if (mem_grow((void **)&w->arena, &w->cap_arena, need ? need : 1, sizeof *w->arena))
        return err_nomem(e);
    float *at = w->arena;
    for (size_t i = 0; i < n_parts; i++) {
        *part[i].p = at;
        at += part[i].rows * part[i].width;
    }
    return PPR_OK;
}

int vpl_encode(const vpl_net *n, const float *P, const pair_set *ps, vpl_ws *w, size_t n_seq,
               size_t n_dist, ppr_err *e)
{
    size_t dim = n->dim, d = n->latent, h = n->hidden, rows = w->start[n_seq];
    for (size_t k = 0; k < n_dist; k++)
        for (size_t t = 0; t < 3; t++)
            memcpy(w->xe + (3 * k + t) * dim,
                   ps->matrix + (size_t)ps->rows[3 * (size_t)w->dist[k] + t] * dim,
                   dim * sizeof *w->xe);
    dense_forward(&n->e1, P, w->xe, n_dist, w->e1);
    leaky_forward(w->e1, n_dist * h);
    dense_forward(&n->e2, P, w->e1, n_dist, w->e2);
    leaky_forward(w->e2, n_dist * h);
    dense_forward(&n->e3, P, w->e2, n_dist, w->m);
    for (size_t j = 0; j < rows; j++)
        memcpy(w->xa + j * d, w->m + (size_t)w->map[j] * d, d * sizeof *w->xa);
    for (size_t s = 0; s < n_seq; s++)
        w->n_ctx[s] = w->start[s + 1] - w->start[s];
    seq_batch sb = {(uint32_t)n_seq, w->start, w->n_ctx};
    int rc = attention_forward(&n->att, P, &sb, w->xa, w->ya, &w->att, e);
    if (rc)
        return rc;
    for (size_t s = 0; s < n_seq; s++) {
        float *mean = w->s + s * d;
        memset(mean, 0, d * sizeof *mean);
        for (size_t j = w->start[s]; j < w->start[s + 1]; j++)
            for (size_t c = 0; c < d; c++)
                mean[c] += w->ya[j * d + c];
        for (size_t c = 0; c < d; c++)
            mean[c] /= (float)w->n_ctx[s];
    }
    dense_forward(&n->mu, P, w->s, n_seq, w->mu);
    dense_forward(&n->lv, P, w->s, n_seq, w->lv);
    for (size_t i = 0; i < n_seq * d; i++) {
        w->muc[i] = clampf(w->mu[i]);
        w->lvc[i] = clampf(w->lv[i]);
    }
    return PPR_OK;
}

int vpl_encode_backward(const vpl_net *n, const float *P, float *G, vpl_ws *w, size_t n_seq,
                        size_t n_dist, ppr_err *e)
{
    size_t d = n->latent, h = n->hidden, rows = w->start[n_seq];
    for (size_t i = 0; i < n_seq * d; i++) {
        if (w->mu[i] != w->muc[i])
            w->dmu[i] = 0;
        if (w->lv[i] != w->lvc[i])
            w->dlv[i] = 0;
    }
    dense_backward(&n->mu, P, G, w->s, n_seq, w->dmu, w->ds);
    dense_backward(&n->lv, P, G, w->s, n_seq, w->dlv, w->ds2);
    for (size_t s = 0; s < n_seq; s++) /* through the mean of the attention's rows */
        for (size_t j = w->start[s]; j < w->start[s + 1]; j++)
            for (size_t c = 0; c < d; c++)
                w->dya[j * d + c] = (w->ds[s * d + c] + w->ds2[s * d + c]) / (float)w->n_ctx[s];
    seq_batch sb = {(uint32_t)n_seq, w->start, w->n_ctx};
    int rc = attention_backward(&n->att, P, G, &sb, w->xa, w->dya, w->dxa, &w->att, e);
    if (rc)
        return rc;
    memset(w->dm, 0, n_dist * d * sizeof *w->dm);
    for (size_t j = 0; j < rows; j++) /* each distinct pair gathers its rows' gradients */
        for (size_t c = 0; c < d; c++)
            w->dm[(size_t)w->map[j] * d + c] += w->dxa[j * d + c];
    dense_backward(&n->e3, P, G, w->e2, n_dist, w->dm, w->ga);
    leaky_backward(w->e2, w->ga, n_dist * h);
    dense_backward(&n->e2, P, G, w->e1, n_dist, w->ga, w->gb);
    leaky_backward(w->e1, w->gb, n_dist * h);
    dense_backward(&n->e1, P, G, w->xe, n_dist, w->gb, NULL);
    return PPR_OK;
}

void vpl_decoder_row(const vpl_net *n, const pair_set *ps, uint32_t p, int which, const float *z,
                     float *out)
{
    size_t dim = n->dim;
    const uint32_t *rows = ps->rows + 3 * (size_t)p;
    memcpy(out, ps->matrix + (size_t)rows[0] * dim, dim * sizeof *out);
    memcpy(out + dim, ps->matrix + (size_t)rows[1 + which] * dim, dim * sizeof *out);
    memcpy(out + 2 * dim, z, n->latent * sizeof *out);
}

void vpl_decode(const vpl_net *n, const float *P, vpl_ws *w, size_t n_dec)
{
    dense_forward(&n->d1, P, w->xd, n_dec, w->d1);
    leaky_forward(w->d1, n_dec * n->hidden);
    dense_forward(&n->d2, P, w->d1, n_dec, w->d2);
    leaky_forward(w->d2, n_dec * n->hidden);
    dense_forward(&n->d3, P, w->d2, n_dec, w->r);
}

void vpl_decode_backward(const vpl_net *n, const float *P, float *G, vpl_ws *w, size_t n_dec)
{
    size_t h = n->hidden;
    dense_backward(&n->d3, P, G, w->d2, n_dec, w->dr, w->ga);
    leaky_backward(w->d2, w->ga, n_dec * h);
    dense_backward(&n->d2, P, G, w->d1, n_dec, w->ga, w->gb);
    leaky_backward(w->d1, w->gb, n_dec * h);
    dense_backward(&n->d1, P, G, w->xd, n_dec, w->gb, NULL);
    /* Only z's columns of the input want a gradient: dz [n_dec][latent] = gb
     * [n_dec][hidden] W1[:, 2 dim:], W1 [hidden][2 dim + latent]. */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n_dec, (int)n->latent, (int)h,
                1.0f, w->gb, (int)h, P + n->d1.w + 2 * (size_t)n->dim, (int)n->d1.in, 0.0f,
                w->dz, (int)n->latent);
}
