#!/usr/bin/env bash
# The otlp receiver over HTTP with real clients: the OpenTelemetry JS SDK's http/protobuf and
# http/json exporters (tests/js/send.js, with and without gzip) send all three signals to
# cotel, whose file exporter writes OTLP/JSON lines; verify.js checks every item. Also the
# receiver's counters, CORS answers to a browser's preflight, and a clean SIGTERM.
set -uo pipefail
export LC_ALL=C
source "$(dirname "$0")/lib/common.sh"

require_built "$COTEL"
require_js

port=$(free_port)
mport=$(free_port)
base=http://127.0.0.1:$port
cat >"$work/cotel.yaml" <<EOF
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:$port
        include_metadata: true
        cors:
          allowed_origins: ["https://*.example.com", "http://localhost:3000"]
          allowed_headers: ["X-Custom-Header"]
          max_age: 600
exporters:
  file:
    path: $work/out.jsonl
    format: json
    flush_interval: 100ms
service:
  telemetry:
    metrics:
      address: 127.0.0.1:$mport
  pipelines:
    traces: {receivers: [otlp], exporters: [file]}
    metrics: {receivers: [otlp], exporters: [file]}
    logs: {receivers: [otlp], exporters: [file]}
EOF

start_cotel "$work/cotel.yaml"
grep -q "OTLP/HTTP listening on 127.0.0.1:$port" "$work/cotel.err" ||
    fail "no startup line saying where OTLP/HTTP listens"

# ---------------------------------------------------------------------------------------------
# 1. The SDK's two HTTP encodings, each signal, uncompressed and gzip.
send() { # SIGNAL PROTOCOL COUNT NAME [send.js options...]
    local sig=$1 proto=$2 count=$3 name=$4
    shift 4
    send_js "$work/send-$name.log" --signal "$sig" --protocol "$proto" --endpoint "$base" \
        --count "$count" --manifest "$work/$name.json" --seed "$name-$RANDOM" "$@" ||
        fail "send.js $sig over $proto: $(tail -n 3 "$work/send-$name.log.err")"
}

verified() { # SIGNAL: every item of every manifest of that signal arrived once, intact
    local sig=$1 m
    local manifests=()
    for m in "$work/$sig"-*.json; do
        manifests+=(--manifest "$m")
    done
    verify_js "$work/verify-$sig.json" --signal "$sig" "${manifests[@]}" \
        --otlp-json-lines "$work/out.jsonl"
}

send traces http/protobuf 300 traces-proto --batch 50
send traces http/json 300 traces-json --batch 50 --gzip
send metrics http/protobuf 200 metrics-proto --batch 40 --gzip
send metrics http/json 200 metrics-json --batch 40
send logs http/protobuf 250 logs-proto --batch 50
send logs http/json 250 logs-json --batch 25 --gzip
for sig in traces metrics logs; do
    wait_for 30 verified "$sig" ||
        fail "$sig: not every item arrived intact: $(head -c 1500 "$work/verify-$sig.json")"
done
pass "SDK http/protobuf and http/json (plain and gzip) -> cotel: every span, point and record"

# ---------------------------------------------------------------------------------------------
# 2. The receiver's counters carry transport="http".
metric() { # NAME: the otlp receiver's counter over HTTP, or empty
    metric_value "$mport" "$1" 'receiver="otlp"' 'transport="http"'
}
points=$(node -e 'let t = 0; for (const f of process.argv.slice(1))
        t += JSON.parse(require("fs").readFileSync(f, "utf8")).acknowledged;
    console.log(t);' "$work"/metrics-*.json)
for pair in spans:600 metric_points:$points log_records:500; do
    name=otelcol_receiver_accepted_${pair%%:*}_total
    [ "$(metric "$name")" = "${pair#*:}" ] ||
        fail "$name is '$(metric "$name")', expected ${pair#*:}"
done
pass "accepted counters with transport=\"http\": 600 spans, $points points, 500 records"

# ---------------------------------------------------------------------------------------------
# 3. CORS: preflights from allowed and other origins, and the headers on an actual POST.
headers_of() { # OUT METHOD ORIGIN [curl options...]: the answer's status line and headers
    local out=$1 method=$2 origin=$3
    shift 3
    curl -s --max-time 10 -o /dev/null -D "$out" -X "$method" -H "Origin: $origin" "$@" \
        "$base/v1/traces"
}
has() { grep -qi "^$2" "$1"; }

headers_of "$work/pre-ok" OPTIONS https://app.example.com \
    -H "Access-Control-Request-Method: POST" \
    -H "Access-Control-Request-Headers: content-type, x-custom-header"
has "$work/pre-ok" "HTTP/1.1 204" || fail "preflight: $(head -n 1 "$work/pre-ok")"
has "$work/pre-ok" "Access-Control-Allow-Origin: https://app.example.com" ||
    fail "preflight from an allowed origin: no Access-Control-Allow-Origin"
has "$work/pre-ok" "Access-Control-Allow-Methods: POST" || fail "preflight: no Allow-Methods"
has "$work/pre-ok" "Access-Control-Max-Age: 600" || fail "preflight: no Max-Age 600"
headers_of "$work/pre-origin" OPTIONS https://evil.example.org \
    -H "Access-Control-Request-Method: POST"
has "$work/pre-origin" "HTTP/1.1 204" || fail "foreign preflight: $(head -n 1 "$work/pre-origin")"
! has "$work/pre-origin" "Access-Control-Allow-Origin" ||
    fail "preflight from a foreign origin was allowed"
headers_of "$work/pre-header" OPTIONS http://localhost:3000 \
    -H "Access-Control-Request-Method: POST" -H "Access-Control-Request-Headers: x-other"
! has "$work/pre-header" "Access-Control-Allow-Origin" ||
    fail "preflight asking for a header not in allowed_headers was allowed"
headers_of "$work/post" POST http://localhost:3000 -H "Content-Type: application/json" \
    --data '{"resourceSpans":[]}'
has "$work/post" "HTTP/1.1 200" || fail "POST with Origin: $(head -n 1 "$work/post")"
has "$work/post" "Access-Control-Allow-Origin: http://localhost:3000" ||
    fail "POST from an allowed origin: no Access-Control-Allow-Origin"
pass "CORS: wildcard origins, allowed headers, max_age; foreign origins and headers refused"

# ---------------------------------------------------------------------------------------------
# 4. SIGTERM: a clean exit within the bound.
stop_cotel_clean 30
pass "SIGTERM: cotel exits 0"
