/* dataset.c: datasets with their features, and their pairs (see dataset.h). */
#include "common/models/dataset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/sha256.h"
#include "common/store.h"

void dataset_release(dataset_in *d)
{
    free(d->prefs_payload);
    free(d->feat_payload);
    memset(d, 0, sizeof *d);
}

int dataset_load(stage_run *r, const char *prefix, dataset_in *d, ppr_err *e)
{
    memset(d, 0, sizeof *d);
    char name[256];
    size_t n;
    snprintf(name, sizeof name, "%sdataset", prefix);
    int rc = stage_input(r, name, PAYLOAD_PREFS, &d->prefs_payload, &n, e);
    if (rc == PPR_OK)
        rc = prefs_view_init(&d->v, d->prefs_payload, n, name, e);
    snprintf(name, sizeof name, "%sfeatures", prefix);
    if (rc == PPR_OK)
        rc = stage_input(r, name, PAYLOAD_FEATURES, &d->feat_payload, &n, e);
    if (rc == PPR_OK)
        rc = features_view_init(&d->f, d->feat_payload, n, name, e);
    if (rc == PPR_OK)
        rc = stage_input_digest(r, name, d->features_id, e);
    if (rc == PPR_OK && d->f.h->n_rows < d->v.h->n_texts)
        rc = err_set(e, PPR_EINPUT, "'%s' has fewer rows than its dataset has texts", name);
    if (rc)
        dataset_release(d);
    return rc;
}

/* The pairs of split of d's users of pool (enum prefs_pool); as dataset_pairs. */
static int pool_pairs(const dataset_in *d, int split, int pool, int conditional, size_t limit,
                      uint32_t base, pairs_buf *out, ppr_err *e)
{
    char *buf = NULL;
    size_t cap = 0, start = out->n;
    int rc = PPR_OK;
    for (uint32_t i = 0; i < d->v.h->n_rows && rc == PPR_OK; i++) {
        const prefs_row *row = &d->v.rows[i];
        if ((int)row->split != split || (int)d->v.users[row->user].pool != pool)
            continue;
        if (limit && out->n - start == limit)
            break;
        uint32_t prompt = row->prompt;
        if (conditional) {
            size_t plen;
            const char *ptext = prefs_text(&d->v, row->prompt, &plen);
            const char *name = prefs_user_name(&d->v, row->user);
            size_t need = strlen(name) + plen + sizeof PREFS_CONDITIONAL_PREFIX;
            if (mem_grow((void **)&buf, &cap, need, 1)) {
                rc = err_nomem(e);
                break;
            }
            int head = sprintf(buf, PREFS_CONDITIONAL_PREFIX, name);
            memcpy(buf + head, ptext, plen);
            unsigned char h[SHA256_LEN];
            sha256_buf(buf, (size_t)head + plen, h);
            int64_t found = features_find(&d->f, h);
            if (found < 0) {
                rc = err_set(e, PPR_EINPUT, "the features lack Conditional RM's \"User ID\" "
                             "prompts: stage 03 encodes them when \"methods\" lists "
                             "\"conditional\"");
                break;
            }
            prompt = (uint32_t)found;
        }
        uint32_t rows[3] = {base + prompt, base + row->chosen, base + row->rejected};
        rc = pairs_push(out, rows, row->user, base + row->prompt, row->p_chosen, e);
    }
    free(buf);
    return rc;
}

int dataset_pairs(const dataset_in *d, int split, int conditional, size_t limit, uint32_t base,
                  pairs_buf *out, ppr_err *e)
{
    return pool_pairs(d, split, PREFS_POOL_MAIN, conditional, limit, base, out, e);
}

int dataset_new_user_pairs(const dataset_in *d, int split, pairs_buf *out, ppr_err *e)
{
    return pool_pairs(d, split, PREFS_POOL_NEW, 0, 0, 0, out, e);
}
