/*
 * The kafka exporter's keys, declared once, and their translation into
 * librdkafka producer properties. The keys follow the OpenTelemetry
 * Collector's kafka exporter; librdkafka_properties passes anything else on.
 */
#include "kafka_config.h"

#include "ct_log.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define SIGNAL_OPTS(default_topic)                                                                 \
    {                                                                                              \
        {"topic",                                                                                  \
         CT_OPT_STRING,                                                                            \
         offsetof(kafka_signal_cfg_t, topic),                                                      \
         default_topic,                                                                            \
         0,                                                                                        \
         0,                                                                                        \
         NULL,                                                                                     \
         "topic the records go to"},                                                               \
            {"encoding",                                                                           \
             CT_OPT_ENUM,                                                                          \
             offsetof(kafka_signal_cfg_t, encoding),                                               \
             "otlp_proto",                                                                         \
             0,                                                                                    \
             0,                                                                                    \
             "otlp_proto|otlp_json",                                                               \
             "record value format"},                                                               \
            {"topic_from_metadata_key",                                                            \
             CT_OPT_STRING,                                                                        \
             offsetof(kafka_signal_cfg_t, topic_from_metadata_key),                                \
             NULL,                                                                                 \
             0,                                                                                    \
             0,                                                                                    \
             NULL,                                                                                 \
             "client metadata key whose value, when present, names the topic"},                    \
            CT_OPT_END,                                                                            \
    }

static const ct_opt_t traces_opts[] = SIGNAL_OPTS("otlp_spans");
static const ct_opt_t metrics_opts[] = SIGNAL_OPTS("otlp_metrics");
static const ct_opt_t logs_opts[] = SIGNAL_OPTS("otlp_logs");

static const ct_opt_t compression_params_opts[] = {
    {"level", CT_OPT_INT, 0, "-1", -1, 12, NULL,
     "codec level (-1: the codec's default; gzip 1-9, lz4 0-12, zstd 1-12)"},
    CT_OPT_END,
};

#define P(f) offsetof(kafka_producer_cfg_t, f)
static const ct_opt_t producer_opts[] = {
    {"max_message_bytes", CT_OPT_INT, P(max_message_bytes), "1000000", 1000, 1e9, NULL,
     "largest record (value and key, before compression); bigger requests are split"},
    {"required_acks", CT_OPT_ENUM, P(required_acks), "1", 0, 0, "0|1|all|-1",
     "acknowledgements per record: 0 none, 1 the leader, all (-1) every in-sync replica"},
    {"compression", CT_OPT_ENUM, P(compression), "none", 0, 0, "none|gzip|snappy|lz4|zstd",
     "compression of record batches"},
    {"compression_params", CT_OPT_SECTION, CT_OPT_NO_FLAG, NULL, 0, 0, NULL, "codec settings",
     compression_params_opts, P(compression_level)},
    {"flush_max_messages", CT_OPT_INT, P(flush_max_messages), "10000", 0, 1e6, NULL,
     "most records in one produce batch (0: librdkafka's default)"},
    {"linger", CT_OPT_DURATION, P(linger), "10ms", 0, 900e9, NULL,
     "how long a partition waits for more records before sending a batch"},
    CT_OPT_END,
};
#undef P

#define T(f) offsetof(kafka_tls_cfg_t, f)
static const ct_opt_t tls_opts[] = {
    {"insecure", CT_OPT_BOOL, T(insecure), "false", 0, 0, NULL, "plaintext: no TLS at all"},
    {"insecure_skip_verify", CT_OPT_BOOL, T(insecure_skip_verify), "false", 0, 0, NULL,
     "do not verify the brokers' certificates"},
    {"ca_file", CT_OPT_STRING, T(ca_file), NULL, 0, 0, NULL, "CA certificates (PEM file)"},
    {"ca_pem", CT_OPT_STRING, T(ca_pem), NULL, 0, 0, NULL, "CA certificates (PEM text)"},
    {"cert_file", CT_OPT_STRING, T(cert_file), NULL, 0, 0, NULL, "client certificate file"},
    {"cert_pem", CT_OPT_STRING, T(cert_pem), NULL, 0, 0, NULL, "client certificate (PEM)"},
    {"key_file", CT_OPT_STRING, T(key_file), NULL, 0, 0, NULL, "client private key file"},
    {"key_pem", CT_OPT_STRING, T(key_pem), NULL, 0, 0, NULL, "client private key (PEM)", NULL, 0,
     CT_OPT_SECRET},
    {"server_name_override", CT_OPT_STRING, T(server_name_override), NULL, 0, 0, NULL,
     "not supported by this build's librdkafka: refused when set"},
    CT_OPT_END,
};
#undef T

