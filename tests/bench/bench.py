#!/usr/bin/env python3
"""cotel's side-by-side benchmark (run through tests/bench/run.sh, see docs/benchmarks.md).

Every measurement starts its own processes on 127.0.0.1 (development Kafka broker, null sink,
cotel), offers load with cotel-loadgen, waits until what cotel accepted has been delivered,
reads the kernel's accounting of each process (/proc/PID/stat, /proc/PID/status) and stops
every process it started by PID. The results go to a JSON file and a Markdown table.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
ITEM_NAMES = {"traces": "spans", "metrics": "metric_points", "logs": "log_records"}
TOPICS = {"traces": "otlp_spans", "metrics": "otlp_metrics", "logs": "otlp_logs"}


class BenchError(Exception):
    pass


# ---- processes ----

class Procs:
    """Every process the benchmark started, stopped by PID (TERM, then KILL after a while)."""

    def __init__(self):
        self.live = []

    def start(self, argv, stdout_path, stderr_path):
        with open(stdout_path, "w") as out, open(stderr_path, "w") as err:
            p = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        self.live.append(p)
        return p

    def stop(self, p, timeout=30):
        if p is None or p.poll() is not None:
            if p in self.live:
                self.live.remove(p)
            return p.returncode if p else None
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        self.live.remove(p)
        return p.returncode

    def stop_all(self):
        for p in list(self.live):
            self.stop(p, timeout=10)


def wait_for(seconds, check, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        v = check()
        if v:
            return v
        time.sleep(0.1)
    raise BenchError(f"{what} not ready within {seconds} s")


def read_text(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ticks(pid):
    """utime + stime of a whole process, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def mem_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


class RssSampler(threading.Thread):
    """VmRSS every half second while a load runs; the median is the steady RSS."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.samples, self.done = pid, [], threading.Event()

    def run(self):
        while not self.done.wait(0.5):
            try:
                self.samples.append(mem_kib(self.pid, "VmRSS"))
            except OSError:
                return

    def median_mib(self):
        self.done.set()
        self.join()
        if not self.samples:
            return None
        s = sorted(self.samples)
        return s[len(s) // 2] / 1024


# ---- cotel's own metrics ----

def scrape(port):
    try:
        out = subprocess.run(["curl", "-sf", "--max-time", "5", f"http://127.0.0.1:{port}/metrics"],
                             capture_output=True, text=True, timeout=10).stdout
    except subprocess.TimeoutExpired:
        return {}
    series = {}
    for line in out.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)$", line)
        if m:
            series.setdefault(m.group(1), []).append((m.group(2) or "", float(m.group(3))))
    return series


def metric_sum(series, name, **labels):
    total = 0.0
    for lab, v in series.get(name, []):
        if all(f'{k}="{val}"' in lab for k, val in labels.items()):
            total += v
    return total


def histogram(series, name, **labels):
    """Cumulative bucket counts {le: count} of one histogram."""
    out = {}
    for lab, v in series.get(name + "_bucket", []):
        if not all(f'{k}="{val}"' in lab for k, val in labels.items()):
            continue
        le = re.search(r'le="([^"]+)"', lab).group(1)
        le = float("inf") if le == "+Inf" else float(le)
        out[le] = out.get(le, 0) + v
    return out


def hist_quantile(before, after, q):
    """The q-quantile of what was observed between two scrapes (linear within a bucket)."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0) for b in bounds]
    if not counts or counts[-1] <= 0:
        return None
    rank, prev_b, prev_c = q * counts[-1], 0.0, 0.0
    for b, c in zip(bounds, counts):
        if c >= rank:
            if b == float("inf"):
                return prev_b
            return prev_b + (b - prev_b) * ((rank - prev_c) / (c - prev_c) if c > prev_c else 1)
        prev_b, prev_c = b, c
    return prev_b


# ---- the benchmark ----

