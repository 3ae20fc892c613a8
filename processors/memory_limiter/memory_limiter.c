/*
 * The `memory_limiter` processor: refuses data with UNAVAILABLE while the
 * process's memory is above the soft limit (limit minus spike), so that
 * clients back off before the kernel kills the process. One check thread
 * serves every instance in the process: they all measure the same memory.
 */
#include "memory_limiter.h"

#include "ct_component.h"
#include "ct_config.h"
#include "ct_log.h"
#include "ct_metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIB (1024ull * 1024ull)

typedef struct ml_config {
    uint64_t check_interval; /* ns */
    int64_t limit_mib;
    int64_t spike_limit_mib;
    int64_t limit_percentage;
    int64_t spike_limit_percentage;
    uint64_t min_gc_soft, min_gc_hard; /* accepted for compatibility */
} ml_config_t;

static const ct_opt_t ml_opts[] = {
    {"check_interval", CT_OPT_DURATION, offsetof(ml_config_t, check_interval), NULL, 0, 0, NULL,
     "time between measurements of memory use, e.g. 1s", .flags = CT_OPT_REQUIRED},
    {"limit_mib", CT_OPT_INT, offsetof(ml_config_t, limit_mib), "0", 0, 4294967295.0, NULL,
     "the hard limit in MiB (or use limit_percentage)"},
    {"spike_limit_mib", CT_OPT_INT, offsetof(ml_config_t, spike_limit_mib), "0", 0, 4294967295.0,
     NULL,
     "room kept for growth between checks; soft limit = limit - spike "
     "(default 20 % of the limit)"},
    {"limit_percentage", CT_OPT_INT, offsetof(ml_config_t, limit_percentage), "0", 0, 100, NULL,
     "the hard limit as a percentage of the cgroup's memory limit, else of physical memory"},
    {"spike_limit_percentage", CT_OPT_INT, offsetof(ml_config_t, spike_limit_percentage), "0", 0,
     100, NULL, "the spike allowance as a percentage of the same memory"},
    {"min_gc_interval_when_soft_limited", CT_OPT_DURATION, offsetof(ml_config_t, min_gc_soft),
     "10s", 0, 0, NULL, "accepted for compatibility; no effect (no garbage collector)"},
    {"min_gc_interval_when_hard_limited", CT_OPT_DURATION, offsetof(ml_config_t, min_gc_hard), "0s",
     0, 0, NULL, "accepted for compatibility; no effect (no garbage collector)"},
    CT_OPT_END,
};

/*
 * The state of one memory_limiter component, shared by its instances in
 * every pipeline (as the Go collector shares it), so that a transition is
 * logged once.
 */
typedef struct limiter limiter_t;
struct limiter {
    limiter_t *next;
    char *id;
    char *name; /* "processor/memory_limiter": for logs */
    uint64_t limit, soft, interval;
    int refs;
    atomic_bool refusing;
    ct_counter_t *refusing_gauge;
};

typedef struct ml_instance {
    limiter_t *limiter;
    bool started;
} ml_instance_t;

/* The check thread and the latest reading, shared by every limiter. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_once_t once;
    pthread_t thread;
    bool thread_started, stopping;
    size_t running; /* started instances */
    limiter_t *limiters;
    _Atomic(const ct_memory_probe_t *) probe;
    _Atomic uint64_t resident; /* at the last check */
    _Atomic uint64_t live;     /* telemetry bytes at the last check */
} mon = {.lock = PTHREAD_MUTEX_INITIALIZER, .once = PTHREAD_ONCE_INIT};

static void mon_init(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&mon.wake, &ca);
    pthread_condattr_destroy(&ca);
}

static const ct_memory_probe_t *probe(void)
{
    const ct_memory_probe_t *p = atomic_load(&mon.probe);
    return p != NULL ? p : &ct_memory_probe_system;
}

void ct_memory_limiter_set_probe(const ct_memory_probe_t *p)
{
    atomic_store(&mon.probe, p);
}

static double mib(uint64_t bytes)
{
    return (double)bytes / (double)MIB;
}

/* ---- configuration ---- */

static const ct_node_t *key_node(const ct_node_t *node, const char *key)
{
    const ct_node_t *n = ct_node_get(node, key);
    return n != NULL ? n : node;
}

/*
 * The Go collector's checks, plus one: a limit and a spike of different
 * kinds (MiB with a percentage) are refused, where Go silently ignores one.
 */
