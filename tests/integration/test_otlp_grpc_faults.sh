#!/usr/bin/env bash
# The otlp_grpc exporter and the engine's queue and retry under faults, against a grpc-js
# backend (tests/js/backend.js) fed by a real SDK (tests/js/send.js): UNAVAILABLE retried
# until delivered, RESOURCE_EXHAUSTED with RetryInfo retried after its delay, permanent codes
# dropped and counted without retry, partial success, the backoff schedule and
# max_elapsed_time, a 30 s outage mid-stream, a full queue refusing with UNAVAILABLE, fan-out
# isolation from a stopped backend, and shutdown draining within its deadline.
set -uo pipefail
export LC_ALL=C
source "$(dirname "$0")/lib/common.sh"

require_built "$COTEL"
require_js

# The processes of this test by name: backends and cotels.
declare -A pids=()

# start_backend NAME PORT ARGS...: backend.js on PORT (0: a free one), appending accepted
# requests to $work/NAME.jsonl; counters in $work/NAME.stats. Sets BPORT.
start_backend() {
    local name=$1 port=$2
    shift 2
    : >"$work/$name.out"
    node "$JS/backend.js" --port "$port" --out "$work/$name.jsonl" --stats "$work/$name.stats" \
        "$@" >"$work/$name.out" 2>>"$work/$name.err" &
    pids[$name]=$!
    track $!
    wait_for 15 grep -q '^listening ' "$work/$name.out" || fail "backend $name did not start"
    BPORT=$(sed -n 's/^listening 127\.0\.0\.1://p' "$work/$name.out")
}

requests() { json_field "$work/$1.stats" requests; }

# run_cotel NAME CONFIG: a cotel of this test, logging to $work/NAME.err.
run_cotel() {
    start_cotel "$2" "$1"
    pids[$1]=$cotel_pid
}

# stop NAME [SECONDS]: SIGTERM, at most SECONDS (30) to end; must exit 0. Sets STOP_SECONDS.
stop() {
    local t0=$SECONDS
    stop_pid "${pids[$1]}" "${2:-30}" "$1"
    unset "pids[$1]"
    STOP_SECONDS=$((SECONDS - t0))
    [ "$RC" -eq 0 ] || fail "$1 exited with status $RC"
}

# cotel_config FILE RECEIVER_PORT METRICS_PORT EXPORTERS_YAML TRACE_EXPORTERS [SERVICE_EXTRA]
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
${6:-}
  telemetry:
    metrics:
      address: 127.0.0.1:$3
  pipelines:
    traces: {receivers: [otlp], exporters: [$5]}
    logs: {receivers: [otlp], exporters: [$5]}
EOF
}

# otlp_exporter BACKEND_PORT EXTRA_YAML: an otlp_grpc exporter entry, plaintext.
otlp_exporter() {
    printf '  otlp_grpc:\n    endpoint: 127.0.0.1:%s\n    tls:\n      insecure: true\n%s' \
        "$1" "$2"
}

# metric METRICS_PORT NAME [EXPORTER]: the value of NAME{..., exporter="EXPORTER", ...} (the
# other labels, such as service_name, are ignored); empty when absent.
metric() {
    metric_value "$1" "$2" "exporter=\"${3:-otlp_grpc}\""
}

metric_is() { [ "$(metric "$1" "$2")" = "$3" ]; }
metric_positive() { [ "$(metric "$1" "$2")" -gt 0 ] 2>/dev/null; }

send() { # NAME SIGNAL PORT COUNT [send.js options...]: manifest in $work/NAME.json
    local name=$1 sig=$2 port=$3 count=$4
    shift 4
    send_js "$work/send-$name.log" --signal "$sig" --protocol grpc \
        --endpoint "http://127.0.0.1:$port" --count "$count" --manifest "$work/$name.json" \
        --seed "$name-$RANDOM" "$@" || fail "send.js $name: $(tail -n 3 "$work/send-$name.log.err")"
}

# verified SIGNAL MANIFEST JSONL: every acknowledged item arrived exactly once, intact.
verified() {
    [ -f "$3" ] &&
        verify_js "$work/verify.json" --signal "$1" --manifest "$2" --otlp-json-lines "$3"
}

expect_delivered() { # WHAT SECONDS SIGNAL MANIFEST JSONL
    local what=$1 secs=$2
    shift 2
    wait_for "$secs" verified "$@" ||
        fail "$what: $1 not all delivered intact: $(head -c 1500 "$work/verify.json")"
}

