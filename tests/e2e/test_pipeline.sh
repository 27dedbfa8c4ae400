#!/usr/bin/env bash
# test_pipeline.sh: the incremental and integrity behaviour of issue 2 (a-h),
# run on the ci profile in fresh temporary copies.
set -u
source "$(dirname "$0")/lib.bash"

A=$(fresh)
cd "$A"

# a. A cold run succeeds; a second run has nothing to do.
if ninja > cold.log 2>&1; then ok "a: cold ninja"; else fail "a: cold ninja"; cat cold.log; fi
# Every stage instance of the grid ran once.
N=$(grep -c '^build manifests/lock/' manifests/grid.ninja)
[ "$(stages_run cold.log | wc -l)" -eq "$N" ] || fail "a: expected $N stage runs: $(stages_run cold.log)"
ninja > warm.log 2>&1
grep -q 'ninja: no work to do.' warm.log && ok "a: second ninja does no work" ||
    { fail "a: second ninja did work"; cat warm.log; }
# The run log has a line per run with its time and peak memory.
[ "$(grep -c '"seconds":[0-9.]*,"peak_kib":[1-9][0-9]*,' artifacts/log/runs.jsonl)" -eq "$N" ] &&
    ok "a: the run log records every run's time and peak memory" ||
    { fail "a: run log"; cat artifacts/log/runs.jsonl; }
cp -r manifests/lock "$A/first-locks"
cp manifests/config.json config.first
# (on the committed profile: the ci profile runs a smaller tax)
G=$(mktemp -d /tmp/ppr-e2e-grid-XXXXXX)
TMPS+=("$G")
cp -r "$ROOT/manifests" "$G/"
(cd "$G" && "$ROOT/build/bin/ppr" grid) && cmp -s "$G/manifests/grid.ninja" "$ROOT/manifests/grid.ninja" &&
    ok "a: the committed grid is what ppr grid makes of the config" ||
    fail "a: manifests/grid.ninja is stale: run ninja and commit it"

# b. A key only characterize reads reruns characterize, not fetch.
set_key "$A" 's/"highly_threshold": 0.3,/"highly_threshold": 0.25,/'
ninja > b.log 2>&1 || { fail "b: ninja"; cat b.log; }
# (training reads the minority users stage 02 finds, so it follows)
expect=$( (ls manifests/lock/02-characterize-*.json manifests/lock/04-train-*.*.json
          echo manifests/lock/08-report-figures.json) | sort)
[ "$(stages_run b.log)" = "$expect" ] && ok "b: only characterize, training and the report reran" ||
    fail "b: ran $(stages_run b.log)"
set_key "$A" 's/"highly_threshold": 0.25,/"highly_threshold": 0.3,/'
ninja > b2.log 2>&1 || fail "b: ninja back"
grep -q 'reused run' b2.log && ok "b: switching back reuses the run cache" || fail "b: no cache reuse"

# b2. Dropping Conditional RM reruns encode only, which reuses every table row
# (same encoder) and writes no "User ID" rows; an encoder setting reruns encode
# only and reuses nothing from a matrix of another dimension.
upstream_of_train() { stages_run "$1" | grep -v -E '/0[4-8]-'; }
expect=$(ls manifests/lock/03-encode-*.json | sort)
set_key "$A" 's/"individual", "conditional", "prm"/"individual", "prm"/'
ninja > b3.log 2>&1 || { fail "b2: ninja without conditional"; cat b3.log; }
[ "$(upstream_of_train b3.log)" = "$expect" ] && ok "b2: the methods list reruns encode, not fetch" ||
    fail "b2: ran $(stages_run b3.log)"
grep -q 'sim-psoups: [0-9]* texts x 1028 (hash): encoded 0,' b3.log &&
    ok "b2: the table rows are reused, nothing encoded" || { fail "b2: reuse"; grep encode b3.log; }
set_key "$A" 's/"hash": {"dim": 1024,/"hash": {"dim": 512,/'
ninja > b4.log 2>&1 || { fail "b2: ninja"; cat b4.log; }
[ "$(upstream_of_train b4.log)" = "$expect" ] && ok "b2: an encoder setting reruns encode, not fetch" ||
    fail "b2: ran $(stages_run b4.log)"
grep -q 'sim-psoups: [0-9]* texts x 516 (hash): encoded [1-9]' b4.log &&
    ok "b2: 512 + 4 surface features, everything encoded" || { fail "b2: dimension"; grep encode b4.log; }
cp config.first manifests/config.json
ninja > b5.log 2>&1

# b3. Each method's settings are its own slice: GPO's depth reruns the GPO
# instances only.
set_key "$A" 's/"gpo": {"d_model": 16, "layers": 2,/"gpo": {"d_model": 16, "layers": 3,/'
ninja > b6.log 2>&1 || { fail "b3: ninja"; cat b6.log; }
# (and the new-user row that adapts GPO's models, and the report)
[ "$(stages_run b6.log)" = "$( (ls manifests/lock/04-train-*.gpo.json manifests/lock/07-adapt-*.gpo.json
                                echo manifests/lock/08-report-figures.json) | sort)" ] &&
    ok "b3: a GPO setting reruns GPO only" || fail "b3: ran $(stages_run b6.log)"
