/*
 * The protobuf wire format of OTLP export requests, walked without decoding:
 * full structural validation against the schema, item counts, an index of
 * resources, scopes and items, and re-framing of items into new requests
 * (splitting a batch, grouping spans by trace id).
 */
#ifndef CT_WIRE_H
#define CT_WIRE_H

#include "ct_common.h"

#include <stddef.h>
#include <stdint.h>

#define CT_WIRE_MAX_DEPTH 128 /* nesting of messages (AnyValue lists and maps) */

/*
 * Validates an encoded Export{Trace,Metrics,Logs}ServiceRequest: every field
 * of every known message has the wire type the schema gives it, every length
 * is inside its parent, nesting stays within CT_WIRE_MAX_DEPTH. Unknown
 * fields are skipped, as protobuf requires. Counts the items (spans, metric
 * data points, log records). Returns 0, or -EINVAL with err saying what and
 * where.
 */
int ct_wire_check(ct_signal_t sig, const uint8_t *p, size_t len, size_t *items, char *err,
                  size_t errlen);

/* A byte range inside the request. */
typedef struct ct_wire_range {
    uint32_t off, len;
} ct_wire_range_t;

/* A resource, scope or metric entry: its payload range and its parent's index. */
typedef struct ct_wire_entry {
    uint32_t off, len; /* payload (without tag and length) */
    uint32_t parent;   /* scope -> resource, metric -> scope, item -> scope or metric */
    uint32_t field;    /* its field number; metric: that of its data (5 gauge ... 11 summary) */
    uint32_t data_off, data_len; /* metric: payload of that data message */
    uint32_t other;              /* bytes of the payload that are not child entries */
    uint32_t data_other;         /* metric: bytes of the data message that are not data points */
} ct_wire_entry_t;

typedef struct ct_wire_index {
    ct_signal_t signal;
    const uint8_t *data;
    size_t len;
    ct_wire_entry_t *res, *scope, *metric, *item;
    size_t nres, nscope, nmetric, nitem;
    size_t cap_res, cap_scope, cap_metric, cap_item;
} ct_wire_index_t;

/*
 * Counts resources, metrics (metrics only) and items without allocating:
 * enough for a summary line. Returns 0 or -EINVAL.
 */
int ct_wire_count(ct_signal_t sig, const uint8_t *p, size_t len, size_t *resources, size_t *metrics,
                  size_t *items);

/* Builds the index of a request that passed ct_wire_check. Reuses idx's arrays. */
int ct_wire_index(ct_wire_index_t *idx, ct_signal_t sig, const uint8_t *p, size_t len);
void ct_wire_index_free(ct_wire_index_t *idx);

#define CT_WIRE_SKIP UINT32_MAX

/*
 * Writes one request per group: item i goes to group[i] (CT_WIRE_SKIP: to
 * none), in the original order, each group's items wrapped in copies of
 * their resource, scope (and metric) envelopes. out[g] is appended to;
 * items_out[g] (may be NULL) receives the item counts.
 */
int ct_wire_regroup(const ct_wire_index_t *idx, const uint32_t *group, size_t ngroups,
                    ct_buf_t *out, size_t *items_out);

/*
 * Assigns items to consecutive groups so that no group has more than
 * max_items items (0: no limit) or, counting envelopes, more than
 * max_bytes encoded bytes (0: no limit). An item too big to fit alone gets
 * CT_WIRE_SKIP and is counted in *oversize. Returns the number of groups.
 */
size_t ct_wire_plan_split(const ct_wire_index_t *idx, size_t max_items, size_t max_bytes,
                          uint32_t *group, size_t *oversize);

/* The encoded size of one item's entry (tag, length and payload). */
size_t ct_wire_item_size(const ct_wire_index_t *idx, size_t i);

/*
 * Finds the first length-delimited field `field` in a message payload.
 * Returns 0 and sets *val and *vlen, or -ENOENT.
 */
int ct_wire_find_bytes(const uint8_t *p, size_t len, uint32_t field, const uint8_t **val,
                       size_t *vlen);

/* Low-level helpers, exposed for components that write protobuf. */
size_t ct_wire_varint_size(uint64_t v);
int ct_wire_put_varint(ct_buf_t *b, uint64_t v);
int ct_wire_put_tag(ct_buf_t *b, uint32_t field, uint32_t wire_type);
/* Writes tag, length and the bytes of a length-delimited field. */
int ct_wire_put_bytes(ct_buf_t *b, uint32_t field, const void *p, size_t n);
/* Reads a varint; returns bytes consumed or 0 when malformed/truncated. */
size_t ct_wire_get_varint(const uint8_t *p, size_t len, uint64_t *v);

#endif
