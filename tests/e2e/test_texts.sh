#!/usr/bin/env bash
# test_texts.sh: which texts a simulated dataset labels is part of what makes it
# stale (issue 9, defect 5). On the ci profile, texts missing from the mirror
# fall back to composed ones with a warning on every run and in `ppr status`;
# when the mirror appears, the simulated datasets are refetched with the real
# texts and everything downstream reruns. Outside ci a missing mirror is an
# error, never a silent fallback; "texts": "composed" chosen in the config is
# no fallback anywhere.
set -u
source "$(dirname "$0")/lib.bash"
REAL=$PPR_MIRROR
export PPR_OFFLINE=1

# params_of DATASET: the parameters artifact of its fetch lock.
params_of() {
    local h
    h=$(grep -o '"name":"params"[^}]*' "manifests/lock/01-fetch-$1.json" |
        grep -o '[0-9a-f]\{64\}')
    tail -c +17 "artifacts/objects/${h:0:2}/${h:2}.zst" | zstd -qd
}
# texts_of DATASET: the "texts..." keys of its parameters (for a failure report).
texts_of() { params_of "$1" | grep -o '"texts[^,]*'; }

# The config names these texts (manifests/config.json, fetch.sources).
declare -A TEXTS=([sim-psoups]=alpaca-eval [sim-tldr]=flask [sim-pllm]=alpaca-eval)

A=$(fresh)
cd "$A"
# Only the simulated datasets (the real ones need the mirror), one method.
set_key "$A" '0,/"datasets": \[[^]]*\]/s//"datasets": ["sim-psoups", "sim-tldr", "sim-pllm"]/'
set_key "$A" 's/"evalsets": \[[^]]*\]/"evalsets": []/'
set_key "$A" 's/"methods": \[[^]]*\]/"methods": ["vanilla"]/'
# 3 datasets x (fetch, characterize, encode, train), sim-pllm's new-user row
# of the one method (adapt.methods is ["vanilla"] too) and the report
N=14

# The mirror is a path where nothing is yet.
export PPR_MIRROR=$A/mirror
if ninja > n1.log 2>&1; then ok "no mirror, ci: ninja succeeds"; else fail "ninja"; cat n1.log; fi
for d in sim-psoups sim-tldr sim-pllm; do
    t=${TEXTS[$d]}
    w="warning: \"$d\" labels composed texts in place of \"$t\": '$t/[^']*'"
    grep -q "$w is neither in the mirror '$PPR_MIRROR'" n1.log &&
        ok "$d: the fallback warns, naming a missing file and the mirror" ||
        { fail "$d: no fallback warning"; cat n1.log; }
    params_of "$d" | grep -q '"texts_choice":"fallback","texts_used":"composed"' &&
        ok "$d: its params say composed texts stood in" || { fail "$d: params"; texts_of "$d"; }
done
ninja > n2.log 2>&1 || { fail "second ninja"; cat n2.log; }
[ "$(grep -c 'warning: "sim-[a-z]*" labels composed texts in place of' n2.log)" -eq 3 ] &&
    ok "every ninja warns again" || { fail "second ninja is silent"; cat n2.log; }
[ -z "$(stages_run n2.log)" ] && ok "and runs no stage" || fail "ninja ran $(stages_run n2.log)"
build/bin/ppr status > st1.log 2>&1
grep -q "0 of $N stage instances stale" st1.log && ok "status: nothing stale" ||
    { fail "status"; cat st1.log; }
for d in sim-psoups sim-tldr sim-pllm; do
    grep -q "warning: 01-fetch-$d labelled composed texts in place of \"${TEXTS[$d]}\"" st1.log &&
        ok "status warns of $d's fallback" || { fail "status: no warning for $d"; cat st1.log; }
done

# The mirror appears where it was looked for, its files older than the slices.
ln -s "$REAL" "$PPR_MIRROR"
build/bin/ppr status > st2.log 2>&1
[ "$(grep -c '^01-fetch-sim-[a-z]* *stale' st2.log)" -eq 3 ] &&
    grep -q 'config key "texts_resolved" changed: "composed" -> "alpaca-eval"' st2.log &&
    grep -q 'config key "texts_resolved" changed: "composed" -> "flask"' st2.log &&
    ok "status: the simulated datasets are stale, their texts now resolved" ||
    { fail "status once the mirror is there"; cat st2.log; }
ninja > n3.log 2>&1 || { fail "ninja with the mirror"; cat n3.log; }
[ "$(stages_run n3.log | wc -l)" -eq "$N" ] &&
    ok "the next ninja refetches and reruns everything downstream" ||
    fail "with the mirror ninja ran: $(stages_run n3.log)"
grep -q 'warning' n3.log && { fail "a warning with the mirror"; cat n3.log; }
for d in sim-psoups sim-tldr sim-pllm; do
    params_of "$d" | grep -q "\"texts_choice\":\"config\",\"texts_used\":\"${TEXTS[$d]}\"" &&
        ok "$d: labels the real ${TEXTS[$d]} texts" || { fail "$d: params"; texts_of "$d"; }
done
ninja > n4.log 2>&1
grep -q 'ninja: no work to do.' n4.log && ok "then nothing to do" || { fail "n4"; cat n4.log; }
build/bin/ppr status > st3.log 2>&1
grep -q "0 of $N stage instances stale" st3.log && ! grep -q warning st3.log &&
    ok "status: up to date, no warning" || { fail "status with the mirror"; cat st3.log; }

# Composed texts chosen in the config: no fallback, no warning, even with no mirror.
rm "$PPR_MIRROR"
set_key "$A" '0,/"texts": "alpaca-eval"/s//"texts": "composed"/'
set_key "$A" 's/"sim-psoups", "sim-tldr", "sim-pllm"\]/"sim-psoups"]/'
ninja > n5.log 2>&1 || { fail "ninja with chosen composed texts"; cat n5.log; }
grep -q warning n5.log && { fail "chosen composed texts warn"; cat n5.log; }
params_of sim-psoups | grep -q '"texts_choice":"config","texts_used":"composed"' &&
    ok "ci: chosen composed texts, no warning, the params say chosen" ||
    { fail "ci: chosen"; texts_of sim-psoups; }

# Outside ci, chosen composed texts run with no mirror; texts of a source that
# are missing offline stop fetch with one line, and are never composed.
set_key "$A" 's/"profile": "ci"/"profile": "default"/'
fetch_psoups() {
    build/bin/ppr slice 01-fetch-sim-psoups > out.log 2> err.log || { fail "slice"; cat err.log; }
    build/bin/ppr-fetch build/slice/01-fetch-sim-psoups.json \
        manifests/lock/01-fetch-sim-psoups.json > out.log 2> err.log
}
fetch_psoups && ! grep -q warning err.log &&
    params_of sim-psoups | grep -q '"texts_choice":"config","texts_used":"composed"' &&
    ok "default: chosen composed texts, no warning" || { fail "default: chosen"; cat err.log; }
set_key "$A" '0,/"texts": "composed"/s//"texts": "alpaca-eval"/'
fetch_psoups
rc=$?
where="is neither in the mirror '$PPR_MIRROR' nor in 'artifacts/downloads'"
[ "$rc" -eq 2 ] && [ "$(wc -l < err.log)" -eq 1 ] &&
    grep -q "'alpaca-eval/[^']*' $where" err.log && grep -q '"texts": "composed"' err.log &&
    ok "default, offline: one line, exit 2, names the way out" ||
    { fail "default, offline: fetch exited $rc"; cat err.log; }
finish
