/*
 * The consumer thread: polls librdkafka, hands each record to the pipeline of
 * its signal, marks offsets as message_marking says, holds a refused record
 * with its partition paused until the pipeline takes it, follows rebalances,
 * and closes the consumer at shutdown. Every librdkafka callback runs on this
 * thread (the main queue is the consumer queue), so the state needs no lock.
 */
#include "kafka_receiver.h"

#include "ct_exporter.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS                 1000000ull
#define POLL_MS            100
#define LOG_INTERVAL_NS    (10000 * MS)
#define UNREACHABLE_LOG_NS (30000 * MS)
#define PROBE_INTERVAL_NS  (2000 * MS)
#define PROBE_TIMEOUT_MS   500
#define COMMIT_INTERVAL_NS (100 * MS)
#define NOMEM_RETRY_NS     (1000 * MS)

/* ---- reachability ---- */

static void note_unreachable(kafka_receiver_t *kr, const char *why)
{
    uint64_t now = ct_now_mono_ns();

    if (kr->unreachable_since == 0) {
        kr->unreachable_since = now;
        kr->next_probe_ns = now + PROBE_INTERVAL_NS;
        /* Announced once; reminders come at most every UNREACHABLE_LOG_NS. */
        atomic_store(&kr->unreachable_log.next_ns, now + UNREACHABLE_LOG_NS);
        ct_log_warn(kr->inst->name,
                    "Kafka unreachable (%s): consuming resumes when a broker answers", why);
        return;
    }
    ct_log_limited(&kr->unreachable_log, UNREACHABLE_LOG_NS, CT_LOG_WARN, kr->inst->name,
                   "Kafka unreachable for %.0fs (%s)", (double)(now - kr->unreachable_since) / 1e9,
                   why);
}

static void note_reachable(kafka_receiver_t *kr)
{
    if (kr->unreachable_since == 0)
        return;
    ct_log_info(kr->inst->name, "Kafka reachable again after %.1fs",
                (double)(ct_now_mono_ns() - kr->unreachable_since) / 1e9);
    kr->unreachable_since = 0;
}

/*
 * While unreachable, asks a broker for metadata now and then: an idle topic
 * brings no record that would show Kafka is back.
 */
