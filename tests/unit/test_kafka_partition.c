/*
 * Tests of the kafka exporter's record planning: trace id and resource keys,
 * one record per trace or per resource, and splitting under the size limit
 * (with the dropping of items too large alone), for protobuf and JSON values.
 */
#include "ct_test.h"
#include "ct_wire.h"
#include "kafka_records.h"
#include "otlp_json.h"

#include "opentelemetry/proto/collector/logs/v1/logs_service.pb-c.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

#include <stdlib.h>
#include <string.h>

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest trace_req_t;
typedef Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest logs_req_t;
typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest metrics_req_t;

/* Short names for protobuf-c's unpack and free functions. */
#define TRACE_UNPACK                                                                               \
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack
#define TRACE_FREE                                                                                 \
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked
#define LOGS_UNPACK opentelemetry__proto__collector__logs__v1__export_logs_service_request__unpack
#define LOGS_FREE                                                                                  \
    opentelemetry__proto__collector__logs__v1__export_logs_service_request__free_unpacked
#define METRICS_UNPACK                                                                             \
    opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack
#define METRICS_FREE                                                                               \
    opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked

/* ---- building requests on the wire ---- */

static void put_msg(ct_buf_t *b, uint32_t field, ct_buf_t *m)
{
    ct_wire_put_bytes(b, field, m->data, m->len);
    ct_buf_free(m);
}

static void put_str(ct_buf_t *b, uint32_t field, const char *s)
{
    ct_wire_put_bytes(b, field, s, strlen(s));
}

/* A KeyValue with a string value (AnyValue.string_value = 1). */
static void put_attr(ct_buf_t *b, uint32_t field, const char *k, const char *v)
{
    ct_buf_t kv = {0}, any = {0};

    put_str(&any, 1, v);
    put_str(&kv, 1, k);
    put_msg(&kv, 2, &any);
    put_msg(b, field, &kv);
}

/* A KeyValue with an int value (AnyValue.int_value = 3). */
static void put_int_attr(ct_buf_t *b, uint32_t field, const char *k, uint64_t v)
{
    ct_buf_t kv = {0}, any = {0};

    ct_wire_put_tag(&any, 3, 0);
    ct_wire_put_varint(&any, v);
    put_str(&kv, 1, k);
    put_msg(&kv, 2, &any);
    put_msg(b, field, &kv);
}

static void trace_id(uint8_t id[16], int n)
{
    for (int i = 0; i < 16; i++)
        id[i] = (uint8_t)(n * 17 + i);
}

/* A span of trace `t` (0: no trace id) with a `pad`-byte attribute to give it size. */
static void put_span(ct_buf_t *b, int t, int n, size_t pad)
{
    ct_buf_t span = {0};
    uint8_t id[16], sid[8] = {1, 2, 3, 4, 5, 6, 7, (uint8_t)n};
    char name[32];

    if (t) {
        trace_id(id, t);
        ct_wire_put_bytes(&span, 1, id, 16);
    }
    ct_wire_put_bytes(&span, 2, sid, 8);
    snprintf(name, sizeof(name), "span-%d", n);
    put_str(&span, 5, name);
    if (pad) {
        char *v = malloc(pad + 1);

        memset(v, 'x', pad);
        v[pad] = '\0';
        put_attr(&span, 9, "pad", v);
        free(v);
    }
    put_msg(b, 2, &span);
}

/*
 * A trace request: resources[r] has spans whose traces are given by
 * traces[r][i] (terminated by -1); every span has `pad` bytes of attribute.
 */
static ct_buf_t trace_request(int nres, const int traces[][8], size_t pad)
{
    ct_buf_t req = {0};
    int n = 0;

    for (int r = 0; r < nres; r++) {
        ct_buf_t rs = {0}, res = {0}, ss = {0}, scope = {0};
        char svc[32];

        snprintf(svc, sizeof(svc), "service-%d", r);
        put_attr(&res, 1, "service.name", svc);
        put_msg(&rs, 1, &res);
        put_str(&scope, 1, "test-scope");
        put_msg(&ss, 1, &scope);
        for (int i = 0; traces[r][i] >= 0; i++)
            put_span(&ss, traces[r][i], n++, pad);
        put_msg(&rs, 2, &ss);
        put_msg(&req, 1, &rs);
    }
    return req;
}

