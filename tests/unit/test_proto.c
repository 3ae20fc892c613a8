/*
 * Tests of the OTLP schema as compiled by protoc-c (proto/): exact wire bytes
 * of hand-built messages, so a wrong field number or type fails here, and
 * pack/unpack round trips of full trace, metrics and logs export requests.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ct_test.h"
#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb-c.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

typedef Opentelemetry__Proto__Common__V1__AnyValue any_value_t;
typedef Opentelemetry__Proto__Common__V1__ArrayValue array_value_t;
typedef Opentelemetry__Proto__Common__V1__KeyValueList kv_list_t;
typedef Opentelemetry__Proto__Common__V1__KeyValue key_value_t;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope scope_t;
typedef Opentelemetry__Proto__Common__V1__EntityRef entity_ref_t;
typedef Opentelemetry__Proto__Resource__V1__Resource resource_t;
typedef Opentelemetry__Proto__Trace__V1__Span span_t;
typedef Opentelemetry__Proto__Trace__V1__Span__Event span_event_t;
typedef Opentelemetry__Proto__Trace__V1__Span__Link span_link_t;
typedef Opentelemetry__Proto__Trace__V1__Status span_status_t;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans scope_spans_t;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans resource_spans_t;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest trace_req_t;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse trace_resp_t;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTracePartialSuccess trace_partial_t;
typedef Opentelemetry__Proto__Metrics__V1__Metric metric_t;
typedef Opentelemetry__Proto__Metrics__V1__Gauge gauge_t;
typedef Opentelemetry__Proto__Metrics__V1__Sum sum_t;
typedef Opentelemetry__Proto__Metrics__V1__Histogram histogram_t;
typedef Opentelemetry__Proto__Metrics__V1__ExponentialHistogram exp_histogram_t;
typedef Opentelemetry__Proto__Metrics__V1__Summary summary_t;
typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint number_dp_t;
typedef Opentelemetry__Proto__Metrics__V1__HistogramDataPoint histogram_dp_t;
typedef Opentelemetry__Proto__Metrics__V1__ExponentialHistogramDataPoint exp_histogram_dp_t;
typedef Opentelemetry__Proto__Metrics__V1__ExponentialHistogramDataPoint__Buckets buckets_t;
typedef Opentelemetry__Proto__Metrics__V1__SummaryDataPoint summary_dp_t;
typedef Opentelemetry__Proto__Metrics__V1__SummaryDataPoint__ValueAtQuantile quantile_t;
typedef Opentelemetry__Proto__Metrics__V1__Exemplar exemplar_t;
typedef Opentelemetry__Proto__Metrics__V1__ScopeMetrics scope_metrics_t;
typedef Opentelemetry__Proto__Metrics__V1__ResourceMetrics resource_metrics_t;
typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest metrics_req_t;
typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceResponse metrics_resp_t;
typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsPartialSuccess metrics_partial_t;
typedef Opentelemetry__Proto__Logs__V1__LogRecord log_record_t;
typedef Opentelemetry__Proto__Logs__V1__ScopeLogs scope_logs_t;
typedef Opentelemetry__Proto__Logs__V1__ResourceLogs resource_logs_t;
typedef Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest logs_req_t;
typedef Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceResponse logs_resp_t;
typedef Opentelemetry__Proto__Collector__Logs__V1__ExportLogsPartialSuccess logs_partial_t;
typedef Google__Rpc__Status rpc_status_t;
typedef Google__Rpc__RetryInfo retry_info_t;
typedef Google__Protobuf__Any pb_any_t;
typedef Google__Protobuf__Duration pb_duration_t;

#define AV_CASE(x) OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_##x
#define METRIC_CASE(x) OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_##x
#define NDP_CASE(x) OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_##x
#define EXEMPLAR_CASE(x) OPENTELEMETRY__PROTO__METRICS__V1__EXEMPLAR__VALUE_##x
#define HDP_CASE(x) OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT___##x
#define EHDP_CASE(x) OPENTELEMETRY__PROTO__METRICS__V1__EXPONENTIAL_HISTOGRAM_DATA_POINT___##x
#define TEMPORALITY(x) \
    OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_##x
#define SPAN_KIND(x) OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_##x
#define STATUS_CODE(x) OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_##x
#define SEVERITY(x) OPENTELEMETRY__PROTO__LOGS__V1__SEVERITY_NUMBER__SEVERITY_NUMBER_##x

/* Points a repeated field at a new array of the given elements, declared in
 * the caller's scope so it lives as long as the message being built. */
#define SET_LIST(obj, field, ...)                                                     \
    __typeof__(*(obj).field) obj##_##field##_list[] = {__VA_ARGS__};                  \
    (obj).field = obj##_##field##_list;                                               \
    (obj).n_##field = sizeof obj##_##field##_list / sizeof obj##_##field##_list[0]

/* The bytes of one KeyValue {key "a", value {bool_value true}}, used in many
 * expectations below: 0A 01 'a' (key, field 1), 12 02 (value, field 2),
 * 10 01 (AnyValue.bool_value, field 2 varint). */
#define KV_A_TRUE 0x0a, 0x01, 'a', 0x12, 0x02, 0x10, 0x01
#define F64_ZERO 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00
#define F64_ONE 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f

static void dump_hex(const char *label, const uint8_t *buf, size_t len)
{
    fprintf(stderr, "  %-4s (%zu):", label, len);
    for (size_t i = 0; i < len; i++)
        fprintf(stderr, " %02x", buf[i]);
    fprintf(stderr, "\n");
}

/* Packs msg into a new buffer the caller frees; NULL if out of memory. */
static uint8_t *pack_alloc(const ProtobufCMessage *msg, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (buf)
        protobuf_c_message_pack(msg, buf);
    return buf;
}

/* True if msg packs to exactly want; prints both encodings when not. */
static int packs_to(const ProtobufCMessage *msg, const uint8_t *want, size_t want_len)
{
    size_t len = 0;
    uint8_t *buf = pack_alloc(msg, &len);
    int ok = buf && len == want_len && memcmp(buf, want, len) == 0;

    if (!ok && buf) {
        fprintf(stderr, "wire mismatch for %s\n", msg->descriptor->name);
        dump_hex("got", buf, len);
        dump_hex("want", want, want_len);
    }
    free(buf);
    return ok;
}

#define CHECK_WIRE(msg, ...)                                                          \
    do {                                                                              \
        static const uint8_t want_[] = {__VA_ARGS__};                                 \
        CHECK(packs_to(&(msg).base, want_, sizeof want_));                            \
    } while (0)

static void kv_init(key_value_t *kv, any_value_t *v, const char *key)
{
    opentelemetry__proto__common__v1__key_value__init(kv);
    kv->key = (char *)key;
    kv->value = v;
}

static void av_string(any_value_t *v, const char *s)
{
    opentelemetry__proto__common__v1__any_value__init(v);
    v->value_case = AV_CASE(STRING_VALUE);
    v->string_value = (char *)s;
}

static void av_bool(any_value_t *v, int b)
{
    opentelemetry__proto__common__v1__any_value__init(v);
    v->value_case = AV_CASE(BOOL_VALUE);
    v->bool_value = b;
}

static void av_int(any_value_t *v, int64_t i)
{
    opentelemetry__proto__common__v1__any_value__init(v);
    v->value_case = AV_CASE(INT_VALUE);
    v->int_value = i;
}

static void av_double(any_value_t *v, double d)
{
    opentelemetry__proto__common__v1__any_value__init(v);
    v->value_case = AV_CASE(DOUBLE_VALUE);
    v->double_value = d;
}

