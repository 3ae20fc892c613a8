/*
 * The configuration loader: YAML positions, environment expansion, option
 * tables, and the service's errors, each naming file, line, column and key.
 */
#include "ct_config.h"
#include "ct_service.h"
#include "ct_test.h"

#include <stdlib.h>
#include <string.h>

typedef struct cfg {
    char *name;
    int64_t count;
    uint64_t timeout;
    uint64_t size;
    bool flag;
    int mode;
    ct_strlist_t list;
    ct_kvlist_t headers;
    bool sub_present;
    struct {
        char *endpoint;
    } sub;
} cfg_t;

static const ct_opt_t sub_opts[] = {
    {"endpoint", CT_OPT_STRING, 0, "localhost:1", 0, 0, NULL, "where"},
    CT_OPT_END,
};

static const ct_opt_t opts[] = {
    {"name", CT_OPT_STRING, offsetof(cfg_t, name), "dflt", 0, 0, NULL, "a name"},
    {"count", CT_OPT_INT, offsetof(cfg_t, count), "5", 1, 100, NULL, "a count"},
    {"timeout", CT_OPT_DURATION, offsetof(cfg_t, timeout), "200ms", 0, 0, NULL, "a time"},
    {"size", CT_OPT_SIZE, offsetof(cfg_t, size), "1MiB", 0, 0, NULL, "a size"},
    {"flag", CT_OPT_BOOL, offsetof(cfg_t, flag), "false", 0, 0, NULL, "a flag"},
    {"mode", CT_OPT_ENUM, offsetof(cfg_t, mode), "b", 0, 0, "a|b|c", "a mode"},
    {"list", CT_OPT_STRINGS, offsetof(cfg_t, list), "x,y", 0, 0, NULL, "a list"},
    {"headers", CT_OPT_MAP, offsetof(cfg_t, headers), NULL, 0, 0, NULL, "a map"},
    {"sub", CT_OPT_SECTION, offsetof(cfg_t, sub_present), NULL, 0, 0, NULL, "a section", sub_opts,
     offsetof(cfg_t, sub)},
    CT_OPT_END,
};

static int apply(const char *yaml, cfg_t *c, ct_err_t *err)
{
    memset(c, 0, sizeof *c);
    ct_node_t *root = ct_config_load_string("t.yaml", yaml, strlen(yaml), err);
    if (root == NULL)
        return -1;
    int rc = ct_opt_defaults(opts, c, err);
    if (rc == 0)
        rc = ct_opt_apply(opts, c, ct_node_get(root, "c"), "c", err);
    ct_node_free(root);
    return rc;
}

static void test_defaults_and_values(void)
{
    cfg_t c;
    ct_err_t err = {{0}};
    CHECK_EQ_INT(apply("c:\n", &c, &err), 0);
    CHECK(strcmp(c.name, "dflt") == 0);
    CHECK_EQ_INT(c.count, 5);
    CHECK_EQ_INT(c.timeout, 200000000);
    CHECK_EQ_INT(c.size, 1 << 20);
    CHECK_EQ_INT(c.mode, 1);
    CHECK_EQ_INT(c.list.n, 2);
    CHECK(!c.sub_present);
    CHECK(strcmp(c.sub.endpoint, "localhost:1") == 0);
    ct_opt_free(opts, &c);

    const char *y = "c:\n  name: hi\n  count: 7\n  timeout: 1m30s\n  size: 20MiB\n  flag: true\n"
                    "  mode: c\n  list: [a, b, c]\n  headers: {x-a: '1'}\n  sub:\n";
    CHECK_EQ_INT(apply(y, &c, &err), 0);
    CHECK(strcmp(c.name, "hi") == 0);
    CHECK_EQ_INT(c.count, 7);
    CHECK_EQ_INT(c.timeout, 90000000000ll);
    CHECK_EQ_INT(c.size, 20 << 20);
    CHECK(c.flag);
    CHECK_EQ_INT(c.mode, 2);
    CHECK_EQ_INT(c.list.n, 3);
    CHECK(strcmp(ct_kvlist_get(&c.headers, "x-a"), "1") == 0);
    CHECK(c.sub_present);
    ct_opt_free(opts, &c);
}

static void expect_error(const char *yaml, const char *needle)
{
    cfg_t c;
    ct_err_t err = {{0}};
    CHECK(apply(yaml, &c, &err) != 0);
    CHECK_STR_CONTAINS(err.msg, needle);
    ct_opt_free(opts, &c);
}

static void test_errors(void)
{
    expect_error("c:\n  nmae: x\n", "t.yaml:2:3: c: unknown key 'nmae'");
    expect_error("c:\n  count: 1000\n", "t.yaml:2:10: c::count: 1000 is out of range");
    expect_error("c:\n  count: abc\n", "c::count: 'abc' is not an integer");
    expect_error("c:\n  timeout: 5 seconds\n", "t.yaml:2:12: c::timeout: '5 seconds' is not a "
                                               "duration");
    expect_error("c:\n  size: lots\n", "c::size: 'lots' is not a size");
    expect_error("c:\n  flag: maybe\n", "not a boolean");
    expect_error("c:\n  mode: d\n", "c::mode: 'd' is not one of a|b|c");
    expect_error("c:\n  sub:\n    nope: 1\n", "t.yaml:3:5: c::sub: unknown key 'nope'");
    expect_error("c:\n  name: [1]\n", "c::name: expected a string");
    expect_error("c: {a: 1\n", "invalid YAML");
    expect_error("c:\n  name: a\n  name: b\n", "duplicate key 'name'");
}

