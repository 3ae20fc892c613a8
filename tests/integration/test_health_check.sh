#!/usr/bin/env bash
# The health_check extension as Kubernetes probes see it: 200 while running; 503 while shutdown
# drains an exporter that cannot deliver; with check_collector_pipeline, 503 naming the Kafka
# exporter while the broker is down past the interval, and 200 again once delivery resumes.
source "${COTEL_SOURCE_DIR:-$(dirname "$0")/../..}/exporters/kafka/test_lib.sh"

# (Read whole first: grep -q ending the pipe early would fail it under pipefail.)
components=$("$COTEL" components)
if ! grep -q '^  kafka ' <<<"$components"; then
    echo "FAIL: this cotel has no kafka exporter" >&2
    exit 1
fi

# health PORT: sets CODE (000 when nothing answers) and BODY.
health() {
    CODE=$(curl -s -m 2 -o "$work/health.body" -w '%{http_code}' "http://127.0.0.1:$1/" || true)
    BODY=$(cat "$work/health.body" 2>/dev/null || true)
    rm -f "$work/health.body"
}

# exits_cleanly SECONDS: cotel, sent SIGTERM, must exit within SECONDS, with 0.
exits_cleanly() {
    wait_exit "$cotel_pid" "$1" cotel
    [ "$RC" -eq 0 ] || fail "cotel exit status $RC after SIGTERM, expected 0"
}

send_to() { # OUT PORT SIGNAL COUNT [send.js options...]: send.js's summary in OUT
    local out=$1 port=$2 signal=$3 count=$4
    shift 4
    send_js "$out" --signal "$signal" --protocol grpc --endpoint "http://127.0.0.1:$port" \
        --count "$count" --batch 10 "$@"
}

# --- 1. 200 while running, 503 while shutting down with data that cannot be delivered.
GRPC=$(free_port)
HEALTH=$(free_port)
DEAD=$(free_port) # nothing listens here: the otlp_grpc exporter's sends fail
cat >"$work/drain.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$GRPC
exporters:
  otlp_grpc:
    endpoint: 127.0.0.1:$DEAD
    tls: {insecure: true}
    timeout: 1s
    retry_on_failure: {initial_interval: 200ms, max_interval: 500ms, max_elapsed_time: 0}
extensions:
  health_check:
    endpoint: 127.0.0.1:$HEALTH
service:
  extensions: [health_check]
  shutdown_timeout: 5s
  telemetry:
    metrics: {level: none}
  pipelines:
    traces: {receivers: [otlp], exporters: [otlp_grpc]}
EOF
start_cotel "$work/drain.yaml"
wait_for 15 eval 'health $HEALTH; [ "$CODE" = 200 ]' ||
    fail "health not 200 within 15 s of starting: $CODE $BODY"
[[ "$BODY" == *'"status":"Server available"'* ]] || fail "200 body: $BODY"
python3 -c 'import json, sys; json.loads(sys.argv[1])' "$BODY" || fail "200 body not JSON: $BODY"

send_to "$work/send1.json" "$GRPC" traces 40 || fail "send.js: $(cat "$work/send1.json")"
wait_for 15 grep -q 'send failed, will retry' "$work/cotel.err" ||
    fail "the otlp_grpc exporter never failed a send"

kill -TERM "$cotel_pid"
t0=$SECONDS
saw503=0
while kill -0 "$cotel_pid" 2>/dev/null && [ $((SECONDS - t0)) -lt 20 ]; do
    health "$HEALTH"
    if [ "$CODE" = 503 ]; then
        [[ "$BODY" == *'"reason":"shutting down"'* ]] || fail "503 during shutdown: $BODY"
        python3 -c 'import json, sys; json.loads(sys.argv[1])' "$BODY" ||
            fail "503 body not JSON: $BODY"
        saw503=$((saw503 + 1))
    elif [ "$CODE" = 200 ]; then
        fail "health answered 200 after SIGTERM"
    fi
    sleep 0.2
done
exits_cleanly 20
elapsed=$((SECONDS - t0))
# The drain lasts shutdown_timeout (5 s): many probes must have seen 503.
[ "$saw503" -ge 5 ] || fail "only $saw503 probes saw 503 while shutdown drained"
[ "$elapsed" -ge 4 ] ||
    fail "shutdown took ${elapsed}s: the exporter did not drain until its deadline"
