/*
 * Renders OTLP export requests as text for the debug exporter. The request
 * is decoded with protobuf-c into an arena freed in one call; the text goes
 * into a ct_buf through a small writer that remembers its first failure.
 */
#include "debug_text.h"

#include "ct_wire.h"

#include "debug_arena.h"

#include "opentelemetry/proto/collector/logs/v1/logs_service.pb-c.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef Opentelemetry__Proto__Common__V1__AnyValue any_value_t;
typedef Opentelemetry__Proto__Common__V1__KeyValue key_value_t;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope scope_t;
typedef Opentelemetry__Proto__Resource__V1__Resource resource_t;
typedef Opentelemetry__Proto__Trace__V1__Span span_t;
typedef Opentelemetry__Proto__Metrics__V1__Metric metric_t;
typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint number_point_t;
typedef Opentelemetry__Proto__Metrics__V1__HistogramDataPoint histogram_point_t;
typedef Opentelemetry__Proto__Metrics__V1__ExponentialHistogramDataPoint exp_point_t;
typedef Opentelemetry__Proto__Metrics__V1__ExponentialHistogramDataPoint__Buckets exp_buckets_t;
typedef Opentelemetry__Proto__Metrics__V1__SummaryDataPoint summary_point_t;
typedef Opentelemetry__Proto__Metrics__V1__Exemplar exemplar_t;
typedef Opentelemetry__Proto__Logs__V1__LogRecord log_record_t;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest trace_req_t;
typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest metrics_req_t;
typedef Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest logs_req_t;

/* A decoded request takes a few times its wire size; far more means a hostile one. */
#define DECODE_FACTOR 64u
#define DECODE_SLACK  (1u << 20)

typedef struct render {
    ct_buf_t *out;
    int rc; /* first failure; later writes are skipped */
    int verbosity;
} render_t;

static void put(render_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(render_t *r, const char *fmt, ...)
{
    if (r->rc)
        return;
    va_list ap;
    va_start(ap, fmt);
    int rc = ct_buf_vprintf(r->out, fmt, ap);
    va_end(ap);
    if (rc < 0)
        r->rc = rc;
}

static void put_raw(render_t *r, const void *p, size_t n)
{
    if (r->rc)
        return;
    int rc = ct_buf_append(r->out, p, n);
    if (rc < 0)
        r->rc = rc;
}

static void put_indent(render_t *r, int level)
{
    static const char spaces[] = "                                ";
    size_t n = (size_t)level * 4;
    put_raw(r, spaces, n < sizeof spaces - 1 ? n : sizeof spaces - 1);
}

/* Client text with control characters escaped: one item never spans lines. */
static void put_escaped(render_t *r, const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != 0x7f)
            continue;
        put_raw(r, s + start, i - start);
        if (c == '\n')
            put_raw(r, "\\n", 2);
        else if (c == '\t')
            put_raw(r, "\\t", 2);
        else if (c == '\r')
            put_raw(r, "\\r", 2);
        else
            put(r, "\\x%02x", c);
        start = i + 1;
    }
    put_raw(r, s + start, n - start);
}

static void put_str(render_t *r, const char *s)
{
    if (s)
        put_escaped(r, s, strlen(s));
}

static void put_hex(render_t *r, ProtobufCBinaryData b)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < b.len; i++) {
        char pair[2] = {digits[b.data[i] >> 4], digits[b.data[i] & 0xf]};
        put_raw(r, pair, 2);
    }
}

/* The shortest of %.15g and %.17g that reads back as the same double. */
static void put_double(render_t *r, double d)
{
    char s[40];
    snprintf(s, sizeof s, "%.15g", d);
    if (strtod(s, NULL) != d)
        snprintf(s, sizeof s, "%.17g", d);
    put(r, "%s", s);
}