static void av_bytes(any_value_t *v, const uint8_t *data, size_t len)
{
    opentelemetry__proto__common__v1__any_value__init(v);
    v->value_case = AV_CASE(BYTES_VALUE);
    v->bytes_value.data = (uint8_t *)data;
    v->bytes_value.len = len;
}

/* The shared KeyValue {"a": true} that KV_A_TRUE spells out. */
static any_value_t a_true_value;
static key_value_t a_true;

static void init_a_true(void)
{
    av_bool(&a_true_value, 1);
    kv_init(&a_true, &a_true_value, "a");
}

static const any_value_t *find_attr(key_value_t **kvs, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (kvs[i]->key && strcmp(kvs[i]->key, key) == 0)
            return kvs[i]->value;
    return NULL;
}

static int bin_eq(ProtobufCBinaryData b, const uint8_t *want, size_t len)
{
    return b.len == len && (len == 0 || memcmp(b.data, want, len) == 0);
}

/* ---- wire format: one message at a time, every field's tag checked ---- */

static void test_wire_any_value(void)
{
    any_value_t v, inner;
    array_value_t arr;
    kv_list_t list;
    key_value_t kv;
    static const uint8_t two[] = {1, 2};

    av_string(&v, "hi");
    CHECK_WIRE(v, 0x0a, 0x02, 'h', 'i');
    av_bool(&v, 1);
    CHECK_WIRE(v, 0x10, 0x01);
    av_int(&v, 150);
    CHECK_WIRE(v, 0x18, 0x96, 0x01);
    /* int64, not sint64: a negative value takes ten varint bytes. */
    av_int(&v, -1);
    CHECK_WIRE(v, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01);
    av_double(&v, 1.0);
    CHECK_WIRE(v, 0x21, F64_ONE);
    av_bytes(&v, two, sizeof two);
    CHECK_WIRE(v, 0x3a, 0x02, 0x01, 0x02);

    av_string(&inner, "a");
    opentelemetry__proto__common__v1__array_value__init(&arr);
    SET_LIST(arr, values, &inner);
    opentelemetry__proto__common__v1__any_value__init(&v);
    v.value_case = AV_CASE(ARRAY_VALUE);
    v.array_value = &arr;
    CHECK_WIRE(v, 0x2a, 0x05, 0x0a, 0x03, 0x0a, 0x01, 'a');

    av_int(&inner, 1);
    kv_init(&kv, &inner, "x");
    opentelemetry__proto__common__v1__key_value_list__init(&list);
    SET_LIST(list, values, &kv);
    opentelemetry__proto__common__v1__any_value__init(&v);
    v.value_case = AV_CASE(KVLIST_VALUE);
    v.kvlist_value = &list;
    CHECK_WIRE(v, 0x32, 0x09, 0x0a, 0x07, 0x0a, 0x01, 'x', 0x12, 0x02, 0x18, 0x01);

    /* Profiles-only fields, present so they are not dropped as unknown. */
    opentelemetry__proto__common__v1__any_value__init(&v);
    v.value_case = AV_CASE(STRING_VALUE_STRINDEX);
    v.string_value_strindex = 7;
    CHECK_WIRE(v, 0x40, 0x07);
    opentelemetry__proto__common__v1__key_value__init(&kv);
    kv.key_strindex = 2;
    CHECK_WIRE(kv, 0x18, 0x02);
}

