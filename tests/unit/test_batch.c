/*
 * The batch processor driven through its factory into a capturing next
 * stage: size and timeout triggers, splits at resource, scope, item and data
 * point boundaries (decoded with protobuf-c), the byte cap, metadata
 * batchers and their limit, flush on shutdown, and config validation.
 */
#include "ct_component.h"
#include "ct_config.h"
#include "ct_metrics.h"
#include "ct_service.h"
#include "ct_test.h"
#include "ct_wire.h"

#include "opentelemetry/proto/collector/logs/v1/logs_service.pb-c.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest TraceReq;
typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest MetricsReq;
typedef Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest LogsReq;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans ResourceSpans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans ScopeSpans;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Metrics__V1__ResourceMetrics ResourceMetrics;
typedef Opentelemetry__Proto__Metrics__V1__ScopeMetrics ScopeMetrics;
typedef Opentelemetry__Proto__Metrics__V1__Metric Metric;
typedef Opentelemetry__Proto__Metrics__V1__Gauge Gauge;
typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint NumberDataPoint;
typedef Opentelemetry__Proto__Logs__V1__ResourceLogs ResourceLogs;
typedef Opentelemetry__Proto__Logs__V1__ScopeLogs ScopeLogs;
typedef Opentelemetry__Proto__Logs__V1__LogRecord LogRecord;
typedef Opentelemetry__Proto__Resource__V1__Resource Resource;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope Scope;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;

#define MAX_CAPTURED 256

/* protobuf-c's names for the metrics request are longer than a line. */
#define METRICS_REQ(fn)                                                                            \
    opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__##fn

/* ---- a next stage that keeps what it gets ---- */

typedef struct capture {
    ct_consumer_t consumer;
    pthread_mutex_t lock;
    ct_request_t *got[MAX_CAPTURED];
    size_t n;
    ct_code_t answer;
} capture_t;

static ct_code_t capture_consume(ct_consumer_t *self, ct_request_t *req)
{
    capture_t *c = (capture_t *)self;
    pthread_mutex_lock(&c->lock);
    if (c->answer == CT_OK && c->n < MAX_CAPTURED)
        c->got[c->n++] = ct_request_ref(req);
    ct_code_t answer = c->answer;
    pthread_mutex_unlock(&c->lock);
    return answer;
}

