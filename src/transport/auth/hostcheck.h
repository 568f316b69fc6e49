/* Whether --host keeps the server on this machine: the rule that a server
 * others can reach must have a key (DESIGN.md rule 11) is checked before
 * anything listens. Any thread (it resolves names). */
#ifndef FC_TRANSPORT_AUTH_HOSTCHECK_H
#define FC_TRANSPORT_AUTH_HOSTCHECK_H

#include <stddef.h>

/* 1 when every address `host` resolves to, as the listener binds it
 * (listener.h: an IP literal, [v6], or a name), is a loopback address
 * (127.0.0.0/8, ::1, IPv4-mapped 127.x); 0 when one is not (the wildcard
 * 0.0.0.0 and :: are not) with err naming it; -EINVAL when the host does
 * not resolve (the listener will say why when it tries). */
int fc_host_loopback_only(const char *host, char *err, size_t errlen);

#endif
