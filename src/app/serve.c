/* `framecast serve`: decide who may use the server (the key, viewer tokens,
 * loopback or not), open the stream store, build the pipeline (sources ->
 * streams -> outputs -> the HTTP/WebSocket server) on one loop and one
 * worker pool from the command line's streams and the stored ones, run it
 * until SIGINT/SIGTERM, then stop it in order: refuse new work (the HAProxy
 * agent says drain at once), let running avatar sessions finish (up to
 * --drain-timeout), close every WebSocket left with a close frame, wait for
 * the sessions' last jobs and the stream changes in flight, shut the streams
 * down, let the server go, and return when the loop has nothing left. This
 * file builds and runs; the stop, step by step, is serve_stop.c's. */
#include <errno.h>
#include <stdatomic.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "analysis/face/face.h"
#include "app/commands.h"
#include "app/serve.h"
#include "app/serve_impl.h"
#include "avatar/generator.h"
#include "avatar/media.h"
#include "avatar/audio.h"
#include "avatar/session.h"
#include "core/capacity.h"
#include "core/core_metrics.h"
#include "core/log.h"
#include "core/loops.h"
#include "core/pool.h"
#include "encode/jpeg.h"
#include "sources/image.h"
#include "sources/source.h"
#include "store/store.h"
#include "stream/build.h"
#include "stream/registry.h"
#include "stream/stream_metrics.h"
#include "transport/api_streams.h"
#include "transport/auth/guard.h"
#include "transport/auth/hostcheck.h"
#include "transport/agent.h"
#include "transport/listener.h"
#include "transport/loop_metrics.h"
#include "transport/loop_servers.h"
#include "transport/server.h"
#include "transport/webrtc.h"
#include "transport/ws_stream.h"

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
        /* A type this build does not have is not a typo in the command line
         * but a stream that cannot run: it is made, `failed`, with the
         * reason (fc_source_create). */
        int rc =
            fc_source_spec_parse(o->sources.v[i], &srv->specs[o->synthetic + i], err, sizeof err);
        if (rc != 0 && rc != FC_SPEC_UNKNOWN_TYPE) {
            fprintf(stderr, "framecast serve: bad --source: %s\n", err);
            return 2;
        }
    }
    return 0;
}

/* ---- who may use it, and the store ---- */

/* The key, the viewing policy and the rule that a server others can reach
 * has a key. 0, or the exit code after the message. */
static int decide_access(server *srv)
{
    const fc_serve_opts *o = srv->o;
    char err[1400];
    fc_api_key *key = NULL;
    int rc = fc_api_key_load(o->api_key_file, getenv(FC_API_KEY_ENV), &key, err, sizeof err);
    if (rc != 0 && rc != -ENOKEY) {
        fprintf(stderr, "framecast serve: %s\n", err);
        return 1;
    }
    bool tokens = strcmp(o->viewer_tokens, "required") == 0;
    if (!key && tokens) {
        fprintf(stderr,
                "framecast serve: --viewer-tokens required: viewer tokens are signed with the API "
                "key; give --api-key-file PATH or set " FC_API_KEY_ENV
                " (make a key with: openssl rand -hex 32)\n");
        return 2;
    }
    if (!key && fc_host_loopback_only(o->host, err, sizeof err) == 0) {
        fprintf(stderr,
                "framecast serve: %s, and there is no API key: anyone who can reach it could "
                "change streams and start sessions. Give --api-key-file PATH or set " FC_API_KEY_ENV
                " (make a key with: openssl rand -hex 32), or listen on 127.0.0.1\n",
                err);
        return 2;
    }
    bool from_file = o->api_key_file != NULL;
    if (fc_auth_new(key, tokens ? FC_VIEWERS_TOKEN : FC_VIEWERS_OPEN, &srv->auth, err,
                    sizeof err) != 0) {
        fprintf(stderr, "framecast serve: %s\n", err);
        return 1;
    }
    if (fc_auth_has_key(srv->auth))
        fc_info("access: changes need the API key (from %s); viewer tokens %s",
                from_file ? o->api_key_file : FC_API_KEY_ENV, o->viewer_tokens);
    else
        fc_warn("access: no API key, so the server stays on loopback and every local process may "
                "change streams and start sessions (--api-key-file PATH or " FC_API_KEY_ENV
                " sets one)");
    return 0;
}

