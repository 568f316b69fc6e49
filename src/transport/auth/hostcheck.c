#include "transport/auth/hostcheck.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "transport/host.h"

static bool loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family != AF_INET6) return false;
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

int fc_host_loopback_only(const char *host, char *err, size_t errlen)
{
    struct addrinfo *res;
    if (fc_host_resolve(host, &res) != 0) return -EINVAL;
    int rc = 1;
    for (const struct addrinfo *ai = res; ai && rc == 1; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
        if (loopback(ai->ai_addr)) continue;
        char ip[INET6_ADDRSTRLEN] = "?";
        const void *addr =
            ai->ai_family == AF_INET
                ? (const void *)&((const struct sockaddr_in *)ai->ai_addr)->sin_addr
                : (const void *)&((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
        inet_ntop(ai->ai_family, addr, ip, sizeof ip);
        char bracketed[INET6_ADDRSTRLEN + 2];
        snprintf(bracketed, sizeof bracketed, "[%s]", ip);
        if (strcmp(ip, host) == 0 || strcmp(bracketed, host) == 0) /* it is an address */
            snprintf(err, errlen, "--host %s is not a loopback address", host);
        else
            snprintf(err, errlen, "--host %s is not a loopback address (it is %s)", host, ip);
        rc = 0;
    }
    freeaddrinfo(res);
    return rc;
}
