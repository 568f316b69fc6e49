#include "avatar/session.h"

#include <libyuv.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "avatar/audio.h"
#include "avatar/generator.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/stage.h"
#include "encode/jpeg.h"
#include "encode/webp.h"
#include "sources/image.h"

#define FRAME_NS (1000000000ull / FC_AVATAR_FPS)
/* Without realtime pacing, frames generated ahead of the client at most:
 * enough to keep the socket busy, few enough that stop_streaming is quick. */
#define AHEAD_MAX 8

typedef enum { PREPARING, RUNNING, ENDED } av_state;

struct fc_avatar {
    fc_avatar_env *env;
    fc_avatar_callbacks cb;
    void *ctx;
    char client_id[64];
    av_state state;
    bool released;

    /* The request. */
    char *audio_path, *source_path, *setup_json, *run_json;
    bool realtime, want_audio;
    fc_codec codec;

    /* Set by the prepare job, then used by frame jobs one at a time. */
    void *gen_state;
    fc_generator_info info;
    fc_audio audio;
    size_t audio_pushed; /* sample frames given to the generator */
    uint8_t *rgb;        /* scratch for generators without render_i420 */
    uint32_t expected;

    /* Pacing (loop thread). */
    uv_timer_t timer;
    bool timer_closed;
    uint64_t start_ns, t0_ns;
    uint32_t next_index; /* next frame to schedule */
    fc_stage stage;
    int inflight;   /* jobs alive (running or pending) */
    bool torn_down; /* the generator is closed, the audio freed */
    bool first_sent;

    fc_hub hub;
    fc_sub *sub;
};

typedef struct prepare_job {
    fc_job job;
    fc_avatar *a;
    int rc;
    uint8_t *audio_block; /* FC_FRAME_HEADROOM, then PCM */
    size_t audio_len;
    char err[600];
} prepare_job;

typedef struct frame_job {
    fc_job job;
    fc_avatar *a;
    uint32_t index;
    uint64_t due_ns;
    int tier, quality;
    fc_frame *out;
    uint64_t generate_ns, encode_ns;
    char err[200];
} frame_job;

typedef struct teardown_job {
    fc_job job;
    fc_avatar *a;
} teardown_job;

static const double first_frame_bounds[] = {10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000};

void fc_avatar_env_init(fc_avatar_env *env, fc_loop *loop, fc_pool *pool, const fc_generator *gen,
                        const fc_media *media, const int quality[3], size_t queue)
{
    memset(env, 0, sizeof *env);
    env->loop = loop;
    env->pool = pool;
    env->gen = gen;
    env->media = media;
    memcpy(env->quality, quality, sizeof env->quality);
    env->queue = queue;
    fc_histogram_init(&env->stats.first_frame_ms, first_frame_bounds,
                      (int)(sizeof first_frame_bounds / sizeof *first_frame_bounds));
}

static void send_json(fc_avatar *a, json_t *obj)
{
    char *s = obj ? json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(obj);
    if (s && !a->released) a->cb.text(a->ctx, s);
    free(s);
}

static void send_error(fc_avatar *a, const char *msg)
{
    send_json(a, json_pack("{s:s, s:s}", "type", "error", "message", msg));
}

/* ---- teardown and freeing ---- */

static void maybe_free(fc_avatar *a)
{
    if (!a->released || a->inflight > 0 || !a->torn_down || !a->timer_closed) return;
    fc_avatar_env *env = a->env;
    fc_hub_destroy(&a->hub);
    free(a->audio_path);
    free(a->source_path);
    free(a->setup_json);
    free(a->run_json);
    free(a);
    if (--env->alive == 0 && env->idle_cb) {
        void (*cb)(void *) = env->idle_cb;
        env->idle_cb = NULL;
        cb(env->idle_arg);
    }
}

void fc_avatar_env_when_idle(fc_avatar_env *env, void (*cb)(void *arg), void *arg)
{
    if (env->alive == 0) {
        cb(arg);
        return;
    }
    env->idle_cb = cb;
    env->idle_arg = arg;
}

