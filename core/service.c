/*
 * The service: turns the configuration into component instances wired into
 * pipelines, starts them exporters first, and stops them receivers first so
 * that everything accepted is flushed and drained.
 */
#include "ct_service.h"

#include "ct_exporter.h"
#include "ct_log.h"
#include "ct_metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fanout {
    ct_consumer_t consumer;
    size_t n;
    ct_consumer_t *outs[];
} fanout_t;

typedef struct pipeline {
    char *id;
    ct_signal_t signal;
    size_t nproc;
    ct_instance_t **procs; /* this pipeline's own processor instances, in order */
    ct_consumer_t *first;  /* where receivers hand data */
    const ct_node_t *node;
    const ct_node_t *receivers, *exporters;
} pipeline_t;

typedef struct service_cfg {
    ct_strlist_t extensions;
    const ct_node_t *pipelines;
    ct_telemetry_settings_t telemetry;
    const ct_node_t *telemetry_resource, *telemetry_traces, *metrics_readers;
    const ct_node_t *logs_sampling, *logs_initial_fields;
    ct_strlist_t logs_output_paths, logs_error_output_paths;
    bool logs_development, logs_disable_caller, logs_disable_stacktrace;
    bool logs_present, metrics_present, telemetry_present;
} service_cfg_t;

static const ct_opt_t logs_opts[] = {
    {"level", CT_OPT_STRING, offsetof(service_cfg_t, telemetry.log_level), "info", 0, 0, NULL,
     "error, warn, info or debug"},
    {"encoding", CT_OPT_ENUM, offsetof(service_cfg_t, telemetry.log_encoding), "console", 0, 0,
     "console|json", "log line format on stderr"},
    {"development", CT_OPT_BOOL, offsetof(service_cfg_t, logs_development), "false", 0, 0, NULL,
     "accepted for compatibility; no effect"},
    {"disable_caller", CT_OPT_BOOL, offsetof(service_cfg_t, logs_disable_caller), "false", 0, 0,
     NULL, "accepted for compatibility; no effect"},
    {"disable_stacktrace", CT_OPT_BOOL, offsetof(service_cfg_t, logs_disable_stacktrace), "false",
     0, 0, NULL, "accepted for compatibility; no effect"},
    {"sampling", CT_OPT_RAW, offsetof(service_cfg_t, logs_sampling), NULL, 0, 0, NULL,
     "accepted for compatibility; cotel rate-limits repeated messages itself"},
    {"output_paths", CT_OPT_STRINGS, offsetof(service_cfg_t, logs_output_paths), NULL, 0, 0, NULL,
     "accepted for compatibility; logs go to stderr"},
    {"error_output_paths", CT_OPT_STRINGS, offsetof(service_cfg_t, logs_error_output_paths), NULL,
     0, 0, NULL, "accepted for compatibility; logs go to stderr"},
    {"initial_fields", CT_OPT_RAW, offsetof(service_cfg_t, logs_initial_fields), NULL, 0, 0, NULL,
     "accepted for compatibility; no effect"},
    CT_OPT_END,
};

static const ct_opt_t metrics_opts[] = {
    {"level", CT_OPT_STRING, offsetof(service_cfg_t, telemetry.metrics_level), "normal", 0, 0, NULL,
     "none turns the metrics endpoint off"},
    {"address", CT_OPT_STRING, offsetof(service_cfg_t, telemetry.metrics_address), NULL, 0, 0, NULL,
     "host:port of the Prometheus endpoint (older form of readers)"},
    {"readers", CT_OPT_RAW, offsetof(service_cfg_t, metrics_readers), NULL, 0, 0, NULL,
     "a pull prometheus reader: [{pull: {exporter: {prometheus: {host, port}}}}]"},
    CT_OPT_END,
};

