#!/usr/bin/env bash
# Tests cotel-kafka-dev (tools/kafka-dev) with kcat and a hand-made Kafka client: produce and
# consume, outages on SIGUSR1/SIGUSR2, and message.max.bytes refusals, including the
# multi-partition Produce requests librdkafka never sends (it sends one partition each).
set -euo pipefail
export LC_ALL=C
source "$(dirname "$0")/lib/common.sh"

require_built "$KD"
require_tools kcat

log_has() { grep -q -- "$1" "$work/kd.err"; }

# start_kd ARGS...: starts the broker; sets kd_pid and BS (its bootstrap list).
start_kd() {
    rm -f "$work/bootstrap"
    "$KD" --bootstrap-file "$work/bootstrap" "$@" >"$work/kd.out" 2>"$work/kd.err" &
    kd_pid=$!
    wait_for 15 test -s "$work/bootstrap" || fail "no bootstrap file within 15 s ($*)"
    BS=$(cat "$work/bootstrap")
    wait_for 5 grep -q . "$work/kd.out" || fail "no line on stdout"
    [ "$(cat "$work/kd.out")" = "bootstrap.servers=$BS" ] ||
        fail "stdout \"$(cat "$work/kd.out")\" does not match bootstrap file \"$BS\""
}

# stop_kd: SIGTERM must end it, cleanly and soon, removing its bootstrap file.
stop_kd() {
    stop_pid "$kd_pid" 10 cotel-kafka-dev
    [ "$RC" -eq 0 ] || fail "exit status $RC after SIGTERM"
    [ ! -e "$work/bootstrap" ] || fail "bootstrap file left behind"
}

produce() { # TOPIC PARTITION [kcat options...] < messages
    local topic=$1 partition=$2
    shift 2
    timeout 30 kcat -b "$BS" -P -t "$topic" -p "$partition" "$@"
}

consume() { # TOPIC FORMAT [kcat options...]
    local topic=$1 format=$2
    shift 2
    timeout 30 kcat -b "$BS" -C -t "$topic" -e -q -f "$format" "$@"
}

refused() { ! timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

ports_of() { tr ',' '\n' <<<"$1" | sed 's/.*://'; }

# --- Two brokers: produce and consume ---------------------------------------------------
start_kd --brokers 2 --message-max-bytes 4096
[ "$(ports_of "$BS" | wc -l)" -eq 2 ] || fail "expected two brokers in \"$BS\""
case "$BS" in 127.0.0.1:*,127.0.0.1:*) ;; *) fail "not on 127.0.0.1: $BS" ;; esac

metadata=$(timeout 30 kcat -b "$BS" -L) || fail "metadata request failed"
for port in $(ports_of "$BS"); do
    grep -q "at 127.0.0.1:$port\$" <<<"$metadata" || fail "metadata does not name port $port"
done
for topic in otlp_spans otlp_metrics otlp_logs; do
    grep -q "topic \"$topic\" with 3 partitions" <<<"$metadata" || fail "topic $topic missing"
done

printf 'span-%d\n' 1 2 3 4 5 | produce otlp_spans -1 || fail "produce to otlp_spans"
got=$(consume otlp_spans '%s\n' | sort)
[ "$got" = "$(printf 'span-%d\n' 1 2 3 4 5)" ] || fail "consumed otlp_spans: $got"

# Length-framed binary values come back byte for byte.
printf 'a\0b\nc' >"$work/binary"
produce otlp_metrics 0 -D '\xff' <"$work/binary" || fail "produce binary"
consume otlp_metrics '%R%s' -p 0 >"$work/binary.out"
printf '\0\0\0\5a\0b\nc' | cmp -s - "$work/binary.out" || fail "binary value changed"

# --- message.max.bytes through kcat (one partition per request) ---------------------------
head -c 5000 /dev/zero | tr '\0' x >"$work/big"
if produce otlp_logs 0 -D '\xff' <"$work/big" 2>"$work/kcat.err"; then
    fail "a 5000-byte message was accepted with --message-max-bytes 4096"
