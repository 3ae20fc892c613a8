/*
 * The wire walker: validation and item counts of encoded requests, malformed
 * input, and regrouping items into new requests that decode with their own
 * resource and scope.
 */
#include "ct_test.h"
#include "ct_wire.h"

#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest TraceReq;
typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest MetricsReq;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans ResourceSpans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans ScopeSpans;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Resource__V1__Resource Resource;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope Scope;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;

#define NRES   3
#define NSCOPE 2
#define NSPAN  4

/* Packs a request of NRES resources x NSCOPE scopes x NSPAN spans; span names say where. */
static uint8_t *make_traces(size_t *len)
{
    static char names[NRES][NSCOPE][NSPAN][32], snames[NRES][NSCOPE][16], rvals[NRES][16];
    static Span spans[NRES][NSCOPE][NSPAN];
    static Span *span_ptrs[NRES][NSCOPE][NSPAN];
    static ScopeSpans ss[NRES][NSCOPE];
    static ScopeSpans *ss_ptrs[NRES][NSCOPE];
    static Scope scopes[NRES][NSCOPE];
    static ResourceSpans rs[NRES];
    static ResourceSpans *rs_ptrs[NRES];
    static Resource res[NRES];
    static KeyValue kv[NRES];
    static KeyValue *kv_ptrs[NRES];
    static AnyValue av[NRES];
    static uint8_t ids[NRES][NSCOPE][NSPAN][16];

    for (int r = 0; r < NRES; r++) {
        opentelemetry__proto__common__v1__any_value__init(&av[r]);
        snprintf(rvals[r], sizeof rvals[r], "svc-%d", r);
        av[r].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
        av[r].string_value = rvals[r];
        opentelemetry__proto__common__v1__key_value__init(&kv[r]);
        kv[r].key = "service.name";
        kv[r].value = &av[r];
        kv_ptrs[r] = &kv[r];
        opentelemetry__proto__resource__v1__resource__init(&res[r]);
        res[r].n_attributes = 1;
        res[r].attributes = &kv_ptrs[r];
        opentelemetry__proto__trace__v1__resource_spans__init(&rs[r]);
        rs[r].resource = &res[r];
        rs[r].schema_url = "https://example/schema";
        rs[r].n_scope_spans = NSCOPE;
        rs[r].scope_spans = ss_ptrs[r];
        rs_ptrs[r] = &rs[r];
        for (int s = 0; s < NSCOPE; s++) {
            opentelemetry__proto__common__v1__instrumentation_scope__init(&scopes[r][s]);
            snprintf(snames[r][s], sizeof snames[r][s], "scope-%d-%d", r, s);
            scopes[r][s].name = snames[r][s];
            scopes[r][s].version = "1.0";
            opentelemetry__proto__trace__v1__scope_spans__init(&ss[r][s]);
            ss[r][s].scope = &scopes[r][s];
            ss[r][s].n_spans = NSPAN;
            ss[r][s].spans = span_ptrs[r][s];
            ss_ptrs[r][s] = &ss[r][s];
            for (int i = 0; i < NSPAN; i++) {
                Span *sp = &spans[r][s][i];
                opentelemetry__proto__trace__v1__span__init(sp);
                snprintf(names[r][s][i], sizeof names[r][s][i], "span-%d-%d-%d", r, s, i);
                memset(ids[r][s][i], r * 16 + s * 4 + i + 1, 16);
                sp->trace_id.data = ids[r][s][i];
                sp->trace_id.len = 16;
                sp->span_id.data = ids[r][s][i];
                sp->span_id.len = 8;
                sp->name = names[r][s][i];
                sp->kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER;
                sp->start_time_unix_nano = 1000 + (uint64_t)i;
                sp->end_time_unix_nano = 2000 + (uint64_t)i;
                span_ptrs[r][s][i] = sp;
            }
        }
    }
    TraceReq req = OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    req.n_resource_spans = NRES;
    req.resource_spans = rs_ptrs;
    *len =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(
            &req);
    uint8_t *buf = malloc(*len);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(&req, buf);
    return buf;
}

