/* fc_hub: the subscribers of one stream and the fan-out of its encoded
 * frames.
 *
 * Each subscriber has its own bounded queue of references to shared encoded
 * frames and a quality tier (pinned, or `auto`, following its queue depth; see
 * tier.h). Publishing a frame of tier T queues one reference for every
 * subscriber currently on T and wakes its transport; the transport pulls with
 * fc_sub_next() when its socket is writable. The hub tells its stream which
 * tiers are wanted right now (fc_hub_tier_mask), so a tier nobody is on is
 * never encoded.
 *
 * Events (JSON text such as detection results) fan out the same way, but a
 * subscriber keeps only the latest one it has not sent yet: events describe
 * state, so a slow client skips stale ones instead of piling them up.
 * Loop thread only. */
#ifndef FC_HUB_HUB_H
#define FC_HUB_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/frame.h"
#include "core/log.h"
#include "hub/queue.h"
#include "hub/tier.h"

#define FC_QUEUE_DEFAULT 50
#define FC_QUEUE_MAX 1000

typedef struct fc_hub fc_hub;
typedef struct fc_sub fc_sub;

/* A JSON text event shared by every subscriber it is queued for. The text
 * starts FC_FRAME_HEADROOM bytes into `buf`, so the transport can write its
 * own framing in front without a copy. Refcounted on the loop thread. */
typedef struct fc_event {
    unsigned refs;
    size_t len;
    unsigned char buf[]; /* FC_FRAME_HEADROOM, then len bytes of text */
} fc_event;

/* A new event holding a copy of `text` (one reference), or NULL on OOM. */
fc_event *fc_event_new(const char *text, size_t len);
fc_event *fc_event_ref(fc_event *e);
void fc_event_unref(fc_event *e);
static inline unsigned char *fc_event_text(fc_event *e)
{
    return e->buf + FC_FRAME_HEADROOM;
}
/* Called when a subscriber's queue goes from empty to non-empty. */
typedef void (*fc_sub_wake_fn)(fc_sub *sub, void *ctx);

typedef struct fc_sub_opts {
    bool auto_tier; /* follow queue depth; else stay on `tier` */
    fc_tier tier;
    size_t queue; /* queue capacity, 1..FC_QUEUE_MAX */
} fc_sub_opts;

struct fc_sub {
    fc_sub *prev, *next;
    fc_hub *hub;
    uint64_t serial; /* unique per hub, for metrics labels */
    fc_queue queue;
    bool auto_tier;
    fc_tier_state tier;
    bool sent_any;
    uint32_t last_id; /* newest frame id queued: ids only ever increase */
    uint64_t frames_sent, bytes_sent;
    fc_event *event;         /* latest event not sent yet, or NULL */
    uint64_t events_sent, events_replaced;
    fc_sub_wake_fn wake;
    void *ctx;
};

struct fc_hub {
    fc_sub *head;
    size_t count;
    uint64_t next_serial;
    size_t on_tier[FC_TIER_COUNT];
    uint64_t drops;          /* frames dropped from full queues, all time */
    uint64_t drops_unlogged; /* since the last summary line */
    fc_ratelimit drop_log;
    char name[64];
};

void fc_hub_init(fc_hub *hub, const char *name);
/* Removes (and frees) every subscriber. */
void fc_hub_destroy(fc_hub *hub);

int fc_hub_add(fc_hub *hub, const fc_sub_opts *opts, fc_sub_wake_fn wake, void *ctx,
               fc_sub **out);
/* Unlinks and frees the subscriber and the frames it still had queued. */
void fc_hub_remove(fc_sub *sub);

/* Bit t set = some subscriber is on tier t now. */
unsigned fc_hub_tier_mask(const fc_hub *hub);
/* Queues `f` (an encoded frame of tier f->tier) for its subscribers; the
 * caller keeps its own reference. */
void fc_hub_publish(fc_hub *hub, fc_frame *f, uint64_t now_ns);

/* Gives every subscriber a reference to `e` as its pending event (replacing
 * an unsent older one) and wakes it. The caller keeps its reference. */
void fc_hub_publish_event(fc_hub *hub, fc_event *e);
/* The pending event with its reference, or NULL. */
fc_event *fc_sub_next_event(fc_sub *sub);
/* True when a frame or an event is waiting. */
bool fc_sub_has_work(const fc_sub *sub);

/* The next frame to send, with a reference the caller drops after writing;
 * NULL when the queue is empty. */
fc_frame *fc_sub_next(fc_sub *sub, uint64_t now_ns);

#endif
