// Seed-dependent telemetry made with the real OpenTelemetry JS SDK: spans, log records and
// metric data points, plus the canonical manifest form of each item (lib/otlp.js) taken from
// the SDK's own objects, so the manifest says exactly what the exporters were handed.
'use strict';

const api = require('@opentelemetry/api');
const { BasicTracerProvider } = require('@opentelemetry/sdk-trace-base');
const { LoggerProvider } = require('@opentelemetry/sdk-logs');
const {
    MeterProvider, MetricReader, AggregationType, AggregationTemporality, DataPointType,
} = require('@opentelemetry/sdk-metrics');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { Rng } = require('./rng');
const otlp = require('./otlp');

const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel',
    'india', 'juliet', 'kilo', 'lima', 'mike', 'november', 'oscar', 'papa'];
const OPERATIONS = ['GET /api/items', 'POST /api/orders', 'db.query', 'cache.get',
    'queue.publish', 'queue.consume', 'render', 'auth.check'];
// Strings that a JSON or protobuf writer must carry through unchanged: quotes, backslashes,
// control characters, non-ASCII text and a character outside the Basic Multilingual Plane.
const AWKWARD = ['quote " back\\slash', 'line\nbreak\ttab\r', 'ctrl \u0001\u001f end',
    'héllo wörld ✓ 日本語', 'emoji 😀 pair', '</script>&<>'];
const SEVERITIES = [[1, 'TRACE'], [5, 'DEBUG'], [9, 'INFO'], [13, 'WARN'], [17, 'ERROR'],
    [21, 'FATAL']];

/** Two instrumentation scopes; an item's scope is picked from its sequence number. */
function scopesFor(rng) {
    return [
        { name: 'cotel.test.scope.alpha', version: `1.${rng.int(0, 9)}.${rng.int(0, 99)}` },
        { name: 'cotel.test.scope.bravo', version: '2.3.4-beta.1' },
    ];
}

/** Two resources that share service.name and differ in custom attributes. */
function resourcesFor(signal, rng, runId) {
    const out = [];
    for (let r = 0; r < 2; r++) {
        out.push(resourceFromAttributes({
            'service.name': `cotel-test-${signal}`,
            'service.instance.id': `instance-${r}-${rng.hex(4)}`,
            'host.name': 'cotel-test-host',
            'deployment.environment.name': r === 0 ? 'test' : 'staging',
            [otlp.RUN_KEY]: runId,
            'test.resource.index': r,
            'test.resource.flag': r === 1,
            'test.resource.ratio': 0.25 + r,
            'test.resource.tags': [`tag-${rng.hex(2)}`, 'shared'],
        }));
    }
    return out;
}

/** A double that is never integral, so the SDK encodes it as double_value. */
function fraction(rng, lo, hi) {
    return rng.int(lo, hi) + (2 * rng.int(0, 511) + 1) / 1024;
}

/** Attributes of every simple type the span API allows. */
function commonAttributes(rng, seq) {
    const attrs = {
        [otlp.SEQ_KEY]: seq,
        'test.word': rng.pick(WORDS),
        'test.text': rng.pick(AWKWARD),
        'test.flag': (rng.u32() & 1) === 1,
        'test.int': rng.int(-1000000, 1000000) * 4099 + seq,
        'test.big': 2 ** 40 + rng.int(0, 1000000),
        'test.double': fraction(rng, -1000, 1000),
        'test.str_arr': [rng.pick(WORDS), rng.pick(WORDS), ''],
        'test.int_arr': [seq, -seq - 1, 2 ** 33 + seq],
        'test.double_arr': [0.5, fraction(rng, -50, 50)],
        'test.bool_arr': [true, false, (seq & 1) === 1],
    };
    if (seq % 4 === 0) {
        attrs['test.empty'] = '';
    }
    return attrs;
}

/** Nanoseconds (BigInt) to an SDK HrTime. */
function hr(ns) {
    return [Number(ns / 1000000000n), Number(ns % 1000000000n)];
}

// --------------------------------------------------------------------------------------------
// Traces

/** Ids drawn from the seeded generator, so a seed always gives the same trace and span ids. */
class SeededIdGenerator {
    constructor(rng) {
        this.rng = rng;
    }

