/*
 * Tests of the file exporter, built through its factory from YAML: the bytes
 * it writes in each format (JSON lines with hex ids, length-prefixed proto,
 * zstd), truncate and append, rotation and pruning, concurrent writers, and
 * the results it reports for bad input, a full disk and a closed instance.
 */
#include "ct_component.h"
#include "ct_config.h"
#include "ct_request.h"
#include "ct_test.h"
#include "file_rotation.h"
#include "otlp_json.h"

#include "opentelemetry/proto/collector/logs/v1/logs_service.pb-c.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

extern const ct_factory_t ct_file_exporter_factory;

static char tmpdir[256];

/* ---- building requests with protobuf-c ---- */

typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *p = malloc(*len ? *len : 1);
    protobuf_c_message_pack(m, p);
    return p;
}

/* A trace request: one resource, one scope, `nspans` spans with ids 01..10 / a1..a8. */
static uint8_t *traces_request(size_t nspans, const char *big_attr, size_t *len)
{
    static uint8_t trace_id[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    static uint8_t span_id[8] = {0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8};
    AnyValue svc = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    svc.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    svc.string_value = "checkout";
    KeyValue svc_kv = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
    svc_kv.key = "service.name";
    svc_kv.value = &svc;
    KeyValue *res_attrs[] = {&svc_kv};
    Opentelemetry__Proto__Resource__V1__Resource res =
        OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
    res.n_attributes = 1;
    res.attributes = res_attrs;

    AnyValue big = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    big.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    big.string_value = (char *)big_attr;
    KeyValue big_kv = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
    big_kv.key = "payload";
    big_kv.value = &big;
    KeyValue *span_attrs[] = {&big_kv};

    Opentelemetry__Proto__Trace__V1__Span *spans[16];
    Opentelemetry__Proto__Trace__V1__Span span[16];
    for (size_t i = 0; i < nspans && i < 16; i++) {
        opentelemetry__proto__trace__v1__span__init(&span[i]);
        span[i].trace_id = (ProtobufCBinaryData){16, trace_id};
        span[i].span_id = (ProtobufCBinaryData){8, span_id};
        span[i].name = "GET /cart";
        span[i].start_time_unix_nano = 1700000000000000000ull;
        span[i].end_time_unix_nano = 1700000000001000000ull;
        if (big_attr) {
            span[i].n_attributes = 1;
            span[i].attributes = span_attrs;
        }
        spans[i] = &span[i];
    }
    Opentelemetry__Proto__Trace__V1__ScopeSpans ss =
        OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
    ss.n_spans = nspans;
    ss.spans = spans;
    Opentelemetry__Proto__Trace__V1__ScopeSpans *sss[] = {&ss};
    Opentelemetry__Proto__Trace__V1__ResourceSpans rs =
        OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
    rs.resource = &res;
    rs.n_scope_spans = 1;
    rs.scope_spans = sss;
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rss[] = {&rs};
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest req =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    req.n_resource_spans = 1;
    req.resource_spans = rss;
    return pack(&req.base, len);
}

static uint8_t *metrics_request(size_t *len)
{
    Opentelemetry__Proto__Metrics__V1__NumberDataPoint dp =
        OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__INIT;
    dp.value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT;
    dp.as_int = 42;
    dp.time_unix_nano = 1700000000000000000ull;
    Opentelemetry__Proto__Metrics__V1__NumberDataPoint *dps[] = {&dp};
    Opentelemetry__Proto__Metrics__V1__Gauge g = OPENTELEMETRY__PROTO__METRICS__V1__GAUGE__INIT;
    g.n_data_points = 1;
    g.data_points = dps;
    Opentelemetry__Proto__Metrics__V1__Metric m = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__INIT;
    m.name = "queue.depth";
    m.data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE;
    m.gauge = &g;
    Opentelemetry__Proto__Metrics__V1__Metric *ms[] = {&m};
    Opentelemetry__Proto__Metrics__V1__ScopeMetrics sm =
        OPENTELEMETRY__PROTO__METRICS__V1__SCOPE_METRICS__INIT;
    sm.n_metrics = 1;
    sm.metrics = ms;
    Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sms[] = {&sm};
    Opentelemetry__Proto__Metrics__V1__ResourceMetrics rm =
        OPENTELEMETRY__PROTO__METRICS__V1__RESOURCE_METRICS__INIT;
    rm.n_scope_metrics = 1;
    rm.scope_metrics = sms;
    Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rms[] = {&rm};
    Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest req =
        OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_SERVICE_REQUEST__INIT;
    req.n_resource_metrics = 1;
    req.resource_metrics = rms;
    return pack(&req.base, len);
}

static uint8_t *logs_request(size_t *len)
{
    static uint8_t trace_id[16] = {0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88,
                                   0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x00};
    AnyValue body = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    body.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    body.string_value = "payment accepted";
    Opentelemetry__Proto__Logs__V1__LogRecord lr = OPENTELEMETRY__PROTO__LOGS__V1__LOG_RECORD__INIT;
    lr.time_unix_nano = 1700000000000000000ull;
    lr.severity_number = OPENTELEMETRY__PROTO__LOGS__V1__SEVERITY_NUMBER__SEVERITY_NUMBER_INFO;
    lr.body = &body;
    lr.trace_id = (ProtobufCBinaryData){16, trace_id};
    Opentelemetry__Proto__Logs__V1__LogRecord *lrs[] = {&lr};
    Opentelemetry__Proto__Logs__V1__ScopeLogs sl = OPENTELEMETRY__PROTO__LOGS__V1__SCOPE_LOGS__INIT;
    sl.n_log_records = 1;
    sl.log_records = lrs;
    Opentelemetry__Proto__Logs__V1__ScopeLogs *sls[] = {&sl};
    Opentelemetry__Proto__Logs__V1__ResourceLogs rl =
        OPENTELEMETRY__PROTO__LOGS__V1__RESOURCE_LOGS__INIT;
    rl.n_scope_logs = 1;
    rl.scope_logs = sls;
    Opentelemetry__Proto__Logs__V1__ResourceLogs *rls[] = {&rl};
    Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest req =
        OPENTELEMETRY__PROTO__COLLECTOR__LOGS__V1__EXPORT_LOGS_SERVICE_REQUEST__INIT;
    req.n_resource_logs = 1;
    req.resource_logs = rls;
    return pack(&req.base, len);
}

/* ---- building and driving an instance ---- */

typedef struct fixture {
    ct_instance_t inst;
    ct_node_t *root;
} fixture_t;

/* Parses yaml, applies it to the factory's table, validates, creates and starts. */
static int fixture_open(fixture_t *fx, const char *yaml, ct_err_t *err)
{
    const ct_factory_t *f = &ct_file_exporter_factory;
    int rc = -1;
    memset(fx, 0, sizeof *fx);
    fx->inst.factory = f;
    fx->inst.id = (char *)"file";
    fx->inst.name = (char *)"exporter/file";
    fx->inst.config = calloc(1, f->cfg_size);
    fx->root = ct_config_load_string("test.yaml", yaml, strlen(yaml), err);
    if (!fx->root)
        return -1;
    fx->inst.node = fx->root;
    if ((rc = ct_opt_defaults(f->opts, fx->inst.config, err)) != 0)
        return rc;
    if ((rc = ct_opt_apply(f->opts, fx->inst.config, fx->root, "exporters::file", err)) != 0)
        return rc;
    if (f->validate && (rc = f->validate(fx->inst.config, fx->root, err)) != 0)
        return rc;
    if ((rc = f->create(&fx->inst, err)) != 0)
        return rc;
    return f->start(&fx->inst, err);
}

static void fixture_close(fixture_t *fx)
{
    const ct_factory_t *f = &ct_file_exporter_factory;
    if (fx->inst.state) {
        f->shutdown(&fx->inst, ct_now_mono_ns() + 1000000000ull);
        f->destroy(&fx->inst);
    }
    ct_opt_free(f->opts, fx->inst.config);
    free(fx->inst.config);
    ct_node_free(fx->root);
}

static ct_send_result_t send_bytes(fixture_t *fx, ct_signal_t sig, const uint8_t *p, size_t len)
{
    ct_request_t *req = ct_request_copy(sig, p, len, 1);
    ct_send_result_t res = ct_file_exporter_factory.send(&fx->inst, req);
    ct_request_unref(req);
    return res;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        *len = 0;
        return NULL;
    }
    ct_buf_t b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        ct_buf_append(&b, chunk, n);
    fclose(f);
    ct_buf_putc(&b, 0);
    char *s = (char *)ct_buf_take(&b, len);
    (*len)--;
    return s;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- the tests ---- */

/* One OTLP/JSON line per request, hex ids, and each line decodes back to the request. */
static void test_json_lines(void)
{
    char path[300], yaml[400];
    ct_err_t err = {{0}};
    fixture_t fx;
    snprintf(path, sizeof path, "%s/out.json", tmpdir);
    snprintf(yaml, sizeof yaml, "path: %s\n", path);
    CHECK_EQ_INT(fixture_open(&fx, yaml, &err), 0);

    size_t tl, ml, ll;
    uint8_t *t = traces_request(2, NULL, &tl), *m = metrics_request(&ml), *l = logs_request(&ll);
    CHECK_EQ_INT(send_bytes(&fx, CT_SIGNAL_TRACES, t, tl).code, CT_OK);
    CHECK_EQ_INT(send_bytes(&fx, CT_SIGNAL_METRICS, m, ml).code, CT_OK);
    CHECK_EQ_INT(send_bytes(&fx, CT_SIGNAL_LOGS, l, ll).code, CT_OK);

    /* Sent means written: the data is in the file before shutdown. */
    size_t len;
    char *text = read_file(path, &len);
    CHECK(text != NULL);
    char *lines[4] = {0};
    int nlines = 0;
    for (char *save = NULL, *s = strtok_r(text, "\n", &save); s && nlines < 4;
         s = strtok_r(NULL, "\n", &save))
        lines[nlines++] = s;
    CHECK_EQ_INT(nlines, 3);
    CHECK(len > 0 && text[len - 1] == '\0'); /* strtok_r replaced the final newline */
    CHECK_STR_CONTAINS(lines[0], "\"resourceSpans\"");
    CHECK_STR_CONTAINS(lines[0], "\"traceId\":\"0102030405060708090a0b0c0d0e0f10\"");
    CHECK_STR_CONTAINS(lines[0], "\"spanId\":\"a1a2a3a4a5a6a7a8\"");
    CHECK_STR_CONTAINS(lines[1], "\"resourceMetrics\"");
    CHECK_STR_CONTAINS(lines[1], "\"queue.depth\"");
    CHECK_STR_CONTAINS(lines[2], "\"resourceLogs\"");
    CHECK_STR_CONTAINS(lines[2], "\"traceId\":\"ffeeddccbbaa99887766554433221100\"");

    const uint8_t *orig[] = {t, m, l};
    size_t olen[] = {tl, ml, ll};
    for (int i = 0; i < nlines && i < 3; i++) {
        ct_buf_t back = {0};
        char e[256] = "";
        int rc =
            ct_otlp_json_decode((ct_signal_t)i, lines[i], strlen(lines[i]), &back, e, sizeof e);
        CHECK_EQ_INT(rc, 0);
        CHECK(back.len == olen[i] && memcmp(back.data, orig[i], olen[i]) == 0);
        ct_buf_free(&back);
    }
    free(text);
    free(t);
    free(m);
    free(l);
    fixture_close(&fx);
}

/* Each request as a 4-byte big-endian length and the protobuf bytes, unchanged. */
static void test_proto_records(void)
{
    char path[300], yaml[400];
    ct_err_t err = {{0}};
    fixture_t fx;
    snprintf(path, sizeof path, "%s/out.pb", tmpdir);
    snprintf(yaml, sizeof yaml, "path: %s\nformat: proto\nflush_interval: 10ms\n", path);
    CHECK_EQ_INT(fixture_open(&fx, yaml, &err), 0);

    size_t tl, ll;
    uint8_t *t = traces_request(3, "x", &tl), *l = logs_request(&ll);
    CHECK_EQ_INT(send_bytes(&fx, CT_SIGNAL_TRACES, t, tl).code, CT_OK);
    CHECK_EQ_INT(send_bytes(&fx, CT_SIGNAL_LOGS, l, ll).code, CT_OK);
    usleep(30000); /* let the flusher run once with data to sync */
    fixture_close(&fx);

    size_t len;
    uint8_t *data = (uint8_t *)read_file(path, &len);
    CHECK_EQ_INT(len, 4 + tl + 4 + ll);
    if (len == 4 + tl + 4 + ll) {
        CHECK_EQ_INT(be32(data), tl);
        CHECK(memcmp(data + 4, t, tl) == 0);
        CHECK_EQ_INT(be32(data + 4 + tl), ll);
        CHECK(memcmp(data + 8 + tl, l, ll) == 0);
    }
    free(data);
    free(t);
    free(l);
}

/* zstd: each record is a length-prefixed zstd frame of the encoded request. */
static void test_zstd(void)
{
    static const int formats[] = {0, 1};
    for (size_t k = 0; k < 2; k++) {
        char path[300], yaml[400];
        ct_err_t err = {{0}};
        fixture_t fx;
        snprintf(path, sizeof path, "%s/out%zu.zst", tmpdir, k);
        snprintf(yaml, sizeof yaml, "path: %s\nformat: %s\ncompression: zstd\n", path,
                 formats[k] ? "proto" : "json");
        CHECK_EQ_INT(fixture_open(&fx, yaml, &err), 0);
        size_t tl;
        uint8_t *t = traces_request(4, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &tl);
        CHECK_EQ_INT(send_bytes(&fx, CT_SIGNAL_TRACES, t, tl).code, CT_OK);
        fixture_close(&fx);

        size_t len;
        uint8_t *data = (uint8_t *)read_file(path, &len);
        CHECK(len > 4 && be32(data) == len - 4);
        if (len > 4 && be32(data) == len - 4) {
            unsigned long long raw = ZSTD_getFrameContentSize(data + 4, len - 4);
            CHECK(raw != ZSTD_CONTENTSIZE_ERROR && raw != ZSTD_CONTENTSIZE_UNKNOWN);
            char *out = malloc(raw + 1);
            size_t got = ZSTD_decompress(out, raw, data + 4, len - 4);
            CHECK(!ZSTD_isError(got) && got == raw);
            if (formats[k]) {
                CHECK(got == tl && memcmp(out, t, tl) == 0);
            } else {
                out[got] = '\0';
                CHECK(out[0] == '{' && out[got - 1] == '}');
                CHECK_STR_CONTAINS(out, "\"spanId\":\"a1a2a3a4a5a6a7a8\"");
            }
            free(out);
        }
        free(data);
        free(t);
    }
}

/* append: false truncates what was there; append: true keeps it. */
static void test_truncate_and_append(void)
{
    char path[300], yaml[400];
    ct_err_t err = {{0}};
    fixture_t fx;
    size_t tl, len;
    uint8_t *t = traces_request(1, NULL, &tl);
    snprintf(path, sizeof path, "%s/keep.json", tmpdir);

    write_text(path, "old line\n");
    snprintf(yaml, sizeof yaml, "path: %s\n", path);
    CHECK_EQ_INT(fixture_open(&fx, yaml, &err), 0);
    char *text = read_file(path, &len);
    CHECK_EQ_INT(len, 0);
    free(text);
    CHECK_EQ_INT(send_bytes(&fx, CT_SIGNAL_TRACES, t, tl).code, CT_OK);
    fixture_close(&fx);

    write_text(path, "old line\n");
    snprintf(yaml, sizeof yaml, "path: %s\nappend: true\n", path);
    CHECK_EQ_INT(fixture_open(&fx, yaml, &err), 0);
    CHECK_EQ_INT(send_bytes(&fx, CT_SIGNAL_TRACES, t, tl).code, CT_OK);
    fixture_close(&fx);
    text = read_file(path, &len);
    CHECK(text && strncmp(text, "old line\n{\"resourceSpans\"", 25) == 0);
    CHECK(text && text[len - 1] == '\n' && strchr(text + 9, '\n') == text + len - 1);
    free(text);
    free(t);
}

static int count_backups(const char *dir, const char *stem, const char *ext)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, stem, strlen(stem)) == 0 && e->d_name[strlen(stem)] == '-' &&
            len > strlen(ext) && strcmp(e->d_name + len - strlen(ext), ext) == 0)
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

