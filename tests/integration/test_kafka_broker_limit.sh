#!/usr/bin/env bash
# A broker whose message.max.bytes is below the exporter's max_message_bytes: records it refuses
# as MESSAGE_TOO_LARGE are split further and produced again, so a ~3 MB batch still arrives
# whole; a span too large for the broker on its own is dropped (counted, logged), not retried
# forever, while the spans sent with it arrive.
source "${COTEL_SOURCE_DIR:-$(dirname "$0")/../..}/exporters/kafka/test_lib.sh"

BROKER_LIMIT=300000

start_kd --message-max-bytes $BROKER_LIMIT --partitions 8
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
    librdkafka_properties: {sticky.partitioning.linger.ms: "0"}
$(service_section kafka)
EOF
start_cotel "$work/cotel.yaml"

send traces 5200 5200 "$work/traces.json"
wait_for 60 sent_at_least kafka spans 5200 || fail "5200 spans not delivered within 60 s"
failed=$(metric otelcol_exporter_send_failed_spans_total 'exporter="kafka"')
[ "${failed%.*}" -eq 0 ] || fail "$failed spans failed"
consume otlp_spans "$work/spans.kcat" '%R%s'
python3 - "$work/spans.kcat" "$BROKER_LIMIT" <<'EOF' || fail "a record is over the limit"
import sys

data, limit, sizes, i = open(sys.argv[1], "rb").read(), int(sys.argv[2]), [], 0
while i < len(data):
    n = int.from_bytes(data[i:i + 4], "big")
    sizes.append(n)
    i += 4 + n
print(f"{len(sizes)} records, largest {max(sizes)} bytes (broker limit {limit})")
sys.exit(0 if max(sizes) <= limit else 1)
EOF
verify traces --kafka-framed "$work/spans.kcat" "$work/traces.json"

# A 400 kB span fits the exporter's limit but not the broker's: dropped once the broker refuses
# it alone; its neighbour arrives.
python3 - "$work/big.pb" <<'EOF'
import sys

def varint(n):
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n >> 7 else 0))
        n >>= 7
        if not n:
            return bytes(out)

def field(num, payload):
    return varint(num << 3 | 2) + varint(len(payload)) + payload

def span(i, name, pad):
    attr = field(1, b"pad") + field(2, field(1, b"x" * pad))
    return field(2, field(1, bytes([7] * 15 + [i])) + field(2, bytes([9] * 7 + [i])) +
                 field(5, name.encode()) + field(9, attr))

scope = field(1, field(1, b"limit-test")) + span(1, "too-big-for-broker", 400_000) + \
    span(2, "small-neighbour", 10)
open(sys.argv[1], "wb").write(field(1, field(2, scope)))
EOF
code=$(grpc_export traces "$work/big.pb")
[ "$code" = 0 ] || fail "the request was answered with gRPC status $code"
wait_for 60 sent_at_least kafka spans 5202 || fail "the two spans were not handled within 60 s"
failed=$(metric otelcol_exporter_send_failed_spans_total 'exporter="kafka"')
dropped=$(metric cotel_exporter_kafka_oversize_dropped_spans_total 'exporter="kafka"')
[ "${failed%.*}" -eq 1 ] && [ "${dropped%.*}" -eq 1 ] ||
    fail "expected 1 span failed and dropped, got $failed failed, $dropped dropped"
grep -q "dropped 1 spans too large for one Kafka record" "$work/cotel.err" ||
    fail "no log line about the dropped span"
consume otlp_spans "$work/spans2.kcat" '%s\n'
grep -aq small-neighbour "$work/spans2.kcat" || fail "the small neighbour did not arrive"
if grep -aq too-big-for-broker "$work/spans2.kcat"; then
    fail "the span over the broker's limit was stored"
fi

stop_cotel
echo "PASS: kafka broker limit $BROKER_LIMIT: refused records split again, a lone big span dropped"
