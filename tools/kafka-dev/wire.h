/*
 * The few pieces of the Kafka wire protocol cotel-kafka-dev needs to stand between clients
 * and librdkafka's mock brokers: frame buffers, the message.max.bytes check on Produce
 * requests, and rewriting the broker addresses the mock advertises into the proxy's own.
 */
#ifndef KAFKA_DEV_WIRE_H
#define KAFKA_DEV_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define KAFKA_API_PRODUCE          0
#define KAFKA_API_METADATA         3
#define KAFKA_API_FIND_COORDINATOR 10

#define KAFKA_ERR_MESSAGE_TOO_LARGE 10

/* A growable byte buffer; bytes before off have been consumed (sent or parsed). */
typedef struct kafka_dev_buf {
    uint8_t *data;
    size_t off;
    size_t len;
    size_t cap;
} kafka_dev_buf_t;

int kafka_dev_buf_append(kafka_dev_buf_t *b, const void *p, size_t n);
int kafka_dev_buf_reserve(kafka_dev_buf_t *b, size_t n);
void kafka_dev_buf_consume(kafka_dev_buf_t *b, size_t n);
void kafka_dev_buf_free(kafka_dev_buf_t *b);

static inline size_t kafka_dev_buf_pending(const kafka_dev_buf_t *b)
{
    return b->len - b->off;
}

static inline int32_t kafka_dev_be32(const uint8_t *p)
{
    return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}

static inline int16_t kafka_dev_be16(const uint8_t *p)
{
    return (int16_t)((uint16_t)p[0] << 8 | p[1]);
}

/* The first rejected partition of a Produce request, for the log line. */
typedef struct kafka_dev_rejection {
    char topic[128];
    int32_t partition;
    int64_t batch_bytes;
} kafka_dev_rejection_t;

/*
 * What the message.max.bytes check made of one Produce request. When some partitions were
 * rejected and others kept, forward holds the request rewritten without the rejected ones;
 * extra holds the response entries (extra_topics topics) saying MESSAGE_TOO_LARGE for them.
 */
typedef struct kafka_dev_produce_check {
    int16_t acks;
    int accepted;
    int rejected;
    kafka_dev_buf_t forward;
    kafka_dev_buf_t extra;
    int32_t extra_topics;
    kafka_dev_rejection_t first;
} kafka_dev_produce_check_t;

/*
 * Checks each record batch of the Produce request in frame (size prefix included) against
 * max_bytes the way a broker applies message.max.bytes. Returns 0 with out filled, or -1
 * when the request cannot be parsed (the caller forwards it unchanged and lets the broker
 * answer) or memory ran out. out must be zeroed; free it with kafka_dev_produce_check_free.
 */
int kafka_dev_produce_check(const uint8_t *frame, size_t len, int64_t max_bytes,
                            kafka_dev_produce_check_t *out);
void kafka_dev_produce_check_free(kafka_dev_produce_check_t *c);

/*
 * Produce responses carrying the rejected partitions: a whole response made here when every
 * partition was rejected (nothing went to the broker), or the broker's response to the
 * forwarded remainder with the rejected partitions' entries added. Both append to out a
 * frame with its size prefix; both return 0, or -1 on a malformed frame or out of memory.
 */
int kafka_dev_produce_local_response(int32_t corr_id, int16_t api_version,
                                     const kafka_dev_buf_t *extra, int32_t extra_topics,
                                     kafka_dev_buf_t *out);
int kafka_dev_produce_merge_response(const uint8_t *frame, size_t len, int16_t api_version,
                                     const kafka_dev_buf_t *extra, int32_t extra_topics,
                                     kafka_dev_buf_t *out);

/* One mock broker port and the proxy port clients are told to use instead. */
typedef struct kafka_dev_port_map {
    int32_t mock_port;
    int32_t proxy_port;
} kafka_dev_port_map_t;

/*
 * Rewrites the broker addresses in a Metadata or FindCoordinator response (frame with size
 * prefix) from the mock's ports to the proxy's, appending the result to out. Returns 1 when
 * the response was rewritten, 0 when it holds nothing to rewrite (api key or version not
 * handled), -1 when it is malformed or memory ran out.
 */
int kafka_dev_rewrite_addresses(const uint8_t *frame, size_t len, int16_t api_key,
                                int16_t api_version, const kafka_dev_port_map_t *map,
                                size_t map_len, kafka_dev_buf_t *out);

#endif
