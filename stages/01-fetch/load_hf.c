/* load_hf.c: the Hugging Face sources P-SOUPS, Personal-LLM and RewardBench,
 * read from the JSON lines of ppr's rows-API pager (one dataset-viewer `row`
 * object per line, in "<config>/<split>.jsonl") and selected exactly as the
 * paper's code selects them; docs/sources-hf.md gives each rule its source. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/mem.h"
#include "common/rewardbench.h"
#include "loaders.h"

#define OPTIONS "options" /* names in->options in errors; main adds the source */

/* ---- options (all optional; the defaults are in docs/sources-hf.md) ------- */

/* A string option that is either a (the default) or b. */
static int option_choice(const cJSON *opts, const char *key, const char *a, const char *b,
                         const char **out, ppr_err *e)
{
    *out = a;
    if (!cJSON_GetObjectItemCaseSensitive(opts, key))
        return PPR_OK;
    if (json_get_str(opts, key, OPTIONS, out, e))
        return PPR_EINPUT;
    if (strcmp(*out, a) != 0 && strcmp(*out, b) != 0)
        return err_set(e, PPR_EINPUT, "'%s': field \"%s\" must be \"%s\" or \"%s\", not \"%s\"",
                       OPTIONS, key, a, b, *out);
    return PPR_OK;
}

/* A boolean option, false by default. */
static int option_bool(const cJSON *opts, const char *key, int *out, ppr_err *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(opts, key);
    *out = 0;
    if (!v)
        return PPR_OK;
    if (!cJSON_IsBool(v))
        return err_set(e, PPR_EINPUT, "'%s': field \"%s\" must be true or false", OPTIONS, key);
    *out = cJSON_IsTrue(v);
    return PPR_OK;
}

/* ---- rows shared by the three sources --------------------------------------- */

/* The columns prompt, chosen, rejected of a row; strings owned by the row. */
typedef struct {
    const char *prompt, *chosen, *rejected;
} hf_pair;

static int pair_read(const cJSON *row, const char *where, hf_pair *p, ppr_err *e)
{
    int rc;
    if ((rc = json_get_str(row, "prompt", where, &p->prompt, e)) ||
        (rc = json_get_str(row, "chosen", where, &p->chosen, e)) ||
        (rc = json_get_str(row, "rejected", where, &p->rejected, e)))
        return rc;
    return PPR_OK;
}

/* Add the pair's texts to b and set r's text ids. */
static int pair_texts(prefs_builder *b, const hf_pair *p, prefs_row *r, ppr_err *e)
{
    int64_t t[3];
    const char *s[3] = {p->prompt, p->chosen, p->rejected};
    for (int i = 0; i < 3; i++)
        if ((t[i] = prefs_builder_text(b, s[i], strlen(s[i]))) < 0)
            return err_nomem(e);
    r->prompt = (uint32_t)t[0];
    r->chosen = (uint32_t)t[1];
    r->rejected = (uint32_t)t[2];
    return PPR_OK;
}

/* Rows wait here until every user is known, so that users can be numbered in a
 * fixed order whatever order the rows come in; r.user is provisional until then. */
typedef struct {
    prefs_row *p; /* [n] */
    size_t n, cap;
} row_buf;

static int row_buf_add(row_buf *rb, const prefs_row *r, ppr_err *e)
{
    if (mem_grow((void **)&rb->p, &rb->cap, rb->n + 1, sizeof *rb->p))
        return err_nomem(e);
    rb->p[rb->n++] = *r;
    return PPR_OK;
}

/* ---- P-SOUPS and Personal-LLM: users by uid ------------------------------------ */

static const char *const pair_splits[2] = {"train", "test"}; /* by enum prefs_split */

typedef struct {
    int64_t uid;
    uint32_t pool;   /* enum prefs_pool: the config it came from */
    size_t rows[2];  /* kept rows per split */
} uid_user;

typedef struct {
    prefs_builder *b;
    uid_user *users; /* [n_users] in order of first appearance */
    size_t n_users, users_cap;
    row_buf rows;    /* r.user indexes users */
    uint32_t pool, split; /* of the file being read */
    size_t read, dropped; /* of the file being read */
} uid_load;

static int64_t uid_user_of(uid_load *L, int64_t uid)
{
    for (size_t i = 0; i < L->n_users; i++)
        if (L->users[i].uid == uid && L->users[i].pool == L->pool)
            return (int64_t)i;
    if (mem_grow((void **)&L->users, &L->users_cap, L->n_users + 1, sizeof *L->users))
        return -1;
    L->users[L->n_users] = (uid_user){.uid = uid, .pool = L->pool};
    return (int64_t)L->n_users++;
}

