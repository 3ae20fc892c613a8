#!/usr/bin/env bash
# What the otlp receiver answers over gRPC to bad input, with exact status codes: truncated and
# random bodies, wrong wire types, empty requests, empty scopes, oversized messages (plain and
# gzip), unknown methods, signals with no pipeline, a pipeline that refuses. After each, a good
# request must still succeed, and in the end exactly the good items are in the file, counted by
# the receiver.
set -euo pipefail
export LC_ALL=C
source "$(dirname "$0")/lib/common.sh"

require_built "$COTEL" "$RAW"
require_tools node

# counter NAME RECEIVER: one of the receiver's counters, "absent" when it is not there.
counter() {
    local value
    value=$(metric_value "$mport" "$1" "receiver=\"$2\"")
    echo "${value:-absent}"
}

# The requests, written by hand in the protobuf wire format so that each flaw is exact.
cat >"$work/gen.js" <<'EOF'
'use strict';
const fs = require('fs');
const dir = process.argv[2];
const varint = (v) => {
    const out = [];
    let n = BigInt(v);
    while (n > 127n) { out.push(Number(n & 127n) | 128); n >>= 7n; }
    out.push(Number(n));
    return Buffer.from(out);
};
const tag = (field, wt) => varint(field * 8 + wt);
const len = (field, payload) => Buffer.concat([tag(field, 2), varint(payload.length), payload]);
const str = (field, s) => len(field, Buffer.from(s));
const vint = (field, v) => Buffer.concat([tag(field, 0), varint(v)]);
const fixed64 = (field, v) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    return Buffer.concat([tag(field, 1), b]);
};
const cat = (...parts) => Buffer.concat(parts);
const now = 1700000000000000000n;

// ExportTraceServiceRequest{resource_spans{resource, scope_spans{scope, spans}}}
const resource = len(1, len(1, cat(str(1, 'service.name'), len(2, str(1, 'bad-input-test')))));
const span = (name, i) => cat(len(1, Buffer.alloc(16, 0x11)), len(2, Buffer.alloc(8, i + 1)),
    str(5, name), fixed64(7, now), fixed64(8, now + 1000n));
const traces = (...spans) => len(1, cat(resource, len(2, cat(len(1, str(1, 'scope')),
    ...spans.map((s) => len(2, s))))));
const metrics = (...points) => len(1, cat(resource, len(2, cat(len(1, str(1, 'scope')),
    len(2, cat(str(1, 'good.gauge'), len(5, cat(...points.map((p) => len(1, p))))))))));
const point = (v) => cat(fixed64(3, now), fixed64(6, v)); // time_unix_nano, as_int
const logs = (...records) => len(1, cat(resource, len(2, cat(len(1, str(1, 'scope')),
    ...records.map((r) => len(2, r))))));
const record = (body) => cat(fixed64(1, now), vint(2, 9), len(5, str(1, body)));

const files = {
    'good-traces': traces(span('good', 0), span('good', 1)),
    'good-metrics': metrics(point(1), point(2), point(3)),
    'good-logs': logs(record('good')),
    'empty': Buffer.alloc(0),
    // A resource with attributes but no scope, and one with an empty scope: no item at all.
    'empty-scopes': cat(len(1, resource), len(1, cat(resource, len(2, len(1, str(1, 'x'))))),
        len(1, len(2, Buffer.alloc(0)))),
    'empty-scopes-logs': cat(len(1, resource), len(1, len(2, Buffer.alloc(0)))),
    'wrong-type-top': vint(1, 5), // resource_spans as a varint
    'wrong-type-span-name': traces(cat(len(1, Buffer.alloc(16, 1)), vint(5, 7))),
    'wrong-type-metric-point': metrics(cat(fixed64(3, now), vint(6, 42))), // as_int as varint
    'wrong-type-log-severity': logs(cat(fixed64(1, now), str(2, 'nine'))),
    'length-past-end': cat(tag(1, 2), varint(1000), Buffer.alloc(10)),
    'big-3mib': traces(span('x'.repeat(3 << 20), 9)),
    'big-5mib': traces(span('y'.repeat(5 << 20), 9)),
};
const good = files['good-traces'];
files.truncated = good.subarray(0, good.length - 5);
// Random bytes from a fixed seed, so that the answer is the same on every run.
let x = 0x2545f491;
files.random = Buffer.alloc(512).map(() => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x & 0xff;
});
for (const [name, bytes] of Object.entries(files)) {
    fs.writeFileSync(`${dir}/${name}.bin`, bytes);
}
EOF
node "$work/gen.js" "$work" || fail "could not write the test requests"

