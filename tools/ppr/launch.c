/* launch.c: the launchers of stage edges (launch.h): in place, or as Slurm
 * jobs through srun, and the check of a Slurm cluster that `ppr run` starts
 * with. */
#include "launch.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/lock.h"
#include "common/proc.h"
#include "common/progress.h"
#include "common/stage.h"
#include "common/store.h"
#include "common/storelock.h"

#define PING_TIMEOUT_S 30.0 /* `scontrol ping` waits on the controller's own timeouts */
#define PROBE_MEM_MB 16
#define MIN_MEM_MB 64       /* the least a stage job asks for */
#define OUTPUT_CAP 8192     /* what a captured srun or scontrol may say */

typedef struct {
    cJSON *config;        /* resolved */
    const char *launcher; /* "local" or "slurm" */
    const cJSON *slurm;   /* run.slurm */
    double latency_wait;  /* seconds */
    int64_t mem_mb;       /* the request when the run log has no peak */
} launch_conf;

static void conf_release(launch_conf *c)
{
    cJSON_Delete(c->config);
}

static int conf_load(launch_conf *c, ppr_err *e)
{
    memset(c, 0, sizeof *c);
    if (config_load(CONFIG_PATH, CONFIG_SCHEMA_PATH, &c->config, e))
        return PPR_EINPUT;
    const cJSON *run = json_get_obj(c->config, "run", CONFIG_PATH, e);
    const char *env = getenv(LAUNCH_ENV);
    int rc = !run || !(c->slurm = json_get_obj(run, "slurm", CONFIG_PATH, e)) ? PPR_EINPUT
             : json_get_str(run, "launcher", CONFIG_PATH, &c->launcher, e) ||
                     json_get_num(c->slurm, "latency_wait", CONFIG_PATH, &c->latency_wait, e) ||
                     json_get_int(c->slurm, "mem_mb", CONFIG_PATH, &c->mem_mb, e)
                 ? PPR_EINPUT
                 : PPR_OK;
    if (rc == PPR_OK && env) {
        if (strcmp(env, "local") != 0 && strcmp(env, "slurm") != 0)
            rc = err_set(e, PPR_EINPUT, "$%s is \"%s\": it must be \"local\" or \"slurm\"",
                         LAUNCH_ENV, env);
        c->launcher = env;
    }
    if (rc)
        conf_release(c);
    return rc;
}

static int is_slurm(const launch_conf *c)
{
    return strcmp(c->launcher, "slurm") == 0;
}

/* The peak memory (KiB) of the last run of stage/instance in the run log, or
 * 0 when it records none. Only that record is parsed (found by its head,
 * RUN_LOG_HEAD), so the cost per edge is one scan of the log, not one parse
 * of every line; that record not being a run record is PPR_EINPUT naming the
 * log and the line. */
static int last_peak(const char *stage, const char *instance, long *peak_kib, ppr_err *e)
{
    store s;
    if (store_init(&s, NULL, e))
        return PPR_EINPUT;
    char *path = path_join(s.root, RUN_LOG), *data = NULL, head[600];
    size_t n = 0, hn = (size_t)snprintf(head, sizeof head, RUN_LOG_HEAD, stage, instance);
    int rc = !path ? err_nomem(e) : !file_exists(path) ? PPR_OK : file_read_all(path, &data, &n, e);
    const char *last = NULL, *p = rc == PPR_OK ? data : NULL;
    for (; p && (p = memmem(p, n - (size_t)(p - data), head, hn)); p += hn)
        if (p == data || p[-1] == '\n')
            last = p;
    *peak_kib = 0;
    if (last) {
        size_t line = 1, len = strcspn(last, "\n");
        for (const char *q = data; (q = memchr(q, '\n', (size_t)(last - q))); q++)
            line++;
        char where[4200];
        snprintf(where, sizeof where, "%s:%zu", path, line);
        cJSON *rec = json_parse_buf(last, len, where, e);
        double peak;
        if (!rec || json_get_num(rec, "peak_kib", where, &peak, e))
            rc = err_wrap(e, "the run log (a diary; mend or remove the line)");
        else
            *peak_kib = peak > 0 ? (long)peak : 0;
        cJSON_Delete(rec);
    }
    free(data);
    free(path);
    store_release(&s);
    return rc;
}

static const char *const srun_fixed[] = {"srun", "--nodes=1", "--ntasks=1",
                                          "--quit-on-interrupt"};
