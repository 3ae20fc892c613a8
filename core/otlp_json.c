/*
 * OTLP/JSON codec: walks protobuf-c message descriptors to write a message as
 * OTLP/JSON and to turn OTLP/JSON into protobuf bytes, so one piece of code
 * serves every message of the schema. The parser is hand-written: it writes
 * the wire format directly, keeps 64-bit integers exact and knows the field
 * path of each error.
 */
#include "otlp_json.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_wire.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb-c.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

/* ---------------------------------------------------------------------------
 * Arena. The encoder's message unpacked by protobuf-c, with its strings and
 * arrays, lives in one arena that is freed in one call.
 */

#define ARENA_ALIGN       16
#define ARENA_FIRST_CHUNK 8192
#define ARENA_MAX_CHUNK   (1024 * 1024)

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t used;
    size_t size;
} arena_chunk_t;

#define CHUNK_HDR ((sizeof(arena_chunk_t) + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1))

typedef struct arena {
    ProtobufCAllocator pc; /* handed to protobuf-c; allocator_data points back here */
    arena_chunk_t *head;   /* the chunk being filled */
    size_t next_size;
} arena_t;

static void *arena_alloc(arena_t *a, size_t size)
{
    size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (size == 0)
        size = ARENA_ALIGN;

    arena_chunk_t *c = a->head;
    if (c && c->size - c->used >= size) {
        void *p = (uint8_t *)c + CHUNK_HDR + c->used;
        c->used += size;
        return p;
    }

    /* A large block gets a chunk of its own behind the current one, so the
     * free space left in the current chunk is not thrown away. */
    int own = size > a->next_size / 4;
    size_t csize = own ? size : a->next_size;
    if (size > SIZE_MAX - CHUNK_HDR)
        return NULL;
    c = malloc(CHUNK_HDR + csize);
    if (c == NULL)
        return NULL;
    c->size = csize;
    c->used = size;
    if (own && a->head) {
        c->next = a->head->next;
        a->head->next = c;
    } else {
        c->next = a->head;
        a->head = c;
        if (a->next_size < ARENA_MAX_CHUNK)
            a->next_size *= 2;
    }
    return (uint8_t *)c + CHUNK_HDR;
}

static void *arena_pc_alloc(void *data, size_t size)
{
    return arena_alloc(data, size);
}

static void arena_pc_free(void *data, void *p)
{
    (void)data;
    (void)p; /* released with the whole arena */
}

static void arena_init(arena_t *a)
{
    a->pc.alloc = arena_pc_alloc;
    a->pc.free = arena_pc_free;
    a->pc.allocator_data = a;
    a->head = NULL;
    a->next_size = ARENA_FIRST_CHUNK;
}

static void arena_free(arena_t *a)
{
    arena_chunk_t *c = a->head;
    while (c) {
        arena_chunk_t *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}

/* ---------------------------------------------------------------------------
 * Helpers shared by both directions.
 */

static const ProtobufCMessageDescriptor *const request_descriptors[CT_SIGNAL_COUNT] = {
    &opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor,
    &opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__descriptor,
    &opentelemetry__proto__collector__logs__v1__export_logs_service_request__descriptor,
};

static const ProtobufCMessageDescriptor *request_descriptor(ct_signal_t sig)
{
    return (unsigned)sig < CT_SIGNAL_COUNT ? request_descriptors[sig] : NULL;
}

/*
 * OTLP writes trace and span ids (in Span, Span.Link, LogRecord and Exemplar,
 * the only messages with bytes fields of these names) as hex, not base64.
 * Returns the id's length in bytes, or 0 for an ordinary bytes field.
 */
static size_t hex_id_size(const ProtobufCFieldDescriptor *f)
{
    if (f->type != PROTOBUF_C_TYPE_BYTES)
        return 0;
    if (strcmp(f->name, "trace_id") == 0)
        return 16;
    if (strcmp(f->name, "span_id") == 0 || strcmp(f->name, "parent_span_id") == 0)
        return 8;
    return 0;
}

/* The proto3 JSON name: underscores dropped, the letter after each one upper-cased. */
static size_t json_name(const char *name, char *buf, size_t cap)
{
    size_t n = 0;
    int up = 0;
    for (const char *c = name; *c && n + 1 < cap; c++) {
        if (*c == '_') {
            up = 1;
            continue;
        }
        buf[n++] = up ? (char)toupper((unsigned char)*c) : *c;
        up = 0;
    }
    if (cap)
        buf[n] = '\0';
    return n;
}

/* Length of the valid UTF-8 sequence at s, 0 if the bytes there are not one. */
static size_t utf8_seq_len(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    if (c < 0x80)
        return 1;
    if (c < 0xc2 || c > 0xf4)
        return 0;
    if (c < 0xe0)
        return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c < 0xf0) {
        if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
            return 0;
        if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f))
            return 0; /* overlong form or UTF-16 surrogate */
        return 3;
    }
    if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
        return 0;
    if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
        return 0; /* overlong form or beyond U+10FFFF */
    return 4;
}

/* Size of one element of a repeated field in protobuf-c's C structures. */
static size_t elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return sizeof(uint64_t);
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default:
        return sizeof(uint32_t);
    }
}

static const char *type_name(ProtobufCType t)
{
    static const char *const names[] = {
        [PROTOBUF_C_TYPE_INT32] = "int32",       [PROTOBUF_C_TYPE_SINT32] = "sint32",
        [PROTOBUF_C_TYPE_SFIXED32] = "sfixed32", [PROTOBUF_C_TYPE_INT64] = "int64",
        [PROTOBUF_C_TYPE_SINT64] = "sint64",     [PROTOBUF_C_TYPE_SFIXED64] = "sfixed64",
        [PROTOBUF_C_TYPE_UINT32] = "uint32",     [PROTOBUF_C_TYPE_FIXED32] = "fixed32",
        [PROTOBUF_C_TYPE_UINT64] = "uint64",     [PROTOBUF_C_TYPE_FIXED64] = "fixed64",
        [PROTOBUF_C_TYPE_FLOAT] = "float",       [PROTOBUF_C_TYPE_DOUBLE] = "double",
        [PROTOBUF_C_TYPE_BOOL] = "bool",         [PROTOBUF_C_TYPE_ENUM] = "enum",
        [PROTOBUF_C_TYPE_STRING] = "string",     [PROTOBUF_C_TYPE_BYTES] = "bytes",
        [PROTOBUF_C_TYPE_MESSAGE] = "message",
    };
    return (unsigned)t < CT_ARRAY_LEN(names) && names[t] ? names[t] : "field";
}

/* ---------------------------------------------------------------------------
 * Encoder: protobuf-c message -> OTLP/JSON. Output errors are sticky in
 * enc->rc, so the writers need no checks of their own.
 */

typedef struct enc {
    ct_buf_t *out;
    int rc;
    int depth;
    int walk; /* reading the wire format: a full out only stops the writing */
    int full; /* out met its maximum while walking, which goes on to check the input */
    int mute; /* walking a message protobuf-c reads and then drops: nothing to write */
} enc_t;

static void put_rc(enc_t *e, int rc)
{
    if (rc == -E2BIG && e->walk)
        e->full = 1;
    else
        e->rc = rc;
}

static void put(enc_t *e, const void *p, size_t n)
{
    if (e->rc == 0 && !e->full && !e->mute && n > 0)
        put_rc(e, ct_buf_append(e->out, p, n));
}

static void put_ch(enc_t *e, char c)
{
    if (e->rc == 0 && !e->full && !e->mute)
        put_rc(e, ct_buf_putc(e->out, (uint8_t)c));
}

/* 64-bit integers are quoted, as OTLP/JSON (after proto3 JSON) requires. */
static void put_u64(enc_t *e, uint64_t v, int neg, int quoted)
{
    char buf[24];
    char *p = buf + sizeof(buf);
    if (quoted)
        *--p = '"';
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    if (neg)
        *--p = '-';
    if (quoted)
        *--p = '"';
    put(e, p, (size_t)(buf + sizeof(buf) - p));
}

static void put_i64(enc_t *e, int64_t v, int quoted)
{
    uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    put_u64(e, mag, v < 0, quoted);
}

/* The shortest decimal form that reads back as the same value. */
static void put_double(enc_t *e, double v, int is_float)
{
    if (isnan(v)) {
        put(e, "\"NaN\"", 5);
        return;
    }
    if (isinf(v)) {
        if (v > 0)
            put(e, "\"Infinity\"", 10);
        else
            put(e, "\"-Infinity\"", 11);
        return;
    }

    char buf[40];
    int n = 0;
    for (int prec = is_float ? 6 : 15; prec <= (is_float ? 9 : 17); prec++) {
        n = snprintf(buf, sizeof(buf), "%.*g", prec, v);
        double back = strtod(buf, NULL);
        if (is_float ? (float)back == (float)v : back == v)
            break;
    }
    put(e, buf, (size_t)n);
}

