#!/usr/bin/env bash
# The otlp_grpc exporter end to end: a real SDK (tests/js/send.js) sends through cotel to a
# grpc-js backend (tests/js/backend.js) and to a second cotel; every item must arrive with its
# resource and scope (verify.js). Also: gzip on and off, headers, round_robin over two
# backends, and TLS with a CA made here (verification on, skip-verify, name override, mTLS).
set -uo pipefail
export LC_ALL=C
source "$(dirname "$0")/lib/common.sh"

require_built "$COTEL"
require_tools openssl
require_js

# The processes of this test by name: backends and cotels.
declare -A pids=()

# start_backend NAME ARGS...: backend.js on a free port, writing $work/NAME.{jsonl,stats,meta};
# sets BPORT.
start_backend() {
    local name=$1
    shift
    : >"$work/$name.out"
    node "$JS/backend.js" --port 0 --out "$work/$name.jsonl" --stats "$work/$name.stats" \
        --meta-out "$work/$name.meta" "$@" >"$work/$name.out" 2>"$work/$name.err" &
    pids[$name]=$!
    track $!
    wait_for 15 grep -q '^listening ' "$work/$name.out" ||
        fail "backend $name did not start"
    BPORT=$(sed -n 's/^listening 127\.0\.0\.1://p' "$work/$name.out")
}

# run_cotel NAME CONFIG: a cotel of this test, logging to $work/NAME.err.
run_cotel() {
    start_cotel "$2" "$1"
    pids[$1]=$cotel_pid
}

# stop NAME: SIGTERM, at most 30 s to end; it must exit 0.
stop() {
    stop_pid "${pids[$1]}" 30 "$1"
    unset "pids[$1]"
    [ "$RC" -eq 0 ] || fail "$1 exited with status $RC"
}

# cotel_config FILE RECEIVER_PORT METRICS_PORT EXPORTERS_YAML PIPELINE_EXPORTERS
cotel_config() {
    cat >"$1" <<EOF
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$2
exporters:
$4
service:
  telemetry:
    metrics:
      address: 127.0.0.1:$3
  pipelines:
    traces: {receivers: [otlp], exporters: [$5]}
    metrics: {receivers: [otlp], exporters: [$5]}
    logs: {receivers: [otlp], exporters: [$5]}
EOF
}

# metric METRICS_PORT NAME EXPORTER: the value of NAME{..., exporter="EXPORTER", ...} (the
# other labels, such as service_name, are ignored); empty when absent.
metric() {
    metric_value "$1" "$2" "exporter=\"$3\""
}

metric_is() { [ "$(metric "$1" "$2" "$3")" = "$4" ]; }

send() { # SIGNAL PORT COUNT MANIFEST [send.js options...]
    local sig=$1 port=$2 count=$3 manifest=$4
    shift 4
    send_js "$work/send-$sig.log" --signal "$sig" --protocol grpc \
        --endpoint "http://127.0.0.1:$port" --count "$count" --manifest "$manifest" \
        --seed "$sig-$RANDOM" "$@" ||
        fail "send.js $sig to port $port: $(tail -n 3 "$work/send-$sig.log.err")"
}

# verified SIGNAL MANIFEST JSONL...: every acknowledged item arrived exactly once, intact.
verified() {
    local sig=$1 manifest=$2 f
    local inputs=()
    shift 2
    for f in "$@"; do
        inputs+=(--otlp-json-lines "$f")
    done
    verify_js "$work/verify.json" --signal "$sig" --manifest "$manifest" "${inputs[@]}"
}

# expect_delivered WHAT SIGNAL MANIFEST JSONL...: waits up to 30 s for verify.js to pass.
expect_delivered() {
    local what=$1
    shift
    wait_for 30 verified "$@" ||
        fail "$what: $1 not all delivered intact: $(head -c 1500 "$work/verify.json")"
}

