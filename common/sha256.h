/* sha256.h: SHA-256 through OpenSSL's EVP interface, and its hex names. */
#ifndef PPR_SHA256_H
#define PPR_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define SHA256_LEN 32
#define SHA256_HEX_LEN 64

typedef struct sha256_ctx sha256_ctx;

sha256_ctx *sha256_new(void);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
void sha256_final(sha256_ctx *c, unsigned char out[SHA256_LEN]);
void sha256_free(sha256_ctx *c);

void sha256_buf(const void *data, size_t n, unsigned char out[SHA256_LEN]);

/* Hash a whole file; bytes (if not NULL) receives its size. */
int sha256_file(const char *path, unsigned char out[SHA256_LEN], uint64_t *bytes,
                ppr_err *e);

/* hex must hold SHA256_HEX_LEN + 1 chars; lower-case. */
void sha256_hex(const unsigned char d[SHA256_LEN], char hex[SHA256_HEX_LEN + 1]);

/* Returns 0 on a well-formed 64-char lower- or upper-case hex string, -1 else. */
int sha256_parse(const char *hex, unsigned char out[SHA256_LEN]);

#endif
