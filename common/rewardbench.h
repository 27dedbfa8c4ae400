/* rewardbench.h: RewardBench's four categories and the two ways of mapping
 * its subsets onto them (paper.md section 2): `official` (SUBSET_MAPPING of
 * allenai/reward-bench, the dataset's real subset labels) and `paper-code`
 * (reward_bench_map of the paper's baselines/utils.py, whose "mt-bench-medium"
 * and "do not answer" match no row, so its numbers leave out mt-bench-med and
 * donotanswer). Stage 01 selects RewardBench's rows with one of them; stages
 * 05 and 06 put every evaluation pair in its category by its subset. */
#ifndef PPR_REWARDBENCH_H
#define PPR_REWARDBENCH_H

enum { RB_CATEGORIES = 4, RB_SUBSETS = 23 };

enum rb_mapping { RB_OFFICIAL = 0, RB_PAPER_CODE = 1 };

/* "chat", "chat-hard", "safety", "reasoning": the category ids. */
extern const char *const rb_categories[RB_CATEGORIES];

/* The i-th subset name (i < RB_SUBSETS) of a mapping, in the mapping's order. */
const char *rb_subset(int mapping, int i);
/* The category id of a subset under a mapping, or -1 when it has none. */
int rb_category(int mapping, const char *subset);
/* The category id of a category name, or -1. */
int rb_category_id(const char *name);

#endif
