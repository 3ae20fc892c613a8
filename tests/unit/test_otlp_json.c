/*
 * Tests of the OTLP/JSON codec: exact output for known messages, decoding of
 * the specification's example shape, round trips, and each rejected input
 * with the field path its error names.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ct_test.h"
#include "ct_wire.h"
#include "otlp_json.h"

#include "google/rpc/status.pb-c.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb-c.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest TraceRequest;
typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest MetricsRequest;
typedef Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest LogsRequest;

#define CHECK_STR_EQ(a, b)                                                                         \
    do {                                                                                           \
        const char *sa_ = (a), *sb_ = (b);                                                         \
        if (sa_ && sb_ && strcmp(sa_, sb_) == 0) {                                                 \
            ct_test_passed++;                                                                      \
        } else {                                                                                   \
            ct_test_failed++;                                                                      \
            fprintf(stderr, "%s:%d: strings differ\n  got:  %s\n  want: %s\n", __FILE__, __LINE__, \
                    sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");                                   \
        }                                                                                          \
    } while (0)

/* JSON in C literals reads better with single quotes: J() turns them into double quotes. */
static char *J(const char *s)
{
    char *o = strdup(s);
    for (char *p = o; *p; p++)
        if (*p == '\'')
            *p = '"';
    return o;
}

/* Decodes JSON for sig; returns the rc and leaves the protobuf bytes in out. */
static int decode(ct_signal_t sig, const char *json, ct_buf_t *out, char *err, size_t errlen)
{
    ct_buf_reset(out);
    return ct_otlp_json_decode(sig, json, strlen(json), out, err, errlen);
}

/* Encodes protobuf bytes to a NUL-terminated JSON string (malloc'd), NULL on error. */
static char *encode(ct_signal_t sig, const uint8_t *pb, size_t len)
{
    ct_buf_t out = {0};
    char err[256];
    if (ct_otlp_json_encode(sig, pb, len, &out, err, sizeof(err)) != 0 ||
        ct_buf_putc(&out, 0) != 0) {
        fprintf(stderr, "encode failed: %s\n", err);
        ct_buf_free(&out);
        return NULL;
    }
    return (char *)ct_buf_take(&out, NULL);
}

static char *encode_msg_pb(ct_signal_t sig, const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *pb = malloc(len ? len : 1);
    protobuf_c_message_pack(m, pb);
    char *json = encode(sig, pb, len);
    free(pb);
    return json;
}

static void set_string(AnyValue *v, char *s)
{
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    v->string_value = s;
}

/* A span using every kind of field, encoded from protobuf to exact JSON. */
static void test_encode_span(void)
{
    static uint8_t tid[16] = {0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03,
                              0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c};
    static uint8_t sid[8] = {0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74};
    static uint8_t pid[8] = {0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x73};
    static uint8_t raw[4] = {1, 2, 3, 255};

    AnyValue v[12];
    KeyValue kv[10];
    for (size_t i = 0; i < CT_ARRAY_LEN(v); i++)
        opentelemetry__proto__common__v1__any_value__init(&v[i]);
    for (size_t i = 0; i < CT_ARRAY_LEN(kv); i++) {
        opentelemetry__proto__common__v1__key_value__init(&kv[i]);
        kv[i].value = &v[i];
    }

    kv[0].key = "str";
    set_string(&v[0], "a\"b\\c\n\x01\xc3\xa9/\xff");
    kv[1].key = "bool";
    v[1].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE;
    v[1].bool_value = 1;
    kv[2].key = "int";
    v[2].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    v[2].int_value = -9223372036854775807LL - 1;
    kv[3].key = "dbl";
    v[3].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE;
    v[3].double_value = 0.1;
    kv[4].key = "nan";
    v[4].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE;
    v[4].double_value = NAN;
    kv[5].key = "bytes";
    v[5].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE;
    v[5].bytes_value = (ProtobufCBinaryData){sizeof(raw), raw};

    /* arr: ["x", 0] -- a oneof member at its default value is still written. */
    Opentelemetry__Proto__Common__V1__ArrayValue arr;
    opentelemetry__proto__common__v1__array_value__init(&arr);
    AnyValue *arr_vals[2] = {&v[10], &v[11]};
    set_string(&v[10], "x");
    v[11].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    v[11].int_value = 0;
    arr.n_values = 2;
    arr.values = arr_vals;
    kv[6].key = "arr";
    v[6].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE;
    v[6].array_value = &arr;

    /* map: {"inner": false} */
    Opentelemetry__Proto__Common__V1__KeyValueList kvl;
    opentelemetry__proto__common__v1__key_value_list__init(&kvl);
    KeyValue *kvl_vals[1] = {&kv[9]};
    kv[9].key = "inner";
    v[9].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE;
    v[9].bool_value = 0;
    kvl.n_values = 1;
    kvl.values = kvl_vals;
    kv[7].key = "map";
    v[7].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE;
    v[7].kvlist_value = &kvl;
    kv[8].key = "empty"; /* an AnyValue with nothing set */

    Span span;
    opentelemetry__proto__trace__v1__span__init(&span);
    span.trace_id = (ProtobufCBinaryData){16, tid};
    span.span_id = (ProtobufCBinaryData){8, sid};
    span.parent_span_id = (ProtobufCBinaryData){8, pid};
    span.trace_state = "k=v";
    span.name = "GET /";
    span.kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER;
    span.start_time_unix_nano = 1544712660000000000ull;
    span.end_time_unix_nano = 18446744073709551615ull;
    KeyValue *attrs[9] = {&kv[0], &kv[1], &kv[2], &kv[3], &kv[4], &kv[5], &kv[6], &kv[7], &kv[8]};
    span.n_attributes = 9;
    span.attributes = attrs;
    span.dropped_attributes_count = 1;

    Opentelemetry__Proto__Trace__V1__Span__Event ev;
    opentelemetry__proto__trace__v1__span__event__init(&ev);
    ev.time_unix_nano = 1544712660500000000ull;
    ev.name = "ev";
    Opentelemetry__Proto__Trace__V1__Span__Event *evs[1] = {&ev};
    span.n_events = 1;
    span.events = evs;
    span.dropped_events_count = 2;

    Opentelemetry__Proto__Trace__V1__Span__Link link;
    opentelemetry__proto__trace__v1__span__link__init(&link);
    link.trace_id = (ProtobufCBinaryData){16, tid};
    link.span_id = (ProtobufCBinaryData){8, pid};
    link.flags = 256;
    Opentelemetry__Proto__Trace__V1__Span__Link *links[1] = {&link};
    span.n_links = 1;
    span.links = links;
    span.dropped_links_count = 3;

    Opentelemetry__Proto__Trace__V1__Status st;
    opentelemetry__proto__trace__v1__status__init(&st);
    st.message = "oops";
    st.code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
    span.status = &st;
    span.flags = 0x301;

    Opentelemetry__Proto__Trace__V1__ScopeSpans ss;
    opentelemetry__proto__trace__v1__scope_spans__init(&ss);
    Span *spans[1] = {&span};
    ss.n_spans = 1;
    ss.spans = spans;
    Opentelemetry__Proto__Trace__V1__ResourceSpans rs;
    opentelemetry__proto__trace__v1__resource_spans__init(&rs);
    Opentelemetry__Proto__Trace__V1__ScopeSpans *sss[1] = {&ss};
    rs.n_scope_spans = 1;
    rs.scope_spans = sss;
    rs.schema_url = "https://opentelemetry.io/schemas/1.21.0";
    TraceRequest req;
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(&req);
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rss[1] = {&rs};
    req.n_resource_spans = 1;
    req.resource_spans = rss;

    char *want =
        J("{'resourceSpans':[{'scopeSpans':[{'spans':[{"
          "'traceId':'5b8efff798038103d269b633813fc60c','spanId':'eee19b7ec3c1b174',"
          "'traceState':'k=v','parentSpanId':'eee19b7ec3c1b173','name':'GET /','kind':2,"
          "'startTimeUnixNano':'1544712660000000000','endTimeUnixNano':'18446744073709551615',"
          "'attributes':["
          "{'key':'str','value':{'stringValue':'a\\'b\\\\c\\n\\u0001\xc3\xa9/\\ufffd'}},"
          "{'key':'bool','value':{'boolValue':true}},"
          "{'key':'int','value':{'intValue':'-9223372036854775808'}},"
          "{'key':'dbl','value':{'doubleValue':0.1}},"
          "{'key':'nan','value':{'doubleValue':'NaN'}},"
          "{'key':'bytes','value':{'bytesValue':'AQID/w=='}},"
          "{'key':'arr','value':{'arrayValue':{'values':[{'stringValue':'x'},{'intValue':'0'}]}}},"
          "{'key':'map','value':{'kvlistValue':{'values':[{'key':'inner','value':"
          "{'boolValue':false}}]}}},"
          "{'key':'empty','value':{}}],"
          "'droppedAttributesCount':1,"
          "'events':[{'timeUnixNano':'1544712660500000000','name':'ev'}],'droppedEventsCount':2,"
          "'links':[{'traceId':'5b8efff798038103d269b633813fc60c','spanId':'eee19b7ec3c1b173',"
          "'flags':256}],'droppedLinksCount':3,"
          "'status':{'message':'oops','code':2},'flags':769}]}],"
          "'schemaUrl':'https://opentelemetry.io/schemas/1.21.0'}]}");
    char *got = encode_msg_pb(CT_SIGNAL_TRACES, &req.base);
    CHECK_STR_EQ(got, want);

    /* The unpacked-message entry point writes the same text. */
    ct_buf_t out = {0};
    CHECK_EQ_INT(ct_otlp_json_encode_msg(&req.base, &out), 0);
    CHECK(out.len == strlen(want) && memcmp(out.data, want, out.len) == 0);
    ct_buf_free(&out);

    /* And it decodes back to the same message, except that the byte that was
     * not UTF-8 is now a real U+FFFD. */
    char err[256] = "";
    ct_buf_t pb = {0};
    CHECK_EQ_INT(decode(CT_SIGNAL_TRACES, want, &pb, err, sizeof(err)), 0);
    char *again = encode(CT_SIGNAL_TRACES, pb.data, pb.len);
    char *fffd = strstr(want, "\\ufffd");
    CHECK(fffd != NULL);
    if (fffd)
        memcpy(fffd, "\xef\xbf\xbd", 3), memmove(fffd + 3, fffd + 6, strlen(fffd + 6) + 1);
    CHECK_STR_EQ(again, want);

    free(again);
    ct_buf_free(&pb);
    free(got);
    free(want);
}

