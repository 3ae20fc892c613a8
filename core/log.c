/*
 * Log lines on stderr. A line is written with one write(2) so lines from
 * different threads never interleave.
 */
#include "ct_log.h"

#include "ct_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static ct_log_level_t log_level = CT_LOG_INFO;
static int log_json;

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

int ct_log_enabled(ct_log_level_t level)
{
    return level <= log_level;
}

static void json_escape(ct_buf_t *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            ct_buf_putc(b, '\\');
            ct_buf_putc(b, c);
        } else if (c < 0x20) {
            ct_buf_printf(b, "\\u%04x", c);
        } else {
            ct_buf_putc(b, c);
        }
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
    size_t worst = (strlen(msg) + (component ? strlen(component) : 8)) * 6 + 128;
    ct_buf_t *out = worst < sizeof stack ? &small : &heap;
    if (log_json) {
        ct_buf_printf(out, "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":\"", ts,
                      level_names[level]);
        json_escape(out, component ? component : "service");
        ct_buf_puts(out, "\",\"msg\":\"");
        json_escape(out, msg);
        ct_buf_puts(out, "\"}\n");
    } else {
        ct_buf_printf(out, "%s\t%s\t%s\t%s\n", ts, level_names[level],
                      component ? component : "service", msg);
    }
    if (out->len > 0) {
        ssize_t w = write(STDERR_FILENO, out->data, out->len);
        (void)w;
    }
    ct_buf_free(&heap);
}

static void log_vemit(ct_log_level_t level, const char *component, const char *fmt,
                      va_list ap, uint64_t suppressed)
{
    char msg[2048];
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    if (n >= 0 && suppressed > 0 && (size_t)n < sizeof msg)
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

void ct_log_limited(ct_log_limit_t *lim, uint64_t interval_ns, ct_log_level_t level,
                    const char *component, const char *fmt, ...)
{
    if (!ct_log_enabled(level))
        return;
    uint64_t now = ct_now_mono_ns();
    uint64_t next = atomic_load(&lim->next_ns);
    if (now < next || !atomic_compare_exchange_strong(&lim->next_ns, &next, now + interval_ns)) {
        atomic_fetch_add(&lim->suppressed, 1);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    log_vemit(level, component, fmt, ap, atomic_exchange(&lim->suppressed, 0));
    va_end(ap);
}
