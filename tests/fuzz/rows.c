/* rows.c: fuzz target for the Hugging Face rows-API data: the loaders of
 * stages/01-fetch/load_hf.c on their JSON-lines files (P-SOUPS, Personal-LLM
 * with its new users, RewardBench under both mappings; the bytes as one file,
 * the others empty) and the page check of common/hfrows.c on the same bytes
 * as one page of the API. The page check and the writing of a page's rows are
 * static in hfrows.c, so this file includes it: the code fuzzed is the one
 * hfrows_fetch runs, with no network and no files. Seeds: tests/fixtures/hf
 * and pages made of its rows (bench/fuzz.sh). */
#include <fcntl.h>
#include <unistd.h>

#include "common/hfrows.c"
#include "tests/fuzz/fuzz.h"

static void fuzz_page(const char *data, size_t size, int sink)
{
    split_ref s = {.dataset = "fuzz", .config = "default", .split = "train",
                   .pages = "fuzz.pages"};
    ppr_err e;
    cJSON *page = json_parse_buf(data, size, "page", &e);
    int64_t total = -1;
    if (page && fuzz_ok(page_check(&s, page, 0, &total, &e), &e))
        fuzz_ok(page_write(&s, page, 0, sink, "fuzz.jsonl", &e), &e);
    cJSON_Delete(page);
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    /* listed and opened once: the fixtures do not change while fuzzing */
    static fuzz_source psoups, pllm, rb;
    static int sink = -1;
    if (!psoups.n) {
        fuzz_source_list(&psoups, "tests/fixtures/hf/psoups/default", "default/");
        fuzz_source_list(&pllm, "tests/fixtures/hf/pllm/default", "default/");
        fuzz_source_list(&pllm, "tests/fixtures/hf/pllm/new-user", "new-user/");
        fuzz_source_list(&rb, "tests/fixtures/hf/rewardbench/default", "default/");
        if ((sink = open("/dev/null", O_WRONLY)) < 0)
            abort();
    }
    const char *data = (const char *)bytes;
    fuzz_source_fill(&psoups, "default/train.jsonl", data, size, 0);
    fuzz_loader(load_psoups, psoups.files, psoups.n, "{}");
    fuzz_source_fill(&pllm, "new-user/train.jsonl", data, size, 0);
    fuzz_loader(load_pllm, pllm.files, pllm.n, "{\"new_users\": true}");
    fuzz_source_fill(&rb, "default/raw.jsonl", data, size, 0);
    fuzz_loader(load_rewardbench, rb.files, rb.n, "{}");
    fuzz_source_fill(&rb, "default/filtered.jsonl", data, size, 0);
    fuzz_loader(load_rewardbench, rb.files, rb.n,
                "{\"split\": \"filtered\", \"mapping\": \"paper-code\"}");
    fuzz_page(data, size, sink);
    return 0;
}
