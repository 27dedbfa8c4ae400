#!/usr/bin/env bash
# test_tax.sh: the personalization tax, stages 05 and 06 (issue 12), on the ci
# profile's tax of sim-pllm (rows pretrained, vanilla, individual):
# a. every row has its categories: safety from XSTest's and HH-RLHF
#    harmless's evaluation parts, reasoning from HumanEvalPack's, chat-hard
#    from LLMBar's, chat "unavailable" (no RewardBench); every row is
#    measured on the same pairs against the same reference, the reference row
#    is that reference, and ACC is stage 04's fine-tuned models' own;
# b. the fine-tuned models are instances of their own that start from the
#    reference, and Table 5's instances do not read it;
# c. a change of the tax's train size reruns the fine-tuned instances, their
#    rows and the report only;
# c2. fine-tuning at lr 0 (tax.optimizer over the head's settings) leaves
#    every head the reference's: every change is exactly 0;
# d. an evaluation prompt in the reference's training data stops stage 05
#    with one error naming the set, and no lock of that slice is written;
# e. with RewardBench (its fixture rows, read from a mirror), both subset
#    mappings are reported apart, with the pair counts worked out by hand;
# f. no HumanEvalPack task is on both sides: the reference trains on no
#    language's version of a task whose other versions are evaluated (task ids
#    from the upstream files, the fetched rows read back by an independent
#    reader of the dataset format).
set -u
source "$(dirname "$0")/lib.bash"

A=$(fresh)
cd "$A"
ninja > run.log 2>&1 || { fail "ninja"; tail -20 run.log; }
rows="pretrained vanilla individual"
for r in $rows; do
    metrics manifests/lock/05-safety-eval-sim-pllm.$r.json > 05.$r.json
    metrics manifests/lock/06-reasoning-eval-sim-pllm.$r.json > 06.$r.json
done
metrics manifests/lock/04-train-sim-pllm.vanilla.ft.json > 04.vanilla.json
metrics manifests/lock/04-train-sim-pllm.pretrained.json > 04.pretrained.json
python3 - <<'PY' && ok "a. categories, shared pairs and reference, ACC from stage 04" ||
import json
rows = ["pretrained", "vanilla", "individual"]
m5 = {r: json.load(open(f"05.{r}.json")) for r in rows}
m6 = {r: json.load(open(f"06.{r}.json")) for r in rows}
subsets = {
    "safety": {"xstest-should-respond", "xstest-should-refuse", "hh-harmless"},
    "reasoning": {f"hep-{l}" for l in ["cpp", "go", "java", "js", "python", "rust"]},
    "chat-hard": {"llmbar-natural", "llmbar-adver-neighbor", "llmbar-adver-GPTInst",
                  "llmbar-adver-GPTOut", "llmbar-adver-manual"},
}
for r in rows:
    cats = dict(m5[r]["categories"], **m6[r]["categories"])
    assert set(cats) == {"safety", "reasoning", "chat-hard", "chat"}, cats.keys()
    assert "unavailable" in cats["chat"] and len(cats["chat"]) == 1, cats["chat"]
    for c, want in subsets.items():
        got = cats[c]
        assert set(got["subsets"]) == want, (r, c, got["subsets"].keys())
        assert got["pairs"] == sum(s["pairs"] for s in got["subsets"].values())
        ref = m5["pretrained"] if c == "safety" else m6["pretrained"]
        base = ref["categories"][c]
        assert got["pairs"] == base["pairs"], (r, c)
        if r != "pretrained":
            assert got["reference"] == base["accuracy"], (r, c)
            assert ("change" in got) != got["reference_at_chance"], (r, c)
            if "change" in got:
                d = got["accuracy"]["mean"] - got["reference"]["mean"]
                assert abs(got["change"]["mean"] - d) < 1e-12, (r, c)
            else:
                assert got["not_measurable"] == "reference at chance"
    assert m5[r]["personal"] == m6[r]["personal"]
tuned = json.load(open("04.vanilla.json"))["summary"][0]
assert m5["vanilla"]["personal"] == tuned, (m5["vanilla"]["personal"], tuned)
assert m5["pretrained"]["personal"] == json.load(open("04.pretrained.json"))["summary"][0]
PY
    { fail "a. categories"; head -c 3000 05.vanilla.json; }

