/* The stream WebSocket endpoint of a loop other than the first (`--loops
 * N`): /ws/streams/{id}, the same protocol as ws_stream.h, for a stream that
 * lives on the first loop. The request is checked there and the viewer
 * subscribes to its loop's feed of the stream (feeds.h), which brings each
 * frame and detection event to this loop once. Until the answer comes the
 * viewer has nothing queued; then the hello goes out, then frames, each
 * tier's first after a tier message.
 *
 * Not (yet) sent to viewers on other loops: the `format` message when a
 * camera changes picture size or codec mid-stream (they reconnect to get
 * the new hello). Viewer tokens are checked on the first loop only: with
 * --viewer-tokens required the router keeps every viewer there.
 * Loop thread of its server. */
#ifndef FC_TRANSPORT_WS_REMOTE_H
#define FC_TRANSPORT_WS_REMOTE_H

#include "transport/endpoint.h"

extern const fc_endpoint fc_ws_remote_endpoint;

#endif
