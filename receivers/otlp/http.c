/*
 * The otlp receiver's HTTP transport, on libmicrohttpd: POSTs of OTLP
 * protobuf or JSON to /v1/{traces,metrics,logs}, bodies decompressed as they
 * stream in and bounded by max_request_body_size, errors as google.rpc.Status.
 */
#include "otlp_receiver.h"

#include "ct_net.h"
#include "ct_wire.h"
#include "otlp_json.h"

#include "google/rpc/status.pb-c.h"

#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HTTP_MIN_THREADS    4
#define HTTP_MAX_THREADS    16
#define HTTP_IDLE_TIMEOUT_S 60 /* a connection silent this long is closed */
/* Connections open at once: the open-files limit less a share kept for the rest of cotel. */
#define HTTP_FD_RESERVE_MIN 64
#define HTTP_CONN_MIN       64
/* After a refusal the rest of a body is read and dropped, up to this much; then the connection. */
#define HTTP_DISCARD_MAX (4u << 20)

static const char *const TYPE_PROTO = "application/x-protobuf";
static const char *const TYPE_JSON = "application/json";
static const char *const TYPE_TEXT = "text/plain; charset=utf-8";

enum { BODY_PROTO, BODY_JSON };

struct otlp_http {
    otlp_receiver_t *r;
    const otlp_http_cfg_t *cfg;
    struct MHD_Daemon *daemon;
    int listen_fd;  /* ours until the daemon has it, and again after quiescing */
    char *tls_cert; /* PEM, kept for the daemon's life */
    char *tls_key;
    char *tls_client_ca;
    char start_error[256]; /* libmicrohttpd's last message while starting */
    bool starting;
    unsigned nthreads;
    unsigned conn_limit;     /* connections open at once; more wait in the kernel's queue */
    atomic_uint conns;       /* connections open now */
    ct_log_limit_t full_log; /* the warning that conn_limit is reached */
    atomic_bool stopping;    /* new requests are answered 503 */
    atomic_uint active;      /* requests between their headers and their completion */
};

/* One request from its headers to its completion (libmicrohttpd's con_cls). */
typedef struct http_req {
    otlp_http_t *h;
    ct_signal_t sig;
    int body_type;      /* BODY_* */
    otlp_decomp_t *dec; /* Content-Encoding undone as the body streams in */
    ct_buf_t body;      /* decompressed, max = max_request_body_size */
    uint64_t raw;       /* bytes received as sent */
    unsigned status;    /* non-zero: refused with this HTTP status; the rest is dropped */
    ct_code_t code;
    char msg[512];
} http_req_t;

/* --- answers ---------------------------------------------------------------------------- */