fi
grep -q "Message size too large" "$work/kcat.err" ||
    fail "no MESSAGE_TOO_LARGE: $(cat "$work/kcat.err")"
log_has "MESSAGE_TOO_LARGE" || fail "refusal not logged"
head -c 3000 /dev/zero | tr '\0' y | produce otlp_logs 0 -D '\xff' || fail "3000-byte message"
[ "$(consume otlp_logs '%S\n' -p 0)" = "3000" ] ||
    fail "otlp_logs [0] should hold one 3000-byte message"

# --- Outage: SIGUSR1 down, SIGUSR2 up ------------------------------------------------------
kill -USR1 "$kd_pid"
wait_for 5 log_has "SIGUSR1: brokers down" || fail "no down transition logged"
for port in $(ports_of "$BS"); do
    refused "$port" || fail "port $port still accepts connections while down"
done
start=$SECONDS
if echo lost | produce otlp_spans 0 -E -X message.timeout.ms=3000 2>/dev/null; then
    fail "produce succeeded while the brokers were down"
fi
[ $((SECONDS - start)) -le 15 ] || fail "produce while down took $((SECONDS - start)) s"

kill -USR2 "$kd_pid"
wait_for 5 log_has "SIGUSR2: brokers up" || fail "no up transition logged"
echo after-outage | produce otlp_spans 0 || fail "produce after SIGUSR2"
spans=$({ echo after-outage; printf 'span-%d\n' 1 2 3 4 5; } | sort)
got=$(consume otlp_spans '%s\n' | sort)
[ "$got" = "$spans" ] || fail "after outage: $got"

# A producer that stays connected through an outage gets every message in once it is over.
mkfifo "$work/fifo"
produce otlp_logs 2 -E -X message.timeout.ms=30000 <"$work/fifo" 2>/dev/null &
producer_pid=$!
track "$producer_pid"
exec 5>"$work/fifo"
echo before >&5
sleep 0.5
kill -USR1 "$kd_pid"
echo during >&5
sleep 1.5
kill -USR2 "$kd_pid"
echo after >&5
exec 5>&-
wait "$producer_pid" || fail "long-lived producer failed across the outage"
forget "$producer_pid"
[ "$(consume otlp_logs '%s ' -p 2)" = "before during after " ] || fail "messages lost in outage"

# Consumer groups. FindCoordinator responses must name the proxy's ports too: a client that
# learnt a mock broker's own port would bypass the proxy (and its outages) from then on.
# (kcat runs without timeout here: wait_for bounds the wait and cleanup ends it.)
kcat -b "$BS" -G kafka-dev-test -o beginning -q -u -f '%s\n' otlp_spans >"$work/group.out" &
group_pid=$!
track "$group_pid"
wait_for 30 eval '[ "$(wc -l <"$work/group.out")" -ge 6 ]' || fail "group consumer got nothing"
[ "$(sort "$work/group.out")" = "$spans" ] || fail "group consume: $(cat "$work/group.out")"
# The ports the consumer is connected to, from its socket inodes and /proc/net/tcp.
connected=$(python3 - "$group_pid" <<'PY'
import os, sys
pid = sys.argv[1]
inodes = set()
for fd in os.listdir(f"/proc/{pid}/fd"):
    target = os.readlink(f"/proc/{pid}/fd/{fd}")
    if target.startswith("socket:["):
        inodes.add(target[8:-1])
for line in open("/proc/net/tcp").readlines()[1:]:
    f = line.split()
    if f[9] in inodes and f[3] == "01":
        print(int(f[2].split(":")[1], 16))
PY
)
[ -n "$connected" ] || fail "group consumer has no connections"
for p in $connected; do
    ports_of "$BS" | grep -qx "$p" || fail "group consumer connected to port $p, not the proxy's"
done
kill -TERM "$group_pid"
wait "$group_pid" || true
forget "$group_pid"

stop_kd

# --- A chosen port, and multi-partition Produce requests by hand -------------------------
# A port free a moment ago (the system picks it; a clash in between is very unlikely).
port=$(free_port)
start_kd --port "$port" --topics rawtest --partitions 2 --message-max-bytes 1000
[ "$BS" = "127.0.0.1:$port" ] || fail "--port $port gave $BS"

