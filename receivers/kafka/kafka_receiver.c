/*
 * The kafka receiver: consumes OTLP records (protobuf or JSON) from Kafka
 * topics as a member of a consumer group and hands them to the pipelines.
 * This file holds its factory and life cycle; consumer.c does the consuming.
 */
#include "kafka_receiver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How much of the shutdown time the receiver may take to leave its group: the rest drains. */
#define CLOSE_SHARE 2

static int kafka_receiver_create(ct_instance_t *inst, ct_err_t *err)
{
    kafka_receiver_t *kr = calloc(1, sizeof(*kr));
    const ct_node_t *marking;
    char labels[256], id[160];

    if (!kr)
        return ct_errf(err, inst->node, "%s: out of memory", inst->name);
    kr->inst = inst;
    kr->cfg = inst->config;
    kr->conf = kafka_receiver_conf_build(kr->cfg, inst->node, err);
    if (!kr->conf) {
        free(kr);
        return -EINVAL;
    }
    kafka_receiver_set_callbacks(kr, kr->conf);

    /* As in the Go receiver, on_permanent_error follows on_error unless it is set. */
    marking = ct_node_get(inst->node, "message_marking");
    kr->mark_on_error = kr->cfg->marking.on_error;
    kr->mark_on_permanent_error = ct_node_get(marking, "on_permanent_error")
                                      ? kr->cfg->marking.on_permanent_error
                                      : kr->cfg->marking.on_error;

    ct_receiver_obs_init(&kr->obs, inst->id, "kafka");
    ct_metrics_label_escape(id, sizeof id, inst->id);
    snprintf(labels, sizeof labels, "receiver=\"%s\"", id);
    kr->partition_start = ct_metrics_counter("otelcol_kafka_receiver_partition_start",
                                             "Partitions assigned to this receiver.", labels);
    kr->partition_close = ct_metrics_counter("otelcol_kafka_receiver_partition_close",
                                             "Partitions taken from this receiver.", labels);
    inst->state = kr;
    return 0;
}

static const char *encoding_name(int encoding)
{
    return encoding == KR_ENCODING_JSON ? "otlp_json" : "otlp_proto";
}

/*
 * The topics of every signal that has a pipeline. A topic carries one
 * signal: records do not say theirs.
 */
static int build_routes(kafka_receiver_t *kr, ct_err_t *err)
{
    ct_instance_t *inst = kr->inst;

    for (int s = 0; s < CT_SIGNAL_COUNT; s++) {
        ct_strlist_t one;
        const ct_strlist_t *topics;

        if (inst->next[s] == NULL)
            continue;
        topics = kafka_receiver_topics(kr->cfg, (ct_signal_t)s, &one);
        for (size_t i = 0; i < topics->n; i++) {
            const char *name = topics->v[i];
            kr_route_t *r = NULL;

            for (size_t j = 0; j < kr->nroutes && !r; j++) {
                if (strcmp(kr->routes[j].name, name) == 0)
                    r = &kr->routes[j];
            }
            if (r && r->signal == (ct_signal_t)s)
                continue; /* listed twice */
            if (r)
                return ct_errf(err, inst->node,
                               "%s: topic %s is configured for both %s and %s: a topic carries "
                               "one signal",
                               inst->name, name, ct_signal_name(r->signal),
                               ct_signal_name((ct_signal_t)s));
            if (kr->nroutes == CT_ARRAY_LEN(kr->routes))
                return ct_errf(err, inst->node, "%s: more than %zu topics", inst->name,
                               CT_ARRAY_LEN(kr->routes));
            r = &kr->routes[kr->nroutes];
            r->name = name;
            r->signal = (ct_signal_t)s;
            r->encoding = kr->cfg->signal[s].encoding;
            r->is_regex = name[0] == '^';
            if (r->is_regex && regcomp(&r->re, name, REG_EXTENDED | REG_NOSUB) != 0)
                return ct_errf(err, inst->node, "%s: '%s' is not a valid regular expression",
                               inst->name, name);
            kr->nroutes++;
        }
    }
    return 0;
}

