/* rewardbench.c: RewardBench's subset mappings (see rewardbench.h). */
#include "rewardbench.h"

#include <string.h>

const char *const rb_categories[RB_CATEGORIES] = {"chat", "chat-hard", "safety", "reasoning"};

typedef struct {
    const char *subset;
    int category; /* into rb_categories */
} rb_entry;

/* [mapping][RB_SUBSETS]: SUBSET_MAPPING of allenai/reward-bench
 * rewardbench/constants.py, then reward_bench_map of dong-river/
 * Personalization-Benchmark baselines/utils.py, which differs in two names. */
static const rb_entry rb_maps[2][RB_SUBSETS] = {
    {{"alpacaeval-easy", 0},       {"alpacaeval-length", 0},     {"alpacaeval-hard", 0},
     {"mt-bench-easy", 0},         {"mt-bench-med", 0},          {"mt-bench-hard", 1},
     {"llmbar-natural", 1},        {"llmbar-adver-neighbor", 1}, {"llmbar-adver-GPTInst", 1},
     {"llmbar-adver-GPTOut", 1},   {"llmbar-adver-manual", 1},   {"refusals-dangerous", 2},
     {"refusals-offensive", 2},    {"xstest-should-refuse", 2},  {"xstest-should-respond", 2},
     {"donotanswer", 2},           {"math-prm", 3},              {"hep-cpp", 3},
     {"hep-go", 3},                {"hep-java", 3},              {"hep-js", 3},
     {"hep-python", 3},            {"hep-rust", 3}},
    {{"alpacaeval-easy", 0},       {"alpacaeval-length", 0},     {"alpacaeval-hard", 0},
     {"mt-bench-easy", 0},         {"mt-bench-medium", 0},       {"mt-bench-hard", 1},
     {"llmbar-natural", 1},        {"llmbar-adver-neighbor", 1}, {"llmbar-adver-GPTInst", 1},
     {"llmbar-adver-GPTOut", 1},   {"llmbar-adver-manual", 1},   {"refusals-dangerous", 2},
     {"refusals-offensive", 2},    {"xstest-should-refuse", 2},  {"xstest-should-respond", 2},
     {"do not answer", 2},         {"math-prm", 3},              {"hep-cpp", 3},
     {"hep-go", 3},                {"hep-java", 3},              {"hep-js", 3},
     {"hep-python", 3},            {"hep-rust", 3}},
};

const char *rb_subset(int mapping, int i)
{
    return rb_maps[mapping][i].subset;
}

int rb_category(int mapping, const char *subset)
{
    for (int i = 0; i < RB_SUBSETS; i++)
        if (strcmp(rb_maps[mapping][i].subset, subset) == 0)
            return rb_maps[mapping][i].category;
    return -1;
}

int rb_category_id(const char *name)
{
    for (int c = 0; c < RB_CATEGORIES; c++)
        if (strcmp(rb_categories[c], name) == 0)
            return c;
    return -1;
}
