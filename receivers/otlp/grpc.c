/*
 * The otlp receiver's gRPC transport, on the gRPC core C API: the three
 * unary Export methods, served by a few threads that each poll their own
 * completion queue and drive every call through a small state machine.
 */
#include "otlp_receiver.h"

#include <grpc/byte_buffer.h>
#include <grpc/compression.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define GRPC_MAX_WORKERS 4
/* Calls asked for in advance per method and thread; more wait inside gRPC until one is free. */
#define GRPC_SLOTS_PER_METHOD 4
#define GRPC_SLOTS_GENERIC    1

static const char *const method_paths[CT_SIGNAL_COUNT] = {
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
};

/* A call is first asked for (REQUESTED), then answered (ANSWERING), then freed. */
typedef enum call_state { CALL_REQUESTED, CALL_ANSWERING } call_state_t;

typedef struct grpc_worker grpc_worker_t;

typedef struct otlp_call {
    grpc_worker_t *w;
    int method; /* a ct_signal_t, or -1 for a method nobody registered */
    call_state_t state;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_call_details details; /* unregistered methods only */
    grpc_metadata_array md;
    grpc_byte_buffer *payload;
    grpc_byte_buffer *response;
    grpc_slice status_details;
    int cancelled;
} otlp_call_t;

struct grpc_worker {
    otlp_grpc_t *g;
    grpc_completion_queue *cq;
    pthread_t thread;
    bool running;
};

struct otlp_grpc {
    otlp_receiver_t *r;
    const otlp_grpc_cfg_t *cfg;
    grpc_server *server;
    bool started;   /* grpc_server_start was called */
    bool shut_down; /* the server's shutdown completed and the threads ended */
    void *methods[CT_SIGNAL_COUNT];
    grpc_worker_t workers[GRPC_MAX_WORKERS];
    size_t nworkers;
    atomic_bool stopping; /* new calls are answered UNAVAILABLE */

    char shutdown_tag; /* its address marks the server's shutdown event */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool shutdown_notified; /* under mu */
};

static ct_log_limit_t grpc_log_limit = CT_LOG_LIMIT_INIT;
static ct_log_limit_t grpc_resource_log_limit = CT_LOG_LIMIT_INIT;
static pthread_once_t grpc_log_once = PTHREAD_ONCE_INIT;

/*
 * gRPC core's own messages (a failed TLS handshake, a broken HTTP/2 frame)
 * mostly tell of clients' mistakes, one per connection: they go to cotel's
 * log at debug level, rate-limited, instead of straight to stderr. Running
 * out of file descriptors or memory is ours to fix: a warning, rate-limited.
 * Other failures of our own (a port that cannot be bound) this file reports.
 */
static void grpc_log_to_cotel(gpr_log_func_args *a)
{
    const char *m = a->message;

    if (strstr(m, "Too many open files") != NULL || strstr(m, "Cannot allocate memory") != NULL)
        ct_log_limited(&grpc_resource_log_limit, 10000000000ull, CT_LOG_WARN, "grpc", "%s", m);
    else if (ct_log_enabled(CT_LOG_DEBUG))
        ct_log_limited(&grpc_log_limit, 1000000000ull, CT_LOG_DEBUG, "grpc", "%s:%d: %s", a->file,
                       a->line, m);
}

static void grpc_log_setup(void)
{
    gpr_set_log_function(grpc_log_to_cotel);
}

static void call_free(otlp_call_t *c)
{
    if (c->call != NULL)
        grpc_call_unref(c->call);
    grpc_metadata_array_destroy(&c->md);
    grpc_call_details_destroy(&c->details);
    if (c->payload != NULL)
        grpc_byte_buffer_destroy(c->payload);
    if (c->response != NULL)
        grpc_byte_buffer_destroy(c->response);
    grpc_slice_unref(c->status_details);
    free(c);
}

