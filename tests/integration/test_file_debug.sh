#!/usr/bin/env bash
# The file and debug exporters end to end through the cotel binary: the OpenTelemetry JS SDK
# sends spans, metric points and log records over OTLP/gRPC; the file exporter's JSON lines and
# length-prefixed protobuf must hold every acknowledged item unchanged (checked by verify.js),
# the debug exporter must print one line per span and log record, and cotel's own counters must
# agree. Skips (77) only when node is missing.
set -uo pipefail

src=${COTEL_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${COTEL_BUILD_DIR:-$src/build}
bin=${COTEL_BIN:-$build/cmd/cotel/cotel}
js=$src/tests/js

work=$(mktemp -d "${TMPDIR:-/tmp}/cotel-file-debug.XXXXXX")
cotel_pid=""
failures=0
passes=0

# Stops the cotel started here (by PID only) and removes the scratch directory.
cleanup() {
    if [ -n "$cotel_pid" ] && kill -0 "$cotel_pid" 2>/dev/null; then
        kill -KILL "$cotel_pid" 2>/dev/null
        wait "$cotel_pid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT

pass() { passes=$((passes + 1)); echo "PASS: $*"; }
fail() { failures=$((failures + 1)); echo "FAIL: $*"; }

if ! command -v node >/dev/null; then
    echo "SKIP: node is not installed (the JS test peers need it)"
    exit 77
fi
if [ ! -x "$bin" ]; then
    echo "FAIL: no cotel binary at $bin"
    exit 1
fi
if [ ! -d "$js/node_modules" ]; then
    (cd "$js" && timeout 600 npm ci --no-audit --no-fund --loglevel=error) || {
        echo "FAIL: npm ci in tests/js failed"
        exit 1
    }
fi

# Free loopback ports, chosen by the kernel.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}
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

"$bin" --config "$work/cotel.yaml" >"$work/stdout" 2>"$work/stderr" &
cotel_pid=$!

# Bounded wait for the gRPC port.
up=0
for _ in $(seq 1 100); do
    if ! kill -0 "$cotel_pid" 2>/dev/null; then
        break
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$grpc_port") 2>/dev/null; then
        up=1
        break
    fi
    sleep 0.1
done
if [ "$up" != 1 ]; then
    echo "FAIL: cotel did not listen on 127.0.0.1:$grpc_port; its stderr:"
    cat "$work/stderr"
    exit 1
fi
pass "cotel listens on 127.0.0.1:$grpc_port"

declare -A counts=([traces]=60 [metrics]=40 [logs]=50)
for sig in traces metrics logs; do
    if timeout 120 node "$js/send.js" --signal "$sig" --protocol grpc \
            --endpoint "http://127.0.0.1:$grpc_port" --count "${counts[$sig]}" --batch 20 \
            --seed "file-debug-$sig" --manifest "$work/$sig.manifest.json" >"$work/$sig.send" \
            2>&1; then
        pass "sent ${counts[$sig]} $sig items"
    else
        fail "send.js $sig: $(tail -n 3 "$work/$sig.send")"
    fi
done

# A send is acknowledged once every exporter has written it, but the exporters work from
# their queues: poll verify.js, bounded, until it is satisfied.
verify() { # signal, input flag, file
    local out=$work/$1.$2.report
    for _ in $(seq 1 50); do
        if node "$js/verify.js" --manifest "$work/$1.manifest.json" --signal "$1" \
                "--$2" "$3" --report "$out" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.2
    done
    node "$js/verify.js" --manifest "$work/$1.manifest.json" --signal "$1" "--$2" "$3" \
        --report "$out" 2>&1 | tail -n 5
    return 1
}
for sig in traces metrics logs; do
    if verify "$sig" otlp-json-lines "$work/out.json"; then
        pass "file/json holds every acknowledged $sig item unchanged"
    else
        fail "file/json $sig output does not match what was sent"
    fi
    # The proto format is the same framing as kcat -f '%R%s': 4-byte big-endian length, bytes.
    # Its records do not say their signal, so each signal has a file of its own.
    if verify "$sig" kafka-framed "$work/$sig.pb"; then
        pass "file/pb_$sig holds every acknowledged $sig item unchanged"
    else
        fail "file/pb_$sig output does not match what was sent"
    fi
done

# JSON ids are hex, as OTLP/JSON requires (not base64).
if grep -qE '"traceId":"[0-9a-f]{32}"' "$work/out.json" &&
        ! grep -qE '"traceId":"[^"]*[=+/]' "$work/out.json"; then
    pass "file/json writes trace ids as hex"
else
    fail "file/json trace ids are not 32 hex digits"
fi

# The debug exporter (normal verbosity, plain stdout): one line per span and log record and a
# summary line per request whose counts add up.
sum_field() { # field name, summary prefix
    grep -E "^$2 " "$work/stdout" | grep -oE " $1=[0-9]+" | cut -d= -f2 | paste -sd+ | bc
}
spans=$(grep -c '^span name=' "$work/stdout")
logs=$(grep -c '^log time=' "$work/stdout")
[ "$spans" = "${counts[traces]}" ] && pass "debug printed $spans span lines" ||
    fail "debug printed $spans span lines, want ${counts[traces]}"
[ "$logs" = "${counts[logs]}" ] && pass "debug printed $logs log lines" ||
    fail "debug printed $logs log lines, want ${counts[logs]}"
points=$(sum_field data_points MetricsExporter)
[ "${points:-0}" = "${counts[metrics]}" ] && pass "debug summaries count $points data points" ||
    fail "debug summaries count ${points:-0} data points, want ${counts[metrics]}"
s=$(sum_field spans TracesExporter)
[ "${s:-0}" = "${counts[traces]}" ] && pass "debug summaries count $s spans" ||
    fail "debug summaries count ${s:-0} spans, want ${counts[traces]}"

# cotel's own counters: everything sent by each exporter of each pipeline.
scrape=$(curl -s --max-time 5 "http://127.0.0.1:$metrics_port/metrics")
for exp in file/json file/pb debug; do
    for pair in spans:traces metric_points:metrics log_records:logs; do
        item=${pair%%:*}
        sig=${pair##*:}
        want=${counts[$sig]}
        [ "$exp" = file/pb ] && exp_id=file/pb_$sig || exp_id=$exp
        got=$(printf '%s\n' "$scrape" |
            grep -E "^otelcol_exporter_sent_${item}(_total)?\{[^}]*exporter=\"$exp_id\"" |
            awk '{print $NF}' | head -n1)
        if [ "${got:-}" = "$want" ]; then
            pass "otelcol_exporter_sent_$item for $exp_id is $want"
        else
            fail "otelcol_exporter_sent_$item for $exp_id is '${got:-absent}', want $want"
        fi
    done
done

# A clean shutdown within a bounded time.
kill -TERM "$cotel_pid"
status=""
for _ in $(seq 1 150); do
    if ! kill -0 "$cotel_pid" 2>/dev/null; then
        wait "$cotel_pid"
        status=$?
        break
    fi
    sleep 0.1
done
if [ "$status" = 0 ]; then
    pass "cotel exited 0 on SIGTERM"
    cotel_pid=""
else
    fail "cotel did not exit cleanly on SIGTERM (status '${status:-still running}')"
fi

echo "$passes passed, $failures failed"
if [ "$failures" -gt 0 ]; then
    echo "--- cotel stderr (last 30 lines)"
    tail -n 30 "$work/stderr"
    exit 1
fi
exit 0
