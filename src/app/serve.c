/* `framecast serve`: parse the command line, build the pipeline (sources →
 * streams → HTTP/WebSocket server) on one loop and one worker pool, run until
 * SIGINT/SIGTERM, then close every WebSocket with a close frame and exit. */
#include <getopt.h>
#include <malloc.h>
#include <sys/resource.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/face/face.h"
#include "app/cli.h"
#include "avatar/audio.h"
#include "avatar/generator.h"
#include "avatar/media.h"
#include "avatar/session.h"
#include "app/commands.h"
#include "sources/image.h"
#include "sources/source.h"
#include "core/core_metrics.h"
#include "core/log.h"
#include "core/pool.h"
#include "stream/registry.h"
#include "stream/stream_metrics.h"
#include "transport/listener.h"
#include "transport/server.h"

#define MAX_SOURCES 256
#define DEFAULT_MODEL FC_MODEL_DIR "/blazeface-front-128.onnx"

typedef struct serve_opts {
    const char *host;
    int port;
    int synthetic;
    const char *specs[MAX_SOURCES];
    int nspecs;
    int width, height;
    double fps, encode_fps;
    int quality[FC_TIER_COUNT];
    size_t queue;
    int workers;
    const char *web_root;
    int ping_secs;
    unsigned max_clients;
    bool detect; /* --detect: every stream whose spec does not say */
    double detect_fps;
    double motion_threshold;
    const char *model;
    bool square_input; /* --detect-input square */
    fc_tracker_config tracker;
    fc_ptz_config ptz;
    const char *media_dir;
    const char *generator; /* plugin path; NULL = built-in puppet */
    size_t max_upload_image, max_upload_audio;
    long max_picture_pixels, max_audio_samples;
} serve_opts;

typedef struct server {
    fc_loop loop;
    fc_pool *pool;
    fc_face_detector *detector; /* shared by every stream that detects */
    fc_metrics *metrics;
    fc_core_metrics core_metrics;
    fc_stream_set streams;
    fc_http_server *http;
    fc_media media;
    fc_generator_lib gen;
    fc_avatar_env avatar;
    uv_signal_t sigint, sigterm;
    size_t streams_open;
    bool stopping;
} server;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: framecast serve [OPTIONS]\n\n"
            "Serves live streams over WebSocket (ws://HOST:PORT/ws/streams/ID) and HTTP\n"
            "(/, /healthz, /api/streams, /metrics).\n\n"
            "  --host ADDR         address to listen on (default 127.0.0.1)\n"
            "  --port N            TCP port (default 8080; 0 picks a free one)\n"
            "  --synthetic N       add N procedural test cameras (default 4 when no --source)\n"
            "  --source SPEC       add a stream; repeatable. SPEC is TYPE:ARGS[,key=value...]:\n"
            "                        synthetic:procedural\n"
            "                        synthetic:image=PATH   (pan and zoom over a PNG/JPEG)\n"
            "                      keys: id=NAME size=WxH fps=F encode_fps=F\n"
            "                        detect[=on|off|F] (face detection, at F Hz)\n"
            "                        motion=0 (image: a still picture, no pan or zoom)\n"
            "                      streams are named cam0, cam1, ... unless id= is given\n"
            "  --size WxH          default frame size (default 1280x720)\n"
            "  --fps F             default source frame rate (default 30)\n"
            "  --encode-fps F      default cap on encodes per second, <= fps (default = fps)\n"
            "  --quality H,M,L     JPEG quality of the high, medium, low tiers (default 85,75,60)\n"
            "  --queue N           frames a subscriber may have queued (default 50, max %d)\n"
            "  --workers N         worker threads (default: one per online core)\n"
            "  --web-root DIR      static files served at / (default %s)\n"
            "  --ping-interval S   ping idle WebSockets after S seconds; close them when\n"
            "                      nothing comes back within another S (default 10)\n"
            "  --max-clients N     WebSocket clients at once; more are refused (default 4096)\n"
            "  --log-level LEVEL   error, warn, info or debug (default info)\n"
            "\nAvatar sessions (ws://HOST:PORT/ws/CLIENT_ID, POST /upload, the /demo page):\n"
            "  --media-dir DIR     the only directory sessions read from and uploads go to;\n"
            "                      created when missing (default ./media)\n"
            "  --generator PATH    generator plugin (.so, include/framecast/generator.h);\n"
            "                      default: the built-in puppet\n"
            "  --max-upload-image N  bytes per uploaded picture (default 10485760)\n"
            "  --max-upload-audio N  bytes per uploaded speech file (default 20971520)\n"
            "  --max-picture-pixels N  width x height a picture may have, from its header,\n"
            "                      before it is decoded; larger ones are refused (default\n"
            "                      %u; also for synthetic:image sources)\n"
            "  --max-audio-samples N  rate x channels x seconds a speech file may hold,\n"
            "                      before it is decoded (default %llu, 48 kHz stereo\n"
            "                      for 600 s; longer than 600 s is refused too)\n"
            "\nDetection (ws://HOST:PORT/ws/streams/ID?view=ptz is the PTZ view):\n"
            "  --detect            face detection on every stream (a spec's detect= overrides)\n"
            "  --detect-fps F      inferences per second per stream at most (default 2)\n"
            "  --motion-threshold F  skip inference unless this fraction of a 64-cell-wide\n"
            "                      luma thumbnail changed since the last one (default 0.01;\n"
            "                      0 = always infer)\n"
            "  --track-expiry S    forget a face unmatched for S seconds (default 1.5)\n"
            "  --model PATH        BlazeFace ONNX model (default %s)\n"
            "  --detect-input band|square  the model sees the band of its square input the\n"
            "                      picture fills (default; 128x80 for 16:9, ~35%% less CPU)\n"
            "                      or the whole letterbox square, MediaPipe's reference\n"
            "  --ptz-face-size F   PTZ view: faces fill F of its height (default 0.3)\n"
            "  --ptz-face-y F      PTZ view: faces' centre at F of its height from the top\n"
            "                      (default 0.4)\n"
            "  --ptz-max-zoom Z    PTZ view: zoom in at most Z times (default 4)\n"
            "  --ptz-speed F       PTZ view: move at most F picture widths per second\n"
            "                      (default 0.5)\n"
            "  --ptz-hold S        PTZ view: back to the full picture after S seconds\n"
            "                      without a face (default 2)\n"
            "  -h, --help          this text\n",
            FC_QUEUE_MAX, FC_WEB_ROOT, FC_IMAGE_MAX_PIXELS_DEFAULT,
            (unsigned long long)FC_AUDIO_MAX_SAMPLES_DEFAULT, DEFAULT_MODEL);
}

