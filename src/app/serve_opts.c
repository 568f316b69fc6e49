#include "app/serve.h"
#include "core/loops.h"

#include <stddef.h>
#include <string.h>

#include "avatar/audio.h"
#include "avatar/session.h"
#include "core/pool.h"
#include "encode/output.h"
#include "transport/upload.h"
#include "transport/upload_store.h"
#include "hub/hub.h"
#include "sources/image.h"

#define ROW(...) FC_OPT_ROW(fc_serve_opts, __VA_ARGS__)

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const detect_inputs[] = {"band", "square", NULL};
static const char *const viewer_tokens[] = {"off", "required", NULL};
static const char *const key_frame_policies[] = {"auto", "always", "never", NULL};
static const char *const on_off[] = {"on", "off", NULL};
static const char rate[] = "a rate from 0.1 to 240";

static const fc_option options[] = {
    ROW(FC_OPT_STRING, "host", host, .arg = "ADDR", .help = "address to listen on, exactly"),
    ROW(FC_OPT_LONG, "port", port, .min = 0, .max = 65535, .arg = "N",
        .help = "TCP port; 0 picks a free one", .want = "a port number from 0 to 65535"),
    ROW(FC_OPT_LONG, "synthetic", synthetic, .min = 0, .max = FC_OPT_LIST_MAX, .arg = "N",
        .help = "add N procedural test cameras", .want = "a count from 0 to 256",
        .dflt = "4 when no --source"),
    ROW(FC_OPT_LIST, "source", sources, .arg = "SPEC",
        .help = "add a stream; repeatable. SPEC is TYPE:ARGS[,key=value...]:\n"
                "  synthetic:procedural\n"
                "  synthetic:image=PATH   (pan and zoom over a PNG/JPEG)\n"
                "  synthetic:video=PATH   (pan and zoom over a looped video file)\n"
                "  file:PATH[,loop]       (a recording at its own rate)\n"
                "  rtsp://[USER:PASS@]HOST[:PORT]/PATH[,transport=tcp|udp][,timeout=S]\n"
                "  rtsps://...            (the same over TLS)\n"
                "  v4l2:/dev/videoN[,input_format=mjpeg|yuyv422]\n"
                "keys: id=NAME size=WxH fps=F encode_fps=F\n"
                "  detect[=on|off|F] (face detection, at F Hz)\n"
                "  motion=0 (image, video: no pan or zoom)\n"
                "files, cameras and devices keep their own size and rate\n"
                "unless size= and fps= say otherwise; cameras and devices\n"
                "connect when a stream is first consumed, never at start\n"
                "(a file is opened at start and waits, paused)\n"
                "streams are named cam0, cam1, ... unless id= is given",
        .want = "more than 256 sources"),
    ROW(FC_OPT_PARSE, "size", size, .arg = "WxH", .help = "default frame size",
        .want = "WxH, both even, from 16x16 to 7680x4320", .parse = fc_opt_parse_size,
        .dflt = "1280x720"),
    ROW(FC_OPT_DOUBLE, "fps", fps, .min = 0.1, .max = 240, .arg = "F",
        .help = "default source frame rate", .want = rate),
    ROW(FC_OPT_DOUBLE, "encode-fps", encode_fps, .min = 0.1, .max = 240, .arg = "F",
        .help = "default cap on encodes per second, <= fps", .want = rate, .dflt = "= fps"),
    ROW(FC_OPT_PARSE, "quality", quality, .arg = "H,M,L",
        .help = "JPEG quality of the high, medium, low tiers",
        .want = "three JPEG qualities 1-100, e.g. 85,75,60", .parse = fc_opt_parse_quality,
        .dflt = "85,75,60"),
    ROW(FC_OPT_DOUBLE, "keyint", keyint, .min = 0.1, .max = 3600, .arg = "S",
        .help = "VP8: a key frame at least every S seconds (joins and\n"
                "gaps also ask for one, at most one a second per tier;\n"
                "codec=h264 passes a camera's own: its GOP decides)",
        .want = "seconds from 0.1 to 3600"),
    ROW(FC_OPT_LONG, "queue", queue, .min = 1, .max = FC_QUEUE_MAX, .arg = "N",
        .help = "frames a subscriber may have queued, at most 1000",
        .want = "a frame count from 1 to 1000"),
    ROW(FC_OPT_LONG, "workers", workers, .min = 1, .max = 256, .arg = "N", .help = "worker threads",
        .want = "a thread count from 1 to 256", .dflt = "one per online core"),
    ROW(FC_OPT_LONG, "loops", loops, .min = 1, .max = FC_LOOPS_MAX, .arg = "N",
        .help = "event loop threads: the first runs the streams, the API\n"
                "and avatar sessions; stream viewers spread over all of\n"
                "them (each frame crosses to a loop once)",
        .want = "a thread count from 1 to 64", .dflt = "one per online core"),
    ROW(FC_OPT_STRING, "web-root", web_root, .arg = "DIR", .help = "static files served at /"),
    ROW(FC_OPT_LONG, "ping-interval", ping_secs, .min = 1, .max = 3600, .arg = "S",
        .help = "ping idle WebSockets after S seconds; close them when\n"
                "nothing comes back within another S",
        .want = "seconds from 1 to 3600"),
    ROW(FC_OPT_LONG, "max-clients", max_clients, .min = 1, .max = 1000000, .arg = "N",
        .help = "WebSocket clients at once; more are refused", .want = "a count from 1 to 1000000"),
    ROW(FC_OPT_LONG, "max-pending", max_pending, .min = 1, .max = 1000000, .arg = "N",
        .help = "connections still sending their request headers at once;\n"
                "past it the oldest of them is closed to make room",
        .want = "a count from 1 to 1000000"),
    ROW(FC_OPT_LONG, "max-peer-connections", max_peer_connections, .min = 1, .max = 1000000,
        .arg = "N",
        .help = "connections at once from one address (IPv6: one /64);\n"
                "more are refused at accept",
        .want = "a count from 1 to 1000000"),
    ROW(FC_OPT_LONG, "header-timeout", header_timeout_s, .min = 1, .max = 3600, .arg = "S",
        .help = "seconds a connection has to send its request headers\n"
                "(and between keep-alive requests); then it is closed",
        .want = "seconds from 1 to 3600"),
    ROW(FC_OPT_CHOICE, "log-level", log_level, .arg = "LEVEL", .help = "error, warn, info or debug",
        .choices = log_levels),
    /* Pushing sources (issue 13). */
    ROW(FC_OPT_DOUBLE, "idle-close", idle_close, .min = 0, .max = 3600, .arg = "S",
        .help = "close a camera's or device's connection S seconds after\n"
                "its last viewer or detection left (a file pauses at once)",
        .want = "seconds from 0 to 3600"),
    ROW(FC_OPT_CHOICE, "detect-key-frames", detect_key_frames, .arg = "auto|always|never",
        .help = "what a camera or file whose only consumer is detection\n"
                "decodes: key frames only while they come at least at its\n"
                "detect rate (auto), key frames only whatever their rate\n"
                "(always: detection then runs at the key-frame rate), or\n"
                "every frame (never)",
        .choices = key_frame_policies),
    FC_OPT_SECTION_ROW(
        "\nAvatar sessions (ws://HOST:PORT/ws/CLIENT_ID, POST /upload, the /demo page):"),
    ROW(FC_OPT_STRING, "media-dir", media_dir, .arg = "DIR",
        .help = "the only directory sessions read from and uploads go to;\ncreated when missing"),
    ROW(FC_OPT_STRING, "generator", generator, .arg = "PATH",
        .help = "generator plugin (.so, include/framecast/generator.h)",
        .dflt = "the built-in puppet"),
    ROW(FC_OPT_LONG, "max-upload-image", max_upload_image, .min = 1024, .max = 1l << 30, .arg = "N",
        .help = "bytes per uploaded picture", .want = "bytes from 1024 to 1073741824"),
    ROW(FC_OPT_LONG, "max-upload-audio", max_upload_audio, .min = 1024, .max = 1l << 30, .arg = "N",
        .help = "bytes per uploaded speech file", .want = "bytes from 1024 to 1073741824"),
    ROW(FC_OPT_LONG, "max-picture-pixels", max_picture_pixels, .min = FC_IMAGE_MAX_PIXELS_MIN,
        .max = (double)FC_IMAGE_MAX_PIXELS_MAX, .arg = "N",
        .help = "width x height a picture may have, from its header, before\n"
                "it is decoded; larger ones are refused (also synthetic:image)",
        .want = "pixels from 65536 (256x256) to 268435456 (16384x16384)"),
    ROW(FC_OPT_LONG, "max-audio-samples", max_audio_samples,
        .min = (double)FC_AUDIO_MAX_SAMPLES_MIN, .max = (double)FC_AUDIO_MAX_SAMPLES_MAX,
        .arg = "N",
        .help = "rate x channels x seconds a speech file may hold, before it\n"
                "is decoded (48 kHz stereo for 600 s; over 600 s is refused too)",
        .want = "samples from 8000 to 921600000"),
    ROW(FC_OPT_LONG, "max-live-sessions", max_live_sessions, .min = 1, .max = 4096, .arg = "N",
        .help = "avatar sessions alive at once, those still ending included;\n"
                "past it start_streaming gets an error",
        .want = "a count from 1 to 4096"),
    ROW(FC_OPT_LONG, "upload-timeout", upload_timeout_s, .min = 1, .max = 3600, .arg = "S",
        .help = "seconds an upload's body may take; then it is refused\n"
                "(408) and its slot freed",
        .want = "seconds from 1 to 3600"),
    ROW(FC_OPT_LONG, "upload-min-rate", upload_min_rate, .min = 1, .max = 1l << 30, .arg = "N",
        .help = "bytes/s an upload's body must keep on average after its\n"
                "first 5 s, or it is refused (408) and its slot freed",
        .want = "bytes per second from 1 to 1073741824"),
    ROW(FC_OPT_LONG, "upload-max-files", upload_max_files, .min = 1, .max = 1000000, .arg = "N",
        .help = "uploaded files kept at once; past it uploads get 507",
        .want = "a count from 1 to 1000000"),
    ROW(FC_OPT_LONG, "upload-quota", upload_quota, .min = 1 << 20, .max = (double)(1ull << 40),
        .arg = "N", .help = "bytes of uploaded files kept at once; past it uploads get 507",
        .want = "bytes from 1048576 to 1099511627776"),
    ROW(FC_OPT_LONG, "upload-expiry", upload_expiry_s, .min = 1, .max = 31 * 86400, .arg = "S",
        .help = "seconds an upload is kept; then it is deleted",
        .want = "seconds from 1 to 2678400"),
    ROW(FC_OPT_LONG, "max-setup-jobs", max_setup_jobs, .min = 1, .max = 4096, .arg = "N",
        .help = "session set-ups and uploads queued for a worker at once;\n"
                "past it they are refused (try again)",
        .want = "a count from 1 to 4096"),
    FC_OPT_SECTION_ROW("\nDetection (ws://HOST:PORT/ws/streams/ID?view=ptz is the PTZ view):"),
    ROW(FC_OPT_FLAG, "detect", detect,
        .help = "face detection on every stream (a spec's detect= overrides)"),
    ROW(FC_OPT_DOUBLE, "detect-fps", detect_fps, .min = 0.1, .max = 240, .arg = "F",
        .help = "inferences per second per stream at most", .want = rate),
    ROW(FC_OPT_DOUBLE, "motion-threshold", motion_threshold, .min = 0, .max = 1, .arg = "F",
        .help = "skip inference unless this fraction of a 64-cell-wide\n"
                "luma thumbnail changed since the last one (0 = always infer)",
        .want = "a fraction from 0 to 1"),
    ROW(FC_OPT_DOUBLE, "track-expiry", tracker.expiry_s, .min = 0.1, .max = 3600, .arg = "S",
        .help = "forget a face unmatched for S seconds", .want = "seconds from 0.1 to 3600"),
    ROW(FC_OPT_STRING, "model", model, .arg = "PATH", .help = "BlazeFace ONNX model"),
    ROW(FC_OPT_CHOICE, "detect-input", detect_input, .arg = "band|square",
        .help = "the model sees the band of its square input the\n"
                "picture fills (128x80 for 16:9, ~35% less CPU) or the\n"
                "whole letterbox square, MediaPipe's reference",
        .choices = detect_inputs),
    ROW(FC_OPT_DOUBLE, "ptz-face-size", ptz.face_size, .min = 0.05, .max = 1, .arg = "F",
        .help = "PTZ view: faces fill F of its height", .want = "a fraction from 0.05 to 1"),
    ROW(FC_OPT_DOUBLE, "ptz-face-y", ptz.face_y, .min = 0, .max = 1, .arg = "F",
        .help = "PTZ view: faces' centre at F of its height from the top",
        .want = "a fraction from 0 to 1"),
    ROW(FC_OPT_DOUBLE, "ptz-max-zoom", ptz.max_zoom, .min = 1, .max = 16, .arg = "Z",
        .help = "PTZ view: zoom in at most Z times", .want = "a factor from 1 to 16"),
    ROW(FC_OPT_DOUBLE, "ptz-speed", ptz.speed, .min = 0.01, .max = 10, .arg = "F",
        .help = "PTZ view: move at most F picture widths per second",
        .want = "picture widths per second, 0.01 to 10"),
    ROW(FC_OPT_DOUBLE, "ptz-hold", ptz.hold_s, .min = 0, .max = 3600, .arg = "S",
        .help = "PTZ view: back to the full picture after S seconds\nwithout a face",
        .want = "seconds from 0 to 3600"),
    FC_OPT_SECTION_ROW("\nThe stream API and who may use it (docs/api.md):"),
    ROW(FC_OPT_STRING, "db", db, .arg = "PATH",
        .help = "SQLite file of the streams added through the API;\n"
                ":memory: keeps none; " FC_DB_ENV " overrides it"),
    ROW(FC_OPT_STRING, "api-key-file", api_key_file, .arg = "PATH",
        .help = "the key every change needs (Authorization: Bearer KEY);\n"
                "else FRAMECAST_API_KEY. Without a key the server stays\n"
                "on loopback",
        .dflt = "none"),
    ROW(FC_OPT_CHOICE, "viewer-tokens", viewer_tokens, .arg = "MODE",
        .help = "off, or required: watching /ws/streams/ID then needs\n"
                "?token= (framecast token) or ?key=",
        .choices = viewer_tokens),
    ROW(FC_OPT_LONG, "max-streams", max_streams, .min = 1, .max = 4096, .arg = "N",
        .help = "streams at once, from the command line and the API",
        .want = "a count from 1 to 4096"),
    FC_OPT_SECTION_ROW("\nCapacity and load balancing (docs/deploy.md):"),
    ROW(FC_OPT_LONG, "max-sessions", max_sessions, .min = 1, .max = 100000, .arg = "N",
        .help = "avatar sessions at once: a connection to /ws/CLIENT_ID\n"
                "holds one from its upgrade to its close; more get 503",
        .want = "a count from 1 to 100000", .dflt = "24 per worker"),
    ROW(FC_OPT_LONG, "max-subscribers", max_subscribers, .min = 1, .max = 1000000, .arg = "N",
        .help = "stream subscribers at once; more get 503", .want = "a count from 1 to 1000000",
        .dflt = "none: --max-clients bounds them"),
    ROW(FC_OPT_LONG, "agent-port", agent_port, .min = 0, .max = 65535, .arg = "P",
        .help = "answer HAProxy's agent-check on port P (0: a free one)\n"
                "with the room for new sessions: up ready 63% maxconn:N,\n"
                "or drain when full or shutting down",
        .want = "a port number from 0 to 65535", .dflt = "off"),
    ROW(FC_OPT_CHOICE, "load-admission", load_admission, .arg = "on|off",
        .help = "refuse new work while the measured load is past its\n"
                "high-water mark (off: the budgets and the drain only)",
        .choices = on_off),
    ROW(FC_OPT_STRING, "agent-host", agent_host, .arg = "ADDR",
        .help = "address the agent listens on, exactly"),
    ROW(FC_OPT_LONG, "drain-timeout", drain_timeout, .min = 0, .max = 86400, .arg = "S",
        .help = "at SIGTERM, running avatar sessions get S seconds to\n"
                "finish before every connection is closed",
        .want = "seconds from 0 to 86400"),
    FC_OPT_SECTION_ROW("\nWebRTC through Janus (docs/webrtc.md; scripts/run-janus starts one):"),
    ROW(FC_OPT_STRING, "janus", janus_url, .arg = "URL",
        .help = "Janus's HTTP API, http://IP:PORT/janus: a Streaming\nmountpoint per stream (VP8, "
                "medium tier); /api/streams\nnames it, or says why there is none"),
    ROW(FC_OPT_STRING, "janus-admin-key", janus_admin_key, .arg = "K",
        .help = "the Streaming plugin's admin_key (needed with --janus)"),
};

