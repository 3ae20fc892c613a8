/*
 * The `debug` exporter: prints what reaches it, for troubleshooting a
 * pipeline. Through cotel's own log (stderr) by default, or as plain text on
 * stdout, with the Go collector's verbosity levels and per-second sampling.
 */
#include "debug_text.h"

#include "ct_component.h"
#include "ct_log.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SAMPLING_WINDOW_NS 1000000000ull

typedef struct debug_config {
    int verbosity; /* DEBUG_BASIC, DEBUG_NORMAL, DEBUG_DETAILED */
    int64_t sampling_initial;
    int64_t sampling_thereafter;
    bool use_internal_logger;
} debug_config_t;

static const ct_opt_t debug_opts[] = {
    {"verbosity", CT_OPT_ENUM, offsetof(debug_config_t, verbosity), "basic", 0, 0,
     "basic|normal|detailed",
     "basic: a count line per request; normal: a line per item; detailed: everything"},
    {"sampling_initial", CT_OPT_INT, offsetof(debug_config_t, sampling_initial), "2", 0, 1e9, NULL,
     "requests of each signal printed every second before sampling starts"},
    {"sampling_thereafter", CT_OPT_INT, offsetof(debug_config_t, sampling_thereafter), "1", 0, 1e9,
     NULL, "past sampling_initial, print every Nth request of the second (1: all)"},
    {"use_internal_logger", CT_OPT_BOOL, offsetof(debug_config_t, use_internal_logger), "true", 0,
     0, NULL, "print through cotel's log on stderr; false: plain text on stdout"},
    CT_OPT_END,
};

typedef struct debug_state {
    /* Keeps one request's lines together and guards the sampling counters. */
    pthread_mutex_t lock;
    uint64_t window_start; /* monotonic ns */
    uint64_t seen[CT_SIGNAL_COUNT];
} debug_state_t;

static int debug_create(ct_instance_t *inst, ct_err_t *err)
{
    debug_state_t *st = calloc(1, sizeof *st);
    if (!st)
        return ct_errf(err, inst->node, "%s: out of memory", inst->name);
    pthread_mutex_init(&st->lock, NULL);
    inst->state = st;
    return 0;
}

static void debug_destroy(ct_instance_t *inst)
{
    debug_state_t *st = inst->state;
    if (!st)
        return;
    pthread_mutex_destroy(&st->lock);
    free(st);
    inst->state = NULL;
}

/*
 * The Go collector's sampler, per signal: in each one-second window the
 * first sampling_initial requests print, then every sampling_thereafter-th
 * (0: none). Called with the lock held.
 */
static bool debug_sample(debug_state_t *st, const debug_config_t *cfg, ct_signal_t sig)
{
    uint64_t now = ct_now_mono_ns();
    if (st->window_start == 0 || now - st->window_start >= SAMPLING_WINDOW_NS) {
        st->window_start = now;
        memset(st->seen, 0, sizeof st->seen);
    }
    uint64_t n = ++st->seen[sig];
    if (n <= (uint64_t)cfg->sampling_initial)
        return true;
    if (cfg->sampling_thereafter <= 0)
        return false;
    return (n - (uint64_t)cfg->sampling_initial) % (uint64_t)cfg->sampling_thereafter == 0;
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* nowhere to report it: the output is the report */
        p += w;
        n -= (size_t)w;
    }
}

/* One log line per text line: the log's level, format (text or JSON) and prefix apply. */
static void emit_log_lines(const char *component, const ct_buf_t *text)
{
    const char *p = (const char *)text->data, *end = p + text->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        ct_log(CT_LOG_INFO, component, "%.*s", (int)n, p);
        p += n + 1;
    }
}

static ct_send_result_t debug_send(ct_instance_t *inst, ct_request_t *req)
{
    const debug_config_t *cfg = inst->config;
    debug_state_t *st = inst->state;
    ct_send_result_t res = {.code = CT_OK};
    ct_buf_t text = {0};

    if (cfg->use_internal_logger && !ct_log_enabled(CT_LOG_INFO))
        goto out;
    pthread_mutex_lock(&st->lock);
    bool print = debug_sample(st, cfg, req->signal);
    pthread_mutex_unlock(&st->lock);
    if (!print)
        goto out;

    char err[200];
    int rc =
        debug_text_render(req->signal, req->data, req->len, cfg->verbosity, &text, err, sizeof err);
    if (rc == -EINVAL) {
        res.code = CT_INVALID_ARGUMENT;
        snprintf(res.message, sizeof res.message, "%s", err);
        goto out;
    }
    if (rc < 0) {
        /* Out of memory for the text: worth another try once memory is back. */
        res.code = CT_UNAVAILABLE;
        res.retryable = true;
        snprintf(res.message, sizeof res.message, "no memory to print %zu %s", req->items,
                 ct_signal_item_name(req->signal));
        goto out;
    }

    pthread_mutex_lock(&st->lock);
    if (cfg->use_internal_logger)
        emit_log_lines(inst->name, &text);
    else
        write_all(STDOUT_FILENO, text.data, text.len);
    pthread_mutex_unlock(&st->lock);

out:
    ct_buf_free(&text);
    return res;
}

const ct_factory_t ct_debug_exporter_factory = {
    .type = "debug",
    .kind = CT_KIND_EXPORTER,
    .signals = CT_SIGNALS_ALL,
    .description = "prints the telemetry it receives, for troubleshooting pipelines",
    .opts = debug_opts,
    .cfg_size = sizeof(debug_config_t),
    .create = debug_create,
    .destroy = debug_destroy,
    .send = debug_send,
    /*
     * No sending queue or retry, as in the Go collector: requests print in
     * the order they arrive, on the thread that hands them over.
     */
    .settings_offset = CT_OPT_NO_FLAG,
};