    generateTraceId() {
        return this.rng.hex(16);
    }

    generateSpanId() {
        return this.rng.hex(8);
    }
}

/** Spans in groups of three (root, child, grandchild); some roots have a remote parent. */
class TraceSource {
    constructor(opts) {
        this.rng = new Rng(`${opts.seed}/traces`);
        this.resources = resourcesFor('traces', this.rng, opts.runId);
        this.scopes = scopesFor(this.rng);
        this.baseNs = opts.baseNs;
        this.ended = [];
        const ids = new SeededIdGenerator(this.rng);
        const collector = {
            onStart() {},
            onEnd: (span) => this.ended.push(span),
            forceFlush: async () => {},
            shutdown: async () => {},
        };
        this.tracers = this.resources.map((resource) => {
            const provider = new BasicTracerProvider({
                resource, idGenerator: ids, spanProcessors: [collector],
            });
            return this.scopes.map((s) => provider.getTracer(s.name, s.version));
        });
        this.prev = null;
    }

    parentContext(seq) {
        if (seq % 3 !== 0 && this.prev) {
            return api.trace.setSpanContext(api.ROOT_CONTEXT, this.prev.spanContext());
        }
        if (seq % 6 === 0) {
            // A root whose parent lives in another process: remote flag and trace state set.
            const remote = {
                traceId: this.rng.hex(16),
                spanId: this.rng.hex(8),
                traceFlags: api.TraceFlags.SAMPLED,
                isRemote: true,
                traceState: api.createTraceState(`cotel=t${this.rng.hex(3)},other=v1`),
            };
            return api.trace.setSpanContext(api.ROOT_CONTEXT, remote);
        }
        return api.ROOT_CONTEXT;
    }

    links(seq) {
        const links = [];
        if (seq % 4 === 1 && this.prev) {
            links.push({
                context: this.prev.spanContext(),
                attributes: { 'link.reason': 'previous', 'link.seq': seq - 1 },
            });
        }
        if (seq % 8 === 5) {
            links.push({
                context: {
                    traceId: this.rng.hex(16),
                    spanId: this.rng.hex(8),
                    traceFlags: api.TraceFlags.NONE,
                    traceState: api.createTraceState('vendor=link'),
                },
                attributes: { 'link.reason': 'batch', 'link.weight': fraction(this.rng, 0, 9) },
            });
        }
        return links;
    }

    /** Creates and ends span number seq; returns nothing (ended spans are collected). */
    make(seq) {
        const rng = this.rng;
        const tracer = this.tracers[seq % 2][(seq >> 1) % 2];
        const kinds = [api.SpanKind.INTERNAL, api.SpanKind.SERVER, api.SpanKind.CLIENT,
            api.SpanKind.PRODUCER, api.SpanKind.CONSUMER];
        const startNs = this.baseNs + BigInt(seq) * 1000000n + BigInt(rng.int(0, 999999));
        const endNs = startNs + BigInt(rng.int(1000, 50000000));
        const ctx = this.parentContext(seq);
        const span = tracer.startSpan(`${rng.pick(OPERATIONS)} ${rng.pick(WORDS)}-${seq}`, {
            kind: kinds[seq % kinds.length],
            attributes: commonAttributes(rng, seq),
            links: this.links(seq),
            startTime: hr(startNs),
        }, ctx);
        if (seq % 2 === 0) {
            const events = seq % 4 === 0 ? 2 : 1;
            for (let k = 0; k < events; k++) {
                span.addEvent(`event.${rng.pick(WORDS)}`, {
                    'event.index': k,
                    'event.text': rng.pick(AWKWARD),
                    'event.ok': k === 0,
                    'event.values': [k, seq, -7],
                }, hr(startNs + BigInt(k + 1) * 500n));
            }
        }
        if (seq % 3 === 1) {
            span.setStatus({ code: api.SpanStatusCode.OK });
        } else if (seq % 3 === 2) {
            span.setStatus({ code: api.SpanStatusCode.ERROR, message: `failed: ${rng.hex(3)}` });
        }
        span.end(hr(endNs));
        this.prev = span;
    }

