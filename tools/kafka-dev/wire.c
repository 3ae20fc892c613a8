/*
 * Kafka wire protocol for cotel-kafka-dev: reads Produce requests to apply message.max.bytes
 * and rewrites broker addresses in Metadata and FindCoordinator responses. Only the
 * non-flexible versions are handled; these are all that librdkafka 2.0.2's mock offers.
 */
#include "wire.h"

#include <stdlib.h>
#include <string.h>

/* The largest versions whose layout this file knows (later ones use flexible encoding). */
#define PRODUCE_MAX_VERSION          8
#define METADATA_MAX_VERSION         8
#define FIND_COORDINATOR_MAX_VERSION 2

/* offset (int64) and length (int32) in front of every record batch or legacy message. */
#define LOG_OVERHEAD 12

static const char proxy_host[] = "127.0.0.1";

int kafka_dev_buf_reserve(kafka_dev_buf_t *b, size_t n)
{
    if (b->cap - b->len >= n)
        return 0;
    if (b->off > 0 && b->cap - b->len + b->off >= n && b->off >= b->len / 2) {
        /* Reuse the consumed front instead of growing. */
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        return 0;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2)
            return -1;
        cap *= 2;
    }
    uint8_t *data = realloc(b->data, cap);
    if (!data)
        return -1;
    b->data = data;
    b->cap = cap;
    return 0;
}

