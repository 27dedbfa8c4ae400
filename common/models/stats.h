/* stats.h: summary statistics of repeated runs: the mean over seeds of each
 * train size and its 95% interval (Student's t). */
#ifndef PPR_MODELS_STATS_H
#define PPR_MODELS_STATS_H

#include <cjson/cJSON.h>

/* Two-sided 95% half-width of the mean of n values with standard deviation sd
 * (Student's t with n - 1 degrees of freedom); NaN for n < 2. */
double stats_ci95(double sd, int n);

/* metrics["summary"]: for each size of metrics["runs"] (first seen first),
 * the number of seeds with a "mean", their mean and ci95. */
void stats_summarize(cJSON *metrics);

#endif
