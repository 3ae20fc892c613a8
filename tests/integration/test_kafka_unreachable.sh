#!/usr/bin/env bash
# Kafka unreachable when cotel starts: cotel must start anyway, accept data until its small
# sending queue is full, then answer UNAVAILABLE (the SDK sees the refusal), and deliver every
# span it accepted once the broker appears.
source "${COTEL_SOURCE_DIR:-$(dirname "$0")/../..}/exporters/kafka/test_lib.sh"

# The broker exists but is down (its ports refuse connections) before cotel starts.
start_kd
kd_signal USR1
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
    timeout: 3s
    sending_queue: {queue_size: 5, num_consumers: 2}
    retry_on_failure: {initial_interval: 500ms, max_interval: 2s, max_elapsed_time: 0}
$(service_section kafka)
EOF
t0=$SECONDS
start_cotel "$work/cotel.yaml"
[ $((SECONDS - t0)) -le 5 ] || fail "cotel took $((SECONDS - t0)) s to start with Kafka down"

# 12 batches of 10: 2 taken by the queue's consumers, 5 queued, the rest refused.
send traces 120 10 "$work/traces.json" --allow-failures --timeout-ms 3000
acked=$(json_field "$work/traces.json.out" acknowledged)
failed=$(json_field "$work/traces.json.out" failed)
first_error=$(json_field "$work/traces.json.out" firstError)
echo "with Kafka down: $acked spans accepted, $failed refused (first error: $first_error)"
[ "$acked" -gt 0 ] || fail "nothing was accepted while Kafka was down"
[ "$failed" -gt 0 ] || fail "nothing was refused although the queue holds 5 requests"
case "$first_error" in
*UNAVAILABLE*) ;;
*) fail "refusal was not UNAVAILABLE: $first_error" ;;
esac
refused=$(metric otelcol_exporter_enqueue_failed_spans_total 'exporter="kafka"')
[ "${refused%.*}" -gt 0 ] || fail "the exporter counted no refused spans"
wait_for 20 grep -q "Kafka unreachable" "$work/cotel.err" ||
    fail "no \"Kafka unreachable\" log line"
sent=$(metric otelcol_exporter_sent_spans_total 'exporter="kafka"')
[ "${sent%.*}" -eq 0 ] || fail "$sent spans reported sent while Kafka was down"

kd_signal USR2
wait_for 60 sent_at_least kafka spans "$acked" ||
    fail "accepted spans not delivered within 60 s after Kafka came up"
wait_for 10 grep -q "Kafka reachable again" "$work/cotel.err" ||
    fail "no \"Kafka reachable again\" log line"

consume otlp_spans "$work/spans.kcat" '%R%s'
verify traces --kafka-framed "$work/spans.kcat" "$work/traces.json" --allow-duplicates
stop_cotel
echo "PASS: kafka unreachable at start: started, refused when full, delivered $acked spans later"
