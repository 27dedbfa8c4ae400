/* model.c: fuzz target for model files: the bytes loaded by method_load
 * (common/models/method.c: the envelope of modelfile.c, then each method's
 * own shape and parameters), as stages 05-07 will load stage 04's models. A
 * model that loads must save back to the very same bytes: every field the
 * loader accepts is one the saver writes. Seeds: tests/models/model_seeds.c's
 * models of each method and shape. */
#include "common/models/method.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    ppr_err e;
    method *m;
    if (!fuzz_ok(method_load(&m, bytes, size, "fuzz.model", &e), &e))
        return 0;
    void *again;
    size_t n;
    if (!fuzz_ok(method_save(m, &again, &n, &e), &e))
        abort();
    if (n != size || memcmp(again, bytes, n) != 0) {
        fprintf(stderr, "fuzz: model \"%s\" saves back to other bytes\n", m->name);
        abort();
    }
    free(again);
    method_free(m);
    return 0;
}
