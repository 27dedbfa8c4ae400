/* sha256.c: SHA-256 via OpenSSL EVP (hardware-accelerated where the CPU has it). */
#include "sha256.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sha256_ctx {
    EVP_MD_CTX *md;
};

sha256_ctx *sha256_new(void)
{
    sha256_ctx *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    c->md = EVP_MD_CTX_new();
    if (!c->md || EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(c->md);
        free(c);
        return NULL;
    }
    return c;
}

void sha256_update(sha256_ctx *c, const void *data, size_t n)
{
    EVP_DigestUpdate(c->md, data, n);
}

void sha256_final(sha256_ctx *c, unsigned char out[SHA256_LEN])
{
    unsigned int len = SHA256_LEN;
    EVP_DigestFinal_ex(c->md, out, &len);
}

void sha256_free(sha256_ctx *c)
{
    if (!c)
        return;
    EVP_MD_CTX_free(c->md);
    free(c);
}

void sha256_buf(const void *data, size_t n, unsigned char out[SHA256_LEN])
{
    unsigned int len = SHA256_LEN;
    EVP_Digest(data, n, out, &len, EVP_sha256(), NULL);
}

int sha256_file(const char *path, unsigned char out[SHA256_LEN], uint64_t *bytes,
                ppr_err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return err_set(e, PPR_EINPUT, "cannot open '%s': %s", path, strerror(errno));
    sha256_ctx *c = sha256_new();
    if (!c) {
        fclose(f);
        return err_nomem(e);
    }
    static const size_t chunk = 1 << 20;
    unsigned char *buf = malloc(chunk);
    if (!buf) {
        sha256_free(c);
        fclose(f);
        return err_nomem(e);
    }
    uint64_t total = 0;
    size_t n;
    while ((n = fread(buf, 1, chunk, f)) > 0) {
        sha256_update(c, buf, n);
        total += n;
    }
    int bad = ferror(f);
    fclose(f);
    free(buf);
    if (bad) {
        sha256_free(c);
        return err_set(e, PPR_EINPUT, "cannot read '%s'", path);
    }
    sha256_final(c, out);
    sha256_free(c);
    if (bytes)
        *bytes = total;
    return PPR_OK;
}

void sha256_hex(const unsigned char d[SHA256_LEN], char hex[SHA256_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < SHA256_LEN; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[SHA256_HEX_LEN] = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int sha256_parse(const char *hex, unsigned char out[SHA256_LEN])
{
    if (!hex || strlen(hex) != SHA256_HEX_LEN)
        return -1;
    for (int i = 0; i < SHA256_LEN; i++) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}
