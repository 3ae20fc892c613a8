/*
 * The service: loads the configuration, builds components and pipelines,
 * starts them (exporters, processors, receivers) and shuts them down in
 * reverse, draining what was accepted.
 */
#ifndef CT_SERVICE_H
#define CT_SERVICE_H

#include "ct_component.h"

typedef enum ct_service_state {
    CT_SERVICE_STARTING,
    CT_SERVICE_RUNNING,
    CT_SERVICE_STOPPING,
    CT_SERVICE_STOPPED
} ct_service_state_t;

typedef struct ct_telemetry_settings {
    char *log_level;
    int log_encoding; /* 0 console, 1 json */
    char *metrics_level;
    char *metrics_address;     /* host:port of the Prometheus endpoint; NULL: off */
    uint64_t shutdown_timeout; /* ns: how long shutdown may drain */
} ct_telemetry_settings_t;

/* Builds the service from a loaded config tree; NULL with err set on any config error. */
ct_service_t *ct_service_build(const ct_node_t *root, ct_err_t *err);
int ct_service_start(ct_service_t *s, ct_err_t *err);
/* Graceful shutdown within the configured drain time. */
void ct_service_shutdown(ct_service_t *s);
void ct_service_free(ct_service_t *s);

ct_service_state_t ct_service_state(const ct_service_t *s);
const ct_telemetry_settings_t *ct_service_telemetry(const ct_service_t *s);

/* Finds a built instance by kind and id ("file_storage/disk"); NULL when absent. */
ct_instance_t *ct_service_find(ct_service_t *s, ct_kind_t kind, const char *id);

/* Visits every exporter instance (for health checks and metrics). */
void ct_service_each_exporter(ct_service_t *s, void (*fn)(ct_instance_t *inst, void *arg),
                              void *arg);

#endif
