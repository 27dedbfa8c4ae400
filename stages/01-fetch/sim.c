/* sim.c: simulated users label triples drawn from a measured corpus: config
 * checks, the prompt split, triple sampling, Bradley-Terry labels, repeated
 * labels and the pool of new users (docs/simulator.md, "Users and labels"). */
#include "sim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/mem.h"
#include "common/rng.h"

/* ---- config -------------------------------------------------------------- */

static int check_range(double x, double lo, double hi, const char *where, const char *key,
                       ppr_err *e)
{
    if (!(x >= lo && x <= hi))
        return err_set(e, PPR_EINPUT, "'%s': field \"%s\" must be in [%g, %g]", where, key,
                       lo, hi);
    return PPR_OK;
}

static int get_num_in(const cJSON *o, const char *key, const char *where, double lo,
                      double hi, double *out, ppr_err *e)
{
    int rc = json_get_num(o, key, where, out, e);
    return rc ? rc : check_range(*out, lo, hi, where, key, e);
}

static int get_int_in(const cJSON *o, const char *key, const char *where, int64_t lo,
                      int64_t hi, int64_t *out, ppr_err *e)
{
    int rc = json_get_int(o, key, where, out, e);
    return rc ? rc : check_range((double)*out, (double)lo, (double)hi, where, key, e);
}

/* The index of s in the NULL-terminated choices, or an error listing them. */
static int get_choice(const cJSON *o, const char *key, const char *where,
                      const char *const *choices, int *out, ppr_err *e)
{
    const char *s;
    int rc = json_get_str(o, key, where, &s, e);
    if (rc)
        return rc;
    char list[256] = "";
    for (int i = 0; choices[i]; i++) {
        if (strcmp(s, choices[i]) == 0) {
            *out = i;
            return PPR_OK;
        }
        size_t at = strlen(list);
        snprintf(list + at, sizeof list - at, "%s\"%s\"", i ? ", " : "", choices[i]);
    }
    return err_set(e, PPR_EINPUT, "'%s': field \"%s\" must be one of %s", where, key, list);
}

static int only_fields(const cJSON *o, const char *where, const char *const *allowed,
                       ppr_err *e)
{
    for (const cJSON *it = o->child; it; it = it->next) {
        int ok = 0;
        for (int i = 0; allowed[i] && !ok; i++)
            ok = strcmp(it->string, allowed[i]) == 0;
        if (!ok)
            return err_set(e, PPR_EINPUT, "'%s': unknown field \"%s\"", where, it->string);
    }
    return PPR_OK;
}

/* An array of one number in [lo, 1e6] per user. */
static int get_weights(const cJSON *o, const char *key, const char *where, size_t n,
                       double lo, double *out, ppr_err *e)
{
    const cJSON *a = json_get_arr(o, key, where, e);
    if (!a)
        return PPR_EINPUT;
    if ((size_t)cJSON_GetArraySize(a) != n)
        return err_set(e, PPR_EINPUT, "'%s': field \"%s\" must have one number per user (%zu)",
                       where, key, n);
    size_t i = 0;
    for (const cJSON *it = a->child; it; it = it->next, i++) {
        if (!cJSON_IsNumber(it) || !(it->valuedouble >= lo && it->valuedouble <= 1e6))
            return err_set(e, PPR_EINPUT, "'%s': field \"%s\" must hold numbers in [%g, %g]",
                           where, key, lo, 1e6);
        out[i] = it->valuedouble;
    }
    return PPR_OK;
}