/* Nanoseconds since the epoch as RFC 3339 UTC with all nine digits. */
static void put_time(render_t *r, uint64_t ns)
{
    time_t secs = (time_t)(ns / 1000000000u);
    struct tm tm;
    char day[32];
    if (!gmtime_r(&secs, &tm) || strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        put(r, "%" PRIu64, ns);
        return;
    }
    put(r, "%s.%09" PRIu64 "Z", day, ns % 1000000000u);
}

static void put_value(render_t *r, const any_value_t *v, bool typed);

static void put_kvlist_inline(render_t *r, key_value_t *const *kv, size_t n, bool typed)
{
    put_raw(r, "{", 1);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            put_raw(r, ", ", 2);
        put_str(r, kv[i]->key);
        put_raw(r, typed ? ": " : "=", typed ? 2 : 1);
        put_value(r, kv[i]->value, typed);
    }
    put_raw(r, "}", 1);
}

/*
 * One attribute value. `typed` (detailed) names the type as in Str(x); plain
 * (normal) writes the bare value. Nesting is bounded by the receivers'
 * validation of the wire format.
 */
static void put_value(render_t *r, const any_value_t *v, bool typed)
{
    if (!v || v->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE__NOT_SET) {
        put(r, "%s", typed ? "Empty()" : "");
        return;
    }
    switch (v->value_case) {
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
        put(r, "%s", typed ? "Str(" : "");
        put_str(r, v->string_value);
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
        put(r, "%s%s", typed ? "Bool(" : "", v->bool_value ? "true" : "false");
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
        put(r, "%s%" PRId64, typed ? "Int(" : "", v->int_value);
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
        put(r, "%s", typed ? "Double(" : "");
        put_double(r, v->double_value);
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE:
        put(r, "%s", typed ? "Bytes(" : "0x");
        put_hex(r, v->bytes_value);
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE:
        put(r, "%s[", typed ? "Slice(" : "");
        for (size_t i = 0; v->array_value && i < v->array_value->n_values; i++) {
            if (i > 0)
                put_raw(r, ", ", 2);
            put_value(r, v->array_value->values[i], typed);
        }
        put_raw(r, "]", 1);
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE:
        put(r, "%s", typed ? "Map(" : "");
        if (v->kvlist_value)
            put_kvlist_inline(r, v->kvlist_value->values, v->kvlist_value->n_values, typed);
        else
            put_raw(r, "{}", 2);
        break;
    default:
        /* A profiles-only string table index: meaningless outside profiles. */
        put(r, "%s", typed ? "Empty(" : "");
        break;
    }
    if (typed)
        put_raw(r, ")", 1);
}

/* " attributes={k=v, ...}" on a normal line, nothing when there are none. */
static void put_attrs_plain(render_t *r, key_value_t *const *kv, size_t n)
{
    if (n == 0)
        return;
    put_raw(r, " attributes=", 12);
    put_kvlist_inline(r, kv, n, false);
}

/* A detailed block: a heading, then one "key: Type(value)" line per attribute. */
static void put_attrs_block(render_t *r, int level, const char *title, key_value_t *const *kv,
                            size_t n)
{
    if (n == 0)
        return;
    put_indent(r, level);
    put(r, "%s:\n", title);
    for (size_t i = 0; i < n; i++) {
        put_indent(r, level + 1);
        put_str(r, kv[i]->key);
        put_raw(r, ": ", 2);
        put_value(r, kv[i]->value, true);
        put_raw(r, "\n", 1);
    }
}

/* "<indent>name: value\n" with the value escaped. */
static void put_field_str(render_t *r, int level, const char *name, const char *value)
{
    put_indent(r, level);
    put(r, "%s: ", name);
    put_str(r, value);
    put_raw(r, "\n", 1);
}

static void put_field_hex(render_t *r, int level, const char *name, ProtobufCBinaryData b)
{
    put_indent(r, level);
    put(r, "%s: ", name);
    put_hex(r, b);
    put_raw(r, "\n", 1);
}

static void put_field_time(render_t *r, int level, const char *name, uint64_t ns)
{
    put_indent(r, level);
    put(r, "%s: ", name);
    put_time(r, ns);
    put_raw(r, "\n", 1);
}

