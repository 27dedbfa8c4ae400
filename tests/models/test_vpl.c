/* test_vpl.c: VPL (common/models/vpl.c) on pairs generated here: the KL
 * term and its annealing against hand values; the whole minibatch loss's
 * gradient against finite differences; two users of opposite tastes, whose
 * posterior means must separate and whom VPL must serve where Vanilla cannot;
 * adaptation; determinism and the model file's round trip; the users it does
 * not serve and the settings it refuses. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/models/evaluate.h"
#include "common/models/method.h"
#include "common/models/modelfile.h"
#include "common/models/vpl.h"
#include "common/rng.h"
#include "common/sha256.h"
#include "tests/testlib.h"

#define MAX_DIM 16

/* Users' pairs whose truth is known: user k's utility of a response is
 * theta_k . phi(response), and the chosen response is always the one of
 * higher utility (so the Bayes-optimal accuracy is 1). Each pair has its
 * own prompt and responses, features U(-1, 1) / sqrt(dim). */
typedef struct {
    pair_set ps;
    float *matrix;  /* [3 n][dim] */
    uint32_t *rows; /* [n][3] */
    uint32_t *user; /* [n] */
} users_set;

/* n_per pairs of each of the k users first .. first + k - 1, utilities theta
 * [k][dim], pair i being user first + i % k's; the set has first + k users. */
static users_set users_make(uint32_t dim, const double *theta, uint32_t k, uint32_t first,
                            size_t n_per, uint64_t seed)
{
    users_set s;
    size_t n = n_per * k;
    s.matrix = malloc(3 * n * dim * sizeof *s.matrix);
    s.rows = malloc(3 * n * sizeof *s.rows);
    s.user = malloc(n * sizeof *s.user);
    CU_ASSERT_FATAL(s.matrix && s.rows && s.user);
    rng r;
    rng_seed(&r, seed, 0);
    for (size_t i = 0; i < 3 * n * dim; i++)
        s.matrix[i] = (float)((2 * rng_uniform(&r) - 1) / sqrt(dim));
    for (size_t i = 0; i < n; i++) {
        const double *w = theta + (i % k) * dim;
        double gap = 0; /* u(a) - u(b) */
        for (uint32_t c = 0; c < dim; c++)
            gap += w[c] * (s.matrix[(3 * i + 1) * dim + c] - s.matrix[(3 * i + 2) * dim + c]);
        s.rows[3 * i] = (uint32_t)(3 * i);
        s.rows[3 * i + 1] = (uint32_t)(3 * i + (gap > 0 ? 1 : 2));
        s.rows[3 * i + 2] = (uint32_t)(3 * i + (gap > 0 ? 2 : 1));
        s.user[i] = first + (uint32_t)(i % k);
    }
    s.ps = (pair_set){s.matrix, dim, s.rows, s.user, n, first + k, NULL};
    return s;
}

static void users_free(users_set *s)
{
    free(s->matrix);
    free(s->rows);
    free(s->user);
}

/* theta [2][dim]: a random unit w and -w. */
static void opposite(double *theta, uint32_t dim, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed, 1);
    double norm = 0;
    for (uint32_t c = 0; c < dim; c++) {
        theta[c] = rng_normal(&r);
        norm += theta[c] * theta[c];
    }
    for (uint32_t c = 0; c < dim; c++) {
        theta[c] /= sqrt(norm);
        theta[dim + c] = -theta[c];
    }
}

/* A VPL architecture; settings_of writes it as a slice's sections. */
typedef struct {
    uint32_t latent, hidden, context_min, context_max, duplicates;
    double kl_weight;
    uint64_t anneal_steps;
} vpl_cfg;

static vpl_cfg cfg_small(void)
{
    return (vpl_cfg){.latent = 8, .hidden = 32, .context_min = 2, .context_max = 4,
                     .duplicates = 4, .kl_weight = 3e-6, .anneal_steps = 10000};
}

static cJSON *settings_of(const vpl_cfg *c)
{
    char text[512];
    snprintf(text, sizeof text,
             "{\"head\": {\"hidden\": [32]}, \"vpl\": {\"latent\": %u, \"hidden\": %u, "
             "\"context_min\": %u, \"context_max\": %u, \"duplicates\": %u, \"kl_weight\": %.17g, "
             "\"anneal_steps\": %llu, \"lr\": 1e-4, \"schedule\": \"cosine\"}}",
             c->latent, c->hidden, c->context_min, c->context_max, c->duplicates, c->kl_weight,
             (unsigned long long)c->anneal_steps);
    cJSON *s = cJSON_Parse(text);
    CU_ASSERT_FATAL(s != NULL);
    return s;
}

