#!/usr/bin/env bash
# The otlp_http exporter end to end. (1) SDK -> cotel A -> cotel B over OTLP/HTTP, protobuf
# and JSON, gzip, the second under the old name "otlphttp"; verify.js checks every item at B.
# (2) A small python3 server plays a faulty peer: 503 with Retry-After (seconds, then an HTTP
# date) before a 200 proves the retry waits as told; a partial success counts the rejected
# points; a 400 is not retried. (3) HTTPS with a CA made here, client certificate required.
set -uo pipefail
export LC_ALL=C
source "$(dirname "$0")/lib/common.sh"

require_built "$COTEL"
require_tools openssl
require_js
FAIL_LOGS=("$work/peer.log")

# The processes of this test by name: cotels and the python peer.
declare -A pids=()

# run_cotel NAME CONFIG: a cotel of this test, logging to $work/NAME.err.
run_cotel() {
    start_cotel "$2" "$1"
    pids[$1]=$cotel_pid
}

stop() { # NAME: SIGTERM, at most 30 s to end, exit status 0
    stop_pid "${pids[$1]}" 30 "$1"
    unset "pids[$1]"
    [ "$RC" -eq 0 ] || fail "$1 exited with status $RC"
}

# metric PORT NAME EXPORTER: an exporter's counter, or empty.
metric() {
    metric_value "$1" "$2" "exporter=\"$3\""
}
metric_is() { [ "$(metric "$1" "$2" "$3")" = "$4" ]; }

send() { # SIGNAL PORT COUNT MANIFEST [send.js options...]
    local sig=$1 port=$2 count=$3 manifest=$4
    shift 4
    send_js "$work/send-$sig.log" --signal "$sig" --protocol http/protobuf \
        --endpoint "http://127.0.0.1:$port" --count "$count" --manifest "$manifest" \
        --seed "$sig-$RANDOM" "$@" ||
        fail "send.js $sig to port $port: $(tail -n 3 "$work/send-$sig.log.err")"
}

verified() { # SIGNAL MANIFEST JSONL
    verify_js "$work/verify.json" --signal "$1" --manifest "$2" --otlp-json-lines "$3"
}

expect_delivered() { # WHAT SIGNAL MANIFEST JSONL: waits up to 30 s for verify.js to pass
    local what=$1
    shift
    wait_for 30 verified "$@" ||
        fail "$what: $1 not all delivered intact: $(head -c 1500 "$work/verify.json")"
}

# ---------------------------------------------------------------------------------------------
# 1. SDK -> cotel A -> cotel B: protobuf and JSON, both gzip.
bproto=$(free_port)
bjson=$(free_port)
cat >"$work/b.yaml" <<EOF
receivers:
  otlp/proto:
    protocols:
      http:
        endpoint: 127.0.0.1:$bproto
  otlp/json:
    protocols:
      http:
        endpoint: 127.0.0.1:$bjson
exporters:
  file/proto:
    path: $work/b-proto.jsonl
    flush_interval: 100ms
  file/json:
    path: $work/b-json.jsonl
    flush_interval: 100ms
service:
  telemetry:
    metrics:
      address: 127.0.0.1:$(free_port)
  pipelines:
    traces/proto: {receivers: [otlp/proto], exporters: [file/proto]}
    metrics/proto: {receivers: [otlp/proto], exporters: [file/proto]}
    logs/proto: {receivers: [otlp/proto], exporters: [file/proto]}
    traces/json: {receivers: [otlp/json], exporters: [file/json]}
    metrics/json: {receivers: [otlp/json], exporters: [file/json]}
    logs/json: {receivers: [otlp/json], exporters: [file/json]}
EOF
run_cotel cotel-b "$work/b.yaml"

aport=$(free_port)
amport=$(free_port)
cat >"$work/a.yaml" <<EOF
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:$aport
exporters:
  otlp_http:
    endpoint: http://127.0.0.1:$bproto
  otlphttp/json:
    endpoint: http://127.0.0.1:$bjson/
    encoding: json
    compression: gzip
service:
  telemetry:
    metrics:
      address: 127.0.0.1:$amport
  pipelines:
    traces: {receivers: [otlp], exporters: [otlp_http, otlphttp/json]}
    metrics: {receivers: [otlp], exporters: [otlp_http, otlphttp/json]}
    logs: {receivers: [otlp], exporters: [otlp_http, otlphttp/json]}
EOF
run_cotel cotel-a "$work/a.yaml"
grep -q "sending traces to http://127.0.0.1:$bjson/v1/traces" "$work/cotel-a.err" ||
    fail "cotel A does not say where it sends traces"

