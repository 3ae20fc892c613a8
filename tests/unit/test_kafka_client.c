/*
 * Tests of the settings both Kafka components share (core/kafka_client.c):
 * the tables embedded the way a component embeds them, their checks, and
 * the librdkafka properties they become.
 */
#include "ct_kafka_client.h"
#include "ct_test.h"

#include <stdlib.h>
#include <string.h>

/* A component's config in miniature: the shared fields, named as the macros expect. */
typedef struct client_cfg {
    int64_t own_setting; /* so that the shared fields do not start at offset 0 */
    ct_strlist_t brokers;
    char *client_id;
    char *protocol_version;
    ct_kafka_security_cfg_t security;
    ct_kvlist_t librdkafka_properties;
} client_cfg_t;

#define C(f) offsetof(client_cfg_t, f)
static const ct_opt_t client_opts[] = {
    {"own_setting", CT_OPT_INT, C(own_setting), "7", 0, 100, NULL, "a key of the component"},
    CT_KAFKA_CLIENT_OPTS(client_cfg_t),
    {"auth", CT_OPT_SECTION, CT_OPT_NO_FLAG, NULL, 0, 0, NULL, "authentication", ct_kafka_auth_opts,
     C(security)},
    {"tls", CT_OPT_SECTION, C(security.tls.present), NULL, 0, 0, NULL, "TLS", ct_kafka_tls_opts,
     C(security.tls)},
    {"librdkafka_properties", CT_OPT_MAP, C(librdkafka_properties), NULL, 0, 0, NULL,
     "any librdkafka property"},
    CT_OPT_END,
};
#undef C

typedef struct loaded {
    ct_node_t *root;
    const ct_node_t *node; /* k */
    client_cfg_t cfg;
    ct_err_t err;
    int rc;
} loaded_t;

/* Loads "k: ..." from yaml, applies the table and runs both checks. */
static void load(loaded_t *l, const char *yaml)
{
    memset(l, 0, sizeof(*l));
    l->root = ct_config_load_string("test.yaml", yaml, strlen(yaml), &l->err);
    if (!l->root) {
        l->rc = -1;
        return;
    }
    l->node = ct_node_get(l->root, "k");
    l->rc = ct_opt_defaults(client_opts, &l->cfg, &l->err);
    if (l->rc == 0)
        l->rc = ct_opt_apply(client_opts, &l->cfg, l->node, "test::k", &l->err);
    if (l->rc == 0)
        l->rc = ct_kafka_check_client(&l->cfg.brokers, l->cfg.protocol_version, l->node, &l->err);
    if (l->rc == 0)
        l->rc = ct_kafka_check_security(&l->cfg.security, l->node, &l->err);
}

static void unload(loaded_t *l)
{
    ct_opt_free(client_opts, &l->cfg);
    ct_node_free(l->root);
}

