#include "transport/ws_stream.h"

#include <jansson.h>
#include <libwebsockets.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transport/auth/guard.h"
#include "transport/close_codes.h"
#include "transport/conn.h"
#include "transport/control.h"
#include "transport/stream_query.h"
#include "transport/viewer_out.h"

#define QUERY_MAX 2048

static const char prefix[] = "/ws/streams/";

typedef struct stream_conn {
    fc_conn *conn;
    fc_stream *stream;
    fc_stream_user user; /* told when the stream leaves (deleted, replaced) */
    fc_view view;
    const fc_codec_ops *codec;
    fc_viewer_out out; /* its hub subscription, and what it was told last */
} stream_conn;

static void on_sub_wake(fc_sub *sub, void *ctx)
{
    (void)sub;
    fc_conn_want_write(ctx);
}

/* The stream left its set: let go of it now, and tell the client why. */
static void on_stream_gone(fc_stream_user *u, fc_stream_end why)
{
    stream_conn *sc = fc_container_of(u, stream_conn, user);
    fc_stream_unsubscribe(sc->stream, sc->view, sc->codec, sc->out.sub);
    sc->out.sub = NULL;
    sc->stream = NULL;
    fc_viewer_out_drop_held(&sc->out);
    if (why == FC_STREAM_DELETED)
        fc_conn_close_soon(sc->conn, CLOSE_STREAM_DELETED, "stream deleted");
    else if (why == FC_STREAM_REPLACED)
        fc_conn_close_soon(sc->conn, CLOSE_SERVICE_RESTART,
                           "stream restarted with new settings: reconnect");
    else
        fc_conn_close_soon(sc->conn, LWS_CLOSE_STATUS_GOINGAWAY, "server shutting down");
}

/* What a WebCodecs decoder of an inter-frame codec is configured with: the
 * codec string and the coded size of the frames of `tier`. */
static void add_decoder_fields(json_t *msg, const fc_stream *s, const fc_codec_ops *codec,
                               fc_tier tier)
{
    if (msg && codec == &fc_h264_passthrough) {
        /* The camera's own: its SPS says. Before its first IDR access unit
         * nothing is known, and the format message before that unit says. */
        const fc_passthrough_format *pf = fc_stream_passthrough_format(s);
        bool known = pf && pf->serial > 0;
        json_object_set_new(msg, "codec_string", known ? json_string(pf->sps.codec) : json_null());
        json_object_set_new(msg, "coded_width", json_integer(known ? pf->sps.coded_width : 0));
        json_object_set_new(msg, "coded_height", json_integer(known ? pf->sps.coded_height : 0));
        json_object_set_new(msg, "width", json_integer(known ? pf->sps.width : 0));
        json_object_set_new(msg, "height", json_integer(known ? pf->sps.height : 0));
        /* The camera's rate, not the stream's decoded frames' (none may be). */
        const fc_source_format *sf = fc_stream_source_format(s);
        json_object_set_new(msg, "fps", json_real(sf ? sf->fps : 0));
        if (sf && sf->codec[0]) json_object_set_new(msg, "source_codec", json_string(sf->codec));
        return;
    }
    if (!msg || !codec->codec_string) return;
    int w = 0, h = 0; /* a camera that has not delivered a picture: its format message says */
    if (fc_stream_format_of(s)->width > 0) fc_stream_frame_size(s, codec, tier, &w, &h);
    json_object_set_new(msg, "codec_string", json_string(codec->codec_string));
    json_object_set_new(msg, "coded_width", json_integer(w));
    json_object_set_new(msg, "coded_height", json_integer(h));
}

json_t *fc_ws_stream_hello(const fc_stream *s, const fc_stream_query *q, const fc_codec_ops *codec)
{
    const fc_stream_format *f = fc_stream_format_of(s);
    json_t *hello =
        json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:f, s:s, s:i, s:s, s:b}", "type", "hello",
                  "stream", fc_stream_id(s), "codec", codec->name, "source_codec", f->source_codec,
                  "width", f->width, "height", f->height, "fps", f->fps, "quality",
                  q->sub.auto_tier ? "auto" : fc_tier_name(q->sub.tier), "queue", (int)q->sub.queue,
                  "view", fc_view_name(q->view), "detection", fc_stream_detect(s) != NULL);
    add_decoder_fields(hello, s, codec, q->sub.auto_tier ? FC_TIER_HIGH : q->sub.tier);
    return hello;
}