static void test_env(void)
{
    ct_err_t err = {{0}};
    setenv("CT_T_A", "alpha", 1);
    setenv("CT_T_EMPTY", "", 1);
    unsetenv("CT_T_UNSET");
    struct {
        const char *in, *out;
    } cases[] = {
        {"${env:CT_T_A}", "alpha"},
        {"${CT_T_A}:4317", "alpha:4317"},
        {"x${env:CT_T_UNSET:-dflt}y", "xdflty"},
        {"${env:CT_T_EMPTY:-dflt}", "dflt"},
        {"${env:CT_T_UNSET}", ""},
        {"$$HOME and $${env:X}", "$HOME and ${env:X}"},
        {"plain $PATH", "plain $PATH"},
    };
    for (size_t i = 0; i < CT_ARRAY_LEN(cases); i++) {
        char *s = ct_config_expand_env(cases[i].in, NULL, &err);
        CHECK(s != NULL && strcmp(s, cases[i].out) == 0);
        if (s && strcmp(s, cases[i].out) != 0)
            fprintf(stderr, "  expand(%s) = '%s', want '%s'\n", cases[i].in, s, cases[i].out);
        free(s);
    }
    CHECK(ct_config_expand_env("${env:CT_T_A", NULL, &err) == NULL);
    CHECK_STR_CONTAINS(err.msg, "unterminated");
    CHECK(ct_config_expand_env("${file:/etc/passwd}", NULL, &err) == NULL);
    CHECK_STR_CONTAINS(err.msg, "unsupported configuration provider");

    /* Expansion happens in values loaded from YAML. */
    cfg_t c;
    CHECK_EQ_INT(apply("c:\n  name: ${env:CT_T_A}-x\n", &c, &err), 0);
    CHECK(c.name && strcmp(c.name, "alpha-x") == 0);
    ct_opt_free(opts, &c);
}

static void test_durations_sizes(void)
{
    uint64_t v;
    CHECK(ct_parse_duration("200ms", &v) == 0 && v == 200000000ull);
    CHECK(ct_parse_duration("1h2m3s", &v) == 0 && v == 3723000000000ull);
    CHECK(ct_parse_duration("1.5s", &v) == 0 && v == 1500000000ull);
    CHECK(ct_parse_duration("0", &v) == 0 && v == 0);
    CHECK(ct_parse_duration("5", &v) != 0);
    CHECK(ct_parse_duration("s", &v) != 0);
    CHECK(ct_parse_duration("-1s", &v) != 0);
    CHECK(ct_parse_size("1024", &v) == 0 && v == 1024);
    CHECK(ct_parse_size("4MiB", &v) == 0 && v == 4u << 20);
    CHECK(ct_parse_size("1MB", &v) == 0 && v == 1000000);
    CHECK(ct_parse_size("1 XB", &v) != 0);
}

static void expect_service_error(const char *yaml, const char *needle)
{
    ct_err_t err = {{0}};
    ct_node_t *root = ct_config_load_string("svc.yaml", yaml, strlen(yaml), &err);
    CHECK(root != NULL);
    ct_service_t *s = root ? ct_service_build(root, &err) : NULL;
    CHECK(s == NULL);
    CHECK_STR_CONTAINS(err.msg, needle);
    ct_service_free(s);
    ct_node_free(root);
}

static const char base[] = "receivers:\n"
                           "  otlp:\n"
                           "    protocols:\n"
                           "      grpc:\n"
                           "        endpoint: 127.0.0.1:0\n"
                           "exporters:\n"
                           "  debug:\n";

