/*
 * cotel-kafka-dev: a Kafka broker for cotel's tests and for trying cotel, built on the mock
 * cluster in librdkafka. Options, setup, and the signals that stop it or simulate outages.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* signalfd, strndup, strsignal */
#endif

#include "kafka_dev.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define PROGRAM    "cotel-kafka-dev"
#define MAX_TOPICS 64
/* Kafka's limit on topic name length. */
#define MAX_TOPIC_NAME 249

typedef struct options {
    int brokers;
    int port;
    char *topics[MAX_TOPICS];
    int topic_count;
    int partitions;
    int64_t message_max_bytes;
    const char *bootstrap_file;
} options_t;

typedef struct option_spec {
    const char *name;
    const char *arg;
    const char *def; /* NULL: not set unless given */
    const char *help;
    int (*set)(options_t *o, const char *value);
} option_spec_t;

void kafka_dev_log(const char *fmt, ...)
{
    char line[2048];
    struct timeval tv;
    struct tm tm;
    va_list ap;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03dZ " PROGRAM ": ",
                          (int)(tv.tv_usec / 1000));
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    n = m < 0 ? n : n + (size_t)m;
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    /* One write per line: librdkafka's threads log through here too. */
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}

static int parse_int(const char *value, long long min, long long max, long long *out)
{
    char *end;

    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno || end == value || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int set_brokers(options_t *o, const char *value)
{
    long long v;
    if (parse_int(value, 1, KAFKA_DEV_MAX_BROKERS, &v) < 0)
        return -1;
    o->brokers = (int)v;
    return 0;
}

static int set_port(options_t *o, const char *value)
{
    long long v;
    if (parse_int(value, 0, 65535, &v) < 0)
        return -1;
    o->port = (int)v;
    return 0;
}

static int set_partitions(options_t *o, const char *value)
{
    long long v;
    if (parse_int(value, 1, 10000, &v) < 0)
        return -1;
    o->partitions = (int)v;
    return 0;
}

static int set_message_max_bytes(options_t *o, const char *value)
{
    long long v;
    if (parse_int(value, 0, INT32_MAX, &v) < 0)
        return -1;
    o->message_max_bytes = v;
    return 0;
}

static int set_bootstrap_file(options_t *o, const char *value)
{
    if (!*value)
        return -1;
    o->bootstrap_file = value;
    return 0;
}

static void free_topics(options_t *o)
{
    for (int i = 0; i < o->topic_count; i++)
        free(o->topics[i]);
    o->topic_count = 0;
}

static int valid_topic(const char *name, size_t len)
{
    if (len == 0 || len > MAX_TOPIC_NAME)
        return 0;
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

/* A comma-separated list of legal, distinct topic names; "" creates none. */
static int set_topics(options_t *o, const char *value)
{
    const char *s = value;

    free_topics(o);
    while (*s) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        if (!valid_topic(s, len) || o->topic_count == MAX_TOPICS)
            return -1;
        for (int i = 0; i < o->topic_count; i++) {
            if (strlen(o->topics[i]) == len && memcmp(o->topics[i], s, len) == 0)
                return -1;
        }
        if (!(o->topics[o->topic_count] = strndup(s, len)))
            return -1;
        o->topic_count++;
        s += len + (end ? 1 : 0);
    }
    return 0;
}

static const option_spec_t option_specs[] = {
    {"brokers", "N", "1", "number of brokers, 1..32", set_brokers},
    {"port", "P", "0",
     "client port of broker 1; broker i listens on P+i-1. 0: free ports. These are the ports "
     "of this program's own listeners in front of the mock brokers: librdkafka 2.0.2's mock "
     "API cannot choose the ports of the mock brokers themselves",
     set_port},
    {"topics", "A,B,...", "otlp_spans,otlp_metrics,otlp_logs",
     "topics created at start (\"\": none). Other topics are created on first use with the "
     "mock's default of 4 partitions",
     set_topics},
    {"partitions", "N", "3", "partitions of each topic created at start", set_partitions},
    {"message-max-bytes", "N", "1048588",
     "like a broker's message.max.bytes: a Produce request's record batch (with its 12-byte "
     "offset and length prefix) larger than N is refused for its partition with "
     "MESSAGE_TOO_LARGE; other partitions of the same request are stored. 0: no limit. The "
     "default is Kafka's",
     set_message_max_bytes},
    {"bootstrap-file", "PATH", NULL,
     "once listening, write the bootstrap address list to PATH (atomically, by rename); "
     "removed on exit",
     set_bootstrap_file},
};

#define OPTION_COUNT (int)(sizeof(option_specs) / sizeof(option_specs[0]))

/* Prints text word-wrapped to 78 columns, each line indented by six spaces. */
static void print_wrapped(FILE *f, const char *text)
{
    const int width = 72;
    const char *s = text;

    while (*s) {
        int len = (int)strlen(s);
        if (len > width) {
            len = width;
            while (len > 0 && s[len] != ' ')
                len--;
            if (len == 0)
                len = width;
        }
        fprintf(f, "      %.*s\n", len, s);
        s += len;
        while (*s == ' ')
            s++;
    }
}

static void usage(FILE *f)
{
    char text[1024];

    fprintf(f, "Usage: " PROGRAM " [options]\n"
               "A development Kafka broker on 127.0.0.1: librdkafka's mock cluster behind a small\n"
               "proxy. When ready it prints one line, bootstrap.servers=127.0.0.1:PORT[,...].\n"
               "Signals: SIGUSR1 takes every broker down (connections closed, new ones refused),\n"
               "SIGUSR2 brings them back on the same ports, SIGTERM/SIGINT stop it.\n\n"
               "Options:\n");
    for (int i = 0; i < OPTION_COUNT; i++) {
        const option_spec_t *s = &option_specs[i];
        fprintf(f, "  --%s %s\n", s->name, s->arg);
        if (s->def)
            snprintf(text, sizeof(text), "%s (default: %s)", s->help, *s->def ? s->def : "\"\"");
        else
            snprintf(text, sizeof(text), "%s", s->help);
        print_wrapped(f, text);
    }
    fprintf(f, "  --help\n      this text\n");
}

/* Returns 0 to run, 1 after --help, -1 on a bad command line. */
static int parse_options(int argc, char **argv, options_t *o)
{
    struct option longopts[OPTION_COUNT + 2];

    for (int i = 0; i < OPTION_COUNT; i++) {
        const option_spec_t *s = &option_specs[i];
        longopts[i] = (struct option){s->name, required_argument, NULL, i};
        if (s->def && s->set(o, s->def) < 0)
            return -1;
    }
    longopts[OPTION_COUNT] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[OPTION_COUNT + 1] = (struct option){0};

    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return 1;
        }
        if (c < 0 || c >= OPTION_COUNT) {
            fprintf(stderr, PROGRAM ": unknown option or missing value: %s\n", argv[optind - 1]);
            return -1;
        }
        if (option_specs[c].set(o, optarg) < 0) {
            fprintf(stderr, PROGRAM ": invalid value for --%s: \"%s\"\n", option_specs[c].name,
                    optarg);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROGRAM ": unexpected argument: %s\n", argv[optind]);
        return -1;
    }
    return 0;
}

