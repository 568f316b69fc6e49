/* The pushing sources (sources/av_source.h) driven directly, as the stream
 * will drive them: a real fc_loop and fc_pool, video fixtures made at test
 * time by Debian's ffmpeg CLI (make-fixtures.sh), a real RTSP camera
 * (tests/lib/rtsp_server.py, GStreamer) started, killed, frozen and
 * restarted by the tests, and small TCP servers on the test's own loop for
 * cameras that never answer or answer garbage.
 *
 * The program runs in a network namespace of its own: only loopback exists,
 * so nothing leaves the machine, not even the name lookup of the
 * unresolvable-host case. Every wait is for a condition (a frame, a state)
 * with a generous deadline; nothing sleeps. */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "analysis/face/face.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/pool.h"
#include "sources/av_source.h"
#include "sources/packet.h"

extern char **environ;

static char g_dir[256]; /* fixtures */

/* --- the loop and waiting for conditions -------------------------------- */

typedef struct env {
    fc_loop loop;
    fc_pool *pool;
    uv_timer_t deadline;
    bool timed_out;
    bool (*cond)(void *arg);
    void *cond_arg;
} env;

static env E;

static void check_cond(void)
{
    if (E.cond && E.cond(E.cond_arg)) uv_stop(&E.loop.uv);
}

static void on_deadline(uv_timer_t *t)
{
    (void)t;
    E.timed_out = true;
    uv_stop(&E.loop.uv);
}

/* Runs the loop until cond(arg) holds (checked after every source event) or
 * `seconds` pass. Returns whether it holds. */
static bool run_until(bool (*cond)(void *), void *arg, double seconds)
{
    if (cond(arg)) return true;
    E.cond = cond;
    E.cond_arg = arg;
    E.timed_out = false;
    uv_timer_start(&E.deadline, on_deadline, (uint64_t)(seconds * 1000), 0);
    while (!cond(arg) && !E.timed_out)
        uv_run(&E.loop.uv, UV_RUN_DEFAULT);
    uv_timer_stop(&E.deadline);
    E.cond = NULL;
    return cond(arg);
}

/* --- one source under test ---------------------------------------------- */

#define MAX_FRAMES 4096
#define MAX_PACKETS 4096
#define MAX_STATES 256

typedef struct src_h {
    fc_source *src;
    fc_source_demand demand;
    /* Frames seen. */
    int nframes;
    uint32_t ids[MAX_FRAMES];
    double ts[MAX_FRAMES];
    uint64_t mono[MAX_FRAMES];
    int fw[MAX_FRAMES], fh[MAX_FRAMES];
    fc_frame *keep; /* the frame asked for with keep_at */
    int keep_at;
    /* Packets seen. */
    int npackets, nkeys;
    double pts_capture[MAX_PACKETS];
    bool pkt_key[MAX_PACKETS];
    bool annexb_ok, keys_have_sps;
    /* Formats and states. */
    int nformats;
    fc_source_format formats[16];
    int nstates;
    fc_source_state states[MAX_STATES];
    fc_source_status status; /* the last reported */
    bool stopped;
    /* What the wait is for. */
    int want_frames;
    fc_source_state want_state;
    int want_state_count; /* that many entries into want_state */
    bool (*on_packet_hook)(struct src_h *h);
    int nsegments;
} src_h;

static int state_count(const src_h *h, fc_source_state s)
{
    int n = 0;
    for (int i = 0; i < h->nstates; i++)
        n += h->states[i] == s;
    return n;
}

static void sink_frame(void *ctx, fc_frame *f)
{
    src_h *h = ctx;
    if (h->nframes < MAX_FRAMES) {
        h->ids[h->nframes] = f->id;
        h->ts[h->nframes] = f->timestamp;
        h->mono[h->nframes] = fc_now_ns();
        h->fw[h->nframes] = f->width;
        h->fh[h->nframes] = f->height;
        if (h->keep_at == h->nframes && !h->keep) h->keep = fc_frame_ref(f);
        h->nframes++;
    }
    check_cond();
}

/* Annex-B: a start code first; key frames carry their SPS in-band. */
static void look_at_packet(src_h *h, fc_packet *p)
{
    size_t len;
    const uint8_t *d = fc_packet_data(p, &len);
    bool sc = len >= 4 && ((d[0] == 0 && d[1] == 0 && d[2] == 1) ||
                           (d[0] == 0 && d[1] == 0 && d[2] == 0 && d[3] == 1));
    if (!sc) h->annexb_ok = false;
    if (fc_packet_key(p)) {
        bool sps = false;
        for (size_t i = 0; i + 3 < len; i++)
            if (d[i] == 0 && d[i + 1] == 0 && d[i + 2] == 1 && (d[i + 3] & 0x1f) == 7) sps = true;
        if (!sps) h->keys_have_sps = false;
    }
}

static void sink_packet(void *ctx, fc_packet *p)
{
    src_h *h = ctx;
    if (fc_packet_kind_of(p) == FC_PACKET_SEGMENT) {
        /* Every input's parameters, whatever the demand. */
        h->nsegments++;
        return;
    }
    if (h->npackets < MAX_PACKETS) {
        h->pts_capture[h->npackets] = fc_packet_time(p);
        h->pkt_key[h->npackets] = fc_packet_key(p);
    }
    h->npackets++;
    h->nkeys += fc_packet_key(p);
    look_at_packet(h, p);
    if (h->on_packet_hook && h->on_packet_hook(h)) h->on_packet_hook = NULL;
    check_cond();
}

static void sink_format(void *ctx, const fc_source_format *f)
{
    src_h *h = ctx;
    if (h->nformats < 16) h->formats[h->nformats++] = *f;
    check_cond();
}

static void sink_state(void *ctx, const fc_source_status *st)
{
    src_h *h = ctx;
    if (h->nstates < MAX_STATES) h->states[h->nstates++] = st->state;
    h->status = *st;
    check_cond();
}

static void sink_stopped(void *ctx)
{
    src_h *h = ctx;
    h->stopped = true;
    check_cond();
}

static bool has_frames(void *arg)
{
    src_h *h = arg;
    return h->nframes >= h->want_frames;
}

static bool has_state(void *arg)
{
    src_h *h = arg;
    return state_count(h, h->want_state) >= h->want_state_count;
}

