/* The stream WebSocket's query options (/ws/streams/ID?OPTIONS), already
 * percent-decoded as lws hands them over: any bytes, NULs included. */
#include <assert.h>
#include <string.h>

#include "fuzz.h"
#include "transport/stream_query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0; /* the server refuses longer queries before parsing */
    const char *query = (const char *)data;
    fc_stream_query q;
    char err[300], tiny[4];
    if (fc_stream_query_parse(query, size, 50, &q, err, sizeof err) == 0) {
        /* What it accepts is in range: the hub trusts these. */
        assert(q.sub.queue >= 1 && q.sub.queue <= FC_QUEUE_MAX);
        assert(q.sub.tier >= 0 && q.sub.tier < FC_TIER_COUNT);
        assert(q.view == FC_VIEW_FULL || q.view == FC_VIEW_PTZ);
    } else {
        assert(memchr(err, 0, sizeof err)); /* a terminated message */
    }
    /* Error texts are cut to the buffer, never written past it. */
    fc_stream_query_parse(query, size, 50, &q, tiny, sizeof tiny);
    return 0;
}
