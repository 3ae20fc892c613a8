/*
 * The client-facing side of cotel-kafka-dev: one listener per mock broker, each client
 * connection relayed frame by frame to its mock broker. Frames are parsed only where the
 * mock falls short of a real broker: Produce requests (message.max.bytes) and the broker
 * addresses in Metadata and FindCoordinator responses (which must name the proxy's ports).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4, memrchr */
#endif

#include "kafka_dev.h"
#include "wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Each relayed connection holds three descriptors here (client, upstream, the mock's end);
 * this keeps well inside the usual limit of 1024. */
#define MAX_CONNS 256
/* Kafka's socket.request.max.bytes default: a broker closes a connection sending more. */
#define MAX_REQUEST_BYTES 104857600
/* Responses come from the in-process mock; this only guards against a parse slip. */
#define MAX_RESPONSE_BYTES (1 << 30)
/* Reading one side pauses while this much waits to be written to the other. */
#define HIGH_WATER (4 * 1024 * 1024)
#define READ_CHUNK (256 * 1024)
/* Rejection log lines per second; the rest are counted and reported. */
#define REJECT_LOGS_PER_SECOND 5

/* A request awaiting its response, in the order the client sent them. */
typedef struct pending {
    int32_t corr_id;
    int16_t api_key;
    int16_t api_version;
    /* Answered here: reply is sent when its turn comes. */
    int local;
    kafka_dev_buf_t reply;
    /* Refused partitions' entries to add to the broker's Produce response. */
    kafka_dev_buf_t extra;
    int32_t extra_topics;
} pending_t;

typedef struct broker {
    int mock_port;
    int port;
    int listen_fd; /* listening while up; bound but not listening while down; -1 if lost */
} broker_t;

typedef struct conn {
    struct conn *next;
    int client_fd; /* -1 once the client left; the rest of its requests still go upstream */
    int upstream_fd;
    int dead;
    kafka_dev_buf_t from_client;
    kafka_dev_buf_t to_upstream;
    kafka_dev_buf_t from_upstream;
    kafka_dev_buf_t to_client;
    pending_t *pending;
    size_t pending_head;
    size_t pending_len;
    size_t pending_cap;
} conn_t;

enum { SIDE_CLIENT, SIDE_UPSTREAM, SIDE_LISTENER, SIDE_EXTRA };

typedef struct poll_owner {
    int side;
    conn_t *conn;
    broker_t *broker;
} poll_owner_t;

struct kafka_dev_proxy {
    broker_t brokers[KAFKA_DEV_MAX_BROKERS];
    kafka_dev_port_map_t map[KAFKA_DEV_MAX_BROKERS];
    int broker_count;
    int64_t max_bytes;
    int up;
    conn_t *conns;
    int conn_count;
    char bootstraps[KAFKA_DEV_MAX_BROKERS * 24];
    struct pollfd *fds;
    poll_owner_t *owners;
    size_t fds_cap;
    time_t reject_second;
    int reject_logged;
    uint64_t reject_suppressed;
};

/*
 * A TCP socket bound to 127.0.0.1:port (0: any free port), listening when do_listen is set.
 * A bound socket that does not listen keeps the port while every connection attempt to it
 * is refused, which is how a stopped broker looks. Returns the fd or -1.
 */
static int open_port(int port, int do_listen, int *bound_port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    socklen_t sin_len = sizeof(sin);
    int one = 1;

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || (do_listen && listen(fd, 128) < 0) ||
        getsockname(fd, (struct sockaddr *)&sin, &sin_len) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    if (bound_port)
        *bound_port = ntohs(sin.sin_port);
    return fd;
}

