/* rag.c: RAG-kNN (methods.md sections 6 and 9.2), the retrieval of Dong et
 * al.'s RAG baseline without its LLM. Nothing is learned: the model keeps its
 * training pairs as a memory of row ids, and scores a test pair of user u by
 * the similarity-weighted vote of the k pairs of u's memory whose prompts are
 * most like the test pair's (cosine of the prompt rows, as Dong's retriever
 * embeds the prompt alone: the query never reads the test pair's responses).
 *
 * With s_j the similarity of retrieved pair j and delta_j = phi(chosen_j) -
 * phi(rejected_j) over its response rows (the prompt half of [phi(p);
 * phi(y)] cancels in a difference), a response y scores
 *
 *   r(y) = sum_j s_j <delta_j, phi(y)>,
 *
 * so r(chosen) - r(rejected) = sum_j s_j <delta_j, delta*>, the vote of
 * methods.md 9.2. Top-k takes s_j descending, ties to the lower memory index
 * (the earlier training pair); a user with fewer than k pairs uses them all,
 * and a user with none is not served. The similarities are one GEMM per
 * block of u's distinct test prompts against u's distinct memory prompts
 * (pairs share prompts: both are deduplicated by row id), rows normalised
 * first: exact retrieval, no approximate index.
 *
 * Row ids mean something only in their matrix, so the model keeps the
 * matrix's name (pair_set.matrix_id, the features artifact's SHA-256) and
 * trains, adapts and scores only over a matrix of that name. Training again
 * starts a fresh memory (adapted users' included) over the new matrix.
 * Adapting to a new user makes the pairs it is given (its k labelled pairs)
 * its memory, replacing any it had; none leave it unserved.
 *
 * Settings: "rag": {"k"}. Shape: rag_shape, then uint32 rows [n_pairs][3]
 * (prompt, chosen, rejected) and users [n_pairs], the memory sorted by user,
 * then training order. No parameters (n_params 0). */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/mem.h"
#include "common/models/registry.h"

#define RAG_K_MAX 1024              /* retrieved pairs at most (a linear top-k) */
#define RAG_PAIRS_MAX 0x7fffffffu   /* memory pairs at most: GEMM sizes are ints */
#define RAG_BLOCK_FLOATS (1u << 22) /* similarities per GEMM block (16 MB) */

typedef struct {
    method base;
    uint32_t k;
    uint32_t n_adapted; /* distinct adapted users (>= n_users) in the memory */
    unsigned char matrix_id[SHA256_LEN]; /* the memory's matrix; all 0 while empty */
    uint32_t *rows;     /* [n][3] prompt, chosen, rejected row of each memory pair */
    uint32_t *user;     /* [n] its user, non-decreasing */
    size_t n;           /* memory pairs; 0 until trained */
} rag;

/* The model file's shape before rows and users. */
typedef struct {
    uint32_t k, n_adapted;
    uint64_t n_pairs;
    unsigned char matrix_id[SHA256_LEN];
} rag_shape;

_Static_assert(sizeof(rag_shape) == 48, "rag_shape has no hidden padding");

/* ---- the memory ----------------------------------------------------------------- */

/* [*lo, *hi): user u's memory pairs (binary search over the sorted users). */
static void memory_range(const rag *r, uint32_t u, size_t *lo, size_t *hi)
{
    size_t a = 0, b = r->n;
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        if (r->user[mid] < u)
            a = mid + 1;
        else
            b = mid;
    }
    *lo = a;
    b = r->n;
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        if (r->user[mid] <= u)
            a = mid + 1;
        else
            b = mid;
    }
    *hi = a;
}

static int rag_serves(const method *m, uint32_t u)
{
    size_t lo, hi;
    memory_range((const rag *)m, u, &lo, &hi);
    return hi > lo;
}

/* ps fits the model (method_pairs_check) and is over a named matrix (the
 * memory's, when same_matrix is set and the model has a memory). The caller
 * wraps the messages with its operation. */
