/*
 * otlp-raw-client: sends a file's bytes, unchanged, as one gRPC unary call
 * (an OTLP Export request, well formed or not) and prints the status code
 * name of each answer. Tests use it to check what a server answers to input.
 */
#include "ct_common.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/compression.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADERS 16

typedef struct client_opts {
    const char *address;
    const char *method;
    const char *file;
    const char *out;
    const char *ca, *cert, *key, *server_name;
    bool gzip;
    bool wait;
    long repeat;
    double timeout;
    size_t nheaders;
    grpc_metadata headers[MAX_HEADERS];
} client_opts_t;

static const struct {
    const char *name;
    const char *path;
} methods[] = {
    {"traces", "/opentelemetry.proto.collector.trace.v1.TraceService/Export"},
    {"metrics", "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"},
    {"logs", "/opentelemetry.proto.collector.logs.v1.LogsService/Export"},
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: otlp-raw-client [options] ADDRESS METHOD FILE\n"
            "  ADDRESS  host:port of the gRPC server\n"
            "  METHOD   traces, metrics, logs, or a method path (/pkg.Service/Method)\n"
            "  FILE     the message's bytes, sent unchanged (\"-\": standard input)\n"
            "Prints the status code name of each call (OK, INVALID_ARGUMENT, ...) on\n"
            "stdout and its message on stderr. Exits 0 when every call got a status.\n"
            "options:\n"
            "  --gzip             compress the message (grpc-encoding: gzip)\n"
            "  --wait             wait for the server to be reachable (until the timeout)\n"
            "  --timeout SECONDS  deadline of each call (default 10)\n"
            "  --repeat N         make the call N times (default 1)\n"
            "  --header KEY=VALUE add request metadata (up to %d)\n"
            "  --out FILE         write the last response message to FILE\n"
            "  --ca FILE          use TLS and trust this CA (PEM)\n"
            "  --cert FILE --key FILE  client certificate and key for mutual TLS\n"
            "  --server-name NAME name to check in the server certificate\n",
            MAX_HEADERS);
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    ct_buf_t b = {0};
    uint8_t chunk[65536];
    uint8_t *out = NULL;
    size_t n;

    if (f == NULL) {
        fprintf(stderr, "otlp-raw-client: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (ct_buf_append(&b, chunk, n) != 0)
            goto out;
    }
    if (ferror(f)) {
        fprintf(stderr, "otlp-raw-client: cannot read %s\n", path);
        goto out;
    }
    if (ct_buf_putc(&b, 0) != 0) /* so that an empty file still gives a buffer */
        goto out;
    out = ct_buf_take(&b, len);
    (*len)--;
out:
    if (f != stdin)
        fclose(f);
    ct_buf_free(&b);
    return out;
}

static int parse_args(int argc, char **argv, client_opts_t *o)
{
    static const struct option longopts[] = {
        {"gzip", no_argument, NULL, 'z'},          {"wait", no_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, 't'}, {"repeat", required_argument, NULL, 'n'},
        {"header", required_argument, NULL, 'H'},  {"out", required_argument, NULL, 'o'},
        {"ca", required_argument, NULL, 'c'},      {"cert", required_argument, NULL, 'C'},
        {"key", required_argument, NULL, 'k'},     {"server-name", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    int c;

    o->timeout = 10;
    o->repeat = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'z':
            o->gzip = true;
            break;
        case 'w':
            o->wait = true;
            break;
        case 't':
            o->timeout = atof(optarg);
            break;
        case 'n':
            o->repeat = atol(optarg);
            break;
        case 'o':
            o->out = optarg;
            break;
        case 'c':
            o->ca = optarg;
            break;
        case 'C':
            o->cert = optarg;
            break;
        case 'k':
            o->key = optarg;
            break;
        case 's':
            o->server_name = optarg;
            break;
        case 'H': {
            const char *eq = strchr(optarg, '=');
            if (eq == NULL || o->nheaders == MAX_HEADERS) {
                fprintf(stderr, "otlp-raw-client: bad or too many --header: %s\n", optarg);
                return -1;
            }
            grpc_metadata *m = &o->headers[o->nheaders++];
            m->key = grpc_slice_from_copied_buffer(optarg, (size_t)(eq - optarg));
            m->value = grpc_slice_from_copied_string(eq + 1);
            break;
        }
        case 'h':
            usage(stdout);
            exit(0);
        default:
            return -1;
        }
    }
    if (argc - optind != 3 || o->timeout <= 0 || o->repeat < 1 || (!o->cert != !o->key)) {
        usage(stderr);
        return -1;
    }
    o->address = argv[optind];
    o->method = argv[optind + 1];
    o->file = argv[optind + 2];
    for (size_t i = 0; i < CT_ARRAY_LEN(methods); i++) {
        if (strcmp(o->method, methods[i].name) == 0)
            o->method = methods[i].path;
    }
    return 0;
}

static grpc_channel_credentials *client_credentials(const client_opts_t *o)
{
    grpc_channel_credentials *creds = NULL;
    grpc_ssl_pem_key_cert_pair pair;
    uint8_t *ca = NULL, *cert = NULL, *key = NULL;
    size_t n;

    if (o->ca == NULL)
        return grpc_insecure_credentials_create();
    if ((ca = read_all(o->ca, &n)) == NULL)
        goto out;
    if (o->cert != NULL) {
        if ((cert = read_all(o->cert, &n)) == NULL || (key = read_all(o->key, &n)) == NULL)
            goto out;
        pair.cert_chain = (const char *)cert;
        pair.private_key = (const char *)key;
    }
    creds = grpc_ssl_credentials_create((const char *)ca, cert ? &pair : NULL, NULL, NULL);
out:
    free(ca);
    free(cert);
    free(key);
    return creds;
}