/* A connection to the in-process mock broker; connect completes at once on loopback. */
static int connect_mock(int port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int one = 1;

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int flags;
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || (flags = fcntl(fd, F_GETFL)) < 0 ||
        fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void pending_clear(pending_t *e)
{
    kafka_dev_buf_free(&e->reply);
    kafka_dev_buf_free(&e->extra);
}

/* Closes both ends at once, as a broker that drops a connection does. */
static void conn_kill(kafka_dev_proxy_t *p, conn_t *c)
{
    if (c->dead)
        return;
    close_fd(&c->client_fd);
    close_fd(&c->upstream_fd);
    kafka_dev_buf_free(&c->from_client);
    kafka_dev_buf_free(&c->to_upstream);
    kafka_dev_buf_free(&c->from_upstream);
    kafka_dev_buf_free(&c->to_client);
    for (size_t i = c->pending_head; i < c->pending_len; i++)
        pending_clear(&c->pending[i]);
    free(c->pending);
    c->pending = NULL;
    c->pending_head = c->pending_len = c->pending_cap = 0;
    c->dead = 1;
    p->conn_count--;
}

/* Frees the connections killed during the last round. */
static void sweep_conns(kafka_dev_proxy_t *p)
{
    conn_t **link = &p->conns;

    while (*link) {
        conn_t *c = *link;
        if (c->dead) {
            *link = c->next;
            free(c);
        } else {
            link = &c->next;
        }
    }
}

/*
 * The client left. Requests it already sent still reach the broker, as they would have
 * reached a real one; the connection ends once they are written.
 */
static void client_gone(kafka_dev_proxy_t *p, conn_t *c)
{
    close_fd(&c->client_fd);
    kafka_dev_buf_free(&c->to_client);
    if (kafka_dev_buf_pending(&c->to_upstream) == 0)
        conn_kill(p, c);
}

/* Returns 1 after reading some bytes or on nothing to read, 0 at end of stream, -1 on error. */
static int read_some(int fd, kafka_dev_buf_t *b)
{
    if (kafka_dev_buf_reserve(b, READ_CHUNK) < 0)
        return -1;
    for (;;) {
        ssize_t n = recv(fd, b->data + b->len, b->cap - b->len, 0);
        if (n > 0) {
            b->len += (size_t)n;
            return 1;
        }
        if (n == 0)
            return 0;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : -1;
    }
}

/* Writes what the socket takes now. Returns 0, or -1 when the peer is gone. */
static int flush(int fd, kafka_dev_buf_t *b)
{
    while (fd >= 0 && kafka_dev_buf_pending(b) > 0) {
        ssize_t n = send(fd, b->data + b->off, kafka_dev_buf_pending(b), MSG_NOSIGNAL);
        if (n > 0) {
            kafka_dev_buf_consume(b, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
    }
    return 0;
}

static pending_t *pending_push(conn_t *c)
{
    if (c->pending_head == c->pending_len)
        c->pending_head = c->pending_len = 0;
    if (c->pending_len == c->pending_cap) {
        size_t cap = c->pending_cap ? c->pending_cap * 2 : 16;
        pending_t *grown = realloc(c->pending, cap * sizeof(*grown));
        if (!grown)
            return NULL;
        c->pending = grown;
        c->pending_cap = cap;
    }
    pending_t *e = &c->pending[c->pending_len++];
    memset(e, 0, sizeof(*e));
    return e;
}

static pending_t *pending_first(conn_t *c)
{
    return c->pending_head < c->pending_len ? &c->pending[c->pending_head] : NULL;
}

static void pending_pop(conn_t *c)
{
    pending_clear(&c->pending[c->pending_head++]);
}

/* Sends the replies made here whose turn has come: responses keep the request order. */
static int send_local_replies(conn_t *c)
{
    pending_t *e;

    while ((e = pending_first(c)) && e->local) {
        if (c->client_fd >= 0 &&
            kafka_dev_buf_append(&c->to_client, e->reply.data, e->reply.len) < 0)
            return -1;
        pending_pop(c);
    }
    return 0;
}

static void log_rejection(kafka_dev_proxy_t *p, const kafka_dev_produce_check_t *chk)
{
    time_t now = time(NULL);

    if (now != p->reject_second) {
        if (p->reject_suppressed > 0)
            kafka_dev_log("%llu more Produce rejections not shown",
                          (unsigned long long)p->reject_suppressed);
        p->reject_second = now;
        p->reject_logged = 0;
        p->reject_suppressed = 0;
    }
    if (p->reject_logged++ >= REJECT_LOGS_PER_SECOND) {
        p->reject_suppressed++;
        return;
    }
    kafka_dev_log("Produce to %s [%d]: batch of %lld bytes exceeds message.max.bytes %lld: "
                  "MESSAGE_TOO_LARGE (%d of %d partitions in the request refused)",
                  chk->first.topic, (int)chk->first.partition, (long long)chk->first.batch_bytes,
                  (long long)p->max_bytes, chk->rejected, chk->rejected + chk->accepted);
}

/*
 * A Produce request with refused partitions: the rest goes to the broker and the refused
 * ones are answered with MESSAGE_TOO_LARGE. With acks=0 there is no response to carry the
 * error, so, like a broker, the proxy closes the connection instead. Returns 1 when the
 * client connection must close, 0 when handled, -1 on failure.
 */
static int take_rejection(conn_t *c, const uint8_t *frame, int16_t version,
                          kafka_dev_produce_check_t *chk)
{
    if (chk->accepted > 0 &&
        kafka_dev_buf_append(&c->to_upstream, chk->forward.data, chk->forward.len) < 0)
        return -1;
    if (chk->acks == 0)
        return 1;

    pending_t *e = pending_push(c);
    if (!e)
        return -1;
    e->corr_id = kafka_dev_be32(frame + 8);
    e->api_key = KAFKA_API_PRODUCE;
    e->api_version = version;
    if (chk->accepted > 0) {
        e->extra = chk->extra;
        e->extra_topics = chk->extra_topics;
        memset(&chk->extra, 0, sizeof(chk->extra));
        return 0;
    }
    e->local = 1;
    if (kafka_dev_produce_local_response(e->corr_id, version, &chk->extra, chk->extra_topics,
                                         &e->reply) < 0)
        return -1;
    return send_local_replies(c);
}

/* One complete request frame from the client. Returns as take_rejection does. */
static int handle_request(kafka_dev_proxy_t *p, conn_t *c, const uint8_t *frame, size_t len)
{
    int16_t api_key = kafka_dev_be16(frame + 4);
    int16_t version = kafka_dev_be16(frame + 6);
    int expect_response = 1;
    int rc = 0;

    if (api_key == KAFKA_API_PRODUCE) {
        kafka_dev_produce_check_t chk = {0};
        if (kafka_dev_produce_check(frame, len, p->max_bytes, &chk) == 0) {
            if (chk.rejected > 0) {
                log_rejection(p, &chk);
                rc = take_rejection(c, frame, version, &chk);
                kafka_dev_produce_check_free(&chk);
                return rc;
            }
            expect_response = chk.acks != 0;
        }
        kafka_dev_produce_check_free(&chk);
    }

    if (kafka_dev_buf_append(&c->to_upstream, frame, len) < 0)
        return -1;
    if (expect_response) {
        pending_t *e = pending_push(c);
        if (!e)
            return -1;
        e->corr_id = kafka_dev_be32(frame + 8);
        e->api_key = api_key;
        e->api_version = version;
    }
    return 0;
}

/*
 * Handles the complete frames buffered from the client. Returns 0, 1 when the client
 * connection must close after them, -1 on a protocol error or failure.
 */
static int client_frames(kafka_dev_proxy_t *p, conn_t *c)
{
    kafka_dev_buf_t *in = &c->from_client;

    while (kafka_dev_buf_pending(in) >= 4) {
        const uint8_t *frame = in->data + in->off;
        int32_t size = kafka_dev_be32(frame);
        /* api key, version and correlation id at least */
        if (size < 8 || size > MAX_REQUEST_BYTES)
            return -1;
        if (kafka_dev_buf_pending(in) < 4 + (size_t)size)
            break;
        int rc = handle_request(p, c, frame, 4 + (size_t)size);
        kafka_dev_buf_consume(in, 4 + (size_t)size);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* One complete response frame from the mock broker, passed on in the client's terms. */
static int handle_response(kafka_dev_proxy_t *p, conn_t *c, const uint8_t *frame, size_t len)
{
    pending_t *e = pending_first(c);
    int32_t corr_id = kafka_dev_be32(frame + 4);
    int rc = 0;

    if (!e || e->corr_id != corr_id) {
        kafka_dev_log("response %d matches no request: closing the connection", (int)corr_id);
        return -1;
    }
    if (c->client_fd < 0) {
        pending_pop(c);
        return 0;
    }

    if (e->api_key == KAFKA_API_PRODUCE && e->extra_topics > 0) {
        rc = kafka_dev_produce_merge_response(frame, len, e->api_version, &e->extra,
                                              e->extra_topics, &c->to_client);
    } else {
        rc = kafka_dev_rewrite_addresses(frame, len, e->api_key, e->api_version, p->map,
                                         (size_t)p->broker_count, &c->to_client);
        if (rc == 0)
            rc = kafka_dev_buf_append(&c->to_client, frame, len);
        else if (rc > 0)
            rc = 0;
    }
    if (rc < 0) {
        kafka_dev_log("cannot pass on a response (api key %d v%d): closing the connection",
                      (int)e->api_key, (int)e->api_version);
        return -1;
    }
    pending_pop(c);
    return send_local_replies(c);
}

static int upstream_frames(kafka_dev_proxy_t *p, conn_t *c)
{
    kafka_dev_buf_t *in = &c->from_upstream;

    while (kafka_dev_buf_pending(in) >= 4) {
        const uint8_t *frame = in->data + in->off;
        int32_t size = kafka_dev_be32(frame);
        if (size < 4 || size > MAX_RESPONSE_BYTES)
            return -1;
        if (kafka_dev_buf_pending(in) < 4 + (size_t)size)
            break;
        int rc = handle_response(p, c, frame, 4 + (size_t)size);
        kafka_dev_buf_consume(in, 4 + (size_t)size);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static void client_event(kafka_dev_proxy_t *p, conn_t *c, short revents)
{
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
        int r = read_some(c->client_fd, &c->from_client);
        int rc = r < 0 ? -1 : client_frames(p, c);
        if (rc < 0 || flush(c->upstream_fd, &c->to_upstream) < 0) {
            conn_kill(p, c);
            return;
        }
        if (r == 0 || rc == 1) {
            client_gone(p, c);
            return;
        }
    }
    /* Also sends the replies made here while handling the requests just read. */
    if (flush(c->client_fd, &c->to_client) < 0)
        conn_kill(p, c);
}

static void upstream_event(kafka_dev_proxy_t *p, conn_t *c, short revents)
{
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
        int r = read_some(c->upstream_fd, &c->from_upstream);
        /* At end of stream the mock has closed the connection, as it does on a request it
         * cannot parse; the responses before that still reach the client. */
        if (r < 0 || upstream_frames(p, c) < 0 || flush(c->client_fd, &c->to_client) < 0 ||
            r == 0) {
            conn_kill(p, c);
            return;
        }
    }
    if ((revents & POLLOUT) && flush(c->upstream_fd, &c->to_upstream) < 0) {
        conn_kill(p, c);
        return;
    }
    if (c->client_fd < 0 && kafka_dev_buf_pending(&c->to_upstream) == 0)
        conn_kill(p, c);
}

static void accept_clients(kafka_dev_proxy_t *p, broker_t *b)
{
    int one = 1;

    for (;;) {
        int fd = accept4(b->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                kafka_dev_log("accept on port %d failed: %s", b->port, strerror(errno));
            return;
        }
        if (p->conn_count >= MAX_CONNS) {
            kafka_dev_log("port %d: %d connections already open, refusing one more", b->port,
                          p->conn_count);
            close(fd);
            continue;
        }
        int up = connect_mock(b->mock_port);
        conn_t *c = up >= 0 ? calloc(1, sizeof(*c)) : NULL;
        if (!c) {
            kafka_dev_log("port %d: cannot relay a new connection to the mock broker: %s", b->port,
                          up < 0 ? strerror(errno) : "out of memory");
            if (up >= 0)
                close(up);
            close(fd);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->client_fd = fd;
        c->upstream_fd = up;
        c->next = p->conns;
        p->conns = c;
        p->conn_count++;
    }
}

/* Makes room for n poll entries. */
static int reserve_fds(kafka_dev_proxy_t *p, size_t n)
{
    if (p->fds_cap >= n)
        return 0;
    size_t cap = n + 64;
    struct pollfd *fds = realloc(p->fds, cap * sizeof(*fds));
    if (!fds)
        return -1;
    p->fds = fds;
    poll_owner_t *owners = realloc(p->owners, cap * sizeof(*owners));
    if (!owners)
        return -1;
    p->owners = owners;
    p->fds_cap = cap;
    return 0;
}

static size_t add_fd(kafka_dev_proxy_t *p, size_t n, int fd, short events, int side, conn_t *c,
                     broker_t *b)
{
    p->fds[n] = (struct pollfd){.fd = fd, .events = events};
    p->owners[n] = (poll_owner_t){.side = side, .conn = c, .broker = b};
    return n + 1;
}

int kafka_dev_proxy_poll(kafka_dev_proxy_t *p, int extra_fd, int *extra_ready)
{
    size_t n = 0;

    *extra_ready = 0;
    if (reserve_fds(p, 1 + (size_t)p->broker_count + 2 * (size_t)p->conn_count) < 0)
        return -1;
    n = add_fd(p, n, extra_fd, POLLIN, SIDE_EXTRA, NULL, NULL);
    for (int i = 0; i < p->broker_count && p->up; i++)
        n = add_fd(p, n, p->brokers[i].listen_fd, POLLIN, SIDE_LISTENER, NULL, &p->brokers[i]);
    for (conn_t *c = p->conns; c; c = c->next) {
        short client = 0, upstream = 0;
        if (c->client_fd >= 0) {
            if (kafka_dev_buf_pending(&c->to_upstream) < HIGH_WATER)
                client |= POLLIN;
            if (kafka_dev_buf_pending(&c->to_client) > 0)
                client |= POLLOUT;
            if (kafka_dev_buf_pending(&c->to_client) < HIGH_WATER)
                upstream |= POLLIN;
        }
        if (kafka_dev_buf_pending(&c->to_upstream) > 0)
            upstream |= POLLOUT;
        n = add_fd(p, n, c->client_fd, client, SIDE_CLIENT, c, NULL);
        n = add_fd(p, n, c->upstream_fd, upstream, SIDE_UPSTREAM, c, NULL);
    }

    if (poll(p->fds, (nfds_t)n, -1) < 0)
        return errno == EINTR ? 0 : -1;

    for (size_t i = 0; i < n; i++) {
        short revents = p->fds[i].revents;
        poll_owner_t *o = &p->owners[i];
        if (!revents || (o->conn && o->conn->dead))
            continue;
        if (o->side == SIDE_EXTRA)
            *extra_ready = 1;
        else if (o->side == SIDE_LISTENER)
            accept_clients(p, o->broker);
        else if (o->side == SIDE_CLIENT && o->conn->client_fd >= 0)
            client_event(p, o->conn, revents);
        else if (o->side == SIDE_UPSTREAM)
            upstream_event(p, o->conn, revents);
    }
    sweep_conns(p);
    return 0;
}

int kafka_dev_proxy_set_up(kafka_dev_proxy_t *p, int up)
{
    int rc = 0;

    if (up == p->up)
        return 0;
    if (!up) {
        for (conn_t *c = p->conns; c; c = c->next)
            conn_kill(p, c);
        sweep_conns(p);
    }
    for (int i = 0; i < p->broker_count; i++) {
        broker_t *b = &p->brokers[i];
        if (!up) {
            close_fd(&b->listen_fd);
            b->listen_fd = open_port(b->port, 0, NULL);
        } else if (b->listen_fd >= 0 && listen(b->listen_fd, 128) == 0) {
            continue;
        } else {
            close_fd(&b->listen_fd);
            b->listen_fd = open_port(b->port, 1, NULL);
        }
        if (b->listen_fd < 0) {
            kafka_dev_log("cannot hold port %d while %s: %s", b->port, up ? "up" : "down",
                          strerror(errno));
            rc = -1;
        }
    }
    p->up = up;
    return rc;
}

int kafka_dev_proxy_is_up(const kafka_dev_proxy_t *p)
{
    return p->up;
}

const char *kafka_dev_proxy_bootstraps(const kafka_dev_proxy_t *p)
{
    return p->bootstraps;
}

/* Reads the ports out of the mock's "host:port,host:port" list. */
static int parse_mock_ports(kafka_dev_proxy_t *p, const char *list)
{
    const char *s = list;

    while (*s) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        const char *colon = memrchr(s, ':', len);
        if (!colon || p->broker_count >= KAFKA_DEV_MAX_BROKERS)
            return -1;
        int port = atoi(colon + 1);
        if (port <= 0 || port > 65535)
            return -1;
        p->brokers[p->broker_count].mock_port = port;
        p->brokers[p->broker_count].listen_fd = -1;
        p->broker_count++;
        s += len + (end ? 1 : 0);
    }
    return p->broker_count > 0 ? 0 : -1;
}

int kafka_dev_proxy_new(const char *mock_bootstraps, int first_port, int64_t max_bytes,
                        kafka_dev_proxy_t **out, char *err, size_t errlen)
{
    kafka_dev_proxy_t *p = calloc(1, sizeof(*p));
    size_t used = 0;

    *out = NULL;
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    p->max_bytes = max_bytes;
    p->up = 1;
    if (parse_mock_ports(p, mock_bootstraps) < 0) {
        snprintf(err, errlen, "unexpected mock bootstrap list \"%s\"", mock_bootstraps);
        goto fail;
    }
    if (first_port > 0 && first_port + p->broker_count - 1 > 65535) {
        snprintf(err, errlen, "ports %d..%d do not all exist", first_port,
                 first_port + p->broker_count - 1);
        goto fail;
    }

    for (int i = 0; i < p->broker_count; i++) {
        broker_t *b = &p->brokers[i];
        int want = first_port > 0 ? first_port + i : 0;
        b->listen_fd = open_port(want, 1, &b->port);
        if (b->listen_fd < 0) {
            snprintf(err, errlen, "cannot listen on 127.0.0.1:%d: %s", want, strerror(errno));
            goto fail;
        }
        p->map[i] = (kafka_dev_port_map_t){.mock_port = b->mock_port, .proxy_port = b->port};
        used += (size_t)snprintf(p->bootstraps + used, sizeof(p->bootstraps) - used,
                                 "%s127.0.0.1:%d", i ? "," : "", b->port);
    }
    *out = p;
    return 0;

fail:
    kafka_dev_proxy_free(p);
    return -1;
}

void kafka_dev_proxy_free(kafka_dev_proxy_t *p)
{
    if (!p)
        return;
    for (conn_t *c = p->conns; c; c = c->next)
        conn_kill(p, c);
    sweep_conns(p);
    for (int i = 0; i < p->broker_count; i++)
        close_fd(&p->brokers[i].listen_fd);
    free(p->fds);
    free(p->owners);
    free(p);
}