static bool is_stopped(void *arg)
{
    return ((src_h *)arg)->stopped;
}

static void open_spec(src_h *h, const char *spec, int w, int hgt, double fps, double idle_close)
{
    memset(h, 0, sizeof *h);
    h->keep_at = -1;
    h->annexb_ok = h->keys_have_sps = true;
    fc_source_spec s;
    char err[512];
    if (fc_source_spec_parse(spec, &s, err, sizeof err) != 0) fail_msg("%s", err);
    assert_true(fc_source_spec_pushes(&s));
    if (fc_av_source_create(&s, w, hgt, fps, &h->src, err, sizeof err) != 0) fail_msg("%s", err);
    assert_null(h->src->ops->render);
    fc_source_sink sink = {.ctx = h,
                           .on_frame = sink_frame,
                           .on_packet = sink_packet,
                           .on_format = sink_format,
                           .on_state = sink_state,
                           .on_stopped = sink_stopped};
    if (h->src->ops->start(h->src, &E.loop, E.pool, &sink, idle_close, err, sizeof err) != 0)
        fail_msg("%s", err);
}

static void demand(src_h *h, bool pixels, bool packets, bool key_only, double fps)
{
    h->demand =
        (fc_source_demand){.pixels = pixels, .packets = packets, .key_only = key_only, .fps = fps};
    h->src->ops->set_demand(h->src, &h->demand);
}

static void open_file(src_h *h, const char *name, const char *opts)
{
    char spec[1024];
    snprintf(spec, sizeof spec, "file:%s/%s%s", g_dir, name, opts ? opts : "");
    open_spec(h, spec, 0, 0, 0, 0);
}

static fc_source_status status_of(src_h *h)
{
    fc_source_status st;
    h->src->ops->get_status(h->src, &st);
    return st;
}

static void wait_frames(src_h *h, int n, double seconds)
{
    h->want_frames = n;
    if (!run_until(has_frames, h, seconds)) {
        fc_source_status st = status_of(h);
        fail_msg("%s: %d of %d frames in %g s (state %s, error '%s')", h->src->description,
                 h->nframes, n, seconds, fc_source_state_name(st.state), st.error);
    }
}

static void wait_state(src_h *h, fc_source_state s, int count, double seconds)
{
    h->want_state = s;
    h->want_state_count = count;
    if (!run_until(has_state, h, seconds)) {
        fc_source_status st = status_of(h);
        fail_msg("%s: never %s (x%d) in %g s: state %s, error '%s'", h->src->description,
                 fc_source_state_name(s), count, seconds, fc_source_state_name(st.state), st.error);
    }
}

static void close_source(src_h *h)
{
    h->src->ops->stop(h->src);
    assert_true(run_until(is_stopped, h, 20));
    fc_frame_unref(h->keep);
    h->keep = NULL;
    fc_source_destroy(h->src);
    h->src = NULL;
}

static void assert_increasing(const src_h *h)
{
    for (int i = 1; i < h->nframes; i++) {
        if (h->ids[i] <= h->ids[i - 1])
            fail_msg("frame %d: id %u after %u", i, h->ids[i], h->ids[i - 1]);
        if (!(h->ts[i] > h->ts[i - 1]))
            fail_msg("frame %d: time %.6f after %.6f", i, h->ts[i], h->ts[i - 1]);
    }
}

static void assert_error_has(src_h *h, const char *needle)
{
    fc_source_status st = status_of(h);
    if (!strstr(st.error, needle))
        fail_msg("%s: error '%s' does not say '%s'", h->src->description, st.error, needle);
}

static int teardown_leaks(void **state)
{
    (void)state;
    /* Every frame and packet a source made is gone once it stopped. */
    assert_int_equal(fc_frame_live_count(), 0);
    assert_int_equal(fc_packet_live_count(), 0);
    return 0;
}

/* --- files -------------------------------------------------------------- */

static void file_plays_at_its_rate_and_loops(void **state)
{
    (void)state;
    src_h *h = calloc(1, sizeof *h);
    open_file(h, "h264.mp4", ",loop");
    /* Nothing asked yet: the file is opened at once (connecting, while its
     * thread opens it) and then waits paused (idle); it never plays. */
    fc_source_state before = status_of(h).state;
    if (before != FC_SOURCE_IDLE && before != FC_SOURCE_CONNECTING)
        fail_msg("before any demand: %s", fc_source_state_name(before));
    demand(h, true, false, false, 0);
    /* The file has 60 frames (2 s at 30 fps): 75 cross the loop. */
    wait_frames(h, 75, 30);
    assert_increasing(h);
    /* At its own rate, not as fast as it can be read: 74 frame periods
     * cannot pass in less than (most of) 74/30 s, on capture times or on
     * the monotonic clock. */
    double span = h->ts[74] - h->ts[0];
    double mono = (double)(h->mono[74] - h->mono[0]) / 1e9;
    if (span < 0.9 * 74 / 30 || mono < 0.9 * 74 / 30)
        fail_msg("75 frames over %.3f s (capture) / %.3f s (clock): faster than 30 fps", span,
                 mono);
    /* At least 90% of the frames in that span arrived. */
    int expected = (int)(span * 30) + 1;
    if (h->nframes < expected * 9 / 10) fail_msg("%d frames for a %.2f s span", h->nframes, span);
    assert_true(h->ids[74] >= 60);
    assert_true(h->nformats >= 1);
    assert_string_equal(h->formats[h->nformats - 1].codec, "h264");
    assert_int_equal(h->formats[h->nformats - 1].out_width, 320);
    assert_int_equal(h->formats[h->nformats - 1].out_height, 240);
    assert_true(h->formats[h->nformats - 1].fps > 29 && h->formats[h->nformats - 1].fps < 31);
    assert_int_equal(state_count(h, FC_SOURCE_ENDED), 0);
    assert_int_equal(state_count(h, FC_SOURCE_LIVE), 1);
    fc_source_status st = status_of(h);
    assert_int_equal(st.state, FC_SOURCE_LIVE);
    assert_int_equal(st.decode_dropped, 0);
    close_source(h);
    free(h);
}