static void teardown_work(fc_job *job)
{
    fc_avatar *a = fc_container_of(job, teardown_job, job)->a;
    if (a->gen_state) a->env->gen->close(a->gen_state);
    a->gen_state = NULL;
    fc_audio_free(&a->audio);
    free(a->rgb);
    a->rgb = NULL;
}

static void teardown_done(fc_job *job)
{
    teardown_job *t = fc_container_of(job, teardown_job, job);
    fc_avatar *a = t->a;
    free(t);
    a->inflight--;
    a->torn_down = true;
    maybe_free(a);
}

/* Once the session has ended and no job uses the generator any more, close
 * it on a worker (the ABI promises generators only worker calls). */
static void maybe_teardown(fc_avatar *a)
{
    if (a->state != ENDED || a->inflight > 0 || a->torn_down) return;
    teardown_job *t = calloc(1, sizeof *t);
    if (!t) {
        /* Rather than leak the generator, close it here. */
        teardown_work(&(teardown_job){.a = a}.job);
        a->torn_down = true;
        maybe_free(a);
        return;
    }
    t->job = (fc_job){
        .work = teardown_work, .done = teardown_done, .loop = a->env->loop, .role = FC_ROLE_OTHER};
    t->a = a;
    a->inflight++;
    fc_pool_submit(a->env->pool, &t->job);
}

static void end_session(fc_avatar *a)
{
    if (a->state == ENDED) return;
    a->state = ENDED;
    a->env->stats.active--;
    uv_timer_stop(&a->timer);
}

/* All frames are out of the generator and out of the queue: done. */
static void check_end(fc_avatar *a)
{
    if (a->state != RUNNING || a->next_index < a->expected || a->inflight > 0 ||
        (a->sub && fc_queue_len(&a->sub->queue) > 0))
        return;
    end_session(a);
    a->env->stats.completed++;
    send_json(a, json_pack("{s:s, s:b, s:I}", "type", "streaming_completed", "stopped", 0, "frames",
                           (json_int_t)a->expected));
    maybe_teardown(a);
}

/* ---- frames ---- */

static void frame_work(fc_job *job)
{
    frame_job *j = fc_container_of(job, frame_job, job);
    fc_avatar *a = j->a;
    const fc_generator *g = a->env->gen;
    uint64_t t0 = fc_thread_cpu_ns();
    /* All audio up to the end of this frame, including that of frames a
     * late realtime session skipped. */
    size_t end = (size_t)(((uint64_t)j->index + 1) * (uint64_t)a->audio.rate / FC_AVATAR_FPS);
    if (end > a->audio.frames) end = a->audio.frames;
    if (end > a->audio_pushed &&
        g->push_audio(a->gen_state, a->audio.samples + a->audio_pushed * (size_t)a->audio.channels,
                      end - a->audio_pushed) != 0) {
        snprintf(j->err, sizeof j->err, "generator %s: push_audio failed", g->name);
        return;
    }
    if (end > a->audio_pushed) a->audio_pushed = end;
    fc_frame *raw = fc_frame_new_i420(a->info.width, a->info.height);
    if (!raw) {
        snprintf(j->err, sizeof j->err, "out of memory for a %dx%d frame", a->info.width,
                 a->info.height);
        return;
    }
    int rc;
    if (fc_generator_has_i420(g)) {
        rc = g->render_i420(a->gen_state, j->index, raw->plane[0], raw->stride[0], raw->plane[1],
                            raw->stride[1], raw->plane[2], raw->stride[2]);
    } else {
        rc = g->render_rgb(a->gen_state, j->index, a->rgb, a->info.width * 3);
        if (rc == 0)
            RAWToI420(a->rgb, a->info.width * 3, raw->plane[0], raw->stride[0], raw->plane[1],
                      raw->stride[1], raw->plane[2], raw->stride[2], a->info.width, a->info.height);
    }
    raw->id = j->index;
    raw->timestamp = (double)j->index / FC_AVATAR_FPS;
    uint64_t t1 = fc_thread_cpu_ns();
    j->generate_ns = t1 - t0;
    if (rc != 0) {
        snprintf(j->err, sizeof j->err, "generator %s: frame %u failed", g->name, j->index);
        fc_frame_unref(raw);
        return;
    }
    if (a->codec == FC_CODEC_WEBP)
        rc = fc_webp_encode(raw, j->quality, j->tier, &j->out, j->err, sizeof j->err);
    else
        rc = fc_jpeg_encode(raw, j->quality, j->tier, &j->out, j->err, sizeof j->err);
    if (rc != 0) j->out = NULL;
    fc_frame_unref(raw);
    j->encode_ns = fc_thread_cpu_ns() - t1;
}

