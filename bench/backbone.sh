#!/usr/bin/env bash
# backbone.sh: the issue-2 budgets, measured in a temporary copy of the checkout:
# a no-op `ninja` on the default profile (best of 20; goal < 50 ms), the simulator at the
# paper profile (53k + 179k + 333k rows; goal < 10 s on 2 cores) and characterize
# on all three (goal < 2 s), each with its peak memory. Prints ratio = goal / time
# (above 1 is within budget). Not a test: it never fails on timing.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export PPR_MIRROR=${PPR_MIRROR:-$(cd "$ROOT/.." && pwd)/shared/data}
(cd "$ROOT" && ninja tools > /dev/null)
W=$(mktemp -d /tmp/ppr-bench-XXXXXX)
trap 'rm -rf "$W"' EXIT
(cd "$ROOT" && tar cf - --exclude=./artifacts --exclude=./build/slice \
    --exclude='./manifests/lock/*' --exclude=./.git .) | (cd "$W" && tar xf -)
cd "$W"

report() { # name seconds goal peak_kb
    awk -v n="$1" -v s="$2" -v g="$3" -v m="$4" 'BEGIN {
        printf "%-34s %8.3f s  goal %6.3f s  ratio %6.2f  peak %7.1f MiB\n", n, s, g, g / s, m / 1024 }'
}

# time_stage STAGE: run every instance of STAGE from its slice; sum wall time,
# max peak RSS.
time_stage() {
    local total=0 peak=0 s m
    for slice in build/slice/"$1"-*.json; do
        lock=manifests/lock/$(basename "$slice")
        rm -rf "$lock" artifacts/runs
        /usr/bin/time -f '%e %M' -o t.out build/bin/ppr-"${1#*-}" "$slice" "$lock" 2> /dev/null
        read -r s m < t.out
        total=$(awk -v a="$total" -v b="$s" 'BEGIN { print a + b }')
        [ "$m" -gt "$peak" ] && peak=$m
    done
    echo "$total $peak"
}

sed -i 's/"profile": "[a-z]*"/"profile": "default"/' manifests/config.json
ninja > /dev/null 2>&1
best=999
for _ in $(seq 1 20); do
    t0=$EPOCHREALTIME
    ninja > /dev/null
    t1=$EPOCHREALTIME
    best=$(awk -v a="$best" -v b="$(awk -v x="$t0" -v y="$t1" 'BEGIN { print y - x }')" \
        'BEGIN { print (b < a ? b : a) }')
done
/usr/bin/time -f '%e %M' -o t.out ninja > /dev/null
read -r s m < t.out
report "no-op ninja (default profile)" "$best" 0.050 "$m"

sed -i 's/"profile": "[a-z]*"/"profile": "paper"/' manifests/config.json
ninja > /dev/null 2>&1
read -r s m <<< "$(time_stage 01-fetch)"
report "simulator, paper profile (3 sets)" "$s" 10 "$m"
read -r s m <<< "$(time_stage 02-characterize)"
report "characterize, paper profile (3 sets)" "$s" 2 "$m"
