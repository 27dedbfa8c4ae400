#!/usr/bin/env bash
# test_campaigns.sh: short runs of the two campaigns of bench/ (the full runs
# and their counts are in docs/reliability.md): 5 kills of a running pipeline,
# 50 faults injected into the store and the locks. Each must be recovered
# from, detected and repaired, with no result computed from damaged data.
set -u
source "$(dirname "$0")/lib.bash"
LOGS=$(mktemp -d /tmp/ppr-campaigns-XXXXXX)
TMPS+=("$LOGS")

bash "$ROOT/bench/kill_campaign.sh" 5 > "$LOGS/kill.log" 2>&1
rc=$?
tail -1 "$LOGS/kill.log"
[ $rc -eq 0 ] && grep -q '^kills 5 / recoveries 5 / mismatches 0$' "$LOGS/kill.log" &&
    ok "kill campaign: 5 kills, 5 recoveries, 0 mismatches" || { fail "kill campaign"; cat "$LOGS/kill.log"; }

bash "$ROOT/bench/corrupt_campaign.sh" 50 > "$LOGS/corrupt.log" 2>&1
rc=$?
tail -1 "$LOGS/corrupt.log"
[ $rc -eq 0 ] && grep -q '^injected 50 / .* / repaired 50 / used-undetected 0$' "$LOGS/corrupt.log" &&
    ok "corruption campaign: 50 faults, each detected or benign and repaired, none used" ||
    { fail "corruption campaign"; cat "$LOGS/corrupt.log"; }
finish
