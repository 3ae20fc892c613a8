#!/usr/bin/env node
// Checks the test peers against each other before cotel's tests rely on them: send.js through
// backend.js into verify.js for every signal, the SDK's own encodings through verify.js's
// decoders, verify.js failing on tampered output, and backend.js's failure modes.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, spawnSync } = require('child_process');

const HERE = __dirname;
const SIGNALS = ['traces', 'metrics', 'logs'];
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cotel-js-selftest-'));
const children = new Set();
let passed = 0;
let failed = 0;

function node(script, args, timeoutMs = 60000) {
    const r = spawnSync(process.execPath, [path.join(HERE, script), ...args], {
        encoding: 'utf8', timeout: timeoutMs,
    });
    let json = null;
    try {
        json = JSON.parse(r.stdout.trim().split('\n').pop());
    } catch (e) {
        json = null;
    }
    return { code: r.status, json, stdout: r.stdout, stderr: r.stderr };
}

/** Starts backend.js and resolves with its port once it prints "listening". */
function startBackend(args) {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [path.join(HERE, 'backend.js'), '--port', '0',
            ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        children.add(child);
        let out = '';
        let err = '';
        const timer = setTimeout(() => reject(new Error(`backend did not start: ${err}`)), 15000);
        child.stdout.on('data', (d) => {
            out += d;
            const m = /listening 127\.0\.0\.1:(\d+)/.exec(out);
            if (m && !child.port) {
                child.port = Number(m[1]);
                clearTimeout(timer);
                resolve(child);
            }
        });
        child.stderr.on('data', (d) => {
            err += d;
        });
        child.on('exit', (code) => {
            children.delete(child);
            child.exitCode_ = code;
            child.finalOut = out;
            if (!child.port) {
                clearTimeout(timer);
                reject(new Error(`backend exited ${code}: ${err}`));
            }
        });
    });
}

/** Sends SIGTERM and waits (bounded) for a clean exit; returns the final stats line. */
function stopBackend(child) {
    return new Promise((resolve) => {
        if (!children.has(child)) {
            resolve(null);
            return;
        }
        const timer = setTimeout(() => {
            child.kill('SIGKILL');
            resolve(null);
        }, 5000);
        child.on('exit', (code) => {
            clearTimeout(timer);
            const last = (child.finalOut || '').trim().split('\n').pop();
            let stats = null;
            try {
                stats = JSON.parse(last);
            } catch (e) {
                stats = null;
            }
            resolve({ code, stats });
        });
        child.kill('SIGTERM');
    });
}

async function check(name, fn) {
    try {
        const detail = await fn();
        passed++;
        process.stdout.write(`ok     ${name}${detail ? ` (${detail})` : ''}\n`);
    } catch (e) {
        failed++;
        process.stdout.write(`FAILED ${name}: ${e.message}\n`);
    }
}

function expect(cond, msg) {
    if (!cond) {
        throw new Error(msg);
    }
}

function f(name) {
    return path.join(work, name);
}

function readLines(file) {
    return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l));
}

function writeLines(file, reqs) {
    fs.writeFileSync(file, reqs.map((r) => JSON.stringify(r)).join('\n') + '\n');
}

/** The first request of a signal in a list of OTLP/JSON requests, with its items container. */
function firstOf(reqs, signal) {
    const key = { traces: 'resourceSpans', metrics: 'resourceMetrics', logs: 'resourceLogs' };
    return reqs.find((r) => Array.isArray(r[key[signal]]));
}

function spans(req) {
    return req.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans));
}

function logs(req) {
    return req.resourceLogs.flatMap((rl) => rl.scopeLogs.flatMap((sl) => sl.logRecords));
}

function metrics(req) {
    return req.resourceMetrics.flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics));
}

function attr(list, key) {
    const kv = list.find((a) => a.key === key);
    if (!kv) {
        throw new Error(`no attribute ${key}`);
    }
    return kv.value;
}

// Each tampering changes one thing in a copy of the backend's output; verify.js must fail and
// name the expected problem.
function flip(c) {
    return c === '0' ? '1' : '0';
}

function bump(decimal, by = 1n) {
    return (BigInt(decimal) + by).toString();
}

function withEvents(r) {
    return spans(r).find((x) => x.events && x.events.length);
}

function withLinks(r) {
    return spans(r).find((x) => x.links && x.links.length);
}