    /** The SDK spans for sequence numbers [first, first + n) and their manifest items. */
    async batch(first, n) {
        this.ended = [];
        for (let seq = first; seq < first + n; seq++) {
            this.make(seq);
        }
        const spans = this.ended;
        this.ended = [];
        return { records: spans, items: spans.map(spanItem) };
    }
}

function spanItem(span) {
    const ctx = span.spanContext();
    const parent = span.parentSpanContext;
    return {
        traceId: ctx.traceId,
        spanId: ctx.spanId,
        parentSpanId: parent && parent.spanId ? parent.spanId : '',
        traceState: ctx.traceState ? ctx.traceState.serialize() : '',
        name: span.name,
        kind: span.kind + 1, // the API has no "unspecified"; OTLP's enum is shifted by one
        startTimeUnixNano: otlp.hrToNanos(span.startTime),
        endTimeUnixNano: otlp.hrToNanos(span.endTime),
        attributes: otlp.attrsFromJs(span.attributes),
        status: { code: span.status.code, message: span.status.message || '' },
        events: span.events.map((e) => ({
            name: e.name,
            timeUnixNano: otlp.hrToNanos(e.time),
            attributes: otlp.attrsFromJs(e.attributes),
        })),
        links: span.links.map((l) => ({
            traceId: l.context.traceId,
            spanId: l.context.spanId,
            traceState: l.context.traceState ? l.context.traceState.serialize() : '',
            attributes: otlp.attrsFromJs(l.attributes),
        })),
        traceFlags: ctx.traceFlags & 0xff,
        resource: { attributes: otlp.attrsFromJs(span.resource.attributes) },
        scope: scopeItem(span.instrumentationScope),
    };
}

function scopeItem(scope) {
    return { name: scope.name || '', version: scope.version || '' };
}

// --------------------------------------------------------------------------------------------
// Logs

/** Log records with string, map, array and integer bodies and map-valued attributes. */
class LogSource {
    constructor(opts) {
        this.rng = new Rng(`${opts.seed}/logs`);
        this.resources = resourcesFor('logs', this.rng, opts.runId);
        this.scopes = scopesFor(this.rng);
        this.baseNs = opts.baseNs;
        this.emitted = [];
        const collector = {
            onEmit: (record) => this.emitted.push(record),
            forceFlush: async () => {},
            shutdown: async () => {},
        };
        this.loggers = this.resources.map((resource) => {
            const provider = new LoggerProvider({ resource, processors: [collector] });
            return this.scopes.map((s) => provider.getLogger(s.name, s.version));
        });
    }

    body(seq) {
        const rng = this.rng;
        switch (seq % 4) {
        case 0:
            return `message ${rng.pick(WORDS)} ${rng.pick(AWKWARD)} #${seq}`;
        case 1:
            return {
                msg: `structured ${rng.pick(WORDS)}`,
                code: rng.int(100, 599),
                nested: { ok: (seq & 2) === 2, ratio: fraction(rng, 0, 9), list: ['x', 1] },
            };
        case 2:
            return [rng.pick(WORDS), seq, fraction(rng, -5, 5), true, { inner: rng.pick(WORDS) }];
        default:
            return rng.int(-1000000, 1000000) * 8191;
        }
    }

    make(seq) {
        const rng = this.rng;
        const logger = this.loggers[seq % 2][(seq >> 1) % 2];
        const [severityNumber, severityText] = SEVERITIES[seq % SEVERITIES.length];
        const timeNs = this.baseNs + BigInt(seq) * 1000000n + BigInt(rng.int(0, 999999));
        const attributes = commonAttributes(rng, seq);
        attributes['test.map'] = {
            key: rng.pick(WORDS),
            count: seq,
            inner: { d: fraction(rng, 0, 99), arr: [rng.pick(WORDS), 2, false] },
            empty: {},
        };
        attributes['test.mixed_arr'] = ['s', 1, 2.5, false, { k: 'v' }, [1, 2]];
        attributes['test.bytes'] = Uint8Array.from([0, 1, 2, 254, 255, seq & 0xff]);
        let ctx = api.ROOT_CONTEXT;
        if (seq % 2 === 0) {
            ctx = api.trace.setSpanContext(ctx, {
                traceId: rng.hex(16),
                spanId: rng.hex(8),
                traceFlags: api.TraceFlags.SAMPLED,
            });
        }
        const record = {
            timestamp: hr(timeNs),
            observedTimestamp: hr(timeNs + 1000n + BigInt(rng.int(0, 999))),
            severityNumber: severityNumber + (seq % 4),
            severityText,
            body: this.body(seq),
            attributes,
            context: ctx,
        };
        if (seq % 3 === 0) {
            record.eventName = `cotel.test.${rng.pick(WORDS)}`;
        }
        logger.emit(record);
    }