/* The frames from the next one on are of another size or source codec than
 * the hello or the last format message said (a camera that changed). */
json_t *fc_ws_stream_format(const fc_stream *s, const fc_codec_ops *codec, int tier)
{
    const fc_stream_format *f = fc_stream_format_of(s);
    json_t *msg = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:f}", "type", "format", "stream",
                            fc_stream_id(s), "codec", codec->name, "source_codec", f->source_codec,
                            "width", f->width, "height", f->height, "fps", f->fps);
    add_decoder_fields(msg, s, codec, (fc_tier)tier);
    return msg;
}

/* Which format a subscriber's frames follow, as (serial, first frame):
 * the stream's, or for codec=h264 the camera's SPS (the frames are not the
 * stream's decoded ones, and their ids are the passthrough's). */
void fc_ws_stream_format_serial(const fc_stream *s, const fc_codec_ops *codec, uint64_t *serial,
                                uint32_t *first_id)
{
    if (codec == &fc_h264_passthrough) {
        const fc_passthrough_format *pf = fc_stream_passthrough_format(s);
        *serial = pf ? pf->serial : 0;
        *first_id = pf ? pf->first_id : 0;
        return;
    }
    const fc_stream_format *f = fc_stream_format_of(s);
    *serial = f->serial;
    *first_id = f->first_id;
}

static void format_serial(const stream_conn *sc, uint64_t *serial, uint32_t *first_id)
{
    fc_ws_stream_format_serial(sc->stream, sc->codec, serial, first_id);
}

int fc_ws_stream_choose(const fc_stream *s, fc_stream_query *q, const fc_codec_ops **codec,
                        int *code, char *why, size_t whylen)
{
    const char *id = fc_stream_id(s);
    *code = CLOSE_BAD_REQUEST;
    if (q->h264 && !fc_stream_offers_h264(s)) {
        /* Only a camera's own H.264 is served as H.264 (passed through, not
         * encoded); this stream's frames are framecast's. */
        snprintf(why, whylen, "stream '%s' is not H.264 (its codecs: %s)", id, fc_codec_names());
        return -1;
    }
    if (q->h264 && q->view != FC_VIEW_FULL) {
        snprintf(why, whylen,
                 "codec=h264 is the camera's own picture: view=full only (the %s view is "
                 "encoded by framecast: use jpeg, webp or vp8)",
                 fc_view_name(q->view));
        return -1;
    }
    if (q->h264) {
        /* One tier: the camera's. */
        q->sub.auto_tier = false;
        q->sub.tier = FC_TIER_HIGH;
    }
    if (q->view == FC_VIEW_PTZ && !fc_stream_detect(s)) {
        snprintf(why, whylen,
                 "stream '%s' has no detection, so no ptz view (--detect or detect= in its spec)",
                 id);
        return -1;
    }
    *codec = q->h264 ? &fc_h264_passthrough : q->codec ? q->codec : fc_stream_codec(s);
    return 0;
}

static int ws_stream_open(fc_conn *c, void *state, const char *path)
{
    stream_conn *sc = state;
    fc_server_env *env = fc_conn_env(c);
    sc->conn = c;
    fc_viewer_out_init(&sc->out);
    const char *id = path + sizeof prefix - 1;
    fc_stream *s = fc_stream_set_find(env->streams, id);
    char query[QUERY_MAX], err[300];
    fc_stream_query q;
    if (!s) {
        env->ws_refused++;
        fc_conn_refuse(c, CLOSE_UNKNOWN_STREAM, "unknown stream '%s'", id);
        return 0;
    }
    if (!fc_auth_ws_view(c, id)) return 0;
    int qlen = fc_conn_query(c, query, sizeof query);
    if (qlen < 0) {
        env->ws_refused++;
        fc_conn_refuse(c, CLOSE_BAD_REQUEST, "query longer than %d bytes", QUERY_MAX);
        return 0;
    }
    if (fc_stream_query_parse(query, (size_t)qlen, env->queue_default, &q, err, sizeof err) != 0) {
        env->ws_refused++;
        fc_conn_refuse(c, CLOSE_BAD_REQUEST, "%s", err);
        return 0;
    }
    const fc_codec_ops *codec;
    int code;
    if (fc_ws_stream_choose(s, &q, &codec, &code, err, sizeof err) != 0) {
        env->ws_refused++;
        fc_conn_refuse(c, code, "%s", err);
        return 0;
    }
    if (fc_stream_subscribe(s, q.view, codec, &q.sub, on_sub_wake, c, &sc->out.sub, err,
                            sizeof err) != 0) {
        env->ws_refused++;
        fc_conn_refuse(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "cannot subscribe: %s", err);
        return 0;
    }
    sc->stream = s;
    sc->view = q.view;
    sc->codec = codec;
    sc->user.gone = on_stream_gone;
    fc_stream_set_use(env->streams, s, &sc->user);
    uint32_t first_id;
    format_serial(sc, &sc->out.format_sent, &first_id);
    env->ws_accepted++;
    fc_conn_send_json(c, fc_ws_stream_hello(s, &q, codec));
    return 0;
}

