#!/usr/bin/env bash
# concurrent_ninja.sh N: N trials of two cold `ninja` runs started at once in
# one checkout (a fresh copy on the ci profile each time). Each trial passes
# when both runs succeed, the locks equal those of one uninterrupted run,
# every stage instance was computed once (the run log has one line per
# instance) and `ppr verify` passes. Prints one line per trial and a summary;
# exits 1 unless every trial passed.
set -u
source "$(dirname "$0")/../tests/e2e/lib.bash"

n=${1:?usage: concurrent_ninja.sh N}
reference_run concurrent_ninja
REF=$PWD
instances=$(ls reference-locks | wc -l)
passed=0
for i in $(seq 1 "$n"); do
    cd "$(fresh)" || exit 2
    (ninja > n1.log 2>&1; echo $? > rc1) &
    (ninja > n2.log 2>&1; echo $? > rc2) &
    wait
    runs=$(wc -l < artifacts/log/runs.jsonl)
    same=no
    diff -r "$REF/reference-locks" manifests/lock > /dev/null && same=yes
    build/bin/ppr verify > verify.log 2>&1 && verified=yes || verified=no
    echo "trial $i: exit codes $(cat rc1) $(cat rc2), locks equal the reference: $same," \
        "$runs computations for $instances instances, verify: $verified"
    [ "$(cat rc1)$(cat rc2)" = 00 ] && [ $same = yes ] && [ "$runs" -eq "$instances" ] &&
        [ $verified = yes ] && passed=$((passed + 1))
    cd "$REF" && rm -rf "$OLDPWD"
done
echo "trials $n / passed $passed"
[ "$passed" -eq "$n" ]
