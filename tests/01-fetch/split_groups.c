/* split_groups.c: which split each group of an evaluation set's prompts
 * (a HumanEval task, an XSTest prompt id) landed on, read from the upstream
 * files apart from the loaders (see split_groups.h). */
#include "tests/01-fetch/split_groups.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "stages/01-fetch/csv.h"

static void group_put(group_map *m, const char *text, size_t n, const char *group)
{
    CU_ASSERT_FATAL(mem_grow((void **)&m->text, &m->cap, m->n + 1, sizeof *m->text) == 0 &&
                    mem_grow((void **)&m->group, &m->group_cap, m->n + 1,
                             sizeof *m->group) == 0);
    m->text[m->n] = strndup(text, n);
    m->group[m->n] = strdup(group);
    CU_ASSERT_FATAL(m->text[m->n] && m->group[m->n]);
    m->n++;
}

void group_map_free(group_map *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->text[i]);
        free(m->group[i]);
    }
    free(m->text);
    free(m->group);
    memset(m, 0, sizeof *m);
}

/* HumanEvalPack: every language's "<language>/<N>" is task "HumanEval/<N>". */
void hep_groups(const files *fs, group_map *m)
{
    for (size_t i = 0; i < fs->n; i++) {
        const char *at = fs->f[i].data, *end = at + fs->f[i].n;
        while (at < end) {
            const char *nl = memchr(at, '\n', (size_t)(end - at));
            size_t len = nl ? (size_t)(nl - at) : (size_t)(end - at);
            cJSON *v = cJSON_ParseWithLength(at, len);
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(v, "task_id");
            const cJSON *ins = cJSON_GetObjectItemCaseSensitive(v, "instruction");
            if (cJSON_IsString(id) && cJSON_IsString(ins) && strchr(id->valuestring, '/')) {
                char task[64];
                snprintf(task, sizeof task, "HumanEval/%s", strrchr(id->valuestring, '/') + 1);
                group_put(m, ins->valuestring, strlen(ins->valuestring), task);
            }
            cJSON_Delete(v);
            at += len + 1;
        }
    }
}

/* XSTest: the completions' prompt of id "v2-N" is prompt id N. */
void xs_groups(const files *fs, group_map *m)
{
    static const char *const names[] = {"id", "prompt", NULL};
    for (size_t i = 0; i < fs->n; i++) {
        if (strncmp(fs->f[i].name, "model_completions/", 18) != 0)
            continue;
        csv_reader r;
        size_t col[2], n;
        int got;
        ppr_err e;
        CU_ASSERT_FATAL(csv_open(&r, fs->f[i].data, fs->f[i].n, fs->f[i].name, &e) == 0 &&
                        csv_columns(&r, names, col, &e) == 0);
        while (csv_next(&r, &got, &e) == 0 && got) {
            const char *prompt = csv_field(&r, col[1], &n);
            group_put(m, prompt, n, csv_field(&r, col[0], NULL) + 3);
        }
        csv_release(&r);
    }
}

typedef struct {
    const char *group;
    uint32_t split;
} sided;

static int sided_cmp(const void *pa, const void *pb)
{
    const sided *a = pa, *b = pb;
    int c = strcmp(a->group, b->group);
    return c ? c : (a->split > b->split) - (a->split < b->split);
}

/* Load fs with fn and split it at test_fraction into l (as run_split); the
 * number of groups (by groups, or NULL: each prompt text is its own group)
 * with rows on both sides. *test receives how many groups have test rows. A
 * prompt that the groups do not know fails the test. */
size_t split_leaks(loader_fn fn, const files *fs, double test_fraction,
                   void (*groups)(const files *, group_map *), loaded *l, size_t *test)
{
    ppr_err e;
    int rc = run_split(fn, fs, test_fraction, l, &e);
    if (rc)
        fprintf(stderr, "\n  %s\n", e.msg);
    CU_ASSERT_EQUAL_FATAL(rc, PPR_OK);
    group_map m = {0};
    if (groups)
        groups(fs, &m);
    size_t n = l->v.h->n_rows, both = 0;
    sided *s = calloc(n ? n : 1, sizeof *s);
    CU_ASSERT_FATAL(s != NULL);
    for (uint32_t i = 0; i < n; i++) {
        const char *prompt = prefs_text(&l->v, l->v.rows[i].prompt, NULL);
        s[i] = (sided){groups ? NULL : prompt, l->v.rows[i].split};
        for (size_t k = 0; k < m.n && !s[i].group; k++)
            if (strcmp(m.text[k], prompt) == 0)
                s[i].group = m.group[k];
        CU_ASSERT_PTR_NOT_NULL_FATAL(s[i].group);
    }
    qsort(s, n, sizeof *s, sided_cmp);
    *test = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && strcmp(s[i].group, s[i - 1].group) == 0) {
            both += s[i].split != s[i - 1].split;
            *test += s[i].split == PREFS_TEST && s[i - 1].split != PREFS_TEST;
        } else {
            *test += s[i].split == PREFS_TEST;
        }
    }
    free(s);
    group_map_free(&m);
    return both;
}

/* Rows of l in the test split. */
size_t test_rows(const loaded *l)
{
    size_t n = 0;
    for (uint32_t i = 0; i < l->v.h->n_rows; i++)
        n += l->v.rows[i].split == PREFS_TEST;
    return n;
}
