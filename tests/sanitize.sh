#!/usr/bin/env bash
# sanitize.sh: every unit test and end-to-end test (the ci pipeline, the
# campaigns' short runs) with every program built with
# -fsanitize=address,undefined, in a temporary copy of the checkout.
#
# The copy is built with clang (from Debian, as for the fuzzers), whose
# UndefinedBehaviorSanitizer writes its reports to files as AddressSanitizer
# does (GCC's ignores log_path). Reports (AddressSanitizer, LeakSanitizer,
# UndefinedBehaviorSanitizer) go to files, one per process, so that none hides
# in a test's swallowed stderr; any report also fails the program
# (halt_on_error). Prints the tests' summary and the number of reports, and
# keeps them under the copy when there are any. Exits 1 unless every test
# passes with zero reports.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
D=$(mktemp -d /tmp/ppr-sanitize-XXXXXX)
(cd "$ROOT" && tar cf - --exclude=./artifacts --exclude=./build --exclude='./manifests/lock/*' \
    --exclude=./.git --exclude=./.ninja_log --exclude=./.ninja_deps .) | (cd "$D" && tar xf -)
cd "$D"
flags='-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all'
sed -i "s/^cflags = -std=c17 -O2 /cflags = -std=c17 $flags /; s/^ldlibs = /ldlibs = $flags /;
        s/^  command = gcc /  command = clang /" build.ninja
grep -q -- '-fsanitize=address,undefined' build.ninja || { echo "sanitize.sh: cannot set the flags"; exit 2; }
mkdir -p "$D/reports"
# No allocation above 4 GiB, as tests/fuzz/replay.c's limit elsewhere.
export ASAN_OPTIONS="log_path=$D/reports/asan:detect_leaks=1:halt_on_error=1:max_allocation_size_mb=4096"
export UBSAN_OPTIONS="log_path=$D/reports/ubsan:print_stacktrace=1:halt_on_error=1"
export PPR_MIRROR=${PPR_MIRROR:-$(cd "$ROOT/.." && pwd)/shared/data}
ninja test > test.log 2>&1
rc=$?
reports=$(find "$D/reports" -type f | wc -l)
echo "sanitize: $(tail -1 test.log | grep 'passed' || echo 'tests did not finish'); $reports sanitizer reports"
if [ "$rc" -eq 0 ] && [ "$reports" -eq 0 ]; then
    rm -rf "$D"
    exit 0
fi
echo "sanitize: the log is $D/test.log, the reports under $D/reports"
exit 1