static void put_escape(enc_t *e, uint8_t c)
{
    static const char hex[] = "0123456789abcdef";
    char buf[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
    switch (c) {
    case '"':
        put(e, "\\\"", 2);
        break;
    case '\\':
        put(e, "\\\\", 2);
        break;
    case '\n':
        put(e, "\\n", 2);
        break;
    case '\r':
        put(e, "\\r", 2);
        break;
    case '\t':
        put(e, "\\t", 2);
        break;
    case '\b':
        put(e, "\\b", 2);
        break;
    case '\f':
        put(e, "\\f", 2);
        break;
    default:
        if (c >= 0x80)
            put(e, "\\ufffd", 6); /* a byte that is not UTF-8 */
        else
            put(e, buf, sizeof(buf));
    }
}

/*
 * protobuf-c does not check that strings are UTF-8, so bytes that are not
 * become U+FFFD here: the output must stay valid JSON.
 */
static void put_string(enc_t *e, const char *str, size_t n)
{
    const uint8_t *s = (const uint8_t *)str;
    size_t i = 0, start = 0;

    put_ch(e, '"');
    while (i < n) {
        uint8_t c = s[i];
        if (c >= 0x80) {
            size_t k = utf8_seq_len(s + i, n - i);
            if (k) {
                i += k;
                continue;
            }
        } else if (c >= 0x20 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        put(e, s + start, i - start);
        put_escape(e, c);
        start = ++i;
    }
    put(e, s + start, i - start);
    put_ch(e, '"');
}

static void put_hex(enc_t *e, const uint8_t *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char buf[64];
    size_t k = 0;

    put_ch(e, '"');
    for (size_t i = 0; i < n; i++) {
        if (k + 2 > sizeof(buf)) {
            put(e, buf, k);
            k = 0;
        }
        buf[k++] = hex[p[i] >> 4];
        buf[k++] = hex[p[i] & 15];
    }
    put(e, buf, k);
    put_ch(e, '"');
}

static void put_base64(enc_t *e, const uint8_t *p, size_t n)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char buf[64];
    size_t k = 0;

    put_ch(e, '"');
    for (size_t i = 0; i < n; i += 3) {
        if (k + 4 > sizeof(buf)) {
            put(e, buf, k);
            k = 0;
        }
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        buf[k++] = b64[(v >> 18) & 63];
        buf[k++] = b64[(v >> 12) & 63];
        buf[k++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        buf[k++] = i + 2 < n ? b64[v & 63] : '=';
    }
    put(e, buf, k);
    put_ch(e, '"');
}

static void put_key(enc_t *e, const ProtobufCFieldDescriptor *f, int first)
{
    char buf[128];
    size_t n = 0;

    if (!first)
        buf[n++] = ',';
    buf[n++] = '"';
    n += json_name(f->name, buf + n, sizeof(buf) - n - 2);
    buf[n++] = '"';
    buf[n++] = ':';
    put(e, buf, n);
}

static void emit_message(enc_t *e, const ProtobufCMessage *m);

/* Writes one value of field f stored at member. */
static void emit_value(enc_t *e, const ProtobufCFieldDescriptor *f, const void *member)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        put_i64(e, *(const int32_t *)member, 0);
        break;
    case PROTOBUF_C_TYPE_ENUM:
        put_i64(e, *(const int *)member, 0);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        put_u64(e, *(const uint32_t *)member, 0, 0);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        put_i64(e, *(const int64_t *)member, 1);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        put_u64(e, *(const uint64_t *)member, 0, 1);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        put_double(e, *(const float *)member, 1);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        put_double(e, *(const double *)member, 0);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        if (*(const protobuf_c_boolean *)member)
            put(e, "true", 4);
        else
            put(e, "false", 5);
        break;
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)member;
        put_string(e, s ? s : "", s ? strlen(s) : 0);
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = member;
        if (hex_id_size(f))
            put_hex(e, b->data, b->len);
        else
            put_base64(e, b->data, b->len);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)member;
        if (sub)
            emit_message(e, sub);
        else
            put(e, "{}", 2);
        break;
    }
    }
}

/* proto3 leaves fields at their default value out of the output. */
static int is_default(const ProtobufCFieldDescriptor *f, const void *member)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return *(const uint64_t *)member == 0;
    case PROTOBUF_C_TYPE_FLOAT: /* bitwise: -0.0 is a value, as for protobuf itself */
        return *(const uint32_t *)member == 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        return *(const uint64_t *)member == 0;
    case PROTOBUF_C_TYPE_BOOL:
        return !*(const protobuf_c_boolean *)member;
    case PROTOBUF_C_TYPE_ENUM:
        return *(const int *)member == 0;
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)member;
        return s == NULL || s[0] == '\0';
    }
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)member)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(const ProtobufCMessage *const *)member == NULL;
    default:
        return *(const uint32_t *)member == 0;
    }
}

static int is_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    const uint8_t *base = (const uint8_t *)m;
    const void *member = base + f->offset;

    /* A oneof member that is set is written even at its default value; this
     * is also how the schema's `optional` fields (histogram sum, min, max)
     * look once compiled by protoc-c. */
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)(base + f->quantifier_offset) == f->id;

    switch (f->label) {
    case PROTOBUF_C_LABEL_REQUIRED:
        return 1;
    case PROTOBUF_C_LABEL_OPTIONAL:
        if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE) {
            const void *p = *(const void *const *)member;
            return p != NULL && p != f->default_value;
        }
        return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
    default:
        return !is_default(f, member);
    }
}

static void emit_message(enc_t *e, const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *desc = m->descriptor;
    const uint8_t *base = (const uint8_t *)m;
    int first = 1;

    if (++e->depth > CT_OTLP_JSON_MAX_DEPTH) {
        if (e->rc == 0)
            e->rc = -E2BIG;
        e->depth--;
        return;
    }

    put_ch(e, '{');
    for (unsigned i = 0; i < desc->n_fields && e->rc == 0; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];

        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            const uint8_t *arr = *(const uint8_t *const *)(base + f->offset);
            size_t esz = elem_size(f->type);
            if (n == 0)
                continue;
            put_key(e, f, first);
            put_ch(e, '[');
            for (size_t j = 0; j < n && e->rc == 0; j++) {
                if (j)
                    put_ch(e, ',');
                emit_value(e, f, arr + j * esz);
            }
            put_ch(e, ']');
        } else if (is_present(m, f)) {
            put_key(e, f, first);
            emit_value(e, f, base + f->offset);
        } else {
            continue;
        }
        first = 0;
    }
    put_ch(e, '}');
    e->depth--;
}

/* ---------------------------------------------------------------------------
 * Encoder straight from the wire format. Unpacking with protobuf-c first costs
 * some 125 times the request's size (a struct per span); this walker needs
 * only a small table per open message. It writes the bytes emit_message would
 * write for the unpacked message: each message's fields are first indexed
 * (first and last occurrence, count), then written in descriptor order, the
 * last value of a scalar winning, repeated fields concatenating their packed
 * and unpacked occurrences, a oneof holding its last member. What protobuf-c
 * reads its own way (a message field given twice outside a oneof is merged;
 * proto2 labels, groups, malformed input, varints it reads more loosely) makes
 * the walk give up with WALK_FALLBACK, and the caller unpacks as before: rare
 * requests, which pay the old memory.
 */

#define WALK_FALLBACK 1

/* Where one field of an open message occurs; offsets are into the message. */
typedef struct wslot {
    size_t first, last; /* tag offsets of the first and last occurrence */
    size_t count;
} wslot_t;

typedef struct wenc {
    enc_t e;
    int fallback;   /* the input needs protobuf-c's own reading */
    ct_buf_t slots; /* wslot_t arrays of the open messages, the innermost last */
} wenc_t;

/* One field read off the wire: number, wire type, value, where the next one starts. */
typedef struct wfield {
    size_t next;
    uint32_t num;
    unsigned wt;
    uint64_t v;       /* VARINT, I32, I64 */
    const uint8_t *p; /* LEN payload */
    size_t len;
} wfield_t;