static void test_check_counts(void)
{
    size_t len, items = 0;
    uint8_t *p = make_traces(&len);
    char err[256] = "";
    CHECK_EQ_INT(ct_wire_check(CT_SIGNAL_TRACES, p, len, &items, err, sizeof err), 0);
    CHECK_EQ_INT(items, NRES * NSCOPE * NSPAN);
    size_t res, metrics, counted;
    CHECK_EQ_INT(ct_wire_count(CT_SIGNAL_TRACES, p, len, &res, &metrics, &counted), 0);
    CHECK_EQ_INT(res, NRES);
    CHECK_EQ_INT(counted, NRES * NSCOPE * NSPAN);

    /* An empty request and one with empty resources are valid, with no items. */
    CHECK_EQ_INT(ct_wire_check(CT_SIGNAL_TRACES, p, 0, &items, err, sizeof err), 0);
    CHECK_EQ_INT(items, 0);
    const uint8_t empty_scopes[] = {0x0a, 0x04, 0x12, 0x00, 0x12, 0x00};
    CHECK_EQ_INT(
        ct_wire_check(CT_SIGNAL_TRACES, empty_scopes, sizeof empty_scopes, &items, err, sizeof err),
        0);
    CHECK_EQ_INT(items, 0);
    free(p);
}

static void test_malformed(void)
{
    size_t len, items;
    uint8_t *p = make_traces(&len);
    char err[256];

    /* Cut inside the first resource entry: its declared length runs past the end. */
    CHECK_EQ_INT(ct_wire_check(CT_SIGNAL_TRACES, p, len / 2, &items, err, sizeof err), -EINVAL);
    CHECK_STR_CONTAINS(err, "malformed protobuf at byte");

    /* A span's name (field 5) re-tagged as a varint. */
    uint8_t *q = malloc(len);
    memcpy(q, p, len);
    uint8_t *name = memmem(q, len, "span-0-0-0", 10);
    CHECK(name != NULL && name[-2] == 0x2a);
    if (name && name[-2] == 0x2a) {
        name[-2] = 0x28;
        CHECK_EQ_INT(ct_wire_check(CT_SIGNAL_TRACES, q, len, &items, err, sizeof err), -EINVAL);
        CHECK_STR_CONTAINS(err, "Span field 5 has wire type varint");
    }
    free(q);

    /* Random bytes never crash; nearly all are refused. */
    srand(7);
    int refused = 0;
    uint8_t buf[512];
    for (int t = 0; t < 20000; t++) {
        size_t n = (size_t)(rand() % (int)sizeof buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)rand();
        refused += ct_wire_check((ct_signal_t)(t % 3), buf, n, &items, err, sizeof err) != 0;
    }
    CHECK(refused > 19000);

    /* Every truncation of a valid request either fails or is itself well formed. */
    for (size_t cut = 0; cut < len; cut++) {
        int rc = ct_wire_check(CT_SIGNAL_TRACES, p, cut, &items, err, sizeof err);
        CHECK(rc == 0 || rc == -EINVAL);
    }

    /* Deep nesting is refused, not a stack overflow: AnyValue kvlist in kvlist ... */
    ct_buf_t deep = {0};
    size_t levels = 400;
    /* Build inside out: AnyValue{kvlist_value{values{key,value{...}}}}. */
    ct_buf_t inner = {0};
    for (size_t i = 0; i < levels; i++) {
        ct_buf_t kvl = {0}, kvb = {0}, av = {0};
        ct_wire_put_bytes(&kvb, 1, "k", 1);
        ct_wire_put_bytes(&kvb, 2, inner.data, inner.len);
        ct_wire_put_bytes(&kvl, 1, kvb.data, kvb.len);
        ct_wire_put_bytes(&av, 6, kvl.data, kvl.len);
        ct_buf_free(&inner);
        inner = av;
        ct_buf_free(&kvl);
        ct_buf_free(&kvb);
    }
    ct_buf_t kv = {0}, res = {0}, rs = {0};
    ct_wire_put_bytes(&kv, 1, "a", 1);
    ct_wire_put_bytes(&kv, 2, inner.data, inner.len);
    ct_wire_put_bytes(&res, 1, kv.data, kv.len);
    ct_wire_put_bytes(&rs, 1, res.data, res.len);
    ct_wire_put_bytes(&deep, 1, rs.data, rs.len);
    CHECK_EQ_INT(ct_wire_check(CT_SIGNAL_TRACES, deep.data, deep.len, &items, err, sizeof err),
                 -EINVAL);
    CHECK_STR_CONTAINS(err, "nested deeper than");
    ct_buf_free(&inner);
    ct_buf_free(&kv);
    ct_buf_free(&res);
    ct_buf_free(&rs);
    ct_buf_free(&deep);
    free(p);
}

