/* The speech track of an avatar session: decoded with libsndfile (WAV, FLAC,
 * OGG, MP3, told apart by content), converted to the generator's channel
 * count, and resampled with speexdsp only when the rates differ: a matching
 * rate creates no resampler at all (fc_audio_resamplers_created counts them).
 *
 * Worker threads (decoding and resampling are proportional to the audio's
 * length); the caller owns the result. */
#ifndef FC_AVATAR_AUDIO_H
#define FC_AVATAR_AUDIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest speech track a session accepts, seconds. */
#define FC_AUDIO_MAX_SECONDS 600

typedef struct fc_audio {
    float *samples; /* interleaved, `channels` per frame, at `rate` */
    size_t frames;  /* sample frames */
    int rate, channels;
    double duration; /* seconds, of the file as decoded */
    int file_rate, file_channels;
    bool resampled;
} fc_audio;

int fc_audio_load(const char *path, int want_rate, int want_channels, fc_audio *out, char *err,
                  size_t errlen);
void fc_audio_free(fc_audio *a);

/* speexdsp resamplers created so far in the process; any thread. */
uint64_t fc_audio_resamplers_created(void);

#endif
