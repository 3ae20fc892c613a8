#!/usr/bin/env bash
# SIGTERM while clients are sending over OTLP/gRPC: calls in flight must be answered, and
# every item cotel acknowledged must be in the file exporter's output. The JS SDK sends the
# three signals at a steady rate; raw gRPC clients send back to back, so that calls are in
# flight at the moment the receiver stops. Their answers may only be OK, UNAVAILABLE (refused
# while stopping, or no server any more) or CANCELLED (gRPC core cuts calls whose message was
# still arriving when the server shut down); each is safe to retry.
set -euo pipefail
export LC_ALL=C

SRC=${COTEL_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${COTEL_BUILD_DIR:-$SRC/build}
COTEL=${COTEL_BIN:-$BUILD/cmd/cotel/cotel}
RAW=$BUILD/tools/otlp-raw-client/otlp-raw-client
JS=$SRC/tests/js

for bin in "$COTEL" "$RAW"; do
    if [ ! -x "$bin" ]; then
        echo "FAIL: not built: $bin" >&2
        exit 1
    fi
done
for tool in node npm flock timeout; do
    if ! command -v "$tool" >/dev/null; then
        echo "SKIP: $tool not installed (scripts/install-deps.sh installs it)"
        exit 77
    fi
done
if [ ! -d "$JS/node_modules" ]; then
    flock /tmp/cotel-tests-npm-ci.lock \
        sh -c "cd '$JS' && { [ -d node_modules ] || npm ci --no-audit --no-fund >/dev/null; }"
fi

work=$(mktemp -d)
cotel_pid=""
client_pids=()
cleanup() {
    for pid in $cotel_pid "${client_pids[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    if [ -f "$work/cotel.err" ]; then
        tail -n 30 "$work/cotel.err" | sed 's/^/  cotel: /' >&2
    fi
    exit 1
}

wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}

free_port() {
    node -e 'const s = require("net").createServer();
             s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

# One span named "raw", by hand in the protobuf wire format.
node -e '
const fs = require("fs");
const len = (f, b) => Buffer.concat([Buffer.from([f * 8 + 2, b.length]), b]);
const span = Buffer.concat([len(1, Buffer.alloc(16, 7)), len(2, Buffer.alloc(8, 7)),
                            len(5, Buffer.from("raw"))]);
fs.writeFileSync(process.argv[1], len(1, len(2, len(2, span))));' "$work/raw.bin"

# The raw clients use a receiver and file of their own, apart from what verify.js checks.
port=$(free_port)
raw_port=$(free_port)
mport=$(free_port)
cat >"$work/cotel.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$port
  otlp/raw:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$raw_port
exporters:
  file:
    path: $work/out.jsonl
  file/raw:
    path: $work/raw.jsonl
service:
  telemetry:
    metrics:
      address: 127.0.0.1:$mport
  pipelines:
    traces: {receivers: [otlp], exporters: [file]}
    metrics: {receivers: [otlp], exporters: [file]}
    logs: {receivers: [otlp], exporters: [file]}
    traces/raw: {receivers: [otlp/raw], exporters: [file/raw]}
EOF

: >"$work/cotel.err" # exists before the first look at it
"$COTEL" --config "$work/cotel.yaml" >"$work/cotel.out" 2>"$work/cotel.err" &
cotel_pid=$!
wait_for 15 grep -q "OTLP/gRPC listening on 127.0.0.1:$raw_port" "$work/cotel.err" ||
    fail "the receivers did not log that they listen"
status=$("$RAW" --wait --timeout 10 "127.0.0.1:$port" traces /dev/null) ||
    fail "no answer to an empty request"
[ "$status" = OK ] || fail "an empty request got $status, want OK"

# 400 items a second for 6 s each; the SIGTERM comes after about 2.5 s.
for signal in traces metrics logs; do
    timeout 90 node "$JS/send.js" --signal "$signal" --protocol grpc \
        --endpoint "http://127.0.0.1:$port" --count 2400 --batch 10 --rate 400 \
        --max-seconds 12 --timeout-ms 3000 --allow-failures \
        --manifest "$work/$signal.json" >"$work/$signal.out" 2>"$work/$signal.err" &
    client_pids+=($!)
done
raw_pids=()
for i in 1 2 3; do
    "$RAW" --timeout 3 --repeat 1000000 "127.0.0.1:$raw_port" traces "$work/raw.bin" \
        >"$work/raw$i.codes" 2>"$work/raw$i.err" &
    raw_pids+=($!)
    client_pids+=($!)
done

sleep 2.5
kill -TERM "$cotel_pid"
wait_for 30 eval "! kill -0 $cotel_pid 2>/dev/null" || fail "cotel still running 30 s after SIGTERM"
rc=0
wait "$cotel_pid" || rc=$?
cotel_pid=""
[ "$rc" -eq 0 ] || fail "cotel exited with status $rc after SIGTERM"

# The raw clients now only hear that nobody listens; their last call may be cut off by the kill
# and then has no line, so it counts as not acknowledged.
for pid in "${raw_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
done
for signal in traces metrics logs; do
    wait "${client_pids[0]}" || fail "send.js $signal: $(cat "$work/$signal.err")"
    client_pids=("${client_pids[@]:1}")
done
client_pids=()

cat "$work"/raw*.codes >"$work/raw.all"
bad_codes=$(grep -v -x -E 'OK|UNAVAILABLE|CANCELLED' "$work/raw.all" | sort | uniq -c || true)
[ -z "$bad_codes" ] || fail "raw clients got unexpected codes: $bad_codes"
raw_ok=$(grep -c -x OK "$work/raw.all" || true)
raw_refused=$(grep -c -v -x OK "$work/raw.all" || true)
[ "$raw_ok" -gt 0 ] || fail "no raw call succeeded before the SIGTERM"
[ "$raw_refused" -gt 0 ] || fail "no raw call was refused: the SIGTERM did not come mid-traffic"

# Each acknowledged raw call is one span named "raw" in the file (a call whose answer was lost
# may be there too: at least once).
raw_in_file=$(grep -o '"name":"raw"' "$work/raw.jsonl" | wc -l)
[ "$raw_in_file" -ge "$raw_ok" ] ||
    fail "$raw_ok raw calls acknowledged, but only $raw_in_file of their spans in the file"

failed_total=0
for signal in traces metrics logs; do
    node "$JS/verify.js" --signal "$signal" --manifest "$work/$signal.json" \
        --otlp-json-lines "$work/out.jsonl" >"$work/verify-$signal.out" ||
        fail "verify.js $signal: $(head -c 2000 "$work/verify-$signal.out")"
    failed=$(node -e 'console.log(require(process.argv[1]).failed)' "$work/$signal.json")
    failed_total=$((failed_total + failed))
done
[ "$failed_total" -gt 0 ] || fail "the SDK clients lost nothing: the SIGTERM came too late to test"

echo "PASS: SIGTERM mid-traffic: $raw_ok raw calls and every SDK item acknowledged are in the" \
    "file ($raw_refused raw calls and $failed_total SDK items refused as the collector stopped)"
