/*
 * One scrape target: the labels Prometheus gives its series, what outlives
 * a scrape (each series' start time, the series of the last scrape for
 * stale markers), and the OTLP metrics request written for each scrape.
 */
#include "prom_model.h"
#include "prom_receiver.h"

#include "ct_wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS 1000000ull

/* A series seen in an earlier scrape. */
typedef struct series {
    uint8_t *key; /* length-prefixed: job, instance, name, type, then name/value pairs */
    uint32_t klen;
    uint64_t hash;
    uint64_t start_ns;
    double last;   /* counter value; histogram and summary count: a drop is a reset */
    uint64_t seen; /* the last scrape that had it */
    bool timestamped;
} series_t;

struct prom_target {
    const prom_job_t *job;
    const prom_opts_t *opts;
    char *url;
    char *instance;
    prom_label_t *tlabels; /* target labels (job, instance, static ones), sorted */
    size_t ntlabels;
    char **tstrings; /* what tlabels point into */
    size_t nstrings;

    prom_scrape_t scrape; /* the last parse; its arena also holds the output model */

    series_t *series;
    size_t nseries, cap_series;
    uint32_t *index; /* series + 1; 0: empty */
    size_t index_cap;
    uint64_t gen;
    size_t added;

    prom_model_t m; /* what the scrape becomes */

    prom_label_t *merged; /* scratch: a sample's labels merged with the target's */
    size_t cap_merged;
    ct_buf_t key;    /* scratch: a series key */
    ct_buf_t joined; /* scratch: relabel source values */
    char failure[300];
};

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    size_t nc = *cap ? *cap : 16;
    void *p;

    if (need <= *cap)
        return 0;
    while (nc < need)
        nc *= 2;
    if ((p = realloc(*arr, nc * elem)) == NULL)
        return -ENOMEM;
    *arr = p;
    *cap = nc;
    return 0;
}

static prom_str_t str_of(const char *s)
{
    return (prom_str_t){s, (uint32_t)strlen(s)};
}

static int str_cmp(prom_str_t a, prom_str_t b)
{
    size_t m = a.n < b.n ? a.n : b.n;
    int c = m ? memcmp(a.p, b.p, m) : 0;
    return c != 0 ? c : (a.n > b.n) - (a.n < b.n);
}

static void sort_labels(prom_label_t *l, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        prom_label_t x = l[i];
        size_t j = i;
        for (; j > 0 && str_cmp(l[j - 1].name, x.name) > 0; j--)
            l[j] = l[j - 1];
        l[j] = x;
    }
}

static prom_label_t *find_label(prom_label_t *l, size_t n, prom_str_t name)
{
    for (size_t i = 0; i < n; i++) {
        if (prom_str_eq(l[i].name, name.p, name.n))
            return &l[i];
    }
    return NULL;
}

/* ---- target labels ---- */

static char *own(prom_target_t *t, const char *s)
{
    char *c = strdup(s);
    if (c != NULL)
        t->tstrings[t->nstrings++] = c;
    return c;
}

/* Sets a target label; a static label may override the job's own (job, even instance). */
static int add_tlabel(prom_target_t *t, const char *name, const char *value)
{
    prom_label_t *l = find_label(t->tlabels, t->ntlabels, str_of(name));
    char *v = own(t, value), *n;

    if (v == NULL)
        return -ENOMEM;
    if (l != NULL) {
        l->value = str_of(v);
        return 0;
    }
    if ((n = own(t, name)) == NULL)
        return -ENOMEM;
    t->tlabels[t->ntlabels++] = (prom_label_t){str_of(n), str_of(v)};
    return 0;
}

