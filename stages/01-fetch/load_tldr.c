/* load_tldr.c: OpenAI's summarize-from-feedback comparisons (Reddit TL;DR) as
 * the paper's code loads them through the Hugging Face loading script: the
 * five workers with the most train annotations become users W1..W5 and every
 * comparison of theirs on a Reddit post is a row. The rules and their sources
 * are in docs/sources-hf.md. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/mem.h"
#include "common/strbuf.h"
#include "loaders.h"

#define TLDR_DIR "comparisons/"
#define TLDR_PROMPT "Summarize the following text:\n"
#define TLDR_WORKERS 5 /* Counter(...).most_common(5) in the official code */

/* The files the Hugging Face loading script reads (openai/summarize_from_feedback,
 * summarize_from_feedback.py), in its order: the order of rows within a split
 * and the first appearance that breaks ties between workers follow it. */
static const char *const tldr_files[] = {
    "batch3.json",  "batch4.json",  "batch5.json",        "batch10.json",
    "batch11.json", "batch12.json", "batch13.json",       "batch14.json",
    "batch15.json", "batch16.json", "batch17.json",       "batch18.json",
    "batch19.json", "batch20.json", "batch22.json",       "batch6.json",
    "batch7.json",  "batch8.json",  "batch9.json",        "batch0_cnndm.json",
    "cnndm0.json",  "cnndm2.json",  "edit_b2_eval_test.json",
};
enum { TLDR_FILES = sizeof tldr_files / sizeof *tldr_files };

static const char *const tldr_splits[2] = {"train", "test"}; /* by enum prefs_split */

typedef struct {
    char *name;
    size_t train;   /* annotations in the train split, whether or not on a post */
    size_t rows[2]; /* rows kept per split, once selected */
    int64_t user;   /* user id once selected, else -1 */
} tldr_worker;

typedef struct {
    prefs_builder *b;
    tldr_worker *workers; /* [n_workers] train workers by first appearance */
    size_t n_workers, workers_cap;
    tldr_worker **top;    /* [n_top] the selected workers by rank */
    size_t n_top;
    size_t read[2], other_workers[2], no_post[2]; /* rows per split */
    strbuf prompt;
    /* pass 1 notes every line's worker and split, so pass 2 parses only the
       selected workers' lines */
    uint32_t *line_worker; /* [n_lines] index into workers, or UINT32_MAX */
    uint8_t *line_split;   /* [n_lines] enum prefs_split */
    size_t n_lines, lines_cap, split_cap, cursor;
} tldr_load;

/* What every row must have: its split (0 train; 1 test, which is the loading
 * script's validation: valid1 and valid2), its worker, and its post (NULL when
 * info has no post or a null one, as for CNN/DM articles). */
static int tldr_head(const cJSON *row, const char *where, uint32_t *split, const char **worker,
                     const char **post, ppr_err *e)
{
    const char *s;
    int rc;
    if ((rc = json_get_str(row, "split", where, &s, e)) ||
        (rc = json_get_str(row, "worker", where, worker, e)))
        return rc;
    if (strcmp(s, "train") == 0)
        *split = PREFS_TRAIN;
    else if (strcmp(s, "valid1") == 0 || strcmp(s, "valid2") == 0)
        *split = PREFS_TEST;
    else
        return err_set(e, PPR_EINPUT,
                       "'%s': split \"%s\" is not \"train\", \"valid1\" or \"valid2\"", where, s);
    const cJSON *info = json_get_obj(row, "info", where, e);
    if (!info)
        return PPR_EINPUT;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(info, "post");
    *post = NULL;
    if (p && !cJSON_IsNull(p)) {
        if (!cJSON_IsString(p))
            return err_set(e, PPR_EINPUT, "'%s': field \"info.post\" must be a string or null",
                           where);
        *post = p->valuestring;
    }
    return PPR_OK;
}

