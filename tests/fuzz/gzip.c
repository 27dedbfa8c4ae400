/* gzip.c: fuzz target for gz_decompress (stages/01-fetch/gz.c) and the
 * HH-RLHF loaders that read gzip JSON lines: hh-harmless with the bytes as its
 * one file, hh-relabeled with them as the helpful file (the harmless one from
 * tests/fixtures). Seeds: the .jsonl.gz files of tests/fixtures/offline. */
#include "stages/01-fetch/gz.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    /* read once: the fixtures do not change while fuzzing */
    static fuzz_source harmless, relabeled;
    if (!harmless.n) {
        fuzz_source_list(&harmless, "tests/fixtures/offline/hh-harmless", "");
        fuzz_source_list(&relabeled, "tests/fixtures/offline/hh-relabeled", "");
    }
    const char *data = (const char *)bytes;
    char *out;
    size_t n;
    ppr_err e;
    if (fuzz_ok(gz_decompress(data, size, "fuzz.gz", &out, &n, &e), &e)) {
        if (out[n] != '\0')
            abort();
        free(out);
    }
    fuzz_source_fill(&harmless, "harmless-base-test.jsonl.gz", data, size, 0);
    fuzz_loader(load_hh_harmless, harmless.files, harmless.n, "{}");
    fuzz_source_fill(&relabeled, "helpful-test.jsonl.gz", data, size, 1);
    fuzz_loader(load_hh_relabeled, relabeled.files, relabeled.n, "{}");
    return 0;
}
