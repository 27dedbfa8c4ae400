/* claims.c: the paper's claims (manifests/paper.json "claims") judged on the
 * report's tables, each by a rule written here: "holds", "does not hold" or
 * "not measurable here", with ppr's evidence. A claim without a rule says
 * so; none is judged by hand. */
#include "report.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The tables by their place in compute's array. */
enum { T2, T3, T4, T5, T6 };

/* Row of t labelled label, or -1. */
static int row_of(const report_table *t, const char *label)
{
    for (size_t i = 0; i < t->n_rows; i++)
        if (strcmp(t->rows[i], label) == 0)
            return (int)i;
    return -1;
}

static const report_cell *cell(const report_table *t, int i, size_t j)
{
    return &t->cells[(size_t)i * t->n_cols + j];
}

/* Whether column j is of one of the paper's datasets (simulated or real)
 * and the last of its dataset (the dataset's largest size). */
static int last_of_set(const report_table *t, size_t j)
{
    static const char *const sets[] = {"sim-pllm", "pllm", "sim-tldr", "tldr", "sim-psoups",
                                       "psoups"};
    size_t n = strcspn(t->cols[j], " ");
    int paper = 0;
    for (size_t k = 0; k < sizeof sets / sizeof *sets; k++)
        paper |= strlen(sets[k]) == n && strncmp(t->cols[j], sets[k], n) == 0;
    return paper && (j + 1 == t->n_cols || strncmp(t->cols[j + 1], t->cols[j], n) != 0 ||
                     t->cols[j + 1][n] != ' ');
}

static double half(const report_cell *c)
{
    return isnan(c->ci95) ? 0 : c->ci95;
}

typedef struct {
    const char *verdict;
    char evidence[512];
} judgement;

#define NOT_MEASURABLE(j, ...)                                                          \
    do {                                                                                \
        (j)->verdict = "not measurable here";                                           \
        snprintf((j)->evidence, sizeof (j)->evidence, __VA_ARGS__);                     \
    } while (0)

/* The end of a rule over several datasets: "not measurable here" (why: none)
 * when none was measured, else the verdict all and the evidence ev and
 * suffix; ev is released. */
static void per_set_verdict(judgement *j, int measured, int all, strbuf *ev, const char *none,
                            const char *suffix)
{
    if (!measured)
        NOT_MEASURABLE(j, "%s", none);
    else {
        j->verdict = all ? "holds" : "does not hold";
        snprintf(j->evidence, sizeof j->evidence, "%s%s", ev->p ? ev->p : "", suffix);
    }
    strbuf_release(ev);
}

/* The largest difference a - b over Table 5's largest-size columns (rows
 * labelled a and b), and whether it exceeds its combined interval. */
static void t5_gap(const report_table *t, const char *a, const char *b, judgement *j,
                   double paper)
{
    int ia = row_of(t, a), ib = row_of(t, b);
    double best = -INFINITY, ci = 0;
    const char *where = NULL;
    for (size_t c = 0; ia >= 0 && ib >= 0 && c < t->n_cols; c++) {
        const report_cell *x = cell(t, ia, c), *y = cell(t, ib, c);
        if (!last_of_set(t, c) || isnan(x->ppr) || isnan(y->ppr) || x->ppr - y->ppr <= best)
            continue;
        best = x->ppr - y->ppr;
        ci = sqrt(half(x) * half(x) + half(y) * half(y));
        where = t->cols[c];
    }
    if (!where) {
        NOT_MEASURABLE(j, "Table 5 has no column with both %s and %s", a, b);
        return;
    }
    j->verdict = best - ci > 0 ? "holds" : "does not hold";
    snprintf(j->evidence, sizeof j->evidence,
             "largest %s minus %s at a dataset's largest size: %+.3f ± %.3f (%s); the paper: "
             "up to %+.2f",
             a, b, best, ci, where, paper);
}

static void rule_prm_over_individual(const report_table *t, judgement *j, double paper)
{
    t5_gap(&t[T5], "Personalized RM", "Individual RM", j, paper);
}

/* The largest spread between two trained methods in one of Table 5's
 * largest-size columns (the reference left out). */
