/* fc_loop_server: the HTTP server of a loop other than the first
 * (`serve --loops N`): an lws context of its own on that loop's libuv loop
 * (lws's foreign-loop mode, one service thread per context: lws's own
 * multi-thread service does not run on foreign libuv loops), serving only
 * stream viewers (ws_remote.h) on the connections the router hands it.
 *
 * Hand-over: an inbox of fc_handoff records under a mutex and one
 * coalesced uv_async_send; bounded by the connections the first loop's
 * conntrack admits (each is handed over once). Each connection's close goes
 * back through fc_router_gone.
 *
 * fc_loop_server_start: the first loop's thread, at start-up (it waits for
 * the server to be made on its loop). fc_loop_server_give: any thread.
 * fc_loop_server_stop: the first loop. fc_loop_server_free: once the loop
 * has returned (its thread's exit, loops.h). */
#ifndef FC_TRANSPORT_LOOP_SERVERS_H
#define FC_TRANSPORT_LOOP_SERVERS_H

#include <stddef.h>

#include "core/loop.h"
#include "transport/router.h"
#include "transport/server.h"

typedef struct fc_loop_server fc_loop_server;

/* Its loop: the server's counts, zeros once it stopped serving. */
void fc_loop_server_counts(const fc_loop_server *ls, fc_http_server_counts *out);

/* Makes the server on `loop` (cfg: the first loop's, for the limits and
 * timeouts; the rest is set here). 0, or a negative errno with err. */
int fc_loop_server_start(fc_loop *loop, const fc_http_server_config *cfg, fc_loop_server **out,
                         char *err, size_t errlen);
/* Queues a connection for the server's loop. */
void fc_loop_server_give(fc_loop_server *ls, fc_handoff *h);
/* Closes every connection (1001 first, for those that can take it) and
 * lws's handles; `stopped(arg)` then runs on `back`, after every close has
 * been sent back through fc_router_gone. */
void fc_loop_server_stop(fc_loop_server *ls, fc_loop *back, void (*stopped)(void *arg), void *arg);
/* The same, for a start-up that failed: waits (blocking the caller) until
 * the server's loop has done it. */
void fc_loop_server_stop_wait(fc_loop_server *ls);
/* The loop has returned: frees what is left. NULL is fine. */
void fc_loop_server_free(fc_loop_server *ls);

#endif
