/* The speech track of an avatar session: decoded with libsndfile (WAV, FLAC,
 * OGG, MP3, told apart by content), converted to the generator's channel
 * count, and resampled with speexdsp only when the rates differ: a matching
 * rate creates no resampler at all (fc_audio_resamplers_created counts them).
 *
 * Bounded before decoding: the file's rate x channels x duration, as its
 * header states them, against the sample cap and the duration limit (an
 * 881 KB FLAC can hold 600 s of 192 kHz 8-channel silence: 3.7 GB of
 * floats). A file that does not state its length is held to the same bounds
 * while it decodes. Decoding runs in blocks: each is mixed down and
 * resampled before the next is read, so memory is the result plus one block,
 * never the file at its own rate and channel count.
 *
 * Worker threads (decoding and resampling are proportional to the audio's
 * length); the caller owns the result. The cap is process-wide: set it once
 * at start-up, before the first load. */
#ifndef FC_AVATAR_AUDIO_H
#define FC_AVATAR_AUDIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/metrics.h"

/* Longest speech track a session accepts, seconds (exactly this long is
 * accepted). */
#define FC_AUDIO_MAX_SECONDS 600
/* Default for --max-audio-samples: sample values (rate x channels x seconds)
 * a speech file may hold, 48 kHz stereo for FC_AUDIO_MAX_SECONDS; about 0.5 s
 * of one worker to decode as FLAC. */
#define FC_AUDIO_MAX_SAMPLES_DEFAULT (48000ull * 2 * FC_AUDIO_MAX_SECONDS)
/* The flag's range: one second of 8 kHz mono at least. */
#define FC_AUDIO_MAX_SAMPLES_MIN 8000ull
#define FC_AUDIO_MAX_SAMPLES_MAX (192000ull * 8 * FC_AUDIO_MAX_SECONDS)

typedef struct fc_audio {
    float *samples; /* interleaved, `channels` per frame, at `rate` */
    size_t frames;  /* sample frames */
    int rate, channels;
    double duration; /* seconds, of the file as decoded */
    int file_rate, file_channels;
    bool resampled;
} fc_audio;

/* Sets the sample cap for every later load. */
void fc_audio_set_max_samples(uint64_t samples);

/* Decodes the audio file open at fd (from its start; the caller keeps and
 * closes fd) to want_channels at want_rate. Returns 0, or a negative
 * errno-style code with err saying why (-E2BIG: over the sample cap or
 * longer than FC_AUDIO_MAX_SECONDS). */
int fc_audio_load_fd(int fd, int want_rate, int want_channels, fc_audio *out, char *err,
                     size_t errlen);
void fc_audio_free(fc_audio *a);

/* speexdsp resamplers created so far in the process; any thread. */
uint64_t fc_audio_resamplers_created(void);

/* fc_audio_refused_total{reason="samples"|"duration"|"damaged"}: loads
 * refused since start. Loop thread (a collector). */
int fc_audio_metrics_register(fc_metrics *m);

#endif
