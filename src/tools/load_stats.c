/* fc_load's numbers: the latency histogram and the summary over every
 * client of a window. Pure arithmetic over what the clients counted. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/load.h"

/* -------------------------------------------------------------- histogram */

#define LAT_MIN_MS 0.01
#define LAT_RATIO 1.03

void fc_lat_hist_add(fc_lat_hist *h, double ms)
{
    int k = 0;
    if (ms > LAT_MIN_MS) {
        k = 1 + (int)(log(ms / LAT_MIN_MS) / log(LAT_RATIO));
        if (k >= FC_LAT_BUCKETS) k = FC_LAT_BUCKETS - 1;
    }
    h->bucket[k]++;
    if (h->count == 0 || ms < h->min) h->min = ms;
    if (h->count == 0 || ms > h->max) h->max = ms;
    h->count++;
    h->sum += ms;
}

void fc_lat_hist_merge(fc_lat_hist *into, const fc_lat_hist *from)
{
    if (from->count == 0) return;
    if (into->count == 0 || from->min < into->min) into->min = from->min;
    if (into->count == 0 || from->max > into->max) into->max = from->max;
    into->count += from->count;
    into->sum += from->sum;
    for (int k = 0; k < FC_LAT_BUCKETS; k++)
        into->bucket[k] += from->bucket[k];
}

double fc_lat_hist_quantile(const fc_lat_hist *h, double q)
{
    if (h->count == 0) return 0;
    uint64_t rank = (uint64_t)ceil(q * (double)h->count);
    if (rank < 1) rank = 1;
    uint64_t seen = 0;
    for (int k = 0; k < FC_LAT_BUCKETS; k++) {
        seen += h->bucket[k];
        if (seen >= rank) {
            /* The bucket's upper bound, but never beyond what was observed. */
            double upper = LAT_MIN_MS * pow(LAT_RATIO, k);
            return upper > h->max ? h->max : upper < h->min ? h->min : upper;
        }
    }
    return h->max;
}

/* ---------------------------------------------------------------- summary */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median of v[0..n), which it sorts. */
static double median(double *v, int n)
{
    if (n == 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int fc_load_summarize(const fc_load *l, double window_s, fc_load_summary *s)
{
    memset(s, 0, sizeof *s);
    int n = fc_load_count(l);
    double *fps = calloc((size_t)n, sizeof *fps);
    double *conn = calloc((size_t)n, sizeof *conn);
    double *first = calloc((size_t)n, sizeof *first);
    if (!fps || !conn || !first) {
        free(fps);
        free(conn);
        free(first);
        return -ENOMEM;
    }
    int nfps = 0, nconn = 0, nfirst = 0;
    s->clients = n;
    for (int i = 0; i < n; i++) {
        const fc_load_client *c = fc_load_client_at(l, i);
        s->failed += c->state == FC_LOAD_FAILED;
        s->stalled += c->stalled;
        s->frames += c->frames;
        s->bytes += c->bytes;
        s->gaps += c->gaps;
        s->tiers_seen |= c->tiers_seen;
        if (c->connect_ms >= 0) {
            s->connected++;
            conn[nconn++] = c->connect_ms;
            if (c->connect_ms > s->connect_ms_max) s->connect_ms_max = c->connect_ms;
        }
        if (c->stalled) continue;
        double f = window_s > 0 ? (double)c->frames / window_s : 0;
        fps[nfps++] = f;
        s->fps_sum += f;
        if (c->first_frame_ms >= 0) {
            first[nfirst++] = c->first_frame_ms;
            if (c->first_frame_ms > s->first_frame_ms_max)
                s->first_frame_ms_max = c->first_frame_ms;
        }
        fc_lat_hist_merge(&s->latency, &c->latency);
    }
    s->connect_ms_p50 = median(conn, nconn);
    s->first_frame_ms_p50 = median(first, nfirst);
    s->fps_median = median(fps, nfps);
    s->fps_min = nfps ? fps[0] : 0;
    s->fps_max = nfps ? fps[nfps - 1] : 0;
    free(fps);
    free(conn);
    free(first);
    return 0;
}

void fc_load_tiers_str(unsigned tiers, char *out, size_t outlen)
{
    static const char *names[] = {"high", "medium", "low"};
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < 3; i++)
        if (tiers & (1u << i) && used < outlen)
            used += (size_t)snprintf(out + used, outlen - used, "%s%s", used ? "," : "", names[i]);
}
