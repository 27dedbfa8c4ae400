/* jsonl.c: fuzz target for the JSON-lines walk src_each_line
 * (stages/01-fetch/loaders.c) and the loaders built on it: TL;DR's
 * comparisons (load_tldr, the bytes as batch3.json, its other files empty),
 * HumanEvalPack (load_hep, as the C++ file) and UltraFeedback (as the train
 * file). Seeds: tests/fixtures/tldr and tests/fixtures/offline/hep. */
#include "tests/fuzz/fuzz.h"

/* Count the lines, so that the walk itself runs even where a loader stops at
 * its first missing field. */
static int count_line(const cJSON *row, const char *where, void *ctx, ppr_err *e)
{
    (void)row;
    (void)where;
    (void)e;
    (*(size_t *)ctx)++;
    return PPR_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    /* the files' names, listed once: the fixtures do not change while fuzzing */
    static fuzz_source tldr, hep;
    if (!tldr.n) {
        fuzz_source_list(&tldr, "tests/fixtures/tldr/comparisons", "comparisons/");
        fuzz_source_list(&hep, "tests/fixtures/offline/hep", "");
    }
    const char *data = (const char *)bytes;
    src_file f = {"fuzz.jsonl", data, size};
    size_t lines = 0;
    ppr_err e;
    fuzz_ok(src_each_line(&f, count_line, &lines, &e), &e);
    fuzz_source_fill(&tldr, "comparisons/batch3.json", data, size, 0);
    fuzz_loader(load_tldr, tldr.files, tldr.n, "{\"workers\": 2}");
    fuzz_source_fill(&hep, "humanevalpack-cpp.jsonl", data, size, 0);
    fuzz_loader(load_hep, hep.files, hep.n, "{}");
    src_file uf[2] = {{"train_clean.jsonl", data, size}, {"eval_clean.jsonl", "", 0}};
    fuzz_loader(load_ultrafeedback, uf, 2, "{}");
    return 0;
}
