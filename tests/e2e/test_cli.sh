#!/usr/bin/env bash
# test_cli.sh: the `ppr` command line itself: help on request, `ppr why` given a
# lock or slice path, and `ppr restore` keeping the manifests it replaces.
set -u
source "$(dirname "$0")/lib.bash"

A=$(fresh)
cd "$A"

# Help asked for goes to stdout with exit 0; a missing or unknown command is a
# usage error on stderr with exit 2.
for h in help -h --help; do
    build/bin/ppr $h > out.log 2> err.log
    rc=$?
    [ "$rc" -eq 0 ] && head -1 out.log | grep -qx 'usage: ppr <command>' && [ ! -s err.log ] &&
        ok "ppr $h: usage on stdout, exit 0" || { fail "ppr $h exited $rc"; cat out.log err.log; }
done
for args in "" "nosuch"; do
    build/bin/ppr $args > out.log 2> err.log
    rc=$?
    [ "$rc" -eq 2 ] && head -1 err.log | grep -qx 'usage: ppr <command>' && [ ! -s out.log ] &&
        ok "ppr '$args': usage on stderr, exit 2" || { fail "ppr '$args' exited $rc"; cat out.log err.log; }
done

# A little state to explain and to archive: sim-psoups fetched and characterized.
ninja manifests/lock/02-characterize-sim-psoups.json > n.log 2>&1 || { fail "ninja"; cat n.log; }
cp manifests/config.json config.good

# why: a node, its lock path and its slice path all explain the same node.
set_key "$A" 's/"minority_below": 0.5/"minority_below": 0.4/'
node=02-characterize-sim-psoups
build/bin/ppr why "$node" > why.node 2>&1 || { fail "why $node"; cat why.node; }
head -1 why.node | grep -q "^$node  *stale$" && grep -q 'config key "minority_below" changed: 0.5 -> 0.4' why.node &&
    ok "why a node" || { fail "why a node"; cat why.node; }
for path in "manifests/lock/$node.json" "./manifests/lock/$node.json" "build/slice/$node.json" \
    "./build/slice/$node.json"; do
    build/bin/ppr why "$path" > why.path 2>&1 && cmp -s why.node why.path && ok "why $path" ||
        { fail "why $path"; cat why.path; }
done
expect_error build/bin/ppr why manifests/lock/02-characterize-nosuch.json &&
    grep -q 'unknown pipeline node "02-characterize-nosuch"' err.log && ok "why an unknown lock path" ||
    { fail "why an unknown lock path"; cat err.log; }
cp config.good manifests/config.json

# restore keeps an edited manifest as <file>.before-restore, says so, and
# restores the archive's bytes.
build/bin/ppr archive state.tar.zst > a.log 2>&1 || { fail "archive"; cat a.log; }
set_key "$A" 's/"minority_below": 0.5/"minority_below": 0.4/'
cp manifests/config.json edit1.json
build/bin/ppr restore state.tar.zst > r.log 2>&1 || { fail "restore over an edit"; cat r.log; }
grep -qxF "kept 'manifests/config.json' as 'manifests/config.json.before-restore': it differs from the archive's" r.log &&
    [ "$(grep -c '^kept ' r.log)" -eq 1 ] && ok "restore names the one manifest it kept" ||
    { fail "restore output"; cat r.log; }
cmp -s manifests/config.json.before-restore edit1.json && cmp -s manifests/config.json config.good &&
    ok "restore kept the edit and restored the archive's config" || fail "restore: config bytes"
[ "$(ls manifests/*.before-restore)" = "manifests/config.json.before-restore" ] ||
    fail "restore copied manifests that had not changed"

# Restoring again changes nothing and keeps nothing more.
build/bin/ppr restore state.tar.zst > r.log 2>&1 && ! grep -q '^kept ' r.log &&
    cmp -s manifests/config.json.before-restore edit1.json && ok "restore again: no copy" ||
    { fail "restore again"; cat r.log; }

# A second edit while the first copy is still there: refused before anything
# is written, the edit, the copy and the store as they were.
set_key "$A" 's/"minority_below": 0.5/"minority_below": 0.3/'
cp manifests/config.json edit2.json
rm -rf artifacts/objects manifests/lock
expect_error build/bin/ppr restore state.tar.zst &&
    grep -qF "'manifests/config.json.before-restore' holds other bytes" err.log &&
    ok "restore refuses to overwrite an earlier copy" || { fail "restore over a copy"; cat err.log; }
cmp -s manifests/config.json edit2.json && cmp -s manifests/config.json.before-restore edit1.json &&
    ok "refused restore left both edits" || fail "refused restore changed the config or its copy"
[ -z "$(find artifacts/objects manifests/lock -type f 2> /dev/null)" ] &&
    ok "refused restore wrote no object and no lock" || fail "refused restore wrote files"

finish
