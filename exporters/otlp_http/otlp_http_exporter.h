/*
 * The otlp_http exporter's parts, shared by its files: the configuration, the
 * instance state, and one send attempt over libcurl (otlp_http_send.c).
 */
#ifndef OTLP_HTTP_EXPORTER_H
#define OTLP_HTTP_EXPORTER_H

#include "ct_component.h"
#include "ct_config.h"
#include "ct_exporter.h"
#include "ct_log.h"

#include <curl/curl.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum { OTLP_HTTP_ENCODING_PROTO, OTLP_HTTP_ENCODING_JSON };
enum { OTLP_HTTP_COMP_NONE, OTLP_HTTP_COMP_GZIP, OTLP_HTTP_COMP_DEFLATE, OTLP_HTTP_COMP_ZSTD };

typedef struct otlp_http_exporter_tls_cfg {
    bool insecure;             /* accepted; the URL's scheme decides between http and https */
    bool insecure_skip_verify; /* https without checking the server's certificate */
    char *ca_file;
    char *cert_file;
    char *key_file;
} otlp_http_exporter_tls_cfg_t;

typedef struct otlp_http_exporter_cfg {
    char *endpoint;                         /* base URL; /v1/<signal> is appended */
    char *signal_endpoint[CT_SIGNAL_COUNT]; /* traces_endpoint ...: full URLs, used as they are */
    int encoding;                           /* OTLP_HTTP_ENCODING_* */
    char *compression;                      /* gzip, none (or ""), zstd, deflate */
    ct_kvlist_t headers;
    bool tls_present;
    otlp_http_exporter_tls_cfg_t tls;
    ct_exporter_settings_t settings;
} otlp_http_exporter_cfg_t;

typedef struct otlp_http_exporter {
    const otlp_http_exporter_cfg_t *cfg;
    const char *name;           /* "exporter/otlp_http/x", for logs */
    char *url[CT_SIGNAL_COUNT]; /* NULL: no URL for that signal */
    int compression;            /* OTLP_HTTP_COMP_* */
    struct curl_slist *headers; /* every request's headers, read-only once built */
    uint64_t timeout_ms;

    /* Idle easy handles: each keeps its connections, so the next send reuses one. */
    pthread_mutex_t lock;
    CURL **idle;
    size_t nidle, cap_idle;
    atomic_bool stopping; /* shutdown: transfers in flight are aborted */
} otlp_http_exporter_t;

/* Parses `compression`; -1 when unknown. */
int otlp_http_compression_parse(const char *s);

/* One attempt to deliver req (the factory's send). */
ct_send_result_t otlp_http_exporter_send(ct_instance_t *inst, ct_request_t *req);

/* Frees the idle easy handles. */
void otlp_http_exporter_pool_free(otlp_http_exporter_t *st);

#endif
