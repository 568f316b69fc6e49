/* fc_http_server: libwebsockets on an fc_loop's libuv loop, serving the
 * endpoints of transport/endpoint.h (stream and avatar WebSockets, uploads,
 * the HTTP API, static files).
 *
 * It owns the lws context, the listening sockets (listener.h: framecast
 * accepts and hands each connection to lws), the mounts, admission
 * (--max-clients; a 503 before the upgrade when the capacity has no room
 * for the endpoint's kind or while draining) and the drain at shutdown; every
 * feature lives in its endpoint. Frames are written only when a socket is
 * writable, one message per writable callback, straight from the shared
 * encoded frame's bytes. Loop thread only. */
#ifndef FC_TRANSPORT_SERVER_H
#define FC_TRANSPORT_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/capacity.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/pool.h"

struct fc_auth;
struct fc_stream_api;
struct fc_avatar_env;
struct fc_media;
struct fc_stream_set;
struct fc_listener;
struct fc_webrtc;
struct fc_router;
struct fc_feeds;
struct fc_census;
struct fc_endpoint;

typedef struct fc_http_server_config {
    const char *host;              /* address to bind, e.g. 127.0.0.1 */
    int port;                      /* 0 = pick a free one (the listener says which) */
    const char *web_root;          /* directory of static files; NULL = none */
    fc_pool *pool;                 /* where endpoints' jobs run (uploads) */
    size_t queue_default;          /* subscriber queue when the client names none */
    int ping_secs;                 /* idle WebSocket gets a ping after this long */
    int hangup_secs;               /* and is closed when nothing came back by then */
    unsigned max_clients;          /* WebSocket clients at once; more are refused (1013) */
    unsigned max_pending;          /* connections still sending request headers (conntrack.h) */
    unsigned max_peer_connections; /* connections at once from one address (or IPv6 /64) */
    unsigned header_timeout_s;     /* a connection's headers must be in by then */
    fc_capacity *capacity;         /* admission of new WebSockets; required, borrowed */
    struct fc_avatar_env *avatar;  /* avatar sessions on /ws/{client_id}; NULL = none */
    const struct fc_media *media;  /* where POST /upload stores files; NULL = no uploads */
    size_t max_upload_image;       /* bytes */
    size_t max_upload_audio;
    unsigned upload_timeout_s; /* a body must be in within this */
    size_t upload_min_rate;    /* bytes/s on average, after the first seconds */
    size_t upload_max_files;   /* uploads kept at once */
    size_t upload_quota;       /* bytes of uploads kept at once */
    unsigned upload_expiry_s;  /* an upload is deleted this long after it was stored */
    struct fc_auth *auth;      /* who may change state and watch; NULL = nobody is checked */
    struct fc_stream_api *api; /* POST/PATCH/DELETE /api/streams; NULL = not served */
    struct fc_webrtc *webrtc;  /* mountpoints for /api/streams; NULL = no --janus */
    const char *connect_src;   /* another origin pages may fetch from (Janus's); NULL = none */

    /* --loops N (router.h, loop_servers.h). */
    int loops;                /* how many (for /api/server); 0 = 1 */
    struct fc_router *router; /* the first loop's: offered every new connection; NULL = none */
    struct fc_feeds *feeds;   /* another loop's: how its viewers reach streams (feeds.h) */
    struct fc_census *census; /* the first loop's: the others' figures in /metrics */
    bool adopted; /* another loop's: no listener, metrics or uploads; its connections come
                     from fc_http_server_adopt and `gone` is told when each one goes */
    void (*gone)(void *opaque);
    const struct fc_endpoint *const *endpoints; /* NULL = every endpoint */
    size_t nendpoints;
    atomic_uint *ws_total; /* WebSockets open on every loop, for max_clients; NULL = this one's */
} fc_http_server_config;

/* Connections at once, all kinds: every WebSocket client, every pending
 * one, and this many HTTP requests being answered besides. */
#define FC_HTTP_ANSWERING_MAX 64
/* File descriptors the server needs beyond its connections: lws's own, and
 * connections accepted in one burst whose close is still under way. */
#define FC_HTTP_FD_SLACK 192

typedef struct fc_http_server fc_http_server;

/* 0, or a negative errno with err. On failure *out may still be set:
 * destroy, run the loop, free as usual. */
int fc_http_server_start(fc_loop *loop, const fc_http_server_config *cfg,
                         struct fc_stream_set *streams, fc_metrics *metrics, fc_http_server **out,
                         char *err, size_t errlen);
/* The sockets it listens on (their addresses, for the log and /api/server). */
const struct fc_listener *fc_http_server_listener(const fc_http_server *srv);
/* An adopted server (another loop's): serves `fd` from now on; `opaque` is
 * what cfg.gone is given when it goes. 0, or -1 (lws closed the fd; gone
 * is not called). */
int fc_http_server_adopt(fc_http_server *srv, int fd, void *opaque);
/* What /metrics counts of a server's WebSockets, for another loop's server
 * whose figures the first loop adds to its own (census.h). Its loop. */
typedef struct fc_http_server_counts {
    size_t ws_clients;
    uint64_t ws_accepted, ws_refused, texts_dropped;
    uint64_t http_refused[3]; /* by fc_http_refused (endpoint.h) */
    /* The fan-out's writes (ws_wake.h): messages and turns, direct and in
     * writeable callbacks, and the turns that found the socket full. */
    uint64_t ws_messages[2], ws_turns[2], ws_choked;
} fc_http_server_counts;
void fc_http_server_get_counts(const fc_http_server *srv, fc_http_server_counts *out);
/* Stops the server in two steps. First the connections whose endpoint has
 * work to finish (avatar sessions, endpoint.h `drain`) finish it and close,
 * for up to `timeout_ms`; stream viewers watch on meanwhile. Then every
 * WebSocket left gets a close frame (1001 going away) and 1 s to go, and
 * `done` is called. New WebSockets are refused all along (the capacity
 * drains too: the owner calls fc_capacity_drain first). Called again while
 * the first step runs, it skips to the second. */
void fc_http_server_drain(fc_http_server *srv, unsigned timeout_ms,
                          void (*done)(fc_http_server *srv, void *arg), void *arg);
/* Starts tearing the server down: closes every connection and lws's
 * handles, which finish closing as the loop runs on. */
void fc_http_server_destroy(fc_http_server *srv);
/* After the loop has stopped: frees what is left. */
void fc_http_server_free(fc_http_server *srv);

#endif
