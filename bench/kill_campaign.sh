#!/usr/bin/env bash
# kill_campaign.sh N [SEED]: SIGKILL a running pipeline N times and check that
# it always recovers.
#
# In a fresh copy of the checkout on the ci profile, an uninterrupted cold
# `ninja` gives the reference locks and its duration T. Then N times: the store,
# locks, slices and depfiles are removed, a cold `ninja` starts, and at a
# moment drawn uniformly from [0, T) every process of the run is stopped and
# SIGKILLed (Ninja and all its descendants: Ninja puts each command in its own
# process group, so killing Ninja's group alone would leave stages running).
# After each kill: `ninja` must complete, `ppr verify` pass, no temp file
# remain, and the locks equal the reference. The kill moments come from SEED
# (default 1); what was running at each moment depends on the machine.
#
# Prints one line per kill and a summary: kills / recoveries / mismatches.
# Exits 1 when a kill was not recovered from.
set -u
source "$(dirname "$0")/../tests/e2e/lib.bash"

n=${1:?usage: kill_campaign.sh N [SEED]}
seed=${2:-1}
reference_run kill_campaign
T=$REF_SECONDS
echo "reference: cold ninja in ${T} s, $(ls reference-locks | wc -l) locks"

# Stop pid, then its descendants (so none can spawn more), then kill them all;
# the nodes whose stage or slice was running go to killed.txt.
kill_tree() {
    kill -STOP "$1" 2> /dev/null
    { tr '\0' ' ' < "/proc/$1/cmdline"; } 2> /dev/null |
        grep -o '^build/bin/ppr[-a-z]* [a-z]* *build/slice/[^ ]*\.json\|^build/bin/ppr slice [^ ]*' |
        sed 's|.*build/slice/\(.*\)\.json|\1|; s|.*ppr slice \(.*\)|slice \1|' >> killed.txt
    local c
    for c in $(pgrep -P "$1"); do kill_tree "$c"; done
    kill -KILL "$1" 2> /dev/null
}

rng_seed "$seed"
kills=0
recovered=0
mismatches=0
for i in $(seq 1 "$n"); do
    rm -rf artifacts manifests/lock build/slice build/deps
    rand 1000000
    at=$(awk -v t="$T" -v r="$REPLY" 'BEGIN { printf "%.3f", t * r / 1000000 }')
    ninja > run.log 2>&1 &
    pid=$!
    disown "$pid" # no "Killed" notice from the shell
    sleep "$at"
    : > killed.txt
    kill_tree "$pid"
    running=$(sort -u killed.txt | paste -sd, -)
    while kill -0 "$pid" 2> /dev/null; do sleep 0.01; done
    kills=$((kills + 1))
    ok=1
    ninja > recover.log 2>&1 || { ok=0; why="ninja failed: $(grep -m1 -v '^\[' recover.log)"; }
    [ $ok = 1 ] && { build/bin/ppr verify > verify.log 2>&1 ||
        { ok=0; why="verify: $(head -1 verify.log)"; }; }
    temps=$(find artifacts manifests build -name '*.tmp??????' | wc -l)
    [ $ok = 1 ] && [ "$temps" -ne 0 ] && { ok=0; why="temp files left: $(find artifacts manifests build -name '*.tmp??????' | paste -sd" " -)"; }
    if [ $ok = 1 ]; then
        recovered=$((recovered + 1))
        if diff -r reference-locks manifests/lock > /dev/null; then
            why="recovered, locks equal the reference"
        else
            mismatches=$((mismatches + 1))
            why="recovered, but the locks differ from the reference"
        fi
    fi
    printf 'kill %d at %6.3f s (running: %s): %s\n' "$i" "$at" "${running:-ninja only}" "$why"
done
echo "kills $kills / recoveries $recovered / mismatches $mismatches"
[ "$recovered" -eq "$kills" ] && [ "$mismatches" -eq 0 ]
