#!/usr/bin/env bash
# The prometheus receiver end to end: cotel scrapes a real Prometheus server's own /metrics (Go
# client counters, gauges, histograms, summaries) and a python3 target serving a fixed exposition
# whose every value is known, and writes OTLP/JSON with the file exporter. Checked with python3:
# types, values, bucket counts, quantiles, attributes and resources, `up` 1; then the python
# target is stopped and its job must report `up` 0 with stale markers. Skips (77) only when the
# prometheus binary is missing.
set -uo pipefail

src=${COTEL_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${COTEL_BUILD_DIR:-$src/build}
bin=${COTEL_BIN:-$build/cmd/cotel/cotel}

work=$(mktemp -d "${TMPDIR:-/tmp}/cotel-prom-recv.XXXXXX")
cotel_pid=""
prom_pid=""
target_pid=""
failures=0
passes=0

# Stops what was started here, by PID only, and removes the scratch directory.
stop_pid() {
    if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
        kill -KILL "$1" 2>/dev/null
        wait "$1" 2>/dev/null
    fi
}
cleanup() {
    stop_pid "$cotel_pid"
    stop_pid "$prom_pid"
    stop_pid "$target_pid"
    rm -rf "$work"
}
trap cleanup EXIT

pass() { passes=$((passes + 1)); echo "PASS: $*"; }
fail() { failures=$((failures + 1)); echo "FAIL: $*"; }

prometheus=$(command -v prometheus || true)
if [ -z "$prometheus" ]; then
    echo "SKIP: the prometheus binary is not installed (Debian package prometheus)"
    exit 77
fi
if [ ! -x "$bin" ]; then
    echo "FAIL: no cotel binary at $bin"
    exit 1
fi

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}
prom_port=$(free_port)
target_port=$(free_port)
metrics_port=$(free_port)

