/* bench_loaders.c: parsing speed of the JSON-lines loaders: runs load_tldr
 * over a comparisons directory (bench/make_tldr.py makes one) and prints MB/s
 * of input. bench/loaders.sh runs it beside Python's json module. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/fsutil.h"
#include "common/progress.h"
#include "stages/01-fetch/loaders.h"

static const char *const names[] = {
    "batch3", "batch4", "batch5", "batch10", "batch11", "batch12", "batch13", "batch14",
    "batch15", "batch16", "batch17", "batch18", "batch19", "batch20", "batch22", "batch6",
    "batch7", "batch8", "batch9", "batch0_cnndm", "cnndm0", "cnndm2", "edit_b2_eval_test",
};
#define N_FILES (sizeof names / sizeof *names)

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: bench_loaders <tldr dir>\n");
        return 2;
    }
    src_file files[N_FILES];        /* [N_FILES] */
    char rels[N_FILES][64];         /* [N_FILES] names inside the source */
    size_t total = 0;
    ppr_err e = {0};
    for (size_t i = 0; i < N_FILES; i++) {
        snprintf(rels[i], sizeof rels[i], "comparisons/%s.json", names[i]);
        char *path = path_join(argv[1], rels[i]), *data = NULL;
        if (!path || file_read_all(path, &data, &files[i].n, &e)) {
            fprintf(stderr, "bench_loaders: %s\n", e.msg);
            return 2;
        }
        free(path);
        files[i].data = data;
        files[i].name = rels[i];
        total += files[i].n;
    }
    cJSON *options = cJSON_Parse("{\"kind\":\"real\",\"source\":\"tldr\",\"workers\":5}");
    src_input in = {files, N_FILES, options};
    double best = INFINITY;
    for (int rep = 0; rep < 3; rep++) {
        prefs_builder *b = prefs_builder_new();
        cJSON *info = NULL;
        double t0 = clock_seconds();
        if (load_tldr(&in, b, &info, &e)) {
            fprintf(stderr, "bench_loaders: %s\n", e.msg);
            return 2;
        }
        double t = clock_seconds() - t0;
        best = t < best ? t : best;
        cJSON_Delete(info);
        prefs_builder_free(b);
    }
    printf("%.1f\n", total / 1e6 / best);
    for (size_t i = 0; i < N_FILES; i++)
        free((char *)files[i].data);
    cJSON_Delete(options);
    return 0;
}
