#include "hub/relay.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/event.h"
#include "hub/queue.h"

/* A detection event is a few hundred bytes; a longer one is not relayed. */
#define EVENT_MAX 65536

struct fc_relay {
    fc_relay_source src;
    fc_loop *from, *to;
    size_t queue;

    /* Source loop only. */
    fc_sub *tier_sub[FC_TIER_COUNT];
    uv_async_t control; /* the other loop changed its mask or wants a key frame */

    /* The other loop only. */
    fc_hub *local;
    bool deliver_made;
    uv_async_t deliver; /* frames are in the mailbox */
    unsigned mask_sent;
    fc_frame **batch; /* FC_TIER_COUNT * queue: what one wake-up takes out */
    fc_relay_ready_fn ready;
    void *ready_arg;
    void (*closed)(void *arg);
    void *closed_arg;
    fc_job open_job, close_job;

    /* The mailbox, and which loop may be woken: under mu. */
    pthread_mutex_t mu;
    fc_queue box[FC_TIER_COUNT];
    bool skip_to_key[FC_TIER_COUNT]; /* inter-frame: deltas wait for a key frame */
    char *event;
    size_t event_len;
    const char *event_closes; /* the event's `closes` (static text) */
    uint64_t since_ns;        /* when the mailbox last went from empty to not; 0 = empty */
    bool from_open, to_open;

    atomic_uint want_mask, key_wanted; /* from the other loop */
    /* The local hub's viewers and drops, from the other loop: what the
     * source hub counts its tier subscribers as (hub.h). */
    fc_hub_far far;
    atomic_uint_fast64_t handoffs, dropped;
    atomic_int halves; /* halves still holding the memory */
};