/* Asks gRPC for the next call of a method (or of any unregistered one) on w's queue. */
static int call_request(grpc_worker_t *w, int method)
{
    otlp_grpc_t *g = w->g;
    otlp_call_t *c = calloc(1, sizeof *c);
    grpc_call_error e;

    if (c == NULL)
        return -ENOMEM;
    c->w = w;
    c->method = method;
    c->state = CALL_REQUESTED;
    c->status_details = grpc_empty_slice();
    grpc_metadata_array_init(&c->md);
    grpc_call_details_init(&c->details);

    if (method >= 0)
        e = grpc_server_request_registered_call(g->server, g->methods[method], &c->call,
                                                &c->deadline, &c->md, &c->payload, w->cq, w->cq, c);
    else
        e = grpc_server_request_call(g->server, &c->call, &c->details, &c->md, w->cq, w->cq, c);
    if (e != GRPC_CALL_OK) {
        ct_log_error(g->r->inst->name, "cannot ask gRPC for calls: %s",
                     grpc_call_error_to_string(e));
        call_free(c);
        return -EIO;
    }
    return 0;
}

/* The coding of a message as gRPC received it; -1 for one cotel does not take. */
static int message_coding(const grpc_byte_buffer *bb)
{
    switch (bb->data.raw.compression) {
    case GRPC_COMPRESS_NONE:
        return OTLP_CODING_IDENTITY;
    case GRPC_COMPRESS_GZIP:
        return OTLP_CODING_GZIP;
    case GRPC_COMPRESS_DEFLATE:
        return OTLP_CODING_DEFLATE;
    default:
        return -1;
    }
}

/*
 * The request message, decompressed into one malloc'd buffer of at most
 * max_recv_msg_size_mib. gRPC hands compressed messages over as they came
 * (its own decompression is off: it would inflate the whole message before
 * checking its size), so they are inflated here in steps that stop at the
 * limit. The slices are read directly: gRPC's byte buffer reader would
 * decompress without a limit. Returns the status; on CT_OK *data is set.
 */
static ct_code_t message_read(otlp_call_t *c, uint8_t **data, size_t *len, char *msg, size_t msglen)
{
    const otlp_grpc_cfg_t *cfg = c->w->g->cfg;
    grpc_byte_buffer *bb = c->payload;
    const grpc_slice_buffer *sb = &bb->data.raw.slice_buffer;
    ct_buf_t out = {.max = (size_t)cfg->max_recv_msg_size_mib << 20};
    int coding = message_coding(bb);
    otlp_decomp_t *d = NULL;
    char why[256] = "";
    ct_code_t code = CT_OK;
    int rc = 0;

    if (sb->length == 0)
        coding = OTLP_CODING_IDENTITY; /* marked compressed but empty: gRPC took it as empty */
    if (coding < 0) {
        snprintf(msg, msglen, "unsupported message compression (algorithm %d)",
                 (int)bb->data.raw.compression);
        code = CT_UNIMPLEMENTED;
        goto out;
    }
    /* An uncompressed message gets its whole buffer at once (gRPC checked its size). */
    if (coding == OTLP_CODING_IDENTITY && sb->length <= out.max)
        ct_buf_reserve(&out, sb->length);
    d = otlp_decomp_new((otlp_coding_t)coding, &out);
    if (d == NULL)
        rc = -ENOMEM;
    for (size_t i = 0; rc == 0 && i < sb->count; i++)
        rc = otlp_decomp_feed(d, GRPC_SLICE_START_PTR(sb->slices[i]),
                              GRPC_SLICE_LENGTH(sb->slices[i]), why, sizeof why);
    if (rc == 0)
        rc = otlp_decomp_finish(d, why, sizeof why);

    if (rc == -E2BIG) {
        code = CT_RESOURCE_EXHAUSTED;
        snprintf(msg, msglen,
                 "received message larger than max_recv_msg_size_mib (%zu bytes) after "
                 "%s decompression",
                 out.max, otlp_coding_name((otlp_coding_t)coding));
    } else if (rc == -EBADMSG) {
        /* INTERNAL: what gRPC itself answers to a message it cannot decompress. */
        code = CT_INTERNAL;
        snprintf(msg, msglen, "%s", why);
    } else if (rc != 0) {
        code = CT_UNAVAILABLE;
        snprintf(msg, msglen, "out of memory");
    }
out:
    otlp_decomp_free(d);
    if (code == CT_OK)
        *data = ct_buf_take(&out, len);
    ct_buf_free(&out);
    return code;
}

