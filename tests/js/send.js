#!/usr/bin/env node
// A real OpenTelemetry JS client for cotel's tests: builds seed-dependent spans, metric data
// points or log records with the SDK, sends them in batches through the SDK's own OTLP
// exporters (gRPC, HTTP/protobuf or HTTP/JSON) and writes a manifest of what was acknowledged.
'use strict';

// The exporters read OTEL_* variables as fallbacks; a stray one in the environment must not
// change what a test sends or where.
for (const key of Object.keys(process.env)) {
    if (key.startsWith('OTEL_')) {
        delete process.env[key];
    }
}

const fs = require('fs');
const api = require('@opentelemetry/api');
const { parseArgs } = require('./lib/args');
const { Rng } = require('./lib/rng');
const { createSource } = require('./lib/content');
const otlp = require('./lib/otlp');

const USAGE = `usage: node send.js --signal traces|metrics|logs
    --protocol grpc|http/protobuf|http/json --endpoint URL --count N [--batch M]
    [--manifest out.json] [--seed S] [--allow-failures] [--gzip] [--timeout-ms T]
    [--rate R] [--max-seconds S] [--header K=V]... [--ca FILE] [--verbose]
    [--framed-out FILE] [--json-out FILE]
  --endpoint   grpc: http://127.0.0.1:PORT (https:// for TLS, with --ca);
               http: a base URL (the /v1/<signal> path is added when it has no path)
  --rate       items per second: batches are spread over time instead of sent at once
  --max-seconds  with --rate, stop after this long (default: twice the planned time + 30 s)
  --framed-out   also write each batch as the SDK's protobuf encoding, framed like
                 kcat -f '%R%s' (4-byte big-endian length, then the bytes)
  --json-out     also write each batch as the SDK's OTLP/JSON encoding, one line per batch`;

const SPEC = {
    signal: { type: 'string', required: true, choices: ['traces', 'metrics', 'logs'] },
    protocol: { type: 'string', required: true, choices: ['grpc', 'http/protobuf', 'http/json'] },
    endpoint: { type: 'string', required: true },
    count: { type: 'int', required: true, min: 0 },
    batch: { type: 'int', min: 1 },
    manifest: { type: 'string' },
    seed: { type: 'string', def: '1' },
    'allow-failures': { type: 'flag' },
    gzip: { type: 'flag' },
    'timeout-ms': { type: 'int', def: 10000, min: 1 },
    rate: { type: 'number', min: 0.001 },
    'max-seconds': { type: 'number', min: 0.001 },
    header: { type: 'string', repeat: true },
    ca: { type: 'string' },
    verbose: { type: 'flag' },
    'framed-out': { type: 'string' },
    'json-out': { type: 'string' },
};

const EXPORTER_PACKAGES = {
    grpc: {
        traces: ['@opentelemetry/exporter-trace-otlp-grpc', 'OTLPTraceExporter'],
        metrics: ['@opentelemetry/exporter-metrics-otlp-grpc', 'OTLPMetricExporter'],
        logs: ['@opentelemetry/exporter-logs-otlp-grpc', 'OTLPLogExporter'],
    },
    'http/protobuf': {
        traces: ['@opentelemetry/exporter-trace-otlp-proto', 'OTLPTraceExporter'],
        metrics: ['@opentelemetry/exporter-metrics-otlp-proto', 'OTLPMetricExporter'],
        logs: ['@opentelemetry/exporter-logs-otlp-proto', 'OTLPLogExporter'],
    },
    'http/json': {
        traces: ['@opentelemetry/exporter-trace-otlp-http', 'OTLPTraceExporter'],
        metrics: ['@opentelemetry/exporter-metrics-otlp-http', 'OTLPMetricExporter'],
        logs: ['@opentelemetry/exporter-logs-otlp-http', 'OTLPLogExporter'],
    },
};

/**
 * Watches the SDK's diagnostic log: partial-success answers are only reported there, and the
 * exporters' own errors help explain a failed batch. Partial successes are attributed to the
 * batch in flight (batches are sent one at a time).
 */
class DiagWatcher {
    constructor(verbose) {
        this.verbose = verbose;
        this.partial = [];
    }

