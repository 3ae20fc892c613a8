/*
 * The `batch` processor: gathers requests into batches sent when they reach
 * send_batch_size items or when `timeout` passes, capped by
 * send_batch_max_size items and cotel's send_batch_max_bytes, with one
 * batcher per combination of metadata_keys values. One timer thread per
 * instance serves all of its batchers.
 */
#include "batch.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define LOG_INTERVAL_NS (10ull * 1000000000ull)

static const ct_opt_t batch_opts[] = {
    {"send_batch_size", CT_OPT_INT, offsetof(batch_config_t, send_batch_size), "8192", 0, 1e9, NULL,
     "items (spans, metric data points, log records) that trigger sending a batch"},
    {"timeout", CT_OPT_DURATION, offsetof(batch_config_t, timeout), "200ms", 0, 0, NULL,
     "time after which what is pending is sent whatever its size (0: send at once)"},
    {"send_batch_max_size", CT_OPT_INT, offsetof(batch_config_t, send_batch_max_size), "0", 0, 1e9,
     NULL,
     "most items in one batch, larger ones are split (0: no cap; else at least "
     "send_batch_size)"},
    {"send_batch_max_bytes", CT_OPT_SIZE, offsetof(batch_config_t, send_batch_max_bytes), "0", 0, 0,
     NULL,
     "cotel's own: most encoded bytes in one batch, e.g. 4MiB for gRPC peers "
     "(0: no cap)"},
    {"metadata_keys", CT_OPT_STRINGS, offsetof(batch_config_t, metadata_keys), NULL, 0, 0, NULL,
     "client metadata keys: each combination of their values is batched apart"},
    {"metadata_cardinality_limit", CT_OPT_INT, offsetof(batch_config_t, metadata_cardinality_limit),
     "1000", 0, 1e9, NULL,
     "most combinations of metadata_keys values; data with a new one past it is refused "
     "(0: no limit)"},
    CT_OPT_END,
};

/* The location of a key's value for an error message, or of the component when absent. */
static const ct_node_t *key_node(const ct_node_t *node, const char *key)
{
    const ct_node_t *n = ct_node_get(node, key);
    return n != NULL ? n : node;
}

static int batch_validate(const void *cfgp, const ct_node_t *node, ct_err_t *err)
{
    const batch_config_t *cfg = cfgp;
    if (cfg->send_batch_max_size != 0 && cfg->send_batch_max_size < cfg->send_batch_size)
        return ct_errf(err, key_node(node, "send_batch_max_size"),
                       "send_batch_max_size (%lld) must be 0 or at least send_batch_size (%lld)",
                       (long long)cfg->send_batch_max_size, (long long)cfg->send_batch_size);
    for (size_t i = 0; i < cfg->metadata_keys.n; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcasecmp(cfg->metadata_keys.v[i], cfg->metadata_keys.v[j]) == 0)
                return ct_errf(err, key_node(node, "metadata_keys"),
                               "metadata_keys: '%s' is listed twice (keys ignore case)",
                               cfg->metadata_keys.v[i]);
        }
    }
    return 0;
}

/* ---- batchers ---- */

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

/*
 * The identity of a request's batcher: for each of metadata_keys, every
 * value the client sent for it, length-prefixed so that no two different
 * combinations produce the same bytes.
 */
static int shard_key(const batch_config_t *cfg, const ct_metadata_t *md, ct_buf_t *key)
{
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < cfg->metadata_keys.n; k++) {
        rc = ct_buf_printf(key, "%zu:", k);
        for (size_t i = 0; rc == 0 && md != NULL && i < md->n; i++) {
            if (strcasecmp(md->keys[i], cfg->metadata_keys.v[k]) == 0)
                rc = ct_buf_printf(key, "%zu=%s;", strlen(md->values[i]), md->values[i]);
        }
    }
    return rc;
}

/*
 * The metadata a batcher's batches carry: only metadata_keys, as in the Go
 * collector. *out is NULL when the client sent none of them.
 */
