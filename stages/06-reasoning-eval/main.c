/* main.c: stage 06, reasoning-eval: one row of Table 3 (a dataset and a
 * method, or the reference) on the reasoning pairs (HumanEvalPack's
 * evaluation tasks; RewardBench's math-prm and hep when fetched), chat-hard
 * (LLMBar's five sets; RewardBench's mt-bench-hard) and chat (RewardBench
 * only; without it "unavailable"): accuracy and change against the reference
 * (docs/tax.md). */
#include "common/models/tax.h"

static int run(stage_run *r, ppr_err *e)
{
    static const char *const categories[] = {"reasoning", "chat-hard", "chat", NULL};
    return tax_stage(r, categories, e);
}

int main(int argc, char **argv)
{
    return stage_main("06-reasoning-eval", "ppr-reasoning-eval", argc, argv, run);
}