static void put_dropped(render_t *r, int level, const char *what, uint32_t n)
{
    if (n == 0)
        return;
    put_indent(r, level);
    put(r, "dropped_%s_count: %" PRIu32 "\n", what, n);
}

static void put_resource(render_t *r, const resource_t *res, const char *schema_url)
{
    put_field_str(r, 1, "schema_url", schema_url);
    if (!res)
        return;
    put_attrs_block(r, 1, "resource attributes", res->attributes, res->n_attributes);
    put_dropped(r, 1, "attributes", res->dropped_attributes_count);
    for (size_t i = 0; i < res->n_entity_refs; i++) {
        const Opentelemetry__Proto__Common__V1__EntityRef *e = res->entity_refs[i];
        put_indent(r, 1);
        put(r, "entity #%zu: type=", i);
        put_str(r, e->type);
        put_raw(r, " id_keys=[", 10);
        for (size_t k = 0; k < e->n_id_keys; k++) {
            if (k > 0)
                put_raw(r, ", ", 2);
            put_str(r, e->id_keys[k]);
        }
        put_raw(r, "]\n", 2);
    }
}

static void put_scope(render_t *r, const scope_t *scope, const char *schema_url)
{
    put_field_str(r, 2, "schema_url", schema_url);
    if (!scope)
        return;
    put_indent(r, 2);
    put(r, "scope: ");
    put_str(r, scope->name);
    if (scope->version && scope->version[0]) {
        put_raw(r, " ", 1);
        put_str(r, scope->version);
    }
    put_raw(r, "\n", 1);
    put_attrs_block(r, 2, "scope attributes", scope->attributes, scope->n_attributes);
    put_dropped(r, 2, "attributes", scope->dropped_attributes_count);
}

/* ---- traces ---- */

static const char *span_kind_name(int kind)
{
    static const char *const names[] = {"Unspecified", "Internal", "Server",
                                        "Client",      "Producer", "Consumer"};
    return kind >= 0 && (size_t)kind < CT_ARRAY_LEN(names) ? names[kind] : "Unknown";
}

static const char *status_code_name(int code)
{
    static const char *const names[] = {"Unset", "Ok", "Error"};
    return code >= 0 && (size_t)code < CT_ARRAY_LEN(names) ? names[code] : "Unknown";
}

static void render_span_detailed(render_t *r, const span_t *s)
{
    put_field_hex(r, 3, "trace_id", s->trace_id);
    put_field_hex(r, 3, "parent_span_id", s->parent_span_id);
    put_field_hex(r, 3, "span_id", s->span_id);
    put_field_str(r, 3, "trace_state", s->trace_state);
    put_field_str(r, 3, "name", s->name);
    put_indent(r, 3);
    put(r, "kind: %s\n", span_kind_name(s->kind));
    put_field_time(r, 3, "start_time", s->start_time_unix_nano);
    put_field_time(r, 3, "end_time", s->end_time_unix_nano);
    put_indent(r, 3);
    put(r, "status_code: %s\n", status_code_name(s->status ? (int)s->status->code : 0));
    put_field_str(r, 3, "status_message", s->status ? s->status->message : "");
    put_indent(r, 3);
    put(r, "flags: 0x%08" PRIx32 "\n", s->flags);
    put_attrs_block(r, 3, "attributes", s->attributes, s->n_attributes);
    put_dropped(r, 3, "attributes", s->dropped_attributes_count);

    for (size_t i = 0; i < s->n_events; i++) {
        const Opentelemetry__Proto__Trace__V1__Span__Event *e = s->events[i];
        put_indent(r, 3);
        put(r, "Event #%zu\n", i);
        put_field_str(r, 4, "name", e->name);
        put_field_time(r, 4, "time", e->time_unix_nano);
        put_attrs_block(r, 4, "attributes", e->attributes, e->n_attributes);
        put_dropped(r, 4, "attributes", e->dropped_attributes_count);
    }
    put_dropped(r, 3, "events", s->dropped_events_count);

    for (size_t i = 0; i < s->n_links; i++) {
        const Opentelemetry__Proto__Trace__V1__Span__Link *l = s->links[i];
        put_indent(r, 3);
        put(r, "Link #%zu\n", i);
        put_field_hex(r, 4, "trace_id", l->trace_id);
        put_field_hex(r, 4, "span_id", l->span_id);
        put_field_str(r, 4, "trace_state", l->trace_state);
        put_indent(r, 4);
        put(r, "flags: 0x%08" PRIx32 "\n", l->flags);
        put_attrs_block(r, 4, "attributes", l->attributes, l->n_attributes);
        put_dropped(r, 4, "attributes", l->dropped_attributes_count);
    }
    put_dropped(r, 3, "links", s->dropped_links_count);
}

