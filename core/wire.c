/*
 * OTLP requests on the wire, without decoding: a schema of the field numbers
 * and wire types of every OTLP message drives the validator, the item counter
 * and the index from which batches are split and regrouped. This is the hot
 * path of the collector: no allocation per item, one pass over the bytes.
 */
#include "ct_wire.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* How a field may be encoded: P_* accept both packed (LEN) and unpacked forms. */
enum { F_VARINT, F_I64, F_I32, F_LEN, F_MSG, F_P_I64, F_P_VARINT, F_ID16, F_ID8 };
/* F_ID16, F_ID8: trace and span ids, empty or exactly 16 or 8 bytes as OTLP requires. */

/* clang-format off: the schema reads best as a table */
typedef enum msg_id {
    M_NONE,
    M_TRACES_REQ,
    M_METRICS_REQ,
    M_LOGS_REQ,
    M_RESOURCE_SPANS,
    M_RESOURCE_METRICS,
    M_RESOURCE_LOGS,
    M_SCOPE_SPANS,
    M_SCOPE_METRICS,
    M_SCOPE_LOGS,
    M_RESOURCE,
    M_ENTITYREF,
    M_SCOPE,
    M_KEYVALUE,
    M_ANYVALUE,
    M_ARRAYVALUE,
    M_KVLIST,
    M_SPAN,
    M_EVENT,
    M_LINK,
    M_STATUS,
    M_METRIC,
    M_GAUGE,
    M_SUM,
    M_HISTOGRAM,
    M_EXPHIST,
    M_SUMMARY,
    M_NDP,
    M_HDP,
    M_EHDP,
    M_BUCKETS,
    M_SDP,
    M_QUANTILE,
    M_EXEMPLAR,
    M_LOGRECORD,
    M_COUNT
} msg_id_t;

typedef struct field_spec {
    uint8_t num;
    uint8_t kind;
    uint8_t sub; /* msg_id_t for F_MSG */
} field_spec_t;

typedef struct msg_spec {
    const char *name;
    bool item; /* a span, data point or log record */
    const field_spec_t *fields;
} msg_spec_t;

#define FIELDS(...)                                                                                \
    (const field_spec_t[])                                                                         \
    {                                                                                              \
        __VA_ARGS__,                                                                               \
        {                                                                                          \
            0, 0, 0                                                                                \
        }                                                                                          \
    }

