#!/usr/bin/env bash
# results.sh: the committed snapshot of a report (results/<profile>/) and the
# generated blocks of REPRODUCE.md, so that no result number in it is typed by
# hand (docs/report.md, "Results in REPRODUCE.md").
#
#   tools/results.sh save [DIR]  copy DIR's figures/ (default: this checkout's),
#                                made by stage 08 at any profile, to
#                                results/<its profile>/, then rewrite every
#                                generated block of REPRODUCE.md from it
#   tools/results.sh check       every generated block of REPRODUCE.md is its
#                                snapshot's section, and every snapshot was
#                                made from today's manifests/paper.json
#
# A block is the lines between
#   <!-- results/<profile>/report.md: <section> (generated ...) -->
#   <!-- end <section> -->
# where <section> is table2 ... table6, table3-changes, claims or figures: the body of that
# section of the snapshot's report.md (its heading left out, its figure links
# made relative to the repository). Exit 1 when check finds a difference, 2
# on bad input.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
REPRO=$ROOT/REPRODUCE.md

die() { echo "results.sh: $*" >&2; exit 2; }

# heading SECTION: the heading that opens SECTION in a report.md.
heading() {
    case $1 in
    table[2-6]) echo "## Table ${1#table}:" ;;
    table3-changes) echo "## Table 3, changes:" ;;
    claims) echo "## Claims" ;;
    figures) echo "## Figures" ;;
    *) die "unknown section \"$1\" in '$REPRO'" ;;
    esac
}

# section PROFILE SECTION: that section's body from results/PROFILE/report.md,
# without its heading and blank edges, figure links rewritten to the snapshot.
section() {
    local md=$ROOT/results/$1/report.md h
    [ -f "$md" ] || die "'$md' does not exist (run tools/results.sh save)"
    h=$(heading "$2") || exit 2
    awk -v h="$h" 'index($0, h) == 1 { on = 1; next } on && /^## / { exit } on' "$md" |
        sed -E "s#\]\(([a-z0-9-]+\.svg)\)#](results/$1/\1)#g" |
        sed -e '/./,$!d' | tac | sed -e '/./,$!d' | tac
}

# render: REPRODUCE.md with every block's body replaced by its section.
render() {
    local line profile sec in=0
    while IFS= read -r line || [ -n "$line" ]; do
        if [ $in = 0 ] && [[ $line =~ ^\<!--\ results/([a-z]+)/report.md:\ ([a-z0-9-]+)\  ]]; then
            profile=${BASH_REMATCH[1]}
            sec=${BASH_REMATCH[2]}
            printf '%s\n' "$line"
            section "$profile" "$sec" || exit 2
            in=1
        elif [ $in = 1 ]; then
            if [ "$line" = "<!-- end $sec -->" ]; then
                printf '%s\n' "$line"
                in=0
            fi
        else
            printf '%s\n' "$line"
        fi
    done < "$REPRO"
    [ $in = 0 ] || die "'$REPRO': block \"$sec\" has no end line"
}

save() {
    local from=${1:-$ROOT} md profile out
    md=$from/figures/report.md
    [ -f "$md" ] || die "'$md' does not exist (run ninja there first)"
    profile=$(grep -o '^Profile `[a-z]*`' "$md" | tr -d '`' | cut -d' ' -f2)
    [ -n "$profile" ] || die "'$md' names no profile in its provenance"
    out=$ROOT/results/$profile
    rm -rf "$out.tmp"
    mkdir -p "$out.tmp/tables"
    cp "$from"/figures/report.md "$from"/figures/*.svg "$out.tmp/"
    cp "$from"/figures/tables/* "$out.tmp/tables/"
    [ ! -f "$from/figures/performance.md" ] || cp "$from/figures/performance.md" "$out.tmp/"
    rm -rf "$out"
    mv "$out.tmp" "$out"
    render > "$REPRO.tmp" && mv "$REPRO.tmp" "$REPRO"
    echo "results/$profile: $(ls "$out" | wc -l) files from $from; REPRODUCE.md rewritten"
}

check() {
    local bad=0 md want have
    want=$(sha256sum "$ROOT/manifests/paper.json" | cut -c1-64)
    for md in "$ROOT"/results/*/report.md; do
        [ -f "$md" ] || continue
        have=$(grep -o 'manifests/paper.json` SHA-256 `[0-9a-f]*' "$md" | grep -o '[0-9a-f]*$')
        [ "$have" = "$want" ] ||
            { echo "${md#"$ROOT"/} was made from another manifests/paper.json ($have): run the report and tools/results.sh save"; bad=1; }
    done
    if ! render | diff -u "$REPRO" - > /dev/null; then
        echo "REPRODUCE.md's generated blocks differ from results/ (tools/results.sh save rewrites them):"
        render | diff -u "$REPRO" - | head -20
        bad=1
    fi
    grep -c '^<!-- results/' "$REPRO" | xargs -I{} echo "{} generated blocks checked"
    return $bad
}

case ${1:-} in
save) save "${2:-}" ;;
check) check ;;
*) die "usage: tools/results.sh save [DIR] | check" ;;
esac
