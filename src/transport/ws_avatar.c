#include "transport/ws_avatar.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "transport/auth/guard.h"
#include "transport/avatar_msg.h"
#include "transport/close_codes.h"
#include "transport/conn.h"
#include "transport/webrtc_avatar.h"

#define CLIENT_ID_MAX 64

static const char prefix[] = "/ws/";

typedef struct avatar_conn {
    fc_conn *conn;
    char client_id[CLIENT_ID_MAX];
    bool keyed;         /* may start sessions (auth/guard.h) */
    fc_avatar *av;      /* the current or last session, NULL before any */
    uint8_t *audio_out; /* opt-in audio block waiting to go, FC_FRAME_HEADROOM first */
    size_t audio_len;
    /* run_kwargs.transport "webrtc": the session's mountpoint; while
     * `waiting`, the request waits in `pending` for it to exist. */
    fc_webrtc_avatar *rtc;
    uint64_t mountpoint; /* its id, for streaming_started */
    bool waiting;
    fc_avatar_request pending;
    bool draining; /* the server stops: close once the session has ended */
} avatar_conn;

/* Session messages keep ten significant digits (durations). */
static void send_json(avatar_conn *ac, json_t *obj)
{
    char *s = obj ? json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(obj);
    if (s) fc_conn_send_text(ac->conn, s);
    free(s);
}

/* Validated (set up, the generator open): only now is the client told, with
 * the mountpoint of a WebRTC session. */
static void on_started(void *ctx)
{
    avatar_conn *ac = ctx;
    if (ac->rtc)
        send_json(ac, json_pack("{s:s, s:I}", "type", "streaming_started", "mountpoint",
                                (json_int_t)ac->mountpoint));
    else
        send_json(ac, json_pack("{s:s}", "type", "streaming_started"));
}

static void on_metadata(void *ctx, const fc_avatar_metadata *m)
{
    avatar_conn *ac = ctx;
    json_t *face = m->face_json ? json_loads(m->face_json, JSON_DECODE_ANY, NULL) : NULL;
    send_json(ac, json_pack("{s:s, s:f, s:I, s:i, s:i, s:i, s:s, s:s, s:i, s:b, s:o}", "type",
                            "metadata", "audio_duration", m->audio_duration, "expected_frames",
                            (json_int_t)m->expected_frames, "fps", m->fps, "width", m->width,
                            "height", m->height, "format", m->format, "generator", m->generator,
                            "sample_rate", m->sample_rate, "realtime", m->realtime, "face",
                            face ? face : json_null()));
}

static void on_audio(void *ctx, fc_avatar_audio *a)
{
    avatar_conn *ac = ctx;
    if (ac->rtc) {
        fc_webrtc_avatar_audio(ac->rtc, a); /* as Opus, to the mountpoint */
        return;
    }
    send_json(ac,
              json_pack("{s:s, s:i, s:i, s:s, s:I}", "type", "audio", "sample_rate", a->sample_rate,
                        "channels", a->channels, "format", a->format, "bytes", (json_int_t)a->len));
    free(ac->audio_out);
    ac->audio_out = a->block;
    ac->audio_len = a->len;
    fc_conn_want_write(ac->conn);
}

/* The session's end destroys its mountpoint. */
static void end_webrtc(avatar_conn *ac)
{
    fc_webrtc_avatar_free(ac->rtc);
    ac->rtc = NULL;
}

/* While the server drains, a connection goes once its session has ended:
 * after the last message, which the close waits for. */
static void close_if_draining(avatar_conn *ac)
{
    if (ac->draining) fc_conn_close_soon(ac->conn, CLOSE_GOING_AWAY, "server shutting down");
}

static void on_completed(void *ctx, bool stopped, uint32_t frames)
{
    end_webrtc(ctx);
    send_json(ctx, json_pack("{s:s, s:b, s:I}", "type", "streaming_completed", "stopped", stopped,
                             "frames", (json_int_t)frames));
    close_if_draining(ctx);
}

static void on_failed(void *ctx, const char *msg)
{
    end_webrtc(ctx);
    fc_conn_send_error(((avatar_conn *)ctx)->conn, msg);
    close_if_draining(ctx);
}

static void on_wake(void *ctx)
{
    avatar_conn *ac = ctx;
    if (ac->rtc)
        fc_webrtc_avatar_wake(ac->rtc);
    else
        fc_conn_want_write(ac->conn);
}

