#include "transport/ws_remote.h"

#include <jansson.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "transport/conn.h"
#include "transport/feeds.h"
#include "transport/ws_stream.h"

#define CLOSE_BAD_REQUEST 4400
#define CLOSE_UNKNOWN_STREAM 4404
#define QUERY_MAX 2048

static const char prefix[] = "/ws/streams/";

typedef struct remote_conn {
    fc_conn *conn;
    fc_feed_request *rq; /* asked or answered; NULL before and after */
    fc_feed *feed;       /* joined; NULL before, and after the stream left */
    fc_feed_viewer node;
    fc_sub *sub;
    fc_frame *held;       /* next frame, waiting behind its tier message */
    int tier_sent;        /* -1 before the first frame */
    uint64_t format_sent; /* serial of the stream format last described (hello or format) */
    bool answered;        /* rq came back (until then the first loop holds it) */
} remote_conn;

static void on_sub_wake(fc_sub *sub, void *ctx)
{
    (void)sub;
    fc_conn_want_write(ctx);
}

/* The stream left (its feed closed): let go of the hub now. */
static void on_gone(fc_feed_viewer *v, int code, const char *reason)
{
    remote_conn *rc = fc_container_of(v, remote_conn, node);
    fc_hub_remove(rc->sub);
    rc->sub = NULL;
    rc->feed = NULL;
    rc->rq->feed = NULL;
    fc_frame_unref(rc->held);
    rc->held = NULL;
    fc_conn_close_soon(rc->conn, code, reason);
}

static void on_answered(fc_feed_request *rq)
{
    remote_conn *rc = rq->viewer;
    if (!rc) { /* it closed meanwhile */
        fc_feeds_release(rq);
        return;
    }
    rc->answered = true;
    fc_hub *hub = rq->code == 0 ? fc_feed_hub(rq->feed) : NULL;
    if (rq->code == 0 && !hub) {
        rq->code = LWS_CLOSE_STATUS_UNEXPECTED_CONDITION;
        snprintf(rq->why, sizeof rq->why, "cannot subscribe: out of memory");
    }
    if (rq->code == 0 && fc_hub_add(hub, &rq->q.sub, on_sub_wake, rc->conn, &rc->sub) != 0) {
        rq->code = LWS_CLOSE_STATUS_UNEXPECTED_CONDITION;
        snprintf(rq->why, sizeof rq->why, "cannot subscribe: out of memory");
    }
    if (rq->code != 0) {
        fc_conn_env(rc->conn)->ws_refused++;
        fc_conn_refuse(rc->conn, rq->code, "%s", rq->why);
        rc->rq = NULL;
        fc_feeds_release(rq);
        return;
    }
    rc->feed = rq->feed;
    rc->format_sent = rq->format_serial;
    rc->node.gone = on_gone;
    fc_feed_join(rc->feed, &rc->node);
    fc_feed_sync(rc->feed);
    fc_conn_env(rc->conn)->ws_accepted++;
    fc_conn_send_text(rc->conn, rq->hello);
}

static int remote_open(fc_conn *c, void *state, const char *path)
{
    remote_conn *rc = state;
    fc_server_env *env = fc_conn_env(c);
    rc->conn = c;
    rc->tier_sent = -1;
    const char *id = path + sizeof prefix - 1;
    char query[QUERY_MAX], err[300];
    int qlen = fc_conn_query(c, query, sizeof query);
    fc_feed_request *rq = calloc(1, sizeof *rq);
    if (!rq || strlen(id) >= sizeof rq->id) {
        int code = rq ? CLOSE_UNKNOWN_STREAM : LWS_CLOSE_STATUS_UNEXPECTED_CONDITION;
        free(rq);
        env->ws_refused++;
        fc_conn_refuse(c, code, code == CLOSE_UNKNOWN_STREAM ? "unknown stream" : "out of memory");
        return 0;
    }
    if (qlen < 0 ||
        fc_stream_query_parse(query, (size_t)qlen, env->queue_default, &rq->q, err, sizeof err)) {
        free(rq);
        env->ws_refused++;
        if (qlen < 0) snprintf(err, sizeof err, "query longer than %d bytes", QUERY_MAX);
        fc_conn_refuse(c, CLOSE_BAD_REQUEST, "%s", err);
        return 0;
    }
    snprintf(rq->id, sizeof rq->id, "%s", id);
    rq->feeds = env->feeds;
    rq->loop = fc_feeds_loop_of(env->feeds, env->loop);
    rq->answered = on_answered;
    rq->viewer = rc;
    rc->rq = rq;
    fc_feeds_request(rq);
    return 0;
}

