/*
 * cotel-nullsink: the smallest OTLP/gRPC server on the gRPC core C API. It
 * answers the three Export calls OK with an empty response and keeps only
 * counts: the cost of the transport alone, the floor cotel is measured
 * against, and a destination that never slows the otlp exporter down.
 */
#include "ct_common.h"
#include "ct_wire.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/compression.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define MAX_THREADS 16
/* Calls asked for in advance per method and thread, as cotel's receiver does. */
#define SLOTS_PER_METHOD 4

static const char *const method_paths[CT_SIGNAL_COUNT] = {
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
};

typedef struct sink_opts {
    const char *endpoint;
    const char *port_file;
    bool count_items; /* walk each request with ct_wire_check, else count requests only */
    size_t threads;
} sink_opts_t;

typedef struct sink sink_t;

typedef struct sink_call {
    sink_t *s;
    grpc_completion_queue *cq;
    int method;
    bool answering;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *payload;
    grpc_byte_buffer *response;
    int cancelled;
} sink_call_t;

struct sink {
    const sink_opts_t *o;
    grpc_server *server;
    void *methods[CT_SIGNAL_COUNT];
    grpc_completion_queue *cq[MAX_THREADS];
    pthread_t threads[MAX_THREADS];
    size_t nthreads, nrunning;
    bool started; /* grpc_server_start was called */
    atomic_bool stopping;

    _Atomic uint64_t requests[CT_SIGNAL_COUNT];
    _Atomic uint64_t items[CT_SIGNAL_COUNT];
    _Atomic uint64_t bytes[CT_SIGNAL_COUNT];
    _Atomic uint64_t invalid; /* requests ct_wire_check refused (answered INVALID_ARGUMENT) */
};

static int call_request(sink_t *s, grpc_completion_queue *cq, int method)
{
    sink_call_t *c = calloc(1, sizeof *c);

    if (c == NULL)
        return -ENOMEM;
    c->s = s;
    c->cq = cq;
    c->method = method;
    grpc_metadata_array_init(&c->md);
    if (grpc_server_request_registered_call(s->server, s->methods[method], &c->call, &c->deadline,
                                            &c->md, &c->payload, cq, cq, c) != GRPC_CALL_OK) {
        grpc_metadata_array_destroy(&c->md);
        free(c);
        return -EIO;
    }
    return 0;
}

static void call_free(sink_call_t *c)
{
    if (c->call != NULL)
        grpc_call_unref(c->call);
    grpc_metadata_array_destroy(&c->md);
    if (c->payload != NULL)
        grpc_byte_buffer_destroy(c->payload);
    if (c->response != NULL)
        grpc_byte_buffer_destroy(c->response);
    free(c);
}

/* Counts one request's items; false when the request is malformed. */
static bool count_items(sink_t *s, int method, grpc_byte_buffer *bb)
{
    grpc_byte_buffer_reader rd;
    grpc_slice *first = NULL, all;
    size_t total = grpc_byte_buffer_length(bb), items = 0;
    bool ok;

    if (!grpc_byte_buffer_reader_init(&rd, bb))
        return false;
    /* One slice (the usual case for small requests): walk it where it lies. */
    if (grpc_byte_buffer_reader_peek(&rd, &first) && GRPC_SLICE_LENGTH(*first) == total) {
        ok = ct_wire_check((ct_signal_t)method, GRPC_SLICE_START_PTR(*first), total, &items, NULL,
                           0) == 0;
    } else {
        grpc_byte_buffer_reader_destroy(&rd);
        if (!grpc_byte_buffer_reader_init(&rd, bb))
            return false;
        all = grpc_byte_buffer_reader_readall(&rd);
        ok = ct_wire_check((ct_signal_t)method, GRPC_SLICE_START_PTR(all), GRPC_SLICE_LENGTH(all),
                           &items, NULL, 0) == 0;
        grpc_slice_unref(all);
    }
    grpc_byte_buffer_reader_destroy(&rd);
    if (ok)
        atomic_fetch_add_explicit(&s->items[method], items, memory_order_relaxed);
    return ok;
}

static void call_answer(sink_call_t *c, grpc_status_code status)
{
    grpc_op ops[4];
    size_t n = 0;

    memset(ops, 0, sizeof ops);
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (status == GRPC_STATUS_OK) {
        c->response = grpc_raw_byte_buffer_create(NULL, 0);
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = c->response;
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n++].data.send_status_from_server.status = status;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
    c->answering = true;
    if (grpc_call_start_batch(c->call, ops, n, c, NULL) != GRPC_CALL_OK)
        call_free(c);
}