prom_target_t *prom_target_new(const prom_job_t *job, const prom_target_cfg_t *tc,
                               const prom_opts_t *opts)
{
    prom_target_t *t = calloc(1, sizeof *t);
    size_t max = tc->labels.n + 2;
    ct_buf_t url = {0};
    int rc = 0;

    if (t == NULL)
        return NULL;
    t->job = job;
    t->opts = opts;
    prom_scrape_init(&t->scrape);
    t->tlabels = calloc(max, sizeof *t->tlabels);
    t->tstrings = calloc(2 * max, sizeof *t->tstrings);
    if (t->tlabels == NULL || t->tstrings == NULL)
        goto fail;

    rc |= add_tlabel(t, "job", job->name);
    for (size_t i = 0; i < tc->labels.n && rc == 0; i++)
        rc |= add_tlabel(t, tc->labels.k[i], tc->labels.v[i]);
    if (rc == 0 && find_label(t->tlabels, t->ntlabels, str_of("instance")) == NULL)
        rc |= add_tlabel(t, "instance", tc->address);
    if (rc != 0)
        goto fail;
    sort_labels(t->tlabels, t->ntlabels);
    prom_label_t *inst = find_label(t->tlabels, t->ntlabels, str_of("instance"));
    if ((t->instance = strndup(inst->value.p, inst->value.n)) == NULL)
        goto fail;

    rc |= ct_buf_printf(&url, "%s://%s%s%s", job->scheme == PROM_SCHEME_HTTPS ? "https" : "http",
                        tc->address, job->metrics_path, job->query ? job->query : "");
    rc |= ct_buf_putc(&url, '\0');
    if (rc != 0)
        goto fail;
    t->url = (char *)ct_buf_take(&url, &max);
    return t;
fail:
    ct_buf_free(&url);
    prom_target_free(t);
    return NULL;
}

void prom_target_free(prom_target_t *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nstrings; i++)
        free(t->tstrings[i]);
    free(t->tstrings);
    free(t->tlabels);
    for (size_t i = 0; i < t->nseries; i++)
        free(t->series[i].key);
    free(t->series);
    free(t->index);
    prom_model_free(&t->m);
    free(t->merged);
    ct_buf_free(&t->key);
    ct_buf_free(&t->joined);
    prom_scrape_free(&t->scrape);
    free(t->url);
    free(t->instance);
    free(t);
}

const char *prom_target_instance(const prom_target_t *t)
{
    return t->instance;
}

const char *prom_target_url(const prom_target_t *t)
{
    return t->url;
}

/* ---- a sample's labels as Prometheus stores them ---- */

/*
 * Merges a sample's labels with the target's into t->merged, sorted and
 * without empty values. With honor_labels the sample's values win; without,
 * the target's do and a clashing exposed label is kept as exported_<name>
 * (exported_exported_<name> when that is taken too), as Prometheus does.
 */
static int merge_labels(prom_target_t *t, const prom_label_t *l, size_t n, size_t *out)
{
    size_t m = n, nconf = 0;
    prom_label_t *r;

    if (grow((void **)&t->merged, &t->cap_merged, 2 * (n + t->ntlabels), sizeof *r) != 0)
        return -ENOMEM;
    r = t->merged;
    if (n > 0)
        memcpy(r, l, n * sizeof *l);
    /*
     * At most n + ntlabels labels result (a clash renames one label and adds
     * none), so the clashing ones can wait past that room.
     */
    prom_label_t *conf = r + n + t->ntlabels;
    for (size_t i = 0; i < t->ntlabels; i++) {
        const prom_label_t *tl = &t->tlabels[i];
        prom_label_t *x = find_label(r, n, tl->name);
        if (x == NULL) {
            r[m++] = *tl;
        } else if (x->value.n == 0) {
            x->value = tl->value;
        } else if (!t->job->honor_labels) {
            conf[nconf++] = *x;
            x->value = tl->value;
        }
    }

    /* Shorter names first, so exported_a is placed before exported_exported_a is needed. */
    for (size_t i = 1; i < nconf; i++) {
        prom_label_t x = conf[i];
        size_t j = i;
        for (; j > 0 && conf[j - 1].name.n > x.name.n; j--)
            conf[j] = conf[j - 1];
        conf[j] = x;
    }
    for (size_t i = 0; i < nconf; i++) {
        prom_str_t name = conf[i].name;
        do {
            char *p = prom_scrape_alloc(&t->scrape, name.n + 9);
            if (p == NULL)
                return -ENOMEM;
            memcpy(p, "exported_", 9);
            memcpy(p + 9, name.p, name.n);
            name = (prom_str_t){p, name.n + 9};
            prom_label_t *x = find_label(r, m, name);
            if (x == NULL || x->value.n == 0)
                break;
        } while (1);
        prom_label_t *x = find_label(r, m, name);
        if (x != NULL)
            x->value = conf[i].value;
        else
            r[m++] = (prom_label_t){name, conf[i].value};
    }

    size_t k = 0;
    for (size_t i = 0; i < m; i++) {
        if (r[i].value.n > 0)
            r[k++] = r[i];
    }
    sort_labels(r, k);
    *out = k;
    return 0;
}

