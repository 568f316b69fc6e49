#include "transport/feeds.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/relay.h"
#include "transport/close_codes.h"
#include "transport/ws_stream.h"

/* How long frames wait to be taken on loop i: observed there, read by
 * /metrics on the first loop, hence the mutex (taken once per wake-up). */
typedef struct loop_lag {
    pthread_mutex_t mu;
    fc_histogram ms;
} loop_lag;

struct fc_feeds {
    const fc_loops *loops;
    fc_stream_set *streams;
    fc_feed *head;                 /* open feeds, first loop */
    fc_feed *joined[FC_LOOPS_MAX]; /* feeds with viewers, each list on its loop */
    atomic_uint_fast64_t handoffs[FC_LOOPS_MAX];
    loop_lag lag[FC_LOOPS_MAX];
};

static const double lag_bounds[] = {0.1, 0.25, 0.5, 1, 2, 5, 10, 25, 50, 100};

struct fc_feed {
    fc_feeds *feeds;
    fc_feed *prev, *next;   /* in feeds->head while open */
    fc_feed *jprev, *jnext; /* in feeds->joined[loop] while it has viewers */
    fc_stream *stream;
    char id[FC_FEED_ID_MAX]; /* the stream's, for the viewers' loop to read */
    bool stream_codec;       /* codec is the stream's own */
    fc_view view;
    const fc_codec_ops *codec;
    int loop;
    fc_stream_user user;
    fc_relay *relay;
    unsigned users; /* requests answered and not released; first loop */
    bool closed;    /* first loop */
    /* What the viewers are told when the stream leaves; set before the
     * relay closes, read on the viewers' loop after. */
    int gone_code;
    const char *gone_reason;
    fc_feed_viewer *viewers; /* the viewers' loop */
    fc_job free_job;
    /* The stream's format as of the frames crossing now: set on the first
     * loop before a frame of a new format crosses, read by the viewers'
     * loop before it writes that frame. */
    uint64_t fmt_seen; /* first loop */
    pthread_mutex_t fmt_mu;
    uint64_t fmt_serial; /* under fmt_mu, with: */
    uint32_t fmt_first_id;
    char *fmt_text[FC_TIER_COUNT]; /* the format message per tier; NULL = none since open */
};

int fc_feeds_new(const fc_loops *loops, fc_stream_set *streams, fc_feeds **out)
{
    fc_feeds *f = calloc(1, sizeof *f);
    if (!f) return -ENOMEM;
    f->loops = loops;
    f->streams = streams;
    for (int i = 0; i < FC_LOOPS_MAX; i++) {
        pthread_mutex_init(&f->lag[i].mu, NULL);
        fc_histogram_init(&f->lag[i].ms, lag_bounds, (int)(sizeof lag_bounds / sizeof *lag_bounds));
    }
    *out = f;
    return 0;
}

void fc_feeds_free(fc_feeds *feeds)
{
    free(feeds);
}

uint64_t fc_feeds_handoffs(const fc_feeds *feeds, int i)
{
    return atomic_load(&feeds->handoffs[i]);
}

void fc_feeds_lag(fc_feeds *feeds, int i, fc_histogram *out)
{
    pthread_mutex_lock(&feeds->lag[i].mu);
    *out = feeds->lag[i].ms;
    pthread_mutex_unlock(&feeds->lag[i].mu);
}

static void on_waited(void *ctx, uint64_t ns)
{
    loop_lag *l = ctx;
    pthread_mutex_lock(&l->mu);
    fc_histogram_observe(&l->ms, (double)ns / 1e6);
    pthread_mutex_unlock(&l->mu);
}

/* ---- the first loop ---- */

static int stream_add(void *arg, const fc_sub_opts *o, fc_sub_wake_fn wake, void *ctx, fc_sub **out)
{
    fc_feed *f = arg;
    char err[200];
    return fc_stream_subscribe(f->stream, f->view, f->codec, o, wake, ctx, out, err, sizeof err);
}

static void stream_remove(void *arg, fc_sub *sub)
{
    fc_feed *f = arg;
    fc_stream_unsubscribe(f->stream, f->view, f->codec, sub);
}

static void free_here(fc_job *job)
{
    fc_feed *f = fc_container_of(job, fc_feed, free_job);
    for (int t = 0; t < FC_TIER_COUNT; t++)
        free(f->fmt_text[t]);
    pthread_mutex_destroy(&f->fmt_mu);
    free(f);
}

/* A frame crosses: if the stream's format changed since the last one, the
 * format message (per tier) is set first. */
