#!/usr/bin/env bash
# test_bad_input.sh: bad config, unknown source or method, a train size beyond
# the data, missing or corrupt artifacts, a wrong mirror file and an unwritable
# store each give one clear line naming what and where, exit code 2, and leave
# nothing half-written; plus ppr status, why, gc and the no-mirror fallback.
set -u
source "$(dirname "$0")/lib.bash"

A=$(fresh)
cd "$A"
ninja > cold.log 2>&1 || { fail "cold ninja"; cat cold.log; }
cp -r manifests/lock locks.good
cp manifests/config.json config.good

# Config errors name the key and the file; no lock changes.
set_key "$A" 's/"highly_threshold": 0.3,/"highly_threshold": 0.3, "typo": 1,/'
expect_error build/bin/ppr slice 02-characterize-sim-psoups &&
    grep -q "'manifests/config.json': unknown key \"characterize.typo\"" err.log &&
    ok "unknown config key" || { fail "unknown key message"; cat err.log; }
ninja > n.log 2>&1 && fail "ninja ran with an unknown key"
diff -r locks.good manifests/lock > /dev/null || fail "locks changed after a config error"
cp config.good manifests/config.json

set_key "$A" 's/"highly_threshold": 0.3,/"highly_threshold": "high",/'
expect_error build/bin/ppr status &&
    grep -q 'key "characterize.highly_threshold" must be a number' err.log &&
    ok "wrong type" || fail "wrong type message"
cp config.good manifests/config.json

set_key "$A" 's/"highly_threshold": 0.3,/"highly_threshold": 1.5,/'
expect_error build/bin/ppr status && grep -q 'must be in \[0, 1\]' err.log &&
    ok "out of range" || fail "out of range message"
cp config.good manifests/config.json

set_key "$A" '0,/"profile": "ci",/s//"profile": "ci",,/'
expect_error build/bin/ppr status && grep -q "'manifests/config.json':2:" err.log &&
    ok "malformed config names the line" || { fail "malformed config"; cat err.log; }
cp config.good manifests/config.json

set_key "$A" 's/"datasets": \["sim-psoups"/"datasets": ["sim-nope", "sim-psoups"/'
expect_error build/bin/ppr status && grep -q 'dataset "sim-nope" has no entry' err.log &&
    ok "unknown source" || { fail "unknown source"; cat err.log; }
cp config.good manifests/config.json

# config_error WHAT SED-EXPRESSION MESSAGE: after the edit, `ppr status` and the
# `ppr grid` that Ninja runs each exit 2 with the one line
# "'manifests/config.json': MESSAGE", and ninja stops showing it.
config_error() {
    local line="'manifests/config.json': $3"
    set_key "$A" "$2"
    if ! expect_error build/bin/ppr status || [ "$(cat err.log)" != "ppr status: $line" ]; then
        fail "$1: status"; cat err.log
    elif ! expect_error build/bin/ppr grid || [ "$(cat err.log)" != "ppr grid: $line" ]; then
        fail "$1: grid"; cat err.log
    elif ninja > n.log 2>&1 || ! grep -qxF "ppr grid: $line" n.log; then
        fail "$1: ninja"; cat n.log
    else
        ok "$1"
    fi
    cp config.good manifests/config.json
}
config_error "a method listed twice" \
    's/"methods": \["pretrained", "vanilla"/"methods": ["pretrained", "vanilla", "vanilla"/' \
    'key "methods" lists "vanilla" twice'
config_error "a seed listed twice" 's/"seeds": \[1, 2, 3\]/"seeds": [1, 1, 3]/' \
    'key "train.seeds" lists 1 twice'
config_error "an epoch choice listed twice in a profile" \
    's/"up_to": 100000000, "choices": \[1, 3\]/"up_to": 100000000, "choices": [3, 3]/' \
    'key "profiles.ci.train.epochs[0].choices" lists 3 twice'
config_error "two simulated users of one name" 's/{"name": "P1B"/{"name": "P1A"/' \
    'key "fetch.sources.sim-psoups.users" lists name "P1A" twice'
config_error "a source given twice in a profile" \
    's/"sim-tldr": {"triples": 200},/"sim-tldr": {"triples": 200}, "sim-tldr": {"triples": 300},/' \
    'key "profiles.ci.fetch.sources.sim-tldr" appears twice'
config_error "a typo beside a valid key in a profile" \
    's/"sim-psoups": {"triples": 50}/"sim-psoups": {"triples": 50, "triplez": 50}/' \
    'unknown key "profiles.ci.fetch.sources.sim-psoups.triplez" (did you mean "triples"?)'
config_error "an empty list" '0,/"datasets": \[[^]]*\]/s//"datasets": []/' \
    'key "datasets" must have at least 1 item'
