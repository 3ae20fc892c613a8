#!/usr/bin/env bash
# The file and debug exporters end to end through the cotel binary: the OpenTelemetry JS SDK
# sends spans, metric points and log records over OTLP/gRPC; the file exporter's JSON lines and
# length-prefixed protobuf must hold every acknowledged item unchanged (checked by verify.js),
# the debug exporter must print one line per span and log record, and cotel's own counters must
# agree. Skips (77) only when node or a tool the harness needs is missing.
set -uo pipefail
source "$(dirname "$0")/lib/common.sh"

require_built "$COTEL"
require_js

# Every check is reported (pass or soft_fail); finish gives the verdict.
grpc_port=$(free_port)
metrics_port=$(free_port)

cat >"$work/cotel.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$grpc_port
exporters:
  file/json:
    path: $work/out.json
  file/pb_traces:
    path: $work/traces.pb
    format: proto
    flush_interval: 100ms
  file/pb_metrics:
    path: $work/metrics.pb
    format: proto
  file/pb_logs:
    path: $work/logs.pb
    format: proto
  debug:
    verbosity: normal
    use_internal_logger: false
service:
  telemetry:
    metrics:
      address: 127.0.0.1:$metrics_port
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file/json, file/pb_traces, debug]
    metrics:
      receivers: [otlp]
      exporters: [file/json, file/pb_metrics, debug]
    logs:
      receivers: [otlp]
      exporters: [file/json, file/pb_logs, debug]
EOF

start_cotel "$work/cotel.yaml"
port_open "$grpc_port" || fail "cotel did not listen on 127.0.0.1:$grpc_port"
pass "cotel listens on 127.0.0.1:$grpc_port"

declare -A counts=([traces]=60 [metrics]=40 [logs]=50)
for sig in traces metrics logs; do
    if send_js "$work/$sig.send" --signal "$sig" --protocol grpc \
            --endpoint "http://127.0.0.1:$grpc_port" --count "${counts[$sig]}" --batch 20 \
            --seed "file-debug-$sig" --manifest "$work/$sig.manifest.json"; then
        pass "sent ${counts[$sig]} $sig items"
    else
        soft_fail "send.js $sig: $(tail -n 3 "$work/$sig.send.err")"
    fi
done

# A send is acknowledged once every exporter has written it, but the exporters work from
# their queues: poll verify.js, bounded, until it is satisfied.
verify() { # signal, input flag, file
    local out=$work/$1.$2.report
    wait_for 10 verify_js "$out.log" --manifest "$work/$1.manifest.json" --signal "$1" \
        "--$2" "$3" --report "$out" && return 0
    tail -n 5 "$out.log"
    return 1
}
for sig in traces metrics logs; do
    if verify "$sig" otlp-json-lines "$work/out.json"; then
        pass "file/json holds every acknowledged $sig item unchanged"
    else
        soft_fail "file/json $sig output does not match what was sent"
    fi
    # The proto format is the same framing as kcat -f '%R%s': 4-byte big-endian length, bytes.
    # Its records do not say their signal, so each signal has a file of its own.
    if verify "$sig" kafka-framed "$work/$sig.pb"; then
        pass "file/pb_$sig holds every acknowledged $sig item unchanged"
    else
        soft_fail "file/pb_$sig output does not match what was sent"
    fi
done

# JSON ids are hex, as OTLP/JSON requires (not base64).
if grep -qE '"traceId":"[0-9a-f]{32}"' "$work/out.json" &&
        ! grep -qE '"traceId":"[^"]*[=+/]' "$work/out.json"; then
    pass "file/json writes trace ids as hex"
else
    soft_fail "file/json trace ids are not 32 hex digits"
fi

# The debug exporter (normal verbosity, plain stdout): one line per span and log record and a
# summary line per request whose counts add up.
sum_field() { # field name, summary prefix
    grep -E "^$2 " "$work/cotel.out" | grep -oE " $1=[0-9]+" | cut -d= -f2 | paste -sd+ | bc
}
spans=$(grep -c '^span name=' "$work/cotel.out")
logs=$(grep -c '^log time=' "$work/cotel.out")
[ "$spans" = "${counts[traces]}" ] && pass "debug printed $spans span lines" ||
    soft_fail "debug printed $spans span lines, want ${counts[traces]}"
[ "$logs" = "${counts[logs]}" ] && pass "debug printed $logs log lines" ||
    soft_fail "debug printed $logs log lines, want ${counts[logs]}"
points=$(sum_field data_points MetricsExporter)
[ "${points:-0}" = "${counts[metrics]}" ] && pass "debug summaries count $points data points" ||
    soft_fail "debug summaries count ${points:-0} data points, want ${counts[metrics]}"
s=$(sum_field spans TracesExporter)
[ "${s:-0}" = "${counts[traces]}" ] && pass "debug summaries count $s spans" ||
    soft_fail "debug summaries count ${s:-0} spans, want ${counts[traces]}"

# cotel's own counters: everything sent by each exporter of each pipeline.
for exp in file/json file/pb debug; do
    for pair in spans:traces metric_points:metrics log_records:logs; do
        item=${pair%%:*}
        sig=${pair##*:}
        want=${counts[$sig]}
        [ "$exp" = file/pb ] && exp_id=file/pb_$sig || exp_id=$exp
        got=$(metric_value "$metrics_port" "otelcol_exporter_sent_${item}_total" \
            "exporter=\"$exp_id\"")
        if [ "${got:-}" = "$want" ]; then
            pass "otelcol_exporter_sent_$item for $exp_id is $want"
        else
            soft_fail "otelcol_exporter_sent_$item for $exp_id is '${got:-absent}', want $want"
        fi
    done
done

# A clean shutdown within a bounded time.
stop_cotel 15
if [ "$RC" = 0 ]; then
    pass "cotel exited 0 on SIGTERM"
else
    soft_fail "cotel did not exit cleanly on SIGTERM (status $RC)"
fi

finish
