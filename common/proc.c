/* proc.c: posix_spawnp and waitpid, with ppr's errors. */
#include "proc.h"

#include <errno.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

int proc_run(char *const argv[], const char *why, ppr_err *e)
{
    pid_t pid;
    int status, en = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);
    if (en)
        return err_set(e, PPR_EINPUT, "cannot run '%s': %s", argv[0], strerror(en));
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return err_set(e, PPR_EINTERNAL, "waitpid: %s", strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return PPR_OK;
    return err_set(e, PPR_EINPUT, "'%s' failed %s (%s %d)", argv[0], why,
                   WIFEXITED(status) ? "exit code" : "signal",
                   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}