/* The shape of the OTLP specification's trace example, pretty-printed, upper-case ids. */
static void test_decode_spec_example(void)
{
    char *json =
        J("{\n"
          "  'resourceSpans': [ {\n"
          "    'resource': { 'attributes': [\n"
          "      { 'key': 'service.name', 'value': { 'stringValue': 'my.service' } } ] },\n"
          "    'scopeSpans': [ {\n"
          "      'scope': { 'name': 'my.library', 'version': '1.0.0',\n"
          "        'attributes': [ { 'key': 'my.scope.attribute',\n"
          "          'value': { 'stringValue': 'some scope attribute' } } ] },\n"
          "      'spans': [ {\n"
          "        'traceId': '5B8EFFF798038103D269B633813FC60C',\n"
          "        'spanId': 'EEE19B7EC3C1B174',\n"
          "        'parentSpanId': 'EEE19B7EC3C1B173',\n"
          "        'name': 'I am a server span',\n"
          "        'startTimeUnixNano': '1544712660000000000',\n"
          "        'endTimeUnixNano': '1544712661000000000',\n"
          "        'kind': 2,\n"
          "        'attributes': [ { 'key': 'my.span.attr',\n"
          "          'value': { 'stringValue': 'some value' } } ]\n"
          "      } ]\n"
          "    } ]\n"
          "  } ]\n"
          "}\n");
    ct_buf_t pb = {0};
    char err[256] = "";
    int rc = decode(CT_SIGNAL_TRACES, json, &pb, err, sizeof(err));
    CHECK_EQ_INT(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "  error: %s\n", err);
        goto out;
    }

    TraceRequest *req =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
            NULL, pb.len, pb.data);
    CHECK(req != NULL);
    if (req == NULL)
        goto out;
    CHECK_EQ_INT(req->n_resource_spans, 1);
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = req->resource_spans[0];
    CHECK(rs->resource != NULL && rs->resource->n_attributes == 1);
    CHECK_STR_EQ(rs->resource->attributes[0]->key, "service.name");
    CHECK_STR_EQ(rs->resource->attributes[0]->value->string_value, "my.service");
    CHECK_EQ_INT(rs->n_scope_spans, 1);
    CHECK_STR_EQ(rs->scope_spans[0]->scope->name, "my.library");
    CHECK_STR_EQ(rs->scope_spans[0]->scope->version, "1.0.0");
    CHECK_EQ_INT(rs->scope_spans[0]->scope->n_attributes, 1);
    CHECK_EQ_INT(rs->scope_spans[0]->n_spans, 1);
    Span *s = rs->scope_spans[0]->spans[0];
    static const uint8_t tid[16] = {0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03,
                                    0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c};
    CHECK(s->trace_id.len == 16 && memcmp(s->trace_id.data, tid, 16) == 0);
    CHECK(s->span_id.len == 8 && s->span_id.data[0] == 0xee && s->span_id.data[7] == 0x74);
    CHECK(s->parent_span_id.len == 8 && s->parent_span_id.data[7] == 0x73);
    CHECK_STR_EQ(s->name, "I am a server span");
    CHECK(s->start_time_unix_nano == 1544712660000000000ull);
    CHECK(s->end_time_unix_nano == 1544712661000000000ull);
    CHECK_EQ_INT(s->kind, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER);
    CHECK_EQ_INT(s->n_attributes, 1);
    CHECK_EQ_INT(s->attributes[0]->value->value_case,
                 OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE);
    CHECK(s->status == NULL);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req,
                                                                                            NULL);

    /* Ids come back lower-case. */
    char *back = encode(CT_SIGNAL_TRACES, pb.data, pb.len);
    CHECK_STR_CONTAINS(back, "\"traceId\":\"5b8efff798038103d269b633813fc60c\"");
    CHECK_STR_CONTAINS(back, "\"parentSpanId\":\"eee19b7ec3c1b173\"");
    free(back);
out:
    ct_buf_free(&pb);
    free(json);
}

/* Canonical JSON (keys in field-number order, defaults left out) decodes and re-encodes to itself.
 */
static void check_round_trip(ct_signal_t sig, const char *canonical_sq)
{
    char *json = J(canonical_sq);
    ct_buf_t pb = {0}, pb2 = {0};
    char err[256] = "";

    int rc = decode(sig, json, &pb, err, sizeof(err));
    CHECK_EQ_INT(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "  error: %s\n", err);
        goto out;
    }
    char *back = encode(sig, pb.data, pb.len);
    CHECK_STR_EQ(back, json);
    /* JSON -> pb -> JSON -> pb gives the same bytes. */
    if (back) {
        CHECK_EQ_INT(decode(sig, back, &pb2, err, sizeof(err)), 0);
        CHECK(pb.len == pb2.len && (pb.len == 0 || memcmp(pb.data, pb2.data, pb.len) == 0));
    }
    free(back);
out:
    ct_buf_free(&pb);
    ct_buf_free(&pb2);
    free(json);
}

static void test_round_trips(void)
{
    check_round_trip(
        CT_SIGNAL_METRICS,
        "{'resourceMetrics':[{'resource':{'attributes':[{'key':'host','value':"
        "{'stringValue':'h1'}}],'droppedAttributesCount':2},'scopeMetrics':[{"
        "'scope':{'name':'lib','version':'2'},'metrics':["
        "{'name':'g','description':'a gauge','unit':'1','gauge':{'dataPoints':["
        "{'timeUnixNano':'5','asDouble':-2.5},{'timeUnixNano':'6','asInt':'-7','flags':1},"
        "{'asDouble':0},{'asDouble':'Infinity'},{'asDouble':'-Infinity'},{'asDouble':1e+300}]}},"
        "{'name':'s','sum':{'dataPoints':[{'startTimeUnixNano':'1','timeUnixNano':'2',"
        "'exemplars':[{'timeUnixNano':'2','asDouble':3.25,"
        "'spanId':'0102030405060708','traceId':'0102030405060708090a0b0c0d0e0f10',"
        "'filteredAttributes':[{'key':'k','value':{'intValue':'1'}}]},{'asInt':'4'}],"
        "'asInt':'9223372036854775807','attributes':[{'key':'a','value':{'boolValue':true}}]}],"
        "'aggregationTemporality':2,'isMonotonic':true}},"
        "{'name':'h','histogram':{'dataPoints':[{'timeUnixNano':'3','count':'6','sum':0,"
        "'bucketCounts':['1','2','3'],'explicitBounds':[0.5,10],'flags':1,'min':-1,'max':12.75},"
        "{}],'aggregationTemporality':1}},"
        "{'name':'eh','exponentialHistogram':{'dataPoints':[{'attributes':[{'key':'x','value':"
        "{'doubleValue':1}}],'count':'10','sum':12.5,'scale':-3,'zeroCount':'1',"
        "'positive':{'offset':-2,'bucketCounts':['4','0','5']},'negative':{},'min':0,"
        "'max':4,'zeroThreshold':1e-09}],'aggregationTemporality':2}},"
        "{'name':'su','summary':{'dataPoints':[{'timeUnixNano':'4','count':'3','sum':7.5,"
        "'quantileValues':[{'value':1},{'quantile':1,'value':4}]}]},"
        "'metadata':[{'key':'m','value':{'stringValue':'v'}}]}],"
        "'schemaUrl':'s1'}],'schemaUrl':'s2'}]}");

    check_round_trip(
        CT_SIGNAL_LOGS,
        "{'resourceLogs':[{'resource':{},'scopeLogs':[{'scope':{},'logRecords':["
        "{'timeUnixNano':'1700000000000000000','severityNumber':17,'severityText':'ERROR',"
        "'body':{'kvlistValue':{'values':[{'key':'msg','value':{'stringValue':"
        "'caf\xc3\xa9 \xf0\x9f\x98\x80 \\t'}},{'key':'raw','value':{'bytesValue':'AA=='}},"
        "{'key':'list','value':{'arrayValue':{}}}]}},"
        "'attributes':[{'key':'e','value':{'stringValue':''}}],'droppedAttributesCount':4,"
        "'flags':1,'traceId':'ffffffffffffffffffffffffffffffff','spanId':'0000000000000001',"
        "'observedTimeUnixNano':'1700000000000000001','eventName':'ev'},{}]}]}]}");

    check_round_trip(CT_SIGNAL_TRACES, "{}");
}

