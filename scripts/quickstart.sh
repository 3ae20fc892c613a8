#!/usr/bin/env bash
# Installs the dependencies, builds cotel, starts the development Kafka broker
# and runs cotel with examples/quickstart.yaml in the foreground (Ctrl-C stops both).
set -euo pipefail
cd "$(dirname "$0")/.."

build=${COTEL_BUILD_DIR:-build}
scripts/install-deps.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)"

workdir=$(mktemp -d)
"$build/tools/kafka-dev/cotel-kafka-dev" --bootstrap-file "$workdir/bootstrap" \
    >"$workdir/broker.out" 2>"$workdir/broker.log" &
broker=$!
trap 'kill "$broker" 2>/dev/null; wait "$broker" 2>/dev/null; rm -rf "$workdir"' EXIT
for _ in $(seq 100); do
    [ -s "$workdir/bootstrap" ] && break
    sleep 0.1
done
[ -s "$workdir/bootstrap" ] || { echo "the development broker did not start:" >&2;
                                 cat "$workdir/broker.log" >&2; exit 1; }
export KAFKA_BROKERS
KAFKA_BROKERS=$(cat "$workdir/bootstrap")

cat <<TEXT
Development Kafka broker: $KAFKA_BROKERS (topics otlp_spans, otlp_metrics, otlp_logs)
cotel: OTLP/gRPC on localhost:4317; own metrics on http://localhost:8888/metrics;
the file exporter writes OTLP/JSON lines to ${COTEL_FILE_PATH:-/tmp/cotel-quickstart.jsonl}
Send telemetry with any OpenTelemetry SDK (OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317), or:
    (cd tests/js && npm ci && node send.js --signal traces --protocol grpc \\
        --endpoint http://localhost:4317 --count 10)
Read the records back (each is an ExportTraceServiceRequest in protobuf):
    kcat -b $KAFKA_BROKERS -C -t otlp_spans -e -f 'partition %p offset %o: %S bytes\\n'
TEXT
"$build/cmd/cotel/cotel" --config examples/quickstart.yaml
