/* offline_fixture.h: what the tests of the offline loaders share: a
 * source's files read from tests/fixtures/offline or the mirror, a loader run
 * on them, and checks of the dataset it built. */
#ifndef PPR_TESTS_OFFLINE_FIXTURE_H
#define PPR_TESTS_OFFLINE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "common/prefs.h"
#include "stages/01-fetch/loaders.h"

#define FIX "tests/fixtures/offline"
#define MAX_FILES 8
#define SAME "dropped_chosen_equals_rejected" /* an info count */

/* A source's files as main hands them to a loader; data is owned when read. */
typedef struct {
    src_file f[MAX_FILES];
    char *owned[MAX_FILES];
    size_t n;
} files;

typedef struct {
    void *payload;
    prefs_view v;
    cJSON *info;
} loaded;

void files_free(files *fs);
/* Read dir/name for each of the NULL-ended names. */
int files_read(files *fs, const char *dir, const char *const *names);
/* An in-memory file (not owned). */
void files_put(files *fs, const char *name, const char *data, size_t n);
void loaded_free(loaded *l);
/* Run a loader over fs into l, then split it as main does for a config entry
 * with this test_fraction (< 0: none, every row stays a test row); the
 * loader's code, e filled on failure. */
int run_split(loader_fn fn, const files *fs, double test_fraction, loaded *l,
              ppr_err *e);
int run(loader_fn fn, const files *fs, loaded *l, ppr_err *e);
/* The number at a path of keys in l's info (NULL-ended), or -1. */
double info_num(const loaded *l, ...);
/* Row i is (user, prompt, chosen, rejected), byte for byte. */
int row_is(const loaded *l, uint32_t i, const char *user, const char *prompt,
           const char *chosen, const char *rejected);
/* The index of user name's k-th row (from 0), or UINT32_MAX. */
uint32_t nth(const loaded *l, const char *name, size_t k);
/* User name's k-th row (from 0) is (name, prompt, chosen, rejected). */
int user_row_is(const loaded *l, const char *name, size_t k, const char *prompt,
                const char *chosen, const char *rejected);
/* The rows' users in order are the digits of users (user ids below 10). */
int order_is(const loaded *l, const char *users);
/* Every row is a test row without a known probability. */
int all_test_nan(const loaded *l);
/* Rows of user u (by name). */
size_t user_rows(const loaded *l, const char *name);
/* The mirror folder of a source, or NULL (with the reason printed) to skip. */
char *mirror_dir(const char *source);
/* The mirror's files of source into fs; -1 (with the reason printed) to skip. */
int real_files(const char *source, const char *const *names, files *fs);
int real_load(const char *source, const char *const *names, loader_fn fn, loaded *l);

#endif
