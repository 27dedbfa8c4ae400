/* json.c: fuzz target for the loaders of whole JSON documents in
 * stages/01-fetch/load_offline.c: PandaLM's test set (load_pandalm), SPICA's
 * annotations and its scenario bank (load_spica, the bytes as one of the two
 * files, the other from tests/fixtures) and an LLMBar file (load_llmbar, the
 * bytes as its first file; it stops at the second, missing, once the first
 * is read). Seeds: tests/fixtures/offline/pandalm and spica. */
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    /* read once: the fixtures do not change while fuzzing */
    static fuzz_source pandalm, spica;
    if (!pandalm.n) {
        fuzz_source_list(&pandalm, "tests/fixtures/offline/pandalm", "");
        fuzz_source_list(&spica, "tests/fixtures/offline/spica", "");
    }
    const char *data = (const char *)bytes;
    fuzz_source_fill(&pandalm, "testset-v1.json", data, size, 0);
    fuzz_loader(load_pandalm, pandalm.files, pandalm.n, "{}");
    fuzz_source_fill(&spica, "dev-annotations.json", data, size, 1);
    fuzz_loader(load_spica, spica.files, spica.n, "{}");
    fuzz_source_fill(&spica, "dev_scenarios_gpt.json", data, size, 1);
    fuzz_loader(load_spica, spica.files, spica.n, "{}");
    src_file llmbar = {"LLMBar/Natural/dataset.json", data, size};
    fuzz_loader(load_llmbar, &llmbar, 1, "{}");
    return 0;
}
