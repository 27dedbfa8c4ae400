/* prefs.c: building and validating preference dataset payloads. */
#include "prefs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "sha256.h"

_Static_assert(sizeof(prefs_header) == 88, "prefs_header layout");
_Static_assert(sizeof(prefs_row) == 24, "prefs_row layout");
_Static_assert(sizeof(prefs_user) == 8, "prefs_user layout");

struct prefs_builder {
    char *names;
    size_t names_len, names_cap;
    prefs_user *users;
    size_t n_users, users_cap;
    uint64_t *offs;        /* [n_texts + 1] */
    unsigned char *hashes; /* [n_texts][32] */
    size_t n_texts, offs_cap, hashes_cap;
    char *blob;
    size_t blob_len, blob_cap;
    uint32_t *slots; /* open-addressing table of text id + 1, keyed by hash */
    size_t n_slots;
    prefs_row *rows;
    size_t n_rows, rows_cap;
    uint64_t *points; /* [n_rows] where each row's split key falls in [0, 2^64) */
    size_t points_cap;
    int interleave;   /* finish interleaves the users' rows */
};

prefs_builder *prefs_builder_new(void)
{
    prefs_builder *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->offs = malloc(sizeof *b->offs);
    b->offs_cap = 1;
    b->n_slots = 1024;
    b->slots = calloc(b->n_slots, sizeof *b->slots);
    if (!b->offs || !b->slots) {
        prefs_builder_free(b);
        return NULL;
    }
    b->offs[0] = 0;
    return b;
}

void prefs_builder_free(prefs_builder *b)
{
    if (!b)
        return;
    free(b->names);
    free(b->users);
    free(b->offs);
    free(b->hashes);
    free(b->blob);
    free(b->slots);
    free(b->rows);
    free(b->points);
    free(b);
}

int64_t prefs_builder_user(prefs_builder *b, const char *name, uint32_t pool)
{
    size_t len = strlen(name) + 1;
    if (mem_grow((void **)&b->names, &b->names_cap, b->names_len + len, 1) ||
        mem_grow((void **)&b->users, &b->users_cap, b->n_users + 1, sizeof *b->users))
        return -1;
    b->users[b->n_users].name_off = (uint32_t)b->names_len;
    b->users[b->n_users].pool = pool;
    memcpy(b->names + b->names_len, name, len);
    b->names_len += len;
    return (int64_t)b->n_users++;
}

static size_t slot_of(const unsigned char *hash, size_t n_slots)
{
    uint64_t h;
    memcpy(&h, hash, sizeof h);
    return (size_t)(h & (n_slots - 1));
}

static int rehash(prefs_builder *b)
{
    size_t n = b->n_slots * 2;
    uint32_t *slots = calloc(n, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t t = 0; t < b->n_texts; t++) {
        size_t i = slot_of(b->hashes + 32 * t, n);
        while (slots[i])
            i = (i + 1) & (n - 1);
        slots[i] = (uint32_t)t + 1;
    }
    free(b->slots);
    b->slots = slots;
    b->n_slots = n;
    return 0;
}

int64_t prefs_builder_text(prefs_builder *b, const char *s, size_t n)
{
    unsigned char hash[SHA256_LEN];
    sha256_buf(s, n, hash);
    size_t i = slot_of(hash, b->n_slots);
    while (b->slots[i]) {
        uint32_t t = b->slots[i] - 1;
        if (memcmp(b->hashes + 32 * (size_t)t, hash, SHA256_LEN) == 0)
            return t;
        i = (i + 1) & (b->n_slots - 1);
    }
    if (b->n_texts >= UINT32_MAX - 1)
        return -1;
    if (mem_grow((void **)&b->hashes, &b->hashes_cap, b->n_texts + 1, SHA256_LEN) ||
        mem_grow((void **)&b->offs, &b->offs_cap, b->n_texts + 2, sizeof *b->offs) ||
        mem_grow((void **)&b->blob, &b->blob_cap, b->blob_len + n + 1, 1))
        return -1;
    memcpy(b->blob + b->blob_len, s, n);
    b->blob[b->blob_len + n] = '\0';
    b->blob_len += n + 1;
    size_t t = b->n_texts++;
    memcpy(b->hashes + 32 * t, hash, SHA256_LEN);
    b->offs[t + 1] = b->blob_len;
    b->slots[i] = (uint32_t)t + 1;
    if (2 * b->n_texts > b->n_slots && rehash(b))
        return -1;
    return (int64_t)t;
}

/* The first 8 bytes of a SHA-256 as a little-endian integer: where the hashed
 * key falls in [0, 2^64), uniform over keys. */
static uint64_t point_of(const unsigned char *hash)
{
    uint64_t x = 0;
    for (int k = 7; k >= 0; k--)
        x = x << 8 | hash[k];
    return x;
}