static const ct_opt_t sasl_opts[] = {
    {"username", CT_OPT_STRING, offsetof(kafka_sasl_cfg_t, username), NULL, 0, 0, NULL, "SASL user",
     NULL, 0, CT_OPT_REQUIRED},
    {"password", CT_OPT_STRING, offsetof(kafka_sasl_cfg_t, password), NULL, 0, 0, NULL,
     "SASL password", NULL, 0, CT_OPT_REQUIRED | CT_OPT_SECRET},
    {"mechanism", CT_OPT_ENUM, offsetof(kafka_sasl_cfg_t, mechanism), NULL, 0, 0,
     "PLAIN|SCRAM-SHA-256|SCRAM-SHA-512", "SASL mechanism", NULL, 0, CT_OPT_REQUIRED},
    {"version", CT_OPT_INT, offsetof(kafka_sasl_cfg_t, version), "0", 0, 1, NULL,
     "accepted for compatibility; librdkafka negotiates the handshake version"},
    CT_OPT_END,
};

static const ct_opt_t plain_text_opts[] = {
    {"username", CT_OPT_STRING, offsetof(kafka_plain_cfg_t, username), NULL, 0, 0, NULL, "user",
     NULL, 0, CT_OPT_REQUIRED},
    {"password", CT_OPT_STRING, offsetof(kafka_plain_cfg_t, password), NULL, 0, 0, NULL, "password",
     NULL, 0, CT_OPT_REQUIRED | CT_OPT_SECRET},
    CT_OPT_END,
};

#define C(f) offsetof(kafka_config_t, f)
static const ct_opt_t auth_opts[] = {
    {"sasl", CT_OPT_SECTION, C(sasl.present) - C(sasl), NULL, 0, 0, NULL, "SASL authentication",
     sasl_opts, 0},
    {"plain_text", CT_OPT_SECTION, C(plain_text.present) - C(sasl), NULL, 0, 0, NULL,
     "deprecated: sasl with mechanism PLAIN", plain_text_opts, C(plain_text) - C(sasl)},
    {"tls", CT_OPT_SECTION, C(auth_tls.present) - C(sasl), NULL, 0, 0, NULL,
     "deprecated: the top-level tls", tls_opts, C(auth_tls) - C(sasl)},
    CT_OPT_END,
};

static const ct_opt_t metadata_opts[] = {
    {"refresh_interval", CT_OPT_DURATION, 0, "10m", 1e6, 3600e9, NULL,
     "how often cluster metadata is refreshed"},
    CT_OPT_END,
};

