#include "transport/http_api.h"

#include <jansson.h>
#include <libwebsockets.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/face/face.h"
#include "core/clock.h"
#include "sources/redact.h"
#include "transport/api_streams.h"
#include "transport/census.h"
#include "transport/auth/guard.h"
#include "transport/conn.h"
#include "transport/listener.h"
#include "transport/webrtc.h"
#include "transport/stream_body.h"
#include "transport/utf8.h"

typedef struct route route;

/* A request's state: the route waiting for its body, the body so far, and
 * the change (api_streams.h) that will answer it. */
typedef struct api_conn {
    const route *waiting;
    char id[FC_ID_MAX];
    fc_buf body;
    bool too_large;
    fc_api_waiter waiter;
    fc_conn *conn;
    fc_census_waiter census; /* GET /metrics with --loops N: the other loops' copies */
} api_conn;

/* One row per route. `path` is matched whole, or with `tail` as a prefix
 * whose rest (non-empty, no '/') is handed to the handler as {id}. A route
 * that `changes` state is behind the key (auth/guard.h); one that takes a
 * `body` is handled once the whole body, bounded, has come. */
struct route {
    int method; /* LWSHUMETH_GET, ... */
    const char *path;
    bool tail, changes, body;
    int (*handle)(fc_conn *c, api_conn *ac, const char *id);
};

static int text_body(fc_conn *c, const char *ctype, fc_buf *body)
{
    return fc_conn_respond(c, HTTP_STATUS_OK, ctype, body);
}

static int json_text(fc_conn *c, unsigned status, json_t *doc)
{
    /* Stream figures keep 15 significant digits; one line per answer. */
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(doc);
    fc_buf body;
    fc_conn_body_init(&body);
    if (text) {
        fc_buf_append(&body, text, strlen(text));
        fc_buf_append(&body, "\n", 1);
    } else {
        body.failed = true;
    }
    free(text);
    return fc_conn_respond(c, status, "application/json", &body);
}

static json_t *rect_json(fc_rect r)
{
    return json_pack("[f, f, f, f]", round(r.x * 10) / 10, round(r.y * 10) / 10,
                     round(r.w * 10) / 10, round(r.h * 10) / 10);
}

static json_t *detection_json(const fc_stream *s, const fc_stream_stats *st)
{
    const fc_detect *d = fc_stream_detect(s);
    if (!d) return json_null();
    const fc_detect_config *dc = fc_detect_config_of(d);
    const fc_stream_format *fmt = fc_stream_format_of(s);
    const fc_tracker *t = fc_detect_tracker(d);
    const fc_detect_stats *ds = &st->detect;
    int iw = 0, ih = 0;
    fc_face_detector_input_for(dc->detector, fmt->width, fmt->height, &iw, &ih);
    json_t *faces = json_array();
    for (int i = 0; i < t->count; i++) {
        const fc_track *k = &t->track[i];
        json_array_append_new(faces, json_pack("{s:I, s:o, s:f}", "id", (json_int_t)k->id, "box",
                                               rect_json((fc_rect){k->x, k->y, k->w, k->h}),
                                               "score", round(k->last.score * 1000) / 1000));
    }
    fc_hub_stats ptz;
    fc_stream_view_stats(s, FC_VIEW_PTZ, &ptz);
    return json_pack("{s:f, s:f, s:[i, i], s:I, s:I, s:I, s:I, s:f, s:o, s:{s:o, s:I}}", "fps",
                     fc_stream_config_of(s)->detect.fps, "motion_threshold", dc->motion_threshold,
                     "model_input", iw, ih, "square_inferences", (json_int_t)ds->inferences_square,
                     "inferences", (json_int_t)ds->inferences, "inferences_with_faces",
                     (json_int_t)ds->inferences_with_faces, "skipped",
                     (json_int_t)ds->inferences_skipped, "cpu_seconds", (double)ds->cpu_ns / 1e9,
                     "faces", faces, "ptz", "view", rect_json(fc_detect_ptz_view(d)), "subscribers",
                     (json_int_t)ptz.subscribers);
}

/* The source's side of a stream: its state with the last error (no
 * credentials: sources redact them), reconnects and time in the state; for
 * files, cameras and devices also what they deliver and their counters. */