/*
 * The call's metadata as cotel metadata. Binary ("-bin") entries are left
 * out: their values are raw bytes, not text.
 */
static ct_metadata_t *metadata_copy(const grpc_metadata_array *a)
{
    size_t n = 0;
    ct_metadata_t *md;

    for (size_t i = 0; i < a->count; i++)
        n += !grpc_is_binary_header(a->metadata[i].key);
    md = ct_metadata_new(n);
    if (md == NULL)
        return NULL;
    n = 0;
    for (size_t i = 0; i < a->count; i++) {
        const grpc_metadata *m = &a->metadata[i];
        if (grpc_is_binary_header(m->key))
            continue;
        md->keys[n] =
            strndup((const char *)GRPC_SLICE_START_PTR(m->key), GRPC_SLICE_LENGTH(m->key));
        md->values[n] =
            strndup((const char *)GRPC_SLICE_START_PTR(m->value), GRPC_SLICE_LENGTH(m->value));
        md->n = n + 1; /* so that an unref frees what is filled so far */
        if (md->keys[n] == NULL || md->values[n] == NULL) {
            ct_metadata_unref(md);
            return NULL;
        }
        for (char *k = md->keys[n]; *k; k++) /* gRPC sends them lowercase; make sure */
            if (*k >= 'A' && *k <= 'Z')
                *k = (char)(*k - 'A' + 'a');
        n++;
    }
    return md;
}

/* Handles one Export call's message; returns the status and sets the response on success. */
static ct_code_t call_export(otlp_call_t *c, char *msg, size_t msglen)
{
    otlp_grpc_t *g = c->w->g;
    otlp_receiver_t *r = g->r;
    ct_signal_t sig = (ct_signal_t)c->method;
    ct_metadata_t *md = NULL;
    ct_code_t code = CT_OK;
    uint8_t *data = NULL;
    size_t len = 0;

    if (atomic_load(&g->stopping)) {
        code = CT_UNAVAILABLE;
        snprintf(msg, msglen, "the collector is shutting down");
        goto out;
    }
    if (c->payload == NULL) {
        code = CT_INTERNAL;
        snprintf(msg, msglen, "the client sent no request message");
        otlp_receiver_client_error(r, "a %s call came without a request message",
                                   ct_signal_name(sig));
        goto out;
    }
    code = message_read(c, &data, &len, msg, msglen);
    /* The message as received is no longer needed: its memory goes before the pipeline's. */
    grpc_byte_buffer_destroy(c->payload);
    c->payload = NULL;
    if (code == CT_UNAVAILABLE) {
        ct_log_error(r->inst->name, "out of memory while reading a %s request",
                     ct_signal_name(sig));
        goto out;
    }
    if (code != CT_OK) {
        otlp_receiver_client_error(r, "refused a %s call: %s", ct_signal_name(sig), msg);
        goto out;
    }
    if (g->cfg->include_metadata)
        md = metadata_copy(&c->md);

    code = otlp_receiver_export(r, OTLP_GRPC, sig, data, len, md, msg, msglen);
    if (code == CT_OK)
        c->response = grpc_raw_byte_buffer_create(NULL, 0); /* an empty Export*Response */
out:
    if (md != NULL)
        ct_metadata_unref(md);
    return code;
}

/* Sends the answer: initial metadata, the response on success, the status. */
static void call_answer(otlp_call_t *c, ct_code_t code, const char *msg)
{
    grpc_op ops[4];
    size_t n = 0;
    grpc_call_error e;

    memset(ops, 0, sizeof ops);
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (c->response != NULL) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = c->response;
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = (grpc_status_code)code;
    if (code != CT_OK && msg[0] != '\0') {
        c->status_details = grpc_slice_from_copied_string(msg);
        ops[n].data.send_status_from_server.status_details = &c->status_details;
    }
    n++;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;

    c->state = CALL_ANSWERING;
    e = grpc_call_start_batch(c->call, ops, n, c, NULL);
    if (e != GRPC_CALL_OK) {
        ct_log_error(c->w->g->r->inst->name, "cannot answer a gRPC call: %s",
                     grpc_call_error_to_string(e));
        call_free(c);
    }
}