/* Whether an Origin matches a configured pattern, where '*' stands for any run of characters. */
static bool origin_match(const char *pat, const char *s)
{
    const char *star = NULL, *resume = NULL;

    while (*s) {
        if (*pat == '*') {
            star = pat++;
            resume = s;
        } else if (tolower((unsigned char)*pat) == tolower((unsigned char)*s)) {
            pat++;
            s++;
        } else if (star != NULL) {
            pat = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*pat == '*')
        pat++;
    return *pat == '\0';
}

/* The request's Origin when CORS allows it, else NULL. */
static const char *cors_origin(const otlp_http_t *h, struct MHD_Connection *conn)
{
    const otlp_cors_cfg_t *c = &h->cfg->cors;
    const char *origin;

    if (!h->cfg->cors_present || c->allowed_origins.n == 0)
        return NULL;
    origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    if (origin == NULL)
        return NULL;
    for (size_t i = 0; i < c->allowed_origins.n; i++)
        if (origin_match(c->allowed_origins.v[i], origin))
            return origin;
    return NULL;
}

/*
 * Queues one answer. Every answer carries the CORS headers when the request
 * came from an allowed origin, so a browser can read errors too; during
 * shutdown every answer says Connection: close.
 */
static enum MHD_Result respond(otlp_http_t *h, struct MHD_Connection *conn, unsigned status,
                               const char *type, const void *body, size_t len)
{
    struct MHD_Response *resp;
    const char *origin = cors_origin(h, conn);
    enum MHD_Result ok;

    resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO; /* out of memory: libmicrohttpd closes the connection */
    if (type != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "POST");
    if (atomic_load(&h->stopping)) /* the connection is not to be used again */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    if (origin != NULL) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        MHD_add_response_header(resp, "Access-Control-Allow-Credentials", "true");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Origin");
    }
    ok = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result respond_text(otlp_http_t *h, struct MHD_Connection *conn, unsigned status,
                                    const char *text)
{
    return respond(h, conn, status, TYPE_TEXT, text, strlen(text));
}

/*
 * Answers with a google.rpc.Status body in the request's encoding: protobuf
 * (code 1, message 2), or the same message as OTLP/JSON.
 */
static enum MHD_Result respond_status(otlp_http_t *h, struct MHD_Connection *conn, unsigned status,
                                      int body_type, ct_code_t code, const char *msg)
{
    ct_buf_t pb = {.max = 64u << 10}, js = {.max = 64u << 10};
    const char *type = body_type == BODY_JSON ? TYPE_JSON : TYPE_PROTO;
    enum MHD_Result ok;
    int rc = 0;

    if (code != CT_OK) {
        rc = ct_wire_put_tag(&pb, 1, 0);
        rc = rc ? rc : ct_wire_put_varint(&pb, (uint64_t)code);
    }
    if (rc == 0 && msg != NULL && msg[0] != '\0')
        rc = ct_wire_put_bytes(&pb, 2, msg, strlen(msg));
    if (rc == 0 && body_type == BODY_JSON)
        rc = ct_otlp_json_encode_desc(&google__rpc__status__descriptor, pb.data, pb.len, &js, NULL,
                                      0);
    if (rc != 0)
        ok = respond(h, conn, status, type, NULL, 0); /* the status alone still tells */
    else if (body_type == BODY_JSON)
        ok = respond(h, conn, status, type, js.data, js.len);
    else
        ok = respond(h, conn, status, type, pb.data, pb.len);
    ct_buf_free(&pb);
    ct_buf_free(&js);
    return ok;
}

/* Whether every header a preflight asks for is allowed (simple ones, configured ones, "*"). */
static bool cors_headers_allowed(const otlp_cors_cfg_t *c, const char *asked)
{
    static const char *const always[] = {"accept", "content-type", "x-requested-with", "origin"};
    char name[128];

    while (asked != NULL && *asked != '\0') {
        size_t n;
        bool ok = false;

        asked += strspn(asked, " \t,");
        n = strcspn(asked, ",");
        while (n > 0 && (asked[n - 1] == ' ' || asked[n - 1] == '\t'))
            n--;
        if (n == 0)
            break;
        if (n >= sizeof name)
            return false;
        memcpy(name, asked, n);
        name[n] = '\0';
        for (size_t i = 0; i < CT_ARRAY_LEN(always) && !ok; i++)
            ok = strcasecmp(always[i], name) == 0;
        for (size_t i = 0; i < c->allowed_headers.n && !ok; i++)
            ok = strcmp(c->allowed_headers.v[i], "*") == 0 ||
                 strcasecmp(c->allowed_headers.v[i], name) == 0;
        if (!ok)
            return false;
        asked += n;
        asked += strcspn(asked, ",");
    }
    return true;
}

/*
 * A browser's preflight (OPTIONS with Access-Control-Request-Method): 204,
 * with the permissions only when origin, method and headers are all allowed,
 * so that a refused preflight reads as a refusal in the browser.
 */
static enum MHD_Result respond_preflight(otlp_http_t *h, struct MHD_Connection *conn)
{
    const otlp_cors_cfg_t *c = &h->cfg->cors;
    const char *origin = cors_origin(h, conn);
    const char *method =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Access-Control-Request-Method");
    const char *headers =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Access-Control-Request-Headers");
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    char age[32];
    enum MHD_Result ok;

    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY,
                            "Origin, Access-Control-Request-Method, "
                            "Access-Control-Request-Headers");
    if (origin != NULL && method != NULL && strcasecmp(method, "POST") == 0 &&
        cors_headers_allowed(c, headers)) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        MHD_add_response_header(resp, "Access-Control-Allow-Credentials", "true");
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", "POST");
        if (headers != NULL && headers[0] != '\0')
            MHD_add_response_header(resp, "Access-Control-Allow-Headers", headers);
        if (c->max_age > 0) {
            snprintf(age, sizeof age, "%lld", (long long)c->max_age);
            MHD_add_response_header(resp, "Access-Control-Max-Age", age);
        }
    }
    ok = MHD_queue_response(conn, MHD_HTTP_NO_CONTENT, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* --- the body --------------------------------------------------------------------------- */

/* Marks a request refused; what is left of its body is read and dropped. */
static void refuse(http_req_t *q, unsigned status, ct_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void refuse(http_req_t *q, unsigned status, ct_code_t code, const char *fmt, ...)
{
    va_list ap;

    if (q->status != 0)
        return;
    q->status = status;
    q->code = code;
    va_start(ap, fmt);
    vsnprintf(q->msg, sizeof q->msg, fmt, ap);
    va_end(ap);
}

/* Maps the decompressor's answer to the request's refusal, if any. */
static void body_check(http_req_t *q, int rc, const char *why)
{
    if (rc == -E2BIG)
        refuse(q, MHD_HTTP_CONTENT_TOO_LARGE, CT_RESOURCE_EXHAUSTED,
               "request body larger than max_request_body_size (%llu bytes)",
               (unsigned long long)q->body.max);
    else if (rc == -EBADMSG)
        refuse(q, MHD_HTTP_BAD_REQUEST, CT_INVALID_ARGUMENT, "%s", why);
    else if (rc != 0)
        refuse(q, MHD_HTTP_SERVICE_UNAVAILABLE, CT_UNAVAILABLE, "out of memory");
}

/* A piece of the body as it arrives, decompressed at once and bounded by max_request_body_size. */
static void body_feed(http_req_t *q, const char *data, size_t n)
{
    char why[256] = "";

    q->raw += n;
    if (q->status == 0)
        body_check(q, otlp_decomp_feed(q->dec, data, n, why, sizeof why), why);
}

/* At the end of the body: a compressed stream must have ended, not stopped midway. */
static void body_end(http_req_t *q)
{
    char why[256] = "";

    if (q->status == 0)
        body_check(q, otlp_decomp_finish(q->dec, why, sizeof why), why);
}

/* --- requests --------------------------------------------------------------------------- */

/* The media type without its parameters, compared case-insensitively. */
static bool media_type_is(const char *value, const char *want)
{
    size_t n = strlen(want);

    value += strspn(value, " \t");
    if (strncasecmp(value, want, n) != 0)
        return false;
    value += n;
    value += strspn(value, " \t");
    return *value == '\0' || *value == ';';
}

/* Content-Encoding: 0 and *enc set, or -1 with the reason in msg. */
static int parse_encoding(const char *v, otlp_coding_t *enc, char *msg, size_t msglen)
{
    char name[32];
    size_t n;

    *enc = OTLP_CODING_IDENTITY;
    if (v == NULL)
        return 0;
    v += strspn(v, " \t");
    n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n >= sizeof name) {
        snprintf(msg, msglen, "unsupported Content-Encoding");
        return -1;
    }
    memcpy(name, v, n);
    name[n] = '\0';
    if (n == 0 || strcasecmp(name, "identity") == 0)
        return 0;
    if (strcasecmp(name, "gzip") == 0)
        *enc = OTLP_CODING_GZIP;
    else if (strcasecmp(name, "deflate") == 0 || strcasecmp(name, "zlib") == 0)
        *enc = OTLP_CODING_DEFLATE;
    else if (strcasecmp(name, "zstd") == 0)
        *enc = OTLP_CODING_ZSTD;
    else if (strcasecmp(name, "snappy") == 0 || strcasecmp(name, "lz4") == 0 ||
             strcasecmp(name, "x-snappy-framed") == 0)
        snprintf(msg, msglen, "unsupported encoding %s: this cotel takes gzip, deflate and zstd",
                 name);
    else
        snprintf(msg, msglen, "unsupported Content-Encoding \"%s\"", name);
    return *enc == OTLP_CODING_IDENTITY ? -1 : 0;
}

static int path_signal(const otlp_http_cfg_t *cfg, const char *url)
{
    if (strcmp(url, cfg->traces_url_path) == 0)
        return CT_SIGNAL_TRACES;
    if (strcmp(url, cfg->metrics_url_path) == 0)
        return CT_SIGNAL_METRICS;
    if (strcmp(url, cfg->logs_url_path) == 0)
        return CT_SIGNAL_LOGS;
    return -1;
}

/* With client_ca_file: whether the client presented a certificate those CAs signed. */
static bool client_verified(otlp_http_t *h, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci;
    unsigned int st = 0;

    if (h->tls_client_ca == NULL)
        return true;
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (ci == NULL || ci->tls_session == NULL)
        return false;
    return gnutls_certificate_verify_peers2((gnutls_session_t)ci->tls_session, &st) == 0 && st == 0;
}

/*
 * A request's state. An uncompressed body of known length gets its buffer at
 * once: growing it by doubling would hold two copies at the last step.
 */
static http_req_t *req_new(otlp_http_t *h, ct_signal_t sig, int body_type, otlp_coding_t encoding,
                           uint64_t declared)
{
    http_req_t *q = calloc(1, sizeof *q);
    uint64_t limit = h->cfg->max_request_body_size;

    if (q == NULL)
        return NULL;
    q->h = h;
    q->sig = sig;
    q->body_type = body_type;
    q->body.max = limit > SIZE_MAX ? SIZE_MAX : (size_t)limit;
    if (encoding == OTLP_CODING_IDENTITY && declared > 0 && declared <= q->body.max)
        ct_buf_reserve(&q->body, (size_t)declared); /* short of memory: it grows as it comes */
    q->dec = otlp_decomp_new(encoding, &q->body);
    if (q->dec == NULL) {
        ct_buf_free(&q->body);
        free(q);
        return NULL;
    }
    return q;
}

static void req_free(http_req_t *q)
{
    if (q == NULL)
        return;
    otlp_decomp_free(q->dec);
    ct_buf_free(&q->body);
    free(q);
}

/*
 * The first call for a request, with its headers only: answers at once what
 * can be told without the body (wrong path, method, type, encoding, a
 * declared length over the limit, shutdown), else sets up the body's reading.
 */
static enum MHD_Result req_begin(otlp_http_t *h, struct MHD_Connection *conn, const char *url,
                                 const char *method, void **con_cls)
{
    otlp_receiver_t *r = h->r;
    const char *ctype = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    const char *cenc = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Encoding");
    const char *clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    int sig = path_signal(h->cfg, url);
    int body_type;
    otlp_coding_t encoding;
    uint64_t declared;
    char msg[256];
    http_req_t *q;

    if (sig < 0)
        return respond_text(h, conn, MHD_HTTP_NOT_FOUND, "404 page not found");
    if (strcmp(method, "OPTIONS") == 0 && h->cfg->cors_present &&
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Access-Control-Request-Method"))
        return respond_preflight(h, conn);
    if (strcmp(method, "POST") != 0)
        return respond_text(h, conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                            "405 method not allowed, supported: [POST]");
    if (ctype != NULL && media_type_is(ctype, TYPE_PROTO)) {
        body_type = BODY_PROTO;
    } else if (ctype != NULL && media_type_is(ctype, TYPE_JSON)) {
        body_type = BODY_JSON;
    } else {
        otlp_receiver_client_error(r, "refused a request with Content-Type \"%.64s\"",
                                   ctype ? ctype : "");
        return respond_text(h, conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                            "415 unsupported media type, supported: [application/json, "
                            "application/x-protobuf]");
    }
    if (atomic_load(&h->stopping))
        return respond_status(h, conn, MHD_HTTP_SERVICE_UNAVAILABLE, body_type, CT_UNAVAILABLE,
                              "the collector is shutting down");
    if (!client_verified(h, conn))
        return respond_status(h, conn, MHD_HTTP_UNAUTHORIZED, body_type, CT_UNAUTHENTICATED,
                              "a client certificate signed by client_ca_file is required");
    if (r->inst->next[sig] == NULL) {
        snprintf(msg, sizeof msg, "this receiver takes no %s: no %s pipeline uses it",
                 ct_signal_name((ct_signal_t)sig), ct_signal_name((ct_signal_t)sig));
        return respond_status(h, conn, MHD_HTTP_NOT_FOUND, body_type, CT_UNIMPLEMENTED, msg);
    }
    if (parse_encoding(cenc, &encoding, msg, sizeof msg) != 0) {
        otlp_receiver_client_error(r, "refused a %s request: %s", ct_signal_name((ct_signal_t)sig),
                                   msg);
        return respond_status(h, conn, MHD_HTTP_BAD_REQUEST, body_type, CT_INVALID_ARGUMENT, msg);
    }
    declared = clen != NULL ? strtoull(clen, NULL, 10) : 0;
    if (declared > h->cfg->max_request_body_size) {
        snprintf(msg, sizeof msg, "request body larger than max_request_body_size (%llu bytes)",
                 (unsigned long long)h->cfg->max_request_body_size);
        return respond_status(h, conn, MHD_HTTP_CONTENT_TOO_LARGE, body_type, CT_RESOURCE_EXHAUSTED,
                              msg);
    }

    q = req_new(h, (ct_signal_t)sig, body_type, encoding, declared);
    if (q == NULL) {
        ct_log_error(r->inst->name, "out of memory while starting to read an HTTP request");
        return respond_status(h, conn, MHD_HTTP_SERVICE_UNAVAILABLE, body_type, CT_UNAVAILABLE,
                              "out of memory");
    }
    atomic_fetch_add(&h->active, 1);
    *con_cls = q;
    return MHD_YES;
}

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (*(size_t *)cls)++;
    return MHD_YES;
}

static enum MHD_Result copy_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    ct_metadata_t *md = cls;
    size_t i = md->n;

    md->keys[i] = strdup(key);
    md->values[i] = strdup(value ? value : "");
    md->n = i + 1; /* so that an unref frees what is filled so far */
    if (md->keys[i] == NULL || md->values[i] == NULL)
        return MHD_NO;
    for (char *k = md->keys[i]; *k; k++)
        *k = (char)tolower((unsigned char)*k);
    return MHD_YES;
}

