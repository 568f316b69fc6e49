#include "transport/http_api.h"

#include <jansson.h>
#include <libwebsockets.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/face/face.h"
#include "transport/conn.h"
#include "transport/listener.h"
#include "transport/utf8.h"

/* One row per route. `path` is matched whole, or with `tail` as a prefix
 * whose rest (non-empty, no '/') is handed to the handler as {id}. */
typedef struct route {
    int method; /* LWSHUMETH_GET, ... */
    const char *path;
    bool tail;
    int (*handle)(fc_conn *c, const char *id);
} route;

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
    const fc_source *src = fc_stream_source(s);
    const fc_tracker *t = fc_detect_tracker(d);
    const fc_detect_stats *ds = &st->detect;
    int iw = 0, ih = 0;
    fc_face_detector_input_for(dc->detector, src->width, src->height, &iw, &ih);
    json_t *faces = json_array();
    for (int i = 0; i < t->count; i++) {
        const fc_track *k = &t->track[i];
        json_array_append_new(faces, json_pack("{s:I, s:o, s:f}", "id", (json_int_t)k->id, "box",
                                               rect_json((fc_rect){k->x, k->y, k->w, k->h}),
                                               "score", round(k->last.score * 1000) / 1000));
    }
    const fc_hub *ptz = fc_stream_view_hub(s, FC_VIEW_PTZ);
    return json_pack("{s:f, s:f, s:[i, i], s:I, s:I, s:I, s:I, s:f, s:o, s:{s:o, s:I}}", "fps",
                     dc->fps, "motion_threshold", dc->motion_threshold, "model_input", iw, ih,
                     "square_inferences", (json_int_t)ds->inferences_square, "inferences",
                     (json_int_t)ds->inferences, "inferences_with_faces",
                     (json_int_t)ds->inferences_with_faces, "skipped",
                     (json_int_t)ds->inferences_skipped, "cpu_seconds", (double)ds->cpu_ns / 1e9,
                     "faces", faces, "ptz", "view", rect_json(fc_detect_ptz_view(d)), "subscribers",
                     (json_int_t)(ptz ? fc_hub_count(ptz) : 0));
}

static json_t *stream_json(const fc_stream *s)
{
    const fc_source *src = fc_stream_source(s);
    const fc_stream_config *cfg = fc_stream_config_of(s);
    fc_hub_stats hs;
    fc_hub_get_stats(fc_stream_view_hub(s, FC_VIEW_FULL), &hs);
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
    return json_pack("{s:s, s:s, s:s, s:i, s:i, s:f, s:f, s:f, s:b, s:i, s:o, s:I, s:o, s:I, "
                     "s:I, s:o}",
                     "id", fc_stream_id(s), "source", src->description, "codec",
                     fc_stream_codec(s)->name, "width", src->width, "height", src->height, "fps",
                     cfg->fps, "encode_fps", cfg->encode_fps, "measured_fps", st.measured_fps,
                     "running", fc_stream_running(s), "subscribers", (int)hs.subscribers,
                     "subscribers_by_tier", subs_by_tier, "frames_produced",
                     (json_int_t)st.frames_produced, "frames_encoded", enc, "frames_not_encoded",
                     (json_int_t)st.frames_not_encoded, "drops", (json_int_t)hs.drops, "detection",
                     detection_json(s, &st));
}

static int get_healthz(fc_conn *c, const char *id)
{
    (void)id;
    fc_buf body;
    fc_conn_body_init(&body);
    fc_buf_append(&body, "ok\n", 3);
    return text_body(c, "text/plain; charset=utf-8", &body);
}

/* Who we are and exactly where we listen. */
static int get_server(fc_conn *c, const char *id)
{
    (void)id;
    const fc_listener *l = fc_conn_env(c)->listener;
    json_t *listen = json_array();
    for (size_t i = 0; i < fc_listener_count(l); i++)
        json_array_append_new(listen, json_string(fc_listener_address(l, i)));
    return fc_conn_respond_json(c, HTTP_STATUS_OK,
                                json_pack("{s:s, s:o, s:i}", "version", FC_VERSION, "listen",
                                          listen, "port", fc_listener_port(l)));
}

static int get_streams(fc_conn *c, const char *id)
{
    (void)id;
    const fc_stream_set *set = fc_conn_env(c)->streams;
    json_t *arr = json_array();
    for (size_t i = 0; i < set->n; i++)
        json_array_append_new(arr, stream_json(set->v[i]));
    return json_text(c, HTTP_STATUS_OK, arr);
}

static int get_stream(fc_conn *c, const char *id)
{
    const fc_stream *s = fc_stream_set_find(fc_conn_env(c)->streams, id);
    if (!s) {
        char name[80], why[160];
        fc_utf8_clean(name, sizeof name, id, strlen(id)); /* JSON takes only UTF-8 */
        snprintf(why, sizeof why, "no stream '%s'", name);
        return json_text(c, HTTP_STATUS_NOT_FOUND, json_pack("{s:s}", "error", why));
    }
    return json_text(c, HTTP_STATUS_OK, stream_json(s));
}

static int get_metrics(fc_conn *c, const char *id)
{
    (void)id;
    fc_buf body;
    fc_conn_body_init(&body);
    fc_metrics_render(fc_conn_env(c)->metrics, &body);
    return text_body(c, "text/plain; version=0.0.4; charset=utf-8", &body);
}

static const route routes[] = {
    {LWSHUMETH_GET, "/healthz", false, get_healthz},
    {LWSHUMETH_GET, "/api/server", false, get_server},
    {LWSHUMETH_GET, "/api/streams", false, get_streams},
    {LWSHUMETH_GET, "/api/streams/", true, get_stream},
    {LWSHUMETH_GET, "/metrics", false, get_metrics},
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

static int api_open(fc_conn *c, void *state, const char *path)
{
    (void)state;
    bool known = false;
    for (size_t i = 0; i < ROUTES; i++) {
        const char *id = match(&routes[i], path);
        if (!id) continue;
        if (routes[i].method == fc_conn_method(c)) return routes[i].handle(c, id);
        known = true;
    }
    if (!known) return fc_conn_respond_not_found(c, path);
    return fc_conn_respond_status(c, HTTP_STATUS_METHOD_NOT_ALLOWED, "only GET is served here");
}

const fc_endpoint fc_http_api_endpoint = {
    .prefixes = (const char *const[]){"/api", "/healthz", "/metrics", NULL},
    .open = api_open,
};
