/*
 * The one request cotel-loadgen sends over and over: encoded once at start,
 * then copied into each call's buffer and given fresh trace ids, span ids or
 * timestamps in place, so that a send costs a few stores per item instead of
 * an encoding.
 */
#include "loadgen.h"

#include "ct_wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2 };

/* Builds every field into one buffer; the first failure sticks and is seen at the end. */
typedef struct enc {
    ct_buf_t b;
    int rc;
} enc_t;

static void put_varint(enc_t *e, uint32_t field, uint64_t v)
{
    if (e->rc == 0)
        e->rc = ct_wire_put_tag(&e->b, field, WT_VARINT);
    if (e->rc == 0)
        e->rc = ct_wire_put_varint(&e->b, v);
}

static void put_fixed64(enc_t *e, uint32_t field, uint64_t v)
{
    uint8_t le[8];

    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)(v >> (8 * i));
    if (e->rc == 0)
        e->rc = ct_wire_put_tag(&e->b, field, WT_I64);
    if (e->rc == 0)
        e->rc = ct_buf_append(&e->b, le, sizeof le);
}

static void put_bytes(enc_t *e, uint32_t field, const void *p, size_t n)
{
    if (e->rc == 0)
        e->rc = ct_wire_put_bytes(&e->b, field, p, n);
}

static void put_str(enc_t *e, uint32_t field, const char *s)
{
    put_bytes(e, field, s, strlen(s));
}

/* Appends a finished child message as field `field` and frees it. */
static void put_msg(enc_t *e, uint32_t field, enc_t *child)
{
    if (e->rc == 0)
        e->rc = child->rc;
    put_bytes(e, field, child->b.data, child->b.len);
    ct_buf_free(&child->b);
}

/* A KeyValue with a string AnyValue, as field `field`. */
static void put_attr(enc_t *e, uint32_t field, const char *key, const char *val, size_t vlen)
{
    enc_t any = {0}, kv = {0};

    put_bytes(&any, 1, val, vlen);
    put_str(&kv, 1, key);
    put_msg(&kv, 2, &any);
    put_msg(e, field, &kv);
}

/* The item attributes: attr.0 .. attr.N-1 with values of attr_size varied letters. */
static void put_item_attrs(enc_t *e, uint32_t field, const lg_opts_t *o, size_t item, char *val)
{
    char key[32];

    for (size_t a = 0; a < o->attrs; a++) {
        for (size_t i = 0; i < o->attr_size; i++)
            val[i] = (char)('a' + (item * 7 + a * 3 + i) % 26);
        snprintf(key, sizeof key, "attr.%zu", a);
        put_attr(e, field, key, val, o->attr_size);
    }
}

static void put_resource(enc_t *e)
{
    enc_t res = {0};

    put_attr(&res, 1, "service.name", "cotel-loadgen", 13);
    put_attr(&res, 1, "host.name", "bench-host", 10);
    put_msg(e, 1, &res);
}

static void put_scope(enc_t *e)
{
    enc_t scope = {0};

    put_str(&scope, 1, "cotel-loadgen");
    put_str(&scope, 2, "0.1.0");
    put_msg(e, 1, &scope);
}

static void put_span(enc_t *e, const lg_opts_t *o, size_t i, uint64_t now, char *val)
{
    static const uint8_t zero[16];
    enc_t span = {0}, status = {0};

    put_bytes(&span, 1, zero, 16); /* trace id, patched per send */
    put_bytes(&span, 2, zero, 8);  /* span id, patched per send */
    put_str(&span, 5, i % 2 ? "GET /api/v1/items" : "SELECT items");
    put_varint(&span, 6, i % 2 ? 2 : 3); /* SERVER, CLIENT */
    put_fixed64(&span, 7, now - 1500000);
    put_fixed64(&span, 8, now);
    put_item_attrs(&span, 9, o, i, val);
    put_varint(&status, 3, 1); /* STATUS_CODE_OK */
    put_msg(&span, 15, &status);
    put_msg(e, 2, &span);
}

/* A data point; its timestamp comes first so that its place is known (patched per send). */
static void put_point(enc_t *e, const lg_opts_t *o, size_t i, uint64_t now, char *val)
{
    enc_t ndp = {0};

    put_fixed64(&ndp, 3, now);
    put_fixed64(&ndp, 2, now - 60000000000ull);
    put_fixed64(&ndp, 6, 1000 + i); /* as_int */
    put_item_attrs(&ndp, 7, o, i, val);
    put_msg(e, 1, &ndp);
}

static void put_metric(enc_t *e, const lg_opts_t *o, size_t first, size_t n, uint64_t now,
                       char *val)
{
    enc_t metric = {0}, sum = {0};
    char name[64];

    for (size_t i = first; i < first + n; i++)
        put_point(&sum, o, i, now, val);
    put_varint(&sum, 2, 2); /* AGGREGATION_TEMPORALITY_CUMULATIVE */
    put_varint(&sum, 3, 1); /* monotonic */
    snprintf(name, sizeof name, "loadgen.requests.%zu", first / o->points_per_metric);
    put_str(&metric, 1, name);
    put_str(&metric, 3, "1");
    put_msg(&metric, 7, &sum);
    put_msg(e, 2, &metric);
}

