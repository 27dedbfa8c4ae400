#!/usr/bin/env bash
# test_paper_json.sh: manifests/paper.json, the published numbers of Dong et al.
# 2025 (arXiv 2502.19158 v1) the report stage compares ppr's results against,
# checked against paper.md ($PPR_MIRROR/../docs/paper.md), the reference it was
# typed in from. No build and no pipeline run:
# a. paper.json parses; every table (2-6) has columns and a non-empty rows list;
#    every row has its label, key and one value (a number or null) per column;
#    Table 5 is 8 rows x 9 values; Table 3 has as many values per row as
#    paper.md's Table 3 has result columns; each table's row labels are
#    paper.md's, in its order; claims have unique ids;
# b. hand-typed expectations below (row label and column header as paper.md
#    writes them, the cell text, and where the value sits in paper.json): each
#    is checked both in paper.md's markdown table, found by its heading line,
#    and in paper.json, so neither file is read to make the expectations;
# c. three headline claims and two Table 4 findings: the phrase in paper.md,
#    and the claim's text and value in paper.json;
# d. every cell of Tables 3-6 in paper.md, through a hand-typed map of its
#    row labels and column headers to paper.json's keys, is paper.json's value.
# A missing paper.md is a failure, not a pass: then only paper.json is checked.
set -u
source "$(dirname "$0")/lib.bash"

PAPER_MD="$PPR_MIRROR/../docs/paper.md"
PAPER_JSON="$ROOT/manifests/paper.json"
if [ ! -f "$PAPER_MD" ]; then
    fail "paper.md not found at $PAPER_MD (PPR_MIRROR=$PPR_MIRROR): paper.json cannot be checked against the paper"
    PAPER_MD=
fi

# table heading | row label | column header | cell text in paper.md | paper.json table | row key | column | value
export EXPECT_VALUES='Table 2: | P-SOUPS | #Samples | 53k | table2 | psoups | samples_k | 53
Table 2: | TL;DR | #Users | 5 | table2 | tldr | users | 5
Table 2: | Personal-LLM | %Cont. | 87% | table2 | pllm | cont_pct | 87
Table 2: | P-SOUPS | %Highly Cont. | 98% | table2 | psoups | highly_cont_pct | 98
Table 2: | Personal-LLM | MV-ACC Range | [0.33–0.93] | table2 | pllm | mv_acc_min | 0.33
Table 2: | Personal-LLM | MV-ACC Range | [0.33–0.93] | table2 | pllm | mv_acc_max | 0.93
Table 2: | TL;DR | Consistency | ? (printed literally as "?") | table2 | tldr | consistency | null
Table 2: | Personal-LLM | Consistency | 1 | table2 | pllm | consistency | 1
Table 3: | Pre-trained RM | PLLM Safety | 0.92 | table3 | pretrained | pllm.safety | 0.92
Table 3: | Vanilla RM | PLLM ACC | 0.73 | table3 | vanilla | pllm.acc | 0.73
Table 3: | Vanilla RM | P-SOUPS Safety | 0.70 | table3 | vanilla | psoups.safety | 0.70
Table 3: | Conditional RM | P-SOUPS Reason. | 0.54 | table3 | conditional | psoups.reasoning | 0.54
Table 3: | Conditional RM | TL;DR ACC | 0.66 | table3 | conditional | tldr.acc | 0.66
Table 3: | Individual RM | TL;DR Chat-H | 0.62 | table3 | individual | tldr.chat_hard | 0.62
Table 3: | Individual RM | P-SOUPS Chat | 0.76 | table3 | individual | psoups.chat | 0.76
Table 4: | Individual RM (with full dataset), the upper bound | 30 | 0.85 | table4 | upper | 30 | 0.85
Table 4: | Vanilla RM | 100 | 0.74 | table4 | vanilla | 100 | 0.74
Table 4: | Retrieve Similar User RM | 300 | 0.75 | table4 | similar | 300 | 0.75
Table 4: | Further Fine-tune Trained RM | 100 | 0.73 | table4 | finetune | 100 | 0.73
Table 4: | GPO | 30 | 0.83 | table4 | gpo | 30 | 0.83
Table 5: | Personalized RM | P-SOUPS 50,000 | 0.86 | table5 | prm | psoups.50000 | 0.86
Table 5: | Conditional RM | P-SOUPS 50,000 | 0.50 | table5 | conditional | psoups.50000 | 0.50
Table 5: | Personalized RM | TL;DR 35,000 | 0.68 | table5 | prm | tldr.35000 | 0.68
Table 5: | Individual RM | TL;DR 35,000 | 0.62 | table5 | individual | tldr.35000 | 0.62
Table 5: | Individual RM | PLLM 100,000 | 0.86 | table5 | individual | pllm.100000 | 0.86
Table 5: | RAG | PLLM 10,000 | 0.49 | table5 | rag | pllm.10000 | 0.49
Table 5: | VPL | P-SOUPS 1,000 | 0.57 | table5 | vpl | psoups.1000 | 0.57
Table 5: | GPO | TL;DR 1,000 | 0.50 | table5 | gpo | tldr.1000 | 0.50
Table 5: | Pre-trained RM | TL;DR 10,000 | 0.65 | table5 | pretrained | tldr.10000 | 0.65
Table 6: | Pre-trained RM | U8 (minority) | _0.40_ | table6 | pretrained | U8 | 0.40
Table 6: | RAG | U6 | _0.33_ | table6 | rag | U6 | 0.33
Table 6: | GPO | U2 | _0.46_ | table6 | gpo | U2 | 0.46
Table 6: | Individual RM | U8 (minority) | 0.71 | table6 | individual | U8 | 0.71
Table 6: | Personalized RM | U6 | 0.95 | table6 | prm | U6 | 0.95
Table 6: | VPL | U7 | 0.58 | table6 | vpl | U7 | 0.58
Table 6: | Conditional RM | U1 | 0.84 | table6 | conditional | U1 | 0.84'

