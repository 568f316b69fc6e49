/* The HTTP API endpoint: a table of routes (method, path, optional {id}
 * tail, handler), each answering with a body built on the loop.
 *
 *   GET /healthz            "ok"
 *   GET /api/server         version and the exact addresses it listens on
 *   GET /api/streams        JSON per stream
 *   GET /api/streams/{id}   one stream's JSON (404 naming it when unknown)
 *   GET /metrics            Prometheus text
 *
 * An unknown path is 404, a known path with another method 405. Adding a
 * route is adding a row. Loop thread. */
#ifndef FC_TRANSPORT_HTTP_API_H
#define FC_TRANSPORT_HTTP_API_H

#include "transport/endpoint.h"

extern const fc_endpoint fc_http_api_endpoint;

#endif