static int parse_user(sim_user *u, const cJSON *o, const char *where, ppr_err *e)
{
    static const char *const fields[] = {"name", "beta", "weights", NULL};
    const char *name;
    int rc;
    if (!cJSON_IsObject(o))
        return err_set(e, PPR_EINPUT, "'%s': expected an object", where);
    if ((rc = only_fields(o, where, fields, e)) ||
        (rc = json_get_str(o, "name", where, &name, e)))
        return rc;
    size_t len = strlen(name);
    if (len == 0 || len >= SIM_NAME_MAX)
        return err_set(e, PPR_EINPUT, "'%s': field \"name\" must have 1 to %d bytes", where,
                       SIM_NAME_MAX - 1);
    memcpy(u->name, name, len + 1);
    if ((rc = get_num_in(o, "beta", where, 0.0, 1000.0, &u->beta, e)))
        return rc;
    const cJSON *w = json_get_obj(o, "weights", where, e);
    if (!w)
        return PPR_EINPUT;
    char wwhere[320];
    snprintf(wwhere, sizeof wwhere, "%s.weights", where);
    for (const cJSON *it = w->child; it; it = it->next) {
        int a = attrs_lookup(it->string);
        if (a < 0)
            return err_set(e, PPR_EINPUT,
                           "'%s': unknown attribute \"%s\" (known: expertise, "
                           "informativeness, style, compliance, formatting, quality)",
                           wwhere, it->string);
        if ((rc = get_num_in(w, it->string, wwhere, -100.0, 100.0, &u->weight[a], e)))
            return rc;
    }
    return PPR_OK;
}

int sim_config_parse(sim_config *cfg, const cJSON *obj, const char *what, ppr_err *e)
{
    static const char *const fields[] = {
        "kind", "regime", "texts", "triples", "test_fraction", "labels", "labelers",
        "activity", "repeat_fraction", "users", "new_users", "new_user_triples", NULL};
    static const char *const kinds[] = {"sim", NULL};
    static const char *const regimes[] = {"psoups", "tldr", "pllm", NULL};
    static const char *const texts[] = {"alpaca-eval", "flask", "composed", NULL};
    static const char *const labels[] = {"argmax", "sample", NULL};
    memset(cfg, 0, sizeof *cfg);
    if (!cJSON_IsObject(obj))
        return err_set(e, PPR_EINPUT, "'%s': expected an object", what);
    int rc, kind, regime, text;
    if ((rc = only_fields(obj, what, fields, e)) ||
        (rc = get_choice(obj, "kind", what, kinds, &kind, e)) ||
        (rc = get_choice(obj, "regime", what, regimes, &regime, e)) ||
        (rc = get_choice(obj, "texts", what, texts, &text, e)) ||
        (rc = get_choice(obj, "labels", what, labels, &cfg->labels, e)) ||
        (rc = get_int_in(obj, "triples", what, 10, 2000000, &cfg->triples, e)) ||
        (rc = get_num_in(obj, "test_fraction", what, 0.0, 0.9, &cfg->test_fraction, e)) ||
        (rc = get_num_in(obj, "repeat_fraction", what, 0.0, 1.0, &cfg->repeat_fraction, e)) ||
        (rc = get_int_in(obj, "new_users", what, 0, 10000, &cfg->new_users, e)) ||
        (rc = get_int_in(obj, "new_user_triples", what, 0, 2000000, &cfg->new_user_triples,
                         e)))
        return rc;
    snprintf(cfg->regime, sizeof cfg->regime, "%s", regimes[regime]);
    snprintf(cfg->texts, sizeof cfg->texts, "%s", texts[text]);

    const cJSON *users = json_get_arr(obj, "users", what, e);
    if (!users)
        return PPR_EINPUT;
    int n = cJSON_GetArraySize(users);
    if (n < 1 || n > SIM_USERS_MAX)
        return err_set(e, PPR_EINPUT, "'%s': field \"users\" must have 1 to %d users", what,
                       SIM_USERS_MAX);
    cfg->n_users = (size_t)n;
    cfg->users = calloc(cfg->n_users, sizeof *cfg->users);
    cfg->labelers = calloc(cfg->n_users, sizeof *cfg->labelers);
    if (!cfg->users || !cfg->labelers) {
        sim_config_release(cfg);
        return err_nomem(e);
    }
    size_t i = 0;
    for (const cJSON *it = users->child; it; it = it->next, i++) {
        char where[300];
        snprintf(where, sizeof where, "%s.users[%zu]", what, i);
        if ((rc = parse_user(&cfg->users[i], it, where, e)))
            goto fail;
        for (size_t j = 0; j < i; j++)
            if (strcmp(cfg->users[j].name, cfg->users[i].name) == 0) {
                rc = err_set(e, PPR_EINPUT, "'%s': user name \"%s\" is used twice", where,
                             cfg->users[i].name);
                goto fail;
            }
    }

    double total = 0.0;
    if ((rc = get_weights(obj, "labelers", what, cfg->n_users, 0.0, cfg->labelers, e)))
        goto fail;
    for (i = 0; i < cfg->n_users; i++)
        total += cfg->labelers[i];
    if (total <= 0.0) {
        rc = err_set(e, PPR_EINPUT, "'%s': field \"labelers\" must have a positive weight",
                     what);
        goto fail;
    }
    for (i = 0; i < cfg->n_users; i++)
        cfg->users[i].activity = 1.0;
    if (cJSON_GetObjectItemCaseSensitive(obj, "activity")) {
        double act[SIM_USERS_MAX];
        if ((rc = get_weights(obj, "activity", what, cfg->n_users, 1e-6, act, e)))
            goto fail;
        for (i = 0; i < cfg->n_users; i++)
            cfg->users[i].activity = act[i];
    }
    return PPR_OK;
fail:
    sim_config_release(cfg);
    return rc;
}