/* The store, and the streams it holds. 0, or the exit code. */
static int open_store(server *srv)
{
    const fc_serve_opts *o = srv->o;
    const char *env = getenv(FC_DB_ENV);
    srv->db = env && *env ? env : o->db;
    char err[1400];
    if (fc_store_open(srv->db, &srv->store, err, sizeof err) != 0 ||
        fc_store_load(srv->store, o->max_streams, &srv->rows, &srv->nrows, err, sizeof err) != 0) {
        fprintf(stderr, "framecast serve: stream store: %s\n", err);
        return 1;
    }
    if (env && *env && strcmp(env, o->db) != 0)
        fc_info("stream store: %s (from " FC_DB_ENV ", over --db %s), %zu stored streams", srv->db,
                o->db, srv->nrows);
    else
        fc_info("stream store: %s, %zu stored streams", srv->db, srv->nrows);
    return 0;
}

/* ---- build ---- */

static bool detects(const fc_serve_opts *o, const fc_source_spec *spec, int setting)
{
    int d = setting >= 0 ? setting : spec->detect;
    return d == 1 || (d < 0 && o->detect);
}

static fc_stream_settings settings_of(const fc_store_stream *row)
{
    fc_stream_settings set = {
        .encode_fps = row->encode_fps, .detect = row->detect, .detect_fps = row->detect_fps};
    memcpy(set.quality, row->quality, sizeof set.quality);
    return set;
}

/* The face detector, opened once: streams with detection need it; avatar
 * sessions use it, when the model is there, to find the face in each
 * picture, and run without it. Streams added later through the API get
 * detection only when it opened. */
