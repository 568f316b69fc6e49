/* `framecast serve`, stopping (serve_impl.h): refuse new work, let the
 * avatar sessions finish, close the WebSockets, wait for the sessions' last
 * jobs and the stream changes in flight, close the streams, the other loops'
 * servers and the Janus session, let lws go; or, after a failed build,
 * unwind what was made. Loop thread (the first loop's). */
#include <signal.h>
#include <stdlib.h>

#include "app/serve_impl.h"
#include "core/log.h"

/* ---- stop, step by step ---- */

/* The other loops' threads end once their last handles close; each frees
 * its server there (loops.h on_exit); they are joined after the first loop
 * returns. */
static void free_loop_server(void *arg)
{
    fc_loop_server_free(arg);
}

static void stop_loops(server *srv)
{
    for (int i = 1; i < srv->loops.n; i++)
        if (srv->loop_servers[i])
            fc_loops_on_exit(&srv->loops, i, free_loop_server, srv->loop_servers[i]);
    fc_loops_stop(&srv->loops);
}

static void on_webrtc_closed(void *arg)
{
    server *srv = arg;
    /* Everything that could touch a socket is finished: let lws go, then the
     * last handles close and uv_run returns. */
    srv->state = SERVE_STOPPED;
    stop_loops(srv);
    fc_agent_close(srv->agent);
    fc_http_server_destroy(srv->http);
    uv_close((uv_handle_t *)&srv->sigint, NULL);
    uv_close((uv_handle_t *)&srv->sigterm, NULL);
    fc_loop_close(&srv->loop);
}

/* The streams are gone, and with them their mountpoints (fc_webrtc is a
 * user of each): the Janus session goes last, within the client's request
 * deadline. */
static void on_streams_closed(void *arg);

/* Every other loop's server has closed its viewers and lws. */
static void on_loop_server_stopped(void *arg)
{
    server *srv = arg;
    if (--srv->loop_servers_running > 0) return;
    on_streams_closed(srv);
}

static void on_streams_closed(void *arg)
{
    server *srv = arg;
    if (srv->loop_servers_running > 0) {
        /* Their viewers had 1001 as the streams left (feeds.h). */
        for (int i = 1; i < srv->loops.n; i++)
            fc_loop_server_stop(srv->loop_servers[i], &srv->loop, on_loop_server_stopped, srv);
        return;
    }
    if (srv->webrtc)
        fc_webrtc_close(srv->webrtc, on_webrtc_closed, srv);
    else
        on_webrtc_closed(srv);
}

/* No change is in flight and none will start: the streams may go. */
static void on_changes_done(void *arg)
{
    server *srv = arg;
    srv->state = SERVE_ENDING_STREAMS;
    fc_stream_set_close(&srv->streams, on_streams_closed, srv);
}

static void on_avatars_idle(void *arg)
{
    server *srv = arg;
    srv->state = SERVE_ENDING_CHANGES;
    fc_stream_api_when_idle(srv->api, on_changes_done, srv);
}

/* Every connection is closed, so every avatar session is released; wait for
 * their last jobs before the streams and the loop go. */
static void on_drained(fc_http_server *http, void *arg)
{
    (void)http;
    server *srv = arg;
    srv->state = SERVE_ENDING_SESSIONS;
    fc_avatar_env_when_idle(&srv->avatar, on_avatars_idle, srv);
}

void fc_serve_on_signal(uv_signal_t *h, int signum)
{
    server *srv = h->data;
    const char *name = signum == SIGINT ? "SIGINT" : "SIGTERM";
    if (srv->state == SERVE_DRAINING) {
        fc_info("%s again: closing connections without waiting for sessions", name);
        fc_http_server_drain(srv->http, 0, on_drained, srv);
        return;
    }
    if (srv->state != SERVE_RUNNING) return;
    srv->state = SERVE_DRAINING;
    /* From here on the agent says drain and new work gets 503 (on the
     * first loop: the router keeps new viewers there). */
    fc_capacity_drain(srv->capacity);
    if (srv->router) fc_router_stop(srv->router);
    fc_info("%s: closing connections and stopping: new work is refused, running avatar "
            "sessions finish first (up to %d s)",
            name, srv->o->drain_timeout);
    fc_http_server_drain(srv->http, (unsigned)srv->o->drain_timeout * 1000u, on_drained, srv);
}

/* A failed build: nothing has run, so nothing is in flight; what was made
 * closes as the loop runs once more. */
void fc_serve_unwind(server *srv)
{
    for (int i = 1; i <= srv->loop_servers_running; i++)
        fc_loop_server_stop_wait(srv->loop_servers[i]);
    srv->loop_servers_running = 0;
    stop_loops(srv);
    fc_agent_close(srv->agent);
    fc_http_server_destroy(srv->http);
    fc_stream_set_close(&srv->streams, NULL, NULL);
    if (srv->webrtc) fc_webrtc_close(srv->webrtc, NULL, NULL);
    if (srv->signals) {
        uv_close((uv_handle_t *)&srv->sigint, NULL);
        uv_close((uv_handle_t *)&srv->sigterm, NULL);
    }
    fc_loop_close(&srv->loop);
    uv_run(&srv->loop.uv, UV_RUN_DEFAULT);
    fc_loops_join(&srv->loops);
}

void fc_serve_free_parts(server *srv)
{
    fc_http_server_free(srv->http);
    fc_router_free(srv->router);
    fc_feeds_free(srv->feeds);
    fc_census_free(srv->census);
    fc_agent_free(srv->agent);
    fc_capacity_free(srv->capacity);
    fc_webrtc_free(srv->webrtc);
    fc_pool_destroy(srv->pool);
    fc_face_detector_close(srv->detector);
    fc_generator_unload(&srv->gen);
    fc_media_close(&srv->media);
    fc_stream_set_clear(&srv->streams);
    fc_stream_api_free(srv->api);
    fc_auth_free(srv->auth);
    fc_store_close(srv->store);
    fc_metrics_free(srv->metrics);
    uv_loop_close(&srv->loop.uv);
    free(srv->specs);
    free(srv->rows);
}
