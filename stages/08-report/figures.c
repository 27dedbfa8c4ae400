/* figures.c: the report's figures as SVG, drawn with PLplot from its tables
 * (see report.h): a panel per dataset, a colour per row of the table, ppr's
 * values as filled markers joined by a line with their 95% intervals as
 * error bars, the paper's as hollow markers of the same colour, and a legend
 * beside the panels. */
#include "report.h"

#include <math.h>
#include <plplot/plplot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fsutil.h"

#define MAX_PANELS 16
#define MAX_X 64

/* PLplot's colour 0 is the background (white), 1 the axes and text
 * (black), then one colour per series (a colour-blind safe cycle). */
static const unsigned char PALETTE[][3] = {
    {255, 255, 255}, {0, 0, 0},      {31, 119, 180}, {255, 127, 14}, {44, 160, 44},
    {214, 39, 40},   {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
    {188, 189, 34},  {23, 190, 207}};
#define N_SERIES_COLOURS (sizeof PALETTE / sizeof *PALETTE - 2)

typedef struct {
    char name[64];
    size_t cols[MAX_X]; /* the table's columns in this panel */
    double x[MAX_X];    /* their positions */
    size_t n;
} panel;

/* Where a column ending in last sits: the number last (log10 of it when
 * fig->logx), or with fig->xnames 1 + the index of the name last; NaN when
 * it has none. */
static double position(const report_figure_spec *fig, const char *last)
{
    for (size_t k = 0; fig->xnames && fig->xnames[k]; k++)
        if (strcmp(fig->xnames[k], last) == 0)
            return (double)k + 1;
    if (fig->xnames)
        return NAN;
    double x = atof(last);
    return fig->logx ? (x > 0 ? log10(x) : NAN) : x;
}

/* The panels of t: a column "<panel> ... <x>" goes to its panel at x's
 * position; with fig->categorical, one panel, column j at j + 1. */
static int panels_of(const report_table *t, const report_figure_spec *fig, panel *p,
                     size_t *n_p, ppr_err *e)
{
    *n_p = 0;
    for (size_t j = 0; j < t->n_cols; j++) {
        const char *c = t->cols[j], *last = strrchr(c, ' ');
        char name[64];
        double x = fig->categorical ? (double)j + 1 : last ? position(fig, last + 1) : NAN;
        snprintf(name, sizeof name, "%.*s", fig->categorical ? 0 : (int)strcspn(c, " "), c);
        if (isnan(x))
            return err_set(e, PPR_EINTERNAL, "figure of %s: column \"%s\" has no position", t->id,
                           c);
        size_t k = 0;
        while (k < *n_p && strcmp(p[k].name, name) != 0)
            k++;
        if (k == *n_p) {
            if (k == MAX_PANELS)
                return err_set(e, PPR_EINPUT, "figure of %s: more than %d panels", t->id,
                               MAX_PANELS);
            memset(&p[k], 0, sizeof p[k]);
            snprintf(p[k].name, sizeof p[k].name, "%s", name);
            (*n_p)++;
        }
        if (p[k].n == MAX_X)
            return err_set(e, PPR_EINPUT, "figure of %s: more than %d points", t->id, MAX_X);
        p[k].cols[p[k].n] = j;
        p[k].x[p[k].n++] = x;
    }
    return PPR_OK;
}

/* One panel's axes, ranges from every value it shows. */
static void axes(const report_table *t, const report_figure_spec *fig, const panel *p)
{
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (size_t k = 0; k < p->n; k++) {
        x0 = fmin(x0, p->x[k]);
        x1 = fmax(x1, p->x[k]);
        for (size_t i = 0; i < t->n_rows; i++) {
            const report_cell *c = &t->cells[i * t->n_cols + p->cols[k]];
            double ci = isnan(c->ci95) ? 0 : c->ci95;
            if (!isnan(c->ppr)) {
                y0 = fmin(y0, c->ppr - ci);
                y1 = fmax(y1, c->ppr + ci);
            }
            if (!isnan(c->paper)) {
                y0 = fmin(y0, c->paper);
                y1 = fmax(y1, c->paper);
            }
        }
    }
    if (!(y1 >= y0)) {
        y0 = 0;
        y1 = 1;
    }
    double px = x1 > x0 ? 0.08 * (x1 - x0) : 0.5, py = y1 > y0 ? 0.08 * (y1 - y0) : 0.05;
    plvpor(0.17, 0.95, 0.17, 0.86);
    plwind(x0 - px, x1 + px, y0 - py, y1 + py);
    plcol0(1);
    int named = fig->categorical || fig->xnames;
    plbox(named ? "bc" : fig->logx ? "bcnstl" : "bcnst", 0, 0, "bcnstv", 0, 0);
    char title[128];
    snprintf(title, sizeof title, "%s%s", fig->categorical ? fig->panel_title : p->name,
             !fig->categorical && strncmp(p->name, "sim-", 4) == 0 ? " (simulated)" : "");
    pllab(named ? "" : fig->xlabel, fig->ylabel, title);
    for (size_t k = 0; named && k < p->n; k++) {
        const char *col = t->cols[p->cols[k]];
        double at = (p->x[k] - x0 + px) / (x1 - x0 + 2 * px);
        plmtex("b", 1.8, at, 0.5, fig->xnames ? fig->xnames[(size_t)p->x[k] - 1] : col);
        if (fig->mark && strcmp(col, fig->mark) == 0)
            plmtex("b", 3.2, at, 0.5, "(minority)");
    }
}

/* Row i's points in panel p: ppr's (filled, joined, with error bars) and the
 * paper's (hollow). */
static void series(const report_table *t, const panel *p, size_t i)
{
    PLFLT x[MAX_X], y[MAX_X], lo[MAX_X], hi[MAX_X], px[MAX_X], py[MAX_X];
    int n = 0, m = 0;
    for (size_t k = 0; k < p->n; k++) {
        const report_cell *c = &t->cells[i * t->n_cols + p->cols[k]];
        if (!isnan(c->ppr)) {
            double ci = isnan(c->ci95) ? 0 : c->ci95;
            x[n] = p->x[k];
            y[n] = c->ppr;
            lo[n] = c->ppr - ci;
            hi[n++] = c->ppr + ci;
        }
        if (!isnan(c->paper)) {
            px[m] = p->x[k];
            py[m++] = c->paper;
        }
    }
    plcol0(2 + (PLINT)(i % N_SERIES_COLOURS));
    if (n > 1)
        plline(n, x, y);
    if (n) {
        plerry(n, x, lo, hi);
        plstring(n, x, y, "●");
    }
    if (m)
        plstring(m, px, py, "○");
}

/* The legend, alone in the last subpage: a line and a marker per row (a
 * marker only for points), then what filled and hollow markers are. */
static void legend(const report_table *t, int points)
{
    enum { MAX_ENTRIES = 24 };
    PLINT opt[MAX_ENTRIES], colours[MAX_ENTRIES], styles[MAX_ENTRIES], numbers[MAX_ENTRIES];
    PLFLT widths[MAX_ENTRIES], scales[MAX_ENTRIES];
    const char *text[MAX_ENTRIES], *symbols[MAX_ENTRIES];
    PLINT n = 0;
    for (size_t i = 0; i < t->n_rows && n < MAX_ENTRIES - 2; i++, n++) {
        opt[n] = points ? PL_LEGEND_SYMBOL : PL_LEGEND_LINE | PL_LEGEND_SYMBOL;
        colours[n] = 2 + (PLINT)(i % N_SERIES_COLOURS);
        text[n] = t->rows[i];
        symbols[n] = "●";
    }
    static const char *const keys[2][2][2] = {
        {{"ppr, ± 95% interval", "●"}, {"the paper", "○"}},
        {{"ppr", "●"}, {"the paper (its real data)", "○"}}};
    for (int k = 0; k < 2; k++, n++) {
        opt[n] = PL_LEGEND_SYMBOL;
        colours[n] = 1;
        text[n] = keys[points][k][0];
        symbols[n] = keys[points][k][1];
    }
    for (PLINT k = 0; k < n; k++) {
        styles[k] = 1;
        widths[k] = 1;
        scales[k] = 1;
        numbers[k] = 1;
    }
    pladv(0);
    plvpor(0, 1, 0, 1);
    plwind(0, 1, 0, 1);
    PLFLT w, h;
    pllegend(&w, &h, PL_LEGEND_NONE, PL_POSITION_LEFT | PL_POSITION_INSIDE, 0.02, 0, 0.08, 0, 0,
             1, n, 1, n, opt, 0.8, 0.75, 2.0, 0, colours, text, NULL, NULL, NULL, NULL, colours,
             styles, widths, colours, scales, numbers, symbols);
}

/* The scatter of fig->scatter: one panel, each row a point at (column 0,
 * column 1), ppr's filled and the paper's hollow, joined by a thin line. */
static void scatter(const report_table *t, const report_figure_spec *fig)
{
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (size_t i = 0; i < t->n_rows; i++)
        for (int w = 0; w < 2; w++) {
            const report_cell *a = &t->cells[i * t->n_cols], *b = a + 1;
            double x = w ? a->paper : a->ppr, y = w ? b->paper : b->ppr;
            if (isnan(x) || isnan(y))
                continue;
            x0 = fmin(x0, x);
            x1 = fmax(x1, x);
            y0 = fmin(y0, y);
            y1 = fmax(y1, y);
        }
    if (!(x1 >= x0 && y1 >= y0)) {
        x0 = y0 = 0;
        x1 = y1 = 1;
    }
    double px = x1 > x0 ? 0.1 * (x1 - x0) : 5, py = y1 > y0 ? 0.1 * (y1 - y0) : 0.05;
    plvpor(0.17, 0.95, 0.17, 0.86);
    plwind(x0 - px, x1 + px, y0 - py, y1 + py);
    plcol0(1);
    plbox("bcnst", 0, 0, "bcnstv", 0, 0);
    pllab(fig->xlabel, fig->ylabel, fig->panel_title);
    for (size_t i = 0; i < t->n_rows; i++) {
        const report_cell *a = &t->cells[i * t->n_cols], *b = a + 1;
        PLFLT x[2] = {a->ppr, a->paper}, y[2] = {b->ppr, b->paper};
        plcol0(2 + (PLINT)(i % N_SERIES_COLOURS));
        int has_ppr = !isnan(x[0]) && !isnan(y[0]), has_paper = !isnan(x[1]) && !isnan(y[1]);
        if (has_ppr && has_paper)
            plline(2, x, y);
        if (has_ppr)
            plstring(1, x, y, "●");
        if (has_paper)
            plstring(1, x + 1, y + 1, "○");
    }
}

int report_figure(const report_table *t, const report_figure_spec *fig, strbuf *svg,
                  ppr_err *e)
{
    panel p[MAX_PANELS];
    size_t n_p = 1;
    int rc = fig->scatter ? PPR_OK : panels_of(t, fig, p, &n_p, e);
    if (rc || !n_p || !t->n_rows)
        return rc;
    char path[] = "/tmp/ppr-figure-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return err_set(e, PPR_EINPUT, "cannot make a temporary file for a figure");
    close(fd);
    plsdev("svg");
    plsfnam(path);
    plscmap0n((PLINT)(sizeof PALETTE / sizeof *PALETTE));
    for (size_t c = 0; c < sizeof PALETTE / sizeof *PALETTE; c++)
        plscol0((PLINT)c, PALETTE[c][0], PALETTE[c][1], PALETTE[c][2]);
    /* a grid of at most 3 panels a row, the legend in the next subpage */
    PLINT cols = n_p + 1 < 3 ? (PLINT)n_p + 1 : 3, rows = ((PLINT)n_p + 1 + cols - 1) / cols;
    plspage(0, 0, 520 * cols, 400 * rows, 0, 0);
    plssub(cols, rows);
    plinit();
    plschr(0, 0.8);
    for (size_t k = 0; k < n_p; k++) {
        pladv((PLINT)k + 1);
        if (fig->scatter) {
            scatter(t, fig);
            continue;
        }
        axes(t, fig, &p[k]);
        for (size_t i = 0; i < t->n_rows; i++)
            series(t, &p[k], i);
    }
    legend(t, fig->scatter);
    plend();
    char *data = NULL;
    size_t n = 0;
    rc = file_read_all(path, &data, &n, e);
    unlink(path);
    if (rc == PPR_OK)
        strbuf_add(svg, data, n);
    free(data);
    return rc;
}
