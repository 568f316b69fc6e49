#include "sources/av_decode.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>

#include "core/clock.h"
#include "sources/av_input.h"
#include "sources/av_log.h"
#include "sources/pktq.h"

#define QUEUE_PACKETS 32
#define QUEUE_BYTES (16u << 20)
/* Frames one job may deliver: a drain empties the decoder's reorder delay
 * (at most 16 pictures for H.264) at once. */
#define MAX_OUT 20
/* Capture times of the packets the decoder may still hold. */
#define RING 64

typedef struct dec_job {
    fc_job job;
    fc_decode *d;
    fc_packet *pkt;
    double fps;
    bool key_only;
    /* Results, read on the loop in `done`. */
    fc_frame *out[MAX_OUT];
    int nout;
    int size_at; /* out[] index before which the new size applies; -1 = no change */
    int w, h, ow, oh;
    uint64_t decoded, keys, errors;
    char err[256];
    /* A reserved encode (fc_decode_cb.reserve) and whether out[0] got it. */
    void *res;
    bool encoded;
    uint64_t encode_ns;
} dec_job;

struct fc_decode {
    fc_loop *loop;
    fc_pool *pool;
    fc_decode_cb cb;
    /* Loop thread. */
    fc_pktq q;
    bool busy;
    double fps;
    bool key_only;
    uint64_t decoded, keys, delivered, errors, cpu_ns;
    char error[256];
    dec_job job;

    /* The decoder: touched by one job at a time (handed from job to job
     * through the pool's locks). */
    AVCodecContext *ctx;
    AVCodecParameters *par;
    AVRational tb;
    AVFrame *frame;
    bool need_key;
    struct {
        int64_t pts;
        double capture;
    } ring[RING];
    int ring_pos;
    double last_capture; /* of the newest packet given to the decoder */
    uint32_t next_id;
    double next_due, last_t, first_t;
    int w, h, ow, oh; /* sizes last reported */
    fc_convert conv;
};

/* --- worker side -------------------------------------------------------- */

static void remember(fc_decode *d, int64_t pts, double capture)
{
    d->ring[d->ring_pos].pts = pts;
    d->ring[d->ring_pos].capture = capture;
    d->ring_pos = (d->ring_pos + 1) % RING;
    d->last_capture = capture;
}

/* The newest packet with that timestamp: after a rewind or a reconnect the
 * same timestamps come again, and only this run's count. */
static double capture_of(const fc_decode *d, int64_t pts)
{
    if (pts != AV_NOPTS_VALUE)
        for (int n = 1; n <= RING; n++) {
            int i = (d->ring_pos - n + RING) % RING;
            if (d->ring[i].pts == pts && d->ring[i].capture > 0) return d->ring[i].capture;
        }
    return d->last_capture;
}

/* The timestamps so far belong to a run of packets that has ended. */
static void forget_timestamps(fc_decode *d)
{
    for (int i = 0; i < RING; i++)
        d->ring[i].pts = AV_NOPTS_VALUE;
}

static void emit(fc_decode *d, dec_job *job, const AVFrame *fr)
{
    job->decoded++;
    if (fr->key_frame) job->keys++;
    double t = capture_of(d, fr->best_effort_timestamp);
    if (t <= d->last_t) t = d->last_t + 1e-6;
    d->last_t = t;
    if (d->first_t == 0) d->first_t = t;
    uint32_t id = d->next_id++;
    if (job->fps > 0) {
        double period = 1.0 / job->fps;
        if (t < d->next_due - period * 0.25) return;
        d->next_due = d->next_due + period > t ? d->next_due + period : t + period;
    }
    if (job->nout == MAX_OUT) return;
    int ow, oh;
    fc_convert_out_size(&d->conv, fr->width & ~1, fr->height & ~1, &ow, &oh);
    if (fr->width != d->w || fr->height != d->h || ow != d->ow || oh != d->oh) {
        d->w = job->w = fr->width;
        d->h = job->h = fr->height;
        d->ow = job->ow = ow;
        d->oh = job->oh = oh;
        job->size_at = job->nout;
    }
    fc_frame *f;
    if (fc_convert_frame(&d->conv, fr, t - d->first_t, &f, job->err, sizeof job->err) != 0) {
        job->errors++;
        return;
    }
    f->id = id;
    f->timestamp = t;
    job->out[job->nout++] = f;
}

static void receive_all(fc_decode *d, dec_job *job)
{
    int rc;
    while ((rc = avcodec_receive_frame(d->ctx, d->frame)) == 0) {
        emit(d, job, d->frame);
        av_frame_unref(d->frame);
    }
    if (rc != AVERROR(EAGAIN) && rc != AVERROR_EOF) job->errors++;
}

