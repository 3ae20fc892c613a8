/*
 * cotel-loadgen over OTLP/gRPC, on the gRPC core C API: a fixed set of call
 * slots, each with its own copy of the request, spread over one or more
 * channels and driven from one completion queue by one thread (gRPC core
 * does its socket work in the thread that polls the queue).
 */
#include "loadgen.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/compression.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const method_paths[CT_SIGNAL_COUNT] = {
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
};

typedef struct gslot {
    uint8_t *buf; /* this slot's copy of the request, ids patched per call */
    grpc_call *call;
    grpc_byte_buffer *request;
    grpc_byte_buffer *response;
    grpc_metadata_array initial_md, trailing_md;
    grpc_status_code status;
    grpc_slice details;
    uint64_t started_ns;
    size_t channel;
} gslot_t;

typedef struct gclient {
    lg_run_t *r;
    grpc_completion_queue *cq;
    grpc_channel **ch;
    void **method; /* registered method handle, per channel */
    size_t nch;
    gslot_t *slots;
    gslot_t **free_slots;
    size_t nfree, inflight, next_ch;
} gclient_t;

static gpr_timespec mono_in(uint64_t ns)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                        gpr_time_from_nanos((int64_t)ns, GPR_TIMESPAN));
}

/* Starts one Export call on the next channel in turn; 0, or -1 when gRPC refuses it. */
static int call_start(gclient_t *c, gslot_t *s, uint64_t now)
{
    const lg_opts_t *o = c->r->o;
    grpc_slice body;
    grpc_op ops[6];
    uint64_t seq = lg_run_take(c->r, now);

    lg_template_patch(c->r->t, s->buf, seq);
    body = grpc_slice_from_static_buffer(s->buf, c->r->t->len);
    s->request = grpc_raw_byte_buffer_create(&body, 1);
    s->channel = c->next_ch++ % c->nch;
    s->started_ns = now;
    s->call = grpc_channel_create_registered_call(c->ch[s->channel], NULL, GRPC_PROPAGATE_DEFAULTS,
                                                  c->cq, c->method[s->channel],
                                                  mono_in((uint64_t)(o->timeout * 1e9)), NULL);
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = s->request;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &s->initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &s->response;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &s->trailing_md;
    ops[5].data.recv_status_on_client.status = &s->status;
    ops[5].data.recv_status_on_client.status_details = &s->details;
    if (s->call == NULL || grpc_call_start_batch(s->call, ops, 6, s, NULL) != GRPC_CALL_OK) {
        fprintf(stderr, "cotel-loadgen: gRPC refused to start a call\n");
        if (s->call != NULL)
            grpc_call_unref(s->call);
        s->call = NULL;
        grpc_byte_buffer_destroy(s->request);
        s->request = NULL;
        return -1;
    }
    c->inflight++;
    return 0;
}

/* The partial_success of a response, if the server sent one. */
static uint64_t response_rejected(grpc_byte_buffer *bb)
{
    grpc_byte_buffer_reader rd;
    grpc_slice all;
    uint64_t rejected;

    if (bb == NULL || grpc_byte_buffer_length(bb) == 0 || !grpc_byte_buffer_reader_init(&rd, bb))
        return 0;
    all = grpc_byte_buffer_reader_readall(&rd);
    rejected = lg_response_rejected(GRPC_SLICE_START_PTR(all), GRPC_SLICE_LENGTH(all));
    grpc_slice_unref(all);
    grpc_byte_buffer_reader_destroy(&rd);
    return rejected;
}

/* A call ended: count it and make its slot free again. */
static void call_done(gclient_t *c, gslot_t *s)
{
    uint64_t rejected = s->status == GRPC_STATUS_OK ? response_rejected(s->response) : 0;

    lg_run_done(c->r, s->started_ns, (ct_code_t)s->status, rejected);
    grpc_call_unref(s->call);
    s->call = NULL;
    grpc_byte_buffer_destroy(s->request);
    s->request = NULL;
    if (s->response != NULL)
        grpc_byte_buffer_destroy(s->response);
    s->response = NULL;
    grpc_metadata_array_destroy(&s->initial_md);
    grpc_metadata_array_destroy(&s->trailing_md);
    grpc_metadata_array_init(&s->initial_md);
    grpc_metadata_array_init(&s->trailing_md);
    grpc_slice_unref(s->details);
    s->details = grpc_empty_slice();
    c->inflight--;
    c->free_slots[c->nfree++] = s;
}

/* Waits until every channel is READY, or the timeout; 0 when they all are. */
static int wait_ready(gclient_t *c, double timeout)
{
    gpr_timespec deadline = mono_in((uint64_t)(timeout * 1e9));

    for (size_t i = 0; i < c->nch; i++) {
        grpc_connectivity_state st;
        while ((st = grpc_channel_check_connectivity_state(c->ch[i], 1)) != GRPC_CHANNEL_READY) {
            grpc_event ev;
            if (gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), deadline) >= 0)
                return -1;
            grpc_channel_watch_connectivity_state(c->ch[i], st, deadline, c->cq, c);
            ev = grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
            if (ev.type != GRPC_OP_COMPLETE)
                return -1;
            if (!ev.success) /* the deadline passed without a change */
                return -1;
        }
    }
    return 0;
}

