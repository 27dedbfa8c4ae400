/* tables.c: the report's tables from the metrics artifacts and the paper's
 * numbers (see report.h; which cell pairs with which in docs/report.md). */
#include "report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/models/stats.h"

void report_table_release(report_table *t)
{
    for (size_t i = 0; t->rows && i < t->n_rows; i++)
        free(t->rows[i]);
    for (size_t j = 0; t->cols && j < t->n_cols; j++)
        free(t->cols[j]);
    free(t->rows);
    free(t->cols);
    free(t->cells);
    free(t->note);
    free(t->minority);
    memset(t, 0, sizeof *t);
}

int report_input(report_in *in, const char *name, const cJSON **out, ppr_err *e)
{
    if ((*out = cJSON_GetObjectItemCaseSensitive(in->read, name)))
        return PPR_OK;
    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(in->r->slice, "inputs");
    for (const cJSON *it = inputs ? inputs->child : NULL; it; it = it->next) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(it, "name");
        if (!cJSON_IsString(n) || strcmp(n->valuestring, name) != 0)
            continue;
        cJSON *v;
        int rc = stage_input_json(in->r, name, &v, e);
        if (rc == PPR_OK && !cJSON_AddItemToObject(in->read, name, v)) {
            cJSON_Delete(v);
            rc = err_nomem(e);
        }
        *out = rc ? NULL : v;
        return rc;
    }
    return PPR_OK;
}

int report_metrics(report_in *in, const char *id, const cJSON **out, ppr_err *e)
{
    char name[512];
    snprintf(name, sizeof name, "%s/metrics", id);
    return report_input(in, name, out, e);
}

/* A table of n_rows x n_cols cells, every value NaN. */
static int table_init(report_table *t, const char *id, const char *title, size_t n_rows,
                      size_t n_cols, ppr_err *e)
{
    memset(t, 0, sizeof *t);
    t->id = id;
    t->title = title;
    t->digits = 3;
    t->rows = calloc(n_rows ? n_rows : 1, sizeof *t->rows);
    t->cols = calloc(n_cols ? n_cols : 1, sizeof *t->cols);
    t->cells = malloc((n_rows * n_cols > 0 ? n_rows * n_cols : 1) * sizeof *t->cells);
    if (!t->rows || !t->cols || !t->cells) {
        report_table_release(t);
        return err_nomem(e);
    }
    t->n_rows = n_rows;
    t->n_cols = n_cols;
    for (size_t i = 0; i < n_rows * n_cols; i++)
        t->cells[i] = (report_cell){NAN, NAN, NAN};
    return PPR_OK;
}

/* The end of a table's making (rc its status so far): its row labels
 * [n_rows] and its note (released here); on failure the table is released. */
static int table_finish(report_table *t, const char *const *labels, strbuf *note, int rc,
                        ppr_err *e)
{
    strbuf_adds(note, ".");
    for (size_t i = 0; i < t->n_rows && rc == PPR_OK; i++)
        if (!(t->rows[i] = strdup(labels[i])))
            rc = err_nomem(e);
    if (rc == PPR_OK && !(t->note = note->failed ? NULL : strdup(note->p ? note->p : "")))
        rc = err_nomem(e);
    strbuf_release(note);
    if (rc)
        report_table_release(t);
    return rc;
}

/* The paper's value at table id, the row whose "key" is row, the value
 * key; NaN when it has none. */
static double paper_value(const report_in *in, const char *id, const char *row, const char *key)
{
    const cJSON *tables = cJSON_GetObjectItemCaseSensitive(in->paper, "tables");
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(tables, id), "rows");
    for (const cJSON *r = rows ? rows->child : NULL; r; r = r->next) {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(r, "key");
        if (!cJSON_IsString(k) || strcmp(k->valuestring, row) != 0)
            continue;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(r, "values"), key);
        return cJSON_IsNumber(v) ? v->valuedouble : NAN;
    }
    return NAN;
}