config_error "a set both trained on and held out" \
    's/"evalsets": \["hep"/"evalsets": ["sim-tldr", "hep"/' \
    '"sim-tldr" is listed in both "datasets" and "evalsets"; a set is trained on or held out, not both'
config_error "an unknown set in train.pretrained_on" \
    's/"pretrained_on": \["hh-harmless"/"pretrained_on": ["hh-harmles"/' \
    'key "train.pretrained_on[0]" is "hh-harmles"; it must name a set in "datasets" or "evalsets"'
config_error "an empty train.pretrained_on" 's/"pretrained_on": \[[^]]*\]/"pretrained_on": []/' \
    'key "train.pretrained_on" must have at least 1 item when "methods" lists "pretrained"'
config_error "from_pretrained without the reference" \
    's/"from_pretrained": false/"from_pretrained": true/; s/"methods": \["pretrained", /"methods": [/' \
    'key "train.from_pretrained" is true, so "methods" must list "pretrained"'
config_error "the tax on an unknown dataset" \
    's/"tax": {"datasets": \["sim-pllm"\]/"tax": {"datasets": ["sim-plm"]/' \
    'key "tax.datasets[0]" is "sim-plm"; it must name a source under "fetch.sources"'
config_error "tax.sizes for an unknown dataset" \
    's/"sizes": {"default": \[60\]}},/"sizes": {"default": [60], "sim-nope": [9]}},/' \
    'key "tax.sizes.sim-nope" must be "default" or a name under "fetch.sources"'
config_error "train.sizes for an unknown dataset" \
    's/"sizes": {"default": \[60\]}/"sizes": {"default": [60], "sim-nope": [10]}/' \
    'key "train.sizes.sim-nope" must be "default" or a name under "fetch.sources"'
config_error "a dataset without train.sizes" \
    's/"sizes": {"default": \[250, 1000\]}/"sizes": {}/; s/"sizes": {"default": \[60\]}/"sizes": {"sim-psoups": [60]}/' \
    'key "train.sizes" needs "default" or an entry for "sim-tldr"'
# Sizes for a source the lists do not run are fine (a profile may run it).
set_key "$A" 's/"sizes": {"default": \[60\]}/"sizes": {"default": [60], "psoups": [10]}/'
build/bin/ppr status > st.log 2>&1 && ok "train.sizes for a source not in datasets" ||
    { fail "train.sizes for a source not in datasets"; cat st.log; }
cp config.good manifests/config.json
ninja > n.log 2>&1

# Training: an unknown method is a config error; a train size beyond the
# data is the stage's, naming both numbers, with no lock left behind.
set_key "$A" 's/"methods": \["pretrained", "vanilla"/"methods": ["pretrained", "nosuch", "vanilla"/'
expect_error build/bin/ppr status && grep -q 'key "methods\[1\]" has unknown value "nosuch"' err.log &&
    ok "unknown method" || { fail "unknown method"; cat err.log; }
cp config.good manifests/config.json
set_key "$A" 's/"train": {"sizes": {"default": \[60\]}/"train": {"sizes": {"default": [60000]}/'
ninja build/slice/04-train-sim-psoups.vanilla.json > n.log 2>&1
rm -f manifests/lock/04-train-sim-psoups.vanilla.json
expect_error env PPR_RECOMPUTE=1 build/bin/ppr-train build/slice/04-train-sim-psoups.vanilla.json \
    manifests/lock/04-train-sim-psoups.vanilla.json &&
    grep -q 'train size 60000 is larger than the [0-9]* training pairs of "sim-psoups.vanilla"' err.log &&
    ok "train size beyond the data" || { fail "train size beyond the data"; cat err.log; }
[ -e manifests/lock/04-train-sim-psoups.vanilla.json ] && fail "lock written after a failed training"
cp config.good manifests/config.json
ninja > n.log 2>&1 || fail "ninja after the training errors"

# A missing artifact: the stage that needs it says which and exits 2, no lock.
obj=$(grep -o '"name":"dataset","rows":[0-9]*,"sha256":"[0-9a-f]*"' \
    manifests/lock/01-fetch-sim-psoups.json | grep -o '[0-9a-f]\{64\}')
mv "artifacts/objects/${obj:0:2}/${obj:2}.zst" saved.zst
rm -f manifests/lock/02-characterize-sim-psoups.json
expect_error env PPR_RECOMPUTE=1 build/bin/ppr-characterize \
    build/slice/02-characterize-sim-psoups.json \
    manifests/lock/02-characterize-sim-psoups.json &&
    grep -q "${obj:2}.zst' is missing from the store" err.log && ok "missing artifact" ||
    { fail "missing artifact"; cat err.log; }
[ -e manifests/lock/02-characterize-sim-psoups.json ] && fail "lock written after a failure"
build/bin/ppr status > st.log 2>&1
grep -q 'output "dataset" .* is missing from the store' st.log && ok "status names the missing output" ||
    { fail "status"; cat st.log; }
