/* Per-stream and per-subscriber metrics families. Loop thread. */
#ifndef FC_STREAM_STREAM_METRICS_H
#define FC_STREAM_STREAM_METRICS_H

#include "core/metrics.h"
#include "stream/registry.h"

int fc_stream_metrics_register(fc_metrics *m, const fc_stream_set *streams);

#endif
