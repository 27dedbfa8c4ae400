/* stats.h: summary statistics of repeated runs: the mean over seeds of each
 * train size, its 95% interval over seeds (Student's t: training randomness)
 * and the mean half-width of the runs' bootstrap intervals over test pairs
 * (evaluation noise). */
#ifndef PPR_MODELS_STATS_H
#define PPR_MODELS_STATS_H

#include <cjson/cJSON.h>

/* Two-sided 95% half-width of the mean of n values with standard deviation sd
 * (Student's t with n - 1 degrees of freedom); NaN for n < 2. */
double stats_ci95(double sd, int n);
/* The same for n values given by their sum and their sum of squares (the
 * sample variance from those); NaN for n < 2. */
double stats_ci95_sums(double sum, double sq, int n);

/* metrics["summary"]: for each size of metrics["runs"] (first seen first),
 * the number of seeds with a "mean", their mean, "ci95" (over seeds) and
 * "pairs_ci95" (the mean over those runs of half their "mean_pairs95"). */
void stats_summarize(cJSON *metrics);

#endif