/* Checks a traces request whose one resource has one attribute: the KeyValue bytes kv. */
static int check_attribute(const uint8_t *kv, size_t kvlen, char *err, size_t errlen)
{
    ct_buf_t res = {0}, rs = {0}, req = {0};
    size_t items;
    int rc;

    ct_wire_put_bytes(&res, 1, kv, kvlen);
    ct_wire_put_bytes(&rs, 1, res.data, res.len);
    ct_wire_put_bytes(&req, 1, rs.data, rs.len);
    rc = ct_wire_check(CT_SIGNAL_TRACES, req.data, req.len, &items, err, errlen);
    ct_buf_free(&res);
    ct_buf_free(&rs);
    ct_buf_free(&req);
    return rc;
}

/*
 * Attributes of the usual shapes (taken by a shortcut in the checker) and
 * near misses of those shapes, which must be judged as the general walk
 * judges them.
 */
static void test_simple_attributes(void)
{
    static const struct {
        const char *what;
        uint8_t kv[24];
        size_t len;
        int ok;
    } cases[] = {
        {"string", {0x0a, 1, 'k', 0x12, 3, 0x0a, 1, 'v'}, 8, 1},
        {"empty key and string", {0x0a, 0, 0x12, 2, 0x0a, 0}, 6, 1},
        {"int, 3-byte varint", {0x0a, 1, 'k', 0x12, 4, 0x18, 0x80, 0x80, 0x01}, 9, 1},
        {"bool", {0x0a, 1, 'k', 0x12, 2, 0x10, 1}, 7, 1},
        {"double", {0x0a, 1, 'k', 0x12, 9, 0x21, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f}, 14, 1},
        {"empty value", {0x0a, 1, 'k', 0x12, 0}, 5, 1},
        {"string then int", {0x0a, 1, 'k', 0x12, 5, 0x0a, 1, 'v', 0x18, 7}, 10, 1},
        {"value before key", {0x12, 3, 0x0a, 1, 'v', 0x0a, 1, 'k'}, 8, 1},
        {"string longer than its value", {0x0a, 1, 'k', 0x12, 3, 0x0a, 5, 'v'}, 8, 0},
        {"value longer than the attribute", {0x0a, 1, 'k', 0x12, 9, 0x0a, 1, 'v'}, 8, 0},
        {"key longer than the attribute", {0x0a, 20, 'k', 0x12, 3, 0x0a, 1, 'v'}, 8, 0},
        {"int cut short", {0x0a, 1, 'k', 0x12, 2, 0x18, 0x80}, 7, 0},
        {"double cut short", {0x0a, 1, 'k', 0x12, 8, 0x21, 0, 0, 0, 0, 0, 0, 0}, 13, 0},
        {"string as varint", {0x0a, 1, 'k', 0x12, 2, 0x08, 5}, 7, 0},
        {"int as length-delimited", {0x0a, 1, 'k', 0x12, 3, 0x1a, 1, 'v'}, 8, 0},
        {"key as varint", {0x08, 1, 0x12, 3, 0x0a, 1, 'v'}, 7, 0},
    };
    char err[256];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = check_attribute(cases[i].kv, cases[i].len, err, sizeof err);
        if ((rc == 0) != cases[i].ok)
            fprintf(stderr, "attribute case '%s': rc %d (%s)\n", cases[i].what, rc,
                    rc ? err : "accepted");
        CHECK_EQ_INT(rc == 0, cases[i].ok);
    }
}