/* One message per turn, as ws_stream.c: the pending event, else the next
 * frame, after a format message when it is the first of a format not told
 * yet, and after a tier message when its tier differs from the last one's. */
static int remote_writeable(fc_conn *c, void *state)
{
    remote_conn *rc = state;
    if (!rc->sub) return 0;
    fc_event *e = fc_sub_next_event(rc->sub);
    if (e) {
        int rc_w = fc_conn_write(c, fc_event_text(e), e->len, false);
        const char *closes = e->closes;
        fc_event_unref(e);
        if (rc_w != 0) return -1;
        if (closes) {
            fc_conn_close_soon(c, CLOSE_BAD_REQUEST, closes);
            return 0;
        }
        if (rc->held || fc_sub_has_work(rc->sub)) fc_conn_want_write(c);
        return 0;
    }
    fc_frame *f = rc->held ? rc->held : fc_sub_next(rc->sub, fc_now_ns());
    rc->held = NULL;
    if (!f) return 0;
    char *format = fc_feed_format(rc->feed, &rc->format_sent, f->id, f->tier);
    if (format) {
        /* The first frame of a new format goes out after the message. */
        rc->held = f;
        fc_conn_send_text(c, format);
        free(format);
        return 0;
    }
    if (f->tier != rc->tier_sent) {
        rc->tier_sent = f->tier;
        rc->held = f;
        const char *tier = fc_tier_name((fc_tier)f->tier);
        fc_conn_send_json(c, rc->rq->inter_frame
                                 ? json_pack("{s:s, s:s, s:i, s:i}", "type", "tier", "tier", tier,
                                             "width", f->width, "height", f->height)
                                 : json_pack("{s:s, s:s, s:i}", "type", "tier", "tier", tier,
                                             "quality", rc->rq->quality[f->tier]));
        return 0;
    }
    int w = fc_conn_write(c, f->wire, fc_frame_wire_len(f), true);
    fc_frame_unref(f);
    if (w != 0) return -1;
    if (fc_sub_has_work(rc->sub)) fc_conn_want_write(c);
    return 0;
}

static void remote_closed(fc_conn *c, void *state)
{
    (void)c;
    remote_conn *rc = state;
    fc_frame_unref(rc->held);
    rc->held = NULL;
    if (!rc->rq) return;
    if (!rc->answered) {
        /* Asked, not answered yet: the answer finds it gone and releases. */
        rc->rq->viewer = NULL;
        rc->rq = NULL;
        return;
    }
    if (rc->sub) fc_hub_remove(rc->sub);
    rc->sub = NULL;
    if (rc->feed) {
        fc_feed_leave(rc->feed, &rc->node);
        fc_feed_sync(rc->feed);
    }
    rc->feed = NULL;
    fc_feeds_release(rc->rq);
    rc->rq = NULL;
}

const fc_endpoint fc_ws_remote_endpoint = {
    .prefixes = (const char *const[]){prefix, NULL},
    .websocket = true,
    .state_size = sizeof(remote_conn),
    .open = remote_open,
    .text = fc_ws_stream_text,
    .writeable = remote_writeable,
    .closed = remote_closed,
    .capacity = FC_CAP_SUBSCRIBER,
};
