/* modelfile.c: the model file's envelope (see modelfile.h). */
#include "common/models/modelfile.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the model file is little-endian");

/* Bytes before the digest. */
static size_t digest_at(uint64_t shape_bytes)
{
    return sizeof(modelfile_header) + (size_t)((shape_bytes + 7) & ~(uint64_t)7);
}

int modelfile_new(const modelfile_header *h, void **payload, size_t *n, void **shape,
                  float **params, ppr_err *e)
{
    size_t at = digest_at(h->shape_bytes) + SHA256_LEN;
    size_t size = at + h->n_params * sizeof(float);
    unsigned char *p = calloc(1, size);
    if (!p)
        return err_nomem(e);
    modelfile_header head = *h;
    memcpy(head.magic, MODELFILE_MAGIC, sizeof head.magic);
    head.version = MODELFILE_VERSION;
    head.reserved = 0;
    memcpy(p, &head, sizeof head);
    *payload = p;
    *n = size;
    *shape = p + sizeof head;
    *params = (float *)(p + at);
    return PPR_OK;
}

void modelfile_seal(void *payload)
{
    modelfile_header h;
    memcpy(&h, payload, sizeof h);
    size_t at = digest_at(h.shape_bytes);
    sha256_buf(payload, at, (unsigned char *)payload + at);
}

int modelfile_parse(modelfile *f, const void *payload, size_t n, const char *what, ppr_err *e)
{
    const unsigned char *p = payload;
    memset(f, 0, sizeof *f);
    if (n < sizeof f->h || memcmp(p, MODELFILE_MAGIC, 8) != 0)
        return err_set(e, PPR_EINPUT, "'%s' is not a ppr model (no \"%s\" magic)", what,
                       MODELFILE_MAGIC);
    memcpy(&f->h, p, sizeof f->h);
    if (f->h.version != MODELFILE_VERSION)
        return err_set(e, PPR_EINPUT, "'%s': model format version %u, this build reads %d",
                       what, f->h.version, MODELFILE_VERSION);
    if (f->h.shape_bytes > n)
        return err_set(e, PPR_EINPUT, "'%s': the model is truncated (%zu bytes)", what, n);
    size_t at = digest_at(f->h.shape_bytes);
    if (n < at + SHA256_LEN)
        return err_set(e, PPR_EINPUT, "'%s': the model is truncated (%zu bytes)", what, n);
    unsigned char digest[SHA256_LEN];
    sha256_buf(p, at, digest);
    if (memcmp(digest, p + at, SHA256_LEN) != 0)
        return err_set(e, PPR_EINPUT, "'%s': the model header is corrupt (its SHA-256 differs)",
                       what);
    size_t name_len = strnlen(f->h.method, sizeof f->h.method);
    int padded = name_len < sizeof f->h.method;
    for (size_t i = name_len; padded && i < sizeof f->h.method; i++)
        padded = f->h.method[i] == '\0';
    if (f->h.reserved || !padded)
        return err_set(e, PPR_EINPUT, "'%s': the model header is malformed (its method name "
                       "is not NUL-padded, or a reserved field is set)", what);
    for (size_t i = sizeof f->h + f->h.shape_bytes; i < at; i++)
        if (p[i])
            return err_set(e, PPR_EINPUT, "'%s': the model's padding is not zero", what);
    uint64_t bytes;
    if (__builtin_mul_overflow(f->h.n_params, (uint64_t)sizeof(float), &bytes) ||
        bytes != n - at - SHA256_LEN)
        return err_set(e, PPR_EINPUT,
                       "'%s': the model is %zu bytes, its header describes %llu parameters "
                       "after %zu header bytes (truncated or padded)",
                       what, n, (unsigned long long)f->h.n_params, at + SHA256_LEN);
    f->shape = p + sizeof f->h;
    f->params = p + at + SHA256_LEN;
    for (uint64_t i = 0; i < f->h.n_params; i++) {
        float x;
        memcpy(&x, p + at + SHA256_LEN + i * sizeof x, sizeof x);
        if (!isfinite(x))
            return err_set(e, PPR_EINPUT, "'%s': model parameter %llu is not finite", what,
                           (unsigned long long)i);
    }
    return PPR_OK;
}