/* Every shared setter, in the order the components call them; NULL with l->err set on error. */
static rd_kafka_conf_t *build(loaded_t *l)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const client_cfg_t *c = &l->cfg;
    int rc;

    rc = ct_kafka_conf_bootstrap(conf, &c->brokers, false, NULL, l->node, &l->err);
    if (rc == 0)
        rc = ct_kafka_conf_client(conf, c->client_id, c->protocol_version, l->node, &l->err);
    if (rc == 0)
        rc = ct_kafka_conf_security(conf, &c->security, l->node, &l->err);
    if (rc == 0)
        rc = ct_kafka_conf_properties(conf, &c->librdkafka_properties, l->node, &l->err);
    if (rc != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

/* The value librdkafka holds for key in conf. */
static const char *prop(rd_kafka_conf_t *conf, const char *key)
{
    static char v[512];
    size_t n = sizeof(v);

    if (!conf || rd_kafka_conf_get(conf, key, v, &n) != RD_KAFKA_CONF_OK)
        return "(unset)";
    return v;
}

static void test_defaults(void)
{
    loaded_t l;
    rd_kafka_conf_t *conf;

    load(&l, "k:\n");
    CHECK_EQ_INT(l.rc, 0);
    CHECK_EQ_INT(l.cfg.own_setting, 7);
    CHECK(l.cfg.brokers.n == 1 && strcmp(l.cfg.brokers.v[0], "localhost:9092") == 0);
    CHECK(l.cfg.client_id && strcmp(l.cfg.client_id, "otel-collector") == 0);
    CHECK(l.cfg.protocol_version && strcmp(l.cfg.protocol_version, "2.1.0") == 0);
    CHECK(!l.cfg.security.tls.present && !l.cfg.security.auth_tls.present);
    CHECK(!l.cfg.security.sasl.present && !l.cfg.security.plain_text.present);

    conf = build(&l);
    CHECK(conf != NULL);
    CHECK(strcmp(prop(conf, "bootstrap.servers"), "localhost:9092") == 0);
    CHECK(strcmp(prop(conf, "client.id"), "otel-collector") == 0);
    CHECK(strcmp(prop(conf, "broker.version.fallback"), "2.1.0") == 0);
    CHECK(strcmp(prop(conf, "api.version.request"), "true") == 0);
    CHECK(strcmp(prop(conf, "reconnect.backoff.max.ms"), "2000") == 0);
    CHECK(strcmp(prop(conf, "security.protocol"), "plaintext") == 0);
    if (conf)
        rd_kafka_conf_destroy(conf);
    unload(&l);
}

static void test_client(void)
{
    loaded_t l;
    rd_kafka_conf_t *conf;

    /* A broker too old to say its version: librdkafka must not ask. */
    load(&l, "k:\n  brokers: [127.0.0.1:9092, '[::1]:9093']\n  client_id: me\n"
             "  protocol_version: 0.9.0.1\n  own_setting: 3\n");
    CHECK_EQ_INT(l.rc, 0);
    CHECK_EQ_INT(l.cfg.own_setting, 3);
    conf = build(&l);
    CHECK(strcmp(prop(conf, "bootstrap.servers"), "127.0.0.1:9092,[::1]:9093") == 0);
    CHECK(strcmp(prop(conf, "client.id"), "me") == 0);
    CHECK(strcmp(prop(conf, "api.version.request"), "false") == 0);
    CHECK(strcmp(prop(conf, "broker.version.fallback"), "0.9.0.1") == 0);
    if (conf)
        rd_kafka_conf_destroy(conf);
    unload(&l);

    /* librdkafka_properties come last: they win over the shared settings. */
    load(&l, "k:\n  librdkafka_properties: {client.id: other, socket.keepalive.enable: 'true'}\n");
    CHECK_EQ_INT(l.rc, 0);
    conf = build(&l);
    CHECK(strcmp(prop(conf, "client.id"), "other") == 0);
    CHECK(strcmp(prop(conf, "socket.keepalive.enable"), "true") == 0);
    if (conf)
        rd_kafka_conf_destroy(conf);
    unload(&l);

    load(&l, "k:\n  librdkafka_properties: {no.such.property: x}\n");
    CHECK_EQ_INT(l.rc, 0);
    conf = build(&l);
    CHECK(conf == NULL);
    CHECK_STR_CONTAINS(l.err.msg, "librdkafka property no.such.property");
    CHECK_STR_CONTAINS(l.err.msg, "test.yaml:2:");
    unload(&l);
}

static void test_security(void)
{
    loaded_t l;
    rd_kafka_conf_t *conf;

    load(&l, "k:\n  auth:\n    sasl: {username: u, password: p, mechanism: SCRAM-SHA-256}\n"
             "  tls: {ca_pem: CAPEM, insecure_skip_verify: true}\n");
    CHECK_EQ_INT(l.rc, 0);
    CHECK_EQ_INT(l.cfg.security.sasl.mechanism, CT_KAFKA_SASL_SCRAM_SHA_256);
    conf = build(&l);
    CHECK(strcmp(prop(conf, "security.protocol"), "sasl_ssl") == 0);
    CHECK(strcmp(prop(conf, "sasl.mechanisms"), "SCRAM-SHA-256") == 0);
    CHECK(strcmp(prop(conf, "sasl.username"), "u") == 0);
    CHECK(strcmp(prop(conf, "ssl.ca.pem"), "CAPEM") == 0);
    CHECK(strcmp(prop(conf, "enable.ssl.certificate.verification"), "false") == 0);
    CHECK(strcmp(prop(conf, "ssl.endpoint.identification.algorithm"), "none") == 0);
    if (conf)
        rd_kafka_conf_destroy(conf);
    unload(&l);

    /* The deprecated auth::tls fills its own struct and applies when tls is absent. */
    load(&l, "k:\n  auth:\n    tls: {ca_file: /nonexistent/ca.pem}\n"
             "    plain_text: {username: pu, password: pp}\n");
    CHECK_EQ_INT(l.rc, 0);
    CHECK(l.cfg.security.auth_tls.present && !l.cfg.security.tls.present);
    CHECK(l.cfg.security.plain_text.present && !l.cfg.security.sasl.present);
    conf = build(&l);
    CHECK(strcmp(prop(conf, "security.protocol"), "sasl_ssl") == 0);
    CHECK(strcmp(prop(conf, "sasl.mechanisms"), "PLAIN") == 0);
    CHECK(strcmp(prop(conf, "sasl.username"), "pu") == 0);
    CHECK(strcmp(prop(conf, "ssl.ca.location"), "/nonexistent/ca.pem") == 0);
    if (conf)
        rd_kafka_conf_destroy(conf);
    unload(&l);

    /* insecure: TLS is off though the section is present. */
    load(&l, "k:\n  tls: {insecure: true, ca_file: /nonexistent/ca.pem}\n");
    CHECK_EQ_INT(l.rc, 0);
    conf = build(&l);
    CHECK(strcmp(prop(conf, "security.protocol"), "plaintext") == 0);
    CHECK(strcmp(prop(conf, "ssl.ca.location"), "/nonexistent/ca.pem") != 0);
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
    loaded_t l;

    expect_error("k:\n  brokers: []\n", "brokers: at least one is needed");
    expect_error("k:\n  protocol_version: '3'\n", "'3' is not a Kafka version such as 2.1.0");
    expect_error("k:\n  protocol_version: 2.x\n", "is not a Kafka version");
    expect_error("k:\n  tls: {}\n  auth: {tls: {}}\n", "tls and auth::tls are the same setting");
    expect_error("k:\n  auth:\n    sasl: {username: u, password: p, mechanism: PLAIN}\n"
                 "    plain_text: {username: u, password: p}\n",
                 "auth::sasl and auth::plain_text exclude each other");
    expect_error("k:\n  tls: {cert_file: /c}\n", "a client certificate needs its key");
    expect_error("k:\n  auth: {sasl: {username: u, password: p}}\n", "mechanism");
    expect_error("k:\n  auth: {sasl: {username: u, password: p, mechanism: GSSAPI}}\n", "GSSAPI");
    expect_error("k:\n  tls: {server_name_override: x}\n", "unknown key 'server_name_override'");

    /* A table that declares server_name_override gets it refused by the check. */
    load(&l, "k:\n  tls: {}\n");
    CHECK_EQ_INT(l.rc, 0);
    l.cfg.security.tls.server_name_override = "broker.example";
    CHECK(ct_kafka_check_security(&l.cfg.security, l.node, &l.err) != 0);
    CHECK_STR_CONTAINS(l.err.msg, "tls::server_name_override is not supported by librdkafka");
    l.cfg.security.tls.server_name_override = NULL;
    unload(&l);
}

int main(void)
{
    test_defaults();
    test_client();
    test_security();
    test_errors();
    return ct_test_report();
}
