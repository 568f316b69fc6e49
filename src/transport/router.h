/* fc_router: which loop serves a new connection (`serve --loops N`).
 *
 * One acceptor: the first loop's listener accepts every connection and
 * keeps every limit of conntrack.h global (per peer, pending, total), as
 * with one loop. Before lws sees a connection, the router reads its first
 * bytes without taking them (MSG_PEEK; the listener defers accept until
 * bytes are in, listener.h): a stream WebSocket request (GET /ws/streams/…
 * with its headers whole and an Upgrade) goes to the loop with the fewest
 * viewers, counting the first; anything else (the API, avatar sessions,
 * uploads, files, a request that came in pieces) stays on the first loop,
 * which owns the streams, the store and the avatar sessions.
 *
 * A viewer sent to another loop is admitted here (fc_capacity, which the
 * first loop owns: a refusal leaves it on the first loop, whose server
 * answers the 503), counted in the capacity until it closes, marked active
 * in conntrack (its headers are in), and handed over through
 * loop_servers.h. Its close comes back as a job (fc_router_gone), once per
 * connection, which lets its conntrack record go: bounded by the
 * connections conntrack admits.
 *
 * fc_router_offer, fc_router_viewers_here and fc_router_gone's job: the
 * first loop. fc_router_gone, fc_router_viewers: any thread. */
#ifndef FC_TRANSPORT_ROUTER_H
#define FC_TRANSPORT_ROUTER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "core/capacity.h"
#include "core/loops.h"
#include "transport/conntrack.h"

struct fc_loop_server;

typedef struct fc_router fc_router;

/* One connection handed to another loop. */
typedef struct fc_handoff {
    int fd;
    int loop;
    bool counted_in; /* in the capacity, until it goes */
    fc_tracked *tracked;
    fc_router *router;
    fc_job job;              /* its close, back to the first loop */
    struct fc_handoff *next; /* in a loop server's inbox */
} fc_handoff;

/* `servers[i]` serves loop i of `loops` (servers[0] unused). 0 or -ENOMEM. */
int fc_router_new(const fc_loops *loops, struct fc_loop_server *const *servers,
                  fc_capacity *capacity, fc_router **out);
void fc_router_free(fc_router *r);
/* The listener accepted `fd`: true when another loop takes it. */
bool fc_router_offer(fc_router *r, int fd, const struct sockaddr_storage *peer, fc_tracked *t);
/* From now on every connection stays on the first loop (shutting down). */
void fc_router_stop(fc_router *r);
/* A handed-over connection is gone (its loop's thread, or any). */
void fc_router_gone(fc_handoff *h);
/* Stream viewers handed to loop `i` (i > 0) and not gone. */
unsigned fc_router_viewers(const fc_router *r, int i);
/* Stream viewers the first loop serves now (upgraded). First loop. */
unsigned fc_router_viewers_here(const fc_router *r);

#endif
