/*
 * Writes the OTLP model of a scrape as a protobuf ExportMetricsServiceRequest,
 * straight into a buffer: no intermediate messages, and nested lengths
 * patched in as each message closes.
 */
#include "prom_model.h"

#include "ct_wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef COTEL_VERSION
#define COTEL_VERSION "0.0.0"
#endif

/* The scope the Go collector's receiver gives scraped metrics; consumers filter on it. */
#define SCOPE_NAME                                                                                 \
    "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/prometheusreceiver"

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    size_t nc = *cap ? *cap : 16;
    void *p;

    if (need <= *cap)
        return 0;
    while (nc < need)
        nc *= 2;
    if ((p = realloc(*arr, nc * elem)) == NULL)
        return -ENOMEM;
    *arr = p;
    *cap = nc;
    return 0;
}

static prom_str_t str_of(const char *s)
{
    return (prom_str_t){s, (uint32_t)strlen(s)};
}

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2 };

/* A writer that remembers its first failure, so the steps need no checks in between. */
typedef struct enc {
    ct_buf_t *b;
    int err;
} enc_t;

/* Most writes are a few bytes into room already there: that case is a plain copy. */
static inline void put_raw(enc_t *e, const void *p, size_t n)
{
    ct_buf_t *b = e->b;

    if (b->cap - b->len >= n) {
        if (n > 0)
            memcpy(b->data + b->len, p, n);
        b->len += n;
    } else if (e->err == 0 && ct_buf_append(b, p, n) != 0) {
        e->err = -ENOMEM;
    }
}

static inline void put_varint(enc_t *e, uint64_t v)
{
    uint8_t buf[10];
    size_t n = 0;

    for (; v >= 0x80; v >>= 7)
        buf[n++] = (uint8_t)(v | 0x80);
    buf[n++] = (uint8_t)v;
    put_raw(e, buf, n);
}

static void put_tag(enc_t *e, uint32_t field, uint32_t wt)
{
    put_varint(e, ((uint64_t)field << 3) | wt);
}

static void put_u64le(enc_t *e, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put_raw(e, b, 8);
}

static uint64_t double_bits(double d)
{
    uint64_t v;
    memcpy(&v, &d, sizeof v);
    return v;
}

static void put_fixed64(enc_t *e, uint32_t field, uint64_t v)
{
    put_tag(e, field, WT_I64);
    put_u64le(e, v);
}

static void put_double(enc_t *e, uint32_t field, double d)
{
    put_fixed64(e, field, double_bits(d));
}

static void put_str(enc_t *e, uint32_t field, const char *p, size_t n)
{
    put_tag(e, field, WT_LEN);
    put_varint(e, n);
    put_raw(e, p, n);
}

/*
 * Opens a nested message with a one-byte length; close_msg writes the real
 * length, moving the body when it needs more bytes (only bodies of 128
 * bytes and more, which are few next to the data points).
 */
static size_t open_msg(enc_t *e, uint32_t field)
{
    put_tag(e, field, WT_LEN);
    put_raw(e, "", 1);
    return e->b->len;
}

static void close_msg(enc_t *e, size_t start)
{
    size_t n, k;
    uint8_t *p;

    if (e->err != 0)
        return;
    n = e->b->len - start;
    k = ct_wire_varint_size(n);
    if (k > 1) {
        if (ct_buf_reserve(e->b, k - 1) != 0) {
            e->err = -ENOMEM;
            return;
        }
        memmove(e->b->data + start + k - 1, e->b->data + start, n);
        e->b->len += k - 1;
    }
    p = e->b->data + start - 1;
    for (; n >= 0x80; n >>= 7)
        *p++ = (uint8_t)(n | 0x80);
    *p = (uint8_t)n;
}

static void put_kv(enc_t *e, uint32_t field, prom_str_t key, prom_str_t value)
{
    size_t kv = open_msg(e, field);
    put_str(e, 1, key.p, key.n);
    size_t any = open_msg(e, 2);
    put_str(e, 1, value.p, value.n);
    close_msg(e, any);
    close_msg(e, kv);
}

static void put_attrs(enc_t *e, uint32_t field, const prom_datapoint_t *p)
{
    for (uint32_t i = 0; i < p->nattrs; i++)
        put_kv(e, field, p->attrs[i].name, p->attrs[i].value);
}

static uint64_t to_count(double v)
{
    return v > 0 && v < 1.8e19 ? (uint64_t)(v + 0.5) : 0;
}

static int cmp_bound(const void *a, const void *b)
{
    double x = ((const prom_bucket_t *)a)->bound, y = ((const prom_bucket_t *)b)->bound;
    return (x > y) - (x < y);
}

/* A point's buckets or quantiles in t->sorted, by bound; NaN bounds are left out. */
static size_t sorted_buckets(enc_t *e, prom_model_t *t, const prom_point_t *p)
{
    size_t n = 0;

    if (grow((void **)&t->sorted, &t->cap_sorted, p->nbuckets + 1, sizeof *t->sorted) != 0) {
        e->err = -ENOMEM;
        return 0;
    }
    for (uint32_t b = p->first_bucket; b != PROM_NONE; b = t->scrape->buckets[b].next) {
        if (!isnan(t->scrape->buckets[b].bound))
            t->sorted[n++] = t->scrape->buckets[b];
    }
    qsort(t->sorted, n, sizeof *t->sorted, cmp_bound);
    return n;
}