static void frame_free(frame_job *j)
{
    j->a->inflight--;
    fc_frame_unref(j->out);
    free(j);
}

static void maybe_submit_ahead(fc_avatar *a);

static void fail(fc_avatar *a, const char *msg)
{
    if (a->state == ENDED) return;
    end_session(a);
    a->env->stats.failed++;
    fc_job *j = fc_stage_cancel_pending(&a->stage);
    if (j) frame_free(fc_container_of(j, frame_job, job));
    send_error(a, msg);
    maybe_teardown(a);
}

static void frame_done(fc_job *job)
{
    frame_job *j = fc_container_of(job, frame_job, job);
    fc_avatar *a = j->a;
    fc_avatar_stats *st = &a->env->stats;
    fc_stage_finish(&a->stage, a->env->pool);
    st->generate_cpu_ns += j->generate_ns;
    st->encode_cpu_ns += j->encode_ns;
    if (a->state == RUNNING && !j->out) {
        char why[sizeof j->err];
        snprintf(why, sizeof why, "%s", j->err[0] ? j->err : "frame generation failed");
        frame_free(j);
        fail(a, why);
        maybe_teardown(a);
        return;
    }
    if (a->state == RUNNING) {
        st->frames_generated++;
        /* Ready after the next frame was due: the client saw a stall. */
        if (a->realtime && fc_now_ns() > j->due_ns + FRAME_NS) st->missed_deadlines++;
        /* A frame encoded just before the client's tier changed keeps its
         * old quality rather than being lost. */
        fc_tier tier = a->sub->tier.tier;
        j->out->tier = (int)tier;
        uint64_t drops = a->hub.drops;
        fc_hub_publish(&a->hub, j->out, fc_now_ns());
        st->frames_dropped += a->hub.drops - drops;
    }
    frame_free(j);
    if (a->state == RUNNING) {
        maybe_submit_ahead(a);
        check_end(a);
    }
    maybe_teardown(a);
}

static void submit_frame(fc_avatar *a, uint32_t index, uint64_t due_ns)
{
    frame_job *j = calloc(1, sizeof *j);
    if (!j) {
        fail(a, "out of memory for a frame job");
        return;
    }
    fc_tier tier = a->sub->tier.tier;
    j->job = (fc_job){
        .work = frame_work, .done = frame_done, .loop = a->env->loop, .role = FC_ROLE_SOURCE};
    j->a = a;
    j->index = index;
    j->due_ns = due_ns;
    j->tier = (int)tier;
    j->quality = a->env->quality[tier];
    a->inflight++;
    fc_job *replaced = fc_stage_submit(&a->stage, a->env->pool, &j->job);
    if (replaced) {
        /* The previous frame never started before this one was due. */
        a->env->stats.missed_deadlines++;
        frame_free(fc_container_of(replaced, frame_job, job));
    }
}

/* Flow control without realtime pacing: the next frame when the client's
 * queue has room, one job at a time, so nothing is ever dropped. */
static void maybe_submit_ahead(fc_avatar *a)
{
    if (a->realtime || a->state != RUNNING || a->stage.busy || a->next_index >= a->expected) return;
    size_t ahead = a->sub->queue.cap < AHEAD_MAX ? a->sub->queue.cap : AHEAD_MAX;
    if (fc_queue_len(&a->sub->queue) >= ahead) return;
    submit_frame(a, a->next_index, fc_now_ns());
    a->next_index++;
}