static int ml_validate(const void *cfgp, const ct_node_t *node, ct_err_t *err)
{
    const ml_config_t *c = cfgp;
    if (c->check_interval == 0)
        return ct_errf(err, key_node(node, "check_interval"),
                       "check_interval must be greater than zero");
    if (c->limit_mib == 0 && c->limit_percentage == 0)
        return ct_errf(err, node, "limit_mib or limit_percentage must be greater than zero");
    if (c->limit_mib != 0 && c->limit_percentage != 0)
        return ct_errf(err, key_node(node, "limit_percentage"),
                       "set limit_mib or limit_percentage, not both");
    if (c->limit_mib != 0 && c->spike_limit_percentage != 0)
        return ct_errf(err, key_node(node, "spike_limit_percentage"),
                       "spike_limit_percentage goes with limit_percentage; with limit_mib use "
                       "spike_limit_mib");
    if (c->limit_percentage != 0 && c->spike_limit_mib != 0)
        return ct_errf(err, key_node(node, "spike_limit_mib"),
                       "spike_limit_mib goes with limit_mib; with limit_percentage use "
                       "spike_limit_percentage");
    if (c->limit_mib != 0 && c->spike_limit_mib >= c->limit_mib)
        return ct_errf(err, key_node(node, "spike_limit_mib"),
                       "spike_limit_mib (%lld) must be smaller than limit_mib (%lld)",
                       (long long)c->spike_limit_mib, (long long)c->limit_mib);
    if (c->limit_percentage != 0 && c->spike_limit_percentage >= c->limit_percentage)
        return ct_errf(err, key_node(node, "spike_limit_percentage"),
                       "spike_limit_percentage (%lld) must be smaller than limit_percentage "
                       "(%lld)",
                       (long long)c->spike_limit_percentage, (long long)c->limit_percentage);
    return 0;
}

/* The hard limit and the spike allowance in bytes; percentages are of `total`. */
static void compute_limits(const ml_config_t *c, uint64_t total, uint64_t *limit, uint64_t *spike)
{
    if (c->limit_mib != 0) {
        *limit = (uint64_t)c->limit_mib * MIB;
        *spike = (uint64_t)c->spike_limit_mib * MIB;
    } else {
        *limit = total / 100 * (uint64_t)c->limit_percentage;
        *spike = total / 100 * (uint64_t)c->spike_limit_percentage;
    }
    if (*spike == 0)
        *spike = *limit / 5;
}

/* ---- measuring ---- */

/* Moves a limiter to refusing or accepting; logs once per transition. */
static void judge(limiter_t *l, uint64_t usage, const char *what)
{
    bool above = usage > l->soft;
    bool was = !above;
    if (!atomic_compare_exchange_strong(&l->refusing, &was, above))
        return;
    ct_gauge_set(l->refusing_gauge, above);
    if (above)
        ct_log_warn(l->name,
                    "%s %.1f MiB is above the soft limit of %.1f MiB (limit %.1f MiB): "
                    "refusing data until it is below",
                    what, mib(usage), mib(l->soft), mib(l->limit));
    else
        ct_log_info(l->name, "%s %.1f MiB is below the soft limit of %.1f MiB: accepting data",
                    what, mib(usage), mib(l->soft));
}

/*
 * One check: the resident set, since that is what the kernel weighs before
 * an OOM kill. When it is over a soft limit, memory that malloc keeps but
 * no longer uses is handed back first and the set read again, so that
 * freed memory does not keep the limiter refusing.
 */
static void check_locked(void)
{
    const ct_memory_probe_t *p = probe();
    uint64_t resident = p->resident(p->arg);
    bool over = false;

    for (limiter_t *l = mon.limiters; l != NULL; l = l->next)
        over |= resident > l->soft;
    if (over && p->release != NULL) {
        uint64_t t0 = ct_now_mono_ns(), before = resident;
        p->release(p->arg);
        resident = p->resident(p->arg);
        ct_log_debug("processor/memory_limiter",
                     "%s handed back %.1f MiB in %.2f ms (resident %.1f MiB)",
                     ct_memory_allocator_name(), mib(before > resident ? before - resident : 0),
                     (double)(ct_now_mono_ns() - t0) / 1e6, mib(resident));
    }
    atomic_store(&mon.live, p->live(p->arg));
    atomic_store(&mon.resident, resident);
    for (limiter_t *l = mon.limiters; l != NULL; l = l->next)
        judge(l, resident, "resident memory");
}

