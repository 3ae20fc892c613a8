#!/usr/bin/env node
// Checks what came out of cotel (or backend.js) against send.js manifests: every acknowledged
// item must arrive exactly once with the same ids, names, attributes, events, resource and
// scope. Reads OTLP/JSON lines, kcat-framed Kafka records or a directory of such files.
'use strict';

const fs = require('fs');
const path = require('path');
const { parseArgs } = require('./lib/args');
const otlp = require('./lib/otlp');

const USAGE = `usage: node verify.js --manifest m.json [--manifest m2.json]... --signal S
    (--otlp-json-lines FILE | --kafka-framed FILE | --dir D)... [--allow-duplicates]
    [--expect-min N] [--max-details K] [--report FILE]
  --otlp-json-lines  one Export*ServiceRequest in OTLP/JSON per line (cotel's file exporter,
                     backend.js --out); lines of other signals are skipped and counted
  --kafka-framed     kcat -C -e -f '%R%s' output: 4-byte big-endian length, then the protobuf
                     bytes of one Export*ServiceRequest, repeated
  --dir D            every file in D: *.framed / *.kcat as --kafka-framed, files starting with
                     '{' as OTLP/JSON lines, any other file as one protobuf request
  --expect-min N     pass when at least N items matched, even if others are missing
                     (without it every acknowledged item must be present, and a manifest
                     with no acknowledged item fails)`;

const SPEC = {
    manifest: { type: 'string', repeat: true, required: true },
    signal: { type: 'string', required: true, choices: ['traces', 'metrics', 'logs'] },
    'otlp-json-lines': { type: 'string', repeat: true },
    'kafka-framed': { type: 'string', repeat: true },
    dir: { type: 'string', repeat: true },
    'allow-duplicates': { type: 'flag' },
    'expect-min': { type: 'int', min: 0 },
    'max-details': { type: 'int', def: 20, min: 0 },
    report: { type: 'string' },
};

/** Collects decoded requests from every input, remembering problems with the inputs. */
class Inputs {
    constructor(signal) {
        this.signal = signal;
        this.requests = [];
        this.otherSignal = 0;
        this.badInputs = [];
        this.proto = null;
    }

    add(req, where) {
        const sig = otlp.signalOf(req);
        if (sig === null) {
            return; // an empty request carries nothing to compare
        }
        if (sig !== this.signal) {
            this.otherSignal++;
            return;
        }
        this.requests.push({ req, where });
    }

    jsonLines(file) {
        const lines = fs.readFileSync(file, 'utf8').split('\n');
        lines.forEach((line, i) => {
            if (line.trim() === '') {
                return;
            }
            let req;
            try {
                req = JSON.parse(line);
            } catch (e) {
                this.badInputs.push(`${file}:${i + 1}: not JSON: ${e.message}`);
                return;
            }
            this.add(req, `${file}:${i + 1}`);
        });
    }

    decode(bytes, where) {
        if (this.proto === null) {
            this.proto = require('./lib/proto');
        }
        try {
            this.add(this.proto.decodeRequest(this.signal, bytes), where);
        } catch (e) {
            this.badInputs.push(`${where}: not a protobuf ${this.signal} request: ${e.message}`);
        }
    }

    framed(file) {
        const buf = fs.readFileSync(file);
        let off = 0;
        let n = 0;
        while (off < buf.length) {
            if (off + 4 > buf.length) {
                this.badInputs.push(`${file}@${off}: truncated length prefix`);
                return;
            }
            const len = buf.readUInt32BE(off);
            if (off + 4 + len > buf.length) {
                this.badInputs.push(`${file}@${off}: record of ${len} bytes runs past the end`);
                return;
            }
            this.decode(buf.subarray(off + 4, off + 4 + len), `${file}#${n}`);
            off += 4 + len;
            n++;
        }
    }

    dir(d) {
        for (const name of fs.readdirSync(d).sort()) {
            const file = path.join(d, name);
            if (!fs.statSync(file).isFile()) {
                continue;
            }
            if (/\.(framed|kcat)$/.test(name)) {
                this.framed(file);
                continue;
            }
            const bytes = fs.readFileSync(file);
            const first = bytes.toString('utf8', 0, Math.min(bytes.length, 64)).trimStart();
            if (first.startsWith('{')) {
                this.jsonLines(file);
            } else if (bytes.length > 0) {
                this.decode(bytes, file);
            }
        }
    }
}