static void test_regroup_one_per_item(void)
{
    size_t len;
    uint8_t *p = make_traces(&len);
    ct_wire_index_t idx = {0};
    CHECK_EQ_INT(ct_wire_index(&idx, CT_SIGNAL_TRACES, p, len), 0);
    CHECK_EQ_INT(idx.nres, NRES);
    CHECK_EQ_INT(idx.nscope, NRES * NSCOPE);
    CHECK_EQ_INT(idx.nitem, NRES * NSCOPE * NSPAN);

    size_t n = idx.nitem;
    uint32_t *group = malloc(n * sizeof *group);
    for (size_t i = 0; i < n; i++)
        group[i] = (uint32_t)i;
    ct_buf_t *out = calloc(n, sizeof *out);
    size_t *items = calloc(n, sizeof *items);
    CHECK_EQ_INT(ct_wire_regroup(&idx, group, n, out, items), 0);

    for (size_t g = 0; g < n; g++) {
        int r = (int)(g / (NSCOPE * NSPAN)), s = (int)(g / NSPAN % NSCOPE), i = (int)(g % NSPAN);
        CHECK_EQ_INT(items[g], 1);
        TraceReq *d =
            opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
                NULL, out[g].len, out[g].data);
        CHECK(d != NULL);
        if (d == NULL)
            continue;
        char want[32], wscope[16], wsvc[16];
        snprintf(want, sizeof want, "span-%d-%d-%d", r, s, i);
        snprintf(wscope, sizeof wscope, "scope-%d-%d", r, s);
        snprintf(wsvc, sizeof wsvc, "svc-%d", r);
        CHECK(d->n_resource_spans == 1 && d->resource_spans[0]->n_scope_spans == 1);
        ResourceSpans *rs = d->resource_spans[0];
        CHECK(strcmp(rs->schema_url, "https://example/schema") == 0);
        CHECK(rs->resource && rs->resource->n_attributes == 1 &&
              strcmp(rs->resource->attributes[0]->value->string_value, wsvc) == 0);
        CHECK(strcmp(rs->scope_spans[0]->scope->name, wscope) == 0);
        CHECK(rs->scope_spans[0]->n_spans == 1 &&
              strcmp(rs->scope_spans[0]->spans[0]->name, want) == 0);
        CHECK_EQ_INT(rs->scope_spans[0]->spans[0]->end_time_unix_nano, 2000 + i);
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
            d, NULL);
        ct_buf_free(&out[g]);
    }
    free(out);
    free(items);
    free(group);
    ct_wire_index_free(&idx);
    free(p);
}

static void test_plan_split(void)
{
    size_t len;
    uint8_t *p = make_traces(&len);
    ct_wire_index_t idx = {0};
    ct_wire_index(&idx, CT_SIGNAL_TRACES, p, len);
    uint32_t group[NRES * NSCOPE * NSPAN];
    size_t oversize = 99;

    size_t ng = ct_wire_plan_split(&idx, 5, 0, group, &oversize);
    CHECK_EQ_INT(ng, (NRES * NSCOPE * NSPAN + 4) / 5);
    CHECK_EQ_INT(oversize, 0);

    /* A byte cap: every part fits, and concatenated they hold every span in order. */
    size_t cap = len / 3;
    ng = ct_wire_plan_split(&idx, 0, cap, group, &oversize);
    CHECK(ng >= 3);
    ct_buf_t *out = calloc(ng, sizeof *out);
    size_t items[64];
    CHECK_EQ_INT(ct_wire_regroup(&idx, group, ng, out, items), 0);
    ct_buf_t all = {0};
    size_t total = 0;
    for (size_t g = 0; g < ng; g++) {
        CHECK(out[g].len <= cap);
        total += items[g];
        ct_buf_append(&all, out[g].data, out[g].len);
        ct_buf_free(&out[g]);
    }
    CHECK_EQ_INT(total, idx.nitem);
    size_t count = 0;
    CHECK_EQ_INT(ct_wire_check(CT_SIGNAL_TRACES, all.data, all.len, &count, NULL, 0), 0);
    CHECK_EQ_INT(count, idx.nitem);
    TraceReq *d = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
        NULL, all.len, all.data);
    size_t k = 0;
    for (size_t r = 0; d && r < d->n_resource_spans; r++)
        for (size_t s = 0; s < d->resource_spans[r]->n_scope_spans; s++)
            for (size_t i = 0; i < d->resource_spans[r]->scope_spans[s]->n_spans; i++, k++) {
                char want[32];
                snprintf(want, sizeof want, "span-%zu-%zu-%zu", k / (NSCOPE * NSPAN),
                         k / NSPAN % NSCOPE, k % NSPAN);
                CHECK(strcmp(d->resource_spans[r]->scope_spans[s]->spans[i]->name, want) == 0);
            }
    CHECK_EQ_INT(k, idx.nitem);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(d,
                                                                                            NULL);
    ct_buf_free(&all);
    free(out);

    /* A cap smaller than one span: every item is oversize. */
    ng = ct_wire_plan_split(&idx, 0, 20, group, &oversize);
    CHECK_EQ_INT(ng, 0);
    CHECK_EQ_INT(oversize, idx.nitem);
    ct_wire_index_free(&idx);
    free(p);
}

