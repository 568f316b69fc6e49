/* fc_relay: one hub's frames handed from its loop to another loop, once per
 * frame, for that loop's subscribers.
 *
 * A stream lives on one loop; its subscribers may be on any (`--loops N`).
 * A subscriber on another loop does not subscribe to the stream's hub: it
 * subscribes to the relay's *local hub*, on its own loop. The relay holds,
 * on the source loop, one pinned subscriber of the source hub per tier the
 * local hub wants, and moves every frame those get into a mailbox: one
 * bounded queue per tier (the subscriber's queue length), under a mutex,
 * with the source hub's drop rules (a still-picture codec drops the oldest;
 * an inter-frame one drops the oldest and the deltas behind it up to the
 * next key frame, and with none queued skips deltas until one and asks the
 * source for it). One coalesced uv_async_send wakes the other loop, which
 * publishes each frame once into the local hub: its fan-out, queues and
 * drop rules per subscriber are the hub's own (hub.h). So a frame crosses
 * to a loop once however many subscribers that loop has; `handoffs` counts
 * the crossings. The latest event crosses the same way (one slot, a copy
 * of its text and its `closes`: event references are not atomic).
 *
 * Which tiers the source loop subscribes to, and which want a key frame,
 * come back the other way: the other loop publishes its local hub's tier
 * mask and key requests into two atomics and wakes the source loop, which
 * adds or removes its tier subscribers. How many viewers the local hub has
 * on each tier, and its drops, go back in atomics too (fc_hub_far): the
 * source hub counts its tier subscribers as those, so a stream's viewer
 * and drop counts include every loop's.
 *
 * Frames cross threads by reference: fc_frame refcounts are atomic
 * (core/frame.h). The local hub's subscribers write their WebSocket headers
 * into the shared frame's headroom as every subscriber of the source loop
 * does; for a given frame those bytes are the same for all.
 *
 * Threads: fc_relay_open, fc_relay_close and fc_relay_handoffs on the
 * source loop (fc_relay_handoffs: any thread); fc_relay_hub, fc_relay_sync
 * on the relay's other loop. */
#ifndef FC_HUB_RELAY_H
#define FC_HUB_RELAY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"
#include "hub/hub.h"

typedef struct fc_relay fc_relay;

/* How the relay joins the source: a stream's subscribe/unsubscribe (so that
 * the stream knows it is watched), or a bare hub's fc_hub_add/remove. Called
 * on the source loop. */
typedef struct fc_relay_source {
    int (*add)(void *arg, const fc_sub_opts *opts, fc_sub_wake_fn wake, void *ctx, fc_sub **out);
    void (*remove)(void *arg, fc_sub *sub);
    void *arg;
    bool inter_frame;               /* the source hub's codec is inter-frame (hub.h) */
    atomic_uint_fast64_t *handoffs; /* also counts the crossings there (per loop); NULL = none */
    /* On the other loop, per wake-up: how long its first frame waited in
     * the mailbox (that loop's lag). NULL = not told. */
    void (*waited)(void *ctx, uint64_t ns);
    void *waited_ctx;
    /* On the source loop, for each frame before it goes into the mailbox:
     * what the other loop must know before that frame (a new format) is
     * set by then. NULL = none. */
    void (*crossing)(void *ctx, const fc_frame *f);
    void *crossing_ctx;
} fc_relay_source;

/* Called on the other loop once its half is ready (the local hub exists),
 * or with `relay` NULL when it could not be made. */
typedef void (*fc_relay_ready_fn)(fc_relay *relay, void *arg);

/* Source loop: a relay of `src` (on loop `from`) to loop `to`, with a
 * mailbox of `queue` frames per tier (1..FC_QUEUE_MAX). The other half is
 * made on `to`, which calls `ready` there. 0, or -ENOMEM (`ready` is not
 * called). */
int fc_relay_open(const fc_relay_source *src, size_t queue, fc_loop *from, fc_loop *to,
                  fc_relay_ready_fn ready, void *arg, fc_relay **out);
/* The other loop: the hub its subscribers join (fc_hub_add); valid from
 * `ready` until fc_relay_close's `closed`. */
fc_hub *fc_relay_hub(fc_relay *relay);
/* The other loop: after a subscriber joined, left or moved: tells the
 * source loop which tiers to relay and which want a key frame. */
void fc_relay_sync(fc_relay *relay);
/* Frames handed to the other loop, all time (each once). Any thread. */
uint64_t fc_relay_handoffs(const fc_relay *relay);
/* Frames the mailbox dropped (full, or deltas up to a key frame). */
uint64_t fc_relay_dropped(const fc_relay *relay);

/* Source loop: stops relaying (the source subscribers go at once). On the
 * other loop `closed` is called, in which the owner's subscribers leave the
 * local hub, which is freed after it; the memory goes once both loops have
 * closed their handles. */
void fc_relay_close(fc_relay *relay, void (*closed)(void *arg), void *arg);

#endif