/* Reads the field at *pos; 0, or -1 when it is something to leave to protobuf-c. */
static int wire_next(const uint8_t *p, size_t len, size_t pos, wfield_t *f)
{
    uint64_t tag, n;
    size_t k = ct_wire_get_varint(p + pos, len - pos, &tag);

    if (k == 0 || k > 5 || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
        return -1;
    f->num = (uint32_t)(tag >> 3);
    f->wt = (unsigned)(tag & 7);
    pos += k;
    switch (f->wt) {
    case PROTOBUF_C_WIRE_TYPE_VARINT:
        if ((k = ct_wire_get_varint(p + pos, len - pos, &f->v)) == 0)
            return -1;
        pos += k;
        break;
    case PROTOBUF_C_WIRE_TYPE_64BIT:
        if (len - pos < 8)
            return -1;
        f->v = 0;
        for (int i = 7; i >= 0; i--)
            f->v = f->v << 8 | p[pos + (size_t)i];
        pos += 8;
        break;
    case PROTOBUF_C_WIRE_TYPE_32BIT:
        if (len - pos < 4)
            return -1;
        f->v = (uint32_t)p[pos] | (uint32_t)p[pos + 1] << 8 | (uint32_t)p[pos + 2] << 16 |
               (uint32_t)p[pos + 3] << 24;
        pos += 4;
        break;
    case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED:
        k = ct_wire_get_varint(p + pos, len - pos, &n);
        if (k == 0 || k > 5 || n > len - pos - k)
            return -1;
        f->p = p + pos + k;
        f->len = (size_t)n;
        pos += k + (size_t)n;
        break;
    default:
        return -1; /* groups and the unused wire types */
    }
    f->next = pos;
    return 0;
}

/* The wire type protobuf-c expects for a value of type t. */
static unsigned wire_type_of(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return PROTOBUF_C_WIRE_TYPE_32BIT;
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return PROTOBUF_C_WIRE_TYPE_64BIT;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_MESSAGE:
        return PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
    default:
        return PROTOBUF_C_WIRE_TYPE_VARINT;
    }
}

static int is_packable(ProtobufCType t)
{
    return wire_type_of(t) != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
}

/* A scalar held in v (low bits for 32-bit types) as the C value protobuf-c stores. */
static void walk_scalar(wenc_t *w, ProtobufCType t, uint64_t v)
{
    enc_t *e = &w->e;
    uint32_t u32 = (uint32_t)v;
    union {
        uint32_t u;
        float f;
    } f32 = {.u = u32};
    union {
        uint64_t u;
        double d;
    } f64 = {.u = v};

    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        put_i64(e, (int32_t)u32, 0);
        break;
    case PROTOBUF_C_TYPE_SINT32:
        put_i64(e, (int32_t)((u32 >> 1) ^ (0u - (u32 & 1))), 0);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        put_u64(e, u32, 0, 0);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        put_i64(e, (int64_t)v, 1);
        break;
    case PROTOBUF_C_TYPE_SINT64:
        put_i64(e, (int64_t)((v >> 1) ^ (0 - (v & 1))), 1);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        put_u64(e, v, 0, 1);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        put_double(e, f32.f, 1);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        put_double(e, f64.d, 0);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        if (v)
            put(e, "true", 4);
        else
            put(e, "false", 5);
        break;
    default:
        break;
    }
}

/* Whether a scalar of type t holding v is proto3's default, as is_default sees it. */
static int scalar_is_default(ProtobufCType t, uint64_t v)
{
    switch (wire_type_of(t)) {
    case PROTOBUF_C_WIRE_TYPE_64BIT:
        return v == 0;
    case PROTOBUF_C_WIRE_TYPE_32BIT:
        return (uint32_t)v == 0;
    default:
        break;
    }
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_BOOL:
        return v == 0;
    default:
        return (uint32_t)v == 0;
    }
}

static void walk_message(wenc_t *w, const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                         size_t len);

/* One value of field f read off the wire (not a packed run). */
static void walk_value(wenc_t *w, const ProtobufCFieldDescriptor *f, const wfield_t *wf)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        /* protobuf-c keeps a C string: it ends at the first NUL. */
        const uint8_t *nul = memchr(wf->p, 0, wf->len);
        put_string(&w->e, (const char *)wf->p, nul ? (size_t)(nul - wf->p) : wf->len);
        break;
    }
    case PROTOBUF_C_TYPE_BYTES:
        if (hex_id_size(f))
            put_hex(&w->e, wf->p, wf->len);
        else
            put_base64(&w->e, wf->p, wf->len);
        break;
    case PROTOBUF_C_TYPE_MESSAGE:
        walk_message(w, f->descriptor, wf->p, wf->len);
        break;
    default:
        walk_scalar(w, f->type, wf->v);
    }
}

/* The elements of a packed run, each preceded by a comma unless it is the array's first. */
static void walk_packed(wenc_t *w, const ProtobufCFieldDescriptor *f, const wfield_t *wf,
                        int *started)
{
    unsigned wt = wire_type_of(f->type);
    size_t size = wt == PROTOBUF_C_WIRE_TYPE_64BIT ? 8 : 4;
    size_t pos = 0;

    if (wt != PROTOBUF_C_WIRE_TYPE_VARINT && wf->len % size != 0) {
        w->fallback = 1;
        return;
    }
    while (pos < wf->len && !w->fallback && w->e.rc == 0) {
        uint64_t v = 0;
        if (wt == PROTOBUF_C_WIRE_TYPE_VARINT) {
            size_t k = ct_wire_get_varint(wf->p + pos, wf->len - pos, &v);
            if (k == 0) {
                w->fallback = 1;
                return;
            }
            pos += k;
        } else {
            for (size_t i = size; i-- > 0;)
                v = v << 8 | wf->p[pos + i];
            pos += size;
        }
        put(&w->e, *started ? "," : "[", 1);
        *started = 1;
        walk_scalar(w, f->type, v);
    }
}

/* All occurrences of repeated field f, in wire order, from its first to its last. */
static void walk_repeated(wenc_t *w, const ProtobufCFieldDescriptor *f, const uint8_t *p,
                          size_t len, const wslot_t *s, int *first)
{
    int started = 0;
    wfield_t wf;
    int key_written = 0;

    for (size_t pos = s->first; pos <= s->last && !w->fallback && w->e.rc == 0; pos = wf.next) {
        if (wire_next(p, len, pos, &wf) != 0) {
            w->fallback = 1; /* cannot happen: the same bytes were read before */
            return;
        }
        if (wf.num != f->id)
            continue;
        if (!key_written) {
            /* An empty packed run alone writes nothing, as an empty array is left out. */
            if (wf.wt == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED && is_packable(f->type) &&
                wf.len == 0)
                continue;
            put_key(&w->e, f, *first);
            *first = 0;
            key_written = 1;
        }
        if (wf.wt == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED && is_packable(f->type)) {
            walk_packed(w, f, &wf, &started);
        } else {
            put(&w->e, started ? "," : "[", 1);
            started = 1;
            walk_value(w, f, &wf);
        }
    }
    if (started)
        put(&w->e, "]", 1);
}

static wslot_t *walk_slot(wenc_t *w, size_t base, size_t i)
{
    return (wslot_t *)(w->slots.data + base) + i;
}

/*
 * Whether oneof member i, seen on the wire, is the one protobuf-c keeps: no
 * other member of its oneof (the same case member) occurs after it.
 */
