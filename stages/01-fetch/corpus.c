/* corpus.c: loading prompts and many models' answers from AlpacaEval and FLASK
 * buffers (or composing them), interning texts, and measuring every answer once. */
#include "corpus.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/mem.h"
#include "common/rng.h"
#include "common/strbuf.h"

struct corpus_index {
    uint32_t *slots;          /* [n_slots] text id + 1, open addressing by hash */
    size_t n_slots;
    uint64_t *hash;           /* [hash_cap] hash of each text */
    size_t hash_cap;
    uint32_t *prompt_of_text; /* [n_texts] AlpacaEval prompt of a text, or CORPUS_NONE */
    size_t pot_cap;
    int64_t *idx_key;         /* [n_idx_slots] FLASK idx, open addressing */
    uint32_t *idx_prompt;     /* [n_idx_slots] prompt id + 1 (0 = free slot) */
    size_t n_idx_slots, n_idx;
};

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

int corpus_init(corpus *c, ppr_err *e)
{
    memset(c, 0, sizeof *c);
    c->index = calloc(1, sizeof *c->index);
    c->text_off = malloc(sizeof *c->text_off);
    c->text_cap = 1;
    if (c->index) {
        c->index->n_slots = 1024;
        c->index->slots = calloc(c->index->n_slots, sizeof *c->index->slots);
    }
    if (!c->index || !c->text_off || !c->index->slots) {
        corpus_release(c);
        return err_nomem(e);
    }
    c->text_off[0] = 0;
    return PPR_OK;
}

static void index_free(corpus_index *x)
{
    if (!x)
        return;
    free(x->slots);
    free(x->hash);
    free(x->prompt_of_text);
    free(x->idx_key);
    free(x->idx_prompt);
    free(x);
}

void corpus_release(corpus *c)
{
    if (!c)
        return;
    free(c->blob);
    free(c->text_off);
    free(c->prompt_text);
    for (size_t m = 0; m < c->n_models; m++)
        free(c->model_name[m]);
    free(c->model_name);
    free(c->cell_prompt);
    free(c->cell_model);
    free(c->cell_text);
    free(c->grid);
    free(c->attr);
    free(c->usable);
    index_free(c->index);
    memset(c, 0, sizeof *c);
}

const char *corpus_text(const corpus *c, uint32_t t, size_t *len)
{
    if (len)
        *len = c->text_off[t + 1] - c->text_off[t] - 1;
    return c->blob + c->text_off[t];
}

static int rehash_texts(corpus_index *x, size_t n_texts)
{
    size_t n = x->n_slots * 2;
    uint32_t *slots = calloc(n, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t t = 0; t < n_texts; t++) {
        size_t i = x->hash[t] & (n - 1);
        while (slots[i])
            i = (i + 1) & (n - 1);
        slots[i] = (uint32_t)t + 1;
    }
    free(x->slots);
    x->slots = slots;
    x->n_slots = n;
    return 0;
}

/* The id of these bytes, added once; CORPUS_NONE when out of memory. */
static uint32_t intern(corpus *c, const char *s, size_t n)
{
    corpus_index *x = c->index;
    uint64_t h = fnv1a(s, n);
    size_t i = h & (x->n_slots - 1);
    while (x->slots[i]) {
        uint32_t t = x->slots[i] - 1;
        size_t len;
        const char *u = corpus_text(c, t, &len);
        if (x->hash[t] == h && len == n && memcmp(u, s, n) == 0)
            return t;
        i = (i + 1) & (x->n_slots - 1);
    }
    if (c->n_texts >= CORPUS_NONE - 1 ||
        mem_grow((void **)&c->blob, &c->blob_cap, c->blob_len + n + 1, 1) ||
        mem_grow((void **)&c->text_off, &c->text_cap, c->n_texts + 2, sizeof *c->text_off) ||
        mem_grow((void **)&x->hash, &x->hash_cap, c->n_texts + 1, sizeof *x->hash) ||
        mem_grow((void **)&x->prompt_of_text, &x->pot_cap, c->n_texts + 1, sizeof(uint32_t)))
        return CORPUS_NONE;
    memcpy(c->blob + c->blob_len, s, n);
    c->blob[c->blob_len + n] = '\0';
    c->blob_len += n + 1;
    uint32_t t = (uint32_t)c->n_texts++;
    c->text_off[t + 1] = c->blob_len;
    x->hash[t] = h;
    x->prompt_of_text[t] = CORPUS_NONE;
    x->slots[i] = t + 1;
    if (2 * c->n_texts > x->n_slots && rehash_texts(x, c->n_texts))
        return CORPUS_NONE;
    return t;
}

