#!/usr/bin/env bash
# test_report.sh: the report, stage 08 (issue 14, in part: Tables 2-6 as
# Markdown, CSV and LaTeX), on the ci profile with k in {4, 30} so that Table 4 has
# a column the paper has:
# a. every CSV cell is the value of the metrics artifact it came from and of
#    manifests/paper.json, parsed back independently; every Markdown cell is
#    its CSV cell rounded; the LaTeX tables have their rows and values;
# b. a change to manifests/paper.json reruns the report and nothing else, and
#    the report shows the new value;
# c. a change to one method's settings reruns that method's instances and the
#    report, nothing else;
# d. figures/ deleted comes back from the store on the next ninja, the same
#    bytes;
# e. Figures 2-5 and the regimes scatter (Table 2) are well-formed SVG, shown by
#    report.md, and render to non-empty PNG images with rsvg-convert;
# g. the claims section names every claim of paper.json with a verdict, and two
#    verdicts agree with the rule recomputed from the CSV tables;
# h. the provenance section: every upstream lock and fetched file by its
#    checksum, and ppr's commit, which a new commit updates (the report only);
# f. figures/index.html, self-contained (the figures inlined, no other file
#    read), renders in headless Chromium with its 7 tables (6 and the
#    claims) and 5 figures, no console message, and a screenshot that is not
#    blank.
set -u
source "$(dirname "$0")/lib.bash"

A=$(fresh)
cd "$A"
set_key "$A" 's/"adapt": {"k": \[4, 8\]/"adapt": {"k": [4, 30]/'
ninja > run.log 2>&1 || { fail "ninja"; tail -20 run.log; }
for f in figures/report.md figures/tables/table{2,3,3-changes,4,5,6}.{csv,tex}; do
    [ -s "$f" ] || fail "a. $f is missing"
done
# the LaTeX: booktabs rules, a row per CSV row's table row, and every cell
# of the CSV that has a value printed there
python3 - <<'PY' && ok "a. the LaTeX tables: booktabs, every row and cell" || fail "a. LaTeX"
import csv
for t in ("table2", "table3", "table3-changes", "table4", "table5", "table6"):
    tex = open(f"figures/tables/{t}.tex").read()
    assert tex.count("\\toprule") == 1 and tex.count("\\midrule") == 1 and tex.count("\\bottomrule") == 1, t
    body = tex.split("\\midrule")[1].split("\\bottomrule")[0].strip().splitlines()
    rows = list(csv.DictReader(open(f"figures/tables/{t}.csv")))
    assert len(body) == len({r["row"] for r in rows}), t
    digits = 2 if t == "table2" else 3
    for r in rows:
        if r["ppr"]:
            assert f"{float(r['ppr']):.{digits}f}" in tex, (t, r)
