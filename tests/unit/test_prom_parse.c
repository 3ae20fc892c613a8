/*
 * The prometheus receiver without HTTP: the text format parser (metadata,
 * escapes, special values, timestamps, grouping, malformed lines), the
 * configuration it accepts and refuses, and the OTLP a target writes for a
 * scrape (types, values, resource, start times, stale markers, labels).
 */
#include "ct_config.h"
#include "ct_test.h"
#include "ct_wire.h"
#include "prom_parse.h"
#include "prom_receiver.h"

#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest Req;
typedef Opentelemetry__Proto__Metrics__V1__Metric Metric;
typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint NumberPoint;
typedef Opentelemetry__Proto__Metrics__V1__HistogramDataPoint HistPoint;
typedef Opentelemetry__Proto__Metrics__V1__SummaryDataPoint SummaryPoint;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;

#define SEC 1000000000ull
#define CUMULATIVE                                                                                 \
    OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE

/* ---- parser helpers ---- */

static int parse(prom_scrape_t *s, const char *text)
{
    return prom_parse(s, text, strlen(text), NULL);
}

static const prom_family_t *family(const prom_scrape_t *s, const char *name)
{
    for (size_t i = 0; i < s->nfamilies; i++) {
        if (prom_str_eq(s->families[i].name, name, strlen(name)))
            return &s->families[i];
    }
    return NULL;
}

/* The idx-th point of a family, or NULL. */
static const prom_point_t *point(const prom_scrape_t *s, const prom_family_t *f, size_t idx)
{
    for (uint32_t i = f ? f->first : PROM_NONE; i != PROM_NONE; i = s->points[i].next) {
        if (idx-- == 0)
            return &s->points[i];
    }
    return NULL;
}

/* A label's value as a C string (a static buffer), or NULL. */
static const char *label(const prom_point_t *p, const char *name)
{
    static char buf[256];
    for (uint32_t i = 0; p != NULL && i < p->nlabels; i++) {
        if (prom_str_eq(p->labels[i].name, name, strlen(name))) {
            snprintf(buf, sizeof buf, "%.*s", (int)p->labels[i].value.n, p->labels[i].value.p);
            return buf;
        }
    }
    return NULL;
}

static bool bucket(const prom_scrape_t *s, const prom_point_t *p, double bound, double *v)
{
    for (uint32_t b = p ? p->first_bucket : PROM_NONE; b != PROM_NONE; b = s->buckets[b].next) {
        if (s->buckets[b].bound == bound) {
            *v = s->buckets[b].value;
            return true;
        }
    }
    return false;
}

static bool str_is(prom_str_t a, const char *b)
{
    return prom_str_eq(a, b, strlen(b));
}

/* ---- parser tests ---- */

static void test_metadata_and_values(void)
{
    prom_scrape_t s;
    const char *text = "# HELP http_requests_total The total \\\\ number\\nof requests \\t.\n"
                       "# TYPE http_requests_total counter\n"
                       "http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n"
                       "http_requests_total{method=\"post\",code=\"400\"}    3   -12\n"
                       "\n"
                       "# a comment; # TYPE in a comment is not a TYPE line\n"
                       "#TYPE not_meta gauge\n"
                       "  # HELP\tspaced Indented and tabbed.\r\n"
                       "# TYPE spaced gauge\n"
                       "spaced 1.5e-3\r\n"
                       "nan_value NaN\n"
                       "pos_inf +Inf\n"
                       "neg_inf -Inf\n"
                       "plain_inf Inf\n"
                       "hex 0x10\n"
                       "# EOF\n";

    prom_scrape_init(&s);
    CHECK_EQ_INT(parse(&s, text), 0);
    CHECK_EQ_INT(s.samples, 8);
    CHECK_EQ_INT(s.kept, 8);

    const prom_family_t *f = family(&s, "http_requests_total");
    CHECK(f != NULL && f->type == PROM_COUNTER && f->has_type && f->npoints == 2);
    CHECK(f != NULL && str_is(f->help, "The total \\ number\nof requests \\t."));
    const prom_point_t *p = point(&s, f, 0);
    CHECK(p != NULL && p->value == 1027 && p->has_ts && p->ts_ms == 1395066363000);
    /* Labels are sorted by name. */
    CHECK(p != NULL && p->nlabels == 2 && str_is(p->labels[0].name, "code"));
    CHECK(label(p, "method") && strcmp(label(p, "method"), "post") == 0);
    p = point(&s, f, 1);
    CHECK(p != NULL && p->value == 3 && p->has_ts && p->ts_ms == -12);
    CHECK(label(p, "code") && strcmp(label(p, "code"), "400") == 0);

    f = family(&s, "spaced");
    CHECK(f != NULL && f->type == PROM_GAUGE && str_is(f->help, "Indented and tabbed."));
    p = point(&s, f, 0);
    CHECK(p != NULL && fabs(p->value - 0.0015) < 1e-12 && !p->has_ts);
    CHECK(family(&s, "not_meta") == NULL);

    p = point(&s, family(&s, "nan_value"), 0);
    CHECK(p != NULL && isnan(p->value));
    p = point(&s, family(&s, "pos_inf"), 0);
    CHECK(p != NULL && isinf(p->value) && p->value > 0);
    p = point(&s, family(&s, "neg_inf"), 0);
    CHECK(p != NULL && isinf(p->value) && p->value < 0);
    p = point(&s, family(&s, "plain_inf"), 0);
    CHECK(p != NULL && isinf(p->value) && p->value > 0);
    p = point(&s, family(&s, "hex"), 0);
    CHECK(p != NULL && p->value == 16);
    f = family(&s, "nan_value");
    CHECK(f != NULL && f->type == PROM_UNTYPED && !f->has_type);
    prom_scrape_free(&s);
}

