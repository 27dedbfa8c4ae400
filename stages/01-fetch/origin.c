/* origin.c: mirror first, then the download cache (common/mirror.c says where
 * those are), then the network (a URL, the HF rows API, or `npm pack` for an
 * npm package); every file checked against its pin before use. */
#include "origin.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/download.h"
#include "common/fsutil.h"
#include "common/hfrows.h"
#include "common/json.h"
#include "common/mirror.h"
#include "common/sha256.h"

void origin_release(origin *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->n_files; i++) {
        free((char *)o->files[i].name);
        free((char *)o->files[i].data);
    }
    free(o->files);
    memset(o, 0, sizeof *o);
}

/* Check a first-seen file against manifests/sources.lock.json, pinning it
 * there when it has no pin yet. An flock serializes parallel fetches. */
static int pin_lock_check(const stage_run *r, const char *key, const char *hex,
                          uint64_t bytes, const char *path, ppr_err *e)
{
    char *flock_path = path_join(r->st.root, "sources.lock.flock");
    if (!flock_path)
        return err_nomem(e);
    int fd = open(flock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    free(flock_path);
    if (fd < 0 || flock(fd, LOCK_EX) != 0) {
        if (fd >= 0)
            close(fd);
        return err_set(e, PPR_EINPUT, "cannot lock the store to pin '%s'", key);
    }
    cJSON *pins = file_exists(ORIGIN_PIN_LOCK) ? json_parse_file(ORIGIN_PIN_LOCK, e)
                                               : cJSON_CreateObject();
    int rc = pins ? PPR_OK : PPR_EINPUT;
    const cJSON *pin = pins ? cJSON_GetObjectItemCaseSensitive(pins, key) : NULL;
    if (rc == PPR_OK && pin) {
        const cJSON *sha = cJSON_GetObjectItemCaseSensitive(pin, "sha256");
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(pin, "bytes");
        if (!cJSON_IsString(sha) || !cJSON_IsNumber(n))
            rc = err_set(e, PPR_EINPUT, "'%s': pin \"%s\" is malformed", ORIGIN_PIN_LOCK, key);
        else if (strcmp(sha->valuestring, hex) != 0 || n->valuedouble != (double)bytes)
            rc = err_set(e, PPR_EINPUT,
                         "'%s' does not match its pin in %s (sha256 %s, %llu bytes; "
                         "expected %s, %.0f bytes)",
                         path, ORIGIN_PIN_LOCK, hex, (unsigned long long)bytes,
                         sha->valuestring, n->valuedouble);
    } else if (rc == PPR_OK) {
        cJSON *entry = cJSON_CreateObject();
        if (!entry || !cJSON_AddStringToObject(entry, "sha256", hex) ||
            !cJSON_AddNumberToObject(entry, "bytes", (double)bytes)) {
            cJSON_Delete(entry);
            rc = err_nomem(e);
        } else {
            cJSON_AddItemToObject(pins, key, entry);
            rc = json_write_if_changed(ORIGIN_PIN_LOCK, pins, NULL, e);
            if (rc == PPR_OK)
                fprintf(stderr, "ppr-fetch: pinned '%s' (sha256 %.12s) in %s\n", key, hex,
                        ORIGIN_PIN_LOCK);
        }
    }
    cJSON_Delete(pins);
    flock(fd, LOCK_UN);
    close(fd);
    return rc;
}

/* Read path and check it against the entry's pin or the pin lock. */
static int read_pinned(const stage_run *r, const char *key, const cJSON *f, const char *path,
                       src_file *out, char hex[SHA256_HEX_LEN + 1], ppr_err *e)
{
    char *data;
    size_t n;
    int rc = file_read_all(path, &data, &n, e);
    if (rc)
        return rc;
    unsigned char d[SHA256_LEN];
    sha256_buf(data, n, d);
    sha256_hex(d, hex);
    const cJSON *pin = cJSON_GetObjectItemCaseSensitive(f, "sha256");
    const cJSON *bytes = cJSON_GetObjectItemCaseSensitive(f, "bytes");
    if (cJSON_IsString(pin)) {
        if (strcmp(pin->valuestring, hex) != 0 ||
            (cJSON_IsNumber(bytes) && bytes->valuedouble != (double)n))
            rc = err_set(e, PPR_EINPUT,
                         "'%s' does not match its pin in manifests/sources.json "
                         "(sha256 %s, %zu bytes; expected %s)",
                         path, hex, n, pin->valuestring);
    } else {
        rc = pin_lock_check(r, key, hex, n, path, e);
    }
    if (rc) {
        free(data);
        return rc;
    }
    out->data = data;
    out->n = n;
    return PPR_OK;
}

extern char **environ;

/* Why npm failed, from its output: its "npm error" lines (but the one that
 * points at its own log), else its last line; at most 400 bytes. */
static void npm_reason(char *out, const char *log, size_t n)
{
    char *text;
    size_t len;
    out[0] = '\0';
    if (file_read_all(log, &text, &len, NULL))
        return;
    size_t at = 0;
    char *save;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int wanted = (strncmp(line, "npm error", 9) == 0 || strncmp(line, "npm ERR!", 8) == 0) &&
                     !strstr(line, "complete log");
        if (wanted && at < n - 1)
            at += (size_t)snprintf(out + at, n - at, "%s%s", at ? " / " : "", line);
        else if (!wanted && at == 0)
            snprintf(out, n, "%s", line);
    }
    free(text);
}

