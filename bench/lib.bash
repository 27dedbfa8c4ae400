# lib.bash: what the stage benchmarks share: a temporary copy of the checkout
# with its compiled tools, timing every instance of a stage from its slice
# (its lock removed and PPR_RECOMPUTE=1, so it really computes), and one report line.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PPR_MIRROR=${PPR_MIRROR:-$(cd "$ROOT/.." && pwd)/shared/data}

# bench_copy PROFILE: cd into a fresh copy of the checkout set to PROFILE.
bench_copy() {
    (cd "$ROOT" && ninja tools > /dev/null)
    W=$(mktemp -d /tmp/ppr-bench-XXXXXX)
    trap 'rm -rf "$W"' EXIT
    (cd "$ROOT" && tar cf - --exclude=./artifacts --exclude=./build/slice \
        --exclude='./manifests/lock/*' --exclude=./.git .) | (cd "$W" && tar xf -)
    cd "$W"
    sed -i "s/\"profile\": \"[a-z]*\"/\"profile\": \"$1\"/" manifests/config.json
}

# report NAME SECONDS GOAL PEAK_KB: ratio = goal / time (above 1 is within budget).
report() {
    awk -v n="$1" -v s="$2" -v g="$3" -v m="$4" 'BEGIN {
        printf "%-40s %8.3f s  goal %6.3f s  ratio %6.2f  peak %7.1f MiB\n", n, s, g, g / s, m / 1024 }'
}

# time_stage STAGE [INSTANCES]: run every instance of STAGE (e.g. 03-encode),
# or those matching the glob INSTANCES (e.g. 'sim-*'), from its slice; prints
# the summed wall time and the largest peak RSS in KiB. The run records stay:
# a later stage's inputs are believed only beside theirs.
time_stage() {
    local total=0 peak=0 s m slice lock
    for slice in build/slice/"$1"-${2:-*}.json; do
        lock=manifests/lock/$(basename "$slice")
        rm -f "$lock"
        PPR_RECOMPUTE=1 /usr/bin/time -f '%e %M' -o t.out build/bin/ppr-"${1#*-}" "$slice" "$lock" \
            2> /dev/null || { echo "time_stage: ppr-${1#*-} failed on $slice" >&2; return 1; }
        read -r s m < t.out
        total=$(awk -v a="$total" -v b="$s" 'BEGIN { print a + b }')
        [ "$m" -gt "$peak" ] && peak=$m
    done
    echo "$total $peak"
}