static void test_label_escapes(void)
{
    prom_scrape_t s;
    const char *text =
        "msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find "
        "file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9\n"
        "odd{ a = \"x\\ty\" , b=\"\", c=\"}{,=\",} 1\n"
        "empty{} 2\n"
        "utf8{v=\"größe ✓\"} 3\n";

    prom_scrape_init(&s);
    CHECK_EQ_INT(parse(&s, text), 0);
    const prom_point_t *p = point(&s, family(&s, "msdos_file_access_time_seconds"), 0);
    CHECK(label(p, "path") && strcmp(label(p, "path"), "C:\\DIR\\FILE.TXT") == 0);
    CHECK(label(p, "error") && strcmp(label(p, "error"), "Cannot find file:\n\"FILE.TXT\"") == 0);
    CHECK(p != NULL && p->value == 1458255915.0);

    p = point(&s, family(&s, "odd"), 0);
    CHECK(p != NULL && p->nlabels == 3);
    /* An escape other than \\ \" \n stays as written, as Prometheus keeps it. */
    CHECK(label(p, "a") && strcmp(label(p, "a"), "x\\ty") == 0);
    CHECK(label(p, "b") && strcmp(label(p, "b"), "") == 0);
    CHECK(label(p, "c") && strcmp(label(p, "c"), "}{,=") == 0);

    p = point(&s, family(&s, "empty"), 0);
    CHECK(p != NULL && p->nlabels == 0 && p->value == 2);
    p = point(&s, family(&s, "utf8"), 0);
    CHECK(label(p, "v") && strcmp(label(p, "v"), "größe ✓") == 0);
    prom_scrape_free(&s);
}

static void test_histogram_summary_grouping(void)
{
    prom_scrape_t s;
    /* Buckets out of order and two label sets interleaved: grouping must not rely on order. */
    const char *text = "# HELP req_seconds Request time.\n"
                       "# TYPE req_seconds histogram\n"
                       "req_seconds_bucket{path=\"/a\",le=\"0.5\"} 7\n"
                       "req_seconds_bucket{le=\"0.1\",path=\"/a\"} 3\n"
                       "req_seconds_bucket{path=\"/b\",le=\"+Inf\"} 1\n"
                       "req_seconds_bucket{path=\"/a\",le=\"+Inf\"} 9\n"
                       "req_seconds_sum{path=\"/a\"} 2.5\n"
                       "req_seconds_count{path=\"/a\"} 9\n"
                       "req_seconds_count{path=\"/b\"} 1\n"
                       "req_seconds_created{path=\"/a\"} 1700000000\n"
                       "req_seconds{path=\"/a\"} 42\n"
                       "# TYPE rpc summary\n"
                       "rpc{quantile=\"0.99\"} 76656\n"
                       "rpc{quantile=\"0.01\"} 3102\n"
                       "rpc_sum 1.7560473e+07\n"
                       "rpc_count 2693\n"
                       "# HELP jobs Jobs.\n"
                       "# TYPE jobs counter\n"
                       "jobs_total{kind=\"x\"} 5\n"
                       "jobs_created{kind=\"x\"} 1600000000\n"
                       "# TYPE t gauge\n"
                       "t_total 1\n"
                       "loose_bucket{le=\"1\"} 2\n";
    double v = 0;

    prom_scrape_init(&s);
    CHECK_EQ_INT(parse(&s, text), 0);
    const prom_family_t *f = family(&s, "req_seconds");
    CHECK(f != NULL && f->type == PROM_HISTOGRAM && f->npoints == 2);
    CHECK(family(&s, "req_seconds_bucket") == NULL && family(&s, "req_seconds_sum") == NULL);
    const prom_point_t *a = point(&s, f, 0), *b = point(&s, f, 1);
    CHECK(label(a, "path") && strcmp(label(a, "path"), "/a") == 0);
    CHECK(a != NULL && a->nlabels == 1 && label(a, "le") == NULL); /* le is not a label */
    CHECK(a != NULL && a->nbuckets == 3 && a->has_sum && a->sum == 2.5);
    CHECK(a != NULL && a->has_count && a->count == 9);
    CHECK(a != NULL && a->has_created && a->created == 1700000000);
    CHECK(bucket(&s, a, 0.1, &v) && v == 3);
    CHECK(bucket(&s, a, 0.5, &v) && v == 7);
    CHECK(bucket(&s, a, INFINITY, &v) && v == 9);
    CHECK(b != NULL && b->nbuckets == 1 && !b->has_sum && b->has_count && b->count == 1);
    CHECK_EQ_INT(s.ignored, 1); /* req_seconds itself has no place in a histogram */

    f = family(&s, "rpc");
    CHECK(f != NULL && f->type == PROM_SUMMARY && f->npoints == 1);
    a = point(&s, f, 0);
    CHECK(a != NULL && a->nlabels == 0 && a->nbuckets == 2 && a->count == 2693);
    CHECK(bucket(&s, a, 0.99, &v) && v == 76656);
    CHECK(bucket(&s, a, 0.01, &v) && v == 3102);
    CHECK(a != NULL && a->sum == 1.7560473e+07);

    /*
     * A counter declared without _total: as in the Go receiver, its _total samples make a
     * counter of that name, with the declared help; _created goes with them.
     */
    f = family(&s, "jobs_total");
    CHECK(f != NULL && f->type == PROM_COUNTER && f->npoints == 1 && str_is(f->help, "Jobs."));
    a = point(&s, f, 0);
    CHECK(a != NULL && a->has_value && a->value == 5 && a->has_created);
    CHECK(family(&s, "jobs") != NULL && family(&s, "jobs")->npoints == 0);

    /* Suffixes count only for the types that have them. */
    CHECK(family(&s, "t_total") != NULL && family(&s, "t_total")->type == PROM_UNTYPED);
    CHECK(family(&s, "loose_bucket") != NULL);
    a = point(&s, family(&s, "loose_bucket"), 0);
    CHECK(label(a, "le") && strcmp(label(a, "le"), "1") == 0);
    prom_scrape_free(&s);
}

static void expect_error(const char *text, unsigned line, const char *what)
{
    prom_scrape_t s;
    prom_scrape_init(&s);
    int rc = parse(&s, text);
    CHECK_EQ_INT(rc, -EINVAL);
    CHECK_EQ_INT(s.err_line, line);
    CHECK_STR_CONTAINS(s.err, what);
    prom_scrape_free(&s);
}