static void test_wire_span(void)
{
    static uint8_t trace_id[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    static uint8_t span_id[8] = {0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8};
    static uint8_t parent_id[8] = {0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8};
    static uint8_t link_trace[1] = {0xcc}, link_span[1] = {0xdd};
    span_t span;
    span_event_t event;
    span_link_t link;
    span_status_t status;

    opentelemetry__proto__trace__v1__span__event__init(&event);
    event.time_unix_nano = 5;
    event.name = "e";

    opentelemetry__proto__trace__v1__span__link__init(&link);
    link.trace_id = (ProtobufCBinaryData){sizeof link_trace, link_trace};
    link.span_id = (ProtobufCBinaryData){sizeof link_span, link_span};
    link.trace_state = "x";
    SET_LIST(link, attributes, &a_true);
    link.dropped_attributes_count = 1;
    link.flags = 0x101;
    CHECK_WIRE(link, 0x0a, 0x01, 0xcc, 0x12, 0x01, 0xdd, 0x1a, 0x01, 'x', 0x22, 0x07, KV_A_TRUE,
               0x28, 0x01, 0x35, 0x01, 0x01, 0x00, 0x00);

    opentelemetry__proto__trace__v1__status__init(&status);
    status.message = "bad";
    status.code = STATUS_CODE(ERROR);
    CHECK_WIRE(status, 0x12, 0x03, 'b', 'a', 'd', 0x18, 0x02);

    opentelemetry__proto__trace__v1__span__init(&span);
    span.trace_id = (ProtobufCBinaryData){sizeof trace_id, trace_id};
    span.span_id = (ProtobufCBinaryData){sizeof span_id, span_id};
    span.trace_state = "k=v";
    span.parent_span_id = (ProtobufCBinaryData){sizeof parent_id, parent_id};
    span.name = "op";
    span.kind = SPAN_KIND(SERVER);
    span.start_time_unix_nano = 1;
    span.end_time_unix_nano = 2;
    SET_LIST(span, attributes, &a_true);
    span.dropped_attributes_count = 3;
    SET_LIST(span, events, &event);
    span.dropped_events_count = 4;
    SET_LIST(span, links, &link);
    span.dropped_links_count = 6;
    span.status = &status;
    span.flags = 0x301;
    CHECK_WIRE(span,
               0x0a, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
               0x12, 0x08, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8,
               0x1a, 0x03, 'k', '=', 'v',
               0x22, 0x08, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8,
               0x2a, 0x02, 'o', 'p',
               0x30, 0x02,
               0x39, 0x01, 0, 0, 0, 0, 0, 0, 0,
               0x41, 0x02, 0, 0, 0, 0, 0, 0, 0,
               0x4a, 0x07, KV_A_TRUE,
               0x50, 0x03,
               0x5a, 0x0c, 0x09, 0x05, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x01, 'e',
               0x60, 0x04,
               0x6a, 0x19, 0x0a, 0x01, 0xcc, 0x12, 0x01, 0xdd, 0x1a, 0x01, 'x', 0x22, 0x07,
               KV_A_TRUE, 0x28, 0x01, 0x35, 0x01, 0x01, 0x00, 0x00,
               0x70, 0x06,
               0x7a, 0x07, 0x12, 0x03, 'b', 'a', 'd', 0x18, 0x02,
               /* flags: field 16, fixed32, needs a two-byte tag */
               0x85, 0x01, 0x01, 0x03, 0x00, 0x00);
}

static void test_wire_metric_kinds(void)
{
    metric_t m;
    gauge_t gauge;
    sum_t sum;
    histogram_t hist;
    exp_histogram_t ehist;
    summary_t summary;
    number_dp_t ndp;
    summary_dp_t sdp;

    opentelemetry__proto__metrics__v1__number_data_point__init(&ndp);
    opentelemetry__proto__metrics__v1__summary_data_point__init(&sdp);

    opentelemetry__proto__metrics__v1__gauge__init(&gauge);
    SET_LIST(gauge, data_points, &ndp);
    opentelemetry__proto__metrics__v1__metric__init(&m);
    m.data_case = METRIC_CASE(GAUGE);
    m.gauge = &gauge;
    CHECK_WIRE(m, 0x2a, 0x02, 0x0a, 0x00);

    opentelemetry__proto__metrics__v1__sum__init(&sum);
    sum.aggregation_temporality = TEMPORALITY(CUMULATIVE);
    sum.is_monotonic = 1;
    opentelemetry__proto__metrics__v1__metric__init(&m);
    m.name = "m";
    m.description = "d";
    m.unit = "1";
    m.data_case = METRIC_CASE(SUM);
    m.sum = &sum;
    SET_LIST(m, metadata, &a_true);
    CHECK_WIRE(m, 0x0a, 0x01, 'm', 0x12, 0x01, 'd', 0x1a, 0x01, '1',
               0x3a, 0x04, 0x10, 0x02, 0x18, 0x01, 0x62, 0x07, KV_A_TRUE);

    opentelemetry__proto__metrics__v1__histogram__init(&hist);
    hist.aggregation_temporality = TEMPORALITY(DELTA);
    opentelemetry__proto__metrics__v1__metric__init(&m);
    m.data_case = METRIC_CASE(HISTOGRAM);
    m.histogram = &hist;
    CHECK_WIRE(m, 0x4a, 0x02, 0x10, 0x01);

    opentelemetry__proto__metrics__v1__exponential_histogram__init(&ehist);
    ehist.aggregation_temporality = TEMPORALITY(CUMULATIVE);
    opentelemetry__proto__metrics__v1__metric__init(&m);
    m.data_case = METRIC_CASE(EXPONENTIAL_HISTOGRAM);
    m.exponential_histogram = &ehist;
    CHECK_WIRE(m, 0x52, 0x02, 0x10, 0x02);

    opentelemetry__proto__metrics__v1__summary__init(&summary);
    SET_LIST(summary, data_points, &sdp);
    opentelemetry__proto__metrics__v1__metric__init(&m);
    m.data_case = METRIC_CASE(SUMMARY);
    m.summary = &summary;
    CHECK_WIRE(m, 0x5a, 0x02, 0x0a, 0x00);
}

static void test_wire_data_points(void)
{
    static uint8_t span_id[1] = {0xaa}, trace_id[1] = {0xbb};
    static uint64_t counts[2] = {1, 2}, pos_counts[2] = {1, 300};
    static double bounds[1] = {1.5};
    number_dp_t ndp;
    exemplar_t ex;
    histogram_dp_t hdp;
    exp_histogram_dp_t edp;
    buckets_t pos, neg;
    exemplar_t empty_ex;
    summary_dp_t sdp;
    quantile_t q;

    opentelemetry__proto__metrics__v1__exemplar__init(&ex);
    SET_LIST(ex, filtered_attributes, &a_true);
    ex.time_unix_nano = 3;
    ex.value_case = EXEMPLAR_CASE(AS_DOUBLE);
    ex.as_double = 1.0;
    ex.span_id = (ProtobufCBinaryData){1, span_id};
    ex.trace_id = (ProtobufCBinaryData){1, trace_id};

    opentelemetry__proto__metrics__v1__number_data_point__init(&ndp);
    SET_LIST(ndp, attributes, &a_true);
    ndp.start_time_unix_nano = 1;
    ndp.time_unix_nano = 2;
    ndp.value_case = NDP_CASE(AS_INT);
    ndp.as_int = -2; /* sfixed64: eight little-endian bytes */
    SET_LIST(ndp, exemplars, &ex);
    ndp.flags = 1;
    CHECK_WIRE(ndp, 0x11, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x19, 0x02, 0, 0, 0, 0, 0, 0, 0,
               0x2a, 0x21, 0x11, 0x03, 0, 0, 0, 0, 0, 0, 0, 0x19, F64_ONE,
               0x22, 0x01, 0xaa, 0x2a, 0x01, 0xbb, 0x3a, 0x07, KV_A_TRUE,
               0x31, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
               0x3a, 0x07, KV_A_TRUE, 0x40, 0x01);

    /* A oneof member is sent even when zero: 0.0 is a real value. */
    opentelemetry__proto__metrics__v1__number_data_point__init(&ndp);
    ndp.value_case = NDP_CASE(AS_DOUBLE);
    ndp.as_double = 0.0;
    CHECK_WIRE(ndp, 0x21, F64_ZERO);

    opentelemetry__proto__metrics__v1__histogram_data_point__init(&hdp);
    SET_LIST(hdp, attributes, &a_true);
    hdp.count = 3;
    hdp._sum_case = HDP_CASE(SUM_SUM);
    hdp.sum = 0.0; /* optional: present though zero */
    hdp.bucket_counts = counts;
    hdp.n_bucket_counts = 2;
    hdp.explicit_bounds = bounds;
    hdp.n_explicit_bounds = 1;
    hdp.flags = 1;
    hdp._min_case = HDP_CASE(MIN_MIN);
    hdp.min = -1.0;
    hdp._max_case = HDP_CASE(MAX_MAX);
    hdp.max = 2.0;
    CHECK_WIRE(hdp, 0x21, 0x03, 0, 0, 0, 0, 0, 0, 0, 0x29, F64_ZERO,
               0x32, 0x10, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,
               0x3a, 0x08, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f,
               0x4a, 0x07, KV_A_TRUE, 0x50, 0x01,
               0x59, 0, 0, 0, 0, 0, 0, 0xf0, 0xbf, 0x61, 0, 0, 0, 0, 0, 0, 0, 0x40);

    /* Without the optional fields nothing is sent for them. */
    opentelemetry__proto__metrics__v1__histogram_data_point__init(&hdp);
    hdp.count = 3;
    CHECK_WIRE(hdp, 0x21, 0x03, 0, 0, 0, 0, 0, 0, 0);

    opentelemetry__proto__metrics__v1__exponential_histogram_data_point__buckets__init(&pos);
    pos.offset = -1; /* sint32: zigzag 1 */
    pos.bucket_counts = pos_counts;
    pos.n_bucket_counts = 2;
    opentelemetry__proto__metrics__v1__exponential_histogram_data_point__buckets__init(&neg);
    neg.offset = 2;
    opentelemetry__proto__metrics__v1__exemplar__init(&empty_ex);
    opentelemetry__proto__metrics__v1__exponential_histogram_data_point__init(&edp);
    SET_LIST(edp, attributes, &a_true);
    edp.count = 4;
    edp._sum_case = EHDP_CASE(SUM_SUM);
    edp.sum = 1.0;
    edp.scale = -3;
    edp.zero_count = 1;
    edp.positive = &pos;
    edp.negative = &neg;
    edp.flags = 1;
    SET_LIST(edp, exemplars, &empty_ex);
    edp._min_case = EHDP_CASE(MIN_MIN);
    edp.min = 0.0;
    edp._max_case = EHDP_CASE(MAX_MAX);
    edp.max = 5.0;
    edp.zero_threshold = 0.25;
    CHECK_WIRE(edp, 0x0a, 0x07, KV_A_TRUE, 0x21, 0x04, 0, 0, 0, 0, 0, 0, 0,
               0x29, F64_ONE, 0x30, 0x05, 0x39, 0x01, 0, 0, 0, 0, 0, 0, 0,
               0x42, 0x07, 0x08, 0x01, 0x12, 0x03, 0x01, 0xac, 0x02,
               0x4a, 0x02, 0x08, 0x04, 0x50, 0x01, 0x5a, 0x00,
               0x61, F64_ZERO, 0x69, 0, 0, 0, 0, 0, 0, 0x14, 0x40,
               0x71, 0, 0, 0, 0, 0, 0, 0xd0, 0x3f);

    opentelemetry__proto__metrics__v1__summary_data_point__value_at_quantile__init(&q);
    q.quantile = 0.5;
    q.value = 1.0;
    opentelemetry__proto__metrics__v1__summary_data_point__init(&sdp);
    SET_LIST(sdp, attributes, &a_true);
    sdp.count = 2;
    sdp.sum = 3.5;
    SET_LIST(sdp, quantile_values, &q);
    sdp.flags = 1;
    CHECK_WIRE(sdp, 0x21, 0x02, 0, 0, 0, 0, 0, 0, 0, 0x29, 0, 0, 0, 0, 0, 0, 0x0c, 0x40,
               0x32, 0x12, 0x09, 0, 0, 0, 0, 0, 0, 0xe0, 0x3f, 0x11, F64_ONE,
               0x3a, 0x07, KV_A_TRUE, 0x40, 0x01);
}

static void test_wire_log_record(void)
{
    static uint8_t trace_id[1] = {0xaa}, span_id[1] = {0xbb};
    log_record_t lr;
    any_value_t body;

    av_string(&body, "b");
    opentelemetry__proto__logs__v1__log_record__init(&lr);
    lr.time_unix_nano = 1;
    lr.severity_number = SEVERITY(INFO);
    lr.severity_text = "I";
    lr.body = &body;
    SET_LIST(lr, attributes, &a_true);
    lr.dropped_attributes_count = 2;
    lr.flags = 1;
    lr.trace_id = (ProtobufCBinaryData){1, trace_id};
    lr.span_id = (ProtobufCBinaryData){1, span_id};
    lr.observed_time_unix_nano = 3;
    lr.event_name = "ev";
    CHECK_WIRE(lr, 0x09, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x09, 0x1a, 0x01, 'I',
               0x2a, 0x03, 0x0a, 0x01, 'b', 0x32, 0x07, KV_A_TRUE, 0x38, 0x02,
               0x45, 0x01, 0x00, 0x00, 0x00, 0x4a, 0x01, 0xaa, 0x52, 0x01, 0xbb,
               0x59, 0x03, 0, 0, 0, 0, 0, 0, 0, 0x62, 0x02, 'e', 'v');
}

/* The Resource/Scope/envelope layers, the responses and google.rpc. */
static void test_wire_envelopes(void)
{
    entity_ref_t ref;
    resource_t res;
    scope_t scope;
    span_t span;
    scope_spans_t ss;
    resource_spans_t rs;
    trace_req_t treq;
    metric_t metric;
    scope_metrics_t sm;
    resource_metrics_t rm;
    metrics_req_t mreq;
    log_record_t lr;
    scope_logs_t sl;
    resource_logs_t rl;
    logs_req_t lreq;

    opentelemetry__proto__common__v1__entity_ref__init(&ref);
    ref.schema_url = "s";
    ref.type = "t";
    SET_LIST(ref, id_keys, "a");
    SET_LIST(ref, description_keys, "b");
    opentelemetry__proto__resource__v1__resource__init(&res);
    SET_LIST(res, attributes, &a_true);
    res.dropped_attributes_count = 1;
    SET_LIST(res, entity_refs, &ref);
    opentelemetry__proto__common__v1__instrumentation_scope__init(&scope);
    scope.name = "n";
    scope.version = "v";
    SET_LIST(scope, attributes, &a_true);
    scope.dropped_attributes_count = 2;
    opentelemetry__proto__trace__v1__span__init(&span);
    opentelemetry__proto__trace__v1__scope_spans__init(&ss);
    ss.scope = &scope;
    SET_LIST(ss, spans, &span);
    ss.schema_url = "u";
    opentelemetry__proto__trace__v1__resource_spans__init(&rs);
    rs.resource = &res;
    SET_LIST(rs, scope_spans, &ss);
    rs.schema_url = "r";
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(&treq);
    SET_LIST(treq, resource_spans, &rs);
    CHECK_WIRE(treq, 0x0a, 0x38,
               0x0a, 0x19, 0x0a, 0x07, KV_A_TRUE, 0x10, 0x01,
               0x1a, 0x0c, 0x0a, 0x01, 's', 0x12, 0x01, 't', 0x1a, 0x01, 'a', 0x22, 0x01, 'b',
               0x12, 0x18, 0x0a, 0x11, 0x0a, 0x01, 'n', 0x12, 0x01, 'v', 0x1a, 0x07, KV_A_TRUE,
               0x20, 0x02, 0x12, 0x00, 0x1a, 0x01, 'u',
               0x1a, 0x01, 'r');

    opentelemetry__proto__metrics__v1__metric__init(&metric);
    opentelemetry__proto__metrics__v1__scope_metrics__init(&sm);
    SET_LIST(sm, metrics, &metric);
    sm.schema_url = "u";
    opentelemetry__proto__metrics__v1__resource_metrics__init(&rm);
    SET_LIST(rm, scope_metrics, &sm);
    rm.schema_url = "r";
    opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__init(&mreq);
    SET_LIST(mreq, resource_metrics, &rm);
    CHECK_WIRE(mreq, 0x0a, 0x0a, 0x12, 0x05, 0x12, 0x00, 0x1a, 0x01, 'u', 0x1a, 0x01, 'r');

    opentelemetry__proto__logs__v1__log_record__init(&lr);
    opentelemetry__proto__logs__v1__scope_logs__init(&sl);
    SET_LIST(sl, log_records, &lr);
    sl.schema_url = "u";
    opentelemetry__proto__logs__v1__resource_logs__init(&rl);
    SET_LIST(rl, scope_logs, &sl);
    rl.schema_url = "r";
    opentelemetry__proto__collector__logs__v1__export_logs_service_request__init(&lreq);
    SET_LIST(lreq, resource_logs, &rl);
    CHECK_WIRE(lreq, 0x0a, 0x0a, 0x12, 0x05, 0x12, 0x00, 0x1a, 0x01, 'u', 0x1a, 0x01, 'r');
}

static void test_wire_responses(void)
{
    trace_partial_t tp;
    trace_resp_t tr;
    metrics_partial_t mp;
    metrics_resp_t mr;
    logs_partial_t lp;
    logs_resp_t lr;
    pb_duration_t delay;
    retry_info_t retry;
    pb_any_t detail;
    rpc_status_t status;
    uint8_t retry_bytes[16];

    opentelemetry__proto__collector__trace__v1__export_trace_partial_success__init(&tp);
    tp.rejected_spans = 5;
    tp.error_message = "x";
    opentelemetry__proto__collector__trace__v1__export_trace_service_response__init(&tr);
    tr.partial_success = &tp;
    CHECK_WIRE(tr, 0x0a, 0x05, 0x08, 0x05, 0x12, 0x01, 'x');

    opentelemetry__proto__collector__metrics__v1__export_metrics_partial_success__init(&mp);
    mp.rejected_data_points = 6;
    mp.error_message = "x";
    opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__init(&mr);
    mr.partial_success = &mp;
    CHECK_WIRE(mr, 0x0a, 0x05, 0x08, 0x06, 0x12, 0x01, 'x');

    opentelemetry__proto__collector__logs__v1__export_logs_partial_success__init(&lp);
    lp.rejected_log_records = 7;
    lp.error_message = "x";
    opentelemetry__proto__collector__logs__v1__export_logs_service_response__init(&lr);
    lr.partial_success = &lp;
    CHECK_WIRE(lr, 0x0a, 0x05, 0x08, 0x07, 0x12, 0x01, 'x');

    /* Full success: an empty response body. */
    opentelemetry__proto__collector__trace__v1__export_trace_service_response__init(&tr);
    CHECK(protobuf_c_message_get_packed_size(&tr.base) == 0);

    google__protobuf__duration__init(&delay);
    delay.seconds = 2;
    delay.nanos = 500;
    google__rpc__retry_info__init(&retry);
    retry.retry_delay = &delay;
    CHECK_WIRE(retry, 0x0a, 0x05, 0x08, 0x02, 0x10, 0xf4, 0x03);

    CHECK_EQ_INT(google__rpc__retry_info__get_packed_size(&retry), 7);
    google__rpc__retry_info__pack(&retry, retry_bytes);
    google__protobuf__any__init(&detail);
    detail.type_url = "t";
    detail.value = (ProtobufCBinaryData){7, retry_bytes};
    google__rpc__status__init(&status);
    status.code = 8; /* RESOURCE_EXHAUSTED */
    status.message = "m";
    SET_LIST(status, details, &detail);
    CHECK_WIRE(status, 0x08, 0x08, 0x12, 0x01, 'm', 0x1a, 0x0c, 0x0a, 0x01, 't',
               0x12, 0x07, 0x0a, 0x05, 0x08, 0x02, 0x10, 0xf4, 0x03);
}

/* Decoding hand-written bytes: presence of optional fields survives. */
static void test_decode_presence(void)
{
    static const uint8_t absent[] = {0x21, 0x03, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t zero_sum[] = {0x21, 0x03, 0, 0, 0, 0, 0, 0, 0, 0x29, F64_ZERO};
    /* LogRecord with the retired field 4 (a string) and an unknown field 99. */
    static const uint8_t old_log[] = {0x22, 0x01, 'n', 0x98, 0x06, 0x01, 0x62, 0x01, 'e'};
    histogram_dp_t *hdp;
    log_record_t *lr;

    hdp = opentelemetry__proto__metrics__v1__histogram_data_point__unpack(NULL, sizeof absent,
                                                                         absent);
    CHECK(hdp != NULL);
    if (hdp) {
        CHECK_EQ_INT(hdp->count, 3);
        CHECK(hdp->_sum_case == HDP_CASE(SUM__NOT_SET));
        CHECK(hdp->_min_case == HDP_CASE(MIN__NOT_SET));
        opentelemetry__proto__metrics__v1__histogram_data_point__free_unpacked(hdp, NULL);
    }

    hdp = opentelemetry__proto__metrics__v1__histogram_data_point__unpack(NULL, sizeof zero_sum,
                                                                         zero_sum);
    CHECK(hdp != NULL);
    if (hdp) {
        CHECK(hdp->_sum_case == HDP_CASE(SUM_SUM));
        CHECK(hdp->sum == 0.0);
        opentelemetry__proto__metrics__v1__histogram_data_point__free_unpacked(hdp, NULL);
    }

    lr = opentelemetry__proto__logs__v1__log_record__unpack(NULL, sizeof old_log, old_log);
    CHECK(lr != NULL);
    if (lr) {
        CHECK(strcmp(lr->event_name, "e") == 0);
        opentelemetry__proto__logs__v1__log_record__free_unpacked(lr, NULL);
    }
}

/* ---- round trips of whole requests ---- */

static const uint8_t rt_trace_id[16] = {0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03,
                                        0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c};
static const uint8_t rt_span_id[8] = {0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74};
static const uint8_t rt_parent_id[8] = {0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x73};
static const uint8_t rt_link_trace[16] = {0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8,
                                          0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf, 0xb0};
static const uint8_t rt_link_span[8] = {1, 2, 3, 4, 5, 6, 7, 8};

static void check_trace_request(const trace_req_t *req)
{
    const resource_spans_t *rs;
    const scope_spans_t *ss;
    const span_t *sp;
    const any_value_t *v;

    CHECK_EQ_INT(req->n_resource_spans, 1);
    if (req->n_resource_spans != 1)
        return;
    rs = req->resource_spans[0];
    CHECK(strcmp(rs->schema_url, "https://opentelemetry.io/schemas/1.26.0") == 0);
    CHECK(rs->resource != NULL && rs->resource->n_attributes == 1);
    if (rs->resource) {
        v = find_attr(rs->resource->attributes, rs->resource->n_attributes, "service.name");
        CHECK(v && v->value_case == AV_CASE(STRING_VALUE) && !strcmp(v->string_value, "api"));
    }
    CHECK_EQ_INT(rs->n_scope_spans, 1);
    if (rs->n_scope_spans != 1)
        return;
    ss = rs->scope_spans[0];
    CHECK(ss->scope && !strcmp(ss->scope->name, "lib") && !strcmp(ss->scope->version, "1.0"));
    CHECK_EQ_INT(ss->n_spans, 1);
    if (ss->n_spans != 1)
        return;
    sp = ss->spans[0];

    CHECK(bin_eq(sp->trace_id, rt_trace_id, 16));
    CHECK(bin_eq(sp->span_id, rt_span_id, 8));
    CHECK(bin_eq(sp->parent_span_id, rt_parent_id, 8));
    CHECK(!strcmp(sp->trace_state, "congo=t61rcWkgMzE"));
    CHECK(!strcmp(sp->name, "GET /users"));
    CHECK(sp->kind == SPAN_KIND(CLIENT));
    CHECK(sp->start_time_unix_nano == 1700000000123456789ULL);
    CHECK(sp->end_time_unix_nano == 1700000000223456789ULL);
    CHECK_EQ_INT(sp->flags, 0x301);
    CHECK_EQ_INT(sp->dropped_attributes_count, 1);
    CHECK_EQ_INT(sp->dropped_events_count, 2);
    CHECK_EQ_INT(sp->dropped_links_count, 3);

    CHECK_EQ_INT(sp->n_attributes, 6);
    v = find_attr(sp->attributes, sp->n_attributes, "http.status_code");
    CHECK(v && v->value_case == AV_CASE(INT_VALUE) && v->int_value == -404);
    v = find_attr(sp->attributes, sp->n_attributes, "ok");
    CHECK(v && v->value_case == AV_CASE(BOOL_VALUE) && v->bool_value);
    v = find_attr(sp->attributes, sp->n_attributes, "ratio");
    CHECK(v && v->value_case == AV_CASE(DOUBLE_VALUE) && v->double_value == 0.125);
    v = find_attr(sp->attributes, sp->n_attributes, "blob");
    CHECK(v && v->value_case == AV_CASE(BYTES_VALUE) &&
          bin_eq(v->bytes_value, (const uint8_t *)"\x00\xff", 2));
    v = find_attr(sp->attributes, sp->n_attributes, "tags");
    CHECK(v && v->value_case == AV_CASE(ARRAY_VALUE) && v->array_value->n_values == 2);
    if (v && v->value_case == AV_CASE(ARRAY_VALUE) && v->array_value->n_values == 2) {
        CHECK(!strcmp(v->array_value->values[0]->string_value, "x"));
        CHECK(v->array_value->values[1]->value_case == AV_CASE(INT_VALUE));
        CHECK_EQ_INT(v->array_value->values[1]->int_value, 7);
    }
    v = find_attr(sp->attributes, sp->n_attributes, "ctx");
    CHECK(v && v->value_case == AV_CASE(KVLIST_VALUE));
    if (v && v->value_case == AV_CASE(KVLIST_VALUE)) {
        const kv_list_t *l = v->kvlist_value;
        const any_value_t *inner = find_attr(l->values, l->n_values, "user");
        CHECK(inner && inner->value_case == AV_CASE(STRING_VALUE) &&
              !strcmp(inner->string_value, "bob"));
        inner = find_attr(l->values, l->n_values, "empty");
        CHECK(inner && inner->value_case == AV_CASE(_NOT_SET));
    }

    CHECK_EQ_INT(sp->n_events, 1);
    if (sp->n_events == 1) {
        CHECK(sp->events[0]->time_unix_nano == 1700000000150000000ULL);
        CHECK(!strcmp(sp->events[0]->name, "exception"));
        CHECK_EQ_INT(sp->events[0]->n_attributes, 1);
        CHECK_EQ_INT(sp->events[0]->dropped_attributes_count, 4);
    }
    CHECK_EQ_INT(sp->n_links, 1);
    if (sp->n_links == 1) {
        const span_link_t *l = sp->links[0];
        CHECK(bin_eq(l->trace_id, rt_link_trace, 16));
        CHECK(bin_eq(l->span_id, rt_link_span, 8));
        CHECK(!strcmp(l->trace_state, "a=b"));
        CHECK_EQ_INT(l->flags, 0x101);
        CHECK_EQ_INT(l->dropped_attributes_count, 5);
        CHECK_EQ_INT(l->n_attributes, 1);
    }
    CHECK(sp->status && sp->status->code == STATUS_CODE(ERROR));
    CHECK(sp->status && !strcmp(sp->status->message, "timeout"));
}

static void test_trace_round_trip(void)
{
    any_value_t v_service, v_code, v_ok, v_ratio, v_blob, v_tags, v_tag0, v_tag1, v_ctx,
        v_user, v_empty, v_ev;
    key_value_t service, code, ok, ratio, blob, tags, ctx, user, empty, ev_attr;
    array_value_t tag_list;
    kv_list_t ctx_list;
    resource_t res;
    scope_t scope;
    span_event_t event;
    span_link_t link;
    span_status_t status;
    span_t span;
    scope_spans_t ss;
    resource_spans_t rs;
    trace_req_t req;
    trace_req_t *out = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;

    av_string(&v_service, "api");
    kv_init(&service, &v_service, "service.name");
    opentelemetry__proto__resource__v1__resource__init(&res);
    SET_LIST(res, attributes, &service);
    opentelemetry__proto__common__v1__instrumentation_scope__init(&scope);
    scope.name = "lib";
    scope.version = "1.0";

    av_int(&v_code, -404);
    kv_init(&code, &v_code, "http.status_code");
    av_bool(&v_ok, 1);
    kv_init(&ok, &v_ok, "ok");
    av_double(&v_ratio, 0.125);
    kv_init(&ratio, &v_ratio, "ratio");
    av_bytes(&v_blob, (const uint8_t *)"\x00\xff", 2);
    kv_init(&blob, &v_blob, "blob");
    av_string(&v_tag0, "x");
    av_int(&v_tag1, 7);
    opentelemetry__proto__common__v1__array_value__init(&tag_list);
    SET_LIST(tag_list, values, &v_tag0, &v_tag1);
    opentelemetry__proto__common__v1__any_value__init(&v_tags);
    v_tags.value_case = AV_CASE(ARRAY_VALUE);
    v_tags.array_value = &tag_list;
    kv_init(&tags, &v_tags, "tags");
    av_string(&v_user, "bob");
    kv_init(&user, &v_user, "user");
    opentelemetry__proto__common__v1__any_value__init(&v_empty);
    kv_init(&empty, &v_empty, "empty");
    opentelemetry__proto__common__v1__key_value_list__init(&ctx_list);
    SET_LIST(ctx_list, values, &user, &empty);
    opentelemetry__proto__common__v1__any_value__init(&v_ctx);
    v_ctx.value_case = AV_CASE(KVLIST_VALUE);
    v_ctx.kvlist_value = &ctx_list;
    kv_init(&ctx, &v_ctx, "ctx");

    av_string(&v_ev, "boom");
    kv_init(&ev_attr, &v_ev, "exception.message");
    opentelemetry__proto__trace__v1__span__event__init(&event);
    event.time_unix_nano = 1700000000150000000ULL;
    event.name = "exception";
    SET_LIST(event, attributes, &ev_attr);
    event.dropped_attributes_count = 4;

    opentelemetry__proto__trace__v1__span__link__init(&link);
    link.trace_id = (ProtobufCBinaryData){16, (uint8_t *)rt_link_trace};
    link.span_id = (ProtobufCBinaryData){8, (uint8_t *)rt_link_span};
    link.trace_state = "a=b";
    SET_LIST(link, attributes, &a_true);
    link.dropped_attributes_count = 5;
    link.flags = 0x101;

    opentelemetry__proto__trace__v1__status__init(&status);
    status.code = STATUS_CODE(ERROR);
    status.message = "timeout";

    opentelemetry__proto__trace__v1__span__init(&span);
    span.trace_id = (ProtobufCBinaryData){16, (uint8_t *)rt_trace_id};
    span.span_id = (ProtobufCBinaryData){8, (uint8_t *)rt_span_id};
    span.parent_span_id = (ProtobufCBinaryData){8, (uint8_t *)rt_parent_id};
    span.trace_state = "congo=t61rcWkgMzE";
    span.name = "GET /users";
    span.kind = SPAN_KIND(CLIENT);
    span.start_time_unix_nano = 1700000000123456789ULL;
    span.end_time_unix_nano = 1700000000223456789ULL;
    SET_LIST(span, attributes, &code, &ok, &ratio, &blob, &tags, &ctx);
    span.dropped_attributes_count = 1;
    SET_LIST(span, events, &event);
    span.dropped_events_count = 2;
    SET_LIST(span, links, &link);
    span.dropped_links_count = 3;
    span.status = &status;
    span.flags = 0x301;

    opentelemetry__proto__trace__v1__scope_spans__init(&ss);
    ss.scope = &scope;
    SET_LIST(ss, spans, &span);
    opentelemetry__proto__trace__v1__resource_spans__init(&rs);
    rs.resource = &res;
    SET_LIST(rs, scope_spans, &ss);
    rs.schema_url = "https://opentelemetry.io/schemas/1.26.0";
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(&req);
    SET_LIST(req, resource_spans, &rs);

    buf = pack_alloc(&req.base, &len);
    CHECK(buf != NULL);
    if (!buf)
        goto out;
    out = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
        NULL, len, buf);
    CHECK(out != NULL);
    if (!out)
        goto out;
    check_trace_request(out);

    /* A truncated request must be refused, not half-decoded. */
    CHECK(opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
              NULL, len - 1, buf) == NULL);
out:
    if (out)
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
            out, NULL);
    free(buf);
}

