/*
 * Tests of the debug exporter, built through its factory from YAML: the text
 * it prints for each verbosity and signal (captured by pointing stderr or
 * stdout at a file), sampling, the log level, escaping and bad input.
 */
#include "ct_component.h"
#include "ct_config.h"
#include "ct_log.h"
#include "ct_request.h"
#include "ct_test.h"

#include "opentelemetry/proto/collector/logs/v1/logs_service.pb-c.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const ct_factory_t ct_debug_exporter_factory;

typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;

static uint8_t trace_id[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static uint8_t span_id[8] = {0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8};
static uint8_t parent_id[8] = {0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8};

/* ---- requests ---- */

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *p = malloc(*len ? *len : 1);
    protobuf_c_message_pack(m, p);
    return p;
}

static void str_value(AnyValue *v, const char *s)
{
    opentelemetry__proto__common__v1__any_value__init(v);
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    v->string_value = (char *)s;
}

static void key_value(KeyValue *kv, const char *key, AnyValue *v)
{
    opentelemetry__proto__common__v1__key_value__init(kv);
    kv->key = (char *)key;
    kv->value = v;
}

/*
 * Attributes of every value type: str, bool, int, double, bytes, a slice of
 * (str, int) and a map {k: v}. Filled into caller-provided storage.
 */
typedef struct all_attrs {
    AnyValue v[9];
    KeyValue kv[9];
    KeyValue *ptrs[7];
    AnyValue *slice_items[2];
    KeyValue *map_items[1];
    Opentelemetry__Proto__Common__V1__ArrayValue slice;
    Opentelemetry__Proto__Common__V1__KeyValueList map;
    uint8_t blob[2];
} all_attrs_t;

static void all_attrs_init(all_attrs_t *a)
{
    str_value(&a->v[0], "GET");
    key_value(&a->kv[0], "http.method", &a->v[0]);

    opentelemetry__proto__common__v1__any_value__init(&a->v[1]);
    a->v[1].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE;
    a->v[1].bool_value = 1;
    key_value(&a->kv[1], "flag", &a->v[1]);

    opentelemetry__proto__common__v1__any_value__init(&a->v[2]);
    a->v[2].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    a->v[2].int_value = -7;
    key_value(&a->kv[2], "count", &a->v[2]);

    opentelemetry__proto__common__v1__any_value__init(&a->v[3]);
    a->v[3].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE;
    a->v[3].double_value = 0.25;
    key_value(&a->kv[3], "ratio", &a->v[3]);

    a->blob[0] = 0x00;
    a->blob[1] = 0xff;
    opentelemetry__proto__common__v1__any_value__init(&a->v[4]);
    a->v[4].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE;
    a->v[4].bytes_value = (ProtobufCBinaryData){2, a->blob};
    key_value(&a->kv[4], "blob", &a->v[4]);

    str_value(&a->v[5], "a");
    opentelemetry__proto__common__v1__any_value__init(&a->v[6]);
    a->v[6].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    a->v[6].int_value = 1;
    a->slice_items[0] = &a->v[5];
    a->slice_items[1] = &a->v[6];
    opentelemetry__proto__common__v1__array_value__init(&a->slice);
    a->slice.n_values = 2;
    a->slice.values = a->slice_items;
    opentelemetry__proto__common__v1__any_value__init(&a->v[7]);
    a->v[7].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE;
    a->v[7].array_value = &a->slice;
    key_value(&a->kv[5], "list", &a->v[7]);

    static AnyValue inner;
    static KeyValue inner_kv;
    str_value(&inner, "v");
    key_value(&inner_kv, "k", &inner);
    a->map_items[0] = &inner_kv;
    opentelemetry__proto__common__v1__key_value_list__init(&a->map);
    a->map.n_values = 1;
    a->map.values = a->map_items;
    opentelemetry__proto__common__v1__any_value__init(&a->v[8]);
    a->v[8].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE;
    a->v[8].kvlist_value = &a->map;
    key_value(&a->kv[6], "map", &a->v[8]);

    for (int i = 0; i < 7; i++)
        a->ptrs[i] = &a->kv[i];
}

static Opentelemetry__Proto__Resource__V1__Resource *checkout_resource(void)
{
    static AnyValue v;
    static KeyValue kv;
    static KeyValue *attrs[1];
    static Opentelemetry__Proto__Resource__V1__Resource res;
    str_value(&v, "checkout");
    key_value(&kv, "service.name", &v);
    attrs[0] = &kv;
    opentelemetry__proto__resource__v1__resource__init(&res);
    res.n_attributes = 1;
    res.attributes = attrs;
    return &res;
}

