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
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PROFILE=${1:-default}
JOBS=${2:-2}
export PPR_MIRROR=${PPR_MIRROR:-$(cd "$ROOT/.." && pwd)/shared/data}
source "$ROOT/tests/servers/slurm.bash"
COPIES=$(mktemp /tmp/ppr-bench-slurm-list-XXXXXX) # run() is called in $(...), a subshell
trap 'slurm_stop; rm -rf $(cat "$COPIES") "$COPIES"' EXIT
slurm_start "$((JOBS * 4))" || { echo "slurm.sh: no one-node Slurm cluster here: $SLURM_WHY"; exit 2; }
(cd "$ROOT" && ninja tools > /dev/null) || { echo "slurm.sh: the build failed"; exit 2; }

# run LAUNCHER: a cold run in a fresh copy; prints the copy's path.
run() {
    local d t0
    d=$(mktemp -d /tmp/ppr-bench-slurm-XXXXXX)
    echo "$d" >> "$COPIES"
    (cd "$ROOT" && tar cf - --exclude=./artifacts --exclude=./build/slice \
        --exclude='./manifests/lock/*' --exclude=./.git .) | (cd "$d" && tar xf -)
    sed -i "s/\"profile\": \"[a-z]*\"/\"profile\": \"$PROFILE\"/" "$d/manifests/config.json"
    rm -f "$d/.ninja_log" "$d/.ninja_deps"
    (cd "$d" && ninja tools > /dev/null)
    t0=$(date +%s.%N)
    (cd "$d" && PPR_LAUNCHER=$1 build/bin/ppr run -j "$JOBS" > run.log 2>&1) ||
        { echo "slurm.sh: the $1 run failed (see $d/run.log)" >&2; tail -3 "$d/run.log" >&2; exit 2; }
    awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f\n", b - a }' > "$d/wall"
    echo "$d"
}

LOCAL=$(run local) || exit 2
SLURM=$(run slurm) || exit 2
diff -r "$LOCAL/manifests/lock" "$SLURM/manifests/lock" > /dev/null &&
    same="byte-identical" || same="DIFFERENT"
echo "bench/slurm.sh: profile $PROFILE, ninja -j $JOBS, $(nproc) cores, $(date -u +%F)"
echo "locks of the two runs: $same"
/usr/bin/python3 - "$LOCAL" "$SLURM" << 'EOF'
import json, sys

def edges(d):
    """node -> seconds Ninja spent on its stage edge less the stage's own."""
    own = {}
    for line in open(f"{d}/artifacts/log/runs.jsonl"):
        r = json.loads(line)
        own[f"{r['stage']}-{r['instance']}"] = r["seconds"]
    spent = {}
    for line in open(f"{d}/build/.ninja_log"):
        f = line.rstrip("\n").split("\t")
        if len(f) == 5 and f[3].startswith("manifests/lock/"):
            spent[f[3][len("manifests/lock/"):-len(".json")]] = (int(f[1]) - int(f[0])) / 1000
    return {n: spent[n] - own[n] for n in spent if n in own}, open(f"{d}/wall").read().strip()

def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]

print("| launcher | whole run (s) | stage edges | overhead per edge: median | p90 | max (s) |")
print("|---|---|---|---|---|---|")
rows = {}
for name, d in (("local", sys.argv[1]), ("slurm", sys.argv[2])):
    o, wall = edges(d)
    rows[name] = (o, float(wall))
    v = list(o.values())
    print(f"| {name} | {wall} | {len(v)} | {pct(v, .5):.3f} | {pct(v, .9):.3f} | {max(v):.3f} |")
lo, sl = rows["local"], rows["slurm"]
extra = [sl[0][n] - lo[0][n] for n in sl[0] if n in lo[0]]
print(f"slurm less local, per edge: median {pct(extra, .5):.3f} s, max {max(extra):.3f} s "
      f"(goal < 1 s); whole run {sl[1] - lo[1]:+.1f} s ({sl[1] / lo[1]:.2f}x)")
EOF
