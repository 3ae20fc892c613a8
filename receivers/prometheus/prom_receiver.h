/*
 * The prometheus receiver's parts, shared by its files: the Prometheus-style
 * scrape configuration (prom_config.c), one scrape target and the OTLP it
 * makes of each scrape (prom_target.c, written out by prom_otlp.c), and the
 * scheduler (prom_receiver.c).
 */
#ifndef PROM_RECEIVER_H
#define PROM_RECEIVER_H

#include "ct_common.h"
#include "ct_config.h"
#include "prom_parse.h"

#include <regex.h>
#include <stdbool.h>
#include <stdint.h>

/* The receiver's own keys, beside `config`. */
typedef struct prom_opts {
    const ct_node_t *config; /* Prometheus configuration, read by prom_config_parse */
    bool trim_metric_suffixes;
    bool report_extra_scrape_metrics;
} prom_opts_t;

enum { PROM_RELABEL_KEEP, PROM_RELABEL_DROP };

/* One metric_relabel_configs entry (keep and drop only). */
typedef struct prom_relabel {
    int action;
    ct_strlist_t source_labels;
    char *separator;
    char *regex; /* as written; matched against the whole joined value */
    regex_t re;
    bool compiled;
} prom_relabel_t;

/* One static target with its labels (those of its static_configs group). */
typedef struct prom_target_cfg {
    char *address; /* host:port */
    ct_kvlist_t labels;
} prom_target_cfg_t;

enum { PROM_SCHEME_HTTP, PROM_SCHEME_HTTPS };

typedef struct prom_basic_auth {
    char *username;
    char *password;
    char *password_file;
} prom_basic_auth_t;

typedef struct prom_authorization {
    char *type;
    char *credentials;
    char *credentials_file;
} prom_authorization_t;

typedef struct prom_tls {
    char *ca_file;
    char *cert_file;
    char *key_file;
    bool insecure_skip_verify;
} prom_tls_t;

/* One scrape_configs entry. The first fields are filled by its option table. */
typedef struct prom_job {
    char *name;
    uint64_t interval_ns; /* 0 in the file: the global value */
    uint64_t timeout_ns;
    char *metrics_path;
    int scheme;
    bool honor_labels;
    bool honor_timestamps;
    bool track_timestamps_staleness;
    bool follow_redirects;
    bool enable_http2;
    int64_t sample_limit;
    char *body_size_limit_text;
    uint64_t body_size_limit; /* 0: PROM_MAX_BODY */
    bool basic_auth_present;
    prom_basic_auth_t basic_auth;
    bool authorization_present;
    prom_authorization_t authorization;
    char *bearer_token;
    char *bearer_token_file;
    bool tls_present;
    prom_tls_t tls;
    const ct_node_t *params_node;
    const ct_node_t *static_configs_node;
    const ct_node_t *relabel_node;
    const ct_node_t *node; /* the entry, for error locations */

    /* Read from the nodes above. */
    char *query; /* "?a=b&c=d" from params, or "" */
    prom_relabel_t *relabel;
    size_t nrelabel;
    prom_target_cfg_t *targets;
    size_t ntargets;
} prom_job_t;

typedef struct prom_config {
    uint64_t scrape_interval_ns; /* global */
    uint64_t scrape_timeout_ns;
    uint64_t evaluation_interval_ns; /* accepted and unused: there are no rules */
    const ct_node_t *global_node;
    const ct_node_t *scrape_configs_node;
    prom_job_t *jobs;
    size_t njobs;
} prom_config_t;

/* Bodies larger than this are refused when a job sets no body_size_limit. */
#define PROM_MAX_BODY (64ull << 20)

/*
 * Reads the Prometheus configuration under `config`. Keys cotel does not
 * implement are refused with their position, never ignored. `what` names
 * the place for messages ("receivers::prometheus").
 */
int prom_config_parse(const ct_node_t *config, const char *what, prom_config_t *out, ct_err_t *err);
void prom_config_free(prom_config_t *c);

/*
 * Translates a Prometheus (RE2) regular expression into a POSIX extended one
 * anchored at both ends, as Prometheus anchors relabel regexes. Returns 0,
 * or -1 with why set for constructs POSIX cannot express.
 */
int prom_regex_translate(const char *re2, ct_buf_t *out, const char **why);

typedef struct prom_target prom_target_t;

/* A target of `job`; `opts` and `job` must outlive it. NULL when out of memory. */
prom_target_t *prom_target_new(const prom_job_t *job, const prom_target_cfg_t *tc,
                               const prom_opts_t *opts);
void prom_target_free(prom_target_t *t);

const char *prom_target_instance(const prom_target_t *t);
const char *prom_target_url(const prom_target_t *t);

/* What happened to one scrape, as the scheduler saw it. */
typedef struct prom_scrape_result {
    const char *body; /* NULL when the scrape failed */
    size_t len;
    const char *failure;   /* why it failed (body NULL) */
    uint64_t time_unix_ns; /* when it started: the points' timestamp */
    uint64_t duration_ns;
    int64_t body_size; /* bytes read; -1: over body_size_limit */
} prom_scrape_result_t;

/*
 * Turns one scrape into an encoded ExportMetricsServiceRequest appended to
 * `out`: the target's metrics (when the body parses), `up` and the scrape_*
 * metrics, and stale markers for series that disappeared. Returns the number
 * of data points, or -1 when out of memory. When the body does not parse,
 * the scrape counts as failed and *failure says why (static storage inside
 * the target, valid until its next scrape).
 */
long prom_target_report(prom_target_t *t, const prom_scrape_result_t *res, ct_buf_t *out,
                        const char **failure);

#endif
