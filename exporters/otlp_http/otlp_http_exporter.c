/*
 * The `otlp_http` exporter (old name `otlphttp`): POSTs each request to an
 * OTLP/HTTP server as protobuf or JSON, compressed. The engine queues and
 * retries; this file declares the keys and the lifecycle.
 */
#include "otlp_http_exporter.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define F(field) offsetof(otlp_http_exporter_cfg_t, field)
#define T(field) offsetof(otlp_http_exporter_tls_cfg_t, field)

static const ct_opt_t tls_opts[] = {
    {"insecure", CT_OPT_BOOL, T(insecure), "false", 0, 0, NULL,
     "accepted for compatibility: an http:// URL is plaintext, https:// is TLS"},
    {"insecure_skip_verify", CT_OPT_BOOL, T(insecure_skip_verify), "false", 0, 0, NULL,
     "TLS, but accept any server certificate (for tests only)"},
    {"ca_file", CT_OPT_STRING, T(ca_file), NULL, 0, 0, NULL,
     "PEM file of the CAs that sign the server's certificate (default: system CAs)"},
    {"cert_file", CT_OPT_STRING, T(cert_file), NULL, 0, 0, NULL,
     "PEM client certificate, for servers that require one"},
    {"key_file", CT_OPT_STRING, T(key_file), NULL, 0, 0, NULL,
     "PEM private key of the client certificate"},
    CT_OPT_END,
};

static const ct_opt_t otlp_http_opts[] = {
    {"endpoint", CT_OPT_STRING, F(endpoint), NULL, 0, 0, NULL,
     "base URL (http:// or https://); /v1/traces, /v1/metrics, /v1/logs are appended"},
    {"traces_endpoint", CT_OPT_STRING, F(signal_endpoint[CT_SIGNAL_TRACES]), NULL, 0, 0, NULL,
     "full URL for traces, instead of endpoint + /v1/traces"},
    {"metrics_endpoint", CT_OPT_STRING, F(signal_endpoint[CT_SIGNAL_METRICS]), NULL, 0, 0, NULL,
     "full URL for metrics, instead of endpoint + /v1/metrics"},
    {"logs_endpoint", CT_OPT_STRING, F(signal_endpoint[CT_SIGNAL_LOGS]), NULL, 0, 0, NULL,
     "full URL for logs, instead of endpoint + /v1/logs"},
    {"encoding", CT_OPT_ENUM, F(encoding), "proto", 0, 0, "proto|json",
     "body encoding: protobuf, or OTLP/JSON"},
    {"compression", CT_OPT_STRING, F(compression), "gzip", 0, 0, NULL,
     "gzip, zstd, deflate, or none: Content-Encoding of every body"},
    {"headers", CT_OPT_MAP, F(headers), NULL, 0, 0, NULL, "sent with every request",
     .flags = CT_OPT_SECRET},
    {"tls", CT_OPT_SECTION, F(tls_present), NULL, 0, 0, NULL, "TLS settings for https:// URLs",
     tls_opts, F(tls)},
    CT_EXPORTER_SETTINGS_OPTS_TIMEOUT(otlp_http_exporter_cfg_t, settings, "30s"),
    CT_OPT_END,
};

#undef F
#undef T

static bool set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

int otlp_http_compression_parse(const char *s)
{
    if (!set(s) || strcasecmp(s, "none") == 0)
        return OTLP_HTTP_COMP_NONE;
    if (strcasecmp(s, "gzip") == 0)
        return OTLP_HTTP_COMP_GZIP;
    if (strcasecmp(s, "deflate") == 0 || strcasecmp(s, "zlib") == 0)
        return OTLP_HTTP_COMP_DEFLATE;
    if (strcasecmp(s, "zstd") == 0)
        return OTLP_HTTP_COMP_ZSTD;
    return -1;
}

static bool url_ok(const char *u)
{
    return strncasecmp(u, "http://", 7) == 0 || strncasecmp(u, "https://", 8) == 0;
}

