/*
 * The prometheus receiver: its option table and factory, and one scheduler
 * thread that scrapes every target over libcurl's multi interface, so a slow
 * or dead target never holds up the others, and hands each scrape's OTLP to
 * the metrics pipeline.
 */
#include "prom_receiver.h"

#include "ct_component.h"
#include "ct_log.h"
#include "ct_metrics.h"
#include "ct_request.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef COTEL_VERSION
#define COTEL_VERSION "0.0.0"
#endif

#define F(type, field) offsetof(type, field)
#define SEC            1000000000ull
#define SECRET_MAX     65536 /* a password or token file */

static const ct_opt_t prom_opts_table[] = {
    {"config", CT_OPT_RAW, F(prom_opts_t, config), .flags = CT_OPT_REQUIRED,
     .desc = "Prometheus configuration: global and scrape_configs with static_configs"},
    {"trim_metric_suffixes", CT_OPT_BOOL, F(prom_opts_t, trim_metric_suffixes), "false",
     .desc = "drop the _total suffix from counter names"},
    {"report_extra_scrape_metrics", CT_OPT_BOOL, F(prom_opts_t, report_extra_scrape_metrics),
     "false",
     .desc = "also write scrape_timeout_seconds, scrape_sample_limit, "
             "scrape_body_size_bytes"},
    CT_OPT_END,
};

typedef struct prom_receiver prom_receiver_t;

/* One target and its HTTP transfer, reused from scrape to scrape. */
typedef struct slot {
    prom_receiver_t *r;
    const prom_job_t *job;
    prom_target_t *target;
    CURL *easy;
    struct curl_slist *headers;
    ct_buf_t body;
    bool busy;
    bool too_big;
    bool up; /* the last scrape's outcome, to log changes rather than every failure */
    bool scraped;
    uint64_t due_ns; /* monotonic */
    uint64_t start_mono_ns, start_unix_ns;
    char errbuf[CURL_ERROR_SIZE];
} slot_t;

struct prom_receiver {
    ct_instance_t *inst;
    const prom_opts_t *opts;
    prom_config_t cfg;
    slot_t *slots;
    size_t nslots;
    CURLM *multi;
    pthread_t thread;
    bool thread_started;
    atomic_bool stop;
    ct_receiver_obs_t obs;
    ct_buf_t out;
    ct_log_limit_t refused_log;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int prom_validate(const void *config, const ct_node_t *node, ct_err_t *err)
{
    const prom_opts_t *o = config;
    prom_config_t cfg;
    int rc = prom_config_parse(o->config, "receivers::prometheus", &cfg, err);

    prom_config_free(&cfg);
    return rc;
}

/* Reads a secret file whole, without surrounding white space (as Prometheus does). */
static char *read_secret(const char *path, const char *who)
{
    ct_buf_t b = {.max = SECRET_MAX};
    FILE *f = fopen(path, "rb");
    char chunk[4096], *out = NULL;
    size_t n;

    if (f == NULL) {
        ct_log_error(who, "cannot read %s: %s", path, strerror(errno));
        goto out;
    }
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (ct_buf_append(&b, chunk, n) != 0) {
            ct_log_error(who, "cannot read %s: larger than %d bytes", path, SECRET_MAX);
            goto out;
        }
    }
    while (b.len > 0 && strchr(" \t\r\n", b.data[b.len - 1]) != NULL)
        b.len--;
    if (ct_buf_putc(&b, '\0') != 0)
        goto out;
    size_t skip = strspn((const char *)b.data, " \t\r\n");
    if ((out = strdup((const char *)b.data + skip)) == NULL)
        ct_log_error(who, "out of memory while reading %s", path);
out:
    if (f != NULL)
        fclose(f);
    ct_buf_free(&b);
    return out;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    slot_t *s = arg;

    if (ct_buf_append(&s->body, p, size * n) != 0) {
        s->too_big = true;
        return 0; /* aborts the transfer */
    }
    return size * n;
}

/*
 * Request headers: what Prometheus sends (the format it accepts, its
 * timeout) and the Authorization header, whose credentials may come from a
 * file read again at each scrape so that rotated tokens are picked up.
 */
