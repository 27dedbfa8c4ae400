/* archive_read.c: `ppr verify --archive` and `ppr restore`: an archive written
 * by archive.c (layout there) read as untrusted input, entry by entry: the
 * index first, every object re-hashed, manifests and locks parsed, and nothing
 * written to the checkout until the whole archive has verified. */
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
#include "common/json.h"
#include "common/progress.h"

#define TEXT_MAX ((size_t)64 << 20) /* manifests, locks and the index live in memory */
#define RESTORE_BACKUP_SUFFIX ".before-restore" /* keeps a manifest restore replaced */

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
        int kind = name ? archive_entry_classify(name, hex) : ENTRY_UNEXPECTED;
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
        if (archive_entry_classify(sc->index[i].name, hex) == ENTRY_MANIFEST)
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
                sc.n_objects, archive_plural(sc.n_objects), sc.n_present, n_locks, archive_plural(n_locks),
                n_manifests, archive_plural(n_manifests), path);
done:
    scan_release(&sc);
    storelock_close(&s, &lk);
    return rc;
}
