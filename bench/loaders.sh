#!/usr/bin/env bash
# loaders.sh: parsing speed of the JSON-lines loaders in MB/s: ppr's TL;DR
# loader (parse, select the top workers, build the dataset) beside Python's json
# module only parsing the same lines (Debian's python3), on a synthetic set in
# the upstream format. Prints both and the ratio. Not a test.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MB=${1:-200}
(cd "$ROOT" && ninja build/bench/bench_loaders > /dev/null)
W=$(mktemp -d /tmp/ppr-bench-XXXXXX)
trap 'rm -rf "$W"' EXIT
/usr/bin/python3 "$ROOT/bench/make_tldr.py" "$W" "$MB"
c=$("$ROOT/build/bench/bench_loaders" "$W")
py=$(/usr/bin/python3 - "$W" <<'PY'
import glob, json, os, sys, time
files = sorted(glob.glob(os.path.join(sys.argv[1], "comparisons", "*.json")))
data = [open(f, "rb").read() for f in files]
total = sum(len(d) for d in data)
best = float("inf")
for _ in range(3):
    t0 = time.perf_counter()
    for d in data:
        for line in d.splitlines():
            json.loads(line)
    best = min(best, time.perf_counter() - t0)
print("%.1f" % (total / 1e6 / best))
PY
)
awk -v c="$c" -v p="$py" -v mb="$MB" 'BEGIN {
    printf "TL;DR comparisons, %d MB: ppr load_tldr %.1f MB/s, python json.loads %.1f MB/s, ratio %.2f\n", mb, c, p, c / p }'
