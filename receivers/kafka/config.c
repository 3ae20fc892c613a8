/*
 * The kafka receiver's keys, declared once, and their translation into
 * librdkafka consumer properties. The keys follow the OpenTelemetry
 * Collector's kafka receiver; librdkafka_properties passes anything else on.
 * The keys it shares with the kafka exporter live in core/kafka_client.c.
 */
#include "kafka_receiver.h"

#include <errno.h>
#include <stddef.h>

#define S(f) offsetof(kr_signal_cfg_t, f)
/* clang-format off */
#define SIGNAL_OPTS(default_topic)                                                      \
    {                                                                                   \
        {"topics", CT_OPT_STRINGS, S(topics), default_topic, 0, 0, NULL,                \
         "topics to consume (\"^...\": a regular expression)"},                         \
        {"topic", CT_OPT_STRING, S(topic), NULL, 0, 0, NULL, "deprecated: one topic"},  \
        {"encoding", CT_OPT_ENUM, S(encoding), "otlp_proto", 0, 0,                      \
         "otlp_proto|otlp_json", "record value format"},                                \
        CT_OPT_END,                                                                     \
    }
/* clang-format on */

static const ct_opt_t traces_opts[] = SIGNAL_OPTS("otlp_spans");
static const ct_opt_t metrics_opts[] = SIGNAL_OPTS("otlp_metrics");
static const ct_opt_t logs_opts[] = SIGNAL_OPTS("otlp_logs");
#undef S

static const ct_opt_t autocommit_opts[] = {
    {"enable", CT_OPT_BOOL, offsetof(kr_autocommit_cfg_t, enable), "true", 0, 0, NULL,
     "commit marked offsets every interval (false: cotel commits them itself at once)"},
    {"interval", CT_OPT_DURATION, offsetof(kr_autocommit_cfg_t, interval), "1s", 1e6, 3600e9, NULL,
     "how often marked offsets are committed"},
    CT_OPT_END,
};

static const ct_opt_t marking_opts[] = {
    {"after", CT_OPT_BOOL, offsetof(kr_marking_cfg_t, after), "false", 0, 0, NULL,
     "mark a record only once the pipeline accepted it (false: before handing it over)"},
    {"on_error", CT_OPT_BOOL, offsetof(kr_marking_cfg_t, on_error), "false", 0, 0, NULL,
     "with after: a record refused for now may be given up and marked"},
    {"on_permanent_error", CT_OPT_BOOL, offsetof(kr_marking_cfg_t, on_permanent_error), "false", 0,
     0, NULL, "with after: a record refused for good is marked (default: on_error)"},
    CT_OPT_END,
};

#define B(f) offsetof(kr_backoff_cfg_t, f)
static const ct_opt_t backoff_opts[] = {
    {"enabled", CT_OPT_BOOL, B(enabled), "true", 0, 0, NULL,
     "wait longer after each refusal (false: retry every initial_interval)"},
    {"initial_interval", CT_OPT_DURATION, B(initial_interval), "100ms", 1e6, 3600e9, NULL,
     "wait after the first refusal"},
    {"randomization_factor", CT_OPT_DOUBLE, B(randomization_factor), "0.5", 0, 1, NULL,
     "jitter: each wait is spread by this fraction"},
    {"multiplier", CT_OPT_DOUBLE, B(multiplier), "1.5", 1, 100, NULL, "growth of the wait"},
    {"max_interval", CT_OPT_DURATION, B(max_interval), "5s", 1e6, 3600e9, NULL, "longest wait"},
    {"max_elapsed_time", CT_OPT_DURATION, B(max_elapsed_time), "0", 0, 0, NULL,
     "give a record up after this long, when message_marking allows it (0: never)"},
    CT_OPT_END,
};
#undef B

static const ct_opt_t metadata_opts[] = {
    {"full", CT_OPT_BOOL, offsetof(kr_metadata_cfg_t, full), "true", 0, 0, NULL,
     "no effect (as in the Go receiver): metadata covers the consumed topics"},
    {"refresh_interval", CT_OPT_DURATION, offsetof(kr_metadata_cfg_t, refresh_interval), "10m", 1e6,
     3600e9, NULL, "how often cluster metadata is refreshed"},
    CT_OPT_END,
};

