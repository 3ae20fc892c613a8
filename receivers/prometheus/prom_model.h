/*
 * The OTLP a scrape becomes, before it is encoded: resources, scopes,
 * metrics and points, built by prom_target.c and written as protobuf by
 * prom_otlp.c. Strings point into the scrape's text, its arena or the
 * target's series keys, all valid until the next scrape.
 */
#ifndef PROM_MODEL_H
#define PROM_MODEL_H

#include "ct_common.h"
#include "prom_parse.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct prom_res {
    prom_str_t job, instance;
    prom_label_t *attrs; /* the labels of target_info */
    uint32_t nattrs;
} prom_res_t;

/* A scope named by otel_scope_name/otel_scope_version labels; name.n == 0: the receiver's. */
typedef struct prom_scope {
    uint32_t res;
    prom_str_t name, version;
    prom_label_t *attrs; /* the labels of otel_scope_info */
    uint32_t nattrs;
} prom_scope_t;

typedef struct prom_metric {
    uint32_t res, scope;
    prom_str_t name, help;
    prom_type_t type;
    const char *unit;
    uint32_t first, last; /* its points */
} prom_metric_t;

typedef struct prom_datapoint {
    uint32_t next;
    uint32_t nattrs;
    prom_label_t *attrs;
    uint64_t start_ns, time_ns;
    bool stale;
    double value;
    const prom_point_t *src; /* histogram and summary data */
} prom_datapoint_t;

typedef struct prom_model {
    prom_res_t *res;
    size_t nres, cap_res;
    prom_scope_t *scopes;
    size_t nscopes, cap_scopes;
    prom_metric_t *metrics;
    size_t nmetrics, cap_metrics;
    prom_datapoint_t *points;
    size_t npoints, cap_points;

    const prom_scrape_t *scrape; /* the buckets and quantiles of points' src */
    const char *scheme;          /* "http" or "https": url.scheme */
    prom_bucket_t *sorted;       /* scratch of the writer */
    size_t cap_sorted;
} prom_model_t;

/*
 * Appends the model as an ExportMetricsServiceRequest to out (resources
 * without points are left out). Returns the number of data points written,
 * or -1 when out of memory.
 */
long prom_model_write(prom_model_t *m, ct_buf_t *out);

/* Frees the model's arrays (not what they point to). */
void prom_model_free(prom_model_t *m);

#endif
