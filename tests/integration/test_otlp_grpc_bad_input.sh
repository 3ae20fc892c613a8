#!/usr/bin/env bash
# What the otlp receiver answers over gRPC to bad input, with exact status codes: truncated and
# random bodies, wrong wire types, empty requests, empty scopes, oversized messages (plain and
# gzip), a gzip bomb that must not grow the process, deflate, corrupt and truncated compressed
# messages, unknown methods, signals with no pipeline, a pipeline that refuses. After each, a
# good request must still succeed, and in the end exactly the good items are in the file,
# counted by the receiver.
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
// Messages compressed here, sent by h2.js with the gRPC compressed flag set.
const zlib = require('zlib');
const corrupt = zlib.gzipSync(Buffer.concat(Array(50).fill(good)));
corrupt.fill(0xff, 12, 20); // inside the deflate data, past the 10-byte gzip header
const packed = {
    'deflate-good-traces': zlib.deflateSync(good), // the zlib format: what gRPC calls deflate
    'gzip-two-members': Buffer.concat([zlib.gzipSync(good.subarray(0, 10)),
        zlib.gzipSync(good.subarray(10))]),
    'gzip-corrupt': corrupt,
    'gzip-truncated': zlib.gzipSync(good).subarray(0, 20),
};
for (const [name, bytes] of Object.entries(files)) {
    fs.writeFileSync(`${dir}/${name}.bin`, bytes);
}
for (const [name, bytes] of Object.entries(packed)) {
    fs.writeFileSync(`${dir}/${name}.z`, bytes);
}
EOF
node "$work/gen.js" "$work" || fail "could not write the test requests"

# 300 MB of zeros as one gzip stream of about 300 KB: small on the wire, huge inflated.
python3 - "$work/bomb.z" <<'EOF' || fail "could not write the gzip bomb"
import sys, zlib

z = zlib.compressobj(9, zlib.DEFLATED, 31)
with open(sys.argv[1], "wb") as f:
    for _ in range(286):
        f.write(z.compress(bytes(1 << 20)))
    f.write(z.flush())
EOF

# h2.js ADDRESS ENCODING FILE: one traces Export call over plain HTTP/2, its message taken as
# it is from FILE (already compressed with ENCODING) with the compressed flag set; prints the
# status name, or RESET when the stream was reset without a status.
cat >"$work/h2.js" <<'EOF'
'use strict';
const http2 = require('http2');
const fs = require('fs');
const [addr, encoding, file] = process.argv.slice(2);
const names = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND',
    'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED',
    'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];
const message = fs.readFileSync(file);
const prefix = Buffer.alloc(5);
prefix[0] = 1; // compressed
prefix.writeUInt32BE(message.length, 1);
const client = http2.connect(`http://${addr}`);
client.on('error', (e) => { console.error(e.message); process.exit(2); });
const req = client.request({
    ':method': 'POST', ':path': '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
    'content-type': 'application/grpc', te: 'trailers', 'grpc-encoding': encoding,
});
let status, details = '';
const take = (h) => {
    if (h['grpc-status'] !== undefined) {
        status = names[h['grpc-status']] || h['grpc-status'];
        details = decodeURIComponent(h['grpc-message'] || '');
    }
};
req.on('response', take);
req.on('trailers', take);
req.on('data', () => {});
req.on('error', () => { status = status || 'RESET'; });
req.on('close', () => {
    console.log(status || 'RESET');
    console.error(details);
    client.close();
});
req.end(Buffer.concat([prefix, message]));
setTimeout(() => { console.error('no answer within 20 s'); process.exit(3); }, 20000).unref();
EOF

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

# expect_packed STATUS ENCODING NAME: a traces call of $work/NAME.z by h2.js, its exact status.
expect_packed() {
    local got
    got=$(timeout 30 node "$work/h2.js" "$A" "$2" "$work/$3.z" 2>"$work/raw.err") ||
        fail "h2.js $2 $3: no status ($(cat "$work/raw.err"))"
    [ "$got" = "$1" ] || fail "$2 $3: got $got ($(cat "$work/raw.err")), want $1"
    kill -0 "$cotel_pid" 2>/dev/null || fail "cotel died after $2 $3"
    checks=$((checks + 1))
}

hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$cotel_pid/status"; }

A=127.0.0.1:$port
expect_good

# The gzip bomb, before anything else has raised the peak: RESOURCE_EXHAUSTED, and the peak
# memory (VmHWM) grows by less than twice the 4 MiB limit (the output buffer and its last
# doubling) plus 16 MiB for gRPC's own buffers. Inflating it all would take 300 MB.
bound=$(((2 * 4 + 16) * 1024))
before=$(hwm)
expect_packed RESOURCE_EXHAUSTED gzip bomb
grep -q "max_recv_msg_size_mib" "$work/raw.err" ||
    fail "bomb: RESOURCE_EXHAUSTED without naming the limit: $(cat "$work/raw.err")"
grew=$(($(hwm) - before))
[ "$grew" -lt "$bound" ] || fail "bomb: VmHWM grew by $grew KiB (from $before KiB; bound $bound)"
echo "gzip bomb ($(stat -c %s "$work/bomb.z") bytes, 300 MB inflated): VmHWM +$grew KiB" \
    "(bound $bound)"
# The same through gRPC's own client compression, as a real client sends it.
head -c 300000000 /dev/zero >"$work/zeros.bin"
expect RESOURCE_EXHAUSTED --gzip "$A" traces zeros
rm -f "$work/zeros.bin"
grew=$(($(hwm) - before))
[ "$grew" -lt "$bound" ] ||
    fail "zeros --gzip: VmHWM grew by $grew KiB (from $before KiB; bound $bound)"
expect_good
# deflate (the zlib format) and several gzip members are read; broken streams are INTERNAL,
# as gRPC answers a message it cannot decompress.
expect_packed OK deflate deflate-good-traces
expect_packed OK gzip gzip-two-members
good_spans=$((good_spans + 4))
expect_packed INTERNAL gzip gzip-corrupt
grep -q "corrupt gzip" "$work/raw.err" || fail "gzip-corrupt: the reason is missing"
expect_packed INTERNAL gzip gzip-truncated
expect_packed INTERNAL deflate gzip-corrupt
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
