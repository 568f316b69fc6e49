/* Invariants:
 *   - Every change in flight is on api->changes, and at most one per stream
 *     id: a second request for the id is refused while the first runs, so a
 *     PATCH always merges onto settings that are committed, and a create
 *     reserves its id until it is answered.
 *   - A change's stream pointer (update, delete) stays valid while it runs:
 *     only changes and fc_stream_set_close take streams out of the set, and
 *     the server closes the set only after fc_stream_api_when_idle.
 *   - `fresh` (a stream built for a create or a restart) is either handed
 *     to the set or discarded through it, never freed here. */
#include "transport/api_streams.h"

#include <errno.h>
#include <libwebsockets.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "transport/conn.h"
#include "transport/http_api.h"
#include "transport/stream_body.h"

_Static_assert(FC_STREAM_SPEC_MAX == FC_STORE_SPEC_MAX, "a stream's spec must fit the store's");

/* lws names no constant for it. */
#define STATUS_CREATED 201

typedef enum { CREATE, UPDATE, DELETE, KINDS } change_kind;
static const char *const kind_names[KINDS] = {"create", "update", "delete"};
enum { RESULT_OK, RESULT_REFUSED, RESULT_FAILED, RESULTS };
static const char *const result_names[RESULTS] = {"ok", "refused", "failed"};

typedef struct api_change {
    fc_job job;           /* the new source, on a worker */
    fc_store_write write; /* the row, on the store's thread */
    fc_stream_api *api;
    fc_api_waiter *w; /* NULL once the client is gone */
    struct api_change *prev, *next;
    change_kind kind;
    bool restart; /* an update that needs a new stream */
    char id[FC_ID_MAX];
    char spec[FC_STREAM_SPEC_MAX]; /* create: as it is to be stored */
    fc_stream_plan plan;
    fc_stream_settings settings; /* as they are to be stored */
    fc_source *src;
    int src_rc;
    char err[FC_STREAM_SPEC_MAX + 512];
    fc_stream *fresh;
    uint64_t submitted_ns; /* the row went to the store */
} api_change;

struct fc_stream_api {
    fc_stream_api_config cfg;
    api_change *changes;
    size_t inflight, creating;
    bool stopping;
    void (*idle)(void *arg);
    void *idle_arg;
    uint64_t outcomes[KINDS][RESULTS];
    fc_histogram commit_ms;
};

static const double commit_ms_bounds[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000};

int fc_stream_api_new(const fc_stream_api_config *cfg, fc_stream_api **out)
{
    fc_stream_api *api = calloc(1, sizeof *api);
    if (!api) return -ENOMEM;
    api->cfg = *cfg;
    fc_histogram_init(&api->commit_ms, commit_ms_bounds,
                      (int)(sizeof commit_ms_bounds / sizeof *commit_ms_bounds));
    *out = api;
    return 0;
}

void fc_stream_api_free(fc_stream_api *api)
{
    free(api);
}

/* ---- answering ---- */

static int error_json(fc_conn *c, unsigned status, const char *msg)
{
    return fc_conn_respond_json(c, status, json_pack("{s:s}", "error", msg));
}

static int result_of(unsigned status)
{
    return status < 400 ? RESULT_OK : status < 500 ? RESULT_REFUSED : RESULT_FAILED;
}

