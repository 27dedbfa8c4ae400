#!/usr/bin/env bash
# backbone.sh: the issue-2 budgets, measured in a temporary copy of the checkout:
# a no-op `ninja` on the default profile (best of 20; goal < 50 ms), the
# simulator at the paper profile (53k + 179k + 333k rows; goal < 10 s on 2 cores)
# and characterize on all three (goal < 2 s), each with its peak memory. Not a
# test: it never fails on timing.
set -eu
source "$(dirname "$0")/lib.bash"
bench_copy default
ninja > /dev/null 2>&1
best=999
for _ in $(seq 1 20); do
    t0=$EPOCHREALTIME
    ninja > /dev/null
    t1=$EPOCHREALTIME
    best=$(awk -v a="$best" -v x="$t0" -v y="$t1" 'BEGIN { print (y - x < a ? y - x : a) }')
done
/usr/bin/time -f '%e %M' -o t.out ninja > /dev/null
read -r s m < t.out
report "no-op ninja (default profile)" "$best" 0.050 "$m"

# Only the three simulated sets' characterize locks and what they need: the
# paper profile's other sets and stages are not part of these budgets.
sed -i 's/"profile": "[a-z]*"/"profile": "paper"/' manifests/config.json
ninja manifests/lock/02-characterize-sim-{psoups,tldr,pllm}.json > ninja-paper.log 2>&1 ||
    { echo "backbone.sh: the paper profile's simulated sets failed:"; tail -3 ninja-paper.log; exit 2; }
read -r s m <<< "$(time_stage 01-fetch 'sim-*')"
report "simulator, paper profile (3 sets)" "$s" 10 "$m"
read -r s m <<< "$(time_stage 02-characterize 'sim-*')"
report "characterize, paper profile (3 sets)" "$s" 2 "$m"
