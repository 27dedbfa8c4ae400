#!/usr/bin/env bash
# test_report.sh: the report, stage 08 (issue 14, in part: Tables 4 and 5 as
# Markdown and CSV), on the ci profile with k in {4, 30} so that Table 4 has
# a column the paper has:
# a. every CSV cell is the value of the metrics artifact it came from and of
#    manifests/paper.json, parsed back independently; every Markdown cell is
#    its CSV cell rounded;
# b. a change to manifests/paper.json reruns the report and nothing else, and
#    the report shows the new value;
# c. a change to one method's settings reruns that method's instances and the
#    report, nothing else;
# d. figures/ deleted comes back from the store on the next ninja, the same
#    bytes.
set -u
source "$(dirname "$0")/lib.bash"

A=$(fresh)
cd "$A"
set_key "$A" 's/"adapt": {"k": \[4, 8\]/"adapt": {"k": [4, 30]/'
ninja > run.log 2>&1 || { fail "ninja"; tail -20 run.log; }
for f in figures/report.md figures/tables/table4.csv figures/tables/table5.csv; do
    [ -s "$f" ] || fail "a. $f is missing"
done
check() { # the tables against the artifacts and paper.json
    python3 - <<'PY'
import csv, glob, json, re, subprocess
def metrics(node):
    lock = json.load(open(f"manifests/lock/{node}.json"))
    h = [o["sha256"] for o in lock["outputs"] if o["name"] == "metrics"][0]
    raw = open(f"artifacts/objects/{h[:2]}/{h[2:]}.zst", "rb").read()[16:]
    return json.loads(subprocess.run(["zstd", "-dq"], input=raw, capture_output=True).stdout)
paper = json.load(open("manifests/paper.json"))["tables"]
def paper_value(table, key, col):
    for r in paper[table]["rows"]:
        if r["key"] == key:
            return r["values"].get(col)
T5 = {"Pre-trained RM": "pretrained", "RAG": "rag", "Vanilla RM": "vanilla",
      "Conditional RM": "conditional", "Individual RM": "individual", "VPL": "vpl",
      "GPO": "gpo", "Personalized RM": "prm"}
T4 = {"Individual RM on each new user's pool (upper bound)": "upper", "Vanilla RM": "vanilla",
      "Retrieve Similar User RM": "similar", "Further Fine-tune Trained RM": "finetune",
      "GPO": "gpo", "PRM, new embedding (beyond the paper)": "prm",
      "VPL, k pairs as context (beyond the paper)": "vpl"}
num = lambda s: float(s) if s != "" else None
n, with_paper = 0, 0
for table, rows in (("table4", T4), ("table5", T5)):
    for r in csv.DictReader(open(f"figures/tables/{table}.csv")):
        d, _, x = r["column"].partition(" k = ") if table == "table4" else r["column"].partition(" ")
        key = rows[r["row"]]
        m = metrics(f"07-adapt-{d}.{key}" if table == "table4" else f"04-train-{d}.{key}")
        field, at = ("k", float(x)) if table == "table4" else ("size", 0.0 if key == "pretrained" else float(x))
        s = [e for e in m["summary"] if e[field] == at]
        want = s[0]["mean"] if s and "mean" in s[0] else None
        assert num(r["ppr"]) == want, (table, r, want)
        if want is not None:
            assert num(r["ppr_ci95"]) == s[0].get("ci95"), (table, r)
        p = None
        if table == "table4" and d in ("sim-pllm", "pllm"):
            p = paper_value("table4", key, x)
        assert num(r["paper"]) == p, (table, r, p)
        if p is not None and want is not None:
            assert abs(num(r["difference"]) - (want - p)) < 1e-12
            with_paper += 1
        n += 1
assert with_paper >= 5, with_paper
# the Markdown: each table's cells are the CSV's, rounded
md = open("figures/report.md").read()
for table in ("table4", "table5"):
    rows = list(csv.DictReader(open(f"figures/tables/{table}.csv")))
    for r in rows:
        line = [l for l in md.splitlines() if l.startswith(f"| {r['row']} |")]
        assert line, r["row"]
    for r in rows:
        if r["ppr"] == "":
            continue
        cell = f"{float(r['ppr']):.3f} ± {float(r['ppr_ci95']):.3f}"
        if r["paper"] != "":
            cell += f" ({float(r['paper']):.2f}, {float(r['difference']):+.2f})"
        assert any(cell in l for l in md.splitlines() if l.startswith(f"| {r['row']} |")), (table, cell)
print(f"{n} cells, {with_paper} beside a paper value")
PY
}
check && ok "a. every cell is its artifact's and paper.json's value" || fail "a. cells"

# b. paper.json: the report only
sed -i '0,/"30": 0.83/s//"30": 0.93/' manifests/paper.json
ninja > b.log 2>&1 || fail "b. ninja"
[ "$(stages_run b.log)" = "manifests/lock/08-report-figures.json" ] &&
    grep -q '"GPO","sim-pllm k = 30",[0-9.e-]*,[0-9.e-]*,0.93' figures/tables/table4.csv &&
    check > /dev/null && ok "b. a paper value reruns the report only, which shows it" ||
    { fail "b. reran:"; stages_run b.log; grep GPO figures/tables/table4.csv; }

# c. one method's settings: its instances and the report
set_key "$A" 's/"rag": {"k": 3}/"rag": {"k": 5}/'
ninja > c.log 2>&1 || fail "c. ninja"
want=$( (ls manifests/lock/04-train-*.rag.json; echo manifests/lock/08-report-figures.json) | sort)
[ "$(stages_run c.log)" = "$want" ] && check > /dev/null &&
    ok "c. a RAG setting reruns the RAG instances and the report only" ||
    { fail "c. reran:"; stages_run c.log; }

# d. figures/ deleted
sha=$(cat figures/report.md figures/tables/*.csv | sha256sum)
rm -rf figures
ninja > d.log 2>&1 || fail "d. ninja"
[ "$(cat figures/report.md figures/tables/*.csv | sha256sum)" = "$sha" ] &&
    [ "$(stages_run d.log)" = "manifests/lock/08-report-figures.json" ] &&
    grep -q '08-report figures: up to date' d.log &&
    ok "d. a deleted figures/ comes back, the same bytes, from the store, nothing recomputed" ||
    { fail "d. figures"; cat d.log; }
finish
