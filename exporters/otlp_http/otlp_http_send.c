/*
 * One send attempt of the otlp_http exporter: the body in the configured
 * encoding and compression, a POST through a pooled libcurl handle, and the
 * answer read as OTLP/HTTP defines it (partial success, Status, Retry-After).
 */
#include "otlp_http_exporter.h"

#include "ct_wire.h"
#include "otlp_json.h"

#include "google/rpc/status.pb-c.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb-c.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

#include <zlib.h>
#include <zstd.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define RESPONSE_MAX      (1u << 20) /* answer bytes kept; the rest is read and dropped */
#define POOL_MAX          64         /* idle handles kept; more are closed after use */
#define RETRY_AFTER_MAX_S 3600       /* a longer hint is taken as this */

static const ProtobufCMessageDescriptor *const response_desc[CT_SIGNAL_COUNT] = {
    &opentelemetry__proto__collector__trace__v1__export_trace_service_response__descriptor,
    &opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__descriptor,
    &opentelemetry__proto__collector__logs__v1__export_logs_service_response__descriptor,
};

/* What the server sent back. */
typedef struct answer {
    ct_buf_t body;
    bool json;               /* its Content-Type says JSON */
    uint64_t retry_after_ns; /* 0: no Retry-After */
} answer_t;

/* --- the handle pool ------------------------------------------------------------------- */

static CURL *pool_take(otlp_http_exporter_t *st)
{
    CURL *c = NULL;

    pthread_mutex_lock(&st->lock);
    if (st->nidle > 0)
        c = st->idle[--st->nidle];
    pthread_mutex_unlock(&st->lock);
    return c != NULL ? c : curl_easy_init();
}

static void pool_give(otlp_http_exporter_t *st, CURL *c)
{
    pthread_mutex_lock(&st->lock);
    if (st->nidle == st->cap_idle && st->cap_idle < POOL_MAX) {
        size_t cap = st->cap_idle ? st->cap_idle * 2 : 8;
        CURL **p = realloc(st->idle, cap * sizeof *p);
        if (p != NULL) {
            st->idle = p;
            st->cap_idle = cap;
        }
    }
    if (st->nidle < st->cap_idle) {
        st->idle[st->nidle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&st->lock);
    if (c != NULL)
        curl_easy_cleanup(c);
}

void otlp_http_exporter_pool_free(otlp_http_exporter_t *st)
{
    for (size_t i = 0; i < st->nidle; i++)
        curl_easy_cleanup(st->idle[i]);
    free(st->idle);
    st->idle = NULL;
    st->nidle = st->cap_idle = 0;
}

/* --- the body --------------------------------------------------------------------------- */

static int deflate_body(bool gzip, const uint8_t *p, size_t n, ct_buf_t *out)
{
    z_stream z = {0};
    int rc = 0;

    if (n > UINT_MAX)
        return -E2BIG;
    /* Level 1: telemetry repeats itself so much that more effort buys little size. */
    if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, gzip ? 15 + 16 : 15, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK)
        return -ENOMEM;
    rc = ct_buf_reserve(out, deflateBound(&z, (uLong)n));
    if (rc != 0)
        goto out;
    z.next_in = (Bytef *)p;
    z.avail_in = (uInt)n;
    z.next_out = out->data;
    z.avail_out = (uInt)(out->cap > UINT_MAX ? UINT_MAX : out->cap);
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
        rc = -EIO;
        goto out;
    }
    out->len = z.total_out;
out:
    deflateEnd(&z);
    return rc;
}

static int zstd_body(const uint8_t *p, size_t n, ct_buf_t *out)
{
    size_t bound = ZSTD_compressBound(n);
    size_t r;
    int rc = ct_buf_reserve(out, bound);

    if (rc != 0)
        return rc;
    r = ZSTD_compress(out->data, bound, p, n, 1);
    if (ZSTD_isError(r))
        return -EIO;
    out->len = r;
    return 0;
}

/*
 * The bytes to POST: the request as it is, or as OTLP/JSON, then compressed.
 * *body points into req, json or packed. Returns 0 or a negative errno.
 */
static int make_body(const otlp_http_exporter_t *st, const ct_request_t *req, ct_buf_t *json,
                     ct_buf_t *packed, const uint8_t **body, size_t *len, char *why, size_t whylen)
{
    int rc = 0;

    *body = req->data;
    *len = req->len;
    if (st->cfg->encoding == OTLP_HTTP_ENCODING_JSON) {
        rc = ct_otlp_json_encode(req->signal, req->data, req->len, json, why, whylen);
        if (rc != 0)
            return rc;
        *body = json->data;
        *len = json->len;
    }
    switch (st->compression) {
    case OTLP_HTTP_COMP_GZIP:
    case OTLP_HTTP_COMP_DEFLATE:
        rc = deflate_body(st->compression == OTLP_HTTP_COMP_GZIP, *body, *len, packed);
        break;
    case OTLP_HTTP_COMP_ZSTD:
        rc = zstd_body(*body, *len, packed);
        break;
    default:
        return 0;
    }
    if (rc == 0) {
        *body = packed->data;
        *len = packed->len;
    } else {
        snprintf(why, whylen, "cannot compress the body");
    }
    return rc;
}

