/*
 * One Export call of the otlp_grpc exporter and the reading of its answer:
 * the status, the server's RetryInfo (from grpc-status-details-bin) and a
 * partial success in the response. Each call runs on a completion queue of
 * its own, taken from a small pool, and blocks until the call's deadline.
 */
#include "otlp_grpc_exporter.h"

#include "ct_wire.h"
#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* After the call's deadline, how long to wait for gRPC to report it before cancelling. */
#define DEADLINE_GRACE_MS 5000

static const char STATUS_DETAILS_KEY[] = "grpc-status-details-bin";
static const char RETRY_INFO_TYPE[] = "type.googleapis.com/google.rpc.RetryInfo";

/* ---- completion queues: one per call in flight, reused ---- */

static grpc_completion_queue *cq_take(otlp_grpc_exporter_t *st)
{
    grpc_completion_queue *cq = NULL;

    pthread_mutex_lock(&st->lock);
    if (st->nidle > 0)
        cq = st->idle_cqs[--st->nidle];
    pthread_mutex_unlock(&st->lock);
    return cq ? cq : grpc_completion_queue_create_for_pluck(NULL);
}

static void cq_destroy(grpc_completion_queue *cq)
{
    grpc_completion_queue_shutdown(cq);
    grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    grpc_completion_queue_destroy(cq);
}

/* Keeps a queue whose calls are all finished for the next call. */
static void cq_give(otlp_grpc_exporter_t *st, grpc_completion_queue *cq)
{
    bool kept = false;

    pthread_mutex_lock(&st->lock);
    if (st->nidle == st->cap_idle) {
        size_t cap = st->cap_idle ? st->cap_idle * 2 : 16;
        grpc_completion_queue **q = realloc(st->idle_cqs, cap * sizeof *q);
        if (q != NULL) {
            st->idle_cqs = q;
            st->cap_idle = cap;
        }
    }
    if (st->nidle < st->cap_idle) {
        st->idle_cqs[st->nidle++] = cq;
        kept = true;
    }
    pthread_mutex_unlock(&st->lock);
    if (!kept)
        cq_destroy(cq);
}

/* ---- calls in flight, for cancellation at shutdown ---- */

static bool active_add(otlp_grpc_exporter_t *st, otlp_grpc_exporter_active_t *a)
{
    bool ok;

    pthread_mutex_lock(&st->lock);
    ok = !st->stopping;
    if (ok) {
        a->prev = NULL;
        a->next = st->active;
        if (st->active != NULL)
            st->active->prev = a;
        st->active = a;
    }
    pthread_mutex_unlock(&st->lock);
    return ok;
}

/* Unlists a finished call; returns whether shutdown has begun. */
static bool active_remove(otlp_grpc_exporter_t *st, otlp_grpc_exporter_active_t *a)
{
    bool stopping;

    pthread_mutex_lock(&st->lock);
    if (a->prev != NULL)
        a->prev->next = a->next;
    else
        st->active = a->next;
    if (a->next != NULL)
        a->next->prev = a->prev;
    stopping = st->stopping;
    pthread_mutex_unlock(&st->lock);
    return stopping;
}

void otlp_grpc_exporter_cancel_all(otlp_grpc_exporter_t *st)
{
    pthread_mutex_lock(&st->lock);
    st->stopping = true;
    /* A listed call is not yet unreferenced by its sender: cancelling it here is safe. */
    for (otlp_grpc_exporter_active_t *a = st->active; a != NULL; a = a->next)
        grpc_call_cancel_with_status(a->call, GRPC_STATUS_CANCELLED,
                                     "the exporter is shutting down", NULL);
    pthread_mutex_unlock(&st->lock);
}

/* ---- reading the answer ---- */

static void set_message(ct_send_result_t *res, const char *s, size_t len)
{
    if (len >= sizeof res->message)
        len = sizeof res->message - 1;
    memcpy(res->message, s, len);
    res->message[len] = '\0';
}

/* Skips one field's value of the given wire type; returns bytes used, 0 when malformed. */
static size_t skip_value(const uint8_t *p, size_t len, uint32_t wire_type)
{
    uint64_t v;
    size_t n;

    switch (wire_type) {
    case 0:
        return ct_wire_get_varint(p, len, &v);
    case 1:
        return len >= 8 ? 8 : 0;
    case 5:
        return len >= 4 ? 4 : 0;
    case 2:
        n = ct_wire_get_varint(p, len, &v);
        return n == 0 || v > len - n ? 0 : n + (size_t)v;
    default:
        return 0;
    }
}

/*
 * Export*ServiceResponse: field 1 partial_success { 1: rejected items (int64),
 * 2: error_message }. The same layout for all three signals.
 */
