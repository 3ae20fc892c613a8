// Loads cotel's own OTLP .proto files (repo/proto) with protobufjs and turns decoded
// Export*ServiceRequest messages into OTLP/JSON objects, the form cotel's file exporter writes:
// ids as hex, 64-bit integers as decimal strings, enums as integers, lowerCamelCase keys.
'use strict';

const path = require('path');
const fs = require('fs');
const protobuf = require('protobufjs');

const PROTO_DIR = path.resolve(__dirname, '..', '..', '..', 'proto');

const SERVICE_FILES = {
    traces: 'opentelemetry/proto/collector/trace/v1/trace_service.proto',
    metrics: 'opentelemetry/proto/collector/metrics/v1/metrics_service.proto',
    logs: 'opentelemetry/proto/collector/logs/v1/logs_service.proto',
};

const REQUEST_TYPES = {
    traces: 'opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest',
    metrics: 'opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest',
    logs: 'opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest',
};

// Options shared by protobufjs toObject and @grpc/proto-loader so that both produce the same
// plain objects: decimal-string 64-bit integers, numeric enums, base64 bytes.
const OBJECT_OPTIONS = { longs: String, enums: Number, bytes: String, json: true };

// Fields holding trace or span ids: OTLP/JSON writes these as hex, not base64.
const ID_FIELDS = new Set(['traceId', 'spanId', 'parentSpanId']);

let root = null;

function protoDir() {
    return PROTO_DIR;
}

/** Loads (once) the three collector service files and everything they import. */
function loadRoot() {
    if (root) {
        return root;
    }
    for (const rel of Object.values(SERVICE_FILES)) {
        if (!fs.existsSync(path.join(PROTO_DIR, rel))) {
            throw new Error(`missing ${rel} under ${PROTO_DIR}`);
        }
    }
    const r = new protobuf.Root();
    r.resolvePath = (origin, target) => path.join(PROTO_DIR, target);
    r.loadSync(Object.values(SERVICE_FILES), { keepCase: false });
    r.resolveAll();
    root = r;
    return root;
}

function requestType(signal) {
    return loadRoot().lookupType(REQUEST_TYPES[signal]);
}

/**
 * Rewrites, in place, base64 id fields of a plain object tree into lowercase hex. AnyValue
 * bytes stay base64, as OTLP/JSON wants.
 */
function idsToHex(node) {
    if (Array.isArray(node)) {
        node.forEach(idsToHex);
        return node;
    }
    if (node && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) {
            if (ID_FIELDS.has(k) && typeof v === 'string') {
                node[k] = Buffer.from(v, 'base64').toString('hex');
            } else if (v && typeof v === 'object') {
                idsToHex(v);
            }
        }
    }
    return node;
}

/** Decodes the protobuf bytes of an Export*ServiceRequest into its OTLP/JSON object. */
function decodeRequest(signal, bytes) {
    const type = requestType(signal);
    const msg = type.decode(bytes);
    return idsToHex(type.toObject(msg, OBJECT_OPTIONS));
}

/** Encodes an OTLP/JSON-shaped object (ids in hex) into protobuf bytes; used by self-tests. */
function encodeRequest(signal, obj) {
    const type = requestType(signal);
    const copy = JSON.parse(JSON.stringify(obj));
    const hexToB64 = (node) => {
        if (Array.isArray(node)) {
            node.forEach(hexToB64);
        } else if (node && typeof node === 'object') {
            for (const [k, v] of Object.entries(node)) {
                if (ID_FIELDS.has(k) && typeof v === 'string') {
                    node[k] = Buffer.from(v, 'hex').toString('base64');
                } else if (v && typeof v === 'object') {
                    hexToB64(v);
                }
            }
        }
    };
    hexToB64(copy);
    return Buffer.from(type.encode(type.fromObject(copy)).finish());
}

module.exports = {
    SERVICE_FILES,
    REQUEST_TYPES,
    OBJECT_OPTIONS,
    protoDir,
    loadRoot,
    decodeRequest,
    encodeRequest,
    idsToHex,
};