static int rag_check(const rag *r, const pair_set *ps, uint32_t max_user, int same_matrix,
                     ppr_err *e)
{
    int rc = method_pairs_check(&r->base, ps, max_user, "the pairs", e);
    if (rc)
        return rc;
    if (ps->n > RAG_PAIRS_MAX)
        return err_set(e, PPR_EINPUT, "%zu pairs, rag takes at most %u", ps->n, RAG_PAIRS_MAX);
    if (!ps->matrix_id)
        return err_set(e, PPR_EINPUT, "the feature matrix has no name (matrix_id): rag keeps "
                       "pairs as row ids, which mean something only in a named matrix");
    if (same_matrix && r->n && memcmp(ps->matrix_id, r->matrix_id, SHA256_LEN) != 0) {
        char built[SHA256_HEX_LEN + 1], asked[SHA256_HEX_LEN + 1];
        sha256_hex(r->matrix_id, built);
        sha256_hex(ps->matrix_id, asked);
        return err_set(e, PPR_EINPUT, "the model was built over features %s and is asked to "
                       "work over %s", built, asked);
    }
    return PPR_OK;
}

/* ---- lifecycle ------------------------------------------------------------------ */

static void rag_free(method *m)
{
    if (!m)
        return;
    rag *r = (rag *)m;
    free(r->rows);
    free(r->user);
    free(r);
}

static int rag_make(method **m, uint32_t dim, uint32_t n_users, int64_t k, const char *what,
                    ppr_err *e)
{
    if (dim == 0)
        return err_set(e, PPR_EINPUT, "%s: rag takes features 0 wide", what);
    if (n_users == 0)
        return err_set(e, PPR_EINPUT, "%s: a model needs at least one user", what);
    if (k < 1 || k > RAG_K_MAX)
        return err_set(e, PPR_EINPUT, "%s: rag's k (pairs retrieved) is %lld, not in [1, %d]",
                       what, (long long)k, RAG_K_MAX);
    rag *r = calloc(1, sizeof *r);
    if (!r)
        return err_nomem(e);
    r->base = (method){.ops = &rag_ops, .dim = dim, .n_users = n_users};
    r->k = (uint32_t)k;
    *m = &r->base;
    return PPR_OK;
}

static int rag_create(method **m, uint32_t dim, uint32_t n_users, const cJSON *settings,
                      uint64_t seed, ppr_err *e)
{
    (void)seed; /* nothing is drawn */
    const cJSON *s;
    int64_t k;
    if (!(s = json_get_obj(settings, "rag", "settings", e)) ||
        json_get_int(s, "k", "settings", &k, e))
        return PPR_EINPUT;
    return rag_make(m, dim, n_users, k, "settings", e);
}

static cJSON *rag_settings(const method *m)
{
    cJSON *s = cJSON_CreateObject(), *sec = cJSON_AddObjectToObject(s, "rag");
    cJSON_AddNumberToObject(sec, "k", ((const rag *)m)->k);
    return s;
}

static void rag_body_size(const method *m, size_t *shape_bytes, size_t *n_params)
{
    *shape_bytes = sizeof(rag_shape) + ((const rag *)m)->n * 4 * sizeof(uint32_t);
    *n_params = 0;
}

static void rag_save(const method *m, void *shape, float *params)
{
    (void)params;
    const rag *r = (const rag *)m;
    rag_shape s = {r->k, r->n_adapted, r->n, {0}};
    memcpy(s.matrix_id, r->matrix_id, SHA256_LEN);
    unsigned char *p = shape;
    memcpy(p, &s, sizeof s);
    if (r->n) { /* else the arrays may be NULL, which memcpy must never get */
        memcpy(p + sizeof s, r->rows, r->n * 3 * sizeof *r->rows);
        memcpy(p + sizeof s + r->n * 3 * sizeof *r->rows, r->user, r->n * sizeof *r->user);
    }
}

/* The distinct adapted users (>= n_users) among the sorted users [n]. */
static uint32_t adapted_count(const uint32_t *user, size_t n, uint32_t n_users)
{
    uint32_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += user[i] >= n_users && (i == 0 || user[i] != user[i - 1]);
    return count;
}

