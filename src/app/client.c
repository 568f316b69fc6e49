/* `framecast client`: N concurrent subscribers of one stream in this process,
 * each message validated, then a report per client and in aggregate. Exits 1
 * with the reasons when a client could not connect or saw a malformed
 * message, so it doubles as a protocol conformance check. */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "app/options.h"
#include "app/commands.h"
#include "core/clock.h"
#include "tools/load.h"

#define MAX_CLIENTS 100000

typedef struct client_opts {
    const char *url, *quality;
    int clients, stall;
    double seconds;
    bool json;
    /* From the URL. */
    char host[256];
    int port;
    char path[1024];
} client_opts;

typedef struct run {
    client_opts *o;
    uv_loop_t uv;
    fc_load *load;
    uv_timer_t timer;
    uv_signal_t sigint;
    uint64_t start_ns, mark_ns, end_ns;
    uint64_t cpu_end_ns;
    bool interrupted;
} run;

static const char *const qualities[] = {"auto", "high", "medium", "low", NULL};

#define ROW(...) FC_OPT_ROW(client_opts, __VA_ARGS__)
static const fc_option options[] = {
    ROW(FC_OPT_STRING, "url", url, .arg = "URL",
        .help = "ws://HOST[:PORT]/PATH of the stream (required)"),
    ROW(FC_OPT_LONG, "clients", clients, .min = 1, .max = MAX_CLIENTS, .arg = "N",
        .help = "concurrent subscribers (the open-file limit is\n"
                "raised to fit, with a warning when it cannot be)",
        .want = "a count from 1 to 100000"),
    ROW(FC_OPT_DOUBLE, "seconds", seconds, .min = 0.001, .max = 86400, .arg = "S",
        .help = "receive for S seconds once all are connected", .want = "seconds, more than 0"),
    ROW(FC_OPT_LONG, "stall", stall, .min = 0, .max = MAX_CLIENTS, .arg = "K",
        .help = "K of the N complete the handshake, then stop reading, to\n"
                "play slow consumers",
        .want = "a count from 0 to --clients"),
    ROW(FC_OPT_CHOICE, "quality", quality, .arg = "Q",
        .help = "ask for auto, high, medium or low (adds quality=Q to the URL)",
        .choices = qualities, .dflt = "the server's"),
    ROW(FC_OPT_FLAG, "json", json, .help = "print the report as JSON on stdout"),
};

static const fc_command_line client_cl = {
    .cmd = "client",
    .usage = "usage: framecast client --url ws://HOST:PORT/ws/streams/ID [OPTIONS]\n\n"
             "Opens N WebSocket subscribers to one stream in this process, checks every\n"
             "message (header length = payload length, ids strictly increasing, payload of\n"
             "the codec the hello announced) and reports, per client and in aggregate:\n"
             "frames, fps, connect→first-frame ms, capture→receive latency p50/p95/p99,\n"
             "frame id gaps (frames dropped upstream), bytes/s and quality tiers seen.\n"
             "Exits 1 naming the reason when a client cannot connect, is closed by the\n"
             "server or receives a malformed message.\n\n",
    .options = options,
    .count = sizeof options / sizeof *options,
};

static int parse_url(const char *url, client_opts *o)
{
    static const char scheme[] = "ws://";
    if (strncmp(url, scheme, sizeof scheme - 1) != 0) return -EINVAL;
    const char *host = url + sizeof scheme - 1;
    const char *slash = strchr(host, '/');
    const char *colon = memchr(host, ':', slash ? (size_t)(slash - host) : strlen(host));
    const char *host_end = colon ? colon : slash ? slash : host + strlen(host);
    size_t hlen = (size_t)(host_end - host);
    if (hlen == 0 || hlen >= sizeof o->host) return -EINVAL;
    memcpy(o->host, host, hlen);
    o->host[hlen] = '\0';
    o->port = 80;
    if (colon) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || p < 1 || p > 65535 || (*end && *end != '/')) return -EINVAL;
        o->port = (int)p;
    }
    int n = snprintf(o->path, sizeof o->path, "%s", slash ? slash : "/");
    return n < 0 || (size_t)n >= sizeof o->path ? -ENAMETOOLONG : 0;
}

static int parse_args(int argc, char **argv, client_opts *o)
{
    *o = (client_opts){.clients = 1, .seconds = 10};
    int rc = fc_opts_parse(&client_cl, argc, argv, o, NULL);
    if (rc != 0) return rc;
    if (!o->url) return fc_opts_usage_error("client", "--url is required");
    if (parse_url(o->url, o) != 0)
        return fc_opts_bad("client", "--url", o->url, "ws://HOST[:PORT]/PATH");
    if (o->stall > o->clients)
        return fc_opts_bad("client", "--stall", "more than --clients",
                           "a count from 0 to --clients");
    if (o->quality) {
        size_t used = strlen(o->path);
        int n = snprintf(o->path + used, sizeof o->path - used, "%squality=%s",
                         strchr(o->path, '?') ? "&" : "?", o->quality);
        if (n < 0 || (size_t)n >= sizeof o->path - used)
            return fc_opts_bad("client", "--url", o->url, "too long");
    }
    return 0;
}