/* A logs request with one resource per attribute set; `per` log records each. */
static ct_buf_t logs_request(int per)
{
    ct_buf_t req = {0};

    for (int r = 0; r < 3; r++) {
        ct_buf_t rl = {0}, res = {0}, sl = {0};

        /* Resources 0 and 2 carry the same attributes in a different order. */
        if (r == 1) {
            put_attr(&res, 1, "service.name", "other");
        } else if (r == 0) {
            put_attr(&res, 1, "service.name", "checkout");
            put_attr(&res, 1, "host.name", "node-1");
        } else {
            put_attr(&res, 1, "host.name", "node-1");
            put_attr(&res, 1, "service.name", "checkout");
        }
        put_msg(&rl, 1, &res);
        for (int i = 0; i < per; i++) {
            ct_buf_t lr = {0}, body = {0};

            put_str(&body, 1, "hello");
            put_msg(&lr, 5, &body);
            put_msg(&sl, 2, &lr);
        }
        put_msg(&rl, 2, &sl);
        put_msg(&req, 1, &rl);
    }
    return req;
}

/* A metrics request: two resources (different hosts), each with one gauge of `per` points. */
static ct_buf_t metrics_request(int per)
{
    ct_buf_t req = {0};

    for (int r = 0; r < 2; r++) {
        ct_buf_t rm = {0}, res = {0}, sm = {0}, metric = {0}, gauge = {0};

        put_attr(&res, 1, "host.name", r ? "node-b" : "node-a");
        put_msg(&rm, 1, &res);
        put_str(&metric, 1, "cpu");
        for (int i = 0; i < per; i++) {
            ct_buf_t dp = {0};

            ct_wire_put_tag(&dp, 6, 1); /* as_int, sfixed64 */
            for (int k = 0; k < 8; k++)
                ct_buf_putc(&dp, (uint8_t)(k == 0 ? i : 0));
            put_msg(&gauge, 1, &dp);
        }
        put_msg(&metric, 5, &gauge);
        put_msg(&sm, 2, &metric);
        put_msg(&rm, 2, &sm);
        put_msg(&req, 1, &rm);
    }
    return req;
}

static size_t count_items(ct_signal_t sig, const uint8_t *p, size_t len)
{
    size_t items = 0;
    char err[256];

    if (ct_wire_check(sig, p, len, &items, err, sizeof(err)) != 0) {
        fprintf(stderr, "record does not validate: %s\n", err);
        return (size_t)-1;
    }
    return items;
}

/* ---- keys ---- */

static void test_trace_id_hex(void)
{
    uint8_t id[16];
    char hex[KAFKA_KEY_MAX];

    for (int i = 0; i < 16; i++)
        id[i] = (uint8_t)(0xa0 + i);
    kafka_trace_id_hex(id, hex);
    CHECK(strcmp(hex, "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf") == 0);
}

static int resource_key(ct_buf_t *res, char *key)
{
    int n = kafka_resource_key(res->data, res->len, key);

    ct_buf_free(res);
    return n;
}

