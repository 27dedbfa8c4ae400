#!/usr/bin/env bash
# run.sh: what `ninja test` runs: every CUnit binary, then the end-to-end
# scripts in tests/e2e/ and the fuzz replay of tests/fuzz/. Ends with one line
# "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
passed=0
failed=0
for t in build/tests/test_*; do
    echo "== $t"
    if "$t"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $t"; fi
done
for t in tests/e2e/test_*.sh tests/fuzz/test_*.sh; do
    echo "== $t"
    if bash "$t"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $t"; fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