static int add_prompt(corpus *c, uint32_t text, uint32_t *id)
{
    if (mem_grow((void **)&c->prompt_text, &c->prompt_cap, c->n_prompts + 1,
             sizeof *c->prompt_text))
        return -1;
    c->prompt_text[c->n_prompts] = text;
    *id = (uint32_t)c->n_prompts++;
    return 0;
}

static int add_cell(corpus *c, uint32_t prompt, uint32_t model, uint32_t text)
{
    size_t cap = c->cell_cap;
    if (mem_grow((void **)&c->cell_prompt, &cap, c->n_cells + 1, sizeof(uint32_t)))
        return -1;
    cap = c->cell_cap;
    if (mem_grow((void **)&c->cell_model, &cap, c->n_cells + 1, sizeof(uint32_t)))
        return -1;
    cap = c->cell_cap;
    if (mem_grow((void **)&c->cell_text, &cap, c->n_cells + 1, sizeof(uint32_t)))
        return -1;
    c->cell_cap = cap;
    c->cell_prompt[c->n_cells] = prompt;
    c->cell_model[c->n_cells] = model;
    c->cell_text[c->n_cells] = text;
    c->n_cells++;
    return 0;
}

/* Register a model name; a name loaded twice is an input error. */
static int add_model(corpus *c, const char *name, const char *what, uint32_t *id,
                     ppr_err *e)
{
    if (c->measured)
        return err_set(e, PPR_EINTERNAL, "corpus takes no texts after measuring");
    for (size_t m = 0; m < c->n_models; m++)
        if (strcmp(c->model_name[m], name) == 0)
            return err_set(e, PPR_EINPUT, "'%s': model \"%s\" is already loaded", what,
                           name);
    char *copy = strdup(name);
    if (!copy ||
        mem_grow((void **)&c->model_name, &c->model_cap, c->n_models + 1, sizeof(char *))) {
        free(copy);
        return err_nomem(e);
    }
    c->model_name[c->n_models] = copy;
    *id = (uint32_t)c->n_models++;
    return PPR_OK;
}

/* An answer of only blanks says nothing: its cell stays empty. */
static int is_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return 0;
    return 1;
}

