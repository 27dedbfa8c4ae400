/* hfrows.c: paging through the rows API, checking each page, keeping it for a
 * later run, and joining the rows into one JSON-lines file (hfrows.h). */
#include "hfrows.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "download.h"
#include "fsutil.h"
#include "json.h"
#include "progress.h"
#include "strbuf.h"

#define PAGE_ROWS 100 /* the most rows the API serves per request */

/* The split being fetched; every message names it. */
typedef struct {
    const char *dataset, *config, *split;
    char *api;   /* download_url(api_base) without a trailing '/' */
    char *pages; /* "<dest>.pages" */
} split_ref;

/* A PPR_EINPUT naming the split and the page's offset, then the problem. */
static int page_fail(const split_ref *s, int64_t offset, ppr_err *e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int page_fail(const split_ref *s, int64_t offset, ppr_err *e, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return err_set(e, PPR_EINPUT, "dataset '%s' config '%s' split '%s' offset %" PRId64 ": %s",
                   s->dataset, s->config, s->split, offset, what);
}

/* Percent-encode all but RFC 3986's unreserved characters. */
static void url_escape(strbuf *b, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
            (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~')
            strbuf_add(b, (const char *)p, 1);
        else
            strbuf_addf(b, "%%%02X", *p);
    }
}

static char *page_url(const split_ref *s, int64_t offset)
{
    strbuf b = {0};
    strbuf_adds(&b, s->api);
    strbuf_adds(&b, "/rows?dataset=");
    url_escape(&b, s->dataset);
    strbuf_adds(&b, "&config=");
    url_escape(&b, s->config);
    strbuf_adds(&b, "&split=");
    url_escape(&b, s->split);
    strbuf_addf(&b, "&offset=%" PRId64 "&length=%d", offset, PAGE_ROWS);
    if (b.failed) {
        strbuf_release(&b);
        return NULL;
    }
    return b.p;
}

/* Check the page at offset. *total is the split's row count: -1 until the
 * first page sets it, which every later page must repeat. */
static int page_check(const split_ref *s, const cJSON *page, int64_t offset,
                      int64_t *total, ppr_err *e)
{
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(page, "rows");
    const cJSON *feats = cJSON_GetObjectItemCaseSensitive(page, "features");
    const cJSON *n_total = cJSON_GetObjectItemCaseSensitive(page, "num_rows_total");
    const cJSON *partial = cJSON_GetObjectItemCaseSensitive(page, "partial");
    if (!cJSON_IsArray(rows) || !cJSON_IsArray(feats))
        return page_fail(s, offset, e, "the page lacks the arrays \"rows\" and \"features\"");
    if (!cJSON_IsNumber(n_total) || n_total->valuedouble < 0 ||
        n_total->valuedouble > 9007199254740992.0 ||
        n_total->valuedouble != (double)(int64_t)n_total->valuedouble)
        return page_fail(s, offset, e, "field \"num_rows_total\" must be a count");
    if (cJSON_IsTrue(partial))
        return page_fail(s, offset, e,
                         "the API serves only part of this split (\"partial\": true)");
    int64_t t = (int64_t)n_total->valuedouble;
    if (*total >= 0 && t != *total)
        return page_fail(s, offset, e,
                         "num_rows_total is %" PRId64 " but was %" PRId64
                         " on the first page; the split changed: remove '%s' to start over",
                         t, *total, s->pages);
    *total = t;
    int64_t want = t - offset < PAGE_ROWS ? t - offset : PAGE_ROWS;
    if (want < 0)
        want = 0;
    int64_t n = cJSON_GetArraySize(rows);
    if (n != want)
        return page_fail(s, offset, e,
                         "%" PRId64 " rows, expected %" PRId64 " of %" PRId64 " in all", n,
                         want, t);
    int64_t i = 0;
    for (const cJSON *r = rows->child; r; r = r->next, i++) {
        const cJSON *idx = cJSON_GetObjectItemCaseSensitive(r, "row_idx");
        const cJSON *cut = cJSON_GetObjectItemCaseSensitive(r, "truncated_cells");
        if (!cJSON_IsNumber(idx) || idx->valuedouble != (double)(offset + i))
            return page_fail(s, offset, e, "rows[%" PRId64 "] is not row %" PRId64, i,
                             offset + i);
        if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(r, "row")) ||
            !cJSON_IsArray(cut))
            return page_fail(s, offset, e,
                             "row %" PRId64 " lacks \"row\" or \"truncated_cells\"",
                             offset + i);
        if (cut->child)
            return page_fail(s, offset, e,
                             "row %" PRId64 " has a truncated cell \"%s\": the rows API "
                             "does not serve it whole",
                             offset + i,
                             cJSON_IsString(cut->child) ? cut->child->valuestring : "?");
    }
    return PPR_OK;
}

/* The checked page at offset: kept by an earlier call in the pages directory,
 * or fetched now and kept. *fetched says which. */