/* The summary entry of metrics whose field key equals value, or NULL. */
static const cJSON *summary_at(const cJSON *metrics, const char *key, double value)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(metrics, "summary");
    for (const cJSON *it = s ? s->child : NULL; it; it = it->next) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, key);
        if (cJSON_IsNumber(v) && v->valuedouble == value)
            return it;
    }
    return NULL;
}

static void cell_from(report_cell *c, const cJSON *entry)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(entry, "mean");
    const cJSON *ci = cJSON_GetObjectItemCaseSensitive(entry, "ci95");
    c->ppr = cJSON_IsNumber(m) ? m->valuedouble : NAN;
    c->ci95 = cJSON_IsNumber(ci) ? ci->valuedouble : NAN;
}

#define MAX_SETS 32

/* names [*n][64]: the datasets of the slice's inputs "<stage>-<d>[.<x>]/...",
 * the paper's (Personal-LLM, TL;DR, P-SOUPS, simulated or real) first, then
 * the others in the slice's order. */
static void datasets_in(const report_in *in, const char *stage, char (*names)[64], size_t *n)
{
    static const char *const order[] = {"sim-pllm", "pllm", "sim-tldr", "tldr", "sim-psoups",
                                        "psoups"};
    char seen[MAX_SETS][64];
    size_t n_seen = 0, len = strlen(stage);
    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(in->r->slice, "inputs");
    for (const cJSON *it = inputs ? inputs->child : NULL; it && n_seen < MAX_SETS; it = it->next) {
        const char *name = cJSON_GetObjectItemCaseSensitive(it, "name")->valuestring;
        if (strncmp(name, stage, len) != 0 || name[len] != '-' || !strchr(name, '/'))
            continue;
        size_t dl = strcspn(name + len + 1, "./");
        int dup = dl >= 64;
        for (size_t k = 0; k < n_seen && !dup; k++)
            dup = strlen(seen[k]) == dl && strncmp(seen[k], name + len + 1, dl) == 0;
        if (!dup)
            snprintf(seen[n_seen++], 64, "%.*s", (int)dl, name + len + 1);
    }
    *n = 0;
    for (size_t o = 0; o < sizeof order / sizeof *order; o++)
        for (size_t k = 0; k < n_seen; k++)
            if (strcmp(seen[k], order[o]) == 0)
                snprintf(names[(*n)++], 64, "%.63s", seen[k]);
    for (size_t k = 0; k < n_seen; k++) {
        int listed = 0;
        for (size_t o = 0; o < sizeof order / sizeof *order; o++)
            listed |= strcmp(seen[k], order[o]) == 0;
        if (!listed)
            snprintf(names[(*n)++], 64, "%.63s", seen[k]);
    }
}

/* The paper's key of ppr's dataset d ("pllm" for "sim-pllm" and "pllm"), or
 * NULL when the paper has no such dataset. */
static const char *paper_key(const char *d)
{
    static const char *const keys[] = {"pllm", "tldr", "psoups"};
    const char *k = strncmp(d, "sim-", 4) == 0 ? d + 4 : d;
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (strcmp(k, keys[i]) == 0)
            return keys[i];
    return NULL;
}

/* How a table's note names ppr's dataset d. */
static void dataset_label(const char *d, strbuf *note)
{
    strbuf_addf(note, "\"%s\" (%s)", d,
                strncmp(d, "sim-", 4) == 0 ? "simulated" : "real data");
}

/* ---- Table 5 ---------------------------------------------------------------- */

static const char *const T5_METHODS[] = {"pretrained", "rag",  "vanilla", "conditional",
                                         "individual", "vpl", "gpo",     "prm"};
static const char *const T5_LABELS[] = {"Pre-trained RM", "RAG", "Vanilla RM", "Conditional RM",
                                        "Individual RM", "VPL", "GPO", "Personalized RM"};
/* The paper's columns of each of its datasets. */
static const struct {
    const char *key, *label;
    double sizes[3];
} T5_SETS[] = {{"pllm", "Personal-LLM", {1000, 10000, 100000}},
               {"tldr", "TL;DR", {1000, 10000, 35000}},
               {"psoups", "P-SOUPS", {1000, 10000, 50000}}};