#define N_FIXED (sizeof srun_fixed / sizeof *srun_fixed)

/* The srun options every job gets: the job's name, one task on one node with
 * cpus CPUs and mem_mb MiB, a single Ctrl-C (Ninja's interrupt) cancelling
 * it, then run.slurm.options and run.slurm.<stage> (stage NULL: none). bufs
 * hold the formatted ones. Appends to argv at *n. */
static void srun_options(const launch_conf *c, const char *job, const char *stage, int cpus,
                         long mem_mb, char bufs[3][320], const char **argv, size_t *n)
{
    snprintf(bufs[0], sizeof bufs[0], "--job-name=%s", job);
    snprintf(bufs[1], sizeof bufs[1], "--cpus-per-task=%d", cpus);
    snprintf(bufs[2], sizeof bufs[2], "--mem=%ldM", mem_mb);
    for (size_t i = 0; i < N_FIXED; i++)
        argv[(*n)++] = srun_fixed[i];
    for (int i = 0; i < 3; i++)
        argv[(*n)++] = bufs[i];
    const cJSON *lists[] = {cJSON_GetObjectItemCaseSensitive(c->slurm, "options"),
                            stage ? cJSON_GetObjectItemCaseSensitive(c->slurm, stage) : NULL};
    for (size_t i = 0; i < 2; i++)
        for (const cJSON *o = lists[i] ? lists[i]->child : NULL; o; o = o->next)
            argv[(*n)++] = o->valuestring;
}

/* How many srun arguments srun_options may add. */
static size_t srun_options_max(const launch_conf *c, const char *stage)
{
    const cJSON *all = cJSON_GetObjectItemCaseSensitive(c->slurm, "options");
    const cJSON *own = stage ? cJSON_GetObjectItemCaseSensitive(c->slurm, stage) : NULL;
    return N_FIXED + 3 + (size_t)cJSON_GetArraySize(all) + (size_t)cJSON_GetArraySize(own);
}

/* Open path until it opens or wait seconds pass: a file a job wrote on
 * another node of a network file system may take a moment to appear here,
 * and opening it refreshes the attributes (the mtime) Ninja reads next. */
static int wait_visible(const char *path, double wait, const char *what, ppr_err *e)
{
    double end = clock_seconds() + wait;
    for (;;) {
        FILE *f = fopen(path, "rb");
        if (f) {
            fclose(f);
            return PPR_OK;
        }
        if (errno != ENOENT || clock_seconds() >= end)
            return err_set(e, PPR_EINPUT,
                           "%s, but '%s' is not visible here after %g s (%s): the checkout and "
                           "its store must be on a file system all nodes share "
                           "(run.slurm.latency_wait)",
                           what, path, wait, strerror(errno));
        nanosleep(&(struct timespec){.tv_nsec = 100000000}, NULL);
    }
}

/* The slice's stage and instance, and its "threads" setting (1 without one). */
static int slice_facts(const char *path, char *stage, char *instance, size_t cap, int *threads,
                       ppr_err *e)
{
    cJSON *s = json_parse_file(path, e);
    const char *st, *in;
    int64_t t = 1;
    const cJSON *cfg = s ? json_get_obj(s, "config", path, e) : NULL;
    int rc = !cfg || json_get_str(s, "stage", path, &st, e) ||
                     json_get_str(s, "instance", path, &in, e) ||
                     (cJSON_HasObjectItem(cfg, "threads") &&
                      json_get_int(cfg, "threads", path, &t, e))
                 ? PPR_EINPUT
                 : PPR_OK;
    if (rc == PPR_OK && (t < 1 || t > 4096))
        rc = err_set(e, PPR_EINPUT, "'%s': \"threads\" is %lld", path, (long long)t);
    if (rc == PPR_OK) {
        snprintf(stage, cap, "%s", st);
        snprintf(instance, cap, "%s", in);
        *threads = (int)t;
    }
    cJSON_Delete(s);
    return rc;
}

/* Whether prog is an executable in a directory of $PATH. */
static int on_path(const char *prog)
{
    const char *path = getenv("PATH");
    for (const char *p = path ? path : ""; *p;) {
        size_t len = strcspn(p, ":");
        char full[4096];
        snprintf(full, sizeof full, "%.*s/%s", (int)len, p, prog);
        if (len && access(full, X_OK) == 0)
            return 1;
        p += len + (p[len] == ':');
    }
    return 0;
}

