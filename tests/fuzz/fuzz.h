/* fuzz.h: what the fuzz targets share (tests/fuzz/README.md): the libFuzzer
 * entry point they define, the check of every parser's answer, and running a
 * loader of stages/01-fetch on files made of the fuzz bytes. A target prints
 * nothing on the normal path: errors are the expected outcome of most inputs.
 * A broken promise of the code under test (a loader that succeeds but builds
 * a payload its own view rejects, an internal error) aborts, so that
 * libFuzzer and the replay driver report it as a crash. */
#ifndef PPR_FUZZ_H
#define PPR_FUZZ_H

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fsutil.h"
#include "common/json.h"
#include "common/prefs.h"
#include "stages/01-fetch/loaders.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 when a parser accepted its input, 0 when it refused it. Bad input must be
 * PPR_EINPUT: PPR_EINTERNAL on an input of a few kilobytes is a bug, most
 * often out of memory from an allocation that the input's size does not
 * bound, so it aborts after saying what it was. */
static inline int fuzz_ok(int rc, const ppr_err *e)
{
    if (rc == PPR_EINTERNAL) {
        fprintf(stderr, "fuzz: internal error: %s\n", e->msg);
        abort();
    }
    return rc == PPR_OK;
}

/* Write v canonically, as stages and ppr write what they read, and drop it. */
static inline void fuzz_canonical(const cJSON *v)
{
    ppr_err e;
    char *text = json_canonical(v, &e);
    if (!text)
        fuzz_ok(e.code, &e);
    free(text);
}

#define FUZZ_MAX_FILES 64

/* A source's files named and filled as a fixture folder has them, so that a
 * target needs no second list of the names a loader looks for; one of them is
 * then replaced by the fuzz bytes. Targets run from the checkout's root. */
typedef struct {
    char names[FUZZ_MAX_FILES][256];
    char *fixture[FUZZ_MAX_FILES]; /* the files' contents, read once */
    size_t fixture_n[FUZZ_MAX_FILES];
    src_file files[FUZZ_MAX_FILES];
    size_t n;
} fuzz_source;

/* Add the regular files of dir, each named prefix + its name. */
static inline void fuzz_source_list(fuzz_source *s, const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "fuzz: cannot open '%s' (run from the checkout's root)\n", dir);
        abort();
    }
    for (struct dirent *de; (de = readdir(d)) && s->n < FUZZ_MAX_FILES;) {
        char path[512];
        ppr_err e;
        if (de->d_name[0] == '.' || de->d_type != DT_REG)
            continue;
        snprintf(path, sizeof path, "%.250s/%.255s", dir, de->d_name);
        snprintf(s->names[s->n], sizeof s->names[0], "%.60s%.180s", prefix, de->d_name);
        if (file_read_all(path, &s->fixture[s->n], &s->fixture_n[s->n], &e) != PPR_OK)
            abort();
        s->n++;
    }
    closedir(d);
}

/* Point the file called fuzzed at data[size] and every other file at its
 * fixture (others) or at nothing, which keeps the runs fast where the loader
 * needs the other files only to exist. */
static inline void fuzz_source_fill(fuzz_source *s, const char *fuzzed, const char *data,
                                    size_t size, int others)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->names[i], fuzzed) == 0)
            s->files[i] = (src_file){s->names[i], data, size};
        else if (others)
            s->files[i] = (src_file){s->names[i], s->fixture[i], s->fixture_n[i]};
        else
            s->files[i] = (src_file){s->names[i], "", 0};
    }
}

/* Run load on files[n] with options (JSON text); when it succeeds, its
 * dataset must serialize and pass prefs_view_init. */
static inline void fuzz_loader(loader_fn load, const src_file *files, size_t n,
                               const char *options)
{
    cJSON *opts = cJSON_Parse(options);
    prefs_builder *b = prefs_builder_new();
    if (!opts || !b)
        abort();
    src_input in = {files, n, opts};
    cJSON *info = NULL;
    ppr_err e;
    if (fuzz_ok(load(&in, b, &info, &e), &e)) {
        void *payload;
        size_t size;
        prefs_view v;
        if (prefs_builder_finish(b, &payload, &size, &e) != PPR_OK ||
            prefs_view_init(&v, payload, size, "fuzz", &e) != PPR_OK)
            abort();
        free(payload);
    }
    cJSON_Delete(info);
    prefs_builder_free(b);
    cJSON_Delete(opts);
}

#endif
