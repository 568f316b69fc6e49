/* fc_hub: the subscribers of one output and the fan-out of its encoded
 * frames.
 *
 * Each subscriber has its own bounded queue of references to shared encoded
 * frames and a quality tier (pinned, or `auto`, following its queue depth; see
 * tier.h). Publishing a frame of tier T queues one reference for every
 * subscriber currently on T and wakes its transport; the transport pulls with
 * fc_sub_next() when its socket is writable. The hub tells its output which
 * tiers are wanted right now (fc_hub_tier_mask), so a tier nobody is on is
 * never encoded, and on which tiers a subscriber waits for a key frame
 * (fc_hub_take_key_wanted), so an inter-frame codec makes one.
 *
 * Inter-frame hubs (VP8, H.264: deltas depend on the frames before them)
 * keep DESIGN.md's rule 9 for every subscriber:
 *   - it starts at a key frame: frames before its first one are not queued;
 *   - a full queue drops its oldest frame and then every delta behind it up
 *     to the next key frame, so what it is sent never has a hole followed by
 *     a delta; with no key frame queued it waits for the next one (counted
 *     as drops to key) and asks for it;
 *   - an `auto` subscriber moves to another tier only at a key frame of that
 *     tier: until one comes it keeps getting its old tier, and both tiers
 *     are wanted.
 * In a still-picture hub (JPEG, WebP) every frame decodes on its own: a full
 * queue drops the oldest frame only, and tiers change at once.
 *
 * Events (JSON text such as detection results) fan out the same way, but a
 * subscriber keeps only the latest one it has not sent yet: events describe
 * state, so a slow client skips stale ones instead of piling them up.
 *
 * Ownership: an fc_hub belongs to its output (encode/output.h); an fc_sub
 * belongs to the hub, and whoever subscribed holds a pointer until it calls
 * fc_hub_remove. Both are opaque; callers read them through the accessors.
 * Loop thread only. */
#ifndef FC_HUB_HUB_H
#define FC_HUB_HUB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/event.h"
#include "core/frame.h"
#include "hub/tier.h"

#define FC_QUEUE_DEFAULT 50
#define FC_QUEUE_MAX 1000

typedef struct fc_hub fc_hub;
typedef struct fc_sub fc_sub;

/* Called when a subscriber's queue goes from empty to non-empty. */
typedef void (*fc_sub_wake_fn)(fc_sub *sub, void *ctx);

/* What another loop's hub behind a relay counts (relay.h): its viewers by
 * tier and its drops, kept up to date there. The source hub counts them
 * as its own while relay subscribers stand for that hub. */
typedef struct fc_hub_far {
    atomic_uint on_tier[FC_TIER_COUNT];
    atomic_uint_fast64_t drops, drops_to_key;
    /* The source hub's (its loop only): how much of the drops it has made
     * its own already, when the last subscriber standing for them left. */
    uint64_t drops_kept, drops_to_key_kept;
} fc_hub_far;

typedef struct fc_sub_opts {
    bool auto_tier; /* follow queue depth; else stay on `tier` */
    fc_tier tier;
    size_t queue; /* queue capacity, 1..FC_QUEUE_MAX */
    /* A relay's subscriber (relay.h) stands for another loop's hub:
     * fc_hub_stats counts it as that hub's viewers on its tier and adds
     * that hub's drops (once however many subscribers stand for it);
     * fc_hub_next_sub leaves it out. NULL = it is one viewer itself. */
    fc_hub_far *far;
} fc_sub_opts;

/* `name` names the hub in its log lines; `inter_frame`: its frames are of an
 * inter-frame codec (the rules above). 0 or -ENOMEM. */
int fc_hub_new(const char *name, bool inter_frame, fc_hub **out);
/* Removes (and frees) every subscriber, then the hub. NULL is fine. */
void fc_hub_free(fc_hub *hub);