/* Add r, split by a key whose SHA-256 is hash (NULL: the prompt text's). */
static int row_add(prefs_builder *b, const prefs_row *r, const unsigned char *hash, ppr_err *e)
{
    if (r->user >= b->n_users || r->prompt >= b->n_texts || r->chosen >= b->n_texts ||
        r->rejected >= b->n_texts || r->split > PREFS_TEST)
        return err_set(e, PPR_EINTERNAL, "prefs row refers to an unknown user, text or split");
    if (mem_grow((void **)&b->rows, &b->rows_cap, b->n_rows + 1, sizeof *b->rows) ||
        mem_grow((void **)&b->points, &b->points_cap, b->n_rows + 1, sizeof *b->points))
        return err_nomem(e);
    b->points[b->n_rows] = point_of(hash ? hash : b->hashes + 32 * (size_t)r->prompt);
    b->rows[b->n_rows++] = *r;
    return PPR_OK;
}

int prefs_builder_row(prefs_builder *b, const prefs_row *r, ppr_err *e)
{
    return row_add(b, r, NULL, e);
}

int prefs_builder_row_keyed(prefs_builder *b, const prefs_row *r, const char *key, size_t n,
                            ppr_err *e)
{
    unsigned char hash[SHA256_LEN];
    sha256_buf(key, n, hash);
    return row_add(b, r, hash, e);
}

void prefs_builder_split(prefs_builder *b, double test_fraction)
{
    for (size_t i = 0; i < b->n_rows; i++)
        b->rows[i].split =
            (double)b->points[i] * 0x1.0p-64 < test_fraction ? PREFS_TEST : PREFS_TRAIN;
}

void prefs_builder_interleave(prefs_builder *b)
{
    b->interleave = 1;
}

/* A row's place in the interleaved order: its position (k + 1/2) / n among
 * its user's n rows of its split, then user, split and insertion order. */
typedef struct {
    double pos;
    uint32_t user, split, index;
} row_place;

static int place_cmp(const void *pa, const void *pb)
{
    const row_place *a = pa, *b = pb;
    if (a->pos != b->pos)
        return a->pos < b->pos ? -1 : 1;
    if (a->user != b->user)
        return a->user < b->user ? -1 : 1;
    if (a->split != b->split)
        return a->split < b->split ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

/* Reorder b's rows as prefs_builder_interleave describes. */
static int rows_interleave(prefs_builder *b, ppr_err *e)
{
    size_t n = b->n_rows, cells = 2 * (b->n_users ? b->n_users : 1);
    size_t *count = calloc(cells, sizeof *count); /* [n_users][2] rows per user and split */
    size_t *seen = calloc(cells, sizeof *seen);   /* [n_users][2] of them placed so far */
    row_place *place = malloc((n ? n : 1) * sizeof *place);
    prefs_row *rows = malloc((n ? n : 1) * sizeof *rows);
    int rc = count && seen && place && rows ? PPR_OK : err_nomem(e);
    for (size_t i = 0; rc == PPR_OK && i < n; i++)
        count[2 * b->rows[i].user + b->rows[i].split]++;
    for (size_t i = 0; rc == PPR_OK && i < n; i++) {
        size_t c = 2 * b->rows[i].user + b->rows[i].split;
        place[i] = (row_place){((double)seen[c]++ + 0.5) / (double)count[c], b->rows[i].user,
                               b->rows[i].split, (uint32_t)i};
    }
    if (rc == PPR_OK) {
        qsort(place, n, sizeof *place, place_cmp);
        for (size_t i = 0; i < n; i++)
            rows[i] = b->rows[place[i].index];
        memcpy(b->rows, rows, n * sizeof *rows);
    }
    free(count);
    free(seen);
    free(place);
    free(rows);
    return rc;
}

static uint64_t align8(uint64_t x)
{
    return (x + 7) & ~(uint64_t)7;
}

int prefs_builder_finish(prefs_builder *b, void **payload, size_t *n, ppr_err *e)
{
    if (b->n_rows > UINT32_MAX)
        return err_set(e, PPR_EINPUT, "too many preference rows (%zu)", b->n_rows);
    int rc = b->interleave ? rows_interleave(b, e) : PPR_OK;
    if (rc)
        return rc;
    for (size_t u = 1; u < b->n_users; u++)
        if (b->users[u].pool < b->users[u - 1].pool)
            return err_set(e, PPR_EINTERNAL, "prefs: user %zu of the main pool was added after "
                           "a new user", u);
    prefs_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, PREFS_MAGIC, 8);
    h.n_users = (uint32_t)b->n_users;
    h.n_texts = (uint32_t)b->n_texts;
    h.n_rows = (uint32_t)b->n_rows;
    uint64_t at = sizeof h;
    h.names_off = at;
    h.names_len = b->names_len;
    at = align8(at + b->names_len);
    h.users_off = at;
    at = align8(at + b->n_users * sizeof(prefs_user));
    h.offs_off = at;
    at = align8(at + (b->n_texts + 1) * sizeof(uint64_t));
    h.blob_off = at;
    h.blob_len = b->blob_len;
    at = align8(at + b->blob_len);
    h.hashes_off = at;
    at = align8(at + b->n_texts * (uint64_t)SHA256_LEN);
    h.rows_off = at;
    at += b->n_rows * sizeof(prefs_row);
    unsigned char *p = calloc(1, at);
    if (!p)
        return err_nomem(e);
    memcpy(p, &h, sizeof h);
    memcpy(p + h.offs_off, b->offs, (b->n_texts + 1) * sizeof(uint64_t));
    /* Sections of an empty builder have NULL sources; memcpy must not see them. */
    if (b->names_len)
        memcpy(p + h.names_off, b->names, b->names_len);
    if (b->n_users)
        memcpy(p + h.users_off, b->users, b->n_users * sizeof(prefs_user));
    if (b->n_texts) {
        memcpy(p + h.blob_off, b->blob, b->blob_len);
        memcpy(p + h.hashes_off, b->hashes, b->n_texts * (size_t)SHA256_LEN);
    }
    if (b->n_rows)
        memcpy(p + h.rows_off, b->rows, b->n_rows * sizeof(prefs_row));
    *payload = p;
    *n = at;
    return PPR_OK;
}