/* The request's headers as metadata (include_metadata). NULL when out of memory. */
static ct_metadata_t *headers_copy(struct MHD_Connection *conn)
{
    size_t n = 0;
    ct_metadata_t *md;

    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &n);
    md = ct_metadata_new(n);
    if (md == NULL)
        return NULL;
    md->n = 0;
    MHD_get_connection_values(conn, MHD_HEADER_KIND, copy_header, md);
    if (md->n != n || (n > 0 && md->values[n - 1] == NULL)) {
        ct_metadata_unref(md);
        return NULL;
    }
    return md;
}

/* OTLP/JSON to the protobuf form every other path of cotel carries. */
static uint8_t *json_to_proto(http_req_t *q, size_t *len)
{
    /* A JSON number of one digit may become 8 bytes of protobuf: room for that, and no more. */
    ct_buf_t pb = {.max = q->body.max > SIZE_MAX / 8 ? SIZE_MAX : q->body.max * 8 + 64};
    char why[256] = "";
    int rc =
        ct_otlp_json_decode(q->sig, (const char *)q->body.data, q->body.len, &pb, why, sizeof why);

    if (rc == -ENOMEM) {
        refuse(q, MHD_HTTP_SERVICE_UNAVAILABLE, CT_UNAVAILABLE, "out of memory");
        ct_log_error(q->h->r->inst->name, "out of memory while decoding a %zu-byte JSON request",
                     q->body.len);
    } else if (rc != 0) {
        refuse(q, MHD_HTTP_BAD_REQUEST, CT_INVALID_ARGUMENT, "invalid OTLP/JSON %s request: %s",
               ct_signal_name(q->sig), why[0] ? why : "cannot decode");
    }
    if (rc != 0) {
        ct_buf_free(&pb);
        return NULL;
    }
    return ct_buf_take(&pb, len);
}