static void test_resource_key(void)
{
    char a[KAFKA_KEY_MAX], b[KAFKA_KEY_MAX], c[KAFKA_KEY_MAX], d[KAFKA_KEY_MAX];
    char e[KAFKA_KEY_MAX], f[KAFKA_KEY_MAX];
    ct_buf_t r = {0};

    put_attr(&r, 1, "service.name", "checkout");
    put_attr(&r, 1, "host.name", "node-1");
    CHECK_EQ_INT(resource_key(&r, a), 16);

    put_attr(&r, 1, "host.name", "node-1");
    put_attr(&r, 1, "service.name", "checkout");
    CHECK_EQ_INT(resource_key(&r, b), 16);
    CHECK(strcmp(a, b) == 0);

    put_attr(&r, 1, "host.name", "node-2");
    put_attr(&r, 1, "service.name", "checkout");
    resource_key(&r, c);
    CHECK(strcmp(a, c) != 0);

    /* The value's type counts: the string "7" and the integer 7 differ. */
    put_attr(&r, 1, "n", "7");
    resource_key(&r, d);
    put_int_attr(&r, 1, "n", 7);
    resource_key(&r, e);
    CHECK(strcmp(d, e) != 0);

    /* Key and value boundaries count: {"ab": "c"} and {"a": "bc"} differ. */
    put_attr(&r, 1, "ab", "c");
    resource_key(&r, e);
    put_attr(&r, 1, "a", "bc");
    resource_key(&r, f);
    CHECK(strcmp(e, f) != 0);

    /* Lowercase hex only. */
    for (int i = 0; i < 16; i++)
        CHECK((a[i] >= '0' && a[i] <= '9') || (a[i] >= 'a' && a[i] <= 'f'));

    /* Nested maps are sorted too. */
    ct_buf_t m1 = {0}, m2 = {0};
    for (int order = 0; order < 2; order++) {
        ct_buf_t *dst = order ? &m2 : &m1, kvl = {0}, any = {0}, kv = {0};

        put_attr(&kvl, 1, order ? "y" : "x", "1");
        put_attr(&kvl, 1, order ? "x" : "y", "1");
        put_msg(&any, 6, &kvl);
        put_str(&kv, 1, "labels");
        put_msg(&kv, 2, &any);
        put_msg(dst, 1, &kv);
    }
    resource_key(&m1, e);
    resource_key(&m2, f);
    CHECK(strcmp(e, f) == 0);

    /* Truncated input is refused, not read past its end. */
    put_attr(&r, 1, "service.name", "checkout");
    CHECK(kafka_resource_key(r.data, r.len - 3, a) < 0);
    ct_buf_free(&r);
}

/* ---- partitioning ---- */

static void test_partition_traces(void)
{
    /* Two resources, three traces interleaved across them, one span without a trace id. */
    static const int traces[][8] = {{1, 2, 1, 3, -1}, {2, 3, 0, 1, -1}};
    ct_buf_t req = trace_request(2, traces, 0);
    kafka_plan_opts_t o = {CT_SIGNAL_TRACES, KAFKA_ENCODING_PROTO, KAFKA_PARTITION_TRACE_ID,
                           1000000};
    kafka_plan_t plan = {0};
    char err[256] = "";
    size_t total = 0, keyless = 0;

    CHECK_EQ_INT(kafka_plan_request(&plan, &o, req.data, req.len, 8, err, sizeof(err)), 0);
    CHECK_EQ_INT(plan.n, 4); /* traces 1, 2, 3 and the span without one */
    CHECK_EQ_INT(plan.dropped_items, 0);

    for (size_t i = 0; i < plan.n; i++) {
        kafka_record_t *r = plan.rec[i];
        trace_req_t *t = TRACE_UNPACK(NULL, r->value_len, r->value);

        CHECK(t != NULL);
        if (!t)
            continue;
        CHECK_EQ_INT(count_items(CT_SIGNAL_TRACES, r->value, r->value_len), r->items);
        total += r->items;
        if (r->key_len == 0)
            keyless++;
        else
            CHECK_EQ_INT(r->key_len, 32);
        /* Every span of the record carries the record's trace id; resources are kept. */
        for (size_t a = 0; a < t->n_resource_spans; a++) {
            CHECK(t->resource_spans[a]->resource != NULL &&
                  t->resource_spans[a]->resource->n_attributes == 1);
            for (size_t s = 0; s < t->resource_spans[a]->n_scope_spans; s++) {
                Opentelemetry__Proto__Trace__V1__ScopeSpans *ss =
                    t->resource_spans[a]->scope_spans[s];

                CHECK(ss->scope && strcmp(ss->scope->name, "test-scope") == 0);
                for (size_t k = 0; k < ss->n_spans; k++) {
                    char hex[KAFKA_KEY_MAX] = "";

                    if (ss->spans[k]->trace_id.len == 16)
                        kafka_trace_id_hex(ss->spans[k]->trace_id.data, hex);
                    CHECK(strlen(hex) == r->key_len && memcmp(hex, r->key, r->key_len) == 0);
                }
            }
        }
        TRACE_FREE(t, NULL);
    }
    CHECK_EQ_INT(total, 8);
    CHECK_EQ_INT(keyless, 1);
    /* Trace 1 has three spans across two resources: one record, two resource entries. */
    char hex1[KAFKA_KEY_MAX];
    uint8_t id1[16];
    trace_id(id1, 1);
    kafka_trace_id_hex(id1, hex1);
    for (size_t i = 0; i < plan.n; i++) {
        if (plan.rec[i]->key_len == 32 && memcmp(plan.rec[i]->key, hex1, 32) == 0)
            CHECK_EQ_INT(plan.rec[i]->items, 3);
    }
    kafka_plan_free(&plan);

    /* A single trace: the request's own bytes, keyed, not copied. */
    static const int one[][8] = {{5, 5, 5, -1}};
    ct_buf_t req1 = trace_request(1, one, 0);
    CHECK_EQ_INT(kafka_plan_request(&plan, &o, req1.data, req1.len, 3, err, sizeof(err)), 0);
    CHECK_EQ_INT(plan.n, 1);
    if (plan.n == 1) {
        CHECK(plan.rec[0]->value == req1.data);
        CHECK_EQ_INT(plan.rec[0]->key_len, 32);
    }
    kafka_plan_free(&plan);
    ct_buf_free(&req1);
    ct_buf_free(&req);
}