static void on_crossing(void *ctx, const fc_frame *frame)
{
    (void)frame;
    fc_feed *f = ctx;
    uint64_t serial;
    uint32_t first_id;
    fc_ws_stream_format_serial(f->stream, f->codec, &serial, &first_id);
    if (serial == f->fmt_seen) return;
    f->fmt_seen = serial;
    char *text[FC_TIER_COUNT];
    for (int t = 0; t < FC_TIER_COUNT; t++) {
        json_t *msg = fc_ws_stream_format(f->stream, f->codec, t);
        text[t] = msg ? json_dumps(msg, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
        json_decref(msg);
    }
    pthread_mutex_lock(&f->fmt_mu);
    f->fmt_serial = serial;
    f->fmt_first_id = first_id;
    for (int t = 0; t < FC_TIER_COUNT; t++) {
        free(f->fmt_text[t]);
        f->fmt_text[t] = text[t];
    }
    pthread_mutex_unlock(&f->fmt_mu);
}

/* The viewers' loop: the relay closes; every viewer left lets go. */
static void on_relay_closed(void *arg)
{
    fc_feed *f = arg;
    while (f->viewers) {
        fc_feed_viewer *v = f->viewers;
        fc_feed_leave(f, v);
        v->gone(v, f->gone_code, f->gone_reason);
    }
    fc_loop_run(f->feeds->loops->loop[0], &f->free_job, free_here);
}

static void close_feed(fc_feed *f, int code, const char *reason)
{
    f->closed = true;
    if (f->prev)
        f->prev->next = f->next;
    else
        f->feeds->head = f->next;
    if (f->next) f->next->prev = f->prev;
    fc_stream_set_unuse(&f->user);
    f->gone_code = code;
    f->gone_reason = reason;
    fc_relay_close(f->relay, on_relay_closed, f);
}

static void on_stream_gone(fc_stream_user *u, fc_stream_end why)
{
    fc_feed *f = fc_container_of(u, fc_feed, user);
    if (why == FC_STREAM_DELETED)
        close_feed(f, CLOSE_STREAM_DELETED, "stream deleted");
    else if (why == FC_STREAM_REPLACED)
        close_feed(f, CLOSE_SERVICE_RESTART, "stream restarted with new settings: reconnect");
    else
        close_feed(f, CLOSE_GOING_AWAY, "server shutting down");
}

static void on_relay_ready(fc_relay *relay, void *arg)
{
    (void)relay;
    (void)arg; /* the viewers find the hub through fc_feed_hub */
}

static fc_feed *open_feed(fc_feeds *feeds, fc_stream *s, fc_view view, const fc_codec_ops *codec,
                          int loop)
{
    for (fc_feed *f = feeds->head; f; f = f->next)
        if (f->stream == s && f->view == view && f->codec == codec && f->loop == loop) return f;
    fc_feed *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->feeds = feeds;
    f->stream = s;
    f->view = view;
    f->codec = codec;
    f->loop = loop;
    snprintf(f->id, sizeof f->id, "%s", fc_stream_id(s));
    f->stream_codec = codec == fc_stream_codec(s);
    uint32_t first_id;
    fc_ws_stream_format_serial(s, codec, &f->fmt_seen, &first_id);
    f->fmt_serial = f->fmt_seen;
    pthread_mutex_init(&f->fmt_mu, NULL);
    fc_relay_source src = {.add = stream_add,
                           .remove = stream_remove,
                           .arg = f,
                           .inter_frame = codec->inter_frame,
                           .handoffs = &feeds->handoffs[loop],
                           .waited = on_waited,
                           .waited_ctx = &feeds->lag[loop],
                           .crossing = on_crossing,
                           .crossing_ctx = f};
    if (fc_relay_open(&src, FC_QUEUE_DEFAULT, feeds->loops->loop[0], feeds->loops->loop[loop],
                      on_relay_ready, f, &f->relay) != 0) {
        pthread_mutex_destroy(&f->fmt_mu);
        free(f);
        return NULL;
    }
    f->user.gone = on_stream_gone;
    fc_stream_set_use(feeds->streams, s, &f->user);
    f->next = feeds->head;
    if (feeds->head) feeds->head->prev = f;
    feeds->head = f;
    return f;
}

static void answer(fc_feed_request *rq)
{
    fc_feeds *feeds = rq->feeds;
    fc_stream *s = fc_stream_set_find(feeds->streams, rq->id);
    const fc_codec_ops *codec;
    if (!s) {
        rq->code = CLOSE_UNKNOWN_STREAM;
        snprintf(rq->why, sizeof rq->why, "unknown stream '%s'", rq->id);
        return;
    }
    if (fc_ws_stream_choose(s, &rq->q, &codec, &rq->code, rq->why, sizeof rq->why) != 0) return;
    rq->code = 0;
    fc_feed *f = open_feed(feeds, s, rq->q.view, codec, rq->loop);
    json_t *hello = f ? fc_ws_stream_hello(s, &rq->q, codec) : NULL;
    rq->hello = hello ? json_dumps(hello, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(hello);
    if (!rq->hello) {
        rq->code = CLOSE_UNEXPECTED;
        snprintf(rq->why, sizeof rq->why, "cannot subscribe: out of memory");
        return;
    }
    f->users++;
    rq->feed = f;
    rq->inter_frame = codec->inter_frame;
    uint32_t first_id;
    fc_ws_stream_format_serial(s, codec, &rq->format_serial, &first_id);
    memcpy(rq->quality, fc_stream_config_of(s)->quality, sizeof rq->quality);
}

static void answered_there(fc_job *job)
{
    fc_feed_request *rq = fc_container_of(job, fc_feed_request, job);
    rq->answered(rq);
}

static void request_here(fc_job *job)
{
    fc_feed_request *rq = fc_container_of(job, fc_feed_request, job);
    answer(rq);
    fc_loop_run(rq->feeds->loops->loop[rq->loop], &rq->job, answered_there);
}

static void release_here(fc_job *job)
{
    fc_feed_request *rq = fc_container_of(job, fc_feed_request, job);
    fc_feed *f = rq->feed;
    if (f && !f->closed && --f->users == 0) close_feed(f, CLOSE_GOING_AWAY, "");
    free(rq->hello);
    free(rq);
}

/* ---- the viewers' loop ---- */

void fc_feeds_request(fc_feed_request *rq)
{
    fc_loop_run(rq->feeds->loops->loop[0], &rq->job, request_here);
}

void fc_feeds_release(fc_feed_request *rq)
{
    fc_loop_run(rq->feeds->loops->loop[0], &rq->job, release_here);
}

fc_hub *fc_feed_hub(fc_feed *f)
{
    return fc_relay_hub(f->relay);
}

void fc_feed_join(fc_feed *f, fc_feed_viewer *v)
{
    if (!f->viewers) {
        fc_feed **joined = &f->feeds->joined[f->loop];
        f->jprev = NULL;
        f->jnext = *joined;
        if (*joined) (*joined)->jprev = f;
        *joined = f;
    }
    v->prev = NULL;
    v->next = f->viewers;
    if (f->viewers) f->viewers->prev = v;
    f->viewers = v;
}

void fc_feed_leave(fc_feed *f, fc_feed_viewer *v)
{
    if (v->prev)
        v->prev->next = v->next;
    else
        f->viewers = v->next;
    if (v->next) v->next->prev = v->prev;
    v->prev = v->next = NULL;
    if (f->viewers) return;
    if (f->jprev)
        f->jprev->jnext = f->jnext;
    else
        f->feeds->joined[f->loop] = f->jnext;
    if (f->jnext) f->jnext->jprev = f->jprev;
    f->jprev = f->jnext = NULL;
}

void fc_feeds_each_viewer(fc_feeds *feeds, int loop, fc_feed_viewer_fn fn, void *ctx)
{
    for (const fc_feed *f = feeds->joined[loop]; f; f = f->jnext) {
        const fc_hub *hub = fc_relay_hub(f->relay);
        fc_feed_viewer_stats v = {
            .stream = f->id, .view = f->view, .codec = f->codec, .stream_codec = f->stream_codec};
        for (const fc_sub *sub = hub ? fc_hub_next_sub(hub, NULL) : NULL; sub;
             sub = fc_hub_next_sub(hub, sub)) {
            fc_sub_get_stats(sub, &v.ss);
            fn(ctx, &v);
        }
    }
}

void fc_feed_sync(fc_feed *f)
{
    fc_relay_sync(f->relay);
}

int fc_feeds_loop_of(const fc_feeds *feeds, const fc_loop *loop)
{
    return fc_loops_index(feeds->loops, loop);
}

char *fc_feed_format(fc_feed *f, uint64_t *have, uint32_t frame_id, int tier)
{
    char *text = NULL;
    pthread_mutex_lock(&f->fmt_mu);
    if (f->fmt_serial != *have && (int32_t)(frame_id - f->fmt_first_id) >= 0) {
        *have = f->fmt_serial;
        text = f->fmt_text[tier] ? strdup(f->fmt_text[tier]) : NULL;
    }
    pthread_mutex_unlock(&f->fmt_mu);
    return text;
}
