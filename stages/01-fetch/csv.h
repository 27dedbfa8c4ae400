/* csv.h: reading RFC 4180 CSV from a buffer in memory, for sources published
 * as spreadsheets (XSTest). The first record is a header naming the columns;
 * every later record has exactly as many fields. A field may be quoted, and a
 * quoted field may hold commas, doubled quotes ("" for ") and line breaks, kept
 * byte for byte. Records end with CRLF or LF; the last one may end with
 * nothing. Errors name the file and the physical line ("'x.csv:12': ..."). */
#ifndef PPR_FETCH_CSV_H
#define PPR_FETCH_CSV_H

#include <stddef.h>

#include "common/error.h"
#include "common/strbuf.h"

/* One record's fields, each followed by a NUL in text. */
typedef struct {
    strbuf text;  /* the fields' bytes, each NUL-terminated */
    size_t *off;  /* [n + 1] field i is text.p[off[i] .. off[i+1] - 1) */
    size_t n, cap;
} csv_record;

typedef struct {
    const char *data;   /* [n] the whole file */
    size_t n, at;       /* size and read position */
    const char *what;   /* the file's name in errors */
    size_t line;        /* physical line at the read position, from 1 */
    size_t record_line; /* line where the current record starts */
    csv_record head;    /* the header */
    csv_record rec;     /* the current record */
} csv_reader;

/* Start reading data and read the header: a file without one, or with a
 * column named twice, is an input error. Release the reader even on failure. */
int csv_open(csv_reader *r, const char *data, size_t n, const char *what, ppr_err *e);
void csv_release(csv_reader *r);

/* The index of the column called name; its absence is an input error. */
int csv_column(const csv_reader *r, const char *name, size_t *col, ppr_err *e);

/* csv_column for each of the NULL-ended names, into cols[i]. */
int csv_columns(const csv_reader *r, const char *const *names, size_t *cols, ppr_err *e);

/* Read the next record into r->rec: *got is 1, or 0 at the end of the data. */
int csv_next(csv_reader *r, int *got, ppr_err *e);

/* Field col of the current record (NUL-terminated) and its length. */
const char *csv_field(const csv_reader *r, size_t col, size_t *len);

#endif
