#!/usr/bin/env bash
# Graceful shutdown under a steady stream: after SIGTERM, everything the SDK client saw
# acknowledged must be in the file exporter's output when cotel exits (with 0, the shutdown
# logged). A second SIGTERM during a long drain must end cotel at once with 130.
set -euo pipefail
export LC_ALL=C
source "$(dirname "$0")/lib/common.sh"

require_built "$COTEL"
require_js

# --- 1. SIGTERM while two SDK clients stream spans (through a batch processor) and log records.
GRPC=$(free_port)
cat >"$work/load.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$GRPC
processors:
  # Holds spans for 3 s: at SIGTERM it has data that only the shutdown flush can deliver.
  batch:
    timeout: 3s
    send_batch_size: 100000
exporters:
  file:
    path: $work/out.jsonl
service:
  shutdown_timeout: 15s
  telemetry:
    metrics: {level: none}
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [file]}
    logs: {receivers: [otlp], exporters: [file]}
EOF
start_cotel "$work/load.yaml"

sender_pids=()
for signal in traces logs; do
    send_js "$work/$signal.send.json" --signal "$signal" --protocol grpc \
        --endpoint "http://127.0.0.1:$GRPC" --count 6000 --batch 20 --rate 500 --allow-failures \
        --timeout-ms 3000 --max-seconds 40 --seed "shutdown-$signal" \
        --manifest "$work/$signal.manifest.json" &
    sender_pids+=($!)
    track $!
done

# Let the stream run for a while, so the SIGTERM lands in the middle of it.
wait_for 20 eval '[ "$(wc -l <"$work/out.jsonl" 2>/dev/null || echo 0)" -ge 40 ]' ||
    fail "the file exporter wrote fewer than 40 requests in 20 s"
sleep 1
kill -TERM "$cotel_pid"
wait_exit "$cotel_pid" 20 cotel
[ "$RC" -eq 0 ] || fail "exit status $RC after SIGTERM under load, expected 0"
grep -q 'received SIGTERM: shutting down' "$work/cotel.err" || fail "SIGTERM not logged"
grep -q 'shutdown complete' "$work/cotel.err" || fail "'shutdown complete' not logged"
if grep -q 'could not be delivered\|dropping' "$work/cotel.err"; then
    fail "data was dropped during a shutdown that had time to drain"
fi

for pid in "${sender_pids[@]}"; do
    wait "$pid" || fail "send.js exited with an error (see below)"
    forget "$pid"
done
for signal in traces logs; do
    ack=$(json_field "$work/$signal.send.json" acknowledged)
    failed=$(json_field "$work/$signal.send.json" failed)
    # Both halves are needed: some data acknowledged before the signal, some refused after it.
    [ "$ack" -gt 0 ] || fail "$signal: nothing acknowledged"
    [ "$failed" -gt 0 ] || fail "$signal: nothing failed: SIGTERM did not land mid-stream"
    verify_js "$work/$signal.verify.json" --manifest "$work/$signal.manifest.json" \
        --signal "$signal" --otlp-json-lines "$work/out.jsonl" ||
        fail "$signal: acknowledged items missing or wrong:" \
            "$(head -c 2000 "$work/$signal.verify.json")"
    echo "ok: $signal: all $ack acknowledged items written before exit ($failed refused or unsent)"
done

# --- 2. A second SIGTERM during a long drain ends cotel at once with 130.
GRPC=$(free_port)
DEAD=$(free_port) # nothing listens here: every send fails and is retried
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
service:
  shutdown_timeout: 120s
  telemetry:
    metrics: {level: none}
  pipelines:
    traces: {receivers: [otlp], exporters: [otlp_grpc]}
EOF
start_cotel "$work/drain.yaml"
send_js "$work/drain.send.json" --signal traces --protocol grpc \
    --endpoint "http://127.0.0.1:$GRPC" --count 30 --batch 10 ||
    fail "send.js: $(cat "$work/drain.send.json")"
wait_for 15 grep -q 'send failed, will retry' "$work/cotel.err" || fail "no failing send to drain"

kill -TERM "$cotel_pid"
wait_for 10 grep -q 'received SIGTERM: shutting down' "$work/cotel.err" ||
    fail "first SIGTERM not logged"
sleep 1
kill -0 "$cotel_pid" 2>/dev/null || fail "cotel exited before the second SIGTERM"
t0=$(date +%s%N)
kill -TERM "$cotel_pid"
wait_exit "$cotel_pid" 5 cotel
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$RC" -eq 130 ] || fail "exit status $RC after the second SIGTERM, expected 130"
[ "$ms" -lt 2000 ] || fail "the second SIGTERM took ${ms} ms to end cotel"
grep -q 'second signal (SIGTERM): exiting without finishing shutdown' "$work/cotel.err" ||
    fail "the second signal was not logged"
echo "ok: second SIGTERM during a 120 s drain: exit 130 after ${ms} ms"

echo "PASS: graceful shutdown under load lost nothing acknowledged; a second SIGTERM exits at once"