static const ct_opt_t telemetry_opts[] = {
    {"logs", CT_OPT_SECTION, offsetof(service_cfg_t, logs_present), NULL, 0, 0, NULL,
     "cotel's own logs", logs_opts, 0},
    {"metrics", CT_OPT_SECTION, offsetof(service_cfg_t, metrics_present), NULL, 0, 0, NULL,
     "cotel's own metrics, in the Prometheus format", metrics_opts, 0},
    {"resource", CT_OPT_RAW, offsetof(service_cfg_t, telemetry_resource), NULL, 0, 0, NULL,
     "attributes added as labels to every own metric (service_name, service_version, ...)"},
    {"traces", CT_OPT_RAW, offsetof(service_cfg_t, telemetry_traces), NULL, 0, 0, NULL,
     "accepted for compatibility; cotel does not trace itself"},
    CT_OPT_END,
};

static const ct_opt_t service_opts[] = {
    {"extensions", CT_OPT_STRINGS, offsetof(service_cfg_t, extensions), NULL, 0, 0, NULL,
     "extensions to start"},
    {"pipelines", CT_OPT_RAW, offsetof(service_cfg_t, pipelines), NULL, 0, 0, NULL,
     "traces|metrics|logs[/name]: {receivers, processors, exporters}", NULL, 0, CT_OPT_REQUIRED},
    {"telemetry", CT_OPT_SECTION, offsetof(service_cfg_t, telemetry_present), NULL, 0, 0, NULL,
     "cotel's own logs and metrics", telemetry_opts, 0},
    {"shutdown_timeout", CT_OPT_DURATION, offsetof(service_cfg_t, telemetry.shutdown_timeout),
     "25s", 0, 0, NULL, "cotel's own: how long shutdown may flush and drain"},
    CT_OPT_END,
};

typedef struct component_def {
    ct_kind_t kind;
    const ct_factory_t *factory;
    const ct_node_t *key; /* the id's node, for errors */
    const ct_node_t *node;
    char *id;
    ct_instance_t *shared; /* receivers, exporters, extensions: built once */
} component_def_t;

struct ct_service {
    _Atomic int state;
    service_cfg_t cfg;
    component_def_t *defs;
    size_t ndefs;
    pipeline_t *pipelines;
    size_t npipelines;
    ct_instance_t **instances; /* every built instance, in start order */
    size_t ninstances;
    fanout_t **fanouts;
    size_t nfanouts;
    void *metrics_server;
};

/* The Prometheus endpoint for cotel's own metrics (core/telemetry.c). */
void *ct_telemetry_start(const char *address, ct_err_t *err);
void ct_telemetry_stop(void *server);

static ct_code_t fanout_consume(ct_consumer_t *self, ct_request_t *req)
{
    fanout_t *f = (fanout_t *)self;
    ct_code_t result = CT_OK;
    for (size_t i = 0; i < f->n; i++) {
        ct_code_t c = ct_consume(f->outs[i], req);
        if (c != CT_OK && result == CT_OK)
            result = c;
    }
    return result;
}

static ct_consumer_t *make_fanout(ct_service_t *s, ct_consumer_t **outs, size_t n)
{
    if (n == 1)
        return outs[0];
    fanout_t *f = calloc(1, sizeof *f + n * sizeof *outs);
    fanout_t **list = realloc(s->fanouts, (s->nfanouts + 1) * sizeof *list);
    if (f == NULL || list == NULL) {
        free(f);
        if (list)
            s->fanouts = list;
        return NULL;
    }
    s->fanouts = list;
    s->fanouts[s->nfanouts++] = f;
    f->consumer.consume = fanout_consume;
    f->n = n;
    memcpy(f->outs, outs, n * sizeof *outs);
    return &f->consumer;
}

static ct_code_t processor_consume(ct_consumer_t *self, ct_request_t *req)
{
    ct_instance_t *inst = (ct_instance_t *)((char *)self - offsetof(ct_instance_t, as_consumer));
    return inst->factory->consume(inst, req);
}