static void test_service_errors(void)
{
    char y[2048];
    snprintf(y, sizeof y,
             "%sservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n"
             "      exporters: [nope]\n",
             base);
    expect_service_error(y, "svc.yaml:12:19: service::pipelines::traces: exporter 'nope' is "
                            "not defined in the 'exporters' section");
    snprintf(y, sizeof y,
             "%s  bogus:\nservice:\n  pipelines:\n    traces:\n"
             "      receivers: [otlp]\n      exporters: [debug]\n",
             base);
    expect_service_error(y, "svc.yaml:8:3: exporters: unknown exporter type 'bogus' (known "
                            "types: ");
    snprintf(y, sizeof y,
             "%sservice:\n  pipelines:\n    spans:\n      receivers: [otlp]\n"
             "      exporters: [debug]\n",
             base);
    expect_service_error(y, "svc.yaml:10:5: service::pipelines: invalid pipeline id 'spans'");
    snprintf(y, sizeof y, "%sservice:\n  pipelines:\n    traces:\n      exporters: [debug]\n",
             base);
    expect_service_error(y, "must have at least one receivers");
    snprintf(y, sizeof y,
             "%sservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n"
             "      exporters: [debug]\n  extensions: [health_check/x]\n",
             base);
    expect_service_error(y, "extension 'health_check/x' is not defined");
    snprintf(y, sizeof y,
             "%sservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n"
             "      processors: [batch/none]\n      exporters: [debug]\n",
             base);
    expect_service_error(y, "processor 'batch/none' is not defined");
    expect_service_error("exporters:\n  debug:\n    verbosity: loud\nservice:\n  pipelines:\n"
                         "    traces: {receivers: [otlp], exporters: [debug]}\n",
                         "svc.yaml:3:16: exporters::debug::verbosity: 'loud' is not one of");
    expect_service_error("receiver:\n  otlp:\n", "svc.yaml:1:1: unknown top-level section "
                                                 "'receiver'");
    expect_service_error("exporters:\n  debug:\n", "missing the 'service' section");
    expect_service_error("", "missing the 'service' section");

    /* An empty file (a NULL buffer) is an empty configuration, not a crash. */
    ct_err_t err = {{0}};
    ct_node_t *root = ct_config_load_string("empty.yaml", NULL, 0, &err);
    CHECK(root != NULL && root->kind == CT_NODE_MAP && root->n == 0);
    ct_node_free(root);
}

static void test_service_builds(void)
{
    char y[2048];
    ct_err_t err = {{0}};
    snprintf(y, sizeof y,
             "%s  debug/2:\nservice:\n  pipelines:\n    traces:\n"
             "      receivers: [otlp]\n      exporters: [debug, debug/2]\n"
             "    traces/b:\n      receivers: [otlp]\n      exporters: [debug]\n"
             "    logs:\n      receivers: [otlp]\n      exporters: [debug/2]\n",
             base);
    ct_node_t *root = ct_config_load_string("ok.yaml", y, strlen(y), &err);
    ct_service_t *s = root ? ct_service_build(root, &err) : NULL;
    CHECK(s != NULL);
    if (s == NULL)
        fprintf(stderr, "  %s\n", err.msg);
    if (s != NULL) {
        ct_instance_t *r = ct_service_find(s, CT_KIND_RECEIVER, "otlp");
        CHECK(r != NULL);
        CHECK(r && r->next[CT_SIGNAL_TRACES] != NULL);
        CHECK(r && r->next[CT_SIGNAL_LOGS] != NULL);
        CHECK(r && r->next[CT_SIGNAL_METRICS] == NULL);
        /* Exporters shared by pipelines are built once. */
        CHECK(ct_service_find(s, CT_KIND_EXPORTER, "debug") != NULL);
        CHECK(ct_service_find(s, CT_KIND_EXPORTER, "debug/2") != NULL);
    }
    ct_service_free(s);
    ct_node_free(root);
}

static void test_yaml_merge_keys(void)
{
    cfg_t c;
    ct_err_t err = {{0}};
    const char *y = "base: &b\n  name: fromb\n  count: 9\n"
                    "more: &m\n  flag: true\n  count: 3\n"
                    "c:\n  <<: [*b, *m]\n  count: 7\n";
    CHECK_EQ_INT(apply(y, &c, &err), 0);
    CHECK(c.name && strcmp(c.name, "fromb") == 0); /* merged in */
    CHECK_EQ_INT(c.count, 7);                      /* the map's own value wins */
    CHECK(c.flag);                                 /* from the second merged map */
    ct_opt_free(opts, &c);
    expect_error("c:\n  <<: 5\n", "a merge key ('<<') takes a map");
}

static void test_more_service_errors(void)
{
    /* No receivers section at all: the pipeline's receiver is still undefined. */
    expect_service_error("exporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n"
                         "      receivers: [otlp]\n      exporters: [debug]\n",
                         "svc.yaml:6:19: service::pipelines::traces: receiver 'otlp' is not "
                         "defined in the 'receivers' section");
    /* A typo in a pipeline's keys is named, before any missing-list complaint. */
    char y[2048];
    snprintf(y, sizeof y,
             "%sservice:\n  pipelines:\n    traces:\n      recievers: [otlp]\n"
             "      exporters: [debug]\n",
             base);
    expect_service_error(y, "svc.yaml:11:7: service::pipelines::traces: unknown key 'recievers'");
    snprintf(y, sizeof y,
             "%sservice:\n  extensions: [health_check]\n  pipelines:\n"
             "    traces: {receivers: [otlp], exporters: [debug]}\n",
             base);
    expect_service_error(y, "svc.yaml:9:16: service::extensions: extension 'health_check'");
    unsetenv("CT_T_VERB");
    expect_service_error("exporters:\n  debug:\n    verbosity: ${env:CT_T_VERB}\nservice:\n"
                         "  pipelines:\n    traces: {receivers: [otlp], exporters: [debug]}\n",
                         "the value is empty (an unset environment variable");
}

int main(void)
{
    test_defaults_and_values();
    test_errors();
    test_env();
    test_durations_sizes();
    test_service_errors();
    test_service_builds();
    test_yaml_merge_keys();
    test_more_service_errors();
    return ct_test_report();
}
