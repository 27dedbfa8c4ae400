#!/usr/bin/env bash
# corrupt_campaign.sh N [SEED]: inject N faults into the store and the locks
# and check that each is detected, refused by whatever would read it, and
# repaired, and that no result is ever computed from damaged data.
#
# In a fresh copy of the checkout on the ci profile, a cold `ninja` gives the
# reference locks. Then N times, one fault drawn from SEED (default 1), on an
# object or lock chosen half the time among those a later stage reads:
#   flip      one bit flipped at a random offset of an object a lock names
#   truncate  such an object cut at a random length
#   delete    such an object removed
#   swap      two such objects swap files (mv keeps their mtimes)
#   repoint   a lock's output pointed at another object of the store
#   badjson   a lock cut at a random length (no longer JSON)
#   lockflip  one bit flipped at a random offset of a lock
# and then:
#   detected  `ppr verify` exits non-zero. A flipped bit can leave an object
#             that still decodes, under its header, to exactly the bytes its
#             name hashes (zstd's frame has a few such bits): when verify
#             passes, that fault is benign if zstd and sha256sum (not ppr) say
#             so, and UNDETECTED otherwise.
#   refused   the reader does not use it: the stage that reads the object
#             (rerun with PPR_RECOMPUTE=1 on its slice) exits 2, or `ppr
#             slice` of a node downstream of the lock fails or writes the
#             same slice as before (it repairs the lock first). Faults with no
#             reader (outputs of the last stage) are counted apart.
#   repaired  `ninja`, then `ppr verify --repair` if verify still fails, leave
#             a store that verifies and locks equal to the reference.
#   used-undetected: a reader ran on damaged data, or the final locks differ
#             from the reference. It must be 0.
# Prints one line per fault and: injected / detected / benign / refused /
# no reader / repaired / used-undetected. Exits 1 unless every fault was
# detected or benign and repaired, and none was used.
set -u
source "$(dirname "$0")/../tests/e2e/lib.bash"

n=${1:?usage: corrupt_campaign.sh N [SEED]}
seed=${2:-1}
reference_run corrupt_campaign
R=$PWD
echo "reference: $(ls reference-locks | wc -l) locks, $(find artifacts/objects -type f | wc -l) objects"