static void add_source_json(json_t *obj, const fc_stream *s)
{
    fc_source_status st;
    fc_stream_source_status(s, &st);
    uint64_t now = fc_now_ns();
    json_object_set_new(obj, "state", json_string(fc_source_state_name(st.state)));
    json_object_set_new(obj, "error", st.error[0] ? json_string(st.error) : json_null());
    json_object_set_new(obj, "reconnects", json_integer((json_int_t)st.reconnects));
    json_object_set_new(
        obj, "state_seconds",
        json_real(now > st.since_ns ? round((double)(now - st.since_ns) / 1e6) / 1e3 : 0));
    const fc_source_format *f = fc_stream_source_format(s);
    if (!f) {
        json_object_set_new(obj, "input", json_null());
        return;
    }
    json_object_set_new(
        obj, "input",
        json_pack("{s:s?, s:i, s:i, s:f, s:f, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f}",
                  "codec", f->codec[0] ? f->codec : NULL, "width", f->width, "height", f->height,
                  "fps", f->fps, "key_interval", st.key_interval, "key_frames_only", st.key_only,
                  "packets", (json_int_t)st.packets, "bytes", (json_int_t)st.bytes,
                  "frames_decoded", (json_int_t)st.frames_decoded, "key_frames_decoded",
                  (json_int_t)st.key_frames_decoded, "frames_delivered",
                  (json_int_t)st.frames_delivered, "handoff_dropped",
                  (json_int_t)st.handoff_dropped, "decode_dropped", (json_int_t)st.decode_dropped,
                  "decode_errors", (json_int_t)st.decode_errors, "decode_cpu_seconds",
                  (double)st.decode_cpu_ns / 1e9));
}

/* Which codecs a subscriber may ask for (h264 only for a camera's own
 * H.264) and the passthrough's figures: a proof that it decodes nothing is
 * input.frames_decoded staying 0 while only these subscribers watch. */
static void add_codecs_json(json_t *obj, const fc_stream *s, const fc_stream_stats *st)
{
    json_t *codecs = json_array();
    const fc_codec_ops *c;
    for (size_t i = 0; (c = fc_codec_at(i)); i++)
        json_array_append_new(codecs, json_string(c->name));
    bool h264 = fc_stream_offers_h264(s);
    if (h264) json_array_append_new(codecs, json_string(fc_h264_passthrough.name));
    json_object_set_new(obj, "codecs", codecs);
    if (!h264) {
        json_object_set_new(obj, "h264", json_null());
        return;
    }
    const fc_passthrough_stats *p = &st->passthrough;
    json_object_set_new(
        obj, "h264",
        json_pack("{s:s?, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "codec_string",
                  fc_stream_h264_codec_string(s), "subscribers",
                  (json_int_t)st->passthrough_subscribers, "access_units",
                  (json_int_t)p->access_units, "published", (json_int_t)p->published, "key_frames",
                  (json_int_t)p->key_frames, "params_prepended", (json_int_t)p->params_prepended,
                  "skipped", (json_int_t)p->skipped, "rejected", (json_int_t)p->rejected, "bytes",
                  (json_int_t)p->bytes, "drops", (json_int_t)st->passthrough_drops, "drops_to_key",
                  (json_int_t)st->passthrough_drops_to_key));
}

static json_t *stream_json(const fc_stream *s)
{
    const fc_source *src = fc_stream_source(s);
    const fc_stream_format *fmt = fc_stream_format_of(s);
    const fc_stream_config *cfg = fc_stream_config_of(s);
    fc_hub_stats hs;
    fc_stream_view_stats(s, FC_VIEW_FULL, &hs);
    fc_stream_stats st;
    fc_stream_get_stats(s, &st);
    json_t *enc = json_object();
    json_t *subs_by_tier = json_object();
    for (int t = 0; t < FC_TIER_COUNT; t++) {
        json_object_set_new(enc, fc_tier_name((fc_tier)t),
                            json_integer((json_int_t)st.frames_encoded[FC_VIEW_FULL][t]));
        json_object_set_new(subs_by_tier, fc_tier_name((fc_tier)t),
                            json_integer((json_int_t)hs.on_tier[t]));
    }
    json_t *obj = json_pack(
        "{s:s, s:s, s:s, s:i, s:i, s:f, s:f, s:f, s:b, s:i, s:o, s:I, s:o, s:I, "
        "s:I, s:o}",
        "id", fc_stream_id(s), "source", src->description, "codec", fc_stream_codec(s)->name,
        "width", fmt->width, "height", fmt->height, "fps", cfg->fps, "encode_fps", cfg->encode_fps,
        "measured_fps", st.measured_fps, "running", fc_stream_running(s), "subscribers",
        (int)hs.subscribers, "subscribers_by_tier", subs_by_tier, "frames_produced",
        (json_int_t)st.frames_produced, "frames_encoded", enc, "frames_not_encoded",
        (json_int_t)st.frames_not_encoded, "drops", (json_int_t)hs.drops, "detection",
        detection_json(s, &st));
    if (obj) add_source_json(obj, s);
    if (obj) add_codecs_json(obj, s, &st);
    return obj;
}

