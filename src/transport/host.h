/* How --host is read: the one reading both the listener (listener.c) and
 * the loopback check (auth/hostcheck.c) use, so both judge the same
 * addresses. Any thread. */
#ifndef FC_TRANSPORT_HOST_H
#define FC_TRANSPORT_HOST_H

#include <netdb.h>

/* The addresses `host` names for a listening TCP socket: "[::1]" is an IPv6
 * host written as it is next to a port, "" every address. getaddrinfo's
 * code (0, or EAI_*: gai_strerror says why); on 0 the caller frees *res
 * with freeaddrinfo. */
int fc_host_resolve(const char *host, struct addrinfo **res);

#endif