send traces "$aport" 300 "$work/traces.json" --batch 50
send metrics "$aport" 200 "$work/metrics.json" --batch 50
send logs "$aport" 250 "$work/logs.json" --batch 50
for sig in traces metrics logs; do
    expect_delivered "protobuf" "$sig" "$work/$sig.json" "$work/b-proto.jsonl"
    expect_delivered "json" "$sig" "$work/$sig.json" "$work/b-json.jsonl"
done
for exp in otlp_http otlphttp/json; do
    wait_for 10 metric_is "$amport" otelcol_exporter_sent_spans_total "$exp" 300 ||
        fail "$exp: sent_spans is '$(metric "$amport" otelcol_exporter_sent_spans_total "$exp")'"
    wait_for 10 metric_is "$amport" otelcol_exporter_sent_log_records_total "$exp" 250 ||
        fail "$exp: sent_log_records is not 250"
    metric_is "$amport" otelcol_exporter_send_failed_spans_total "$exp" 0 ||
        fail "$exp: send_failed_spans is not 0"
done
stop cotel-a
stop cotel-b
pass "SDK -> cotel -> otlp_http (protobuf, gzip) and otlphttp (JSON, gzip) -> cotel: all intact"

# ---------------------------------------------------------------------------------------------
# 2. A faulty peer. Traces: 503 + "Retry-After: 1", 503 + Retry-After as an HTTP date two
#    seconds ahead, then 200. Metrics: 200 with a partial success rejecting 3 points. Logs: 400.
cat >"$work/peer.py" <<'PY'
import email.utils, gzip, json, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port_file, log_file = sys.argv[1], sys.argv[2]
lock = threading.Lock()
traces_seen = 0

def count(doc, outer, inner, leaf):
    return sum(len(s.get(leaf, [])) for r in doc.get(outer, []) for s in r.get(inner, []))

class Peer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        global traces_seen
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        enc = self.headers.get("Content-Encoding", "")
        doc = json.loads(gzip.decompress(raw) if enc == "gzip" else raw)
        items = (count(doc, "resourceSpans", "scopeSpans", "spans")
                 + count(doc, "resourceMetrics", "scopeMetrics", "metrics")
                 + count(doc, "resourceLogs", "scopeLogs", "logRecords"))
        with lock:
            if self.path == "/v1/traces":
                traces_seen += 1
                n = traces_seen
        if self.path == "/v1/traces" and n == 1:
            status, body, hdrs = 503, {"code": 14, "message": "busy"}, [("Retry-After", "1")]
        elif self.path == "/v1/traces" and n == 2:
            when = email.utils.formatdate(time.time() + 2, usegmt=True)
            status, body, hdrs = 503, {"code": 14, "message": "busy"}, [("Retry-After", when)]
        elif self.path == "/v1/metrics":
            status, hdrs = 200, []
            body = {"partialSuccess": {"rejectedDataPoints": "3",
                                       "errorMessage": "three points refused"}}
        elif self.path == "/v1/logs":
            status, body, hdrs = 400, {"code": 3, "message": "logs refused here"}, []
        else:
            status, body, hdrs = 200, {}, []
        with lock, open(log_file, "a") as f:
            f.write(json.dumps({"t": time.time(), "path": self.path, "status": status,
                                "type": self.headers.get("Content-Type"), "encoding": enc,
                                "items": items}) + "\n")
        self.answer(status, body, hdrs)

server = ThreadingHTTPServer(("127.0.0.1", 0), Peer)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
PY
python3 "$work/peer.py" "$work/peer.port" "$work/peer.log" 2>"$work/peer.err" &
pids[peer]=$!
track $!
wait_for 15 test -s "$work/peer.port" || fail "the python peer did not start"
pport=$(cat "$work/peer.port")

fport=$(free_port)
fmport=$(free_port)
cat >"$work/f.yaml" <<EOF
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:$fport
exporters:
  otlp_http:
    endpoint: http://127.0.0.1:$pport
    encoding: json
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 200ms
service:
  telemetry:
    metrics:
      address: 127.0.0.1:$fmport
  pipelines:
    traces: {receivers: [otlp], exporters: [otlp_http]}
    metrics: {receivers: [otlp], exporters: [otlp_http]}
    logs: {receivers: [otlp], exporters: [otlp_http]}
EOF
run_cotel cotel-f "$work/f.yaml"
send traces "$fport" 30 "$work/f-traces.json" --batch 30
send metrics "$fport" 20 "$work/f-metrics.json" --batch 20
send logs "$fport" 10 "$work/f-logs.json" --batch 10