static void release_half(fc_relay *r)
{
    if (atomic_fetch_sub(&r->halves, 1) != 1) return;
    for (int t = 0; t < FC_TIER_COUNT; t++)
        fc_queue_destroy(&r->box[t]);
    free(r->event);
    free(r->batch);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* Under mu. */
static void empty_box(fc_relay *r)
{
    for (int t = 0; t < FC_TIER_COUNT; t++) {
        fc_frame *f;
        while ((f = fc_queue_pop(&r->box[t])))
            fc_frame_unref(f);
    }
    free(r->event);
    r->event = NULL;
}

/* ---- the source loop ---- */

/* Under mu: one frame into its tier's mailbox, with the source hub's drop
 * rules. Takes the caller's reference. */
static void box_push(fc_relay *r, fc_frame *f)
{
    int t = f->tier;
    if (r->src.inter_frame && r->skip_to_key[t]) {
        if (!f->key) {
            fc_frame_unref(f);
            atomic_fetch_add(&r->dropped, 1);
            return;
        }
        r->skip_to_key[t] = false;
    }
    fc_frame *old = fc_queue_push(&r->box[t], f);
    if (!old) return;
    fc_frame_unref(old);
    atomic_fetch_add(&r->dropped, 1);
    if (!r->src.inter_frame) return;
    fc_frame *o;
    while ((o = fc_queue_oldest(&r->box[t])) && !o->key) {
        fc_frame_unref(fc_queue_pop(&r->box[t]));
        atomic_fetch_add(&r->dropped, 1);
    }
    if (fc_queue_len(&r->box[t]) == 0) {
        r->skip_to_key[t] = true;
        if (r->tier_sub[t]) fc_sub_want_key(r->tier_sub[t]);
    }
}

/* A tier subscriber has frames or an event: all of it goes to the mailbox
 * now, and the other loop is woken once. */
static void on_tier_wake(fc_sub *sub, void *ctx)
{
    fc_relay *r = ctx;
    pthread_mutex_lock(&r->mu);
    uint64_t now = fc_now_ns();
    if (!r->since_ns) r->since_ns = now;
    fc_frame *f;
    while ((f = fc_sub_next(sub, now))) {
        if (r->src.crossing) r->src.crossing(r->src.crossing_ctx, f);
        box_push(r, f);
    }
    fc_event *e = fc_sub_next_event(sub);
    if (e && e->len <= EVENT_MAX) {
        char *copy = malloc(e->len ? e->len : 1);
        if (copy) {
            memcpy(copy, fc_event_text(e), e->len);
            free(r->event);
            r->event = copy;
            r->event_len = e->len;
            r->event_closes = e->closes;
        }
    }
    fc_event_unref(e);
    if (r->to_open) uv_async_send(&r->deliver);
    pthread_mutex_unlock(&r->mu);
}

/* The other loop's local hub changed: subscribe to the tiers it wants
 * now, leave the others, pass its key frame requests on. */
static void on_control(uv_async_t *h)
{
    fc_relay *r = h->data;
    unsigned want = atomic_load(&r->want_mask);
    unsigned keys = atomic_exchange(&r->key_wanted, 0);
    for (int t = 0; t < FC_TIER_COUNT; t++) {
        bool wanted = want & (1u << t);
        if (wanted && !r->tier_sub[t]) {
            fc_sub_opts o = {
                .auto_tier = false, .tier = (fc_tier)t, .queue = r->queue, .far = &r->far};
            if (r->src.add(r->src.arg, &o, on_tier_wake, r, &r->tier_sub[t]) != 0)
                r->tier_sub[t] = NULL;
        } else if (!wanted && r->tier_sub[t]) {
            r->src.remove(r->src.arg, r->tier_sub[t]);
            r->tier_sub[t] = NULL;
        } else if (wanted && (keys & (1u << t))) {
            fc_sub_want_key(r->tier_sub[t]);
        }
    }
}

/* ---- the other loop ---- */

static void on_deliver(uv_async_t *h)
{
    fc_relay *r = h->data;
    size_t n = 0;
    char *event = NULL;
    size_t event_len = 0;
    pthread_mutex_lock(&r->mu);
    for (int t = 0; t < FC_TIER_COUNT; t++) {
        fc_frame *f;
        while ((f = fc_queue_pop(&r->box[t])))
            r->batch[n++] = f;
    }
    event = r->event;
    event_len = r->event_len;
    const char *closes = r->event_closes;
    r->event = NULL;
    uint64_t since = r->since_ns;
    r->since_ns = 0;
    pthread_mutex_unlock(&r->mu);

    uint64_t now = fc_now_ns();
    if (since && r->src.waited) r->src.waited(r->src.waited_ctx, now > since ? now - since : 0);
    for (size_t i = 0; i < n; i++) {
        fc_hub_publish(r->local, r->batch[i], 0, now);
        fc_frame_unref(r->batch[i]);
    }
    atomic_fetch_add(&r->handoffs, n);
    if (r->src.handoffs) atomic_fetch_add(r->src.handoffs, n);
    if (event) {
        fc_event *e = fc_event_new(event, event_len);
        if (e) {
            e->closes = closes;
            fc_hub_publish_event(r->local, e);
        }
        fc_event_unref(e);
        free(event);
    }
    fc_relay_sync(r);
}

static void open_other_half(fc_job *job)
{
    fc_relay *r = fc_container_of(job, fc_relay, open_job);
    bool ok = fc_hub_new("relay", r->src.inter_frame, &r->local) == 0;
    if (ok && uv_async_init(&r->to->uv, &r->deliver, on_deliver) == 0) {
        r->deliver.data = r;
        r->deliver_made = true;
        pthread_mutex_lock(&r->mu);
        r->to_open = true;
        pthread_mutex_unlock(&r->mu);
    } else if (ok) {
        fc_hub_free(r->local);
        r->local = NULL;
    }
    r->ready(r, r->ready_arg);
}

fc_hub *fc_relay_hub(fc_relay *relay)
{
    return relay->to_open ? relay->local : NULL;
}

void fc_relay_sync(fc_relay *r)
{
    if (!r->local) return;
    fc_hub_stats hs;
    fc_hub_get_stats(r->local, &hs);
    for (int t = 0; t < FC_TIER_COUNT; t++)
        atomic_store(&r->far.on_tier[t], (unsigned)hs.on_tier[t]);
    atomic_store(&r->far.drops, hs.drops);
    atomic_store(&r->far.drops_to_key, hs.drops_to_key);
    unsigned mask = fc_hub_tier_mask(r->local);
    unsigned keys = fc_hub_take_key_wanted(r->local);
    if (mask == r->mask_sent && !keys) return;
    r->mask_sent = mask;
    atomic_store(&r->want_mask, mask);
    atomic_fetch_or(&r->key_wanted, keys);
    pthread_mutex_lock(&r->mu);
    if (r->from_open) uv_async_send(&r->control);
    pthread_mutex_unlock(&r->mu);
}

uint64_t fc_relay_handoffs(const fc_relay *relay)
{
    return atomic_load(&relay->handoffs);
}

uint64_t fc_relay_dropped(const fc_relay *relay)
{
    return atomic_load(&relay->dropped);
}

/* ---- open and close ---- */

int fc_relay_open(const fc_relay_source *src, size_t queue, fc_loop *from, fc_loop *to,
                  fc_relay_ready_fn ready, void *arg, fc_relay **out)
{
    if (queue < 1 || queue > FC_QUEUE_MAX) return -EINVAL;
    fc_relay *r = calloc(1, sizeof *r);
    if (!r) return -ENOMEM;
    r->batch = calloc(FC_TIER_COUNT * queue, sizeof *r->batch);
    int made = 0;
    while (r->batch && made < FC_TIER_COUNT && fc_queue_init(&r->box[made], queue) == 0)
        made++;
    if (made < FC_TIER_COUNT || uv_async_init(&from->uv, &r->control, on_control) != 0) {
        for (int t = 0; t < made; t++)
            fc_queue_destroy(&r->box[t]);
        free(r->batch);
        free(r);
        return -ENOMEM;
    }
    r->src = *src;
    r->from = from;
    r->to = to;
    r->queue = queue;
    r->ready = ready;
    r->ready_arg = arg;
    r->control.data = r;
    r->from_open = true;
    pthread_mutex_init(&r->mu, NULL);
    atomic_init(&r->halves, 2);
    fc_loop_run(to, &r->open_job, open_other_half);
    *out = r;
    return 0;
}

static void on_deliver_closed(uv_handle_t *h)
{
    release_half(h->data);
}

static void close_other_half(fc_job *job)
{
    fc_relay *r = fc_container_of(job, fc_relay, close_job);
    pthread_mutex_lock(&r->mu);
    r->to_open = false;
    empty_box(r);
    pthread_mutex_unlock(&r->mu);
    /* Its owner's subscribers leave the local hub first. */
    if (r->closed) r->closed(r->closed_arg);
    fc_hub_free(r->local);
    r->local = NULL;
    if (r->deliver_made) {
        uv_close((uv_handle_t *)&r->deliver, on_deliver_closed);
        return;
    }
    release_half(r);
}

static void on_control_closed(uv_handle_t *h)
{
    release_half(h->data);
}

void fc_relay_close(fc_relay *r, void (*closed)(void *arg), void *arg)
{
    for (int t = 0; t < FC_TIER_COUNT; t++)
        if (r->tier_sub[t]) r->src.remove(r->src.arg, r->tier_sub[t]);
    pthread_mutex_lock(&r->mu);
    r->from_open = false;
    empty_box(r);
    pthread_mutex_unlock(&r->mu);
    r->closed = closed;
    r->closed_arg = arg;
    uv_close((uv_handle_t *)&r->control, on_control_closed);
    fc_loop_run(r->to, &r->close_job, close_other_half);
}