/* The last call for a request: the whole body is in. Hands it on and answers. */
static enum MHD_Result req_finish(http_req_t *q, struct MHD_Connection *conn)
{
    otlp_http_t *h = q->h;
    otlp_receiver_t *r = h->r;
    ct_metadata_t *md = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    enum MHD_Result ok;

    body_end(q);
    if (q->status == 0 && atomic_load(&h->stopping))
        refuse(q, MHD_HTTP_SERVICE_UNAVAILABLE, CT_UNAVAILABLE, "the collector is shutting down");
    if (q->status == 0 && q->body_type == BODY_JSON)
        data = json_to_proto(q, &len);
    else if (q->status == 0)
        data = ct_buf_take(&q->body, &len);
    if (q->status != 0) {
        if (q->status == MHD_HTTP_BAD_REQUEST || q->status == MHD_HTTP_CONTENT_TOO_LARGE)
            otlp_receiver_client_error(r, "refused a %s request of %llu bytes: %s",
                                       ct_signal_name(q->sig), (unsigned long long)q->raw, q->msg);
        ok = respond_status(h, conn, q->status, q->body_type, q->code, q->msg);
        goto out;
    }

    if (h->cfg->include_metadata)
        md = headers_copy(conn);
    q->code = otlp_receiver_export(r, OTLP_HTTP, q->sig, data, len, md, q->msg, sizeof q->msg);
    if (q->code == CT_OK) {
        /* An empty Export*ServiceResponse: no bytes in protobuf, {} in JSON. */
        ok = q->body_type == BODY_JSON ? respond(h, conn, MHD_HTTP_OK, TYPE_JSON, "{}", 2)
                                       : respond(h, conn, MHD_HTTP_OK, TYPE_PROTO, NULL, 0);
    } else {
        ok = respond_status(h, conn, (unsigned)ct_code_http_status(q->code), q->body_type, q->code,
                            q->msg);
    }
out:
    if (md != NULL)
        ct_metadata_unref(md);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    http_req_t *q = *con_cls;

