#!/usr/bin/env bash
# The kafka exporter end to end: the OpenTelemetry JS SDK sends traces, metrics and logs over
# gRPC to cotel, which produces them to the development broker as otlp_proto and otlp_json, and
# partitioned by trace id and by resource; kcat reads every topic back and verify.js compares
# every item with what was sent. Also checks the record keys and partitions.
source "${COTEL_SOURCE_DIR:-$(dirname "$0")/../..}/exporters/kafka/test_lib.sh"

start_kd --partitions 4
OTLP_PORT=$(free_port)
METRICS_PORT=$(free_port)

cat >"$work/cotel.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$OTLP_PORT
exporters:
  kafka/proto:
    brokers: [$BS]
  kafka/json:
    brokers: [$BS]
    traces: {topic: j_spans, encoding: otlp_json}
    metrics: {topic: j_metrics, encoding: otlp_json}
    logs: {topic: j_logs, encoding: otlp_json}
  kafka/keyed:
    brokers: [$BS]
    producer: {required_acks: all, compression: zstd}
    traces: {topic: k_spans, encoding: otlp_json}
    metrics: {topic: k_metrics, encoding: otlp_json}
    logs: {topic: k_logs, encoding: otlp_json}
    partition_traces_by_id: true
    partition_metrics_by_resource_attributes: true
    partition_logs_by_resource_attributes: true
$(service_section "kafka/proto, kafka/json, kafka/keyed")
EOF
start_cotel "$work/cotel.yaml"

# Batches of 100 spans cut some three-span traces in two: their halves must still share a key
# and a partition.
send traces 600 100 "$work/traces.json" --framed-out "$work/sdk_spans.framed"
send metrics 300 100 "$work/metrics.json"
send logs 300 100 "$work/logs.json"

for exp in kafka/proto kafka/json kafka/keyed; do
    for kind in spans:600 metric_points:300 log_records:300; do
        wait_for 60 sent_at_least "$exp" "${kind%%:*}" "${kind##*:}" ||
            fail "$exp did not deliver ${kind##*:} ${kind%%:*} within 60 s"
    done
done
for exp in kafka/proto kafka/json kafka/keyed; do
    for item in spans metric_points log_records; do
        failed=$(metric "otelcol_exporter_send_failed_${item}_total" "exporter=\"$exp\"")
        [ "${failed%.*}" -eq 0 ] || fail "$exp: $failed $item failed"
    done
done

# otlp_proto: the default topics, each record a protobuf request.
consume otlp_spans "$work/p_spans.kcat" '%R%s'
consume otlp_metrics "$work/p_metrics.kcat" '%R%s'
consume otlp_logs "$work/p_logs.kcat" '%R%s'
verify traces --kafka-framed "$work/p_spans.kcat" "$work/traces.json"
# No decoding and re-encoding: each record is one request exactly as the SDK encoded it.
python3 - "$work/sdk_spans.framed" "$work/p_spans.kcat" <<'EOF' || fail "records differ"
import sys

def frames(path):
    data, out, i = open(path, "rb").read(), [], 0
    while i < len(data):
        n = int.from_bytes(data[i:i + 4], "big")
        out.append(data[i + 4:i + 4 + n])
        i += 4 + n
    return sorted(out)

sent, stored = frames(sys.argv[1]), frames(sys.argv[2])
print(f"otlp_proto: {len(stored)} records, byte-identical to the SDK's {len(sent)} requests: "
      f"{sent == stored}")
sys.exit(0 if sent == stored else 1)
EOF
verify metrics --kafka-framed "$work/p_metrics.kcat" "$work/metrics.json"
verify logs --kafka-framed "$work/p_logs.kcat" "$work/logs.json"

# otlp_json: one OTLP/JSON request per record.
consume j_spans "$work/j_spans.jsonl" '%s\n'
consume j_metrics "$work/j_metrics.jsonl" '%s\n'
consume j_logs "$work/j_logs.jsonl" '%s\n'
verify traces --otlp-json-lines "$work/j_spans.jsonl" "$work/traces.json"
verify metrics --otlp-json-lines "$work/j_metrics.jsonl" "$work/metrics.json"
verify logs --otlp-json-lines "$work/j_logs.jsonl" "$work/logs.json"