static int uid_row(const cJSON *row, const char *where, void *ctx, ppr_err *e)
{
    uid_load *L = ctx;
    hf_pair p;
    int64_t uid;
    int rc;
    if ((rc = pair_read(row, where, &p, e)) ||
        (rc = json_get_int(row, "uid", where, &uid, e)))
        return rc;
    L->read++;
    if (strcmp(p.chosen, p.rejected) == 0) {
        L->dropped++;
        return PPR_OK;
    }
    int64_t u = uid_user_of(L, uid);
    if (u < 0)
        return err_nomem(e);
    prefs_row r = {.user = (uint32_t)u, .split = L->split, .p_chosen = NAN};
    if ((rc = pair_texts(L->b, &p, &r, e)) || (rc = row_buf_add(&L->rows, &r, e)))
        return rc;
    L->users[u].rows[L->split]++;
    return PPR_OK;
}

/* Read config's train and test files into L, recording their counts in configs. */
static int uid_config(uid_load *L, const src_input *in, const char *config, uint32_t pool,
                      cJSON *configs, ppr_err *e)
{
    cJSON *c = cJSON_AddObjectToObject(configs, config);
    if (!c)
        return err_nomem(e);
    for (uint32_t s = 0; s < 2; s++) {
        char name[64];
        snprintf(name, sizeof name, "%s/%s.jsonl", config, pair_splits[s]);
        const src_file *f = src_input_file(in, name);
        if (!f)
            return err_set(e, PPR_EINPUT, "'%s' is missing from the source's files", name);
        L->pool = pool;
        L->split = s;
        L->read = L->dropped = 0;
        int rc = src_each_line(f, uid_row, L, e);
        if (rc)
            return rc;
        cJSON *n = cJSON_AddObjectToObject(c, pair_splits[s]);
        if (!n)
            return err_nomem(e);
        cJSON_AddNumberToObject(n, "rows", (double)L->read);
        cJSON_AddNumberToObject(n, "dropped_equal", (double)L->dropped);
        cJSON_AddNumberToObject(n, "kept", (double)(L->read - L->dropped));
    }
    return PPR_OK;
}

static int uid_cmp(const void *pa, const void *pb)
{
    const uid_user *a = *(const uid_user *const *)pa, *b = *(const uid_user *const *)pb;
    if (a->pool != b->pool)
        return a->pool < b->pool ? -1 : 1;
    return (a->uid > b->uid) - (a->uid < b->uid);
}

/* Create the users, main pool first and each pool by ascending uid (the main
 * pool named by its uid, "3"; the new-user pool "new-3"), then add the rows in
 * the order they were read; users goes to the info. */
static int uid_finish(uid_load *L, cJSON *users, ppr_err *e)
{
    const uid_user **order = malloc((L->n_users ? L->n_users : 1) * sizeof *order);
    uint32_t *id = malloc((L->n_users ? L->n_users : 1) * sizeof *id);
    int rc = PPR_OK;
    if (!order || !id) {
        rc = err_nomem(e);
        goto out;
    }
    for (size_t i = 0; i < L->n_users; i++)
        order[i] = &L->users[i];
    qsort(order, L->n_users, sizeof *order, uid_cmp);
    for (size_t i = 0; i < L->n_users; i++) {
        const uid_user *u = order[i];
        char name[32];
        snprintf(name, sizeof name, "%s%lld", u->pool == PREFS_POOL_NEW ? "new-" : "",
                 (long long)u->uid);
        int64_t k = prefs_builder_user(L->b, name, u->pool);
        cJSON *o = cJSON_AddObjectToObject(users, name);
        if (k < 0 || !o) {
            rc = err_nomem(e);
            goto out;
        }
        id[u - L->users] = (uint32_t)k;
        cJSON_AddStringToObject(o, "pool", u->pool == PREFS_POOL_NEW ? "new" : "main");
        cJSON_AddNumberToObject(o, "train", (double)u->rows[PREFS_TRAIN]);
        cJSON_AddNumberToObject(o, "test", (double)u->rows[PREFS_TEST]);
    }
    for (size_t i = 0; i < L->rows.n && rc == PPR_OK; i++) {
        prefs_row r = L->rows.p[i];
        r.user = id[r.user];
        rc = prefs_builder_row(L->b, &r, e);
    }
out:
    free(order);
    free(id);
    return rc;
}

/* P-SOUPS and Personal-LLM share the official code's build_psoups_dataset: the
 * "default" config, and for Personal-LLM the "new-user" config when asked. */
