/*
 * Signals, status codes, byte buffers and clocks: the small helpers every
 * component uses.
 */
#include "ct_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const signal_names[CT_SIGNAL_COUNT] = {"traces", "metrics", "logs"};
static const char *const item_names[CT_SIGNAL_COUNT] = {"spans", "metric_points", "log_records"};

const char *ct_signal_name(ct_signal_t s)
{
    return (unsigned)s < CT_SIGNAL_COUNT ? signal_names[s] : "unknown";
}

const char *ct_signal_item_name(ct_signal_t s)
{
    return (unsigned)s < CT_SIGNAL_COUNT ? item_names[s] : "items";
}

int ct_signal_parse(const char *name, size_t len, ct_signal_t *out)
{
    for (int i = 0; i < CT_SIGNAL_COUNT; i++) {
        if (strlen(signal_names[i]) == len && memcmp(signal_names[i], name, len) == 0) {
            *out = (ct_signal_t)i;
            return 0;
        }
    }
    return -EINVAL;
}

static const char *const code_names[] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *ct_code_name(ct_code_t c)
{
    return (unsigned)c < CT_ARRAY_LEN(code_names) ? code_names[c] : "UNKNOWN";
}

/* The mapping the OTLP/HTTP specification gives for gRPC codes. */
int ct_code_http_status(ct_code_t c)
{
    switch (c) {
    case CT_OK:
        return 200;
    case CT_UNAVAILABLE:
    case CT_CANCELLED:
    case CT_DEADLINE_EXCEEDED:
    case CT_ABORTED:
    case CT_OUT_OF_RANGE:
    case CT_DATA_LOSS:
        return 503;
    case CT_RESOURCE_EXHAUSTED:
        return 429;
    case CT_INVALID_ARGUMENT:
        return 400;
    case CT_UNAUTHENTICATED:
        return 401;
    case CT_PERMISSION_DENIED:
        return 403;
    case CT_UNIMPLEMENTED:
        return 404;
    default:
        return 500;
    }
}

int ct_code_retryable(ct_code_t c, int has_retry_info)
{
    switch (c) {
    case CT_CANCELLED:
    case CT_DEADLINE_EXCEEDED:
    case CT_ABORTED:
    case CT_OUT_OF_RANGE:
    case CT_UNAVAILABLE:
    case CT_DATA_LOSS:
        return 1;
    case CT_RESOURCE_EXHAUSTED:
        return has_retry_info;
    default:
        return 0;
    }
}

int ct_buf_reserve(ct_buf_t *b, size_t more)
{
    size_t need = b->len + more;
    if (need < b->len || (b->max && need > b->max))
        return -E2BIG;
    if (need <= b->cap)
        return 0;

    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    if (b->max && cap > b->max)
        cap = b->max;
    uint8_t *p = realloc(b->data, cap);
    if (p == NULL)
        return -ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int ct_buf_append(ct_buf_t *b, const void *p, size_t n)
{
    int rc = ct_buf_reserve(b, n);
    if (rc == 0 && n > 0) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
    }
    return rc;
}

int ct_buf_putc(ct_buf_t *b, uint8_t c)
{
    if (b->len < b->cap) {
        b->data[b->len++] = c;
        return 0;
    }
    return ct_buf_append(b, &c, 1);
}

int ct_buf_puts(ct_buf_t *b, const char *s)
{
    return ct_buf_append(b, s, strlen(s));
}

int ct_buf_vprintf(ct_buf_t *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        return -EINVAL;

    int rc = ct_buf_reserve(b, (size_t)n + 1);
    if (rc == 0) {
        vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
        b->len += (size_t)n;
    }
    return rc;
}

int ct_buf_printf(ct_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = ct_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

uint8_t *ct_buf_take(ct_buf_t *b, size_t *len)
{
    uint8_t *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void ct_buf_reset(ct_buf_t *b)
{
    b->len = 0;
}

void ct_buf_free(ct_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

uint64_t ct_now_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t ct_now_unix_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