static int shard_metadata(const batch_config_t *cfg, const ct_metadata_t *md, ct_metadata_t **out)
{
    size_t n = 0;
    *out = NULL;
    for (size_t k = 0; k < cfg->metadata_keys.n; k++) {
        for (size_t i = 0; md != NULL && i < md->n; i++)
            n += strcasecmp(md->keys[i], cfg->metadata_keys.v[k]) == 0;
    }
    if (n == 0)
        return 0;
    ct_metadata_t *m = ct_metadata_new(n);
    if (m == NULL)
        return -ENOMEM;
    for (size_t k = 0; k < cfg->metadata_keys.n; k++) {
        for (size_t i = 0; i < md->n; i++) {
            if (strcasecmp(md->keys[i], cfg->metadata_keys.v[k]) != 0)
                continue;
            m->keys[m->n] = strdup(md->keys[i]);
            m->values[m->n] = strdup(md->values[i]);
            if (m->keys[m->n] == NULL || m->values[m->n] == NULL) {
                free(m->keys[m->n]);
                free(m->values[m->n]);
                ct_metadata_unref(m);
                return -ENOMEM;
            }
            m->n++;
        }
    }
    *out = m;
    return 0;
}

static void shard_free(batch_shard_t *sh)
{
    for (size_t i = 0; i < sh->npending; i++)
        ct_request_unref(sh->pending[i]);
    free(sh->pending);
    ct_metadata_unref(sh->md);
    free(sh->key);
    free(sh);
}

static int table_grow(batch_state_t *st)
{
    size_t nb = st->nbuckets ? st->nbuckets * 2 : 16;
    batch_shard_t **t = calloc(nb, sizeof *t);
    if (t == NULL)
        return -ENOMEM;
    for (size_t b = 0; b < st->nbuckets; b++) {
        for (batch_shard_t *sh = st->table[b], *next; sh != NULL; sh = next) {
            next = sh->hnext;
            sh->hnext = t[sh->hash & (nb - 1)];
            t[sh->hash & (nb - 1)] = sh;
        }
    }
    free(st->table);
    st->table = t;
    st->nbuckets = nb;
    return 0;
}

/*
 * Finds or creates the batcher of a request (called with the lock held).
 * Returns NULL with *code set when the request must be refused.
 */
static batch_shard_t *shard_get(ct_instance_t *inst, const ct_request_t *req, ct_code_t *code)
{
    const batch_config_t *cfg = inst->config;
    batch_state_t *st = inst->state;
    ct_buf_t key = {0};
    batch_shard_t *sh = NULL;
    uint64_t h = 0;

    *code = CT_UNAVAILABLE; /* out of memory: the client may retry */
    if (shard_key(cfg, req->metadata, &key) != 0)
        goto out;
    h = hash_bytes((const char *)key.data, key.len);
    for (sh = st->nbuckets ? st->table[h & (st->nbuckets - 1)] : NULL; sh; sh = sh->hnext) {
        if (sh->hash == h && sh->keylen == key.len &&
            (key.len == 0 || memcmp(sh->key, key.data, key.len) == 0))
            goto out;
    }

    if (cfg->metadata_cardinality_limit > 0 &&
        st->nshards >= (size_t)cfg->metadata_cardinality_limit) {
        /* Permanent, as in the Go collector: batchers are never retired. */
        *code = CT_INVALID_ARGUMENT;
        ct_log_limited(&st->card_log, LOG_INTERVAL_NS, CT_LOG_WARN, inst->name,
                       "refused %zu %s: too many combinations of metadata_keys values (limit "
                       "metadata_cardinality_limit = %lld)",
                       req->items, ct_signal_item_name(req->signal),
                       (long long)cfg->metadata_cardinality_limit);
        goto out;
    }
    if (st->nshards >= st->nbuckets && table_grow(st) != 0)
        goto out;
    sh = calloc(1, sizeof *sh);
    if (sh == NULL)
        goto out;
    sh->hash = h;
    sh->keylen = key.len;
    sh->key = malloc(key.len ? key.len : 1);
    if (sh->key == NULL || shard_metadata(cfg, req->metadata, &sh->md) != 0) {
        shard_free(sh);
        sh = NULL;
        goto out;
    }
    if (key.len)
        memcpy(sh->key, key.data, key.len);
    sh->hnext = st->table[h & (st->nbuckets - 1)];
    st->table[h & (st->nbuckets - 1)] = sh;
    st->nshards++;
    ct_gauge_set(st->cardinality, st->nshards);

out:
    ct_buf_free(&key);
    return sh;
}