static void test_malformed(void)
{
    expect_error("ok 1\nfoo{a=\"1\" 1\n", 2, "expected ',' or '}'");
    expect_error("foo 1 2 3\n", 1, "unexpected text after the timestamp");
    expect_error("# TYPE x gauge\nfoo abc\n", 2, "invalid value \"abc\"");
    expect_error("foo 1 1.5\n", 1, "invalid timestamp \"1.5\"");
    expect_error("foo{a=\"x} 1\n", 1, "unterminated value of label a");
    expect_error("# TYPE foo bogus\n", 1, "unknown metric type \"bogus\"");
    expect_error("# TYPE foo counter extra\n", 1, "unexpected text after the type");
    expect_error("# HELP 9foo text\n", 1, "invalid metric name in HELP line");
    expect_error("1foo 3\n", 1, "invalid metric name");
    expect_error("foo-bar 3\n", 1, "invalid metric name");
    expect_error("foo{1a=\"x\"} 1\n", 1, "invalid label name");
    expect_error("foo{a=x} 1\n", 1, "expected '\"' to open the value of label a");
    expect_error("foo{a} 1\n", 1, "expected '=' after label name a");
    expect_error("foo\n", 1, "missing value for foo");
    expect_error("foo{a=\"1\"}\n", 1, "missing value for foo");
    expect_error("foo{a=\"1\",a=\"2\"} 1\n", 1, "label a appears twice");
    expect_error("# TYPE h histogram\nh_bucket{x=\"1\"} 1\n", 2,
                 "histogram bucket sample without a le label");
    expect_error("# TYPE h histogram\nh_bucket{le=\"big\"} 1\n", 2, "invalid le label value");
    expect_error("# TYPE s summary\ns 1\n", 2, "summary quantile sample without a quantile");
    expect_error("g 1\n# TYPE g counter\n", 2, "TYPE line for g after its samples");
    expect_error("foo nan(1)\n", 1, "invalid value");
}

static bool drop_secret(void *arg, prom_str_t name, const prom_label_t *l, size_t n)
{
    int *calls = arg;
    (*calls)++;
    for (size_t i = 0; i < n; i++) {
        if (str_is(l[i].name, "secret"))
            return false;
    }
    return !str_is(name, "dropped");
}

static void test_filter_limit_duplicates_reuse(void)
{
    prom_scrape_t s;
    int calls = 0;
    prom_parse_opts_t o = {.filter = drop_secret, .filter_arg = &calls};
    const char *text = "a 1\na{secret=\"x\"} 2\ndropped 3\nb 4\na 5\n";

    prom_scrape_init(&s);
    CHECK_EQ_INT(prom_parse(&s, text, strlen(text), &o), 0);
    CHECK_EQ_INT(calls, 5);
    CHECK_EQ_INT(s.samples, 5);
    CHECK_EQ_INT(s.kept, 3);
    CHECK_EQ_INT(s.duplicates, 1); /* the second "a" */
    CHECK(point(&s, family(&s, "a"), 0) && point(&s, family(&s, "a"), 0)->value == 1);
    CHECK(family(&s, "dropped") == NULL);

    o.sample_limit = 1;
    CHECK_EQ_INT(prom_parse(&s, text, strlen(text), &o), -E2BIG);
    CHECK_STR_CONTAINS(s.err, "sample limit of 1 exceeded");

    /* The same struct parses again after a failure, and a text without a final newline. */
    CHECK_EQ_INT(prom_parse(&s, "x 1\ny 2", 7, NULL), 0);
    CHECK_EQ_INT(s.nfamilies, 2);
    CHECK(point(&s, family(&s, "y"), 0) && point(&s, family(&s, "y"), 0)->value == 2);
    CHECK_EQ_INT(prom_parse(&s, "", 0, NULL), 0);
    CHECK_EQ_INT(s.nfamilies, 0);
    prom_scrape_free(&s);
}

/* Many series: the indexes grow, and every point is still found once. */
static void test_many_series(void)
{
    prom_scrape_t s;
    ct_buf_t b = {0};
    enum { N = 20000 };

    ct_buf_puts(&b, "# TYPE big counter\n");
    for (int i = 0; i < N; i++)
        ct_buf_printf(&b, "big{i=\"%d\"} %d\nfam_%d 1\n", i, i, i % 500);
    prom_scrape_init(&s);
    CHECK_EQ_INT(prom_parse(&s, (const char *)b.data, b.len, NULL), 0);
    CHECK(family(&s, "big") && family(&s, "big")->npoints == N);
    CHECK_EQ_INT(s.nfamilies, 501);
    CHECK_EQ_INT(s.duplicates, N - 500);
    const prom_point_t *p = point(&s, family(&s, "big"), N - 1);
    CHECK(p != NULL && p->value == N - 1 && label(p, "i") && atoi(label(p, "i")) == N - 1);
    prom_scrape_free(&s);
    ct_buf_free(&b);
}

/* ---- configuration ---- */

typedef struct loaded {
    ct_node_t *root;
    prom_config_t cfg;
    int rc;
    ct_err_t err;
} loaded_t;

static void load(loaded_t *l, const char *yaml)
{
    memset(l, 0, sizeof *l);
    l->root = ct_config_load_string("prom.yaml", yaml, strlen(yaml), &l->err);
    if (l->root == NULL) {
        l->rc = -1;
        return;
    }
    l->rc = prom_config_parse(ct_node_get(l->root, "config"), "receivers::prometheus", &l->cfg,
                              &l->err);
}

static void unload(loaded_t *l)
{
    prom_config_free(&l->cfg);
    ct_node_free(l->root);
}

static void expect_config_error(const char *yaml, const char *what)
{
    loaded_t l;
    load(&l, yaml);
    CHECK(l.rc != 0);
    CHECK_STR_CONTAINS(l.err.msg, what);
    unload(&l);
}