static void file_without_loop_ends_after_its_last_frame(void **state)
{
    (void)state;
    static const struct {
        const char *name, *codec;
        int frames;
    } files[] = {{"vp8.webm", "vp8", 50}, {"h264-bframes.mp4", "h264", 60}};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        src_h *h = calloc(1, sizeof *h);
        open_file(h, files[i].name, NULL);
        demand(h, true, false, false, 0);
        wait_state(h, FC_SOURCE_ENDED, 1, 30);
        /* "ended" comes after the last frame, not before the decoder is
         * drained (B-frames sit in its reorder buffer): every frame is
         * delivered by then, or counted as dropped because a machine busy
         * elsewhere let the decoder fall behind (rule: drop to a key frame). */
        fc_source_status st = status_of(h);
        int dropped = (int)(st.decode_dropped + st.handoff_dropped);
        if (h->nframes + dropped != files[i].frames)
            fail_msg("%s: %d frames delivered, %d dropped, of %d", files[i].name, h->nframes,
                     dropped, files[i].frames);
        assert_true(h->nframes > 0);
        assert_increasing(h);
        assert_string_equal(h->formats[0].codec, files[i].codec);
        assert_string_equal(h->status.error, "");
        close_source(h);
        free(h);
    }
}

static void key_frame_only_decodes_only_key_frames(void **state)
{
    (void)state;
    /* 60 frames, a key frame every 15. */
    for (int key_only = 0; key_only <= 1; key_only++) {
        src_h *h = calloc(1, sizeof *h);
        open_file(h, "h264.mp4", NULL);
        demand(h, true, false, key_only, 0);
        wait_state(h, FC_SOURCE_ENDED, 1, 30);
        fc_source_status st = status_of(h);
        assert_int_equal(st.key_frames_decoded, 4);
        assert_int_equal(st.frames_decoded, key_only ? 4 : 60);
        assert_int_equal(h->nframes, key_only ? 4 : 60);
        assert_int_equal(st.packets, 60);
        close_source(h);
        free(h);
    }
}

static bool decodes_key_frames_only(void *arg)
{
    return status_of(arg).key_only;
}

/* key_only with key_min_fps: key frames only once the source has measured
 * that they come at least that often (h264.mp4: one every 0.5 s, 2 a
 * second), every frame otherwise. */
static void key_frames_only_while_they_come_often_enough(void **state)
{
    (void)state;
    src_h *h = calloc(1, sizeof *h);
    open_file(h, "h264.mp4", ",loop");
    h->demand = (fc_source_demand){.pixels = true, .fps = 2, .key_only = true, .key_min_fps = 1.5};
    h->src->ops->set_demand(h->src, &h->demand);
    assert_true(run_until(decodes_key_frames_only, h, 20));
    double interval = status_of(h).key_interval;
    if (interval < 0.45 || interval > 0.55) fail_msg("key interval %.3f s, not 0.5", interval);
    /* Deltas queued before the switch are decoded still; then only keys. */
    wait_frames(h, h->nframes + 2, 20);
    fc_source_status a = status_of(h);
    wait_frames(h, h->nframes + 4, 20);
    fc_source_status b = status_of(h);
    assert_true(b.key_frames_decoded - a.key_frames_decoded >= 4);
    assert_int_equal(b.frames_decoded - a.frames_decoded,
                     b.key_frames_decoded - a.key_frames_decoded);
    close_source(h);
    free(h);

    /* Asked for 3 a second, they come at 2: every frame is decoded (and
     * decimated to the 3 asked for). */
    h = calloc(1, sizeof *h);
    open_file(h, "h264.mp4", ",loop");
    h->demand = (fc_source_demand){.pixels = true, .fps = 3, .key_only = true, .key_min_fps = 3};
    h->src->ops->set_demand(h->src, &h->demand);
    wait_frames(h, 9, 20);
    fc_source_status st = status_of(h);
    assert_true(st.key_interval > 0.45 && st.key_interval < 0.55);
    assert_false(st.key_only);
    assert_true(st.frames_decoded >= 2 * st.key_frames_decoded + 20);
    close_source(h);
    free(h);
}

static void packets_only_are_annexb_and_not_decoded(void **state)
{
    (void)state;
    src_h *h = calloc(1, sizeof *h);
    open_file(h, "h264.mp4", NULL); /* MP4 keeps H.264 length-prefixed */
    demand(h, false, true, false, 0);
    wait_state(h, FC_SOURCE_ENDED, 1, 30);
    assert_int_equal(h->npackets, 60);
    assert_true(h->nsegments >= 1); /* the file's parameters came first */
    assert_int_equal(h->nkeys, 4);
    assert_true(h->annexb_ok);
    assert_true(h->keys_have_sps);
    fc_source_status st = status_of(h);
    assert_int_equal(st.frames_decoded, 0);
    assert_int_equal(h->nframes, 0);
    assert_true(h->nformats >= 1 && strcmp(h->formats[0].codec, "h264") == 0);
    close_source(h);
    free(h);
}

static void size_and_fps_scale_and_decimate(void **state)
{
    (void)state;
    src_h *h = calloc(1, sizeof *h);
    open_file(h, "h264.mp4", ",size=160x120,fps=10");
    demand(h, true, false, false, 0);
    wait_state(h, FC_SOURCE_ENDED, 1, 30);
    for (int i = 0; i < h->nframes; i++) {
        assert_int_equal(h->fw[i], 160);
        assert_int_equal(h->fh[i], 120);
    }
    /* 2 s at a 10 fps cap: about 20 of the 60 decoded. */
    if (h->nframes < 18 || h->nframes > 22) fail_msg("%d frames at fps=10 from 2 s", h->nframes);
    assert_int_equal(status_of(h).frames_decoded, 60);
    /* The consumer's fps caps further. */
    fc_source_status st = status_of(h);
    assert_int_equal(st.frames_delivered, (uint64_t)h->nframes);
    close_source(h);
    free(h);
}