static void check_metrics_request(const metrics_req_t *req)
{
    const scope_metrics_t *sm;
    const metric_t *m;

    if (req->n_resource_metrics != 1 || req->resource_metrics[0]->n_scope_metrics != 1) {
        CHECK(!"one resource and one scope expected");
        return;
    }
    sm = req->resource_metrics[0]->scope_metrics[0];
    CHECK(sm->scope && !strcmp(sm->scope->name, "meter"));
    CHECK(!strcmp(sm->schema_url, "s"));
    CHECK_EQ_INT(sm->n_metrics, 5);
    if (sm->n_metrics != 5)
        return;

    m = sm->metrics[0];
    CHECK(!strcmp(m->name, "temp") && !strcmp(m->unit, "Cel") && !strcmp(m->description, "t"));
    CHECK(m->data_case == METRIC_CASE(GAUGE));
    if (m->data_case == METRIC_CASE(GAUGE) && m->gauge->n_data_points == 1) {
        const number_dp_t *dp = m->gauge->data_points[0];
        CHECK(dp->value_case == NDP_CASE(AS_DOUBLE) && dp->as_double == 21.5);
        CHECK(dp->time_unix_nano == 1700000001000000000ULL);
        CHECK(find_attr(dp->attributes, dp->n_attributes, "a") != NULL);
    } else {
        CHECK(!"gauge with one point expected");
    }
    CHECK_EQ_INT(m->n_metadata, 1);

    m = sm->metrics[1];
    CHECK(m->data_case == METRIC_CASE(SUM));
    if (m->data_case == METRIC_CASE(SUM) && m->sum->n_data_points == 1) {
        const number_dp_t *dp = m->sum->data_points[0];
        CHECK(m->sum->is_monotonic);
        CHECK(m->sum->aggregation_temporality == TEMPORALITY(CUMULATIVE));
        CHECK(dp->value_case == NDP_CASE(AS_INT) && dp->as_int == -9000000000LL);
        CHECK(dp->start_time_unix_nano == 1700000000000000000ULL);
        CHECK_EQ_INT(dp->flags, 1);
        CHECK_EQ_INT(dp->n_exemplars, 1);
        if (dp->n_exemplars == 1) {
            const exemplar_t *ex = dp->exemplars[0];
            CHECK(ex->value_case == EXEMPLAR_CASE(AS_INT) && ex->as_int == 42);
            CHECK(bin_eq(ex->trace_id, rt_trace_id, 16) && bin_eq(ex->span_id, rt_span_id, 8));
            CHECK_EQ_INT(ex->n_filtered_attributes, 1);
        }
    } else {
        CHECK(!"sum with one point expected");
    }

    m = sm->metrics[2];
    CHECK(m->data_case == METRIC_CASE(HISTOGRAM));
    if (m->data_case == METRIC_CASE(HISTOGRAM) && m->histogram->n_data_points == 1) {
        const histogram_dp_t *dp = m->histogram->data_points[0];
        CHECK(m->histogram->aggregation_temporality == TEMPORALITY(DELTA));
        CHECK(dp->count == 6);
        CHECK(dp->_sum_case == HDP_CASE(SUM_SUM) && dp->sum == 12.5);
        CHECK(dp->_min_case == HDP_CASE(MIN_MIN) && dp->min == 0.5);
        CHECK(dp->_max_case == HDP_CASE(MAX_MAX) && dp->max == 7.0);
        CHECK(dp->n_bucket_counts == 3 && dp->bucket_counts[0] == 1 &&
              dp->bucket_counts[1] == 2 && dp->bucket_counts[2] == 3);
        CHECK(dp->n_explicit_bounds == 2 && dp->explicit_bounds[0] == 1.0 &&
              dp->explicit_bounds[1] == 5.0);
    } else {
        CHECK(!"histogram with one point expected");
    }

    m = sm->metrics[3];
    CHECK(m->data_case == METRIC_CASE(EXPONENTIAL_HISTOGRAM));
    if (m->data_case == METRIC_CASE(EXPONENTIAL_HISTOGRAM) &&
        m->exponential_histogram->n_data_points == 1) {
        const exp_histogram_dp_t *dp = m->exponential_histogram->data_points[0];
        CHECK(dp->count == 10 && dp->zero_count == 1 && dp->scale == -2);
        CHECK(dp->_sum_case == EHDP_CASE(SUM_SUM) && dp->sum == 40.0);
        CHECK(dp->_min_case == EHDP_CASE(MIN__NOT_SET));
        CHECK(dp->zero_threshold == 0.001);
        CHECK(dp->positive && dp->positive->offset == -5 && dp->positive->n_bucket_counts == 2 &&
              dp->positive->bucket_counts[1] == 5);
        CHECK(dp->negative && dp->negative->offset == 3 && dp->negative->n_bucket_counts == 1);
    } else {
        CHECK(!"exponential histogram with one point expected");
    }

    m = sm->metrics[4];
    CHECK(m->data_case == METRIC_CASE(SUMMARY));
    if (m->data_case == METRIC_CASE(SUMMARY) && m->summary->n_data_points == 1) {
        const summary_dp_t *dp = m->summary->data_points[0];
        CHECK(dp->count == 100 && dp->sum == 250.0);
        CHECK(dp->n_quantile_values == 2 && dp->quantile_values[1]->quantile == 0.99 &&
              dp->quantile_values[1]->value == 9.5);
    } else {
        CHECK(!"summary with one point expected");
    }
}