# ---------------------------------------------------------------------------------------------
# 1. SDK -> cotel -> backend.js, all three signals, gzip (the default), headers.
start_backend direct
rport=$(free_port)
mport=$(free_port)
cotel_config "$work/direct.yaml" "$rport" "$mport" "  otlp_grpc:
    endpoint: 127.0.0.1:$BPORT
    tls:
      insecure: true
    headers:
      X-Cotel-Test: direct-42
    retry_on_failure:
      initial_interval: 100ms" otlp_grpc
run_cotel cotel-direct "$work/direct.yaml"
grep -q "exporting OTLP/gRPC to 127.0.0.1:$BPORT (plaintext, compression gzip, round_robin)" \
    "$work/cotel-direct.err" || fail "startup line does not describe the channel"

send traces "$rport" 450 "$work/direct-traces.json" --batch 50
send metrics "$rport" 300 "$work/direct-metrics.json"
send logs "$rport" 250 "$work/direct-logs.json" --batch 25
for sig in traces metrics logs; do
    expect_delivered direct "$sig" "$work/direct-$sig.json" "$work/direct.jsonl"
done

# manifest_sum FIELD MANIFEST...: the sum of a numeric field over manifests.
manifest_sum() {
    local field=$1
    shift
    node -e 'let t = 0; for (const f of process.argv.slice(2))
            t += Number(JSON.parse(require("fs").readFileSync(f, "utf8"))[process.argv[1]]);
        console.log(t);' "$field" "$@"
}

# Each SDK request became exactly one Export call, compressed, with the configured header.
batches=$(manifest_sum batches "$work"/direct-{traces,metrics,logs}.json)
calls=$(json_field "$work/direct.stats" requests)
[ "$calls" = "$batches" ] || fail "direct: backend saw $calls calls for $batches batches"
[ "$(json_field "$work/direct.stats" encodings)" = "{\"gzip\":$batches}" ] ||
    fail "direct: not every call was gzip-compressed: $(json_field "$work/direct.stats" encodings)"
headered=$(grep -c '"x-cotel-test":"direct-42"' "$work/direct.meta")
[ "$headered" = "$batches" ] || fail "direct: the header came with $headered of $batches calls"
wait_for 10 metric_is "$mport" otelcol_exporter_sent_spans_total otlp_grpc 450 ||
    fail "direct: sent_spans is $(metric "$mport" otelcol_exporter_sent_spans_total otlp_grpc)"
points=$(json_field "$work/direct.stats" itemsBySignal.metrics)
wait_for 10 metric_is "$mport" otelcol_exporter_sent_metric_points_total otlp_grpc "$points" ||
    fail "direct: sent_metric_points is not $points"
wait_for 10 metric_is "$mport" otelcol_exporter_sent_log_records_total otlp_grpc 250 ||
    fail "direct: sent_log_records is not 250"
for item in spans metric_points log_records; do
    metric_is "$mport" "otelcol_exporter_send_failed_${item}_total" otlp_grpc 0 ||
        fail "direct: send_failed_$item is not 0"
done
stop cotel-direct
stop direct
pass "SDK -> cotel -> grpc-js backend: 3 signals intact, one gzip call per request, headers"

# ---------------------------------------------------------------------------------------------
# 2. compression: none -> the backend sees uncompressed calls.
start_backend plain
rport=$(free_port)
mport=$(free_port)
cotel_config "$work/plain.yaml" "$rport" "$mport" "  otlp_grpc:
    endpoint: http://127.0.0.1:$BPORT
    compression: none" otlp_grpc
run_cotel cotel-plain "$work/plain.yaml"
send traces "$rport" 200 "$work/plain-traces.json" --batch 50
expect_delivered "compression none" traces "$work/plain-traces.json" "$work/plain.jsonl"
encodings=$(json_field "$work/plain.stats" encodings)
[ "$encodings" = '{"identity":4}' ] || fail "compression none: backend saw encodings $encodings"
stop cotel-plain
stop plain
pass "compression: none sends uncompressed calls (http:// endpoint means plaintext)"


