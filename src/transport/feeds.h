/* fc_feeds: the streams' frames for viewers on other loops (`--loops N`).
 *
 * A stream lives on the first loop. A viewer on another loop asks for it
 * with an fc_feed_request, a job its loop posts to the first one; there the
 * request is checked as a viewer of that loop would be (ws_stream.h) and
 * joins the *feed* of (stream, view, codec, loop): one relay (hub/relay.h),
 * made by the first viewer of that loop and closed with its last, whose
 * local hub all of that loop's viewers subscribe to. So each frame crosses
 * to a loop once, however many viewers it has there
 * (fc_loop_handoffs_total{loop}). The answer goes back as a job with the
 * hello text. When the stream leaves (deleted, replaced, shutdown) the
 * feed's relay closes, and on the viewers' loop each viewer is told why
 * (fc_feed_viewer.gone) and lets go of the local hub.
 *
 * Every request and release is one job per viewer, bounded by the
 * connections the router hands over. A feed is freed on the first loop,
 * after the viewers' loop has let go of it (a job back), so a release in
 * flight never finds it freed.
 *
 * fc_feeds_new, _free, the jobs' far side: the first loop. fc_feeds_request,
 * fc_feeds_release, fc_feed_*, fc_feeds_each_viewer: the viewer's loop.
 * fc_feeds_handoffs: any. */
#ifndef FC_TRANSPORT_FEEDS_H
#define FC_TRANSPORT_FEEDS_H

#include <stdatomic.h>

#include "core/loops.h"
#include "core/metrics.h"
#include "hub/hub.h"
#include "stream/registry.h"
#include "transport/stream_query.h"

typedef struct fc_feeds fc_feeds;
typedef struct fc_feed fc_feed;

/* A viewer of a feed, on the feed's loop: told when the stream leaves,
 * with the close code and reason; it leaves the hub in the call. */
typedef struct fc_feed_viewer fc_feed_viewer;
struct fc_feed_viewer {
    fc_feed_viewer *prev, *next;
    void (*gone)(fc_feed_viewer *v, int code, const char *reason);
};

#define FC_FEED_ID_MAX 128

typedef struct fc_feed_request fc_feed_request;
struct fc_feed_request {
    /* Set by the viewer's loop. */
    fc_feeds *feeds;
    int loop;
    char id[FC_FEED_ID_MAX];
    fc_stream_query q;
    void (*answered)(fc_feed_request *rq); /* on the viewer's loop */
    void *viewer;                          /* the viewer's loop's; NULL once it closed */
    /* The answer: code 0 and a feed, or the close code and why. */
    int code;
    char why[300];
    fc_feed *feed;          /* NULL after the stream left */
    char *hello;            /* the hello's text */
    bool inter_frame;       /* the codec's */
    uint64_t format_serial; /* of the format the hello describes */
    int quality[FC_TIER_COUNT];
    fc_job job;
};

int fc_feeds_new(const fc_loops *loops, fc_stream_set *streams, fc_feeds **out);
/* After every feed has closed (the streams are gone). NULL is fine. */
void fc_feeds_free(fc_feeds *feeds);
/* Frames handed to loop `i`, all time. */
uint64_t fc_feeds_handoffs(const fc_feeds *feeds, int i);

/* How long frames waited for loop `i` to take them from its feeds' mailboxes
 * (ms, one observation per wake-up): that loop's lag. A copy. */
void fc_feeds_lag(fc_feeds *feeds, int i, fc_histogram *out);
/* Which of the loops `loop` is. */
int fc_feeds_loop_of(const fc_feeds *feeds, const fc_loop *loop);
/* Sends `rq` to the first loop; `answered` is called back on rq->loop. */
void fc_feeds_request(fc_feed_request *rq);
/* The viewer is done with rq (it left the hub): frees it, on the first
 * loop. */
void fc_feeds_release(fc_feed_request *rq);

/* The hub a viewer subscribes to, and its joining and leaving (then
 * fc_feed_sync, after fc_hub_add or fc_hub_remove). */
fc_hub *fc_feed_hub(fc_feed *f);
void fc_feed_join(fc_feed *f, fc_feed_viewer *v);
void fc_feed_leave(fc_feed *f, fc_feed_viewer *v);
void fc_feed_sync(fc_feed *f);
/* A viewer of one of a loop's feeds, for /metrics (census.h). */
typedef struct fc_feed_viewer_stats {
    const char *stream; /* its id; valid during the call */
    fc_view view;
    const fc_codec_ops *codec;
    bool stream_codec; /* the codec is the stream's own */
    fc_sub_stats ss;
} fc_feed_viewer_stats;
typedef void (*fc_feed_viewer_fn)(void *ctx, const fc_feed_viewer_stats *v);
/* Loop `loop` (the viewers' loop): calls `fn` for each of its viewers. */
void fc_feeds_each_viewer(fc_feeds *feeds, int loop, fc_feed_viewer_fn fn, void *ctx);

/* Before writing frame `frame_id` of `tier`: the format message to send
 * first (the caller frees it) when the stream's format changed since
 * *have (then *have is the new one), else NULL. */
char *fc_feed_format(fc_feed *f, uint64_t *have, uint32_t frame_id, int tier);

#endif