static size_t captured(capture_t *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->n;
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* Waits (at most 5 s) until the capture holds n requests. */
static int wait_captured(capture_t *c, size_t n)
{
    for (int i = 0; i < 500; i++) {
        if (captured(c) >= n)
            return 0;
        usleep(10000);
    }
    return -1;
}

/* ---- a batch processor instance built from YAML ---- */

typedef struct harness {
    ct_instance_t inst;
    capture_t cap;
    ct_node_t *root;
    const ct_factory_t *f;
} harness_t;

static int harness_init(harness_t *h, const char *id, ct_signal_t sig, const char *yaml)
{
    ct_err_t err = {{0}};
    memset(h, 0, sizeof *h);
    pthread_mutex_init(&h->cap.lock, NULL);
    h->cap.consumer.consume = capture_consume;
    h->f = ct_factory_find(CT_KIND_PROCESSOR, "batch", 5);
    if (h->f == NULL)
        return -1;
    h->root = ct_config_load_string("test.yaml", yaml, strlen(yaml), &err);
    void *cfg = calloc(1, h->f->cfg_size);
    if (h->root == NULL || cfg == NULL || ct_opt_defaults(h->f->opts, cfg, &err) != 0 ||
        ct_opt_apply(h->f->opts, cfg, h->root, "processors::batch", &err) != 0 ||
        h->f->validate(cfg, h->root, &err) != 0) {
        fprintf(stderr, "config: %s\n", err.msg);
        free(cfg);
        return -1;
    }
    h->inst.factory = h->f;
    h->inst.id = strdup(id);
    h->inst.name = strdup(id);
    h->inst.config = cfg;
    h->inst.node = h->root;
    h->inst.signal = sig;
    h->inst.pipeline = ct_signal_name(sig);
    h->inst.next_stage = &h->cap.consumer;
    if (h->f->create(&h->inst, &err) != 0 || h->f->start(&h->inst, &err) != 0) {
        fprintf(stderr, "create/start: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static void harness_free(harness_t *h)
{
    h->f->destroy(&h->inst);
    ct_opt_free(h->f->opts, h->inst.config);
    free(h->inst.config);
    free(h->inst.id);
    free(h->inst.name);
    ct_node_free(h->root);
    for (size_t i = 0; i < h->cap.n; i++)
        ct_request_unref(h->cap.got[i]);
}

static ct_code_t consume(harness_t *h, ct_request_t *r)
{
    ct_code_t code = h->f->consume(&h->inst, r);
    ct_request_unref(r);
    return code;
}

static uint64_t counter(const char *name, const char *id)
{
    char labels[128];
    snprintf(labels, sizeof labels, "processor=\"%s\"", id);
    return ct_metrics_value(name, labels);
}

/* ---- building requests ---- */

static KeyValue *str_attr(const char *key, const char *val)
{
    KeyValue *kv = calloc(1, sizeof *kv);
    AnyValue *av = calloc(1, sizeof *av);
    opentelemetry__proto__common__v1__key_value__init(kv);
    opentelemetry__proto__common__v1__any_value__init(av);
    av->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    av->string_value = strdup(val);
    kv->key = strdup(key);
    kv->value = av;
    return kv;
}

static void free_attr(KeyValue *kv)
{
    free(kv->value->string_value);
    free(kv->value);
    free(kv->key);
    free(kv);
}

static ct_request_t *request_of(ct_signal_t sig, uint8_t *buf, size_t len)
{
    size_t items = 0;
    char err[256];
    if (ct_wire_check(sig, buf, len, &items, err, sizeof err) != 0) {
        fprintf(stderr, "built an invalid request: %s\n", err);
        free(buf);
        return NULL;
    }
    return ct_request_take(sig, buf, len, items);
}

/*
 * nres resources x nscope scopes x nspan spans. A span is named
 * "t<tag>-r<r>-s<s>-i<i>"; its resource's service.name is "svc-<r>" and its
 * scope "scope-<r>-<s>", so a decoded batch shows whether each span kept
 * its envelopes. attr_len > 0 adds an attribute of that many bytes.
 */
static ct_request_t *make_traces(int tag, int nres, int nscope, int nspan, size_t attr_len)
{
    TraceReq req = OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    ResourceSpans **rs = calloc((size_t)nres, sizeof *rs);
    char buf[64], *pad = calloc(1, attr_len + 1);
    static uint8_t id[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

    memset(pad, 'x', attr_len);
    req.n_resource_spans = (size_t)nres;
    req.resource_spans = rs;
    for (int r = 0; r < nres; r++) {
        rs[r] = calloc(1, sizeof **rs);
        opentelemetry__proto__trace__v1__resource_spans__init(rs[r]);
        rs[r]->resource = calloc(1, sizeof *rs[r]->resource);
        opentelemetry__proto__resource__v1__resource__init(rs[r]->resource);
        rs[r]->resource->n_attributes = 1;
        rs[r]->resource->attributes = calloc(1, sizeof(KeyValue *));
        snprintf(buf, sizeof buf, "svc-%d", r);
        rs[r]->resource->attributes[0] = str_attr("service.name", buf);
        rs[r]->schema_url = "https://example/schema";
        rs[r]->n_scope_spans = (size_t)nscope;
        rs[r]->scope_spans = calloc((size_t)nscope, sizeof(ScopeSpans *));
        for (int s = 0; s < nscope; s++) {
            ScopeSpans *ss = calloc(1, sizeof *ss);
            opentelemetry__proto__trace__v1__scope_spans__init(ss);
            ss->scope = calloc(1, sizeof *ss->scope);
            opentelemetry__proto__common__v1__instrumentation_scope__init(ss->scope);
            snprintf(buf, sizeof buf, "scope-%d-%d", r, s);
            ss->scope->name = strdup(buf);
            ss->scope->version = "1.0";
            ss->schema_url = "https://example/scope";
            ss->n_spans = (size_t)nspan;
            ss->spans = calloc((size_t)nspan, sizeof(Span *));
            for (int i = 0; i < nspan; i++) {
                Span *sp = calloc(1, sizeof *sp);
                opentelemetry__proto__trace__v1__span__init(sp);
                snprintf(buf, sizeof buf, "t%d-r%d-s%d-i%d", tag, r, s, i);
                sp->name = strdup(buf);
                sp->trace_id.data = id;
                sp->trace_id.len = 16;
                sp->span_id.data = id;
                sp->span_id.len = 8;
                sp->start_time_unix_nano = 1000;
                sp->end_time_unix_nano = 2000;
                if (attr_len > 0) {
                    sp->n_attributes = 1;
                    sp->attributes = calloc(1, sizeof(KeyValue *));
                    sp->attributes[0] = str_attr("pad", pad);
                }
                ss->spans[i] = sp;
            }
            rs[r]->scope_spans[s] = ss;
        }
    }
    size_t len =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(
            &req);
    uint8_t *out = malloc(len ? len : 1);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(&req, out);

    for (int r = 0; r < nres; r++) {
        for (int s = 0; s < nscope; s++) {
            ScopeSpans *ss = rs[r]->scope_spans[s];
            for (int i = 0; i < nspan; i++) {
                if (ss->spans[i]->n_attributes)
                    free_attr(ss->spans[i]->attributes[0]);
                free(ss->spans[i]->attributes);
                free(ss->spans[i]->name);
                free(ss->spans[i]);
            }
            free(ss->spans);
            free(ss->scope->name);
            free(ss->scope);
            free(ss);
        }
        free(rs[r]->scope_spans);
        free_attr(rs[r]->resource->attributes[0]);
        free(rs[r]->resource->attributes);
        free(rs[r]->resource);
        free(rs[r]);
    }
    free(rs);
    free(pad);
    return request_of(CT_SIGNAL_TRACES, out, len);
}

/* One resource, one scope, one gauge "m.<tag>" (description, unit) with npoints points. */
static ct_request_t *make_gauge(int tag, int npoints)
{
    MetricsReq req =
        OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_SERVICE_REQUEST__INIT;
    ResourceMetrics rm = OPENTELEMETRY__PROTO__METRICS__V1__RESOURCE_METRICS__INIT;
    ResourceMetrics *rmp = &rm;
    Resource res = OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
    ScopeMetrics sm = OPENTELEMETRY__PROTO__METRICS__V1__SCOPE_METRICS__INIT;
    ScopeMetrics *smp = &sm;
    Scope scope = OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
    Metric m = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__INIT;
    Metric *mp = &m;
    Gauge g = OPENTELEMETRY__PROTO__METRICS__V1__GAUGE__INIT;
    NumberDataPoint *pts = calloc((size_t)npoints, sizeof *pts);
    NumberDataPoint **ptp = calloc((size_t)npoints, sizeof *ptp);
    KeyValue *svc = str_attr("service.name", "metrics-svc");
    char name[32];

    snprintf(name, sizeof name, "m.%d", tag);
    for (int i = 0; i < npoints; i++) {
        opentelemetry__proto__metrics__v1__number_data_point__init(&pts[i]);
        pts[i].value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT;
        pts[i].as_int = i;
        pts[i].time_unix_nano = 5000;
        ptp[i] = &pts[i];
    }
    g.n_data_points = (size_t)npoints;
    g.data_points = ptp;
    m.name = name;
    m.description = "a test gauge";
    m.unit = "1";
    m.data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE;
    m.gauge = &g;
    scope.name = "meter";
    sm.scope = &scope;
    sm.n_metrics = 1;
    sm.metrics = &mp;
    res.n_attributes = 1;
    res.attributes = &svc;
    rm.resource = &res;
    rm.n_scope_metrics = 1;
    rm.scope_metrics = &smp;
    req.n_resource_metrics = 1;
    req.resource_metrics = &rmp;

    size_t len = METRICS_REQ(get_packed_size)(&req);
    uint8_t *out = malloc(len);
    METRICS_REQ(pack)(&req, out);
    free_attr(svc);
    free(pts);
    free(ptp);
    return request_of(CT_SIGNAL_METRICS, out, len);
}

/* One resource "logs-<tag>" with nrec log records whose bodies are "rec-<i>". */
static ct_request_t *make_logs(int tag, int nrec)
{
    LogsReq req = OPENTELEMETRY__PROTO__COLLECTOR__LOGS__V1__EXPORT_LOGS_SERVICE_REQUEST__INIT;
    ResourceLogs rl = OPENTELEMETRY__PROTO__LOGS__V1__RESOURCE_LOGS__INIT;
    ResourceLogs *rlp = &rl;
    Resource res = OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
    ScopeLogs sl = OPENTELEMETRY__PROTO__LOGS__V1__SCOPE_LOGS__INIT;
    ScopeLogs *slp = &sl;
    LogRecord *recs = calloc((size_t)nrec, sizeof *recs);
    LogRecord **recp = calloc((size_t)nrec, sizeof *recp);
    AnyValue *bodies = calloc((size_t)nrec, sizeof *bodies);
    char(*texts)[16] = calloc((size_t)nrec, sizeof *texts);
    char svc_name[32];

    snprintf(svc_name, sizeof svc_name, "logs-%d", tag);
    KeyValue *svc = str_attr("service.name", svc_name);
    for (int i = 0; i < nrec; i++) {
        opentelemetry__proto__logs__v1__log_record__init(&recs[i]);
        opentelemetry__proto__common__v1__any_value__init(&bodies[i]);
        snprintf(texts[i], sizeof texts[i], "rec-%d", i);
        bodies[i].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
        bodies[i].string_value = texts[i];
        recs[i].body = &bodies[i];
        recp[i] = &recs[i];
    }
    sl.n_log_records = (size_t)nrec;
    sl.log_records = recp;
    res.n_attributes = 1;
    res.attributes = &svc;
    rl.resource = &res;
    rl.n_scope_logs = 1;
    rl.scope_logs = &slp;
    req.n_resource_logs = 1;
    req.resource_logs = &rlp;

    size_t len =
        opentelemetry__proto__collector__logs__v1__export_logs_service_request__get_packed_size(
            &req);
    uint8_t *out = malloc(len);
    opentelemetry__proto__collector__logs__v1__export_logs_service_request__pack(&req, out);
    free_attr(svc);
    free(recs);
    free(recp);
    free(bodies);
    free(texts);
    return request_of(CT_SIGNAL_LOGS, out, len);
}

/* ---- checking batches ---- */

/*
 * Decodes a trace batch, checks that every span sits under the resource and
 * scope its name says and that those kept their attributes and schema URLs,
 * and appends the span names to names (n in, n out). Returns the number of
 * resource entries, or -1 when the batch does not decode.
 */
static int check_traces(const ct_request_t *r, char names[][32], size_t *n, size_t max)
{
    TraceReq *req =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
            NULL, r->len, r->data);
    if (req == NULL)
        return -1;
    size_t spans = 0;
    for (size_t ri = 0; ri < req->n_resource_spans; ri++) {
        ResourceSpans *rs = req->resource_spans[ri];
        CHECK(rs->resource != NULL && rs->resource->n_attributes == 1);
        CHECK(rs->schema_url != NULL && strcmp(rs->schema_url, "https://example/schema") == 0);
        const char *svc = rs->resource ? rs->resource->attributes[0]->value->string_value : "";
        for (size_t si = 0; si < rs->n_scope_spans; si++) {
            ScopeSpans *ss = rs->scope_spans[si];
            CHECK(ss->scope != NULL && strcmp(ss->scope->version, "1.0") == 0);
            CHECK(strcmp(ss->schema_url, "https://example/scope") == 0);
            for (size_t i = 0; i < ss->n_spans; i++) {
                int tag, rr, s, it;
                char want_svc[32], want_scope[32];
                CHECK(sscanf(ss->spans[i]->name, "t%d-r%d-s%d-i%d", &tag, &rr, &s, &it) == 4);
                snprintf(want_svc, sizeof want_svc, "svc-%d", rr);
                snprintf(want_scope, sizeof want_scope, "scope-%d-%d", rr, s);
                CHECK(strcmp(svc, want_svc) == 0);
                CHECK(ss->scope && strcmp(ss->scope->name, want_scope) == 0);
                if (*n < max)
                    snprintf(names[(*n)++], 32, "%s", ss->spans[i]->name);
                spans++;
            }
        }
    }
    CHECK_EQ_INT(spans, r->items);
    int nres = (int)req->n_resource_spans;
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req,
                                                                                            NULL);
    return nres;
}

/* Expects names[from..] to be t<tag>-r*-s*-i* in order for the given shape. */
static void check_order(char names[][32], size_t n, int tag, int nres, int nscope, int nspan)
{
    size_t k = 0;
    CHECK_EQ_INT(n, (size_t)(nres * nscope * nspan));
    for (int r = 0; r < nres; r++) {
        for (int s = 0; s < nscope; s++) {
            for (int i = 0; i < nspan && k < n; i++, k++) {
                char want[32];
                snprintf(want, sizeof want, "t%d-r%d-s%d-i%d", tag, r, s, i);
                if (strcmp(names[k], want) != 0) {
                    fprintf(stderr, "span %zu: got %s, want %s\n", k, names[k], want);
                    CHECK(0);
                    return;
                }
            }
        }
    }
}

/* ---- tests ---- */

static void test_size_trigger(void)
{
    harness_t h;
    CHECK(harness_init(&h, "batch/size", CT_SIGNAL_TRACES, "send_batch_size: 10\ntimeout: 10s\n") ==
          0);
    CHECK_EQ_INT(consume(&h, make_traces(1, 1, 1, 4, 0)), CT_OK);
    CHECK_EQ_INT(consume(&h, make_traces(2, 1, 1, 4, 0)), CT_OK);
    CHECK_EQ_INT(captured(&h.cap), 0);
    CHECK_EQ_INT(consume(&h, make_traces(3, 1, 1, 4, 0)), CT_OK);
    /* The third request makes 12 >= 10: everything pending goes at once, uncapped. */
    CHECK_EQ_INT(captured(&h.cap), 1);
    if (captured(&h.cap) == 1) {
        char names[16][32];
        size_t n = 0;
        CHECK_EQ_INT(h.cap.got[0]->items, 12);
        CHECK_EQ_INT(check_traces(h.cap.got[0], names, &n, 16), 3);
        CHECK_STR_CONTAINS(names[0], "t1-");
        CHECK_STR_CONTAINS(names[11], "t3-");
    }
    CHECK_EQ_INT(counter("otelcol_processor_batch_batch_size_trigger_send", "batch/size"), 1);
    CHECK_EQ_INT(counter("otelcol_processor_batch_timeout_trigger_send", "batch/size"), 0);
    h.f->shutdown(&h.inst, 0);
    CHECK_EQ_INT(captured(&h.cap), 1); /* nothing was left */
    harness_free(&h);
}

static void test_timeout_trigger(void)
{
    harness_t h;
    CHECK(harness_init(&h, "batch/timeout", CT_SIGNAL_TRACES,
                       "send_batch_size: 1000\ntimeout: 100ms\n") == 0);
    uint64_t t0 = ct_now_mono_ns();
    CHECK_EQ_INT(consume(&h, make_traces(1, 1, 1, 3, 0)), CT_OK);
    CHECK_EQ_INT(consume(&h, make_traces(2, 2, 1, 2, 0)), CT_OK);
    CHECK_EQ_INT(wait_captured(&h.cap, 1), 0);
    uint64_t waited = ct_now_mono_ns() - t0;
    CHECK(waited >= 100000000u); /* not before the timeout */
    CHECK(waited < 3000000000u);
    if (captured(&h.cap) == 1) {
        char names[16][32];
        size_t n = 0;
        CHECK_EQ_INT(h.cap.got[0]->items, 7);
        CHECK_EQ_INT(check_traces(h.cap.got[0], names, &n, 16), 3);
    }
    CHECK_EQ_INT(counter("otelcol_processor_batch_timeout_trigger_send", "batch/timeout"), 1);

    /* A later request starts a new timeout. */
    CHECK_EQ_INT(consume(&h, make_traces(3, 1, 1, 1, 0)), CT_OK);
    CHECK_EQ_INT(wait_captured(&h.cap, 2), 0);
    CHECK_EQ_INT(counter("otelcol_processor_batch_timeout_trigger_send", "batch/timeout"), 2);
    h.f->shutdown(&h.inst, 0);
    harness_free(&h);
}

/* Feeds one request of the shape through a cap of max items and checks every batch. */
static void split_case(const char *id, int nres, int nscope, int nspan, int max,
                       size_t want_batches, int want_res_per_batch)
{
    harness_t h;
    char yaml[128], names[64][32];
    size_t n = 0;
    snprintf(yaml, sizeof yaml, "send_batch_size: %d\nsend_batch_max_size: %d\ntimeout: 0s\n", max,
             max);
    CHECK(harness_init(&h, id, CT_SIGNAL_TRACES, yaml) == 0);
    CHECK_EQ_INT(consume(&h, make_traces(7, nres, nscope, nspan, 0)), CT_OK);
    CHECK_EQ_INT(captured(&h.cap), want_batches);
    for (size_t b = 0; b < captured(&h.cap); b++) {
        CHECK(h.cap.got[b]->items <= (size_t)max);
        int nr = check_traces(h.cap.got[b], names, &n, 64);
        if (want_res_per_batch > 0)
            CHECK_EQ_INT(nr, want_res_per_batch);
    }
    check_order(names, n, 7, nres, nscope, nspan);
    h.f->shutdown(&h.inst, 0);
    harness_free(&h);
}

static void test_split_boundaries(void)
{
    /* 3 resources of 4 spans, cap 4: one batch per resource. */
    split_case("batch/split-res", 3, 1, 4, 4, 3, 1);
    /* One resource with 3 scopes of 4 spans: one batch per scope, each with the resource. */
    split_case("batch/split-scope", 1, 3, 4, 4, 3, 1);
    /* One scope of 12 spans, cap 5: 5 + 5 + 2, each batch with the resource and scope. */
    split_case("batch/split-item", 1, 1, 12, 5, 3, 1);
    /* Mixed: 2 x 2 x 3 = 12 spans, cap 5: batches cross scope and resource boundaries. */
    split_case("batch/split-mixed", 2, 2, 3, 5, 3, 0);
}

/* With a timeout, a size-triggered split keeps back a tail smaller than send_batch_size. */
static void test_split_keeps_tail(void)
{
    harness_t h;
    char names[32][32];
    size_t n = 0;
    CHECK(harness_init(&h, "batch/tail", CT_SIGNAL_TRACES,
                       "send_batch_size: 5\nsend_batch_max_size: 5\ntimeout: 10s\n") == 0);
    CHECK_EQ_INT(consume(&h, make_traces(4, 1, 1, 12, 0)), CT_OK);
    CHECK_EQ_INT(captured(&h.cap), 2); /* 5 + 5 sent, 2 wait */
    CHECK_EQ_INT(consume(&h, make_traces(5, 1, 1, 2, 0)), CT_OK);
    CHECK_EQ_INT(captured(&h.cap), 2); /* 4 pending */
    CHECK_EQ_INT(consume(&h, make_traces(6, 1, 1, 1, 0)), CT_OK);
    CHECK_EQ_INT(captured(&h.cap), 3); /* 5 pending: due */
    if (captured(&h.cap) == 3) {
        CHECK_EQ_INT(h.cap.got[2]->items, 5);
        for (size_t b = 0; b < 3; b++)
            check_traces(h.cap.got[b], names, &n, 32);
        CHECK_STR_CONTAINS(names[10], "t4-r0-s0-i10");
        CHECK_STR_CONTAINS(names[12], "t5-");
        CHECK_STR_CONTAINS(names[14], "t6-");
    }
    h.f->shutdown(&h.inst, 0);
    harness_free(&h);
}

static void test_split_data_points(void)
{
    harness_t h;
    int next_point = 0;
    CHECK(harness_init(&h, "batch/points", CT_SIGNAL_METRICS,
                       "send_batch_size: 4\nsend_batch_max_size: 4\ntimeout: 0s\n") == 0);
    CHECK_EQ_INT(consume(&h, make_gauge(3, 10)), CT_OK);
    CHECK_EQ_INT(captured(&h.cap), 3);
    for (size_t b = 0; b < captured(&h.cap); b++) {
        const ct_request_t *r = h.cap.got[b];
        MetricsReq *req = METRICS_REQ(unpack)(NULL, r->len, r->data);
        CHECK(req != NULL);
        if (req == NULL)
            continue;
        CHECK_EQ_INT(req->n_resource_metrics, 1);
        ResourceMetrics *rm = req->resource_metrics[0];
        CHECK(rm->resource && rm->resource->n_attributes == 1 &&
              strcmp(rm->resource->attributes[0]->value->string_value, "metrics-svc") == 0);
        CHECK_EQ_INT(rm->n_scope_metrics, 1);
        ScopeMetrics *sm = rm->scope_metrics[0];
        CHECK(sm->scope && strcmp(sm->scope->name, "meter") == 0);
        CHECK_EQ_INT(sm->n_metrics, 1);
        Metric *m = sm->metrics[0];
        CHECK(strcmp(m->name, "m.3") == 0 && strcmp(m->description, "a test gauge") == 0 &&
              strcmp(m->unit, "1") == 0);
        CHECK_EQ_INT(m->data_case, OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE);
        CHECK_EQ_INT(m->gauge->n_data_points, b < 2 ? 4 : 2);
        CHECK_EQ_INT(r->items, m->gauge->n_data_points);
        for (size_t i = 0; i < m->gauge->n_data_points; i++)
            CHECK_EQ_INT(m->gauge->data_points[i]->as_int, next_point++);
        METRICS_REQ(free_unpacked)(req, NULL);
    }
    CHECK_EQ_INT(next_point, 10);
    h.f->shutdown(&h.inst, 0);
    harness_free(&h);
}

static void test_logs_merge(void)
{
    harness_t h;
    CHECK(harness_init(&h, "batch/logs", CT_SIGNAL_LOGS, "send_batch_size: 6\ntimeout: 10s\n") ==
          0);
    CHECK_EQ_INT(consume(&h, make_logs(1, 3)), CT_OK);
    CHECK_EQ_INT(consume(&h, make_logs(2, 3)), CT_OK);
    CHECK_EQ_INT(captured(&h.cap), 1);
    if (captured(&h.cap) == 1) {
        const ct_request_t *r = h.cap.got[0];
        LogsReq *req =
            opentelemetry__proto__collector__logs__v1__export_logs_service_request__unpack(
                NULL, r->len, r->data);
        CHECK(req != NULL && req->n_resource_logs == 2);
        if (req != NULL && req->n_resource_logs == 2) {
            CHECK(strcmp(req->resource_logs[1]->resource->attributes[0]->value->string_value,
                         "logs-2") == 0);
            CHECK_EQ_INT(req->resource_logs[1]->scope_logs[0]->n_log_records, 3);
        }
        opentelemetry__proto__collector__logs__v1__export_logs_service_request__free_unpacked(req,
                                                                                              NULL);
    }
    h.f->shutdown(&h.inst, 0);
    harness_free(&h);
}

static void test_byte_cap(void)
{
    harness_t h;
    char names[64][32];
    size_t n = 0, cap = 5000;
    CHECK(harness_init(&h, "batch/bytes", CT_SIGNAL_TRACES,
                       "send_batch_size: 1000\nsend_batch_max_bytes: 5000\ntimeout: 10s\n") == 0);
    /* 2 x 10 spans of ~1 KB: over the byte cap, so due now, and split into pieces <= 5000. */
    ct_request_t *big = make_traces(8, 2, 1, 10, 1000);
    CHECK(big->len > 20000);
    CHECK_EQ_INT(consume(&h, big), CT_OK);
    size_t got = captured(&h.cap);
    CHECK(got >= 4);
    for (size_t b = 0; b < got; b++) {
        CHECK(h.cap.got[b]->len <= cap);
        CHECK(check_traces(h.cap.got[b], names, &n, 64) >= 1);
    }
    /* What stayed back (under the cap) goes on shutdown. */
    h.f->shutdown(&h.inst, 0);
    for (size_t b = got; b < captured(&h.cap); b++) {
        CHECK(h.cap.got[b]->len <= cap);
        check_traces(h.cap.got[b], names, &n, 64);
    }
    check_order(names, n, 8, 2, 1, 10);
    harness_free(&h);

    /* A span too big for the cap even alone is dropped and counted; its neighbours go. */
    CHECK(harness_init(&h, "batch/oversize", CT_SIGNAL_TRACES,
                       "send_batch_size: 1000\nsend_batch_max_bytes: 5000\ntimeout: 0s\n") == 0);
    CHECK_EQ_INT(consume(&h, make_traces(9, 1, 1, 1, 8000)), CT_OK);
    CHECK_EQ_INT(consume(&h, make_traces(10, 1, 1, 3, 100)), CT_OK);
    CHECK_EQ_INT(captured(&h.cap), 1);
    CHECK_EQ_INT(counter("cotel_processor_batch_dropped_spans", "batch/oversize"), 1);
    h.f->shutdown(&h.inst, 0);
    harness_free(&h);
}

static ct_request_t *with_tenant(ct_request_t *r, const char *tenant, const char *other)
{
    ct_metadata_t *md = ct_metadata_new(2);
    md->keys[0] = strdup("x-tenant");
    md->values[0] = strdup(tenant);
    md->keys[1] = strdup("user-agent");
    md->values[1] = strdup(other);
    md->n = 2;
    ct_request_set_metadata(r, md);
    ct_metadata_unref(md);
    return r;
}

static void test_metadata(void)
{
    harness_t h;
    CHECK(harness_init(&h, "batch/md", CT_SIGNAL_TRACES,
                       "send_batch_size: 1000\ntimeout: 10s\nmetadata_keys: [X-Tenant]\n"
                       "metadata_cardinality_limit: 2\n") == 0);
    CHECK_EQ_INT(consume(&h, with_tenant(make_traces(1, 1, 1, 2, 0), "a", "ua1")), CT_OK);
    CHECK_EQ_INT(consume(&h, with_tenant(make_traces(2, 1, 1, 3, 0), "b", "ua1")), CT_OK);
    CHECK_EQ_INT(consume(&h, with_tenant(make_traces(3, 1, 1, 4, 0), "a", "ua2")), CT_OK);
    /* A third combination is past the limit: refused, and not retryable. */
    CHECK_EQ_INT(consume(&h, with_tenant(make_traces(4, 1, 1, 1, 0), "c", "ua1")),
                 CT_INVALID_ARGUMENT);
    CHECK_EQ_INT(counter("otelcol_processor_batch_metadata_cardinality", "batch/md"), 2);
    CHECK_EQ_INT(captured(&h.cap), 0);

    h.f->shutdown(&h.inst, 0);
    CHECK_EQ_INT(captured(&h.cap), 2);
    size_t seen_a = 0, seen_b = 0;
    for (size_t b = 0; b < captured(&h.cap); b++) {
        const ct_request_t *r = h.cap.got[b];
        const char *t = ct_metadata_get(r->metadata, "x-tenant");
        CHECK(t != NULL);
        /* Only metadata_keys travel with a batch, as in the Go collector. */
        CHECK(ct_metadata_get(r->metadata, "user-agent") == NULL);
        if (t && strcmp(t, "a") == 0)
            seen_a = r->items;
        if (t && strcmp(t, "b") == 0)
            seen_b = r->items;
    }
    CHECK_EQ_INT(seen_a, 6);
    CHECK_EQ_INT(seen_b, 3);
    harness_free(&h);
}

static void test_shutdown_flush_and_refusal(void)
{
    harness_t h;
    CHECK(harness_init(&h, "batch/flush", CT_SIGNAL_TRACES,
                       "send_batch_size: 1000\ntimeout: 1h\n") == 0);
    CHECK_EQ_INT(consume(&h, make_traces(1, 1, 1, 3, 0)), CT_OK);
    CHECK_EQ_INT(consume(&h, make_traces(2, 1, 1, 3, 0)), CT_OK);
    CHECK_EQ_INT(captured(&h.cap), 0);
    h.f->shutdown(&h.inst, 0);
    CHECK_EQ_INT(captured(&h.cap), 1);
    if (captured(&h.cap) == 1)
        CHECK_EQ_INT(h.cap.got[0]->items, 6);
    /* After shutdown, data passes straight through rather than being stranded. */
    CHECK_EQ_INT(consume(&h, make_traces(3, 1, 1, 2, 0)), CT_OK);
    CHECK_EQ_INT(captured(&h.cap), 2);
    harness_free(&h);

    /* A refusing next stage: the batch is counted as dropped, the senders were told OK. */
    CHECK(harness_init(&h, "batch/refused", CT_SIGNAL_TRACES,
                       "send_batch_size: 4\ntimeout: 10s\n") == 0);
    h.cap.answer = CT_UNAVAILABLE;
    CHECK_EQ_INT(consume(&h, make_traces(1, 1, 1, 5, 0)), CT_OK);
    CHECK_EQ_INT(counter("cotel_processor_batch_dropped_spans", "batch/refused"), 5);
    CHECK_EQ_INT(counter("otelcol_processor_batch_batch_size_trigger_send", "batch/refused"), 0);
    h.f->shutdown(&h.inst, 0);
    harness_free(&h);
}

static void test_config_errors(void)
{
    static const char yaml[] = "receivers:\n"
                               "  otlp:\n"
                               "    protocols:\n"
                               "      grpc:\n"
                               "        endpoint: 127.0.0.1:0\n"
                               "processors:\n"
                               "  batch:\n"
                               "    send_batch_size: 100\n"
                               "    send_batch_max_size: 10\n"
                               "exporters:\n"
                               "  debug:\n"
                               "service:\n"
                               "  pipelines:\n"
                               "    traces:\n"
                               "      receivers: [otlp]\n"
                               "      processors: [batch]\n"
                               "      exporters: [debug]\n";
    ct_err_t err = {{0}};
    ct_node_t *root = ct_config_load_string("cfg.yaml", yaml, sizeof yaml - 1, &err);
    CHECK(root != NULL);
    ct_service_t *s = root ? ct_service_build(root, &err) : NULL;
    CHECK(s == NULL);
    CHECK_STR_CONTAINS(err.msg, "cfg.yaml:9:26: ");
    CHECK_STR_CONTAINS(err.msg, "send_batch_max_size");
    ct_service_free(s);
    ct_node_free(root);

    /* Equal is fine; 0 means no cap; duplicated metadata keys are an error. */
    harness_t h;
    CHECK(harness_init(&h, "batch/ok", CT_SIGNAL_TRACES,
                       "send_batch_size: 100\nsend_batch_max_size: 100\n") == 0);
    h.f->shutdown(&h.inst, 0);
    harness_free(&h);
    const ct_factory_t *f = ct_factory_find(CT_KIND_PROCESSOR, "batch", 5);
    static const char dup[] = "metadata_keys: [tenant, Tenant]\n";
    root = ct_config_load_string("dup.yaml", dup, sizeof dup - 1, &err);
    void *cfg = calloc(1, f->cfg_size);
    CHECK(ct_opt_defaults(f->opts, cfg, &err) == 0);
    CHECK(ct_opt_apply(f->opts, cfg, root, "processors::batch", &err) == 0);
    CHECK(f->validate(cfg, root, &err) != 0);
    CHECK_STR_CONTAINS(err.msg, "dup.yaml:1:");
    ct_opt_free(f->opts, cfg);
    free(cfg);
    ct_node_free(root);
}

int main(void)
{
    test_size_trigger();
    test_timeout_trigger();
    test_split_boundaries();
    test_split_keeps_tail();
    test_split_data_points();
    test_logs_merge();
    test_byte_cap();
    test_metadata();
    test_shutdown_flush_and_refusal();
    test_config_errors();
    return ct_test_report();
}
