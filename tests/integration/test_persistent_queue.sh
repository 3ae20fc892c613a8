#!/usr/bin/env bash
# The persistent queue keeps every acknowledged item through kill -9: the SDK sends a steady
# stream while the Kafka broker is down, cotel is killed with SIGKILL mid-stream and started
# again, the broker comes back, and every span the SDK saw acknowledged must be in Kafka
# (duplicates allowed and reported). The pipeline has a batch processor with a long timeout,
# which must not hold back what the queue has not persisted. Then damage on disk: a torn tail
# and a flipped byte are dropped and reported at start while the intact entries are delivered.
# Then the disk bound: past it the receiver refuses with UNAVAILABLE and nothing already
# queued is lost.
source "${COTEL_SOURCE_DIR:-$(dirname "$0")/../..}/exporters/kafka/test_lib.sh"

start_kd
kd_signal USR1
OTLP_PORT=$(free_port)
METRICS_PORT=$(free_port)

write_config() { # $1: max_queue_bytes
    cat >"$work/cotel.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$OTLP_PORT
extensions:
  file_storage:
    directory: $work/storage
    create_directory: true
    max_queue_bytes: $1
    segment_bytes: 64KiB
exporters:
  kafka:
    brokers: [$BS]
    timeout: 3s
    retry_on_failure: {initial_interval: 500ms, max_interval: 2s, max_elapsed_time: 0}
    sending_queue: {storage: file_storage, queue_size: 100000, num_consumers: 2}
processors:
  # A batch that would hold spans for 10 s: with a persistent queue downstream it must hold
  # nothing, or the kill -9 below loses what the SDK saw acknowledged.
  batch: {timeout: 10s, send_batch_size: 100000}
service:
  telemetry:
    metrics:
      address: 127.0.0.1:$METRICS_PORT
  extensions: [file_storage]
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [kafka]}
    logs: {receivers: [otlp], processors: [batch], exporters: [kafka]}
EOF
}
write_config 1GiB

# --- kill -9 in the middle of a stream, with the broker down ---------------------------------
start_cotel "$work/cotel.yaml"
send traces 1500 10 "$work/traces.json" --rate 150 --allow-failures --max-seconds 60 &
sender=$!
track "$sender"
sleep 4
kill -KILL "$cotel_pid"
wait "$cotel_pid" 2>/dev/null || true
cotel_pid=""
mv "$work/cotel.err" "$work/cotel.1.err"
ls "$work/storage/exporter_kafka" >/dev/null || fail "no queue directory after the kill"
start_cotel "$work/cotel.yaml"
grep -q "recovered [1-9][0-9]* queued requests" "$work/cotel.err" ||
    fail "the restarted cotel recovered nothing from the queue"
wait "$sender" || fail "send.js failed: $(cat "$work/traces.json.out")"
forget "$sender"
acked=$(json_field "$work/traces.json.out" acknowledged)
refused=$(json_field "$work/traces.json.out" failed)
echo "sent with a SIGKILL in between: $acked spans acknowledged, $refused refused or unsent"
[ "$acked" -gt 500 ] || fail "too few spans acknowledged ($acked) for the test to mean much"

kd_signal USR2
wait_for 60 sent_at_least kafka spans "$((acked * 9 / 10))" ||
    fail "the queue was not delivered within 60 s of the broker's return"
stop_cotel
consume otlp_spans "$work/spans.kcat" '%R%s'
verify traces --kafka-framed "$work/spans.kcat" "$work/traces.json" --allow-duplicates

# --- damage on disk: a torn tail and a flipped byte ------------------------------------------
kd_signal USR1
start_cotel "$work/cotel.yaml"
send logs 40 1 "$work/logs.json"
stop_cotel
seg=$(ls "$work/storage/exporter_kafka"/*.seg | sort | tail -n 1)
python3 - "$seg" <<'PY'
import struct, sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
# Walk the entries: a 20-byte header (magic, length, items, signal, crc), then the payload.
offs, off = [], 0
while off + 20 <= len(data):
    offs.append(off)
    off += 20 + struct.unpack_from("<I", data, off + 4)[0]
assert len(offs) >= 5, offs
data[offs[2] + 30] ^= 0x5A            # a flipped byte inside the third entry's payload
data += b"CTQ1\xff\xff"               # a torn write at the end
open(path, "wb").write(bytes(data))
PY
kd_signal USR2
start_cotel "$work/cotel.yaml"
grep -q "fails its checksum: dropped" "$work/cotel.err" || fail "flipped byte not reported"
grep -q "are torn or corrupt: truncated" "$work/cotel.err" || fail "torn tail not reported"
grep -q "2 damaged parts dropped" "$work/cotel.err" || fail "damage count not reported"
wait_for 30 sent_at_least kafka log_records 39 || fail "intact log records not delivered"
corrupt=$(metric cotel_exporter_queue_corrupt_parts_total 'exporter="kafka"')
[ "${corrupt%.*}" -eq 2 ] || fail "corrupt parts metric is $corrupt, expected 2"
stop_cotel
consume otlp_logs "$work/logs.kcat" '%R%s'
verify_js "$work/logs.verify" --manifest "$work/logs.json" --signal logs \
    --kafka-framed "$work/logs.kcat" --expect-min 39 --report "$work/logs.report" || true
n=$(json_field "$work/logs.report" matched)
[ "$n" -eq 39 ] || fail "expected the 39 intact log records in Kafka, found $n"
echo "damage: 1 flipped entry and 1 torn tail dropped and reported; 39 intact records delivered"

# --- the disk bound ---------------------------------------------------------------------------
kd_signal USR1
write_config 200KiB
start_cotel "$work/cotel.yaml"
send traces 3000 50 "$work/bound.json" --allow-failures
acked=$(json_field "$work/bound.json.out" acknowledged)
refused=$(json_field "$work/bound.json.out" failed)
[ "$refused" -gt 0 ] || fail "the disk bound never refused"
grep -q "UNAVAILABLE" "$work/bound.json.out" ||
    fail "refusals were not UNAVAILABLE: $(cat "$work/bound.json.out")"
kd_signal USR2
wait_for 60 sent_at_least kafka spans "$acked" || fail "queued spans not delivered after the bound"
stop_cotel
consume otlp_spans "$work/bound.kcat" '%R%s'
verify traces --kafka-framed "$work/bound.kcat" "$work/bound.json" --allow-duplicates
echo "PASS: persistent queue: kill -9, damage and disk bound; nothing acknowledged was lost"