const ct_opt_t kafka_exporter_opts[] = {
    {"brokers", CT_OPT_STRINGS, C(brokers), "localhost:9092", 0, 0, NULL,
     "bootstrap brokers (host:port)"},
    {"client_id", CT_OPT_STRING, C(client_id), "otel-collector", 0, 0, NULL,
     "client id sent with every request"},
    {"protocol_version", CT_OPT_STRING, C(protocol_version), "2.1.0", 0, 0, NULL,
     "broker version assumed when the broker cannot tell (librdkafka negotiates)"},
    {"resolve_canonical_bootstrap_servers_only", CT_OPT_BOOL,
     C(resolve_canonical_bootstrap_servers_only), "false", 0, 0, NULL,
     "resolve the brokers and use their canonical (reverse-lookup) names at start"},
    {"traces", CT_OPT_SECTION, CT_OPT_NO_FLAG, NULL, 0, 0, NULL, "where spans go", traces_opts,
     C(signal[CT_SIGNAL_TRACES])},
    {"metrics", CT_OPT_SECTION, CT_OPT_NO_FLAG, NULL, 0, 0, NULL, "where metrics go", metrics_opts,
     C(signal[CT_SIGNAL_METRICS])},
    {"logs", CT_OPT_SECTION, CT_OPT_NO_FLAG, NULL, 0, 0, NULL, "where logs go", logs_opts,
     C(signal[CT_SIGNAL_LOGS])},
    {"topic", CT_OPT_STRING, C(topic), NULL, 0, 0, NULL,
     "deprecated: the topic of every signal that sets none"},
    {"encoding", CT_OPT_STRING, C(encoding), NULL, 0, 0, NULL,
     "deprecated: the encoding of every signal that sets none (otlp_proto|otlp_json)"},
    {"partition_traces_by_id", CT_OPT_BOOL, C(partition_traces_by_id), "false", 0, 0, NULL,
     "one record per trace, keyed by the hex trace id"},
    {"partition_metrics_by_resource_attributes", CT_OPT_BOOL,
     C(partition_metrics_by_resource_attributes), "false", 0, 0, NULL,
     "one record per resource, keyed by a hash of its sorted attributes"},
    {"partition_logs_by_resource_attributes", CT_OPT_BOOL, C(partition_logs_by_resource_attributes),
     "false", 0, 0, NULL, "one record per resource, keyed by a hash of its sorted attributes"},
    {"partition_logs_by_trace_id", CT_OPT_BOOL, C(partition_logs_by_trace_id), "false", 0, 0, NULL,
     "one record per trace id of the log records, keyed by it (none: no key)"},
    {"record_headers", CT_OPT_MAP, C(record_headers), NULL, 0, 0, NULL,
     "static headers added to every record"},
    {"include_metadata_keys", CT_OPT_STRINGS, C(include_metadata_keys), NULL, 0, 0, NULL,
     "client metadata keys copied into record headers"},
    {"conn_idle_timeout", CT_OPT_DURATION, C(conn_idle_timeout), "9m", 0, 0, NULL,
     "close broker connections idle this long (0: never)"},
    {"metadata", CT_OPT_SECTION, CT_OPT_NO_FLAG, NULL, 0, 0, NULL, "cluster metadata",
     metadata_opts, C(metadata_refresh_interval)},
    {"producer", CT_OPT_SECTION, CT_OPT_NO_FLAG, NULL, 0, 0, NULL, "producer settings",
     producer_opts, C(producer)},
    {"auth", CT_OPT_SECTION, CT_OPT_NO_FLAG, NULL, 0, 0, NULL, "authentication", auth_opts,
     C(sasl)},
    {"tls", CT_OPT_SECTION, C(tls.present), NULL, 0, 0, NULL,
     "TLS to the brokers (on when present, unless insecure: true)", tls_opts, C(tls)},
    {"librdkafka_properties", CT_OPT_MAP, C(librdkafka_properties), NULL, 0, 0, NULL,
     "cotel's own: any librdkafka property, applied last"},
    CT_EXPORTER_SETTINGS_OPTS(kafka_config_t, settings),
    CT_OPT_END,
};
#undef C

/* "2.1.0": two to four dot-separated numbers. Sets the first two. */
static int parse_version(const char *s, int *major, int *minor)
{
    int parts = 0;
    long v[4] = {0};

    while (*s && parts < 4) {
        char *end;

        if (!isdigit((unsigned char)*s))
            return -EINVAL;
        v[parts++] = strtol(s, &end, 10);
        s = end;
        if (*s == '.')
            s++;
        else if (*s != '\0')
            return -EINVAL;
    }
    if (*s != '\0' || parts < 2)
        return -EINVAL;
    *major = (int)v[0];
    *minor = (int)v[1];
    return 0;
}

static const kafka_tls_cfg_t *effective_tls(const kafka_config_t *c)
{
    return c->tls.present ? &c->tls : (c->auth_tls.present ? &c->auth_tls : NULL);
}