static void render_span_normal(render_t *r, const span_t *s)
{
    put(r, "span name=");
    put_str(r, s->name);
    put(r, " trace_id=");
    put_hex(r, s->trace_id);
    put(r, " span_id=");
    put_hex(r, s->span_id);
    put_attrs_plain(r, s->attributes, s->n_attributes);
    put_raw(r, "\n", 1);
}

static void render_traces(render_t *r, const trace_req_t *req)
{
    size_t spans = 0;
    for (size_t i = 0; i < req->n_resource_spans; i++)
        for (size_t j = 0; j < req->resource_spans[i]->n_scope_spans; j++)
            spans += req->resource_spans[i]->scope_spans[j]->n_spans;
    put(r, "TracesExporter resource_spans=%zu spans=%zu\n", req->n_resource_spans, spans);

    for (size_t i = 0; i < req->n_resource_spans; i++) {
        const Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = req->resource_spans[i];
        if (r->verbosity == DEBUG_DETAILED) {
            put(r, "ResourceSpans #%zu\n", i);
            put_resource(r, rs->resource, rs->schema_url);
        }
        for (size_t j = 0; j < rs->n_scope_spans; j++) {
            const Opentelemetry__Proto__Trace__V1__ScopeSpans *ss = rs->scope_spans[j];
            if (r->verbosity == DEBUG_DETAILED) {
                put_indent(r, 1);
                put(r, "ScopeSpans #%zu\n", j);
                put_scope(r, ss->scope, ss->schema_url);
            }
            for (size_t k = 0; k < ss->n_spans; k++) {
                if (r->verbosity == DEBUG_NORMAL) {
                    render_span_normal(r, ss->spans[k]);
                    continue;
                }
                put_indent(r, 2);
                put(r, "Span #%zu\n", k);
                render_span_detailed(r, ss->spans[k]);
            }
        }
    }
}

/* ---- metrics ---- */

static const char *metric_type_name(const metric_t *m)
{
    switch (m->data_case) {
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE:
        return "Gauge";
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM:
        return "Sum";
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM:
        return "Histogram";
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_EXPONENTIAL_HISTOGRAM:
        return "ExponentialHistogram";
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUMMARY:
        return "Summary";
    default:
        return "Empty";
    }
}

static size_t metric_points(const metric_t *m)
{
    switch (m->data_case) {
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE:
        return m->gauge ? m->gauge->n_data_points : 0;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM:
        return m->sum ? m->sum->n_data_points : 0;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM:
        return m->histogram ? m->histogram->n_data_points : 0;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_EXPONENTIAL_HISTOGRAM:
        return m->exponential_histogram ? m->exponential_histogram->n_data_points : 0;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUMMARY:
        return m->summary ? m->summary->n_data_points : 0;
    default:
        return 0;
    }
}

static const char *temporality_name(int t)
{
    static const char *const names[] = {"Unspecified", "Delta", "Cumulative"};
    return t >= 0 && (size_t)t < CT_ARRAY_LEN(names) ? names[t] : "Unknown";
}

static void put_point_common(render_t *r, key_value_t *const *attrs, size_t nattrs, uint64_t start,
                             uint64_t time, uint32_t flags)
{
    put_attrs_block(r, 4, "attributes", attrs, nattrs);
    put_field_time(r, 4, "start_time", start);
    put_field_time(r, 4, "time", time);
    put_indent(r, 4);
    put(r, "flags: 0x%08" PRIx32 "\n", flags);
}

