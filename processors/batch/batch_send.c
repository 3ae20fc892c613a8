/*
 * Outgoing batches: pending requests merged by concatenating their encoded
 * bytes, or, over send_batch_max_size / send_batch_max_bytes, re-framed into
 * several requests along resource, scope and item boundaries. Nothing is
 * decoded: the wire index says where each item and its envelopes are.
 */
#include "batch.h"

#include "ct_wire.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define LOG_INTERVAL_NS (10ull * 1000000000ull)

static void count_dropped(ct_instance_t *inst, ct_signal_t sig, size_t items)
{
    batch_state_t *st = inst->state;
    ct_counter_add(st->dropped[sig], items);
}

/*
 * Hands one batch to the next stage. The senders of its items were answered
 * when the items were taken in, so a refusal (a full exporter queue) can
 * only be counted and logged, as the Go collector's batch processor does.
 */
static void deliver(ct_instance_t *inst, ct_request_t *r, enum batch_trigger trigger)
{
    batch_state_t *st = inst->state;
    ct_code_t code = ct_consume(inst->next_stage, r);

    if (code == CT_OK) {
        ct_histogram_observe(st->send_size, (double)r->items);
        ct_counter_add(trigger == BATCH_TRIGGER_SIZE ? st->size_trigger : st->timeout_trigger, 1);
    } else {
        count_dropped(inst, r->signal, r->items);
        ct_log_limited(&st->fail_log, LOG_INTERVAL_NS, CT_LOG_WARN, inst->name,
                       "the next stage refused a batch of %zu %s (%s); they are dropped", r->items,
                       ct_signal_item_name(r->signal), ct_code_name(code));
    }
    ct_request_unref(r);
}

/* One request of everything in reqs, carrying the shard's metadata. */
static ct_request_t *merge(ct_request_t *const *reqs, size_t n, ct_metadata_t *md)
{
    /* A lone request that already carries the right metadata goes as it is: no copy. */
    if (n == 1 && reqs[0]->metadata == md)
        return ct_request_ref(reqs[0]);
    ct_request_t *r = ct_request_concat(reqs, n);
    if (r != NULL)
        ct_request_set_metadata(r, md);
    return r;
}

static ct_request_t *request_from_buf(ct_signal_t sig, ct_buf_t *b, size_t items, ct_metadata_t *md,
                                      uint64_t received_ns)
{
    size_t len;
    uint8_t *data = ct_buf_take(b, &len);
    ct_request_t *r = ct_request_take(sig, data, len, items);
    if (r != NULL) {
        ct_request_set_metadata(r, md);
        r->received_ns = received_ns;
    }
    return r;
}

/* The scope an item sits in (through its metric for data points). */
static uint32_t item_scope(const ct_wire_index_t *idx, size_t i)
{
    uint32_t parent = idx->item[i].parent;
    return idx->signal == CT_SIGNAL_METRICS ? idx->metric[parent].parent : parent;
}

/*
 * Each group's item count and an upper bound of its encoded size: items
 * plus a copy of each resource, scope (and metric) envelope it opens, with
 * 5-byte length prefixes. Groups hold consecutive items, so one pass over
 * the items sees each group's envelopes open in turn.
 */
static void measure_groups(const ct_wire_index_t *idx, const uint32_t *group, size_t *counts,
                           size_t *sizes)
{
    enum { HDR = 6 }; /* a tag and a 5-byte length */
    uint32_t g_prev = CT_WIRE_SKIP, r_prev = 0, s_prev = 0, m_prev = 0;

    for (size_t i = 0; i < idx->nitem; i++) {
        uint32_t g = group[i];
        if (g == CT_WIRE_SKIP)
            continue;
        uint32_t s = item_scope(idx, i), r = idx->scope[s].parent;
        uint32_t m = idx->signal == CT_SIGNAL_METRICS ? idx->item[i].parent : 0;
        bool new_res = g != g_prev || r != r_prev;
        bool new_scope = new_res || s != s_prev;
        bool new_metric = idx->signal == CT_SIGNAL_METRICS && (new_scope || m != m_prev);

        sizes[g] += ct_wire_item_size(idx, i);
        sizes[g] += new_res ? HDR + idx->res[r].other : 0;
        sizes[g] += new_scope ? HDR + idx->scope[s].other : 0;
        sizes[g] += new_metric ? 2 * HDR + idx->metric[m].other + idx->metric[m].data_other : 0;
        counts[g]++;
        g_prev = g;
        r_prev = r;
        s_prev = s;
        m_prev = m;
    }
}

/*
 * How many groups, from the front, to send now: the ones after them must
 * together be less than due (Go's batch processor sends while what is
 * pending reaches send_batch_size), so batches go out full.
 */
static size_t groups_to_send(const batch_config_t *cfg, const size_t *counts, const size_t *sizes,
                             size_t ngroups)
{
    size_t items = 0, bytes = 0, k = ngroups;
    for (; k > 0; k--) {
        if (batch_full(cfg, items + counts[k - 1], bytes + sizes[k - 1]))
            break;
        items += counts[k - 1];
        bytes += sizes[k - 1];
    }
    return k;
}

/*
 * Splits `all` under the caps and sends the pieces. With keep_tail, the
 * pieces that are not due are re-framed together as one request and
 * returned (under the caps: fewer than send_batch_size items, fewer bytes
 * than the byte cap).
 */
