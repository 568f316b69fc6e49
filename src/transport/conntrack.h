/* fc_conntrack: every connection the listener accepted, until it closes, and
 * who may have one.
 *
 * A connection waiting for a request's headers (just accepted, or idle
 * between keep-alive requests) is *pending*; one whose headers are in (a
 * request being answered, a WebSocket, an upload's body) is *active*. The
 * bounds, checked at accept (the listener owns accept), before lws sees the
 * connection:
 *
 *   max_per_peer  connections at once from one peer (an IPv4 address or an
 *                 IPv6 /64: one host usually has a whole /64); past it the
 *                 connection is refused at once.
 *   max_pending   pending connections at once; past it one is closed to make
 *                 room: the oldest of the peer that has the most pending.
 *                 Connections that trickle their headers (slowloris), from
 *                 one address or hundreds, can only push out each other; a
 *                 client that sends its request at once has one pending
 *                 connection for a moment, is never the one taken, and is
 *                 active within a round trip. This is what keeps /healthz
 *                 and new viewers answered under such an attack.
 *   max_total     connections at once; past it room is made the same way,
 *                 and with none pending the new one is refused (as it is
 *                 while more than FC_CONNTRACK_CLOSING_MAX given up on are
 *                 still closing).
 *   header_ms     how long a connection may stay pending; then it is closed.
 *                 One timer is armed for the oldest pending connection (they
 *                 are kept in the order they became pending): never a scan.
 *
 * Memory: one small record per connection and one per peer that has one,
 * so it is bounded by max_total. The tracker never closes a connection
 * itself: it asks its owner (the close callback), who closes it and calls
 * fc_tracked_gone once it is gone.
 *
 * Loop thread only. */
#ifndef FC_TRANSPORT_CONNTRACK_H
#define FC_TRANSPORT_CONNTRACK_H

#include <stdint.h>
#include <sys/socket.h>

#include "core/loop.h"

/* Connections given up on that may still be closing when a new one comes:
 * lws closes them within a loop turn; past this many, new ones wait. */
#define FC_CONNTRACK_CLOSING_MAX 128

typedef struct fc_conntrack_limits {
    unsigned max_total, max_pending, max_per_peer;
    unsigned header_ms;
} fc_conntrack_limits;

typedef enum {
    FC_CONN_REFUSED_PEER, /* max_per_peer */
    FC_CONN_REFUSED_FULL, /* max_total, and nothing pending to make room */
    FC_CONN_REFUSED_COUNT
} fc_conn_refused;

typedef enum {
    FC_CONN_CLOSED_HEADER_TIMEOUT, /* pending for header_ms */
    FC_CONN_CLOSED_EVICTED,        /* the oldest pending, to make room */
    FC_CONN_CLOSED_COUNT
} fc_conn_closed;

typedef struct fc_conntrack_stats {
    uint64_t open, pending; /* now */
    uint64_t refused[FC_CONN_REFUSED_COUNT];
    uint64_t closed[FC_CONN_CLOSED_COUNT];
} fc_conntrack_stats;

typedef struct fc_conntrack fc_conntrack;
typedef struct fc_tracked fc_tracked;

/* Asks the owner to close `conn` (what it gave fc_tracked_bind). */
typedef void (*fc_conntrack_close_fn)(void *conn, void *ctx);

/* 0, -EINVAL for a limit of 0, or -ENOMEM. */
int fc_conntrack_new(fc_loop *loop, const fc_conntrack_limits *limits, fc_conntrack_close_fn close,
                     void *ctx, fc_conntrack **out);
/* A connection from `peer` was accepted: 0 with *out, a pending record, or
 * -ENOSPC with *why (the caller closes the socket). May ask to close the
 * oldest pending connection first. */
int fc_conntrack_admit(fc_conntrack *t, const struct sockaddr_storage *peer, fc_tracked **out,
                       fc_conn_refused *why);
/* The owner has taken the connection (`conn` is what the close callback
 * gets), or could not (`conn` NULL: the record goes). Once per record. */
void fc_tracked_bind(fc_tracked *c, void *conn);
/* `fn(arg)` is called when the record goes (the connection closed, or
 * could not be bound): who routes connections between loops counts them
 * so (transport/router.h). */
void fc_tracked_on_gone(fc_tracked *c, void (*fn)(void *arg), void *arg);
/* Its request's headers are in. */
void fc_tracked_active(fc_tracked *c);
/* It waits for another request's headers (keep-alive). */
void fc_tracked_pending(fc_tracked *c);
/* The connection is closed: the record goes (at bind, if that has not come
 * yet). */
void fc_tracked_gone(fc_tracked *c);
void fc_conntrack_get_stats(const fc_conntrack *t, fc_conntrack_stats *out);
/* Stops the timer; the memory goes once the loop has closed it and every
 * record is gone. NULL is fine. */
void fc_conntrack_close(fc_conntrack *t);

#endif
