/*
 * cotel's own metrics: counters and gauges registered by name and labels,
 * written in the Prometheus text format with the OpenTelemetry Collector's
 * metric names (counters carry the `_total` suffix, as its Prometheus
 * exporter writes them).
 */
#ifndef CT_METRICS_H
#define CT_METRICS_H

#include "ct_common.h"

#include <stdatomic.h>
#include <stdint.h>

typedef struct ct_counter {
    _Atomic uint64_t v;
} ct_counter_t;

static inline void ct_counter_add(ct_counter_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}

static inline uint64_t ct_counter_get(const ct_counter_t *c)
{
    return atomic_load_explicit(&c->v, memory_order_relaxed);
}

/*
 * Returns the counter for name and labels (e.g. "receiver=\"otlp\",transport=\"grpc\""),
 * creating it on first use. The pointer is valid for the life of the process.
 */
ct_counter_t *ct_metrics_counter(const char *name, const char *help, const char *labels);
/* A gauge whose value is a counter cell set by the owner (ct_gauge_set). */
ct_counter_t *ct_metrics_gauge(const char *name, const char *help, const char *labels);

static inline void ct_gauge_set(ct_counter_t *g, uint64_t v)
{
    atomic_store_explicit(&g->v, v, memory_order_relaxed);
}

/* A gauge computed when scraped. */
typedef double (*ct_gauge_fn)(void *arg);
void ct_metrics_gauge_fn(const char *name, const char *help, const char *labels, ct_gauge_fn fn,
                         void *arg);
/* A counter computed when scraped (written with `_total`, like the other counters). */
void ct_metrics_counter_fn(const char *name, const char *help, const char *labels, ct_gauge_fn fn,
                           void *arg);
/* Stops showing every function metric registered with arg. */
void ct_metrics_gauge_fn_remove(void *arg);

/*
 * Labels written on every series after its own, e.g. the service's resource
 * (`service_name="cotel",service_instance_id="..."`), as the Go collector adds
 * them. NULL or "" removes them. Returns -1 when out of memory.
 */
int ct_metrics_set_const_labels(const char *labels);

/*
 * Escapes a label value for the exposition format (backslash, double quote,
 * line feed) into out, cut short to fit len; returns the length written.
 */
size_t ct_metrics_label_escape(char *out, size_t len, const char *value);

/* Histogram with fixed bucket bounds (values in the metric's unit). */
typedef struct ct_histogram ct_histogram_t;
ct_histogram_t *ct_metrics_histogram(const char *name, const char *help, const char *labels,
                                     const double *bounds, size_t nbounds);
void ct_histogram_observe(ct_histogram_t *h, double v);

/* Writes every metric in the Prometheus text exposition format 0.0.4. */
int ct_metrics_write_prometheus(ct_buf_t *out);

/* Reads a counter by name and labels (for tests and health); 0 when absent. */
uint64_t ct_metrics_value(const char *name, const char *labels);

/*
 * The counters a receiver keeps, as the OpenTelemetry Collector names them:
 * otelcol_receiver_accepted_{spans,metric_points,log_records} and _refused_,
 * labelled receiver="<id>", transport="<grpc|http|kafka>".
 */
typedef struct ct_receiver_obs {
    ct_counter_t *accepted[CT_SIGNAL_COUNT];
    ct_counter_t *refused[CT_SIGNAL_COUNT];
} ct_receiver_obs_t;

void ct_receiver_obs_init(ct_receiver_obs_t *o, const char *receiver_id, const char *transport);
/* Counts items as accepted when code is CT_OK, else as refused. */
void ct_receiver_obs_record(ct_receiver_obs_t *o, ct_signal_t sig, size_t items, ct_code_t code);

#endif