quick_retry="    retry_on_failure:
      initial_interval: 100ms
      max_interval: 200ms
"

# ---------------------------------------------------------------------------------------------
# 1. UNAVAILABLE for the first 3 calls: retried, everything arrives once.
start_backend unavail 0 --fail-first 3 --fail-code UNAVAILABLE
rport=$(free_port)
mport=$(free_port)
cotel_config "$work/unavail.yaml" "$rport" "$mport" "$(otlp_exporter "$BPORT" "$quick_retry")" \
    otlp_grpc
run_cotel cotel-unavail "$work/unavail.yaml"
send unavail traces "$rport" 500 --batch 100
expect_delivered UNAVAILABLE 30 traces "$work/unavail.json" "$work/unavail.jsonl"
[ "$(requests unavail)" = 8 ] || fail "UNAVAILABLE: $(requests unavail) calls, expected 5 + 3"
wait_for 5 metric_is "$mport" otelcol_exporter_sent_spans_total 500 ||
    fail "UNAVAILABLE: sent_spans $(metric "$mport" otelcol_exporter_sent_spans_total)"
metric_is "$mport" otelcol_exporter_send_failed_spans_total 0 ||
    fail "UNAVAILABLE: spans counted as failed"
grep -q "send failed, will retry in .*UNAVAILABLE" "$work/cotel-unavail.err" ||
    fail "UNAVAILABLE: the retry is not logged"
stop cotel-unavail
stop unavail
pass "UNAVAILABLE: 3 failed calls retried, all 500 spans delivered once"

# ---------------------------------------------------------------------------------------------
# 1b. RESOURCE_EXHAUSTED with google.rpc.RetryInfo: retryable, after the delay the backend asks
#     for (1.5 s), not after the configured 100 ms.
start_backend retryinfo 0 --fail-first 2 --fail-code RESOURCE_EXHAUSTED --retry-info-ms 1500
rport=$(free_port)
mport=$(free_port)
cotel_config "$work/retryinfo.yaml" "$rport" "$mport" \
    "$(otlp_exporter "$BPORT" "$quick_retry")" otlp_grpc
run_cotel cotel-retryinfo "$work/retryinfo.yaml"
t0=$(date +%s%N)
send retryinfo traces "$rport" 100 --batch 100
expect_delivered RetryInfo 30 traces "$work/retryinfo.json" "$work/retryinfo.jsonl"
waited_ms=$((($(date +%s%N) - t0) / 1000000))
[ "$(requests retryinfo)" = 3 ] || fail "RetryInfo: $(requests retryinfo) calls, expected 2 + 1"
[ "$waited_ms" -ge 2800 ] ||
    fail "RetryInfo: delivered after ${waited_ms} ms; two 1.5 s RetryInfo delays were not honoured"
stop cotel-retryinfo
stop retryinfo
pass "RESOURCE_EXHAUSTED with RetryInfo 1.5 s: retried after the asked delay (${waited_ms} ms)"

# ---------------------------------------------------------------------------------------------
# 2. Permanent codes (INVALID_ARGUMENT; RESOURCE_EXHAUSTED without RetryInfo): dropped, counted,
#    logged, never retried.
for code in INVALID_ARGUMENT RESOURCE_EXHAUSTED; do
    start_backend "perm-$code" 0 --fail-first 1000000 --fail-code "$code"
    rport=$(free_port)
    mport=$(free_port)
    cotel_config "$work/perm-$code.yaml" "$rport" "$mport" \
        "$(otlp_exporter "$BPORT" "$quick_retry")" otlp_grpc
    run_cotel "cotel-perm-$code" "$work/perm-$code.yaml"
    send "perm-$code-t" traces "$rport" 300 --batch 100
    send "perm-$code-l" logs "$rport" 120 --batch 40
    wait_for 10 metric_is "$mport" otelcol_exporter_send_failed_spans_total 300 ||
        fail "$code: send_failed_spans $(metric "$mport" otelcol_exporter_send_failed_spans_total)"
    wait_for 10 metric_is "$mport" otelcol_exporter_send_failed_log_records_total 120 ||
        fail "$code: send_failed_log_records is not 120"
    sleep 1.5 # ten retry intervals: a retry would show in the backend's count
    [ "$(requests "perm-$code")" = 6 ] ||
        fail "$code: the backend saw $(requests "perm-$code") calls for 6 requests (retried?)"
    metric_is "$mport" otelcol_exporter_sent_spans_total 0 || fail "$code: spans counted as sent"
    grep -q "dropping 100 spans: not retryable ($code: backend.js" "$work/cotel-perm-$code.err" ||
        fail "$code: the drop is not logged with its reason"
    stop "cotel-perm-$code"
    stop "perm-$code"