port=$(free_port)
port2=$(free_port)
port3=$(free_port)
mport=$(free_port)
cat >"$work/cotel.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$port
        include_metadata: true
        max_concurrent_streams: 64
        keepalive:
          server_parameters: {max_connection_idle: 1m, max_connection_age: 10m,
                              max_connection_age_grace: 5s, time: 30s, timeout: 5s}
          enforcement_policy: {min_time: 10s, permit_without_stream: true}
  otlp/traces_only:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$port2
  otlp/limited:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$port3
processors:
  # Always over a 1 MiB limit: the pipeline refuses everything this receiver takes.
  memory_limiter: {check_interval: 100ms, limit_mib: 1, spike_limit_mib: 0}
exporters:
  file:
    path: $work/out.jsonl
service:
  telemetry:
    metrics:
      address: 127.0.0.1:$mport
  pipelines:
    traces: {receivers: [otlp, otlp/traces_only], exporters: [file]}
    metrics: {receivers: [otlp], exporters: [file]}
    logs: {receivers: [otlp], exporters: [file]}
    traces/limited: {receivers: [otlp/limited], processors: [memory_limiter], exporters: [file]}
EOF

start_cotel "$work/cotel.yaml"
for p in $port $port2 $port3; do
    grep -q "OTLP/gRPC listening on 127.0.0.1:$p" "$work/cotel.err" ||
        fail "no receiver logged that it listens on 127.0.0.1:$p"
done

good_spans=0
good_points=0
good_records=0
checks=0

