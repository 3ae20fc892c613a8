/*
 * The engine side of every exporter: a bounded sending queue served by
 * consumer threads, retries with exponential backoff and jitter, and the
 * exporter's counters. A full queue refuses (the client retries) instead of
 * dropping; every drop that does happen is counted and logged.
 */
#include "ct_exporter.h"

#include "ct_log.h"
#include "ct_metrics.h"
#include "ct_pqueue.h"
#include "ct_service.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

const ct_opt_t ct_retry_opts[] = {
    {"enabled", CT_OPT_BOOL, offsetof(ct_retry_settings_t, enabled), "true", 0, 0, NULL,
     "retry failed sends"},
    {"initial_interval", CT_OPT_DURATION, offsetof(ct_retry_settings_t, initial_interval), "5s", 0,
     0, NULL, "wait before the first retry"},
    {"randomization_factor", CT_OPT_DOUBLE, offsetof(ct_retry_settings_t, randomization_factor),
     "0.5", 0, 1, NULL, "jitter: each wait is spread by +- this fraction"},
    {"multiplier", CT_OPT_DOUBLE, offsetof(ct_retry_settings_t, multiplier), "1.5", 1, 100, NULL,
     "growth of the wait after each retry"},
    {"max_interval", CT_OPT_DURATION, offsetof(ct_retry_settings_t, max_interval), "30s", 0, 0,
     NULL, "longest wait between retries"},
    {"max_elapsed_time", CT_OPT_DURATION, offsetof(ct_retry_settings_t, max_elapsed_time), "300s",
     0, 0, NULL, "give up on a request after this long (0: never)"},
    CT_OPT_END,
};

const ct_opt_t ct_queue_opts[] = {
    {"enabled", CT_OPT_BOOL, offsetof(ct_queue_settings_t, enabled), "true", 0, 0, NULL,
     "queue requests between the pipeline and the destination"},
    {"num_consumers", CT_OPT_INT, offsetof(ct_queue_settings_t, num_consumers), "10", 1, 1000, NULL,
     "threads sending from the queue in parallel"},
    {"queue_size", CT_OPT_INT, offsetof(ct_queue_settings_t, queue_size), "1000", 1, 1e12, NULL,
     "capacity, in units of the sizer"},
    {"sizer", CT_OPT_ENUM, offsetof(ct_queue_settings_t, sizer), "requests", 0, 0,
     "requests|items|bytes", "what queue_size counts"},
    {"storage", CT_OPT_STRING, offsetof(ct_queue_settings_t, storage), NULL, 0, 0, NULL,
     "a file_storage extension id: keep the queue on disk"},
    {"block_on_overflow", CT_OPT_BOOL, offsetof(ct_queue_settings_t, block_on_overflow), "false", 0,
     0, NULL, "wait for room instead of refusing when full"},
    CT_OPT_END,
};

typedef struct qnode {
    ct_request_t *req;
    struct qnode *next;
} qnode_t;

struct ct_exporter {
    ct_instance_t *inst;
    ct_exporter_settings_t settings;
    ct_consumer_t consumer;

    pthread_mutex_t lock;
    pthread_cond_t wake;    /* work arrived, or stopping */
    pthread_cond_t changed; /* the queue shrank or a send finished */
    qnode_t *head, *tail;
    size_t used;     /* in sizer units */
    size_t items;    /* items queued */
    size_t inflight; /* requests being sent */
    bool accepting;
    bool stopping; /* consumers exit once the queue is empty */
    bool abandon;  /* the drain deadline passed: stop retrying */

    pthread_t *threads;
    size_t nthreads;
    _Atomic uint64_t failing_since;
    ct_pqueue_t *pq; /* persistent queue, when sending_queue.storage is set */
    const ct_file_storage_cfg_t *storage;

    ct_counter_t *sent[CT_SIGNAL_COUNT];
    ct_counter_t *send_failed[CT_SIGNAL_COUNT];
    ct_counter_t *enqueue_failed[CT_SIGNAL_COUNT];
    ct_histogram_t *latency[CT_SIGNAL_COUNT];
    ct_counter_t *queue_size;
    ct_counter_t *queue_capacity;
    ct_log_limit_t drop_log;
    ct_log_limit_t retry_log;
};

