/* fc_auth: who may change the server's state and who may watch, checked in
 * one place that every endpoint calls with one line.
 *
 *   change   an HTTP request that changes state (POST/PATCH/DELETE
 *            /api/streams..., POST /upload) needs `Authorization: Bearer
 *            KEY`; a WebSocket that changes state (avatar start_streaming)
 *            needs the key in its URL query (`?key=KEY`, since a browser
 *            cannot set headers on a WebSocket) or in a message
 *            {"type":"auth","key":KEY} before the change.
 *   view     /ws/streams/{id} under `--viewer-tokens required` needs
 *            `?token=TOKEN`, a viewer token for that stream (viewtoken.h),
 *            or `?key=KEY`; under `off` anyone who can connect may watch.
 *
 * Without a key (the server then listens on loopback only, see
 * hostcheck.h) nothing is checked: every local process may change state.
 *
 * A failure says nothing of what was wrong: HTTP answers 401 with
 * `WWW-Authenticate: Bearer` and {"error":"unauthorized"}; a WebSocket is
 * closed with 4401 "unauthorized". Each failure counts against its peer
 * (peerlimit.h): a peer that failed too often is refused before its
 * credentials are looked at, with 429 and `Retry-After`, or 4429 on a
 * WebSocket. Every outcome is counted for /metrics.
 *
 * Ownership: fc_auth owns the key, the token checker and the limiter; one
 * per server, on its loop. Loop thread only. */
#ifndef FC_TRANSPORT_AUTH_GUARD_H
#define FC_TRANSPORT_AUTH_GUARD_H

#include <stdbool.h>
#include <stddef.h>

#include "core/metrics.h"
#include "transport/auth/apikey.h"

typedef struct fc_conn fc_conn;

#define FC_CLOSE_UNAUTHORIZED 4401
#define FC_CLOSE_TOO_MANY_FAILURES 4429

typedef enum { FC_VIEWERS_OPEN = 0, FC_VIEWERS_TOKEN = 1 } fc_viewer_policy;

/* "off", "required" (the --viewer-tokens values). */
const char *fc_viewer_policy_name(fc_viewer_policy p);

typedef struct fc_auth fc_auth;

/* Takes `key` (NULL: no key; then `viewers` must be FC_VIEWERS_OPEN).
 * 0, -EINVAL or -ENOMEM with err. */
int fc_auth_new(fc_api_key *key, fc_viewer_policy viewers, fc_auth **out, char *err, size_t errlen);
void fc_auth_free(fc_auth *a);
int fc_auth_metrics_register(fc_auth *a, fc_metrics *m);

bool fc_auth_has_key(const fc_auth *a);
fc_viewer_policy fc_auth_viewers(const fc_auth *a);

/* HTTP, a request that changes state: true when it may go on; false when
 * it was answered (401 or 429), and *rc is what the endpoint returns. */
bool fc_auth_http_change(fc_conn *c, int *rc);

/* HTTP, a request that only asks whether its credentials are good (GET
 * /api/auth): 1 the key is right (or none is needed), 0 none was given
 * (not a failure), or -1 answered as fc_auth_http_change does. */
int fc_auth_http_probe(fc_conn *c, int *rc);

/* WebSocket that may change state, at open: reads `?key=`. Returns 0 with
 * *allowed set (the key is right or none is needed: true; no key given:
 * false), or -1 when a wrong key closed the connection. */
int fc_auth_ws_open(fc_conn *c, bool *allowed);
/* A text message of that WebSocket: when it is {"type":"auth",...} it is
 * handled here (answered {"type":"authenticated"}, or the connection
 * closed), *allowed updated, and true returned; false for any other
 * message. */
bool fc_auth_ws_message(fc_conn *c, const char *text, size_t len, bool *allowed);
/* Before that WebSocket changes state: true when *allowed; else counts the
 * failure, closes the connection and returns false. */
bool fc_auth_ws_change(fc_conn *c, bool allowed);

/* /ws/streams/{stream}, at open: true when the peer may watch `stream`;
 * false when the connection is being closed. */
bool fc_auth_ws_view(fc_conn *c, const char *stream);

#endif
