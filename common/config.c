/* config.c: schema checks and profile resolution for the experiment config. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "json.h"

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
 * the check of the merged config decides. */
static int check_variant(const cJSON *v, const cJSON *s, const char *tag, const char *path,
                         int partial, const char *file, ppr_err *e)
{
    char sub[512];
    child_path(sub, sizeof sub, path, tag);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(v, tag);
    const cJSON *variants = cJSON_GetObjectItemCaseSensitive(s, "variants");
    if (!t && partial) {
        for (const cJSON *vs = variants ? variants->child : NULL; vs; vs = vs->next)
            if (config_check(v, vs, path, partial, file, e) == PPR_OK)
                return PPR_OK;
        return PPR_EINPUT;
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
            const cJSON *cs = keys ? cJSON_GetObjectItemCaseSensitive(keys, c->string) : each;
            if (!cs)
                return err_set(e, PPR_EINPUT, "'%s': unknown key \"%s\"", file, sub);
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
        if ((cJSON_IsNumber(lo) && n < lo->valueint) || (cJSON_IsNumber(hi) && n > hi->valueint))
            return err_set(e, PPR_EINPUT, "'%s': key \"%s\" has %d items, outside [%d, %d]",
                           file, path, n, cJSON_IsNumber(lo) ? lo->valueint : 0,
                           cJSON_IsNumber(hi) ? hi->valueint : n);
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
        int i = 0;
        for (const cJSON *c = v->child; c; c = c->next, i++) {
            snprintf(sub, sizeof sub, "%s[%d]", path, i);
            if (items && config_check(c, items, sub, 0, file, e))
                return PPR_EINPUT;
        }
        return PPR_OK;
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