mv saved.zst "artifacts/objects/${obj:0:2}/${obj:2}.zst"
ninja > n.log 2>&1 || fail "ninja after restoring the object"

# ppr status and why explain a config change from hashes.
set_key "$A" 's/"minority_below": 0.5/"minority_below": 0.4/'
build/bin/ppr why 02-characterize > why.log 2>&1
grep -q 'config key "minority_below" changed: 0.5 -> 0.4' why.log && ok "why names the key" ||
    { fail "why"; cat why.log; }
build/bin/ppr status > st.log 2>&1
N=$(grep -c '^build manifests/lock/' manifests/grid.ninja)
# (and the report, whose provenance names the config's hash)
C=$(( $(grep -c '^build manifests/lock/02-' manifests/grid.ninja) + 1 ))
grep -q "$C of $N stage instances stale" st.log && ok "status counts stale instances" ||
    { fail "status count"; cat st.log; }
cp config.good manifests/config.json
ninja > n.log 2>&1
build/bin/ppr status > st.log 2>&1
grep -q "0 of $N stage instances stale" st.log && ok "status after ninja" || { fail "status"; cat st.log; }

# An unwritable store.
expect_error env PPR_ARTIFACTS=/dev/null/store build/bin/ppr-characterize \
    build/slice/02-characterize-sim-psoups.json /tmp/unused-$$.json &&
    grep -q "cannot create directory '/dev/null" err.log && ok "unwritable store" ||
    { fail "unwritable store"; cat err.log; }

# A mirror file that does not match its pin: named, exit 2, nothing stored.
M=$(mktemp -d /tmp/ppr-mirror-XXXXXX)
TMPS+=("$M")
cp -r "$PPR_MIRROR/alpaca-eval" "$M/"
chmod -R u+w "$M"
printf ' ' >> "$M/alpaca-eval/model_outputs/gpt4.json"
before=$(find artifacts/objects -type f | wc -l)
expect_error env PPR_MIRROR="$M" PPR_RECOMPUTE=1 build/bin/ppr-fetch \
    build/slice/01-fetch-sim-psoups.json "$A/bad-mirror-lock.json" &&
    grep -q "gpt4.json' does not match its pin" err.log && ok "wrong mirror checksum" ||
    { fail "wrong mirror checksum"; cat err.log; }
[ "$(find artifacts/objects -type f | wc -l)" -eq "$before" ] || fail "objects stored from a bad mirror"
[ -e "$A/bad-mirror-lock.json" ] && fail "lock written from a bad mirror"

# gc frees what no lock or run record references: the objects of a run that
# only a run record kept, once that record is gone.
set_key "$A" 's/"minority_below": 0.5/"minority_below": 0.45/'
ninja > n.log 2>&1 || fail "ninja with minority_below 0.45"
cp config.good manifests/config.json
ninja > n.log 2>&1 || fail "ninja back to 0.5"
sha256sum manifests/lock/*.json | cut -c1-64 | sort > lock-hashes
sha256sum artifacts/runs/*.json | grep -v -F -f lock-hashes | cut -c67- | xargs rm -f
build/bin/ppr gc > gc.log 2>&1 && grep -q 'freed [1-9]' gc.log && ok "gc reports bytes freed" ||
    { fail "gc"; cat gc.log; }
build/bin/ppr verify > v.log 2>&1 && ok "verify after gc" || { fail "verify after gc"; cat v.log; }
ninja > n.log 2>&1
grep -q 'ninja: no work to do.' n.log && ok "gc removed nothing a lock stands on" ||
    { fail "ninja after gc"; cat n.log; }

# No mirror at all: fetch never composes texts its slice does not ask for; on
# the ci profile the slice itself falls back to composed texts, and says so
# (tests/e2e/test_texts.sh follows the fallback through).
expect_error env PPR_MIRROR=/nonexistent PPR_OFFLINE=1 build/bin/ppr-fetch \
    build/slice/01-fetch-sim-psoups.json manifests/lock/01-fetch-sim-psoups.json &&
    grep -q "'alpaca-eval/[^']*' is neither in the mirror '/nonexistent'" err.log &&
    ok "no mirror: fetch stops rather than compose" || { fail "no mirror: fetch"; cat err.log; }
PPR_MIRROR=/nonexistent build/bin/ppr slice 01-fetch-sim-psoups > out.log 2> err.log &&
    grep -q '"sim-psoups" labels composed texts in place of "alpaca-eval"' err.log &&
    grep -q '"texts_resolved":"composed"' build/slice/01-fetch-sim-psoups.json &&
    ok "no mirror, ci: the slice falls back to composed texts, with a warning" ||
    { fail "no-mirror fallback"; cat err.log; }

finish
