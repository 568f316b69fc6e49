#include "transport/host.h"

#include <stdio.h>
#include <string.h>

int fc_host_resolve(const char *host, struct addrinfo **res)
{
    char name[256];
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']')
        snprintf(name, sizeof name, "%.*s", (int)(hl - 2), host + 1);
    else
        snprintf(name, sizeof name, "%s", host);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    *res = NULL;
    return getaddrinfo(name[0] ? name : NULL, NULL, &hints, res);
}
