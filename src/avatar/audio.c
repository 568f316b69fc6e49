#include "avatar/audio.h"

#include <math.h>
#include <sndfile.h>
#include <speex/speex_resampler.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_uint_fast64_t resamplers_created;

uint64_t fc_audio_resamplers_created(void)
{
    return atomic_load(&resamplers_created);
}

void fc_audio_free(fc_audio *a)
{
    free(a->samples);
    a->samples = NULL;
    a->frames = 0;
}

/* Mixes or spreads `in` (in_ch channels) to out_ch channels. */
static float *remix(const float *in, size_t frames, int in_ch, int out_ch)
{
    float *out = malloc(frames * (size_t)out_ch * sizeof *out);
    if (!out) return NULL;
    for (size_t f = 0; f < frames; f++) {
        const float *s = in + f * (size_t)in_ch;
        float *d = out + f * (size_t)out_ch;
        if (out_ch == 1) {
            float sum = 0;
            for (int c = 0; c < in_ch; c++)
                sum += s[c];
            d[0] = sum / (float)in_ch;
        } else {
            for (int c = 0; c < out_ch; c++)
                d[c] = s[c < in_ch ? c : in_ch - 1];
        }
    }
    return out;
}

static int resample(fc_audio *a, int want_rate, char *err, size_t errlen)
{
    int rc;
    SpeexResamplerState *rs =
        speex_resampler_init((spx_uint32_t)a->channels, (spx_uint32_t)a->rate,
                             (spx_uint32_t)want_rate, SPEEX_RESAMPLER_QUALITY_DEFAULT, &rc);
    if (!rs) {
        snprintf(err, errlen, "audio: cannot resample %d Hz to %d Hz: %s", a->rate, want_rate,
                 speex_resampler_strerror(rc));
        return -1;
    }
    atomic_fetch_add(&resamplers_created, 1);
    /* The filter delays its output; feeding it zeros after the end flushes
     * the tail so the result is as long as the input. */
    spx_uint32_t latency = (spx_uint32_t)speex_resampler_get_input_latency(rs);
    size_t out_cap = (size_t)((double)(a->frames + latency) * want_rate / a->rate) + 16;
    float *out = malloc(out_cap * (size_t)a->channels * sizeof *out);
    float *zeros = calloc((size_t)latency * (size_t)a->channels + 1, sizeof *zeros);
    if (!out || !zeros) {
        free(out);
        free(zeros);
        speex_resampler_destroy(rs);
        snprintf(err, errlen, "audio: out of memory resampling %zu frames", a->frames);
        return -1;
    }
    size_t out_done = 0;
    size_t want_out = (size_t)llround((double)a->frames * want_rate / a->rate);
    const float *feed = a->samples;
    size_t feed_left = a->frames;
    bool flushing = false;
    spx_uint32_t skip = (spx_uint32_t)speex_resampler_get_output_latency(rs);
    while (out_done < want_out + skip && out_done < out_cap) {
        if (feed_left == 0) {
            if (flushing) break;
            flushing = true;
            feed = zeros;
            feed_left = latency;
            continue;
        }
        spx_uint32_t in_len = (spx_uint32_t)feed_left;
        spx_uint32_t out_len = (spx_uint32_t)(out_cap - out_done);
        speex_resampler_process_interleaved_float(rs, feed, &in_len,
                                                  out + out_done * (size_t)a->channels, &out_len);
        feed += (size_t)in_len * (size_t)a->channels;
        feed_left -= in_len;
        out_done += out_len;
        if (in_len == 0 && out_len == 0) break;
    }
    speex_resampler_destroy(rs);
    free(zeros);
    size_t got = out_done > skip ? out_done - skip : 0;
    if (got > want_out) got = want_out;
    memmove(out, out + (size_t)skip * (size_t)a->channels, got * (size_t)a->channels * sizeof *out);
    free(a->samples);
    a->samples = out;
    a->frames = got;
    a->rate = want_rate;
    a->resampled = true;
    return 0;
}

int fc_audio_load(const char *path, int want_rate, int want_channels, fc_audio *out, char *err,
                  size_t errlen)
{
    memset(out, 0, sizeof *out);
    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!sf) {
        snprintf(err, errlen, "audio: cannot decode the audio file: %s", sf_strerror(NULL));
        return -1;
    }
    if (info.samplerate <= 0 || info.channels <= 0 || info.channels > 8 ||
        info.frames > (sf_count_t)info.samplerate * FC_AUDIO_MAX_SECONDS) {
        sf_close(sf);
        snprintf(err, errlen,
                 "audio: unsupported file (%d Hz, %d channels, %lld frames; at "
                 "most %d s and 8 channels)",
                 info.samplerate, info.channels, (long long)info.frames, FC_AUDIO_MAX_SECONDS);
        return -1;
    }
    /* MP3 and some OGG files do not know their length up front: read in
     * growing blocks until the end. */
    size_t cap = info.frames > 0 ? (size_t)info.frames : (size_t)info.samplerate;
    size_t max_frames = (size_t)info.samplerate * FC_AUDIO_MAX_SECONDS;
    float *buf = NULL;
    size_t n = 0;
    for (;;) {
        float *nb = realloc(buf, (cap + 1) * (size_t)info.channels * sizeof *buf);
        if (!nb) {
            free(buf);
            sf_close(sf);
            snprintf(err, errlen, "audio: out of memory decoding %zu frames", cap);
            return -1;
        }
        buf = nb;
        sf_count_t got = sf_readf_float(sf, buf + n * (size_t)info.channels, (sf_count_t)(cap - n));
        if (got <= 0) break;
        n += (size_t)got;
        if (n < cap) continue;
        if (cap >= max_frames) {
            free(buf);
            sf_close(sf);
            snprintf(err, errlen, "audio: longer than %d s", FC_AUDIO_MAX_SECONDS);
            return -1;
        }
        cap *= 2;
        if (cap > max_frames) cap = max_frames;
    }
    sf_close(sf);
    if (n == 0) {
        free(buf);
        snprintf(err, errlen, "audio: the file holds no samples");
        return -1;
    }
    out->samples = buf;
    out->frames = n;
    out->rate = out->file_rate = info.samplerate;
    out->channels = out->file_channels = info.channels;
    out->duration = (double)n / info.samplerate;
    if (info.channels != want_channels) {
        float *m = remix(buf, n, info.channels, want_channels);
        if (!m) {
            fc_audio_free(out);
            snprintf(err, errlen, "audio: out of memory remixing %zu frames", n);
            return -1;
        }
        free(buf);
        out->samples = m;
        out->channels = want_channels;
    }
    if (out->rate != want_rate && resample(out, want_rate, err, errlen) != 0) {
        fc_audio_free(out);
        return -1;
    }
    return 0;
}
