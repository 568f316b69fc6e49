#include "hub/hub.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "hub/queue.h"

struct fc_sub {
    fc_sub *prev, *next;
    fc_hub *hub;
    uint64_t serial;
    fc_queue queue;
    bool auto_tier;
    /* The tier the policy wants (tier.tier) and the tier of the frames it is
     * sent (cur). They differ only in an inter-frame hub, from the moment an
     * auto subscriber wants another tier until a key frame of it arrives. */
    fc_tier_state tier;
    fc_tier cur;
    /* Inter-frame hubs: nothing is queued until a key frame (it just joined,
     * or a full queue left a gap); its queue is empty meanwhile. */
    bool need_key, after_gap;
    bool queued_any, sent_any;
    uint32_t last_id; /* newest frame id queued or sent: ids only ever increase */
    uint32_t sent_id; /* newest frame id handed to the transport */
    uint64_t frames_sent, bytes_sent, drops_to_key;
    fc_event *event; /* latest event not sent yet, or NULL */
    fc_sub_wake_fn wake;
    void *ctx;
    fc_hub_far *far; /* a relay's: the other loop's hub it stands for */
};

struct fc_hub {
    fc_sub *head;
    size_t count;
    size_t relays; /* of count: relays' subscribers */
    bool inter_frame;
    size_t on_tier[FC_TIER_COUNT];   /* subscribers by the tier they are sent */
    size_t moving_to[FC_TIER_COUNT]; /* by the tier they wait to move to */
    unsigned key_wanted;             /* since fc_hub_take_key_wanted */
    uint64_t drops;                  /* frames dropped from full queues, all time */
    uint64_t drops_to_key;
    uint64_t drops_unlogged; /* both kinds, since the last summary line */
    fc_ratelimit drop_log;
    char name[64];
};

/* Metrics label subscribers by serial; several hubs feed one stream's
 * families (one per view and codec), so serials are unique process-wide. */
static atomic_uint_fast64_t next_serial;

int fc_hub_new(const char *name, bool inter_frame, fc_hub **out)
{
    fc_hub *hub = calloc(1, sizeof *hub);
    if (!hub) return -ENOMEM;
    hub->inter_frame = inter_frame;
    hub->drop_log = (fc_ratelimit)FC_RATELIMIT_INIT(5);
    snprintf(hub->name, sizeof hub->name, "%s", name);
    *out = hub;
    return 0;
}

void fc_hub_free(fc_hub *hub)
{
    if (!hub) return;
    while (hub->head)
        fc_hub_remove(hub->head);
    free(hub);
}

int fc_hub_add(fc_hub *hub, const fc_sub_opts *opts, fc_sub_wake_fn wake, void *ctx, fc_sub **out)
{
    fc_sub *sub = calloc(1, sizeof *sub);
    if (!sub) return -ENOMEM;
    if (fc_queue_init(&sub->queue, opts->queue) != 0) {
        free(sub);
        return -ENOMEM;
    }
    sub->hub = hub;
    sub->serial = atomic_fetch_add(&next_serial, 1);
    sub->auto_tier = opts->auto_tier;
    sub->tier.tier = opts->auto_tier ? FC_TIER_HIGH : opts->tier;
    sub->cur = sub->tier.tier;
    sub->need_key = hub->inter_frame;
    sub->wake = wake;
    sub->ctx = ctx;
    sub->far = opts->far;
    if (sub->far) hub->relays++;
    sub->next = hub->head;
    if (hub->head) hub->head->prev = sub;
    hub->head = sub;
    hub->count++;
    hub->on_tier[sub->cur]++;
    hub->key_wanted |= 1u << sub->cur;
    *out = sub;
    return 0;
}

/* True when `far` is what another subscriber than `sub` stands for. */
static bool far_shared(const fc_hub *hub, const fc_sub *sub, const fc_hub_far *far)
{
    for (const fc_sub *o = hub->head; o; o = o->next)
        if (o != sub && o->far == far) return true;
    return false;
}

/* The last subscriber standing for `far` goes (it is unlinked): the drops
 * counted there so far become the hub's own, so its counters never go
 * back. */
static void keep_far_drops(fc_hub *hub, fc_hub_far *far)
{
    if (far_shared(hub, NULL, far)) return;
    uint64_t drops = atomic_load(&far->drops), to_key = atomic_load(&far->drops_to_key);
    hub->drops += drops - far->drops_kept;
    hub->drops_to_key += to_key - far->drops_to_key_kept;
    far->drops_kept = drops;
    far->drops_to_key_kept = to_key;
}

void fc_hub_remove(fc_sub *sub)
{
    fc_hub *hub = sub->hub;
    if (sub->prev)
        sub->prev->next = sub->next;
    else
        hub->head = sub->next;
    if (sub->next) sub->next->prev = sub->prev;
    hub->count--;
    if (sub->far) keep_far_drops(hub, sub->far);
    if (sub->far) hub->relays--;
    hub->on_tier[sub->cur]--;
    if (sub->tier.tier != sub->cur) hub->moving_to[sub->tier.tier]--;
    fc_queue_destroy(&sub->queue);
    fc_event_unref(sub->event);
    free(sub);
}