static void test_partition_logs(void)
{
    ct_buf_t req = logs_request(4);
    kafka_plan_opts_t o = {CT_SIGNAL_LOGS, KAFKA_ENCODING_PROTO, KAFKA_PARTITION_RESOURCE, 1000000};
    kafka_plan_t plan = {0};
    char err[256] = "", same[KAFKA_KEY_MAX], other[KAFKA_KEY_MAX];
    ct_buf_t r = {0};

    put_attr(&r, 1, "service.name", "checkout");
    put_attr(&r, 1, "host.name", "node-1");
    resource_key(&r, same);
    put_attr(&r, 1, "service.name", "other");
    resource_key(&r, other);

    CHECK_EQ_INT(kafka_plan_request(&plan, &o, req.data, req.len, 12, err, sizeof(err)), 0);
    CHECK_EQ_INT(plan.n, 2);
    for (size_t i = 0; i < plan.n; i++) {
        kafka_record_t *rec = plan.rec[i];
        logs_req_t *l = LOGS_UNPACK(NULL, rec->value_len, rec->value);

        CHECK(l != NULL);
        CHECK_EQ_INT(rec->key_len, 16);
        if (rec->key_len == 16 && memcmp(rec->key, same, 16) == 0) {
            /* The two resources with the same attributes travel together. */
            CHECK_EQ_INT(rec->items, 8);
            CHECK(l && l->n_resource_logs == 2);
        } else {
            CHECK(rec->key_len == 16 && memcmp(rec->key, other, 16) == 0);
            CHECK_EQ_INT(rec->items, 4);
            CHECK(l && l->n_resource_logs == 1);
        }
        if (l)
            LOGS_FREE(l, NULL);
    }
    kafka_plan_free(&plan);
    ct_buf_free(&req);
}

