#!/usr/bin/env bash
# test_slurm.sh: the Slurm launcher (docs/slurm.md) on a one-node cluster that
# this test starts and stops (tests/servers/slurm.bash). Where the cluster
# cannot start, it says why on one line and exits 77: skipped, not passed.
#   a. the local launcher's cold ci run: the reference
#   b. the same through `PPR_LAUNCHER=slurm ppr run`: byte-identical locks; one
#      Slurm job per stage edge, named after its node (the controller's job
#      log), each recorded by id in the run log; CPUs from the slices' threads
#   c. a stage run again asks for a quarter above its last recorded peak
#   d. choosing the launcher in the config reruns no stage
#   e. a job cancelled mid-run (scancel) fails its edge and leaves the store
#      whole; the next run reruns it and ends with the reference's locks
#   f. srun missing, a controller that does not answer, or a job that writes
#      to another store: one error line, exit 2, before any stage runs (plain
#      ninja, which checks nothing first, fails each edge naming srun)
source "$(dirname "$0")/lib.bash"
source "$ROOT/tests/servers/slurm.bash"
trap 'slurm_stop; cleanup' EXIT

slurm_start 8 || { echo "SKIP: no one-node Slurm cluster here: $SLURM_WHY"; exit 77; }

# jobs_of: "<name> <job id> <state> <tres>" of each job the controller logged,
# the store probes left out.
jobs_of() {
    sed -n 's/.*JobId=\([0-9]*\) .*Name=\([^ ]*\) JobState=\([A-Z]*\) .*Tres=\([^ ]*\) .*/\2 \1 \3 \4/p' \
        "$SLURM_JOBCOMP" | grep -v '^ppr-probe '
}
# nodes_run LOG: the node ids of the stage edges Ninja ran, sorted.
nodes_run() { stages_run "$1" | sed 's|manifests/lock/||; s|\.json$||' | sort; }

# a. The reference.
A=$(fresh)
cd "$A"
ninja > a.log 2>&1 || { fail "a: local ninja"; tail -5 a.log; }

# b. The ci pipeline as Slurm jobs.
B=$(fresh)
cd "$B"
PPR_LAUNCHER=slurm build/bin/ppr run > b.log 2>&1 || { fail "b: ppr run"; tail -5 b.log; }
grep -q "^ppr run: launcher slurm: the controller answers; the probe job (job [0-9]* on node 'ppr')" b.log &&
    ok "b: ppr run checked the controller and the store first" || fail "b: no check line"
diff -r "$A/manifests/lock" manifests/lock > /dev/null &&
    ok "b: locks byte-identical to the local launcher's ($(ls manifests/lock | wc -l))" ||
    fail "b: locks differ from the local launcher's"
nodes_run b.log > edges
jobs_of > jobs
cut -d' ' -f1 jobs | sort > job-names
[ -s edges ] && diff edges job-names > /dev/null &&
    ok "b: one Slurm job per stage edge ($(wc -l < edges)), named after its node" ||
    { fail "b: jobs and edges differ"; diff edges job-names | head; }
[ "$(cut -d' ' -f3 jobs | sort -u)" = COMPLETED ] && ok "b: every job completed" ||
    fail "b: job states $(cut -d' ' -f3 jobs | sort -u | tr '\n' ' ')"
sed -n 's/.*"stage":"\([^"]*\)","instance":"\([^"]*\)".*"slurm_job":"\([0-9]*\)".*/\1-\2 \3/p' \
    artifacts/log/runs.jsonl | sort > logged
cut -d' ' -f1,2 jobs | sort > controller
[ "$(wc -l < logged)" -eq "$(wc -l < edges)" ] && diff logged controller > /dev/null &&
    ok "b: the run log names each run's job, as the controller does" ||
    { fail "b: run log and controller differ"; diff logged controller | head; }
# encode.threads is 2 in the config; train.threads 1; the other stages have none
bad=$(awk '{ want = ($1 ~ /^03-encode-/) ? "cpu=2," : "cpu=1,"
             if (index($4, want) != 1) print $1, $4 }' jobs)
[ -z "$bad" ] && ok "b: --cpus-per-task is the slice's threads (2 for encode, else 1)" ||
    fail "b: cpus: $bad"
grep -q 'mem=4G' jobs && ok "b: a first run asks for run.slurm.mem_mb (4096)" ||
    fail "b: no job asked for 4096 MiB"

# c. Rerun one stage: it asks for a quarter above the peak the log recorded.
node=01-fetch-sim-psoups
peak=$(grep '"stage":"01-fetch","instance":"sim-psoups"' artifacts/log/runs.jsonl |
    tail -1 | sed 's/.*"peak_kib":\([0-9]*\).*/\1/')
mem=$(((peak * 5 / 4 + 1023) / 1024))
[ "$mem" -lt 64 ] && mem=64
want=$([ $((mem % 1024)) -eq 0 ] && echo "$((mem / 1024))G" || echo "${mem}M")
rm "manifests/lock/$node.json"
PPR_LAUNCHER=slurm build/bin/ppr run > c.log 2>&1 || { fail "c: ppr run"; tail -5 c.log; }
got=$(jobs_of | grep "^$node " | tail -1 | sed 's/.*mem=\([0-9]*[MG]\).*/\1/')
[ "$(nodes_run c.log)" = "$node" ] && [ "$got" = "$want" ] &&
    ok "c: the rerun of $node asked for $got (peak $peak KiB)" ||
    fail "c: ran $(nodes_run c.log | tr '\n' ' '), asked for $got, not $want"
