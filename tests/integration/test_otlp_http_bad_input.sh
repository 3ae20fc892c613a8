#!/usr/bin/env bash
# The otlp receiver over HTTP against bodies and headers a client gets wrong, each with the
# exact status it must answer: OTLP/JSON edge cases (hex ids, 64-bit times as strings, numbers
# and worse, unknown fields), compressed bodies (gzip, two gzip members, corrupt streams, a
# decompression bomb that must not grow the process), content types, methods, encodings,
# 2,000 idle connections, a garbage request line, keep-alive connections during shutdown, and
# the warning at the connection limit. After all of it a good request must still succeed.
set -uo pipefail
export LC_ALL=C
source "$(dirname "$0")/lib/common.sh"

require_built "$COTEL"

# ---------------------------------------------------------------------------------------------
# The bodies, written by python3: OTLP/JSON text, gzip streams, a bomb.
python3 - "$work" <<'PY' || fail "cannot generate the test bodies"
import gzip, json, sys, zlib

work = sys.argv[1]
TRACE = "5b8efff798038103d269b633813fc60c"
SPAN = "eee19b7ec3c1b174"

def request(name, **span_fields):
    span = {"traceId": TRACE, "spanId": SPAN, "name": name, "kind": 2}
    span.update(span_fields)
    return {"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "bad-input-test"}}]},
        "scopeSpans": [{"scope": {"name": "t"}, "spans": [span]}]}]}

def write(name, data):
    with open(f"{work}/{name}", "wb") as f:
        f.write(data if isinstance(data, bytes) else json.dumps(data).encode())

write("good.json", request("good"))
write("ids-base64.json", request("b64", traceId="W47/95gDgQPSabYzgT/GDA==", spanId="7uGbfsPBsXQ="))
write("time-string.json", request("t-string", startTimeUnixNano="1700000000000000000"))
write("time-number.json", request("t-number", startTimeUnixNano=1700000000000000000))
write("time-object.json", request("t-object", startTimeUnixNano={"n": 1}))
write("time-25digits.json", request("t-25", startTimeUnixNano="1234567890123456789012345"))
unknown = request("unknown-field")
unknown["somethingNew"] = {"nested": [1, 2, 3]}
write("unknown-field.json", unknown)

