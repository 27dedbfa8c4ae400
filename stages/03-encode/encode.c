/* encode.c: the text list of a dataset and its encoding with reuse. */
#include "encode.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/sha256.h"

/* A (user, prompt) pair of a row and the first row it appears in. */
typedef struct {
    uint32_t user, prompt, row;
} user_prompt;

static int by_pair_then_row(const void *a, const void *b)
{
    const user_prompt *x = a, *y = b;
    if (x->user != y->user)
        return x->user < y->user ? -1 : 1;
    if (x->prompt != y->prompt)
        return x->prompt < y->prompt ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

static int by_row(const void *a, const void *b)
{
    const user_prompt *x = a, *y = b;
    return (x->row > y->row) - (x->row < y->row);
}

/* The distinct (user, prompt) pairs of v's rows in order of first appearance. */
static int distinct_pairs(const prefs_view *v, user_prompt **out, size_t *n, ppr_err *e)
{
    size_t rows = v->h->n_rows, k = 0;
    user_prompt *p = malloc((rows ? rows : 1) * sizeof *p);
    if (!p)
        return err_nomem(e);
    for (uint32_t i = 0; i < rows; i++)
        p[i] = (user_prompt){v->rows[i].user, v->rows[i].prompt, i};
    qsort(p, rows, sizeof *p, by_pair_then_row);
    for (size_t i = 0; i < rows; i++)
        if (!k || p[k - 1].user != p[i].user || p[k - 1].prompt != p[i].prompt)
            p[k++] = p[i];
    qsort(p, k, sizeof *p, by_row);
    *out = p;
    *n = k;
    return PPR_OK;
}

int text_list_build(text_list *tl, const prefs_view *v, int conditional, ppr_err *e)
{
    memset(tl, 0, sizeof *tl);
    size_t n_table = v->h->n_texts, n_pairs = 0, arena_len = 1;
    user_prompt *pairs = NULL; /* [n_pairs] */
    if (conditional && distinct_pairs(v, &pairs, &n_pairs, e))
        return PPR_EINTERNAL;
    for (size_t k = 0; k < n_pairs; k++) {
        size_t plen;
        prefs_text(v, pairs[k].prompt, &plen);
        arena_len +=
            strlen(prefs_user_name(v, pairs[k].user)) + plen + sizeof PREFS_CONDITIONAL_PREFIX;
    }
    size_t n = n_table + n_pairs;
    tl->texts = malloc((n ? n : 1) * sizeof *tl->texts);
    tl->lens = malloc((n ? n : 1) * sizeof *tl->lens);
    tl->hashes = malloc((n ? n : 1) * 32);
    tl->arena = malloc(arena_len);
    if (!tl->texts || !tl->lens || !tl->hashes || !tl->arena) {
        free(pairs);
        text_list_release(tl);
        return err_nomem(e);
    }
    for (size_t t = 0; t < n_table; t++) {
        tl->texts[t] = prefs_text(v, (uint32_t)t, &tl->lens[t]);
        memcpy(tl->hashes + 32 * t, v->hashes + 32 * t, 32);
    }
    char *at = tl->arena;
    for (size_t k = 0; k < n_pairs; k++) {
        size_t plen, i = n_table + k;
        const char *prompt = prefs_text(v, pairs[k].prompt, &plen);
        int head = sprintf(at, PREFS_CONDITIONAL_PREFIX, prefs_user_name(v, pairs[k].user));
        memcpy(at + head, prompt, plen);
        tl->texts[i] = at;
        tl->lens[i] = (size_t)head + plen;
        sha256_buf(at, tl->lens[i], tl->hashes + 32 * i);
        at += tl->lens[i];
    }
    free(pairs);
    tl->n = n;
    tl->n_table = n_table;
    return PPR_OK;
}

void text_list_release(text_list *tl)
{
    if (!tl)
        return;
    free(tl->texts);
    free(tl->lens);
    free(tl->hashes);
    free(tl->arena);
    memset(tl, 0, sizeof *tl);
}

/* One thread's share: todo[lo, hi) in batches. */
typedef struct {
    encoder *enc;
    const text_list *tl;
    const uint32_t *todo; /* [n_todo] text indices to encode */
    size_t lo, hi, batch;
    float *out;           /* [tl->n][dim] */
    int rc;
    ppr_err err;
} share;

static void *share_run(void *arg)
{
    share *s = arg;
    size_t dim = s->enc->dim;
    const char **texts = malloc(s->batch * sizeof *texts);
    size_t *lens = malloc(s->batch * sizeof *lens);
    float *buf = malloc(s->batch * dim * sizeof *buf);
    if (!texts || !lens || !buf)
        s->rc = err_nomem(&s->err);
    for (size_t at = s->lo; at < s->hi && s->rc == PPR_OK; at += s->batch) {
        size_t n = s->hi - at < s->batch ? s->hi - at : s->batch;
        for (size_t i = 0; i < n; i++) {
            texts[i] = s->tl->texts[s->todo[at + i]];
            lens[i] = s->tl->lens[s->todo[at + i]];
        }
        s->rc = s->enc->encode(s->enc, texts, lens, n, buf, &s->err);
        for (size_t i = 0; s->rc == PPR_OK && i < n; i++)
            memcpy(s->out + (size_t)s->todo[at + i] * dim, buf + i * dim, dim * sizeof *buf);
    }
    free(texts);
    free(lens);
    free(buf);
    return NULL;
}

int encode_texts(encoder *enc, const features_view *prev, const text_list *tl,
                 size_t batch, int threads, float *out, size_t *n_encoded, ppr_err *e)
{
    size_t dim = enc->dim, n_todo = 0;
    uint32_t *todo = malloc((tl->n ? tl->n : 1) * sizeof *todo);
    if (!todo)
        return err_nomem(e);
    for (size_t i = 0; i < tl->n; i++) {
        int64_t row = prev && prev->h->dim == dim ? features_find(prev, tl->hashes + 32 * i) : -1;
        if (row >= 0)
            memcpy(out + i * dim, features_row(prev, (uint32_t)row), dim * sizeof *out);
        else
            todo[n_todo++] = (uint32_t)i;
    }
    if (threads < 1)
        threads = 1;
    if ((size_t)threads > n_todo)
        threads = n_todo ? (int)n_todo : 1;
    share *shares = calloc((size_t)threads, sizeof *shares);
    pthread_t *ids = calloc((size_t)threads, sizeof *ids);
    int rc = shares && ids ? PPR_OK : err_nomem(e);
    int started = 0;
    for (int t = 0; rc == PPR_OK && t < threads; t++) {
        shares[t] = (share){enc, tl, todo, n_todo * (size_t)t / (size_t)threads,
                            n_todo * (size_t)(t + 1) / (size_t)threads, batch, out, PPR_OK, {0}};
        if (threads == 1)
            share_run(&shares[t]);
        else if (pthread_create(&ids[t], NULL, share_run, &shares[t]) != 0)
            rc = err_set(e, PPR_EINTERNAL, "cannot start an encoder thread");
        else
            started++;
    }
    for (int t = 0; t < started; t++)
        pthread_join(ids[t], NULL);
    for (int t = 0; rc == PPR_OK && shares && t < threads; t++)
        if (shares[t].rc)
            rc = err_set(e, shares[t].rc, "%s", shares[t].err.msg);
    free(shares);
    free(ids);
    free(todo);
    *n_encoded = n_todo;
    return rc;
}
