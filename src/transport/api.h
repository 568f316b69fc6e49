/* The JSON of GET /api/streams. Loop thread. */
#ifndef FC_TRANSPORT_API_H
#define FC_TRANSPORT_API_H

#include "core/buf.h"
#include "stream/registry.h"

/* Appends a JSON array with one object per stream to `out`. */
void fc_api_streams_json(const fc_stream_set *streams, fc_buf *out);

#endif