static void resolution_change_reports_a_new_format(void **state)
{
    (void)state;
    src_h *h = calloc(1, sizeof *h);
    open_file(h, "size-change.ts", NULL);
    demand(h, true, false, false, 0);
    wait_state(h, FC_SOURCE_ENDED, 1, 30);
    int small = 0, large = 0, first_large = -1;
    for (int i = 0; i < h->nframes; i++) {
        if (h->fw[i] == 320 && h->fh[i] == 240)
            small++;
        else if (h->fw[i] == 480 && h->fh[i] == 272)
            large += first_large < 0 ? (first_large = i, 1) : 1;
        else
            fail_msg("frame %d is %dx%d", i, h->fw[i], h->fh[i]);
    }
    assert_true(small >= 25 && large >= 25);
    for (int i = first_large; i < h->nframes; i++)
        assert_int_equal(h->fw[i], 480); /* it does not flip back */
    bool saw_small = false, saw_large = false;
    for (int i = 0; i < h->nformats; i++) {
        saw_small |= h->formats[i].out_width == 320 && h->formats[i].out_height == 240;
        saw_large |= h->formats[i].out_width == 480 && h->formats[i].out_height == 272;
    }
    assert_true(saw_small && saw_large);
    assert_increasing(h);
    close_source(h);
    free(h);
}

/* Each frame's capture time is its packet's: where consecutive frames skip
 * packets, the first packet after the gap must be a key frame (never a delta
 * after a gap). Returns how many gaps there were. */
static int gaps_resume_at_key_frames(const src_h *h)
{
    int gaps = 0, prev = -1;
    for (int i = 0; i < h->nframes; i++) {
        int k = -1;
        for (int j = prev + 1; j < h->npackets && j < MAX_PACKETS; j++)
            if (h->pts_capture[j] == h->ts[i]) {
                k = j;
                break;
            }
        if (k < 0) fail_msg("frame %d (t %.6f) matches no packet", i, h->ts[i]);
        if (prev >= 0 && k != prev + 1) {
            gaps++;
            if (!h->pkt_key[k]) fail_msg("frame %d: decoding resumed at packet %d, a delta", i, k);
        }
        prev = k;
    }
    return gaps;
}

static void key_frame_only_to_full_resumes_at_a_key_frame(void **state)
{
    (void)state;
    src_h *h = calloc(1, sizeof *h);
    open_file(h, "h264.mp4", ",loop");
    demand(h, true, true, true, 0);
    wait_frames(h, 3, 30); /* three key frames, deltas skipped between them */
    demand(h, true, true, false, 0);
    wait_frames(h, 70, 30); /* across the file's loop */
    assert_true(gaps_resume_at_key_frames(h) >= 2);
    assert_int_equal(status_of(h).decode_errors, 0);
    assert_increasing(h);
    close_source(h);
    free(h);
}

/* Holds the only worker of a pool until released. */
typedef struct blocker {
    fc_job job;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool release, done;
} blocker;

static void blocker_work(fc_job *j)
{
    blocker *b = fc_container_of(j, blocker, job);
    pthread_mutex_lock(&b->mu);
    while (!b->release)
        pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
}

static void blocker_done(fc_job *j)
{
    fc_container_of(j, blocker, job)->done = true;
}

static blocker g_blocker;

static bool release_when_dropping(src_h *h)
{
    fc_source_status st;
    h->src->ops->get_status(h->src, &st);
    if (st.decode_dropped == 0) return false;
    pthread_mutex_lock(&g_blocker.mu);
    g_blocker.release = true;
    pthread_cond_signal(&g_blocker.cv);
    pthread_mutex_unlock(&g_blocker.mu);
    return true;
}

static void decode_behind_drops_to_the_next_key_frame(void **state)
{
    (void)state;
    /* A pool of one worker, kept busy by another job (another stream's
     * heavy work), while the file goes on at its rate. */
    fc_pool *mine = E.pool;
    assert_int_equal(fc_pool_create(1, &E.pool), 0);
    memset(&g_blocker, 0, sizeof g_blocker);
    pthread_mutex_init(&g_blocker.mu, NULL);
    pthread_cond_init(&g_blocker.cv, NULL);
    g_blocker.job = (fc_job){.work = blocker_work, .done = blocker_done, .loop = &E.loop};
    fc_pool_submit(E.pool, &g_blocker.job);

    src_h *h = calloc(1, sizeof *h);
    open_file(h, "h264.mp4", ",loop");
    h->on_packet_hook = release_when_dropping;
    demand(h, true, true, false, 0);
    wait_frames(h, 40, 40);
    assert_true(g_blocker.release);
    fc_source_status st = status_of(h);
    assert_true(st.decode_dropped > 0);
    assert_int_equal(st.decode_errors, 0);
    assert_true(gaps_resume_at_key_frames(h) >= 1);
    close_source(h);
    free(h);
    fc_pool_destroy(E.pool); /* runs the blocker's done on the loop later */
    uv_run(&E.loop.uv, UV_RUN_NOWAIT);
    E.pool = mine;
    pthread_cond_destroy(&g_blocker.cv);
    pthread_mutex_destroy(&g_blocker.mu);
}

/* Root reads anything: drop the capabilities that let it (this thread's, so
 * the demux thread started now inherits them) while the case runs. */
static void set_dac_override(bool on)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    assert_int_equal(syscall(SYS_capget, &hdr, data), 0);
    uint32_t bits = (1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH);
    if (on)
        data[0].effective |= bits & data[0].permitted;
    else
        data[0].effective &= ~bits;
    assert_int_equal(syscall(SYS_capset, &hdr, data), 0);
}

static void bad_files_fail_with_the_reason(void **state)
{
    (void)state;
    char unreadable[512];
    snprintf(unreadable, sizeof unreadable, "%s/unreadable.mp4", g_dir);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cp '%s/h264.mp4' '%s' && chmod 000 '%s'", g_dir, unreadable,
             unreadable);
    assert_int_equal(system(cmd), 0);
    static const struct {
        const char *name, *needle;
    } bad[] = {
        {"missing.mp4", "No such file or directory"},
        {"unreadable.mp4", "Permission denied"},
        {"empty.mp4", "open: "},
        {"random.bin", "Invalid data found"},
        {"truncated-moov.mp4", "moov atom not found"},
        {"audio-only.wav", "no video stream"},
        {"ffv1.mkv", "video codec 'ffv1' is not supported"},
    };
    set_dac_override(false);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        src_h *h = calloc(1, sizeof *h);
        /* Nobody asks for it: a file is opened at start all the same, so
         * it says what is wrong at once. */
        open_file(h, bad[i].name, ",loop");
        wait_state(h, FC_SOURCE_FAILED, 1, 20);
        assert_error_has(h, bad[i].needle);
        assert_int_equal(h->nframes, 0);
        close_source(h);
        free(h);
    }
    set_dac_override(true);
}

