/* replay.c: a main for the fuzz targets without libFuzzer, so that the normal
 * build (gcc) can run a target over saved inputs: every file named on the
 * command line, and every file in a folder named there, is passed to
 * LLVMFuzzerTestOneInput once. Prints one line, "<n> inputs", or exits 1
 * naming what it could not read; a crash is a crash. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "common/fsutil.h"
#include "tests/fuzz/fuzz.h"

/* Run one input from a buffer of exactly its size, as libFuzzer passes it,
 * so that a read past the end is caught wherever a sanitizer runs. */
static int replay_file(const char *path)
{
    char *text;
    size_t n;
    ppr_err e;
    if (file_read_all(path, &text, &n, &e) != PPR_OK) {
        fprintf(stderr, "replay: %s\n", e.msg);
        return -1;
    }
    uint8_t *data = malloc(n ? n : 1);
    if (!data) {
        free(text);
        fprintf(stderr, "replay: out of memory\n");
        return -1;
    }
    memcpy(data, text, n);
    free(text);
    LLVMFuzzerTestOneInput(data, n);
    free(data);
    return 0;
}

/* A file, or every file of a folder; returns how many ran, or -1. */
static long replay_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: cannot read '%s'\n", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return replay_file(path) ? -1 : 1;
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "replay: cannot read directory '%s'\n", path);
        return -1;
    }
    long count = 0;
    for (struct dirent *de; (de = readdir(d)) && count >= 0;) {
        if (de->d_name[0] == '.')
            continue;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
        count = replay_file(sub) ? -1 : count + 1;
    }
    closedir(d);
    return count;
}

/* As libFuzzer's -rss_limit_mb=2048 does, so that an allocation that the
 * input does not bound fails here too, which the targets turn into an abort.
 * Not under AddressSanitizer, whose shadow memory alone is terabytes of
 * address space: tests/sanitize.sh sets its max_allocation_size_mb to the
 * same 4 GiB instead. */
#define REPLAY_MEMORY ((rlim_t)4 << 30)
#if defined(__SANITIZE_ADDRESS__)
#define REPLAY_LIMIT_MEMORY 0
#elif defined(__has_feature)
#define REPLAY_LIMIT_MEMORY !__has_feature(address_sanitizer)
#else
#define REPLAY_LIMIT_MEMORY 1
#endif

int main(int argc, char **argv)
{
    struct rlimit limit = {REPLAY_MEMORY, REPLAY_MEMORY};
    if (REPLAY_LIMIT_MEMORY)
        setrlimit(RLIMIT_AS, &limit);
    long total = 0;
    for (int i = 1; i < argc; i++) {
        long n = replay_path(argv[i]);
        if (n < 0)
            return 1;
        total += n;
    }
    printf("%ld inputs\n", total);
    return 0;
}