function nestedOk(r) {
    const l = logs(r).find((x) => x.body.kvlistValue);
    const nested = attr(l.body.kvlistValue.values, 'nested');
    return attr(nested.kvlistValue.values, 'ok');
}

function firstMetric(r, type, pred = () => true) {
    return metrics(r).find((x) => x[type] && pred(x[type]))[type];
}

const TAMPERINGS = {
    traces: [
        ['string attribute', 'mismatch', (r) => {
            attr(spans(r)[0].attributes, 'test.word').stringValue += 'x';
        }],
        ['trace id', 'mismatch', (r) => {
            const s = spans(r)[1];
            s.traceId = flip(s.traceId[0]) + s.traceId.slice(1);
        }],
        ['span kind', 'mismatch', (r) => {
            const s = spans(r)[2];
            s.kind = (s.kind % 5) + 1;
        }],
        ['status code', 'mismatch', (r) => {
            spans(r)[3].status = { code: 2, message: 'x' };
        }],
        ['start time by 1 ns', 'mismatch', (r) => {
            const s = spans(r)[0];
            s.startTimeUnixNano = bump(s.startTimeUnixNano);
        }],
        ['int array element', 'mismatch', (r) => {
            attr(spans(r)[0].attributes, 'test.int_arr').arrayValue.values[2].intValue = '1';
        }],
        ['int turned double', 'mismatch', (r) => {
            const v = attr(spans(r)[0].attributes, 'test.int');
            v.doubleValue = Number(v.intValue);
            delete v.intValue;
        }],
        ['event attribute', 'mismatch', (r) => {
            const v = attr(withEvents(r).events[0].attributes, 'event.ok');
            v.boolValue = !v.boolValue;
        }],
        ['link span id', 'mismatch', (r) => {
            withLinks(r).links[0].spanId = '0102030405060708';
        }],
        ['extra attribute', 'mismatch', (r) => {
            spans(r)[0].attributes.push({ key: 'added', value: { stringValue: 'x' } });
        }],
        ['scope version', 'mismatch', (r) => {
            r.resourceSpans[0].scopeSpans[0].scope.version = '9.9.9';
        }],
        ['resource attribute', 'mismatch', (r) => {
            attr(r.resourceSpans[0].resource.attributes, 'host.name').stringValue = 'other';
        }],
        ['dropped span', 'missing', (r) => {
            r.resourceSpans[0].scopeSpans[0].spans.shift();
        }],
        ['unknown seq', 'unexpected', (r) => {
            attr(spans(r)[0].attributes, 'test.seq').intValue = '999999';
        }],
    ],
    logs: [
        ['kvlist body value', 'mismatch', (r) => {
            const v = nestedOk(r);
            v.boolValue = !v.boolValue;
        }],
        ['nested map attribute', 'mismatch', (r) => {
            const map = attr(logs(r)[0].attributes, 'test.map').kvlistValue.values;
            attr(attr(map, 'inner').kvlistValue.values, 'd').doubleValue += 1;
        }],
        ['bytes attribute', 'mismatch', (r) => {
            attr(logs(r)[0].attributes, 'test.bytes').bytesValue = 'AAAA';
        }],
        ['severity number', 'mismatch', (r) => {
            logs(r)[0].severityNumber += 1;
        }],
        ['log trace id', 'mismatch', (r) => {
            logs(r).find((x) => x.traceId).traceId = 'ff'.repeat(16);
        }],
        ['string body', 'mismatch', (r) => {
            logs(r).find((x) => x.body.stringValue !== undefined).body.stringValue = 'changed';
        }],
    ],
    metrics: [
        ['counter value', 'mismatch', (r) => {
            const p = firstMetric(r, 'sum', (s) => s.isMonotonic).dataPoints[0];
            p.asInt = bump(p.asInt);
        }],
        ['gauge value', 'mismatch', (r) => {
            firstMetric(r, 'gauge').dataPoints[0].asDouble += 0.5;
        }],
        ['histogram bucket', 'mismatch', (r) => {
            const p = firstMetric(r, 'histogram').dataPoints[0];
            p.bucketCounts[1] = bump(p.bucketCounts[1]);
        }],
        ['exp histogram offset', 'mismatch', (r) => {
            const p = firstMetric(r, 'exponentialHistogram').dataPoints
                .find((d) => d.positive && d.positive.bucketCounts);
            p.positive.offset = (p.positive.offset || 0) + 1;
        }],
        ['temporality', 'mismatch', (r) => {
            firstMetric(r, 'sum').aggregationTemporality = 1;
        }],
        ['metric name', 'mismatch', (r) => {
            metrics(r)[0].name += '.x';
        }],
        ['dropped point', 'missing', (r) => {
            firstMetric(r, 'gauge').dataPoints.shift();
        }],
    ],
};

