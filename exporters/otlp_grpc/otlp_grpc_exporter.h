/*
 * The otlp_grpc exporter's parts, shared by its files: the configuration, the
 * instance state, the channel setup (otlp_grpc_channel.c) and one Export call
 * with the reading of its answer (otlp_grpc_call.c).
 */
#ifndef OTLP_GRPC_EXPORTER_H
#define OTLP_GRPC_EXPORTER_H

#include "ct_component.h"
#include "ct_config.h"
#include "ct_exporter.h"
#include "ct_log.h"

#include <grpc/grpc.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

enum { OTLP_GRPC_BALANCER_ROUND_ROBIN, OTLP_GRPC_BALANCER_PICK_FIRST };

typedef struct otlp_grpc_exporter_tls_cfg {
    bool insecure;             /* plaintext */
    bool insecure_skip_verify; /* TLS without checking the server's certificate */
    char *ca_file, *ca_pem;
    char *cert_file, *cert_pem;
    char *key_file, *key_pem;
    char *server_name_override;
} otlp_grpc_exporter_tls_cfg_t;

typedef struct otlp_grpc_exporter_keepalive_cfg {
    uint64_t time;    /* ns between pings on an idle connection */
    uint64_t timeout; /* ns to wait for the ping's answer */
    bool permit_without_stream;
} otlp_grpc_exporter_keepalive_cfg_t;

typedef struct otlp_grpc_exporter_cfg {
    char *endpoint;
    char *compression; /* "gzip", or "none"/"" */
    ct_kvlist_t headers;
    int balancer_name; /* OTLP_GRPC_BALANCER_* */
    char *authority;
    bool wait_for_ready;
    uint64_t write_buffer_size;
    uint64_t read_buffer_size; /* accepted; gRPC core sizes its reads itself */
    bool tls_present;
    otlp_grpc_exporter_tls_cfg_t tls;
    bool keepalive_present;
    otlp_grpc_exporter_keepalive_cfg_t keepalive;
    ct_exporter_settings_t settings;
} otlp_grpc_exporter_cfg_t;

/* A call in flight, listed so that shutdown can cancel it. */
typedef struct otlp_grpc_exporter_active {
    grpc_call *call;
    struct otlp_grpc_exporter_active *prev, *next;
} otlp_grpc_exporter_active_t;

typedef struct otlp_grpc_exporter {
    char *target; /* what the channel dials: the endpoint without http(s):// */
    bool tls;     /* the channel uses TLS */
    grpc_channel *channel;
    void *methods[CT_SIGNAL_COUNT]; /* registered Export methods */
    grpc_metadata *headers;         /* the configured headers, as call metadata */
    size_t nheaders;

    pthread_mutex_t lock;
    grpc_completion_queue **idle_cqs; /* per-call queues, kept for the next call */
    size_t nidle, cap_idle;
    otlp_grpc_exporter_active_t *active;
    bool stopping; /* set at shutdown: calls in flight are cancelled, new ones refused */

    ct_log_limit_t partial_log;
} otlp_grpc_exporter_t;

/* The address the channel dials and whether the endpoint's scheme asks for TLS. */
int otlp_grpc_exporter_target(const char *endpoint, char **target, int *scheme_tls);

/* Builds st->channel, its registered methods and the header metadata. */
int otlp_grpc_exporter_channel_open(ct_instance_t *inst, ct_err_t *err);
void otlp_grpc_exporter_channel_close(otlp_grpc_exporter_t *st);

/* One Export call: the factory's `send`. */
ct_send_result_t otlp_grpc_exporter_send(ct_instance_t *inst, ct_request_t *req);
/* Cancels every call in flight and refuses new ones. */
void otlp_grpc_exporter_cancel_all(otlp_grpc_exporter_t *st);

#endif