# claim id | phrase in paper.md | phrase in the claim's text | value
export EXPECT_CLAIMS='spread_36 | could reach **36%** when users strongly disagree | 36% | 0.36
prm_over_individual_6 | achieve up to **6%** improvement over | 6% | 0.06
safety_loss_20 | introduce up to **20%** safety | 20% safety misalignment | 0.20
gpo_new_users | approaching the upper bound … with just 30-300 samples | 30-300 | null
similar_marginal | The Similar-User RM performs only marginally better than Vanilla RM. | only marginally better than Vanilla RM | null'

out=$(mktemp /tmp/ppr-paper-json-XXXXXX)
TMPS+=("$out")
python3 - "$PAPER_JSON" "$PAPER_MD" > "$out" 2>&1 <<'PY'
import json, os, sys
json_path, md_path = sys.argv[1], sys.argv[2]
def say(good, msg): print(("OK " if good else "FAIL ") + msg)

md = open(md_path, encoding="utf-8").read() if md_path else None
def md_table(heading):
    """paper.md's markdown table under the one heading line holding `heading`:
    (header cells, {row label: cells}, row labels in order)."""
    lines = md.splitlines()
    at = [i for i, l in enumerate(lines) if l.startswith("#") and heading in l]
    if len(at) != 1:
        raise ValueError(f"{len(at)} heading lines hold {heading!r}")
    i = at[0] + 1
    while i < len(lines) and not lines[i].startswith("|"):
        if lines[i].startswith("#"):
            raise ValueError(f"no table under {heading!r}")
        i += 1
    cells = []
    while i < len(lines) and lines[i].startswith("|"):
        cells.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
        i += 1
    header, body = cells[0], cells[2:]  # cells[1] is the |---| line
    return header, {r[0]: r for r in body}, [r[0] for r in body]

try:
    P = json.load(open(json_path, encoding="utf-8"))
except Exception as e:
    say(False, f"a. {json_path} does not parse: {e}")
    sys.exit(0)
say(True, "a. paper.json parses")

def is_num(v): return isinstance(v, (int, float)) and not isinstance(v, bool)