/* Says why an unregistered method is refused: unknown, or a signal no pipeline takes here. */
static void unknown_method_message(const grpc_call_details *d, char *msg, size_t msglen)
{
    const char *path = (const char *)GRPC_SLICE_START_PTR(d->method);
    size_t len = GRPC_SLICE_LENGTH(d->method);

    for (int s = 0; s < CT_SIGNAL_COUNT; s++) {
        if (strlen(method_paths[s]) == len && memcmp(method_paths[s], path, len) == 0) {
            snprintf(msg, msglen, "this receiver takes no %s: no %s pipeline uses it",
                     ct_signal_name((ct_signal_t)s), ct_signal_name((ct_signal_t)s));
            return;
        }
    }
    snprintf(msg, msglen, "unknown method %.*s", (int)(len > 200 ? 200 : len), path);
}

/* One event of one call: a call arrived (or the request failed), or its answer went out. */
static void call_step(otlp_call_t *c, int success)
{
    grpc_worker_t *w = c->w;
    otlp_grpc_t *g = w->g;
    char msg[512] = "";
    ct_code_t code;

    if (c->state == CALL_ANSWERING || !success) {
        /* Answered, or a request that ended because the server is shutting down. */
        call_free(c);
        return;
    }

    /* Keep a call of this kind asked for while this one is served. */
    if (!atomic_load(&g->stopping))
        call_request(w, c->method);

    if (c->method >= 0) {
        code = call_export(c, msg, sizeof msg);
    } else {
        code = CT_UNIMPLEMENTED;
        unknown_method_message(&c->details, msg, sizeof msg);
        otlp_receiver_client_error(g->r, "answered UNIMPLEMENTED: %s", msg);
    }
    call_answer(c, code, msg);
}

