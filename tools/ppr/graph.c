/* graph.c: the stage graph's nodes as the other files of tools/ppr find
 * them and record what each reads (pipeline.h, stage_def.h). */
#include <stdlib.h>
#include <string.h>

#include "stage_def.h"

const pipe_node *pipeline_find(const pipeline *p, const char *id)
{
    for (size_t k = 0; k < p->n_nodes; k++)
        if (strcmp(p->nodes[k].id, id) == 0)
            return &p->nodes[k];
    return NULL;
}

int node_input_only(const pipeline *p, pipe_node *n, const char *id, const char *prefix,
                    const char *only, ppr_err *e)
{
    const pipe_node *u = pipeline_find(p, id);
    if (!u)
        return err_set(e, PPR_EINPUT, "'%s' needs '%s', which the config does not run", n->id,
                       id);
    pipe_input *in = realloc(n->inputs, (n->n_inputs + 1) * sizeof *in);
    if (!in)
        return err_nomem(e);
    n->inputs = in;
    in[n->n_inputs].prefix = strdup(prefix);
    in[n->n_inputs].only = only ? strdup(only) : NULL;
    if (!in[n->n_inputs].prefix || (only && !in[n->n_inputs].only)) {
        free(in[n->n_inputs].prefix);
        free(in[n->n_inputs].only);
        return err_nomem(e);
    }
    in[n->n_inputs++].node = u;
    return PPR_OK;
}

int node_input(const pipeline *p, pipe_node *n, const char *id, const char *prefix,
               ppr_err *e)
{
    return node_input_only(p, n, id, prefix, NULL, e);
}
