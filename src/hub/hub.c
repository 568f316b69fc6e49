#include "hub/hub.h"

#include <errno.h>
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
    fc_tier_state tier;
    bool sent_any;
    uint32_t last_id; /* newest frame id queued: ids only ever increase */
    uint64_t frames_sent, bytes_sent;
    fc_event *event; /* latest event not sent yet, or NULL */
    fc_sub_wake_fn wake;
    void *ctx;
};

struct fc_hub {
    fc_sub *head;
    size_t count;
    uint64_t next_serial;
    size_t on_tier[FC_TIER_COUNT];
    unsigned joined;         /* tiers arrived on since fc_hub_take_joined */
    uint64_t drops;          /* frames dropped from full queues, all time */
    uint64_t drops_unlogged; /* since the last summary line */
    fc_ratelimit drop_log;
    char name[64];
};

int fc_hub_new(const char *name, fc_hub **out)
{
    fc_hub *hub = calloc(1, sizeof *hub);
    if (!hub) return -ENOMEM;
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
    sub->serial = hub->next_serial++;
    sub->auto_tier = opts->auto_tier;
    sub->tier.tier = opts->auto_tier ? FC_TIER_HIGH : opts->tier;
    sub->wake = wake;
    sub->ctx = ctx;
    sub->next = hub->head;
    if (hub->head) hub->head->prev = sub;
    hub->head = sub;
    hub->count++;
    hub->on_tier[sub->tier.tier]++;
    hub->joined |= 1u << sub->tier.tier;
    *out = sub;
    return 0;
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
    hub->on_tier[sub->tier.tier]--;
    fc_queue_destroy(&sub->queue);
    fc_event_unref(sub->event);
    free(sub);
}

unsigned fc_hub_tier_mask(const fc_hub *hub)
{
    unsigned mask = 0;
    for (int t = 0; t < FC_TIER_COUNT; t++)
        if (hub->on_tier[t]) mask |= 1u << t;
    return mask;
}

unsigned fc_hub_take_joined(fc_hub *hub)
{
    unsigned joined = hub->joined;
    hub->joined = 0;
    return joined;
}

static void retier(fc_sub *sub, uint64_t now_ns)
{
    if (!sub->auto_tier) return;
    fc_tier before = sub->tier.tier;
    fc_tier after =
        fc_tier_update(&sub->tier, &fc_tier_default_policy, fc_queue_len(&sub->queue), now_ns);
    if (after != before) {
        sub->hub->on_tier[before]--;
        sub->hub->on_tier[after]++;
        sub->hub->joined |= 1u << after;
    }
}

static void log_drops(fc_hub *hub, uint64_t now_ns)
{
    if (!fc_ratelimit_allow(&hub->drop_log, now_ns, NULL)) return;
    fc_warn("stream %s: %llu frames dropped from full subscriber queues since the last report "
            "(%llu in total; per subscriber in /metrics)",
            hub->name, (unsigned long long)hub->drops_unlogged, (unsigned long long)hub->drops);
    hub->drops_unlogged = 0;
}

void fc_hub_publish(fc_hub *hub, fc_frame *f, unsigned flags, uint64_t now_ns)
{
    bool dropped = false;
    for (fc_sub *sub = hub->head; sub; sub = sub->next) {
        if (sub->tier.tier != (fc_tier)f->tier && !(flags & FC_HUB_ANY_TIER)) continue;
        /* A subscriber that just changed tier may already hold this frame
         * number from its old tier; never send an id twice or backwards. */
        if (sub->sent_any && (int32_t)(f->id - sub->last_id) <= 0) continue;
        sub->sent_any = true;
        sub->last_id = f->id;
        bool was_empty = fc_queue_len(&sub->queue) == 0;
        fc_frame *old = fc_queue_push(&sub->queue, fc_frame_ref(f));
        if (old) {
            fc_frame_unref(old);
            hub->drops++;
            hub->drops_unlogged++;
            dropped = true;
        }
        retier(sub, now_ns);
        if (was_empty && sub->wake) sub->wake(sub, sub->ctx);
    }
    if (dropped) log_drops(hub, now_ns);
}

fc_frame *fc_sub_next(fc_sub *sub, uint64_t now_ns)
{
    fc_frame *f = fc_queue_pop(&sub->queue);
    if (f) {
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
}

size_t fc_hub_count(const fc_hub *hub)
{
    return hub->count;
}

const fc_sub *fc_hub_next_sub(const fc_hub *hub, const fc_sub *after)
{
    return after ? after->next : hub->head;
}

void fc_sub_get_stats(const fc_sub *sub, fc_sub_stats *out)
{
    *out = (fc_sub_stats){
        .serial = sub->serial,
        .tier = sub->tier.tier,
        .depth = fc_queue_len(&sub->queue),
        .capacity = sub->queue.cap,
        .dropped = sub->queue.dropped,
        .frames_sent = sub->frames_sent,
        .bytes_sent = sub->bytes_sent,
    };
}

size_t fc_sub_depth(const fc_sub *sub)
{
    return fc_queue_len(&sub->queue);
}
