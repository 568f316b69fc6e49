#include "encode/output.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libyuv.h>
#include <math.h>

#include "core/clock.h"
#include "core/stage.h"

typedef struct tier_slot {
    fc_stage stage;
    /* The tier's codec instance and, for a tier of another size, the frame
     * the picture is scaled into. While the stage is busy only its running
     * job touches these; otherwise only the loop. */
    fc_encoder *enc;
    int enc_w, enc_h;
    fc_frame *scaled;
    /* Loop thread. */
    bool enc_open; /* enc != NULL, as the last finished job left it */
    bool key_wanted;
    bool reopen_wanted;      /* fc_output_reconfigure: the next job reopens the instance */
    uint64_t last_needed_ns; /* last push while somebody was on the tier */
    uint64_t last_forced_ns; /* a forced key frame was last asked for */
    uint64_t last_key_ns;    /* a key frame of this tier was last published */
    uint64_t encoded, opened, keyframes, forced, periodic;
} tier_slot;

struct fc_output {
    fc_loop *loop;
    uint64_t idle_close_ns, keyint_ns, key_interval_ns;
    fc_pool *pool;
    fc_output_config cfg;
    fc_output_hooks hooks;
    void *arg;
    fc_hub *hub;
    tier_slot tier[FC_TIER_COUNT];
    uint64_t coalesced;
    uv_timer_t idle_timer;
    int inflight; /* encode jobs alive, running or pending */
    bool closing, timer_closed;
    void (*closed)(void *arg);
    void *closed_arg;
};

/* An encode job; a reserved slot (fc_output_slot) is one that runs inside
 * its producer's job instead of being submitted. */
typedef struct encode_job {
    fc_job job;
    fc_output *o;
    int tier;
    fc_frame *raw;
    fc_encode_args args;
    /* The instance's settings, as the loop had them at submission, so the
     * worker never reads what the loop may change. */
    double fps;
    int quality;
    bool reopen;
    bool periodic; /* args.force_key is for the keyint floor alone */
    fc_frame *out;
    bool opened;     /* this job opened the tier's instance */
    bool open_after; /* the instance exists when the job ends */
    char err[200];
} encode_job;

/* A tier's picture is the pushed one's size divided by this. */
static int divisor(const fc_output_config *cfg, int t)
{
    return cfg->codec->inter_frame && !cfg->same_size_tiers && t == FC_TIER_LOW ? 2 : 1;
}

void fc_output_tier_size(const fc_output_config *cfg, int t, int width, int height, int *tw,
                         int *th)
{
    int d = divisor(cfg, t);
    /* Sides stay even (I420) and at least 2. */
    *tw = d > 1 ? ((width / d) & ~1) : width;
    *th = d > 1 ? ((height / d) & ~1) : height;
    if (*tw < 2) *tw = 2;
    if (*th < 2) *th = 2;
}

/* Worker: the picture at the tier's size, in the slot's own frame (one per
 * tier, reused: the codec keeps nothing of it after its encode). NULL with
 * err set when out of memory. */
static const fc_frame *scale_for_tier(encode_job *j, tier_slot *slot)
{
    const fc_frame *raw = j->raw;
    int w, h;
    fc_output_tier_size(&j->o->cfg, j->tier, raw->width, raw->height, &w, &h);
    if (w == raw->width && h == raw->height) return raw;
    if (slot->scaled && (slot->scaled->width != w || slot->scaled->height != h)) {
        fc_frame_unref(slot->scaled);
        slot->scaled = NULL;
    }
    if (!slot->scaled && !(slot->scaled = fc_frame_new_i420(w, h))) {
        snprintf(j->err, sizeof j->err, "out of memory for a %dx%d frame of tier %d", w, h,
                 j->tier);
        return NULL;
    }
    fc_frame *f = slot->scaled;
    I420Scale(raw->plane[0], raw->stride[0], raw->plane[1], raw->stride[1], raw->plane[2],
              raw->stride[2], raw->width, raw->height, f->plane[0], f->stride[0], f->plane[1],
              f->stride[1], f->plane[2], f->stride[2], w, h, kFilterBox);
    f->id = raw->id;
    f->timestamp = raw->timestamp;
    return f;
}

