#!/usr/bin/env bash
# test_layering.sh: the dependency rule of design section 3, checked on the
# sources: common/ <- common/models/ <- stages/. No file under common/
# includes a stage's header, no file directly in common/ includes
# common/models/, no stage includes another stage's files, and tools/ppr
# neither includes nor links common/models/. Each check is first shown to
# catch a planted violation in a temporary copy.
source "$(dirname "$0")/lib.bash"

# violations DIR: one line per include that breaks the rule, in DIR's sources.
violations() {
    local d=$1 f inc stage
    for f in "$d"/common/*.[ch] "$d"/common/models/*.[ch]; do
        grep -Hn '#include "stages/' "$f"
    done
    for f in "$d"/common/*.[ch]; do
        grep -Hn '#include "common/models/' "$f"
    done
    for f in "$d"/stages/*/*.[ch]; do
        stage=$(basename "$(dirname "$f")")
        grep -Hn '#include "stages/' "$f" | grep -v "#include \"stages/$stage/"
    done
    for f in "$d"/tools/ppr/*.[ch]; do
        grep -Hn '#include "common/models/\|#include "stages/' "$f"
    done
    # the ppr link edge: from "build build/bin/ppr:" to the first line without "$"
    awk '/^build build\/bin\/ppr:/ { on = 1 } on { print; if ($0 !~ /\$$/) on = 0 }' \
        "$d/build.ninja" | grep -n 'libpprmodels\|obj/common/models\|obj/stages' |
        sed 's/^/build.ninja (ppr link): /'
    # libppr.a, the library tools/ppr links, holds common/ alone
    awk '/^build build\/lib\/libppr.a:/ { on = 1 } on { print; if ($0 !~ /\$$/) on = 0 }' \
        "$d/build.ninja" | grep -n 'obj/common/models\|obj/stages' |
        sed 's/^/build.ninja (libppr.a): /'
}

out=$(violations "$ROOT")
[ -z "$out" ] && ok "the sources keep the dependency rule" || fail "rule broken: $out"

# Each kind of violation, planted in a copy, is caught.
d=$(fresh)
plant() { # FILE LINE: append LINE to FILE, check, restore
    cp "$d/$1" "$d/$1.keep"
    echo "$2" >> "$d/$1"
    [ -n "$(violations "$d")" ] && ok "caught: $1 with $2" || fail "missed: $1 with $2"
    mv "$d/$1.keep" "$d/$1"
}
plant common/store.c '#include "stages/04-train/train.h"'
plant common/models/bt.c '#include "stages/04-train/train.h"'
plant common/json.h '#include "common/models/method.h"'
plant stages/03-encode/encode.c '#include "stages/04-train/train.h"'
plant tools/ppr/gc.c '#include "common/models/method.h"'
cp "$d/build.ninja" "$d/build.ninja.keep"
sed -i 's#^\(build build/bin/ppr: .*\)#\1 build/lib/libpprmodels.a#' "$d/build.ninja"
[ -n "$(violations "$d")" ] && ok "caught: ppr linked with libpprmodels.a" ||
    fail "missed: ppr linked with libpprmodels.a"
mv "$d/build.ninja.keep" "$d/build.ninja"
[ -z "$(violations "$d")" ] && ok "the copy is clean again" || fail "copy not restored"

[ "$FAILS" -eq 0 ]
