#include "stream/stream_metrics.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

typedef double (*stat_fn)(const fc_stream *s, const fc_stream_stats *st);

/* One sample per stream; with `detecting_only`, per stream that detects
 * (detection families have no samples for the others). */
static void each_stream(fc_metrics_out *out, const fc_stream_set *set, stat_fn fn,
                        bool detecting_only)
{
    for (size_t i = 0; i < set->n; i++) {
        if (detecting_only && !fc_stream_detect(set->v[i])) continue;
        fc_stream_stats st;
        fc_stream_get_stats(set->v[i], &st);
        char labels[96];
        snprintf(labels, sizeof labels, "stream=\"%s\"", fc_stream_id(set->v[i]));
        fc_metrics_sample(out, labels, fn(set->v[i], &st));
    }
}

#define FAMILY(fname, expr, detecting_only)                                                        \
    static double fname##_value(const fc_stream *s, const fc_stream_stats *st)                     \
    {                                                                                              \
        (void)s;                                                                                   \
        (void)st;                                                                                  \
        return (double)(expr);                                                                     \
    }                                                                                              \
    static void fname(fc_metrics_out *out, void *ctx)                                              \
    {                                                                                              \
        each_stream(out, ctx, fname##_value, detecting_only);                                      \
    }
#define STREAM_FAMILY(fname, expr) FAMILY(fname, expr, false)
#define DETECT_FAMILY(fname, expr) FAMILY(fname, expr, true)

STREAM_FAMILY(produced, st->frames_produced)
STREAM_FAMILY(not_encoded, st->frames_not_encoded)
STREAM_FAMILY(fused, st->frames_fused)
STREAM_FAMILY(source_fps, st->measured_fps)
STREAM_FAMILY(running, fc_stream_running(s))
STREAM_FAMILY(drops, st->drops)
STREAM_FAMILY(errors, st->errors)
STREAM_FAMILY(h264_subscribers, st->passthrough_subscribers)
STREAM_FAMILY(h264_published, st->passthrough.published)
STREAM_FAMILY(h264_prepended, st->passthrough.params_prepended)

DETECT_FAMILY(inferences, st->detect.inferences)
DETECT_FAMILY(inferences_faces, st->detect.inferences_with_faces)
DETECT_FAMILY(inferences_skipped, st->detect.inferences_skipped)
DETECT_FAMILY(inferences_square, st->detect.inferences_square)
DETECT_FAMILY(analysis_cpu, (double)st->detect.cpu_ns / 1e9)
DETECT_FAMILY(ptz_cpu, (double)st->ptz_cpu_ns / 1e9)
DETECT_FAMILY(detect_events, st->detect.events)
DETECT_FAMILY(tracks, fc_detect_tracker(fc_stream_detect(s))->count)

/* The source families: the state as a gauge per state (1 for the current
 * one, so a dashboard sums or filters by label), for every stream; counters
 * for pushing sources only (a paced source has none). */
static void source_state(fc_metrics_out *out, void *ctx)
{
    const fc_stream_set *set = ctx;
    for (size_t i = 0; i < set->n; i++) {
        fc_source_status st;
        fc_stream_source_status(set->v[i], &st);
        for (int k = FC_SOURCE_IDLE; k <= FC_SOURCE_FAILED; k++) {
            char labels[128];
            snprintf(labels, sizeof labels, "stream=\"%s\",state=\"%s\"", fc_stream_id(set->v[i]),
                     fc_source_state_name((fc_source_state)k));
            fc_metrics_sample(out, labels, st.state == (fc_source_state)k ? 1 : 0);
        }
    }
}

typedef enum {
    SRC_RECONNECTS,
    SRC_PACKETS,
    SRC_BYTES,
    SRC_DECODED,
    SRC_KEYS,
    SRC_DECODE_ERRORS,
    SRC_DECODE_CPU,
    SRC_KEY_ONLY,
} source_field;

static double source_value(const fc_source_status *st, source_field f)
{
    switch (f) {
    case SRC_RECONNECTS:
        return (double)st->reconnects;
    case SRC_PACKETS:
        return (double)st->packets;
    case SRC_BYTES:
        return (double)st->bytes;
    case SRC_DECODED:
        return (double)st->frames_decoded;
    case SRC_KEYS:
        return (double)st->key_frames_decoded;
    case SRC_DECODE_ERRORS:
        return (double)st->decode_errors;
    case SRC_DECODE_CPU:
        return (double)st->decode_cpu_ns / 1e9;
    case SRC_KEY_ONLY:
        return st->key_only;
    }
    return 0;
}

static void each_pushing(fc_metrics_out *out, const fc_stream_set *set, source_field f)
{
    for (size_t i = 0; i < set->n; i++) {
        if (!fc_stream_source_format(set->v[i])) continue;
        fc_source_status st;
        fc_stream_source_status(set->v[i], &st);
        char labels[96];
        snprintf(labels, sizeof labels, "stream=\"%s\"", fc_stream_id(set->v[i]));
        fc_metrics_sample(out, labels, source_value(&st, f));
    }
}

#define SOURCE_FAMILY(fname, field)                                                                \
    static void fname(fc_metrics_out *out, void *ctx)                                              \
    {                                                                                              \
        each_pushing(out, ctx, field);                                                             \
    }

SOURCE_FAMILY(source_reconnects, SRC_RECONNECTS)
SOURCE_FAMILY(source_packets, SRC_PACKETS)
SOURCE_FAMILY(source_bytes, SRC_BYTES)
SOURCE_FAMILY(source_decoded, SRC_DECODED)
SOURCE_FAMILY(source_keys, SRC_KEYS)
SOURCE_FAMILY(source_decode_errors, SRC_DECODE_ERRORS)
SOURCE_FAMILY(source_decode_cpu, SRC_DECODE_CPU)
SOURCE_FAMILY(source_key_only, SRC_KEY_ONLY)

/* Drops of a pushing source, by where: the hand-off from its demux thread
 * to the loop, or its decode stage falling behind (both to the next key
 * frame). */
static void source_dropped(fc_metrics_out *out, void *ctx)
{
    const fc_stream_set *set = ctx;
    for (size_t i = 0; i < set->n; i++) {
        if (!fc_stream_source_format(set->v[i])) continue;
        fc_source_status st;
        fc_stream_source_status(set->v[i], &st);
        char labels[128];
        snprintf(labels, sizeof labels, "stream=\"%s\",stage=\"handoff\"", fc_stream_id(set->v[i]));
        fc_metrics_sample(out, labels, (double)st.handoff_dropped);
        snprintf(labels, sizeof labels, "stream=\"%s\",stage=\"decode\"", fc_stream_id(set->v[i]));
        fc_metrics_sample(out, labels, (double)st.decode_dropped);
    }
}

static void subscribers(fc_metrics_out *out, void *ctx)
{
    const fc_stream_set *set = ctx;
    for (size_t i = 0; i < set->n; i++) {
        for (int v = 0; v < FC_VIEW_COUNT; v++) {
            char labels[128];
            snprintf(labels, sizeof labels, "stream=\"%s\",view=\"%s\"", fc_stream_id(set->v[i]),
                     fc_view_name((fc_view)v));
            fc_hub_stats hs;
            fc_stream_view_stats(set->v[i], (fc_view)v, &hs);
            fc_metrics_sample(out, labels, (double)hs.subscribers);
        }
    }
}

/* ---- per (view, codec) output ---- */

typedef double (*output_fn)(const fc_stream_output_stats *os);

/* One sample per view the stream has and registered codec (with
 * `inter_only`, inter-frame codecs): the JPEG ones always, as before
 * outputs were per codec; the others once that output has existed. */
static void each_output(fc_metrics_out *out, const fc_stream_set *set, output_fn fn,
                        bool inter_only, bool always)
{
    for (size_t i = 0; i < set->n; i++) {
        fc_stream_stats st;
        fc_stream_get_stats(set->v[i], &st);
        for (int v = 0; v < FC_VIEW_COUNT; v++) {
            if (!fc_stream_has_view(set->v[i], (fc_view)v)) continue;
            const fc_codec_ops *c;
            for (size_t k = 0; (c = fc_codec_at(k)); k++) {
                const fc_stream_output_stats *os = &st.output[v][c->id];
                if (inter_only && !c->inter_frame) continue;
                if (!always && c->id != FC_CODEC_JPEG && !os->open && os->encoded[0] == 0 &&
                    os->encoded[1] == 0 && os->encoded[2] == 0)
                    continue;
                char labels[160];
                snprintf(labels, sizeof labels, "stream=\"%s\",view=\"%s\",codec=\"%s\"",
                         fc_stream_id(set->v[i]), fc_view_name((fc_view)v), c->name);
                fc_metrics_sample(out, labels, fn(os));
            }
        }
    }
}

#define OUTPUT_FAMILY(fname, expr, inter_only, always)                                             \
    static double fname##_value(const fc_stream_output_stats *os)                                  \
    {                                                                                              \
        return (double)(expr);                                                                     \
    }                                                                                              \
    static void fname(fc_metrics_out *out, void *ctx)                                              \
    {                                                                                              \
        each_output(out, ctx, fname##_value, inter_only, always);                                  \
    }

OUTPUT_FAMILY(outputs_open, os->open, false, true)
OUTPUT_FAMILY(keyframes, os->keyframes, true, false)
OUTPUT_FAMILY(keyframes_forced, os->keyframes_forced, true, false)
OUTPUT_FAMILY(keyframes_periodic, os->keyframes_periodic, true, false)
OUTPUT_FAMILY(output_drops_to_key, os->drops_to_key, true, false)

static void encoded(fc_metrics_out *out, void *ctx)
{
    const fc_stream_set *set = ctx;
    for (size_t i = 0; i < set->n; i++) {
        fc_stream_stats st;
        fc_stream_get_stats(set->v[i], &st);
        for (int v = 0; v < FC_VIEW_COUNT; v++) {
            const fc_codec_ops *c;
            for (size_t k = 0; (c = fc_codec_at(k)); k++) {
                const fc_stream_output_stats *os = &st.output[v][c->id];
                /* JPEG's series always, as before outputs were per codec. */
                if (c->id != FC_CODEC_JPEG && !os->open && os->encoded[0] == 0 &&
                    os->encoded[1] == 0 && os->encoded[2] == 0)
                    continue;
                for (int t = 0; t < FC_TIER_COUNT; t++) {
                    char labels[192];
                    snprintf(labels, sizeof labels,
                             "stream=\"%s\",view=\"%s\",codec=\"%s\",tier=\"%s\"",
                             fc_stream_id(set->v[i]), fc_view_name((fc_view)v), c->name,
                             fc_tier_name((fc_tier)t));
                    fc_metrics_sample(out, labels, (double)os->encoded[t]);
                }
            }
        }
    }
}

static void coalesced(fc_metrics_out *out, void *ctx)
{
    const fc_stream_set *set = ctx;
    for (size_t i = 0; i < set->n; i++) {
        fc_stream_stats st;
        fc_stream_get_stats(set->v[i], &st);
        char labels[128];
        snprintf(labels, sizeof labels, "stream=\"%s\",stage=\"render\"", fc_stream_id(set->v[i]));
        fc_metrics_sample(out, labels, (double)st.render_coalesced);
        snprintf(labels, sizeof labels, "stream=\"%s\",stage=\"encode\"", fc_stream_id(set->v[i]));
        fc_metrics_sample(out, labels, (double)st.encode_coalesced);
        if (fc_stream_detect(set->v[i])) {
            snprintf(labels, sizeof labels, "stream=\"%s\",stage=\"detect\"",
                     fc_stream_id(set->v[i]));
            fc_metrics_sample(out, labels, (double)st.detect.coalesced);
            snprintf(labels, sizeof labels, "stream=\"%s\",stage=\"ptz\"", fc_stream_id(set->v[i]));
            fc_metrics_sample(out, labels, (double)st.ptz_coalesced);
        }
    }
}

static void encode_ms(fc_metrics_out *out, void *ctx)
{
    const fc_stream_set *set = ctx;
    for (size_t i = 0; i < set->n; i++) {
        const fc_codec_ops *c;
        for (size_t k = 0; (c = fc_codec_at(k)); k++) {
            const fc_histogram *h = fc_stream_encode_ms(set->v[i], c->id);
            if (c->id != FC_CODEC_JPEG && h->total == 0) continue;
            char labels[128];
            snprintf(labels, sizeof labels, "stream=\"%s\",codec=\"%s\"", fc_stream_id(set->v[i]),
                     c->name);
            fc_metrics_histogram(out, labels, h);
        }
    }
}

typedef enum { SUB_DEPTH, SUB_DROPS, SUB_SENT, SUB_BYTES, SUB_DROPS_TO_KEY } sub_field;

/* What a subscriber may be on: the registered codecs, then codec=h264 (the
 * passthrough, not registered: nothing encodes it). NULL past the last. */
static const fc_codec_ops *sub_codec_at(size_t k)
{
    const fc_codec_ops *c = fc_codec_at(k);
    if (c) return c;
    return k == 0 || fc_codec_at(k - 1) ? &fc_h264_passthrough : NULL;
}

static void each_sub(fc_metrics_out *out, const fc_stream_set *set, sub_field field)
{
    for (size_t i = 0; i < set->n; i++) {
        for (int view = 0; view < FC_VIEW_COUNT; view++) {
            const fc_codec_ops *c;
            for (size_t k = 0; (c = sub_codec_at(k)); k++) {
                if (field == SUB_DROPS_TO_KEY && !c->inter_frame) continue;
                const fc_hub *hub = fc_stream_hub(set->v[i], (fc_view)view, c);
                for (const fc_sub *sub = hub ? fc_hub_next_sub(hub, NULL) : NULL; sub;
                     sub = fc_hub_next_sub(hub, sub)) {
                    fc_sub_stats ss;
                    fc_sub_get_stats(sub, &ss);
                    char labels[224], codec[48] = "";
                    /* Full-view JPEG subscribers keep the label set they
                     * always had. */
                    if (c != fc_stream_codec(set->v[i]))
                        snprintf(codec, sizeof codec, "codec=\"%s\",", c->name);
                    snprintf(labels, sizeof labels,
                             "stream=\"%s\",%s%ssubscriber=\"%llu\",tier=\"%s\"",
                             fc_stream_id(set->v[i]), view == FC_VIEW_PTZ ? "view=\"ptz\"," : "",
                             codec, (unsigned long long)ss.serial, fc_tier_name(ss.tier));
                    double v = field == SUB_DEPTH          ? (double)ss.depth
                               : field == SUB_DROPS        ? (double)ss.dropped
                               : field == SUB_SENT         ? (double)ss.frames_sent
                               : field == SUB_DROPS_TO_KEY ? (double)ss.drops_to_key
                                                           : (double)ss.bytes_sent;
                    fc_metrics_sample(out, labels, v);
                }
            }
        }
    }
}

static void sub_depth(fc_metrics_out *out, void *ctx)
{
    each_sub(out, ctx, SUB_DEPTH);
}
static void sub_drops(fc_metrics_out *out, void *ctx)
{
    each_sub(out, ctx, SUB_DROPS);
}
static void sub_sent(fc_metrics_out *out, void *ctx)
{
    each_sub(out, ctx, SUB_SENT);
}
static void sub_bytes(fc_metrics_out *out, void *ctx)
{
    each_sub(out, ctx, SUB_BYTES);
}
static void sub_drops_to_key(fc_metrics_out *out, void *ctx)
{
    each_sub(out, ctx, SUB_DROPS_TO_KEY);
}

static const fc_metric_family families[] = {
    {"fc_stream_frames_produced_total", FC_METRIC_COUNTER,
     "Raw frames the stream's source produced.", produced},
    {"fc_stream_frames_encoded_total", FC_METRIC_COUNTER,
     "Frames encoded, per view, codec and quality tier (once per frame, codec and tier, shared by "
     "all subscribers).",
     encoded},
    {"fc_stream_outputs", FC_METRIC_GAUGE,
     "1 while somebody watches the view in the codec (its output exists).", outputs_open},
    {"fc_keyframes_total", FC_METRIC_COUNTER,
     "Key frames an inter-frame codec made, every tier (first frames and the keyint floor "
     "included).",
     keyframes},
    {"fc_keyframes_forced_total", FC_METRIC_COUNTER,
     "Key frames made because subscribers needed one (joins, queue gaps, tier moves), coalesced "
     "to one per second per tier.",
     keyframes_forced},
    {"fc_keyframes_periodic_total", FC_METRIC_COUNTER,
     "Key frames made because a tier had made none for --keyint seconds.", keyframes_periodic},
    {"fc_stream_drops_to_key_total", FC_METRIC_COUNTER,
     "Inter-frame deltas not sent after a full queue's gap, up to the next key frame.",
     output_drops_to_key},
    {"fc_stream_frames_not_encoded_total", FC_METRIC_COUNTER,
     "Frames produced but skipped by the encode fps cap.", not_encoded},
    {"fc_stream_fused_encodes_total", FC_METRIC_COUNTER,
     "Frames encoded in the job that decoded them (no hop through the loop between).", fused},
    {"fc_stream_coalesced_total", FC_METRIC_COUNTER,
     "Jobs replaced by a newer frame before they ran (latest wins).", coalesced},
    {"fc_stream_source_fps", FC_METRIC_GAUGE,
     "Frames per second the source produced over the last second.", source_fps},
    {"fc_stream_running", FC_METRIC_GAUGE,
     "1 while the source runs (somebody consumes the stream).", running},
    {"fc_stream_subscribers", FC_METRIC_GAUGE, "WebSocket subscribers of the stream, per view.",
     subscribers},
    {"fc_stream_drops_total", FC_METRIC_COUNTER, "Frames dropped from full subscriber queues.",
     drops},
    {"fc_stream_errors_total", FC_METRIC_COUNTER, "Frames the source or encoder failed to make.",
     errors},
    {"fc_passthrough_subscribers", FC_METRIC_GAUGE,
     "codec=h264 subscribers: the camera's own access units, passed through.", h264_subscribers},
    {"fc_passthrough_access_units_total", FC_METRIC_COUNTER,
     "Camera access units passed through to codec=h264 subscribers (not decoded, not encoded).",
     h264_published},
    {"fc_passthrough_params_prepended_total", FC_METRIC_COUNTER,
     "IDR access units passed through that lacked SPS/PPS and got the camera's last ones.",
     h264_prepended},
    {"fc_encode_milliseconds", FC_METRIC_HISTOGRAM, "CPU time of one encode, per codec.",
     encode_ms},
    {"fc_subscriber_queue_depth", FC_METRIC_GAUGE, "Frames waiting in a subscriber's queue.",
     sub_depth},
    {"fc_subscriber_drops_total", FC_METRIC_COUNTER,
     "Frames dropped from a subscriber's full queue.", sub_drops},
    {"fc_subscriber_frames_sent_total", FC_METRIC_COUNTER, "Frames written to a subscriber.",
     sub_sent},
    {"fc_subscriber_bytes_sent_total", FC_METRIC_COUNTER,
     "Bytes (header and payload) written to a subscriber.", sub_bytes},
    {"fc_subscriber_drops_to_key_total", FC_METRIC_COUNTER,
     "Inter-frame deltas not sent to a subscriber after its full queue's gap, up to the next key "
     "frame.",
     sub_drops_to_key},
    {"fc_detect_inferences_total", FC_METRIC_COUNTER, "Face detector runs.", inferences},
    {"fc_detect_inferences_with_faces_total", FC_METRIC_COUNTER,
     "Face detector runs that found at least one face.", inferences_faces},
    {"fc_detect_skipped_total", FC_METRIC_COUNTER,
     "Detection slots skipped by motion gating (scene unchanged).", inferences_skipped},
    {"fc_detect_square_inferences_total", FC_METRIC_COUNTER,
     "Face detector runs on the whole square input because a tracked face was near an edge the "
     "band input cuts.",
     inferences_square},
    {"fc_detect_cpu_seconds_total", FC_METRIC_COUNTER,
     "Worker CPU of the stream's detection: motion check and inference.", analysis_cpu},
    {"fc_detect_events_total", FC_METRIC_COUNTER,
     "Detections events sent to the stream's subscribers.", detect_events},
    {"fc_detect_tracks", FC_METRIC_GAUGE, "Faces tracked in the stream now.", tracks},
    {"fc_ptz_cpu_seconds_total", FC_METRIC_COUNTER,
     "Worker CPU of the stream's PTZ view crop and scale.", ptz_cpu},
    {"fc_source_state", FC_METRIC_GAUGE,
     "1 for the state the stream's source is in (idle, connecting, live, retrying, ended, "
     "failed), 0 for the others.",
     source_state},
    {"fc_source_reconnects_total", FC_METRIC_COUNTER,
     "Connection attempts of a file, camera or device after a failure.", source_reconnects},
    {"fc_source_packets_total", FC_METRIC_COUNTER, "Compressed packets read from the source.",
     source_packets},
    {"fc_source_bytes_total", FC_METRIC_COUNTER, "Compressed bytes read from the source.",
     source_bytes},
    {"fc_source_frames_decoded_total", FC_METRIC_COUNTER, "Pictures the source's decoder made.",
     source_decoded},
    {"fc_source_key_frames_decoded_total", FC_METRIC_COUNTER,
     "Key frames among the pictures decoded.", source_keys},
    {"fc_source_dropped_total", FC_METRIC_COUNTER,
     "Packets dropped to the next key frame: stage=\"handoff\" when the loop fell behind the "
     "demux thread, stage=\"decode\" when decoding fell behind.",
     source_dropped},
    {"fc_source_decode_errors_total", FC_METRIC_COUNTER,
     "Packets that did not parse or decode (corrupt data).", source_decode_errors},
    {"fc_source_decode_cpu_seconds_total", FC_METRIC_COUNTER,
     "Worker CPU of the source's decoding and conversion to I420.", source_decode_cpu},
    {"fc_source_key_frames_only", FC_METRIC_GAUGE,
     "1 while the source decodes key frames only (detection is its only consumer).",
     source_key_only},
};

int fc_stream_metrics_register(fc_metrics *m, const fc_stream_set *streams)
{
    return fc_metrics_register_table(m, families, sizeof families / sizeof *families,
                                     (void *)streams);
}