/* ---- pending data and the timer list ---- */

/*
 * Every batcher with pending data is on the timer list, in deadline order.
 * Deadlines are "now + timeout" with one timeout, so appending keeps the
 * order and the earliest is always the head.
 */
static void timer_arm(batch_state_t *st, batch_shard_t *sh, uint64_t deadline)
{
    if (sh->timed)
        return;
    sh->timed = true;
    sh->deadline = deadline;
    sh->tnext = NULL;
    sh->tprev = st->ttail;
    if (st->ttail != NULL) {
        st->ttail->tnext = sh;
    } else {
        st->thead = sh;
        /* Waking the thread costs two context switches: only when it would sleep past this. */
        if (deadline < st->timer_wake)
            pthread_cond_signal(&st->wake);
    }
    st->ttail = sh;
}

static void timer_disarm(batch_state_t *st, batch_shard_t *sh)
{
    if (!sh->timed)
        return;
    if (sh->tprev != NULL)
        sh->tprev->tnext = sh->tnext;
    else
        st->thead = sh->tnext;
    if (sh->tnext != NULL)
        sh->tnext->tprev = sh->tprev;
    else
        st->ttail = sh->tprev;
    sh->tprev = sh->tnext = NULL;
    sh->timed = false;
}

/* Keeps a reference to r in the batcher, at the end or (a kept-back tail) at the front. */
static int pending_push(batch_shard_t *sh, ct_request_t *r, bool front)
{
    if (sh->npending == sh->cap) {
        size_t nc = sh->cap ? sh->cap * 2 : 8;
        ct_request_t **p = realloc(sh->pending, nc * sizeof *p);
        if (p == NULL)
            return -ENOMEM;
        sh->pending = p;
        sh->cap = nc;
    }
    if (front) {
        memmove(sh->pending + 1, sh->pending, sh->npending * sizeof *sh->pending);
        sh->pending[0] = ct_request_ref(r);
    } else {
        sh->pending[sh->npending] = ct_request_ref(r);
    }
    sh->npending++;
    sh->items += r->items;
    sh->bytes += r->len;
    return 0;
}

/* Hands the batcher's pending requests to the caller and leaves it empty. */
static ct_request_t **pending_take(batch_state_t *st, batch_shard_t *sh, size_t *n)
{
    ct_request_t **reqs = sh->pending;
    *n = sh->npending;
    sh->pending = NULL;
    sh->npending = sh->cap = 0;
    sh->items = sh->bytes = 0;
    timer_disarm(st, sh);
    return reqs;
}

static void release(ct_request_t **reqs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ct_request_unref(reqs[i]);
    free(reqs);
}

/* Puts back what a size-triggered send left, to wait for more data or the timeout. */
static void keep_tail(ct_instance_t *inst, batch_shard_t *sh, ct_request_t *tail)
{
    const batch_config_t *cfg = inst->config;
    batch_state_t *st = inst->state;
    bool direct, kept = false;

    pthread_mutex_lock(&st->lock);
    direct = st->stopped;
    if (!direct && pending_push(sh, tail, true) == 0) {
        timer_arm(st, sh, ct_now_mono_ns() + cfg->timeout);
        kept = true;
    }
    pthread_mutex_unlock(&st->lock);

    /* Shut down meanwhile, or no memory to keep it: it goes now rather than never. */
    if (!kept) {
        ct_request_t *rest = batch_send(inst, sh, &tail, 1, BATCH_TRIGGER_SIZE, false);
        ct_request_unref(rest);
    }
    ct_request_unref(tail);
}

/*
 * Takes a request into its batcher and, when that makes a batch due, sends
 * it from this thread, outside the lock: other receivers' threads keep
 * adding meanwhile. The sender is told OK once its items are held.
 */
