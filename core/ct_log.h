/*
 * cotel's own logs: one line per event on stderr, as console text or JSON,
 * naming the component instance (e.g. "exporter/kafka/main").
 */
#ifndef CT_LOG_H
#define CT_LOG_H

#include <stdatomic.h>
#include <stdint.h>

typedef enum ct_log_level {
    CT_LOG_ERROR = 0,
    CT_LOG_WARN = 1,
    CT_LOG_INFO = 2,
    CT_LOG_DEBUG = 3
} ct_log_level_t;

void ct_log_setup(ct_log_level_t level, int json);
int ct_log_parse_level(const char *s, ct_log_level_t *out);
int ct_log_enabled(ct_log_level_t level);
/* The settings in force, to restore them after a temporary change. */
ct_log_level_t ct_log_level(void);
int ct_log_is_json(void);

void ct_log(ct_log_level_t level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * A rate limit for one log site: at most one line per interval; the lines
 * held back are counted and reported with the next one that passes, or by
 * ct_log_flush_limits at shutdown.
 */
typedef struct ct_log_limit {
    _Atomic uint64_t next_ns;
    _Atomic uint64_t suppressed;
    /* Set when it first holds a line back, for ct_log_flush_limits. */
    _Atomic int registered;
    ct_log_level_t level;
    const char *component;
    struct ct_log_limit *next;
} ct_log_limit_t;

#define CT_LOG_LIMIT_INIT                                                                          \
    {                                                                                              \
        0, 0                                                                                       \
    }

void ct_log_limited(ct_log_limit_t *lim, uint64_t interval_ns, ct_log_level_t level,
                    const char *component, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/*
 * Logs, for each rate limit still holding lines back, how many it held, so
 * that the last of a burst (at a shutdown, say) is not lost from the log.
 * Call it once, at the end, while every limit that ever held a line back
 * (and its component string) still exists; it empties its list.
 */
void ct_log_flush_limits(void);

#define ct_log_error(comp, ...) ct_log(CT_LOG_ERROR, comp, __VA_ARGS__)
#define ct_log_warn(comp, ...)  ct_log(CT_LOG_WARN, comp, __VA_ARGS__)
#define ct_log_info(comp, ...)  ct_log(CT_LOG_INFO, comp, __VA_ARGS__)
#define ct_log_debug(comp, ...)                                                                    \
    do {                                                                                           \
        if (ct_log_enabled(CT_LOG_DEBUG))                                                          \
            ct_log(CT_LOG_DEBUG, comp, __VA_ARGS__);                                               \
    } while (0)

#endif