static void probe(kafka_receiver_t *kr, uint64_t now)
{
    const struct rd_kafka_metadata *md = NULL;

    kr->next_probe_ns = now + PROBE_INTERVAL_NS;
    if (rd_kafka_metadata(kr->rk, 0, NULL, &md, PROBE_TIMEOUT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR)
        note_reachable(kr);
    if (md)
        rd_kafka_metadata_destroy(md);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    kafka_receiver_t *kr = opaque;
    rd_kafka_resp_err_t e = (rd_kafka_resp_err_t)err;
    char fatal[512];

    switch (e) {
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
        note_unreachable(kr, reason);
        break;
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__RESOLVE:
        /* One broker's connection; "Kafka unreachable" sums up when all are gone. */
        ct_log_debug(kr->inst->name, "%s: %s", rd_kafka_err2name(e), reason);
        break;
    case RD_KAFKA_RESP_ERR__FATAL:
        rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
        ct_log_error(kr->inst->name, "consumer failed for good (restart cotel): %s", fatal);
        break;
    default:
        ct_log_limited(&kr->error_log, LOG_INTERVAL_NS, CT_LOG_WARN, kr->inst->name,
                       "librdkafka: %s: %s", rd_kafka_err2name(e), reason);
    }
}

/* librdkafka's own log lines, at debug: what matters reaches error_cb and the message errors. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    kafka_receiver_t *kr = rd_kafka_opaque(rk);

    ct_log_debug(kr ? kr->inst->name : "receiver/kafka", "librdkafka %s: %s", fac, buf);
}

/* ---- partitions ---- */

static const kr_route_t *route_find(const kafka_receiver_t *kr, const char *topic)
{
    for (size_t i = 0; i < kr->nroutes; i++) {
        if (!kr->routes[i].is_regex && strcmp(kr->routes[i].name, topic) == 0)
            return &kr->routes[i];
    }
    for (size_t i = 0; i < kr->nroutes; i++) {
        if (kr->routes[i].is_regex && regexec(&kr->routes[i].re, topic, 0, NULL, 0) == 0)
            return &kr->routes[i];
    }
    return NULL;
}

static kr_partition_t *part_find(kafka_receiver_t *kr, const char *topic, int32_t partition)
{
    kr_partition_t *p = kr->last_part;

    if (p && p->partition == partition && strcmp(p->topic, topic) == 0)
        return p;
    for (size_t i = 0; i < kr->nparts; i++) {
        p = kr->parts[i];
        if (p->partition == partition && strcmp(p->topic, topic) == 0) {
            kr->last_part = p;
            return p;
        }
    }
    return NULL;
}

static void part_counters(kafka_receiver_t *kr, kr_partition_t *p)
{
    char labels[512], id[160], topic[256], name[96];

    ct_metrics_label_escape(id, sizeof id, kr->inst->id);
    ct_metrics_label_escape(topic, sizeof topic, p->topic);
    snprintf(labels, sizeof labels, "receiver=\"%s\",topic=\"%s\",partition=\"%" PRId32 "\"", id,
             topic, p->partition);
    p->current_offset = ct_metrics_gauge("otelcol_kafka_receiver_current_offset",
                                         "Offset of the last record handled.", labels);
    p->offset_lag =
        ct_metrics_gauge("otelcol_kafka_receiver_offset_lag",
                         "Records behind the partition's end (as last fetched).", labels);
    if (p->route) {
        snprintf(name, sizeof name, "otelcol_kafka_receiver_unmarshal_failed_%s",
                 ct_signal_item_name(p->route->signal));
        p->unmarshal_failed =
            ct_metrics_counter(name, "Records skipped because they do not decode.", labels);
    }
}

static kr_partition_t *part_add(kafka_receiver_t *kr, const char *topic, int32_t partition)
{
    kr_partition_t *p = calloc(1, sizeof(*p));

    if (p == NULL)
        goto fail;
    p->topic = strdup(topic);
    p->partition = partition;
    p->refetch_offset = -1;
    p->self = rd_kafka_topic_partition_list_new(1);
    if (p->topic == NULL || p->self == NULL)
        goto fail;
    rd_kafka_topic_partition_list_add(p->self, topic, partition);
    p->route = route_find(kr, topic);
    if (p->route == NULL)
        ct_log_warn(kr->inst->name, "topic %s matches no signal's topics: its records are skipped",
                    topic);
    if (kr->nparts == kr->capparts) {
        size_t cap = kr->capparts ? 2 * kr->capparts : 16;
        kr_partition_t **parts = realloc(kr->parts, cap * sizeof(*parts));

        if (parts == NULL)
            goto fail;
        kr->parts = parts;
        kr->capparts = cap;
    }
    part_counters(kr, p);
    kr->parts[kr->nparts++] = p;
    ct_counter_add(kr->partition_start, 1);
    return p;

fail:
    ct_log_error(kr->inst->name, "out of memory while taking partition %s/%" PRId32, topic,
                 partition);
    if (p) {
        if (p->self)
            rd_kafka_topic_partition_list_destroy(p->self);
        free(p->topic);
        free(p);
    }
    return NULL;
}

static void part_free(kr_partition_t *p)
{
    if (p->pending)
        ct_request_unref(p->pending);
    rd_kafka_topic_partition_list_destroy(p->self);
    free(p->topic);
    free(p);
}

static void part_remove(kafka_receiver_t *kr, size_t i)
{
    kr_partition_t *p = kr->parts[i];

    if (p->pending)
        ct_log_info(kr->inst->name,
                    "partition %s/%" PRId32 " left this member while a refused record waited "
                    "(offset %" PRId64 "): its next owner reads it again",
                    p->topic, p->partition, p->pending_offset);
    if (kr->last_part == p)
        kr->last_part = NULL;
    kr->parts[i] = kr->parts[--kr->nparts];
    ct_counter_add(kr->partition_close, 1);
    part_free(p);
}

void kafka_receiver_parts_free(kafka_receiver_t *kr)
{
    for (size_t i = 0; i < kr->nparts; i++)
        part_free(kr->parts[i]);
    free(kr->parts);
    kr->parts = NULL;
    kr->nparts = kr->capparts = 0;
    kr->last_part = NULL;
}

/*
 * Marks the partition as consumed up to (not including) `next`: the offset
 * the group resumes from. Moving it back is allowed, and is how a record
 * marked before the pipeline refused it is taken back.
 */
static void store_offset(kafka_receiver_t *kr, kr_partition_t *p, int64_t next)
{
    rd_kafka_resp_err_t e;

    p->self->elems[0].offset = next;
    p->self->elems[0].err = RD_KAFKA_RESP_ERR_NO_ERROR;
    e = rd_kafka_offsets_store(kr->rk, p->self);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        e = p->self->elems[0].err;
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        ct_log_limited(&kr->error_log, LOG_INTERVAL_NS, CT_LOG_WARN, kr->inst->name,
                       "cannot mark offset %" PRId64 " of %s/%" PRId32 ": %s", next, p->topic,
                       p->partition, rd_kafka_err2str(e));
        return;
    }
    kr->commit_dirty = true;
}