    async batch(first, n) {
        this.emitted = [];
        for (let seq = first; seq < first + n; seq++) {
            this.make(seq);
        }
        const records = this.emitted;
        this.emitted = [];
        return { records, items: records.map(logItem) };
    }
}

function logItem(rec) {
    const sc = rec.spanContext;
    return {
        timeUnixNano: otlp.hrToNanos(rec.hrTime),
        observedTimeUnixNano: otlp.hrToNanos(rec.hrTimeObserved),
        severityNumber: rec.severityNumber || 0,
        severityText: rec.severityText || '',
        body: otlp.anyFromJs(rec.body),
        attributes: otlp.attrsFromJs(rec.attributes),
        traceId: sc ? sc.traceId : '',
        spanId: sc ? sc.spanId : '',
        traceFlags: sc ? sc.traceFlags & 0xff : 0,
        eventName: rec.eventName || '',
        resource: { attributes: otlp.attrsFromJs(rec.resource.attributes) },
        scope: scopeItem(rec.instrumentationScope),
    };
}

// --------------------------------------------------------------------------------------------
// Metrics

/** A reader that only collects when asked: each batch is exactly one collection. */
class CollectingReader extends MetricReader {
    async onForceFlush() {}

    async onShutdown() {}
}

const METRIC_KINDS = ['counter', 'updown', 'gauge', 'histogram', 'exphistogram'];

/**
 * Metric data points: each sequence number records into one instrument under its own
 * test.seq attribute, so every sequence number is exactly one data point. A fresh
 * MeterProvider per batch keeps cumulative state from leaking points into later batches.
 */
class MetricSource {
    constructor(opts) {
        this.rng = new Rng(`${opts.seed}/metrics`);
        this.resources = resourcesFor('metrics', this.rng, opts.runId);
        this.scopes = scopesFor(this.rng);
        this.batchIndex = 0;
    }

    instruments(meter) {
        return {
            counter: meter.createCounter('cotel.test.requests', {
                description: 'Requests handled', unit: '{request}', valueType: api.ValueType.INT,
            }),
            updown: meter.createUpDownCounter('cotel.test.queue.depth', {
                description: 'Change in queue depth', unit: '{item}',
                valueType: api.ValueType.DOUBLE,
            }),
            gauge: meter.createGauge('cotel.test.temperature', {
                description: 'Temperature reading', unit: 'Cel', valueType: api.ValueType.DOUBLE,
            }),
            histogram: meter.createHistogram('cotel.test.latency', {
                description: 'Request latency', unit: 'ms', valueType: api.ValueType.DOUBLE,
                advice: { explicitBucketBoundaries: [0, 5, 10, 25, 50, 100, 250] },
            }),
            exphistogram: meter.createHistogram('cotel.test.payload.size', {
                description: 'Payload size', unit: 'By', valueType: api.ValueType.DOUBLE,
            }),
        };
    }

    record(inst, seq) {
        const rng = this.rng;
        const attrs = {
            [otlp.SEQ_KEY]: seq,
            'test.word': rng.pick(WORDS),
            'test.flag': (seq & 1) === 1,
            'test.double': fraction(rng, -100, 100),
            'test.str_arr': [rng.pick(WORDS), 'b'],
        };
        const kind = METRIC_KINDS[seq % METRIC_KINDS.length];
        if (kind === 'counter') {
            inst.counter.add(rng.int(0, 1000000) * 4099, attrs);
            inst.counter.add(rng.int(1, 100), attrs);
        } else if (kind === 'updown') {
            inst.updown.add(fraction(rng, 0, 500), attrs);
            inst.updown.add(-fraction(rng, 0, 500), attrs);
        } else if (kind === 'gauge') {
            inst.gauge.record(fraction(rng, -40, 60), attrs);
        } else {
            const n = rng.int(1, 6);
            for (let k = 0; k < n; k++) {
                const v = k === 0 && seq % 10 === 4 ? 0 : fraction(rng, 0, 300);
                inst[kind].record(v, attrs);
            }
        }
    }