/* Log records keyed by their trace id (field 9); those without one go together, unkeyed. */
static void test_partition_logs_by_trace(void)
{
    ct_buf_t req = {0}, rl = {0}, res = {0}, sl = {0};
    kafka_plan_opts_t o = {CT_SIGNAL_LOGS, KAFKA_ENCODING_PROTO, KAFKA_PARTITION_TRACE_ID, 1000000};
    kafka_plan_t plan = {0};
    char err[256] = "", hex[KAFKA_KEY_MAX];
    static const int traces[] = {1, 0, 2, 1, 0, 2, 1};
    uint8_t id[16];
    size_t keyless = 0;

    put_attr(&res, 1, "service.name", "logs");
    put_msg(&rl, 1, &res);
    for (size_t i = 0; i < CT_ARRAY_LEN(traces); i++) {
        ct_buf_t lr = {0}, body = {0};

        put_str(&body, 1, "line");
        put_msg(&lr, 5, &body);
        if (traces[i]) {
            trace_id(id, traces[i]);
            ct_wire_put_bytes(&lr, 9, id, 16);
        }
        put_msg(&sl, 2, &lr);
    }
    put_msg(&rl, 2, &sl);
    put_msg(&req, 1, &rl);

    CHECK_EQ_INT(kafka_plan_request(&plan, &o, req.data, req.len, 7, err, sizeof(err)), 0);
    CHECK_EQ_INT(plan.n, 3);
    trace_id(id, 1);
    kafka_trace_id_hex(id, hex);
    for (size_t i = 0; i < plan.n; i++) {
        kafka_record_t *r = plan.rec[i];

        if (r->key_len == 0) {
            keyless++;
            CHECK_EQ_INT(r->items, 2);
        } else if (memcmp(r->key, hex, 32) == 0) {
            CHECK_EQ_INT(r->items, 3);
        } else {
            CHECK_EQ_INT(r->items, 2);
        }
        CHECK_EQ_INT(count_items(CT_SIGNAL_LOGS, r->value, r->value_len), r->items);
    }
    CHECK_EQ_INT(keyless, 1);
    kafka_plan_free(&plan);
    ct_buf_free(&req);
}

static void test_partition_metrics(void)
{
    ct_buf_t req = metrics_request(5);
    kafka_plan_opts_t o = {CT_SIGNAL_METRICS, KAFKA_ENCODING_PROTO, KAFKA_PARTITION_RESOURCE,
                           1000000};
    kafka_plan_t plan = {0};
    char err[256] = "";

    CHECK_EQ_INT(kafka_plan_request(&plan, &o, req.data, req.len, 10, err, sizeof(err)), 0);
    CHECK_EQ_INT(plan.n, 2);
    for (size_t i = 0; i < plan.n; i++) {
        metrics_req_t *m = METRICS_UNPACK(NULL, plan.rec[i]->value_len, plan.rec[i]->value);

        CHECK_EQ_INT(plan.rec[i]->items, 5);
        CHECK(m && m->n_resource_metrics == 1 && m->resource_metrics[0]->n_scope_metrics == 1 &&
              m->resource_metrics[0]->scope_metrics[0]->n_metrics == 1 &&
              strcmp(m->resource_metrics[0]->scope_metrics[0]->metrics[0]->name, "cpu") == 0);
        if (m)
            METRICS_FREE(m, NULL);
    }
    CHECK(plan.n == 2 && memcmp(plan.rec[0]->key, plan.rec[1]->key, 16) != 0);
    kafka_plan_free(&plan);
    ct_buf_free(&req);
}

/* ---- splitting ---- */

/* Plans `req` and checks every record fits, validates and that the items add up. */
static size_t check_split(kafka_plan_t *plan, const kafka_plan_opts_t *o, ct_buf_t *req,
                          size_t items)
{
    char err[256] = "";
    size_t total = 0;

    CHECK_EQ_INT(kafka_plan_request(plan, o, req->data, req->len, items, err, sizeof(err)), 0);
    for (size_t i = 0; i < plan->n; i++) {
        kafka_record_t *r = plan->rec[i];

        CHECK(r->value_len + r->key_len <= o->max_bytes);
        CHECK_EQ_INT(count_items(o->signal, r->proto, r->proto_len), r->items);
        total += r->items;
    }
    return total;
}

