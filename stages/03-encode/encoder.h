/* encoder.h: the text encoders of stage 03 (design section 10) behind one
 * interface: open from the config, then turn batches of texts into float
 * vectors of a fixed dimension. Texts are bytes: invalid UTF-8 is never an
 * error. Encoders are deterministic: the same text gives the same bits. */
#ifndef PPR_ENCODE_ENCODER_H
#define PPR_ENCODE_ENCODER_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct encoder encoder;

struct encoder {
    const char *name; /* "hash", "glove", "command" */
    uint32_t dim;
    /* texts[i] has lens[i] bytes (not NUL-terminated); out is [n][dim]. */
    int (*encode)(encoder *enc, const char *const *texts, const size_t *lens, size_t n,
                  float *out, ppr_err *e);
    void (*free)(encoder *enc);
};

/* hash: signed feature hashing (docs/encoders.md). cfg holds its keys. */
int hashenc_open(encoder **enc, const cJSON *cfg, const char *what, ppr_err *e);

/* glove: mean of the GloVe vectors of a text's known words, then the hash
 * features. emb is the embeddings payload (common/embeddings.h), owned by the
 * caller and alive as long as the encoder. */
int gloveenc_open(encoder **enc, const cJSON *cfg, const void *emb, size_t emb_n,
                  const char *what, ppr_err *e);

/* command: an external program (docs/encoders.md gives the protocol). */
int cmdenc_open(encoder **enc, const cJSON *cfg, const char *what, ppr_err *e);

static inline void encoder_free(encoder *enc)
{
    if (enc)
        enc->free(enc);
}

#endif