# Bounded wait until host:port accepts connections (or the process died).
wait_port() { # port pid what
    for _ in $(seq 1 150); do
        if ! kill -0 "$2" 2>/dev/null; then
            return 1
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# --- a real Prometheus, only as a target: it scrapes nothing itself ---
cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 1m
scrape_configs: []
EOF
"$prometheus" --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
prom_pid=$!

# --- the fixed target; it echoes the query parameter `module` to check params ---
cat >"$work/exposition.txt" <<'EOF'
# HELP it_requests_total Requests handled.
# TYPE it_requests_total counter
it_requests_total{method="get",code="200"} 1027
it_requests_total{method="post",code="500"} 3
# HELP it_temperature_celsius Current temperature.
# TYPE it_temperature_celsius gauge
it_temperature_celsius{room="lab \"A\"\\1\nnorth"} -3.5
# HELP it_latency_seconds Request latency.
# TYPE it_latency_seconds histogram
it_latency_seconds_bucket{le="0.05"} 10
it_latency_seconds_bucket{le="0.1"} 25
it_latency_seconds_bucket{le="0.5"} 40
it_latency_seconds_bucket{le="+Inf"} 42
it_latency_seconds_sum 7.25
it_latency_seconds_count 42
# HELP it_rpc_seconds RPC time.
# TYPE it_rpc_seconds summary
it_rpc_seconds{quantile="0.5"} 0.012
it_rpc_seconds{quantile="0.99"} 0.25
it_rpc_seconds_sum 3.5
it_rpc_seconds_count 120
it_untyped_thing 7
it_stamped 5 1700000000000
it_special{kind="nan"} NaN
it_special{kind="inf"} +Inf
EOF
cat >"$work/target.py" <<'EOF'
import base64, ssl, sys, threading, time, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, tls_port, path, cert, key = sys.argv[1:6]
body = open(path, "rb").read()
basic = "Basic " + base64.b64encode(b"scraper:s3cret pw").decode()

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        auth = self.headers.get("Authorization", "")
        if url.path == "/slow/metrics":
            time.sleep(5)  # longer than the job's scrape_timeout
        elif (url.path == "/auth/metrics" and auth != basic) or \
                (url.path == "/bearer/metrics" and auth != "Bearer tok-123"):
            self.send_error(401)
            return
        elif url.path not in ("/custom/metrics", "/auth/metrics", "/bearer/metrics"):
            self.send_error(404)
            return
        module = urllib.parse.parse_qs(url.query).get("module", [""])[0]
        out = body + ('params_seen{module="%s"} 1\n' % module).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        try:
            self.wfile.write(out)
        except OSError:
            pass  # the scraper gave up (the slow path)

    def log_message(self, *args):
        pass

servers = [ThreadingHTTPServer(("127.0.0.1", int(port)), Handler)]
if cert:
    tls = ThreadingHTTPServer(("127.0.0.1", int(tls_port)), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
    servers.append(tls)
for srv in servers:
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
threading.Event().wait()
EOF
# A certificate for 127.0.0.1, for the https job.
tls_port=$(free_port)
cert="" key=""
if openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=127.0.0.1" \
        -addext "subjectAltName=IP:127.0.0.1" -keyout "$work/key.pem" -out "$work/cert.pem" \
        >"$work/openssl.log" 2>&1; then
    cert=$work/cert.pem key=$work/key.pem
else
    echo "NOTE: openssl could not make a certificate; the https job is left out"
fi
printf 'tok-123\n' >"$work/token"
python3 "$work/target.py" "$target_port" "$tls_port" "$work/exposition.txt" "$cert" "$key" \
    >"$work/target.log" 2>&1 &
target_pid=$!

if wait_port "$prom_port" "$prom_pid"; then
    pass "prometheus $("$prometheus" --version 2>&1 | head -n1 | awk '{print $3}') listens"
else
    echo "FAIL: prometheus did not start; its log:"
    tail -n 20 "$work/prometheus.log"
    exit 1
fi
if ! wait_port "$target_port" "$target_pid"; then
    echo "FAIL: the python target did not start"
    cat "$work/target.log"
    exit 1
fi

https_job=""
if [ -n "$cert" ]; then
    https_job="
        - job_name: tls
          scheme: https
          metrics_path: /custom/metrics
          tls_config: {ca_file: $cert}
          static_configs: [{targets: ['127.0.0.1:$tls_port']}]"
fi
cat >"$work/cotel.yaml" <<EOF
receivers:
  prometheus:
    report_extra_scrape_metrics: true
    config:
      global:
        scrape_interval: 1s
        scrape_timeout: 800ms
      scrape_configs:
        - job_name: prom
          static_configs:
            - targets: ["127.0.0.1:$prom_port"]
        - job_name: fixed
          metrics_path: /custom/metrics
          params:
            module: [m1]
          static_configs:
            - targets: ["127.0.0.1:$target_port"]
              labels: {env: it}
        - job_name: basic
          metrics_path: /auth/metrics
          basic_auth: {username: scraper, password: s3cret pw}
          static_configs: [{targets: ['127.0.0.1:$target_port']}]
        - job_name: bearer
          metrics_path: /bearer/metrics
          authorization: {credentials_file: $work/token}
          static_configs: [{targets: ['127.0.0.1:$target_port']}]
        - job_name: wrongpw
          metrics_path: /auth/metrics
          basic_auth: {username: scraper, password: nope}
          static_configs: [{targets: ['127.0.0.1:$target_port']}]
        - job_name: slow
          metrics_path: /slow/metrics
          scrape_interval: 3s
          scrape_timeout: 2500ms
          static_configs: [{targets: ['127.0.0.1:$target_port']}]
        - job_name: small
          metrics_path: /custom/metrics
          body_size_limit: 100B
          static_configs: [{targets: ['127.0.0.1:$target_port']}]$https_job
exporters:
  file:
    path: $work/out.json
service:
  telemetry:
    metrics:
      address: 127.0.0.1:$metrics_port
  pipelines:
    metrics:
      receivers: [prometheus]
      exporters: [file]
EOF

"$bin" --config "$work/cotel.yaml" >"$work/stdout" 2>"$work/stderr" &
cotel_pid=$!

# The checks, over every OTLP/JSON line written so far.
cat >"$work/check.py" <<'EOF'
import json, math, sys

mode, path, target_port, prom_port, tls_port = sys.argv[1:6]
reqs = []
with open(path) as f:
    for line in f:
        if line.endswith("\n"):
            reqs.append(json.loads(line))

def attrs(kvs):
    return {kv["key"]: kv["value"].get("stringValue") for kv in kvs or []}

def scrapes(job):
    """Each scrape of a job: its resource attributes and metrics by name, in order."""
    out = []
    for r in reqs:
        for rm in r.get("resourceMetrics", []):
            res = attrs(rm["resource"]["attributes"])
            if res.get("service.name") != job:
                continue
            ms = {}
            for sm in rm.get("scopeMetrics", []):
                for m in sm.get("metrics", []):
                    ms[m["name"]] = m
            out.append((res, ms))
    return out

def points(m):
    for kind in ("gauge", "sum", "histogram", "summary"):
        if kind in m:
            return kind, m[kind]["dataPoints"]
    return None, []

def up(ms):
    kind, pts = points(ms["up"]) if "up" in ms else (None, [])
    return pts[0].get("asDouble") if pts else None

problems = []
def check(cond, what):
    if not cond:
        problems.append(what)

def one(m, **want):
    kind, pts = points(m)
    for p in pts:
        a = attrs(p.get("attributes"))
        if all(a.get(k) == v for k, v in want.items()):
            return p
    return None

REPORT = {"up", "scrape_duration_seconds", "scrape_samples_scraped",
          "scrape_samples_post_metric_relabeling", "scrape_series_added",
          "scrape_timeout_seconds", "scrape_sample_limit", "scrape_body_size_bytes"}
UP = ["prom", "fixed", "basic", "bearer"] + (["tls"] if tls_port != "-" else [])
DOWN = ["wrongpw", "slow", "small"]

if mode == "wait-up":
    ok = all(any(up(ms) == 1 for _, ms in scrapes(j)) for j in UP)
    ok = ok and all(any(up(ms) == 0 for _, ms in scrapes(j)) for j in DOWN)
    sys.exit(0 if ok else 1)

if mode == "jobs":
    for j in UP:
        check(all(up(ms) == 1 for _, ms in scrapes(j)), "job %s is not always up" % j)
        res, ms = scrapes(j)[-1]
        p = one(ms.get("it_requests_total", {}), method="get")
        check(j == "prom" or (p is not None and p["asDouble"] == 1027), "job %s data" % j)
    for j in DOWN:
        check(all(up(ms) == 0 for _, ms in scrapes(j)), "job %s is not always down" % j)
        check(all(set(ms) == REPORT for _, ms in scrapes(j)),
              "job %s wrote more than up and scrape_*" % j)
    if tls_port != "-":
        res, _ = scrapes("tls")[-1]
        check(res.get("url.scheme") == "https" and res.get("server.port") == tls_port,
              "https resource: %r" % res)
    # The hanging target times out at its scrape_timeout...
    for _, ms in scrapes("slow"):
        d = one(ms["scrape_duration_seconds"])["asDouble"]
        check(2.4 < d < 3.0, "slow scrape took %r s, its timeout is 2.5 s" % d)
        check(one(ms["scrape_timeout_seconds"])["asDouble"] == 2.5, "scrape_timeout_seconds")
    # ... and the body over its limit is refused, reported as -1 bytes.
    for _, ms in scrapes("small"):
        check(one(ms["scrape_body_size_bytes"])["asDouble"] == -1, "small body size")
    _, ms = scrapes("fixed")[-1]
    check(one(ms["scrape_body_size_bytes"])["asDouble"] > 100, "fixed body size")
    # Meanwhile the other targets keep their 1 s pace: none waits the 2.5 s of the slow one.
    times = sorted(int(one(ms["up"])["timeUnixNano"]) for _, ms in scrapes("fixed"))
    gaps = [(b - a) / 1e9 for a, b in zip(times, times[1:])]
    check(len(times) >= 4 and all(0.5 < g < 1.6 for g in gaps),
          "fixed job scrape gaps while slow hangs: %r" % gaps)

if mode == "wait-down":
    # A scrape of the fixed job after it went away: up 0.
    downs = [ms for _, ms in scrapes("fixed") if up(ms) == 0]
    sys.exit(0 if downs else 1)

if mode == "fixed":
    res, ms = [s for s in scrapes("fixed") if up(s[1]) == 1][-1]
    check(res == {"service.name": "fixed", "service.instance.id": "127.0.0.1:" + target_port,
                  "server.port": target_port, "url.scheme": "http"}, "resource: %r" % res)
    m = ms.get("it_requests_total", {})
    check(m.get("description") == "Requests handled.", "counter description")
    s = m.get("sum", {})
    check(s.get("isMonotonic") is True and s.get("aggregationTemporality") == 2,
          "it_requests_total is a monotonic cumulative sum: %r" % m)
    p = one(m, method="get", code="200", env="it")
    check(p is not None and p["asDouble"] == 1027, "it_requests_total get/200 = 1027: %r" % p)
    check(p is not None and 0 < int(p["startTimeUnixNano"]) <= int(p["timeUnixNano"]),
          "counter start time set and not after its time: %r" % p)
    check(p is not None and set(attrs(p["attributes"])) == {"method", "code", "env"},
          "counter attributes are the labels plus the target's: %r" % p)
    p = one(m, method="post", code="500")
    check(p is not None and p["asDouble"] == 3, "it_requests_total post/500 = 3")

    m = ms.get("it_temperature_celsius", {})
    p = one(m, room='lab "A"\\1\nnorth')
    check("gauge" in m and p is not None and p["asDouble"] == -3.5,
          "gauge with an escaped label value: %r" % m)
    check(p is not None and "startTimeUnixNano" not in p, "a gauge has no start time")

    m = ms.get("it_latency_seconds", {})
    h = m.get("histogram", {})
    check(h.get("aggregationTemporality") == 2, "histogram is cumulative")
    p = h.get("dataPoints", [{}])[0]
    check(p.get("explicitBounds") == [0.05, 0.1, 0.5], "bounds: %r" % p.get("explicitBounds"))
    check(p.get("bucketCounts") == ["10", "15", "15", "2"], "buckets: %r" % p.get("bucketCounts"))
    check(p.get("count") == "42" and p.get("sum") == 7.25, "histogram count/sum: %r" % p)

    m = ms.get("it_rpc_seconds", {})
    p = m.get("summary", {}).get("dataPoints", [{}])[0]
    check(p.get("count") == "120" and p.get("sum") == 3.5, "summary count/sum: %r" % p)
    check(p.get("quantileValues") == [{"quantile": 0.5, "value": 0.012},
                                      {"quantile": 0.99, "value": 0.25}],
          "quantiles: %r" % p.get("quantileValues"))

    m = ms.get("it_untyped_thing", {})
    p = one(m)
    check("gauge" in m and p is not None and p["asDouble"] == 7, "untyped becomes a gauge")
    check(attrs(m.get("metadata")) == {"prometheus.type": "unknown"}, "untyped metadata")

    p = one(ms.get("it_stamped", {}))
    check(p is not None and p["timeUnixNano"] == "1700000000000000000",
          "exposed timestamp honoured: %r" % p)
    p = one(ms.get("it_special", {}), kind="nan")
    check(p is not None and p["asDouble"] == "NaN", "NaN value: %r" % p)
    p = one(ms.get("it_special", {}), kind="inf")
    check(p is not None and p["asDouble"] == "Infinity", "+Inf value: %r" % p)
    check(one(ms.get("params_seen", {}), module="m1") is not None, "params reach the target")

    samples = 18  # lines with a sample in exposition.txt, plus params_seen
    for name, want in (("up", 1), ("scrape_samples_scraped", samples),
                       ("scrape_samples_post_metric_relabeling", samples)):
        p = one(ms.get(name, {}), env="it")
        check(p is not None and p["asDouble"] == want, "%s = %r, want %r" % (name, p, want))
    p = one(ms.get("scrape_duration_seconds", {}))
    check(p is not None and 0 < p["asDouble"] < 0.8, "scrape_duration_seconds: %r" % p)

if mode == "prom":
    res, ms = [s for s in scrapes("prom") if up(s[1]) == 1][-1]
    check(res.get("service.instance.id") == "127.0.0.1:" + prom_port, "prom resource: %r" % res)
    m = ms.get("prometheus_http_requests_total", {})
    s = m.get("sum", {})
    check(s.get("isMonotonic") is True and s.get("aggregationTemporality") == 2 and
          s.get("dataPoints"), "prometheus_http_requests_total is a monotonic cumulative sum")
    p = one(m, handler="/metrics", code="200")
    check(p is not None and p["asDouble"] >= 1, "our own scrapes are counted: %r" % p)
    m = ms.get("prometheus_http_request_duration_seconds", {})
    p = one(m, handler="/metrics")
    check("histogram" in m and p is not None, "prometheus_http_request_duration_seconds "
          "is a histogram with a /metrics series")
    if p is not None:
        counts = [int(c) for c in p["bucketCounts"]]
        check(len(counts) == len(p["explicitBounds"]) + 1 and sum(counts) == int(p["count"])
              and int(p["count"]) >= 1, "bucket counts add up to the count: %r" % p)
        check(p["explicitBounds"] == sorted(p["explicitBounds"]), "bounds ascend")
    m = ms.get("go_gc_duration_seconds", {})
    p = one(m)
    check("summary" in m and p is not None and
          [q.get("quantile", 0) for q in p.get("quantileValues", [])] == [0, 0.25, 0.5, 0.75, 1],
          "go_gc_duration_seconds is a summary with its quantiles: %r" % p)
    m = ms.get("go_goroutines", {})
    check("gauge" in m and one(m)["asDouble"] > 0, "go_goroutines is a gauge")

if mode == "stale":
    scr = scrapes("fixed")
    first_down = next(i for i, (_, ms) in enumerate(scr) if up(ms) == 0)
    res, ms = scr[first_down]
    for name in ("it_requests_total", "it_temperature_celsius", "it_latency_seconds",
                 "it_rpc_seconds", "it_untyped_thing", "params_seen"):
        kind, pts = points(ms.get(name, {}))
        check(pts and all(p.get("flags") == 1 for p in pts),
              "%s has stale markers after the target stopped: %r" % (name, pts))
    _, pts = points(ms.get("it_requests_total", {}))
    check(len(pts) == 2 and all("asDouble" not in p for p in pts), "stale points carry no value")
    check("it_stamped" not in ms, "a series with its own timestamps gets no stale marker")
    p = one(ms.get("scrape_samples_scraped", {}))
    check(p is not None and p["asDouble"] == 0, "nothing scraped from a dead target")
    # Stale markers are written once: later failed scrapes have only up and scrape_*.
    for _, later in scr[first_down + 1:]:
        check(set(later) == REPORT,
              "a later failed scrape repeats stale markers: %r" % sorted(later))
    # The Prometheus target is unaffected.
    check(up(scrapes("prom")[-1][1]) == 1, "prom is still up")

for p in problems:
    print("  " + p)
sys.exit(1 if problems else 0)
EOF

check() {
    python3 "$work/check.py" "$1" "$work/out.json" "$target_port" "$prom_port" \
        "$([ -n "$cert" ] && echo "$tls_port" || echo -)"
}
wait_check() { # mode, tries of 0.2 s
    for _ in $(seq 1 "$2"); do
        if [ -s "$work/out.json" ] && check "$1" >/dev/null 2>&1; then
            return 0
        fi
        if ! kill -0 "$cotel_pid" 2>/dev/null; then
            return 1
        fi
        sleep 0.2
    done
    return 1
}

if wait_check wait-up 75; then
    pass "every job scraped: up 1 where it should be, up 0 for the failing ones"
else
    fail "not every job scraped as expected within 15 s; cotel's stderr:"
    tail -n 20 "$work/stderr"
    exit 1
fi
# More scrapes of each, so start times are those of earlier observations and the pace shows.
sleep 2.2

if out=$(check fixed); then
    pass "the fixed target's counter, gauge, histogram, summary, untyped, timestamp, NaN/Inf, \
params, resource and scrape metrics are right"
else
    fail "fixed target: $out"
fi
if out=$(check jobs); then
    pass "basic auth, a bearer token from a file, https with a CA; a wrong password, a target \
that hangs past its 2.5 s timeout and a body over its limit give up 0, the 1 s jobs keep pace"
else
    fail "jobs: $out"
fi
for what in "server returned HTTP status 401" "Operation timed out" "body size limit exceeded"; do
    if grep -q "failed: $what" "$work/stderr"; then
        pass "logged: $what"
    else
        fail "no log line says: $what"
    fi
done
if out=$(check prom); then
    pass "Prometheus's own metrics: counter as monotonic sum, histogram, summary, gauge"
else
    fail "prometheus target: $out"
fi

# The fixed target goes away: its job reports up 0 and stale markers, Prometheus's does not.
kill -TERM "$target_pid"
wait "$target_pid" 2>/dev/null
target_pid=""
if wait_check wait-down 50; then
    pass "up is 0 once the fixed target is gone"
else
    fail "no up 0 for the fixed job within 10 s"
fi
sleep 1.5 # two more failed scrapes
if out=$(check stale); then
    pass "stale markers (flags 1) for every series of the dead target, once"
else
    fail "stale markers: $out"
fi
if grep -q "scrape of http://127.0.0.1:$target_port/custom/metrics?module=m1 (job fixed) failed" \
        "$work/stderr"; then
    pass "the failed target is logged"
else
    fail "no log line about the failed target; stderr: $(tail -n 5 "$work/stderr")"
fi
if [ "$(grep -c "(job fixed) failed" "$work/stderr")" = 1 ]; then
    pass "a target that stays down is logged once, not at every scrape"
else
    fail "the dead target is logged $(grep -c "(job fixed) failed" "$work/stderr") times"
fi

# cotel's own counters name the receiver and its transport.
accepted=$(curl -s --max-time 5 "http://127.0.0.1:$metrics_port/metrics" |
    grep -E '^otelcol_receiver_accepted_metric_points(_total)?\{[^}]*receiver="prometheus"' |
    grep 'transport="http"' | awk '{print $NF}' | head -n1)
if [ -n "$accepted" ] && [ "${accepted%.*}" -gt 0 ]; then
    pass "otelcol_receiver_accepted_metric_points{receiver=prometheus,transport=http} = $accepted"
else
    fail "otelcol_receiver_accepted_metric_points for the receiver: '${accepted:-absent}'"
fi

kill -TERM "$cotel_pid"
status=""
for _ in $(seq 1 100); do
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

# A Prometheus setting cotel does not implement stops it at start, naming where it is.
cat >"$work/bad.yaml" <<EOF
receivers:
  prometheus:
    config:
      scrape_configs:
        - job_name: k8s
          kubernetes_sd_configs: [{role: pod}]
exporters:
  file:
    path: $work/bad.json
service:
  pipelines:
    metrics:
      receivers: [prometheus]
      exporters: [file]
EOF
timeout 10 "$bin" --config "$work/bad.yaml" >"$work/bad.out" 2>&1
status=$?
if [ "$status" != 0 ] && [ "$status" != 124 ] &&
        grep -q "bad.yaml:6:11: .*'kubernetes_sd_configs' is not supported" "$work/bad.out"; then
    pass "kubernetes_sd_configs is refused with its position (exit $status)"
else
    fail "kubernetes_sd_configs: exit $status, output: $(head -c 400 "$work/bad.out")"
fi

echo "$passes passed, $failures failed"
[ "$failures" = 0 ]
