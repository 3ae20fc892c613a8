/*
 * The Prometheus endpoint for cotel's own metrics, served by libmicrohttpd
 * on its own thread; also the process metrics the Go collector exposes.
 */
#include "ct_config.h"
#include "ct_log.h"
#include "ct_metrics.h"
#include "ct_net.h"

#include <malloc.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static uint64_t start_ns;

static double process_rss(void *arg)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return (double)rss * (double)sysconf(_SC_PAGESIZE);
}

static double process_cpu(void *arg)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double process_uptime(void *arg)
{
    return (double)(ct_now_mono_ns() - start_ns) / 1e9;
}

/*
 * jemalloc's control interface, present when the binary links jemalloc (the
 * cotel binary does by default; unit tests do not). Weak: NULL without it.
 */
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
    __attribute__((weak));

/* A jemalloc statistic, refreshed first (its counters are cached per epoch); -1 if unknown. */
static double jemalloc_stat(const char *name)
{
    uint64_t epoch = 1;
    size_t value = 0, len = sizeof value;
    size_t elen = sizeof epoch;
    if (mallctl("epoch", &epoch, &elen, &epoch, sizeof epoch) != 0 ||
        mallctl(name, &value, &len, NULL, 0) != 0)
        return -1;
    return (double)value;
}

/*
 * The Go collector reports its runtime's heap; cotel reports its allocator's,
 * the nearest thing: bytes handed out and not yet freed, and bytes the
 * allocator holds from the OS.
 */
static double heap_alloc(void *arg)
{
    if (mallctl != NULL)
        return jemalloc_stat("stats.allocated");
    struct mallinfo2 mi = mallinfo2();
    return (double)(mi.uordblks + mi.hblkhd);
}

static double heap_sys(void *arg)
{
    if (mallctl != NULL)
        return jemalloc_stat("stats.mapped");
    struct mallinfo2 mi = mallinfo2();
    return (double)(mi.arena + mi.hblkhd);
}

static void register_process_metrics(void)
{
    start_ns = ct_now_mono_ns();
    ct_metrics_gauge_fn("otelcol_process_memory_rss",
                        "Total physical memory (resident set size) [bytes].", "", process_rss,
                        NULL);
    ct_metrics_counter_fn("otelcol_process_cpu_seconds",
                          "Total CPU user and system time in seconds.", "", process_cpu, NULL);
    ct_metrics_counter_fn("otelcol_process_uptime", "Uptime of the process [seconds].", "",
                          process_uptime, NULL);
    /*
     * Under another allocator (a sanitizer's, say) glibc's arenas stay empty:
     * no heap gauges then, rather than gauges stuck at zero.
     */
    if (mallctl == NULL && mallinfo2().arena == 0)
        return;
    ct_metrics_gauge_fn("otelcol_process_runtime_heap_alloc_bytes",
                        "Bytes allocated (jemalloc or glibc malloc) and not yet freed.", "",
                        heap_alloc, NULL);
    ct_metrics_gauge_fn("otelcol_process_runtime_total_sys_memory_bytes",
                        "Bytes the allocator (jemalloc or glibc malloc) holds from the OS.", "",
                        heap_sys, NULL);
}

/* libmicrohttpd's own complaints (mostly about clients) as rate-limited log lines. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    static ct_log_limit_t limit = CT_LOG_LIMIT_INIT;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    ct_log_limited(&limit, 10000000000ull, CT_LOG_WARN, "telemetry", "metrics endpoint: %s", msg);
}

static enum MHD_Result serve(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, const char *upload,
                             size_t *upload_size, void **state)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    unsigned status = MHD_HTTP_OK;
    ct_buf_t body = {0};

    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        ct_buf_puts(&body, "method not allowed\n");
    } else if (strcmp(url, "/metrics") != 0) {
        status = MHD_HTTP_NOT_FOUND;
        ct_buf_puts(&body, "not found: metrics are at /metrics\n");
    } else {
        ct_metrics_write_prometheus(&body);
    }
    resp = MHD_create_response_from_buffer(body.len, body.data, MHD_RESPMEM_MUST_COPY);
    ct_buf_free(&body);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

void *ct_telemetry_start(const char *address, ct_err_t *err)
{
    struct sockaddr_storage sa;
    if (ct_net_resolve(address, &sa, err) != 0)
        return NULL;
    if (start_ns == 0)
        register_process_metrics();
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (sa.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* The logger goes first: options before it would still log the default way. */
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, serve, NULL, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT, 64u,
        MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (d == NULL) {
        ct_errf(err, NULL, "telemetry: cannot listen on %s for metrics", address);
        return NULL;
    }
    ct_log_info("telemetry", "metrics at http://%s/metrics", address);
    return d;
}

void ct_telemetry_stop(void *server)
{
    MHD_stop_daemon(server);
}