void sim_config_release(sim_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->users);
    free(cfg->labelers);
    cfg->users = NULL;
    cfg->labelers = NULL;
    cfg->n_users = 0;
}

void sim_texts_shape(const char *texts, size_t *n_prompts, size_t *n_models)
{
    if (strcmp(texts, "flask") == 0) {
        *n_prompts = 1700;
        *n_models = 15;
    } else {
        *n_prompts = 805;
        *n_models = 48;
    }
}

/* ---- sampling ------------------------------------------------------------ */

typedef struct {
    uint32_t prompt; /* prompt id */
    uint32_t a, b;   /* cell ids, in the order drawn */
    uint32_t split;  /* enum prefs_split */
} sim_triple;

typedef struct {
    uint32_t user, triple;
    uint32_t a_wins; /* 1 when the triple's first answer is chosen */
    float p_chosen;
} sim_label;

/* Distinct triples keyed by (prompt text, unordered answer texts). */
typedef struct {
    uint32_t *key; /* [n_slots][3]; key[3i] == UINT32_MAX marks a free slot */
    size_t n_slots;
} triple_set;

typedef struct {
    const sim_config *cfg;
    const corpus *c;
    uint32_t *ans_off;   /* [n_usable + 1] answers of usable prompt i: ans_cell[ans_off[i]..] */
    uint32_t *ans_cell;  /* [n_cells] */
    uint8_t *test_text;  /* [n_texts] 1 for a test prompt text */
    size_t n_train_prompts, n_test_prompts; /* distinct prompt texts per split */
    triple_set seen;
    sim_triple *triples; /* [n_triples] main users' triples, then the new users' */
    size_t n_triples, triples_cap;
    sim_label *rows;     /* [n_rows] */
    size_t n_rows, rows_cap;
} sim_state;

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* 1 when the key was new (and is now in the set). */
static int set_insert(triple_set *s, uint32_t p, uint32_t x, uint32_t y)
{
    uint64_t h = ((uint64_t)p * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)x * 0xc2b2ae3d27d4eb4fULL) ^
                 ((uint64_t)y * 0x165667b19e3779f9ULL);
    size_t i = (h ^ (h >> 29)) & (s->n_slots - 1);
    for (;; i = (i + 1) & (s->n_slots - 1)) {
        uint32_t *k = s->key + 3 * i;
        if (k[0] == UINT32_MAX) {
            k[0] = p;
            k[1] = x;
            k[2] = y;
            return 1;
        }
        if (k[0] == p && k[1] == x && k[2] == y)
            return 0;
    }
}