static int oneof_holds(wenc_t *w, const ProtobufCMessageDescriptor *desc, size_t base, size_t i)
{
    const ProtobufCFieldDescriptor *f = &desc->fields[i];
    size_t last = walk_slot(w, base, i)->last;

    for (size_t j = 0; j < desc->n_fields; j++) {
        const ProtobufCFieldDescriptor *g = &desc->fields[j];
        const wslot_t *s = walk_slot(w, base, j);
        if (j != i && (g->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            g->quantifier_offset == f->quantifier_offset && s->count && s->last > last)
            return 0;
    }
    return 1;
}

/* Notes where each field of the message occurs; 0, or -1 to leave it to protobuf-c. */
static int walk_index(wenc_t *w, const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                      size_t len, size_t base)
{
    wfield_t wf;

    for (size_t pos = 0; pos < len; pos = wf.next) {
        if (wire_next(p, len, pos, &wf) != 0)
            return -1;
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(desc, wf.num);
        if (f == NULL)
            continue; /* unknown: protobuf-c keeps it aside, the JSON leaves it out */
        if (f->label != PROTOBUF_C_LABEL_NONE && f->label != PROTOBUF_C_LABEL_REPEATED)
            return -1; /* proto2 presence rules */
        int packed = f->label == PROTOBUF_C_LABEL_REPEATED && is_packable(f->type) &&
                     wf.wt == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
        if (wf.wt != wire_type_of(f->type) && !packed)
            return -1;
        wslot_t *s = walk_slot(w, base, (size_t)(f - desc->fields));
        if (s->count++ == 0)
            s->first = pos;
        s->last = pos;
    }
    return 0;
}

/*
 * protobuf-c parses a oneof's message members that a later member replaces,
 * and fails the request when one does not parse: the walk reads them too,
 * writing nothing. keep_last: the last occurrence is the one kept.
 */
static void walk_replaced(wenc_t *w, const ProtobufCFieldDescriptor *f, const uint8_t *p,
                          size_t len, const wslot_t *s, int keep_last)
{
    wfield_t wf;

    w->e.mute++;
    for (size_t pos = s->first; pos <= s->last && !w->fallback && w->e.rc == 0; pos = wf.next) {
        if (wire_next(p, len, pos, &wf) != 0) {
            w->fallback = 1;
            break;
        }
        if (wf.num == f->id && !(keep_last && pos == s->last))
            walk_message(w, f->descriptor, wf.p, wf.len);
    }
    w->e.mute--;
}

/* Writes singular field i of the message unless proto3 leaves it out. */
static void walk_single(wenc_t *w, const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                        size_t len, size_t base, size_t i, int *first)
{
    const ProtobufCFieldDescriptor *f = &desc->fields[i];
    wslot_t s = *walk_slot(w, base, i); /* a copy: nested messages move the array */
    int oneof = (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
    int holds = !oneof || oneof_holds(w, desc, base, i);
    wfield_t wf;

    if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        /* Outside a oneof protobuf-c merges a message given twice: its own reading. */
        if (!oneof && s.count > 1) {
            w->fallback = 1;
            return;
        }
        if (oneof && (s.count > 1 || !holds))
            walk_replaced(w, f, p, len, &s, holds);
    }
    if (!holds || w->fallback)
        return;
    if (wire_next(p, len, s.last, &wf) != 0) {
        w->fallback = 1;
        return;
    }
    if (!oneof) {
        int dflt;
        if (f->type == PROTOBUF_C_TYPE_STRING)
            dflt = wf.len == 0 || wf.p[0] == '\0';
        else if (f->type == PROTOBUF_C_TYPE_BYTES)
            dflt = wf.len == 0;
        else if (f->type == PROTOBUF_C_TYPE_MESSAGE)
            dflt = 0;
        else
            dflt = scalar_is_default(f->type, wf.v);
        if (dflt)
            return;
    }
    put_key(&w->e, f, *first);
    *first = 0;
    walk_value(w, f, &wf);
}

static void walk_message(wenc_t *w, const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                         size_t len)
{
    enc_t *e = &w->e;
    size_t n = desc->n_fields;
    size_t base = w->slots.len;
    int first = 1;

    if (e->depth + 1 > CT_OTLP_JSON_MAX_DEPTH) {
        w->fallback = 1; /* protobuf-c's reading, then emit_message's error */
        return;
    }
    if ((e->rc = ct_buf_reserve(&w->slots, n * sizeof(wslot_t))) != 0)
        return;
    memset(w->slots.data + base, 0, n * sizeof(wslot_t));
    w->slots.len += n * sizeof(wslot_t);
    if (walk_index(w, desc, p, len, base) != 0) {
        w->fallback = 1;
        goto out;
    }

    e->depth++;
    put_ch(e, '{');
    for (size_t i = 0; i < n && !w->fallback && e->rc == 0; i++) {
        wslot_t s = *walk_slot(w, base, i); /* a copy: nested messages move the array */
        if (s.count == 0)
            continue;
        if (desc->fields[i].label == PROTOBUF_C_LABEL_REPEATED)
            walk_repeated(w, &desc->fields[i], p, len, &s, &first);
        else
            walk_single(w, desc, p, len, base, i, &first);
    }
    put_ch(e, '}');
    e->depth--;
out:
    w->slots.len = base;
}

/*
 * Encodes from the wire: 0, WALK_FALLBACK when protobuf-c must read the input,
 * -E2BIG when out would pass its maximum, -ENOMEM. On failure out keeps its
 * length. Not in the header: the unit test calls it to see which inputs the
 * walk itself handles.
 */
int ct_otlp_json_encode_walk(const ProtobufCMessageDescriptor *desc, const uint8_t *pb, size_t len,
                             ct_buf_t *out);

int ct_otlp_json_encode_walk(const ProtobufCMessageDescriptor *desc, const uint8_t *pb, size_t len,
                             ct_buf_t *out)
{
    wenc_t w = {.e = {.out = out, .walk = 1}};
    size_t mark = out->len;
    int rc;

    walk_message(&w, desc, pb, len);
    if (w.fallback)
        rc = WALK_FALLBACK;
    else if (w.e.rc != 0)
        rc = w.e.rc;
    else
        rc = w.e.full ? -E2BIG : 0;
    if (rc != 0)
        out->len = mark;
    ct_buf_free(&w.slots);
    return rc;
}

/* ---------------------------------------------------------------------------
 * Decoder: OTLP/JSON -> protobuf bytes, written into the caller's buffer as
 * the input is read. No protobuf-c structure is built: those take hundreds of
 * bytes per message, so a request of empty spans would need some 75 times its
 * own size. Recursion follows the nesting of the input and is bounded by
 * CT_OTLP_JSON_MAX_DEPTH, checked before each object or array is entered.
 *
 * The bytes are those protobuf_c_message_pack would write for the message
 * (the unit test compares them): fields in descriptor order whatever the order
 * of the members, the last of repeated members winning, a oneof holding its
 * last member, proto3 fields at their default value left out. Each open
 * message records where each of its fields went; only when the input was out
 * of order or repeated a member does it have to rearrange them as it closes.
 */

typedef struct path_elem {
    const ProtobufCFieldDescriptor *field; /* ".name" when set, else "[index]" */
    size_t index;
} path_elem_t;

/* Where a field of an open message was written in out; len 0: nowhere. */
typedef struct slot {
    size_t off;
    size_t len;
} slot_t;

/* A message being read. */
typedef struct frame {
    const ProtobufCMessageDescriptor *desc;
    size_t base;   /* offset in out of its first field */
    size_t slots;  /* index in dec.slots of the slot of desc->fields[0] */
    int last;      /* descriptor index of the field written last, -1 for none */
    int unordered; /* a field came after a later one, or replaced a value */
} frame_t;

typedef struct dec {
    const char *start, *p, *end;
    ct_buf_t *out;
    size_t len;     /* out->len, or what it would be once out is full */
    ct_buf_t text;  /* unescaped or NUL-terminated text of a string, see read_string */
    ct_buf_t num;   /* NUL-terminated copy of a long number, for strtod */
    ct_buf_t slots; /* slot_t arrays of the open messages, the innermost last */
    ct_buf_t aside; /* fields set aside while a message's are put in order */
    int full;       /* out met its limit: bytes are only counted */
    int depth;
    size_t path_len;
    path_elem_t path[CT_OTLP_JSON_MAX_DEPTH + 1];
    char *err;
    size_t errlen;
} dec_t;

/* One scalar value, in the C type protobuf-c gives its field. */
typedef union elem {
    int32_t i32;
    uint32_t u32;
    int64_t i64;
    uint64_t u64;
    float f;
    double d;
    protobuf_c_boolean b;
    int e;
} elem_t;

static void err_append(char *err, size_t errlen, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void err_append(char *err, size_t errlen, size_t *n, const char *fmt, ...)
{
    if (*n + 1 >= errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(err + *n, errlen - *n, fmt, ap);
    va_end(ap);
    if (k > 0)
        *n = *n + (size_t)k < errlen ? *n + (size_t)k : errlen - 1;
}

/*
 * Records "<field path>: <message>" in the caller's err and returns rc. When
 * err is too small for both, the middle of the path gives way to "...": the
 * start locates the item and the message says what is wrong with it.
 */
static int dec_fail(dec_t *d, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int dec_fail(dec_t *d, int rc, const char *fmt, ...)
{
    char msg[256];
    char path[CT_OTLP_JSON_MAX_DEPTH * 24];
    size_t n = 0;

    if (d->err == NULL || d->errlen == 0)
        return rc;

    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    path[0] = '\0';
    for (size_t i = 0; i < d->path_len; i++) {
        const path_elem_t *pe = &d->path[i];
        if (pe->field) {
            char name[128];
            json_name(pe->field->name, name, sizeof(name));
            err_append(path, sizeof(path), &n, "%s%s", i ? "." : "", name);
        } else {
            err_append(path, sizeof(path), &n, "[%zu]", pe->index);
        }
    }

    size_t mlen = strlen(msg);
    if (n == 0) {
        snprintf(d->err, d->errlen, "%s", msg);
    } else if (n + 2 + mlen < d->errlen) {
        snprintf(d->err, d->errlen, "%s: %s", path, msg);
    } else if (d->errlen > mlen + 2 + 16) {
        size_t keep = d->errlen - 1 - mlen - 2 - 3;
        size_t head = keep / 2, tail = keep - head;
        snprintf(d->err, d->errlen, "%.*s...%s: %s", (int)head, path, path + n - tail, msg);
    } else {
        snprintf(d->err, d->errlen, "%s", msg);
    }
    return rc;
}

static int syntax_error_at(dec_t *d, const char *at, const char *what)
{
    return dec_fail(d, -EINVAL, "invalid JSON at offset %zu: %s", (size_t)(at - d->start), what);
}

static int syntax_error(dec_t *d, const char *what)
{
    return syntax_error_at(d, d->p, what);
}

static int no_memory(dec_t *d)
{
    return dec_fail(d, -ENOMEM, "out of memory");
}

static void skip_ws(dec_t *d)
{
    while (d->p < d->end && (*d->p == ' ' || *d->p == '\n' || *d->p == '\r' || *d->p == '\t'))
        d->p++;
}

/* The next significant character, 0 at the end of input. */
static char peek(dec_t *d)
{
    skip_ws(d);
    return d->p < d->end ? *d->p : '\0';
}

static const char *kind_of(char c)
{
    switch (c) {
    case '{':
        return "an object";
    case '[':
        return "an array";
    case '"':
        return "a string";
    case 't':
    case 'f':
        return "a boolean";
    case 'n':
        return "null";
    case '\0':
        return "the end of input";
    default:
        return c == '-' || (c >= '0' && c <= '9') ? "a number" : "an invalid token";
    }
}

static int enter(dec_t *d)
{
    if (++d->depth > CT_OTLP_JSON_MAX_DEPTH)
        return dec_fail(d, -E2BIG, "nesting deeper than %d levels", CT_OTLP_JSON_MAX_DEPTH);
    return 0;
}

/* Length of the JSON number at the start of s (RFC 8259 grammar), 0 if none. */
static size_t scan_number(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i >= n || !isdigit((unsigned char)s[i]))
        return 0;
    if (s[i] == '0')
        i++;
    else
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
    if (i < n && s[i] == '.') {
        if (++i >= n || !isdigit((unsigned char)s[i]))
            return 0;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        if (++i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || !isdigit((unsigned char)s[i]))
            return 0;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
    }
    return i;
}

static int read_number(dec_t *d, const char **s, size_t *n)
{
    size_t k = scan_number(d->p, (size_t)(d->end - d->p));
    if (k == 0)
        return syntax_error(d, "malformed number");
    *s = d->p;
    *n = k;
    d->p += k;
    return 0;
}

static int read_literal(dec_t *d, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(d->end - d->p) < n || memcmp(d->p, lit, n) != 0)
        return syntax_error(d, "unexpected token");
    d->p += n;
    return 0;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int read_u16_escape(const char *s, size_t avail, unsigned *cp)
{
    unsigned v = 0;
    if (avail < 6 || s[0] != '\\' || s[1] != 'u')
        return -1;
    for (int i = 2; i < 6; i++) {
        int h = hex_digit(s[i]);
        if (h < 0)
            return -1;
        v = v << 4 | (unsigned)h;
    }
    *cp = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/*
 * Decodes the escapes of a string's raw content (already checked for UTF-8)
 * into d->text, NUL-terminated. Escapes never grow the text, so n + 1 bytes
 * suffice. An unpaired UTF-16 surrogate (as JavaScript clients produce when
 * cutting a string) becomes U+FFFD rather than failing the request.
 */
static int unescape(dec_t *d, const char *s, size_t n, const char **out, size_t *outn)
{
    size_t k = 0;

    d->text.len = 0;
    if (ct_buf_reserve(&d->text, n + 1) != 0)
        return no_memory(d);
    char *o = (char *)d->text.data;
    for (size_t i = 0; i < n;) {
        if (s[i] != '\\') {
            o[k++] = s[i++];
            continue;
        }
        char c = s[i + 1];
        unsigned cp;
        switch (c) {
        case '"':
        case '\\':
        case '/':
            o[k++] = c;
            break;
        case 'b':
            o[k++] = '\b';
            break;
        case 'f':
            o[k++] = '\f';
            break;
        case 'n':
            o[k++] = '\n';
            break;
        case 'r':
            o[k++] = '\r';
            break;
        case 't':
            o[k++] = '\t';
            break;
        case 'u':
            if (read_u16_escape(s + i, n - i, &cp) != 0)
                return syntax_error_at(d, s + i, "malformed \\u escape in string");
            i += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                unsigned lo;
                if (read_u16_escape(s + i + 2, n - i - 2, &lo) == 0 && lo >= 0xdc00 &&
                    lo <= 0xdfff) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    i += 6;
                } else {
                    cp = 0xfffd;
                }
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                cp = 0xfffd;
            }
            k += put_utf8(o + k, cp);
            break;
        default:
            return syntax_error_at(d, s + i, "invalid escape in string");
        }
        i += 2;
    }
    o[k] = '\0';
    *out = o;
    *outn = k;
    return 0;
}

/*
 * Reads the string at the cursor (an opening quote), checking control
 * characters and UTF-8. Without escapes and without copy, *s points into the
 * input (not NUL-terminated); otherwise it is a NUL-terminated copy in
 * d->text, valid until the next string is read.
 */
static int read_string(dec_t *d, int copy, const char **s, size_t *n)
{
    const uint8_t *p = (const uint8_t *)d->p + 1;
    const uint8_t *end = (const uint8_t *)d->end;
    const uint8_t *begin = p;
    int escaped = 0;

    for (;;) {
        if (p >= end)
            return syntax_error(d, "unterminated string");
        uint8_t c = *p;
        if (c == '"')
            break;
        if (c == '\\') {
            escaped = 1;
            p += 2;
        } else if (c < 0x20) {
            d->p = (const char *)p;
            return syntax_error(d, "control character in string");
        } else if (c < 0x80) {
            p++;
        } else {
            size_t k = utf8_seq_len(p, (size_t)(end - p));
            if (k == 0) {
                d->p = (const char *)p;
                return syntax_error(d, "string is not valid UTF-8");
            }
            p += k;
        }
    }

    size_t raw = (size_t)(p - begin);
    d->p = (const char *)p + 1;
    if (escaped)
        return unescape(d, (const char *)begin, raw, s, n);
    if (copy) {
        d->text.len = 0;
        if (ct_buf_reserve(&d->text, raw + 1) != 0)
            return no_memory(d);
        memcpy(d->text.data, begin, raw);
        d->text.data[raw] = '\0';
        *s = (const char *)d->text.data;
    } else {
        *s = (const char *)begin;
    }
    *n = raw;
    return 0;
}

/* Skips a value of a field the schema does not have, still checking it is JSON. */
static int skip_value(dec_t *d)
{
    const char *s;
    size_t n;
    int rc = 0;
    char c = peek(d);

    switch (c) {
    case '"':
        return read_string(d, 0, &s, &n);
    case 't':
        return read_literal(d, "true");
    case 'f':
        return read_literal(d, "false");
    case 'n':
        return read_literal(d, "null");
    case '{':
    case '[':
        break;
    default:
        return read_number(d, &s, &n);
    }

    if ((rc = enter(d)) != 0)
        return rc;
    d->p++;
    if (peek(d) == (c == '{' ? '}' : ']')) {
        d->p++;
        d->depth--;
        return 0;
    }
    for (;;) {
        if (c == '{') {
            if (peek(d) != '"')
                return syntax_error(d, "expected a member name");
            if ((rc = read_string(d, 0, &s, &n)) != 0)
                return rc;
            if (peek(d) != ':')
                return syntax_error(d, "expected ':'");
            d->p++;
        }
        if ((rc = skip_value(d)) != 0)
            return rc;
        char sep = peek(d);
        d->p++;
        if (sep == ',')
            continue;
        if (sep == (c == '{' ? '}' : ']'))
            break;
        d->p--;
        return syntax_error(d, c == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
    }
    d->depth--;
    return 0;
}

/* The text of a number, or of a string meant as one (OTLP quotes 64-bit integers). */
static int read_numeric_text(dec_t *d, const char *want, const char **s, size_t *n, int *quoted)
{
    char c = peek(d);
    *quoted = c == '"';
    if (c == '"')
        return read_string(d, 0, s, n);
    if (c == '-' || (c >= '0' && c <= '9'))
        return read_number(d, s, n);
    return dec_fail(d, -EINVAL, "expected %s, got %s", want, kind_of(c));
}

/* strtod needs a terminated copy; numbers are short, d->num takes the rare long one. */
static int text_to_double(dec_t *d, const char *s, size_t n, double *out)
{
    char local[64];
    char *buf = local;

    if (n >= sizeof(local)) {
        d->num.len = 0;
        if (ct_buf_reserve(&d->num, n + 1) != 0)
            return no_memory(d);
        buf = (char *)d->num.data;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    *out = strtod(buf, NULL);
    return 0;
}

enum { INT_OK, INT_NOT, INT_RANGE };

/*
 * Parses decimal integer text exactly into sign and magnitude. A fraction or
 * exponent is taken only when the value is integral ("1e3", "5.0").
 */
static int parse_integer(dec_t *d, const char *s, size_t n, int *neg, uint64_t *mag)
{
    uint64_t v = 0;
    int over = 0;
    size_t i = 0;

    if (n == 0 || scan_number(s, n) != n)
        return INT_NOT;
    *neg = s[0] == '-';
    if (*neg)
        i++;
    for (; i < n && isdigit((unsigned char)s[i]); i++) {
        unsigned dig = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - dig) / 10)
            over = 1;
        else
            v = v * 10 + dig;
    }
    if (i == n) {
        *mag = v;
        return over ? INT_RANGE : INT_OK;
    }

    double x;
    if (text_to_double(d, s, n, &x) != 0)
        return INT_NOT;
    if (isinf(x) || fabs(x) >= 18446744073709551616.0)
        return INT_RANGE;
    if (x != floor(x))
        return INT_NOT;
    *mag = (uint64_t)fabs(x);
    return INT_OK;
}

/* Stores an integer in the C type of field type t, or reports it out of range. */
static int store_integer(ProtobufCType t, int neg, uint64_t mag, void *dst)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        if (mag > (neg ? 2147483648u : 2147483647u))
            return INT_RANGE;
        *(int32_t *)dst = neg ? (int32_t)(0 - (int64_t)mag) : (int32_t)mag;
        return INT_OK;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if ((neg && mag) || mag > UINT32_MAX)
            return INT_RANGE;
        *(uint32_t *)dst = (uint32_t)mag;
        return INT_OK;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (mag > (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX))
            return INT_RANGE;
        if (neg)
            *(int64_t *)dst = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
        else
            *(int64_t *)dst = (int64_t)mag;
        return INT_OK;
    default: /* UINT64, FIXED64 */
        if (neg && mag)
            return INT_RANGE;
        *(uint64_t *)dst = mag;
        return INT_OK;
    }
}

