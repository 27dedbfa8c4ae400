/* main.c: stage 07, adapt: one row of Table 4 (a dataset and a way to serve
 * new users: Vanilla RM, retrieve-similar-user, further fine-tuning, GPO,
 * VPL, PRM, or the Individual-RM upper bound) on the new users' held-out
 * pairs after k of their pairs, for each k (docs/adapt.md). */
#include "common/models/adapt.h"

static int run(stage_run *r, ppr_err *e)
{
    return adapt_stage(r, e);
}

int main(int argc, char **argv)
{
    return stage_main("07-adapt", "ppr-adapt", argc, argv, run);
}
