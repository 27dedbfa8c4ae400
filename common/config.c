/* config.c: schema checks and profile resolution for the experiment config. */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "json.h"
#include "strbuf.h"

static int type_error(const char *file, const char *path, const char *want, ppr_err *e)
{
    return err_set(e, PPR_EINPUT, "'%s': key \"%s\" must be %s", file, path, want);
}

static void child_path(char *buf, size_t n, const char *path, const char *key)
{
    if (*path)
        snprintf(buf, n, "%s.%s", path, key);
    else
        snprintf(buf, n, "%s", key);
}

static int check_variant(const cJSON *v, const cJSON *s, const char *tag, const char *path,
                         int partial, const char *file, ppr_err *e);

/* Levenshtein distance, for suggesting the key a typo meant; a name longer
 * than 63 bytes counts as far from every other. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b), row[64];
    if (n >= sizeof row / sizeof *row || m >= sizeof row / sizeof *row)
        return SIZE_MAX;
    for (size_t j = 0; j <= m; j++)
        row[j] = j;
    for (size_t i = 1; i <= n; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t d = diag + (a[i - 1] != b[j - 1]), up = row[j];
            if (up + 1 < d)
                d = up + 1;
            if (row[j - 1] + 1 < d)
                d = row[j - 1] + 1;
            diag = up;
            row[j] = d;
        }
    }
    return row[m];
}

/* Whether some object schema from s up to (not including) end has a member
 * name: one schema (end = s->next) or the variants of a tagged object. */
static int key_known(const cJSON *s, const cJSON *end, const char *name)
{
    for (; s != end; s = s->next)
        if (cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(s, "keys"), name))
            return 1;
    return 0;
}

/* An unknown member name of the object at path: the allowed name it is a typo
 * of when one is that close, else every allowed name of the object schemas
 * from s up to end (as key_known). */
static int unknown_key(const char *file, const char *path, const char *name, const cJSON *s,
                       const cJSON *end, ppr_err *e)
{
    char sub[512];
    child_path(sub, sizeof sub, path, name);
    strbuf allowed = {0};
    const char *near = NULL;
    size_t best = SIZE_MAX;
    for (const cJSON *v = s; v != end; v = v->next) {
        const cJSON *keys = cJSON_GetObjectItemCaseSensitive(v, "keys");
        for (const cJSON *k = keys ? keys->child : NULL; k; k = k->next) {
            if (key_known(s, v, k->string))
                continue;
            size_t d = edit_distance(name, k->string);
            if (d < best) {
                best = d;
                near = k->string;
            }
            strbuf_addf(&allowed, "%s%s", allowed.len ? ", " : "", k->string);
        }
    }
    int rc;
    if (allowed.failed)
        rc = err_nomem(e);
    else if (near && best <= 2 && 3 * best <= strlen(name))
        rc = err_set(e, PPR_EINPUT, "'%s': unknown key \"%s\" (did you mean \"%s\"?)", file,
                     sub, near);
    else
        rc = err_set(e, PPR_EINPUT, "'%s': unknown key \"%s\" (allowed: %s)", file, sub,
                     allowed.len ? allowed.p : "none");
    strbuf_release(&allowed);
    return rc;
}

/* "unique": true: no two items are equal; "unique": "<member>": no two items
 * (objects) have equal values of that member. */
static int check_unique(const cJSON *v, const cJSON *s, const char *file, const char *path,
                        ppr_err *e)
{
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(s, "unique");
    if (!cJSON_IsTrue(u) && !cJSON_IsString(u))
        return PPR_OK;
    const char *member = cJSON_IsString(u) ? u->valuestring : NULL;
    for (const cJSON *a = v->child; a; a = a->next) {
        const cJSON *x = member ? cJSON_GetObjectItemCaseSensitive(a, member) : a;
        for (const cJSON *b = v->child; x && b != a; b = b->next) {
            const cJSON *y = member ? cJSON_GetObjectItemCaseSensitive(b, member) : b;
            if (!y || !cJSON_Compare(x, y, 1))
                continue;
            char *text = cJSON_PrintUnformatted(x);
            if (!text)
                return err_nomem(e);
            int rc = err_set(e, PPR_EINPUT, "'%s': key \"%s\" lists %s%s%s twice", file, path,
                             member ? member : "", member ? " " : "", text);
            cJSON_free(text);
            return rc;
        }
    }
    return PPR_OK;
}

static int check_range(double x, const cJSON *s, const char *file, const char *path,
                       ppr_err *e)
{
    const cJSON *lo = cJSON_GetObjectItemCaseSensitive(s, "min");
    const cJSON *hi = cJSON_GetObjectItemCaseSensitive(s, "max");
    if ((cJSON_IsNumber(lo) && x < lo->valuedouble) ||
        (cJSON_IsNumber(hi) && x > hi->valuedouble)) {
        char a[40] = "-inf", b[40] = "inf";
        if (cJSON_IsNumber(lo))
            json_format_number(lo->valuedouble, a, sizeof a);
        if (cJSON_IsNumber(hi))
            json_format_number(hi->valuedouble, b, sizeof b);
        return err_set(e, PPR_EINPUT, "'%s': key \"%s\" must be in [%s, %s]", file, path,
                       a, b);
    }
    return PPR_OK;
}

