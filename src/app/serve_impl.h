/* What `framecast serve`'s two halves share: the server being built, run
 * and stopped (serve.c builds and runs it, serve_stop.c stops it step by
 * step). Private to src/app/serve*.c. Loop thread (the first loop's) only. */
#ifndef FC_APP_SERVE_IMPL_H
#define FC_APP_SERVE_IMPL_H

#include <stdatomic.h>
#include <stdbool.h>

#include "analysis/face/face.h"
#include "app/serve.h"
#include "avatar/generator.h"
#include "avatar/media.h"
#include "avatar/session.h"
#include "core/capacity.h"
#include "core/core_metrics.h"
#include "core/loops.h"
#include "core/pool.h"
#include "sources/source.h"
#include "store/store.h"
#include "stream/build.h"
#include "stream/registry.h"
#include "transport/agent.h"
#include "transport/api_streams.h"
#include "transport/auth/guard.h"
#include "transport/loop_metrics.h"
#include "transport/census.h"
#include "transport/loop_servers.h"
#include "transport/server.h"
#include "transport/webrtc.h"

/* Where a server is in its life; each stop step moves it on. */
typedef enum {
    SERVE_BUILDING,        /* parts being made; a failure unwinds what exists */
    SERVE_RUNNING,         /* the loop serves */
    SERVE_DRAINING,        /* a signal came: sessions finish, then WebSockets get 1001 */
    SERVE_ENDING_SESSIONS, /* waiting for the avatar sessions' last jobs */
    SERVE_ENDING_CHANGES,  /* waiting for the stream changes in flight (503 to new ones) */
    SERVE_ENDING_STREAMS,  /* streams shut down, their jobs finishing */
    SERVE_STOPPED,         /* the server is let go; the loop returns */
} serve_state;

typedef struct server {
    serve_state state;
    const fc_serve_opts *o;
    fc_source_spec *specs;
    int nspecs;
    fc_store_stream *rows; /* the stored streams, as loaded at start */
    size_t nrows;
    fc_store *store;
    const char *db; /* the store's path, for messages */
    fc_auth *auth;
    fc_loop loop;
    fc_loops loops; /* loop is loops.loop[0] */
    /* With --loops > 1: the other loops' servers, the router that hands
     * them viewers, the streams' feeds to them (router.h, feeds.h). */
    fc_loop_server *loop_servers[FC_LOOPS_MAX];
    int loop_servers_running;
    fc_router *router;
    fc_feeds *feeds;
    fc_census *census; /* the other loops' figures in /metrics */
    atomic_uint ws_total;
    fc_loop_metrics loop_metrics;
    fc_pool *pool;
    fc_face_detector *detector; /* shared by every stream and the avatar sessions */
    fc_metrics *metrics;
    fc_core_metrics core_metrics;
    fc_stream_defaults defaults;
    fc_stream_set streams;
    fc_stream_api *api;
    fc_http_server *http;
    fc_capacity *capacity;
    fc_agent *agent;   /* NULL without --agent-port */
    fc_webrtc *webrtc; /* NULL without --janus */
    fc_media media;
    fc_generator_lib gen;
    fc_avatar_env avatar;
    uv_signal_t sigint, sigterm;
    bool signals;
} server;

/* serve_stop.c */
/* SIGINT/SIGTERM: the first drains (sessions finish, up to
 * --drain-timeout), a second closes the connections at once; then the stop
 * goes on by itself, step by step, until the loop returns. */
void fc_serve_on_signal(uv_signal_t *h, int signum);
/* A failed build: closes what was made and runs the loop until it is gone. */
void fc_serve_unwind(server *srv);
/* After the loop returned: frees every part. */
void fc_serve_free_parts(server *srv);

#endif