static void rule_spread(const report_table *t, judgement *j, double paper)
{
    const report_table *t5 = &t[T5];
    double best = -INFINITY, ci = 0;
    const char *where = NULL, *hi = NULL, *lo = NULL;
    for (size_t c = 0; c < t5->n_cols; c++)
        for (size_t a = 1; a < t5->n_rows && last_of_set(t5, c); a++)
            for (size_t b = 1; b < t5->n_rows; b++) {
                const report_cell *x = cell(t5, (int)a, c), *y = cell(t5, (int)b, c);
                if (isnan(x->ppr) || isnan(y->ppr) || x->ppr - y->ppr <= best)
                    continue;
                best = x->ppr - y->ppr;
                ci = sqrt(half(x) * half(x) + half(y) * half(y));
                where = t5->cols[c];
                hi = t5->rows[a];
                lo = t5->rows[b];
            }
    if (!where) {
        NOT_MEASURABLE(j, "Table 5 has no measured column");
        return;
    }
    j->verdict = best + ci >= paper ? "holds" : "does not hold";
    snprintf(j->evidence, sizeof j->evidence,
             "largest spread %.3f ± %.3f (%s minus %s, %s); holds when it reaches %.2f within "
             "its interval",
             best, ci, hi, lo, where, paper);
}

/* The largest loss of a tax row against the reference's in Table 3's
 * columns of the categories cats (" Safety", " Reasoning"). */
static void tax_loss(const report_table *t, judgement *j, double paper,
                     const char *const *cats, size_t n_cats)
{
    const report_table *t3 = &t[T3];
    int ref = row_of(t3, "Pre-trained RM");
    double best = -INFINITY, ci = 0;
    const char *where = NULL, *who = NULL;
    for (size_t c = 0; ref >= 0 && c < t3->n_cols; c++) {
        int in = 0;
        for (size_t k = 0; k < n_cats; k++)
            in |= strstr(t3->cols[c], cats[k]) != NULL;
        for (size_t i = 0; in && i < t3->n_rows; i++) {
            const report_cell *x = cell(t3, ref, c), *y = cell(t3, (int)i, c);
            if ((int)i == ref || isnan(x->ppr) || isnan(y->ppr) || x->ppr - y->ppr <= best)
                continue;
            best = x->ppr - y->ppr;
            ci = sqrt(half(x) * half(x) + half(y) * half(y));
            where = t3->cols[c];
            who = t3->rows[i];
        }
    }
    if (!where) {
        NOT_MEASURABLE(j, "Table 3 has no such column with the reference and a tuned row");
        return;
    }
    j->verdict = best - ci > 0 ? "holds" : "does not hold";
    snprintf(j->evidence, sizeof j->evidence,
             "largest loss against the reference %.3f ± %.3f (%s, %s; an interval over seeds "
             "of each, combined); the paper: up to %.2f",
             best, ci, who, where, paper);
}

static void rule_safety_loss(const report_table *t, judgement *j, double paper)
{
    static const char *const cats[] = {" Safety"};
    tax_loss(t, j, paper, cats, 1);
}

static void rule_decline(const report_table *t, judgement *j, double paper)
{
    static const char *const cats[] = {" Safety", " Reasoning"};
    tax_loss(t, j, paper, cats, 2);
}

/* Table 3, on the paper's dataset key: each tuned row against the
 * reference in one category ("ACC", "Safety", "Reasoning"); *n rows
 * compared, *up those above it beyond the combined interval, *down those
 * below, *near those within 0.05. */
static void tax_compare(const report_table *t3, const char *key, const char *cat, int *n,
                        int *up, int *down, int *near)
{
    char a[64], b[64];
    snprintf(a, sizeof a, "sim-%s %s", key, cat);
    snprintf(b, sizeof b, "%s %s", key, cat);
    int ref = row_of(t3, "Pre-trained RM");
    *n = *up = *down = *near = 0;
    for (size_t c = 0; ref >= 0 && c < t3->n_cols; c++) {
        if (strcmp(t3->cols[c], a) != 0 && strcmp(t3->cols[c], b) != 0)
            continue;
        for (size_t i = 0; i < t3->n_rows; i++) {
            const report_cell *x = cell(t3, ref, c), *y = cell(t3, (int)i, c);
            if ((int)i == ref || isnan(x->ppr) || isnan(y->ppr))
                continue;
            double d = y->ppr - x->ppr, ci = sqrt(half(x) * half(x) + half(y) * half(y));
            (*n)++;
            *up += d - ci > 0;
            *down += d + ci < 0;
            *near += fabs(d) <= 0.05;
        }
    }
}