static void call_step(sink_call_t *c, int success)
{
    sink_t *s = c->s;
    grpc_status_code status = GRPC_STATUS_OK;

    if (c->answering || !success) {
        call_free(c);
        return;
    }
    if (!atomic_load(&s->stopping))
        call_request(s, c->cq, c->method);
    if (c->payload == NULL) {
        status = GRPC_STATUS_INTERNAL;
    } else {
        atomic_fetch_add_explicit(&s->requests[c->method], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->bytes[c->method], grpc_byte_buffer_length(c->payload),
                                  memory_order_relaxed);
        if (s->o->count_items && !count_items(s, c->method, c->payload)) {
            atomic_fetch_add_explicit(&s->invalid, 1, memory_order_relaxed);
            status = GRPC_STATUS_INVALID_ARGUMENT;
        }
    }
    call_answer(c, status);
}

static void *worker_main(void *arg)
{
    grpc_completion_queue *cq = arg;

    for (;;) {
        grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_OP_COMPLETE)
            call_step(ev.tag, ev.success);
    }
    return NULL;
}

static double cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void print_counts(sink_t *s)
{
    const char *sep = "";

    printf("{\"counting\":\"%s\",\"requests\":{", s->o->count_items ? "items" : "requests");
    for (int i = 0; i < CT_SIGNAL_COUNT; i++, sep = ",")
        printf("%s\"%s\":%llu", sep, ct_signal_name((ct_signal_t)i),
               (unsigned long long)atomic_load(&s->requests[i]));
    printf("},\"items\":{");
    sep = "";
    for (int i = 0; i < CT_SIGNAL_COUNT; i++, sep = ",")
        printf("%s\"%s\":%llu", sep, ct_signal_name((ct_signal_t)i),
               (unsigned long long)atomic_load(&s->items[i]));
    printf("},\"bytes\":{");
    sep = "";
    for (int i = 0; i < CT_SIGNAL_COUNT; i++, sep = ",")
        printf("%s\"%s\":%llu", sep, ct_signal_name((ct_signal_t)i),
               (unsigned long long)atomic_load(&s->bytes[i]));
    printf("},\"invalid\":%llu,\"cpu_s\":%.3f}\n", (unsigned long long)atomic_load(&s->invalid),
           cpu_seconds());
    fflush(stdout);
}

/* Writes the address to a temporary name and renames it, so a reader sees all of it or none. */
static int write_port_file(const char *path, const char *addr)
{
    char tmp[4096];
    FILE *f;

    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if ((f = fopen(tmp, "w")) == NULL)
        return -1;
    fprintf(f, "%s\n", addr);
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        return -1;
    return 0;
}

/* "host:0" becomes "host:<port gRPC bound>". */
static void bound_address(const char *endpoint, int port, char *out, size_t len)
{
    const char *colon = strrchr(endpoint, ':');
    int hostlen = colon ? (int)(colon - endpoint) : (int)strlen(endpoint);

    snprintf(out, len, "%.*s:%d", hostlen, endpoint, port);
}

