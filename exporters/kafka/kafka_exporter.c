/*
 * The kafka exporter: hands each request to Kafka through librdkafka and
 * reports success only once every record of it has been acknowledged, so
 * that the engine's sending queue keeps whatever Kafka has not stored.
 */
#include "kafka_config.h"
#include "kafka_records.h"

#include "ct_component.h"
#include "ct_exporter.h"
#include "ct_log.h"
#include "ct_metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Room kept in max_message_bytes for the record and batch framing and the headers. */
#define RECORD_OVERHEAD 512
/* How often repeated warnings may be logged. */
#define LOG_INTERVAL_NS (30ull * 1000000000ull)

typedef struct kafka_exporter {
    ct_instance_t *inst;
    const kafka_config_t *cfg;
    kafka_signal_plan_t sig[CT_SIGNAL_COUNT];
    rd_kafka_conf_t *conf; /* until start hands it to rd_kafka_new */
    rd_kafka_t *rk;

    pthread_t poller;
    bool poller_running;
    atomic_bool stop;

    /* Delivery reports wake senders: waiting for their records, or for room in the queue. */
    pthread_mutex_t lock;
    pthread_cond_t delivered;

    _Atomic uint64_t unreachable_since;       /* monotonic ns; 0 while Kafka answers */
    atomic_bool brokers_down;                 /* librdkafka reported every broker down */
    atomic_bool topic_asked[CT_SIGNAL_COUNT]; /* topic_warm_up ran for the signal's topic */

    ct_counter_t *records[CT_SIGNAL_COUNT];
    ct_counter_t *oversize[CT_SIGNAL_COUNT];
    ct_log_limit_t unreachable_log, oversize_log, refused_log, error_log, failure_log;
} kafka_exporter_t;

/*
 * One send attempt. Records in flight point to it, so it lives until the
 * last delivery report arrives, even when the attempt gave up waiting.
 */
typedef struct kafka_job {
    kafka_exporter_t *kx;
    ct_request_t *req;
    kafka_plan_t plan;
    int refs;       /* under kx->lock: the sender and each record in flight */
    size_t pending; /* under kx->lock: records produced and not yet reported */
} kafka_job_t;

/* ---- jobs and delivery reports ---- */

static void job_unref(kafka_job_t *job)
{
    kafka_exporter_t *kx = job->kx;
    bool last;

    pthread_mutex_lock(&kx->lock);
    last = --job->refs == 0;
    pthread_mutex_unlock(&kx->lock);
    if (!last)
        return;
    kafka_plan_free(&job->plan);
    ct_request_unref(job->req);
    free(job);
}

/* Runs on the poller thread for every record produced. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    kafka_exporter_t *kx = opaque;
    kafka_record_t *rec = m->_private;
    kafka_job_t *job = rec->owner;
    bool last;

    pthread_mutex_lock(&kx->lock);
    rec->status = m->err;
    rec->delivered = true;
    job->pending--;
    last = --job->refs == 0;
    pthread_cond_broadcast(&kx->delivered);
    pthread_mutex_unlock(&kx->lock);

    if (last) {
        kafka_plan_free(&job->plan);
        ct_request_unref(job->req);
        free(job);
    }
}

/* Errors that mean no broker could be reached in time. */
static bool err_unreachable(rd_kafka_resp_err_t e)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
        return true;
    default:
        return false;
    }
}