/* A tagged object: the value of its tag member picks the schema of the rest.
 * A partial override may leave the tag out: it must then fit some variant, and
 * the check of the merged config decides. A key no variant has is a typo;
 * otherwise the variant that has the most of its keys is the one meant, and
 * its error is the one to show. */
static int check_variant(const cJSON *v, const cJSON *s, const char *tag, const char *path,
                         int partial, const char *file, ppr_err *e)
{
    char sub[512];
    child_path(sub, sizeof sub, path, tag);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(v, tag);
    const cJSON *variants = cJSON_GetObjectItemCaseSensitive(s, "variants");
    const cJSON *first = variants ? variants->child : NULL;
    if (!t && partial) {
        for (const cJSON *c = v->child; c; c = c->next)
            if (!key_known(first, NULL, c->string))
                return unknown_key(file, path, c->string, first, NULL, e);
        ppr_err meant = {0};
        int most = -1;
        for (const cJSON *vs = first; vs; vs = vs->next) {
            ppr_err mine = {0};
            if (config_check(v, vs, path, partial, file, &mine) == PPR_OK)
                return PPR_OK;
            int known = 0;
            for (const cJSON *c = v->child; c; c = c->next)
                known += key_known(vs, vs->next, c->string);
            if (known > most) {
                most = known;
                meant = mine;
            }
        }
        if (e)
            *e = meant;
        return meant.code;
    }
    if (!t)
        return err_set(e, PPR_EINPUT, "'%s': missing key \"%s\"", file, sub);
    if (!cJSON_IsString(t))
        return type_error(file, sub, "a string", e);
    const cJSON *vs = cJSON_GetObjectItemCaseSensitive(variants, t->valuestring);
    if (!vs)
        return err_set(e, PPR_EINPUT, "'%s': key \"%s\" has unknown value \"%s\"", file,
                       sub, t->valuestring);
    return config_check(v, vs, path, partial, file, e);
}

int config_check(const cJSON *v, const cJSON *s, const char *path, int partial,
                 const char *file, ppr_err *e)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(s, "type");
    if (!cJSON_IsString(t))
        return err_set(e, PPR_EINPUT, "'%s': schema node for \"%s\" has no type",
                       CONFIG_SCHEMA_PATH, path);
    const char *type = t->valuestring;
    char sub[512];
    if (strcmp(type, "object") == 0) {
        if (!cJSON_IsObject(v))
            return type_error(file, path, "an object", e);
        const cJSON *tag = cJSON_GetObjectItemCaseSensitive(s, "tag");
        if (cJSON_IsString(tag))
            return check_variant(v, s, tag->valuestring, path, partial, file, e);
        const cJSON *keys = cJSON_GetObjectItemCaseSensitive(s, "keys");
        const cJSON *each = cJSON_GetObjectItemCaseSensitive(s, "each");
        for (const cJSON *c = v->child; c; c = c->next) {
            child_path(sub, sizeof sub, path, c->string);
            for (const cJSON *b = v->child; b != c; b = b->next)
                if (strcmp(b->string, c->string) == 0) /* JSON allows it; only one would count */
                    return err_set(e, PPR_EINPUT, "'%s': key \"%s\" appears twice", file, sub);
            const cJSON *cs = keys ? cJSON_GetObjectItemCaseSensitive(keys, c->string) : each;
            if (!cs)
                return unknown_key(file, path, c->string, s, s->next, e);
            if (config_check(c, cs, sub, partial, file, e))
                return PPR_EINPUT;
        }
        if (keys && !partial)
            for (const cJSON *k = keys->child; k; k = k->next) {
                if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(k, "optional")) ||
                    cJSON_GetObjectItemCaseSensitive(v, k->string))
                    continue;
                child_path(sub, sizeof sub, path, k->string);
                return err_set(e, PPR_EINPUT, "'%s': missing key \"%s\"", file, sub);
            }
        return PPR_OK;
    }
    if (strcmp(type, "array") == 0) {
        if (!cJSON_IsArray(v))
            return type_error(file, path, "an array", e);
        int n = cJSON_GetArraySize(v);
        const cJSON *lo = cJSON_GetObjectItemCaseSensitive(s, "min_items");
        const cJSON *hi = cJSON_GetObjectItemCaseSensitive(s, "max_items");
        if (cJSON_IsNumber(lo) && n < lo->valueint)
            return err_set(e, PPR_EINPUT, "'%s': key \"%s\" must have at least %d item%s", file,
                           path, lo->valueint, lo->valueint == 1 ? "" : "s");
        if (cJSON_IsNumber(hi) && n > hi->valueint)
            return err_set(e, PPR_EINPUT, "'%s': key \"%s\" must have at most %d item%s", file,
                           path, hi->valueint, hi->valueint == 1 ? "" : "s");
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
        int i = 0;
        for (const cJSON *c = v->child; c; c = c->next, i++) {
            snprintf(sub, sizeof sub, "%s[%d]", path, i);
            if (items && config_check(c, items, sub, 0, file, e))
                return PPR_EINPUT;
        }
        return check_unique(v, s, file, path, e);
    }
    if (strcmp(type, "string") == 0) {
        if (!cJSON_IsString(v))
            return type_error(file, path, "a string", e);
        const cJSON *en = cJSON_GetObjectItemCaseSensitive(s, "enum");
        if (!en)
            return PPR_OK;
        for (const cJSON *c = en->child; c; c = c->next)
            if (cJSON_IsString(c) && strcmp(c->valuestring, v->valuestring) == 0)
                return PPR_OK;
        return err_set(e, PPR_EINPUT, "'%s': key \"%s\" has unknown value \"%s\"", file,
                       path, v->valuestring);
    }
    if (strcmp(type, "integer") == 0) {
        if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
            return type_error(file, path, "an integer", e);
        return check_range(v->valuedouble, s, file, path, e);
    }
    if (strcmp(type, "number") == 0) {
        if (!cJSON_IsNumber(v))
            return type_error(file, path, "a number", e);
        return check_range(v->valuedouble, s, file, path, e);
    }
    if (strcmp(type, "boolean") == 0)
        return cJSON_IsBool(v) ? PPR_OK : type_error(file, path, "true or false", e);
    return err_set(e, PPR_EINPUT, "'%s': schema node for \"%s\" has unknown type \"%s\"",
                   CONFIG_SCHEMA_PATH, path, type);
}

