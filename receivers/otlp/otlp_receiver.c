/*
 * The otlp receiver: its option table, its factory, and the step every
 * transport shares: check an Export request, count it and hand it to the
 * pipeline of its signal. The transports live in grpc.c and http.c.
 */
#include "otlp_receiver.h"

#include "ct_wire.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F(type, field) offsetof(type, field)

static const ct_opt_t tls_opts[] = {
    {"cert_file", CT_OPT_STRING, F(otlp_tls_cfg_t, cert_file),
     .desc = "PEM file with the server's certificate (chain)"},
    {"key_file", CT_OPT_STRING, F(otlp_tls_cfg_t, key_file),
     .desc = "PEM file with the server certificate's private key", .flags = CT_OPT_SECRET},
    {"client_ca_file", CT_OPT_STRING, F(otlp_tls_cfg_t, client_ca_file),
     .desc = "PEM file of CAs; when set, clients must present a certificate they signed"},
    CT_OPT_END,
};

static const ct_opt_t keepalive_server_opts[] = {
    {"max_connection_idle", CT_OPT_DURATION, F(otlp_keepalive_server_cfg_t, max_connection_idle),
     .desc = "close a connection idle this long (0: never)"},
    {"max_connection_age", CT_OPT_DURATION, F(otlp_keepalive_server_cfg_t, max_connection_age),
     .desc = "close a connection this old, after max_connection_age_grace (0: never)"},
    {"max_connection_age_grace", CT_OPT_DURATION,
     F(otlp_keepalive_server_cfg_t, max_connection_age_grace),
     .desc = "time given to calls on a connection closed for its age (0: no limit)"},
    {"time", CT_OPT_DURATION, F(otlp_keepalive_server_cfg_t, time), "2h",
     .desc = "ping a client after this long without activity"},
    {"timeout", CT_OPT_DURATION, F(otlp_keepalive_server_cfg_t, timeout), "20s",
     .desc = "close the connection when a ping is not answered in this time"},
    CT_OPT_END,
};

static const ct_opt_t keepalive_enforcement_opts[] = {
    {"min_time", CT_OPT_DURATION, F(otlp_keepalive_enforcement_cfg_t, min_time), "5m",
     .desc = "clients pinging more often than this are disconnected"},
    {"permit_without_stream", CT_OPT_BOOL,
     F(otlp_keepalive_enforcement_cfg_t, permit_without_stream), "false",
     .desc = "allow client pings when no call is open"},
    CT_OPT_END,
};

static const ct_opt_t keepalive_opts[] = {
    {"server_parameters", CT_OPT_SECTION, F(otlp_keepalive_cfg_t, server_present),
     .desc = "how the server keeps connections alive and ages them", .sub = keepalive_server_opts,
     .base = F(otlp_keepalive_cfg_t, server)},
    {"enforcement_policy", CT_OPT_SECTION, F(otlp_keepalive_cfg_t, enforcement_present),
     .desc = "what the server accepts of client pings", .sub = keepalive_enforcement_opts,
     .base = F(otlp_keepalive_cfg_t, enforcement)},
    CT_OPT_END,
};

static const ct_opt_t grpc_opts[] = {
    {"endpoint", CT_OPT_STRING, F(otlp_grpc_cfg_t, endpoint), "localhost:4317",
     .desc = "host:port to listen on (\":port\": every interface); a path for unix"},
    {"transport", CT_OPT_ENUM, F(otlp_grpc_cfg_t, transport), "tcp", .choices = "tcp|unix",
     .desc = "network of the endpoint"},
    {"max_recv_msg_size_mib", CT_OPT_INT, F(otlp_grpc_cfg_t, max_recv_msg_size_mib), "4", 1, 2047,
     .desc = "largest request accepted, after decompression (else RESOURCE_EXHAUSTED)"},
    {"max_concurrent_streams", CT_OPT_INT, F(otlp_grpc_cfg_t, max_concurrent_streams), "0", 0,
     2147483647, .desc = "calls open at once on one connection (0: no limit)"},
    {"include_metadata", CT_OPT_BOOL, F(otlp_grpc_cfg_t, include_metadata), "false",
     .desc = "pass the call's metadata along with its data"},
    {"keepalive", CT_OPT_SECTION, F(otlp_grpc_cfg_t, keepalive_present),
     .desc = "connection keepalive and age limits", .sub = keepalive_opts,
     .base = F(otlp_grpc_cfg_t, keepalive)},
    {"tls", CT_OPT_SECTION, F(otlp_grpc_cfg_t, tls_present), .desc = "serve over TLS",
     .sub = tls_opts, .base = F(otlp_grpc_cfg_t, tls)},
    CT_OPT_END,
};

static const ct_opt_t cors_opts[] = {
    {"allowed_origins", CT_OPT_STRINGS, F(otlp_cors_cfg_t, allowed_origins),
     .desc = "origins allowed to send cross-origin requests (wildcards allowed)"},
    {"allowed_headers", CT_OPT_STRINGS, F(otlp_cors_cfg_t, allowed_headers),
     .desc = "request headers allowed besides the simple ones"},
    {"max_age", CT_OPT_INT, F(otlp_cors_cfg_t, max_age), "0", 0, 2147483647,
     .desc = "seconds a browser may cache the preflight answer (0: its default)"},
    CT_OPT_END,
};