/* Two spans; the first has every attribute type, an event and a link. */
static uint8_t *traces_request(const char *first_name, size_t *len)
{
    all_attrs_t a;
    all_attrs_init(&a);

    Opentelemetry__Proto__Trace__V1__Span__Event ev =
        OPENTELEMETRY__PROTO__TRACE__V1__SPAN__EVENT__INIT;
    ev.name = "cache miss";
    ev.time_unix_nano = 1700000000000500000ull;
    ev.n_attributes = 1;
    ev.attributes = a.ptrs;
    Opentelemetry__Proto__Trace__V1__Span__Event *evs[] = {&ev};
    Opentelemetry__Proto__Trace__V1__Span__Link link =
        OPENTELEMETRY__PROTO__TRACE__V1__SPAN__LINK__INIT;
    link.trace_id = (ProtobufCBinaryData){16, trace_id};
    link.span_id = (ProtobufCBinaryData){8, parent_id};
    link.trace_state = "vendor=1";
    Opentelemetry__Proto__Trace__V1__Span__Link *links[] = {&link};
    Opentelemetry__Proto__Trace__V1__Status status = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__INIT;
    status.code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
    status.message = "boom";

    Opentelemetry__Proto__Trace__V1__Span s0 = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;
    s0.trace_id = (ProtobufCBinaryData){16, trace_id};
    s0.span_id = (ProtobufCBinaryData){8, span_id};
    s0.parent_span_id = (ProtobufCBinaryData){8, parent_id};
    s0.name = (char *)first_name;
    s0.kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER;
    s0.start_time_unix_nano = 1700000000000000000ull;
    s0.end_time_unix_nano = 1700000000001000000ull;
    s0.n_attributes = 7;
    s0.attributes = a.ptrs;
    s0.n_events = 1;
    s0.events = evs;
    s0.n_links = 1;
    s0.links = links;
    s0.status = &status;
    s0.dropped_attributes_count = 3;
    Opentelemetry__Proto__Trace__V1__Span s1 = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;
    s1.trace_id = (ProtobufCBinaryData){16, trace_id};
    s1.span_id = (ProtobufCBinaryData){8, parent_id};
    s1.name = "db.query";
    Opentelemetry__Proto__Trace__V1__Span *spans[] = {&s0, &s1};

    Opentelemetry__Proto__Common__V1__InstrumentationScope scope =
        OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
    scope.name = "shop.http";
    scope.version = "1.2.0";
    Opentelemetry__Proto__Trace__V1__ScopeSpans ss =
        OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
    ss.scope = &scope;
    ss.n_spans = 2;
    ss.spans = spans;
    Opentelemetry__Proto__Trace__V1__ScopeSpans *sss[] = {&ss};
    Opentelemetry__Proto__Trace__V1__ResourceSpans rs =
        OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
    rs.resource = checkout_resource();
    rs.schema_url = "https://opentelemetry.io/schemas/1.21.0";
    rs.n_scope_spans = 1;
    rs.scope_spans = sss;
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rss[] = {&rs};
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest req =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    req.n_resource_spans = 1;
    req.resource_spans = rss;
    return pack(&req.base, len);
}

/* A gauge (int), a sum (double, with an exemplar), a histogram, an exponential histogram, a
 * summary. */