/* Worker: (re)opens the tier's instance when it has none or the picture
 * changed size, then encodes. */
static void encode_work(fc_job *job)
{
    encode_job *j = fc_container_of(job, encode_job, job);
    fc_output *o = j->o;
    tier_slot *slot = &o->tier[j->tier];
    const fc_codec_ops *c = o->cfg.codec;
    const fc_frame *raw = scale_for_tier(j, slot);
    if (!raw) return;
    if (slot->enc && (slot->enc_w != raw->width || slot->enc_h != raw->height || j->reopen)) {
        c->close(slot->enc);
        slot->enc = NULL;
    }
    if (!slot->enc) {
        /* The codec's own floor in frames matches the output's in time
         * while frames come at the full rate; when fewer come, the
         * output's forces one (submit). */
        fc_codec_config cc = {.width = raw->width,
                              .height = raw->height,
                              .fps = j->fps,
                              .quality = j->quality,
                              .keyint = (int)ceil((double)o->keyint_ns / 1e9 * j->fps),
                              .tier = j->tier};
        if (c->open(&cc, &slot->enc, j->err, sizeof j->err) != 0) {
            slot->enc = NULL;
            return;
        }
        slot->enc_w = raw->width;
        slot->enc_h = raw->height;
        j->opened = true;
    }
    j->open_after = true;
    if (c->encode(slot->enc, raw, &j->args, &j->out, j->err, sizeof j->err) != 0) j->out = NULL;
}

static void job_free(encode_job *j)
{
    j->o->inflight--;
    fc_frame_unref(j->raw);
    fc_frame_unref(j->out);
    free(j);
}

static void maybe_finish_close(fc_output *o)
{
    if (!o->closing || o->inflight > 0 || !o->timer_closed) return;
    for (int t = 0; t < FC_TIER_COUNT; t++) {
        if (o->tier[t].enc) o->cfg.codec->close(o->tier[t].enc);
        fc_frame_unref(o->tier[t].scaled);
    }
    void (*closed)(void *) = o->closed;
    void *arg = o->closed_arg;
    free(o);
    if (closed) closed(arg);
}

static void on_idle_timer(uv_timer_t *t);

/* Arms the one-shot timer for the earliest instance that nobody needs now,
 * if there is one and the timer is not already set. A tier whose job is
 * running is left to that job's done, which calls here again. */
static void arm_idle(fc_output *o, uint64_t now)
{
    if (o->closing || uv_is_active((uv_handle_t *)&o->idle_timer)) return;
    unsigned mask = fc_hub_tier_mask(o->hub);
    uint64_t due = UINT64_MAX;
    for (int t = 0; t < FC_TIER_COUNT; t++) {
        const tier_slot *slot = &o->tier[t];
        if (slot->enc_open && !slot->stage.busy && !(mask & (1u << t)) &&
            slot->last_needed_ns + o->idle_close_ns < due)
            due = slot->last_needed_ns + o->idle_close_ns;
    }
    if (due == UINT64_MAX) return;
    uint64_t wait = due > now ? due - now : 0;
    uv_timer_start(&o->idle_timer, on_idle_timer, (wait + 999999) / 1000000, 0);
}

/* Closes the instances of tiers nobody has been on for the idle time. Only
 * an idle stage's instance is touched: a running job owns its own. */
static void on_idle_timer(uv_timer_t *timer)
{
    fc_output *o = timer->data;
    uint64_t now = fc_now_ns();
    unsigned mask = fc_hub_tier_mask(o->hub);
    for (int t = 0; t < FC_TIER_COUNT; t++) {
        tier_slot *slot = &o->tier[t];
        if (!slot->enc_open || slot->stage.busy) continue;
        if (mask & (1u << t)) {
            slot->last_needed_ns = now;
        } else if (now >= slot->last_needed_ns + o->idle_close_ns) {
            o->cfg.codec->close(slot->enc);
            slot->enc = NULL;
            slot->enc_open = false;
            fc_frame_unref(slot->scaled);
            slot->scaled = NULL;
        }
    }
    arm_idle(o, now);
}