#define C(f) offsetof(kafka_receiver_config_t, f)
const ct_opt_t kafka_receiver_opts[] = {
    CT_KAFKA_CLIENT_OPTS(kafka_receiver_config_t),
    {"group_id", CT_OPT_STRING, C(group_id), "otel-collector", 0, 0, NULL,
     "consumer group: its members share the partitions and the committed offsets"},
    {"group_instance_id", CT_OPT_STRING, C(group_instance_id), NULL, 0, 0, NULL,
     "static group membership: keeps the partitions across restarts"},
    {"rack_id", CT_OPT_STRING, C(rack_id), NULL, 0, 0, NULL,
     "this client's rack, for fetching from the closest replica"},
    {"initial_offset", CT_OPT_ENUM, C(initial_offset), "latest", 0, 0, "latest|earliest",
     "where to start in a partition the group has no committed offset for"},
    {"session_timeout", CT_OPT_DURATION, C(session_timeout), "10s", 1e6, 3600e9, NULL,
     "a member silent this long leaves the group"},
    {"heartbeat_interval", CT_OPT_DURATION, C(heartbeat_interval), "3s", 1e6, 3600e9, NULL,
     "time between heartbeats to the group coordinator"},
    {"group_rebalance_strategy", CT_OPT_ENUM, C(group_rebalance_strategy), "cooperative-sticky", 0,
     0, "range|roundrobin|sticky|cooperative-sticky",
     "partition assignment (sticky is served by cooperative-sticky)"},
    {"min_fetch_size", CT_OPT_INT, C(min_fetch_size), "1", 1, 1e8, NULL,
     "least bytes a fetch waits for (up to max_fetch_wait)"},
    {"default_fetch_size", CT_OPT_INT, C(default_fetch_size), "1048576", 1, 1e9, NULL,
     "bytes fetched per partition and request (grows for larger records)"},
    {"max_partition_fetch_size", CT_OPT_INT, C(max_partition_fetch_size), "1048576", 1, 1e9, NULL,
     "the newer name of default_fetch_size; wins when both are set"},
    {"max_fetch_size", CT_OPT_INT, C(max_fetch_size), "0", 0, 2147483135, NULL,
     "most bytes of one fetch response (0: librdkafka's default, 50 MiB)"},
    {"max_fetch_wait", CT_OPT_DURATION, C(max_fetch_wait), "250ms", 0, 300e9, NULL,
     "longest time a broker waits for min_fetch_size"},
    {"autocommit", CT_OPT_SECTION, CT_OPT_NO_FLAG, NULL, 0, 0, NULL, "committing marked offsets",
     autocommit_opts, C(autocommit)},
    {"message_marking", CT_OPT_SECTION, CT_OPT_NO_FLAG, NULL, 0, 0, NULL,
     "when a record's offset is marked as consumed", marking_opts, C(marking)},
    {"error_backoff", CT_OPT_SECTION, CT_OPT_NO_FLAG, NULL, 0, 0, NULL,
     "waits between retries of a record the pipeline refused", backoff_opts, C(backoff)},
    {"traces", CT_OPT_SECTION, CT_OPT_NO_FLAG, NULL, 0, 0, NULL, "where spans come from",
     traces_opts, C(signal[CT_SIGNAL_TRACES])},
    {"metrics", CT_OPT_SECTION, CT_OPT_NO_FLAG, NULL, 0, 0, NULL, "where metrics come from",
     metrics_opts, C(signal[CT_SIGNAL_METRICS])},
    {"logs", CT_OPT_SECTION, CT_OPT_NO_FLAG, NULL, 0, 0, NULL, "where logs come from", logs_opts,
     C(signal[CT_SIGNAL_LOGS])},
    {"metadata", CT_OPT_SECTION, CT_OPT_NO_FLAG, NULL, 0, 0, NULL, "cluster metadata",
     metadata_opts, C(metadata)},
    {"auth", CT_OPT_SECTION, CT_OPT_NO_FLAG, NULL, 0, 0, NULL, "authentication", ct_kafka_auth_opts,
     C(security)},
    {"tls", CT_OPT_SECTION, C(security.tls.present), NULL, 0, 0, NULL,
     "TLS to the brokers (on when present, unless insecure: true)", ct_kafka_tls_opts,
     C(security.tls)},
    {"librdkafka_properties", CT_OPT_MAP, C(librdkafka_properties), NULL, 0, 0, NULL,
     "cotel's own: any librdkafka consumer property, applied last"},
    CT_OPT_END,
};
#undef C