/* Wraps span members into a request whose span sits at index 3. */
static char *span_json(const char *members)
{
    static const char pre[] = "{'resourceSpans':[{'scopeSpans':[{'spans':[{},{},{},{";
    static const char post[] = "}]}]}]}";
    char *s = malloc(strlen(pre) + strlen(members) + strlen(post) + 1);
    strcpy(s, pre);
    strcat(s, members);
    strcat(s, post);
    char *j = J(s);
    free(s);
    return j;
}

/* Decodes one span and returns it unpacked (caller frees with free_unpacked), or NULL. */
static TraceRequest *decode_span(const char *members, Span **span, char *err, size_t errlen,
                                 int *rc)
{
    char *json = span_json(members);
    ct_buf_t pb = {0};
    TraceRequest *req = NULL;

    *rc = decode(CT_SIGNAL_TRACES, json, &pb, err, errlen);
    if (*rc == 0) {
        req = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
            NULL, pb.len, pb.data);
        *span = req->resource_spans[0]->scope_spans[0]->spans[3];
    }
    ct_buf_free(&pb);
    free(json);
    return req;
}

static void free_req(TraceRequest *req)
{
    if (req)
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
            req, NULL);
}

#define SPAN_PATH "resourceSpans[0].scopeSpans[0].spans[3]."

static void expect_span_error(const char *members, int want_rc, const char *want_err)
{
    char err[512] = "";
    Span *s = NULL;
    int rc;
    TraceRequest *req = decode_span(members, &s, err, sizeof(err), &rc);
    CHECK_EQ_INT(rc, want_rc);
    CHECK_STR_EQ(err, want_err);
    free_req(req);
}

static void test_ids(void)
{
    char err[256] = "";
    Span *s = NULL;
    int rc;

    /* base64, which plain proto3 JSON would use, is not an OTLP id. */
    expect_span_error("'traceId':'W47/95gDgQPSabYzgT/GDA=='", -EINVAL,
                      SPAN_PATH "traceId: not a 32-character hex string");
    expect_span_error("'spanId':'7uGbfsPBsXQ='", -EINVAL,
                      SPAN_PATH "spanId: not a 16-character hex string");
    expect_span_error("'parentSpanId':'eee19b7ec3c1b17g'", -EINVAL,
                      SPAN_PATH "parentSpanId: not a 16-character hex string");
    expect_span_error("'traceId':'0102030405060708090a0b0c0d0e0f1011'", -EINVAL,
                      SPAN_PATH "traceId: not a 32-character hex string");
    expect_span_error("'traceId':5", -EINVAL,
                      SPAN_PATH "traceId: expected a 32-character hex string, got a number");
    expect_span_error("'links':[{},{'spanId':'abc'}]", -EINVAL,
                      SPAN_PATH "links[1].spanId: not a 16-character hex string");

    /* Mixed case is accepted; the empty string means no id. */
    TraceRequest *req = decode_span("'traceId':'5b8EFFF798038103d269B633813FC60C',"
                                    "'spanId':'','parentSpanId':null",
                                    &s, err, sizeof(err), &rc);
    CHECK_EQ_INT(rc, 0);
    if (req) {
        CHECK(s->trace_id.len == 16 && s->trace_id.data[1] == 0x8e && s->trace_id.data[15] == 0x0c);
        CHECK_EQ_INT(s->span_id.len, 0);
        CHECK_EQ_INT(s->parent_span_id.len, 0);
    }
    free_req(req);
}

static void test_integers(void)
{
    char err[256] = "";
    Span *s = NULL;
    int rc;

    /* A JSON number and a decimal string are both accepted for 64-bit fields. */
    TraceRequest *req = decode_span("'startTimeUnixNano':1544712660000000000,"
                                    "'endTimeUnixNano':'1544712661000000000'",
                                    &s, err, sizeof(err), &rc);
    CHECK_EQ_INT(rc, 0);
    if (req) {
        CHECK(s->start_time_unix_nano == 1544712660000000000ull);
        CHECK(s->end_time_unix_nano == 1544712661000000000ull);
    }
    free_req(req);

    /* Beyond INT64_MAX as a bare number, and integral values with exponent or fraction. */
    req = decode_span("'startTimeUnixNano':18446744073709551615,'endTimeUnixNano':'1e3',"
                      "'droppedAttributesCount':5.0",
                      &s, err, sizeof(err), &rc);
    CHECK_EQ_INT(rc, 0);
    if (req) {
        CHECK(s->start_time_unix_nano == UINT64_MAX);
        CHECK(s->end_time_unix_nano == 1000);
        CHECK_EQ_INT(s->dropped_attributes_count, 5);
    }
    free_req(req);

    expect_span_error("'startTimeUnixNano':{}", -EINVAL,
                      SPAN_PATH "startTimeUnixNano: expected an integer (a number or a decimal "
                                "string), got an object");
    expect_span_error("'startTimeUnixNano':'1234567890123456789012345'", -EINVAL,
                      SPAN_PATH "startTimeUnixNano: out of range for fixed64: "
                                "\"1234567890123456789012345\"");
    expect_span_error("'startTimeUnixNano':18446744073709551616", -EINVAL,
                      SPAN_PATH "startTimeUnixNano: out of range for fixed64: "
                                "18446744073709551616");
    expect_span_error("'endTimeUnixNano':'-1'", -EINVAL,
                      SPAN_PATH "endTimeUnixNano: out of range for fixed64: \"-1\"");
    expect_span_error("'endTimeUnixNano':1.5", -EINVAL,
                      SPAN_PATH "endTimeUnixNano: not an integer: 1.5");
    expect_span_error("'endTimeUnixNano':'12ms'", -EINVAL,
                      SPAN_PATH "endTimeUnixNano: not an integer: \"12ms\"");
    expect_span_error("'endTimeUnixNano':true", -EINVAL,
                      SPAN_PATH "endTimeUnixNano: expected an integer (a number or a decimal "
                                "string), got a boolean");
    expect_span_error("'droppedLinksCount':4294967296", -EINVAL,
                      SPAN_PATH "droppedLinksCount: out of range for uint32: 4294967296");
    expect_span_error("'attributes':[{'key':'k','value':{'intValue':'9223372036854775808'}}]",
                      -EINVAL,
                      SPAN_PATH "attributes[0].value.intValue: out of range for int64: "
                                "\"9223372036854775808\"");
}

static void test_enums_and_names(void)
{
    char err[256] = "";
    Span *s = NULL;
    int rc;

    /* snake_case keys and enum names are accepted too. */
    char *json = J("{'resource_spans':[{'scope_spans':[{'spans':[{'trace_id':"
                   "'0102030405060708090a0b0c0d0e0f10','start_time_unix_nano':'7',"
                   "'kind':'SPAN_KIND_CLIENT','status':{'code':'STATUS_CODE_OK'}}]}]}]}");
    ct_buf_t pb = {0};
    rc = decode(CT_SIGNAL_TRACES, json, &pb, err, sizeof(err));
    CHECK_EQ_INT(rc, 0);
    char *back = rc == 0 ? encode(CT_SIGNAL_TRACES, pb.data, pb.len) : NULL;
    char *want = J("{'resourceSpans':[{'scopeSpans':[{'spans':[{'traceId':"
                   "'0102030405060708090a0b0c0d0e0f10','kind':3,'startTimeUnixNano':'7',"
                   "'status':{'code':1}}]}]}]}");
    CHECK_STR_EQ(back, want);
    free(want);
    free(back);
    free(json);
    ct_buf_free(&pb);

    /* An enum number the schema does not name is kept (proto3 enums are open). */
    TraceRequest *req = decode_span("'kind':9", &s, err, sizeof(err), &rc);
    CHECK_EQ_INT(rc, 0);
    if (req)
        CHECK_EQ_INT(s->kind, 9);
    free_req(req);

    expect_span_error("'kind':'SERVER'", -EINVAL,
                      SPAN_PATH "kind: unknown value \"SERVER\" of enum "
                                "opentelemetry.proto.trace.v1.Span.SpanKind");
    expect_span_error("'name':5", -EINVAL, SPAN_PATH "name: expected a string, got a number");
    expect_span_error("'attributes':{}", -EINVAL,
                      SPAN_PATH "attributes: expected an array, got an object");
    expect_span_error("'status':[]", -EINVAL, SPAN_PATH "status: expected an object, got an array");
    expect_span_error("'events':[null]", -EINVAL,
                      SPAN_PATH "events[0]: null is not allowed in an array");
    expect_span_error("'attributes':[{'key':'b','value':{'boolValue':'true'}}]", -EINVAL,
                      SPAN_PATH "attributes[0].value.boolValue: expected true or false, got a "
                                "string");
    expect_span_error("'attributes':[{'value':{'bytesValue':'AB$='}}]", -EINVAL,
                      SPAN_PATH "attributes[0].value.bytesValue: not valid base64");
    expect_span_error("'attributes':[{'value':{'bytesValue':'QUJDR'}}]", -EINVAL,
                      SPAN_PATH "attributes[0].value.bytesValue: not valid base64");
    expect_span_error("'name':'a\\u0000b'", -EINVAL,
                      SPAN_PATH "name: string contains a NUL character");
}