/* sizes [*n]: the training sizes of dataset d's first method with metrics. */
static int sizes_of(report_in *in, const char *d, double *sizes, size_t *n, ppr_err *e)
{
    *n = 0;
    for (size_t m = 1; m < sizeof T5_METHODS / sizeof *T5_METHODS && !*n; m++) {
        char id[256];
        const cJSON *met;
        snprintf(id, sizeof id, "04-train-%s.%s", d, T5_METHODS[m]);
        if (report_metrics(in, id, &met, e))
            return PPR_EINPUT;
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(met, "summary");
        for (const cJSON *it = s ? s->child : NULL; it && *n < 8; it = it->next)
            sizes[(*n)++] = cJSON_GetObjectItemCaseSensitive(it, "size")->valuedouble;
    }
    return PPR_OK;
}

/* The paper's size for ppr's size z (of n, index i) of a dataset of key:
 * the same size, or the paper's largest for ppr's largest when both have
 * three; NaN else. */
static double paper_size(const char *key, const double *sizes, size_t n, size_t i)
{
    for (size_t s = 0; key && s < sizeof T5_SETS / sizeof *T5_SETS; s++) {
        if (strcmp(T5_SETS[s].key, key) != 0)
            continue;
        for (int q = 0; q < 3; q++)
            if (T5_SETS[s].sizes[q] == sizes[i] || (q == 2 && i + 1 == n && n == 3))
                return T5_SETS[s].sizes[q];
    }
    return NAN;
}

int report_table5(report_in *in, report_table *t, ppr_err *e)
{
    const size_t n_m = sizeof T5_METHODS / sizeof *T5_METHODS;
    char dname[MAX_SETS][64];
    double sizes[MAX_SETS][8];
    size_t n_sets, n_sizes[MAX_SETS], n_cols = 0;
    datasets_in(in, "04-train", dname, &n_sets);
    for (size_t s = 0; s < n_sets; s++) {
        if (sizes_of(in, dname[s], sizes[s], &n_sizes[s], e))
            return PPR_EINPUT;
        n_cols += n_sizes[s];
    }
    int rc = table_init(t, "table5", "Table 5: accuracy against training size", n_cols ? n_m : 0,
                        n_cols, e);
    strbuf note = {0};
    strbuf_adds(&note, "Mean accuracy over the dataset's users on their test pairs, ± the "
                       "95% interval over seeds; the paper's value and ppr's minus it in "
                       "parentheses, where the paper has a column of that size (ppr's largest "
                       "size pairs with the paper's largest when both have three). Datasets:");
    for (size_t s = 0, c = 0; s < n_sets && rc == PPR_OK; s++) {
        const char *key = paper_key(dname[s]);
        strbuf_adds(&note, s ? "; " : " ");
        dataset_label(dname[s], &note);
        for (size_t z = 0; z < n_sizes[s]; z++, c++) {
            char col[96];
            snprintf(col, sizeof col, "%.63s %.0f", dname[s], sizes[s][z]);
            if (!(t->cols[c] = strdup(col)))
                rc = err_nomem(e);
            double psize = paper_size(key, sizes[s], n_sizes[s], z);
            for (size_t m = 0; m < n_m && rc == PPR_OK; m++) {
                char id[256], pkey[64];
                const cJSON *met;
                snprintf(id, sizeof id, "04-train-%.63s.%s", dname[s], T5_METHODS[m]);
                if ((rc = report_metrics(in, id, &met, e)))
                    break;
                report_cell *cell = &t->cells[m * n_cols + c];
                /* the reference is trained once: its accuracy is every size's */
                const cJSON *entry = summary_at(met, "size", m == 0 ? 0 : sizes[s][z]);
                if (entry)
                    cell_from(cell, entry);
                snprintf(pkey, sizeof pkey, "%s.%.0f", key ? key : "", psize);
                if (!isnan(psize))
                    cell->paper = paper_value(in, "table5", T5_METHODS[m], pkey);
            }
        }
    }
    return table_finish(t, T5_LABELS, &note, rc, e);
}

/* ---- Table 4 ---------------------------------------------------------------- */

static const char *const T4_ROWS[] = {"upper", "vanilla", "similar", "finetune",
                                      "gpo",   "prm",     "vpl"};
