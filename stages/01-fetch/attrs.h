/* attrs.h: the text attributes the simulated users judge answers by, measured
 * from an answer's bytes by the rules of docs/simulator.md, then standardized
 * over a corpus into [-1, 1]. */
#ifndef PPR_FETCH_ATTRS_H
#define PPR_FETCH_ATTRS_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

enum attr_id {
    ATTR_EXPERTISE = 0,   /* vocabulary level: share of words of 3+ syllables */
    ATTR_INFORMATIVENESS, /* length: ln(1 + words) */
    ATTR_STYLE,           /* friendly vs curt tone: friendly markers per word */
    ATTR_COMPLIANCE,      /* -1 when a refusal marker opens the answer, else +1 */
    ATTR_FORMATTING,      /* ln(1 + list, header, fence and table lines + bold spans) */
    ATTR_QUALITY,         /* per generating model: mean composite of its answers */
    ATTR_COUNT
};

/* Bytes of the opening that the refusal markers are searched in. */
#define ATTRS_REFUSAL_WINDOW 600

/* What one pass over a text counts; the raw measures derive from these. */
typedef struct {
    uint32_t words;         /* maximal runs of word bytes */
    uint32_t complex_words; /* words of 3 or more syllables */
    uint32_t friendly;      /* lexicon words + second-person words + '!' + emoji */
    uint32_t markup;        /* list, header, fence and table lines + bold spans */
    int refusal;            /* 1 when a refusal marker appears in the opening */
} attrs_counts;

/* Per-attribute mean and standard deviation the standardization used. */
typedef struct {
    double mean[ATTR_COUNT]; /* [ATTR_COUNT]; compliance is not standardized (0) */
    double sd[ATTR_COUNT];   /* [ATTR_COUNT]; compliance is not standardized (1) */
} attrs_stats;

const char *attrs_name(int id);
/* The attribute id of a name, or -1. */
int attrs_lookup(const char *name);

/* Count one text. Any bytes are accepted: invalid UTF-8 never fails. */
void attrs_count(const char *s, size_t n, attrs_counts *c);

/* Raw measures of one text: raw[ATTR_QUALITY] is left 0, quality being a
 * property of the generating model (attrs_standardize). */
void attrs_raw(const attrs_counts *c, double raw[ATTR_COUNT]);

/* Turn the raw measures of n answers into attributes in [-1, 1]:
 * raw    [n][ATTR_COUNT]  from attrs_raw
 * model  [n]              generating model of each answer, < n_models
 * out    [n][ATTR_COUNT]  attributes
 * Every raw measure but compliance becomes tanh(z), z standardized over the n
 * answers; quality is the model's mean composite, then standardized likewise. */
int attrs_standardize(const double *raw, const uint32_t *model, size_t n,
                      size_t n_models, float *out, attrs_stats *st, ppr_err *e);

#endif
