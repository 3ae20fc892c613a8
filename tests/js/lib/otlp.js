// One canonical form for telemetry items, reachable from two directions: from the values handed
// to the OpenTelemetry JS SDK (what send.js meant to send) and from OTLP/JSON requests (what came
// out of cotel or the backend). verify.js compares the two forms with a plain deep equality.
'use strict';

const SEQ_KEY = 'test.seq';
const RUN_KEY = 'test.run';

// OTLP/JSON carries enums as integers, but a receiver also accepts their names; map the names we
// might meet so that a writer using names is judged on content, not on spelling.
const ENUM_NAMES = {
    kind: ['SPAN_KIND_UNSPECIFIED', 'SPAN_KIND_INTERNAL', 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT',
        'SPAN_KIND_PRODUCER', 'SPAN_KIND_CONSUMER'],
    status: ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'],
    temporality: ['AGGREGATION_TEMPORALITY_UNSPECIFIED', 'AGGREGATION_TEMPORALITY_DELTA',
        'AGGREGATION_TEMPORALITY_CUMULATIVE'],
};

function enumValue(v, names) {
    if (v === undefined || v === null) {
        return 0;
    }
    if (typeof v === 'string' && !/^-?\d+$/.test(v)) {
        const i = names ? names.indexOf(v) : -1;
        return i >= 0 ? i : v;
    }
    return Number(v);
}

function severityValue(v) {
    if (typeof v === 'string' && /^SEVERITY_NUMBER_/.test(v)) {
        const names = ['UNSPECIFIED', 'TRACE', 'TRACE2', 'TRACE3', 'TRACE4', 'DEBUG', 'DEBUG2',
            'DEBUG3', 'DEBUG4', 'INFO', 'INFO2', 'INFO3', 'INFO4', 'WARN', 'WARN2', 'WARN3',
            'WARN4', 'ERROR', 'ERROR2', 'ERROR3', 'ERROR4', 'FATAL', 'FATAL2', 'FATAL3', 'FATAL4'];
        const i = names.indexOf(v.slice('SEVERITY_NUMBER_'.length));
        return i >= 0 ? i : v;
    }
    return enumValue(v);
}

/** A 64-bit integer (number, decimal string or missing) as a decimal string. */
function u64(v) {
    if (v === undefined || v === null || v === '') {
        return '0';
    }
    try {
        return BigInt(typeof v === 'number' ? Math.trunc(v) : String(v)).toString();
    } catch (e) {
        return `invalid:${v}`;
    }
}

/** A double as OTLP/JSON may write it (number or "NaN"/"Infinity"/"-Infinity" string). */
function dbl(v) {
    if (v === undefined || v === null) {
        return 0;
    }
    if (typeof v === 'string') {
        const n = Number(v);
        return Number.isNaN(n) ? v : n;
    }
    return v;
}

function optDbl(v) {
    return v === undefined || v === null ? null : dbl(v);
}

/** Trace and span ids: lowercase hex, '' when absent or empty. */
function hexId(v) {
    if (v === undefined || v === null) {
        return '';
    }
    return String(v).toLowerCase();
}

/** An AnyValue from OTLP/JSON in canonical form; null for an empty AnyValue. */
function anyFromOtlp(v) {
    if (v === undefined || v === null) {
        return null;
    }
    if ('stringValue' in v) {
        return { string: v.stringValue };
    }
    if ('boolValue' in v) {
        return { bool: v.boolValue };
    }
    if ('intValue' in v) {
        return { int: u64(v.intValue) };
    }
    if ('doubleValue' in v) {
        return { double: dbl(v.doubleValue) };
    }
    if ('arrayValue' in v) {
        return { array: ((v.arrayValue || {}).values || []).map(anyFromOtlp) };
    }
    if ('kvlistValue' in v) {
        return { kvlist: attrsFromOtlp((v.kvlistValue || {}).values) };
    }
    if ('bytesValue' in v) {
        return { bytes: Buffer.from(v.bytesValue || '', 'base64').toString('base64') };
    }
    return null;
}

/** A KeyValue list as an object with sorted keys; a repeated key keeps its last value. */
function attrsFromOtlp(list) {
    const pairs = (list || []).map((kv) => [kv.key || '', anyFromOtlp(kv.value)]);
    pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return Object.fromEntries(pairs);
}

/**
 * A JavaScript value as the SDK's OTLP encoding turns it into an AnyValue: integral numbers
 * become int_value, other numbers double_value, Uint8Array bytes, plain objects kvlists.
 */