static const char *const T4_LABELS[] = {
    "Individual RM on each new user's pool (upper bound)", "Vanilla RM",
    "Retrieve Similar User RM", "Further Fine-tune Trained RM", "GPO",
    "PRM, new embedding (beyond the paper)", "VPL, k pairs as context (beyond the paper)"};

int report_table4(report_in *in, report_table *t, ppr_err *e)
{
    const size_t n_r = sizeof T4_ROWS / sizeof *T4_ROWS;
    char dname[MAX_SETS][64];
    double ks[MAX_SETS][16];
    size_t n_sets, n_k[MAX_SETS], n_cols = 0;
    datasets_in(in, "07-adapt", dname, &n_sets);
    /* each dataset's k list: its first row's */
    for (size_t s = 0; s < n_sets; s++) {
        const cJSON *first = NULL;
        for (size_t i = 0; i < n_r && !first; i++) {
            char id[256];
            snprintf(id, sizeof id, "07-adapt-%.63s.%s", dname[s], T4_ROWS[i]);
            if (report_metrics(in, id, &first, e))
                return PPR_EINPUT;
        }
        const cJSON *sm = cJSON_GetObjectItemCaseSensitive(first, "summary");
        n_k[s] = 0;
        for (const cJSON *it = sm ? sm->child : NULL; it && n_k[s] < 16; it = it->next)
            ks[s][n_k[s]++] = cJSON_GetObjectItemCaseSensitive(it, "k")->valuedouble;
        n_cols += n_k[s];
    }
    int rc = table_init(t, "table4", "Table 4: new users with k pairs", n_cols ? n_r : 0,
                        n_cols, e);
    strbuf note = {0};
    strbuf_adds(&note, "Mean accuracy over the new users on their held-out pairs after k of "
                       "their pairs, ± the 95% interval over draws and seeds (over seeds for "
                       "the rows that do not adapt); the paper's value (Personal-LLM) and "
                       "ppr's minus it in parentheses. Datasets:");
    for (size_t s = 0, c0 = 0; s < n_sets && rc == PPR_OK; c0 += n_k[s], s++) {
        const char *key = paper_key(dname[s]);
        strbuf_adds(&note, s ? "; " : " ");
        dataset_label(dname[s], &note);
        for (size_t c = 0; c < n_k[s] && rc == PPR_OK; c++) {
            char col[96];
            snprintf(col, sizeof col, "%.63s k = %.0f", dname[s], ks[s][c]);
            if (!(t->cols[c0 + c] = strdup(col)))
                rc = err_nomem(e);
        }
        for (size_t i = 0; i < t->n_rows && rc == PPR_OK; i++) {
            char id[256];
            const cJSON *met;
            snprintf(id, sizeof id, "07-adapt-%.63s.%s", dname[s], T4_ROWS[i]);
            if ((rc = report_metrics(in, id, &met, e)))
                break;
            for (size_t c = 0; c < n_k[s]; c++) {
                char pkey[32];
                const cJSON *entry = summary_at(met, "k", ks[s][c]);
                report_cell *cell = &t->cells[i * n_cols + c0 + c];
                if (entry)
                    cell_from(cell, entry);
                snprintf(pkey, sizeof pkey, "%.0f", ks[s][c]);
                if (key && strcmp(key, "pllm") == 0)
                    cell->paper = paper_value(in, "table4", T4_ROWS[i], pkey);
            }
        }
    }
    return table_finish(t, T4_LABELS, &note, rc, e);
}

/* ---- Table 2 ---------------------------------------------------------------- */

/* The columns: the paper's key, the label, the table2 field (or, where it
 * is null, the fallback: the simulator's truth), its scale. */
static const struct {
    const char *key, *label, *field, *fallback;
    double scale;
} T2_COLS[] = {{"samples_k", "#Samples (k)", "rows", NULL, 1e-3},
               {"users", "#Users", "n_users", NULL, 1},
               {"cont_pct", "%Cont.", "contested_rate", NULL, 100},
               {"highly_cont_pct", "%Highly Cont.", "highly_contested_rate", NULL, 100},
               {"mv_acc_min", "MV-ACC min", "mv_acc_min", NULL, 1},
               {"mv_acc_max", "MV-ACC max", "mv_acc_max", NULL, 1},
               {"consistency", "Consistency", "consistency", "truth_consistency", 1},
               {"room", "Room", "room_labels", "room_truth", 1}};

