#include "transport/server.h"

#include <jansson.h>
#include <ctype.h>
#include <stdarg.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/pool.h"
#include "transport/api.h"
#include "transport/listener.h"

_Static_assert(LWS_PRE <= FC_FRAME_HEADROOM, "encoded frames leave too little headroom for lws");

#define MAX_CONTROL_MESSAGE 4096
#define CLOSE_UNKNOWN_STREAM 4404
#define CLOSE_BAD_REQUEST 4400
#define CLOSE_TRY_AGAIN 1013
#define MAX_UPLOADS_AT_ONCE 8

typedef struct session session;
typedef struct fc_upload fc_upload;

struct fc_http_server {
    fc_loop *loop;
    fc_http_server_config cfg;
    const fc_stream_set *streams;
    fc_metrics *metrics;
    struct lws_context *ctx;
    struct lws_vhost *vhost;
    fc_listener *listener;
    struct lws_protocols protocols[2];
    struct lws_http_mount mounts[7];
    lws_retry_bo_t retry;
    session *sessions; /* WebSocket sessions, for draining */
    size_t ws_count;
    uint64_t ws_accepted, ws_refused, http_requests;
    uv_timer_t drain_timer;
    bool draining, drain_timed_out;
    unsigned uploads_active; /* POST /upload bodies held in memory now */
    void (*drain_done)(fc_http_server *, void *);
    void *drain_arg;
    char web_root[1024];
    char demo_root[1100];
};

/* Text messages waiting to go out before any video (hello, errors). */
typedef struct text_msg {
    struct text_msg *next;
    size_t len;
    unsigned char data[]; /* LWS_PRE bytes, then the text */
} text_msg;

struct session {
    session *prev, *next; /* in srv->sessions, WebSocket only */
    fc_http_server *srv;
    struct lws *wsi;
    bool is_ws;
    /* WebSocket */
    fc_stream *stream;
    fc_sub *sub;
    fc_frame *held; /* next frame, waiting behind a tier message */
    int tier_sent;  /* tier of the frames last sent; -1 before the first */
    text_msg *text_head, *text_tail;
    int close_code; /* non-zero: close with this once the texts are out */
    char close_reason[100];
    fc_buf rx; /* a control message being reassembled */
    /* Avatar WebSocket (/ws/{client_id}) */
    bool avatar;
    char client_id[64];
    fc_avatar *av;      /* the current or last session, NULL before any */
    uint8_t *audio_out; /* opt-in audio block waiting to go, FC_FRAME_HEADROOM first */
    size_t audio_len;
    /* HTTP */
    fc_buf body; /* LWS_PRE bytes of headroom, then the body */
    size_t body_off;
    fc_upload *upload; /* POST /upload in progress */
};

static fc_http_server *server_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

/* ---------------------------------------------------------------- WebSocket */

static void queue_text(session *ss, const char *text)
{
    size_t n = strlen(text);
    text_msg *m = malloc(sizeof *m + LWS_PRE + n);
    if (!m)
        return;
    m->next = NULL;
    m->len = n;
    memcpy(m->data + LWS_PRE, text, n);
    if (ss->text_tail)
        ss->text_tail->next = m;
    else
        ss->text_head = m;
    ss->text_tail = m;
    lws_callback_on_writable(ss->wsi);
}

static void queue_json(session *ss, json_t *obj)
{
    char *s = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (s) {
        queue_text(ss, s);
        free(s);
    }
}