function loadManifests(files, signal) {
    const expected = new Map();
    const runs = new Set();
    for (const file of files) {
        const m = JSON.parse(fs.readFileSync(file, 'utf8'));
        if (m.signal !== signal) {
            throw new Error(`${file} is a ${m.signal} manifest, not ${signal}`);
        }
        runs.add(m.runId);
        const acked = new Set((m.batchResults || []).filter((b) => b.ok).map((b) => b.index));
        for (const it of m.items) {
            const { seq, batch, ...item } = it;
            expected.set(`${m.runId}/${seq}`, { item, acked: acked.has(batch) });
        }
    }
    return { expected, runs };
}

function compare(opts, manifests, inputs) {
    const { expected, runs } = manifests;
    const seen = new Map();
    const report = {
        signal: opts.signal,
        expected: expected.size,
        acknowledged: [...expected.values()].filter((e) => e.acked).length,
        requests: inputs.requests.length,
        received: 0,
        matched: 0,
        mismatched: 0,
        missing: 0,
        missingUnacknowledged: 0,
        unexpected: 0,
        duplicates: 0,
        foreign: 0,
        otherSignal: inputs.otherSignal,
        badInputs: inputs.badInputs.length,
        ok: false,
        details: [],
    };
    const detail = (d) => {
        if (report.details.length < opts['max-details']) {
            report.details.push(d);
        }
    };
    inputs.badInputs.forEach((b) => detail({ problem: 'bad-input', where: b }));

    for (const { req, where } of inputs.requests) {
        for (const item of otlp.itemsFromRequest(opts.signal, req)) {
            report.received++;
            const run = otlp.runOf(item.resource.attributes);
            const seq = otlp.seqOf(otlp.itemAttrs(item));
            if (run !== null && !runs.has(run)) {
                report.foreign++;
                continue;
            }
            const key = `${run}/${seq}`;
            const exp = expected.get(key);
            if (!exp) {
                report.unexpected++;
                detail({ problem: 'unexpected', where, run, seq, name: item.name
                    || (item.metric && item.metric.name) || null });
                continue;
            }
            const state = seen.get(key) || { copies: 0, mismatch: false };
            state.copies++;
            if (state.copies > 1) {
                report.duplicates++;
                if (!opts['allow-duplicates']) {
                    detail({ problem: 'duplicate', where, key });
                }
            }
            if (otlp.stableStringify(exp.item) !== otlp.stableStringify(item)) {
                state.mismatch = true;
                detail({ problem: 'mismatch', where, key, diffs: otlp.diffPaths(exp.item, item) });
            }
            seen.set(key, state);
        }
    }

    for (const [key, exp] of expected) {
        const state = seen.get(key);
        if (!state) {
            if (exp.acked) {
                report.missing++;
                if (opts['expect-min'] === undefined) {
                    detail({ problem: 'missing', key });
                }
            } else {
                report.missingUnacknowledged++;
            }
        } else if (state.mismatch) {
            report.mismatched++;
        } else {
            report.matched++;
        }
    }

    // Without --expect-min, a run in which nothing was acknowledged proves nothing: fail it
    // rather than pass a test whose sender never reached cotel.
    const enough = opts['expect-min'] !== undefined
        ? report.matched >= opts['expect-min']
        : report.missing === 0 && report.acknowledged > 0;
    report.ok = enough && report.mismatched === 0 && report.unexpected === 0
        && report.badInputs === 0 && (opts['allow-duplicates'] || report.duplicates === 0);
    if (opts['expect-min'] !== undefined) {
        report.expectMin = opts['expect-min'];
    }
    return report;
}

function main() {
    let opts;
    try {
        opts = parseArgs(process.argv.slice(2), SPEC, USAGE);
        if (!opts['otlp-json-lines'].length && !opts['kafka-framed'].length && !opts.dir.length) {
            throw new Error(`no input: give --otlp-json-lines, --kafka-framed or --dir\n${USAGE}`);
        }
    } catch (e) {
        process.stderr.write(`verify.js: ${e.message}\n`);
        process.exit(2);
    }

    let report;
    try {
        const manifests = loadManifests(opts.manifest, opts.signal);
        const inputs = new Inputs(opts.signal);
        opts['otlp-json-lines'].forEach((f) => inputs.jsonLines(f));
        opts['kafka-framed'].forEach((f) => inputs.framed(f));
        opts.dir.forEach((d) => inputs.dir(d));
        report = compare(opts, manifests, inputs);
    } catch (e) {
        process.stderr.write(`verify.js: ${e.message}\n`);
        process.exit(2);
    }
    const text = JSON.stringify(report);
    if (opts.report) {
        fs.writeFileSync(opts.report, JSON.stringify(report, null, 1) + '\n');
    }
    process.stdout.write(text + '\n');
    process.exit(report.ok ? 0 : 1);
}

main();