int kafka_config_validate(const void *cfg, const ct_node_t *node, ct_err_t *err)
{
    const kafka_config_t *c = cfg;
    const kafka_tls_cfg_t *tls = effective_tls(c);
    int major, minor;

    if (c->brokers.n == 0)
        return ct_errf(err, ct_node_get(node, "brokers"), "brokers: at least one is needed");
    if (!c->protocol_version || parse_version(c->protocol_version, &major, &minor) < 0)
        return ct_errf(err, ct_node_get(node, "protocol_version"),
                       "protocol_version: '%s' is not a Kafka version such as 2.1.0",
                       c->protocol_version ? c->protocol_version : "");
    if (c->encoding && strcmp(c->encoding, "otlp_proto") != 0 &&
        strcmp(c->encoding, "otlp_json") != 0)
        return ct_errf(err, ct_node_get(node, "encoding"),
                       "encoding: '%s' is not one of otlp_proto|otlp_json", c->encoding);
    if (c->topic && c->topic[0] == '\0')
        return ct_errf(err, ct_node_get(node, "topic"), "topic: must not be empty");
    for (int s = 0; s < CT_SIGNAL_COUNT; s++) {
        if (!c->signal[s].topic || c->signal[s].topic[0] == '\0')
            return ct_errf(err, ct_node_get(node, ct_signal_name((ct_signal_t)s)),
                           "%s::topic: must not be empty", ct_signal_name((ct_signal_t)s));
    }
    if (c->partition_logs_by_resource_attributes && c->partition_logs_by_trace_id)
        return ct_errf(err, ct_node_get(node, "partition_logs_by_trace_id"),
                       "partition_logs_by_resource_attributes and partition_logs_by_trace_id "
                       "exclude each other");
    if (c->tls.present && c->auth_tls.present)
        return ct_errf(err, ct_node_get(node, "tls"),
                       "tls and auth::tls are the same setting: keep only tls");
    if (c->sasl.present && c->plain_text.present)
        return ct_errf(err, ct_node_get(node, "auth"),
                       "auth::sasl and auth::plain_text exclude each other");
    if (tls && tls->server_name_override)
        return ct_errf(err, ct_node_get(node, "tls"),
                       "tls::server_name_override is not supported by librdkafka %s",
                       rd_kafka_version_str());
    if (tls && (tls->cert_file || tls->cert_pem) && !(tls->key_file || tls->key_pem))
        return ct_errf(err, ct_node_get(node, "tls"),
                       "tls: a client certificate needs its key (key_file or key_pem)");
    if (c->settings.timeout != 0 && c->settings.timeout <= c->producer.linger)
        return ct_errf(err, ct_node_get(node, "timeout"),
                       "timeout (%.3fs) must be longer than producer::linger (%.3fs)",
                       (double)c->settings.timeout / 1e9, (double)c->producer.linger / 1e9);

    /* librdkafka judges its own properties: build once, without resolving names. */
    rd_kafka_conf_t *conf = kafka_config_build(c, node, NULL, err);
    if (!conf)
        return -EINVAL;
    rd_kafka_conf_destroy(conf);
    return 0;
}

void kafka_config_signals(const kafka_config_t *c, const ct_node_t *node,
                          kafka_signal_plan_t out[CT_SIGNAL_COUNT])
{
    for (int s = 0; s < CT_SIGNAL_COUNT; s++) {
        const ct_node_t *sig = ct_node_get(node, ct_signal_name((ct_signal_t)s));
        const kafka_signal_cfg_t *sc = &c->signal[s];

        /* The deprecated top-level keys replace only defaults, as in the Go exporter. */
        out[s].topic = sc->topic;
        if (c->topic && !ct_node_get(sig, "topic"))
            out[s].topic = c->topic;
        out[s].encoding = (kafka_encoding_t)sc->encoding;
        if (c->encoding && !ct_node_get(sig, "encoding"))
            out[s].encoding =
                strcmp(c->encoding, "otlp_json") == 0 ? KAFKA_ENCODING_JSON : KAFKA_ENCODING_PROTO;
        out[s].topic_from_metadata_key =
            sc->topic_from_metadata_key && sc->topic_from_metadata_key[0]
                ? sc->topic_from_metadata_key
                : NULL;
        out[s].partition = KAFKA_PARTITION_NONE;
    }
    if (c->partition_traces_by_id)
        out[CT_SIGNAL_TRACES].partition = KAFKA_PARTITION_TRACE_ID;
    if (c->partition_metrics_by_resource_attributes)
        out[CT_SIGNAL_METRICS].partition = KAFKA_PARTITION_RESOURCE;
    if (c->partition_logs_by_resource_attributes)
        out[CT_SIGNAL_LOGS].partition = KAFKA_PARTITION_RESOURCE;
    if (c->partition_logs_by_trace_id)
        out[CT_SIGNAL_LOGS].partition = KAFKA_PARTITION_TRACE_ID;
}

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, const ct_node_t *at,
                    ct_err_t *err)
{
    char why[512];

    if (rd_kafka_conf_set(conf, key, value, why, sizeof(why)) != RD_KAFKA_CONF_OK)
        return ct_errf(err, at, "librdkafka property %s: %s", key, why);
    return 0;
}