function anyFromJs(v) {
    if (v === undefined || v === null) {
        return null;
    }
    if (typeof v === 'string') {
        return { string: v };
    }
    if (typeof v === 'boolean') {
        return { bool: v };
    }
    if (typeof v === 'number') {
        return Number.isInteger(v) ? { int: BigInt(v).toString() } : { double: v };
    }
    if (v instanceof Uint8Array) {
        return { bytes: Buffer.from(v).toString('base64') };
    }
    if (Array.isArray(v)) {
        return { array: v.map(anyFromJs) };
    }
    if (typeof v === 'object') {
        return { kvlist: attrsFromJs(v) };
    }
    return null;
}

function attrsFromJs(obj) {
    const pairs = Object.keys(obj || {}).map((k) => [k, anyFromJs(obj[k])]);
    pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return Object.fromEntries(pairs);
}

/** The test.seq attribute of a canonical attribute object, or null. */
function seqOf(attrs) {
    const v = attrs[SEQ_KEY];
    return v && 'int' in v ? Number(v.int) : null;
}

function runOf(resourceAttrs) {
    const v = resourceAttrs[RUN_KEY];
    return v && 'string' in v ? v.string : null;
}

function resourceFromOtlp(r) {
    return { attributes: attrsFromOtlp((r || {}).attributes) };
}

function scopeFromOtlp(s) {
    s = s || {};
    return { name: s.name || '', version: s.version || '' };
}

function spanFromOtlp(s, resource, scope) {
    const status = s.status || {};
    return {
        traceId: hexId(s.traceId),
        spanId: hexId(s.spanId),
        parentSpanId: hexId(s.parentSpanId),
        traceState: s.traceState || '',
        name: s.name || '',
        kind: enumValue(s.kind, ENUM_NAMES.kind),
        startTimeUnixNano: u64(s.startTimeUnixNano),
        endTimeUnixNano: u64(s.endTimeUnixNano),
        attributes: attrsFromOtlp(s.attributes),
        status: { code: enumValue(status.code, ENUM_NAMES.status), message: status.message || '' },
        events: (s.events || []).map((e) => ({
            name: e.name || '',
            timeUnixNano: u64(e.timeUnixNano),
            attributes: attrsFromOtlp(e.attributes),
        })),
        links: (s.links || []).map((l) => ({
            traceId: hexId(l.traceId),
            spanId: hexId(l.spanId),
            traceState: l.traceState || '',
            attributes: attrsFromOtlp(l.attributes),
        })),
        traceFlags: Number(s.flags || 0) & 0xff,
        resource,
        scope,
    };
}

function logFromOtlp(l, resource, scope) {
    return {
        timeUnixNano: u64(l.timeUnixNano),
        observedTimeUnixNano: u64(l.observedTimeUnixNano),
        severityNumber: severityValue(l.severityNumber),
        severityText: l.severityText || '',
        body: anyFromOtlp(l.body),
        attributes: attrsFromOtlp(l.attributes),
        traceId: hexId(l.traceId),
        spanId: hexId(l.spanId),
        traceFlags: Number(l.flags || 0) & 0xff,
        eventName: l.eventName || '',
        resource,
        scope,
    };
}

function bucketsFromOtlp(b) {
    b = b || {};
    const counts = (b.bucketCounts || []).map(u64);
    // With no buckets the offset carries no meaning; writers differ on whether they keep it.
    return { offset: counts.length ? Number(b.offset || 0) : 0, bucketCounts: counts };
}

function pointFromOtlp(type, p) {
    const out = {
        startTimeUnixNano: u64(p.startTimeUnixNano),
        timeUnixNano: u64(p.timeUnixNano),
        attributes: attrsFromOtlp(p.attributes),
    };
    if (type === 'gauge' || type === 'sum') {
        if ('asInt' in p) {
            out.value = { int: u64(p.asInt) };
        } else if ('asDouble' in p) {
            out.value = { double: dbl(p.asDouble) };
        } else {
            out.value = null;
        }
    } else if (type === 'histogram') {
        out.count = u64(p.count);
        out.sum = optDbl(p.sum);
        out.min = optDbl(p.min);
        out.max = optDbl(p.max);
        out.bucketCounts = (p.bucketCounts || []).map(u64);
        out.explicitBounds = (p.explicitBounds || []).map(dbl);
    } else if (type === 'exponentialHistogram') {
        out.count = u64(p.count);
        out.sum = optDbl(p.sum);
        out.min = optDbl(p.min);
        out.max = optDbl(p.max);
        out.scale = Number(p.scale || 0);
        out.zeroCount = u64(p.zeroCount);
        out.positive = bucketsFromOtlp(p.positive);
        out.negative = bucketsFromOtlp(p.negative);
    } else if (type === 'summary') {
        out.count = u64(p.count);
        out.sum = dbl(p.sum);
        out.quantileValues = (p.quantileValues || []).map((q) => ({
            quantile: dbl(q.quantile), value: dbl(q.value),
        }));
    }
    return out;
}

const METRIC_TYPES = ['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary'];