done
pass "INVALID_ARGUMENT and RESOURCE_EXHAUSTED (no RetryInfo): dropped, counted, logged, no retry"

# ---------------------------------------------------------------------------------------------
# 3. Partial success: logged with its count, the rejected items counted, no retry.
start_backend partial 0 --partial-success 3
rport=$(free_port)
mport=$(free_port)
cotel_config "$work/partial.yaml" "$rport" "$mport" "$(otlp_exporter "$BPORT" "$quick_retry")" \
    otlp_grpc
run_cotel cotel-partial "$work/partial.yaml"
send partial traces "$rport" 300 --batch 100
wait_for 10 metric_is "$mport" otelcol_exporter_sent_spans_total 291 ||
    fail "partial: sent_spans $(metric "$mport" otelcol_exporter_sent_spans_total), expected 291"
metric_is "$mport" otelcol_exporter_send_failed_spans_total 9 ||
    fail "partial: send_failed_spans is not 9"
sleep 1.5
[ "$(requests partial)" = 3 ] || fail "partial: $(requests partial) calls for 3 requests"
logged="dropping 3 spans: partial success, rejected by the destination.*rejected 3 of 100"
grep -q "$logged" "$work/cotel-partial.err" || fail "partial: not logged with its count and message"
stop cotel-partial
stop partial
pass "partial success: 3 of each 100 rejected, logged and counted, not retried"

# ---------------------------------------------------------------------------------------------
# 4. The backoff schedule: always UNAVAILABLE, no jitter, 100 ms x1.5 up to 400 ms, give up
#    after 2 s -> attempts at about 0, .1, .25, .48, .81, 1.21, 1.61 s: 7 calls, then dropped.
#    With retry_on_failure disabled: one call, dropped.
backoff="    retry_on_failure:
      initial_interval: 100ms
      randomization_factor: 0
      multiplier: 1.5
      max_interval: 400ms
      max_elapsed_time: 2s
"
noretry="    retry_on_failure:
      enabled: false
"
for mode in backoff noretry; do
    start_backend "$mode" 0 --fail-first 1000000 --fail-code UNAVAILABLE
    rport=$(free_port)
    mport=$(free_port)
    cotel_config "$work/$mode.yaml" "$rport" "$mport" "$(otlp_exporter "$BPORT" "${!mode}")" \
        otlp_grpc
    run_cotel "cotel-$mode" "$work/$mode.yaml"
    t0=$(date +%s%N)
    send "$mode" traces "$rport" 100
    wait_for 10 metric_is "$mport" otelcol_exporter_send_failed_spans_total 100 ||
        fail "$mode: 100 spans not counted as failed"
    elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
    sleep 1
    calls=$(requests "$mode")
    echo "  $mode: $calls calls, dropped after ${elapsed_ms} ms"
    if [ "$mode" = backoff ]; then
        # ~7 on an idle machine; each call's own time counts against max_elapsed_time, so a
        # loaded machine fits fewer in (seen: 2 at a load average of 10).
        [ "$calls" -ge 3 ] && [ "$calls" -le 8 ] || fail "backoff: $calls calls, expected ~7"
        [ "$elapsed_ms" -ge 1500 ] || fail "backoff: gave up after $elapsed_ms ms, before ~1.6 s"
        grep -q "dropping 100 spans: retries exhausted (max_elapsed_time) (UNAVAILABLE" \
            "$work/cotel-$mode.err" || fail "backoff: giving up is not logged"
    else
        [ "$calls" = 1 ] || fail "noretry: $calls calls, expected 1"
        grep -q "dropping 100 spans: retry disabled (UNAVAILABLE" "$work/cotel-$mode.err" ||
            fail "noretry: the drop is not logged"
    fi
    stop "cotel-$mode"
    stop "$mode"
done
pass "retry: exponential backoff without jitter gives ~7 calls in 2 s, then drops; disabled: 1"

# ---------------------------------------------------------------------------------------------
# 5. The backend down for 30 s mid-stream: the queue holds the data, all of it arrives once.
start_backend outage 0
oport=$BPORT
rport=$(free_port)
mport=$(free_port)
cotel_config "$work/outage.yaml" "$rport" "$mport" "$(otlp_exporter "$oport" "    retry_on_failure:
      initial_interval: 500ms
      max_interval: 3s
      max_elapsed_time: 120s
