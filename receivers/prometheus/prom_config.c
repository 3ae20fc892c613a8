/*
 * The Prometheus configuration under the receiver's `config` key: global
 * settings and scrape_configs with static targets. Each level is an option
 * table; a Prometheus key cotel does not implement is refused at its line
 * and column rather than ignored.
 */
#include "prom_receiver.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define F(type, field) offsetof(type, field)

static const ct_opt_t global_opts[] = {
    {"scrape_interval", CT_OPT_DURATION, F(prom_config_t, scrape_interval_ns), "1m",
     .desc = "how often targets are scraped unless their job says"},
    {"scrape_timeout", CT_OPT_DURATION, F(prom_config_t, scrape_timeout_ns), "10s",
     .desc = "how long a scrape may take unless its job says"},
    {"evaluation_interval", CT_OPT_DURATION, F(prom_config_t, evaluation_interval_ns), "1m",
     .desc = "accepted for compatibility; there are no rules to evaluate"},
    CT_OPT_END,
};

static const ct_opt_t basic_auth_opts[] = {
    {"username", CT_OPT_STRING, F(prom_basic_auth_t, username), .desc = "user name"},
    {"password", CT_OPT_STRING, F(prom_basic_auth_t, password), .desc = "password",
     .flags = CT_OPT_SECRET},
    {"password_file", CT_OPT_STRING, F(prom_basic_auth_t, password_file),
     .desc = "file holding the password (read at each scrape)"},
    CT_OPT_END,
};

static const ct_opt_t authorization_opts[] = {
    {"type", CT_OPT_STRING, F(prom_authorization_t, type), "Bearer",
     .desc = "the Authorization header's scheme"},
    {"credentials", CT_OPT_STRING, F(prom_authorization_t, credentials),
     .desc = "the header's credentials", .flags = CT_OPT_SECRET},
    {"credentials_file", CT_OPT_STRING, F(prom_authorization_t, credentials_file),
     .desc = "file holding the credentials (read at each scrape)"},
    CT_OPT_END,
};

static const ct_opt_t tls_opts[] = {
    {"ca_file", CT_OPT_STRING, F(prom_tls_t, ca_file),
     .desc = "PEM file of CAs that sign the target's certificate"},
    {"cert_file", CT_OPT_STRING, F(prom_tls_t, cert_file),
     .desc = "PEM client certificate presented to the target"},
    {"key_file", CT_OPT_STRING, F(prom_tls_t, key_file), .desc = "the client certificate's key",
     .flags = CT_OPT_SECRET},
    {"insecure_skip_verify", CT_OPT_BOOL, F(prom_tls_t, insecure_skip_verify), "false",
     .desc = "do not check the target's certificate"},
    CT_OPT_END,
};

