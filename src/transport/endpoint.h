/* fc_endpoint: one thing the server answers at a path, behind one small
 * table of callbacks. Each endpoint lives in its own file and is registered
 * with one line in server.c's table; the server knows no feature.
 *
 *   ws_stream.c   /ws/streams/{id}   video and events (WebSocket)
 *   ws_avatar.c   /ws/{client_id}    avatar sessions (WebSocket)
 *   upload.c      POST /upload       a face and a speech file
 *   http_api.c    /healthz /api/... /metrics   HTTP, a table of routes
 *   static.c      everything else    files under the web root (lws serves them)
 *
 * The server (server.c) owns the libwebsockets context, the listening
 * sockets, the mounts, admission (--max-clients, draining) and drain; it
 * picks the endpoint whose prefix is the longest match for the request path,
 * gives each connection `state_size` zeroed bytes of the endpoint's own, and
 * calls the endpoint's functions on the loop thread:
 *
 *   open       a WebSocket is established (after admission) or an HTTP
 *              request's headers are in. `path` has no query string (the
 *              endpoint reads it from the connection). WebSocket: refuse
 *              with fc_conn_refuse; HTTP: answer with fc_conn_respond*.
 *              Return 0, or -1 to drop the connection at once.
 *   text       one whole WebSocket text message (bounded, reassembled).
 *   body       HTTP request body bytes; body_done when all have come.
 *   writeable  a WebSocket may write one message: after the texts queued on
 *              the connection are out. With more to write, it calls
 *              fc_conn_want_write and is called again, in the same turn
 *              while the socket has room (conn.h, "Writing"). Return 0,
 *              or -1 on a write error.
 *   timer      the connection's timer (fc_conn_set_timer) is up. Return 0,
 *              or -1 to close the connection.
 *   closed     the connection is gone (or the server lets go of it at the
 *              end of a drain): release what `state` holds. Called once.
 *   drain      the server stops (SIGTERM) and lets work in progress finish
 *              first: close the connection (fc_conn_close_soon, 1001) once
 *              its work is done, at once when there is none. The server
 *              waits for every such connection (up to --drain-timeout), then
 *              closes the rest with 1001. NULL: the connection is kept until
 *              then (stream viewers watch on while sessions finish).
 *
 * `capacity` is what a new WebSocket of the endpoint holds while it is open
 * (core/capacity.h): the server refuses the upgrade with 503 when there is
 * no room for it, or while draining.
 *
 * Any member may be NULL (or 0) when the endpoint does not need it. */
#ifndef FC_TRANSPORT_ENDPOINT_H
#define FC_TRANSPORT_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "avatar/media.h"
#include "avatar/session.h"
#include "core/capacity.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/pool.h"
#include "stream/registry.h"

struct fc_webrtc;
struct fc_ws_wakes;

struct fc_listener;
struct fc_auth;
struct fc_stream_api;
typedef struct fc_conn fc_conn;

/* Why a request was refused before any endpoint saw it (server.c),
 * fc_http_refused_total{reason}. */
typedef enum {
    FC_HTTP_REFUSED_FRAMING, /* Content-Length / Transfer-Encoding it cannot trust */
    FC_HTTP_REFUSED_UPGRADE, /* a WebSocket handshake lws would get wrong, or h2c */
    FC_HTTP_REFUSED_URI,     /* a request line longer than the server reads */
    FC_HTTP_REFUSED_COUNT
} fc_http_refused;

/* Why an upload was refused, fc_uploads_refused_total{reason}. */
typedef enum {
    FC_UPLOAD_REFUSED_BUSY,      /* 503: every slot taken, or the set-up queue full */
    FC_UPLOAD_REFUSED_TOO_LARGE, /* 413: over --max-upload-image / --max-upload-audio */
    FC_UPLOAD_REFUSED_SLOW,      /* 408: past --upload-timeout or under --upload-min-rate */
    FC_UPLOAD_REFUSED_QUOTA,     /* 507: --upload-max-files / --upload-quota reached */
    FC_UPLOAD_REFUSED_TYPE,      /* 415: not a picture or speech file by its content */
    FC_UPLOAD_REFUSED_MALFORMED, /* 400: not multipart, unknown field, no closing boundary... */
    FC_UPLOAD_REFUSED_FAILED,    /* 500: the server could not hold or write it */
    FC_UPLOAD_REFUSED_COUNT
} fc_upload_refused;

struct fc_upload_store;

/* What every endpoint of one server shares: set up by the server from its
 * configuration, counters updated by the endpoints. Loop thread. */
typedef struct fc_server_env {
    fc_loop *loop;
    fc_pool *pool;
    fc_stream_set *streams; /* subscribers register as users (registry.h) */
    fc_avatar_env *avatar;  /* avatar sessions; NULL = none */
    const fc_media *media;  /* where uploads go; NULL = no uploads */
    fc_metrics *metrics;
    const struct fc_listener *listener;
    struct fc_auth *auth;      /* keys and viewer tokens (auth/guard.h); NULL = none checked */
    struct fc_stream_api *api; /* stream changes (api_streams.h); NULL = read-only API */
    fc_capacity *capacity;     /* admission: budgets, load, draining */
    struct fc_webrtc *webrtc;  /* NULL = no --janus */
    /* WebSockets that asked to write this loop turn (ws_wake.h); NULL =
     * every write waits for lws's writeable callback. */
    struct fc_ws_wakes *ws_wakes;
    size_t queue_default;     /* subscriber queue when the client names none */
    struct fc_feeds *feeds;   /* another loop's server (--loops N): its streams' relays */
    struct fc_census *census; /* the first loop's (--loops N): the others' figures */
    int loops;                /* event loops the process runs (--loops), for /api/server */
    size_t max_upload_image, max_upload_audio;
    struct fc_upload_store *upload_store; /* quota and expiry; NULL = no uploads */
    unsigned upload_timeout_s;            /* a body not in by then is refused */
    uint64_t upload_min_rate;             /* bytes/s a body must keep after its first seconds */
    uint64_t ws_accepted, ws_refused, http_requests;
    uint64_t texts_dropped; /* WebSocket text messages over the size limit */
    uint64_t http_refused[FC_HTTP_REFUSED_COUNT];
    uint64_t uploads_refused[FC_UPLOAD_REFUSED_COUNT];
    unsigned uploads_active;
} fc_server_env;

/* A directory under the web root that lws serves as files at `at`. */
typedef struct fc_file_mount {
    const char *at;       /* "/demo" */
    const char *dir;      /* under the web root: "demo"; "" = the root */
    const char *wav_mime; /* non-NULL: serve .wav as this type (lws knows no audio) */
} fc_file_mount;

typedef struct fc_endpoint {
    const char *const *prefixes; /* NULL-terminated: "/ws/streams/", ... */
    bool websocket;
    size_t state_size;
    int (*open)(fc_conn *c, void *state, const char *path);
    void (*text)(fc_conn *c, void *state, const char *msg, size_t len);
    int (*body)(fc_conn *c, void *state, const void *in, size_t len);
    int (*body_done)(fc_conn *c, void *state);
    int (*writeable)(fc_conn *c, void *state);
    int (*timer)(fc_conn *c, void *state);
    void (*closed)(fc_conn *c, void *state);
    void (*drain)(fc_conn *c, void *state);
    fc_cap_kind capacity;
    /* Instead of callbacks: file mounts, {NULL}-terminated. */
    const fc_file_mount *files;
} fc_endpoint;

#endif