static void encode_done(fc_job *job)
{
    encode_job *j = fc_container_of(job, encode_job, job);
    fc_output *o = j->o;
    int t = j->tier;
    tier_slot *slot = &o->tier[t];
    fc_stage_finish(&slot->stage, o->pool);
    slot->enc_open = j->open_after;
    slot->opened += j->opened;
    fc_frame *out = j->out;
    j->out = NULL;
    uint64_t cpu_ns = job->cpu_ns;
    if (!out && !o->closing) {
        /* The key frame it was to make is still owed. */
        slot->key_wanted |= j->args.force_key && !j->periodic;
        if (o->hooks.failed) o->hooks.failed(o->arg, j->err[0] ? j->err : "encoding failed");
    }
    if (out && out->key && o->cfg.codec->inter_frame && !o->closing) {
        /* Whoever asked for a key frame before this one is published gets
         * it: the requests taken since it was submitted are served. */
        slot->key_wanted = false;
        slot->keyframes++;
        slot->last_key_ns = fc_now_ns();
        if (j->args.force_key && !j->opened) {
            slot->forced += !j->periodic;
            slot->periodic += j->periodic;
        }
    }
    /* Freed before the hooks run, so fc_output_busy tells them the truth. */
    job_free(j);
    if (out) {
        slot->encoded++;
        if (!o->closing) {
            unsigned mask = fc_hub_tier_mask(o->hub);
            unsigned flags = o->cfg.deliver_late && !(mask & (1u << t)) ? FC_HUB_ANY_TIER : 0;
            fc_hub_publish(o->hub, out, flags, fc_now_ns());
            if (o->hooks.published) o->hooks.published(o->arg, out, cpu_ns);
        }
        fc_frame_unref(out);
    }
    /* The hooks may have closed the output; it is freed only here or from
     * the timer's close callback, never under them. */
    if (o->closing)
        maybe_finish_close(o);
    else
        arm_idle(o, fc_now_ns());
}

/* Loop: whether the tier's next encode makes a key frame. A request waits
 * while the tier's last forced key frame is younger than the interval; the
 * floor forces one when its instance has made none for keyint. */
static void decide_key(fc_output *o, tier_slot *slot, encode_job *j, uint64_t now)
{
    if (!o->cfg.codec->inter_frame) {
        slot->key_wanted = false; /* every frame is a key frame */
        return;
    }
    if (slot->key_wanted &&
        (slot->last_forced_ns == 0 || now >= slot->last_forced_ns + o->key_interval_ns)) {
        j->args.force_key = true;
        slot->key_wanted = false;
        slot->last_forced_ns = now;
    } else if (slot->enc_open && now >= slot->last_key_ns + o->keyint_ns) {
        j->args.force_key = true;
        j->periodic = true;
        /* The floor's key frame is made once, even if the job is replaced;
         * it is not a request to keep. */
        slot->last_key_ns = now;
    }
}

/* Loop: the key-frame requests the hub collected since the last frame. */
static void take_key_requests(fc_output *o)
{
    unsigned wanted = fc_hub_take_key_wanted(o->hub);
    for (int t = 0; t < FC_TIER_COUNT; t++)
        if (wanted & (1u << t)) o->tier[t].key_wanted = true;
}

/* Loop: what a job of `slot` is to do beyond encoding. */
static void take_settings(fc_output *o, tier_slot *slot, encode_job *j, uint64_t now)
{
    decide_key(o, slot, j, now);
    j->fps = o->cfg.fps;
    j->quality = o->cfg.quality[j->tier];
    j->reopen = slot->reopen_wanted;
    slot->reopen_wanted = false;
}

