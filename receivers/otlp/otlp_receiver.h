/*
 * The otlp receiver's parts, shared by its files: the configuration, the
 * instance state, the transport entry points (grpc.c, http.c) and the one
 * function every transport calls to hand a decoded Export request onward.
 */
#ifndef OTLP_RECEIVER_H
#define OTLP_RECEIVER_H

#include "ct_component.h"
#include "ct_config.h"
#include "ct_log.h"
#include "ct_metrics.h"
#include "ct_request.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct otlp_tls_cfg {
    char *cert_file;
    char *key_file;
    char *client_ca_file; /* set: clients must present a certificate it signed */
} otlp_tls_cfg_t;

enum { OTLP_NET_TCP, OTLP_NET_UNIX }; /* the grpc "transport" key */

typedef struct otlp_keepalive_server_cfg {
    uint64_t max_connection_idle; /* ns; 0: no limit */
    uint64_t max_connection_age;
    uint64_t max_connection_age_grace;
    uint64_t time;
    uint64_t timeout;
} otlp_keepalive_server_cfg_t;

typedef struct otlp_keepalive_enforcement_cfg {
    uint64_t min_time; /* ns */
    bool permit_without_stream;
} otlp_keepalive_enforcement_cfg_t;

typedef struct otlp_keepalive_cfg {
    bool server_present;
    otlp_keepalive_server_cfg_t server;
    bool enforcement_present;
    otlp_keepalive_enforcement_cfg_t enforcement;
} otlp_keepalive_cfg_t;

typedef struct otlp_grpc_cfg {
    char *endpoint;
    int transport; /* OTLP_NET_* */
    int64_t max_recv_msg_size_mib;
    int64_t max_concurrent_streams; /* 0: no limit */
    bool include_metadata;
    bool keepalive_present;
    otlp_keepalive_cfg_t keepalive;
    bool tls_present;
    otlp_tls_cfg_t tls;
} otlp_grpc_cfg_t;

typedef struct otlp_cors_cfg {
    ct_strlist_t allowed_origins;
    ct_strlist_t allowed_headers;
    int64_t max_age; /* seconds; 0: the browser's default */
} otlp_cors_cfg_t;

typedef struct otlp_http_cfg {
    char *endpoint;
    char *traces_url_path;
    char *metrics_url_path;
    char *logs_url_path;
    uint64_t max_request_body_size;
    bool include_metadata;

    bool cors_present;
    otlp_cors_cfg_t cors;
    bool tls_present;
    otlp_tls_cfg_t tls;
} otlp_http_cfg_t;

typedef struct otlp_protocols_cfg {
    bool grpc_present; /* a protocol is on when its key is there, even with no value */
    otlp_grpc_cfg_t grpc;
    bool http_present;
    otlp_http_cfg_t http;
} otlp_protocols_cfg_t;

typedef struct otlp_cfg {
    bool protocols_present;
    otlp_protocols_cfg_t protocols;
} otlp_cfg_t;

/* Which transport a request came by, for the receiver's counters. */
typedef enum otlp_transport { OTLP_GRPC = 0, OTLP_HTTP = 1, OTLP_TRANSPORT_COUNT } otlp_transport_t;

typedef struct otlp_grpc otlp_grpc_t;
typedef struct otlp_http otlp_http_t;

typedef struct otlp_receiver {
    ct_instance_t *inst;
    const otlp_cfg_t *cfg;
    ct_receiver_obs_t obs[OTLP_TRANSPORT_COUNT];
    ct_log_limit_t client_log; /* client mistakes: debug lines, rate-limited */
    otlp_grpc_t *grpc;         /* NULL when gRPC is not configured */
    otlp_http_t *http;         /* NULL when HTTP is not configured */
} otlp_receiver_t;

/*
 * Validates, counts and forwards one encoded Export*ServiceRequest that
 * arrived by `transport`. Takes ownership of `data` (malloc'd) in every case
 * and borrows `md` (may be NULL). Returns the status to answer the client
 * with; when it is not CT_OK, `msg` says why.
 */
ct_code_t otlp_receiver_export(otlp_receiver_t *r, otlp_transport_t transport, ct_signal_t sig,
                               uint8_t *data, size_t len, ct_metadata_t *md, char *msg,
                               size_t msglen);

/* Logs a client's mistake at debug level, at most once a second per receiver. */
void otlp_receiver_client_error(otlp_receiver_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Reads a whole (PEM) file into a NUL-terminated string; NULL with err set. */
char *otlp_read_file(const char *path, const char *what, ct_err_t *err);

/* How a request body or a gRPC message is compressed (decompress.c). */
typedef enum otlp_coding {
    OTLP_CODING_IDENTITY,
    OTLP_CODING_GZIP,    /* one gzip member, or several in a row */
    OTLP_CODING_DEFLATE, /* the zlib format (RFC 1950): what HTTP and gRPC call deflate */
    OTLP_CODING_ZSTD,
} otlp_coding_t;

typedef struct otlp_decomp otlp_decomp_t;

const char *otlp_coding_name(otlp_coding_t coding);

/*
 * A streaming decompressor that appends its output to `out`, which it
 * borrows. out->max is the ceiling: output is made in steps of 16 KiB and
 * stops there, so input that would inflate without end costs no more than
 * out->max. NULL when out of memory.
 */
otlp_decomp_t *otlp_decomp_new(otlp_coding_t coding, ct_buf_t *out);

/*
 * Decompresses the next n bytes of input. Returns 0; -E2BIG once the output
 * would pass out->max (msg untouched: the limit is the caller's to name);
 * -EBADMSG for a corrupt stream, with the reason in msg; -ENOMEM. The first
 * error sticks: later calls return it and do nothing.
 */
int otlp_decomp_feed(otlp_decomp_t *d, const void *p, size_t n, char *msg, size_t msglen);

/* At the end of the input: -EBADMSG when the stream stops short of its end; else as feed. */
int otlp_decomp_finish(otlp_decomp_t *d, char *msg, size_t msglen);

void otlp_decomp_free(otlp_decomp_t *d);

/* gRPC transport (grpc.c). */
int otlp_grpc_start(otlp_receiver_t *r, ct_err_t *err);
void otlp_grpc_shutdown(otlp_receiver_t *r, uint64_t deadline_ns);
void otlp_grpc_destroy(otlp_receiver_t *r);

/* HTTP transport (http.c; built when that file exists: OTLP_HAVE_HTTP). */
int otlp_http_start(otlp_receiver_t *r, ct_err_t *err);
void otlp_http_shutdown(otlp_receiver_t *r, uint64_t deadline_ns);
void otlp_http_destroy(otlp_receiver_t *r);

#endif