static void rule_tldr_stable(const report_table *t, judgement *j, double paper)
{
    (void)paper;
    int n1, u1, d1, s1, n2, u2, d2, s2;
    tax_compare(&t[T3], "tldr", "Safety", &n1, &u1, &d1, &s1);
    tax_compare(&t[T3], "tldr", "Reasoning", &n2, &u2, &d2, &s2);
    if (!n1 || !n2) {
        NOT_MEASURABLE(j, "Table 3 has no TL;DR rows");
        return;
    }
    j->verdict = s1 == n1 && s2 == n2 ? "holds" : "does not hold";
    snprintf(j->evidence, sizeof j->evidence,
             "TL;DR: %d of %d tuned rows within 0.05 of the reference on safety, %d of %d on "
             "reasoning (stable taken as within 0.05 on both)",
             s1, n1, s2, n2);
}

static void rule_tradeoff(const report_table *t, judgement *j, double paper)
{
    (void)paper;
    static const char *const keys[] = {"pllm", "psoups"};
    strbuf ev = {0};
    int all = 1, measured = 0;
    for (size_t k = 0; k < 2; k++) {
        int n0, u0, d0, s0, n1, u1, d1, s1, n2, u2, d2, s2;
        tax_compare(&t[T3], keys[k], "ACC", &n0, &u0, &d0, &s0);
        tax_compare(&t[T3], keys[k], "Safety", &n1, &u1, &d1, &s1);
        tax_compare(&t[T3], keys[k], "Reasoning", &n2, &u2, &d2, &s2);
        if (!n0 || !n1 || !n2)
            continue;
        measured++;
        all &= u0 == n0 && d1 == n1 && d2 == n2;
        strbuf_addf(&ev, "%s%s: ACC up in %d of %d rows, safety down in %d of %d, reasoning "
                    "down in %d of %d", ev.len ? "; " : "", keys[k], u0, n0, d1, n1, d2, n2);
    }
    per_set_verdict(j, measured, all, &ev, "Table 3 has neither Personal-LLM nor P-SOUPS rows",
                    " (beyond the combined intervals)");
}

/* Table 6: the rows that beat the Pre-trained RM on every user beyond the
 * combined interval are exactly Individual RM and PRM. */
static void rule_all_users(const report_table *t, judgement *j, double paper)
{
    (void)paper;
    const report_table *t6 = &t[T6];
    int ref = row_of(t6, "Pre-trained RM");
    if (ref < 0 || !t6->n_cols) {
        NOT_MEASURABLE(j, "Table 6 has no reference row");
        return;
    }
    strbuf ev = {0};
    int exact = 1;
    for (size_t i = 0; i < t6->n_rows; i++) {
        if ((int)i == ref)
            continue;
        int all = 1;
        for (size_t c = 0; c < t6->n_cols; c++) {
            const report_cell *x = cell(t6, ref, c), *y = cell(t6, (int)i, c);
            all &= !isnan(y->ppr) && !isnan(x->ppr) &&
                   y->ppr - x->ppr > sqrt(half(x) * half(x) + half(y) * half(y));
        }
        int expected = strcmp(t6->rows[i], "Individual RM") == 0 ||
                       strcmp(t6->rows[i], "Personalized RM") == 0;
        exact &= all == expected;
        if (all)
            strbuf_addf(&ev, "%s%s", ev.len ? ", " : "", t6->rows[i]);
    }
    j->verdict = exact ? "holds" : "does not hold";
    snprintf(j->evidence, sizeof j->evidence, "above the Pre-trained RM on every user beyond "
             "the intervals: %s", ev.len ? ev.p : "none");
    strbuf_release(&ev);
}

/* Table 2: P-SOUPS has the most room for personalization and TL;DR the
 * least, of the paper's three datasets. */