/* metric_relabel_configs: keep and drop, on the labels as Prometheus would see them. */
static bool relabel_filter(void *arg, prom_str_t name, const prom_label_t *l, size_t n)
{
    prom_target_t *t = arg;
    const prom_job_t *job = t->job;
    size_t m;

    if (merge_labels(t, l, n, &m) != 0)
        return true; /* out of memory: the parse fails on its own next allocation */
    for (size_t i = 0; i < job->nrelabel; i++) {
        const prom_relabel_t *rl = &job->relabel[i];
        ct_buf_reset(&t->joined);
        for (size_t j = 0; j < rl->source_labels.n; j++) {
            const char *src = rl->source_labels.v[j];
            prom_str_t v = {"", 0};
            if (strcmp(src, "__name__") == 0) {
                v = name;
            } else {
                prom_label_t *x = find_label(t->merged, m, str_of(src));
                if (x != NULL)
                    v = x->value;
            }
            if (j > 0)
                ct_buf_puts(&t->joined, rl->separator);
            ct_buf_append(&t->joined, v.p, v.n);
        }
        if (ct_buf_putc(&t->joined, '\0') != 0)
            return true;
        bool match = regexec(&rl->re, (const char *)t->joined.data, 0, NULL, 0) == 0;
        if (match != (rl->action == PROM_RELABEL_KEEP))
            return false;
    }
    return true;
}

/* ---- series that outlive a scrape ---- */

static uint64_t hash_key(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static int put_field(ct_buf_t *b, const char *p, size_t n)
{
    int rc = ct_wire_put_varint(b, n);
    return rc != 0 ? rc : ct_buf_append(b, p, n);
}

/* Writes the key of a series into t->key. */
static int make_key(prom_target_t *t, const prom_res_t *res, prom_str_t name, prom_type_t type,
                    const prom_label_t *attrs, size_t n)
{
    ct_buf_t *b = &t->key;
    char ty = (char)('0' + type);
    int rc = 0;

    ct_buf_reset(b);
    rc |= put_field(b, res->job.p, res->job.n);
    rc |= put_field(b, res->instance.p, res->instance.n);
    rc |= put_field(b, name.p, name.n);
    rc |= put_field(b, &ty, 1);
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc |= put_field(b, attrs[i].name.p, attrs[i].name.n);
        rc |= put_field(b, attrs[i].value.p, attrs[i].value.n);
    }
    return rc ? -ENOMEM : 0;
}

static int index_rebuild(prom_target_t *t)
{
    size_t cap = 256;
    uint32_t *ix;

    while (cap < 2 * (t->nseries + 1))
        cap *= 2;
    if ((ix = calloc(cap, sizeof *ix)) == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < t->nseries; i++) {
        size_t j = (size_t)t->series[i].hash & (cap - 1);
        while (ix[j] != 0)
            j = (j + 1) & (cap - 1);
        ix[j] = (uint32_t)i + 1;
    }
    free(t->index);
    t->index = ix;
    t->index_cap = cap;
    return 0;
}

/* The series whose key is in t->key, created when absent. NULL when out of memory. */
static series_t *series_get(prom_target_t *t, bool *created)
{
    const uint8_t *k = t->key.data;
    uint32_t klen = (uint32_t)t->key.len;
    uint64_t h = hash_key(k, klen);
    series_t *s;
    size_t j;

    *created = false;
    if ((t->nseries + 1) * 2 > t->index_cap && index_rebuild(t) != 0)
        return NULL;
    for (j = (size_t)h & (t->index_cap - 1); t->index[j] != 0; j = (j + 1) & (t->index_cap - 1)) {
        s = &t->series[t->index[j] - 1];
        if (s->hash == h && s->klen == klen && memcmp(s->key, k, klen) == 0)
            return s;
    }
    if (grow((void **)&t->series, &t->cap_series, t->nseries + 1, sizeof *t->series) != 0)
        return NULL;
    s = &t->series[t->nseries];
    *s = (series_t){.klen = klen, .hash = h};
    if ((s->key = malloc(klen)) == NULL)
        return NULL;
    memcpy(s->key, k, klen);
    t->index[j] = (uint32_t)++t->nseries;
    *created = true;
    return s;
}

