/*
 * The health_check extension: an HTTP endpoint for Kubernetes probes. 200
 * while every pipeline runs; 503 with a short JSON reason while starting,
 * shutting down, or when an exporter has failed to deliver for too long.
 */
#include "ct_component.h"
#include "ct_exporter.h"
#include "ct_log.h"
#include "ct_net.h"
#include "ct_service.h"

#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct health_cfg {
    char *endpoint;
    char *path;
    bool pipeline_present;
    struct {
        bool enabled;
        uint64_t interval;
        int64_t exporter_failure_threshold;
    } pipeline;
} health_cfg_t;

static const ct_opt_t pipeline_opts[] = {
    {"enabled", CT_OPT_BOOL, 0, "false", 0, 0, NULL,
     "answer 503 when an exporter fails to deliver for longer than interval"},
    {"interval", CT_OPT_DURATION, 8, "5m", 0, 0, NULL,
     "how long an exporter may fail without a break before the collector is unhealthy"},
    {"exporter_failure_threshold", CT_OPT_INT, 16, "5", 1, 1e9, NULL,
     "accepted for compatibility; cotel judges by uninterrupted failure time"},
    CT_OPT_END,
};

static const ct_opt_t health_opts[] = {
    {"endpoint", CT_OPT_STRING, offsetof(health_cfg_t, endpoint), "localhost:13133", 0, 0, NULL,
     "host:port to listen on"},
    {"path", CT_OPT_STRING, offsetof(health_cfg_t, path), "/", 0, 0, NULL,
     "URL path of the health answer"},
    {"check_collector_pipeline", CT_OPT_SECTION, offsetof(health_cfg_t, pipeline_present), NULL, 0,
     0, NULL, "also judge exporters' delivery", pipeline_opts, offsetof(health_cfg_t, pipeline)},
    CT_OPT_END,
};

typedef struct health {
    ct_instance_t *inst;
    health_cfg_t *cfg;
    struct MHD_Daemon *daemon;
    uint64_t start_ns;
    time_t up_since;
} health_t;

typedef struct failing {
    uint64_t threshold, now;
    char who[200];
    uint64_t longest;
} failing_t;

static void check_exporter(ct_instance_t *inst, void *arg)
{
    failing_t *f = arg;
    uint64_t since = ct_exporter_failing_since(inst->exporter);
    if (since == 0 || f->now - since <= f->threshold || f->now - since <= f->longest)
        return;
    f->longest = f->now - since;
    snprintf(f->who, sizeof f->who, "%s", inst->name);
}

/* Component ids come from the user's configuration: quote them safely in JSON. */
static void json_string_body(ct_buf_t *b, const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            ct_buf_printf(b, "\\%c", c);
        else if (c < 0x20)
            ct_buf_printf(b, "\\u%04x", c);
        else
            ct_buf_putc(b, c);
    }
}

/* Fills body with the JSON answer and returns the HTTP status. */
static unsigned health_status(health_t *h, ct_buf_t *body)
{
    ct_service_state_t st = ct_service_state(h->inst->service);
    const char *reason = NULL;
    char detail[320];
    failing_t f = {.now = ct_now_mono_ns()};

    if (st == CT_SERVICE_STARTING)
        reason = "starting";
    else if (st != CT_SERVICE_RUNNING)
        reason = "shutting down";
    else if (h->cfg->pipeline.enabled) {
        f.threshold = h->cfg->pipeline.interval;
        ct_service_each_exporter(h->inst->service, check_exporter, &f);
        if (f.longest > 0) {
            snprintf(detail, sizeof detail, "%s has failed to deliver for %llus", f.who,
                     (unsigned long long)(f.longest / 1000000000ull));
            reason = detail;
        }
    }

    char since[40];
    struct tm tm;
    gmtime_r(&h->up_since, &tm);
    strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm);
    double uptime = (double)(f.now - h->start_ns) / 1e9;
    if (reason == NULL) {
        ct_buf_printf(body,
                      "{\"status\":\"Server available\",\"upSince\":\"%s\","
                      "\"uptime\":\"%.3fs\"}\n",
                      since, uptime);
        return MHD_HTTP_OK;
    }
    ct_buf_puts(body, "{\"status\":\"Server not available\",\"reason\":\"");
    json_string_body(body, reason);
    ct_buf_printf(body, "\",\"upSince\":\"%s\",\"uptime\":\"%.3fs\"}\n", since, uptime);
    return MHD_HTTP_SERVICE_UNAVAILABLE;
}

static enum MHD_Result serve(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, const char *upload,
                             size_t *upload_size, void **state)
{
    health_t *h = cls;
    ct_buf_t body = {0};
    unsigned status;

    if (strcmp(url, h->cfg->path) != 0) {
        status = MHD_HTTP_NOT_FOUND;
        ct_buf_puts(&body, "{\"status\":\"not found\"}\n");
    } else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        ct_buf_puts(&body, "{\"status\":\"method not allowed\"}\n");
    } else {
        status = health_status(h, &body);
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(body.len, body.data, MHD_RESPMEM_MUST_COPY);
    ct_buf_free(&body);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* libmicrohttpd's own complaints (mostly about clients) as rate-limited log lines. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    static ct_log_limit_t limit = CT_LOG_LIMIT_INIT;
    ct_instance_t *inst = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    ct_log_limited(&limit, 10000000000ull, CT_LOG_WARN, inst->name, "%s", msg);
}

static int health_start(ct_instance_t *inst, ct_err_t *err)
{
    health_t *h = calloc(1, sizeof *h);
    struct sockaddr_storage sa;
    if (h == NULL)
        return ct_errf(err, inst->node, "%s: out of memory", inst->name);
    inst->state = h;
    h->inst = inst;
    h->cfg = inst->config;
    h->start_ns = ct_now_mono_ns();
    h->up_since = time(NULL);
    if (ct_net_resolve(h->cfg->endpoint, &sa, err) != 0)
        return -1;

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (sa.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* The logger goes first: options before it would still log the default way. */
    h->daemon =
        MHD_start_daemon(flags, 0, NULL, NULL, serve, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, inst,
                         MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT,
                         64u, MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (h->daemon == NULL)
        return ct_errf(err, inst->node, "%s: cannot listen on %s", inst->name, h->cfg->endpoint);
    ct_log_info(inst->name, "health answers at http://%s%s", h->cfg->endpoint, h->cfg->path);
    return 0;
}

static void health_shutdown(ct_instance_t *inst, uint64_t deadline_ns)
{
    health_t *h = inst->state;
    if (h != NULL && h->daemon != NULL) {
        MHD_stop_daemon(h->daemon);
        h->daemon = NULL;
    }
}

static void health_destroy(ct_instance_t *inst)
{
    health_shutdown(inst, 0);
    free(inst->state);
    inst->state = NULL;
}

const ct_factory_t ct_health_check_extension_factory = {
    .type = "health_check",
    .kind = CT_KIND_EXTENSION,
    .description = "answers HTTP health probes: 200 while running, 503 with a reason otherwise",
    .opts = health_opts,
    .cfg_size = sizeof(health_cfg_t),
    .start = health_start,
    .shutdown = health_shutdown,
    .destroy = health_destroy,
    .settings_offset = CT_OPT_NO_FLAG,
};