static void rule_room(const report_table *t, judgement *j, double paper)
{
    (void)paper;
    const report_table *t2 = &t[T2];
    static const char *const keys[] = {"psoups", "pllm", "tldr"};
    double room[3];
    size_t c = 0;
    while (c < t2->n_cols && strcmp(t2->cols[c], "Room") != 0)
        c++;
    for (size_t k = 0; k < 3; k++) {
        char sim[32];
        snprintf(sim, sizeof sim, "sim-%s", keys[k]);
        int r = row_of(t2, sim) >= 0 ? row_of(t2, sim) : row_of(t2, keys[k]);
        room[k] = r >= 0 && c < t2->n_cols ? cell(t2, r, c)->ppr : NAN;
    }
    if (isnan(room[0]) || isnan(room[1]) || isnan(room[2])) {
        NOT_MEASURABLE(j, "Table 2 lacks one of the paper's datasets or its room");
        return;
    }
    j->verdict = room[0] > room[1] && room[1] > room[2] ? "holds" : "does not hold";
    snprintf(j->evidence, sizeof j->evidence, "room: P-SOUPS %.3f, Personal-LLM %.3f, TL;DR %.3f",
             room[0], room[1], room[2]);
}

/* RAG within 0.05 of chance in every column of Table 5 (every dataset). */
static void rule_rag_random(const report_table *t, judgement *j, double paper)
{
    (void)paper;
    const report_table *t5 = &t[T5];
    int r = row_of(t5, "RAG");
    double worst = 0;
    const char *where = NULL;
    for (size_t c = 0; r >= 0 && c < t5->n_cols; c++) {
        const report_cell *x = cell(t5, r, c);
        if (!isnan(x->ppr) && fabs(x->ppr - 0.5) >= worst) {
            worst = fabs(x->ppr - 0.5);
            where = t5->cols[c];
        }
    }
    if (!where) {
        NOT_MEASURABLE(j, "Table 5 has no RAG cell");
        return;
    }
    j->verdict = worst <= 0.05 ? "holds" : "does not hold";
    snprintf(j->evidence, sizeof j->evidence,
             "RAG's farthest cell from 0.5 is %.3f away (%s); holds within 0.05 everywhere",
             worst, where);
}

/* Table 4: one row against another at every k of the paper's dataset. */
static void rule_similar_marginal(const report_table *t, judgement *j, double paper)
{
    (void)paper;
    const report_table *t4 = &t[T4];
    int s = row_of(t4, "Retrieve Similar User RM"), v = row_of(t4, "Vanilla RM");
    double lo = INFINITY, hi = -INFINITY;
    for (size_t c = 0; s >= 0 && v >= 0 && c < t4->n_cols; c++) {
        double d = cell(t4, s, c)->ppr - cell(t4, v, c)->ppr;
        if (!isnan(d)) {
            lo = fmin(lo, d);
            hi = fmax(hi, d);
        }
    }
    if (!(hi >= lo)) {
        NOT_MEASURABLE(j, "Table 4 has no column with both rows");
        return;
    }
    j->verdict = lo >= -0.02 && hi <= 0.02 ? "holds" : "does not hold";
    snprintf(j->evidence, sizeof j->evidence,
             "similar minus vanilla from %+.3f to %+.3f over k; holds within ±0.02", lo, hi);
}

/* GPO beyond every baseline's interval at every k, and within 0.03 of the
 * upper bound. */
static void rule_gpo_new_users(const report_table *t, judgement *j, double paper)
{
    (void)paper;
    const report_table *t4 = &t[T4];
    static const char *const base[] = {"Vanilla RM", "Retrieve Similar User RM",
                                       "Further Fine-tune Trained RM"};
    int g = row_of(t4, "GPO"), u = row_of(t4, "Individual RM on each new user's pool (upper bound)");
    double margin = INFINITY, to_upper = INFINITY;
    for (size_t c = 0; g >= 0 && c < t4->n_cols; c++) {
        const report_cell *x = cell(t4, g, c);
        for (size_t b = 0; b < sizeof base / sizeof *base; b++) {
            int r = row_of(t4, base[b]);
            const report_cell *y = r >= 0 ? cell(t4, r, c) : NULL;
            if (y && !isnan(x->ppr) && !isnan(y->ppr))
                margin = fmin(margin, x->ppr - half(x) - (y->ppr + half(y)));
        }
        if (u >= 0 && !isnan(x->ppr) && !isnan(cell(t4, u, c)->ppr))
            to_upper = fmin(to_upper, x->ppr - cell(t4, u, c)->ppr);
    }
    if (isinf(margin) || isinf(to_upper)) {
        NOT_MEASURABLE(j, "Table 4 lacks GPO, a baseline or the upper bound");
        return;
    }
    j->verdict = margin > 0 && to_upper >= -0.03 ? "holds" : "does not hold";
    snprintf(j->evidence, sizeof j->evidence,
             "GPO's interval clears every baseline's by %+.3f at worst; GPO minus the upper "
             "bound %+.3f at worst (holds when the first is above 0 and the second above "
             "-0.03)",
             margin, to_upper);
}

