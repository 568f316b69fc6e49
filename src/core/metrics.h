/* Metrics registry, rendered as Prometheus text for GET /metrics.
 *
 * A module registers a family once (name, type, help) with a collector that,
 * when /metrics is read, emits the family's current samples. State therefore
 * stays where it lives (streams, subscribers, the pool) and nothing is copied
 * per frame. Registry and collectors run on the loop thread. */
#ifndef FC_CORE_METRICS_H
#define FC_CORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

typedef struct fc_metrics fc_metrics;
typedef struct fc_metrics_out fc_metrics_out;
typedef void (*fc_metrics_collect_fn)(fc_metrics_out *out, void *ctx);

typedef enum { FC_METRIC_COUNTER, FC_METRIC_GAUGE, FC_METRIC_HISTOGRAM } fc_metric_type;

fc_metrics *fc_metrics_new(void);
void fc_metrics_free(fc_metrics *m);
/* `name` and `help` must outlive the registry (string literals). */
int fc_metrics_register(fc_metrics *m, const char *name, fc_metric_type type, const char *help,
                        fc_metrics_collect_fn fn, void *ctx);
/* A family for fc_metrics_register_table. */
typedef struct fc_metric_family {
    const char *name;
    fc_metric_type type;
    const char *help;
    fc_metrics_collect_fn fn;
} fc_metric_family;

/* Registers `n` families that share one ctx: 0 or -ENOMEM. */
int fc_metrics_register_table(fc_metrics *m, const fc_metric_family *table, size_t n, void *ctx);
/* More samples for family `name`, registered already by another module:
 * rendered after its own, under its HELP and TYPE (a family's samples must
 * be together). 0 or -ENOMEM. */
int fc_metrics_add_samples(fc_metrics *m, const char *name, fc_metrics_collect_fn fn, void *ctx);
/* Renders every family into `out` (appended). */
void fc_metrics_render(fc_metrics *m, fc_buf *out);

/* For collectors. `labels` is the inside of the braces, e.g. `stream="cam0"`,
 * or NULL. */
void fc_metrics_sample(fc_metrics_out *out, const char *labels, double value);

/* A fixed-bucket histogram, loop thread only. */
#define FC_HIST_MAX_BUCKETS 16
typedef struct fc_histogram {
    int n;
    double bounds[FC_HIST_MAX_BUCKETS]; /* upper bounds, ascending; +Inf implied */
    uint64_t counts[FC_HIST_MAX_BUCKETS + 1];
    uint64_t total;
    double sum;
} fc_histogram;

void fc_histogram_init(fc_histogram *h, const double *bounds, int n);
void fc_histogram_observe(fc_histogram *h, double v);
void fc_metrics_histogram(fc_metrics_out *out, const char *labels, const fc_histogram *h);

#endif
