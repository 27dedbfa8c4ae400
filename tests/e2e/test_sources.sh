#!/usr/bin/env bash
# test_sources.sh: real sources through the download path, against a loopback
# server laid out like the upstream hosts (tests/servers/upstream.py): a pinned
# GitHub file (PandaLM's test set, served from the mirror's real copy) and a
# Hugging Face rows-API dataset (P-SOUPS fixture rows, pinned on first
# download); then a changed upstream file and no network at all.
set -u
source "$(dirname "$0")/lib.bash"

A=$(fresh)
cd "$A"
S=$A/upstream
PANDALM=raw.githubusercontent.com/WeOpenML/PandaLM/3871806e72b4832f815ecafd24d3503c73403f48/data
ROWS=datasets-server.huggingface.co/rows/RiverDong/psoups/default
mkdir -p "$S/$PANDALM" "$S/$ROWS" empty-mirror
cp "$PPR_MIRROR/pandalm-testset/testset-v1.json" "$S/$PANDALM/"
row() { # uid prompt chosen rejected
    printf '{"prompt": "%s", "chosen": "%s", "rejected": "%s", "uid": %s}\n' "$2" "$3" "$4" "$1"
}
for split in train test; do
    for u in 1 2 3 4 5 6; do
        for k in 1 2 3; do
            if [ $((u % 2)) -eq 1 ]; then
                row "$u" "$split prompt $k" "short answer $k" "a long and detailed answer $k"
            else
                row "$u" "$split prompt $k" "a long and detailed answer $k" "short answer $k"
            fi
        done
    done > "$S/$ROWS/$split.jsonl"
done
row 1 "same" "x" "x" >> "$S/$ROWS/train.jsonl" # chosen == rejected: dropped

/usr/bin/python3 tests/servers/upstream.py --root "$S" --port 0 --timeout 120 > server.out &
server=$!
for _ in $(seq 1 200); do grep -q '^PORT' server.out 2> /dev/null && break; sleep 0.02; done
port=$(awk '/^PORT/ { print $2 }' server.out)
export PPR_UPSTREAM=http://127.0.0.1:$port PPR_MIRROR=$A/empty-mirror PPR_DOWNLOAD_BACKOFF_MS=10
sed -i 's/^  "datasets": .*/  "datasets": ["pandalm", "psoups"],/; s/^  "evalsets": .*/  "evalsets": [],/' \
    manifests/config.json
sed -i 's/^  "methods": .*/  "methods": ["vanilla"],/; s/"sizes": {"default": \[60\]}/"sizes": {"default": [10]}/' \
    manifests/config.json

ninja > n1.log 2>&1 && ok "ninja downloads and runs both real sources" || { fail "ninja"; cat n1.log; }
[ -f artifacts/downloads/pandalm-testset/testset-v1.json ] && ok "pandalm in the download cache" ||
    fail "pandalm not downloaded"
grep -q '"hf/RiverDong/psoups/default/train.jsonl"' manifests/sources.lock.json &&
    ok "psoups pinned on first download" || fail "no pin for psoups"
grep -q '02-characterize psoups: 36 rows' n1.log && ok "psoups: 36 rows (the chosen == rejected row dropped)" ||
    { fail "psoups rows"; grep psoups n1.log; }
ninja > n2.log 2>&1
grep -q 'ninja: no work to do.' n2.log && ok "second ninja does no work" || fail "second ninja"

# The upstream changes under a pin: the next download is refused, nothing stored.
row 1 "train prompt 9" "new" "old" >> "$S/$ROWS/train.jsonl"
rm -rf artifacts/downloads/hf artifacts/runs manifests/lock/01-fetch-psoups.json
build/bin/ppr-fetch build/slice/01-fetch-psoups.json manifests/lock/01-fetch-psoups.json \
    > f.log 2> err.log
rc=$?
[ "$rc" -eq 2 ] && grep -q "does not match its pin in manifests/sources.lock.json" err.log &&
    ok "a changed upstream file is refused" || { fail "changed upstream rc=$rc"; cat err.log; }
[ -e manifests/lock/01-fetch-psoups.json ] && fail "lock written for a refused file"

# No mirror and no network: one line naming what is missing and where.
kill "$server"
wait "$server" 2> /dev/null
rm -rf artifacts/downloads artifacts/runs manifests/lock/01-fetch-pandalm.json
PPR_DOWNLOAD_ATTEMPTS=1 build/bin/ppr-fetch build/slice/01-fetch-pandalm.json \
    manifests/lock/01-fetch-pandalm.json > f.log 2> err.log
rc=$?
[ "$rc" -eq 2 ] && [ "$(wc -l < err.log)" -eq 1 ] &&
    grep -q "'pandalm-testset/testset-v1.json' is neither in the mirror '$A/empty-mirror' nor in 'artifacts/downloads'" err.log &&
    ok "offline: one clear line naming the file and where it was looked for" ||
    { fail "offline rc=$rc"; cat err.log; }
PPR_OFFLINE=1 build/bin/ppr-fetch build/slice/01-fetch-pandalm.json \
    manifests/lock/01-fetch-pandalm.json > f.log 2> err.log
[ $? -eq 2 ] && grep -q 'allow downloads' err.log && ok "PPR_OFFLINE never touches the network" ||
    { fail "PPR_OFFLINE"; cat err.log; }

finish