/* Each of the NULL-ended progs on PATH, else PPR_EINPUT naming the first
 * missing. */
static int need_on_path(const char *const *progs, ppr_err *e)
{
    for (; *progs; progs++)
        if (!on_path(*progs))
            return err_set(e, PPR_EINPUT,
                           "launcher \"slurm\": '%s' is not on PATH (Slurm's client commands "
                           "are needed where ninja runs)",
                           *progs);
    return PPR_OK;
}

int launch_stage(const char *node, int argc, char **argv, int *status, ppr_err *e)
{
    launch_conf c;
    const char *env = getenv(LAUNCH_ENV);
    int local = env && strcmp(env, "local") == 0; /* no config needed: `ppr run` sets it */
    if (!local) {
        if (conf_load(&c, e))
            return PPR_EINPUT;
        if ((local = !is_slurm(&c)))
            conf_release(&c);
    }
    if (local) {
        execv(argv[0], argv);
        return err_set(e, PPR_EINPUT, "cannot run '%s': %s", argv[0], strerror(errno));
    }
    static const char *const need[] = {"srun", NULL};
    char stage[256], instance[256], bufs[3][320];
    int threads;
    long peak_kib;
    int rc = need_on_path(need, e);
    if (rc == PPR_OK)
        rc = slice_facts(argv[1], stage, instance, sizeof stage, &threads, e);
    if (rc == PPR_OK)
        rc = last_peak(stage, instance, &peak_kib, e);
    const char **sargv = rc ? NULL : calloc(srun_options_max(&c, stage) + (size_t)argc + 1,
                                            sizeof *sargv);
    if (rc == PPR_OK && !sargv)
        rc = err_nomem(e);
    if (rc == PPR_OK) {
        /* a quarter above the last peak, rounded up to MiB */
        long mem = peak_kib ? (peak_kib * 5 / 4 + 1023) / 1024 : (long)c.mem_mb;
        size_t n = 0;
        srun_options(&c, node, stage, threads, mem < MIN_MEM_MB ? MIN_MEM_MB : mem, bufs,
                     sargv, &n);
        for (int i = 0; i < argc; i++)
            sargv[n++] = argv[i];
        rc = proc_wrap((char *const *)sargv, status, e);
    }
    char what[512];
    snprintf(what, sizeof what, "the Slurm job of '%s' ended", node);
    if (rc == PPR_OK && *status == 0)
        rc = wait_visible(argv[2], c.latency_wait, what, e) ||
                     wait_visible(argv[3], c.latency_wait, what, e)
                 ? PPR_EINPUT
                 : PPR_OK;
    free(sargv);
    conf_release(&c);
    return rc;
}

/* Into line: the last line of text that holds want, else its last line that
 * is not empty, without the newline. */
static void pick_line(const char *text, const char *want, char *line, size_t cap)
{
    const char *start = NULL, *end = NULL, *any = NULL, *any_end = NULL;
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "\n");
        if (len && memmem(p, len, want, strlen(want)))
            start = p, end = p + len;
        if (len)
            any = p, any_end = p + len;
        p += len + (p[len] == '\n');
    }
    if (!start)
        start = any, end = any_end;
    snprintf(line, cap, "%.*s", start ? (int)(end - start) : 0, start ? start : "");
}

static int check_controller(ppr_err *e)
{
    char out[OUTPUT_CAP], line[512];
    int status;
    char *const argv[] = {"scontrol", "ping", NULL};
    if (proc_capture(argv, PING_TIMEOUT_S, "(is the Slurm controller running?)", out,
                     sizeof out, &status, e))
        return err_wrap(e, "launcher \"slurm\"");
    pick_line(out, "Slurmctld", line, sizeof line);
    if (status != 0 || !strstr(out, "is UP"))
        return err_set(e, PPR_EINPUT,
                       "launcher \"slurm\": the Slurm controller does not answer: 'scontrol "
                       "ping' exited %d saying \"%s\"",
                       status, line);
    return PPR_OK;
}

/* A job writes token into the store's run-record directory (where a stage
 * that sweeps removes a leftover: the name is a temp file's); this process,
 * holding the store lock shared so that no sweep runs meanwhile, reads it
 * back. */
