/* `framecast serve`: build the pipeline (sources -> streams -> outputs ->
 * the HTTP/WebSocket server) on one loop and one worker pool, run it until
 * SIGINT/SIGTERM, then stop it in order: close every WebSocket with a close
 * frame, wait for the avatar sessions' last jobs, shut the streams down, let
 * the server go, and return when the loop has nothing left. */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "analysis/face/face.h"
#include "app/commands.h"
#include "app/serve.h"
#include "avatar/generator.h"
#include "avatar/media.h"
#include "avatar/audio.h"
#include "avatar/session.h"
#include "core/core_metrics.h"
#include "core/log.h"
#include "core/pool.h"
#include "encode/jpeg.h"
#include "sources/image.h"
#include "sources/source.h"
#include "stream/registry.h"
#include "stream/stream_metrics.h"
#include "transport/listener.h"
#include "transport/server.h"
#include "transport/ws_stream.h"

/* Where a server is in its life; each stop step moves it on. */
typedef enum {
    SERVE_BUILDING,        /* parts being made; a failure unwinds what exists */
    SERVE_RUNNING,         /* the loop serves */
    SERVE_DRAINING,        /* a signal came: WebSockets get 1001 and go */
    SERVE_ENDING_SESSIONS, /* waiting for the avatar sessions' last jobs */
    SERVE_ENDING_STREAMS,  /* streams shut down, their jobs finishing */
    SERVE_STOPPED,         /* the server is let go; the loop returns */
} serve_state;

typedef struct server {
    serve_state state;
    const fc_serve_opts *o;
    fc_source_spec *specs;
    int nspecs;
    fc_loop loop;
    fc_pool *pool;
    fc_face_detector *detector; /* shared by every stream and the avatar sessions */
    fc_metrics *metrics;
    fc_core_metrics core_metrics;
    fc_stream_set streams;
    fc_http_server *http;
    fc_media media;
    fc_generator_lib gen;
    fc_avatar_env avatar;
    uv_signal_t sigint, sigterm;
    bool signals;
    size_t streams_open;
} server;

/* ---- build ---- */

/* Every spec, parsed before anything is built, so a typo fails fast. */
static int parse_specs(server *srv)
{
    const fc_serve_opts *o = srv->o;
    srv->nspecs = o->synthetic + o->sources.n;
    srv->specs = calloc((size_t)(srv->nspecs ? srv->nspecs : 1), sizeof *srv->specs);
    if (!srv->specs) {
        fprintf(stderr, "framecast serve: out of memory\n");
        return 1;
    }
    for (int i = 0; i < o->synthetic; i++)
        fc_source_spec_parse("synthetic:procedural", &srv->specs[i], NULL, 0);
    for (int i = 0; i < o->sources.n; i++) {
        char err[512];
        if (fc_source_spec_parse(o->sources.v[i], &srv->specs[o->synthetic + i], err, sizeof err) !=
            0) {
            fprintf(stderr, "framecast serve: bad --source: %s\n", err);
            return 2;
        }
    }
    return 0;
}

static bool detects(const fc_serve_opts *o, const fc_source_spec *spec)
{
    return spec->detect == 1 || (spec->detect < 0 && o->detect);
}

/* The face detector, opened once: streams with detection need it; avatar
 * sessions use it, when the model is there, to find the face in each
 * picture, and run without it. */
static int open_detector(server *srv, char *err, size_t errlen)
{
    const fc_serve_opts *o = srv->o;
    bool needed = false;
    for (int i = 0; i < srv->nspecs; i++)
        needed |= detects(o, &srv->specs[i]);
    char why[512];
    fc_face_detector_opts dopts = {.square_input = strcmp(o->detect_input, "square") == 0};
    int rc = fc_face_detector_open(o->model, &dopts, &srv->detector, why, sizeof why);
    if (rc == 0) return 0;
    srv->detector = NULL;
    if (needed) {
        snprintf(err, errlen,
                 "face detection needs a model: %s (scripts/fetch-models fetches it, or give "
                 "--model PATH)",
                 why);
        return rc;
    }
    fc_warn("avatar sessions: no face detector (%s); generators get the face's place only from "
            "setup_kwargs.face",
            why);
    return 0;
}

