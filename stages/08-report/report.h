/* report.h: the report's tables (docs/report.md): each a grid of cells,
 * ppr's value with its interval beside the paper's, built from the metrics
 * artifacts of the slice and manifests/paper.json, then rendered as Markdown
 * and CSV. */
#ifndef PPR_REPORT_H
#define PPR_REPORT_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "common/error.h"
#include "common/stage.h"
#include "common/strbuf.h"

typedef struct {
    double ppr, ci95; /* ppr's value and its 95% half-width; NaN where absent */
    double paper;     /* the published value; NaN where the paper has none */
} report_cell;

typedef struct {
    const char *id;      /* "table5": names its files */
    const char *title;   /* "Table 5: accuracy against training size" */
    int digits;          /* decimals of ppr's values in Markdown (the paper's: 2) */
    char *note;          /* what the rows and columns are here, and on what data */
    size_t n_rows, n_cols;
    char **rows, **cols; /* [n_rows], [n_cols] display names */
    report_cell *cells;  /* [n_rows][n_cols] */
    char *minority;      /* Table 6: the minority user's column, or NULL */
} report_table;

void report_table_release(report_table *t);

/* The report's inputs: the slice's artifacts, each read and parsed once
 * (read: name -> JSON, owned), and the paper's numbers. */
typedef struct {
    stage_run *r;
    cJSON *paper; /* manifests/paper.json */
    cJSON *read;  /* the inputs parsed so far, by slice name */
} report_in;

/* The JSON slice input called name (borrowed from in->read, parsed on first
 * use), or NULL when the slice has no such input; an input that cannot be
 * read is an error. */
int report_input(report_in *in, const char *name, const cJSON **out, ppr_err *e);
/* The same for the metrics of node id (its input "<id>/metrics"). */
int report_metrics(report_in *in, const char *id, const cJSON **out, ppr_err *e);

/* The paper's tables as ppr measures them; a table of which no instance ran
 * has n_rows 0. Table 2: each dataset's disagreement; 3: the tax rows (ACC
 * and each category); 4: new users' accuracy per row and k; 5: accuracy per
 * method and training size; 6: accuracy per main user of Personal-LLM. */
int report_table2(report_in *in, report_table *t, ppr_err *e);
int report_table3(report_in *in, report_table *t, ppr_err *e);
int report_table4(report_in *in, report_table *t, ppr_err *e);
int report_table5(report_in *in, report_table *t, ppr_err *e);
int report_table6(report_in *in, report_table *t, ppr_err *e);
/* Table 3's changes, Figure 4's data: each tuned row of Table 3 (t3)
 * against the reference per category (Safety, Reasoning, Chat, Chat-Hard:
 * REPORT_CATEGORIES) and dataset, columns as t3's ("<dataset> <category>"),
 * each cell the metrics' change (mean and interval over seeds of the
 * per-seed change), the paper's change beside it. */
extern const char *const REPORT_CATEGORIES[5]; /* NULL-ended */
int report_changes(report_in *in, const report_table *t3, report_table *t, ppr_err *e);
/* The disagreement regimes from Table 2 (t2): per dataset, %Cont. and the
 * range of MV-ACC (max - min), ppr's and the paper's. */
int report_regimes(const report_table *t2, report_table *t, ppr_err *e);

/* Append t as a Markdown section, as CSV rows (table, row, column, ppr,
 * ppr_ci95, paper, difference) with the header when header is set, and as a
 * LaTeX booktabs tabular, ready to \input. */
void report_markdown(const report_table *t, strbuf *out);
void report_csv(const report_table *t, int header, strbuf *out);
void report_latex(const report_table *t, strbuf *out);
/* t as an HTML section (its cells as in Markdown); a figure's SVG document
 * svg [n] inlined (its XML prolog left out, its ids prefixed by the figure's
 * id so that several figures share one page) with its caption. */
void report_html_table(const report_table *t, strbuf *out);
/* s with HTML's special characters escaped, appended to out. */
void report_html_text(const char *s, strbuf *out);
/* The Markdown the report writes (headings, paragraphs, "- " lists, tables,
 * `code` spans) as HTML. */
void report_html_markdown(const char *md, strbuf *out);
void report_html_figure(const char *id, const char *caption, const char *svg, size_t n,
                        strbuf *out);

/* The paper's claims (paper["claims"]) judged on the tables t [5] (Tables
 * 2-6, in order), appended as a section to md and html. */
void report_claims(const report_table *t, const cJSON *paper, strbuf *md, strbuf *html);

/* The page's provenance section (stages/08-report/provenance.c): the
 * config, the commit, the machine, the data, the encoder, every upstream
 * run and every artifact read, from r's slice. */
void report_provenance(const stage_run *r, strbuf *md);

/* How a table is drawn as a figure. */
typedef struct {
    const char *id;          /* "figure2": names its file */
    const char *xlabel, *ylabel;
    int logx;                /* x (the number ending each column's name) on a log scale */
    int categorical;         /* one panel, a position per column (Table 6's users) */
    const char *panel_title; /* that panel's title */
    const char *mark;        /* a column to label as the minority's, or NULL */
    const char *const *xnames; /* the names of positions 1, 2, ... (NULL-ended: Figure 4's categories),
                                  or NULL: numbers */
    int scatter;               /* one panel, a point per row at (column 0, column 1) */
} report_figure_spec;

/* Append t drawn as fig, an SVG document, to svg. */
int report_figure(const report_table *t, const report_figure_spec *fig, strbuf *svg,
                  ppr_err *e);

#endif
