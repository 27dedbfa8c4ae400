#!/usr/bin/env bash
# test_reliability.sh: the defects of issue 9, one section each, on the ci
# profile in fresh temporary copies: no silent wrong result (1, 6), the store
# lock (2), self-repair (3), locks that depend on history (4), a file size
# limit (8). The campaigns that repeat these at random are in bench/.
set -u
source "$(dirname "$0")/lib.bash"

A=$(fresh)
cd "$A"
ninja > cold.log 2>&1 || { fail "cold ninja"; cat cold.log; }
cp -r manifests/lock good-locks
N=$(grep -c '^build manifests/lock/' manifests/grid.ninja)

# 1. Stage 04 reads the minority users from stage 02's table2: a table it
# cannot read, or the table of another dataset, is an error, never "no
# minority users".
T=manifests/lock/04-train-sim-pllm.vanilla.json
S=build/slice/04-train-sim-pllm.vanilla.json
table=$(obj_of manifests/lock/02-characterize-sim-pllm.json table2)
other=$(obj_of manifests/lock/02-characterize-sim-psoups.json table2)
mv "$table" table2.saved
expect_error env PPR_RECOMPUTE=1 build/bin/ppr-train "$S" "$A/t1.json" &&
    grep -q 'input "table2" of 04-train sim-pllm.vanilla: .* is missing from the store' err.log &&
    ok "1: a missing table2 is an error" || { fail "1: missing table2"; cat err.log; }
cp table2.saved "$table"
flip_byte "$table" 30
expect_error env PPR_RECOMPUTE=1 build/bin/ppr-train "$S" "$A/t1.json" &&
    grep -q 'input "table2" .* is corrupt' err.log &&
    ok "1: a corrupt table2 is an error" || { fail "1: corrupt table2"; cat err.log; }
mv table2.saved "$table"
# Another dataset's table named in the slice: its size is not the one its
# producer recorded; with the size edited too, its producer never made it.
sha_of() { echo "$1" | sed 's|artifacts/objects/\(..\)/\(.*\)\.zst|\1\2|'; }
bytes_of() { tail -c +17 "$1" | zstd -dc | wc -c; }
cp "$S" slice.saved
sed -i "s/$(sha_of "$table")/$(sha_of "$other")/" "$S"
expect_error env PPR_RECOMPUTE=1 build/bin/ppr-train "$S" "$A/t1.json" &&
    grep -q "input \"table2\" of 04-train sim-pllm.vanilla holds $(bytes_of "$other") bytes" err.log &&
    ok "1: another dataset's table2 is refused by its size" || { fail "1: swapped table2"; cat err.log; }
sed -i "s/\"bytes\":$(bytes_of "$table"),\"from\":\"02-/\"bytes\":$(bytes_of "$other"),\"from\":\"02-/" "$S"
expect_error env PPR_RECOMPUTE=1 build/bin/ppr-train "$S" "$A/t1.json" &&
    grep -q 'input "table2" of 04-train sim-pllm.vanilla .* is not an output of' err.log &&
    ok "1: ... and by its producer" || { fail "1: swapped table2 and size"; cat err.log "$S"; }
[ -e "$A/t1.json" ] && fail "1: a lock was written for a failed run"
# A slice lists only what its stage reads: an input it would skip is a bug.
cp slice.saved "$S"
sed -i 's/"inputs":\[{\([^}]*\)"name":"dataset"/"inputs":[{\1"name":"unread"},{\1"name":"dataset"/' "$S"
PPR_RECOMPUTE=1 build/bin/ppr-train "$S" "$A/t1.json" > out.log 2> err.log
[ $? -eq 3 ] && grep -q 'never read its input "unread"' err.log && [ ! -e "$A/t1.json" ] &&
    ok "1: a stage that skips an input of its slice fails (exit 3)" ||
    { fail "1: unread input"; cat err.log; }
cp slice.saved "$S"
metrics=$(tail -c +17 "$(obj_of $T metrics)" | zstd -dc)
echo "$metrics" | grep -q '"minority_users":\["[^"]*"\]' &&
    echo "$metrics" | grep -q '"minority_mean":' &&
    ok "1: sim-pllm's metrics name its minority user and their mean" ||
    fail "1: the metrics lack the minority user"

