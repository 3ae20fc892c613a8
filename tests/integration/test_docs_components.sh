#!/usr/bin/env bash
# docs/components.md is generated from the option tables (scripts/gen-components-doc.sh); it must
# say what the binary says, so the reference never drifts from the code.
set -uo pipefail
export LC_ALL=C
source "$(dirname "$0")/lib/common.sh"

require_built "$COTEL"
"$COTEL" components >"$work/now.txt" || fail "cotel components failed"
sed -n '/^```$/,/^```$/p' "$SRC/docs/components.md" | sed '1d;$d' >"$work/doc.txt"
diff -u "$work/doc.txt" "$work/now.txt" >"$work/diff.txt" ||
    fail "docs/components.md is out of date (run scripts/gen-components-doc.sh):
$(head -n 40 "$work/diff.txt")"
pass "docs/components.md matches cotel components ($(wc -l <"$work/now.txt") lines)"
