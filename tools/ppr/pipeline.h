/* pipeline.h: the stage graph as the config defines it: which stage instances
 * exist, what each reads (its config slice and upstream outputs), and the Ninja
 * grid file generated from it. Used by `ppr grid`, `ppr slice`, `ppr status`
 * and `ppr why`. */
#ifndef PPR_PIPELINE_H
#define PPR_PIPELINE_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "common/error.h"
#include "common/stage.h"

#define GRID_PATH "manifests/grid.ninja"
#define SOURCES_PATH "manifests/sources.json"
#define GLOVE_NODE "01-fetch-glove" /* the embeddings the GloVe encoder reads */

typedef struct stage_def stage_def;
typedef struct pipe_node pipe_node;

/* A node whose outputs another reads, and the prefix those outputs' names get
 * in the reader's slice. */
typedef struct {
    const pipe_node *node;
    char *prefix; /* "" for its set's upstream stages, else e.g. "glove/" */
    char *only; /* the outputs it reads ("metrics", "model-100-s*"), or NULL: all its stage reads */
} pipe_input;

struct pipe_node {
    const stage_def *def;
    char *instance;  /* "sim-pllm", or "sim-pllm.vanilla" for a (dataset, method) */
    char *data;      /* the dataset or evaluation set it reads, or NULL */
    char *method;    /* the method of a training instance, or NULL */
    char *id;        /* "<stage>-<instance>": names the slice and the lock */
    char *slice_path;
    char *lock_path;
    /* [n_inputs]: the nodes whose outputs it reads, its set's upstream stages
     * first, each earlier in pipeline.nodes */
    pipe_input *inputs;
    size_t n_inputs;
};

typedef struct {
    cJSON *config;  /* resolved (profile applied) */
    cJSON *sources; /* manifests/sources.json */
    pipe_node *nodes; /* [n_nodes], upstream before downstream */
    size_t n_nodes;
} pipeline;

int pipeline_load(pipeline *p, ppr_err *e);
/* The names one part of the config cfg (resolved) gives to another, which the
 * schema cannot check: every set and the selected encoder have their section,
 * sizes name sources, the reference trains on sets that run, and so on;
 * PPR_EINPUT naming the key. */
int pipeline_check_refs(const cJSON *cfg, ppr_err *e);
void pipeline_release(pipeline *p);

const char *pipe_node_stage(const pipe_node *n);
const char *pipe_node_binary(const pipe_node *n);
/* The node with this id ("02-characterize-sim-psoups") or NULL. */
const pipe_node *pipeline_find(const pipeline *p, const char *id);

/* The slice a node would read now: its config values and the outputs of its
 * upstream locks, each naming its node ("from"). A missing or invalid
 * upstream lock (lock_load_checked) is PPR_EINPUT naming it. */
int pipeline_slice(const pipeline *p, const pipe_node *n, cJSON **slice, ppr_err *e);

/* Write the depfile of n's slice edge (build.ninja's slice rule): for the fetch
 * of a simulated dataset on the ci profile, where the texts' files were found,
 * or, for a file that is missing, the places it was looked for, so that Ninja
 * rewrites the slice when one appears, and runs the edge again on every build
 * while one is missing (a dependency that does not exist is always dirty). Other
 * nodes get no depfile (Ninja reads none as empty). slice is the slice just
 * written; warning (wn bytes) receives a warning when its texts fall back to
 * composed ones, else "". */
int pipeline_slice_deps(const pipeline *p, const pipe_node *n, const cJSON *slice,
                        char *warning, size_t wn, ppr_err *e);

/* Write the Ninja grid (only if its bytes change). */
int pipeline_write_grid(const pipeline *p, const char *path, int *changed, ppr_err *e);

#endif