grep -q '"from_pretrained":true' manifests/lock/04-train-sim-pllm.vanilla.ft.json &&
    grep -q '"name":"pretrained/model-s1"' manifests/lock/04-train-sim-pllm.vanilla.ft.json &&
    ! grep -q 'pretrained/model' manifests/lock/04-train-sim-pllm.vanilla.json &&
    ok "b. fine-tuned instances start from the reference; Table 5's do not" ||
    fail "b. fine-tuned instances"

set_key "$A" 's/"sizes": {"default": \[60\]}},/"sizes": {"default": [50]}},/'
ninja > c.log 2>&1 || { fail "c. ninja"; tail c.log; }
got=$(stages_run c.log | tr '\n' ' ')
want="manifests/lock/04-train-sim-pllm.individual.ft.json manifests/lock/04-train-sim-pllm.vanilla.ft.json manifests/lock/05-safety-eval-sim-pllm.individual.json manifests/lock/05-safety-eval-sim-pllm.vanilla.json manifests/lock/06-reasoning-eval-sim-pllm.individual.json manifests/lock/06-reasoning-eval-sim-pllm.vanilla.json manifests/lock/08-report-figures.json "
[ "$got" = "$want" ] && ok "c. a tax size reruns its fine-tuned instances, rows and the report only" ||
    fail "c. reran: $got"

set_key "$A" 's/"sizes": {"default": \[50\]}},/"sizes": {"default": [50]}, "optimizer": {"lr": 0}},/'
ninja > c2.log 2>&1 || { fail "c2. ninja"; tail c2.log; }
for r in vanilla individual; do
    metrics manifests/lock/05-safety-eval-sim-pllm.$r.json > c2.05.$r.json
    metrics manifests/lock/06-reasoning-eval-sim-pllm.$r.json > c2.06.$r.json
done
python3 - <<'PY' && ok "c2. fine-tuned at lr 0: every change is 0" || fail "c2. lr 0"
import json
n = 0
for r in ["vanilla", "individual"]:
    for s in ["05", "06"]:
        for c, v in json.load(open(f"c2.{s}.{r}.json"))["categories"].items():
            if "change" in v:
                assert v["change"]["seeds"] == [0, 0] and v["change"]["mean"] == 0, (r, c, v)
                assert v["accuracy"] == v["reference"], (r, c)
                n += 1
assert n >= 4, n
PY

# d: a second XSTest set whose train part holds prompts of the evaluation part
set_key "$A" 's/"xstest": {"kind": "real", "source": "xstest", "test_fraction": 0.5},/&\n      "xstest-leak": {"kind": "real", "source": "xstest", "test_fraction": 0.1},/'
set_key "$A" 's/"evalsets": \["hep", "xstest"/"evalsets": ["hep", "xstest", "xstest-leak"/'
set_key "$A" 's/"pretrained_on": \["hh-harmless", "xstest", "hep"\]/"pretrained_on": ["hh-harmless", "xstest", "hep", "xstest-leak"]/'
lock=manifests/lock/05-safety-eval-sim-pllm.pretrained.json
before=$(sha256sum < "$lock")
ninja "$lock" > d.log 2>&1 && fail "d. ninja passed with a leak"
line=$(grep '^ppr-safety-eval:' d.log)
case "$line" in
    *'an evaluation prompt of "xstest'*'is in the training data of the reference'*)
        [ "$(grep -c '^ppr-safety-eval:' d.log)" = 1 ] && [ "$(sha256sum < "$lock")" = "$before" ] &&
            ok "d. leakage guard: $line" || fail "d. more than one error, or the lock changed" ;;
    *) fail "d. leakage guard: '$line'"; tail d.log ;;
esac
# f (in A, whose hep is fetched): the dataset artifact read by hand
# (common/prefs.h's layout), each row's prompt mapped to its task by the
# upstream files' "instruction" and "task_id".
cd "$A"
h=$(grep -o '"name":"dataset"[^}]*' manifests/lock/01-fetch-hep.json | grep -o '[0-9a-f]\{64\}')
tail -c +17 "artifacts/objects/${h:0:2}/${h:2}.zst" | zstd -dq > hep.prefs
python3 - hep.prefs "$PPR_MIRROR/rewardbench-hep" <<'PY' && ok "f. HumanEvalPack: every task on one side, in every language" ||
import glob, json, struct, sys
b = open(sys.argv[1], "rb").read()
assert b[:8] == b"PPRPREF1"
n_users, n_texts, n_rows, _ = struct.unpack_from("<4I", b, 8)
names_off, names_len, users_off, offs_off, blob_off, blob_len, hashes_off, rows_off = \
    struct.unpack_from("<8Q", b, 24)