static const msg_spec_t schema[M_COUNT] = {
    [M_TRACES_REQ] = {"ExportTraceServiceRequest", false, FIELDS({1, F_MSG, M_RESOURCE_SPANS})},
    [M_METRICS_REQ] = {"ExportMetricsServiceRequest", false,
                       FIELDS({1, F_MSG, M_RESOURCE_METRICS})},
    [M_LOGS_REQ] = {"ExportLogsServiceRequest", false, FIELDS({1, F_MSG, M_RESOURCE_LOGS})},
    [M_RESOURCE_SPANS] = {"ResourceSpans", false,
                          FIELDS({1, F_MSG, M_RESOURCE}, {2, F_MSG, M_SCOPE_SPANS}, {3, F_LEN, 0})},
    [M_RESOURCE_METRICS] = {"ResourceMetrics", false,
                            FIELDS({1, F_MSG, M_RESOURCE}, {2, F_MSG, M_SCOPE_METRICS},
                                   {3, F_LEN, 0})},
    [M_RESOURCE_LOGS] = {"ResourceLogs", false,
                         FIELDS({1, F_MSG, M_RESOURCE}, {2, F_MSG, M_SCOPE_LOGS}, {3, F_LEN, 0})},
    [M_SCOPE_SPANS] = {"ScopeSpans", false,
                       FIELDS({1, F_MSG, M_SCOPE}, {2, F_MSG, M_SPAN}, {3, F_LEN, 0})},
    [M_SCOPE_METRICS] = {"ScopeMetrics", false,
                         FIELDS({1, F_MSG, M_SCOPE}, {2, F_MSG, M_METRIC}, {3, F_LEN, 0})},
    [M_SCOPE_LOGS] = {"ScopeLogs", false,
                      FIELDS({1, F_MSG, M_SCOPE}, {2, F_MSG, M_LOGRECORD}, {3, F_LEN, 0})},
    [M_RESOURCE] = {"Resource", false,
                    FIELDS({1, F_MSG, M_KEYVALUE}, {2, F_VARINT, 0}, {3, F_MSG, M_ENTITYREF})},
    [M_ENTITYREF] = {"EntityRef", false,
                     FIELDS({1, F_LEN, 0}, {2, F_LEN, 0}, {3, F_LEN, 0}, {4, F_LEN, 0})},
    [M_SCOPE] = {"InstrumentationScope", false,
                 FIELDS({1, F_LEN, 0}, {2, F_LEN, 0}, {3, F_MSG, M_KEYVALUE}, {4, F_VARINT, 0})},
    [M_KEYVALUE] = {"KeyValue", false,
                    FIELDS({1, F_LEN, 0}, {2, F_MSG, M_ANYVALUE}, {3, F_VARINT, 0})},
    [M_ANYVALUE] = {"AnyValue", false,
                    FIELDS({1, F_LEN, 0}, {2, F_VARINT, 0}, {3, F_VARINT, 0}, {4, F_I64, 0},
                           {5, F_MSG, M_ARRAYVALUE}, {6, F_MSG, M_KVLIST}, {7, F_LEN, 0},
                           {8, F_VARINT, 0})},
    [M_ARRAYVALUE] = {"ArrayValue", false, FIELDS({1, F_MSG, M_ANYVALUE})},
    [M_KVLIST] = {"KeyValueList", false, FIELDS({1, F_MSG, M_KEYVALUE})},
    [M_SPAN] = {"Span", true,
                FIELDS({1, F_ID16, 0}, {2, F_ID8, 0}, {3, F_LEN, 0}, {4, F_ID8, 0}, {5, F_LEN, 0},
                       {6, F_VARINT, 0}, {7, F_I64, 0}, {8, F_I64, 0}, {9, F_MSG, M_KEYVALUE},
                       {10, F_VARINT, 0}, {11, F_MSG, M_EVENT}, {12, F_VARINT, 0},
                       {13, F_MSG, M_LINK}, {14, F_VARINT, 0}, {15, F_MSG, M_STATUS},
                       {16, F_I32, 0})},
    [M_EVENT] = {"Span.Event", false,
                 FIELDS({1, F_I64, 0}, {2, F_LEN, 0}, {3, F_MSG, M_KEYVALUE}, {4, F_VARINT, 0})},
    [M_LINK] = {"Span.Link", false,
                FIELDS({1, F_ID16, 0}, {2, F_ID8, 0}, {3, F_LEN, 0}, {4, F_MSG, M_KEYVALUE},
                       {5, F_VARINT, 0}, {6, F_I32, 0})},
    [M_STATUS] = {"Status", false, FIELDS({2, F_LEN, 0}, {3, F_VARINT, 0})},
    [M_METRIC] = {"Metric", false,
                  FIELDS({1, F_LEN, 0}, {2, F_LEN, 0}, {3, F_LEN, 0}, {5, F_MSG, M_GAUGE},
                         {7, F_MSG, M_SUM}, {9, F_MSG, M_HISTOGRAM}, {10, F_MSG, M_EXPHIST},
                         {11, F_MSG, M_SUMMARY}, {12, F_MSG, M_KEYVALUE})},
    [M_GAUGE] = {"Gauge", false, FIELDS({1, F_MSG, M_NDP})},
    [M_SUM] = {"Sum", false, FIELDS({1, F_MSG, M_NDP}, {2, F_VARINT, 0}, {3, F_VARINT, 0})},
    [M_HISTOGRAM] = {"Histogram", false, FIELDS({1, F_MSG, M_HDP}, {2, F_VARINT, 0})},
    [M_EXPHIST] = {"ExponentialHistogram", false, FIELDS({1, F_MSG, M_EHDP}, {2, F_VARINT, 0})},
    [M_SUMMARY] = {"Summary", false, FIELDS({1, F_MSG, M_SDP})},
    [M_NDP] = {"NumberDataPoint", true,
               FIELDS({2, F_I64, 0}, {3, F_I64, 0}, {4, F_I64, 0}, {5, F_MSG, M_EXEMPLAR},
                      {6, F_I64, 0}, {7, F_MSG, M_KEYVALUE}, {8, F_VARINT, 0})},
    [M_HDP] = {"HistogramDataPoint", true,
               FIELDS({2, F_I64, 0}, {3, F_I64, 0}, {4, F_I64, 0}, {5, F_I64, 0}, {6, F_P_I64, 0},
                      {7, F_P_I64, 0}, {8, F_MSG, M_EXEMPLAR}, {9, F_MSG, M_KEYVALUE},
                      {10, F_VARINT, 0}, {11, F_I64, 0}, {12, F_I64, 0})},
    [M_EHDP] = {"ExponentialHistogramDataPoint", true,
                FIELDS({1, F_MSG, M_KEYVALUE}, {2, F_I64, 0}, {3, F_I64, 0}, {4, F_I64, 0},
                       {5, F_I64, 0}, {6, F_VARINT, 0}, {7, F_I64, 0}, {8, F_MSG, M_BUCKETS},
                       {9, F_MSG, M_BUCKETS}, {10, F_VARINT, 0}, {11, F_MSG, M_EXEMPLAR},
                       {12, F_I64, 0}, {13, F_I64, 0}, {14, F_I64, 0})},
    [M_BUCKETS] = {"ExponentialHistogramDataPoint.Buckets", false,
                   FIELDS({1, F_VARINT, 0}, {2, F_P_VARINT, 0})},
    [M_SDP] = {"SummaryDataPoint", true,
               FIELDS({2, F_I64, 0}, {3, F_I64, 0}, {4, F_I64, 0}, {5, F_I64, 0},
                      {6, F_MSG, M_QUANTILE}, {7, F_MSG, M_KEYVALUE}, {8, F_VARINT, 0})},
    [M_QUANTILE] = {"SummaryDataPoint.ValueAtQuantile", false,
                    FIELDS({1, F_I64, 0}, {2, F_I64, 0})},
    [M_EXEMPLAR] = {"Exemplar", false,
                    FIELDS({2, F_I64, 0}, {3, F_I64, 0}, {4, F_ID8, 0}, {5, F_ID16, 0},
                           {6, F_I64, 0}, {7, F_MSG, M_KEYVALUE})},
    [M_LOGRECORD] = {"LogRecord", true,
                     FIELDS({1, F_I64, 0}, {2, F_VARINT, 0}, {3, F_LEN, 0}, {5, F_MSG, M_ANYVALUE},
                            {6, F_MSG, M_KEYVALUE}, {7, F_VARINT, 0}, {8, F_I32, 0}, {9, F_ID16, 0},
                            {10, F_ID8, 0}, {11, F_I64, 0}, {12, F_LEN, 0})},
};

