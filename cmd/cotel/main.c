/*
 * cotel's command line: run a configuration, validate one, or list the
 * components built in with every configuration key they take.
 */
#include "ct_component.h"
#include "ct_config.h"
#include "ct_log.h"
#include "ct_service.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef COTEL_VERSION
#define COTEL_VERSION "dev"
#endif

/* With no --config: OTLP over gRPC on localhost:4317 into the debug exporter. */
static const char default_config[] =
    "receivers:\n"
    "  otlp:\n"
    "    protocols:\n"
    "      grpc:\n"
    "        endpoint: localhost:4317\n"
    "exporters:\n"
    "  debug:\n"
    "    verbosity: basic\n"
    "service:\n"
    "  pipelines:\n"
    "    traces: {receivers: [otlp], exporters: [debug]}\n"
    "    metrics: {receivers: [otlp], exporters: [debug]}\n"
    "    logs: {receivers: [otlp], exporters: [debug]}\n";

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
        return ct_config_load_string("<default config>", default_config,
                                     sizeof default_config - 1, err);
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

/* A second SIGTERM or SIGINT during shutdown ends the process at once. */
static void *second_signal(void *arg)
{
    sigset_t *set = arg;
    int sig;
    sigwait(set, &sig);
    ct_log_warn(NULL, "second signal (%s): exiting without finishing shutdown",
                strsignal(sig));
    _exit(130);
    return NULL;
}

static int cmd_run(const char *path)
{
    static sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
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
    ct_log_info(NULL, "cotel %s starting with %s (pid %d)", COTEL_VERSION,
                path ? path : "the default config", (int)getpid());

    if (ct_service_start(s, &err) != 0) {
        ct_log_error(NULL, "cannot start: %s", err.msg);
        ct_service_shutdown(s);
        ct_service_free(s);
        ct_node_free(root);
        return 1;
    }
    ct_log_info(NULL, "everything is ready; send SIGTERM or SIGINT to stop");

    int sig;
    sigwait(&set, &sig);
    ct_log_info(NULL, "received %s: shutting down (receivers first, then flushing and "
                "draining)", strsignal(sig));
    pthread_t watcher;
    if (pthread_create(&watcher, NULL, second_signal, &set) == 0)
        pthread_detach(watcher);

    ct_service_shutdown(s);
    ct_service_free(s);
    ct_node_free(root);
    ct_log_info(NULL, "shutdown complete");
    return 0;
}

int main(int argc, char **argv)
{
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