/* Past max_megabytes the file is renamed with a time stamp; max_backups bounds the backups. */
static void test_rotation(void)
{
    char dir[300], path[400], yaml[600];
    ct_err_t err = {{0}};
    fixture_t fx;
    snprintf(dir, sizeof dir, "%s/rot/sub", tmpdir);
    snprintf(path, sizeof path, "%s/data.pb", dir);
    snprintf(yaml, sizeof yaml,
             "path: %s\nformat: proto\ncreate_directory: true\n"
             "rotation:\n  max_megabytes: 1\n  max_backups: 2\n",
             path);
    CHECK_EQ_INT(fixture_open(&fx, yaml, &err), 0);
    if (err.msg[0])
        fprintf(stderr, "%s\n", err.msg);

    /* Requests of ~400 KiB: two fit in 1 MiB, the third starts a new file. */
    size_t big_len = 400 * 1024, tl;
    char *big = malloc(big_len + 1);
    memset(big, 'z', big_len);
    big[big_len] = '\0';
    uint8_t *t = traces_request(1, big, &tl);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(send_bytes(&fx, CT_SIGNAL_TRACES, t, tl).code, CT_OK);
    CHECK_EQ_INT(count_backups(dir, "data", ".pb"), 1);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && (size_t)sb.st_size == 4 + tl);

    /* Six more: three more rotations, of which max_backups keeps the newest two. */
    for (int i = 0; i < 6; i++)
        CHECK_EQ_INT(send_bytes(&fx, CT_SIGNAL_TRACES, t, tl).code, CT_OK);
    CHECK_EQ_INT(count_backups(dir, "data", ".pb"), 2);
    fixture_close(&fx);
    free(big);
    free(t);
}

