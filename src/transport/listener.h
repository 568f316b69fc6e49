/* fc_listener: the server's listening sockets, bound exactly where --host
 * says, and the accept loop that hands each new connection to its owner.
 *
 * framecast accepts connections itself instead of letting libwebsockets
 * listen: lws 4.1 given an IP literal as its vhost `iface` still listened on
 * every interface (`*:8080` for --host 127.0.0.1), and a listener of our own is
 * where per-peer limits and handing sockets to other loops belong.
 *
 * `host` is an IPv4 literal, an IPv6 literal (with or without brackets) or a
 * name; a name is bound on every address it resolves to (localhost: 127.0.0.1
 * and ::1), all on one port. IPv6 sockets are IPV6_V6ONLY, so "::1" never
 * also takes IPv4 traffic. Accepting is driven by readiness on the listening
 * sockets (epoll through libuv), never polled; when the process is out of file
 * descriptors accepting pauses for a moment instead of spinning on a socket
 * that stays readable.
 *
 * Every accepted connection is admitted or refused first (conntrack.h: per
 * peer, pending and total bounds, the header deadline); a refused one gets a
 * one-line 503 and is closed before anybody else sees it.
 *
 * Loop thread only. The accepted fd (non-blocking, close-on-exec) belongs to
 * the callback, which must close it if it does not keep it, and must give
 * the record to fc_tracked_bind. */
#ifndef FC_TRANSPORT_LISTENER_H
#define FC_TRANSPORT_LISTENER_H

#include <stddef.h>
#include <sys/socket.h>

#include "core/loop.h"
#include "transport/conntrack.h"

#define FC_LISTEN_MAX 8 /* addresses one host name may bind */

typedef void (*fc_listener_accept_fn)(int fd, const struct sockaddr_storage *peer, fc_tracked *t,
                                      void *ctx);

typedef struct fc_listener fc_listener;

/* Binds and listens; port 0 lets the kernel pick one free port (shared by
 * every address of the name). `close` is how the tracker asks the owner to
 * close a connection it gave up on. Returns 0, or a negative errno-style
 * code with err naming the address that failed. */
int fc_listener_open(fc_loop *loop, const char *host, int port, const fc_conntrack_limits *limits,
                     fc_listener_accept_fn cb, fc_conntrack_close_fn close, void *ctx,
                     fc_listener **out, char *err, size_t errlen);
/* The connections it admitted, refused and gave up on. */
/* With --loops N: accept() returns a connection once its first bytes are
 * in (TCP_DEFER_ACCEPT, up to `secs`), so that the router can read where
 * it goes (router.h) without waiting on the loop. */
void fc_listener_defer_accept(fc_listener *l, int secs);
void fc_listener_get_stats(const fc_listener *l, fc_conntrack_stats *out);
/* The port bound (the kernel's choice when 0 was asked). */
int fc_listener_port(const fc_listener *l);
/* How many sockets are listening and the i-th one's address, formatted as
 * "127.0.0.1:8080" or "[::1]:8080". */
size_t fc_listener_count(const fc_listener *l);
const char *fc_listener_address(const fc_listener *l, size_t i);
/* Stops accepting and closes the sockets; the memory goes once the loop has
 * closed the handles. NULL is fine. */
void fc_listener_close(fc_listener *l);

/* "a.b.c.d:port" or "[v6]:port" for any socket address. */
void fc_sockaddr_format(const struct sockaddr_storage *ss, char *out, size_t outlen);

#endif
