#!/usr/bin/env bash
# slurm.sh: what running stage edges as Slurm jobs costs (docs/slurm.md). Two
# cold runs of one profile (default: `default`) in temporary copies, one with
# the local launcher and one through `ppr run` on a one-node Slurm cluster on
# this machine (tests/servers/slurm.bash), each at Ninja's -j JOBS (default 2,
# the cores here). Prints each run's wall time, and per stage edge its
# overhead: the edge's time in Ninja's log less the stage's own time in the
# run log (process start, srun, scheduling, the launcher), median, 90th
# percentile and maximum, against the goal of 1 s per edge. Needs root (slurmd).
#   usage: bench/slurm.sh [PROFILE [JOBS]]
set -u
source "$(dirname "$0")/lib.bash"
PROFILE=${1:-default}
JOBS=${2:-2}
source "$ROOT/tests/servers/slurm.bash"
T=$(mktemp -d /tmp/ppr-bench-slurm-XXXXXX)
trap 'slurm_stop; rm -rf "$T"' EXIT
slurm_start "$((JOBS * 4))" || { echo "slurm.sh: no one-node Slurm cluster here: $SLURM_WHY"; exit 2; }

# run LAUNCHER: a cold run in a copy of its own (bench_copy; the subshell's
# exit removes it). Writes $T/LAUNCHER.wall (seconds), $T/LAUNCHER.locks (the
# locks' SHA-256) and $T/LAUNCHER.edges ("<node> <overhead s>" per stage edge:
# its time in this run's lines of Ninja's log less its own in the run log).
run() (
    bench_copy "$PROFILE"
    skip=$(cat build/.ninja_log 2> /dev/null | wc -l)
    t0=$(date +%s.%N)
    PPR_LAUNCHER=$1 build/bin/ppr run -j "$JOBS" > run.log 2>&1 ||
        { echo "slurm.sh: the $1 run failed: $(grep -m1 -v '^\[' run.log)" >&2; exit 2; }
    awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f\n", b - a }' > "$T/$1.wall"
    cat manifests/lock/*.json | sha256sum | cut -c1-64 > "$T/$1.locks"
    tail -n +$((skip + 1)) build/.ninja_log | /usr/bin/python3 -c '
import json, sys
own = {}
for line in open("artifacts/log/runs.jsonl"):
    r = json.loads(line)
    own[r["stage"] + "-" + r["instance"]] = r["seconds"]
for line in sys.stdin:
    f = line.rstrip("\n").split("\t")
    node = f[3][len("manifests/lock/"):-len(".json")] if len(f) == 5 else ""
    if f[3:4] and f[3].startswith("manifests/lock/") and node in own:
        print(node, (int(f[1]) - int(f[0])) / 1000 - own[node])' > "$T/$1.edges"
)

run local || exit 2
run slurm || exit 2
cmp -s "$T/local.locks" "$T/slurm.locks" && same="byte-identical" || same="DIFFERENT"
echo "bench/slurm.sh: profile $PROFILE, ninja -j $JOBS, $(nproc) cores, $(date -u +%F)"
echo "locks of the two runs: $same"
/usr/bin/python3 - "$T" << 'PY'
import sys
t = sys.argv[1]

def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]

print("| launcher | whole run (s) | stage edges | overhead per edge: median | p90 | max (s) |")
print("|---|---|---|---|---|---|")
runs = {}
for name in ("local", "slurm"):
    o = {n: float(x) for n, x in (line.split() for line in open(f"{t}/{name}.edges"))}
    wall = float(open(f"{t}/{name}.wall").read())
    runs[name] = (o, wall)
    v = list(o.values())
    print(f"| {name} | {wall:.1f} | {len(v)} | {pct(v, .5):.3f} | {pct(v, .9):.3f} | {max(v):.3f} |")
lo, sl = runs["local"], runs["slurm"]
extra = [sl[0][n] - lo[0][n] for n in sl[0] if n in lo[0]]
print(f"slurm less local, per edge: median {pct(extra, .5):.3f} s, max {max(extra):.3f} s "
      f"(goal < 1 s); whole run {sl[1] - lo[1]:+.1f} s ({sl[1] / lo[1]:.2f}x)")
PY