/* Backup names as the Go collector writes them, and pruning by count and age. */
static void test_backup_names_and_pruning(void)
{
    char name[512];
    uint64_t ms = 1663131734173ull; /* 2022-09-14T05:02:14.173Z */
    CHECK_EQ_INT(file_backup_name("/var/otel/data.json", ms, false, name, sizeof name), 0);
    CHECK(strcmp(name, "/var/otel/data-2022-09-14T05-02-14.173.json") == 0);
    CHECK_EQ_INT(file_backup_name("out", ms, false, name, sizeof name), 0);
    CHECK(strcmp(name, "out-2022-09-14T05-02-14.173") == 0);

    char dir[300], path[400], other[400];
    snprintf(dir, sizeof dir, "%s/prune", tmpdir);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/t.json", dir);
    uint64_t day = 86400000ull, now = ms + 10 * day;
    for (int i = 0; i < 5; i++) {
        file_backup_name(path, ms + (uint64_t)i * 2 * day, false, name, sizeof name);
        write_text(name, "x");
    }
    /* Lookalikes that must survive: another stem and a malformed stamp. */
    snprintf(other, sizeof other, "%s/u-2022-09-14T05-02-14.173.json", dir);
    write_text(other, "x");
    snprintf(other, sizeof other, "%s/t-2022-13-14T05-02-14.173.json", dir);
    write_text(other, "x");

    /* Ages 10, 8, 6, 4, 2 days: max_days 5 removes three; max_backups 1 one more. */
    CHECK_EQ_INT(file_prune_backups(path, 0, 5, false, now), 3);
    CHECK_EQ_INT(file_prune_backups(path, 1, 0, false, now), 1);
    file_backup_name(path, ms + 8 * day, false, name, sizeof name);
    CHECK(access(name, F_OK) == 0);
    CHECK(access(other, F_OK) == 0);
    CHECK_EQ_INT(count_backups(dir, "t", ".json"), 2); /* the newest and the malformed one */
}