static void rdkafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    kafka_dev_log("librdkafka %s: %s", fac, buf);
}

/* The handle the mock cluster belongs to; it never connects anywhere itself. */
static rd_kafka_t *new_handle(void)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    /* No bootstrap.servers here is intended; its notice would only confuse. The mock drops
     * requests above the handle's receive.message.max.bytes: keep that above the proxy's own
     * limit, Kafka's socket.request.max.bytes of 104857600. */
    if (rd_kafka_conf_set(conf, "log_level", "4", err, sizeof(err)) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "receive.message.max.bytes", "200000000", err, sizeof(err)) !=
            RD_KAFKA_CONF_OK) {
        kafka_dev_log("librdkafka configuration: %s", err);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, rdkafka_log);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        kafka_dev_log("cannot create a librdkafka handle: %s", err);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

static int create_topics(rd_kafka_mock_cluster_t *mock, const options_t *o)
{
    for (int i = 0; i < o->topic_count; i++) {
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mock, o->topics[i], o->partitions, 1);
        if (err) {
            kafka_dev_log("cannot create topic %s: %s", o->topics[i], rd_kafka_err2str(err));
            return -1;
        }
    }
    return 0;
}

/* Readers poll for the file; rename makes it appear complete or not at all. */
static int write_bootstrap_file(const char *path, const char *servers)
{
    char tmp[PATH_MAX];
    int rc = -1;
    int fd = -1;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
        kafka_dev_log("bootstrap file path too long: %s", path);
        return -1;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        goto out;
    size_t len = strlen(servers);
    if (write(fd, servers, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
        goto out;
    if (close(fd) < 0) {
        fd = -1;
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) < 0)
        goto out;
    rc = 0;

out:
    if (rc < 0) {
        kafka_dev_log("cannot write bootstrap file %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
    }
    return rc;
}

/* Acts on one signal read from the signalfd. Returns 1 when it is time to stop. */
static int on_signal(kafka_dev_proxy_t *proxy, int signo)
{
    const char *servers = kafka_dev_proxy_bootstraps(proxy);

    switch (signo) {
    case SIGUSR1:
        if (!kafka_dev_proxy_is_up(proxy)) {
            kafka_dev_log("SIGUSR1: brokers already down");
            return 0;
        }
        kafka_dev_proxy_set_up(proxy, 0);
        kafka_dev_log("SIGUSR1: brokers down: connections closed, %s refuses new ones", servers);
        return 0;
    case SIGUSR2:
        if (kafka_dev_proxy_is_up(proxy)) {
            kafka_dev_log("SIGUSR2: brokers already up");
            return 0;
        }
        if (kafka_dev_proxy_set_up(proxy, 1) < 0)
            kafka_dev_log("SIGUSR2: brokers up, but not every port could be listened on");
        else
            kafka_dev_log("SIGUSR2: brokers up: listening on %s", servers);
        return 0;
    default:
        kafka_dev_log("%s: stopping", strsignal(signo));
        return 1;
    }
}

static int run(kafka_dev_proxy_t *proxy, int signal_fd)
{
    for (;;) {
        int ready;
        if (kafka_dev_proxy_poll(proxy, signal_fd, &ready) < 0) {
            kafka_dev_log("poll failed: %s", strerror(errno));
            return -1;
        }
        struct signalfd_siginfo si;
        if (ready && read(signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si) &&
            on_signal(proxy, (int)si.ssi_signo))
            return 0;
    }
}

int main(int argc, char **argv)
{
    options_t opt = {0};
    rd_kafka_t *rk = NULL;
    rd_kafka_mock_cluster_t *mock = NULL;
    kafka_dev_proxy_t *proxy = NULL;
    int signal_fd = -1;
    int file_written = 0;
    int rc = 1;
    sigset_t signals;
    char err[512];

    int parsed = parse_options(argc, argv, &opt);
    if (parsed != 0) {
        if (parsed < 0)
            usage(stderr);
        rc = parsed > 0 ? 0 : 2;
        goto out;
    }

    /* Blocked before librdkafka starts its threads, so that they inherit the mask and
     * every one of these signals is read from the signalfd by the main loop. */
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGUSR1);
    sigaddset(&signals, SIGUSR2);
    signal(SIGPIPE, SIG_IGN);
    if (sigprocmask(SIG_BLOCK, &signals, NULL) < 0 ||
        (signal_fd = signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
        kafka_dev_log("cannot set up signal handling: %s", strerror(errno));
        goto out;
    }

    if (!(rk = new_handle()))
        goto out;
    if (!(mock = rd_kafka_mock_cluster_new(rk, opt.brokers))) {
        kafka_dev_log("cannot start the mock cluster");
        goto out;
    }
    if (create_topics(mock, &opt) < 0)
        goto out;
    if (kafka_dev_proxy_new(rd_kafka_mock_cluster_bootstraps(mock), opt.port, opt.message_max_bytes,
                            &proxy, err, sizeof(err)) < 0) {
        kafka_dev_log("%s", err);
        goto out;
    }

    const char *servers = kafka_dev_proxy_bootstraps(proxy);
    if (opt.bootstrap_file) {
        if (write_bootstrap_file(opt.bootstrap_file, servers) < 0)
            goto out;
        file_written = 1;
    }
    kafka_dev_log("%d broker(s) on %s (mock brokers %s), %d topic(s) of %d partition(s), "
                  "message.max.bytes %lld",
                  opt.brokers, servers, rd_kafka_mock_cluster_bootstraps(mock), opt.topic_count,
                  opt.partitions, (long long)opt.message_max_bytes);
    printf("bootstrap.servers=%s\n", servers);
    fflush(stdout);

    rc = run(proxy, signal_fd) < 0 ? 1 : 0;

out:
    if (file_written)
        unlink(opt.bootstrap_file);
    kafka_dev_proxy_free(proxy);
    if (mock)
        rd_kafka_mock_cluster_destroy(mock);
    if (rk)
        rd_kafka_destroy(rk);
    if (signal_fd >= 0)
        close(signal_fd);
    free_topics(&opt);
    return rc;
}