const ct_strlist_t *kafka_receiver_topics(const kafka_receiver_config_t *c, ct_signal_t sig,
                                          ct_strlist_t *one)
{
    const kr_signal_cfg_t *sc = &c->signal[sig];

    if (sc->topic == NULL)
        return &sc->topics;
    one->n = 1;
    one->v = (char **)&sc->topic;
    return one;
}

static int validate_signals(const kafka_receiver_config_t *c, const ct_node_t *node, ct_err_t *err)
{
    for (int s = 0; s < CT_SIGNAL_COUNT; s++) {
        const char *name = ct_signal_name((ct_signal_t)s);
        const ct_node_t *sn = ct_node_get(node, name);
        const kr_signal_cfg_t *sc = &c->signal[s];
        ct_strlist_t one;
        const ct_strlist_t *topics;

        if (sc->topic != NULL && ct_node_get(sn, "topics") != NULL)
            return ct_errf(err, sn, "both %s::topic and %s::topics cannot be set", name, name);
        topics = kafka_receiver_topics(c, (ct_signal_t)s, &one);
        if (topics->n == 0)
            return ct_errf(err, sn, "%s::topics: at least one is needed", name);
        for (size_t i = 0; i < topics->n; i++) {
            regex_t re;

            if (topics->v[i][0] == '\0')
                return ct_errf(err, sn, "%s: a topic must not be empty", name);
            if (topics->v[i][0] != '^')
                continue;
            if (regcomp(&re, topics->v[i], REG_EXTENDED | REG_NOSUB) != 0)
                return ct_errf(err, sn, "%s: '%s' is not a valid regular expression", name,
                               topics->v[i]);
            regfree(&re);
        }
    }
    return 0;
}

int kafka_receiver_validate(const void *cfg, const ct_node_t *node, ct_err_t *err)
{
    const kafka_receiver_config_t *c = cfg;
    rd_kafka_conf_t *conf;
    int rc;

    if ((rc = ct_kafka_check_client(&c->brokers, c->protocol_version, node, err)) != 0)
        return rc;
    if (!c->group_id || c->group_id[0] == '\0')
        return ct_errf(err, ct_node_get(node, "group_id"), "group_id: must not be empty");
    if (c->heartbeat_interval >= c->session_timeout)
        return ct_errf(err, ct_node_get(node, "heartbeat_interval"),
                       "heartbeat_interval must be shorter than session_timeout");
    if (c->max_fetch_size != 0 && c->max_fetch_size < c->min_fetch_size)
        return ct_errf(err, ct_node_get(node, "max_fetch_size"),
                       "max_fetch_size must be at least min_fetch_size");
    if (c->backoff.max_interval < c->backoff.initial_interval)
        return ct_errf(err, ct_node_get(node, "error_backoff"),
                       "error_backoff::max_interval must be at least initial_interval");
    if ((rc = validate_signals(c, node, err)) != 0)
        return rc;
    if ((rc = ct_kafka_check_security(&c->security, node, err)) != 0)
        return rc;
    /* The receiver stores offsets itself (message_marking): librdkafka must not. */
    if (ct_kvlist_get(&c->librdkafka_properties, "enable.auto.offset.store"))
        return ct_errf(err, ct_node_get(node, "librdkafka_properties"),
                       "librdkafka_properties: enable.auto.offset.store is the receiver's own "
                       "(see message_marking)");

    /* librdkafka judges its own properties. */
    conf = kafka_receiver_conf_build(c, node, err);
    if (!conf)
        return -EINVAL;
    rd_kafka_conf_destroy(conf);
    return 0;
}

static int set_client(rd_kafka_conf_t *conf, const kafka_receiver_config_t *c,
                      const ct_node_t *node, ct_err_t *err)
{
    int rc;

    rc = ct_kafka_conf_bootstrap(conf, &c->brokers, false, NULL, node, err);
    if (rc == 0)
        rc = ct_kafka_conf_client(conf, c->client_id, c->protocol_version, node, err);
    if (rc == 0 && c->rack_id && c->rack_id[0])
        rc = ct_kafka_conf_set(conf, "client.rack", c->rack_id, ct_node_get(node, "rack_id"), err);
    if (rc == 0)
        rc = ct_kafka_conf_setf(conf, "topic.metadata.refresh.interval.ms", node, err, "%llu",
                                (unsigned long long)(c->metadata.refresh_interval / 1000000));
    return rc;
}