uint64_t ct_retry_delay(const ct_retry_settings_t *r, unsigned attempt)
{
    double d = (double)r->initial_interval * pow(r->multiplier, attempt);
    if (d > (double)r->max_interval)
        d = (double)r->max_interval;
    double spread = r->randomization_factor * d;
    double jitter = ((double)rand() / RAND_MAX * 2.0 - 1.0) * spread;
    d += jitter;
    return d < 0 ? 0 : (uint64_t)d;
}

static size_t size_of(const ct_exporter_t *e, const ct_request_t *r)
{
    switch (e->settings.queue.sizer) {
    case CT_SIZER_ITEMS:
        return r->items;
    case CT_SIZER_BYTES:
        return r->len;
    default:
        return 1;
    }
}

static void abs_deadline(struct timespec *ts, uint64_t mono_ns)
{
    ts->tv_sec = (time_t)(mono_ns / 1000000000ull);
    ts->tv_nsec = (long)(mono_ns % 1000000000ull);
}

/* Sleeps until `until` (monotonic ns) unless the exporter abandons its retries. */
static bool wait_retry(ct_exporter_t *e, uint64_t until)
{
    struct timespec ts;
    abs_deadline(&ts, until);
    pthread_mutex_lock(&e->lock);
    while (!e->abandon && ct_now_mono_ns() < until)
        pthread_cond_timedwait(&e->changed, &e->lock, &ts);
    bool go_on = !e->abandon;
    pthread_mutex_unlock(&e->lock);
    return go_on;
}

static void count_failed(ct_exporter_t *e, const ct_request_t *req, size_t items, const char *why,
                         const ct_send_result_t *res)
{
    ct_counter_add(e->send_failed[req->signal], items);
    ct_log_limited(&e->drop_log, 5000000000ull, CT_LOG_ERROR, e->inst->name,
                   "dropping %zu %s: %s (%s%s%s)", items, ct_signal_item_name(req->signal), why,
                   ct_code_name(res->code), res->message[0] ? ": " : "", res->message);
}

enum { SENT, DROPPED, ABANDONED };

/*
 * Sends one request, retrying as configured. Every item ends sent or counted
 * as failed, except when shutdown abandons a request that a persistent queue
 * keeps for the next start (ABANDONED).
 */
static int send_with_retry(ct_exporter_t *e, ct_request_t *req)
{
    const ct_retry_settings_t *rs = &e->settings.retry;
    uint64_t start = ct_now_mono_ns();

    for (unsigned attempt = 0;; attempt++) {
        ct_send_result_t res = e->inst->factory->send(e->inst, req);
        if (res.code == CT_OK) {
            size_t rejected = res.rejected < req->items ? res.rejected : req->items;
            ct_counter_add(e->sent[req->signal], req->items - rejected);
            ct_histogram_observe(e->latency[req->signal],
                                 (double)(ct_now_mono_ns() - req->received_ns) / 1e6);
            atomic_store(&e->failing_since, 0);
            if (rejected > 0)
                count_failed(e, req, rejected, "partial success, rejected by the destination",
                             &res);
            return SENT;
        }
        uint64_t zero = 0;
        atomic_compare_exchange_strong(&e->failing_since, &zero, ct_now_mono_ns());

        if (!res.retryable || !rs->enabled) {
            count_failed(e, req, req->items, res.retryable ? "retry disabled" : "not retryable",
                         &res);
            return DROPPED;
        }
        uint64_t delay = ct_retry_delay(rs, attempt);
        if (res.retry_after_ns > delay)
            delay = res.retry_after_ns;
        uint64_t now = ct_now_mono_ns();
        if (rs->max_elapsed_time != 0 && now + delay - start > rs->max_elapsed_time) {
            count_failed(e, req, req->items, "retries exhausted (max_elapsed_time)", &res);
            return DROPPED;
        }
        ct_log_limited(&e->retry_log, 5000000000ull, CT_LOG_WARN, e->inst->name,
                       "send failed, will retry in %.1fs: %s%s%s", (double)delay / 1e9,
                       ct_code_name(res.code), res.message[0] ? ": " : "", res.message);
        if (!wait_retry(e, now + delay)) {
            if (e->pq != NULL)
                return ABANDONED;
            count_failed(e, req, req->items, "shutdown deadline reached while retrying", &res);
            return DROPPED;
        }
    }
}