static void damaged_files_play_what_they_can(void **state)
{
    (void)state;
    /* Cut at 60%: the frames up to the cut, then "ended". */
    src_h *h = calloc(1, sizeof *h);
    open_file(h, "truncated.mp4", NULL);
    demand(h, true, false, false, 0);
    wait_state(h, FC_SOURCE_ENDED, 1, 30);
    if (h->nframes < 20 || h->nframes >= 60)
        fail_msg("%d frames from a file cut at 60%%", h->nframes);
    assert_increasing(h);
    close_source(h);
    free(h);

    /* Garbage over the middle third: the decoder refuses or conceals, the
     * source goes on to the end. */
    h = calloc(1, sizeof *h);
    open_file(h, "corrupt-middle.mp4", NULL);
    demand(h, true, false, false, 0);
    wait_state(h, FC_SOURCE_ENDED, 1, 30);
    assert_true(h->nframes >= 20);
    assert_true(status_of(h).decode_errors > 0);
    assert_increasing(h);
    close_source(h);
    free(h);
}

static void a_file_pauses_while_nobody_wants_it(void **state)
{
    (void)state;
    src_h *h = calloc(1, sizeof *h);
    open_file(h, "h264.mp4", ",loop");
    demand(h, true, false, false, 0);
    wait_frames(h, 10, 20);
    /* Files are opened at start and idle until wanted: count from here. */
    int idle = state_count(h, FC_SOURCE_IDLE);
    demand(h, false, false, false, 0);
    wait_state(h, FC_SOURCE_IDLE, idle + 1, 20);
    int before = h->nframes;
    uint64_t packets = status_of(h).packets;
    demand(h, true, false, false, 0);
    wait_frames(h, before + 10, 20);
    assert_true(status_of(h).packets > packets);
    assert_increasing(h); /* ids and times go on after the pause */
    close_source(h);
    free(h);
}

/* --- synthetic:video ---------------------------------------------------- */

static fc_face_detector *open_detector(void)
{
    fc_face_detector *det;
    char err[512];
    if (fc_face_detector_open(FC_TEST_MODEL_DIR "/blazeface-front-128.onnx", NULL, &det, err,
                              sizeof err) != 0)
        fail_msg("%s", err);
    return det;
}

static int faces_in(fc_face_detector *det, const fc_frame *f, float *x)
{
    fc_faces faces;
    assert_int_equal(fc_face_detect_i420(det, f->plane[0], f->stride[0], f->plane[1], f->stride[1],
                                         f->plane[2], f->stride[2], f->width, f->height, &faces),
                     0);
    if (faces.count > 0 && x) *x = faces.face[0].x;
    return faces.count;
}

static void the_face_video_has_a_face_that_moves(void **state)
{
    (void)state;
    fc_face_detector *det = open_detector();
    float x[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        src_h *h = calloc(1, sizeof *h);
        open_file(h, "face.mp4", NULL);
        h->keep_at = k == 0 ? 5 : 100;
        demand(h, true, false, false, 0);
        wait_frames(h, h->keep_at + 1, 30);
        assert_int_equal(h->keep->width, 640);
        if (faces_in(det, h->keep, &x[k]) < 1)
            fail_msg("no face in frame %d of face.mp4", h->keep_at);
        close_source(h);
        free(h);
    }
    /* It moves 60 px a second to the right: 95 frames later, about 190 px. */
    if (x[1] - x[0] < 120) fail_msg("face at x=%.0f, then x=%.0f", x[0], x[1]);
    fc_face_detector_close(det);
}

static void synthetic_video_pans_a_looped_file(void **state)
{
    (void)state;
    fc_face_detector *det = open_detector();
    char spec[600];
    snprintf(spec, sizeof spec, "synthetic:video=%s/face.mp4", g_dir);
    src_h *h = calloc(1, sizeof *h);
    open_spec(h, spec, 320, 180, 30, 0);
    assert_non_null(strstr(h->src->description, "synthetic:video="));
    h->keep_at = 30;
    demand(h, true, false, false, 15); /* the consumer wants 15 of its 30 fps */
    wait_frames(h, 31, 30);
    for (int i = 0; i < h->nframes; i++) {
        assert_int_equal(h->fw[i], 320);
        assert_int_equal(h->fh[i], 180);
    }
    /* 30 frames at 15 fps span about 2 s of capture time. */
    double span = h->ts[30] - h->ts[0];
    if (span < 1.8) fail_msg("30 frames at a 15 fps cap over %.2f s", span);
    assert_true(faces_in(det, h->keep, NULL) >= 1);
    close_source(h);
    free(h);
    fc_face_detector_close(det);
}

/* --- an RTSP camera ----------------------------------------------------- */

typedef struct camera {
    pid_t pid;
    int out; /* its stdout */
    int port;
    char url[128];
    char buf[8192];
    size_t len;
} camera;

static camera g_cam;