static void put_number_point(enc_t *e, const prom_datapoint_t *p)
{
    size_t at = open_msg(e, 1);
    put_attrs(e, 7, p);
    if (p->start_ns)
        put_fixed64(e, 2, p->start_ns);
    put_fixed64(e, 3, p->time_ns);
    if (p->stale) {
        put_tag(e, 8, WT_VARINT);
        put_varint(e, 1); /* DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK */
    } else {
        put_double(e, 4, p->value);
    }
    close_msg(e, at);
}

/*
 * Histogram buckets: cumulative counts by le become counts per bucket; the
 * +Inf bucket gives the last count and no bound (without one, _count does).
 */
static void put_histogram_point(enc_t *e, prom_model_t *t, const prom_datapoint_t *p)
{
    size_t at = open_msg(e, 1), n = p->stale ? 0 : sorted_buckets(e, t, p->src);
    const prom_bucket_t *b = t->sorted;

    put_attrs(e, 9, p);
    if (p->start_ns)
        put_fixed64(e, 2, p->start_ns);
    put_fixed64(e, 3, p->time_ns);
    if (p->stale) {
        put_tag(e, 10, WT_VARINT);
        put_varint(e, 1);
        close_msg(e, at);
        return;
    }
    put_fixed64(e, 4, to_count(p->src->count));
    if (p->src->has_sum)
        put_double(e, 5, p->src->sum);
    if (n > 0) {
        size_t nb = isinf(b[n - 1].bound) && b[n - 1].bound > 0 ? n - 1 : n;
        double prev = 0;
        put_tag(e, 6, WT_LEN);
        put_varint(e, 8 * (nb + 1));
        for (size_t i = 0; i < nb; i++) {
            put_u64le(e, b[i].value > prev ? to_count(b[i].value - prev) : 0);
            prev = b[i].value > prev ? b[i].value : prev;
        }
        double total = nb < n ? b[n - 1].value : p->src->count;
        put_u64le(e, total > prev ? to_count(total - prev) : 0);
        if (nb > 0) {
            put_tag(e, 7, WT_LEN);
            put_varint(e, 8 * nb);
            for (size_t i = 0; i < nb; i++)
                put_u64le(e, double_bits(b[i].bound));
        }
    }
    close_msg(e, at);
}

static void put_summary_point(enc_t *e, prom_model_t *t, const prom_datapoint_t *p)
{
    size_t at = open_msg(e, 1), n = p->stale ? 0 : sorted_buckets(e, t, p->src);

    put_attrs(e, 7, p);
    if (p->start_ns)
        put_fixed64(e, 2, p->start_ns);
    put_fixed64(e, 3, p->time_ns);
    if (p->stale) {
        put_tag(e, 8, WT_VARINT);
        put_varint(e, 1);
        close_msg(e, at);
        return;
    }
    put_fixed64(e, 4, to_count(p->src->count));
    put_double(e, 5, p->src->has_sum ? p->src->sum : 0);
    for (size_t i = 0; i < n; i++) {
        size_t q = open_msg(e, 6);
        put_double(e, 1, t->sorted[i].bound);
        put_double(e, 2, t->sorted[i].value);
        close_msg(e, q);
    }
    close_msg(e, at);
}

static size_t put_metric(enc_t *e, prom_model_t *t, const prom_metric_t *m)
{
    size_t at = open_msg(e, 2), data, items = 0;
    static const uint32_t data_field[] = {5, 7, 5, 9, 11}; /* by prom_type_t */

    put_str(e, 1, m->name.p, m->name.n);
    if (m->help.n > 0)
        put_str(e, 2, m->help.p, m->help.n);
    if (m->unit != NULL)
        put_str(e, 3, m->unit, strlen(m->unit));
    data = open_msg(e, data_field[m->type]);
    for (uint32_t i = m->first; i != PROM_NONE; i = t->points[i].next, items++) {
        if (m->type == PROM_HISTOGRAM)
            put_histogram_point(e, t, &t->points[i]);
        else if (m->type == PROM_SUMMARY)
            put_summary_point(e, t, &t->points[i]);
        else
            put_number_point(e, &t->points[i]);
    }
    if (m->type == PROM_COUNTER || m->type == PROM_HISTOGRAM) {
        put_tag(e, 2, WT_VARINT);
        put_varint(e, 2); /* AGGREGATION_TEMPORALITY_CUMULATIVE */
    }
    if (m->type == PROM_COUNTER) {
        put_tag(e, 3, WT_VARINT);
        put_varint(e, 1); /* is_monotonic */
    }
    close_msg(e, data);
    if (m->type == PROM_UNTYPED)
        put_kv(e, 12, str_of("prometheus.type"), str_of("unknown"));
    close_msg(e, at);
    return items;
}

