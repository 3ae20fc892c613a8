/*
 * The Prometheus text exposition format 0.0.4, read line by line as
 * Prometheus's own scraper reads it, and grouped into families and points
 * the way the OpenTelemetry Collector's prometheus receiver groups them.
 */
#include "prom_parse.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_CHUNK (64u << 10)

struct prom_arena_chunk {
    prom_arena_chunk_t *next;
    size_t cap, used;
    unsigned char data[]; /* 8-aligned: it follows three 8-byte fields */
};

/* What a sample contributes to its family's point. */
typedef enum role {
    ROLE_VALUE,
    ROLE_BUCKET,
    ROLE_QUANTILE,
    ROLE_SUM,
    ROLE_COUNT,
    ROLE_CREATED,
    ROLE_IGNORED,
} role_t;

static const struct {
    const char *text;
    size_t n;
} suffixes[] = {{"_total", 6}, {"_bucket", 7}, {"_count", 6}, {"_sum", 4}, {"_created", 8}};

/* The role of a sample named <family><suffix> in a family of type t (suffix -1: none). */
static role_t suffix_role(prom_type_t t, int suffix)
{
    switch (t) {
    case PROM_COUNTER:
        if (suffix == -1 || suffix == 0)
            return ROLE_VALUE;
        return suffix == 4 ? ROLE_CREATED : ROLE_IGNORED;
    case PROM_HISTOGRAM: {
        static const role_t r[] = {ROLE_IGNORED, ROLE_BUCKET, ROLE_COUNT, ROLE_SUM, ROLE_CREATED};
        return suffix == -1 ? ROLE_IGNORED : r[suffix];
    }
    case PROM_SUMMARY: {
        static const role_t r[] = {ROLE_IGNORED, ROLE_IGNORED, ROLE_COUNT, ROLE_SUM, ROLE_CREATED};
        return suffix == -1 ? ROLE_QUANTILE : r[suffix];
    }
    default:
        return suffix == -1 ? ROLE_VALUE : ROLE_IGNORED;
    }
}