static void test_config(void)
{
    loaded_t l;

    load(&l, "config:\n"
             "  global: {scrape_interval: 30s, scrape_timeout: 20s}\n"
             "  scrape_configs:\n"
             "    - job_name: a\n"
             "      static_configs: [{targets: ['h1:9100', 'h2:9100'], labels: {zone: z1}},\n"
             "                       {targets: ['h3:9100']}]\n"
             "    - job_name: b\n"
             "      scrape_interval: 10s\n"
             "      metrics_path: /m\n"
             "      scheme: https\n"
             "      params: {module: [if_mib, 'a b'], auth: x}\n"
             "      honor_labels: true\n"
             "      body_size_limit: 10MB\n"
             "      metric_relabel_configs:\n"
             "        - {source_labels: [__name__], regex: 'go_.*', action: drop}\n"
             "      static_configs: [{targets: ['h4:1']}]\n");
    CHECK_EQ_INT(l.rc, 0);
    if (l.rc != 0)
        fprintf(stderr, "%s\n", l.err.msg);
    CHECK_EQ_INT(l.cfg.njobs, 2);
    if (l.rc == 0 && l.cfg.njobs == 2) {
        const prom_job_t *a = &l.cfg.jobs[0], *b = &l.cfg.jobs[1];
        CHECK(a->interval_ns == 30 * SEC && a->timeout_ns == 20 * SEC);
        CHECK(strcmp(a->metrics_path, "/metrics") == 0 && a->scheme == PROM_SCHEME_HTTP);
        CHECK(a->honor_timestamps && !a->honor_labels);
        CHECK_EQ_INT(a->ntargets, 3);
        CHECK(a->ntargets == 3 && a->targets[0].labels.n == 1 && a->targets[2].labels.n == 0);
        CHECK(a->ntargets == 3 && strcmp(a->targets[1].address, "h2:9100") == 0);
        /* A job interval under the global timeout caps the timeout. */
        CHECK(b->interval_ns == 10 * SEC && b->timeout_ns == 10 * SEC);
        CHECK(b->scheme == PROM_SCHEME_HTTPS && b->honor_labels);
        CHECK(a->body_size_limit == 0 && b->body_size_limit == 10ull << 20);
        CHECK(b->query && strcmp(b->query, "?auth=x&module=if_mib&module=a+b") == 0);
        CHECK(b->nrelabel == 1 && b->relabel[0].action == PROM_RELABEL_DROP);

        prom_opts_t opts = {0};
        prom_target_t *t = prom_target_new(b, &b->targets[0], &opts);
        CHECK(t &&
              strcmp(prom_target_url(t), "https://h4:1/m?auth=x&module=if_mib&module=a+b") == 0);
        CHECK(t && strcmp(prom_target_instance(t), "h4:1") == 0);
        prom_target_free(t);
    }
    unload(&l);

    /* What cotel does not implement is refused where it is written, not ignored. */
    expect_config_error("config:\n  scrape_configs:\n    - job_name: k\n"
                        "      kubernetes_sd_configs: [{role: pod}]\n",
                        "prom.yaml:4:7: receivers::prometheus::config::scrape_configs[0]: "
                        "'kubernetes_sd_configs' is not supported");
    expect_config_error("config:\n  scrape_configs:\n    - job_name: k\n"
                        "      relabel_configs: []\n",
                        "'relabel_configs' is not supported");
    expect_config_error("config:\n  rule_files: [a]\n  scrape_configs: [{job_name: x}]\n",
                        "prom.yaml:2:3: receivers::prometheus::config: 'rule_files' is not "
                        "supported");
    expect_config_error("config:\n  global: {external_labels: {a: b}}\n"
                        "  scrape_configs: [{job_name: x}]\n",
                        "'external_labels' is not supported");
    expect_config_error("config:\n  scrape_configs:\n    - job_name: k\n"
                        "      metric_relabel_configs:\n"
                        "        - {source_labels: [a], target_label: b, action: replace}\n",
                        "'target_label' is not supported");
    expect_config_error("config:\n  scrape_configs:\n    - job_name: k\n"
                        "      metric_relabel_configs:\n"
                        "        - {source_labels: [a], action: labeldrop}\n",
                        "prom.yaml:5:40: receivers::prometheus::config::scrape_configs[0]::"
                        "metric_relabel_configs[0]: action 'labeldrop' is not supported");
    expect_config_error("config:\n  scrape_configs:\n    - job_name: k\n"
                        "      metric_relabel_configs: [{source_labels: [a], regex: '(?i)x', "
                        "action: keep}]\n",
                        "flags and named groups");
    expect_config_error("config:\n  scrape_configs:\n    - job_name: k\n"
                        "      metric_relabel_configs: [{source_labels: [a], regex: 'a(', "
                        "action: keep}]\n",
                        "::regex: 'a('");
    expect_config_error("config:\n  scrape_configs:\n"
                        "    - {job_name: k, scrape_interval: 5s, scrape_timeout: 6s}\n",
                        "scrape timeout greater than scrape interval");
    expect_config_error("config:\n  scrape_configs: [{job_name: k}, {job_name: k}]\n",
                        "multiple scrape configs with job name \"k\"");
    expect_config_error("config:\n  scrape_configs:\n    - job_name: k\n"
                        "      static_configs: [{targets: ['http://h:1/metrics']}]\n",
                        "'http://h:1/metrics' is not host:port");
    expect_config_error("config:\n  scrape_configs:\n    - job_name: k\n"
                        "      static_configs: [{targets: ['h:1'], labels: {__scheme__: https}}]\n",
                        "labels starting with __");
    expect_config_error("config:\n  scrape_configs:\n    - {job_name: k, scheme: ftp}\n", "scheme");
    expect_config_error("config:\n  global: {}\n", "scrape_configs: expected a list of jobs");
    expect_config_error("config:\n  scrape_configs: [{job_name: k, body_size_limit: 1.5MB}]\n",
                        "'1.5MB' is not a size");
    expect_config_error("config:\n  scrape_configs: [{job_name: k, scrape_interval: 1d}]\n",
                        "scrape_interval");
    expect_config_error("config:\n  scrape_configs: [{scrape_interval: 1s}]\n", "job_name");
}

static void test_regex_translation(void)
{
    static const struct {
        const char *re2, *posix;
    } ok[] = {
        {"go_.*", "^(go_.*)$"},
        {"(?:a|b)+?", "^((a|b)+)$"},
        {"\\d+\\.\\w\\s", "^([0-9]+\\.[a-zA-Z0-9_][[:space:]])$"},
        {"[\\d.]+", "^([0-9.]+)$"},
        {"[^]x]", "^([^]x])$"},
        {"a\\/b", "^(a/b)$"},
        {"", "^()$"},
    };
    const char *bad[] = {"\\bword", "(?P<n>x)", "[\\]]", "[abc", "\\pL"};

    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ct_buf_t b = {0};
        const char *why = NULL;
        CHECK_EQ_INT(prom_regex_translate(ok[i].re2, &b, &why), 0);
        CHECK(b.data && strcmp((const char *)b.data, ok[i].posix) == 0);
        if (b.data && strcmp((const char *)b.data, ok[i].posix) != 0)
            fprintf(stderr, "  %s -> %s\n", ok[i].re2, (const char *)b.data);
        ct_buf_free(&b);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ct_buf_t b = {0};
        const char *why = NULL;
        CHECK_EQ_INT(prom_regex_translate(bad[i], &b, &why), -1);
        CHECK(why != NULL);
        ct_buf_free(&b);
    }
}

/* ---- the OTLP of a scrape ---- */

static Req *report(prom_target_t *t, const char *body, uint64_t now, long *items,
                   const char **failure)
{
    ct_buf_t out = {0};
    prom_scrape_result_t r = {.body = body,
                              .len = body ? strlen(body) : 0,
                              .failure = body ? NULL : "connection refused",
                              .time_unix_ns = now,
                              .duration_ns = 2500000,
                              .body_size = body ? (int64_t)strlen(body) : 0};
    size_t counted = 0;
    char why[256];
    Req *req;

    *items = prom_target_report(t, &r, &out, failure);
    /* What the receiver hands on must pass the pipeline's own check, with the same count. */
    CHECK_EQ_INT(ct_wire_check(CT_SIGNAL_METRICS, out.data, out.len, &counted, why, sizeof why), 0);
    CHECK_EQ_INT(counted, *items);
    req = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
        NULL, out.len, out.data);
    CHECK(req != NULL);
    ct_buf_free(&out);
    return req;
}

