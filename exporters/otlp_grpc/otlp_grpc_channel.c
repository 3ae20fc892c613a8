/*
 * The otlp_grpc exporter's channel: the target from the endpoint, the
 * credentials (plaintext, TLS with optional client certificate, or TLS that
 * trusts any server), and the channel arguments for compression, load
 * balancing and keepalive.
 */
#include "otlp_grpc_exporter.h"

#include <grpc/compression.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A backend that comes back should get data within seconds, not gRPC's default two minutes. */
#define RECONNECT_BACKOFF_MAX_MS 10000

static const char *const method_paths[CT_SIGNAL_COUNT] = {
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
};

static bool has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static bool set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/*
 * http:// and https:// are taken off (gRPC dials host:port) and decide TLS;
 * "dns:host:port" and "dns://host:port" become "dns:///host:port", the form
 * gRPC resolves with the system resolver. Anything else is passed as is.
 */
int otlp_grpc_exporter_target(const char *endpoint, char **target, int *scheme_tls)
{
    const char *rest = endpoint;
    int n;

    *scheme_tls = -1;
    *target = NULL;
    if (has_prefix(endpoint, "http://")) {
        *scheme_tls = 0;
        rest = endpoint + 7;
    } else if (has_prefix(endpoint, "https://")) {
        *scheme_tls = 1;
        rest = endpoint + 8;
    }
    if (has_prefix(rest, "dns:") && !has_prefix(rest, "dns:///")) {
        const char *host = rest + 4;
        while (*host == '/')
            host++;
        n = asprintf(target, "dns:///%s", host);
    } else {
        n = asprintf(target, "%s", rest);
    }
    if (n < 0) {
        *target = NULL;
        return -ENOMEM;
    }
    /* A trailing slash, as in "http://host:4317/", is not part of an address. */
    size_t len = strlen(*target);
    if (len > 0 && (*target)[len - 1] == '/' && *scheme_tls != -1)
        (*target)[len - 1] = '\0';
    return 0;
}

/* A PEM from the inline key or else the file (NULL when neither is set). */
static int read_pem(const char *inline_pem, const char *path, const char *what, char **out,
                    ct_err_t *err)
{
    ct_buf_t b = {.max = 16u << 20}; /* certificate bundles are at most a few hundred KiB */
    char chunk[4096];
    FILE *f = NULL;
    size_t n;
    int rc = 0;

    *out = NULL;
    if (set(inline_pem)) {
        *out = strdup(inline_pem);
        return *out ? 0 : ct_errf(err, NULL, "out of memory");
    }
    if (!set(path))
        return 0;
    f = fopen(path, "rb");
    if (f == NULL) {
        rc = ct_errf(err, NULL, "cannot read %s %s: %s", what, path, strerror(errno));
        goto out;
    }
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (ct_buf_append(&b, chunk, n) != 0) {
            rc = ct_errf(err, NULL, "cannot read %s %s: too large or out of memory", what, path);
            goto out;
        }
    }
    if (ferror(f) || ct_buf_putc(&b, '\0') != 0) {
        rc = ct_errf(err, NULL, "cannot read %s %s", what, path);
        goto out;
    }
    *out = (char *)ct_buf_take(&b, &n);
out:
    if (f != NULL)
        fclose(f);
    ct_buf_free(&b);
    return rc;
}

static void free_secret(char *s)
{
    if (s == NULL)
        return;
    memset(s, 0, strlen(s)); /* no copy of a private key stays in freed memory */
    free(s);
}

/* TLS that accepts any server certificate: gRPC's TLS options with verification off. */
static grpc_channel_credentials *skip_verify_credentials(const char *cert, const char *key)
{
    grpc_tls_credentials_options *opts = grpc_tls_credentials_options_create();
    grpc_tls_certificate_verifier *verifier = grpc_tls_certificate_verifier_no_op_create();
    grpc_channel_credentials *creds;

    grpc_tls_credentials_options_set_verify_server_cert(opts, 0);
    grpc_tls_credentials_options_set_certificate_verifier(opts, verifier);
    grpc_tls_credentials_options_set_check_call_host(opts, 0);
    if (cert != NULL) {
        grpc_tls_identity_pairs *pairs = grpc_tls_identity_pairs_create();
        grpc_tls_identity_pairs_add_pair(pairs, key, cert);
        grpc_tls_certificate_provider *provider =
            grpc_tls_certificate_provider_static_data_create(NULL, pairs);
        grpc_tls_credentials_options_set_certificate_provider(opts, provider);
        grpc_tls_credentials_options_watch_identity_key_cert_pairs(opts);
        grpc_tls_certificate_provider_release(provider);
    }
    creds = grpc_tls_credentials_create(opts); /* takes opts */
    grpc_tls_certificate_verifier_release(verifier);
    return creds;
}

