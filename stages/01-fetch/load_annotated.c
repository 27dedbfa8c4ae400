/* load_annotated.c: the loaders of the offline mirror's two multi-annotator
 * sources (docs/sources-offline.md): PandaLM, three annotators who may tie,
 * and SPICA, group scores turned into pairwise preferences. Every annotator
 * is a user; rows keep the items' order, users alternating item by item. */
#include "offline.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/mem.h"
#include "common/strbuf.h"

/* ---- pandalm: three annotators, ties allowed ------------------------------------ */

/* A response cell: a string, or a JSON boolean, which upstream's export made of
 * a model's bare answer "True" or "False" (counted in *bools). */
static int pandalm_response(const cJSON *item, const char *key, const char *where, span *out,
                            size_t *bools, ppr_err *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(item, key);
    if (cJSON_IsBool(v)) {
        *out = offline_span(cJSON_IsTrue(v) ? "True" : "False");
        (*bools)++;
        return PPR_OK;
    }
    const char *s;
    if (json_get_str(item, key, where, &s, e))
        return PPR_EINPUT;
    *out = offline_span(s);
    return PPR_OK;
}

int load_pandalm(const src_input *in, prefs_builder *b, cJSON **info, ppr_err *e)
{
    static const char *const annotators[3] = {"annotator1", "annotator2", "annotator3"};
    const src_file *f;
    int rc = offline_need_file(in, "testset-v1.json", &f, e);
    if (rc)
        return rc;
    cJSON *root = json_parse_buf(f->data, f->n, f->name, e);
    if (!root)
        return PPR_EINPUT;
    tally t[3];
    strbuf prompt = {0};
    size_t items = 0, joined = 0, bools = 0;
    if (!cJSON_IsArray(root))
        rc = err_set(e, PPR_EINPUT, "'%s': expected a JSON array of items", f->name);
    for (int a = 0; !rc && a < 3; a++)
        rc = offline_user(b, annotators[a], &t[a], e);
    for (const cJSON *it = root->child; !rc && it; it = it->next, items++) {
        char where[512];
        snprintf(where, sizeof where, "%s[%zu]", f->name, items);
        const char *instruction, *input;
        span r1, r2;
        int64_t vote[3];
        if (json_get_str(it, "instruction", where, &instruction, e) ||
            json_get_str(it, "input", where, &input, e) ||
            pandalm_response(it, "response1", where, &r1, &bools, e) ||
            pandalm_response(it, "response2", where, &r2, &bools, e)) {
            rc = PPR_EINPUT;
            break;
        }
        for (int a = 0; !rc && a < 3; a++)
            if (!(rc = json_get_int(it, annotators[a], where, &vote[a], e)) &&
                (vote[a] < 0 || vote[a] > 2))
                rc = err_set(e, PPR_EINPUT, "'%s': field \"%s\" must be 0 (tie), 1 or 2",
                             where, annotators[a]);
        if (rc)
            break;
        prompt.len = 0;
        strbuf_adds(&prompt, instruction);
        if (*input) {
            strbuf_adds(&prompt, "\n\n");
            strbuf_adds(&prompt, input);
            joined++;
        }
        if (prompt.failed)
            rc = err_nomem(e);
        for (int a = 0; !rc && a < 3; a++) {
            if (vote[a] == 0)
                t[a].ties++;
            else
                rc = offline_pair(b, &t[a], (span){prompt.p, prompt.len}, vote[a] == 1 ? r1 : r2,
                              vote[a] == 1 ? r2 : r1, NULL, e);
        }
    }
    if (!rc) {
        *info = offline_info(t, 3, 1);
        if (!*info || !offline_count(*info, "items", items) ||
            !offline_count(*info, "prompts_with_input", joined) ||
            !offline_count(*info, "boolean_responses_read_as_text", bools)) {
            cJSON_Delete(*info);
            *info = NULL;
            rc = err_nomem(e);
        }
    }
    strbuf_release(&prompt);
    cJSON_Delete(root);
    return rc;
}

/* ---- spica: group scores turned into pairwise preferences ------------------------ */

/* The scenario bank: a JSON array of {"id", "body", "responses": {strategy:
 * [texts]}}; check every field the loader reads. */
