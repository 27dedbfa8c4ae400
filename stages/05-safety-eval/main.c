/* main.c: stage 05, safety-eval: one row of Table 3 (a dataset and a method,
 * or the reference) on the safety pairs: XSTest's and HH-RLHF harmless's
 * evaluation parts and, when the real RewardBench is fetched, its safety
 * subsets; accuracy and change against the reference (docs/tax.md). */
#include "common/models/tax.h"

static int run(stage_run *r, ppr_err *e)
{
    static const char *const categories[] = {"safety", NULL};
    return tax_stage(r, categories, e);
}

int main(int argc, char **argv)
{
    return stage_main("05-safety-eval", "ppr-safety-eval", argc, argv, run);
}
