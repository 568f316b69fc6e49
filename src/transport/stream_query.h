/* The query options of a stream WebSocket, /ws/streams/{id}?OPTIONS:
 *
 *   quality=auto|high|medium|low   queue=N (1..FC_QUEUE_MAX)   view=full|ptz
 *   codec=NAME (a registered codec: jpeg, webp, vp8; or h264, which only
 *               a stream of an H.264 camera can give, passed through)
 *
 * A pure function over bytes ('&'-separated key=value pairs, already
 * percent-decoded): no lws, no loop, any thread, so tests and fuzzers can
 * call it on any buffer. */
#ifndef FC_TRANSPORT_STREAM_QUERY_H
#define FC_TRANSPORT_STREAM_QUERY_H

#include <stdbool.h>
#include <stddef.h>

#include "encode/codec.h"
#include "hub/hub.h"
#include "stream/stream.h"

#define FC_STREAM_QUERY_H264 "h264"

typedef struct fc_stream_query {
    fc_sub_opts sub;
    fc_view view;
    /* The codec asked for; NULL = the stream's own (JPEG), and NULL with
     * `h264` for codec=h264 (passthrough: not an encoder). */
    const fc_codec_ops *codec;
    bool h264;
} fc_stream_query;

/* Fills `out`, starting from auto quality, a queue of `default_queue`, the
 * full view and the stream's codec. 0, or -EINVAL with err naming the
 * option and what it takes. */
int fc_stream_query_parse(const char *query, size_t len, size_t default_queue, fc_stream_query *out,
                          char *err, size_t errlen);

#endif