static void read_partial_success(const uint8_t *p, size_t len, ct_send_result_t *res)
{
    const uint8_t *ps;
    size_t pslen, off = 0;

    if (ct_wire_find_bytes(p, len, 1, &ps, &pslen) != 0)
        return;
    while (off < pslen) {
        uint64_t tag, v;
        size_t n = ct_wire_get_varint(ps + off, pslen - off, &tag);
        if (n == 0)
            return;
        off += n;
        uint32_t field = (uint32_t)(tag >> 3), wt = (uint32_t)(tag & 7);
        if (field == 1 && wt == 0) {
            n = ct_wire_get_varint(ps + off, pslen - off, &v);
            if (n != 0 && (int64_t)v > 0)
                res->rejected = (size_t)v;
        } else if (field == 2 && wt == 2) {
            n = ct_wire_get_varint(ps + off, pslen - off, &v);
            if (n != 0 && v <= pslen - off - n)
                set_message(res, (const char *)ps + off + n, (size_t)v);
            n = n == 0 ? 0 : n + (size_t)v;
        } else {
            n = skip_value(ps + off, pslen - off, wt);
        }
        if (n == 0 || n > pslen - off)
            return;
        off += n;
    }
}

static void read_response(grpc_byte_buffer *bb, ct_send_result_t *res)
{
    grpc_byte_buffer_reader rd;

    if (bb == NULL || !grpc_byte_buffer_reader_init(&rd, bb))
        return;
    grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
    read_partial_success(GRPC_SLICE_START_PTR(all), GRPC_SLICE_LENGTH(all), res);
    grpc_slice_unref(all);
    grpc_byte_buffer_reader_destroy(&rd);
}

/*
 * The delay a server asks for: google.rpc.RetryInfo among the details of the
 * google.rpc.Status in the trailing grpc-status-details-bin (which gRPC
 * hands over already base64-decoded). Returns whether one was found.
 */
static bool read_retry_info(const grpc_metadata_array *md, uint64_t *delay_ns)
{
    bool found = false;

    for (size_t i = 0; i < md->count && !found; i++) {
        grpc_slice k = md->metadata[i].key, v = md->metadata[i].value;
        if (GRPC_SLICE_LENGTH(k) != sizeof STATUS_DETAILS_KEY - 1 ||
            memcmp(GRPC_SLICE_START_PTR(k), STATUS_DETAILS_KEY, GRPC_SLICE_LENGTH(k)) != 0)
            continue;
        Google__Rpc__Status *st =
            google__rpc__status__unpack(NULL, GRPC_SLICE_LENGTH(v), GRPC_SLICE_START_PTR(v));
        for (size_t d = 0; st != NULL && d < st->n_details && !found; d++) {
            const Google__Protobuf__Any *any = st->details[d];
            if (any->type_url == NULL || strcmp(any->type_url, RETRY_INFO_TYPE) != 0)
                continue;
            Google__Rpc__RetryInfo *ri =
                google__rpc__retry_info__unpack(NULL, any->value.len, any->value.data);
            if (ri != NULL) {
                found = true;
                *delay_ns = 0;
                const Google__Protobuf__Duration *du = ri->retry_delay;
                if (du != NULL && du->seconds >= 0 && du->nanos >= 0)
                    *delay_ns = (uint64_t)du->seconds * 1000000000u + (uint64_t)du->nanos;
                google__rpc__retry_info__free_unpacked(ri, NULL);
            }
        }
        if (st != NULL)
            google__rpc__status__free_unpacked(st, NULL);
    }
    return found;
}

/* The outcome of a finished call, as the engine wants it. */
static void read_outcome(grpc_status_code status, grpc_slice details, const char *error_string,
                         const grpc_metadata_array *trailing, grpc_byte_buffer *response,
                         ct_send_result_t *res)
{
    uint64_t delay = 0;

    res->code = (ct_code_t)status;
    if (status == GRPC_STATUS_OK) {
        read_response(response, res);
        return;
    }
    bool has_retry_info = read_retry_info(trailing, &delay);
    res->retryable = ct_code_retryable(res->code, has_retry_info);
    res->retry_after_ns = has_retry_info ? delay : 0;
    if (GRPC_SLICE_LENGTH(details) > 0)
        set_message(res, (const char *)GRPC_SLICE_START_PTR(details), GRPC_SLICE_LENGTH(details));
    else if (error_string != NULL)
        set_message(res, error_string, strlen(error_string));
}

/* ---- the call ---- */

static void request_release(void *arg)
{
    ct_request_unref(arg);
}

static void fail(ct_send_result_t *res, ct_code_t code, bool retryable, const char *msg)
{
    res->code = code;
    res->retryable = retryable;
    set_message(res, msg, strlen(msg));
}

/*
 * Runs the call's single batch (headers, message, half-close, and every
 * receive) and waits for it. The message is the request's own bytes: the
 * slice holds a reference to the request, so gRPC may keep it as long as it
 * needs (compression, transparent retry).
 */
