/* `framecast bench`: the headless multi-camera harness. One scenario starts
 * `framecast serve` as a child with N synthetic cameras, subscribes M clients
 * per camera from this process (fc_load), lets it settle, then measures a
 * window of S seconds: the server's CPU per thread role from its /metrics (and
 * /proc), fps in and out, encode ms, drops, RSS, latency, and the overhead
 * ratio against the bare encode floor (fc_floor). The bench's own CPU (the
 * clients) is reported apart so the two are not confused.
 *
 * Everything waits on libuv: the child's log pipe, lws callbacks, timers.
 * `--compare "A" "B"` alternates two configurations R times in one run and
 * reports medians and ratios, so an A/B holds on a noisy machine. */
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "app/cli.h"
#include "app/commands.h"
#include "sources/source.h"
#include "core/clock.h"
#include "tools/child.h"
#include "tools/floor.h"
#include "tools/http_get.h"
#include "tools/load.h"
#include "tools/prom.h"

#define MAX_CAMERAS 256
#define MAX_CLIENTS 100000
#define MAX_ROUNDS 50
#define STARTUP_TIMEOUT_MS 15000
#define CONNECT_TIMEOUT_MS 60000
#define EXIT_TIMEOUT_MS 10000

typedef struct bench_opts {
    int cameras, width, height;
    double fps, encode_fps; /* encode_fps 0 = fps */
    int subscribers, stall;
    const char *quality;
    int jpeg_quality[FC_TIER_COUNT];
    int workers; /* 0 = the server's default */
    double seconds, warmup;
    bool json, encode_only;
    int frames; /* encode floor sample */
    const char *compare[2];
    int rounds;
} bench_opts;

enum { ROLE_LOOP, ROLE_SOURCE, ROLE_ENCODE, ROLE_ANALYSIS, ROLE_OTHER, ROLE_OVERHEAD, ROLES };
static const char *const role_names[ROLES] = {"loop",     "source", "encode",
                                              "analysis", "other",  "worker_overhead"};

typedef struct bench_result {
    double window_s;
    double cpu_pct, cpu_pct_procfs, role_pct[ROLES];
    double fps_in, encodes_per_s, encodes_tier_per_s[FC_TIER_COUNT];
    double fps_out, fps_sent;
    double fps_sub_min, fps_sub_median;
    double encode_ms_p50, encode_ms_p99;
    double drops, gaps;
    double rss_mb, rss_peak_mb;
    double latency_p50, latency_p95, latency_p99;
    double first_frame_ms_max;
    double cpu_us_per_frame; /* server CPU per delivered frame */
    double floor_pct, overhead_ratio;
    double client_cpu_pct;
    int clients, failed;
} bench_result;

/* One scenario's run: the state its callbacks share. */
typedef struct scenario {
    const bench_opts *o;
    const fc_floor_result *floor;
    bench_result *res;
    uv_loop_t uv;
    uv_timer_t timer;
    fc_child *child;
    fc_http_client *http;
    fc_load *load;
    char *paths[MAX_CAMERAS];
    int port;
    bool child_exited, load_finished, tearing_down;
    char err[600];
    /* window snapshots */
    uint64_t t0_ns, t1_ns, self_cpu0, self_cpu1;
    double proc_cpu0, proc_cpu1;
    char *metrics0, *metrics1;
} scenario;

static void usage(FILE *out)
{
    fprintf(out, "usage: framecast bench [OPTIONS]\n"
                 "       framecast bench --encode-only [--size WxH] [--frames N]\n"
                 "       framecast bench [OPTIONS] --compare \"ARGS A\" \"ARGS B\" [--rounds R]\n\n"
                 "Starts `framecast serve` as a child with N synthetic cameras, subscribes M\n"
                 "clients per camera from this process, waits --warmup seconds, then measures\n"
                 "--seconds: server CPU (%% of one core) in total and per thread role (loop,\n"
                 "sources, encode workers, analysis, worker overhead), fps in and out (per\n"
                 "subscriber min and median), encode ms p50/p99, drops, RSS, capture→receive\n"
                 "latency, server CPU per delivered frame, and the overhead ratio: server CPU\n"
                 "divided by what bare libturbojpeg needs for the same encodes of the same\n"
                 "frames (the encode floor, measured first in this process).\n\n"
                 "  --cameras N          synthetic cameras (default 1)\n"
                 "  --size WxH           frame size (default 1280x720)\n"
                 "  --fps F              camera frame rate (default 30)\n"
                 "  --encode-fps F       cap on encodes per second (default = fps)\n"
                 "  --subscribers M      subscribers per camera (default 1; 0 = nobody watches)\n"
                 "  --stall K            of those, K stop reading after the handshake (default 0)\n"
                 "  --quality Q          what subscribers ask for: auto, high, medium, low\n"
                 "                       (default auto)\n"
                 "  --jpeg-quality H,M,L JPEG quality of the tiers (default 85,75,60)\n"
                 "  --workers N          server worker threads (default: the server's)\n"
                 "  --seconds S          measurement window (default 10)\n"
                 "  --warmup S           settling time before the window (default 2)\n"
                 "  --json               print the results as JSON on stdout\n"
                 "  --encode-only        measure only the encode floor for --size and exit\n"
                 "  --frames N           frames the floor renders and encodes (default 60)\n"
                 "  --compare A B        run two configurations, each a string of the options\n"
                 "                       above (split at spaces) applied over the rest of the\n"
                 "                       command line, alternately --rounds times; print\n"
                 "                       medians and B/A ratios\n"
                 "  --rounds R           A/B pairs for --compare (default 3)\n"
                 "  -h, --help           this text\n\n"
                 "The bench process's own CPU (the clients) is reported separately; on a small\n"
                 "machine it competes with the server for cores, so compare like with like.\n");
}

