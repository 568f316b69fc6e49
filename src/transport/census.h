/* fc_census: what /metrics says of the loops other than the first
 * (`serve --loops N`): their viewers (the fc_subscriber_* rows) and their
 * WebSockets (fc_websocket_*: counts and the fan-out's writes;
 * fc_http_refused_total), each sample labelled
 * loop="k". Samples without a loop label are the first loop's.
 *
 * A loop's viewers and counters are its own (its thread only), so the first
 * loop does not read them: a scrape asks every other loop for a copy (one
 * job there and back per loop) and is answered once all are back. One
 * gather runs at a time, and scrapes that come meanwhile wait for the same
 * one, so its memory is one copy of the other loops' viewers: bounded by
 * the connections the router admitted. A loop that stopped serving answers
 * with nothing.
 *
 * The first loop's thread for every call; the copies are made on each
 * loop. fc_census_free once every loop has stopped. */
#ifndef FC_TRANSPORT_CENSUS_H
#define FC_TRANSPORT_CENSUS_H

#include <stdbool.h>

#include "core/loops.h"
#include "core/metrics.h"
#include "transport/feeds.h"
#include "transport/loop_servers.h"

typedef struct fc_census fc_census;

/* A scrape waiting for a gather: `ready` is called on the first loop while
 * the copies are there to be rendered (fc_metrics_render). */
typedef struct fc_census_waiter fc_census_waiter;
struct fc_census_waiter {
    fc_census_waiter *prev, *next;
    void (*ready)(fc_census_waiter *w);
    bool waiting;
};

/* `servers[i]` and the feeds' loop i for i in 1..loops->n-1, borrowed.
 * 0 or -ENOMEM. */
int fc_census_new(const fc_loops *loops, fc_loop_server *const *servers, fc_feeds *feeds,
                  fc_census **out);
/* After the families it adds samples to are registered (the server's and
 * the streams'). 0 or -ENOMEM. */
int fc_census_register(fc_census *c, fc_metrics *m);
/* Asks every other loop for its copy; `w->ready` is called when all are
 * back (never inside this call). */
void fc_census_gather(fc_census *c, fc_census_waiter *w);
/* The scrape's connection went: it is not called. */
void fc_census_forget(fc_census *c, fc_census_waiter *w);
void fc_census_free(fc_census *c);

#endif
