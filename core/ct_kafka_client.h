/*
 * What cotel's Kafka clients (the kafka exporter's producer, the kafka
 * receiver's consumer) configure alike: brokers, client id, protocol version,
 * auth (SASL) and TLS, their checks, and their librdkafka properties.
 */
#ifndef CT_KAFKA_CLIENT_H
#define CT_KAFKA_CLIENT_H

#include "ct_config.h"

#include <librdkafka/rdkafka.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ct_kafka_tls_cfg {
    bool present;
    bool insecure;
    bool insecure_skip_verify;
    char *ca_file, *ca_pem;
    char *cert_file, *cert_pem;
    char *key_file, *key_pem;
    char *server_name_override; /* only in tables that declare the key; always refused */
} ct_kafka_tls_cfg_t;

/* The order of the `mechanism` choices. */
enum { CT_KAFKA_SASL_PLAIN, CT_KAFKA_SASL_SCRAM_SHA_256, CT_KAFKA_SASL_SCRAM_SHA_512 };

typedef struct ct_kafka_sasl_cfg {
    bool present;
    char *username;
    char *password;
    int mechanism; /* CT_KAFKA_SASL_* */
    int64_t version;
} ct_kafka_sasl_cfg_t;

typedef struct ct_kafka_plain_cfg {
    bool present;
    char *username;
    char *password;
} ct_kafka_plain_cfg_t;

/* `auth` and `tls`: the first three are auth's sub-sections. */
typedef struct ct_kafka_security_cfg {
    ct_kafka_sasl_cfg_t sasl;
    ct_kafka_plain_cfg_t plain_text; /* deprecated: sasl with mechanism PLAIN */
    ct_kafka_tls_cfg_t auth_tls;     /* auth::tls, deprecated alias of tls */
    ct_kafka_tls_cfg_t tls;
} ct_kafka_security_cfg_t;

/*
 * Option tables. A component's config struct holds the fields `brokers`,
 * `client_id` and `protocol_version` (CT_KAFKA_CLIENT_OPTS declares them)
 * and a ct_kafka_security_cfg_t, whose `auth` section takes ct_kafka_auth_opts
 * and whose `tls` section takes ct_kafka_tls_opts. A table that accepts more
 * TLS keys builds its own from CT_KAFKA_TLS_OPTS and CT_KAFKA_AUTH_OPTS.
 */
extern const ct_opt_t ct_kafka_sasl_opts[];
extern const ct_opt_t ct_kafka_plain_text_opts[];
extern const ct_opt_t ct_kafka_tls_opts[];  /* CT_KAFKA_TLS_OPTS alone */
extern const ct_opt_t ct_kafka_auth_opts[]; /* CT_KAFKA_AUTH_OPTS(ct_kafka_tls_opts) */

/* clang-format off */
#define CT_KAFKA_CLIENT_OPTS(T)                                                               \
    {"brokers", CT_OPT_STRINGS, offsetof(T, brokers), "localhost:9092", 0, 0, NULL,           \
     "bootstrap brokers (host:port)"},                                                        \
    {"client_id", CT_OPT_STRING, offsetof(T, client_id), "otel-collector", 0, 0, NULL,        \
     "client id sent with every request"},                                                    \
    {"protocol_version", CT_OPT_STRING, offsetof(T, protocol_version), "2.1.0", 0, 0, NULL,   \
     "broker version assumed when the broker cannot tell (librdkafka negotiates)"}