static int conf_setf(rd_kafka_conf_t *conf, const char *key, const ct_node_t *at, ct_err_t *err,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int conf_setf(rd_kafka_conf_t *conf, const char *key, const ct_node_t *at, ct_err_t *err,
                     const char *fmt, ...)
{
    char value[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(value, sizeof(value), fmt, ap);
    va_end(ap);
    return conf_set(conf, key, value, at, err);
}

/* Splits "host:port" or "[v6]:port"; the port may be absent. */
static void split_host_port(const char *s, char *host, size_t hostlen, const char **port)
{
    const char *colon;

    *port = NULL;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        size_t n = close ? (size_t)(close - s - 1) : strlen(s + 1);

        snprintf(host, hostlen, "%.*s", (int)n, s + 1);
        if (close && close[1] == ':')
            *port = close + 2;
        return;
    }
    colon = strrchr(s, ':');
    if (colon && strchr(s, ':') == colon) {
        snprintf(host, hostlen, "%.*s", (int)(colon - s), s);
        *port = colon + 1;
        return;
    }
    snprintf(host, hostlen, "%s", s);
}

/* Whether the comma-separated list in b holds entry. */
static bool list_has(const ct_buf_t *b, const char *entry)
{
    size_t n = strlen(entry), i = 0;

    while (i < b->len) {
        const uint8_t *comma = memchr(b->data + i, ',', b->len - i);
        size_t end = comma ? (size_t)(comma - b->data) : b->len;

        if (end - i == n && memcmp(b->data + i, entry, n) == 0)
            return true;
        i = end + 1;
    }
    return false;
}

/*
 * The brokers with each name replaced by the canonical names its addresses
 * reverse-resolve to (a name that does not resolve is kept as written).
 */
static int canonical_brokers(const ct_strlist_t *brokers, const char *name, ct_buf_t *out)
{
    int rc = 0;

    for (size_t i = 0; i < brokers->n && rc == 0; i++) {
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
        char host[256];
        const char *port;
        size_t before = out->len;
        int g;

        split_host_port(brokers->v[i], host, sizeof(host), &port);
        g = getaddrinfo(host, NULL, &hints, &res);
        for (struct addrinfo *a = g == 0 ? res : NULL; a && rc == 0; a = a->ai_next) {
            char canon[NI_MAXHOST];

            if (getnameinfo(a->ai_addr, a->ai_addrlen, canon, sizeof(canon), NULL, 0,
                            NI_NAMEREQD) != 0)
                continue;
            char entry[NI_MAXHOST + 16];
            snprintf(entry, sizeof(entry), "%s%s%s", canon, port ? ":" : "", port ? port : "");
            /* Each name once, though it has IPv4 and IPv6 addresses. */
            if (!list_has(out, entry))
                rc = ct_buf_printf(out, "%s%s", out->len ? "," : "", entry);
        }
        if (res)
            freeaddrinfo(res);
        if (out->len == before && rc == 0) {
            ct_log_warn(name,
                        "cannot resolve broker %s to a canonical name (%s): using it as "
                        "written",
                        brokers->v[i], g ? gai_strerror(g) : "no reverse name");
            rc = ct_buf_printf(out, "%s%s", out->len ? "," : "", brokers->v[i]);
        }
    }
    return rc;
}

static int set_bootstrap(rd_kafka_conf_t *conf, const kafka_config_t *c, const ct_node_t *node,
                         const char *name, ct_err_t *err)
{
    ct_buf_t list = {0};
    int rc = 0;

    if (name && c->resolve_canonical_bootstrap_servers_only) {
        rc = canonical_brokers(&c->brokers, name, &list);
    } else {
        for (size_t i = 0; i < c->brokers.n && rc == 0; i++)
            rc = ct_buf_printf(&list, "%s%s", i ? "," : "", c->brokers.v[i]);
    }
    if (rc == 0)
        rc = ct_buf_putc(&list, '\0');
    if (rc < 0) {
        rc = ct_errf(err, node, "out of memory");
        goto out;
    }
    rc = conf_set(conf, "bootstrap.servers", (const char *)list.data, ct_node_get(node, "brokers"),
                  err);
    if (rc == 0 && name)
        ct_log_info(name, "bootstrap brokers: %s", (const char *)list.data);

out:
    ct_buf_free(&list);
    return rc;
}

static int set_producer(rd_kafka_conf_t *conf, const kafka_config_t *c, const ct_node_t *node,
                        ct_err_t *err)
{
    static const char *const codecs[] = {"none", "gzip", "snappy", "lz4", "zstd"};
    const kafka_producer_cfg_t *p = &c->producer;
    const ct_node_t *at = ct_node_get(node, "producer");
    int64_t kbytes;
    int rc = 0;

    if (p->required_acks == KAFKA_ACKS_NONE)
        rc = conf_set(conf, "acks", "0", at, err);
    else if (p->required_acks == KAFKA_ACKS_LEADER)
        rc = conf_set(conf, "acks", "1", at, err);
    else
        rc = conf_set(conf, "acks", "all", at, err);
    /* Waiting for every replica is asked for durability: no duplicates or reordering either. */
    if (rc == 0 && p->required_acks >= KAFKA_ACKS_ALL)
        rc = conf_set(conf, "enable.idempotence", "true", at, err);
    if (rc == 0)
        rc = conf_set(conf, "compression.codec", codecs[p->compression], at, err);
    if (rc == 0 && p->compression_level != -1)
        rc = conf_setf(conf, "compression.level", at, err, "%lld", (long long)p->compression_level);
    if (rc == 0 && p->flush_max_messages > 0)
        rc = conf_setf(conf, "batch.num.messages", at, err, "%lld",
                       (long long)p->flush_max_messages);
    if (rc == 0)
        rc = conf_setf(conf, "linger.ms", at, err, "%.3f", (double)p->linger / 1e6);
    if (rc == 0)
        rc = conf_setf(conf, "message.max.bytes", at, err, "%lld", (long long)p->max_message_bytes);
    if (rc == 0)
        rc = conf_setf(conf, "batch.size", at, err, "%lld", (long long)p->max_message_bytes);
    /*
     * Records waiting for delivery are bounded: 64 MiB, or four of the
     * largest records. A full producer queue makes senders wait (backpressure).
     */
    kbytes = p->max_message_bytes / 1024 * 4 + 1;
    if (rc == 0)
        rc = conf_setf(conf, "queue.buffering.max.kbytes", at, err, "%lld",
                       (long long)(kbytes > 65536 ? kbytes : 65536));
    return rc;
}

static int set_security(rd_kafka_conf_t *conf, const kafka_config_t *c, const ct_node_t *node,
                        ct_err_t *err)
{
    static const char *const mechanisms[] = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"};
    const kafka_tls_cfg_t *tls = effective_tls(c);
    const ct_node_t *at = ct_node_get(node, tls == &c->tls ? "tls" : "auth");
    bool use_tls = tls && !tls->insecure;
    bool use_sasl = c->sasl.present || c->plain_text.present;
    int rc;

    rc = conf_set(conf, "security.protocol",
                  use_sasl ? (use_tls ? "sasl_ssl" : "sasl_plaintext")
                           : (use_tls ? "ssl" : "plaintext"),
                  at, err);
    if (rc == 0 && c->sasl.present) {
        rc = conf_set(conf, "sasl.mechanisms", mechanisms[c->sasl.mechanism], at, err);
        if (rc == 0)
            rc = conf_set(conf, "sasl.username", c->sasl.username, at, err);
        if (rc == 0)
            rc = conf_set(conf, "sasl.password", c->sasl.password, at, err);
    } else if (rc == 0 && c->plain_text.present) {
        rc = conf_set(conf, "sasl.mechanisms", "PLAIN", at, err);
        if (rc == 0)
            rc = conf_set(conf, "sasl.username", c->plain_text.username, at, err);
        if (rc == 0)
            rc = conf_set(conf, "sasl.password", c->plain_text.password, at, err);
    }
    if (rc != 0 || !use_tls)
        return rc;

    struct {
        const char *key, *value;
    } files[] = {
        {"ssl.ca.location", tls->ca_file},
        {"ssl.ca.pem", tls->ca_pem},
        {"ssl.certificate.location", tls->cert_file},
        {"ssl.certificate.pem", tls->cert_pem},
        {"ssl.key.location", tls->key_file},
        {"ssl.key.pem", tls->key_pem},
    };
    for (size_t i = 0; i < CT_ARRAY_LEN(files) && rc == 0; i++) {
        if (files[i].value)
            rc = conf_set(conf, files[i].key, files[i].value, at, err);
    }
    if (rc == 0 && tls->insecure_skip_verify) {
        rc = conf_set(conf, "enable.ssl.certificate.verification", "false", at, err);
        if (rc == 0)
            rc = conf_set(conf, "ssl.endpoint.identification.algorithm", "none", at, err);
    }
    return rc;
}

rd_kafka_conf_t *kafka_config_build(const kafka_config_t *c, const ct_node_t *node,
                                    const char *name, ct_err_t *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const ct_node_t *props = ct_node_get(node, "librdkafka_properties");
    int major = 0, minor = 0, rc;

    if (!conf) {
        ct_errf(err, node, "out of memory");
        return NULL;
    }
    rc = set_bootstrap(conf, c, node, name, err);
    if (rc == 0)
        rc = conf_set(conf, "client.id", c->client_id ? c->client_id : "", node, err);

    /*
     * librdkafka asks the broker which protocol versions it speaks; the
     * configured version is the fallback when it cannot (brokers before 0.10).
     */
    if (rc == 0 && parse_version(c->protocol_version, &major, &minor) == 0 && major == 0 &&
        minor < 10)
        rc = conf_set(conf, "api.version.request", "false", node, err);
    if (rc == 0)
        rc = conf_set(conf, "broker.version.fallback", c->protocol_version,
                      ct_node_get(node, "protocol_version"), err);

    if (rc == 0)
        rc = set_producer(conf, c, node, err);
    /* A record not delivered within one attempt's timeout fails that attempt; the queue retries. */
    if (rc == 0)
        rc = conf_setf(conf, "message.timeout.ms", ct_node_get(node, "timeout"), err, "%llu",
                       (unsigned long long)(c->settings.timeout / 1000000));
    /* Sarama's partitioner, as the Go exporter uses: the same key lands in the same partition. */
    if (rc == 0)
        rc = conf_set(conf, "partitioner", "fnv1a_random", node, err);
    if (rc == 0)
        rc = conf_setf(conf, "topic.metadata.refresh.interval.ms", node, err, "%llu",
                       (unsigned long long)(c->metadata_refresh_interval / 1000000));
    if (rc == 0)
        rc = conf_setf(conf, "connections.max.idle.ms", ct_node_get(node, "conn_idle_timeout"), err,
                       "%llu", (unsigned long long)(c->conn_idle_timeout / 1000000));
    /* Reconnect within two seconds of a broker's return, so an outage ends promptly. */
    if (rc == 0)
        rc = conf_set(conf, "reconnect.backoff.max.ms", "2000", node, err);
    if (rc == 0)
        rc = set_security(conf, c, node, err);

    for (size_t i = 0; i < c->librdkafka_properties.n && rc == 0; i++)
        rc = conf_set(conf, c->librdkafka_properties.k[i], c->librdkafka_properties.v[i],
                      ct_node_get(props, c->librdkafka_properties.k[i]), err);

    if (rc != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}