# ---------------------------------------------------------------------------------------------
# 3. SDK -> cotel A (exporter under its old name "otlp", dns:/// endpoint, keepalive)
#    -> cotel B (otlp receiver, file exporter).
bport=$(free_port)
cat >"$work/b.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$bport
exporters:
  file:
    path: $work/b-out.jsonl
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces: {receivers: [otlp], exporters: [file]}
    metrics: {receivers: [otlp], exporters: [file]}
    logs: {receivers: [otlp], exporters: [file]}
EOF
run_cotel cotel-b "$work/b.yaml"
rport=$(free_port)
mport=$(free_port)
cotel_config "$work/a.yaml" "$rport" "$mport" "  otlp:
    endpoint: dns:///localhost:$bport
    tls:
      insecure: true
    keepalive:
      time: 20s
      timeout: 5s" otlp
run_cotel cotel-a "$work/a.yaml"
send traces "$rport" 300 "$work/chain-traces.json"
send metrics "$rport" 200 "$work/chain-metrics.json"
send logs "$rport" 300 "$work/chain-logs.json" --batch 60
for sig in traces metrics logs; do
    expect_delivered "cotel -> cotel" "$sig" "$work/chain-$sig.json" "$work/b-out.jsonl"
done
stop cotel-a
stop cotel-b
pass "SDK -> cotel (exporter 'otlp', dns:///) -> cotel -> file exporter: 3 signals intact"

# ---------------------------------------------------------------------------------------------
# 4. balancer_name over two addresses (an ipv4: target lists both): round_robin uses both
#    backends, pick_first only one.
start_backend rr1
p1=$BPORT
start_backend rr2
p2=$BPORT
for policy in round_robin pick_first; do
    : >"$work/rr1.jsonl"
    : >"$work/rr2.jsonl"
    rport=$(free_port)
    mport=$(free_port)
    cotel_config "$work/$policy.yaml" "$rport" "$mport" "  otlp_grpc:
    endpoint: ipv4:127.0.0.1:$p1,127.0.0.1:$p2
    balancer_name: $policy
    tls:
      insecure: true" otlp_grpc
    run_cotel "cotel-$policy" "$work/$policy.yaml"
    # One batch at a time: by then round_robin has both connections up.
    send traces "$rport" 2000 "$work/$policy.json" --batch 100
    expect_delivered "$policy" traces "$work/$policy.json" "$work/rr1.jsonl" "$work/rr2.jsonl"
    n1=$(wc -l <"$work/rr1.jsonl")
    n2=$(wc -l <"$work/rr2.jsonl")
    echo "  $policy: $n1 + $n2 calls"
    case $policy in
    round_robin)
        [ "$n1" -ge 3 ] && [ "$n2" -ge 3 ] ||
            fail "round_robin: calls split $n1/$n2 between the two backends"
        ;;
    pick_first)
        [ "$n1" -eq 0 ] || [ "$n2" -eq 0 ] ||
            fail "pick_first: calls split $n1/$n2 between the two backends"
        ;;
    esac
    stop "cotel-$policy"
done
stop rr1
stop rr2
pass "balancer_name: round_robin spreads calls over every address, pick_first does not"

# ---------------------------------------------------------------------------------------------
# 5. TLS, with a CA made here. The server certificate names 127.0.0.1 and localhost; a second
#    one names only otlp.test; a client certificate for mTLS.
tls=$work/tls
make_ca "$tls"
make_cert "$tls" server "IP:127.0.0.1,DNS:localhost" serverAuth
make_cert "$tls" other "DNS:otlp.test" serverAuth
make_cert "$tls" client "DNS:cotel-client" clientAuth