/* Sends on schedule until the duration ends, then lets the calls in flight finish. */
static int drive(gclient_t *c)
{
    lg_run_t *r = c->r;
    int rc = 0;

    for (;;) {
        uint64_t now = ct_now_mono_ns(), due = lg_run_due(r, now);

        while (c->nfree > 0 && due == 0) {
            if (call_start(c, c->free_slots[--c->nfree], now) != 0) {
                /* Stop sending; the calls in flight still end and are counted. */
                c->nfree++;
                r->end_ns = now;
                rc = -1;
            }
            now = ct_now_mono_ns();
            due = lg_run_due(r, now);
        }
        if (due == UINT64_MAX && c->inflight == 0)
            break;

        /* Wake for the next due send, or at least every 100 ms to look at the clock. */
        uint64_t wait = c->nfree > 0 && due != UINT64_MAX ? due : 100000000ull;
        if (wait > 100000000ull)
            wait = 100000000ull;
        grpc_event ev = grpc_completion_queue_next(c->cq, mono_in(wait), NULL);
        if (ev.type == GRPC_OP_COMPLETE)
            call_done(c, ev.tag);
        else if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
    }
    return rc;
}

static grpc_channel *channel_new(const lg_opts_t *o)
{
    grpc_arg args[3];
    grpc_channel_args chargs = {0, args};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    grpc_channel *ch;

    args[chargs.num_args].type = GRPC_ARG_INTEGER;
    args[chargs.num_args].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[chargs.num_args++].value.integer = -1;
    /* Each channel its own subchannel, hence its own connection. */
    args[chargs.num_args].type = GRPC_ARG_INTEGER;
    args[chargs.num_args].key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
    args[chargs.num_args++].value.integer = 1;
    if (o->gzip) {
        args[chargs.num_args].type = GRPC_ARG_INTEGER;
        args[chargs.num_args].key = (char *)GRPC_COMPRESSION_CHANNEL_DEFAULT_ALGORITHM;
        args[chargs.num_args++].value.integer = GRPC_COMPRESS_GZIP;
    }
    ch = grpc_channel_create(o->endpoint, creds, &chargs);
    grpc_channel_credentials_release(creds);
    return ch;
}

int lg_grpc_run(lg_run_t *r)
{
    const lg_opts_t *o = r->o;
    gclient_t c = {.r = r, .nch = o->connections};
    int rc = -1;

    grpc_init();
    c.cq = grpc_completion_queue_create_for_next(NULL);
    c.ch = calloc(c.nch, sizeof *c.ch);
    c.method = calloc(c.nch, sizeof *c.method);
    c.slots = calloc(o->concurrency, sizeof *c.slots);
    c.free_slots = calloc(o->concurrency, sizeof *c.free_slots);
    if (c.ch == NULL || c.method == NULL || c.slots == NULL || c.free_slots == NULL)
        goto out;
    for (size_t i = 0; i < c.nch; i++) {
        if ((c.ch[i] = channel_new(o)) == NULL)
            goto out;
        c.method[i] = grpc_channel_register_call(c.ch[i], method_paths[o->signal], NULL, NULL);
    }
    for (size_t i = 0; i < o->concurrency; i++) {
        gslot_t *s = &c.slots[i];
        if ((s->buf = malloc(r->t->len ? r->t->len : 1)) == NULL)
            goto out;
        memcpy(s->buf, r->t->data, r->t->len);
        grpc_metadata_array_init(&s->initial_md);
        grpc_metadata_array_init(&s->trailing_md);
        s->details = grpc_empty_slice();
        c.free_slots[c.nfree++] = s;
    }
    if (o->wait && wait_ready(&c, o->timeout) != 0) {
        fprintf(stderr, "cotel-loadgen: %s not reachable within %.0f s\n", o->endpoint, o->timeout);
        goto out;
    }

    lg_run_start(r);
    rc = drive(&c);
out:
    for (size_t i = 0; c.ch != NULL && i < c.nch; i++) {
        if (c.ch[i] != NULL)
            grpc_channel_destroy(c.ch[i]);
    }
    if (c.cq != NULL) {
        grpc_completion_queue_shutdown(c.cq);
        while (grpc_completion_queue_next(c.cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
               GRPC_QUEUE_SHUTDOWN)
            ;
        grpc_completion_queue_destroy(c.cq);
    }
    for (size_t i = 0; c.slots != NULL && i < o->concurrency; i++) {
        free(c.slots[i].buf);
        grpc_metadata_array_destroy(&c.slots[i].initial_md);
        grpc_metadata_array_destroy(&c.slots[i].trailing_md);
        grpc_slice_unref(c.slots[i].details);
    }
    free(c.slots);
    free(c.free_slots);
    free(c.method);
    free(c.ch);
    grpc_shutdown();
    return rc;
}