/* A setting as stored: null when not set (the spec or the flags decide). */
static json_t *rate_or_null(double v)
{
    return v > 0 ? json_real(v) : json_null();
}

static json_t *settings_json(const fc_stream_settings *set)
{
    json_t *q = json_object();
    for (int t = 0; t < FC_TIER_COUNT; t++)
        json_object_set_new(q, fc_tier_name((fc_tier)t),
                            set->quality[t] > 0 ? json_integer(set->quality[t]) : json_null());
    return json_pack("{s:o, s:o, s:o, s:o}", "encode_fps", rate_or_null(set->encode_fps), "detect",
                     set->detect < 0 ? json_null() : json_boolean(set->detect == 1), "detect_fps",
                     rate_or_null(set->detect_fps), "quality", q);
}

json_t *fc_http_api_stream_json(const fc_stream_set *set, const fc_stream *s)
{
    json_t *doc = stream_json(s);
    const fc_stream_info *info = fc_stream_set_info_of(set, s);
    if (!doc || !info) return doc;
    const fc_stream_config *cfg = fc_stream_config_of(s);
    json_t *quality = json_object();
    for (int t = 0; t < FC_TIER_COUNT; t++)
        json_object_set_new(quality, fc_tier_name((fc_tier)t), json_integer(cfg->quality[t]));
    json_object_set_new(doc, "quality", quality);
    json_object_set_new(doc, "origin", json_string(fc_stream_origin_name(info->origin)));
    if (info->origin != FC_ORIGIN_API) return doc;
    char shown[FC_STREAM_SPEC_MAX];
    json_object_set_new(doc, "spec", json_string(fc_redact(info->spec, shown, sizeof shown)));
    json_object_set_new(doc, "settings", settings_json(&info->settings));
    /* Milliseconds: the same digits whichever precision the answer uses. */
    json_object_set_new(doc, "created", json_real(round(info->created * 1000) / 1000));
    json_object_set_new(doc, "updated", json_real(round(info->updated * 1000) / 1000));
    return doc;
}

static int get_healthz(fc_conn *c, api_conn *ac, const char *id)
{
    (void)ac;
    (void)id;
    fc_buf body;
    fc_conn_body_init(&body);
    fc_buf_append(&body, "ok\n", 3);
    return text_body(c, "text/plain; charset=utf-8", &body);
}

/* Who we are and exactly where we listen. */
static int get_server(fc_conn *c, api_conn *ac, const char *id)
{
    (void)ac;
    (void)id;
    const fc_listener *l = fc_conn_env(c)->listener;
    json_t *listen = json_array();
    for (size_t i = 0; i < fc_listener_count(l); i++)
        json_array_append_new(listen, json_string(fc_listener_address(l, i)));
    return fc_conn_respond_json(c, HTTP_STATUS_OK,
                                json_pack("{s:s, s:o, s:i, s:i, s:o}", "version", FC_VERSION,
                                          "listen", listen, "port", fc_listener_port(l), "loops",
                                          fc_conn_env(c)->loops, "webrtc",
                                          fc_webrtc_server_json(fc_conn_env(c)->webrtc)));
}

/* What the page needs to know before it offers changes: whether the server
 * has a key, whether the request's key is it, and the viewing policy. */
static int get_auth(fc_conn *c, api_conn *ac, const char *id)
{
    (void)ac;
    (void)id;
    fc_server_env *env = fc_conn_env(c);
    int rc;
    int ok = fc_auth_http_probe(c, &rc);
    if (ok < 0) return rc;
    return fc_conn_respond_json(
        c, HTTP_STATUS_OK,
        json_pack("{s:b, s:b, s:s, s:b}", "key_required", fc_auth_has_key(env->auth), "authorized",
                  ok == 1, "viewer_tokens", fc_viewer_policy_name(fc_auth_viewers(env->auth)),
                  "changes", env->api != NULL));
}

/* A stream as the read endpoints show it: with its WebRTC mountpoint, or
 * why it has none. */
static json_t *stream_read_json(fc_conn *c, const fc_stream *s)
{
    json_t *doc = fc_http_api_stream_json(fc_conn_env(c)->streams, s);
    if (doc)
        json_object_set_new(doc, "webrtc",
                            fc_webrtc_stream_json(fc_conn_env(c)->webrtc, fc_stream_id(s)));
    return doc;
}