static void drain(fc_decode *d, dec_job *job)
{
    if (!d->ctx) return;
    if (avcodec_send_packet(d->ctx, NULL) == 0) receive_all(d, job);
    avcodec_flush_buffers(d->ctx);
    forget_timestamps(d);
    d->need_key = true;
}

static int open_decoder(fc_decode *d, dec_job *job)
{
    const AVCodec *codec = avcodec_find_decoder(d->par->codec_id);
    const char *name = avcodec_get_name(d->par->codec_id);
    if (!codec) {
        snprintf(job->err, sizeof job->err, "no %s decoder", name);
        return -ENOTSUP;
    }
    d->ctx = avcodec_alloc_context3(codec);
    if (!d->ctx) {
        snprintf(job->err, sizeof job->err, "%s decoder: out of memory", name);
        return -ENOMEM;
    }
    int rc = avcodec_parameters_to_context(d->ctx, d->par);
    d->ctx->pkt_timebase = d->tb;
    /* Our pool is the only place heavy work runs: no decoder threads. */
    d->ctx->thread_count = 1;
    /* A stream whose parameter sets announce a larger picture fails here
     * instead of allocating it. */
    d->ctx->max_pixels = (int64_t)FC_MAX_WIDTH * FC_MAX_HEIGHT;
    if (rc >= 0) rc = avcodec_open2(d->ctx, codec, NULL);
    if (rc < 0) {
        char msg[128];
        av_strerror(rc, msg, sizeof msg);
        snprintf(job->err, sizeof job->err, "%s decoder: %s", name, msg);
        avcodec_free_context(&d->ctx);
        return rc == AVERROR(ENOMEM) ? -ENOMEM : -EPROTO;
    }
    return 0;
}

static void decode_packet(fc_decode *d, dec_job *job)
{
    const AVPacket *p = fc_packet_av(job->pkt);
    if (!d->par || (d->need_key && !(p->flags & AV_PKT_FLAG_KEY))) return;
    if (!d->ctx && open_decoder(d, job) != 0) {
        job->errors++;
        return;
    }
    d->need_key = false;
    d->ctx->skip_frame = job->key_only ? AVDISCARD_NONKEY : AVDISCARD_DEFAULT;
    remember(d, p->pts, fc_packet_time(job->pkt));
    char avmsg[256];
    fc_av_log_capture(avmsg, sizeof avmsg);
    int rc = avcodec_send_packet(d->ctx, p);
    fc_av_log_capture(NULL, 0);
    if (rc < 0 && rc != AVERROR(EAGAIN)) {
        job->errors++;
        char msg[128];
        av_strerror(rc, msg, sizeof msg);
        snprintf(job->err, sizeof job->err, "decode: %s%s%.100s%s", msg, avmsg[0] ? " (" : "",
                 avmsg, avmsg[0] ? ")" : "");
    }
    receive_all(d, job);
}

static void new_segment(fc_decode *d, dec_job *job)
{
    drain(d, job);
    forget_timestamps(d);
    avcodec_free_context(&d->ctx);
    avcodec_parameters_free(&d->par);
    d->par = avcodec_parameters_alloc();
    if (!d->par || avcodec_parameters_copy(d->par, fc_packet_params(job->pkt)) < 0) {
        avcodec_parameters_free(&d->par);
        snprintf(job->err, sizeof job->err, "decoder: out of memory");
        job->errors++;
    }
    fc_packet_time_base(job->pkt, &d->tb.num, &d->tb.den);
    d->need_key = true;
}

static void job_work(fc_job *j)
{
    dec_job *job = fc_container_of(j, dec_job, job);
    fc_decode *d = job->d;
    switch (fc_packet_kind_of(job->pkt)) {
    case FC_PACKET_SEGMENT:
        new_segment(d, job);
        break;
    case FC_PACKET_DRAIN:
        drain(d, job);
        break;
    case FC_PACKET_DATA:
        decode_packet(d, job);
        break;
    }
    /* The first frame of a new size goes the long way: the stream takes
     * the new format on the loop before anything of it is encoded. */
    if (job->res && job->nout > 0 && job->size_at != 0) {
        uint64_t t0 = fc_thread_cpu_ns();
        d->cb.encode(job->res, job->out[0]);
        job->encode_ns = fc_thread_cpu_ns() - t0;
        job->encoded = true;
        job->job.lent_ns = job->encode_ns;
        job->job.lent_role = FC_ROLE_ENCODE;
    }
}

