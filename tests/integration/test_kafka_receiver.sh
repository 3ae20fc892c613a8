#!/usr/bin/env bash
# The kafka receiver end to end, with real peers: the OpenTelemetry JS SDK sends traces, metrics
# and logs over gRPC to cotel A, whose kafka exporters produce them (otlp_proto and otlp_json) to
# the development broker; cotel B consumes them with two kafka receivers of one consumer group
# and writes OTLP/JSON files that verify.js checks item by item. Along the way:
#   - B starts while the broker is down, says so, and consumes once it is up;
#   - malformed records put between good ones in every partition are counted and skipped;
#   - a pipeline that refuses (a full sending queue before an unreachable OTLP destination)
#     holds records back without losing any (message_marking.after: true);
#   - B stopped mid-stream (SIGTERM) and started again with the same group misses nothing.
source "${COTEL_SOURCE_DIR:-$(dirname "$0")/../..}/exporters/kafka/test_lib.sh"

# ---- helpers of this test: cotel B and the backend run beside cotel A (test_lib's cotel_pid) ----

b_pid=""
be_pid=""

# start_b NAME CONFIG: starts cotel B (logs in $work/NAME.err) and waits until it is ready.
start_b() {
    "$COTEL" --config "$2" >"$work/$1.out" 2>"$work/$1.err" &
    b_pid=$!
    bg_pids+=("$b_pid")
    B_LOG=$work/$1.err
    wait_for 20 grep -q "everything is ready" "$B_LOG" ||
        fail "cotel B ($1) not ready within 20 s: $(tail -n 5 "$B_LOG")"
}

# stop_b: SIGTERM; B must leave its group and exit on its own.
stop_b() {
    kill -TERM "$b_pid"
    wait_for 30 eval '! kill -0 '"$b_pid"' 2>/dev/null' ||
        fail "cotel B still running 30 s after SIGTERM"
    wait "$b_pid" || fail "cotel B exited with status $?"
    forget "$b_pid"
    if grep -P '\terror\t' "$B_LOG"; then
        fail "cotel B logged errors"
    fi
    b_pid=""
}

# forget PID: a process that has ended is no longer cleaned up (its PID may be reused).
forget() {
    local kept=() pid
    for pid in "${bg_pids[@]}"; do
        [ "$pid" = "$1" ] || kept+=("$pid")
    done
    bg_pids=("${kept[@]}")
}

# b_metric NAME LABEL: one of cotel B's own metrics.
b_metric() {
    local v
    v=$(METRICS_PORT=$B_METRICS_PORT metric "$1" "$2")
    echo "${v%.*}"
}

b_sent_at_least() {
    [ "$(b_metric "otelcol_exporter_sent_$2_total" "exporter=\"$1\"")" -ge "$3" ]
}

# items FILE SIGNAL: spans, data points or log records in a file of OTLP/JSON lines.
items() {
    python3 - "$1" "$2" <<'EOF'
import json, sys
path, signal = sys.argv[1], sys.argv[2]
res, scope, item = {"traces": ("resourceSpans", "scopeSpans", "spans"),
                    "logs": ("resourceLogs", "scopeLogs", "logRecords")}[signal]
n = 0
try:
    for line in open(path):
        for r in json.loads(line).get(res, []):
            for s in r.get(scope, []):
                n += len(s.get(item, []))
except FileNotFoundError:
    pass
print(n)
EOF
}

at_least_items() {
    local total=0 f
    for f in "${@:3}"; do
        total=$((total + $(items "$f" "$2")))
    done
    [ "$total" -ge "$1" ]
}

# b_config NAME: cotel B's configuration for the chain: both encodings, one consumer group, every
# signal, into files $work/NAME_{p,j}.jsonl.
b_config() {
    cat >"$work/$1.yaml" <<EOF
receivers:
  kafka/proto:
    brokers: [$BS]
    group_id: g1
    initial_offset: earliest
  kafka/json:
    brokers: [$BS]
    group_id: g1-json
    initial_offset: earliest
    traces: {topics: [j_spans], encoding: otlp_json}
    metrics: {topic: j_metrics, encoding: otlp_json}
    logs: {topics: [j_logs], encoding: otlp_json}
exporters:
  file/p:
    path: $work/$1_p.jsonl
  file/j:
    path: $work/$1_j.jsonl
service:
  telemetry:
    metrics:
      address: 127.0.0.1:$B_METRICS_PORT
  pipelines:
    traces/p: {receivers: [kafka/proto], exporters: [file/p]}
    metrics/p: {receivers: [kafka/proto], exporters: [file/p]}
    logs/p: {receivers: [kafka/proto], exporters: [file/p]}
    traces/j: {receivers: [kafka/json], exporters: [file/j]}
    metrics/j: {receivers: [kafka/json], exporters: [file/j]}
    logs/j: {receivers: [kafka/json], exporters: [file/j]}
EOF
}

# ---- the broker, cotel A ----