function* metricPointsFromOtlp(m, resource, scope) {
    const type = METRIC_TYPES.find((t) => m[t] !== undefined && m[t] !== null);
    if (!type) {
        return;
    }
    const data = m[type];
    const metric = {
        name: m.name || '',
        description: m.description || '',
        unit: m.unit || '',
        type,
        aggregationTemporality: enumValue(data.aggregationTemporality, ENUM_NAMES.temporality),
        isMonotonic: !!data.isMonotonic,
    };
    for (const p of data.dataPoints || []) {
        yield { metric, point: pointFromOtlp(type, p), resource, scope };
    }
}

/** Which signal an OTLP/JSON request object carries, or null. */
function signalOf(req) {
    if (req && Array.isArray(req.resourceSpans)) {
        return 'traces';
    }
    if (req && Array.isArray(req.resourceMetrics)) {
        return 'metrics';
    }
    if (req && Array.isArray(req.resourceLogs)) {
        return 'logs';
    }
    return null;
}

/** Every item of an Export*ServiceRequest in OTLP/JSON form, in canonical form. */
function* itemsFromRequest(signal, req) {
    if (signal === 'traces') {
        for (const rs of req.resourceSpans || []) {
            const resource = resourceFromOtlp(rs.resource);
            for (const ss of rs.scopeSpans || []) {
                const scope = scopeFromOtlp(ss.scope);
                for (const s of ss.spans || []) {
                    yield spanFromOtlp(s, resource, scope);
                }
            }
        }
    } else if (signal === 'logs') {
        for (const rl of req.resourceLogs || []) {
            const resource = resourceFromOtlp(rl.resource);
            for (const sl of rl.scopeLogs || []) {
                const scope = scopeFromOtlp(sl.scope);
                for (const l of sl.logRecords || []) {
                    yield logFromOtlp(l, resource, scope);
                }
            }
        }
    } else if (signal === 'metrics') {
        for (const rm of req.resourceMetrics || []) {
            const resource = resourceFromOtlp(rm.resource);
            for (const sm of rm.scopeMetrics || []) {
                const scope = scopeFromOtlp(sm.scope);
                for (const m of sm.metrics || []) {
                    yield* metricPointsFromOtlp(m, resource, scope);
                }
            }
        }
    }
}

/** Number of items (spans, data points, log records) in an OTLP/JSON request. */
function countItems(signal, req) {
    let n = 0;
    for (const item of itemsFromRequest(signal, req)) {
        n += item ? 1 : 0;
    }
    return n;
}

/** The attributes that carry test.seq for an item: the point's for metrics, else the item's. */
function itemAttrs(item) {
    return item.point ? item.point.attributes : item.attributes;
}

/** JSON with object keys sorted, so equal canonical items give equal strings. */
function stableStringify(v) {
    if (Array.isArray(v)) {
        return '[' + v.map(stableStringify).join(',') + ']';
    }
    if (v && typeof v === 'object') {
        return '{' + Object.keys(v).sort()
            .map((k) => JSON.stringify(k) + ':' + stableStringify(v[k])).join(',') + '}';
    }
    if (typeof v === 'number' && !Number.isFinite(v)) {
        return JSON.stringify(String(v));
    }
    return JSON.stringify(v === undefined ? null : v);
}

/** Paths where two canonical values differ, at most `limit` of them. */
function diffPaths(a, b, path = '', out = [], limit = 8) {
    if (out.length >= limit) {
        return out;
    }
    const aObj = a && typeof a === 'object';
    const bObj = b && typeof b === 'object';
    if (aObj && bObj && Array.isArray(a) === Array.isArray(b)) {
        const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
        for (const k of [...keys].sort()) {
            diffPaths(a[k], b[k], path ? `${path}.${k}` : k, out, limit);
        }
        return out;
    }
    if (stableStringify(a) !== stableStringify(b)) {
        out.push({ path, expected: a === undefined ? null : a, got: b === undefined ? null : b });
    }
    return out;
}

/** Nanoseconds since the epoch of an SDK HrTime [seconds, nanoseconds], as a decimal string. */
function hrToNanos(hr) {
    return (BigInt(hr[0]) * 1000000000n + BigInt(hr[1])).toString();
}

/**
 * Replacer for JSON.stringify that writes non-finite doubles as OTLP/JSON does ("NaN",
 * "Infinity", "-Infinity") instead of null.
 */
function otlpJsonReplacer(key, value) {
    if (typeof value === 'number' && !Number.isFinite(value)) {
        return String(value);
    }
    return value;
}

module.exports = {
    SEQ_KEY,
    RUN_KEY,
    anyFromJs,
    attrsFromJs,
    anyFromOtlp,
    attrsFromOtlp,
    itemsFromRequest,
    countItems,
    itemAttrs,
    seqOf,
    runOf,
    signalOf,
    stableStringify,
    diffPaths,
    hrToNanos,
    otlpJsonReplacer,
};