static uint8_t *metrics_request(size_t *len)
{
    Opentelemetry__Proto__Metrics__V1__NumberDataPoint g_dp =
        OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__INIT;
    g_dp.value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT;
    g_dp.as_int = 42;
    Opentelemetry__Proto__Metrics__V1__NumberDataPoint *g_dps[] = {&g_dp};
    Opentelemetry__Proto__Metrics__V1__Gauge gauge = OPENTELEMETRY__PROTO__METRICS__V1__GAUGE__INIT;
    gauge.n_data_points = 1;
    gauge.data_points = g_dps;
    Opentelemetry__Proto__Metrics__V1__Metric m0 = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__INIT;
    m0.name = "queue.depth";
    m0.data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE;
    m0.gauge = &gauge;

    Opentelemetry__Proto__Metrics__V1__Exemplar ex =
        OPENTELEMETRY__PROTO__METRICS__V1__EXEMPLAR__INIT;
    ex.value_case = OPENTELEMETRY__PROTO__METRICS__V1__EXEMPLAR__VALUE_AS_DOUBLE;
    ex.as_double = 2.5;
    ex.trace_id = (ProtobufCBinaryData){16, trace_id};
    ex.span_id = (ProtobufCBinaryData){8, span_id};
    Opentelemetry__Proto__Metrics__V1__Exemplar *exs[] = {&ex};
    Opentelemetry__Proto__Metrics__V1__NumberDataPoint s_dp[2];
    Opentelemetry__Proto__Metrics__V1__NumberDataPoint *s_dps[] = {&s_dp[0], &s_dp[1]};
    for (int i = 0; i < 2; i++) {
        opentelemetry__proto__metrics__v1__number_data_point__init(&s_dp[i]);
        s_dp[i].value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE;
        s_dp[i].as_double = 1.5 + i;
    }
    s_dp[0].n_exemplars = 1;
    s_dp[0].exemplars = exs;
    Opentelemetry__Proto__Metrics__V1__Sum sum = OPENTELEMETRY__PROTO__METRICS__V1__SUM__INIT;
    sum.n_data_points = 2;
    sum.data_points = s_dps;
    sum.aggregation_temporality =
        OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE;
    sum.is_monotonic = 1;
    Opentelemetry__Proto__Metrics__V1__Metric m1 = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__INIT;
    m1.name = "bytes.sent";
    m1.unit = "By";
    m1.data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM;
    m1.sum = &sum;

    double bounds[] = {1, 5};
    uint64_t counts[] = {1, 2, 3};
    Opentelemetry__Proto__Metrics__V1__HistogramDataPoint h_dp =
        OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__INIT;
    h_dp.count = 6;
    h_dp._sum_case = OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT___SUM_SUM;
    h_dp.sum = 21;
    h_dp.n_explicit_bounds = 2;
    h_dp.explicit_bounds = bounds;
    h_dp.n_bucket_counts = 3;
    h_dp.bucket_counts = counts;
    Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *h_dps[] = {&h_dp};
    Opentelemetry__Proto__Metrics__V1__Histogram hist =
        OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM__INIT;
    hist.n_data_points = 1;
    hist.data_points = h_dps;
    Opentelemetry__Proto__Metrics__V1__Metric m2 = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__INIT;
    m2.name = "latency";
    m2.data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM;
    m2.histogram = &hist;

    uint64_t pos_counts[] = {4, 5};
    Opentelemetry__Proto__Metrics__V1__ExponentialHistogramDataPoint__Buckets pos =
        OPENTELEMETRY__PROTO__METRICS__V1__EXPONENTIAL_HISTOGRAM_DATA_POINT__BUCKETS__INIT;
    pos.offset = -2;
    pos.n_bucket_counts = 2;
    pos.bucket_counts = pos_counts;
    Opentelemetry__Proto__Metrics__V1__ExponentialHistogramDataPoint e_dp =
        OPENTELEMETRY__PROTO__METRICS__V1__EXPONENTIAL_HISTOGRAM_DATA_POINT__INIT;
    e_dp.count = 9;
    e_dp.scale = 3;
    e_dp.positive = &pos;
    Opentelemetry__Proto__Metrics__V1__ExponentialHistogramDataPoint *e_dps[] = {&e_dp};
    Opentelemetry__Proto__Metrics__V1__ExponentialHistogram ehist =
        OPENTELEMETRY__PROTO__METRICS__V1__EXPONENTIAL_HISTOGRAM__INIT;
    ehist.n_data_points = 1;
    ehist.data_points = e_dps;
    Opentelemetry__Proto__Metrics__V1__Metric m3 = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__INIT;
    m3.name = "size";
    m3.data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_EXPONENTIAL_HISTOGRAM;
    m3.exponential_histogram = &ehist;

    Opentelemetry__Proto__Metrics__V1__SummaryDataPoint__ValueAtQuantile q =
        OPENTELEMETRY__PROTO__METRICS__V1__SUMMARY_DATA_POINT__VALUE_AT_QUANTILE__INIT;
    q.quantile = 0.5;
    q.value = 10;
    Opentelemetry__Proto__Metrics__V1__SummaryDataPoint__ValueAtQuantile *qs[] = {&q};
    Opentelemetry__Proto__Metrics__V1__SummaryDataPoint q_dp =
        OPENTELEMETRY__PROTO__METRICS__V1__SUMMARY_DATA_POINT__INIT;
    q_dp.count = 3;
    q_dp.sum = 30;
    q_dp.n_quantile_values = 1;
    q_dp.quantile_values = qs;
    Opentelemetry__Proto__Metrics__V1__SummaryDataPoint *q_dps[] = {&q_dp};
    Opentelemetry__Proto__Metrics__V1__Summary summary =
        OPENTELEMETRY__PROTO__METRICS__V1__SUMMARY__INIT;
    summary.n_data_points = 1;
    summary.data_points = q_dps;
    Opentelemetry__Proto__Metrics__V1__Metric m4 = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__INIT;
    m4.name = "rpc.duration";
    m4.data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUMMARY;
    m4.summary = &summary;

    Opentelemetry__Proto__Metrics__V1__Metric *ms[] = {&m0, &m1, &m2, &m3, &m4};
    Opentelemetry__Proto__Metrics__V1__ScopeMetrics sm =
        OPENTELEMETRY__PROTO__METRICS__V1__SCOPE_METRICS__INIT;
    sm.n_metrics = 5;
    sm.metrics = ms;
    Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sms[] = {&sm};
    Opentelemetry__Proto__Metrics__V1__ResourceMetrics rm =
        OPENTELEMETRY__PROTO__METRICS__V1__RESOURCE_METRICS__INIT;
    rm.resource = checkout_resource();
    rm.n_scope_metrics = 1;
    rm.scope_metrics = sms;
    Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rms[] = {&rm};
    Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest req =
        OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_SERVICE_REQUEST__INIT;
    req.n_resource_metrics = 1;
    req.resource_metrics = rms;
    return pack(&req.base, len);
}

