#!/usr/bin/env bash
# test_results.sh: the committed results (results/<profile>/, made by stage 08
# and saved by tools/results.sh) and REPRODUCE.md's generated blocks. No
# pipeline run:
# a. every generated block of REPRODUCE.md is its snapshot's section, and
#    every snapshot was made from today's manifests/paper.json;
# b. each block's table cells agree with the snapshot's CSV, recomputed here:
#    every CSV cell with a paper value appears in the block as ppr's value
#    rounded, then the paper's;
# c. in a copy: a number edited inside a block, or a changed paper.json, makes
#    the check fail; `save` from a figures/ directory rewrites the block.
set -u
source "$(dirname "$0")/lib.bash"

C=$(mktemp -d /tmp/ppr-results-XXXXXX)
echo "$C" >> "$FRESH_LIST"
cd "$C"
"$ROOT/tools/results.sh" check > a.log 2>&1 && ok "a. $(tail -1 a.log), each its snapshot's" ||
    { fail "a. tools/results.sh check"; cat a.log; }

python3 - "$ROOT" <<'PY' > b.log 2>&1 && ok "b. $(cat b.log)" || { fail "b. blocks against the CSV"; cat b.log; }
import csv, re, sys
root = sys.argv[1]
md = open(f"{root}/REPRODUCE.md").read()
n = 0
for profile, table, body in re.findall(r"<!-- results/([a-z]+)/report.md: (table[2-6]|table3-changes) .*?-->\n(.*?)<!-- end \2 -->", md, re.S):
    digits = 2 if table == "table2" else 3
    lines = body.splitlines()
    for r in csv.DictReader(open(f"{root}/results/{profile}/tables/{table}.csv")):
        if not r["ppr"] or not r["paper"]:
            continue
        row = [l for l in lines if l.startswith(f"| {r['row']} |")]
        assert len(row) == 1, (table, r["row"])
        cell = f"{float(r['ppr']):.{digits}f}"
        assert cell in row[0] and f"({float(r['paper']):.2f}," in row[0], (table, r["row"], r["column"], cell)
        n += 1
assert n >= 50, n
print(f"{n} cells with a paper value found in REPRODUCE.md's blocks as in the CSV")
PY

# c. a copy with one block edited, then paper.json changed
mkdir -p "$C/tools" "$C/manifests"
cp -r "$ROOT/results" "$C/"
cp "$ROOT/tools/results.sh" "$C/tools/"
cp "$ROOT/manifests/paper.json" "$C/manifests/"
cp "$ROOT/REPRODUCE.md" "$C/"
block=$(grep -m1 -n '^<!-- results/[a-z]*/report.md: table5 ' "$C/REPRODUCE.md" | cut -d: -f1)
line=$(awk -v b="$block" 'NR > b && /^\| .*[0-9]\.[0-9][0-9][0-9]/ { print NR; exit }' "$C/REPRODUCE.md")
sed -i "${line}s/\([0-9]\)\.\([0-9][0-9][0-9]\)/\1.9\2/" "$C/REPRODUCE.md"
"$C/tools/results.sh" check > c1.log 2>&1
[ $? = 1 ] && grep -q "differ" c1.log && ok "c. a number edited in a block fails the check" ||
    { fail "c. an edited block passed"; cat c1.log; }
mkdir -p "$C/figures/tables"
profile=$(ls "$ROOT/results" | head -1)
cp "$ROOT/results/$profile/report.md" "$ROOT/results/$profile"/*.svg "$C/figures/"
cp "$ROOT/results/$profile/tables/"* "$C/figures/tables/"
tools/results.sh save > c2.log 2>&1 && "$C/tools/results.sh" check > c3.log 2>&1 &&
    cmp -s "$C/REPRODUCE.md" "$ROOT/REPRODUCE.md" && ok "c. save rewrites the block as it was" ||
    { fail "c. save"; cat c2.log c3.log; }
sed -i '0,/"30": 0.83/s//"30": 0.93/' "$C/manifests/paper.json"
"$C/tools/results.sh" check > c4.log 2>&1
[ $? = 1 ] && grep -q "another manifests/paper.json" c4.log &&
    ok "c. a changed paper.json fails the check until the report is saved again" ||
    { fail "c. a changed paper.json passed"; cat c4.log; }
finish
