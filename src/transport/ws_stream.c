#include "transport/ws_stream.h"

#include <jansson.h>
#include <libwebsockets.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "transport/conn.h"
#include "transport/control.h"
#include "transport/stream_query.h"

#define CLOSE_UNKNOWN_STREAM 4404
#define CLOSE_BAD_REQUEST 4400
#define QUERY_MAX 2048

static const char prefix[] = "/ws/streams/";

typedef struct stream_conn {
    fc_conn *conn;
    fc_stream *stream;
    fc_view view;
    fc_sub *sub;
    fc_frame *held; /* next frame, waiting behind a tier message */
    int tier_sent;  /* tier of the frames last sent; -1 before the first */
} stream_conn;

static void on_sub_wake(fc_sub *sub, void *ctx)
{
    (void)sub;
    fc_conn_want_write(ctx);
}

static json_t *hello_json(const fc_stream *s, const fc_stream_query *q)
{
    const fc_source *src = fc_stream_source(s);
    return json_pack("{s:s, s:s, s:s, s:i, s:i, s:f, s:s, s:i, s:s, s:b}", "type", "hello",
                     "stream", fc_stream_id(s), "codec", fc_stream_codec(s)->name, "width",
                     src->width, "height", src->height, "fps", fc_stream_config_of(s)->encode_fps,
                     "quality", q->sub.auto_tier ? "auto" : fc_tier_name(q->sub.tier), "queue",
                     (int)q->sub.queue, "view", fc_view_name(q->view), "detection",
                     fc_stream_detect(s) != NULL);
}

static int ws_stream_open(fc_conn *c, void *state, const char *path)
{
    stream_conn *sc = state;
    fc_server_env *env = fc_conn_env(c);
    sc->conn = c;
    sc->tier_sent = -1;
    const char *id = path + sizeof prefix - 1;
    fc_stream *s = fc_stream_set_find(env->streams, id);
    char query[QUERY_MAX], err[300];
    fc_stream_query q;
    if (!s) {
        env->ws_refused++;
        fc_conn_refuse(c, CLOSE_UNKNOWN_STREAM, "unknown stream '%s'", id);
        return 0;
    }
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
    if (q.view == FC_VIEW_PTZ && !fc_stream_detect(s)) {
        env->ws_refused++;
        fc_conn_refuse(c, CLOSE_BAD_REQUEST,
                       "stream '%s' has no detection, so no ptz view (--detect or detect= in its "
                       "spec)",
                       id);
        return 0;
    }
    if (fc_stream_subscribe(s, q.view, &q.sub, on_sub_wake, c, &sc->sub) != 0) {
        env->ws_refused++;
        fc_conn_refuse(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "cannot subscribe to '%s'", id);
        return 0;
    }
    sc->stream = s;
    sc->view = q.view;
    env->ws_accepted++;
    fc_conn_send_json(c, hello_json(s, &q));
    return 0;
}

static void ws_stream_text(fc_conn *c, void *state, const char *msg, size_t len)
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

/* One message per turn: the pending event (small, and about the frames
 * that follow), else the next frame, announced by a tier message when its
 * tier differs from the last one's. */
static int ws_stream_writeable(fc_conn *c, void *state)
{
    stream_conn *sc = state;
    if (!sc->sub) return 0;
    fc_event *e = fc_sub_next_event(sc->sub);
    if (e) {
        int rc = fc_conn_write(c, fc_event_text(e), e->len, false);
        fc_event_unref(e);
        if (rc != 0) return -1;
        if (sc->held || fc_sub_has_work(sc->sub)) fc_conn_want_write(c);
        return 0;
    }
    fc_frame *f = sc->held ? sc->held : fc_sub_next(sc->sub, fc_now_ns());
    sc->held = NULL;
    if (!f) return 0;
    if (f->tier != sc->tier_sent) {
        /* The frame itself goes out after the tier message. */
        sc->tier_sent = f->tier;
        sc->held = f;
        fc_conn_send_json(c, json_pack("{s:s, s:s, s:i}", "type", "tier", "tier",
                                       fc_tier_name((fc_tier)f->tier), "quality",
                                       fc_stream_config_of(sc->stream)->quality[f->tier]));
        return 0;
    }
    int rc = fc_conn_write(c, f->wire, fc_frame_wire_len(f), true);
    fc_frame_unref(f);
    if (rc != 0) return -1;
    if (fc_sub_has_work(sc->sub)) fc_conn_want_write(c);
    return 0;
}

static void ws_stream_closed(fc_conn *c, void *state)
{
    (void)c;
    stream_conn *sc = state;
    if (sc->sub) fc_stream_unsubscribe(sc->stream, sc->view, sc->sub);
    sc->sub = NULL;
    fc_frame_unref(sc->held);
    sc->held = NULL;
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
    .text = ws_stream_text,
    .writeable = ws_stream_writeable,
    .closed = ws_stream_closed,
};
