/* The inside of an fc_stream, shared by stream.c (pacing, demand, sources,
 * outputs, lifecycle) and stream_info.c (what the rest of the server may
 * ask of a stream: its parts, format, source status and figures). Private
 * to src/stream; loop thread only, as the whole stream. */
#ifndef FC_STREAM_STREAM_IMPL_H
#define FC_STREAM_STREAM_IMPL_H

#include "core/log.h"
#include "core/metrics.h"
#include "core/stage.h"
#include "encode/output.h"
#include "stream/passthrough.h"
#include "stream/stream.h"

/* One (view, codec): its output while somebody watches, and the figures of
 * the outputs it had before. */
typedef struct view_out {
    fc_stream *s;
    fc_output *o; /* NULL while nobody watches */
    fc_stream_output_stats past;
    uint64_t coalesced_past;
} view_out;

struct fc_stream {
    char id[FC_ID_MAX];
    fc_loop *loop;
    fc_pool *pool;
    fc_source *src;
    bool pushing;     /* the source delivers frames itself (render == NULL) */
    bool src_started; /* pushing: started and not yet told to stop */
    fc_stream_config cfg;
    int views; /* FC_VIEW_FULL only, or the PTZ view too (with detection) */
    view_out out[FC_VIEW_COUNT][FC_CODEC_COUNT];
    /* codec=h264 of a source whose packets are the input's own: the full
     * view as the camera sent it, while somebody watches it so. */
    fc_passthrough *pass;
    fc_passthrough_stats pass_past; /* of the passthroughs closed before */
    fc_hub_stats pass_hub_past;
    fc_packet *segment;   /* the input's codec parameters, for a passthrough made later */
    char h264_codec[16];  /* their WebCodecs codec string; "" = not H.264 or not known */
    fc_detect *detect;    /* NULL without detection */
    fc_event *last_event; /* the latest detections, for subscribers who join later */

    /* Pushing sources. */
    fc_source_demand demand;  /* as last given to the source */
    fc_source_format src_fmt; /* as the source last reported it */
    bool fmt_pending;         /* reported, not yet seen on a frame */
    fc_source_state src_state;
    fc_frame *last_raw; /* the newest frame while the source is live, for joiners */
    int fused_codec;    /* the full view's output a decode job's reserved encode is for */
    fc_stream_format fmt;

    uv_timer_t timer;
    bool running;
    uint64_t running_since_ns;
    bool shutting_down;
    /* Paced: the tick period. Pushing: the source's frame period when its
     * rate is known (0 if not), for the rate slots. */
    uint64_t period_ns, next_due_ns;
    uint32_t next_index;
    uint64_t encode_period_ns, next_encode_ns;
    uint64_t detect_period_ns, next_detect_ns;

    fc_stage render_stage, ptz_stage;
    int inflight;   /* render and PTZ jobs created (running or pending) and not yet freed */
    int parts_open; /* outputs, detection stage and timer not closed yet */
    void (*shutdown_done)(fc_stream *, void *);
    void *shutdown_arg;

    fc_stream_stats stats;
    uint64_t fps_window_start_ns, fps_window_frames;
    fc_histogram encode_ms[FC_CODEC_COUNT];
    fc_histogram *loop_lag;
    fc_ratelimit error_log;
};

/* The (view, codec) slot of `codec`: NULL for a codec whose id no table
 * here has room for. */
view_out *fc_stream_slot(fc_stream *s, fc_view view, const fc_codec_ops *codec);
/* How the output of `view` in `codec` is made; `name` is its buffer for
 * the hub's name. */
fc_output_config fc_stream_output_config(const fc_stream *s, fc_view view,
                                         const fc_codec_ops *codec, char *name, size_t namelen);

#endif
