/*
 * The metrics registry's Prometheus text: names with _total on counters,
 * HELP/TYPE once per name, escaped labels and help, constant labels on every
 * series, histograms, function metrics and how floats are written.
 */
#include "ct_metrics.h"
#include "ct_test.h"

#include <math.h>
#include <stdlib.h>

static char *scrape(void)
{
    ct_buf_t b = {0};
    ct_metrics_write_prometheus(&b);
    ct_buf_putc(&b, '\0');
    return (char *)b.data;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static double fixed(void *arg)
{
    return *(double *)arg;
}

static void test_counters_and_gauges(void)
{
    ct_counter_t *a = ct_metrics_counter("t_items", "Items.", "exporter=\"a\"");
    ct_counter_t *b = ct_metrics_counter("t_items", "Items.", "exporter=\"b\"");
    ct_counter_t *g = ct_metrics_gauge("t_level", "Level.", "");
    CHECK(a != b);
    CHECK(ct_metrics_counter("t_items", "Items.", "exporter=\"a\"") == a);
    ct_counter_add(a, 5);
    ct_counter_add(a, 2);
    ct_counter_add(b, 1);
    ct_gauge_set(g, 42);

    char *text = scrape();
    CHECK_STR_CONTAINS(text, "# HELP t_items_total Items.\n# TYPE t_items_total counter\n");
    CHECK_STR_CONTAINS(text, "t_items_total{exporter=\"a\"} 7\n");
    CHECK_STR_CONTAINS(text, "t_items_total{exporter=\"b\"} 1\n");
    CHECK_EQ_INT(count(text, "# TYPE t_items_total"), 1);
    CHECK_STR_CONTAINS(text, "# TYPE t_level gauge\nt_level 42\n");
    CHECK_EQ_INT(ct_metrics_value("t_items", "exporter=\"a\""), 7);
    CHECK_EQ_INT(ct_metrics_value("t_items", "exporter=\"zzz\""), 0);
    free(text);
}

static void test_escaping(void)
{
    char out[64];
    ct_metrics_label_escape(out, sizeof out, "a\"b\\c\nd");
    CHECK(strcmp(out, "a\\\"b\\\\c\\nd") == 0);
    /* Cut short between characters, never inside an escape. */
    ct_metrics_label_escape(out, 4, "ab\"c");
    CHECK(strcmp(out, "ab") == 0);

    ct_receiver_obs_t obs;
    ct_receiver_obs_init(&obs, "otlp/we\"ird", "grpc");
    ct_receiver_obs_record(&obs, CT_SIGNAL_LOGS, 3, CT_OK);
    ct_receiver_obs_record(&obs, CT_SIGNAL_LOGS, 2, CT_UNAVAILABLE);
    ct_metrics_counter("t_help", "Line one\nback\\slash.", "");

    char *text = scrape();
    CHECK_STR_CONTAINS(text, "otelcol_receiver_accepted_log_records_total"
                             "{receiver=\"otlp/we\\\"ird\",transport=\"grpc\"} 3\n");
    CHECK_STR_CONTAINS(text, "otelcol_receiver_refused_log_records_total"
                             "{receiver=\"otlp/we\\\"ird\",transport=\"grpc\"} 2\n");
    CHECK_STR_CONTAINS(text, "# HELP t_help_total Line one\\nback\\\\slash.\n");
    free(text);
}

static void test_function_metrics(void)
{
    /* Laid out as Go's strconv.FormatFloat(v, 'g', -1, 64), as the Go collector writes them. */
    static double up = 12.5, nan_value = NAN, big = 16896000, tenth = 0.1, small = 1e-5;
    ct_metrics_counter_fn("t_uptime", "Uptime.", "", fixed, &up);
    ct_metrics_gauge_fn("t_nan", "NaN.", "", fixed, &nan_value);
    ct_metrics_gauge_fn("t_big", "Big.", "", fixed, &big);
    ct_metrics_gauge_fn("t_tenth", "Tenth.", "", fixed, &tenth);
    ct_metrics_gauge_fn("t_small", "Small.", "", fixed, &small);

    char *text = scrape();
    CHECK_STR_CONTAINS(text, "# TYPE t_uptime_total counter\nt_uptime_total 12.5\n");
    CHECK_STR_CONTAINS(text, "t_nan NaN\n");
    CHECK_STR_CONTAINS(text, "t_big 1.6896e+07\n");
    CHECK_STR_CONTAINS(text, "t_tenth 0.1\n");
    CHECK_STR_CONTAINS(text, "t_small 1e-05\n");
    free(text);

    /* A removed function metric disappears, its HELP and TYPE with it. */
    ct_metrics_gauge_fn_remove(&nan_value);
    text = scrape();
    CHECK(strstr(text, "t_nan") == NULL);
    CHECK_STR_CONTAINS(text, "t_uptime_total 12.5\n");
    free(text);
}

static void test_histogram(void)
{
    static const double bounds[] = {0.25, 10, 100000};
    ct_histogram_t *h = ct_metrics_histogram("t_size", "Size.", "processor=\"batch\"", bounds, 3);
    CHECK(h != NULL);
    ct_histogram_observe(h, 3);
    ct_histogram_observe(h, 10);
    ct_histogram_observe(h, 11);
    ct_histogram_observe(h, 1e6);

    char *text = scrape();
    CHECK_STR_CONTAINS(text, "# TYPE t_size histogram\n");
    CHECK_STR_CONTAINS(text, "t_size_bucket{processor=\"batch\",le=\"0.25\"} 0\n");
    CHECK_STR_CONTAINS(text, "t_size_bucket{processor=\"batch\",le=\"10\"} 2\n");
    CHECK_STR_CONTAINS(text, "t_size_bucket{processor=\"batch\",le=\"100000\"} 3\n");
    CHECK_STR_CONTAINS(text, "t_size_bucket{processor=\"batch\",le=\"+Inf\"} 4\n");
    CHECK_STR_CONTAINS(text, "t_size_sum{processor=\"batch\"} 1.000024e+06\n");
    CHECK_STR_CONTAINS(text, "t_size_count{processor=\"batch\"} 4\n");
    free(text);
}

static void test_const_labels(void)
{
    CHECK_EQ_INT(ct_metrics_set_const_labels("service_name=\"cotel\",service_version=\"1\""), 0);
    char *text = scrape();
    CHECK_STR_CONTAINS(text, "t_items_total{exporter=\"a\",service_name=\"cotel\","
                             "service_version=\"1\"} 7\n");
    CHECK_STR_CONTAINS(text, "t_level{service_name=\"cotel\",service_version=\"1\"} 42\n");
    CHECK_STR_CONTAINS(text, "t_size_bucket{processor=\"batch\",le=\"+Inf\",service_name="
                             "\"cotel\",service_version=\"1\"} 4\n");
    free(text);

    CHECK_EQ_INT(ct_metrics_set_const_labels(NULL), 0);
    text = scrape();
    CHECK_STR_CONTAINS(text, "t_level 42\n");
    CHECK(strstr(text, "service_name") == NULL);
    free(text);
}

int main(void)
{
    test_counters_and_gauges();
    test_escaping();
    test_function_metrics();
    test_histogram();
    test_const_labels();
    return ct_test_report();
}