static int read_integer(dec_t *d, const ProtobufCFieldDescriptor *f, void *dst)
{
    const char *s;
    size_t n;
    int quoted, neg = 0;
    uint64_t mag = 0;
    int rc = read_numeric_text(d, "an integer (a number or a decimal string)", &s, &n, &quoted);
    if (rc != 0)
        return rc;

    int r = parse_integer(d, s, n, &neg, &mag);
    if (r == INT_OK)
        r = store_integer(f->type, neg, mag, dst);
    if (r == INT_NOT)
        return dec_fail(d, -EINVAL, "not an integer: %s%.*s%s", quoted ? "\"" : "",
                        n > 40 ? 40 : (int)n, s, quoted ? "\"" : "");
    if (r == INT_RANGE)
        return dec_fail(d, -EINVAL, "out of range for %s: %s%.*s%s", type_name(f->type),
                        quoted ? "\"" : "", n > 40 ? 40 : (int)n, s, quoted ? "\"" : "");
    return 0;
}

/* A number, or one of the strings "NaN", "Infinity", "-Infinity" (or a quoted number). */
static int read_floating(dec_t *d, const ProtobufCFieldDescriptor *f, void *dst)
{
    const char *s;
    size_t n;
    int quoted;
    double v;
    int rc = read_numeric_text(d, "a number", &s, &n, &quoted);
    if (rc != 0)
        return rc;

    if (quoted && n == 3 && memcmp(s, "NaN", 3) == 0) {
        v = NAN;
    } else if (quoted && n == 8 && memcmp(s, "Infinity", 8) == 0) {
        v = INFINITY;
    } else if (quoted && n == 9 && memcmp(s, "-Infinity", 9) == 0) {
        v = -INFINITY;
    } else if (n == 0 || scan_number(s, n) != n) {
        return dec_fail(d, -EINVAL, "not a number: \"%.*s\"", n > 40 ? 40 : (int)n, s);
    } else {
        if ((rc = text_to_double(d, s, n, &v)) != 0)
            return rc;
        if (isinf(v) || (f->type == PROTOBUF_C_TYPE_FLOAT && fabs(v) > FLT_MAX))
            return dec_fail(d, -EINVAL, "out of range for %s: %.*s", type_name(f->type),
                            n > 40 ? 40 : (int)n, s);
    }

    if (f->type == PROTOBUF_C_TYPE_FLOAT)
        *(float *)dst = (float)v;
    else
        *(double *)dst = v;
    return 0;
}

