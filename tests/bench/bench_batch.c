/*
 * bench_batch: spans per CPU-second through the batch processor, merging
 * and splitting 100-span requests, beside a plain memcpy of the same bytes
 * in the same run, so the figures read as a ratio that holds across
 * machines. Prints a table; not a test.
 */
#include "ct_component.h"
#include "ct_config.h"
#include "ct_wire.h"

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest TraceReq;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans ResourceSpans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans ScopeSpans;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Resource__V1__Resource Resource;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope Scope;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;

#define SPANS_PER_REQUEST 100
#define NATTR             4

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * A request like an instrumented service sends: one resource, one scope,
 * 100 spans with ids, times, a name and four string attributes.
 */
static ct_request_t *make_request(void)
{
    TraceReq req = OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    ResourceSpans rs = OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT, *rsp = &rs;
    ScopeSpans ss = OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT, *ssp = &ss;
    Resource res = OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
    Scope scope = OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
    static Span spans[SPANS_PER_REQUEST];
    static Span *span_ptrs[SPANS_PER_REQUEST];
    static KeyValue kvs[SPANS_PER_REQUEST][NATTR], rkv;
    static KeyValue *kv_ptrs[SPANS_PER_REQUEST][NATTR], *rkv_ptr = &rkv;
    static AnyValue avs[SPANS_PER_REQUEST][NATTR], rav;
    static char names[SPANS_PER_REQUEST][32];
    static uint8_t ids[SPANS_PER_REQUEST][16];
    static const char *const keys[NATTR] = {"http.request.method", "url.path",
                                            "http.response.status_code", "server.address"};
    static const char *const vals[NATTR] = {"GET", "/api/v1/orders/12345/items", "200",
                                            "orders.internal.example.com"};

    opentelemetry__proto__common__v1__any_value__init(&rav);
    rav.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    rav.string_value = "checkout";
    opentelemetry__proto__common__v1__key_value__init(&rkv);
    rkv.key = "service.name";
    rkv.value = &rav;
    res.n_attributes = 1;
    res.attributes = &rkv_ptr;
    scope.name = "io.opentelemetry.http";
    scope.version = "1.2.3";
    for (int i = 0; i < SPANS_PER_REQUEST; i++) {
        Span *sp = &spans[i];
        opentelemetry__proto__trace__v1__span__init(sp);
        for (int a = 0; a < NATTR; a++) {
            opentelemetry__proto__common__v1__any_value__init(&avs[i][a]);
            avs[i][a].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
            avs[i][a].string_value = (char *)vals[a];
            opentelemetry__proto__common__v1__key_value__init(&kvs[i][a]);
            kvs[i][a].key = (char *)keys[a];
            kvs[i][a].value = &avs[i][a];
            kv_ptrs[i][a] = &kvs[i][a];
        }
        memset(ids[i], i + 1, sizeof ids[i]);
        snprintf(names[i], sizeof names[i], "GET /api/v1/orders/%d", i);
        sp->trace_id.data = ids[i];
        sp->trace_id.len = 16;
        sp->span_id.data = ids[i];
        sp->span_id.len = 8;
        sp->name = names[i];
        sp->kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER;
        sp->start_time_unix_nano = 1700000000000000000ull + (uint64_t)i;
        sp->end_time_unix_nano = 1700000000000500000ull + (uint64_t)i;
        sp->n_attributes = NATTR;
        sp->attributes = kv_ptrs[i];
        span_ptrs[i] = sp;
    }
    ss.scope = &scope;
    ss.n_spans = SPANS_PER_REQUEST;
    ss.spans = span_ptrs;
    rs.resource = &res;
    rs.n_scope_spans = 1;
    rs.scope_spans = &ssp;
    req.n_resource_spans = 1;
    req.resource_spans = &rsp;

    size_t len =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(
            &req);
    uint8_t *buf = malloc(len);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(&req, buf);
    return ct_request_take(CT_SIGNAL_TRACES, buf, len, SPANS_PER_REQUEST);
}

/* The next stage: counts what it is handed and lets it go. */
typedef struct sink {
    ct_consumer_t consumer;
    size_t items, batches, bytes;
} sink_t;

static ct_code_t sink_consume(ct_consumer_t *self, ct_request_t *req)
{
    sink_t *s = (sink_t *)self;
    s->items += req->items;
    s->bytes += req->len;
    s->batches++;
    return CT_OK;
}

typedef struct row {
    const char *name;
    const char *config; /* NULL: the memcpy baseline */
} row_t;