    handle(level, args) {
        const text = args.map((a) => (typeof a === 'string' ? a : safeJson(a))).join(' ');
        const m = /Received Partial Success response:\s*(\{.*\})/.exec(text);
        if (m) {
            let parsed = {};
            try {
                parsed = JSON.parse(m[1]);
            } catch (e) {
                parsed = { raw: m[1] };
            }
            this.partial.push(parsed);
        }
        if (this.verbose) {
            process.stderr.write(`send.js: sdk ${level}: ${text}\n`);
        }
    }

    logger() {
        const mk = (level) => (...args) => this.handle(level, args);
        return {
            error: mk('error'), warn: mk('warn'), info: mk('info'),
            debug: mk('debug'), verbose: mk('verbose'),
        };
    }

    take() {
        const out = this.partial;
        this.partial = [];
        return out;
    }
}

function safeJson(v) {
    try {
        return JSON.stringify(v);
    } catch (e) {
        return String(v);
    }
}

/** For HTTP, a base URL without a path gets the signal's standard path. */
function exporterUrl(protocol, signal, endpoint) {
    if (protocol === 'grpc') {
        return endpoint;
    }
    const u = new URL(endpoint);
    if (u.pathname === '' || u.pathname === '/') {
        u.pathname = `/v1/${signal}`;
    }
    return u.toString();
}

function parseHeaders(list) {
    const out = {};
    for (const h of list) {
        const eq = h.indexOf('=');
        if (eq <= 0) {
            throw new Error(`--header '${h}' is not K=V`);
        }
        out[h.slice(0, eq).trim()] = h.slice(eq + 1);
    }
    return out;
}

function createExporter(opts) {
    const [pkg, cls] = EXPORTER_PACKAGES[opts.protocol][opts.signal];
    const Exporter = require(pkg)[cls];
    const headers = parseHeaders(opts.header);
    const config = {
        url: exporterUrl(opts.protocol, opts.signal, opts.endpoint),
        timeoutMillis: opts['timeout-ms'],
        compression: opts.gzip ? 'gzip' : 'none',
    };
    if (opts.protocol === 'grpc') {
        const grpc = require('@grpc/grpc-js');
        const md = new grpc.Metadata();
        for (const [k, v] of Object.entries(headers)) {
            md.set(k.toLowerCase(), v);
        }
        config.metadata = md;
        if (opts.ca) {
            config.credentials = grpc.credentials.createSsl(fs.readFileSync(opts.ca));
        }
    } else {
        config.headers = headers;
        if (opts.ca) {
            config.httpAgentOptions = { ca: fs.readFileSync(opts.ca) };
        }
    }
    return new Exporter(config);
}

const SERIALIZERS = {
    traces: ['ProtobufTraceSerializer', 'JsonTraceSerializer'],
    metrics: ['ProtobufMetricsSerializer', 'JsonMetricsSerializer'],
    logs: ['ProtobufLogsSerializer', 'JsonLogsSerializer'],
};

/**
 * Writes batches as the SDK itself encodes them (the same serializers its exporters use), for
 * tests that feed payloads to cotel by other routes and to check verify.js's decoders.
 */
class Dumper {
    constructor(opts) {
        const transformer = require('@opentelemetry/otlp-transformer');
        const [pb, json] = SERIALIZERS[opts.signal];
        this.pb = transformer[pb];
        this.json = transformer[json];
        this.framedFd = opts['framed-out'] ? fs.openSync(opts['framed-out'], 'w') : null;
        this.jsonFd = opts['json-out'] ? fs.openSync(opts['json-out'], 'w') : null;
    }

    write(records) {
        if (this.framedFd !== null) {
            const bytes = Buffer.from(this.pb.serializeRequest(records));
            const len = Buffer.alloc(4);
            len.writeUInt32BE(bytes.length);
            fs.writeSync(this.framedFd, Buffer.concat([len, bytes]));
        }
        if (this.jsonFd !== null) {
            const text = Buffer.from(this.json.serializeRequest(records)).toString('utf8');
            fs.writeSync(this.jsonFd, text + '\n');
        }
    }
}