static void *consumer_main(void *arg)
{
    ct_exporter_t *e = arg;
    pthread_mutex_lock(&e->lock);
    for (;;) {
        while (e->head == NULL && !e->stopping)
            pthread_cond_wait(&e->wake, &e->lock);
        if (e->head == NULL)
            break;
        qnode_t *n = e->head;
        e->head = n->next;
        if (e->head == NULL)
            e->tail = NULL;
        e->used -= size_of(e, n->req);
        e->items -= n->req->items;
        e->inflight++;
        ct_gauge_set(e->queue_size, e->used);
        pthread_cond_broadcast(&e->changed);
        pthread_mutex_unlock(&e->lock);

        send_with_retry(e, n->req);
        ct_request_unref(n->req);
        free(n);

        pthread_mutex_lock(&e->lock);
        e->inflight--;
        pthread_cond_broadcast(&e->changed);
    }
    pthread_mutex_unlock(&e->lock);
    return NULL;
}

/* A consumer of the persistent queue: entries leave the disk once sent or dropped. */
static void *pq_consumer_main(void *arg)
{
    ct_exporter_t *e = arg;
    ct_pqueue_ticket_t t;
    while (ct_pqueue_get(e->pq, &t) == 0) {
        pthread_mutex_lock(&e->lock);
        e->inflight++;
        pthread_mutex_unlock(&e->lock);

        if (send_with_retry(e, t.req) == ABANDONED)
            ct_pqueue_release(e->pq, &t);
        else
            ct_pqueue_done(e->pq, &t);

        pthread_mutex_lock(&e->lock);
        e->inflight--;
        pthread_cond_broadcast(&e->changed);
        pthread_mutex_unlock(&e->lock);
    }
    return NULL;
}

static ct_code_t pq_consume(ct_exporter_t *e, ct_request_t *req)
{
    static ct_log_limit_t io_log = CT_LOG_LIMIT_INIT;
    if (!e->accepting) {
        ct_counter_add(e->enqueue_failed[req->signal], req->items);
        return CT_UNAVAILABLE;
    }
    int rc = ct_pqueue_put(e->pq, req);
    if (rc == 0)
        return CT_OK;
    ct_counter_add(e->enqueue_failed[req->signal], req->items);
    if (rc != -ENOSPC)
        ct_log_limited(&io_log, 5000000000ull, CT_LOG_ERROR, e->inst->name,
                       "cannot write to the persistent queue: %s", strerror(-rc));
    return CT_UNAVAILABLE;
}

static ct_code_t exporter_consume(ct_consumer_t *self, ct_request_t *req)
{
    ct_exporter_t *e = (ct_exporter_t *)((char *)self - offsetof(ct_exporter_t, consumer));
    if (e->pq != NULL)
        return pq_consume(e, req);
    if (!e->settings.queue.enabled) {
        if (!e->accepting)
            return CT_UNAVAILABLE;
        send_with_retry(e, req);
        return CT_OK;
    }

    qnode_t *n = malloc(sizeof *n);
    if (n == NULL) {
        ct_counter_add(e->enqueue_failed[req->signal], req->items);
        return CT_UNAVAILABLE;
    }
    size_t sz = size_of(e, req);
    size_t cap = (size_t)e->settings.queue.queue_size;

    pthread_mutex_lock(&e->lock);
    /* A request larger than the whole queue is taken when the queue is empty. */
    while (e->accepting && e->used > 0 && e->used + sz > cap && e->settings.queue.block_on_overflow)
        pthread_cond_wait(&e->changed, &e->lock);
    if (!e->accepting || (e->used > 0 && e->used + sz > cap)) {
        pthread_mutex_unlock(&e->lock);
        free(n);
        ct_counter_add(e->enqueue_failed[req->signal], req->items);
        return CT_UNAVAILABLE;
    }
    n->req = ct_request_ref(req);
    n->next = NULL;
    if (e->tail)
        e->tail->next = n;
    else
        e->head = n;
    e->tail = n;
    e->used += sz;
    e->items += req->items;
    ct_gauge_set(e->queue_size, e->used);
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->lock);
    return CT_OK;
}

/* Milliseconds; fine around the batch processor's default 200 ms timeout. */
static const double latency_bounds[] = {1,   2,   5,   10,  20,  50,   100,  150,  200,  210,  225,
                                        250, 300, 400, 500, 750, 1000, 2500, 5000, 10000, 30000};