static void on_tick(uv_timer_t *t)
{
    fc_avatar *a = t->data;
    uint64_t now = fc_now_ns();
    /* Frames whose slot passed entirely while the loop was away are skipped
     * (their audio still reaches the generator with the next frame). */
    uint32_t due_index = (uint32_t)((now - a->t0_ns) / FRAME_NS);
    if (due_index >= a->expected) due_index = a->expected - 1;
    if (due_index > a->next_index) {
        a->env->stats.missed_deadlines += due_index - a->next_index;
        a->next_index = due_index;
    }
    submit_frame(a, a->next_index, a->t0_ns + (uint64_t)a->next_index * FRAME_NS);
    a->next_index++;
    if (a->state != RUNNING || a->next_index >= a->expected) return;
    uint64_t next_due = a->t0_ns + (uint64_t)a->next_index * FRAME_NS;
    uint64_t wait = next_due > now ? next_due - now : 0;
    /* libuv timers count whole milliseconds; round up so we never fire early. */
    uv_timer_start(&a->timer, on_tick, (wait + 999999) / 1000000, 0);
}

/* ---- prepare ---- */

/* Worker: when the client did not say where the face is, ask the detector
 * once and hand the generator setup_kwargs.face = {"mouth", "eyes", "width"}
 * in picture pixels, so it animates the real mouth and eyes. Without a
 * detector or a face, the setup stays as the client sent it. */
static void locate_face(fc_avatar *a, const uint8_t *rgb, int w, int h)
{
    if (!a->env->detector)
        return;
    json_t *setup = json_loads(a->setup_json, 0, NULL);
    fc_faces faces;
    if (setup && !json_object_get(setup, "face") &&
        fc_face_detect_rgb(a->env->detector, rgb, w * 3, w, h, &faces) == 0 && faces.count > 0) {
        const fc_face *f = &faces.face[0]; /* best first */
        json_object_set_new(
            setup, "face",
            json_pack("{s:[f,f], s:[[f,f],[f,f]], s:f}", "mouth",
                      f->keypoints[FC_FACE_MOUTH].x, f->keypoints[FC_FACE_MOUTH].y, "eyes",
                      f->keypoints[FC_FACE_RIGHT_EYE].x, f->keypoints[FC_FACE_RIGHT_EYE].y,
                      f->keypoints[FC_FACE_LEFT_EYE].x, f->keypoints[FC_FACE_LEFT_EYE].y, "width",
                      f->w));
        char *text = json_dumps(setup, JSON_COMPACT);
        if (text) {
            free(a->setup_json);
            a->setup_json = text;
        }
    }
    json_decref(setup);
}