static int set_group(rd_kafka_conf_t *conf, const kafka_receiver_config_t *c, const ct_node_t *node,
                     ct_err_t *err)
{
    static const char *const strategies[] = {"range", "roundrobin", "cooperative-sticky",
                                             "cooperative-sticky"};
    int rc;

    rc = ct_kafka_conf_set(conf, "group.id", c->group_id, ct_node_get(node, "group_id"), err);
    if (rc == 0 && c->group_instance_id && c->group_instance_id[0])
        rc = ct_kafka_conf_set(conf, "group.instance.id", c->group_instance_id,
                               ct_node_get(node, "group_instance_id"), err);
    if (rc == 0)
        rc = ct_kafka_conf_set(conf, "auto.offset.reset",
                               c->initial_offset == KR_OFFSET_EARLIEST ? "earliest" : "latest",
                               ct_node_get(node, "initial_offset"), err);
    if (rc == 0)
        rc = ct_kafka_conf_setf(conf, "session.timeout.ms", ct_node_get(node, "session_timeout"),
                                err, "%llu", (unsigned long long)(c->session_timeout / 1000000));
    if (rc == 0)
        rc = ct_kafka_conf_setf(conf, "heartbeat.interval.ms",
                                ct_node_get(node, "heartbeat_interval"), err, "%llu",
                                (unsigned long long)(c->heartbeat_interval / 1000000));
    if (rc == 0)
        rc = ct_kafka_conf_set(conf, "partition.assignment.strategy",
                               strategies[c->group_rebalance_strategy],
                               ct_node_get(node, "group_rebalance_strategy"), err);

    /*
     * The receiver decides which offsets are done (message_marking) and
     * stores them itself; librdkafka only commits what was stored.
     */
    if (rc == 0)
        rc = ct_kafka_conf_set(conf, "enable.auto.offset.store", "false", node, err);
    if (rc == 0)
        rc = ct_kafka_conf_set(conf, "enable.auto.commit", c->autocommit.enable ? "true" : "false",
                               ct_node_get(node, "autocommit"), err);
    if (rc == 0)
        rc =
            ct_kafka_conf_setf(conf, "auto.commit.interval.ms", ct_node_get(node, "autocommit"),
                               err, "%llu", (unsigned long long)(c->autocommit.interval / 1000000));
    return rc;
}

static int set_fetch(rd_kafka_conf_t *conf, const kafka_receiver_config_t *c, const ct_node_t *node,
                     ct_err_t *err)
{
    int64_t per_partition = c->default_fetch_size;
    int rc;

    if (ct_node_get(node, "max_partition_fetch_size"))
        per_partition = c->max_partition_fetch_size;
    rc = ct_kafka_conf_setf(conf, "fetch.min.bytes", ct_node_get(node, "min_fetch_size"), err,
                            "%lld", (long long)c->min_fetch_size);
    if (rc == 0)
        rc = ct_kafka_conf_setf(conf, "max.partition.fetch.bytes", node, err, "%lld",
                                (long long)per_partition);
    if (rc == 0 && c->max_fetch_size > 0)
        rc = ct_kafka_conf_setf(conf, "fetch.max.bytes", ct_node_get(node, "max_fetch_size"), err,
                                "%lld", (long long)c->max_fetch_size);
    if (rc == 0)
        rc = ct_kafka_conf_setf(conf, "fetch.wait.max.ms", ct_node_get(node, "max_fetch_wait"), err,
                                "%llu", (unsigned long long)(c->max_fetch_wait / 1000000));
    return rc;
}

rd_kafka_conf_t *kafka_receiver_conf_build(const kafka_receiver_config_t *c, const ct_node_t *node,
                                           ct_err_t *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int rc;

    if (!conf) {
        ct_errf(err, node, "out of memory");
        return NULL;
    }
    rc = set_client(conf, c, node, err);
    if (rc == 0)
        rc = set_group(conf, c, node, err);
    if (rc == 0)
        rc = set_fetch(conf, c, node, err);
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
