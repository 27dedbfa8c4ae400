/* main.c: stage 08, report: the paper's Tables 2-6 as ppr measures them, each cell
 * ppr's value and interval beside the published one (manifests/paper.json),
 * as Markdown, HTML, CSV and LaTeX, with Figures 2-5 as SVG, stored
 * in the artifact store and written under figures/ (docs/report.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/lock.h"
#include "report.h"

#define REPORT_HTML "figures/index.html"

/* The paper's numbers, which must be the file the slice hashed. */
static int paper_load(stage_run *r, cJSON **out, ppr_err *e)
{
    const char *want;
    const cJSON *files = json_get_obj(r->config, "files", r->slice_path, e);
    if (!files || json_get_str(files, PAPER_PATH, r->slice_path, &want, e))
        return PPR_EINPUT;
    unsigned char d[SHA256_LEN];
    char hex[SHA256_HEX_LEN + 1];
    uint64_t bytes;
    if (sha256_file(PAPER_PATH, d, &bytes, e))
        return PPR_EINPUT;
    sha256_hex(d, hex);
    if (strcmp(hex, want) != 0)
        return err_set(e, PPR_EINPUT, "'%s' changed since its slice was made (run ninja)", PAPER_PATH);
    int rc = stage_add_file(r, PAPER_PATH, hex, bytes, e);
    if (rc == PPR_OK && !(*out = json_parse_file(PAPER_PATH, e)))
        rc = PPR_EINPUT;
    return rc;
}

static int put(stage_run *r, const char *name, strbuf *b, ppr_err *e)
{
    return b->failed ? err_nomem(e)
                     : stage_put(r, name, PAYLOAD_FILE, b->p ? b->p : "", b->len, 1, e);
}

#define N_TABLES 5
#define N_FIGURES 5

/* The figures, each of one table: its index in compute's t (N_TABLES: the
 * changes of Table 3, report_changes; N_TABLES + 1: Table 2's regimes,
 * report_regimes). */
static const struct {
    report_figure_spec spec;
    int table;
    const char *caption;
} FIGURES[N_FIGURES] = {
    {{.id = "figure2", .xlabel = "training pairs", .ylabel = "accuracy", .logx = 1}, 3,
     "Figure 2: accuracy against training size (Table 5)"},
    {{.id = "figure3", .xlabel = "new user's pairs k", .ylabel = "accuracy", .logx = 1}, 2,
     "Figure 3: new users' accuracy against k (Table 4)"},
    {{.id = "figure4", .xlabel = "", .ylabel = "change against the reference",
      .xnames = REPORT_CATEGORIES},
     N_TABLES, "Figure 4: change against the pre-trained reference per category (Table 3)"},
    {{.id = "figure5", .xlabel = "", .ylabel = "accuracy", .categorical = 1,
      .panel_title = "Personal-LLM: accuracy per user"},
     4, "Figure 5: accuracy per user of Personal-LLM (Table 6)"},
    {{.id = "regimes", .xlabel = "% contested pairs", .ylabel = "MV-ACC range (max - min)",
      .panel_title = "How much the users disagree", .scatter = 1},
     N_TABLES + 1, "ppr's own: Table 2's disagreement regimes, %Cont. against the MV-ACC range"}};

static const char *const INTRO =
    "Each cell: ppr's value ± its 95% interval, then (the paper's value, ppr's minus the "
    "paper's). Simulated data are labelled as such in each table's note; every table is also "
    "in tables/ as CSV and LaTeX. The claims are judged by rules written in code. The "
    "provenance at the end names every run and file behind the numbers. The performance "
    "figures are in performance.md beside this page, written by bench/run (not a stage: it "
    "is absent until bench/run has run).";

/* The page's head, with its style: white, readable, wide tables scrolling. */
static void html_head(strbuf *h)
{
    strbuf_adds(h, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                   "<title>ppr: Dong et al. 2025 reproduced</title>\n<style>\n"
                   "body{font-family:sans-serif;background:#fff;color:#111;margin:2em;"
                   "max-width:110em}\n"
                   "section{overflow-x:auto}\ntable{border-collapse:collapse;margin:1em 0}\n"
                   "th,td{border:1px solid #bbb;padding:.25em .5em;text-align:left;"
                   "white-space:nowrap}\nthead th{background:#eee}\n"
                   "figure{margin:1em 0}\nfigure svg{max-width:100%;height:auto}\n"
                   "pre{white-space:pre-wrap}\n</style>\n</head>\n<body>\n"
                   "<h1>ppr: Dong et al. 2025 reproduced</h1>\n<p>");
    report_html_text(INTRO, h);
    strbuf_adds(h, "</p>\n");
}

/* Build the tables and figures, render them, store the files: the page as
 * Markdown (the figures as links) and as one self-contained HTML file (the
 * figures inlined), each table as CSV and LaTeX, each figure as SVG. */
