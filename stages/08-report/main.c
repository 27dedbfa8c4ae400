/* main.c: stage 08, report: the paper's Tables 2-6 as ppr measures them, each cell
 * ppr's value and interval beside the published one (manifests/paper.json),
 * as Markdown, CSV and LaTeX stored in the artifact store and written under
 * figures/ (docs/report.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/lock.h"
#include "report.h"

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

/* What the page says of where its numbers come from. */
static void provenance(const stage_run *r, strbuf *md)
{
    const cJSON *c = r->config, *files = cJSON_GetObjectItemCaseSensitive(c, "files");
    strbuf_addf(md, "## Provenance\n\nProfile `%s`; config (resolved) SHA-256 `%s`; "
                "`%s` SHA-256 `%s`; seeds",
                cJSON_GetObjectItemCaseSensitive(c, "profile")->valuestring,
                cJSON_GetObjectItemCaseSensitive(c, "config_sha256")->valuestring, PAPER_PATH,
                cJSON_GetObjectItemCaseSensitive(files, PAPER_PATH)->valuestring);
    const cJSON *seeds = cJSON_GetObjectItemCaseSensitive(c, "seeds");
    for (const cJSON *s = seeds ? seeds->child : NULL; s; s = s->next)
        strbuf_addf(md, " %.0f", s->valuedouble);
    strbuf_adds(md, ". Every number above is read from these artifacts (the lock of "
                    "`08-report-figures` lists them too):\n\n| artifact | SHA-256 |\n|---|---|\n");
    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(r->slice, "inputs");
    for (const cJSON *it = inputs ? inputs->child : NULL; it; it = it->next)
        strbuf_addf(md, "| `%s` | `%.16s` |\n",
                    cJSON_GetObjectItemCaseSensitive(it, "name")->valuestring,
                    cJSON_GetObjectItemCaseSensitive(it, "sha256")->valuestring);
}

static int put(stage_run *r, const char *name, strbuf *b, ppr_err *e)
{
    return b->failed ? err_nomem(e)
                     : stage_put(r, name, PAYLOAD_FILE, b->p ? b->p : "", b->len, 1, e);
}

/* Build the tables, render them, store the files. */
static int compute(stage_run *r, cJSON *paper, ppr_err *e)
{
    enum { N = 5 };
    static int (*const build[N])(report_in *, report_table *, ppr_err *) = {
        report_table2, report_table3, report_table4, report_table5, report_table6};
    report_in in = {r, paper};
    report_table t[N];
    strbuf md = {0};
    int rc = PPR_OK, n = 0;
    for (; n < N && rc == PPR_OK; n++)
        if ((rc = build[n](&in, &t[n], e)))
            break;
    strbuf_adds(&md, "# ppr: Dong et al. 2025 reproduced\n\nEach cell: ppr's value ± its 95% "
                     "interval, then (the paper's value, ppr's minus the paper's). Simulated "
                     "data are labelled as such in each table's note; every table is also "
                     "in `tables/` as CSV and LaTeX. Figure 4, the Table 2 scatter, the "
                     "claims and the HTML page are not generated yet (issue 14 is open).\n\n");
    for (int i = 0; i < n && rc == PPR_OK; i++) {
        char name[128];
        strbuf csv = {0}, tex = {0};
        report_markdown(&t[i], &md);
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
    /* the figures: of Tables 5, 4 and 6 (t[3], t[2], t[4]) */
    const report_figure_spec figs[3] = {
        {"figure2", "training pairs", "accuracy", 1, 0, NULL, NULL},
        {"figure3", "new user's pairs k", "accuracy", 1, 0, NULL, NULL},
        {"figure5", "", "accuracy", 0, 1, "Personal-LLM: accuracy per user",
         n == N ? t[4].minority : NULL}};
    const int of[3] = {3, 2, 4};
    static const char *const captions[3] = {
        "Figure 2: accuracy against training size (Table 5)",
        "Figure 3: new users' accuracy against k (Table 4)",
        "Figure 5: accuracy per user of Personal-LLM (Table 6)"};
    strbuf_adds(&md, "## Figures\n\nFilled markers: ppr, with its 95% intervals as error "
                     "bars; hollow markers: the paper.\n\n");
    for (int f = 0; f < 3 && rc == PPR_OK && n == N; f++) {
        if (!t[of[f]].n_rows)
            continue;
        char name[128];
        strbuf svg = {0};
        snprintf(name, sizeof name, "figures/%s.svg", figs[f].id);
        if ((rc = report_figure(&t[of[f]], &figs[f], &svg, e)) == PPR_OK)
            rc = put(r, name, &svg, e);
        strbuf_addf(&md, "### %s\n\n![%s](%s.svg)\n\n", captions[f], captions[f], figs[f].id);
        strbuf_release(&svg);
    }
    if (rc == PPR_OK) {
        provenance(r, &md);
        rc = put(r, REPORT_MAIN, &md, e);
    }
    for (int i = 0; i < n; i++)
        report_table_release(&t[i]);
    strbuf_release(&md);
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