static void *worker_main(void *arg)
{
    grpc_worker_t *w = arg;
    otlp_grpc_t *g = w->g;

    for (;;) {
        grpc_event ev =
            grpc_completion_queue_next(w->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        if (ev.tag == &g->shutdown_tag) {
            pthread_mutex_lock(&g->mu);
            g->shutdown_notified = true;
            pthread_cond_broadcast(&g->cv);
            pthread_mutex_unlock(&g->mu);
            continue;
        }
        call_step(ev.tag, ev.success);
    }
    return NULL;
}

static int ms_arg(uint64_t ns)
{
    uint64_t ms = ns / 1000000u;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* The server's channel arguments, from the configuration. Returns how many were set. */
static size_t channel_args(const otlp_grpc_cfg_t *cfg, grpc_arg *a, size_t cap)
{
    const otlp_keepalive_server_cfg_t *ks = &cfg->keepalive.server;
    const otlp_keepalive_enforcement_cfg_t *ke = &cfg->keepalive.enforcement;
    size_t n = 0;

#define INT_ARG(k, v)                                                                              \
    do {                                                                                           \
        if (n < cap) {                                                                             \
            a[n].type = GRPC_ARG_INTEGER;                                                          \
            a[n].key = (char *)(k);                                                                \
            a[n].value.integer = (v);                                                              \
            n++;                                                                                   \
        }                                                                                          \
    } while (0)

    INT_ARG(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, (int)(cfg->max_recv_msg_size_mib << 20));
    /* Two collectors on one port must fail, as they would in Go, not share it silently. */
    INT_ARG(GRPC_ARG_ALLOW_REUSEPORT, 0);
    /* OTLP servers must take gzip; deflate costs nothing more. */
    INT_ARG(GRPC_COMPRESSION_CHANNEL_ENABLED_ALGORITHMS_BITSET,
            (1 << GRPC_COMPRESS_NONE) | (1 << GRPC_COMPRESS_DEFLATE) | (1 << GRPC_COMPRESS_GZIP));
    /*
     * gRPC would inflate a whole message before checking its size, so a small
     * message could take gigabytes: compressed messages come to us as they are,
     * and message_read inflates them up to the limit. The size gRPC checks is
     * then the compressed one.
     */
    INT_ARG(GRPC_ARG_ENABLE_PER_MESSAGE_DECOMPRESSION, 0);
    if (cfg->max_concurrent_streams > 0)
        INT_ARG(GRPC_ARG_MAX_CONCURRENT_STREAMS, (int)cfg->max_concurrent_streams);
    if (ks->max_connection_idle > 0)
        INT_ARG(GRPC_ARG_MAX_CONNECTION_IDLE_MS, ms_arg(ks->max_connection_idle));
    if (ks->max_connection_age > 0)
        INT_ARG(GRPC_ARG_MAX_CONNECTION_AGE_MS, ms_arg(ks->max_connection_age));
    if (ks->max_connection_age_grace > 0)
        INT_ARG(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, ms_arg(ks->max_connection_age_grace));
    if (ks->time > 0)
        INT_ARG(GRPC_ARG_KEEPALIVE_TIME_MS, ms_arg(ks->time));
    if (ks->timeout > 0)
        INT_ARG(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, ms_arg(ks->timeout));
    INT_ARG(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, ms_arg(ke->min_time));
    INT_ARG(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, ke->permit_without_stream ? 1 : 0);
#undef INT_ARG
    return n;
}

/* The listening credentials: insecure, or TLS from the configured PEM files. */
static grpc_server_credentials *server_credentials(const otlp_grpc_cfg_t *cfg, ct_err_t *err)
{
    const otlp_tls_cfg_t *tls = &cfg->tls;
    grpc_server_credentials *creds = NULL;
    grpc_ssl_pem_key_cert_pair pair;
    char *cert = NULL, *key = NULL, *ca = NULL;

    if (!cfg->tls_present)
        return grpc_insecure_server_credentials_create();

    cert = otlp_read_file(tls->cert_file, "the TLS certificate", err);
    key = cert ? otlp_read_file(tls->key_file, "the TLS key", err) : NULL;
    if (key == NULL)
        goto out;
    if (tls->client_ca_file != NULL &&
        (ca = otlp_read_file(tls->client_ca_file, "the client CA file", err)) == NULL)
        goto out;

    pair.private_key = key;
    pair.cert_chain = cert;
    creds = grpc_ssl_server_credentials_create_ex(
        ca, &pair, 1,
        ca ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
           : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
        NULL);
    if (creds == NULL)
        ct_errf(err, NULL, "gRPC refused the TLS settings (cert_file %s, key_file %s)",
                tls->cert_file, tls->key_file);
out:
    free(cert);
    if (key != NULL) {
        memset(key, 0, strlen(key)); /* no copy of the private key stays in freed memory */
        free(key);
    }
    free(ca);
    return creds;
}

/* The address gRPC binds: ":4317" means every interface, as it does in Go. */
static char *listen_address(const otlp_grpc_cfg_t *cfg)
{
    char *addr = NULL;

    if (cfg->transport == OTLP_NET_UNIX) {
        if (asprintf(&addr, "unix:%s", cfg->endpoint) < 0)
            addr = NULL;
    } else if (cfg->endpoint[0] == ':') {
        if (asprintf(&addr, "[::]%s", cfg->endpoint) < 0)
            addr = NULL;
    } else {
        addr = strdup(cfg->endpoint);
    }
    return addr;
}

/*
 * One completion-queue thread per two CPUs (1 to GRPC_MAX_WORKERS). Each
 * thread polls for gRPC core and hands events to the others, so on a small
 * node extra threads cost more in wake-ups than they add: on 2 CPUs, one
 * thread took 25 % less CPU per span than two at 100,000 spans/s, for the
 * same throughput at saturation (docs/benchmarks.md).
 */
static size_t worker_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN) / 2;

    if (n < 1)
        n = 1;
    if (n > GRPC_MAX_WORKERS)
        n = GRPC_MAX_WORKERS;
    return (size_t)n;
}

/* Waits for the server's shutdown event until deadline_ns (0: without end). */
static bool wait_shutdown(otlp_grpc_t *g, uint64_t deadline_ns)
{
    bool done;

    pthread_mutex_lock(&g->mu);
    while (!g->shutdown_notified) {
        if (deadline_ns == 0) {
            pthread_cond_wait(&g->cv, &g->mu);
            continue;
        }
        struct timespec ts = {.tv_sec = (time_t)(deadline_ns / 1000000000u),
                              .tv_nsec = (long)(deadline_ns % 1000000000u)};
        if (pthread_cond_timedwait(&g->cv, &g->mu, &ts) == ETIMEDOUT)
            break;
    }
    done = g->shutdown_notified;
    pthread_mutex_unlock(&g->mu);
    return done;
}

