# Shared by tests/integration/test_kafka_*.sh (sourced, not run): starting the development
# broker and cotel on free ports, sending with the OpenTelemetry JS SDK, consuming with kcat,
# reading cotel's own metrics, and cleaning up every process by PID.

set -euo pipefail
export LC_ALL=C

SRC=${COTEL_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${COTEL_BUILD_DIR:-$SRC/build}
COTEL=${COTEL_BIN:-$BUILD/cmd/cotel/cotel}
KD=${COTEL_KAFKA_DEV:-$BUILD/tools/kafka-dev/cotel-kafka-dev}
JS=$SRC/tests/js

# Missing build outputs are failures; missing optional tools are skips.
[ -x "$COTEL" ] || { echo "FAIL: cotel not built: $COTEL" >&2; exit 1; }
[ -x "$KD" ] || { echo "FAIL: cotel-kafka-dev not built: $KD" >&2; exit 1; }
for tool in kcat node python3 curl timeout; do
    if ! command -v "$tool" >/dev/null; then
        echo "SKIP: $tool not installed (scripts/install-deps.sh installs it)"
        exit 77
    fi
done
if [ ! -d "$JS/node_modules/@opentelemetry" ]; then
    echo "SKIP: tests/js/node_modules missing (cd tests/js && npm ci)"
    exit 77
fi

work=$(mktemp -d)
kd_pid=""
cotel_pid=""
bg_pids=()

# Stops every process the test started: SIGTERM, then SIGKILL for any still running 15 s later.
cleanup() {
    local pid deadline=$((SECONDS + 15))
    for pid in $cotel_pid $kd_pid "${bg_pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in $cotel_pid $kd_pid "${bg_pids[@]}"; do
        while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
            sleep 0.2
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "process $pid ignored SIGTERM for 15 s: killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    if [ "${KEEP_WORK:-0}" = 1 ]; then
        echo "work directory kept: $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    if [ -f "$work/cotel.err" ]; then
        tail -n 40 "$work/cotel.err" | sed 's/^/  cotel: /' >&2
    fi
    if [ -f "$work/kd.err" ]; then
        tail -n 20 "$work/kd.err" | sed 's/^/  cotel-kafka-dev: /' >&2
    fi
    exit 1
}

# wait_for SECONDS COMMAND...: runs COMMAND every 0.2 s until it succeeds or time runs out.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# start_kd ARGS...: starts the development broker; sets kd_pid and BS (its bootstrap list).
start_kd() {
    rm -f "$work/bootstrap"
    "$KD" --bootstrap-file "$work/bootstrap" "$@" >"$work/kd.out" 2>"$work/kd.err" &
    kd_pid=$!
    wait_for 15 test -s "$work/bootstrap" || fail "cotel-kafka-dev not ready within 15 s"
    BS=$(cat "$work/bootstrap")
}

# kd_signal USR1|USR2: takes the brokers down or brings them back, and waits until it is done.
kd_signal() {
    local before
    before=$(grep -c "SIG$1" "$work/kd.err" || true)
    kill -"$1" "$kd_pid"
    wait_for 10 eval "[ \"\$(grep -c SIG$1 $work/kd.err)\" -gt $before ]" ||
        fail "cotel-kafka-dev did not act on SIG$1"
}

# start_cotel CONFIG: starts cotel and waits until it reports ready. Its own metrics are on
# 127.0.0.1:$METRICS_PORT (the config must use it).
start_cotel() {
    "$COTEL" --config "$1" >"$work/cotel.out" 2>"$work/cotel.err" &
    cotel_pid=$!
    wait_for 20 grep -q "everything is ready" "$work/cotel.err" ||
        fail "cotel not ready within 20 s"
}

# stop_cotel: SIGTERM; cotel must exit on its own (it drains within its deadline).
stop_cotel() {
    kill -TERM "$cotel_pid"
    wait_for 40 eval '! kill -0 '"$cotel_pid"' 2>/dev/null' ||
        fail "cotel still running 40 s after SIGTERM"
    wait "$cotel_pid" || true
    cotel_pid=""
}

# The service section every test config ends with: pipelines of every signal from otlp to the
# given exporters, and cotel's metrics on METRICS_PORT.
service_section() {
    cat <<EOF
service:
  telemetry:
    metrics:
      address: 127.0.0.1:$METRICS_PORT
  pipelines:
    traces: {receivers: [otlp], exporters: [$1]}
    metrics: {receivers: [otlp], exporters: [$1]}
    logs: {receivers: [otlp], exporters: [$1]}
EOF
}

# metric NAME LABEL: the value of cotel's own metric NAME whose labels include LABEL, such as
# exporter="kafka" (0 when absent).
metric() {
    curl -s --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics" |
        awk -v name="$1{" -v label="$2" \
            'index($0, name) == 1 && (index($0, "{" label ",") || index($0, "," label ",") ||
             index($0, "," label "}") || index($0, "{" label "}")) { v = $NF }
             END { print (v == "" ? 0 : v) }'
}