static void on_time_up(uv_timer_t *t);

/* The window starts once every client is connected, so --seconds is time
 * spent receiving, however long a thousand handshakes take. */
static void on_ready(fc_load *load, void *arg)
{
    run *r = arg;
    fc_load_mark(load);
    r->mark_ns = fc_now_ns();
    uv_timer_start(&r->timer, on_time_up, (uint64_t)(r->o->seconds * 1000), 0);
}

static void on_time_up(uv_timer_t *t)
{
    run *r = t->data;
    r->end_ns = fc_now_ns();
    r->cpu_end_ns = fc_process_cpu_ns();
    fc_load_stop(r->load);
}

static void on_finished(fc_load *load, void *arg)
{
    (void)load;
    run *r = arg;
    if (!r->end_ns) {
        r->end_ns = fc_now_ns();
        r->cpu_end_ns = fc_process_cpu_ns();
    }
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, NULL);
    uv_close((uv_handle_t *)&r->sigint, NULL);
}

static void on_sigint(uv_signal_t *h, int signum)
{
    (void)signum;
    run *r = h->data;
    r->interrupted = true;
    on_time_up(&r->timer);
}

static const char *state_name(fc_load_state s)
{
    static const char *names[] = {"connecting", "open", "closed", "failed"};
    return names[s];
}

static double client_fps(const fc_load_client *c, double window_s)
{
    return window_s > 0 ? (double)c->frames / window_s : 0;
}

static void print_text(const run *r, const fc_load_summary *s, double window_s, double cpu_pct)
{
    const client_opts *o = r->o;
    printf("framecast client: ws://%s:%d%s, %d client(s) (%d stalled), %.1f s window\n\n", o->host,
           o->port, o->path, s->clients, s->stalled, window_s);
    printf("%6s %-7s %-7s %7s %6s %9s %8s %8s %8s %6s %9s %s\n", "client", "role", "state",
           "frames", "fps", "first_ms", "p50_ms", "p95_ms", "p99_ms", "gaps", "KB/s", "tiers");
    for (int i = 0; i < fc_load_count(r->load); i++) {
        const fc_load_client *c = fc_load_client_at(r->load, i);
        char tiers[48];
        fc_load_tiers_str(c->tiers_seen, tiers, sizeof tiers);
        printf("%6d %-7s %-7s %7llu %6.1f %9.1f %8.2f %8.2f %8.2f %6llu %9.1f %s\n", i,
               c->stalled ? "stalled" : "reader", state_name(c->state),
               (unsigned long long)c->frames, client_fps(c, window_s), c->first_frame_ms,
               fc_lat_hist_quantile(&c->latency, 0.50), fc_lat_hist_quantile(&c->latency, 0.95),
               fc_lat_hist_quantile(&c->latency, 0.99), (unsigned long long)c->gaps,
               window_s > 0 ? (double)c->bytes / window_s / 1e3 : 0, tiers);
    }
    char tiers[48];
    fc_load_tiers_str(s->tiers_seen, tiers, sizeof tiers);
    printf("\naggregate: %d connected, %d failed; %llu frames, %.1f fps in total, per reader "
           "min/median/max %.1f/%.1f/%.1f fps\n",
           s->connected, s->failed, (unsigned long long)s->frames, s->fps_sum, s->fps_min,
           s->fps_median, s->fps_max);
    printf("  connect→first frame p50 %.1f ms, max %.1f ms; capture→receive p50 %.2f, p95 "
           "%.2f, p99 %.2f ms\n",
           s->first_frame_ms_p50, s->first_frame_ms_max, fc_lat_hist_quantile(&s->latency, 0.50),
           fc_lat_hist_quantile(&s->latency, 0.95), fc_lat_hist_quantile(&s->latency, 0.99));
    printf(
        "  gaps %llu frames, %.2f MB/s, tiers %s; this client used %.1f%% of a core over the run\n",
        (unsigned long long)s->gaps, window_s > 0 ? (double)s->bytes / window_s / 1e6 : 0,
        tiers[0] ? tiers : "none", cpu_pct);
}

static json_t *latency_json(const fc_lat_hist *h)
{
    return json_pack("{s:f, s:f, s:f, s:f}", "p50", fc_lat_hist_quantile(h, 0.50), "p95",
                     fc_lat_hist_quantile(h, 0.95), "p99", fc_lat_hist_quantile(h, 0.99), "max",
                     h->max);
}

