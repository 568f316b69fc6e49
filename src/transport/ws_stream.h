/* The stream WebSocket endpoint, /ws/streams/{id}[?quality=&queue=&view=]:
 * a hello, then the stream's frames of one view as binary messages (16-byte
 * header, payload in the hello's codec), a tier message before the first
 * frame of each tier, and detection events. Its wire JSON lives here.
 * Loop thread. */
#ifndef FC_TRANSPORT_WS_STREAM_H
#define FC_TRANSPORT_WS_STREAM_H

#include <jansson.h>

#include "analysis/tracker.h"
#include "core/event.h"
#include "transport/endpoint.h"
#include "transport/stream_query.h"

extern const fc_endpoint fc_ws_stream_endpoint;

/* For viewers on this loop and on others (feeds.h), on the stream's loop:
 * the codec a parsed query `q` gets from stream `s` (and q's tier pinned
 * for h264), or nonzero with the close code and why. */
int fc_ws_stream_choose(const fc_stream *s, fc_stream_query *q, const fc_codec_ops **codec,
                        int *code, char *why, size_t whylen);
/* The format message for frames of `tier` (the stream's picture or source
 * codec changed), and the (serial, first frame id) of the format a
 * subscriber of `codec` follows. */
json_t *fc_ws_stream_format(const fc_stream *s, const fc_codec_ops *codec, int tier);
void fc_ws_stream_format_serial(const fc_stream *s, const fc_codec_ops *codec, uint64_t *serial,
                                uint32_t *first_id);
/* The hello message for it. */
/* A viewer's control message (ping; anything else is an error): the same
 * on every loop (ws_remote.c). */
void fc_ws_stream_text(struct fc_conn *c, void *state, const char *msg, size_t len);
json_t *fc_ws_stream_hello(const fc_stream *s, const fc_stream_query *q, const fc_codec_ops *codec);

/* {"type":"detections","frame_id","timestamp","faces":[...]}: the event a
 * stream's detection stage sends its subscribers when the tracks of frame
 * `f` changed (analysis/detect.h's fc_detections_event_fn). NULL on OOM. */
fc_event *fc_ws_stream_detections_event(const fc_frame *f, const fc_tracker *tracks);

#endif