static void test_doubles(void)
{
    char *json = J("{'resourceMetrics':[{'scopeMetrics':[{'metrics':[{'gauge':{'dataPoints':["
                   "{'asDouble':'NaN'},{'asDouble':'Infinity'},{'asDouble':'-Infinity'},"
                   "{'asDouble':'2.5'},{'asDouble':-0.125e2}]}}]}]}]}");
    ct_buf_t pb = {0};
    char err[256] = "";
    int rc = decode(CT_SIGNAL_METRICS, json, &pb, err, sizeof(err));
    CHECK_EQ_INT(rc, 0);
    MetricsRequest *req =
        rc == 0
            ? opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
                  NULL, pb.len, pb.data)
            : NULL;
    CHECK(req != NULL);
    if (req) {
        Opentelemetry__Proto__Metrics__V1__Gauge *g =
            req->resource_metrics[0]->scope_metrics[0]->metrics[0]->gauge;
        CHECK_EQ_INT(g->n_data_points, 5);
        CHECK(isnan(g->data_points[0]->as_double));
        CHECK(isinf(g->data_points[1]->as_double) && g->data_points[1]->as_double > 0);
        CHECK(isinf(g->data_points[2]->as_double) && g->data_points[2]->as_double < 0);
        CHECK(g->data_points[3]->as_double == 2.5);
        CHECK(g->data_points[4]->as_double == -12.5);
        opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
            req, NULL);
    }
    char *back = rc == 0 ? encode(CT_SIGNAL_METRICS, pb.data, pb.len) : NULL;
    CHECK_STR_CONTAINS(back, "[{\"asDouble\":\"NaN\"},{\"asDouble\":\"Infinity\"},"
                             "{\"asDouble\":\"-Infinity\"},{\"asDouble\":2.5},"
                             "{\"asDouble\":-12.5}]");
    free(back);
    ct_buf_free(&pb);
    free(json);

    static const struct {
        const char *value, *err;
    } bad[] = {
        {"'nan'", "not a number: \"nan\""},
        {"'1.5x'", "not a number: \"1.5x\""},
        {"1e999", "out of range for double: 1e999"},
        {"{}", "expected a number, got an object"},
    };
    for (size_t i = 0; i < CT_ARRAY_LEN(bad); i++) {
        char buf[256];
        snprintf(buf, sizeof(buf),
                 "{'resourceMetrics':[{'scopeMetrics':[{'metrics':[{'gauge':{'dataPoints':["
                 "{},{'asDouble':%s}]}}]}]}]}",
                 bad[i].value);
        char *j = J(buf);
        char want[256];
        snprintf(want, sizeof(want),
                 "resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[1].asDouble: %s",
                 bad[i].err);
        CHECK_EQ_INT(decode(CT_SIGNAL_METRICS, j, &pb, err, sizeof(err)), -EINVAL);
        CHECK_STR_EQ(err, want);
        free(j);
    }
    ct_buf_free(&pb);
}

/* A span attribute whose value nests `levels` kvlistValues. */
static char *nested_kvlist(int levels)
{
    ct_buf_t b = {0};
    ct_buf_puts(&b, "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"attributes\":["
                    "{\"key\":\"k\",\"value\":");
    for (int i = 0; i < levels; i++)
        ct_buf_puts(&b, "{\"kvlistValue\":{\"values\":[{\"key\":\"k\",\"value\":");
    ct_buf_puts(&b, "{\"intValue\":\"1\"}");
    for (int i = 0; i < levels; i++)
        ct_buf_puts(&b, "}]}}");
    ct_buf_puts(&b, "}]}]}]}]}");
    ct_buf_putc(&b, 0);
    return (char *)ct_buf_take(&b, NULL);
}

static void test_depth(void)
{
    ct_buf_t pb = {0};
    char err[256] = "";

    /* 29 nested maps put the innermost value at level 10 + 4 * 29 = 126: accepted. */
    char *ok = nested_kvlist(29);
    CHECK_EQ_INT(decode(CT_SIGNAL_TRACES, ok, &pb, err, sizeof(err)), 0);
    char *back = encode(CT_SIGNAL_TRACES, pb.data, pb.len);
    CHECK_STR_EQ(back, ok);
    free(back);
    free(ok);

    /* 30 need level 130. */
    char *deep = nested_kvlist(30);
    CHECK_EQ_INT(decode(CT_SIGNAL_TRACES, deep, &pb, err, sizeof(err)), -E2BIG);
    /* The path is too long for err: its middle gives way, the reason stays. */
    CHECK_STR_CONTAINS(err, "...");
    /* Level 129 is the object of the innermost map's first entry. */
    CHECK_STR_CONTAINS(err, ".values[0]: nesting deeper than 128 levels");
    static const char head[] = "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.";
    CHECK(strncmp(err, head, strlen(head)) == 0);
    CHECK(strlen(err) == sizeof(err) - 1);
    char big[8192];
    CHECK_EQ_INT(decode(CT_SIGNAL_TRACES, deep, &pb, big, sizeof(big)), -E2BIG);
    CHECK(strstr(big, "...") == NULL);
    CHECK_STR_CONTAINS(big, "value.kvlistValue.values[0]: nesting deeper than 128 levels");
    free(deep);

    /* A million brackets in an ignored field neither recurse without bound nor pass. */
    size_t n = 1000000;
    char *bomb = malloc(n + 64);
    strcpy(bomb, "{\"junk\":");
    memset(bomb + 8, '[', n);
    bomb[n + 8] = '\0';
    CHECK_EQ_INT(decode(CT_SIGNAL_TRACES, bomb, &pb, err, sizeof(err)), -E2BIG);
    free(bomb);
    ct_buf_free(&pb);
}

static void test_lenient_input(void)
{
    ct_buf_t pb = {0}, ref = {0};
    char err[256] = "";

    /* Unknown fields, at the top and deeper, are skipped whatever their shape. */
    char *plain = span_json("'name':'n'");
    char *extra = J("{'unknown':{'a':[1,2.5e3,'x',true,false,null,{'b':[]}]},"
                    "'resourceSpans':[{'scopeSpans':[{'spans':[{},{},{},"
                    "{'name':'n','futureField':[{}]}]}]}],'zzz':null}");
    CHECK_EQ_INT(decode(CT_SIGNAL_TRACES, plain, &ref, err, sizeof(err)), 0);
    CHECK_EQ_INT(decode(CT_SIGNAL_TRACES, extra, &pb, err, sizeof(err)), 0);
    CHECK(pb.len == ref.len && memcmp(pb.data, ref.data, pb.len) == 0);
    free(plain);
    free(extra);

    /* null means absent, for messages, scalars and arrays alike. */
    char *nulls = span_json("'name':'n','status':null,'kind':null,'attributes':null,"
                            "'startTimeUnixNano':null");
    CHECK_EQ_INT(decode(CT_SIGNAL_TRACES, nulls, &pb, err, sizeof(err)), 0);
    CHECK(pb.len == ref.len && memcmp(pb.data, ref.data, pb.len) == 0);
    free(nulls);

    /* String escapes, surrogate pairs, and an unpaired surrogate replaced by U+FFFD. */
    Span *s = NULL;
    int rc;
    TraceRequest *req =
        decode_span("'name':'\\u00e9\\ud83d\\ude00\\/\\ud800x'", &s, err, sizeof(err), &rc);
    CHECK_EQ_INT(rc, 0);
    if (req)
        CHECK_STR_EQ(s->name, "\xc3\xa9\xf0\x9f\x98\x80/\xef\xbf\xbdx");
    free_req(req);

    /* URL-safe base64 without padding. */
    char *b64 = span_json("'attributes':[{'key':'b','value':{'bytesValue':'-_8'}}]");
    CHECK_EQ_INT(decode(CT_SIGNAL_TRACES, b64, &pb, err, sizeof(err)), 0);
    char *back = encode(CT_SIGNAL_TRACES, pb.data, pb.len);
    CHECK_STR_CONTAINS(back, "\"bytesValue\":\"+/8=\"");
    free(back);
    free(b64);

    ct_buf_free(&pb);
    ct_buf_free(&ref);
}

static void test_malformed(void)
{
    static const struct {
        const char *json, *err;
    } cases[] = {
        {"", "expected a JSON object, got the end of input"},
        {"[]", "expected a JSON object, got an array"},
        {"{'resourceSpans':[}", "resourceSpans[0]: expected an object, got an invalid token"},
        {"{'resourceSpans':[]", "invalid JSON at offset 19: expected ',' or '}'"},
        {"{'resourceSpans':[]} x", "invalid JSON at offset 21: unexpected data after the object"},
        {"{'resourceSpans' []}", "invalid JSON at offset 17: expected ':'"},
        {"{'a':tru}", "invalid JSON at offset 5: unexpected token"},
        {"{'a':01}", "invalid JSON at offset 6: expected ',' or '}'"},
        {"{'a':'x\ny'}", "invalid JSON at offset 7: control character in string"},
        {"{'a':'\xc3('}", "invalid JSON at offset 6: string is not valid UTF-8"},
        {"{'a':'\\q'}", "invalid JSON at offset 6: invalid escape in string"},
        {"{'resourceSpans':[{'schemaUrl':'abc}]}", "resourceSpans[0].schemaUrl: invalid JSON at "
                                                   "offset 31: unterminated string"},
    };
    ct_buf_t pb = {0};
    char err[256];

    for (size_t i = 0; i < CT_ARRAY_LEN(cases); i++) {
        char *j = J(cases[i].json);
        strcpy(err, "");
        CHECK_EQ_INT(decode(CT_SIGNAL_TRACES, j, &pb, err, sizeof(err)), -EINVAL);
        CHECK_STR_EQ(err, cases[i].err);
        CHECK_EQ_INT(pb.len, 0);
        free(j);
    }
    ct_buf_free(&pb);
}