")" otlp_grpc
run_cotel cotel-outage "$work/outage.yaml"
send_js "$work/send-outage.log" --signal traces --protocol grpc \
    --endpoint "http://127.0.0.1:$rport" --count 5000 --batch 50 --rate 100 \
    --manifest "$work/outage.json" --seed "outage-$RANDOM" &
sender=$!
track "$sender"
sleep 5
stop outage
down_at=$SECONDS
queued_max=0
while [ $((SECONDS - down_at)) -lt 30 ]; do
    q=$(metric "$mport" otelcol_exporter_queue_size)
    [ "${q:-0}" -gt "$queued_max" ] && queued_max=$q
    sleep 1
done
start_backend outage "$oport"
wait_exit "$sender" 60 "outage: send.js"
[ "$RC" -eq 0 ] || fail "outage: send.js failed: $(tail -n 3 "$work/send-outage.log.err")"
[ "$(json_field "$work/outage.json" failed)" = 0 ] ||
    fail "outage: the client saw $(json_field "$work/outage.json" failed) items refused"
[ "$queued_max" -gt 10 ] || fail "outage: the queue held at most $queued_max requests"
expect_delivered outage 60 traces "$work/outage.json" "$work/outage.jsonl"
metric_is "$mport" otelcol_exporter_send_failed_spans_total 0 ||
    fail "outage: spans counted as failed"
stop cotel-outage
stop outage
pass "30 s outage mid-stream: up to $queued_max requests queued, all 5000 spans delivered once"

# ---------------------------------------------------------------------------------------------
# 6. A small queue with the backend down, for each sizer: the client sees UNAVAILABLE once the
#    queue is full; what was accepted is delivered once the backend starts, and nothing else.
#    One consumer holds 1 batch of 50 in retry; the queue then takes 4 batches (requests: 4,
#    items: 200) -- 250 spans exactly; bytes: 100000, about 3 batches of ~30 KB each.
for sizing in requests:4 items:200 bytes:100000; do
    sizer=${sizing%%:*}
    size=${sizing#*:}
    name=small-$sizer
    sport=$(free_port)
    rport=$(free_port)
    mport=$(free_port)
    cotel_config "$work/$name.yaml" "$rport" "$mport" "$(otlp_exporter "$sport" "    sending_queue:
      num_consumers: 1
      sizer: $sizer
      queue_size: $size
    retry_on_failure:
      initial_interval: 200ms
      max_interval: 500ms
      max_elapsed_time: 0
")" otlp_grpc
    run_cotel "cotel-$name" "$work/$name.yaml"
    send "$name" traces "$rport" 600 --batch 50 --allow-failures --timeout-ms 1000
    acked=$(json_field "$work/$name.json" acknowledged)
    failed=$(json_field "$work/$name.json" failed)
    queued=$(metric "$mport" otelcol_exporter_queue_size)
    echo "  $name: $acked spans accepted, $failed refused, queue at $queued of $size $sizer"
    case $sizer in
    requests | items)
        [ "$acked" = 250 ] || fail "$name: $acked spans accepted, expected 1 + 4 batches of 50"
        ;;
    bytes)
        [ "$acked" -ge 100 ] && [ "$acked" -le 400 ] && [ "$failed" -ge 50 ] ||
            fail "$name: $acked accepted, $failed refused"
        ;;
    esac
    [ "${queued:-0}" -gt 0 ] && [ "$queued" -le "$size" ] ||
        fail "$name: queue size $queued outside (0, $size]"
    grep -q "UNAVAILABLE" "$work/$name.json" ||
        fail "$name: the client's errors do not say UNAVAILABLE"
    enq=$(metric "$mport" otelcol_exporter_enqueue_failed_spans_total)
    [ "${enq:-0}" -ge "$failed" ] || fail "$name: enqueue_failed_spans $enq < $failed refused"
    start_backend "$name" "$sport"
    expect_delivered "$name" 40 traces "$work/$name.json" "$work/$name.jsonl"
    [ "$(json_field "$work/verify.json" received)" = "$acked" ] ||
        fail "$name: the backend got $(json_field "$work/verify.json" received) spans, not $acked"
    stop "cotel-$name"
    stop "$name"
done
pass "full queue (requests, items, bytes sizers): the client saw UNAVAILABLE, every accepted \
span delivered, nothing more"