async function roundTrips() {
    const backend = await startBackend(['--out', f('grpc.out'), '--stats', f('grpc.stats')]);
    for (const signal of SIGNALS) {
        await check(`grpc ${signal}: send.js -> backend.js -> verify.js`, () => {
            const s = node('send.js', ['--signal', signal, '--protocol', 'grpc', '--endpoint',
                `http://127.0.0.1:${backend.port}`, '--count', '157', '--batch', '40',
                '--seed', `self-${signal}`, '--manifest', f(`${signal}.json`), '--gzip']);
            expect(s.code === 0 && s.json && s.json.acknowledged === 157,
                `send failed: ${s.stdout}${s.stderr}`);
            const v = node('verify.js', ['--manifest', f(`${signal}.json`), '--signal', signal,
                '--otlp-json-lines', f('grpc.out')]);
            expect(v.code === 0 && v.json.matched === 157, `verify: ${v.stdout}${v.stderr}`);
            return `${v.json.matched} matched in ${v.json.requests} requests`;
        });
    }
    const stopped = await stopBackend(backend);
    await check('backend.js exits 0 on SIGTERM and counts items', () => {
        expect(stopped && stopped.code === 0, `exit ${stopped && stopped.code}`);
        expect(stopped.stats.items === 3 * 157, `items ${stopped.stats.items}`);
        expect(stopped.stats.encodings.gzip === stopped.stats.requests,
            `encodings ${JSON.stringify(stopped.stats.encodings)}`);
        return JSON.stringify(stopped.stats.itemsBySignal);
    });
}

async function sdkEncodings() {
    for (const signal of SIGNALS) {
        const name = `${signal}: the SDK's protobuf (framed) and JSON encodings match the manifest`;
        await check(name, () => {
            const s = node('send.js', ['--signal', signal, '--protocol', 'http/protobuf',
                '--endpoint', 'http://127.0.0.1:1', '--count', '61', '--batch', '25',
                '--timeout-ms', '300', '--allow-failures', '--seed', `dump-${signal}`,
                '--manifest', f(`dump-${signal}.json`), '--framed-out', f(`${signal}.framed`),
                '--json-out', f(`${signal}.jsonl`)]);
            expect(s.code === 0 && s.json.failed === 61, `send: ${s.stdout}${s.stderr}`);
            for (const input of [['--kafka-framed', f(`${signal}.framed`)],
                ['--otlp-json-lines', f(`${signal}.jsonl`)]]) {
                const v = node('verify.js', ['--manifest', f(`dump-${signal}.json`), '--signal',
                    signal, ...input, '--expect-min', '61']);
                expect(v.code === 0 && v.json.matched === 61, `${input[0]}: ${v.stdout}`);
            }
            const bare = node('verify.js', ['--manifest', f(`dump-${signal}.json`), '--signal',
                signal, '--kafka-framed', f(`${signal}.framed`)]);
            expect(bare.code === 1,
                'a manifest with nothing acknowledged must fail without --expect-min');
        });
    }
    await check('verify.js --dir reads framed, JSON-lines and single protobuf files', () => {
        const d = f('dir');
        fs.mkdirSync(d);
        fs.copyFileSync(f('traces.framed'), path.join(d, 'a.framed'));
        const buf = fs.readFileSync(f('traces.framed'));
        const len = buf.readUInt32BE(0);
        fs.writeFileSync(path.join(d, 'b.pb'), buf.subarray(4, 4 + len));
        const v = node('verify.js', ['--manifest', f('dump-traces.json'), '--signal', 'traces',
            '--dir', d, '--expect-min', '61', '--allow-duplicates']);
        expect(v.code === 0 && v.json.duplicates === 25, `verify: ${v.stdout}`);
    });
    await check('verify.js rejects a truncated framed file', () => {
        const buf = fs.readFileSync(f('logs.framed'));
        fs.writeFileSync(f('trunc.framed'), buf.subarray(0, buf.length - 3));
        const v = node('verify.js', ['--manifest', f('dump-logs.json'), '--signal', 'logs',
            '--kafka-framed', f('trunc.framed'), '--expect-min', '0']);
        expect(v.code === 1 && v.json.badInputs === 1, `verify: ${v.stdout}`);
    });
}

