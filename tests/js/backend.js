#!/usr/bin/env node
// A real gRPC OTLP backend for cotel's exporter tests: @grpc/grpc-js serving the three Export
// services from the repo's own .proto files, writing each accepted request as one OTLP/JSON
// line (the format of cotel's file exporter) and answering as told (failures, partial success).
'use strict';

const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const { parseArgs } = require('./lib/args');
const proto = require('./lib/proto');
const otlp = require('./lib/otlp');

const USAGE = `usage: node backend.js --port P --out FILE
    [--fail-first N --fail-code UNAVAILABLE|INVALID_ARGUMENT|RESOURCE_EXHAUSTED|...]
    [--partial-success K] [--delay-ms D] [--tls-cert C --tls-key K [--tls-client-ca CA]]
    [--stats FILE] [--meta-out FILE] [--max-recv-mib M] [--retry-info-ms D]
  --port 0        pick a free port; the chosen one is printed as "listening 127.0.0.1:PORT"
  --fail-first N  answer the first N requests (any signal) with --fail-code, writing nothing
  --partial-success K  answer accepted requests with partial_success rejecting K items
  --retry-info-ms D  the --fail-first failures carry google.rpc.RetryInfo asking for D ms
  --stats FILE    rewritten after every request: counters as JSON
  --meta-out FILE one JSON line per request: signal, items, status, grpc-encoding, metadata`;

const SPEC = {
    port: { type: 'int', required: true, min: 0 },
    out: { type: 'string', required: true },
    'fail-first': { type: 'int', def: 0, min: 0 },
    'fail-code': { type: 'string', def: 'UNAVAILABLE' },
    'partial-success': { type: 'int', def: 0, min: 0 },
    'delay-ms': { type: 'int', def: 0, min: 0 },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'tls-client-ca': { type: 'string' },
    stats: { type: 'string' },
    'meta-out': { type: 'string' },
    'max-recv-mib': { type: 'number', min: 0.001 },
    'retry-info-ms': { type: 'int', min: 0 },
};

// Protobuf wire helpers for the one message built by hand: google.rpc.Status carrying a
// google.rpc.RetryInfo in an Any, sent as grpc-status-details-bin.
function varint(n) {
    const out = [];
    let v = BigInt(n);
    do {
        let b = Number(v & 0x7fn);
        v >>= 7n;
        if (v > 0n) b |= 0x80;
        out.push(b);
    } while (v > 0n);
    return Buffer.from(out);
}

function field(num, wireType, payload) {
    const tag = varint((num << 3) | wireType);
    if (wireType === 2) return Buffer.concat([tag, varint(payload.length), payload]);
    return Buffer.concat([tag, payload]);
}

function retryInfoStatus(code, message, delayMs) {
    const seconds = Math.floor(delayMs / 1000);
    const nanos = (delayMs % 1000) * 1e6;
    const duration = Buffer.concat([
        seconds ? field(1, 0, varint(seconds)) : Buffer.alloc(0),
        nanos ? field(2, 0, varint(nanos)) : Buffer.alloc(0),
    ]);
    const retryInfo = field(1, 2, duration);
    const any = Buffer.concat([
        field(1, 2, Buffer.from('type.googleapis.com/google.rpc.RetryInfo')),
        field(2, 2, retryInfo),
    ]);
    return Buffer.concat([
        field(1, 0, varint(code)),
        field(2, 2, Buffer.from(message)),
        field(3, 2, any),
    ]);
}

const SERVICES = {
    traces: { pkg: 'opentelemetry.proto.collector.trace.v1', service: 'TraceService',
        rejectedField: 'rejectedSpans' },
    metrics: { pkg: 'opentelemetry.proto.collector.metrics.v1', service: 'MetricsService',
        rejectedField: 'rejectedDataPoints' },
    logs: { pkg: 'opentelemetry.proto.collector.logs.v1', service: 'LogsService',
        rejectedField: 'rejectedLogRecords' },
};

// grpc-js strips grpc-encoding from the metadata it hands to services; this interceptor copies
// the encoding the base call parsed (an internal field of the pinned grpc-js) into a private
// metadata key, so tests can see whether a client compressed. 'unknown' if the field moves.
const ENCODING_KEY = 'x-backend-grpc-encoding';

function encodingInterceptor(methodDescriptor, call) {
    return new grpc.ServerInterceptingCall(call, {
        start: (next) => next({
            onReceiveMetadata: (metadata, mdNext) => {
                const enc = call.incomingEncoding;
                metadata.set(ENCODING_KEY, typeof enc === 'string' ? enc : 'unknown');
                mdNext(metadata);
            },
        }),
    });
}

function lookup(obj, dotted) {
    return dotted.split('.').reduce((o, k) => (o ? o[k] : undefined), obj);
}

class Backend {
    constructor(opts) {
        this.opts = opts;
        this.failLeft = opts['fail-first'];
        this.failCode = grpc.status[opts['fail-code']];
        if (this.failCode === undefined) {
            throw new Error(`unknown --fail-code ${opts['fail-code']}`);
        }
        this.outFd = fs.openSync(opts.out, 'a');
        this.metaFd = opts['meta-out'] ? fs.openSync(opts['meta-out'], 'a') : null;
        this.stats = {
            requests: 0, accepted: 0, failed: 0, items: 0, rejected: 0,
            bySignal: { traces: 0, metrics: 0, logs: 0 },
            itemsBySignal: { traces: 0, metrics: 0, logs: 0 },
            encodings: {},
        };
    }