/* Header names are HTTP tokens; values must not break the request's framing. */
static int check_header(const char *k, const char *v, const ct_node_t *node, ct_err_t *err)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~";

    if (k[0] == '\0')
        return ct_errf(err, node, "headers: an empty header name");
    for (const char *p = k; *p; p++)
        if (!isalnum((unsigned char)*p) && strchr(tchar, *p) == NULL)
            return ct_errf(err, node, "headers: '%s' is not a valid header name", k);
    for (const char *p = v; *p; p++)
        if (*p == '\r' || *p == '\n')
            return ct_errf(err, node, "headers: the value of '%s' holds a line break", k);
    return 0;
}

static int otlp_http_validate(const void *vcfg, const ct_node_t *node, ct_err_t *err)
{
    const otlp_http_exporter_cfg_t *cfg = vcfg;
    bool any = set(cfg->endpoint);
    int rc = 0;

    if (set(cfg->endpoint) && !url_ok(cfg->endpoint))
        return ct_errf(err, node, "endpoint '%s' must start with http:// or https://",
                       cfg->endpoint);
    for (int s = 0; s < CT_SIGNAL_COUNT; s++) {
        const char *u = cfg->signal_endpoint[s];
        if (!set(u))
            continue;
        any = true;
        if (!url_ok(u))
            return ct_errf(err, node, "%s_endpoint '%s' must start with http:// or https://",
                           ct_signal_name((ct_signal_t)s), u);
    }
    if (!any)
        return ct_errf(err, node,
                       "at least one endpoint must be specified (endpoint, or "
                       "traces_endpoint, metrics_endpoint, logs_endpoint)");
    if (otlp_http_compression_parse(cfg->compression) < 0)
        return ct_errf(err, node,
                       "compression '%s' is not supported (gzip, zstd, deflate, or "
                       "none)",
                       cfg->compression);
    if (set(cfg->tls.cert_file) != set(cfg->tls.key_file))
        return ct_errf(err, node,
                       "tls: a client certificate needs its key, and a key its "
                       "certificate");
    for (size_t i = 0; i < cfg->headers.n && rc == 0; i++)
        rc = check_header(cfg->headers.k[i], cfg->headers.v[i], node, err);
    return rc;
}

/* endpoint + "/v1/<signal>", without doubling a trailing slash. */
static char *signal_url(const char *endpoint, ct_signal_t s)
{
    size_t n = strlen(endpoint);
    char *u = NULL;

    while (n > 0 && endpoint[n - 1] == '/')
        n--;
    if (asprintf(&u, "%.*s/v1/%s", (int)n, endpoint, ct_signal_name(s)) < 0)
        u = NULL;
    return u;
}