/* Hosts that say nothing about where the target runs (loopback, unspecified, "localhost"). */
static bool discernible_host(const char *host)
{
    unsigned char a[16];

    if (strcmp(host, "localhost") == 0)
        return false;
    if (inet_pton(AF_INET, host, a) == 1)
        return a[0] != 127 && (a[0] | a[1] | a[2] | a[3]) != 0;
    if (inet_pton(AF_INET6, host, a) == 1) {
        static const unsigned char zero[16], one[16] = {[15] = 1};
        return memcmp(a, zero, 16) != 0 && memcmp(a, one, 16) != 0;
    }
    return true;
}

/* Splits host:port as Go's net.SplitHostPort; on failure host is the whole and port "". */
static void split_host_port(prom_str_t in, char *host, size_t hcap, char *port, size_t pcap)
{
    const char *p = in.p, *end = in.p + in.n, *colon = NULL;
    prom_str_t h = in, pt = {"", 0};

    if (in.n > 0 && p[0] == '[') {
        const char *close = memchr(p, ']', in.n);
        if (close != NULL && close + 1 < end && close[1] == ':') {
            h = (prom_str_t){p + 1, (uint32_t)(close - p - 1)};
            pt = (prom_str_t){close + 2, (uint32_t)(end - close - 2)};
        }
    } else {
        for (const char *q = p; q < end; q++) {
            if (*q == ':') {
                if (colon != NULL) {
                    colon = NULL; /* too many colons */
                    break;
                }
                colon = q;
            }
        }
        if (colon != NULL) {
            h = (prom_str_t){p, (uint32_t)(colon - p)};
            pt = (prom_str_t){colon + 1, (uint32_t)(end - colon - 1)};
        }
    }
    snprintf(host, hcap, "%.*s", (int)h.n, h.p);
    snprintf(port, pcap, "%.*s", (int)pt.n, pt.p);
}

/* Whether resource r (and scope s, unless PROM_NONE) has a point to write. */
static bool has_points(const prom_model_t *t, uint32_t r, uint32_t s)
{
    for (size_t i = 0; i < t->nmetrics; i++) {
        const prom_metric_t *m = &t->metrics[i];
        if (m->res == r && (s == PROM_NONE || m->scope == s) && m->first != PROM_NONE)
            return true;
    }
    return false;
}

static size_t put_resource_metrics(enc_t *e, prom_model_t *t, uint32_t r)
{
    const prom_res_t *res = &t->res[r];
    const char *scheme = t->scheme;
    char host[256], port[32];
    size_t rm = open_msg(e, 1), at, items = 0;

    split_host_port(res->instance, host, sizeof host, port, sizeof port);
    at = open_msg(e, 1);
    put_kv(e, 1, str_of("service.name"), res->job);
    if (discernible_host(host))
        put_kv(e, 1, str_of("server.address"), str_of(host));
    put_kv(e, 1, str_of("service.instance.id"), res->instance);
    put_kv(e, 1, str_of("server.port"), str_of(port));
    put_kv(e, 1, str_of("url.scheme"), str_of(scheme));
    for (uint32_t i = 0; i < res->nattrs; i++)
        put_kv(e, 1, res->attrs[i].name, res->attrs[i].value);
    close_msg(e, at);

    for (uint32_t s = 0; s < t->nscopes; s++) {
        const prom_scope_t *sc = &t->scopes[s];
        if (sc->res != r || !has_points(t, r, s))
            continue;
        size_t sm = open_msg(e, 2);
        at = open_msg(e, 1);
        if (sc->name.n == 0) {
            put_str(e, 1, SCOPE_NAME, strlen(SCOPE_NAME));
            put_str(e, 2, COTEL_VERSION, strlen(COTEL_VERSION));
        } else {
            put_str(e, 1, sc->name.p, sc->name.n);
            if (sc->version.n > 0)
                put_str(e, 2, sc->version.p, sc->version.n);
        }
        for (uint32_t i = 0; i < sc->nattrs; i++)
            put_kv(e, 3, sc->attrs[i].name, sc->attrs[i].value);
        close_msg(e, at);
        for (size_t i = 0; i < t->nmetrics; i++) {
            const prom_metric_t *m = &t->metrics[i];
            if (m->res == r && m->scope == s && m->first != PROM_NONE)
                items += put_metric(e, t, m);
        }
        close_msg(e, sm);
    }
    close_msg(e, rm);
    return items;
}

long prom_model_write(prom_model_t *t, ct_buf_t *out)
{
    enc_t e = {out, 0};
    size_t items = 0;

    for (uint32_t i = 0; i < t->nres; i++) {
        if (has_points(t, i, PROM_NONE)) /* a resource whose only series were repeats has none */
            items += put_resource_metrics(&e, t, i);
    }
    return e.err != 0 ? -1 : (long)items;
}

void prom_model_free(prom_model_t *m)
{
    free(m->res);
    free(m->scopes);
    free(m->metrics);
    free(m->points);
    free(m->sorted);
    memset(m, 0, sizeof *m);
}