cp config.first manifests/config.json
ninja > b7.log 2>&1

# c. touch without a content change runs no stage downstream. A touched lock
# is checked by its own stage (Ninja reruns an edge whose output changed after
# it ran), which finds it up to date and computes nothing.
touch manifests/lock/01-fetch-sim-psoups.json manifests/config.json manifests/sources.json
ninja > c.log 2>&1 || fail "c: ninja"
[ "$(stages_run c.log)" = "manifests/lock/01-fetch-sim-psoups.json" ] &&
    grep -q '01-fetch sim-psoups: up to date' c.log && ok "c: touch runs no stage downstream" ||
    { fail "c: ran $(stages_run c.log)"; cat c.log; }
ninja > c2.log 2>&1
grep -q 'ninja: no work to do.' c2.log || fail "c: work left after touch"

# d. A new seed reruns the stages of the simulated datasets (the real ones do
# not read it); the old seed is a run-cache hit
# with byte-identical locks.
cp manifests/config.json config.saved
set_key "$A" 's/"seed": [0-9]*,/"seed": 7,/'
ninja > d.log 2>&1 || fail "d: ninja new seed"
SIMS=$(grep -c '^build manifests/lock/.*-sim-' manifests/grid.ninja)
# (and the report, which reads their metrics)
[ "$(stages_run d.log | grep -c sim-)" -eq "$SIMS" ] && [ "$(stages_run d.log | wc -l)" -eq $((SIMS + 1)) ] &&
    stages_run d.log | grep -q 08-report-figures &&
    ok "d: new seed reruns the $SIMS simulated instances and the report, nothing else" ||
    fail "d: ran $(stages_run d.log)"
cmp -s manifests/lock/01-fetch-sim-psoups.json first-locks/01-fetch-sim-psoups.json &&
    fail "d: new seed gave the same dataset"
cp config.saved manifests/config.json
ninja > d2.log 2>&1 || fail "d: ninja old seed"
[ "$(grep -c 'reused run' d2.log)" -eq $((SIMS + 1)) ] && ok "d: old seed: $((SIMS + 1)) run-cache hits" ||
    { fail "d: expected $((SIMS + 1)) run-cache hits"; cat d2.log; }
diff -r first-locks manifests/lock > /dev/null && ok "d: locks byte-identical to the first run" ||
    fail "d: locks differ from the first run"

# e. One flipped byte in a stored object: verify names it, the stage that
# reads it refuses it with a clear error (exit 2) instead of using it, and
# the next ninja reruns the stage that made it, which stores it whole again.
obj=$(grep -o '"name":"dataset","rows":[0-9]*,"sha256":"[0-9a-f]*"' \
    manifests/lock/01-fetch-sim-tldr.json | grep -o '[0-9a-f]\{64\}')
path=artifacts/objects/${obj:0:2}/${obj:2}.zst
flip_byte "$path" 40
build/bin/ppr verify > e.log 2>&1
rc=$?
[ "$rc" -ne 0 ] && grep -q "${obj:2}" e.log && ok "e: verify names the bad object" ||
    { fail "e: verify rc=$rc"; cat e.log; }
PPR_RECOMPUTE=1 build/bin/ppr-characterize build/slice/02-characterize-sim-tldr.json \
    /tmp/unused-$$.json > e2.log 2>&1
rc=$?
[ "$rc" -eq 2 ] && grep -q "ppr-characterize: .*${obj:2}.*corrupt" e2.log &&
    [ "$(wc -l < e2.log)" -eq 1 ] && ok "e: characterize refuses it: exit 2, one line" ||
    { fail "e: characterize rc=$rc"; cat e2.log; }
[ -e /tmp/unused-$$.json ] && fail "e: a lock was written for a failed run"
ninja > e3.log 2>&1 || { fail "e: ninja"; cat e3.log; }
[ "$(stages_run e3.log)" = "manifests/lock/01-fetch-sim-tldr.json" ] &&
    ok "e: ninja reruns only the stage that made it" || fail "e: ran $(stages_run e3.log)"
build/bin/ppr verify > e4.log 2>&1 && ok "e: the store verifies again" || { fail "e: verify"; cat e4.log; }
diff -r first-locks manifests/lock > /dev/null && ok "e: locks as before" || fail "e: locks changed"

# f. fetch killed with SIGKILL half-way leaves no partial artifact; the next
# ninja completes and verify passes.
F=$(fresh)
cd "$F"
set_key "$F" 's/"profile": "ci"/"profile": "default"/'
ninja > f.log 2>&1 &
ninja_pid=$!
killed=0
for _ in $(seq 1 500); do
    pid=$(fetch_pid "$F")
    [ -n "$pid" ] && break
    sleep 0.01
