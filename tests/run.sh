#!/usr/bin/env bash
# run.sh: what `ninja test` runs: every CUnit binary, then the end-to-end
# scripts in tests/e2e/ and the fuzz replay of tests/fuzz/, PPR_TEST_JOBS (2)
# of those at a time: each works in temporary copies of its own and serves on
# a port the system picks, so they do not share state. Each test's output is
# printed whole, in order, after "== <test>". A script that exits 77 could not
# run here (it says why on one line) and counts as skipped, never as passed.
# Ends with one line "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/.."
passed=0
failed=0
skipped=0
for t in build/tests/test_*; do
    echo "== $t"
    if "$t"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $t"; fi
done
logs=$(mktemp -d /tmp/ppr-tests-XXXXXX)
trap 'rm -rf "$logs"' EXIT
scripts=(tests/e2e/test_*.sh tests/fuzz/test_*.sh)
jobs=${PPR_TEST_JOBS:-2}
for i in "${!scripts[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
        wait -n
    done
    (bash "${scripts[$i]}" > "$logs/$i" 2>&1; echo $? > "$logs/$i.rc") &
done
wait
for i in "${!scripts[@]}"; do
    t=${scripts[$i]}
    echo "== $t"
    cat "$logs/$i"
    rc=$(cat "$logs/$i.rc" 2> /dev/null)
    if [ "$rc" = 0 ]; then
        passed=$((passed + 1))
    elif [ "$rc" = 77 ]; then
        skipped=$((skipped + 1))
        echo "SKIPPED: $t"
    else
        failed=$((failed + 1))
        echo "FAILED: $t"
    fi
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