static int uid_load_source(const src_input *in, prefs_builder *b, int new_users,
                           cJSON **info, ppr_err *e)
{
    uid_load L = {.b = b};
    cJSON *o = cJSON_CreateObject();
    cJSON *configs = cJSON_AddObjectToObject(o, "configs");
    cJSON *users = cJSON_AddObjectToObject(o, "users");
    int rc = configs && users ? PPR_OK : err_nomem(e);
    if (rc == PPR_OK)
        rc = uid_config(&L, in, "default", PREFS_POOL_MAIN, configs, e);
    if (rc == PPR_OK && new_users)
        rc = uid_config(&L, in, "new-user", PREFS_POOL_NEW, configs, e);
    if (rc == PPR_OK)
        rc = uid_finish(&L, users, e);
    free(L.users);
    free(L.rows.p);
    if (rc) {
        cJSON_Delete(o);
        return rc;
    }
    *info = o;
    return PPR_OK;
}

int load_psoups(const src_input *in, prefs_builder *b, cJSON **info, ppr_err *e)
{
    *info = NULL;
    return uid_load_source(in, b, 0, info, e);
}

int load_pllm(const src_input *in, prefs_builder *b, cJSON **info, ppr_err *e)
{
    int new_users;
    *info = NULL;
    int rc = option_bool(in->options, "new_users", &new_users, e);
    if (rc == PPR_OK)
        rc = uid_load_source(in, b, new_users, info, e);
    if (rc == PPR_OK && !cJSON_AddBoolToObject(*info, "new_users", new_users))
        rc = err_nomem(e);
    return rc;
}

/* ---- RewardBench: each subset a user ------------------------------------------ */

typedef struct {
    char *name;
    size_t rows;
    int category; /* under the selected mapping, or -1 (dropped) */
} rb_seen;

typedef struct {
    prefs_builder *b;
    int map;              /* the selected mapping (enum rb_mapping) */
    rb_seen *subsets;   /* [n_subsets] in order of first appearance */
    size_t n_subsets, subsets_cap;
    row_buf rows;         /* r.user indexes subsets */
} rb_load;

static int64_t rb_subset_of(rb_load *L, const char *name)
{
    for (size_t i = 0; i < L->n_subsets; i++)
        if (strcmp(L->subsets[i].name, name) == 0)
            return (int64_t)i;
    if (mem_grow((void **)&L->subsets, &L->subsets_cap, L->n_subsets + 1, sizeof *L->subsets))
        return -1;
    rb_seen *s = &L->subsets[L->n_subsets];
    if (!(s->name = strdup(name)))
        return -1;
    s->rows = 0;
    s->category = rb_category(L->map, name);
    return (int64_t)L->n_subsets++;
}

static int rb_row(const cJSON *row, const char *where, void *ctx, ppr_err *e)
{
    rb_load *L = ctx;
    hf_pair p;
    const char *subset;
    int rc;
    if ((rc = pair_read(row, where, &p, e)) ||
        (rc = json_get_str(row, "subset", where, &subset, e)))
        return rc;
    int64_t k = rb_subset_of(L, subset);
    if (k < 0)
        return err_nomem(e);
    L->subsets[k].rows++;
    if (L->subsets[k].category < 0)
        return PPR_OK;
    prefs_row r = {.user = (uint32_t)k, .split = PREFS_TEST, .p_chosen = NAN};
    if ((rc = pair_texts(L->b, &p, &r, e)))
        return rc;
    return row_buf_add(&L->rows, &r, e);
}

/* Subset names of map that no row carries, under "unmatched"; subsets that
 * rows carry but map lacks, under "dropped". */
static cJSON *rb_misses(const rb_load *L, int map)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *unmatched = cJSON_AddArrayToObject(o, "unmatched");
    cJSON *dropped = cJSON_AddArrayToObject(o, "dropped");
    if (!unmatched || !dropped) {
        cJSON_Delete(o);
        return NULL;
    }
    for (int i = 0; i < RB_SUBSETS; i++) {
        size_t j = 0;
        while (j < L->n_subsets && strcmp(L->subsets[j].name, rb_subset(map, i)) != 0)
            j++;
        if (j == L->n_subsets)
            cJSON_AddItemToArray(unmatched, cJSON_CreateString(rb_subset(map, i)));
    }
    for (size_t j = 0; j < L->n_subsets; j++)
        if (rb_category(map, L->subsets[j].name) < 0)
            cJSON_AddItemToArray(dropped, cJSON_CreateString(L->subsets[j].name));
    return o;
}

/* What the info records: every subset with its rows and its category under
 * both mappings, and what each mapping leaves out, so the chat and safety
 * numbers can be reported both ways whichever mapping this run used. */