PY
check() { # the tables against the artifacts and paper.json
    python3 - <<'PY'
import csv, json, math, statistics, subprocess
def output(node, name):  # None for an instance the config does not run
    try:
        lock = json.load(open(f"manifests/lock/{node}.json"))
    except FileNotFoundError:
        return None
    h = [o["sha256"] for o in lock["outputs"] if o["name"] == name][0]
    raw = open(f"artifacts/objects/{h[:2]}/{h[2:]}.zst", "rb").read()[16:]
    return json.loads(subprocess.run(["zstd", "-dq"], input=raw, capture_output=True).stdout)
metrics = lambda node: output(node, "metrics")
paper = json.load(open("manifests/paper.json"))["tables"]
def paper_value(table, key, col):
    for r in paper[table]["rows"]:
        if r["key"] == key:
            return r["values"].get(col)
pkey = lambda d: d[4:] if d.startswith("sim-") else d
METHODS = {"Pre-trained RM": "pretrained", "RAG": "rag", "Vanilla RM": "vanilla",
           "Conditional RM": "conditional", "Individual RM": "individual", "VPL": "vpl",
           "GPO": "gpo", "Personalized RM": "prm", "Personalized RM (beyond the paper)": "prm"}
T4 = {"Individual RM on each new user's pool (upper bound)": "upper", "Vanilla RM": "vanilla",
      "Retrieve Similar User RM": "similar", "Further Fine-tune Trained RM": "finetune",
      "GPO": "gpo", "PRM, new embedding (beyond the paper)": "prm",
      "VPL, k pairs as context (beyond the paper)": "vpl"}
T2 = {"#Samples (k)": ("rows", 1e-3, "samples_k"), "#Users": ("n_users", 1, "users"),
      "%Cont.": ("contested_rate", 100, "cont_pct"),
      "%Highly Cont.": ("highly_contested_rate", 100, "highly_cont_pct"),
      "MV-ACC min": ("mv_acc_min", 1, "mv_acc_min"), "MV-ACC max": ("mv_acc_max", 1, "mv_acc_max"),
      "Consistency": ("consistency", 1, "consistency"), "Room": ("room_labels", 1, "room")}
FALLBACK = {"consistency": "truth_consistency", "room_labels": "room_truth"}
T3 = {"ACC": ("05-safety-eval", None, "acc"), "Safety": ("05-safety-eval", "safety", "safety"),
      "Reasoning": ("06-reasoning-eval", "reasoning", "reasoning"),
      "Chat": ("06-reasoning-eval", "chat", "chat"),
      "Chat-Hard": ("06-reasoning-eval", "chat-hard", "chat_hard")}
T = {1: 12.706, 2: 4.303, 3: 3.182}
def expect(table, row, col):  # (ppr, ci95, paper) from the artifacts, by hand
    if table == "table2":
        field, scale, key = T2[col]
        m = output(f"02-characterize-{row}", "table2")
        v = m[field] if m[field] is not None or field not in FALLBACK else m[FALLBACK[field]]
        p = paper_value("table2", pkey(row), key) if pkey(row) in ("pllm", "tldr", "psoups") else None
        return (None if v is None else v * scale), None, p
    if table == "table3":
        d, _, label = col.rpartition(" ")
        if label == "Hard":
            d, label = d.rpartition(" ")[0], "Chat-Hard"
        stage, cat, key = T3[label]
        m = metrics(f"{stage}-{d}.{METHODS[row]}")
        e = None if m is None else m["personal"] if cat is None else m["categories"][cat].get("accuracy")
        p = paper_value("table3", METHODS[row], f"{pkey(d)}.{key}")
        return (e["mean"], e["ci95"], p) if e else (None, None, p)
    if table == "table3-changes":  # the metrics' paired change; the paper's difference
        d, _, label = col.partition(" ")
        stage, cat, key = T3[label]
        m = metrics(f"{stage}-{d}.{METHODS[row]}")
        e = m["categories"][cat].get("change") if m else None
        a, b = (paper_value("table3", k, f"{pkey(d)}.{key}") for k in (METHODS[row], "pretrained"))
        p = a - b if a is not None and b is not None else None
        return (e["mean"], e["ci95"], p) if e else (None, None, p)
    if table == "table4":
        d, _, k = col.partition(" k = ")
        s = [x for x in metrics(f"07-adapt-{d}.{T4[row]}")["summary"] if x["k"] == float(k)]
        p = paper_value("table4", T4[row], k) if pkey(d) == "pllm" else None
        return (s[0].get("mean"), s[0].get("ci95"), p) if s else (None, None, p)
    if table == "table5":
        d, _, z = col.partition(" ")
        key = METHODS[row]
        s = [x for x in metrics(f"04-train-{d}.{key}")["summary"]
             if x["size"] == (0 if key == "pretrained" else float(z))]
        p = paper_value("table5", key, f"{pkey(d)}.{z}") if pkey(d) in ("pllm", "tldr", "psoups") else None
        return (s[0]["mean"], s[0]["ci95"], p) if s else (None, None, p)
    if table == "table6":
        key = METHODS[row]
        m = metrics(f"04-train-sim-pllm.{key}")
        size = 0 if key == "pretrained" else 60  # the ci profile's one size
        acc = [u["accuracy"] for r in m["runs"] if r["size"] == size for u in r["users"]
               if u["name"] == col and "accuracy" in u]
        ci = T[len(acc) - 1] * statistics.stdev(acc) / math.sqrt(len(acc)) if len(acc) > 1 else None
        return (sum(acc) / len(acc) if acc else None), ci, paper_value("table6", key, col)
num = lambda s: float(s) if s != "" else None
close = lambda a, b, tol: (a is None and b is None) or (a is not None and b is not None and abs(a - b) <= tol)
n, with_paper = 0, 0
md = open("figures/report.md").read().splitlines()
for table in ("table2", "table3", "table3-changes", "table4", "table5", "table6"):
    digits = 2 if table == "table2" else 3
    for r in csv.DictReader(open(f"figures/tables/{table}.csv")):
        ppr, ci, p = expect(table, r["row"], r["column"])
        exact = table not in ("table2", "table6")  # recomputed there: rounding apart
        assert close(num(r["ppr"]), ppr, 0 if exact else 1e-12), (table, r, ppr)
        assert close(num(r["ppr_ci95"]), ci, 0 if exact else 1e-3), (table, r, ci)
        assert close(num(r["paper"]), p, 1e-12), (table, r, p)
        if p is not None and ppr is not None:
            assert abs(num(r["difference"]) - (ppr - p)) < 1e-9
            with_paper += 1
        if ppr is not None:  # the Markdown cell is the CSV's, rounded
            cell = f"{float(r['ppr']):.{digits}f}"
            if r["ppr_ci95"] != "":
                cell += f" ± {float(r['ppr_ci95']):.{digits}f}"
            if r["paper"] != "":
                cell += f" ({float(r['paper']):.2f}, {float(r['difference']):+.2f})"
            assert any(cell in l for l in md if l.startswith(f"| {r['row']} |")), (table, cell)
        n += 1
assert with_paper >= 20, with_paper
print(f"{n} cells, {with_paper} beside a paper value")
PY
}
check && ok "a. every cell is its artifact's and paper.json's value" || fail "a. cells"