static void submit(fc_output *o, int t, fc_frame *raw, uint64_t now)
{
    tier_slot *slot = &o->tier[t];
    encode_job *j = calloc(1, sizeof *j);
    if (!j) {
        if (o->hooks.failed) o->hooks.failed(o->arg, "out of memory for an encode job");
        return;
    }
    j->job =
        (fc_job){.work = encode_work, .done = encode_done, .loop = o->loop, .role = FC_ROLE_ENCODE};
    j->o = o;
    j->tier = t;
    j->raw = fc_frame_ref(raw);
    take_settings(o, slot, j, now);
    o->inflight++;
    fc_job *replaced = fc_stage_submit(&slot->stage, o->pool, &j->job);
    if (replaced) {
        encode_job *r = fc_container_of(replaced, encode_job, job);
        /* The replacement has not started either: it takes over the key
         * frame and the reopen the replaced job was to make. */
        bool periodic = (!j->args.force_key || j->periodic) && (!r->args.force_key || r->periodic);
        j->args.force_key |= r->args.force_key;
        j->periodic = j->args.force_key && periodic;
        j->reopen |= r->reopen;
        o->coalesced++;
        job_free(r);
    }
}

/* A config's seconds (0 = the default) in nanoseconds. */
static uint64_t seconds_ns(double s, double dflt)
{
    return (uint64_t)((s > 0 ? s : dflt) * 1e9);
}

int fc_output_create(fc_loop *loop, fc_pool *pool, const fc_output_config *cfg,
                     const fc_output_hooks *hooks, void *arg, fc_output **out, char *err,
                     size_t errlen)
{
    if (!cfg->codec || !(cfg->fps > 0)) {
        snprintf(err, errlen, "output %s: needs a codec and a rate above 0", cfg->name);
        return -EINVAL;
    }
    fc_output *o = calloc(1, sizeof *o);
    if (!o || fc_hub_new(cfg->name, cfg->codec->inter_frame, &o->hub) != 0) {
        free(o);
        snprintf(err, errlen, "output %s: out of memory", cfg->name);
        return -ENOMEM;
    }
    o->loop = loop;
    o->pool = pool;
    o->cfg = *cfg;
    o->cfg.name = NULL; /* the hub keeps its own copy */
    o->idle_close_ns =
        (uint64_t)(cfg->idle_close_ms ? cfg->idle_close_ms : FC_OUTPUT_IDLE_CLOSE_MS) * 1000000ull;
    o->keyint_ns = seconds_ns(cfg->keyint_s, FC_OUTPUT_KEYINT_S);
    o->key_interval_ns =
        cfg->key_interval_s < 0 ? 0 : seconds_ns(cfg->key_interval_s, FC_OUTPUT_KEY_INTERVAL_S);
    if (hooks) o->hooks = *hooks;
    o->arg = arg;
    uv_timer_init(&loop->uv, &o->idle_timer);
    o->idle_timer.data = o;
    *out = o;
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    fc_output *o = h->data;
    o->timer_closed = true;
    maybe_finish_close(o);
}

void fc_output_close(fc_output *o, void (*done)(void *arg), void *arg)
{
    o->closing = true;
    o->closed = done;
    o->closed_arg = arg;
    fc_hub_free(o->hub);
    o->hub = NULL;
    for (int t = 0; t < FC_TIER_COUNT; t++) {
        fc_job *j = fc_stage_cancel_pending(&o->tier[t].stage);
        if (j) job_free(fc_container_of(j, encode_job, job));
    }
    uv_timer_stop(&o->idle_timer);
    uv_close((uv_handle_t *)&o->idle_timer, on_timer_closed);
}

void fc_output_reconfigure(fc_output *o, double fps, const int quality[FC_TIER_COUNT])
{
    o->cfg.fps = fps;
    memcpy(o->cfg.quality, quality, sizeof o->cfg.quality);
    for (int t = 0; t < FC_TIER_COUNT; t++)
        o->tier[t].reopen_wanted = true;
}

