#!/usr/bin/env bash
# test_context_methods.sh: VPL and GPO serve a user from a context of its own
# pairs (issue 11). On the ci profile's sim-pllm (60 training pairs of 8
# users), a GPO evaluation context of 8 pairs leaves some users short: each
# is named with its pair count in the run's "skipped_users" and on the
# console, its test pairs are never scored (no accuracy, "skipped": true), and
# the mean is over the served users only.
set -u
source "$(dirname "$0")/lib.bash"

A=$(fresh)
cd "$A"
set_key "$A" 's/"eval_context": 4}}/"eval_context": 8}}/'
lock=manifests/lock/04-train-sim-pllm.gpo.json
ninja "$lock" > run.log 2>&1 || { fail "ninja"; cat run.log; }
h=$(grep -o '"name":"metrics"[^}]*' "$lock" | grep -o '[0-9a-f]\{64\}')
tail -c +17 "artifacts/objects/${h:0:2}/${h:2}.zst" | zstd -dq > metrics.json
python3 - metrics.json run.log <<'EOF' && ok "short users named, skipped, and outside the mean" ||
import json, sys
m = json.load(open(sys.argv[1]))
log = open(sys.argv[2]).read()
checked = 0
for run in m["runs"]:
    skipped = run.get("skipped_users", [])
    assert skipped, "no skipped users at eval_context 8"
    for s in skipped:
        assert 0 < s["pairs"] < 8, s
        assert f'gpo skips user "{s["name"]}": {s["pairs"]} training pairs' in log, s
    names = {s["name"] for s in skipped}
    users = {u["name"]: u for u in run["users"]}
    served = [u for n, u in users.items() if n not in names]
    for n in names:
        assert users[n].get("skipped") is True and "accuracy" not in users[n], users[n]
    assert served and all("accuracy" in u for u in served)
    mean = sum(u["accuracy"] for u in served if not u.get("untrained")) / \
        sum(1 for u in served if not u.get("untrained"))
    assert abs(mean - run["mean"]) < 1e-12, (mean, run["mean"])
    checked += 1
assert checked == len(m["runs"]) > 0
print("skipped per run:", [[s["name"] + ":" + str(s["pairs"]) for s in r["skipped_users"]]
                           for r in m["runs"]])
EOF
    { fail "short users"; cat metrics.json; grep skips run.log; }
finish