# e. the figures: well-formed SVG documents that render to non-empty images
for f in figure2 figure3 figure4 figure5 regimes; do
    svg=figures/$f.svg
    grep -q "!\[[^]]*\]($f.svg)" figures/report.md || fail "e. report.md does not show $f"
    python3 -c "import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); assert r.tag.endswith('svg')" "$svg" ||
        { fail "e. $svg is not a well-formed SVG document"; continue; }
    if ! command -v rsvg-convert > /dev/null; then
        fail "e. rsvg-convert (Debian's librsvg2-bin) is not installed: $svg not rendered"
    elif rsvg-convert "$svg" -o "$f.png" && [ "$(stat -c %s "$f.png")" -gt 10000 ]; then
        ok "e. $f: well-formed SVG, rendered to a $(stat -c %s "$f.png")-byte PNG"
    else
        fail "e. $svg did not render"
    fi
done

# f. the HTML page in headless Chromium: no console message, and its
#    screenshot is no blank page (many times a blank page's PNG)
if ! command -v chromium > /dev/null; then
    fail "f. chromium (Debian's chromium) is not installed: figures/index.html not rendered"
else
    shot() { # PAGE PNG: a headless screenshot; the browser's log in PNG.log
        timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
            --user-data-dir="$A/chromium" --window-size=1400,2400 --enable-logging=stderr \
            --v=0 --screenshot="$2" "file://$1" > "$2.log" 2>&1
    }
    echo '<!DOCTYPE html><html><head><meta charset="utf-8"><title>blank</title></head><body></body></html>' > blank.html
    shot "$A/blank.html" blank.png
    shot "$A/figures/index.html" page.png
    tables=$(grep -c '<table id=' figures/index.html)
    svgs=$(grep -c '<svg' figures/index.html)
    [ -s page.png ] && [ "$(stat -c %s page.png)" -gt $((10 * $(stat -c %s blank.png))) ] &&
        ! grep -q 'CONSOLE' page.png.log && [ "$tables" -eq 7 ] && [ "$svgs" -eq 5 ] &&
        ok "f. index.html: $tables tables (6 and the claims) and $svgs inline figures, no console message, a $(stat -c %s page.png)-byte screenshot (blank: $(stat -c %s blank.png))" ||
        { fail "f. index.html in chromium"; grep CONSOLE page.png.log; ls -la page.png blank.png; }
    grep -q 'src=\|href=\|url([^#]' figures/index.html && fail "f. index.html refers to another file"
    python3 - <<'PY' || fail "f. index.html: an id defined twice"
import re, collections
ids = collections.Counter(re.findall(r' id="([^"]+)"', open("figures/index.html").read()))
dup = [i for i, n in ids.items() if n > 1]
assert not dup, dup[:5]
PY
fi

