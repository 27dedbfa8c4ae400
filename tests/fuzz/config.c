/* config.c: fuzz target for the config loader of common/config.c: the bytes
 * as manifests/config.json, checked against the real
 * manifests/config.schema.json (config_load_buf: schema check, profile
 * checks, the selected profile's merge, the merged config's check), and the
 * resolved config written canonically. Seed: manifests/config.json. */
#include "common/config.h"
#include "common/json.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    /* parsed once: the schema does not change while fuzzing */
    static cJSON *schema;
    ppr_err e;
    if (!schema && !(schema = json_parse_file(CONFIG_SCHEMA_PATH, &e))) {
        fprintf(stderr, "fuzz: %s (run from the checkout's root)\n", e.msg);
        abort();
    }
    cJSON *cfg;
    int rc = config_load_buf((const char *)bytes, size, CONFIG_PATH, schema, &cfg, &e);
    if (fuzz_ok(rc, &e)) {
        fuzz_canonical(cfg);
        cJSON_Delete(cfg);
    }
    return 0;
}