/*
 * Stops the server: no new calls; calls being served are answered; calls
 * still open at the deadline are cancelled. Then the threads end. Safe on a
 * partly started server and when called again.
 */
static void grpc_stop(otlp_grpc_t *g, uint64_t deadline_ns)
{
    if (g->shut_down)
        return;
    atomic_store(&g->stopping, true);

    if (!g->started) {
        /* Nothing listens and no call was asked for: only the queues remain. */
    } else if (!g->workers[0].running) {
        /* Started, but no thread came up (and so no call was asked for): read the event here. */
        grpc_server_shutdown_and_notify(g->server, g->workers[0].cq, &g->shutdown_tag);
        for (;;) {
            grpc_event ev = grpc_completion_queue_next(g->workers[0].cq,
                                                       gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
            if (ev.type != GRPC_OP_COMPLETE || ev.tag == &g->shutdown_tag)
                break;
            call_step(ev.tag, 0);
        }
    } else {
        grpc_server_shutdown_and_notify(g->server, g->workers[0].cq, &g->shutdown_tag);
        if (!wait_shutdown(g, deadline_ns)) {
            ct_log_warn(g->r->inst->name, "cancelling the gRPC calls still open at the "
                                          "shutdown deadline");
            grpc_server_cancel_all_calls(g->server);
            wait_shutdown(g, 0);
        }
    }

    for (size_t i = 0; i < g->nworkers; i++)
        grpc_completion_queue_shutdown(g->workers[i].cq);
    for (size_t i = 0; i < g->nworkers; i++) {
        if (g->workers[i].running)
            pthread_join(g->workers[i].thread, NULL);
        g->workers[i].running = false;
    }
    g->shut_down = true;
}

static void grpc_free(otlp_grpc_t *g)
{
    if (g == NULL)
        return;
    grpc_stop(g, ct_now_mono_ns());
    for (size_t i = 0; i < g->nworkers; i++) {
        grpc_event ev;
        if (g->workers[i].cq == NULL)
            continue;
        /* Every event must be taken before the queue goes (QUEUE_SHUTDOWN comes last). */
        while ((ev = grpc_completion_queue_next(g->workers[i].cq,
                                                gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL))
                   .type == GRPC_OP_COMPLETE) {
            if (ev.tag != &g->shutdown_tag)
                call_step(ev.tag, 0);
        }
    }
    if (g->server != NULL)
        grpc_server_destroy(g->server);
    for (size_t i = 0; i < g->nworkers; i++) {
        if (g->workers[i].cq != NULL)
            grpc_completion_queue_destroy(g->workers[i].cq);
    }
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    free(g);
    grpc_shutdown();
}

static otlp_grpc_t *grpc_new(otlp_receiver_t *r)
{
    otlp_grpc_t *g = calloc(1, sizeof *g);
    pthread_condattr_t ca;

    if (g == NULL)
        return NULL;
    pthread_once(&grpc_log_once, grpc_log_setup);
    grpc_init();
    g->r = r;
    g->cfg = &r->cfg->protocols.grpc;
    atomic_init(&g->stopping, false);
    pthread_mutex_init(&g->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* deadlines are ct_now_mono_ns() */
    pthread_cond_init(&g->cv, &ca);
    pthread_condattr_destroy(&ca);
    return g;
}

int otlp_grpc_start(otlp_receiver_t *r, ct_err_t *err)
{
    const char *name = r->inst->name;
    grpc_server_credentials *creds = NULL;
    grpc_arg args[16];
    grpc_channel_args chargs;
    char *addr = NULL;
    char signals[64] = "";
    char port_note[32] = "";
    int port, rc = 0;
    otlp_grpc_t *g = grpc_new(r);

    if (g == NULL) {
        rc = ct_errf(err, NULL, "%s: out of memory", name);
        goto out;
    }
    r->grpc = g;
    chargs.num_args = channel_args(g->cfg, args, CT_ARRAY_LEN(args));
    chargs.args = args;
    g->server = grpc_server_create(&chargs, NULL);
    addr = listen_address(g->cfg);
    if (g->server == NULL || addr == NULL) {
        rc = ct_errf(err, NULL, "%s: cannot create the gRPC server", name);
        goto out;
    }

    /* A signal without a pipeline stays unregistered: its calls get UNIMPLEMENTED. */
    for (int s = 0; s < CT_SIGNAL_COUNT; s++) {
        if (r->inst->next[s] == NULL)
            continue;
        g->methods[s] = grpc_server_register_method(g->server, method_paths[s], NULL,
                                                    GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
        if (g->methods[s] == NULL) {
            rc = ct_errf(err, NULL, "%s: cannot register %s", name, method_paths[s]);
            goto out;
        }
        snprintf(signals + strlen(signals), sizeof signals - strlen(signals), "%s%s",
                 signals[0] ? ", " : "", ct_signal_name((ct_signal_t)s));
    }

    g->nworkers = worker_count();
    for (size_t i = 0; i < g->nworkers; i++) {
        g->workers[i].g = g;
        g->workers[i].cq = grpc_completion_queue_create_for_next(NULL);
        if (g->workers[i].cq == NULL) {
            rc = ct_errf(err, NULL, "%s: cannot create a gRPC completion queue", name);
            goto out;
        }
        grpc_server_register_completion_queue(g->server, g->workers[i].cq, NULL);
    }

    creds = server_credentials(g->cfg, err);
    if (creds == NULL) {
        ct_err_t inner = *err;
        rc = ct_errf(err, NULL, "%s: %s", name, inner.msg);
        goto out;
    }
    port = grpc_server_add_http2_port(g->server, addr, creds);
    if (port == 0) {
        rc = ct_errf(err, NULL,
                     "%s: cannot listen on %s for gRPC (address in use or not "
                     "valid%s)",
                     name, addr, g->cfg->tls_present ? ", or the TLS files do not match" : "");
        goto out;
    }
    grpc_server_start(g->server);
    g->started = true;

    /* Threads first: should one fail to start, no call has been asked for yet. */
    for (size_t i = 0; i < g->nworkers; i++) {
        if (pthread_create(&g->workers[i].thread, NULL, worker_main, &g->workers[i]) != 0) {
            rc = ct_errf(err, NULL, "%s: cannot start a gRPC thread", name);
            goto out;
        }
        g->workers[i].running = true;
    }
    for (size_t i = 0; i < g->nworkers; i++) {
        for (int s = 0; s < CT_SIGNAL_COUNT; s++) {
            for (int k = 0; g->methods[s] != NULL && k < GRPC_SLOTS_PER_METHOD; k++) {
                if (call_request(&g->workers[i], s) != 0) {
                    rc = ct_errf(err, NULL, "%s: cannot ask gRPC for calls", name);
                    goto out;
                }
            }
        }
        for (int k = 0; k < GRPC_SLOTS_GENERIC; k++) {
            if (call_request(&g->workers[i], -1) != 0) {
                rc = ct_errf(err, NULL, "%s: cannot ask gRPC for calls", name);
                goto out;
            }
        }
    }

    /* The port is worth saying when the endpoint asked for any free one (":0"). */
    if (g->cfg->transport == OTLP_NET_TCP)
        snprintf(port_note, sizeof port_note, "port %d, ", port);
    ct_log_info(name, "OTLP/gRPC listening on %s%s (%s%s; %zu threads; max message %lld MiB)", addr,
                g->cfg->tls_present ? " with TLS" : "", port_note,
                signals[0] ? signals : "no pipelines", g->nworkers,
                (long long)g->cfg->max_recv_msg_size_mib);
out:
    if (creds != NULL)
        grpc_server_credentials_release(creds);
    free(addr);
    if (rc != 0 && r->grpc != NULL) {
        grpc_free(r->grpc);
        r->grpc = NULL;
    }
    return rc;
}

void otlp_grpc_shutdown(otlp_receiver_t *r, uint64_t deadline_ns)
{
    if (r->grpc != NULL)
        grpc_stop(r->grpc, deadline_ns);
}

void otlp_grpc_destroy(otlp_receiver_t *r)
{
    grpc_free(r->grpc);
    r->grpc = NULL;
}