async function tampering() {
    const reqs = readLines(f('grpc.out'));
    for (const signal of SIGNALS) {
        const base = ['--manifest', f(`${signal}.json`), '--signal', signal];
        for (const [what, problem, mutate] of TAMPERINGS[signal]) {
            await check(`verify.js fails on tampered ${signal}: ${what}`, () => {
                const copy = JSON.parse(JSON.stringify(reqs));
                mutate(firstOf(copy, signal));
                writeLines(f('tampered.out'), copy);
                const v = node('verify.js', [...base, '--otlp-json-lines', f('tampered.out')]);
                expect(v.code === 1, `exit ${v.code}: ${v.stdout}`);
                expect(v.json.details.some((d) => d.problem === problem),
                    `no ${problem} reported: ${v.stdout}`);
                const d = v.json.details.find((x) => x.problem === problem);
                return d.diffs ? d.diffs.map((x) => x.path).join(',') : d.key || d.seq;
            });
        }
    }
    await check('verify.js: duplicates fail unless --allow-duplicates', () => {
        const copy = reqs.concat([firstOf(reqs, 'logs')]);
        writeLines(f('dup.out'), copy);
        const base = ['--manifest', f('logs.json'), '--signal', 'logs', '--otlp-json-lines',
            f('dup.out')];
        const v1 = node('verify.js', base);
        const v2 = node('verify.js', [...base, '--allow-duplicates']);
        expect(v1.code === 1 && v1.json.duplicates === 40, `strict: ${v1.stdout}`);
        expect(v2.code === 0, `allowed: ${v2.stdout}`);
    });
    await check('verify.js: a line that is not JSON fails', () => {
        fs.writeFileSync(f('bad.out'), fs.readFileSync(f('grpc.out'), 'utf8') + '{"resourceSp\n');
        const v = node('verify.js', ['--manifest', f('traces.json'), '--signal', 'traces',
            '--otlp-json-lines', f('bad.out')]);
        expect(v.code === 1 && v.json.badInputs === 1, v.stdout);
    });
}

