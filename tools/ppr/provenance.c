/* provenance.c: what the report's slice records of where its numbers were
 * made (stage_def.provenance, docs/report.md): every upstream lock by its
 * SHA-256 with its thread count and OpenBLAS build, each fetched source's
 * kind and files by checksum, each encoding's encoder, the checkout's git
 * commit and the machine that makes the slice. */
#include "provenance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/json.h"
#include "common/sha256.h"
#include "stage_def.h"

#define GIT_DIR ".git"

/* The first line of path, trimmed, into out [n]; 0 when it cannot be read. */
static int read_line(const char *path, char *out, size_t n)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int ok = fgets(out, (int)n, f) != NULL;
    fclose(f);
    out[ok ? strcspn(out, "\r\n") : 0] = '\0';
    return ok;
}

/* The commit of ref ("refs/heads/main") in packed-refs ("<hex> <ref>" lines). */
static int packed_ref(const char *ref, char commit[41])
{
    FILE *f = fopen(GIT_DIR "/packed-refs", "r");
    char line[1024];
    int found = 0;
    while (f && !found && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        found = strlen(line) > 41 && line[40] == ' ' && strcmp(line + 41, ref) == 0;
        if (found)
            snprintf(commit, 41, "%.40s", line);
    }
    if (f)
        fclose(f);
    return found;
}

int provenance_git(char commit[41], strbuf *deps)
{
    char head[1024], path[1100];
    commit[0] = '\0';
    if (!read_line(GIT_DIR "/HEAD", head, sizeof head))
        return 0;
    if (deps)
        strbuf_adds(deps, " " GIT_DIR "/HEAD");
    if (strncmp(head, "ref: ", 5) != 0) { /* detached */
        snprintf(commit, 41, "%.40s", head);
        return strlen(commit) == 40;
    }
    snprintf(path, sizeof path, GIT_DIR "/%s", head + 5);
    if (read_line(path, commit, 41)) {
        if (deps)
            strbuf_addf(deps, " %s", path);
    } else if (packed_ref(head + 5, commit)) {
        if (deps)
            strbuf_adds(deps, " " GIT_DIR "/packed-refs");
    }
    return strlen(commit) == 40;
}

/* The machine: its host name, CPU model and online CPUs. */
static cJSON *machine(void)
{
    char host[256] = "", line[512], cpu[256] = "unknown";
    gethostname(host, sizeof host - 1);
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f)) {
        const char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            snprintf(cpu, sizeof cpu, "%s", colon + 2);
            cpu[strcspn(cpu, "\n")] = '\0';
            break;
        }
    }
    if (f)
        fclose(f);
    cJSON *m = cJSON_CreateObject();
    if (m && (!cJSON_AddStringToObject(m, "host", host) ||
              !cJSON_AddStringToObject(m, "cpu", cpu) ||
              !cJSON_AddNumberToObject(m, "cpus", (double)sysconf(_SC_NPROCESSORS_ONLN)))) {
        cJSON_Delete(m);
        return NULL;
    }
    return m;
}

/* What a fetch lock's config says of its data: its kind ("sim", "real"),
 * its origin and the origin's files by checksum. */
static cJSON *source_of(const cJSON *cfg)
{
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(cfg, "source");
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cfg, "origin"), "files");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(src, "kind");
    const cJSON *origin = cJSON_GetObjectItemCaseSensitive(cfg, "origin_name");
    cJSON *s = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(s, "files");
    if (!s || !list || !cJSON_AddStringToObject(s, "kind", cJSON_IsString(kind) ? kind->valuestring : "?") ||
        !cJSON_AddStringToObject(s, "origin", cJSON_IsString(origin) ? origin->valuestring : "?")) {
        cJSON_Delete(s);
        return NULL;
    }
    for (const cJSON *f = files ? files->child : NULL; f; f = f->next) {
        cJSON *it = cJSON_CreateObject();
        const cJSON *path = cJSON_GetObjectItemCaseSensitive(f, "path");
        const cJSON *sha = cJSON_GetObjectItemCaseSensitive(f, "sha256");
        if (!it || !cJSON_AddItemToArray(list, it) ||
            !cJSON_AddStringToObject(it, "path", cJSON_IsString(path) ? path->valuestring : "?") ||
            !cJSON_AddStringToObject(it, "sha256", cJSON_IsString(sha) ? sha->valuestring : "?")) {
            cJSON_Delete(s);
            return NULL;
        }
    }
    return s;
}

