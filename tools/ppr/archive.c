/* archive.c: `ppr archive`, `ppr verify --archive` and `ppr restore`: the state
 * that produced a report (committed manifests, every lock, every object the
 * locks reference) as one deterministic zstd-compressed ustar file.
 *
 * Layout: the first entry is SHA256SUMS (sha256sum format, one line per other
 * entry), then every entry in bytewise name order: artifacts/objects/<2>/<62>.zst,
 * manifests/<committed file>, manifests/lock/<name>.json. All entries are
 * regular files with mode 0644, uid/gid 0 and mtime 0, so the same state gives
 * the same bytes. The index is what makes the file verifiable as a whole:
 * libarchive's zstd writer sets no frame checksum and its tar reader takes a
 * stream cut at an entry boundary for a clean end. */
#include "repo.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/json.h"
#include "common/progress.h"

#define CHUNK (1 << 16)
#define TEXT_MAX ((size_t)64 << 20) /* manifests, locks and the index live in memory */
#define OBJECTS_PREFIX "artifacts/objects/"
#define RESTORE_BACKUP_SUFFIX ".before-restore" /* keeps a manifest restore replaced */

/* The committed inputs an archive carries besides the locks. */
static const char *const manifest_files[] = {
    "manifests/config.json",
    "manifests/config.schema.json",
    "manifests/grid.ninja",
    "manifests/sources.json",
};

static const char *plural(size_t n)
{
    return n == 1 ? "" : "s";
}

/* ---- entry names -------------------------------------------------------- */

enum entry_kind { ENTRY_INDEX, ENTRY_OBJECT, ENTRY_MANIFEST, ENTRY_LOCK, ENTRY_UNSAFE,
                  ENTRY_UNEXPECTED };

