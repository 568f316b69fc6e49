/* fc_http_server: libwebsockets on an fc_loop's libuv loop.
 *
 *   GET /ws/streams/{id}[?quality=auto|high|medium|low&queue=N&view=full|ptz]
 *                                                               video and events (WebSocket)
 *   GET /ws/{client_id}                                         avatar sessions (WebSocket)
 *   POST /upload                                                a face and a speech file
 *   GET /healthz, /api/server, /api/streams, /metrics                       HTTP
 *   GET /...                                                    files under web root
 *
 * It owns every socket and every WebSocket subscriber's session. Loop thread
 * only. Frames are written only when a socket is writable, one message per
 * writable callback, straight from the shared encoded frame's bytes. */
#ifndef FC_TRANSPORT_SERVER_H
#define FC_TRANSPORT_SERVER_H

#include <stddef.h>

#include "avatar/media.h"
#include "avatar/session.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "stream/registry.h"

typedef struct fc_http_server_config {
    const char *host;     /* address to bind, e.g. 127.0.0.1 */
    int port;             /* 0 = pick a free one (see fc_http_server_port) */
    const char *web_root; /* directory of static files; NULL = none */
    size_t queue_default; /* subscriber queue when the client names none */
    int ping_secs;        /* idle WebSocket gets a ping after this long */
    int hangup_secs;      /* and is closed when nothing came back by then */
    unsigned max_clients; /* WebSocket clients at once; more are refused (1013) */
    fc_avatar_env *avatar;   /* avatar sessions on /ws/{client_id}; NULL = none */
    const fc_media *media;   /* where POST /upload stores files; NULL = no uploads */
    size_t max_upload_image; /* bytes */
    size_t max_upload_audio;
} fc_http_server_config;

typedef struct fc_http_server fc_http_server;

/* On failure *out may still be set: destroy, run the loop, free as usual. */
int fc_http_server_start(fc_loop *loop, const fc_http_server_config *cfg,
                         const fc_stream_set *streams, fc_metrics *metrics,
                         fc_http_server **out, char *err, size_t errlen);
int fc_http_server_port(const fc_http_server *srv);
/* The sockets it listens on (their addresses, for the log and /api/server). */
const struct fc_listener *fc_http_server_listener(const fc_http_server *srv);
/* Sends every WebSocket a close frame (1001 going away) and calls `done`
 * once they are all gone or after `timeout_ms`, whichever comes first. */
void fc_http_server_drain(fc_http_server *srv, unsigned timeout_ms,
                          void (*done)(fc_http_server *srv, void *arg), void *arg);
/* Starts tearing the server down: closes every connection and lws's
 * handles, which finish closing as the loop runs on. */
void fc_http_server_destroy(fc_http_server *srv);
/* After the loop has stopped: frees what is left. */
void fc_http_server_free(fc_http_server *srv);

#endif
