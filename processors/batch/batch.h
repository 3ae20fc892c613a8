/*
 * The batch processor's parts: the per-instance state shared by the
 * batching logic (batch_processor.c) and the building of outgoing batches
 * by concatenation and splitting (batch_send.c).
 */
#ifndef CT_BATCH_H
#define CT_BATCH_H

#include "ct_component.h"
#include "ct_config.h"
#include "ct_log.h"
#include "ct_metrics.h"

#include <pthread.h>
#include <stdbool.h>

typedef struct batch_config {
    int64_t send_batch_size;
    uint64_t timeout;              /* ns; 0: every request is sent at once */
    int64_t send_batch_max_size;   /* items; 0: no cap */
    uint64_t send_batch_max_bytes; /* encoded bytes; 0: no cap */
    ct_strlist_t metadata_keys;
    int64_t metadata_cardinality_limit; /* 0: no limit */
} batch_config_t;

/*
 * One batcher: what is pending for one combination of metadata_keys values
 * (the only one without metadata_keys). Shards live as long as the instance,
 * as in the Go collector, so the cardinality limit counts every combination
 * ever seen.
 */
typedef struct batch_shard batch_shard_t;
struct batch_shard {
    batch_shard_t *hnext;         /* hash chain */
    batch_shard_t *tprev, *tnext; /* the timer list, earliest deadline first */
    bool timed;
    uint64_t deadline; /* monotonic ns when what is pending must go */
    uint64_t hash;
    char *key;
    size_t keylen;
    ct_metadata_t *md; /* the metadata_keys' values, attached to this shard's batches */
    ct_request_t **pending;
    size_t npending, cap;
    size_t items, bytes;
};

enum batch_trigger { BATCH_TRIGGER_SIZE, BATCH_TRIGGER_TIMEOUT };

typedef struct batch_state {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* the timer thread waits on it (CLOCK_MONOTONIC) */
    pthread_t timer;
    bool timer_started;
    bool stopping;       /* the timer thread must exit */
    bool stopped;        /* shut down: requests pass straight through */
    uint64_t timer_wake; /* when the waiting timer thread wakes anyway; UINT64_MAX: never */

    batch_shard_t **table; /* by metadata values; one shard without metadata_keys */
    size_t nbuckets, nshards;
    batch_shard_t *thead, *ttail;

    ct_histogram_t *send_size;
    ct_counter_t *size_trigger, *timeout_trigger, *cardinality;
    ct_counter_t *dropped[CT_SIGNAL_COUNT];
    ct_log_limit_t fail_log, oversize_log, card_log;
} batch_state_t;

/*
 * Sends reqs[0..n) downstream as batches that respect the caps: one request
 * by concatenation when it fits, else split along resource, scope and item
 * boundaries. With keep_tail, the last batches that together stay under
 * send_batch_size (and the byte cap) are not sent but returned as one
 * request for the shard to keep; otherwise returns NULL. Refusals and
 * items too big for the byte cap are counted and logged, never returned:
 * the senders were already answered.
 */
/* Whether this much pending data is due: send_batch_size items or the byte cap reached. */
static inline bool batch_full(const batch_config_t *cfg, size_t items, size_t bytes)
{
    return items >= (size_t)cfg->send_batch_size ||
           (cfg->send_batch_max_bytes != 0 && bytes >= cfg->send_batch_max_bytes);
}

ct_request_t *batch_send(ct_instance_t *inst, batch_shard_t *sh, ct_request_t *const *reqs,
                         size_t n, enum batch_trigger trigger, bool keep_tail);

#endif
