/* fc_decode: a source's in-order decode stage on the worker pool.
 *
 * core/stage.h is "latest wins", which is right for encoders and detectors
 * and wrong here: an inter-frame decoder must see every packet since the
 * last key frame, in order. So this stage keeps a bounded FIFO of packets on
 * the loop (fc_pktq: 32 packets, 16 MiB) and runs one job at a time, one
 * packet per job, in order; when decoding falls behind and the FIFO fills,
 * it drops to the next key frame (counted in decode_dropped) rather than
 * queue without bound or feed a decoder deltas after a gap.
 *
 * Each job (worker, role "source") decodes one packet with libavcodec on one
 * thread (thread_count = 1: the pool is the only place heavy work runs),
 * decimates to the consumer's fps by capture time, and converts the frames
 * kept to I420 (sources/av_convert.h). Frames are numbered here, one id per
 * decoded picture, so ids never go back across reconnects and rewinds; a
 * frame's capture time is that of the packet it came from.
 *
 * Key-frame-only mode (fc_decode_set) sets skip_frame = AVDISCARD_NONKEY; the
 * owner also stops queueing deltas then (fc_decode_gap), so they cost no job.
 *
 * The job may also encode the first frame it decodes (fc_decode_cb.reserve):
 * one worker, one job, no hop through the loop between decode and encode.
 *
 * Threads: every function is for the loop thread it was created on; the
 * callbacks run there too. */
#ifndef FC_SOURCES_AV_DECODE_H
#define FC_SOURCES_AV_DECODE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/loop.h"
#include "core/pool.h"
#include "sources/av_convert.h"
#include "sources/packet.h"
#include "sources/source.h"

typedef struct fc_decode fc_decode;

typedef struct fc_decode_cb {
    void *ctx;
    /* A decoded frame (lent). */
    void (*on_frame)(void *ctx, fc_frame *frame);
    /* The picture's coded size or the output size changed; called before
     * the first frame of the new size. */
    void (*on_size)(void *ctx, int width, int height, int out_width, int out_height);
    /* No job running and nothing queued. */
    void (*on_idle)(void *ctx);
    /* Decoding and encoding in one job (optional: NULL = never). `reserve`
     * (loop, as a job is submitted) may return an encode the job is to do
     * at its end on its first frame; `encode` (the job's worker) does it;
     * that frame then comes to `on_encoded` instead of `on_frame`, with
     * what the encode cost. A reservation the job did not use (no frame,
     * or the first of a new size) comes back to `release`. Exactly one of
     * the two is called for every reservation, stopping or not. */
    void *(*reserve)(void *ctx);
    void (*encode)(void *res, fc_frame *frame);
    void (*on_encoded)(void *ctx, fc_frame *frame, void *res, uint64_t encode_ns);
    void (*release)(void *ctx, void *res);
} fc_decode_cb;

int fc_decode_create(fc_loop *loop, fc_pool *pool, const fc_convert_cfg *out,
                     const fc_decode_cb *cb, fc_decode **dec);
/* Takes the reference: queued (a job starts if none runs) or dropped. */
void fc_decode_push(fc_decode *d, fc_packet *p);
/* A data packet went by that the decoder will not see: start again at a key
 * frame. */
void fc_decode_gap(fc_decode *d);
/* The consumer's fps cap (0 = all) and key-frame-only mode, from the next
 * job on. */
void fc_decode_set(fc_decode *d, double fps, bool key_only);
/* Drops what is queued (pictures no longer wanted, or stop). */
void fc_decode_clear(fc_decode *d);
bool fc_decode_idle(const fc_decode *d);
/* Adds this stage's counters (decoded, key frames, delivered, errors,
 * dropped, CPU) to st. */
void fc_decode_stats(const fc_decode *d, fc_source_status *st);
/* The last decode error ("" = none). */
const char *fc_decode_error(const fc_decode *d);
/* Only while idle. */
void fc_decode_destroy(fc_decode *d);

#endif