/* A refusal before any change began. */
static int refuse(fc_stream_api *api, change_kind kind, fc_api_waiter *w, unsigned status,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int refuse(fc_stream_api *api, change_kind kind, fc_api_waiter *w, unsigned status,
                  const char *fmt, ...)
{
    char msg[FC_STREAM_SPEC_MAX + 512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    api->outcomes[kind][result_of(status)]++;
    return error_json(w->conn, status, msg);
}

static void maybe_idle(fc_stream_api *api)
{
    if (!api->stopping || api->inflight > 0 || !api->idle) return;
    void (*done)(void *) = api->idle;
    api->idle = NULL;
    done(api->idle_arg);
}

/* Ends a change: answers its client (if still there) with `doc` (taken)
 * and frees it. Location is set on a 201. */
static void finish(api_change *ch, unsigned status, json_t *doc)
{
    fc_stream_api *api = ch->api;
    api->outcomes[ch->kind][result_of(status)]++;
    if (ch->w) {
        fc_api_waiter *w = ch->w;
        w->change = NULL;
        char where[sizeof "/api/streams/" + FC_ID_MAX];
        snprintf(where, sizeof where, "/api/streams/%s", ch->id);
        fc_conn_respond_json_with(w->conn, status, status == STATUS_CREATED ? "location:" : NULL,
                                  where, doc);
    } else {
        json_decref(doc);
    }
    if (ch->prev)
        ch->prev->next = ch->next;
    else
        api->changes = ch->next;
    if (ch->next) ch->next->prev = ch->prev;
    api->inflight--;
    api->creating -= ch->kind == CREATE;
    fc_source_destroy(ch->src);
    free(ch);
    maybe_idle(api);
}

static void finish_error(api_change *ch, unsigned status, const char *msg)
{
    if (ch->fresh) fc_stream_set_discard(ch->api->cfg.streams, ch->fresh);
    ch->fresh = NULL;
    finish(ch, status, json_pack("{s:s}", "error", msg));
}

void fc_stream_api_forget(fc_api_waiter *w)
{
    if (w->change) w->change->w = NULL;
    w->change = NULL;
}

/* ---- the steps ---- */

static unsigned store_status(int rc)
{
    switch (rc) {
    case -EEXIST:
        return HTTP_STATUS_CONFLICT;
    case -ENOENT:
        return HTTP_STATUS_NOT_FOUND;
    case -EINVAL:
        return HTTP_STATUS_BAD_REQUEST;
    case -EAGAIN:
    case -EBUSY:
        return HTTP_STATUS_SERVICE_UNAVAILABLE;
    default:
        return HTTP_STATUS_INTERNAL_SERVER_ERROR;
    }
}

static json_t *stream_doc(fc_stream_api *api, const fc_stream *s, const char *applied)
{
    json_t *doc = fc_http_api_stream_json(api->cfg.streams, s);
    if (doc && applied) json_object_set_new(doc, "applied", json_string(applied));
    return doc;
}

/* The row is committed (or refused): now the running streams follow. */
static void stored(fc_job *job)
{
    fc_store_write *wr = fc_container_of(job, fc_store_write, job);
    api_change *ch = fc_container_of(wr, api_change, write);
    fc_stream_api *api = ch->api;
    fc_histogram_observe(&api->commit_ms, (double)(fc_now_ns() - ch->submitted_ns) / 1e6);
    if (wr->result != 0) {
        fc_warn("stream %s: %s", ch->id, wr->err);
        finish_error(ch, store_status(wr->result), wr->err);
        return;
    }
    fc_stream_set *set = api->cfg.streams;
    fc_stream *s = fc_stream_set_find(set, ch->id);
    if (ch->kind == DELETE) {
        if (s) fc_stream_set_remove(set, s, FC_STREAM_DELETED);
        fc_info("stream %s: deleted through the API", ch->id);
        finish(ch, HTTP_STATUS_OK, json_pack("{s:s, s:b}", "id", ch->id, "deleted", 1));
        return;
    }
    if (ch->kind == CREATE) {
        fc_stream_info info = {.origin = FC_ORIGIN_API,
                               .settings = ch->settings,
                               .created = wr->row.created,
                               .updated = wr->row.updated};
        snprintf(info.spec, sizeof info.spec, "%s", wr->row.spec);
        if (fc_stream_set_add(set, ch->fresh, &info) != 0) {
            finish_error(ch, HTTP_STATUS_INTERNAL_SERVER_ERROR, "out of memory adding the stream");
            return;
        }
        s = ch->fresh;
        ch->fresh = NULL;
        fc_stream_start(s);
        fc_info("stream %s: added through the API (%s)", ch->id, fc_stream_source(s)->description);
        finish(ch, STATUS_CREATED, stream_doc(api, s, NULL));
        return;
    }
    const fc_stream_config *cfg = &ch->plan.cfg;
    if (!s) {
        finish_error(ch, HTTP_STATUS_NOT_FOUND, "the stream is gone");
        return;
    }
    if (ch->restart) {
        fc_stream_set_replace(set, s, ch->fresh);
        s = ch->fresh;
        ch->fresh = NULL;
        fc_stream_start(s);
    } else {
        fc_stream_reconfigure(s, cfg->encode_fps, cfg->detect.fps, cfg->quality);
    }
    fc_stream_info *info = fc_stream_set_info(set, s);
    info->settings = ch->settings;
    info->updated = wr->row.updated;
    fc_info("stream %s: settings changed through the API (%s)", ch->id,
            ch->restart ? "restarted" : "live");
    finish(ch, HTTP_STATUS_OK, stream_doc(api, s, ch->restart ? "restarted" : "live"));
}

static void store_row(api_change *ch)
{
    fc_store_write *wr = &ch->write;
    wr->job = (fc_job){.done = stored, .loop = ch->api->cfg.loop};
    wr->op = ch->kind == CREATE   ? FC_STORE_INSERT
             : ch->kind == UPDATE ? FC_STORE_UPDATE
                                  : FC_STORE_DELETE;
    fc_store_stream *row = &wr->row;
    memset(row, 0, sizeof *row);
    snprintf(row->id, sizeof row->id, "%s", ch->id);
    snprintf(row->spec, sizeof row->spec, "%s", ch->spec);
    row->encode_fps = ch->settings.encode_fps;
    row->detect = ch->settings.detect;
    row->detect_fps = ch->settings.detect_fps;
    memcpy(row->quality, ch->settings.quality, sizeof row->quality);
    ch->submitted_ns = fc_now_ns();
    int rc = fc_store_submit(ch->api->cfg.store, wr);
    if (rc != 0) finish_error(ch, store_status(rc), wr->err);
}

static void source_work(fc_job *job)
{
    api_change *ch = fc_container_of(job, api_change, job);
    ch->src_rc = fc_stream_plan_source(&ch->plan, &ch->src, ch->err, sizeof ch->err);
}

/* The source exists (or could not be made): build the stream on the loop. */
static void source_done(fc_job *job)
{
    api_change *ch = fc_container_of(job, api_change, job);
    fc_stream_api *api = ch->api;
    if (ch->src_rc != 0) {
        char msg[sizeof ch->err + 16];
        snprintf(msg, sizeof msg, "spec: %s", ch->err);
        finish_error(ch, HTTP_STATUS_BAD_REQUEST, msg);
        return;
    }
    fc_source *src = ch->src;
    ch->src = NULL;
    char err[600];
    if (fc_stream_plan_build(&ch->plan, api->cfg.defaults, api->cfg.loop, api->cfg.pool, src,
                             &ch->fresh, err, sizeof err) != 0) {
        ch->fresh = NULL;
        finish_error(ch, HTTP_STATUS_INTERNAL_SERVER_ERROR, err);
        return;
    }
    store_row(ch);
}

/* ---- the requests ---- */

static api_change *change_of(const fc_stream_api *api, const char *id)
{
    for (api_change *ch = api->changes; ch; ch = ch->next)
        if (strcmp(ch->id, id) == 0) return ch;
    return NULL;
}

/* The checks every change passes before it begins: 0, or the status of
 * the refusal already sent (then *answer holds what to return). */
static int admit(fc_stream_api *api, change_kind kind, fc_api_waiter *w, const char *id,
                 int *answer)
{
    if (api->stopping) {
        *answer = refuse(api, kind, w, HTTP_STATUS_SERVICE_UNAVAILABLE, "the server is stopping");
        return -1;
    }
    if (api->inflight >= FC_API_CHANGES_MAX) {
        *answer =
            refuse(api, kind, w, HTTP_STATUS_SERVICE_UNAVAILABLE,
                   "%d stream changes are in progress already; try again", FC_API_CHANGES_MAX);
        return -1;
    }
    if (change_of(api, id)) {
        *answer =
            refuse(api, kind, w, HTTP_STATUS_CONFLICT,
                   "a change to stream '%s' is in progress; try again when it is answered", id);
        return -1;
    }
    return 0;
}

static api_change *begin(fc_stream_api *api, change_kind kind, fc_api_waiter *w, const char *id)
{
    api_change *ch = calloc(1, sizeof *ch);
    if (!ch) return NULL;
    ch->api = api;
    ch->kind = kind;
    snprintf(ch->id, sizeof ch->id, "%s", id);
    ch->w = w;
    w->change = ch;
    ch->next = api->changes;
    if (api->changes) api->changes->prev = ch;
    api->changes = ch;
    api->inflight++;
    api->creating += kind == CREATE;
    return ch;
}

/* Starts with the source job; 503 when the pool's set-up queue is full. */
static void make_source(api_change *ch)
{
    ch->job = (fc_job){.work = source_work,
                       .done = source_done,
                       .loop = ch->api->cfg.loop,
                       .role = FC_ROLE_SOURCE,
                       .cls = FC_JOB_SETUP};
    if (fc_pool_submit(ch->api->cfg.pool, &ch->job) != 0)
        finish_error(ch, HTTP_STATUS_SERVICE_UNAVAILABLE,
                     "the workers have too much set-up work queued; try again");
}

static int create_with(fc_stream_api *api, fc_api_waiter *w, const char *body, size_t len,
                       fc_stream_body *req)
{
    char err[FC_STREAM_SPEC_MAX + 512];
    int rc = fc_stream_body_parse_create(body, len, req, err, sizeof err);
    if (rc != 0)
        return refuse(api, CREATE, w,
                      rc == -E2BIG ? HTTP_STATUS_REQ_ENTITY_TOO_LARGE : HTTP_STATUS_BAD_REQUEST,
                      "%s", err);
    int answer;
    if (admit(api, CREATE, w, req->id, &answer) != 0) return answer;
    if (fc_stream_set_find(api->cfg.streams, req->id))
        return refuse(api, CREATE, w, HTTP_STATUS_CONFLICT, "id: a stream '%s' exists already",
                      req->id);
    if (api->cfg.streams->n + api->creating >= api->cfg.max_streams)
        return refuse(api, CREATE, w, HTTP_STATUS_SERVICE_UNAVAILABLE,
                      "the server has %zu streams, the most --max-streams allows",
                      api->cfg.max_streams);
    fc_stream_plan plan;
    if (fc_stream_plan_make(api->cfg.defaults, req->id, &req->parsed, &req->set, true, &plan, err,
                            sizeof err) != 0)
        return refuse(api, CREATE, w, HTTP_STATUS_BAD_REQUEST, "%s", err);
    api_change *ch = begin(api, CREATE, w, req->id);
    if (!ch) return refuse(api, CREATE, w, HTTP_STATUS_INTERNAL_SERVER_ERROR, "out of memory");
    ch->plan = plan;
    ch->settings = req->set;
    /* Stored as the client gave it, or as its fields make it. */
    snprintf(ch->spec, sizeof ch->spec, "%s", req->spec);
    make_source(ch);
    return 0;
}

int fc_stream_api_create(fc_stream_api *api, fc_api_waiter *w, const char *body, size_t len)
{
    fc_stream_body *req = malloc(sizeof *req); /* specs are large: not on the loop's stack */
    if (!req) return refuse(api, CREATE, w, HTTP_STATUS_INTERNAL_SERVER_ERROR, "out of memory");
    int rc = create_with(api, w, body, len, req);
    free(req);
    return rc;
}

/* The stream a change to `id` applies to, or a refusal: unknown (404), or
 * from the command line (409). */
static fc_stream *changeable(fc_stream_api *api, change_kind kind, fc_api_waiter *w, const char *id,
                             int *answer)
{
    fc_stream *s = fc_stream_set_find(api->cfg.streams, id);
    if (!s) {
        *answer = refuse(api, kind, w, HTTP_STATUS_NOT_FOUND, "no stream '%.64s'", id);
        return NULL;
    }
    if (fc_stream_set_info(api->cfg.streams, s)->origin != FC_ORIGIN_API) {
        *answer = refuse(api, kind, w, HTTP_STATUS_CONFLICT,
                         "stream '%s' comes from the command line (--source): change it there; "
                         "the API changes only the streams it added",
                         id);
        return NULL;
    }
    return s;
}

static int update_with(fc_stream_api *api, fc_api_waiter *w, const char *id, const char *body,
                       size_t len, fc_stream_body *req)
{
    char err[FC_STREAM_SPEC_MAX + 512];
    int answer;
    fc_stream *s = changeable(api, UPDATE, w, id, &answer);
    if (!s) return answer;
    int rc = fc_stream_body_parse_change(body, len, req, err, sizeof err);
    if (rc != 0)
        return refuse(api, UPDATE, w,
                      rc == -E2BIG ? HTTP_STATUS_REQ_ENTITY_TOO_LARGE : HTTP_STATUS_BAD_REQUEST,
                      "%s", err);
    if (admit(api, UPDATE, w, id, &answer) != 0) return answer;
    const fc_stream_info *info = fc_stream_set_info(api->cfg.streams, s);
    fc_stream_settings merged = info->settings;
    fc_stream_body_apply(req, &merged);
    fc_source_spec spec;
    if (fc_source_spec_parse(info->spec, &spec, err, sizeof err) != 0)
        return refuse(api, UPDATE, w, HTTP_STATUS_INTERNAL_SERVER_ERROR, "stored spec: %s", err);
    fc_stream_plan plan;
    if (fc_stream_plan_make(api->cfg.defaults, id, &spec, &merged, true, &plan, err, sizeof err) !=
        0)
        return refuse(api, UPDATE, w, HTTP_STATUS_BAD_REQUEST, "%s", err);
    api_change *ch = begin(api, UPDATE, w, id);
    if (!ch) return refuse(api, UPDATE, w, HTTP_STATUS_INTERNAL_SERVER_ERROR, "out of memory");
    ch->plan = plan;
    ch->settings = merged;
    /* Detection on or off changes the stream's parts (a detection stage, a
     * PTZ view): that takes a new stream. Everything else is live. */
    ch->restart = (plan.cfg.detect.detector != NULL) != (fc_stream_detect(s) != NULL);
    if (ch->restart)
        make_source(ch);
    else
        store_row(ch);
    return 0;
}

int fc_stream_api_update(fc_stream_api *api, fc_api_waiter *w, const char *id, const char *body,
                         size_t len)
{
    fc_stream_body *req = malloc(sizeof *req); /* specs are large: not on the loop's stack */
    if (!req) return refuse(api, UPDATE, w, HTTP_STATUS_INTERNAL_SERVER_ERROR, "out of memory");
    int rc = update_with(api, w, id, body, len, req);
    free(req);
    return rc;
}

int fc_stream_api_delete(fc_stream_api *api, fc_api_waiter *w, const char *id)
{
    int answer;
    if (!changeable(api, DELETE, w, id, &answer)) return answer;
    if (admit(api, DELETE, w, id, &answer) != 0) return answer;
    api_change *ch = begin(api, DELETE, w, id);
    if (!ch) return refuse(api, DELETE, w, HTTP_STATUS_INTERNAL_SERVER_ERROR, "out of memory");
    store_row(ch);
    return 0;
}

void fc_stream_api_when_idle(fc_stream_api *api, void (*done)(void *arg), void *arg)
{
    api->stopping = true;
    api->idle = done;
    api->idle_arg = arg;
    maybe_idle(api);
}

/* ---- metrics ---- */

static void metric_changes(fc_metrics_out *out, void *ctx)
{
    const fc_stream_api *api = ctx;
    for (int k = 0; k < KINDS; k++)
        for (int r = 0; r < RESULTS; r++) {
            char labels[64];
            snprintf(labels, sizeof labels, "change=\"%s\",result=\"%s\"", kind_names[k],
                     result_names[r]);
            fc_metrics_sample(out, labels, (double)api->outcomes[k][r]);
        }
}

static void metric_inflight(fc_metrics_out *out, void *ctx)
{
    fc_metrics_sample(out, NULL, (double)((const fc_stream_api *)ctx)->inflight);
}

static void metric_commit(fc_metrics_out *out, void *ctx)
{
    fc_metrics_histogram(out, NULL, &((const fc_stream_api *)ctx)->commit_ms);
}

static const fc_metric_family families[] = {
    {"fc_api_stream_changes_total", FC_METRIC_COUNTER,
     "Stream changes through the API (create, update, delete), by result: ok, refused (4xx), "
     "failed (5xx).",
     metric_changes},
    {"fc_api_stream_changes_in_progress", FC_METRIC_GAUGE,
     "Stream changes accepted and not answered yet.", metric_inflight},
    {"fc_store_commit_milliseconds", FC_METRIC_HISTOGRAM,
     "From a change's row going to the store to its COMMIT (or failure) coming back.",
     metric_commit},
};

int fc_stream_api_metrics_register(fc_stream_api *api, fc_metrics *m)
{
    return fc_metrics_register_table(m, families, sizeof families / sizeof *families, api);
}
