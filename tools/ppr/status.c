/* status.c: comparing a lock with the run its stage would do now. */
#include "status.h"

#include <string.h>

#include "common/fsutil.h"
#include "common/json.h"
#include "common/lock.h"
#include "common/sha256.h"
#include "common/store.h"

/* Print the key paths where a and b differ. */
static void diff_json(const cJSON *a, const cJSON *b, const char *path, FILE *out,
                      const char *indent, size_t *count)
{
    char sub[512];
    if (cJSON_IsObject(a) && cJSON_IsObject(b)) {
        for (const cJSON *c = a->child; c; c = c->next) {
            snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", c->string);
            diff_json(c, cJSON_GetObjectItemCaseSensitive(b, c->string), sub, out, indent,
                      count);
        }
        for (const cJSON *c = b->child; c; c = c->next)
            if (!cJSON_GetObjectItemCaseSensitive(a, c->string)) {
                fprintf(out, "%sconfig key \"%s%s%s\" is new\n", indent, path,
                        *path ? "." : "", c->string);
                (*count)++;
            }
        return;
    }
    if (!b) {
        fprintf(out, "%sconfig key \"%s\" was removed\n", indent, path);
        (*count)++;
        return;
    }
    if (!cJSON_Compare(a, b, 1)) {
        char *was = cJSON_PrintUnformatted(a), *now = cJSON_PrintUnformatted(b);
        fprintf(out, "%sconfig key \"%s\" changed: %.60s -> %.60s\n", indent, path,
                was ? was : "?", now ? now : "?");
        cJSON_free(was);
        cJSON_free(now);
        (*count)++;
    }
}

static const lock_entry *find_input(const lock *l, const char *name)
{
    for (size_t i = 0; i < l->n_inputs; i++)
        if (strcmp(l->inputs[i].kind, "object") == 0 && strcmp(l->inputs[i].name, name) == 0)
            return &l->inputs[i];
    return NULL;
}

int status_explain(const pipeline *p, const pipe_node *n, FILE *out, const char *indent,
                   size_t *stale, ppr_err *e)
{
    *stale = 0;
    lock l;
    ppr_err why;
    store st;
    if (store_init(&st, NULL, e))
        return PPR_EINPUT;
    int valid = lock_load_checked(&l, &st, n->lock_path, &why) == PPR_OK;
    if (!valid) {
        if (file_exists(n->lock_path))
            fprintf(out, "%s%s\n", indent, why.msg);
        else
            fprintf(out, "%sno lock '%s': never ran\n", indent, n->lock_path);
        *stale = 1;
        store_release(&st);
        return PPR_OK;
    }
    cJSON *slice;
    if (pipeline_slice(p, n, &slice, &why)) {
        fprintf(out, "%s%s\n", indent, why.msg);
        *stale = 1;
        lock_release(&l);
        store_release(&st);
        return PPR_OK;
    }
    diff_json(cJSON_GetObjectItemCaseSensitive(l.json, "config"),
              cJSON_GetObjectItemCaseSensitive(slice, "config"), "", out, indent, stale);
    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(slice, "inputs");
    for (const cJSON *it = inputs->child; it; it = it->next) {
        const char *name = cJSON_GetObjectItemCaseSensitive(it, "name")->valuestring;
        const char *sha = cJSON_GetObjectItemCaseSensitive(it, "sha256")->valuestring;
        const lock_entry *was = find_input(&l, name);
        if (!was || strcmp(was->sha256, sha) != 0) {
            fprintf(out, "%sinput \"%s\" changed: %.12s -> %.12s\n", indent, name,
                    was ? was->sha256 : "(none)", sha);
            (*stale)++;
        }
    }
    cJSON_Delete(slice);
    const cJSON *tool = cJSON_GetObjectItemCaseSensitive(l.json, "tool");
    const cJSON *bin = cJSON_GetObjectItemCaseSensitive(tool, "binary_sha256");
    unsigned char d[SHA256_LEN];
    char hex[SHA256_HEX_LEN + 1];
    if (sha256_file(pipe_node_binary(n), d, NULL, &why)) {
        fprintf(out, "%sbinary '%s' is not built\n", indent, pipe_node_binary(n));
        (*stale)++;
    } else {
        sha256_hex(d, hex);
        if (!cJSON_IsString(bin) || strcmp(bin->valuestring, hex) != 0) {
            fprintf(out, "%sbinary '%s' changed: %.12s -> %.12s\n", indent,
                    pipe_node_binary(n), cJSON_IsString(bin) ? bin->valuestring : "?", hex);
            (*stale)++;
        }
    }
    for (size_t i = 0; i < l.n_outputs; i++) {
        const lock_entry *o = &l.outputs[i];
        if (store_check(&st, o->sha256, o->type, o->bytes, &why) != PPR_OK) {
            fprintf(out, "%soutput \"%s\" is not as its lock records: %s\n", indent, o->name,
                    why.msg);
            (*stale)++;
        }
    }
    store_release(&st);
    lock_release(&l);
    return PPR_OK;
}

void status_warn_texts(const pipe_node *n, const char *prefix, FILE *out)
{
    lock l;
    if (lock_load(&l, n->lock_path, NULL))
        return;
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(l.json, "config");
    const cJSON *fallback = cJSON_GetObjectItemCaseSensitive(cfg, "texts_fallback");
    if (cJSON_IsString(fallback))
        fprintf(out, "%s: warning: %s labelled composed texts in place of \"%s\", whose "
                "files were missing when it ran; with them in the mirror, ninja fetches it "
                "again\n", prefix, n->id, fallback->valuestring);
    lock_release(&l);
}