static cJSON *page_get(const split_ref *s, int64_t offset, int64_t *total, int *fetched,
                       ppr_err *e)
{
    char name[32];
    snprintf(name, sizeof name, "%" PRId64 ".json", offset);
    char *path = path_join(s->pages, name), *url = NULL;
    if (!path) {
        err_nomem(e);
        return NULL;
    }
    strbuf body = {0};
    cJSON *page = NULL;
    *fetched = !file_exists(path);
    if (!*fetched) {
        char *data;
        size_t n;
        if (file_read_all(path, &data, &n, e) == PPR_OK) {
            page = json_parse_buf(data, n, path, e);
            free(data);
        }
        if (page && page_check(s, page, offset, total, e)) {
            cJSON_Delete(page);
            page = NULL;
        }
        if (!page)
            err_wrap(e, "kept page '%s' (remove it to fetch it again)", path);
    } else if (!(url = page_url(s, offset))) {
        err_nomem(e);
    } else if (download_buffer(url, &body, e)) {
        err_wrap(e, "dataset '%s' config '%s' split '%s' offset %" PRId64, s->dataset,
                 s->config, s->split, offset);
    } else {
        page = json_parse_buf(body.p ? body.p : "", body.len, url, e);
        if (!page)
            err_wrap(e, "dataset '%s' config '%s' split '%s' offset %" PRId64, s->dataset,
                     s->config, s->split, offset);
        if (page && (page_check(s, page, offset, total, e) ||
                     file_write_atomic(path, body.p, body.len, e))) {
            cJSON_Delete(page);
            page = NULL;
        }
    }
    strbuf_release(&body);
    free(url);
    free(path);
    return page;
}

/* Append the rows of a checked page to fd as canonical JSON lines. */
static int page_write(const split_ref *s, const cJSON *page, int64_t offset, int fd,
                      const char *dest, ppr_err *e)
{
    strbuf text = {0};
    int64_t i = 0;
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(page, "rows");
    for (const cJSON *r = rows->child; r; r = r->next, i++) {
        char *line = json_canonical(cJSON_GetObjectItemCaseSensitive(r, "row"), e);
        if (!line) {
            strbuf_release(&text);
            return err_wrap(e, "dataset '%s' config '%s' split '%s' row %" PRId64,
                            s->dataset, s->config, s->split, offset + i);
        }
        strbuf_adds(&text, line);
        free(line);
    }
    int rc = PPR_OK;
    if (text.failed)
        rc = err_nomem(e);
    else if (fd_write_full(fd, text.p, text.len) != 0)
        rc = err_set(e, PPR_EINPUT, "cannot write '%s': %s", dest, strerror(errno));
    strbuf_release(&text);
    return rc;
}

/* Empty and remove the pages directory: its pages and any temp file a killed
 * run left beside them. */
static int pages_remove(const char *dir, ppr_err *e)
{
    DIR *d = opendir(dir);
    if (!d)
        return err_set(e, PPR_EINPUT, "cannot open directory '%s': %s", dir,
                       strerror(errno));
    int rc = PPR_OK;
    struct dirent *de;
    while (rc == PPR_OK && (de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *p = path_join(dir, de->d_name);
        if (!p)
            rc = err_nomem(e);
        else if (unlink(p) != 0)
            rc = err_set(e, PPR_EINPUT, "cannot remove '%s': %s", p, strerror(errno));
        free(p);
    }
    closedir(d);
    if (rc == PPR_OK && rmdir(dir) != 0)
        rc = err_set(e, PPR_EINPUT, "cannot remove directory '%s': %s", dir,
                     strerror(errno));
    return rc;
}

int hfrows_fetch(const char *api_base, const char *dataset, const char *config,
                 const char *split, const char *dest, ppr_err *e)
{
    split_ref s = {.dataset = dataset, .config = config, .split = split};
    s.api = download_url(api_base);
    s.pages = malloc(strlen(dest) + 7);
    if (!s.api || !s.pages) {
        free(s.api);
        free(s.pages);
        return err_nomem(e);
    }
    sprintf(s.pages, "%s.pages", dest);
    for (size_t n = strlen(s.api); n > 0 && s.api[n - 1] == '/'; n--)
        s.api[n - 1] = '\0';

    staged_file out = {0};
    int rc = dir_make(s.pages, e);
    if (rc == PPR_OK)
        rc = staged_open(&out, dest, e);
    char label[320];
    snprintf(label, sizeof label, "rows '%.100s' '%.100s' '%.100s'", dataset, config, split);
    progress prog;
    progress_init(&prog, label, 0);
    int64_t total = -1, offset = 0;
    int fetched_pages = 0, kept_pages = 0;
    while (rc == PPR_OK && (total < 0 || offset < total)) {
        int fetched;
        cJSON *page = page_get(&s, offset, &total, &fetched, e);
        if (!page) {
            rc = e ? e->code : PPR_EINPUT;
            break;
        }
        fetched_pages += fetched;
        kept_pages += !fetched;
        prog.total = (uint64_t)total;
        rc = page_write(&s, page, offset, out.fd, dest, e);
        progress_add(&prog, (uint64_t)cJSON_GetArraySize(
                                cJSON_GetObjectItemCaseSensitive(page, "rows")));
        cJSON_Delete(page);
        offset += PAGE_ROWS;
    }
    if (rc == PPR_OK)
        rc = staged_commit(&out, dest, e);
    else
        staged_discard(&out);
    if (rc == PPR_OK)
        rc = pages_remove(s.pages, e);
    if (rc == PPR_OK) {
        char extra[96];
        snprintf(extra, sizeof extra, ", pages: %d fetched, %d kept from an earlier run",
                 fetched_pages, kept_pages);
        progress_done(&prog, "rows", extra);
    }
    free(s.api);
    free(s.pages);
    return rc;
}