/* Draw one triple: a usable prompt uniformly, then two distinct models that
 * answered it. 0 when it repeats a triple or its two answers are the same text
 * (the caller draws again). */
static int draw_triple(sim_state *s, rng *r, sim_triple *t)
{
    const corpus *c = s->c;
    uint32_t u = (uint32_t)rng_below(r, c->n_usable);
    uint32_t k = s->ans_off[u + 1] - s->ans_off[u];
    uint32_t i = (uint32_t)rng_below(r, k), j = (uint32_t)rng_below(r, k - 1);
    if (j >= i)
        j++;
    t->prompt = c->usable[u];
    t->a = s->ans_cell[s->ans_off[u] + i];
    t->b = s->ans_cell[s->ans_off[u] + j];
    t->split = s->test_text[c->prompt_text[t->prompt]] ? PREFS_TEST : PREFS_TRAIN;
    uint32_t ta = c->cell_text[t->a], tb = c->cell_text[t->b];
    if (ta == tb)
        return 0;
    return set_insert(&s->seen, c->prompt_text[t->prompt], ta < tb ? ta : tb,
                      ta < tb ? tb : ta);
}

/* Append n new distinct triples. */
static int draw_triples(sim_state *s, rng *r, size_t n, const char *what, ppr_err *e)
{
    if (mem_grow((void **)&s->triples, &s->triples_cap, s->n_triples + n, sizeof *s->triples))
        return err_nomem(e);
    size_t budget = 50 * n + 100000;
    for (size_t got = 0; got < n;) {
        if (budget-- == 0)
            return err_set(e, PPR_EINPUT,
                           "'%s': could not draw %zu more distinct triples from the corpus; "
                           "ask for fewer triples",
                           what, n - got);
        if (draw_triple(s, r, &s->triples[s->n_triples])) {
            s->n_triples++;
            got++;
        }
    }
    return PPR_OK;
}

