/*
 * The settings cotel's Kafka producer and consumer share, declared once:
 * their option tables, their checks, and the librdkafka properties they
 * become. Each component adds its own keys and properties around these.
 */
#include "ct_kafka_client.h"

#include "ct_log.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define S(f) offsetof(ct_kafka_sasl_cfg_t, f)
const ct_opt_t ct_kafka_sasl_opts[] = {
    {"username", CT_OPT_STRING, S(username), NULL, 0, 0, NULL, "SASL user", NULL, 0,
     CT_OPT_REQUIRED},
    {"password", CT_OPT_STRING, S(password), NULL, 0, 0, NULL, "SASL password", NULL, 0,
     CT_OPT_REQUIRED | CT_OPT_SECRET},
    {"mechanism", CT_OPT_ENUM, S(mechanism), NULL, 0, 0, "PLAIN|SCRAM-SHA-256|SCRAM-SHA-512",
     "SASL mechanism", NULL, 0, CT_OPT_REQUIRED},
    {"version", CT_OPT_INT, S(version), "0", 0, 1, NULL,
     "accepted for compatibility; librdkafka negotiates the handshake version"},
    CT_OPT_END,
};
#undef S

const ct_opt_t ct_kafka_plain_text_opts[] = {
    {"username", CT_OPT_STRING, offsetof(ct_kafka_plain_cfg_t, username), NULL, 0, 0, NULL, "user",
     NULL, 0, CT_OPT_REQUIRED},
    {"password", CT_OPT_STRING, offsetof(ct_kafka_plain_cfg_t, password), NULL, 0, 0, NULL,
     "password", NULL, 0, CT_OPT_REQUIRED | CT_OPT_SECRET},
    CT_OPT_END,
};

const ct_opt_t ct_kafka_tls_opts[] = {
    CT_KAFKA_TLS_OPTS,
    CT_OPT_END,
};

const ct_opt_t ct_kafka_auth_opts[] = {
    CT_KAFKA_AUTH_OPTS(ct_kafka_tls_opts),
    CT_OPT_END,
};

/* "2.1.0": two to four dot-separated numbers. Sets the first two. */
static int parse_version(const char *s, int *major, int *minor)
{
    long v[4] = {0};
    int parts = 0;

    while (*s && parts < 4) {
        char *end;

        if (!isdigit((unsigned char)*s))
            return -EINVAL;
        v[parts++] = strtol(s, &end, 10);
        s = end;
        if (*s == '.')
            s++;
        else if (*s != '\0')
            return -EINVAL;
    }
    if (*s != '\0' || parts < 2)
        return -EINVAL;
    *major = (int)v[0];
    *minor = (int)v[1];
    return 0;
}

/* The tls in effect: the top-level one, else the deprecated auth::tls, else none. */
static const ct_kafka_tls_cfg_t *effective_tls(const ct_kafka_security_cfg_t *s)
{
    return s->tls.present ? &s->tls : (s->auth_tls.present ? &s->auth_tls : NULL);
}

int ct_kafka_check_client(const ct_strlist_t *brokers, const char *protocol_version,
                          const ct_node_t *node, ct_err_t *err)
{
    int major, minor;

    if (brokers->n == 0)
        return ct_errf(err, ct_node_get(node, "brokers"), "brokers: at least one is needed");
    if (!protocol_version || parse_version(protocol_version, &major, &minor) < 0)
        return ct_errf(err, ct_node_get(node, "protocol_version"),
                       "protocol_version: '%s' is not a Kafka version such as 2.1.0",
                       protocol_version ? protocol_version : "");
    return 0;
}

int ct_kafka_check_security(const ct_kafka_security_cfg_t *s, const ct_node_t *node, ct_err_t *err)
{
    const ct_kafka_tls_cfg_t *tls = effective_tls(s);

    if (s->tls.present && s->auth_tls.present)
        return ct_errf(err, ct_node_get(node, "tls"),
                       "tls and auth::tls are the same setting: keep only tls");
    if (s->sasl.present && s->plain_text.present)
        return ct_errf(err, ct_node_get(node, "auth"),
                       "auth::sasl and auth::plain_text exclude each other");
    if (tls && tls->server_name_override)
        return ct_errf(err, ct_node_get(node, "tls"),
                       "tls::server_name_override is not supported by librdkafka %s",
                       rd_kafka_version_str());
    if (tls && (tls->cert_file || tls->cert_pem) && !(tls->key_file || tls->key_pem))
        return ct_errf(err, ct_node_get(node, "tls"),
                       "tls: a client certificate needs its key (key_file or key_pem)");
    return 0;
}