# expect STATUS [client options...] ADDRESS METHOD NAME: one call, its exact status code.
expect() {
    local want=$1
    shift
    local args=("$@")
    local n=${#args[@]}
    args[n - 1]="$work/${args[n - 1]}.bin"
    local got
    got=$("$RAW" --wait --timeout 20 "${args[@]}" 2>"$work/raw.err") ||
        fail "otlp-raw-client $*: no status ($(cat "$work/raw.err"))"
    [ "$got" = "$want" ] || fail "$*: got $got ($(cat "$work/raw.err")), want $want"
    kill -0 "$cotel_pid" 2>/dev/null || fail "cotel died after $*"
    checks=$((checks + 1))
}

# A good request of each signal, after every bad one: the server still serves.
expect_good() {
    expect OK "127.0.0.1:$port" traces good-traces
    expect OK --header "x-tenant=acme" "127.0.0.1:$port" metrics good-metrics
    expect OK --gzip "127.0.0.1:$port" logs good-logs
    good_spans=$((good_spans + 2))
    good_points=$((good_points + 3))
    good_records=$((good_records + 1))
}

A=127.0.0.1:$port
expect_good
expect OK "$A" traces empty
expect OK "$A" metrics empty
expect OK "$A" logs empty
expect OK "$A" traces empty-scopes
expect OK "$A" logs empty-scopes-logs
expect_good
expect INVALID_ARGUMENT "$A" traces truncated
grep -q "malformed traces request" "$work/raw.err" ||
    fail "INVALID_ARGUMENT without saying what is malformed: $(cat "$work/raw.err")"
expect_good
expect INVALID_ARGUMENT "$A" traces random
expect INVALID_ARGUMENT "$A" metrics random
expect INVALID_ARGUMENT "$A" logs random
expect_good
expect INVALID_ARGUMENT "$A" traces wrong-type-top
expect INVALID_ARGUMENT "$A" traces wrong-type-span-name
expect INVALID_ARGUMENT "$A" metrics wrong-type-metric-point
expect INVALID_ARGUMENT "$A" logs wrong-type-log-severity
expect INVALID_ARGUMENT "$A" logs length-past-end
# A traces request is not a logs request: the schema differs below the top level.
expect INVALID_ARGUMENT "$A" logs good-traces
expect_good
# Over max_recv_msg_size_mib (4): refused by size, also when it is small once compressed.
expect RESOURCE_EXHAUSTED "$A" traces big-5mib
expect RESOURCE_EXHAUSTED --gzip "$A" traces big-5mib
expect_good
expect OK --gzip "$A" traces big-3mib
good_spans=$((good_spans + 1))
expect_good
expect UNIMPLEMENTED "$A" /opentelemetry.proto.collector.trace.v1.TraceService/Nope good-traces
expect UNIMPLEMENTED "$A" /no.such.Service/Export good-traces
# otlp/traces_only is in the traces pipeline only: other signals are not served there.
expect UNIMPLEMENTED "127.0.0.1:$port2" metrics good-metrics
expect UNIMPLEMENTED "127.0.0.1:$port2" logs good-logs
grep -q "no logs pipeline" "$work/raw.err" ||
    fail "UNIMPLEMENTED without saying why: $(cat "$work/raw.err")"
expect OK "127.0.0.1:$port2" traces good-traces
expect_good
# A pipeline that refuses (the memory limiter): UNAVAILABLE, so that the client retries.
expect UNAVAILABLE "127.0.0.1:$port3" traces good-traces
expect UNAVAILABLE "127.0.0.1:$port3" traces good-traces
expect OK "127.0.0.1:$port3" traces empty
expect_good

# The counters saw exactly the good items; only the limited pipeline refused any.
for spec in spans:$((good_spans + 2)):0 metric_points:$good_points:0 log_records:$good_records:0; do
    IFS=: read -r item want _ <<<"$spec"
    total=0
    for rcv in otlp otlp/traces_only otlp/limited; do
        v=$(counter "otelcol_receiver_accepted_${item}_total" "$rcv")
        [ "$v" = absent ] || total=$((total + v))
        r=$(counter "otelcol_receiver_refused_${item}_total" "$rcv")
        want_refused=0
        [ "$rcv:$item" != otlp/limited:spans ] || want_refused=4
        [ "$r" = absent ] || [ "$r" = "$want_refused" ] ||
            fail "$rcv refused $r $item, want $want_refused"
    done
    [ "$total" = "$want" ] || fail "receivers accepted $total $item, want $want"
done

stop_cotel_clean 30

# The file holds the good items and nothing else.
node - "$work/out.jsonl" $((good_spans + 2)) "$good_points" "$good_records" <<'EOF' ||
'use strict';
const fs = require('fs');
const [file, spans, points, records] = process.argv.slice(2);
const got = { spans: 0, points: 0, records: 0, bad: 0 };
for (const line of fs.readFileSync(file, 'utf8').split('\n').filter(Boolean)) {
    const req = JSON.parse(line);
    for (const rs of req.resourceSpans || []) {
        for (const ss of rs.scopeSpans || []) {
            for (const s of ss.spans || []) {
                got.spans++;
                if (s.name !== 'good' && !/^x+$/.test(s.name)) got.bad++;
            }
        }
    }
    for (const rm of req.resourceMetrics || []) {
        for (const sm of rm.scopeMetrics || []) {
            for (const m of sm.metrics || []) {
                got.points += ((m.gauge || {}).dataPoints || []).length;
                if (m.name !== 'good.gauge') got.bad++;
            }
        }
    }
    for (const rl of req.resourceLogs || []) {
        for (const sl of rl.scopeLogs || []) {
            for (const r of sl.logRecords || []) {
                got.records++;
                if (r.body.stringValue !== 'good') got.bad++;
            }
        }
    }
}
const want = { spans: +spans, points: +points, records: +records, bad: 0 };
if (JSON.stringify(got) !== JSON.stringify(want)) {
    console.error(`file holds ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    process.exit(1);
}
EOF
    fail "the file does not hold exactly the good items"

# Clients' mistakes are theirs: nothing above debug level in cotel's log (the memory limiter's
# own warning about memory use is not about a client).
grep -E $'\t(warn|error)\t' "$work/cotel.err" | grep -v $'\tprocessor/memory_limiter\t' \
    >"$work/warnings" || true
[ ! -s "$work/warnings" ] ||
    fail "cotel logged warnings or errors for clients' mistakes: $(head -3 "$work/warnings")"
echo "PASS: $checks calls answered with the expected status; the good items arrived intact"