    /** Handles one Export call of the given signal. */
    handle(signal, call, callback) {
        const req = proto.idsToHex(call.request);
        const items = otlp.countItems(signal, req);
        const metadata = call.metadata.getMap();
        const encoding = String(metadata[ENCODING_KEY] || 'unknown');
        delete metadata[ENCODING_KEY];
        this.stats.requests++;
        this.stats.bySignal[signal]++;
        this.stats.encodings[encoding] = (this.stats.encodings[encoding] || 0) + 1;

        let status = 0;
        let response = {};
        if (this.failLeft > 0) {
            this.failLeft--;
            this.stats.failed++;
            status = this.failCode;
        } else {
            fs.writeSync(this.outFd, JSON.stringify(req, otlp.otlpJsonReplacer) + '\n');
            this.stats.accepted++;
            this.stats.items += items;
            this.stats.itemsBySignal[signal] += items;
            const k = Math.min(this.opts['partial-success'], items);
            if (this.opts['partial-success'] > 0) {
                this.stats.rejected += k;
                response = {
                    partialSuccess: {
                        [SERVICES[signal].rejectedField]: String(k),
                        errorMessage: `backend.js rejected ${k} of ${items} as asked`,
                    },
                };
            }
        }
        if (this.metaFd !== null) {
            const line = { signal, items, status, encoding, metadata: printable(metadata) };
            fs.writeSync(this.metaFd, JSON.stringify(line) + '\n');
        }
        this.writeStats();

        const answer = () => {
            if (status !== 0) {
                const details = `backend.js: failing as asked (${status})`;
                const err = { code: status, details };
                if (this.opts['retry-info-ms'] !== undefined) {
                    err.metadata = new grpc.Metadata();
                    err.metadata.set('grpc-status-details-bin',
                        retryInfoStatus(status, details, this.opts['retry-info-ms']));
                }
                callback(err);
            } else {
                callback(null, response);
            }
        };
        if (this.opts['delay-ms'] > 0) {
            setTimeout(answer, this.opts['delay-ms']);
        } else {
            answer();
        }
    }

    /** Atomically replaces the stats file, so a polling test never reads half of it. */
    writeStats() {
        if (!this.opts.stats) {
            return;
        }
        const tmp = `${this.opts.stats}.tmp`;
        fs.writeFileSync(tmp, JSON.stringify(this.stats) + '\n');
        fs.renameSync(tmp, this.opts.stats);
    }
}

function printable(map) {
    const out = {};
    for (const [k, v] of Object.entries(map)) {
        out[k] = Buffer.isBuffer(v) ? v.toString('base64') : v;
    }
    return out;
}

function credentials(opts) {
    if (!opts['tls-cert'] && !opts['tls-key']) {
        return grpc.ServerCredentials.createInsecure();
    }
    if (!opts['tls-cert'] || !opts['tls-key']) {
        throw new Error('--tls-cert and --tls-key go together');
    }
    const ca = opts['tls-client-ca'] ? fs.readFileSync(opts['tls-client-ca']) : null;
    return grpc.ServerCredentials.createSsl(ca, [{
        cert_chain: fs.readFileSync(opts['tls-cert']),
        private_key: fs.readFileSync(opts['tls-key']),
    }], ca !== null);
}

function start(opts) {
    const files = Object.values(proto.SERVICE_FILES);
    for (const f of files) {
        if (!fs.existsSync(path.join(proto.protoDir(), f))) {
            throw new Error(`missing ${f} under ${proto.protoDir()}`);
        }
    }
    const def = protoLoader.loadSync(files, {
        keepCase: false, defaults: false, oneofs: false, includeDirs: [proto.protoDir()],
        ...proto.OBJECT_OPTIONS,
    });
    const loaded = grpc.loadPackageDefinition(def);
    const backend = new Backend(opts);
    const serverOptions = { interceptors: [encodingInterceptor] };
    if (opts['max-recv-mib']) {
        serverOptions['grpc.max_receive_message_length'] =
            Math.floor(opts['max-recv-mib'] * 1024 * 1024);
    }
    const server = new grpc.Server(serverOptions);
    for (const [signal, s] of Object.entries(SERVICES)) {
        const ctor = lookup(loaded, `${s.pkg}.${s.service}`);
        server.addService(ctor.service, {
            Export: (call, callback) => {
                try {
                    backend.handle(signal, call, callback);
                } catch (e) {
                    // Our own failure (say, a full disk): tell the client instead of dying.
                    process.stderr.write(`backend.js: ${signal} request: ${e.message}\n`);
                    callback({ code: grpc.status.INTERNAL, details: `backend.js: ${e.message}` });
                }
            },
        });
    }
    backend.writeStats();

    server.bindAsync(`127.0.0.1:${opts.port}`, credentials(opts), (err, port) => {
        if (err) {
            process.stderr.write(`backend.js: cannot listen on 127.0.0.1:${opts.port}: `
                + `${err.message}\n`);
            process.exit(1);
        }
        process.stdout.write(`listening 127.0.0.1:${port}\n`);
    });

    let stopping = false;
    const stop = (sig) => {
        if (stopping) {
            return;
        }
        stopping = true;
        // Give calls in flight a moment, then cut the rest so the process always ends.
        const force = setTimeout(() => server.forceShutdown(), 2000);
        server.tryShutdown(() => {
            clearTimeout(force);
            backend.writeStats();
            process.stdout.write(JSON.stringify({ stopped: sig, ...backend.stats }) + '\n');
            process.exit(0);
        });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
}

function main() {
    try {
        start(parseArgs(process.argv.slice(2), SPEC, USAGE));
    } catch (e) {
        process.stderr.write(`backend.js: ${e.message}\n`);
        process.exit(2);
    }
}

main();