/* Two log records: a string body with severity text, a map body with only a number. */
static uint8_t *logs_request(size_t *len)
{
    AnyValue body0, name, body1;
    KeyValue user;
    str_value(&body0, "payment accepted");
    str_value(&name, "ann");
    key_value(&user, "user", &name);
    KeyValue *users[] = {&user};
    Opentelemetry__Proto__Common__V1__KeyValueList kvl =
        OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE_LIST__INIT;
    kvl.n_values = 1;
    kvl.values = users;
    opentelemetry__proto__common__v1__any_value__init(&body1);
    body1.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE;
    body1.kvlist_value = &kvl;

    Opentelemetry__Proto__Logs__V1__LogRecord l0 = OPENTELEMETRY__PROTO__LOGS__V1__LOG_RECORD__INIT;
    l0.time_unix_nano = 1700000000123456789ull;
    l0.severity_number = OPENTELEMETRY__PROTO__LOGS__V1__SEVERITY_NUMBER__SEVERITY_NUMBER_INFO;
    l0.severity_text = "Information";
    l0.body = &body0;
    l0.trace_id = (ProtobufCBinaryData){16, trace_id};
    l0.span_id = (ProtobufCBinaryData){8, span_id};
    Opentelemetry__Proto__Logs__V1__LogRecord l1 = OPENTELEMETRY__PROTO__LOGS__V1__LOG_RECORD__INIT;
    l1.observed_time_unix_nano = 1700000001000000000ull;
    l1.severity_number = OPENTELEMETRY__PROTO__LOGS__V1__SEVERITY_NUMBER__SEVERITY_NUMBER_WARN;
    l1.body = &body1;
    l1.event_name = "login";
    Opentelemetry__Proto__Logs__V1__LogRecord *lrs[] = {&l0, &l1};
    Opentelemetry__Proto__Logs__V1__ScopeLogs sl = OPENTELEMETRY__PROTO__LOGS__V1__SCOPE_LOGS__INIT;
    sl.n_log_records = 2;
    sl.log_records = lrs;
    Opentelemetry__Proto__Logs__V1__ScopeLogs *sls[] = {&sl};
    Opentelemetry__Proto__Logs__V1__ResourceLogs rl =
        OPENTELEMETRY__PROTO__LOGS__V1__RESOURCE_LOGS__INIT;
    rl.resource = checkout_resource();
    rl.n_scope_logs = 1;
    rl.scope_logs = sls;
    Opentelemetry__Proto__Logs__V1__ResourceLogs *rls[] = {&rl};
    Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest req =
        OPENTELEMETRY__PROTO__COLLECTOR__LOGS__V1__EXPORT_LOGS_SERVICE_REQUEST__INIT;
    req.n_resource_logs = 1;
    req.resource_logs = rls;
    return pack(&req.base, len);
}

/* ---- instance and capture ---- */

typedef struct fixture {
    ct_instance_t inst;
    ct_node_t *root;
} fixture_t;