static void list_types(ct_kind_t kind, char *out, size_t len)
{
    size_t n = 0;
    out[0] = '\0';
    for (const ct_factory_t *const *f = ct_builtin_factories; *f != NULL; f++) {
        if ((*f)->kind == kind && n < len)
            n += (size_t)snprintf(out + n, len - n, "%s%s", n ? ", " : "", (*f)->type);
    }
}

static component_def_t *def_find(ct_service_t *s, ct_kind_t kind, const char *id)
{
    for (size_t i = 0; i < s->ndefs; i++) {
        if (s->defs[i].kind == kind && strcmp(s->defs[i].id, id) == 0)
            return &s->defs[i];
    }
    return NULL;
}

/* Validates one component's config by building its config struct, then frees it. */
static void *config_build(const ct_factory_t *f, const ct_node_t *node, const char *what,
                          ct_err_t *err)
{
    void *cfg = calloc(1, f->cfg_size ? f->cfg_size : 1);
    if (cfg == NULL) {
        ct_errf(err, node, "out of memory");
        return NULL;
    }
    int rc = ct_opt_defaults(f->opts, cfg, err);
    if (rc == 0)
        rc = ct_opt_apply(f->opts, cfg, node, what, err);
    if (rc == 0 && f->validate)
        rc = f->validate(cfg, node, err);
    if (rc != 0) {
        ct_opt_free(f->opts, cfg);
        free(cfg);
        return NULL;
    }
    return cfg;
}

static int load_section(ct_service_t *s, const ct_node_t *root, ct_kind_t kind, ct_err_t *err)
{
    const ct_node_t *sec = ct_node_get(root, ct_kind_section(kind));
    if (ct_node_is_null(sec))
        return 0;
    if (sec->kind != CT_NODE_MAP)
        return ct_errf(err, sec, "%s: expected a map of component ids", ct_kind_section(kind));

    for (size_t i = 0; i < sec->n; i++) {
        const ct_node_t *key = sec->keys[i];
        const char *id = key->value;
        const char *slash = strchr(id, '/');
        size_t tlen = slash ? (size_t)(slash - id) : strlen(id);
        if (tlen == 0 || (slash && slash[1] == '\0'))
            return ct_errf(err, key, "%s: invalid component id '%s' (write type or type/name)",
                           ct_kind_section(kind), id);
        const ct_factory_t *f = ct_factory_find(kind, id, tlen);
        if (f == NULL) {
            char known[512];
            list_types(kind, known, sizeof known);
            return ct_errf(err, key, "%s: unknown %s type '%.*s' (known types: %s)",
                           ct_kind_section(kind), ct_kind_name(kind), (int)tlen, id, known);
        }
        char what[256];
        snprintf(what, sizeof what, "%s::%s", ct_kind_section(kind), id);
        void *cfg = config_build(f, sec->items[i], what, err);
        if (cfg == NULL)
            return -EINVAL;
        ct_opt_free(f->opts, cfg);
        free(cfg);

        component_def_t *defs = realloc(s->defs, (s->ndefs + 1) * sizeof *defs);
        if (defs == NULL)
            return ct_errf(err, key, "out of memory");
        s->defs = defs;
        s->defs[s->ndefs++] = (component_def_t){kind, f, key, sec->items[i], strdup(id), NULL};
    }
    return 0;
}