static int read_enum(dec_t *d, const ProtobufCFieldDescriptor *f, int *dst)
{
    const ProtobufCEnumDescriptor *ed = f->descriptor;
    const char *s;
    size_t n;
    int rc;

    if (peek(d) != '"')
        return read_integer(d, f, dst);
    if ((rc = read_string(d, 1, &s, &n)) != 0)
        return rc;
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value_by_name(ed, s);
    if (v == NULL)
        return dec_fail(d, -EINVAL, "unknown value \"%.*s\" of enum %s", n > 60 ? 60 : (int)n, s,
                        ed->name);
    *dst = v->value;
    return 0;
}

/*
 * The writer. d->len is the length out would have: out->len, until out meets
 * the caller's limit. From then on (d->full) bytes are only counted, and the
 * reader goes on: an invalid request is still reported as such, and the final
 * length tells whether the message fits once its replaced values are dropped.
 */
static int w_reserve(dec_t *d, size_t n)
{
    int rc = d->full ? 0 : ct_buf_reserve(d->out, n);

    if (rc == -E2BIG)
        d->full = 1;
    return rc == 0 || rc == -E2BIG ? 0 : no_memory(d);
}

static void w_set_len(dec_t *d, size_t len)
{
    d->len = len;
    if (!d->full)
        d->out->len = len;
}

static int w_bytes(dec_t *d, const void *p, size_t n)
{
    int rc = w_reserve(d, n);

    if (rc == 0 && !d->full && n > 0)
        memcpy(d->out->data + d->len, p, n);
    if (rc == 0)
        w_set_len(d, d->len + n);
    return rc;
}

