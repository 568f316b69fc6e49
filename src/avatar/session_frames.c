/* An avatar session's frames (avatar/session_impl.h): paced on the audio
 * clock (realtime) or on the client's queue (not), each generated in a worker
 * job that also encodes it when the output's tier is free, published to the
 * client's queue. Loop thread, but for frame_work (a worker). */
#include <libyuv.h>
#include <stdio.h>
#include <stdlib.h>

#include "avatar/generator.h"
#include "avatar/session_impl.h"
#include "core/clock.h"

/* ---- the session's frames on the generator's clock ---- */

/* The generator's frame for session frame i: the one of the 25 fps grid at
 * or before i / fps s (itself at 25 fps). */
static uint32_t grid_index(const fc_avatar *a, uint32_t i)
{
    return (uint32_t)((uint64_t)i * FC_AVATAR_FPS / (uint64_t)a->req.fps);
}

/* When session frame i is due after t0, and its media time. */
static uint64_t frame_offset_ns(const fc_avatar *a, uint32_t i)
{
    return (uint64_t)grid_index(a, i) * GRID_NS;
}

/* ---- frames ---- */

void fc_avatar_frame_free(frame_job *j)
{
    j->a->inflight--;
    if (j->slot) fc_output_slot_done(j->slot, j->encode_ns);
    fc_frame_unref(j->raw);
    free(j);
}

/* Worker: the generator gets all audio up to the end of this frame
 * (including that of frames a late realtime session skipped), then draws. */
static void frame_work(fc_job *job)
{
    frame_job *j = fc_container_of(job, frame_job, job);
    fc_avatar *a = j->a;
    fc_avatar_prepared *p = &a->prep;
    const fc_generator *gen = a->env->gen;
    uint32_t g = grid_index(a, j->index);
    size_t end = (size_t)(((uint64_t)g + 1) * (uint64_t)p->audio.rate / FC_AVATAR_FPS);
    if (end > p->audio.frames) end = p->audio.frames;
    if (end > a->audio_pushed &&
        gen->push_audio(p->gen_state,
                        p->audio.samples + a->audio_pushed * (size_t)p->audio.channels,
                        end - a->audio_pushed) != 0) {
        snprintf(j->err, sizeof j->err, "generator %s: push_audio failed", gen->name);
        return;
    }
    if (end > a->audio_pushed) a->audio_pushed = end;
    int w = p->info.width, h = p->info.height;
    fc_frame *raw = fc_frame_new_i420(w, h);
    if (!raw) {
        snprintf(j->err, sizeof j->err, "out of memory for a %dx%d frame", w, h);
        return;
    }
    int rc;
    if (fc_generator_has_i420(gen)) {
        rc = gen->render_i420(p->gen_state, g, raw->plane[0], raw->stride[0], raw->plane[1],
                              raw->stride[1], raw->plane[2], raw->stride[2]);
    } else {
        rc = gen->render_rgb(p->gen_state, g, p->rgb, w * 3);
        if (rc == 0)
            RAWToI420(p->rgb, w * 3, raw->plane[0], raw->stride[0], raw->plane[1], raw->stride[1],
                      raw->plane[2], raw->stride[2], w, h);
    }
    if (rc != 0) {
        snprintf(j->err, sizeof j->err, "generator %s: frame %u failed", gen->name, g);
        fc_frame_unref(raw);
        return;
    }
    raw->id = j->index;
    raw->timestamp = (double)g / FC_AVATAR_FPS;
    j->raw = raw;
    if (j->slot) {
        /* Encoded here, on the warm frame, in the same job: see output.h. */
        uint64_t t0 = fc_thread_cpu_ns();
        fc_output_slot_encode(j->slot, raw);
        j->encode_ns = fc_thread_cpu_ns() - t0;
    }
}

/* The generate stage's waiting job, if any, starts now; it reserves the
 * encode the finished job has just given back, so a frame that had to wait
 * is still made and encoded in one job. */
static void start_next(fc_avatar *a)
{
    fc_job *next = fc_stage_cancel_pending(&a->stage);
    fc_stage_finish(&a->stage, a->env->pool);
    if (!next) return;
    frame_job *n = fc_container_of(next, frame_job, job);
    if (!n->slot && a->state == RUNNING) n->slot = fc_output_reserve(a->out);
    fc_stage_submit(&a->stage, a->env->pool, next);
    a->running = n;
}

static void frame_done(fc_job *job)
{
    frame_job *j = fc_container_of(job, frame_job, job);
    fc_avatar *a = j->a;
    a->running = NULL;
    a->env->stats.generate_cpu_ns += job->cpu_ns - j->encode_ns;
    if (a->state == RUNNING && !j->raw) {
        char why[sizeof j->err];
        snprintf(why, sizeof why, "%s", j->err[0] ? j->err : "frame generation failed");
        fc_avatar_frame_free(j);
        fc_avatar_fail(a, why); /* drops the waiting job too */
        fc_stage_finish(&a->stage, a->env->pool);
        return;
    }
    if (a->state == RUNNING && j->slot) {
        fc_output_slot *slot = j->slot;
        j->slot = NULL;
        fc_output_slot_done(slot, j->encode_ns);
    } else if (a->state == RUNNING) {
        fc_output_push(a->out, j->raw);
    }
    fc_avatar_frame_free(j);
    start_next(a);
    if (a->state == RUNNING) {
        fc_avatar_frames_more(a);
        fc_avatar_check_end(a);
    }
    fc_avatar_maybe_teardown(a);
}

