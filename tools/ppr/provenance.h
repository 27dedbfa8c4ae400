/* provenance.h: what the report's slice records of where its numbers were
 * made (stage_def.provenance; docs/report.md "Provenance"). */
#ifndef PPR_PROVENANCE_H
#define PPR_PROVENANCE_H

#include <cjson/cJSON.h>

#include "common/error.h"
#include "common/strbuf.h"
#include "pipeline.h"

/* Add to n's slice config "provenance": {"runs": [every node upstream of n,
 * in pipeline order: its id, its lock's SHA-256, threads and OpenBLAS build,
 * a fetch's source (kind, origin, files by SHA-256), an encoding's encoder],
 * "git_commit": the checkout's HEAD or null, "machine": {host, cpu, cpus}}.
 * Reads every upstream lock, so only `ppr slice` calls it. */
int provenance_add(const pipeline *p, const pipe_node *n, cJSON *cfg, ppr_err *e);

/* The checkout's HEAD commit into commit (40 hex digits); 0 when the
 * working directory is no git checkout. When deps is not NULL, the files
 * that name it (.git/HEAD and the branch's ref or packed-refs) are appended
 * to it, each after a space: the slice's depfile lists them so that a new
 * commit remakes the slice. */
int provenance_git(char commit[41], strbuf *deps);

#endif