static int check_store(const launch_conf *c, FILE *out, ppr_err *e)
{
    store s;
    storelock l;
    if (storelock_open(&s, &l, STORELOCK_SHARED, "ppr run", e))
        return PPR_EINPUT;
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char r[22];
    char token[33], name[32], cwd[2048] = "?", bufs[3][320], said[OUTPUT_CAP], line[512];
    char *dir = lock_runs_dir(&s), *path = NULL, *got = NULL;
    const char **argv = calloc(srun_options_max(c, NULL) + 5, sizeof *argv);
    int rc = !dir || !argv ? err_nomem(e) : dir_make(dir, e);
    if (rc == PPR_OK && getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        rc = err_set(e, PPR_EINTERNAL, "getrandom: %s", strerror(errno));
    if (rc == PPR_OK) {
        for (int i = 0; i < 16; i++)
            snprintf(token + 2 * i, 3, "%02x", r[i]);
        memcpy(name, "probe.tmp", 9);
        for (int i = 0; i < 6; i++)
            name[9 + i] = alnum[r[16 + i] % (sizeof alnum - 1)];
        name[15] = '\0';
        if (!(path = path_join(dir, name)))
            rc = err_nomem(e);
    }
    int status = 0;
    if (rc == PPR_OK) {
        size_t n = 0;
        srun_options(c, "ppr-probe", NULL, 1, PROBE_MEM_MB, bufs, argv, &n);
        argv[n++] = "build/bin/ppr";
        argv[n++] = "probe-store";
        argv[n++] = path;
        argv[n++] = token;
        rc = proc_capture((char *const *)argv, 0, "", said, sizeof said, &status, e);
    }
    if (!getcwd(cwd, sizeof cwd))
        snprintf(cwd, sizeof cwd, "?");
    pick_line(said, "error", line, sizeof line);
    if (rc == PPR_OK && status != 0)
        rc = err_set(e, PPR_EINPUT,
                     "launcher \"slurm\": the store's probe job failed (srun exited %d saying "
                     "\"%s\"): the checkout '%s' and its store must be at the same path on a "
                     "file system all nodes share",
                     status, line, cwd);
    /* the job's own line, "ppr-probe job <id> on node '<host>'" (launch_probe_write) */
    const char *said_by = strstr(said, "ppr-probe ");
    char job[300], what[600];
    snprintf(job, sizeof job, "%.*s", said_by ? (int)strcspn(said_by + 10, "\n") : 1,
             said_by ? said_by + 10 : "?");
    snprintf(what, sizeof what, "launcher \"slurm\": the store's probe job (%s) wrote its file",
             job);
    size_t n;
    if (rc == PPR_OK && (rc = wait_visible(path, c->latency_wait, what, e)) == PPR_OK &&
        (rc = file_read_all(path, &got, &n, e)) == PPR_OK &&
        (n != 33 || memcmp(got, token, 32) != 0 || got[32] != '\n'))
        rc = err_set(e, PPR_EINPUT,
                     "%s, but '%s' here holds other bytes: the nodes do not write to this "
                     "store",
                     what, path);
    if (path)
        unlink(path);
    if (rc == PPR_OK)
        fprintf(out, "ppr run: launcher slurm: the controller answers; the probe job (%s) "
                     "wrote to the store '%s' and this process read it back\n",
                job, s.root);
    free(got);
    free(path);
    free(argv);
    free(dir);
    storelock_close(&s, &l);
    return rc;
}

int launch_check(const char **launcher, FILE *out, ppr_err *e)
{
    launch_conf c;
    if (conf_load(&c, e))
        return PPR_EINPUT;
    *launcher = is_slurm(&c) ? "slurm" : "local";
    int rc = PPR_OK;
    if (is_slurm(&c)) {
        static const char *const need[] = {"srun", "scontrol", NULL};
        rc = need_on_path(need, e);
        if (rc == PPR_OK)
            rc = check_controller(e);
        if (rc == PPR_OK)
            rc = check_store(&c, out, e);
    }
    conf_release(&c);
    return rc;
}

int launch_probe_write(const char *path, const char *token, FILE *out, ppr_err *e)
{
    char text[80], host[256] = "?";
    const char *job = getenv("SLURM_JOB_ID"), *node = getenv("SLURMD_NODENAME");
    if (node)
        snprintf(host, sizeof host, "%s", node);
    else
        gethostname(host, sizeof host - 1);
    snprintf(text, sizeof text, "%.32s\n", token);
    if (file_write_atomic(path, text, strlen(text), e))
        return PPR_EINPUT;
    fprintf(out, "ppr-probe job %s on node '%s'\n", job ? job : "?", host);
    return PPR_OK;
}