/* Metrics: a gauge of 5 points and a histogram of 3, split one point per group. */
static void test_metrics_split(void)
{
    typedef Opentelemetry__Proto__Metrics__V1__Metric Metric;
    typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint NDP;
    typedef Opentelemetry__Proto__Metrics__V1__HistogramDataPoint HDP;
    NDP ndp[5], *ndpp[5];
    HDP hdp[3], *hdpp[3];
    uint64_t counts[3] = {1, 2, 3};
    double bounds[2] = {1.0, 2.0};
    for (int i = 0; i < 5; i++) {
        opentelemetry__proto__metrics__v1__number_data_point__init(&ndp[i]);
        ndp[i].value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT;
        ndp[i].as_int = 100 + i;
        ndp[i].time_unix_nano = 5;
        ndpp[i] = &ndp[i];
    }
    for (int i = 0; i < 3; i++) {
        opentelemetry__proto__metrics__v1__histogram_data_point__init(&hdp[i]);
        hdp[i].count = 6 + (uint64_t)i;
        hdp[i].n_bucket_counts = 3;
        hdp[i].bucket_counts = counts;
        hdp[i].n_explicit_bounds = 2;
        hdp[i].explicit_bounds = bounds;
        hdpp[i] = &hdp[i];
    }
    Opentelemetry__Proto__Metrics__V1__Gauge gauge;
    opentelemetry__proto__metrics__v1__gauge__init(&gauge);
    gauge.n_data_points = 5;
    gauge.data_points = ndpp;
    Opentelemetry__Proto__Metrics__V1__Histogram hist;
    opentelemetry__proto__metrics__v1__histogram__init(&hist);
    hist.n_data_points = 3;
    hist.data_points = hdpp;
    hist.aggregation_temporality =
        OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE;
    Metric m[2], *mp[2] = {&m[0], &m[1]};
    opentelemetry__proto__metrics__v1__metric__init(&m[0]);
    m[0].name = "g";
    m[0].unit = "1";
    m[0].data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE;
    m[0].gauge = &gauge;
    opentelemetry__proto__metrics__v1__metric__init(&m[1]);
    m[1].name = "h";
    m[1].data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM;
    m[1].histogram = &hist;
    Opentelemetry__Proto__Metrics__V1__ScopeMetrics sm, *smp = &sm;
    opentelemetry__proto__metrics__v1__scope_metrics__init(&sm);
    sm.n_metrics = 2;
    sm.metrics = mp;
    Opentelemetry__Proto__Metrics__V1__ResourceMetrics rm, *rmp = &rm;
    opentelemetry__proto__metrics__v1__resource_metrics__init(&rm);
    rm.n_scope_metrics = 1;
    rm.scope_metrics = &smp;
    MetricsReq req =
        OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_SERVICE_REQUEST__INIT;
    req.n_resource_metrics = 1;
    req.resource_metrics = &rmp;
    size_t len =
        opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__get_packed_size(
            &req);
    uint8_t *p = malloc(len);
    opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__pack(&req, p);

    size_t items;
    CHECK_EQ_INT(ct_wire_check(CT_SIGNAL_METRICS, p, len, &items, NULL, 0), 0);
    CHECK_EQ_INT(items, 8);
    size_t res, metrics, counted;
    CHECK_EQ_INT(ct_wire_count(CT_SIGNAL_METRICS, p, len, &res, &metrics, &counted), 0);
    CHECK(res == 1 && metrics == 2 && counted == 8);
    ct_wire_index_t idx = {0};
    CHECK_EQ_INT(ct_wire_index(&idx, CT_SIGNAL_METRICS, p, len), 0);
    CHECK_EQ_INT(idx.nmetric, 2);
    CHECK_EQ_INT(idx.nitem, 8);
    uint32_t group[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    ct_buf_t out[8] = {{0}};
    CHECK_EQ_INT(ct_wire_regroup(&idx, group, 8, out, NULL), 0);
    for (int g = 0; g < 8; g++) {
        MetricsReq *d =
            opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
                NULL, out[g].len, out[g].data);
        CHECK(d != NULL && d->n_resource_metrics == 1);
        if (d == NULL)
            continue;
        Metric *dm = d->resource_metrics[0]->scope_metrics[0]->metrics[0];
        if (g < 5) {
            CHECK(strcmp(dm->name, "g") == 0 && strcmp(dm->unit, "1") == 0);
            CHECK(dm->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE);
            CHECK(dm->gauge->n_data_points == 1 && dm->gauge->data_points[0]->as_int == 100 + g);
        } else {
            CHECK(strcmp(dm->name, "h") == 0);
            CHECK(dm->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM);
            CHECK(dm->histogram->aggregation_temporality == 2);
            CHECK(dm->histogram->n_data_points == 1 &&
                  dm->histogram->data_points[0]->count == (uint64_t)(6 + g - 5) &&
                  dm->histogram->data_points[0]->n_bucket_counts == 3);
        }
        opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
            d, NULL);
        ct_buf_free(&out[g]);
    }
    ct_wire_index_free(&idx);
    free(p);
}