static void req_free(Req *r)
{
    opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
        r, NULL);
}

static const Metric *metric(const Req *req, const char *name, size_t rm_index)
{
    if (req == NULL || rm_index >= req->n_resource_metrics)
        return NULL;
    const Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rm = req->resource_metrics[rm_index];
    for (size_t s = 0; s < rm->n_scope_metrics; s++) {
        for (size_t m = 0; m < rm->scope_metrics[s]->n_metrics; m++) {
            if (strcmp(rm->scope_metrics[s]->metrics[m]->name, name) == 0)
                return rm->scope_metrics[s]->metrics[m];
        }
    }
    return NULL;
}

static const char *attr(KeyValue *const *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(kv[i]->key, key) == 0 && kv[i]->value != NULL &&
            kv[i]->value->value_case ==
                OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE)
            return kv[i]->value->string_value;
    }
    return NULL;
}

static bool attr_is(KeyValue *const *kv, size_t n, const char *key, const char *want)
{
    const char *v = attr(kv, n, key);
    return want == NULL ? v == NULL : (v != NULL && strcmp(v, want) == 0);
}

static const char *res_attr(const Req *req, size_t rm, const char *key)
{
    const Opentelemetry__Proto__Resource__V1__Resource *r = req->resource_metrics[rm]->resource;
    return r ? attr(r->attributes, r->n_attributes, key) : NULL;
}

/* The number point of a gauge or sum whose attribute key has value want (NULL: the first). */
static const NumberPoint *number(const Metric *m, const char *key, const char *want)
{
    NumberPoint **pts = NULL;
    size_t n = 0;
    if (m && m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE) {
        pts = m->gauge->data_points;
        n = m->gauge->n_data_points;
    } else if (m && m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM) {
        pts = m->sum->data_points;
        n = m->sum->n_data_points;
    }
    for (size_t i = 0; i < n; i++) {
        if (key == NULL || attr_is(pts[i]->attributes, pts[i]->n_attributes, key, want))
            return pts[i];
    }
    return NULL;
}

static const char *fixed_v1 = "# HELP reqs_total Requests.\n"
                              "# TYPE reqs_total counter\n"
                              "reqs_total{code=\"200\"} 10\n"
                              "reqs_total{code=\"500\"} 2\n"
                              "# TYPE temp gauge\n"
                              "temp{room=\"a\",job=\"exposed\",zone=\"\"} 21.5\n"
                              "# TYPE lat histogram\n"
                              "lat_bucket{le=\"0.1\"} 1\n"
                              "lat_bucket{le=\"1\"} 4\n"
                              "lat_bucket{le=\"+Inf\"} 5\n"
                              "lat_sum 3.25\n"
                              "lat_count 5\n"
                              "# TYPE lat_nocount histogram\n"
                              "lat_nocount_bucket{le=\"1\"} 1\n"
                              "# TYPE rpc summary\n"
                              "rpc{quantile=\"0.9\"} 8\n"
                              "rpc{quantile=\"0.5\"} 3\n"
                              "rpc_count 7\n"
                              "mystery 4 1700000000123\n";