const char *prom_type_name(prom_type_t t)
{
    static const char *const names[] = {"untyped", "counter", "gauge", "histogram", "summary"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "untyped";
}

static int fail(prom_scrape_t *s, uint32_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(prom_scrape_t *s, uint32_t line, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(s->err, sizeof s->err, "line %u: ", line);

    va_start(ap, fmt);
    vsnprintf(s->err + n, sizeof s->err - (size_t)n, fmt, ap);
    va_end(ap);
    s->err_line = line;
    return -EINVAL;
}

/* A short printable excerpt of bad input for error messages. */
static const char *excerpt(char *out, size_t cap, const char *p, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 4 < cap; i++)
        out[k++] = (p[i] >= 0x20 && p[i] < 0x7f) ? p[i] : '?';
    if (n > 0 && k + 4 >= cap) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
    return out;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    size_t nc = *cap ? *cap : 64;
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

static void *arena_alloc(prom_scrape_t *s, size_t n)
{
    prom_arena_chunk_t *c = s->arena_cur;

    n = (n + 7u) & ~(size_t)7u;
    while (c != NULL && c->cap - c->used < n && c->next != NULL)
        c = c->next; /* chunks kept from an earlier parse */
    if (c == NULL || c->cap - c->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        prom_arena_chunk_t *nc = malloc(sizeof *nc + cap);
        if (nc == NULL)
            return NULL;
        nc->next = NULL;
        nc->cap = cap;
        nc->used = 0;
        if (c == NULL)
            s->arena = nc;
        else
            c->next = nc;
        c = nc;
    }
    s->arena_cur = c;
    c->used += n;
    return c->data + c->used - n;
}

void *prom_scrape_alloc(prom_scrape_t *s, size_t n)
{
    return arena_alloc(s, n);
}

/* FNV-1a, fed field by field with separators so that ("ab","c") != ("a","bc"). */
static uint64_t hash_bytes(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
    return (h ^ 0xff) * 0x100000001b3ull;
}

#define HASH_SEED 0xcbf29ce484222325ull

static uint64_t hash_point(uint32_t family, const prom_label_t *l, size_t n)
{
    uint64_t h = hash_bytes(HASH_SEED, (const char *)&family, sizeof family);
    for (size_t i = 0; i < n; i++) {
        h = hash_bytes(h, l[i].name.p, l[i].name.n);
        h = hash_bytes(h, l[i].value.p, l[i].value.n);
    }
    return h;
}

/* Makes room for one more entry, keeping the table at most half full. */
static int index_reserve(prom_index_t *ix)
{
    size_t nc = ix->cap ? ix->cap * 2 : 256;
    uint32_t *slots;
    uint64_t *hashes;

    if ((ix->n + 1) * 2 <= ix->cap)
        return 0;
    slots = calloc(nc, sizeof *slots);
    hashes = calloc(nc, sizeof *hashes);
    if (slots == NULL || hashes == NULL) {
        free(slots);
        free(hashes);
        return -ENOMEM;
    }
    for (size_t i = 0; i < ix->cap; i++) {
        if (ix->slots[i] == 0)
            continue;
        size_t j = (size_t)ix->hashes[i] & (nc - 1);
        while (slots[j] != 0)
            j = (j + 1) & (nc - 1);
        slots[j] = ix->slots[i];
        hashes[j] = ix->hashes[i];
    }
    free(ix->slots);
    free(ix->hashes);
    ix->slots = slots;
    ix->hashes = hashes;
    ix->cap = nc;
    return 0;
}

static void index_put(prom_index_t *ix, size_t slot, uint64_t h, uint32_t entry)
{
    ix->slots[slot] = entry + 1;
    ix->hashes[slot] = h;
    ix->n++;
}

/* The family named (p, n), or PROM_NONE; *slot: where to insert it. */
static uint32_t family_find(const prom_scrape_t *s, const char *p, size_t n, uint64_t h,
                            size_t *slot)
{
    const prom_index_t *ix = &s->family_index;
    size_t j;

    if (ix->cap == 0)
        return PROM_NONE;
    for (j = (size_t)h & (ix->cap - 1); ix->slots[j] != 0; j = (j + 1) & (ix->cap - 1)) {
        const prom_family_t *f = &s->families[ix->slots[j] - 1];
        if (ix->hashes[j] == h && prom_str_eq(f->name, p, n))
            return ix->slots[j] - 1;
    }
    *slot = j;
    return PROM_NONE;
}

static uint32_t family_lookup(const prom_scrape_t *s, const char *p, size_t n)
{
    size_t slot;
    return family_find(s, p, n, hash_bytes(HASH_SEED, p, n), &slot);
}

/* The family named (p, n), created untyped when absent; PROM_NONE when out of memory. */
static uint32_t family_get(prom_scrape_t *s, const char *p, size_t n)
{
    uint64_t h = hash_bytes(HASH_SEED, p, n);
    size_t slot = 0;
    uint32_t f;

    if (index_reserve(&s->family_index) != 0)
        return PROM_NONE;
    if ((f = family_find(s, p, n, h, &slot)) != PROM_NONE)
        return f;
    if (grow((void **)&s->families, &s->cap_families, s->nfamilies + 1, sizeof *s->families))
        return PROM_NONE;
    f = (uint32_t)s->nfamilies++;
    s->families[f] =
        (prom_family_t){.name = {p, (uint32_t)n}, .first = PROM_NONE, .last = PROM_NONE};
    index_put(&s->family_index, slot, h, f);
    return f;
}

static bool labels_equal(const prom_label_t *a, const prom_label_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!prom_str_eq(a[i].name, b[i].name.p, b[i].name.n) ||
            !prom_str_eq(a[i].value, b[i].value.p, b[i].value.n))
            return false;
    }
    return true;
}

/* The point of family f with labels l (sorted), created when absent; PROM_NONE: no memory. */
static uint32_t point_get(prom_scrape_t *s, uint32_t f, const prom_label_t *l, size_t n,
                          uint32_t line, bool *created)
{
    prom_index_t *ix = &s->point_index;
    uint64_t h = hash_point(f, l, n);
    prom_point_t *pt;
    size_t j;
    uint32_t id;

    *created = false;
    if (index_reserve(ix) != 0)
        return PROM_NONE;
    for (j = (size_t)h & (ix->cap - 1); ix->slots[j] != 0; j = (j + 1) & (ix->cap - 1)) {
        pt = &s->points[ix->slots[j] - 1];
        if (ix->hashes[j] == h && pt->family == f && pt->nlabels == n &&
            labels_equal(pt->labels, l, n))
            return ix->slots[j] - 1;
    }
    if (grow((void **)&s->points, &s->cap_points, s->npoints + 1, sizeof *s->points))
        return PROM_NONE;
    id = (uint32_t)s->npoints;
    pt = &s->points[id];
    *pt = (prom_point_t){.family = f,
                         .next = PROM_NONE,
                         .line = line,
                         .nlabels = (uint32_t)n,
                         .first_bucket = PROM_NONE};
    if (n > 0) {
        if ((pt->labels = arena_alloc(s, n * sizeof *l)) == NULL)
            return PROM_NONE;
        memcpy(pt->labels, l, n * sizeof *l);
    }
    s->npoints++;
    index_put(ix, j, h, id);

    prom_family_t *fam = &s->families[f];
    if (fam->last == PROM_NONE)
        fam->first = id;
    else
        s->points[fam->last].next = id;
    fam->last = id;
    fam->npoints++;
    *created = true;
    return id;
}