/* The channel's credentials; sets *tls to whether they encrypt. */
static grpc_channel_credentials *channel_credentials(const otlp_grpc_exporter_cfg_t *cfg,
                                                     int scheme_tls, bool *tls, ct_err_t *err)
{
    const otlp_grpc_exporter_tls_cfg_t *t = &cfg->tls;
    grpc_channel_credentials *creds = NULL;
    grpc_ssl_pem_key_cert_pair pair;
    char *ca = NULL, *cert = NULL, *key = NULL;

    /* The scheme wins over the tls section: "http://" means plaintext, "https://" TLS. */
    *tls = scheme_tls == 1 || (scheme_tls == -1 && !t->insecure);
    if (!*tls)
        return grpc_insecure_credentials_create();

    if (read_pem(t->ca_pem, t->ca_file, "the CA file", &ca, err) != 0 ||
        read_pem(t->cert_pem, t->cert_file, "the client certificate", &cert, err) != 0 ||
        read_pem(t->key_pem, t->key_file, "the client key", &key, err) != 0)
        goto out;

    if (t->insecure_skip_verify) {
        creds = skip_verify_credentials(cert, key);
    } else {
        pair.private_key = key;
        pair.cert_chain = cert;
        /* No CA given: gRPC uses the system's CA store. */
        creds = grpc_ssl_credentials_create_ex(ca, cert ? &pair : NULL, NULL, NULL);
    }
    if (creds == NULL)
        ct_errf(err, NULL, "gRPC refused the TLS settings");
out:
    free(ca);
    free(cert);
    free_secret(key);
    return creds;
}

