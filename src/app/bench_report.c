/* `framecast bench`'s reports: JSON documents and the text summary. */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "app/bench.h"

const char *const fc_bench_role_names[ROLES] = {"loop",     "source", "encode",
                                                "analysis", "other",  "worker_overhead"};

double fc_bench_encode_fps(const fc_bench_opts *o)
{
    return o->encode_fps > 0 ? o->encode_fps : o->fps;
}

json_t *fc_bench_config_json(const fc_bench_opts *o)
{
    char size[32];
    snprintf(size, sizeof size, "%dx%d", o->size[0], o->size[1]);
    return json_pack("{s:i, s:s, s:f, s:f, s:i, s:i, s:s, s:[i,i,i], s:i, s:f, s:f}", "cameras",
                     o->cameras, "size", size, "fps", o->fps, "encode_fps", fc_bench_encode_fps(o),
                     "subscribers", o->subscribers, "stall", o->stall, "quality", o->quality,
                     "jpeg_quality", o->jpeg_quality[0], o->jpeg_quality[1], o->jpeg_quality[2],
                     "workers", o->workers, "seconds", o->seconds, "warmup", o->warmup);
}

json_t *fc_bench_floor_json(const fc_floor_result *f, int frames)
{
    json_t *tiers = json_object();
    for (int t = 0; tiers && t < FC_TIER_COUNT; t++)
        json_object_set_new(tiers, fc_tier_name((fc_tier)t),
                            json_pack("{s:f, s:f, s:f, s:f}", "ms_mean", f->ms_mean[t], "ms_p50",
                                      f->ms_p50[t], "ms_p99", f->ms_p99[t], "bytes_mean",
                                      f->bytes_mean[t]));
    return json_pack("{s:i, s:o}", "frames", frames, "tiers", tiers);
}

json_t *fc_bench_result_json(const fc_bench_result *r)
{
    json_t *roles = json_object(), *tiers = json_object();
    for (int i = 0; roles && i < ROLES; i++)
        json_object_set_new(roles, fc_bench_role_names[i], json_real(r->role_pct[i]));
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

json_t *fc_bench_machine_json(void)
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

int fc_bench_print_doc(json_t *doc)
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

void fc_bench_print_text(const fc_bench_opts *o, const fc_floor_result *f, const fc_bench_result *r)
{
    printf("framecast bench: %d camera(s) %dx%d @ %g fps (encode cap %g), %d subscriber(s) "
           "each (%d stalled, quality %s), %.1f s window\n",
           o->cameras, o->size[0], o->size[1], o->fps, fc_bench_encode_fps(o), o->subscribers,
           o->stall, o->quality, r->window_s);
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
