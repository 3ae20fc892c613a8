#!/usr/bin/env bash
# The JS test peers checked against each other (client, backend, verifier),
# so a broken peer is found here and not blamed on cotel.
set -euo pipefail
cd "$COTEL_SOURCE_DIR/tests/js"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
exec node selftest.js