static const ct_opt_t job_opts[] = {
    {"job_name", CT_OPT_STRING, F(prom_job_t, name), .flags = CT_OPT_REQUIRED,
     .desc = "the job: label job, resource attribute service.name"},
    {"scrape_interval", CT_OPT_DURATION, F(prom_job_t, interval_ns),
     .desc = "how often its targets are scraped (default: global)"},
    {"scrape_timeout", CT_OPT_DURATION, F(prom_job_t, timeout_ns),
     .desc = "how long a scrape may take (default: global, at most the interval)"},
    {"metrics_path", CT_OPT_STRING, F(prom_job_t, metrics_path), "/metrics",
     .desc = "HTTP path of the exposition"},
    {"scheme", CT_OPT_ENUM, F(prom_job_t, scheme), "http", .choices = "http|https",
     .desc = "URL scheme"},
    {"params", CT_OPT_RAW, F(prom_job_t, params_node),
     .desc = "URL query parameters: a map of names to lists of values"},
    {"honor_labels", CT_OPT_BOOL, F(prom_job_t, honor_labels), "false",
     .desc = "on a clash keep the exposed label, not the target's (else exported_<name>)"},
    {"honor_timestamps", CT_OPT_BOOL, F(prom_job_t, honor_timestamps), "true",
     .desc = "use the timestamps the target exposes"},
    {"track_timestamps_staleness", CT_OPT_BOOL, F(prom_job_t, track_timestamps_staleness), "false",
     .desc = "write stale markers for series with exposed timestamps too"},
    {"follow_redirects", CT_OPT_BOOL, F(prom_job_t, follow_redirects), "true",
     .desc = "follow HTTP redirects"},
    {"enable_http2", CT_OPT_BOOL, F(prom_job_t, enable_http2), "true",
     .desc = "allow HTTP/2 with https targets"},
    {"sample_limit", CT_OPT_INT, F(prom_job_t, sample_limit), "0", 0, 2147483647.0,
     .desc = "a scrape with more samples after relabeling fails (0: no limit)"},
    {"body_size_limit", CT_OPT_STRING, F(prom_job_t, body_size_limit_text), "0",
     .desc = "a larger body fails the scrape: bytes, KB, MB, GB (base 2, as Prometheus; 0: 64MB)"},
    {"basic_auth", CT_OPT_SECTION, F(prom_job_t, basic_auth_present), .sub = basic_auth_opts,
     .base = F(prom_job_t, basic_auth), .desc = "HTTP basic authentication"},
    {"authorization", CT_OPT_SECTION, F(prom_job_t, authorization_present),
     .sub = authorization_opts, .base = F(prom_job_t, authorization),
     .desc = "an Authorization header"},
    {"bearer_token", CT_OPT_STRING, F(prom_job_t, bearer_token), .flags = CT_OPT_SECRET,
     .desc = "older form of authorization: credentials"},
    {"bearer_token_file", CT_OPT_STRING, F(prom_job_t, bearer_token_file),
     .desc = "older form of authorization: credentials_file"},
    {"tls_config", CT_OPT_SECTION, F(prom_job_t, tls_present), .sub = tls_opts,
     .base = F(prom_job_t, tls), .desc = "TLS settings for https targets"},
    {"static_configs", CT_OPT_RAW, F(prom_job_t, static_configs_node),
     .desc = "targets: a list of {targets: [host:port ...], labels: {...}}"},
    {"metric_relabel_configs", CT_OPT_RAW, F(prom_job_t, relabel_node),
     .desc = "keep or drop samples by regex over their labels"},
    CT_OPT_END,
};

typedef struct static_cfg {
    ct_strlist_t targets;
    ct_kvlist_t labels;
} static_cfg_t;

static const ct_opt_t static_opts[] = {
    {"targets", CT_OPT_STRINGS, F(static_cfg_t, targets), .desc = "host:port of each target"},
    {"labels", CT_OPT_MAP, F(static_cfg_t, labels), .desc = "labels added to their series"},
    CT_OPT_END,
};

typedef struct relabel_cfg {
    ct_strlist_t source_labels;
    char *separator;
    char *regex;
    char *action;
} relabel_cfg_t;

static const ct_opt_t relabel_opts[] = {
    {"source_labels", CT_OPT_STRINGS, F(relabel_cfg_t, source_labels),
     .desc = "labels whose values are joined and matched"},
    {"separator", CT_OPT_STRING, F(relabel_cfg_t, separator), ";",
     .desc = "put between the joined values"},
    {"regex", CT_OPT_STRING, F(relabel_cfg_t, regex), "(.*)",
     .desc = "matched against the whole joined value"},
    {"action", CT_OPT_STRING, F(relabel_cfg_t, action), "replace",
     .desc = "keep or drop (other actions are not supported)"},
    CT_OPT_END,
};

/* The sections of a Prometheus file that apply here; rule_files, remote_write ... are refused. */
static const ct_opt_t top_opts[] = {
    {"global", CT_OPT_RAW, F(prom_config_t, global_node), .desc = "defaults for every job"},
    {"scrape_configs", CT_OPT_RAW, F(prom_config_t, scrape_configs_node), .desc = "the jobs"},
    CT_OPT_END,
};

/*
 * Applies `map` to `table`, first refusing keys the table lacks with a
 * message that says the Prometheus setting is not implemented (rather than
 * that it is misspelt).
 */