static int parse_args(int argc, char **argv, serve_opts *o)
{
    enum {
        OPT_HOST = 256,
        OPT_PORT,
        OPT_SYNTHETIC,
        OPT_SOURCE,
        OPT_SIZE,
        OPT_FPS,
        OPT_ENCODE_FPS,
        OPT_QUALITY,
        OPT_QUEUE,
        OPT_WORKERS,
        OPT_WEB_ROOT,
        OPT_PING,
        OPT_MAX_CONN,
        OPT_LOG_LEVEL,
        OPT_DETECT,
        OPT_DETECT_FPS,
        OPT_MOTION,
        OPT_EXPIRY,
        OPT_MODEL,
        OPT_DETECT_INPUT,
        OPT_PTZ_SIZE,
        OPT_PTZ_Y,
        OPT_PTZ_ZOOM,
        OPT_PTZ_SPEED,
        OPT_PTZ_HOLD,
        OPT_MEDIA_DIR,
        OPT_GENERATOR,
        OPT_MAX_UP_IMAGE,
        OPT_MAX_UP_AUDIO,
        OPT_MAX_PICTURE_PIXELS,
        OPT_MAX_AUDIO_SAMPLES
    };
    static const struct option longopts[] = {
        {"host", required_argument, NULL, OPT_HOST},
        {"port", required_argument, NULL, OPT_PORT},
        {"synthetic", required_argument, NULL, OPT_SYNTHETIC},
        {"source", required_argument, NULL, OPT_SOURCE},
        {"size", required_argument, NULL, OPT_SIZE},
        {"fps", required_argument, NULL, OPT_FPS},
        {"encode-fps", required_argument, NULL, OPT_ENCODE_FPS},
        {"quality", required_argument, NULL, OPT_QUALITY},
        {"queue", required_argument, NULL, OPT_QUEUE},
        {"workers", required_argument, NULL, OPT_WORKERS},
        {"web-root", required_argument, NULL, OPT_WEB_ROOT},
        {"ping-interval", required_argument, NULL, OPT_PING},
        {"max-clients", required_argument, NULL, OPT_MAX_CONN},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"detect", no_argument, NULL, OPT_DETECT},
        {"detect-fps", required_argument, NULL, OPT_DETECT_FPS},
        {"motion-threshold", required_argument, NULL, OPT_MOTION},
        {"track-expiry", required_argument, NULL, OPT_EXPIRY},
        {"model", required_argument, NULL, OPT_MODEL},
        {"detect-input", required_argument, NULL, OPT_DETECT_INPUT},
        {"ptz-face-size", required_argument, NULL, OPT_PTZ_SIZE},
        {"ptz-face-y", required_argument, NULL, OPT_PTZ_Y},
        {"ptz-max-zoom", required_argument, NULL, OPT_PTZ_ZOOM},
        {"ptz-speed", required_argument, NULL, OPT_PTZ_SPEED},
        {"ptz-hold", required_argument, NULL, OPT_PTZ_HOLD},
        {"media-dir", required_argument, NULL, OPT_MEDIA_DIR},
        {"generator", required_argument, NULL, OPT_GENERATOR},
        {"max-upload-image", required_argument, NULL, OPT_MAX_UP_IMAGE},
        {"max-upload-audio", required_argument, NULL, OPT_MAX_UP_AUDIO},
        {"max-picture-pixels", required_argument, NULL, OPT_MAX_PICTURE_PIXELS},
        {"max-audio-samples", required_argument, NULL, OPT_MAX_AUDIO_SAMPLES},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (serve_opts){
        .host = "127.0.0.1",
        .port = 8080,
        .synthetic = -1,
        .width = 1280,
        .height = 720,
        .fps = 30,
        .quality = {85, 75, 60},
        .queue = FC_QUEUE_DEFAULT,
        .web_root = FC_WEB_ROOT,
        .ping_secs = 10,
        .max_clients = 4096,
        .detect_fps = 2,
        .motion_threshold = 0.01,
        .model = DEFAULT_MODEL,
        .tracker = FC_TRACKER_CONFIG_DEFAULT,
        .ptz = FC_PTZ_CONFIG_DEFAULT,
        .media_dir = "media",
        .max_upload_image = 10u << 20,
        .max_upload_audio = 20u << 20,
        .max_picture_pixels = FC_IMAGE_MAX_PIXELS_DEFAULT,
        .max_audio_samples = (long)FC_AUDIO_MAX_SAMPLES_DEFAULT,
    };
    opterr = 0;
    optind = 1;
    int c;
    long n;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_HOST:
            o->host = optarg;
            break;
        case OPT_PORT:
            if (fc_cli_long(optarg, 0, 65535, &n))
                return fc_cli_bad("serve", "--port", optarg, "a port number from 0 to 65535");
            o->port = (int)n;
            break;
        case OPT_SYNTHETIC:
            if (fc_cli_long(optarg, 0, MAX_SOURCES, &n))
                return fc_cli_bad("serve", "--synthetic", optarg, "a count from 0 to 256");
            o->synthetic = (int)n;
            break;
        case OPT_SOURCE:
            if (o->nspecs == MAX_SOURCES)
                return fc_cli_bad("serve", "--source", optarg, "more than 256 sources");
            o->specs[o->nspecs++] = optarg;
            break;
        case OPT_SIZE:
            if (fc_size_parse(optarg, &o->width, &o->height))
                return fc_cli_bad("serve", "--size", optarg,
                                  "WxH, both even, from 16x16 to 7680x4320");
            break;
        case OPT_FPS:
            if (fc_cli_double(optarg, 0.1, 240, &o->fps))
                return fc_cli_bad("serve", "--fps", optarg, "a rate from 0.1 to 240");
            break;
        case OPT_ENCODE_FPS:
            if (fc_cli_double(optarg, 0.1, 240, &o->encode_fps))
                return fc_cli_bad("serve", "--encode-fps", optarg, "a rate from 0.1 to 240");
            break;
        case OPT_QUALITY: {
            int q[3], end = 0;
            if (sscanf(optarg, "%d,%d,%d%n", &q[0], &q[1], &q[2], &end) != 3 || optarg[end] ||
                q[0] < 1 || q[0] > 100 || q[1] < 1 || q[1] > 100 || q[2] < 1 || q[2] > 100)
                return fc_cli_bad("serve", "--quality", optarg,
                                  "three JPEG qualities 1-100, e.g. 85,75,60");
            memcpy(o->quality, q, sizeof q);
            break;
        }
        case OPT_QUEUE:
            if (fc_cli_long(optarg, 1, FC_QUEUE_MAX, &n))
                return fc_cli_bad("serve", "--queue", optarg, "a frame count from 1 to 1000");
            o->queue = (size_t)n;
            break;
        case OPT_WORKERS:
            if (fc_cli_long(optarg, 1, 256, &n))
                return fc_cli_bad("serve", "--workers", optarg, "a thread count from 1 to 256");
            o->workers = (int)n;
            break;
        case OPT_WEB_ROOT:
            o->web_root = optarg;
            break;
        case OPT_PING:
            if (fc_cli_long(optarg, 1, 3600, &n))
                return fc_cli_bad("serve", "--ping-interval", optarg, "seconds from 1 to 3600");
            o->ping_secs = (int)n;
            break;
        case OPT_MAX_CONN:
            if (fc_cli_long(optarg, 1, 1000000, &n))
                return fc_cli_bad("serve", "--max-clients", optarg, "a count from 1 to 1000000");
            o->max_clients = (unsigned)n;
            break;
        case OPT_LOG_LEVEL: {
            fc_log_level lvl;
            if (fc_log_parse_level(optarg, &lvl))
                return fc_cli_bad("serve", "--log-level", optarg, "error, warn, info or debug");
            fc_log_set_level(lvl);
            break;
        }
        case OPT_DETECT:
            o->detect = true;
            break;
        case OPT_DETECT_FPS:
            if (fc_cli_double(optarg, 0.1, 240, &o->detect_fps))
                return fc_cli_bad("serve", "--detect-fps", optarg, "a rate from 0.1 to 240");
            break;
        case OPT_MOTION:
            if (fc_cli_double(optarg, 0, 1, &o->motion_threshold))
                return fc_cli_bad("serve", "--motion-threshold", optarg, "a fraction from 0 to 1");
            break;
        case OPT_EXPIRY:
            if (fc_cli_double(optarg, 0.1, 3600, &o->tracker.expiry_s))
                return fc_cli_bad("serve", "--track-expiry", optarg, "seconds from 0.1 to 3600");
            break;
        case OPT_DETECT_INPUT:
            if (strcmp(optarg, "band") && strcmp(optarg, "square"))
                return fc_cli_bad("serve", "--detect-input", optarg, "band or square");
            o->square_input = strcmp(optarg, "square") == 0;
            break;
        case OPT_MODEL:
            o->model = optarg;
            break;
        case OPT_PTZ_SIZE:
            if (fc_cli_double(optarg, 0.05, 1, &o->ptz.face_size))
                return fc_cli_bad("serve", "--ptz-face-size", optarg, "a fraction from 0.05 to 1");
            break;
        case OPT_PTZ_Y:
            if (fc_cli_double(optarg, 0, 1, &o->ptz.face_y))
                return fc_cli_bad("serve", "--ptz-face-y", optarg, "a fraction from 0 to 1");
            break;
        case OPT_PTZ_ZOOM:
            if (fc_cli_double(optarg, 1, 16, &o->ptz.max_zoom))
                return fc_cli_bad("serve", "--ptz-max-zoom", optarg, "a factor from 1 to 16");
            break;
        case OPT_PTZ_SPEED:
            if (fc_cli_double(optarg, 0.01, 10, &o->ptz.speed))
                return fc_cli_bad("serve", "--ptz-speed", optarg,
                                  "picture widths per second, 0.01 to 10");
            break;
        case OPT_PTZ_HOLD:
            if (fc_cli_double(optarg, 0, 3600, &o->ptz.hold_s))
                return fc_cli_bad("serve", "--ptz-hold", optarg, "seconds from 0 to 3600");
            break;
        case OPT_MEDIA_DIR:
            o->media_dir = optarg;
            break;
        case OPT_GENERATOR:
            o->generator = optarg;
            break;
        case OPT_MAX_UP_IMAGE:
            if (fc_cli_long(optarg, 1024, 1l << 30, &n))
                return fc_cli_bad("serve", "--max-upload-image", optarg,
                                  "bytes from 1024 to 1073741824");
            o->max_upload_image = (size_t)n;
            break;
        case OPT_MAX_UP_AUDIO:
            if (fc_cli_long(optarg, 1024, 1l << 30, &n))
                return fc_cli_bad("serve", "--max-upload-audio", optarg,
                                  "bytes from 1024 to 1073741824");
            o->max_upload_audio = (size_t)n;
            break;
        case OPT_MAX_PICTURE_PIXELS:
            if (fc_cli_long(optarg, FC_IMAGE_MAX_PIXELS_MIN, (long)FC_IMAGE_MAX_PIXELS_MAX,
                            &o->max_picture_pixels))
                return fc_cli_bad("serve", "--max-picture-pixels", optarg,
                                  "pixels from 65536 (256x256) to 268435456 (16384x16384)");
            break;
        case OPT_MAX_AUDIO_SAMPLES:
            if (fc_cli_long(optarg, (long)FC_AUDIO_MAX_SAMPLES_MIN, (long)FC_AUDIO_MAX_SAMPLES_MAX,
                            &o->max_audio_samples))
                return fc_cli_bad("serve", "--max-audio-samples", optarg,
                                  "samples from 8000 to 921600000");
            break;
        case 'h':
            usage(stdout);
            return -1;
        case ':':
            fprintf(stderr, "framecast serve: option '%s' needs a value (see --help)\n",
                    argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "framecast serve: unknown option '%s' (see --help)\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "framecast serve: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    if (o->encode_fps > o->fps) {
        fprintf(stderr, "framecast serve: --encode-fps %g is above --fps %g\n", o->encode_fps,
                o->fps);
        return 2;
    }
    if (o->synthetic < 0) o->synthetic = o->nspecs ? 0 : 4;
    return 0;
}

static int add_stream(server *srv, const serve_opts *o, const fc_source_spec *spec, int index)
{
    char err[512], id[FC_ID_MAX];
    if (spec->id[0])
        snprintf(id, sizeof id, "%s", spec->id);
    else
        snprintf(id, sizeof id, "cam%d", index);
    int w = spec->width ? spec->width : o->width;
    int h = spec->width ? spec->height : o->height;
    double fps = spec->fps > 0 ? spec->fps : o->fps;
    double efps = spec->encode_fps > 0 ? spec->encode_fps : o->encode_fps;
    if (efps > fps) efps = fps;
    fc_source *src;
    if (fc_source_create(spec, w, h, fps, &src, err, sizeof err) != 0) {
        fc_error("%s", err);
        return -1;
    }
    fc_stream_config cfg = {.fps = fps, .encode_fps = efps > 0 ? efps : fps};
    memcpy(cfg.quality, o->quality, sizeof cfg.quality);
    if (spec->detect == 1 || (spec->detect < 0 && o->detect)) {
        cfg.detect = (fc_detect_config){
            .detector = srv->detector,
            .fps = spec->detect_fps > 0 ? spec->detect_fps : o->detect_fps,
            .motion_threshold = o->motion_threshold,
            .tracker = o->tracker,
            .ptz = o->ptz,
        };
    }
    fc_stream *s;
    if (fc_stream_create(&srv->loop, srv->pool, id, src, &cfg, &srv->core_metrics.loop_lag_ms,
                         &s) != 0) {
        fc_error("stream %s: out of memory", id);
        return -1;
    }
    if (fc_stream_set_add(&srv->streams, s) != 0) {
        fc_error("stream id '%s' is used twice", id);
        fc_stream_free(s);
        return -1;
    }
    if (cfg.detect.detector)
        fc_info("stream %s: %s %dx%d at %g fps (encode cap %g fps), face detection at %g Hz", id,
                src->description, w, h, fps, cfg.encode_fps, fc_stream_config_of(s)->detect.fps);
    else
        fc_info("stream %s: %s %dx%d at %g fps (encode cap %g fps)", id, src->description, w, h,
                fps, cfg.encode_fps);
    fc_stream_start(s);
    return 0;
}

/* Each client is a file descriptor: make sure the process may open as many
 * as --max-clients allows, or say how many it can. */
static void raise_fd_limit(serve_opts *o)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    rlim_t want = (rlim_t)o->max_clients + 64;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < want) {
        unsigned can = rl.rlim_cur > 64 ? (unsigned)(rl.rlim_cur - 64) : 1;
        fc_warn("open-file limit is %llu: serving at most %u clients, not %u",
                (unsigned long long)rl.rlim_cur, can, o->max_clients);
        o->max_clients = can;
    }
}