static const fc_avatar_callbacks callbacks = {
    .started = on_started,
    .metadata = on_metadata,
    .audio = on_audio,
    .completed = on_completed,
    .failed = on_failed,
    .wake = on_wake,
};

/* /ws/{client_id}: one path segment of letters, digits, '-', '_' and '.'. */
static bool valid_client_id(const char *id)
{
    if (!*id || strlen(id) >= CLIENT_ID_MAX || strcmp(id, "streams") == 0) return false;
    for (const char *c = id; *c; c++)
        if (!(isalnum((unsigned char)*c) || *c == '-' || *c == '_' || *c == '.')) return false;
    return true;
}

static int ws_avatar_open(fc_conn *c, void *state, const char *path)
{
    avatar_conn *ac = state;
    fc_server_env *env = fc_conn_env(c);
    ac->conn = c;
    const char *id = path + sizeof prefix - 1;
    if (!env->avatar || !valid_client_id(id)) {
        env->ws_refused++;
        fc_conn_refuse(c, CLOSE_UNKNOWN_ENDPOINT,
                       "no WebSocket endpoint at '%.200s' (use /ws/streams/{id})", path);
        return 0;
    }
    if (fc_auth_ws_open(c, &ac->keyed) != 0) return 0;
    env->ws_accepted++;
    strcpy(ac->client_id, id);
    return 0;
}

static bool streaming(const avatar_conn *ac)
{
    return ac->waiting || (ac->av && !fc_avatar_ended(ac->av));
}

static void run_session(avatar_conn *ac, fc_avatar_request *req, uint64_t mountpoint)
{
    char err[300];
    fc_server_env *env = fc_conn_env(ac->conn);
    if (fc_avatar_start(env->avatar, ac->client_id, req, &callbacks, ac, &ac->av, err,
                        sizeof err) != 0) {
        ac->av = NULL;
        end_webrtc(ac);
        fc_conn_send_error(ac->conn, err);
        close_if_draining(ac);
        return;
    }
    ac->mountpoint = mountpoint;
    if (ac->rtc) fc_webrtc_avatar_attach(ac->rtc, ac->av);
}

static void on_rtc_ready(void *ctx, uint64_t mountpoint)
{
    avatar_conn *ac = ctx;
    ac->waiting = false;
    run_session(ac, &ac->pending, mountpoint);
}

static void on_rtc_failed(void *ctx, const char *why)
{
    avatar_conn *ac = ctx;
    ac->waiting = false;
    fc_avatar_request_free(&ac->pending);
    end_webrtc(ac);
    char msg[400];
    snprintf(msg, sizeof msg, "run_kwargs.transport \"webrtc\": %s", why);
    fc_conn_send_error(ac->conn, msg);
    close_if_draining(ac);
}

static const fc_webrtc_avatar_events rtc_events = {.ready = on_rtc_ready, .failed = on_rtc_failed};

static void start(avatar_conn *ac, fc_avatar_request *req)
{
    if (!fc_auth_ws_change(ac->conn, ac->keyed)) {
        fc_avatar_request_free(req);
        return;
    }
    if (streaming(ac)) {
        fc_avatar_request_free(req);
        fc_conn_send_error(ac->conn, "already streaming: send stop_streaming first");
        return;
    }
    fc_avatar_release(ac->av);
    ac->av = NULL;
    free(ac->audio_out);
    ac->audio_out = NULL;
    char err[300];
    fc_server_env *env = fc_conn_env(ac->conn);
    /* The connection holds its place (FC_CAP_SESSION); the load and the
     * drain may still say no. */
    if (fc_capacity_admit(env->capacity, FC_CAP_NONE, err, sizeof err) != 0) {
        fc_avatar_request_free(req);
        fc_conn_send_error(ac->conn, err);
        return;
    }
    if (!req->webrtc) {
        run_session(ac, req, 0);
        return;
    }
    /* The session starts once its mountpoint exists, so that its first
     * frames have somewhere to go and streaming_started can name it. */
    int rc = env->webrtc ? fc_webrtc_avatar_new(env->webrtc, env->pool, ac->client_id, &rtc_events,
                                                ac, &ac->rtc, err, sizeof err)
                         : -ENOTSUP;
    if (rc != 0) {
        fc_avatar_request_free(req);
        ac->rtc = NULL;
        char msg[400];
        snprintf(msg, sizeof msg, "run_kwargs.transport \"webrtc\": %s",
                 env->webrtc ? err
                             : "this server has no Janus (framecast serve --janus URL "
                               "--janus-admin-key K)");
        fc_conn_send_error(ac->conn, msg);
        return;
    }
    ac->pending = *req;
    ac->waiting = true;
}