static double sigmoid(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

static void label_triple(const sim_user *u, const float *xa, const float *xb, int mode,
                         rng *r, sim_label *out)
{
    double m = 0.0;
    for (int a = 0; a < ATTR_COUNT; a++)
        m += u->weight[a] * ((double)xa[a] - (double)xb[a]);
    m *= u->beta;
    if (mode == SIM_SAMPLE) {
        double pa = sigmoid(m);
        out->a_wins = rng_uniform(r) < pa;
        out->p_chosen = (float)(out->a_wins ? pa : 1.0 - pa);
    } else if (m != 0.0) {
        out->a_wins = m > 0.0;
        out->p_chosen = 1.0f;
    } else {
        out->a_wins = rng_below(r, 2) == 0;
        out->p_chosen = 0.5f;
    }
}

static int add_label(sim_state *s, const sim_user *u, uint32_t user, uint32_t triple,
                     int mode, rng *r, ppr_err *e)
{
    if (mem_grow((void **)&s->rows, &s->rows_cap, s->n_rows + 1, sizeof *s->rows))
        return err_nomem(e);
    const sim_triple *t = &s->triples[triple];
    sim_label *l = &s->rows[s->n_rows++];
    l->user = user;
    l->triple = triple;
    label_triple(u, s->c->attr + (size_t)t->a * ATTR_COUNT,
                 s->c->attr + (size_t)t->b * ATTR_COUNT, mode, r, l);
    return PPR_OK;
}

/* Split the distinct prompt texts of the usable prompts: a seeded shuffle, the
 * first round(test_fraction * n) are test. */
static int split_prompts(sim_state *s, rng *r, ppr_err *e)
{
    const corpus *c = s->c;
    uint32_t *texts = malloc((c->n_usable ? c->n_usable : 1) * sizeof *texts); /* [n_usable] */
    uint8_t *listed = calloc(c->n_texts, 1);                                  /* [n_texts] */
    s->test_text = calloc(c->n_texts, 1);
    if (!texts || !listed || !s->test_text) {
        free(texts);
        free(listed);
        return err_nomem(e);
    }
    size_t n = 0;
    for (size_t u = 0; u < c->n_usable; u++) {
        uint32_t t = c->prompt_text[c->usable[u]];
        if (!listed[t]) {
            listed[t] = 1;
            texts[n++] = t;
        }
    }
    for (size_t i = n; i > 1; i--) {
        size_t j = rng_below(r, i);
        uint32_t tmp = texts[i - 1];
        texts[i - 1] = texts[j];
        texts[j] = tmp;
    }
    s->n_test_prompts = (size_t)llround(s->cfg->test_fraction * (double)n);
    s->n_train_prompts = n - s->n_test_prompts;
    for (size_t i = 0; i < s->n_test_prompts; i++)
        s->test_text[texts[i]] = 1;
    free(texts);
    free(listed);
    return PPR_OK;
}

static int index_answers(sim_state *s, ppr_err *e)
{
    const corpus *c = s->c;
    s->ans_off = malloc((c->n_usable + 1) * sizeof *s->ans_off);
    s->ans_cell = malloc((c->n_cells ? c->n_cells : 1) * sizeof *s->ans_cell);
    if (!s->ans_off || !s->ans_cell)
        return err_nomem(e);
    uint32_t at = 0;
    for (size_t u = 0; u < c->n_usable; u++) {
        s->ans_off[u] = at;
        const uint32_t *row = c->grid + (size_t)c->usable[u] * c->n_models;
        for (size_t m = 0; m < c->n_models; m++)
            if (row[m] != CORPUS_NONE)
                s->ans_cell[at++] = row[m];
    }
    s->ans_off[c->n_usable] = at;
    return PPR_OK;
}

/* Upper bound on the distinct triples the corpus can give: pairs of answers. */
static double pair_capacity(const sim_state *s)
{
    double cap = 0.0;
    for (size_t u = 0; u < s->c->n_usable; u++) {
        double k = s->ans_off[u + 1] - s->ans_off[u];
        cap += k * (k - 1) / 2;
    }
    return cap;
}

/* Which main users label a triple: a count k drawn from the labelers weights,
 * then k users without replacement, each draw proportional to activity. */
static void draw_labellers(const sim_config *cfg, rng *r, uint8_t *pick)
{
    size_t n = cfg->n_users;
    double total = 0.0;
    for (size_t i = 0; i < n; i++)
        total += cfg->labelers[i];
    double u = rng_uniform(r) * total;
    size_t k = n;
    for (size_t i = 0; i < n; i++) {
        if (u < cfg->labelers[i]) {
            k = i + 1;
            break;
        }
        u -= cfg->labelers[i];
    }
    memset(pick, 0, n);
    for (size_t j = 0; j < k; j++) {
        double left = 0.0;
        size_t last = n;
        for (size_t i = 0; i < n; i++)
            if (!pick[i]) {
                left += cfg->users[i].activity;
                last = i;
            }
        double v = rng_uniform(r) * left;
        size_t who = last;
        for (size_t i = 0; i < n; i++) {
            if (pick[i])
                continue;
            if (v < cfg->users[i].activity) {
                who = i;
                break;
            }
            v -= cfg->users[i].activity;
        }
        pick[who] = 1;
    }
}

static void shuffle_rows(sim_label *rows, size_t n, rng *r)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = rng_below(r, i);
        sim_label tmp = rows[i - 1];
        rows[i - 1] = rows[j];
        rows[j] = tmp;
    }
}

/* ---- the record ---------------------------------------------------------- */

static cJSON *weights_json(const double *w)
{
    cJSON *o = cJSON_CreateObject();
    for (int a = 0; o && a < ATTR_COUNT; a++)
        cJSON_AddNumberToObject(o, attrs_name(a), w[a]);
    return o;
}