static void prepare_work(fc_job *job)
{
    prepare_job *p = fc_container_of(job, prepare_job, job);
    fc_avatar *a = p->a;
    const fc_generator *g = a->env->gen;
    char why[300];
    p->rc = -1;
    /* Both are opened (and so checked) before any decoding, and decoded from
     * these descriptors: what was checked is what is read. */
    int source_fd = -1, audio_fd = -1;
    if (fc_media_open_file(a->env->media, a->source_path, &source_fd, why, sizeof why) != 0) {
        snprintf(p->err, sizeof p->err, "source_path: %s", why);
        return;
    }
    if (fc_media_open_file(a->env->media, a->audio_path, &audio_fd, why, sizeof why) != 0) {
        close(source_fd);
        snprintf(p->err, sizeof p->err, "audio_path: %s", why);
        return;
    }
    uint8_t *rgb;
    int w, h;
    int rc = fc_image_load_rgb_fd(source_fd, a->source_path, &rgb, &w, &h, why, sizeof why);
    close(source_fd);
    if (rc != 0) {
        /* The loader starts with the name it was given; here it goes in
         * quotes after the field's name. */
        size_t nl = strlen(a->source_path);
        const char *cause = strncmp(why, a->source_path, nl) == 0 && strncmp(why + nl, ": ", 2) == 0
                                ? why + nl + 2
                                : why;
        snprintf(p->err, sizeof p->err, "source_path '%.200s': %s", a->source_path, cause);
        close(audio_fd);
        return;
    }
    locate_face(a, rgb, w, h);
    fc_generator_image img = {.width = w, .height = h, .stride = w * 3, .rgb = rgb};
    rc = g->open(&img, a->setup_json, a->run_json, &a->gen_state, &a->info, why, sizeof why);
    free(rgb);
    if (rc != 0) {
        a->gen_state = NULL;
        snprintf(p->err, sizeof p->err, "generator %s: %s", g->name, why);
        close(audio_fd);
        return;
    }
    if (a->info.width < 2 || a->info.height < 2 || (a->info.width | a->info.height) & 1 ||
        a->info.sample_rate < 8000 || a->info.sample_rate > 192000 || a->info.channels < 1 ||
        a->info.channels > 2) {
        snprintf(p->err, sizeof p->err,
                 "generator %s: reported %dx%d frames at %d Hz, %d channels (even sizes, "
                 "8-192 kHz, 1-2 channels)",
                 g->name, a->info.width, a->info.height, a->info.sample_rate, a->info.channels);
        close(audio_fd);
        return;
    }
    if (!fc_generator_has_i420(g)) {
        a->rgb = malloc((size_t)a->info.width * (size_t)a->info.height * 3);
        if (!a->rgb) {
            snprintf(p->err, sizeof p->err, "out of memory for a %dx%d frame", a->info.width,
                     a->info.height);
            close(audio_fd);
            return;
        }
    }
    rc = fc_audio_load_fd(audio_fd, a->info.sample_rate, a->info.channels, &a->audio, why,
                          sizeof why);
    close(audio_fd);
    if (rc != 0) {
        snprintf(p->err, sizeof p->err, "audio_path '%.200s': %s", a->audio_path, why);
        return;
    }
    double frames = ceil(a->audio.duration * FC_AVATAR_FPS - 1e-9);
    a->expected = frames < 1 ? 1 : (uint32_t)frames;
    if (a->want_audio) {
        size_t n = a->audio.frames * (size_t)a->audio.channels;
        p->audio_block = malloc(FC_FRAME_HEADROOM + 2 * n);
        if (!p->audio_block) {
            snprintf(p->err, sizeof p->err, "out of memory for %zu audio samples", n);
            return;
        }
        uint8_t *d = p->audio_block + FC_FRAME_HEADROOM;
        for (size_t i = 0; i < n; i++) {
            float s = a->audio.samples[i];
            s = s > 1 ? 1 : s < -1 ? -1 : s;
            int16_t v = (int16_t)lrintf(s * 32767.0f);
            d[2 * i] = (uint8_t)(v & 0xff);
            d[2 * i + 1] = (uint8_t)((uint16_t)v >> 8);
        }
        p->audio_len = 2 * n;
    }
    p->rc = 0;
}

static void prepare_done(fc_job *job)
{
    prepare_job *p = fc_container_of(job, prepare_job, job);
    fc_avatar *a = p->a;
    a->inflight--;
    a->env->stats.prepare_cpu_ns += job->cpu_ns;
    if (a->state == PREPARING && p->rc != 0) {
        fail(a, p->err);
    } else if (a->state == PREPARING) {
        a->state = RUNNING;
        /* `face`: where the generator was told the face is (the client's
         * setup_kwargs.face, or what the detector found), or null. */
        json_t *setup = json_loads(a->setup_json, 0, NULL);
        json_t *face = setup ? json_object_get(setup, "face") : NULL;
        send_json(a, json_pack("{s:s, s:f, s:I, s:i, s:i, s:i, s:s, s:s, s:i, s:b, s:O}", "type",
                               "metadata", "audio_duration", a->audio.duration, "expected_frames",
                               (json_int_t)a->expected, "fps", FC_AVATAR_FPS, "width",
                               a->info.width, "height", a->info.height, "format",
                               a->codec == FC_CODEC_WEBP ? "webp" : "jpeg", "generator",
                               a->env->gen->name, "sample_rate", a->info.sample_rate, "realtime",
                               a->realtime, "face", face ? face : json_null()));
        json_decref(setup);
        if (p->audio_block && !a->released) {
            send_json(a, json_pack("{s:s, s:i, s:i, s:s, s:I}", "type", "audio", "sample_rate",
                                   a->audio.rate, "channels", a->audio.channels, "format",
                                   "pcm_s16le", "bytes", (json_int_t)p->audio_len));
            a->cb.audio(a->ctx, p->audio_block, p->audio_len);
            p->audio_block = NULL;
        }
        /* The audio clock starts now: frame i is due i/25 s from here. */
        a->t0_ns = fc_now_ns();
        if (a->realtime)
            on_tick(&a->timer);
        else
            maybe_submit_ahead(a);
    }
    free(p->audio_block);
    free(p);
    maybe_teardown(a);
}

