/* offline_fixture.c: the offline loaders' test inputs and checks, shared by
 * test_offline.c and test_annotated.c (see offline_fixture.h). */
#include "tests/01-fetch/offline_fixture.h"

#include <CUnit/Basic.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/fsutil.h"
#include "common/mirror.h"

void files_free(files *fs)
{
    for (size_t i = 0; i < fs->n; i++)
        free(fs->owned[i]);
    memset(fs, 0, sizeof *fs);
}

/* Read dir/name for each of the NULL-ended names. */
int files_read(files *fs, const char *dir, const char *const *names)
{
    memset(fs, 0, sizeof *fs);
    for (; *names; names++) {
        char *path = path_join(dir, *names);
        ppr_err e;
        size_t i = fs->n;
        int rc = path ? file_read_all(path, &fs->owned[i], &fs->f[i].n, &e) : PPR_EINTERNAL;
        free(path);
        if (rc) {
            fprintf(stderr, "\n  cannot read %s/%s: %s\n", dir, *names, e.msg);
            files_free(fs);
            return -1;
        }
        fs->f[i].name = *names;
        fs->f[i].data = fs->owned[i];
        fs->n++;
    }
    return 0;
}

/* An in-memory file (not owned). */
void files_put(files *fs, const char *name, const char *data, size_t n)
{
    fs->f[fs->n] = (src_file){name, data, n};
    fs->owned[fs->n++] = NULL;
}

void loaded_free(loaded *l)
{
    free(l->payload);
    cJSON_Delete(l->info);
    memset(l, 0, sizeof *l);
}

/* Run a loader over fs into l, then split it as main does for a config entry
 * with this test_fraction (< 0: none, every row stays a test row); the
 * loader's code, e filled on failure. */
int run_split(loader_fn fn, const files *fs, double test_fraction, loaded *l,
              ppr_err *e)
{
    memset(l, 0, sizeof *l);
    src_input in = {fs->f, fs->n, NULL};
    prefs_builder *b = prefs_builder_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    size_t n;
    int rc = fn(&in, b, &l->info, e);
    if (!rc && test_fraction >= 0)
        prefs_builder_split(b, test_fraction);
    if (!rc)
        rc = prefs_builder_finish(b, &l->payload, &n, e);
    if (!rc)
        rc = prefs_view_init(&l->v, l->payload, n, "test", e);
    prefs_builder_free(b);
    if (rc)
        loaded_free(l);
    return rc;
}

int run(loader_fn fn, const files *fs, loaded *l, ppr_err *e)
{
    return run_split(fn, fs, -1.0, l, e);
}

/* The number at a path of keys in l's info (NULL-ended), or -1. */
double info_num(const loaded *l, ...)
{
    va_list ap;
    va_start(ap, l);
    const cJSON *v = l->info;
    for (const char *k; v && (k = va_arg(ap, const char *));)
        v = cJSON_GetObjectItemCaseSensitive(v, k);
    va_end(ap);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* Row i is (user, prompt, chosen, rejected), byte for byte. */
int row_is(const loaded *l, uint32_t i, const char *user, const char *prompt,
           const char *chosen, const char *rejected)
{
    if (i >= l->v.h->n_rows) {
        fprintf(stderr, "\n  no row %u\n", i);
        return 0;
    }
    const prefs_row *r = &l->v.rows[i];
    const char *want[4] = {user, prompt, chosen, rejected};
    const char *got[4] = {prefs_user_name(&l->v, r->user), prefs_text(&l->v, r->prompt, NULL),
                          prefs_text(&l->v, r->chosen, NULL),
                          prefs_text(&l->v, r->rejected, NULL)};
    for (int k = 0; k < 4; k++)
        if (strcmp(want[k], got[k]) != 0) {
            fprintf(stderr, "\n  row %u field %d: \"%s\" != \"%s\"\n", i, k, got[k], want[k]);
            return 0;
        }
    return 1;
}

/* The index of user name's k-th row (from 0), or UINT32_MAX. */
uint32_t nth(const loaded *l, const char *name, size_t k)
{
    for (uint32_t i = 0; i < l->v.h->n_rows; i++)
        if (strcmp(prefs_user_name(&l->v, l->v.rows[i].user), name) == 0 && k-- == 0)
            return i;
    return UINT32_MAX;
}

/* User name's k-th row (from 0) is (name, prompt, chosen, rejected). */
int user_row_is(const loaded *l, const char *name, size_t k, const char *prompt,
                const char *chosen, const char *rejected)
{
    return row_is(l, nth(l, name, k), name, prompt, chosen, rejected);
}

/* The rows' users in order are the digits of users (user ids below 10). */
int order_is(const loaded *l, const char *users)
{
    char got[256] = "";
    for (uint32_t i = 0; i < l->v.h->n_rows && i + 1 < sizeof got; i++)
        got[i] = (char)('0' + l->v.rows[i].user);
    if (strcmp(got, users) == 0)
        return 1;
    fprintf(stderr, "\n  users in row order: %s, not %s\n", got, users);
    return 0;
}

/* Every row is a test row without a known probability. */
int all_test_nan(const loaded *l)
{
    for (uint32_t i = 0; i < l->v.h->n_rows; i++)
        if (l->v.rows[i].split != PREFS_TEST || !isnan(l->v.rows[i].p_chosen))
            return 0;
    return 1;
}

/* Rows of user u (by name). */
size_t user_rows(const loaded *l, const char *name)
{
    size_t n = 0;
    for (uint32_t i = 0; i < l->v.h->n_rows; i++)
        n += strcmp(prefs_user_name(&l->v, l->v.rows[i].user), name) == 0;
    return n;
}

/* The mirror folder of a source, or NULL (with the reason printed) to skip. */
char *mirror_dir(const char *source)
{
    char *dir = path_join(mirror_root(), source);
    struct stat st;
    if (!dir || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        printf("\n  skipped: no mirror folder %s (set PPR_MIRROR)\n", dir ? dir : source);
        free(dir);
        return NULL;
    }
    return dir;
}

/* The mirror's files of source into fs; -1 (with the reason printed) to skip. */
int real_files(const char *source, const char *const *names, files *fs)
{
    char *dir = mirror_dir(source);
    if (!dir)
        return -1;
    int rc = files_read(fs, dir, names);
    free(dir);
    CU_ASSERT_FATAL(rc == 0);
    return 0;
}

int real_load(const char *source, const char *const *names, loader_fn fn, loaded *l)
{
    files fs;
    ppr_err e;
    if (real_files(source, names, &fs))
        return -1;
    int rc = run(fn, &fs, l, &e);
    if (rc)
        fprintf(stderr, "\n  %s: %s\n", source, e.msg);
    CU_ASSERT_FATAL(rc == PPR_OK);
    files_free(&fs);
    for (uint32_t i = 0; i < l->v.h->n_rows; i++)
        CU_ASSERT_FATAL(isnan(l->v.rows[i].p_chosen));
    CU_ASSERT(fn == load_ultrafeedback || all_test_nan(l));
    return 0;
}