void ct_memory_limiter_check_now(void)
{
    pthread_mutex_lock(&mon.lock);
    check_locked();
    pthread_mutex_unlock(&mon.lock);
}

/*
 * Between checks, telemetry taken in counts at once: the last resident
 * reading plus what requests hold beyond what they held then. A burst
 * larger than the spike allowance is refused before the next check sees it.
 */
static bool burst_over(limiter_t *l)
{
    const ct_memory_probe_t *p = probe();
    int64_t grown = (int64_t)p->live(p->arg) - (int64_t)atomic_load(&mon.live);
    int64_t est = (int64_t)atomic_load(&mon.resident) + grown;
    if (est <= (int64_t)l->soft)
        return false;
    judge(l, (uint64_t)est, "resident memory plus telemetry taken in since the last check");
    return true;
}

static uint64_t smallest_interval_locked(void)
{
    uint64_t iv = 0;
    for (limiter_t *l = mon.limiters; l != NULL; l = l->next) {
        if (iv == 0 || l->interval < iv)
            iv = l->interval;
    }
    return iv ? iv : 1000000000ull;
}

static void *monitor_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mon.lock);
    while (!mon.stopping) {
        uint64_t deadline = ct_now_mono_ns() + smallest_interval_locked();
        struct timespec ts = {(time_t)(deadline / 1000000000u), (long)(deadline % 1000000000u)};
        while (!mon.stopping && ct_now_mono_ns() < deadline)
            pthread_cond_timedwait(&mon.wake, &mon.lock, &ts);
        if (!mon.stopping)
            check_locked();
    }
    pthread_mutex_unlock(&mon.lock);
    return NULL;
}

/* ---- lifecycle ---- */

static limiter_t *limiter_new(ct_instance_t *inst, uint64_t limit, uint64_t spike,
                              uint64_t interval)
{
    limiter_t *l = calloc(1, sizeof *l);
    char labels[256], id[160];
    if (l == NULL || (l->id = strdup(inst->id)) == NULL || (l->name = strdup(inst->name)) == NULL) {
        if (l != NULL)
            free(l->id);
        free(l);
        return NULL;
    }
    l->limit = limit;
    l->soft = limit - spike;
    l->interval = interval;
    atomic_init(&l->refusing, false);
    ct_metrics_label_escape(id, sizeof id, inst->id);
    snprintf(labels, sizeof labels, "processor=\"%s\"", id);
    l->refusing_gauge = ct_metrics_gauge("cotel_processor_memory_limiter_refusing",
                                         "1 while memory is above the soft limit and data is "
                                         "refused",
                                         labels);
    ct_gauge_set(ct_metrics_gauge("cotel_processor_memory_limiter_soft_limit_bytes",
                                  "Memory use above which data is refused.", labels),
                 l->soft);
    ct_gauge_set(l->refusing_gauge, 0);
    return l;
}

static int ml_create(ct_instance_t *inst, ct_err_t *err)
{
    const ml_config_t *c = inst->config;
    const ct_memory_probe_t *p = probe();
    uint64_t total = c->limit_mib ? 0 : p->total(p->arg);
    uint64_t limit, spike;
    ml_instance_t *mi;
    limiter_t *l;

    if (c->limit_mib == 0 && total == 0)
        return ct_errf(err, key_node(inst->node, "limit_percentage"),
                       "%s: cannot tell how much memory the process may use (no cgroup limit, "
                       "no physical memory size); set limit_mib",
                       inst->name);
    compute_limits(c, total, &limit, &spike);
    if (spike >= limit)
        return ct_errf(err, inst->node, "%s: the limit (%llu bytes) leaves no soft limit",
                       inst->name, (unsigned long long)limit);
    mi = calloc(1, sizeof *mi);
    if (mi == NULL)
        return ct_errf(err, inst->node, "%s: out of memory", inst->name);

    pthread_once(&mon.once, mon_init);
    pthread_mutex_lock(&mon.lock);
    for (l = mon.limiters; l != NULL; l = l->next) {
        if (strcmp(l->id, inst->id) == 0 && l->limit == limit && l->soft == limit - spike &&
            l->interval == c->check_interval)
            break;
    }
    if (l == NULL && (l = limiter_new(inst, limit, spike, c->check_interval)) != NULL) {
        l->next = mon.limiters;
        mon.limiters = l;
        if (c->limit_mib != 0)
            ct_log_info(inst->name,
                        "limit %.1f MiB, soft limit %.1f MiB; resident memory "
                        "checked every %g s; allocator: %s",
                        mib(limit), mib(l->soft), (double)c->check_interval / 1e9,
                        ct_memory_allocator_name());
        else
            ct_log_info(inst->name,
                        "limit %.1f MiB (%lld %% of %.1f MiB), soft limit %.1f "
                        "MiB; resident memory checked every %g s; allocator: %s",
                        mib(limit), (long long)c->limit_percentage, mib(total), mib(l->soft),
                        (double)c->check_interval / 1e9, ct_memory_allocator_name());
    }
    if (l != NULL)
        l->refs++;
    pthread_mutex_unlock(&mon.lock);
    if (l == NULL) {
        free(mi);
        return ct_errf(err, inst->node, "%s: out of memory", inst->name);
    }
    mi->limiter = l;
    inst->state = mi;
    return 0;
}