static void run_call(ct_instance_t *inst, grpc_call *call, grpc_completion_queue *cq,
                     gpr_timespec deadline, ct_request_t *req, ct_send_result_t *res)
{
    const otlp_grpc_exporter_cfg_t *cfg = inst->config;
    otlp_grpc_exporter_t *st = inst->state;
    grpc_metadata_array initial, trailing;
    grpc_byte_buffer *msg, *response = NULL;
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    const char *error_string = NULL;
    grpc_op ops[6];
    size_t n = 0;
    char tag;

    grpc_metadata_array_init(&initial);
    grpc_metadata_array_init(&trailing);
    grpc_slice slice = grpc_slice_new_with_user_data((void *)req->data, req->len, request_release,
                                                     ct_request_ref(req));
    msg = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);

    memset(ops, 0, sizeof ops);
    ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[n].data.send_initial_metadata.count = st->nheaders;
    ops[n].data.send_initial_metadata.metadata = st->headers;
    if (cfg->wait_for_ready)
        ops[n].flags = GRPC_INITIAL_METADATA_WAIT_FOR_READY |
                       GRPC_INITIAL_METADATA_WAIT_FOR_READY_EXPLICITLY_SET;
    n++;
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = msg;
    ops[n++].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[n++].data.recv_initial_metadata.recv_initial_metadata = &initial;
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n++].data.recv_message.recv_message = &response;
    ops[n].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[n].data.recv_status_on_client.trailing_metadata = &trailing;
    ops[n].data.recv_status_on_client.status = &status;
    ops[n].data.recv_status_on_client.status_details = &details;
    ops[n++].data.recv_status_on_client.error_string = &error_string;

    grpc_call_error e = grpc_call_start_batch(call, ops, n, &tag, NULL);
    if (e != GRPC_CALL_OK) {
        char why[160];
        snprintf(why, sizeof why, "cannot start a gRPC call: %s", grpc_call_error_to_string(e));
        fail(res, CT_INTERNAL, false, why);
        goto out;
    }
    gpr_timespec limit =
        gpr_time_cmp(deadline, gpr_inf_future(GPR_CLOCK_MONOTONIC)) == 0
            ? deadline
            : gpr_time_add(deadline, gpr_time_from_millis(DEADLINE_GRACE_MS, GPR_TIMESPAN));
    grpc_event ev = grpc_completion_queue_pluck(cq, &tag, limit, NULL);
    if (ev.type == GRPC_QUEUE_TIMEOUT) {
        /* The deadline should have ended it; make sure, and take the event. */
        grpc_call_cancel(call, NULL);
        ev = grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    }
    read_outcome(status, details, error_string, &trailing, response, res);
out:
    grpc_byte_buffer_destroy(msg);
    if (response != NULL)
        grpc_byte_buffer_destroy(response);
    grpc_slice_unref(details);
    gpr_free((void *)error_string);
    grpc_metadata_array_destroy(&initial);
    grpc_metadata_array_destroy(&trailing);
}

ct_send_result_t otlp_grpc_exporter_send(ct_instance_t *inst, ct_request_t *req)
{
    const otlp_grpc_exporter_cfg_t *cfg = inst->config;
    otlp_grpc_exporter_t *st = inst->state;
    ct_send_result_t res = {.code = CT_OK};
    otlp_grpc_exporter_active_t active = {0};
    grpc_completion_queue *cq = NULL;

    if (st->channel == NULL || req->signal >= CT_SIGNAL_COUNT) {
        fail(&res, CT_UNAVAILABLE, true, "the exporter is not started");
        goto out;
    }
    cq = cq_take(st);
    if (cq == NULL) {
        fail(&res, CT_UNAVAILABLE, true, "cannot create a gRPC completion queue");
        goto out;
    }
    /* timeout: 0 means none, as in the Go collector; shutdown still cancels the call. */
    uint64_t timeout = cfg->settings.timeout;
    gpr_timespec deadline = timeout == 0
                                ? gpr_inf_future(GPR_CLOCK_MONOTONIC)
                                : gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                               gpr_time_from_nanos((int64_t)timeout, GPR_TIMESPAN));
    active.call = grpc_channel_create_registered_call(st->channel, NULL, GRPC_PROPAGATE_DEFAULTS,
                                                      cq, st->methods[req->signal], deadline, NULL);
    if (active.call == NULL) {
        fail(&res, CT_UNAVAILABLE, true, "cannot create a gRPC call");
        goto out;
    }
    if (!active_add(st, &active)) {
        fail(&res, CT_UNAVAILABLE, true, "the exporter is shutting down");
        goto out;
    }
    run_call(inst, active.call, cq, deadline, req, &res);
    /* Cancelled by shutdown: past the deadline, so another attempt would be pointless. */
    if (active_remove(st, &active) && res.code == CT_CANCELLED)
        res.retryable = false;
    if (res.code == CT_OK && res.rejected == 0 && res.message[0] != '\0')
        ct_log_limited(&st->partial_log, 5000000000ull, CT_LOG_WARN, inst->name,
                       "the server accepted all %s but said: %s", ct_signal_item_name(req->signal),
                       res.message);
out:
    if (active.call != NULL)
        grpc_call_unref(active.call);
    if (cq != NULL)
        cq_give(st, cq);
    return res;
}