static void put_exemplars(render_t *r, exemplar_t *const *ex, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const exemplar_t *e = ex[i];
        put_indent(r, 4);
        put(r, "Exemplar #%zu\n", i);
        put_field_time(r, 5, "time", e->time_unix_nano);
        put_field_hex(r, 5, "trace_id", e->trace_id);
        put_field_hex(r, 5, "span_id", e->span_id);
        put_indent(r, 5);
        if (e->value_case == OPENTELEMETRY__PROTO__METRICS__V1__EXEMPLAR__VALUE_AS_INT) {
            put(r, "value: Int(%" PRId64 ")\n", e->as_int);
        } else if (e->value_case == OPENTELEMETRY__PROTO__METRICS__V1__EXEMPLAR__VALUE_AS_DOUBLE) {
            put(r, "value: Double(");
            put_double(r, e->as_double);
            put(r, ")\n");
        } else {
            put(r, "value: Empty()\n");
        }
        put_attrs_block(r, 5, "filtered_attributes", e->filtered_attributes,
                        e->n_filtered_attributes);
    }
}

/* "<indent>name: v\n" for an optional double of a histogram, "unset" when absent. */
static void put_opt_double(render_t *r, const char *name, bool present, double v)
{
    put_indent(r, 4);
    put(r, "%s: ", name);
    if (present)
        put_double(r, v);
    else
        put(r, "unset");
    put_raw(r, "\n", 1);
}

static void put_number_points(render_t *r, number_point_t *const *dp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const number_point_t *p = dp[i];
        put_indent(r, 3);
        put(r, "NumberDataPoint #%zu\n", i);
        put_point_common(r, p->attributes, p->n_attributes, p->start_time_unix_nano,
                         p->time_unix_nano, p->flags);
        put_indent(r, 4);
        if (p->value_case == OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT) {
            put(r, "value: Int(%" PRId64 ")\n", p->as_int);
        } else if (p->value_case ==
                   OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE) {
            put(r, "value: Double(");
            put_double(r, p->as_double);
            put(r, ")\n");
        } else {
            put(r, "value: Empty()\n");
        }
        put_exemplars(r, p->exemplars, p->n_exemplars);
    }
}

static void put_histogram_points(render_t *r, histogram_point_t *const *dp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const histogram_point_t *p = dp[i];
        put_indent(r, 3);
        put(r, "HistogramDataPoint #%zu\n", i);
        put_point_common(r, p->attributes, p->n_attributes, p->start_time_unix_nano,
                         p->time_unix_nano, p->flags);
        put_indent(r, 4);
        put(r, "count: %" PRIu64 "\n", p->count);
        put_opt_double(r, "sum", p->_sum_case != 0, p->sum);
        put_opt_double(r, "min", p->_min_case != 0, p->min);
        put_opt_double(r, "max", p->_max_case != 0, p->max);
        put_indent(r, 4);
        put(r, "explicit_bounds: [");
        for (size_t b = 0; b < p->n_explicit_bounds; b++) {
            if (b > 0)
                put_raw(r, ", ", 2);
            put_double(r, p->explicit_bounds[b]);
        }
        put(r, "]\n");
        put_indent(r, 4);
        put(r, "bucket_counts: [");
        for (size_t b = 0; b < p->n_bucket_counts; b++)
            put(r, "%s%" PRIu64, b > 0 ? ", " : "", p->bucket_counts[b]);
        put(r, "]\n");
        put_exemplars(r, p->exemplars, p->n_exemplars);
    }
}

static void put_exp_buckets(render_t *r, const char *name, const exp_buckets_t *b)
{
    put_indent(r, 4);
    put(r, "%s: offset=%" PRId32 " bucket_counts=[", name, b ? b->offset : 0);
    for (size_t i = 0; b && i < b->n_bucket_counts; i++)
        put(r, "%s%" PRIu64, i > 0 ? ", " : "", b->bucket_counts[i]);
    put(r, "]\n");
}

