/* loaders.c: the table from a source's format to its loader. */
#include "loaders.h"

#include <stdio.h>
#include <string.h>

static const loader_def loaders[] = {
    {"tldr", load_tldr},
    {"psoups", load_psoups},
    {"pllm", load_pllm},
    {"rewardbench", load_rewardbench},
    {"hep", load_hep},
    {"xstest", load_xstest},
    {"hh-harmless", load_hh_harmless},
    {"hh-relabeled", load_hh_relabeled},
    {"pandalm", load_pandalm},
    {"spica", load_spica},
    {"llmbar", load_llmbar},
    {"ultrafeedback", load_ultrafeedback},
};

const loader_def *loader_find(const char *format)
{
    for (size_t i = 0; i < sizeof loaders / sizeof *loaders; i++)
        if (strcmp(loaders[i].format, format) == 0)
            return &loaders[i];
    return NULL;
}

const src_file *src_input_file(const src_input *in, const char *name)
{
    for (size_t i = 0; i < in->n_files; i++)
        if (strcmp(in->files[i].name, name) == 0)
            return &in->files[i];
    return NULL;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

int src_each_line(const src_file *f, src_line_fn fn, void *ctx, ppr_err *e)
{
    return src_each_line_if(f, NULL, fn, ctx, e);
}

int src_each_line_if(const src_file *f, src_keep_fn keep, src_line_fn fn, void *ctx,
                     ppr_err *e)
{
    char where[600];
    size_t line = 0;
    for (size_t at = 0; at < f->n;) {
        const char *s = f->data + at;
        const char *nl = memchr(s, '\n', f->n - at);
        size_t len = nl ? (size_t)(nl - s) : f->n - at;
        at += len + 1;
        line++;
        while (len && is_blank(*s)) {
            s++;
            len--;
        }
        while (len && is_blank(s[len - 1]))
            len--;
        if (!len || (keep && !keep(ctx)))
            continue;
        snprintf(where, sizeof where, "%s:%zu", f->name, line);
        const char *stop = NULL;
        cJSON *v = cJSON_ParseWithLengthOpts(s, len, &stop, 0);
        int rc;
        if (!v || stop != s + len)
            rc = err_set(e, PPR_EINPUT, "'%s': malformed JSON", where);
        else if (!cJSON_IsObject(v))
            rc = err_set(e, PPR_EINPUT, "'%s': expected a JSON object", where);
        else
            rc = fn(v, where, ctx, e);
        cJSON_Delete(v);
        if (rc)
            return rc;
    }
    return PPR_OK;
}
