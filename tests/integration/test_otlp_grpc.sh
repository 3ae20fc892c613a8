#!/usr/bin/env bash
# OTLP over gRPC end to end: the OpenTelemetry JS SDK (tests/js/send.js) sends traces, metrics
# and logs, plain and gzip-compressed, to cotel's otlp receiver; the file exporter must write
# every item unchanged (tests/js/verify.js), and the receiver's counters must agree. Also:
# include_metadata passes the call's metadata on (seen by a batch processor's metadata_keys).
set -euo pipefail
export LC_ALL=C
source "$(dirname "$0")/lib/common.sh"

require_built "$COTEL" "$RAW"
require_js

# metric NAME LABEL...: one of cotel's own metrics, "absent" when it is not there.
metric() {
    local value
    value=$(metric_value "$mport" "$@")
    echo "${value:-absent}"
}
counter() { metric "$1" 'receiver="otlp"' 'transport="grpc"'; }

# otlp/md and otlp/nomd differ only in include_metadata; their batch processors group by the
# x-tenant metadata key, so the groups they count show whether the metadata came along.
port=$(free_port)
md_port=$(free_port)
nomd_port=$(free_port)
mport=$(free_port)
cat >"$work/cotel.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$port
  otlp/md:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$md_port
        include_metadata: true
  otlp/nomd:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$nomd_port
processors:
  batch/md: {metadata_keys: [x-tenant], timeout: 100ms}
  batch/nomd: {metadata_keys: [x-tenant], timeout: 100ms}
exporters:
  file:
    path: $work/out.jsonl
    format: json
  file/md:
    path: $work/md.jsonl
service:
  telemetry:
    metrics:
      address: 127.0.0.1:$mport
  pipelines:
    traces: {receivers: [otlp], exporters: [file]}
    metrics: {receivers: [otlp], exporters: [file]}
    logs: {receivers: [otlp], exporters: [file]}
    traces/md: {receivers: [otlp/md], processors: [batch/md], exporters: [file/md]}
    traces/nomd: {receivers: [otlp/nomd], processors: [batch/nomd], exporters: [file/md]}
EOF

start_cotel "$work/cotel.yaml"
for p in $port $md_port $nomd_port; do
    grep -q "OTLP/gRPC listening on 127.0.0.1:$p" "$work/cotel.err" ||
        fail "no receiver logged that it listens on 127.0.0.1:$p"
done
: >"$work/empty.bin"
status=$("$RAW" --wait --timeout 10 "127.0.0.1:$port" traces "$work/empty.bin") ||
    fail "no answer to an empty request"
[ "$status" = OK ] || fail "an empty request got $status, want OK"

# signal count batch seed [--gzip]
send() {
    local signal=$1 count=$2 batch=$3 seed=$4
    shift 4
    send_js "$work/$signal-$seed.out" --signal "$signal" --protocol grpc \
        --endpoint "http://127.0.0.1:$port" --count "$count" --batch "$batch" --seed "$seed" \
        "$@" --manifest "$work/$signal-$seed.json" ||
        fail "send.js $signal seed $seed: $(cat "$work/$signal-$seed.out")"
}

declare -A expected=([traces]=0 [metrics]=0 [logs]=0)
for signal in traces metrics logs; do
    send "$signal" 300 50 plain
    send "$signal" 120 40 gzip --gzip
    expected[$signal]=420
done

# include_metadata: three tenants make three groups only where the metadata is passed on.
node -e '
const len = (f, b) => Buffer.concat([Buffer.from([f * 8 + 2, b.length]), b]);
const span = Buffer.concat([len(1, Buffer.alloc(16, 5)), len(2, Buffer.alloc(8, 5)),
                            len(5, Buffer.from("md"))]);
require("fs").writeFileSync(process.argv[1], len(1, len(2, len(2, span))));' "$work/md.bin"
for p in $md_port $nomd_port; do
    for tenant in a b c; do
        status=$("$RAW" --timeout 10 --header "x-tenant=$tenant" "127.0.0.1:$p" traces \
            "$work/md.bin") || fail "no answer from 127.0.0.1:$p"
        [ "$status" = OK ] || fail "a request with metadata got $status, want OK"
    done
done
groups=$(metric otelcol_processor_batch_metadata_cardinality 'processor="batch/md"')
[ "$groups" = 3 ] || fail "with include_metadata, batch/md saw $groups tenants, want 3"
groups=$(metric otelcol_processor_batch_metadata_cardinality 'processor="batch/nomd"')
[ "$groups" = 1 ] || fail "without include_metadata, batch/nomd saw $groups tenants, want 1"

# Counted before the stop: every item went in, none was refused.
for pair in traces:spans metrics:metric_points logs:log_records; do
    signal=${pair%%:*}
    item=${pair#*:}
    accepted=$(counter "otelcol_receiver_accepted_${item}_total")
    refused=$(counter "otelcol_receiver_refused_${item}_total")
    [ "$accepted" = "${expected[$signal]}" ] ||
        fail "otelcol_receiver_accepted_${item}_total is $accepted, want ${expected[$signal]}"
    [ "$refused" = 0 ] || fail "otelcol_receiver_refused_${item}_total is $refused, want 0"
done

stop_cotel_clean 30

for signal in traces metrics logs; do
    verify_js "$work/verify-$signal.out" --signal "$signal" \
        --manifest "$work/$signal-plain.json" --manifest "$work/$signal-gzip.json" \
        --otlp-json-lines "$work/out.jsonl" ||
        fail "verify.js $signal: $(head -c 2000 "$work/verify-$signal.out")"
done

md_spans=$(grep -o '"name":"md"' "$work/md.jsonl" | wc -l)
[ "$md_spans" -eq 6 ] || fail "$md_spans spans with metadata in the file, want 6"

if grep -E $'\t(warn|error)\t' "$work/cotel.err" >/dev/null; then
    fail "cotel logged warnings or errors on good traffic"
fi
echo "PASS: ${expected[traces]} spans, ${expected[metrics]} metric points and" \
    "${expected[logs]} log records over OTLP/gRPC (plain and gzip) arrived unchanged"
