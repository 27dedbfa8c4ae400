#!/usr/bin/env bash
# train_mlp.sh: training throughput (pairs x epochs per second, wall clock) of
# the MLP reward head with the BT loss and AdamW (bench/bench_mlp.c, the
# shared trainer's loop), beside numpy (Debian's python3-numpy, which links the
# same OpenBLAS) running the same MLP, loss, clipping, AdamW and schedule on
# the same random features, at three sizes (features, hidden, batch pairs):
# small (128, 64, 32), medium (1024, 256, 64) and large (4096, 256, 256).
# Also the sgemm peak (square cblas_sgemm of 2048, best run, measured just
# before and after each training run in the same process, so that a shared
# machine's changing clock and load weigh on both alike) and the fraction of
# it the training reaches (the goal concerns the large size), counting 2 flops
# per multiply-add of the GEMMs it runs: forward and dW of both layers and dX
# of the output layer (the input's dX is never needed, so never computed).
# Best of 3 alternating runs each. Goals (issue 5): never slower than numpy,
# >= 3x at small, >= 80% of the sgemm peak at large. Not a test.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
(cd "$ROOT" && ninja build/bench/bench_mlp > /dev/null)
BIN=$ROOT/build/bench/bench_mlp
T=$(mktemp -d /tmp/ppr-bench-mlp-XXXXXX)
trap 'rm -rf "$T"' EXIT

NUMPY=$(cat <<'PY'
import math, sys, time
import numpy as np
D, H, B, N, E = map(int, sys.argv[1:6])
F = np.fromfile(sys.argv[6], dtype=np.float32).reshape(2 * N, D)  # pair i: rows 2i, 2i + 1
lr, beta1, beta2, eps, wd, clip = 1e-3, 0.9, 0.999, 1e-8, 0.01, 1.0

def run():
    g = np.random.default_rng(3)
    sizes = [H * D, H, H, 1]                       # W1, b1, w2, b2 in one vector
    o = np.cumsum([0] + sizes)
    P = np.empty(o[-1], np.float32)
    G = np.zeros_like(P)
    W1, b1, w2, b2 = (P[o[i]:o[i + 1]] for i in range(4))
    gW1, gb1, gw2, gb2 = (G[o[i]:o[i + 1]] for i in range(4))
    W1, gW1 = W1.reshape(H, D), gW1.reshape(H, D)
    for p, fan in ((W1, D), (b1, D), (w2, H), (b2, H)):
        p[...] = g.uniform(-1, 1, p.shape) / math.sqrt(fan)
    M, V, T = np.zeros_like(P), np.zeros_like(P), np.empty_like(P)
    X = np.empty((2 * B, D), np.float32)
    A = np.empty((2 * B, H), np.float32)
    dA = np.empty_like(A)
    total = -(-N // B) * E
    warmup = math.ceil(0.1 * total)
    step = 0
    t0 = time.perf_counter()
    for epoch in range(E):
        order = np.random.default_rng(epoch).permutation(N)
        for at in range(0, N, B):
            idx = order[at:at + B]
            b = len(idx)
            Xb, Ab, dAb = X[:2 * b], A[:2 * b], dA[:2 * b]
            np.take(F, 2 * idx, axis=0, out=Xb[:b])
            np.take(F, 2 * idx + 1, axis=0, out=Xb[b:])
            np.matmul(Xb, W1.T, out=Ab)
            Ab += b1
            np.maximum(Ab, 0, out=Ab)
            r = Ab @ w2 + b2
            t = (r[:b] - r[b:]).astype(np.float64)
            a = np.exp(-np.abs(t))
            loss = np.mean(np.maximum(-t, 0) + np.log1p(a))
            s = np.where(t >= 0, a / (1 + a), 1 / (1 + a))  # sigmoid(-t)
            d = (-s / b).astype(np.float32)
            dr = np.concatenate([d, -d])
            np.matmul(dr, Ab, out=gw2)
            gb2[0] = dr.sum()
            np.multiply(dr[:, None], w2, out=dAb)
            dAb *= Ab > 0
            np.matmul(dAb.T, Xb, out=gW1)
            np.sum(dAb, axis=0, out=gb1)
            norm = math.sqrt(float(np.dot(G, G)))
            if clip / (norm + 1e-6) < 1:
                G *= clip / (norm + 1e-6)
            rate = (lr * step / warmup if step < warmup
                    else lr * max(0, total - step) / max(1, total - warmup))
            step += 1
            W1 *= 1 - rate * wd
            w2 *= 1 - rate * wd
            M *= beta1
            np.multiply(G, 1 - beta1, out=T)
            M += T
            V *= beta2
            np.multiply(G, G, out=T)
            T *= 1 - beta2
            V += T
            np.sqrt(V, out=T)
            T *= 1 / math.sqrt(1 - beta2 ** step)
            T += eps
            np.divide(M, T, out=T)
            T *= rate / (1 - beta1 ** step)
            P -= T
    return time.perf_counter() - t0, loss

seconds, loss = run()
print("%.1f %.4f" % (N * E / seconds, loss))
PY
)

rows=()
# name, features, hidden, batch pairs, pairs, epochs
for size in "small 128 64 32 16384 20" "medium 1024 256 64 4096 5" "large 4096 256 256 2048 5"; do
    read -r name D H B N E <<< "$size"
    "$BIN" features "$D" "$N" "$T/features.bin"
    # three runs each, alternating, so that a neighbour's burst of load hits
    # both alike; the best of each
    best="0 0 0 0 0 0"
    for run in 1 2 3; do
        read -r ours gflops peak loss < <("$BIN" train "$D" "$H" "$B" "$N" "$E" "$T/features.bin")
        read -r theirs nloss < <(/usr/bin/python3 -c "$NUMPY" "$D" "$H" "$B" "$N" "$E" \
            "$T/features.bin")
        best=$(echo "$best $ours $gflops $peak $theirs $loss $nloss" | awk '{
            for (i = 1; i <= 4; i++) b[i] = $(i + 6) > $i ? $(i + 6) : $i
            print b[1], b[2], b[3], b[4], $11, $12 }')
    done
    read -r ours gflops peak theirs loss nloss <<< "$best"
    rows+=("$name $D $H $B $ours $theirs $gflops $peak $loss $nloss")
done
echo "OpenBLAS threads: $("$BIN" threads) (numpy: the same libopenblas, through libblas.so.3)"
for row in "${rows[@]}"; do
    awk -v row="$row" 'BEGIN {
        split(row, f, " ")
        printf "%-6s (%4d, %3d, %3d): ppr %7.0f  numpy %7.0f pairs x epochs/s  ratio %5.2f",
               f[1], f[2], f[3], f[4], f[5], f[6], f[5] / f[6]
        printf "  GEMMs %5.1f GFLOP/s = %3.0f%% of the sgemm peak %5.1f",
               f[7], 100 * f[7] / f[8], f[8]
        printf "  (last loss %.3f, numpy %.3f)\n", f[9], f[10] }'
done