/* Tells the client why in a JSON error message, then closes with `code`. */
static void refuse(session *ss, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void refuse(session *ss, int code, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    queue_json(ss, json_pack("{s:s, s:s}", "type", "error", "message", msg));
    ss->close_code = code;
    snprintf(ss->close_reason, sizeof ss->close_reason, "%.*s", 90, msg);
    lws_callback_on_writable(ss->wsi);
}

static void on_sub_wake(fc_sub *sub, void *ctx)
{
    (void)sub;
    session *ss = ctx;
    lws_callback_on_writable(ss->wsi);
}

static int parse_ws_options(session *ss, fc_sub_opts *opts, fc_view *view)
{
    char arg[256];
    for (int i = 0; lws_hdr_copy_fragment(ss->wsi, arg, sizeof arg, WSI_TOKEN_HTTP_URI_ARGS, i) > 0;
         i++) {
        char *eq = strchr(arg, '=');
        const char *val = eq ? eq + 1 : "";
        if (eq)
            *eq = '\0';
        if (strcmp(arg, "quality") == 0) {
            if (strcmp(val, "auto") == 0) {
                opts->auto_tier = true;
            } else if (fc_tier_parse(val, &opts->tier) == 0) {
                opts->auto_tier = false;
            } else {
                refuse(ss, CLOSE_BAD_REQUEST, "bad quality '%s': use auto, high, medium or low",
                       val);
                return -1;
            }
        } else if (strcmp(arg, "queue") == 0) {
            char *end;
            long n = strtol(val, &end, 10);
            if (!*val || *end || n < 1 || n > FC_QUEUE_MAX) {
                refuse(ss, CLOSE_BAD_REQUEST, "bad queue '%s': a whole number from 1 to %d", val,
                       FC_QUEUE_MAX);
                return -1;
            }
            opts->queue = (size_t)n;
        } else if (strcmp(arg, "view") == 0) {
            if (fc_view_parse(val, view) != 0) {
                refuse(ss, CLOSE_BAD_REQUEST, "bad view '%s': use full or ptz", val);
                return -1;
            }
        } else {
            refuse(ss, CLOSE_BAD_REQUEST, "unknown option '%s' (known: quality, queue, view)",
                   arg);
            return -1;
        }
    }
    return 0;
}

/* /ws/{client_id}: one path segment of letters, digits, '-', '_' and '.'. */
static bool avatar_client_id(const char *uri)
{
    const char *id = uri + 4;
    if (strncmp(uri, "/ws/", 4) != 0 || !*id || strlen(id) >= 64 || strcmp(id, "streams") == 0)
        return false;
    for (const char *c = id; *c; c++)
        if (!(isalnum((unsigned char)*c) || *c == '-' || *c == '_' || *c == '.'))
            return false;
    return true;
}

/* Refuses a new WebSocket while the server drains or is full; true when
 * it may go on. */
static bool admit(session *ss)
{
    fc_http_server *srv = ss->srv;
    if (srv->draining) {
        refuse(ss, LWS_CLOSE_STATUS_GOINGAWAY, "server is shutting down");
        return false;
    }
    if (srv->ws_count > srv->cfg.max_clients) {
        srv->ws_refused++;
        refuse(ss, CLOSE_TRY_AGAIN, "server full: %u clients already (--max-clients)",
               srv->cfg.max_clients);
        return false;
    }
    return true;
}

static void avatar_established(session *ss, const char *client_id)
{
    fc_http_server *srv = ss->srv;
    if (!admit(ss))
        return;
    srv->ws_accepted++;
    ss->avatar = true;
    snprintf(ss->client_id, sizeof ss->client_id, "%s", client_id);
}

static void av_text(void *ctx, const char *json)
{
    queue_text(ctx, json);
}

static void av_audio(void *ctx, uint8_t *buf, size_t len)
{
    session *ss = ctx;
    free(ss->audio_out);
    ss->audio_out = buf;
    ss->audio_len = len;
    lws_callback_on_writable(ss->wsi);
}

static void av_wake(void *ctx)
{
    session *ss = ctx;
    lws_callback_on_writable(ss->wsi);
}

static void avatar_error(session *ss, const char *msg)
{
    queue_json(ss, json_pack("{s:s, s:s}", "type", "error", "message", msg));
}

static void avatar_control(session *ss, const char *type, json_t *msg)
{
    fc_http_server *srv = ss->srv;
    if (strcmp(type, "start_streaming") == 0) {
        if (ss->av && !fc_avatar_ended(ss->av)) {
            avatar_error(ss, "already streaming: send stop_streaming first");
            return;
        }
        fc_avatar_release(ss->av);
        ss->av = NULL;
        free(ss->audio_out);
        ss->audio_out = NULL;
        static const fc_avatar_callbacks cb = {av_text, av_audio, av_wake};
        char err[300];
        if (fc_avatar_start(srv->cfg.avatar, ss->client_id, msg, &cb, ss, &ss->av, err,
                            sizeof err) != 0) {
            ss->av = NULL;
            avatar_error(ss, err);
        }
    } else if (strcmp(type, "stop_streaming") == 0) {
        if (!ss->av || fc_avatar_ended(ss->av)) {
            avatar_error(ss, "not streaming: nothing to stop");
            return;
        }
        /* Nothing of this session may follow the completion message. */
        free(ss->audio_out);
        ss->audio_out = NULL;
        fc_avatar_stop(ss->av);
    } else if (strcmp(type, "ping") == 0) {
        queue_json(ss, json_pack("{s:s}", "type", "pong"));
    } else {
        char m[200];
        snprintf(m, sizeof m,
                 "unknown message type '%.64s' (known: start_streaming, stop_streaming, ping)",
                 type);
        avatar_error(ss, m);
    }
}

/* Avatar connections: texts, then the audio block, then frames. */
static int avatar_writeable(session *ss)
{
    if (ss->audio_out) {
        uint8_t *b = ss->audio_out;
        ss->audio_out = NULL;
        int n = lws_write(ss->wsi, b + FC_FRAME_HEADROOM, ss->audio_len, LWS_WRITE_BINARY);
        free(b);
        if (n < 0)
            return -1;
        lws_callback_on_writable(ss->wsi);
        return 0;
    }
    fc_frame *f = ss->av ? fc_avatar_next_frame(ss->av) : NULL;
    if (!f)
        return 0;
    int n = lws_write(ss->wsi, f->wire, fc_frame_wire_len(f), LWS_WRITE_BINARY);
    fc_frame_unref(f);
    if (n < 0)
        return -1;
    if (ss->text_head || fc_avatar_has_frames(ss->av))
        lws_callback_on_writable(ss->wsi);
    return 0;
}

static void ws_established(session *ss)
{
    fc_http_server *srv = ss->srv;
    ss->is_ws = true;
    ss->tier_sent = -1;
    ss->next = srv->sessions;
    if (srv->sessions)
        srv->sessions->prev = ss;
    srv->sessions = ss;
    srv->ws_count++;

    char uri[256];
    if (lws_hdr_copy(ss->wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0)
        uri[0] = '\0';
    static const char prefix[] = "/ws/streams/";
    if (srv->cfg.avatar && strncmp(uri, prefix, sizeof prefix - 1) != 0 &&
        avatar_client_id(uri)) {
        avatar_established(ss, uri + 4);
        return;
    }
    if (strncmp(uri, prefix, sizeof prefix - 1) != 0) {
        srv->ws_refused++;
        refuse(ss, CLOSE_UNKNOWN_STREAM, "no WebSocket endpoint at '%s' (use /ws/streams/{id})",
               uri);
        return;
    }
    const char *id = uri + sizeof prefix - 1;
    fc_stream *s = fc_stream_set_find(srv->streams, id);
    if (!s) {
        srv->ws_refused++;
        refuse(ss, CLOSE_UNKNOWN_STREAM, "unknown stream '%s'", id);
        return;
    }
    if (!admit(ss))
        return;
    fc_sub_opts opts = {.auto_tier = true, .tier = FC_TIER_HIGH, .queue = srv->cfg.queue_default};
    fc_view view = FC_VIEW_FULL;
    if (parse_ws_options(ss, &opts, &view) != 0) {
        srv->ws_refused++;
        return;
    }
    if (view == FC_VIEW_PTZ && !fc_stream_detecting(s)) {
        srv->ws_refused++;
        refuse(ss, CLOSE_BAD_REQUEST,
               "stream '%s' has no detection, so no ptz view (--detect or detect= in its spec)",
               id);
        return;
    }
    if (fc_stream_subscribe(s, view, &opts, on_sub_wake, ss, &ss->sub) != 0) {
        srv->ws_refused++;
        refuse(ss, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "cannot subscribe to '%s'", id);
        return;
    }
    ss->stream = s;
    srv->ws_accepted++;
    const fc_source *src = fc_stream_source(s);
    const fc_stream_config *cfg = fc_stream_config_of(s);
    queue_json(ss, json_pack("{s:s, s:s, s:s, s:i, s:i, s:f, s:s, s:i, s:s, s:b}", "type",
                             "hello", "stream", id, "codec", "jpeg", "width", src->width,
                             "height", src->height, "fps", cfg->encode_fps, "quality",
                             opts.auto_tier ? "auto" : fc_tier_name(opts.tier), "queue",
                             (int)opts.queue, "view", fc_view_name(view), "detection",
                             fc_stream_detecting(s)));
}

static int ws_writeable(session *ss)
{
    text_msg *m = ss->text_head;
    if (m) {
        ss->text_head = m->next;
        if (!ss->text_head)
            ss->text_tail = NULL;
        int n = lws_write(ss->wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT);
        free(m);
        if (n < 0)
            return -1;
        lws_callback_on_writable(ss->wsi);
        return 0;
    }
    if (ss->close_code) {
        /* Not `return -1`: from a writeable callback that makes this lws
         * version treat the socket as dead and drop the close frame. Asking
         * for a close here instead sends our code and reason on the next
         * writeable turn and waits for the peer's answering close. */
        lws_close_reason(ss->wsi, (enum lws_close_status)ss->close_code,
                         (unsigned char *)ss->close_reason, strlen(ss->close_reason));
        lws_close_free_wsi(ss->wsi, (enum lws_close_status)ss->close_code, "framecast close");
        return 0;
    }
    if (ss->avatar)
        return avatar_writeable(ss);
    if (!ss->sub)
        return 0;
    /* Events first: they are small and describe the frames about to go. */
    fc_event *e = fc_sub_next_event(ss->sub);
    if (e) {
        int n = lws_write(ss->wsi, fc_event_text(e), e->len, LWS_WRITE_TEXT);
        fc_event_unref(e);
        if (n < 0)
            return -1;
        if (ss->held || fc_sub_has_work(ss->sub))
            lws_callback_on_writable(ss->wsi);
        return 0;
    }
    fc_frame *f = ss->held ? ss->held : fc_sub_next(ss->sub, fc_now_ns());
    ss->held = NULL;
    if (!f)
        return 0;
    if (f->tier != ss->tier_sent) {
        /* Tell the client which tier the frames that follow are in; the
         * frame itself goes out on the next writeable turn. */
        ss->tier_sent = f->tier;
        ss->held = f;
        queue_json(ss, json_pack("{s:s, s:s, s:i}", "type", "tier", "tier",
                                 fc_tier_name((fc_tier)f->tier), "quality",
                                 fc_stream_config_of(ss->stream)->quality[f->tier]));
        return 0;
    }
    /* lws writes the WebSocket header into the headroom in front of `wire`;
     * the bytes it writes are the same for every subscriber. */
    int n = lws_write(ss->wsi, f->wire, fc_frame_wire_len(f), LWS_WRITE_BINARY);
    fc_frame_unref(f);
    if (n < 0)
        return -1;
    if (fc_sub_has_work(ss->sub))
        lws_callback_on_writable(ss->wsi);
    return 0;
}

static void ws_control(session *ss, const char *text, size_t len)
{
    json_error_t jerr;
    json_t *msg = json_loadb(text, len, 0, &jerr);
    const char *type = msg ? json_string_value(json_object_get(msg, "type")) : NULL;
    if (!msg) {
        queue_json(ss, json_pack("{s:s, s:s}", "type", "error", "message", "malformed JSON"));
    } else if (!type) {
        queue_json(ss, json_pack("{s:s, s:s}", "type", "error", "message",
                                 "message has no string \"type\""));
    } else if (ss->avatar) {
        avatar_control(ss, type, msg);
    } else if (strcmp(type, "ping") == 0) {
        queue_json(ss, json_pack("{s:s}", "type", "pong"));
    } else {
        char m[160];
        snprintf(m, sizeof m, "unknown message type '%.64s'", type);
        queue_json(ss, json_pack("{s:s, s:s}", "type", "error", "message", m));
    }
    json_decref(msg);
}

static void ws_receive(session *ss, const void *in, size_t len)
{
    if (lws_frame_is_binary(ss->wsi))
        return; /* clients send no binary today; ignore rather than fail */
    if (ss->rx.len + len > MAX_CONTROL_MESSAGE) {
        fc_buf_free(&ss->rx);
        if (lws_is_final_fragment(ss->wsi))
            queue_json(ss, json_pack("{s:s, s:s}", "type", "error", "message",
                                     "control message larger than 4096 bytes"));
        return;
    }
    fc_buf_append(&ss->rx, in, len);
    if (!lws_is_final_fragment(ss->wsi) || lws_remaining_packet_payload(ss->wsi))
        return;
    if (!ss->rx.failed)
        ws_control(ss, ss->rx.data ? ss->rx.data : "", ss->rx.len);
    fc_buf_free(&ss->rx);
}

static void maybe_drain_done(fc_http_server *srv);

static void ws_closed(session *ss)
{
    fc_http_server *srv = ss->srv;
    if (ss->sub)
        fc_stream_unsubscribe(ss->stream, ss->sub);
    ss->sub = NULL;
    fc_frame_unref(ss->held);
    ss->held = NULL;
    while (ss->text_head) {
        text_msg *m = ss->text_head;
        ss->text_head = m->next;
        free(m);
    }
    fc_buf_free(&ss->rx);
    fc_avatar_release(ss->av);
    ss->av = NULL;
    free(ss->audio_out);
    ss->audio_out = NULL;
    if (ss->prev)
        ss->prev->next = ss->next;
    else if (srv->sessions == ss)
        srv->sessions = ss->next;
    if (ss->next)
        ss->next->prev = ss->prev;
    srv->ws_count--;
    maybe_drain_done(srv);
}

/* --------------------------------------------------------------------- HTTP */

static int http_respond(session *ss, unsigned status, const char *ctype, fc_buf *body)
{
    unsigned char hdr[LWS_PRE + 512];
    unsigned char *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof hdr - 1;
    size_t len = body->len - LWS_PRE;
    if (lws_add_http_common_headers(ss->wsi, status, ctype, len, &p, end) ||
        lws_add_http_header_by_name(ss->wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)"no-store", 8, &p, end) ||
        lws_finalize_write_http_header(ss->wsi, start, &p, end)) {
        fc_buf_free(body);
        return -1;
    }
    ss->body = *body;
    ss->body_off = LWS_PRE;
    *body = (fc_buf){0};
    lws_callback_on_writable(ss->wsi);
    return 0;
}

static int upload_start(session *ss);

/* GET /api/server: who we are and exactly where we listen. */
static void server_json(fc_http_server *srv, fc_buf *body)
{
    json_t *listen = json_array();
    for (size_t i = 0; i < fc_listener_count(srv->listener); i++)
        json_array_append_new(listen, json_string(fc_listener_address(srv->listener, i)));
    json_t *obj = json_pack("{s:s, s:o, s:i}", "version", FC_VERSION, "listen", listen, "port",
                            fc_listener_port(srv->listener));
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (text)
        fc_buf_append(body, text, strlen(text));
    else
        body->failed = true;
    free(text);
}

static int http_request(session *ss)
{
    fc_http_server *srv = ss->srv;
    srv->http_requests++;
    char uri[256];
    if (lws_hdr_copy(ss->wsi, uri, sizeof uri, WSI_TOKEN_POST_URI) > 0) {
        if (strcmp(uri, "/upload") == 0 && srv->cfg.media && srv->cfg.avatar)
            return upload_start(ss);
        lws_return_http_status(ss->wsi, HTTP_STATUS_NOT_FOUND, "only POST /upload takes a body");
        return lws_http_transaction_completed(ss->wsi) ? -1 : 0;
    }
    if (lws_hdr_copy(ss->wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0) {
        lws_return_http_status(ss->wsi, HTTP_STATUS_METHOD_NOT_ALLOWED, "only GET is served");
        return lws_http_transaction_completed(ss->wsi) ? -1 : 0;
    }
    fc_buf body = {0};
    fc_buf_append(&body, (const char[LWS_PRE]){0}, LWS_PRE);
    unsigned status = HTTP_STATUS_OK;
    const char *ctype = "text/plain; charset=utf-8";
    if (strcmp(uri, "/healthz") == 0) {
        fc_buf_append(&body, "ok\n", 3);
    } else if (strcmp(uri, "/api/server") == 0) {
        server_json(srv, &body);
        ctype = "application/json";
    } else if (strcmp(uri, "/api/streams") == 0) {
        fc_api_streams_json(srv->streams, &body);
        ctype = "application/json";
    } else if (strcmp(uri, "/metrics") == 0) {
        fc_metrics_render(srv->metrics, &body);
        ctype = "text/plain; version=0.0.4; charset=utf-8";
    } else {
        status = HTTP_STATUS_NOT_FOUND;
        fc_buf_printf(&body, "not found: %s\n", uri);
    }
    if (body.failed) {
        fc_buf_free(&body);
        lws_return_http_status(ss->wsi, HTTP_STATUS_INTERNAL_SERVER_ERROR, "out of memory");
        return lws_http_transaction_completed(ss->wsi) ? -1 : 0;
    }
    return http_respond(ss, status, ctype, &body);
}

static int http_writeable(session *ss)
{
    if (!ss->body.data)
        return 0;
    size_t left = ss->body.len - ss->body_off;
    size_t chunk = left > 16384 ? 16384 : left;
    bool last = chunk == left;
    /* The bytes before body_off were already sent (or are the initial
     * headroom), so lws may use them for framing. */
    int n = lws_write(ss->wsi, (unsigned char *)ss->body.data + ss->body_off, chunk,
                      last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP);
    if (n < 0)
        return -1;
    ss->body_off += chunk;
    if (!last) {
        lws_callback_on_writable(ss->wsi);
        return 0;
    }
    fc_buf_free(&ss->body);
    return lws_http_transaction_completed(ss->wsi) ? -1 : 0;
}

/* ------------------------------------------------------------------ upload */

enum { UP_AUDIO = 0, UP_SOURCE = 1, UP_FIELDS = 2 };
static const char *const upload_fields[UP_FIELDS] = {"audio", "source"};

/* POST /upload: lws's multipart parser hands each file's bytes to
 * upload_file_cb; they are kept in memory (bounded by the limits), then a
 * worker job checks their types by content and writes them into the media
 * directory, and the loop answers. */
struct fc_upload {
    fc_job job;
    session *ss; /* NULL once the connection is gone */
    fc_http_server *srv;
    struct lws_spa *spa;
    int cur; /* field receiving content, -1 for none */
    fc_buf file[UP_FIELDS];
    bool seen[UP_FIELDS];
    unsigned status; /* an error status, 0 while all is well */
    char err[300];
    char name[UP_FIELDS][64];
    bool submitted;
};

static void upload_fail(fc_upload *up, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void upload_fail(fc_upload *up, unsigned status, const char *fmt, ...)
{
    if (up->status)
        return;
    up->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(up->err, sizeof up->err, fmt, ap);
    va_end(ap);
}

static void upload_free(fc_upload *up)
{
    up->srv->uploads_active--;
    if (up->spa)
        lws_spa_destroy(up->spa);
    for (int i = 0; i < UP_FIELDS; i++)
        fc_buf_free(&up->file[i]);
    free(up);
}

static int upload_file_cb(void *data, const char *name, const char *filename, char *buf, int len,
                          enum lws_spa_fileupload_states state)
{
    (void)filename; /* never used: stored files get generated names */
    fc_upload *up = data;
    if (state == LWS_UFS_OPEN) {
        up->cur = -1;
        for (int i = 0; i < UP_FIELDS; i++)
            if (strcmp(name, upload_fields[i]) == 0)
                up->cur = i;
        if (up->cur < 0)
            upload_fail(up, HTTP_STATUS_BAD_REQUEST, "unknown field '%.64s' (use audio, source)",
                        name);
        else if (up->seen[up->cur])
            upload_fail(up, HTTP_STATUS_BAD_REQUEST, "field '%s' given twice", name);
        else
            up->seen[up->cur] = true;
        return 0;
    }
    if ((state != LWS_UFS_CONTENT && state != LWS_UFS_FINAL_CONTENT) || up->cur < 0 ||
        up->status || len <= 0)
        return 0;
    size_t limit = up->cur == UP_AUDIO ? up->srv->cfg.max_upload_audio
                                       : up->srv->cfg.max_upload_image;
    fc_buf *b = &up->file[up->cur];
    if (b->len + (size_t)len > limit) {
        upload_fail(up, HTTP_STATUS_REQ_ENTITY_TOO_LARGE, "%s larger than %zu bytes (--max-upload-%s)",
                    upload_fields[up->cur], limit, up->cur == UP_AUDIO ? "audio" : "image");
        fc_buf_free(b);
        return 0;
    }
    fc_buf_append(b, buf, (size_t)len);
    if (b->failed)
        upload_fail(up, HTTP_STATUS_INTERNAL_SERVER_ERROR, "out of memory holding the upload");
    return 0;
}

static void upload_work(fc_job *job)
{
    fc_upload *up = fc_container_of(job, fc_upload, job);
    for (int i = 0; i < UP_FIELDS && !up->status; i++) {
        if (!up->seen[i])
            continue;
        const fc_buf *b = &up->file[i];
        fc_media_type t = fc_media_sniff((const uint8_t *)b->data, b->len);
        if (i == UP_AUDIO && !fc_media_is_audio(t)) {
            upload_fail(up, HTTP_STATUS_UNSUPPORTED_MEDIA_TYPE,
                        "audio is not WAV, FLAC, OGG or MP3 (judged by its content)");
        } else if (i == UP_SOURCE && !fc_media_is_image(t)) {
            upload_fail(up, HTTP_STATUS_UNSUPPORTED_MEDIA_TYPE,
                        "source is not a PNG, JPEG or WebP image (judged by its content)");
        } else {
            char err[300];
            if (fc_media_store(up->srv->cfg.media, (const uint8_t *)b->data, b->len, t,
                               up->name[i], sizeof up->name[i], err, sizeof err) != 0)
                upload_fail(up, HTTP_STATUS_INTERNAL_SERVER_ERROR, "%s", err);
        }
    }
}

static int http_respond(session *ss, unsigned status, const char *ctype, fc_buf *body);

/* Answers with `obj` as the JSON body (takes the reference). */
static void respond_json(session *ss, unsigned status, json_t *obj)
{
    char *text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    fc_buf body = {0};
    fc_buf_append(&body, (const char[LWS_PRE]){0}, LWS_PRE);
    if (text)
        fc_buf_append(&body, text, strlen(text));
    free(text);
    if (body.failed || !text) {
        fc_buf_free(&body);
        lws_return_http_status(ss->wsi, HTTP_STATUS_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    http_respond(ss, status, "application/json", &body);
}

static void upload_respond(session *ss, fc_upload *up)
{
    json_t *obj = json_object();
    if (up->status) {
        json_object_set_new(obj, "error", json_string(up->err));
    } else {
        if (up->seen[UP_AUDIO])
            json_object_set_new(obj, "audio_path", json_string(up->name[UP_AUDIO]));
        if (up->seen[UP_SOURCE])
            json_object_set_new(obj, "source_path", json_string(up->name[UP_SOURCE]));
    }
    respond_json(ss, up->status ? up->status : HTTP_STATUS_OK, obj);
}

static void upload_done(fc_job *job)
{
    fc_upload *up = fc_container_of(job, fc_upload, job);
    if (up->ss) {
        up->ss->upload = NULL;
        upload_respond(up->ss, up);
    }
    upload_free(up);
}

static int upload_start(session *ss)
{
    fc_http_server *srv = ss->srv;
    /* Each upload holds its files in memory until a worker has written them:
     * the number at once bounds that memory, with the per-file limits. */
    if (srv->uploads_active >= MAX_UPLOADS_AT_ONCE) {
        respond_json(ss, HTTP_STATUS_SERVICE_UNAVAILABLE,
                     json_pack("{s:s}", "error", "too many uploads at once; try again"));
        return 0;
    }
    fc_upload *up = calloc(1, sizeof *up);
    if (!up) {
        lws_return_http_status(ss->wsi, HTTP_STATUS_INTERNAL_SERVER_ERROR, "out of memory");
        return lws_http_transaction_completed(ss->wsi) ? -1 : 0;
    }
    up->ss = ss;
    up->srv = srv;
    up->cur = -1;
    srv->uploads_active++;
    lws_spa_create_info_t info = {
        .param_names = upload_fields,
        .count_params = UP_FIELDS,
        .max_storage = 1024,
        .opt_cb = upload_file_cb,
        .opt_data = up,
    };
    up->spa = lws_spa_create_via_info(ss->wsi, &info);
    if (!up->spa) {
        upload_free(up);
        lws_return_http_status(ss->wsi, HTTP_STATUS_BAD_REQUEST,
                               "POST /upload wants multipart/form-data");
        return lws_http_transaction_completed(ss->wsi) ? -1 : 0;
    }
    ss->upload = up;
    return 0;
}

static int upload_body(session *ss, const void *in, size_t len)
{
    fc_upload *up = ss->upload;
    if (!up || up->submitted)
        return 0;
    if (lws_spa_process(up->spa, in, (int)len) != 0)
        upload_fail(up, HTTP_STATUS_BAD_REQUEST, "malformed multipart body");
    return 0;
}

static int upload_complete(session *ss)
{
    fc_upload *up = ss->upload;
    if (!up || up->submitted)
        return 0;
    lws_spa_finalize(up->spa);
    lws_spa_destroy(up->spa);
    up->spa = NULL;
    if (!up->status && !up->seen[UP_AUDIO] && !up->seen[UP_SOURCE])
        upload_fail(up, HTTP_STATUS_BAD_REQUEST, "no file: send fields audio and/or source");
    if (up->status) {
        ss->upload = NULL;
        upload_respond(ss, up);
        upload_free(up);
        return 0;
    }
    up->submitted = true;
    up->job = (fc_job){.work = upload_work, .done = upload_done, .loop = ss->srv->loop,
                       .role = FC_ROLE_OTHER};
    fc_pool_submit(ss->srv->cfg.avatar->pool, &up->job);
    return 0;
}

static void upload_closed(session *ss)
{
    fc_upload *up = ss->upload;
    ss->upload = NULL;
    if (!up)
        return;
    if (up->submitted)
        up->ss = NULL; /* the job frees it */
    else
        upload_free(up);
}

/* ----------------------------------------------------------------- callback */

/* Before lws upgrades a request: a handshake it would fail (no key, another
 * version) gets a 400 that says why instead of a bare hang-up. Returns what
 * LWS_CALLBACK_HTTP_CONFIRM_UPGRADE wants: 0 go on, 1 answered. */
static int confirm_upgrade(struct lws *wsi, const char *to)
{
    const char *why = NULL;
    char version[8] = "";
    lws_hdr_copy(wsi, version, sizeof version, WSI_TOKEN_VERSION);
    if (!to || strcmp(to, "websocket") != 0)
        why = "only Upgrade: websocket is served (no h2c: speak HTTP/1.1)";
    else if (lws_hdr_total_length(wsi, WSI_TOKEN_KEY) <= 0)
        why = "WebSocket handshake without Sec-WebSocket-Key";
    else if (strcmp(version, "13") != 0)
        why = "WebSocket handshake needs Sec-WebSocket-Version: 13";
    if (!why)
        return 0;
    lws_return_http_status(wsi, HTTP_STATUS_BAD_REQUEST, why);
    return 1;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    session *ss = user;
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        memset(ss, 0, sizeof *ss);
        ss->srv = server_of(wsi);
        ss->wsi = wsi;
        ws_established(ss);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return ss && ss->is_ws ? ws_writeable(ss) : 0;
    case LWS_CALLBACK_RECEIVE:
        if (ss && ss->is_ws)
            ws_receive(ss, in, len);
        return 0;
    case LWS_CALLBACK_CLOSED:
        /* lws also reports CLOSED for a connection whose upgrade failed
         * (no Sec-WebSocket-Key, say) and that never reached ESTABLISHED:
         * its session is zeroed or still an HTTP one. */
        if (ss && ss->is_ws)
            ws_closed(ss);
        return 0;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return confirm_upgrade(wsi, in);
    case LWS_CALLBACK_HTTP:
        memset(ss, 0, sizeof *ss);
        ss->srv = server_of(wsi);
        ss->wsi = wsi;
        return http_request(ss);
    case LWS_CALLBACK_HTTP_BODY:
        return upload_body(ss, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return upload_complete(ss);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return http_writeable(ss);
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED_HTTP:
        if (ss && !ss->is_ws) {
            fc_buf_free(&ss->body);
            upload_closed(ss);
        }
        break;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* -------------------------------------------------------------- lifecycle */

static void log_emit(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n')
        n--;
    fc_log(level == LLL_ERR ? FC_LOG_ERROR : FC_LOG_WARN, "lws: %.*s", (int)n, line);
}

static void add_mount(fc_http_server *srv, int i, const char *at, const char *origin,
                      unsigned char proto)
{
    struct lws_http_mount *m = &srv->mounts[i];
    memset(m, 0, sizeof *m);
    m->mountpoint = at;
    m->mountpoint_len = (unsigned char)strlen(at);
    m->origin = origin;
    m->origin_protocol = proto;
    if (proto == LWSMPRO_FILE)
        m->def = "index.html";
    if (i > 0)
        srv->mounts[i - 1].mount_next = m;
}

/* ------------------------------------------------------------------ metrics */

static void metric_ws_clients(fc_metrics_out *out, void *ctx)
{
    fc_metrics_sample(out, NULL, (double)((fc_http_server *)ctx)->ws_count);
}

static void metric_ws_accepted(fc_metrics_out *out, void *ctx)
{
    fc_metrics_sample(out, NULL, (double)((fc_http_server *)ctx)->ws_accepted);
}

static void metric_ws_refused(fc_metrics_out *out, void *ctx)
{
    fc_metrics_sample(out, NULL, (double)((fc_http_server *)ctx)->ws_refused);
}

static void metric_http_requests(fc_metrics_out *out, void *ctx)
{
    fc_metrics_sample(out, NULL, (double)((fc_http_server *)ctx)->http_requests);
}

static void metric_uploads(fc_metrics_out *out, void *ctx)
{
    fc_metrics_sample(out, NULL, (double)((fc_http_server *)ctx)->uploads_active);
}

static int register_metrics(fc_http_server *srv)
{
    int rc = 0;
    rc |= fc_metrics_register(srv->metrics, "fc_websocket_clients", FC_METRIC_GAUGE,
                              "WebSocket connections open now.", metric_ws_clients, srv);
    rc |= fc_metrics_register(srv->metrics, "fc_websocket_accepted_total", FC_METRIC_COUNTER,
                              "WebSocket subscriptions accepted.", metric_ws_accepted, srv);
    rc |= fc_metrics_register(srv->metrics, "fc_websocket_refused_total", FC_METRIC_COUNTER,
                              "WebSocket connections refused (unknown stream, bad option, "
                              "server full).",
                              metric_ws_refused, srv);
    rc |= fc_metrics_register(srv->metrics, "fc_http_requests_total", FC_METRIC_COUNTER,
                              "HTTP requests answered by framecast's own handlers.",
                              metric_http_requests, srv);
    rc |= fc_metrics_register(srv->metrics, "fc_uploads_in_progress", FC_METRIC_GAUGE,
                              "POST /upload bodies being received or written now.",
                              metric_uploads, srv);
    return rc ? -1 : 0;
}

/* A connection our listener accepted: lws serves it from here on (HTTP, and
 * WebSocket after an upgrade); on failure lws has closed the fd. */
static void on_accept(int fd, const struct sockaddr_storage *peer, void *ctx)
{
    (void)peer;
    fc_http_server *srv = ctx;
    lws_adopt_desc_t desc = {
        .vh = srv->vhost,
        .type = LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP,
        .fd.sockfd = fd,
    };
    if (!lws_adopt_descriptor_vhost_via_info(&desc))
        fc_warn("http server: could not take a new connection (lws refused it)");
}

int fc_http_server_start(fc_loop *loop, const fc_http_server_config *cfg,
                         const fc_stream_set *streams, fc_metrics *metrics,
                         fc_http_server **out, char *err, size_t errlen)
{
    fc_http_server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        snprintf(err, errlen, "http server: out of memory");
        return -1;
    }
    srv->loop = loop;
    srv->cfg = *cfg;
    srv->streams = streams;
    srv->metrics = metrics;
    if (register_metrics(srv) != 0) {
        snprintf(err, errlen, "http server: out of memory registering metrics");
        free(srv);
        return -1;
    }
    srv->protocols[0] = (struct lws_protocols){
        .name = "framecast",
        .callback = callback,
        .per_session_data_size = sizeof(session),
        .rx_buffer_size = MAX_CONTROL_MESSAGE,
        /* Hand whole frames to send(); lws only copies what the kernel
         * could not take at once. */
        .tx_packet_size = 8u << 20,
    };
    srv->retry = (lws_retry_bo_t){
        .secs_since_valid_ping = (uint16_t)cfg->ping_secs,
        .secs_since_valid_hangup = (uint16_t)cfg->hangup_secs,
    };

    /* Longest match wins: the callback mounts take their paths, the file
     * mount the rest. */
    int nm = 0;
    add_mount(srv, nm++, "/ws", "framecast", LWSMPRO_CALLBACK);
    add_mount(srv, nm++, "/api", "framecast", LWSMPRO_CALLBACK);
    add_mount(srv, nm++, "/metrics", "framecast", LWSMPRO_CALLBACK);
    add_mount(srv, nm++, "/healthz", "framecast", LWSMPRO_CALLBACK);
    add_mount(srv, nm++, "/upload", "framecast", LWSMPRO_CALLBACK);
    if (cfg->web_root) {
        snprintf(srv->web_root, sizeof srv->web_root, "%s", cfg->web_root);
        snprintf(srv->demo_root, sizeof srv->demo_root, "%s/demo", cfg->web_root);
        /* The avatar demo lives in web/demo/ and answers at /demo. */
        add_mount(srv, nm++, "/demo", srv->demo_root, LWSMPRO_FILE);
        /* lws knows no audio types; the demo's bundled speech sample is WAV. */
        static const struct lws_protocol_vhost_options wav = {NULL, NULL, ".wav", "audio/wav"};
        srv->mounts[nm - 1].extra_mimetypes = &wav;
        add_mount(srv, nm++, "/", srv->web_root, LWSMPRO_FILE);
    }

    lws_set_log_level(LLL_ERR | LLL_WARN, log_emit);

    void *foreign[1] = {&loop->uv};
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
                   LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE |
                   LWS_SERVER_OPTION_VALIDATE_UTF8;
    info.foreign_loops = foreign;
    info.user = srv;
    info.retry_and_idle_policy = &srv->retry;
    /* lws clears this when the context is finally gone (see _free). */
    info.pcontext = &srv->ctx;
    /* Room for every client plus HTTP requests and lws's own handles. */
    info.fd_limit_per_thread = cfg->max_clients + 64;
    srv->ctx = lws_create_context(&info);
    if (!srv->ctx) {
        snprintf(err, errlen, "http server: cannot create the libwebsockets context");
        free(srv);
        return -1;
    }

    memset(&info, 0, sizeof info);
    /* framecast listens itself (listener.h) and hands lws each connection. */
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    info.protocols = srv->protocols;
    info.mounts = srv->mounts;
    info.retry_and_idle_policy = &srv->retry;
    info.vhost_name = "framecast";
    info.options = LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE |
                   LWS_SERVER_OPTION_VALIDATE_UTF8;
    srv->vhost = lws_create_vhost(srv->ctx, &info);
    int rc = -1;
    if (!srv->vhost)
        snprintf(err, errlen, "http server: cannot create the libwebsockets vhost");
    else
        rc = fc_listener_open(loop, cfg->host, cfg->port, on_accept, srv, &srv->listener, err,
                              errlen);
    uv_timer_init(&loop->uv, &srv->drain_timer);
    srv->drain_timer.data = srv;
    /* Even without a vhost the context has handles on the loop; the caller
     * tears it down the usual way (destroy, run the loop, free). */
    *out = srv;
    return rc;
}

int fc_http_server_port(const fc_http_server *srv)
{
    return fc_listener_port(srv->listener);
}

const fc_listener *fc_http_server_listener(const fc_http_server *srv)
{
    return srv->listener;
}

static void maybe_drain_done(fc_http_server *srv)
{
    if (!srv->draining || (srv->ws_count > 0 && !srv->drain_timed_out) || !srv->drain_done)
        return;
    void (*done)(fc_http_server *, void *) = srv->drain_done;
    srv->drain_done = NULL;
    uv_timer_stop(&srv->drain_timer);
    done(srv, srv->drain_arg);
}

static void on_drain_timeout(uv_timer_t *t)
{
    fc_http_server *srv = t->data;
    fc_warn("http server: %zu WebSocket(s) did not close in time; closing them hard",
            srv->ws_count);
    /* Their streams are about to shut down: let go of the subscriptions now;
     * lws closes the sockets when the context is destroyed. */
    for (session *ss = srv->sessions; ss; ss = ss->next) {
        if (ss->sub)
            fc_stream_unsubscribe(ss->stream, ss->sub);
        ss->sub = NULL;
        fc_avatar_release(ss->av);
        ss->av = NULL;
    }
    srv->drain_timed_out = true;
    maybe_drain_done(srv);
}

void fc_http_server_drain(fc_http_server *srv, unsigned timeout_ms,
                          void (*done)(fc_http_server *srv, void *arg), void *arg)
{
    srv->draining = true;
    srv->drain_done = done;
    srv->drain_arg = arg;
    for (session *ss = srv->sessions; ss; ss = ss->next) {
        if (!ss->close_code) {
            ss->close_code = LWS_CLOSE_STATUS_GOINGAWAY;
            snprintf(ss->close_reason, sizeof ss->close_reason, "server shutting down");
        }
        lws_callback_on_writable(ss->wsi);
    }
    uv_timer_start(&srv->drain_timer, on_drain_timeout, timeout_ms, 0);
    maybe_drain_done(srv);
}

void fc_http_server_destroy(fc_http_server *srv)
{
    if (!srv)
        return;
    /* Sessions still open are closed by lws here, which unsubscribes them
     * through LWS_CALLBACK_CLOSED. On a foreign loop lws finishes closing
     * its handles as the loop runs on. */
    fc_listener_close(srv->listener);
    srv->listener = NULL;
    lws_context_destroy(srv->ctx);
    uv_close((uv_handle_t *)&srv->drain_timer, NULL);
}

void fc_http_server_free(fc_http_server *srv)
{
    if (!srv)
        return;
    /* With a foreign loop the first destroy only starts the teardown; once
     * the loop has closed lws's handles, a second call frees the context. */
    if (srv->ctx)
        lws_context_destroy(srv->ctx);
    free(srv);
}
