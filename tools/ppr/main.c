/* main.c: the `ppr` command: pipeline plumbing for Ninja (grid, slice),
 * the run that checks its launcher first (run) and the reviewer's tools
 * (status, why, verify, gc, archive, restore). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>

#include "common/fsutil.h"
#include "common/json.h"
#include "common/store.h"
#include "common/storelock.h"
#include "launch.h"
#include "pipeline.h"
#include "repair.h"
#include "repo.h"
#include "status.h"

static const char usage[] =
    "usage: ppr <command>\n"
    "  help, -h, --help        print this text\n"
    "  run [<ninja args>]      check the launcher (run.launcher, or $PPR_LAUNCHER): for\n"
    "                          \"slurm\", srun, the controller and a store all nodes\n"
    "                          share; then run ninja with the arguments\n"
    "  status                  which stages are stale and why\n"
    "  why <stage|node|path>   every reason a stage (02-characterize) or one instance\n"
    "                          of it (02-characterize-sim-psoups, or its lock or slice\n"
    "                          path) would run\n"
    "  verify                  re-hash every object the store holds and check every lock\n"
    "                          and run record against the objects they name\n"
    "  verify --repair         remove what is damaged, rebuild it with ninja, verify again\n"
    "  verify --archive <file> check an archive made by `ppr archive`\n"
    "  gc [--dry-run]          delete objects no lock or run-cache record references\n"
    "  archive <file>          pack config, locks and their objects into one tar.zst\n"
    "  restore <file>          unpack such an archive into this checkout; a manifest\n"
    "                          it changes is kept as <manifest>.before-restore\n"
    "  grid                    regenerate " GRID_PATH " (Ninja does this)\n"
    "  slice <node>            write the config slice of <node> (Ninja does this)\n"
    "  probe-store <path> <token>\n"
    "                          write the store's probe (the Slurm job of `ppr run` does this)\n";

/* Regenerate the grid; touching build.ninja makes Ninja reload it. */
static int cmd_grid(ppr_err *e)
{
    pipeline p;
    store s;
    storelock l;
    int changed = 0;
    if (pipeline_load(&p, e))
        return PPR_EINPUT;
    /* Shared: a stage's sweep must not take the grid's temp file (stage.h). */
    int rc = storelock_open(&s, &l, STORELOCK_SHARED, NULL, e);
    if (rc == PPR_OK) {
        rc = pipeline_write_grid(&p, GRID_PATH, &changed, e);
        storelock_close(&s, &l);
    }
    pipeline_release(&p);
    if (rc == PPR_OK && changed && utimensat(AT_FDCWD, "build.ninja", NULL, 0) != 0)
        rc = err_set(e, PPR_EINPUT, "cannot touch 'build.ninja'");
    return rc;
}

/* Write a node's slice and its edge's depfile, first repairing any upstream
 * lock that is not valid (repair.h), since the slice names its outputs. */
static int cmd_slice(const char *id, ppr_err *e)
{
    pipeline p;
    if (pipeline_load(&p, e))
        return PPR_EINPUT;
    const pipe_node *n = pipeline_find(&p, id);
    size_t repaired = 0;
    int rc = !n ? err_set(e, PPR_EINPUT, "unknown pipeline node \"%s\"", id)
                : repair_upstream(&p, n, &repaired, e);
    if (rc == PPR_OK)
        rc = repair_write_slice(&p, n, e);
    pipeline_release(&p);
    return rc;
}

static int cmd_status(const char *only, ppr_err *e)
{
    pipeline p;
    if (pipeline_load(&p, e))
        return PPR_EINPUT;
    int rc = PPR_OK;
    size_t n_stale = 0, matched = 0;
    for (size_t k = 0; k < p.n_nodes && rc == PPR_OK; k++) {
        const pipe_node *n = &p.nodes[k];
        if (only && strcmp(only, n->id) != 0 && strcmp(only, pipe_node_stage(n)) != 0)
            continue;
        matched++;
        status_warn_texts(n, only ? "ppr why" : "ppr status", stderr);
        size_t reasons = 0;
        char *buf = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&buf, &len);
        if (!mem) {
            rc = err_nomem(e);
            break;
        }
        rc = status_explain(&p, n, mem, "    ", &reasons, e);
        fclose(mem);
        if (rc == PPR_OK) {
            printf("%-40s %s\n", n->id, reasons ? "stale" : "up to date");
            if (reasons)
                fputs(buf, stdout);
        }
        n_stale += reasons > 0;
        free(buf);
    }
    if (rc == PPR_OK && only && !matched)
        rc = err_set(e, PPR_EINPUT, "unknown pipeline node \"%s\" (see `ppr status`)", only);
    if (rc == PPR_OK && !only)
        printf("%zu of %zu stage instances stale\n", n_stale, p.n_nodes);
    pipeline_release(&p);
    return rc;
}

