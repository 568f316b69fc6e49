/* The HTTP API endpoint: a table of routes (method, path, optional {id}
 * tail, whether it changes state, whether it takes a body, handler).
 *
 *   GET    /healthz             "ok"
 *   GET    /api/server          version and the exact addresses it listens on
 *   GET    /api/auth            whether a key is needed and the request's is good
 *   GET    /api/streams         JSON per stream
 *   POST   /api/streams         add a stream (key)           api_streams.h
 *   GET    /api/streams/{id}    one stream's JSON (404 naming it when unknown)
 *   PATCH  /api/streams/{id}    change its settings (key)
 *   DELETE /api/streams/{id}    remove it (key)
 *   GET    /metrics             Prometheus text
 *
 * An unknown path is 404, a known path with another method 405 with Allow.
 * A route that changes state asks the auth guard first (auth/guard.h); one
 * with a body needs a Content-Length of at most FC_STREAM_BODY_MAX bytes
 * (411, 413) and is handled once the body has come. Adding a route is adding
 * a row. The stream documents are built here. Loop thread. */
#ifndef FC_TRANSPORT_HTTP_API_H
#define FC_TRANSPORT_HTTP_API_H

#include <jansson.h>

#include "stream/registry.h"
#include "transport/endpoint.h"

extern const fc_endpoint fc_http_api_endpoint;

/* One stream's document (as GET /api/streams/{id} answers): source, rates,
 * counters, detection, "quality" per tier, "origin" ("cli" | "api") and,
 * for api streams, "spec" (credentials hidden), "settings" as stored (null
 * where not set), "created" and "updated". A new reference; NULL on OOM. */
json_t *fc_http_api_stream_json(const fc_stream_set *set, const fc_stream *s);

#endif
