#include "stream/build.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "encode/jpeg.h"

/* A rate a client set that the stream cannot reach is refused when strict
 * (the client asked for exactly this), capped otherwise. */
static int cap_rate(const char *field, double *rate, double fps, bool set_here, bool strict,
                    char *err, size_t errlen)
{
    if (fps <= 0 || *rate <= fps) return 0; /* fps 0: the source's own rate, no cap known */
    if (strict && set_here) {
        snprintf(err, errlen, "%s %g is above the stream's fps %g", field, *rate, fps);
        return -EINVAL;
    }
    *rate = fps;
    return 0;
}

int fc_stream_plan_make(const fc_stream_defaults *d, const char *id, const fc_source_spec *spec,
                        const fc_stream_settings *set, bool strict, fc_stream_plan *out, char *err,
                        size_t errlen)
{
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "%s", id);
    out->spec = *spec;
    out->width = spec->width ? spec->width : d->width;
    out->height = spec->width ? spec->height : d->height;
    fc_stream_config *cfg = &out->cfg;
    bool own_rate = fc_source_spec_pushes(spec) && strcmp(spec->type, "synthetic") != 0;
    cfg->fps = spec->fps > 0 ? spec->fps : own_rate ? 0 : d->fps;
    cfg->codec = &fc_jpeg_codec;
    cfg->idle_close = d->idle_close;
    cfg->key_only = d->key_only;
    cfg->keyint_s = d->keyint;

    cfg->encode_fps = set->encode_fps > 0    ? set->encode_fps
                      : spec->encode_fps > 0 ? spec->encode_fps
                      : d->encode_fps > 0    ? d->encode_fps
                                             : cfg->fps;
    int rc = cap_rate("encode_fps", &cfg->encode_fps, cfg->fps, set->encode_fps > 0, strict, err,
                      errlen);
    if (rc != 0) return rc;

    for (int t = 0; t < FC_TIER_COUNT; t++)
        cfg->quality[t] = set->quality[t] > 0 ? set->quality[t] : d->quality[t];

    bool detect = set->detect >= 0    ? set->detect == 1
                  : spec->detect >= 0 ? spec->detect == 1
                                      : d->detect;
    double detect_fps = set->detect_fps > 0    ? set->detect_fps
                        : spec->detect_fps > 0 ? spec->detect_fps
                                               : d->detect_fps;
    rc = cap_rate("detect_fps", &detect_fps, cfg->fps, set->detect_fps > 0, strict, err, errlen);
    if (rc != 0 || !detect) return rc;
    if (!d->detector) {
        snprintf(err, errlen, "detect: face detection needs a model, and this server has none (%s)",
                 d->detector_missing);
        return -EINVAL;
    }
    cfg->detect = (fc_detect_config){
        .detector = d->detector,
        .fps = detect_fps,
        .motion_threshold = d->motion_threshold,
        .tracker = d->tracker,
        .ptz = d->ptz,
        .event = d->event,
    };
    return 0;
}

fc_key_only_policy fc_key_only_policy_parse(const char *name)
{
    return strcmp(name, "always") == 0  ? FC_KEY_ONLY_ALWAYS
           : strcmp(name, "never") == 0 ? FC_KEY_ONLY_NEVER
                                        : FC_KEY_ONLY_AUTO;
}

int fc_stream_plan_source(const fc_stream_plan *p, fc_source **out, char *err, size_t errlen)
{
    /* fc_source_create answers -1 for every failure (sources/spec.c). */
    return fc_source_create(&p->spec, p->width, p->height, p->cfg.fps, out, err, errlen) == 0
               ? 0
               : -EINVAL;
}

int fc_stream_plan_build(const fc_stream_plan *p, const fc_stream_defaults *d, fc_loop *loop,
                         fc_pool *pool, fc_source *src, fc_stream **out, char *err, size_t errlen)
{
    return fc_stream_create(loop, pool, p->id, src, &p->cfg, d->loop_lag, out, err, errlen);
}
