/* launch.h: where each stage edge runs (docs/slurm.md). Ninja's stage rule
 * runs every stage as `ppr-launch <node> <binary> <slice> <lock> <depfile>`,
 * one command whatever the launcher, so that choosing one never makes an edge
 * stale. ppr-launch is a small program of its own: it adds 2.9 ms to a local
 * edge, where a `ppr` subcommand (which loads libarchive) added 6.1 ms. The
 * launcher is run.launcher, or $PPR_LAUNCHER for one run:
 *   "local": the stage replaces ppr-launch in place (exec);
 *   "slurm": the stage runs as one blocking srun job named after the node,
 *            with --cpus-per-task from the slice's "threads", --mem from the
 *            instance's last recorded peak in the run log (else
 *            run.slurm.mem_mb), then run.slurm.options and run.slurm.<stage>.
 * Where a stage runs is outside every slice: it changes no lock. */
#ifndef PPR_LAUNCH_H
#define PPR_LAUNCH_H

#include <stdio.h>

#include "common/error.h"

#define LAUNCH_ENV "PPR_LAUNCHER"
#define LAUNCH_BIN "build/bin/ppr-launch" /* an order-only input of every stage edge */

/* Run one stage edge: argv[argc] is <binary> <slice> <lock> <depfile>. With
 * "local" it does not return unless the binary cannot start. With "slurm",
 * *status is srun's exit code (the stage's, or nonzero when Slurm cancelled,
 * timed out or lost the job); after a zero it waits until the lock and the
 * depfile are visible here (run.slurm.latency_wait seconds at most). */
int launch_stage(const char *node, int argc, char **argv, int *status, ppr_err *e);

/* What `ppr run` does before Ninja starts: resolve the launcher (*launcher,
 * "local" or "slurm") and, for "slurm", check that srun and scontrol are on
 * PATH, that the controller answers, and that a job writes to the same store
 * as this process (a probe file written by a job and read back here). One
 * line on out says what was checked. */
int launch_check(const char **launcher, FILE *out, ppr_err *e);

/* The probe job's side: write token to path and print its job and host. */
int launch_probe_write(const char *path, const char *token, FILE *out, ppr_err *e);

#endif