# Partitioned: check keys and partitions, then the items themselves.
for t in spans metrics logs; do
    consume "k_$t" "$work/k_$t.kcat" '%p\t%k\t%s\n'
done
python3 - "$work" <<'EOF' || fail "record keys or partitions are wrong"
import json, re, sys

work = sys.argv[1]
ok = True

def records(name):
    """(partition, key, request) of every record; also writes the values as JSON lines."""
    out = []
    with open(f"{work}/{name}.kcat") as f, open(f"{work}/{name}.jsonl", "w") as values:
        for line in f:
            p, k, v = line.rstrip("\n").split("\t", 2)
            values.write(v + "\n")
            out.append((int(p), k, json.loads(v)))
    return out

def problem(msg):
    global ok
    ok = False
    print("  " + msg)

# Traces: the key is the trace id of every span in the record; a trace has one partition.
trace_parts, spans = {}, 0
for p, k, req in records("k_spans"):
    if not re.fullmatch(r"[0-9a-f]{32}", k):
        problem(f"trace record key {k!r} is not a 32-character lowercase hex trace id")
    for rs in req.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                spans += 1
                if span.get("traceId", "").lower() != k:
                    problem(f"span of trace {span.get('traceId')} in the record keyed {k}")
    trace_parts.setdefault(k, set()).add(p)
split = [k for k, ps in trace_parts.items() if len(ps) > 1]
if split:
    problem(f"{len(split)} traces spread over several partitions, e.g. {split[0]}")
print(f"traces: {spans} spans, {len(trace_parts)} traces, one key and one partition each")
if len({p for ps in trace_parts.values() for p in ps}) < 2:
    problem("every trace in one partition: the keys do not spread records")
if len(trace_parts) != 200:
    problem(f"expected 200 traces (600 spans in traces of three), found {len(trace_parts)}")

# Metrics and logs: one resource per record (or several with the same attributes); the key
# follows the attributes, and a key has one partition.
def attrs(resource):
    return json.dumps(sorted(resource.get("attributes", []), key=lambda a: a["key"]),
                      sort_keys=True)

for name, field in (("k_metrics", "resourceMetrics"), ("k_logs", "resourceLogs")):
    key_attrs, key_parts = {}, {}
    recs = records(name)
    for p, k, req in recs:
        if not re.fullmatch(r"[0-9a-f]{16}", k):
            problem(f"{name}: key {k!r} is not a 16-character hex hash")
        sets = {attrs(r.get("resource", {})) for r in req.get(field, [])}
        if len(sets) != 1:
            problem(f"{name}: a record mixes {len(sets)} different resources")
        key_attrs.setdefault(k, set()).update(sets)
        key_parts.setdefault(k, set()).add(p)
    if any(len(s) > 1 for s in key_attrs.values()):
        problem(f"{name}: one key for different resources")
    all_sets = [s for v in key_attrs.values() for s in v]
    if len(all_sets) != len(set(all_sets)):
        problem(f"{name}: one resource under different keys")
    if any(len(s) > 1 for s in key_parts.values()):
        problem(f"{name}: a key spread over several partitions")
    # Expected: one record per resource of each request, as the unpartitioned topic has them.
    want_recs, want_keys = 0, set()
    with open(f"{work}/j_{name[2:]}.jsonl") as f:
        for line in f:
            sets = {attrs(r.get("resource", {})) for r in json.loads(line).get(field, [])}
            want_recs += len(sets)
            want_keys |= sets
    if len(key_attrs) != len(want_keys) or len(recs) != want_recs:
        problem(f"{name}: expected {len(want_keys)} keys in {want_recs} records, "
                f"found {len(key_attrs)} in {len(recs)}")
    print(f"{name}: {len(recs)} records, {len(key_attrs)} resource keys, one partition each")

sys.exit(0 if ok else 1)
EOF
verify traces --otlp-json-lines "$work/k_spans.jsonl" "$work/traces.json"
verify metrics --otlp-json-lines "$work/k_metrics.jsonl" "$work/metrics.json"
verify logs --otlp-json-lines "$work/k_logs.jsonl" "$work/logs.json"

stop_cotel
if grep -P '\terror\t' "$work/cotel.err"; then
    fail "cotel logged errors"
fi
echo "PASS: kafka export (otlp_proto, otlp_json, partitioned by trace id and resource)"
