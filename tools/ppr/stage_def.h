/* stage_def.h: how pipeline.c describes a stage (its table of stages) and
 * what the stages' own input rules (inputs.c) add to a node: private to
 * tools/ppr. */
#ifndef PPR_STAGE_DEF_H
#define PPR_STAGE_DEF_H

#include <cjson/cJSON.h>

#include "common/error.h"
#include "pipeline.h"

/* One value of a stage's config slice. path is dotted, or several such
 * paths joined by "|" of which the first the config has is read; any of their
 * components may be "{data}" or "{method}" (the instance's set or method) or
 * "{<path>}" (the string at that config path), and so may key. */
typedef struct {
    const char *key;  /* its name in the slice; NULL: the slice is this value */
    const char *path; /* where the config holds it */
    unsigned flags;   /* enum slice_flag */
} slice_key;

enum slice_flag {
    /* The value: a copy of the config's, which must exist, unless */
    KEY_OPTIONAL = 1, /* left out where the config has none */
    KEY_TEXT = 2,     /* the expanded path itself: "{method}" is the method */
    KEY_LISTS = 4,    /* whether the array at path lists the expanded key */
    /* Who reads it: every instance of the stage, unless */
    IF_SET = 8,     /* only those on a dataset or evaluation set */
    IF_NO_SET = 16, /* only the one on no set (the pre-trained reference) */
    IF_SIM = 32,    /* only those on a simulated dataset */
    IF_TUNED = 64   /* only those whose method is not "pretrained" */
};

/* Add to a node's slice config what its stage resolves rather than copies. */
typedef int (*resolve_fn)(const pipeline *p, const pipe_node *n, cJSON *cfg, ppr_err *e);

/* Add the further nodes n reads (node_input); most stages have none. */
typedef int (*extras_fn)(const pipeline *p, pipe_node *n, ppr_err *e);

enum node_list {
    ON_DATASETS = 1,   /* config "datasets" */
    ON_EVALSETS = 2,   /* config "evalsets" */
    ON_AUX = 4,        /* sources fetched only for another stage (the GloVe embeddings) */
    ON_METHODS = 8,    /* every (dataset, method) of config "datasets" x "methods" */
    ON_PRETRAINED = 16, /* one "pretrained" instance when "methods" has it */
    ON_FINE_TUNED = 32, /* every (dataset, method) of "tax.datasets" x "tax.methods" */
    ON_TAX_ROWS = 64,  /* the same with "pretrained" first: Table 3's rows */
    ON_ADAPT_ROWS = 128, /* every (dataset, row) of "adapt.datasets" x "adapt.methods" */
    ON_REPORT = 256      /* one instance, "figures", downstream of every other */
};

struct stage_def {
    const char *name;
    const char *binary;
    int lists;                    /* which instances it runs on: a mask of enum node_list */
    const char *suffix;           /* ends its instances' names (".ft"), or NULL */
    const char *const *sources;   /* the evaluation sets it reads, by source (NAMES) */
    const char *const *upstream;  /* stages of the same set whose outputs it reads (NAMES) */
    const slice_key *keys;        /* its config slice (KEYS) */
    resolve_fn resolve;           /* the rest of its slice config, or NULL */
    extras_fn extras;             /* further nodes whose outputs it reads, or NULL */
    /* committed files its slice records by content hash (NAMES), so that a
     * change to one reruns it: its slice edge depends on them */
    const char *const *files;
    /* whether its slice records where its inputs were made (provenance.h):
     * every upstream lock, the git commit and the machine */
    int provenance;
    /* what it writes outside the store, beside its lock: an implicit output
     * of its stage edge, so that Ninja reruns it when that goes missing */
    const char *writes;
    /* The outputs it reads, by name without prefix ("model-s*": any name that
     * starts so), NAMES; its slice lists those and no other, and the
     * stage must read every one it lists (stage.h). */
    const char *const *reads;
};

/* graph.c: record that n reads the outputs of node id, an earlier one, under names
 * prefix + name: those its stage reads (stage_def.reads) or, when only is not
 * NULL, those of them that match it ("model-100-s*"). */
int node_input_only(const pipeline *p, pipe_node *n, const char *id, const char *prefix,
                    const char *only, ppr_err *e);
int node_input(const pipeline *p, pipe_node *n, const char *id, const char *prefix,
               ppr_err *e);

/* inputs.c: the further inputs (extras_fn) and resolved slice values
 * (resolve_fn) of stages 04-07. */
int inputs_train(const pipeline *p, pipe_node *n, ppr_err *e);
int inputs_fine_tuned(const pipeline *p, pipe_node *n, ppr_err *e);
int inputs_fine_tuned_slice(const pipeline *p, const pipe_node *n, cJSON *c, ppr_err *e);
int inputs_tax(const pipeline *p, pipe_node *n, ppr_err *e);
int inputs_tax_slice(const pipeline *p, const pipe_node *n, cJSON *c, ppr_err *e);
int inputs_adapt(const pipeline *p, pipe_node *n, ppr_err *e);
int inputs_adapt_slice(const pipeline *p, const pipe_node *n, cJSON *c, ppr_err *e);
int inputs_report(const pipeline *p, pipe_node *n, ppr_err *e);
int inputs_report_slice(const pipeline *p, const pipe_node *n, cJSON *c, ppr_err *e);
/* The stage 04 method a new-user row starts from ("similar": "individual"),
 * or NULL for a name that is no row. */
const char *inputs_adapt_method(const char *row);

#endif