int ct_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value,
                      const ct_node_t *at, ct_err_t *err)
{
    char why[512];

    if (rd_kafka_conf_set(conf, key, value, why, sizeof(why)) != RD_KAFKA_CONF_OK)
        return ct_errf(err, at, "librdkafka property %s: %s", key, why);
    return 0;
}

int ct_kafka_conf_setf(rd_kafka_conf_t *conf, const char *key, const ct_node_t *at, ct_err_t *err,
                       const char *fmt, ...)
{
    char value[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(value, sizeof(value), fmt, ap);
    va_end(ap);
    return ct_kafka_conf_set(conf, key, value, at, err);
}

/* Splits "host:port" or "[v6]:port"; the port may be absent. */
static void split_host_port(const char *s, char *host, size_t hostlen, const char **port)
{
    const char *colon;

    *port = NULL;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        size_t n = close ? (size_t)(close - s - 1) : strlen(s + 1);

        snprintf(host, hostlen, "%.*s", (int)n, s + 1);
        if (close && close[1] == ':')
            *port = close + 2;
        return;
    }
    colon = strrchr(s, ':');
    if (colon && strchr(s, ':') == colon) {
        snprintf(host, hostlen, "%.*s", (int)(colon - s), s);
        *port = colon + 1;
        return;
    }
    snprintf(host, hostlen, "%s", s);
}

/* Whether the comma-separated list in b holds entry. */
static bool list_has(const ct_buf_t *b, const char *entry)
{
    size_t n = strlen(entry), i = 0;

    while (i < b->len) {
        const uint8_t *comma = memchr(b->data + i, ',', b->len - i);
        size_t end = comma ? (size_t)(comma - b->data) : b->len;

        if (end - i == n && memcmp(b->data + i, entry, n) == 0)
            return true;
        i = end + 1;
    }
    return false;
}

/*
 * The brokers with each name replaced by the canonical names its addresses
 * reverse-resolve to (a name that does not resolve is kept as written).
 */
static int canonical_brokers(const ct_strlist_t *brokers, const char *name, ct_buf_t *out)
{
    int rc = 0;

    for (size_t i = 0; i < brokers->n && rc == 0; i++) {
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
        char host[256];
        const char *port;
        size_t before = out->len;
        int g;

        split_host_port(brokers->v[i], host, sizeof(host), &port);
        g = getaddrinfo(host, NULL, &hints, &res);
        for (struct addrinfo *a = g == 0 ? res : NULL; a && rc == 0; a = a->ai_next) {
            char canon[NI_MAXHOST];

            if (getnameinfo(a->ai_addr, a->ai_addrlen, canon, sizeof(canon), NULL, 0,
                            NI_NAMEREQD) != 0)
                continue;
            char entry[NI_MAXHOST + 16];
            snprintf(entry, sizeof(entry), "%s%s%s", canon, port ? ":" : "", port ? port : "");
            /* Each name once, though it has IPv4 and IPv6 addresses. */
            if (!list_has(out, entry))
                rc = ct_buf_printf(out, "%s%s", out->len ? "," : "", entry);
        }
        if (res)
            freeaddrinfo(res);
        if (out->len == before && rc == 0) {
            ct_log_warn(name,
                        "cannot resolve broker %s to a canonical name (%s): using it as "
                        "written",
                        brokers->v[i], g ? gai_strerror(g) : "no reverse name");
            rc = ct_buf_printf(out, "%s%s", out->len ? "," : "", brokers->v[i]);
        }
    }
    return rc;
}

int ct_kafka_conf_bootstrap(rd_kafka_conf_t *conf, const ct_strlist_t *brokers, bool canonical,
                            const char *name, const ct_node_t *node, ct_err_t *err)
{
    ct_buf_t list = {0};
    int rc = 0;

    if (canonical) {
        rc = canonical_brokers(brokers, name, &list);
    } else {
        for (size_t i = 0; i < brokers->n && rc == 0; i++)
            rc = ct_buf_printf(&list, "%s%s", i ? "," : "", brokers->v[i]);
    }
    if (rc == 0)
        rc = ct_buf_putc(&list, '\0');
    if (rc < 0) {
        rc = ct_errf(err, node, "out of memory");
        goto out;
    }
    rc = ct_kafka_conf_set(conf, "bootstrap.servers", (const char *)list.data,
                           ct_node_get(node, "brokers"), err);
    if (rc == 0 && name)
        ct_log_info(name, "bootstrap brokers: %s", (const char *)list.data);

out:
    ct_buf_free(&list);
    return rc;
}