rng_seed "$seed"
pick() { rand $#; shift "$REPLY"; REPLY=$1; } # REPLY: one of the arguments
shas() { # every object the locks name as an output
    grep -ho '"sha256":"[0-9a-f]*","type"' manifests/lock/*.json | cut -c11-74 | sort -u
}
read_shas() { # those a slice reads (a stage would read them)
    grep -ho '"sha256":"[0-9a-f]*"' build/slice/*.json | cut -c11-74 | sort -u | comm -12 - <(shas)
}
pick_sha() { # half the time one a stage reads, so that readers get tested
    rand 2
    if [ "$REPLY" = 0 ]; then pick $(read_shas); else pick $(shas); fi
}
read_locks() { # locks whose outputs a slice reads
    grep -ho '"from":"[^"]*"' build/slice/*.json | cut -d'"' -f4 | sort -u |
        sed 's|.*|manifests/lock/&.json|'
}
pick_lock() {
    rand 2
    if [ "$REPLY" = 0 ]; then pick $(read_locks); else pick manifests/lock/*.json; fi
}
path_of() { echo "artifacts/objects/${1:0:2}/${1:2}.zst"; }
node_of() { basename "$1" .json; }
binary_of() { # the stage binary of a node, from the grid (an edge may have implicit outputs)
    grep -A1 "^build manifests/lock/$1.json\( | [^:]*\)\?: stage" manifests/grid.ninja |
        sed -n 's/ *bin = //p'
}
intact() { # SHA HEADER-COPY: its file still decodes, under the same header, to the bytes it is named by
    local f
    f=$(path_of "$1")
    [ -e "$f" ] && cmp -s <(head -c 16 "$f") "$2" &&
        [ "$(tail -c +17 "$f" | zstd -dcq 2> /dev/null | sha256sum | cut -c1-64)" = "$1" ]
}

injected=0 detected=0 benign=0 refused=0 no_reader=0 repaired=0 used=0
kinds=(flip truncate delete swap repoint badjson lockflip)
for i in $(seq 1 "$n"); do
    rand ${#kinds[@]}
    kind=${kinds[$REPLY]}
    sha= lk=
    case $kind in
    flip | truncate | delete | swap)
        pick_sha
        sha=$REPLY
        obj=$(path_of "$sha")
        head -c 16 "$obj" > header.copy
        rand "$(stat -c %s "$obj")"
        at=$REPLY
        what="$kind $obj"
        case $kind in
        flip) flip_byte "$obj" "$at" ;;
        truncate) truncate -s "$at" "$obj" ;;
        delete) rm "$obj" ;;
        swap)
            pick $(shas | grep -v "$sha")
            other=$(path_of "$REPLY")
            mv "$obj" swap.tmp && mv "$other" "$obj" && mv swap.tmp "$other"
            what="swap $obj $other" ;;
        esac ;;
    *)
        pick_lock
        lk=$REPLY
        rand "$(stat -c %s "$lk")"
        at=$REPLY
        case $kind in
        repoint)
            mine=$(grep -o '"sha256":"[0-9a-f]*","type"' "$lk" | cut -c11-74 | head -1)
            pick $(shas | grep -v "$mine")
            sed -i "s/$mine/$REPLY/" "$lk" ;;
        badjson) truncate -s "$at" "$lk" ;;
        lockflip) flip_byte "$lk" "$at" ;;
        esac
        what="$kind $lk" ;;
    esac
    injected=$((injected + 1))

    # Detected by verify; or benign, as zstd and sha256sum (not ppr) see it.
    if ! build/bin/ppr verify > verify.log 2>&1; then
        verdict=detected; detected=$((detected + 1))
    elif [ "$kind" = flip ] && intact "$sha" header.copy; then
        verdict=benign; benign=$((benign + 1))
    else
        verdict=UNDETECTED
    fi

    # The reader: the stage that reads the object, or the slice that reads
    # the lock's outputs.
    reader=none
    if [ -n "$sha" ] && [ "$verdict" != benign ]; then
        user=$(grep -l "\"sha256\":\"$sha\"" build/slice/*.json 2> /dev/null | head -1)
        if [ -n "$user" ]; then
            node=$(node_of "$user")
            PPR_RECOMPUTE=1 "$(binary_of "$node")" "$user" "$R/reader-lock.json" > reader.log 2>&1
            rc=$?
            if [ $rc -eq 2 ]; then reader="refused by $node"; refused=$((refused + 1))
            else reader="USED by $node (exit $rc)"; used=$((used + 1)); fi
            rm -f "$R/reader-lock.json"
        fi
    elif [ -n "$lk" ]; then
        down=$(grep -l "\"from\":\"$(node_of "$lk")\"" build/slice/*.json 2> /dev/null | head -1)
        if [ -n "$down" ]; then
            cp "$down" slice.copy
            if ! build/bin/ppr slice "$(node_of "$down")" > slice.log 2>&1; then
                reader="refused by ppr slice $(node_of "$down")"; refused=$((refused + 1))
            elif cmp -s "$down" slice.copy; then
                reader="ppr slice $(node_of "$down") repaired it first"; refused=$((refused + 1))
            else
                reader="USED by ppr slice $(node_of "$down")"; used=$((used + 1))
            fi
        fi
    fi
    [ "$reader" = none ] && no_reader=$((no_reader + 1))

# Repair: the next ninja, then verify --repair if needed.
    how="ninja"
    ninja > repair.log 2>&1 || how="ninja failed,"
    build/bin/ppr verify > verify2.log 2>&1
    verified=$?
    if [ $verified -ne 0 ]; then
        how="$how verify --repair" # it verifies again after its repair
        build/bin/ppr verify --repair > repair2.log 2>&1
        verified=$?
    fi
    if [ $verified -eq 0 ] && diff -r reference-locks manifests/lock > /dev/null &&
        [ -z "$(find artifacts manifests -name '*.tmp??????')" ]; then
        repaired=$((repaired + 1)); how="repaired by $how"
    else
        used=$((used + 1)); how="NOT repaired by $how"
    fi
    echo "fault $i: $what: $verdict; reader: $reader; $how"
done
echo "injected $injected / detected $detected / benign $benign / refused $refused /" \
    "no reader $no_reader / repaired $repaired / used-undetected $used"
[ $((detected + benign)) -eq "$injected" ] && [ "$repaired" -eq "$injected" ] && [ "$used" -eq 0 ]
