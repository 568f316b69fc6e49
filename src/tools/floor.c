#include "tools/floor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "encode/jpeg.h"
#include "sources/source.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double rank(const double *sorted, int n, double q)
{
    int i = (int)(q * (n - 1) + 0.5);
    return sorted[i];
}

int fc_floor_measure(const fc_floor_config *cfg, fc_floor_result *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (cfg->frames < 1) {
        snprintf(err, errlen, "encode floor: no frames to measure");
        return -1;
    }
    fc_source_spec spec;
    if (fc_source_spec_parse("synthetic:procedural", &spec, err, errlen) != 0)
        return -1;
    fc_source *src;
    if (fc_source_create(&spec, cfg->width, cfg->height, cfg->fps, &src, err, errlen) != 0)
        return -1;
    double *ms[FC_TIER_COUNT] = {0};
    int rc = 0;
    for (int t = 0; t < FC_TIER_COUNT; t++) {
        ms[t] = calloc((size_t)cfg->frames, sizeof *ms[t]);
        if (!ms[t]) {
            snprintf(err, errlen, "encode floor: out of memory for %d timings", cfg->frames);
            rc = -1;
            goto out;
        }
    }
    double t0 = fc_wall_seconds();
    /* One untimed encode first: the thread's compressor is created on first use. */
    fc_frame *warm, *warm_jpeg;
    if (src->ops->render(src, 0, t0, &warm) != 0) {
        snprintf(err, errlen, "encode floor: the synthetic source failed to render a frame");
        rc = -1;
        goto out;
    }
    rc = fc_jpeg_encode(warm, cfg->quality[0], 0, &warm_jpeg, err, errlen);
    fc_frame_unref(warm);
    if (rc != 0)
        goto out;
    fc_frame_unref(warm_jpeg);
    for (int i = 0; i < cfg->frames; i++) {
        fc_frame *raw;
        if (src->ops->render(src, (uint32_t)i, t0 + i / cfg->fps, &raw) != 0) {
            snprintf(err, errlen, "encode floor: the synthetic source failed to render frame %d",
                     i);
            rc = -1;
            goto out;
        }
        for (int t = 0; t < FC_TIER_COUNT; t++) {
            fc_frame *jpeg;
            uint64_t start = fc_thread_cpu_ns();
            int erc = fc_jpeg_encode(raw, cfg->quality[t], t, &jpeg, err, errlen);
            uint64_t used = fc_thread_cpu_ns() - start;
            if (erc != 0) {
                fc_frame_unref(raw);
                rc = -1;
                goto out;
            }
            ms[t][i] = (double)used / 1e6;
            out->ms_mean[t] += ms[t][i] / cfg->frames;
            out->bytes_mean[t] += (double)jpeg->payload_len / cfg->frames;
            fc_frame_unref(jpeg);
        }
        fc_frame_unref(raw);
    }
    for (int t = 0; t < FC_TIER_COUNT; t++) {
        qsort(ms[t], (size_t)cfg->frames, sizeof *ms[t], cmp_double);
        out->ms_p50[t] = rank(ms[t], cfg->frames, 0.50);
        out->ms_p99[t] = rank(ms[t], cfg->frames, 0.99);
    }
out:
    for (int t = 0; t < FC_TIER_COUNT; t++)
        free(ms[t]);
    fc_source_destroy(src);
    return rc;
}