static inline bool is_ws(char c)
{
    return c == ' ' || c == '\t';
}

static inline bool is_name_start(char c, bool metric)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (metric && c == ':');
}

static inline bool is_name_char(char c, bool metric)
{
    return is_name_start(c, metric) || (c >= '0' && c <= '9');
}

static const char *skip_ws(const char *p, const char *e)
{
    while (p < e && is_ws(*p))
        p++;
    return p;
}

static const char *scan_name(const char *p, const char *e, bool metric)
{
    if (p >= e || !is_name_start(*p, metric))
        return p;
    while (p < e && is_name_char(*p, metric))
        p++;
    return p;
}

/* Parses a whole token as a float, as Go's strconv.ParseFloat does ("+Inf", "NaN", "1e3"). */
static bool parse_float(const char *p, size_t n, double *out)
{
    char buf[64], *end;

    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, p, n);
    buf[n] = '\0';
    if (memchr(buf, '(', n) != NULL) /* strtod's "nan(...)" is not Go's */
        return false;
    *out = strtod(buf, &end);
    return end == buf + n;
}

static bool parse_int64(const char *p, size_t n, int64_t *out)
{
    char buf[32], *end;

    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, p, n);
    buf[n] = '\0';
    errno = 0;
    *out = strtoll(buf, &end, 10);
    return end == buf + n && errno == 0;
}

/*
 * Unescapes text with the given escapes (`\\` and `\n`, plus `\"` in label
 * values); other backslash pairs stay as written, as Prometheus keeps them.
 */
static int unescape(prom_scrape_t *s, const char *p, size_t n, bool quote, prom_str_t *out)
{
    char *d;
    size_t k = 0;

    if (memchr(p, '\\', n) == NULL) {
        *out = (prom_str_t){p, (uint32_t)n};
        return 0;
    }
    if ((d = arena_alloc(s, n)) == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\\' && i + 1 < n) {
            char c = p[i + 1];
            if (c == '\\' || (quote && c == '"')) {
                d[k++] = c;
                i++;
                continue;
            }
            if (c == 'n') {
                d[k++] = '\n';
                i++;
                continue;
            }
        }
        d[k++] = p[i];
    }
    *out = (prom_str_t){d, (uint32_t)k};
    return 0;
}

static int parse_type(const char *p, size_t n, prom_type_t *t)
{
    static const struct {
        const char *name;
        prom_type_t type;
    } types[] = {{"counter", PROM_COUNTER},     {"gauge", PROM_GAUGE},
                 {"histogram", PROM_HISTOGRAM}, {"summary", PROM_SUMMARY},
                 {"untyped", PROM_UNTYPED},     {"unknown", PROM_UNTYPED}};

    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (strlen(types[i].name) == n && memcmp(types[i].name, p, n) == 0) {
            *t = types[i].type;
            return 0;
        }
    }
    return -1;
}

/* "# HELP name text" and "# TYPE name type"; p is at the name. */
static int parse_meta(prom_scrape_t *s, bool help, const char *p, const char *e, uint32_t line)
{
    const char *name = p, *q = scan_name(p, e, true);
    char ex[64];
    uint32_t f;
    prom_type_t t;

    if (q == name || (q < e && !is_ws(*q)))
        return fail(s, line, "invalid metric name in %s line: \"%s\"", help ? "HELP" : "TYPE",
                    excerpt(ex, sizeof ex, name, (size_t)(e - name)));
    if ((f = family_get(s, name, (size_t)(q - name))) == PROM_NONE)
        return -ENOMEM;
    p = skip_ws(q, e);

    prom_family_t *fam = &s->families[f];
    if (help) {
        if (fam->help.n == 0 && unescape(s, p, (size_t)(e - p), false, &fam->help) != 0)
            return -ENOMEM;
        return 0;
    }

    q = p;
    while (q < e && !is_ws(*q))
        q++;
    if (parse_type(p, (size_t)(q - p), &t) != 0)
        return fail(s, line, "unknown metric type \"%s\"",
                    excerpt(ex, sizeof ex, p, (size_t)(q - p)));
    if (skip_ws(q, e) != e)
        return fail(s, line, "unexpected text after the type in TYPE line");
    if (fam->npoints > 0 && (!fam->has_type || fam->type != t))
        return fail(s, line, "TYPE line for %.*s after its samples", (int)fam->name.n, fam->name.p);
    fam->type = t;
    fam->has_type = true;
    return 0;
}

