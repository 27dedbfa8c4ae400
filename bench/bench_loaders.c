/* bench_loaders.c: parsing speed of the JSON-lines loaders: runs load_tldr
 * over a comparisons directory (bench/make_tldr.py makes one) and prints MB/s
 * of input. Every *.json under DIR/comparisons/ is handed over; load_tldr picks
 * its files by name. bench/loaders.sh runs it beside Python's json module. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fsutil.h"
#include "common/progress.h"
#include "stages/01-fetch/loaders.h"

#define MAX_FILES 64

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: bench_loaders <tldr dir>\n");
        return 2;
    }
    src_file files[MAX_FILES]; /* [n] */
    char rels[MAX_FILES][64];  /* [n] names inside the source */
    size_t n = 0, total = 0;
    ppr_err e = {0};
    char *dir = path_join(argv[1], "comparisons");
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d) {
        fprintf(stderr, "bench_loaders: cannot list '%s/comparisons'\n", argv[1]);
        return 2;
    }
    for (struct dirent *de; (de = readdir(d)) && n < MAX_FILES;) {
        size_t len = strlen(de->d_name);
        if (len < 6 || len > 40 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        snprintf(rels[n], sizeof rels[n], "comparisons/%s", de->d_name);
        char *path = path_join(argv[1], rels[n]), *data = NULL;
        if (!path || file_read_all(path, &data, &files[n].n, &e)) {
            fprintf(stderr, "bench_loaders: %s\n", e.msg);
            return 2;
        }
        free(path);
        files[n].data = data;
        files[n].name = rels[n];
        total += files[n++].n;
    }
    closedir(d);
    free(dir);
    cJSON *options = cJSON_Parse("{\"kind\":\"real\",\"source\":\"tldr\",\"workers\":5}");
    src_input in = {files, n, options};
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
    for (size_t i = 0; i < n; i++)
        free((char *)files[i].data);
    cJSON_Delete(options);
    return 0;
}