/* 0, or -ENOMEM. */
int fc_hub_add(fc_hub *hub, const fc_sub_opts *opts, fc_sub_wake_fn wake, void *ctx, fc_sub **out);
/* Unlinks and frees the subscriber and the frames it still had queued. */
void fc_hub_remove(fc_sub *sub);

/* Bit t set = some subscriber is on tier t now, or is moving there and
 * waits for its key frame. */
unsigned fc_hub_tier_mask(const fc_hub *hub);
/* Bit t set = since the last call (which clears the bits) a subscriber
 * arrived on tier t (joined, or an auto one moved or is moving there) or
 * lost frames to its full queue there: it waits for a key frame of t. */
unsigned fc_hub_take_key_wanted(fc_hub *hub);
/* The subscriber's receiver lost its picture (a WebRTC viewer's PLI or FIR
 * through Janus): its tier wants a key frame, through the same coalescing
 * as a join. Inter-frame hubs only; a still-picture hub ignores it. */
void fc_sub_want_key(fc_sub *sub);

/* fc_hub_publish flag: queue the frame for every subscriber, whatever tier
 * it is on (a frame finished for a tier its subscriber just left). Ignored
 * by inter-frame hubs: their subscribers leave a tier only at the key frame
 * of the next, and a frame of the tier left would not decode after it. */
#define FC_HUB_ANY_TIER 1u
/* Queues `f` (an encoded frame of tier f->tier) for its subscribers; the
 * caller keeps its own reference. A subscriber never gets an id twice or one
 * older than it already has. */
void fc_hub_publish(fc_hub *hub, fc_frame *f, unsigned flags, uint64_t now_ns);

/* Gives every subscriber a reference to `e` as its pending event (replacing
 * an unsent older one) and wakes it. The caller keeps its reference. */
void fc_hub_publish_event(fc_hub *hub, fc_event *e);
/* The same for one subscriber: `e` becomes its pending event. */
void fc_sub_give_event(fc_sub *sub, fc_event *e);

/* Viewers, not hub entries: a relay's subscriber counts as the viewers and
 * drops it stands for (fc_sub_opts.far). */
typedef struct fc_hub_stats {
    size_t subscribers;
    size_t on_tier[FC_TIER_COUNT];
    uint64_t drops; /* frames dropped from full queues, all time */
    /* Inter-frame hubs: deltas dropped after a full queue's gap, up to the
     * next key frame, all time (not counted in drops). */
    uint64_t drops_to_key;
} fc_hub_stats;

void fc_hub_get_stats(const fc_hub *hub, fc_hub_stats *out);
/* Entries, a relay's subscriber as one: whether anybody is subscribed. */
size_t fc_hub_count(const fc_hub *hub);
/* Walks the viewers (relays' subscribers left out): the first with after ==
 * NULL, NULL past the last. */
const fc_sub *fc_hub_next_sub(const fc_hub *hub, const fc_sub *after);

typedef struct fc_sub_stats {
    uint64_t serial; /* unique in the process, for metrics labels */
    fc_tier tier;    /* of the frames it is sent now */
    size_t depth, capacity;
    uint64_t dropped, frames_sent, bytes_sent;
    uint64_t drops_to_key; /* as fc_hub_stats, for this subscriber */
    bool waiting_key;      /* inter-frame: nothing is queued until a key frame */
} fc_sub_stats;

void fc_sub_get_stats(const fc_sub *sub, fc_sub_stats *out);
/* Frames waiting in the subscriber's queue. */
size_t fc_sub_depth(const fc_sub *sub);
/* The pending event with its reference, or NULL. */
fc_event *fc_sub_next_event(fc_sub *sub);
/* True when a frame or an event is waiting. */
bool fc_sub_has_work(const fc_sub *sub);
/* The next frame to send, with a reference the caller drops after writing;
 * NULL when the queue is empty. */
fc_frame *fc_sub_next(fc_sub *sub, uint64_t now_ns);

#endif
