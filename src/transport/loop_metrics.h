/* /metrics for `--loops N`: how many loops, the stream viewers on each
 * (fc_loop_viewers{loop}: which loop serves a viewer), and the frames
 * handed to each loop other than the first (fc_loop_handoffs_total{loop}:
 * once per frame and loop, however many viewers it has there), how long
 * those frames waited for their loop (fc_loop_handoff_lag_milliseconds:
 * the lag of a loop other than the first, which runs no timers) and each
 * loop thread's CPU. Read on the first loop; the counters are atomics the
 * other loops add to, the lag histogram is under a mutex. */
#ifndef FC_TRANSPORT_LOOP_METRICS_H
#define FC_TRANSPORT_LOOP_METRICS_H

#include "core/loops.h"
#include "core/metrics.h"
#include "transport/feeds.h"
#include "transport/router.h"

typedef struct fc_loop_metrics {
    const fc_loops *loops;
    const fc_router *router; /* NULL with one loop */
    fc_feeds *feeds;         /* NULL with one loop */
} fc_loop_metrics;

/* `lm` outlives the registry. 0 or -ENOMEM. */
int fc_loop_metrics_register(fc_metrics *m, fc_loop_metrics *lm);

#endif
