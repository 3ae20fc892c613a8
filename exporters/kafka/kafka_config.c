/*
 * The kafka exporter's keys, declared once, and their translation into
 * librdkafka producer properties. The keys follow the OpenTelemetry
 * Collector's kafka exporter; librdkafka_properties passes anything else on.
 * The keys it shares with the kafka receiver live in core/kafka_client.c.
 */
#include "kafka_config.h"

#include <errno.h>
#include <string.h>

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

/* The shared TLS keys, and server_name_override: refused, but named in the error. */
static const ct_opt_t tls_opts[] = {
    CT_KAFKA_TLS_OPTS,
    {"server_name_override", CT_OPT_STRING, offsetof(ct_kafka_tls_cfg_t, server_name_override),
     NULL, 0, 0, NULL, "not supported by this build's librdkafka: refused when set"},
    CT_OPT_END,
};

static const ct_opt_t auth_opts[] = {
    CT_KAFKA_AUTH_OPTS(tls_opts),
    CT_OPT_END,
};

static const ct_opt_t metadata_opts[] = {
    {"refresh_interval", CT_OPT_DURATION, 0, "10m", 1e6, 3600e9, NULL,
     "how often cluster metadata is refreshed"},
    CT_OPT_END,
};

#define C(f) offsetof(kafka_config_t, f)
const ct_opt_t kafka_exporter_opts[] = {
    CT_KAFKA_CLIENT_OPTS(kafka_config_t),
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
     C(security)},
    {"tls", CT_OPT_SECTION, C(security.tls.present), NULL, 0, 0, NULL,
     "TLS to the brokers (on when present, unless insecure: true)", tls_opts, C(security.tls)},
    {"librdkafka_properties", CT_OPT_MAP, C(librdkafka_properties), NULL, 0, 0, NULL,
     "cotel's own: any librdkafka property, applied last"},
    CT_EXPORTER_SETTINGS_OPTS(kafka_config_t, settings),
    CT_OPT_END,
};
#undef C

int kafka_config_validate(const void *cfg, const ct_node_t *node, ct_err_t *err)
{
    const kafka_config_t *c = cfg;
    int rc;

    if ((rc = ct_kafka_check_client(&c->brokers, c->protocol_version, node, err)) != 0)
        return rc;
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
    if ((rc = ct_kafka_check_security(&c->security, node, err)) != 0)
        return rc;
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

static int set_producer(rd_kafka_conf_t *conf, const kafka_config_t *c, const ct_node_t *node,
                        ct_err_t *err)
{
    static const char *const codecs[] = {"none", "gzip", "snappy", "lz4", "zstd"};
    const kafka_producer_cfg_t *p = &c->producer;
    const ct_node_t *at = ct_node_get(node, "producer");
    int64_t kbytes;
    int rc = 0;

    if (p->required_acks == KAFKA_ACKS_NONE)
        rc = ct_kafka_conf_set(conf, "acks", "0", at, err);
    else if (p->required_acks == KAFKA_ACKS_LEADER)
        rc = ct_kafka_conf_set(conf, "acks", "1", at, err);
    else
        rc = ct_kafka_conf_set(conf, "acks", "all", at, err);
    /* Waiting for every replica is asked for durability: no duplicates or reordering either. */
    if (rc == 0 && p->required_acks >= KAFKA_ACKS_ALL)
        rc = ct_kafka_conf_set(conf, "enable.idempotence", "true", at, err);
    if (rc == 0)
        rc = ct_kafka_conf_set(conf, "compression.codec", codecs[p->compression], at, err);
    if (rc == 0 && p->compression_level != -1)
        rc = ct_kafka_conf_setf(conf, "compression.level", at, err, "%lld",
                                (long long)p->compression_level);
    if (rc == 0 && p->flush_max_messages > 0)
        rc = ct_kafka_conf_setf(conf, "batch.num.messages", at, err, "%lld",
                                (long long)p->flush_max_messages);
    if (rc == 0)
        rc = ct_kafka_conf_setf(conf, "linger.ms", at, err, "%.3f", (double)p->linger / 1e6);
    if (rc == 0)
        rc = ct_kafka_conf_setf(conf, "message.max.bytes", at, err, "%lld",
                                (long long)p->max_message_bytes);
    if (rc == 0)
        rc = ct_kafka_conf_setf(conf, "batch.size", at, err, "%lld",
                                (long long)p->max_message_bytes);
    /*
     * Records waiting for delivery are bounded: 64 MiB, or four of the
     * largest records. A full producer queue makes senders wait (backpressure).
     */
    kbytes = p->max_message_bytes / 1024 * 4 + 1;
    if (rc == 0)
        rc = ct_kafka_conf_setf(conf, "queue.buffering.max.kbytes", at, err, "%lld",
                                (long long)(kbytes > 65536 ? kbytes : 65536));
    return rc;
}

rd_kafka_conf_t *kafka_config_build(const kafka_config_t *c, const ct_node_t *node,
                                    const char *name, ct_err_t *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    bool canonical = name && c->resolve_canonical_bootstrap_servers_only;
    int rc;

    if (!conf) {
        ct_errf(err, node, "out of memory");
        return NULL;
    }
    rc = ct_kafka_conf_bootstrap(conf, &c->brokers, canonical, name, node, err);
    if (rc == 0)
        rc = ct_kafka_conf_client(conf, c->client_id, c->protocol_version, node, err);
    if (rc == 0)
        rc = set_producer(conf, c, node, err);
    /* A record not delivered within one attempt's timeout fails that attempt; the queue retries. */
    if (rc == 0)
        rc = ct_kafka_conf_setf(conf, "message.timeout.ms", ct_node_get(node, "timeout"), err,
                                "%llu", (unsigned long long)(c->settings.timeout / 1000000));
    /* Sarama's partitioner, as the Go exporter uses: the same key lands in the same partition. */
    if (rc == 0)
        rc = ct_kafka_conf_set(conf, "partitioner", "fnv1a_random", node, err);
    if (rc == 0)
        rc = ct_kafka_conf_setf(conf, "topic.metadata.refresh.interval.ms", node, err, "%llu",
                                (unsigned long long)(c->metadata_refresh_interval / 1000000));
    if (rc == 0)
        rc = ct_kafka_conf_setf(conf, "connections.max.idle.ms",
                                ct_node_get(node, "conn_idle_timeout"), err, "%llu",
                                (unsigned long long)(c->conn_idle_timeout / 1000000));
    if (rc == 0)
        rc = ct_kafka_conf_security(conf, &c->security, node, err);
    if (rc == 0)
        rc = ct_kafka_conf_properties(conf, &c->librdkafka_properties, node, err);

    if (rc != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}