offs = struct.unpack_from(f"<{n_texts + 1}Q", b, offs_off)
text = lambda t: b[blob_off + offs[t]:blob_off + offs[t + 1] - 1].decode()  # less its NUL
task = {}
for f in glob.glob(sys.argv[2] + "/humanevalpack-*.jsonl"):
    for line in open(f):
        o = json.loads(line)
        task[o["instruction"]] = o["task_id"].split("/")[1]
sides = {}
for i in range(n_rows):
    user, prompt, chosen, rejected, split = struct.unpack_from("<5I", b, rows_off + 24 * i)
    sides.setdefault(task[text(prompt)], set()).add(split)
assert len(sides) == 164, len(sides)
mixed = [t for t, s in sides.items() if len(s) > 1]
assert not mixed, mixed
test = sum(1 for s in sides.values() if s == {1})
assert 0 < test < 164, test
print(f"{test} tasks evaluated, {164 - test} trained on")
PY
    fail "f. HumanEvalPack tasks"

# e: the fixture tests/fixtures/hf/rewardbench as the mirror's RewardBench.
# filtered (official mapping): alpacaeval-easy 1 (chat), donotanswer 1
# (safety). raw under paper-code: alpacaeval-easy 2 (chat; mt-bench-med
# dropped), mt-bench-hard 1 + llmbar-natural 1 (chat-hard),
# xstest-should-respond 1 (safety; donotanswer dropped), math-prm 1 +
# hep-python 1 (reasoning).
B=$(fresh)
cd "$B"
M=$B/mirror
mkdir -p "$M/hf/allenai"
for f in "$PPR_MIRROR"/*; do ln -s "$f" "$M/"; done
cp -r "$ROOT/tests/fixtures/hf/rewardbench" "$M/hf/allenai/reward-bench"
set_key "$B" 's/"evalsets": \["hep", "xstest"/"evalsets": ["rewardbench", "rewardbench-paper-code", "hep", "xstest"/'
PPR_MIRROR=$M ninja manifests/lock/05-safety-eval-sim-pllm.vanilla.json \
    manifests/lock/06-reasoning-eval-sim-pllm.vanilla.json > e.log 2>&1 || { fail "e. ninja"; tail e.log; }
metrics manifests/lock/05-safety-eval-sim-pllm.vanilla.json > e5.json
metrics manifests/lock/06-reasoning-eval-sim-pllm.vanilla.json > e6.json
python3 - <<'PY' && ok "e. RewardBench: both mappings, counted by hand" ||
import json
m5, m6 = json.load(open("e5.json")), json.load(open("e6.json"))
def pairs(m, s, c):
    cat = m["rewardbench"][s]["categories"][c]
    return 0 if "unavailable" in cat else cat["pairs"]
assert m5["rewardbench"]["rewardbench"]["mapping"] == "official"
assert m5["rewardbench"]["rewardbench-paper-code"]["mapping"] == "paper-code"
want = {("rewardbench", "safety"): 1, ("rewardbench-paper-code", "safety"): 1,
        ("rewardbench", "chat"): 1, ("rewardbench-paper-code", "chat"): 2,
        ("rewardbench", "chat-hard"): 0, ("rewardbench-paper-code", "chat-hard"): 2,
        ("rewardbench", "reasoning"): 0, ("rewardbench-paper-code", "reasoning"): 2}
for (s, c), n in want.items():
    got = pairs(m5 if c == "safety" else m6, s, c)
    assert got == n, (s, c, got, n)
subs = m5["rewardbench"]["rewardbench-paper-code"]["categories"]["safety"]["subsets"]
assert set(subs) == {"xstest-should-respond"}, subs
assert m6["categories"]["chat"] == {"unavailable": "no evaluation pair of this category among \"evalsets\""}
PY
    { fail "e. RewardBench"; head -c 2000 e5.json; }
finish
