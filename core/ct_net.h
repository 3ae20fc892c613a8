/*
 * Addresses as the collector's configs write them: "host:port", "[::1]:port",
 * ":port" (all interfaces).
 */
#ifndef CT_NET_H
#define CT_NET_H

#include "ct_config.h"

#include <netinet/in.h>
#include <sys/socket.h>

/* Resolves host:port to a socket address (the first result). */
int ct_net_resolve(const char *address, struct sockaddr_storage *out, ct_err_t *err);
/* Splits host:port; host may be empty. Returns 0 or -EINVAL. */
int ct_net_split(const char *address, char *host, size_t hostlen, int *port);

#endif