start_kd --partitions 3 --topics otlp_spans,otlp_metrics,otlp_logs,j_spans,j_metrics,j_logs
OTLP_PORT=$(free_port)
SIDE_PORT=$(free_port)
METRICS_PORT=$(free_port)
B_METRICS_PORT=$(free_port)
BP_PORT=$(free_port)

# ---- broker down at start: B starts anyway, says so, and consumes once the broker is up ----

kd_signal USR1
b_config b1
start_b b1 "$work/b1.yaml"
wait_for 15 grep -q "Kafka unreachable" "$B_LOG" || fail "cotel B did not report Kafka unreachable"
kd_signal USR2
echo "broker down at start: cotel B started and said:" \
    "$(grep -m1 -o 'Kafka unreachable.*' "$B_LOG")"

# cotel A: OTLP in, Kafka out in both encodings; otlp/side only records what the SDK encodes.
cat >"$work/a.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$OTLP_PORT
  otlp/side:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$SIDE_PORT
exporters:
  kafka/proto:
    brokers: [$BS]
  kafka/json:
    brokers: [$BS]
    traces: {topic: j_spans, encoding: otlp_json}
    metrics: {topic: j_metrics, encoding: otlp_json}
    logs: {topic: j_logs, encoding: otlp_json}
  debug:
    verbosity: basic
service:
  telemetry:
    metrics:
      address: 127.0.0.1:$METRICS_PORT
  pipelines:
    traces: {receivers: [otlp], exporters: [kafka/proto, kafka/json]}
    metrics: {receivers: [otlp], exporters: [kafka/proto, kafka/json]}
    logs: {receivers: [otlp], exporters: [kafka/proto, kafka/json]}
    traces/side: {receivers: [otlp/side], exporters: [debug]}
EOF
start_cotel "$work/a.yaml"

# ---- the chain: SDK -> A -> Kafka -> B -> files, every item checked ----

send traces 600 100 "$work/t_chain.json"
send metrics 300 100 "$work/m_chain.json"
send logs 300 100 "$work/l_chain.json"
for exp in file/p file/j; do
    for kind in spans:600 metric_points:300 log_records:300; do
        wait_for 45 b_sent_at_least "$exp" "${kind%%:*}" "${kind##*:}" ||
            fail "cotel B's $exp did not write ${kind##*:} ${kind%%:*} within 45 s"
    done
done
grep -q "Kafka reachable again" "$B_LOG" || fail "cotel B did not report Kafka reachable again"
verify traces --otlp-json-lines "$work/b1_p.jsonl" "$work/t_chain.json"
verify metrics --otlp-json-lines "$work/b1_p.jsonl" "$work/m_chain.json"
verify logs --otlp-json-lines "$work/b1_p.jsonl" "$work/l_chain.json"
verify traces --otlp-json-lines "$work/b1_j.jsonl" "$work/t_chain.json"
verify metrics --otlp-json-lines "$work/b1_j.jsonl" "$work/m_chain.json"
verify logs --otlp-json-lines "$work/b1_j.jsonl" "$work/l_chain.json"

# ---- malformed records between good ones, in every partition ----

# Six requests as the SDK encodes them (protobuf and OTLP/JSON), one Kafka record each.
OTLP_PORT=$SIDE_PORT send traces 60 10 "$work/t_side.json" \
    --framed-out "$work/side.framed" --json-out "$work/side.jsonl"
python3 - "$work" <<'EOF' || fail "cannot split the SDK's requests"
import sys
work = sys.argv[1]
data, i, n = open(f"{work}/side.framed", "rb").read(), 0, 0
while i < len(data):
    size = int.from_bytes(data[i:i + 4], "big")
    open(f"{work}/side{n}.pb", "wb").write(data[i + 4:i + 4 + size])
    i, n = i + 4 + size, n + 1
for k, line in enumerate(open(f"{work}/side.jsonl")):
    open(f"{work}/side{k}.json", "w").write(line.rstrip("\n"))
assert n == 6, n
EOF
printf 'this is not protobuf' >"$work/bad.pb"
printf '\x0a\x05ab' >"$work/truncated.pb"
printf '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"not hex"}]}]}]}' >"$work/bad.json"
for p in 0 1 2; do
    kcat -b "$BS" -P -t otlp_spans -p "$p" "$work/side$((2 * p)).pb" "$work/bad.pb" \
        "$work/side$((2 * p + 1)).pb" || fail "kcat could not produce to otlp_spans/$p"
    kcat -b "$BS" -P -t j_spans -p "$p" "$work/side$((2 * p)).json" "$work/bad.json" \
        "$work/side$((2 * p + 1)).json" || fail "kcat could not produce to j_spans/$p"
done
kcat -b "$BS" -P -t otlp_logs -p 1 "$work/truncated.pb" ||
    fail "kcat could not produce to otlp_logs"
# A good log after the truncated record: the partition must go on.
send logs 10 10 "$work/l_after.json"
for exp in file/p file/j; do
    wait_for 30 b_sent_at_least "$exp" spans 660 ||
        fail "$exp: the good records around the bad ones did not arrive"
done
wait_for 30 b_sent_at_least file/p log_records 310 ||
    fail "file/p: the log after the bad record did not arrive"
