/*
 * The kafka receiver's parts, shared by its files: the configuration (the
 * OpenTelemetry Collector's keys), the consumer's state, and the steps that
 * turn one Kafka record into a request for the pipeline.
 */
#ifndef KAFKA_RECEIVER_H
#define KAFKA_RECEIVER_H

#include "ct_component.h"
#include "ct_config.h"
#include "ct_kafka_client.h"
#include "ct_log.h"
#include "ct_metrics.h"
#include "ct_request.h"

#include <librdkafka/rdkafka.h>

#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum { KR_ENCODING_PROTO, KR_ENCODING_JSON };
enum { KR_OFFSET_LATEST, KR_OFFSET_EARLIEST };
enum { KR_STRATEGY_RANGE, KR_STRATEGY_ROUNDROBIN, KR_STRATEGY_STICKY, KR_STRATEGY_COOPERATIVE };

typedef struct kr_signal_cfg {
    char *topic; /* deprecated: one topic, instead of topics */
    ct_strlist_t topics;
    int encoding; /* KR_ENCODING_* */
} kr_signal_cfg_t;

typedef struct kr_autocommit_cfg {
    bool enable;
    uint64_t interval; /* ns */
} kr_autocommit_cfg_t;

typedef struct kr_marking_cfg {
    bool after;
    bool on_error;
    bool on_permanent_error; /* when absent, on_error applies (kafka_receiver_t) */
} kr_marking_cfg_t;

typedef struct kr_backoff_cfg {
    bool enabled;
    uint64_t initial_interval; /* ns */
    double randomization_factor;
    double multiplier;
    uint64_t max_interval;     /* ns */
    uint64_t max_elapsed_time; /* ns; 0: no limit */
} kr_backoff_cfg_t;

typedef struct kr_metadata_cfg {
    bool full;
    uint64_t refresh_interval; /* ns */
} kr_metadata_cfg_t;

typedef struct kafka_receiver_config {
    ct_strlist_t brokers;
    char *client_id;
    char *protocol_version;
    char *group_id;
    char *group_instance_id;
    char *rack_id;
    int initial_offset; /* KR_OFFSET_* */
    uint64_t session_timeout;
    uint64_t heartbeat_interval;
    int group_rebalance_strategy; /* KR_STRATEGY_* */
    int64_t min_fetch_size;
    int64_t default_fetch_size;
    int64_t max_fetch_size; /* 0: librdkafka's default */
    int64_t max_partition_fetch_size;
    uint64_t max_fetch_wait;
    kr_autocommit_cfg_t autocommit;
    kr_marking_cfg_t marking;
    kr_backoff_cfg_t backoff;
    kr_signal_cfg_t signal[CT_SIGNAL_COUNT];
    kr_metadata_cfg_t metadata;
    ct_kafka_security_cfg_t security; /* auth and tls */
    ct_kvlist_t librdkafka_properties;
} kafka_receiver_config_t;

extern const ct_opt_t kafka_receiver_opts[];

/* Checks what the option table cannot: keys that depend on each other, librdkafka's verdict. */
int kafka_receiver_validate(const void *cfg, const ct_node_t *node, ct_err_t *err);

/*
 * The librdkafka consumer configuration: bootstrap, group, offsets (stored by
 * the receiver, never automatically), fetch sizes, security, and
 * librdkafka_properties last. NULL with err set (naming the key) when
 * librdkafka refuses a value.
 */
rd_kafka_conf_t *kafka_receiver_conf_build(const kafka_receiver_config_t *c, const ct_node_t *node,
                                           ct_err_t *err);

/* The topics one signal consumes: `topic` when set, else `topics`. */
const ct_strlist_t *kafka_receiver_topics(const kafka_receiver_config_t *c, ct_signal_t sig,
                                          ct_strlist_t *one);

/* A topic (or `^` pattern) and the signal whose records it carries. */
typedef struct kr_route {
    const char *name;
    ct_signal_t signal;
    int encoding;
    bool is_regex;
    regex_t re;
} kr_route_t;

/*
 * One assigned partition. A record the pipeline refused stays here, with
 * the partition paused, until a retry is accepted or the record is given up.
 */
typedef struct kr_partition {
    char *topic;
    int32_t partition;
    const kr_route_t *route;               /* NULL: a topic of no configured signal */
    rd_kafka_topic_partition_list_t *self; /* this partition alone: store, pause, resume, seek */

    ct_request_t *pending; /* the refused record's request, or NULL */
    int64_t pending_offset;
    unsigned attempts;
    uint64_t first_refusal_ns;
    uint64_t retry_at_ns;
    bool paused;
    int64_t refetch_offset; /* >= 0: seek there before resuming (records were skipped) */

    ct_counter_t *unmarshal_failed;
    ct_counter_t *current_offset; /* gauges */
    ct_counter_t *offset_lag;
} kr_partition_t;

typedef struct kafka_receiver {
    ct_instance_t *inst;
    const kafka_receiver_config_t *cfg;
    rd_kafka_conf_t *conf; /* until start hands it to rd_kafka_new */
    rd_kafka_t *rk;

    kr_route_t routes[64];
    size_t nroutes;

    kr_partition_t **parts;
    size_t nparts, capparts;
    kr_partition_t *last_part; /* the partition of the previous record: runs are common */

    pthread_t thread;
    bool thread_running;
    atomic_bool stop;
    _Atomic uint64_t close_deadline_ns; /* set before stop: how long closing may take */
    atomic_bool closed;                 /* the consumer left its group cleanly */
    bool closing;                       /* consumer thread: leaving the group */
    unsigned close_commit_failed;       /* commits refused while leaving (logged once) */

    bool commit_dirty; /* autocommit off: offsets stored since the last commit */
    uint64_t last_commit_ns;

    uint64_t unreachable_since; /* consumer thread only; 0 while Kafka answers */
    uint64_t next_probe_ns;

    bool mark_on_error;           /* message_marking.on_error */
    bool mark_on_permanent_error; /* message_marking.on_permanent_error, else on_error */

    ct_receiver_obs_t obs;
    ct_counter_t *partition_start, *partition_close;
    ct_log_limit_t malformed_log, refused_log, dropped_log, unreachable_log, error_log;
} kafka_receiver_t;

/* The consumer thread (consumer.c): consumes until kr->stop, then closes the consumer. */
void *kafka_receiver_main(void *arg);

/* librdkafka's callbacks for the consumer (consumer.c), set on kr->conf by create. */
void kafka_receiver_set_callbacks(kafka_receiver_t *kr, rd_kafka_conf_t *conf);

/* Frees every partition's state, with any record still waiting. */
void kafka_receiver_parts_free(kafka_receiver_t *kr);

/*
 * Turns a record's value into a request of `sig`: checks and counts an
 * otlp_proto value, decodes an otlp_json one. Returns 0 with *out set (NULL
 * when the record holds no items), -EINVAL when the value is malformed (why
 * says how), -ENOMEM.
 */
int kafka_receiver_decode(ct_signal_t sig, int encoding, const void *value, size_t len,
                          ct_request_t **out, char *why, size_t whylen);

/*
 * The request metadata of a record, as the Go receiver sets it: kafka.topic,
 * kafka.partition, kafka.offset and every header. NULL when out of memory.
 */
ct_metadata_t *kafka_receiver_metadata(const rd_kafka_message_t *m);

#endif