int corpus_add_alpaca(corpus *c, const char *model, const char *buf, size_t n,
                      const char *what, ppr_err *e)
{
    uint32_t mid;
    int rc = add_model(c, model, what, &mid, e);
    if (rc)
        return rc;
    cJSON *root = json_parse_buf(buf, n, what, e);
    if (!root)
        return PPR_EINPUT;
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return err_set(e, PPR_EINPUT, "'%s': expected a JSON array of answers", what);
    }
    size_t n_entries = (size_t)cJSON_GetArraySize(root);
    corpus_index *x = c->index;
    /* first entry of this file per prompt + 1, to catch repeated instructions */
    size_t seen_cap = 0;
    size_t *seen = NULL; /* [n_prompts + n_entries] */
    if (mem_grow((void **)&seen, &seen_cap, c->n_prompts + n_entries + 1, sizeof *seen)) {
        cJSON_Delete(root);
        return err_nomem(e);
    }
    memset(seen, 0, seen_cap * sizeof *seen);
    rc = PPR_OK;
    size_t i = 0;
    for (const cJSON *it = root->child; it && !rc; it = it->next, i++) {
        char where[600];
        snprintf(where, sizeof where, "%s[%zu]", what, i);
        const char *instr, *out;
        if (!cJSON_IsObject(it)) {
            rc = err_set(e, PPR_EINPUT, "'%s': expected an object", where);
            break;
        }
        if ((rc = json_get_str(it, "instruction", where, &instr, e)) ||
            (rc = json_get_str(it, "output", where, &out, e)))
            break;
        uint32_t t = intern(c, instr, strlen(instr));
        if (t == CORPUS_NONE) {
            rc = err_nomem(e);
            break;
        }
        uint32_t p = x->prompt_of_text[t];
        if (p == CORPUS_NONE) {
            if (add_prompt(c, t, &p)) {
                rc = err_nomem(e);
                break;
            }
            x->prompt_of_text[t] = p;
        }
        if (seen[p]) {
            rc = err_set(e, PPR_EINPUT, "'%s': instruction repeats entry %zu", where,
                         seen[p] - 1);
            break;
        }
        seen[p] = i + 1;
        if (is_blank(out))
            continue;
        uint32_t a = intern(c, out, strlen(out));
        if (a == CORPUS_NONE || add_cell(c, p, mid, a)) {
            rc = err_nomem(e);
            break;
        }
    }
    free(seen);
    cJSON_Delete(root);
    return rc;
}

/* Calls fn on each non-blank line of a JSON-lines buffer with its parsed value
 * and "what:line" for error messages. */
typedef int (*line_fn)(corpus *c, const cJSON *v, const char *where, void *ctx,
                       ppr_err *e);

static int each_json_line(corpus *c, const char *buf, size_t n, const char *what,
                          line_fn fn, void *ctx, ppr_err *e)
{
    size_t line = 0;
    for (size_t at = 0; at < n;) {
        const char *nl = memchr(buf + at, '\n', n - at);
        size_t end = nl ? (size_t)(nl - buf) : n;
        line++;
        size_t a = at, b = end;
        while (a < b && (buf[a] == ' ' || buf[a] == '\t' || buf[a] == '\r'))
            a++;
        while (b > a && (buf[b - 1] == ' ' || buf[b - 1] == '\t' || buf[b - 1] == '\r'))
            b--;
        at = end + 1;
        if (a == b)
            continue;
        char where[600];
        snprintf(where, sizeof where, "%s:%zu", what, line);
        const char *stop = NULL;
        cJSON *v = cJSON_ParseWithLengthOpts(buf + a, b - a, &stop, 0);
        if (!v || stop != buf + b) {
            cJSON_Delete(v);
            return err_set(e, PPR_EINPUT, "'%s': malformed JSON", where);
        }
        int rc = cJSON_IsObject(v) ? fn(c, v, where, ctx, e)
                                   : err_set(e, PPR_EINPUT, "'%s': expected an object", where);
        cJSON_Delete(v);
        if (rc)
            return rc;
    }
    return PPR_OK;
}

static int idx_grow(corpus_index *x)
{
    size_t n = x->n_idx_slots ? 2 * x->n_idx_slots : 1024;
    int64_t *key = calloc(n, sizeof *key);
    uint32_t *val = calloc(n, sizeof *val);
    if (!key || !val) {
        free(key);
        free(val);
        return -1;
    }
    for (size_t i = 0; i < x->n_idx_slots; i++) {
        if (!x->idx_prompt[i])
            continue;
        size_t j = (uint64_t)x->idx_key[i] * 0x9e3779b97f4a7c15ULL >> 20 & (n - 1);
        while (val[j])
            j = (j + 1) & (n - 1);
        key[j] = x->idx_key[i];
        val[j] = x->idx_prompt[i];
    }
    free(x->idx_key);
    free(x->idx_prompt);
    x->idx_key = key;
    x->idx_prompt = val;
    x->n_idx_slots = n;
    return 0;
}