int fc_output_subscribe(fc_output *o, const fc_sub_opts *opts, fc_sub_wake_fn wake, void *ctx,
                        fc_sub **out)
{
    if (o->closing) return -ESHUTDOWN;
    return fc_hub_add(o->hub, opts, wake, ctx, out);
}

void fc_output_unsubscribe(fc_output *o, fc_sub *sub)
{
    fc_hub_remove(sub);
    arm_idle(o, fc_now_ns());
}

size_t fc_output_subscribers(const fc_output *o)
{
    return o->hub ? fc_hub_count(o->hub) : 0;
}

void fc_output_push(fc_output *o, fc_frame *raw)
{
    if (o->closing) return;
    uint64_t now = fc_now_ns();
    take_key_requests(o);
    unsigned mask = fc_hub_tier_mask(o->hub);
    for (int t = 0; t < FC_TIER_COUNT; t++) {
        if (mask & (1u << t)) {
            o->tier[t].last_needed_ns = now;
            submit(o, t, raw, now);
        }
    }
    arm_idle(o, now);
}

bool fc_output_push_tier(fc_output *o, fc_frame *raw, fc_tier tier)
{
    tier_slot *slot = &o->tier[tier];
    if (o->closing || slot->stage.busy) return false;
    uint64_t now = fc_now_ns();
    slot->last_needed_ns = now;
    take_key_requests(o);
    submit(o, tier, raw, now);
    return true;
}

fc_output_slot *fc_output_reserve(fc_output *o)
{
    if (o->closing) return NULL;
    take_key_requests(o);
    unsigned mask = fc_hub_tier_mask(o->hub);
    if (mask == 0 || (mask & (mask - 1)) != 0) return NULL;
    int t = __builtin_ctz(mask);
    tier_slot *slot = &o->tier[t];
    uint64_t now = fc_now_ns();
    slot->last_needed_ns = now;
    if (!fc_stage_claim(&slot->stage)) return NULL;
    encode_job *j = calloc(1, sizeof *j);
    if (!j) {
        fc_stage_finish(&slot->stage, o->pool);
        return NULL;
    }
    j->job = (fc_job){.loop = o->loop, .role = FC_ROLE_ENCODE};
    j->o = o;
    j->tier = t;
    take_settings(o, slot, j, now);
    o->inflight++;
    return (fc_output_slot *)j;
}

int fc_output_slot_encode(fc_output_slot *s, fc_frame *raw)
{
    encode_job *j = (encode_job *)s;
    j->raw = fc_frame_ref(raw);
    encode_work(&j->job);
    return j->out ? 0 : -EIO;
}

void fc_output_slot_done(fc_output_slot *s, uint64_t cpu_ns)
{
    encode_job *j = (encode_job *)s;
    if (j->raw) {
        j->job.cpu_ns = cpu_ns;
        encode_done(&j->job);
        return;
    }
    /* Nothing was made: the tier goes back, its key frame still owed. */
    fc_output *o = j->o;
    tier_slot *slot = &o->tier[j->tier];
    slot->key_wanted |= j->args.force_key && !j->periodic;
    fc_stage_finish(&slot->stage, o->pool);
    job_free(j);
    if (o->closing) maybe_finish_close(o);
}

void fc_output_publish_event(fc_output *o, fc_event *e)
{
    if (!o->closing) fc_hub_publish_event(o->hub, e);
}

bool fc_output_busy(const fc_output *o)
{
    return o->inflight > 0;
}

const fc_hub *fc_output_hub(const fc_output *o)
{
    return o->hub;
}

void fc_output_get_stats(const fc_output *o, fc_output_stats *out)
{
    memset(out, 0, sizeof *out);
    out->coalesced = o->coalesced;
    for (int t = 0; t < FC_TIER_COUNT; t++) {
        out->encoded[t] = o->tier[t].encoded;
        out->encoders_opened += o->tier[t].opened;
        out->encoders_open += o->tier[t].enc_open;
        out->keyframes += o->tier[t].keyframes;
        out->keyframes_forced += o->tier[t].forced;
        out->keyframes_periodic += o->tier[t].periodic;
    }
}
