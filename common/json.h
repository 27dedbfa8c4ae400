/* json.h: JSON in and out through cJSON. Output is canonical (design section 5):
 * object keys sorted bytewise, no insignificant whitespace, numbers printed the
 * same way whatever the locale, so equal values give equal bytes. */
#ifndef PPR_JSON_H
#define PPR_JSON_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Parse a file; a syntax error names the file, line and column. A number
 * beyond a double's range (1e999) is an error too: it would read as an
 * infinity, which JSON cannot hold. */
cJSON *json_parse_file(const char *path, ppr_err *e);

/* Parse a buffer as json_parse_file does; `what` names it in errors (e.g. a
 * file name). */
cJSON *json_parse_buf(const char *data, size_t n, const char *what, ppr_err *e);

/* Canonical text of v plus a trailing newline; malloc'd. Fails on NaN or
 * infinities, which JSON cannot hold. */
char *json_canonical(const cJSON *v, ppr_err *e);

/* Numbers: integers up to 2^53 print as integers, others as the shortest
 * decimal that reads back to the same double. buf holds at least 32 chars. */
void json_format_number(double x, char *buf, size_t n);

/* Write v canonically to path, only when its bytes change. */
int json_write_if_changed(const char *path, const cJSON *v, int *changed, ppr_err *e);

/* Typed member access; errors name `where` (a file or artifact) and the key. */
/* 1 when the array arr (or NULL) has a string item equal to s. */
int json_list_has(const cJSON *arr, const char *s);

int json_get_num(const cJSON *obj, const char *key, const char *where, double *out,
                 ppr_err *e);
int json_get_int(const cJSON *obj, const char *key, const char *where, int64_t *out,
                 ppr_err *e);
int json_get_str(const cJSON *obj, const char *key, const char *where,
                 const char **out, ppr_err *e);
int json_get_bool(const cJSON *obj, const char *key, const char *where, int *out, ppr_err *e);
const cJSON *json_get_obj(const cJSON *obj, const char *key, const char *where,
                          ppr_err *e);
const cJSON *json_get_arr(const cJSON *obj, const char *key, const char *where,
                          ppr_err *e);

#endif
