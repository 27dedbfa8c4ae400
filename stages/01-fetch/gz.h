/* gz.h: gunzip a file held in memory (HH-RLHF ships gzip JSON lines), through
 * zlib rather than an inflate of our own. */
#ifndef PPR_FETCH_GZ_H
#define PPR_FETCH_GZ_H

#include <stddef.h>

#include "common/error.h"

/* Decompress the gzip data[n] (one member or several concatenated, as gzip
 * allows) into *out, malloc'd and NUL-terminated; *out_n excludes the NUL.
 * Corrupt or truncated data is an input error naming `what`. */
int gz_decompress(const char *data, size_t n, const char *what, char **out, size_t *out_n,
                  ppr_err *e);

#endif
