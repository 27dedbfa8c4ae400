#!/usr/bin/env bash
# gpo_gemm.sh [THREADS...]: GPO's meta-training speed at the official size
# (bench/bench_gpo.c: d_model 128, 6 layers, 4 heads, ff 128, embedder depth
# 4, 1024-wide features, 8 groups, 10..100 context and target questions):
# seconds per meta-step, the flops of every GEMM of the forward and backward
# passes (2 m n k each, counted as they run), the rate achieved over the
# whole step and inside the GEMMs, and its ratio to the sgemm peak (2048^3,
# measured in the same process at the same thread count), then each kind of
# GEMM's share of the time and rate. One run of 3 epochs (30 meta-steps) per
# thread count (default: 1). Goal (issue 11): at least 50% of the peak over
# the step. Not a test.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
(cd "$ROOT" && ninja build/bench/bench_gpo > /dev/null)
for threads in "${@:-1}"; do
    "$ROOT/build/bench/bench_gpo" "$threads" 3
done