/* ---- requests ---- */

static char *kwargs_json(json_t *msg, const char *key, int *bad)
{
    json_t *v = json_object_get(msg, key);
    if (v && !json_is_object(v) && !json_is_null(v)) {
        *bad = 1;
        return NULL;
    }
    return v && json_is_object(v) ? json_dumps(v, JSON_COMPACT) : strdup("{}");
}

static void on_sub_wake(fc_sub *sub, void *ctx)
{
    (void)sub;
    fc_avatar *a = ctx;
    if (!a->released) a->cb.wake(a->ctx);
}

int fc_avatar_start(fc_avatar_env *env, const char *client_id, json_t *msg,
                    const fc_avatar_callbacks *cb, void *ctx, fc_avatar **out, char *err,
                    size_t errlen)
{
    const char *audio = json_string_value(json_object_get(msg, "audio_path"));
    const char *source = json_string_value(json_object_get(msg, "source_path"));
    json_t *binary = json_object_get(msg, "binary");
    json_t *run = json_object_get(msg, "run_kwargs");
    if (!audio || !source) {
        snprintf(err, errlen, "start_streaming needs string audio_path and source_path");
        return -1;
    }
    if (binary && !json_is_true(binary)) {
        snprintf(err, errlen, "only binary frames are served: \"binary\" must be true");
        return -1;
    }
    bool realtime = true, want_audio = false;
    fc_codec codec = FC_CODEC_JPEG;
    fc_sub_opts opts = {.auto_tier = true, .tier = FC_TIER_HIGH, .queue = env->queue};
    if (json_is_object(run)) {
        json_t *v;
        if ((v = json_object_get(run, "realtime"))) {
            if (!json_is_boolean(v)) {
                snprintf(err, errlen, "run_kwargs.realtime must be true or false");
                return -1;
            }
            realtime = json_is_true(v);
        }
        if ((v = json_object_get(run, "audio"))) {
            if (!json_is_boolean(v)) {
                snprintf(err, errlen, "run_kwargs.audio must be true or false");
                return -1;
            }
            want_audio = json_is_true(v);
        }
        if ((v = json_object_get(run, "format"))) {
            const char *f = json_string_value(v);
            if (f && strcmp(f, "webp") == 0) {
                codec = FC_CODEC_WEBP;
            } else if (!f || strcmp(f, "jpeg") != 0) {
                snprintf(err, errlen, "run_kwargs.format must be \"jpeg\" or \"webp\"");
                return -1;
            }
        }
        if ((v = json_object_get(run, "quality"))) {
            const char *q = json_string_value(v);
            if (q && strcmp(q, "auto") == 0) {
                opts.auto_tier = true;
            } else if (q && fc_tier_parse(q, &opts.tier) == 0) {
                opts.auto_tier = false;
            } else {
                snprintf(err, errlen,
                         "run_kwargs.quality must be \"auto\", \"high\", \"medium\" or \"low\"");
                return -1;
            }
        }
        if ((v = json_object_get(run, "queue"))) {
            json_int_t n = json_integer_value(v);
            if (!json_is_integer(v) || n < 1 || n > FC_QUEUE_MAX) {
                snprintf(err, errlen, "run_kwargs.queue must be a whole number from 1 to %d",
                         FC_QUEUE_MAX);
                return -1;
            }
            opts.queue = (size_t)n;
        }
    } else if (run && !json_is_null(run)) {
        snprintf(err, errlen, "run_kwargs must be an object");
        return -1;
    }
    int bad = 0;
    fc_avatar *a = calloc(1, sizeof *a);
    if (a) {
        a->audio_path = strdup(audio);
        a->source_path = strdup(source);
        a->setup_json = kwargs_json(msg, "setup_kwargs", &bad);
        a->run_json = kwargs_json(msg, "run_kwargs", &bad);
    }
    prepare_job *p = calloc(1, sizeof *p);
    if (!a || !p || bad || !a->audio_path || !a->source_path || !a->setup_json || !a->run_json) {
        snprintf(err, errlen, bad ? "setup_kwargs and run_kwargs must be objects"
                                  : "out of memory starting a session");
        goto fail;
    }
    char name[128];
    snprintf(name, sizeof name, "avatar %.60s", client_id);
    fc_hub_init(&a->hub, name);
    if (fc_hub_add(&a->hub, &opts, on_sub_wake, a, &a->sub) != 0) {
        snprintf(err, errlen, "out of memory starting a session");
        goto fail;
    }
    a->env = env;
    a->cb = *cb;
    a->ctx = ctx;
    snprintf(a->client_id, sizeof a->client_id, "%s", client_id);
    a->realtime = realtime;
    a->want_audio = want_audio;
    a->codec = codec;
    a->state = PREPARING;
    a->start_ns = fc_now_ns();
    uv_timer_init(&env->loop->uv, &a->timer);
    a->timer.data = a;
    env->stats.started++;
    env->stats.active++;
    env->alive++;
    send_json(a, json_pack("{s:s}", "type", "streaming_started"));

    p->job = (fc_job){
        .work = prepare_work, .done = prepare_done, .loop = env->loop, .role = FC_ROLE_SOURCE};
    p->a = a;
    a->inflight++;
    fc_pool_submit(env->pool, &p->job);
    *out = a;
    return 0;

fail:
    if (a) {
        free(a->audio_path);
        free(a->source_path);
        free(a->setup_json);
        free(a->run_json);
    }
    free(a);
    free(p);
    return -1;
}