static ct_request_t *split_and_send(ct_instance_t *inst, ct_metadata_t *md, ct_request_t *all,
                                    enum batch_trigger trigger, bool keep_tail)
{
    const batch_config_t *cfg = inst->config;
    batch_state_t *st = inst->state;
    ct_wire_index_t idx = {0};
    uint32_t *group = NULL;
    ct_buf_t *bufs = NULL;
    size_t *counts = NULL, *sizes = NULL;
    size_t ngroups = 0, nout = 0, oversize = 0, nsend = 0;
    ct_request_t *tail = NULL;
    int rc = ct_wire_index(&idx, all->signal, all->data, all->len);

    if (rc == 0) {
        group = malloc((idx.nitem ? idx.nitem : 1) * sizeof *group);
        rc = group ? 0 : -ENOMEM;
    }
    if (rc == 0) {
        ngroups = ct_wire_plan_split(&idx, (size_t)cfg->send_batch_max_size,
                                     (size_t)cfg->send_batch_max_bytes, group, &oversize);
        bufs = calloc(ngroups ? ngroups : 1, sizeof *bufs);
        counts = calloc(ngroups ? ngroups : 1, sizeof *counts);
        sizes = calloc(ngroups ? ngroups : 1, sizeof *sizes);
        rc = bufs && counts && sizes ? 0 : -ENOMEM;
    }
    if (rc == 0) {
        measure_groups(&idx, group, counts, sizes);
        nsend = keep_tail ? groups_to_send(cfg, counts, sizes, ngroups) : ngroups;
        nout = nsend;
        if (nsend < ngroups) {
            /* What is kept back becomes one group, framed once. */
            for (size_t i = 0; i < idx.nitem; i++)
                group[i] = group[i] != CT_WIRE_SKIP && group[i] > nsend ? nsend : group[i];
            for (size_t g = nsend + 1; g < ngroups; g++)
                sizes[nsend] += sizes[g];
            nout = nsend + 1;
        }
        /* Exact-size buffers: a batch can sit in a queue for long; no slack to carry. */
        for (size_t g = 0; rc == 0 && g < nout; g++) {
            bufs[g].data = malloc(sizes[g] ? sizes[g] : 1);
            bufs[g].cap = sizes[g];
            rc = bufs[g].data ? 0 : -ENOMEM;
        }
    }
    if (rc == 0)
        rc = ct_wire_regroup(&idx, group, nout, bufs, counts);
    if (rc != 0) {
        count_dropped(inst, all->signal, all->items);
        ct_log_limited(&st->fail_log, LOG_INTERVAL_NS, CT_LOG_ERROR, inst->name,
                       "could not split a batch of %zu %s (%s); they are dropped", all->items,
                       ct_signal_item_name(all->signal),
                       rc == -ENOMEM ? "out of memory" : "malformed request");
        goto out;
    }

    if (oversize > 0) {
        count_dropped(inst, all->signal, oversize);
        ct_log_limited(&st->oversize_log, LOG_INTERVAL_NS, CT_LOG_WARN, inst->name,
                       "dropped %zu %s each larger, with its resource and scope, than "
                       "send_batch_max_bytes (%llu bytes)",
                       oversize, ct_signal_item_name(all->signal),
                       (unsigned long long)cfg->send_batch_max_bytes);
    }
    for (size_t g = 0; g < nout; g++) {
        ct_request_t *r = request_from_buf(all->signal, &bufs[g], counts[g], md, all->received_ns);
        if (r == NULL)
            count_dropped(inst, all->signal, counts[g]);
        else if (g < nsend)
            deliver(inst, r, trigger);
        else
            tail = r;
    }

out:
    for (size_t g = 0; bufs != NULL && g < ngroups; g++)
        ct_buf_free(&bufs[g]);
    free(bufs);
    free(counts);
    free(sizes);
    free(group);
    ct_wire_index_free(&idx);
    return tail;
}

ct_request_t *batch_send(ct_instance_t *inst, batch_shard_t *sh, ct_request_t *const *reqs,
                         size_t n, enum batch_trigger trigger, bool keep_tail)
{
    const batch_config_t *cfg = inst->config;
    size_t items = 0, bytes = 0;
    ct_request_t *all, *tail = NULL;

    for (size_t i = 0; i < n; i++) {
        items += reqs[i]->items;
        bytes += reqs[i]->len;
    }
    if (items == 0)
        return NULL;

    all = merge(reqs, n, sh->md);
    if (all == NULL) {
        count_dropped(inst, reqs[0]->signal, items);
        ct_log_limited(&((batch_state_t *)inst->state)->fail_log, LOG_INTERVAL_NS, CT_LOG_ERROR,
                       inst->name, "out of memory merging a batch of %zu %s; they are dropped",
                       items, ct_signal_item_name(reqs[0]->signal));
        return NULL;
    }
    bool fits = (cfg->send_batch_max_size == 0 || items <= (size_t)cfg->send_batch_max_size) &&
                (cfg->send_batch_max_bytes == 0 || bytes <= cfg->send_batch_max_bytes);
    if (fits && !(keep_tail && !batch_full(cfg, items, bytes))) {
        deliver(inst, all, trigger);
        return NULL;
    }
    if (fits)
        return all; /* not due yet: kept whole */
    tail = split_and_send(inst, sh->md, all, trigger, keep_tail);
    ct_request_unref(all);
    return tail;
}