void fc_ws_stream_text(fc_conn *c, void *state, const char *msg, size_t len)
{
    (void)state;
    json_t *obj;
    const char *type;
    char err[160];
    if (fc_control_parse(msg, len, &obj, &type, err, sizeof err) != 0) {
        fc_conn_send_error(c, err);
        return;
    }
    if (strcmp(type, "ping") == 0) {
        fc_conn_send_json(c, json_pack("{s:s}", "type", "pong"));
    } else {
        snprintf(err, sizeof err, "unknown message type '%.64s'", type);
        fc_conn_send_error(c, err);
    }
    json_decref(obj);
}

static bool send_format(fc_conn *c, void *ctx, uint64_t *format_sent, const fc_frame *f)
{
    stream_conn *sc = ctx;
    uint64_t serial;
    uint32_t first_id;
    format_serial(sc, &serial, &first_id);
    if (serial == *format_sent || f->id < first_id) return false;
    *format_sent = serial;
    fc_conn_send_json(c, fc_ws_stream_format(sc->stream, sc->codec, f->tier));
    return true;
}

static int tier_quality(void *ctx, int tier)
{
    const stream_conn *sc = ctx;
    return fc_stream_config_of(sc->stream)->quality[tier];
}

static const fc_viewer_describe describe = {.send_format = send_format, .quality = tier_quality};

static int ws_stream_writeable(fc_conn *c, void *state)
{
    stream_conn *sc = state;
    return fc_viewer_out_turn(c, &sc->out, sc->codec->inter_frame, &describe, sc);
}

static void ws_stream_closed(fc_conn *c, void *state)
{
    (void)c;
    stream_conn *sc = state;
    fc_stream_set_unuse(&sc->user);
    if (sc->out.sub) fc_stream_unsubscribe(sc->stream, sc->view, sc->codec, sc->out.sub);
    sc->out.sub = NULL;
    fc_viewer_out_drop_held(&sc->out);
}

static json_t *track_json(const fc_track *k)
{
    json_t *kp = json_array();
    for (int i = 0; i < FC_FACE_KEYPOINTS; i++)
        json_array_append_new(kp, json_pack("[f, f]", round(k->last.keypoints[i].x * 10) / 10,
                                            round(k->last.keypoints[i].y * 10) / 10));
    return json_pack("{s:I, s:[f, f, f, f], s:f, s:o}", "id", (json_int_t)k->id, "box",
                     round(k->x * 10) / 10, round(k->y * 10) / 10, round(k->w * 10) / 10,
                     round(k->h * 10) / 10, "score", round(k->last.score * 1000) / 1000,
                     "keypoints", kp);
}

fc_event *fc_ws_stream_detections_event(const fc_frame *f, const fc_tracker *tracks)
{
    json_t *faces = json_array();
    for (int i = 0; i < tracks->count; i++)
        json_array_append_new(faces, track_json(&tracks->track[i]));
    json_t *msg = json_pack("{s:s, s:I, s:f, s:o}", "type", "detections", "frame_id",
                            (json_int_t)f->id, "timestamp", f->timestamp, "faces", faces);
    char *text = msg ? json_dumps(msg, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(msg);
    fc_event *e = text ? fc_event_new(text, strlen(text)) : NULL;
    free(text);
    return e;
}

const fc_endpoint fc_ws_stream_endpoint = {
    .prefixes = (const char *const[]){prefix, NULL},
    .websocket = true,
    .state_size = sizeof(stream_conn),
    .open = ws_stream_open,
    .text = fc_ws_stream_text,
    .writeable = ws_stream_writeable,
    .closed = ws_stream_closed,
    .capacity = FC_CAP_SUBSCRIBER,
};
