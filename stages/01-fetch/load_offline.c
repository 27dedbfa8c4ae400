/* load_offline.c: the loaders of the real sources that the offline mirror holds
 * beside the paper's own: HumanEvalPack (hep), XSTest, HH-RLHF harmless-base,
 * relabeled HH-RLHF, PandaLM, SPICA, LLMBar and a sample of UltraFeedback. Each
 * turns its upstream files into preference rows by the rules of
 * docs/sources-offline.md and reports in *info what it kept and dropped.
 * The sources that list each user's rows apart (hep, XSTest, hh-relabeled,
 * LLMBar) have them interleaved (prefs_builder_interleave), so that the first
 * rows of a split hold every user. Nothing here knows a truth probability, so
 * every row has p_chosen = NaN; all but UltraFeedback lack a train/test split,
 * so their rows are PREFS_TEST (main splits them when the config asks: by
 * prompt, except hep by task and XSTest by prompt id). */
#include "loaders.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/mem.h"
#include "common/strbuf.h"
#include "csv.h"
#include "gz.h"

/* ---- rows, users and counts ------------------------------------------------ */

typedef struct {
    const char *s;
    size_t n;
} span;

static span span_of(const char *s)
{
    return (span){s, strlen(s)};
}

/* One user of the dataset being built and what became of its pairs. */
typedef struct {
    const char *name; /* alive until the loader has built its info */
    uint32_t id;
    size_t rows; /* rows kept */
    size_t same; /* pairs dropped because chosen == rejected */
    size_t ties; /* pairs without a preference (pandalm, spica) */
    uint32_t split; /* of the rows added: PREFS_TEST unless the upstream splits */
} tally;

static int tally_user(prefs_builder *b, const char *name, tally *t, ppr_err *e)
{
    int64_t id = prefs_builder_user(b, name, PREFS_POOL_MAIN);
    if (id < 0)
        return err_nomem(e);
    *t = (tally){.name = name, .id = (uint32_t)id, .split = PREFS_TEST};
    return PPR_OK;
}

/* Add the row "t's user prefers chosen to rejected", split by key (when
 * key.s is not NULL) or else by its prompt, or count it as dropped when both
 * responses are the same bytes. *added (if not NULL) receives the row when one
 * was added; its user is then set, else UINT32_MAX. */