static int rag_load(method **m, uint32_t dim, uint32_t n_users, const void *shape,
                    size_t shape_bytes, const void *params, size_t n_params, const char *what,
                    ppr_err *e)
{
    (void)params;
    rag_shape s;
    if (shape_bytes < sizeof s)
        return err_set(e, PPR_EINPUT, "'%s': the model's shape is truncated", what);
    memcpy(&s, shape, sizeof s);
    static const unsigned char none[SHA256_LEN];
    int named = memcmp(s.matrix_id, none, SHA256_LEN) != 0;
    if (n_params != 0 || s.n_pairs > RAG_PAIRS_MAX ||
        shape_bytes != sizeof s + s.n_pairs * 4 * sizeof(uint32_t) || named != (s.n_pairs > 0))
        return err_set(e, PPR_EINPUT, "'%s': the model's shape is malformed", what);
    int rc = rag_make(m, dim, n_users, s.k, what, e);
    if (rc)
        return rc;
    rag *r = (rag *)*m;
    size_t n = (size_t)s.n_pairs;
    if (n && (!(r->rows = malloc(n * 3 * sizeof *r->rows)) ||
              !(r->user = malloc(n * sizeof *r->user)))) {
        rag_free(*m);
        *m = NULL;
        return err_nomem(e);
    }
    const unsigned char *p = (const unsigned char *)shape + sizeof s;
    if (n) {
        memcpy(r->rows, p, n * 3 * sizeof *r->rows);
        memcpy(r->user, p + n * 3 * sizeof *r->rows, n * sizeof *r->user);
    }
    r->n = n;
    r->n_adapted = s.n_adapted;
    memcpy(r->matrix_id, s.matrix_id, SHA256_LEN);
    for (size_t i = 1; i < n && rc == PPR_OK; i++)
        if (r->user[i] < r->user[i - 1])
            rc = err_set(e, PPR_EINPUT, "'%s': the model's memory is not sorted by user", what);
    if (rc == PPR_OK && adapted_count(r->user, n, n_users) != s.n_adapted)
        rc = err_set(e, PPR_EINPUT, "'%s': the model's adapted users disagree with its memory",
                     what);
    if (rc) {
        rag_free(*m);
        *m = NULL;
    }
    return rc;
}

/* ---- training and adaptation ------------------------------------------------------ */

static int rag_train(method *m, const pair_set *ps, const optim_settings *o, ppr_err *e)
{
    (void)o; /* nothing to optimize */
    rag *r = (rag *)m;
    int rc = rag_check(r, ps, m->n_users, 0, e);
    if (rc)
        return rc;
    uint32_t *rows = malloc(ps->n * 3 * sizeof *rows), *user = malloc(ps->n * sizeof *user);
    uint32_t *order = malloc(ps->n * sizeof *order);                   /* [n] */
    size_t *start = malloc(((size_t)m->n_users + 1) * sizeof *start); /* [n_users + 1] */
    if (rows && user && order && start) {
        pairs_group(ps->user, ps->n, m->n_users, order, start);
        for (size_t j = 0; j < ps->n; j++) {
            memcpy(rows + 3 * j, ps->rows + 3 * (size_t)order[j], 3 * sizeof *rows);
            user[j] = ps->user[order[j]];
        }
        free(r->rows);
        free(r->user);
        r->rows = rows;
        r->user = user;
        r->n = ps->n;
        r->n_adapted = 0;
        memcpy(r->matrix_id, ps->matrix_id, SHA256_LEN);
    } else {
        free(rows);
        free(user);
        rc = err_nomem(e);
    }
    free(order);
    free(start);
    return rc;
}