static method *model_new(const char *name, uint32_t dim, uint32_t n_users, const vpl_cfg *c,
                         uint64_t seed)
{
    cJSON *s = settings_of(c);
    method *m = NULL;
    ppr_err e = {0};
    int rc = method_new(&m, name, dim, n_users, s, seed, &e);
    if (rc)
        fprintf(stderr, "\n  %s\n", e.msg);
    CU_ASSERT_EQUAL_FATAL(rc, PPR_OK);
    cJSON_Delete(s);
    return m;
}

static optim_settings optim_test(void)
{
    return (optim_settings){.lr = 3e-3, .weight_decay = 1e-3, .clip = 1.0, .warmup_ratio = 0.03,
                            .batch = 32, .epochs = 10, .cosine = 1, .seed = 7};
}

static method *trained(const char *name, const users_set *s, const vpl_cfg *c,
                       const optim_settings *o)
{
    method *m = model_new(name, s->ps.dim, s->ps.n_users, c, o->seed);
    ppr_err e = {0};
    int rc = method_train(m, &s->ps, o, &e);
    if (rc)
        fprintf(stderr, "\n  %s\n", e.msg);
    CU_ASSERT_EQUAL_FATAL(rc, PPR_OK);
    return m;
}

/* ================ the KL term ================ */

