/* What the rest of the server may ask of a stream (stream.h): its id,
 * source and parts, the format its subscribers are told, its source's
 * status, and its figures. Loop thread only. */
#include <string.h>

#include "stream/stream_impl.h"

const char *fc_view_name(fc_view v)
{
    return v == FC_VIEW_PTZ ? "ptz" : "full";
}

int fc_view_parse(const char *name, fc_view *out)
{
    for (int v = 0; v < FC_VIEW_COUNT; v++) {
        if (strcmp(name, fc_view_name((fc_view)v)) == 0) {
            *out = (fc_view)v;
            return 0;
        }
    }
    return -EINVAL;
}

const char *fc_stream_id(const fc_stream *s)
{
    return s->id;
}

const fc_source *fc_stream_source(const fc_stream *s)
{
    return s->src;
}

const fc_stream_config *fc_stream_config_of(const fc_stream *s)
{
    return &s->cfg;
}

const fc_codec_ops *fc_stream_codec(const fc_stream *s)
{
    return s->cfg.codec;
}

bool fc_stream_has_view(const fc_stream *s, fc_view view)
{
    return (int)view < s->views;
}

const fc_hub *fc_stream_hub(const fc_stream *s, fc_view view, const fc_codec_ops *codec)
{
    if (codec == &fc_h264_passthrough)
        return view == FC_VIEW_FULL && s->pass ? fc_passthrough_hub(s->pass) : NULL;
    const view_out *vo = fc_stream_slot((fc_stream *)s, view, codec);
    return vo && vo->o ? fc_output_hub(vo->o) : NULL;
}

void fc_stream_view_stats(const fc_stream *s, fc_view view, fc_hub_stats *out)
{
    memset(out, 0, sizeof *out);
    for (int c = 0; c < FC_CODEC_COUNT; c++) {
        const view_out *vo = &s->out[view][c];
        out->drops += vo->past.drops;
        out->drops_to_key += vo->past.drops_to_key;
        if (!vo->o) continue;
        fc_hub_stats hs;
        fc_hub_get_stats(fc_output_hub(vo->o), &hs);
        out->subscribers += hs.subscribers;
        for (int t = 0; t < FC_TIER_COUNT; t++)
            out->on_tier[t] += hs.on_tier[t];
        out->drops += hs.drops;
        out->drops_to_key += hs.drops_to_key;
    }
    if (view != FC_VIEW_FULL) return;
    out->drops += s->pass_hub_past.drops;
    out->drops_to_key += s->pass_hub_past.drops_to_key;
    if (!s->pass) return;
    fc_hub_stats hs;
    fc_hub_get_stats(fc_passthrough_hub(s->pass), &hs);
    out->subscribers += hs.subscribers;
    out->on_tier[FC_TIER_HIGH] += hs.subscribers;
    out->drops += hs.drops;
    out->drops_to_key += hs.drops_to_key;
}

void fc_stream_frame_size(const fc_stream *s, const fc_codec_ops *codec, fc_tier tier, int *width,
                          int *height)
{
    char name[FC_ID_MAX + 32];
    fc_output_config oc = fc_stream_output_config(s, FC_VIEW_FULL, codec, name, sizeof name);
    fc_output_tier_size(&oc, tier, s->fmt.width, s->fmt.height, width, height);
}

const fc_detect *fc_stream_detect(const fc_stream *s)
{
    return s->detect;
}

bool fc_stream_running(const fc_stream *s)
{
    return s->running;
}

const fc_stream_format *fc_stream_format_of(const fc_stream *s)
{
    return &s->fmt;
}

const fc_source_format *fc_stream_source_format(const fc_stream *s)
{
    return s->pushing ? &s->src_fmt : NULL;
}

void fc_stream_source_status(const fc_stream *s, fc_source_status *out)
{
    if (s->pushing) {
        /* get_status reads the source's counters; it changes nothing the
         * stream could see (sources/source.h). */
        s->src->ops->get_status(s->src, out);
        return;
    }
    memset(out, 0, sizeof *out);
    out->state = s->running ? FC_SOURCE_LIVE : FC_SOURCE_IDLE;
    out->since_ns = s->running_since_ns;
}

void fc_stream_get_stats(const fc_stream *s, fc_stream_stats *out)
{
    *out = s->stats;
    out->render_coalesced = s->render_stage.coalesced;
    out->ptz_coalesced = s->ptz_stage.coalesced;
    out->encode_coalesced = 0;
    out->drops = 0;
    memset(out->frames_encoded, 0, sizeof out->frames_encoded);
    for (int v = 0; v < FC_VIEW_COUNT; v++) {
        for (int c = 0; c < FC_CODEC_COUNT; c++) {
            const view_out *vo = &s->out[v][c];
            fc_stream_output_stats *os = &out->output[v][c];
            *os = vo->past;
            out->encode_coalesced += vo->coalesced_past;
            if (vo->o) {
                fc_output_stats live;
                fc_output_get_stats(vo->o, &live);
                fc_hub_stats hs;
                fc_hub_get_stats(fc_output_hub(vo->o), &hs);
                os->open = true;
                os->subscribers = hs.subscribers;
                for (int t = 0; t < FC_TIER_COUNT; t++)
                    os->encoded[t] += live.encoded[t];
                os->keyframes += live.keyframes;
                os->keyframes_forced += live.keyframes_forced;
                os->keyframes_periodic += live.keyframes_periodic;
                os->drops += hs.drops;
                os->drops_to_key += hs.drops_to_key;
                out->encode_coalesced += live.coalesced;
            }
            for (int t = 0; t < FC_TIER_COUNT; t++)
                out->frames_encoded[v][t] += os->encoded[t];
            out->drops += os->drops;
        }
    }
    if (s->detect) fc_detect_get_stats(s->detect, &out->detect);
    out->passthrough = s->pass_past;
    out->passthrough_drops = s->pass_hub_past.drops;
    out->passthrough_drops_to_key = s->pass_hub_past.drops_to_key;
    if (s->pass) {
        fc_passthrough_add_stats(s->pass, &out->passthrough);
        fc_hub_stats hs;
        fc_hub_get_stats(fc_passthrough_hub(s->pass), &hs);
        out->passthrough_subscribers = hs.subscribers;
        out->passthrough_drops += hs.drops;
        out->passthrough_drops_to_key += hs.drops_to_key;
    }
    out->drops += out->passthrough_drops;
}

const char *fc_stream_h264_codec_string(const fc_stream *s)
{
    const fc_passthrough_format *pf = s->pass ? fc_passthrough_format_of(s->pass) : NULL;
    if (pf && pf->serial > 0) return pf->sps.codec;
    return s->h264_codec[0] ? s->h264_codec : NULL;
}

const fc_passthrough_format *fc_stream_passthrough_format(const fc_stream *s)
{
    return s->pass ? fc_passthrough_format_of(s->pass) : NULL;
}

const fc_histogram *fc_stream_encode_ms(const fc_stream *s, fc_codec codec)
{
    return &s->encode_ms[codec > FC_CODEC_NONE && codec < FC_CODEC_COUNT ? codec : FC_CODEC_JPEG];
}
