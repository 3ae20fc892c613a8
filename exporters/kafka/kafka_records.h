/*
 * Turning one OTLP export request into Kafka records: partitioning by trace
 * id or by resource, and splitting along resource, scope and item boundaries
 * so that no record exceeds the producer's message size limit.
 */
#ifndef KAFKA_RECORDS_H
#define KAFKA_RECORDS_H

#include "ct_common.h"
#include "ct_wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest record key: a trace id in hex (32 characters) and its terminator. */
#define KAFKA_KEY_MAX 33

typedef enum kafka_partition {
    KAFKA_PARTITION_NONE,     /* one record per request (split only when too large) */
    KAFKA_PARTITION_TRACE_ID, /* one record per trace id (spans, log records), keyed by it */
    KAFKA_PARTITION_RESOURCE, /* one record per resource, keyed by its attributes' hash */
} kafka_partition_t;

typedef enum kafka_encoding {
    KAFKA_ENCODING_PROTO = 0, /* otlp_proto */
    KAFKA_ENCODING_JSON = 1,  /* otlp_json */
} kafka_encoding_t;

/*
 * One record to produce. `proto` always holds the record's items as an OTLP
 * protobuf request, so a record the broker refuses as too large can be split
 * again; `value` is what goes to Kafka (the same bytes for otlp_proto).
 */
typedef struct kafka_record {
    const uint8_t *proto;
    size_t proto_len;
    uint8_t *proto_owned; /* NULL when proto borrows the request's bytes */
    const uint8_t *value;
    size_t value_len;
    uint8_t *value_owned; /* NULL when value is proto */
    size_t items;
    char key[KAFKA_KEY_MAX];
    size_t key_len; /* 0: no key (the partitioner picks a partition) */

    /* Delivery state, owned by the exporter. */
    void *owner;
    int status;     /* rd_kafka_resp_err_t of the delivery report */
    bool delivered; /* a delivery report arrived */
    bool alone;     /* produced on its own, after the broker refused a batch holding it */
} kafka_record_t;

typedef struct kafka_plan_opts {
    ct_signal_t signal;
    kafka_encoding_t encoding;
    kafka_partition_t partition;
    size_t max_bytes; /* a record's value plus key must not exceed this */
} kafka_plan_opts_t;

/* The records of one request and what could not be placed in any. */
typedef struct kafka_plan {
    kafka_record_t **rec;
    size_t n, cap;
    size_t dropped_items;   /* items larger than max_bytes on their own */
    size_t dropped_largest; /* encoded bytes of the largest of them */
    ct_wire_index_t idx;    /* scratch, reused */
} kafka_plan_t;

/*
 * Plans the records of one request: partitions it as o->partition asks, then
 * fits each part under o->max_bytes. `p` is borrowed and must outlive the
 * plan. Returns 0, or a negative errno with err set (malformed request,
 * encoding failure, no memory); dropped items are not an error.
 */
int kafka_plan_request(kafka_plan_t *plan, const kafka_plan_opts_t *o, const uint8_t *p, size_t len,
                       size_t items, char *err, size_t errlen);

/*
 * Fits the items of one protobuf request under o->max_bytes, splitting as
 * needed, and appends the records to the plan. `owned`, when not NULL, is the
 * allocation holding p and passes to the plan. Used again for a record the
 * broker refused as too large, with a smaller max_bytes.
 */
int kafka_plan_fit(kafka_plan_t *plan, const kafka_plan_opts_t *o, const uint8_t *p, size_t len,
                   size_t items, uint8_t *owned, const char *key, size_t key_len, char *err,
                   size_t errlen);

/* Frees every record and the plan's arrays; the plan can be reused after. */
void kafka_plan_free(kafka_plan_t *plan);
/* Frees one record (records handed out of a plan). */
void kafka_record_free(kafka_record_t *r);

/*
 * The partition key of a resource: a stable hash of its attributes, sorted
 * by key (nested maps too), so that the same attributes in any order give
 * the same key. `resource` is the encoded Resource message. Writes 16
 * lowercase hex characters and a terminator to out (KAFKA_KEY_MAX bytes).
 * Returns the key length, or -EINVAL when the message is malformed.
 */
int kafka_resource_key(const uint8_t *resource, size_t len, char *out);

/* Writes the 32-character lowercase hex form of a 16-byte trace id. */
void kafka_trace_id_hex(const uint8_t id[16], char *out);

#endif
