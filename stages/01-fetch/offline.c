/* offline.c: rows, users and counts of the offline loaders (see offline.h). */
#include "offline.h"

#include <math.h>
#include <string.h>

span offline_span(const char *s)
{
    return (span){s, strlen(s)};
}

int offline_user(prefs_builder *b, const char *name, tally *t, ppr_err *e)
{
    int64_t id = prefs_builder_user(b, name, PREFS_POOL_MAIN);
    if (id < 0)
        return err_nomem(e);
    *t = (tally){.name = name, .id = (uint32_t)id, .split = PREFS_TEST};
    return PPR_OK;
}

int offline_pair_keyed(prefs_builder *b, tally *t, span key, span prompt, span chosen,
                       span rejected, prefs_row *added, ppr_err *e)
{
    if (added)
        added->user = UINT32_MAX;
    if (chosen.n == rejected.n && memcmp(chosen.s, rejected.s, chosen.n) == 0) {
        t->same++;
        return PPR_OK;
    }
    int64_t p = prefs_builder_text(b, prompt.s, prompt.n);
    int64_t c = p < 0 ? -1 : prefs_builder_text(b, chosen.s, chosen.n);
    int64_t r = c < 0 ? -1 : prefs_builder_text(b, rejected.s, rejected.n);
    if (r < 0)
        return err_nomem(e);
    prefs_row row = {t->id, (uint32_t)p, (uint32_t)c, (uint32_t)r, t->split, NAN};
    int rc = key.s ? prefs_builder_row_keyed(b, &row, key.s, key.n, e)
                   : prefs_builder_row(b, &row, e);
    if (rc)
        return rc;
    t->rows++;
    if (added)
        *added = row;
    return PPR_OK;
}

int offline_pair(prefs_builder *b, tally *t, span prompt, span chosen, span rejected,
                 prefs_row *added, ppr_err *e)
{
    return offline_pair_keyed(b, t, (span){NULL, 0}, prompt, chosen, rejected, added, e);
}

int offline_count(cJSON *o, const char *key, size_t v)
{
    return cJSON_AddNumberToObject(o, key, (double)v) != NULL;
}

cJSON *offline_info(const tally *t, size_t n, int with_ties)
{
    cJSON *info = cJSON_CreateObject();
    cJSON *users = cJSON_AddObjectToObject(info, "users");
    int ok = users != NULL;
    size_t rows = 0, same = 0, ties = 0;
    for (size_t i = 0; ok && i < n; i++) {
        cJSON *u = cJSON_AddObjectToObject(users, t[i].name);
        ok = u && offline_count(u, "rows", t[i].rows) &&
             offline_count(u, "dropped_chosen_equals_rejected", t[i].same) &&
             (!with_ties || offline_count(u, "ties", t[i].ties));
        rows += t[i].rows;
        same += t[i].same;
        ties += t[i].ties;
    }
    ok = ok && offline_count(info, "rows", rows) &&
         offline_count(info, "dropped_chosen_equals_rejected", same) &&
         (!with_ties || offline_count(info, "ties", ties));
    if (!ok) {
        cJSON_Delete(info);
        return NULL;
    }
    return info;
}

int offline_need_file(const src_input *in, const char *name, const src_file **f, ppr_err *e)
{
    *f = src_input_file(in, name);
    if (!*f)
        return err_set(e, PPR_EINPUT, "missing file '%s'", name);
    return PPR_OK;
}
