#!/bin/sh
# cotel's side-by-side benchmark: null sink, Kafka and OTLP pipelines, HTTP, idle and the
# persistent queue, at a fixed load and at saturation (docs/benchmarks.md). Not run by ctest.
#   tests/bench/run.sh [--build DIR] [--out PREFIX] [--seconds N] [--rate ITEMS_PER_S] ...
# Needs a Release build with the tools (default build-bench/) and python3, curl, kcat.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
for tool in python3 curl; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is needed" >&2; exit 1; }
done
exec python3 "$here/bench.py" "$@"
