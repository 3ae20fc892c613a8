/*
 * Tests of the kafka exporter's configuration: defaults, the deprecated
 * top-level topic and encoding, validation, and the librdkafka properties
 * the settings turn into.
 */
#include "ct_test.h"
#include "kafka_config.h"

#include <stdlib.h>
#include <string.h>

typedef struct loaded {
    ct_node_t *root;
    const ct_node_t *node; /* exporters.kafka */
    kafka_config_t cfg;
    ct_err_t err;
    int rc;
} loaded_t;

/* Loads "exporters: {kafka: ...}" from yaml, applies the table and validates. */
static void load(loaded_t *l, const char *yaml)
{
    memset(l, 0, sizeof(*l));
    l->root = ct_config_load_string("test.yaml", yaml, strlen(yaml), &l->err);
    if (!l->root) {
        l->rc = -1;
        return;
    }
    l->node = ct_node_get(ct_node_get(l->root, "exporters"), "kafka");
    l->rc = ct_opt_defaults(kafka_exporter_opts, &l->cfg, &l->err);
    if (l->rc == 0)
        l->rc = ct_opt_apply(kafka_exporter_opts, &l->cfg, l->node, "exporters::kafka", &l->err);
    if (l->rc == 0)
        l->rc = kafka_config_validate(&l->cfg, l->node, &l->err);
}

static void unload(loaded_t *l)
{
    ct_opt_free(kafka_exporter_opts, &l->cfg);
    ct_node_free(l->root);
}

/* The value librdkafka holds for key in conf. */
static const char *prop(rd_kafka_conf_t *conf, const char *key)
{
    static char v[512];
    size_t n = sizeof(v);

    if (rd_kafka_conf_get(conf, key, v, &n) != RD_KAFKA_CONF_OK)
        return "(unset)";
    return v;
}

static void test_defaults(void)
{
    loaded_t l;
    kafka_signal_plan_t sp[CT_SIGNAL_COUNT];

    load(&l, "exporters:\n  kafka:\n");
    CHECK_EQ_INT(l.rc, 0);
    CHECK(l.cfg.brokers.n == 1 && strcmp(l.cfg.brokers.v[0], "localhost:9092") == 0);
    CHECK(strcmp(l.cfg.client_id, "otel-collector") == 0);
    CHECK(strcmp(l.cfg.protocol_version, "2.1.0") == 0);
    CHECK_EQ_INT(l.cfg.producer.max_message_bytes, 1000000);
    CHECK_EQ_INT(l.cfg.settings.timeout, 5000000000ll);
    kafka_config_signals(&l.cfg, l.node, sp);
    CHECK(strcmp(sp[CT_SIGNAL_TRACES].topic, "otlp_spans") == 0);
    CHECK(strcmp(sp[CT_SIGNAL_METRICS].topic, "otlp_metrics") == 0);
    CHECK(strcmp(sp[CT_SIGNAL_LOGS].topic, "otlp_logs") == 0);
    for (int s = 0; s < CT_SIGNAL_COUNT; s++) {
        CHECK_EQ_INT(sp[s].encoding, KAFKA_ENCODING_PROTO);
        CHECK_EQ_INT(sp[s].partition, KAFKA_PARTITION_NONE);
    }

    rd_kafka_conf_t *conf = kafka_config_build(&l.cfg, l.node, NULL, &l.err);
    CHECK(conf != NULL);
    if (conf) {
        CHECK(strcmp(prop(conf, "bootstrap.servers"), "localhost:9092") == 0);
        CHECK(strcmp(prop(conf, "client.id"), "otel-collector") == 0);
        CHECK(strcmp(prop(conf, "acks"), "1") == 0);
        CHECK(strcmp(prop(conf, "enable.idempotence"), "false") == 0);
        CHECK(strcmp(prop(conf, "message.max.bytes"), "1000000") == 0);
        CHECK(strcmp(prop(conf, "message.timeout.ms"), "5000") == 0);
        CHECK(strcmp(prop(conf, "security.protocol"), "plaintext") == 0);
        CHECK(strcmp(prop(conf, "partitioner"), "fnv1a_random") == 0);
        CHECK(strcmp(prop(conf, "connections.max.idle.ms"), "540000") == 0);
        rd_kafka_conf_destroy(conf);
    }
    unload(&l);
}

static void test_deprecated_topic_encoding(void)
{
    loaded_t l;
    kafka_signal_plan_t sp[CT_SIGNAL_COUNT];

    /* The top-level keys replace defaults only; a signal's own setting wins. */
    load(&l, "exporters:\n  kafka:\n    topic: all\n    encoding: otlp_json\n"
             "    logs: {topic: mylogs, encoding: otlp_proto}\n"
             "    partition_traces_by_id: true\n"
             "    partition_logs_by_resource_attributes: true\n");
    CHECK_EQ_INT(l.rc, 0);
    kafka_config_signals(&l.cfg, l.node, sp);
    CHECK(strcmp(sp[CT_SIGNAL_TRACES].topic, "all") == 0);
    CHECK(strcmp(sp[CT_SIGNAL_METRICS].topic, "all") == 0);
    CHECK(strcmp(sp[CT_SIGNAL_LOGS].topic, "mylogs") == 0);
    CHECK_EQ_INT(sp[CT_SIGNAL_TRACES].encoding, KAFKA_ENCODING_JSON);
    CHECK_EQ_INT(sp[CT_SIGNAL_LOGS].encoding, KAFKA_ENCODING_PROTO);
    CHECK_EQ_INT(sp[CT_SIGNAL_TRACES].partition, KAFKA_PARTITION_TRACE_ID);
    CHECK_EQ_INT(sp[CT_SIGNAL_METRICS].partition, KAFKA_PARTITION_NONE);
    CHECK_EQ_INT(sp[CT_SIGNAL_LOGS].partition, KAFKA_PARTITION_RESOURCE);
    unload(&l);

    load(&l, "exporters:\n  kafka:\n    partition_logs_by_trace_id: true\n");
    CHECK_EQ_INT(l.rc, 0);
    kafka_config_signals(&l.cfg, l.node, sp);
    CHECK_EQ_INT(sp[CT_SIGNAL_LOGS].partition, KAFKA_PARTITION_TRACE_ID);
    CHECK_EQ_INT(sp[CT_SIGNAL_TRACES].partition, KAFKA_PARTITION_NONE);
    unload(&l);
}