/* Personal-LLM's minority user is U8, whose majority-vote accuracy is below
 * 0.5 (Table 2's MV-ACC min, Table 6's minority). */
static void rule_minority(const report_table *t, judgement *j, double paper)
{
    const report_table *t2 = &t[T2], *t6 = &t[T6];
    int r = row_of(t2, "sim-pllm") >= 0 ? row_of(t2, "sim-pllm") : row_of(t2, "pllm");
    size_t c = 0;
    while (c < t2->n_cols && strcmp(t2->cols[c], "MV-ACC min") != 0)
        c++;
    if (r < 0 || c == t2->n_cols || !t6->minority) {
        NOT_MEASURABLE(j, "Personal-LLM is not characterized here");
        return;
    }
    double mv = cell(t2, r, c)->ppr;
    j->verdict = strcmp(t6->minority, "U8") == 0 && mv < 0.5 ? "holds" : "does not hold";
    snprintf(j->evidence, sizeof j->evidence,
             "the minority user is %s, MV-ACC min %.3f (the paper: U8, %.2f)", t6->minority, mv,
             paper);
}

/* The column of Table 5 (or 6) of the paper's dataset key (sim- or real) at
 * its largest size, or -1. */
static int largest_col(const report_table *t, const char *key)
{
    char sim[32];
    snprintf(sim, sizeof sim, "sim-%s", key);
    int found = -1;
    for (size_t j = 0; j < t->n_cols; j++) {
        size_t n = strcspn(t->cols[j], " ");
        if (((strlen(sim) == n && strncmp(t->cols[j], sim, n) == 0) ||
             (strlen(key) == n && strncmp(t->cols[j], key, n) == 0)) &&
            last_of_set(t, j))
            found = (int)j;
    }
    return found;
}

/* The smallest-size column of the same dataset as column j. */
static int first_col(const report_table *t, int j)
{
    size_t n = strcspn(t->cols[j], " ");
    while (j > 0 && strncmp(t->cols[j - 1], t->cols[j], n) == 0 && t->cols[j - 1][n] == ' ')
        j--;
    return j;
}

/* Table 5's rows that train on the users' pairs (not the reference). */
static const char *const TRAINED[] = {"RAG", "Vanilla RM", "Conditional RM", "Individual RM",
                                      "VPL", "GPO", "Personalized RM"};
#define N_TRAINED (sizeof TRAINED / sizeof *TRAINED)

static void rule_methods(const report_table *t, judgement *j, double paper)
{
    const report_table *t5 = &t[T5];
    int n = 0;
    for (size_t i = 0; i < t5->n_rows; i++) {
        int any = 0;
        for (size_t c = 0; c < t5->n_cols; c++)
            any |= !isnan(cell(t5, (int)i, c)->ppr);
        n += any;
    }
    j->verdict = n == (int)paper ? "holds" : "does not hold";
    snprintf(j->evidence, sizeof j->evidence, "Table 5 measures %d rows (7 methods and the "
             "reference)", n);
}

static void rule_datasets(const report_table *t, judgement *j, double paper)
{
    static const char *const keys[] = {"pllm", "tldr", "psoups"};
    int n = 0;
    for (size_t k = 0; k < 3; k++)
        n += largest_col(&t[T5], keys[k]) >= 0;
    j->verdict = n == (int)paper ? "holds" : "does not hold";
    snprintf(j->evidence, sizeof j->evidence, "Table 5 has %d of the paper's 3 datasets "
             "(simulated or real)", n);
}

/* At a dataset's largest size: whether row a is within the combined
 * interval of, or above, every trained row but itself (and skip). */
static int beats_all(const report_table *t5, int col, const char *a, const char *skip,
                     double margin)
{
    int ia = row_of(t5, a);
    if (ia < 0 || col < 0 || isnan(cell(t5, ia, col)->ppr))
        return -1;
    for (size_t k = 0; k < N_TRAINED; k++) {
        int ib = row_of(t5, TRAINED[k]);
        if (ib < 0 || ib == ia || (skip && strcmp(TRAINED[k], skip) == 0))
            continue;
        const report_cell *x = cell(t5, ia, (size_t)col), *y = cell(t5, ib, (size_t)col);
        double ci = sqrt(half(x) * half(x) + half(y) * half(y));
        if (!isnan(y->ppr) && x->ppr - y->ppr < margin - (margin > 0 ? 0 : ci))
            return 0;
    }
    return 1;
}

