/* provenance.c: the report's last section, where its numbers come from: the
 * config, the paper's numbers, ppr's commit and the machine, each dataset's
 * data (simulated or real, its files by checksum), the encoder, every
 * upstream run (lock, threads, OpenBLAS) and every artifact read, all from
 * the slice (its "provenance", made by `ppr slice`; docs/report.md). */
#include "report.h"

#include <string.h>

#include "common/config.h"

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "?";
}

/* The config, the paper's numbers, the commit and the machine. */
static void header(const cJSON *c, const cJSON *prov, strbuf *md)
{
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(c, "files");
    const cJSON *git = cJSON_GetObjectItemCaseSensitive(prov, "git_commit");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(prov, "machine");
    const cJSON *cpus = cJSON_GetObjectItemCaseSensitive(m, "cpus");
    strbuf_addf(md, "## Provenance\n\nProfile `%s`; config (resolved) SHA-256 `%s`; `%s` "
                    "SHA-256 `%s`; seeds",
                str_of(c, "profile"), str_of(c, "config_sha256"), PAPER_PATH,
                str_of(files, PAPER_PATH));
    const cJSON *seeds = cJSON_GetObjectItemCaseSensitive(c, "seeds");
    for (const cJSON *s = seeds ? seeds->child : NULL; s; s = s->next)
        strbuf_addf(md, " %.0f", s->valuedouble);
    if (cJSON_IsString(git))
        strbuf_addf(md, ".\n\nppr's commit `%s` (the checkout's HEAD when the report's slice "
                        "was made; uncommitted changes are not seen here, but each lock below "
                        "records its stage binary's SHA-256).",
                    git->valuestring);
    else
        strbuf_adds(md, ".\n\nppr's commit: none (not run in a git checkout; each lock below "
                        "records its stage binary's SHA-256).");
    strbuf_addf(md, " Report made on `%s` (%s, %.0f CPUs); each run's threads and OpenBLAS "
                    "build are in its lock, listed below.\n\n",
                str_of(m, "host"), str_of(m, "cpu"), cJSON_IsNumber(cpus) ? cpus->valuedouble : 0);
}

/* Each fetched dataset: simulated or real, its origin and files. */
static void data(const cJSON *runs, strbuf *md)
{
    strbuf_adds(md, "### Data\n\nEach set as fetched (stage 01): simulated (labels drawn by "
                    "ppr's simulator, docs/simulator.md, on the origin's texts) or real, and "
                    "its origin's files by SHA-256 (first 16 digits; all 64 in the lock).\n\n"
                    "| set | data | origin | files |\n|---|---|---|---|\n");
    for (const cJSON *r = runs ? runs->child : NULL; r; r = r->next) {
        const cJSON *src = cJSON_GetObjectItemCaseSensitive(r, "source");
        if (!src)
            continue;
        const char *node = str_of(r, "node"), *kind = str_of(src, "kind");
        strbuf_addf(md, "| `%s` | %s | `%s` | ", node + sizeof "01-fetch",
                    strcmp(kind, "sim") == 0 ? "simulated" : strcmp(kind, "real") == 0 ? "real"
                                                                                       : kind,
                    str_of(src, "origin"));
        const cJSON *files = cJSON_GetObjectItemCaseSensitive(src, "files");
        for (const cJSON *f = files ? files->child : NULL; f; f = f->next)
            strbuf_addf(md, "%s`%s` %.16s", f == files->child ? "" : ", ", str_of(f, "path"),
                        str_of(f, "sha256"));
        strbuf_adds(md, " |\n");
    }
}

/* The encoders, each setting once with the sets it encoded. */
static void encoders(const cJSON *runs, strbuf *md)
{
    strbuf_adds(md, "\n### Encoder\n\n");
    for (const cJSON *r = runs ? runs->child : NULL; r; r = r->next) {
        const cJSON *enc = cJSON_GetObjectItemCaseSensitive(r, "encoder");
        int first = enc != NULL;
        for (const cJSON *q = runs->child; q != r && first; q = q->next)
            first = !cJSON_Compare(enc, cJSON_GetObjectItemCaseSensitive(q, "encoder"), 1);
        if (!first)
            continue;
        char *set = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(enc, "settings"));
        strbuf_addf(md, "- `%s` %s, on:", str_of(enc, "name"), set ? set : "");
        cJSON_free(set);
        for (const cJSON *q = r; q; q = q->next)
            if (cJSON_Compare(enc, cJSON_GetObjectItemCaseSensitive(q, "encoder"), 1))
                strbuf_addf(md, " `%s`", str_of(q, "node") + sizeof "03-encode");
        strbuf_adds(md, "\n");
    }
}

void report_provenance(const stage_run *r, strbuf *md)
{
    const cJSON *c = r->config, *prov = cJSON_GetObjectItemCaseSensitive(c, "provenance");
    const cJSON *runs = cJSON_GetObjectItemCaseSensitive(prov, "runs");
    header(c, prov, md);
    data(runs, md);
    encoders(runs, md);
    strbuf_adds(md, "\n### Runs\n\nEvery stage instance upstream of the report, by its lock's "
                    "SHA-256 (first 16 digits), with its thread count and OpenBLAS build "
                    "(none: it makes no BLAS call).\n\n| instance | lock | threads | OpenBLAS |\n"
                    "|---|---|---|---|\n");
    for (const cJSON *it = runs ? runs->child : NULL; it; it = it->next) {
        const cJSON *th = cJSON_GetObjectItemCaseSensitive(it, "threads");
        const cJSON *blas = cJSON_GetObjectItemCaseSensitive(it, "openblas");
        strbuf_addf(md, "| `%s` | `%.16s` | ", str_of(it, "node"), str_of(it, "lock"));
        if (cJSON_IsNumber(th))
            strbuf_addf(md, "%.0f", th->valuedouble);
        strbuf_addf(md, " | %s |\n", cJSON_IsString(blas) ? blas->valuestring : "none");
    }
    strbuf_adds(md, "\n### Artifacts\n\nEvery number above is read from these artifacts (the "
                    "lock of `08-report-figures` lists them too):\n\n| artifact | SHA-256 |\n"
                    "|---|---|\n");
    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(r->slice, "inputs");
    for (const cJSON *it = inputs ? inputs->child : NULL; it; it = it->next)
        strbuf_addf(md, "| `%s` | `%.16s` |\n", str_of(it, "name"), str_of(it, "sha256"));
}