static void test_buffers_and_bad_input(void)
{
    char err[256] = "";
    char *json = span_json("'name':'a fairly long span name to overflow a small buffer'");

    /* A bounded output buffer: too small fails with -E2BIG and keeps what it had. */
    ct_buf_t small = {.max = 16};
    ct_buf_puts(&small, "keep");
    CHECK_EQ_INT(
        ct_otlp_json_decode(CT_SIGNAL_TRACES, json, strlen(json), &small, err, sizeof(err)),
        -E2BIG);
    CHECK(small.len == 4 && memcmp(small.data, "keep", 4) == 0);

    ct_buf_t pb = {0};
    CHECK_EQ_INT(decode(CT_SIGNAL_TRACES, json, &pb, err, sizeof(err)), 0);
    small.len = 4;
    CHECK_EQ_INT(ct_otlp_json_encode(CT_SIGNAL_TRACES, pb.data, pb.len, &small, err, sizeof(err)),
                 -E2BIG);
    CHECK_EQ_INT(small.len, 4);
    ct_buf_free(&small);

    /* Output is appended after what the buffer already holds. */
    ct_buf_t out = {0};
    ct_buf_puts(&out, "x");
    CHECK_EQ_INT(ct_otlp_json_encode(CT_SIGNAL_TRACES, pb.data, pb.len, &out, err, sizeof(err)), 0);
    CHECK(out.len > 1 && memcmp(out.data, "x{\"resourceSpans\"", 17) == 0);
    CHECK(out.data[out.len - 1] == '}');
    ct_buf_free(&out);

    /* Bytes that are not the message. */
    static const uint8_t junk[] = {0x0a, 0x05, 0x01};
    CHECK_EQ_INT(ct_otlp_json_encode(CT_SIGNAL_LOGS, junk, sizeof(junk), &out, err, sizeof(err)),
                 -EINVAL);
    CHECK_STR_EQ(err, "not a valid opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest "
                      "protobuf message");
    CHECK_EQ_INT(out.len, 0);
    CHECK_EQ_INT(ct_otlp_json_encode((ct_signal_t)7, junk, 0, &out, err, sizeof(err)), -EINVAL);
    CHECK_EQ_INT(ct_otlp_json_decode((ct_signal_t)7, "{}", 2, &out, NULL, 0), -EINVAL);

    /* An empty request is valid both ways. */
    CHECK_EQ_INT(ct_otlp_json_encode(CT_SIGNAL_METRICS, junk, 0, &out, NULL, 0), 0);
    CHECK(out.len == 2 && memcmp(out.data, "{}", 2) == 0);
    ct_buf_free(&out);

    ct_buf_free(&pb);
    free(json);
}

/* google.rpc.Status, for OTLP/HTTP error bodies, through the descriptor entry points. */
static void test_status(void)
{
    Google__Rpc__Status st;
    google__rpc__status__init(&st);
    st.code = 3;
    st.message = "bad \"traceId\"";
    Google__Protobuf__Any any;
    google__protobuf__any__init(&any);
    any.type_url = "type.googleapis.com/x";
    any.value = (ProtobufCBinaryData){3, (uint8_t *)"abc"};
    Google__Protobuf__Any *details[1] = {&any};
    st.n_details = 1;
    st.details = details;

    uint8_t pb[256];
    size_t len = google__rpc__status__pack(&st, pb);
    ct_buf_t out = {0};
    char err[256] = "";
    CHECK_EQ_INT(
        ct_otlp_json_encode_desc(&google__rpc__status__descriptor, pb, len, &out, err, sizeof(err)),
        0);
    ct_buf_putc(&out, 0);
    CHECK_STR_EQ((char *)out.data, "{\"code\":3,\"message\":\"bad \\\"traceId\\\"\",\"details\":"
                                   "[{\"typeUrl\":\"type.googleapis.com/x\",\"value\":\"YWJj\"}]}");

    ct_buf_t back = {0};
    CHECK_EQ_INT(ct_otlp_json_decode_desc(&google__rpc__status__descriptor, (char *)out.data,
                                          out.len - 1, &back, err, sizeof(err)),
                 0);
    CHECK(back.len == len && memcmp(back.data, pb, len) == 0);
    ct_buf_free(&back);
    ct_buf_free(&out);
}

/*
 * Corrupts valid requests in many small, reproducible ways. Each result must
 * be rejected with an error message, or accepted and then stable: its
 * protobuf bytes re-encode to JSON that decodes to the same bytes.
 */
static void test_mutations(void)
{
    static const char *const seeds[] = {
        "{'resourceSpans':[{'resource':{'attributes':[{'key':'a','value':{'arrayValue':"
        "{'values':[{'intValue':'-5'},{'doubleValue':-0.0},{'bytesValue':'AQI='}]}}}]},"
        "'scopeSpans':[{'spans':[{'traceId':'0102030405060708090a0b0c0d0e0f10',"
        "'spanId':'0102030405060708','name':'x\\u00e9','kind':2,'startTimeUnixNano':'12',"
        "'status':{'code':2},'events':[{'timeUnixNano':5}],'flags':1}]}]}]}",
        "{'resourceMetrics':[{'scopeMetrics':[{'metrics':[{'name':'h','histogram':{"
        "'dataPoints':[{'count':'3','sum':1.5,'bucketCounts':['1','2'],'explicitBounds':[1],"
        "'min':'NaN'}]}},{'sum':{'dataPoints':[{'asInt':'3'}],'isMonotonic':true}}]}]}]}",
    };
    static const char noise[] = "{}[]\",:-0123456789.eEaNnul\\ tf";
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    int accepted = 0, rejected = 0, bad = 0;

    for (size_t si = 0; si < CT_ARRAY_LEN(seeds); si++) {
        ct_signal_t sig = si == 0 ? CT_SIGNAL_TRACES : CT_SIGNAL_METRICS;
        char *seed = J(seeds[si]);
        size_t slen = strlen(seed);
        char *m = malloc(slen * 2 + 1);

        for (int iter = 0; iter < 4000; iter++) {
            size_t len = slen;
            memcpy(m, seed, slen);
            int edits = 1 + (int)(rng % 3);
            for (int k = 0; k < edits && len > 1; k++) {
                rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
                size_t at = (size_t)(rng >> 8) % len;
                switch (rng % 4) {
                case 0: /* overwrite with a structural or numeric character */
                    m[at] = noise[(rng >> 40) % (sizeof(noise) - 1)];
                    break;
                case 1: /* overwrite with any byte but NUL */
                    m[at] = (char)(1 + (rng >> 40) % 255);
                    break;
                case 2: /* delete */
                    memmove(m + at, m + at + 1, len - at - 1);
                    len--;
                    break;
                default: /* repeat a short stretch */
                    if (len + 8 <= slen * 2) {
                        size_t n = 1 + (rng >> 20) % 8;
                        if (at + n > len)
                            n = len - at;
                        memmove(m + at + n, m + at, len - at);
                        len += n;
                    }
                }
            }

            ct_buf_t pb = {0}, pb2 = {0}, js = {0};
            char err[256] = "";
            int rc = ct_otlp_json_decode(sig, m, len, &pb, err, sizeof(err));
            if (rc == 0) {
                accepted++;
                if (ct_otlp_json_encode(sig, pb.data, pb.len, &js, err, sizeof(err)) != 0 ||
                    ct_otlp_json_decode(sig, (char *)js.data, js.len, &pb2, err, sizeof(err)) !=
                        0 ||
                    pb.len != pb2.len || (pb.len && memcmp(pb.data, pb2.data, pb.len) != 0)) {
                    bad++;
                    fprintf(stderr, "unstable: %.*s\n", (int)len, m);
                }
            } else {
                rejected++;
                if ((rc != -EINVAL && rc != -E2BIG) || err[0] == '\0' || pb.len != 0) {
                    bad++;
                    fprintf(stderr, "bad rejection %d '%s': %.*s\n", rc, err, (int)len, m);
                }
            }
            ct_buf_free(&pb);
            ct_buf_free(&pb2);
            ct_buf_free(&js);
        }
        free(m);
        free(seed);
    }
    CHECK_EQ_INT(bad, 0);
    /* Both outcomes must actually occur, or the mutations test nothing. */
    CHECK(accepted > 100);
    CHECK(rejected > 1000);
}

/* Whether pb holds exactly what protobuf-c packs for m. */
static int same_as_pack(const ct_buf_t *pb, const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *want = malloc(len ? len : 1);
    int same = want != NULL && protobuf_c_message_pack(m, want) == len && pb->len == len &&
               (len == 0 || memcmp(pb->data, want, len) == 0);
    free(want);
    return same;
}

/* A string of n copies of c, NUL-terminated (malloc'd). */
static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/*
 * The hostile request of millions of empty spans, at a million (3 MB of
 * JSON): the decoder writes protobuf as it reads, keeping nothing per span,
 * and the bytes are those protobuf-c packs for the same message.
 */
