#include "tools/floor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "encode/codec.h"
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

/* A timing slot per frame and the JPEG encoder the server's outputs open,
 * for each tier. */
static int open_tiers(const fc_floor_config *cfg, double *ms[FC_TIER_COUNT],
                      fc_encoder *enc[FC_TIER_COUNT], char *err, size_t errlen)
{
    for (int t = 0; t < FC_TIER_COUNT; t++) {
        fc_codec_config cc = {.width = cfg->width,
                              .height = cfg->height,
                              .fps = cfg->fps,
                              .quality = cfg->quality[t],
                              .tier = t};
        ms[t] = calloc((size_t)cfg->frames, sizeof *ms[t]);
        if (!ms[t]) {
            snprintf(err, errlen, "encode floor: out of memory for %d timings", cfg->frames);
            return -ENOMEM;
        }
        int rc = fc_jpeg_codec.open(&cc, &enc[t], err, errlen);
        if (rc != 0) return rc;
    }
    return 0;
}

int fc_floor_measure(const fc_floor_config *cfg, fc_floor_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    if (cfg->frames < 1) {
        snprintf(err, errlen, "encode floor: no frames to measure");
        return -EINVAL;
    }
    fc_source_spec spec;
    fc_source *src;
    /* spec.c still answers -1 for every failure (owned by the sources work). */
    if (fc_source_spec_parse("synthetic:procedural", &spec, err, errlen) != 0 ||
        fc_source_create(&spec, cfg->width, cfg->height, cfg->fps, &src, err, errlen) != 0)
        return -EINVAL;
    double *ms[FC_TIER_COUNT] = {0};
    fc_encoder *enc[FC_TIER_COUNT] = {0};
    const fc_codec_ops *jpeg = &fc_jpeg_codec;
    const fc_encode_args args = {0};
    int rc = open_tiers(cfg, ms, enc, err, errlen);
    if (rc != 0) goto out;
    double t0 = fc_wall_seconds();
    /* One untimed encode first: it warms the caches the timed ones use. */
    fc_frame *warm, *warm_jpeg;
    if (src->ops->render(src, 0, t0, &warm) != 0) {
        snprintf(err, errlen, "encode floor: the synthetic source failed to render a frame");
        rc = -EIO;
        goto out;
    }
    rc = jpeg->encode(enc[0], warm, &args, &warm_jpeg, err, errlen);
    fc_frame_unref(warm);
    if (rc != 0) goto out;
    fc_frame_unref(warm_jpeg);
    for (int i = 0; i < cfg->frames; i++) {
        fc_frame *raw;
        if (src->ops->render(src, (uint32_t)i, t0 + i / cfg->fps, &raw) != 0) {
            snprintf(err, errlen, "encode floor: the synthetic source failed to render frame %d",
                     i);
            rc = -EIO;
            goto out;
        }
        for (int t = 0; t < FC_TIER_COUNT; t++) {
            fc_frame *out;
            uint64_t start = fc_thread_cpu_ns();
            int erc = jpeg->encode(enc[t], raw, &args, &out, err, errlen);
            uint64_t used = fc_thread_cpu_ns() - start;
            if (erc != 0) {
                fc_frame_unref(raw);
                rc = erc;
                goto out;
            }
            ms[t][i] = (double)used / 1e6;
            res->ms_mean[t] += ms[t][i] / cfg->frames;
            res->bytes_mean[t] += (double)out->payload_len / cfg->frames;
            fc_frame_unref(out);
        }
        fc_frame_unref(raw);
    }
    for (int t = 0; t < FC_TIER_COUNT; t++) {
        qsort(ms[t], (size_t)cfg->frames, sizeof *ms[t], cmp_double);
        res->ms_p50[t] = rank(ms[t], cfg->frames, 0.50);
        res->ms_p99[t] = rank(ms[t], cfg->frames, 0.99);
    }
out:
    for (int t = 0; t < FC_TIER_COUNT; t++) {
        free(ms[t]);
        if (enc[t]) jpeg->close(enc[t]);
    }
    fc_source_destroy(src);
    return rc;
}