static void test_metrics_round_trip(void)
{
    static uint64_t counts[3] = {1, 2, 3}, pos_counts[2] = {4, 5}, neg_counts[1] = {1};
    static double bounds[2] = {1.0, 5.0};
    scope_t scope;
    metric_t gauge_m, sum_m, hist_m, ehist_m, summary_m;
    gauge_t gauge;
    sum_t sum;
    histogram_t hist;
    exp_histogram_t ehist;
    summary_t summary;
    number_dp_t gauge_dp, sum_dp;
    exemplar_t ex;
    histogram_dp_t hdp;
    exp_histogram_dp_t edp;
    buckets_t pos, neg;
    summary_dp_t sdp;
    quantile_t q50, q99;
    scope_metrics_t sm;
    resource_metrics_t rm;
    metrics_req_t req;
    metrics_req_t *out = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;

    opentelemetry__proto__common__v1__instrumentation_scope__init(&scope);
    scope.name = "meter";

    opentelemetry__proto__metrics__v1__number_data_point__init(&gauge_dp);
    SET_LIST(gauge_dp, attributes, &a_true);
    gauge_dp.time_unix_nano = 1700000001000000000ULL;
    gauge_dp.value_case = NDP_CASE(AS_DOUBLE);
    gauge_dp.as_double = 21.5;
    opentelemetry__proto__metrics__v1__gauge__init(&gauge);
    SET_LIST(gauge, data_points, &gauge_dp);
    opentelemetry__proto__metrics__v1__metric__init(&gauge_m);
    gauge_m.name = "temp";
    gauge_m.description = "t";
    gauge_m.unit = "Cel";
    gauge_m.data_case = METRIC_CASE(GAUGE);
    gauge_m.gauge = &gauge;
    SET_LIST(gauge_m, metadata, &a_true);

    opentelemetry__proto__metrics__v1__exemplar__init(&ex);
    SET_LIST(ex, filtered_attributes, &a_true);
    ex.value_case = EXEMPLAR_CASE(AS_INT);
    ex.as_int = 42;
    ex.trace_id = (ProtobufCBinaryData){16, (uint8_t *)rt_trace_id};
    ex.span_id = (ProtobufCBinaryData){8, (uint8_t *)rt_span_id};
    opentelemetry__proto__metrics__v1__number_data_point__init(&sum_dp);
    sum_dp.start_time_unix_nano = 1700000000000000000ULL;
    sum_dp.time_unix_nano = 1700000001000000000ULL;
    sum_dp.value_case = NDP_CASE(AS_INT);
    sum_dp.as_int = -9000000000LL;
    sum_dp.flags = 1;
    SET_LIST(sum_dp, exemplars, &ex);
    opentelemetry__proto__metrics__v1__sum__init(&sum);
    SET_LIST(sum, data_points, &sum_dp);
    sum.aggregation_temporality = TEMPORALITY(CUMULATIVE);
    sum.is_monotonic = 1;
    opentelemetry__proto__metrics__v1__metric__init(&sum_m);
    sum_m.name = "requests";
    sum_m.data_case = METRIC_CASE(SUM);
    sum_m.sum = &sum;

    opentelemetry__proto__metrics__v1__histogram_data_point__init(&hdp);
    hdp.count = 6;
    hdp._sum_case = HDP_CASE(SUM_SUM);
    hdp.sum = 12.5;
    hdp._min_case = HDP_CASE(MIN_MIN);
    hdp.min = 0.5;
    hdp._max_case = HDP_CASE(MAX_MAX);
    hdp.max = 7.0;
    hdp.bucket_counts = counts;
    hdp.n_bucket_counts = 3;
    hdp.explicit_bounds = bounds;
    hdp.n_explicit_bounds = 2;
    opentelemetry__proto__metrics__v1__histogram__init(&hist);
    SET_LIST(hist, data_points, &hdp);
    hist.aggregation_temporality = TEMPORALITY(DELTA);
    opentelemetry__proto__metrics__v1__metric__init(&hist_m);
    hist_m.name = "latency";
    hist_m.data_case = METRIC_CASE(HISTOGRAM);
    hist_m.histogram = &hist;

    opentelemetry__proto__metrics__v1__exponential_histogram_data_point__buckets__init(&pos);
    pos.offset = -5;
    pos.bucket_counts = pos_counts;
    pos.n_bucket_counts = 2;
    opentelemetry__proto__metrics__v1__exponential_histogram_data_point__buckets__init(&neg);
    neg.offset = 3;
    neg.bucket_counts = neg_counts;
    neg.n_bucket_counts = 1;
    opentelemetry__proto__metrics__v1__exponential_histogram_data_point__init(&edp);
    edp.count = 10;
    edp._sum_case = EHDP_CASE(SUM_SUM);
    edp.sum = 40.0;
    edp.scale = -2;
    edp.zero_count = 1;
    edp.zero_threshold = 0.001;
    edp.positive = &pos;
    edp.negative = &neg;
    opentelemetry__proto__metrics__v1__exponential_histogram__init(&ehist);
    SET_LIST(ehist, data_points, &edp);
    ehist.aggregation_temporality = TEMPORALITY(CUMULATIVE);
    opentelemetry__proto__metrics__v1__metric__init(&ehist_m);
    ehist_m.name = "size";
    ehist_m.data_case = METRIC_CASE(EXPONENTIAL_HISTOGRAM);
    ehist_m.exponential_histogram = &ehist;

    opentelemetry__proto__metrics__v1__summary_data_point__value_at_quantile__init(&q50);
    q50.quantile = 0.5;
    q50.value = 2.0;
    opentelemetry__proto__metrics__v1__summary_data_point__value_at_quantile__init(&q99);
    q99.quantile = 0.99;
    q99.value = 9.5;
    opentelemetry__proto__metrics__v1__summary_data_point__init(&sdp);
    sdp.count = 100;
    sdp.sum = 250.0;
    SET_LIST(sdp, quantile_values, &q50, &q99);
    opentelemetry__proto__metrics__v1__summary__init(&summary);
    SET_LIST(summary, data_points, &sdp);
    opentelemetry__proto__metrics__v1__metric__init(&summary_m);
    summary_m.name = "gc";
    summary_m.data_case = METRIC_CASE(SUMMARY);
    summary_m.summary = &summary;

    opentelemetry__proto__metrics__v1__scope_metrics__init(&sm);
    sm.scope = &scope;
    SET_LIST(sm, metrics, &gauge_m, &sum_m, &hist_m, &ehist_m, &summary_m);
    sm.schema_url = "s";
    opentelemetry__proto__metrics__v1__resource_metrics__init(&rm);
    SET_LIST(rm, scope_metrics, &sm);
    opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__init(&req);
    SET_LIST(req, resource_metrics, &rm);

    buf = pack_alloc(&req.base, &len);
    CHECK(buf != NULL);
    if (!buf)
        goto out;
    out = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
        NULL, len, buf);
    CHECK(out != NULL);
    if (out)
        check_metrics_request(out);