static int build_headers(slot_t *s)
{
    const prom_job_t *job = s->job;
    const char *who = s->r->inst->name;
    struct curl_slist *l = NULL, *next;
    char line[512], *secret = NULL, *auth = NULL;
    const char *type = "Bearer", *cred = NULL;
    int rc = -1;

    snprintf(line, sizeof line, "X-Prometheus-Scrape-Timeout-Seconds: %g",
             (double)job->timeout_ns / SEC);
    if ((l = curl_slist_append(l, "Accept: text/plain;version=0.0.4;q=1,*/*;q=0.1")) == NULL ||
        (next = curl_slist_append(l, line)) == NULL)
        goto out;
    l = next;
    if (job->authorization_present) {
        type = job->authorization.type;
        cred = job->authorization.credentials;
        if (job->authorization.credentials_file &&
            (cred = secret = read_secret(job->authorization.credentials_file, who)) == NULL)
            goto out;
    } else if (job->bearer_token != NULL) {
        cred = job->bearer_token;
    } else if (job->bearer_token_file != NULL) {
        if ((cred = secret = read_secret(job->bearer_token_file, who)) == NULL)
            goto out;
    }
    if (cred != NULL) {
        size_t n = strlen(type) + strlen(cred) + 32;
        if ((auth = malloc(n)) == NULL)
            goto out;
        snprintf(auth, n, "Authorization: %s %s", type, cred);
        if ((next = curl_slist_append(l, auth)) == NULL)
            goto out;
        l = next;
    }
    curl_slist_free_all(s->headers);
    s->headers = l;
    l = NULL;
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
    rc = 0;
out:
    curl_slist_free_all(l);
    free(secret);
    free(auth);
    return rc;
}

static int setup_easy(slot_t *s)
{
    const prom_job_t *job = s->job;
    CURL *c = curl_easy_init();

    if (c == NULL)
        return -1;
    s->easy = c;
    curl_easy_setopt(c, CURLOPT_PRIVATE, s);
    curl_easy_setopt(c, CURLOPT_URL, prom_target_url(s->target));
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, ""); /* like Prometheus: no proxy from the environment */
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "cotel/" COTEL_VERSION);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(job->timeout_ns / 1000000));
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* gzip and the others curl reads */
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, job->follow_redirects ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION,
                     job->enable_http2 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1);
    if (job->tls_present) {
        if (job->tls.ca_file != NULL)
            curl_easy_setopt(c, CURLOPT_CAINFO, job->tls.ca_file);
        if (job->tls.cert_file != NULL) {
            curl_easy_setopt(c, CURLOPT_SSLCERT, job->tls.cert_file);
            curl_easy_setopt(c, CURLOPT_SSLKEY, job->tls.key_file);
        }
        if (job->tls.insecure_skip_verify) {
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
        }
    }
    if (job->basic_auth_present) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME,
                         job->basic_auth.username ? job->basic_auth.username : "");
        curl_easy_setopt(c, CURLOPT_PASSWORD,
                         job->basic_auth.password ? job->basic_auth.password : "");
    }
    s->body.max = job->body_size_limit > 0 ? job->body_size_limit : PROM_MAX_BODY;
    return build_headers(s);
}

static int prom_create(ct_instance_t *inst, ct_err_t *err)
{
    const prom_opts_t *o = inst->config;
    prom_receiver_t *r = calloc(1, sizeof *r);
    size_t n = 0;
    int rc = 0;

    if (r == NULL)
        return ct_errf(err, inst->node, "%s: out of memory", inst->name);
    inst->state = r;
    r->inst = inst;
    r->opts = o;
    if ((rc = prom_config_parse(o->config, "receivers::prometheus", &r->cfg, err)) != 0)
        goto out;
    for (size_t j = 0; j < r->cfg.njobs; j++)
        n += r->cfg.jobs[j].ntargets;
    if ((r->slots = calloc(n + 1, sizeof *r->slots)) == NULL) {
        rc = ct_errf(err, inst->node, "%s: out of memory", inst->name);
        goto out;
    }
    for (size_t j = 0; j < r->cfg.njobs; j++) {
        const prom_job_t *job = &r->cfg.jobs[j];
        for (size_t i = 0; i < job->ntargets; i++) {
            slot_t *s = &r->slots[r->nslots];
            s->r = r;
            s->job = job;
            if ((s->target = prom_target_new(job, &job->targets[i], o)) == NULL) {
                rc = ct_errf(err, inst->node, "%s: out of memory", inst->name);
                goto out;
            }
            r->nslots++;
        }
    }
    ct_receiver_obs_init(&r->obs, inst->id, "http");
out:
    return rc;
}