# sent_at_least EXPORTER ITEM N: the exporter has handled (sent or failed) N items of a kind.
sent_at_least() {
    local sent failed
    sent=$(metric "otelcol_exporter_sent_$2_total" "exporter=\"$1\"")
    failed=$(metric "otelcol_exporter_send_failed_$2_total" "exporter=\"$1\"")
    [ "${sent%.*}" -ge "$3" ] || [ $(( ${sent%.*} + ${failed%.*} )) -ge "$3" ]
}

# send SIGNAL COUNT BATCH MANIFEST [send.js options...]: the JS SDK over gRPC to cotel.
send() {
    local signal=$1 count=$2 batch=$3 manifest=$4
    shift 4
    (cd "$JS" && timeout 300 node send.js --signal "$signal" --protocol grpc \
        --endpoint "http://127.0.0.1:$OTLP_PORT" --count "$count" --batch "$batch" \
        --manifest "$manifest" --seed "$signal-$RANDOM" "$@") >"$manifest.out" ||
        fail "send.js $signal failed: $(cat "$manifest.out")"
}

# grpc_export SIGNAL FILE: sends the protobuf request in FILE to cotel's OTLP/gRPC receiver as
# it is (grpc-js with an identity serializer); prints the gRPC status code.
grpc_export() {
    (cd "$JS" && timeout 60 node -e '
const grpc = require("@grpc/grpc-js");
const fs = require("fs");
const [signal, file, addr] = process.argv.slice(1);
const svc = {traces: "trace.v1.TraceService", metrics: "metrics.v1.MetricsService",
             logs: "logs.v1.LogsService"}[signal];
const client = new grpc.Client(addr, grpc.credentials.createInsecure(),
                               {"grpc.max_send_message_length": -1});
client.makeUnaryRequest(`/opentelemetry.proto.collector.${svc}/Export`, (b) => b, (b) => b,
    fs.readFileSync(file), (err) => { console.log(err ? err.code : 0); client.close(); });
' "$1" "$2" "127.0.0.1:$OTLP_PORT")
}

# json_field FILE FIELD: a field of the JSON summary send.js printed.
json_field() {
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

# consume TOPIC OUT FORMAT: every record of the topic, as kcat formats them.
consume() {
    timeout 60 kcat -b "$BS" -C -t "$1" -e -q -f "$3" >"$2" 2>"$2.err" ||
        fail "kcat could not read topic $1: $(cat "$2.err")"
}

# verify SIGNAL INPUT-OPTION FILE MANIFEST [verify.js options...]
verify() {
    local signal=$1 opt=$2 file=$3 manifest=$4
    shift 4
    (cd "$JS" && node verify.js --manifest "$manifest" --signal "$signal" "$opt" "$file" \
        --report "$file.report" "$@") >"$file.verify" 2>&1 ||
        fail "verify.js $signal $file: $(cut -c1-1500 "$file.verify")"
    echo "verified $signal in $(basename "$file"): $(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print("matched %d, duplicates %d, missing unacknowledged %d"
      % (r["matched"], r["duplicates"], r["missingUnacknowledged"]))
' "$file.report")"
}