static ct_code_t batch_consume(ct_instance_t *inst, ct_request_t *req)
{
    const batch_config_t *cfg = inst->config;
    batch_state_t *st = inst->state;
    ct_request_t **reqs = NULL;
    ct_code_t code = CT_OK;
    batch_shard_t *sh;
    size_t n = 0;
    bool at_once;

    if (req->items == 0)
        return CT_OK; /* nothing to batch: the Go collector drops empty requests too */
    /*
     * An exporter downstream keeps a persistent queue: the sender must be
     * answered only once the data is on disk, so nothing is held here; the
     * queue merges entries into batches when it reads them back.
     */
    if (inst->durable_downstream)
        return ct_consume(inst->next_stage, req);

    pthread_mutex_lock(&st->lock);
    sh = shard_get(inst, req, &code);
    if (sh == NULL || pending_push(sh, req, false) != 0) {
        pthread_mutex_unlock(&st->lock);
        return sh == NULL ? code : CT_UNAVAILABLE;
    }
    at_once = st->stopped || cfg->timeout == 0;
    if (at_once || batch_full(cfg, sh->items, sh->bytes))
        reqs = pending_take(st, sh, &n);
    else
        timer_arm(st, sh, ct_now_mono_ns() + cfg->timeout);
    pthread_mutex_unlock(&st->lock);

    if (reqs != NULL) {
        ct_request_t *tail = batch_send(inst, sh, reqs, n, BATCH_TRIGGER_SIZE, !at_once);
        release(reqs, n);
        if (tail != NULL)
            keep_tail(inst, sh, tail);
    }
    return CT_OK;
}

/* ---- the timer thread ---- */

/*
 * Sends what is pending when its deadline passes. With nothing pending it
 * first sleeps one timeout, not forever, so that under steady traffic the
 * next batcher's deadline (a timeout from now) falls after its wake-up and
 * nobody has to signal it; only when still idle does it wait for a signal.
 */
static void *batch_timer_main(void *arg)
{
    ct_instance_t *inst = arg;
    const batch_config_t *cfg = inst->config;
    batch_state_t *st = inst->state;
    bool idle = false;

    pthread_mutex_lock(&st->lock);
    while (!st->stopping) {
        batch_shard_t *sh = st->thead;
        uint64_t now = ct_now_mono_ns();
        if (sh == NULL || sh->deadline > now) {
            if (sh == NULL && idle) {
                st->timer_wake = UINT64_MAX;
                pthread_cond_wait(&st->wake, &st->lock);
                continue;
            }
            idle = sh == NULL;
            st->timer_wake = sh != NULL ? sh->deadline : now + cfg->timeout;
            struct timespec ts = {(time_t)(st->timer_wake / 1000000000u),
                                  (long)(st->timer_wake % 1000000000u)};
            pthread_cond_timedwait(&st->wake, &st->lock, &ts);
            continue;
        }
        idle = false;
        size_t n;
        ct_request_t **reqs = pending_take(st, sh, &n);
        pthread_mutex_unlock(&st->lock);
        ct_request_unref(batch_send(inst, sh, reqs, n, BATCH_TRIGGER_TIMEOUT, false));
        release(reqs, n);
        pthread_mutex_lock(&st->lock);
    }
    pthread_mutex_unlock(&st->lock);
    return NULL;
}

/* ---- lifecycle ---- */

static const double send_size_bounds[] = {10,   25,    50,    75,    100,   250,   500,  750,
                                          1000, 2000,  3000,  4000,  5000,  6000,  7000, 8000,
                                          9000, 10000, 20000, 30000, 50000, 100000};