cat >"$work/raw.py" <<'EOF'
# A minimal Kafka client: Produce v3 requests carrying one record batch per partition.
import socket, struct, sys, time

def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF

def varint(n):
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)

def string(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b

def record_batch(value):
    rec = b"\0" + varint(0) + varint(0) + varint(-1) + varint(len(value)) + value + varint(0)
    rec = varint(len(rec)) + rec
    now = int(time.time() * 1000)
    tail = struct.pack(">hiqqqhii", 0, 0, now, now, -1, -1, -1, 1) + rec
    body = struct.pack(">ibI", -1, 2, crc32c(tail)) + tail
    return struct.pack(">qi", 0, len(body)) + body

def produce(corr, acks, parts):
    msg = struct.pack(">hhi", 0, 3, corr) + string("raw-test")
    msg += struct.pack(">hhii", -1, acks, 5000, 1) + string("rawtest")
    msg += struct.pack(">i", len(parts))
    for partition, value in parts:
        batch = record_batch(value)
        msg += struct.pack(">ii", partition, len(batch)) + batch
    return struct.pack(">i", len(msg)) + msg

def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise SystemExit("connection closed while reading a response")
        data += chunk
    return data

def response(s):
    data = recv_exact(s, struct.unpack(">i", recv_exact(s, 4))[0])
    corr, topics = struct.unpack_from(">ii", data)
    pos, result = 8, {}
    for _ in range(topics):
        n = struct.unpack_from(">h", data, pos)[0]
        name = data[pos + 2:pos + 2 + n].decode()
        pos += 2 + n
        count = struct.unpack_from(">i", data, pos)[0]
        pos += 4
        for _ in range(count):
            index, err, base, _ = struct.unpack_from(">ihqq", data, pos)
            pos += 22
            result[(name, index)] = (err, base)
    pos += 4  # throttle time
    if pos != len(data):
        raise SystemExit(f"response {corr}: {len(data) - pos} bytes left over")
    return corr, result

def expect(what, got, want):
    if got != want:
        raise SystemExit(f"{what}: got {got}, want {want}")

port = int(sys.argv[1])
small, big = b"s" * 100, b"b" * 2000
s = socket.create_connection(("127.0.0.1", port), timeout=10)

# One request, one partition fits and one does not: only the large one is refused.
s.sendall(produce(1, -1, [(0, small), (1, big)]))
expect("mixed request", response(s),
       (1, {("rawtest", 0): (0, 0), ("rawtest", 1): (10, -1)}))

# Pipelined: a request refused whole (answered by the proxy) and a good one behind it; the
# responses must come back in request order.
s.sendall(produce(2, 1, [(1, big)]) + produce(3, 1, [(0, small)]))
expect("refused request", response(s), (2, {("rawtest", 1): (10, -1)}))
expect("request after it", response(s), (3, {("rawtest", 0): (0, 1)}))
# And the other way round: the refusal must wait for the broker's response ahead of it.
s.sendall(produce(4, 1, [(0, small)]) + produce(5, 1, [(1, big)]))
expect("request before a refused one", response(s), (4, {("rawtest", 0): (0, 2)}))
expect("refused request behind it", response(s), (5, {("rawtest", 1): (10, -1)}))

# acks=0 has no response to carry the error: the broker closes the connection instead.
s.sendall(produce(6, 0, [(1, big)]))
try:
    expect("connection after acks=0 refusal", s.recv(1), b"")
except socket.timeout:
    raise SystemExit("connection still open 10 s after an acks=0 refusal")
print("raw client: ok")
EOF
timeout 60 python3 "$work/raw.py" "$port" || fail "hand-made Produce requests"
[ "$(consume rawtest '%S ' -p 0)" = "100 100 100 " ] || fail "rawtest [0] should hold 3 messages"
[ -z "$(consume rawtest '%S ' -p 1)" ] || fail "rawtest [1] should be empty"

stop_kd
echo "PASS: cotel-kafka-dev"
