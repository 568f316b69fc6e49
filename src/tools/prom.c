#include "tools/prom.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Calls fn for every sample line of `name`: its label text (between the
 * braces, not NUL-terminated) and its value. */
typedef void (*sample_fn)(const char *labels, size_t labels_len, double value, void *ctx);

static void each_sample(const char *text, const char *name, sample_fn fn, void *ctx)
{
    size_t nlen = strlen(name);
    for (const char *line = text; line && *line;
         line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        if (*line == '#' || strncmp(line, name, nlen) != 0) continue;
        const char *p = line + nlen, *labels = "";
        size_t llen = 0;
        if (*p == '{') {
            labels = p + 1;
            const char *close = strchr(labels, '}');
            const char *eol = strchr(labels, '\n');
            if (!close || (eol && close > eol)) continue;
            llen = (size_t)(close - labels);
            p = close + 1;
        }
        if (*p != ' ') continue;
        char *end;
        double v = strtod(p + 1, &end);
        if (end == p + 1) continue;
        fn(labels, llen, v, ctx);
    }
}

static int labels_match(const char *labels, size_t len, const char *match)
{
    if (!match) return 1;
    size_t mlen = strlen(match);
    for (size_t i = 0; i + mlen <= len; i++)
        if (memcmp(labels + i, match, mlen) == 0) return 1;
    return 0;
}

typedef struct sum_ctx {
    const char *match;
    double sum;
    int found;
} sum_ctx;

static void add_sample(const char *labels, size_t len, double v, void *ctx)
{
    sum_ctx *s = ctx;
    if (!labels_match(labels, len, s->match)) return;
    s->sum += v;
    s->found = 1;
}

double fc_prom_sum(const char *text, const char *name, const char *match, int *found)
{
    sum_ctx s = {.match = match};
    each_sample(text, name, add_sample, &s);
    if (found) *found = s.found;
    return s.sum;
}

typedef struct hist_ctx {
    const char *match;
    fc_prom_hist *h;
} hist_ctx;

static void add_bucket(const char *labels, size_t len, double v, void *ctx)
{
    hist_ctx *hc = ctx;
    if (!labels_match(labels, len, hc->match)) return;
    const char *le = NULL;
    for (size_t i = 0; i + 4 <= len; i++)
        if (memcmp(labels + i, "le=\"", 4) == 0) {
            le = labels + i + 4;
            break;
        }
    if (!le) return;
    double bound = strncmp(le, "+Inf", 4) == 0 ? INFINITY : strtod(le, NULL);
    fc_prom_hist *h = hc->h;
    int i = 0;
    while (i < h->n && h->le[i] < bound)
        i++;
    if (i < h->n && h->le[i] == bound) {
        h->count[i] += v;
        return;
    }
    if (h->n == FC_PROM_MAX_BUCKETS) return;
    memmove(&h->le[i + 1], &h->le[i], (size_t)(h->n - i) * sizeof *h->le);
    memmove(&h->count[i + 1], &h->count[i], (size_t)(h->n - i) * sizeof *h->count);
    h->le[i] = bound;
    h->count[i] = v;
    h->n++;
}

void fc_prom_hist_read(const char *text, const char *name, const char *match, fc_prom_hist *out)
{
    char bucket_name[128];
    size_t n = strlen(name);
    memset(out, 0, sizeof *out);
    if (n + sizeof "_bucket" > sizeof bucket_name) return;
    memcpy(bucket_name, name, n);
    memcpy(bucket_name + n, "_bucket", sizeof "_bucket");
    hist_ctx hc = {.match = match, .h = out};
    each_sample(text, bucket_name, add_bucket, &hc);
}

void fc_prom_hist_sub(fc_prom_hist *b, const fc_prom_hist *a)
{
    for (int i = 0; i < b->n; i++)
        for (int j = 0; j < a->n; j++)
            if (a->le[j] == b->le[i]) b->count[i] -= a->count[j];
}

double fc_prom_hist_quantile(const fc_prom_hist *h, double q)
{
    if (h->n == 0 || h->count[h->n - 1] <= 0) return 0;
    double total = h->count[h->n - 1], want = q * total;
    double prev_le = 0, prev_count = 0;
    for (int i = 0; i < h->n; i++) {
        if (h->count[i] >= want) {
            if (isinf(h->le[i])) return prev_le; /* beyond the last finite bound: say that bound */
            double in = h->count[i] - prev_count;
            double frac = in > 0 ? (want - prev_count) / in : 1;
            return prev_le + (h->le[i] - prev_le) * frac;
        }
        prev_le = h->le[i];
        prev_count = h->count[i];
    }
    return prev_le;
}