static int fixture_open(fixture_t *fx, const char *yaml)
{
    const ct_factory_t *f = &ct_debug_exporter_factory;
    ct_err_t err = {{0}};
    int rc = -1;
    memset(fx, 0, sizeof *fx);
    fx->inst.factory = f;
    fx->inst.id = (char *)"debug";
    fx->inst.name = (char *)"exporter/debug";
    fx->inst.config = calloc(1, f->cfg_size);
    fx->root = ct_config_load_string("test.yaml", yaml, strlen(yaml), &err);
    if (fx->root && (rc = ct_opt_defaults(f->opts, fx->inst.config, &err)) == 0 &&
        (rc = ct_opt_apply(f->opts, fx->inst.config, fx->root, "exporters::debug", &err)) == 0)
        rc = f->create(&fx->inst, &err);
    if (rc != 0)
        fprintf(stderr, "fixture_open: %s\n", err.msg);
    return rc;
}

static void fixture_close(fixture_t *fx)
{
    const ct_factory_t *f = &ct_debug_exporter_factory;
    f->destroy(&fx->inst);
    ct_opt_free(f->opts, fx->inst.config);
    free(fx->inst.config);
    ct_node_free(fx->root);
}

/* Sends one request with fd (1 or 2) pointed at a file; returns what was printed. */
static char *send_captured(fixture_t *fx, int fd, ct_signal_t sig, const uint8_t *p, size_t len,
                           ct_send_result_t *res)
{
    char path[] = "/tmp/cotel-debug-test-XXXXXX";
    int tmp = mkstemp(path);
    int saved = dup(fd);
    fflush(NULL);
    dup2(tmp, fd);

    ct_request_t *req = ct_request_copy(sig, p, len, 1);
    ct_send_result_t r = ct_debug_exporter_factory.send(&fx->inst, req);
    ct_request_unref(req);

    fflush(NULL);
    dup2(saved, fd);
    close(saved);
    if (res)
        *res = r;

    off_t size = lseek(tmp, 0, SEEK_END);
    char *text = calloc(1, (size_t)size + 1);
    if (pread(tmp, text, (size_t)size, 0) != size)
        text[0] = '\0';
    close(tmp);
    unlink(path);
    return text;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* ---- tests ---- */

static void test_basic(void)
{
    fixture_t fx;
    size_t tl, ml, ll;
    uint8_t *t = traces_request("GET /cart", &tl), *m = metrics_request(&ml);
    uint8_t *l = logs_request(&ll);
    CHECK_EQ_INT(fixture_open(&fx, "{}"), 0);

    char *out = send_captured(&fx, 2, CT_SIGNAL_TRACES, t, tl, NULL);
    CHECK_EQ_INT(count_lines(out), 1);
    CHECK_STR_CONTAINS(out, "\tinfo\texporter/debug\tTracesExporter resource_spans=1 spans=2\n");
    free(out);
    out = send_captured(&fx, 2, CT_SIGNAL_METRICS, m, ml, NULL);
    CHECK_EQ_INT(count_lines(out), 1);
    CHECK_STR_CONTAINS(out, "MetricsExporter resource_metrics=1 metrics=5 data_points=6\n");
    free(out);
    out = send_captured(&fx, 2, CT_SIGNAL_LOGS, l, ll, NULL);
    CHECK_EQ_INT(count_lines(out), 1);
    CHECK_STR_CONTAINS(out, "LogsExporter resource_logs=1 log_records=2\n");
    free(out);
    fixture_close(&fx);
    free(t);
    free(m);
    free(l);
}

static void test_normal(void)
{
    fixture_t fx;
    size_t tl, ml, ll;
    uint8_t *t = traces_request("GET /cart", &tl), *m = metrics_request(&ml);
    uint8_t *l = logs_request(&ll);
    CHECK_EQ_INT(fixture_open(&fx, "verbosity: normal\n"), 0);

    char *out = send_captured(&fx, 2, CT_SIGNAL_TRACES, t, tl, NULL);
    CHECK_EQ_INT(count_lines(out), 3);
    CHECK_STR_CONTAINS(out, "\tspan name=GET /cart trace_id=0102030405060708090a0b0c0d0e0f10 "
                            "span_id=a1a2a3a4a5a6a7a8 attributes={http.method=GET, flag=true, "
                            "count=-7, ratio=0.25, blob=0x00ff, list=[a, 1], map={k=v}}\n");
    CHECK_STR_CONTAINS(out, "\tspan name=db.query trace_id=0102030405060708090a0b0c0d0e0f10 "
                            "span_id=b1b2b3b4b5b6b7b8\n");
    free(out);

    out = send_captured(&fx, 2, CT_SIGNAL_METRICS, m, ml, NULL);
    CHECK_EQ_INT(count_lines(out), 6);
    CHECK_STR_CONTAINS(out, "\tmetric name=queue.depth type=Gauge data_points=1\n");
    CHECK_STR_CONTAINS(out, "\tmetric name=bytes.sent type=Sum data_points=2\n");
    CHECK_STR_CONTAINS(out, "\tmetric name=latency type=Histogram data_points=1\n");
    CHECK_STR_CONTAINS(out, "\tmetric name=size type=ExponentialHistogram data_points=1\n");
    CHECK_STR_CONTAINS(out, "\tmetric name=rpc.duration type=Summary data_points=1\n");
    free(out);

    out = send_captured(&fx, 2, CT_SIGNAL_LOGS, l, ll, NULL);
    CHECK_EQ_INT(count_lines(out), 3);
    CHECK_STR_CONTAINS(out, "\tlog time=2023-11-14T22:13:20.123456789Z severity=Information "
                            "body=payment accepted\n");
    /* No time: the observed time stands in; no severity text: the number's name. */
    CHECK_STR_CONTAINS(out, "\tlog time=2023-11-14T22:13:21.000000000Z severity=WARN "
                            "body={user=ann}\n");
    free(out);
    fixture_close(&fx);
    free(t);
    free(m);
    free(l);
}

static void test_detailed(void)
{
    fixture_t fx;
    size_t tl, ml, ll;
    uint8_t *t = traces_request("GET /cart", &tl), *m = metrics_request(&ml);
    uint8_t *l = logs_request(&ll);
    CHECK_EQ_INT(fixture_open(&fx, "verbosity: detailed\nuse_internal_logger: false\n"), 0);

    char *out = send_captured(&fx, 1, CT_SIGNAL_TRACES, t, tl, NULL);
    static const char *const span_lines[] = {
        "TracesExporter resource_spans=1 spans=2\nResourceSpans #0\n",
        "\n    schema_url: https://opentelemetry.io/schemas/1.21.0\n",
        "\n    resource attributes:\n        service.name: Str(checkout)\n",
        "\n    ScopeSpans #0\n",
        "\n        scope: shop.http 1.2.0\n",
        "\n        Span #0\n",
        "\n            trace_id: 0102030405060708090a0b0c0d0e0f10\n",
        "\n            parent_span_id: b1b2b3b4b5b6b7b8\n",
        "\n            span_id: a1a2a3a4a5a6a7a8\n",
        "\n            name: GET /cart\n",
        "\n            kind: Server\n",
        "\n            start_time: 2023-11-14T22:13:20.000000000Z\n",
        "\n            end_time: 2023-11-14T22:13:20.001000000Z\n",
        "\n            status_code: Error\n            status_message: boom\n",
        "\n            attributes:\n                http.method: Str(GET)\n",
        "\n                flag: Bool(true)\n",
        "\n                count: Int(-7)\n",
        "\n                ratio: Double(0.25)\n",
        "\n                blob: Bytes(00ff)\n",
        "\n                list: Slice([Str(a), Int(1)])\n",
        "\n                map: Map({k: Str(v)})\n",
        "\n            dropped_attributes_count: 3\n",
        "\n            Event #0\n                name: cache miss\n"
        "                time: 2023-11-14T22:13:20.000500000Z\n"
        "                attributes:\n                    http.method: Str(GET)\n",
        "\n            Link #0\n                trace_id: 0102030405060708090a0b0c0d0e0f10\n"
        "                span_id: b1b2b3b4b5b6b7b8\n                trace_state: vendor=1\n",
        "\n        Span #1\n",
        "\n            name: db.query\n",
    };
    CHECK(strncmp(out, span_lines[0], strlen(span_lines[0])) == 0);
    for (size_t i = 1; i < CT_ARRAY_LEN(span_lines); i++)
        CHECK_STR_CONTAINS(out, span_lines[i]);
    free(out);

    out = send_captured(&fx, 1, CT_SIGNAL_METRICS, m, ml, NULL);
    static const char *const metric_lines[] = {
        "MetricsExporter resource_metrics=1 metrics=5 data_points=6\nResourceMetrics #0\n",
        "\n        Metric #0\n            name: queue.depth\n",
        "\n            type: Gauge\n",
        "\n                value: Int(42)\n",
        "\n            unit: By\n            type: Sum temporality=Cumulative monotonic=true\n",
        "\n            NumberDataPoint #1\n",
        "\n                value: Double(1.5)\n                Exemplar #0\n",
        "\n            NumberDataPoint #1\n                start_time: ",
        "\n                value: Double(2.5)\n        Metric #2\n            name: latency\n",
        "\n                    trace_id: 0102030405060708090a0b0c0d0e0f10\n",
        "\n                    span_id: a1a2a3a4a5a6a7a8\n                    value: Double(2.5)\n",
        "\n            HistogramDataPoint #0\n",
        "\n                count: 6\n                sum: 21\n                min: unset\n",
        "\n                explicit_bounds: [1, 5]\n                bucket_counts: [1, 2, 3]\n",
        "\n            ExponentialHistogramDataPoint #0\n",
        "\n                count: 9\n",
        "\n                scale: 3\n",
        "\n                positive: offset=-2 bucket_counts=[4, 5]\n",
        "\n                negative: offset=0 bucket_counts=[]\n",
        "\n            SummaryDataPoint #0\n",
        "\n                count: 3\n                sum: 30\n                quantile 0.5: 10\n",
    };
    CHECK(strncmp(out, metric_lines[0], strlen(metric_lines[0])) == 0);
    for (size_t i = 1; i < CT_ARRAY_LEN(metric_lines); i++)
        CHECK_STR_CONTAINS(out, metric_lines[i]);
    free(out);

    out = send_captured(&fx, 1, CT_SIGNAL_LOGS, l, ll, NULL);
    static const char *const log_lines[] = {
        "LogsExporter resource_logs=1 log_records=2\nResourceLogs #0\n",
        "\n        LogRecord #0\n            observed_time: 1970-01-01T00:00:00.000000000Z\n"
        "            time: 2023-11-14T22:13:20.123456789Z\n"
        "            severity_text: Information\n            severity_number: INFO(9)\n",
        "\n            body: Str(payment accepted)\n",
        "\n            trace_id: 0102030405060708090a0b0c0d0e0f10\n"
        "            span_id: a1a2a3a4a5a6a7a8\n",
        "\n        LogRecord #1\n",
        "\n            severity_number: WARN(13)\n            event_name: login\n"
        "            body: Map({user: Str(ann)})\n",
    };
    CHECK(strncmp(out, log_lines[0], strlen(log_lines[0])) == 0);
    for (size_t i = 1; i < CT_ARRAY_LEN(log_lines); i++)
        CHECK_STR_CONTAINS(out, log_lines[i]);
    free(out);

    fixture_close(&fx);
    free(t);
    free(m);
    free(l);
}

/* Detailed through the log: every line gets the log's prefix. */
static void test_detailed_via_log(void)
{
    fixture_t fx;
    size_t tl;
    uint8_t *t = traces_request("GET /cart", &tl);
    CHECK_EQ_INT(fixture_open(&fx, "verbosity: detailed\n"), 0);
    char *out = send_captured(&fx, 2, CT_SIGNAL_TRACES, t, tl, NULL);
    int lines = count_lines(out), prefixed = 0;
    for (char *p = out; (p = strstr(p, "\tinfo\texporter/debug\t")) != NULL; p++)
        prefixed++;
    CHECK(lines > 40);
    CHECK_EQ_INT(prefixed, lines);
    CHECK_STR_CONTAINS(out, "\tinfo\texporter/debug\t            kind: Server\n");
    free(out);
    fixture_close(&fx);
    free(t);
}

/* Plain output on stdout, without timestamps or levels. */
static void test_stdout(void)
{
    fixture_t fx;
    size_t tl;
    uint8_t *t = traces_request("GET /cart", &tl);
    CHECK_EQ_INT(fixture_open(&fx, "use_internal_logger: false\n"), 0);
    char *out = send_captured(&fx, 1, CT_SIGNAL_TRACES, t, tl, NULL);
    CHECK(strcmp(out, "TracesExporter resource_spans=1 spans=2\n") == 0);
    free(out);
    fixture_close(&fx);
    free(t);
}

/* The Go collector's sampler: initial per second, then every Nth. */
static void test_sampling(void)
{
    fixture_t fx;
    size_t tl, ll;
    uint8_t *t = traces_request("x", &tl), *l = logs_request(&ll);
    int printed = 0;

    CHECK_EQ_INT(fixture_open(&fx, "sampling_initial: 2\nsampling_thereafter: 0\n"), 0);
    for (int i = 0; i < 5; i++) {
        char *out = send_captured(&fx, 2, CT_SIGNAL_TRACES, t, tl, NULL);
        printed += count_lines(out);
        free(out);
    }
    /* Signals are sampled apart: logs still print. */
    char *out = send_captured(&fx, 2, CT_SIGNAL_LOGS, l, ll, NULL);
    CHECK_EQ_INT(count_lines(out), 1);
    free(out);
    fixture_close(&fx);
    CHECK_EQ_INT(printed, 2);

    printed = 0;
    CHECK_EQ_INT(fixture_open(&fx, "sampling_initial: 1\nsampling_thereafter: 2\n"), 0);
    for (int i = 0; i < 5; i++) {
        char *o = send_captured(&fx, 2, CT_SIGNAL_TRACES, t, tl, NULL);
        printed += count_lines(o);
        free(o);
    }
    fixture_close(&fx);
    CHECK_EQ_INT(printed, 3); /* the 1st, 3rd and 5th */
    free(t);
    free(l);
}

/* The internal logger's level applies; stdout output ignores it. */
static void test_log_level(void)
{
    fixture_t fx;
    size_t tl;
    uint8_t *t = traces_request("x", &tl);
    ct_log_setup(CT_LOG_WARN, 0);
    CHECK_EQ_INT(fixture_open(&fx, "verbosity: detailed\n"), 0);
    char *out = send_captured(&fx, 2, CT_SIGNAL_TRACES, t, tl, NULL);
    CHECK_EQ_INT(strlen(out), 0);
    free(out);
    fixture_close(&fx);

    CHECK_EQ_INT(fixture_open(&fx, "use_internal_logger: false\n"), 0);
    out = send_captured(&fx, 1, CT_SIGNAL_TRACES, t, tl, NULL);
    CHECK_EQ_INT(count_lines(out), 1);
    free(out);
    fixture_close(&fx);
    ct_log_setup(CT_LOG_INFO, 0);
    free(t);
}

/* Control characters from clients are escaped: one item stays one line. */
static void test_escaping(void)
{
    fixture_t fx;
    size_t tl;
    uint8_t *t = traces_request("evil\nname\x1b[31m\t!", &tl);
    CHECK_EQ_INT(fixture_open(&fx, "verbosity: normal\nuse_internal_logger: false\n"), 0);
    char *out = send_captured(&fx, 1, CT_SIGNAL_TRACES, t, tl, NULL);
    CHECK_EQ_INT(count_lines(out), 3);
    CHECK_STR_CONTAINS(out, "span name=evil\\nname\\x1b[31m\\t! trace_id=");
    CHECK(strchr(out, 0x1b) == NULL);
    free(out);
    fixture_close(&fx);
    free(t);
}

static void test_bad_input_and_config(void)
{
    fixture_t fx;
    ct_send_result_t res;
    static const uint8_t garbage[] = {0x0a, 0x05, 0x01};
    CHECK_EQ_INT(fixture_open(&fx, "verbosity: basic\n"), 0);
    char *out = send_captured(&fx, 2, CT_SIGNAL_METRICS, garbage, sizeof garbage, &res);
    CHECK_EQ_INT(res.code, CT_INVALID_ARGUMENT);
    CHECK(!res.retryable);
    CHECK_STR_CONTAINS(res.message, "cannot decode the metrics request");
    CHECK_EQ_INT(strlen(out), 0);
    free(out);
    fixture_close(&fx);

    const ct_factory_t *f = &ct_debug_exporter_factory;
    CHECK(f->settings_offset == CT_OPT_NO_FLAG);
    static const char *const bad[] = {"verbosity: loud\n", "sampling_initial: -1\n",
                                      "sending_queue:\n  enabled: true\n"};
    for (size_t i = 0; i < CT_ARRAY_LEN(bad); i++) {
        ct_err_t err = {{0}};
        ct_node_t *root = ct_config_load_string("t.yaml", bad[i], strlen(bad[i]), &err);
        void *cfg = calloc(1, f->cfg_size);
        int rc = ct_opt_defaults(f->opts, cfg, &err);
        if (rc == 0)
            rc = ct_opt_apply(f->opts, cfg, root, "exporters::debug", &err);
        CHECK(rc != 0);
        ct_opt_free(f->opts, cfg);
        free(cfg);
        ct_node_free(root);
    }
}

int main(void)
{
    ct_log_setup(CT_LOG_INFO, 0);
    test_basic();
    test_normal();
    test_detailed();
    test_detailed_via_log();
    test_stdout();
    test_sampling();
    test_log_level();
    test_escaping();
    test_bad_input_and_config();
    return ct_test_report();
}