/* Reads "{name="value",...}" into s->scratch; p is just past '{'. */
static int parse_labels(prom_scrape_t *s, const char **pp, const char *e, uint32_t line,
                        size_t *count)
{
    const char *p = *pp;
    size_t n = 0;
    char ex[64];

    for (;;) {
        const char *name, *q;
        prom_label_t l;

        p = skip_ws(p, e);
        if (p < e && *p == '}')
            break;
        name = p;
        if ((q = scan_name(p, e, false)) == name)
            return fail(s, line, "invalid label name at \"%s\"",
                        excerpt(ex, sizeof ex, p, (size_t)(e - p)));
        l.name = (prom_str_t){name, (uint32_t)(q - name)};
        p = skip_ws(q, e);
        if (p >= e || *p != '=')
            return fail(s, line, "expected '=' after label name %.*s", (int)l.name.n, name);
        p = skip_ws(p + 1, e);
        if (p >= e || *p != '"')
            return fail(s, line, "expected '\"' to open the value of label %.*s", (int)l.name.n,
                        name);
        q = ++p;
        while (q < e && *q != '"')
            q += (*q == '\\' && q + 1 < e) ? 2 : 1;
        if (q >= e)
            return fail(s, line, "unterminated value of label %.*s", (int)l.name.n, name);
        if (unescape(s, p, (size_t)(q - p), true, &l.value) != 0)
            return -ENOMEM;
        if (grow((void **)&s->scratch, &s->cap_scratch, n + 1, sizeof *s->scratch) != 0)
            return -ENOMEM;
        s->scratch[n++] = l;
        p = skip_ws(q + 1, e);
        if (p < e && *p == ',') {
            p++;
            continue;
        }
        if (p < e && *p == '}')
            break;
        return fail(s, line, "expected ',' or '}' after the value of label %.*s", (int)l.name.n,
                    name);
    }
    *pp = p + 1;
    *count = n;
    return 0;
}

static void sort_labels(prom_label_t *l, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        prom_label_t x = l[i];
        size_t j = i;
        while (j > 0) {
            const prom_str_t *a = &l[j - 1].name;
            size_t m = a->n < x.name.n ? a->n : x.name.n;
            int c = memcmp(a->p, x.name.p, m);
            if (c < 0 || (c == 0 && a->n <= x.name.n))
                break;
            l[j] = l[j - 1];
            j--;
        }
        l[j] = x;
    }
}

/*
 * A counter declared as `foo` whose samples are `foo_total`: like the Go
 * receiver, the metric takes the samples' name, with the declared type and
 * help. Its `foo_created` samples go to that metric too.
 */
static uint32_t counter_total(prom_scrape_t *s, uint32_t base, prom_str_t name, bool created)
{
    prom_family_t b = s->families[base];
    uint32_t f;
    char buf[512];

    if (created) {
        if (b.name.n + 6 > sizeof buf)
            return base;
        memcpy(buf, b.name.p, b.name.n);
        memcpy(buf + b.name.n, "_total", 6);
        f = family_lookup(s, buf, b.name.n + 6);
        return f != PROM_NONE ? f : base;
    }
    if ((f = family_get(s, name.p, name.n)) == PROM_NONE)
        return PROM_NONE;
    s->families[f].type = PROM_COUNTER;
    s->families[f].has_type = true;
    s->families[f].help = b.help;
    return f;
}

