/* registry.c: the methods by name (see registry.h). */
#include "common/models/registry.h"

#include <string.h>

static const struct {
    const char *name;
    const method_ops *ops;
} methods[] = {
    {"pretrained", &shared_ops},  {"vanilla", &shared_ops}, {"individual", &individual_ops},
    {"conditional", &shared_ops}, {"prm", &prm_ops},        {"vpl", &vpl_ops},
    {"gpo", &gpo_ops},            {"rag", &rag_ops},
};
#define N_METHODS (sizeof methods / sizeof methods[0])

static int registry_index(const char *name)
{
    for (size_t i = 0; i < N_METHODS; i++)
        if (strcmp(name, methods[i].name) == 0)
            return (int)i;
    return -1;
}

const method_ops *registry_find(const char *name)
{
    int i = registry_index(name);
    return i < 0 ? NULL : methods[i].ops;
}

const char *registry_name(const char *name)
{
    int i = registry_index(name);
    return i < 0 ? NULL : methods[i].name;
}

const char *registry_list(void)
{
    return "pretrained, vanilla, individual, conditional, prm, vpl, gpo, rag";
}