/* Forgets the series the last scrape did not have (their stale markers are written). */
static int series_sweep(prom_target_t *t)
{
    size_t k = 0;

    for (size_t i = 0; i < t->nseries; i++) {
        if (t->series[i].seen == t->gen)
            t->series[k++] = t->series[i];
        else
            free(t->series[i].key);
    }
    if (k == t->nseries)
        return 0;
    t->nseries = k;
    return index_rebuild(t);
}

/* Reads one length-prefixed field of a series key. */
static const uint8_t *get_field(const uint8_t *p, const uint8_t *end, prom_str_t *out)
{
    uint64_t n = 0;
    size_t k = ct_wire_get_varint(p, (size_t)(end - p), &n);

    if (k == 0 || n > (uint64_t)(end - p) - k)
        return NULL;
    *out = (prom_str_t){(const char *)p + k, (uint32_t)n};
    return p + k + n;
}

/* ---- the output model: resources, metrics, points ---- */

static uint32_t resource_get(prom_target_t *t, prom_str_t job, prom_str_t instance)
{
    for (size_t i = t->m.nres; i-- > 0;) {
        if (str_cmp(t->m.res[i].job, job) == 0 && str_cmp(t->m.res[i].instance, instance) == 0)
            return (uint32_t)i;
    }
    if (grow((void **)&t->m.res, &t->m.cap_res, t->m.nres + 1, sizeof *t->m.res) != 0)
        return PROM_NONE;
    t->m.res[t->m.nres] = (prom_res_t){.job = job, .instance = instance};
    return (uint32_t)t->m.nres++;
}

static uint32_t scope_get(prom_target_t *t, uint32_t res, prom_str_t name, prom_str_t version)
{
    for (size_t i = 0; i < t->m.nscopes; i++) {
        const prom_scope_t *sc = &t->m.scopes[i];
        if (sc->res == res && str_cmp(sc->name, name) == 0 && str_cmp(sc->version, version) == 0)
            return (uint32_t)i;
    }
    if (grow((void **)&t->m.scopes, &t->m.cap_scopes, t->m.nscopes + 1, sizeof *t->m.scopes) != 0)
        return PROM_NONE;
    t->m.scopes[t->m.nscopes] = (prom_scope_t){.res = res, .name = name, .version = version};
    return (uint32_t)t->m.nscopes++;
}

/*
 * Takes otel_scope_name and otel_scope_version out of a point's attributes:
 * they name its instrumentation scope (without them, the receiver's own).
 */
static uint32_t take_scope(prom_target_t *t, uint32_t res, prom_label_t *attrs, size_t *n)
{
    prom_str_t name = {"", 0}, version = {"", 0};
    size_t k = 0;

    for (size_t i = 0; i < *n; i++) {
        if (prom_str_eq(attrs[i].name, "otel_scope_name", 15))
            name = attrs[i].value;
        else if (prom_str_eq(attrs[i].name, "otel_scope_version", 18))
            version = attrs[i].value;
        else
            attrs[k++] = attrs[i];
    }
    *n = k;
    if (name.n == 0)
        version.n = 0; /* a version alone names nothing */
    return scope_get(t, res, name, version);
}

/* The metric (res, scope, name, type) among metrics[from ...], created when absent. */
static prom_metric_t *metric_get(prom_target_t *t, size_t from, uint32_t res, uint32_t scope,
                                 prom_str_t name, prom_type_t type, prom_str_t help)
{
    prom_metric_t *m;

    if (res == PROM_NONE || scope == PROM_NONE)
        return NULL;
    for (size_t i = t->m.nmetrics; i-- > from;) {
        m = &t->m.metrics[i];
        if (m->res == res && m->scope == scope && m->type == type && str_cmp(m->name, name) == 0)
            return m;
    }
    if (grow((void **)&t->m.metrics, &t->m.cap_metrics, t->m.nmetrics + 1, sizeof *m) != 0)
        return NULL;
    m = &t->m.metrics[t->m.nmetrics++];
    *m = (prom_metric_t){.res = res,
                         .scope = scope,
                         .name = name,
                         .help = help,
                         .type = type,
                         .first = PROM_NONE,
                         .last = PROM_NONE};
    return m;
}