static void drop_queued(fc_avatar *a)
{
    fc_frame *f;
    while ((f = fc_queue_pop(&a->sub->queue)))
        fc_frame_unref(f);
}

void fc_avatar_stop(fc_avatar *a)
{
    if (a->state == ENDED) return;
    uint32_t sent = (uint32_t)a->sub->frames_sent;
    end_session(a);
    a->env->stats.stopped++;
    fc_job *j = fc_stage_cancel_pending(&a->stage);
    if (j) frame_free(fc_container_of(j, frame_job, job));
    drop_queued(a);
    send_json(a, json_pack("{s:s, s:b, s:I}", "type", "streaming_completed", "stopped", 1, "frames",
                           (json_int_t)sent));
    maybe_teardown(a);
}

bool fc_avatar_ended(const fc_avatar *a)
{
    return a->state == ENDED;
}

bool fc_avatar_has_frames(const fc_avatar *a)
{
    return fc_queue_len(&a->sub->queue) > 0;
}

fc_frame *fc_avatar_next_frame(fc_avatar *a)
{
    fc_frame *f = fc_sub_next(a->sub, fc_now_ns());
    if (!f) return NULL;
    a->env->stats.frames_sent++;
    if (!a->first_sent) {
        a->first_sent = true;
        fc_histogram_observe(&a->env->stats.first_frame_ms,
                             (double)(fc_now_ns() - a->start_ns) / 1e6);
    }
    maybe_submit_ahead(a);
    check_end(a);
    return f;
}

static void on_timer_closed(uv_handle_t *h)
{
    fc_avatar *a = h->data;
    a->timer_closed = true;
    maybe_free(a);
}

void fc_avatar_release(fc_avatar *a)
{
    if (!a) return;
    if (a->state != ENDED) {
        end_session(a);
        a->env->stats.stopped++;
        fc_job *j = fc_stage_cancel_pending(&a->stage);
        if (j) frame_free(fc_container_of(j, frame_job, job));
    }
    a->released = true;
    drop_queued(a);
    uv_close((uv_handle_t *)&a->timer, on_timer_closed);
    maybe_teardown(a);
}

