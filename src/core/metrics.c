#include "core/metrics.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct family {
    const char *name, *help; /* help NULL: more samples of the family `name` */
    fc_metric_type type;
    fc_metrics_collect_fn fn;
    void *ctx;
} family;

struct fc_metrics {
    family *fam;
    size_t n, cap;
};

struct fc_metrics_out {
    fc_buf *buf;
    const family *fam;
};

fc_metrics *fc_metrics_new(void)
{
    return calloc(1, sizeof(fc_metrics));
}

void fc_metrics_free(fc_metrics *m)
{
    if (!m) return;
    free(m->fam);
    free(m);
}

int fc_metrics_register(fc_metrics *m, const char *name, fc_metric_type type, const char *help,
                        fc_metrics_collect_fn fn, void *ctx)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 32;
        family *f = realloc(m->fam, cap * sizeof *f);
        if (!f) return -ENOMEM;
        m->fam = f;
        m->cap = cap;
    }
    m->fam[m->n++] = (family){name, help, type, fn, ctx};
    return 0;
}

int fc_metrics_add_samples(fc_metrics *m, const char *name, fc_metrics_collect_fn fn, void *ctx)
{
    return fc_metrics_register(m, name, FC_METRIC_COUNTER, NULL, fn, ctx);
}

int fc_metrics_register_table(fc_metrics *m, const fc_metric_family *table, size_t n, void *ctx)
{
    for (size_t i = 0; i < n; i++) {
        int rc =
            fc_metrics_register(m, table[i].name, table[i].type, table[i].help, table[i].fn, ctx);
        if (rc != 0) return rc;
    }
    return 0;
}

void fc_metrics_render(fc_metrics *m, fc_buf *buf)
{
    static const char *types[] = {"counter", "gauge", "histogram"};
    for (size_t i = 0; i < m->n; i++) {
        const family *f = &m->fam[i];
        if (!f->help) continue; /* rendered with its family */
        fc_buf_printf(buf, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                      types[f->type]);
        fc_metrics_out out = {buf, f};
        f->fn(&out, f->ctx);
        for (size_t j = i + 1; j < m->n; j++) {
            const family *more = &m->fam[j];
            if (more->help || strcmp(more->name, f->name) != 0) continue;
            more->fn(&out, more->ctx);
        }
    }
}

void fc_metrics_sample(fc_metrics_out *out, const char *labels, double value)
{
    if (labels && *labels)
        fc_buf_printf(out->buf, "%s{%s} %.17g\n", out->fam->name, labels, value);
    else
        fc_buf_printf(out->buf, "%s %.17g\n", out->fam->name, value);
}

void fc_histogram_init(fc_histogram *h, const double *bounds, int n)
{
    memset(h, 0, sizeof *h);
    h->n = n > FC_HIST_MAX_BUCKETS ? FC_HIST_MAX_BUCKETS : n;
    memcpy(h->bounds, bounds, (size_t)h->n * sizeof *bounds);
}

void fc_histogram_observe(fc_histogram *h, double v)
{
    int i = 0;
    while (i < h->n && v > h->bounds[i])
        i++;
    h->counts[i]++;
    h->total++;
    h->sum += v;
}

void fc_metrics_histogram(fc_metrics_out *out, const char *labels, const fc_histogram *h)
{
    const char *sep = labels && *labels ? "," : "";
    const char *lab = labels ? labels : "";
    uint64_t cum = 0;
    for (int i = 0; i < h->n; i++) {
        cum += h->counts[i];
        fc_buf_printf(out->buf, "%s_bucket{%s%sle=\"%g\"} %llu\n", out->fam->name, lab, sep,
                      h->bounds[i], (unsigned long long)cum);
    }
    fc_buf_printf(out->buf, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", out->fam->name, lab, sep,
                  (unsigned long long)h->total);
    if (*lab) {
        fc_buf_printf(out->buf, "%s_sum{%s} %.17g\n%s_count{%s} %llu\n", out->fam->name, lab,
                      h->sum, out->fam->name, lab, (unsigned long long)h->total);
    } else {
        fc_buf_printf(out->buf, "%s_sum %.17g\n%s_count %llu\n", out->fam->name, h->sum,
                      out->fam->name, (unsigned long long)h->total);
    }
}