static size_t varint_pack(uint64_t v, uint8_t *o)
{
    size_t n = 0;
    while (v >= 0x80) {
        o[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    o[n++] = (uint8_t)v;
    return n;
}

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static size_t key_pack(const ProtobufCFieldDescriptor *f, ProtobufCWireType wire, uint8_t *o)
{
    return varint_pack((uint64_t)f->id << 3 | (uint64_t)wire, o);
}

/* The key of a length-delimited field and a length of n: n bytes of it follow. */
static int w_key_len(dec_t *d, const ProtobufCFieldDescriptor *f, size_t n)
{
    uint8_t buf[24];
    size_t k = key_pack(f, PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED, buf);
    k += varint_pack(n, buf + k);
    return w_bytes(d, buf, k);
}

/*
 * Starts a length-delimited value of a length not known yet: the key and one
 * byte of length, which w_close_len widens, moving the value along, when the
 * value turns out longer than 127 bytes.
 */
static int w_open_len(dec_t *d, const ProtobufCFieldDescriptor *f, size_t *start)
{
    uint8_t buf[12];
    size_t k = key_pack(f, PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED, buf);
    int rc;

    buf[k++] = 0;
    rc = w_bytes(d, buf, k);
    *start = d->len;
    return rc;
}

static int w_close_len(dec_t *d, size_t start)
{
    size_t n = d->len - start;
    size_t k = varint_size(n);
    int rc;

    if (k > 1 && (rc = w_reserve(d, k - 1)) != 0)
        return rc;
    if (!d->full && k > 1)
        memmove(d->out->data + start + k - 1, d->out->data + start, n);
    if (!d->full)
        varint_pack(n, d->out->data + start - 1);
    w_set_len(d, d->len + k - 1);
    return 0;
}

/* A scalar as protobuf-c packs it; without its key inside a packed array. */
static int w_scalar(dec_t *d, const ProtobufCFieldDescriptor *f, const elem_t *v, int keyed)
{
    ProtobufCWireType wire = PROTOBUF_C_WIRE_TYPE_VARINT;
    uint8_t buf[24];
    size_t n = 0, width = 0;
    uint64_t u;

    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_ENUM:
        u = (uint64_t)(int64_t)v->i32; /* a negative one takes ten bytes, as an int64 */
        break;
    case PROTOBUF_C_TYPE_SINT32:
        u = v->i32 < 0 ? ~((uint32_t)v->i32 << 1) : (uint32_t)v->i32 << 1;
        break;
    case PROTOBUF_C_TYPE_SINT64:
        u = v->i64 < 0 ? ~((uint64_t)v->i64 << 1) : (uint64_t)v->i64 << 1;
        break;
    case PROTOBUF_C_TYPE_UINT32:
        u = v->u32;
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_UINT64:
        u = v->u64;
        break;
    case PROTOBUF_C_TYPE_BOOL:
        u = v->b != 0;
        break;
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        wire = PROTOBUF_C_WIRE_TYPE_32BIT;
        width = 4;
        u = v->u32;
        break;
    default: /* FIXED64, SFIXED64, DOUBLE */
        wire = PROTOBUF_C_WIRE_TYPE_64BIT;
        width = 8;
        u = v->u64;
        break;
    }

    if (keyed)
        n = key_pack(f, wire, buf);
    if (width == 0)
        n += varint_pack(u, buf + n);
    for (size_t i = 0; i < width; i++) /* little-endian, whatever the host */
        buf[n++] = (uint8_t)(u >> (8 * i));
    return w_bytes(d, buf, n);
}

/* Whether proto3 leaves the value out: zero, compared the way protobuf-c does (-0.0 too). */
static int scalar_is_zero(ProtobufCType t, const elem_t *v)
{
    switch (t) {
    case PROTOBUF_C_TYPE_FLOAT:
        return v->f == 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        return v->d == 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return v->u64 == 0;
    case PROTOBUF_C_TYPE_BOOL:
        return !v->b;
    default:
        return v->u32 == 0;
    }
}

static int read_string_field(dec_t *d, const ProtobufCFieldDescriptor *f, int *zero)
{
    const char *s;
    size_t n;
    int rc;
    char c;

    if ((c = peek(d)) != '"')
        return dec_fail(d, -EINVAL, "expected a string, got %s", kind_of(c));
    if ((rc = read_string(d, 0, &s, &n)) != 0)
        return rc;
    if (memchr(s, '\0', n))
        return dec_fail(d, -EINVAL, "string contains a NUL character");
    *zero = n == 0;
    if ((rc = w_key_len(d, f, n)) != 0)
        return rc;
    return w_bytes(d, s, n);
}

static int read_hex_id(dec_t *d, const ProtobufCFieldDescriptor *f, size_t size, int *zero)
{
    uint8_t b[16];
    const char *s;
    size_t n;
    int rc;

    if (peek(d) != '"')
        return dec_fail(d, -EINVAL, "expected a %zu-character hex string, got %s", size * 2,
                        kind_of(peek(d)));
    if ((rc = read_string(d, 0, &s, &n)) != 0)
        return rc;
    if (n == 0) { /* the empty id means "no id" */
        *zero = 1;
        return w_key_len(d, f, 0);
    }
    if (n != size * 2 || size > sizeof(b))
        return dec_fail(d, -EINVAL, "not a %zu-character hex string", size * 2);

    for (size_t i = 0; i < size; i++) {
        int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return dec_fail(d, -EINVAL, "not a %zu-character hex string", size * 2);
        b[i] = (uint8_t)(hi << 4 | lo);
    }
    if ((rc = w_key_len(d, f, size)) != 0)
        return rc;
    return w_bytes(d, b, size);
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/*
 * Standard or URL-safe alphabet, padding optional, as proto3 JSON readers
 * accept. Decoded straight into out, after a length widened once known.
 */
static int read_base64(dec_t *d, const ProtobufCFieldDescriptor *f, int *zero)
{
    const char *s;
    size_t n, start, k = 0;
    uint32_t acc = 0;
    int rc;

    if (peek(d) != '"')
        return dec_fail(d, -EINVAL, "expected a base64 string, got %s", kind_of(peek(d)));
    if ((rc = read_string(d, 0, &s, &n)) != 0)
        return rc;
    if (n % 4 == 0 && n > 0 && s[n - 1] == '=')
        n -= s[n - 2] == '=' ? 2 : 1;
    if (n % 4 == 1)
        return dec_fail(d, -EINVAL, "not valid base64");

    if ((rc = w_open_len(d, f, &start)) != 0 || (rc = w_reserve(d, n / 4 * 3 + 2)) != 0)
        return rc;
    uint8_t *b = d->full ? NULL : d->out->data + d->len;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(s[i]);
        if (v < 0)
            return dec_fail(d, -EINVAL, "not valid base64");
        acc = acc << 6 | (uint32_t)v;
        if (i % 4 == 3 && b) {
            b[k] = (uint8_t)(acc >> 16);
            b[k + 1] = (uint8_t)(acc >> 8);
            b[k + 2] = (uint8_t)acc;
        }
        if (i % 4 == 3) {
            k += 3;
            acc = 0;
        }
    }
    if (n % 4 == 2 && b) {
        b[k] = (uint8_t)(acc >> 4);
    } else if (n % 4 == 3 && b) {
        b[k] = (uint8_t)(acc >> 10);
        b[k + 1] = (uint8_t)(acc >> 2);
    }
    k += n % 4 == 0 ? 0 : n % 4 - 1;
    w_set_len(d, d->len + k);
    *zero = k == 0;
    return w_close_len(d, start);
}

static int read_message(dec_t *d, const ProtobufCMessageDescriptor *desc,
                        const ProtobufCFieldDescriptor *f);

/*
 * Reads one (non-null) value of field f and writes it, keyed unless it goes
 * in a packed array. *zero tells whether proto3 would leave it out.
 */
static int read_value(dec_t *d, const ProtobufCFieldDescriptor *f, int keyed, int *zero)
{
    elem_t v;
    int rc;
    char c;

    memset(&v, 0, sizeof(v));
    *zero = 0;
    switch (f->type) {
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        rc = read_floating(d, f, &v);
        break;
    case PROTOBUF_C_TYPE_ENUM:
        rc = read_enum(d, f, &v.e);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        c = peek(d);
        if (c != 't' && c != 'f')
            return dec_fail(d, -EINVAL, "expected true or false, got %s", kind_of(c));
        rc = read_literal(d, c == 't' ? "true" : "false");
        v.b = c == 't';
        break;
    case PROTOBUF_C_TYPE_STRING:
        return read_string_field(d, f, zero);
    case PROTOBUF_C_TYPE_BYTES:
        if (hex_id_size(f))
            return read_hex_id(d, f, hex_id_size(f), zero);
        return read_base64(d, f, zero);
    case PROTOBUF_C_TYPE_MESSAGE:
        return read_message(d, f->descriptor, f);
    default:
        rc = read_integer(d, f, &v);
        break;
    }
    if (rc != 0)
        return rc;
    *zero = scalar_is_zero(f->type, &v);
    return w_scalar(d, f, &v, keyed);
}

/*
 * Reads a JSON array into a repeated field: one keyed value per element, or
 * for a packed field one key and length before all of them. An empty array
 * writes nothing.
 */
static int read_repeated(dec_t *d, const ProtobufCFieldDescriptor *f)
{
    int packed = (f->flags & PROTOBUF_C_FIELD_FLAG_PACKED) != 0;
    size_t start = 0, count = 0;
    int rc, zero;
    char c = peek(d);

    if (c != '[')
        return dec_fail(d, -EINVAL, "expected an array, got %s", kind_of(c));
    if ((rc = enter(d)) != 0)
        return rc;
    d->p++;

    if (peek(d) == ']') {
        d->p++;
        goto done;
    }
    if (packed && (rc = w_open_len(d, f, &start)) != 0)
        return rc;
    for (;;) {
        d->path[d->path_len++] = (path_elem_t){NULL, count};
        if (peek(d) == 'n')
            rc = dec_fail(d, -EINVAL, "null is not allowed in an array");
        else
            rc = read_value(d, f, !packed, &zero);
        d->path_len--;
        if (rc != 0)
            return rc;
        count++;

        c = peek(d);
        if (c == ',') {
            d->p++;
            continue;
        }
        if (c == ']') {
            d->p++;
            break;
        }
        return syntax_error(d, "expected ',' or ']'");
    }
    if (packed && (rc = w_close_len(d, start)) != 0)
        return rc;

done:
    d->depth--;
    return 0;
}

/* Matches a member name against a field: its lowerCamelCase JSON name or its proto name. */
static int name_matches(const char *name, const char *key, size_t n)
{
    size_t i = 0;
    int up = 0;

    for (const char *c = name; *c; c++) {
        if (*c == '_') {
            up = 1;
            continue;
        }
        char want = up ? (char)toupper((unsigned char)*c) : *c;
        up = 0;
        if (i >= n || key[i] != want)
            goto proto_name;
        i++;
    }
    if (i == n)
        return 1;
proto_name:
    return strlen(name) == n && memcmp(name, key, n) == 0;
}

static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *desc,
                                                  const char *key, size_t n)
{
    for (unsigned i = 0; i < desc->n_fields; i++) {
        if (name_matches(desc->fields[i].name, key, n))
            return &desc->fields[i];
    }
    return NULL;
}

static slot_t *frame_slot(dec_t *d, const frame_t *fr, size_t i)
{
    return (slot_t *)d->slots.data + fr->slots + i;
}

/* Opens a message whose fields start at the end of out. */
static int frame_open(dec_t *d, frame_t *fr, const ProtobufCMessageDescriptor *desc)
{
    size_t size = desc->n_fields * sizeof(slot_t);

    *fr =
        (frame_t){.desc = desc, .base = d->len, .slots = d->slots.len / sizeof(slot_t), .last = -1};
    if (ct_buf_reserve(&d->slots, size) != 0)
        return no_memory(d);
    if (size > 0)
        memset(d->slots.data + d->slots.len, 0, size);
    d->slots.len += size;
    return 0;
}

/* A value protobuf-c would have overwritten: its bytes stay until the message closes. */
static void frame_drop(dec_t *d, frame_t *fr, size_t i)
{
    slot_t *s = frame_slot(d, fr, i);

    if (s->len > 0) {
        s->len = 0;
        fr->unordered = 1;
    }
}

/*
 * Puts the message's fields in descriptor order and drops the replaced
 * values. The largest field moves in place and the others are set aside
 * first, so at most half the message is copied aside.
 */