static void close_handle_noop(uv_handle_t *h)
{
    (void)h;
}

static void on_stream_closed(fc_stream *s, void *arg)
{
    (void)s;
    server *srv = arg;
    if (--srv->streams_open > 0) return;
    /* Everything that could touch a socket is finished: let lws go, then the
     * last handles close and uv_run returns. */
    fc_http_server_destroy(srv->http);
    uv_close((uv_handle_t *)&srv->sigint, close_handle_noop);
    uv_close((uv_handle_t *)&srv->sigterm, close_handle_noop);
    fc_loop_close(&srv->loop);
}

static void on_avatars_idle(void *arg)
{
    server *srv = arg;
    srv->streams_open = srv->streams.n;
    if (srv->streams_open == 0) {
        srv->streams_open = 1;
        on_stream_closed(NULL, srv);
        return;
    }
    for (size_t i = 0; i < srv->streams.n; i++)
        fc_stream_shutdown(srv->streams.v[i], on_stream_closed, srv);
}

/* Every connection is closed, so every avatar session is released; wait for
 * their last jobs before the streams and the loop go. */
static void on_drained(fc_http_server *http, void *arg)
{
    (void)http;
    server *srv = arg;
    fc_avatar_env_when_idle(&srv->avatar, on_avatars_idle, srv);
}