static void put_exp_points(render_t *r, exp_point_t *const *dp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const exp_point_t *p = dp[i];
        put_indent(r, 3);
        put(r, "ExponentialHistogramDataPoint #%zu\n", i);
        put_point_common(r, p->attributes, p->n_attributes, p->start_time_unix_nano,
                         p->time_unix_nano, p->flags);
        put_indent(r, 4);
        put(r, "count: %" PRIu64 "\n", p->count);
        put_opt_double(r, "sum", p->_sum_case != 0, p->sum);
        put_opt_double(r, "min", p->_min_case != 0, p->min);
        put_opt_double(r, "max", p->_max_case != 0, p->max);
        put_indent(r, 4);
        put(r, "scale: %" PRId32 "\n", p->scale);
        put_indent(r, 4);
        put(r, "zero_count: %" PRIu64 "\n", p->zero_count);
        put_opt_double(r, "zero_threshold", true, p->zero_threshold);
        put_exp_buckets(r, "positive", p->positive);
        put_exp_buckets(r, "negative", p->negative);
        put_exemplars(r, p->exemplars, p->n_exemplars);
    }
}

static void put_summary_points(render_t *r, summary_point_t *const *dp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const summary_point_t *p = dp[i];
        put_indent(r, 3);
        put(r, "SummaryDataPoint #%zu\n", i);
        put_point_common(r, p->attributes, p->n_attributes, p->start_time_unix_nano,
                         p->time_unix_nano, p->flags);
        put_indent(r, 4);
        put(r, "count: %" PRIu64 "\n", p->count);
        put_opt_double(r, "sum", true, p->sum);
        for (size_t q = 0; q < p->n_quantile_values; q++) {
            put_indent(r, 4);
            put(r, "quantile ");
            put_double(r, p->quantile_values[q]->quantile);
            put(r, ": ");
            put_double(r, p->quantile_values[q]->value);
            put_raw(r, "\n", 1);
        }
    }
}

static void render_metric_detailed(render_t *r, const metric_t *m)
{
    put_field_str(r, 3, "name", m->name);
    put_field_str(r, 3, "description", m->description);
    put_field_str(r, 3, "unit", m->unit);
    put_indent(r, 3);
    put(r, "type: %s", metric_type_name(m));
    switch (m->data_case) {
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM:
        put(r, " temporality=%s monotonic=%s\n", temporality_name(m->sum->aggregation_temporality),
            m->sum->is_monotonic ? "true" : "false");
        break;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM:
        put(r, " temporality=%s\n", temporality_name(m->histogram->aggregation_temporality));
        break;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_EXPONENTIAL_HISTOGRAM:
        put(r, " temporality=%s\n",
            temporality_name(m->exponential_histogram->aggregation_temporality));
        break;
    default:
        put_raw(r, "\n", 1);
        break;
    }
    put_attrs_block(r, 3, "metadata", m->metadata, m->n_metadata);

    switch (m->data_case) {
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE:
        put_number_points(r, m->gauge->data_points, m->gauge->n_data_points);
        break;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM:
        put_number_points(r, m->sum->data_points, m->sum->n_data_points);
        break;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM:
        put_histogram_points(r, m->histogram->data_points, m->histogram->n_data_points);
        break;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_EXPONENTIAL_HISTOGRAM:
        put_exp_points(r, m->exponential_histogram->data_points,
                       m->exponential_histogram->n_data_points);
        break;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUMMARY:
        put_summary_points(r, m->summary->data_points, m->summary->n_data_points);
        break;
    default:
        break;
    }
}

