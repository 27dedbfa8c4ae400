#!/usr/bin/env bash
# test_replay.sh: every fuzz target (build/tests/fuzz_*, the gcc build of
# tests/fuzz/) over its seed inputs (seeds.sh) and its regression inputs
# (tests/fuzz/regress/<target>/, the crashes fuzzing found, each fixed), so
# that no fixed parser bug comes back. A crash or an abort fails the test.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
W=$(mktemp -d /tmp/ppr-replay-XXXXXX)
trap 'rm -rf "$W"' EXIT
failed=0
for bin in build/tests/fuzz_*; do
    t=${bin##*/fuzz_}
    tests/fuzz/seeds.sh "$t" "$W/$t"
    regress=tests/fuzz/regress/$t
    [ -d "$regress" ] || regress=
    if out=$("$bin" "$W/$t" $regress 2>&1); then
        echo "fuzz_$t: $out"
    else
        echo "FAILED: fuzz_$t: $out"
        failed=1
    fi
done
exit $failed