/* --- the answer ------------------------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    answer_t *a = arg;
    size_t len = size * n;
    size_t room = a->body.max - a->body.len;

    ct_buf_append(&a->body, p, len < room ? len : room); /* short of memory: less to read */
    return len;
}

/* Retry-After: delay-seconds or an HTTP date. 0 when neither. */
static uint64_t parse_retry_after(const char *v)
{
    char *end;
    unsigned long long secs;
    time_t when, now;

    if (isdigit((unsigned char)*v)) {
        secs = strtoull(v, &end, 10);
        if (*end != '\0')
            return 0;
    } else {
        when = curl_getdate(v, NULL);
        now = time(NULL);
        if (when == (time_t)-1 || when <= now)
            return 0;
        secs = (unsigned long long)(when - now);
    }
    if (secs > RETRY_AFTER_MAX_S)
        secs = RETRY_AFTER_MAX_S;
    return secs * 1000000000ull;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    answer_t *a = arg;
    size_t len = size * n;
    char line[256];
    size_t k = len < sizeof line - 1 ? len : sizeof line - 1;
    char *v;

    memcpy(line, p, k);
    line[k] = '\0';
    while (k > 0 && (line[k - 1] == '\r' || line[k - 1] == '\n' || line[k - 1] == ' '))
        line[--k] = '\0';
    if (strncmp(line, "HTTP/", 5) == 0) { /* a new answer (after 100 Continue): start over */
        a->json = false;
        a->retry_after_ns = 0;
        return len;
    }
    v = strchr(line, ':');
    if (v == NULL)
        return len;
    *v++ = '\0';
    v += strspn(v, " \t");
    if (strcasecmp(line, "Retry-After") == 0)
        a->retry_after_ns = parse_retry_after(v);
    else if (strcasecmp(line, "Content-Type") == 0)
        a->json = strncasecmp(v, "application/json", 16) == 0;
    return len;
}

/* The answer's body as protobuf of `desc`: itself, or decoded from JSON into tmp. */
static bool answer_proto(const answer_t *a, const ProtobufCMessageDescriptor *desc, ct_buf_t *tmp,
                         const uint8_t **p, size_t *n)
{
    if (!a->json) {
        *p = a->body.data;
        *n = a->body.len;
        return true;
    }
    if (ct_otlp_json_decode_desc(desc, (const char *)a->body.data, a->body.len, tmp, NULL, 0) != 0)
        return false;
    *p = tmp->data;
    *n = tmp->len;
    return true;
}

/* Reads ExportPartialSuccess {rejected_* = 1, error_message = 2} from a 2xx answer. */
static void read_partial_success(const answer_t *a, ct_signal_t sig, ct_send_result_t *res)
{
    ct_buf_t tmp = {.max = RESPONSE_MAX * 8};
    const uint8_t *p, *ps;
    size_t n, len, off = 0;

    if (a->body.len == 0 || !answer_proto(a, response_desc[sig], &tmp, &p, &n) ||
        ct_wire_find_bytes(p, n, 1, &ps, &len) != 0)
        goto out;
    while (off < len) {
        uint64_t tag, v;
        size_t k = ct_wire_get_varint(ps + off, len - off, &tag);

        if (k == 0)
            break;
        off += k;
        if ((tag & 7) == 0) {
            if ((k = ct_wire_get_varint(ps + off, len - off, &v)) == 0)
                break;
            off += k;
            if (tag >> 3 == 1)
                res->rejected = (size_t)v;
        } else if ((tag & 7) == 2) {
            if ((k = ct_wire_get_varint(ps + off, len - off, &v)) == 0 || v > len - off - k)
                break;
            off += k;
            if (tag >> 3 == 2)
                snprintf(res->message, sizeof res->message, "%.*s", (int)v, ps + off);
            off += (size_t)v;
        } else {
            break; /* no other wire type is in this message */
        }
    }
out:
    ct_buf_free(&tmp);
}

static ct_code_t code_of_http(long status)
{
    switch (status) {
    case 400:
        return CT_INVALID_ARGUMENT;
    case 401:
        return CT_UNAUTHENTICATED;
    case 403:
        return CT_PERMISSION_DENIED;
    case 404:
        return CT_NOT_FOUND;
    case 429:
        return CT_RESOURCE_EXHAUSTED;
    case 502:
    case 503:
    case 504:
        return CT_UNAVAILABLE;
    default:
        return CT_UNKNOWN;
    }
}