/* Merge overrides into base: objects key by key, anything else replaced. */
static int merge(cJSON *base, const cJSON *over)
{
    for (const cJSON *c = over->child; c; c = c->next) {
        cJSON *b = cJSON_GetObjectItemCaseSensitive(base, c->string);
        if (b && cJSON_IsObject(b) && cJSON_IsObject(c)) {
            if (merge(b, c))
                return -1;
            continue;
        }
        cJSON *copy = cJSON_Duplicate(c, 1);
        if (!copy)
            return -1;
        if (b)
            cJSON_ReplaceItemInObjectCaseSensitive(base, c->string, copy);
        else
            cJSON_AddItemToObject(base, c->string, copy);
    }
    return 0;
}

int config_load_buf(const char *data, size_t n, const char *path, const cJSON *schema,
                    cJSON **out, ppr_err *e)
{
    *out = NULL;
    cJSON *cfg = json_parse_buf(data, n, path, e);
    if (!cfg)
        return PPR_EINPUT;
    int rc = PPR_EINPUT;
    cJSON *profiles = cJSON_DetachItemFromObjectCaseSensitive(cfg, "profiles");
    if (config_check(cfg, schema, "", 0, path, e))
        goto done;
    if (profiles) {
        if (!cJSON_IsObject(profiles)) {
            rc = type_error(path, "profiles", "an object", e);
            goto done;
        }
        char sub[256];
        for (const cJSON *p = profiles->child; p; p = p->next) {
            snprintf(sub, sizeof sub, "profiles.%s", p->string);
            if (cJSON_IsObject(p) && cJSON_GetObjectItemCaseSensitive(p, "profile")) {
                rc = err_set(e, PPR_EINPUT, "'%s': key \"%s.profile\" cannot be overridden",
                             path, sub);
                goto done;
            }
            if (config_check(p, schema, sub, 1, path, e))
                goto done;
        }
    }
    const char *name = cJSON_GetObjectItemCaseSensitive(cfg, "profile")->valuestring;
    const cJSON *sel = profiles ? cJSON_GetObjectItemCaseSensitive(profiles, name) : NULL;
    if (!sel) {
        rc = err_set(e, PPR_EINPUT, "'%s': profile \"%s\" is not defined under \"profiles\"",
                     path, name);
        goto done;
    }
    if (merge(cfg, sel)) {
        rc = err_nomem(e);
        goto done;
    }
    if (config_check(cfg, schema, "", 0, path, e))
        goto done;
    *out = cfg;
    cfg = NULL;
    rc = PPR_OK;
done:
    cJSON_Delete(profiles);
    cJSON_Delete(cfg);
    return rc;
}

int config_load(const char *path, const char *schema_path, cJSON **out, ppr_err *e)
{
    *out = NULL;
    cJSON *schema = json_parse_file(schema_path, e);
    if (!schema)
        return PPR_EINPUT;
    char *data;
    size_t n;
    int rc = file_read_all(path, &data, &n, e);
    if (rc == PPR_OK) {
        rc = config_load_buf(data, n, path, schema, out, e);
        free(data);
    }
    cJSON_Delete(schema);
    return rc;
}
