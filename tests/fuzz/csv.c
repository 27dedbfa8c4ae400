/* csv.c: fuzz target for the RFC 4180 reader of stages/01-fetch/csv.c
 * (csv_open, csv_columns, csv_next, csv_field over every record) and the
 * XSTest loader on top of it, the bytes once as xstest_prompts.csv and once
 * as one model's completions (the other files from tests/fixtures, whose
 * names and contents they are). Seeds: tests/fixtures/offline/xstest. */
#include "stages/01-fetch/csv.h"
#include "tests/fuzz/fuzz.h"

static void fuzz_reader(const char *data, size_t size)
{
    csv_reader r;
    ppr_err e;
    int got;
    if (fuzz_ok(csv_open(&r, data, size, "fuzz.csv", &e), &e)) {
        size_t col;
        csv_column(&r, "id", &col, &e);
        while (fuzz_ok(csv_next(&r, &got, &e), &e) && got)
            for (size_t i = 0; i < r.head.n; i++) {
                size_t len;
                const char *f = csv_field(&r, i, &len);
                if (f[len] != '\0')
                    abort();
            }
    }
    csv_release(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    /* read once: the fixtures do not change while fuzzing */
    static fuzz_source xs;
    if (!xs.n) {
        fuzz_source_list(&xs, "tests/fixtures/offline/xstest", "");
        fuzz_source_list(&xs, "tests/fixtures/offline/xstest/model_completions",
                         "model_completions/");
    }
    const char *data = (const char *)bytes;
    fuzz_reader(data, size);
    fuzz_source_fill(&xs, "xstest_prompts.csv", data, size, 1);
    fuzz_loader(load_xstest, xs.files, xs.n, "{}");
    fuzz_source_fill(&xs, "model_completions/xstest_v2_completions_gpt4.csv", data, size, 1);
    fuzz_loader(load_xstest, xs.files, xs.n, "{}");
    return 0;
}