static const ct_opt_t http_opts[] = {
    {"endpoint", CT_OPT_STRING, F(otlp_http_cfg_t, endpoint), "localhost:4318",
     .desc = "host:port to listen on"},
    {"traces_url_path", CT_OPT_STRING, F(otlp_http_cfg_t, traces_url_path), "/v1/traces",
     .desc = "path that takes traces"},
    {"metrics_url_path", CT_OPT_STRING, F(otlp_http_cfg_t, metrics_url_path), "/v1/metrics",
     .desc = "path that takes metrics"},
    {"logs_url_path", CT_OPT_STRING, F(otlp_http_cfg_t, logs_url_path), "/v1/logs",
     .desc = "path that takes logs"},
    {"max_request_body_size", CT_OPT_SIZE, F(otlp_http_cfg_t, max_request_body_size), "20MiB", 1,
     1099511627776.0, .desc = "largest body accepted, after decompression"},
    {"include_metadata", CT_OPT_BOOL, F(otlp_http_cfg_t, include_metadata), "false",
     .desc = "pass the request's headers along with its data"},
    {"cors", CT_OPT_SECTION, F(otlp_http_cfg_t, cors_present),
     .desc = "cross-origin requests from browsers", .sub = cors_opts,
     .base = F(otlp_http_cfg_t, cors)},
    {"tls", CT_OPT_SECTION, F(otlp_http_cfg_t, tls_present), .desc = "serve over TLS",
     .sub = tls_opts, .base = F(otlp_http_cfg_t, tls)},
    CT_OPT_END,
};

static const ct_opt_t protocols_opts[] = {
    {"grpc", CT_OPT_SECTION, F(otlp_protocols_cfg_t, grpc_present),
     .desc = "OTLP over gRPC; on when present (a null value takes the defaults)", .sub = grpc_opts,
     .base = F(otlp_protocols_cfg_t, grpc)},
    {"http", CT_OPT_SECTION, F(otlp_protocols_cfg_t, http_present),
     .desc = "OTLP over HTTP; on when present (a null value takes the defaults)", .sub = http_opts,
     .base = F(otlp_protocols_cfg_t, http)},
    CT_OPT_END,
};

static const ct_opt_t otlp_opts[] = {
    {"protocols", CT_OPT_SECTION, F(otlp_cfg_t, protocols_present),
     .desc = "the protocols to serve; at least one", .sub = protocols_opts,
     .base = F(otlp_cfg_t, protocols)},
    CT_OPT_END,
};

static int validate_tls(const otlp_tls_cfg_t *tls, const char *proto, const ct_node_t *node,
                        ct_err_t *err)
{
    if (tls->cert_file == NULL || tls->key_file == NULL)
        return ct_errf(err, node, "protocols::%s::tls needs both cert_file and key_file", proto);
    return 0;
}

static int otlp_validate(const void *config, const ct_node_t *node, ct_err_t *err)
{
    const otlp_cfg_t *cfg = config;
    const otlp_protocols_cfg_t *p = &cfg->protocols;
    int rc = 0;

    if (!p->grpc_present && !p->http_present) {
        rc = ct_errf(err, node,
                     "must specify at least one protocol (protocols::grpc or "
                     "protocols::http) when using the otlp receiver");
        goto out;
    }
    if (p->grpc_present) {
        if (p->grpc.endpoint == NULL || p->grpc.endpoint[0] == '\0') {
            rc = ct_errf(err, node, "protocols::grpc::endpoint must not be empty");
            goto out;
        }
        if (p->grpc.tls_present && (rc = validate_tls(&p->grpc.tls, "grpc", node, err)) != 0)
            goto out;
    }
    if (p->http_present) {
        if (p->http.endpoint == NULL || p->http.endpoint[0] == '\0') {
            rc = ct_errf(err, node, "protocols::http::endpoint must not be empty");
            goto out;
        }
        if (p->http.tls_present && (rc = validate_tls(&p->http.tls, "http", node, err)) != 0)
            goto out;
    }
out:
    return rc;
}

static int otlp_create(ct_instance_t *inst, ct_err_t *err)
{
    otlp_receiver_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return ct_errf(err, inst->node, "%s: out of memory", inst->name);

    r->inst = inst;
    r->cfg = inst->config;
    if (r->cfg->protocols.grpc_present)
        ct_receiver_obs_init(&r->obs[OTLP_GRPC], inst->id, "grpc");
    if (r->cfg->protocols.http_present)
        ct_receiver_obs_init(&r->obs[OTLP_HTTP], inst->id, "http");
    inst->state = r;
    return 0;
}

static void otlp_shutdown(ct_instance_t *inst, uint64_t deadline_ns)
{
    otlp_receiver_t *r = inst->state;

    if (r->grpc != NULL)
        otlp_grpc_shutdown(r, deadline_ns);
#ifdef OTLP_HAVE_HTTP
    if (r->http != NULL)
        otlp_http_shutdown(r, deadline_ns);
#endif
}

