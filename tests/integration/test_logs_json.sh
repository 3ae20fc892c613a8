#!/usr/bin/env bash
# cotel's own logs: with service.telemetry.logs {encoding: json, level: debug} every stderr line
# is one JSON object with ts, level, component and msg (even when the message holds quotes,
# control characters or bytes that are not UTF-8); level warn keeps warnings and drops info;
# the console encoding is one tab-separated line per event.
set -euo pipefail
export LC_ALL=C
source "$(dirname "$0")/lib/common.sh"

require_built "$COTEL"
require_js

# run_cotel CONFIG: starts cotel, sends spans to it (whose delivery fails, so the exporter
# logs warnings), stops it with SIGTERM and checks it exited 0.
run_cotel() {
    "$COTEL" --config "$1" 2>"$work/cotel.err" &
    cotel_pid=$!
    # Level warn hides the "ready" line: wait for the receiver's port instead.
    wait_for 15 port_open "$GRPC" || fail "cotel's receiver did not listen within 15 s"
    send_js "$work/send.json" --signal traces --protocol grpc \
        --endpoint "http://127.0.0.1:$GRPC" --count 20 --batch 10 ||
        fail "send.js: $(cat "$work/send.json")"
    wait_for 15 grep -q 'will retry' "$work/cotel.err" || fail "no retry warning was logged"
    stop_cotel_clean 30
}

# write_config FILE LEVEL ENCODING
write_config() {
    cat >"$1" <<EOF
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$GRPC
exporters:
  otlp_grpc/nowhere:
    endpoint: 127.0.0.1:$DEAD
    tls: {insecure: true}
    timeout: 500ms
    retry_on_failure: {initial_interval: 100ms, max_interval: 200ms}
service:
  shutdown_timeout: 1s
  telemetry:
    logs: {level: $2, encoding: $3}
    metrics: {level: none}
  pipelines:
    traces: {receivers: [otlp], exporters: [otlp_grpc/nowhere]}
EOF
}

GRPC=$(free_port)
DEAD=$(free_port) # nothing listens: the exporter fails and logs warnings

# --- 1. json + debug. The config's path is logged, so a directory name with a quote, a
# backslash, a tab, a line feed and a byte that is not UTF-8 tests the escaping.
odd="$work/$(printf 'q"b\\\\t\tn\nx\377é')"
mkdir -p "$odd"
write_config "$odd/c.yaml" debug json
run_cotel "$odd/c.yaml"
python3 - "$work/cotel.err" <<'EOF' || fail "JSON log lines are not as expected"
import json, re, sys
raw = open(sys.argv[1], "rb").read()
assert raw.endswith(b"\n"), "stderr does not end with a line feed"
levels = {}
lines = raw.split(b"\n")[:-1]
assert len(lines) >= 5, "only %d lines" % len(lines)
for n, line in enumerate(lines, 1):
    text = line.decode("utf-8")  # strict: every line must be UTF-8
    obj = json.loads(text)
    assert isinstance(obj, dict), "line %d is not an object" % n
    for key in ("ts", "level", "component", "msg"):
        assert isinstance(obj.get(key), str), "line %d has no string %s: %s" % (n, key, text)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", obj["ts"]), obj["ts"]
    assert obj["level"] in ("debug", "info", "warn", "error"), obj["level"]
    levels[obj["level"]] = levels.get(obj["level"], 0) + 1
    comp = obj["component"]
    if comp.startswith("exporter/"):
        assert obj.get("otelcol.component.kind") == "exporter", text
        assert obj.get("otelcol.component.id") == comp[len("exporter/"):], text
start = [json.loads(l) for l in lines if b"starting with" in l]
assert len(start) == 1, "no single 'starting with' line"
assert 'q"b\\\\t\tn\nx\ufffd\u00e9/c.yaml' in start[0]["msg"], repr(start[0]["msg"])
assert levels.get("debug", 0) >= 1, "level debug but no debug line: %s" % levels
assert levels.get("info", 0) >= 3, "too few info lines: %s" % levels
assert levels.get("warn", 0) >= 1, "no warn line: %s" % levels
assert any(json.loads(l)["component"] == "exporter/otlp_grpc/nowhere" for l in lines)
print("ok: %d JSON lines, levels %s" % (len(lines), levels))
EOF

# --- 2. json + warn: warnings stay, info and debug lines go.
write_config "$work/warn.yaml" warn json
run_cotel "$work/warn.yaml"
python3 - "$work/cotel.err" <<'EOF' || fail "level warn did not filter as expected"
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
levels = [json.loads(l)["level"] for l in lines]
assert "warn" in levels, "no warn line at level warn: %s" % levels
bad = [l for l in lines if json.loads(l)["level"] in ("info", "debug")]
assert not bad, "info/debug lines at level warn: %s" % bad[:3]
print("ok: level warn: %d lines, all warn or error" % len(lines))
EOF

# --- 3. console (the default encoding), info: ts, level, component, message between tabs.
write_config "$work/console.yaml" info console
run_cotel "$work/console.yaml"
python3 - "$work/cotel.err" <<'EOF' || fail "console log lines are not as expected"
import re, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
for line in lines:
    parts = line.split("\t", 3)
    assert len(parts) == 4, "not 4 tab-separated fields: %r" % line
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", parts[0]), line
    assert parts[1] in ("info", "warn", "error"), line
assert any("\tinfo\tservice\treceived SIGTERM: shutting down" in l for l in lines)
assert any("\twarn\texporter/otlp_grpc/nowhere\t" in l for l in lines)
print("ok: %d console lines" % len(lines))
EOF

# --- 4. A failure at start is one JSON error line, and cotel exits 1 (it does not hang).
GRPC=$(free_port)
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(60)' \
    "$GRPC" &
holder=$!
track "$holder"
wait_for 10 port_open "$GRPC" || fail "could not occupy port $GRPC"
write_config "$work/busy.yaml" info json
rc=0
timeout 20 "$COTEL" --config "$work/busy.yaml" 2>"$work/cotel.err" || rc=$?
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true
forget "$holder"
[ "$rc" -eq 1 ] || fail "exit status $rc when the receiver's port is taken, expected 1"
python3 - "$work/cotel.err" <<'EOF' || fail "the start failure is not a JSON error line"
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8").read().splitlines()]
errors = [o for o in objs if o["level"] == "error"]
assert errors and "cannot start" in errors[-1]["msg"], objs
assert "cannot listen" in errors[-1]["msg"], errors[-1]
print("ok: start failure: %s" % errors[-1]["msg"])
EOF

echo "PASS: JSON logs parse line by line with ts/level/component/msg; levels filter; console lines"
