#include "transport/api.h"

#include "analysis/face/face.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static json_t *rect_json(fc_rect r)
{
    return json_pack("[f, f, f, f]", round(r.x * 10) / 10, round(r.y * 10) / 10,
                     round(r.w * 10) / 10, round(r.h * 10) / 10);
}

static json_t *detection_json(const fc_stream *s, const fc_stream_stats *st)
{
    if (!fc_stream_detecting(s))
        return json_null();
    const fc_detect_config *dc = &fc_stream_config_of(s)->detect;
    const fc_source *src = fc_stream_source(s);
    const fc_tracker *t = fc_stream_tracker(s);
    int iw = 0, ih = 0;
    fc_face_detector_input_for(dc->detector, src->width, src->height, &iw, &ih);
    json_t *faces = json_array();
    for (int i = 0; i < t->count; i++) {
        const fc_track *k = &t->track[i];
        json_array_append_new(faces,
                              json_pack("{s:I, s:o, s:f}", "id", (json_int_t)k->id, "box",
                                        rect_json((fc_rect){k->x, k->y, k->w, k->h}), "score",
                                        round(k->last.score * 1000) / 1000));
    }
    return json_pack("{s:f, s:f, s:[i, i], s:I, s:I, s:I, s:I, s:f, s:o, s:{s:o, s:I}}",
                     "fps", dc->fps, "motion_threshold", dc->motion_threshold, "model_input", iw,
                     ih, "square_inferences", (json_int_t)st->inferences_square, "inferences",
                     (json_int_t)st->inferences, "inferences_with_faces",
                     (json_int_t)st->inferences_with_faces, "skipped",
                     (json_int_t)st->inferences_skipped, "cpu_seconds",
                     (double)st->analysis_cpu_ns / 1e9, "faces", faces, "ptz", "view",
                     rect_json(fc_stream_ptz_view(s)), "subscribers",
                     (json_int_t)fc_stream_view_hub(s, FC_VIEW_PTZ)->count);
}

static json_t *stream_json(const fc_stream *s)
{
    const fc_source *src = fc_stream_source(s);
    const fc_stream_config *cfg = fc_stream_config_of(s);
    const fc_hub *hub = fc_stream_hub(s);
    fc_stream_stats st;
    fc_stream_get_stats(s, &st);
    json_t *enc = json_object();
    json_t *subs_by_tier = json_object();
    for (int t = 0; t < FC_TIER_COUNT; t++) {
        json_object_set_new(enc, fc_tier_name((fc_tier)t),
                            json_integer((json_int_t)st.frames_encoded[FC_VIEW_FULL][t]));
        json_object_set_new(subs_by_tier, fc_tier_name((fc_tier)t),
                            json_integer((json_int_t)hub->on_tier[t]));
    }
    return json_pack("{s:s, s:s, s:i, s:i, s:f, s:f, s:f, s:b, s:i, s:o, s:I, s:o, s:I, s:I, "
                     "s:o}",
                     "id", fc_stream_id(s), "source", src->description, "width", src->width,
                     "height", src->height, "fps", cfg->fps, "encode_fps", cfg->encode_fps,
                     "measured_fps", st.measured_fps, "running", fc_stream_running(s),
                     "subscribers", (int)hub->count, "subscribers_by_tier", subs_by_tier,
                     "frames_produced", (json_int_t)st.frames_produced, "frames_encoded", enc,
                     "frames_not_encoded", (json_int_t)st.frames_not_encoded, "drops",
                     (json_int_t)hub->drops, "detection", detection_json(s, &st));
}

void fc_api_streams_json(const fc_stream_set *streams, fc_buf *out)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < streams->n; i++)
        json_array_append_new(arr, stream_json(streams->v[i]));
    char *text = json_dumps(arr, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(arr);
    if (!text) {
        out->failed = true;
        return;
    }
    fc_buf_append(out, text, strlen(text));
    fc_buf_append(out, "\n", 1);
    free(text);
}