static void put_log(enc_t *e, const lg_opts_t *o, size_t i, uint64_t now, char *val)
{
    static const uint8_t zero[16];
    enc_t rec = {0}, body = {0};

    put_bytes(&rec, 9, zero, 16); /* trace id, patched per send */
    put_bytes(&rec, 10, zero, 8); /* span id, patched per send */
    put_fixed64(&rec, 1, now);
    put_fixed64(&rec, 11, now);
    put_varint(&rec, 2, 9); /* SEVERITY_NUMBER_INFO */
    put_str(&rec, 3, "INFO");
    memset(val, 'x', o->body_size);
    put_bytes(&body, 1, val, o->body_size);
    put_msg(&rec, 5, &body);
    put_item_attrs(&rec, 6, o, i, val);
    put_msg(e, 2, &rec);
}

/* The whole request: one resource, one scope, the items. */
static int encode(enc_t *req, const lg_opts_t *o, uint64_t now)
{
    size_t vmax = o->attr_size > o->body_size ? o->attr_size : o->body_size;
    char *val = malloc(vmax + 1);
    enc_t rs = {0}, ss = {0};

    if (val == NULL)
        return -ENOMEM;
    put_scope(&ss);
    for (size_t i = 0; i < o->items;) {
        switch (o->signal) {
        case CT_SIGNAL_TRACES:
            put_span(&ss, o, i++, now, val);
            break;
        case CT_SIGNAL_METRICS: {
            size_t n = o->items - i < o->points_per_metric ? o->items - i : o->points_per_metric;
            put_metric(&ss, o, i, n, now, val);
            i += n;
            break;
        }
        default:
            put_log(&ss, o, i++, now, val);
            break;
        }
    }
    put_resource(&rs);
    put_msg(&rs, 2, &ss);
    put_msg(req, 1, &rs);
    free(val);
    return req->rc;
}

/* Finds where each item's ids or timestamp sit, through cotel's own wire index. */
static int find_patches(lg_template_t *t, ct_signal_t sig)
{
    ct_wire_index_t idx = {0};
    size_t per = sig == CT_SIGNAL_METRICS ? 1 : 2;
    int rc = ct_wire_index(&idx, sig, t->data, t->len);

    if (rc == 0 && (t->patch = calloc(idx.nitem * per + 1, sizeof *t->patch)) == NULL)
        rc = -ENOMEM;
    for (size_t i = 0; rc == 0 && i < idx.nitem; i++) {
        const uint8_t *item = t->data + idx.item[i].off;
        size_t len = idx.item[i].len;
        const uint8_t *v;
        size_t vlen;

        if (sig == CT_SIGNAL_METRICS) {
            if (len < 9 || item[0] != ((3 << 3) | WT_I64)) {
                rc = -EINVAL;
                break;
            }
            t->patch[t->npatch++] = (lg_patch_t){idx.item[i].off + 1, LG_PATCH_TIME, i};
            continue;
        }
        uint32_t tid = sig == CT_SIGNAL_TRACES ? 1 : 9, sid = tid + 1;
        if (ct_wire_find_bytes(item, len, tid, &v, &vlen) != 0 || vlen != 16) {
            rc = -EINVAL;
            break;
        }
        t->patch[t->npatch++] = (lg_patch_t){(uint32_t)(v - t->data), LG_PATCH_TRACE_ID, i};
        if (ct_wire_find_bytes(item, len, sid, &v, &vlen) != 0 || vlen != 8) {
            rc = -EINVAL;
            break;
        }
        t->patch[t->npatch++] = (lg_patch_t){(uint32_t)(v - t->data), LG_PATCH_SPAN_ID, i};
    }
    ct_wire_index_free(&idx);
    return rc;
}

int lg_template_build(lg_template_t *t, const lg_opts_t *o)
{
    enc_t req = {0};
    char err[256] = "";
    size_t items = 0;
    int rc;

    memset(t, 0, sizeof *t);
    t->base_ns = ct_now_unix_ns();
    t->salt = t->base_ns * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
    rc = encode(&req, o, t->base_ns);
    if (rc == 0) {
        t->data = ct_buf_take(&req.b, &t->len);
        rc = ct_wire_check(o->signal, t->data, t->len, &items, err, sizeof err);
    }
    if (rc == 0 && items != o->items)
        rc = -EINVAL;
    if (rc == 0)
        rc = find_patches(t, o->signal);
    ct_buf_free(&req.b);
    if (rc != 0) {
        fprintf(stderr, "cotel-loadgen: cannot build the request: %s\n",
                err[0] ? err : strerror(-rc));
        lg_template_free(t);
        return -1;
    }
    t->items = items;
    return 0;
}

void lg_template_free(lg_template_t *t)
{
    free(t->data);
    free(t->patch);
    memset(t, 0, sizeof *t);
}

static void store_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void lg_template_patch(const lg_template_t *t, uint8_t *buf, uint64_t seq)
{
    for (size_t i = 0; i < t->npatch; i++) {
        const lg_patch_t *p = &t->patch[i];
        uint8_t *at = buf + p->off;

        switch (p->kind) {
        case LG_PATCH_TRACE_ID:
            store_le64(at, t->salt ^ seq);
            store_le64(at + 8, (uint64_t)p->item + 1); /* never an all-zero (invalid) id */
            break;
        case LG_PATCH_SPAN_ID:
            store_le64(at, (seq << 24) + p->item + 1);
            break;
        default:
            store_le64(at, t->base_ns + seq * 1000 + p->item);
            break;
        }
    }
}