/* The slot of idx: where it is, or the free slot where it would go. */
static size_t idx_slot(const corpus_index *x, int64_t idx)
{
    size_t j = (uint64_t)idx * 0x9e3779b97f4a7c15ULL >> 20 & (x->n_idx_slots - 1);
    while (x->idx_prompt[j] && x->idx_key[j] != idx)
        j = (j + 1) & (x->n_idx_slots - 1);
    return j;
}

static int flask_question(corpus *c, const cJSON *v, const char *where, void *ctx,
                          ppr_err *e)
{
    (void)ctx;
    int64_t idx;
    const char *instr;
    int rc;
    if ((rc = json_get_int(v, "idx", where, &idx, e)) ||
        (rc = json_get_str(v, "instruction", where, &instr, e)))
        return rc;
    corpus_index *x = c->index;
    if (2 * (x->n_idx + 1) > x->n_idx_slots && idx_grow(x))
        return err_nomem(e);
    size_t j = idx_slot(x, idx);
    if (x->idx_prompt[j])
        return err_set(e, PPR_EINPUT, "'%s': idx %lld appears twice", where, (long long)idx);
    uint32_t t = intern(c, instr, strlen(instr)), p;
    if (t == CORPUS_NONE || add_prompt(c, t, &p))
        return err_nomem(e);
    x->idx_key[j] = idx;
    x->idx_prompt[j] = p + 1;
    x->n_idx++;
    return PPR_OK;
}

int corpus_add_flask_questions(corpus *c, const char *buf, size_t n, const char *what,
                               ppr_err *e)
{
    if (c->measured)
        return err_set(e, PPR_EINTERNAL, "corpus takes no texts after measuring");
    return each_json_line(c, buf, n, what, flask_question, NULL, e);
}

typedef struct {
    uint32_t model;
    size_t *seen_line; /* [n_prompts] line + 1 that answered the prompt */
} flask_model_ctx;

static int flask_answer(corpus *c, const cJSON *v, const char *where, void *ctx,
                        ppr_err *e)
{
    flask_model_ctx *m = ctx;
    int64_t qid;
    const char *text;
    int rc;
    if ((rc = json_get_int(v, "question_id", where, &qid, e)) ||
        (rc = json_get_str(v, "text", where, &text, e)))
        return rc;
    corpus_index *x = c->index;
    size_t j = x->n_idx_slots ? idx_slot(x, qid) : 0;
    if (!x->n_idx_slots || !x->idx_prompt[j])
        return err_set(e, PPR_EINPUT, "'%s': question_id %lld is not in the evaluation set",
                       where, (long long)qid);
    uint32_t p = x->idx_prompt[j] - 1;
    if (m->seen_line[p])
        return err_set(e, PPR_EINPUT, "'%s': question_id %lld was answered already",
                       where, (long long)qid);
    m->seen_line[p] = 1;
    if (is_blank(text))
        return PPR_OK;
    uint32_t t = intern(c, text, strlen(text));
    if (t == CORPUS_NONE || add_cell(c, p, m->model, t))
        return err_nomem(e);
    return PPR_OK;
}

int corpus_add_flask_model(corpus *c, const char *model, const char *buf, size_t n,
                           const char *what, ppr_err *e)
{
    flask_model_ctx m;
    int rc = add_model(c, model, what, &m.model, e);
    if (rc)
        return rc;
    if (c->index->n_idx == 0)
        return err_set(e, PPR_EINTERNAL,
                       "'%s': FLASK answers loaded before the evaluation set", what);
    m.seen_line = calloc(c->n_prompts, sizeof *m.seen_line);
    if (!m.seen_line)
        return err_nomem(e);
    rc = each_json_line(c, buf, n, what, flask_answer, &m, e);
    free(m.seen_line);
    return rc;
}

/* ---- composed texts ------------------------------------------------------ */