grep -Eq 'dropping [0-9]+ spans: shutdown deadline reached|queued items could not be delivered' \
    "$work/cotel.err" || fail "the spans left undelivered at the deadline were not logged"
grep -q 'shutdown complete' "$work/cotel.err" || fail "no 'shutdown complete' line"
# Four requests were in flight: the rate-limited drop lines held back are counted before exit.
grep -Eq 'error[[:space:]]exporter/otlp_grpc[[:space:]][0-9]+ more similar messages? (was|were) held back' \
    "$work/cotel.err" || fail "the drop lines held back by the rate limit were not counted"
echo "ok: 200 while running, 503 \"shutting down\" on $saw503 probes during a ${elapsed}s drain"

# --- 2. check_collector_pipeline: Kafka down past the interval, then back.
start_kd
GRPC=$(free_port)
HEALTH=$(free_port)
METRICS=$(free_port)
cat >"$work/kafka.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$GRPC
exporters:
  kafka:
    brokers: [$BS]
    timeout: 1s
    retry_on_failure: {initial_interval: 200ms, max_interval: 500ms, max_elapsed_time: 0}
extensions:
  health_check:
    endpoint: 127.0.0.1:$HEALTH
    check_collector_pipeline:
      enabled: true
      interval: 3s
service:
  extensions: [health_check]
  shutdown_timeout: 5s
  telemetry:
    metrics: {address: 127.0.0.1:$METRICS}
  pipelines:
    logs: {receivers: [otlp], exporters: [kafka]}
EOF
start_cotel "$work/kafka.yaml"
wait_for 15 eval 'health $HEALTH; [ "$CODE" = 200 ]' ||
    fail "health not 200 within 15 s of starting with Kafka: $CODE $BODY"

sent_logs() {
    metric_value "$METRICS" otelcol_exporter_sent_log_records_total 'exporter="kafka"'
}
send_to "$work/send2.json" "$GRPC" logs 20 --seed hc-1 ||
    fail "send.js: $(cat "$work/send2.json")"
wait_for 20 eval '[ "$(sent_logs)" = 20 ]' ||
    fail "20 log records not delivered to Kafka: $(sent_logs)"
health "$HEALTH"
[ "$CODE" = 200 ] || fail "health $CODE with Kafka up: $BODY"

kill -USR1 "$kd_pid"
down_at=$(date +%s.%N)
wait_for 10 grep -q 'SIGUSR1: brokers down' "$work/kd.err" || fail "cotel-kafka-dev did not go down"
# The queue keeps retrying these while the brokers are down.
send_to "$work/send3.json" "$GRPC" logs 30 --seed hc-2 ||
    fail "send.js: $(cat "$work/send3.json")"
unhealthy_at=""
deadline=$((SECONDS + 40))
while [ "$SECONDS" -lt "$deadline" ]; do
    health "$HEALTH"
    if [ "$CODE" = 503 ]; then
        unhealthy_at=$(date +%s.%N)
        break
    fi
    [ "$CODE" = 200 ] || fail "health answered $CODE while Kafka was down: $BODY"
    sleep 0.2
done
[ -n "$unhealthy_at" ] || fail "health still 200 40 s into the Kafka outage"
[[ "$BODY" == *'exporter/kafka has failed to deliver for'* ]] ||
    fail "503 does not name the Kafka exporter: $BODY"
python3 -c 'import json, sys; json.loads(sys.argv[1])' "$BODY" || fail "503 body not JSON: $BODY"
python3 -c 'import sys; sys.exit(0 if float(sys.argv[2]) - float(sys.argv[1]) >= 3.0 else 1)' \
    "$down_at" "$unhealthy_at" || fail "503 came before the 3 s interval had passed"
echo "ok: 503 naming exporter/kafka during the outage ($BODY)"

kill -USR2 "$kd_pid"
wait_for 40 eval 'health $HEALTH; [ "$CODE" = 200 ]' ||
    fail "health not back to 200 within 40 s of Kafka's return: $CODE $BODY"
wait_for 20 eval '[ "$(sent_logs)" = 50 ]' ||
    fail "after the outage $(sent_logs) log records delivered, expected 50"
echo "ok: 200 again after Kafka returned, all 50 log records delivered"

kill -TERM "$cotel_pid"
exits_cleanly 15
echo "PASS: health_check answers 200 running, 503 shutting down and 503 on a failing exporter"
