/* gzip.c: fuzz target for gz_decompress (stages/01-fetch/gz.c) and the
 * HH-RLHF loaders that read gzip JSON lines: hh-harmless with the bytes as its
 * one file, hh-relabeled with them as the helpful file (the harmless one from
 * tests/fixtures). Bytes that start as gzip does go in as they are, fuzzing
 * the decompression; any others are gzipped here first, so that the JSON
 * lines inside are fuzzed too (a changed byte of a gzip member fails its CRC).
 * Seeds: the .jsonl.gz files of tests/fixtures/offline and their contents. */
#include <zlib.h>

#include "stages/01-fetch/gz.h"
#include "tests/fuzz/fuzz.h"

/* data[n] as one gzip member; malloc'd. */
static char *gzip_bytes(const char *data, size_t n, size_t *out_n)
{
    z_stream z = {0};
    if (deflateInit2(&z, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    size_t cap = deflateBound(&z, (uLong)n);
    char *out = malloc(cap);
    if (!out)
        abort();
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        abort();
    *out_n = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    /* read once: the fixtures do not change while fuzzing */
    static fuzz_source harmless, relabeled;
    if (!harmless.n) {
        fuzz_source_list(&harmless, "tests/fixtures/offline/hh-harmless", "");
        fuzz_source_list(&relabeled, "tests/fixtures/offline/hh-relabeled", "");
    }
    size_t n = size;
    char *zipped = NULL;
    const char *data = (const char *)bytes;
    if (size < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b)
        data = zipped = gzip_bytes(data, size, &n);
    char *out;
    size_t out_n;
    ppr_err e;
    if (fuzz_ok(gz_decompress(data, n, "fuzz.gz", &out, &out_n, &e), &e)) {
        if (out[out_n] != '\0')
            abort();
        free(out);
    }
    fuzz_source_fill(&harmless, "harmless-base-test.jsonl.gz", data, n, 0);
    fuzz_loader(load_hh_harmless, harmless.files, harmless.n, "{}");
    fuzz_source_fill(&relabeled, "helpful-test.jsonl.gz", data, n, 1);
    fuzz_loader(load_hh_relabeled, relabeled.files, relabeled.n, "{}");
    free(zipped);
    return 0;
}