int report_table2(report_in *in, report_table *t, ppr_err *e)
{
    const size_t n_c = sizeof T2_COLS / sizeof *T2_COLS;
    char dname[MAX_SETS][64];
    size_t n_sets;
    datasets_in(in, "02-characterize", dname, &n_sets);
    int rc = table_init(t, "table2", "Table 2: how much the users disagree", n_sets, n_c, e);
    t->digits = 2;
    strbuf note = {0};
    strbuf_adds(&note, "Stage 02's characterization (docs/characterize.md) of each dataset's "
                       "main users; Consistency and Room (the room for personalization) are "
                       "the labels' own where pairs repeat, else the simulator's truth. The "
                       "paper's value and ppr's minus it in "
                       "parentheses. Datasets:");
    for (size_t s = 0; s < n_sets && rc == PPR_OK; s++) {
        const cJSON *m;
        char name[256];
        snprintf(name, sizeof name, "02-characterize-%.63s/table2", dname[s]);
        if ((rc = report_input(in, name, &m, e)))
            break;
        strbuf_adds(&note, s ? "; " : " ");
        dataset_label(dname[s], &note);
        for (size_t c = 0; c < n_c; c++) {
            report_cell *cell = &t->cells[s * n_c + c];
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, T2_COLS[c].field);
            if (!cJSON_IsNumber(v) && T2_COLS[c].fallback)
                v = cJSON_GetObjectItemCaseSensitive(m, T2_COLS[c].fallback);
            cell->ppr = cJSON_IsNumber(v) ? v->valuedouble * T2_COLS[c].scale : NAN;
            const char *key = paper_key(dname[s]);
            if (key)
                cell->paper = paper_value(in, "table2", key, T2_COLS[c].key);
        }
    }
    for (size_t c = 0; c < n_c && rc == PPR_OK; c++)
        if (!(t->cols[c] = strdup(T2_COLS[c].label)))
            rc = err_nomem(e);
    const char *labels[MAX_SETS];
    for (size_t s = 0; s < n_sets; s++)
        labels[s] = dname[s];
    return table_finish(t, labels, &note, rc, e);
}

/* ---- Table 3 ---------------------------------------------------------------- */

static const char *const T3_ROWS[] = {"pretrained", "vanilla", "individual", "conditional",
                                      "prm"};
static const char *const T3_LABELS[] = {"Pre-trained RM", "Vanilla RM", "Individual RM",
                                        "Conditional RM", "Personalized RM (beyond the paper)"};
/* Each dataset's columns: the paper's key suffix, the label, the category
 * (NULL: the personal accuracy) and the stage it comes from. */
static const struct {
    const char *key, *label, *category, *stage;
} T3_COLS[] = {{"acc", "ACC", NULL, "05-safety-eval"},
               {"safety", "Safety", "safety", "05-safety-eval"},
               {"reasoning", "Reasoning", "reasoning", "06-reasoning-eval"},
               {"chat", "Chat", "chat", "06-reasoning-eval"},
               {"chat_hard", "Chat-Hard", "chat-hard", "06-reasoning-eval"}};

