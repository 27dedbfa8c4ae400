/* render.c: a report table as Markdown (rounded for reading) and CSV (every
 * value at full precision, for machines and the tests that parse it back). */
#include "report.h"

#include <math.h>

/* One Markdown cell: "0.764 ± 0.002 (0.74, +0.02)"; a dash without ppr's
 * value (not measured), the paper's alone in parentheses then. */
static void md_cell(const report_cell *c, int digits, strbuf *out)
{
    if (isnan(c->ppr))
        strbuf_adds(out, "—");
    else if (isnan(c->ci95))
        strbuf_addf(out, "%.*f", digits, c->ppr);
    else
        strbuf_addf(out, "%.*f ± %.*f", digits, c->ppr, digits, c->ci95);
    if (!isnan(c->paper) && !isnan(c->ppr))
        strbuf_addf(out, " (%.2f, %+.2f)", c->paper, c->ppr - c->paper);
    else if (!isnan(c->paper))
        strbuf_addf(out, " (%.2f)", c->paper);
}

void report_markdown(const report_table *t, strbuf *out)
{
    strbuf_addf(out, "## %s\n\n", t->title);
    if (!t->n_rows) {
        strbuf_adds(out, "Not measured: the config runs none of its instances.\n\n");
        return;
    }
    strbuf_addf(out, "%s\n\n|  |", t->note);
    for (size_t j = 0; j < t->n_cols; j++)
        strbuf_addf(out, " %s |", t->cols[j]);
    strbuf_adds(out, "\n|---|");
    for (size_t j = 0; j < t->n_cols; j++)
        strbuf_adds(out, "---|");
    strbuf_adds(out, "\n");
    for (size_t i = 0; i < t->n_rows; i++) {
        strbuf_addf(out, "| %s |", t->rows[i]);
        for (size_t j = 0; j < t->n_cols; j++) {
            strbuf_adds(out, " ");
            md_cell(&t->cells[i * t->n_cols + j], t->digits, out);
            strbuf_adds(out, " |");
        }
        strbuf_adds(out, "\n");
    }
    strbuf_adds(out, "\n");
}

/* A CSV field: quoted, inner quotes doubled. */
static void csv_text(const char *s, strbuf *out)
{
    strbuf_adds(out, "\"");
    for (; *s; s++)
        strbuf_add(out, *s == '"' ? "\"\"" : s, *s == '"' ? 2 : 1);
    strbuf_adds(out, "\"");
}

static void csv_num(double v, strbuf *out)
{
    if (!isnan(v))
        strbuf_addf(out, "%.17g", v);
}

void report_csv(const report_table *t, int header, strbuf *out)
{
    if (header)
        strbuf_adds(out, "table,row,column,ppr,ppr_ci95,paper,difference\n");
    for (size_t i = 0; i < t->n_rows; i++)
        for (size_t j = 0; j < t->n_cols; j++) {
            const report_cell *c = &t->cells[i * t->n_cols + j];
            csv_text(t->id, out);
            strbuf_adds(out, ",");
            csv_text(t->rows[i], out);
            strbuf_adds(out, ",");
            csv_text(t->cols[j], out);
            strbuf_adds(out, ",");
            csv_num(c->ppr, out);
            strbuf_adds(out, ",");
            csv_num(c->ci95, out);
            strbuf_adds(out, ",");
            csv_num(c->paper, out);
            strbuf_adds(out, ",");
            csv_num(c->ppr - c->paper, out);
            strbuf_adds(out, "\n");
        }
}
