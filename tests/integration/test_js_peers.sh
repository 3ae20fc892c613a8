#!/usr/bin/env bash
# The JS test peers checked against each other (client, backend, verifier),
# so a broken peer is found here and not blamed on cotel.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

require_js
cd "$JS"
timeout 300 node selftest.js
