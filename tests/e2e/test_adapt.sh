#!/usr/bin/env bash
# test_adapt.sh: new users, stage 07 (issue 13), on the ci profile's sim-pllm
# (2 new users, k in {4, 8}, 2 draws, 2 seeds):
# a. every row lists exactly the dataset's new users with their pool and test
#    pairs, counted by an independent reader of the dataset format (pool and
#    test share no prompt); each k's summary is the mean of its runs with a
#    Student t interval over them (draws x seeds, or seeds for the rows that
#    do not adapt); retrieve-similar-user says which rule served each user;
# b. a change of the k list reruns the stage 07 instances and the report, and
#    nothing else;
# c. a new user with fewer than k pairs is reported and skipped by name, not
#    a crash and not a smaller k;
# d. config errors: an unknown row, a row that fits without its settings, a
#    dataset that is not a source, a dataset without new users: one error
#    each, exit 2.
set -u
source "$(dirname "$0")/lib.bash"

rows="vanilla similar finetune gpo upper prm vpl"

A=$(fresh)
cd "$A"
ninja > run.log 2>&1 || { fail "ninja"; tail -20 run.log; }
for r in $rows; do metrics manifests/lock/07-adapt-sim-pllm.$r.json > 07.$r.json; done
h=$(grep -o '"name":"dataset"[^}]*' manifests/lock/01-fetch-sim-pllm.json | grep -o '[0-9a-f]\{64\}')
tail -c +17 "artifacts/objects/${h:0:2}/${h:2}.zst" | zstd -dq > pllm.prefs
python3 - pllm.prefs $rows <<'PY' && ok "a. new users, pools and tests, summaries and rules" ||
import json, math, struct, sys
b = open(sys.argv[1], "rb").read()
assert b[:8] == b"PPRPREF1"
n_users, n_texts, n_rows, _ = struct.unpack_from("<4I", b, 8)
names_off, names_len, users_off = struct.unpack_from("<3Q", b, 24)
users = []
for u in range(n_users):
    name_off, pool = struct.unpack_from("<2I", b, users_off + 8 * u)
    end = b.index(b"\0", names_off + name_off)
    users.append((b[names_off + name_off:end].decode(), pool))
rows_off = struct.unpack_from("<Q", b, 24 + 7 * 8)[0]
count, prompts = {}, {}
for i in range(n_rows):
    user, prompt, chosen, rejected, split = struct.unpack_from("<5I", b, rows_off + 24 * i)
    if users[user][1] == 1:
        name = users[user][0]
        count.setdefault(name, [0, 0])[split] += 1
        prompts.setdefault((name, split), set()).add(prompt)
new = [n for n, pool in users if pool == 1]
assert len(new) == 2, new
for n in new:
    assert not prompts.get((n, 0), set()) & prompts.get((n, 1), set()), n
T = {1: 12.706, 2: 4.303, 3: 3.182}  # t(0.975, df)
for r in sys.argv[2:]:
    m = json.load(open(f"07.{r}.json"))
    assert [(u["name"], u["pool"], u["test"]) for u in m["users"]] == \
        [(n, count[n][0], count[n][1]) for n in new], (r, m["users"])
    fixed = r in ("vanilla", "upper")
    assert m["adapts"] == (not fixed), r
    for s in m["summary"]:
        k = s["k"]
        served = [n for n in new if count[n][0] >= k and count[n][1] > 0]
        assert s["users"] == len(served), (r, k)
        assert [u["name"] for u in s["skipped_users"]] == [n for n in new if n not in served]
        runs = [x for x in m["runs"] if x["k"] == k]
        assert len(runs) == (2 if fixed else 4), (r, k, len(runs))
        for x in runs:
            assert [u["name"] for u in x["users"]] == served, (r, k)
            assert abs(x["mean"] - sum(u["accuracy"] for u in x["users"]) / len(served)) < 1e-12
            if r == "similar":
                assert all(u["rule"] == "predictions" for u in x["users"]), x  # fresh triples
        means = [x["mean"] for x in runs]
        mu = sum(means) / len(means)
        sd = math.sqrt(sum((v - mu) ** 2 for v in means) / (len(means) - 1))
        assert abs(s["mean"] - mu) < 1e-12, (r, k)
        assert abs(s["ci95"] - T[len(means) - 1] * sd / math.sqrt(len(means))) < 1e-3, (r, k)
    if r == "similar":
        assert sum(m["summary"][0]["rules"].values()) == 4 * len(new)