# a. shape
T = P.get("tables", {})
problems = []
for name in ["table2", "table3", "table4", "table5", "table6"]:
    t = T.get(name)
    if not isinstance(t, dict):
        problems.append(f"{name} missing"); continue
    cols, rows = t.get("columns"), t.get("rows")
    if not cols or not isinstance(cols, list): problems.append(f"{name}: no columns")
    if not rows or not isinstance(rows, list): problems.append(f"{name}: no rows"); continue
    if not t.get("caption") or not t.get("source"): problems.append(f"{name}: no caption or source")
    keys = [r.get("key") for r in rows]
    if len(set(keys)) != len(keys): problems.append(f"{name}: repeated keys {keys}")
    for r in rows:
        if not r.get("key") or not r.get("row") or not isinstance(r.get("values"), dict):
            problems.append(f"{name}: row without row/key/values: {r}"); continue
        if list(r["values"]) != cols:
            problems.append(f"{name}.{r['key']}: values {list(r['values'])} are not the columns {cols}")
        bad = [k for k, v in r["values"].items() if v is not None and not is_num(v)]
        if bad: problems.append(f"{name}.{r['key']}: not a number or null: {bad}")
say(not problems, "a. tables 2-6: columns, non-empty rows, each with row, key and a number or null per column"
    + ("" if not problems else ": " + "; ".join(problems)))

t5 = T.get("table5", {}).get("rows", [])
n5 = sorted({len(r.get("values", {})) for r in t5})
say(len(t5) == 8 and n5 == [9], f"a. table5 is {len(t5)} rows x {n5} values (want 8 x 9)")

claims = P.get("claims", [])
ids = [c.get("id") for c in claims]
say(bool(claims) and len(set(ids)) == len(ids) and all(c.get("text") and c.get("source") and "value" in c
                                                        for c in claims),
    f"a. {len(claims)} claims, unique ids, each with text, source and value")

if md is not None:
    try:
        h3, _, _ = md_table("Table 3:")
        n3 = len(h3) - 1  # less the Method column
        counts = sorted({len(r.get("values", {})) for r in T.get("table3", {}).get("rows", [])})
        say(counts == [n3] and len(T["table3"]["columns"]) == n3,
            f"a. table3: {counts} values per row, paper.md's Table 3 has {n3} result columns")
    except Exception as e:
        say(False, f"a. table3 column count: {e!r}")
    for name, heading in [("table2", "Table 2:"), ("table3", "Table 3:"), ("table4", "Table 4:"),
                          ("table5", "Table 5:"), ("table6", "Table 6:")]:
        try:
            _, _, labels = md_table(heading)
            got = [r.get("row") for r in T.get(name, {}).get("rows", [])]
            say(got == labels, f"a. {name}: {len(labels)} rows, paper.md's labels in order" if got == labels
                else f"a. {name}: row labels {got} are not paper.md's {labels}")
        except Exception as e:
            say(False, f"a. {name} row labels: {e!r}")

# b. values
def json_cell(table, key, col):
    rows = [r for r in T.get(table, {}).get("rows", []) if r.get("key") == key]
    if len(rows) != 1: raise KeyError(f"{len(rows)} rows with key {key!r} in {table}")
    if col not in rows[0].get("values", {}): raise KeyError(f"no column {col!r} in {table}.{key}")
    return rows[0]["values"][col]

n = 0
for line in os.environ["EXPECT_VALUES"].splitlines():
    heading, label, header, cell, table, key, col, want = [f.strip() for f in line.split(" | ")]
    want = None if want == "null" else float(want)
    n += 1
    where = f"b. {heading[:-1]} [{label}][{header}]"
    errs = []
    if md is not None:
        try:
            h, body, _ = md_table(heading)
            if header not in h: errs.append(f"paper.md: no column {header!r} in {h}")
            elif label not in body: errs.append(f"paper.md: no row {label!r}")
            elif body[label][h.index(header)] != cell:
                errs.append(f"paper.md has {body[label][h.index(header)]!r}, expected {cell!r}")
        except Exception as e:
            errs.append(f"paper.md: {e!r}")
    try:
        got = json_cell(table, key, col)
        if want is None:
            if got is not None: errs.append(f"paper.json {table}.{key}.{col} = {got!r}, expected null")
        elif not is_num(got) or got != want:
            errs.append(f"paper.json {table}.{key}.{col} = {got!r}, expected {want!r}")
    except Exception as e:
        errs.append(f"paper.json: {e!r}")
    say(not errs, f"{where} = {cell}: " + ("; ".join(errs) if errs else
        ("paper.md and " if md is not None else "") + f"paper.json {table}.{key}.{col} agree"))

