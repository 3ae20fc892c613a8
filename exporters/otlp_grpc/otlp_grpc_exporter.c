/*
 * The `otlp_grpc` exporter (old name `otlp`): forwards each request, as the
 * bytes that arrived, to an OTLP/gRPC server with one unary Export call. The
 * engine queues and retries; this file declares the keys and the lifecycle.
 */
#include "otlp_grpc_exporter.h"

#include <grpc/support/alloc.h>

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define F(field) offsetof(otlp_grpc_exporter_cfg_t, field)
#define T(field) offsetof(otlp_grpc_exporter_tls_cfg_t, field)
#define K(field) offsetof(otlp_grpc_exporter_keepalive_cfg_t, field)

static const ct_opt_t tls_opts[] = {
    {"insecure", CT_OPT_BOOL, T(insecure), "false", 0, 0, NULL, "plaintext gRPC, without TLS"},
    {"insecure_skip_verify", CT_OPT_BOOL, T(insecure_skip_verify), "false", 0, 0, NULL,
     "TLS, but accept any server certificate (for tests only)"},
    {"ca_file", CT_OPT_STRING, T(ca_file), NULL, 0, 0, NULL,
     "PEM file of the CAs that sign the server's certificate (default: system CAs)"},
    {"ca_pem", CT_OPT_STRING, T(ca_pem), NULL, 0, 0, NULL, "the same, inline"},
    {"cert_file", CT_OPT_STRING, T(cert_file), NULL, 0, 0, NULL,
     "PEM client certificate, for servers that require one"},
    {"cert_pem", CT_OPT_STRING, T(cert_pem), NULL, 0, 0, NULL, "the same, inline"},
    {"key_file", CT_OPT_STRING, T(key_file), NULL, 0, 0, NULL,
     "PEM private key of the client certificate"},
    {"key_pem", CT_OPT_STRING, T(key_pem), NULL, 0, 0, NULL, "the same, inline",
     .flags = CT_OPT_SECRET},
    {"server_name_override", CT_OPT_STRING, T(server_name_override), NULL, 0, 0, NULL,
     "the name checked against the server's certificate instead of the endpoint's host"},
    CT_OPT_END,
};

static const ct_opt_t keepalive_opts[] = {
    {"time", CT_OPT_DURATION, K(time), "10s", 0, 0, NULL,
     "ping the server after this long without activity"},
    {"timeout", CT_OPT_DURATION, K(timeout), "10s", 0, 0, NULL,
     "close the connection when a ping is not answered within this"},
    {"permit_without_stream", CT_OPT_BOOL, K(permit_without_stream), "false", 0, 0, NULL,
     "ping even when no call is in flight"},
    CT_OPT_END,
};

static const ct_opt_t otlp_grpc_opts[] = {
    {"endpoint", CT_OPT_STRING, F(endpoint), NULL, 0, 0, NULL,
     "host:port, dns:///host:port (every address, re-resolved) or unix:PATH",
     .flags = CT_OPT_REQUIRED},
    {"compression", CT_OPT_STRING, F(compression), "gzip", 0, 0, NULL,
     "gzip, or none: compression of each message"},
    {"headers", CT_OPT_MAP, F(headers), NULL, 0, 0, NULL, "sent as metadata with every call",
     .flags = CT_OPT_SECRET},
    {"balancer_name", CT_OPT_ENUM, F(balancer_name), "round_robin", 0, 0, "round_robin|pick_first",
     "how calls are spread over the endpoint's addresses"},
    {"authority", CT_OPT_STRING, F(authority), NULL, 0, 0, NULL,
     "the :authority of every call (default: from the endpoint)"},
    {"wait_for_ready", CT_OPT_BOOL, F(wait_for_ready), "false", 0, 0, NULL,
     "while the server is unreachable, wait (until the timeout) instead of failing at once"},
    {"write_buffer_size", CT_OPT_SIZE, F(write_buffer_size), "512KiB", 0, 1073741824, NULL,
     "HTTP/2 write buffer of the connection"},
    {"read_buffer_size", CT_OPT_SIZE, F(read_buffer_size), "0", 0, 1073741824, NULL,
     "accepted for compatibility; gRPC core sizes its reads itself"},
    {"tls", CT_OPT_SECTION, F(tls_present), NULL, 0, 0, NULL,
     "TLS settings (TLS is on unless insecure: true)", tls_opts, F(tls)},
    {"keepalive", CT_OPT_SECTION, F(keepalive_present), NULL, 0, 0, NULL,
     "keepalive pings (absent: none)", keepalive_opts, F(keepalive)},
    CT_EXPORTER_SETTINGS_OPTS(otlp_grpc_exporter_cfg_t, settings),
    CT_OPT_END,
};

#undef F
#undef T
#undef K