static void ws_avatar_text(fc_conn *c, void *state, const char *text, size_t len)
{
    avatar_conn *ac = state;
    if (!ac->client_id[0]) return; /* refused: closing */
    if (fc_auth_ws_message(c, text, len, &ac->keyed)) return;
    fc_avatar_msg msg;
    char err[300];
    int rc = fc_avatar_msg_parse(text, len, fc_conn_env(c)->avatar->queue, &msg, err, sizeof err);
    if (msg.type == FC_AVATAR_MSG_START && streaming(ac)) {
        /* Whatever the request says, one session at a time. */
        if (rc == 0) fc_avatar_request_free(&msg.start);
        fc_conn_send_error(c, "already streaming: send stop_streaming first");
    } else if (rc != 0) {
        fc_conn_send_error(c, err);
    } else if (msg.type == FC_AVATAR_MSG_START) {
        start(ac, &msg.start);
    } else if (msg.type == FC_AVATAR_MSG_STOP) {
        if (ac->waiting) {
            /* Stopped before its mountpoint existed: it never started. */
            ac->waiting = false;
            fc_avatar_request_free(&ac->pending);
            end_webrtc(ac);
            send_json(ac, json_pack("{s:s, s:b, s:I}", "type", "streaming_completed", "stopped", 1,
                                    "frames", (json_int_t)0));
            close_if_draining(ac);
            return;
        }
        if (!ac->av || fc_avatar_ended(ac->av)) {
            fc_conn_send_error(c, "not streaming: nothing to stop");
            return;
        }
        /* Nothing of this session may follow the completion message. */
        free(ac->audio_out);
        ac->audio_out = NULL;
        fc_avatar_stop(ac->av);
    } else {
        send_json(ac, json_pack("{s:s}", "type", "pong"));
    }
}

/* After the queued texts: the audio block, then frames. */
static int ws_avatar_writeable(fc_conn *c, void *state)
{
    avatar_conn *ac = state;
    if (ac->audio_out) {
        uint8_t *b = ac->audio_out;
        ac->audio_out = NULL;
        int rc = fc_conn_write(c, b + FC_FRAME_HEADROOM, ac->audio_len, true);
        free(b);
        if (rc != 0) return -1;
        fc_conn_want_write(c);
        return 0;
    }
    /* A WebRTC session's frames go to its mountpoint, not here. */
    fc_frame *f = ac->av && !ac->rtc ? fc_avatar_next_frame(ac->av) : NULL;
    if (!f) return 0;
    int rc = fc_conn_write(c, f->wire, fc_frame_wire_len(f), true);
    fc_frame_unref(f);
    if (rc != 0) return -1;
    if (fc_conn_texts_pending(c) || fc_avatar_has_frames(ac->av)) fc_conn_want_write(c);
    return 0;
}

static void ws_avatar_closed(fc_conn *c, void *state)
{
    (void)c;
    avatar_conn *ac = state;
    if (ac->waiting) fc_avatar_request_free(&ac->pending);
    ac->waiting = false;
    end_webrtc(ac);
    fc_avatar_release(ac->av);
    ac->av = NULL;
    free(ac->audio_out);
    ac->audio_out = NULL;
}

/* A running session finishes whole; an idle connection goes now. */
static void ws_avatar_drain(fc_conn *c, void *state)
{
    avatar_conn *ac = state;
    ac->draining = true;
    if (!streaming(ac)) fc_conn_close_soon(c, CLOSE_GOING_AWAY, "server shutting down");
}

const fc_endpoint fc_ws_avatar_endpoint = {
    .prefixes = (const char *const[]){prefix, NULL},
    .websocket = true,
    .state_size = sizeof(avatar_conn),
    .open = ws_avatar_open,
    .text = ws_avatar_text,
    .writeable = ws_avatar_writeable,
    .closed = ws_avatar_closed,
    .drain = ws_avatar_drain,
    .capacity = FC_CAP_SESSION,
};