static void test_many_empty_spans(void)
{
    size_t n = 1000000;
    ct_buf_t json = {0}, pb = {0};
    char err[256] = "";

    ct_buf_puts(&json, "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{}");
    for (size_t i = 1; i < n; i++)
        ct_buf_puts(&json, ",{}");
    ct_buf_puts(&json, "]}]}]}");
    CHECK_EQ_INT(ct_otlp_json_decode(CT_SIGNAL_TRACES, (const char *)json.data, json.len, &pb, err,
                                     sizeof(err)),
                 0);

    /* The same message for protobuf-c, its span pointers all at one empty span. */
    Span empty;
    opentelemetry__proto__trace__v1__span__init(&empty);
    Span **spans = malloc(n * sizeof(*spans));
    for (size_t i = 0; i < n; i++)
        spans[i] = &empty;
    Opentelemetry__Proto__Trace__V1__ScopeSpans ss;
    opentelemetry__proto__trace__v1__scope_spans__init(&ss);
    ss.n_spans = n;
    ss.spans = spans;
    Opentelemetry__Proto__Trace__V1__ScopeSpans *sss[1] = {&ss};
    Opentelemetry__Proto__Trace__V1__ResourceSpans rs;
    opentelemetry__proto__trace__v1__resource_spans__init(&rs);
    rs.n_scope_spans = 1;
    rs.scope_spans = sss;
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rss[1] = {&rs};
    TraceRequest req;
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(&req);
    req.n_resource_spans = 1;
    req.resource_spans = rss;
    CHECK(same_as_pack(&pb, &req.base));

    free(spans);
    ct_buf_free(&pb);
    ct_buf_free(&json);
}

/*
 * Members out of field order, members given twice, a oneof given two
 * members, a value set back to its default, values longer than 127 and
 * 16383 bytes: the bytes are still those protobuf-c packs for the message
 * where each later value overwrote the earlier one.
 */