static const char *const simple_words[] = {
    "time", "work", "good", "make", "use", "way", "day", "thing", "part", "place",
    "hand", "step", "plan", "food", "home", "water", "money", "book", "list", "note",
    "start", "keep", "help", "need", "find", "give", "take", "look", "small", "big",
    "new", "old", "fast", "slow", "clear", "short", "long", "light", "team", "mind",
    "point", "rule", "line", "word", "form", "side", "kind", "change", "order", "price",
    "house", "road", "city", "friend", "game", "tool", "test", "size", "the", "a",
    "and", "to", "of", "it", "is", "can", "will", "with", "for", "this",
};

static const char *const complex_words[] = {
    "consideration", "implementation", "methodology", "comprehensive", "infrastructure",
    "optimization", "probability", "significantly", "characteristic", "alternatively",
    "fundamental", "interpretation", "architecture", "documentation", "computational",
    "equilibrium", "hypothesis", "regulatory", "sustainability", "particularly",
    "approximately", "organization", "relationship", "responsibility", "environmental",
    "traditional", "evaluation", "independent", "information", "technology",
    "development", "perspective", "community", "economic", "political", "historical",
    "scientific", "analysis", "strategy", "variable",
};

static const char *const warm_words[] = {
    "you", "your", "please", "glad", "happy", "hope", "great", "enjoy", "wonderful", "sure",
};

static const char *const openers[] = {
    "Sure!", "Great question!", "Happy to help!", "Absolutely!", "Hello there!",
};

static const char *const closers[] = {
    "I hope this helps you!", "Enjoy!", "Thanks for asking!",
    "Have fun with your project!", "Feel free to ask if you need anything else!",
};

static const char *const refusals[] = {
    "I'm sorry, but I can't help with that request.",
    "As an AI language model, I cannot provide that.",
    "I cannot assist with this request.",
};

static const char *const topics[] = {
    "a weekly budget", "the water cycle", "a vegetable garden", "public transport",
    "a job interview", "the solar system", "a birthday party", "climate policy",
    "a small business", "machine learning", "healthy sleep", "a history essay",
    "a road trip", "a chess opening", "the stock market", "a new language",
    "home workouts", "a cover letter", "renewable energy", "a team meeting",
    "bread baking", "a research paper", "saving for retirement", "a science fair",
};

static const char *const templates[] = {
    "Explain %s in simple terms.", "How should I plan %s?", "Write a short guide to %s.",
    "What are the main points about %s?", "Give me advice on %s.",
    "Describe %s for a beginner.",
};

#define PICK(r, list) ((list)[rng_below((r), sizeof(list) / sizeof((list)[0]))])

