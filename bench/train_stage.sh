#!/usr/bin/env bash
# train_stage.sh: the whole stage 04 (every dataset x method instance and the
# pre-trained reference) at the paper profile, as `ninja` runs it: wall clock
# from the first training instance to the last (goal < 15 minutes on 2 cores
# with all eight rows), Ninja's job count, the summed time of the instances,
# and every instance's time and peak memory (artifacts/log/runs.jsonl records
# both per run), with the sum and the largest peak per method. Stages
# 01-03 run first and are not counted. JOBS=N passes -j N to Ninja (default:
# Ninja's own, the cores + 2). Not a test.
set -eu
source "$(dirname "$0")/lib.bash"
bench_copy paper
ninja $(grep -o 'manifests/lock/0[123]-[^ ]*\.json' manifests/grid.ninja | sort -u) > /dev/null 2>&1
train=$(grep -o 'manifests/lock/04-train-[^ ]*\.json' manifests/grid.ninja | sort -u)
jobs=()
[ -n "${JOBS:-}" ] && jobs=(-j "$JOBS")
/usr/bin/time -f '%e %M' -o t.out ninja "${jobs[@]}" $train > /dev/null
read -r s m < t.out
n=$(echo "$train" | wc -l)
runs=$(grep '"stage":"04-train"' artifacts/log/runs.jsonl |
    sed 's/.*"instance":"\([^"]*\)".*"seconds":\([0-9.]*\),"peak_kib":\([0-9]*\).*/\1 \2 \3/')
sum=$(echo "$runs" | awk '{ t += $2 } END { print t }')
top=$(echo "$runs" | sort -k3 -n | tail -1 | awk '{ printf "%s, %.0f MiB", $1, $3 / 1024 }')
report "stage 04, paper profile ($n instances)" "$s" 900 "$m"
echo "ninja jobs: ${JOBS:-default ($(nproc) cores + 2)}; instances' summed wall time ${sum} s;" \
    "largest peak: $top"
echo "instance                              seconds  peak MiB"
echo "$runs" | sort | awk '{ printf "%-36s %8.1f %9.0f\n", $1, $2, $3 / 1024 }'
echo "method        instances  summed s  largest peak MiB"
echo "$runs" | awk '{ k = $1; sub(/^[^.]*\./, "", k); if ($1 == "pretrained") k = "pretrained (reference)"
    n[k]++; t[k] += $2; if ($3 > p[k]) p[k] = $3 }
    END { for (k in n) printf "%-22s %3d %9.1f %9.0f\n", k, n[k], t[k], p[k] / 1024 }' | sort
