/* launch_main.c: ppr-launch, the command of Ninja's stage rule: runs one stage
 * edge where the launcher says (launch.h). */
#include <stdio.h>

#include "launch.h"

int main(int argc, char **argv)
{
    ppr_err e = {0};
    int status;
    if (argc != 6) {
        fputs("usage: ppr-launch <node> <binary> <slice> <lock> <depfile> (Ninja runs this)\n",
              stderr);
        return PPR_EINPUT;
    }
    int rc = launch_stage(argv[1], argc - 2, argv + 2, &status, &e);
    if (rc) {
        fprintf(stderr, "ppr-launch %s: %s\n", argv[1], e.msg);
        return rc;
    }
    return status;
}
