/*
 * The Prometheus text exposition format 0.0.4, read into metric families:
 * HELP and TYPE metadata, samples with their labels, values and timestamps,
 * and the series of a histogram (_bucket, _sum, _count) or a summary
 * (quantiles, _sum, _count) grouped into one point per label set.
 */
#ifndef PROM_PARSE_H
#define PROM_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define PROM_NONE UINT32_MAX

/* A string inside the exposition text or the scrape's arena; not NUL-terminated. */
typedef struct prom_str {
    const char *p;
    uint32_t n;
} prom_str_t;

typedef struct prom_label {
    prom_str_t name, value;
} prom_label_t;

typedef enum prom_type {
    PROM_UNTYPED = 0, /* no TYPE line, or "untyped" */
    PROM_COUNTER,
    PROM_GAUGE,
    PROM_HISTOGRAM,
    PROM_SUMMARY,
} prom_type_t;

typedef struct prom_family {
    prom_str_t name;
    prom_str_t help; /* unescaped; n == 0 without a HELP line */
    prom_type_t type;
    bool has_type;
    uint32_t first, last; /* its points, linked by prom_point_t.next; PROM_NONE: none */
    uint32_t npoints;
} prom_family_t;

/*
 * One point of a family: a counter, gauge or untyped sample, or every
 * sample of one histogram or summary label set.
 */
typedef struct prom_point {
    uint32_t family;
    uint32_t next;    /* the family's next point */
    uint32_t line;    /* line of its first sample */
    uint32_t nlabels; /* sorted by name; le and quantile are not among them */
    prom_label_t *labels;
    double value;      /* counter, gauge, untyped */
    double sum, count; /* histogram, summary */
    double created;    /* a _created sample: seconds since the epoch */
    bool has_value, has_sum, has_count, has_created;
    bool has_ts;
    int64_t ts_ms;         /* the sample's own timestamp, when has_ts */
    uint32_t first_bucket; /* histogram: (le, cumulative count); summary: (quantile, value) */
    uint32_t nbuckets;
} prom_point_t;

typedef struct prom_bucket {
    double bound; /* le or quantile */
    double value;
    uint32_t next;
} prom_bucket_t;

typedef struct prom_arena_chunk prom_arena_chunk_t;
typedef struct prom_index {
    uint32_t *slots; /* entry index + 1; 0: empty */
    uint64_t *hashes;
    size_t cap, n;
} prom_index_t;

/*
 * Called for every sample before it is kept, with its metric name and its
 * labels as exposed (le and quantile included): returns true to keep it.
 * This is where metric_relabel_configs keep and drop act.
 */
typedef bool (*prom_filter_fn)(void *arg, prom_str_t name, const prom_label_t *labels, size_t n);

typedef struct prom_parse_opts {
    prom_filter_fn filter; /* NULL: keep every sample */
    void *filter_arg;
    size_t sample_limit; /* more kept samples than this fail the parse; 0: no limit */
} prom_parse_opts_t;

/* The result of parsing one exposition; reusable from one scrape to the next. */
typedef struct prom_scrape {
    prom_family_t *families;
    prom_point_t *points;
    prom_bucket_t *buckets;
    size_t nfamilies, npoints, nbuckets;

    size_t samples;    /* sample lines read */
    size_t kept;       /* samples the filter kept */
    size_t duplicates; /* samples dropped as repeats of a series already read */
    size_t ignored;    /* samples that fit no role in their family (a histogram's bare name) */

    char err[256]; /* why the parse failed: "line 12: ..." */
    uint32_t err_line;

    /* Internal. */
    size_t cap_families, cap_points, cap_buckets;
    prom_index_t family_index, point_index;
    prom_arena_chunk_t *arena, *arena_cur;
    prom_label_t *scratch;
    size_t cap_scratch;
} prom_scrape_t;

void prom_scrape_init(prom_scrape_t *s);
/* Forgets the last parse but keeps the memory for the next. */
void prom_scrape_reset(prom_scrape_t *s);
void prom_scrape_free(prom_scrape_t *s);

/*
 * Parses `len` bytes of exposition text (not NUL-terminated). The result
 * points into `text`, which must outlive it. Returns 0; -EINVAL for a
 * malformed line (s->err names its line and what is wrong); -E2BIG past
 * opts->sample_limit; -ENOMEM. Like Prometheus, a failed parse fails the
 * whole scrape: nothing of it should be used.
 */
int prom_parse(prom_scrape_t *s, const char *text, size_t len, const prom_parse_opts_t *opts);

const char *prom_type_name(prom_type_t t);

/* Memory that lives as long as the last parse (until the next reset); NULL when out of memory. */
void *prom_scrape_alloc(prom_scrape_t *s, size_t n); /* "counter" ... "untyped" */

static inline bool prom_str_eq(prom_str_t a, const char *b, size_t n)
{
    return a.n == n && (n == 0 || memcmp(a.p, b, n) == 0);
}

#endif