static int print_json(const run *r, const fc_load_summary *s, double window_s, double cpu_pct)
{
    const client_opts *o = r->o;
    char tiers[48], url[1400];
    fc_load_tiers_str(s->tiers_seen, tiers, sizeof tiers);
    snprintf(url, sizeof url, "ws://%s:%d%s", o->host, o->port, o->path);
    json_t *list = json_array();
    for (int i = 0; list && i < fc_load_count(r->load); i++) {
        const fc_load_client *c = fc_load_client_at(r->load, i);
        char t[48];
        fc_load_tiers_str(c->tiers_seen, t, sizeof t);
        json_array_append_new(
            list, json_pack("{s:i, s:b, s:s, s:I, s:f, s:f, s:f, s:o, s:I, s:f, s:s, s:s?}",
                            "client", i, "stalled", c->stalled, "state", state_name(c->state),
                            "frames", (json_int_t)c->frames, "fps", client_fps(c, window_s),
                            "connect_ms", c->connect_ms, "first_frame_ms", c->first_frame_ms,
                            "latency_ms", latency_json(&c->latency), "gaps", (json_int_t)c->gaps,
                            "bytes_per_second", window_s > 0 ? (double)c->bytes / window_s : 0,
                            "tiers", t, "error", c->error[0] ? c->error : NULL));
    }
    json_t *doc = json_pack(
        "{s:s, s:f, s:f, s:{s:i, s:i, s:i, s:i, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:o, s:I, "
        "s:f, s:s}, s:o}",
        "url", url, "seconds", window_s, "client_cpu_percent", cpu_pct, "aggregate", "clients",
        s->clients, "connected", s->connected, "failed", s->failed, "stalled", s->stalled, "frames",
        (json_int_t)s->frames, "fps_total", s->fps_sum, "fps_min", s->fps_min, "fps_median",
        s->fps_median, "fps_max", s->fps_max, "first_frame_ms_p50", s->first_frame_ms_p50,
        "first_frame_ms_max", s->first_frame_ms_max, "latency_ms", latency_json(&s->latency),
        "gaps", (json_int_t)s->gaps, "bytes_per_second",
        window_s > 0 ? (double)s->bytes / window_s : 0, "tiers", tiers, "clients", list);
    if (!doc) {
        fprintf(stderr, "framecast client: out of memory for the JSON report\n");
        return -ENOMEM;
    }
    json_dumpf(doc, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(doc);
    return 0;
}

int fc_cmd_client(int argc, char **argv)
{
    client_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc != 0) return rc == 1 ? 0 : rc;

    char msg[300];
    if (fc_load_raise_fd_limit((long)o.clients + 64, msg, sizeof msg) != 0)
        fprintf(stderr, "framecast client: warning: %s\n", msg);
    signal(SIGPIPE, SIG_IGN);

    run r = {.o = &o};
    if (uv_loop_init(&r.uv) != 0) {
        fprintf(stderr, "framecast client: cannot start the event loop\n");
        return 1;
    }
    uv_timer_init(&r.uv, &r.timer);
    uv_signal_init(&r.uv, &r.sigint);
    r.timer.data = r.sigint.data = &r;
    uv_signal_start(&r.sigint, on_sigint, SIGINT);
    const char *paths[1] = {o.path};
    fc_load_config cfg = {
        .host = o.host,
        .port = o.port,
        .paths = paths,
        .npaths = 1,
        .clients = o.clients,
        .stall = o.stall,
        .on_ready = on_ready,
        .on_finished = on_finished,
        .arg = &r,
    };
    char err[300];
    r.start_ns = fc_now_ns();
    if (fc_load_start(&r.uv, &cfg, &r.load, err, sizeof err) != 0) {
        fprintf(stderr, "framecast client: %s\n", err);
        uv_close((uv_handle_t *)&r.timer, NULL);
        uv_close((uv_handle_t *)&r.sigint, NULL);
        uv_run(&r.uv, UV_RUN_DEFAULT);
        uv_loop_close(&r.uv);
        return 1;
    }
    uv_run(&r.uv, UV_RUN_DEFAULT);
    uv_loop_close(&r.uv);

    double window_s = r.mark_ns && r.end_ns > r.mark_ns ? (double)(r.end_ns - r.mark_ns) / 1e9 : 0;
    /* Over the whole run: a short or failed run has no window to speak of. */
    double run_s = (double)(r.end_ns - r.start_ns) / 1e9;
    double cpu_pct = run_s > 0 ? (double)r.cpu_end_ns / 1e9 / run_s * 100 : 0;
    fc_load_summary s;
    rc = 0;
    if (fc_load_summarize(r.load, window_s, &s) != 0) {
        fprintf(stderr, "framecast client: out of memory for the summary\n");
        rc = 1;
    } else if (o.json ? print_json(&r, &s, window_s, cpu_pct) != 0
                      : (print_text(&r, &s, window_s, cpu_pct), 0)) {
        rc = 1;
    }
    for (int i = 0; i < fc_load_count(r.load); i++) {
        const fc_load_client *c = fc_load_client_at(r.load, i);
        if (c->state == FC_LOAD_FAILED)
            fprintf(stderr, "framecast client: client %d: %s\n", i, c->error);
    }
    if (rc == 0 && s.failed > 0) {
        fprintf(stderr, "framecast client: %d of %d client(s) failed (reasons above)\n", s.failed,
                s.clients);
        rc = 1;
    }
    if (r.interrupted && rc == 0)
        fprintf(stderr, "framecast client: interrupted; the report covers the time until then\n");
    fc_load_free(r.load);
    return rc;
}