    async batch(first, n) {
        const reader = new CollectingReader({
            aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE,
        });
        const provider = new MeterProvider({
            resource: this.resources[this.batchIndex % 2],
            readers: [reader],
            views: [{
                instrumentName: 'cotel.test.payload.size',
                aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM, options: {} },
            }],
        });
        this.batchIndex++;
        const insts = this.scopes.map((s) =>
            this.instruments(provider.getMeter(s.name, s.version)));
        for (let seq = first; seq < first + n; seq++) {
            this.record(insts[(seq >> 1) % 2], seq);
        }
        const { resourceMetrics, errors } = await reader.collect();
        await provider.shutdown();
        if (errors && errors.length) {
            throw new Error(`metric collection failed: ${errors[0]}`);
        }
        const items = metricItems(resourceMetrics);
        if (items.length !== n) {
            throw new Error(`expected ${n} data points from one collection, got ${items.length}`);
        }
        return { records: resourceMetrics, items };
    }
}

function metricItems(rm) {
    const resource = { attributes: otlp.attrsFromJs(rm.resource.attributes) };
    const items = [];
    for (const sm of rm.scopeMetrics) {
        const scope = scopeItem(sm.scope);
        for (const m of sm.metrics) {
            const type = {
                [DataPointType.SUM]: 'sum',
                [DataPointType.GAUGE]: 'gauge',
                [DataPointType.HISTOGRAM]: 'histogram',
                [DataPointType.EXPONENTIAL_HISTOGRAM]: 'exponentialHistogram',
            }[m.dataPointType];
            const metric = {
                name: m.descriptor.name,
                description: m.descriptor.description || '',
                unit: m.descriptor.unit || '',
                type,
                aggregationTemporality: type === 'gauge' ? 0
                    : m.aggregationTemporality === AggregationTemporality.DELTA ? 1 : 2,
                isMonotonic: type === 'sum' ? !!m.isMonotonic : false,
            };
            for (const dp of m.dataPoints) {
                items.push({
                    metric,
                    point: pointItem(type, m.descriptor.valueType, dp),
                    resource,
                    scope,
                });
            }
        }
    }
    return items;
}

function pointItem(type, valueType, dp) {
    const out = {
        startTimeUnixNano: otlp.hrToNanos(dp.startTime),
        timeUnixNano: otlp.hrToNanos(dp.endTime),
        attributes: otlp.attrsFromJs(dp.attributes),
    };
    const v = dp.value;
    const opt = (x) => (x === undefined || x === null ? null : x);
    if (type === 'sum' || type === 'gauge') {
        out.value = valueType === api.ValueType.INT ? { int: BigInt(v).toString() } : { double: v };
    } else if (type === 'histogram') {
        out.count = String(v.count);
        out.sum = opt(v.sum);
        out.min = opt(v.min);
        out.max = opt(v.max);
        out.bucketCounts = v.buckets.counts.map(String);
        out.explicitBounds = v.buckets.boundaries.slice();
    } else {
        const buckets = (b) => ({
            offset: b.bucketCounts.length ? b.offset : 0,
            bucketCounts: b.bucketCounts.map(String),
        });
        out.count = String(v.count);
        out.sum = opt(v.sum);
        out.min = opt(v.min);
        out.max = opt(v.max);
        out.scale = v.scale;
        out.zeroCount = String(v.zeroCount);
        out.positive = buckets(v.positive);
        out.negative = buckets(v.negative);
    }
    return out;
}

/** The content source for one signal. */
function createSource(signal, opts) {
    if (signal === 'traces') {
        return new TraceSource(opts);
    }
    if (signal === 'logs') {
        return new LogSource(opts);
    }
    return new MetricSource(opts);
}

module.exports = { createSource };
