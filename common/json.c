/* json.c: canonical JSON writing and checked reading on top of cJSON. */
#include "json.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "strbuf.h"

/* The first number of v (or of the values after it) that is not finite, or
 * NULL. cJSON reads a number beyond a double's range, such as 1e999, as an
 * infinity, which JSON cannot hold and json_canonical refuses to write. */
static const cJSON *first_nonfinite(const cJSON *v)
{
    for (; v; v = v->next) {
        if (cJSON_IsNumber(v) && !isfinite(v->valuedouble))
            return v;
        const cJSON *in = first_nonfinite(v->child);
        if (in)
            return in;
    }
    return NULL;
}

cJSON *json_parse_buf(const char *data, size_t n, const char *what, ppr_err *e)
{
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(data, n, &end, 0);
    const cJSON *bad = first_nonfinite(v);
    if (bad) {
        if (bad->string)
            err_set(e, PPR_EINPUT, "'%s': key \"%s\" holds a number beyond a double's range",
                    what, bad->string);
        else
            err_set(e, PPR_EINPUT, "'%s': a number lies beyond a double's range", what);
        cJSON_Delete(v);
        return NULL;
    }
    if (v)
        return v;
    size_t at = end && end >= data ? (size_t)(end - data) : 0;
    if (at > n)
        at = n;
    unsigned line = 1, col = 1;
    for (size_t i = 0; i < at; i++) {
        if (data[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    err_set(e, PPR_EINPUT, "'%s':%u:%u: malformed JSON", what, line, col);
    return NULL;
}

cJSON *json_parse_file(const char *path, ppr_err *e)
{
    char *data;
    size_t n;
    if (file_read_all(path, &data, &n, e))
        return NULL;
    cJSON *v = json_parse_buf(data, n, path, e);
    free(data);
    return v;
}

/* Printing and parsing numbers happen under the "C" locale of this thread only,
 * so a caller's setlocale() cannot change the bytes. */
void json_format_number(double x, char *buf, size_t n)
{
    if (x == floor(x) && fabs(x) < 9007199254740992.0) {
        snprintf(buf, n, "%lld", (long long)x);
        return;
    }
    locale_t c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    locale_t old = c ? uselocale(c) : (locale_t)0;
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            break;
    }
    if (c) {
        uselocale(old);
        freelocale(c);
    }
}

static void put_string(strbuf *b, const char *s)
{
    strbuf_add(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': strbuf_add(b, "\\\"", 2); break;
        case '\\': strbuf_add(b, "\\\\", 2); break;
        case '\b': strbuf_add(b, "\\b", 2); break;
        case '\f': strbuf_add(b, "\\f", 2); break;
        case '\n': strbuf_add(b, "\\n", 2); break;
        case '\r': strbuf_add(b, "\\r", 2); break;
        case '\t': strbuf_add(b, "\\t", 2); break;
        default:
            if (*p < 0x20)
                strbuf_addf(b, "\\u%04x", *p);
            else
                strbuf_add(b, (const char *)p, 1);
        }
    }
    strbuf_add(b, "\"", 1);
}

static int key_cmp(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    return strcmp(x->string, y->string);
}

static int put_value(strbuf *b, const cJSON *v, ppr_err *e)
{
    if (cJSON_IsNull(v)) {
        strbuf_adds(b, "null");
    } else if (cJSON_IsTrue(v)) {
        strbuf_adds(b, "true");
    } else if (cJSON_IsFalse(v)) {
        strbuf_adds(b, "false");
    } else if (cJSON_IsNumber(v)) {
        if (!isfinite(v->valuedouble))
            return err_set(e, PPR_EINTERNAL, "cannot write a non-finite number as JSON");
        char num[40];
        json_format_number(v->valuedouble, num, sizeof num);
        strbuf_adds(b, num);
    } else if (cJSON_IsString(v)) {
        put_string(b, v->valuestring);
    } else if (cJSON_IsArray(v)) {
        strbuf_add(b, "[", 1);
        int first = 1;
        for (const cJSON *c = v->child; c; c = c->next) {
            if (!first)
                strbuf_add(b, ",", 1);
            first = 0;
            if (put_value(b, c, e))
                return e ? e->code : PPR_EINTERNAL;
        }
        strbuf_add(b, "]", 1);
    } else if (cJSON_IsObject(v)) {
        size_t n = 0;
        for (const cJSON *c = v->child; c; c = c->next)
            n++;
        const cJSON **kids = malloc((n ? n : 1) * sizeof *kids);
        if (!kids)
            return err_nomem(e);
        n = 0;
        for (const cJSON *c = v->child; c; c = c->next)
            kids[n++] = c;
        qsort(kids, n, sizeof *kids, key_cmp);
        strbuf_add(b, "{", 1);
        for (size_t i = 0; i < n; i++) {
            if (i > 0 && strcmp(kids[i - 1]->string, kids[i]->string) == 0) {
                err_set(e, PPR_EINPUT, "duplicate JSON key \"%s\"", kids[i]->string);
                free(kids);
                return PPR_EINPUT;
            }
            if (i)
                strbuf_add(b, ",", 1);
            put_string(b, kids[i]->string);
            strbuf_add(b, ":", 1);
            if (put_value(b, kids[i], e)) {
                free(kids);
                return e ? e->code : PPR_EINTERNAL;
            }
        }
        free(kids);
        strbuf_add(b, "}", 1);
    } else {
        return err_set(e, PPR_EINTERNAL, "unknown JSON value type");
    }
    return PPR_OK;
}

char *json_canonical(const cJSON *v, ppr_err *e)
{
    strbuf b = {0};
    if (put_value(&b, v, e)) {
        strbuf_release(&b);
        return NULL;
    }
    strbuf_add(&b, "\n", 1);
    if (b.failed) {
        strbuf_release(&b);
        err_nomem(e);
        return NULL;
    }
    return b.p;
}

int json_write_if_changed(const char *path, const cJSON *v, int *changed, ppr_err *e)
{
    char *s = json_canonical(v, e);
    if (!s)
        return e ? e->code : PPR_EINTERNAL;
    int rc = file_write_if_changed(path, s, strlen(s), changed, e);
    free(s);
    return rc;
}

static const cJSON *member(const cJSON *obj, const char *key, const char *where,
                           ppr_err *e)
{
    const cJSON *v = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    if (!v)
        err_set(e, PPR_EINPUT, "'%s': missing field \"%s\"", where, key);
    return v;
}

int json_get_num(const cJSON *obj, const char *key, const char *where, double *out,
                 ppr_err *e)
{
    const cJSON *v = member(obj, key, where, e);
    if (!v)
        return PPR_EINPUT;
    if (!cJSON_IsNumber(v))
        return err_set(e, PPR_EINPUT, "'%s': field \"%s\" must be a number", where, key);
    *out = v->valuedouble;
    return PPR_OK;
}

int json_get_int(const cJSON *obj, const char *key, const char *where, int64_t *out,
                 ppr_err *e)
{
    const cJSON *v = member(obj, key, where, e);
    if (!v)
        return PPR_EINPUT;
    double x = v->valuedouble;
    if (!cJSON_IsNumber(v) || x != floor(x) || fabs(x) > 9007199254740992.0)
        return err_set(e, PPR_EINPUT, "'%s': field \"%s\" must be an integer", where, key);
    *out = (int64_t)x;
    return PPR_OK;
}

int json_get_str(const cJSON *obj, const char *key, const char *where,
                 const char **out, ppr_err *e)
{
    const cJSON *v = member(obj, key, where, e);
    if (!v)
        return PPR_EINPUT;
    if (!cJSON_IsString(v))
        return err_set(e, PPR_EINPUT, "'%s': field \"%s\" must be a string", where, key);
    *out = v->valuestring;
    return PPR_OK;
}

int json_get_bool(const cJSON *obj, const char *key, const char *where, int *out, ppr_err *e)
{
    const cJSON *v = member(obj, key, where, e);
    if (!v)
        return PPR_EINPUT;
    if (!cJSON_IsBool(v))
        return err_set(e, PPR_EINPUT, "'%s': field \"%s\" must be true or false", where, key);
    *out = cJSON_IsTrue(v);
    return PPR_OK;
}

const cJSON *json_get_obj(const cJSON *obj, const char *key, const char *where,
                          ppr_err *e)
{
    const cJSON *v = member(obj, key, where, e);
    if (v && !cJSON_IsObject(v)) {
        err_set(e, PPR_EINPUT, "'%s': field \"%s\" must be an object", where, key);
        return NULL;
    }
    return v;
}

const cJSON *json_get_arr(const cJSON *obj, const char *key, const char *where,
                          ppr_err *e)
{
    const cJSON *v = member(obj, key, where, e);
    if (v && !cJSON_IsArray(v)) {
        err_set(e, PPR_EINPUT, "'%s': field \"%s\" must be an array", where, key);
        return NULL;
    }
    return v;
}

int json_list_has(const cJSON *arr, const char *s)
{
    for (const cJSON *c = arr ? arr->child : NULL; c; c = c->next)
        if (cJSON_IsString(c) && strcmp(c->valuestring, s) == 0)
            return 1;
    return 0;
}