/** One exporter.export() call, bounded in time even if the callback never comes. */
function exportOnce(exporter, records, limitMs) {
    return new Promise((resolve) => {
        const timer = setTimeout(() => {
            resolve({ ok: false, error: `no export result after ${limitMs} ms` });
        }, limitMs);
        try {
            exporter.export(records, (result) => {
                clearTimeout(timer);
                const ok = result && result.code === 0;
                const err = result && result.error;
                resolve({ ok, error: ok ? null : String((err && err.message) || err || 'failed') });
            });
        } catch (e) {
            clearTimeout(timer);
            resolve({ ok: false, error: `export threw: ${e.message}` });
        }
    });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function run(opts) {
    const watcher = new DiagWatcher(opts.verbose);
    api.diag.setLogger(watcher.logger(), opts.verbose ? api.DiagLogLevel.DEBUG
        : api.DiagLogLevel.INFO);

    const runId = `run-${new Rng(`${opts.seed}/run`).hex(6)}`;
    const batchSize = opts.batch || Math.max(1, Math.min(opts.count, 100));
    const source = createSource(opts.signal, {
        seed: opts.seed, runId, baseNs: BigInt(Date.now()) * 1000000n,
    });
    const exporter = createExporter(opts);
    const dumper = new Dumper(opts);
    const plannedMs = opts.rate ? (opts.count / opts.rate) * 1000 : 0;
    const maxMs = opts['max-seconds'] ? opts['max-seconds'] * 1000
        : opts.rate ? plannedMs * 2 + 30000 : Infinity;

    const started = Date.now();
    const batches = [];
    const items = [];
    let stoppedEarly = false;
    for (let first = 0, index = 0; first < opts.count; first += batchSize, index++) {
        const n = Math.min(batchSize, opts.count - first);
        if (opts.rate) {
            const due = started + (first / opts.rate) * 1000;
            if (due - started > maxMs || Date.now() - started > maxMs) {
                stoppedEarly = true;
                break;
            }
            if (due > Date.now()) {
                await sleep(due - Date.now());
            }
        }
        const { records, items: batchItems } = await source.batch(first, n);
        dumper.write(records);
        const t0 = Date.now();
        const result = await exportOnce(exporter, records, opts['timeout-ms'] + 5000);
        const partial = watcher.take();
        const rejected = partial.reduce((sum, p) => sum + Number(p.rejectedSpans
            || p.rejectedDataPoints || p.rejectedLogRecords || 0), 0);
        batches.push({
            index,
            first,
            count: n,
            ok: result.ok,
            error: result.error,
            startMs: t0 - started,
            latencyMs: Date.now() - t0,
            partialSuccess: partial.length ? { rejected, responses: partial } : null,
        });
        for (const item of batchItems) {
            items.push({ seq: otlp.seqOf(otlp.itemAttrs(item)), batch: index, ...item });
        }
        if (!result.ok && opts.verbose) {
            process.stderr.write(`send.js: batch ${index} failed: ${result.error}\n`);
        }
    }
    await Promise.race([exporter.shutdown().catch(() => {}), sleep(3000)]);

    const acknowledged = batches.filter((b) => b.ok).reduce((s, b) => s + b.count, 0);
    const sent = batches.reduce((s, b) => s + b.count, 0);
    const failed = opts.count - acknowledged;
    const firstError = (batches.find((b) => !b.ok) || {}).error || null;
    const summary = {
        signal: opts.signal,
        protocol: opts.protocol,
        endpoint: opts.endpoint,
        runId,
        seed: opts.seed,
        count: opts.count,
        sent,
        notSent: opts.count - sent,
        acknowledged,
        failed,
        batches: batches.length,
        failedBatches: batches.filter((b) => !b.ok).length,
        partialSuccessRejected: batches.reduce((s, b) =>
            s + (b.partialSuccess ? b.partialSuccess.rejected : 0), 0),
        stoppedEarly,
        durationMs: Date.now() - started,
        firstError,
    };
    if (opts.manifest) {
        const manifest = {
            version: 1,
            ...summary,
            batchSize,
            gzip: opts.gzip,
            batchResults: batches,
            items,
        };
        fs.writeFileSync(opts.manifest, JSON.stringify(manifest, null, 1) + '\n');
    }
    process.stdout.write(JSON.stringify(summary) + '\n');
    return failed > 0 && !opts['allow-failures'] ? 1 : 0;
}

function main() {
    let opts;
    try {
        opts = parseArgs(process.argv.slice(2), SPEC, USAGE);
    } catch (e) {
        process.stderr.write(`send.js: ${e.message}\n`);
        process.exit(2);
    }
    run(opts).then((code) => {
        process.exitCode = code;
        // Exporter channels may hold timers; the summary is written, so end now.
        setImmediate(() => process.exit(code));
    }, (e) => {
        process.stderr.write(`send.js: ${e.stack || e.message}\n`);
        process.exit(2);
    });
}

main();
