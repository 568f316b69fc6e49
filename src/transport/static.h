/* The static files endpoint: the viewer at /, the avatar demo at /demo,
 * served by libwebsockets itself from under the web root (--web-root), and
 * /vendor/janus.js and /vendor/adapter.js: Debian's janus.js
 * (libjs-janus-gateway) and webrtc-adapter (libjs-webrtc-adapter) from
 * /usr/share/javascript, so the pages' WebRTC player loads them from
 * framecast's own origin. Nothing else under /usr/share/javascript is
 * served. Loop thread (lws's). */
#ifndef FC_TRANSPORT_STATIC_H
#define FC_TRANSPORT_STATIC_H

#include "transport/endpoint.h"

extern const fc_endpoint fc_static_endpoint;

#endif