static cJSON *user_json(const sim_user *u, const char *pool, size_t rows,
                        const double *mixture, size_t n_mix)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "name", u->name);
    cJSON_AddStringToObject(o, "pool", pool);
    cJSON_AddNumberToObject(o, "beta", u->beta);
    cJSON_AddNumberToObject(o, "rows", (double)rows);
    cJSON_AddItemToObject(o, "weights", weights_json(u->weight));
    if (mixture)
        cJSON_AddItemToObject(o, "mixture", cJSON_CreateDoubleArray(mixture, (int)n_mix));
    else
        cJSON_AddNumberToObject(o, "activity", u->activity);
    return o;
}

/* ---- generation ---------------------------------------------------------- */

enum { STREAM_SPLIT = 1, STREAM_TRIPLES, STREAM_WHO, STREAM_LABELS, STREAM_REPEATS,
       STREAM_ORDER, STREAM_NEW };

static void state_release(sim_state *s)
{
    free(s->ans_off);
    free(s->ans_cell);
    free(s->test_text);
    free(s->seen.key);
    free(s->triples);
    free(s->rows);
}

/* Main users: triples, who labels them, labels, repeats, then a shuffle so
 * that any prefix of the rows is a uniform sample. */
static int label_main(sim_state *s, uint64_t seed, uint64_t base, const char *what,
                      size_t *n_repeats, ppr_err *e)
{
    const sim_config *cfg = s->cfg;
    rng r_tri, r_who, r_lab, r_rep, r_ord;
    rng_seed(&r_tri, seed, base + STREAM_TRIPLES);
    rng_seed(&r_who, seed, base + STREAM_WHO);
    rng_seed(&r_lab, seed, base + STREAM_LABELS);
    rng_seed(&r_rep, seed, base + STREAM_REPEATS);
    rng_seed(&r_ord, seed, base + STREAM_ORDER);
    int rc = draw_triples(s, &r_tri, (size_t)cfg->triples, what, e);
    if (rc)
        return rc;
    uint8_t pick[SIM_USERS_MAX];
    for (size_t t = 0; t < s->n_triples; t++) {
        draw_labellers(cfg, &r_who, pick);
        for (size_t u = 0; u < cfg->n_users; u++)
            if (pick[u] && (rc = add_label(s, &cfg->users[u], (uint32_t)u, (uint32_t)t,
                                           cfg->labels, &r_lab, e)))
                return rc;
    }
    size_t n_base = s->n_rows;
    *n_repeats = (size_t)llround(cfg->repeat_fraction * (double)n_base);
    if (*n_repeats) {
        uint32_t *order = malloc(n_base * sizeof *order); /* [n_base] */
        if (!order)
            return err_nomem(e);
        for (size_t i = 0; i < n_base; i++)
            order[i] = (uint32_t)i;
        for (size_t i = 0; i < *n_repeats && !rc; i++) {
            size_t j = i + rng_below(&r_rep, n_base - i);
            uint32_t tmp = order[i];
            order[i] = order[j];
            order[j] = tmp;
            const sim_label old = s->rows[order[i]];
            rc = add_label(s, &cfg->users[old.user], old.user, old.triple, cfg->labels,
                           &r_rep, e);
        }
        free(order);
        if (rc)
            return rc;
    }
    shuffle_rows(s->rows, s->n_rows, &r_ord);
    return PPR_OK;
}

/* New users: a mixture of the main users' weights and betas with proportions
 * drawn uniformly from the simplex (Dirichlet(1, ..., 1): normalized exponential
 * draws), each labelling its own fresh triples, split by prompt like the rest. */
