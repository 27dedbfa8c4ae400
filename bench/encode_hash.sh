#!/usr/bin/env bash
# encode_hash.sh: throughput of the hash encoder in MB of text per CPU second
# (one core), beside scikit-learn's HashingVectorizer (Debian's python3-sklearn)
# on the same texts, the "output" fields of AlpacaEval's model outputs, with
# comparable features: word unigrams and bigrams plus character 3- to 5-grams,
# 1024 hashed dimensions (sklearn: a FeatureUnion of two 512-dimension
# vectorizers, alternate_sign=True, norm='l2'). Prints both and the ratio.
# Optional argument: how many files to use (default all). Not a test.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${PPR_MIRROR:-$(cd "$ROOT/.." && pwd)/shared/data}/alpaca-eval/model_outputs
NFILES=${1:-0}
(cd "$ROOT" && ninja build/bench/bench_hashenc > /dev/null)
mapfile -t files < <(ls "$DIR"/*.json | LC_ALL=C sort)
if [ "$NFILES" -gt 0 ]; then files=("${files[@]:0:$NFILES}"); fi
cfg='{"dim":1024,"char_ngram_min":3,"char_ngram_max":5,"word_bigrams":true}'
c=$("$ROOT/build/bench/bench_hashenc" "$cfg" "${files[@]}")
py=$(/usr/bin/python3 - "${files[@]}" <<'PY'
import json, sys, time
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.pipeline import FeatureUnion
texts = [r["output"] for f in sys.argv[1:] for r in json.load(open(f, encoding="utf-8"))]
total = sum(len(t.encode("utf-8")) for t in texts)
union = FeatureUnion([
    ("words", HashingVectorizer(n_features=512, ngram_range=(1, 2),
                                token_pattern=r"(?u)\w+(?:'\w+)*",
                                alternate_sign=True, norm="l2")),
    ("chars", HashingVectorizer(n_features=512, analyzer="char", ngram_range=(3, 5),
                                alternate_sign=True, norm="l2")),
])
t0 = time.process_time()
for i in range(0, len(texts), 2000):  # in chunks, as ppr does, to bound memory
    union.transform(texts[i:i + 2000])
t = time.process_time() - t0
print("sklearn: %d texts, %.1f MB, %.3f CPU s" % (len(texts), total / 1e6, t), file=sys.stderr)
print("%.2f" % (total / 1e6 / t))
PY
)
awk -v c="$c" -v p="$py" -v n="${#files[@]}" 'BEGIN {
    printf "AlpacaEval outputs, %d files: ppr hash %.2f MB/s per core, ", n, c
    printf "sklearn HashingVectorizer %.2f MB/s per core, ratio %.1f\n", p, c / p }'