static void rule_prm_best(const report_table *t, judgement *j, double paper)
{
    (void)paper;
    static const char *const keys[] = {"pllm", "tldr", "psoups"};
    strbuf ev = {0};
    int all = 1, measured = 0;
    for (size_t k = 0; k < 3; k++) {
        int c = largest_col(&t[T5], keys[k]), b = beats_all(&t[T5], c, "Personalized RM", NULL, 0);
        if (b < 0)
            continue;
        measured++;
        all &= b;
        strbuf_addf(&ev, "%s%s: %s", ev.len ? "; " : "", t[T5].cols[c],
                    b ? "PRM best within the intervals" : "another method above PRM");
    }
    per_set_verdict(j, measured, all, &ev, "Table 5 has none of the paper's datasets with PRM",
                    "");
}

static void rule_wide_margin(const report_table *t, judgement *j, double paper)
{
    (void)paper;
    static const char *const keys[] = {"pllm", "psoups"};
    strbuf ev = {0};
    int all = 1, measured = 0;
    for (size_t k = 0; k < 2; k++) {
        int c = largest_col(&t[T5], keys[k]);
        int a = beats_all(&t[T5], c, "Personalized RM", "Individual RM", 0.05);
        int b = beats_all(&t[T5], c, "Individual RM", "Personalized RM", 0.05);
        if (a < 0 || b < 0)
            continue;
        measured++;
        all &= a && b;
        strbuf_addf(&ev, "%s%s: %s", ev.len ? "; " : "", t[T5].cols[c],
                    a && b ? "both ahead of every other method by 0.05"
                           : "not both ahead by 0.05");
    }
    per_set_verdict(j, measured, all, &ev,
                    "Table 5 lacks Personal-LLM or P-SOUPS with PRM and Individual RM",
                    " (a wide margin taken as 0.05)");
}

static void rule_tldr_comparable(const report_table *t, judgement *j, double paper)
{
    (void)paper;
    const report_table *t5 = &t[T5];
    int c = largest_col(t5, "tldr");
    double lo = INFINITY, hi = -INFINITY;
    for (size_t k = 1; c >= 0 && k < N_TRAINED; k++) {
        int i = row_of(t5, TRAINED[k]);
        if (i >= 0 && !isnan(cell(t5, i, (size_t)c)->ppr)) {
            lo = fmin(lo, cell(t5, i, (size_t)c)->ppr);
            hi = fmax(hi, cell(t5, i, (size_t)c)->ppr);
        }
    }
    if (!(hi >= lo)) {
        NOT_MEASURABLE(j, "Table 5 has no TL;DR column");
        return;
    }
    j->verdict = hi - lo <= 0.05 ? "holds" : "does not hold";
    snprintf(j->evidence, sizeof j->evidence, "%s: the methods but RAG span %.3f to %.3f "
             "(comparable taken as within 0.05)", t5->cols[c], lo, hi);
}

static void rule_conditional_gpo(const report_table *t, judgement *j, double paper)
{
    (void)paper;
    const report_table *t5 = &t[T5];
    int c = largest_col(t5, "psoups");
    static const char *const who[] = {"Conditional RM", "GPO"};
    strbuf ev = {0};
    int all = 1, measured = 0;
    for (size_t k = 0; c >= 0 && k < 2; k++) {
        int i = row_of(t5, who[k]), c0 = first_col(t5, c);
        if (i < 0 || c0 == c || isnan(cell(t5, i, (size_t)c)->ppr) ||
            isnan(cell(t5, i, (size_t)c0)->ppr))
            continue;
        const report_cell *a = cell(t5, i, (size_t)c0), *b = cell(t5, i, (size_t)c);
        double ci = sqrt(half(a) * half(a) + half(b) * half(b)), gain = b->ppr - a->ppr;
        measured++;
        all &= gain <= ci;
        strbuf_addf(&ev, "%s%s %+.3f ± %.3f from %s to %s", ev.len ? "; " : "", who[k], gain,
                    ci, t5->cols[c0], t5->cols[c]);
    }
    per_set_verdict(j, measured, all, &ev,
                    "Table 5 has no P-SOUPS column pair for Conditional RM or GPO",
                    " (holds when neither gains beyond its interval)");
}