static int compute(stage_run *r, cJSON *paper, ppr_err *e)
{
    static int (*const build[N_TABLES])(report_in *, report_table *, ppr_err *) = {
        report_table2, report_table3, report_table4, report_table5, report_table6};
    report_in in = {r, paper, cJSON_CreateObject()};
    report_table t[N_TABLES + 2]; /* Tables 2-6, Table 3's changes, Table 2's regimes */
    strbuf md = {0}, html = {0};
    int rc = in.read ? PPR_OK : err_nomem(e), n = 0;
    for (; n < N_TABLES && rc == PPR_OK; n++)
        if ((rc = build[n](&in, &t[n], e)))
            break;
    if (n == N_TABLES && (rc = report_changes(&in, &t[1], &t[N_TABLES], e)) == PPR_OK)
        n++;
    if (n == N_TABLES + 1 && (rc = report_regimes(&t[0], &t[N_TABLES + 1], e)) == PPR_OK)
        n++;
    strbuf_addf(&md, "# ppr: Dong et al. 2025 reproduced\n\n%s The same page with the "
                     "figures inlined: index.html.\n\n", INTRO);
    html_head(&html);
    /* on the page: Tables 2 and 3, Table 3's changes, Tables 4-6 */
    static const int order[N_TABLES + 1] = {0, 1, N_TABLES, 2, 3, 4};
    for (int k = 0; k < N_TABLES + 1 && n == N_TABLES + 2 && rc == PPR_OK; k++) {
        int i = order[k];
        char name[128];
        strbuf csv = {0}, tex = {0};
        report_markdown(&t[i], &md);
        report_html_table(&t[i], &html);
        report_csv(&t[i], 1, &csv);
        report_latex(&t[i], &tex);
        snprintf(name, sizeof name, "figures/tables/%s.csv", t[i].id);
        rc = put(r, name, &csv, e);
        snprintf(name, sizeof name, "figures/tables/%s.tex", t[i].id);
        if (rc == PPR_OK)
            rc = put(r, name, &tex, e);
        strbuf_release(&csv);
        strbuf_release(&tex);
    }
    static const char *const legend = "Filled markers: ppr, with its 95% intervals as error "
                                      "bars; hollow markers: the paper.";
    strbuf_addf(&md, "## Figures\n\n%s\n\n", legend);
    strbuf_addf(&html, "<section>\n<h2>Figures</h2>\n<p>%s</p>\n", legend);
    for (int f = 0; f < N_FIGURES && rc == PPR_OK && n == N_TABLES + 2; f++) {
        const report_table *ft = &t[FIGURES[f].table];
        if (!ft->n_rows)
            continue;
        report_figure_spec spec = FIGURES[f].spec;
        spec.mark = ft->minority;
        char name[128];
        strbuf svg = {0};
        snprintf(name, sizeof name, "figures/%s.svg", spec.id);
        if ((rc = report_figure(ft, &spec, &svg, e)) == PPR_OK && !svg.failed)
            rc = put(r, name, &svg, e);
        strbuf_addf(&md, "### %s\n\n![%s](%s.svg)\n\n", FIGURES[f].caption,
                    FIGURES[f].caption, spec.id);
        if (rc == PPR_OK)
            report_html_figure(spec.id, FIGURES[f].caption, svg.p, svg.len, &html);
        strbuf_release(&svg);
    }
    strbuf_adds(&html, "</section>\n");
    if (rc == PPR_OK && n == N_TABLES + 2)
        report_claims(t, paper, &md, &html);
    if (rc == PPR_OK) {
        strbuf prov = {0};
        report_provenance(r, &prov);
        strbuf_add(&md, prov.p ? prov.p : "", prov.len);
        strbuf_adds(&html, "<section>\n");
        report_html_markdown(prov.p ? prov.p : "", &html);
        strbuf_adds(&html, "</section>\n</body>\n</html>\n");
        rc = prov.failed ? err_nomem(e) : put(r, REPORT_MAIN, &md, e);
        if (rc == PPR_OK)
            rc = put(r, REPORT_HTML, &html, e);
        strbuf_release(&prov);
    }
    for (int i = 0; i < n; i++)
        report_table_release(&t[i]);
    strbuf_release(&md);
    strbuf_release(&html);
    cJSON_Delete(in.read);
    return rc;
}

/* Write every output of the lock under its name (figures/...), from the
 * store: the files are a view of the stored objects, rewritten on every run
 * (a cached one too) so that a deleted figures/ comes back. */
static int materialize(stage_run *r, ppr_err *e)
{
    lock l;
    int rc = lock_load(&l, r->lock_path, e);
    if (rc)
        return rc;
    for (size_t i = 0; i < l.n_outputs && rc == PPR_OK; i++) {
        void *payload;
        size_t n;
        int changed;
        if ((rc = store_get(&r->st, l.outputs[i].sha256, PAYLOAD_FILE, &payload, &n, NULL, e)))
            break;
        if ((rc = dir_make_parent(l.outputs[i].name, e)) == PPR_OK)
            rc = file_write_if_changed(l.outputs[i].name, payload, n, &changed, e);
        free(payload);
    }
    lock_release(&l);
    return rc;
}

static int run(stage_run *r, ppr_err *e)
{
    cJSON *paper = NULL;
    int done, rc = paper_load(r, &paper, e);
    if (rc == PPR_OK && (rc = stage_lookup(r, &done, e)) == PPR_OK && !done &&
        (rc = compute(r, paper, e)) == PPR_OK)
        rc = stage_commit(r, e);
    cJSON_Delete(paper);
    return rc ? rc : materialize(r, e);
}

int main(int argc, char **argv)
{
    return stage_main("08-report", "ppr-report", argc, argv, run);
}
