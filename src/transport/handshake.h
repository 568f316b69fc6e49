/* What every server (one per loop, `--loops N`) checks in a request's
 * headers before an endpoint sees them: HTTP framing lws would misread,
 * and WebSocket handshakes lws would get wrong or h2c. A refusal writes its
 * status (fc_conn_reject) and counts the reason in env->http_refused.
 * Loop thread of the server whose env it is. */
#ifndef FC_TRANSPORT_HANDSHAKE_H
#define FC_TRANSPORT_HANDSHAKE_H

#include <stddef.h>

#include "transport/endpoint.h"

struct lws;

/* LWS_CALLBACK_FILTER_HTTP_CONNECTION: 0 go on, -1 close. */
int fc_handshake_check_framing(fc_server_env *env, struct lws *wsi);
/* LWS_CALLBACK_HTTP_CONFIRM_UPGRADE, `to` its Upgrade header, `uri_max`
 * the longest path the server reads: 0 go on, -1 close. */
int fc_handshake_confirm_upgrade(fc_server_env *env, struct lws *wsi, const char *to,
                                 size_t uri_max);

#endif