static void test_split_proto(void)
{
    /* 40 spans of ~10 kB each in two resources: about 400 kB, limit 50 kB. */
    static const int traces[][8] = {{1, 1, 1, 1, -1}, {2, 2, 2, 2, -1}};
    ct_buf_t req = {0};
    kafka_plan_opts_t o = {CT_SIGNAL_TRACES, KAFKA_ENCODING_PROTO, KAFKA_PARTITION_NONE, 50000};
    kafka_plan_t plan = {0};

    for (int i = 0; i < 5; i++) {
        ct_buf_t part = trace_request(2, traces, 10000);

        ct_buf_append(&req, part.data, part.len);
        ct_buf_free(&part);
    }
    CHECK_EQ_INT(check_split(&plan, &o, &req, 40), 40);
    CHECK(plan.n >= 8 && plan.n <= 12);
    CHECK_EQ_INT(plan.dropped_items, 0);
    /* Order is kept: the span names come out as they went in. */
    int next = 0;
    for (size_t i = 0; i < plan.n; i++) {
        trace_req_t *t = TRACE_UNPACK(NULL, plan.rec[i]->value_len, plan.rec[i]->value);

        for (size_t a = 0; t && a < t->n_resource_spans; a++) {
            for (size_t s = 0; s < t->resource_spans[a]->n_scope_spans; s++) {
                Opentelemetry__Proto__Trace__V1__ScopeSpans *ss =
                    t->resource_spans[a]->scope_spans[s];

                for (size_t k = 0; k < ss->n_spans; k++) {
                    char want[32];

                    snprintf(want, sizeof(want), "span-%d", next++ % 8);
                    CHECK(strcmp(ss->spans[k]->name, want) == 0);
                }
            }
        }
        if (t)
            TRACE_FREE(t, NULL);
    }
    CHECK_EQ_INT(next, 40);
    kafka_plan_free(&plan);

    /* Fits as it is: one record, the request's bytes themselves. */
    o.max_bytes = req.len;
    CHECK_EQ_INT(check_split(&plan, &o, &req, 40), 40);
    CHECK(plan.n == 1 && plan.rec[0]->value == req.data);
    kafka_plan_free(&plan);
    ct_buf_free(&req);
}

/*
 * A batch of many small resources (as the batch processor concatenates them):
 * split between resources, every record a run of the request's own bytes.
 */
static void test_split_between_resources(void)
{
    static const int traces[][8] = {{1, 2, 3, -1}, {4, 5, -1}, {6, -1}};
    ct_buf_t req = {0};
    kafka_plan_opts_t o = {CT_SIGNAL_TRACES, KAFKA_ENCODING_PROTO, KAFKA_PARTITION_NONE, 20000};
    kafka_plan_t plan = {0};
    const uint8_t *next = NULL;

    for (int i = 0; i < 8; i++) {
        ct_buf_t part = trace_request(3, traces, 1000);

        ct_buf_append(&req, part.data, part.len);
        ct_buf_free(&part);
    }
    CHECK(req.len > 2 * o.max_bytes);
    CHECK_EQ_INT(check_split(&plan, &o, &req, 48), 48);
    CHECK(plan.n >= 3);
    next = req.data;
    for (size_t i = 0; i < plan.n; i++) {
        kafka_record_t *r = plan.rec[i];

        /* Borrowed, contiguous and in order: together they are the request. */
        CHECK(r->proto_owned == NULL && r->value == r->proto);
        CHECK(r->proto == next);
        next = r->proto + r->proto_len;
    }
    CHECK(next == req.data + req.len);
    kafka_plan_free(&plan);

    /* otlp_json: the same cuts, each value the JSON of exactly its record's items. */
    o.encoding = KAFKA_ENCODING_JSON;
    o.max_bytes = 40000;
    CHECK_EQ_INT(check_split(&plan, &o, &req, 48), 48);
    for (size_t i = 0; i < plan.n; i++) {
        ct_buf_t back = {0};
        char err[256];
        kafka_record_t *r = plan.rec[i];

        CHECK_EQ_INT(ct_otlp_json_decode(CT_SIGNAL_TRACES, (const char *)r->value, r->value_len,
                                         &back, err, sizeof(err)),
                     0);
        CHECK_EQ_INT(count_items(CT_SIGNAL_TRACES, back.data, back.len), r->items);
        ct_buf_free(&back);
    }
    kafka_plan_free(&plan);
    ct_buf_free(&req);
}