int report_table3(report_in *in, report_table *t, ppr_err *e)
{
    const size_t n_r = sizeof T3_ROWS / sizeof *T3_ROWS, n_c = sizeof T3_COLS / sizeof *T3_COLS;
    char dname[MAX_SETS][64];
    size_t n_sets;
    datasets_in(in, "05-safety-eval", dname, &n_sets);
    int rc = table_init(t, "table3", "Table 3: the personalization tax", n_sets ? n_r : 0,
                        n_sets * n_c, e);
    strbuf note = {0};
    strbuf_adds(&note, "Accuracy on the personal test pairs (ACC) and on the general "
                       "evaluation pairs of each category (docs/tax.md), ± the 95% interval "
                       "over seeds, after one epoch of fine-tuning from the reference "
                       "(Pre-trained RM); the paper's value and ppr's minus it in "
                       "parentheses. A dash: not measured (a row the config does not run, or "
                       "a category without pairs: Chat needs RewardBench). Datasets:");
    for (size_t s = 0; s < n_sets && rc == PPR_OK; s++) {
        const char *key = paper_key(dname[s]);
        strbuf_adds(&note, s ? "; " : " ");
        dataset_label(dname[s], &note);
        for (size_t c = 0; c < n_c && rc == PPR_OK; c++) {
            char col[96];
            snprintf(col, sizeof col, "%.63s %s", dname[s], T3_COLS[c].label);
            if (!(t->cols[s * n_c + c] = strdup(col)))
                rc = err_nomem(e);
        }
        for (size_t i = 0; i < t->n_rows && rc == PPR_OK; i++)
            for (size_t c = 0; c < n_c && rc == PPR_OK; c++) {
                char id[256], pkey[64];
                const cJSON *m;
                snprintf(id, sizeof id, "%s-%.63s.%s", T3_COLS[c].stage, dname[s], T3_ROWS[i]);
                if ((rc = report_metrics(in, id, &m, e)))
                    break;
                const cJSON *entry =
                    T3_COLS[c].category
                        ? cJSON_GetObjectItemCaseSensitive(
                              cJSON_GetObjectItemCaseSensitive(
                                  cJSON_GetObjectItemCaseSensitive(m, "categories"),
                                  T3_COLS[c].category),
                              "accuracy")
                        : cJSON_GetObjectItemCaseSensitive(m, "personal");
                report_cell *cell = &t->cells[i * t->n_cols + s * n_c + c];
                if (entry)
                    cell_from(cell, entry);
                snprintf(pkey, sizeof pkey, "%s.%s", key ? key : "", T3_COLS[c].key);
                if (key)
                    cell->paper = paper_value(in, "table3", T3_ROWS[i], pkey);
            }
    }
    return table_finish(t, T3_LABELS, &note, rc, e);
}

/* ---- Table 6 ---------------------------------------------------------------- */

/* The size Table 6 shows: the paper's is 10,000 pairs; ppr's largest size up
 * to that, else its smallest. */
static double t6_size(const double *sizes, size_t n)
{
    double best = n ? sizes[0] : 0;
    for (size_t i = 0; i < n; i++)
        if (sizes[i] <= 10000 && (best > 10000 || sizes[i] > best))
            best = sizes[i];
    return best;
}