static prom_datapoint_t *point_add(prom_target_t *t, prom_metric_t *m)
{
    prom_datapoint_t *p;

    if (grow((void **)&t->m.points, &t->m.cap_points, t->m.npoints + 1, sizeof *p) != 0)
        return NULL;
    p = &t->m.points[t->m.npoints];
    *p = (prom_datapoint_t){.next = PROM_NONE};
    if (m->last == PROM_NONE)
        m->first = (uint32_t)t->m.npoints;
    else
        t->m.points[m->last].next = (uint32_t)t->m.npoints;
    m->last = (uint32_t)t->m.npoints++;
    return p;
}

/* Splits t->merged into the resource (job, instance) and the attributes (the rest). */
static int split_labels(prom_target_t *t, size_t n, uint32_t *res, prom_label_t **attrs,
                        size_t *nattrs)
{
    prom_str_t job = {"", 0}, instance = {"", 0};
    prom_label_t *a = n ? prom_scrape_alloc(&t->scrape, n * sizeof *a) : NULL;
    size_t k = 0;

    if (n > 0 && a == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const prom_label_t *l = &t->merged[i];
        if (prom_str_eq(l->name, "job", 3))
            job = l->value;
        else if (prom_str_eq(l->name, "instance", 8))
            instance = l->value;
        else
            a[k++] = *l;
    }
    if ((*res = resource_get(t, job, instance)) == PROM_NONE)
        return -ENOMEM;
    *attrs = a;
    *nattrs = k;
    return 0;
}

static bool is_cumulative(prom_type_t type)
{
    return type == PROM_COUNTER || type == PROM_HISTOGRAM || type == PROM_SUMMARY;
}

/*
 * Start time of a cumulative point. A series' first point starts at its
 * own time, as the Go receiver's default adjustment does (the start is not
 * known); it keeps that start until its value drops (a reset), when the
 * new start is just before the point. A _created sample wins over both.
 */
static uint64_t start_time(series_t *s, bool created, const prom_point_t *p, prom_type_t type,
                           uint64_t time_ns)
{
    double cur = type == PROM_COUNTER ? p->value : p->count;
    uint64_t start;

    if (created)
        start = time_ns;
    else if (cur < s->last)
        start = time_ns > MS ? time_ns - MS : time_ns;
    else
        start = s->start_ns;
    if (p->has_created && p->created > 0 && p->created * 1e9 < (double)UINT64_MAX)
        start = (uint64_t)(p->created * 1e9);
    s->start_ns = start;
    s->last = cur;
    return start;
}

/*
 * target_info and otel_scope_info carry no data: their labels describe the
 * resource and a scope, and they are dropped, as the compatibility spec says.
 */
static int add_info(prom_target_t *t, const prom_family_t *f, bool target)
{
    for (uint32_t i = f->first; i != PROM_NONE; i = t->scrape.points[i].next) {
        const prom_point_t *p = &t->scrape.points[i];
        prom_label_t *attrs, *all;
        size_t n, nattrs;
        uint32_t res, sc;
        uint32_t *have;
        prom_label_t **where;

        if (merge_labels(t, p->labels, p->nlabels, &n) != 0 ||
            split_labels(t, n, &res, &attrs, &nattrs) != 0)
            return -ENOMEM;
        if (target) {
            have = &t->m.res[res].nattrs;
            where = &t->m.res[res].attrs;
        } else {
            if ((sc = take_scope(t, res, attrs, &nattrs)) == PROM_NONE)
                return -ENOMEM;
            have = &t->m.scopes[sc].nattrs;
            where = &t->m.scopes[sc].attrs;
        }
        all = prom_scrape_alloc(&t->scrape, (*have + nattrs + 1) * sizeof *all);
        if (all == NULL)
            return -ENOMEM;
        if (*have > 0)
            memcpy(all, *where, *have * sizeof *all);
        if (nattrs > 0)
            memcpy(all + *have, attrs, nattrs * sizeof *all);
        *where = all;
        *have += (uint32_t)nattrs;
    }
    return 0;
}

