/* stats.c: means and intervals over seeds (see stats.h). */
#include "common/models/stats.h"

#include <math.h>

double stats_ci95(double sd, int n)
{
    /* Student's t, two-sided 97.5% quantiles for 1..30 degrees of freedom. */
    static const double t975[30] = {
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
        2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
        2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
    if (n < 2)
        return NAN;
    double t = n - 1 <= 30 ? t975[n - 2] : 1.960;
    return t * sd / sqrt((double)n);
}

double stats_ci95_sums(double sum, double sq, int n)
{
    double mean = sum / n, var = n > 1 ? (sq - n * mean * mean) / (n - 1) : NAN;
    return stats_ci95(sqrt(var > 0 ? var : 0), n);
}

void stats_summarize(cJSON *metrics)
{
    cJSON *runs = cJSON_GetObjectItemCaseSensitive(metrics, "runs");
    cJSON *summary = cJSON_AddArrayToObject(metrics, "summary");
    for (const cJSON *a = runs->child; a; a = a->next) {
        double size = cJSON_GetObjectItemCaseSensitive(a, "size")->valuedouble;
        int seen = 0;
        for (const cJSON *b = runs->child; b != a && !seen; b = b->next)
            seen = cJSON_GetObjectItemCaseSensitive(b, "size")->valuedouble == size;
        if (seen)
            continue;
        double sum = 0, sq = 0, half = 0;
        int n = 0, n_half = 0;
        for (const cJSON *b = a; b; b = b->next) {
            const cJSON *mean = cJSON_GetObjectItemCaseSensitive(b, "mean");
            const cJSON *iv = cJSON_GetObjectItemCaseSensitive(b, "mean_pairs95");
            if (cJSON_GetObjectItemCaseSensitive(b, "size")->valuedouble != size || !mean)
                continue;
            sum += mean->valuedouble;
            sq += mean->valuedouble * mean->valuedouble;
            n++;
            if (cJSON_GetArraySize(iv) == 2) {
                half += (cJSON_GetArrayItem(iv, 1)->valuedouble -
                         cJSON_GetArrayItem(iv, 0)->valuedouble) / 2;
                n_half++;
            }
        }
        cJSON *s = cJSON_CreateObject();
        cJSON_AddNumberToObject(s, "size", size);
        cJSON_AddNumberToObject(s, "seeds", n);
        if (n) {
            double mean = sum / n, var = n > 1 ? (sq - n * mean * mean) / (n - 1) : 0;
            double ci = stats_ci95(sqrt(var > 0 ? var : 0), n);
            cJSON_AddNumberToObject(s, "mean", mean);
            if (!isnan(ci))
                cJSON_AddNumberToObject(s, "ci95", ci);
            if (n_half)
                cJSON_AddNumberToObject(s, "pairs_ci95", half / n_half);
        }
        cJSON_AddItemToArray(summary, s);
    }
}