static void part_pause(kafka_receiver_t *kr, kr_partition_t *p)
{
    if (p->paused)
        return;
    rd_kafka_pause_partitions(kr->rk, p->self);
    p->paused = true;
}

/*
 * Resumes fetching. librdkafka resumes after the last record it handed out;
 * when records were handed out and skipped meanwhile, seek back first.
 */
static void part_resume(kafka_receiver_t *kr, kr_partition_t *p)
{
    if (!p->paused)
        return;
    if (p->refetch_offset >= 0) {
        rd_kafka_error_t *e;

        p->self->elems[0].offset = p->refetch_offset;
        e = rd_kafka_seek_partitions(kr->rk, p->self, 0);
        if (e) {
            ct_log_error(kr->inst->name, "cannot seek %s/%" PRId32 " back to %" PRId64 ": %s",
                         p->topic, p->partition, p->refetch_offset, rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
        p->refetch_offset = -1;
    }
    rd_kafka_resume_partitions(kr->rk, p->self);
    p->paused = false;
}

static void update_position(kafka_receiver_t *kr, kr_partition_t *p, int64_t offset)
{
    int64_t low = 0, high = 0;

    ct_gauge_set(p->current_offset, (uint64_t)offset);
    if (rd_kafka_get_watermark_offsets(kr->rk, p->topic, p->partition, &low, &high) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        high > offset)
        ct_gauge_set(p->offset_lag, (uint64_t)(high - offset - 1));
    else
        ct_gauge_set(p->offset_lag, 0);
}

/* ---- records and the pipeline ---- */

static uint64_t retry_delay(const kafka_receiver_t *kr, unsigned attempt)
{
    const kr_backoff_cfg_t *b = &kr->cfg->backoff;
    ct_retry_settings_t rs = {
        .enabled = true,
        .initial_interval = b->initial_interval,
        .randomization_factor = b->randomization_factor,
        .multiplier = b->multiplier,
        .max_interval = b->max_interval,
    };

    return b->enabled ? ct_retry_delay(&rs, attempt) : b->initial_interval;
}

/*
 * Whether a refused record may be given up now: only when its offset may be
 * marked without the pipeline taking it (message_marking), and either the
 * refusal is for good, waiting is off, or error_backoff's time is up.
 */
static bool give_up(const kafka_receiver_t *kr, const kr_partition_t *p, ct_code_t code,
                    uint64_t now)
{
    const kafka_receiver_config_t *c = kr->cfg;
    bool permanent = !ct_code_retryable(code, 1);
    bool may_mark =
        !c->marking.after || (permanent ? kr->mark_on_permanent_error : kr->mark_on_error);

    if (!may_mark)
        return false;
    if (permanent || !c->backoff.enabled)
        return true;
    return c->backoff.max_elapsed_time != 0 &&
           now - p->first_refusal_ns >= c->backoff.max_elapsed_time;
}

static void finish(kafka_receiver_t *kr, kr_partition_t *p)
{
    update_position(kr, p, p->pending_offset);
    ct_request_unref(p->pending);
    p->pending = NULL;
    p->attempts = 0;
    part_resume(kr, p);
}

/*
 * Hands the partition's pending request to the pipeline once. Returns true
 * when the record is done with: accepted, or given up; false when it waits
 * for another try, with the partition paused.
 */
static bool deliver(kafka_receiver_t *kr, kr_partition_t *p, uint64_t now)
{
    const kafka_receiver_config_t *c = kr->cfg;
    ct_request_t *req = p->pending;
    ct_signal_t sig = p->route->signal;
    ct_code_t code = ct_consume(kr->inst->next[sig], req);
    uint64_t delay;

    ct_receiver_obs_record(&kr->obs, sig, req->items, code);
    if (code == CT_OK) {
        if (c->marking.after)
            store_offset(kr, p, p->pending_offset + 1);
        if (p->attempts)
            ct_log_debug(kr->inst->name,
                         "the pipeline took the record at %s/%" PRId32 "@%" PRId64
                         " after %u refusals",
                         p->topic, p->partition, p->pending_offset, p->attempts);
        finish(kr, p);
        return true;
    }

    if (p->attempts++ == 0)
        p->first_refusal_ns = now;
    if (give_up(kr, p, code, now)) {
        ct_log_limited(&kr->dropped_log, LOG_INTERVAL_NS, CT_LOG_WARN, kr->inst->name,
                       "dropped %zu %s of the record at %s/%" PRId32 "@%" PRId64
                       ": the pipeline refused them (%s)",
                       req->items, ct_signal_item_name(sig), p->topic, p->partition,
                       p->pending_offset, ct_code_name(code));
        if (c->marking.after)
            store_offset(kr, p, p->pending_offset + 1);
        finish(kr, p);
        return true;
    }

    /* Marked before it went in: take the mark back, so no commit passes a waiting record. */
    if (!c->marking.after && p->attempts == 1)
        store_offset(kr, p, p->pending_offset);
    delay = retry_delay(kr, p->attempts - 1);
    p->retry_at_ns = now + delay;
    part_pause(kr, p);
    ct_log_limited(&kr->refused_log, LOG_INTERVAL_NS, CT_LOG_WARN, kr->inst->name,
                   "the pipeline refused %zu %s (%s): partition %s/%" PRId32
                   " paused at offset %" PRId64 ", next try in %.1fs",
                   req->items, ct_signal_item_name(sig), ct_code_name(code), p->topic, p->partition,
                   p->pending_offset, (double)delay / 1e9);
    return false;
}

static void skip_malformed(kafka_receiver_t *kr, kr_partition_t *p, const rd_kafka_message_t *m,
                           const char *why)
{
    if (p->unmarshal_failed)
        ct_counter_add(p->unmarshal_failed, 1);
    ct_log_limited(&kr->malformed_log, LOG_INTERVAL_NS, CT_LOG_WARN, kr->inst->name,
                   "skipped a malformed record at %s/%" PRId32 "@%" PRId64 " (%zu bytes): %s",
                   p->topic, p->partition, m->offset, m->len, why);
    store_offset(kr, p, m->offset + 1);
    update_position(kr, p, m->offset);
}

static void handle_record(kafka_receiver_t *kr, const rd_kafka_message_t *m, uint64_t now)
{
    kr_partition_t *p = part_find(kr, rd_kafka_topic_name(m->rkt), m->partition);
    ct_request_t *req = NULL;
    ct_metadata_t *md;
    char why[256];
    int rc;

    if (p == NULL)
        return; /* no longer ours: the partition's next owner reads it */
    if (p->paused) {
        /* Handed out before the pause took effect: read again once the wait is over. */
        if (p->refetch_offset < 0 || m->offset < p->refetch_offset)
            p->refetch_offset = p->pending ? p->pending_offset + 1 : m->offset;
        return;
    }
    note_reachable(kr);
    if (p->route == NULL) {
        store_offset(kr, p, m->offset + 1);
        return;
    }

    rc = kafka_receiver_decode(p->route->signal, p->route->encoding, m->payload, m->len, &req, why,
                               sizeof why);
    if (rc == -EINVAL) {
        skip_malformed(kr, p, m, why);
        return;
    }
    if (rc == 0 && req != NULL) {
        md = kafka_receiver_metadata(m);
        if (md == NULL) {
            ct_request_unref(req);
            req = NULL;
            rc = -ENOMEM;
        } else {
            ct_request_set_metadata(req, md);
            ct_metadata_unref(md);
        }
    }
    if (rc < 0) {
        /* Out of memory: read the record again a little later. */
        ct_log_limited(&kr->error_log, LOG_INTERVAL_NS, CT_LOG_ERROR, kr->inst->name,
                       "out of memory while decoding a %zu-byte record of %s/%" PRId32
                       ": reading it again in 1s",
                       m->len, p->topic, p->partition);
        p->refetch_offset = m->offset;
        p->retry_at_ns = now + NOMEM_RETRY_NS;
        part_pause(kr, p);
        return;
    }
    if (req == NULL) {
        store_offset(kr, p, m->offset + 1); /* no items: nothing to hand over */
        update_position(kr, p, m->offset);
        return;
    }

    if (!kr->cfg->marking.after)
        store_offset(kr, p, m->offset + 1);
    p->pending = req;
    p->pending_offset = m->offset;
    p->attempts = 0;
    deliver(kr, p, now);
}

/* Retries the records that are due; returns how long the next poll may wait (ms). */
static int retry_due(kafka_receiver_t *kr, uint64_t now)
{
    uint64_t next = now + POLL_MS * MS;

    for (size_t i = 0; i < kr->nparts && !atomic_load(&kr->stop); i++) {
        kr_partition_t *p = kr->parts[i];

        if (!p->paused)
            continue;
        if (p->retry_at_ns <= now) {
            if (p->pending == NULL)
                part_resume(kr, p); /* waited after running out of memory */
            else
                deliver(kr, p, now);
            now = ct_now_mono_ns();
        }
        if (p->paused && p->retry_at_ns < next)
            next = p->retry_at_ns;
    }
    return next > now ? (int)((next - now + MS - 1) / MS) : 0;
}

/* ---- rebalances and commits ---- */

static void log_partitions(kafka_receiver_t *kr, const char *what,
                           const rd_kafka_topic_partition_list_t *parts)
{
    ct_buf_t line = {.max = 1024};

    for (int i = 0; i < parts->cnt; i++) {
        if (ct_buf_printf(&line, "%s%s/%" PRId32, i ? ", " : "", parts->elems[i].topic,
                          parts->elems[i].partition) != 0) {
            ct_buf_puts(&line, ", ...");
            break;
        }
    }
    ct_buf_putc(&line, '\0');
    ct_log_info(kr->inst->name, "%s %d partitions: %s", what, parts->cnt,
                line.data ? (const char *)line.data : "");
    ct_buf_free(&line);
}

static void assign(kafka_receiver_t *kr, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts,
                   bool cooperative)
{
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;

    note_reachable(kr);
    for (int i = 0; i < parts->cnt; i++) {
        if (!part_find(kr, parts->elems[i].topic, parts->elems[i].partition))
            part_add(kr, parts->elems[i].topic, parts->elems[i].partition);
    }
    log_partitions(kr, "assigned", parts);
    if (cooperative)
        error = rd_kafka_incremental_assign(rk, parts);
    else
        e = rd_kafka_assign(rk, parts);
    if (error) {
        ct_log_error(kr->inst->name, "cannot take the assigned partitions: %s",
                     rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (e) {
        ct_log_error(kr->inst->name, "cannot take the assigned partitions: %s",
                     rd_kafka_err2str(e));
    }
}

/*
 * Partitions leave: commit what was marked (unless the group already gave
 * them to another member), then let them go. A record still waiting is not
 * marked, so the next owner reads it.
 */
static void revoke(kafka_receiver_t *kr, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts,
                   bool cooperative)
{
    bool lost = rd_kafka_assignment_lost(rk);
    rd_kafka_error_t *error = NULL;

    log_partitions(kr, lost ? "lost" : "revoked", parts);
    /* Closing: the commit before leaving covers these, and must not block the deadline. */
    if (!lost && !kr->closing) {
        rd_kafka_resp_err_t e = rd_kafka_commit(rk, NULL, 0);

        if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
            ct_log_warn(kr->inst->name, "cannot commit offsets of revoked partitions: %s",
                        rd_kafka_err2str(e));
        else
            kr->commit_dirty = false;
    }
    for (int i = 0; i < parts->cnt; i++) {
        for (size_t j = 0; j < kr->nparts; j++) {
            kr_partition_t *p = kr->parts[j];

            if (p->partition == parts->elems[i].partition &&
                strcmp(p->topic, parts->elems[i].topic) == 0) {
                part_remove(kr, j);
                break;
            }
        }
    }
    if (cooperative) {
        error = rd_kafka_incremental_unassign(rk, parts);
    } else {
        /* Eager: everything goes. */
        while (kr->nparts)
            part_remove(kr, kr->nparts - 1);
        rd_kafka_assign(rk, NULL);
    }
    if (error) {
        ct_log_error(kr->inst->name, "cannot release revoked partitions: %s",
                     rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    kafka_receiver_t *kr = opaque;
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        assign(kr, rk, parts, cooperative);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        revoke(kr, rk, parts, cooperative);
    } else {
        ct_log_error(kr->inst->name, "rebalance failed: %s: releasing every partition",
                     rd_kafka_err2str(err));
        while (kr->nparts)
            part_remove(kr, kr->nparts - 1);
        rd_kafka_assign(rk, NULL);
    }
}

static void offset_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    kafka_receiver_t *kr = opaque;

    if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET) {
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            note_reachable(kr);
        return;
    }
    /* The stored offsets stay; the next commit carries them. */
    kr->commit_dirty = true;
    ct_log_limited(&kr->error_log, LOG_INTERVAL_NS, CT_LOG_WARN, kr->inst->name,
                   "committing offsets failed (tried again later): %s", rd_kafka_err2str(err));
}

/* autocommit off: the receiver commits what it marked, coalesced to every COMMIT_INTERVAL_NS. */
static void commit_if_due(kafka_receiver_t *kr, uint64_t now)
{
    if (kr->cfg->autocommit.enable || !kr->commit_dirty)
        return;
    if (now - kr->last_commit_ns < COMMIT_INTERVAL_NS)
        return;
    kr->commit_dirty = false;
    kr->last_commit_ns = now;
    rd_kafka_commit(kr->rk, NULL, 1);
}

static void consumer_error(kafka_receiver_t *kr, const rd_kafka_message_t *m)
{
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
        return;
    if (m->err == RD_KAFKA_RESP_ERR__TRANSPORT || m->err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        ct_log_debug(kr->inst->name, "consumer: %s", rd_kafka_message_errstr(m));
        return;
    }
    ct_log_limited(&kr->error_log, LOG_INTERVAL_NS, CT_LOG_WARN, kr->inst->name, "consumer: %s%s%s",
                   rd_kafka_message_errstr(m), m->rkt ? ": topic " : "",
                   m->rkt ? rd_kafka_topic_name(m->rkt) : "");
}

void kafka_receiver_set_callbacks(kafka_receiver_t *kr, rd_kafka_conf_t *conf)
{
    rd_kafka_conf_set_opaque(conf, kr);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_offset_commit_cb(conf, offset_commit_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_log_cb(conf, log_cb);
}

/* ---- the thread ---- */

/* A closing consumer's events: rebalances are acted on, commit failures told, the rest let go. */
static void close_event(kafka_receiver_t *kr, rd_kafka_event_t *ev)
{
    rd_kafka_resp_err_t e = rd_kafka_event_error(ev);

    switch (rd_kafka_event_type(ev)) {
    case RD_KAFKA_EVENT_REBALANCE:
        rebalance_cb(kr->rk, e, rd_kafka_event_topic_partition_list(ev), kr);
        break;
    case RD_KAFKA_EVENT_OFFSET_COMMIT:
        if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET && !kr->close_commit_failed++)
            ct_log_warn(kr->inst->name,
                        "shutdown: committing offsets failed (%s): records since the last "
                        "commit are read again",
                        rd_kafka_err2str(e));
        break;
    case RD_KAFKA_EVENT_ERROR:
        ct_log_debug(kr->inst->name, "while closing: %s", rd_kafka_event_error_string(ev));
        break;
    default:
        break; /* records fetched meanwhile: not taken, so read again by the next owner */
    }
}

/*
 * Leaves the group within the close deadline: records still waiting are let
 * go unmarked, marked offsets are committed, partitions are revoked. The
 * close is served through a queue of events, so that the deadline holds.
 */
static void close_consumer(kafka_receiver_t *kr)
{
    uint64_t deadline = atomic_load(&kr->close_deadline_ns);
    rd_kafka_queue_t *q = NULL;
    rd_kafka_error_t *error = NULL;
    size_t waiting = 0;

    kr->closing = true;
    for (size_t i = 0; i < kr->nparts; i++) {
        kr_partition_t *p = kr->parts[i];

        if (p->pending) {
            waiting++;
            ct_request_unref(p->pending);
            p->pending = NULL;
        }
    }
    if (waiting)
        ct_log_info(kr->inst->name,
                    "shutdown: %zu refused records left unmarked; they are read again at the "
                    "next start",
                    waiting);
    /* Committed before leaving, while this member's generation is current; the close waits. */
    if (kr->unreachable_since == 0)
        rd_kafka_commit(kr->rk, NULL, 1);

    q = rd_kafka_queue_new(kr->rk);
    if (q)
        error = rd_kafka_consumer_close_queue(kr->rk, q);
    if (q == NULL || error) {
        ct_log_error(kr->inst->name, "cannot close the consumer: %s",
                     error ? rd_kafka_error_string(error) : "out of memory");
        goto out;
    }
    while (!rd_kafka_consumer_closed(kr->rk) && ct_now_mono_ns() < deadline) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, POLL_MS);

        if (ev) {
            close_event(kr, ev);
            rd_kafka_event_destroy(ev);
        }
    }
    if (rd_kafka_consumer_closed(kr->rk))
        atomic_store(&kr->closed, true);
    else
        ct_log_warn(kr->inst->name,
                    "the consumer did not leave its group before the shutdown deadline; the "
                    "group reassigns its partitions after session_timeout");
out:
    if (error)
        rd_kafka_error_destroy(error);
    if (q)
        rd_kafka_queue_destroy(q);
}

void *kafka_receiver_main(void *arg)
{
    kafka_receiver_t *kr = arg;

    while (!atomic_load(&kr->stop)) {
        uint64_t now = ct_now_mono_ns();
        int wait_ms = retry_due(kr, now);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(kr->rk, wait_ms);

        now = ct_now_mono_ns();
        if (m) {
            if (m->err)
                consumer_error(kr, m);
            else
                handle_record(kr, m, now);
            rd_kafka_message_destroy(m);
        }
        if (kr->unreachable_since && now >= kr->next_probe_ns)
            probe(kr, now);
        commit_if_due(kr, now);
    }
    close_consumer(kr);
    return NULL;
}
