/* bench_hashenc.c: speed of the hash encoder on one core: encodes the "output"
 * texts of the given AlpacaEval model-output files (JSON arrays) in batches and
 * prints MB of text per CPU second, best of three runs. bench/encode_hash.sh
 * runs it beside scikit-learn's HashingVectorizer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/json.h"
#include "common/mem.h"
#include "stages/03-encode/encoder.h"

#define BATCH 512

/* CPU seconds of this process: per-core speed, whatever else the machine runs. */
static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_hashenc <hash config json> <model_outputs.json>...\n");
        return 2;
    }
    ppr_err e = {0};
    cJSON *cfg = json_parse_buf(argv[1], strlen(argv[1]), "config argument", &e);
    encoder *enc = NULL;
    if (!cfg || hashenc_open(&enc, cfg, "config argument", &e)) {
        fprintf(stderr, "bench_hashenc: %s\n", e.msg);
        return 2;
    }
    cJSON **docs = calloc((size_t)argc, sizeof *docs); /* [argc] parsed files */
    const char **texts = NULL;                           /* [n] */
    size_t *lens = NULL, n = 0, cap_t = 0, cap_l = 0, total = 0;
    if (!docs) {
        fprintf(stderr, "bench_hashenc: out of memory\n");
        return 3;
    }
    for (int f = 2; f < argc; f++) {
        docs[f] = json_parse_file(argv[f], &e);
        if (!docs[f]) {
            fprintf(stderr, "bench_hashenc: %s\n", e.msg);
            return 2;
        }
        const cJSON *row;
        cJSON_ArrayForEach(row, docs[f]) {
            const char *s;
            if (json_get_str(row, "output", argv[f], &s, &e)) {
                fprintf(stderr, "bench_hashenc: %s\n", e.msg);
                return 2;
            }
            if (mem_grow((void **)&texts, &cap_t, n + 1, sizeof *texts) ||
                mem_grow((void **)&lens, &cap_l, n + 1, sizeof *lens)) {
                fprintf(stderr, "bench_hashenc: out of memory\n");
                return 3;
            }
            texts[n] = s;
            lens[n] = strlen(s);
            total += lens[n++];
        }
    }
    float *out = malloc((size_t)BATCH * enc->dim * sizeof *out); /* [BATCH][dim] */
    if (!out) {
        fprintf(stderr, "bench_hashenc: out of memory\n");
        return 3;
    }
    double best = INFINITY;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = cpu_seconds();
        for (size_t i = 0; i < n; i += BATCH) {
            size_t k = n - i < BATCH ? n - i : BATCH;
            if (enc->encode(enc, texts + i, lens + i, k, out, &e)) {
                fprintf(stderr, "bench_hashenc: %s\n", e.msg);
                return 3;
            }
        }
        double t = cpu_seconds() - t0;
        best = t < best ? t : best;
    }
    fprintf(stderr, "bench_hashenc: %zu texts, %.1f MB, best of 3: %.3f CPU s\n", n, total / 1e6,
            best);
    printf("%.2f\n", total / 1e6 / best);
    free(out);
    free(texts);
    free(lens);
    for (int f = 2; f < argc; f++)
        cJSON_Delete(docs[f]);
    free(docs);
    cJSON_Delete(cfg);
    encoder_free(enc);
    return 0;
}
