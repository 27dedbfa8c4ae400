/* load_offline.c: the loaders of the real sources that the offline mirror holds
 * beside the paper's own: HumanEvalPack (hep), XSTest, HH-RLHF harmless-base,
 * relabeled HH-RLHF, LLMBar and a sample of UltraFeedback (PandaLM and SPICA,
 * whose annotators disagree, are load_annotated.c's). Each
 * turns its upstream files into preference rows by the rules of
 * docs/sources-offline.md and reports in *info what it kept and dropped.
 * The sources that list each user's rows apart (hep, XSTest, hh-relabeled,
 * LLMBar) have them interleaved (prefs_builder_interleave), so that the first
 * rows of a split hold every user. Nothing here knows a truth probability, so
 * every row has p_chosen = NaN; all but UltraFeedback lack a train/test split,
 * so their rows are PREFS_TEST (main splits them when the config asks: by
 * prompt, except hep by task and XSTest by prompt id). */
#include "offline.h"

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
    return offline_pair_keyed(c->b, c->t, offline_span(task), offline_span(prompt), offline_span(good),
                          offline_span(bad), NULL, e);
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
        int rc = offline_need_file(in, name, &f, e);
        if (!rc)
            rc = offline_user(b, users[i], &t[i], e);
        line_ctx c = {b, &t[i]};
        if (!rc)
            rc = src_each_line(f, hep_line, &c, e);
        if (rc)
            return rc;
    }
    *info = offline_info(t, N_LANGS, 0);
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
        span key = offline_span(p->id);
        for (size_t a = 0; a < x->n_models; a++)
            for (size_t z = 0; row[a].text && row[a].label == win && z < x->n_models; z++) {
                if (!row[z].text || row[z].label != lose)
                    continue;
                span good = {row[a].text, row[a].n}, bad = {row[z].text, row[z].n};
                int rc = offline_pair_keyed(b, u, key, (span){p->text, p->text_n}, good, bad,
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
    cJSON *info = offline_info(t, 2, 0);
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
        ok = offline_count(models, x->models[m], have);
    }
    for (int l = 0; ok && l < XS_N_LABELS; l++)
        ok = offline_count(labels, xs_labels[l], x->labels[l]);
    ok = ok && offline_count(prompts, "safe", x->n - unsafe) &&
         offline_count(prompts, "unsafe", unsafe) && offline_count(paired, t[0].name, with_pairs[0]) &&
         offline_count(paired, t[1].name, with_pairs[1]) &&
         offline_count(info, "completions_missing", missing) &&
         offline_count(info, "partial_refusals_unused", x->labels[XS_PARTIAL]) &&
         offline_count(info, "prompts_differing_from_prompts_csv", differs);
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
    int rc = offline_need_file(in, "xstest_prompts.csv", &pf, e);
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
        rc = offline_user(b, "xstest-should-respond", &t[0], e);
    if (!rc)
        rc = offline_user(b, "xstest-should-refuse", &t[1], e);
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
    int rc = offline_pair(c->b, c->t, pc, ac, ar, &row, e);
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
    int rc = offline_need_file(in, name, &f, e);
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
    int rc = offline_user(b, "hh-harmless", &t, e);
    if (rc || (rc = hh_load(in, "harmless-base-test.jsonl.gz", &c, e)))
        return rc;
    *info = offline_info(&t, 1, 0);
    if (!*info || !offline_count(*info, "skipped_prompts_differ", c.skipped)) {
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
        if (!(rc = offline_user(b, users[i], &t[i], e)))
            rc = hh_load(in, files[i], &c[i], e);
    size_t shared = 0;
    if (!rc) {
        if (c[0].n_keys)
            qsort(c[0].keys, c[0].n_keys, sizeof *c[0].keys, key_cmp);
        for (size_t i = 0; c[0].n_keys && i < c[1].n_keys; i++)
            shared += bsearch(&c[1].keys[i], c[0].keys, c[0].n_keys, sizeof *c[0].keys,
                              key_cmp) != NULL;
        *info = offline_info(t, 2, 0);
        size_t skipped = c[0].skipped + c[1].skipped;
        if (!*info || !offline_count(*info, "skipped_prompts_differ", skipped) ||
            !offline_count(*info, "pairs_in_both_files", shared)) {
            cJSON_Delete(*info);
            *info = NULL;
            rc = err_nomem(e);
        }
    }
    free(c[0].keys);
    free(c[1].keys);
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
        rc = offline_pair(b, t, offline_span(input), offline_span(first ? out1 : out2),
                      offline_span(first ? out2 : out1), NULL, e);
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
        if ((rc = offline_need_file(in, llmbar_sets[s].file, &f, e)) ||
            (rc = offline_user(b, llmbar_sets[s].user, &t[s], e)))
            break;
        rc = llmbar_file(b, f, &t[s], e);
    }
    if (rc == PPR_OK && !(*info = offline_info(t, LLMBAR_SETS, 0)))
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
    return offline_pair(c->b, c->t, offline_span(prompt), offline_span(chosen), offline_span(rejected), NULL, e);
}

/* train_clean.jsonl is the train split, eval_clean.jsonl the test split. */
int load_ultrafeedback(const src_input *in, prefs_builder *b, cJSON **info, ppr_err *e)
{
    static const struct {
        const char *file;
        uint32_t split;
    } parts[] = {{"train_clean.jsonl", PREFS_TRAIN}, {"eval_clean.jsonl", PREFS_TEST}};
    tally t;
    int rc = offline_user(b, "ultrafeedback", &t, e);
    for (size_t i = 0; i < 2 && rc == PPR_OK; i++) {
        const src_file *f;
        line_ctx c = {b, &t};
        t.split = parts[i].split;
        if ((rc = offline_need_file(in, parts[i].file, &f, e)) == PPR_OK)
            rc = src_each_line(f, uf_line, &c, e);
    }
    if (rc == PPR_OK && !(*info = offline_info(&t, 1, 0)))
        rc = err_nomem(e);
    return rc;
}
