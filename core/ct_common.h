/*
 * Basic vocabulary shared by every part of cotel: signals, status codes
 * (the gRPC codes, which OTLP uses end to end) and a growable byte buffer.
 */
#ifndef CT_COMMON_H
#define CT_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ct_signal {
    CT_SIGNAL_TRACES = 0,
    CT_SIGNAL_METRICS = 1,
    CT_SIGNAL_LOGS = 2,
    CT_SIGNAL_COUNT = 3
} ct_signal_t;

#define CT_SIGNAL_BIT(s) (1u << (s))
#define CT_SIGNALS_ALL   7u

const char *ct_signal_name(ct_signal_t s);      /* "traces" */
const char *ct_signal_item_name(ct_signal_t s); /* "spans", "metric_points", "log_records" */
int ct_signal_parse(const char *name, size_t len, ct_signal_t *out);

/*
 * Result of handing data to a pipeline or an exporter. The values are the
 * gRPC status codes, so a receiver can answer with them unchanged and the
 * HTTP receiver maps them with one table.
 */
typedef enum ct_code {
    CT_OK = 0,
    CT_CANCELLED = 1,
    CT_UNKNOWN = 2,
    CT_INVALID_ARGUMENT = 3,
    CT_DEADLINE_EXCEEDED = 4,
    CT_NOT_FOUND = 5,
    CT_ALREADY_EXISTS = 6,
    CT_PERMISSION_DENIED = 7,
    CT_RESOURCE_EXHAUSTED = 8,
    CT_FAILED_PRECONDITION = 9,
    CT_ABORTED = 10,
    CT_OUT_OF_RANGE = 11,
    CT_UNIMPLEMENTED = 12,
    CT_INTERNAL = 13,
    CT_UNAVAILABLE = 14,
    CT_DATA_LOSS = 15,
    CT_UNAUTHENTICATED = 16
} ct_code_t;

const char *ct_code_name(ct_code_t c);
int ct_code_http_status(ct_code_t c);
/* Retryable per the OTLP spec (RESOURCE_EXHAUSTED only when the peer sent RetryInfo). */
int ct_code_retryable(ct_code_t c, int has_retry_info);

/*
 * A growable byte buffer. A non-zero `max` bounds its length: growing past it
 * fails with -E2BIG, so buffers filled from client input cannot grow without end.
 */
typedef struct ct_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max; /* 0: unbounded */
} ct_buf_t;

int ct_buf_reserve(ct_buf_t *b, size_t more);
int ct_buf_append(ct_buf_t *b, const void *p, size_t n);
int ct_buf_putc(ct_buf_t *b, uint8_t c);
int ct_buf_puts(ct_buf_t *b, const char *s);
int ct_buf_printf(ct_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ct_buf_vprintf(ct_buf_t *b, const char *fmt, va_list ap);
/* Hands the bytes to the caller (who frees them) and leaves the buffer empty. */
uint8_t *ct_buf_take(ct_buf_t *b, size_t *len);
void ct_buf_reset(ct_buf_t *b);
void ct_buf_free(ct_buf_t *b);

/* Monotonic and wall clocks in nanoseconds. */
uint64_t ct_now_mono_ns(void);
uint64_t ct_now_unix_ns(void);

#define CT_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