int report_table6(report_in *in, report_table *t, ppr_err *e)
{
    const size_t n_m = sizeof T5_METHODS / sizeof *T5_METHODS;
    char d[64] = "";
    double sizes[8];
    size_t n_sizes = 0;
    char dname[MAX_SETS][64];
    size_t n_sets;
    datasets_in(in, "04-train", dname, &n_sets);
    for (size_t s = 0; s < n_sets && !d[0]; s++)
        if (paper_key(dname[s]) && strcmp(paper_key(dname[s]), "pllm") == 0)
            snprintf(d, sizeof d, "%s", dname[s]);
    if (d[0] && sizes_of(in, d, sizes, &n_sizes, e))
        return PPR_EINPUT;
    double size = t6_size(sizes, n_sizes);
    /* the users: the vanilla run's, in its order */
    char id[256];
    const cJSON *van = NULL;
    snprintf(id, sizeof id, "04-train-%s.vanilla", d);
    if (d[0] && report_metrics(in, id, &van, e))
        return PPR_EINPUT;
    const cJSON *runs = cJSON_GetObjectItemCaseSensitive(van, "runs");
    const cJSON *users = runs && runs->child
                             ? cJSON_GetObjectItemCaseSensitive(runs->child, "users")
                             : NULL;
    size_t n_u = (size_t)cJSON_GetArraySize(users);
    int rc = table_init(t, "table6", "Table 6: accuracy per user", n_u ? n_m : 0, n_u, e);
    const cJSON *minority = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(van, "minority_users"), 0);
    if (rc == PPR_OK && cJSON_IsString(minority) && !(t->minority = strdup(minority->valuestring)))
        rc = err_nomem(e);
    size_t c = 0;
    for (const cJSON *u = users ? users->child : NULL; u && rc == PPR_OK; u = u->next, c++)
        if (!(t->cols[c] = strdup(cJSON_GetObjectItemCaseSensitive(u, "name")->valuestring)))
            rc = err_nomem(e);
    for (size_t m = 0; m < t->n_rows && rc == PPR_OK; m++) {
        const cJSON *met;
        snprintf(id, sizeof id, "04-train-%s.%s", d, T5_METHODS[m]);
        if ((rc = report_metrics(in, id, &met, e)))
            break;
        for (size_t j = 0; j < n_u; j++) {
            double sum = 0, sq = 0;
            int n = 0;
            const cJSON *rs = cJSON_GetObjectItemCaseSensitive(met, "runs");
            for (const cJSON *r = rs ? rs->child : NULL; r; r = r->next) {
                const cJSON *sz = cJSON_GetObjectItemCaseSensitive(r, "size");
                if (!cJSON_IsNumber(sz) || sz->valuedouble != (m == 0 ? 0 : size))
                    continue;
                const cJSON *us = cJSON_GetObjectItemCaseSensitive(r, "users");
                for (const cJSON *u = us ? us->child : NULL; u; u = u->next) {
                    const cJSON *a = cJSON_GetObjectItemCaseSensitive(u, "accuracy");
                    if (strcmp(cJSON_GetObjectItemCaseSensitive(u, "name")->valuestring,
                               t->cols[j]) == 0 && cJSON_IsNumber(a)) {
                        sum += a->valuedouble;
                        sq += a->valuedouble * a->valuedouble;
                        n++;
                    }
                }
            }
            report_cell *cell = &t->cells[m * n_u + j];
            if (n) {
                cell->ppr = sum / n;
                cell->ci95 = stats_ci95_sums(sum, sq, n);
            }
            cell->paper = paper_value(in, "table6", T5_METHODS[m], t->cols[j]);
        }
    }
    strbuf note = {0};
    strbuf_addf(&note, "Each main user's accuracy on its test pairs, mean over seeds ± the 95%% "
                       "interval over them, at %.0f training pairs (the paper's: 10,000), on ",
                size);
    dataset_label(d, &note);
    strbuf_adds(&note, "; the paper's value and ppr's minus it in parentheses");
    return table_finish(t, T5_LABELS, &note, rc, e);
}

/* ---- Figure 4's changes ------------------------------------------------------ */

const char *const REPORT_CATEGORIES[5] = {"Safety", "Reasoning", "Chat", "Chat-Hard", NULL};

