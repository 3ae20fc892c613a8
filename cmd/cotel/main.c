/*
 * cotel's command line: run a configuration, validate one, or list the
 * components built in with every configuration key they take.
 */
#include "ct_component.h"
#include "ct_config.h"
#include "ct_log.h"
#include "ct_metrics.h"
#include "ct_service.h"

#include <errno.h>
#include <pthread.h>
#include <sys/resource.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#ifndef COTEL_VERSION
#define COTEL_VERSION "dev"
#endif

/*
 * With no --config: OTLP gRPC on localhost:4317, the two processors every
 * production pipeline runs, into the debug exporter.
 */
static const char default_config[] =
    "receivers:\n"
    "  otlp:\n"
    "    protocols:\n"
    "      grpc:\n"
    "        endpoint: localhost:4317\n"
    "processors:\n"
    "  memory_limiter:\n"
    "    check_interval: 1s\n"
    "    limit_percentage: 80\n"
    "    spike_limit_percentage: 25\n"
    "  batch:\n"
    "exporters:\n"
    "  debug:\n"
    "    verbosity: basic\n"
    "service:\n"
    "  pipelines:\n"
    "    traces: {receivers: [otlp], processors: [memory_limiter, batch], exporters: [debug]}\n"
    "    metrics: {receivers: [otlp], processors: [memory_limiter, batch], exporters: [debug]}\n"
    "    logs: {receivers: [otlp], processors: [memory_limiter, batch], exporters: [debug]}\n";

static void usage(FILE *out)
{
    fprintf(out,
            "usage: cotel [--config FILE]            run (default: OTLP gRPC on localhost:4317 "
            "into the debug exporter)\n"
            "       cotel validate --config FILE     check a configuration; exit 0 if valid\n"
            "       cotel components                 list components and their keys\n"
            "       cotel --version\n");
}

static ct_node_t *load(const char *path, ct_err_t *err)
{
    if (path == NULL)
        return ct_config_load_string("<default config>", default_config, sizeof default_config - 1,
                                     err);
    return ct_config_load_file(path, err);
}

static int cmd_components(void)
{
    ct_buf_t out = {0};
    for (int k = 0; k < CT_KIND_COUNT; k++) {
        ct_buf_printf(&out, "%s:\n", ct_kind_section((ct_kind_t)k));
        for (const ct_factory_t *const *f = ct_builtin_factories; *f; f++) {
            if ((*f)->kind != (ct_kind_t)k)
                continue;
            ct_buf_printf(&out, "  %s", (*f)->type);
            if ((*f)->alias)
                ct_buf_printf(&out, " (also: %s)", (*f)->alias);
            if ((*f)->signals) {
                ct_buf_puts(&out, " [");
                for (int s = 0, n = 0; s < CT_SIGNAL_COUNT; s++) {
                    if ((*f)->signals & CT_SIGNAL_BIT(s))
                        ct_buf_printf(&out, "%s%s", n++ ? ", " : "",
                                      ct_signal_name((ct_signal_t)s));
                }
                ct_buf_puts(&out, "]");
            }
            ct_buf_printf(&out, ": %s\n", (*f)->description ? (*f)->description : "");
            if ((*f)->opts)
                ct_opt_describe((*f)->opts, "", &out);
        }
    }
    fwrite(out.data, 1, out.len, stdout);
    ct_buf_free(&out);
    return 0;
}

static int cmd_validate(const char *path)
{
    ct_log_setup(CT_LOG_WARN, 0); /* building components may log at info; validate is quiet */
    ct_err_t err = {{0}};
    ct_node_t *root = load(path, &err);
    ct_service_t *s = root ? ct_service_build(root, &err) : NULL;
    int rc = s ? 0 : 1;
    if (s)
        printf("%s: valid\n", path ? path : "<default config>");
    else
        fprintf(stderr, "cotel: invalid configuration: %s\n", err.msg);
    ct_service_free(s);
    ct_node_free(root);
    return rc;
}

static const char *signal_name(int sig)
{
    return sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : strsignal(sig);
}