static void default_opts(bench_opts *o)
{
    *o = (bench_opts){
        .cameras = 1,
        .width = 1280,
        .height = 720,
        .fps = 30,
        .subscribers = 1,
        .quality = "auto",
        .jpeg_quality = {85, 75, 60},
        .seconds = 10,
        .warmup = 2,
        .frames = 60,
        .rounds = 3,
    };
}

/* Parses argv over what `o` holds already, so --compare strings can be
 * applied over the command line. `whole` allows the options that only make
 * sense once per run. */
static int parse_args(int argc, char **argv, bench_opts *o, bool whole)
{
    enum {
        OPT_CAMERAS = 256,
        OPT_SIZE,
        OPT_FPS,
        OPT_ENCODE_FPS,
        OPT_SUBSCRIBERS,
        OPT_STALL,
        OPT_QUALITY,
        OPT_JPEG_QUALITY,
        OPT_WORKERS,
        OPT_SECONDS,
        OPT_WARMUP,
        OPT_JSON,
        OPT_ENCODE_ONLY,
        OPT_FRAMES,
        OPT_COMPARE,
        OPT_ROUNDS
    };
    static const struct option longopts[] = {
        {"cameras", required_argument, NULL, OPT_CAMERAS},
        {"size", required_argument, NULL, OPT_SIZE},
        {"fps", required_argument, NULL, OPT_FPS},
        {"encode-fps", required_argument, NULL, OPT_ENCODE_FPS},
        {"subscribers", required_argument, NULL, OPT_SUBSCRIBERS},
        {"stall", required_argument, NULL, OPT_STALL},
        {"quality", required_argument, NULL, OPT_QUALITY},
        {"jpeg-quality", required_argument, NULL, OPT_JPEG_QUALITY},
        {"workers", required_argument, NULL, OPT_WORKERS},
        {"seconds", required_argument, NULL, OPT_SECONDS},
        {"warmup", required_argument, NULL, OPT_WARMUP},
        {"json", no_argument, NULL, OPT_JSON},
        {"encode-only", no_argument, NULL, OPT_ENCODE_ONLY},
        {"frames", required_argument, NULL, OPT_FRAMES},
        {"compare", required_argument, NULL, OPT_COMPARE},
        {"rounds", required_argument, NULL, OPT_ROUNDS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    optind = 1;
    int c;
    long n;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        if (!whole && (c == OPT_JSON || c == OPT_COMPARE || c == OPT_ROUNDS ||
                       c == OPT_ENCODE_ONLY || c == 'h')) {
            fprintf(stderr, "framecast bench: '%s' cannot go inside --compare\n", argv[optind - 1]);
            return 2;
        }
        switch (c) {
        case OPT_CAMERAS:
            if (fc_cli_long(optarg, 1, MAX_CAMERAS, &n))
                return fc_cli_bad("bench", "--cameras", optarg, "a count from 1 to 256");
            o->cameras = (int)n;
            break;
        case OPT_SIZE:
            if (fc_size_parse(optarg, &o->width, &o->height))
                return fc_cli_bad("bench", "--size", optarg,
                                  "WxH, both even, from 16x16 to 7680x4320");
            break;
        case OPT_FPS:
            if (fc_cli_double(optarg, 0.1, 240, &o->fps))
                return fc_cli_bad("bench", "--fps", optarg, "a rate from 0.1 to 240");
            break;
        case OPT_ENCODE_FPS:
            if (fc_cli_double(optarg, 0.1, 240, &o->encode_fps))
                return fc_cli_bad("bench", "--encode-fps", optarg, "a rate from 0.1 to 240");
            break;
        case OPT_SUBSCRIBERS:
            if (fc_cli_long(optarg, 0, MAX_CLIENTS, &n))
                return fc_cli_bad("bench", "--subscribers", optarg, "a count from 0 to 100000");
            o->subscribers = (int)n;
            break;
        case OPT_STALL:
            if (fc_cli_long(optarg, 0, MAX_CLIENTS, &n))
                return fc_cli_bad("bench", "--stall", optarg, "a count from 0 to --subscribers");
            o->stall = (int)n;
            break;
        case OPT_QUALITY:
            if (strcmp(optarg, "auto") && strcmp(optarg, "high") && strcmp(optarg, "medium") &&
                strcmp(optarg, "low"))
                return fc_cli_bad("bench", "--quality", optarg, "auto, high, medium or low");
            o->quality = optarg;
            break;
        case OPT_JPEG_QUALITY: {
            int q[3], end = 0;
            if (sscanf(optarg, "%d,%d,%d%n", &q[0], &q[1], &q[2], &end) != 3 || optarg[end] ||
                q[0] < 1 || q[0] > 100 || q[1] < 1 || q[1] > 100 || q[2] < 1 || q[2] > 100)
                return fc_cli_bad("bench", "--jpeg-quality", optarg,
                                  "three JPEG qualities 1-100, e.g. 85,75,60");
            memcpy(o->jpeg_quality, q, sizeof q);
            break;
        }
        case OPT_WORKERS:
            if (fc_cli_long(optarg, 1, 256, &n))
                return fc_cli_bad("bench", "--workers", optarg, "a thread count from 1 to 256");
            o->workers = (int)n;
            break;
        case OPT_SECONDS:
            if (fc_cli_double(optarg, 0.1, 86400, &o->seconds))
                return fc_cli_bad("bench", "--seconds", optarg, "seconds from 0.1 to 86400");
            break;
        case OPT_WARMUP:
            if (fc_cli_double(optarg, 0, 3600, &o->warmup))
                return fc_cli_bad("bench", "--warmup", optarg, "seconds from 0 to 3600");
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case OPT_ENCODE_ONLY:
            o->encode_only = true;
            break;
        case OPT_FRAMES:
            if (fc_cli_long(optarg, 1, 10000, &n))
                return fc_cli_bad("bench", "--frames", optarg, "a count from 1 to 10000");
            o->frames = (int)n;
            break;
        case OPT_COMPARE:
            /* getopt took A; B is the next word. */
            if (optind >= argc)
                return fc_cli_bad("bench", "--compare", optarg,
                                  "needs two quoted option strings, A and B");
            o->compare[0] = optarg;
            o->compare[1] = argv[optind++];
            break;
        case OPT_ROUNDS:
            if (fc_cli_long(optarg, 1, MAX_ROUNDS, &n))
                return fc_cli_bad("bench", "--rounds", optarg, "a count from 1 to 50");
            o->rounds = (int)n;
            break;
        case 'h':
            usage(stdout);
            return -1;
        case ':':
            fprintf(stderr, "framecast bench: option '%s' needs a value (see --help)\n",
                    argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "framecast bench: unknown option '%s' (see --help)\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "framecast bench: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    return 0;
}

static int check_opts(const bench_opts *o, const char *what)
{
    if (o->stall > o->subscribers) {
        fprintf(stderr, "framecast bench: %s: --stall %d is more than --subscribers %d\n", what,
                o->stall, o->subscribers);
        return 2;
    }
    if (o->encode_fps > o->fps) {
        fprintf(stderr, "framecast bench: %s: --encode-fps %g is above --fps %g\n", what,
                o->encode_fps, o->fps);
        return 2;
    }
    if ((long)o->cameras * o->subscribers > MAX_CLIENTS) {
        fprintf(stderr, "framecast bench: %s: more than %d subscribers in all\n", what,
                MAX_CLIENTS);
        return 2;
    }
    return 0;
}

static double encode_fps_of(const bench_opts *o)
{
    return o->encode_fps > 0 ? o->encode_fps : o->fps;
}

/* ------------------------------------------------------------ the window */

/* utime + stime of a process, in seconds; -1 if unreadable. */
static double procfs_cpu_seconds(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces; the fields follow its ')'. */
    const char *p = strrchr(buf, ')');
    unsigned long long utime, stime;
    if (!p ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* VmRSS and VmHWM of a process in MB. */
static void procfs_rss(int pid, double *rss, double *peak)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    *rss = *peak = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    unsigned long kb;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "VmRSS: %lu kB", &kb) == 1)
            *rss = (double)kb / 1024;
        else if (sscanf(line, "VmHWM: %lu kB", &kb) == 1)
            *peak = (double)kb / 1024;
    }
    fclose(f);
}

static void teardown(scenario *sc);

static void failf(scenario *sc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failf(scenario *sc, const char *fmt, ...)
{
    if (!sc->err[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(sc->err, sizeof sc->err, fmt, ap);
        va_end(ap);
    }
    teardown(sc);
}

static void on_exit_timeout(uv_timer_t *t)
{
    scenario *sc = t->data;
    fc_child_signal(sc->child, SIGKILL);
    failf(sc, "the server did not exit within %d s of SIGTERM; killed it", EXIT_TIMEOUT_MS / 1000);
}

/* Winds down in order: clients, then the server, then our own handles. Each
 * step's completion calls back here. */
static void teardown(scenario *sc)
{
    sc->tearing_down = true;
    if (sc->load && !sc->load_finished) {
        uv_timer_stop(&sc->timer);
        fc_load_stop(sc->load);
        return;
    }
    if (sc->child && !sc->child_exited) {
        fc_child_signal(sc->child, SIGTERM);
        uv_timer_start(&sc->timer, on_exit_timeout, EXIT_TIMEOUT_MS, 0);
        return;
    }
    uv_timer_stop(&sc->timer);
    if (!uv_is_closing((uv_handle_t *)&sc->timer)) uv_close((uv_handle_t *)&sc->timer, NULL);
    if (sc->http) fc_http_client_close(sc->http);
}

static void compute(scenario *sc)
{
    bench_result *r = sc->res;
    const char *a = sc->metrics0, *b = sc->metrics1;
    double w = (double)(sc->t1_ns - sc->t0_ns) / 1e9;
    r->window_s = w;
#define DELTA(name, match) (fc_prom_sum(b, name, match, NULL) - fc_prom_sum(a, name, match, NULL))
    r->cpu_pct = DELTA("fc_process_cpu_seconds_total", NULL) / w * 100;
    r->cpu_pct_procfs =
        sc->proc_cpu0 >= 0 && sc->proc_cpu1 >= 0 ? (sc->proc_cpu1 - sc->proc_cpu0) / w * 100 : -1;
    for (int i = 0; i < ROLES; i++) {
        char match[64];
        snprintf(match, sizeof match, "role=\"%s\"", role_names[i]);
        r->role_pct[i] = DELTA("fc_cpu_seconds_total", match) / w * 100;
    }
    r->fps_in = DELTA("fc_stream_frames_produced_total", NULL) / w;
    static const char *const tiers[FC_TIER_COUNT] = {"tier=\"high\"", "tier=\"medium\"",
                                                     "tier=\"low\""};
    r->encodes_per_s = 0;
    r->floor_pct = 0;
    for (int t = 0; t < FC_TIER_COUNT; t++) {
        r->encodes_tier_per_s[t] = DELTA("fc_stream_frames_encoded_total", tiers[t]) / w;
        r->encodes_per_s += r->encodes_tier_per_s[t];
        r->floor_pct += r->encodes_tier_per_s[t] * sc->floor->ms_mean[t] / 1e3 * 100;
    }
    r->overhead_ratio = r->floor_pct > 0 ? r->cpu_pct / r->floor_pct : 0;
    r->fps_sent = DELTA("fc_subscriber_frames_sent_total", NULL) / w;
    r->drops = DELTA("fc_stream_drops_total", NULL);
#undef DELTA
    fc_prom_hist ha, hb;
    fc_prom_hist_read(a, "fc_encode_milliseconds", NULL, &ha);
    fc_prom_hist_read(b, "fc_encode_milliseconds", NULL, &hb);
    fc_prom_hist_sub(&hb, &ha);
    r->encode_ms_p50 = fc_prom_hist_quantile(&hb, 0.50);
    r->encode_ms_p99 = fc_prom_hist_quantile(&hb, 0.99);
    r->client_cpu_pct = (double)(sc->self_cpu1 - sc->self_cpu0) / 1e9 / w * 100;
    if (sc->load) {
        fc_load_summary s;
        if (fc_load_summarize(sc->load, w, &s) == 0) {
            r->fps_out = s.fps_sum;
            r->fps_sub_min = s.fps_min;
            r->fps_sub_median = s.fps_median;
            r->gaps = (double)s.gaps;
            r->latency_p50 = fc_lat_hist_quantile(&s.latency, 0.50);
            r->latency_p95 = fc_lat_hist_quantile(&s.latency, 0.95);
            r->latency_p99 = fc_lat_hist_quantile(&s.latency, 0.99);
            r->first_frame_ms_max = s.first_frame_ms_max;
            r->clients = s.clients;
            r->failed = s.failed;
            /* Every frame the server wrote counts as delivered, stalled
             * clients' included: it is the server's work we divide. */
            double delivered = r->fps_sent > 0 ? r->fps_sent : s.fps_sum;
            r->cpu_us_per_frame = delivered > 0 ? r->cpu_pct / 100 / delivered * 1e6 : 0;
        }
    }
}

static const char *first_error(const fc_load *load)
{
    for (int i = 0; i < fc_load_count(load); i++)
        if (fc_load_client_at(load, i)->error[0]) return fc_load_client_at(load, i)->error;
    return "unknown";
}

static void on_metrics1(int status, const char *body, size_t len, const char *err, void *arg)
{
    (void)len;
    scenario *sc = arg;
    if (status != 200) {
        failf(sc, "GET /metrics at the end of the window: %s", err ? err : "not HTTP 200");
        return;
    }
    /* Both ends of the window are taken when /metrics answers, so the
     * server's counters and ours cover the same span even when a busy
     * machine delays the answer. */
    sc->t1_ns = fc_now_ns();
    sc->self_cpu1 = fc_process_cpu_ns();
    sc->proc_cpu1 = procfs_cpu_seconds(fc_child_pid(sc->child));
    sc->metrics1 = strdup(body);
    if (!sc->metrics1) {
        failf(sc, "out of memory for /metrics");
        return;
    }
    procfs_rss(fc_child_pid(sc->child), &sc->res->rss_mb, &sc->res->rss_peak_mb);
    compute(sc);
    teardown(sc);
}

static void on_window_end(uv_timer_t *t)
{
    scenario *sc = t->data;
    if (sc->load && fc_load_failed(sc->load) > 0) {
        failf(sc, "%d subscriber(s) failed during the window (first: %s)", fc_load_failed(sc->load),
              first_error(sc->load));
        return;
    }
    fc_http_get(sc->http, "127.0.0.1", sc->port, "/metrics", on_metrics1, sc);
}

static void on_metrics0(int status, const char *body, size_t len, const char *err, void *arg)
{
    (void)len;
    scenario *sc = arg;
    if (status != 200) {
        failf(sc, "GET /metrics at the start of the window: %s", err ? err : "not HTTP 200");
        return;
    }
    sc->t0_ns = fc_now_ns();
    sc->self_cpu0 = fc_process_cpu_ns();
    sc->proc_cpu0 = procfs_cpu_seconds(fc_child_pid(sc->child));
    if (sc->load) fc_load_mark(sc->load);
    sc->metrics0 = strdup(body);
    if (!sc->metrics0) {
        failf(sc, "out of memory for /metrics");
        return;
    }
    uv_timer_start(&sc->timer, on_window_end, (uint64_t)(sc->o->seconds * 1000), 0);
}

static void on_warm(uv_timer_t *t)
{
    scenario *sc = t->data;
    fc_http_get(sc->http, "127.0.0.1", sc->port, "/metrics", on_metrics0, sc);
}

static void start_warmup(scenario *sc)
{
    uv_timer_start(&sc->timer, on_warm, (uint64_t)(sc->o->warmup * 1000), 0);
}

static void on_load_ready(fc_load *load, void *arg)
{
    scenario *sc = arg;
    if (sc->tearing_down) return;
    int failed = fc_load_failed(load);
    if (failed > 0) {
        failf(sc, "%d of %d subscriber(s) failed to connect (first: %s)", failed,
              fc_load_count(load), first_error(load));
        return;
    }
    start_warmup(sc);
}

static void on_load_finished(fc_load *load, void *arg)
{
    scenario *sc = arg;
    sc->load_finished = true;
    if (!sc->tearing_down)
        failf(sc, "every subscriber was closed before the window ended (first: %s)",
              first_error(load));
    else
        teardown(sc);
}

static void on_connect_timeout(uv_timer_t *t)
{
    scenario *sc = t->data;
    failf(sc, "subscribers did not connect within %d s", CONNECT_TIMEOUT_MS / 1000);
}

static void on_child_ready(fc_child *child, int port, void *arg)
{
    (void)child;
    scenario *sc = arg;
    if (sc->tearing_down) return;
    sc->port = port;
    uv_timer_stop(&sc->timer);
    char err[300];
    if (fc_http_client_new(&sc->uv, &sc->http, err, sizeof err) != 0) {
        failf(sc, "%s", err);
        return;
    }
    const bench_opts *o = sc->o;
    if (o->subscribers == 0) {
        start_warmup(sc);
        return;
    }
    for (int i = 0; i < o->cameras; i++) {
        char path[128];
        snprintf(path, sizeof path, "/ws/streams/cam%d?quality=%s", i, o->quality);
        sc->paths[i] = strdup(path);
        if (!sc->paths[i]) {
            failf(sc, "out of memory");
            return;
        }
    }
    fc_load_config cfg = {
        .host = "127.0.0.1",
        .port = port,
        .paths = (const char *const *)sc->paths,
        .npaths = o->cameras,
        .clients = o->cameras * o->subscribers,
        .stall = o->stall,
        .on_ready = on_load_ready,
        .on_finished = on_load_finished,
        .arg = sc,
    };
    if (fc_load_start(&sc->uv, &cfg, &sc->load, err, sizeof err) != 0) {
        failf(sc, "%s", err);
        return;
    }
    uv_timer_start(&sc->timer, on_connect_timeout, CONNECT_TIMEOUT_MS, 0);
}

static void on_child_exit(fc_child *child, int64_t status, int term_signal, void *arg)
{
    (void)child;
    scenario *sc = arg;
    sc->child_exited = true;
    if (!sc->tearing_down)
        failf(sc, "the server exited early (status %lld, signal %d); its log ends:\n%s",
              (long long)status, term_signal, fc_child_log_tail(child));
    else if (status != 0 && !sc->err[0])
        failf(sc, "the server exited with status %lld (signal %d) on SIGTERM; its log ends:\n%s",
              (long long)status, term_signal, fc_child_log_tail(child));
    else
        teardown(sc);
}

static void on_startup_timeout(uv_timer_t *t)
{
    scenario *sc = t->data;
    failf(sc, "the server did not say it was listening within %d s; its log ends:\n%s",
          STARTUP_TIMEOUT_MS / 1000, fc_child_log_tail(sc->child));
}

/* Runs one scenario to completion. Returns 0, or -1 with the reason printed. */
static int run_scenario(const bench_opts *o, const fc_floor_result *floor, bench_result *res)
{
    scenario sc = {.o = o, .floor = floor, .res = res, .proc_cpu0 = -1, .proc_cpu1 = -1};
    memset(res, 0, sizeof *res);
    if (uv_loop_init(&sc.uv) != 0) {
        fprintf(stderr, "framecast bench: cannot start the event loop\n");
        return -1;
    }
    uv_timer_init(&sc.uv, &sc.timer);
    sc.timer.data = &sc;

    char cameras[16], size[32], fps[32], efps[32], quality[32], workers[16];
    snprintf(cameras, sizeof cameras, "%d", o->cameras);
    snprintf(size, sizeof size, "%dx%d", o->width, o->height);
    snprintf(fps, sizeof fps, "%g", o->fps);
    snprintf(efps, sizeof efps, "%g", encode_fps_of(o));
    snprintf(quality, sizeof quality, "%d,%d,%d", o->jpeg_quality[0], o->jpeg_quality[1],
             o->jpeg_quality[2]);
    snprintf(workers, sizeof workers, "%d", o->workers);
    const char *args[16] = {"--synthetic", cameras,        "--size", size,        "--fps",
                            fps,           "--encode-fps", efps,     "--quality", quality};
    int nargs = 10;
    if (o->workers > 0) {
        args[nargs++] = "--workers";
        args[nargs++] = workers;
    }
    fc_child_config cc = {.args = args,
                          .nargs = nargs,
                          .on_ready = on_child_ready,
                          .on_exit = on_child_exit,
                          .arg = &sc};
    if (fc_child_start(&sc.uv, &cc, &sc.child, sc.err, sizeof sc.err) != 0) {
        uv_close((uv_handle_t *)&sc.timer, NULL);
    } else {
        uv_timer_start(&sc.timer, on_startup_timeout, STARTUP_TIMEOUT_MS, 0);
    }
    uv_run(&sc.uv, UV_RUN_DEFAULT);
    if (uv_loop_close(&sc.uv) != 0 && !sc.err[0])
        snprintf(sc.err, sizeof sc.err, "internal: handles left open on the bench loop");

    if (sc.load && sc.err[0]) {
        for (int i = 0; i < fc_load_count(sc.load); i++) {
            const fc_load_client *c = fc_load_client_at(sc.load, i);
            if (c->error[0])
                fprintf(stderr, "framecast bench: subscriber %d (%s): %s\n", i, c->path, c->error);
        }
    }
    fc_load_free(sc.load);
    fc_http_client_free(sc.http);
    fc_child_free(sc.child);
    for (int i = 0; i < MAX_CAMERAS; i++)
        free(sc.paths[i]);
    free(sc.metrics0);
    free(sc.metrics1);
    if (sc.err[0]) {
        fprintf(stderr, "framecast bench: %s\n", sc.err);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------- reporting */

static int measure_floor(const bench_opts *o, fc_floor_result *floor)
{
    fc_floor_config fc = {
        .width = o->width, .height = o->height, .fps = o->fps, .frames = o->frames};
    memcpy(fc.quality, o->jpeg_quality, sizeof fc.quality);
    char err[300];
    if (fc_floor_measure(&fc, floor, err, sizeof err) != 0) {
        fprintf(stderr, "framecast bench: %s\n", err);
        return -1;
    }
    return 0;
}

static json_t *config_json(const bench_opts *o)
{
    char size[32];
    snprintf(size, sizeof size, "%dx%d", o->width, o->height);
    return json_pack("{s:i, s:s, s:f, s:f, s:i, s:i, s:s, s:[i,i,i], s:i, s:f, s:f}", "cameras",
                     o->cameras, "size", size, "fps", o->fps, "encode_fps", encode_fps_of(o),
                     "subscribers", o->subscribers, "stall", o->stall, "quality", o->quality,
                     "jpeg_quality", o->jpeg_quality[0], o->jpeg_quality[1], o->jpeg_quality[2],
                     "workers", o->workers, "seconds", o->seconds, "warmup", o->warmup);
}

static json_t *floor_json(const fc_floor_result *f, int frames)
{
    json_t *tiers = json_object();
    for (int t = 0; tiers && t < FC_TIER_COUNT; t++)
        json_object_set_new(tiers, fc_tier_name((fc_tier)t),
                            json_pack("{s:f, s:f, s:f, s:f}", "ms_mean", f->ms_mean[t], "ms_p50",
                                      f->ms_p50[t], "ms_p99", f->ms_p99[t], "bytes_mean",
                                      f->bytes_mean[t]));
    return json_pack("{s:i, s:o}", "frames", frames, "tiers", tiers);
}

static json_t *result_json(const bench_result *r)
{
    json_t *roles = json_object(), *tiers = json_object();
    for (int i = 0; roles && i < ROLES; i++)
        json_object_set_new(roles, role_names[i], json_real(r->role_pct[i]));
    for (int t = 0; tiers && t < FC_TIER_COUNT; t++)
        json_object_set_new(tiers, fc_tier_name((fc_tier)t), json_real(r->encodes_tier_per_s[t]));
    json_t *o = json_object();
    if (!o || !roles || !tiers) {
        json_decref(o);
        json_decref(roles);
        json_decref(tiers);
        return NULL;
    }
    const struct {
        const char *name;
        double v;
    } nums[] = {
        {"window_s", r->window_s},
        {"cpu_percent", r->cpu_pct},
        {"cpu_percent_procfs", r->cpu_pct_procfs},
        {"fps_in", r->fps_in},
        {"encodes_per_s", r->encodes_per_s},
        {"fps_out", r->fps_out},
        {"fps_sent", r->fps_sent},
        {"fps_per_subscriber_min", r->fps_sub_min},
        {"fps_per_subscriber_median", r->fps_sub_median},
        {"encode_ms_p50", r->encode_ms_p50},
        {"encode_ms_p99", r->encode_ms_p99},
        {"drops", r->drops},
        {"gaps", r->gaps},
        {"rss_mb", r->rss_mb},
        {"rss_peak_mb", r->rss_peak_mb},
        {"latency_ms_p50", r->latency_p50},
        {"latency_ms_p95", r->latency_p95},
        {"latency_ms_p99", r->latency_p99},
        {"first_frame_ms_max", r->first_frame_ms_max},
        {"cpu_us_per_delivered_frame", r->cpu_us_per_frame},
        {"floor_cpu_percent", r->floor_pct},
        {"overhead_ratio", r->overhead_ratio},
        {"client_cpu_percent", r->client_cpu_pct},
    };
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++)
        json_object_set_new(o, nums[i].name, json_real(nums[i].v));
    json_object_set_new(o, "cpu_percent_by_role", roles);
    json_object_set_new(o, "encodes_per_s_by_tier", tiers);
    json_object_set_new(o, "clients", json_integer(r->clients));
    json_object_set_new(o, "failed", json_integer(r->failed));
    return o;
}

static json_t *machine_json(void)
{
    char model[256] = "unknown", line[512], date[32];
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            snprintf(model, sizeof model, "%s", colon + 2);
            model[strcspn(model, "\n")] = '\0';
            break;
        }
    }
    if (f) fclose(f);
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    return json_pack("{s:s, s:i, s:s}", "cpu", model, "cores", (int)sysconf(_SC_NPROCESSORS_ONLN),
                     "date", date);
}

static int print_doc(json_t *doc)
{
    if (!doc) {
        fprintf(stderr, "framecast bench: out of memory for the JSON report\n");
        return 1;
    }
    json_dumpf(doc, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(doc);
    return 0;
}

static void print_text(const bench_opts *o, const fc_floor_result *f, const bench_result *r)
{
    printf("framecast bench: %d camera(s) %dx%d @ %g fps (encode cap %g), %d subscriber(s) "
           "each (%d stalled, quality %s), %.1f s window\n",
           o->cameras, o->width, o->height, o->fps, encode_fps_of(o), o->subscribers, o->stall,
           o->quality, r->window_s);
    printf("  server CPU    %.2f%% of one core (procfs %.1f%%): loop %.2f, sources %.2f, "
           "encode %.2f, analysis %.2f, other %.2f, worker overhead %.2f\n",
           r->cpu_pct, r->cpu_pct_procfs, r->role_pct[ROLE_LOOP], r->role_pct[ROLE_SOURCE],
           r->role_pct[ROLE_ENCODE], r->role_pct[ROLE_ANALYSIS], r->role_pct[ROLE_OTHER],
           r->role_pct[ROLE_OVERHEAD]);
    printf("  frames        in %.1f fps, encoded %.1f/s (high %.1f, medium %.1f, low %.1f), "
           "sent %.1f/s, received %.1f fps\n",
           r->fps_in, r->encodes_per_s, r->encodes_tier_per_s[0], r->encodes_tier_per_s[1],
           r->encodes_tier_per_s[2], r->fps_sent, r->fps_out);
    printf("  per reader    min %.1f fps, median %.1f fps; connect→first frame max %.0f ms\n",
           r->fps_sub_min, r->fps_sub_median, r->first_frame_ms_max);
    printf("  encode        p50 %.2f ms, p99 %.2f ms (bare floor %.2f ms at quality %d)\n",
           r->encode_ms_p50, r->encode_ms_p99, f->ms_mean[0], o->jpeg_quality[0]);
    if (r->floor_pct > 0)
        printf("  overhead      %.2f× the encode floor (%.2f%% of a core for the same encodes)\n",
               r->overhead_ratio, r->floor_pct);
    printf("  latency       capture→receive p50 %.2f, p95 %.2f, p99 %.2f ms\n", r->latency_p50,
           r->latency_p95, r->latency_p99);
    printf("  drops         %.0f in the server's queues, %.0f frame-id gaps at the clients\n",
           r->drops, r->gaps);
    printf("  memory        RSS %.1f MB (peak %.1f MB)\n", r->rss_mb, r->rss_peak_mb);
    if (r->cpu_us_per_frame > 0)
        printf("  per frame     %.1f µs of server CPU per delivered frame\n", r->cpu_us_per_frame);
    printf("  bench itself  %.1f%% of a core (the %d clients; not in the figures above)\n",
           r->client_cpu_pct, r->clients);
}

static int cmd_encode_only(const bench_opts *o)
{
    fc_floor_result f;
    if (measure_floor(o, &f) != 0) return 1;
    double efps = encode_fps_of(o);
    if (o->json)
        return print_doc(json_pack("{s:o, s:o, s:o, s:f}", "machine", machine_json(), "config",
                                   config_json(o), "floor", floor_json(&f, o->frames),
                                   "cpu_percent_per_camera_high", f.ms_mean[0] * efps / 10));
    printf("framecast bench --encode-only: %d synthetic frames %dx%d, libturbojpeg 4:2:0, "
           "CPU time per encode\n",
           o->frames, o->width, o->height);
    for (int t = 0; t < FC_TIER_COUNT; t++)
        printf("  %-6s q%-3d mean %.2f ms, p50 %.2f ms, p99 %.2f ms, %.0f bytes → %.1f%% of a "
               "core at %g fps\n",
               fc_tier_name((fc_tier)t), o->jpeg_quality[t], f.ms_mean[t], f.ms_p50[t], f.ms_p99[t],
               f.bytes_mean[t], f.ms_mean[t] * efps / 10, efps);
    return 0;
}

/* Room for the largest configuration's sockets, or a warning. */
static void raise_fd_limit(const bench_opts *opts, int n)
{
    long most = 0;
    for (int i = 0; i < n; i++)
        if ((long)opts[i].cameras * opts[i].subscribers > most)
            most = (long)opts[i].cameras * opts[i].subscribers;
    char msg[300];
    if (fc_load_raise_fd_limit(most + 64, msg, sizeof msg) != 0)
        fprintf(stderr, "framecast bench: warning: %s\n", msg);
}

/* ------------------------------------------------------------ --compare */

#define MAX_WORDS 32

/* Splits `s` at spaces into argv (argv[0] = "bench"); `store` holds the words. */
static int split_words(const char *s, char *store, size_t storelen, char **argv)
{
    snprintf(store, storelen, "%s", s);
    int n = 0;
    argv[n++] = "bench";
    char *save = NULL;
    for (char *w = strtok_r(store, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        if (n == MAX_WORDS) return -1;
        argv[n++] = w;
    }
    argv[n] = NULL;
    return n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct field {
    const char *name;
    size_t offset;
} field;

#define F(n, m)                                                                                    \
    {                                                                                              \
        n, offsetof(bench_result, m)                                                               \
    }
static const field compare_fields[] = {
    F("cpu_percent", cpu_pct),
    F("cpu_loop_percent", role_pct[ROLE_LOOP]),
    F("cpu_encode_percent", role_pct[ROLE_ENCODE]),
    F("cpu_source_percent", role_pct[ROLE_SOURCE]),
    F("fps_in", fps_in),
    F("encodes_per_s", encodes_per_s),
    F("fps_out", fps_out),
    F("fps_per_subscriber_min", fps_sub_min),
    F("encode_ms_p50", encode_ms_p50),
    F("latency_ms_p50", latency_p50),
    F("latency_ms_p99", latency_p99),
    F("drops", drops),
    F("rss_mb", rss_mb),
    F("cpu_us_per_delivered_frame", cpu_us_per_frame),
    F("overhead_ratio", overhead_ratio),
    F("client_cpu_percent", client_cpu_pct),
};
#undef F

static double get_field(const bench_result *r, const field *f)
{
    return *(const double *)((const char *)r + f->offset);
}

static double median_of(const bench_result *rs, int n, const field *f)
{
    double v[MAX_ROUNDS];
    for (int i = 0; i < n; i++)
        v[i] = get_field(&rs[i], f);
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int cmd_compare(const bench_opts *base)
{
    bench_opts side[2];
    char store[2][1024];
    for (int k = 0; k < 2; k++) {
        char *argv[MAX_WORDS + 1];
        int argc = split_words(base->compare[k], store[k], sizeof store[k], argv);
        if (argc < 0) {
            fprintf(stderr, "framecast bench: --compare %c has more than %d words\n", 'A' + k,
                    MAX_WORDS - 1);
            return 2;
        }
        side[k] = *base;
        int rc = parse_args(argc, argv, &side[k], false);
        if (rc != 0) return rc < 0 ? 0 : rc;
        char what[16];
        snprintf(what, sizeof what, "compare %c", 'A' + k);
        if ((rc = check_opts(&side[k], what)) != 0) return rc;
    }
    raise_fd_limit(side, 2);
    fc_floor_result floor[2];
    for (int k = 0; k < 2; k++)
        if (measure_floor(&side[k], &floor[k]) != 0) return 1;
    static bench_result results[2][MAX_ROUNDS];
    for (int round = 0; round < base->rounds; round++) {
        for (int k = 0; k < 2; k++) {
            fprintf(stderr, "framecast bench: round %d/%d, %c: %s\n", round + 1, base->rounds,
                    'A' + k, base->compare[k]);
            if (run_scenario(&side[k], &floor[k], &results[k][round]) != 0) return 1;
        }
    }
    size_t nf = sizeof compare_fields / sizeof *compare_fields;
    if (base->json) {
        json_t *med[2] = {json_object(), json_object()}, *ratio = json_object();
        json_t *rounds = json_array();
        for (size_t i = 0; i < nf; i++) {
            double a = median_of(results[0], base->rounds, &compare_fields[i]);
            double b = median_of(results[1], base->rounds, &compare_fields[i]);
            json_object_set_new(med[0], compare_fields[i].name, json_real(a));
            json_object_set_new(med[1], compare_fields[i].name, json_real(b));
            json_object_set_new(ratio, compare_fields[i].name,
                                a != 0 ? json_real(b / a) : json_null());
        }
        for (int round = 0; rounds && round < base->rounds; round++)
            json_array_append_new(rounds,
                                  json_pack("{s:o, s:o}", "a", result_json(&results[0][round]), "b",
                                            result_json(&results[1][round])));
        return print_doc(json_pack(
            "{s:o, s:s, s:s, s:o, s:o, s:i, s:o, s:o, s:o, s:o}", "machine", machine_json(), "a",
            base->compare[0], "b", base->compare[1], "config_a", config_json(&side[0]), "config_b",
            config_json(&side[1]), "rounds", base->rounds, "median_a", med[0], "median_b", med[1],
            "ratio_b_over_a", ratio, "per_round", rounds));
    }
    printf("framecast bench --compare, %d round(s) of A then B, medians:\n  A: %s\n  B: %s\n\n",
           base->rounds, base->compare[0], base->compare[1]);
    printf("  %-28s %12s %12s %8s\n", "", "A", "B", "B/A");
    for (size_t i = 0; i < nf; i++) {
        double a = median_of(results[0], base->rounds, &compare_fields[i]);
        double b = median_of(results[1], base->rounds, &compare_fields[i]);
        if (a != 0)
            printf("  %-28s %12.3f %12.3f %8.3f\n", compare_fields[i].name, a, b, b / a);
        else
            printf("  %-28s %12.3f %12.3f %8s\n", compare_fields[i].name, a, b, "-");
    }
    return 0;
}

int fc_cmd_bench(int argc, char **argv)
{
    bench_opts o;
    default_opts(&o);
    int rc = parse_args(argc, argv, &o, true);
    if (rc != 0) return rc < 0 ? 0 : rc;
    if ((rc = check_opts(&o, "options")) != 0) return rc;
    if (o.encode_only) return cmd_encode_only(&o);

    signal(SIGPIPE, SIG_IGN);
    if (o.compare[0]) return cmd_compare(&o);
    raise_fd_limit(&o, 1);

    fc_floor_result floor;
    if (measure_floor(&o, &floor) != 0) return 1;
    bench_result r;
    if (run_scenario(&o, &floor, &r) != 0) return 1;
    if (o.json)
        return print_doc(json_pack("{s:o, s:o, s:o, s:o}", "machine", machine_json(), "config",
                                   config_json(&o), "floor", floor_json(&floor, o.frames), "result",
                                   result_json(&r)));
    print_text(&o, &floor, &r);
    return 0;
}
