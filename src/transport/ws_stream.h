/* The stream WebSocket endpoint, /ws/streams/{id}[?quality=&queue=&view=]:
 * a hello, then the stream's frames of one view as binary messages (16-byte
 * header, payload in the hello's codec), a tier message before the first
 * frame of each tier, and detection events. Its wire JSON lives here.
 * Loop thread. */
#ifndef FC_TRANSPORT_WS_STREAM_H
#define FC_TRANSPORT_WS_STREAM_H

#include "analysis/tracker.h"
#include "core/event.h"
#include "transport/endpoint.h"

extern const fc_endpoint fc_ws_stream_endpoint;

/* {"type":"detections","frame_id","timestamp","faces":[...]}: the event a
 * stream's detection stage sends its subscribers when the tracks of frame
 * `f` changed (analysis/detect.h's fc_detections_event_fn). NULL on OOM. */
fc_event *fc_ws_stream_detections_event(const fc_frame *f, const fc_tracker *tracks);

#endif