unsigned fc_hub_tier_mask(const fc_hub *hub)
{
    unsigned mask = 0;
    for (int t = 0; t < FC_TIER_COUNT; t++)
        if (hub->on_tier[t] || hub->moving_to[t]) mask |= 1u << t;
    return mask;
}

unsigned fc_hub_take_key_wanted(fc_hub *hub)
{
    unsigned wanted = hub->key_wanted;
    hub->key_wanted = 0;
    return wanted;
}

/* The subscriber is sent frames of tier t from now on. */
static void set_cur(fc_sub *sub, fc_tier t)
{
    fc_hub *hub = sub->hub;
    if (sub->tier.tier != sub->cur) hub->moving_to[sub->tier.tier]--;
    hub->on_tier[sub->cur]--;
    hub->on_tier[t]++;
    sub->cur = t;
    sub->tier.tier = t;
}

static void retier(fc_sub *sub, uint64_t now_ns)
{
    if (!sub->auto_tier) return;
    fc_hub *hub = sub->hub;
    fc_tier before = sub->tier.tier;
    fc_tier after =
        fc_tier_update(&sub->tier, &fc_tier_default_policy, fc_queue_len(&sub->queue), now_ns);
    if (after == before) return;
    if (!hub->inter_frame || sub->need_key) {
        /* Nothing to keep decodable: move at once. */
        hub->key_wanted |= 1u << after;
        sub->tier.tier = before;
        set_cur(sub, after);
        return;
    }
    /* Keep sending the old tier until the new one's key frame comes; back
     * on the old tier before that, it needs none. */
    if (before != sub->cur) hub->moving_to[before]--;
    if (after != sub->cur) {
        hub->moving_to[after]++;
        hub->key_wanted |= 1u << after;
    }
}

static void log_drops(fc_hub *hub, uint64_t now_ns)
{
    if (!fc_ratelimit_allow(&hub->drop_log, now_ns, NULL)) return;
    if (hub->inter_frame)
        fc_warn("stream %s: %llu frames dropped from full subscriber queues since the last "
                "report (%llu in total, %llu of them deltas up to the next key frame; per "
                "subscriber in /metrics)",
                hub->name, (unsigned long long)hub->drops_unlogged,
                (unsigned long long)(hub->drops + hub->drops_to_key),
                (unsigned long long)hub->drops_to_key);
    else
        fc_warn("stream %s: %llu frames dropped from full subscriber queues since the last "
                "report (%llu in total; per subscriber in /metrics)",
                hub->name, (unsigned long long)hub->drops_unlogged, (unsigned long long)hub->drops);
    hub->drops_unlogged = 0;
}

static void count_drop_to_key(fc_sub *sub)
{
    sub->drops_to_key++;
    sub->hub->drops_to_key++;
    sub->hub->drops_unlogged++;
}

/* A full queue dropped its oldest frame: in an inter-frame hub the deltas
 * behind it depend on it, so they go too, up to the first key frame still
 * queued. Without one the subscriber waits for the next and asks for it. */
static void drop_to_key(fc_sub *sub)
{
    fc_frame *f;
    while ((f = fc_queue_oldest(&sub->queue)) && !f->key) {
        fc_frame_unref(fc_queue_pop(&sub->queue));
        count_drop_to_key(sub);
    }
    if (fc_queue_len(&sub->queue) > 0) return;
    sub->need_key = sub->after_gap = true;
    sub->hub->key_wanted |= 1u << sub->cur;
}

/* Inter-frame: whether `f` (tier != cur) is the key frame the subscriber
 * waits for to move to its tier, and if so makes room for it. Frames of the
 * old tier not sent yet with the same or a later id make way (the same
 * pictures, in the new tier); when the transport already has one, the move
 * waits for another key frame. */
static bool move_at_key(fc_sub *sub, const fc_frame *f)
{
    if (!f->key) return false;
    if (sub->sent_any && (int32_t)(f->id - sub->sent_id) <= 0) {
        sub->hub->key_wanted |= 1u << f->tier;
        return false;
    }
    fc_frame *old;
    while ((old = fc_queue_newest(&sub->queue)) && (int32_t)(f->id - old->id) <= 0)
        fc_frame_unref(fc_queue_pop_newest(&sub->queue));
    old = fc_queue_newest(&sub->queue);
    sub->queued_any = old || sub->sent_any;
    sub->last_id = old ? old->id : sub->sent_id;
    set_cur(sub, (fc_tier)f->tier);
    return true;
}

/* Whether `f` goes into the subscriber's queue. */
static bool wants(fc_sub *sub, const fc_frame *f, unsigned flags)
{
    fc_hub *hub = sub->hub;
    if ((fc_tier)f->tier != sub->cur) {
        if (!hub->inter_frame) return flags & FC_HUB_ANY_TIER;
        return (fc_tier)f->tier == sub->tier.tier && move_at_key(sub, f);
    }
    if (hub->inter_frame && sub->need_key && !f->key) {
        if (sub->after_gap) count_drop_to_key(sub);
        return false;
    }
    return true;
}