static void test_split_oversize(void)
{
    /* Small spans around one of 200 kB: it is dropped, its neighbours are kept. */
    ct_buf_t req = {0}, rs = {0}, res = {0}, ss = {0};
    kafka_plan_opts_t o = {CT_SIGNAL_TRACES, KAFKA_ENCODING_PROTO, KAFKA_PARTITION_NONE, 50000};
    kafka_plan_t plan = {0};

    put_attr(&res, 1, "service.name", "big");
    put_msg(&rs, 1, &res);
    for (int i = 0; i < 9; i++)
        put_span(&ss, 1, i, i == 4 ? 200000 : 100);
    put_msg(&rs, 2, &ss);
    put_msg(&req, 1, &rs);

    CHECK_EQ_INT(check_split(&plan, &o, &req, 9), 8);
    CHECK_EQ_INT(plan.dropped_items, 1);
    CHECK(plan.dropped_largest >= 200000 && plan.dropped_largest < 201000);
    kafka_plan_free(&plan);

    /* Partitioned by trace: the same span is dropped from its trace's record only. */
    o.partition = KAFKA_PARTITION_TRACE_ID;
    CHECK_EQ_INT(check_split(&plan, &o, &req, 9), 8);
    CHECK_EQ_INT(plan.dropped_items, 1);
    for (size_t i = 0; i < plan.n; i++)
        CHECK_EQ_INT(plan.rec[i]->key_len, 32);
    kafka_plan_free(&plan);
    ct_buf_free(&req);
}

static void test_split_json(void)
{
    static const int traces[][8] = {{1, 2, 3, 4, 5, 6, 7, -1}};
    ct_buf_t req = {0};
    kafka_plan_opts_t o = {CT_SIGNAL_TRACES, KAFKA_ENCODING_JSON, KAFKA_PARTITION_NONE, 30000};
    kafka_plan_t plan = {0};

    for (int i = 0; i < 4; i++) {
        ct_buf_t part = trace_request(1, traces, 4000);

        ct_buf_append(&req, part.data, part.len);
        ct_buf_free(&part);
    }
    CHECK_EQ_INT(check_split(&plan, &o, &req, 28), 28);
    CHECK(plan.n >= 4);
    for (size_t i = 0; i < plan.n; i++) {
        ct_buf_t back = {0};
        char err[256];
        kafka_record_t *r = plan.rec[i];

        /* The value is the OTLP/JSON of exactly the record's items. */
        CHECK(r->value != r->proto && r->value_len > 0 && r->value[0] == '{');
        CHECK_EQ_INT(ct_otlp_json_decode(CT_SIGNAL_TRACES, (const char *)r->value, r->value_len,
                                         &back, err, sizeof(err)),
                     0);
        CHECK_EQ_INT(count_items(CT_SIGNAL_TRACES, back.data, back.len), r->items);
        ct_buf_free(&back);
    }
    kafka_plan_free(&plan);
    ct_buf_free(&req);
}

/* A record the broker refused: fitted again under a smaller limit, nothing lost. */
static void test_refit_smaller(void)
{
    static const int traces[][8] = {{1, 2, 3, 4, 5, 6, -1}};
    ct_buf_t req = trace_request(1, traces, 1000);
    kafka_plan_opts_t o = {CT_SIGNAL_TRACES, KAFKA_ENCODING_PROTO, KAFKA_PARTITION_NONE,
                           req.len / 2};
    kafka_plan_t plan = {0};
    char err[256];
    size_t total = 0;

    CHECK_EQ_INT(kafka_plan_fit(&plan, &o, req.data, req.len, 6, NULL, "k", 1, err, sizeof(err)),
                 0);
    CHECK(plan.n >= 2);
    for (size_t i = 0; i < plan.n; i++) {
        CHECK(plan.rec[i]->value_len + 1 <= o.max_bytes);
        CHECK(plan.rec[i]->key_len == 1 && plan.rec[i]->key[0] == 'k');
        total += plan.rec[i]->items;
    }
    CHECK_EQ_INT(total, 6);
    kafka_plan_free(&plan);
    ct_buf_free(&req);
}

int main(void)
{
    test_trace_id_hex();
    test_resource_key();
    test_partition_traces();
    test_partition_logs();
    test_partition_logs_by_trace();
    test_partition_metrics();
    test_split_proto();
    test_split_between_resources();
    test_split_oversize();
    test_split_json();
    test_refit_smaller();
    return ct_test_report();
}