static void test_producer_security(void)
{
    loaded_t l;

    load(&l, "exporters:\n  kafka:\n    brokers: [a:9092, b:9093]\n"
             "    producer:\n      required_acks: all\n      compression: zstd\n"
             "      compression_params: {level: 3}\n      max_message_bytes: 2000000\n"
             "      linger: 25ms\n"
             "    auth:\n      sasl: {username: u, password: p, mechanism: SCRAM-SHA-512}\n"
             "    tls: {insecure_skip_verify: true}\n"
             "    librdkafka_properties: {socket.keepalive.enable: 'true', acks: '-1'}\n");
    CHECK_EQ_INT(l.rc, 0);
    rd_kafka_conf_t *conf = kafka_config_build(&l.cfg, l.node, NULL, &l.err);
    CHECK(conf != NULL);
    if (conf) {
        CHECK(strcmp(prop(conf, "bootstrap.servers"), "a:9092,b:9093") == 0);
        CHECK(strcmp(prop(conf, "enable.idempotence"), "true") == 0);
        CHECK(strcmp(prop(conf, "compression.codec"), "zstd") == 0);
        CHECK(strcmp(prop(conf, "compression.level"), "3") == 0);
        CHECK(strcmp(prop(conf, "message.max.bytes"), "2000000") == 0);
        CHECK(strcmp(prop(conf, "linger.ms"), "25") == 0);
        CHECK(strcmp(prop(conf, "security.protocol"), "sasl_ssl") == 0);
        CHECK(strcmp(prop(conf, "sasl.mechanisms"), "SCRAM-SHA-512") == 0);
        CHECK(strcmp(prop(conf, "sasl.username"), "u") == 0);
        CHECK(strcmp(prop(conf, "enable.ssl.certificate.verification"), "false") == 0);
        CHECK(strcmp(prop(conf, "socket.keepalive.enable"), "true") == 0);
        CHECK(strcmp(prop(conf, "acks"), "-1") == 0);
        rd_kafka_conf_destroy(conf);
    }
    unload(&l);

    /* tls with insecure: true is plaintext; a SASL user alone is sasl_plaintext. */
    load(&l, "exporters:\n  kafka:\n    tls: {insecure: true}\n"
             "    auth: {plain_text: {username: u, password: p}}\n");
    CHECK_EQ_INT(l.rc, 0);
    conf = kafka_config_build(&l.cfg, l.node, NULL, &l.err);
    CHECK(conf && strcmp(prop(conf, "security.protocol"), "sasl_plaintext") == 0);
    CHECK(conf && strcmp(prop(conf, "sasl.mechanisms"), "PLAIN") == 0);
    if (conf)
        rd_kafka_conf_destroy(conf);
    unload(&l);
}

static void expect_error(const char *yaml, const char *needle)
{
    loaded_t l;

    load(&l, yaml);
    CHECK(l.rc != 0);
    CHECK_STR_CONTAINS(l.err.msg, needle);
    unload(&l);
}

static void test_errors(void)
{
    expect_error("exporters:\n  kafka:\n    protocol_version: two\n", "protocol_version");
    expect_error("exporters:\n  kafka:\n    librdkafka_properties: {no.such.property: x}\n",
                 "no.such.property");
    expect_error("exporters:\n  kafka:\n    traces: {encoding: jaeger_proto}\n", "jaeger_proto");
    expect_error("exporters:\n  kafka:\n    encoding: zipkin_json\n", "zipkin_json");
    expect_error("exporters:\n  kafka:\n    tls: {server_name_override: x}\n",
                 "server_name_override");
    expect_error("exporters:\n  kafka:\n    auth: {sasl: {username: u, password: p}}\n",
                 "mechanism");
    expect_error("exporters:\n  kafka:\n    producer: {max_message_bytes: 10}\n",
                 "max_message_bytes");
    expect_error("exporters:\n  kafka:\n    producer: {required_acks: 2}\n", "required_acks");
    expect_error("exporters:\n  kafka:\n    timeout: 5ms\n    producer: {linger: 10ms}\n",
                 "linger");
    expect_error("exporters:\n  kafka:\n    topic_from_attribute: x\n", "topic_from_attribute");
    expect_error("exporters:\n  kafka:\n    partition_logs_by_trace_id: true\n"
                 "    partition_logs_by_resource_attributes: true\n",
                 "exclude each other");
}

int main(void)
{
    test_defaults();
    test_deprecated_topic_encoding();
    test_producer_security();
    test_errors();
    return ct_test_report();
}