static ct_instance_t *instance_new(ct_service_t *s, component_def_t *d, ct_err_t *err)
{
    ct_instance_t *inst = calloc(1, sizeof *inst);
    if (inst == NULL) {
        ct_errf(err, d->key, "out of memory");
        return NULL;
    }
    char name[256], what[256];
    snprintf(name, sizeof name, "%s/%s", ct_kind_name(d->kind), d->id);
    snprintf(what, sizeof what, "%s::%s", ct_kind_section(d->kind), d->id);
    inst->factory = d->factory;
    inst->id = strdup(d->id);
    inst->name = strdup(name);
    inst->node = d->node;
    inst->service = s;
    inst->as_consumer.consume = processor_consume;
    inst->config = config_build(d->factory, d->node, what, err);

    ct_instance_t **list = realloc(s->instances, (s->ninstances + 1) * sizeof *list);
    if (list != NULL)
        s->instances = list;
    if (inst->id == NULL || inst->name == NULL || list == NULL || inst->config == NULL) {
        if (inst->config == NULL && err->msg[0] == '\0')
            ct_errf(err, d->key, "out of memory");
        free(inst->id);
        free(inst->name);
        free(inst);
        return NULL;
    }
    s->instances[s->ninstances++] = inst;

    if (d->factory->create && d->factory->create(inst, err) != 0)
        return NULL;
    if (d->kind == CT_KIND_EXPORTER) {
        if (d->factory->send == NULL) {
            ct_errf(err, d->key, "%s: exporter has no send operation", inst->name);
            return NULL;
        }
        inst->exporter = ct_exporter_new(inst, err);
        if (inst->exporter == NULL)
            return NULL;
    }
    return inst;
}

/* Looks up a component named in a pipeline, checking it exists and handles the signal. */
static component_def_t *pipeline_ref(ct_service_t *s, const ct_node_t *ref, ct_kind_t kind,
                                     const char *pid, ct_signal_t sig, ct_err_t *err)
{
    if (ref->kind != CT_NODE_SCALAR) {
        ct_errf(err, ref, "service::pipelines::%s: expected a component id", pid);
        return NULL;
    }
    component_def_t *d = def_find(s, kind, ref->value);
    if (d == NULL) {
        ct_errf(err, ref, "service::pipelines::%s: %s '%s' is not defined in the '%s' section", pid,
                ct_kind_name(kind), ref->value, ct_kind_section(kind));
        return NULL;
    }
    if (!(d->factory->signals & CT_SIGNAL_BIT(sig))) {
        ct_errf(err, ref, "service::pipelines::%s: %s '%s' does not support %s", pid,
                ct_kind_name(kind), ref->value, ct_signal_name(sig));
        return NULL;
    }
    return d;
}

static ct_instance_t *shared_instance(ct_service_t *s, component_def_t *d, ct_err_t *err)
{
    if (d->shared == NULL)
        d->shared = instance_new(s, d, err);
    return d->shared;
}

static int list_node(const ct_node_t *p, const char *key, const char *pid, bool required,
                     const ct_node_t **out, ct_err_t *err)
{
    const ct_node_t *n = ct_node_get(p, key);
    *out = NULL;
    if (ct_node_is_null(n) || (n->kind == CT_NODE_SEQ && n->n == 0)) {
        if (required)
            return ct_errf(err, p, "service::pipelines::%s: must have at least one %s", pid, key);
        return 0;
    }
    if (n->kind != CT_NODE_SEQ)
        return ct_errf(err, n, "service::pipelines::%s::%s: expected a list of component ids", pid,
                       key);
    *out = n;
    return 0;
}

