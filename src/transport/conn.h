/* fc_conn: one client connection as the server and its endpoints see it.
 *
 * libwebsockets gives every connection fc_conn_size() bytes; the fc_conn
 * lives at the front and the endpoint's own state (endpoint.h, state_size)
 * after it. A WebSocket connection has a bounded queue of text messages
 * that go out before anything the endpoint writes itself (the hello, errors,
 * control answers), and may be closed with a code once those are out. An
 * HTTP connection answers each request with one response, written whole
 * when the endpoint gives it.
 *
 * HTTP/1.1 framing: lws reads nothing more of a connection until the
 * request it is on has its response (the endpoint answers in its `open` or
 * `body_done`, or holds the input with fc_conn_hold_input until a worker's
 * result comes), so a pipelined request behind it waits in lws's buffer and
 * is answered after it, in order, and a client that half-closes after its
 * request still gets the whole response.
 *
 * Writing. A WebSocket writes in turns: its queued texts, then the close
 * once they are out, then its endpoint's messages, one `writeable` call
 * each, for as long as the endpoint asks for more (fc_conn_want_write from
 * inside `writeable`), the socket has room (conn.c, room_for_next) and the
 * turn's bound (8 messages) is not reached; what is left waits for lws's writeable callback,
 * and lws never holds more than the unsent tail of one message. A
 * connection that asks to write from outside a turn (a published frame, a
 * queued text) gets its turn directly, after the I/O callbacks of the loop
 * turn it asked in (ws_wake.h), when its socket has room: no POLLOUT round
 * trip for a socket that keeps up. Only lws's callback closes.
 *
 * Every text that goes back to the client (errors, close reasons, 404 paths)
 * is made valid UTF-8 first (utf8.h): client bytes end up in them.
 *
 * Ownership: lws owns the memory; the server initialises and releases it;
 * the endpoint owns what its state points to. Loop thread only. */
#ifndef FC_TRANSPORT_CONN_H
#define FC_TRANSPORT_CONN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "transport/endpoint.h"

struct lws;

/* Texts a WebSocket may have waiting. From FC_CONN_TEXTS_HOLD on, the
 * connection reads nothing more until they are down to FC_CONN_TEXTS_RESUME
 * (a client that sends requests faster than it reads the answers is slowed
 * to the pace it reads, by TCP); a client that still lets FC_CONN_MAX_TEXTS
 * pile up is closed. */
#define FC_CONN_MAX_TEXTS 256
#define FC_CONN_TEXTS_HOLD 64
#define FC_CONN_TEXTS_RESUME 16
/* Longest close reason: a close frame's payload is at most 125 bytes, two
 * of them the code (RFC 6455 5.5). */
#define FC_CONN_CLOSE_REASON_MAX 123

/* ---- for endpoints ---- */

fc_server_env *fc_conn_env(const fc_conn *c);
struct lws *fc_conn_wsi(const fc_conn *c);
void *fc_conn_state(fc_conn *c);

/* WebSocket: queues a copy of `text` to go out before anything the endpoint
 * writes next. 0, or -ENOMEM / -ENOBUFS (the connection is being closed). */
int fc_conn_send_text(fc_conn *c, const char *text);
/* The same for a JSON value (takes the reference). */
int fc_conn_send_json(fc_conn *c, json_t *obj);
/* {"type":"error","message":msg}; msg may hold any bytes (it is cleaned). */
int fc_conn_send_error(fc_conn *c, const char *msg);
/* Tells the client why in an error message, then closes with `code` once
 * the queued texts are out. */