print(f"{len(new)} new users: pools {[count[n][0] for n in new]}, tests {[count[n][1] for n in new]}")
PY
    fail "a. new users"

# b. a change of k's list: stage 07 only
set_key "$A" 's/"adapt": {"k": \[4, 8\]/"adapt": {"k": [4, 6]/'
ninja > b.log 2>&1 || fail "b. ninja"
want=$( (for r in $rows; do echo "manifests/lock/07-adapt-sim-pllm.$r.json"; done
        echo manifests/lock/08-report-figures.json) | sort)
[ "$(stages_run b.log)" = "$want" ] && ok "b. a new k list reruns the 7 stage 07 instances and the report only" ||
    { fail "b. reran:"; stages_run b.log; }

# c. k = 1000: more pairs than any new user's pool
set_key "$A" 's/"adapt": {"k": \[4, 6\]/"adapt": {"k": [4, 1000]/'
ninja > c.log 2>&1 || fail "c. ninja"
metrics manifests/lock/07-adapt-sim-pllm.gpo.json > c.json
python3 - c.json c.log <<'PY' && ok "c. a new user with fewer than k pairs is skipped by name" ||
import json, sys
m = json.load(open(sys.argv[1]))
log = open(sys.argv[2]).read()
s = {x["k"]: x for x in m["summary"]}
assert s[1000]["users"] == 0 and "mean" not in s[1000], s[1000]
names = [u["name"] for u in m["users"]]
assert [u["name"] for u in s[1000]["skipped_users"]] == names, s[1000]
for u in s[1000]["skipped_users"]:
    assert 0 < u["pool"] < 1000
    assert f'k = 1000: new user "{u["name"]}" is skipped: {u["pool"]} pairs in its pool' in log
assert s[4]["users"] == len(names) and "mean" in s[4]
assert not [x for x in m["runs"] if x["k"] == 1000 and x["users"]]
PY
    fail "c. short users"

# d. config errors
B=$(fresh)
cd "$B"
set_key "$B" 's/"methods": \["vanilla", "similar",/"methods": ["vanilla", "bogus",/'
expect_error build/bin/ppr grid && grep -q 'adapt.methods' err.log &&
    ok "d. an unknown row: $(cat err.log)" || fail "d. unknown row: $(cat err.log)"
set_key "$B" 's/"methods": \["vanilla", "bogus",/"methods": ["vanilla", "similar",/'
set_key "$B" 's/    "finetune": {"epochs": 1},//'
expect_error build/bin/ppr grid && grep -q '"adapt.finetune"' err.log &&
    ok "d. a fitting row without settings: $(cat err.log)" || fail "d. fit: $(cat err.log)"
set_key "$B" 's/"prm": {"epochs": 100/"finetune": {"epochs": 1}, "prm": {"epochs": 100/'
set_key "$B" 's/^    "datasets": \["sim-pllm"\],/    "datasets": ["sim-plm"],/'
expect_error build/bin/ppr grid && grep -q 'adapt.datasets' err.log &&
    ok "d. a dataset that is not a source: $(cat err.log)" || fail "d. dataset: $(cat err.log)"
set_key "$B" 's/^    "datasets": \["sim-plm"\],/    "datasets": ["sim-tldr"],/'
expect_error build/bin/ppr grid && grep -q '"fetch.sources.sim-tldr.new_users" must be above 0' err.log &&
    ok "d. a dataset without new users: $(cat err.log)" || fail "d. no new users: $(cat err.log)"
finish