static int apply(const ct_opt_t *table, void *cfg, const ct_node_t *map, const char *what,
                 ct_err_t *err)
{
    if (map != NULL && map->kind != CT_NODE_MAP && !ct_node_is_null(map))
        return ct_errf(err, map, "%s: expected a map of settings", what);
    for (size_t i = 0; map != NULL && map->kind == CT_NODE_MAP && i < map->n; i++) {
        const char *key = map->keys[i]->value;
        const ct_opt_t *o = table;
        while (o->key != NULL && strcmp(o->key, key) != 0)
            o++;
        if (o->key == NULL) {
            char known[512];
            size_t n = 0;
            known[0] = '\0';
            for (o = table; o->key != NULL && n < sizeof known - 64; o++)
                n += (size_t)snprintf(known + n, sizeof known - n, "%s%s", n ? ", " : "", o->key);
            return ct_errf(err, map->keys[i],
                           "%s: '%s' is not supported by cotel's prometheus receiver "
                           "(supported here: %s)",
                           what, key, known);
        }
    }
    return ct_opt_apply(table, cfg, map, what, err);
}

static bool valid_label_name(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return false;
    for (s++; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_' ||
              (*s >= '0' && *s <= '9')))
            return false;
    }
    return true;
}

/* The node of item i of a sequence node, for error positions. */
static const ct_node_t *seq_item(const ct_node_t *seq, size_t i)
{
    return seq != NULL && seq->kind == CT_NODE_SEQ && i < seq->n ? seq->items[i] : seq;
}

static int add_targets(prom_job_t *job, const static_cfg_t *sc, const ct_node_t *node,
                       const char *what, ct_err_t *err)
{
    const ct_node_t *tnode = ct_node_get(node, "targets");
    const ct_node_t *lnode = ct_node_get(node, "labels");
    prom_target_cfg_t *v;

    for (size_t i = 0; i < sc->labels.n; i++) {
        const char *k = sc->labels.k[i];
        if (!valid_label_name(k))
            return ct_errf(err, lnode, "%s::labels: '%s' is not a valid label name", what, k);
        if (strncmp(k, "__", 2) == 0)
            return ct_errf(err, lnode,
                           "%s::labels: '%s': labels starting with __ (which steer scraping in "
                           "Prometheus) are not supported",
                           what, k);
    }
    v = realloc(job->targets, (job->ntargets + sc->targets.n + 1) * sizeof *v);
    if (v == NULL)
        return ct_errf(err, node, "out of memory");
    job->targets = v;
    for (size_t i = 0; i < sc->targets.n; i++) {
        const char *a = sc->targets.v[i];
        if (a[0] == '\0' || strchr(a, '/') != NULL || strpbrk(a, " \t") != NULL)
            return ct_errf(err, seq_item(tnode, i),
                           "%s::targets: '%s' is not host:port (no scheme, no path)", what, a);
        prom_target_cfg_t *t = &job->targets[job->ntargets];
        memset(t, 0, sizeof *t);
        if ((t->address = strdup(a)) == NULL)
            return ct_errf(err, node, "out of memory");
        job->ntargets++;
        t->labels.k = calloc(sc->labels.n + 1, sizeof *t->labels.k);
        t->labels.v = calloc(sc->labels.n + 1, sizeof *t->labels.v);
        if (t->labels.k == NULL || t->labels.v == NULL)
            return ct_errf(err, node, "out of memory");
        for (size_t j = 0; j < sc->labels.n; j++) {
            t->labels.k[j] = strdup(sc->labels.k[j]);
            t->labels.v[j] = strdup(sc->labels.v[j]);
            t->labels.n = j + 1;
            if (t->labels.k[j] == NULL || t->labels.v[j] == NULL)
                return ct_errf(err, node, "out of memory");
        }
    }
    return 0;
}

static int read_static_configs(prom_job_t *job, const char *what, ct_err_t *err)
{
    const ct_node_t *seq = job->static_configs_node;
    char path[640];
    int rc = 0;

    if (seq == NULL || ct_node_is_null(seq))
        return 0;
    if (seq->kind != CT_NODE_SEQ)
        return ct_errf(err, seq, "%s::static_configs: expected a list", what);
    for (size_t i = 0; i < seq->n && rc == 0; i++) {
        static_cfg_t sc = {0};
        snprintf(path, sizeof path, "%s::static_configs[%zu]", what, i);
        if ((rc = ct_opt_defaults(static_opts, &sc, err)) == 0 &&
            (rc = apply(static_opts, &sc, seq->items[i], path, err)) == 0)
            rc = add_targets(job, &sc, seq->items[i], path, err);
        ct_opt_free(static_opts, &sc);
    }
    return rc;
}