static void test_member_order_and_repeats(void)
{
    char *big = repeat('x', 20000);
    char *text = malloc(strlen(big) + 1024);
    ct_buf_t pb = {0};
    char err[256] = "";

    sprintf(text,
            "{'resourceSpans':[{'scopeSpans':[{'spans':[{"
            "'name':'b','kind':3,'traceId':'0102030405060708090a0b0c0d0e0f10','name':'a',"
            "'status':{'code':2},'droppedLinksCount':7,'droppedLinksCount':0,"
            "'attributes':[{'key':'x'}],"
            "'attributes':[{'value':{'stringValue':'s','intValue':'-5'},'key':'k'},"
            "{'key':'big','value':{'stringValue':'%s'}}],"
            "'status':{'message':'m'},'kind':null}],'scope':{'name':'lib'}}],"
            "'schemaUrl':'u','resource':{}}]}",
            big);
    char *json = J(text);
    CHECK_EQ_INT(decode(CT_SIGNAL_TRACES, json, &pb, err, sizeof(err)), 0);

    static uint8_t tid[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    AnyValue v[2];
    KeyValue kv[2];
    KeyValue *attrs[2] = {&kv[0], &kv[1]};
    for (int i = 0; i < 2; i++) {
        opentelemetry__proto__common__v1__any_value__init(&v[i]);
        opentelemetry__proto__common__v1__key_value__init(&kv[i]);
        kv[i].value = &v[i];
    }
    kv[0].key = "k";
    v[0].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    v[0].int_value = -5;
    kv[1].key = "big";
    set_string(&v[1], big);

    Opentelemetry__Proto__Trace__V1__Status st;
    opentelemetry__proto__trace__v1__status__init(&st);
    st.message = "m";
    Span span;
    opentelemetry__proto__trace__v1__span__init(&span);
    span.trace_id = (ProtobufCBinaryData){16, tid};
    span.name = "a";
    span.kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT;
    span.n_attributes = 2;
    span.attributes = attrs;
    span.status = &st;

    Opentelemetry__Proto__Common__V1__InstrumentationScope scope;
    opentelemetry__proto__common__v1__instrumentation_scope__init(&scope);
    scope.name = "lib";
    Span *spans[1] = {&span};
    Opentelemetry__Proto__Trace__V1__ScopeSpans ss;
    opentelemetry__proto__trace__v1__scope_spans__init(&ss);
    ss.scope = &scope;
    ss.n_spans = 1;
    ss.spans = spans;
    Opentelemetry__Proto__Resource__V1__Resource res;
    opentelemetry__proto__resource__v1__resource__init(&res);
    Opentelemetry__Proto__Trace__V1__ScopeSpans *sss[1] = {&ss};
    Opentelemetry__Proto__Trace__V1__ResourceSpans rs;
    opentelemetry__proto__trace__v1__resource_spans__init(&rs);
    rs.resource = &res;
    rs.n_scope_spans = 1;
    rs.scope_spans = sss;
    rs.schema_url = "u";
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rss[1] = {&rs};
    TraceRequest req;
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(&req);
    req.n_resource_spans = 1;
    req.resource_spans = rss;
    CHECK(same_as_pack(&pb, &req.base));

    ct_buf_free(&pb);
    free(json);
    free(text);
    free(big);
}

/* Packed arrays (one given twice, one empty), a oneof's later member, optional at zero. */
static void test_packed_and_oneofs(void)
{
    char *json = J("{'resourceMetrics':[{'scopeMetrics':[{'metrics':[{"
                   "'gauge':{'dataPoints':[{}]},'histogram':{'dataPoints':[{"
                   "'bucketCounts':['1','2'],'explicitBounds':[1,2],'explicitBounds':[0.5,-3],"
                   "'sum':0,'count':'3','min':null,'max':5}],'aggregationTemporality':2},"
                   "'name':'h'},{'exponentialHistogram':{'dataPoints':[{'scale':-3,"
                   "'positive':{'offset':-2,'bucketCounts':['4','0','300']},"
                   "'negative':{'bucketCounts':[]}}]}}]}]}]}");
    ct_buf_t pb = {0};
    char err[256] = "";
    CHECK_EQ_INT(decode(CT_SIGNAL_METRICS, json, &pb, err, sizeof(err)), 0);

    uint64_t counts[2] = {1, 2}, ecounts[3] = {4, 0, 300};
    double bounds[2] = {0.5, -3};
    Opentelemetry__Proto__Metrics__V1__HistogramDataPoint dp;
    opentelemetry__proto__metrics__v1__histogram_data_point__init(&dp);
    dp.count = 3;
    dp._sum_case = OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT___SUM_SUM;
    dp.sum = 0;
    dp._max_case = OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT___MAX_MAX;
    dp.max = 5;
    dp.n_bucket_counts = 2;
    dp.bucket_counts = counts;
    dp.n_explicit_bounds = 2;
    dp.explicit_bounds = bounds;
    Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *dps[1] = {&dp};
    Opentelemetry__Proto__Metrics__V1__Histogram h;
    opentelemetry__proto__metrics__v1__histogram__init(&h);
    h.n_data_points = 1;
    h.data_points = dps;
    h.aggregation_temporality =
        OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE;

    Opentelemetry__Proto__Metrics__V1__ExponentialHistogramDataPoint__Buckets pos, neg;
    opentelemetry__proto__metrics__v1__exponential_histogram_data_point__buckets__init(&pos);
    opentelemetry__proto__metrics__v1__exponential_histogram_data_point__buckets__init(&neg);
    pos.offset = -2;
    pos.n_bucket_counts = 3;
    pos.bucket_counts = ecounts;
    Opentelemetry__Proto__Metrics__V1__ExponentialHistogramDataPoint edp;
    opentelemetry__proto__metrics__v1__exponential_histogram_data_point__init(&edp);
    edp.scale = -3;
    edp.positive = &pos;
    edp.negative = &neg;
    Opentelemetry__Proto__Metrics__V1__ExponentialHistogramDataPoint *edps[1] = {&edp};
    Opentelemetry__Proto__Metrics__V1__ExponentialHistogram eh;
    opentelemetry__proto__metrics__v1__exponential_histogram__init(&eh);
    eh.n_data_points = 1;
    eh.data_points = edps;

    Opentelemetry__Proto__Metrics__V1__Metric m[2];
    opentelemetry__proto__metrics__v1__metric__init(&m[0]);
    opentelemetry__proto__metrics__v1__metric__init(&m[1]);
    m[0].name = "h";
    m[0].data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM;
    m[0].histogram = &h;
    m[1].data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_EXPONENTIAL_HISTOGRAM;
    m[1].exponential_histogram = &eh;
    Opentelemetry__Proto__Metrics__V1__Metric *ms[2] = {&m[0], &m[1]};
    Opentelemetry__Proto__Metrics__V1__ScopeMetrics sm;
    opentelemetry__proto__metrics__v1__scope_metrics__init(&sm);
    sm.n_metrics = 2;
    sm.metrics = ms;
    Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sms[1] = {&sm};
    Opentelemetry__Proto__Metrics__V1__ResourceMetrics rm;
    opentelemetry__proto__metrics__v1__resource_metrics__init(&rm);
    rm.n_scope_metrics = 1;
    rm.scope_metrics = sms;
    Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rms[1] = {&rm};
    MetricsRequest req;
    opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__init(&req);
    req.n_resource_metrics = 1;
    req.resource_metrics = rms;
    CHECK(same_as_pack(&pb, &req.base));

    ct_buf_free(&pb);
    free(json);
}

/*
 * A bounded out limits the message as protobuf-c would pack it: values
 * replaced later do not count, and an invalid request is reported as invalid
 * even when it is too large too.
 */
static void test_limit_is_on_final_message(void)
{
    char *big = repeat('x', 200);
    char members[512];
    char err[256] = "";
    ct_buf_t ref = {0}, out = {.max = 64};

    snprintf(members, sizeof(members), "'name':'%s','name':'short'", big);
    char *replaced = span_json(members);
    CHECK_EQ_INT(decode(CT_SIGNAL_TRACES, replaced, &ref, err, sizeof(err)), 0);
    CHECK(ref.len < 64);
    CHECK_EQ_INT(decode(CT_SIGNAL_TRACES, replaced, &out, err, sizeof(err)), 0);
    CHECK(out.len == ref.len && memcmp(out.data, ref.data, ref.len) == 0);

    snprintf(members, sizeof(members), "'name':'%s','kind':'SERVER'", big);
    char *invalid = span_json(members);
    CHECK_EQ_INT(decode(CT_SIGNAL_TRACES, invalid, &out, err, sizeof(err)), -EINVAL);
    CHECK_STR_EQ(err, SPAN_PATH "kind: unknown value \"SERVER\" of enum "
                                "opentelemetry.proto.trace.v1.Span.SpanKind");

    snprintf(members, sizeof(members), "'name':'%s'", big);
    char *large = span_json(members);
    CHECK_EQ_INT(decode(CT_SIGNAL_TRACES, large, &out, err, sizeof(err)), -E2BIG);
    CHECK_STR_EQ(err, "message too large");
    CHECK_EQ_INT(out.len, 0);

    free(large);
    free(invalid);
    free(replaced);
    free(big);
    ct_buf_free(&out);
    ct_buf_free(&ref);
}

/* ---------------------------------------------------------------------------
 * The encoder reads the wire format itself and leaves odd inputs to the old
 * encoder, which unpacks with protobuf-c. Both are reachable here (not through
 * the header); random requests must give the same bytes either way.
 */
int ct_otlp_json_encode_unpacked(const ProtobufCMessageDescriptor *d, const uint8_t *pb, size_t len,
                                 ct_buf_t *out, char *err, size_t errlen);
int ct_otlp_json_encode_walk(const ProtobufCMessageDescriptor *d, const uint8_t *pb, size_t len,
                             ct_buf_t *out);

#define WALK_FALLBACK 1

typedef struct rnd {
    uint64_t s;
} rnd_t;

static uint64_t rnd_next(rnd_t *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return r->s;
}

static size_t rnd_below(rnd_t *r, size_t n)
{
    return n ? (size_t)(rnd_next(r) % n) : 0;
}

static void put_varint(ct_buf_t *b, uint64_t v)
{
    while (v >= 0x80) {
        ct_buf_putc(b, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    ct_buf_putc(b, (uint8_t)v);
}

static void put_le(ct_buf_t *b, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        ct_buf_putc(b, (uint8_t)(v >> (8 * i)));
}

/* Values that meet the encoder's corners: zero, signs, 32-bit overflow, NaN, -0.0. */
static uint64_t rnd_scalar(rnd_t *r, ProtobufCType t)
{
    size_t shift;
    static const uint64_t varints[] = {0,
                                       1,
                                       2,
                                       127,
                                       128,
                                       300,
                                       0x7fffffff,
                                       0x80000000,
                                       0xffffffff,
                                       0x100000000ull,
                                       0x7fffffffffffffffull,
                                       UINT64_MAX,
                                       UINT64_MAX - 5,
                                       1ull << 63};
    static const uint64_t doubles[] = {0,
                                       0x8000000000000000ull,
                                       0x3ff8000000000000ull,
                                       0x7ff8000000000000ull,
                                       0x7ff0000000000000ull,
                                       0xfff0000000000000ull,
                                       0x0000000000000001ull,
                                       0x3fb999999999999aull};
    static const uint64_t floats[] = {0,           0x80000000u, 0x3fc00000u, 0x7fc00000u,
                                      0x7f800000u, 0xff800000u, 1,           0x3dcccccdu};
    switch (t) {
    case PROTOBUF_C_TYPE_DOUBLE:
        return rnd_below(r, 3) ? doubles[rnd_below(r, CT_ARRAY_LEN(doubles))] : rnd_next(r);
    case PROTOBUF_C_TYPE_FLOAT:
        return rnd_below(r, 3) ? floats[rnd_below(r, CT_ARRAY_LEN(floats))] : (uint32_t)rnd_next(r);
    default:
        if (rnd_below(r, 3))
            return varints[rnd_below(r, CT_ARRAY_LEN(varints))];
        shift = rnd_below(r, 64); /* apart: the order of two calls in one expression is open */
        return rnd_next(r) >> shift;
    }
}

/* One scalar value without its tag, in field type t's wire form. */
static void put_scalar(ct_buf_t *b, ProtobufCType t, uint64_t v)
{
    switch (t) {
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        put_le(b, v, 4);
        break;
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        put_le(b, v, 8);
        break;
    default:
        put_varint(b, v);
    }
}

static int wire_of(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return 5;
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 1;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_MESSAGE:
        return 2;
    default:
        return 0;
    }
}

static void put_len_bytes(ct_buf_t *b, const void *p, size_t n)
{
    put_varint(b, n);
    ct_buf_append(b, p, n);
}

static void gen_message(rnd_t *r, const ProtobufCMessageDescriptor *d, int depth, ct_buf_t *b);

/* One field of d, tag included: mostly valid for ct_wire_check, now and then not. */
static void gen_field(rnd_t *r, const ProtobufCFieldDescriptor *f, int depth, ct_buf_t *b)
{
    int wt = wire_of(f->type);
    int packed = f->label == PROTOBUF_C_LABEL_REPEATED && wt != 2 && rnd_below(r, 2);

    put_varint(b, (uint64_t)f->id << 3 | (packed ? 2 : (unsigned)wt));
    if (packed) {
        ct_buf_t run = {0};
        size_t n = rnd_below(r, 5);
        for (size_t i = 0; i < n; i++)
            put_scalar(&run, f->type, rnd_scalar(r, f->type));
        put_len_bytes(b, run.data, run.len);
        ct_buf_free(&run);
    } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        ct_buf_t sub = {0};
        if (depth < 7)
            gen_message(r, f->descriptor, depth + 1, &sub);
        put_len_bytes(b, sub.data, sub.len);
        ct_buf_free(&sub);
    } else if (f->type == PROTOBUF_C_TYPE_BYTES) {
        /* Ids are empty or of their size, which ct_wire_check requires; now and then not. */
        uint8_t v[40];
        size_t n = rnd_below(r, 20);
        if (strstr(f->name, "_id") && rnd_below(r, 8))
            n = rnd_below(r, 3) == 0 ? 0 : strcmp(f->name, "trace_id") == 0 ? 16 : 8;
        for (size_t i = 0; i < n; i++)
            v[i] = (uint8_t)rnd_next(r);
        put_len_bytes(b, v, n);
    } else if (f->type == PROTOBUF_C_TYPE_STRING) {
        /* Escapes, multi-byte UTF-8, invalid UTF-8 and NUL. */
        static const char *const pieces[] = {
            "a",    "xyz",  "\"",           "\\",           "\n",
            "\x01", "\x1f", "\xc3\xa9",     "\xe2\x82\xac", "\xf0\x9f\x98\x80",
            "\xff", "\xc3", "\xed\xa0\x80", "\xc0\xaf",     "\x7f",
            "/",    "\0"};
        ct_buf_t s = {0};
        size_t n = rnd_below(r, 6);
        for (size_t i = 0; i < n; i++) {
            size_t k = rnd_below(r, CT_ARRAY_LEN(pieces));
            ct_buf_append(&s, pieces[k], k + 1 == CT_ARRAY_LEN(pieces) ? 1 : strlen(pieces[k]));
        }
        put_len_bytes(b, s.data, s.len);
        ct_buf_free(&s);
    } else {
        put_scalar(b, f->type, rnd_scalar(r, f->type));
    }
}

/* An unknown field of any usable wire type. */
static void gen_unknown(rnd_t *r, ct_buf_t *b)
{
    static const int wts[] = {0, 1, 2, 5};
    int wt = wts[rnd_below(r, 4)];
    put_varint(b, (uint64_t)(100 + rnd_below(r, 1000)) << 3 | (unsigned)wt);
    if (wt == 0)
        put_varint(b, rnd_next(r));
    else if (wt == 1)
        put_le(b, rnd_next(r), 8);
    else if (wt == 5)
        put_le(b, rnd_next(r), 4);
    else
        put_len_bytes(b, "abc", rnd_below(r, 4));
}

/*
 * Fields in random order, some repeated: scalars given twice, oneof members
 * replacing each other, now and then a singular message twice (protobuf-c
 * merges those: the walk leaves them to it).
 */
static void gen_message(rnd_t *r, const ProtobufCMessageDescriptor *d, int depth, ct_buf_t *b)
{
    size_t n = rnd_below(r, depth < 3 ? 5 : 8);
    for (size_t i = 0; i < n; i++) {
        if (rnd_below(r, 25) == 0) {
            gen_unknown(r, b);
            continue;
        }
        const ProtobufCFieldDescriptor *f = &d->fields[rnd_below(r, d->n_fields)];
        if (f->type == PROTOBUF_C_TYPE_MESSAGE && f->label != PROTOBUF_C_LABEL_REPEATED &&
            rnd_below(r, 20) != 0) {
            /* Mostly once: skip a second occurrence of a singular message. */
            int seen = 0;
            for (size_t pos = 0; pos < b->len && !seen;) {
                uint64_t tag, v;
                size_t k = ct_wire_get_varint(b->data + pos, b->len - pos, &tag);
                if (k == 0)
                    break;
                pos += k;
                seen = (tag >> 3) == f->id;
                switch (tag & 7) {
                case 0:
                    k = ct_wire_get_varint(b->data + pos, b->len - pos, &v);
                    pos += k ? k : b->len;
                    break;
                case 1:
                    pos += 8;
                    break;
                case 5:
                    pos += 4;
                    break;
                default:
                    k = ct_wire_get_varint(b->data + pos, b->len - pos, &v);
                    pos += k + v;
                }
            }
            if (seen)
                continue;
        }
        gen_field(r, f, depth, b);
    }
}

/* The two encoders on one input: same rc, bytes and message, also under a small limit. */
static int encoders_agree(const ProtobufCMessageDescriptor *d, const uint8_t *pb, size_t len,
                          size_t max, int *walked)
{
    ct_buf_t a = {.max = max}, b = {.max = max}, w = {.max = max};
    char ea[256] = "", eb[256] = "";
    int ra = ct_otlp_json_encode_desc(d, pb, len, &a, ea, sizeof(ea));
    int rb = ct_otlp_json_encode_unpacked(d, pb, len, &b, eb, sizeof(eb));
    int rw = ct_otlp_json_encode_walk(d, pb, len, &w);
    int same = ra == rb && a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0) &&
               strcmp(ea, eb) == 0;

    /* When the walk alone answers, it is what the public function returned. */
    if (rw != WALK_FALLBACK) {
        same = same && rw == ra && w.len == a.len && (w.len == 0 || !memcmp(w.data, a.data, w.len));
        (*walked)++;
    }
    if (!same)
        fprintf(stderr, "encoders differ (rc %d/%d/%d, max %zu):\n  new: %.*s\n  old: %.*s\n", ra,
                rb, rw, max, (int)a.len, (char *)a.data, (int)b.len, (char *)b.data);
    ct_buf_free(&a);
    ct_buf_free(&b);
    ct_buf_free(&w);
    return same;
}

