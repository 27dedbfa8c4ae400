#!/usr/bin/env bash
# fuzz.sh TARGET SECONDS: build the libFuzzer target tests/fuzz/TARGET.c with
# clang (-fsanitize=fuzzer,address,undefined; the ppr sources it reaches are
# compiled the same way, the system libraries are not instrumented), run it
# for SECONDS on one core from its seeds (tests/fuzz/seeds.sh) and its
# regression inputs, and print one line: target, seconds, executions, corpus
# size and crashes. `fuzz.sh all SECONDS` runs every target in turn. Work
# files live in $PPR_FUZZ_WORK (default /tmp/ppr-fuzz): bin/ the binaries,
# TARGET/corpus the corpus kept from run to run, TARGET/crashes every crash,
# timeout and out-of-memory input, TARGET/log the last run's output, and
# results.log one line per run. Not a test; tests/fuzz/README.md says how a
# crash becomes a regression input.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# every file of tests/fuzz/ but the replay main is a target
TARGETS=$(cd "$ROOT/tests/fuzz" && ls *.c | grep -vx replay.c | sed 's/\.c$//' | tr '\n' ' ')
if [ $# -ne 2 ] || ! [ "$2" -gt 0 ] 2> /dev/null; then
    echo "usage: bench/fuzz.sh TARGET|all SECONDS (targets: $TARGETS)" >&2
    exit 2
fi
WORK=${PPR_FUZZ_WORK:-/tmp/ppr-fuzz}
CFLAGS="-std=c17 -D_GNU_SOURCE -I$ROOT -I/usr/include/cjson -g -O1 -Wall -Wextra -Werror
    -fsanitize=address,undefined -fno-sanitize-recover=all"
LIBS="-lzstd -lcjson -lcrypto -larchive -lz -lcurl -lopenblas -lm"
SOURCES="$(cd "$ROOT" && ls common/*.c common/models/*.c) stages/01-fetch/loaders.c stages/01-fetch/load_tldr.c
    stages/01-fetch/load_hf.c stages/01-fetch/load_offline.c stages/01-fetch/load_annotated.c
    stages/01-fetch/offline.c stages/01-fetch/load_glove.c
    stages/01-fetch/csv.c stages/01-fetch/gz.c"

# build: the ppr sources as one instrumented archive, then each target on it
# (rows.c includes common/hfrows.c, so the archive's copy is never pulled in).
build() {
    local s o objs=""
    mkdir -p "$WORK/obj" "$WORK/bin"
    for s in $SOURCES; do
        o=$WORK/obj/$(echo "$s" | tr / _).o
        clang $CFLAGS -fsanitize=fuzzer-no-link -c "$ROOT/$s" -o "$o"
        objs="$objs $o"
    done
    rm -f "$WORK/obj/libppr-fuzz.a"
    ar crs "$WORK/obj/libppr-fuzz.a" $objs
    for t in "$@"; do
        clang $CFLAGS -fsanitize=fuzzer "$ROOT/tests/fuzz/$t.c" "$WORK/obj/libppr-fuzz.a" \
            $LIBS -o "$WORK/bin/fuzz_$t"
    done
}

# count_crashes DIR: how many inputs libFuzzer saved there.
count_crashes() {
    find "$1" -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
        -o -name 'oom-*' \) | wc -l
}

# run TARGET SECONDS: one run, its line printed and kept in results.log.
run() {
    local t=$1 secs=$2 d=$WORK/$1 before start execs corpus crashes line regress
    mkdir -p "$d/corpus" "$d/crashes"
    regress=tests/fuzz/regress/$t
    [ -d "$ROOT/$regress" ] || regress=
    rm -rf "$d/seeds"
    "$ROOT/tests/fuzz/seeds.sh" "$t" "$d/seeds"
    before=$(count_crashes "$d/crashes")
    start=$(date +%s)
    # The targets read fixtures by relative path: run from the checkout.
    (cd "$ROOT" && "$WORK/bin/fuzz_$t" -max_total_time="$secs" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$d/crashes/" \
        "$d/corpus" "$d/seeds" $regress) > "$d/log" 2>&1 || true
    execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$d/log")
    corpus=$(grep -o 'corp: [0-9]*' "$d/log" | tail -1 | cut -d' ' -f2)
    crashes=$(($(count_crashes "$d/crashes") - before))
    line=$(printf '%s fuzz %-8s %5d s  %11s executions  corpus %5s  crashes %d' \
        "$(date -u +%Y-%m-%dT%H:%MZ)" "$t" $(($(date +%s) - start)) "${execs:-?}" \
        "${corpus:-?}" "$crashes")
    echo "$line" | tee -a "$WORK/results.log"
    if [ "$crashes" -gt 0 ]; then
        grep -m1 -A3 'ERROR: \|==ERROR\|runtime error' "$d/log" || true
        ls -t "$d/crashes" | head -"$crashes" | sed "s|^|  $d/crashes/|"
    fi
}

if [ "$1" = all ]; then
    build $TARGETS
    for t in $TARGETS; do run "$t" "$2"; done
elif [[ " $TARGETS " == *" $1 "* ]]; then
    build "$1"
    run "$1" "$2"
else
    echo "bench/fuzz.sh: unknown target '$1' (targets: $TARGETS)" >&2
    exit 2
fi