static void test_anneal_kl(void)
{
    /* 0.1 + 0.9 (cos(pi (x - 1)) + 1) / 2 at x = 0, 1/2, 3/4 and a full cycle */
    CU_ASSERT_DOUBLE_EQUAL(vpl_anneal(0, 10000), 0.1, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(vpl_anneal(5000, 10000), 0.55, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(vpl_anneal(7500, 10000), 0.1 + 0.45 * (1 + sqrt(0.5)), 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(vpl_anneal(10000, 10000), 0.1, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(vpl_anneal(12500, 10000), vpl_anneal(2500, 10000), 1e-12);
    /* mu (0.5, -0.2), logvar (0.3, -0.4): KL = -0.5 ((1 + 0.3 - 0.25 - e^0.3) + (1 - 0.4 -
     * 0.04 - e^-0.4)) = -0.5 (-0.2998588 - 0.1103200) = 0.2050894; dKL/dmu = mu,
     * dKL/dlogvar = (e^logvar - 1) / 2 = (0.1749294, -0.1648400), here times 2 */
    const float mu[2] = {0.5f, -0.2f}, lv[2] = {0.3f, -0.4f};
    float dmu[2] = {1, 0}, dlv[2] = {0, 1}; /* added to */
    double kl = vpl_kl(mu, lv, 2, 2.0f, dmu, dlv);
    CU_ASSERT_DOUBLE_EQUAL(kl, 0.2050894, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(dmu[0], 1 + 1.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(dmu[1], -0.4, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(dlv[0], 0.3498588, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(dlv[1], 1 - 0.3296800, 1e-6);
    /* at the prior (mu 0, logvar 0) it is 0, and so is its gradient */
    const float zero[2] = {0, 0};
    float g[2] = {0, 0}, h[2] = {0, 0};
    CU_ASSERT_DOUBLE_EQUAL(vpl_kl(zero, zero, 2, 1.0f, g, h), 0, 1e-12);
    CU_ASSERT(g[0] == 0 && g[1] == 0 && h[0] == 0 && h[1] == 0);
}

/* ================ the gradient ================ */

#define FD_SEED 99
#define FD_CALL 3

static double loss_at(method *m, const pair_set *ps, const uint32_t *rows, size_t b,
                      size_t *clamped)
{
    double loss = NAN;
    ppr_err e = {0};
    int rc = vpl_batch_loss(m, ps, rows, b, FD_SEED, FD_CALL, 0, &loss, clamped, &e);
    if (rc)
        fprintf(stderr, "\n  %s\n", e.msg);
    CU_ASSERT_EQUAL_FATAL(rc, PPR_OK);
    return loss;
}

/* Every parameter's derivative of one minibatch's loss (its contexts and
 * noise fixed by the seed and call) against central differences. The
 * forward pass is float, the loss (about 1) known to about 1e-7, so a
 * difference at step h carries a rounding error near 1e-7 / h (1e-5 at h =
 * 1e-2, 3e-4 at 3e-4) beside its h^2 term; a LeakyReLU kink between the two
 * points spoils it (one here lies within 1e-3 of a parameter's value), so a
 * parameter passes when the central difference at any of four steps agrees
 * within 1% (of at least 1e-3). */
static void gradient_check(uint32_t dim, const vpl_cfg *c, uint64_t seed)
{
    double theta[3 * MAX_DIM];
    rng r;
    rng_seed(&r, seed, 2);
    for (uint32_t i = 0; i < 3 * dim; i++)
        theta[i] = rng_normal(&r);
    users_set s = users_make(dim, theta, 3, 0, 6, seed);
    method *m = model_new("vpl", dim, 3, c, seed);
    trainer_task t;
    ppr_err e = {0};
    CU_ASSERT_EQUAL_FATAL(method_task(m, &s.ps, &t, &e), PPR_OK);
    /* rows 18 and 22 are pairs 0 and 4 again, with other contexts */
    const uint32_t rows[] = {0, 4, 7, 11, 13, 17, 18, 22};
    size_t b = sizeof rows / sizeof *rows, clamped;
    double loss;
    memset(t.grads, 0, t.n * sizeof *t.grads);
    CU_ASSERT_EQUAL_FATAL(
        vpl_batch_loss(m, &s.ps, rows, b, FD_SEED, FD_CALL, 1, &loss, &clamped, &e), PPR_OK);
    CU_ASSERT(clamped == 0); /* the clamps pass the gradient through */
    CU_ASSERT_DOUBLE_EQUAL(loss, loss_at(m, &s.ps, rows, b, NULL), 0); /* same contexts */
    const double steps[4] = {1e-2, 3e-3, 1e-3, 3e-4};
    double worst = 0, largest = 0;
    size_t failed = 0;
    for (size_t j = 0; j < t.n; j++) {
        float keep = t.params[j];
        double best = INFINITY, fd_best = 0;
        for (int k = 0; k < 4; k++) {
            float up_at = (float)(keep + steps[k]), down_at = (float)(keep - steps[k]);
            t.params[j] = up_at;
            double up = loss_at(m, &s.ps, rows, b, NULL);
            t.params[j] = down_at;
            double down = loss_at(m, &s.ps, rows, b, NULL);
            double fd = (up - down) / ((double)up_at - down_at);
            if (fabs(fd - t.grads[j]) < best) {
                best = fabs(fd - t.grads[j]);
                fd_best = fd;
            }
        }
        t.params[j] = keep;
        double rel = best / fmax(fabs(fd_best), 1e-3);
        worst = fmax(worst, rel);
        largest = fmax(largest, fabs(fd_best));
        if (rel > 1e-2) {
            fprintf(stderr, "\n  parameter %zu of %zu: finite difference %.6g, gradient %.6g", j,
                    t.n, fd_best, t.grads[j]);
            failed++;
        }
    }
    fprintf(stderr, "\n  %zu parameters, loss %.4f: worst relative difference %.2g "
            "(floor 1e-3), largest derivative %.2g", t.n, loss, worst, largest);
    CU_ASSERT(failed == 0);
    CU_ASSERT(largest > 1e-2); /* the check saw real gradients */
    method_free(m);
    users_free(&s);
}

static void test_gradient(void)
{
    /* a strong KL weight at call 3 of 8 (anneal 0.1 + 0.9 (cos(5 pi / 8) + 1) / 2), so
     * the KL part of the gradient counts */
    vpl_cfg c = {.latent = 3, .hidden = 5, .context_min = 2, .context_max = 4, .duplicates = 2,
                 .kl_weight = 0.5, .anneal_steps = 8};
    gradient_check(4, &c, 31);
    c = (vpl_cfg){.latent = 6, .hidden = 4, .context_min = 1, .context_max = 5, .duplicates = 3,
                  .kl_weight = 2.0, .anneal_steps = 5};
    gradient_check(7, &c, 32);
}

/* ================ two users of opposite tastes ================ */

/* acc [n_users]: m's strict accuracy per user on s; returns their mean. */
static double accuracy(method *m, const users_set *s, double *acc)
{
    uint64_t correct[4], total[4];
    ppr_err e = {0};
    CU_ASSERT_FATAL(s->ps.n_users <= 4);
    CU_ASSERT_EQUAL_FATAL(evaluate_counts(m, &s->ps, correct, total, &e), PPR_OK);
    double mean = 0;
    for (uint32_t u = 0; u < s->ps.n_users; u++) {
        acc[u] = total[u] ? (double)correct[u] / (double)total[u] : NAN;
        mean += acc[u] / s->ps.n_users;
    }
    return mean;
}

#define CONTEXTS 40 /* posterior means per user: half to place the boundary, half to test it */

/* User A (theta) and user B (-theta) order every pair in opposite ways, so a
 * reward that does not know the user is right for one exactly when it is
 * wrong for the other: Vanilla's mean accuracy is 0.5 up to the test pairs'
 * sampling. VPL's z must carry the user: the posterior means of A's contexts
 * and of B's must fall on two sides of a hyperplane. The hyperplane (normal
 * mean_A - mean_B, through their midpoint) is placed with 20 contexts of each
 * user and tested on 20 others, all from pairs the model never saw. */
static void test_opposite_users(void)
{
    const uint32_t dim = 8;
    double theta[2 * 8];
    opposite(theta, dim, 41);
    users_set tr = users_make(dim, theta, 2, 0, 400, 42);
    users_set te = users_make(dim, theta, 2, 0, 1000, 43);
    vpl_cfg c = cfg_small();
    optim_settings o = optim_test();
    method *v = trained("vpl", &tr, &c, &o), *van = trained("vanilla", &tr, &c, &o);
    size_t d = c.latent, L = c.context_max;
    float *mu = malloc(2 * CONTEXTS * d * sizeof *mu); /* [user][context][latent] */
    uint32_t ctx[16];
    ppr_err e = {0};
    CU_ASSERT_FATAL(mu != NULL && L <= 16);
    for (uint32_t u = 0; u < 2; u++)
        for (size_t k = 0; k < CONTEXTS; k++) {
            for (size_t i = 0; i < L; i++) /* user u's pairs are u, u + 2, ...: disjoint contexts */
                ctx[i] = (uint32_t)(u + 2 * (k * L + i));
            CU_ASSERT_EQUAL_FATAL(
                vpl_posterior(v, &te.ps, ctx, L, mu + (u * CONTEXTS + k) * d, NULL, &e), PPR_OK);
        }
    double mean[2][16] = {{0}}, normal[16], mid[16];
    for (uint32_t u = 0; u < 2; u++)
        for (size_t k = 0; k < CONTEXTS / 2; k++)
            for (size_t c2 = 0; c2 < d; c2++)
                mean[u][c2] += mu[(u * CONTEXTS + k) * d + c2] / (CONTEXTS / 2);
    for (size_t c2 = 0; c2 < d; c2++) {
        normal[c2] = mean[0][c2] - mean[1][c2];
        mid[c2] = (mean[0][c2] + mean[1][c2]) / 2;
    }
    double lowest_a = INFINITY, highest_b = -INFINITY;
    for (uint32_t u = 0; u < 2; u++)
        for (size_t k = CONTEXTS / 2; k < CONTEXTS; k++) {
            double side = 0;
            for (size_t c2 = 0; c2 < d; c2++)
                side += (mu[(u * CONTEXTS + k) * d + c2] - mid[c2]) * normal[c2];
            if (u == 0)
                lowest_a = fmin(lowest_a, side);
            else
                highest_b = fmax(highest_b, side);
        }
    double half = 0;
    for (size_t c2 = 0; c2 < d; c2++)
        half += normal[c2] * normal[c2] / 2; /* the side of mean_A itself */
    fprintf(stderr, "\n  held-out contexts: A's lowest side %.4f, B's highest %.4f (means at "
            "+-%.4f)", lowest_a, highest_b, half);
    CU_ASSERT(lowest_a > 0 && highest_b < 0);

    double acc_v[2], acc_van[2];
    double mean_v = accuracy(v, &te, acc_v), mean_van = accuracy(van, &te, acc_van);
    fprintf(stderr, "\n  accuracy: vpl %.4f (A %.4f, B %.4f), vanilla %.4f (A %.4f, B %.4f)",
            mean_v, acc_v[0], acc_v[1], mean_van, acc_van[0], acc_van[1]);
    /* Vanilla at 0.5 +- 0.05: 2000 test pairs put its sampling error near 0.01 */
    CU_ASSERT(fabs(mean_van - 0.5) <= 0.05);
    /* The truth orders every pair (Bayes-optimal 1): a model that knows the
     * user is held to 0.85, 0.35 above what one blind to the user can get,
     * leaving room for what 400 pairs a user teach a 32-wide decoder. */
    CU_ASSERT(acc_v[0] >= 0.85 && acc_v[1] >= 0.85);

    /* a new user like A from 8 pairs, then the same user from 8 pairs of B's
     * taste: adapting again replaces z, and the accuracy on A's taste flips */
    users_set k_a = users_make(dim, theta, 1, 2, 8, 44), k_b = users_make(dim, theta + dim, 1, 2,
                                                                          8, 45);
    users_set te_new = users_make(dim, theta, 1, 2, 1000, 46);
    double acc[3];
    CU_ASSERT(!method_serves(v, 2));
    CU_ASSERT_EQUAL_FATAL(method_adapt(v, &k_a.ps, 2, &o, &e), PPR_OK);
    CU_ASSERT(method_serves(v, 2));
    accuracy(v, &te_new, acc);
    double as_a = acc[2];
    CU_ASSERT_EQUAL_FATAL(method_adapt(v, &k_b.ps, 2, &o, &e), PPR_OK);
    accuracy(v, &te_new, acc);
    fprintf(stderr, "\n  new user of A's taste: from 8 of A's pairs %.4f, from 8 of B's %.4f",
            as_a, acc[2]);
    CU_ASSERT(as_a >= 0.85 && acc[2] <= 0.15); /* B's taste is A's reversed: 1 - 0.85 */
    free(mu);
    method_free(v);
    method_free(van);
    users_free(&tr);
    users_free(&te);
    users_free(&k_a);
    users_free(&k_b);
    users_free(&te_new);
}

/* ================ determinism and the model file ================ */

/* A small trained model with one adapted user (2), saved into *payload. */
static method *saved_model(uint64_t seed, void **payload, size_t *n)
{
    double theta[2 * 6];
    opposite(theta, 6, 51);
    users_set tr = users_make(6, theta, 2, 0, 30, 52), k = users_make(6, theta, 1, 2, 5, 53);
    vpl_cfg c = cfg_small();
    optim_settings o = optim_test();
    o.epochs = 2;
    o.seed = seed;
    method *m = trained("vpl", &tr, &c, &o);
    ppr_err e = {0};
    CU_ASSERT_EQUAL_FATAL(method_adapt(m, &k.ps, 2, &o, &e), PPR_OK);
    CU_ASSERT_EQUAL_FATAL(method_save(m, payload, n, &e), PPR_OK);
    users_free(&tr);
    users_free(&k);
    return m;
}

static void test_determinism(void)
{
    void *p1, *p2, *p3, *again;
    size_t n1, n2, n3, n_again;
    method *m1 = saved_model(7, &p1, &n1), *m2 = saved_model(7, &p2, &n2);
    method *m3 = saved_model(8, &p3, &n3), *back = NULL;
    CU_ASSERT(n1 == n2 && memcmp(p1, p2, n1) == 0);
    CU_ASSERT(n1 == n3 && memcmp(p1, p3, n1) != 0); /* another seed: other bits */
    ppr_err e = {0};
    CU_ASSERT_EQUAL_FATAL(method_load(&back, p1, n1, "model", &e), PPR_OK);
    CU_ASSERT_STRING_EQUAL(back->name, "vpl");
    CU_ASSERT(back->dim == 6 && back->n_users == 2);
    double theta[3 * 6];
    opposite(theta, 6, 54);
    memcpy(theta + 12, theta, 6 * sizeof *theta);
    users_set all = users_make(6, theta, 3, 0, 20, 55); /* users 0, 1 and the adapted 2 */
    float r1[60], r2[60]; /* [all.ps.n] */
    for (int which = 0; which < 2; which++) {
        CU_ASSERT_EQUAL_FATAL(method_score(m1, &all.ps, which, r1, &e), PPR_OK);
        CU_ASSERT_EQUAL_FATAL(method_score(back, &all.ps, which, r2, &e), PPR_OK);
        CU_ASSERT(memcmp(r1, r2, sizeof r1) == 0);
    }
    CU_ASSERT_EQUAL_FATAL(method_save(back, &again, &n_again, &e), PPR_OK);
    CU_ASSERT(n_again == n1 && memcmp(again, p1, n1) == 0);
    free(again);
    free(p1);
    free(p2);
    free(p3);
    method_free(m1);
    method_free(m2);
    method_free(m3);
    method_free(back);
    users_free(&all);
}

/* Bytes of a model file before its digest (modelfile.h). */
static size_t digest_at(const void *payload)
{
    modelfile_header h;
    memcpy(&h, payload, sizeof h);
    return sizeof h + (size_t)((h.shape_bytes + 7) & ~7ULL);
}

/* payload with the 4 or 8 bytes at `at` replaced by v, digest redone: its
 * load error must contain expect. */
static void refused(const void *payload, size_t n, size_t at, const void *v, size_t size,
                    const char *expect)
{
    unsigned char *p = malloc(n);
    CU_ASSERT_FATAL(p != NULL);
    memcpy(p, payload, n);
    memcpy(p + at, v, size);
    size_t end = digest_at(p);
    sha256_buf(p, end, p + end);
    method *m = NULL;
    ppr_err e = {0};
    CU_ASSERT_EQUAL(method_load(&m, p, n, "model-x", &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, expect) && err_has(&e, "model-x"));
    method_free(m);
    free(p);
}

/* The shape after the 96-byte header: latent, hidden, context_min,
 * context_max, duplicates, n_served, n_adapted, reserved (uint32 each),
 * anneal_steps, kl_weight, then the served ids (0, 1, 2 here). */
static void test_corrupt(void)
{
    void *payload;
    size_t n;
    method *m = saved_model(7, &payload, &n);
    CU_ASSERT(digest_at(payload) == 96 + 48 + 16); /* 3 ids, padded to 8 */
    uint32_t two = 2, four = 4, nine = 9, one = 1;
    double minus = -1;
    refused(payload, n, 96 + 24, &four, 4, "malformed");     /* n_adapted > n_served */
    refused(payload, n, 96 + 28, &one, 4, "malformed");      /* reserved */
    refused(payload, n, 96 + 20, &two, 4, "malformed");      /* n_served: the shape's size */
    refused(payload, n, 96 + 48, &two, 4, "out of order");   /* ids 2, 1, 2 */
    refused(payload, n, 96 + 56, &one, 4, "out of order");   /* the adapted id 1 < n_users */
    refused(payload, n, 96 + 40, &minus, 8, "kl_weight");
    refused(payload, n, 96 + 8, &nine, 4, "context_min");    /* 9 > context_max 4 */
    refused(payload, n, 96 + 4, &(uint32_t){0}, 4, "hidden");
    refused(payload, n, 96 + 0, &two, 4, "sizes disagree");  /* latent 2: other sizes */
    free(payload);
    method_free(m);
}

/* ================ users it does not serve; settings it refuses ================ */

static void test_unserved(void)
{
    double theta[3 * 6];
    opposite(theta, 6, 61);
    memcpy(theta + 12, theta, 6 * sizeof *theta);
    users_set s = users_make(6, theta, 3, 0, 30, 62);
    for (size_t i = 0, kept = 0; i < s.ps.n; i++) /* user 2 keeps 3 pairs, fewer than 4 */
        if (s.user[i] == 2 && kept++ >= 3)
            s.user[i] = (uint32_t)(i / 3 % 2);
    vpl_cfg c = cfg_small();
    optim_settings o = optim_test();
    o.epochs = 1;
    method *m = trained("vpl", &s, &c, &o);
    CU_ASSERT(method_serves(m, 0) && method_serves(m, 1) && !method_serves(m, 2));
    float r[90];
    ppr_err e = {0};
    CU_ASSERT_EQUAL(method_score(m, &s.ps, 0, r, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "user 2") && err_has(&e, "not served"));
    uint64_t correct[3], total[3]; /* evaluation never scores user 2's pairs */
    CU_ASSERT_EQUAL(evaluate_counts(m, &s.ps, correct, total, &e), PPR_OK);
    users_set k = users_make(6, theta, 1, 2, 4, 63);
    CU_ASSERT_EQUAL(method_adapt(m, &k.ps, 1, &o, &e), PPR_EINPUT); /* a training user */
    k.ps.n = 0;
    CU_ASSERT_EQUAL(method_adapt(m, &k.ps, 3, &o, &e), PPR_EINPUT);
    CU_ASSERT_EQUAL(method_init_from(m, m, &e), PPR_EINPUT);
    method_free(m);
    /* nobody with context_max pairs: nobody to serve */
    s.ps.n = 9;
    m = model_new("vpl", 6, 3, &c, 1);
    CU_ASSERT_EQUAL(method_train(m, &s.ps, &o, &e), PPR_EINPUT);
    CU_ASSERT(err_has(&e, "context_max"));
    method_free(m);
    users_free(&s);
    users_free(&k);
}

/* method_new on settings text: PPR_EINPUT naming key, or PPR_OK. */
static int create_rc(const char *vpl_section, const char *key)
{
    char text[512];
    snprintf(text, sizeof text, "{\"vpl\": {%s}}", vpl_section);
    cJSON *s = cJSON_Parse(text);
    CU_ASSERT_FATAL(s != NULL);
    method *m = NULL;
    ppr_err e = {0};
    int rc = method_new(&m, "vpl", 4, 2, s, 1, &e);
    if (key)
        CU_ASSERT(rc == PPR_EINPUT && err_has(&e, key));
    method_free(m);
    cJSON_Delete(s);
    return rc;
}

static void test_bad_settings(void)
{
    const char *base = "\"latent\": %s, \"hidden\": %s, \"context_min\": %s, "
                       "\"context_max\": %s, \"duplicates\": %s, \"kl_weight\": %s, "
                       "\"anneal_steps\": %s";
    static const struct {
        const char *v[7], *key;
    } cases[] = {
        {{"4", "4", "2", "8", "4", "3e-6", "10000"}, NULL},
        {{"0", "4", "2", "8", "4", "3e-6", "10000"}, "latent"},
        {{"4", "0", "2", "8", "4", "3e-6", "10000"}, "hidden"},
        {{"4", "4", "9", "8", "4", "3e-6", "10000"}, "context_min"},
        {{"4", "4", "0", "8", "4", "3e-6", "10000"}, "context_min"},
        {{"4", "4", "2", "8", "0", "3e-6", "10000"}, "duplicates"},
        {{"4", "4", "2", "8", "4", "-1e-3", "10000"}, "kl_weight"},
        {{"4", "4", "2", "8", "4", "3e-6", "0"}, "anneal_steps"},
        {{"4", "4.5", "2", "8", "4", "3e-6", "10000"}, "hidden"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char section[400];
        snprintf(section, sizeof section, base, cases[i].v[0], cases[i].v[1], cases[i].v[2],
                 cases[i].v[3], cases[i].v[4], cases[i].v[5], cases[i].v[6]);
        int rc = create_rc(section, cases[i].key);
        CU_ASSERT(cases[i].key || rc == PPR_OK);
    }
    create_rc("\"latent\": 4, \"hidden\": 4, \"context_min\": 2, \"context_max\": 8, "
              "\"duplicates\": 4, \"kl_weight\": 0",
              "anneal_steps"); /* missing */
    /* the optimizer overrides a section may hold are not architecture */
    vpl_cfg c = cfg_small();
    method *m = model_new("vpl", 4, 2, &c, 1);
    unsigned char with[SHA256_LEN], without[SHA256_LEN];
    ppr_err e = {0};
    CU_ASSERT_EQUAL(method_settings_digest(m, with, &e), PPR_OK);
    cJSON *s = m->ops->settings(m);
    char *text = cJSON_PrintUnformatted(s);
    CU_ASSERT(strstr(text, "lr") == NULL && strstr(text, "schedule") == NULL);
    method *plain = NULL;
    CU_ASSERT_EQUAL_FATAL(method_new(&plain, "vpl", 4, 2, s, 2, &e), PPR_OK);
    CU_ASSERT_EQUAL(method_settings_digest(plain, without, &e), PPR_OK);
    CU_ASSERT(memcmp(with, without, SHA256_LEN) == 0);
    cJSON_free(text);
    cJSON_Delete(s);
    method_free(m);
    method_free(plain);
}

int main(void)
{
    static const test_case cases[] = {
        {"the KL term, its gradient and its annealing: hand values", test_anneal_kl},
        {"the minibatch loss's gradient matches finite differences", test_gradient},
        {"opposite users: posterior means separate, vpl serves both", test_opposite_users},
        {"same seed, same bytes; saved, loaded and scored: the same bits", test_determinism},
        {"a corrupt shape is refused, naming what", test_corrupt},
        {"users with too few pairs are not served; adapt's refusals", test_unserved},
        {"bad settings are refused naming the key", test_bad_settings},
        {NULL, NULL},
    };
    return test_main("models: vpl", NULL, NULL, cases, CU_BRM_VERBOSE);
}
