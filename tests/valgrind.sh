#!/usr/bin/env bash
# valgrind.sh: every CUnit test binary under valgrind's memcheck: invalid
# reads and writes, uses of uninitialised values, bad frees, and definite or
# indirect leaks are errors. Builds the tests first (`ninja` targets), runs
# each from the checkout root as `ninja test` does, prints one line per
# binary and a summary; exits 1 unless every binary ends with zero errors.
set -u
cd "$(dirname "$0")/.."
ninja $(sed -n 's/^build \(build\/tests\/[a-z_]*\): link.*/\1/p' build.ninja) > /dev/null ||
    { echo "valgrind.sh: the build failed"; exit 2; }
export PPR_MIRROR=${PPR_MIRROR:-$(cd .. && pwd)/shared/data}
log=$(mktemp /tmp/ppr-valgrind-XXXXXX)
bad=0
for t in build/tests/test_*; do
    valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
        --show-leak-kinds=definite,indirect "$t" > "$log" 2>&1
    rc=$?
    errors=$(grep -c '^==[0-9]*== [A-Z]' "$log")
    if [ $rc -eq 0 ]; then
        echo "valgrind: $t: 0 errors"
    else
        bad=$((bad + 1))
        echo "valgrind: $t: exit $rc, $errors error lines"
        grep '^==[0-9]*==' "$log" | head -30
    fi
done
rm -f "$log"
echo "valgrind: $bad of $(ls build/tests/test_* | wc -l) test binaries with errors"
[ "$bad" -eq 0 ]
