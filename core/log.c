/*
 * Log lines on stderr. A line is written with one write(2) so lines from
 * different threads never interleave.
 */
#include "ct_log.h"

#include "ct_common.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static ct_log_level_t log_level = CT_LOG_INFO;
static int log_json;

/* Every rate limit that has held a line back, for ct_log_flush_limits. */
static pthread_mutex_t limits_lock = PTHREAD_MUTEX_INITIALIZER;
static ct_log_limit_t *limits_head;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void ct_log_setup(ct_log_level_t level, int json)
{
    log_level = level;
    log_json = json;
}

int ct_log_parse_level(const char *s, ct_log_level_t *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (ct_log_level_t)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = CT_LOG_WARN;
        return 0;
    }
    return -1;
}

ct_log_level_t ct_log_level(void)
{
    return log_level;
}

int ct_log_is_json(void)
{
    return log_json;
}

int ct_log_enabled(ct_log_level_t level)
{
    return level <= log_level;
}

/* Length of the valid UTF-8 sequence at s, or 0 when the bytes there are not one. */
static size_t utf8_len(const unsigned char *s)
{
    size_t n;
    uint32_t cp;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        n = 2;
        cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        n = 3;
        cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    /* Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not text. */
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/*
 * Writes s so that one event stays one line: in JSON as a string body (bytes
 * that are not UTF-8 become U+FFFD, so every line parses); on the console with
 * line breaks and other control bytes shown as escapes.
 */
static void text_escape(ct_buf_t *b, const char *str, int json)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s != '\0') {
        unsigned char c = *s;
        size_t n = utf8_len(s);
        if (n == 0) {
            ct_buf_puts(b, json ? "\\ufffd" : "\\x");
            if (!json)
                ct_buf_printf(b, "%02x", c);
            s++;
        } else if (n > 1) {
            ct_buf_append(b, s, n);
            s += n;
        } else if (json && (c == '"' || c == '\\')) {
            ct_buf_putc(b, '\\');
            ct_buf_putc(b, c);
            s++;
        } else if (c < 0x20 || c == 0x7f) {
            if (c == '\n')
                ct_buf_puts(b, "\\n");
            else if (c == '\t')
                ct_buf_puts(b, json ? "\\t" : "\t");
            else if (c == '\r')
                ct_buf_puts(b, "\\r");
            else
                ct_buf_printf(b, json ? "\\u%04x" : "\\x%02x", c);
            s++;
        } else {
            ct_buf_putc(b, c);
            s++;
        }
    }
}

/*
 * For "exporter/kafka/main", the fields the Go collector puts on a component's
 * lines: otelcol.component.kind "exporter", otelcol.component.id "kafka/main".
 */
static void write_component_fields(ct_buf_t *out, const char *component)
{
    static const char *const kinds[] = {"receiver", "processor", "exporter", "extension",
                                        "connector"};
    if (component == NULL)
        return;
    for (size_t i = 0; i < CT_ARRAY_LEN(kinds); i++) {
        size_t n = strlen(kinds[i]);
        if (strncmp(component, kinds[i], n) != 0 || component[n] != '/' || component[n + 1] == 0)
            continue;
        ct_buf_printf(out, ",\"otelcol.component.kind\":\"%s\",\"otelcol.component.id\":\"",
                      kinds[i]);
        text_escape(out, component + n + 1, 1);
        ct_buf_putc(out, '"');
        return;
    }
}

static void log_write(ct_log_level_t level, const char *component, const char *msg)
{
    char ts[40];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03ldZ", now.tv_nsec / 1000000);

    /* Short lines are formatted on the stack (max = cap: never reallocated). */
    char stack[1024];
    ct_buf_t small = {.data = (uint8_t *)stack, .cap = sizeof stack, .max = sizeof stack};
    ct_buf_t heap = {0};
    /* Every byte may become a 6-byte escape; the component is written twice in JSON. */
    size_t worst = (strlen(msg) + 2 * (component ? strlen(component) : 8)) * 6 + 256;
    ct_buf_t *out = worst < sizeof stack ? &small : &heap;
    if (log_json) {
        ct_buf_printf(out, "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":\"", ts,
                      level_names[level]);
        text_escape(out, component ? component : "service", 1);
        ct_buf_puts(out, "\",\"msg\":\"");
        text_escape(out, msg, 1);
        ct_buf_putc(out, '"');
        write_component_fields(out, component);
        ct_buf_puts(out, "}\n");
    } else {
        ct_buf_printf(out, "%s\t%s\t", ts, level_names[level]);
        text_escape(out, component ? component : "service", 0);
        ct_buf_putc(out, '\t');
        text_escape(out, msg, 0);
        ct_buf_putc(out, '\n');
    }
    if (out->len > 0) {
        ssize_t w = write(STDERR_FILENO, out->data, out->len);
        (void)w;
    }
    ct_buf_free(&heap);
}

static void log_vemit(ct_log_level_t level, const char *component, const char *fmt, va_list ap,
                      uint64_t suppressed)
{
    char msg[2048];
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    if (n < 0)
        n = snprintf(msg, sizeof msg, "(unprintable log message: %s)", fmt);
    if ((size_t)n >= sizeof msg)
        n = (int)sizeof msg - 1;
    /* Messages from libraries end with a line break of their own. */
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    if (suppressed > 0 && (size_t)n < sizeof msg)
        snprintf(msg + n, sizeof msg - (size_t)n, " (%llu similar messages suppressed)",
                 (unsigned long long)suppressed);
    log_write(level, component, msg);
}

void ct_log(ct_log_level_t level, const char *component, const char *fmt, ...)
{
    if (!ct_log_enabled(level))
        return;
    va_list ap;
    va_start(ap, fmt);
    log_vemit(level, component, fmt, ap, 0);
    va_end(ap);
}

/* Never walks the list: entries may be limits freed since (only the flush walks it). */
static void register_limit(ct_log_limit_t *lim, ct_log_level_t level, const char *component)
{
    pthread_mutex_lock(&limits_lock);
    lim->level = level;
    lim->component = component;
    lim->next = limits_head;
    limits_head = lim;
    pthread_mutex_unlock(&limits_lock);
}

void ct_log_limited(ct_log_limit_t *lim, uint64_t interval_ns, ct_log_level_t level,
                    const char *component, const char *fmt, ...)
{
    if (!ct_log_enabled(level))
        return;
    uint64_t now = ct_now_mono_ns();
    uint64_t next = atomic_load(&lim->next_ns);
    if (now < next || !atomic_compare_exchange_strong(&lim->next_ns, &next, now + interval_ns)) {
        atomic_fetch_add(&lim->suppressed, 1);
        if (atomic_exchange(&lim->registered, 1) == 0)
            register_limit(lim, level, component);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    log_vemit(level, component, fmt, ap, atomic_exchange(&lim->suppressed, 0));
    va_end(ap);
}

void ct_log_flush_limits(void)
{
    pthread_mutex_lock(&limits_lock);
    for (ct_log_limit_t *lim = limits_head; lim != NULL; lim = lim->next) {
        uint64_t n = atomic_exchange(&lim->suppressed, 0);
        char msg[128];
        if (n == 0 || !ct_log_enabled(lim->level))
            continue;
        snprintf(msg, sizeof msg, "%llu more similar message%s held back by the rate limit",
                 (unsigned long long)n, n == 1 ? " was" : "s were");
        log_write(lim->level, lim->component, msg);
    }
    /* Emptied: the limits may be freed from here on (they stay marked, so never re-listed). */
    limits_head = NULL;
    pthread_mutex_unlock(&limits_lock);
}
