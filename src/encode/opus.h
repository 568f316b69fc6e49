/* fc_opus: speech to Opus packets for WebRTC (RFC 7587), with libopus.
 *
 * Opus encodes 8, 12, 16, 24 and 48 kHz directly, so audio at one of those
 * rates goes in as it is and no resampler exists at all; only another rate
 * (22.05 or 44.1 kHz, say) is resampled to 48 kHz with speexdsp first. The
 * packets' RTP clock is 48 kHz whatever the input rate (RFC 7587 4.1), so
 * every packet comes with its position on that clock.
 *
 * Lives in encode/ beside the video codecs because it is the audio half of
 * "compress once for every subscriber"; it is not behind codec.h, whose
 * interface takes pictures.
 *
 * Threads: an encoder belongs to one thread at a time and encoding is real
 * work (about 1% of a core for 16 kHz speech), so it runs on a worker, never
 * on the loop. Errors: negative errno-style codes with a message naming what
 * failed. */
#ifndef FC_ENCODE_OPUS_H
#define FC_ENCODE_OPUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Opus frames are 20 ms: 960 ticks of the 48 kHz RTP clock. */
#define FC_OPUS_FRAME_TICKS 960
/* Upper bound of one packet's size: fits an RTP packet of 1200 bytes, and
 * holds any bitrate up to 400 kbit/s at 20 ms. */
#define FC_OPUS_MAX_PACKET 1000

typedef struct fc_opus fc_opus;

/* Receives each packet and the 48 kHz position of its first sample (0 for
 * the first packet, then FC_OPUS_FRAME_TICKS apart). A negative return stops
 * the encode and is passed on. */
typedef int (*fc_opus_packet_fn)(const uint8_t *pkt, size_t len, uint64_t ticks, void *arg);

/* rate: the audio's own sample rate (1000..384000 Hz); channels: 1 or 2;
 * bitrate_bps: 6000..400000, or 0 for libopus's choice. Tuned for speech
 * (OPUS_APPLICATION_VOIP). */
int fc_opus_open(int rate, int channels, int bitrate_bps, fc_opus **out, char *err, size_t errlen);
/* Encodes `frames` interleaved sample frames (floats in -1..1) at the input
 * rate: every 20 ms that completes becomes a packet handed to cb; the
 * remainder waits for the next call. */
int fc_opus_encode(fc_opus *o, const float *pcm, size_t frames, fc_opus_packet_fn cb, void *arg,
                   char *err, size_t errlen);
/* End of the audio: pads what waits with silence to a last packet, if any. */
int fc_opus_flush(fc_opus *o, fc_opus_packet_fn cb, void *arg, char *err, size_t errlen);
/* Whether the input is resampled (its rate is not one Opus takes). */
bool fc_opus_resamples(const fc_opus *o);
void fc_opus_close(fc_opus *o);

#endif
