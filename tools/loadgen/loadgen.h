/*
 * cotel-loadgen's parts: the options, the pre-encoded request every send
 * reuses (with its ids patched in place), the pacing and statistics shared by
 * the gRPC and HTTP clients, and the clients' entry points.
 */
#ifndef LOADGEN_H
#define LOADGEN_H

#include "ct_common.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum lg_protocol { LG_GRPC, LG_HTTP } lg_protocol_t;

typedef struct lg_opts {
    const char *endpoint; /* grpc: host:port; http: host:port or a URL */
    lg_protocol_t protocol;
    ct_signal_t signal;
    size_t items;             /* per request */
    size_t attrs;             /* attributes per item */
    size_t attr_size;         /* bytes of each attribute's string value */
    size_t points_per_metric; /* metrics: data points under one Metric */
    size_t body_size;         /* logs: bytes of each record's body */
    size_t concurrency;       /* calls in flight */
    size_t connections;       /* gRPC channels (HTTP/2 connections) */
    double rate;              /* items per second; 0: as fast as the server answers */
    double duration;          /* seconds of sending */
    double timeout;           /* seconds, per call */
    bool gzip;
    bool wait; /* wait until the server answers before starting */
} lg_opts_t;

/* Where each send writes fresh ids: a 16-byte trace id, an 8-byte span id or a timestamp. */
typedef enum lg_patch_kind { LG_PATCH_TRACE_ID, LG_PATCH_SPAN_ID, LG_PATCH_TIME } lg_patch_kind_t;

typedef struct lg_patch {
    uint32_t off;
    uint32_t kind; /* lg_patch_kind_t */
    uint32_t item; /* index of the item in the request */
} lg_patch_t;

/* One encoded Export*ServiceRequest and the places its ids sit. */
typedef struct lg_template {
    uint8_t *data;
    size_t len;
    size_t items;
    lg_patch_t *patch;
    size_t npatch;
    uint64_t salt;    /* random per run, so that runs do not repeat trace ids */
    uint64_t base_ns; /* timestamps written into the items */
} lg_template_t;

/* Builds the request the options describe; 0, or -1 with a message on stderr. */
int lg_template_build(lg_template_t *t, const lg_opts_t *o);
void lg_template_free(lg_template_t *t);
/* Writes ids unique to request number `seq` into buf (a copy of t->data). */
void lg_template_patch(const lg_template_t *t, uint8_t *buf, uint64_t seq);

/*
 * One run: the pacing of sends, the counts and the latencies. The clients
 * call lg_run_due to know when the next send may start and lg_run_done
 * when a call ends.
 */
typedef struct lg_run {
    const lg_opts_t *o;
    const lg_template_t *t;
    uint64_t start_ns, end_ns; /* sending starts and stops (monotonic) */
    uint64_t next_ns;          /* when the next send is due (paced runs) */
    uint64_t interval_ns;      /* between sends; 0: unpaced */
    uint64_t seq;              /* requests started */
    uint64_t late;             /* sends that started over 1 s behind their schedule */

    uint64_t accepted_req, refused_req, accepted_items, refused_items, rejected_items;
    uint64_t codes[CT_UNAUTHENTICATED + 1];
    uint64_t http_status[6]; /* by hundreds: 0 (no answer), 1xx .. 5xx */

    uint32_t *lat_us; /* one per finished call */
    size_t nlat, cap_lat;
    uint64_t last_done_ns;
} lg_run_t;

void lg_run_init(lg_run_t *r, const lg_opts_t *o, const lg_template_t *t);
/* Starts the clock: the duration and the schedule count from now. */
void lg_run_start(lg_run_t *r);
void lg_run_free(lg_run_t *r);
/* Nanoseconds until the next send may start (0: now); UINT64_MAX once sending has ended. */
uint64_t lg_run_due(lg_run_t *r, uint64_t now);
/* Takes the next send's sequence number and moves the schedule on. */
uint64_t lg_run_take(lg_run_t *r, uint64_t now);
/* A call started at started_ns ended with code (a gRPC code); rejected: partial success. */
void lg_run_done(lg_run_t *r, uint64_t started_ns, ct_code_t code, uint64_t rejected);
/* Writes the run's results as one JSON object on stdout. */
void lg_run_report(lg_run_t *r);

/* The rejected item count of a partial_success in an Export*ServiceResponse; 0 when none. */
uint64_t lg_response_rejected(const uint8_t *p, size_t len);

/* The clients: run until the duration ends and every call has ended; 0 or -1. */
int lg_grpc_run(lg_run_t *r);
int lg_http_run(lg_run_t *r);

#endif
