#!/usr/bin/env bash
# encode.sh: the whole encode stage at the paper profile (every dataset and
# evaluation set, hash encoder, 2 threads): summed time of its instances (goal
# < 60 s on 2 cores) and peak memory. Not a test.
set -eu
source "$(dirname "$0")/lib.bash"
bench_copy paper
ninja > /dev/null 2>&1
read -r s m <<< "$(time_stage 03-encode)"
n=$(ls build/slice/03-encode-*.json | wc -l)
report "encode, paper profile ($n sets)" "$s" 60 "$m"
