/* lock.c: fuzz target for lock manifests: the bytes parsed by json_parse_buf
 * (common/json.c), read as a lock by lock_from_json (common/lock.c), every
 * output looked up by name, and the parsed JSON written back canonically
 * (json_canonical), as ppr's verify and status read and rewrite locks.
 * Seeds: tests/fixtures/lock and manifests/lock when the pipeline has run. */
#include "common/json.h"
#include "common/lock.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    ppr_err e;
    cJSON *json = json_parse_buf((const char *)bytes, size, "fuzz.json", &e);
    if (!json)
        return 0;
    fuzz_canonical(json);
    lock l;
    if (fuzz_ok(lock_from_json(&l, json, "fuzz.json", &e), &e)) {
        for (size_t i = 0; i < l.n_outputs; i++)
            if (lock_output(&l, l.outputs[i].name) == NULL)
                abort();
        lock_release(&l);
    }
    return 0;
}
