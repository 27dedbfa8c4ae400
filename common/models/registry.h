/* registry.h: every method by name, and the ops each method file defines.
 * A new method is one file defining its ops and one row in registry.c. */
#ifndef PPR_MODELS_REGISTRY_H
#define PPR_MODELS_REGISTRY_H

#include "common/models/method.h"

extern const method_ops shared_ops;     /* shared.c: pretrained, vanilla, conditional */
extern const method_ops individual_ops; /* individual.c */
extern const method_ops prm_ops;        /* prm.c */
extern const method_ops vpl_ops;        /* vpl.c */
extern const method_ops gpo_ops;        /* gpo.c */
extern const method_ops rag_ops;        /* rag.c */

/* The ops of the method called name, or NULL. */
const method_ops *registry_find(const char *name);
/* The name the registry spells name with (the registry's own string), or NULL. */
const char *registry_name(const char *name);
/* "pretrained, vanilla, ...": every name, for messages. */
const char *registry_list(void);

#endif
