/* modelfile.h: the model file (PAYLOAD_MODEL), a generic envelope around a
 * body each method writes and reads, little-endian:
 *
 *   header  modelfile_header      96 bytes: magic "PPRMODL2", format version,
 *                                 method name, feature width, training users,
 *                                 the SHA-256 of the architecture settings the
 *                                 model was made with, the body's two sizes
 *   shape   uint8[shape_bytes]    the method's description of itself (widths,
 *                                 adapted users, ...), zero-padded to 8
 *   digest  uint8[32]             SHA-256 of every byte before it
 *   params  float32[n_params]     the method's parameters
 *
 * Parameters are data: a changed value loads (if finite); any change to the
 * header or the shape, a wrong size or a foreign layout is refused. */
#ifndef PPR_MODELS_MODELFILE_H
#define PPR_MODELS_MODELFILE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/sha256.h"

#define MODELFILE_MAGIC "PPRMODL2"
#define MODELFILE_VERSION 2
#define MODELFILE_NAME_MAX 24 /* method name, NUL-padded */

typedef struct {
    char magic[8];
    uint32_t version;
    uint32_t reserved; /* 0 */
    char method[MODELFILE_NAME_MAX];
    uint32_t dim, n_users;
    unsigned char settings[SHA256_LEN];
    uint64_t shape_bytes, n_params;
} modelfile_header;

_Static_assert(sizeof(modelfile_header) == 96, "modelfile_header has no hidden padding");

/* A parsed model file: pointers into the payload it was parsed from. */
typedef struct {
    modelfile_header h;
    const void *shape;   /* [h.shape_bytes] */
    const void *params;  /* float32 [h.n_params], every one finite; read with memcpy,
                            as the payload need not be aligned */
} modelfile;

/* Check and parse payload [n]; errors are PPR_EINPUT naming `what`. */
int modelfile_parse(modelfile *f, const void *payload, size_t n, const char *what, ppr_err *e);

/* A zeroed payload for h (magic and version set here) with room for the
 * body: *shape and *params point into it for the caller to fill, then
 * modelfile_seal writes the digest. */
int modelfile_new(const modelfile_header *h, void **payload, size_t *n, void **shape,
                  float **params, ppr_err *e);
void modelfile_seal(void *payload);

#endif