    if (q == NULL)
        return req_begin(cls, conn, url, method, con_cls);
    if (*upload_size > 0) {
        body_feed(q, upload_data, *upload_size);
        *upload_size = 0;
        /* A refused body is drained so the answer can be read, but not without end. */
        return q->status != 0 && q->raw > q->body.max + (uint64_t)HTTP_DISCARD_MAX ? MHD_NO
                                                                                   : MHD_YES;
    }
    return req_finish(q, conn);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    otlp_http_t *h = cls;
    http_req_t *q = *con_cls;

    if (q == NULL)
        return;
    req_free(q);
    *con_cls = NULL;
    atomic_fetch_sub(&h->active, 1);
}

/* --- the server ------------------------------------------------------------------------- */

/*
 * At conn_limit libmicrohttpd stops accepting: new clients wait in the
 * kernel's listen queue, then time out. Not a client's mistake but a limit
 * an operator may want raised (the open-files limit), hence a warning, at
 * most one each 10 s.
 */
static void warn_full(otlp_http_t *h)
{
    ct_log_limited(&h->full_log, 10000000000ull, CT_LOG_WARN, h->r->inst->name,
                   "HTTP connection limit reached (%u open, limit %u, from the open-files "
                   "limit): new connections wait until some close; idle ones close after %d s",
                   atomic_load(&h->conns), h->conn_limit, HTTP_IDLE_TIMEOUT_S);
}

