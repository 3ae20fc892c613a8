/*
 * What every exporter shares: the sending queue (bounded, with consumer
 * threads), retry with exponential backoff, the per-attempt timeout, and the
 * exporter's own counters. An exporter writes only `send`.
 */
#ifndef CT_EXPORTER_H
#define CT_EXPORTER_H

#include "ct_component.h"

typedef struct ct_retry_settings {
    bool present;
    bool enabled;
    uint64_t initial_interval; /* ns */
    double randomization_factor;
    double multiplier;
    uint64_t max_interval;     /* ns */
    uint64_t max_elapsed_time; /* ns; 0: retry until shutdown */
} ct_retry_settings_t;

enum { CT_SIZER_REQUESTS, CT_SIZER_ITEMS, CT_SIZER_BYTES };

typedef struct ct_queue_settings {
    bool present;
    bool enabled;
    int64_t num_consumers;
    int64_t queue_size;
    int sizer;     /* CT_SIZER_* */
    char *storage; /* file_storage extension id for a persistent queue; NULL: memory */
    bool block_on_overflow;
} ct_queue_settings_t;

typedef struct ct_exporter_settings {
    uint64_t timeout; /* ns, per attempt */
    ct_retry_settings_t retry;
    ct_queue_settings_t queue;
} ct_exporter_settings_t;

/*
 * Option-table entries for the shared settings; put CT_EXPORTER_SETTINGS_OPTS(cfg_type, field)
 * in an exporter's table and set settings_offset = offsetof(cfg_type, field) in its factory.
 */
extern const ct_opt_t ct_retry_opts[];
extern const ct_opt_t ct_queue_opts[];

#define CT_EXPORTER_SETTINGS_OPTS(T, F) CT_EXPORTER_SETTINGS_OPTS_TIMEOUT(T, F, "5s")

/* The same with another default timeout (the Go otlp_http exporter's is 30s). */
/* clang-format off */
#define CT_EXPORTER_SETTINGS_OPTS_TIMEOUT(T, F, TIMEOUT)                                      \
    {"timeout", CT_OPT_DURATION, offsetof(T, F.timeout), TIMEOUT, 0, 0, NULL,                 \
     "time limit of one send attempt"},                                                       \
    {"retry_on_failure", CT_OPT_SECTION, offsetof(T, F.retry.present), NULL, 0, 0, NULL,      \
     "retry with exponential backoff", ct_retry_opts, offsetof(T, F.retry)},                  \
    {"sending_queue", CT_OPT_SECTION, offsetof(T, F.queue.present), NULL, 0, 0, NULL,         \
     "queue between the pipeline and the destination", ct_queue_opts, offsetof(T, F.queue)}
/* clang-format on */

/* Engine side: builds the queue and retry loop around an exporter instance. */
ct_exporter_t *ct_exporter_new(ct_instance_t *inst, ct_err_t *err);
int ct_exporter_start(ct_exporter_t *e, ct_err_t *err);
/* Stops taking data, drains the queue until the deadline, reports what was left. */
void ct_exporter_shutdown(ct_exporter_t *e, uint64_t deadline_ns);
void ct_exporter_free(ct_exporter_t *e);
/* The consumer the pipelines hand data to. */
ct_consumer_t *ct_exporter_consumer(ct_exporter_t *e);
/* Monotonic ns since which every send has failed, or 0 while delivering. */
uint64_t ct_exporter_failing_since(const ct_exporter_t *e);
/* Items currently queued. */
size_t ct_exporter_queue_size(const ct_exporter_t *e);
/* Whether the exporter keeps its queue on disk (sending_queue.storage). */
bool ct_exporter_is_durable(const ct_exporter_t *e);

/* Backoff: the delay before retry number `attempt` (0-based), with jitter. */
uint64_t ct_retry_delay(const ct_retry_settings_t *r, unsigned attempt);

#endif
