/* gloveenc.c: the `glove` encoder (docs/encoders.md, section "glove"): the mean
 * of the GloVe vectors of a text's known words, then the hash encoder's
 * features of the same text. Words follow the shared rule of tokens.h, so both
 * halves see the same words. encode keeps no state between calls and reads the
 * table in place, so threads may encode disjoint batches at once. */
#include <stdlib.h>
#include <string.h>

#include "common/embeddings.h"
#include "common/json.h"
#include "encoder.h"
#include "tokens.h"

#define GLOVE_CHUNK 256 /* texts whose hash features are computed per call */

typedef struct {
    encoder base;    /* first, so that an encoder * is a gloveenc * */
    embeddings_view emb;
    size_t longest;  /* the longest word of the table: longer words are unknown */
    encoder *hash;
} gloveenc;

/* The mean of the known words' vectors of t into row [emb.dim] (zeros when no
 * word is known), summed in double and in text order so the bits never vary. */
static void glove_mean(const gloveenc *g, const unsigned char *t, size_t len,
                       char *word /* [longest] */, double *sum /* [emb.dim] */, float *row)
{
    uint32_t dim = g->emb.h->dim;
    size_t at = 0, start, end, known = 0;
    memset(sum, 0, dim * sizeof *sum);
    while (token_next(t, len, &at, &start, &end)) {
        if (end - start > g->longest)
            continue;
        for (size_t i = start; i < end; i++)
            word[i - start] = (char)token_lower(t[i]);
        int64_t w = embeddings_find(&g->emb, word, end - start);
        if (w < 0)
            continue;
        const float *v = embeddings_row(&g->emb, (uint32_t)w);
        for (uint32_t j = 0; j < dim; j++)
            sum[j] += v[j];
        known++;
    }
    for (uint32_t j = 0; j < dim; j++)
        row[j] = known ? (float)(sum[j] / (double)known) : 0.0f;
}

static int gloveenc_encode(encoder *enc, const char *const *texts, const size_t *lens,
                           size_t n, float *out /* [n][dim] */, ppr_err *e)
{
    const gloveenc *g = (const gloveenc *)enc;
    uint32_t gdim = g->emb.h->dim, hdim = g->hash->dim;
    size_t chunk = n < GLOVE_CHUNK ? n : GLOVE_CHUNK;
    char *word = malloc(g->longest ? g->longest : 1);
    double *sum = malloc(gdim * sizeof *sum);
    float *hashed = malloc((chunk ? chunk : 1) * (size_t)hdim * sizeof *hashed); /* [chunk][hdim] */
    int rc = word && sum && hashed ? PPR_OK : err_nomem(e);
    for (size_t at = 0; at < n && rc == PPR_OK; at += chunk) {
        size_t m = n - at < chunk ? n - at : chunk;
        if ((rc = g->hash->encode(g->hash, texts + at, lens + at, m, hashed, e)))
            break;
        for (size_t i = 0; i < m; i++) {
            float *row = out + (at + i) * enc->dim;
            glove_mean(g, (const unsigned char *)texts[at + i], lens[at + i], word, sum, row);
            memcpy(row + gdim, hashed + i * hdim, hdim * sizeof *hashed);
        }
    }
    free(word);
    free(sum);
    free(hashed);
    return rc;
}

static void gloveenc_free(encoder *enc)
{
    if (!enc)
        return;
    encoder_free(((gloveenc *)enc)->hash);
    free(enc);
}

int gloveenc_open(encoder **enc, const cJSON *cfg, const void *emb, size_t emb_n,
                  const char *what, ppr_err *e)
{
    *enc = NULL;
    gloveenc *g = calloc(1, sizeof *g);
    if (!g)
        return err_nomem(e);
    const cJSON *hash_cfg = json_get_obj(cfg, "hash", what, e);
    int rc = hash_cfg ? PPR_OK : PPR_EINPUT;
    if (rc == PPR_OK && (rc = embeddings_view_init(&g->emb, emb, emb_n, "GloVe embeddings", e)))
        err_wrap(e, "'%s'", what);
    if (rc == PPR_OK)
        rc = hashenc_open(&g->hash, hash_cfg, what, e);
    if (rc == PPR_OK && (uint64_t)g->emb.h->dim + g->hash->dim > UINT32_MAX)
        rc = err_set(e, PPR_EINPUT, "'%s': GloVe's %u and the hash encoder's %u dimensions "
                     "are too many together", what, g->emb.h->dim, g->hash->dim);
    if (rc) {
        gloveenc_free(&g->base);
        return rc;
    }
    for (uint32_t w = 0; w < g->emb.h->n_words; w++) {
        size_t len;
        embeddings_word(&g->emb, w, &len);
        g->longest = len > g->longest ? len : g->longest;
    }
    g->base.name = "glove";
    g->base.dim = g->emb.h->dim + g->hash->dim;
    g->base.encode = gloveenc_encode;
    g->base.free = gloveenc_free;
    *enc = &g->base;
    return PPR_OK;
}