# g. the claims: every claim of paper.json has a line, with a verdict of the
#    three (or "no rule yet"); two verdicts recomputed from the CSV tables
python3 - <<'PY' && ok "g. claims: every one listed, two verdicts recomputed" || fail "g. claims"
import csv, json, re
md = open("figures/report.md").read()
section = md.split("## Claims")[1].split("## Provenance")[0]
lines = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([a-z0-9_]+)` \| .* \| \*\*([a-z ]+)\*\* \|", section, re.M)}
ids = [c["id"] for c in json.load(open("manifests/paper.json"))["claims"]]
assert list(lines) == ids, (list(lines), ids)
assert set(lines.values()) <= {"holds", "does not hold", "not measurable here", "no rule yet"}
rag = [abs(float(r["ppr"]) - 0.5) for r in csv.DictReader(open("figures/tables/table5.csv"))
       if r["row"] == "RAG" and r["ppr"]]
assert lines["rag_random"] == ("holds" if max(rag) <= 0.05 else "does not hold"), lines["rag_random"]
t4 = {(r["row"], r["column"]): float(r["ppr"]) for r in csv.DictReader(open("figures/tables/table4.csv")) if r["ppr"]}
d = [t4[("Retrieve Similar User RM", c)] - t4[("Vanilla RM", c)] for (row, c) in t4 if row == "Vanilla RM"]
assert lines["similar_marginal"] == ("holds" if all(abs(x) <= 0.02 for x in d) else "does not hold")
PY

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
sha=$(cat figures/report.md figures/index.html figures/tables/* figures/*.svg | sha256sum)
rm -rf figures
ninja > d.log 2>&1 || fail "d. ninja"
[ "$(cat figures/report.md figures/index.html figures/tables/* figures/*.svg | sha256sum)" = "$sha" ] &&
    [ "$(stages_run d.log)" = "manifests/lock/08-report-figures.json" ] &&
    grep -q '08-report figures: up to date' d.log &&
    ok "d. a deleted figures/ comes back, the same bytes, from the store, nothing recomputed" ||
    { fail "d. figures"; cat d.log; }

# h. provenance: every upstream lock by its SHA-256 and each fetched file by
#    its checksum, both recomputed here from the files themselves, and the
#    same runs in index.html's provenance, rendered as HTML tables; no commit
#    outside a git checkout, then a commit of the copy reruns the report only,
#    which names it
prov() {
    python3 - "$@" <<'PY'
import hashlib, json, os, re, sys
md = open("figures/report.md").read().split("## Provenance")[1]
want = sys.argv[1]
assert (f"ppr's commit `{want}`" if want else "ppr's commit: none") in md, want
section, artifacts = md.split("### Runs")[1].split("### Artifacts")
runs = dict(re.findall(r"^\| `([0-9][0-9]-[^`]+)` \| `([0-9a-f]{16})` \|", section, re.M))
html = open("figures/index.html").read().split("<h2>Provenance</h2>")[1]
html_runs = re.findall(r"<tr><td><code>([0-9][0-9]-[^<]+)</code></td><td><code>([0-9a-f]{16})</code></td>",
                       html.split("<h3>Runs</h3>")[1].split("<h3>Artifacts</h3>")[0])
assert "<pre>" not in html and html.count("<table>") == 3 and dict(html_runs) == runs, "index.html"
read = set(re.findall(r"^\| `([0-9][0-9]-[^`/]+)/", artifacts, re.M))
assert read and read <= set(runs) and len(runs) > len(read), (len(read), len(runs))
files = 0
for node in runs:
    path = f"manifests/lock/{node}.json"
    assert runs[node] == hashlib.sha256(open(path, "rb").read()).hexdigest()[:16], node
    if not node.startswith("01-fetch-"):
        continue
    origin = json.load(open(path))["config"]["origin"]
    row = re.search(rf"^\| `{node[9:]}` \| (simulated|real) \|.*$", md, re.M).group(0)
    for f in origin["files"]:
        data = open(os.path.join(os.environ["PPR_MIRROR"], origin["mirror"], f["path"]), "rb").read()
        assert f"`{f['path']}` {hashlib.sha256(data).hexdigest()[:16]}" in row, (node, f["path"])
        files += 1
print(f"{len(runs)} locks, {files} source files")
PY
}
prov "" > h.log && ok "h. outside git: no commit; $(cat h.log), each checksum recomputed" ||
    { fail "h. provenance"; cat h.log; }
# (a copy that becomes a git checkout after its slice was made is seen when
# the slice is next made: here by touching paper.json)
git init -q && git add -A && git -c user.name=t -c user.email=t@t commit -qm one &&
    touch manifests/paper.json && ninja > h1.log 2>&1 && prov "$(git rev-parse HEAD)" > /dev/null &&
    git -c user.name=t -c user.email=t@t commit -q --allow-empty -m two &&
    ninja > h2.log 2>&1 || fail "h. git commit and ninja"
[ "$(stages_run h2.log)" = "manifests/lock/08-report-figures.json" ] &&
    prov "$(git rev-parse HEAD)" > /dev/null &&
    ok "h. a new commit reruns the report only, which names it" ||
    { fail "h. after a commit, reran:"; stages_run h2.log; }
finish
