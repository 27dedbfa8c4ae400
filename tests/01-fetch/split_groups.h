/* split_groups.h: the leakage checks of test_offline.c: which group (a
 * HumanEval task, an XSTest prompt id) each prompt text belongs to, read
 * from the upstream files apart from the loaders, and whether a split put a
 * group on both sides. */
#ifndef PPR_TESTS_SPLIT_GROUPS_H
#define PPR_TESTS_SPLIT_GROUPS_H

#include <stddef.h>

#include "tests/01-fetch/offline_fixture.h"

typedef struct {
    char **text, **group; /* [n] */
    size_t n, cap, group_cap;
} group_map;

void group_map_free(group_map *m);
/* HumanEvalPack: every language's "<language>/<N>" is task "HumanEval/<N>". */
void hep_groups(const files *fs, group_map *m);
/* XSTest: the completions' prompt of id "v2-N" is prompt id N. */
void xs_groups(const files *fs, group_map *m);
/* Load fs with fn and split it at test_fraction into l (as run_split); the
 * number of groups (by groups, or NULL: each prompt text is its own group)
 * with rows on both sides. *test receives how many groups have test rows. A
 * prompt that the groups do not know fails the test. */
size_t split_leaks(loader_fn fn, const files *fs, double test_fraction,
                   void (*groups)(const files *, group_map *), loaded *l, size_t *test);
/* Rows of l in the test split. */
size_t test_rows(const loaded *l);

#endif