static int ms_arg(uint64_t ns)
{
    uint64_t ms = ns / 1000000u;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Fills the channel arguments from the configuration; returns how many were set. */
static size_t channel_args(const otlp_grpc_exporter_cfg_t *cfg, grpc_arg *a, size_t cap)
{
    const otlp_grpc_exporter_keepalive_cfg_t *ka = &cfg->keepalive;
    size_t n = 0;

#define INT_ARG(k, v)                                                                              \
    do {                                                                                           \
        if (n < cap) {                                                                             \
            a[n].type = GRPC_ARG_INTEGER;                                                          \
            a[n].key = (char *)(k);                                                                \
            a[n].value.integer = (v);                                                              \
            n++;                                                                                   \
        }                                                                                          \
    } while (0)
#define STR_ARG(k, v)                                                                              \
    do {                                                                                           \
        if (n < cap) {                                                                             \
            a[n].type = GRPC_ARG_STRING;                                                           \
            a[n].key = (char *)(k);                                                                \
            a[n].value.string = (char *)(v);                                                       \
            n++;                                                                                   \
        }                                                                                          \
    } while (0)

    /* The service config picks the policy; round_robin keeps a connection to every address. */
    STR_ARG(GRPC_ARG_SERVICE_CONFIG, cfg->balancer_name == OTLP_GRPC_BALANCER_PICK_FIRST
                                         ? "{\"loadBalancingConfig\":[{\"pick_first\":{}}]}"
                                         : "{\"loadBalancingConfig\":[{\"round_robin\":{}}]}");
    if (set(cfg->compression) && strcmp(cfg->compression, "gzip") == 0)
        INT_ARG(GRPC_COMPRESSION_CHANNEL_DEFAULT_ALGORITHM, GRPC_COMPRESS_GZIP);
    if (cfg->write_buffer_size > 0)
        INT_ARG(GRPC_ARG_HTTP2_WRITE_BUFFER_SIZE,
                cfg->write_buffer_size > INT_MAX ? INT_MAX : (int)cfg->write_buffer_size);
    INT_ARG(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, RECONNECT_BACKOFF_MAX_MS);
    STR_ARG(GRPC_ARG_PRIMARY_USER_AGENT_STRING, "cotel");
    if (set(cfg->authority))
        STR_ARG(GRPC_ARG_DEFAULT_AUTHORITY, cfg->authority);
    if (set(cfg->tls.server_name_override))
        STR_ARG(GRPC_SSL_TARGET_NAME_OVERRIDE_ARG, cfg->tls.server_name_override);
    if (cfg->keepalive_present && ka->time > 0) {
        INT_ARG(GRPC_ARG_KEEPALIVE_TIME_MS, ms_arg(ka->time));
        if (ka->timeout > 0)
            INT_ARG(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, ms_arg(ka->timeout));
        INT_ARG(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, ka->permit_without_stream ? 1 : 0);
        /* Keep pinging on a quiet connection, as the keepalive time asks. */
        INT_ARG(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    }
#undef INT_ARG
#undef STR_ARG
    return n;
}

/* The configured headers as call metadata: lowercase keys, slices made once. */
static int build_headers(otlp_grpc_exporter_t *st, const ct_kvlist_t *h, ct_err_t *err)
{
    if (h->n == 0)
        return 0;
    st->headers = calloc(h->n, sizeof *st->headers);
    if (st->headers == NULL)
        return ct_errf(err, NULL, "out of memory");
    for (size_t i = 0; i < h->n; i++) {
        char *k = strdup(h->k[i]);
        if (k == NULL)
            return ct_errf(err, NULL, "out of memory");
        for (char *p = k; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        st->headers[i].key = grpc_slice_from_copied_string(k);
        st->headers[i].value = grpc_slice_from_copied_string(h->v[i]);
        st->nheaders = i + 1;
        free(k);
    }
    return 0;
}

int otlp_grpc_exporter_channel_open(ct_instance_t *inst, ct_err_t *err)
{
    const otlp_grpc_exporter_cfg_t *cfg = inst->config;
    otlp_grpc_exporter_t *st = inst->state;
    grpc_channel_credentials *creds = NULL;
    grpc_arg args[16];
    grpc_channel_args chargs;
    ct_err_t inner = {{0}};
    int scheme_tls;
    int rc = 0;

    if (otlp_grpc_exporter_target(cfg->endpoint, &st->target, &scheme_tls) != 0) {
        rc = ct_errf(err, inst->node, "%s: out of memory", inst->name);
        goto out;
    }
    creds = channel_credentials(cfg, scheme_tls, &st->tls, &inner);
    if (creds == NULL) {
        rc = ct_errf(err, inst->node, "%s: %s", inst->name, inner.msg);
        goto out;
    }
    if (build_headers(st, &cfg->headers, &inner) != 0) {
        rc = ct_errf(err, inst->node, "%s: %s", inst->name, inner.msg);
        goto out;
    }
    chargs.num_args = channel_args(cfg, args, CT_ARRAY_LEN(args));
    chargs.args = args;
    st->channel = grpc_channel_create(st->target, creds, &chargs);
    if (st->channel == NULL) {
        rc = ct_errf(err, inst->node, "%s: cannot create a gRPC channel to %s", inst->name,
                     st->target);
        goto out;
    }
    for (int s = 0; s < CT_SIGNAL_COUNT; s++) {
        st->methods[s] = grpc_channel_register_call(st->channel, method_paths[s], NULL, NULL);
        if (st->methods[s] == NULL) {
            rc = ct_errf(err, inst->node, "%s: cannot register %s", inst->name, method_paths[s]);
            goto out;
        }
    }
    ct_log_info(inst->name, "exporting OTLP/gRPC to %s (%s%s, compression %s, %s)", st->target,
                st->tls ? "TLS" : "plaintext",
                st->tls && cfg->tls.insecure_skip_verify ? " without verifying the server" : "",
                set(cfg->compression) ? cfg->compression : "none",
                cfg->balancer_name == OTLP_GRPC_BALANCER_PICK_FIRST ? "pick_first" : "round_robin");
out:
    if (creds != NULL)
        grpc_channel_credentials_release(creds);
    return rc;
}

void otlp_grpc_exporter_channel_close(otlp_grpc_exporter_t *st)
{
    if (st->channel != NULL)
        grpc_channel_destroy(st->channel);
    st->channel = NULL;
    for (size_t i = 0; i < st->nheaders; i++) {
        grpc_slice_unref(st->headers[i].key);
        grpc_slice_unref(st->headers[i].value);
    }
    free(st->headers);
    st->headers = NULL;
    st->nheaders = 0;
}