out:
    if (out)
        opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
            out, NULL);
    free(buf);
}

static void check_logs_request(const logs_req_t *req)
{
    const scope_logs_t *sl;
    const log_record_t *lr;

    if (req->n_resource_logs != 1 || req->resource_logs[0]->n_scope_logs != 1) {
        CHECK(!"one resource and one scope expected");
        return;
    }
    CHECK(req->resource_logs[0]->resource != NULL);
    sl = req->resource_logs[0]->scope_logs[0];
    CHECK_EQ_INT(sl->n_log_records, 2);
    if (sl->n_log_records != 2)
        return;

    lr = sl->log_records[0];
    CHECK(lr->time_unix_nano == 1700000002000000000ULL);
    CHECK(lr->observed_time_unix_nano == 1700000002000000001ULL);
    CHECK(lr->severity_number == SEVERITY(WARN2));
    CHECK(!strcmp(lr->severity_text, "WARNING"));
    CHECK(!strcmp(lr->event_name, "app.login"));
    CHECK_EQ_INT(lr->flags, 1);
    CHECK_EQ_INT(lr->dropped_attributes_count, 2);
    CHECK(bin_eq(lr->trace_id, rt_trace_id, 16) && bin_eq(lr->span_id, rt_span_id, 8));
    CHECK(lr->body && lr->body->value_case == AV_CASE(KVLIST_VALUE));
    if (lr->body && lr->body->value_case == AV_CASE(KVLIST_VALUE)) {
        const kv_list_t *l = lr->body->kvlist_value;
        const any_value_t *v = find_attr(l->values, l->n_values, "msg");
        CHECK(v && v->value_case == AV_CASE(STRING_VALUE) && !strcmp(v->string_value, "hi"));
    }
    CHECK(find_attr(lr->attributes, lr->n_attributes, "a") != NULL);

    lr = sl->log_records[1];
    CHECK(lr->body && lr->body->value_case == AV_CASE(BYTES_VALUE) &&
          bin_eq(lr->body->bytes_value, (const uint8_t *)"raw", 3));
    CHECK(lr->severity_number == SEVERITY(UNSPECIFIED));
    CHECK(lr->trace_id.len == 0 && lr->event_name[0] == '\0');
}

