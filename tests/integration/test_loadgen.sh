#!/usr/bin/env bash
# The benchmark's tools: cotel-loadgen's counts agree with what cotel-nullsink received, for
# every signal; calls to a dead port are counted as refused; through cotel's file exporter,
# loadgen's requests (gRPC and HTTP) carry a distinct trace id on every span; --dump writes a
# request the sink accepts.
set -uo pipefail
source "$(dirname "$0")/lib/common.sh"

LOADGEN=$BUILD/tools/loadgen/cotel-loadgen
SINK=$BUILD/tools/nullsink/cotel-nullsink
require_built "$COTEL" "$LOADGEN" "$SINK" "$RAW"

# json FILE EXPR: a value from a JSON object (the last line of FILE).
json() {
    python3 -c 'import json, sys
d = json.loads(open(sys.argv[1]).read().splitlines()[-1])
print(eval(sys.argv[2]))' "$1" "$2"
}

# The null sink and loadgen, signal by signal.
"$SINK" --port-file "$work/sink.port" >"$work/sink.out" 2>"$work/sink.err" &
sink_pid=$!
track "$sink_pid"
wait_for 10 test -s "$work/sink.port" || fail "cotel-nullsink did not listen within 10 s"
sink=$(cat "$work/sink.port")
for sig in traces metrics logs; do
    "$LOADGEN" --wait --signal "$sig" --items 50 --rate 20000 --duration 1 "$sink" \
        >"$work/lg.$sig.json" 2>"$work/lg.$sig.err" || fail "cotel-loadgen ($sig) failed"
    sent=$(json "$work/lg.$sig.json" 'd["items"]["sent"]')
    acc=$(json "$work/lg.$sig.json" 'd["items"]["accepted"]')
    reqs=$(json "$work/lg.$sig.json" 'd["requests"]["accepted"]')
    if [ "$acc" -gt 0 ] && [ "$acc" -eq "$sent" ] && [ "$acc" -eq $((reqs * 50)) ]; then
        pass "$sig: $reqs requests of 50 items accepted"
    else
        soft_fail "$sig: sent $sent, accepted $acc items in $reqs requests"
    fi
    rate=$(json "$work/lg.$sig.json" 'int(d["items_per_s"])')
    if [ "$rate" -gt 10000 ] && [ "$rate" -lt 25000 ]; then
        pass "$sig: paced at $rate items/s (target 20000)"
    else
        soft_fail "$sig: $rate items/s, target 20000"
    fi
done
stop_pid "$sink_pid" 10 cotel-nullsink
for sig in traces metrics logs; do
    got=$(json "$work/sink.out" "d['items']['$sig']")
    want=$(json "$work/lg.$sig.json" 'd["items"]["accepted"]')
    if [ "$got" -eq "$want" ]; then
        pass "the sink counted the $want $sig items loadgen saw accepted"
    else
        soft_fail "the sink counted $got $sig items, loadgen saw $want accepted"
    fi
done

# Nothing listens: every call is refused, none accepted.
dead=$(free_port)
"$LOADGEN" --duration 0.5 --timeout 1 --rate 2000 "127.0.0.1:$dead" >"$work/dead.json" \
    2>"$work/dead.err" || fail "cotel-loadgen against a dead port failed"
if [ "$(json "$work/dead.json" 'd["items"]["accepted"]')" -eq 0 ] &&
    [ "$(json "$work/dead.json" 'd["requests"]["refused"]')" -gt 0 ]; then
    pass "calls to a dead port counted as refused"
else
    soft_fail "dead port: $(cat "$work/dead.json")"
fi

# Through cotel to a file: every span has its own trace id, over gRPC and over HTTP.
grpc_port=$(free_port)
http_port=$(free_port)
cat >"$work/cotel.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc: {endpoint: 127.0.0.1:$grpc_port}
      http: {endpoint: 127.0.0.1:$http_port}
exporters:
  file: {path: $work/out.json, flush_interval: 100ms}
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    traces: {receivers: [otlp], exporters: [file]}
EOF
start_cotel "$work/cotel.yaml"
"$LOADGEN" --wait --items 20 --rate 2000 --duration 1 "127.0.0.1:$grpc_port" \
    >"$work/cotel.grpc.json" 2>"$work/cotel.grpc.err" || fail "cotel-loadgen (gRPC) failed"
wait_for 10 port_open "$http_port" || fail "cotel's HTTP port is not open"
"$LOADGEN" --protocol http --items 20 --rate 2000 --duration 1 "127.0.0.1:$http_port" \
    >"$work/cotel.http.json" 2>"$work/cotel.http.err" || fail "cotel-loadgen (HTTP) failed"
stop_cotel_clean
want=$(($(json "$work/cotel.grpc.json" 'd["items"]["accepted"]') +
    $(json "$work/cotel.http.json" 'd["items"]["accepted"]')))
read -r spans ids < <(python3 - "$work/out.json" <<'EOF'
import json, sys

spans, ids = 0, set()
for line in open(sys.argv[1]):
    for rs in json.loads(line).get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for s in ss.get("spans", []):
                spans += 1
                ids.add(s["traceId"])
print(spans, len(ids))
EOF
)
if [ "$want" -gt 0 ] && [ "$spans" -eq "$want" ] && [ "$ids" -eq "$spans" ]; then
    pass "cotel wrote the $spans spans loadgen sent (gRPC and HTTP), each with its own trace id"
else
    soft_fail "accepted $want spans; the file holds $spans spans with $ids distinct trace ids"
fi

# --dump: the request as loadgen sends it, accepted by the sink.
"$LOADGEN" --signal logs --dump "$work/logs.pb" || fail "cotel-loadgen --dump failed"
"$SINK" --port-file "$work/sink2.port" >"$work/sink2.out" 2>"$work/sink2.err" &
sink_pid=$!
track "$sink_pid"
wait_for 10 test -s "$work/sink2.port" || fail "cotel-nullsink did not listen within 10 s"
code=$("$RAW" --wait --timeout 5 "$(cat "$work/sink2.port")" logs "$work/logs.pb" 2>"$work/raw.err")
stop_pid "$sink_pid" 10 cotel-nullsink
if [ "$code" = OK ] && [ "$(json "$work/sink2.out" "d['items']['logs']")" -eq 100 ]; then
    pass "--dump wrote a request of 100 log records that the sink accepts"
else
    soft_fail "--dump: the sink answered '$code' and counted $(cat "$work/sink2.out")"
fi

finish