int ct_kafka_conf_client(rd_kafka_conf_t *conf, const char *client_id, const char *protocol_version,
                         const ct_node_t *node, ct_err_t *err)
{
    int major = 0, minor = 0, rc;

    rc = ct_kafka_conf_set(conf, "client.id", client_id ? client_id : "", node, err);

    /*
     * librdkafka asks the broker which protocol versions it speaks; the
     * configured version is the fallback when it cannot (brokers before 0.10).
     */
    if (rc == 0 && parse_version(protocol_version, &major, &minor) == 0 && major == 0 && minor < 10)
        rc = ct_kafka_conf_set(conf, "api.version.request", "false", node, err);
    if (rc == 0)
        rc = ct_kafka_conf_set(conf, "broker.version.fallback", protocol_version,
                               ct_node_get(node, "protocol_version"), err);

    /* Reconnect within two seconds of a broker's return, so an outage ends promptly. */
    if (rc == 0)
        rc = ct_kafka_conf_set(conf, "reconnect.backoff.max.ms", "2000", node, err);
    return rc;
}

int ct_kafka_conf_security(rd_kafka_conf_t *conf, const ct_kafka_security_cfg_t *s,
                           const ct_node_t *node, ct_err_t *err)
{
    static const char *const mechanisms[] = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"};
    const ct_kafka_tls_cfg_t *tls = effective_tls(s);
    const ct_node_t *at = ct_node_get(node, tls == &s->tls ? "tls" : "auth");
    bool use_tls = tls && !tls->insecure;
    bool use_sasl = s->sasl.present || s->plain_text.present;
    const char *user = s->sasl.present ? s->sasl.username : s->plain_text.username;
    const char *pass = s->sasl.present ? s->sasl.password : s->plain_text.password;
    int rc;

    rc = ct_kafka_conf_set(conf, "security.protocol",
                           use_sasl ? (use_tls ? "sasl_ssl" : "sasl_plaintext")
                                    : (use_tls ? "ssl" : "plaintext"),
                           at, err);
    if (rc == 0 && use_sasl) {
        /* auth::plain_text is the older spelling of a PLAIN mechanism. */
        rc = ct_kafka_conf_set(conf, "sasl.mechanisms",
                               s->sasl.present ? mechanisms[s->sasl.mechanism] : "PLAIN", at, err);
        if (rc == 0)
            rc = ct_kafka_conf_set(conf, "sasl.username", user, at, err);
        if (rc == 0)
            rc = ct_kafka_conf_set(conf, "sasl.password", pass, at, err);
    }
    if (rc != 0 || !use_tls)
        return rc;

    struct {
        const char *key, *value;
    } files[] = {
        {"ssl.ca.location", tls->ca_file},
        {"ssl.ca.pem", tls->ca_pem},
        {"ssl.certificate.location", tls->cert_file},
        {"ssl.certificate.pem", tls->cert_pem},
        {"ssl.key.location", tls->key_file},
        {"ssl.key.pem", tls->key_pem},
    };
    for (size_t i = 0; i < CT_ARRAY_LEN(files) && rc == 0; i++) {
        if (files[i].value)
            rc = ct_kafka_conf_set(conf, files[i].key, files[i].value, at, err);
    }
    if (rc == 0 && tls->insecure_skip_verify) {
        rc = ct_kafka_conf_set(conf, "enable.ssl.certificate.verification", "false", at, err);
        if (rc == 0)
            rc = ct_kafka_conf_set(conf, "ssl.endpoint.identification.algorithm", "none", at, err);
    }
    return rc;
}

int ct_kafka_conf_properties(rd_kafka_conf_t *conf, const ct_kvlist_t *props, const ct_node_t *node,
                             ct_err_t *err)
{
    const ct_node_t *at = ct_node_get(node, "librdkafka_properties");
    int rc = 0;

    for (size_t i = 0; i < props->n && rc == 0; i++)
        rc = ct_kafka_conf_set(conf, props->k[i], props->v[i], ct_node_get(at, props->k[i]), err);
    return rc;
}