failed_spans=0
for t in otlp_spans j_spans; do
    for p in 0 1 2; do
        n=$(b_metric otelcol_kafka_receiver_unmarshal_failed_spans_total \
            "topic=\"$t\",partition=\"$p\"")
        [ "$n" -eq 1 ] || fail "$t/$p: $n records counted as malformed, expected 1"
        failed_spans=$((failed_spans + n))
    done
done
failed_logs=$(b_metric otelcol_kafka_receiver_unmarshal_failed_log_records_total \
    'topic="otlp_logs",partition="1"')
[ "$failed_logs" -eq 1 ] ||
    fail "otlp_logs/1: $failed_logs records counted as malformed, expected 1"
grep -q "skipped a malformed record" "$B_LOG" || fail "no log line about the malformed records"
for enc in p j; do
    verify traces --otlp-json-lines "$work/b1_$enc.jsonl" "$work/t_chain.json" \
        --manifest "$work/t_side.json"
done
verify logs --otlp-json-lines "$work/b1_p.jsonl" "$work/l_chain.json" \
    --manifest "$work/l_after.json"
echo "malformed: $failed_spans span records and $failed_logs log record skipped and counted"
stop_b

# ---- backpressure: the pipeline refuses, the receiver holds records back, nothing is lost ----

cat >"$work/bp.yaml" <<EOF
receivers:
  kafka:
    brokers: [$BS]
    group_id: g2
    initial_offset: earliest
    message_marking: {after: true}
    error_backoff: {initial_interval: 50ms, max_interval: 300ms}
exporters:
  otlp_grpc:
    endpoint: 127.0.0.1:$BP_PORT
    tls: {insecure: true}
    compression: none
    retry_on_failure: {initial_interval: 100ms, max_interval: 300ms, max_elapsed_time: 0}
    sending_queue: {queue_size: 1, num_consumers: 1}
service:
  telemetry:
    metrics:
      address: 127.0.0.1:$B_METRICS_PORT
  pipelines:
    traces: {receivers: [kafka], exporters: [otlp_grpc]}
EOF
start_b bp "$work/bp.yaml"
refused() {
    [ "$(b_metric otelcol_receiver_refused_spans_total 'receiver="kafka"')" -gt 0 ]
}
wait_for 20 refused || fail "the pipeline never refused: the backpressure path was not taken"
sleep 2
(cd "$JS" && exec node backend.js --port "$BP_PORT" --out "$work/backend.jsonl" \
    --stats "$work/backend.stats") >"$work/backend.log" 2>&1 &
be_pid=$!
bg_pids+=("$be_pid")
backend_items() {
    [ -s "$work/backend.stats" ] && python3 -c '
import json, sys
sys.exit(0 if json.load(open(sys.argv[1]))["itemsBySignal"]["traces"] >= 660 else 1)' \
        "$work/backend.stats" 2>/dev/null
}
wait_for 40 backend_items || fail "the backend did not get every span after the refusals ended"
refusals=$(b_metric otelcol_receiver_refused_spans_total 'receiver="kafka"')
verify traces --otlp-json-lines "$work/backend.jsonl" "$work/t_chain.json" \
    --manifest "$work/t_side.json"
grep -q "paused at offset" "$B_LOG" || fail "no log line about the paused partition"
echo "backpressure: $refusals span deliveries refused and retried; every span arrived once"
stop_b
kill -TERM "$be_pid"
wait "$be_pid" || true
forget "$be_pid"

# ---- restart mid-stream with the same group: nothing missing ----

b_config b2
start_b b2 "$work/b2.yaml"
(cd "$JS" && exec timeout 120 node send.js --signal traces --protocol grpc \
    --endpoint "http://127.0.0.1:$OTLP_PORT" --count 1500 --batch 50 --rate 400 \
    --manifest "$work/t_restart.json" --seed "restart-$RANDOM") >"$work/t_restart.out" 2>&1 &
send_pid=$!
bg_pids+=("$send_pid")
wait_for 30 b_sent_at_least file/p spans 300 || fail "cotel B consumed nothing of the stream"
stop_b
echo "restart: stopped cotel B after $(items "$work/b2_p.jsonl" traces) spans (otlp_proto)"
b_config b3
start_b b3 "$work/b3.yaml"
wait "$send_pid" || fail "send.js failed: $(cat "$work/t_restart.out")"
forget "$send_pid"
for enc in p j; do
    wait_for 45 at_least_items 1500 traces "$work/b2_$enc.jsonl" "$work/b3_$enc.jsonl" ||
        fail "after the restart, $enc: fewer than 1500 spans arrived"
    verify traces --otlp-json-lines "$work/b2_$enc.jsonl" "$work/t_restart.json" \
        --otlp-json-lines "$work/b3_$enc.jsonl" --allow-duplicates
done
stop_b
stop_cotel
if grep -P '\terror\t' "$work/cotel.err"; then
    fail "cotel A logged errors"
fi
echo "PASS: kafka receiver (chain in otlp_proto and otlp_json, broker down at start, malformed" \
    "records, backpressure, restart)"
