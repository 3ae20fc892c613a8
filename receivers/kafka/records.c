/*
 * One Kafka record into one request: an otlp_proto value is checked against
 * the schema and passed on as it is; an otlp_json value is decoded into
 * protobuf. The record's topic, partition, offset and headers go along as
 * request metadata.
 */
#include "kafka_receiver.h"

#include "ct_wire.h"
#include "otlp_json.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * OTLP/JSON is longer than its protobuf (hex ids, field names, quotes), but
 * a few short JSON values take more bytes as protobuf (a bare 1 for a double
 * is 9): twice the JSON plus a little bounds any well-formed value.
 */
#define JSON_GROWTH(len) (2 * (len) + 4096)

int kafka_receiver_decode(ct_signal_t sig, int encoding, const void *value, size_t len,
                          ct_request_t **out, char *why, size_t whylen)
{
    ct_buf_t pb = {0};
    const uint8_t *p = value;
    size_t items = 0;
    int rc = 0;

    *out = NULL;
    why[0] = '\0';
    if (encoding == KR_ENCODING_JSON) {
        pb.max = JSON_GROWTH(len);
        rc = ct_otlp_json_decode(sig, value ? value : "", len, &pb, why, whylen);
        if (rc < 0) {
            if (rc == -E2BIG && why[0] == '\0')
                snprintf(why, whylen, "nested too deeply or too large");
            if (rc == -E2BIG)
                rc = -EINVAL;
            goto out;
        }
        p = pb.data;
        len = pb.len;
    }

    /* The decoder's output is valid protobuf, and the check also counts the items. */
    if (ct_wire_check(sig, p ? p : (const uint8_t *)"", len, &items, why, whylen) != 0) {
        rc = -EINVAL;
        goto out;
    }
    if (items == 0)
        goto out; /* an empty request: nothing to pass on */

    if (encoding == KR_ENCODING_JSON) {
        size_t n;
        uint8_t *bytes = ct_buf_take(&pb, &n);

        *out = ct_request_take(sig, bytes, n, items); /* frees bytes should it fail */
    } else {
        *out = ct_request_copy(sig, p, len, items);
    }
    if (*out == NULL)
        rc = -ENOMEM;
out:
    ct_buf_free(&pb);
    return rc;
}

/* Appends key (lowercased, as metadata keys are) and a copy of the value's bytes. */
static int metadata_add(ct_metadata_t *md, const char *key, const void *value, size_t len)
{
    char *k = strdup(key);
    char *v = malloc(len + 1);

    if (k == NULL || v == NULL) {
        free(k);
        free(v);
        return -ENOMEM;
    }
    for (char *c = k; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    if (len)
        memcpy(v, value, len);
    v[len] = '\0';
    md->keys[md->n] = k;
    md->values[md->n] = v;
    md->n++;
    return 0;
}

ct_metadata_t *kafka_receiver_metadata(const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *hdrs = NULL;
    ct_metadata_t *md;
    size_t nhdrs = 0;
    char num[32];
    int rc = 0;

    /* Headers are parsed lazily by librdkafka; a record without any has none to give. */
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs)
        nhdrs = rd_kafka_header_cnt(hdrs);
    md = ct_metadata_new(3 + nhdrs);
    if (md == NULL)
        return NULL;

    rc = metadata_add(md, "kafka.topic", rd_kafka_topic_name(m->rkt),
                      strlen(rd_kafka_topic_name(m->rkt)));
    snprintf(num, sizeof num, "%" PRId32, m->partition);
    if (rc == 0)
        rc = metadata_add(md, "kafka.partition", num, strlen(num));
    snprintf(num, sizeof num, "%" PRId64, m->offset);
    if (rc == 0)
        rc = metadata_add(md, "kafka.offset", num, strlen(num));
    for (size_t i = 0; i < nhdrs && rc == 0; i++) {
        const char *name;
        const void *value;
        size_t len;

        if (rd_kafka_header_get_all(hdrs, i, &name, &value, &len) != RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
        if (value == NULL)
            continue; /* a header without a value carries nothing to match on */
        rc = metadata_add(md, name, value, len);
    }
    if (rc != 0) {
        ct_metadata_unref(md);
        return NULL;
    }
    return md;
}