static int ml_start(ct_instance_t *inst, ct_err_t *err)
{
    ml_instance_t *mi = inst->state;
    int rc = 0;

    pthread_mutex_lock(&mon.lock);
    if (!mon.thread_started) {
        check_locked(); /* the first requests are judged on a real reading */
        mon.stopping = false;
        rc = pthread_create(&mon.thread, NULL, monitor_main, NULL);
        mon.thread_started = rc == 0;
    } else {
        pthread_cond_signal(&mon.wake); /* its interval may be the smallest now */
    }
    if (rc == 0) {
        mon.running++;
        mi->started = true;
    }
    pthread_mutex_unlock(&mon.lock);
    if (rc != 0)
        return ct_errf(err, inst->node, "%s: cannot start the check thread: %s", inst->name,
                       strerror(rc));
    return 0;
}

/* The last started instance stops the check thread. */
static void ml_shutdown(ct_instance_t *inst, uint64_t deadline_ns)
{
    ml_instance_t *mi = inst->state;
    bool join = false;
    (void)deadline_ns;

    pthread_mutex_lock(&mon.lock);
    if (mi->started) {
        mi->started = false;
        if (--mon.running == 0 && mon.thread_started) {
            mon.stopping = true;
            pthread_cond_broadcast(&mon.wake);
            join = true;
        }
    }
    pthread_mutex_unlock(&mon.lock);
    if (join) {
        pthread_join(mon.thread, NULL);
        pthread_mutex_lock(&mon.lock);
        mon.thread_started = false;
        pthread_mutex_unlock(&mon.lock);
    }
}

static void ml_destroy(ct_instance_t *inst)
{
    ml_instance_t *mi = inst->state;
    if (mi == NULL)
        return;
    ml_shutdown(inst, 0);
    pthread_mutex_lock(&mon.lock);
    limiter_t *l = mi->limiter;
    if (--l->refs == 0) {
        for (limiter_t **pp = &mon.limiters; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == l) {
                *pp = l->next;
                break;
            }
        }
        free(l->id);
        free(l->name);
        free(l);
    }
    pthread_mutex_unlock(&mon.lock);
    free(mi);
    inst->state = NULL;
}

static ct_code_t ml_consume(ct_instance_t *inst, ct_request_t *req)
{
    ml_instance_t *mi = inst->state;
    limiter_t *l = mi->limiter;
    if (atomic_load_explicit(&l->refusing, memory_order_relaxed) || burst_over(l))
        return CT_UNAVAILABLE; /* retryable: gRPC UNAVAILABLE, HTTP 503 */
    return ct_consume(inst->next_stage, req);
}

const ct_factory_t ct_memory_limiter_processor_factory = {
    .type = "memory_limiter",
    .kind = CT_KIND_PROCESSOR,
    .signals = CT_SIGNALS_ALL,
    .description = "refuses data (UNAVAILABLE, 503) while memory use is above the soft limit",
    .opts = ml_opts,
    .cfg_size = sizeof(ml_config_t),
    .validate = ml_validate,
    .create = ml_create,
    .start = ml_start,
    .shutdown = ml_shutdown,
    .destroy = ml_destroy,
    .consume = ml_consume,
    .settings_offset = CT_OPT_NO_FLAG,
};