static const fc_command_line serve_cl = {
    .cmd = "serve",
    .usage = "usage: framecast serve [OPTIONS]\n\n"
             "Serves live streams over WebSocket (ws://HOST:PORT/ws/streams/ID) and HTTP\n"
             "(/, /healthz, /api/server, /api/streams, /metrics); streams are added,\n"
             "changed and removed through /api/streams and kept in --db.\n\n",
    .options = options,
    .count = sizeof options / sizeof *options,
};

static void defaults(fc_serve_opts *o)
{
    memset(o, 0, sizeof *o);
    fc_paths_get(&o->paths);
    o->host = "127.0.0.1";
    o->port = 8080;
    o->synthetic = -1;
    o->size[0] = 1280;
    o->size[1] = 720;
    o->fps = 30;
    memcpy(o->quality, (int[3]){85, 75, 60}, sizeof o->quality);
    o->keyint = FC_OUTPUT_KEYINT_S;
    o->queue = FC_QUEUE_DEFAULT;
    o->web_root = o->paths.web_root;
    o->ping_secs = 10;
    o->max_clients = 4096;
    o->max_pending = 512;
    o->max_peer_connections = 1024;
    o->header_timeout_s = 10;
    o->log_level = "info";
    o->detect_fps = 2;
    o->motion_threshold = 0.01;
    o->model = o->paths.model;
    o->detect_input = "band";
    o->tracker = (fc_tracker_config)FC_TRACKER_CONFIG_DEFAULT;
    o->ptz = (fc_ptz_config)FC_PTZ_CONFIG_DEFAULT;
    o->idle_close = 10;
    o->detect_key_frames = "auto";
    o->media_dir = "media";
    o->max_upload_image = 10u << 20;
    o->max_upload_audio = 20u << 20;
    o->max_picture_pixels = FC_IMAGE_MAX_PIXELS_DEFAULT;
    o->max_audio_samples = (long)FC_AUDIO_MAX_SAMPLES_DEFAULT;
    o->db = "framecast.db";
    o->viewer_tokens = "off";
    o->max_streams = 256;
    o->agent_port = -1;
    o->agent_host = "127.0.0.1";
    o->load_admission = "on";
    o->drain_timeout = 30;
    o->max_live_sessions = FC_AVATAR_MAX_SESSIONS_DEFAULT;
    o->max_setup_jobs = FC_POOL_SETUP_QUEUE_DEFAULT;
    o->loops = 0; /* one per core (fc_loops_default), unless given */
    o->upload_timeout_s = FC_UPLOAD_TIMEOUT_DEFAULT;
    o->upload_min_rate = FC_UPLOAD_MIN_RATE_DEFAULT;
    o->upload_max_files = FC_UPLOAD_MAX_FILES_DEFAULT;
    o->upload_quota = FC_UPLOAD_MAX_BYTES_DEFAULT;
    o->upload_expiry_s = FC_UPLOAD_EXPIRY_DEFAULT;
}

int fc_serve_parse(int argc, char **argv, fc_serve_opts *o)
{
    defaults(o);
    int rc = fc_opts_parse(&serve_cl, argc, argv, o, NULL);
    if (rc != 0) return rc;
    if (o->encode_fps > o->fps)
        return fc_opts_usage_error("serve", "--encode-fps %g is above --fps %g", o->encode_fps,
                                   o->fps);
    if (o->janus_url && !o->janus_admin_key)
        return fc_opts_usage_error("serve",
                                   "--janus needs --janus-admin-key (the Streaming "
                                   "plugin's admin_key; scripts/run-janus start prints it)");
    if (o->janus_admin_key && !o->janus_url)
        return fc_opts_usage_error("serve", "--janus-admin-key without --janus URL");
    if (o->synthetic < 0) o->synthetic = o->sources.n ? 0 : 4;
    return 0;
}