/* clang-format on */

static const msg_id_t request_msg[CT_SIGNAL_COUNT] = {M_TRACES_REQ, M_METRICS_REQ, M_LOGS_REQ};

size_t ct_wire_get_varint(const uint8_t *p, size_t len, uint64_t *v)
{
    uint64_t r = 0;
    for (size_t i = 0; i < len && i < 10; i++) {
        r |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if ((p[i] & 0x80) == 0) {
            if (i == 9 && p[i] > 1)
                return 0; /* more than 64 bits */
            *v = r;
            return i + 1;
        }
    }
    return 0;
}

/* One field read from a message: its number, wire type, and value or payload. */
typedef struct field {
    uint32_t num;
    uint32_t wt;
    uint64_t v;       /* VARINT */
    const uint8_t *p; /* LEN: payload */
    size_t len;       /* LEN: payload length */
    size_t size;      /* bytes of the whole field, tag included */
} field_t;

/* Most tags, lengths and small values are one byte: read those without the general loop. */
static inline size_t get_varint(const uint8_t *p, size_t len, uint64_t *v)
{
    if (len > 0 && p[0] < 0x80) {
        *v = p[0];
        return 1;
    }
    return ct_wire_get_varint(p, len, v);
}

/*
 * Reads the field at p; returns 0, or -1 when malformed or truncated. Every
 * member is set either way (a malformed field reads as the rest of the bytes).
 */
