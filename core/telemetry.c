/*
 * The Prometheus endpoint for cotel's own metrics, served by libmicrohttpd
 * on its own thread; also the process gauges the Go collector exposes.
 */
#include "ct_config.h"
#include "ct_log.h"
#include "ct_metrics.h"
#include "ct_net.h"

#include <microhttpd.h>
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
    if (start_ns == 0) {
        start_ns = ct_now_mono_ns();
        ct_metrics_gauge_fn("otelcol_process_memory_rss", "Total physical memory (resident set "
                            "size) [bytes].", "", process_rss, NULL);
        ct_metrics_gauge_fn("otelcol_process_cpu_seconds", "Total CPU user and system time in "
                            "seconds.", "", process_cpu, NULL);
        ct_metrics_gauge_fn("otelcol_process_uptime", "Uptime of the process [seconds].", "",
                            process_uptime, NULL);
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (sa.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(flags, 0, NULL, NULL, serve, NULL,
                                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                            MHD_OPTION_CONNECTION_LIMIT, 64u,
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