/* --- loop side ---------------------------------------------------------- */

/* Starts a job for the oldest queued packet; false if there is none. */
static bool start_next(fc_decode *d)
{
    fc_packet *p = fc_pktq_pop(&d->q);
    if (!p) return false;
    dec_job *job = &d->job;
    job->pkt = p;
    job->fps = d->fps;
    job->key_only = d->key_only;
    job->nout = 0;
    job->size_at = -1;
    job->decoded = job->keys = job->errors = 0;
    job->err[0] = '\0';
    job->encoded = false;
    job->encode_ns = 0;
    job->job.lent_ns = 0;
    job->res =
        d->cb.reserve && fc_packet_kind_of(p) == FC_PACKET_DATA ? d->cb.reserve(d->cb.ctx) : NULL;
    d->busy = true;
    fc_pool_submit(d->pool, &job->job);
    return true;
}

static void job_done(fc_job *j)
{
    dec_job *job = fc_container_of(j, dec_job, job);
    fc_decode *d = job->d;
    d->decoded += job->decoded;
    d->keys += job->keys;
    d->errors += job->errors;
    d->cpu_ns += j->cpu_ns - job->encode_ns;
    void *res = job->res;
    job->res = NULL;
    if (res && !job->encoded) d->cb.release(d->cb.ctx, res);
    if (job->err[0]) snprintf(d->error, sizeof d->error, "%s", job->err);
    /* Still busy while the callbacks run: whatever they push only queues. */
    for (int i = 0; i <= job->nout; i++) {
        if (i == job->size_at && d->cb.on_size)
            d->cb.on_size(d->cb.ctx, job->w, job->h, job->ow, job->oh);
        if (i == job->nout) break;
        if (i == 0 && job->encoded)
            d->cb.on_encoded(d->cb.ctx, job->out[i], res, job->encode_ns);
        else
            d->cb.on_frame(d->cb.ctx, job->out[i]);
        fc_frame_unref(job->out[i]);
        d->delivered++;
    }
    job->nout = 0;
    fc_packet_unref(job->pkt);
    job->pkt = NULL;
    d->busy = false;
    if (!start_next(d) && d->cb.on_idle) d->cb.on_idle(d->cb.ctx);
}

int fc_decode_create(fc_loop *loop, fc_pool *pool, const fc_convert_cfg *out,
                     const fc_decode_cb *cb, fc_decode **dec)
{
    fc_decode *d = calloc(1, sizeof *d);
    if (!d) return -ENOMEM;
    d->frame = av_frame_alloc();
    if (!d->frame || fc_pktq_init(&d->q, QUEUE_PACKETS, QUEUE_BYTES) != 0) {
        av_frame_free(&d->frame);
        free(d);
        return -ENOMEM;
    }
    d->loop = loop;
    d->pool = pool;
    d->cb = *cb;
    d->need_key = true;
    forget_timestamps(d);
    fc_convert_init(&d->conv, out);
    d->job.d = d;
    d->job.job.work = job_work;
    d->job.job.done = job_done;
    d->job.job.loop = loop;
    d->job.job.role = FC_ROLE_SOURCE;
    *dec = d;
    return 0;
}

void fc_decode_push(fc_decode *d, fc_packet *p)
{
    fc_pktq_push(&d->q, p);
    if (!d->busy) start_next(d);
}

void fc_decode_gap(fc_decode *d)
{
    fc_pktq_gap(&d->q);
}

void fc_decode_set(fc_decode *d, double fps, bool key_only)
{
    d->fps = fps;
    d->key_only = key_only;
}

void fc_decode_clear(fc_decode *d)
{
    fc_pktq_clear(&d->q);
}

bool fc_decode_idle(const fc_decode *d)
{
    return !d->busy && d->q.count == 0;
}

void fc_decode_stats(const fc_decode *d, fc_source_status *st)
{
    st->frames_decoded += d->decoded;
    st->key_frames_decoded += d->keys;
    st->frames_delivered += d->delivered;
    st->decode_errors += d->errors;
    st->decode_dropped += d->q.dropped;
    st->decode_cpu_ns += d->cpu_ns;
}

const char *fc_decode_error(const fc_decode *d)
{
    return d->error;
}

void fc_decode_destroy(fc_decode *d)
{
    if (!d) return;
    fc_pktq_free(&d->q);
    avcodec_free_context(&d->ctx);
    avcodec_parameters_free(&d->par);
    av_frame_free(&d->frame);
    fc_convert_free(&d->conv);
    free(d);
}
