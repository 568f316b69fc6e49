/* The avatar WebSocket endpoint, /ws/{client_id}: start_streaming,
 * stop_streaming and ping from the client (transport/avatar_msg.h); from the
 * server streaming_started, metadata, the opt-in audio message and block,
 * the frames, streaming_completed and errors. It turns the session's typed
 * callbacks (avatar/session.h) into these messages: the wire JSON of avatar
 * sessions lives here. Loop thread. */
#ifndef FC_TRANSPORT_WS_AVATAR_H
#define FC_TRANSPORT_WS_AVATAR_H

#include "transport/endpoint.h"

extern const fc_endpoint fc_ws_avatar_endpoint;

#endif