/* Builds one pipeline: its exporters (shared), its own processors, wired back to front. */
static int build_pipeline(ct_service_t *s, pipeline_t *p, ct_err_t *err)
{
    const ct_node_t *procs;
    for (size_t i = 0; i < p->node->n; i++) {
        const char *k = p->node->keys[i]->value;
        if (strcmp(k, "receivers") && strcmp(k, "processors") && strcmp(k, "exporters"))
            return ct_errf(err, p->node->keys[i],
                           "service::pipelines::%s: unknown key '%s' (valid keys: receivers, "
                           "processors, exporters)",
                           p->id, k);
    }
    if (list_node(p->node, "receivers", p->id, true, &p->receivers, err) != 0 ||
        list_node(p->node, "processors", p->id, false, &procs, err) != 0 ||
        list_node(p->node, "exporters", p->id, true, &p->exporters, err) != 0)
        return -EINVAL;
    for (size_t i = 0; i < p->receivers->n; i++) {
        if (pipeline_ref(s, p->receivers->items[i], CT_KIND_RECEIVER, p->id, p->signal, err) ==
            NULL)
            return -EINVAL;
    }

    ct_consumer_t **outs = calloc(p->exporters->n, sizeof *outs);
    bool durable = false;
    if (outs == NULL)
        return ct_errf(err, p->node, "out of memory");
    for (size_t i = 0; i < p->exporters->n; i++) {
        component_def_t *d =
            pipeline_ref(s, p->exporters->items[i], CT_KIND_EXPORTER, p->id, p->signal, err);
        ct_instance_t *inst = d ? shared_instance(s, d, err) : NULL;
        if (inst == NULL) {
            free(outs);
            return -EINVAL;
        }
        outs[i] = ct_exporter_consumer(inst->exporter);
        durable |= ct_exporter_is_durable(inst->exporter);
    }
    ct_consumer_t *next = make_fanout(s, outs, p->exporters->n);
    free(outs);
    if (next == NULL)
        return ct_errf(err, p->node, "out of memory");

    p->nproc = procs ? procs->n : 0;
    p->procs = calloc(p->nproc ? p->nproc : 1, sizeof *p->procs);
    if (p->procs == NULL)
        return ct_errf(err, p->node, "out of memory");
    for (size_t i = p->nproc; i-- > 0;) {
        component_def_t *d =
            pipeline_ref(s, procs->items[i], CT_KIND_PROCESSOR, p->id, p->signal, err);
        if (d == NULL)
            return -EINVAL;
        for (size_t j = 0; j < i; j++) {
            if (procs->items[j]->kind == CT_NODE_SCALAR &&
                strcmp(procs->items[j]->value, d->id) == 0)
                return ct_errf(err, procs->items[i],
                               "service::pipelines::%s: processor '%s' is listed twice", p->id,
                               d->id);
        }
        /* Processors are not shared: each pipeline gets its own instance. */
        ct_instance_t *inst = instance_new(s, d, err);
        if (inst == NULL)
            return -EINVAL;
        inst->signal = p->signal;
        inst->durable_downstream = durable;
        inst->pipeline = p->id;
        inst->next_stage = next;
        p->procs[i] = inst;
        next = &inst->as_consumer;
    }
    p->first = next;
    return 0;
}

/* Gives each receiver, for each signal, the fan-out to every pipeline it feeds. */
static int wire_receivers(ct_service_t *s, ct_err_t *err)
{
    for (size_t di = 0; di < s->ndefs; di++) {
        component_def_t *d = &s->defs[di];
        if (d->kind != CT_KIND_RECEIVER)
            continue;
        for (int sig = 0; sig < CT_SIGNAL_COUNT; sig++) {
            ct_consumer_t *outs[64];
            size_t n = 0;
            for (size_t pi = 0; pi < s->npipelines; pi++) {
                pipeline_t *p = &s->pipelines[pi];
                if ((int)p->signal != sig)
                    continue;
                for (size_t r = 0; r < p->receivers->n; r++) {
                    const ct_node_t *ref = p->receivers->items[r]; /* checked by build_pipeline */
                    if (strcmp(ref->value, d->id) != 0)
                        continue;
                    if (n == CT_ARRAY_LEN(outs))
                        return ct_errf(err, ref, "receiver '%s' feeds too many pipelines", d->id);
                    outs[n++] = p->first;
                }
            }
            if (n == 0)
                continue;
            ct_instance_t *inst = shared_instance(s, d, err);
            if (inst == NULL)
                return -EINVAL;
            inst->next[sig] = make_fanout(s, outs, n);
            if (inst->next[sig] == NULL)
                return ct_errf(err, d->key, "out of memory");
        }
    }
    return 0;
}