/* Pass 1: count the train split's annotations per worker. */
static int tldr_count(const cJSON *row, const char *where, void *ctx, ppr_err *e)
{
    tldr_load *L = ctx;
    uint32_t split;
    const char *worker, *post;
    int rc = tldr_head(row, where, &split, &worker, &post, e);
    if (rc)
        return rc;
    if (mem_grow((void **)&L->line_worker, &L->lines_cap, L->n_lines + 1, sizeof(uint32_t)) ||
        mem_grow((void **)&L->line_split, &L->split_cap, L->n_lines + 1, 1))
        return err_nomem(e);
    size_t line = L->n_lines++;
    L->line_split[line] = (uint8_t)split;
    L->line_worker[line] = UINT32_MAX;
    for (size_t i = 0; i < L->n_workers; i++)
        if (strcmp(L->workers[i].name, worker) == 0) {
            L->workers[i].train += split == PREFS_TRAIN;
            L->line_worker[line] = (uint32_t)i;
            return PPR_OK;
        }
    /* Only the train split's workers can be selected; a worker first met in
       the test split stays unknown to pass 2's filter. */
    if (split != PREFS_TRAIN)
        return PPR_OK;
    L->line_worker[line] = (uint32_t)L->n_workers;
    if (mem_grow((void **)&L->workers, &L->workers_cap, L->n_workers + 1, sizeof *L->workers))
        return err_nomem(e);
    tldr_worker *w = &L->workers[L->n_workers];
    if (!(w->name = strdup(worker)))
        return err_nomem(e);
    w->train = 1;
    w->rows[0] = w->rows[1] = 0;
    w->user = -1;
    L->n_workers++;
    return PPR_OK;
}

/* Count descending, ties by first appearance: Python's Counter.most_common. */
static int tldr_rank_cmp(const void *pa, const void *pb)
{
    const tldr_worker *a = *(const tldr_worker *const *)pa, *b = *(const tldr_worker *const *)pb;
    if (a->train != b->train)
        return a->train > b->train ? -1 : 1;
    return (a > b) - (a < b);
}

/* The summaries' texts: chosen = summaries[choice], rejected = summaries[1 - choice]. */
static int tldr_pair(const cJSON *row, const char *where, const char **chosen,
                     const char **rejected, ppr_err *e)
{
    int64_t choice;
    int rc = json_get_int(row, "choice", where, &choice, e);
    if (rc)
        return rc;
    const cJSON *sums = json_get_arr(row, "summaries", where, e);
    if (!sums)
        return PPR_EINPUT;
    if (choice != 0 && choice != 1)
        return err_set(e, PPR_EINPUT, "'%s': field \"choice\" must be 0 or 1", where);
    if (cJSON_GetArraySize(sums) < 2)
        return err_set(e, PPR_EINPUT, "'%s': field \"summaries\" must hold two summaries",
                       where);
    const char *text[2];
    for (int i = 0; i < 2; i++) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(sums, i), "text");
        if (!cJSON_IsString(t))
            return err_set(e, PPR_EINPUT, "'%s': field \"summaries[%d].text\" %s", where, i,
                           t ? "must be a string" : "is missing");
        text[i] = t->valuestring;
    }
    *chosen = text[choice];
    *rejected = text[1 - choice];
    return PPR_OK;
}

/* Pass 2's filter: a line of a train worker that was not selected is only
 * counted. A line whose worker pass 1 had not met in train yet is parsed. */
static int tldr_selected(void *ctx)
{
    tldr_load *L = ctx;
    size_t line = L->cursor++;
    uint32_t w = L->line_worker[line];
    if (w == UINT32_MAX || L->workers[w].user >= 0)
        return 1;
    L->read[L->line_split[line]]++;
    L->other_workers[L->line_split[line]]++;
    return 0;
}

/* Pass 2: keep the selected workers' rows (the official code's worker filter),
 * then those on a post (its post filter). */
static int tldr_keep(const cJSON *row, const char *where, void *ctx, ppr_err *e)
{
    tldr_load *L = ctx;
    uint32_t split;
    const char *worker, *post, *chosen = NULL, *rejected = NULL;
    int rc = tldr_head(row, where, &split, &worker, &post, e);
    if (rc)
        return rc;
    L->read[split]++;
    tldr_worker *w = NULL;
    for (size_t i = 0; i < L->n_top && !w; i++)
        if (strcmp(L->top[i]->name, worker) == 0)
            w = L->top[i];
    if (!w) {
        L->other_workers[split]++;
        return PPR_OK;
    }
    if (!post) {
        L->no_post[split]++;
        return PPR_OK;
    }
    if ((rc = tldr_pair(row, where, &chosen, &rejected, e)))
        return rc;
    L->prompt.len = 0;
    strbuf_adds(&L->prompt, TLDR_PROMPT);
    strbuf_adds(&L->prompt, post);
    if (L->prompt.failed)
        return err_nomem(e);
    int64_t tp = prefs_builder_text(L->b, L->prompt.p, L->prompt.len);
    int64_t tc = prefs_builder_text(L->b, chosen, strlen(chosen));
    int64_t tr = prefs_builder_text(L->b, rejected, strlen(rejected));
    if (tp < 0 || tc < 0 || tr < 0)
        return err_nomem(e);
    prefs_row r = {.user = (uint32_t)w->user, .prompt = (uint32_t)tp, .chosen = (uint32_t)tc,
                   .rejected = (uint32_t)tr, .split = split, .p_chosen = NAN};
    if ((rc = prefs_builder_row(L->b, &r, e)))
        return rc;
    w->rows[split]++;
    return PPR_OK;
}

