#!/usr/bin/env bash
# SIGHUP reloads the configuration file, as with the OpenTelemetry Collector: a valid new file
# is taken after a graceful stop (what was acknowledged before is delivered), an invalid one is
# logged and the running configuration stays.
set -uo pipefail
export LC_ALL=C
source "$(dirname "$0")/lib/common.sh"

require_built "$COTEL"
require_js

port=$(free_port)
write_config() { # $1: the file exporter's path, $2: an exporter id for the pipeline
    cat >"$work/cotel.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc: {endpoint: 127.0.0.1:$port}
exporters:
  file: {path: $1, format: json}
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    traces: {receivers: [otlp], exporters: [$2]}
EOF
}
send() { # NAME: 40 spans over gRPC, manifest in $work/NAME.json
    send_js "$work/$1.out" --signal traces --protocol grpc --endpoint "http://127.0.0.1:$port" \
        --count 40 --batch 10 --manifest "$work/$1.json" --seed "$1-$RANDOM" ||
        fail "send.js $1: $(cat "$work/$1.out" "$work/$1.out.err")"
}
verify() { # NAME FILE
    verify_js "$work/$1.verify" --manifest "$work/$1.json" --signal traces \
        --otlp-json-lines "$2" || fail "verify.js $1: $(head -c 1500 "$work/$1.verify")"
}

write_config "$work/a.jsonl" file
start_cotel "$work/cotel.yaml"
pid=$cotel_pid
send first

# An invalid file: logged, the running configuration stays and keeps serving.
write_config "$work/b.jsonl" nope
kill -HUP "$pid"
wait_for 10 grep -q "SIGHUP: .* is not valid, the running configuration stays" \
    "$work/cotel.err" || fail "an invalid reload was not reported"
kill -0 "$pid" 2>/dev/null || fail "cotel died on a SIGHUP with an invalid file"
send second
verify first "$work/a.jsonl"
pass "invalid file on SIGHUP: reported, the old configuration keeps running"

# A valid file: cotel stops gracefully and starts again with it, in the same process.
write_config "$work/b.jsonl" file
kill -HUP "$pid"
wait_for 15 eval '[ "$(grep -c "everything is ready" "$work/cotel.err")" -ge 2 ]' ||
    fail "cotel did not come back after SIGHUP"
kill -0 "$pid" 2>/dev/null || fail "the reload did not keep the process"
send third
verify second "$work/a.jsonl"
verify third "$work/b.jsonl"
run=$(json_field "$work/second.out" runId) || fail "no runId in send.js's summary"
! grep -q "$run" "$work/b.jsonl" || fail "data sent before the reload went to the new file"
stop_cotel_clean
pass "valid file on SIGHUP: reloaded in place; data before and after in their own files"