static int build_pipelines(ct_service_t *s, ct_err_t *err)
{
    const ct_node_t *pl = s->cfg.pipelines;
    if (ct_node_is_null(pl) || pl->kind != CT_NODE_MAP || pl->n == 0)
        return ct_errf(err, pl, "service::pipelines: at least one pipeline is required");
    s->pipelines = calloc(pl->n, sizeof *s->pipelines);
    if (s->pipelines == NULL)
        return ct_errf(err, pl, "out of memory");

    for (size_t i = 0; i < pl->n; i++) {
        pipeline_t *p = &s->pipelines[i];
        const char *id = pl->keys[i]->value;
        const char *slash = strchr(id, '/');
        size_t tlen = slash ? (size_t)(slash - id) : strlen(id);
        p->id = strdup(id);
        p->node = pl->items[i];
        s->npipelines = i + 1;
        if (p->id == NULL)
            return ct_errf(err, pl->keys[i], "out of memory");
        if (ct_signal_parse(id, tlen, &p->signal) != 0 || (slash && slash[1] == '\0'))
            return ct_errf(err, pl->keys[i],
                           "service::pipelines: invalid pipeline id '%s' (write traces, "
                           "metrics or logs, optionally followed by /name)",
                           id);
        if (p->node->kind != CT_NODE_MAP)
            return ct_errf(err, p->node, "service::pipelines::%s: expected a map", id);
        if (build_pipeline(s, p, err) != 0)
            return -EINVAL;
    }
    return wire_receivers(s, err);
}

static int build_extensions(ct_service_t *s, const ct_node_t *svc, ct_err_t *err)
{
    const ct_node_t *list = ct_node_get(svc, "extensions");
    for (size_t i = 0; i < s->cfg.extensions.n; i++) {
        const char *id = s->cfg.extensions.v[i];
        component_def_t *d = def_find(s, CT_KIND_EXTENSION, id);
        const ct_node_t *at =
            list && list->kind == CT_NODE_SEQ && i < list->n ? list->items[i] : list;
        if (d == NULL)
            return ct_errf(err, at,
                           "service::extensions: extension '%s' is not defined in "
                           "the 'extensions' section",
                           id);
        if (shared_instance(s, d, err) == NULL)
            return -EINVAL;
    }
    return 0;
}

static const char *metrics_address(service_cfg_t *c, char *buf, size_t len)
{
    if (c->telemetry.metrics_level && strcmp(c->telemetry.metrics_level, "none") == 0)
        return NULL;
    if (c->telemetry.metrics_address)
        return c->telemetry.metrics_address;
    const ct_node_t *r = c->metrics_readers;
    for (size_t i = 0; r && r->kind == CT_NODE_SEQ && i < r->n; i++) {
        const ct_node_t *prom =
            ct_node_get(ct_node_get(ct_node_get(r->items[i], "pull"), "exporter"), "prometheus");
        if (prom == NULL)
            continue;
        const ct_node_t *host = ct_node_get(prom, "host");
        const ct_node_t *port = ct_node_get(prom, "port");
        snprintf(buf, len, "%s:%s", host && host->value ? host->value : "localhost",
                 port && port->value ? port->value : "8888");
        return buf;
    }
    if (r != NULL)
        return NULL; /* readers given, none a pull prometheus exporter */
    return "localhost:8888";
}