static int get_streams(fc_conn *c, api_conn *ac, const char *id)
{
    (void)ac;
    (void)id;
    const fc_stream_set *set = fc_conn_env(c)->streams;
    json_t *arr = json_array();
    for (size_t i = 0; i < set->n; i++)
        json_array_append_new(arr, stream_read_json(c, set->v[i]));
    return json_text(c, HTTP_STATUS_OK, arr);
}

static int get_stream(fc_conn *c, api_conn *ac, const char *id)
{
    (void)ac;
    const fc_stream_set *set = fc_conn_env(c)->streams;
    const fc_stream *s = fc_stream_set_find(set, id);
    if (!s) {
        char name[80], why[160];
        fc_utf8_clean(name, sizeof name, id, strlen(id)); /* JSON takes only UTF-8 */
        snprintf(why, sizeof why, "no stream '%s'", name);
        return json_text(c, HTTP_STATUS_NOT_FOUND, json_pack("{s:s}", "error", why));
    }
    return json_text(c, HTTP_STATUS_OK, stream_read_json(c, s));
}

static int metrics_now(fc_conn *c)
{
    fc_buf body;
    fc_conn_body_init(&body);
    fc_metrics_render(fc_conn_env(c)->metrics, &body);
    return text_body(c, "text/plain; version=0.0.4; charset=utf-8", &body);
}

static void on_census_ready(fc_census_waiter *w)
{
    api_conn *ac = fc_container_of(w, api_conn, census);
    metrics_now(ac->conn);
}

/* With several loops the answer waits for the others' figures (census.h). */
static int get_metrics(fc_conn *c, api_conn *ac, const char *id)
{
    (void)id;
    fc_census *census = fc_conn_env(c)->census;
    if (!census) return metrics_now(c);
    ac->conn = c;
    ac->census.ready = on_census_ready;
    fc_census_gather(census, &ac->census);
    return 0;
}

static int post_stream(fc_conn *c, api_conn *ac, const char *id)
{
    (void)id;
    ac->waiter.conn = c;
    return fc_stream_api_create(fc_conn_env(c)->api, &ac->waiter,
                                ac->body.data ? ac->body.data : "", ac->body.len);
}

static int patch_stream(fc_conn *c, api_conn *ac, const char *id)
{
    ac->waiter.conn = c;
    return fc_stream_api_update(fc_conn_env(c)->api, &ac->waiter, id,
                                ac->body.data ? ac->body.data : "", ac->body.len);
}

static int delete_stream(fc_conn *c, api_conn *ac, const char *id)
{
    ac->waiter.conn = c;
    return fc_stream_api_delete(fc_conn_env(c)->api, &ac->waiter, id);
}

static const route routes[] = {
    {LWSHUMETH_GET, "/healthz", false, false, false, get_healthz},
    {LWSHUMETH_GET, "/api/server", false, false, false, get_server},
    {LWSHUMETH_GET, "/api/auth", false, false, false, get_auth},
    {LWSHUMETH_GET, "/api/streams", false, false, false, get_streams},
    {LWSHUMETH_POST, "/api/streams", false, true, true, post_stream},
    {LWSHUMETH_GET, "/api/streams/", true, false, false, get_stream},
    {LWSHUMETH_PATCH, "/api/streams/", true, true, true, patch_stream},
    {LWSHUMETH_DELETE, "/api/streams/", true, true, false, delete_stream},
    {LWSHUMETH_GET, "/metrics", false, false, false, get_metrics},
};

#define ROUTES (sizeof routes / sizeof *routes)

/* The {id} of `path` for a tail route, or NULL when it does not match. */
static const char *match(const route *r, const char *path)
{
    size_t n = strlen(r->path);
    if (!r->tail) return strcmp(path, r->path) == 0 ? "" : NULL;
    if (strncmp(path, r->path, n) != 0 || !path[n] || strchr(path + n, '/')) return NULL;
    return path + n;
}

static const char *method_name(int m)
{
    return m == LWSHUMETH_POST     ? "POST"
           : m == LWSHUMETH_PATCH  ? "PATCH"
           : m == LWSHUMETH_DELETE ? "DELETE"
                                   : "GET";
}

/* 405 that says which methods the path takes. */
static int not_allowed(fc_conn *c, const char *path)
{
    char allowed[64] = "";
    size_t n = 0;
    for (size_t i = 0; i < ROUTES; i++)
        if (match(&routes[i], path))
            n += (size_t)snprintf(allowed + n, sizeof allowed - n, "%s%s", n ? ", " : "",
                                  method_name(routes[i].method));
    return fc_conn_respond_json_with(
        c, HTTP_STATUS_METHOD_NOT_ALLOWED, "allow:", allowed,
        json_pack("{s:s, s:s}", "error", "method not allowed here", "allow", allowed));
}