async function backendModes() {
    await check('backend.js --fail-first 2 UNAVAILABLE: failures reported', async () => {
        const b = await startBackend(['--out', f('fail.out'), '--fail-first', '2',
            '--fail-code', 'UNAVAILABLE']);
        const s = node('send.js', ['--signal', 'traces', '--protocol', 'grpc', '--endpoint',
            `http://127.0.0.1:${b.port}`, '--count', '50', '--batch', '10', '--seed', 'ff',
            '--manifest', f('fail.json')]);
        const strict = s.code;
        await stopBackend(b);
        expect(strict === 1 && s.json.failed === 20 && s.json.acknowledged === 30,
            `send: ${s.stdout}`);
        const v = node('verify.js', ['--manifest', f('fail.json'), '--signal', 'traces',
            '--otlp-json-lines', f('fail.out')]);
        expect(v.code === 0 && v.json.matched === 30 && v.json.missingUnacknowledged === 20,
            v.stdout);
    });
    await check('backend.js --fail-code INVALID_ARGUMENT, send.js --allow-failures', async () => {
        const b = await startBackend(['--out', f('inv.out'), '--fail-first', '1',
            '--fail-code', 'INVALID_ARGUMENT']);
        const s = node('send.js', ['--signal', 'logs', '--protocol', 'grpc', '--endpoint',
            `http://127.0.0.1:${b.port}`, '--count', '20', '--batch', '10', '--seed', 'inv',
            '--allow-failures']);
        await stopBackend(b);
        expect(s.code === 0 && s.json.failed === 10
            && /INVALID_ARGUMENT|^3 /.test(s.json.firstError), s.stdout);
    });
    await check('backend.js --partial-success: send.js reports rejected counts', async () => {
        const b = await startBackend(['--out', f('ps.out'), '--partial-success', '3']);
        const s = node('send.js', ['--signal', 'metrics', '--protocol', 'grpc', '--endpoint',
            `http://127.0.0.1:${b.port}`, '--count', '30', '--batch', '10', '--seed', 'ps']);
        await stopBackend(b);
        expect(s.code === 0 && s.json.partialSuccessRejected === 9, s.stdout);
    });
    await check('backend.js --delay-ms beyond the client deadline fails the export', async () => {
        const b = await startBackend(['--out', f('slow.out'), '--delay-ms', '1500']);
        const s = node('send.js', ['--signal', 'traces', '--protocol', 'grpc', '--endpoint',
            `http://127.0.0.1:${b.port}`, '--count', '5', '--timeout-ms', '300', '--seed', 'sl',
            '--allow-failures']);
        await stopBackend(b);
        expect(s.code === 0 && s.json.failed === 5 && /DEADLINE/.test(s.json.firstError),
            s.stdout);
    });
    await check('backend.js with TLS and send.js --ca', async () => {
        const key = f('key.pem');
        const cert = f('cert.pem');
        const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes',
            '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1',
            '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8', timeout: 30000 });
        expect(r.status === 0, `openssl: ${r.stderr}`);
        const b = await startBackend(['--out', f('tls.out'), '--tls-cert', cert,
            '--tls-key', key]);
        const s = node('send.js', ['--signal', 'logs', '--protocol', 'grpc', '--endpoint',
            `https://127.0.0.1:${b.port}`, '--ca', cert, '--count', '12', '--seed', 'tls',
            '--manifest', f('tls.json')]);
        const plain = node('send.js', ['--signal', 'logs', '--protocol', 'grpc', '--endpoint',
            `http://127.0.0.1:${b.port}`, '--count', '2', '--seed', 'tls2', '--timeout-ms', '1000',
            '--allow-failures']);
        await stopBackend(b);
        expect(s.code === 0 && s.json.acknowledged === 12, `tls: ${s.stdout}${s.stderr}`);
        expect(plain.json && plain.json.failed === 2, `plaintext to TLS port: ${plain.stdout}`);
        const v = node('verify.js', ['--manifest', f('tls.json'), '--signal', 'logs',
            '--otlp-json-lines', f('tls.out')]);
        expect(v.code === 0, v.stdout);
    });
    await check('send.js --rate spreads batches over time', async () => {
        const b = await startBackend(['--out', f('rate.out')]);
        const s = node('send.js', ['--signal', 'logs', '--protocol', 'grpc', '--endpoint',
            `http://127.0.0.1:${b.port}`, '--count', '200', '--batch', '20', '--rate', '400',
            '--seed', 'rate', '--manifest', f('rate.json')]);
        await stopBackend(b);
        expect(s.code === 0 && s.json.acknowledged === 200, s.stdout);
        expect(s.json.durationMs >= 400 && s.json.durationMs < 5000,
            `took ${s.json.durationMs} ms`);
        const m = JSON.parse(fs.readFileSync(f('rate.json'), 'utf8'));
        expect(m.batchResults[9].startMs >= 400, `last batch at ${m.batchResults[9].startMs} ms`);
        return `${s.json.durationMs} ms`;
    });
}

async function httpWithoutReceiver() {
    for (const protocol of ['http/protobuf', 'http/json']) {
        for (const signal of SIGNALS) {
            await check(`send.js ${protocol} ${signal} to a closed port fails cleanly`, () => {
                const base = ['--signal', signal, '--protocol', protocol, '--endpoint',
                    'http://127.0.0.1:1', '--count', '15', '--batch', '10', '--timeout-ms', '300'];
                const lenient = node('send.js', [...base, '--allow-failures']);
                expect(lenient.code === 0 && lenient.json.failed === 15
                    && lenient.json.failedBatches === 2, lenient.stdout + lenient.stderr);
                const strict = node('send.js', base);
                expect(strict.code === 1 && strict.json.failed === 15, strict.stdout);
            });
        }
    }
}

async function main() {
    const started = Date.now();
    try {
        await roundTrips();
        await sdkEncodings();
        await tampering();
        await backendModes();
        await httpWithoutReceiver();
    } finally {
        for (const child of children) {
            child.kill('SIGKILL');
        }
    }
    if (failed === 0) {
        fs.rmSync(work, { recursive: true, force: true });
    } else {
        process.stdout.write(`work files kept in ${work}\n`);
    }
    process.stdout.write(`selftest: ${Date.now() - started} ms\n`);
    process.stdout.write(`${passed} passed, ${failed} failed\n`);
    process.exit(failed === 0 ? 0 : 1);
}

main();