static int section_ok(uint64_t off, uint64_t len, size_t n)
{
    return off % 8 == 0 && off <= n && len <= n - off;
}

int prefs_view_init(prefs_view *v, const void *payload, size_t n, const char *what,
                    ppr_err *e)
{
    memset(v, 0, sizeof *v);
    const unsigned char *p = payload;
    if (n < sizeof(prefs_header) || memcmp(p, PREFS_MAGIC, 8) != 0)
        return err_set(e, PPR_EINPUT, "'%s' is not a preference dataset", what);
    const prefs_header *h = payload;
    uint64_t nt = h->n_texts;
    if (!section_ok(h->names_off, h->names_len, n) ||
        !section_ok(h->users_off, h->n_users * (uint64_t)sizeof(prefs_user), n) ||
        !section_ok(h->offs_off, (nt + 1) * sizeof(uint64_t), n) ||
        !section_ok(h->blob_off, h->blob_len, n) ||
        !section_ok(h->hashes_off, nt * SHA256_LEN, n) ||
        !section_ok(h->rows_off, h->n_rows * (uint64_t)sizeof(prefs_row), n))
        return err_set(e, PPR_EINPUT, "'%s': a section lies outside the payload", what);
    v->h = h;
    v->names = (const char *)p + h->names_off;
    v->users = (const prefs_user *)(p + h->users_off);
    v->offs = (const uint64_t *)(p + h->offs_off);
    v->blob = (const char *)p + h->blob_off;
    v->hashes = p + h->hashes_off;
    v->rows = (const prefs_row *)(p + h->rows_off);
    if (h->names_len && v->names[h->names_len - 1] != '\0')
        return err_set(e, PPR_EINPUT, "'%s': user names are not terminated", what);
    for (uint32_t u = 0; u < h->n_users; u++) {
        if (v->users[u].name_off >= h->names_len || v->users[u].pool > PREFS_POOL_NEW)
            return err_set(e, PPR_EINPUT, "'%s': user %u is malformed", what, u);
        if (u && v->users[u].pool < v->users[u - 1].pool)
            return err_set(e, PPR_EINPUT, "'%s': user %u of the main pool follows a new user",
                           what, u);
    }
    if (v->offs[0] != 0)
        return err_set(e, PPR_EINPUT, "'%s': text offsets do not start at 0", what);
    for (uint64_t t = 0; t < nt; t++)
        if (v->offs[t + 1] <= v->offs[t] || v->offs[t + 1] > h->blob_len ||
            v->blob[v->offs[t + 1] - 1] != '\0')
            return err_set(e, PPR_EINPUT, "'%s': text %llu is malformed", what,
                           (unsigned long long)t);
    for (uint32_t i = 0; i < h->n_rows; i++) {
        const prefs_row *r = &v->rows[i];
        if (r->user >= h->n_users || r->prompt >= nt || r->chosen >= nt ||
            r->rejected >= nt || r->split > PREFS_TEST ||
            (!isnan(r->p_chosen) && !(r->p_chosen >= 0.0f && r->p_chosen <= 1.0f)))
            return err_set(e, PPR_EINPUT, "'%s': row %u is malformed", what, i);
    }
    return PPR_OK;
}

uint32_t prefs_n_main(const prefs_view *v)
{
    uint32_t n = 0;
    while (n < v->h->n_users && v->users[n].pool == PREFS_POOL_MAIN)
        n++;
    return n;
}

const char *prefs_user_name(const prefs_view *v, uint32_t user)
{
    return v->names + v->users[user].name_off;
}

const char *prefs_text(const prefs_view *v, uint32_t text, size_t *len)
{
    if (len)
        *len = v->offs[text + 1] - v->offs[text] - 1;
    return v->blob + v->offs[text];
}