static int add_stream(server *srv, const fc_source_spec *spec, int index, char *err, size_t errlen)
{
    const fc_serve_opts *o = srv->o;
    char id[FC_ID_MAX];
    if (spec->id[0])
        snprintf(id, sizeof id, "%s", spec->id);
    else
        snprintf(id, sizeof id, "cam%d", index);
    int w = spec->width ? spec->width : o->size[0];
    int h = spec->width ? spec->height : o->size[1];
    double fps = spec->fps > 0 ? spec->fps : o->fps;
    double efps = spec->encode_fps > 0 ? spec->encode_fps : o->encode_fps;
    if (efps <= 0 || efps > fps) efps = fps;
    fc_source *src;
    if (fc_source_create(spec, w, h, fps, &src, err, errlen) != 0) return -EINVAL;
    fc_stream_config cfg = {.fps = fps, .encode_fps = efps, .codec = &fc_jpeg_codec};
    memcpy(cfg.quality, o->quality, sizeof cfg.quality);
    if (detects(o, spec))
        cfg.detect = (fc_detect_config){
            .detector = srv->detector,
            .fps = spec->detect_fps > 0 ? spec->detect_fps : o->detect_fps,
            .motion_threshold = o->motion_threshold,
            .tracker = o->tracker,
            .ptz = o->ptz,
            .event = fc_ws_stream_detections_event,
        };
    fc_stream *s;
    int rc = fc_stream_create(&srv->loop, srv->pool, id, src, &cfg, &srv->core_metrics.loop_lag_ms,
                              &s, err, errlen);
    if (rc != 0) return rc;
    if ((rc = fc_stream_set_add(&srv->streams, s)) != 0) {
        snprintf(err, errlen,
                 rc == -EEXIST ? "stream id '%s' is used twice" : "stream %s: out of memory", id);
        fc_stream_free(s);
        return rc;
    }
    if (cfg.detect.detector)
        fc_info("stream %s: %s %dx%d at %g fps (encode cap %g fps), face detection at %g Hz", id,
                src->description, w, h, fps, efps, fc_stream_config_of(s)->detect.fps);
    else
        fc_info("stream %s: %s %dx%d at %g fps (encode cap %g fps)", id, src->description, w, h,
                fps, efps);
    fc_stream_start(s);
    return 0;
}

/* Each connection is a file descriptor: make sure the process may open as
 * many as --max-clients and --max-pending allow, or say how many clients it
 * can serve. */
static unsigned fd_limited_clients(unsigned want_clients, unsigned pending)
{
    struct rlimit rl;
    unsigned other = pending + FC_HTTP_ANSWERING_MAX + FC_HTTP_FD_SLACK + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return want_clients;
    rlim_t want = (rlim_t)want_clients + other;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur >= want) return want_clients;
    unsigned can = rl.rlim_cur > other ? (unsigned)(rl.rlim_cur - other) : 1;
    fc_warn("open-file limit is %llu: serving at most %u clients, not %u",
            (unsigned long long)rl.rlim_cur, can, want_clients);
    return can;
}

static int start_avatars(server *srv, char *err, size_t errlen)
{
    const fc_serve_opts *o = srv->o;
    int rc = fc_media_open(o->media_dir, &srv->media, err, errlen) != 0 ||
                     fc_generator_load(o->generator, &srv->gen, err, errlen) != 0
                 ? -EINVAL
                 : 0;
    if (rc != 0) return rc;
    fc_avatar_env_init(&srv->avatar, &srv->loop, srv->pool, srv->gen.gen, &srv->media, o->quality,
                       o->queue);
    srv->avatar.detector = srv->detector;
    srv->avatar.max_sessions = o->max_sessions;
    if ((rc = fc_avatar_metrics_register(srv->metrics, &srv->avatar)) != 0) {
        snprintf(err, errlen, "out of memory registering metrics");
        return rc;
    }
    fc_info("avatar sessions: generator %s, media directory %s", srv->gen.gen->name,
            srv->media.root);
    return 0;
}