static void render_metrics(render_t *r, const metrics_req_t *req)
{
    size_t metrics = 0, points = 0;
    for (size_t i = 0; i < req->n_resource_metrics; i++) {
        const Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rm = req->resource_metrics[i];
        for (size_t j = 0; j < rm->n_scope_metrics; j++) {
            metrics += rm->scope_metrics[j]->n_metrics;
            for (size_t k = 0; k < rm->scope_metrics[j]->n_metrics; k++)
                points += metric_points(rm->scope_metrics[j]->metrics[k]);
        }
    }
    put(r, "MetricsExporter resource_metrics=%zu metrics=%zu data_points=%zu\n",
        req->n_resource_metrics, metrics, points);

    for (size_t i = 0; i < req->n_resource_metrics; i++) {
        const Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rm = req->resource_metrics[i];
        if (r->verbosity == DEBUG_DETAILED) {
            put(r, "ResourceMetrics #%zu\n", i);
            put_resource(r, rm->resource, rm->schema_url);
        }
        for (size_t j = 0; j < rm->n_scope_metrics; j++) {
            const Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm = rm->scope_metrics[j];
            if (r->verbosity == DEBUG_DETAILED) {
                put_indent(r, 1);
                put(r, "ScopeMetrics #%zu\n", j);
                put_scope(r, sm->scope, sm->schema_url);
            }
            for (size_t k = 0; k < sm->n_metrics; k++) {
                const metric_t *m = sm->metrics[k];
                if (r->verbosity == DEBUG_NORMAL) {
                    put(r, "metric name=");
                    put_str(r, m->name);
                    put(r, " type=%s data_points=%zu\n", metric_type_name(m), metric_points(m));
                    continue;
                }
                put_indent(r, 2);
                put(r, "Metric #%zu\n", k);
                render_metric_detailed(r, m);
            }
        }
    }
}

/* ---- logs ---- */