static cJSON *rb_info(const rb_load *L, const char *split, const char *mapping, size_t kept)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *subsets = cJSON_AddObjectToObject(o, "subsets");
    cJSON *cats = cJSON_AddObjectToObject(o, "categories");
    cJSON *misses = cJSON_AddObjectToObject(o, "mappings");
    cJSON *mo = rb_misses(L, RB_OFFICIAL), *mp = rb_misses(L, RB_PAPER_CODE);
    if (!subsets || !cats || !misses || !mo || !mp) {
        cJSON_Delete(o);
        cJSON_Delete(mo);
        cJSON_Delete(mp);
        return NULL;
    }
    cJSON_AddItemToObject(misses, "official", mo);
    cJSON_AddItemToObject(misses, "paper-code", mp);
    cJSON_AddStringToObject(o, "split", split);
    cJSON_AddStringToObject(o, "mapping", mapping);
    size_t read = 0, per_cat[RB_CATEGORIES] = {0};
    for (size_t j = 0; j < L->n_subsets; j++) {
        const rb_seen *s = &L->subsets[j];
        int co = rb_category(RB_OFFICIAL, s->name), cp = rb_category(RB_PAPER_CODE, s->name);
        cJSON *so = cJSON_AddObjectToObject(subsets, s->name);
        if (!so)
            continue;
        cJSON_AddNumberToObject(so, "rows", (double)s->rows);
        cJSON_AddItemToObject(so, "official",
                              co < 0 ? cJSON_CreateNull() : cJSON_CreateString(rb_categories[co]));
        cJSON_AddItemToObject(so, "paper-code",
                              cp < 0 ? cJSON_CreateNull() : cJSON_CreateString(rb_categories[cp]));
        read += s->rows;
        if (s->category >= 0)
            per_cat[s->category] += s->rows;
    }
    for (int c = 0; c < RB_CATEGORIES; c++)
        cJSON_AddNumberToObject(cats, rb_categories[c], (double)per_cat[c]);
    cJSON_AddNumberToObject(o, "rows", (double)read);
    cJSON_AddNumberToObject(o, "kept", (double)kept);
    cJSON_AddNumberToObject(o, "dropped", (double)(read - kept));
    return o;
}

/* Users in the mapping's order (those with rows), then the rows category by
 * category, each in file order, as the official code's per-category filters
 * line them up. */
static int rb_finish(rb_load *L, ppr_err *e)
{
    uint32_t *id = malloc((L->n_subsets ? L->n_subsets : 1) * sizeof *id);
    if (!id)
        return err_nomem(e);
    int rc = PPR_OK;
    for (int i = 0; i < RB_SUBSETS && rc == PPR_OK; i++)
        for (size_t j = 0; j < L->n_subsets; j++) {
            if (strcmp(L->subsets[j].name, rb_subset(L->map, i)) != 0)
                continue;
            int64_t k = prefs_builder_user(L->b, L->subsets[j].name, PREFS_POOL_MAIN);
            if (k < 0) {
                rc = err_nomem(e);
                break;
            }
            id[j] = (uint32_t)k;
        }
    for (int c = 0; c < RB_CATEGORIES && rc == PPR_OK; c++)
        for (size_t i = 0; i < L->rows.n && rc == PPR_OK; i++) {
            prefs_row r = L->rows.p[i];
            if (L->subsets[r.user].category != c)
                continue;
            r.user = id[r.user];
            rc = prefs_builder_row(L->b, &r, e);
        }
    free(id);
    return rc;
}

int load_rewardbench(const src_input *in, prefs_builder *b, cJSON **info, ppr_err *e)
{
    const char *split, *mapping;
    *info = NULL;
    if (option_choice(in->options, "split", "raw", "filtered", &split, e) ||
        option_choice(in->options, "mapping", "official", "paper-code", &mapping, e))
        return PPR_EINPUT;
    char name[64];
    snprintf(name, sizeof name, "default/%s.jsonl", split);
    const src_file *f = src_input_file(in, name);
    if (!f)
        return err_set(e, PPR_EINPUT, "'%s' is missing from the source's files", name);
    rb_load L = {.b = b, .map = strcmp(mapping, "official") == 0 ? RB_OFFICIAL : RB_PAPER_CODE};
    int rc = src_each_line(f, rb_row, &L, e);
    size_t kept = L.rows.n;
    if (rc == PPR_OK)
        rc = rb_finish(&L, e);
    if (rc == PPR_OK && !(*info = rb_info(&L, split, mapping, kept)))
        rc = err_nomem(e);
    for (size_t j = 0; j < L.n_subsets; j++)
        free(L.subsets[j].name);
    free(L.subsets);
    free(L.rows.p);
    return rc;
}