static cJSON *tldr_info(const tldr_load *L, int64_t k)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *rows = cJSON_AddObjectToObject(o, "rows");
    cJSON *users = cJSON_AddObjectToObject(o, "users");
    if (!rows || !users) {
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddNumberToObject(o, "workers", (double)k);
    cJSON_AddNumberToObject(o, "train_workers", (double)L->n_workers);
    for (int s = 0; s < 2; s++) {
        cJSON *so = cJSON_AddObjectToObject(rows, tldr_splits[s]);
        if (!so)
            continue;
        size_t kept = L->read[s] - L->other_workers[s] - L->no_post[s];
        cJSON_AddNumberToObject(so, "read", (double)L->read[s]);
        cJSON_AddNumberToObject(so, "other_workers", (double)L->other_workers[s]);
        cJSON_AddNumberToObject(so, "no_post", (double)L->no_post[s]);
        cJSON_AddNumberToObject(so, "kept", (double)kept);
    }
    for (size_t i = 0; i < L->n_top; i++) {
        const tldr_worker *w = L->top[i];
        char name[32];
        snprintf(name, sizeof name, "W%zu", i + 1);
        cJSON *wo = cJSON_AddObjectToObject(users, name);
        if (!wo)
            continue;
        cJSON_AddStringToObject(wo, "worker", w->name);
        cJSON_AddNumberToObject(wo, "train_annotations", (double)w->train);
        cJSON_AddNumberToObject(wo, "train", (double)w->rows[PREFS_TRAIN]);
        cJSON_AddNumberToObject(wo, "test", (double)w->rows[PREFS_TEST]);
    }
    return o;
}

/* Select the k top workers and create their users W1..Wk. */
static int tldr_select(tldr_load *L, int64_t k, ppr_err *e)
{
    L->top = malloc((L->n_workers ? L->n_workers : 1) * sizeof *L->top);
    if (!L->top)
        return err_nomem(e);
    for (size_t i = 0; i < L->n_workers; i++)
        L->top[i] = &L->workers[i];
    qsort(L->top, L->n_workers, sizeof *L->top, tldr_rank_cmp);
    L->n_top = L->n_workers < (size_t)k ? L->n_workers : (size_t)k;
    for (size_t i = 0; i < L->n_top; i++) {
        char name[32];
        snprintf(name, sizeof name, "W%zu", i + 1);
        if ((L->top[i]->user = prefs_builder_user(L->b, name, PREFS_POOL_MAIN)) < 0)
            return err_nomem(e);
    }
    return PPR_OK;
}

int load_tldr(const src_input *in, prefs_builder *b, cJSON **info, ppr_err *e)
{
    const src_file *files[TLDR_FILES];
    int64_t k = TLDR_WORKERS;
    *info = NULL;
    if (cJSON_GetObjectItemCaseSensitive(in->options, "workers") &&
        json_get_int(in->options, "workers", "options", &k, e))
        return PPR_EINPUT;
    if (k < 1)
        return err_set(e, PPR_EINPUT, "'options': field \"workers\" must be at least 1");
    for (int i = 0; i < TLDR_FILES; i++) {
        char name[64];
        snprintf(name, sizeof name, TLDR_DIR "%s", tldr_files[i]);
        if (!(files[i] = src_input_file(in, name)))
            return err_set(e, PPR_EINPUT, "'%s' is missing from the source's files", name);
    }
    tldr_load L = {.b = b};
    int rc = PPR_OK;
    for (int i = 0; i < TLDR_FILES && rc == PPR_OK; i++)
        rc = src_each_line(files[i], tldr_count, &L, e);
    if (rc == PPR_OK)
        rc = tldr_select(&L, k, e);
    for (int i = 0; i < TLDR_FILES && rc == PPR_OK; i++)
        rc = src_each_line_if(files[i], tldr_selected, tldr_keep, &L, e);
    if (rc == PPR_OK && !(*info = tldr_info(&L, k)))
        rc = err_nomem(e);
    for (size_t i = 0; i < L.n_workers; i++)
        free(L.workers[i].name);
    free(L.workers);
    free(L.top);
    free(L.line_worker);
    free(L.line_split);
    strbuf_release(&L.prompt);
    return rc;
}