static int append_escaped(ct_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = 0;

    for (; *s && rc == 0; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~')
            rc = ct_buf_putc(b, c);
        else if (c == ' ')
            rc = ct_buf_putc(b, '+');
        else
            rc = ct_buf_printf(b, "%%%c%c", hex[c >> 4], hex[c & 15]);
    }
    return rc;
}

/* params: {name: [value, ...]} becomes "?name=value&..." with names in order, as Go writes it. */
static int read_params(prom_job_t *job, const char *what, ct_err_t *err)
{
    const ct_node_t *m = job->params_node;
    ct_buf_t q = {0};
    size_t *order = NULL, len;
    int rc = 0;

    if (m != NULL && !ct_node_is_null(m) && m->kind != CT_NODE_MAP) {
        rc = ct_errf(err, m, "%s::params: expected a map of names to lists of values", what);
        goto out;
    }
    size_t n = m != NULL && m->kind == CT_NODE_MAP ? m->n : 0;
    if ((order = calloc(n + 1, sizeof *order)) == NULL) {
        rc = ct_errf(err, m, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        for (; j > 0 && strcmp(m->keys[order[j - 1]]->value, m->keys[i]->value) > 0; j--)
            order[j] = order[j - 1];
        order[j] = i;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        const ct_node_t *k = m->keys[order[i]], *v = m->items[order[i]];
        size_t nv = v->kind == CT_NODE_SEQ ? v->n : 1;
        for (size_t j = 0; j < nv && rc == 0; j++) {
            const ct_node_t *x = v->kind == CT_NODE_SEQ ? v->items[j] : v;
            if (x->kind != CT_NODE_SCALAR) {
                rc = ct_errf(err, x, "%s::params.%s: expected a string", what, k->value);
                goto out;
            }
            rc |= ct_buf_putc(&q, q.len == 0 ? '?' : '&');
            rc |= append_escaped(&q, k->value);
            rc |= ct_buf_putc(&q, '=');
            rc |= append_escaped(&q, x->value);
        }
    }
    if (rc != 0 || ct_buf_putc(&q, '\0') != 0) {
        rc = ct_errf(err, m, "out of memory");
        goto out;
    }
    job->query = (char *)ct_buf_take(&q, &len);
out:
    free(order);
    ct_buf_free(&q);
    return rc;
}

int prom_regex_translate(const char *re, ct_buf_t *out, const char **why)
{
    bool in_class = false;
    int rc = ct_buf_puts(out, "^(");

    for (size_t i = 0; re[i] != '\0' && rc == 0; i++) {
        char c = re[i], n = re[i + 1];
        if (in_class) {
            if (c == ']') {
                in_class = false;
                rc = ct_buf_putc(out, ']');
            } else if (c == '[' && n == ':') { /* [:alpha:] inside a class: the same in both */
                const char *end = strstr(re + i, ":]");
                if (end == NULL)
                    goto bad_class;
                rc = ct_buf_append(out, re + i, (size_t)(end + 2 - (re + i)));
                i = (size_t)(end + 1 - re);
            } else if (c == '\\') {
                if (n == 'd')
                    rc = ct_buf_puts(out, "0-9");
                else if (n == 'w')
                    rc = ct_buf_puts(out, "a-zA-Z0-9_");
                else if (n == 's')
                    rc = ct_buf_puts(out, "[:space:]");
                else if (n != '\0' && strchr(".\\/_+*?(){}|$:=,'\"", n) != NULL)
                    rc = ct_buf_putc(out, n); /* POSIX classes take these literally */
                else
                    goto bad_class;
                i++;
            } else {
                rc = ct_buf_putc(out, c);
            }
        } else if (c == '\\') {
            static const char *const cls[][2] = {{"d", "[0-9]"},        {"D", "[^0-9]"},
                                                 {"w", "[a-zA-Z0-9_]"}, {"W", "[^a-zA-Z0-9_]"},
                                                 {"s", "[[:space:]]"},  {"S", "[^[:space:]]"}};
            const char *sub = NULL;
            for (size_t k = 0; k < sizeof cls / sizeof cls[0] && n != '\0'; k++) {
                if (cls[k][0][0] == n)
                    sub = cls[k][1];
            }
            if (sub != NULL) {
                rc = ct_buf_puts(out, sub);
            } else if (n != '\0' && strchr(".[]{}()*+?^$|\\", n) != NULL) {
                rc = ct_buf_putc(out, '\\') | ct_buf_putc(out, n);
            } else if (n != '\0' && strchr("/-_:=,;'\"#@%&!<>~` ", n) != NULL) {
                rc = ct_buf_putc(out, n);
            } else {
                *why = "escape sequences other than \\d \\w \\s (and their capitals) and "
                       "escaped punctuation are not supported";
                return -1;
            }
            i++;
        } else if (c == '(' && n == '?') {
            if (re[i + 2] != ':') {
                *why = "flags and named groups ((?i), (?P<name>...)) are not supported";
                return -1;
            }
            rc = ct_buf_putc(out, '(');
            i += 2;
        } else if (c == '[') {
            in_class = true;
            rc = ct_buf_putc(out, '[');
            if (re[i + 1] == '^')
                rc |= ct_buf_putc(out, re[++i]);
            if (re[i + 1] == ']')
                rc |= ct_buf_putc(out, re[++i]);
        } else if ((c == '*' || c == '+' || c == '?' || c == '}') && n == '?') {
            rc = ct_buf_putc(out, c); /* lazy or greedy: the same for a whole-string match */
            i++;
        } else {
            rc = ct_buf_putc(out, c);
        }
    }
    if (in_class)
        goto bad_class;
    rc |= ct_buf_puts(out, ")$");
    rc |= ct_buf_putc(out, '\0');
    if (rc != 0) {
        *why = "out of memory";
        return -1;
    }
    return 0;
bad_class:
    *why = "this bracket expression cannot be carried over to POSIX (escapes other than \\d \\w "
           "\\s and punctuation, or an unterminated [)";
    return -1;
}

static int read_relabel(prom_job_t *job, const char *what, ct_err_t *err)
{
    const ct_node_t *seq = job->relabel_node;
    char path[640];
    int rc = 0;

    if (seq == NULL || ct_node_is_null(seq))
        return 0;
    if (seq->kind != CT_NODE_SEQ)
        return ct_errf(err, seq, "%s::metric_relabel_configs: expected a list", what);
    if ((job->relabel = calloc(seq->n + 1, sizeof *job->relabel)) == NULL)
        return ct_errf(err, seq, "out of memory");
    for (size_t i = 0; i < seq->n && rc == 0; i++) {
        const ct_node_t *item = seq->items[i];
        relabel_cfg_t rc_cfg = {0};
        prom_relabel_t *r = &job->relabel[i];
        ct_buf_t posix = {0};
        const char *why = NULL;

        snprintf(path, sizeof path, "%s::metric_relabel_configs[%zu]", what, i);
        if ((rc = ct_opt_defaults(relabel_opts, &rc_cfg, err)) != 0 ||
            (rc = apply(relabel_opts, &rc_cfg, item, path, err)) != 0)
            goto next;
        if (strcasecmp(rc_cfg.action, "keep") == 0) {
            r->action = PROM_RELABEL_KEEP;
        } else if (strcasecmp(rc_cfg.action, "drop") == 0) {
            r->action = PROM_RELABEL_DROP;
        } else {
            rc = ct_errf(err, ct_node_get(item, "action") ? ct_node_get(item, "action") : item,
                         "%s: action '%s' is not supported by cotel's prometheus receiver "
                         "(only keep and drop)",
                         path, rc_cfg.action);
            goto next;
        }
        if (rc_cfg.source_labels.n == 0) {
            rc = ct_errf(err, item, "%s: %s needs source_labels", path, rc_cfg.action);
            goto next;
        }
        r->source_labels = rc_cfg.source_labels;
        rc_cfg.source_labels = (ct_strlist_t){0};
        r->separator = rc_cfg.separator;
        r->regex = rc_cfg.regex;
        rc_cfg.separator = rc_cfg.regex = NULL;
        job->nrelabel = i + 1;

        const ct_node_t *at = ct_node_get(item, "regex") ? ct_node_get(item, "regex") : item;
        if (prom_regex_translate(r->regex, &posix, &why) != 0) {
            rc = ct_errf(err, at, "%s::regex: '%s': %s", path, r->regex, why);
            goto next;
        }
        int e = regcomp(&r->re, (const char *)posix.data, REG_EXTENDED | REG_NOSUB);
        if (e != 0) {
            char msg[128];
            regerror(e, &r->re, msg, sizeof msg);
            rc = ct_errf(err, at, "%s::regex: '%s': %s", path, r->regex, msg);
            goto next;
        }
        r->compiled = true;
    next:
        ct_buf_free(&posix);
        ct_opt_free(relabel_opts, &rc_cfg);
    }
    return rc;
}

/* A size as Prometheus reads it: an integer and a unit of B, KB, MB, GB or TB, all base 2. */
static int parse_base2_size(const char *s, uint64_t *out)
{
    static const char *const units[] = {"B", "KB", "MB", "GB", "TB"};
    char *end;
    unsigned long long v;

    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    if (*end == '\0') {
        *out = v;
        return 0;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        char alt[4] = {units[i][0], 'i', 'B', '\0'}; /* KiB: the same */
        if (strcmp(end, units[i]) == 0 || (i > 0 && strcmp(end, alt) == 0)) {
            if (v > (UINT64_MAX >> (10 * i)))
                return -1;
            *out = (uint64_t)v << (10 * i);
            return 0;
        }
    }
    return -1;
}

/* Fills the job's defaults from global and checks what depends on several keys. */
static int finish_job(prom_config_t *c, prom_job_t *job, const char *what, ct_err_t *err)
{
    if (job->interval_ns == 0)
        job->interval_ns = c->scrape_interval_ns;
    if (job->timeout_ns == 0)
        job->timeout_ns =
            c->scrape_timeout_ns < job->interval_ns ? c->scrape_timeout_ns : job->interval_ns;
    if (job->timeout_ns > job->interval_ns)
        return ct_errf(err, ct_node_get(job->node, "scrape_timeout"),
                       "%s: scrape timeout greater than scrape interval for scrape config with "
                       "job name \"%s\"",
                       what, job->name);
    if (parse_base2_size(job->body_size_limit_text, &job->body_size_limit) != 0)
        return ct_errf(err, ct_node_get(job->node, "body_size_limit"),
                       "%s::body_size_limit: '%s' is not a size (e.g. 1048576, 512KB, 10MB)", what,
                       job->body_size_limit_text);
    if (job->metrics_path == NULL || job->metrics_path[0] != '/')
        return ct_errf(err, ct_node_get(job->node, "metrics_path"),
                       "%s::metrics_path: must start with '/'", what);
    if (job->name[0] == '\0')
        return ct_errf(err, ct_node_get(job->node, "job_name"), "%s::job_name: must not be empty",
                       what);
    if (job->basic_auth_present && job->basic_auth.password && job->basic_auth.password_file)
        return ct_errf(err, ct_node_get(job->node, "basic_auth"),
                       "%s::basic_auth: at most one of password and password_file", what);
    if (job->authorization_present && job->authorization.credentials &&
        job->authorization.credentials_file)
        return ct_errf(err, ct_node_get(job->node, "authorization"),
                       "%s::authorization: at most one of credentials and credentials_file", what);
    int auths = job->basic_auth_present + job->authorization_present +
                (job->bearer_token != NULL || job->bearer_token_file != NULL);
    if (auths > 1 || (job->bearer_token && job->bearer_token_file))
        return ct_errf(err, job->node,
                       "%s: at most one of basic_auth, authorization, bearer_token and "
                       "bearer_token_file",
                       what);
    if (job->tls_present && (job->tls.cert_file == NULL) != (job->tls.key_file == NULL))
        return ct_errf(err, ct_node_get(job->node, "tls_config"),
                       "%s::tls_config: cert_file and key_file go together", what);
    return 0;
}

static int read_job(prom_config_t *c, const ct_node_t *node, size_t i, const char *base,
                    ct_err_t *err)
{
    prom_job_t *job = &c->jobs[i];
    char what[512];
    int rc;

    snprintf(what, sizeof what, "%s::scrape_configs[%zu]", base, i);
    job->node = node;
    c->njobs = i + 1;
    if ((rc = ct_opt_defaults(job_opts, job, err)) != 0 ||
        (rc = apply(job_opts, job, node, what, err)) != 0)
        return rc;
    for (size_t j = 0; j < i; j++) {
        if (strcmp(c->jobs[j].name, job->name) == 0)
            return ct_errf(err, ct_node_get(node, "job_name"),
                           "%s: found multiple scrape configs with job name \"%s\"", what,
                           job->name);
    }
    if ((rc = finish_job(c, job, what, err)) != 0 || (rc = read_params(job, what, err)) != 0 ||
        (rc = read_static_configs(job, what, err)) != 0 || (rc = read_relabel(job, what, err)) != 0)
        return rc;
    return 0;
}

int prom_config_parse(const ct_node_t *config, const char *what, prom_config_t *out, ct_err_t *err)
{
    char path[200], gpath[220];
    const ct_node_t *jobs;
    int rc;

    memset(out, 0, sizeof *out);
    snprintf(path, sizeof path, "%s::config", what);
    if (config == NULL || ct_node_is_null(config))
        return ct_errf(err, config, "%s: the Prometheus configuration is required", path);
    snprintf(gpath, sizeof gpath, "%s::global", path);
    if ((rc = ct_opt_defaults(global_opts, out, err)) != 0 ||
        (rc = apply(top_opts, out, config, path, err)) != 0 ||
        (rc = apply(global_opts, out, out->global_node, gpath, err)) != 0)
        return rc;
    if (out->scrape_timeout_ns > out->scrape_interval_ns)
        return ct_errf(err, ct_node_get(config, "global"),
                       "%s::global: global scrape timeout greater than scrape interval", path);
    if (out->scrape_interval_ns == 0)
        return ct_errf(err, ct_node_get(config, "global"),
                       "%s::global: scrape_interval must be more than 0", path);

    jobs = out->scrape_configs_node;
    if (jobs == NULL || ct_node_is_null(jobs) || jobs->kind != CT_NODE_SEQ || jobs->n == 0)
        return ct_errf(err, jobs ? jobs : config, "%s::scrape_configs: expected a list of jobs",
                       path);
    if ((out->jobs = calloc(jobs->n, sizeof *out->jobs)) == NULL)
        return ct_errf(err, jobs, "out of memory");
    for (size_t i = 0; i < jobs->n; i++) {
        if ((rc = read_job(out, jobs->items[i], i, path, err)) != 0)
            return rc;
    }
    return 0;
}

static void free_targets(prom_job_t *job)
{
    for (size_t i = 0; i < job->ntargets; i++) {
        prom_target_cfg_t *t = &job->targets[i];
        for (size_t j = 0; j < t->labels.n; j++) {
            free(t->labels.k[j]);
            free(t->labels.v[j]);
        }
        free(t->labels.k);
        free(t->labels.v);
        free(t->address);
    }
    free(job->targets);
}

void prom_config_free(prom_config_t *c)
{
    for (size_t i = 0; i < c->njobs; i++) {
        prom_job_t *job = &c->jobs[i];
        for (size_t j = 0; j < job->nrelabel; j++) {
            prom_relabel_t *r = &job->relabel[j];
            for (size_t k = 0; k < r->source_labels.n; k++)
                free(r->source_labels.v[k]);
            free(r->source_labels.v);
            free(r->separator);
            free(r->regex);
            if (r->compiled)
                regfree(&r->re);
        }
        free(job->relabel);
        free_targets(job);
        free(job->query);
        ct_opt_free(job_opts, job);
    }
    free(c->jobs);
    memset(c, 0, sizeof *c);
}