# ---------------------------------------------------------------------------------------------
# 7. Fan-out isolation: one pipeline into otlp_grpc (backend stopped) and file; the file keeps
#    getting everything at the sender's rate, and the backend gets it all once it starts.
fport=$(free_port)
rport=$(free_port)
mport=$(free_port)
cotel_config "$work/fanout.yaml" "$rport" "$mport" "$(otlp_exporter "$fport" "    retry_on_failure:
      initial_interval: 500ms
      max_interval: 2s
")
  file:
    path: $work/fanout-file.jsonl" "otlp_grpc, file"
run_cotel cotel-fanout "$work/fanout.yaml"
send fanout traces "$rport" 2000 --batch 20 --rate 200
[ "$(json_field "$work/fanout.json" failed)" = 0 ] || fail "fan-out: the client saw refusals"
duration=$(json_field "$work/fanout.json" durationMs)
slowest=$(node -e 'const m = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    console.log(Math.max(...m.batchResults.map((b) => b.latencyMs)));' "$work/fanout.json")
echo "  fan-out: 100 batches in $duration ms (10000 planned), slowest answer $slowest ms"
[ "$duration" -lt 13000 ] || fail "fan-out: sending took $duration ms for 10 s planned"
[ "$slowest" -lt 1500 ] || fail "fan-out: a batch waited $slowest ms for its answer"
expect_delivered "fan-out (file)" 10 traces "$work/fanout.json" "$work/fanout-file.jsonl"
metric_positive "$mport" otelcol_exporter_queue_size || fail "fan-out: otlp_grpc queue is empty"
start_backend fanout "$fport"
expect_delivered "fan-out (backend after restart)" 40 traces "$work/fanout.json" \
    "$work/fanout.jsonl"
stop cotel-fanout
stop fanout
pass "fan-out: the file exporter got all 2000 spans at full rate while the backend was down"

# ---------------------------------------------------------------------------------------------
# 8. Shutdown drains the queue: (a) a slow backend gets everything queued before cotel exits;
#    (b) with the backend down, cotel exits at its shutdown_timeout and reports what is lost.
start_backend slow 0 --delay-ms 400
rport=$(free_port)
mport=$(free_port)
cotel_config "$work/drain.yaml" "$rport" "$mport" "$(otlp_exporter "$BPORT" "    sending_queue:
      num_consumers: 2
")" otlp_grpc "  shutdown_timeout: 20s"
run_cotel cotel-drain "$work/drain.yaml"
send drain traces "$rport" 3000 --batch 100
queued=$(metric "$mport" otelcol_exporter_queue_size)
stop cotel-drain 25
echo "  drain: $queued requests queued at SIGTERM, cotel exited after ${STOP_SECONDS} s"
[ "${queued:-0}" -gt 5 ] || fail "drain: only ${queued:-0} requests were queued at SIGTERM"
verified traces "$work/drain.json" "$work/slow.jsonl" ||
    fail "drain: not everything delivered before exit: $(head -c 1500 "$work/verify.json")"
grep -q "could not be delivered" "$work/cotel-drain.err" && fail "drain: reported a loss"
stop slow

dport=$(free_port)
rport=$(free_port)
mport=$(free_port)
cotel_config "$work/deadline.yaml" "$rport" "$mport" "$(otlp_exporter "$dport" "    sending_queue:
      num_consumers: 2
    retry_on_failure:
      initial_interval: 200ms
")" otlp_grpc "  shutdown_timeout: 2s"
run_cotel cotel-deadline "$work/deadline.yaml"
send deadline traces "$rport" 1000 --batch 100
sleep 0.5
stop cotel-deadline 10
echo "  deadline: cotel exited ${STOP_SECONDS} s after SIGTERM"
[ "$STOP_SECONDS" -le 6 ] || fail "deadline: exit took $STOP_SECONDS s with shutdown_timeout 2s"
grep -q "shutdown: 800 queued items could not be delivered before the deadline" \
    "$work/cotel-deadline.err" || fail "deadline: the 800 queued spans are not reported"
# Requests in retry are dropped as the deadline passes (or, when a call is in flight then,
# as it is cancelled).
dropped="dropping 100 spans: \(shutdown deadline reached while retrying\|not retryable (CANCELLED\)"
grep -q "$dropped" "$work/cotel-deadline.err" ||
    fail "deadline: the requests in retry are not reported"
pass "shutdown: drains a slow backend fully; with it down, exits at the deadline and reports loss"

echo "all otlp_grpc fault checks passed"