static int batch_create(ct_instance_t *inst, ct_err_t *err)
{
    batch_state_t *st = calloc(1, sizeof *st);
    pthread_condattr_t ca;
    char labels[256], name[128], id[160];

    if (st == NULL)
        return ct_errf(err, inst->node, "%s: out of memory", inst->name);
    pthread_mutex_init(&st->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&st->wake, &ca);
    pthread_condattr_destroy(&ca);
    st->timer_wake = UINT64_MAX;
    inst->state = st;

    ct_metrics_label_escape(id, sizeof id, inst->id);
    snprintf(labels, sizeof labels, "processor=\"%s\"", id);
    st->send_size = ct_metrics_histogram("otelcol_processor_batch_batch_send_size",
                                         "Number of units in the batch", labels, send_size_bounds,
                                         CT_ARRAY_LEN(send_size_bounds));
    st->size_trigger = ct_metrics_counter("otelcol_processor_batch_batch_size_trigger_send",
                                          "Number of times the batch was sent due to a size "
                                          "trigger",
                                          labels);
    st->timeout_trigger = ct_metrics_counter("otelcol_processor_batch_timeout_trigger_send",
                                             "Number of times the batch was sent due to a "
                                             "timeout trigger",
                                             labels);
    st->cardinality = ct_metrics_gauge("otelcol_processor_batch_metadata_cardinality",
                                       "Number of distinct metadata value combinations being "
                                       "processed",
                                       labels);
    for (int s = 0; s < CT_SIGNAL_COUNT; s++) {
        snprintf(name, sizeof name, "cotel_processor_batch_dropped_%s",
                 ct_signal_item_name((ct_signal_t)s));
        st->dropped[s] = ct_metrics_counter(name,
                                            "Items dropped after they were accepted: "
                                            "refused by the next stage or larger than "
                                            "send_batch_max_bytes",
                                            labels);
    }
    return 0;
}

static int batch_start(ct_instance_t *inst, ct_err_t *err)
{
    const batch_config_t *cfg = inst->config;
    batch_state_t *st = inst->state;
    int rc;

    if (cfg->timeout == 0)
        return 0; /* everything is sent as it arrives: no timer */
    rc = pthread_create(&st->timer, NULL, batch_timer_main, inst);
    if (rc != 0)
        return ct_errf(err, inst->node, "%s: cannot start the timer thread: %s", inst->name,
                       strerror(rc));
    st->timer_started = true;
    return 0;
}

/* Stops the timer, then sends everything pending; later requests pass straight through. */
static void batch_shutdown(ct_instance_t *inst, uint64_t deadline_ns)
{
    batch_state_t *st = inst->state;
    (void)deadline_ns; /* the next stage is the exporters' queues: handing over is quick */

    pthread_mutex_lock(&st->lock);
    st->stopping = true;
    pthread_cond_broadcast(&st->wake);
    pthread_mutex_unlock(&st->lock);
    if (st->timer_started) {
        pthread_join(st->timer, NULL);
        st->timer_started = false;
    }

    pthread_mutex_lock(&st->lock);
    st->stopped = true;
    for (batch_shard_t *sh; (sh = st->thead) != NULL;) {
        size_t n;
        ct_request_t **reqs = pending_take(st, sh, &n);
        pthread_mutex_unlock(&st->lock);
        ct_request_unref(batch_send(inst, sh, reqs, n, BATCH_TRIGGER_TIMEOUT, false));
        release(reqs, n);
        pthread_mutex_lock(&st->lock);
    }
    pthread_mutex_unlock(&st->lock);
}

static void batch_destroy(ct_instance_t *inst)
{
    batch_state_t *st = inst->state;
    if (st == NULL)
        return;
    if (st->timer_started) {
        batch_shutdown(inst, ct_now_mono_ns());
    }
    for (size_t b = 0; b < st->nbuckets; b++) {
        for (batch_shard_t *sh = st->table[b], *next; sh != NULL; sh = next) {
            next = sh->hnext;
            shard_free(sh);
        }
    }
    free(st->table);
    pthread_cond_destroy(&st->wake);
    pthread_mutex_destroy(&st->lock);
    free(st);
    inst->state = NULL;
}

const ct_factory_t ct_batch_processor_factory = {
    .type = "batch",
    .kind = CT_KIND_PROCESSOR,
    .signals = CT_SIGNALS_ALL,
    .description = "gathers items into batches by size and time, split under item and byte "
                   "caps, one batcher per combination of metadata values",
    .opts = batch_opts,
    .cfg_size = sizeof(batch_config_t),
    .validate = batch_validate,
    .create = batch_create,
    .start = batch_start,
    .shutdown = batch_shutdown,
    .destroy = batch_destroy,
    .consume = batch_consume,
    .settings_offset = CT_OPT_NO_FLAG,
};
