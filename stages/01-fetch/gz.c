/* gz.c: gzip decompression with zlib's inflate, into a buffer that grows
 * geometrically. */
#include "gz.h"

#include <stdlib.h>
#include <zlib.h>

#include "common/mem.h"

/* zlib counts in uInt: hand it at most this much at a time. */
#define GZ_CHUNK ((size_t)1 << 30)

int gz_decompress(const char *data, size_t n, const char *what, char **out, size_t *out_n,
                  ppr_err *e)
{
    z_stream z = {0};
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return err_nomem(e);
    char *buf = NULL;
    size_t cap = 0, len = 0, fed = 0;
    int rc = PPR_OK;
    for (;;) {
        if (z.avail_in == 0 && fed < n) {
            z.next_in = (Bytef *)(data + fed);
            z.avail_in = (uInt)(n - fed < GZ_CHUNK ? n - fed : GZ_CHUNK);
            fed += z.avail_in;
        }
        if (mem_grow((void **)&buf, &cap, len + 2 * n + 4096, 1)) {
            rc = err_nomem(e);
            break;
        }
        size_t room = cap - len - 1;
        z.next_out = (Bytef *)(buf + len);
        z.avail_out = (uInt)(room < GZ_CHUNK ? room : GZ_CHUNK);
        int zr = inflate(&z, Z_NO_FLUSH);
        len = (size_t)((char *)z.next_out - buf);
        if (zr == Z_STREAM_END) {
            if (z.avail_in == 0 && fed == n)
                break;
            /* another gzip member follows */
            if (inflateReset(&z) != Z_OK) {
                rc = err_set(e, PPR_EINTERNAL, "'%s': cannot restart inflate", what);
                break;
            }
        } else if (zr == Z_BUF_ERROR && z.avail_in == 0 && fed == n) {
            rc = err_set(e, PPR_EINPUT, "'%s': truncated gzip data", what);
            break;
        } else if (zr == Z_MEM_ERROR) {
            rc = err_nomem(e);
            break;
        } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
            rc = err_set(e, PPR_EINPUT, "'%s': corrupt gzip data (%s)", what,
                         z.msg ? z.msg : "no detail");
            break;
        }
    }
    inflateEnd(&z);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[len] = '\0';
    *out = buf;
    *out_n = len;
    return PPR_OK;
}