ct_exporter_t *ct_exporter_new(ct_instance_t *inst, ct_err_t *err)
{
    ct_exporter_t *e = calloc(1, sizeof *e);
    if (e == NULL) {
        ct_errf(err, inst->node, "out of memory");
        return NULL;
    }
    e->inst = inst;
    e->consumer.consume = exporter_consume;
    if (inst->factory->settings_offset != CT_OPT_NO_FLAG) {
        e->settings =
            *(ct_exporter_settings_t *)((char *)inst->config + inst->factory->settings_offset);
    } else {
        /* No shared settings in the table: a synchronous exporter with defaults. */
        e->settings.timeout = 5000000000ull;
        e->settings.queue.enabled = false;
        e->settings.retry.enabled = false;
    }
    pthread_mutex_init(&e->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->wake, &ca);
    pthread_cond_init(&e->changed, &ca);
    pthread_condattr_destroy(&ca);

    char labels[256], sig_labels[300];
    snprintf(labels, sizeof labels, "exporter=\"%s\"", inst->id);
    for (int s = 0; s < CT_SIGNAL_COUNT; s++) {
        char name[96];
        snprintf(sig_labels, sizeof sig_labels, "%s,data_type=\"%s\"", labels,
                 ct_signal_name((ct_signal_t)s));
        e->latency[s] = ct_metrics_histogram("cotel_exporter_delivery_latency_milliseconds",
                                             "Time from the receipt of a request's oldest item "
                                             "to the destination's acknowledgement.",
                                             sig_labels, latency_bounds,
                                             CT_ARRAY_LEN(latency_bounds));
        const char *item = ct_signal_item_name((ct_signal_t)s);
        snprintf(name, sizeof name, "otelcol_exporter_sent_%s", item);
        e->sent[s] = ct_metrics_counter(name, "Items successfully sent to destination.", labels);
        snprintf(name, sizeof name, "otelcol_exporter_send_failed_%s", item);
        e->send_failed[s] =
            ct_metrics_counter(name, "Items that failed to be sent to destination.", labels);
        snprintf(name, sizeof name, "otelcol_exporter_enqueue_failed_%s", item);
        e->enqueue_failed[s] =
            ct_metrics_counter(name, "Items that failed to be added to the sending queue.", labels);
    }
    e->queue_size = ct_metrics_gauge("otelcol_exporter_queue_size",
                                     "Current size of the sending queue.", labels);
    e->queue_capacity = ct_metrics_gauge("otelcol_exporter_queue_capacity",
                                         "Capacity of the sending queue.", labels);
    ct_gauge_set(e->queue_capacity, (uint64_t)e->settings.queue.queue_size);

    const char *storage = e->settings.queue.enabled ? e->settings.queue.storage : NULL;
    if (storage != NULL) {
        ct_instance_t *ext = ct_service_find(inst->service, CT_KIND_EXTENSION, storage);
        if (ext == NULL || strncmp(ext->id, "file_storage", 12) != 0) {
            ct_errf(err, ct_node_get(inst->node, "sending_queue"),
                    "exporters::%s::sending_queue::storage: '%s' is not a file_storage "
                    "extension listed in service::extensions",
                    inst->id, storage);
            ct_exporter_free(e);
            return NULL;
        }
        e->storage = ext->config;
    }
    return e;
}

/* Opens the persistent queue in <directory>/exporter_<id> ('/' in the id becomes '_'). */
static int open_pqueue(ct_exporter_t *e, ct_err_t *err)
{
    char dir[4096], label[256];
    int n = snprintf(dir, sizeof dir, "%s/exporter_", e->storage->directory);
    for (const char *p = e->inst->id; *p && (size_t)n + 1 < sizeof dir; p++)
        dir[n++] = *p == '/' ? '_' : *p;
    dir[n] = '\0';
    snprintf(label, sizeof label, "exporter=\"%s\"", e->inst->id);

    struct stat st;
    if (!e->storage->create_directory && stat(e->storage->directory, &st) != 0)
        return ct_errf(err, e->inst->node,
                       "%s: the file_storage directory %s does not exist "
                       "(create it, or set create_directory: true)",
                       e->inst->name, e->storage->directory);
    ct_pqueue_opts_t o = {
        .dir = dir,
        .name = e->inst->name,
        .metric_label = label,
        .fsync = e->storage->fsync,
        .segment_bytes = e->storage->segment_bytes,
        .max_bytes = e->storage->max_queue_bytes,
        .capacity = (uint64_t)e->settings.queue.queue_size,
        .sizer = e->settings.queue.sizer,
        .merge_max_items = 8192,
        .merge_max_bytes = 3u << 20,
    };
    return ct_pqueue_open(&e->pq, &o, err);
}

