#include "transport/loop_metrics.h"

#include <stdio.h>

#include "core/clock.h"

static void loops_count(fc_metrics_out *out, void *ctx)
{
    const fc_loop_metrics *lm = ctx;
    fc_metrics_sample(out, NULL, (double)lm->loops->n);
}

static void viewers(fc_metrics_out *out, void *ctx)
{
    const fc_loop_metrics *lm = ctx;
    for (int i = 0; lm->router && i < lm->loops->n; i++) {
        char labels[32];
        snprintf(labels, sizeof labels, "loop=\"%d\"", i);
        unsigned n = i ? fc_router_viewers(lm->router, i) : fc_router_viewers_here(lm->router);
        fc_metrics_sample(out, labels, (double)n);
    }
}

static void handoffs(fc_metrics_out *out, void *ctx)
{
    const fc_loop_metrics *lm = ctx;
    for (int i = 1; lm->feeds && i < lm->loops->n; i++) {
        char labels[32];
        snprintf(labels, sizeof labels, "loop=\"%d\"", i);
        fc_metrics_sample(out, labels, (double)fc_feeds_handoffs(lm->feeds, i));
    }
}

static void handoff_lag(fc_metrics_out *out, void *ctx)
{
    const fc_loop_metrics *lm = ctx;
    for (int i = 1; lm->feeds && i < lm->loops->n; i++) {
        char labels[32];
        fc_histogram h;
        snprintf(labels, sizeof labels, "loop=\"%d\"", i);
        fc_feeds_lag(lm->feeds, i, &h);
        fc_metrics_histogram(out, labels, &h);
    }
}

static void loop_cpu(fc_metrics_out *out, void *ctx)
{
    const fc_loop_metrics *lm = ctx;
    for (int i = 0; i < lm->loops->n; i++) {
        char labels[32];
        snprintf(labels, sizeof labels, "loop=\"%d\"", i);
        fc_metrics_sample(out, labels,
                          (double)fc_thread_cpu_ns_of(lm->loops->loop[i]->thread) / 1e9);
    }
}

static const fc_metric_family families[] = {
    {"fc_loop_cpu_seconds_total", FC_METRIC_COUNTER, "CPU time of each event loop thread",
     loop_cpu},
    {"fc_loop_handoff_lag_milliseconds", FC_METRIC_HISTOGRAM,
     "How long handed-over frames waited for this loop to take them (one per wake-up): the "
     "lag of a loop other than the first",
     handoff_lag},
    {"fc_loops", FC_METRIC_GAUGE, "Event loop threads (--loops)", loops_count},
    {"fc_loop_viewers", FC_METRIC_GAUGE,
     "Stream WebSocket viewers each loop serves now (the first loop's: upgraded; another's: "
     "handed over)",
     viewers},
    {"fc_loop_handoffs_total", FC_METRIC_COUNTER,
     "Encoded frames handed from the streams' loop to this loop, once per frame whatever its "
     "number of viewers",
     handoffs},
};

int fc_loop_metrics_register(fc_metrics *m, fc_loop_metrics *lm)
{
    return fc_metrics_register_table(m, families, sizeof families / sizeof *families, lm);
}