static void submit_frame(fc_avatar *a, uint32_t index, uint64_t due_ns)
{
    frame_job *j = calloc(1, sizeof *j);
    if (!j) {
        fc_avatar_fail(a, "out of memory for a frame job");
        return;
    }
    j->job = (fc_job){
        .work = frame_work, .done = frame_done, .loop = a->env->loop, .role = FC_ROLE_SOURCE};
    j->a = a;
    j->index = index;
    j->due_ns = due_ns;
    /* A job that has to wait gets its reservation when it starts
     * (start_next): reserved now, it would hold the tier while the running
     * job's frame is still to be encoded. */
    bool idle = !a->stage.busy;
    j->slot = idle ? fc_output_reserve(a->out) : NULL;
    a->inflight++;
    fc_job *replaced = fc_stage_submit(&a->stage, a->env->pool, &j->job);
    if (idle) a->running = j;
    if (replaced) {
        /* The previous frame never started before this one was due. */
        a->env->stats.missed_deadlines++;
        fc_avatar_frame_free(fc_container_of(replaced, frame_job, job));
    }
}

/* Flow control without realtime pacing: the next frame when the client's
 * queue has room and the last one is through the encoder, one at a time,
 * so nothing is ever dropped. */
void fc_avatar_frames_more(fc_avatar *a)
{
    if (a->req.realtime || a->state != RUNNING || a->stage.busy || fc_output_busy(a->out) ||
        a->next_index >= a->prep.expected_frames)
        return;
    fc_sub_stats st;
    fc_sub_get_stats(a->sub, &st);
    if (st.depth >= (st.capacity < AHEAD_MAX ? st.capacity : AHEAD_MAX)) return;
    submit_frame(a, a->next_index, fc_now_ns());
    a->next_index++;
}

static void on_tick(uv_timer_t *t)
{
    fc_avatar *a = t->data;
    uint64_t now = fc_now_ns();
    uint32_t expected = a->prep.expected_frames;
    /* Frames whose slot passed entirely while the loop was away are skipped
     * (their audio still reaches the generator with the next frame). */
    uint64_t elapsed = now - a->t0_ns;
    uint32_t due_index = (uint32_t)(elapsed * (uint64_t)a->req.fps / 1000000000ull);
    while (due_index + 1 < expected && frame_offset_ns(a, due_index + 1) <= elapsed)
        due_index++;
    if (due_index >= expected) due_index = expected - 1;
    if (due_index > a->next_index) {
        a->env->stats.missed_deadlines += due_index - a->next_index;
        a->next_index = due_index;
    }
    submit_frame(a, a->next_index, a->t0_ns + frame_offset_ns(a, a->next_index));
    a->next_index++;
    if (a->state != RUNNING || a->next_index >= expected) return;
    uint64_t next_due = a->t0_ns + frame_offset_ns(a, a->next_index);
    uint64_t wait = next_due > now ? next_due - now : 0;
    /* libuv timers count whole milliseconds; round up so we never fire early. */
    uv_timer_start(&a->timer, on_tick, (wait + 999999) / 1000000, 0);
}

/* The output put a frame in the client's queue. */
static void on_published(void *arg, const fc_frame *f, uint64_t cpu_ns)
{
    fc_avatar *a = arg;
    fc_avatar_stats *st = &a->env->stats;
    st->frames_generated++;
    st->encode_cpu_ns += cpu_ns;
    /* Ready after the next frame was due: the client saw a stall. */
    if (a->req.realtime && fc_now_ns() > a->t0_ns + frame_offset_ns(a, f->id + 1))
        st->missed_deadlines++;
    /* Frames the client's full queue pushed out, and frames replaced in the
     * encoder before they were encoded: each is a frame the client missed. */
    fc_hub_stats hs;
    fc_hub_get_stats(fc_output_hub(a->out), &hs);
    st->frames_dropped += hs.drops - a->drops_seen;
    a->drops_seen = hs.drops;
    fc_output_stats os;
    fc_output_get_stats(a->out, &os);
    st->missed_deadlines += os.coalesced - a->coalesced_seen;
    a->coalesced_seen = os.coalesced;
    fc_avatar_frames_more(a);
    fc_avatar_check_end(a);
}

static void on_encode_failed(void *arg, const char *msg)
{
    fc_avatar_fail(arg, msg);
}

const fc_output_hooks fc_avatar_output_hooks = {.published = on_published,
                                                .failed = on_encode_failed};

void fc_avatar_frames_begin(fc_avatar *a)
{
    a->t0_ns = fc_now_ns();
    if (a->req.realtime)
        on_tick(&a->timer);
    else
        fc_avatar_frames_more(a);
}