/* Errors that no retry can fix: the record itself or the request is wrong. */
static bool err_permanent(rd_kafka_resp_err_t e)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__BAD_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
        return true;
    default:
        return false;
    }
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    kafka_exporter_t *kx = opaque;
    char fatal[512];

    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        atomic_store(&kx->brokers_down, true);
        ct_log_debug(kx->inst->name, "all brokers down: %s", reason);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
        ct_log_error(kx->inst->name,
                     "producer failed for good (records will be retried and "
                     "fail until restart): %s",
                     fatal);
        return;
    }
    /* Connection failures are summed up by the "Kafka unreachable" line. */
    if (err_unreachable((rd_kafka_resp_err_t)err)) {
        ct_log_debug(kx->inst->name, "%s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
        return;
    }
    ct_log_limited(&kx->error_log, LOG_INTERVAL_NS, CT_LOG_WARN, kx->inst->name,
                   "librdkafka: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* librdkafka's own log lines, at debug: what matters reaches error_cb and the send results. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    kafka_exporter_t *kx = rd_kafka_opaque(rk);

    ct_log_debug(kx ? kx->inst->name : "exporter/kafka", "librdkafka %s: %s", fac, buf);
}

static void *poller_main(void *arg)
{
    kafka_exporter_t *kx = arg;

    while (!atomic_load(&kx->stop))
        rd_kafka_poll(kx->rk, 100);
    return NULL;
}

/* ---- reachability, as the send results and the log tell it ---- */

static void note_unreachable(kafka_exporter_t *kx, const char *what)
{
    uint64_t zero = 0, now = ct_now_mono_ns();

    if (atomic_compare_exchange_strong(&kx->unreachable_since, &zero, now)) {
        /* Announced once; the reminders below come at most every LOG_INTERVAL_NS. */
        atomic_store(&kx->unreachable_log.next_ns, now + LOG_INTERVAL_NS);
        ct_log_warn(kx->inst->name, "Kafka unreachable (%s): data waits in the sending queue",
                    what);
        return;
    }
    ct_log_limited(&kx->unreachable_log, LOG_INTERVAL_NS, CT_LOG_WARN, kx->inst->name,
                   "Kafka unreachable for %.0fs (%s)",
                   (double)(now - atomic_load(&kx->unreachable_since)) / 1e9, what);
}

static void note_reachable(kafka_exporter_t *kx)
{
    uint64_t since = atomic_exchange(&kx->unreachable_since, 0);

    atomic_store(&kx->brokers_down, false);
    if (since)
        ct_log_info(kx->inst->name, "Kafka reachable again after %.1fs",
                    (double)(ct_now_mono_ns() - since) / 1e9);
}

/* ---- sending ---- */

static void result_set(ct_send_result_t *res, ct_code_t code, bool retryable, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void result_set(ct_send_result_t *res, ct_code_t code, bool retryable, const char *fmt, ...)
{
    va_list ap;

    res->code = code;
    res->retryable = retryable;
    va_start(ap, fmt);
    vsnprintf(res->message, sizeof(res->message), fmt, ap);
    va_end(ap);
}

static void abs_time(struct timespec *ts, uint64_t mono_ns)
{
    ts->tv_sec = (time_t)(mono_ns / 1000000000ull);
    ts->tv_nsec = (long)(mono_ns % 1000000000ull);
}

/* Static headers and the request's metadata keys; NULL when there are none. */
static rd_kafka_headers_t *record_headers(const kafka_config_t *c, const ct_request_t *req)
{
    rd_kafka_headers_t *h;

    if (c->record_headers.n == 0 && c->include_metadata_keys.n == 0)
        return NULL;
    h = rd_kafka_headers_new(c->record_headers.n + c->include_metadata_keys.n);
    if (!h)
        return NULL;
    for (size_t i = 0; i < c->record_headers.n; i++)
        rd_kafka_header_add(h, c->record_headers.k[i], -1, c->record_headers.v[i], -1);
    for (size_t i = 0; i < c->include_metadata_keys.n; i++) {
        const char *v = ct_metadata_get(req->metadata, c->include_metadata_keys.v[i]);

        if (v)
            rd_kafka_header_add(h, c->include_metadata_keys.v[i], -1, v, -1);
    }
    return h;
}

/* Bytes the headers add to every record of this request. */
static size_t headers_size(const kafka_config_t *c, const ct_request_t *req)
{
    size_t n = 0;

    for (size_t i = 0; i < c->record_headers.n; i++)
        n += strlen(c->record_headers.k[i]) + strlen(c->record_headers.v[i]) + 10;
    for (size_t i = 0; i < c->include_metadata_keys.n; i++) {
        const char *v = ct_metadata_get(req->metadata, c->include_metadata_keys.v[i]);

        if (v)
            n += strlen(c->include_metadata_keys.v[i]) + strlen(v) + 10;
    }
    return n;
}

/*
 * Produces one record, waiting for room while the producer queue is full
 * (backpressure, bounded by the deadline). A refusal other than a full queue
 * is recorded in the record as if a delivery report had said it.
 */
static rd_kafka_resp_err_t produce(kafka_job_t *job, kafka_record_t *rec, const char *topic,
                                   uint64_t deadline)
{
    kafka_exporter_t *kx = job->kx;
    rd_kafka_resp_err_t e;

    pthread_mutex_lock(&kx->lock);
    rec->owner = job;
    job->refs++;
    job->pending++;
    pthread_mutex_unlock(&kx->lock);

    for (;;) {
        rd_kafka_headers_t *hdrs = record_headers(kx->cfg, job->req);

        e = rd_kafka_producev(kx->rk, RD_KAFKA_V_TOPIC(topic),
                              RD_KAFKA_V_VALUE((void *)rec->value, rec->value_len),
                              RD_KAFKA_V_KEY(rec->key_len ? rec->key : NULL, rec->key_len),
                              RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(rec), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            return e;
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || ct_now_mono_ns() >= deadline)
            break;

        /* Room appears when delivery reports come in; look again at least every 100 ms. */
        struct timespec ts;
        uint64_t until = ct_now_mono_ns() + 100000000ull;

        abs_time(&ts, until < deadline ? until : deadline);
        pthread_mutex_lock(&kx->lock);
        pthread_cond_timedwait(&kx->delivered, &kx->lock, &ts);
        pthread_mutex_unlock(&kx->lock);
    }

    pthread_mutex_lock(&kx->lock);
    rec->status = e;
    rec->delivered = true;
    job->pending--;
    job->refs--; /* the sender still holds its own reference */
    pthread_mutex_unlock(&kx->lock);
    return e;
}

/*
 * Waits until every record produced so far has a delivery report, or the
 * deadline. Returns how many are still without one.
 */
static size_t wait_delivery(kafka_job_t *job, uint64_t deadline)
{
    kafka_exporter_t *kx = job->kx;
    struct timespec ts;
    size_t pending;

    abs_time(&ts, deadline);
    pthread_mutex_lock(&kx->lock);
    while (job->pending > 0 && ct_now_mono_ns() < deadline)
        pthread_cond_timedwait(&kx->delivered, &kx->lock, &ts);
    pending = job->pending;
    pthread_mutex_unlock(&kx->lock);
    return pending;
}

/* limit: the smallest record size tried; refused: the broker refused records as too large. */
static void report_oversize(kafka_exporter_t *kx, const ct_request_t *req, const kafka_plan_t *plan,
                            size_t limit, bool refused)
{
    ct_counter_add(kx->oversize[req->signal], plan->dropped_items);
    ct_log_limited(&kx->oversize_log, LOG_INTERVAL_NS, CT_LOG_WARN, kx->inst->name,
                   "dropped %zu %s too large for one Kafka record (largest %zu bytes, limit "
                   "%zu%s; producer::max_message_bytes %lld)",
                   plan->dropped_items, ct_signal_item_name(req->signal), plan->dropped_largest,
                   limit, refused ? " after the broker refused larger records" : "",
                   (long long)kx->cfg->producer.max_message_bytes);
}

/*
 * A record the broker refused as too large. librdkafka may have put it in
 * one batch with others, and the broker judges batches: so it is first
 * produced again alone, and only a record refused alone is split under half
 * its size. The new records are appended to the plan, marked to be produced
 * one at a time. Lowers *limit to the size tried.
 */
static int resplit(kafka_job_t *job, const kafka_plan_opts_t *o, const kafka_record_t *rec,
                   size_t *limit, char *err, size_t errlen)
{
    kafka_exporter_t *kx = job->kx;
    kafka_plan_opts_t smaller = *o;
    size_t first = job->plan.n;
    int rc;

    if (rec->alone) {
        smaller.max_bytes = rec->value_len / 2 + rec->key_len;
        if (smaller.max_bytes > o->max_bytes)
            smaller.max_bytes = o->max_bytes;
        if (smaller.max_bytes < *limit)
            *limit = smaller.max_bytes;
    }
    ct_log_limited(&kx->refused_log, LOG_INTERVAL_NS, CT_LOG_WARN, kx->inst->name,
                   "the broker refused a record of %zu bytes as too large: %s "
                   "(producer::max_message_bytes %lld is above the broker's or topic's "
                   "message size limit)",
                   rec->value_len, rec->alone ? "splitting it" : "producing it alone",
                   (long long)kx->cfg->producer.max_message_bytes);
    rc = kafka_plan_fit(&job->plan, &smaller, rec->proto, rec->proto_len, rec->items, NULL,
                        rec->key, rec->key_len, err, errlen);
    for (size_t i = first; i < job->plan.n; i++)
        job->plan.rec[i]->alone = true;
    return rc;
}

/*
 * Produces the plan's records and waits for their delivery reports; records
 * the broker refuses as too large are produced again (alone, then split)
 * until nothing new is left. Returns the worst error: NO_ERROR, __QUEUE_FULL
 * (no room before the deadline), __TIMED_OUT (reports missing at the
 * deadline; *pending says how many) or a delivery error.
 */
static rd_kafka_resp_err_t deliver(kafka_job_t *job, const kafka_plan_opts_t *o, const char *topic,
                                   uint64_t deadline, size_t *pending, size_t *limit, bool *refused)
{
    rd_kafka_resp_err_t worst = RD_KAFKA_RESP_ERR_NO_ERROR;
    size_t produced = 0, checked = 0;
    char why[256] = "";

    while (produced < job->plan.n && worst == RD_KAFKA_RESP_ERR_NO_ERROR) {
        while (produced < job->plan.n) {
            kafka_record_t *rec = job->plan.rec[produced++];

            if (produce(job, rec, topic, deadline) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                return RD_KAFKA_RESP_ERR__QUEUE_FULL;
            /* A record produced alone is in a batch of its own: wait before the next. */
            if (rec->alone && (*pending = wait_delivery(job, deadline)) > 0)
                return RD_KAFKA_RESP_ERR__TIMED_OUT;
        }
        *pending = wait_delivery(job, deadline);
        if (*pending > 0)
            return RD_KAFKA_RESP_ERR__TIMED_OUT;

        for (size_t n = job->plan.n; checked < n; checked++) {
            kafka_record_t *rec = job->plan.rec[checked];
            rd_kafka_resp_err_t e = (rd_kafka_resp_err_t)rec->status;

            if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
                continue;
            /* Refused by librdkafka at produce time or by the broker: the same code. */
            if (e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
                *refused = true;
                if (resplit(job, o, rec, limit, why, sizeof(why)) < 0) {
                    ct_log_error(job->kx->inst->name, "cannot split a refused record: %s", why);
                    worst = e;
                }
                continue;
            }
            if (worst == RD_KAFKA_RESP_ERR_NO_ERROR || err_permanent(e))
                worst = e;
        }
    }
    return worst;
}

/*
 * librdkafka learns the partitions of a topic it has not produced to only at
 * its once-a-second topic scan, so the first records of a run would wait up
 * to a second (and, at high rates, pile up in memory meanwhile). The first
 * send of each signal asks for its configured topic's metadata at once and
 * waits for it, at most a second and within the attempt's deadline. Asked
 * once: should it fail, the scan takes over as usual.
 */
static void topic_warm_up(kafka_exporter_t *kx, ct_signal_t sig, const char *topic,
                          uint64_t deadline)
{
    const struct rd_kafka_metadata *md = NULL;
    uint64_t now = ct_now_mono_ns();
    uint64_t left_ms = deadline > now ? (deadline - now) / 1000000 : 0;
    rd_kafka_topic_t *rkt;

    if (topic != kx->sig[sig].topic || atomic_exchange(&kx->topic_asked[sig], true))
        return;
    rkt = rd_kafka_topic_new(kx->rk, topic, NULL);
    if (!rkt)
        return;
    if (rd_kafka_metadata(kx->rk, 0, rkt, &md, left_ms < 1000 ? (int)left_ms : 1000) ==
        RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
}

static ct_send_result_t kafka_exporter_send(ct_instance_t *inst, ct_request_t *req)
{
    kafka_exporter_t *kx = inst->state;
    const kafka_signal_plan_t *sp = &kx->sig[req->signal];
    const kafka_config_t *c = kx->cfg;
    ct_send_result_t res = {0};
    rd_kafka_resp_err_t worst = RD_KAFKA_RESP_ERR_NO_ERROR;
    kafka_plan_opts_t o;
    const char *topic = sp->topic;
    size_t pending = 0, overhead, limit;
    bool refused = false;
    uint64_t deadline;
    char why[256] = "";
    kafka_job_t *job;
    int rc;

    deadline = c->settings.timeout ? ct_now_mono_ns() + c->settings.timeout : UINT64_MAX;
    if (sp->topic_from_metadata_key) {
        const char *t = ct_metadata_get(req->metadata, sp->topic_from_metadata_key);

        if (t && t[0])
            topic = t;
    }
    topic_warm_up(kx, req->signal, topic, deadline);

    job = calloc(1, sizeof(*job));
    if (!job) {
        result_set(&res, CT_RESOURCE_EXHAUSTED, true, "out of memory");
        return res;
    }
    job->kx = kx;
    job->req = ct_request_ref(req);
    job->refs = 1;

    overhead = RECORD_OVERHEAD + headers_size(c, req);
    o.signal = req->signal;
    o.encoding = sp->encoding;
    o.partition = sp->partition;
    o.max_bytes = (size_t)c->producer.max_message_bytes > overhead + 64
                      ? (size_t)c->producer.max_message_bytes - overhead
                      : 64;
    limit = o.max_bytes;
    rc = kafka_plan_request(&job->plan, &o, req->data, req->len, req->items, why, sizeof(why));
    if (rc < 0) {
        result_set(&res, rc == -ENOMEM ? CT_RESOURCE_EXHAUSTED : CT_INTERNAL, rc == -ENOMEM,
                   "cannot prepare Kafka records: %s", why[0] ? why : strerror(-rc));
        goto out;
    }

    worst = deliver(job, &o, topic, deadline, &pending, &limit, &refused);
    if (job->plan.dropped_items > 0)
        report_oversize(kx, req, &job->plan, limit, refused);

    if (worst == RD_KAFKA_RESP_ERR_NO_ERROR) {
        note_reachable(kx);
        ct_counter_add(kx->records[req->signal], job->plan.n);
        res.code = CT_OK;
        res.rejected = job->plan.dropped_items;
        if (res.rejected)
            snprintf(res.message, sizeof(res.message), "%zu items larger than max_message_bytes",
                     res.rejected);
        goto out;
    }

    if (worst == RD_KAFKA_RESP_ERR__TIMED_OUT) {
        result_set(&res, CT_DEADLINE_EXCEEDED, true,
                   "%zu of %zu Kafka records not acknowledged within the timeout", pending,
                   job->plan.n);
        if (atomic_load(&kx->brokers_down) || atomic_load(&kx->unreachable_since))
            note_unreachable(kx, res.message);
    } else if (err_unreachable(worst)) {
        result_set(&res, CT_UNAVAILABLE, true, "topic %s: %s", topic, rd_kafka_err2str(worst));
        note_unreachable(kx, res.message);
    } else if (err_permanent(worst)) {
        result_set(&res, CT_INVALID_ARGUMENT, false, "topic %s: %s", topic,
                   rd_kafka_err2str(worst));
    } else {
        result_set(&res, CT_UNAVAILABLE, true, "topic %s: %s", topic, rd_kafka_err2str(worst));
        ct_log_limited(&kx->failure_log, LOG_INTERVAL_NS, CT_LOG_WARN, inst->name,
                       "producing to %s failed: %s", topic, rd_kafka_err2str(worst));
    }
    if (atomic_load(&kx->unreachable_since)) {
        size_t n = strlen(res.message);

        snprintf(res.message + n, sizeof(res.message) - n, " (unreachable for %.0fs)",
                 (double)(ct_now_mono_ns() - atomic_load(&kx->unreachable_since)) / 1e9);
    }

out:
    job_unref(job);
    return res;
}

/* ---- life cycle ---- */

static int kafka_exporter_create(ct_instance_t *inst, ct_err_t *err)
{
    kafka_exporter_t *kx = calloc(1, sizeof(*kx));
    char labels[256];
    pthread_condattr_t ca;

    if (!kx)
        return ct_errf(err, inst->node, "%s: out of memory", inst->name);
    kx->inst = inst;
    kx->cfg = inst->config;
    kafka_config_signals(kx->cfg, inst->node, kx->sig);
    kx->conf = kafka_config_build(kx->cfg, inst->node, inst->name, err);
    if (!kx->conf) {
        free(kx);
        return -EINVAL;
    }
    rd_kafka_conf_set_opaque(kx->conf, kx);
    rd_kafka_conf_set_dr_msg_cb(kx->conf, on_delivery);
    rd_kafka_conf_set_error_cb(kx->conf, error_cb);
    rd_kafka_conf_set_log_cb(kx->conf, log_cb);

    pthread_mutex_init(&kx->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&kx->delivered, &ca);
    pthread_condattr_destroy(&ca);

    for (int s = 0; s < CT_SIGNAL_COUNT; s++) {
        char name[128];

        snprintf(labels, sizeof(labels), "exporter=\"%s\",data_type=\"%s\"", inst->id,
                 ct_signal_name((ct_signal_t)s));
        kx->records[s] = ct_metrics_counter("cotel_exporter_kafka_records",
                                            "Kafka records acknowledged by the brokers.", labels);
        snprintf(labels, sizeof(labels), "exporter=\"%s\"", inst->id);
        snprintf(name, sizeof(name), "cotel_exporter_kafka_oversize_dropped_%s",
                 ct_signal_item_name((ct_signal_t)s));
        kx->oversize[s] = ct_metrics_counter(
            name, "Items dropped because alone they exceed producer::max_message_bytes.", labels);
    }
    inst->state = kx;
    return 0;
}

static int kafka_exporter_start(ct_instance_t *inst, ct_err_t *err)
{
    kafka_exporter_t *kx = inst->state;
    char why[512];

    /* rd_kafka_new connects in the background: an absent broker does not delay the start. */
    kx->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kx->conf, why, sizeof(why));
    if (!kx->rk)
        return ct_errf(err, inst->node, "%s: cannot create the Kafka producer: %s", inst->name,
                       why);
    kx->conf = NULL; /* rd_kafka_new took it */
    if (pthread_create(&kx->poller, NULL, poller_main, kx) != 0)
        return ct_errf(err, inst->node, "%s: cannot start the delivery report thread", inst->name);
    kx->poller_running = true;
    ct_log_info(inst->name, "producing to Kafka: traces -> %s, metrics -> %s, logs -> %s",
                kx->sig[CT_SIGNAL_TRACES].topic, kx->sig[CT_SIGNAL_METRICS].topic,
                kx->sig[CT_SIGNAL_LOGS].topic);
    return 0;
}

/*
 * Called once the engine has drained its queue (or its deadline passed):
 * waits for librdkafka to deliver what it holds, then gives up on the rest,
 * which wakes any sender still waiting with a failure.
 */
static void kafka_exporter_shutdown(ct_instance_t *inst, uint64_t deadline_ns)
{
    kafka_exporter_t *kx = inst->state;
    uint64_t now = ct_now_mono_ns();
    int left;

    if (!kx || !kx->rk)
        return;
    rd_kafka_flush(kx->rk, now < deadline_ns ? (int)((deadline_ns - now) / 1000000) : 0);
    left = rd_kafka_outq_len(kx->rk);
    if (left > 0) {
        ct_log_error(inst->name,
                     "shutdown: %d Kafka records not acknowledged before the "
                     "deadline",
                     left);
        rd_kafka_purge(kx->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(kx->rk, 500);
    }
}

static void kafka_exporter_destroy(ct_instance_t *inst)
{
    kafka_exporter_t *kx = inst->state;

    if (!kx)
        return;
    if (kx->poller_running) {
        atomic_store(&kx->stop, true);
        pthread_join(kx->poller, NULL);
    }
    if (kx->rk)
        rd_kafka_destroy(kx->rk);
    if (kx->conf)
        rd_kafka_conf_destroy(kx->conf);
    pthread_cond_destroy(&kx->delivered);
    pthread_mutex_destroy(&kx->lock);
    free(kx);
    inst->state = NULL;
}

const ct_factory_t ct_kafka_exporter_factory = {
    .type = "kafka",
    .kind = CT_KIND_EXPORTER,
    .signals = CT_SIGNALS_ALL,
    .description = "produces OTLP (protobuf or JSON) to Kafka topics, acknowledged per record",
    .opts = kafka_exporter_opts,
    .cfg_size = sizeof(kafka_config_t),
    .validate = kafka_config_validate,
    .create = kafka_exporter_create,
    .start = kafka_exporter_start,
    .shutdown = kafka_exporter_shutdown,
    .destroy = kafka_exporter_destroy,
    .send = kafka_exporter_send,
    .settings_offset = offsetof(kafka_config_t, settings),
};