static inline __attribute__((always_inline)) int read_field(const uint8_t *p, size_t len,
                                                            field_t *f)
{
    uint64_t tag = 0, l;
    size_t n = get_varint(p, len, &tag), m = 0;

    f->p = p;
    f->len = 0;
    f->size = len;
    f->num = (uint32_t)(tag >> 3);
    f->wt = (uint32_t)(tag & 7);
    if (n == 0 || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
        return -1;
    switch (f->wt) {
    case WT_VARINT:
        if ((m = get_varint(p + n, len - n, &f->v)) == 0)
            return -1;
        break;
    case WT_I64:
    case WT_I32:
        if ((m = f->wt == WT_I64 ? 8 : 4) > len - n)
            return -1;
        break;
    case WT_LEN:
        m = get_varint(p + n, len - n, &l);
        if (m == 0 || l > len - n - m)
            return -1;
        f->p = p + n + m;
        f->len = (size_t)l;
        m += (size_t)l;
        break;
    default:
        return -1; /* groups (3, 4) are not used by OTLP; 6 and 7 do not exist */
    }
    f->size = n + m;
    return 0;
}

/*
 * What the checker needs of a field, looked up by message and field number
 * in a table built once from the schema (every OTLP field number is below
 * FIELD_DIRECT; larger ones are unknown fields): the wire types it may have
 * (a bit each; 0: unknown field) and the message it holds.
 */
#define FIELD_DIRECT 32

typedef struct field_slot {
    uint8_t wt_mask;
    uint8_t kind;
    uint8_t sub; /* msg_id_t for F_MSG */
} field_slot_t;

static field_slot_t field_slots[M_COUNT][FIELD_DIRECT];
static pthread_once_t field_slots_once = PTHREAD_ONCE_INIT;

static uint8_t kind_wt_mask(uint8_t kind)
{
    switch (kind) {
    case F_VARINT:
        return 1u << WT_VARINT;
    case F_I64:
        return 1u << WT_I64;
    case F_I32:
        return 1u << WT_I32;
    case F_P_I64:
        return 1u << WT_LEN | 1u << WT_I64;
    case F_P_VARINT:
        return 1u << WT_LEN | 1u << WT_VARINT;
    default:
        return 1u << WT_LEN;
    }
}

static void field_slots_build(void)
{
    for (int m = 0; m < M_COUNT; m++) {
        const field_spec_t *fs = schema[m].fields;
        for (int i = 0; fs != NULL && fs[i].num != 0; i++) {
            if (fs[i].num < FIELD_DIRECT)
                field_slots[m][fs[i].num] =
                    (field_slot_t){kind_wt_mask(fs[i].kind), fs[i].kind, fs[i].sub};
        }
    }
}

static const char *wt_name(uint32_t wt)
{
    switch (wt) {
    case WT_VARINT:
        return "varint";
    case WT_I64:
        return "64-bit";
    case WT_LEN:
        return "length-delimited";
    case WT_I32:
        return "32-bit";
    default:
        return "invalid";
    }
}

typedef struct check_ctx {
    const uint8_t *start;
    size_t items;
    char *err;
    size_t errlen;
} check_ctx_t;

static int check_fail(check_ctx_t *c, const uint8_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int check_fail(check_ctx_t *c, const uint8_t *at, const char *fmt, ...)
{
    if (c->err != NULL && c->errlen > 0) {
        int n = snprintf(c->err, c->errlen,
                         "malformed protobuf at byte %zu: ", (size_t)(at - c->start));
        if (n > 0 && (size_t)n < c->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -EINVAL;
}

/* Packed fixed-width values must fill their payload exactly; packed varints must parse. */
static int check_packed(check_ctx_t *c, uint8_t kind, const field_t *f, const char *msg)
{
    if (kind == F_P_I64 && f->len % 8 != 0)
        return check_fail(c, f->p, "%s field %u: packed 64-bit values of bad length", msg, f->num);
    if (kind == F_P_VARINT) {
        for (size_t off = 0; off < f->len;) {
            uint64_t v;
            size_t n = ct_wire_get_varint(f->p + off, f->len - off, &v);
            if (n == 0)
                return check_fail(c, f->p + off, "%s field %u: bad packed varint", msg, f->num);
            off += n;
        }
    }
    return 0;
}

/*
 * The usual attribute, checked without the general walk: a KeyValue holding
 * a short key and a short string, an integer, a bool, a double or nothing,
 * each one-byte-framed. Returns true only for bytes the general walk would
 * accept; anything else (longer values, other fields, unusual order) is left
 * to it.
 */
static inline bool keyvalue_simple(const uint8_t *p, size_t len)
{
    size_t i, alen;
    const uint8_t *v;
    uint64_t x;

    if (len < 4 || p[0] != ((1 << 3) | WT_LEN) || p[1] >= 0x80)
        return false;
    i = 2 + (size_t)p[1]; /* past the key */
    if (i + 2 > len || p[i] != ((2 << 3) | WT_LEN) || p[i + 1] >= 0x80)
        return false;
    alen = p[i + 1];
    if (i + 2 + alen != len)
        return false;
    v = p + i + 2;
    if (alen == 0)
        return true;
    switch (v[0]) {
    case (1 << 3) | WT_LEN: /* string_value */
        return alen >= 2 && v[1] < 0x80 && (size_t)v[1] + 2 == alen;
    case (2 << 3) | WT_VARINT: /* bool_value */
    case (3 << 3) | WT_VARINT: /* int_value */
        return alen >= 2 && ct_wire_get_varint(v + 1, alen - 1, &x) == alen - 1;
    case (4 << 3) | WT_I64: /* double_value */
        return alen == 9;
    default:
        return false;
    }
}

static int check_msg(check_ctx_t *c, msg_id_t id, const uint8_t *p, size_t len, int depth)
{
    const msg_spec_t *m = &schema[id];
    const field_slot_t *slots = field_slots[id];
    if (depth > CT_WIRE_MAX_DEPTH)
        return check_fail(c, p, "%s nested deeper than %d levels", m->name, CT_WIRE_MAX_DEPTH);
    if (m->item)
        c->items++;

    for (size_t off = 0; off < len;) {
        field_t f;
        if (read_field(p + off, len - off, &f) != 0)
            return check_fail(c, p + off, "%s: truncated or invalid field", m->name);
        const field_slot_t *sl = f.num < FIELD_DIRECT ? &slots[f.num] : NULL;
        if (sl != NULL && sl->wt_mask != 0) {
            int rc = 0;
            if ((sl->wt_mask & (1u << f.wt)) == 0)
                return check_fail(c, p + off, "%s field %u has wire type %s", m->name, f.num,
                                  wt_name(f.wt));
            if (sl->sub == M_KEYVALUE && depth + 2 <= CT_WIRE_MAX_DEPTH &&
                keyvalue_simple(f.p, f.len))
                rc = 0;
            else if (sl->kind == F_MSG)
                rc = check_msg(c, (msg_id_t)sl->sub, f.p, f.len, depth + 1);
            else if (f.wt == WT_LEN && (sl->kind == F_P_I64 || sl->kind == F_P_VARINT))
                rc = check_packed(c, sl->kind, &f, m->name);
            else if ((sl->kind == F_ID16 && f.len != 0 && f.len != 16) ||
                     (sl->kind == F_ID8 && f.len != 0 && f.len != 8))
                rc = check_fail(c, p + off, "%s field %u: an id of %zu bytes (must be %d)", m->name,
                                f.num, f.len, sl->kind == F_ID16 ? 16 : 8);
            if (rc != 0)
                return rc;
        }
        off += f.size;
    }
    return 0;
}

int ct_wire_check(ct_signal_t sig, const uint8_t *p, size_t len, size_t *items, char *err,
                  size_t errlen)
{
    check_ctx_t c = {.start = p, .err = err, .errlen = errlen};
    if ((unsigned)sig >= CT_SIGNAL_COUNT)
        return -EINVAL;
    pthread_once(&field_slots_once, field_slots_build);
    int rc = check_msg(&c, request_msg[sig], p, len, 0);
    if (rc == 0 && items != NULL)
        *items = c.items;
    return rc;
}

/* ---- index ---- */

static int push_entry(ct_wire_entry_t **arr, size_t *n, size_t *cap, ct_wire_entry_t e)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        ct_wire_entry_t *a = realloc(*arr, nc * sizeof *a);
        if (a == NULL)
            return -ENOMEM;
        *arr = a;
        *cap = nc;
    }
    (*arr)[(*n)++] = e;
    return 0;
}

static uint32_t off_of(const ct_wire_index_t *idx, const uint8_t *p)
{
    return (uint32_t)(p - idx->data);
}

static bool is_metric_data(uint32_t num)
{
    return num == 5 || num == 7 || num == 9 || num == 10 || num == 11;
}

/* Indexes the data points of one metric (the payload of its last data field). */
static int index_metric(ct_wire_index_t *idx, const field_t *mf, uint32_t scope)
{
    ct_wire_entry_t me = {off_of(idx, mf->p), (uint32_t)mf->len, scope, 0, 0, 0, 0, 0};
    const uint8_t *data = NULL;
    size_t datalen = 0;

    for (size_t off = 0; off < mf->len;) {
        field_t f;
        if (read_field(mf->p + off, mf->len - off, &f) != 0)
            return -EINVAL;
        if (f.wt == WT_LEN && is_metric_data(f.num)) {
            me.field = f.num;
            data = f.p;
            datalen = f.len;
        }
        off += f.size;
    }
    me.other = (uint32_t)mf->len;
    if (data != NULL) {
        me.data_off = off_of(idx, data);
        me.data_len = (uint32_t)datalen;
        me.data_other = (uint32_t)datalen;
    }
    uint32_t mi = (uint32_t)idx->nmetric;
    int rc = push_entry(&idx->metric, &idx->nmetric, &idx->cap_metric, me);
    for (size_t off = 0; rc == 0 && data != NULL && off < datalen;) {
        field_t f;
        if (read_field(data + off, datalen - off, &f) != 0)
            return -EINVAL;
        if (f.num == 1 && f.wt == WT_LEN) {
            ct_wire_entry_t it = {off_of(idx, f.p), (uint32_t)f.len, mi, 1, 0, 0, 0, 0};
            rc = push_entry(&idx->item, &idx->nitem, &idx->cap_item, it);
            idx->metric[mi].data_other -= (uint32_t)f.size;
        }
        off += f.size;
    }
    /* What remains of the metric besides its data field: name, unit, metadata... */
    if (rc == 0 && data != NULL) {
        for (size_t off = 0; off < mf->len;) {
            field_t f;
            read_field(mf->p + off, mf->len - off, &f);
            if (f.wt == WT_LEN && f.num == me.field)
                idx->metric[mi].other -= (uint32_t)f.size;
            off += f.size;
        }
    }
    return rc;
}

static int index_scope(ct_wire_index_t *idx, const field_t *sf, uint32_t res)
{
    ct_wire_entry_t se = {
        off_of(idx, sf->p), (uint32_t)sf->len, res, 2, 0, 0, (uint32_t)sf->len, 0};
    uint32_t si = (uint32_t)idx->nscope;
    int rc = push_entry(&idx->scope, &idx->nscope, &idx->cap_scope, se);

    for (size_t off = 0; rc == 0 && off < sf->len;) {
        field_t f;
        if (read_field(sf->p + off, sf->len - off, &f) != 0)
            return -EINVAL;
        if (f.num == 2 && f.wt == WT_LEN) {
            idx->scope[si].other -= (uint32_t)f.size;
            if (idx->signal == CT_SIGNAL_METRICS) {
                rc = index_metric(idx, &f, si);
            } else {
                ct_wire_entry_t it = {off_of(idx, f.p), (uint32_t)f.len, si, 2, 0, 0, 0, 0};
                rc = push_entry(&idx->item, &idx->nitem, &idx->cap_item, it);
            }
        }
        off += f.size;
    }
    return rc;
}

int ct_wire_index(ct_wire_index_t *idx, ct_signal_t sig, const uint8_t *p, size_t len)
{
    idx->signal = sig;
    idx->data = p;
    idx->len = len;
    idx->nres = idx->nscope = idx->nmetric = idx->nitem = 0;

    int rc = 0;
    for (size_t off = 0; rc == 0 && off < len;) {
        field_t rf;
        if (read_field(p + off, len - off, &rf) != 0)
            return -EINVAL;
        off += rf.size;
        if (rf.num != 1 || rf.wt != WT_LEN)
            continue;
        ct_wire_entry_t re = {off_of(idx, rf.p), (uint32_t)rf.len, 0, 1, 0, 0, (uint32_t)rf.len, 0};
        uint32_t ri = (uint32_t)idx->nres;
        rc = push_entry(&idx->res, &idx->nres, &idx->cap_res, re);
        for (size_t o2 = 0; rc == 0 && o2 < rf.len;) {
            field_t sf;
            if (read_field(rf.p + o2, rf.len - o2, &sf) != 0)
                return -EINVAL;
            if (sf.num == 2 && sf.wt == WT_LEN) {
                idx->res[ri].other -= (uint32_t)sf.size;
                rc = index_scope(idx, &sf, ri);
            }
            o2 += sf.size;
        }
    }
    return rc;
}

void ct_wire_index_free(ct_wire_index_t *idx)
{
    free(idx->res);
    free(idx->scope);
    free(idx->metric);
    free(idx->item);
    memset(idx, 0, sizeof *idx);
}

/* ---- writing ---- */

size_t ct_wire_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

int ct_wire_put_varint(ct_buf_t *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    return ct_buf_append(b, tmp, n);
}

int ct_wire_put_tag(ct_buf_t *b, uint32_t field, uint32_t wire_type)
{
    return ct_wire_put_varint(b, ((uint64_t)field << 3) | wire_type);
}

int ct_wire_put_bytes(ct_buf_t *b, uint32_t field, const void *p, size_t n)
{
    int rc = ct_wire_put_tag(b, field, WT_LEN);
    if (rc == 0)
        rc = ct_wire_put_varint(b, n);
    if (rc == 0)
        rc = ct_buf_append(b, p, n);
    return rc;
}

static size_t entry_size(uint32_t field, size_t payload)
{
    return ct_wire_varint_size((uint64_t)field << 3) + ct_wire_varint_size(payload) + payload;
}

size_t ct_wire_item_size(const ct_wire_index_t *idx, size_t i)
{
    return entry_size(idx->item[i].field, idx->item[i].len);
}

/*
 * Copies every field of a payload except those numbered `skip` (with a LEN
 * wire type). The index knows how many bytes those are (`want`): the scan
 * stops once they are copied, instead of walking every child entry of the
 * container again for each piece a split cuts from it.
 */
static int put_other(ct_buf_t *b, const uint8_t *p, size_t len, uint32_t skip, size_t want)
{
    int rc = 0;
    for (size_t off = 0; rc == 0 && want > 0 && off < len;) {
        field_t f;
        if (read_field(p + off, len - off, &f) != 0)
            return -EINVAL;
        if (!(f.num == skip && f.wt == WT_LEN)) {
            rc = ct_buf_append(b, p + off, f.size);
            want -= f.size < want ? f.size : want;
        }
        off += f.size;
    }
    return rc;
}

/*
 * A run of a group's items inside one container. Items of one container are
 * contiguous in the index, so a group's items under one resource, scope or
 * metric form one run of its list.
 */
typedef struct regroup {
    const ct_wire_index_t *idx;
    const uint32_t *list; /* item indices of the group, in order */
    size_t n;
} regroup_t;

enum { LVL_RES, LVL_SCOPE, LVL_METRIC };

static uint32_t item_scope(const ct_wire_index_t *idx, uint32_t i)
{
    const ct_wire_entry_t *it = &idx->item[i];
    return idx->signal == CT_SIGNAL_METRICS ? idx->metric[it->parent].parent : it->parent;
}

static uint32_t container_of_item(const ct_wire_index_t *idx, uint32_t i, int lvl)
{
    uint32_t s = item_scope(idx, i);
    switch (lvl) {
    case LVL_RES:
        return idx->scope[s].parent;
    case LVL_SCOPE:
        return s;
    default:
        return idx->item[i].parent;
    }
}

/* The end of the run starting at list[a] that shares its container at lvl. */
static size_t run_end(const regroup_t *g, size_t a, size_t b, int lvl)
{
    uint32_t c = container_of_item(g->idx, g->list[a], lvl);
    size_t e = a + 1;
    while (e < b && container_of_item(g->idx, g->list[e], lvl) == c)
        e++;
    return e;
}

/* Payload size of the container at lvl holding list[a..b). */
static size_t block_payload(const regroup_t *g, size_t a, size_t b, int lvl)
{
    const ct_wire_index_t *idx = g->idx;
    size_t sum = 0;
    uint32_t c = container_of_item(idx, g->list[a], lvl);

    if (lvl == LVL_METRIC) {
        const ct_wire_entry_t *m = &idx->metric[c];
        size_t data = m->data_other;
        for (size_t i = a; i < b; i++)
            data += ct_wire_item_size(idx, g->list[i]);
        return m->other + entry_size(m->field, data);
    }
    sum = lvl == LVL_RES ? idx->res[c].other : idx->scope[c].other;
    bool leaf = lvl == LVL_SCOPE && idx->signal != CT_SIGNAL_METRICS;
    for (size_t i = a; i < b;) {
        if (leaf) {
            sum += ct_wire_item_size(idx, g->list[i]);
            i++;
            continue;
        }
        size_t e = run_end(g, i, b, lvl + 1);
        sum += entry_size(2, block_payload(g, i, e, lvl + 1));
        i = e;
    }
    return sum;
}

static int put_block(const regroup_t *g, ct_buf_t *out, size_t a, size_t b, int lvl, uint32_t field)
{
    const ct_wire_index_t *idx = g->idx;
    uint32_t c = container_of_item(idx, g->list[a], lvl);
    const ct_wire_entry_t *e = lvl == LVL_RES     ? &idx->res[c]
                               : lvl == LVL_SCOPE ? &idx->scope[c]
                                                  : &idx->metric[c];
    int rc = ct_wire_put_tag(out, field, WT_LEN);
    if (rc == 0)
        rc = ct_wire_put_varint(out, block_payload(g, a, b, lvl));

    if (lvl == LVL_METRIC) {
        size_t data = e->data_other;
        for (size_t i = a; i < b; i++)
            data += ct_wire_item_size(idx, g->list[i]);
        if (rc == 0)
            rc = put_other(out, idx->data + e->off, e->len, e->field, e->other);
        if (rc == 0)
            rc = ct_wire_put_tag(out, e->field, WT_LEN);
        if (rc == 0)
            rc = ct_wire_put_varint(out, data);
        if (rc == 0)
            rc = put_other(out, idx->data + e->data_off, e->data_len, 1, e->data_other);
        for (size_t i = a; rc == 0 && i < b; i++) {
            const ct_wire_entry_t *it = &idx->item[g->list[i]];
            rc = ct_wire_put_bytes(out, 1, idx->data + it->off, it->len);
        }
        return rc;
    }

    if (rc == 0)
        rc = put_other(out, idx->data + e->off, e->len, 2, e->other);
    bool leaf = lvl == LVL_SCOPE && idx->signal != CT_SIGNAL_METRICS;
    for (size_t i = a; rc == 0 && i < b;) {
        if (leaf) {
            const ct_wire_entry_t *it = &idx->item[g->list[i]];
            rc = ct_wire_put_bytes(out, 2, idx->data + it->off, it->len);
            i++;
            continue;
        }
        size_t end = run_end(g, i, b, lvl + 1);
        rc = put_block(g, out, i, end, lvl + 1, 2);
        i = end;
    }
    return rc;
}

int ct_wire_regroup(const ct_wire_index_t *idx, const uint32_t *group, size_t ngroups,
                    ct_buf_t *out, size_t *items_out)
{
    uint32_t *list = malloc((idx->nitem ? idx->nitem : 1) * sizeof *list);
    size_t *count = calloc(ngroups ? ngroups : 1, sizeof *count);
    size_t *start = calloc(ngroups + 1, sizeof *start);
    int rc = 0;
    if (list == NULL || count == NULL || start == NULL) {
        rc = -ENOMEM;
        goto out;
    }

    /* Bucket the items by group, keeping their order (a counting sort). */
    for (size_t i = 0; i < idx->nitem; i++) {
        if (group[i] != CT_WIRE_SKIP && group[i] < ngroups)
            count[group[i]]++;
    }
    for (size_t g = 0; g < ngroups; g++)
        start[g + 1] = start[g] + count[g];
    for (size_t g = 0; g < ngroups; g++)
        count[g] = start[g];
    for (size_t i = 0; i < idx->nitem; i++) {
        if (group[i] != CT_WIRE_SKIP && group[i] < ngroups)
            list[count[group[i]]++] = (uint32_t)i;
    }

    for (size_t g = 0; rc == 0 && g < ngroups; g++) {
        regroup_t rg = {idx, list + start[g], start[g + 1] - start[g]};
        for (size_t i = 0; rc == 0 && i < rg.n;) {
            size_t e = run_end(&rg, i, rg.n, LVL_RES);
            rc = put_block(&rg, &out[g], i, e, LVL_RES, 1);
            i = e;
        }
        if (items_out != NULL)
            items_out[g] = rg.n;
    }

out:
    free(list);
    free(count);
    free(start);
    return rc;
}

size_t ct_wire_plan_split(const ct_wire_index_t *idx, size_t max_items, size_t max_bytes,
                          uint32_t *group, size_t *oversize)
{
    /* Envelope costs are estimated with 5-byte length prefixes: never under the truth. */
    enum { HDR = 6 };
    size_t groups = 0, items = 0, bytes = 0;
    uint32_t cur_res = CT_WIRE_SKIP, cur_scope = CT_WIRE_SKIP, cur_metric = CT_WIRE_SKIP;
    bool open = false;

    if (oversize != NULL)
        *oversize = 0;
    for (size_t i = 0; i < idx->nitem; i++) {
        const ct_wire_entry_t *it = &idx->item[i];
        uint32_t s = item_scope(idx, (uint32_t)i);
        uint32_t r = idx->scope[s].parent;
        uint32_t m = idx->signal == CT_SIGNAL_METRICS ? it->parent : CT_WIRE_SKIP;
        size_t cost = ct_wire_item_size(idx, i);
        size_t env_res = HDR + idx->res[r].other;
        size_t env_scope = HDR + idx->scope[s].other;
        size_t env_metric =
            m == CT_WIRE_SKIP ? 0 : 2 * HDR + idx->metric[m].other + idx->metric[m].data_other;

        size_t add = cost;
        if (!open || r != cur_res)
            add += env_res + env_scope + env_metric;
        else if (s != cur_scope)
            add += env_scope + env_metric;
        else if (m != cur_metric)
            add += env_metric;

        bool fits = (max_items == 0 || items + 1 <= max_items) &&
                    (max_bytes == 0 || bytes + add <= max_bytes);
        if (!fits || !open) {
            size_t alone = cost + env_res + env_scope + env_metric;
            if (max_bytes != 0 && alone > max_bytes) {
                group[i] = CT_WIRE_SKIP;
                if (oversize != NULL)
                    (*oversize)++;
                continue;
            }
            if (open)
                groups++;
            open = true;
            items = 0;
            bytes = 0;
            add = alone;
        }
        group[i] = (uint32_t)groups;
        items++;
        bytes += add;
        cur_res = r;
        cur_scope = s;
        cur_metric = m;
    }
    return open ? groups + 1 : 0;
}

/* Counts the children numbered `field` (length-delimited) of a message payload. */
static int count_children(const uint8_t *p, size_t len, uint32_t field,
                          int (*each)(const uint8_t *, size_t, void *), void *arg, size_t *n)
{
    for (size_t off = 0; off < len;) {
        field_t f;
        if (read_field(p + off, len - off, &f) != 0)
            return -EINVAL;
        if (f.num == field && f.wt == WT_LEN) {
            (*n)++;
            if (each != NULL && each(f.p, f.len, arg) != 0)
                return -EINVAL;
        }
        off += f.size;
    }
    return 0;
}

typedef struct counts {
    ct_signal_t sig;
    size_t res, metrics, items;
} counts_t;

static int count_metric(const uint8_t *p, size_t len, void *arg)
{
    counts_t *c = arg;
    for (size_t off = 0; off < len;) {
        field_t f;
        if (read_field(p + off, len - off, &f) != 0)
            return -EINVAL;
        /* Data points of the metric's data (the last data field wins, as in decoding). */
        if (f.wt == WT_LEN && is_metric_data(f.num)) {
            size_t n = 0;
            if (count_children(f.p, f.len, 1, NULL, NULL, &n) != 0)
                return -EINVAL;
            c->items += n; /* a well-formed metric has one data field */
        }
        off += f.size;
    }
    return 0;
}

static int count_scope(const uint8_t *p, size_t len, void *arg)
{
    counts_t *c = arg;
    if (c->sig == CT_SIGNAL_METRICS)
        return count_children(p, len, 2, count_metric, c, &c->metrics);
    return count_children(p, len, 2, NULL, NULL, &c->items);
}

static int count_resource(const uint8_t *p, size_t len, void *arg)
{
    size_t scopes = 0;
    return count_children(p, len, 2, count_scope, arg, &scopes);
}

int ct_wire_count(ct_signal_t sig, const uint8_t *p, size_t len, size_t *resources, size_t *metrics,
                  size_t *items)
{
    counts_t c = {.sig = sig};
    int rc = count_children(p, len, 1, count_resource, &c, &c.res);
    if (rc == 0) {
        *resources = c.res;
        *metrics = c.metrics;
        *items = c.items;
    }
    return rc;
}

int ct_wire_find_bytes(const uint8_t *p, size_t len, uint32_t field, const uint8_t **val,
                       size_t *vlen)
{
    for (size_t off = 0; off < len;) {
        field_t f;
        if (read_field(p + off, len - off, &f) != 0)
            return -EINVAL;
        if (f.num == field && f.wt == WT_LEN) {
            *val = f.p;
            *vlen = f.len;
            return 0;
        }
        off += f.size;
    }
    return -ENOENT;
}
