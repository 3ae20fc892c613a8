/*
 * The unit of data in a pipeline: one encoded OTLP export request, kept as
 * the bytes that arrived so nothing is decoded and re-encoded unless a
 * component changes it. Requests are immutable and reference counted, so a
 * fan-out to several exporters shares one copy.
 */
#ifndef CT_REQUEST_H
#define CT_REQUEST_H

#include "ct_common.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Client metadata (gRPC metadata or HTTP headers), when include_metadata is on. */
typedef struct ct_metadata {
    atomic_int refs;
    size_t n;
    char **keys; /* lowercase */
    char **values;
} ct_metadata_t;

ct_metadata_t *ct_metadata_new(size_t n);
ct_metadata_t *ct_metadata_ref(ct_metadata_t *md);
void ct_metadata_unref(ct_metadata_t *md);
/* The first value of key (case-insensitive), or NULL. */
const char *ct_metadata_get(const ct_metadata_t *md, const char *key);

typedef struct ct_request {
    atomic_int refs;
    ct_signal_t signal;
    size_t items; /* spans, metric data points or log records */
    size_t len;   /* bytes of the encoded Export*ServiceRequest */
    const uint8_t *data;
    ct_metadata_t *metadata; /* may be NULL */
    uint64_t received_ns;    /* monotonic time of receipt, for latency */
    uint8_t *owned;          /* data when held in a separate allocation */
} ct_request_t;

/* A request holding a copy of data (one allocation for header and bytes). */
ct_request_t *ct_request_copy(ct_signal_t sig, const void *data, size_t len, size_t items);
/* A request that takes ownership of a malloc'd buffer. */
ct_request_t *ct_request_take(ct_signal_t sig, uint8_t *data, size_t len, size_t items);
ct_request_t *ct_request_ref(ct_request_t *r);
void ct_request_unref(ct_request_t *r);
/* Sets the metadata (takes a reference). */
void ct_request_set_metadata(ct_request_t *r, ct_metadata_t *md);

/*
 * Merges requests of one signal into one: protobuf concatenation of
 * the encoded requests, which appends their resource entries.
 */
ct_request_t *ct_request_concat(ct_request_t *const *reqs, size_t n);

/* Bytes of telemetry held by live requests in the whole process. */
size_t ct_request_live_bytes(void);
size_t ct_request_live_count(void);

#endif