# tls_case NAME EXPECT(delivered|refused) TLS_YAML BACKEND_ARGS...
tls_case() {
    local name=$1 expect=$2 tls_yaml=$3
    shift 3
    start_backend "tls-$name" "$@"
    local port=$BPORT
    rport=$(free_port)
    mport=$(free_port)
    cotel_config "$work/tls-$name.yaml" "$rport" "$mport" "  otlp_grpc:
    endpoint: 127.0.0.1:$port
    tls:
$tls_yaml
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 200ms
      max_elapsed_time: 2s" otlp_grpc
    run_cotel "cotel-tls-$name" "$work/tls-$name.yaml"
    send traces "$rport" 100 "$work/tls-$name.json" --batch 50
    if [ "$expect" = delivered ]; then
        expect_delivered "tls $name" traces "$work/tls-$name.json" "$work/tls-$name.jsonl"
        metric_is "$mport" otelcol_exporter_send_failed_spans_total otlp_grpc 0 ||
            fail "tls $name: spans counted as failed"
    else
        # The handshake fails: nothing reaches the backend, and the spans are dropped,
        # counted, once the retries run out.
        wait_for 20 metric_is "$mport" otelcol_exporter_send_failed_spans_total otlp_grpc 100 ||
            fail "tls $name: 100 spans not counted as failed"
        [ "$(json_field "$work/tls-$name.stats" requests)" = 0 ] ||
            fail "tls $name: the backend accepted a call"
        grep -q "dropping 50 spans: retries exhausted" "$work/cotel-tls-$name.err" ||
            fail "tls $name: the drop is not logged"
    fi
    stop "cotel-tls-$name"
    stop "tls-$name"
    echo "  tls $name: $expect"
}
server_tls=(--tls-cert "$tls/server.pem" --tls-key "$tls/server.key")
tls_case ca-file delivered "      ca_file: $tls/ca.pem" "${server_tls[@]}"
tls_case system-cas refused "      insecure: false" "${server_tls[@]}"
tls_case skip-verify delivered "      insecure_skip_verify: true" "${server_tls[@]}"
tls_case name-override delivered "      ca_file: $tls/ca.pem
      server_name_override: otlp.test" --tls-cert "$tls/other.pem" --tls-key "$tls/other.key"
tls_case wrong-name refused "      ca_file: $tls/ca.pem" \
    --tls-cert "$tls/other.pem" --tls-key "$tls/other.key"
tls_case mtls delivered "      ca_file: $tls/ca.pem
      cert_file: $tls/client.pem
      key_file: $tls/client.key" "${server_tls[@]}" --tls-client-ca "$tls/ca.pem"
tls_case mtls-no-cert refused "      ca_file: $tls/ca.pem" "${server_tls[@]}" \
    --tls-client-ca "$tls/ca.pem"
pass "TLS: verified against ca_file (system CAs refuse a private CA), skip-verify, \
server_name_override, wrong name refused, mTLS with and without a client certificate"

# ---------------------------------------------------------------------------------------------
# 6. examples/otlp-forward.yaml is valid, and forwards as it says (its fixed ports swapped for
#    free ones, its endpoint and plaintext set through the variables it documents).
example=$SRC/examples/otlp-forward.yaml
"$COTEL" validate --config "$example" >"$work/validate.log" 2>&1 ||
    fail "examples/otlp-forward.yaml does not validate: $(cat "$work/validate.log")"
start_backend example
rport=$(free_port)
hport=$(free_port)
mport=$(free_port)
sed -e "s/localhost:4317/127.0.0.1:$rport/" -e "s/localhost:4318/127.0.0.1:$hport/" \
    -e "s/localhost:8888/127.0.0.1:$mport/" "$example" >"$work/example.yaml"
COTEL_FORWARD_ENDPOINT=127.0.0.1:$BPORT COTEL_FORWARD_INSECURE=true \
    run_cotel cotel-example "$work/example.yaml"
send traces "$rport" 500 "$work/example-traces.json" --batch 50
send logs "$rport" 200 "$work/example-logs.json"
expect_delivered example traces "$work/example-traces.json" "$work/example.jsonl"
expect_delivered example logs "$work/example-logs.json" "$work/example.jsonl"
stop cotel-example
stop example
pass "examples/otlp-forward.yaml validates and forwards traces and logs intact"

echo "all otlp_grpc export checks passed"