#define CT_KAFKA_TLS_F(f) offsetof(ct_kafka_tls_cfg_t, f)
#define CT_KAFKA_TLS_OPTS                                                                     \
    {"insecure", CT_OPT_BOOL, CT_KAFKA_TLS_F(insecure), "false", 0, 0, NULL,                  \
     "plaintext: no TLS at all"},                                                             \
    {"insecure_skip_verify", CT_OPT_BOOL, CT_KAFKA_TLS_F(insecure_skip_verify), "false", 0,   \
     0, NULL, "do not verify the brokers' certificates"},                                     \
    {"ca_file", CT_OPT_STRING, CT_KAFKA_TLS_F(ca_file), NULL, 0, 0, NULL,                     \
     "CA certificates (PEM file)"},                                                           \
    {"ca_pem", CT_OPT_STRING, CT_KAFKA_TLS_F(ca_pem), NULL, 0, 0, NULL,                       \
     "CA certificates (PEM text)"},                                                           \
    {"cert_file", CT_OPT_STRING, CT_KAFKA_TLS_F(cert_file), NULL, 0, 0, NULL,                 \
     "client certificate file"},                                                              \
    {"cert_pem", CT_OPT_STRING, CT_KAFKA_TLS_F(cert_pem), NULL, 0, 0, NULL,                   \
     "client certificate (PEM)"},                                                             \
    {"key_file", CT_OPT_STRING, CT_KAFKA_TLS_F(key_file), NULL, 0, 0, NULL,                   \
     "client private key file"},                                                              \
    {"key_pem", CT_OPT_STRING, CT_KAFKA_TLS_F(key_pem), NULL, 0, 0, NULL,                     \
     "client private key (PEM)", NULL, 0, CT_OPT_SECRET}

/* `auth`'s keys, relative to a ct_kafka_security_cfg_t; TLS_TABLE describes auth::tls. */
#define CT_KAFKA_SEC_F(f) offsetof(ct_kafka_security_cfg_t, f)
#define CT_KAFKA_AUTH_OPTS(TLS_TABLE)                                                         \
    {"sasl", CT_OPT_SECTION, CT_KAFKA_SEC_F(sasl.present), NULL, 0, 0, NULL,                  \
     "SASL authentication", ct_kafka_sasl_opts, CT_KAFKA_SEC_F(sasl)},                        \
    {"plain_text", CT_OPT_SECTION, CT_KAFKA_SEC_F(plain_text.present), NULL, 0, 0, NULL,      \
     "deprecated: sasl with mechanism PLAIN", ct_kafka_plain_text_opts,                       \
     CT_KAFKA_SEC_F(plain_text)},                                                             \
    {"tls", CT_OPT_SECTION, CT_KAFKA_SEC_F(auth_tls.present), NULL, 0, 0, NULL,               \
     "deprecated: the top-level tls", TLS_TABLE, CT_KAFKA_SEC_F(auth_tls)}
/* clang-format on */

/*
 * Checks brokers (at least one) and protocol_version (a Kafka version such
 * as 2.1.0). Returns 0, or -EINVAL with err set at the offending key.
 */
int ct_kafka_check_client(const ct_strlist_t *brokers, const char *protocol_version,
                          const ct_node_t *node, ct_err_t *err);

/*
 * Checks auth and tls: tls and auth::tls are one setting, auth::sasl and
 * auth::plain_text exclude each other, server_name_override cannot be
 * honoured, a client certificate needs its key.
 */
int ct_kafka_check_security(const ct_kafka_security_cfg_t *s, const ct_node_t *node, ct_err_t *err);

/* rd_kafka_conf_set; a refusal becomes an error at `at` naming the property. */
int ct_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value,
                      const ct_node_t *at, ct_err_t *err);
int ct_kafka_conf_setf(rd_kafka_conf_t *conf, const char *key, const ct_node_t *at, ct_err_t *err,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * Sets bootstrap.servers from the brokers. With `canonical`, each broker's
 * name is first replaced by the names its addresses reverse-resolve to (kept
 * as written, with a warning, when it does not resolve). With `name` (the
 * instance), the result is logged.
 */
int ct_kafka_conf_bootstrap(rd_kafka_conf_t *conf, const ct_strlist_t *brokers, bool canonical,
                            const char *name, const ct_node_t *node, ct_err_t *err);

/* Sets client.id, the broker version fallback and the reconnect backoff. */
int ct_kafka_conf_client(rd_kafka_conf_t *conf, const char *client_id, const char *protocol_version,
                         const ct_node_t *node, ct_err_t *err);

/* Sets security.protocol and the SASL and TLS properties from auth and tls. */
int ct_kafka_conf_security(rd_kafka_conf_t *conf, const ct_kafka_security_cfg_t *s,
                           const ct_node_t *node, ct_err_t *err);

/* Sets librdkafka_properties as written; called last, so that they win. */
int ct_kafka_conf_properties(rd_kafka_conf_t *conf, const ct_kvlist_t *props, const ct_node_t *node,
                             ct_err_t *err);

#endif
