/*
 * cotel-loadgen over OTLP/HTTP with protobuf bodies, on libcurl's multi
 * interface: one easy handle per call slot (each keeps its own HTTP/1.1
 * connection alive), all driven by one thread.
 */
#include "loadgen.h"

#include <curl/curl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESPONSE_MAX 65536 /* response bytes kept: an Export*ServiceResponse is small */

static const char *const default_paths[CT_SIGNAL_COUNT] = {"/v1/traces", "/v1/metrics", "/v1/logs"};

typedef struct hslot {
    CURL *easy;
    uint8_t *buf;
    uint8_t resp[RESPONSE_MAX];
    size_t resp_len;
    uint64_t started_ns;
} hslot_t;

typedef struct hclient {
    lg_run_t *r;
    CURLM *multi;
    struct curl_slist *headers;
    char *url;
    hslot_t *slots;
    hslot_t **free_slots;
    size_t nfree, inflight;
} hclient_t;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    hslot_t *s = arg;
    size_t len = size * n, room = RESPONSE_MAX - s->resp_len;

    memcpy(s->resp + s->resp_len, p, len < room ? len : room);
    s->resp_len += len < room ? len : room;
    return len;
}

/* The URL: the endpoint as given when it has a path, else http://ENDPOINT/v1/<signal>. */
static char *make_url(const lg_opts_t *o)
{
    const char *scheme = strstr(o->endpoint, "://");
    const char *host = scheme ? scheme + 3 : o->endpoint;
    char *url = NULL;

    if (strchr(host, '/') != NULL)
        return strdup(o->endpoint);
    if (asprintf(&url, "%s%s%s", scheme ? "" : "http://", o->endpoint, default_paths[o->signal]) <
        0)
        return NULL;
    return url;
}

/* OTLP/HTTP answers as gRPC codes, to count both protocols alike. */
static ct_code_t code_of_status(long status, CURLcode cc)
{
    if (cc == CURLE_OPERATION_TIMEDOUT)
        return CT_DEADLINE_EXCEEDED;
    if (cc != CURLE_OK || status == 0)
        return CT_UNAVAILABLE;
    switch (status) {
    case 200:
        return CT_OK;
    case 400:
    case 415:
        return CT_INVALID_ARGUMENT;
    case 404:
    case 405:
        return CT_UNIMPLEMENTED;
    case 413:
    case 429:
        return CT_RESOURCE_EXHAUSTED;
    case 502:
    case 503:
    case 504:
        return CT_UNAVAILABLE;
    default:
        return status >= 500 ? CT_INTERNAL : CT_UNKNOWN;
    }
}

static int slot_setup(hclient_t *c, hslot_t *s)
{
    const lg_opts_t *o = c->r->o;

    if ((s->easy = curl_easy_init()) == NULL || (s->buf = malloc(c->r->t->len + 1)) == NULL)
        return -1;
    memcpy(s->buf, c->r->t->data, c->r->t->len);
    curl_easy_setopt(s->easy, CURLOPT_URL, c->url);
    curl_easy_setopt(s->easy, CURLOPT_POST, 1L);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, (char *)s->buf);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->r->t->len);
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
    curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, (long)(o->timeout * 1000));
    curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->easy, CURLOPT_TCP_NODELAY, 1L);
    return 0;
}

static int call_start(hclient_t *c, hslot_t *s, uint64_t now)
{
    uint64_t seq = lg_run_take(c->r, now);

    lg_template_patch(c->r->t, s->buf, seq);
    s->resp_len = 0;
    s->started_ns = now;
    if (curl_multi_add_handle(c->multi, s->easy) != CURLM_OK)
        return -1;
    c->inflight++;
    return 0;
}

/* Takes every finished transfer off the multi handle and counts it. */
static void collect(hclient_t *c)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
        hslot_t *s;
        long status = 0;

        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
        ct_code_t code = code_of_status(status, m->data.result);
        c->r->http_status[status >= 100 && status < 600 ? status / 100 : 0]++;
        lg_run_done(c->r, s->started_ns, code,
                    code == CT_OK ? lg_response_rejected(s->resp, s->resp_len) : 0);
        curl_multi_remove_handle(c->multi, s->easy);
        c->inflight--;
        c->free_slots[c->nfree++] = s;
    }
}

static int drive(hclient_t *c)
{
    lg_run_t *r = c->r;
    int rc = 0, running;

    for (;;) {
        uint64_t now = ct_now_mono_ns(), due = lg_run_due(r, now);

        while (c->nfree > 0 && due == 0) {
            if (call_start(c, c->free_slots[--c->nfree], now) != 0) {
                c->nfree++;
                r->end_ns = now; /* stop sending; what is in flight still ends */
                rc = -1;
            }
            now = ct_now_mono_ns();
            due = lg_run_due(r, now);
        }
        if (due == UINT64_MAX && c->inflight == 0)
            break;

        uint64_t wait = c->nfree > 0 && due != UINT64_MAX ? due : 100000000ull;
        if (wait > 100000000ull)
            wait = 100000000ull;
        curl_multi_perform(c->multi, &running);
        collect(c);
        if (c->nfree == 0 || due > 0)
            curl_multi_poll(c->multi, NULL, 0, (int)((wait + 999999) / 1000000), NULL);
        curl_multi_perform(c->multi, &running);
        collect(c);
    }
    return rc;
}

int lg_http_run(lg_run_t *r)
{
    const lg_opts_t *o = r->o;
    hclient_t c = {.r = r};
    int rc = -1;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -1;
    c.multi = curl_multi_init();
    c.url = make_url(o);
    c.headers = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
    c.headers = curl_slist_append(c.headers, "Expect:"); /* no 100-continue round trip */
    c.slots = calloc(o->concurrency, sizeof *c.slots);
    c.free_slots = calloc(o->concurrency, sizeof *c.free_slots);
    if (c.multi == NULL || c.url == NULL || c.headers == NULL || c.slots == NULL ||
        c.free_slots == NULL)
        goto out;
    curl_multi_setopt(c.multi, CURLMOPT_MAXCONNECTS, (long)o->concurrency);
    for (size_t i = 0; i < o->concurrency; i++) {
        if (slot_setup(&c, &c.slots[i]) != 0)
            goto out;
        c.free_slots[c.nfree++] = &c.slots[i];
    }

    lg_run_start(r);
    rc = drive(&c);
out:
    for (size_t i = 0; c.slots != NULL && i < o->concurrency; i++) {
        if (c.slots[i].easy != NULL)
            curl_easy_cleanup(c.slots[i].easy);
        free(c.slots[i].buf);
    }
    if (c.multi != NULL)
        curl_multi_cleanup(c.multi);
    curl_slist_free_all(c.headers);
    free(c.url);
    free(c.slots);
    free(c.free_slots);
    curl_global_cleanup();
    return rc;
}
