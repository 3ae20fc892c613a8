/*
 * The registry of cotel's own metrics and its Prometheus text output.
 * Registration takes a lock; updates are relaxed atomic adds.
 */
#include "ct_metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum metric_type { M_COUNTER, M_GAUGE, M_GAUGE_FN, M_HISTOGRAM, M_COUNTER_FN };

struct ct_histogram {
    pthread_mutex_t lock;
    size_t nbounds;
    double *bounds;
    uint64_t *counts; /* nbounds + 1 */
    uint64_t count;
    double sum;
};

typedef struct metric {
    enum metric_type type;
    char *name;
    char *help;
    char *labels;
    ct_counter_t cell;
    ct_gauge_fn fn;
    void *arg;
    ct_histogram_t *hist;
    struct metric *next;
} metric_t;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static metric_t *registry_head, **registry_tail = &registry_head;
/* Labels on every series (the service's resource, as the Go collector adds it). */
static char *const_labels;

static metric_t *find_locked(const char *name, const char *labels)
{
    for (metric_t *m = registry_head; m != NULL; m = m->next) {
        if (strcmp(m->name, name) == 0 && strcmp(m->labels, labels) == 0)
            return m;
    }
    return NULL;
}

static metric_t *register_metric(enum metric_type type, const char *name, const char *help,
                                 const char *labels)
{
    labels = labels ? labels : "";
    pthread_mutex_lock(&registry_lock);
    metric_t *m = find_locked(name, labels);
    if (m == NULL && (m = calloc(1, sizeof *m)) != NULL) {
        m->type = type;
        m->name = strdup(name);
        m->help = strdup(help ? help : "");
        m->labels = strdup(labels);
        if (m->name == NULL || m->help == NULL || m->labels == NULL) {
            free(m->name);
            free(m->help);
            free(m->labels);
            free(m);
            m = NULL;
        } else {
            *registry_tail = m;
            registry_tail = &m->next;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    return m;
}

/* Where metrics go when registration fails: counting never crashes. */
static ct_counter_t sink_cell;

ct_counter_t *ct_metrics_counter(const char *name, const char *help, const char *labels)
{
    metric_t *m = register_metric(M_COUNTER, name, help, labels);
    return m ? &m->cell : &sink_cell;
}

ct_counter_t *ct_metrics_gauge(const char *name, const char *help, const char *labels)
{
    metric_t *m = register_metric(M_GAUGE, name, help, labels);
    return m ? &m->cell : &sink_cell;
}

static void register_fn(enum metric_type type, const char *name, const char *help,
                        const char *labels, ct_gauge_fn fn, void *arg)
{
    metric_t *m = register_metric(type, name, help, labels);
    if (m != NULL) {
        pthread_mutex_lock(&registry_lock);
        m->fn = fn;
        m->arg = arg;
        pthread_mutex_unlock(&registry_lock);
    }
}

void ct_metrics_gauge_fn(const char *name, const char *help, const char *labels, ct_gauge_fn fn,
                         void *arg)
{
    register_fn(M_GAUGE_FN, name, help, labels, fn, arg);
}

void ct_metrics_counter_fn(const char *name, const char *help, const char *labels, ct_gauge_fn fn,
                           void *arg)
{
    register_fn(M_COUNTER_FN, name, help, labels, fn, arg);
}

void ct_metrics_gauge_fn_remove(void *arg)
{
    pthread_mutex_lock(&registry_lock);
    for (metric_t *m = registry_head; m != NULL; m = m->next) {
        if ((m->type == M_GAUGE_FN || m->type == M_COUNTER_FN) && m->arg == arg)
            m->fn = NULL;
    }
    pthread_mutex_unlock(&registry_lock);
}

int ct_metrics_set_const_labels(const char *labels)
{
    char *copy = NULL;
    if (labels != NULL && *labels != '\0' && (copy = strdup(labels)) == NULL)
        return -1;
    pthread_mutex_lock(&registry_lock);
    free(const_labels);
    const_labels = copy;
    pthread_mutex_unlock(&registry_lock);
    return 0;
}

size_t ct_metrics_label_escape(char *out, size_t len, const char *value)
{
    size_t n = 0;
    if (len == 0)
        return 0;
    for (; *value != '\0'; value++) {
        const char *rep = NULL;
        char one[2] = {*value, '\0'};
        if (*value == '\\')
            rep = "\\\\";
        else if (*value == '"')
            rep = "\\\"";
        else if (*value == '\n')
            rep = "\\n";
        else
            rep = one;
        size_t rl = strlen(rep);
        if (n + rl >= len)
            break; /* cut between characters, never inside an escape */
        memcpy(out + n, rep, rl);
        n += rl;
    }
    out[n] = '\0';
    return n;
}

ct_histogram_t *ct_metrics_histogram(const char *name, const char *help, const char *labels,
                                     const double *bounds, size_t nbounds)
{
    metric_t *m = register_metric(M_HISTOGRAM, name, help, labels);
    if (m == NULL)
        return NULL;
    pthread_mutex_lock(&registry_lock);
    if (m->hist == NULL) {
        ct_histogram_t *h = calloc(1, sizeof *h);
        if (h != NULL) {
            h->bounds = malloc(nbounds * sizeof *h->bounds);
            h->counts = calloc(nbounds + 1, sizeof *h->counts);
            if (h->bounds == NULL || h->counts == NULL) {
                free(h->bounds);
                free(h->counts);
                free(h);
                h = NULL;
            } else {
                memcpy(h->bounds, bounds, nbounds * sizeof *bounds);
                h->nbounds = nbounds;
                pthread_mutex_init(&h->lock, NULL);
            }
        }
        m->hist = h;
    }
    pthread_mutex_unlock(&registry_lock);
    return m->hist;
}

void ct_histogram_observe(ct_histogram_t *h, double v)
{
    if (h == NULL)
        return;
    size_t i = 0;
    while (i < h->nbounds && v > h->bounds[i])
        i++;
    pthread_mutex_lock(&h->lock);
    h->counts[i]++;
    h->count++;
    h->sum += v;
    pthread_mutex_unlock(&h->lock);
}

/*
 * The shortest decimal that reads back as v, laid out as Go's strconv does for
 * the Go collector (plain from 1e-4 up to 1e6, with an exponent outside:
 * le="10", le="100000", le="1e+06"). Bucket bounds are matched as
 * strings in queries, so the layout matters, not just the value.
 */
static void fmt_double(char *out, size_t len, double v)
{
    if (isnan(v) || isinf(v)) {
        snprintf(out, len, "%s", isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == 0) {
        snprintf(out, len, "0");
        return;
    }
    int digits = 17;
    for (int p = 1; p < 17; p++) {
        snprintf(out, len, "%.*e", p - 1, v);
        if (strtod(out, NULL) == v) {
            digits = p;
            break;
        }
    }
    snprintf(out, len, "%.*e", digits - 1, v);
    const char *e = strchr(out, 'e');
    int exp = e ? atoi(e + 1) : 0;
    if (exp >= -4 && exp < 6)
        snprintf(out, len, "%.*f", digits - 1 - exp > 0 ? digits - 1 - exp : 0, v);
}

static bool is_counter(const metric_t *m)
{
    return m->type == M_COUNTER || m->type == M_COUNTER_FN;
}

static const char *suffix(const metric_t *m)
{
    return is_counter(m) ? "_total" : "";
}

/* The series' own labels, then `extra` (a histogram's le), then the constant labels. */
static void write_labels(ct_buf_t *out, const char *labels, const char *extra)
{
    const char *parts[3] = {labels, extra, const_labels};
    int n = 0;
    for (size_t i = 0; i < CT_ARRAY_LEN(parts); i++) {
        if (parts[i] == NULL || *parts[i] == '\0')
            continue;
        ct_buf_printf(out, "%s%s", n++ ? "," : "{", parts[i]);
    }
    if (n > 0)
        ct_buf_putc(out, '}');
}

/* HELP text: the exposition format escapes backslash and line feed. */
static void write_help(ct_buf_t *out, const metric_t *m)
{
    static const char *const type_names[] = {"counter", "gauge", "gauge", "histogram", "counter"};
    ct_buf_printf(out, "# HELP %s%s ", m->name, suffix(m));
    for (const char *p = m->help; *p != '\0'; p++) {
        if (*p == '\\')
            ct_buf_puts(out, "\\\\");
        else if (*p == '\n')
            ct_buf_puts(out, "\\n");
        else
            ct_buf_putc(out, (uint8_t)*p);
    }
    ct_buf_printf(out, "\n# TYPE %s%s %s\n", m->name, suffix(m), type_names[m->type]);
}

static void write_histogram(ct_buf_t *out, const metric_t *m)
{
    ct_histogram_t *h = m->hist;
    pthread_mutex_lock(&h->lock);
    uint64_t cum = 0;
    for (size_t i = 0; i <= h->nbounds; i++) {
        char le[64], bound[32];
        cum += h->counts[i];
        if (i < h->nbounds) {
            fmt_double(bound, sizeof bound, h->bounds[i]);
            snprintf(le, sizeof le, "le=\"%s\"", bound);
        } else
            snprintf(le, sizeof le, "le=\"+Inf\"");
        ct_buf_printf(out, "%s_bucket", m->name);
        write_labels(out, m->labels, le);
        ct_buf_printf(out, " %llu\n", (unsigned long long)cum);
    }
    char sum[32];
    fmt_double(sum, sizeof sum, h->sum);
    ct_buf_printf(out, "%s_sum", m->name);
    write_labels(out, m->labels, NULL);
    ct_buf_printf(out, " %s\n%s_count", sum, m->name);
    write_labels(out, m->labels, NULL);
    ct_buf_printf(out, " %llu\n", (unsigned long long)h->count);
    pthread_mutex_unlock(&h->lock);
}

/* False for a series with nothing to show (a removed function, an unbuilt histogram). */
static bool series_ready(const metric_t *s)
{
    if (s->type == M_HISTOGRAM)
        return s->hist != NULL;
    if (s->type == M_GAUGE_FN || s->type == M_COUNTER_FN)
        return s->fn != NULL;
    return true;
}

static void write_series(ct_buf_t *out, const metric_t *s)
{
    if (s->type == M_HISTOGRAM) {
        write_histogram(out, s);
        return;
    }
    ct_buf_printf(out, "%s%s", s->name, suffix(s));
    write_labels(out, s->labels, NULL);
    if (s->type == M_GAUGE_FN || s->type == M_COUNTER_FN) {
        char v[32];
        fmt_double(v, sizeof v, s->fn(s->arg));
        ct_buf_printf(out, " %s\n", v);
    } else
        ct_buf_printf(out, " %llu\n", (unsigned long long)ct_counter_get(&s->cell));
}

int ct_metrics_write_prometheus(ct_buf_t *out)
{
    pthread_mutex_lock(&registry_lock);
    for (metric_t *m = registry_head; m != NULL; m = m->next) {
        /* HELP and TYPE once per name, before its first series; the series are grouped. */
        bool first = true;
        for (metric_t *p = registry_head; p != m && first; p = p->next)
            first = strcmp(p->name, m->name) != 0;
        if (!first)
            continue;
        bool header = false;
        for (metric_t *s = m; s != NULL; s = s->next) {
            if (strcmp(s->name, m->name) != 0 || !series_ready(s))
                continue;
            if (!header)
                write_help(out, m);
            header = true;
            write_series(out, s);
        }
    }
    pthread_mutex_unlock(&registry_lock);
    return 0;
}

uint64_t ct_metrics_value(const char *name, const char *labels)
{
    pthread_mutex_lock(&registry_lock);
    metric_t *m = find_locked(name, labels ? labels : "");
    uint64_t v = m ? ct_counter_get(&m->cell) : 0;
    pthread_mutex_unlock(&registry_lock);
    return v;
}

void ct_receiver_obs_init(ct_receiver_obs_t *o, const char *receiver_id, const char *transport)
{
    char labels[256], id[160];
    ct_metrics_label_escape(id, sizeof id, receiver_id);
    snprintf(labels, sizeof labels, "receiver=\"%s\",transport=\"%s\"", id, transport);
    for (int s = 0; s < CT_SIGNAL_COUNT; s++) {
        char name[96];
        const char *item = ct_signal_item_name((ct_signal_t)s);
        snprintf(name, sizeof name, "otelcol_receiver_accepted_%s", item);
        o->accepted[s] = ct_metrics_counter(name, "Items accepted into the pipeline.", labels);
        snprintf(name, sizeof name, "otelcol_receiver_refused_%s", item);
        o->refused[s] = ct_metrics_counter(name, "Items refused by the pipeline.", labels);
    }
}

void ct_receiver_obs_record(ct_receiver_obs_t *o, ct_signal_t sig, size_t items, ct_code_t code)
{
    ct_counter_add(code == CT_OK ? o->accepted[sig] : o->refused[sig], items);
}
