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
#include "archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/progress.h"

const char *const archive_manifests[] = {
    "manifests/config.json",
    "manifests/config.schema.json",
    "manifests/grid.ninja",
    "manifests/sources.json",
};
const size_t archive_n_manifests = sizeof archive_manifests / sizeof *archive_manifests;

const char *archive_plural(size_t n)
{
    return n == 1 ? "" : "s";
}

/* ---- entry names -------------------------------------------------------- */

int archive_lock_name_ok(const char *path)
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

int archive_entry_classify(const char *name, char *hex)
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
    for (size_t i = 0; i < archive_n_manifests; i++)
        if (strcmp(name, archive_manifests[i]) == 0)
            return ENTRY_MANIFEST;
    return archive_lock_name_ok(name) ? ENTRY_LOCK : ENTRY_UNEXPECTED;
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
    for (size_t i = 0; i < archive_n_manifests && !rc; i++)
        if (file_exists(archive_manifests[i]))
            rc = pack_add(pl, archive_manifests[i], archive_manifests[i], e);
    for (size_t i = 0; i < locks.n && !rc; i++) {
        const char *path = locks.locks[i].path;
        ppr_err why = {0};
        if (!archive_lock_name_ok(path))
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
            n_objects, archive_plural(n_objects), n_locks, archive_plural(n_locks), n_manifests,
            archive_plural(n_manifests), path, (long long)st.st_size);
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

