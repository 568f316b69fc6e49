#include "transport/avatar_msg.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encode/jpeg.h"
#include "encode/vp8.h"
#include "transport/control.h"

static int bad(char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "%s", why);
    return -EINVAL;
}

static int read_bool(json_t *run, const char *key, bool *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(run, key);
    if (!v) return 0;
    if (!json_is_boolean(v)) {
        snprintf(err, errlen, "run_kwargs.%s must be true or false", key);
        return -EINVAL;
    }
    *out = json_is_true(v);
    return 0;
}

/* run_kwargs: how the session runs. */
static int read_run(json_t *run, fc_avatar_request *r, char *err, size_t errlen)
{
    if (read_bool(run, "realtime", &r->realtime, err, errlen) != 0 ||
        read_bool(run, "audio", &r->want_audio, err, errlen) != 0)
        return -EINVAL;
    json_t *v;
    if ((v = json_object_get(run, "format"))) {
        const char *f = json_string_value(v);
        r->codec = f ? fc_codec_find(f) : NULL;
        if (!r->codec) {
            snprintf(err, errlen, "run_kwargs.format must be one of: %s", fc_codec_names());
            return -EINVAL;
        }
    }
    if ((v = json_object_get(run, "quality"))) {
        const char *q = json_string_value(v);
        if (q && strcmp(q, "auto") == 0)
            r->sub.auto_tier = true;
        else if (q && fc_tier_parse(q, &r->sub.tier) == 0)
            r->sub.auto_tier = false;
        else
            return bad(err, errlen,
                       "run_kwargs.quality must be \"auto\", \"high\", \"medium\" or \"low\"");
    }
    if ((v = json_object_get(run, "fps"))) {
        json_int_t n = json_integer_value(v);
        if (!json_is_integer(v) || n < 1 || n > FC_AVATAR_FPS) {
            snprintf(err, errlen, "run_kwargs.fps must be a whole number from 1 to %d",
                     FC_AVATAR_FPS);
            return -EINVAL;
        }
        r->fps = (int)n;
    }
    if ((v = json_object_get(run, "transport"))) {
        const char *t = json_string_value(v);
        if (t && strcmp(t, "webrtc") == 0)
            r->webrtc = true;
        else if (!t || strcmp(t, "websocket") != 0)
            return bad(err, errlen, "run_kwargs.transport must be \"websocket\" or \"webrtc\"");
    }
    if ((v = json_object_get(run, "queue"))) {
        json_int_t n = json_integer_value(v);
        if (!json_is_integer(v) || n < 1 || n > FC_QUEUE_MAX) {
            snprintf(err, errlen, "run_kwargs.queue must be a whole number from 1 to %d",
                     FC_QUEUE_MAX);
            return -EINVAL;
        }
        r->sub.queue = (size_t)n;
    }
    return 0;
}

/* A kwargs object as compact JSON for the generator: "{}" when absent. */
static char *kwargs_text(json_t *v)
{
    return v && json_is_object(v) ? json_dumps(v, JSON_COMPACT) : strdup("{}");
}

static int read_start(json_t *msg, size_t default_queue, fc_avatar_request *r, char *err,
                      size_t errlen)
{
    const char *audio = json_string_value(json_object_get(msg, "audio_path"));
    const char *source = json_string_value(json_object_get(msg, "source_path"));
    json_t *binary = json_object_get(msg, "binary");
    json_t *run = json_object_get(msg, "run_kwargs");
    json_t *setup = json_object_get(msg, "setup_kwargs");
    *r = (fc_avatar_request){
        .realtime = true,
        .codec = &fc_jpeg_codec,
        .sub = {.auto_tier = true, .tier = FC_TIER_HIGH, .queue = default_queue},
    };
    if (!audio || !source)
        return bad(err, errlen, "start_streaming needs string audio_path and source_path");
    if (binary && !json_is_true(binary))
        return bad(err, errlen, "only binary frames are served: \"binary\" must be true");
    if (json_is_object(run)) {
        if (read_run(run, r, err, errlen) != 0) return -EINVAL;
    } else if (run && !json_is_null(run)) {
        return bad(err, errlen, "run_kwargs must be an object");
    }
    if (r->webrtc) {
        /* What WebRTC carries: VP8 video, and the speech as Opus (the
         * session hands its audio over for that). */
        if (json_is_object(run) && json_object_get(run, "format") && r->codec != &fc_vp8_codec)
            return bad(err, errlen,
                       "run_kwargs.transport \"webrtc\" sends VP8: leave run_kwargs.format out "
                       "or make it \"vp8\"");
        r->codec = &fc_vp8_codec;
        r->want_audio = true;
    }
    if (setup && !json_is_object(setup) && !json_is_null(setup))
        return bad(err, errlen, "setup_kwargs and run_kwargs must be objects");
    r->audio_path = strdup(audio);
    r->source_path = strdup(source);
    r->setup_json = kwargs_text(setup);
    r->run_json = kwargs_text(run);
    if (!r->audio_path || !r->source_path || !r->setup_json || !r->run_json) {
        fc_avatar_request_free(r);
        snprintf(err, errlen, "out of memory starting a session");
        return -ENOMEM;
    }
    return 0;
}

int fc_avatar_msg_parse(const char *text, size_t len, size_t default_queue, fc_avatar_msg *out,
                        char *err, size_t errlen)
{
    json_t *msg;
    const char *type;
    memset(out, 0, sizeof *out);
    int rc = fc_control_parse(text, len, &msg, &type, err, errlen);
    if (rc != 0) return rc;
    if (strcmp(type, "start_streaming") == 0) {
        out->type = FC_AVATAR_MSG_START;
        rc = read_start(msg, default_queue, &out->start, err, errlen);
    } else if (strcmp(type, "stop_streaming") == 0) {
        out->type = FC_AVATAR_MSG_STOP;
    } else if (strcmp(type, "ping") == 0) {
        out->type = FC_AVATAR_MSG_PING;
    } else {
        snprintf(err, errlen,
                 "unknown message type '%.64s' (known: start_streaming, stop_streaming, ping)",
                 type);
        rc = -EINVAL;
    }
    json_decref(msg);
    return rc;
}
