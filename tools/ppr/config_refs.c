/* config_refs.c: the names one part of the config gives to another, which the
 * schema cannot check (pipeline.h, pipeline_check_refs). */
#include <string.h>

#include "common/config.h"
#include "common/json.h"
#include "pipeline.h"

/* Names one part of the config gives to another, which the schema cannot
 * check: every set and the selected encoder have their section, a train.sizes
 * key is "default" or a source (a profile may give sizes
 * for a set the base lists do not run), every trained dataset has sizes, the
 * pre-trained reference trains on at least one set and only on sets that run,
 * heads start from the reference only when it is trained, the tax's
 * datasets and sizes and the new-user table's datasets name sources, those
 * of the latter that run hold out new users, and the new-user rows that fit
 * parameters have their settings. */
int pipeline_check_refs(const cJSON *cfg, ppr_err *e)
{
    const cJSON *train = cJSON_GetObjectItemCaseSensitive(cfg, "train");
    const cJSON *sizes = cJSON_GetObjectItemCaseSensitive(train, "sizes");
    const cJSON *sources = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cfg, "fetch"), "sources");
    const cJSON *datasets = cJSON_GetObjectItemCaseSensitive(cfg, "datasets");
    const cJSON *evalsets = cJSON_GetObjectItemCaseSensitive(cfg, "evalsets");
    const cJSON *methods = cJSON_GetObjectItemCaseSensitive(cfg, "methods");
    const cJSON *sets[] = {datasets, evalsets};
    for (size_t l = 0; l < sizeof sets / sizeof *sets; l++)
        for (const cJSON *d = sets[l]->child; d; d = d->next)
            if (!cJSON_GetObjectItemCaseSensitive(sources, d->valuestring))
                return err_set(e, PPR_EINPUT, "'%s': dataset \"%s\" has no entry under "
                               "\"fetch.sources\"", CONFIG_PATH, d->valuestring);
    const char *encoder = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cfg, "encode"), "encoder")->valuestring;
    if (!cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cfg, "encode"),
                                          encoder))
        return err_set(e, PPR_EINPUT, "'%s': encoder \"%s\" needs a section \"encode.%s\"",
                       CONFIG_PATH, encoder, encoder);
    for (const cJSON *s = sizes->child; s; s = s->next)
        if (strcmp(s->string, "default") != 0 &&
            !cJSON_GetObjectItemCaseSensitive(sources, s->string))
            return err_set(e, PPR_EINPUT, "'%s': key \"train.sizes.%s\" must be \"default\" "
                           "or a name under \"fetch.sources\"", CONFIG_PATH, s->string);
    /* every method but "pretrained" trains on each dataset, at its sizes */
    int per_dataset = cJSON_GetArraySize(methods) > json_list_has(methods, "pretrained");
    const cJSON *fallback = cJSON_GetObjectItemCaseSensitive(sizes, "default");
    for (const cJSON *d = datasets->child; per_dataset && !fallback && d; d = d->next)
        if (!cJSON_GetObjectItemCaseSensitive(sizes, d->valuestring))
            return err_set(e, PPR_EINPUT, "'%s': key \"train.sizes\" needs \"default\" or an "
                           "entry for \"%s\"", CONFIG_PATH, d->valuestring);
    const cJSON *tax = cJSON_GetObjectItemCaseSensitive(cfg, "tax");
    const cJSON *tax_sets = cJSON_GetObjectItemCaseSensitive(tax, "datasets");
    int i = 0;
    for (const cJSON *d = tax_sets->child; d; d = d->next, i++)
        if (!cJSON_GetObjectItemCaseSensitive(sources, d->valuestring))
            return err_set(e, PPR_EINPUT, "'%s': key \"tax.datasets[%d]\" is \"%s\"; it must "
                           "name a source under \"fetch.sources\"", CONFIG_PATH, i,
                           d->valuestring);
    const cJSON *tax_sizes = cJSON_GetObjectItemCaseSensitive(tax, "sizes");
    for (const cJSON *z = tax_sizes->child; z; z = z->next)
        if (strcmp(z->string, "default") != 0 &&
            !cJSON_GetObjectItemCaseSensitive(sources, z->string))
            return err_set(e, PPR_EINPUT, "'%s': key \"tax.sizes.%s\" must be \"default\" "
                           "or a name under \"fetch.sources\"", CONFIG_PATH, z->string);
    for (const cJSON *d = tax_sets->child; d; d = d->next)
        if (json_list_has(datasets, d->valuestring) &&
            !cJSON_GetObjectItemCaseSensitive(tax_sizes, "default") &&
            !cJSON_GetObjectItemCaseSensitive(tax_sizes, d->valuestring))
            return err_set(e, PPR_EINPUT, "'%s': key \"tax.sizes\" needs \"default\" or an "
                           "entry for \"%s\"", CONFIG_PATH, d->valuestring);
    const cJSON *adapt = cJSON_GetObjectItemCaseSensitive(cfg, "adapt");
    i = 0;
    for (const cJSON *d = cJSON_GetObjectItemCaseSensitive(adapt, "datasets")->child; d;
         d = d->next, i++)
        if (!cJSON_GetObjectItemCaseSensitive(sources, d->valuestring))
            return err_set(e, PPR_EINPUT, "'%s': key \"adapt.datasets[%d]\" is \"%s\"; it "
                           "must name a source under \"fetch.sources\"", CONFIG_PATH, i,
                           d->valuestring);
    /* a new-user row of a dataset that runs needs its new-user pool */
    for (const cJSON *d = cJSON_GetObjectItemCaseSensitive(adapt, "datasets")->child; d;
         d = d->next) {
        const cJSON *src = cJSON_GetObjectItemCaseSensitive(sources, d->valuestring);
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(src, "kind");
        const cJSON *nu = cJSON_GetObjectItemCaseSensitive(src, "new_users");
        int sim = cJSON_IsString(kind) && strcmp(kind->valuestring, "sim") == 0;
        if (json_list_has(datasets, d->valuestring) &&
            !(sim ? cJSON_IsNumber(nu) && nu->valuedouble > 0 : cJSON_IsTrue(nu)))
            return err_set(e, PPR_EINPUT, "'%s': key \"adapt.datasets\" lists \"%s\", which "
                           "holds out no new users: \"fetch.sources.%s.new_users\" must be %s",
                           CONFIG_PATH, d->valuestring, d->valuestring,
                           sim ? "above 0" : "true");
    }
    static const char *const fitting[] = {"finetune", "prm", "upper"};
    for (size_t f = 0; f < sizeof fitting / sizeof *fitting; f++)
        if (json_list_has(cJSON_GetObjectItemCaseSensitive(adapt, "methods"), fitting[f]) &&
            !cJSON_GetObjectItemCaseSensitive(adapt, fitting[f]))
            return err_set(e, PPR_EINPUT, "'%s': row \"%s\" of \"adapt.methods\" fits "
                           "parameters and needs its settings \"adapt.%s\" (\"epochs\" and "
                           "optimizer keys)", CONFIG_PATH, fitting[f], fitting[f]);
    if (!json_list_has(methods, "pretrained") &&
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(train, "from_pretrained")))
        return err_set(e, PPR_EINPUT, "'%s': key \"train.from_pretrained\" is true, so "
                       "\"methods\" must list \"pretrained\"", CONFIG_PATH);
    if (!json_list_has(methods, "pretrained"))
        return PPR_OK;
    const cJSON *on = cJSON_GetObjectItemCaseSensitive(train, "pretrained_on");
    i = 0;
    if (!on->child)
        return err_set(e, PPR_EINPUT, "'%s': key \"train.pretrained_on\" must have at least 1 "
                       "item when \"methods\" lists \"pretrained\"", CONFIG_PATH);
    for (const cJSON *s = on->child; s; s = s->next, i++)
        if (!json_list_has(datasets, s->valuestring) && !json_list_has(evalsets, s->valuestring))
            return err_set(e, PPR_EINPUT, "'%s': key \"train.pretrained_on[%d]\" is \"%s\"; it "
                           "must name a set in \"datasets\" or \"evalsets\"", CONFIG_PATH, i,
                           s->valuestring);
    return PPR_OK;
}