# 2. The store lock: gc waits for a running stage instead of deleting what it
# wrote, and two ninja runs at once do each instance once.
cp manifests/config.json config.good
set_key "$A" 's/"weight_decay": 0.001/"weight_decay": 0.002/'
ninja > g.log 2>&1 &
ninja_pid=$!
gcs=0
while kill -0 $ninja_pid 2> /dev/null; do
    build/bin/ppr gc > gc.log 2>&1 || { fail "2: gc failed during ninja"; cat gc.log; break; }
    gcs=$((gcs + 1))
done
wait $ninja_pid && ok "2: ninja completes while gc runs in a loop ($gcs gc runs)" ||
    { fail "2: ninja failed under gc"; tail -5 g.log; }
build/bin/ppr verify > v.log 2>&1 && ok "2: the store verifies after gc during ninja" ||
    { fail "2: verify"; cat v.log; }
ninja > g2.log 2>&1
grep -q 'ninja: no work to do.' g2.log && ok "2: nothing left to do" || { fail "2: work left"; cat g2.log; }
cp config.good manifests/config.json
ninja > n.log 2>&1

B=$(fresh)
cd "$B"
(ninja > n1.log 2>&1; echo $? > rc1) &
(ninja > n2.log 2>&1; echo $? > rc2) &
wait
[ "$(cat rc1)" = 0 ] && [ "$(cat rc2)" = 0 ] && ok "2: two ninja runs at once both succeed" ||
    { fail "2: concurrent ninja failed"; tail -n 3 n1.log n2.log; }
diff -r "$A/good-locks" manifests/lock > /dev/null && ok "2: their locks equal a single run's" ||
    fail "2: concurrent runs gave other locks"
[ "$(wc -l < artifacts/log/runs.jsonl)" -eq "$N" ] &&
    ok "2: each of the $N instances computed once" ||
    fail "2: $(wc -l < artifacts/log/runs.jsonl) computations for $N instances"
build/bin/ppr verify > v.log 2>&1 || { fail "2: verify after concurrent runs"; cat v.log; }
cd "$A"

# 3. Damage makes the instance stale (status and why say why) and the next
# ninja repairs it; a run-cache hit verifies the objects it reuses.
F=manifests/lock/01-fetch-sim-tldr.json
damage_check() { # LABEL: status names F's instance, ninja repairs, locks as before
    build/bin/ppr status > st.log 2>&1
    grep -A1 '^01-fetch-sim-tldr ' st.log | grep -q "stale" &&
        ok "3: $1: status calls it stale" || { fail "3: $1: status"; cat st.log; }
    build/bin/ppr why "$F" > why.log 2>&1
    [ "$(wc -l < why.log)" -ge 2 ] && ok "3: $1: why says: $(sed -n 2p why.log | cut -c1-90)" ||
        { fail "3: $1: why"; cat why.log; }
    ninja > r.log 2>&1 || { fail "3: $1: ninja"; cat r.log; }
    build/bin/ppr verify > v.log 2>&1 && diff -r good-locks manifests/lock > /dev/null &&
        ok "3: $1: the next ninja repairs it" || { fail "3: $1: not repaired"; cat r.log v.log; }
    ninja > r2.log 2>&1
    grep -q 'ninja: no work to do.' r2.log || { fail "3: $1: work left"; cat r2.log; }
}
rm "$(obj_of $F dataset)"
damage_check "a deleted output"
flip_byte "$(obj_of $F dataset)" 50
damage_check "a corrupt output"
truncate -s 100 "$F"
damage_check "a truncated lock"
printf '{"stage":' > "$F"
damage_check "a lock that is not JSON"
# A corrupt object of a run the cache holds: switching back recomputes it.
set_key "$A" 's/"minority_below": 0.5/"minority_below": 0.45/'
ninja > n.log 2>&1
cached=$(obj_of manifests/lock/02-characterize-sim-tldr.json table2)
cp config.good manifests/config.json
ninja > n.log 2>&1
flip_byte "$cached" 40
set_key "$A" 's/"minority_below": 0.5/"minority_below": 0.45/'
ninja > n.log 2>&1
grep -q '02-characterize sim-tldr: [0-9]* rows' n.log && ! grep -q 'sim-tldr: reused run' n.log &&
    ok "3: a run-cache hit with a corrupt object recomputes it" || { fail "3: cache"; cat n.log; }