/* The headers every request carries: type, encoding, then the configured ones. */
static int build_headers(otlp_http_exporter_t *st)
{
    static const char *const encodings[] = {NULL, "gzip", "deflate", "zstd"};
    const otlp_http_exporter_cfg_t *cfg = st->cfg;
    struct curl_slist *l = NULL, *next;
    char line[8192];

    /* curl asks large bodies for "100 Continue" first: a round trip no OTLP server needs. */
    l = curl_slist_append(l, "Expect:");
    next = l ? curl_slist_append(l, cfg->encoding == OTLP_HTTP_ENCODING_JSON
                                        ? "Content-Type: application/json"
                                        : "Content-Type: application/x-protobuf")
             : NULL;
    l = next ? next : l;
    if (next != NULL && encodings[st->compression] != NULL) {
        snprintf(line, sizeof line, "Content-Encoding: %s", encodings[st->compression]);
        next = curl_slist_append(l, line);
        l = next ? next : l;
    }
    for (size_t i = 0; next != NULL && i < cfg->headers.n; i++) {
        /* "Name;" is curl's way to send a header with an empty value. */
        if (cfg->headers.v[i][0] == '\0')
            snprintf(line, sizeof line, "%s;", cfg->headers.k[i]);
        else
            snprintf(line, sizeof line, "%s: %s", cfg->headers.k[i], cfg->headers.v[i]);
        next = curl_slist_append(l, line);
        l = next ? next : l;
    }
    st->headers = l;
    return next != NULL ? 0 : -1;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void otlp_http_destroy(ct_instance_t *inst)
{
    otlp_http_exporter_t *st = inst->state;

    if (st == NULL)
        return;
    otlp_http_exporter_pool_free(st);
    for (int s = 0; s < CT_SIGNAL_COUNT; s++)
        free(st->url[s]);
    curl_slist_free_all(st->headers);
    pthread_mutex_destroy(&st->lock);
    free(st);
    inst->state = NULL;
}

static int otlp_http_create(ct_instance_t *inst, ct_err_t *err)
{
    const otlp_http_exporter_cfg_t *cfg = inst->config;
    otlp_http_exporter_t *st;
    int rc = 0;

    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return ct_errf(err, inst->node, "%s: libcurl failed to initialise: %s", inst->name,
                       curl_easy_strerror(curl_init_rc));
    st = calloc(1, sizeof *st);
    if (st == NULL)
        return ct_errf(err, inst->node, "%s: out of memory", inst->name);
    inst->state = st;
    st->cfg = cfg;
    st->name = inst->name;
    pthread_mutex_init(&st->lock, NULL);
    atomic_init(&st->stopping, false);
    st->compression = otlp_http_compression_parse(cfg->compression);
    st->timeout_ms = cfg->settings.timeout / 1000000u;

    for (int s = 0; s < CT_SIGNAL_COUNT; s++) {
        if (set(cfg->signal_endpoint[s]))
            st->url[s] = strdup(cfg->signal_endpoint[s]);
        else if (set(cfg->endpoint))
            st->url[s] = signal_url(cfg->endpoint, (ct_signal_t)s);
        else
            continue;
        if (st->url[s] == NULL) {
            rc = ct_errf(err, inst->node, "%s: out of memory", inst->name);
            goto out;
        }
    }
    if (build_headers(st) != 0)
        rc = ct_errf(err, inst->node, "%s: out of memory", inst->name);
out:
    if (rc != 0)
        otlp_http_destroy(inst);
    return rc;
}

/* The TLS files are read by curl at each connection: check now that they can be read at all. */
static int otlp_http_start(ct_instance_t *inst, ct_err_t *err)
{
    const otlp_http_exporter_cfg_t *cfg = inst->config;
    const otlp_http_exporter_t *st = inst->state;
    const char *files[] = {cfg->tls.ca_file, cfg->tls.cert_file, cfg->tls.key_file};
    const char *what[] = {"ca_file", "cert_file", "key_file"};

    for (size_t i = 0; i < CT_ARRAY_LEN(files); i++)
        if (set(files[i]) && access(files[i], R_OK) != 0)
            return ct_errf(err, inst->node, "%s: tls::%s %s cannot be read", inst->name, what[i],
                           files[i]);
    for (int s = 0; s < CT_SIGNAL_COUNT; s++)
        if (st->url[s] != NULL)
            ct_log_info(inst->name, "sending %s to %s", ct_signal_name((ct_signal_t)s), st->url[s]);
    return 0;
}

/* Called once the queue has drained or its deadline passed: what is still in flight stops. */
static void otlp_http_shutdown(ct_instance_t *inst, uint64_t deadline_ns)
{
    otlp_http_exporter_t *st = inst->state;

    if (st != NULL)
        atomic_store(&st->stopping, true);
}

const ct_factory_t ct_otlp_http_exporter_factory = {
    .type = "otlp_http",
    .alias = "otlphttp",
    .kind = CT_KIND_EXPORTER,
    .signals = CT_SIGNALS_ALL,
    .description = "sends OTLP over HTTP (protobuf or JSON, compressed) to a collector or backend",
    .opts = otlp_http_opts,
    .cfg_size = sizeof(otlp_http_exporter_cfg_t),
    .validate = otlp_http_validate,
    .create = otlp_http_create,
    .start = otlp_http_start,
    .shutdown = otlp_http_shutdown,
    .destroy = otlp_http_destroy,
    .send = otlp_http_exporter_send,
    .settings_offset = offsetof(otlp_http_exporter_cfg_t, settings),
};
