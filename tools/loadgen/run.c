/*
 * What both clients share: when the next send is due (a fixed schedule for a
 * target rate, none for "as fast as possible"), what each call's answer
 * counts as, every call's latency, and the JSON report at the end.
 */
#include "loadgen.h"

#include "ct_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define NS_PER_S 1000000000ull
/* Latencies kept at most (one per call); later calls are counted but not timed. */
#define MAX_LATENCIES (64u << 20)

void lg_run_init(lg_run_t *r, const lg_opts_t *o, const lg_template_t *t)
{
    memset(r, 0, sizeof *r);
    r->o = o;
    r->t = t;
    if (o->rate > 0)
        r->interval_ns = (uint64_t)((double)t->items * 1e9 / o->rate);
    lg_run_start(r);
}

void lg_run_start(lg_run_t *r)
{
    r->start_ns = ct_now_mono_ns();
    r->end_ns = r->start_ns + (uint64_t)(r->o->duration * 1e9);
    r->next_ns = r->start_ns;
    r->last_done_ns = r->start_ns;
}

void lg_run_free(lg_run_t *r)
{
    free(r->lat_us);
    r->lat_us = NULL;
}

uint64_t lg_run_due(lg_run_t *r, uint64_t now)
{
    if (now >= r->end_ns)
        return UINT64_MAX;
    if (r->interval_ns == 0 || r->next_ns <= now)
        return 0;
    return r->next_ns - now;
}

uint64_t lg_run_take(lg_run_t *r, uint64_t now)
{
    if (r->interval_ns != 0) {
        /*
         * A sender that fell far behind (every call slot busy) does not try
         * to catch up in one burst: the schedule restarts from now and the
         * shortfall shows as a lower rate.
         */
        if (now > r->next_ns + NS_PER_S) {
            r->late++;
            r->next_ns = now;
        }
        r->next_ns += r->interval_ns;
    }
    return ++r->seq;
}

void lg_run_done(lg_run_t *r, uint64_t started_ns, ct_code_t code, uint64_t rejected)
{
    uint64_t now = ct_now_mono_ns();
    uint64_t items = r->t->items;

    if ((unsigned)code <= CT_UNAUTHENTICATED)
        r->codes[code]++;
    if (code == CT_OK) {
        r->accepted_req++;
        if (rejected > items)
            rejected = items;
        r->accepted_items += items - rejected;
        r->rejected_items += rejected;
    } else {
        r->refused_req++;
        r->refused_items += items;
    }
    if (r->nlat == r->cap_lat && r->cap_lat < MAX_LATENCIES) {
        size_t nc = r->cap_lat ? r->cap_lat * 2 : 65536;
        uint32_t *p = realloc(r->lat_us, nc * sizeof *p);
        if (p != NULL) {
            r->lat_us = p;
            r->cap_lat = nc;
        }
    }
    if (r->nlat < r->cap_lat) {
        uint64_t us = (now - started_ns) / 1000;
        r->lat_us[r->nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    }
    r->last_done_ns = now;
}

uint64_t lg_response_rejected(const uint8_t *p, size_t len)
{
    const uint8_t *ps;
    size_t pslen;
    uint64_t rejected = 0;

    /* Export*ServiceResponse.partial_success (1) { rejected_<items> (1): int64 }. */
    if (ct_wire_find_bytes(p, len, 1, &ps, &pslen) != 0)
        return 0;
    for (size_t off = 0; off < pslen;) {
        uint64_t tag, v;
        size_t n = ct_wire_get_varint(ps + off, pslen - off, &tag);
        if (n == 0 || (tag & 7) != 0)
            break; /* only varints precede it in practice; stop at anything else */
        off += n;
        n = ct_wire_get_varint(ps + off, pslen - off, &v);
        if (n == 0)
            break;
        off += n;
        if (tag >> 3 == 1)
            rejected = v;
    }
    return rejected;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The latency under which a fraction q of the calls ended (nearest rank), in ms. */
static double percentile_ms(const lg_run_t *r, double q)
{
    size_t k;

    if (r->nlat == 0)
        return 0;
    k = (size_t)(q * (double)r->nlat + 0.999999);
    if (k == 0)
        k = 1;
    if (k > r->nlat)
        k = r->nlat;
    return r->lat_us[k - 1] / 1000.0;
}

static double cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

void lg_run_report(lg_run_t *r)
{
    const lg_opts_t *o = r->o;
    double elapsed = (double)(r->last_done_ns - r->start_ns) / 1e9;
    double sum = 0;
    bool first = true;

    qsort(r->lat_us, r->nlat, sizeof *r->lat_us, cmp_u32);
    for (size_t i = 0; i < r->nlat; i++)
        sum += r->lat_us[i];
    if (elapsed <= 0)
        elapsed = 1e-9;

    printf("{\"protocol\":\"%s\",\"signal\":\"%s\",\"endpoint\":\"%s\",",
           o->protocol == LG_GRPC ? "grpc" : "http/protobuf", ct_signal_name(o->signal),
           o->endpoint);
    printf("\"items_per_request\":%zu,\"request_bytes\":%zu,\"attrs\":%zu,\"attr_size\":%zu,",
           r->t->items, r->t->len, o->attrs, o->attr_size);
    printf("\"concurrency\":%zu,\"connections\":%zu,\"target_items_per_s\":%.0f,", o->concurrency,
           o->connections, o->rate);
    printf("\"elapsed_s\":%.3f,\"requests\":{\"sent\":%llu,\"accepted\":%llu,\"refused\":%llu},",
           elapsed, (unsigned long long)r->seq, (unsigned long long)r->accepted_req,
           (unsigned long long)r->refused_req);
    printf("\"items\":{\"sent\":%llu,\"accepted\":%llu,\"refused\":%llu,\"rejected\":%llu},",
           (unsigned long long)(r->seq * r->t->items), (unsigned long long)r->accepted_items,
           (unsigned long long)r->refused_items, (unsigned long long)r->rejected_items);
    printf("\"items_per_s\":%.1f,\"late_sends\":%llu,\"codes\":{", r->accepted_items / elapsed,
           (unsigned long long)r->late);
    for (int c = 0; c <= CT_UNAUTHENTICATED; c++) {
        if (r->codes[c] == 0)
            continue;
        printf("%s\"%s\":%llu", first ? "" : ",", ct_code_name((ct_code_t)c),
               (unsigned long long)r->codes[c]);
        first = false;
    }
    printf("},");
    if (o->protocol == LG_HTTP) {
        printf("\"http_status\":{\"none\":%llu,\"1xx\":%llu,\"2xx\":%llu,\"3xx\":%llu,"
               "\"4xx\":%llu,\"5xx\":%llu},",
               (unsigned long long)r->http_status[0], (unsigned long long)r->http_status[1],
               (unsigned long long)r->http_status[2], (unsigned long long)r->http_status[3],
               (unsigned long long)r->http_status[4], (unsigned long long)r->http_status[5]);
    }
    printf("\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"mean\":%.3f},",
           percentile_ms(r, 0.50), percentile_ms(r, 0.90), percentile_ms(r, 0.99),
           percentile_ms(r, 1.0), r->nlat ? sum / (double)r->nlat / 1000.0 : 0.0);
    printf("\"loadgen_cpu_s\":%.3f}\n", cpu_seconds());
    fflush(stdout);
}
