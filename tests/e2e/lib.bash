# lib.bash: helpers for the end-to-end tests: each test works in a fresh temporary
# copy of the checkout (with the already-compiled tools) on the `ci` profile.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export PPR_MIRROR=${PPR_MIRROR:-$(cd "$ROOT/.." && pwd)/shared/data}
FAILS=0
TMPS=()
# fresh runs in a command substitution, a subshell: it records its copies in
# this file, since it cannot add to TMPS.
FRESH_LIST=$(mktemp /tmp/ppr-e2e-list-XXXXXX)

cleanup() { rm -rf "${TMPS[@]}" $(cat "$FRESH_LIST") "$FRESH_LIST"; }
trap cleanup EXIT

fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }

# fresh: a copy of the sources and compiled tools, without artifacts, locks or
# slices, set to the ci profile, with Ninja's own logs compacted as in a new
# build (two runs started at once on grown logs race in Ninja's start-up:
# docs/reliability.md). Prints its path.
fresh() {
    local d
    d=$(mktemp -d /tmp/ppr-e2e-XXXXXX)
    echo "$d" >> "$FRESH_LIST"
    (cd "$ROOT" && tar cf - --exclude=./artifacts --exclude=./build/slice \
        --exclude='./manifests/lock/*' --exclude=./.git .) | (cd "$d" && tar xf -)
    sed -i 's/"profile": "[a-z]*"/"profile": "ci"/' "$d/manifests/config.json"
    (cd "$d" && ninja -t recompact > /dev/null)
    echo "$d"
}

# set_key DIR SED-EXPRESSION: edit manifests/config.json in place; fails the
# test when the expression changes nothing.
set_key() {
    local f=$1/manifests/config.json before
    before=$(sha256sum < "$f")
    sed -i "$2" "$f"
    [ "$(sha256sum < "$f")" != "$before" ] || fail "set_key '$2' changed nothing"
}

# metrics LOCK: the JSON of the lock's "metrics" output on stdout (run in
# the checkout that holds its store).
metrics() { # LOCK -> the JSON of its "metrics" output on stdout
    local h
    h=$(grep -o '"name":"metrics"[^}]*' "$1" | grep -o '[0-9a-f]\{64\}')
    tail -c +17 "artifacts/objects/${h:0:2}/${h:2}.zst" | zstd -dq
}

# stages_run LOG: the stage locks Ninja rebuilt in a ninja log (one per line).
stages_run() { grep -o 'STAGE manifests/lock/[^ ]*' "$1" | sed 's/STAGE //' | sort; }

# fetch_pid DIR: the pid of a ppr-fetch running in DIR (this test's copy only,
# never another checkout's).
fetch_pid() {
    local pid
    for pid in $(pgrep -f 'build/bin/ppr-fetch build/slice'); do
        [ "$(readlink "/proc/$pid/cwd")" = "$1" ] && { echo "$pid"; return; }
    done
}

# flip_byte FILE OFFSET: change one byte in place (xor 1).
flip_byte() {
    local b
    b=$(od -An -tu1 -j"$2" -N1 "$1" | tr -d ' ')
    printf "$(printf '\\%03o' $((b ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

# expect_error CMD... : exit code 2 and exactly one line on stderr, kept in
# err.log (stdout in out.log).
expect_error() {
    "$@" > out.log 2> err.log
    local rc=$?
    [ "$rc" -eq 2 ] || { fail "'$*' exited $rc, not 2"; cat err.log; return 1; }
    [ "$(wc -l < err.log)" -eq 1 ] || { fail "'$*' printed more than one line"; cat err.log; return 1; }
}

# reference_run PROG: enter a fresh copy and run a cold, uninterrupted ninja
# there (the campaigns' reference): its locks are kept in reference-locks,
# its duration in seconds in REF_SECONDS. Exits 2 when it fails.
reference_run() {
    local t0
    cd "$(fresh)" || exit 2
    t0=$(date +%s.%N)
    ninja > reference.log 2>&1 || { echo "$1: the reference run failed"; exit 2; }
    REF_SECONDS=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
    cp -r manifests/lock reference-locks
}

# rng_seed SEED, then rand N: REPLY is a number in [0, N). A 64-bit LCG
# (Knuth's MMIX constants) in this shell's own variables, since bash reseeds
# $RANDOM in every subshell: call rand directly, never inside $(...).
rng_seed() { RNG_STATE=$1; }
rand() {
    RNG_STATE=$(((RNG_STATE * 6364136223846793005 + 1442695040888963407) & 0x7fffffffffffffff))
    REPLY=$(((RNG_STATE >> 20) % $1))
}

# obj_of LOCK NAME: the object path of output NAME of a lock.
obj_of() {
    local h
    h=$(grep -o "\"name\":\"$2\",\"rows\":[0-9]*,\"sha256\":\"[0-9a-f]*\"" "$1" |
        grep -o '[0-9a-f]\{64\}')
    echo "artifacts/objects/${h:0:2}/${h:2}.zst"
}

finish() {
    if [ "$FAILS" -eq 0 ]; then echo "all checks passed"; exit 0; fi
    echo "$FAILS checks failed"; exit 1
}
