/* The query options of a stream WebSocket, /ws/streams/{id}?OPTIONS:
 *
 *   quality=auto|high|medium|low   queue=N (1..FC_QUEUE_MAX)   view=full|ptz
 *
 * A pure function over bytes ('&'-separated key=value pairs, already
 * percent-decoded): no lws, no loop, any thread, so tests and fuzzers can
 * call it on any buffer. */
#ifndef FC_TRANSPORT_STREAM_QUERY_H
#define FC_TRANSPORT_STREAM_QUERY_H

#include <stddef.h>

#include "hub/hub.h"
#include "stream/stream.h"

typedef struct fc_stream_query {
    fc_sub_opts sub;
    fc_view view;
} fc_stream_query;

/* Fills `out`, starting from auto quality, a queue of `default_queue` and the
 * full view. 0, or -EINVAL with err naming the option and what it takes. */
int fc_stream_query_parse(const char *query, size_t len, size_t default_queue, fc_stream_query *out,
                          char *err, size_t errlen);

#endif