/* Spreads first scrapes over the interval, as Prometheus offsets targets by a hash. */
static uint64_t first_due(const slot_t *s, uint64_t now)
{
    const char *u = prom_target_url(s->target);
    uint64_t h = 0xcbf29ce484222325ull;

    for (const char *p = s->job->name; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    for (const char *p = u; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    return now + h % s->job->interval_ns;
}

static void start_scrape(prom_receiver_t *r, slot_t *s, uint64_t now)
{
    const prom_job_t *job = s->job;
    char *pw = NULL;

    ct_buf_reset(&s->body);
    s->too_big = false;
    s->errbuf[0] = '\0';
    s->start_mono_ns = now;
    s->start_unix_ns = ct_now_unix_ns();
    if (job->basic_auth_present && job->basic_auth.password_file != NULL) {
        pw = read_secret(job->basic_auth.password_file, r->inst->name);
        curl_easy_setopt(s->easy, CURLOPT_PASSWORD, pw ? pw : "");
        free(pw); /* curl keeps its own copy */
    }
    if (job->authorization.credentials_file != NULL || job->bearer_token_file != NULL)
        build_headers(s); /* on failure the old headers stay */
    if (curl_multi_add_handle(r->multi, s->easy) != CURLM_OK) {
        snprintf(s->errbuf, sizeof s->errbuf, "cannot start the transfer");
        s->due_ns = now + job->interval_ns;
        return;
    }
    s->busy = true;
}

/* Logs a target going down or coming back once, not each failed scrape. */
static void log_health(prom_receiver_t *r, slot_t *s, const char *failure)
{
    const char *url = prom_target_url(s->target);

    if (failure != NULL && (s->up || !s->scraped))
        ct_log_warn(r->inst->name, "scrape of %s (job %s) failed: %s; up is 0 until it succeeds",
                    url, s->job->name, failure);
    else if (failure != NULL)
        ct_log_debug(r->inst->name, "scrape of %s failed again: %s", url, failure);
    else if (!s->up && s->scraped)
        ct_log_info(r->inst->name, "scrape of %s (job %s) succeeds again", url, s->job->name);
    s->up = failure == NULL;
    s->scraped = true;
}

static void deliver(prom_receiver_t *r, size_t items)
{
    ct_consumer_t *next = r->inst->next[CT_SIGNAL_METRICS];
    size_t len = 0;
    uint8_t *data = ct_buf_take(&r->out, &len);
    ct_request_t *req;
    ct_code_t code;

    if (next == NULL) {
        free(data);
        return;
    }
    if ((req = ct_request_take(CT_SIGNAL_METRICS, data, len, items)) == NULL) {
        ct_log_error(r->inst->name, "out of memory while handing over a scrape of %zu points",
                     items);
        return;
    }
    code = ct_consume(next, req);
    ct_receiver_obs_record(&r->obs, CT_SIGNAL_METRICS, items, code);
    if (code != CT_OK)
        ct_log_limited(&r->refused_log, 10 * SEC, CT_LOG_WARN, r->inst->name,
                       "the pipeline refused %zu scraped points (%s); they are dropped", items,
                       ct_code_name(code));
    ct_request_unref(req);
}

static void finish_scrape(prom_receiver_t *r, slot_t *s, CURLcode result, uint64_t now)
{
    prom_scrape_result_t res = {.time_unix_ns = s->start_unix_ns,
                                .duration_ns = now - s->start_mono_ns,
                                .body_size = (int64_t)s->body.len};
    char why[CURL_ERROR_SIZE + 64];
    const char *parse_failure = NULL;
    long status = 0;

    curl_multi_remove_handle(r->multi, s->easy);
    s->busy = false;
    s->due_ns += s->job->interval_ns;
    while (s->due_ns <= now) /* scrapes missed while busy are skipped, not made up */
        s->due_ns += s->job->interval_ns;

    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    if (s->too_big) {
        snprintf(why, sizeof why, "body size limit exceeded (%zu bytes)", (size_t)s->body.max);
        res.body_size = -1;
    } else if (result != CURLE_OK) {
        snprintf(why, sizeof why, "%s", s->errbuf[0] ? s->errbuf : curl_easy_strerror(result));
    } else if (status != 200) {
        snprintf(why, sizeof why, "server returned HTTP status %ld", status);
    } else {
        res.body = s->body.len ? (const char *)s->body.data : "";
        res.len = s->body.len;
    }
    res.failure = res.body ? NULL : why;

    long items = prom_target_report(s->target, &res, &r->out, &parse_failure);
    log_health(r, s, res.body ? parse_failure : why);
    if (items < 0) {
        ct_buf_reset(&r->out);
        ct_log_error(r->inst->name, "out of memory while converting a scrape of %s",
                     prom_target_url(s->target));
        return;
    }
    deliver(r, (size_t)items);
}

static void *scheduler(void *arg)
{
    prom_receiver_t *r = arg;

    while (!atomic_load(&r->stop)) {
        uint64_t now = ct_now_mono_ns(), wake = now + SEC;
        CURLMsg *m;
        int running = 0, left = 0;

        curl_multi_perform(r->multi, &running);
        while ((m = curl_multi_info_read(r->multi, &left)) != NULL) {
            char *s = NULL;
            if (m->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &s);
            finish_scrape(r, (slot_t *)s, m->data.result, ct_now_mono_ns());
        }
        now = ct_now_mono_ns();
        for (size_t i = 0; i < r->nslots; i++) {
            slot_t *s = &r->slots[i];
            if (!s->busy && s->due_ns <= now)
                start_scrape(r, s, now);
            if (!s->busy && s->due_ns < wake)
                wake = s->due_ns;
        }
        int ms = wake > now ? (int)((wake - now + 999999) / 1000000) : 0;
        curl_multi_poll(r->multi, NULL, 0, ms, NULL);
    }
    for (size_t i = 0; i < r->nslots; i++) {
        if (r->slots[i].busy) {
            curl_multi_remove_handle(r->multi, r->slots[i].easy);
            r->slots[i].busy = false;
        }
    }
    return NULL;
}

static void prom_shutdown(ct_instance_t *inst, uint64_t deadline_ns)
{
    prom_receiver_t *r = inst->state;

    if (r == NULL || !r->thread_started)
        return;
    atomic_store(&r->stop, true);
    curl_multi_wakeup(r->multi);
    pthread_join(r->thread, NULL); /* it wakes at once; a scrape in flight is abandoned */
    r->thread_started = false;
}

static int prom_start(ct_instance_t *inst, ct_err_t *err)
{
    prom_receiver_t *r = inst->state;
    uint64_t now = ct_now_mono_ns();
    int rc = 0;

    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) {
        rc = ct_errf(err, inst->node, "%s: libcurl failed to initialise: %s", inst->name,
                     curl_easy_strerror(curl_init_rc));
        goto out;
    }
    if ((r->multi = curl_multi_init()) == NULL) {
        rc = ct_errf(err, inst->node, "%s: cannot create a libcurl multi handle", inst->name);
        goto out;
    }
    for (size_t i = 0; i < r->nslots; i++) {
        slot_t *s = &r->slots[i];
        if (setup_easy(s) != 0) {
            rc = ct_errf(err, inst->node, "%s: cannot set up the transfer to %s", inst->name,
                         prom_target_url(s->target));
            goto out;
        }
        s->due_ns = first_due(s, now);
    }
    for (size_t j = 0; j < r->cfg.njobs; j++) {
        const prom_job_t *job = &r->cfg.jobs[j];
        ct_log_info(inst->name, "job %s: scraping %zu target%s every %gs (timeout %gs)", job->name,
                    job->ntargets, job->ntargets == 1 ? "" : "s", (double)job->interval_ns / SEC,
                    (double)job->timeout_ns / SEC);
    }
    if (pthread_create(&r->thread, NULL, scheduler, r) != 0) {
        rc = ct_errf(err, inst->node, "%s: cannot start the scrape thread", inst->name);
        goto out;
    }
    r->thread_started = true;
out:
    return rc;
}

static void prom_destroy(ct_instance_t *inst)
{
    prom_receiver_t *r = inst->state;

    if (r == NULL)
        return;
    prom_shutdown(inst, ct_now_mono_ns());
    for (size_t i = 0; i < r->nslots; i++) {
        slot_t *s = &r->slots[i];
        if (s->easy != NULL)
            curl_easy_cleanup(s->easy);
        curl_slist_free_all(s->headers);
        ct_buf_free(&s->body);
        prom_target_free(s->target);
    }
    if (r->multi != NULL)
        curl_multi_cleanup(r->multi);
    free(r->slots);
    ct_buf_free(&r->out);
    prom_config_free(&r->cfg);
    free(r);
    inst->state = NULL;
}

const ct_factory_t ct_prometheus_receiver_factory = {
    .type = "prometheus",
    .kind = CT_KIND_RECEIVER,
    .signals = CT_SIGNAL_BIT(CT_SIGNAL_METRICS),
    .description = "scrapes Prometheus text endpoints (static targets) into OTLP metrics",
    .opts = prom_opts_table,
    .cfg_size = sizeof(prom_opts_t),
    .validate = prom_validate,
    .create = prom_create,
    .start = prom_start,
    .shutdown = prom_shutdown,
    .destroy = prom_destroy,
    .settings_offset = CT_OPT_NO_FLAG,
};
