/* `framecast bench`: the headless multi-camera harness. One scenario starts
 * `framecast serve` as a child with N synthetic cameras, subscribes M clients
 * per camera from this process (fc_load), lets it settle, then measures a
 * window of S seconds: the server's CPU per thread role from its /metrics (and
 * /proc), fps in and out, encode ms, drops, RSS, latency, and the overhead
 * ratio against the bare encode floor (fc_floor). The bench's own CPU (the
 * clients) is reported apart so the two are not confused.
 *
 * `--compare "A" "B"` alternates two configurations R times in one run and
 * reports medians and ratios, so an A/B holds on a noisy machine; with
 * `--server PATH` on one side, the two configurations are two builds. */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/bench.h"
#include "app/commands.h"
#include "app/options.h"
#include "tools/load.h"

#define MAX_CLIENTS 100000
#define MAX_ROUNDS 50

static const char *const qualities[] = {"auto", "high", "medium", "low", NULL};

#define ROW(...) FC_OPT_ROW(fc_bench_opts, __VA_ARGS__)
static const fc_option options[] = {
    ROW(FC_OPT_LONG, "cameras", cameras, .min = 1, .max = FC_BENCH_MAX_CAMERAS, .arg = "N",
        .help = "synthetic cameras", .want = "a count from 1 to 256"),
    ROW(FC_OPT_PARSE, "size", size, .arg = "WxH", .help = "frame size",
        .want = "WxH, both even, from 16x16 to 7680x4320", .parse = fc_opt_parse_size,
        .dflt = "1280x720"),
    ROW(FC_OPT_DOUBLE, "fps", fps, .min = 0.1, .max = 240, .arg = "F", .help = "camera frame rate",
        .want = "a rate from 0.1 to 240"),
    ROW(FC_OPT_DOUBLE, "encode-fps", encode_fps, .min = 0.1, .max = 240, .arg = "F",
        .help = "cap on encodes per second", .want = "a rate from 0.1 to 240", .dflt = "= fps"),
    ROW(FC_OPT_LONG, "subscribers", subscribers, .min = 0, .max = MAX_CLIENTS, .arg = "M",
        .help = "subscribers per camera (0 = nobody watches)", .want = "a count from 0 to 100000"),
    ROW(FC_OPT_LONG, "stall", stall, .min = 0, .max = MAX_CLIENTS, .arg = "K",
        .help = "of those, K stop reading after the handshake",
        .want = "a count from 0 to --subscribers"),
    ROW(FC_OPT_CHOICE, "quality", quality, .arg = "Q",
        .help = "what subscribers ask for: auto, high, medium, low", .choices = qualities),
    ROW(FC_OPT_PARSE, "jpeg-quality", jpeg_quality, .arg = "H,M,L",
        .help = "JPEG quality of the tiers", .want = "three JPEG qualities 1-100, e.g. 85,75,60",
        .parse = fc_opt_parse_quality, .dflt = "85,75,60"),
    ROW(FC_OPT_LONG, "workers", workers, .min = 1, .max = 256, .arg = "N",
        .help = "server worker threads", .want = "a thread count from 1 to 256",
        .dflt = "the server's"),
    ROW(FC_OPT_STRING, "server", server, .arg = "PATH",
        .help = "the framecast binary to run as the server; in --compare\n"
                "strings, an A/B of two builds",
        .dflt = "this one"),
    ROW(FC_OPT_DOUBLE, "seconds", seconds, .min = 0.1, .max = 86400, .arg = "S",
        .help = "measurement window", .want = "seconds from 0.1 to 86400"),
    ROW(FC_OPT_DOUBLE, "warmup", warmup, .min = 0, .max = 3600, .arg = "S",
        .help = "settling time before the window", .want = "seconds from 0 to 3600"),
    ROW(FC_OPT_FLAG, "json", json, .help = "print the results as JSON on stdout", .once = true),
    ROW(FC_OPT_FLAG, "encode-only", encode_only,
        .help = "measure only the encode floor for --size and exit", .once = true),
    ROW(FC_OPT_LONG, "frames", frames, .min = 1, .max = 10000, .arg = "N",
        .help = "frames the floor renders and encodes", .want = "a count from 1 to 10000"),
    ROW(FC_OPT_PAIR, "compare", compare, .arg = "A B",
        .help = "run two configurations, each a string of the options\n"
                "above (split at spaces) applied over the rest of the\n"
                "command line, alternately --rounds times; print\n"
                "medians and B/A ratios",
        .want = "needs two quoted option strings, A and B", .once = true),
    ROW(FC_OPT_LONG, "rounds", rounds, .min = 1, .max = MAX_ROUNDS, .arg = "R",
        .help = "A/B pairs for --compare", .want = "a count from 1 to 50", .once = true),
};

static const fc_command_line bench_cl = {
    .cmd = "bench",
    .usage = "usage: framecast bench [OPTIONS]\n"
             "       framecast bench --encode-only [--size WxH] [--frames N]\n"
             "       framecast bench [OPTIONS] --compare \"ARGS A\" \"ARGS B\" [--rounds R]\n\n"
             "Starts `framecast serve` as a child with N synthetic cameras, subscribes M\n"
             "clients per camera from this process, waits --warmup seconds, then measures\n"
             "--seconds: server CPU (% of one core) in total and per thread role (loop,\n"
             "sources, encode workers, analysis, worker overhead), fps in and out (per\n"
             "subscriber min and median), encode ms p50/p99, drops, RSS, capture→receive\n"
             "latency, server CPU per delivered frame, and the overhead ratio: server CPU\n"
             "divided by what bare libturbojpeg needs for the same encodes of the same\n"
             "frames (the encode floor, measured first in this process).\n\n",
    .after = "\nThe bench process's own CPU (the clients) is reported separately; on a small\n"
             "machine it competes with the server for cores, so compare like with like.\n",
    .options = options,
    .count = sizeof options / sizeof *options,
};

