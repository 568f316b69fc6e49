/* VP8 encoding of raw I420 frames with libvpx, behind the codec interface
 * (codec.h), registered as "vp8".
 *
 * One instance per (view, tier): realtime deadline, constant bitrate, no
 * look-ahead (a frame in, its encoded frame out), error resilient, one
 * thread (the worker pool already keeps every core busy), a fixed speed
 * (cpu-used FC_VP8_CPU_USED, chosen by bench/vp8-quality; see
 * docs/benchmarks.md). The encoder reads the raw frame's planes in place.
 *
 * Rate control follows the frames' capture timestamps, so a stream that
 * delivers fewer frames than cfg.fps (latest-wins drops, an encode cap)
 * still gets its target bitrate, spread over the frames it has; a pause
 * counts as one second at most.
 *
 * Config (fc_codec_config): even width and height up to 16382, fps > 0 (at
 * most 1000), tier 0..2 (high, medium, low), bitrate_kbps 0 (the default
 * ladder below) or 1..100000, keyint 0 (ten seconds of frames at cfg.fps) or
 * 1..100000; quality is ignored.
 *
 * Default ladder (bitrate_kbps 0), by tier and size: at 1280x720 and 30 fps
 * 3500, 2500 and 1500 kbps; other sizes scale as pixels^0.79 (640x360: 1171,
 * 836, 502), other rates as (fps / 30)^0.7 (720p at 15 fps: 2154, 1539,
 * 923). High and medium are the lowest bitrates at which VP8 gives at least
 * the PSNR (and on most scenes the SSIM) of the JPEG tier of the same rank,
 * q85 and q75, on both scenes framecast streams, at every one of those
 * sizes and rates (bench/vp8-quality, docs/benchmarks.md). An output
 * encodes the low tier at half the picture's width and height (encode/
 * output.h), so at 1280x720 the low tier is 640x360 at 502 kbps.
 *
 * Threads: as codec.h. fc_vp8_open may run on any thread. */
#ifndef FC_ENCODE_VP8_H
#define FC_ENCODE_VP8_H

#include <stddef.h>

#include "encode/codec.h"

/* libvpx's cpu-used for realtime VP8: a negative value is a fixed speed
 * (-16 fastest); zero or positive lets libvpx pick a speed from how long its
 * last frames took by the wall clock, which on a shared worker pool would
 * tie quality to whatever else the machine is doing. -6 is the knee on the
 * face pan (docs/benchmarks.md): -4 costs 1.6-1.7 times the CPU for the
 * same quality, -8 to -16 save 10-22% of it and lose 0.9-3 dB. */
#define FC_VP8_CPU_USED (-6)

/* The codec's open with an explicit cpu-used (-16..-1), for measuring the
 * speed against quality (bench/vp8-quality). The codec table's open is this
 * with FC_VP8_CPU_USED. */
int fc_vp8_open(const fc_codec_config *cfg, int cpu_used, fc_encoder **out, char *err,
                size_t errlen);

extern const fc_codec_ops fc_vp8_codec;

#endif
