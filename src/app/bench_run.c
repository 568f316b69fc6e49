/* One `framecast bench` scenario: `framecast serve` as a child with N
 * synthetic cameras, M clients per camera from this process (fc_load), a
 * settling time, then a window of S seconds measured from the server's
 * /metrics (and /proc) at both ends. Everything waits on libuv: the child's
 * log pipe, lws callbacks, timers. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/bench.h"
#include "core/clock.h"
#include "tools/child.h"
#include "tools/http_get.h"
#include "tools/load.h"
#include "tools/prom.h"

#define STARTUP_TIMEOUT_MS 15000
#define CONNECT_TIMEOUT_MS 60000
#define EXIT_TIMEOUT_MS 10000

/* One scenario's run: the state its callbacks share. */
typedef struct scenario {
    const fc_bench_opts *o;
    const fc_floor_result *floor;
    fc_bench_result *res;
    uv_loop_t uv;
    uv_timer_t timer;
    fc_child *child;
    fc_http_client *http;
    fc_load *load;
    char *paths[FC_BENCH_MAX_CAMERAS];
    int port;
    bool child_exited, load_finished, tearing_down;
    char err[600];
    /* window snapshots */
    uint64_t t0_ns, t1_ns, self_cpu0, self_cpu1;
    double proc_cpu0, proc_cpu1;
    char *metrics0, *metrics1;
} scenario;

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
    fc_bench_result *r = sc->res;
    const char *a = sc->metrics0, *b = sc->metrics1;
    double w = (double)(sc->t1_ns - sc->t0_ns) / 1e9;
    r->window_s = w;
#define DELTA(name, match) (fc_prom_sum(b, name, match, NULL) - fc_prom_sum(a, name, match, NULL))
    r->cpu_pct = DELTA("fc_process_cpu_seconds_total", NULL) / w * 100;
    r->cpu_pct_procfs =
        sc->proc_cpu0 >= 0 && sc->proc_cpu1 >= 0 ? (sc->proc_cpu1 - sc->proc_cpu0) / w * 100 : -1;
    for (int i = 0; i < ROLES; i++) {
        char match[64];
        snprintf(match, sizeof match, "role=\"%s\"", fc_bench_role_names[i]);
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
    const fc_bench_opts *o = sc->o;
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
int fc_bench_run(const fc_bench_opts *o, const fc_floor_result *floor, fc_bench_result *res)
{
    scenario sc = {.o = o, .floor = floor, .res = res, .proc_cpu0 = -1, .proc_cpu1 = -1};
    memset(res, 0, sizeof *res);
    if (uv_loop_init(&sc.uv) != 0) {
        fprintf(stderr, "framecast bench: cannot start the event loop\n");
        return -ENOMEM;
    }
    uv_timer_init(&sc.uv, &sc.timer);
    sc.timer.data = &sc;

    char cameras[16], size[32], fps[32], efps[32], quality[32], workers[16];
    snprintf(cameras, sizeof cameras, "%d", o->cameras);
    snprintf(size, sizeof size, "%dx%d", o->size[0], o->size[1]);
    snprintf(fps, sizeof fps, "%g", o->fps);
    snprintf(efps, sizeof efps, "%g", fc_bench_encode_fps(o));
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
    fc_child_config cc = {.program = o->server,
                          .args = args,
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
    for (int i = 0; i < FC_BENCH_MAX_CAMERAS; i++)
        free(sc.paths[i]);
    free(sc.metrics0);
    free(sc.metrics1);
    if (sc.err[0]) {
        fprintf(stderr, "framecast bench: %s\n", sc.err);
        return -EIO;
    }
    return 0;
}