ct_service_t *ct_service_build(const ct_node_t *root, ct_err_t *err)
{
    static const char *const sections[] = {"receivers",  "processors", "exporters",
                                           "extensions", "service",    "connectors"};
    ct_service_t *s = calloc(1, sizeof *s);
    if (s == NULL) {
        ct_errf(err, root, "out of memory");
        return NULL;
    }
    err->msg[0] = '\0';

    for (size_t i = 0; root && root->kind == CT_NODE_MAP && i < root->n; i++) {
        bool known = false;
        for (size_t j = 0; j < CT_ARRAY_LEN(sections); j++)
            known |= strcmp(root->keys[i]->value, sections[j]) == 0;
        if (!known) {
            ct_errf(err, root->keys[i],
                    "unknown top-level section '%s' (valid: receivers, "
                    "processors, exporters, extensions, service)",
                    root->keys[i]->value);
            goto fail;
        }
        if (strcmp(root->keys[i]->value, "connectors") == 0 && !ct_node_is_null(root->items[i]) &&
            root->items[i]->n > 0) {
            ct_errf(err, root->keys[i], "connectors are not supported by cotel yet");
            goto fail;
        }
    }
    const ct_node_t *svc = ct_node_get(root, "service");
    if (svc == NULL) {
        ct_errf(err, root, "missing the 'service' section");
        goto fail;
    }
    if (ct_opt_defaults(service_opts, &s->cfg, err) != 0 ||
        ct_opt_apply(service_opts, &s->cfg, svc, "service", err) != 0)
        goto fail;
    if (ct_log_parse_level(s->cfg.telemetry.log_level, &(ct_log_level_t){0}) != 0) {
        ct_errf(err, ct_node_get(ct_node_get(ct_node_get(svc, "telemetry"), "logs"), "level"),
                "service::telemetry::logs::level: '%s' is not one of error, warn, info, debug",
                s->cfg.telemetry.log_level);
        goto fail;
    }
    for (int k = 0; k < CT_KIND_COUNT; k++) {
        if (load_section(s, root, (ct_kind_t)k, err) != 0)
            goto fail;
    }
    if (build_extensions(s, svc, err) != 0 || build_pipelines(s, err) != 0)
        goto fail;
    atomic_store(&s->state, CT_SERVICE_STARTING);
    return s;

fail:
    if (err->msg[0] == '\0')
        ct_errf(err, root, "invalid configuration");
    ct_service_free(s);
    return NULL;
}

static int start_kind(ct_service_t *s, ct_kind_t kind, ct_err_t *err)
{
    for (size_t i = 0; i < s->ninstances; i++) {
        ct_instance_t *inst = s->instances[i];
        if (inst->factory->kind != kind)
            continue;
        /* An exporter is ready before its queue's consumers start sending. */
        if (inst->factory->start && inst->factory->start(inst, err) != 0)
            return -EINVAL;
        inst->started = true;
        if (inst->exporter && ct_exporter_start(inst->exporter, err) != 0)
            return -EINVAL;
    }
    return 0;
}

int ct_service_start(ct_service_t *s, ct_err_t *err)
{
    char buf[256];
    const char *addr = metrics_address(&s->cfg, buf, sizeof buf);
    if (addr != NULL && (s->metrics_server = ct_telemetry_start(addr, err)) == NULL)
        return -EINVAL;

    static const ct_kind_t order[] = {CT_KIND_EXTENSION, CT_KIND_EXPORTER, CT_KIND_PROCESSOR,
                                      CT_KIND_RECEIVER};
    for (size_t k = 0; k < CT_ARRAY_LEN(order); k++) {
        if (start_kind(s, order[k], err) != 0)
            return -EINVAL;
    }
    for (size_t i = 0; i < s->npipelines; i++) {
        pipeline_t *p = &s->pipelines[i];
        ct_buf_t line = {0};
        ct_buf_printf(&line, "pipeline %s: receivers [", p->id);
        for (size_t j = 0; j < p->receivers->n; j++)
            ct_buf_printf(&line, "%s%s", j ? ", " : "", p->receivers->items[j]->value);
        ct_buf_puts(&line, "] processors [");
        for (size_t j = 0; j < p->nproc; j++)
            ct_buf_printf(&line, "%s%s", j ? ", " : "", p->procs[j]->id);
        ct_buf_puts(&line, "] exporters [");
        for (size_t j = 0; j < p->exporters->n; j++)
            ct_buf_printf(&line, "%s%s", j ? ", " : "", p->exporters->items[j]->value);
        ct_buf_puts(&line, "]");
        ct_buf_putc(&line, 0);
        ct_log_info(NULL, "%s", line.data ? (char *)line.data : "");
        ct_buf_free(&line);
    }
    atomic_store(&s->state, CT_SERVICE_RUNNING);
    return 0;
}

