/* `framecast bench`'s parts: its options and results (bench.c), one
 * scenario run against a child server (bench_run.c) and the reports
 * (bench_report.c). Main thread. */
#ifndef FC_APP_BENCH_H
#define FC_APP_BENCH_H

#include <jansson.h>
#include <stdbool.h>

#include "hub/tier.h"
#include "tools/floor.h"

#define FC_BENCH_MAX_CAMERAS 256

typedef struct fc_bench_opts {
    int cameras;
    int size[2];
    double fps, encode_fps; /* encode_fps 0 = fps */
    int subscribers, stall;
    const char *quality;
    int jpeg_quality[FC_TIER_COUNT];
    int workers;        /* 0 = the server's default */
    const char *server; /* the framecast binary run as the server; NULL = this one */
    double seconds, warmup;
    bool json, encode_only;
    int frames; /* encode floor sample */
    const char *compare[2];
    int rounds;
} fc_bench_opts;

enum { ROLE_LOOP, ROLE_SOURCE, ROLE_ENCODE, ROLE_ANALYSIS, ROLE_OTHER, ROLE_OVERHEAD, ROLES };
extern const char *const fc_bench_role_names[ROLES];

typedef struct fc_bench_result {
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
} fc_bench_result;

double fc_bench_encode_fps(const fc_bench_opts *o);

/* Runs one scenario to completion: 0, or a negative errno with the reason
 * printed. */
int fc_bench_run(const fc_bench_opts *o, const fc_floor_result *floor, fc_bench_result *res);

json_t *fc_bench_config_json(const fc_bench_opts *o);
json_t *fc_bench_floor_json(const fc_floor_result *f, int frames);
json_t *fc_bench_result_json(const fc_bench_result *r);
json_t *fc_bench_machine_json(void);
/* Prints the document (taken) on stdout: 0, or 1 when it is NULL (OOM). */
int fc_bench_print_doc(json_t *doc);
void fc_bench_print_text(const fc_bench_opts *o, const fc_floor_result *f,
                         const fc_bench_result *r);

#endif