/* gRPC refuses (at call time) metadata keys it reserves or cannot carry: say so at load. */
static int check_header(const char *k, const char *v, const ct_node_t *node, ct_err_t *err)
{
    size_t klen = strlen(k);

    if (klen == 0 || strncmp(k, "grpc-", 5) == 0 || k[0] == ':')
        return ct_errf(err, node, "headers: '%s' is not a header gRPC lets a client send", k);
    for (const char *p = k; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        if (!ok)
            return ct_errf(err, node,
                           "headers: '%s' has a character not allowed in a header "
                           "name",
                           k);
    }
    if (klen > 4 && strcmp(k + klen - 4, "-bin") == 0)
        return 0; /* binary values may hold any byte */
    for (const char *p = v; *p; p++) {
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            return ct_errf(err, node,
                           "headers: the value of '%s' has a character gRPC cannot "
                           "send (printable ASCII only)",
                           k);
    }
    return 0;
}

static bool set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static int otlp_grpc_validate(const void *vcfg, const ct_node_t *node, ct_err_t *err)
{
    const otlp_grpc_exporter_cfg_t *cfg = vcfg;
    const otlp_grpc_exporter_tls_cfg_t *tls = &cfg->tls;
    const char *c = cfg->compression;
    bool cert = set(tls->cert_file) || set(tls->cert_pem);
    bool key = set(tls->key_file) || set(tls->key_pem);
    char *target = NULL;
    int scheme_tls;
    int rc = 0;

    if (!set(cfg->endpoint))
        return ct_errf(err, node, "endpoint must be non-empty");
    if (otlp_grpc_exporter_target(cfg->endpoint, &target, &scheme_tls) != 0 || !target[0]) {
        rc = ct_errf(err, node, "endpoint '%s' names no address", cfg->endpoint);
        goto out;
    }
    if (set(c) && strcmp(c, "gzip") != 0 && strcmp(c, "none") != 0) {
        rc = ct_errf(err, node, "compression '%s' is not supported (gzip, or none)", c);
        goto out;
    }
    if (set(tls->ca_file) && set(tls->ca_pem)) {
        rc = ct_errf(err, node, "tls: ca_file and ca_pem cannot be used together");
        goto out;
    }
    if ((set(tls->cert_file) && set(tls->cert_pem)) || (set(tls->key_file) && set(tls->key_pem))) {
        rc = ct_errf(err, node, "tls: give the certificate and key as files or as PEM, not both");
        goto out;
    }
    if (cert != key) {
        rc = ct_errf(err, node,
                     "tls: a client certificate needs its key, and a key its "
                     "certificate");
        goto out;
    }
    for (size_t i = 0; i < cfg->headers.n; i++) {
        rc = check_header(cfg->headers.k[i], cfg->headers.v[i], node, err);
        if (rc != 0)
            goto out;
    }
out:
    free(target);
    return rc;
}

static int otlp_grpc_create(ct_instance_t *inst, ct_err_t *err)
{
    otlp_grpc_exporter_t *st = calloc(1, sizeof *st);

    if (st == NULL)
        return ct_errf(err, inst->node, "%s: out of memory", inst->name);
    pthread_mutex_init(&st->lock, NULL);
    grpc_init();
    inst->state = st;
    return 0;
}

static int otlp_grpc_start(ct_instance_t *inst, ct_err_t *err)
{
    return otlp_grpc_exporter_channel_open(inst, err);
}

/* The engine has drained the queue (or given up at the deadline): end the calls still open. */
static void otlp_grpc_shutdown(ct_instance_t *inst, uint64_t deadline_ns)
{
    otlp_grpc_exporter_t *st = inst->state;

    if (st != NULL)
        otlp_grpc_exporter_cancel_all(st);
}

static void otlp_grpc_destroy(ct_instance_t *inst)
{
    otlp_grpc_exporter_t *st = inst->state;

    if (st == NULL)
        return;
    otlp_grpc_exporter_channel_close(st);
    for (size_t i = 0; i < st->nidle; i++) {
        grpc_completion_queue_shutdown(st->idle_cqs[i]);
        /* Nothing is pending on an idle queue: the next event is its shutdown. */
        grpc_completion_queue_pluck(st->idle_cqs[i], NULL, gpr_inf_future(GPR_CLOCK_MONOTONIC),
                                    NULL);
        grpc_completion_queue_destroy(st->idle_cqs[i]);
    }
    free(st->idle_cqs);
    free(st->target);
    pthread_mutex_destroy(&st->lock);
    free(st);
    inst->state = NULL;
    grpc_shutdown();
}

const ct_factory_t ct_otlp_grpc_exporter_factory = {
    .type = "otlp_grpc",
    .alias = "otlp",
    .kind = CT_KIND_EXPORTER,
    .signals = CT_SIGNALS_ALL,
    .description = "sends OTLP over gRPC to a collector or backend",
    .opts = otlp_grpc_opts,
    .cfg_size = sizeof(otlp_grpc_exporter_cfg_t),
    .validate = otlp_grpc_validate,
    .create = otlp_grpc_create,
    .start = otlp_grpc_start,
    .shutdown = otlp_grpc_shutdown,
    .destroy = otlp_grpc_destroy,
    .send = otlp_grpc_exporter_send,
    .settings_offset = offsetof(otlp_grpc_exporter_cfg_t, settings),
};
