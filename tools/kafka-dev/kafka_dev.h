/*
 * cotel-kafka-dev: a development Kafka broker made of librdkafka's mock cluster behind a small
 * proxy. The proxy owns the client-facing ports, so it can stop and restart them on command
 * and apply message.max.bytes to Produce requests, which the mock alone cannot do.
 */
#ifndef KAFKA_DEV_H
#define KAFKA_DEV_H

#include <stddef.h>
#include <stdint.h>

/* The most brokers one instance runs; each costs a mock broker and a listener. */
#define KAFKA_DEV_MAX_BROKERS 32

/* One line on stderr, prefixed with the program's name. */
void kafka_dev_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

typedef struct kafka_dev_proxy kafka_dev_proxy_t;

/*
 * Opens one listener on 127.0.0.1 for each mock broker in mock_bootstraps
 * ("127.0.0.1:port,..."): the i-th on first_port + i, or on free ports when first_port is 0.
 * Produce batches larger than max_bytes are refused (0: no limit). Returns 0, or -1 with a
 * reason in err.
 */
int kafka_dev_proxy_new(const char *mock_bootstraps, int first_port, int64_t max_bytes,
                        kafka_dev_proxy_t **out, char *err, size_t errlen);
void kafka_dev_proxy_free(kafka_dev_proxy_t *p);

/* The client-facing "127.0.0.1:port,..." list. */
const char *kafka_dev_proxy_bootstraps(const kafka_dev_proxy_t *p);

/*
 * Takes every broker down (closes all connections; new ones are refused) or brings them
 * back on the same ports. Returns 0, or -1 when a port could not be listened on again.
 */
int kafka_dev_proxy_set_up(kafka_dev_proxy_t *p, int up);
int kafka_dev_proxy_is_up(const kafka_dev_proxy_t *p);

/*
 * Waits for and handles one round of socket events; also waits on extra_fd and sets
 * *extra_ready when it is readable. Returns 0, or -1 when poll itself failed.
 */
int kafka_dev_proxy_poll(kafka_dev_proxy_t *p, int extra_fd, int *extra_ready);

#endif