static int sink_start(sink_t *s, char *addr, size_t addrlen)
{
    grpc_arg args[2];
    grpc_channel_args chargs = {0, args};
    grpc_server_credentials *creds;
    int port;

    args[chargs.num_args].type = GRPC_ARG_INTEGER;
    args[chargs.num_args].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[chargs.num_args++].value.integer = 64 << 20;
    args[chargs.num_args].type = GRPC_ARG_INTEGER;
    args[chargs.num_args].key = (char *)GRPC_ARG_ALLOW_REUSEPORT;
    args[chargs.num_args++].value.integer = 0;
    s->server = grpc_server_create(&chargs, NULL);
    for (int m = 0; m < CT_SIGNAL_COUNT; m++)
        s->methods[m] = grpc_server_register_method(s->server, method_paths[m], NULL,
                                                    GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    for (size_t i = 0; i < s->nthreads; i++) {
        s->cq[i] = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(s->server, s->cq[i], NULL);
    }
    creds = grpc_insecure_server_credentials_create();
    port = grpc_server_add_http2_port(s->server, s->o->endpoint, creds);
    grpc_server_credentials_release(creds);
    if (port == 0) {
        fprintf(stderr, "cotel-nullsink: cannot listen on %s\n", s->o->endpoint);
        return -1;
    }
    bound_address(s->o->endpoint, port, addr, addrlen);
    grpc_server_start(s->server);
    s->started = true;
    for (size_t i = 0; i < s->nthreads; i++) {
        if (pthread_create(&s->threads[i], NULL, worker_main, s->cq[i]) != 0)
            return -1;
        s->nrunning++;
        for (int m = 0; m < CT_SIGNAL_COUNT; m++) {
            for (int k = 0; k < SLOTS_PER_METHOD; k++) {
                if (call_request(s, s->cq[i], m) != 0)
                    return -1;
            }
        }
    }
    return 0;
}

/* Stops taking calls, lets those being answered finish (5 s at most), ends the threads. */
static void sink_stop(sink_t *s)
{
    grpc_completion_queue *scq = grpc_completion_queue_create_for_pluck(NULL);
    char tag;
    grpc_event ev;

    atomic_store(&s->stopping, true);
    if (s->started) {
        gpr_timespec limit =
            gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_seconds(5, GPR_TIMESPAN));
        grpc_server_shutdown_and_notify(s->server, scq, &tag);
        ev = grpc_completion_queue_pluck(scq, &tag, limit, NULL);
        if (ev.type == GRPC_QUEUE_TIMEOUT) {
            grpc_server_cancel_all_calls(s->server);
            grpc_completion_queue_pluck(scq, &tag, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        }
    }
    for (size_t i = 0; i < s->nthreads; i++)
        grpc_completion_queue_shutdown(s->cq[i]);
    for (size_t i = 0; i < s->nrunning; i++)
        pthread_join(s->threads[i], NULL);
    /* Queues without a thread (a failed start) are drained here. */
    for (size_t i = s->nrunning; i < s->nthreads; i++) {
        while (
            (ev = grpc_completion_queue_next(s->cq[i], gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL))
                .type == GRPC_OP_COMPLETE)
            call_step(ev.tag, 0);
    }
    grpc_server_destroy(s->server);
    for (size_t i = 0; i < s->nthreads; i++)
        grpc_completion_queue_destroy(s->cq[i]);
    grpc_completion_queue_shutdown(scq);
    grpc_completion_queue_pluck(scq, NULL, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    grpc_completion_queue_destroy(scq);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cotel-nullsink [options]\n"
            "Answers OTLP/gRPC Export calls OK and discards them. Prints\n"
            "\"listening=HOST:PORT\" once it listens; on SIGUSR1 its counts as JSON;\n"
            "on SIGTERM or SIGINT its counts as JSON, then exits.\n"
            "options:\n"
            "  --endpoint HOST:PORT   where to listen (default 127.0.0.1:0, a free port)\n"
            "  --count items|requests walk each request to count its items (default items)\n"
            "  --threads N            completion-queue threads (default: as cotel, CPUs/2, 1..4)\n"
            "  --port-file PATH       also write HOST:PORT there once listening\n");
}

static int parse_args(int argc, char **argv, sink_opts_t *o)
{
    static const struct option longopts[] = {
        {"endpoint", required_argument, NULL, 'e'}, {"count", required_argument, NULL, 'c'},
        {"threads", required_argument, NULL, 't'},  {"port-file", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    int ch;

    o->endpoint = "127.0.0.1:0";
    o->count_items = true;
    n /= 2; /* as cotel's otlp receiver: one thread per two CPUs, 1 to 4 */
    o->threads = n < 1 ? 1 : n > 4 ? 4 : (size_t)n;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'e':
            o->endpoint = optarg;
            break;
        case 'p':
            o->port_file = optarg;
            break;
        case 'c':
            if (strcmp(optarg, "items") != 0 && strcmp(optarg, "requests") != 0)
                return -1;
            o->count_items = strcmp(optarg, "items") == 0;
            break;
        case 't':
            o->threads = (size_t)atol(optarg);
            if (o->threads < 1 || o->threads > MAX_THREADS)
                return -1;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            return -1;
        }
    }
    return optind == argc ? 0 : -1;
}

int main(int argc, char **argv)
{
    sink_opts_t o = {0};
    sink_t s = {.o = &o};
    sigset_t set;
    char addr[512];
    int sig = 0, rc = 1;

    if (parse_args(argc, argv, &o) != 0) {
        usage(stderr);
        return 2;
    }
    s.nthreads = o.threads;
    /* Blocked before any thread starts, so that every thread inherits it and sigwait gets them. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    grpc_init();
    if (sink_start(&s, addr, sizeof addr) != 0)
        goto out;
    printf("listening=%s\n", addr);
    fflush(stdout);
    if (o.port_file != NULL && write_port_file(o.port_file, addr) != 0) {
        fprintf(stderr, "cotel-nullsink: cannot write %s: %s\n", o.port_file, strerror(errno));
        goto out;
    }
    while (sigwait(&set, &sig) == 0 && sig == SIGUSR1)
        print_counts(&s);
    rc = 0;
out:
    if (s.server != NULL)
        sink_stop(&s);
    if (rc == 0)
        print_counts(&s);
    if (o.port_file != NULL)
        unlink(o.port_file);
    grpc_shutdown();
    return rc;
}