build/bin/ppr verify > v.log 2>&1 || { fail "3: verify after the cache check"; cat v.log; }
cp config.good manifests/config.json
ninja > n.log 2>&1

# 4. The same config reached by two histories gives byte-identical locks: here
# encode first runs without Conditional RM's prompts, then with them (reusing
# the rows it has), against a cold run.
C=$(fresh)
cd "$C"
set_key "$C" 's/"individual", "conditional", "prm"/"individual", "prm"/'
ninja > h1.log 2>&1 || fail "4: ninja without conditional"
cp "$A/config.good" manifests/config.json
ninja > h2.log 2>&1 || fail "4: ninja with conditional"
grep -q 'encoded [1-9][0-9]*, reused [1-9]' h2.log || fail "4: encode reused nothing"
diff -r "$A/good-locks" manifests/lock > d.log && ok "4: locks equal a cold run's" ||
    { fail "4: locks depend on history"; head -5 d.log; }
grep -q '"notes":{"encoded":[0-9]*,"reused":[0-9]*}' artifacts/log/runs.jsonl &&
    ok "4: the counts are in the run log" || fail "4: run log notes"
cd "$A"

# 6. A lock edited to point at another valid object: verify names it, status
# calls it stale, the next ninja (the edit is newer than the run) or
# `ppr verify --repair` (mtime kept) rewrites it from its run record.
L=manifests/lock/02-characterize-sim-tldr.json
edit_lock() {
    cp "$L" lock.saved
    sed -i "s/$(sha_of "$(obj_of $L table2)")/$(sha_of "$(obj_of \
        manifests/lock/02-characterize-sim-pllm.json table2)")/" "$L"
}
edit_lock
build/bin/ppr verify > v.log 2>&1
[ $? -eq 1 ] && grep -q "lock '$L' differs from its run record" v.log &&
    grep -q "lock '$L': output \"table2\" .* holds json, [0-9]* bytes; the lock records json" v.log &&
    ok "6: verify names the edit and the size it no longer matches" || { fail "6: verify"; cat v.log; }
build/bin/ppr status > st.log 2>&1
grep -A1 '^02-characterize-sim-tldr ' st.log | grep -q 'differs from its run record' &&
    ok "6: status calls it stale" || { fail "6: status"; cat st.log; }
ninja > n.log 2>&1 && cmp -s "$L" lock.saved && ok "6: the next ninja rewrites it" ||
    { fail "6: ninja"; cat n.log; }
edit_lock
touch -r lock.saved "$L"
build/bin/ppr verify --repair > rep.log 2>&1 && cmp -s "$L" lock.saved &&
    ok "6: verify --repair rewrites it when its mtime was kept" || { fail "6: repair"; cat rep.log; }
diff -r good-locks manifests/lock > /dev/null || fail "6: locks differ after the repair"

# 8. A file size limit: the stage fails with its own message (not SIGXFSZ),
# exit 2, and leaves no temp file; the next ninja stores what was missing.
features=$(obj_of manifests/lock/03-encode-sim-tldr.json features)
[ "$(stat -c %s "$features")" -gt 65536 ] || fail "8: the features fit in 64 KiB"
rm "$features"
expect_error bash -c "ulimit -f 64; PPR_RECOMPUTE=1 exec build/bin/ppr-encode \
    build/slice/03-encode-sim-tldr.json $A/u.json" &&
    grep -q "^ppr-encode: cannot write '$features': File too large" err.log &&
    ok "8: over ulimit -f: ppr's own error, exit 2" || { fail "8: ulimit"; cat err.log; }
[ -z "$(find artifacts manifests -name '*.tmp??????')" ] && ok "8: no temp file left" ||
    fail "8: temp files: $(find artifacts manifests -name '*.tmp??????')"
[ -e "$A/u.json" ] && fail "8: a lock was written"
ninja > n.log 2>&1 && build/bin/ppr verify > v.log 2>&1 && ok "8: the next ninja repairs the store" ||
    { fail "8: verify"; cat n.log v.log; }

finish