static int api_error(fc_conn *c, unsigned status, const char *msg)
{
    return fc_conn_respond_json(c, status, json_pack("{s:s}", "error", msg));
}

/* A route with a body: bounded by its declared length before any byte is
 * kept (and again by what arrives, should the two disagree). */
static int expect_body(fc_conn *c, api_conn *ac, const route *r, const char *id)
{
    char len[24];
    struct lws *wsi = fc_conn_wsi(c);
    /* lws does not take a chunked request body apart: what follows the
     * headers would be read as the next request, so the client is told to
     * send it on a connection of its own. */
    if (lws_hdr_copy(wsi, len, sizeof len, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
        return fc_conn_respond_json_with(
            c, HTTP_STATUS_LENGTH_REQUIRED, "connection:", "close",
            json_pack("{s:s}", "error", "send the JSON body with a Content-Length"));
    char *end;
    unsigned long long n = strtoull(len, &end, 10);
    if (*end || end == len) return api_error(c, HTTP_STATUS_BAD_REQUEST, "bad Content-Length");
    if (n > FC_STREAM_BODY_MAX) {
        char why[80];
        snprintf(why, sizeof why, "the body is larger than %d bytes", FC_STREAM_BODY_MAX);
        return api_error(c, HTTP_STATUS_REQ_ENTITY_TOO_LARGE, why);
    }
    /* lws sends no body callbacks for an empty body. */
    if (n == 0) return r->handle(c, ac, id);
    ac->waiting = r;
    snprintf(ac->id, sizeof ac->id, "%s", id);
    return 0;
}

static int api_open(fc_conn *c, void *state, const char *path)
{
    api_conn *ac = state;
    bool known = false;
    for (size_t i = 0; i < ROUTES; i++) {
        const route *r = &routes[i];
        const char *id = match(r, path);
        if (!id) continue;
        known = true;
        if (r->method != fc_conn_method(c)) continue;
        if (r->tail && !fc_source_id_valid(id)) {
            char name[80], why[160];
            fc_utf8_clean(name, sizeof name, id, strlen(id)); /* JSON takes only UTF-8 */
            snprintf(why, sizeof why, "no stream '%s'", name);
            return api_error(c, HTTP_STATUS_NOT_FOUND, why);
        }
        if (r->changes && !fc_conn_env(c)->api)
            return api_error(c, HTTP_STATUS_NOT_FOUND, "this server does not change streams");
        int rc;
        if (r->changes && !fc_auth_http_change(c, &rc)) return rc;
        return r->body ? expect_body(c, ac, r, id) : r->handle(c, ac, id);
    }
    if (!known) return fc_conn_respond_not_found(c, path);
    return not_allowed(c, path);
}

static int api_body(fc_conn *c, void *state, const void *in, size_t len)
{
    (void)c;
    api_conn *ac = state;
    if (!ac->waiting || ac->too_large) return 0;
    if (ac->body.len + len > FC_STREAM_BODY_MAX) {
        ac->too_large = true;
        fc_buf_free(&ac->body);
        return 0;
    }
    fc_buf_append(&ac->body, in, len);
    return 0;
}

static int api_body_done(fc_conn *c, void *state)
{
    api_conn *ac = state;
    const route *r = ac->waiting;
    if (!r) return 0;
    ac->waiting = NULL;
    if (ac->too_large) {
        char why[80];
        snprintf(why, sizeof why, "the body is larger than %d bytes", FC_STREAM_BODY_MAX);
        return api_error(c, HTTP_STATUS_REQ_ENTITY_TOO_LARGE, why);
    }
    if (ac->body.failed) return api_error(c, HTTP_STATUS_INTERNAL_SERVER_ERROR, "out of memory");
    return r->handle(c, ac, ac->id);
}

static void api_closed(fc_conn *c, void *state)
{
    api_conn *ac = state;
    fc_stream_api_forget(&ac->waiter);
    if (ac->census.waiting) fc_census_forget(fc_conn_env(c)->census, &ac->census);
    fc_buf_free(&ac->body);
    ac->waiting = NULL;
}

const fc_endpoint fc_http_api_endpoint = {
    .prefixes = (const char *const[]){"/api", "/healthz", "/metrics", NULL},
    .state_size = sizeof(api_conn),
    .open = api_open,
    .body = api_body,
    .body_done = api_body_done,
    .closed = api_closed,
};
