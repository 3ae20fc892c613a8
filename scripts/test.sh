#!/usr/bin/env bash
# Installs what the tests need (Debian packages, the JS test peers from npm),
# builds cotel and runs every test with ctest. Run from the repository root as root.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${COTEL_BUILD_DIR:-build}
scripts/install-deps.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build" -j"$(nproc)"
(cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
cd "$build"
ctest --output-on-failure --timeout 600 -j"${COTEL_TEST_JOBS:-2}" "$@"