typedef struct writer_arg {
    fixture_t *fx;
    const uint8_t *req;
    size_t len;
    int failures;
} writer_arg_t;

static void *writer_main(void *p)
{
    writer_arg_t *a = p;
    for (int i = 0; i < 50; i++)
        if (send_bytes(a->fx, CT_SIGNAL_TRACES, a->req, a->len).code != CT_OK)
            a->failures++;
    return NULL;
}

/* Concurrent senders: every record lands whole, none interleaved. */
static void test_concurrent_writers(void)
{
    char path[300], yaml[400];
    ct_err_t err = {{0}};
    fixture_t fx;
    snprintf(path, sizeof path, "%s/many.pb", tmpdir);
    snprintf(yaml, sizeof yaml, "path: %s\nformat: proto\n", path);
    CHECK_EQ_INT(fixture_open(&fx, yaml, &err), 0);

    size_t len[4];
    uint8_t *req[4];
    pthread_t th[4];
    writer_arg_t args[4];
    char fill[4][2000];
    for (int i = 0; i < 4; i++) {
        memset(fill[i], 'a' + i, sizeof fill[i] - 1);
        fill[i][sizeof fill[i] - 1] = '\0';
        req[i] = traces_request((size_t)i + 1, fill[i], &len[i]);
        args[i] = (writer_arg_t){&fx, req[i], len[i], 0};
        pthread_create(&th[i], NULL, writer_main, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(args[i].failures, 0);
    }
    fixture_close(&fx);

    size_t flen, off = 0;
    int seen[4] = {0}, bad = 0;
    uint8_t *data = (uint8_t *)read_file(path, &flen);
    while (off + 4 <= flen) {
        uint32_t n = be32(data + off);
        int which = -1;
        for (int i = 0; i < 4; i++)
            if (n == len[i] && off + 4 + n <= flen && memcmp(data + off + 4, req[i], n) == 0)
                which = i;
        if (which < 0) {
            bad++;
            break;
        }
        seen[which]++;
        off += 4 + n;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(off, flen);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(seen[i], 50);
        free(req[i]);
    }
    free(data);
}

/* What send reports: bad data is permanent, a full disk retryable, a closed instance final. */
static void test_send_results(void)
{
    char path[300], yaml[400];
    ct_err_t err = {{0}};
    fixture_t fx;
    size_t tl, len;
    uint8_t *t = traces_request(1, NULL, &tl);

    snprintf(path, sizeof path, "%s/bad.json", tmpdir);
    snprintf(yaml, sizeof yaml, "path: %s\n", path);
    CHECK_EQ_INT(fixture_open(&fx, yaml, &err), 0);
    static const uint8_t garbage[] = {0x0a, 0x05, 0x01}; /* field 1, length past the end */
    ct_send_result_t r = send_bytes(&fx, CT_SIGNAL_TRACES, garbage, sizeof garbage);
    CHECK_EQ_INT(r.code, CT_INVALID_ARGUMENT);
    CHECK(!r.retryable);
    char *text = read_file(path, &len);
    CHECK_EQ_INT(len, 0);
    free(text);

    ct_file_exporter_factory.shutdown(&fx.inst, ct_now_mono_ns() + 1000000000ull);
    r = send_bytes(&fx, CT_SIGNAL_TRACES, t, tl);
    CHECK_EQ_INT(r.code, CT_UNAVAILABLE);
    CHECK(!r.retryable);
    fixture_close(&fx);

    /* /dev/full fails every write with ENOSPC. */
    if (access("/dev/full", W_OK) == 0) {
        snprintf(yaml, sizeof yaml, "path: /dev/full\nformat: proto\n");
        CHECK_EQ_INT(fixture_open(&fx, yaml, &err), 0);
        r = send_bytes(&fx, CT_SIGNAL_TRACES, t, tl);
        CHECK_EQ_INT(r.code, CT_UNAVAILABLE);
        CHECK(r.retryable);
        CHECK_STR_CONTAINS(r.message, "No space left on device");
        fixture_close(&fx);
    }
    free(t);
}

/* Configuration errors the table and validate catch. */
static void test_config_errors(void)
{
    static const struct {
        const char *yaml, *msg;
    } cases[] = {
        {"format: json\n", "missing required key 'path'"},
        {"path: /tmp/x\nformat: xml\n", "format"},
        {"path: /tmp/x\ncompression: gzip\n", "compression 'gzip' is not supported"},
        {"path: /tmp/x\nappend: true\ncompression: zstd\n", "append and compression"},
        {"path: /tmp/x\nappend: true\nrotation:\n  max_megabytes: 5\n", "append and rotation"},
        {"path: /tmp/x\ndirectory_permissions: \"0700\"\n", "requires create_directory"},
        {"path: /tmp/x\ncreate_directory: true\ndirectory_permissions: \"999\"\n",
         "not an octal mode"},
        {"path: /tmp/x\nrotation:\n  max_megabytes: 0\n", "max_megabytes"},
        {"path: /tmp/x\ngroup_by:\n  enabled: true\n", "unknown key 'group_by'"},
    };
    const ct_factory_t *f = &ct_file_exporter_factory;
    for (size_t i = 0; i < CT_ARRAY_LEN(cases); i++) {
        ct_err_t err = {{0}};
        ct_node_t *root =
            ct_config_load_string("t.yaml", cases[i].yaml, strlen(cases[i].yaml), &err);
        void *cfg = calloc(1, f->cfg_size);
        int rc = root ? ct_opt_defaults(f->opts, cfg, &err) : -1;
        if (rc == 0)
            rc = ct_opt_apply(f->opts, cfg, root, "exporters::file", &err);
        if (rc == 0)
            rc = f->validate(cfg, root, &err);
        CHECK(rc != 0);
        CHECK_STR_CONTAINS(err.msg, cases[i].msg);
        ct_opt_free(f->opts, cfg);
        free(cfg);
        ct_node_free(root);
    }
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/cotel-file-test-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_json_lines();
    test_proto_records();
    test_zstd();
    test_truncate_and_append();
    test_rotation();
    test_backup_names_and_pruning();
    test_concurrent_writers();
    test_send_results();
    test_config_errors();

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return ct_test_report();
}