/* What `ppr why` names: the node of a lock or slice path (manifests/lock/<id>.json,
 * build/slice/<id>.json, also with a leading "./"), else arg itself (a node id
 * or a stage name). */
static const char *why_target(const char *arg, char *buf, size_t cap)
{
    static const char *const dirs[] = {LOCK_DIR "/", STAGE_SLICE_DIR "/"};
    const char *path = arg;
    while (strncmp(path, "./", 2) == 0)
        path += 2;
    size_t len = strlen(path), ext = strlen(".json");
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        size_t d = strlen(dirs[i]);
        if (strncmp(path, dirs[i], d) == 0 && len > d + ext && len - d - ext < cap &&
            strcmp(path + len - ext, ".json") == 0) {
            memcpy(buf, path + d, len - d - ext);
            buf[len - d - ext] = '\0';
            return buf;
        }
    }
    return arg;
}

int main(int argc, char **argv)
{
    ppr_err e = {0};
    int rc;
    const char *cmd = argc > 1 ? argv[1] : "";
    char node[256];
    if (argc == 2 &&
        (strcmp(cmd, "help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0)) {
        fputs(usage, stdout);
        return 0;
    }
    if (strcmp(cmd, "run") == 0) {
        const char *launcher;
        rc = launch_check(&launcher, stdout, &e);
        if (rc == PPR_OK) {
            fflush(stdout);
            setenv(LAUNCH_ENV, launcher, 1);
            argv[1] = "ninja";
            execvp(argv[1], argv + 1);
            rc = err_set(&e, PPR_EINPUT, "cannot run 'ninja': %s", strerror(errno));
        }
    } else if (strcmp(cmd, "probe-store") == 0 && argc == 4) {
        rc = launch_probe_write(argv[2], argv[3], stdout, &e);
    } else if (strcmp(cmd, "grid") == 0 && argc == 2) {
        rc = cmd_grid(&e);
    } else if (strcmp(cmd, "slice") == 0 && argc == 3) {
        rc = cmd_slice(argv[2], &e);
    } else if (strcmp(cmd, "status") == 0 && argc == 2) {
        rc = cmd_status(NULL, &e);
    } else if (strcmp(cmd, "why") == 0 && argc == 3) {
        rc = cmd_status(why_target(argv[2], node, sizeof node), &e);
    } else if (strcmp(cmd, "verify") == 0 &&
               (argc == 2 || (argc == 3 && strcmp(argv[2], "--repair") == 0) ||
                (argc == 4 && strcmp(argv[2], "--archive") == 0))) {
        size_t bad = 0;
        rc = argc == 2   ? repo_verify(stdout, &bad, &e)
             : argc == 3 ? repo_repair(stdout, &bad, &e)
                         : repo_archive_verify(argv[3], stdout, &bad, &e);
        if (rc == PPR_OK && bad)
            return 1;
    } else if (strcmp(cmd, "gc") == 0 &&
               (argc == 2 || (argc == 3 && strcmp(argv[2], "--dry-run") == 0))) {
        uint64_t freed = 0;
        size_t removed = 0;
        rc = repo_gc(argc == 3, stdout, &freed, &removed, &e);
    } else if (strcmp(cmd, "archive") == 0 && argc == 3) {
        rc = repo_archive(argv[2], stdout, &e);
    } else if (strcmp(cmd, "restore") == 0 && argc == 3) {
        rc = repo_restore(argv[2], stdout, &e);
    } else {
        fputs(usage, stderr);
        return PPR_EINPUT;
    }
    if (rc) {
        fprintf(stderr, "ppr %s: %s\n", cmd, e.msg);
        return rc;
    }
    return 0;
}