/* new_user's memory: ps's pairs in their order, in place of the ones it had. */
static int memory_replace(rag *r, const pair_set *ps, uint32_t new_user, ppr_err *e)
{
    size_t lo, hi;
    memory_range(r, new_user, &lo, &hi);
    size_t n = r->n - (hi - lo) + ps->n;
    if (n > RAG_PAIRS_MAX)
        return err_set(e, PPR_EINPUT, "the memory would hold %zu pairs, rag takes at most %u", n,
                       RAG_PAIRS_MAX);
    uint32_t *rows = malloc((n ? n : 1) * 3 * sizeof *rows);
    uint32_t *user = malloc((n ? n : 1) * sizeof *user);
    if (!rows || !user) {
        free(rows);
        free(user);
        return err_nomem(e);
    }
    size_t tail = r->n - hi;
    memcpy(rows, r->rows, lo * 3 * sizeof *rows);
    memcpy(user, r->user, lo * sizeof *user);
    if (ps->n)
        memcpy(rows + 3 * lo, ps->rows, ps->n * 3 * sizeof *rows);
    for (size_t i = 0; i < ps->n; i++)
        user[lo + i] = new_user;
    memcpy(rows + 3 * (lo + ps->n), r->rows + 3 * hi, tail * 3 * sizeof *rows);
    memcpy(user + lo + ps->n, r->user + hi, tail * sizeof *user);
    if (hi == lo && ps->n)
        r->n_adapted++;
    else if (hi > lo && !ps->n)
        r->n_adapted--;
    free(r->rows);
    free(r->user);
    r->rows = rows;
    r->user = user;
    r->n = n;
    return PPR_OK;
}

static int rag_adapt(method *m, const pair_set *ps, uint32_t new_user, const optim_settings *o,
                     ppr_err *e)
{
    (void)o;
    rag *r = (rag *)m;
    int rc = PPR_OK;
    if (r->n == 0)
        rc = err_set(e, PPR_EINPUT, "the model has no memory yet: train it first");
    else if ((rc = method_adapt_check(m, ps, new_user, e)) == PPR_OK)
        rc = rag_check(r, ps, 0, 1, e);
    if (rc == PPR_OK)
        rc = memory_replace(r, ps, new_user, e);
    return rc ? err_wrap(e, "adapting rag to user %u", new_user) : PPR_OK;
}

/* ---- scoring ------------------------------------------------------------------- */

/* What scoring one user needs, grown on demand and kept across users. */
typedef struct {
    uint64_t *keys;                 /* [n] (row id << 32 | index), sorted */
    uint32_t *mem_map, *mem_rows;   /* [m] each memory pair's distinct prompt; [q] their rows */
    uint32_t *test_order;           /* [t_pairs] the user's test pairs by prompt row */
    uint32_t *test_map, *test_rows; /* [t_pairs] each one's distinct prompt; [t] their rows */
    float *mem_unit, *test_unit;    /* [q][dim] and [block][dim] normalised prompt rows */
    float *sim;                     /* [block][q] cosines */
    float *w;                       /* [dim] sum_j s_j delta_j of one test prompt */
    float *top_s;                   /* [k] retrieved similarities, descending */
    uint32_t *top_j;                /* [k] their memory pairs */
    size_t cap_keys, cap_mem_map, cap_mem_rows, cap_test_order, cap_test_map, cap_test_rows,
        cap_mem_unit, cap_test_unit, cap_sim, cap_w, cap_top_s, cap_top_j;
} scratch;