static int occurrences(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* Reads the camera's stdout until `needle` has appeared `count` times in
 * all it printed, or timeout_ms pass. */
static bool camera_says(camera *c, const char *needle, int count, int timeout_ms)
{
    uint64_t end = fc_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    for (;;) {
        if (occurrences(c->buf, needle) >= count) return true;
        uint64_t now = fc_now_ns();
        if (now >= end || c->len + 1 >= sizeof c->buf) return false;
        struct pollfd pfd = {.fd = c->out, .events = POLLIN};
        if (poll(&pfd, 1, (int)((end - now) / 1000000ull) + 1) <= 0) continue;
        ssize_t r = read(c->out, c->buf + c->len, sizeof c->buf - 1 - c->len);
        if (r <= 0) return false;
        c->len += (size_t)r;
        c->buf[c->len] = '\0';
    }
}

static void camera_start(camera *c, int port, const char *const *extra)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    char portv[16];
    snprintf(portv, sizeof portv, "%d", port);
    const char *argv[32] = {"/usr/bin/python3", FC_TEST_RTSP_SERVER, "--port", portv};
    int n = 4;
    for (int i = 0; extra && extra[i] && n < 30; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    int rc = posix_spawn(&c->pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    assert_int_equal(rc, 0);
    c->out = fds[0];
    c->len = 0;
    c->buf[0] = '\0';
    if (!camera_says(c, "\"url\"", 1, 20000))
        fail_msg("the RTSP server did not start: '%s'", c->buf);
    const char *p = strstr(c->buf, "\"port\": ");
    assert_non_null(p);
    c->port = atoi(p + 8);
    snprintf(c->url, sizeof c->url, "rtsp://127.0.0.1:%d/stream", c->port);
}

/* Stops it and reads what it printed to the end. */
static void camera_kill(camera *c, int sig)
{
    if (c->pid <= 0) return;
    kill(c->pid, SIGCONT);
    kill(c->pid, sig);
    waitpid(c->pid, NULL, 0);
    c->pid = 0;
    while (c->len + 1 < sizeof c->buf) {
        ssize_t r = read(c->out, c->buf + c->len, sizeof c->buf - 1 - c->len);
        if (r <= 0) break;
        c->len += (size_t)r;
        c->buf[c->len] = '\0';
    }
    close(c->out);
}

static int teardown_camera(void **state)
{
    camera_kill(&g_cam, SIGKILL);
    return teardown_leaks(state);
}

static void open_camera_source(src_h *h, const char *opts, double idle_close)
{
    char spec[512];
    snprintf(spec, sizeof spec, "%s%s", g_cam.url, opts ? opts : "");
    open_spec(h, spec, 0, 0, 0, idle_close);
}

static void rtsp_camera_goes_live(void **state)
{
    (void)state;
    static const char *const args[] = {"--gop", "30", NULL};
    camera_start(&g_cam, 0, args);
    for (int udp = 0; udp <= 1; udp++) {
        src_h *h = calloc(1, sizeof *h);
        open_camera_source(h, udp ? ",transport=udp" : NULL, 0);
        demand(h, true, false, false, 0);
        wait_frames(h, 30, 30);
        assert_increasing(h);
        assert_int_equal(h->fw[0], 320);
        assert_int_equal(h->fh[0], 240);
        assert_int_equal(h->states[0], FC_SOURCE_CONNECTING);
        assert_int_equal(status_of(h).state, FC_SOURCE_LIVE);
        bool h264 = false;
        for (int i = 0; i < h->nformats; i++)
            h264 |= strcmp(h->formats[i].codec, "h264") == 0 && h->formats[i].out_width == 320;
        assert_true(h264);
        close_source(h);
        free(h);
    }
    camera_kill(&g_cam, SIGTERM);
}

static void rtsp_camera_killed_and_restarted_comes_back_changed(void **state)
{
    (void)state;
    camera_start(&g_cam, 0, NULL);
    int port = g_cam.port;
    src_h *h = calloc(1, sizeof *h);
    open_camera_source(h, NULL, 0);
    demand(h, true, false, false, 0);
    wait_frames(h, 10, 30);
    camera_kill(&g_cam, SIGKILL);
    wait_state(h, FC_SOURCE_RETRYING, 1, 30);
    fc_source_status st = status_of(h);
    assert_true(st.error[0] != '\0');
    int before = h->nframes;
    /* Back where its clients expect it, after a firmware update: another
     * codec and another size. */
    static const char *const vp8[] = {"--codec", "vp8", "--size", "480x272", NULL};
    camera_start(&g_cam, port, vp8);
    wait_state(h, FC_SOURCE_LIVE, 2, 60);
    assert_true(status_of(h).reconnects >= 1);
    wait_frames(h, before + 10, 30);
    assert_increasing(h); /* ids and capture times go on across the reconnect */
    assert_int_equal(h->fw[h->nframes - 1], 480);
    assert_int_equal(h->fh[h->nframes - 1], 272);
    const fc_source_format *f = &h->formats[h->nformats - 1];
    assert_string_equal(f->codec, "vp8");
    assert_true(f->out_width == 480 && f->out_height == 272);
    close_source(h);
    free(h);
    camera_kill(&g_cam, SIGTERM);
}

static void frozen_camera_trips_the_watchdog(void **state)
{
    (void)state;
    camera_start(&g_cam, 0, NULL);
    src_h *h = calloc(1, sizeof *h);
    open_camera_source(h, ",timeout=1", 0);
    demand(h, true, false, false, 0);
    wait_frames(h, 10, 30);
    kill(g_cam.pid, SIGSTOP);
    wait_state(h, FC_SOURCE_RETRYING, 1, 30);
    assert_error_has(h, "stalled");
    kill(g_cam.pid, SIGCONT);
    wait_state(h, FC_SOURCE_LIVE, 2, 60);
    int before = h->nframes;
    wait_frames(h, before + 5, 30);
    assert_increasing(h);
    close_source(h);
    free(h);
    camera_kill(&g_cam, SIGTERM);
}

static bool g_saw_password;

static void rtsp_401_and_404_fail_without_showing_credentials(void **state)
{
    (void)state;
    static const char *const args[] = {"--user", "viewer", "--password", "s3cret-pw", NULL};
    camera_start(&g_cam, 0, args);
    /* Everything logged meanwhile, at debug level, goes to a file. */
    char logpath[300];
    snprintf(logpath, sizeof logpath, "%s/auth.log", g_dir);
    fflush(stderr);
    int saved = dup(2), logfd = open(logpath, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    assert_true(saved >= 0 && logfd >= 0);
    dup2(logfd, 2);
    fc_log_set_level(FC_LOG_DEBUG);

    static const struct {
        const char *userinfo, *path, *needle;
        fc_source_state state;
    } cases[] = {
        {"", "/stream", "401", FC_SOURCE_FAILED},
        {"viewer:wrong-pw@", "/stream", "401", FC_SOURCE_FAILED},
        {"viewer:s3cret-pw@", "/nope", "404", FC_SOURCE_FAILED},
        {"viewer:s3cret-pw@", "/stream", NULL, FC_SOURCE_LIVE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char spec[256];
        snprintf(spec, sizeof spec, "rtsp://%s127.0.0.1:%d%s", cases[i].userinfo, g_cam.port,
                 cases[i].path);
        src_h *h = calloc(1, sizeof *h);
        open_spec(h, spec, 0, 0, 0, 0);
        demand(h, true, false, false, 0);
        wait_state(h, cases[i].state, 1, 30);
        if (cases[i].needle) assert_error_has(h, cases[i].needle);
        fc_source_status st = status_of(h);
        if (strstr(st.error, "pw") || strstr(h->src->description, "pw")) g_saw_password = true;
        if (cases[i].userinfo[0])
            assert_non_null(strstr(h->src->description, "rtsp://***@127.0.0.1"));
        close_source(h);
        free(h);
    }

    fc_log_set_level(FC_LOG_INFO);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(logfd);
    char log[65536];
    FILE *f = fopen(logpath, "r");
    size_t n = fread(log, 1, sizeof log - 1, f);
    fclose(f);
    log[n] = '\0';
    if (g_saw_password || strstr(log, "s3cret") || strstr(log, "wrong-pw")) fputs(log, stderr);
    assert_false(g_saw_password);
    assert_null(strstr(log, "s3cret"));
    assert_null(strstr(log, "wrong-pw"));
    assert_non_null(strstr(log, "***@127.0.0.1")); /* the state lines name the source */
    camera_kill(&g_cam, SIGTERM);
}

static void idle_camera_is_disconnected_and_reconnected_on_demand(void **state)
{
    (void)state;
    camera_start(&g_cam, 0, NULL);
    src_h *h = calloc(1, sizeof *h);
    open_camera_source(h, NULL, 0.5);
    demand(h, true, false, false, 0);
    wait_frames(h, 5, 30);
    assert_true(camera_says(&g_cam, "\"connected\"", 1, 5000));
    demand(h, false, false, false, 0);
    wait_state(h, FC_SOURCE_IDLE, 1, 20);
    assert_true(camera_says(&g_cam, "\"closed\"", 1, 10000));
    int before = h->nframes;
    demand(h, true, false, false, 0);
    wait_frames(h, before + 5, 30);
    assert_true(camera_says(&g_cam, "\"connected\"", 2, 5000));
    assert_int_equal(status_of(h).reconnects, 0); /* a reconnect on demand is no failure */
    close_source(h);
    free(h);
    camera_kill(&g_cam, SIGTERM);
    /* One session per time it was wanted: none before, none while idle. */
    assert_int_equal(occurrences(g_cam.buf, "\"connected\""), 2);
}

/* --- cameras that are not there or not right --------------------------- */

typedef struct fake_server {
    uv_tcp_t listener;
    int port;
    bool garbage; /* answer every connection with junk, then hang up */
    int accepted;
    uv_tcp_t *held[64]; /* silent: connections kept open, never written to */
    int nheld;
} fake_server;

static void on_closed_free(uv_handle_t *h)
{
    free(h);
}

static void on_written(uv_write_t *w, int status)
{
    (void)status;
    uv_close((uv_handle_t *)w->handle, on_closed_free);
    free(w);
}

static void on_fake_conn(uv_stream_t *l, int status)
{
    fake_server *s = l->data;
    if (status < 0) return;
    uv_tcp_t *c = malloc(sizeof *c);
    uv_tcp_init(l->loop, c);
    if (uv_accept(l, (uv_stream_t *)c) != 0) {
        uv_close((uv_handle_t *)c, on_closed_free);
        return;
    }
    s->accepted++;
    if (s->garbage) {
        static char junk[4096];
        for (size_t i = 0; i < sizeof junk; i++)
            junk[i] = (char)(i * 2654435761u >> 13);
        memcpy(junk, "RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n", 29);
        uv_write_t *w = malloc(sizeof *w);
        uv_buf_t b = uv_buf_init(junk, sizeof junk);
        uv_write(w, (uv_stream_t *)c, &b, 1, on_written);
    } else if (s->nheld < 64) {
        s->held[s->nheld++] = c;
    } else {
        uv_close((uv_handle_t *)c, on_closed_free);
    }
}

static void fake_start(fake_server *s, bool garbage)
{
    memset(s, 0, sizeof *s);
    s->garbage = garbage;
    uv_tcp_init(&E.loop.uv, &s->listener);
    s->listener.data = s;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    assert_int_equal(uv_tcp_bind(&s->listener, (const struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&s->listener, 16, on_fake_conn), 0);
    struct sockaddr_in got;
    int len = sizeof got;
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&got, &len);
    s->port = ntohs(got.sin_port);
}

static void fake_stop(fake_server *s)
{
    for (int i = 0; i < s->nheld; i++)
        uv_close((uv_handle_t *)s->held[i], on_closed_free);
    uv_close((uv_handle_t *)&s->listener, NULL);
    uv_run(&E.loop.uv, UV_RUN_NOWAIT);
}

static void broken_cameras_retry_with_the_reason(void **state)
{
    (void)state;
    /* A healthy file source beside them must not notice. */
    src_h *good = calloc(1, sizeof *good);
    open_file(good, "h264.mp4", ",loop");
    demand(good, true, false, false, 0);

    fake_server silent, garbage;
    fake_start(&silent, false);
    fake_start(&garbage, true);
    struct {
        char spec[256];
        const char *needle;
    } cases[] = {
        {"", "no answer within 1 s (stalled)"}, /* accepts, never sends */
        {"", "Invalid data"},                   /* sends garbage */
        {"rtsp://no-such-camera.invalid/stream,timeout=3", "resolve"},
        {"", "Connection refused"}, /* nothing listens */
    };
    snprintf(cases[0].spec, sizeof cases[0].spec, "rtsp://127.0.0.1:%d/x,timeout=1", silent.port);
    snprintf(cases[1].spec, sizeof cases[1].spec, "rtsp://127.0.0.1:%d/x,timeout=1", garbage.port);
    /* A port nothing listens on: the silent server's, once closed, is not
     * known to be free; take a fresh socket's and close it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t alen = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    getsockname(fd, (struct sockaddr *)&a, &alen);
    close(fd);
    snprintf(cases[3].spec, sizeof cases[3].spec, "rtsp://127.0.0.1:%d/x", ntohs(a.sin_port));

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        src_h *h = calloc(1, sizeof *h);
        open_spec(h, cases[i].spec, 0, 0, 0, 0);
        demand(h, true, false, false, 0);
        /* It says why, keeps trying (backoff), and keeps nothing. */
        wait_state(h, FC_SOURCE_RETRYING, 3, 40);
        assert_error_has(h, cases[i].needle);
        assert_true(status_of(h).reconnects >= 2);
        assert_int_equal(state_count(h, FC_SOURCE_FAILED), 0);
        assert_int_equal(h->nframes, 0);
        assert_true(fc_packet_live_count() <= 1);
        close_source(h);
        free(h);
    }
    assert_true(silent.accepted >= 3 && garbage.accepted >= 3);
    fake_stop(&silent);
    fake_stop(&garbage);

    /* A V4L2 device that is not there (unplugged) may come back: retrying. */
    src_h *h = calloc(1, sizeof *h);
    open_spec(h, "v4l2:/dev/video-framecast-test", 0, 0, 0, 0);
    demand(h, true, false, false, 0);
    wait_state(h, FC_SOURCE_RETRYING, 1, 20);
    assert_error_has(h, "No such file or directory");
    close_source(h);
    free(h);

    /* Meanwhile the file played on. */
    assert_true(good->nframes > 30);
    assert_int_equal(status_of(good).state, FC_SOURCE_LIVE);
    assert_increasing(good);
    close_source(good);
    free(good);
}

/* --- set-up ------------------------------------------------------------- */

/* Loopback only, in a namespace of our own. */
static int enter_netns(void)
{
    if (unshare(CLONE_NEWNET) != 0) {
        uid_t uid = getuid();
        gid_t gid = getgid();
        if (unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) {
            perror("test_av_source: unshare (a network namespace of its own)");
            return -1;
        }
        char map[64];
        int fd = open("/proc/self/setgroups", O_WRONLY);
        if (fd >= 0) {
            (void)!write(fd, "deny", 4);
            close(fd);
        }
        snprintf(map, sizeof map, "0 %u 1", uid);
        fd = open("/proc/self/uid_map", O_WRONLY);
        if (fd < 0 || write(fd, map, strlen(map)) < 0) return -1;
        close(fd);
        snprintf(map, sizeof map, "0 %u 1", gid);
        fd = open("/proc/self/gid_map", O_WRONLY);
        if (fd < 0 || write(fd, map, strlen(map)) < 0) return -1;
        close(fd);
    }
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) != 0) return -1;
    ifr.ifr_flags |= IFF_UP;
    int rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    close(s);
    return rc;
}

static int setup_env(void **state)
{
    (void)state;
    if (fc_loop_init(&E.loop) != 0 || fc_pool_create(2, &E.pool) != 0) return -1;
    uv_timer_init(&E.loop.uv, &E.deadline);
    return 0;
}

static int teardown_env(void **state)
{
    (void)state;
    fc_pool_destroy(E.pool);
    uv_close((uv_handle_t *)&E.deadline, NULL);
    fc_loop_close(&E.loop);
    /* Not UV_RUN_DEFAULT: a failed case may have left a source running,
     * and the run must end with its failure, not hang. */
    uv_run(&E.loop.uv, UV_RUN_NOWAIT);
    if (uv_loop_close(&E.loop.uv) != 0) {
        fprintf(stderr, "test_av_source: a failed case left a source running\n");
        return -1;
    }
    return 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (enter_netns() != 0) {
        fprintf(stderr, "test_av_source: cannot make a loopback-only network namespace\n");
        return 1;
    }
    snprintf(g_dir, sizeof g_dir, "/tmp/fc-av-test-XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "sh '%s' '%s' '%s/face-astronaut.png'", FC_TEST_MAKE_FIXTURES, g_dir,
             FC_TEST_FIXTURES);
    if (system(cmd) != 0) {
        fprintf(stderr, "test_av_source: making the fixtures failed\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(file_plays_at_its_rate_and_loops, teardown_leaks),
        cmocka_unit_test_teardown(file_without_loop_ends_after_its_last_frame, teardown_leaks),
        cmocka_unit_test_teardown(key_frame_only_decodes_only_key_frames, teardown_leaks),
        cmocka_unit_test_teardown(key_frames_only_while_they_come_often_enough, teardown_leaks),
        cmocka_unit_test_teardown(packets_only_are_annexb_and_not_decoded, teardown_leaks),
        cmocka_unit_test_teardown(size_and_fps_scale_and_decimate, teardown_leaks),
        cmocka_unit_test_teardown(resolution_change_reports_a_new_format, teardown_leaks),
        cmocka_unit_test_teardown(decode_behind_drops_to_the_next_key_frame, teardown_leaks),
        cmocka_unit_test_teardown(key_frame_only_to_full_resumes_at_a_key_frame, teardown_leaks),
        cmocka_unit_test_teardown(bad_files_fail_with_the_reason, teardown_leaks),
        cmocka_unit_test_teardown(damaged_files_play_what_they_can, teardown_leaks),
        cmocka_unit_test_teardown(a_file_pauses_while_nobody_wants_it, teardown_leaks),
        cmocka_unit_test_teardown(the_face_video_has_a_face_that_moves, teardown_leaks),
        cmocka_unit_test_teardown(synthetic_video_pans_a_looped_file, teardown_leaks),
        cmocka_unit_test_teardown(rtsp_camera_goes_live, teardown_camera),
        cmocka_unit_test_teardown(rtsp_camera_killed_and_restarted_comes_back_changed,
                                  teardown_camera),
        cmocka_unit_test_teardown(frozen_camera_trips_the_watchdog, teardown_camera),
        cmocka_unit_test_teardown(rtsp_401_and_404_fail_without_showing_credentials,
                                  teardown_camera),
        cmocka_unit_test_teardown(idle_camera_is_disconnected_and_reconnected_on_demand,
                                  teardown_camera),
        cmocka_unit_test_teardown(broken_cameras_retry_with_the_reason, teardown_leaks),
    };
    /* FC_TEST_FILTER=name*: run some of the cases while working on them. */
    if (getenv("FC_TEST_FILTER")) cmocka_set_test_filter(getenv("FC_TEST_FILTER"));
    int failed = cmocka_run_group_tests(tests, setup_env, teardown_env);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    (void)!system(cmd);
    return failed;
}