/* ---- metrics ---- */

static void m_counter(fc_metrics_out *out, void *ctx, size_t off)
{
    fc_avatar_env *env = ctx;
    fc_metrics_sample(out, NULL, (double)*(uint64_t *)((char *)&env->stats + off));
}

#define COUNTER_FN(field)                                                                          \
    static void m_##field(fc_metrics_out *out, void *ctx)                                          \
    {                                                                                              \
        m_counter(out, ctx, offsetof(fc_avatar_stats, field));                                     \
    }
COUNTER_FN(active)
COUNTER_FN(frames_generated)
COUNTER_FN(frames_sent)
COUNTER_FN(frames_dropped)
COUNTER_FN(missed_deadlines)

static void m_sessions(fc_metrics_out *out, void *ctx)
{
    fc_avatar_stats *s = &((fc_avatar_env *)ctx)->stats;
    fc_metrics_sample(out, "outcome=\"started\"", (double)s->started);
    fc_metrics_sample(out, "outcome=\"completed\"", (double)s->completed);
    fc_metrics_sample(out, "outcome=\"stopped\"", (double)s->stopped);
    fc_metrics_sample(out, "outcome=\"failed\"", (double)s->failed);
}

static void m_cpu(fc_metrics_out *out, void *ctx)
{
    fc_avatar_stats *s = &((fc_avatar_env *)ctx)->stats;
    fc_metrics_sample(out, "stage=\"prepare\"", (double)s->prepare_cpu_ns / 1e9);
    fc_metrics_sample(out, "stage=\"generate\"", (double)s->generate_cpu_ns / 1e9);
    fc_metrics_sample(out, "stage=\"encode\"", (double)s->encode_cpu_ns / 1e9);
}

static void m_resamplers(fc_metrics_out *out, void *ctx)
{
    (void)ctx;
    fc_metrics_sample(out, NULL, (double)fc_audio_resamplers_created());
}

static void m_first_frame(fc_metrics_out *out, void *ctx)
{
    fc_metrics_histogram(out, NULL, &((fc_avatar_env *)ctx)->stats.first_frame_ms);
}

int fc_avatar_metrics_register(fc_metrics *m, fc_avatar_env *env)
{
    int rc = 0;
    rc |= fc_metrics_register(m, "fc_avatar_sessions_active", FC_METRIC_GAUGE,
                              "Avatar sessions preparing or streaming now", m_active, env);
    rc |= fc_metrics_register(m, "fc_avatar_sessions_total", FC_METRIC_COUNTER,
                              "Avatar sessions by outcome (started counts every one)", m_sessions,
                              env);
    rc |= fc_metrics_register(m, "fc_avatar_frames_generated_total", FC_METRIC_COUNTER,
                              "Avatar frames generated and encoded", m_frames_generated, env);
    rc |= fc_metrics_register(m, "fc_avatar_frames_sent_total", FC_METRIC_COUNTER,
                              "Avatar frames handed to client sockets", m_frames_sent, env);
    rc |=
        fc_metrics_register(m, "fc_avatar_frames_dropped_total", FC_METRIC_COUNTER,
                            "Avatar frames dropped from full client queues", m_frames_dropped, env);
    rc |= fc_metrics_register(m, "fc_avatar_missed_deadlines_total", FC_METRIC_COUNTER,
                              "Realtime avatar frames skipped or ready after the next was due",
                              m_missed_deadlines, env);
    rc |=
        fc_metrics_register(m, "fc_avatar_resamplers_created_total", FC_METRIC_COUNTER,
                            "Audio resamplers created (none when rates match)", m_resamplers, env);
    rc |= fc_metrics_register(m, "fc_avatar_cpu_seconds_total", FC_METRIC_COUNTER,
                              "Worker CPU used by avatar sessions, by stage", m_cpu, env);
    rc |= fc_metrics_register(m, "fc_avatar_first_frame_ms", FC_METRIC_HISTOGRAM,
                              "start_streaming to the first frame handed to the socket, ms",
                              m_first_frame, env);
    return rc ? -1 : 0;
}