void fc_conn_refuse(fc_conn *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Asks for a turn of writing ("Writing" above): from inside `writeable`,
 * one more call of it in the same turn. */
void fc_conn_want_write(fc_conn *c);
bool fc_conn_texts_pending(const fc_conn *c);
/* Writes one WebSocket message; `data` has FC_FRAME_HEADROOM bytes before
 * it that lws may use for its framing. 0, or -1 when the socket failed. */
int fc_conn_write(fc_conn *c, uint8_t *data, size_t len, bool binary);
/* WebSocket: the query of the request URI as one '&'-joined string of the
 * options lws decoded, NUL-terminated. Its length, or -E2BIG when it (or
 * one option) does not fit in outlen. An empty query ("?") is "". */
int fc_conn_query(fc_conn *c, char *out, size_t outlen);

/* HTTP: the request's method, one of lws's LWSHUMETH_GET, _POST, ...; a
 * HEAD request is LWSHUMETH_GET here and its answer goes without the body. */
int fc_conn_method(const fc_conn *c);
/* HTTP: an empty response body with room in front for lws's framing. */
void fc_conn_body_init(fc_buf *body);
/* Answers with `body` (from fc_conn_body_init; taken over), now, and closes
 * the connection after it (conn.c says why). Returns -1: inside an lws
 * callback, return it; outside one (a worker's result), call fc_conn_drop.
 * Given before the request's body came (a refusal), it returns 0 and the
 * body is read and dropped first (fc_conn_draining), bounded. */
int fc_conn_respond(fc_conn *c, unsigned status, const char *ctype, fc_buf *body);
int fc_conn_respond_json(fc_conn *c, unsigned status, json_t *obj);
/* The same with one more header, `name` spelt as lws wants it
 * ("www-authenticate:"); NULL for none. */
int fc_conn_respond_json_with(fc_conn *c, unsigned status, const char *name, const char *value,
                              json_t *obj);
/* server.c: the answer was given before the body, which is to be dropped
 * (and the connection closed when it ends or its timer fires). */
bool fc_conn_draining(const fc_conn *c);
/* server.c: the request's body is all in. */
void fc_conn_body_ended(fc_conn *c);
/* A status with its reason as a text/plain body. */
int fc_conn_respond_status(fc_conn *c, unsigned status, const char *reason);
/* 404 with "not found: PATH" as the body. */
int fc_conn_respond_not_found(fc_conn *c, const char *path);
/* Reads nothing more on this connection until its response is given: for
 * an endpoint that answers after a worker's job. */
void fc_conn_hold_input(fc_conn *c);
/* Closes the connection now, from outside any lws callback of it (a
 * worker's result); `c` may be gone when it returns, so it is not used
 * again. What lws still holds of the answer is sent first. */
void fc_conn_drop(fc_conn *c);
/* The endpoint's `timer` is called in `us` microseconds (one timer per
 * connection: setting it again moves it); us < 0 cancels it. A new request
 * on the connection cancels it too. */
void fc_conn_set_timer(fc_conn *c, int64_t us);

/* ---- for server.c ---- */

/* Bytes per connection for endpoint states of at most `state_size`. */
size_t fc_conn_size(size_t state_size);
/* `method`: HTTP only (LWSHUMETH_*), -1 for a WebSocket. */
void fc_conn_init(fc_conn *c, struct lws *wsi, fc_server_env *env, const fc_endpoint *ep,
                  bool websocket, int method);
const fc_endpoint *fc_conn_endpoint(const fc_conn *c);
bool fc_conn_is_websocket(const fc_conn *c);
/* WebSocket writeable (lws's callback): one turn of writing. 0, or -1 on a
 * write error (the callback returns it: lws closes the connection). */
int fc_conn_writeable(fc_conn *c);
struct fc_ws_wake_link;
/* The server's wake list (ws_wake.h) serving a connection that asked. */
void fc_conn_woken(struct fc_ws_wake_link *link, bool now);
/* Reassembles a text message from WebSocket fragments, at most `max`
 * bytes: 1 with *msg, *msglen set when one is whole (valid until
 * fc_conn_receive_done), 0 while it is not. A message over `max` is dropped
 * whole, up to its final fragment, and the client is told once it ends; 0
 * for all of it. */
int fc_conn_receive(fc_conn *c, const void *in, size_t len, size_t max, const char **msg,
                    size_t *msglen);
void fc_conn_receive_done(fc_conn *c);
/* Asks a WebSocket to close with `code` after its texts, unless it already
 * is closing. */
void fc_conn_close_soon(fc_conn *c, int code, const char *reason);
/* Calls the endpoint's `closed` once, however often it is asked. */
void fc_conn_release(fc_conn *c);
/* Frees what the connection itself holds (texts, buffers). */
void fc_conn_cleanup(fc_conn *c);
/* Before any fc_conn exists (a handshake lws would get wrong): writes a
 * whole `status` response with `reason` as its text body and "connection:
 * close". Returns -1, what the lws callback returns so that lws closes the
 * connection once that is out. */
int fc_conn_reject(struct lws *wsi, unsigned status, const char *reason);

/* The server's list of open WebSockets, for draining. */
void fc_conn_link(fc_conn **head, fc_conn *c);
void fc_conn_unlink(fc_conn **head, fc_conn *c);
fc_conn *fc_conn_next(const fc_conn *c);

#endif