wait_for 20 metric_is "$fmport" otelcol_exporter_sent_spans_total otlp_http 30 ||
    fail "retry: sent_spans is '$(metric "$fmport" otelcol_exporter_sent_spans_total otlp_http)'"
python3 - "$work/peer.log" <<'PY' || fail "retry: the peer's log does not show the expected attempts"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
tr = [l for l in lines if l["path"] == "/v1/traces"]
assert [l["status"] for l in tr] == [503, 503, 200], [l["status"] for l in tr]
assert all(l["items"] == 30 for l in tr), [l["items"] for l in tr]
assert all(l["encoding"] == "gzip" and l["type"] == "application/json" for l in lines), lines
# initial_interval is 100ms: waits of a second and more come only from Retry-After.
gap1, gap2 = tr[1]["t"] - tr[0]["t"], tr[2]["t"] - tr[1]["t"]
assert gap1 >= 0.95, f"retried {gap1:.2f}s after 'Retry-After: 1'"
assert gap2 >= 0.95, f"retried {gap2:.2f}s after a Retry-After date 2 s ahead"
print(f"retry gaps {gap1:.2f}s and {gap2:.2f}s")
PY
metric_is "$fmport" otelcol_exporter_send_failed_spans_total otlp_http 0 ||
    fail "retry: send_failed_spans is not 0"
grep -q "will retry in .*UNAVAILABLE: HTTP 503: busy" "$work/cotel-f.err" ||
    fail "retry: the log does not give the code and the peer's Status message"
pass "503 with Retry-After (seconds, then HTTP date) is retried after the wait asked; then 200"

wait_for 10 metric_is "$fmport" otelcol_exporter_sent_metric_points_total otlp_http 17 ||
    fail "partial success: sent_metric_points is" \
        "'$(metric "$fmport" otelcol_exporter_sent_metric_points_total otlp_http)', expected 17"
metric_is "$fmport" otelcol_exporter_send_failed_metric_points_total otlp_http 3 ||
    fail "partial success: send_failed_metric_points is not 3"
wait_for 10 metric_is "$fmport" otelcol_exporter_send_failed_log_records_total otlp_http 10 ||
    fail "400: send_failed_log_records is not 10"
sleep 1 # a retry, were there one, would come within initial_interval
[ "$(grep -c '"/v1/logs"' "$work/peer.log")" = 1 ] || fail "400: the logs request was retried"
stop cotel-f
pass "partial success counts 3 rejected points; 400 is permanent (one attempt)"

# ---------------------------------------------------------------------------------------------
# 3. HTTPS: cotel A trusts a CA made here and presents a client certificate cotel B requires.
tls=$work/tls
make_ca "$tls"
make_cert "$tls" server "IP:127.0.0.1,DNS:localhost" serverAuth
make_cert "$tls" client "DNS:cotel-client" clientAuth

sport=$(free_port)
cat >"$work/s.yaml" <<EOF
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:$sport
        tls:
          cert_file: $tls/server.pem
          key_file: $tls/server.key
          client_ca_file: $tls/ca.pem
exporters:
  file:
    path: $work/s.jsonl
    flush_interval: 100ms
service:
  telemetry:
    metrics:
      address: 127.0.0.1:$(free_port)
  pipelines:
    traces: {receivers: [otlp], exporters: [file]}
EOF
run_cotel cotel-s "$work/s.yaml"
grep -q "OTLP/HTTP listening on 127.0.0.1:$sport with TLS" "$work/cotel-s.err" ||
    fail "TLS receiver: no startup line saying it serves TLS"
got=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' --cacert "$tls/ca.pem" \
    -H "Content-Type: application/json" --data '{}' "https://127.0.0.1:$sport/v1/traces")
[ "$got" = 401 ] || fail "TLS receiver: a client without a certificate got $got, expected 401"

cport=$(free_port)
cat >"$work/c.yaml" <<EOF
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:$cport
exporters:
  otlp_http:
    traces_endpoint: https://127.0.0.1:$sport/v1/traces
    compression: zstd
    tls:
      ca_file: $tls/ca.pem
      cert_file: $tls/client.pem
      key_file: $tls/client.key
service:
  telemetry:
    metrics:
      address: 127.0.0.1:$(free_port)
  pipelines:
    traces: {receivers: [otlp], exporters: [otlp_http]}
EOF
run_cotel cotel-c "$work/c.yaml"
send traces "$cport" 120 "$work/s-traces.json" --batch 40
expect_delivered "https" traces "$work/s-traces.json" "$work/s.jsonl"
stop cotel-c
stop cotel-s
pass "HTTPS with a private CA and a required client certificate (zstd): all spans intact"