class Bench:
    def __init__(self, args):
        self.a = args
        self.build = args.build
        self.cotel = os.path.join(self.build, "cmd/cotel/cotel")
        self.loadgen = os.path.join(self.build, "tools/loadgen/cotel-loadgen")
        self.sink = os.path.join(self.build, "tools/nullsink/cotel-nullsink")
        self.kd = os.path.join(self.build, "tools/kafka-dev/cotel-kafka-dev")
        for b in (self.cotel, self.loadgen, self.sink, self.kd):
            if not os.access(b, os.X_OK):
                raise BenchError(f"not built: {b} (cmake --build {self.build})")
        self.work = tempfile.mkdtemp(prefix="cotel-bench-")
        self.procs = Procs()
        self.results = []
        self.instructions = []
        self.notes = []

    def log(self, msg):
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    def path(self, name):
        return os.path.join(self.work, name)

    # -- starting the parts --

    def start_broker(self):
        bs = self.path("bootstrap")
        if os.path.exists(bs):
            os.unlink(bs)
        p = self.procs.start([self.kd, "--bootstrap-file", bs],
                             self.path("kd.out"), self.path("kd.err"))
        addr = wait_for(15, lambda: read_text(bs).strip(),
                        "cotel-kafka-dev")
        return p, addr

    def start_sink(self):
        pf = self.path("sink.port")
        if os.path.exists(pf):
            os.unlink(pf)
        p = self.procs.start([self.sink, "--port-file", pf], self.path("sink.out"),
                             self.path("sink.err"))
        addr = wait_for(15, lambda: read_text(pf).strip(),
                        "cotel-nullsink")
        return p, addr

    def stop_sink(self, p):
        self.procs.stop(p)
        with open(self.path("sink.out")) as f:
            lines = [l for l in f.read().splitlines() if l.startswith("{")]
        return json.loads(lines[-1]) if lines else None

    def cotel_config(self, kind, grpc_port, http_port, metrics_port, broker, sink, fsync=None):
        pq = fsync is not None
        lines = ["receivers:", "  otlp:", "    protocols:",
                 f"      grpc: {{endpoint: 127.0.0.1:{grpc_port}}}"]
        if http_port:
            lines.append(f"      http: {{endpoint: 127.0.0.1:{http_port}}}")
        lines += ["processors:",
                  "  memory_limiter: {check_interval: 1s, limit_mib: 512, spike_limit_mib: 128}",
                  "  batch: {}",
                  "exporters:"]
        if kind == "kafka":
            lines += ["  kafka:", f"    brokers: [{broker}]", "    encoding: otlp_proto"]
            if pq:
                lines += ["    sending_queue: {storage: file_storage}"]
            exporter = "kafka"
        else:
            # compression none: the table shows cotel's own cost, not zlib's.
            lines += ["  otlp:", f"    endpoint: {sink}", "    compression: none",
                      "    tls: {insecure: true}"]
            exporter = "otlp"
        if pq:
            qdir = self.path("queue")
            shutil.rmtree(qdir, ignore_errors=True)
            lines += ["extensions:", "  file_storage:", f"    directory: {qdir}",
                      "    create_directory: true", f"    fsync: {'true' if fsync else 'false'}"]
        lines += ["service:"]
        if pq:
            lines += ["  extensions: [file_storage]"]
        lines += ["  telemetry:", "    metrics:", f"      address: 127.0.0.1:{metrics_port}",
                  "  pipelines:"]
        for sig in ("traces", "metrics", "logs"):
            lines.append(f"    {sig}: {{receivers: [otlp], processors: [memory_limiter, batch], "
                         f"exporters: [{exporter}]}}")
        path = self.path("cotel.yaml")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def start_cotel(self, config, prefix=(), timeout=20):
        err = self.path("cotel.err")
        p = self.procs.start([*prefix, self.cotel, "--config", config], self.path("cotel.out"),
                             err)

        def ready():
            if p.poll() is not None:
                raise BenchError("cotel exited at start:\n" + read_text(err)[-2000:])
            return "everything is ready" in read_text(err)
        wait_for(timeout, ready, "cotel")
        return p

    def http_available(self):
        """Whether this cotel serves OTLP/HTTP: it starts with a config that asks for it."""
        broker = cotel = None
        try:
            broker, baddr = self.start_broker()
            cfg = self.cotel_config("kafka", free_port(), free_port(), free_port(), baddr, None)
            cotel = self.start_cotel(cfg)
            return True
        except BenchError as e:
            self.log(f"no OTLP/HTTP: {str(e)[-300:]}")
            return False
        finally:
            for p in (cotel, broker):
                if p is not None:
                    self.procs.stop(p)

    def pq_available(self):
        cfg = self.cotel_config("kafka", free_port(), None, free_port(), "127.0.0.1:9", None,
                                fsync=False)
        r = subprocess.run([self.cotel, "validate", "--config", cfg], capture_output=True,
                           text=True, timeout=30)
        return r.returncode == 0, (r.stderr or r.stdout).strip()[-300:]

    # -- offering load --

    def run_loadgen(self, endpoint, signal_, rate, seconds, protocol="grpc"):
        argv = [self.loadgen, "--protocol", protocol, "--signal", signal_,
                "--items", str(self.a.items), "--concurrency", str(self.a.concurrency),
                "--rate", str(rate), "--duration", str(seconds), "--timeout", "10", endpoint]
        if protocol == "grpc":
            argv.insert(1, "--wait")
        r = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
        if r.returncode != 0 or not r.stdout.strip():
            raise BenchError(f"cotel-loadgen failed ({r.returncode}): {r.stderr[-500:]}")
        return json.loads(r.stdout.strip().splitlines()[-1])

    def wait_delivered(self, mport, exporter, signal_, accepted_total):
        """Waits until the exporter has sent or failed everything accepted (20 s at most)."""
        item = ITEM_NAMES[signal_]
        deadline = time.monotonic() + 20
        while True:
            s = scrape(mport)
            done = (metric_sum(s, f"otelcol_exporter_sent_{item}_total", exporter=exporter) +
                    metric_sum(s, f"otelcol_exporter_send_failed_{item}_total",
                               exporter=exporter))
            if done >= accepted_total or time.monotonic() > deadline:
                return s
            time.sleep(0.2)

    def kafka_offsets(self, broker, topic):
        """Records in a topic: the sum over partitions of the last offset + 1 (kcat)."""
        if shutil.which("kcat") is None:
            return None
        r = subprocess.run(["kcat", "-b", broker, "-C", "-t", topic, "-o", "-1", "-e", "-q",
                            "-f", "%p %o\n"], capture_output=True, text=True, timeout=60)
        last = {}
        for line in r.stdout.splitlines():
            p, o = line.split()
            last[p] = max(last.get(p, -1), int(o))
        return sum(o + 1 for o in last.values())

    # -- one measurement --

    def measure(self, step, pipeline, signal_, load, rate, protocol="grpc", fsync=None):
        """Starts the pipeline's processes, warms up, measures one load, stops everything."""
        secs = self.a.seconds
        row = {"step": step, "pipeline": pipeline, "signal": signal_, "load": load,
               "protocol": protocol, "target_items_per_s": rate}
        self.log(f"{step}: {signal_} {load} ({'max' if rate == 0 else f'{rate:.0f}/s'}, "
                 f"{protocol})")
        broker = sink = cotel = None
        try:
            if pipeline == "baseline":
                sink, addr = self.start_sink()
                target_pid, endpoint = sink.pid, addr
            else:
                mport, gport = free_port(), free_port()
                hport = free_port() if protocol == "http" else None
                if pipeline == "otlp":
                    sink, sink_addr = self.start_sink()
                    baddr = None
                else:
                    broker, baddr = self.start_broker()
                    sink_addr = None
                cfg = self.cotel_config("otlp" if pipeline == "otlp" else "kafka", gport, hport,
                                        mport, baddr, sink_addr, fsync=fsync)
                cotel = self.start_cotel(cfg)
                target_pid = cotel.pid
                endpoint = f"127.0.0.1:{hport if protocol == 'http' else gport}"

            # Warm-up: connections, allocator and queues reach their working state.
            self.run_loadgen(endpoint, signal_, rate, self.a.warmup, protocol)
            exporter = "otlp" if pipeline == "otlp" else "kafka"
            item = ITEM_NAMES[signal_]
            before = scrape(mport) if cotel else {}
            if cotel:
                acc0 = metric_sum(before, f"otelcol_receiver_accepted_{item}_total")
                before = self.wait_delivered(mport, exporter, signal_, acc0)
            sink_before = None
            if sink is not None:
                sink.send_signal(signal.SIGUSR1)
                time.sleep(0.3)
                sink_before = self._sink_snapshot()
            # The other processes on these two cores, for context.
            others = {"loadgen": None}
            if broker is not None:
                others["broker"] = broker.pid
            if sink is not None and pipeline != "baseline":
                others["sink"] = sink.pid
            o0 = {k: cpu_ticks(v) for k, v in others.items() if v}
            t0 = cpu_ticks(target_pid)
            sampler = RssSampler(target_pid)
            sampler.start()
            lg = self.run_loadgen(endpoint, signal_, rate, secs, protocol)
            steady = sampler.median_mib()

            if cotel:
                acc = metric_sum(scrape(mport), f"otelcol_receiver_accepted_{item}_total")
                after = self.wait_delivered(mport, exporter, signal_, acc)
            t1 = cpu_ticks(target_pid)
            for k, pid in others.items():
                if pid:
                    row[f"{k}_cpu_s"] = (cpu_ticks(pid) - o0[k]) / CLK_TCK
            row["peak_rss_mib"] = mem_kib(target_pid, "VmHWM") / 1024
            row["steady_rss_mib"] = steady
            row["end_rss_mib"] = mem_kib(target_pid, "VmRSS") / 1024
            row["anon_rss_mib"] = mem_kib(target_pid, "RssAnon") / 1024
            accepted = lg["items"]["accepted"]
            row["items_per_s"] = lg["items_per_s"]
            row["accepted"] = accepted
            row["refused"] = lg["items"]["refused"]
            row["cpu_s"] = (t1 - t0) / CLK_TCK
            row["cpu_s_per_million"] = row["cpu_s"] / accepted * 1e6 if accepted else None
            row["cpu_share"] = row["cpu_s"] / lg["elapsed_s"] if lg["elapsed_s"] else None
            row["latency_ms"] = lg["latency_ms"]
            row["loadgen_cpu_s"] = lg["loadgen_cpu_s"]
            row["loadgen_cpu_s_per_million"] = (lg["loadgen_cpu_s"] / lg["items"]["sent"] * 1e6
                                                if lg["items"]["sent"] else None)
            row["request_bytes"] = lg["request_bytes"]

            if cotel:
                sent = (metric_sum(after, f"otelcol_exporter_sent_{item}_total",
                                   exporter=exporter) -
                        metric_sum(before, f"otelcol_exporter_sent_{item}_total",
                                   exporter=exporter))
                got = (metric_sum(after, f"otelcol_receiver_accepted_{item}_total") -
                       metric_sum(before, f"otelcol_receiver_accepted_{item}_total"))
                row["cotel_accepted"] = got
                row["delivered"] = sent
                row["lost"] = got - sent
                hb = histogram(before, "cotel_exporter_delivery_latency_milliseconds",
                               exporter=exporter, data_type=signal_)
                ha = histogram(after, "cotel_exporter_delivery_latency_milliseconds",
                               exporter=exporter, data_type=signal_)
                row["delivery_ms"] = {"p50": hist_quantile(hb, ha, 0.5),
                                      "p99": hist_quantile(hb, ha, 0.99)} if ha else None
                row["threads"] = len(os.listdir(f"/proc/{cotel.pid}/task"))
            if broker is not None:
                records = (metric_sum(after, "cotel_exporter_kafka_records_total",
                                      data_type=signal_))
                row["kafka_records_acked"] = records
                row["kafka_records_in_topic"] = self.kafka_offsets(baddr, TOPICS[signal_])
            if cotel:
                self.procs.stop(cotel)
                cotel = None
            if sink is not None:
                counts = self.stop_sink(sink)
                sink = None
                got = counts["items"][signal_] - (sink_before["items"][signal_]
                                                  if sink_before else 0)
                row["sink_items"] = got
                if pipeline == "baseline":
                    row["delivered"] = got
                    row["lost"] = accepted - got
                else:
                    row["sink_lost"] = row["cotel_accepted"] - got
        except (BenchError, subprocess.TimeoutExpired, OSError, KeyError, ValueError) as e:
            row["error"] = str(e)
            self.log(f"  FAILED: {e}")
        finally:
            for p in (cotel, sink, broker):
                if p is not None:
                    self.procs.stop(p)
        self.results.append(row)
        if "error" not in row:
            self.log(f"  {row['items_per_s']:.0f} items/s, {row['cpu_s_per_million']:.3f} "
                     f"CPU-s/M, peak {row['peak_rss_mib']:.1f} MiB, lost {row.get('lost')}")
        return row

    def _sink_snapshot(self):
        with open(self.path("sink.out")) as f:
            lines = [l for l in f.read().splitlines() if l.startswith("{")]
        return json.loads(lines[-1]) if lines else None

    def measure_idle(self):
        self.log(f"idle: cotel with pipeline 2 and no load for {self.a.idle} s")
        row = {"step": "idle", "pipeline": "kafka", "signal": "-", "load": "idle"}
        broker = cotel = None
        try:
            broker, baddr = self.start_broker()
            cfg = self.cotel_config("kafka", free_port(), None, free_port(), baddr, None)
            cotel = self.start_cotel(cfg)
            time.sleep(2)
            t0 = cpu_ticks(cotel.pid)
            time.sleep(self.a.idle)
            t1 = cpu_ticks(cotel.pid)
            row["cpu_s"] = (t1 - t0) / CLK_TCK
            row["cpu_share"] = row["cpu_s"] / self.a.idle
            row["peak_rss_mib"] = mem_kib(cotel.pid, "VmHWM") / 1024
            row["end_rss_mib"] = row["steady_rss_mib"] = mem_kib(cotel.pid, "VmRSS") / 1024
            row["anon_rss_mib"] = mem_kib(cotel.pid, "RssAnon") / 1024
            row["file_rss_mib"] = mem_kib(cotel.pid, "RssFile") / 1024
            row["threads"] = len(os.listdir(f"/proc/{cotel.pid}/task"))
        except BenchError as e:
            row["error"] = str(e)
        finally:
            for p in (cotel, broker):
                if p is not None:
                    self.procs.stop(p)
        self.results.append(row)

    # -- instructions per item (callgrind) --

    def callgrind_run(self, signal_, rate, seconds):
        """cotel (pipeline 2) under callgrind with a paced load: (instructions, items sent)."""
        broker = cotel = None
        try:
            broker, baddr = self.start_broker()
            mport, gport = free_port(), free_port()
            cfg = self.cotel_config("kafka", gport, None, mport, baddr, None)
            cotel = self.start_cotel(cfg, ("valgrind", "--tool=callgrind", "--dump-instr=no",
                                           f"--callgrind-out-file={self.path('callgrind.out')}"),
                                     timeout=120)
            lg = self.run_loadgen(f"127.0.0.1:{gport}", signal_, rate, seconds)
            item = ITEM_NAMES[signal_]
            after = self.wait_delivered(mport, "kafka", signal_, lg["items"]["accepted"])
            sent = metric_sum(after, f"otelcol_exporter_sent_{item}_total", exporter="kafka")
            self.procs.stop(cotel, timeout=120)
            cotel = None
            m = re.search(r"I\s+refs:\s+([\d,]+)", read_text(self.path("cotel.err")))
            if not m:
                raise BenchError("no instruction count from callgrind")
            return int(m.group(1).replace(",", "")), sent
        finally:
            for p in (cotel, broker):
                if p is not None:
                    self.procs.stop(p, timeout=120)

    def measure_instructions(self):
        """
        User-space instructions cotel spends per item: two runs under callgrind that differ
        only in their rate; the difference in instructions over the difference in items
        leaves out start-up, shutdown and idle work.
        """
        if shutil.which("valgrind") is None:
            self.notes.append("instructions per item: skipped, valgrind is not installed.")
            return
        low, high, secs = 2500, 7500, 20
        for sig in ("traces", "metrics", "logs"):
            self.log(f"instructions: {sig} under callgrind at {low} and {high} items/s")
            row = {"signal": sig, "rates": [low, high], "seconds": secs}
            try:
                i1, n1 = self.callgrind_run(sig, low, secs)
                i2, n2 = self.callgrind_run(sig, high, secs)
                row.update(instructions=[i1, i2], items=[n1, n2],
                           per_item=(i2 - i1) / (n2 - n1) if n2 > n1 else None)
                self.log(f"  {row['per_item']:.0f} instructions per item")
            except (BenchError, subprocess.TimeoutExpired, OSError) as e:
                row["error"] = str(e)
                self.log(f"  FAILED: {e}")
            self.instructions.append(row)

    # -- the whole run --

    def run(self):
        rate, low, want = self.a.rate, self.a.low_rate, set(self.a.steps.split(","))
        if "baseline" in want:
            # The Go collector's published testbed figures are at 10,000 spans/s: "low" rows.
            if low:
                self.measure("1 baseline", "baseline", "traces", "low", low)
            self.measure("1 baseline", "baseline", "traces", "fixed", rate)
            self.measure("1 baseline", "baseline", "traces", "saturation", 0)
        if "kafka" in want:
            if low:
                self.measure("2 kafka", "kafka", "traces", "low", low)
            self.measure("2 kafka", "kafka", "traces", "fixed", rate)
            sat = self.measure("2 kafka", "kafka", "traces", "saturation", 0)
            if sat.get("items_per_s"):
                half = round(sat["items_per_s"] / 2, -3)
                self.measure("2 kafka", "kafka", "traces", "half-saturation", half)
        if "otlp" in want:
            if low:
                self.measure("3 otlp", "otlp", "traces", "low", low)
            self.measure("3 otlp", "otlp", "traces", "fixed", rate)
            self.measure("3 otlp", "otlp", "traces", "saturation", 0)
        if "http" in want:
            if self.http_available():
                self.measure("4 http", "kafka", "traces", "fixed", rate, protocol="http")
                self.measure("4 http", "kafka", "traces", "saturation", 0, protocol="http")
            else:
                self.notes.append("4 (OTLP/HTTP): skipped, this cotel has no HTTP receiver.")
        if "idle" in want:
            self.measure_idle()
        if "pq" in want:
            ok, why = self.pq_available()
            if ok:
                for fsync in (False, True):
                    name = "2 kafka pq" + (" fsync" if fsync else "")
                    self.measure(name, "kafka", "traces", "fixed", rate, fsync=fsync)
                    self.measure(name, "kafka", "traces", "saturation", 0, fsync=fsync)
            else:
                self.notes.append(f"persistent queue: skipped, the config is refused: {why}")
        if "signals" in want:
            for sig in ("metrics", "logs"):
                self.measure("1 baseline", "baseline", sig, "saturation", 0)
                self.measure("2 kafka", "kafka", sig, "saturation", 0)
        self.add_ratios()

    def add_ratios(self):
        """Each row against the null sink measured in this run with the same signal and load."""
        base = {(r["signal"], r["load"]): r for r in self.results
                if r["pipeline"] == "baseline" and "error" not in r}
        for r in self.results:
            b = base.get((r["signal"], r["load"] if r["load"] != "half-saturation"
                          else "saturation"))
            if b is None or "error" in r or r["pipeline"] == "baseline" or r["load"] == "idle":
                continue
            if b.get("cpu_s_per_million") and r.get("cpu_s_per_million"):
                r["cpu_vs_baseline"] = r["cpu_s_per_million"] / b["cpu_s_per_million"]
            if b.get("items_per_s") and r.get("items_per_s") and r["load"] == "saturation":
                r["rate_vs_baseline"] = r["items_per_s"] / b["items_per_s"]

    def machine(self):
        model = "unknown"
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        commit = subprocess.run(["git", "-C", os.path.dirname(__file__), "rev-parse", "--short",
                                 "HEAD"], capture_output=True, text=True).stdout.strip()
        return {"nproc": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
                "date": datetime.datetime.now().isoformat(timespec="seconds"),
                "commit": commit, "clk_tck": CLK_TCK}

    def write(self, prefix):
        doc = {"machine": self.machine(),
               "settings": {"items_per_request": self.a.items, "concurrency": self.a.concurrency,
                            "fixed_rate": self.a.rate, "low_rate": self.a.low_rate,
                            "seconds": self.a.seconds,
                            "warmup": self.a.warmup, "idle_seconds": self.a.idle},
               "results": self.results, "instructions": self.instructions,
               "notes": self.notes}
        with open(prefix + ".json", "w") as f:
            json.dump(doc, f, indent=1)
        with open(prefix + ".md", "w") as f:
            f.write(markdown(doc))
        self.log(f"wrote {prefix}.json and {prefix}.md")