static int label_new(sim_state *s, uint64_t seed, uint64_t base, const char *what,
                     sim_user *nu, double *mix, ppr_err *e)
{
    const sim_config *cfg = s->cfg;
    rng r;
    rng_seed(&r, seed, base + STREAM_NEW);
    size_t k = cfg->n_users;
    for (int64_t j = 0; j < cfg->new_users; j++) {
        sim_user *u = &nu[j];
        double *a = mix + (size_t)j * k;
        double sum = 0.0;
        for (size_t i = 0; i < k; i++)
            sum += a[i] = -log(1.0 - rng_uniform(&r));
        memset(u, 0, sizeof *u);
        snprintf(u->name, sizeof u->name, "new-%03lld", (long long)j + 1);
        for (size_t i = 0; i < k; i++) {
            a[i] /= sum;
            u->beta += a[i] * cfg->users[i].beta;
            for (int at = 0; at < ATTR_COUNT; at++)
                u->weight[at] += a[i] * cfg->users[i].weight[at];
        }
        size_t first = s->n_triples;
        int rc = draw_triples(s, &r, (size_t)cfg->new_user_triples, what, e);
        for (size_t t = first; t < s->n_triples && !rc; t++)
            rc = add_label(s, u, (uint32_t)(k + (size_t)j), (uint32_t)t, cfg->labels, &r, e);
        if (rc)
            return rc;
    }
    return PPR_OK;
}

static int write_rows(sim_state *s, prefs_builder *b, const char *what, ppr_err *e)
{
    const corpus *c = s->c;
    int64_t *bid = malloc(c->n_texts * sizeof *bid); /* [n_texts] builder id or -1 */
    if (!bid)
        return err_nomem(e);
    for (size_t t = 0; t < c->n_texts; t++)
        bid[t] = -1;
    int rc = PPR_OK;
    for (size_t i = 0; i < s->n_rows && !rc; i++) {
        const sim_label *l = &s->rows[i];
        const sim_triple *t = &s->triples[l->triple];
        uint32_t text[3] = {c->prompt_text[t->prompt], c->cell_text[l->a_wins ? t->a : t->b],
                            c->cell_text[l->a_wins ? t->b : t->a]};
        for (int k = 0; k < 3; k++) {
            if (bid[text[k]] < 0) {
                size_t len;
                const char *str = corpus_text(c, text[k], &len);
                bid[text[k]] = prefs_builder_text(b, str, len);
            }
            if (bid[text[k]] < 0) {
                rc = err_nomem(e);
                break;
            }
        }
        if (rc)
            break;
        prefs_row row = {l->user, (uint32_t)bid[text[0]], (uint32_t)bid[text[1]],
                         (uint32_t)bid[text[2]], t->split, l->p_chosen};
        if ((rc = prefs_builder_row(b, &row, e)))
            err_wrap(e, "'%s'", what);
    }
    free(bid);
    return rc;
}

static cJSON *describe(const sim_state *s, uint64_t seed, const sim_user *nu,
                       const double *mix, size_t n_repeats, size_t n_main_rows,
                       size_t n_main_triples)
{
    const sim_config *cfg = s->cfg;
    size_t n_all = cfg->n_users + (size_t)cfg->new_users;
    size_t *rows = calloc(n_all, sizeof *rows); /* [n_all] rows per user */
    cJSON *p = cJSON_CreateObject();
    cJSON *users = cJSON_CreateArray();
    cJSON *corp = corpus_describe(s->c);
    if (!rows || !p || !users || !corp) {
        free(rows);
        cJSON_Delete(p);
        cJSON_Delete(users);
        cJSON_Delete(corp);
        return NULL;
    }
    for (size_t i = 0; i < s->n_rows; i++)
        rows[s->rows[i].user]++;
    cJSON_AddNumberToObject(p, "seed", (double)seed);
    cJSON_AddStringToObject(p, "regime", cfg->regime);
    cJSON_AddStringToObject(p, "texts", cfg->texts);
    cJSON_AddStringToObject(p, "labels", cfg->labels == SIM_SAMPLE ? "sample" : "argmax");
    cJSON_AddItemToObject(p, "corpus", corp);
    cJSON_AddNumberToObject(p, "train_prompts", (double)s->n_train_prompts);
    cJSON_AddNumberToObject(p, "test_prompts", (double)s->n_test_prompts);
    cJSON_AddNumberToObject(p, "triples", (double)n_main_triples);
    cJSON_AddNumberToObject(p, "rows", (double)n_main_rows);
    cJSON_AddNumberToObject(p, "repeat_rows", (double)n_repeats);
    cJSON_AddNumberToObject(p, "new_user_rows", (double)(s->n_rows - n_main_rows));
    cJSON_AddItemToObject(p, "users", users);
    for (size_t u = 0; u < cfg->n_users; u++)
        cJSON_AddItemToArray(users, user_json(&cfg->users[u], "main", rows[u], NULL, 0));
    for (int64_t j = 0; j < cfg->new_users; j++)
        cJSON_AddItemToArray(users, user_json(&nu[j], "new", rows[cfg->n_users + (size_t)j],
                                              mix + (size_t)j * cfg->n_users, cfg->n_users));
    free(rows);
    return p;
}

