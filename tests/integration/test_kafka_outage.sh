#!/usr/bin/env bash
# A Kafka outage in a steady stream: the JS SDK sends spans at a steady rate while every broker
# goes down (SIGUSR1) for 30 s and comes back (SIGUSR2). cotel keeps answering the SDK, holds the
# data in its sending queue and delivers it afterwards: no acknowledged span may be missing
# (duplicates are allowed and reported).
source "${COTEL_SOURCE_DIR:-$(dirname "$0")/../..}/exporters/kafka/test_lib.sh"

OUTAGE_S=30

start_kd
OTLP_PORT=$(free_port)
METRICS_PORT=$(free_port)

cat >"$work/cotel.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$OTLP_PORT
exporters:
  kafka:
    brokers: [$BS]
    partition_traces_by_id: true
    timeout: 5s
    retry_on_failure: {initial_interval: 1s, max_interval: 5s, max_elapsed_time: 300s}
$(service_section kafka)
EOF
start_cotel "$work/cotel.yaml"

# 60 s of spans at 50 per second in batches of 25; the outage runs from 10 s to 40 s.
send traces 3000 25 "$work/traces.json" --rate 50 --max-seconds 120 &
sender=$!
track "$sender"
sleep 10
kd_signal USR1
down_at=$SECONDS
wait_for 20 grep -q "Kafka unreachable" "$work/cotel.err" ||
    fail "no \"Kafka unreachable\" log line 20 s into the outage"
sleep $((OUTAGE_S - (SECONDS - down_at)))
queued=$(metric otelcol_exporter_queue_size 'exporter="kafka"')
kd_signal USR2
echo "brokers down for $((SECONDS - down_at)) s; $queued requests queued at the end"

wait "$sender" || fail "send.js failed: $(cat "$work/traces.json.out")"
forget "$sender"
acked=$(json_field "$work/traces.json.out" acknowledged)
failed=$(json_field "$work/traces.json.out" failed)
[ "$failed" -eq 0 ] ||
    fail "cotel refused $failed spans during the outage (its queue should hold them)"
[ "$queued" -gt 0 ] || fail "nothing was queued during the outage: the outage was not seen"

wait_for 90 sent_at_least kafka spans "$acked" ||
    fail "spans not delivered within 90 s after the outage"
failed=$(metric otelcol_exporter_send_failed_spans_total 'exporter="kafka"')
[ "${failed%.*}" -eq 0 ] || fail "the exporter gave up on $failed spans"
wait_for 10 grep -q "Kafka reachable again" "$work/cotel.err" ||
    fail "no \"Kafka reachable again\" log line"
n=$(grep -c "Kafka unreachable (" "$work/cotel.err" || true)
[ "$n" -eq 1 ] ||
    fail "\"Kafka unreachable\" announced $n times (once, then rate-limited, expected)"

consume otlp_spans "$work/spans.kcat" '%R%s'
verify traces --kafka-framed "$work/spans.kcat" "$work/traces.json" --allow-duplicates
dups=$(json_field "$work/spans.kcat.report" duplicates)
stop_cotel
echo "PASS: kafka outage of ${OUTAGE_S} s: $acked spans acknowledged, none lost, $dups duplicates"