static int unpacks(ct_signal_t sig, const uint8_t *p, size_t len)
{
    ProtobufCMessage *m = NULL;
    const ProtobufCMessageDescriptor *d =
        sig == CT_SIGNAL_TRACES
            ? &opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor
            : &opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__descriptor;
    m = protobuf_c_message_unpack(d, NULL, len, p);
    if (m != NULL)
        protobuf_c_message_free_unpacked(m, NULL);
    return m != NULL;
}

static uint8_t *hex(const char *h, size_t *len)
{
    *len = strlen(h) / 2;
    uint8_t *b = malloc(*len);
    for (size_t i = 0; i < *len; i++)
        sscanf(h + 2 * i, "%2hhx", &b[i]);
    return b;
}

/*
 * What the walker accepts, the decoder components use must accept too: a
 * request answered OK must never be dropped later as undecodable. Mutated
 * requests that pass ct_wire_check must unpack with protobuf-c.
 */
static void test_check_agrees_with_decoder(void)
{
    char err[256];
    size_t len, items;

    /* KeyValue.key_strindex (3) and AnyValue.string_value_strindex (8) as bytes: refused. */
    uint8_t *q = hex("0a31122f122d0a100102030405060708090a0b0c0d0e0f10120801020304050607082a0173"
                     "4a0c0a016b12030a01761a027a7a",
                     &len);
    CHECK_EQ_INT(ct_wire_check(CT_SIGNAL_TRACES, q, len, &items, err, sizeof err), -EINVAL);
    CHECK_STR_CONTAINS(err, "KeyValue field 3");
    free(q);
    /* A 15-byte trace id: refused, as the OpenTelemetry Collector does. */
    q = hex("0a221220121e0a0f0102030405060708090a0b0c0d0e0f120801020304050607082a0173", &len);
    CHECK_EQ_INT(ct_wire_check(CT_SIGNAL_TRACES, q, len, &items, err, sizeof err), -EINVAL);
    CHECK_STR_CONTAINS(err, "an id of 15 bytes (must be 16)");
    free(q);

    uint8_t *base = make_traces(&len);
    uint8_t *buf = malloc(len + 64);
    int accepted = 0, disagree = 0;
    srand(11);
    for (int t = 0; t < 60000; t++) {
        size_t n = len;
        memcpy(buf, base, len);
        int edits = 1 + rand() % 3;
        for (int e = 0; e < edits; e++) {
            size_t at = (size_t)rand() % n;
            switch (rand() % 3) {
            case 0: /* flip a byte */
                buf[at] ^= (uint8_t)(1 + rand() % 255);
                break;
            case 1: /* a new tag of a random field and wire type */
                buf[at] = (uint8_t)(((rand() % 20 + 1) << 3) | (rand() % 6));
                break;
            default: /* cut the tail */
                n = at + 1;
                break;
            }
        }
        if (ct_wire_check(CT_SIGNAL_TRACES, buf, n, &items, NULL, 0) == 0) {
            accepted++;
            if (!unpacks(CT_SIGNAL_TRACES, buf, n))
                disagree++;
        }
    }
    CHECK(accepted > 100);
    CHECK_EQ_INT(disagree, 0);
    free(buf);
    free(base);
}

int main(void)
{
    test_check_counts();
    test_malformed();
    test_simple_attributes();
    test_regroup_one_per_item();
    test_plan_split();
    test_metrics_split();
    test_check_agrees_with_decoder();
    return ct_test_report();
}