static int otlp_start(ct_instance_t *inst, ct_err_t *err)
{
    otlp_receiver_t *r = inst->state;
    const otlp_protocols_cfg_t *p = &r->cfg->protocols;
    int rc = 0;

#ifndef OTLP_HAVE_HTTP
    /* Checked first, so that nothing listens when the start is bound to fail. */
    if (p->http_present) {
        rc = ct_errf(err, ct_node_get(ct_node_get(inst->node, "protocols"), "http"),
                     "%s: the HTTP protocol (protocols::http) is not built into this cotel yet; "
                     "use protocols::grpc",
                     inst->name);
        goto out;
    }
#endif
    if (p->grpc_present && (rc = otlp_grpc_start(r, err)) != 0)
        goto out;
#ifdef OTLP_HAVE_HTTP
    if (p->http_present && (rc = otlp_http_start(r, err)) != 0)
        goto out;
#endif
out:
    if (rc != 0)
        otlp_shutdown(inst, ct_now_mono_ns());
    return rc;
}

static void otlp_destroy(ct_instance_t *inst)
{
    otlp_receiver_t *r = inst->state;

    if (r == NULL)
        return;
    if (r->grpc != NULL)
        otlp_grpc_destroy(r);
#ifdef OTLP_HAVE_HTTP
    if (r->http != NULL)
        otlp_http_destroy(r);
#endif
    free(r);
    inst->state = NULL;
}

void otlp_receiver_client_error(otlp_receiver_t *r, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    if (!ct_log_enabled(CT_LOG_DEBUG))
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    ct_log_limited(&r->client_log, 1000000000ull, CT_LOG_DEBUG, r->inst->name, "%s", line);
}

ct_code_t otlp_receiver_export(otlp_receiver_t *r, otlp_transport_t transport, ct_signal_t sig,
                               uint8_t *data, size_t len, ct_metadata_t *md, char *msg,
                               size_t msglen)
{
    ct_consumer_t *next = r->inst->next[sig];
    ct_request_t *req = NULL;
    ct_code_t code = CT_OK;
    size_t items = 0;
    char why[256];

    msg[0] = '\0';
    if (next == NULL) {
        code = CT_UNIMPLEMENTED;
        snprintf(msg, msglen, "this receiver takes no %s", ct_signal_name(sig));
        goto out;
    }

    if (ct_wire_check(sig, data, len, &items, why, sizeof why) != 0) {
        code = CT_INVALID_ARGUMENT;
        snprintf(msg, msglen, "malformed %s request: %s", ct_signal_name(sig), why);
        otlp_receiver_client_error(r, "refused a %zu-byte %s request: %s", len, ct_signal_name(sig),
                                   why);
        goto out;
    }
    if (items == 0)
        goto out; /* nothing to pass on; the client is told it was taken */

    req = ct_request_take(sig, data, len, items); /* frees data should it fail */
    data = NULL;
    if (req == NULL) {
        code = CT_UNAVAILABLE;
        snprintf(msg, msglen, "out of memory");
        ct_log_error(r->inst->name, "out of memory while taking a %zu-byte %s request", len,
                     ct_signal_name(sig));
        goto out;
    }
    if (md != NULL)
        ct_request_set_metadata(req, md);

    code = ct_consume(next, req);
    ct_receiver_obs_record(&r->obs[transport], sig, items, code);
    if (code != CT_OK)
        snprintf(msg, msglen, "data refused by the pipeline (%s)", ct_code_name(code));
out:
    if (req != NULL)
        ct_request_unref(req);
    free(data);
    return code;
}

char *otlp_read_file(const char *path, const char *what, ct_err_t *err)
{
    ct_buf_t b = {.max = 16u << 20}; /* certificates and keys are a few KiB */
    FILE *f = fopen(path, "rb");
    char *out = NULL;
    char chunk[4096];
    size_t n;

    if (f == NULL) {
        ct_errf(err, NULL, "cannot read %s %s: %s", what, path, strerror(errno));
        goto out;
    }
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (ct_buf_append(&b, chunk, n) != 0) {
            ct_errf(err, NULL, "cannot read %s %s: too large or out of memory", what, path);
            goto out;
        }
    }
    if (ferror(f) || ct_buf_putc(&b, '\0') != 0) {
        ct_errf(err, NULL, "cannot read %s %s", what, path);
        goto out;
    }
    out = (char *)ct_buf_take(&b, &n);
out:
    if (f != NULL)
        fclose(f);
    ct_buf_free(&b);
    return out;
}

const ct_factory_t ct_otlp_receiver_factory = {
    .type = "otlp",
    .kind = CT_KIND_RECEIVER,
    .signals = CT_SIGNALS_ALL,
    .description = "receives OTLP over gRPC (and HTTP) from SDKs and other collectors",
    .opts = otlp_opts,
    .cfg_size = sizeof(otlp_cfg_t),
    .validate = otlp_validate,
    .create = otlp_create,
    .start = otlp_start,
    .shutdown = otlp_shutdown,
    .destroy = otlp_destroy,
    .settings_offset = CT_OPT_NO_FLAG,
};