static void test_report_types_and_resource(void)
{
    loaded_t l;
    const char *failure = NULL;
    long items = 0;

    load(&l, "config:\n  scrape_configs:\n    - job_name: app\n      scrape_interval: 5s\n"
             "      static_configs: [{targets: ['127.0.0.1:9100'], labels: {env: prod}},\n"
             "                       {targets: ['node7.example:8080']}]\n");
    CHECK_EQ_INT(l.rc, 0);
    if (l.rc != 0)
        return;
    prom_opts_t opts = {0};
    const prom_job_t *job = &l.cfg.jobs[0];
    prom_target_t *t = prom_target_new(job, &job->targets[0], &opts);
    uint64_t now = 1700000100ull * SEC + 456789;
    uint64_t now_ms = now / 1000000 * 1000000;

    Req *req = report(t, fixed_v1, now, &items, &failure);
    CHECK(failure == NULL);
    CHECK(req != NULL && req->n_resource_metrics == 1);
    if (req == NULL || req->n_resource_metrics != 1)
        goto out;
    /* 2 counter + 1 gauge + 1 histogram + 1 summary + 1 untyped + 5 up/scrape_* points. */
    CHECK_EQ_INT(items, 11);
    CHECK(res_attr(req, 0, "service.name") && strcmp(res_attr(req, 0, "service.name"), "app") == 0);
    CHECK(res_attr(req, 0, "service.instance.id") &&
          strcmp(res_attr(req, 0, "service.instance.id"), "127.0.0.1:9100") == 0);
    CHECK(res_attr(req, 0, "server.port") && strcmp(res_attr(req, 0, "server.port"), "9100") == 0);
    CHECK(res_attr(req, 0, "url.scheme") && strcmp(res_attr(req, 0, "url.scheme"), "http") == 0);
    CHECK(res_attr(req, 0, "server.address") == NULL); /* loopback says nothing, as in Go */
    CHECK(strcmp(req->resource_metrics[0]->scope_metrics[0]->scope->name,
                 "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/"
                 "prometheusreceiver") == 0);

    const Metric *m = metric(req, "reqs_total", 0);
    CHECK(m && m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM);
    CHECK(m && strcmp(m->description, "Requests.") == 0);
    CHECK(m && m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM &&
          m->sum->is_monotonic && m->sum->aggregation_temporality == CUMULATIVE);
    const NumberPoint *np = number(m, "code", "500");
    CHECK(np && np->as_double == 2 && np->time_unix_nano == now_ms);
    /* The first observation of a series is its start. */
    CHECK(np && np->start_time_unix_nano == now_ms);
    CHECK(np && attr_is(np->attributes, np->n_attributes, "env", "prod")); /* target label */
    CHECK(np && attr_is(np->attributes, np->n_attributes, "job", NULL));

    m = metric(req, "temp", 0);
    CHECK(m && m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE);
    np = number(m, NULL, NULL);
    CHECK(np && np->as_double == 21.5 && np->start_time_unix_nano == 0);
    /* honor_labels false: the exposed job is kept as exported_job; empty labels are dropped. */
    CHECK(np && attr_is(np->attributes, np->n_attributes, "exported_job", "exposed"));
    CHECK(np && attr_is(np->attributes, np->n_attributes, "zone", NULL));
    CHECK(np && np->n_attributes == 3); /* env, exported_job, room */

    m = metric(req, "lat", 0);
    CHECK(m && m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM);
    if (m && m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM) {
        CHECK(m->histogram->aggregation_temporality == CUMULATIVE &&
              m->histogram->n_data_points == 1);
        const HistPoint *hp = m->histogram->data_points[0];
        CHECK(hp->count == 5 && hp->_sum_case == 5 && hp->sum == 3.25);
        CHECK(hp->n_explicit_bounds == 2 && hp->explicit_bounds[0] == 0.1 &&
              hp->explicit_bounds[1] == 1);
        CHECK(hp->n_bucket_counts == 3 && hp->bucket_counts[0] == 1 && hp->bucket_counts[1] == 3 &&
              hp->bucket_counts[2] == 1);
        CHECK(hp->start_time_unix_nano == now_ms && hp->flags == 0);
    }
    CHECK(metric(req, "lat_nocount", 0) == NULL); /* no _count: dropped, as the spec says */

    m = metric(req, "rpc", 0);
    CHECK(m && m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUMMARY);
    if (m && m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUMMARY) {
        const SummaryPoint *sp = m->summary->data_points[0];
        CHECK(sp->count == 7 && sp->sum == 0); /* no _sum: zero */
        CHECK(sp->n_quantile_values == 2 && sp->quantile_values[0]->quantile == 0.5 &&
              sp->quantile_values[0]->value == 3 && sp->quantile_values[1]->quantile == 0.9);
    }

    m = metric(req, "mystery", 0);
    CHECK(m && m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE);
    CHECK(m && attr_is(m->metadata, m->n_metadata, "prometheus.type", "unknown"));
    np = number(m, NULL, NULL);
    CHECK(np && np->time_unix_nano == 1700000000123ull * 1000000); /* its own timestamp */

    np = number(metric(req, "up", 0), NULL, NULL);
    CHECK(np && np->as_double == 1 && attr_is(np->attributes, np->n_attributes, "env", "prod"));
    np = number(metric(req, "scrape_samples_scraped", 0), NULL, NULL);
    CHECK(np && np->as_double == 13);
    np = number(metric(req, "scrape_series_added", 0), NULL, NULL);
    CHECK(np && np->as_double == 6);
    np = number(metric(req, "scrape_duration_seconds", 0), NULL, NULL);
    CHECK(np && fabs(np->as_double - 0.0025) < 1e-9);
    CHECK(metric(req, "scrape_timeout_seconds", 0) == NULL); /* only when asked for */
    req_free(req);

    /* A host name is an address worth naming. */
    prom_target_t *t2 = prom_target_new(job, &job->targets[1], &opts);
    req = report(t2, "x 1\n", now, &items, &failure);
    CHECK(req && res_attr(req, 0, "server.address") &&
          strcmp(res_attr(req, 0, "server.address"), "node7.example") == 0);
    CHECK(req && res_attr(req, 0, "server.port") &&
          strcmp(res_attr(req, 0, "server.port"), "8080") == 0);
    req_free(req);
    prom_target_free(t2);
out:
    prom_target_free(t);
    unload(&l);
}

static void test_report_staleness_and_resets(void)
{
    loaded_t l;
    const char *failure = NULL;
    long items = 0;

    load(&l, "config:\n  scrape_configs:\n    - job_name: app\n"
             "      static_configs: [{targets: ['127.0.0.1:9100']}]\n");
    CHECK_EQ_INT(l.rc, 0);
    if (l.rc != 0)
        return;
    prom_opts_t opts = {.report_extra_scrape_metrics = true};
    prom_target_t *t = prom_target_new(&l.cfg.jobs[0], &l.cfg.jobs[0].targets[0], &opts);
    uint64_t t1 = 1700000000ull * SEC, t2 = t1 + 15 * SEC, t3 = t2 + 15 * SEC, t4 = t3 + 15 * SEC;

    Req *req = report(t, fixed_v1, t1, &items, &failure);
    CHECK(metric(req, "scrape_timeout_seconds", 0) != NULL);
    req_free(req);

    /* Second scrape: reqs 500 is gone, reqs 200 was reset, lat grew, temp is gone. */
    const char *v2 = "# TYPE reqs_total counter\n"
                     "reqs_total{code=\"200\"} 3\n"
                     "# TYPE lat histogram\n"
                     "lat_bucket{le=\"0.1\"} 2\n"
                     "lat_bucket{le=\"1\"} 6\n"
                     "lat_bucket{le=\"+Inf\"} 8\n"
                     "lat_sum 5\n"
                     "lat_count 8\n"
                     "# TYPE rpc summary\n"
                     "rpc_count 9\n"
                     "mystery 5 1700000000999\n";
    req = report(t, v2, t2, &items, &failure);
    const Metric *m = metric(req, "reqs_total", 0);
    const NumberPoint *np = number(m, "code", "200");
    CHECK(np && np->as_double == 3 && np->flags == 0);
    CHECK(np && np->start_time_unix_nano == t2 - 1000000); /* reset: starts just before */
    np = number(m, "code", "500");
    CHECK(np && np->flags == 1 && np->time_unix_nano == t2); /* stale marker */
    CHECK(np &&
          np->value_case == OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE__NOT_SET);
    np = number(metric(req, "temp", 0), "room", "a");
    CHECK(np && np->flags == 1 &&
          attr_is(np->attributes, np->n_attributes, "exported_job", "exposed"));
    m = metric(req, "lat", 0);
    if (m && m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM) {
        const HistPoint *hp = m->histogram->data_points[0];
        CHECK(hp->start_time_unix_nano == t1 && hp->time_unix_nano == t2 && hp->count == 8);
    } else {
        CHECK(!"lat is a histogram");
    }
    /* A series with its own timestamps gets no stale marker (track_timestamps_staleness). */
    np = number(metric(req, "mystery", 0), NULL, NULL);
    CHECK(np && np->flags == 0 && np->as_double == 5);
    np = number(metric(req, "scrape_series_added", 0), NULL, NULL);
    CHECK(np && np->as_double == 0);
    req_free(req);

    /* A failed scrape: up 0 and every series of the last scrape marked stale. */
    req = report(t, NULL, t3, &items, &failure);
    CHECK(failure != NULL && strstr(failure, "connection refused") != NULL);
    np = number(metric(req, "up", 0), NULL, NULL);
    CHECK(np && np->as_double == 0 && np->flags == 0);
    np = number(metric(req, "reqs_total", 0), "code", "200");
    CHECK(np && np->flags == 1);
    m = metric(req, "lat", 0);
    CHECK(m && m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM &&
          m->histogram->n_data_points == 1 && m->histogram->data_points[0]->flags == 1 &&
          m->histogram->data_points[0]->n_bucket_counts == 0);
    m = metric(req, "rpc", 0);
    CHECK(m && m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUMMARY &&
          m->summary->data_points[0]->flags == 1);
    CHECK(metric(req, "mystery", 0) == NULL);
    CHECK(metric(req, "temp", 0) == NULL); /* marked once, in the scrape it disappeared */
    np = number(metric(req, "scrape_samples_scraped", 0), NULL, NULL);
    CHECK(np && np->as_double == 0);
    req_free(req);

    /* Malformed text fails the scrape like a dead target, with the line that is wrong. */
    req = report(t, "ok 1\nbroken{ 2\n", t4, &items, &failure);
    CHECK(failure != NULL && strstr(failure, "line 2:") != NULL);
    np = number(metric(req, "up", 0), NULL, NULL);
    CHECK(np && np->as_double == 0);
    CHECK(metric(req, "ok", 0) == NULL);
    req_free(req);

    /* Back again: series start anew. */
    req = report(t, "# TYPE reqs_total counter\nreqs_total{code=\"200\"} 4\n", t4 + SEC, &items,
                 &failure);
    np = number(metric(req, "reqs_total", 0), "code", "200");
    CHECK(np && np->start_time_unix_nano == t4 + SEC && np->flags == 0);
    np = number(metric(req, "up", 0), NULL, NULL);
    CHECK(np && np->as_double == 1);
    req_free(req);
    prom_target_free(t);
    unload(&l);
}

