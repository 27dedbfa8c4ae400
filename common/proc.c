/* proc.c: posix_spawnp and waitpid, with ppr's errors. */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "progress.h"

extern char **environ;

/* *status: waitpid's status word. */
static int wait_child(pid_t pid, int *status, ppr_err *e)
{
    while (waitpid(pid, status, 0) < 0)
        if (errno != EINTR)
            return err_set(e, PPR_EINTERNAL, "waitpid: %s", strerror(errno));
    return PPR_OK;
}

/* Its exit code, or 128 + the signal that ended it, as a shell reports it. */
static int exit_code(int status)
{
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int proc_run(char *const argv[], const char *why, ppr_err *e)
{
    pid_t pid;
    int status, en = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);
    if (en)
        return err_set(e, PPR_EINPUT, "cannot run '%s': %s", argv[0], strerror(en));
    if (wait_child(pid, &status, e))
        return PPR_EINTERNAL;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return PPR_OK;
    return err_set(e, PPR_EINPUT, "'%s' failed %s (%s %d)", argv[0], why,
                   WIFEXITED(status) ? "exit code" : "signal",
                   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

int proc_wrap(char *const argv[], int *status, ppr_err *e)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction ign = {.sa_handler = SIG_IGN}, old[3];
    posix_spawnattr_t attr;
    sigset_t dfl;
    sigemptyset(&dfl);
    for (int i = 0; i < 3; i++) {
        sigaddset(&dfl, sigs[i]);
        sigaction(sigs[i], &ign, &old[i]);
    }
    pid_t pid;
    int en = posix_spawnattr_init(&attr);
    if (!en)
        en = posix_spawnattr_setsigdefault(&attr, &dfl);
    if (!en)
        en = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
    if (!en)
        en = posix_spawnp(&pid, argv[0], NULL, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    int st, rc = en ? err_set(e, PPR_EINPUT, "cannot run '%s': %s", argv[0], strerror(en))
                    : wait_child(pid, &st, e);
    if (rc == PPR_OK)
        *status = exit_code(st);
    for (int i = 0; i < 3; i++)
        sigaction(sigs[i], &old[i], NULL);
    return rc;
}

int proc_capture(char *const argv[], double timeout_s, const char *why, char *out, size_t cap,
                 int *status, ppr_err *e)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return err_set(e, PPR_EINTERNAL, "pipe: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int en = posix_spawn_file_actions_init(&fa);
    if (!en)
        en = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (!en)
        en = posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    if (!en)
        en = posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    if (!en)
        en = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (en) {
        close(fds[0]);
        return err_set(e, PPR_EINPUT, "cannot run '%s': %s", argv[0], strerror(en));
    }
    size_t len = 0;
    double end = clock_seconds() + timeout_s;
    int timed_out = 0;
    for (;;) {
        double left = end - clock_seconds();
        if (timeout_s > 0 && left <= 0) {
            timed_out = 1;
            break;
        }
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        int n = poll(&p, 1, timeout_s > 0 ? (int)(left * 1000) + 1 : -1);
        if (n < 0 && errno != EINTR)
            break;
        if (n <= 0)
            continue;
        char buf[4096];
        ssize_t got = read(fds[0], buf, sizeof buf);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        size_t take = (size_t)got < cap - 1 - len ? (size_t)got : cap - 1 - len;
        memcpy(out + len, buf, take);
        len += take;
    }
    out[len] = '\0';
    close(fds[0]);
    if (timed_out)
        kill(pid, SIGKILL);
    int st;
    if (wait_child(pid, &st, e))
        return PPR_EINTERNAL;
    *status = exit_code(st);
    if (timed_out)
        return err_set(e, PPR_EINPUT, "'%s' did not answer within %g s %s", argv[0], timeout_s,
                       why);
    return PPR_OK;
}