static int subscribe(kafka_receiver_t *kr, ct_err_t *err)
{
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new((int)kr->nroutes);
    ct_buf_t line = {0};
    rd_kafka_resp_err_t e;
    int rc = 0;

    if (!topics)
        return ct_errf(err, kr->inst->node, "%s: out of memory", kr->inst->name);
    for (size_t i = 0; i < kr->nroutes; i++) {
        const kr_route_t *r = &kr->routes[i];

        rd_kafka_topic_partition_list_add(topics, r->name, RD_KAFKA_PARTITION_UA);
        ct_buf_printf(&line, "%s%s <- %s (%s)", i ? ", " : "", ct_signal_name(r->signal), r->name,
                      encoding_name(r->encoding));
    }
    e = rd_kafka_subscribe(kr->rk, topics);
    if (e) {
        rc = ct_errf(err, kr->inst->node, "%s: cannot subscribe: %s", kr->inst->name,
                     rd_kafka_err2str(e));
        goto out;
    }
    ct_buf_putc(&line, '\0');
    ct_log_info(kr->inst->name, "consuming as group %s (marking offsets %s the pipeline): %s",
                kr->cfg->group_id, kr->cfg->marking.after ? "after" : "before",
                line.data ? (const char *)line.data : "");
out:
    ct_buf_free(&line);
    rd_kafka_topic_partition_list_destroy(topics);
    return rc;
}

static int kafka_receiver_start(ct_instance_t *inst, ct_err_t *err)
{
    kafka_receiver_t *kr = inst->state;
    char why[512];
    int rc;

    if ((rc = build_routes(kr, err)) != 0)
        return rc;

    /* rd_kafka_new connects in the background: an absent broker does not delay the start. */
    kr->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kr->conf, why, sizeof(why));
    if (!kr->rk)
        return ct_errf(err, inst->node, "%s: cannot create the Kafka consumer: %s", inst->name,
                       why);
    kr->conf = NULL; /* rd_kafka_new took it */
    /* Callbacks (errors, rebalances, commits) are then served by the consumer thread's polls. */
    rd_kafka_poll_set_consumer(kr->rk);

    if ((rc = subscribe(kr, err)) != 0)
        return rc;
    if (pthread_create(&kr->thread, NULL, kafka_receiver_main, kr) != 0)
        return ct_errf(err, inst->node, "%s: cannot start the consumer thread", inst->name);
    kr->thread_running = true;
    return 0;
}

/*
 * Stops consuming and leaves the group within part of the time left: the
 * exporters need the rest to drain what was accepted.
 */
static void kafka_receiver_shutdown(ct_instance_t *inst, uint64_t deadline_ns)
{
    kafka_receiver_t *kr = inst->state;
    uint64_t now = ct_now_mono_ns();
    uint64_t close_by = now + (deadline_ns > now ? (deadline_ns - now) / CLOSE_SHARE : 0);
    struct timespec ts;
    int rc;

    if (!kr || !kr->thread_running)
        return;
    atomic_store(&kr->close_deadline_ns, close_by);
    atomic_store(&kr->stop, true);

    /* The join waits a second past the close deadline: a last poll may be under way. */
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)((close_by - now) / 1000000000ull) + 1;
    rc = pthread_timedjoin_np(kr->thread, NULL, &ts);
    if (rc == 0) {
        kr->thread_running = false;
        return;
    }
    ct_log_error(inst->name,
                 "shutdown: the consumer thread is still busy (a pipeline call blocks); going "
                 "on without it");
}

static void kafka_receiver_destroy(ct_instance_t *inst)
{
    kafka_receiver_t *kr = inst->state;

    if (!kr)
        return;
    if (kr->thread_running) {
        atomic_store(&kr->stop, true);
        pthread_join(kr->thread, NULL);
    }
    if (kr->rk) {
        /* A consumer that did not leave its group cleanly is not closed again: it would block. */
        if (atomic_load(&kr->closed))
            rd_kafka_destroy(kr->rk);
        else
            rd_kafka_destroy_flags(kr->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    }
    if (kr->conf)
        rd_kafka_conf_destroy(kr->conf);
    kafka_receiver_parts_free(kr);
    for (size_t i = 0; i < kr->nroutes; i++) {
        if (kr->routes[i].is_regex)
            regfree(&kr->routes[i].re);
    }
    free(kr);
    inst->state = NULL;
}

const ct_factory_t ct_kafka_receiver_factory = {
    .type = "kafka",
    .kind = CT_KIND_RECEIVER,
    .signals = CT_SIGNALS_ALL,
    .description = "consumes OTLP (protobuf or JSON) records from Kafka topics as a consumer group",
    .opts = kafka_receiver_opts,
    .cfg_size = sizeof(kafka_receiver_config_t),
    .validate = kafka_receiver_validate,
    .create = kafka_receiver_create,
    .start = kafka_receiver_start,
    .shutdown = kafka_receiver_shutdown,
    .destroy = kafka_receiver_destroy,
    .settings_offset = CT_OPT_NO_FLAG,
};
