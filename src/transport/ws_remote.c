#include "transport/ws_remote.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transport/close_codes.h"
#include "transport/conn.h"
#include "transport/feeds.h"
#include "transport/viewer_out.h"
#include "transport/ws_stream.h"

#define QUERY_MAX 2048

static const char prefix[] = "/ws/streams/";

typedef struct remote_conn {
    fc_conn *conn;
    fc_feed_request *rq; /* asked or answered; NULL before and after */
    fc_feed *feed;       /* joined; NULL before, and after the stream left */
    fc_feed_viewer node;
    fc_viewer_out out; /* its subscription to the relay's local hub, and what it was told last */
    bool answered;     /* rq came back (until then the first loop holds it) */
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
    fc_hub_remove(rc->out.sub);
    rc->out.sub = NULL;
    rc->feed = NULL;
    rc->rq->feed = NULL;
    fc_viewer_out_drop_held(&rc->out);
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
    if (rq->code == 0 && fc_hub_add(hub, &rq->q.sub, on_sub_wake, rc->conn, &rc->out.sub) != 0) {
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
    rc->out.format_sent = rq->format_serial;
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
    fc_viewer_out_init(&rc->out);
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

/* The stream's format and its tiers' qualities come from the first loop,
 * with the answer and through the feed (feeds.h). */
static bool send_format(fc_conn *c, void *ctx, uint64_t *format_sent, const fc_frame *f)
{
    remote_conn *rc = ctx;
    char *format = fc_feed_format(rc->feed, format_sent, f->id, f->tier);
    if (!format) return false;
    fc_conn_send_text(c, format);
    free(format);
    return true;
}

static int tier_quality(void *ctx, int tier)
{
    const remote_conn *rc = ctx;
    return rc->rq->quality[tier];
}

static const fc_viewer_describe describe = {.send_format = send_format, .quality = tier_quality};

static int remote_writeable(fc_conn *c, void *state)
{
    remote_conn *rc = state;
    if (!rc->out.sub) return 0; /* not answered yet, or the stream left */
    return fc_viewer_out_turn(c, &rc->out, rc->rq->inter_frame, &describe, rc);
}

static void remote_closed(fc_conn *c, void *state)
{
    (void)c;
    remote_conn *rc = state;
    fc_viewer_out_drop_held(&rc->out);
    if (!rc->rq) return;
    if (!rc->answered) {
        /* Asked, not answered yet: the answer finds it gone and releases. */
        rc->rq->viewer = NULL;
        rc->rq = NULL;
        return;
    }
    if (rc->out.sub) fc_hub_remove(rc->out.sub);
    rc->out.sub = NULL;
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