diff -r "$A/manifests/lock" manifests/lock > /dev/null && ok "c: its lock is as before" ||
    fail "c: locks changed"

# d. The launcher is outside every slice: switching it reruns nothing.
cd "$A"
set_key "$A" 's/"launcher": "local"/"launcher": "slurm"/'
ninja > d.log 2>&1 || { fail "d: ninja"; tail -5 d.log; }
[ -z "$(stages_run d.log)" ] && ok "d: run.launcher slurm in the config reruns no stage" ||
    fail "d: reran $(stages_run d.log | tr '\n' ' ')"
build/bin/ppr status | tail -1 | grep -q "^0 of [0-9]* stage instances stale" &&
    ok "d: ppr status: nothing stale" || fail "d: ppr status reports stale instances"

# e. Cancel a job mid-run: its stage is stopped first (SIGSTOP), so the cancel
# finds it running whatever the machine's speed.
E=$(fresh)
cd "$E"
set_key "$E" 's/"launcher": "local"/"launcher": "slurm"/'
build/bin/ppr run > e.log 2>&1 &
run_pid=$!
pid=""
for _ in $(seq 1 1000); do
    for p in $(pgrep -x ppr-fetch); do
        [ "$(readlink "/proc/$p/cwd")" = "$E" ] && grep -q 'sim-pllm' "/proc/$p/cmdline" && pid=$p
    done
    [ -n "$pid" ] && break
    sleep 0.02
done
[ -n "$pid" ] && kill -STOP "$pid"
job=$(squeue -h -n 01-fetch-sim-pllm -o %i)
[ -n "$job" ] && scancel "$job"
wait "$run_pid"
rc=$?
[ -n "$pid" ] && [ -n "$job" ] && [ "$rc" -ne 0 ] &&
    grep -q '^FAILED: manifests/lock/01-fetch-sim-pllm.json' e.log &&
    ok "e: job $job of 01-fetch-sim-pllm cancelled mid-run: its edge failed" ||
    { fail "e: pid '$pid' job '$job' rc $rc"; tail -5 e.log; }
jobs_of | grep -q "^01-fetch-sim-pllm $job CANCELLED" && ok "e: the controller logged it cancelled" ||
    fail "e: job $job not logged as cancelled"
[ ! -e manifests/lock/01-fetch-sim-pllm.json ] && build/bin/ppr verify > e-verify.log 2>&1 &&
    ok "e: no lock for it, and the store verifies" || { fail "e: lock or store"; cat e-verify.log; }
build/bin/ppr run > e2.log 2>&1 || { fail "e: the next run"; tail -5 e2.log; }
nodes_run e2.log | grep -qx 01-fetch-sim-pllm && ok "e: the next run reran it" ||
    fail "e: the next run did not rerun it"
diff -r "$A/manifests/lock" manifests/lock > /dev/null && ok "e: and ends with the reference's locks" ||
    fail "e: locks differ after the recovery"

# f. Checks before any stage runs, each in a fresh (stale) copy.
F=$(fresh)
cd "$F"
expect_error env PATH=/nonexistent PPR_LAUNCHER=slurm "$F/build/bin/ppr" run &&
    grep -q "'srun' is not on PATH" err.log && ok "f: srun missing: $(cat err.log)" ||
    fail "f: srun missing: $(cat err.log)"
expect_error env PPR_LAUNCHER=slrum build/bin/ppr run &&
    grep -q '$PPR_LAUNCHER is "slrum": it must be "local" or "slurm"' err.log &&
    ok "f: a misspelt launcher: $(cat err.log)" || fail "f: PPR_LAUNCHER=slrum: $(cat err.log)"
# plain ninja runs no check first: each edge it starts fails, naming srun
mkdir tbin && ln -s "$(command -v ninja)" tbin/ninja
PPR_LAUNCHER=slurm PATH="$F/tbin" ninja > f-ninja.log 2>&1 &&
    fail "f: plain ninja without srun succeeded" ||
    { grep -q "^ppr-launch 01-fetch-[a-z-]*: launcher \"slurm\": 'srun' is not on PATH" f-ninja.log &&
        ok "f: plain ninja without srun: each edge fails naming it" ||
        { fail "f: plain ninja without srun"; tail -3 f-ninja.log; }; }
sed "s/^SlurmctldPort=.*/SlurmctldPort=$(slurm_free_port)/" "$SLURM_CONF" > dead.conf
expect_error env SLURM_CONF="$F/dead.conf" PPR_LAUNCHER=slurm build/bin/ppr run &&
    grep -q "the Slurm controller does not answer" err.log &&
    ok "f: controller down: $(cat err.log)" || fail "f: controller down: $(cat err.log)"
# a node that sees a checkout at another path and so another store
O=$(fresh)
mkdir -p "$O/artifacts/runs"
set_key "$F" "s|\"latency_wait\": 10, \"options\": \[\]|\"latency_wait\": 0.5, \"options\": [\"--chdir=$O\"]|"
expect_error env PPR_LAUNCHER=slurm build/bin/ppr run &&
    grep -q "nodes share" err.log && [ -n "$(ls "$O/artifacts/runs")" ] &&
    ok "f: another store: $(cat err.log)" || fail "f: another store: $(cat err.log)"
[ -z "$(ls manifests/lock)" ] && [ -z "$(ls artifacts/objects 2> /dev/null)" ] &&
    ok "f: no stage ran" || fail "f: a stage ran"

finish
