/*
 * Parsing and resolving listen and dial addresses.
 */
#include "ct_net.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ct_net_split(const char *address, char *host, size_t hostlen, int *port)
{
    const char *colon = strrchr(address, ':');
    if (colon == NULL)
        return -EINVAL;
    const char *h = address;
    size_t hl = (size_t)(colon - address);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl >= hostlen)
        return -EINVAL;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || p < 0 || p > 65535)
        return -EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

int ct_net_resolve(const char *address, struct sockaddr_storage *out, ct_err_t *err)
{
    char host[256], port[16];
    int p;
    if (ct_net_split(address, host, sizeof host, &p) != 0)
        return ct_errf(err, NULL, "invalid address '%s' (write host:port)", address);
    snprintf(port, sizeof port, "%d", p);

    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (rc != 0 || res == NULL)
        return ct_errf(err, NULL, "cannot resolve '%s': %s", address, gai_strerror(rc));
    memset(out, 0, sizeof *out);
    memcpy(out, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}