static int start_http(server *srv, char *err, size_t errlen)
{
    const fc_serve_opts *o = srv->o;
    fc_http_server_config hc = {
        .host = o->host,
        .port = o->port,
        .web_root = o->web_root,
        .pool = srv->pool,
        .queue_default = o->queue,
        .ping_secs = o->ping_secs,
        .hangup_secs = 2 * o->ping_secs,
        .max_clients = fd_limited_clients(o->max_clients, o->max_pending),
        .max_pending = o->max_pending,
        .max_peer_connections = o->max_peer_connections,
        .header_timeout_s = o->header_timeout_s,
        .avatar = &srv->avatar,
        .media = &srv->media,
        .max_upload_image = o->max_upload_image,
        .max_upload_audio = o->max_upload_audio,
        .upload_timeout_s = o->upload_timeout_s,
        .upload_min_rate = o->upload_min_rate,
        .upload_max_files = o->upload_max_files,
        .upload_quota = o->upload_quota,
        .upload_expiry_s = o->upload_expiry_s,
    };
    return fc_http_server_start(&srv->loop, &hc, &srv->streams, srv->metrics, &srv->http, err,
                                errlen);
}

static void on_signal(uv_signal_t *h, int signum);

/* Makes every part, in the order a frame travels. */
static int build(server *srv, char *err, size_t errlen)
{
    int rc = fc_pool_create(srv->o->workers, &srv->pool);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the worker pool: %s", strerror(-rc));
        return rc;
    }
    fc_pool_set_queue_limit(srv->pool, FC_JOB_SETUP, srv->o->max_setup_jobs);
    srv->metrics = fc_metrics_new();
    fc_core_metrics_init(&srv->core_metrics, &srv->loop, srv->pool);
    if (!srv->metrics || fc_core_metrics_register(&srv->core_metrics, srv->metrics) != 0 ||
        fc_stream_metrics_register(srv->metrics, &srv->streams) != 0 ||
        fc_image_metrics_register(srv->metrics) != 0 ||
        fc_audio_metrics_register(srv->metrics) != 0) {
        snprintf(err, errlen, "out of memory registering metrics");
        return -ENOMEM;
    }
    if ((rc = open_detector(srv, err, errlen)) != 0) return rc;
    for (int i = 0; i < srv->nspecs; i++)
        if ((rc = add_stream(srv, &srv->specs[i], i, err, errlen)) != 0) return rc;
    if ((rc = start_avatars(srv, err, errlen)) != 0 || (rc = start_http(srv, err, errlen)) != 0)
        return rc;
    uv_signal_init(&srv->loop.uv, &srv->sigint);
    uv_signal_init(&srv->loop.uv, &srv->sigterm);
    srv->sigint.data = srv->sigterm.data = srv;
    uv_signal_start(&srv->sigint, on_signal, SIGINT);
    uv_signal_start(&srv->sigterm, on_signal, SIGTERM);
    srv->signals = true;
    return 0;
}

/* ---- stop, step by step ---- */

static void on_stream_closed(fc_stream *s, void *arg)
{
    (void)s;
    server *srv = arg;
    if (--srv->streams_open > 0) return;
    /* Everything that could touch a socket is finished: let lws go, then the
     * last handles close and uv_run returns. */
    srv->state = SERVE_STOPPED;
    fc_http_server_destroy(srv->http);
    uv_close((uv_handle_t *)&srv->sigint, NULL);
    uv_close((uv_handle_t *)&srv->sigterm, NULL);
    fc_loop_close(&srv->loop);
}