/* Appends name="value" to a label list, the name made a valid Prometheus label name. */
static void add_label(ct_buf_t *labels, const char *key, const char *value)
{
    char escaped[256];
    if (labels->len > 0)
        ct_buf_putc(labels, ',');
    if (*key >= '0' && *key <= '9')
        ct_buf_putc(labels, '_');
    for (const char *k = key; *k != '\0'; k++) {
        int ok = (*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') ||
                 *k == '_';
        ct_buf_putc(labels, ok ? (uint8_t)*k : '_');
    }
    ct_metrics_label_escape(escaped, sizeof escaped, value);
    ct_buf_printf(labels, "=\"%s\"", escaped);
}

/* A random (version 4) UUID, as the Go collector makes its service.instance.id. */
static void random_uuid(char out[37])
{
    uint8_t b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        uint64_t seed = ct_now_unix_ns() ^ ((uint64_t)getpid() << 32);
        for (size_t i = 0; i < sizeof b; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            b[i] = (uint8_t)(seed >> 56);
        }
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

/*
 * Labels every metric series carries: service_name, service_instance_id and
 * service_version, then service::telemetry::resource, where an attribute set
 * to null removes one of the three and any other is added.
 */
static void set_resource_labels(const ct_node_t *root)
{
    const ct_node_t *res =
        ct_node_get(ct_node_get(ct_node_get(root, "service"), "telemetry"), "resource");
    static const char *const own[] = {"service.name", "service.instance.id", "service.version"};
    char uuid[37];
    random_uuid(uuid);
    const char *own_values[] = {"cotel", uuid, COTEL_VERSION};
    ct_buf_t labels = {0};

    for (size_t i = 0; i < CT_ARRAY_LEN(own); i++) {
        const ct_node_t *v = ct_node_get(res, own[i]);
        if (v == NULL)
            add_label(&labels, own[i], own_values[i]);
        else if (!ct_node_is_null(v) && v->kind == CT_NODE_SCALAR)
            add_label(&labels, own[i], v->value);
    }
    for (size_t i = 0; res != NULL && res->kind == CT_NODE_MAP && i < res->n; i++) {
        const char *key = res->keys[i]->value;
        const ct_node_t *v = res->items[i];
        int is_own = 0;
        for (size_t j = 0; j < CT_ARRAY_LEN(own); j++)
            is_own |= strcmp(key, own[j]) == 0;
        if (!is_own && !ct_node_is_null(v) && v->kind == CT_NODE_SCALAR)
            add_label(&labels, key, v->value);
    }
    ct_buf_putc(&labels, '\0');
    if (labels.data == NULL || ct_metrics_set_const_labels((char *)labels.data) != 0)
        ct_log_warn(NULL, "out of memory: metrics are written without the resource labels");
    ct_buf_free(&labels);
}

typedef struct shutdown_watch {
    sigset_t *set;
    uint64_t limit_ns; /* shutdown_timeout plus a grace period */
} shutdown_watch_t;

/*
 * During shutdown: a second SIGTERM or SIGINT ends the process at once, and so
 * does a shutdown that overruns its deadline (a component stuck past it).
 */
static void *shutdown_watcher(void *arg)
{
    shutdown_watch_t *w = arg;
    struct timespec ts = {.tv_sec = (time_t)(w->limit_ns / 1000000000ull),
                          .tv_nsec = (long)(w->limit_ns % 1000000000ull)};
    int sig;
    do {
        sig = sigtimedwait(w->set, NULL, &ts);
    } while (sig < 0 && errno == EINTR);
    if (sig < 0) {
        ct_log_error(NULL, "shutdown not finished %.1fs after the signal: exiting anyway",
                     (double)w->limit_ns / 1e9);
        _exit(1);
    }
    ct_log_warn(NULL, "second signal (%s): exiting without finishing shutdown", signal_name(sig));
    _exit(130);
    return NULL;
}

static char **saved_argv;

/*
 * SIGHUP asks for the configuration file to be read again, as with the Go
 * collector. The new file is checked first: an invalid one is logged and the
 * running configuration stays. Returns whether to restart with it.
 */
static bool reload_wanted(const char *path)
{
    if (path == NULL) {
        ct_log_warn(NULL, "SIGHUP: running the built-in default config, nothing to reload");
        return false;
    }
    ct_err_t err = {{0}};
    ct_log_level_t level = ct_log_level();
    ct_log_setup(CT_LOG_WARN, ct_log_is_json()); /* building the check copy logs nothing */
    ct_node_t *root = load(path, &err);
    ct_service_t *s = root ? ct_service_build(root, &err) : NULL;
    ct_log_setup(level, ct_log_is_json());
    ct_service_free(s);
    ct_node_free(root);
    if (s == NULL) {
        ct_log_error(NULL, "SIGHUP: %s is not valid, the running configuration stays: %s", path,
                     err.msg);
        return false;
    }
    ct_log_info(NULL, "SIGHUP: reloading %s: stopping gracefully, then starting again", path);
    return true;
}

static int cmd_run(const char *path)
{
    static sigset_t set, stop_set;
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGTERM);
    sigaddset(&stop_set, SIGINT);
    set = stop_set;
    sigaddset(&set, SIGHUP);
    /* Every thread started from here on inherits the mask: only sigwait sees them. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    ct_err_t err = {{0}};
    ct_node_t *root = load(path, &err);
    ct_service_t *s = root ? ct_service_build(root, &err) : NULL;
    if (s == NULL) {
        fprintf(stderr, "cotel: invalid configuration: %s\n", err.msg);
        ct_node_free(root);
        return 1;
    }
    const ct_telemetry_settings_t *t = ct_service_telemetry(s);
    ct_log_level_t level = CT_LOG_INFO;
    ct_log_parse_level(t->log_level, &level);
    ct_log_setup(level, t->log_encoding == 1);
    set_resource_labels(root);
    ct_log_info(NULL, "cotel %s starting with %s (pid %d)", COTEL_VERSION,
                path ? path : "the default config", (int)getpid());
    ct_log_debug(NULL,
                 "own telemetry: logs at level %s as %s on stderr; metrics level %s; "
                 "shutdown_timeout %.1fs",
                 t->log_level, t->log_encoding == 1 ? "json" : "console",
                 t->metrics_level ? t->metrics_level : "normal", (double)t->shutdown_timeout / 1e9);

    if (ct_service_start(s, &err) != 0) {
        ct_log_error(NULL, "cannot start: %s", err.msg);
        ct_service_shutdown(s); /* stops what had started, draining what it accepted */
        ct_log_flush_limits();
        ct_service_free(s);
        ct_node_free(root);
        return 1;
    }
    ct_log_info(NULL, "everything is ready; send SIGTERM or SIGINT to stop");

    int sig;
    bool reload = false;
    for (;;) {
        while (sigwait(&set, &sig) != 0)
            ;
        if (sig != SIGHUP || (reload = reload_wanted(path)))
            break;
    }
    uint64_t timeout = t->shutdown_timeout;
    ct_log_info(NULL,
                "received %s: shutting down within %.1fs (receivers first, then "
                "processors flush and exporters drain)",
                signal_name(sig), (double)timeout / 1e9);
    uint64_t began = ct_now_mono_ns();
    static shutdown_watch_t watch;
    watch.set = &stop_set;
    watch.limit_ns = timeout + 10000000000ull;
    pthread_t watcher;
    if (pthread_create(&watcher, NULL, shutdown_watcher, &watch) == 0)
        pthread_detach(watcher);

    ct_service_shutdown(s);
    /* The last of a burst of rate-limited lines (drops at the deadline, say) is counted. */
    ct_log_flush_limits();
    ct_service_free(s);
    ct_node_free(root);
    ct_log_info(NULL, "shutdown complete in %.3fs", (double)(ct_now_mono_ns() - began) / 1e9);
    if (reload) {
        execv("/proc/self/exe", saved_argv);
        ct_log_error(NULL, "SIGHUP: cannot start again (%s); exiting", strerror(errno));
        return 1;
    }
    return 0;
}

/*
 * A node agent holds many connections: raise the soft open-files limit to
 * the hard one, as the OpenTelemetry Collector does (the HTTP receiver sizes
 * its connection limit from it).
 */
static void raise_nofile_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    saved_argv = argv;
    raise_nofile_limit();
    const char *config = NULL;
    const char *command = "run";

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) {
            if (++i >= argc) {
                usage(stderr);
                return 2;
            }
            config = argv[i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            config = a + 9;
        } else if (strcmp(a, "--version") == 0 || strcmp(a, "version") == 0) {
            printf("cotel %s\n", COTEL_VERSION);
            return 0;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "validate") == 0 || strcmp(a, "components") == 0) {
            command = a;
        } else {
            fprintf(stderr, "cotel: unknown argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (strcmp(command, "components") == 0)
        return cmd_components();
    if (strcmp(command, "validate") == 0)
        return cmd_validate(config);
    return cmd_run(config);
}
