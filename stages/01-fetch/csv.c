/* csv.c: the RFC 4180 reader of csv.h: one pass over the buffer, a field at a
 * time, copying field bytes so quoted fields can be unescaped. */
#include "csv.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

static void record_free(csv_record *c)
{
    strbuf_release(&c->text);
    free(c->off);
    memset(c, 0, sizeof *c);
}

void csv_release(csv_reader *r)
{
    if (!r)
        return;
    record_free(&r->head);
    record_free(&r->rec);
}

/* Close the field that started at off[n]: end it with a NUL and open the next. */
static int field_end(csv_record *c)
{
    strbuf_add(&c->text, "", 1);
    if (c->text.failed || mem_grow((void **)&c->off, &c->cap, c->n + 2, sizeof *c->off))
        return -1;
    c->off[++c->n] = c->text.len;
    return 0;
}

/* A quoted field from the opening quote at r->at to the closing one. */
static int read_quoted(csv_reader *r, csv_record *c, ppr_err *e)
{
    size_t start_line = r->line;
    r->at++;
    for (;;) {
        const char *q = memchr(r->data + r->at, '"', r->n - r->at);
        if (!q)
            return err_set(e, PPR_EINPUT, "'%s:%zu': quoted field never closed", r->what,
                           start_line);
        size_t end = (size_t)(q - r->data);
        for (size_t i = r->at; i < end; i++)
            r->line += r->data[i] == '\n';
        strbuf_add(&c->text, r->data + r->at, end - r->at);
        r->at = end + 1;
        if (r->at < r->n && r->data[r->at] == '"') {
            strbuf_add(&c->text, "\"", 1);
            r->at++;
            continue;
        }
        break;
    }
    const char *next = r->data + r->at;
    if (r->at < r->n && *next != ',' && *next != '\r' && *next != '\n')
        return err_set(e, PPR_EINPUT, "'%s:%zu': text after a closing quote", r->what,
                       r->line);
    return PPR_OK;
}

/* An unquoted field: everything up to a comma or the end of the line. */
static int read_plain(csv_reader *r, csv_record *c, ppr_err *e)
{
    size_t start = r->at;
    for (; r->at < r->n; r->at++) {
        char ch = r->data[r->at];
        if (ch == ',' || ch == '\n' || ch == '\r')
            break;
        if (ch == '"')
            return err_set(e, PPR_EINPUT, "'%s:%zu': quote inside an unquoted field",
                           r->what, r->line);
    }
    strbuf_add(&c->text, r->data + start, r->at - start);
    return PPR_OK;
}

/* One record into c, from r->at (not at the end of the data). */
static int read_record(csv_reader *r, csv_record *c, ppr_err *e)
{
    c->text.len = 0;
    c->n = 0;
    if (mem_grow((void **)&c->off, &c->cap, 1, sizeof *c->off))
        return err_nomem(e);
    c->off[0] = 0;
    r->record_line = r->line;
    for (;;) {
        int rc = r->at < r->n && r->data[r->at] == '"' ? read_quoted(r, c, e)
                                                        : read_plain(r, c, e);
        if (rc)
            return rc;
        if (field_end(c))
            return err_nomem(e);
        if (r->at == r->n)
            return PPR_OK;
        char ch = r->data[r->at++];
        if (ch == ',')
            continue;
        if (ch == '\r') {
            if (r->at == r->n || r->data[r->at] != '\n')
                return err_set(e, PPR_EINPUT,
                               "'%s:%zu': carriage return without a line feed", r->what,
                               r->line);
            r->at++;
        }
        r->line++;
        return PPR_OK;
    }
}

int csv_open(csv_reader *r, const char *data, size_t n, const char *what, ppr_err *e)
{
    memset(r, 0, sizeof *r);
    r->data = data;
    r->n = n;
    r->what = what;
    r->line = 1;
    if (n == 0)
        return err_set(e, PPR_EINPUT, "'%s': no header row", what);
    int rc = read_record(r, &r->head, e);
    if (rc)
        return rc;
    for (size_t i = 0; i < r->head.n; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->head.text.p + r->head.off[i], r->head.text.p + r->head.off[j]) == 0)
                return err_set(e, PPR_EINPUT, "'%s:1': column \"%s\" appears twice", what,
                               r->head.text.p + r->head.off[i]);
    return PPR_OK;
}

int csv_column(const csv_reader *r, const char *name, size_t *col, ppr_err *e)
{
    for (size_t i = 0; i < r->head.n; i++)
        if (strcmp(r->head.text.p + r->head.off[i], name) == 0) {
            *col = i;
            return PPR_OK;
        }
    return err_set(e, PPR_EINPUT, "'%s': missing column \"%s\"", r->what, name);
}

int csv_columns(const csv_reader *r, const char *const *names, size_t *cols, ppr_err *e)
{
    int rc = PPR_OK;
    for (size_t i = 0; names[i] && rc == PPR_OK; i++)
        rc = csv_column(r, names[i], &cols[i], e);
    return rc;
}

int csv_next(csv_reader *r, int *got, ppr_err *e)
{
    *got = 0;
    if (r->at == r->n)
        return PPR_OK;
    int rc = read_record(r, &r->rec, e);
    if (rc)
        return rc;
    if (r->rec.n != r->head.n)
        return err_set(e, PPR_EINPUT, "'%s:%zu': %zu fields where the header has %zu",
                       r->what, r->record_line, r->rec.n, r->head.n);
    *got = 1;
    return PPR_OK;
}

const char *csv_field(const csv_reader *r, size_t col, size_t *len)
{
    if (len)
        *len = r->rec.off[col + 1] - r->rec.off[col] - 1;
    return r->rec.text.p + r->rec.off[col];
}
