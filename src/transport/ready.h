/* The readiness endpoint, GET /readyz: 200 while the server takes new avatar
 * sessions, 503 when it is full or shutting down, with the capacity report
 * as JSON either way. It is what a Kubernetes readiness probe (or any
 * balancer without HAProxy's agent) asks; /healthz stays 200 for as long as
 * the process serves. Loop thread. */
#ifndef FC_TRANSPORT_READY_H
#define FC_TRANSPORT_READY_H

#include "transport/endpoint.h"

extern const fc_endpoint fc_ready_endpoint;

#endif