/* Finds the family of a sample and what the sample is to it. */
static uint32_t resolve(prom_scrape_t *s, prom_str_t name, role_t *role)
{
    uint32_t f = family_lookup(s, name.p, name.n);

    if (f != PROM_NONE) {
        *role = suffix_role(s->families[f].type, -1);
        return f;
    }
    for (int i = 0; i < (int)(sizeof suffixes / sizeof suffixes[0]); i++) {
        size_t k = suffixes[i].n;
        if (name.n <= k || memcmp(name.p + name.n - k, suffixes[i].text, k) != 0)
            continue;
        f = family_lookup(s, name.p, name.n - k);
        if (f == PROM_NONE || !s->families[f].has_type ||
            (*role = suffix_role(s->families[f].type, i)) == ROLE_IGNORED)
            break; /* at most one suffix can end the name */
        if (s->families[f].type == PROM_COUNTER)
            f = counter_total(s, f, name, *role == ROLE_CREATED);
        return f;
    }
    *role = ROLE_VALUE;
    return family_get(s, name.p, name.n); /* a family of its own, untyped */
}

/* Takes label `key` out of the scratch labels and parses its value as a float. */
static int take_bound(prom_scrape_t *s, size_t *n, const char *key, uint32_t line, double *out)
{
    char ex[64];
    size_t klen = strlen(key);

    for (size_t i = 0; i < *n; i++) {
        prom_label_t *l = &s->scratch[i];
        if (!prom_str_eq(l->name, key, klen))
            continue;
        if (!parse_float(l->value.p, l->value.n, out))
            return fail(s, line, "invalid %s label value \"%s\"", key,
                        excerpt(ex, sizeof ex, l->value.p, l->value.n));
        memmove(l, l + 1, (*n - i - 1) * sizeof *l);
        (*n)--;
        return 0;
    }
    return fail(s, line, "%s sample without a %s label",
                key[0] == 'l' ? "histogram bucket" : "summary quantile", key);
}

static int add_bucket(prom_scrape_t *s, prom_point_t *pt, double bound, double value)
{
    uint32_t b;

    for (b = pt->first_bucket; b != PROM_NONE; b = s->buckets[b].next) {
        if (s->buckets[b].bound == bound) {
            s->duplicates++;
            return 0;
        }
    }
    if (grow((void **)&s->buckets, &s->cap_buckets, s->nbuckets + 1, sizeof *s->buckets) != 0)
        return -ENOMEM;
    b = (uint32_t)s->nbuckets++;
    s->buckets[b] = (prom_bucket_t){bound, value, pt->first_bucket};
    pt->first_bucket = b; /* the order does not matter: points are sorted when written */
    pt->nbuckets++;
    return 0;
}

/* Stores one value into a point unless that part of it was already read. */
static void set_once(prom_scrape_t *s, bool *has, double *slot, double v)
{
    if (*has) {
        s->duplicates++;
        return;
    }
    *has = true;
    *slot = v;
}

static int parse_sample(prom_scrape_t *s, const char *p, const char *e, uint32_t line,
                        const prom_parse_opts_t *o)
{
    const char *q = scan_name(p, e, true);
    prom_str_t name = {p, (uint32_t)(q - p)};
    size_t n = 0;
    double v, bound = 0;
    int64_t ts = 0;
    bool has_ts = false, created;
    role_t role;
    uint32_t f, id;
    char ex[64];
    int rc;

    if (q == p || (q < e && !is_ws(*q) && *q != '{'))
        return fail(s, line, "invalid metric name at \"%s\"",
                    excerpt(ex, sizeof ex, p, (size_t)(e - p)));
    p = skip_ws(q, e);
    if (p < e && *p == '{') {
        p++;
        if ((rc = parse_labels(s, &p, e, line, &n)) != 0)
            return rc;
        p = skip_ws(p, e);
    }
    for (q = p; q < e && !is_ws(*q); q++)
        ;
    if (q == p)
        return fail(s, line, "missing value for %.*s", (int)name.n, name.p);
    if (!parse_float(p, (size_t)(q - p), &v))
        return fail(s, line, "invalid value \"%s\"", excerpt(ex, sizeof ex, p, (size_t)(q - p)));
    p = skip_ws(q, e);
    if (p < e) {
        for (q = p; q < e && !is_ws(*q); q++)
            ;
        if (!parse_int64(p, (size_t)(q - p), &ts))
            return fail(s, line, "invalid timestamp \"%s\"",
                        excerpt(ex, sizeof ex, p, (size_t)(q - p)));
        has_ts = true;
        if (skip_ws(q, e) != e)
            return fail(s, line, "unexpected text after the timestamp");
    }

    s->samples++;
    if (o != NULL && o->filter != NULL && !o->filter(o->filter_arg, name, s->scratch, n))
        return 0;
    s->kept++;
    if (o != NULL && o->sample_limit > 0 && s->kept > o->sample_limit) {
        snprintf(s->err, sizeof s->err, "sample limit of %zu exceeded", o->sample_limit);
        s->err_line = line;
        return -E2BIG;
    }

    if ((f = resolve(s, name, &role)) == PROM_NONE)
        return -ENOMEM;
    if (role == ROLE_IGNORED) {
        s->ignored++;
        return 0;
    }
    if (role == ROLE_BUCKET && (rc = take_bound(s, &n, "le", line, &bound)) != 0)
        return rc;
    if (role == ROLE_QUANTILE && (rc = take_bound(s, &n, "quantile", line, &bound)) != 0)
        return rc;
    sort_labels(s->scratch, n);
    for (size_t i = 1; i < n; i++) {
        if (prom_str_eq(s->scratch[i].name, s->scratch[i - 1].name.p, s->scratch[i - 1].name.n))
            return fail(s, line, "label %.*s appears twice", (int)s->scratch[i].name.n,
                        s->scratch[i].name.p);
    }

    if ((id = point_get(s, f, s->scratch, n, line, &created)) == PROM_NONE)
        return -ENOMEM;
    prom_point_t *pt = &s->points[id];
    if (created && has_ts) {
        pt->has_ts = true;
        pt->ts_ms = ts;
    }
    switch (role) {
    case ROLE_VALUE:
        set_once(s, &pt->has_value, &pt->value, v);
        break;
    case ROLE_SUM:
        set_once(s, &pt->has_sum, &pt->sum, v);
        break;
    case ROLE_COUNT:
        set_once(s, &pt->has_count, &pt->count, v);
        break;
    case ROLE_CREATED:
        set_once(s, &pt->has_created, &pt->created, v);
        break;
    default:
        return add_bucket(s, pt, bound, v);
    }
    return 0;
}