static int open_detector(server *srv, char *err, size_t errlen)
{
    const fc_serve_opts *o = srv->o;
    bool needed = false;
    for (int i = 0; i < srv->nspecs; i++)
        needed |= detects(o, &srv->specs[i], -1);
    for (size_t i = 0; i < srv->nrows; i++) {
        fc_source_spec spec;
        needed |= fc_source_spec_parse(srv->rows[i].spec, &spec, NULL, 0) == 0 &&
                  detects(o, &spec, srv->rows[i].detect);
    }
    char why[512];
    fc_face_detector_opts dopts = {.square_input = strcmp(o->detect_input, "square") == 0};
    int rc = fc_face_detector_open(o->model, &dopts, &srv->detector, why, sizeof why);
    if (rc == 0) return 0;
    srv->detector = NULL;
    snprintf(srv->defaults.detector_missing, sizeof srv->defaults.detector_missing, "%s", why);
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

/* What a stream takes from the flags when neither its spec nor its
 * settings say. */
static void set_defaults(server *srv)
{
    const fc_serve_opts *o = srv->o;
    fc_stream_defaults *d = &srv->defaults;
    d->width = o->size[0];
    d->height = o->size[1];
    d->fps = o->fps;
    d->encode_fps = o->encode_fps;
    memcpy(d->quality, o->quality, sizeof d->quality);
    d->detect = o->detect;
    d->detect_fps = o->detect_fps;
    d->motion_threshold = o->motion_threshold;
    d->tracker = o->tracker;
    d->ptz = o->ptz;
    d->detector = srv->detector;
    d->event = fc_ws_stream_detections_event;
    d->loop_lag = &srv->core_metrics.loop_lag_ms;
    d->idle_close = o->idle_close;
    d->key_only = fc_key_only_policy_parse(o->detect_key_frames);
    d->keyint = o->keyint;
}

/* One line per stream: what it is, its size and rates, and when its source
 * runs. */
static void log_stream(const fc_stream *s, const fc_source_spec *spec, const fc_stream_info *info)
{
    const fc_source *src = fc_stream_source(s);
    const fc_stream_config *cfg = fc_stream_config_of(s);
    char size[32] = "its own size", rate[48] = "its own rate", cap[48] = "", det[48] = "";
    if (src->width > 0) snprintf(size, sizeof size, "%dx%d", src->width, src->height);
    if (cfg->fps > 0) snprintf(rate, sizeof rate, "%g fps", cfg->fps);
    if (cfg->encode_fps > 0 && (cfg->encode_fps < cfg->fps || cfg->fps <= 0))
        snprintf(cap, sizeof cap, " (encode cap %g fps)", cfg->encode_fps);
    if (cfg->detect.detector)
        snprintf(det, sizeof det, ", face detection at %g Hz", cfg->detect.fps);
    const char *when = "";
    if (fc_source_spec_pushes(spec) && fc_source_type_known(spec->type))
        when = strcmp(spec->type, "file") == 0 || strcmp(spec->type, "synthetic") == 0
                   ? ", paused until consumed"
                   : ", connected when first consumed";
    fc_info("stream %s: %s %s at %s%s%s%s%s", fc_stream_id(s), src->description, size, rate, cap,
            det, when, info->origin == FC_ORIGIN_API ? ", stored" : "");
}

/* A stream made but not listed (its id was taken): freed once it has shut
 * down. */
static void free_unlisted(fc_stream *s, void *arg)
{
    (void)arg;
    fc_stream_free(s);
}

/* Builds and starts one stream; at start-up the source is made on this
 * thread, before anything is served. */
static int add_stream(server *srv, const char *id, const fc_source_spec *spec,
                      const fc_stream_info *info, char *err, size_t errlen)
{
    fc_stream_plan plan;
    fc_source *src;
    fc_stream *s;
    int rc =
        fc_stream_plan_make(&srv->defaults, id, spec, &info->settings, false, &plan, err, errlen);
    if (rc == 0) rc = fc_stream_plan_source(&plan, &src, err, errlen);
    if (rc == 0)
        rc = fc_stream_plan_build(&plan, &srv->defaults, &srv->loop, srv->pool, src, &s, err,
                                  errlen);
    if (rc != 0) return rc;
    if ((rc = fc_stream_set_add(&srv->streams, s, info)) != 0) {
        snprintf(err, errlen,
                 rc == -EEXIST ? "stream id '%s' is used twice" : "stream %s: out of memory", id);
        /* Started (a pushing source's thread runs): shut down, then freed. */
        fc_stream_shutdown(s, free_unlisted, NULL);
        return rc;
    }
    log_stream(s, spec, info);
    fc_stream_start(s);
    return 0;
}

/* The command line's streams, then the stored ones, oldest first. */
static int add_streams(server *srv, char *err, size_t errlen)
{
    const fc_serve_opts *o = srv->o;
    if ((size_t)srv->nspecs + srv->nrows > o->max_streams) {
        snprintf(err, errlen,
                 "%d streams on the command line and %zu stored in %s: more than "
                 "--max-streams %zu",
                 srv->nspecs, srv->nrows, srv->db, o->max_streams);
        return -E2BIG;
    }
    fc_stream_info cli = {.origin = FC_ORIGIN_CLI, .settings = FC_STREAM_SETTINGS_UNSET};
    for (int i = 0; i < srv->nspecs; i++) {
        char id[FC_ID_MAX];
        if (srv->specs[i].id[0])
            snprintf(id, sizeof id, "%s", srv->specs[i].id);
        else
            snprintf(id, sizeof id, "cam%d", i);
        int rc = add_stream(srv, id, &srv->specs[i], &cli, err, errlen);
        if (rc != 0) return rc;
    }
    for (size_t i = 0; i < srv->nrows; i++) {
        const fc_store_stream *row = &srv->rows[i];
        fc_stream_info info = {.origin = FC_ORIGIN_API,
                               .settings = settings_of(row),
                               .created = row->created,
                               .updated = row->updated};
        snprintf(info.spec, sizeof info.spec, "%s", row->spec);
        fc_source_spec spec;
        char why[1200];
        int rc = fc_source_spec_parse(row->spec, &spec, why, sizeof why) != 0 ? -EINVAL : 0;
        if (rc == 0 && fc_stream_set_find(&srv->streams, row->id)) {
            snprintf(why, sizeof why, "the command line has a stream of that id too");
            rc = -EEXIST;
        }
        if (rc == 0) rc = add_stream(srv, row->id, &spec, &info, why, sizeof why);
        if (rc != 0) {
            snprintf(err, errlen,
                     "stream '%s' stored in %s: %s (restore what it needs, or remove it: sqlite3 "
                     "%s \"DELETE FROM streams WHERE id = '%s'\")",
                     row->id, srv->db, why, srv->db, row->id);
            return rc;
        }
    }
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
    srv->avatar.keyint_s = o->keyint;
    srv->avatar.max_sessions = o->max_live_sessions;
    if ((rc = fc_avatar_metrics_register(srv->metrics, &srv->avatar)) != 0) {
        snprintf(err, errlen, "out of memory registering metrics");
        return rc;
    }
    fc_info("avatar sessions: generator %s, media directory %s", srv->gen.gen->name,
            srv->media.root);
    return 0;
}

/* The budgets and the load signals admission and the agent read. */
static int start_capacity(server *srv, char *err, size_t errlen)
{
    const fc_serve_opts *o = srv->o;
    fc_capacity_config cc = {
        .max_sessions = o->max_sessions
                            ? o->max_sessions
                            : FC_SESSIONS_PER_WORKER * (unsigned)fc_pool_threads(srv->pool),
        .max_subscribers = o->max_subscribers,
        .budgets_only = strcmp(o->load_admission, "off") == 0,
        .loop = &srv->loop,
        .pool = srv->pool,
        .loop_lag = &srv->core_metrics.loop_lag_ms,
        .missed_deadlines = &srv->avatar.stats.missed_deadlines,
        .frames_made = &srv->avatar.stats.frames_generated,
    };
    int rc = fc_capacity_create(&cc, &srv->capacity, err, errlen);
    if (rc == 0 && fc_capacity_metrics_register(srv->capacity, srv->metrics) != 0) {
        snprintf(err, errlen, "out of memory registering metrics");
        rc = -ENOMEM;
    }
    if (rc == 0 && cc.max_subscribers)
        fc_info("capacity: %u avatar sessions, %u stream subscribers at most", cc.max_sessions,
                cc.max_subscribers);
    else if (rc == 0)
        fc_info("capacity: %u avatar sessions at most", cc.max_sessions);
    return rc;
}

/* --loops > 1: a server on every other loop, and the router that hands
 * them stream viewers (router.h). Viewer tokens are checked on the first
 * loop only, so with them every viewer stays there. */
static int start_other_loops(server *srv, fc_http_server_config *hc, char *err, size_t errlen)
{
    srv->loop_metrics.loops = &srv->loops;
    if (srv->loops.n > 1 && strcmp(srv->o->viewer_tokens, "required") == 0) {
        /* A warning only for loops asked for: the default is one per core. */
        fc_log(srv->o->loops ? FC_LOG_WARN : FC_LOG_INFO,
               "%d loops: viewer tokens are checked on the first loop, so every viewer is "
               "served there",
               srv->loops.n);
        return fc_loop_metrics_register(srv->metrics, &srv->loop_metrics);
    }
    if (srv->loops.n > 1 && fc_feeds_new(&srv->loops, &srv->streams, &srv->feeds) != 0) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    hc->feeds = srv->feeds;
    hc->ws_total = &srv->ws_total;
    for (int i = 1; i < srv->loops.n; i++) {
        int rc = fc_loop_server_start(srv->loops.loop[i], hc, &srv->loop_servers[i], err, errlen);
        srv->loop_servers_running = i;
        if (rc != 0) return rc;
    }
    if (srv->loops.n > 1 &&
        fc_router_new(&srv->loops, srv->loop_servers, srv->capacity, &srv->router) != 0) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (srv->loops.n > 1 &&
        fc_census_new(&srv->loops, srv->loop_servers, srv->feeds, &srv->census) != 0) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    hc->router = srv->router;
    hc->census = srv->census;
    hc->feeds = NULL;
    srv->loop_metrics.router = srv->router;
    srv->loop_metrics.feeds = srv->feeds;
    return fc_loop_metrics_register(srv->metrics, &srv->loop_metrics);
}

static int start_http(server *srv, char *err, size_t errlen)
{
    const fc_serve_opts *o = srv->o;
    unsigned max_clients = fd_limited_clients(o->max_clients, o->max_pending);
    int rc = start_capacity(srv, err, errlen);
    if (rc != 0) return rc;
    fc_http_server_config hc = {
        .host = o->host,
        .port = o->port,
        .web_root = o->web_root,
        .pool = srv->pool,
        .queue_default = o->queue,
        .ping_secs = o->ping_secs,
        .hangup_secs = 2 * o->ping_secs,
        .max_clients = max_clients,
        .capacity = srv->capacity,
        .max_pending = o->max_pending,
        .max_peer_connections = o->max_peer_connections,
        .header_timeout_s = o->header_timeout_s,
        .avatar = &srv->avatar,
        .media = &srv->media,
        .max_upload_image = o->max_upload_image,
        .max_upload_audio = o->max_upload_audio,
        .auth = srv->auth,
        .api = srv->api,
        .webrtc = srv->webrtc,
        .connect_src = srv->webrtc ? fc_webrtc_origin(srv->webrtc) : NULL,
        .upload_timeout_s = o->upload_timeout_s,
        .upload_min_rate = o->upload_min_rate,
        .upload_max_files = o->upload_max_files,
        .upload_quota = o->upload_quota,
        .upload_expiry_s = o->upload_expiry_s,
    };
    hc.loops = srv->loops.n;
    if ((rc = start_other_loops(srv, &hc, err, errlen)) != 0) return rc;
    rc =
        fc_http_server_start(&srv->loop, &hc, &srv->streams, srv->metrics, &srv->http, err, errlen);
    /* After the families it adds the other loops' samples to. */
    if (rc == 0 && srv->census && fc_census_register(srv->census, srv->metrics) != 0) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    return rc;
}

/* A mountpoint per stream in Janus, for the streams there are and those
 * added later; Janus need not be up yet. */
static int start_webrtc(server *srv, char *err, size_t errlen)
{
    const fc_serve_opts *o = srv->o;
    if (!o->janus_url) return 0;
    fc_webrtc_config wc = {
        .url = o->janus_url, .admin_key = o->janus_admin_key, .streams = &srv->streams};
    int rc = fc_webrtc_open(&srv->loop, &wc, &srv->webrtc, err, errlen);
    if (rc == 0) fc_info("WebRTC through Janus at %s", o->janus_url);
    return rc;
}

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
    set_defaults(srv);
    if ((rc = add_streams(srv, err, errlen)) != 0) return rc;
    fc_stream_api_config ac = {
        .loop = &srv->loop,
        .pool = srv->pool,
        .store = srv->store,
        .streams = &srv->streams,
        .defaults = &srv->defaults,
        .max_streams = srv->o->max_streams,
    };
    if (fc_stream_api_new(&ac, &srv->api) != 0 ||
        fc_stream_api_metrics_register(srv->api, srv->metrics) != 0 ||
        fc_auth_metrics_register(srv->auth, srv->metrics) != 0) {
        snprintf(err, errlen, "out of memory starting the stream API");
        return -ENOMEM;
    }
    if ((rc = start_webrtc(srv, err, errlen)) != 0 || (rc = start_avatars(srv, err, errlen)) != 0 ||
        (rc = start_http(srv, err, errlen)) != 0)
        return rc;
    if (srv->o->agent_port >= 0 &&
        (rc = fc_agent_start(&srv->loop, srv->o->agent_host, srv->o->agent_port, srv->capacity,
                             srv->metrics, &srv->agent, err, errlen)) != 0)
        return rc;
    uv_signal_init(&srv->loop.uv, &srv->sigint);
    uv_signal_init(&srv->loop.uv, &srv->sigterm);
    srv->sigint.data = srv->sigterm.data = srv;
    uv_signal_start(&srv->sigint, fc_serve_on_signal, SIGINT);
    uv_signal_start(&srv->sigterm, fc_serve_on_signal, SIGTERM);
    srv->signals = true;
    return 0;
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
    /* Before the line that says the server is up, which tools wait for. */
    const fc_listener *agent = srv->agent ? fc_agent_listener(srv->agent) : NULL;
    for (size_t i = 0; agent && i < fc_listener_count(agent); i++)
        fc_info("HAProxy agent-check answers on %s", fc_listener_address(agent, i));
    fc_info("framecast %s listening on %s with %zu streams, %d workers and %d event loop%s",
            FC_VERSION, where, srv->streams.n, fc_pool_threads(srv->pool), srv->loops.n,
            srv->loops.n == 1 ? "" : "s");
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
    if ((rc = parse_specs(&srv)) != 0 || (rc = decide_access(&srv)) != 0 ||
        (rc = open_store(&srv)) != 0) {
        fc_store_close(srv.store);
        fc_auth_free(srv.auth);
        free(srv.specs);
        free(srv.rows);
        return rc;
    }
    int lrc = fc_loop_init(&srv.loop);
    if (lrc == 0 && (lrc = fc_loops_start(&srv.loops, o.loops ? (int)o.loops : fc_loops_default(),
                                          &srv.loop)) != 0) {
        fc_loop_close(&srv.loop);
        uv_run(&srv.loop.uv, UV_RUN_DEFAULT);
        uv_loop_close(&srv.loop.uv);
    }
    if (lrc != 0) {
        fc_error("cannot start the event loops");
        fc_store_close(srv.store);
        fc_auth_free(srv.auth);
        free(srv.specs);
        free(srv.rows);
        return 1;
    }
    char err[2400];
    if (build(&srv, err, sizeof err) != 0) {
        fc_error("%s", err);
        fc_serve_unwind(&srv);
        fc_serve_free_parts(&srv);
        return 1;
    }
    srv.state = SERVE_RUNNING;
    log_listening(&srv);
    uv_run(&srv.loop.uv, UV_RUN_DEFAULT);
    fc_loops_join(&srv.loops);
    /* The other loops' last connection closes (fc_router_gone) may have
     * come after the first loop's last turn: their records go now. */
    fc_loop_run_left(&srv.loop);
    fc_info("stopped");
    fc_serve_free_parts(&srv);
    return 0;
}
