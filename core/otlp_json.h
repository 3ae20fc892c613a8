/*
 * OTLP/JSON: converts OTLP protobuf messages to and from the JSON encoding the
 * OTLP specification defines, for the file and kafka exporters and the OTLP/HTTP receiver.
 * Driven by protobuf-c descriptors, so every message of the schema is covered.
 */
#ifndef CT_OTLP_JSON_H
#define CT_OTLP_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "ct_common.h"

/*
 * The deepest nesting of JSON objects and arrays the decoder accepts (the
 * request's own object is level 1). A span attribute sits at level 10 and each
 * nested kvlistValue adds 4, so 29 nested maps still fit. Deeper input fails
 * with -E2BIG. The encoder applies the same bound to message nesting.
 */
#define CT_OTLP_JSON_MAX_DEPTH 128

/*
 * Encodes an Export{Trace,Metrics,Logs}ServiceRequest given as protobuf bytes
 * into OTLP/JSON (one line, no trailing newline) appended to out. Returns 0,
 * -EINVAL when the bytes do not decode, -E2BIG when out would pass its max or
 * messages nest deeper than CT_OTLP_JSON_MAX_DEPTH, -ENOMEM. err (may be
 * NULL) gets a message. On failure out keeps its previous length.
 */
int ct_otlp_json_encode(ct_signal_t sig, const uint8_t *pb, size_t len, ct_buf_t *out, char *err,
                        size_t errlen);

/* Same, from an already unpacked protobuf-c message of any type. */
int ct_otlp_json_encode_msg(const ProtobufCMessage *msg, ct_buf_t *out);

/*
 * Decodes an OTLP/JSON export request into protobuf bytes appended to out.
 * Returns 0; -EINVAL with err naming the offending field path, e.g.
 * "resourceSpans[0].scopeSpans[0].spans[3].traceId: not a 32-character hex
 * string"; -E2BIG when nesting exceeds CT_OTLP_JSON_MAX_DEPTH or out would
 * pass its max; -ENOMEM. On failure out keeps its previous length.
 */
int ct_otlp_json_decode(ct_signal_t sig, const char *json, size_t len, ct_buf_t *out, char *err,
                        size_t errlen);

/* The same two directions for any message type, e.g. google.rpc.Status error bodies. */
int ct_otlp_json_encode_desc(const ProtobufCMessageDescriptor *d, const uint8_t *pb, size_t len,
                             ct_buf_t *out, char *err, size_t errlen);
int ct_otlp_json_decode_desc(const ProtobufCMessageDescriptor *d, const char *json, size_t len,
                             ct_buf_t *out, char *err, size_t errlen);

#endif