static void on_avatars_idle(void *arg)
{
    server *srv = arg;
    srv->state = SERVE_ENDING_STREAMS;
    /* One count for this call, so the last stream to close is the one that
     * finishes, even when every stream closes at once. */
    srv->streams_open = srv->streams.n + 1;
    for (size_t i = 0; i < srv->streams.n; i++)
        fc_stream_shutdown(srv->streams.v[i], on_stream_closed, srv);
    on_stream_closed(NULL, srv);
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

static void on_signal(uv_signal_t *h, int signum)
{
    server *srv = h->data;
    if (srv->state != SERVE_RUNNING) return;
    srv->state = SERVE_DRAINING;
    fc_info("%s: closing connections and stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
    fc_http_server_drain(srv->http, 1000, on_drained, srv);
}

/* ---- run ---- */

/* One line that says exactly where we listen: every bound address. */
static void log_listening(const server *srv)
{
    const fc_listener *l = fc_http_server_listener(srv->http);
    char where[FC_LISTEN_MAX * 80] = "";
    size_t n = 0;
    for (size_t i = 0; i < fc_listener_count(l) && n < sizeof where; i++)
        n += (size_t)snprintf(where + n, sizeof where - n, "%shttp://%s/", i ? " and " : "",
                              fc_listener_address(l, i));
    fc_info("framecast %s listening on %s with %zu streams and %d workers", FC_VERSION, where,
            srv->streams.n, fc_pool_threads(srv->pool));
}

/* A failed build: nothing has run, so nothing is in flight; what was made
 * closes as the loop runs once more. */
static void unwind(server *srv)
{
    fc_http_server_destroy(srv->http);
    for (size_t i = 0; i < srv->streams.n; i++)
        fc_stream_shutdown(srv->streams.v[i], NULL, NULL);
    if (srv->signals) {
        uv_close((uv_handle_t *)&srv->sigint, NULL);
        uv_close((uv_handle_t *)&srv->sigterm, NULL);
    }
    fc_loop_close(&srv->loop);
    uv_run(&srv->loop.uv, UV_RUN_DEFAULT);
}

static void free_parts(server *srv)
{
    fc_http_server_free(srv->http);
    fc_pool_destroy(srv->pool);
    fc_face_detector_close(srv->detector);
    fc_generator_unload(&srv->gen);
    fc_media_close(&srv->media);
    for (size_t i = 0; i < srv->streams.n; i++)
        fc_stream_free(srv->streams.v[i]);
    fc_stream_set_clear(&srv->streams);
    fc_metrics_free(srv->metrics);
    uv_loop_close(&srv->loop.uv);
    free(srv->specs);
}

int fc_cmd_serve(int argc, char **argv)
{
    static fc_serve_opts o; /* large (paths, the --source list): not on the stack */
    int rc = fc_serve_parse(argc, argv, &o);
    if (rc != 0) return rc == 1 ? 0 : rc;
    fc_log_level level;
    fc_log_parse_level(o.log_level, &level);
    fc_log_set_level(level);
    /* Before any picture or speech file is loaded, image sources included. */
    fc_image_set_max_pixels((uint64_t)o.max_picture_pixels);
    fc_audio_set_max_samples((uint64_t)o.max_audio_samples);

    /* Frames (1.4 MB at 720p) come and go many times a second. By default
     * glibc maps blocks that size afresh, or trims its heaps as soon as a
     * burst of them is freed, so every frame was written into new pages the
     * kernel had to fault in and zero (over half the source CPU with 16
     * cameras). Keep them in the heap and keep the heap: memory stays at its
     * peak, which a server sized for its streams has anyway. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    signal(SIGPIPE, SIG_IGN);

    server srv = {.state = SERVE_BUILDING, .o = &o};
    if ((rc = parse_specs(&srv)) != 0) {
        free(srv.specs);
        return rc;
    }
    if (fc_loop_init(&srv.loop) != 0) {
        fc_error("cannot start the event loop");
        free(srv.specs);
        return 1;
    }
    char err[600];
    if (build(&srv, err, sizeof err) != 0) {
        fc_error("%s", err);
        unwind(&srv);
        free_parts(&srv);
        return 1;
    }
    srv.state = SERVE_RUNNING;
    log_listening(&srv);
    uv_run(&srv.loop.uv, UV_RUN_DEFAULT);
    fc_info("stopped");
    free_parts(&srv);
    return 0;
}
