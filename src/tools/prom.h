/* Reading numbers out of Prometheus text (the server's /metrics) for the
 * bench. Pure functions over a NUL-terminated text; any thread. */
#ifndef FC_TOOLS_PROM_H
#define FC_TOOLS_PROM_H

/* Sum of the samples of metric `name` whose labels contain `match` verbatim
 * (e.g. `role="loop"`; NULL matches all). 0 when none match; *found (if not
 * NULL) says whether any did. */
double fc_prom_sum(const char *text, const char *name, const char *match, int *found);

#define FC_PROM_MAX_BUCKETS 32
/* A histogram's cumulative buckets, summed over every series of `name`
 * (without the _bucket suffix) matching `match`. */
typedef struct fc_prom_hist {
    int n;
    double le[FC_PROM_MAX_BUCKETS]; /* ascending upper bounds; the last may be +Inf */
    double count[FC_PROM_MAX_BUCKETS];
} fc_prom_hist;

void fc_prom_hist_read(const char *text, const char *name, const char *match, fc_prom_hist *out);
/* b - a, bucket by bucket (a and b from the same server, so same bounds). */
void fc_prom_hist_sub(fc_prom_hist *b, const fc_prom_hist *a);
/* Quantile q, interpolated linearly inside its bucket; 0 when empty. */
double fc_prom_hist_quantile(const fc_prom_hist *h, double q);

#endif