/* Adds a family's points; histograms and summaries without _count are dropped. */
static int add_family(prom_target_t *t, const prom_family_t *f, uint64_t now_ns)
{
    const prom_job_t *job = t->job;
    prom_str_t name = f->name;
    size_t first_metric = t->m.nmetrics;

    if (str_cmp(name, str_of("target_info")) == 0)
        return add_info(t, f, true);
    if (str_cmp(name, str_of("otel_scope_info")) == 0)
        return add_info(t, f, false);
    if (t->opts->trim_metric_suffixes && f->type == PROM_COUNTER && name.n > 6 &&
        memcmp(name.p + name.n - 6, "_total", 6) == 0)
        name.n -= 6;

    for (uint32_t i = f->first; i != PROM_NONE; i = t->scrape.points[i].next) {
        const prom_point_t *p = &t->scrape.points[i];
        bool whole =
            f->type == PROM_HISTOGRAM || f->type == PROM_SUMMARY ? p->has_count : p->has_value;
        prom_label_t *attrs;
        size_t n, nattrs;
        uint32_t res;
        bool created;

        if (!whole)
            continue;
        if (merge_labels(t, p->labels, p->nlabels, &n) != 0 ||
            split_labels(t, n, &res, &attrs, &nattrs) != 0 ||
            make_key(t, &t->m.res[res], name, f->type, attrs, nattrs) != 0)
            return -ENOMEM;
        series_t *s = series_get(t, &created);
        if (s == NULL)
            return -ENOMEM;
        if (!created && s->seen == t->gen)
            continue; /* the same series twice once empty labels are dropped */
        t->added += created;

        uint64_t time_ns = p->has_ts && job->honor_timestamps ? (uint64_t)p->ts_ms * MS : now_ns;
        uint32_t scope =
            take_scope(t, res, attrs, &nattrs); /* after the key: it tells scopes apart */
        prom_metric_t *m = metric_get(t, first_metric, res, scope, name, f->type, f->help);
        prom_datapoint_t *op = m ? point_add(t, m) : NULL;
        if (op == NULL)
            return -ENOMEM;
        op->attrs = attrs;
        op->nattrs = (uint32_t)nattrs;
        op->time_ns = time_ns;
        op->value = p->value;
        op->src = p;
        if (is_cumulative(f->type))
            op->start_ns = start_time(s, created, p, f->type, time_ns);
        s->seen = t->gen;
        s->timestamped = p->has_ts && job->honor_timestamps;
    }
    return 0;
}

/* A stale marker for every series of earlier scrapes that this one did not have. */
static int add_stale_markers(prom_target_t *t, uint64_t now_ns)
{
    prom_metric_t *m = NULL;

    for (size_t i = 0; i < t->nseries; i++) {
        const series_t *s = &t->series[i];
        const uint8_t *p = s->key, *end = s->key + s->klen;
        prom_str_t job, instance, name, ty;
        size_t n = 0;

        if (s->seen == t->gen || (s->timestamped && !t->job->track_timestamps_staleness))
            continue;
        p = get_field(p, end, &job);
        p = p ? get_field(p, end, &instance) : NULL;
        p = p ? get_field(p, end, &name) : NULL;
        p = p ? get_field(p, end, &ty) : NULL;
        if (p == NULL || ty.n != 1)
            continue; /* cannot happen: keys are written by make_key */

        prom_type_t type = (prom_type_t)(ty.p[0] - '0');
        uint32_t res = resource_get(t, job, instance);
        if (res == PROM_NONE)
            return -ENOMEM;
        size_t cap = (size_t)(end - p) / 2 + 1;
        prom_label_t *attrs = prom_scrape_alloc(&t->scrape, cap * sizeof *attrs);
        if (attrs == NULL)
            return -ENOMEM;
        while (p != NULL && p < end && n < cap) {
            p = get_field(p, end, &attrs[n].name);
            p = p ? get_field(p, end, &attrs[n].value) : NULL;
            n += p != NULL;
        }
        uint32_t scope = take_scope(t, res, attrs, &n);
        if (m == NULL || m->res != res || m->scope != scope || m->type != type ||
            str_cmp(m->name, name) != 0)
            m = metric_get(t, 0, res, scope, name, type, (prom_str_t){"", 0});
        prom_datapoint_t *op = m ? point_add(t, m) : NULL;
        if (op == NULL)
            return -ENOMEM;
        op->attrs = attrs;
        op->nattrs = (uint32_t)n;
        op->time_ns = now_ns;
        op->stale = true;
    }
    return 0;
}