/* Makes one call; prints its status. Returns 0 when a status came back. */
static int call_once(grpc_channel *ch, grpc_completion_queue *cq, const client_opts_t *o,
                     const uint8_t *data, size_t len)
{
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                     gpr_time_from_millis((int64_t)(o->timeout * 1000), GPR_TIMESPAN));
    grpc_slice method = grpc_slice_from_static_string(o->method);
    grpc_slice body = grpc_slice_from_copied_buffer((const char *)data, len);
    grpc_byte_buffer *request = grpc_raw_byte_buffer_create(&body, 1);
    grpc_byte_buffer *response = NULL;
    grpc_metadata_array initial_md, trailing_md;
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    grpc_call *call;
    grpc_op ops[6];
    grpc_event ev;
    int rc = -1;

    grpc_metadata_array_init(&initial_md);
    grpc_metadata_array_init(&trailing_md);
    call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method, NULL, deadline,
                                    NULL);
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = o->nheaders;
    ops[0].data.send_initial_metadata.metadata = (grpc_metadata *)o->headers;
    ops[0].flags = o->wait ? GRPC_INITIAL_METADATA_WAIT_FOR_READY : 0;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = request;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &response;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing_md;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &details;

    if (call == NULL || grpc_call_start_batch(call, ops, 6, call, NULL) != GRPC_CALL_OK) {
        fprintf(stderr, "otlp-raw-client: cannot start the call\n");
        goto out;
    }
    /* The deadline ends the call itself; the extra seconds only bound this wait. */
    ev = grpc_completion_queue_pluck(
        cq, call, gpr_time_add(deadline, gpr_time_from_seconds(5, GPR_TIMESPAN)), NULL);
    if (ev.type != GRPC_OP_COMPLETE) {
        fprintf(stderr, "otlp-raw-client: no answer\n");
        grpc_call_cancel(call, NULL);
        goto out;
    }
    printf("%s\n", ct_code_name((ct_code_t)status));
    fflush(stdout);
    if (GRPC_SLICE_LENGTH(details) > 0)
        fprintf(stderr, "%s: %.*s\n", ct_code_name((ct_code_t)status),
                (int)GRPC_SLICE_LENGTH(details), (const char *)GRPC_SLICE_START_PTR(details));
    if (o->out != NULL) {
        FILE *f = fopen(o->out, "wb");
        if (f != NULL && response != NULL) {
            grpc_byte_buffer_reader rd;
            grpc_slice s;
            if (grpc_byte_buffer_reader_init(&rd, response)) {
                while (grpc_byte_buffer_reader_next(&rd, &s)) {
                    fwrite(GRPC_SLICE_START_PTR(s), 1, GRPC_SLICE_LENGTH(s), f);
                    grpc_slice_unref(s);
                }
                grpc_byte_buffer_reader_destroy(&rd);
            }
        }
        if (f != NULL)
            fclose(f);
    }
    rc = 0;
out:
    if (call != NULL)
        grpc_call_unref(call);
    grpc_byte_buffer_destroy(request);
    if (response != NULL)
        grpc_byte_buffer_destroy(response);
    grpc_slice_unref(body);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&initial_md);
    grpc_metadata_array_destroy(&trailing_md);
    return rc;
}

int main(int argc, char **argv)
{
    client_opts_t o = {0};
    grpc_channel_credentials *creds = NULL;
    grpc_channel *ch = NULL;
    grpc_completion_queue *cq = NULL;
    grpc_arg args[3];
    grpc_channel_args chargs = {0, args};
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = 1;

    if (parse_args(argc, argv, &o) != 0)
        return 2;
    if ((data = read_all(o.file, &len)) == NULL)
        return 1;

    grpc_init();
    args[chargs.num_args].type = GRPC_ARG_INTEGER;
    args[chargs.num_args].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[chargs.num_args++].value.integer = -1;
    if (o.gzip) {
        args[chargs.num_args].type = GRPC_ARG_INTEGER;
        args[chargs.num_args].key = (char *)GRPC_COMPRESSION_CHANNEL_DEFAULT_ALGORITHM;
        args[chargs.num_args++].value.integer = GRPC_COMPRESS_GZIP;
    }
    if (o.server_name != NULL) {
        args[chargs.num_args].type = GRPC_ARG_STRING;
        args[chargs.num_args].key = (char *)GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
        args[chargs.num_args++].value.string = (char *)o.server_name;
    }
    creds = client_credentials(&o);
    if (creds == NULL) {
        fprintf(stderr, "otlp-raw-client: cannot set up TLS\n");
        goto out;
    }
    ch = grpc_channel_create(o.address, creds, &chargs);
    cq = grpc_completion_queue_create_for_pluck(NULL);

    rc = 0;
    for (long i = 0; i < o.repeat; i++) {
        if (call_once(ch, cq, &o, data, len) != 0)
            rc = 1;
    }
out:
    if (cq != NULL) {
        grpc_completion_queue_shutdown(cq);
        while (
            grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
            GRPC_QUEUE_SHUTDOWN)
            ;
        grpc_completion_queue_destroy(cq);
    }
    if (ch != NULL)
        grpc_channel_destroy(ch);
    if (creds != NULL)
        grpc_channel_credentials_release(creds);
    for (size_t i = 0; i < o.nheaders; i++) {
        grpc_slice_unref(o.headers[i].key);
        grpc_slice_unref(o.headers[i].value);
    }
    free(data);
    grpc_shutdown();
    return rc;
}
