/* The static files endpoint: the viewer at /, the avatar demo at /demo,
 * served by libwebsockets itself from under the web root (--web-root).
 * Loop thread (lws's). */
#ifndef FC_TRANSPORT_STATIC_H
#define FC_TRANSPORT_STATIC_H

#include "transport/endpoint.h"

extern const fc_endpoint fc_static_endpoint;

#endif