static void rule_minority_preserved(const report_table *t, judgement *j, double paper)
{
    (void)paper;
    const report_table *t6 = &t[T6];
    size_t c = 0;
    while (t6->minority && c < t6->n_cols && strcmp(t6->cols[c], t6->minority) != 0)
        c++;
    int v = row_of(t6, "Vanilla RM"), i = row_of(t6, "Individual RM");
    if (!t6->minority || c == t6->n_cols || v < 0 || i < 0) {
        NOT_MEASURABLE(j, "Table 6 has no minority user with Vanilla and Individual RM");
        return;
    }
    const report_cell *a = cell(t6, v, c), *b = cell(t6, i, c);
    j->verdict = a->ppr + half(a) < 0.5 && b->ppr - half(b) > 0.5 ? "holds" : "does not hold";
    snprintf(j->evidence, sizeof j->evidence, "on %s: Vanilla RM %.3f ± %.3f, Individual RM "
             "%.3f ± %.3f (holds when Vanilla is below 0.5 and Individual above, beyond their "
             "intervals)", t6->minority, a->ppr, half(a), b->ppr, half(b));
}

typedef void (*rule_fn)(const report_table *t, judgement *j, double paper);

static const struct {
    const char *id;
    rule_fn rule;
} RULES[] = {{"methods_8", rule_methods},
             {"datasets_3", rule_datasets},
             {"spread_36", rule_spread},
             {"prm_best", rule_prm_best},
             {"wide_margin_pllm_psoups", rule_wide_margin},
             {"tldr_comparable", rule_tldr_comparable},
             {"conditional_gpo_psoups", rule_conditional_gpo},
             {"minority_preserved", rule_minority_preserved},
             {"decline_20", rule_decline},
             {"tax_tldr_stable", rule_tldr_stable},
             {"tax_tradeoff", rule_tradeoff},
             {"all_users_improved", rule_all_users},
             {"room_psoups_highest", rule_room},
             {"prm_over_individual_6", rule_prm_over_individual},
             {"safety_loss_20", rule_safety_loss},
             {"rag_random", rule_rag_random},
             {"similar_marginal", rule_similar_marginal},
             {"gpo_new_users", rule_gpo_new_users},
             {"minority_user8", rule_minority}};

void report_claims(const report_table *t, const cJSON *paper, strbuf *md, strbuf *html)
{
    strbuf_adds(md, "## Claims\n\nEach of the paper's claims judged by a rule written in "
                    "`stages/08-report/claims.c` on the tables above.\n\n| claim | the paper "
                    "| verdict | ppr's evidence |\n|---|---|---|---|\n");
    strbuf_adds(html, "<section>\n<h2>Claims</h2>\n<table id=\"claims\">\n<thead><tr><th>claim"
                      "</th><th>the paper</th><th>verdict</th><th>ppr's evidence</th></tr>"
                      "</thead>\n<tbody>\n");
    const cJSON *claims = cJSON_GetObjectItemCaseSensitive(paper, "claims");
    for (const cJSON *c = claims ? claims->child : NULL; c; c = c->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(c, "text");
        const cJSON *value = cJSON_GetObjectItemCaseSensitive(c, "value");
        if (!cJSON_IsString(id) || !cJSON_IsString(text))
            continue;
        judgement j = {"no rule yet", "not judged: no rule is written for this claim"};
        for (size_t r = 0; r < sizeof RULES / sizeof *RULES; r++)
            if (strcmp(RULES[r].id, id->valuestring) == 0)
                RULES[r].rule(t, &j, cJSON_IsNumber(value) ? value->valuedouble : NAN);
        strbuf_addf(md, "| `%s` | %s | **%s** | %s |\n", id->valuestring, text->valuestring,
                    j.verdict, j.evidence);
        const char *cells[4] = {id->valuestring, text->valuestring, j.verdict, j.evidence};
        strbuf_adds(html, "<tr>");
        for (int k = 0; k < 4; k++) {
            strbuf_adds(html, "<td>");
            report_html_text(cells[k], html);
            strbuf_adds(html, "</td>");
        }
        strbuf_adds(html, "</tr>\n");
    }
    strbuf_adds(md, "\n");
    strbuf_adds(html, "</tbody>\n</table>\n</section>\n");
}