static void test_encoder_differential(void)
{
    static const ProtobufCMessageDescriptor *const descs[] = {
        &opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor,
        &opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__descriptor,
        &opentelemetry__proto__collector__logs__v1__export_logs_service_request__descriptor,
        &google__rpc__status__descriptor, /* error bodies: the first field is a scalar */
    };
    rnd_t r = {0x2545f4914f6cdd1dull};
    int cases = 0, checked = 0, walked = 0, valid_walked = 0, mutated_walked = 0, differ = 0;

    for (int iter = 0; iter < 6000; iter++) {
        size_t si = (size_t)iter % CT_ARRAY_LEN(descs);
        ct_buf_t pb = {0};
        char err[256];
        size_t items;

        /* Requests start with resources, which make depth likely; a Status gets any field. */
        size_t nres = 1 + rnd_below(&r, 3);
        for (size_t i = 0; i < nres; i++)
            gen_field(&r, &descs[si]->fields[0], 1, &pb);
        if (descs[si]->n_fields > 1 || rnd_below(&r, 10) == 0)
            gen_message(&r, descs[si], 1, &pb);

        int valid = si < CT_SIGNAL_COUNT &&
                    ct_wire_check((ct_signal_t)si, pb.data, pb.len, &items, err, sizeof(err)) == 0;
        int before = walked;
        checked += valid;
        cases++;
        if (!encoders_agree(descs[si], pb.data, pb.len, 0, &walked))
            differ++;
        valid_walked += valid && walked > before;
        if (valid && rnd_below(&r, 4) == 0 &&
            !encoders_agree(descs[si], pb.data, pb.len, rnd_below(&r, pb.len * 3 + 2), &walked))
            differ++;

        /* A mutated copy: a byte changed, or cut short. */
        if (pb.len > 0) {
            ct_buf_t m = {0};
            ct_buf_append(&m, pb.data, pb.len);
            size_t at = rnd_below(&r, m.len);
            if (rnd_below(&r, 3) == 0)
                m.len = at;
            else
                m.data[at] = (uint8_t)rnd_next(&r);
            before = walked;
            if (!encoders_agree(descs[si], m.data, m.len, 0, &walked))
                differ++;
            mutated_walked += walked - before;
            cases++;
            ct_buf_free(&m);
        }
        ct_buf_free(&pb);
    }
    CHECK_EQ_INT(differ, 0);
    /* The generator must mostly make valid requests, which the walk mostly answers alone. */
    CHECK(checked > 3000);
    CHECK(valid_walked > checked / 2);
    CHECK(mutated_walked > 500);
    printf("encoder differential: %d cases, %d passed ct_wire_check (%d of them answered by the "
           "walk), %d mutated answered by the walk\n",
           cases, checked, valid_walked, mutated_walked);
}

/* Cases the walk must leave to protobuf-c, and their answers. */
static void test_encoder_fallbacks(void)
{
    const ProtobufCMessageDescriptor *d =
        &opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor;
    /* resourceSpans { resource { attributes {key "a"} } resource { attributes {key "b"} } } */
    static const uint8_t merged[] = {0x0a, 0x10, 0x0a, 0x06, 0x0a, 0x04, 0x0a, 0x02, 'k',
                                     'a',  0x0a, 0x06, 0x0a, 0x04, 0x0a, 0x02, 'k',  'b'};
    /* A group tag, then a truncated length. */
    static const uint8_t group[] = {0x0b, 0x0c};
    static const uint8_t cut[] = {0x0a, 0x05, 0x0a};
    ct_buf_t out = {0};
    char err[256];
    int walked = 0;

    CHECK_EQ_INT(ct_otlp_json_encode_walk(d, merged, sizeof(merged), &out), WALK_FALLBACK);
    CHECK_EQ_INT(out.len, 0);
    CHECK_EQ_INT(ct_otlp_json_encode_desc(d, merged, sizeof(merged), &out, err, sizeof(err)), 0);
    CHECK(ct_buf_putc(&out, 0) == 0);
    CHECK_STR_EQ((char *)out.data, "{\"resourceSpans\":[{\"resource\":{\"attributes\":"
                                   "[{\"key\":\"ka\"},{\"key\":\"kb\"}]}}]}");
    CHECK(encoders_agree(d, merged, sizeof(merged), 0, &walked));
    CHECK_EQ_INT(ct_otlp_json_encode_walk(d, group, sizeof(group), &out), WALK_FALLBACK);
    CHECK(encoders_agree(d, group, sizeof(group), 0, &walked));
    CHECK_EQ_INT(ct_otlp_json_encode_walk(d, cut, sizeof(cut), &out), WALK_FALLBACK);
    CHECK(encoders_agree(d, cut, sizeof(cut), 0, &walked));
    CHECK_EQ_INT(walked, 0);
    ct_buf_free(&out);
}

/*
 * A million empty spans: the walk answers alone (no protobuf-c structs) and
 * writes the expected text.
 */
static void test_encode_many_empty_spans(void)
{
    size_t n = 1000000;
    ct_buf_t pb = {0}, spans = {0}, out = {0};
    char err[256] = "";

    for (size_t i = 0; i < n; i++)
        ct_buf_append(&spans, "\x12\x00", 2);
    ct_buf_putc(&pb, 0x0a);
    put_varint(&pb, 1 + ct_wire_varint_size(spans.len) + spans.len);
    ct_buf_putc(&pb, 0x12);
    put_varint(&pb, spans.len);
    ct_buf_append(&pb, spans.data, spans.len);
    CHECK_EQ_INT(ct_otlp_json_encode(CT_SIGNAL_TRACES, pb.data, pb.len, &out, err, sizeof(err)), 0);

    const char *head = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{}";
    const char *tail = "]}]}]}";
    size_t want = strlen(head) + (n - 1) * 3 + strlen(tail);
    CHECK_EQ_INT(out.len, want);
    CHECK(out.len == want && memcmp(out.data, head, strlen(head)) == 0 &&
          memcmp(out.data + want - strlen(tail), tail, strlen(tail)) == 0);
    ct_buf_free(&out);
    CHECK_EQ_INT(
        ct_otlp_json_encode_walk(
            &opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor,
            pb.data, pb.len, &out),
        0);
    ct_buf_free(&pb);
    ct_buf_free(&spans);
    ct_buf_free(&out);
}

int main(void)
{
    test_encode_span();
    test_decode_spec_example();
    test_round_trips();
    test_ids();
    test_integers();
    test_enums_and_names();
    test_doubles();
    test_depth();
    test_lenient_input();
    test_malformed();
    test_buffers_and_bad_input();
    test_status();
    test_mutations();
    test_many_empty_spans();
    test_member_order_and_repeats();
    test_packed_and_oneofs();
    test_limit_is_on_final_message();
    test_encoder_differential();
    test_encoder_fallbacks();
    test_encode_many_empty_spans();
    return ct_test_report();
}
