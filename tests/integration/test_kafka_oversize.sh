#!/usr/bin/env bash
# Requests larger than producer::max_message_bytes: a ~3 MB batch from the JS SDK must land as
# several records, none over the limit, with every span intact (otlp_proto and otlp_json); a
# 2 MB span that cannot fit any record is dropped, counted and logged, while the spans sent
# with it arrive.
source "${COTEL_SOURCE_DIR:-$(dirname "$0")/../..}/exporters/kafka/test_lib.sh"

LIMIT=1000000 # the default max_message_bytes

# The development broker (librdkafka's mock cluster) keeps only the last 5 MiB of each
# partition: the ~9 MB of JSON records are spread over 8 partitions, one record at a time
# (no sticky partitioning), so that no partition loses any.
start_kd --topics otlp_spans,j_spans --partitions 8
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
  kafka/json:
    brokers: [$BS]
    traces: {topic: j_spans, encoding: otlp_json}
    librdkafka_properties: {sticky.partitioning.linger.ms: "0"}
$(service_section "kafka, kafka/json")
EOF
start_cotel "$work/cotel.yaml"

# record_sizes FILE FORMAT: checks every record is at most LIMIT bytes; prints "COUNT MAX".
record_sizes() {
    python3 - "$1" "$2" "$LIMIT" <<'EOF'
import sys

path, fmt, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(path, "rb").read()
if fmt == "framed":
    sizes, i = [], 0
    while i < len(data):
        n = int.from_bytes(data[i:i + 4], "big")
        sizes.append(n)
        i += 4 + n
else:
    sizes = [len(line) for line in data.split(b"\n") if line]
over = [n for n in sizes if n > limit]
if over:
    print(f"{len(over)} records over {limit} bytes: {over[:5]}", file=sys.stderr)
    sys.exit(1)
print(len(sizes), max(sizes) if sizes else 0)
EOF
}

# 1. One batch of 5200 spans, about 3 MB of protobuf (and more as JSON).
send traces 5200 5200 "$work/traces.json" --framed-out "$work/sdk.framed"
req_bytes=$(($(stat -c %s "$work/sdk.framed") - 4))
[ "$req_bytes" -gt $((2 * LIMIT)) ] || fail "the batch is only $req_bytes bytes"
for exp in kafka kafka/json; do
    wait_for 60 sent_at_least "$exp" spans 5200 || fail "$exp did not deliver 5200 spans in 60 s"
done
consume otlp_spans "$work/spans.kcat" '%R%s'
consume j_spans "$work/spans.jsonl" '%s\n'
consume j_spans "$work/offsets" '%p %o\n'
awk '!seen[$1]++ && $2 != 0 { bad = 1 } END { exit bad }' "$work/offsets" ||
    fail "the development broker purged records (more than 5 MiB in a partition)"
read -r n_proto max_proto < <(record_sizes "$work/spans.kcat" framed) ||
    fail "otlp_proto records over the limit"
read -r n_json max_json < <(record_sizes "$work/spans.jsonl" lines) ||
    fail "otlp_json records over the limit"
echo "a $req_bytes-byte request became $n_proto otlp_proto records (largest $max_proto bytes)" \
    "and $n_json otlp_json records (largest $max_json bytes)"
[ "$n_proto" -ge 3 ] || fail "expected at least 3 otlp_proto records, got $n_proto"
[ "$n_json" -gt "$n_proto" ] || fail "expected more otlp_json records than protobuf ones"
verify traces --kafka-framed "$work/spans.kcat" "$work/traces.json"
verify traces --otlp-json-lines "$work/spans.jsonl" "$work/traces.json"

# 2. Ten small spans around one of 2 MB in one request, sent as it is over OTLP/gRPC.
python3 - "$work/big.pb" <<'EOF'
import sys

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)

def field(num, payload):
    return varint(num << 3 | 2) + varint(len(payload)) + payload

def attr(key, value):
    return field(1, key.encode()) + field(2, field(1, value.encode()))

def span(i, name, pad=0):
    s = field(1, bytes([0xAB] * 15 + [i])) + field(2, bytes([0xCD] * 7 + [i]))
    s += field(5, name.encode())
    if pad:
        s += field(9, attr("pad", "x" * pad))
    return field(2, s)

spans = b""
for i in range(11):
    spans += span(i, "huge", 2_000_000) if i == 5 else span(i, f"neighbour-{i}")
scope = field(1, field(1, b"oversize-test")) + spans
resource = field(1, field(1, attr("service.name", "oversize-test")))
open(sys.argv[1], "wb").write(field(1, resource + field(2, scope)))
EOF
code=$(grpc_export traces "$work/big.pb")
[ "$code" = 0 ] || fail "the request with the 2 MB span was answered with gRPC status $code"
for exp in kafka kafka/json; do
    wait_for 60 sent_at_least "$exp" spans 5211 || fail "$exp did not handle the 11 spans in 60 s"
    dropped=$(metric cotel_exporter_kafka_oversize_dropped_spans_total "exporter=\"$exp\"")
    failed=$(metric otelcol_exporter_send_failed_spans_total "exporter=\"$exp\"")
    [ "${dropped%.*}" -eq 1 ] || fail "$exp counted $dropped oversize spans, expected 1"
    [ "${failed%.*}" -eq 1 ] || fail "$exp counted $failed failed spans, expected 1"
    grep -q "exporter/$exp	.*dropped 1 spans too large for one Kafka record (largest 2000" \
        "$work/cotel.err" || fail "$exp logged no line about the dropped span"
done
grep "too large for one Kafka record" "$work/cotel.err" | sed 's/^/  log: /'

consume otlp_spans "$work/spans2.kcat" '%R%s'
consume j_spans "$work/spans2.jsonl" '%s\n'
record_sizes "$work/spans2.kcat" framed >/dev/null || fail "otlp_proto records over the limit"
record_sizes "$work/spans2.jsonl" lines >/dev/null || fail "otlp_json records over the limit"
python3 - "$work/spans2.kcat" "$work/spans2.jsonl" <<'EOF' || fail "neighbours missing"
import json, sys

def fields(buf):
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 2:
            n, i = varint(buf, i)
            yield num, buf[i:i + n]
            i += n
        elif wt == 0:
            _, i = varint(buf, i)
        elif wt == 1:
            i += 8
        elif wt == 5:
            i += 4

def varint(buf, i):
    n = shift = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return n, i

def proto_names(path):
    data, names, i = open(path, "rb").read(), [], 0
    while i < len(data):
        n = int.from_bytes(data[i:i + 4], "big")
        for f1, rs in fields(data[i + 4:i + 4 + n]):
            for f2, ss in fields(rs):
                for f3, sp in fields(ss) if f2 == 2 else ():
                    if f3 == 2:
                        names += [v.decode() for f, v in fields(sp) if f == 5]
        i += 4 + n
    return names

def json_names(path):
    names = []
    for line in open(path):
        for rs in json.loads(line).get("resourceSpans", []):
            for ss in rs.get("scopeSpans", []):
                names += [s.get("name") for s in ss.get("spans", [])]
    return names

want = {f"neighbour-{i}" for i in range(11) if i != 5}
ok = True
for kind, names in (("otlp_proto", proto_names(sys.argv[1])),
                    ("otlp_json", json_names(sys.argv[2]))):
    got = [n for n in names if n.startswith("neighbour-") or n == "huge"]
    print(f"{kind}: {sorted(got)}")
    if sorted(got) != sorted(want):
        ok = False
sys.exit(0 if ok else 1)
EOF

stop_cotel
echo "PASS: kafka oversize: split under $LIMIT bytes, the 2 MB span dropped and logged"