int report_changes(report_in *in, const report_table *t3, report_table *t, ppr_err *e)
{
    const size_t n_c = sizeof T3_COLS / sizeof *T3_COLS; /* ACC first, then the 4 categories */
    size_t n_sets = t3->n_cols / n_c;
    int ref = -1;
    for (size_t i = 0; i < t3->n_rows && ref < 0; i++)
        if (strcmp(t3->rows[i], T3_LABELS[0]) == 0)
            ref = (int)i;
    size_t n_r = ref >= 0 ? t3->n_rows - 1 : 0;
    int rc = table_init(t, "table3-changes", "Table 3, changes: each tuned row against the reference",
                        n_r, n_r ? n_sets * 4 : 0, e);
    for (size_t s = 0; s < n_sets && n_r && rc == PPR_OK; s++)
        for (size_t k = 0; k < 4 && rc == PPR_OK; k++) {
            const char *col = t3->cols[s * n_c + 1 + k];
            if (!(t->cols[s * 4 + k] = strdup(col)))
                rc = err_nomem(e);
            char d[64];
            snprintf(d, sizeof d, "%.*s", (int)strcspn(col, " "), col);
            for (size_t i = 0, r = 0; i < t3->n_rows && rc == PPR_OK; i++) {
                if ((int)i == ref)
                    continue;
                const report_cell *x = &t3->cells[(size_t)ref * t3->n_cols + s * n_c + 1 + k];
                const report_cell *y = &t3->cells[i * t3->n_cols + s * n_c + 1 + k];
                report_cell *c = &t->cells[r++ * t->n_cols + s * 4 + k];
                char id[256];
                const cJSON *m;
                snprintf(id, sizeof id, "%s-%s.%s", T3_COLS[1 + k].stage, d, T3_ROWS[i]);
                if ((rc = report_metrics(in, id, &m, e)))
                    break;
                const cJSON *change = cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetObjectItemCaseSensitive(
                        cJSON_GetObjectItemCaseSensitive(m, "categories"), T3_COLS[1 + k].category),
                    "change");
                if (change)
                    cell_from(c, change);
                c->paper = y->paper - x->paper;
            }
        }
    const char *labels[16];
    for (size_t i = 0, r = 0; i < t3->n_rows && r < 16; i++)
        if ((int)i != ref)
            labels[r++] = t3->rows[i];
    strbuf note = {0};
    strbuf_adds(&note, "Each tuned row's accuracy per category minus the reference's (Table 3), "
                       "mean over seeds ± the 95% interval over seeds of the per-seed change "
                       "(paired: each seed's row against the same seed's reference); the "
                       "paired bootstrap over the pairs is in the metrics (pairs95). The paper's "
                       "change against its reference and ppr's minus it in parentheses");
    return table_finish(t, labels, &note, rc, e);
}

/* ---- Table 2's regimes (the scatter figure) --------------------------------- */

/* The column of Table 2 whose paper key is key. */
static size_t t2_col(const char *key)
{
    size_t c = 0;
    while (strcmp(T2_COLS[c].key, key) != 0)
        c++;
    return c;
}

/* Whether row i of Table 2 has a point, ppr's or the paper's. */
static int has_regime(const report_table *t2, size_t i, size_t cont, size_t lo, size_t hi)
{
    const report_cell *r = &t2->cells[i * t2->n_cols];
    return !(isnan(r[cont].ppr) || isnan(r[lo].ppr) || isnan(r[hi].ppr)) ||
           !(isnan(r[cont].paper) || isnan(r[lo].paper) || isnan(r[hi].paper));
}

int report_regimes(const report_table *t2, report_table *t, ppr_err *e)
{
    size_t cont = t2_col("cont_pct"), lo = t2_col("mv_acc_min"), hi = t2_col("mv_acc_max");
    size_t n_r = 0;
    for (size_t i = 0; i < t2->n_rows; i++)
        n_r += (size_t)has_regime(t2, i, cont, lo, hi);
    int rc = table_init(t, "figure-regimes", "Table 2's disagreement regimes", n_r, 2, e);
    char *labels[MAX_SETS] = {0};
    for (size_t i = 0, k = 0; i < t2->n_rows && rc == PPR_OK; i++) {
        if (!has_regime(t2, i, cont, lo, hi))
            continue;
        const report_cell *r = &t2->cells[i * t2->n_cols];
        t->cells[k * 2] = (report_cell){r[cont].ppr, NAN, r[cont].paper};
        t->cells[k * 2 + 1] =
            (report_cell){r[hi].ppr - r[lo].ppr, NAN, r[hi].paper - r[lo].paper};
        const char *d = t2->rows[i];
        size_t n = strlen(d) + sizeof " (simulated)";
        if (!(labels[k] = malloc(n)))
            rc = err_nomem(e);
        else
            snprintf(labels[k], n, "%s%s", d, strncmp(d, "sim-", 4) == 0 ? " (simulated)" : "");
        k++;
    }
    for (int i = 0; i < 2 && rc == PPR_OK; i++)
        if (!(t->cols[i] = strdup(i ? "MV-ACC range" : "%Cont.")))
            rc = err_nomem(e);
    strbuf note = {0};
    strbuf_adds(&note, "Per dataset with repeated pairs: the share of contested pairs against "
                       "the spread of the users' agreement with the majority vote");
    rc = table_finish(t, (const char *const *)labels, &note, rc, e);
    for (size_t i = 0; i < n_r; i++)
        free(labels[i]);
    return rc;
}