static int spica_check_bank(const cJSON *bank, const char *what, ppr_err *e)
{
    if (!cJSON_IsArray(bank))
        return err_set(e, PPR_EINPUT, "'%s': expected a JSON array of scenarios", what);
    size_t i = 0;
    for (const cJSON *s = bank->child; s; s = s->next, i++) {
        char where[512];
        const char *id, *body;
        snprintf(where, sizeof where, "%s[%zu]", what, i);
        const cJSON *resp;
        if (json_get_str(s, "id", where, &id, e) || json_get_str(s, "body", where, &body, e) ||
            !(resp = json_get_obj(s, "responses", where, e)))
            return PPR_EINPUT;
        for (const cJSON *o = bank->child; o != s; o = o->next)
            if (strcmp(cJSON_GetObjectItemCaseSensitive(o, "id")->valuestring, id) == 0)
                return err_set(e, PPR_EINPUT, "'%s': scenario id \"%s\" appears twice", where,
                               id);
        for (const cJSON *st = resp->child; st; st = st->next) {
            if (!cJSON_IsArray(st))
                return err_set(e, PPR_EINPUT, "'%s': responses \"%s\" must be an array",
                               where, st->string);
            for (const cJSON *r = st->child; r; r = r->next)
                if (!cJSON_IsString(r))
                    return err_set(e, PPR_EINPUT, "'%s': responses \"%s\" must hold "
                                   "strings", where, st->string);
        }
    }
    return PPR_OK;
}

typedef struct {
    prefs_builder *b;
    const cJSON *bank;
    const char *what;   /* the annotation file's name */
    tally *t;           /* [n_users] one per rater group, in order of appearance */
    size_t n_users, users_cap;
    const cJSON **resp; /* [n_resp] the scenario's responses, strategy by strategy */
    long *sum;          /* [n_resp] the group's ratings of each response, summed */
    long *cnt;          /* [n_resp] and counted */
    size_t n_resp, resp_cap, sum_cap, cnt_cap;
    size_t scenarios, ratings;
} spica_ctx;

static int spica_group_user(spica_ctx *c, const char *group, tally **t, ppr_err *e)
{
    for (size_t i = 0; i < c->n_users; i++)
        if (strcmp(c->t[i].name, group) == 0) {
            *t = &c->t[i];
            return PPR_OK;
        }
    if (mem_grow((void **)&c->t, &c->users_cap, c->n_users + 1, sizeof *c->t))
        return err_nomem(e);
    *t = &c->t[c->n_users];
    int rc = offline_user(c->b, group, *t, e);
    c->n_users += rc == PPR_OK;
    return rc;
}

/* Lay out the responses of scenario s flat, strategy by strategy. */
static int spica_layout(spica_ctx *c, const cJSON *s, ppr_err *e)
{
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(s, "responses");
    size_t n = 0;
    for (const cJSON *st = resp->child; st; st = st->next)
        n += (size_t)cJSON_GetArraySize(st);
    if (mem_grow((void **)&c->resp, &c->resp_cap, n, sizeof *c->resp) ||
        mem_grow((void **)&c->sum, &c->sum_cap, n, sizeof *c->sum) ||
        mem_grow((void **)&c->cnt, &c->cnt_cap, n, sizeof *c->cnt))
        return err_nomem(e);
    c->n_resp = 0;
    for (const cJSON *st = resp->child; st; st = st->next)
        for (const cJSON *r = st->child; r; r = r->next)
            c->resp[c->n_resp++] = r;
    return PPR_OK;
}

/* Where one rater's rating v (keyed by its strategy) points in the flat layout
 * of scenario s's responses, and its score. */
static int spica_rating(const cJSON *s, const cJSON *v, const char *where, size_t *flat,
                        long *score, ppr_err *e)
{
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(s, "responses");
    size_t base = 0;
    const cJSON *st = resp->child;
    for (; st && strcmp(st->string, v->string) != 0; st = st->next)
        base += (size_t)cJSON_GetArraySize(st);
    if (!st)
        return err_set(e, PPR_EINPUT, "'%s': strategy \"%s\" is not in the scenario bank",
                       where, v->string);
    int64_t rating, index;
    if (json_get_int(v, "response-rating", where, &rating, e) ||
        json_get_int(v, "rated-response-index", where, &index, e))
        return PPR_EINPUT;
    if (rating < 1 || rating > 5)
        return err_set(e, PPR_EINPUT, "'%s': field \"response-rating\" must be 1 to 5", where);
    if (index < 0 || index >= cJSON_GetArraySize(st))
        return err_set(e, PPR_EINPUT, "'%s': field \"rated-response-index\" is %lld, the bank "
                       "has %d responses", where, (long long)index, cJSON_GetArraySize(st));
    *flat = base + (size_t)index;
    *score = (long)rating;
    return PPR_OK;
}

/* One group's ratings of scenario s: sum them per response, then every pair of
 * rated responses whose mean ratings differ is a row, the higher one chosen. */