/*
 * Stops what was started, receivers first, then each pipeline's processors
 * front to back, then exporters, then extensions. Also used after a start
 * that failed half way: only instances whose start succeeded are stopped.
 */
void ct_service_shutdown(ct_service_t *s)
{
    int was = atomic_exchange(&s->state, CT_SERVICE_STOPPING);
    if (was != CT_SERVICE_RUNNING && was != CT_SERVICE_STARTING) {
        atomic_store(&s->state, CT_SERVICE_STOPPED);
        return;
    }
    uint64_t deadline = ct_now_mono_ns() + s->cfg.telemetry.shutdown_timeout;

    for (size_t i = s->ninstances; i-- > 0;) {
        ct_instance_t *inst = s->instances[i];
        if (inst->started && inst->factory->kind == CT_KIND_RECEIVER && inst->factory->shutdown)
            inst->factory->shutdown(inst, deadline);
    }
    for (size_t pi = 0; pi < s->npipelines; pi++) {
        pipeline_t *p = &s->pipelines[pi];
        for (size_t j = 0; j < p->nproc; j++) {
            if (p->procs[j]->started && p->procs[j]->factory->shutdown)
                p->procs[j]->factory->shutdown(p->procs[j], deadline);
        }
    }
    for (size_t i = 0; i < s->ninstances; i++) {
        ct_instance_t *inst = s->instances[i];
        if (inst->started && inst->exporter)
            ct_exporter_shutdown(inst->exporter, deadline);
    }
    for (size_t i = 0; i < s->ninstances; i++) {
        ct_instance_t *inst = s->instances[i];
        if (inst->started && inst->factory->kind == CT_KIND_EXTENSION && inst->factory->shutdown)
            inst->factory->shutdown(inst, deadline);
    }
    if (s->metrics_server) {
        ct_telemetry_stop(s->metrics_server);
        s->metrics_server = NULL;
    }
    atomic_store(&s->state, CT_SERVICE_STOPPED);
}

void ct_service_free(ct_service_t *s)
{
    if (s == NULL)
        return;
    for (size_t i = s->ninstances; i-- > 0;) {
        ct_instance_t *inst = s->instances[i];
        if (inst->factory->destroy)
            inst->factory->destroy(inst);
        ct_exporter_free(inst->exporter);
        if (inst->config) {
            ct_opt_free(inst->factory->opts, inst->config);
            free(inst->config);
        }
        free(inst->id);
        free(inst->name);
        free(inst);
    }
    free(s->instances);
    for (size_t i = 0; i < s->npipelines; i++) {
        free(s->pipelines[i].id);
        free(s->pipelines[i].procs);
    }
    free(s->pipelines);
    for (size_t i = 0; i < s->nfanouts; i++)
        free(s->fanouts[i]);
    free(s->fanouts);
    for (size_t i = 0; i < s->ndefs; i++)
        free(s->defs[i].id);
    free(s->defs);
    ct_opt_free(service_opts, &s->cfg);
    free(s);
}

ct_service_state_t ct_service_state(const ct_service_t *s)
{
    return (ct_service_state_t)atomic_load(&((ct_service_t *)s)->state);
}

const ct_telemetry_settings_t *ct_service_telemetry(const ct_service_t *s)
{
    return &s->cfg.telemetry;
}

ct_instance_t *ct_service_find(ct_service_t *s, ct_kind_t kind, const char *id)
{
    for (size_t i = 0; i < s->ninstances; i++) {
        ct_instance_t *inst = s->instances[i];
        if (inst->factory->kind == kind && strcmp(inst->id, id) == 0)
            return inst;
    }
    return NULL;
}

void ct_service_each_exporter(ct_service_t *s, void (*fn)(ct_instance_t *inst, void *arg),
                              void *arg)
{
    for (size_t i = 0; i < s->ninstances; i++) {
        if (s->instances[i]->exporter)
            fn(s->instances[i], arg);
    }
}