/* Run `npm pack <spec> --pack-destination <dir>`, its output into log. */
static int npm_run(const char *spec, const char *dir, const char *log, ppr_err *e)
{
    char *argv[] = {"npm", "pack", (char *)spec, "--pack-destination", (char *)dir, NULL};
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int status, en = posix_spawn_file_actions_init(&fa); /* an errno value */
    if (!en) {
        if (!(en = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) &&
            !(en = posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC,
                                                    0644)) &&
            !(en = posix_spawn_file_actions_adddup2(&fa, 1, 2)))
            en = posix_spawnp(&pid, "npm", &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
    }
    if (en)
        return err_set(e, PPR_EINPUT, "npm package \"%s\": cannot run npm: %s", spec,
                       strerror(en));
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return err_set(e, PPR_EINTERNAL, "waitpid: %s", strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return PPR_OK;
    char reason[400];
    npm_reason(reason, log, sizeof reason);
    if (WIFSIGNALED(status))
        return err_set(e, PPR_EINPUT, "npm package \"%s\": 'npm pack' was killed by signal %d",
                       spec, WTERMSIG(status));
    return err_set(e, PPR_EINPUT, "npm package \"%s\": 'npm pack' exited with status %d: %s",
                   spec, WEXITSTATUS(status), reason[0] ? reason : "(no output)");
}

/* Fetch an npm package's tarball with `npm pack` into a fresh directory beside
 * dest, then move it to dest once it matches the file's pin (as download_file
 * does), so that a wrong tarball never enters the cache. */
static int npm_fetch(const char *spec, const cJSON *f, const char *dest, ppr_err *e)
{
    size_t n = strlen(dest);
    char *dir = malloc(n + sizeof ".npmXXXXXX");
    if (!dir)
        return err_nomem(e);
    memcpy(dir, dest, n);
    memcpy(dir + n, ".npmXXXXXX", sizeof ".npmXXXXXX");
    if (!mkdtemp(dir)) {
        int rc = err_set(e, PPR_EINPUT, "cannot create '%s': %s", dir, strerror(errno));
        free(dir);
        return rc;
    }
    char *log = path_join(dir, "npm.log"), *tgz = NULL;
    int rc = log ? npm_run(spec, dir, log, e) : err_nomem(e);
    DIR *d = rc == PPR_OK ? opendir(dir) : NULL;
    for (struct dirent *de; d && !tgz && rc == PPR_OK && (de = readdir(d));) {
        size_t len = strlen(de->d_name);
        if (len > 4 && strcmp(de->d_name + len - 4, ".tgz") == 0 &&
            !(tgz = path_join(dir, de->d_name)))
            rc = err_nomem(e);
    }
    if (d)
        closedir(d);
    if (rc == PPR_OK && !tgz)
        rc = err_set(e, PPR_EINPUT, "npm package \"%s\": 'npm pack' wrote no tarball", spec);
    const cJSON *pin = cJSON_GetObjectItemCaseSensitive(f, "sha256");
    const cJSON *bytes = cJSON_GetObjectItemCaseSensitive(f, "bytes");
    unsigned char digest[SHA256_LEN];
    char hex[SHA256_HEX_LEN + 1];
    uint64_t got = 0;
    if (rc == PPR_OK && (cJSON_IsString(pin) || cJSON_IsNumber(bytes)) &&
        (rc = sha256_file(tgz, digest, &got, e)) == PPR_OK) {
        sha256_hex(digest, hex);
        if ((cJSON_IsString(pin) && strcmp(pin->valuestring, hex) != 0) ||
            (cJSON_IsNumber(bytes) && bytes->valuedouble != (double)got))
            rc = err_set(e, PPR_EINPUT,
                         "npm package \"%s\": the tarball does not match its pin in "
                         "manifests/sources.json (sha256 %s, %llu bytes; expected %s)",
                         spec, hex, (unsigned long long)got,
                         cJSON_IsString(pin) ? pin->valuestring : "any");
    }
    if (rc == PPR_OK && rename(tgz, dest) != 0)
        rc = err_set(e, PPR_EINPUT, "cannot move '%s' to '%s': %s", tgz, dest, strerror(errno));
    if (rc == PPR_OK) {
        char *parent = strndup(dest, (size_t)(strrchr(dest, '/') - dest));
        rc = parent ? dir_sync(parent, e) : err_nomem(e);
        free(parent);
    }
    if (tgz)
        unlink(tgz);
    if (log)
        unlink(log);
    rmdir(dir);
    free(tgz);
    free(log);
    free(dir);
    return rc;
}

/* Download one file of the entry into dest (the download cache). */
static int fetch_one(const cJSON *entry, const cJSON *f, const char *dest, ppr_err *e)
{
    const cJSON *up = cJSON_GetObjectItemCaseSensitive(entry, "upstream");
    const cJSON *hf = cJSON_GetObjectItemCaseSensitive(f, "hf");
    const cJSON *npm = cJSON_GetObjectItemCaseSensitive(up, "npm");
    char *slash_dir = strdup(dest);
    if (!slash_dir)
        return err_nomem(e);
    *strrchr(slash_dir, '/') = '\0';
    int rc = dir_make(slash_dir, e);
    free(slash_dir);
    if (rc)
        return rc;
    if (hf) {
        const char *api, *dataset, *config, *split;
        if (json_get_str(up, "api", "manifests/sources.json", &api, e) ||
            json_get_str(up, "hf_dataset", "manifests/sources.json", &dataset, e) ||
            json_get_str(hf, "config", "manifests/sources.json", &config, e) ||
            json_get_str(hf, "split", "manifests/sources.json", &split, e))
            return PPR_EINPUT;
        return hfrows_fetch(api, dataset, config, split, dest, e);
    }
    if (npm) {
        if (!cJSON_IsString(npm))
            return err_set(e, PPR_EINPUT, "'manifests/sources.json': \"npm\" must be a string "
                           "\"<package>@<version>\"");
        return npm_fetch(npm->valuestring, f, dest, e);
    }
    const char *base, *rel;
    if (json_get_str(up, "url", "manifests/sources.json", &base, e) ||
        json_get_str(f, "upstream_path", "manifests/sources.json", &rel, e))
        return PPR_EINPUT;
    char *upstream = malloc(strlen(base) + strlen(rel) + 1);
    if (!upstream)
        return err_nomem(e);
    strcpy(upstream, base);
    strcat(upstream, rel);
    char *url = download_url(upstream);
    free(upstream);
    if (!url)
        return err_nomem(e);
    const cJSON *pin = cJSON_GetObjectItemCaseSensitive(f, "sha256");
    const cJSON *bytes = cJSON_GetObjectItemCaseSensitive(f, "bytes");
    char got[SHA256_HEX_LEN + 1];
    uint64_t got_bytes;
    int64_t want = 0; /* 0: no size pinned */
    if (bytes && json_get_int(f, "bytes", "manifests/sources.json", &want, e)) {
        free(url);
        return PPR_EINPUT;
    }
    rc = download_file(url, dest, cJSON_IsString(pin) ? pin->valuestring : NULL,
                       want > 0 ? (uint64_t)want : 0, got, &got_bytes, e);
    free(url);
    return rc;
}

int origin_read(origin *o, stage_run *r, const char *source, const cJSON *entry,
                int download, ppr_err *e)
{
    memset(o, 0, sizeof *o);
    o->source = source;
    const char *folder;
    const cJSON *files;
    if (json_get_str(entry, "mirror", "manifests/sources.json", &folder, e) ||
        !(files = json_get_arr(entry, "files", "manifests/sources.json", e)))
        return PPR_EINPUT;
    size_t count = (size_t)cJSON_GetArraySize(files);
    if (!(o->files = calloc(count ? count : 1, sizeof *o->files)))
        return err_nomem(e);
    char *hashes = malloc((count ? count : 1) * (SHA256_HEX_LEN + 1)); /* [n_files][65] */
    if (!hashes)
        return err_nomem(e);
    int rc = PPR_OK;
    for (const cJSON *f = files->child; f && rc == PPR_OK; f = f->next) {
        const char *rel;
        mirror_file mf;
        if ((rc = json_get_str(f, "path", "manifests/sources.json", &rel, e)) ||
            (rc = mirror_locate(&mf, r->st.root, folder, rel, e)))
            break;
        src_file *sf = &o->files[o->n_files];
        char hex[SHA256_HEX_LEN + 1], where[800];
        const char *path = mf.path;
        mirror_say_missing(&mf, where, sizeof where);
        o->unavailable = !path;
        if (!path && !download)
            rc = err_set(e, PPR_EINPUT, "source \"%s\": %s (set PPR_MIRROR, or allow downloads)",
                         source, where);
        if (!path && download) {
            rc = fetch_one(entry, f, mf.cached, e);
            if (rc)
                err_wrap(e, "source \"%s\": %s, and downloading it failed", source, where);
            o->downloaded += rc == PPR_OK;
            o->unavailable = rc != PPR_OK;
            path = mf.cached;
        }
        if (rc == PPR_OK && !(sf->name = strdup(rel)))
            rc = err_nomem(e);
        if (rc == PPR_OK) {
            o->n_files++;
            rc = read_pinned(r, mf.key, f, path, sf, hex, e);
        }
        if (rc == PPR_OK)
            memcpy(hashes + (o->n_files - 1) * (SHA256_HEX_LEN + 1), hex, sizeof hex);
        mirror_file_release(&mf);
    }
    /* Inputs are recorded only once every file is in hand, so a source that
     * could not be read leaves no trace in the lock. */
    for (size_t i = 0; i < o->n_files && rc == PPR_OK; i++) {
        char *key = path_join(folder, o->files[i].name);
        rc = key ? stage_add_file(r, key, hashes + i * (SHA256_HEX_LEN + 1), o->files[i].n, e)
                 : err_nomem(e);
        free(key);
    }
    free(hashes);
    if (rc) {
        int unavailable = o->unavailable;
        origin_release(o);
        o->unavailable = unavailable;
    }
    return rc;
}