static int spica_group(spica_ctx *c, const cJSON *s, const cJSON *g, const char *sid,
                       ppr_err *e)
{
    if (!cJSON_IsArray(g))
        return err_set(e, PPR_EINPUT, "'%s[%s][%s]': expected an array of raters", c->what,
                       sid, g->string);
    tally *t = NULL;
    int rc = spica_group_user(c, g->string, &t, e);
    if (rc)
        return rc;
    for (size_t i = 0; i < c->n_resp; i++)
        c->sum[i] = c->cnt[i] = 0;
    size_t k = 0;
    for (const cJSON *rater = g->child; rater; rater = rater->next, k++) {
        char where[512];
        snprintf(where, sizeof where, "%s[%s][%s][%zu]", c->what, sid, g->string, k);
        if (!cJSON_IsObject(rater))
            return err_set(e, PPR_EINPUT, "'%s': expected an object of ratings", where);
        for (const cJSON *v = rater->child; v; v = v->next) {
            size_t flat = 0;
            long score = 0;
            char vwhere[640];
            snprintf(vwhere, sizeof vwhere, "%s[%s]", where, v->string);
            if ((rc = spica_rating(s, v, vwhere, &flat, &score, e)))
                return rc;
            c->sum[flat] += score;
            c->cnt[flat]++;
            c->ratings++;
        }
    }
    span prompt = offline_span(cJSON_GetObjectItemCaseSensitive(s, "body")->valuestring);
    for (size_t i = 0; i < c->n_resp; i++)
        for (size_t j = i + 1; c->cnt[i] && j < c->n_resp; j++) {
            if (!c->cnt[j])
                continue;
            long lhs = c->sum[i] * c->cnt[j], rhs = c->sum[j] * c->cnt[i];
            if (lhs == rhs) {
                t->ties++;
                continue;
            }
            span a = offline_span(c->resp[i]->valuestring), z = offline_span(c->resp[j]->valuestring);
            rc = offline_pair(c->b, t, prompt, lhs > rhs ? a : z, lhs > rhs ? z : a, NULL, e);
            if (rc)
                return rc;
        }
    return PPR_OK;
}

static int spica_scenario(spica_ctx *c, const cJSON *ann, ppr_err *e)
{
    const cJSON *s = c->bank->child;
    while (s && strcmp(cJSON_GetObjectItemCaseSensitive(s, "id")->valuestring, ann->string))
        s = s->next;
    if (!s)
        return err_set(e, PPR_EINPUT, "'%s': scenario \"%s\" is not in the scenario bank",
                       c->what, ann->string);
    if (!cJSON_IsObject(ann))
        return err_set(e, PPR_EINPUT, "'%s[%s]': expected an object of rater groups", c->what,
                       ann->string);
    int rc = spica_layout(c, s, e);
    for (const cJSON *g = ann->child; !rc && g; g = g->next) {
        for (const cJSON *h = ann->child; h != g; h = h->next)
            if (strcmp(h->string, g->string) == 0)
                return err_set(e, PPR_EINPUT, "'%s[%s]': group \"%s\" appears twice", c->what,
                               ann->string, g->string);
        rc = spica_group(c, s, g, ann->string, e);
    }
    c->scenarios++;
    return rc;
}

int load_spica(const src_input *in, prefs_builder *b, cJSON **info, ppr_err *e)
{
    const src_file *af, *bf;
    int rc = offline_need_file(in, "dev-annotations.json", &af, e);
    if (rc || (rc = offline_need_file(in, "dev_scenarios_gpt.json", &bf, e)))
        return rc;
    cJSON *ann = json_parse_buf(af->data, af->n, af->name, e);
    cJSON *bank = ann ? json_parse_buf(bf->data, bf->n, bf->name, e) : NULL;
    spica_ctx c = {.b = b, .bank = bank, .what = af->name};
    if (!bank)
        rc = PPR_EINPUT;
    else if (!cJSON_IsObject(ann))
        rc = err_set(e, PPR_EINPUT, "'%s': expected a JSON object of scenarios", af->name);
    else
        rc = spica_check_bank(bank, bf->name, e);
    for (const cJSON *s = ann ? ann->child : NULL; !rc && s; s = s->next)
        rc = spica_scenario(&c, s, e);
    if (!rc) {
        *info = offline_info(c.t, c.n_users, 1);
        if (!*info || !offline_count(*info, "scenarios", c.scenarios) ||
            !offline_count(*info, "ratings", c.ratings)) {
            cJSON_Delete(*info);
            *info = NULL;
            rc = err_nomem(e);
        }
    }
    free(c.t);
    free(c.resp);
    free(c.sum);
    free(c.cnt);
    cJSON_Delete(bank);
    cJSON_Delete(ann);
    return rc;
}