static int frame_order(dec_t *d, frame_t *fr)
{
    size_t n = fr->desc->n_fields, big = n, total = 0, big_at = 0, pos, from = 0;
    const slot_t *sl = frame_slot(d, fr, 0);
    uint8_t *data;

    for (size_t i = 0; i < n; i++) {
        if (sl[i].len > 0 && (big == n || sl[i].len > sl[big].len))
            big = i;
    }
    d->aside.len = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == big)
            big_at = fr->base + total;
        total += sl[i].len;
        if (sl[i].len == 0 || i == big || d->full)
            continue;
        if (ct_buf_append(&d->aside, d->out->data + sl[i].off, sl[i].len) != 0)
            return no_memory(d);
    }
    if (d->full) /* only the length counts now */
        goto out;

    data = d->out->data;
    if (big < n)
        memmove(data + big_at, data + sl[big].off, sl[big].len);
    pos = fr->base;
    for (size_t i = 0; i < n; i++) {
        if (sl[i].len > 0 && i != big) {
            memcpy(data + pos, d->aside.data + from, sl[i].len);
            from += sl[i].len;
        }
        pos += sl[i].len;
    }
out:
    w_set_len(d, fr->base + total);
    return 0;
}

/*
 * Reads the value of member f of the message and records where it went. An
 * earlier value of the field, or of another member of its oneof, is dropped:
 * protobuf-c would have overwritten it.
 */
static int read_field(dec_t *d, frame_t *fr, const ProtobufCFieldDescriptor *f)
{
    const ProtobufCMessageDescriptor *desc = fr->desc;
    size_t i = (size_t)(f - desc->fields), at = d->len;
    int rc, zero = 0;

    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        for (size_t j = 0; j < desc->n_fields; j++) {
            const ProtobufCFieldDescriptor *g = &desc->fields[j];
            if ((g->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                g->quantifier_offset == f->quantifier_offset)
                frame_drop(d, fr, j);
        }
    } else {
        frame_drop(d, fr, i);
    }

    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        rc = read_repeated(d, f);
    else
        rc = read_value(d, f, 1, &zero);
    if (rc != 0)
        return rc;

    /*
     * proto3 leaves out a field at its default value, but not a oneof member.
     * (A proto2 required field the input leaves out is not written, where
     * protobuf-c would write its default; no OTLP message has one.)
     */
    if (zero && f->label == PROTOBUF_C_LABEL_NONE && !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        w_set_len(d, at);
    if (d->len > at) {
        *frame_slot(d, fr, i) = (slot_t){at, d->len - at};
        if ((int)i <= fr->last)
            fr->unordered = 1;
        else
            fr->last = (int)i;
    }
    return 0;
}

/*
 * Reads a JSON object as a message of type desc: for field f, keyed and
 * length-delimited, or bare for the request itself (f NULL).
 */
static int read_message(dec_t *d, const ProtobufCMessageDescriptor *desc,
                        const ProtobufCFieldDescriptor *f)
{
    frame_t fr;
    const char *key;
    size_t keylen, start = 0;
    int rc;
    char c = peek(d);

    if (c != '{')
        return dec_fail(d, -EINVAL, "expected an object, got %s", kind_of(c));
    if ((rc = enter(d)) != 0)
        return rc;
    d->p++;
    if (f && (rc = w_open_len(d, f, &start)) != 0)
        return rc;
    if ((rc = frame_open(d, &fr, desc)) != 0)
        return rc;

    if (peek(d) == '}') {
        d->p++;
        goto done;
    }
    for (;;) {
        if (peek(d) != '"')
            return syntax_error(d, "expected a member name");
        if ((rc = read_string(d, 0, &key, &keylen)) != 0)
            return rc;
        if (peek(d) != ':')
            return syntax_error(d, "expected ':'");
        d->p++;

        const ProtobufCFieldDescriptor *mf = find_field(desc, key, keylen);
        if (mf == NULL) {
            rc = skip_value(d); /* unknown fields are ignored */
        } else if (peek(d) == 'n') {
            rc = read_literal(d, "null"); /* null means absent */
        } else {
            d->path[d->path_len++] = (path_elem_t){mf, 0};
            rc = read_field(d, &fr, mf);
            d->path_len--;
        }
        if (rc != 0)
            return rc;

        c = peek(d);
        if (c == ',') {
            d->p++;
            continue;
        }
        if (c == '}') {
            d->p++;
            break;
        }
        return syntax_error(d, "expected ',' or '}'");
    }

done:
    if (fr.unordered && (rc = frame_order(d, &fr)) != 0)
        return rc;
    d->slots.len = fr.slots * sizeof(slot_t);
    d->depth--;
    return f ? w_close_len(d, start) : 0;
}

/* ---------------------------------------------------------------------------
 * Public entry points.
 */

int ct_otlp_json_encode_msg(const ProtobufCMessage *msg, ct_buf_t *out)
{
    enc_t e = {.out = out, .rc = 0, .depth = 0};
    size_t mark = out->len;

    emit_message(&e, msg);
    if (e.rc != 0)
        out->len = mark;
    return e.rc;
}

/*
 * The encoder of old, unpacking with protobuf-c: for the inputs the wire
 * walker leaves to it, and for the unit test comparing the two. Not in the
 * header: no other caller should pay its memory.
 */
int ct_otlp_json_encode_unpacked(const ProtobufCMessageDescriptor *d, const uint8_t *pb, size_t len,
                                 ct_buf_t *out, char *err, size_t errlen);

int ct_otlp_json_encode_unpacked(const ProtobufCMessageDescriptor *d, const uint8_t *pb, size_t len,
                                 ct_buf_t *out, char *err, size_t errlen)
{
    arena_t arena;
    int rc;

    if (err && errlen)
        err[0] = '\0';
    arena_init(&arena);
    ProtobufCMessage *msg = protobuf_c_message_unpack(d, &arena.pc, len, pb);
    if (msg == NULL) {
        rc = -EINVAL;
        if (err)
            snprintf(err, errlen, "not a valid %s protobuf message", d->name);
        goto out;
    }

    rc = ct_otlp_json_encode_msg(msg, out);
    if (rc != 0 && err)
        snprintf(err, errlen, "%s",
                 rc == -E2BIG ? "output too large or nested too deep" : "out of memory");
out:
    arena_free(&arena);
    return rc;
}

int ct_otlp_json_encode_desc(const ProtobufCMessageDescriptor *d, const uint8_t *pb, size_t len,
                             ct_buf_t *out, char *err, size_t errlen)
{
    int rc;

    if (err && errlen)
        err[0] = '\0';
    rc = ct_otlp_json_encode_walk(d, pb, len, out);
    if (rc == WALK_FALLBACK)
        return ct_otlp_json_encode_unpacked(d, pb, len, out, err, errlen);
    if (rc != 0 && err)
        snprintf(err, errlen, "%s",
                 rc == -E2BIG ? "output too large or nested too deep" : "out of memory");
    return rc;
}

int ct_otlp_json_encode(ct_signal_t sig, const uint8_t *pb, size_t len, ct_buf_t *out, char *err,
                        size_t errlen)
{
    const ProtobufCMessageDescriptor *d = request_descriptor(sig);
    if (d == NULL) {
        if (err)
            snprintf(err, errlen, "unknown signal %d", (int)sig);
        return -EINVAL;
    }
    return ct_otlp_json_encode_desc(d, pb, len, out, err, errlen);
}

/* One reading of the whole input, writing from out->len on. */
static int decode_pass(dec_t *d, const ProtobufCMessageDescriptor *desc)
{
    int rc;

    d->p = d->start;
    d->len = d->out->len;
    d->full = 0;
    d->depth = 0;
    d->path_len = 0;
    d->slots.len = 0;
    if (peek(d) != '{')
        return dec_fail(d, -EINVAL, "expected a JSON object, got %s", kind_of(peek(d)));
    if ((rc = read_message(d, desc, NULL)) != 0)
        return rc;
    if (peek(d) != '\0')
        return syntax_error(d, "unexpected data after the object");
    return 0;
}

int ct_otlp_json_decode_desc(const ProtobufCMessageDescriptor *desc, const char *json, size_t len,
                             ct_buf_t *out, char *err, size_t errlen)
{
    dec_t d = {.start = json, .end = json + len, .out = out, .err = err, .errlen = errlen};
    size_t mark = out->len, max = out->max;
    int rc;

    if (err && errlen)
        err[0] = '\0';
    rc = decode_pass(&d, desc);
    if (rc == 0 && max && d.len > max) {
        rc = dec_fail(&d, -E2BIG, "message too large");
    } else if (rc == 0 && d.full) {
        /* Past the limit only on the way, with values replaced later: again, storing all. */
        out->len = mark;
        out->max = 0;
        rc = decode_pass(&d, desc);
        out->max = max;
    }

    if (rc != 0)
        out->len = mark;
    ct_buf_free(&d.text);
    ct_buf_free(&d.num);
    ct_buf_free(&d.slots);
    ct_buf_free(&d.aside);
    return rc;
}

int ct_otlp_json_decode(ct_signal_t sig, const char *json, size_t len, ct_buf_t *out, char *err,
                        size_t errlen)
{
    const ProtobufCMessageDescriptor *d = request_descriptor(sig);
    if (d == NULL) {
        if (err)
            snprintf(err, errlen, "unknown signal %d", (int)sig);
        return -EINVAL;
    }
    return ct_otlp_json_decode_desc(d, json, len, out, err, errlen);
}