int kafka_dev_buf_append(kafka_dev_buf_t *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (kafka_dev_buf_reserve(b, n) < 0)
        return -1;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void kafka_dev_buf_consume(kafka_dev_buf_t *b, size_t n)
{
    b->off += n;
    if (b->off == b->len)
        b->off = b->len = 0;
}

void kafka_dev_buf_free(kafka_dev_buf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

static int put_i16(kafka_dev_buf_t *b, int16_t v)
{
    uint8_t p[2] = {(uint8_t)((uint16_t)v >> 8), (uint8_t)v};
    return kafka_dev_buf_append(b, p, sizeof(p));
}

static int put_i32(kafka_dev_buf_t *b, int32_t v)
{
    uint32_t u = (uint32_t)v;
    uint8_t p[4] = {(uint8_t)(u >> 24), (uint8_t)(u >> 16), (uint8_t)(u >> 8), (uint8_t)u};
    return kafka_dev_buf_append(b, p, sizeof(p));
}

static int put_i64(kafka_dev_buf_t *b, int64_t v)
{
    if (put_i32(b, (int32_t)((uint64_t)v >> 32)) < 0)
        return -1;
    return put_i32(b, (int32_t)(uint32_t)(uint64_t)v);
}

static void patch_i32(kafka_dev_buf_t *b, size_t at, int32_t v)
{
    uint32_t u = (uint32_t)v;
    b->data[at] = (uint8_t)(u >> 24);
    b->data[at + 1] = (uint8_t)(u >> 16);
    b->data[at + 2] = (uint8_t)(u >> 8);
    b->data[at + 3] = (uint8_t)u;
}

/* Sets the size prefix of the frame that starts at offset start of b. */
static void finish_frame(kafka_dev_buf_t *b, size_t start)
{
    patch_i32(b, start, (int32_t)(b->len - start - 4));
}

/* A bounds-checked cursor over one frame; a read past the end sets bad and yields zeroes. */
typedef struct reader {
    const uint8_t *p;
    size_t len;
    size_t pos;
    int bad;
} reader_t;

static int have(reader_t *r, size_t n)
{
    if (r->bad || r->len - r->pos < n) {
        r->bad = 1;
        return 0;
    }
    return 1;
}

static int16_t read_i16(reader_t *r)
{
    if (!have(r, 2))
        return 0;
    r->pos += 2;
    return kafka_dev_be16(r->p + r->pos - 2);
}

static int32_t read_i32(reader_t *r)
{
    if (!have(r, 4))
        return 0;
    r->pos += 4;
    return kafka_dev_be32(r->p + r->pos - 4);
}

static void skip(reader_t *r, size_t n)
{
    if (have(r, n))
        r->pos += n;
}

/* A (nullable) string: int16 length, -1 for null. Returns its bytes, *n its length. */
static const uint8_t *read_str(reader_t *r, int16_t *n)
{
    *n = read_i16(r);
    if (*n <= 0)
        return r->p + r->pos;
    const uint8_t *s = r->p + r->pos;
    skip(r, (size_t)*n);
    return s;
}

/* (Nullable) bytes: int32 length, -1 for null. */
static const uint8_t *read_bytes(reader_t *r, int32_t *n)
{
    *n = read_i32(r);
    if (*n <= 0)
        return r->p + r->pos;
    const uint8_t *s = r->p + r->pos;
    skip(r, (size_t)*n);
    return s;
}

/*
 * A broker applies message.max.bytes to each record batch (or legacy message set entry) as
 * stored, i.e. with its offset and length prefix. Returns the size of the first batch over
 * max, or 0 when all fit. A truncated batch is left for the broker to judge.
 */
static int64_t oversized_batch(const uint8_t *p, int32_t n, int64_t max)
{
    int64_t pos = 0;

    while (n - pos >= LOG_OVERHEAD) {
        int32_t batch_len = kafka_dev_be32(p + pos + 8);
        if (batch_len < 0)
            return 0;
        int64_t size = LOG_OVERHEAD + (int64_t)batch_len;
        if (size > max)
            return size;
        pos += size;
    }
    return 0;
}

/* Appends one partition's MESSAGE_TOO_LARGE entry of a Produce response of version v. */
static int put_rejected_partition(kafka_dev_buf_t *b, int32_t partition, int16_t v)
{
    int rc = put_i32(b, partition);
    rc |= put_i16(b, KAFKA_ERR_MESSAGE_TOO_LARGE);
    rc |= put_i64(b, -1); /* base offset */
    if (v >= 2)
        rc |= put_i64(b, -1); /* log append time */
    if (v >= 5)
        rc |= put_i64(b, -1); /* log start offset */
    if (v >= 8) {
        rc |= put_i32(b, 0);  /* record errors: none */
        rc |= put_i16(b, -1); /* error message: null */
    }
    return rc ? -1 : 0;
}

static void note_rejection(kafka_dev_produce_check_t *out, const uint8_t *name, int16_t name_len,
                           int32_t partition, int64_t size)
{
    if (out->rejected++ > 0)
        return;
    size_t n = name_len > 0 ? (size_t)name_len : 0;
    if (n >= sizeof(out->first.topic))
        n = sizeof(out->first.topic) - 1;
    memcpy(out->first.topic, name, n);
    out->first.topic[n] = '\0';
    out->first.partition = partition;
    out->first.batch_bytes = size;
}

/*
 * One topic of a Produce request, r placed after its name. Counts accepted and rejected
 * partitions; with build set, also appends the accepted ones to out->forward and the
 * rejected ones' response entries to out->extra, each under the topic's name.
 */
static int walk_topic(reader_t *r, const uint8_t *name, int16_t name_len, int16_t version,
                      int64_t max, int build, kafka_dev_produce_check_t *out)
{
    size_t fwd_start = out->forward.len;
    size_t extra_start = out->extra.len;
    int32_t fwd_count = 0;
    int32_t extra_count = 0;
    size_t name_bytes = 2 + (name_len > 0 ? (size_t)name_len : 0);
    int rc = 0;

    if (build) {
        rc |= kafka_dev_buf_append(&out->forward, name - 2, name_bytes);
        rc |= put_i32(&out->forward, 0);
        rc |= kafka_dev_buf_append(&out->extra, name - 2, name_bytes);
        rc |= put_i32(&out->extra, 0);
    }

    int32_t partitions = read_i32(r);
    for (int32_t i = 0; i < partitions && !r->bad && rc == 0; i++) {
        size_t part_start = r->pos;
        int32_t index = read_i32(r);
        int32_t n;
        const uint8_t *records = read_bytes(r, &n);
        if (r->bad)
            break;
        int64_t size = max > 0 && n > 0 ? oversized_batch(records, n, max) : 0;
        if (size > 0) {
            if (!build)
                note_rejection(out, name, name_len, index, size);
            else
                rc |= put_rejected_partition(&out->extra, index, version);
            extra_count++;
        } else {
            if (!build)
                out->accepted++;
            else
                rc |= kafka_dev_buf_append(&out->forward, r->p + part_start, r->pos - part_start);
            fwd_count++;
        }
    }
    if (r->bad || rc)
        return -1;

    if (build) {
        /* A topic left with no partitions is dropped from that side entirely. */
        if (fwd_count > 0)
            patch_i32(&out->forward, fwd_start + name_bytes, fwd_count);
        else
            out->forward.len = fwd_start;
        if (extra_count > 0) {
            patch_i32(&out->extra, extra_start + name_bytes, extra_count);
            out->extra_topics++;
        } else {
            out->extra.len = extra_start;
        }
    }
    return fwd_count;
}

/* Walks all topics once; returns how many topics kept at least one partition, or -1. */
static int walk_topics(reader_t *r, int32_t topics, int16_t version, int64_t max, int build,
                       kafka_dev_produce_check_t *out)
{
    int kept = 0;

    for (int32_t t = 0; t < topics; t++) {
        int16_t name_len;
        const uint8_t *name = read_str(r, &name_len);
        if (r->bad)
            return -1;
        int n = walk_topic(r, name, name_len, version, max, build, out);
        if (n < 0)
            return -1;
        kept += n > 0;
    }
    return kept;
}

int kafka_dev_produce_check(const uint8_t *frame, size_t len, int64_t max_bytes,
                            kafka_dev_produce_check_t *out)
{
    reader_t r = {frame, len, 4, 0};
    int16_t n;

    if (len < 12)
        return -1;
    int16_t api_key = read_i16(&r);
    int16_t version = read_i16(&r);
    skip(&r, 4);      /* correlation id */
    read_str(&r, &n); /* client id */
    if (r.bad || api_key != KAFKA_API_PRODUCE || version < 0 || version > PRODUCE_MAX_VERSION)
        return -1;
    if (version >= 3)
        read_str(&r, &n); /* transactional id */
    out->acks = read_i16(&r);
    skip(&r, 4); /* timeout */
    size_t topics_at = r.pos;
    int32_t topics = read_i32(&r);
    size_t body_at = r.pos;
    if (r.bad || walk_topics(&r, topics, version, max_bytes, 0, out) < 0)
        return -1;
    if (out->rejected == 0)
        return 0; /* forwarded unchanged */

    /* Second pass: split the request into the part forwarded and the part answered here. */
    r.pos = body_at;
    if (kafka_dev_buf_append(&out->forward, frame, topics_at) < 0 || put_i32(&out->forward, 0) < 0)
        return -1;
    int kept = walk_topics(&r, topics, version, max_bytes, 1, out);
    if (kept < 0)
        return -1;
    patch_i32(&out->forward, topics_at, kept);
    if (out->accepted == 0)
        kafka_dev_buf_free(&out->forward);
    else
        finish_frame(&out->forward, 0);
    return 0;
}

void kafka_dev_produce_check_free(kafka_dev_produce_check_t *c)
{
    kafka_dev_buf_free(&c->forward);
    kafka_dev_buf_free(&c->extra);
}

int kafka_dev_produce_local_response(int32_t corr_id, int16_t api_version,
                                     const kafka_dev_buf_t *extra, int32_t extra_topics,
                                     kafka_dev_buf_t *out)
{
    size_t start = out->len;
    int rc = put_i32(out, 0);

    rc |= put_i32(out, corr_id);
    rc |= put_i32(out, extra_topics);
    rc |= kafka_dev_buf_append(out, extra->data, extra->len);
    if (api_version >= 1)
        rc |= put_i32(out, 0); /* throttle time */
    if (rc)
        return -1;
    finish_frame(out, start);
    return 0;
}

int kafka_dev_produce_merge_response(const uint8_t *frame, size_t len, int16_t api_version,
                                     const kafka_dev_buf_t *extra, int32_t extra_topics,
                                     kafka_dev_buf_t *out)
{
    /* size, correlation id, topic count ... and, from v1, the throttle time at the end */
    size_t tail = api_version >= 1 ? 4 : 0;
    if (len < 12 + tail)
        return -1;

    size_t start = out->len;
    int32_t topics = kafka_dev_be32(frame + 8);
    int rc = kafka_dev_buf_append(out, frame, 8);
    rc |= put_i32(out, topics + extra_topics);
    rc |= kafka_dev_buf_append(out, frame + 12, len - 12 - tail);
    rc |= kafka_dev_buf_append(out, extra->data, extra->len);
    rc |= kafka_dev_buf_append(out, frame + len - tail, tail);
    if (rc)
        return -1;
    finish_frame(out, start);
    return 0;
}

static const kafka_dev_port_map_t *find_port(const kafka_dev_port_map_t *map, size_t map_len,
                                             int32_t mock_port)
{
    for (size_t i = 0; i < map_len; i++) {
        if (map[i].mock_port == mock_port)
            return &map[i];
    }
    return NULL;
}

/*
 * Copies one host string and port from r to out, replacing them with the proxy's when the
 * port is a mock broker's.
 */
static int rewrite_host_port(reader_t *r, const kafka_dev_port_map_t *map, size_t map_len,
                             kafka_dev_buf_t *out)
{
    int16_t host_len;
    const uint8_t *host = read_str(r, &host_len);
    int32_t port = read_i32(r);
    if (r->bad)
        return -1;

    const kafka_dev_port_map_t *m = find_port(map, map_len, port);
    int rc = 0;
    if (m) {
        rc |= put_i16(out, (int16_t)(sizeof(proxy_host) - 1));
        rc |= kafka_dev_buf_append(out, proxy_host, sizeof(proxy_host) - 1);
        rc |= put_i32(out, m->proxy_port);
    } else {
        rc |= kafka_dev_buf_append(out, host - 2, 2 + (host_len > 0 ? (size_t)host_len : 0));
        rc |= put_i32(out, port);
    }
    return rc ? -1 : 0;
}

/* Metadata response: [throttle (v3+)] brokers[node id, host, port, rack (v1+)] rest... */
static int rewrite_metadata(reader_t *r, int16_t v, const kafka_dev_port_map_t *map, size_t map_len,
                            kafka_dev_buf_t *out)
{
    int16_t n;

    if (v >= 3)
        skip(r, 4);
    int32_t brokers = read_i32(r);
    if (r->bad || kafka_dev_buf_append(out, r->p, r->pos) < 0)
        return -1;
    for (int32_t i = 0; i < brokers; i++) {
        size_t at = r->pos;
        skip(r, 4); /* node id */
        if (r->bad || kafka_dev_buf_append(out, r->p + at, 4) < 0)
            return -1;
        if (rewrite_host_port(r, map, map_len, out) < 0)
            return -1;
        if (v >= 1) {
            at = r->pos;
            read_str(r, &n); /* rack */
            if (r->bad || kafka_dev_buf_append(out, r->p + at, r->pos - at) < 0)
                return -1;
        }
    }
    return kafka_dev_buf_append(out, r->p + r->pos, r->len - r->pos);
}

/* FindCoordinator response: [throttle (v1+)] error [message (v1+)] node id, host, port */
static int rewrite_find_coordinator(reader_t *r, int16_t v, const kafka_dev_port_map_t *map,
                                    size_t map_len, kafka_dev_buf_t *out)
{
    int16_t n;

    if (v >= 1)
        skip(r, 4);
    skip(r, 2);
    if (v >= 1)
        read_str(r, &n);
    skip(r, 4);
    if (r->bad || kafka_dev_buf_append(out, r->p, r->pos) < 0)
        return -1;
    if (rewrite_host_port(r, map, map_len, out) < 0)
        return -1;
    return kafka_dev_buf_append(out, r->p + r->pos, r->len - r->pos);
}

int kafka_dev_rewrite_addresses(const uint8_t *frame, size_t len, int16_t api_key,
                                int16_t api_version, const kafka_dev_port_map_t *map,
                                size_t map_len, kafka_dev_buf_t *out)
{
    reader_t r = {frame, len, 8, 0}; /* after size and correlation id */
    size_t start = out->len;
    int rc;

    if (len < 8)
        return -1;
    if (api_key == KAFKA_API_METADATA && api_version >= 0 && api_version <= METADATA_MAX_VERSION)
        rc = rewrite_metadata(&r, api_version, map, map_len, out);
    else if (api_key == KAFKA_API_FIND_COORDINATOR && api_version >= 0 &&
             api_version <= FIND_COORDINATOR_MAX_VERSION)
        rc = rewrite_find_coordinator(&r, api_version, map, map_len, out);
    else
        return 0;

    if (rc < 0 || r.bad) {
        out->len = start;
        return -1;
    }
    finish_frame(out, start);
    return 1;
}
