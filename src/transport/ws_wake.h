/* fc_ws_wakes: the WebSocket connections that asked to write during one turn
 * of the loop, served together right after the turn's I/O callbacks.
 *
 * Why: asking lws for a writeable callback costs, per message, a POLLOUT
 * switched on and off again (with libuv each switch is an epoll_ctl DEL at
 * once and an ADD at the next poll) and a wake-up of the loop. A published
 * frame wakes every subscriber of it at once, and nearly all of their
 * sockets have room, so the loop writes to them directly from a uv_check
 * handle that runs after the poll phase of the same turn (conn.c decides,
 * per connection, whether its socket takes the write now or it waits for
 * lws's writeable callback as before). The check handle runs only while
 * some connection is waiting: no work, no callback.
 *
 * The links live in the connections (conn.c); a connection on the list is
 * served in the order it asked; one woken by another's service is served
 * in another round of the same check, up to a few rounds (then it waits for
 * lws's writeable callback: the loop does not block in poll while a
 * connection it could write to waits). The counters are the fan-out's
 * cost in /metrics (fc_websocket_writes_total, ...).
 *
 * Ownership: embedded in its server (server.c), which inits it after the
 * loop and closes it before the loop's last run; the memory must stay until
 * the close is done (the server frees them together). Loop thread only. */
#ifndef FC_TRANSPORT_WS_WAKE_H
#define FC_TRANSPORT_WS_WAKE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/metrics.h"

struct fc_ws_wake_list;

typedef struct fc_ws_wake_link {
    struct fc_ws_wake_link *prev, *next;
    struct fc_ws_wake_list *list; /* the list it is on, or NULL */
} fc_ws_wake_link;

typedef struct fc_ws_wake_list {
    fc_ws_wake_link *head, *tail;
} fc_ws_wake_list;

/* Serves one connection, its link already off the list: `now` = write what
 * it can now; false = it asked again too often within one turn (others
 * kept waking it), so it is to wait for lws's writeable callback. */
typedef void (*fc_ws_wake_fn)(fc_ws_wake_link *link, bool now);

/* How a connection's messages were written: at once from the check handle,
 * or in lws's writeable callback. */
typedef enum { FC_WS_TURN_DIRECT, FC_WS_TURN_WRITEABLE, FC_WS_TURN_KINDS } fc_ws_turn_kind;

typedef struct fc_ws_wakes {
    uv_check_t check;
    fc_ws_wake_fn run;
    fc_ws_wake_list waiting; /* asked during this turn */
    fc_ws_wake_list serving; /* being served by the check handle now */
    bool open;
    /* Written by conn.c: messages and turns by kind, and the turns that found
     * the socket full and left the rest to lws's writeable callback. */
    uint64_t messages[FC_WS_TURN_KINDS], turns[FC_WS_TURN_KINDS], choked;
} fc_ws_wakes;

/* 0, or -ENOMEM registering the metrics. */
int fc_ws_wakes_init(fc_ws_wakes *w, uv_loop_t *loop, fc_ws_wake_fn run, fc_metrics *metrics);
/* Puts the link on the list for this turn; nothing if it already is on it.
 * False (and nothing done) once the wakes are closed. */
bool fc_ws_wakes_add(fc_ws_wakes *w, fc_ws_wake_link *link);
/* Takes the link off whichever list it is on; nothing if it is on none. */
void fc_ws_wakes_remove(fc_ws_wake_link *link);
/* Stops serving (links may still be removed); the handle closes as the loop
 * runs on. */
void fc_ws_wakes_close(fc_ws_wakes *w);

#endif