static void default_opts(fc_bench_opts *o)
{
    *o = (fc_bench_opts){
        .cameras = 1,
        .size = {1280, 720},
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

static int check_opts(const fc_bench_opts *o, const char *what)
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

static int measure_floor(const fc_bench_opts *o, fc_floor_result *floor)
{
    fc_floor_config fc = {
        .width = o->size[0], .height = o->size[1], .fps = o->fps, .frames = o->frames};
    memcpy(fc.quality, o->jpeg_quality, sizeof fc.quality);
    char err[300];
    int rc = fc_floor_measure(&fc, floor, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "framecast bench: %s\n", err);
        return rc;
    }
    return 0;
}

static int cmd_encode_only(const fc_bench_opts *o)
{
    fc_floor_result f;
    if (measure_floor(o, &f) != 0) return 1;
    double efps = fc_bench_encode_fps(o);
    if (o->json)
        return fc_bench_print_doc(
            json_pack("{s:o, s:o, s:o, s:f}", "machine", fc_bench_machine_json(), "config",
                      fc_bench_config_json(o), "floor", fc_bench_floor_json(&f, o->frames),
                      "cpu_percent_per_camera_high", f.ms_mean[0] * efps / 10));
    printf("framecast bench --encode-only: %d synthetic frames %dx%d, libturbojpeg 4:2:0, "
           "CPU time per encode\n",
           o->frames, o->size[0], o->size[1]);
    for (int t = 0; t < FC_TIER_COUNT; t++)
        printf("  %-6s q%-3d mean %.2f ms, p50 %.2f ms, p99 %.2f ms, %.0f bytes → %.1f%% of a "
               "core at %g fps\n",
               fc_tier_name((fc_tier)t), o->jpeg_quality[t], f.ms_mean[t], f.ms_p50[t], f.ms_p99[t],
               f.bytes_mean[t], f.ms_mean[t] * efps / 10, efps);
    return 0;
}

/* Room for the largest configuration's sockets, or a warning. */
static void raise_fd_limit(const fc_bench_opts *opts, int n)
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
        if (n == MAX_WORDS) return -E2BIG;
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
        n, offsetof(fc_bench_result, m)                                                            \
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

static double get_field(const fc_bench_result *r, const field *f)
{
    return *(const double *)((const char *)r + f->offset);
}

static double median_of(const fc_bench_result *rs, int n, const field *f)
{
    double v[MAX_ROUNDS];
    for (int i = 0; i < n; i++)
        v[i] = get_field(&rs[i], f);
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int cmd_compare(const fc_bench_opts *base)
{
    fc_bench_opts side[2];
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
        int rc = fc_opts_parse(&bench_cl, argc, argv, &side[k], "--compare");
        if (rc != 0) return rc;
        char what[16];
        snprintf(what, sizeof what, "compare %c", 'A' + k);
        if ((rc = check_opts(&side[k], what)) != 0) return rc;
    }
    raise_fd_limit(side, 2);
    fc_floor_result floor[2];
    for (int k = 0; k < 2; k++)
        if (measure_floor(&side[k], &floor[k]) != 0) return 1;
    static fc_bench_result results[2][MAX_ROUNDS];
    for (int round = 0; round < base->rounds; round++) {
        for (int k = 0; k < 2; k++) {
            fprintf(stderr, "framecast bench: round %d/%d, %c: %s\n", round + 1, base->rounds,
                    'A' + k, base->compare[k]);
            if (fc_bench_run(&side[k], &floor[k], &results[k][round]) != 0) return 1;
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
            json_array_append_new(rounds, json_pack("{s:o, s:o}", "a",
                                                    fc_bench_result_json(&results[0][round]), "b",
                                                    fc_bench_result_json(&results[1][round])));
        return fc_bench_print_doc(
            json_pack("{s:o, s:s, s:s, s:o, s:o, s:i, s:o, s:o, s:o, s:o}", "machine",
                      fc_bench_machine_json(), "a", base->compare[0], "b", base->compare[1],
                      "config_a", fc_bench_config_json(&side[0]), "config_b",
                      fc_bench_config_json(&side[1]), "rounds", base->rounds, "median_a", med[0],
                      "median_b", med[1], "ratio_b_over_a", ratio, "per_round", rounds));
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
    fc_bench_opts o;
    default_opts(&o);
    int rc = fc_opts_parse(&bench_cl, argc, argv, &o, NULL);
    if (rc != 0) return rc == 1 ? 0 : rc;
    if ((rc = check_opts(&o, "options")) != 0) return rc;
    if (o.encode_only) return cmd_encode_only(&o);

    signal(SIGPIPE, SIG_IGN);
    if (o.compare[0]) return cmd_compare(&o);
    raise_fd_limit(&o, 1);

    fc_floor_result floor;
    if (measure_floor(&o, &floor) != 0) return 1;
    fc_bench_result r;
    if (fc_bench_run(&o, &floor, &r) != 0) return 1;
    if (o.json)
        return fc_bench_print_doc(
            json_pack("{s:o, s:o, s:o, s:o}", "machine", fc_bench_machine_json(), "config",
                      fc_bench_config_json(&o), "floor", fc_bench_floor_json(&floor, o.frames),
                      "result", fc_bench_result_json(&r)));
    fc_bench_print_text(&o, &floor, &r);
    return 0;
}