# c. claims
for line in os.environ["EXPECT_CLAIMS"].splitlines():
    cid, md_phrase, text_phrase, want = [f.strip() for f in line.split(" | ")]
    want = None if want == "null" else float(want)
    errs = []
    if md is not None and md_phrase not in " ".join(md.split()):
        errs.append(f"paper.md does not say {md_phrase!r}")
    c = [c for c in claims if c.get("id") == cid]
    if len(c) != 1:
        errs.append(f"{len(c)} claims with id {cid!r} in paper.json")
    else:
        c = c[0]
        if text_phrase not in c.get("text", ""): errs.append(f"its text lacks {text_phrase!r}")
        v = c.get("value")
        if (want is None and v is not None) or (want is not None and (not is_num(v) or v != want)):
            errs.append(f"value {v!r}, expected {want!r}")
    say(not errs, f"c. claim {cid}: " + ("; ".join(errs) if errs else f"{md_phrase!r}, value {want}"))
# d. every cell of Tables 3-6: paper.md's header and row label, mapped by hand
# to paper.json's column and key, hold the same number (underscores dropped)
KEY = {"Pre-trained RM": "pretrained", "RAG": "rag", "Vanilla RM": "vanilla", "Conditional RM": "conditional",
       "Individual RM": "individual", "VPL": "vpl", "GPO": "gpo", "Personalized RM": "prm",
       "Individual RM (with full dataset), the upper bound": "upper", "Retrieve Similar User RM": "similar",
       "Further Fine-tune Trained RM": "finetune"}
DS = {"PLLM": "pllm", "TL;DR": "tldr", "P-SOUPS": "psoups"}
CAT = {"ACC": "acc", "Safety": "safety", "Reason.": "reasoning", "Chat": "chat", "Chat-H": "chat_hard"}
COL = {"Table 3:": lambda h: DS[h.rsplit(" ", 1)[0]] + "." + CAT[h.rsplit(" ", 1)[1]],
       "Table 4:": lambda h: h,
       "Table 5:": lambda h: DS[h.rsplit(" ", 1)[0]] + "." + h.rsplit(" ", 1)[1].replace(",", ""),
       "Table 6:": lambda h: h.split()[0]}
for heading, col_of in COL.items() if md is not None else []:
    table = "table" + heading[6]
    errs, cells = [], 0
    try:
        h, body, labels = md_table(heading)
        for label in labels:
            for j, header in enumerate(h[1:], 1):
                cells += 1
                want = float(body[label][j].strip("_"))
                try:
                    got = json_cell(table, KEY[label], col_of(header))
                    if not is_num(got) or got != want:
                        errs.append(f"[{label}][{header}] paper.md {body[label][j]}, paper.json {got!r}")
                except Exception as e:
                    errs.append(f"[{label}][{header}] {e!r}")
    except Exception as e:
        errs.append(repr(e))
    say(not errs, f"d. {heading[:-1]}: " + ("; ".join(errs[:5]) if errs else
        f"all {cells} cells of paper.md are paper.json's"))
print(f"INFO {n} hand-typed values checked")
PY
rc=$?
while IFS= read -r line; do
    case $line in
        "OK "*) ok "${line#OK }" ;;
        "FAIL "*) fail "${line#FAIL }" ;;
        "INFO "*) echo "${line#INFO }" ;;
        *) echo "$line" ;;
    esac
done < "$out"
[ "$rc" -eq 0 ] || fail "the checker exited $rc"
finish