int ct_exporter_start(ct_exporter_t *e, ct_err_t *err)
{
    if (e->storage != NULL && open_pqueue(e, err) != 0)
        return -EINVAL;
    e->accepting = true;
    if (!e->settings.queue.enabled)
        return 0;
    size_t n = (size_t)e->settings.queue.num_consumers;
    e->threads = calloc(n, sizeof *e->threads);
    if (e->threads == NULL)
        return ct_errf(err, e->inst->node, "%s: out of memory", e->inst->name);
    for (size_t i = 0; i < n; i++) {
        if (pthread_create(&e->threads[i], NULL, e->pq ? pq_consumer_main : consumer_main, e) != 0)
            return ct_errf(err, e->inst->node, "%s: cannot start queue consumers", e->inst->name);
        e->nthreads++;
    }
    return 0;
}

/* Persistent queue: deliver until the deadline; what is left stays on disk. */
static void pq_shutdown(ct_exporter_t *e, uint64_t deadline_ns)
{
    struct timespec ts;
    abs_deadline(&ts, deadline_ns);
    pthread_mutex_lock(&e->lock);
    e->accepting = false;
    while ((ct_pqueue_pending_entries(e->pq) > 0 || e->inflight > 0) &&
           ct_now_mono_ns() < deadline_ns)
        pthread_cond_timedwait(&e->changed, &e->lock, &ts);
    e->abandon = true;
    pthread_cond_broadcast(&e->changed);
    pthread_mutex_unlock(&e->lock);

    ct_pqueue_close(e->pq);
    if (e->inst->factory->shutdown)
        e->inst->factory->shutdown(e->inst, deadline_ns);
    for (size_t i = 0; i < e->nthreads; i++)
        pthread_join(e->threads[i], NULL);
    e->nthreads = 0;
    size_t left = ct_pqueue_pending_items(e->pq);
    if (left > 0)
        ct_log_warn(e->inst->name,
                    "shutdown: %zu items stay in the persistent queue and will "
                    "be sent after the next start",
                    left);
    ct_pqueue_free(e->pq);
    e->pq = NULL;
}

void ct_exporter_shutdown(ct_exporter_t *e, uint64_t deadline_ns)
{
    struct timespec ts;
    if (e->pq != NULL) {
        pq_shutdown(e, deadline_ns);
        return;
    }
    abs_deadline(&ts, deadline_ns);

    pthread_mutex_lock(&e->lock);
    e->accepting = false;
    e->stopping = true;
    pthread_cond_broadcast(&e->wake);
    while ((e->head != NULL || e->inflight > 0) && ct_now_mono_ns() < deadline_ns)
        pthread_cond_timedwait(&e->changed, &e->lock, &ts);

    /* Past the deadline: what is still queued will not be delivered. */
    size_t left = 0;
    e->abandon = true;
    pthread_cond_broadcast(&e->changed);
    while (e->head != NULL) {
        qnode_t *n = e->head;
        e->head = n->next;
        left += n->req->items;
        ct_counter_add(e->send_failed[n->req->signal], n->req->items);
        ct_request_unref(n->req);
        free(n);
    }
    e->tail = NULL;
    e->used = e->items = 0;
    ct_gauge_set(e->queue_size, 0);
    pthread_mutex_unlock(&e->lock);

    if (left > 0)
        ct_log_error(e->inst->name,
                     "shutdown: %zu queued items could not be delivered before "
                     "the deadline",
                     left);
    if (e->inst->factory->shutdown)
        e->inst->factory->shutdown(e->inst, deadline_ns);
    for (size_t i = 0; i < e->nthreads; i++)
        pthread_join(e->threads[i], NULL);
    e->nthreads = 0;
}

void ct_exporter_free(ct_exporter_t *e)
{
    if (e == NULL)
        return;
    ct_pqueue_free(e->pq);
    free(e->threads);
    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->wake);
    pthread_cond_destroy(&e->changed);
    free(e);
}

ct_consumer_t *ct_exporter_consumer(ct_exporter_t *e)
{
    return &e->consumer;
}

uint64_t ct_exporter_failing_since(const ct_exporter_t *e)
{
    return atomic_load(&((ct_exporter_t *)e)->failing_since);
}

size_t ct_exporter_queue_size(const ct_exporter_t *e)
{
    return e->pq ? ct_pqueue_pending_items(e->pq) : e->items;
}

bool ct_exporter_is_durable(const ct_exporter_t *e)
{
    return e->storage != NULL;
}