/*
 * Counts open connections. libmicrohttpd splits conn_limit among its
 * threads, and a thread whose share is full stops accepting: once fewer
 * than one connection per thread remain, some clients may already wait.
 */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    otlp_http_t *h = cls;

    if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        atomic_fetch_sub(&h->conns, 1);
        return;
    }
    if (atomic_fetch_add(&h->conns, 1) + 1 + h->nthreads >= h->conn_limit)
        warn_full(h);
}

/*
 * libmicrohttpd's own messages mostly tell of clients (a closed connection,
 * a failed TLS handshake): debug level. While starting they explain why the
 * start failed, so the last one is kept for the error.
 */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    otlp_http_t *h = cls;
    char line[256];
    size_t n;

    vsnprintf(line, sizeof line, fmt, ap);
    n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (h->starting)
        snprintf(h->start_error, sizeof h->start_error, "%s", line);
    if (strstr(line, "connection limit") != NULL)
        warn_full(h);
    else
        otlp_receiver_client_error(h->r, "libmicrohttpd: %s", line);
}

/*
 * Binds the endpoint ourselves, so that a port in use is reported as such.
 * ":port" listens on every interface (IPv6 and IPv4); a name resolving to
 * both families takes IPv4, where "localhost" clients look first.
 */
static int listen_socket(const char *endpoint, char *shown, size_t shownlen, ct_err_t *err)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL, *pick = NULL;
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof ss;
    char host[256], port[16], hostbuf[NI_MAXHOST];
    int p, fd = -1, one = 1, zero = 0, rc;

    if (ct_net_split(endpoint, host, sizeof host, &p) != 0) {
        ct_errf(err, NULL, "invalid endpoint '%s' (write host:port)", endpoint);
        goto fail;
    }
    snprintf(port, sizeof port, "%d", p);
    rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (rc != 0 || res == NULL) {
        ct_errf(err, NULL, "cannot resolve '%s': %s", endpoint, gai_strerror(rc));
        goto fail;
    }
    pick = res;
    for (struct addrinfo *a = res; a != NULL; a = a->ai_next) {
        if (a->ai_family == (host[0] ? AF_INET : AF_INET6)) {
            pick = a;
            break;
        }
    }

    fd = socket(pick->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        ct_errf(err, NULL, "cannot listen on %s: %s", endpoint, strerror(errno));
        goto fail;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (pick->ai_family == AF_INET6 && host[0] == '\0')
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (bind(fd, pick->ai_addr, pick->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        ct_errf(err, NULL, "cannot listen on %s: %s", endpoint, strerror(errno));
        goto fail;
    }
    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0 &&
        getnameinfo((struct sockaddr *)&ss, sslen, hostbuf, sizeof hostbuf, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0)
        snprintf(shown, shownlen, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", hostbuf, port);
    else
        snprintf(shown, shownlen, "%s", endpoint);
    freeaddrinfo(res);
    return fd;
fail:
    if (res != NULL)
        freeaddrinfo(res);
    if (fd >= 0)
        close(fd);
    return -1;
}

static void secret_free(char *s)
{
    if (s == NULL)
        return;
    memset(s, 0, strlen(s)); /* no copy of a private key stays in freed memory */
    free(s);
}

/* Reads the PEM files of the tls section. */
static int tls_load(otlp_http_t *h, ct_err_t *err)
{
    const otlp_tls_cfg_t *tls = &h->cfg->tls;

    if (!MHD_is_feature_supported(MHD_FEATURE_TLS))
        return ct_errf(err, NULL,
                       "protocols::http::tls: this libmicrohttpd was built without "
                       "TLS support");
    h->tls_cert = otlp_read_file(tls->cert_file, "the TLS certificate", err);
    if (h->tls_cert == NULL)
        return -EINVAL;
    h->tls_key = otlp_read_file(tls->key_file, "the TLS key", err);
    if (h->tls_key == NULL)
        return -EINVAL;
    if (tls->client_ca_file != NULL &&
        (h->tls_client_ca = otlp_read_file(tls->client_ca_file, "the client CA file", err)) == NULL)
        return -EINVAL;
    return 0;
}

static unsigned thread_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    /* Beyond the cores: a pipeline that blocks holds one thread's connections, not all. */
    if (n < HTTP_MIN_THREADS)
        n = HTTP_MIN_THREADS;
    if (n > HTTP_MAX_THREADS)
        n = HTTP_MAX_THREADS;
    return (unsigned)n;
}

/*
 * How many connections the server holds at once: with epoll there is no
 * FD_SETSIZE ceiling, so the open-files limit decides, less a quarter (at
 * least 64) kept for gRPC, exporters and files.
 */
static unsigned connection_limit(void)
{
    struct rlimit rl;
    rlim_t n = 1024, reserve;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        n = rl.rlim_cur;
    if (n > UINT_MAX / 2)
        n = UINT_MAX / 2;
    reserve = n / 4 > HTTP_FD_RESERVE_MIN ? n / 4 : HTTP_FD_RESERVE_MIN;
    return n > reserve + HTTP_CONN_MIN ? (unsigned)(n - reserve) : HTTP_CONN_MIN;
}

static void http_free(otlp_http_t *h)
{
    if (h == NULL)
        return;
    if (h->daemon != NULL)
        MHD_stop_daemon(h->daemon);
    if (h->listen_fd >= 0)
        close(h->listen_fd);
    free(h->tls_cert);
    secret_free(h->tls_key);
    free(h->tls_client_ca);
    free(h);
}

int otlp_http_start(otlp_receiver_t *r, ct_err_t *err)
{
    const char *name = r->inst->name;
    /* epoll, or poll where it is missing: never select(), which stops at FD_SETSIZE (1024). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_TURBO |
                     MHD_USE_ERROR_LOG |
                     (MHD_is_feature_supported(MHD_FEATURE_EPOLL) ? MHD_USE_EPOLL : MHD_USE_POLL);
    struct MHD_OptionItem tls_opts[4] = {{MHD_OPTION_END, 0, NULL}};
    char shown[300] = "", signals[64] = "";
    otlp_http_t *h = calloc(1, sizeof *h);
    int rc = 0;

    if (h == NULL)
        return ct_errf(err, NULL, "%s: out of memory", name);
    h->r = r;
    h->cfg = &r->cfg->protocols.http;
    h->listen_fd = -1;
    atomic_init(&h->stopping, false);
    atomic_init(&h->active, 0);
    atomic_init(&h->conns, 0);
    r->http = h;

    if (h->cfg->tls_present) {
        if ((rc = tls_load(h, err)) != 0)
            goto fail;
        flags |= MHD_USE_TLS;
        tls_opts[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert};
        tls_opts[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key};
        if (h->tls_client_ca != NULL)
            tls_opts[2] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, h->tls_client_ca};
    }
    h->listen_fd = listen_socket(h->cfg->endpoint, shown, sizeof shown, err);
    if (h->listen_fd < 0) {
        rc = -EINVAL;
        goto fail;
    }

    h->nthreads = thread_count();
    h->conn_limit = connection_limit();
    h->starting = true;
    h->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
        MHD_OPTION_LISTEN_SOCKET, h->listen_fd, MHD_OPTION_THREAD_POOL_SIZE, h->nthreads,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT,
        h->conn_limit, MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, h, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    h->starting = false;
    if (h->daemon == NULL) {
        rc = ct_errf(err, NULL, "cannot start the HTTP server on %s%s%s", shown,
                     h->start_error[0] ? ": " : "", h->start_error);
        goto fail;
    }
    h->listen_fd = -1; /* the daemon's now */

    for (int s = 0; s < CT_SIGNAL_COUNT; s++)
        if (r->inst->next[s] != NULL)
            snprintf(signals + strlen(signals), sizeof signals - strlen(signals), "%s%s",
                     signals[0] ? ", " : "", ct_signal_name((ct_signal_t)s));
    ct_log_info(name,
                "OTLP/HTTP listening on %s%s (%s; %u threads; up to %u connections; max body "
                "%llu bytes)",
                shown, h->cfg->tls_present ? " with TLS" : "",
                signals[0] ? signals : "no pipelines", h->nthreads, h->conn_limit,
                (unsigned long long)h->cfg->max_request_body_size);
    return 0;
fail : {
    ct_err_t inner = *err;
    ct_errf(err, NULL, "%s: %s", name, inner.msg);
}
    http_free(h);
    r->http = NULL;
    return rc ? rc : -EINVAL;
}

/*
 * Stops the server: from now on requests are answered 503 and no new
 * connection is taken; requests being handled get until the deadline to
 * finish; then every connection closes.
 */
void otlp_http_shutdown(otlp_receiver_t *r, uint64_t deadline_ns)
{
    otlp_http_t *h = r->http;
    MHD_socket fd;

    if (h == NULL || h->daemon == NULL)
        return;
    atomic_store(&h->stopping, true);
    fd = MHD_quiesce_daemon(h->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    while (atomic_load(&h->active) > 0 && ct_now_mono_ns() < deadline_ns) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (atomic_load(&h->active) > 0)
        ct_log_warn(r->inst->name, "closing %u HTTP requests still open at the shutdown deadline",
                    atomic_load(&h->active));
    MHD_stop_daemon(h->daemon);
    h->daemon = NULL;
}

void otlp_http_destroy(otlp_receiver_t *r)
{
    http_free(r->http);
    r->http = NULL;
}