/* up and the scrape_* metrics, with the target's labels. */
static int add_report(prom_target_t *t, const prom_scrape_result_t *r, bool ok, uint64_t now_ns)
{
    const prom_job_t *job = t->job;
    const prom_scrape_t *s = &t->scrape;
    prom_label_t *attrs;
    size_t n, nattrs;
    uint32_t res;
    struct {
        const char *name, *help, *unit;
        double value;
        bool extra;
    } rows[] = {
        {"up", "The scraping was successful", NULL, ok ? 1 : 0, false},
        {"scrape_duration_seconds", "Duration of the scrape", "s", (double)r->duration_ns / 1e9,
         false},
        {"scrape_samples_scraped", "The number of samples the target exposed", NULL,
         ok ? (double)s->samples : 0, false},
        {"scrape_samples_post_metric_relabeling",
         "The number of samples remaining after metric relabeling was applied", NULL,
         ok ? (double)s->kept : 0, false},
        {"scrape_series_added", "The approximate number of new series in this scrape", NULL,
         ok ? (double)t->added : 0, false},
        {"scrape_timeout_seconds", "The configured scrape timeout for a target", "s",
         (double)job->timeout_ns / 1e9, true},
        {"scrape_sample_limit", "The configured sample limit for a target", NULL,
         (double)job->sample_limit, true},
        {"scrape_body_size_bytes", "The uncompressed size of the last scrape response", "By",
         (double)r->body_size, true},
    };

    prom_str_t none = {"", 0};

    if (merge_labels(t, NULL, 0, &n) != 0 || split_labels(t, n, &res, &attrs, &nattrs) != 0)
        return -ENOMEM;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (rows[i].extra && !t->opts->report_extra_scrape_metrics)
            continue;
        prom_metric_t *m = metric_get(t, t->m.nmetrics, res, scope_get(t, res, none, none),
                                      str_of(rows[i].name), PROM_GAUGE, str_of(rows[i].help));
        prom_datapoint_t *op = m ? point_add(t, m) : NULL;
        if (op == NULL)
            return -ENOMEM;
        m->unit = rows[i].unit;
        op->attrs = attrs;
        op->nattrs = (uint32_t)nattrs;
        op->time_ns = now_ns;
        op->value = rows[i].value;
    }
    return 0;
}

/* ---- one scrape ---- */

long prom_target_report(prom_target_t *t, const prom_scrape_result_t *r, ct_buf_t *out,
                        const char **failure)
{
    prom_parse_opts_t po = {.sample_limit =
                                t->job->sample_limit > 0 ? (size_t)t->job->sample_limit : 0};
    uint64_t now_ns = r->time_unix_ns / MS * MS; /* Prometheus keeps milliseconds */
    long items = 0;
    bool ok = r->body != NULL;
    int rc = 0;

    t->gen++;
    t->added = 0;
    t->m.nres = t->m.nscopes = t->m.nmetrics = t->m.npoints = 0;
    *failure = NULL;
    if (!ok)
        snprintf(t->failure, sizeof t->failure, "%s", r->failure ? r->failure : "scrape failed");

    if (t->job->nrelabel > 0) {
        po.filter = relabel_filter;
        po.filter_arg = t;
    }
    if (ok) {
        rc = prom_parse(&t->scrape, r->body, r->len, &po);
        if (rc == -ENOMEM)
            goto out;
        if (rc != 0) {
            snprintf(t->failure, sizeof t->failure, "%s", t->scrape.err);
            ok = false;
            rc = 0;
        }
    }
    if (!ok) {
        prom_scrape_reset(&t->scrape); /* like Prometheus: nothing of a failed scrape is kept */
        *failure = t->failure;
    }
    for (size_t f = 0; ok && f < t->scrape.nfamilies && rc == 0; f++) {
        if (t->scrape.families[f].npoints > 0)
            rc = add_family(t, &t->scrape.families[f], now_ns);
    }
    if (rc == 0)
        rc = add_stale_markers(t, now_ns);
    if (rc == 0)
        rc = add_report(t, r, ok, now_ns);
    if (rc != 0)
        goto out;

    t->m.scrape = &t->scrape;
    t->m.scheme = t->job->scheme == PROM_SCHEME_HTTPS ? "https" : "http";
    if ((items = prom_model_write(&t->m, out)) < 0)
        rc = -ENOMEM;
out:
    if (series_sweep(t) != 0 && rc == 0)
        rc = -ENOMEM;
    return rc != 0 ? -1 : items;
}