static int pair_add_keyed(prefs_builder *b, tally *t, span key, span prompt, span chosen,
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

/* pair_add_keyed split by the prompt. */
static int pair_add(prefs_builder *b, tally *t, span prompt, span chosen, span rejected,
                    prefs_row *added, ppr_err *e)
{
    return pair_add_keyed(b, t, (span){NULL, 0}, prompt, chosen, rejected, added, e);
}

static int add_count(cJSON *o, const char *key, size_t v)
{
    return cJSON_AddNumberToObject(o, key, (double)v) != NULL;
}

/* The counts every loader reports: totals and, per user, rows kept, pairs
 * dropped as chosen == rejected and (with_ties) pairs without a preference.
 * NULL when out of memory. */
static cJSON *info_new(const tally *t, size_t n, int with_ties)
{
    cJSON *info = cJSON_CreateObject();
    cJSON *users = cJSON_AddObjectToObject(info, "users");
    int ok = users != NULL;
    size_t rows = 0, same = 0, ties = 0;
    for (size_t i = 0; ok && i < n; i++) {
        cJSON *u = cJSON_AddObjectToObject(users, t[i].name);
        ok = u && add_count(u, "rows", t[i].rows) &&
             add_count(u, "dropped_chosen_equals_rejected", t[i].same) &&
             (!with_ties || add_count(u, "ties", t[i].ties));
        rows += t[i].rows;
        same += t[i].same;
        ties += t[i].ties;
    }
    ok = ok && add_count(info, "rows", rows) &&
         add_count(info, "dropped_chosen_equals_rejected", same) &&
         (!with_ties || add_count(info, "ties", ties));
    if (!ok) {
        cJSON_Delete(info);
        return NULL;
    }
    return info;
}

static int need_file(const src_input *in, const char *name, const src_file **f, ppr_err *e)
{
    *f = src_input_file(in, name);
    if (!*f)
        return err_set(e, PPR_EINPUT, "missing file '%s'", name);
    return PPR_OK;
}

/* ---- hep: HumanEvalPack, six languages ----------------------------------------- */

/* What a JSON-lines loader's line callback adds to: the dataset and its user. */
typedef struct {
    prefs_builder *b;
    tally *t;
} line_ctx;

/* A line's task "HumanEval/<N>" from its task_id "<language>/<N>": the six
 * languages' versions of a task share it, and so share a side of the split. */
static int hep_task(const cJSON *v, const char *where, char *task, size_t n, ppr_err *e)
{
    const char *id;
    if (json_get_str(v, "task_id", where, &id, e))
        return PPR_EINPUT;
    const char *num = strrchr(id, '/');
    size_t digits = num ? strspn(num + 1, "0123456789") : 0;
    if (!num || num == id || digits == 0 || num[1 + digits] != '\0' || digits > 9)
        return err_set(e, PPR_EINPUT, "'%s': field \"task_id\" is \"%s\", not "
                       "\"<language>/<number>\"", where, id);
    snprintf(task, n, "HumanEval/%s", num + 1);
    return PPR_OK;
}

static int hep_line(const cJSON *v, const char *where, void *ctx, ppr_err *e)
{
    line_ctx *c = ctx;
    const char *prompt, *good, *bad;
    char task[32];
    if (hep_task(v, where, task, sizeof task, e) ||
        json_get_str(v, "instruction", where, &prompt, e) ||
        json_get_str(v, "canonical_solution", where, &good, e) ||
        json_get_str(v, "buggy_solution", where, &bad, e))
        return PPR_EINPUT;
    return pair_add_keyed(c->b, c->t, span_of(task), span_of(prompt), span_of(good),
                          span_of(bad), NULL, e);
}

int load_hep(const src_input *in, prefs_builder *b, cJSON **info, ppr_err *e)
{
    static const char *const langs[] = {"cpp", "go", "java", "js", "python", "rust"};
    static const char *const users[] = {"hep-cpp", "hep-go",     "hep-java",
                                        "hep-js",  "hep-python", "hep-rust"};
    enum { N_LANGS = sizeof langs / sizeof *langs };
    tally t[N_LANGS];
    prefs_builder_interleave(b); /* one file per language */
    for (size_t i = 0; i < N_LANGS; i++) {
        char name[64];
        snprintf(name, sizeof name, "humanevalpack-%s.jsonl", langs[i]);
        const src_file *f;
        int rc = need_file(in, name, &f, e);
        if (!rc)
            rc = tally_user(b, users[i], &t[i], e);
        line_ctx c = {b, &t[i]};
        if (!rc)
            rc = src_each_line(f, hep_line, &c, e);
        if (rc)
            return rc;
    }
    *info = info_new(t, N_LANGS, 0);
    return *info ? PPR_OK : err_nomem(e);
}

/* ---- xstest: comply vs refuse pairs from five models' labelled completions ---- */

enum { XS_COMPLY, XS_REFUSE, XS_PARTIAL, XS_N_LABELS };
static const char *const xs_labels[XS_N_LABELS] = {"1_full_compliance", "2_full_refusal",
                                                   "3_partial_refusal"};

typedef struct {
    char *text; /* malloc'd; NULL when this model has no completion here */
    size_t n;
    int label; /* XS_* */
} xs_cell;

typedef struct {
    char *id;       /* "N" of xstest_prompts.csv */
    int unsafe;     /* label "unsafe": a refusal is the right answer */
    char *csv_text; /* the prompt as xstest_prompts.csv has it */
    char *text;     /* the prompt the models answered, from the completions */
    size_t text_n;
} xs_prompt;

typedef struct {
    xs_prompt *p;   /* [n] in xstest_prompts.csv order */
    size_t n, cap;
    xs_cell *cells; /* [n][n_models] */
    size_t n_models;
    char **models;  /* [n_models] names, from the file names */
    size_t labels[XS_N_LABELS];
} xs_data;

static void xs_free(xs_data *x)
{
    for (size_t i = 0; i < x->n; i++) {
        free(x->p[i].id);
        free(x->p[i].csv_text);
        free(x->p[i].text);
        for (size_t m = 0; x->cells && m < x->n_models; m++)
            free(x->cells[i * x->n_models + m].text);
    }
    for (size_t m = 0; x->models && m < x->n_models; m++)
        free(x->models[m]);
    free(x->p);
    free(x->cells);
    free(x->models);
}

static int xs_read_prompts(xs_data *x, const src_file *f, ppr_err *e)
{
    static const char *const names[] = {"id", "prompt", "label", NULL};
    csv_reader r;
    size_t col[3] = {0};
    int got, rc = csv_open(&r, f->data, f->n, f->name, e);
    if (!rc)
        rc = csv_columns(&r, names, col, e);
    const size_t c_id = col[0], c_prompt = col[1], c_label = col[2];
    while (!rc && !(rc = csv_next(&r, &got, e)) && got) {
        const char *id = csv_field(&r, c_id, NULL), *label = csv_field(&r, c_label, NULL);
        int unsafe = strcmp(label, "unsafe") == 0;
        if (!unsafe && strcmp(label, "safe") != 0) {
            rc = err_set(e, PPR_EINPUT, "'%s:%zu': field \"label\" is \"%s\", not \"safe\" "
                         "or \"unsafe\"", f->name, r.record_line, label);
            break;
        }
        for (size_t i = 0; !rc && i < x->n; i++)
            if (strcmp(x->p[i].id, id) == 0)
                rc = err_set(e, PPR_EINPUT, "'%s:%zu': id \"%s\" appears twice", f->name,
                             r.record_line, id);
        if (rc)
            break;
        if (mem_grow((void **)&x->p, &x->cap, x->n + 1, sizeof *x->p)) {
            rc = err_nomem(e);
            break;
        }
        xs_prompt *p = &x->p[x->n++];
        *p = (xs_prompt){.id = strdup(id), .unsafe = unsafe,
                         .csv_text = strdup(csv_field(&r, c_prompt, NULL))};
        if (!p->id || !p->csv_text)
            rc = err_nomem(e);
    }
    csv_release(&r);
    return rc;
}

/* "model_completions/xstest_v2_completions_gpt4.csv" -> "gpt4" */
static char *xs_model_name(const char *file)
{
    const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    static const char prefix[] = "xstest_v2_completions_";
    if (strncmp(base, prefix, sizeof prefix - 1) == 0)
        base += sizeof prefix - 1;
    return strndup(base, strlen(base) - (sizeof ".csv" - 1));
}

static int xs_is_completions(const char *name)
{
    size_t n = strlen(name);
    return strncmp(name, "model_completions/", 18) == 0 && n > 22 &&
           strcmp(name + n - 4, ".csv") == 0;
}

/* One model's completions: each row's id "v2-N" joins prompt "N". */
static int xs_read_model(xs_data *x, size_t m, const src_file *f, ppr_err *e)
{
    static const char *const names[] = {"id", "prompt", "completion", "final_label", NULL};
    csv_reader r;
    size_t col[4] = {0};
    int got, rc = csv_open(&r, f->data, f->n, f->name, e);
    if (!rc)
        rc = csv_columns(&r, names, col, e);
    const size_t c_id = col[0], c_prompt = col[1], c_text = col[2], c_label = col[3];
    while (!rc && !(rc = csv_next(&r, &got, e)) && got) {
        const char *id = csv_field(&r, c_id, NULL), *label = csv_field(&r, c_label, NULL);
        size_t i = x->n, pn, tn;
        if (strncmp(id, "v2-", 3) == 0)
            for (i = 0; i < x->n && strcmp(x->p[i].id, id + 3) != 0; i++)
                ;
        if (i == x->n) {
            rc = err_set(e, PPR_EINPUT, "'%s:%zu': id \"%s\" names no prompt of "
                         "'xstest_prompts.csv' (as \"v2-<id>\")", f->name, r.record_line, id);
            break;
        }
        int l = 0;
        while (l < XS_N_LABELS && strcmp(label, xs_labels[l]) != 0)
            l++;
        if (l == XS_N_LABELS) {
            rc = err_set(e, PPR_EINPUT, "'%s:%zu': field \"final_label\" has unknown value "
                         "\"%s\"", f->name, r.record_line, label);
            break;
        }
        xs_prompt *p = &x->p[i];
        xs_cell *cell = &x->cells[i * x->n_models + m];
        const char *prompt = csv_field(&r, c_prompt, &pn), *text = csv_field(&r, c_text, &tn);
        if (cell->text) {
            rc = err_set(e, PPR_EINPUT, "'%s:%zu': id \"%s\" appears twice", f->name,
                         r.record_line, id);
            break;
        }
        if (p->text && (p->text_n != pn || memcmp(p->text, prompt, pn) != 0)) {
            rc = err_set(e, PPR_EINPUT, "'%s:%zu': the prompt of id \"%s\" differs from "
                         "another model's", f->name, r.record_line, id);
            break;
        }
        if (!p->text && !(p->text = strndup(prompt, pn))) {
            rc = err_nomem(e);
            break;
        }
        p->text_n = pn;
        if (!(cell->text = malloc(tn + 1))) {
            rc = err_nomem(e);
            break;
        }
        memcpy(cell->text, text, tn + 1);
        cell->n = tn;
        cell->label = l;
        x->labels[l]++;
    }
    csv_release(&r);
    return rc;
}

/* Every compliance over every refusal of a safe prompt (should-respond), every
 * refusal over every compliance of an unsafe one (should-refuse), in model
 * order; partial refusals take no part. A prompt's rows split by its id. */
static int xs_pairs(const xs_data *x, prefs_builder *b, tally *t, size_t *with_pairs,
                    ppr_err *e)
{
    for (size_t i = 0; i < x->n; i++) {
        const xs_prompt *p = &x->p[i];
        const xs_cell *row = &x->cells[i * x->n_models];
        int win = p->unsafe ? XS_REFUSE : XS_COMPLY, lose = p->unsafe ? XS_COMPLY : XS_REFUSE;
        tally *u = &t[p->unsafe];
        size_t before = u->rows + u->same;
        span key = span_of(p->id);
        for (size_t a = 0; a < x->n_models; a++)
            for (size_t z = 0; row[a].text && row[a].label == win && z < x->n_models; z++) {
                if (!row[z].text || row[z].label != lose)
                    continue;
                span good = {row[a].text, row[a].n}, bad = {row[z].text, row[z].n};
                int rc = pair_add_keyed(b, u, key, (span){p->text, p->text_n}, good, bad,
                                        NULL, e);
                if (rc)
                    return rc;
            }
        with_pairs[p->unsafe] += u->rows + u->same > before;
    }
    return PPR_OK;
}

static cJSON *xs_info(const xs_data *x, const tally *t, const size_t *with_pairs)
{
    cJSON *info = info_new(t, 2, 0);
    cJSON *prompts = cJSON_AddObjectToObject(info, "prompts");
    cJSON *models = cJSON_AddObjectToObject(info, "completions_per_model");
    cJSON *labels = cJSON_AddObjectToObject(info, "final_labels");
    cJSON *paired = cJSON_AddObjectToObject(info, "prompts_with_pairs");
    size_t unsafe = 0, missing = 0, differs = 0;
    int ok = prompts && models && labels && paired;
    for (size_t i = 0; i < x->n; i++) {
        unsafe += x->p[i].unsafe;
        differs += x->p[i].text && strcmp(x->p[i].text, x->p[i].csv_text) != 0;
    }
    for (size_t m = 0; ok && m < x->n_models; m++) {
        size_t have = 0;
        for (size_t i = 0; i < x->n; i++)
            have += x->cells[i * x->n_models + m].text != NULL;
        missing += x->n - have;
        ok = add_count(models, x->models[m], have);
    }
    for (int l = 0; ok && l < XS_N_LABELS; l++)
        ok = add_count(labels, xs_labels[l], x->labels[l]);
    ok = ok && add_count(prompts, "safe", x->n - unsafe) &&
         add_count(prompts, "unsafe", unsafe) && add_count(paired, t[0].name, with_pairs[0]) &&
         add_count(paired, t[1].name, with_pairs[1]) &&
         add_count(info, "completions_missing", missing) &&
         add_count(info, "partial_refusals_unused", x->labels[XS_PARTIAL]) &&
         add_count(info, "prompts_differing_from_prompts_csv", differs);
    if (!ok) {
        cJSON_Delete(info);
        return NULL;
    }
    return info;
}

int load_xstest(const src_input *in, prefs_builder *b, cJSON **info, ppr_err *e)
{
    xs_data x = {0};
    prefs_builder_interleave(b); /* the users alternate in blocks of 25 prompts */
    const src_file *pf;
    int rc = need_file(in, "xstest_prompts.csv", &pf, e);
    if (!rc)
        rc = xs_read_prompts(&x, pf, e);
    for (size_t i = 0; !rc && i < in->n_files; i++)
        x.n_models += xs_is_completions(in->files[i].name);
    if (!rc && x.n_models == 0)
        rc = err_set(e, PPR_EINPUT, "missing files 'model_completions/*.csv'");
    if (!rc) {
        x.cells = calloc(x.n * x.n_models + 1, sizeof *x.cells);
        x.models = calloc(x.n_models, sizeof *x.models);
        if (!x.cells || !x.models)
            rc = err_nomem(e);
    }
    for (size_t i = 0, m = 0; !rc && i < in->n_files; i++) {
        if (!xs_is_completions(in->files[i].name))
            continue;
        if (!(x.models[m] = xs_model_name(in->files[i].name)))
            rc = err_nomem(e);
        else
            rc = xs_read_model(&x, m++, &in->files[i], e);
    }
    tally t[2];
    size_t with_pairs[2] = {0, 0};
    if (!rc)
        rc = tally_user(b, "xstest-should-respond", &t[0], e);
    if (!rc)
        rc = tally_user(b, "xstest-should-refuse", &t[1], e);
    if (!rc)
        rc = xs_pairs(&x, b, t, with_pairs, e);
    if (!rc && !(*info = xs_info(&x, t, with_pairs)))
        rc = err_nomem(e);
    xs_free(&x);
    return rc;
}

/* ---- hh-harmless, hh-relabeled: HH-RLHF dialogues ------------------------------- */

static const char hh_turn[] = "\n\nAssistant:";

/* Cut an HH-RLHF dialogue after its last "\n\nAssistant:": the prompt is all up
 * to and including the marker, the response what follows less the one space
 * after it. -1 when the dialogue has no such marker. */
static int hh_split(const char *d, span *prompt, span *resp)
{
    size_t n = strlen(d), m = sizeof hh_turn - 1;
    for (size_t i = n >= m ? n - m + 1 : 0; i-- > 0;) {
        if (memcmp(d + i, hh_turn, m) != 0)
            continue;
        *prompt = (span){d, i + m};
        size_t at = i + m + (d[i + m] == ' ');
        *resp = (span){d + at, n - at};
        return 0;
    }
    return -1;
}

/* (prompt, the two responses unordered) of a row, to find pairs two files share */
typedef struct {
    uint32_t prompt, lo, hi;
} hh_key;

typedef struct {
    prefs_builder *b;
    tally *t;
    const char *objective; /* relabeled: every line's "objective", or NULL */
    size_t skipped;        /* pairs whose two dialogues differ before the last turn */
    hh_key *keys;          /* [n_keys] relabeled: one per row added */
    size_t n_keys, cap;
} hh_ctx;

static int hh_line(const cJSON *v, const char *where, void *ctx, ppr_err *e)
{
    hh_ctx *c = ctx;
    const char *chosen, *rejected, *objective;
    if (json_get_str(v, "chosen", where, &chosen, e) ||
        json_get_str(v, "rejected", where, &rejected, e))
        return PPR_EINPUT;
    if (c->objective) {
        if (json_get_str(v, "objective", where, &objective, e))
            return PPR_EINPUT;
        if (strcmp(objective, c->objective) != 0)
            return err_set(e, PPR_EINPUT, "'%s': field \"objective\" is \"%s\" in the \"%s\" "
                           "file", where, objective, c->objective);
    }
    span pc, pr, ac, ar; /* the prompt and answer of each dialogue */
    if (hh_split(chosen, &pc, &ac))
        return err_set(e, PPR_EINPUT, "'%s': field \"chosen\" has no \"\\n\\nAssistant:\" "
                       "turn", where);
    if (hh_split(rejected, &pr, &ar))
        return err_set(e, PPR_EINPUT, "'%s': field \"rejected\" has no \"\\n\\nAssistant:\" "
                       "turn", where);
    if (pc.n != pr.n || memcmp(pc.s, pr.s, pc.n) != 0) {
        c->skipped++;
        return PPR_OK;
    }
    prefs_row row;
    int rc = pair_add(c->b, c->t, pc, ac, ar, &row, e);
    if (rc || !c->objective || row.user == UINT32_MAX)
        return rc;
    if (mem_grow((void **)&c->keys, &c->cap, c->n_keys + 1, sizeof *c->keys))
        return err_nomem(e);
    int order = row.chosen < row.rejected;
    c->keys[c->n_keys++] = (hh_key){row.prompt, order ? row.chosen : row.rejected,
                                    order ? row.rejected : row.chosen};
    return PPR_OK;
}

/* Gunzip file name of in and add its pairs for c's user. */
static int hh_load(const src_input *in, const char *name, hh_ctx *c, ppr_err *e)
{
    const src_file *f;
    char *text;
    size_t n;
    int rc = need_file(in, name, &f, e);
    if (rc || (rc = gz_decompress(f->data, f->n, f->name, &text, &n, e)))
        return rc;
    src_file plain = {f->name, text, n};
    rc = src_each_line(&plain, hh_line, c, e);
    free(text);
    return rc;
}

int load_hh_harmless(const src_input *in, prefs_builder *b, cJSON **info, ppr_err *e)
{
    tally t;
    hh_ctx c = {.b = b, .t = &t};
    int rc = tally_user(b, "hh-harmless", &t, e);
    if (rc || (rc = hh_load(in, "harmless-base-test.jsonl.gz", &c, e)))
        return rc;
    *info = info_new(&t, 1, 0);
    if (!*info || !add_count(*info, "skipped_prompts_differ", c.skipped)) {
        cJSON_Delete(*info);
        *info = NULL;
        return err_nomem(e);
    }
    return PPR_OK;
}

static int key_cmp(const void *a, const void *b)
{
    const hh_key *x = a, *y = b;
    if (x->prompt != y->prompt)
        return x->prompt < y->prompt ? -1 : 1;
    if (x->lo != y->lo)
        return x->lo < y->lo ? -1 : 1;
    return x->hi < y->hi ? -1 : x->hi > y->hi;
}

int load_hh_relabeled(const src_input *in, prefs_builder *b, cJSON **info, ppr_err *e)
{
    static const char *const users[2] = {"helpful", "harmless"};
    static const char *const files[2] = {"helpful-test.jsonl.gz", "harmless-test.jsonl.gz"};
    tally t[2];
    hh_ctx c[2] = {{.b = b, .t = &t[0], .objective = users[0]},
                   {.b = b, .t = &t[1], .objective = users[1]}};
    int rc = PPR_OK;
    prefs_builder_interleave(b); /* one file per user */
    for (int i = 0; !rc && i < 2; i++)
        if (!(rc = tally_user(b, users[i], &t[i], e)))
            rc = hh_load(in, files[i], &c[i], e);
    size_t shared = 0;
    if (!rc) {
        if (c[0].n_keys)
            qsort(c[0].keys, c[0].n_keys, sizeof *c[0].keys, key_cmp);
        for (size_t i = 0; c[0].n_keys && i < c[1].n_keys; i++)
            shared += bsearch(&c[1].keys[i], c[0].keys, c[0].n_keys, sizeof *c[0].keys,
                              key_cmp) != NULL;
        *info = info_new(t, 2, 0);
        size_t skipped = c[0].skipped + c[1].skipped;
        if (!*info || !add_count(*info, "skipped_prompts_differ", skipped) ||
            !add_count(*info, "pairs_in_both_files", shared)) {
            cJSON_Delete(*info);
            *info = NULL;
            rc = err_nomem(e);
        }
    }
    free(c[0].keys);
    free(c[1].keys);
    return rc;
}

/* ---- pandalm: three annotators, ties allowed ------------------------------------ */

/* A response cell: a string, or a JSON boolean, which upstream's export made of
 * a model's bare answer "True" or "False" (counted in *bools). */
static int pandalm_response(const cJSON *item, const char *key, const char *where, span *out,
                            size_t *bools, ppr_err *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(item, key);
    if (cJSON_IsBool(v)) {
        *out = span_of(cJSON_IsTrue(v) ? "True" : "False");
        (*bools)++;
        return PPR_OK;
    }
    const char *s;
    if (json_get_str(item, key, where, &s, e))
        return PPR_EINPUT;
    *out = span_of(s);
    return PPR_OK;
}

int load_pandalm(const src_input *in, prefs_builder *b, cJSON **info, ppr_err *e)
{
    static const char *const annotators[3] = {"annotator1", "annotator2", "annotator3"};
    const src_file *f;
    int rc = need_file(in, "testset-v1.json", &f, e);
    if (rc)
        return rc;
    cJSON *root = json_parse_buf(f->data, f->n, f->name, e);
    if (!root)
        return PPR_EINPUT;
    tally t[3];
    strbuf prompt = {0};
    size_t items = 0, joined = 0, bools = 0;
    if (!cJSON_IsArray(root))
        rc = err_set(e, PPR_EINPUT, "'%s': expected a JSON array of items", f->name);
    for (int a = 0; !rc && a < 3; a++)
        rc = tally_user(b, annotators[a], &t[a], e);
    for (const cJSON *it = root->child; !rc && it; it = it->next, items++) {
        char where[512];
        snprintf(where, sizeof where, "%s[%zu]", f->name, items);
        const char *instruction, *input;
        span r1, r2;
        int64_t vote[3];
        if (json_get_str(it, "instruction", where, &instruction, e) ||
            json_get_str(it, "input", where, &input, e) ||
            pandalm_response(it, "response1", where, &r1, &bools, e) ||
            pandalm_response(it, "response2", where, &r2, &bools, e)) {
            rc = PPR_EINPUT;
            break;
        }
        for (int a = 0; !rc && a < 3; a++)
            if (!(rc = json_get_int(it, annotators[a], where, &vote[a], e)) &&
                (vote[a] < 0 || vote[a] > 2))
                rc = err_set(e, PPR_EINPUT, "'%s': field \"%s\" must be 0 (tie), 1 or 2",
                             where, annotators[a]);
        if (rc)
            break;
        prompt.len = 0;
        strbuf_adds(&prompt, instruction);
        if (*input) {
            strbuf_adds(&prompt, "\n\n");
            strbuf_adds(&prompt, input);
            joined++;
        }
        if (prompt.failed)
            rc = err_nomem(e);
        for (int a = 0; !rc && a < 3; a++) {
            if (vote[a] == 0)
                t[a].ties++;
            else
                rc = pair_add(b, &t[a], (span){prompt.p, prompt.len}, vote[a] == 1 ? r1 : r2,
                              vote[a] == 1 ? r2 : r1, NULL, e);
        }
    }
    if (!rc) {
        *info = info_new(t, 3, 1);
        if (!*info || !add_count(*info, "items", items) ||
            !add_count(*info, "prompts_with_input", joined) ||
            !add_count(*info, "boolean_responses_read_as_text", bools)) {
            cJSON_Delete(*info);
            *info = NULL;
            rc = err_nomem(e);
        }
    }
    strbuf_release(&prompt);
    cJSON_Delete(root);
    return rc;
}

/* ---- spica: group scores turned into pairwise preferences ------------------------ */

/* The scenario bank: a JSON array of {"id", "body", "responses": {strategy:
 * [texts]}}; check every field the loader reads. */
static int spica_check_bank(const cJSON *bank, const char *what, ppr_err *e)
{
    if (!cJSON_IsArray(bank))
        return err_set(e, PPR_EINPUT, "'%s': expected a JSON array of scenarios", what);
    size_t i = 0;
    for (const cJSON *s = bank->child; s; s = s->next, i++) {
        char where[512];
        const char *id, *body;
        snprintf(where, sizeof where, "%s[%zu]", what, i);
        const cJSON *resp;
        if (json_get_str(s, "id", where, &id, e) || json_get_str(s, "body", where, &body, e) ||
            !(resp = json_get_obj(s, "responses", where, e)))
            return PPR_EINPUT;
        for (const cJSON *o = bank->child; o != s; o = o->next)
            if (strcmp(cJSON_GetObjectItemCaseSensitive(o, "id")->valuestring, id) == 0)
                return err_set(e, PPR_EINPUT, "'%s': scenario id \"%s\" appears twice", where,
                               id);
        for (const cJSON *st = resp->child; st; st = st->next) {
            if (!cJSON_IsArray(st))
                return err_set(e, PPR_EINPUT, "'%s': responses \"%s\" must be an array",
                               where, st->string);
            for (const cJSON *r = st->child; r; r = r->next)
                if (!cJSON_IsString(r))
                    return err_set(e, PPR_EINPUT, "'%s': responses \"%s\" must hold "
                                   "strings", where, st->string);
        }
    }
    return PPR_OK;
}

typedef struct {
    prefs_builder *b;
    const cJSON *bank;
    const char *what;   /* the annotation file's name */
    tally *t;           /* [n_users] one per rater group, in order of appearance */
    size_t n_users, users_cap;
    const cJSON **resp; /* [n_resp] the scenario's responses, strategy by strategy */
    long *sum;          /* [n_resp] the group's ratings of each response, summed */
    long *cnt;          /* [n_resp] and counted */
    size_t n_resp, resp_cap, sum_cap, cnt_cap;
    size_t scenarios, ratings;
} spica_ctx;

static int spica_group_user(spica_ctx *c, const char *group, tally **t, ppr_err *e)
{
    for (size_t i = 0; i < c->n_users; i++)
        if (strcmp(c->t[i].name, group) == 0) {
            *t = &c->t[i];
            return PPR_OK;
        }
    if (mem_grow((void **)&c->t, &c->users_cap, c->n_users + 1, sizeof *c->t))
        return err_nomem(e);
    *t = &c->t[c->n_users];
    int rc = tally_user(c->b, group, *t, e);
    c->n_users += rc == PPR_OK;
    return rc;
}

/* Lay out the responses of scenario s flat, strategy by strategy. */
static int spica_layout(spica_ctx *c, const cJSON *s, ppr_err *e)
{
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(s, "responses");
    size_t n = 0;
    for (const cJSON *st = resp->child; st; st = st->next)
        n += (size_t)cJSON_GetArraySize(st);
    if (mem_grow((void **)&c->resp, &c->resp_cap, n, sizeof *c->resp) ||
        mem_grow((void **)&c->sum, &c->sum_cap, n, sizeof *c->sum) ||
        mem_grow((void **)&c->cnt, &c->cnt_cap, n, sizeof *c->cnt))
        return err_nomem(e);
    c->n_resp = 0;
    for (const cJSON *st = resp->child; st; st = st->next)
        for (const cJSON *r = st->child; r; r = r->next)
            c->resp[c->n_resp++] = r;
    return PPR_OK;
}

/* Where one rater's rating v (keyed by its strategy) points in the flat layout
 * of scenario s's responses, and its score. */
static int spica_rating(const cJSON *s, const cJSON *v, const char *where, size_t *flat,
                        long *score, ppr_err *e)
{
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(s, "responses");
    size_t base = 0;
    const cJSON *st = resp->child;
    for (; st && strcmp(st->string, v->string) != 0; st = st->next)
        base += (size_t)cJSON_GetArraySize(st);
    if (!st)
        return err_set(e, PPR_EINPUT, "'%s': strategy \"%s\" is not in the scenario bank",
                       where, v->string);
    int64_t rating, index;
    if (json_get_int(v, "response-rating", where, &rating, e) ||
        json_get_int(v, "rated-response-index", where, &index, e))
        return PPR_EINPUT;
    if (rating < 1 || rating > 5)
        return err_set(e, PPR_EINPUT, "'%s': field \"response-rating\" must be 1 to 5", where);
    if (index < 0 || index >= cJSON_GetArraySize(st))
        return err_set(e, PPR_EINPUT, "'%s': field \"rated-response-index\" is %lld, the bank "
                       "has %d responses", where, (long long)index, cJSON_GetArraySize(st));
    *flat = base + (size_t)index;
    *score = (long)rating;
    return PPR_OK;
}

/* One group's ratings of scenario s: sum them per response, then every pair of
 * rated responses whose mean ratings differ is a row, the higher one chosen. */
static int spica_group(spica_ctx *c, const cJSON *s, const cJSON *g, const char *sid,
                       ppr_err *e)
{
    if (!cJSON_IsArray(g))
        return err_set(e, PPR_EINPUT, "'%s[%s][%s]': expected an array of raters", c->what,
                       sid, g->string);
    tally *t = NULL;
    int rc = spica_group_user(c, g->string, &t, e);
    if (rc)
        return rc;
    for (size_t i = 0; i < c->n_resp; i++)
        c->sum[i] = c->cnt[i] = 0;
    size_t k = 0;
    for (const cJSON *rater = g->child; rater; rater = rater->next, k++) {
        char where[512];
        snprintf(where, sizeof where, "%s[%s][%s][%zu]", c->what, sid, g->string, k);
        if (!cJSON_IsObject(rater))
            return err_set(e, PPR_EINPUT, "'%s': expected an object of ratings", where);
        for (const cJSON *v = rater->child; v; v = v->next) {
            size_t flat = 0;
            long score = 0;
            char vwhere[640];
            snprintf(vwhere, sizeof vwhere, "%s[%s]", where, v->string);
            if ((rc = spica_rating(s, v, vwhere, &flat, &score, e)))
                return rc;
            c->sum[flat] += score;
            c->cnt[flat]++;
            c->ratings++;
        }
    }
    span prompt = span_of(cJSON_GetObjectItemCaseSensitive(s, "body")->valuestring);
    for (size_t i = 0; i < c->n_resp; i++)
        for (size_t j = i + 1; c->cnt[i] && j < c->n_resp; j++) {
            if (!c->cnt[j])
                continue;
            long lhs = c->sum[i] * c->cnt[j], rhs = c->sum[j] * c->cnt[i];
            if (lhs == rhs) {
                t->ties++;
                continue;
            }
            span a = span_of(c->resp[i]->valuestring), z = span_of(c->resp[j]->valuestring);
            rc = pair_add(c->b, t, prompt, lhs > rhs ? a : z, lhs > rhs ? z : a, NULL, e);
            if (rc)
                return rc;
        }
    return PPR_OK;
}

static int spica_scenario(spica_ctx *c, const cJSON *ann, ppr_err *e)
{
    const cJSON *s = c->bank->child;
    while (s && strcmp(cJSON_GetObjectItemCaseSensitive(s, "id")->valuestring, ann->string))
        s = s->next;
    if (!s)
        return err_set(e, PPR_EINPUT, "'%s': scenario \"%s\" is not in the scenario bank",
                       c->what, ann->string);
    if (!cJSON_IsObject(ann))
        return err_set(e, PPR_EINPUT, "'%s[%s]': expected an object of rater groups", c->what,
                       ann->string);
    int rc = spica_layout(c, s, e);
    for (const cJSON *g = ann->child; !rc && g; g = g->next) {
        for (const cJSON *h = ann->child; h != g; h = h->next)
            if (strcmp(h->string, g->string) == 0)
                return err_set(e, PPR_EINPUT, "'%s[%s]': group \"%s\" appears twice", c->what,
                               ann->string, g->string);
        rc = spica_group(c, s, g, ann->string, e);
    }
    c->scenarios++;
    return rc;
}

int load_spica(const src_input *in, prefs_builder *b, cJSON **info, ppr_err *e)
{
    const src_file *af, *bf;
    int rc = need_file(in, "dev-annotations.json", &af, e);
    if (rc || (rc = need_file(in, "dev_scenarios_gpt.json", &bf, e)))
        return rc;
    cJSON *ann = json_parse_buf(af->data, af->n, af->name, e);
    cJSON *bank = ann ? json_parse_buf(bf->data, bf->n, bf->name, e) : NULL;
    spica_ctx c = {.b = b, .bank = bank, .what = af->name};
    if (!bank)
        rc = PPR_EINPUT;
    else if (!cJSON_IsObject(ann))
        rc = err_set(e, PPR_EINPUT, "'%s': expected a JSON object of scenarios", af->name);
    else
        rc = spica_check_bank(bank, bf->name, e);
    for (const cJSON *s = ann ? ann->child : NULL; !rc && s; s = s->next)
        rc = spica_scenario(&c, s, e);
    if (!rc) {
        *info = info_new(c.t, c.n_users, 1);
        if (!*info || !add_count(*info, "scenarios", c.scenarios) ||
            !add_count(*info, "ratings", c.ratings)) {
            cJSON_Delete(*info);
            *info = NULL;
            rc = err_nomem(e);
        }
    }
    free(c.t);
    free(c.resp);
    free(c.sum);
    free(c.cnt);
    cJSON_Delete(bank);
    cJSON_Delete(ann);
    return rc;
}

/* ---- llmbar: RewardBench's five llmbar chat-hard subsets ------------------------ */

/* The LLMBar files and the RewardBench subset (user) each one is. */
static const struct {
    const char *file, *user;
} llmbar_sets[] = {
    {"LLMBar/Natural/dataset.json", "llmbar-natural"},
    {"LLMBar/Adversarial/Neighbor/dataset.json", "llmbar-adver-neighbor"},
    {"LLMBar/Adversarial/GPTInst/dataset.json", "llmbar-adver-GPTInst"},
    {"LLMBar/Adversarial/GPTOut/dataset.json", "llmbar-adver-GPTOut"},
    {"LLMBar/Adversarial/Manual/dataset.json", "llmbar-adver-manual"},
};
enum { LLMBAR_SETS = sizeof llmbar_sets / sizeof *llmbar_sets };

/* One file: a JSON array of {input, output_1, output_2, label}, label "1" or
 * "2" (a string upstream; an integer is accepted) naming the better output. */
static int llmbar_file(prefs_builder *b, const src_file *f, tally *t, ppr_err *e)
{
    cJSON *root = json_parse_buf(f->data, f->n, f->name, e);
    if (!root)
        return PPR_EINPUT;
    int rc = cJSON_IsArray(root) ? PPR_OK
                                 : err_set(e, PPR_EINPUT, "'%s': expected a JSON array", f->name);
    size_t i = 0;
    for (const cJSON *it = root->child; !rc && it; it = it->next, i++) {
        char where[512];
        snprintf(where, sizeof where, "%s[%zu]", f->name, i);
        const char *input, *out1, *out2;
        const cJSON *label = cJSON_GetObjectItemCaseSensitive(it, "label");
        if ((rc = json_get_str(it, "input", where, &input, e)) ||
            (rc = json_get_str(it, "output_1", where, &out1, e)) ||
            (rc = json_get_str(it, "output_2", where, &out2, e)))
            break;
        int first = cJSON_IsString(label) ? strcmp(label->valuestring, "1") == 0
                                          : cJSON_IsNumber(label) && label->valuedouble == 1;
        int second = cJSON_IsString(label) ? strcmp(label->valuestring, "2") == 0
                                           : cJSON_IsNumber(label) && label->valuedouble == 2;
        if (!first && !second) {
            rc = err_set(e, PPR_EINPUT, "'%s': field \"label\" must be \"1\" or \"2\"", where);
            break;
        }
        rc = pair_add(b, t, span_of(input), span_of(first ? out1 : out2),
                      span_of(first ? out2 : out1), NULL, e);
    }
    cJSON_Delete(root);
    return rc;
}

int load_llmbar(const src_input *in, prefs_builder *b, cJSON **info, ppr_err *e)
{
    tally t[LLMBAR_SETS];
    int rc = PPR_OK;
    prefs_builder_interleave(b); /* one file per subset */
    for (size_t s = 0; s < LLMBAR_SETS && rc == PPR_OK; s++) {
        const src_file *f;
        if ((rc = need_file(in, llmbar_sets[s].file, &f, e)) ||
            (rc = tally_user(b, llmbar_sets[s].user, &t[s], e)))
            break;
        rc = llmbar_file(b, f, &t[s], e);
    }
    if (rc == PPR_OK && !(*info = info_new(t, LLMBAR_SETS, 0)))
        rc = err_nomem(e);
    return rc;
}

/* ---- ultrafeedback: a 1,000 / 200 sample of binarized UltraFeedback ------------ */

static int uf_line(const cJSON *v, const char *where, void *ctx, ppr_err *e)
{
    line_ctx *c = ctx;
    const char *prompt, *chosen, *rejected;
    int rc;
    if ((rc = json_get_str(v, "prompt", where, &prompt, e)) ||
        (rc = json_get_str(v, "chosen", where, &chosen, e)) ||
        (rc = json_get_str(v, "rejected", where, &rejected, e)))
        return rc;
    return pair_add(c->b, c->t, span_of(prompt), span_of(chosen), span_of(rejected), NULL, e);
}

/* train_clean.jsonl is the train split, eval_clean.jsonl the test split. */
int load_ultrafeedback(const src_input *in, prefs_builder *b, cJSON **info, ppr_err *e)
{
    static const struct {
        const char *file;
        uint32_t split;
    } parts[] = {{"train_clean.jsonl", PREFS_TRAIN}, {"eval_clean.jsonl", PREFS_TEST}};
    tally t;
    int rc = tally_user(b, "ultrafeedback", &t, e);
    for (size_t i = 0; i < 2 && rc == PPR_OK; i++) {
        const src_file *f;
        line_ctx c = {b, &t};
        t.split = parts[i].split;
        if ((rc = need_file(in, parts[i].file, &f, e)) == PPR_OK)
            rc = src_each_line(f, uf_line, &c, e);
    }
    if (rc == PPR_OK && !(*info = info_new(&t, 1, 0)))
        rc = err_nomem(e);
    return rc;
}
