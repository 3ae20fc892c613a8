# Shared by the integration tests that run the Kafka development broker (test_kafka_*.sh,
# test_persistent_queue.sh, test_health_check.sh; sourced, not run): starting the broker and
# taking it down, sending with the JS SDK to cotel's $OTLP_PORT, cotel's own metrics on
# $METRICS_PORT, consuming with kcat. The rest of the harness (work directory, cleanup by PID,
# fail, wait_for, start_cotel ...) is tests/integration/lib/common.sh.

set -euo pipefail
export LC_ALL=C
source "$(dirname "${BASH_SOURCE[0]}")/../../tests/integration/lib/common.sh"

require_built "$COTEL" "$KD"
require_tools kcat
require_js

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

# The service section every test config ends with: pipelines of every signal from otlp to the
# given exporters, and cotel's metrics on METRICS_PORT.
service_section() {
    cat <<EOS
service:
  telemetry:
    metrics:
      address: 127.0.0.1:$METRICS_PORT
  pipelines:
    traces: {receivers: [otlp], exporters: [$1]}
    metrics: {receivers: [otlp], exporters: [$1]}
    logs: {receivers: [otlp], exporters: [$1]}
EOS
}

# metric NAME [LABEL...]: cotel's own metric NAME on METRICS_PORT whose labels include each
# LABEL, such as exporter="kafka" (0 when absent).
metric() {
    local value
    value=$(metric_value "$METRICS_PORT" "$@")
    echo "${value:-0}"
}

# sent_at_least EXPORTER ITEM N: the exporter has handled (sent or failed) N items of a kind.
sent_at_least() {
    local sent failed
    sent=$(metric "otelcol_exporter_sent_$2_total" "exporter=\"$1\"")
    failed=$(metric "otelcol_exporter_send_failed_$2_total" "exporter=\"$1\"")
    [ "${sent%.*}" -ge "$3" ] || [ $(( ${sent%.*} + ${failed%.*} )) -ge "$3" ]
}

# send SIGNAL COUNT BATCH MANIFEST [send.js options...]: the JS SDK over gRPC to cotel; the
# summary send.js prints is in MANIFEST.out.
send() {
    local signal=$1 count=$2 batch=$3 manifest=$4
    shift 4
    send_js "$manifest.out" --signal "$signal" --protocol grpc \
        --endpoint "http://127.0.0.1:$OTLP_PORT" --count "$count" --batch "$batch" \
        --manifest "$manifest" --seed "$signal-$RANDOM" "$@" ||
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

# consume TOPIC OUT FORMAT: every record of the topic, as kcat formats them.
consume() {
    timeout 60 kcat -b "$BS" -C -t "$1" -e -q -f "$3" >"$2" 2>"$2.err" ||
        fail "kcat could not read topic $1: $(cat "$2.err")"
}

# verify SIGNAL INPUT-OPTION FILE MANIFEST [verify.js options...]: every item of MANIFEST is in
# FILE; the report is in FILE.report.
verify() {
    local signal=$1 opt=$2 file=$3 manifest=$4
    shift 4
    verify_js "$file.verify" --manifest "$manifest" --signal "$signal" "$opt" "$file" \
        --report "$file.report" "$@" ||
        fail "verify.js $signal $file: $(cut -c1-1500 "$file.verify")"
    echo "verified $signal in $(basename "$file"): matched $(json_field "$file.report" matched)," \
        "duplicates $(json_field "$file.report" duplicates), missing unacknowledged" \
        "$(json_field "$file.report" missingUnacknowledged)"
}
