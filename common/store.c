/* store.c: zstd-framed, SHA-256-named artifacts with atomic writes and verified reads. */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "fsutil.h"

#define COMPRESSION_LEVEL 3

static const struct {
    int type;
    const char *name;
} payload_names[] = {
    {PAYLOAD_PREFS, "prefs"}, {PAYLOAD_TEXTS, "texts"}, {PAYLOAD_FEATURES, "features"},
    {PAYLOAD_MODEL, "model"}, {PAYLOAD_JSON, "json"}, {PAYLOAD_EMBEDDINGS, "embeddings"},
    {PAYLOAD_FILE, "file"},
};

const char *payload_type_name(int type)
{
    for (size_t i = 0; i < sizeof payload_names / sizeof *payload_names; i++)
        if (payload_names[i].type == type)
            return payload_names[i].name;
    return NULL;
}

int payload_type_parse(const char *name)
{
    for (size_t i = 0; i < sizeof payload_names / sizeof *payload_names; i++)
        if (strcmp(payload_names[i].name, name) == 0)
            return payload_names[i].type;
    return -1;
}

int store_init(store *s, const char *root, ppr_err *e)
{
    memset(s, 0, sizeof *s);
    if (!root)
        root = getenv("PPR_ARTIFACTS");
    if (!root || !*root)
        root = "artifacts";
    s->root = strdup(root);
    s->objects = path_join(root, "objects");
    if (!s->root || !s->objects) {
        store_release(s);
        return err_nomem(e);
    }
    int rc = dir_make(s->objects, e);
    if (rc)
        store_release(s);
    return rc;
}

void store_release(store *s)
{
    if (!s)
        return;
    free(s->root);
    free(s->objects);
    s->root = s->objects = NULL;
}

char *store_path(const store *s, const char *hex)
{
    size_t n = strlen(s->objects) + SHA256_HEX_LEN + 8;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%.2s/%s.zst", s->objects, hex, hex + 2);
    return p;
}

int store_has(const store *s, const char *hex)
{
    char *p = store_path(s, hex);
    int has = p && file_exists(p);
    free(p);
    return has;
}

static void put_u16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint16_t get_u16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

int store_decode(const char *path, const char *hex, const void *image, size_t file_n,
                 void **payload, size_t *n, int *type_out, ppr_err *e)
{
    const unsigned char *file = image;
    if (file_n < STORE_HEADER_SIZE || memcmp(file, "PPRA", 4) != 0)
        return err_set(e, PPR_EINPUT, "artifact '%s' has no ppr header (corrupt store?)",
                       path);
    uint16_t version = get_u16(file + 4);
    if (version != STORE_FORMAT_VERSION)
        return err_set(e, PPR_EINPUT, "artifact '%s' has format version %u, expected %u",
                       path, version, STORE_FORMAT_VERSION);
    uint64_t size = get_u64(file + 8);
    const unsigned char *frame = file + STORE_HEADER_SIZE;
    size_t frame_n = file_n - STORE_HEADER_SIZE;
    unsigned long long content = ZSTD_getFrameContentSize(frame, frame_n);
    if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN ||
        content != size)
        return err_set(e, PPR_EINPUT, "artifact '%s' is corrupt: bad zstd frame header",
                       path);
    if (ZSTD_findFrameCompressedSize(frame, frame_n) != frame_n)
        return err_set(e, PPR_EINPUT, "artifact '%s' is corrupt: truncated or trailing bytes",
                       path);
    /* The size is allocated, so it must be one the frame can yield: a zstd
       block gives at most ZSTD_BLOCKSIZE_MAX bytes and takes at least 4 (a
       3-byte header and one byte to repeat). */
    if (size / ZSTD_BLOCKSIZE_MAX > frame_n / 4)
        return err_set(e, PPR_EINPUT, "artifact '%s' is corrupt: a zstd frame of %zu bytes "
                       "cannot hold the %llu bytes its header says", path, frame_n,
                       (unsigned long long)size);
    void *buf = malloc(size ? size : 1);
    if (!buf)
        return err_nomem(e);
    size_t got = ZSTD_decompress(buf, size, frame, frame_n);
    if (ZSTD_isError(got) || got != size) {
        free(buf);
        return err_set(e, PPR_EINPUT, "artifact '%s' is corrupt: %s", path,
                       ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short payload");
    }
    unsigned char digest[SHA256_LEN];
    char actual[SHA256_HEX_LEN + 1];
    sha256_buf(buf, size, digest);
    sha256_hex(digest, actual);
    if (strcmp(actual, hex) != 0) {
        free(buf);
        return err_set(e, PPR_EINPUT, "artifact '%s' is corrupt: content hash %s", path,
                       actual);
    }
    if (type_out)
        *type_out = get_u16(file + 6);
    *payload = buf;
    *n = size;
    return PPR_OK;
}

int store_verify_file(const char *path, const char *hex, ppr_err *e)
{
    char *file;
    size_t file_n;
    int rc = file_read_all(path, &file, &file_n, e);
    if (rc)
        return rc;
    void *payload;
    size_t n;
    rc = store_decode(path, hex, file, file_n, &payload, &n, NULL, e);
    free(file);
    if (rc == PPR_OK)
        free(payload);
    return rc;
}