/* manifests/lock/<name>.json with a plain file name, as restore accepts it. */
static int lock_name_ok(const char *path)
{
    size_t pre = strlen(LOCK_DIR "/"), len = strlen(path);
    if (strncmp(path, LOCK_DIR "/", pre) != 0 || len <= pre + 5 || path[pre] == '.' ||
        strcmp(path + len - 5, ".json") != 0)
        return 0;
    for (const char *p = path + pre; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-' || *p == '+'))
            return 0;
    return 1;
}

static int has_dotdot(const char *name)
{
    for (const char *p = name; (p = strstr(p, "..")); p += 2)
        if ((p == name || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
            return 1;
    return 0;
}

static int entry_classify(const char *name, char hex[SHA256_HEX_LEN + 1])
{
    if (strcmp(name, REPO_ARCHIVE_INDEX) == 0)
        return ENTRY_INDEX;
    if (name[0] == '/' || has_dotdot(name))
        return ENTRY_UNSAFE;
    size_t pre = strlen(OBJECTS_PREFIX);
    if (strncmp(name, OBJECTS_PREFIX, pre) == 0 && strlen(name) == pre + 3 + 66 &&
        name[pre + 2] == '/') {
        char dir2[3] = {name[pre], name[pre + 1], '\0'};
        if (repo_object_name(dir2, name + pre + 3, hex))
            return ENTRY_OBJECT;
    }
    for (size_t i = 0; i < sizeof manifest_files / sizeof *manifest_files; i++)
        if (strcmp(name, manifest_files[i]) == 0)
            return ENTRY_MANIFEST;
    return lock_name_ok(name) ? ENTRY_LOCK : ENTRY_UNEXPECTED;
}

/* Names come from untrusted input: show them with unprintable bytes as '?'.
 * Returns whether anything had to be replaced. */
static int name_shown(const char *name, char *out, size_t cap)
{
    int replaced = 0;
    size_t i = 0;
    for (; name[i] && i + 1 < cap; i++) {
        unsigned char ch = (unsigned char)name[i];
        replaced |= ch < 0x20 || ch >= 0x7f;
        out[i] = ch < 0x20 || ch >= 0x7f ? '?' : (char)ch;
    }
    out[i] = '\0';
    return replaced;
}

/* ---- writing ------------------------------------------------------------ */

typedef struct {
    char *name;                   /* entry name in the archive */
    char *src;                    /* file it is read from */
    char hex[SHA256_HEX_LEN + 1]; /* sha256 of the file's bytes, for the index */
    uint64_t bytes;
} pack_entry;

typedef struct {
    pack_entry *v; /* [n] */
    size_t n, cap;
} pack_list;

static int pack_add(pack_list *pl, const char *name, const char *src, ppr_err *e)
{
    if (pl->n == pl->cap) {
        size_t cap = pl->cap ? 2 * pl->cap : 64;
        pack_entry *v = realloc(pl->v, cap * sizeof *v);
        if (!v)
            return err_nomem(e);
        pl->v = v;
        pl->cap = cap;
    }
    pack_entry *p = &pl->v[pl->n];
    memset(p, 0, sizeof *p);
    p->name = strdup(name);
    p->src = strdup(src);
    if (!p->name || !p->src) {
        free(p->name);
        free(p->src);
        return err_nomem(e);
    }
    pl->n++;
    unsigned char d[SHA256_LEN];
    int rc = sha256_file(src, d, &p->bytes, e);
    if (rc == PPR_OK)
        sha256_hex(d, p->hex);
    return rc;
}

static void pack_list_release(pack_list *pl)
{
    for (size_t i = 0; i < pl->n; i++) {
        free(pl->v[i].name);
        free(pl->v[i].src);
    }
    free(pl->v);
    memset(pl, 0, sizeof *pl);
}

static int pack_cmp(const void *a, const void *b)
{
    return strcmp(((const pack_entry *)a)->name, ((const pack_entry *)b)->name);
}

/* Everything that varies between machines or runs is pinned here. */
static int pack_header(struct archive *a, const char *name, uint64_t size,
                       const char *path, ppr_err *e)
{
    struct archive_entry *en = archive_entry_new();
    if (!en)
        return err_nomem(e);
    archive_entry_set_pathname(en, name);
    archive_entry_set_filetype(en, AE_IFREG);
    archive_entry_set_perm(en, 0644);
    archive_entry_set_size(en, (la_int64_t)size);
    archive_entry_set_mtime(en, 0, 0);
    archive_entry_set_uid(en, 0);
    archive_entry_set_gid(en, 0);
    int r = archive_write_header(a, en);
    archive_entry_free(en);
    if (r != ARCHIVE_OK)
        return err_set(e, PPR_EINPUT, "cannot write '%s' (entry '%s'): %s", path, name,
                       archive_error_string(a));
    return PPR_OK;
}

static int pack_data(struct archive *a, const void *data, size_t n, const char *path,
                     ppr_err *e)
{
    if (n && archive_write_data(a, data, n) != (la_ssize_t)n)
        return err_set(e, PPR_EINPUT, "cannot write '%s': %s", path,
                       archive_error_string(a));
    return PPR_OK;
}

/* Stream one file into the archive, re-hashing it: a file that changed since
 * the index was computed would make the archive lie. */
static int pack_file(struct archive *a, const pack_entry *p, const char *path,
                     unsigned char *buf, ppr_err *e)
{
    int rc = pack_header(a, p->name, p->bytes, path, e);
    if (rc)
        return rc;
    int fd = open(p->src, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(e, PPR_EINPUT, "cannot open '%s': %s", p->src, strerror(errno));
    sha256_ctx *c = sha256_new();
    if (!c) {
        close(fd);
        return err_nomem(e);
    }
    uint64_t total = 0;
    ssize_t r;
    while (rc == PPR_OK && total < p->bytes) {
        size_t want = p->bytes - total < CHUNK ? (size_t)(p->bytes - total) : CHUNK;
        r = read(fd, buf, want);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        sha256_update(c, buf, (size_t)r);
        rc = pack_data(a, buf, (size_t)r, path, e);
        total += (uint64_t)r;
    }
    unsigned char d[SHA256_LEN];
    char hex[SHA256_HEX_LEN + 1];
    sha256_final(c, d);
    sha256_free(c);
    close(fd);
    sha256_hex(d, hex);
    if (rc == PPR_OK && (total != p->bytes || strcmp(hex, p->hex) != 0))
        rc = err_set(e, PPR_EINPUT, "'%s' changed while it was being archived; try again",
                     p->src);
    return rc;
}

/* Collect what goes in: committed manifests, locks, and the verified objects
 * they reference; sorted by entry name. */
static int pack_collect(pack_list *pl, const store *s, size_t *n_locks, size_t *n_objects,
                        ppr_err *e)
{
    repo_lockset locks;
    repo_refs refs = {0};
    int rc = repo_lockset_load(&locks, LOCK_DIR, e);
    if (rc)
        return rc;
    if (locks.n_bad) {
        rc = err_set(e, PPR_EINPUT, "cannot archive: lock '%s' is malformed (%s)",
                     locks.bad_paths[0], locks.bad_msgs[0]);
        goto done;
    }
    for (size_t i = 0; i < sizeof manifest_files / sizeof *manifest_files && !rc; i++)
        if (file_exists(manifest_files[i]))
            rc = pack_add(pl, manifest_files[i], manifest_files[i], e);
    for (size_t i = 0; i < locks.n && !rc; i++) {
        const char *path = locks.locks[i].path;
        ppr_err why = {0};
        if (!lock_name_ok(path))
            rc = err_set(e, PPR_EINPUT,
                         "cannot archive lock '%s': name it with letters, digits and "
                         "'.', '_', '-', '+' only",
                         path);
        else if (lock_record_matches(s, &locks.locks[i], &why))
            rc = err_set(e, PPR_EINPUT, "cannot archive: %s (ppr verify --repair)", why.msg);
        else if (!(rc = repo_refs_add_lock(&refs, &locks.locks[i], e)))
            rc = pack_add(pl, path, path, e);
    }
    if (rc)
        goto done;
    repo_refs_sort(&refs);
    progress pg;
    progress_init(&pg, "archive", refs.n);
    for (size_t i = 0; i < refs.n && !rc; i++) {
        const repo_ref *r = &refs.v[i];
        char name[sizeof OBJECTS_PREFIX + SHA256_HEX_LEN + 8];
        snprintf(name, sizeof name, OBJECTS_PREFIX "%.2s/%s.zst", r->hex, r->hex + 2);
        char *src = store_path(s, r->hex);
        ppr_err ve = {0};
        if (!src)
            rc = err_nomem(e);
        else if (!file_exists(src))
            rc = err_set(e, PPR_EINPUT,
                         "cannot archive: object %s referenced by '%s' is missing from "
                         "the store (run ninja)",
                         r->hex, r->from);
        else if ((rc = store_verify_file(src, r->hex, &ve)))
            rc = err_set(e, rc, "cannot archive: %s (referenced by '%s')", ve.msg, r->from);
        else
            rc = pack_add(pl, name, src, e);
        free(src);
        progress_add(&pg, 1);
    }
    progress_done(&pg, "objects verified", NULL);
    *n_locks = locks.n;
    *n_objects = refs.n;
    if (rc == PPR_OK && pl->n)
        qsort(pl->v, pl->n, sizeof *pl->v, pack_cmp);
done:
    repo_refs_release(&refs);
    repo_lockset_release(&locks);
    return rc;
}

int repo_archive(const char *path, FILE *out, ppr_err *e)
{
    store s;
    storelock lk;
    int rc = storelock_open(&s, &lk, STORELOCK_EXCLUSIVE, "ppr archive", e);
    if (rc)
        return rc;
    pack_list pl = {0};
    staged_file t = {NULL, -1};
    struct archive *a = NULL;
    char *index = NULL;
    unsigned char *buf = malloc(CHUNK);
    size_t n_locks = 0, n_objects = 0, index_n = 0;
    if (!buf) {
        rc = err_nomem(e);
        goto done;
    }
    if ((rc = pack_collect(&pl, &s, &n_locks, &n_objects, e)))
        goto done;
    size_t line = SHA256_HEX_LEN + 3;
    for (size_t i = 0; i < pl.n; i++)
        index_n += line + strlen(pl.v[i].name);
    if (!(index = malloc(index_n + 1))) {
        rc = err_nomem(e);
        goto done;
    }
    for (size_t i = 0, at = 0; i < pl.n; i++)
        at += (size_t)sprintf(index + at, "%s  %s\n", pl.v[i].hex, pl.v[i].name);

    if ((rc = staged_open(&t, path, e)))
        goto done;
    if (!(a = archive_write_new())) {
        rc = err_nomem(e);
        goto done;
    }
    if (archive_write_set_format_ustar(a) != ARCHIVE_OK ||
        archive_write_add_filter_zstd(a) != ARCHIVE_OK ||
        archive_write_open_fd(a, t.fd) != ARCHIVE_OK) {
        rc = err_set(e, PPR_EINTERNAL, "cannot start '%s': %s", path,
                     archive_error_string(a));
        goto done;
    }
    if ((rc = pack_header(a, REPO_ARCHIVE_INDEX, index_n, path, e)) ||
        (rc = pack_data(a, index, index_n, path, e)))
        goto done;
    for (size_t i = 0; i < pl.n && rc == PPR_OK; i++)
        rc = pack_file(a, &pl.v[i], path, buf, e);
    if (rc)
        goto done;
    if (archive_write_close(a) != ARCHIVE_OK) {
        rc = err_set(e, PPR_EINPUT, "cannot write '%s': %s", path, archive_error_string(a));
        goto done;
    }
    struct stat st;
    if (fstat(t.fd, &st) != 0)
        st.st_size = 0;
    if ((rc = staged_commit(&t, path, e)))
        goto done;
    size_t n_manifests = pl.n - n_objects - n_locks;
    fprintf(out,
            "archived %zu object%s, %zu lock%s and %zu manifest file%s to '%s' (%lld "
            "bytes)\n",
            n_objects, plural(n_objects), n_locks, plural(n_locks), n_manifests,
            plural(n_manifests), path, (long long)st.st_size);
done:
    if (a)
        archive_write_free(a);
    staged_discard(&t);
    free(index);
    free(buf);
    pack_list_release(&pl);
    storelock_close(&s, &lk);
    return rc;
}

/* ---- reading ------------------------------------------------------------ */

typedef struct {
    char *name;
    char hex[SHA256_HEX_LEN + 1];
    int seen;
} index_line;

typedef struct {
    char *name; /* entry name, also where restore writes it */
    char *data; /* [n] */
    size_t n;
    int is_lock;
} text_entry;

/* One pass over an archive. With dest NULL it only checks, staging each object
 * in a private scratch file; with dest set it also moves every good object
 * into that store (manifests are kept in memory for the caller to write). */
typedef struct {
    const char *path; /* the archive */
    FILE *out;        /* findings; NULL in index_peek, which only reads the index */
    const store *dest;
    char *scratch_dir, *scratch; /* check only */
    index_line *index;           /* [n_index], sorted by name */
    size_t n_index;
    int have_index;
    char (*objects)[SHA256_HEX_LEN + 1]; /* [n_objects] object entries seen */
    size_t n_objects, cap_objects;
    text_entry *texts; /* [n_texts] */
    size_t n_texts, cap_texts;
    size_t n_bad, n_entries, n_present;
    progress pg; /* counts object entries */
} scan;

static void scan_release(scan *sc)
{
    if (sc->scratch) {
        unlink(sc->scratch);
        free(sc->scratch);
    }
    if (sc->scratch_dir) {
        rmdir(sc->scratch_dir);
        free(sc->scratch_dir);
    }
    for (size_t i = 0; i < sc->n_index; i++)
        free(sc->index[i].name);
    free(sc->index);
    free(sc->objects);
    for (size_t i = 0; i < sc->n_texts; i++) {
        free(sc->texts[i].name);
        free(sc->texts[i].data);
    }
    free(sc->texts);
    sc->scratch = sc->scratch_dir = NULL;
    sc->index = NULL;
    sc->objects = NULL;
    sc->texts = NULL;
    sc->n_index = sc->n_objects = sc->n_texts = 0;
}

static int container_error(const scan *sc, struct archive *a, ppr_err *e)
{
    return err_set(e, PPR_EINPUT, "archive '%s' is corrupt or truncated: %s", sc->path,
                   archive_error_string(a) ? archive_error_string(a) : "read error");
}

static int index_cmp(const void *a, const void *b)
{
    return strcmp(((const index_line *)a)->name, ((const index_line *)b)->name);
}

static index_line *index_find(const scan *sc, const char *name)
{
    if (!sc->have_index || !sc->n_index)
        return NULL;
    index_line key = {.name = (char *)name};
    return bsearch(&key, sc->index, sc->n_index, sizeof *sc->index, index_cmp);
}

/* Parse "<64 hex>  <name>\n" lines; a malformed index is a finding, not an error. */
static int index_parse(scan *sc, const char *data, size_t n, ppr_err *e)
{
    size_t lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += data[i] == '\n';
    if (!(sc->index = calloc(lines ? lines : 1, sizeof *sc->index)))
        return err_nomem(e);
    const char *p = data, *end = data + n;
    const char *why = n && data[n - 1] != '\n' ? "it does not end in a newline" : NULL;
    while (!why && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)(nl - p);
        unsigned char raw[SHA256_LEN];
        char hex[SHA256_HEX_LEN + 1] = "";
        if (len >= SHA256_HEX_LEN + 3)
            memcpy(hex, p, SHA256_HEX_LEN);
        if (len < SHA256_HEX_LEN + 3 || sha256_parse(hex, raw) != 0 ||
            p[SHA256_HEX_LEN] != ' ' || p[SHA256_HEX_LEN + 1] != ' ') {
            why = "a line is not \"<sha256>  <name>\"";
            break;
        }
        index_line *il = &sc->index[sc->n_index];
        sha256_hex(raw, il->hex);
        if (memcmp(il->hex, p, SHA256_HEX_LEN) != 0) { /* as written: lower-case */
            why = "a line is not \"<sha256>  <name>\"";
            break;
        }
        if (!(il->name = strndup(p + SHA256_HEX_LEN + 2, len - SHA256_HEX_LEN - 2)))
            return err_nomem(e);
        sc->n_index++;
        p = nl + 1;
    }
    if (!why && sc->n_index) {
        qsort(sc->index, sc->n_index, sizeof *sc->index, index_cmp);
        for (size_t i = 1; i < sc->n_index; i++)
            if (strcmp(sc->index[i - 1].name, sc->index[i].name) == 0)
                why = "it lists an entry twice";
    }
    if (why) {
        if (sc->out)
            fprintf(sc->out, "malformed index '%s:%s': %s\n", sc->path, REPO_ARCHIVE_INDEX,
                    why);
        sc->n_bad++;
        return PPR_OK;
    }
    sc->have_index = 1;
    return PPR_OK;
}

/* An entry already reported for another reason still counts as present. */
static void index_mark(scan *sc, const char *name)
{
    index_line *il = name ? index_find(sc, name) : NULL;
    if (il)
        il->seen = 1;
}

/* Check an entry's bytes against the index; prints the finding. */
static int index_check(scan *sc, const char *name, const char *hex)
{
    if (!sc->have_index)
        return 0;
    index_line *il = index_find(sc, name);
    const char *why = !il ? "not listed in " REPO_ARCHIVE_INDEX
                      : il->seen ? "appears twice"
                      : strcmp(il->hex, hex) != 0 ? "does not match its " REPO_ARCHIVE_INDEX " line"
                      : NULL;
    if (il)
        il->seen = 1;
    if (!why)
        return 0;
    fprintf(sc->out, "bad entry '%s:%s': %s\n", sc->path, name, why);
    sc->n_bad++;
    return -1;
}

static void msg_rename(char *msg, size_t cap, const char *from, const char *to)
{
    char *at = strstr(msg, from);
    if (!at)
        return;
    char rest[sizeof ((ppr_err *)0)->msg];
    snprintf(rest, sizeof rest, "%s", at + strlen(from));
    snprintf(at, cap - (size_t)(at - msg), "%s%s", to, rest);
}

/* Read the current entry into memory (it is at most TEXT_MAX bytes). */
static int read_text(scan *sc, struct archive *a, la_int64_t size, char **data,
                     size_t *n, char hex[SHA256_HEX_LEN + 1], ppr_err *e)
{
    *data = malloc((size_t)size + 1);
    if (!*data)
        return err_nomem(e);
    size_t got = 0;
    la_ssize_t r;
    while (got < (size_t)size &&
           (r = archive_read_data(a, *data + got, (size_t)size - got)) > 0)
        got += (size_t)r;
    if (got != (size_t)size) {
        free(*data);
        *data = NULL;
        return container_error(sc, a, e);
    }
    (*data)[got] = '\0';
    *n = got;
    unsigned char d[SHA256_LEN];
    sha256_buf(*data, got, d);
    sha256_hex(d, hex);
    return PPR_OK;
}

static int scan_text(scan *sc, struct archive *a, const char *name, int kind,
                     la_int64_t size, ppr_err *e)
{
    if (size < 0 || (uint64_t)size > TEXT_MAX) {
        fprintf(sc->out, "bad entry '%s:%s': larger than %zu bytes\n", sc->path, name,
                TEXT_MAX);
        sc->n_bad++;
        index_mark(sc, name);
        return archive_read_data_skip(a) == ARCHIVE_OK ? PPR_OK : container_error(sc, a, e);
    }
    char *data = NULL;
    size_t n = 0;
    char hex[SHA256_HEX_LEN + 1];
    int rc = read_text(sc, a, size, &data, &n, hex, e);
    if (rc)
        return rc;
    if (kind == ENTRY_INDEX) {
        rc = index_parse(sc, data, n, e);
        free(data);
        return rc;
    }
    if (index_check(sc, name, hex) != 0) {
        free(data);
        return PPR_OK;
    }
    if (sc->n_texts == sc->cap_texts) {
        size_t cap = sc->cap_texts ? 2 * sc->cap_texts : 16;
        text_entry *v = realloc(sc->texts, cap * sizeof *v);
        if (!v) {
            free(data);
            return err_nomem(e);
        }
        sc->texts = v;
        sc->cap_texts = cap;
    }
    text_entry *t = &sc->texts[sc->n_texts];
    if (!(t->name = strdup(name))) {
        free(data);
        return err_nomem(e);
    }
    t->data = data;
    t->n = n;
    t->is_lock = kind == ENTRY_LOCK;
    sc->n_texts++;
    return PPR_OK;
}

static int objects_add(scan *sc, const char *hex, ppr_err *e)
{
    if (sc->n_objects == sc->cap_objects) {
        size_t cap = sc->cap_objects ? 2 * sc->cap_objects : 64;
        char(*v)[SHA256_HEX_LEN + 1] = realloc(sc->objects, cap * sizeof *v);
        if (!v)
            return err_nomem(e);
        sc->objects = v;
        sc->cap_objects = cap;
    }
    memcpy(sc->objects[sc->n_objects++], hex, SHA256_HEX_LEN + 1);
    return PPR_OK;
}

/* Stream the current entry to fd, hashing it. */
static int read_to_fd(scan *sc, struct archive *a, int fd, const char *target,
                      char hex[SHA256_HEX_LEN + 1], ppr_err *e)
{
    sha256_ctx *c = sha256_new();
    char *buf = malloc(CHUNK);
    if (!c || !buf) {
        sha256_free(c);
        free(buf);
        return err_nomem(e);
    }
    int rc = PPR_OK;
    la_ssize_t r;
    while (rc == PPR_OK && (r = archive_read_data(a, buf, CHUNK)) != 0) {
        if (r < 0)
            rc = container_error(sc, a, e);
        else if (fd_write_full(fd, buf, (size_t)r) != 0)
            rc = err_set(e, PPR_EINPUT, "cannot write '%s': %s", target, strerror(errno));
        else
            sha256_update(c, buf, (size_t)r);
    }
    unsigned char d[SHA256_LEN];
    sha256_final(c, d);
    sha256_hex(d, hex);
    sha256_free(c);
    free(buf);
    return rc;
}

static int scan_object(scan *sc, struct archive *a, const char *name, const char *hex,
                       ppr_err *e)
{
    int rc = objects_add(sc, hex, e);
    if (rc)
        return rc;
    char *final = NULL;
    if (sc->dest) {
        if (!(final = store_path(sc->dest, hex)))
            return err_nomem(e);
        if (store_verify_file(final, hex, NULL) == PPR_OK) {
            free(final);
            index_mark(sc, name);
            sc->n_present++;
            return archive_read_data_skip(a) == ARCHIVE_OK ? PPR_OK
                                                           : container_error(sc, a, e);
        }
    }
    staged_file t = {NULL, -1};
    const char *file = sc->scratch;
    int fd = -1;
    if (sc->dest) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%.2s", sc->dest->objects, hex);
        if ((rc = dir_make(dir, e)) || (rc = staged_open(&t, final, e))) {
            free(final);
            return rc;
        }
        file = t.path;
        fd = t.fd;
    } else if ((fd = open(sc->scratch, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
        return err_set(e, PPR_EINPUT, "cannot write '%s': %s", sc->scratch, strerror(errno));
    }
    char got[SHA256_HEX_LEN + 1];
    rc = read_to_fd(sc, a, fd, sc->dest ? final : sc->scratch, got, e);
    if (!sc->dest && close(fd) != 0 && rc == PPR_OK)
        rc = err_set(e, PPR_EINPUT, "cannot write '%s': %s", sc->scratch, strerror(errno));
    int good = 0;
    if (rc == PPR_OK) {
        ppr_err ve = {0};
        int vrc = store_verify_file(file, hex, &ve);
        if (vrc == PPR_EINTERNAL) {
            rc = err_set(e, vrc, "%s", ve.msg);
        } else if (vrc) {
            char where[4200];
            snprintf(where, sizeof where, "%s:%s", sc->path, name);
            msg_rename(ve.msg, sizeof ve.msg, file, where);
            fprintf(sc->out, "corrupt object %s: %s\n", hex, ve.msg);
            sc->n_bad++;
            index_mark(sc, name);
        } else {
            good = index_check(sc, name, got) == 0;
        }
    }
    if (sc->dest) {
        if (rc == PPR_OK && good)
            rc = staged_commit(&t, final, e);
        staged_discard(&t);
    }
    free(final);
    return rc;
}

static int object_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* What only the whole archive can tell: index lines without an entry, and locks
 * that name objects the archive does not hold. */
static int scan_finish(scan *sc, ppr_err *e)
{
    for (size_t i = 0; sc->have_index && i < sc->n_index; i++) {
        if (sc->index[i].seen)
            continue;
        char shown[1024];
        name_shown(sc->index[i].name, shown, sizeof shown);
        fprintf(sc->out, "missing entry '%s:%s': listed in %s but absent (truncated?)\n",
                sc->path, shown, REPO_ARCHIVE_INDEX);
        sc->n_bad++;
    }
    if (sc->n_objects)
        qsort(sc->objects, sc->n_objects, sizeof *sc->objects, object_cmp);
    for (size_t i = 0; i < sc->n_texts; i++) {
        const text_entry *t = &sc->texts[i];
        if (!t->is_lock)
            continue;
        char what[4200];
        snprintf(what, sizeof what, "%s:%s", sc->path, t->name);
        ppr_err le = {0};
        lock l;
        cJSON *json = json_parse_buf(t->data, t->n, what, &le);
        int lrc = json ? lock_from_json(&l, json, what, &le) : PPR_EINPUT;
        if (lrc == PPR_EINTERNAL)
            return err_set(e, lrc, "%s", le.msg);
        if (lrc) {
            fprintf(sc->out, "malformed lock '%s': %s\n", what, le.msg);
            sc->n_bad++;
            continue;
        }
        repo_refs refs = {0};
        if (repo_refs_add_lock(&refs, &l, e)) {
            lock_release(&l);
            return PPR_EINTERNAL;
        }
        repo_refs_sort(&refs);
        for (size_t k = 0; k < refs.n; k++) {
            if (sc->n_objects && bsearch(refs.v[k].hex, sc->objects, sc->n_objects,
                                         sizeof *sc->objects, object_cmp))
                continue;
            fprintf(sc->out, "missing object %s: referenced by '%s'\n", refs.v[k].hex, what);
            sc->n_bad++;
        }
        repo_refs_release(&refs);
        lock_release(&l);
    }
    return PPR_OK;
}

/* Open sc->path for reading entries; on success the caller frees *a and
 * closes *fd. */
static int archive_open_read(const scan *sc, int *fd, struct archive **a, ppr_err *e)
{
    *fd = open(sc->path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0)
        return err_set(e, PPR_EINPUT, "cannot open archive '%s': %s", sc->path,
                       strerror(errno));
    struct stat st;
    int rc = PPR_OK;
    if (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode))
        rc = err_set(e, PPR_EINPUT, "archive '%s' is not a regular file", sc->path);
    else if (!(*a = archive_read_new()))
        rc = err_nomem(e);
    else if (archive_read_support_filter_zstd(*a) != ARCHIVE_OK ||
             archive_read_support_format_tar(*a) != ARCHIVE_OK ||
             archive_read_open_fd(*a, *fd, CHUNK) != ARCHIVE_OK) {
        rc = container_error(sc, *a, e);
        archive_read_free(*a);
    }
    if (rc)
        close(*fd);
    return rc;
}

static int scan_run(scan *sc, ppr_err *e)
{
    int fd;
    struct archive *a;
    int rc = archive_open_read(sc, &fd, &a, e);
    if (rc)
        return rc;
    progress_init(&sc->pg, sc->dest ? "restore" : "verify archive", 0);
    struct archive_entry *en;
    int r = ARCHIVE_OK;
    while (rc == PPR_OK && (r = archive_read_next_header(a, &en)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(en);
        char hex[SHA256_HEX_LEN + 1], shown[1024] = "";
        int kind = name ? entry_classify(name, hex) : ENTRY_UNEXPECTED;
        const char *why = NULL;
        if (!name)
            why = "has no name";
        else if (name_shown(name, shown, sizeof shown) || strlen(name) >= sizeof shown)
            why = "has an unprintable or overlong name";
        else if (archive_entry_filetype(en) != AE_IFREG || archive_entry_hardlink(en))
            why = "is not a regular file";
        else if (kind == ENTRY_UNSAFE)
            why = "is unsafe (an absolute path or '..')";
        else if (kind == ENTRY_UNEXPECTED)
            why = "is not a committed manifest, a lock or a store object";
        else if ((kind == ENTRY_INDEX) != (sc->n_entries == 0))
            why = kind == ENTRY_INDEX ? "appears after other entries"
                                      : "is not preceded by the " REPO_ARCHIVE_INDEX " index";
        sc->n_entries++;
        if (why) {
            fprintf(sc->out, "bad entry '%s:%s': %s\n", sc->path, shown, why);
            sc->n_bad++;
            index_mark(sc, name);
            if (archive_read_data_skip(a) != ARCHIVE_OK)
                rc = container_error(sc, a, e);
            continue;
        }
        if (kind == ENTRY_OBJECT) {
            rc = scan_object(sc, a, name, hex, e);
            progress_add(&sc->pg, 1);
        } else {
            rc = scan_text(sc, a, name, kind, archive_entry_size(en), e);
        }
    }
    progress_done(&sc->pg, "objects", NULL);
    if (rc == PPR_OK && r != ARCHIVE_EOF)
        rc = container_error(sc, a, e);
    if (rc == PPR_OK && sc->n_entries == 0) {
        fprintf(sc->out, "bad archive '%s': it holds no entries\n", sc->path);
        sc->n_bad++;
    }
    if (rc == PPR_OK)
        rc = scan_finish(sc, e);
    archive_read_free(a);
    close(fd);
    return rc;
}

/* Read only the index (the first entry) into sc, before any pass: an archive
 * that does not start with a well-formed one is left to the pass to report,
 * and sc->out NULL keeps index_parse quiet. */
static int index_peek(scan *sc, const char *path, ppr_err *e)
{
    memset(sc, 0, sizeof *sc);
    sc->path = path;
    int fd;
    struct archive *a;
    int rc = archive_open_read(sc, &fd, &a, e);
    if (rc)
        return rc;
    struct archive_entry *en;
    const char *name;
    la_int64_t size;
    if (archive_read_next_header(a, &en) == ARCHIVE_OK && (name = archive_entry_pathname(en)) &&
        strcmp(name, REPO_ARCHIVE_INDEX) == 0 && (size = archive_entry_size(en)) >= 0 &&
        (uint64_t)size <= TEXT_MAX) {
        char *data, hex[SHA256_HEX_LEN + 1];
        size_t n;
        if ((rc = read_text(sc, a, size, &data, &n, hex, e)) == PPR_OK)
            rc = index_parse(sc, data, n, e);
        free(data);
    }
    archive_read_free(a);
    close(fd);
    return rc;
}

/* A check-only pass: objects are staged in a private scratch directory. */
static int scan_check(scan *sc, const char *path, FILE *out, ppr_err *e)
{
    memset(sc, 0, sizeof *sc);
    sc->path = path;
    sc->out = out;
    const char *tmp = getenv("TMPDIR");
    size_t n = strlen(tmp && *tmp ? tmp : "/tmp") + 32;
    if (!(sc->scratch_dir = malloc(n)))
        return err_nomem(e);
    snprintf(sc->scratch_dir, n, "%s/ppr-verify.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(sc->scratch_dir)) {
        int rc = err_set(e, PPR_EINPUT, "cannot create a scratch directory '%s': %s",
                         sc->scratch_dir, strerror(errno));
        free(sc->scratch_dir);
        sc->scratch_dir = NULL;
        return rc;
    }
    if (!(sc->scratch = path_join(sc->scratch_dir, "object.zst")))
        return err_nomem(e);
    return scan_run(sc, e);
}

int repo_archive_verify(const char *path, FILE *out, size_t *n_bad, ppr_err *e)
{
    *n_bad = 0;
    scan sc;
    int rc = scan_check(&sc, path, out, e);
    if (rc == PPR_OK) {
        fprintf(out, "verified %zu objects, %zu bad\n", sc.n_objects, sc.n_bad);
        *n_bad = sc.n_bad;
    }
    scan_release(&sc);
    return rc;
}

/* ---- restoring ---------------------------------------------------------- */

static int dir_writable(const char *dir, ppr_err *e)
{
    int rc = dir_make(dir, e);
    if (rc == PPR_OK && access(dir, W_OK) != 0)
        rc = err_set(e, PPR_EINPUT, "cannot write to directory '%s': %s", dir,
                     strerror(errno));
    return rc;
}

/* Locks this checkout has and the archive does not: left alone, but named. */
static int note_foreign_locks(const scan *sc, FILE *out, ppr_err *e)
{
    char **paths;
    size_t n;
    int rc = lock_paths(LOCK_DIR, &paths, &n, e);
    for (size_t i = 0; rc == PPR_OK && i < n; i++) {
        size_t k = 0;
        while (k < sc->n_texts && strcmp(sc->texts[k].name, paths[i]) != 0)
            k++;
        if (k == sc->n_texts)
            fprintf(out, "note: lock '%s' is not in the archive and was left as is\n",
                    paths[i]);
    }
    if (rc == PPR_OK)
        lock_paths_free(paths, n);
    return rc;
}

/* A restored lock's run record (lock.h): the archive's index vouched for the
 * lock's bytes, so they are the record of its run. */
static int record_write(const store *s, const text_entry *t, ppr_err *e)
{
    cJSON *json = json_parse_buf(t->data, t->n, t->name, e);
    char key[SHA256_HEX_LEN + 1], *runs = lock_runs_dir(s), *path = NULL;
    int rc = !json ? PPR_EINPUT : !runs ? err_nomem(e) : lock_run_key(json, key, e);
    if (rc == PPR_OK && !(path = lock_record_path(s, key)))
        rc = err_nomem(e);
    if (rc == PPR_OK)
        rc = dir_make(runs, e);
    if (rc == PPR_OK)
        rc = file_write_if_changed(path, t->data, t->n, NULL, e);
    cJSON_Delete(json);
    free(runs);
    free(path);
    return rc;
}

/* A manifest restore would change may hold edits committed nowhere: keep its
 * bytes as <file>.before-restore, and refuse rather than overwrite an earlier
 * copy there with other bytes. want_hex is the archive's version (its index
 * line, which every entry has matched by the time anything is written). With
 * keep unset this only checks. */
static int backup_keep(const char *name, const char *want_hex, int keep, FILE *out,
                       ppr_err *e)
{
    char *mine, *copy = NULL, backup[256], hex[SHA256_HEX_LEN + 1];
    size_t n, copy_n;
    unsigned char d[SHA256_LEN];
    if (!file_exists(name))
        return PPR_OK;
    int rc = sha256_file(name, d, NULL, e);
    if (rc)
        return rc;
    sha256_hex(d, hex);
    if (strcmp(hex, want_hex) == 0 || (rc = file_read_all(name, &mine, &n, e)))
        return rc;
    snprintf(backup, sizeof backup, "%s" RESTORE_BACKUP_SUFFIX, name); /* a manifest_files name */
    if (file_exists(backup) && (rc = file_read_all(backup, &copy, &copy_n, e)) == PPR_OK &&
        (copy_n != n || memcmp(copy, mine, n) != 0))
        rc = err_set(e, PPR_EINPUT, "restore would replace '%s', whose earlier copy '%s' holds "
                     "other bytes; move that copy away first", name, backup);
    if (rc == PPR_OK && keep && (rc = file_write_if_changed(backup, mine, n, NULL, e)) == PPR_OK)
        fprintf(out, "kept '%s' as '%s': it differs from the archive's\n", name, backup);
    free(copy);
    free(mine);
    return rc;
}

/* backup_keep for every manifest the index lists; locks need no copy (the
 * run cache under the store holds every lock a run produced). */
static int backups_keep(const scan *sc, int keep, FILE *out, ppr_err *e)
{
    int rc = PPR_OK;
    char hex[SHA256_HEX_LEN + 1];
    for (size_t i = 0; sc->have_index && i < sc->n_index && rc == PPR_OK; i++)
        if (entry_classify(sc->index[i].name, hex) == ENTRY_MANIFEST)
            rc = backup_keep(sc->index[i].name, sc->index[i].hex, keep, out, e);
    return rc;
}

int repo_restore(const char *path, FILE *out, ppr_err *e)
{
    /* Refuse to lose an edit before the long passes, from the index alone. */
    scan sc;
    int rc = index_peek(&sc, path, e);
    if (rc == PPR_OK)
        rc = backups_keep(&sc, 0, out, e);
    scan_release(&sc);
    if (rc)
        return rc;
    rc = scan_check(&sc, path, out, e);
    size_t bad = sc.n_bad;
    scan_release(&sc);
    if (rc)
        return rc;
    if (bad)
        return err_set(e, PPR_EINPUT, "archive '%s' has %zu bad entr%s; nothing restored",
                       path, bad, bad == 1 ? "y" : "ies");

    /* Second pass: objects go straight into the store, each verified before its
     * rename; manifests are written only once every entry has passed again. */
    store s;
    storelock lk;
    if ((rc = storelock_open(&s, &lk, STORELOCK_EXCLUSIVE, "ppr restore", e)))
        return rc;
    memset(&sc, 0, sizeof sc);
    sc.path = path;
    sc.out = out;
    sc.dest = &s;
    size_t n_locks = 0;
    if ((rc = dir_writable("manifests", e)) || (rc = dir_writable(LOCK_DIR, e)) ||
        (rc = scan_run(&sc, e)))
        goto done;
    if (sc.n_bad) {
        rc = err_set(e, PPR_EINPUT,
                     "archive '%s' changed while it was restored; manifests left unchanged",
                     path);
        goto done;
    }
    rc = backups_keep(&sc, 1, out, e);
    for (size_t i = 0; i < sc.n_texts && rc == PPR_OK; i++) {
        rc = file_write_if_changed(sc.texts[i].name, sc.texts[i].data, sc.texts[i].n, NULL,
                                   e);
        if (rc == PPR_OK && sc.texts[i].is_lock)
            rc = record_write(&s, &sc.texts[i], e);
        n_locks += sc.texts[i].is_lock;
    }
    if (rc == PPR_OK)
        rc = note_foreign_locks(&sc, out, e);
    size_t n_manifests = sc.n_texts - n_locks;
    if (rc == PPR_OK)
        fprintf(out,
                "restored %zu object%s (%zu already present), %zu lock%s and %zu manifest "
                "file%s from '%s'\n",
                sc.n_objects, plural(sc.n_objects), sc.n_present, n_locks, plural(n_locks),
                n_manifests, plural(n_manifests), path);
done:
    scan_release(&sc);
    storelock_close(&s, &lk);
    return rc;
}