static void on_signal(uv_signal_t *h, int signum)
{
    server *srv = h->data;
    if (srv->stopping) return;
    srv->stopping = true;
    fc_info("%s: closing connections and stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
    fc_http_server_drain(srv->http, 1000, on_drained, srv);
}

/* One line that says exactly where we listen: every bound address. */
static void log_listening(const fc_http_server *http, size_t streams, int workers)
{
    const fc_listener *l = fc_http_server_listener(http);
    char where[FC_LISTEN_MAX * 80] = "";
    size_t n = 0;
    for (size_t i = 0; i < fc_listener_count(l) && n < sizeof where; i++)
        n += (size_t)snprintf(where + n, sizeof where - n, "%shttp://%s/", i ? " and " : "",
                              fc_listener_address(l, i));
    fc_info("framecast %s listening on %s with %zu streams and %d workers", FC_VERSION, where,
            streams, workers);
}

int fc_cmd_serve(int argc, char **argv)
{
    serve_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc != 0) return rc < 0 ? 0 : rc;
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

    /* Parse every spec before building anything, so a typo fails fast. */
    int total = o.synthetic + o.nspecs;
    fc_source_spec *specs = calloc((size_t)(total ? total : 1), sizeof *specs);
    if (!specs) {
        fprintf(stderr, "framecast serve: out of memory\n");
        return 1;
    }
    for (int i = 0; i < o.synthetic; i++)
        fc_source_spec_parse("synthetic:procedural", &specs[i], NULL, 0);
    for (int i = 0; i < o.nspecs; i++) {
        char err[512];
        if (fc_source_spec_parse(o.specs[i], &specs[o.synthetic + i], err, sizeof err) != 0) {
            fprintf(stderr, "framecast serve: bad --source: %s\n", err);
            free(specs);
            return 2;
        }
    }

    signal(SIGPIPE, SIG_IGN);
    server srv;
    memset(&srv, 0, sizeof srv);
    rc = 1;
    if (fc_loop_init(&srv.loop) != 0) {
        fc_error("cannot start the event loop");
        free(specs);
        return 1;
    }
    int prc = fc_pool_create(o.workers, &srv.pool);
    srv.metrics = fc_metrics_new();
    if (prc != 0 || !srv.metrics) {
        fc_error("cannot start the worker pool: %s", strerror(prc ? -prc : 12));
        goto out;
    }
    fc_core_metrics_init(&srv.core_metrics, &srv.loop, srv.pool);
    if (fc_core_metrics_register(&srv.core_metrics, srv.metrics) != 0 ||
        fc_stream_metrics_register(srv.metrics, &srv.streams) != 0 ||
        fc_image_metrics_register(srv.metrics) != 0 ||
        fc_audio_metrics_register(srv.metrics) != 0) {
        fc_error("out of memory registering metrics");
        goto out;
    }
    bool any_detect = false;
    for (int i = 0; i < total; i++)
        any_detect |= specs[i].detect == 1 || (specs[i].detect < 0 && o.detect);
    if (any_detect) {
        char derr[512];
        fc_face_detector_opts dopts = {.square_input = o.square_input};
        if (fc_face_detector_open(o.model, &dopts, &srv.detector, derr, sizeof derr) != 0) {
            fc_error("face detection needs a model: %s (scripts/fetch-models fetches it, or "
                     "give --model PATH)",
                     derr);
            goto out;
        }
    }
    for (int i = 0; i < total; i++)
        if (add_stream(&srv, &o, &specs[i], i) != 0) goto out;

    char aerr[600];
    if (fc_media_open(o.media_dir, &srv.media, aerr, sizeof aerr) != 0 ||
        fc_generator_load(o.generator, &srv.gen, aerr, sizeof aerr) != 0) {
        fc_error("%s", aerr);
        goto out;
    }
    fc_avatar_env_init(&srv.avatar, &srv.loop, srv.pool, srv.gen.gen, &srv.media, o.quality,
                       o.queue);
    /* Avatar sessions use the detector, when the model is there, to find the
     * face in each picture once; without it they still run. */
    if (!srv.detector) {
        char derr[512];
        fc_face_detector_opts dopts = {.square_input = o.square_input};
        if (fc_face_detector_open(o.model, &dopts, &srv.detector, derr, sizeof derr) != 0)
            fc_warn("avatar sessions: no face detector (%s); generators get the face's place "
                    "only from setup_kwargs.face",
                    derr);
    }
    srv.avatar.detector = srv.detector;
    if (fc_avatar_metrics_register(srv.metrics, &srv.avatar) != 0) {
        fc_error("out of memory registering metrics");
        goto out;
    }
    fc_info("avatar sessions: generator %s, media directory %s", srv.gen.gen->name,
            srv.media.root);

    raise_fd_limit(&o);
    fc_http_server_config hc = {
        .host = o.host,
        .port = o.port,
        .web_root = o.web_root,
        .queue_default = o.queue,
        .ping_secs = o.ping_secs,
        .hangup_secs = 2 * o.ping_secs,
        .max_clients = o.max_clients,
        .avatar = &srv.avatar,
        .media = &srv.media,
        .max_upload_image = o.max_upload_image,
        .max_upload_audio = o.max_upload_audio,
    };
    char err[512];
    if (fc_http_server_start(&srv.loop, &hc, &srv.streams, srv.metrics, &srv.http, err,
                             sizeof err) != 0) {
        fc_error("%s", err);
        goto out;
    }
    uv_signal_init(&srv.loop.uv, &srv.sigint);
    uv_signal_init(&srv.loop.uv, &srv.sigterm);
    srv.sigint.data = srv.sigterm.data = &srv;
    uv_signal_start(&srv.sigint, on_signal, SIGINT);
    uv_signal_start(&srv.sigterm, on_signal, SIGTERM);
    log_listening(srv.http, srv.streams.n, fc_pool_threads(srv.pool));

    uv_run(&srv.loop.uv, UV_RUN_DEFAULT);
    rc = 0;
    fc_info("stopped");

out:
    if (rc != 0) {
        /* Start-up failed before the loop ran: nothing is in flight. */
        fc_http_server_destroy(srv.http);
        for (size_t i = 0; i < srv.streams.n; i++)
            fc_stream_shutdown(srv.streams.v[i], NULL, NULL);
        fc_loop_close(&srv.loop);
        uv_run(&srv.loop.uv, UV_RUN_DEFAULT);
    }
    fc_http_server_free(srv.http);
    fc_pool_destroy(srv.pool);
    fc_face_detector_close(srv.detector);
    fc_generator_unload(&srv.gen);
    fc_media_close(&srv.media);
    for (size_t i = 0; i < srv.streams.n; i++)
        fc_stream_free(srv.streams.v[i]);
    fc_stream_set_clear(&srv.streams);
    fc_metrics_free(srv.metrics);
    uv_loop_close(&srv.loop.uv);
    free(specs);
    return rc;
}
