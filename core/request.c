/*
 * Requests and client metadata: reference counted, immutable once built.
 * The process-wide count of live request bytes is what the memory limiter
 * weighs besides the resident set.
 */
#include "ct_request.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static _Atomic size_t live_bytes;
static _Atomic size_t live_count;

static ct_request_t *request_init(ct_request_t *r, ct_signal_t sig, size_t len, size_t items)
{
    atomic_init(&r->refs, 1);
    r->signal = sig;
    r->len = len;
    r->items = items;
    r->metadata = NULL;
    r->received_ns = ct_now_mono_ns();
    atomic_fetch_add_explicit(&live_bytes, len, memory_order_relaxed);
    atomic_fetch_add_explicit(&live_count, 1, memory_order_relaxed);
    return r;
}

ct_request_t *ct_request_copy(ct_signal_t sig, const void *data, size_t len, size_t items)
{
    ct_request_t *r = malloc(sizeof *r + len);
    if (r == NULL)
        return NULL;
    uint8_t *bytes = (uint8_t *)(r + 1);
    if (len > 0)
        memcpy(bytes, data, len);
    r->data = bytes;
    r->owned = NULL;
    return request_init(r, sig, len, items);
}

ct_request_t *ct_request_take(ct_signal_t sig, uint8_t *data, size_t len, size_t items)
{
    ct_request_t *r = malloc(sizeof *r);
    if (r == NULL) {
        free(data);
        return NULL;
    }
    r->data = data;
    r->owned = data;
    return request_init(r, sig, len, items);
}

ct_request_t *ct_request_ref(ct_request_t *r)
{
    atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
    return r;
}

void ct_request_unref(ct_request_t *r)
{
    if (r == NULL || atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1)
        return;
    atomic_fetch_sub_explicit(&live_bytes, r->len, memory_order_relaxed);
    atomic_fetch_sub_explicit(&live_count, 1, memory_order_relaxed);
    ct_metadata_unref(r->metadata);
    free(r->owned);
    free(r);
}

void ct_request_set_metadata(ct_request_t *r, ct_metadata_t *md)
{
    ct_metadata_unref(r->metadata);
    r->metadata = md ? ct_metadata_ref(md) : NULL;
}

ct_request_t *ct_request_concat(ct_request_t *const *reqs, size_t n)
{
    size_t len = 0, items = 0;
    for (size_t i = 0; i < n; i++) {
        len += reqs[i]->len;
        items += reqs[i]->items;
    }
    ct_request_t *r = malloc(sizeof *r + len);
    if (r == NULL)
        return NULL;
    uint8_t *p = (uint8_t *)(r + 1);
    for (size_t i = 0; i < n; i++) {
        memcpy(p, reqs[i]->data, reqs[i]->len);
        p += reqs[i]->len;
    }
    r->data = (uint8_t *)(r + 1);
    r->owned = NULL;
    request_init(r, n ? reqs[0]->signal : CT_SIGNAL_TRACES, len, items);
    if (n > 0) {
        r->received_ns = reqs[0]->received_ns; /* the oldest part, for latency */
        for (size_t i = 1; i < n; i++) {
            if (reqs[i]->received_ns < r->received_ns)
                r->received_ns = reqs[i]->received_ns;
        }
        if (reqs[0]->metadata)
            r->metadata = ct_metadata_ref(reqs[0]->metadata);
    }
    return r;
}

size_t ct_request_live_bytes(void)
{
    return atomic_load_explicit(&live_bytes, memory_order_relaxed);
}

size_t ct_request_live_count(void)
{
    return atomic_load_explicit(&live_count, memory_order_relaxed);
}

ct_metadata_t *ct_metadata_new(size_t n)
{
    ct_metadata_t *md = calloc(1, sizeof *md);
    if (md == NULL)
        return NULL;
    md->keys = calloc(n ? n : 1, sizeof *md->keys);
    md->values = calloc(n ? n : 1, sizeof *md->values);
    if (md->keys == NULL || md->values == NULL) {
        free(md->keys);
        free(md->values);
        free(md);
        return NULL;
    }
    atomic_init(&md->refs, 1);
    return md;
}

ct_metadata_t *ct_metadata_ref(ct_metadata_t *md)
{
    atomic_fetch_add_explicit(&md->refs, 1, memory_order_relaxed);
    return md;
}

void ct_metadata_unref(ct_metadata_t *md)
{
    if (md == NULL || atomic_fetch_sub_explicit(&md->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < md->n; i++) {
        free(md->keys[i]);
        free(md->values[i]);
    }
    free(md->keys);
    free(md->values);
    free(md);
}

const char *ct_metadata_get(const ct_metadata_t *md, const char *key)
{
    for (size_t i = 0; md != NULL && i < md->n; i++) {
        if (strcasecmp(md->keys[i], key) == 0)
            return md->values[i];
    }
    return NULL;
}