done
sleep 0.3
pid=$(fetch_pid "$F")
[ -n "$pid" ] && kill -KILL "$pid" 2> /dev/null && killed=1
wait $ninja_pid
[ "$killed" -eq 1 ] && ok "f: killed a running fetch" || echo "note: fetch ended before the kill"
build/bin/ppr verify > f-verify.log 2>&1 && ok "f: store consistent after the kill" ||
    { fail "f: verify after kill"; cat f-verify.log; }
ninja > f2.log 2>&1 && ok "f: next ninja completes" || { fail "f: ninja after kill"; cat f2.log; }
build/bin/ppr verify > f-verify2.log 2>&1 && ok "f: verify passes" || fail "f: verify"

# g. Two cold runs in different directories give byte-identical locks.
G=$(fresh)
cd "$G"
ninja > g.log 2>&1 || fail "g: cold ninja"
diff -r "$A/first-locks" manifests/lock > /dev/null && ok "g: byte-identical locks" ||
    fail "g: locks differ between two directories"

# h. archive, restore into an empty checkout: verify passes, ninja recomputes nothing.
build/bin/ppr archive "$G/run.tar.zst" > h.log 2>&1 || { fail "h: archive"; cat h.log; }
build/bin/ppr verify --archive "$G/run.tar.zst" > h1.log 2>&1 || fail "h: verify --archive"
H=$(fresh)
cd "$H"
build/bin/ppr restore "$G/run.tar.zst" > h2.log 2>&1 || { fail "h: restore"; cat h2.log; }
build/bin/ppr verify > h3.log 2>&1 && ok "h: verify passes after restore" || fail "h: verify"
ninja > h4.log 2>&1 || fail "h: ninja after restore"
[ "$(grep -c 'up to date' h4.log)" -eq "$N" ] && ok "h: every stage up to date, nothing recomputed" ||
    { fail "h: stages recomputed"; cat h4.log; }
diff -r "$G/manifests/lock" manifests/lock > /dev/null || fail "h: restored locks changed"
ninja > h5.log 2>&1
grep -q 'ninja: no work to do.' h5.log && ok "h: then no work to do" || fail "h: work left"

# Heads started from the pre-trained reference: the training instances rerun
# and read its models; the reference itself and everything upstream stay.
# VPL, GPO and RAG cannot start from it: asked to, they fail naming why.
cd "$G"
set_key "$G" 's/"from_pretrained": false,/"from_pretrained": true,/'
ninja manifests/lock/04-train-sim-pllm.gpo.json > fp0.log 2>&1 &&
    fail "from_pretrained: gpo started from the reference" ||
    { grep -q 'ppr-train: train.from_pretrained: gpo cannot start from a reference model' fp0.log &&
      ok "from_pretrained: gpo refuses, naming the setting" || { fail "from_pretrained: gpo"; cat fp0.log; }; }
set_key "$G" '0,/"methods": \[[^]]*\]/s//"methods": ["pretrained", "vanilla", "individual", "conditional", "prm"]/'
ninja > fp.log 2>&1 || { fail "from_pretrained: ninja"; cat fp.log; }
# (and the new-user rows that adapt those models; the upper bound reads none)
expect=$( (ls manifests/lock/04-train-*.*.json | grep -v -E '\.(pretrained|vpl|gpo|rag|[a-z]*\.ft)\.json'
          for r in vanilla similar finetune prm; do echo manifests/lock/07-adapt-sim-pllm.$r.json; done
          echo manifests/lock/08-report-figures.json) | sort)
[ "$(stages_run fp.log)" = "$expect" ] && ok "from_pretrained: the training instances rerun, nothing else" ||
    fail "from_pretrained: ran $(stages_run fp.log)"
grep -q '"name":"pretrained/model-s1"' manifests/lock/04-train-sim-pllm.vanilla.json &&
    ok "from_pretrained: they read the reference's models" || fail "from_pretrained: inputs"

# A node reading many others: the reference pre-trained on every set reads the
# fetch and encode outputs of 22 nodes (a node's inputs have no fixed cap).
sets='"hh-harmless", "xstest", "hep", "llmbar", "ultrafeedback", "sim-psoups", "sim-tldr", '
sets+='"sim-pllm", "hh-relabeled", "pandalm", "spica"'
set_key "$G" "s/\"pretrained_on\": \[[^]]*\]/\"pretrained_on\": [$sets]/"
ninja manifests/lock/04-train-pretrained.json > many.log 2>&1 ||
    { fail "many inputs: ninja"; cat many.log; }
from=$(grep -o '"from":"[^"]*"' manifests/lock/04-train-pretrained.json | sort -u | wc -l)
deps=$(grep '^build build/slice/04-train-pretrained.json:' manifests/grid.ninja |
    grep -o 'manifests/lock/0[13]-[^ ]*' | wc -l)
[ "$from" -eq 22 ] && [ "$deps" -eq 22 ] &&
    ok "many inputs: the reference reads 22 nodes, and its slice edge depends on their locks" ||
    fail "many inputs: the reference reads $from nodes, its slice edge names $deps locks"

finish