/* A non-2xx answer: retryable only for 429, 502, 503, 504, as OTLP/HTTP says. */
static void read_failure(const answer_t *a, long status, ct_send_result_t *res)
{
    ct_buf_t tmp = {.max = RESPONSE_MAX * 8};
    ProtobufCMessage *m = NULL;
    const uint8_t *p, *text = a->body.data;
    size_t n, tlen = 0;

    res->code = code_of_http(status);
    res->retryable = status == 429 || status == 502 || status == 503 || status == 504;
    res->retry_after_ns = a->retry_after_ns;
    if (a->body.len > 0 && answer_proto(a, &google__rpc__status__descriptor, &tmp, &p, &n))
        m = protobuf_c_message_unpack(&google__rpc__status__descriptor, NULL, n, p);
    if (m != NULL) {
        const Google__Rpc__Status *st = (const Google__Rpc__Status *)m;
        snprintf(res->message, sizeof res->message, "HTTP %ld: %s", status,
                 st->message ? st->message : "");
        goto out;
    }
    /* Not a Status: the body, as far as it is text. */
    while (tlen < a->body.len && tlen < 200 && (isprint(text[tlen]) || text[tlen] == ' '))
        tlen++;
    snprintf(res->message, sizeof res->message, "HTTP %ld%s%.*s", status, tlen ? ": " : "",
             (int)tlen, tlen ? (const char *)text : "");
out:
    if (m != NULL)
        protobuf_c_message_free_unpacked(m, NULL);
    ct_buf_free(&tmp);
}

/* A transfer that got no answer: mostly worth another try, unless it can never work. */
static void read_curl_error(CURLcode rc, const char *errbuf, ct_send_result_t *res)
{
    const char *text = errbuf[0] ? errbuf : curl_easy_strerror(rc);

    switch (rc) {
    case CURLE_ABORTED_BY_CALLBACK:
        res->code = CT_CANCELLED;
        text = "aborted: the exporter is shutting down";
        break;
    case CURLE_OPERATION_TIMEDOUT:
        res->code = CT_DEADLINE_EXCEEDED;
        res->retryable = true;
        break;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
        res->code = CT_INVALID_ARGUMENT;
        break;
    default:
        res->code = CT_UNAVAILABLE;
        res->retryable = true;
        break;
    }
    snprintf(res->message, sizeof res->message, "%s", text);
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    otlp_http_exporter_t *st = arg;

    return atomic_load(&st->stopping) ? 1 : 0;
}

static void set_options(otlp_http_exporter_t *st, CURL *c, const char *url, const uint8_t *body,
                        size_t len, answer_t *a, char *errbuf)
{
    const otlp_http_exporter_tls_cfg_t *tls = &st->cfg->tls;

    curl_easy_reset(c); /* the previous send's options go; its connections stay */
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_USERAGENT, OTLP_HTTP_USER_AGENT);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, st->headers);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, len ? (const char *)body : "");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)st->timeout_ms);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* every encoding curl can read */
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, st);
    if (tls->ca_file != NULL && tls->ca_file[0])
        curl_easy_setopt(c, CURLOPT_CAINFO, tls->ca_file);
    if (tls->cert_file != NULL && tls->cert_file[0]) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, tls->cert_file);
        curl_easy_setopt(c, CURLOPT_SSLKEY, tls->key_file);
    }
    if (tls->insecure_skip_verify) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

ct_send_result_t otlp_http_exporter_send(ct_instance_t *inst, ct_request_t *req)
{
    otlp_http_exporter_t *st = inst->state;
    ct_send_result_t res = {.code = CT_OK};
    ct_buf_t json = {0}, packed = {0};
    answer_t a = {.body = {.max = RESPONSE_MAX}};
    const char *url = st->url[req->signal];
    char errbuf[CURL_ERROR_SIZE] = "", why[256] = "";
    const uint8_t *body;
    size_t len;
    CURL *c = NULL;
    long status = 0;
    CURLcode rc;
    int brc;

    if (url == NULL) {
        res.code = CT_FAILED_PRECONDITION;
        snprintf(res.message, sizeof res.message, "no URL for %s: set endpoint or %s_endpoint",
                 ct_signal_name(req->signal), ct_signal_name(req->signal));
        goto out;
    }
    brc = make_body(st, req, &json, &packed, &body, &len, why, sizeof why);
    if (brc != 0) {
        res.code = brc == -ENOMEM ? CT_UNAVAILABLE : CT_INTERNAL;
        res.retryable = brc == -ENOMEM;
        snprintf(res.message, sizeof res.message, "%s", brc == -ENOMEM ? "out of memory" : why);
        goto out;
    }
    c = pool_take(st);
    if (c == NULL) {
        res.code = CT_UNAVAILABLE;
        res.retryable = true;
        snprintf(res.message, sizeof res.message, "out of memory");
        goto out;
    }

    set_options(st, c, url, body, len, &a, errbuf);
    rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        read_curl_error(rc, errbuf, &res);
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300)
        read_partial_success(&a, req->signal, &res);
    else
        read_failure(&a, status, &res);
out:
    if (c != NULL)
        pool_give(st, c);
    ct_buf_free(&a.body);
    ct_buf_free(&json);
    ct_buf_free(&packed);
    return res;
}