def fmt(v, nd=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def table(results):
    out = ["", "| step | signal | load | items/s | CPU-s per M items | x baseline | CPU % | "
           "peak RSS MiB | steady RSS MiB | private MiB | p50 ms | p99 ms | delivery p99 ms | "
           "lost | refused |",
           "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        if "error" in r:
            out.append(f"| {r['step']} | {r['signal']} | {r['load']} | failed: "
                       f"{r['error'][:80]} ||||||||||||")
            continue
        lat = r.get("latency_ms") or {}
        dl = r.get("delivery_ms") or {}
        out.append("| " + " | ".join([
            r["step"], r["signal"], r["load"],
            fmt(r.get("items_per_s"), 0), fmt(r.get("cpu_s_per_million"), 3),
            fmt(r.get("cpu_vs_baseline"), 2),
            fmt(r["cpu_share"] * 100 if r.get("cpu_share") is not None else None, 1),
            fmt(r.get("peak_rss_mib")), fmt(r.get("steady_rss_mib")), fmt(r.get("anon_rss_mib")),
            fmt(lat.get("p50"), 2), fmt(lat.get("p99"), 2), fmt(dl.get("p99"), 0),
            fmt(int(r["lost"]) if r.get("lost") is not None else None),
            fmt(r.get("refused"))]) + " |")
    out += ["", "CPU-s per M items: the process's utime + stime (/proc/PID/stat) over the "
            "measurement and the delivery of what it accepted, per million items accepted. "
            "Baseline rows are cotel-nullsink itself; the others are cotel. Private: the "
            "process's own memory (RssAnon) at the end; the rest of its RSS is shared library "
            "pages. p50/p99: cotel-loadgen's call latency. Delivery p99: cotel's receipt of a "
            "batch's oldest item to the destination's acknowledgement "
            "(cotel_exporter_delivery_latency). Lost: items cotel accepted minus items its "
            "exporter reported sent (Kafka) or the null sink counted (OTLP)."]
    return out


def markdown(doc):
    m, s = doc["machine"], doc["settings"]
    out = [f"# cotel benchmark, {m['date']} (commit {m['commit']})", "",
           f"{m['nproc']} CPUs ({m['cpu_model']}), Linux {m['kernel']}. "
           f"{s['items_per_request']} items per request, {s['concurrency']} calls in flight, "
           f"{s['seconds']} s per measurement after {s['warmup']} s of warm-up; fixed load "
           f"{s['fixed_rate']:.0f} items/s, low load {s.get('low_rate', 0):.0f} items/s."]
    if doc["results"]:
        out += table(doc["results"])
    if doc.get("instructions"):
        out += ["", "User-space instructions per item in cotel (pipeline 2, callgrind, "
                "marginal between two paced runs):", "",
                "| signal | instructions per item |", "|---|---:|"]
        for r in doc["instructions"]:
            out.append(f"| {r['signal']} | {fmt(r.get('per_item'), 0)} |")
    for n in doc["notes"]:
        out.append("")
        out.append("Note: " + n)
    return "\n".join(out) + "\n"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    src = os.path.dirname(os.path.dirname(here))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.environ.get("COTEL_BUILD_DIR",
                                                      os.path.join(src, "build-bench")))
    ap.add_argument("--out", help="path prefix of the results (default "
                    "tests/bench/results/<date>)")
    ap.add_argument("--seconds", type=float, default=20, help="each measurement (default 20)")
    ap.add_argument("--warmup", type=float, default=3, help="warm-up before each (default 3)")
    ap.add_argument("--idle", type=float, default=30, help="idle measurement (default 30)")
    ap.add_argument("--rate", type=float, default=100000, help="fixed load, items/s")
    ap.add_argument("--low-rate", type=float, default=10000,
                    help="low load, items/s, as in the Go collector's testbed (0: skip)")
    ap.add_argument("--items", type=int, default=100, help="items per request")
    ap.add_argument("--concurrency", type=int, default=8, help="calls in flight")
    ap.add_argument("--steps", default="baseline,kafka,otlp,http,idle,pq,signals",
                    help="which measurements, comma-separated (default all: baseline, kafka, "
                    "otlp, http, idle, pq, signals)")
    ap.add_argument("--instructions", action="store_true",
                    help="only count instructions per item under callgrind (about 4 minutes)")
    a = ap.parse_args()
    a.build = os.path.abspath(a.build)
    prefix = a.out or os.path.join(here, "results",
                                   datetime.datetime.now().strftime("%Y-%m-%d-%H%M"))
    os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)

    b = None
    def on_signal(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    try:
        b = Bench(a)
        if a.instructions:
            b.measure_instructions()
        else:
            b.run()
        b.write(prefix)
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        if b is not None:
            b.procs.stop_all()
            shutil.rmtree(b.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
