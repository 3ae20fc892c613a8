#!/usr/bin/env bash
# cotel's own metrics as a real Prometheus stores them: spans, metric points and log records
# sent with the OpenTelemetry JS SDK must show up exactly in the receiver and exporter
# counters, under the Go collector's names and labels.
set -euo pipefail
export LC_ALL=C
source "$(dirname "$0")/lib/common.sh"

require_built "$COTEL"
require_tools prometheus
require_js

GRPC=$(free_port)
METRICS=$(free_port)
PROM=$(free_port)

cat >"$work/cotel.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$GRPC
processors:
  batch:
    timeout: 100ms
exporters:
  file:
    path: $work/out.jsonl
    sending_queue:
      queue_size: 321
service:
  telemetry:
    # Added to every series as labels (dots become underscores), as the Go collector does.
    resource:
      service.name: cotel-agent
      k8s.node.name: node-a
    metrics:
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: $METRICS
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [file]}
    metrics: {receivers: [otlp], exporters: [file]}
    logs: {receivers: [otlp], exporters: [file]}
EOF

cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: cotel
    static_configs:
      - targets: ['127.0.0.1:$METRICS']
EOF

start_cotel "$work/cotel.yaml"
wait_for 15 curl -fs -o /dev/null "http://127.0.0.1:$METRICS/metrics" ||
    fail "cotel's metrics endpoint did not answer within 15 s"

prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$PROM" >"$work/prometheus.out" 2>"$work/prometheus.err" &
track $!
wait_for 60 curl -fs -o /dev/null "http://127.0.0.1:$PROM/-/ready" ||
    fail "Prometheus not ready within 60 s"

# query PROMQL: prints one line per series, "label=value,label=value value", sorted.
query() {
    curl -sG "http://127.0.0.1:$PROM/api/v1/query" --data-urlencode "query=$1" |
        python3 -c '
import json, sys
try:
    doc = json.load(sys.stdin)
except ValueError:
    sys.exit(1)
if doc.get("status") != "success":
    sys.exit("query failed: %s" % doc.get("error"))
lines = []
for r in doc["data"]["result"]:
    labels = ",".join("%s=%s" % kv for kv in sorted(r["metric"].items())
                      if kv[0] not in ("__name__", "instance", "job", "service_instance_id"))
    lines.append("%s %s" % (labels, r["value"][1]))
print("\n".join(sorted(lines)))'
}

N_SPANS=230
N_POINTS=170
N_LOGS=95
send() { # SIGNAL COUNT BATCH
    send_js "$work/$1.send.json" --signal "$1" --protocol grpc \
        --endpoint "http://127.0.0.1:$GRPC" --count "$2" --batch "$3" --seed "prom-$1" \
        --manifest "$work/$1.manifest.json" || fail "send.js $1: $(cat "$work/$1.send.json")"
    [ "$(json_field "$work/$1.send.json" acknowledged)" = "$2" ] &&
        [ "$(json_field "$work/$1.send.json" failed)" = 0 ] ||
        fail "$1: not all acknowledged: $(cat "$work/$1.send.json")"
}
send traces "$N_SPANS" 50
send metrics "$N_POINTS" 40
send logs "$N_LOGS" 30

RCV='k8s_node_name=node-a,receiver=otlp,service_name=cotel-agent,service_version=*,transport=grpc'
EXP='exporter=file,k8s_node_name=node-a,service_name=cotel-agent,service_version=*'
# expect SECONDS PROMQL PATTERN: waits until the query's whole answer matches the glob PATTERN.
expect() {
    local got=""
    local deadline=$((SECONDS + $1))
    while :; do
        got=$(query "$2") || got="(query failed)"
        # shellcheck disable=SC2053 # a glob match is meant
        [[ "$got" == $3 ]] && return 0
        [ "$SECONDS" -lt "$deadline" ] || fail "$2: Prometheus has \"$got\", expected \"$3\""
        sleep 0.5
    done
}

expect 30 otelcol_receiver_accepted_spans_total "$RCV $N_SPANS"
expect 30 otelcol_receiver_accepted_metric_points_total "$RCV $N_POINTS"
expect 30 otelcol_receiver_accepted_log_records_total "$RCV $N_LOGS"
expect 30 otelcol_exporter_sent_spans_total "$EXP $N_SPANS"
expect 30 otelcol_exporter_sent_metric_points_total "$EXP $N_POINTS"
expect 30 otelcol_exporter_sent_log_records_total "$EXP $N_LOGS"
for sig in spans metric_points log_records; do
    expect 10 "otelcol_receiver_refused_${sig}_total" "$RCV 0"
    expect 10 "otelcol_exporter_send_failed_${sig}_total" "$EXP 0"
    expect 10 "otelcol_exporter_enqueue_failed_${sig}_total" "$EXP 0"
done
expect 10 otelcol_exporter_queue_capacity "$EXP* 321"
expect 10 otelcol_exporter_queue_size "$EXP* 0"
# The batch processor's histogram: every span went through one batch, and the bucket bounds are
# written as the Go collector writes them (le="10", not le="1e+01").
expect 10 'otelcol_processor_batch_batch_send_size_sum' \
    "k8s_node_name=node-a,processor=batch,*$N_SPANS"
bucket='otelcol_processor_batch_batch_send_size_bucket{processor="batch",le=~"10|100000|.Inf"}'
expect 10 "count($bucket)" " 3"

# Process metrics: present, the counters with _total, and plausible.
RES='k8s_node_name=node-a,service_name=cotel-agent,service_version=*'
expect 10 'otelcol_process_uptime_total > 0' "$RES *"
expect 10 'otelcol_process_cpu_seconds_total > 0' "$RES *"
expect 10 'otelcol_process_memory_rss > 1000000' "$RES *"
# The allocator's numbers: a running collector holds over 100 kB. A binary with jemalloc (the
# default) must have them; other builds (a sanitizer's allocator) may leave them out.
if grep -q jemalloc <<<"$(ldd "$COTEL" 2>/dev/null)" ||
    [ -n "$(query otelcol_process_runtime_heap_alloc_bytes)" ]; then
    expect 10 'otelcol_process_runtime_heap_alloc_bytes > 100000' "$RES *"
    expect 10 'otelcol_process_runtime_total_sys_memory_bytes >= 100000' "$RES *"
fi
# Every series carries one service_instance_id, the same for all.
ids=$(curl -fsG "http://127.0.0.1:$PROM/api/v1/label/service_instance_id/values" |
    python3 -c 'import json, sys; print(" ".join(json.load(sys.stdin)["data"]))')
[[ "$ids" =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]] ||
    fail "service_instance_id values \"$ids\": expected one random UUID"
expect 10 'count(up{job="cotel"} == 1)' " 1"
expect 10 'count({job="cotel",__name__=~"otelcol_.*",service_instance_id=""})' ""

# What the counters claim is what the file holds.
for sig in traces metrics logs; do
    verify_js "$work/$sig.verify.json" --manifest "$work/$sig.manifest.json" --signal "$sig" \
        --otlp-json-lines "$work/out.jsonl" ||
        fail "verify.js $sig: $(head -c 2000 "$work/$sig.verify.json")"
done

echo "PASS: Prometheus stored accepted/sent counts $N_SPANS spans, $N_POINTS points," \
    "$N_LOGS log records with the Go collector's names and labels"