static void test_report_labels_and_relabel(void)
{
    loaded_t l;
    const char *failure = NULL;
    long items = 0;
    const char *body = "m{job=\"other\",instance=\"i9\",a=\"1\"} 1\n"
                       "m{a=\"2\"} 2\n"
                       "go_x 3\n"
                       "keepme{secret=\"no\"} 4\n";

    load(&l, "config:\n  scrape_configs:\n"
             "    - job_name: fed\n      honor_labels: true\n"
             "      static_configs: [{targets: ['10.0.0.1:9090'], labels: {a: tl, b: tb}}]\n"
             "    - job_name: rel\n"
             "      metric_relabel_configs:\n"
             "        - {source_labels: [__name__], regex: 'go_.*', action: drop}\n"
             "        - {source_labels: [secret, job], separator: '@', regex: 'no@rel|@rel', "
             "action: keep}\n"
             "      static_configs: [{targets: ['10.0.0.2:9090'], labels: {instance: "
             "named}}]\n");
    CHECK_EQ_INT(l.rc, 0);
    if (l.rc != 0) {
        fprintf(stderr, "%s\n", l.err.msg);
        return;
    }
    prom_opts_t opts = {.trim_metric_suffixes = true};
    prom_target_t *t = prom_target_new(&l.cfg.jobs[0], &l.cfg.jobs[0].targets[0], &opts);

    /* honor_labels: exposed job and instance make a resource of their own. */
    Req *req = report(t, body, 1700000000ull * SEC, &items, &failure);
    CHECK(req && req->n_resource_metrics == 2);
    if (req && req->n_resource_metrics == 2) {
        CHECK(strcmp(res_attr(req, 0, "service.name"), "other") == 0);
        CHECK(strcmp(res_attr(req, 0, "service.instance.id"), "i9") == 0);
        const NumberPoint *np = number(metric(req, "m", 0), NULL, NULL);
        CHECK(np && attr_is(np->attributes, np->n_attributes, "a", "1"));
        CHECK(np && attr_is(np->attributes, np->n_attributes, "b", "tb"));
        CHECK(strcmp(res_attr(req, 1, "service.name"), "fed") == 0);
        CHECK(strcmp(res_attr(req, 1, "server.address"), "10.0.0.1") == 0);
        np = number(metric(req, "m", 1), NULL, NULL);
        CHECK(np && attr_is(np->attributes, np->n_attributes, "a", "2"));
        CHECK(metric(req, "up", 1) != NULL && metric(req, "up", 0) == NULL);
    }
    req_free(req);
    prom_target_free(t);

    /* Relabel keep and drop see __name__ and the target's labels; a static instance label wins. */
    t = prom_target_new(&l.cfg.jobs[1], &l.cfg.jobs[1].targets[0], &opts);
    req = report(t,
                 "# TYPE c_total counter\nc_total 1\n"
                 "go_x 3\nkeepme{secret=\"no\"} 4\n"
                 "keepme{secret=\"yes\"} 5\n",
                 1700000000ull * SEC, &items, &failure);
    CHECK(req && req->n_resource_metrics == 1);
    CHECK(req && strcmp(res_attr(req, 0, "service.instance.id"), "named") == 0);
    CHECK(metric(req, "go_x", 0) == NULL);
    CHECK(metric(req, "c", 0) != NULL); /* c_total, trimmed; no secret joins as "@rel" */
    CHECK(metric(req, "c_total", 0) == NULL);
    const NumberPoint *np = number(metric(req, "keepme", 0), NULL, NULL);
    CHECK(np && np->as_double == 4);
    CHECK(metric(req, "keepme", 0) && metric(req, "keepme", 0)->gauge->n_data_points == 1);
    np = number(metric(req, "scrape_samples_post_metric_relabeling", 0), NULL, NULL);
    CHECK(np && np->as_double == 2);
    np = number(metric(req, "scrape_samples_scraped", 0), NULL, NULL);
    CHECK(np && np->as_double == 4);
    req_free(req);
    prom_target_free(t);
    unload(&l);
}

/* The scope_metrics entry named `scope` in the first resource, or NULL. */
static const Opentelemetry__Proto__Metrics__V1__ScopeMetrics *scope_metrics(const Req *req,
                                                                            const char *scope)
{
    if (req == NULL || req->n_resource_metrics == 0)
        return NULL;
    const Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rm = req->resource_metrics[0];
    for (size_t i = 0; i < rm->n_scope_metrics; i++) {
        if (rm->scope_metrics[i]->scope && strcmp(rm->scope_metrics[i]->scope->name, scope) == 0)
            return rm->scope_metrics[i];
    }
    return NULL;
}