/* Runs nreq requests through a batch processor built from config; returns CPU seconds. */
static double run_batch(const char *config, ct_request_t *req, size_t nreq, sink_t *sink)
{
    const ct_factory_t *f = ct_factory_find(CT_KIND_PROCESSOR, "batch", 5);
    ct_err_t err = {{0}};
    ct_instance_t inst = {0};
    ct_node_t *root = ct_config_load_string("bench", config, strlen(config), &err);
    void *cfg = calloc(1, f->cfg_size);
    double t0, t1;

    if (root == NULL || ct_opt_defaults(f->opts, cfg, &err) != 0 ||
        ct_opt_apply(f->opts, cfg, root, "processors::batch", &err) != 0 ||
        f->validate(cfg, root, &err) != 0) {
        fprintf(stderr, "bench_batch: %s\n", err.msg);
        exit(1);
    }
    inst.factory = f;
    inst.id = "batch";
    inst.name = "processor/batch";
    inst.config = cfg;
    inst.node = root;
    inst.signal = CT_SIGNAL_TRACES;
    inst.next_stage = &sink->consumer;
    if (f->create(&inst, &err) != 0 || f->start(&inst, &err) != 0) {
        fprintf(stderr, "bench_batch: %s\n", err.msg);
        exit(1);
    }

    t0 = cpu_seconds();
    for (size_t i = 0; i < nreq; i++)
        f->consume(&inst, req);
    f->shutdown(&inst, 0);
    t1 = cpu_seconds();

    f->destroy(&inst);
    ct_opt_free(f->opts, cfg);
    free(cfg);
    ct_node_free(root);
    return t1 - t0;
}

/* The baseline: each request's bytes copied once into a batch-sized buffer. */
static double run_memcpy(ct_request_t *req, size_t nreq, sink_t *sink)
{
    size_t per_batch = 82, cap = per_batch * req->len;
    uint8_t *buf = malloc(cap);
    double t0 = cpu_seconds();
    size_t off = 0;
    for (size_t i = 0; i < nreq; i++) {
        if (off + req->len > cap) {
            sink->batches++;
            off = 0;
        }
        memcpy(buf + off, req->data, req->len);
        off += req->len;
        sink->items += req->items;
        sink->bytes += req->len;
        __asm__ volatile("" : : "r"(buf) : "memory"); /* the copy must happen */
    }
    double t1 = cpu_seconds();
    free(buf);
    return t1 - t0;
}

int main(int argc, char **argv)
{
    size_t nreq = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000;
    long only = argc > 2 ? strtol(argv[2], NULL, 10) : -1; /* one case, for profiling */
    static const row_t rows[] = {
        {"memcpy of the same bytes (baseline)", NULL},
        {"merge: 8192-span batches", "send_batch_size: 8192\ntimeout: 1h\n"},
        {"merge + split: batches of 250", "send_batch_size: 250\nsend_batch_max_size: 250\n"
                                          "timeout: 1h\n"},
        {"split each request: max 30 spans", "send_batch_size: 30\nsend_batch_max_size: 30\n"
                                             "timeout: 0s\n"},
        {"merge + split by bytes: max 64 KiB", "send_batch_size: 8192\nsend_batch_max_bytes: "
                                               "64KiB\ntimeout: 1h\n"},
    };
    ct_request_t *req = make_request();
    double base_rate = 0;

    if (argc > 3 || (argc > 1 && nreq == 0)) {
        fprintf(stderr, "usage: bench_batch [REQUESTS [CASE]]\n");
        return 2;
    }
    printf("bench_batch: %zu requests of %d spans, %zu bytes each\n\n", nreq, SPANS_PER_REQUEST,
           req->len);
    printf("%-38s %10s %8s %9s %14s %8s\n", "case", "spans", "batches", "CPU s", "spans/CPU-s",
           "vs copy");
    for (size_t r = 0; r < CT_ARRAY_LEN(rows); r++) {
        sink_t sink = {{sink_consume}, 0, 0, 0};
        if (only >= 0 && r != 0 && (size_t)only != r)
            continue;
        double cpu = rows[r].config ? run_batch(rows[r].config, req, nreq, &sink)
                                    : run_memcpy(req, nreq, &sink);
        double rate = cpu > 0 ? (double)sink.items / cpu : 0;
        if (rows[r].config == NULL)
            base_rate = rate;
        if (sink.items != nreq * SPANS_PER_REQUEST) {
            fprintf(stderr, "bench_batch: %s: %zu spans came out of %zu\n", rows[r].name,
                    sink.items, nreq * SPANS_PER_REQUEST);
            return 1;
        }
        printf("%-38s %10zu %8zu %9.3f %14.3g %7.2fx\n", rows[r].name, sink.items, sink.batches,
               cpu, rate, base_rate > 0 ? rate / base_rate : 0);
    }
    ct_request_unref(req);
    return 0;
}