static void scratch_release(scratch *s)
{
    free(s->keys);
    free(s->mem_map);
    free(s->mem_rows);
    free(s->test_order);
    free(s->test_map);
    free(s->test_rows);
    free(s->mem_unit);
    free(s->test_unit);
    free(s->sim);
    free(s->w);
    free(s->top_s);
    free(s->top_j);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* keys [n] (row id << 32 | i) sorted: order [n] the i in that order (equal
 * rows adjacent, each in increasing i), map [n] each i's distinct row's
 * index, rows [distinct] the distinct rows increasing. Returns their number. */
static size_t distinct_rows(uint64_t *keys, size_t n, uint32_t *order, uint32_t *map,
                            uint32_t *rows)
{
    qsort(keys, n, sizeof *keys, cmp_u64);
    size_t q = 0;
    for (size_t a = 0; a < n; a++) {
        uint32_t row = (uint32_t)(keys[a] >> 32), i = (uint32_t)keys[a];
        if (a == 0 || row != rows[q - 1])
            rows[q++] = row;
        if (order)
            order[a] = i;
        map[i] = (uint32_t)(q - 1);
    }
    return q;
}

/* out [n][dim]: the matrix rows ids [n], each divided by its norm; a row of
 * norm 0 or a non-finite value is PPR_EINPUT (its cosine is undefined). */
static int rows_unit(const float *matrix, uint32_t dim, const uint32_t *ids, size_t n,
                     float *out, ppr_err *e)
{
    for (size_t i = 0; i < n; i++) {
        const float *x = matrix + (size_t)ids[i] * dim;
        double sq = 0;
        for (uint32_t d = 0; d < dim; d++)
            sq += (double)x[d] * x[d];
        if (!(sq > 0 && isfinite(sq)))
            return err_set(e, PPR_EINPUT, "prompt row %u has norm %g: its cosine similarity is "
                           "undefined", ids[i], sqrt(sq));
        float inv = (float)(1 / sqrt(sq));
        for (uint32_t d = 0; d < dim; d++)
            out[i * dim + d] = x[d] * inv;
    }
    return PPR_OK;
}

/* top_j [*cnt], top_s: the min(k, m) memory pairs of the highest sim_j =
 * sim[map[j]], descending, ties to the lower j. */
static void top_k(const float *sim, const uint32_t *map, size_t m, size_t k, float *top_s,
                  uint32_t *top_j, size_t *cnt)
{
    size_t c = 0;
    for (size_t j = 0; j < m; j++) {
        float s = sim[map[j]];
        if (c == k && !(s > top_s[k - 1]))
            continue;
        size_t at = c < k ? c++ : k - 1;
        for (; at > 0 && s > top_s[at - 1]; at--) {
            top_s[at] = top_s[at - 1];
            top_j[at] = top_j[at - 1];
        }
        top_s[at] = s;
        top_j[at] = (uint32_t)j;
    }
    *cnt = c;
}

/* out[idx[i]] for the n test pairs idx of one user, whose memory is pairs
 * [lo, hi). */
static int score_user(const rag *r, const pair_set *ps, int which, const uint32_t *idx,
                      size_t n, size_t lo, size_t hi, scratch *s, float *out, ppr_err *e)
{
    size_t m = hi - lo, dim = r->base.dim, k = r->k < m ? r->k : m;
    const uint32_t *mem = r->rows + 3 * lo; /* [m][3] */
    if (mem_grow((void **)&s->keys, &s->cap_keys, m > n ? m : n, sizeof *s->keys) ||
        mem_grow((void **)&s->mem_map, &s->cap_mem_map, m, sizeof *s->mem_map) ||
        mem_grow((void **)&s->mem_rows, &s->cap_mem_rows, m, sizeof *s->mem_rows) ||
        mem_grow((void **)&s->test_order, &s->cap_test_order, n, sizeof *s->test_order) ||
        mem_grow((void **)&s->test_map, &s->cap_test_map, n, sizeof *s->test_map) ||
        mem_grow((void **)&s->test_rows, &s->cap_test_rows, n, sizeof *s->test_rows) ||
        mem_grow((void **)&s->w, &s->cap_w, dim, sizeof *s->w) ||
        mem_grow((void **)&s->top_s, &s->cap_top_s, k, sizeof *s->top_s) ||
        mem_grow((void **)&s->top_j, &s->cap_top_j, k, sizeof *s->top_j))
        return err_nomem(e);
    for (size_t j = 0; j < m; j++)
        s->keys[j] = (uint64_t)mem[3 * j] << 32 | j;
    size_t q = distinct_rows(s->keys, m, NULL, s->mem_map, s->mem_rows);
    for (size_t i = 0; i < n; i++)
        s->keys[i] = (uint64_t)ps->rows[3 * (size_t)idx[i]] << 32 | i;
    size_t t = distinct_rows(s->keys, n, s->test_order, s->test_map, s->test_rows);
    size_t block = RAG_BLOCK_FLOATS / q ? RAG_BLOCK_FLOATS / q : 1;
    block = block < t ? block : t;
    if (mem_grow((void **)&s->mem_unit, &s->cap_mem_unit, q * dim, sizeof *s->mem_unit) ||
        mem_grow((void **)&s->test_unit, &s->cap_test_unit, block * dim, sizeof *s->test_unit) ||
        mem_grow((void **)&s->sim, &s->cap_sim, block * q, sizeof *s->sim))
        return err_nomem(e);
    int rc = rows_unit(ps->matrix, ps->dim, s->mem_rows, q, s->mem_unit, e);
    size_t a = 0; /* the next test pair in test_order */
    for (size_t t0 = 0; t0 < t && rc == PPR_OK; t0 += block) {
        size_t tb = t - t0 < block ? t - t0 : block;
        if ((rc = rows_unit(ps->matrix, ps->dim, s->test_rows + t0, tb, s->test_unit, e)))
            break;
        /* sim [tb][q] = test_unit [tb][dim] mem_unit^T, mem_unit [q][dim] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)tb, (int)q, (int)dim, 1.0f,
                    s->test_unit, (int)dim, s->mem_unit, (int)dim, 0.0f, s->sim, (int)q);
        for (size_t p = 0; p < tb && rc == PPR_OK; p++) {
            size_t cnt;
            top_k(s->sim + p * q, s->mem_map, m, k, s->top_s, s->top_j, &cnt);
            memset(s->w, 0, dim * sizeof *s->w);
            for (size_t c = 0; c < cnt; c++) {
                const uint32_t *pair = mem + 3 * (size_t)s->top_j[c];
                cblas_saxpy((int)dim, s->top_s[c], ps->matrix + (size_t)pair[1] * dim, 1, s->w,
                            1);
                cblas_saxpy((int)dim, -s->top_s[c], ps->matrix + (size_t)pair[2] * dim, 1, s->w,
                            1);
            }
            for (; rc == PPR_OK && a < n && s->test_map[s->test_order[a]] == t0 + p; a++) {
                uint32_t i = idx[s->test_order[a]], y = ps->rows[3 * (size_t)i + 1 + which];
                out[i] = cblas_sdot((int)dim, s->w, 1, ps->matrix + (size_t)y * dim, 1);
                if (!isfinite(out[i]))
                    rc = err_set(e, PPR_EINPUT, "pair %u's score is not finite: its response "
                                 "row %u or a retrieved pair's rows hold a non-finite value", i,
                                 y);
            }
        }
    }
    return rc;
}

static int rag_score(method *m, const pair_set *ps, int which, float *out, ppr_err *e)
{
    rag *r = (rag *)m;
    if (which != 0 && which != 1)
        return err_set(e, PPR_EINTERNAL, "score: which is %d, not 0 or 1", which);
    int rc = rag_check(r, ps, 0, 1, e);
    for (size_t i = 0; i < ps->n && rc == PPR_OK; i++)
        if (!rag_serves(m, ps->user[i]))
            rc = err_set(e, PPR_EINPUT, "user %u (pair %zu) has no memory pairs: rag does not "
                         "serve it", ps->user[i], i);
    if (rc || ps->n == 0)
        return rc ? err_wrap(e, "scoring rag") : PPR_OK;
    uint32_t *order = malloc(ps->n * sizeof *order);                     /* [n] */
    size_t *start = malloc(((size_t)ps->n_users + 1) * sizeof *start);   /* [n_users + 1] */
    scratch s;
    memset(&s, 0, sizeof s);
    if (!order || !start)
        rc = err_nomem(e);
    if (rc == PPR_OK)
        pairs_group(ps->user, ps->n, ps->n_users, order, start);
    for (uint32_t u = 0; u < ps->n_users && rc == PPR_OK; u++) {
        size_t lo, hi;
        if (start[u + 1] == start[u])
            continue;
        memory_range(r, u, &lo, &hi);
        rc = score_user(r, ps, which, order + start[u], start[u + 1] - start[u], lo, hi, &s,
                        out, e);
    }
    scratch_release(&s);
    free(order);
    free(start);
    return rc ? err_wrap(e, "scoring rag") : PPR_OK;
}

const method_ops rag_ops = {
    .create = rag_create,
    .load = rag_load,
    .body_size = rag_body_size,
    .save = rag_save,
    .settings = rag_settings,
    .train = rag_train,
    .score = rag_score,
    .adapt = rag_adapt,
    .serves = rag_serves,
    .free = rag_free,
    .no_epochs = 1,
};
