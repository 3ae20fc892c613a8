/*
 * cotel-loadgen: offers OTLP traces, metrics or logs to a collector over
 * gRPC or HTTP at a target rate (or as fast as it answers) for a while, and
 * prints what was accepted and how long calls took as one JSON object.
 */
#include "loadgen.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: cotel-loadgen [options] ENDPOINT\n"
               "  ENDPOINT  grpc: host:port; http: host:port (path /v1/<signal>) or a full URL\n"
               "Sends one pre-encoded request over and over, with fresh trace ids, span ids\n"
               "or timestamps in each, and prints a JSON summary on stdout.\n"
               "options:\n"
               "  --protocol grpc|http     transport (default grpc; http = http/protobuf)\n"
               "  --signal traces|metrics|logs   (default traces)\n"
               "  --items N                items per request (default 100)\n"
               "  --attrs N                attributes per item (default 5)\n"
               "  --attr-size N            bytes of each attribute value (default 20)\n"
               "  --points-per-metric N    metrics: data points per metric (default 10)\n"
               "  --body-size N            logs: bytes of each record's body (default 100)\n"
               "  --concurrency N          calls in flight (default 8)\n"
               "  --connections N          grpc: channels, each its own connection (default 1)\n"
               "  --rate ITEMS_PER_S       target rate; 0 = as fast as possible (default 0)\n"
               "  --duration SECONDS       time spent sending (default 10)\n"
               "  --timeout SECONDS        deadline of each call (default 10)\n"
               "  --gzip                   grpc: compress requests (gzip)\n"
               "  --wait                   grpc: wait up to the timeout for the server first\n"
               "  --dump FILE              write the encoded request to FILE and exit\n");
}

static int parse_size(const char *s, size_t min, size_t max, size_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v < min || v > max)
        return -1;
    *out = (size_t)v;
    return 0;
}

static int parse_args(int argc, char **argv, lg_opts_t *o, const char **dump)
{
    static const struct option longopts[] = {
        {"protocol", required_argument, NULL, 'p'},
        {"signal", required_argument, NULL, 's'},
        {"items", required_argument, NULL, 'i'},
        {"attrs", required_argument, NULL, 'a'},
        {"attr-size", required_argument, NULL, 'A'},
        {"points-per-metric", required_argument, NULL, 'P'},
        {"body-size", required_argument, NULL, 'b'},
        {"concurrency", required_argument, NULL, 'c'},
        {"connections", required_argument, NULL, 'C'},
        {"rate", required_argument, NULL, 'r'},
        {"duration", required_argument, NULL, 'd'},
        {"timeout", required_argument, NULL, 't'},
        {"gzip", no_argument, NULL, 'z'},
        {"wait", no_argument, NULL, 'w'},
        {"dump", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch, rc = 0;

    while (rc == 0 && (ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'p':
            if (strcmp(optarg, "grpc") == 0)
                o->protocol = LG_GRPC;
            else if (strcmp(optarg, "http") == 0 || strcmp(optarg, "http/protobuf") == 0)
                o->protocol = LG_HTTP;
            else
                rc = -1;
            break;
        case 's':
            rc = ct_signal_parse(optarg, strlen(optarg), &o->signal);
            break;
        case 'i':
            rc = parse_size(optarg, 1, 1000000, &o->items);
            break;
        case 'a':
            rc = parse_size(optarg, 0, 1000, &o->attrs);
            break;
        case 'A':
            rc = parse_size(optarg, 0, 1 << 20, &o->attr_size);
            break;
        case 'P':
            rc = parse_size(optarg, 1, 1000000, &o->points_per_metric);
            break;
        case 'b':
            rc = parse_size(optarg, 0, 1 << 20, &o->body_size);
            break;
        case 'c':
            rc = parse_size(optarg, 1, 10000, &o->concurrency);
            break;
        case 'C':
            rc = parse_size(optarg, 1, 256, &o->connections);
            break;
        case 'r':
            o->rate = atof(optarg);
            rc = o->rate >= 0 ? 0 : -1;
            break;
        case 'd':
            o->duration = atof(optarg);
            rc = o->duration > 0 ? 0 : -1;
            break;
        case 't':
            o->timeout = atof(optarg);
            rc = o->timeout > 0 ? 0 : -1;
            break;
        case 'z':
            o->gzip = true;
            break;
        case 'w':
            o->wait = true;
            break;
        case 'D':
            *dump = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            rc = -1;
            break;
        }
        if (rc != 0 && ch != '?')
            fprintf(stderr, "cotel-loadgen: bad option value: %s\n", optarg ? optarg : "");
    }
    if (rc == 0 && o->gzip && o->protocol != LG_GRPC) {
        fprintf(stderr, "cotel-loadgen: --gzip is for --protocol grpc only\n");
        rc = -1;
    }
    if (rc != 0 || argc - optind != (*dump ? 0 : 1)) {
        usage(stderr);
        return -1;
    }
    o->endpoint = *dump ? "" : argv[optind];
    return 0;
}

/* --dump: the request as it would be sent (ids all zero), for other tools and profiling. */
static int write_file(const char *path, const uint8_t *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    int rc = 0;

    if (f == NULL || fwrite(p, 1, len, f) != len)
        rc = -1;
    if (f != NULL && fclose(f) != 0)
        rc = -1;
    if (rc != 0)
        fprintf(stderr, "cotel-loadgen: cannot write %s\n", path);
    return rc;
}

int main(int argc, char **argv)
{
    lg_opts_t o = {
        .protocol = LG_GRPC,
        .signal = CT_SIGNAL_TRACES,
        .items = 100,
        .attrs = 5,
        .attr_size = 20,
        .points_per_metric = 10,
        .body_size = 100,
        .concurrency = 8,
        .connections = 1,
        .duration = 10,
        .timeout = 10,
    };
    const char *dump = NULL;
    lg_template_t t;
    lg_run_t r;
    int rc;

    if (parse_args(argc, argv, &o, &dump) != 0)
        return 2;
    if (lg_template_build(&t, &o) != 0)
        return 1;
    if (dump != NULL) {
        rc = write_file(dump, t.data, t.len);
        lg_template_free(&t);
        return rc == 0 ? 0 : 1;
    }
    lg_run_init(&r, &o, &t);
    rc = o.protocol == LG_GRPC ? lg_grpc_run(&r) : lg_http_run(&r);
    if (rc == 0 || r.seq > 0)
        lg_run_report(&r);
    lg_run_free(&r);
    lg_template_free(&t);
    return rc == 0 ? 0 : 1;
}
