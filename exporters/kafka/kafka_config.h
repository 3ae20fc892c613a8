/*
 * The kafka exporter's configuration: its option table (OpenTelemetry
 * Collector keys plus cotel's librdkafka_properties) and the translation of
 * those settings into a librdkafka producer configuration.
 */
#ifndef KAFKA_CONFIG_H
#define KAFKA_CONFIG_H

#include "ct_config.h"
#include "ct_exporter.h"
#include "ct_kafka_client.h"
#include "kafka_records.h"

#include <librdkafka/rdkafka.h>

#include <stdbool.h>
#include <stdint.h>

typedef struct kafka_signal_cfg {
    char *topic;
    int encoding; /* kafka_encoding_t */
    char *topic_from_metadata_key;
} kafka_signal_cfg_t;

enum { KAFKA_ACKS_NONE, KAFKA_ACKS_LEADER, KAFKA_ACKS_ALL, KAFKA_ACKS_ALL_NUMERIC };

typedef struct kafka_producer_cfg {
    int64_t max_message_bytes;
    int required_acks;
    int compression;
    int64_t compression_level;
    int64_t flush_max_messages;
    uint64_t linger;
} kafka_producer_cfg_t;

typedef struct kafka_config {
    ct_strlist_t brokers;
    char *client_id;
    char *protocol_version;
    bool resolve_canonical_bootstrap_servers_only;
    kafka_signal_cfg_t signal[CT_SIGNAL_COUNT];
    char *topic;    /* deprecated: every signal's topic unless set per signal */
    char *encoding; /* deprecated: every signal's encoding unless set per signal */
    bool partition_traces_by_id;
    bool partition_metrics_by_resource_attributes;
    bool partition_logs_by_resource_attributes;
    bool partition_logs_by_trace_id;
    ct_kvlist_t record_headers;
    ct_strlist_t include_metadata_keys;
    uint64_t metadata_refresh_interval;
    uint64_t conn_idle_timeout;
    kafka_producer_cfg_t producer;
    ct_kafka_security_cfg_t security; /* auth and tls */
    ct_kvlist_t librdkafka_properties;
    ct_exporter_settings_t settings;
} kafka_config_t;

extern const ct_opt_t kafka_exporter_opts[];

/* Checks what the option table cannot: values that depend on each other. */
int kafka_config_validate(const void *cfg, const ct_node_t *node, ct_err_t *err);

/*
 * The effective topic and encoding of each signal, after the deprecated
 * top-level `topic` and `encoding` (which apply where a signal sets none).
 */
typedef struct kafka_signal_plan {
    const char *topic;
    kafka_encoding_t encoding;
    kafka_partition_t partition;
    const char *topic_from_metadata_key; /* NULL: none */
} kafka_signal_plan_t;

void kafka_config_signals(const kafka_config_t *c, const ct_node_t *node,
                          kafka_signal_plan_t out[CT_SIGNAL_COUNT]);

/*
 * Builds the librdkafka producer configuration: bootstrap servers (resolved
 * to canonical names first when asked), acks, compression, batching, the
 * message timeout, security, and librdkafka_properties last so they win.
 * Returns NULL with err set (naming the key) when librdkafka refuses a value.
 */
rd_kafka_conf_t *kafka_config_build(const kafka_config_t *c, const ct_node_t *node,
                                    const char *name, ct_err_t *err);

#endif