static const NumberPoint *scope_point(const Req *req, const char *scope, const char *name)
{
    const Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm = scope_metrics(req, scope);
    for (size_t i = 0; sm != NULL && i < sm->n_metrics; i++) {
        if (strcmp(sm->metrics[i]->name, name) == 0)
            return number(sm->metrics[i], NULL, NULL);
    }
    return NULL;
}

static void test_report_target_info_and_scopes(void)
{
    loaded_t l;
    const char *failure = NULL;
    long items = 0;
    const char *v1 = "# TYPE target_info gauge\n"
                     "target_info{service_version=\"1.2\",host_name=\"n1\"} 1\n"
                     "# TYPE otel_scope_info gauge\n"
                     "otel_scope_info{otel_scope_name=\"lib.a\",otel_scope_version=\"v1\","
                     "mascot=\"bear\"} 1\n"
                     "# TYPE reqs_total counter\n"
                     "reqs_total{otel_scope_name=\"lib.a\",otel_scope_version=\"v1\",x=\"1\"} 5\n"
                     "reqs_total{otel_scope_name=\"lib.b\",x=\"1\"} 6\n"
                     "reqs_total{x=\"1\"} 7\n";
    const char *v2 = "# TYPE reqs_total counter\n"
                     "reqs_total{otel_scope_name=\"lib.a\",otel_scope_version=\"v1\",x=\"1\"} 5\n"
                     "reqs_total{x=\"1\"} 7\n";
    const char *own = "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/"
                      "prometheusreceiver";

    load(&l, "config:\n  scrape_configs:\n    - job_name: app\n"
             "      static_configs: [{targets: ['127.0.0.1:9100']}]\n");
    CHECK_EQ_INT(l.rc, 0);
    if (l.rc != 0)
        return;
    prom_opts_t opts = {0};
    prom_target_t *t = prom_target_new(&l.cfg.jobs[0], &l.cfg.jobs[0].targets[0], &opts);

    Req *req = report(t, v1, 1700000000ull * SEC, &items, &failure);
    CHECK(req && req->n_resource_metrics == 1);
    CHECK(req && res_attr(req, 0, "service_version") &&
          strcmp(res_attr(req, 0, "service_version"), "1.2") == 0);
    CHECK(req && res_attr(req, 0, "host_name") && strcmp(res_attr(req, 0, "host_name"), "n1") == 0);
    CHECK(metric(req, "target_info", 0) == NULL && metric(req, "otel_scope_info", 0) == NULL);
    CHECK_EQ_INT(items, 3 + 5);

    const Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm = scope_metrics(req, "lib.a");
    CHECK(sm && strcmp(sm->scope->version, "v1") == 0);
    CHECK(sm && attr_is(sm->scope->attributes, sm->scope->n_attributes, "mascot", "bear"));
    const NumberPoint *np = scope_point(req, "lib.a", "reqs_total");
    CHECK(np && np->as_double == 5 && np->n_attributes == 1 &&
          attr_is(np->attributes, np->n_attributes, "x", "1"));
    np = scope_point(req, "lib.b", "reqs_total");
    CHECK(np && np->as_double == 6 && np->n_attributes == 1);
    np = scope_point(req, own, "reqs_total");
    CHECK(np && np->as_double == 7);
    CHECK(scope_point(req, own, "up") != NULL);
    req_free(req);

    /* lib.b's series goes away: its stale marker is in its own scope. */
    req = report(t, v2, 1700000015ull * SEC, &items, &failure);
    np = scope_point(req, "lib.b", "reqs_total");
    CHECK(np && np->flags == 1 && attr_is(np->attributes, np->n_attributes, "x", "1") &&
          np->n_attributes == 1);
    np = scope_point(req, "lib.a", "reqs_total");
    CHECK(np && np->flags == 0 && np->start_time_unix_nano == 1700000000ull * SEC);
    CHECK(req && res_attr(req, 0, "host_name") == NULL); /* target_info is gone too */
    req_free(req);
    prom_target_free(t);
    unload(&l);
}

static void test_report_timestamps(void)
{
    loaded_t l;
    const char *failure = NULL;
    long items = 0;
    uint64_t t1 = 1700000100ull * SEC, t2 = t1 + 10 * SEC;

    load(&l, "config:\n  scrape_configs:\n"
             "    - job_name: ignore\n      honor_timestamps: false\n"
             "      static_configs: [{targets: ['h:1']}]\n"
             "    - job_name: track\n      track_timestamps_staleness: true\n"
             "      static_configs: [{targets: ['h:1']}]\n");
    CHECK_EQ_INT(l.rc, 0);
    if (l.rc != 0)
        return;
    prom_opts_t opts = {0};
    prom_target_t *ig = prom_target_new(&l.cfg.jobs[0], &l.cfg.jobs[0].targets[0], &opts);
    prom_target_t *tr = prom_target_new(&l.cfg.jobs[1], &l.cfg.jobs[1].targets[0], &opts);

    /* honor_timestamps: false puts the scrape's time on every point, and then staleness applies. */
    Req *req = report(ig, "stamped 1 1600000000000\n", t1, &items, &failure);
    const NumberPoint *np = number(metric(req, "stamped", 0), NULL, NULL);
    CHECK(np && np->time_unix_nano == t1);
    req_free(req);
    req = report(ig, "other 1\n", t2, &items, &failure);
    np = number(metric(req, "stamped", 0), NULL, NULL);
    CHECK(np && np->flags == 1);
    req_free(req);

    /* track_timestamps_staleness: series with their own timestamps get stale markers too. */
    req = report(tr, "stamped 1 1600000000000\n", t1, &items, &failure);
    np = number(metric(req, "stamped", 0), NULL, NULL);
    CHECK(np && np->time_unix_nano == 1600000000000ull * 1000000);
    req_free(req);
    req = report(tr, "other 1\n", t2, &items, &failure);
    np = number(metric(req, "stamped", 0), NULL, NULL);
    CHECK(np && np->flags == 1 && np->time_unix_nano == t2);
    req_free(req);
    prom_target_free(ig);
    prom_target_free(tr);
    unload(&l);
}

int main(void)
{
    test_metadata_and_values();
    test_label_escapes();
    test_histogram_summary_grouping();
    test_malformed();
    test_filter_limit_duplicates_reuse();
    test_many_series();
    test_config();
    test_regex_translation();
    test_report_types_and_resource();
    test_report_staleness_and_resets();
    test_report_labels_and_relabel();
    test_report_target_info_and_scopes();
    test_report_timestamps();
    return ct_test_report();
}