int sim_generate(const sim_config *cfg, const corpus *c, uint64_t seed,
                 const char *dataset, prefs_builder *b, cJSON **params, ppr_err *e)
{
    *params = NULL;
    if (!c->measured)
        return err_set(e, PPR_EINTERNAL, "'%s': the corpus is not measured", dataset);
    sim_state s;
    memset(&s, 0, sizeof s);
    s.cfg = cfg;
    s.c = c;
    uint64_t base = fnv1a(dataset) * 16; /* streams base + 1 .. base + 7 */
    rng r_split;
    rng_seed(&r_split, seed, base + STREAM_SPLIT);
    size_t n_new = (size_t)cfg->new_users;
    sim_user *nu = calloc(n_new ? n_new : 1, sizeof *nu);                      /* [n_new] */
    double *mix = calloc((n_new ? n_new : 1) * cfg->n_users, sizeof *mix);     /* [n_new][n_users] */
    size_t want = (size_t)cfg->triples +
                  n_new * (size_t)cfg->new_user_triples;
    size_t slots = 1024;
    while (slots < 2 * want)
        slots *= 2;
    s.seen.n_slots = slots;
    s.seen.key = malloc(slots * 3 * sizeof *s.seen.key);
    int rc = PPR_OK;
    if (!nu || !mix || !s.seen.key) {
        rc = err_nomem(e);
        goto done;
    }
    memset(s.seen.key, 0xff, slots * 3 * sizeof *s.seen.key);
    if ((rc = index_answers(&s, e)) || (rc = split_prompts(&s, &r_split, e)))
        goto done;
    double cap = pair_capacity(&s);
    if ((double)want > cap) {
        rc = err_set(e, PPR_EINPUT,
                     "'%s': %zu distinct triples asked for, but the corpus has at most %.0f",
                     dataset, want, cap);
        goto done;
    }
    size_t n_repeats = 0;
    if ((rc = label_main(&s, seed, base, dataset, &n_repeats, e)))
        goto done;
    size_t n_main_rows = s.n_rows, n_main_triples = s.n_triples;
    if ((rc = label_new(&s, seed, base, dataset, nu, mix, e)))
        goto done;
    for (size_t u = 0; u < cfg->n_users + n_new && !rc; u++) {
        const sim_user *su = u < cfg->n_users ? &cfg->users[u] : &nu[u - cfg->n_users];
        int64_t id = prefs_builder_user(b, su->name,
                                        u < cfg->n_users ? PREFS_POOL_MAIN : PREFS_POOL_NEW);
        if (id < 0)
            rc = err_nomem(e);
        else if ((size_t)id != u)
            rc = err_set(e, PPR_EINTERNAL, "'%s': the prefs builder already had users",
                         dataset);
    }
    if (rc || (rc = write_rows(&s, b, dataset, e)))
        goto done;
    *params = describe(&s, seed, nu, mix, n_repeats, n_main_rows, n_main_triples);
    if (!*params)
        rc = err_nomem(e);
done:
    free(nu);
    free(mix);
    state_release(&s);
    return rc;
}
