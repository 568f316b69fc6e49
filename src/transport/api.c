#include "transport/api.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

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
                            json_integer((json_int_t)st.frames_encoded[t]));
        json_object_set_new(subs_by_tier, fc_tier_name((fc_tier)t),
                            json_integer((json_int_t)hub->on_tier[t]));
    }
    return json_pack("{s:s, s:s, s:i, s:i, s:f, s:f, s:f, s:b, s:i, s:o, s:I, s:o, s:I, s:I}",
                     "id", fc_stream_id(s), "source", src->description, "width", src->width,
                     "height", src->height, "fps", cfg->fps, "encode_fps", cfg->encode_fps,
                     "measured_fps", st.measured_fps, "running", fc_stream_running(s),
                     "subscribers", (int)hub->count, "subscribers_by_tier", subs_by_tier,
                     "frames_produced", (json_int_t)st.frames_produced, "frames_encoded", enc,
                     "frames_not_encoded", (json_int_t)st.frames_not_encoded, "drops",
                     (json_int_t)hub->drops);
}

void fc_api_streams_json(const fc_stream_set *streams, fc_buf *out)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < streams->n; i++)
        json_array_append_new(arr, stream_json(streams->v[i]));
    char *text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    if (!text) {
        out->failed = true;
        return;
    }
    fc_buf_append(out, text, strlen(text));
    fc_buf_append(out, "\n", 1);
    free(text);
}