write("gzip.json.gz", gzip.compress(json.dumps(request("gzipped")).encode()))
write("deflate.json.z", zlib.compress(json.dumps(request("deflated")).encode()))
corrupt = bytearray(gzip.compress(json.dumps(request("corrupt")).encode()))
corrupt[12:20] = b"\xff" * 8  # inside the deflate data, past the 10-byte gzip header
write("corrupt.json.gz", bytes(corrupt))
truncated = gzip.compress(json.dumps(request("truncated")).encode())
write("truncated.json.gz", truncated[: len(truncated) // 2])

# One JSON document split over two gzip members: each member holds one span.
two = json.dumps({"resourceSpans": [request("member-one")["resourceSpans"][0],
                                    request("member-two")["resourceSpans"][0]]})
cut = two.index('{"resource"', 20)
write("two-members.json.gz", gzip.compress(two[:cut].encode()) + gzip.compress(two[cut:].encode()))

# 1 GiB of zeros, gzip'd at level 9. Deflate cannot do better than about 1032:1, so 1 GiB takes
# about 1 MB of body; that is the smallest gzip bomb of that size there is.
z = zlib.compressobj(9, zlib.DEFLATED, 31)
chunk = bytes(1 << 20)
with open(f"{work}/bomb.gz", "wb") as f:
    for _ in range(1024):
        f.write(z.compress(chunk))
    f.write(z.flush())
PY

# ---------------------------------------------------------------------------------------------
port=$(free_port)
mport=$(free_port)
dead_port=$(free_port)
base=http://127.0.0.1:$port
cat >"$work/cotel.yaml" <<EOF
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:$port
        max_request_body_size: 8MiB
exporters:
  file:
    path: $work/out.jsonl
    format: json
    flush_interval: 100ms
  # Nothing listens at its endpoint and its queue holds one request: it soon refuses logs.
  otlp_http/dead:
    endpoint: http://127.0.0.1:$dead_port
    retry_on_failure:
      initial_interval: 5s
      max_elapsed_time: 6s
    sending_queue:
      num_consumers: 1
      queue_size: 1
service:
  telemetry:
    metrics:
      address: 127.0.0.1:$mport
  pipelines:
    traces: {receivers: [otlp], exporters: [file]}
    logs: {receivers: [otlp], exporters: [otlp_http/dead]}
EOF
# Room for 2,000 idle connections: cotel takes three quarters of its soft open-files limit,
# inherited from this shell, as its connection limit.
hard_nofile=$(ulimit -H -n)
nofile=8192
[ "$hard_nofile" = unlimited ] || [ "$hard_nofile" -ge "$nofile" ] || nofile=$hard_nofile
ulimit -S -n "$nofile" || fail "cannot raise the soft open-files limit to $nofile"
start_cotel "$work/cotel.yaml"

# expect STATUS NAME [curl options...]: POSTs to /v1/traces unless the options say otherwise;
# the answer's body goes to $work/NAME.body and its headers to $work/NAME.head.
expect() {
    local want=$1 name=$2 got
    shift 2
    got=$(curl -s --max-time 30 -o "$work/$name.body" -D "$work/$name.head" -w '%{http_code}' \
        "$@" "$base/v1/traces") || true
    [ "$got" = "$want" ] ||
        fail "$name: status $got, expected $want ($(head -c 300 "$work/$name.body"))"
    echo "ok $want  $name"
}
json() { expect "$1" "$2" -H "Content-Type: application/json" --data-binary "@$work/$3" "${@:4}"; }
gz() { json "$1" "$2" "$3" -H "Content-Encoding: gzip"; }
body_has() {
    grep -q -- "$2" "$work/$1.body" ||
        fail "$1: body lacks '$2': $(head -c 300 "$work/$1.body")"
}
head_has() { grep -qi -- "^$2" "$work/$1.head" || fail "$1: no header '$2'"; }

# OTLP/JSON
json 200 good good.json
head_has good "Content-Type: application/json"
[ "$(cat "$work/good.body")" = "{}" ] || fail "good: body is not {}"
json 400 ids-base64 ids-base64.json
head_has ids-base64 "Content-Type: application/json"
body_has ids-base64 '"code":3'
body_has ids-base64 'traceId'
json 200 time-string time-string.json
json 200 time-number time-number.json
json 400 time-object time-object.json
body_has time-object 'startTimeUnixNano'
json 400 time-25digits time-25digits.json
body_has time-25digits 'startTimeUnixNano'
json 200 unknown-field unknown-field.json
json 200 charset good.json -H "Content-Type: application/json; charset=utf-8"
pass "OTLP/JSON: hex ids required, 64-bit times as strings or numbers only, unknown fields skipped"

# Compression
gz 200 gzip gzip.json.gz
json 200 deflate deflate.json.z -H "Content-Encoding: deflate"
gz 400 corrupt-gzip corrupt.json.gz
body_has corrupt-gzip 'gzip'
gz 400 truncated-gzip truncated.json.gz
gz 200 two-members two-members.json.gz
json 400 unknown-encoding good.json -H "Content-Encoding: br0tli"
body_has unknown-encoding 'Content-Encoding'
json 400 snappy good.json -H "Content-Encoding: snappy"
body_has snappy 'unsupported encoding'
for name in gzipped deflated member-one member-two t-string t-number unknown-field; do
    wait_for 15 grep -q "\"name\":\"$name\"" "$work/out.jsonl" ||
        fail "span '$name' was accepted but never reached the file"
done
for name in b64 t-object t-25 corrupt truncated; do
    ! grep -q "\"name\":\"$name\"" "$work/out.jsonl" || fail "refused span '$name' was passed on"
done
pass "gzip, deflate and two gzip members decoded; corrupt, truncated and unknown encodings 400"

# The bomb: 413, and the process's peak memory (VmHWM) grows by at most 4 times the body limit
# of 8 MiB: the body's buffer, its last doubling, and room for an allocator that copies on
# realloc (AddressSanitizer). Inflating it all would take 1 GiB.
hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$cotel_pid/status"; }
bound=$((4 * 8 * 1024))
before=$(hwm)
expect 413 bomb -H "Content-Type: application/x-protobuf" -H "Content-Encoding: gzip" \
    --data-binary "@$work/bomb.gz"
body_has bomb 'max_request_body_size'
after=$(hwm)
grew=$((after - before))
[ "$grew" -lt "$bound" ] || fail "bomb: VmHWM grew by $grew KiB (from $before KiB; bound $bound)"
pass "a $(stat -c %s "$work/bomb.gz")-byte gzip body inflating to 1 GiB: 413," \
    "VmHWM grew by $grew KiB (bound $bound)"

# An identity body declared larger than the limit is refused before it is read.
head -c $((9 * 1024 * 1024)) /dev/zero >"$work/big.bin"
expect 413 too-large -H "Content-Type: application/x-protobuf" --data-binary "@$work/big.bin"
head_has too-large "Content-Type: application/x-protobuf"

# Protobuf that does not parse: 400 with a google.rpc.Status in protobuf (field 1 = 3).
printf '\x0a\xff\x01abc' >"$work/broken.pb"
expect 400 broken-proto -H "Content-Type: application/x-protobuf" --data-binary "@$work/broken.pb"
head_has broken-proto "Content-Type: application/x-protobuf"
[ "$(head -c 2 "$work/broken-proto.body" | od -An -tx1 | tr -d ' ')" = "0803" ] ||
    fail "broken-proto: the body is not a Status with code 3"

# Content types, methods, paths
expect 415 no-content-type -H "Content-Type:" --data-binary "@$work/good.json"
expect 415 text-plain -H "Content-Type: text/plain" --data-binary "@$work/good.json"
expect 405 get -X GET
head_has get "Allow: POST"
expect 405 put -X PUT -H "Content-Type: application/json" --data-binary "@$work/good.json"
got=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -H "Content-Type: application/json" \
    --data-binary "@$work/good.json" "$base/v1/unknown")
[ "$got" = 404 ] || fail "unknown path: status $got, expected 404"
got=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -H "Content-Type: application/json" \
    --data-binary "@$work/good.json" "$base/v1/metrics")