/* One upstream node's record: its lock's SHA-256 and tool, and what its
 * stage adds (a fetch its source, an encoding its encoder). */
static int run_of(const pipe_node *u, cJSON *runs, ppr_err *e)
{
    unsigned char d[SHA256_LEN];
    char hex[SHA256_HEX_LEN + 1];
    cJSON *lock;
    if (sha256_file(u->lock_path, d, NULL, e) || !(lock = json_parse_file(u->lock_path, e)))
        return err_wrap(e, "the report's provenance reads it");
    sha256_hex(d, hex);
    const cJSON *tool = cJSON_GetObjectItemCaseSensitive(lock, "tool");
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(lock, "config");
    const cJSON *threads = cJSON_GetObjectItemCaseSensitive(tool, "threads");
    const cJSON *blas = cJSON_GetObjectItemCaseSensitive(tool, "openblas");
    const cJSON *enc = cJSON_GetObjectItemCaseSensitive(cfg, "encoder");
    cJSON *it = cJSON_CreateObject();
    int ok = it && cJSON_AddItemToArray(runs, it) && cJSON_AddStringToObject(it, "node", u->id) &&
             cJSON_AddStringToObject(it, "lock", hex) &&
             cJSON_AddItemToObject(it, "threads", cJSON_IsNumber(threads)
                                                      ? cJSON_CreateNumber(threads->valuedouble)
                                                      : cJSON_CreateNull()) &&
             cJSON_AddItemToObject(it, "openblas", cJSON_IsString(blas)
                                                       ? cJSON_CreateString(blas->valuestring)
                                                       : cJSON_CreateNull());
    if (ok && strcmp(pipe_node_stage(u), "01-fetch") == 0)
        ok = cJSON_AddItemToObject(it, "source", source_of(cfg));
    if (ok && cJSON_IsString(enc)) {
        cJSON *e_cfg = cJSON_CreateObject();
        ok = e_cfg && cJSON_AddItemToObject(it, "encoder", e_cfg) &&
             cJSON_AddStringToObject(e_cfg, "name", enc->valuestring) &&
             cJSON_AddItemToObject(
                 e_cfg, "settings",
                 cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(cfg, enc->valuestring), 1));
    }
    cJSON_Delete(lock);
    return ok ? PPR_OK : err_nomem(e);
}

int provenance_add(const pipeline *p, const pipe_node *n, cJSON *cfg, ppr_err *e)
{
    size_t at = (size_t)(n - p->nodes);
    char *up = calloc(at + 1, 1); /* [at + 1]: whether node k is upstream of n */
    cJSON *prov = cJSON_AddObjectToObject(cfg, "provenance");
    cJSON *runs = prov ? cJSON_AddArrayToObject(prov, "runs") : NULL;
    char commit[41];
    int rc = up && runs ? PPR_OK : err_nomem(e);
    if (rc == PPR_OK)
        up[at] = 1;
    for (size_t k = at + 1; rc == PPR_OK && k-- > 0;)
        for (size_t i = 0; up[k] && i < p->nodes[k].n_inputs; i++)
            up[p->nodes[k].inputs[i].node - p->nodes] = 1;
    for (size_t k = 0; k < at && rc == PPR_OK; k++)
        if (up[k])
            rc = run_of(&p->nodes[k], runs, e);
    free(up);
    if (rc == PPR_OK &&
        (!cJSON_AddItemToObject(prov, "git_commit", provenance_git(commit, NULL)
                                                        ? cJSON_CreateString(commit)
                                                        : cJSON_CreateNull()) ||
         !cJSON_AddItemToObject(prov, "machine", machine())))
        rc = err_nomem(e);
    return rc;
}