/* A line starting with '#': HELP, TYPE, or a comment. */
static int parse_comment(prom_scrape_t *s, const char *p, const char *e, uint32_t line)
{
    const char *q;

    p++;
    if (p >= e || !is_ws(*p))
        return 0;
    p = skip_ws(p, e);
    for (q = p; q < e && !is_ws(*q); q++)
        ;
    bool help = (q - p == 4 && memcmp(p, "HELP", 4) == 0);
    bool type = (q - p == 4 && memcmp(p, "TYPE", 4) == 0);
    if (!help && !type)
        return 0;
    return parse_meta(s, help, skip_ws(q, e), e, line);
}

int prom_parse(prom_scrape_t *s, const char *text, size_t len, const prom_parse_opts_t *opts)
{
    const char *p = text, *end = text + len;
    uint32_t line = 0;
    int rc = 0;

    prom_scrape_reset(s);
    while (p < end && rc == 0) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *e = eol ? eol : end;

        line++;
        if (e > p && e[-1] == '\r')
            e--;
        const char *q = skip_ws(p, e);
        if (q < e)
            rc = (*q == '#') ? parse_comment(s, q, e, line) : parse_sample(s, q, e, line, opts);
        p = eol ? eol + 1 : end;
    }
    if (rc == -ENOMEM)
        snprintf(s->err, sizeof s->err, "line %u: out of memory", line);
    return rc;
}

void prom_scrape_init(prom_scrape_t *s)
{
    memset(s, 0, sizeof *s);
}

void prom_scrape_reset(prom_scrape_t *s)
{
    s->nfamilies = s->npoints = s->nbuckets = 0;
    s->samples = s->kept = s->duplicates = s->ignored = 0;
    s->err[0] = '\0';
    s->err_line = 0;
    if (s->family_index.cap > 0) {
        memset(s->family_index.slots, 0, s->family_index.cap * sizeof *s->family_index.slots);
        s->family_index.n = 0;
    }
    if (s->point_index.cap > 0) {
        memset(s->point_index.slots, 0, s->point_index.cap * sizeof *s->point_index.slots);
        s->point_index.n = 0;
    }
    for (prom_arena_chunk_t *c = s->arena; c != NULL; c = c->next)
        c->used = 0;
    s->arena_cur = s->arena;
}

void prom_scrape_free(prom_scrape_t *s)
{
    prom_arena_chunk_t *c = s->arena;

    while (c != NULL) {
        prom_arena_chunk_t *next = c->next;
        free(c);
        c = next;
    }
    free(s->families);
    free(s->points);
    free(s->buckets);
    free(s->family_index.slots);
    free(s->family_index.hashes);
    free(s->point_index.slots);
    free(s->point_index.hashes);
    free(s->scratch);
    memset(s, 0, sizeof *s);
}