[ "$got" = 404 ] || fail "metrics without a metrics pipeline: status $got, expected 404"
pass "415 for missing and other content types, 405 with Allow, 404 for unknown paths and signals"

# A pipeline that refuses (its exporter's queue is full): 503 with an UNAVAILABLE Status.
log='{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"x"}}]}]}]}'
refused=""
for i in 1 2 3 4 5; do
    got=$(curl -s --max-time 10 -o "$work/refused.body" -w '%{http_code}' \
        -H "Content-Type: application/json" --data "$log" "$base/v1/logs")
    case $got in
    200) ;;
    503) refused=$i && break ;;
    *) fail "logs into a full queue: status $got" ;;
    esac
done
[ -n "$refused" ] || fail "logs into a full queue: never refused"
grep -q '"code":14' "$work/refused.body" || fail "503 without an UNAVAILABLE Status body"
pass "a pipeline refusing (full queue) is 503 with code 14 (request $refused)"

# Keep-alive: two requests in one curl run share one connection.
conns=$(curl -s --max-time 10 -o /dev/null -o /dev/null -w '%{num_connects} ' \
    -H "Content-Type: application/json" --data-binary "@$work/good.json" \
    "$base/v1/traces" "$base/v1/traces")
[ "$conns" = "1 0 " ] || fail "keep-alive: new connections per request were '$conns'"

# 2,000 idle connections, past the 1,024 of select(): cotel holds them all (its descriptors
# count them) and still answers a new client at once.
if [ "$nofile" -ge 4096 ]; then
    python3 - "$port" "$cotel_pid" 2000 <<'PY' || fail "2,000 idle connections stop the server"
import os, socket, sys, time

port, pid, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
socks = []
try:
    for _ in range(n):
        socks.append(socket.create_connection(("127.0.0.1", port), timeout=10))
    deadline = time.monotonic() + 15
    while len(os.listdir(f"/proc/{pid}/fd")) < n and time.monotonic() < deadline:
        time.sleep(0.1)
    held = len(os.listdir(f"/proc/{pid}/fd"))
    assert held >= n, f"cotel has {held} descriptors open, fewer than the {n} connections"
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 2\r\n\r\n{}")
    status = s.recv(4096).split(b"\r\n", 1)[0]
    assert status.startswith(b"HTTP/1.1 200"), status
    s.close()
finally:
    for s in socks:
        s.close()
PY
    pass "2,000 idle connections held; a new request still answered 200"
else
    echo "SKIP (this check only): the hard open-files limit ($hard_nofile) leaves no room for" \
        "2,000 connections"
fi

