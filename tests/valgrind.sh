#!/usr/bin/env bash
# valgrind.sh: every CUnit test binary under valgrind's memcheck: invalid
# reads and writes, uses of uninitialised values, bad frees, and definite or
# indirect leaks are errors. Builds the tests first (`ninja` targets), runs
# each from the checkout root as `ninja test` does, prints one line per
# binary and a summary; exits 1 when a binary has errors, 3 when none has
# but one did not finish within the time limit, 0 when every one is clean.
set -u
cd "$(dirname "$0")/.."
ninja $(sed -n 's/^build \(build\/tests\/[a-z_]*\): link.*/\1/p' build.ninja) > /dev/null ||
    { echo "valgrind.sh: the build failed"; exit 2; }
export PPR_MIRROR=${PPR_MIRROR:-$(cd .. && pwd)/shared/data}
log=$(mktemp /tmp/ppr-valgrind-XXXXXX)
bad=0
# A binary that memcheck has not finished within the limit (test_gpo's
# meta-training is OpenBLAS-heavy: over 25 minutes) is said so and counted
# apart, never as clean. memcheck may not act on SIGTERM inside a long
# computation, so SIGKILL follows 10 s later.
limit=${PPR_VALGRIND_LIMIT:-900}
unfinished=0
for t in build/tests/test_*; do
    timeout --kill-after=10 "$limit" valgrind -q --error-exitcode=99 --leak-check=full \
        --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect "$t" \
        > "$log" 2>&1
    rc=$?
    errors=$(grep -c '^==[0-9]*== [A-Z]' "$log")
    if [ $rc -eq 0 ]; then
        echo "valgrind: $t: 0 errors"
    elif { [ $rc -eq 124 ] || [ $rc -eq 137 ]; } && [ "$errors" -eq 0 ]; then
        unfinished=$((unfinished + 1))
        echo "valgrind: $t: not finished within $limit s (PPR_VALGRIND_LIMIT), no error before; not counted as clean"
    else
        bad=$((bad + 1))
        echo "valgrind: $t: exit $rc, $errors error lines"
        grep '^==[0-9]*==' "$log" | head -30
    fi
done
rm -f "$log"
echo "valgrind: $bad of $(ls build/tests/test_* | wc -l) test binaries with errors, $unfinished not finished"
[ "$bad" -eq 0 ] || exit 1
[ "$unfinished" -eq 0 ] || exit 3