static void test_logs_round_trip(void)
{
    any_value_t body1, body2, v_msg;
    key_value_t msg;
    kv_list_t body_list;
    log_record_t lr1, lr2;
    resource_t res;
    scope_logs_t sl;
    resource_logs_t rl;
    logs_req_t req;
    logs_req_t *out = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;

    av_string(&v_msg, "hi");
    kv_init(&msg, &v_msg, "msg");
    opentelemetry__proto__common__v1__key_value_list__init(&body_list);
    SET_LIST(body_list, values, &msg);
    opentelemetry__proto__common__v1__any_value__init(&body1);
    body1.value_case = AV_CASE(KVLIST_VALUE);
    body1.kvlist_value = &body_list;

    opentelemetry__proto__logs__v1__log_record__init(&lr1);
    lr1.time_unix_nano = 1700000002000000000ULL;
    lr1.observed_time_unix_nano = 1700000002000000001ULL;
    lr1.severity_number = SEVERITY(WARN2);
    lr1.severity_text = "WARNING";
    lr1.body = &body1;
    SET_LIST(lr1, attributes, &a_true);
    lr1.dropped_attributes_count = 2;
    lr1.flags = 1;
    lr1.trace_id = (ProtobufCBinaryData){16, (uint8_t *)rt_trace_id};
    lr1.span_id = (ProtobufCBinaryData){8, (uint8_t *)rt_span_id};
    lr1.event_name = "app.login";

    av_bytes(&body2, (const uint8_t *)"raw", 3);
    opentelemetry__proto__logs__v1__log_record__init(&lr2);
    lr2.body = &body2;

    opentelemetry__proto__resource__v1__resource__init(&res);
    opentelemetry__proto__logs__v1__scope_logs__init(&sl);
    SET_LIST(sl, log_records, &lr1, &lr2);
    opentelemetry__proto__logs__v1__resource_logs__init(&rl);
    rl.resource = &res;
    SET_LIST(rl, scope_logs, &sl);
    opentelemetry__proto__collector__logs__v1__export_logs_service_request__init(&req);
    SET_LIST(req, resource_logs, &rl);

    buf = pack_alloc(&req.base, &len);
    CHECK(buf != NULL);
    if (!buf)
        goto out;
    out = opentelemetry__proto__collector__logs__v1__export_logs_service_request__unpack(NULL, len,
                                                                                         buf);
    CHECK(out != NULL);
    if (out)
        check_logs_request(out);
out:
    if (out)
        opentelemetry__proto__collector__logs__v1__export_logs_service_request__free_unpacked(out,
                                                                                            NULL);
    free(buf);
}

int main(void)
{
    init_a_true();
    test_wire_any_value();
    test_wire_span();
    test_wire_metric_kinds();
    test_wire_data_points();
    test_wire_log_record();
    test_wire_envelopes();
    test_wire_responses();
    test_decode_presence();
    test_trace_round_trip();
    test_metrics_round_trip();
    test_logs_round_trip();
    return ct_test_report();
}
