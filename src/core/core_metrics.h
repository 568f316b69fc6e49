/* Process-wide metrics: CPU per thread role (loop, workers by job role),
 * process CPU, worker pool activity, loop lag, frames alive. Loop thread. */
#ifndef FC_CORE_CORE_METRICS_H
#define FC_CORE_CORE_METRICS_H

#include "core/loop.h"
#include "core/metrics.h"
#include "core/pool.h"

typedef struct fc_core_metrics {
    fc_loop *loop;
    fc_pool *pool;
    fc_histogram loop_lag_ms; /* how late timers fire; fed by streams */
} fc_core_metrics;

void fc_core_metrics_init(fc_core_metrics *cm, fc_loop *loop, fc_pool *pool);
int fc_core_metrics_register(fc_core_metrics *cm, fc_metrics *m);

#endif