static double sigmoid(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

/* A model's leanings, drawn once: how long, learned, warm and formatted its
 * answers are, and how often it refuses. A shared "skill" draw ties length,
 * vocabulary, warmth and markup together as they are in real models' answers. */
typedef struct {
    double verbosity, level, warmth, markup, refusal_rate;
} composer;

static void compose_sentence(strbuf *b, rng *r, double p_complex, double p_warm)
{
    size_t n_words = 6 + rng_below(r, 10);
    for (size_t w = 0; w < n_words; w++) {
        const char *word;
        double u = rng_uniform(r);
        if (u < p_warm * 0.15)
            word = PICK(r, warm_words);
        else if (rng_uniform(r) < p_complex)
            word = PICK(r, complex_words);
        else
            word = PICK(r, simple_words);
        if (w == 0) {
            char cap[32];
            snprintf(cap, sizeof cap, "%s", word);
            if (cap[0] >= 'a' && cap[0] <= 'z')
                cap[0] = (char)(cap[0] - 'a' + 'A');
            strbuf_adds(b, cap);
        } else {
            strbuf_adds(b, " ");
            strbuf_adds(b, word);
        }
    }
    strbuf_adds(b, ".");
}

static void compose_answer(strbuf *b, rng *r, const composer *m)
{
    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
    double len_z = 0.6 * m->verbosity + 0.5 * rng_normal(r);
    double len = exp(1.6 + len_z);
    size_t n_sent = len < 1.0 ? 1 : len > 40.0 ? 40 : (size_t)lround(len);
    double p_complex = sigmoid(-1.6 + 0.6 * m->level + 0.3 * rng_normal(r));
    double p_warm = sigmoid(-1.2 + 0.9 * m->warmth + 0.3 * rng_normal(r));
    int as_list = rng_uniform(r) < sigmoid(-0.2 + m->markup + 1.5 * len_z);
    int bold = as_list && rng_uniform(r) < sigmoid(m->markup);
    if (rng_uniform(r) < m->refusal_rate) {
        strbuf_adds(b, PICK(r, refusals));
        strbuf_adds(b, " ");
    } else if (rng_uniform(r) < p_warm) {
        strbuf_adds(b, PICK(r, openers));
        strbuf_adds(b, " ");
    }
    if (as_list && rng_uniform(r) < 0.5)
        strbuf_adds(b, "## Overview\n\n");
    for (size_t s = 0; s < n_sent; s++) {
        if (as_list) {
            strbuf_addf(b, "%s%zu. ", s ? "\n" : "", s + 1);
            if (bold) {
                strbuf_adds(b, "**");
                strbuf_adds(b, PICK(r, simple_words));
                strbuf_adds(b, "**: ");
            }
        } else if (s) {
            strbuf_adds(b, " ");
        }
        compose_sentence(b, r, p_complex, p_warm);
    }
    if (rng_uniform(r) < p_warm) {
        strbuf_adds(b, as_list ? "\n\n" : " ");
        strbuf_adds(b, PICK(r, closers));
    }
}

int corpus_compose(corpus *c, uint64_t seed, size_t n_prompts, size_t n_models,
                   ppr_err *e)
{
    if (c->n_prompts || c->n_models || c->measured)
        return err_set(e, PPR_EINTERNAL, "corpus_compose needs an empty corpus");
    if (n_prompts == 0 || n_models < 2)
        return err_set(e, PPR_EINPUT,
                       "a composed corpus needs a prompt and two models (got %zu, %zu)",
                       n_prompts, n_models);
    rng r;
    rng_seed(&r, seed, 0x636f6d706f7365ULL); /* "compose" */
    composer *ms = malloc(n_models * sizeof *ms); /* [n_models] */
    if (!ms)
        return err_nomem(e);
    int rc = PPR_OK;
    for (size_t m = 0; m < n_models && !rc; m++) {
        char name[32];
        uint32_t id;
        snprintf(name, sizeof name, "composer-%02zu", m + 1);
        rc = add_model(c, name, "composed corpus", &id, e);
        double skill = rng_normal(&r), u = rng_uniform(&r);
        ms[m].verbosity = 0.6 * skill + 0.8 * rng_normal(&r);
        ms[m].level = 0.3 * skill + 0.95 * rng_normal(&r);
        ms[m].warmth = 0.3 * skill + 0.95 * rng_normal(&r);
        ms[m].markup = 0.7 * skill + 0.7 * rng_normal(&r);
        ms[m].refusal_rate = 0.01 + 0.08 * u * u;
    }
    strbuf b = {0};
    for (size_t p = 0; p < n_prompts && !rc; p++) {
        char q[200], body[160];
        snprintf(body, sizeof body, PICK(&r, templates), PICK(&r, topics));
        snprintf(q, sizeof q, "Question %zu: %s", p + 1, body);
        uint32_t t = intern(c, q, strlen(q)), pid;
        if (t == CORPUS_NONE || add_prompt(c, t, &pid)) {
            rc = err_nomem(e);
            break;
        }
        for (size_t m = 0; m < n_models; m++) {
            compose_answer(&b, &r, &ms[m]);
            uint32_t a = b.failed ? CORPUS_NONE : intern(c, b.p, b.len);
            if (a == CORPUS_NONE || add_cell(c, pid, (uint32_t)m, a)) {
                rc = err_nomem(e);
                break;
            }
        }
    }
    strbuf_release(&b);
    free(ms);
    return rc;
}

/* ---- measuring ----------------------------------------------------------- */

int corpus_measure(corpus *c, ppr_err *e)
{
    if (c->measured)
        return PPR_OK;
    size_t n_grid = c->n_prompts * c->n_models;
    c->grid = malloc((n_grid ? n_grid : 1) * sizeof *c->grid);
    c->attr = malloc((c->n_cells ? c->n_cells : 1) * ATTR_COUNT * sizeof *c->attr);
    c->usable = malloc((c->n_prompts ? c->n_prompts : 1) * sizeof *c->usable);
    double *raw = malloc((c->n_cells ? c->n_cells : 1) * ATTR_COUNT * sizeof *raw);
    if (!c->grid || !c->attr || !c->usable || !raw) {
        free(raw);
        return err_nomem(e);
    }
    for (size_t i = 0; i < n_grid; i++)
        c->grid[i] = CORPUS_NONE;
    for (size_t i = 0; i < c->n_cells; i++) {
        c->grid[(size_t)c->cell_prompt[i] * c->n_models + c->cell_model[i]] = (uint32_t)i;
        size_t len;
        const char *s = corpus_text(c, c->cell_text[i], &len);
        attrs_counts k;
        attrs_count(s, len, &k);
        attrs_raw(&k, raw + i * ATTR_COUNT);
    }
    int rc = attrs_standardize(raw, c->cell_model, c->n_cells, c->n_models, c->attr,
                               &c->stats, e);
    free(raw);
    if (rc)
        return rc;
    c->n_usable = 0;
    for (size_t p = 0; p < c->n_prompts; p++) {
        const uint32_t *row = c->grid + p * c->n_models;
        uint32_t first = CORPUS_NONE;
        int two = 0;
        for (size_t m = 0; m < c->n_models && !two; m++) {
            if (row[m] == CORPUS_NONE)
                continue;
            if (first == CORPUS_NONE)
                first = c->cell_text[row[m]];
            else if (c->cell_text[row[m]] != first)
                two = 1;
        }
        if (two)
            c->usable[c->n_usable++] = (uint32_t)p;
    }
    if (c->n_usable == 0)
        return err_set(e, PPR_EINPUT,
                       "the corpus has no prompt with two different answers");
    c->measured = 1;
    return PPR_OK;
}

cJSON *corpus_describe(const corpus *c)
{
    cJSON *d = cJSON_CreateObject();
    cJSON *std = cJSON_CreateObject();
    cJSON *quality = cJSON_CreateObject();
    if (!d || !std || !quality) {
        cJSON_Delete(d);
        cJSON_Delete(std);
        cJSON_Delete(quality);
        return NULL;
    }
    cJSON_AddItemToObject(d, "standardization", std);
    cJSON_AddItemToObject(d, "quality", quality);
    cJSON_AddNumberToObject(d, "prompts", (double)c->n_prompts);
    cJSON_AddNumberToObject(d, "usable_prompts", (double)c->n_usable);
    cJSON_AddNumberToObject(d, "models", (double)c->n_models);
    cJSON_AddNumberToObject(d, "answers", (double)c->n_cells);
    for (int a = 0; a < ATTR_COUNT; a++) {
        cJSON *s = cJSON_CreateObject();
        if (!s) {
            cJSON_Delete(d);
            return NULL;
        }
        cJSON_AddNumberToObject(s, "mean", c->stats.mean[a]);
        cJSON_AddNumberToObject(s, "sd", c->stats.sd[a]);
        cJSON_AddItemToObject(std, attrs_name(a), s);
    }
    /* each model's quality attribute, read off any of its answers */
    for (size_t m = 0; m < c->n_models; m++) {
        double q = 0.0;
        int have = 0;
        for (size_t i = 0; i < c->n_cells && !have; i++)
            if (c->cell_model[i] == m) {
                q = c->attr[i * ATTR_COUNT + ATTR_QUALITY];
                have = 1;
            }
        if (have)
            cJSON_AddNumberToObject(quality, c->model_name[m], q);
    }
    return d;
}