void fc_hub_publish(fc_hub *hub, fc_frame *f, unsigned flags, uint64_t now_ns)
{
    bool dropped = false;
    /* Every subscriber that asked for a key frame of this tier gets this
     * one; those that cannot take it ask again below. */
    if (f->key) hub->key_wanted &= ~(1u << f->tier);
    for (fc_sub *sub = hub->head; sub; sub = sub->next) {
        if (!wants(sub, f, flags)) continue;
        /* A subscriber that just changed tier may already hold this frame
         * number from its old tier; never send an id twice or backwards. */
        if (sub->queued_any && (int32_t)(f->id - sub->last_id) <= 0) {
            if (f->key && sub->need_key) hub->key_wanted |= 1u << sub->cur;
            continue;
        }
        sub->queued_any = true;
        sub->last_id = f->id;
        if (f->key) sub->need_key = sub->after_gap = false;
        bool was_empty = fc_queue_len(&sub->queue) == 0;
        fc_frame *old = fc_queue_push(&sub->queue, fc_frame_ref(f));
        if (old) {
            fc_frame_unref(old);
            hub->drops++;
            hub->drops_unlogged++;
            dropped = true;
            if (hub->inter_frame) drop_to_key(sub);
        }
        retier(sub, now_ns);
        if (was_empty && fc_queue_len(&sub->queue) > 0 && sub->wake) sub->wake(sub, sub->ctx);
    }
    if (dropped) log_drops(hub, now_ns);
}

void fc_sub_want_key(fc_sub *sub)
{
    if (sub->hub->inter_frame) sub->hub->key_wanted |= 1u << sub->cur;
}

fc_frame *fc_sub_next(fc_sub *sub, uint64_t now_ns)
{
    fc_frame *f = fc_queue_pop(&sub->queue);
    if (f) {
        sub->sent_any = true;
        sub->sent_id = f->id;
        sub->frames_sent++;
        sub->bytes_sent += fc_frame_wire_len(f);
        retier(sub, now_ns);
    }
    return f;
}

void fc_sub_give_event(fc_sub *sub, fc_event *e)
{
    bool was_idle = !fc_sub_has_work(sub);
    fc_event_unref(sub->event);
    sub->event = fc_event_ref(e);
    if (was_idle && sub->wake) sub->wake(sub, sub->ctx);
}

void fc_hub_publish_event(fc_hub *hub, fc_event *e)
{
    for (fc_sub *sub = hub->head; sub; sub = sub->next)
        fc_sub_give_event(sub, e);
}

fc_event *fc_sub_next_event(fc_sub *sub)
{
    fc_event *e = sub->event;
    sub->event = NULL;
    return e;
}

bool fc_sub_has_work(const fc_sub *sub)
{
    return sub->event || fc_queue_len(&sub->queue) > 0;
}

void fc_hub_get_stats(const fc_hub *hub, fc_hub_stats *out)
{
    out->subscribers = hub->count;
    memcpy(out->on_tier, hub->on_tier, sizeof out->on_tier);
    out->drops = hub->drops;
    out->drops_to_key = hub->drops_to_key;
    for (const fc_sub *sub = hub->relays ? hub->head : NULL; sub; sub = sub->next) {
        const fc_hub_far *far = sub->far;
        if (!far) continue;
        size_t viewers = atomic_load(&far->on_tier[sub->cur]);
        out->subscribers = out->subscribers - 1 + viewers;
        out->on_tier[sub->cur] = out->on_tier[sub->cur] - 1 + viewers;
        bool first = true; /* of the subscribers standing for far */
        for (const fc_sub *o = hub->head; o != sub; o = o->next)
            if (o->far == far) first = false;
        if (!first) continue;
        out->drops += atomic_load(&far->drops) - far->drops_kept;
        out->drops_to_key += atomic_load(&far->drops_to_key) - far->drops_to_key_kept;
    }
}

size_t fc_hub_count(const fc_hub *hub)
{
    return hub->count;
}

const fc_sub *fc_hub_next_sub(const fc_hub *hub, const fc_sub *after)
{
    const fc_sub *sub = after ? after->next : hub->head;
    while (sub && sub->far)
        sub = sub->next;
    return sub;
}

void fc_sub_get_stats(const fc_sub *sub, fc_sub_stats *out)
{
    *out = (fc_sub_stats){
        .serial = sub->serial,
        .tier = sub->cur,
        .depth = fc_queue_len(&sub->queue),
        .capacity = sub->queue.cap,
        .dropped = sub->queue.dropped,
        .frames_sent = sub->frames_sent,
        .bytes_sent = sub->bytes_sent,
        .drops_to_key = sub->drops_to_key,
        .waiting_key = sub->need_key,
    };
}

size_t fc_sub_depth(const fc_sub *sub)
{
    return fc_queue_len(&sub->queue);
}
