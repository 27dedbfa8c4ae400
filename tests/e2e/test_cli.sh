#!/usr/bin/env bash
# test_cli.sh: the `ppr` command line itself: help on request and `ppr why`
# given a lock or slice path.
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

# A little state to explain: sim-psoups fetched and characterized.
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

finish