int store_get(const store *s, const char *hex, int type, void **payload, size_t *n,
              int *type_out, ppr_err *e)
{
    *payload = NULL;
    *n = 0;
    unsigned char raw[SHA256_LEN];
    if (sha256_parse(hex, raw) != 0)
        return err_set(e, PPR_EINPUT, "'%s' is not an artifact name", hex);
    char *path = store_path(s, hex);
    if (!path)
        return err_nomem(e);
    char *file;
    size_t file_n;
    int rc = file_read_all(path, &file, &file_n, e);
    if (rc) {
        err_set(e, PPR_EINPUT, "artifact '%s' is missing from the store (run ninja)", path);
        free(path);
        return rc;
    }
    int stored_type;
    rc = store_decode(path, hex, file, file_n, payload, n, &stored_type, e);
    free(file);
    if (rc == PPR_OK && type >= 0 && stored_type != type) {
        rc = err_set(e, PPR_EINPUT, "artifact '%s' holds %s, expected %s", path,
                     payload_type_name(stored_type) ? payload_type_name(stored_type) : "?",
                     payload_type_name(type));
        free(*payload);
        *payload = NULL;
        *n = 0;
    }
    if (rc == PPR_OK && type_out)
        *type_out = stored_type;
    free(path);
    return rc;
}

int store_put(store *s, int type, const void *payload, size_t n,
              char hex[SHA256_HEX_LEN + 1], ppr_err *e)
{
    if (!payload_type_name(type))
        return err_set(e, PPR_EINTERNAL, "unknown payload type %d", type);
    unsigned char digest[SHA256_LEN];
    sha256_buf(payload, n, digest);
    sha256_hex(digest, hex);
    char *path = store_path(s, hex);
    if (!path)
        return err_nomem(e);
    if (file_exists(path) && store_verify_file(path, hex, NULL) == PPR_OK) {
        free(path);
        return PPR_OK;
    }
    size_t bound = ZSTD_compressBound(n);
    unsigned char *file = malloc(STORE_HEADER_SIZE + bound);
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    int rc = PPR_OK;
    if (!file || !cctx) {
        rc = err_nomem(e);
        goto done;
    }
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, COMPRESSION_LEVEL);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);
    size_t z = ZSTD_compress2(cctx, file + STORE_HEADER_SIZE, bound, payload, n);
    if (ZSTD_isError(z)) {
        rc = err_set(e, PPR_EINTERNAL, "zstd compression failed: %s", ZSTD_getErrorName(z));
        goto done;
    }
    memcpy(file, "PPRA", 4);
    put_u16(file + 4, STORE_FORMAT_VERSION);
    put_u16(file + 6, (uint16_t)type);
    put_u64(file + 8, n);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%.2s", s->objects, hex);
    rc = dir_make(dir, e);
    if (rc == PPR_OK)
        rc = file_write_atomic(path, file, STORE_HEADER_SIZE + z, e);
done:
    ZSTD_freeCCtx(cctx);
    free(file);
    free(path);
    return rc;
}

int store_check(const store *s, const char *hex, const char *type, uint64_t bytes,
                ppr_err *e)
{
    int want = type ? payload_type_parse(type) : -1;
    if (type && want < 0)
        return err_set(e, PPR_EINPUT, "artifact %s: unknown payload type \"%s\"", hex, type);
    void *payload;
    size_t n;
    int rc = store_get(s, hex, want, &payload, &n, NULL, e);
    if (rc)
        return rc;
    free(payload);
    if (n != bytes)
        return err_set(e, PPR_EINPUT, "artifact %s holds %zu bytes, not the %llu recorded", hex,
                       n, (unsigned long long)bytes);
    return PPR_OK;
}

/* Remove the temp files directly in dir (a missing dir has none). */
static int sweep_dir(const char *dir, int buckets, size_t *removed, ppr_err *e)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? PPR_OK
                               : err_set(e, PPR_EINPUT, "cannot read directory '%s': %s", dir,
                                         strerror(errno));
    int rc = PPR_OK;
    struct dirent *de;
    while (rc == PPR_OK && (de = readdir(d))) {
        int bucket = buckets && strlen(de->d_name) == 2 && de->d_name[0] != '.';
        if (!bucket && !file_is_temp_name(de->d_name))
            continue;
        char *path = path_join(dir, de->d_name);
        if (!path)
            rc = err_nomem(e);
        else if (bucket)
            rc = sweep_dir(path, 0, removed, e);
        else if (unlink(path) == 0)
            (*removed)++;
        else if (errno != ENOENT)
            rc = err_set(e, PPR_EINPUT, "cannot remove '%s': %s", path, strerror(errno));
        free(path);
    }
    closedir(d);
    return rc;
}

int store_sweep_temps(const store *s, const char *const *dirs, size_t *removed, ppr_err *e)
{
    *removed = 0;
    int rc = sweep_dir(s->objects, 1, removed, e);
    for (const char *const *d = dirs; rc == PPR_OK && *d; d++)
        rc = sweep_dir(*d, 0, removed, e);
    return rc;
}