/* The short names the log data model gives severity numbers 1-24. */
static void put_severity_number(render_t *r, int n)
{
    static const char *const bands[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"};
    if (n < 1 || n > 24) {
        put(r, "%s", n == 0 ? "UNSPECIFIED" : "UNKNOWN");
        return;
    }
    int band = (n - 1) / 4, step = (n - 1) % 4;
    if (step == 0)
        put(r, "%s", bands[band]);
    else
        put(r, "%s%d", bands[band], step + 1);
}

static void render_log_normal(render_t *r, const log_record_t *l)
{
    put(r, "log time=");
    put_time(r, l->time_unix_nano ? l->time_unix_nano : l->observed_time_unix_nano);
    put(r, " severity=");
    if (l->severity_text && l->severity_text[0])
        put_str(r, l->severity_text);
    else
        put_severity_number(r, l->severity_number);
    put(r, " body=");
    put_value(r, l->body, false);
    put_attrs_plain(r, l->attributes, l->n_attributes);
    put_raw(r, "\n", 1);
}

static void render_log_detailed(render_t *r, const log_record_t *l)
{
    put_field_time(r, 3, "observed_time", l->observed_time_unix_nano);
    put_field_time(r, 3, "time", l->time_unix_nano);
    put_field_str(r, 3, "severity_text", l->severity_text);
    put_indent(r, 3);
    put(r, "severity_number: ");
    put_severity_number(r, l->severity_number);
    put(r, "(%d)\n", (int)l->severity_number);
    put_field_str(r, 3, "event_name", l->event_name);
    put_indent(r, 3);
    put(r, "body: ");
    put_value(r, l->body, true);
    put_raw(r, "\n", 1);
    put_attrs_block(r, 3, "attributes", l->attributes, l->n_attributes);
    put_dropped(r, 3, "attributes", l->dropped_attributes_count);
    put_field_hex(r, 3, "trace_id", l->trace_id);
    put_field_hex(r, 3, "span_id", l->span_id);
    put_indent(r, 3);
    put(r, "flags: 0x%08" PRIx32 "\n", l->flags);
}

static void render_logs(render_t *r, const logs_req_t *req)
{
    size_t records = 0;
    for (size_t i = 0; i < req->n_resource_logs; i++)
        for (size_t j = 0; j < req->resource_logs[i]->n_scope_logs; j++)
            records += req->resource_logs[i]->scope_logs[j]->n_log_records;
    put(r, "LogsExporter resource_logs=%zu log_records=%zu\n", req->n_resource_logs, records);

    for (size_t i = 0; i < req->n_resource_logs; i++) {
        const Opentelemetry__Proto__Logs__V1__ResourceLogs *rl = req->resource_logs[i];
        if (r->verbosity == DEBUG_DETAILED) {
            put(r, "ResourceLogs #%zu\n", i);
            put_resource(r, rl->resource, rl->schema_url);
        }
        for (size_t j = 0; j < rl->n_scope_logs; j++) {
            const Opentelemetry__Proto__Logs__V1__ScopeLogs *sl = rl->scope_logs[j];
            if (r->verbosity == DEBUG_DETAILED) {
                put_indent(r, 1);
                put(r, "ScopeLogs #%zu\n", j);
                put_scope(r, sl->scope, sl->schema_url);
            }
            for (size_t k = 0; k < sl->n_log_records; k++) {
                if (r->verbosity == DEBUG_NORMAL) {
                    render_log_normal(r, sl->log_records[k]);
                    continue;
                }
                put_indent(r, 2);
                put(r, "LogRecord #%zu\n", k);
                render_log_detailed(r, sl->log_records[k]);
            }
        }
    }
}

/* basic needs only counts: read from the wire, nothing decoded and nothing allocated. */
static int render_basic(ct_signal_t sig, const uint8_t *p, size_t len, ct_buf_t *out, char *err,
                        size_t errlen)
{
    size_t res, metrics, items;
    if (ct_wire_count(sig, p, len, &res, &metrics, &items) != 0) {
        snprintf(err, errlen, "cannot decode the %s request", ct_signal_name(sig));
        return -EINVAL;
    }
    if (sig == CT_SIGNAL_TRACES)
        return ct_buf_printf(out, "TracesExporter resource_spans=%zu spans=%zu\n", res, items);
    if (sig == CT_SIGNAL_METRICS)
        return ct_buf_printf(out,
                             "MetricsExporter resource_metrics=%zu metrics=%zu "
                             "data_points=%zu\n",
                             res, metrics, items);
    return ct_buf_printf(out, "LogsExporter resource_logs=%zu log_records=%zu\n", res, items);
}

int debug_text_render(ct_signal_t sig, const uint8_t *p, size_t len, int verbosity, ct_buf_t *out,
                      char *err, size_t errlen)
{
    if (verbosity == DEBUG_BASIC)
        return render_basic(sig, p, len, out, err, errlen);

    render_t r = {.out = out, .rc = 0, .verbosity = verbosity};
    debug_arena_t arena;
    size_t max = len > (SIZE_MAX - DECODE_SLACK) / DECODE_FACTOR
                     ? SIZE_MAX
                     : len * DECODE_FACTOR + DECODE_SLACK;
    debug_arena_init(&arena, len * 4, max);
    size_t start = out->len;
    int rc = 0;

    switch (sig) {
    case CT_SIGNAL_TRACES: {
        trace_req_t *req =
            opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
                &arena.pb, len, p);
        if (req)
            render_traces(&r, req);
        rc = req ? r.rc : -EINVAL;
        break;
    }
    case CT_SIGNAL_METRICS: {
        metrics_req_t *req =
            opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
                &arena.pb, len, p);
        if (req)
            render_metrics(&r, req);
        rc = req ? r.rc : -EINVAL;
        break;
    }
    case CT_SIGNAL_LOGS: {
        logs_req_t *req =
            opentelemetry__proto__collector__logs__v1__export_logs_service_request__unpack(
                &arena.pb, len, p);
        if (req)
            render_logs(&r, req);
        rc = req ? r.rc : -EINVAL;
        break;
    }
    default:
        rc = -EINVAL;
        break;
    }

    if (rc == -EINVAL && err)
        snprintf(err, errlen, "cannot decode the %s request (%zu bytes): malformed or too large",
                 ct_signal_name(sig), len);
    if (rc != 0)
        out->len = start;
    debug_arena_release(&arena);
    return rc;
}