# A request line that is not HTTP: libmicrohttpd (0.9.75) closes the connection at once, with no
# answer; it must not hang.
python3 - "$port" <<'PY' || fail "a garbage request line"
import socket, sys

s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GARBAGE\r\n\r\n")
answer = s.recv(4096)
assert answer == b"" or answer.startswith(b"HTTP/1.1 400"), answer
PY

# Still healthy after all of it.
json 200 good-again good.json
kill -0 "$cotel_pid" 2>/dev/null || fail "cotel died"
pass "keep-alive connection reused; a good request afterwards still 200"

# ---------------------------------------------------------------------------------------------
# Shutdown: a request whose body is still arriving when SIGTERM comes is answered 503, and
# cotel still exits 0. Meanwhile a new request on a kept-alive connection is answered 503 with
# Connection: close.
python3 - "$port" "$cotel_pid" "$work/good.json" <<'PY' || fail "a request open across SIGTERM"
import os, signal, socket, sys, time
port, pid, body = int(sys.argv[1]), int(sys.argv[2]), open(sys.argv[3], "rb").read()
head = (b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body))

def answer(s):
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = s.recv(4096)
        if not chunk:
            break
        got += chunk
    return got

kept = socket.create_connection(("127.0.0.1", port), timeout=20)
kept.sendall(head + body)
first = answer(kept)
assert first.startswith(b"HTTP/1.1 200"), first
s = socket.create_connection(("127.0.0.1", port), timeout=20)
s.sendall(head + body[:10])
time.sleep(0.3)
os.kill(pid, signal.SIGTERM)
time.sleep(0.5)
kept.sendall(head + body)
again = answer(kept)
assert again.startswith(b"HTTP/1.1 503"), again
assert b"\r\nconnection: close\r\n" in again.lower(), again
s.sendall(body[10:])
status = answer(s).split(b"\r\n", 1)[0]
assert status.startswith(b"HTTP/1.1 503"), status
print("answered during shutdown:", status.decode())
PY
wait_exit "$cotel_pid" 30 "cotel, after SIGTERM,"
[ "$RC" -eq 0 ] || fail "cotel exited with status $RC after SIGTERM"
pass "a request open across SIGTERM is answered 503, keep-alive ones 503 with Connection: close;" \
    "cotel exits 0"

# ---------------------------------------------------------------------------------------------
# The connection limit: with an open-files limit of 256, cotel takes 192 connections at
# once. Past that, new clients wait, and cotel says so in a warning; once the connections
# close, a client is served again.
small_port=$(free_port)
small_mport=$(free_port)
sed -e "s/127.0.0.1:$port\$/127.0.0.1:$small_port/" \
    -e "s/127.0.0.1:$mport\$/127.0.0.1:$small_mport/" "$work/cotel.yaml" >"$work/small.yaml"
# cotel raises its soft limit to the hard one at start, so both are lowered, in a wrapper that
# then becomes cotel (same PID).
printf '#!/bin/sh\nulimit -n 256 && exec "%s" "$@"\n' "$COTEL" >"$work/cotel-256"
chmod +x "$work/cotel-256"
real_cotel=$COTEL
COTEL=$work/cotel-256
start_cotel "$work/small.yaml" small
COTEL=$real_cotel
grep -q "OTLP/HTTP listening on 127.0.0.1:$small_port .*up to 192 connections" "$work/small.err" ||
    fail "the small cotel does not say its connection limit is 192"
python3 - "$small_port" "$work/small.err" <<'PY' || fail "the connection limit"
import socket, sys, time

port, log = int(sys.argv[1]), sys.argv[2]
socks = []
try:
    for _ in range(200):
        socks.append(socket.create_connection(("127.0.0.1", port), timeout=10))
    deadline = time.monotonic() + 15
    while "HTTP connection limit reached" not in open(log).read():
        assert time.monotonic() < deadline, "no warning at the connection limit"
        time.sleep(0.1)
finally:
    for s in socks:
        s.close()
PY
got=$(curl -s --max-time 20 -o /dev/null -w '%{http_code}' -H "Content-Type: application/json" \
    --data-binary "@$work/good.json" "http://127.0.0.1:$small_port/v1/traces")
[ "$got" = 200 ] || fail "after the connections at the limit closed: status $got, expected 200"
stop_cotel_clean 30
pass "at the connection limit (192) a warning; served again once connections close"
