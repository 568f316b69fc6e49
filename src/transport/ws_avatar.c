#include "transport/ws_avatar.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "transport/avatar_msg.h"
#include "transport/conn.h"

#define CLOSE_UNKNOWN_ENDPOINT 4404
#define CLIENT_ID_MAX 64

static const char prefix[] = "/ws/";

typedef struct avatar_conn {
    fc_conn *conn;
    char client_id[CLIENT_ID_MAX];
    fc_avatar *av;      /* the current or last session, NULL before any */
    uint8_t *audio_out; /* opt-in audio block waiting to go, FC_FRAME_HEADROOM first */
    size_t audio_len;
} avatar_conn;

/* Session messages keep ten significant digits (durations). */
static void send_json(avatar_conn *ac, json_t *obj)
{
    char *s = obj ? json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(obj);
    if (s) fc_conn_send_text(ac->conn, s);
    free(s);
}

static void on_started(void *ctx)
{
    send_json(ctx, json_pack("{s:s}", "type", "streaming_started"));
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
    send_json(ac,
              json_pack("{s:s, s:i, s:i, s:s, s:I}", "type", "audio", "sample_rate", a->sample_rate,
                        "channels", a->channels, "format", a->format, "bytes", (json_int_t)a->len));
    free(ac->audio_out);
    ac->audio_out = a->block;
    ac->audio_len = a->len;
    fc_conn_want_write(ac->conn);
}

static void on_completed(void *ctx, bool stopped, uint32_t frames)
{
    send_json(ctx, json_pack("{s:s, s:b, s:I}", "type", "streaming_completed", "stopped", stopped,
                             "frames", (json_int_t)frames));
}

static void on_failed(void *ctx, const char *msg)
{
    fc_conn_send_error(((avatar_conn *)ctx)->conn, msg);
}

static void on_wake(void *ctx)
{
    fc_conn_want_write(((avatar_conn *)ctx)->conn);
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
    env->ws_accepted++;
    strcpy(ac->client_id, id);
    return 0;
}

static void start(avatar_conn *ac, fc_avatar_request *req)
{
    if (ac->av && !fc_avatar_ended(ac->av)) {
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
    if (fc_avatar_start(env->avatar, ac->client_id, req, &callbacks, ac, &ac->av, err,
                        sizeof err) != 0) {
        ac->av = NULL;
        fc_conn_send_error(ac->conn, err);
    }
}

static void ws_avatar_text(fc_conn *c, void *state, const char *text, size_t len)
{
    avatar_conn *ac = state;
    if (!ac->client_id[0]) return; /* refused: closing */
    fc_avatar_msg msg;
    char err[300];
    int rc = fc_avatar_msg_parse(text, len, fc_conn_env(c)->avatar->queue, &msg, err, sizeof err);
    if (msg.type == FC_AVATAR_MSG_START && ac->av && !fc_avatar_ended(ac->av)) {
        /* Whatever the request says, one session at a time. */
        if (rc == 0) fc_avatar_request_free(&msg.start);
        fc_conn_send_error(c, "already streaming: send stop_streaming first");
    } else if (rc != 0) {
        fc_conn_send_error(c, err);
    } else if (msg.type == FC_AVATAR_MSG_START) {
        start(ac, &msg.start);
    } else if (msg.type == FC_AVATAR_MSG_STOP) {
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
    fc_frame *f = ac->av ? fc_avatar_next_frame(ac->av) : NULL;
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
    fc_avatar_release(ac->av);
    ac->av = NULL;
    free(ac->audio_out);
    ac->audio_out = NULL;
}

const fc_endpoint fc_ws_avatar_endpoint = {
    .prefixes = (const char *const[]){prefix, NULL},
    .websocket = true,
    .state_size = sizeof(avatar_conn),
    .open = ws_avatar_open,
    .text = ws_avatar_text,
    .writeable = ws_avatar_writeable,
    .closed = ws_avatar_closed,
};
