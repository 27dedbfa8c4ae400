/* config.h: loading manifests/config.json against manifests/config.schema.json.
 *
 * The schema is itself JSON. A node is an object with "type" one of "object",
 * "array", "string", "integer", "number", "boolean", and:
 *   object:  "keys": {name: node} (fixed members, all required unless the member
 *            node has "optional": true) or "each": node (a map of any keys), or
 *            "tag": member name and "variants": {tag value: object node}: the
 *            value of the tag member picks the schema (which lists the tag too)
 *   array:   "items": node, optional "min_items", "max_items", and "unique":
 *            true (no two items are equal) or "unique": "<member>" (no two
 *            object items have equal values of that member)
 *   string:  optional "enum": [...]
 *   integer, number: optional "min", "max" (inclusive)
 * An unknown key (with the allowed keys, or the one it is a typo of), a wrong
 * type, an out-of-range value, a repeated item or a member given twice is an
 * error naming the key path and the file. `profiles.<name>` holds partial
 * overrides that are checked against the same schema and merged onto the
 * base: objects key by key, everything else replaced whole. */
#ifndef PPR_CONFIG_H
#define PPR_CONFIG_H

#include <cjson/cJSON.h>

#include "error.h"

#define CONFIG_PATH "manifests/config.json"
#define CONFIG_SCHEMA_PATH "manifests/config.schema.json"
#define PAPER_PATH "manifests/paper.json" /* the published numbers the report compares */
#define REPORT_MAIN "figures/report.md"    /* the report's page (stage 08) */

/* Validate v against schema node s; path names v in errors ("fetch.seed").
 * partial: required members may be missing (profile overrides). */
int config_check(const cJSON *v, const cJSON *s, const char *path, int partial,
                 const char *file, ppr_err *e);

/* Load, validate, apply the selected profile ("profile" key) and return the
 * resolved config without "profiles". The caller deletes *out. */
int config_load(const char *path, const char *schema_path, cJSON **out, ppr_err *e);

/* The same from the config's bytes data[n] (path names them in errors) and a
 * parsed schema; config_load reads the files and calls this, and the fuzz
 * target (tests/fuzz/config.c) feeds it bytes. */
int config_load_buf(const char *data, size_t n, const char *path, const cJSON *schema,
                    cJSON **out, ppr_err *e);

#endif
