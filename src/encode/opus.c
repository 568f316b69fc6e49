#include "encode/opus.h"

#include <errno.h>
#include <opus/opus.h>
#include <speex/speex_resampler.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fc_opus {
    OpusEncoder *enc;
    SpeexResamplerState *resampler; /* only when the input rate is not Opus's */
    int channels;
    int frame;      /* samples per channel in 20 ms at the rate Opus encodes */
    int filled;     /* of them collected so far */
    uint64_t ticks; /* 48 kHz position of the next packet */
    float *pcm;     /* frame * channels, at the rate Opus encodes */
};

static bool opus_rate(int rate)
{
    return rate == 8000 || rate == 12000 || rate == 16000 || rate == 24000 || rate == 48000;
}

int fc_opus_open(int rate, int channels, int bitrate_bps, fc_opus **out, char *err, size_t errlen)
{
    if (rate < 1000 || rate > 384000 || (channels != 1 && channels != 2) ||
        (bitrate_bps != 0 && (bitrate_bps < 6000 || bitrate_bps > 400000))) {
        snprintf(err, errlen,
                 "opus: cannot encode %d Hz, %d channels at %d bit/s (rates 1000..384000, 1 or "
                 "2 channels, 6000..400000 bit/s or 0)",
                 rate, channels, bitrate_bps);
        return -EINVAL;
    }
    fc_opus *o = calloc(1, sizeof *o);
    if (!o) {
        snprintf(err, errlen, "opus: out of memory");
        return -ENOMEM;
    }
    int enc_rate = opus_rate(rate) ? rate : 48000;
    o->channels = channels;
    o->frame = enc_rate / 50;
    o->pcm = calloc((size_t)o->frame * (size_t)channels, sizeof *o->pcm);
    int rc = OPUS_OK;
    o->enc = o->pcm ? opus_encoder_create(enc_rate, channels, OPUS_APPLICATION_VOIP, &rc) : NULL;
    if (!o->enc) {
        int code = o->pcm ? -EINVAL : -ENOMEM;
        snprintf(err, errlen, "opus: cannot create a %d Hz encoder: %s", enc_rate,
                 o->pcm ? opus_strerror(rc) : "out of memory");
        fc_opus_close(o);
        return code;
    }
    if (bitrate_bps) opus_encoder_ctl(o->enc, OPUS_SET_BITRATE(bitrate_bps));
    if (enc_rate != rate) {
        int src = 0;
        o->resampler = speex_resampler_init((spx_uint32_t)channels, (spx_uint32_t)rate, 48000,
                                            SPEEX_RESAMPLER_QUALITY_DEFAULT, &src);
        if (!o->resampler) {
            snprintf(err, errlen, "opus: cannot resample %d Hz to 48000 Hz: %s", rate,
                     speex_resampler_strerror(src));
            fc_opus_close(o);
            return -EINVAL;
        }
    }
    *out = o;
    return 0;
}

bool fc_opus_resamples(const fc_opus *o)
{
    return o->resampler != NULL;
}

static int emit(fc_opus *o, fc_opus_packet_fn cb, void *arg, char *err, size_t errlen)
{
    uint8_t pkt[FC_OPUS_MAX_PACKET];
    opus_int32 n = opus_encode_float(o->enc, o->pcm, o->frame, pkt, sizeof pkt);
    o->filled = 0;
    if (n < 0) {
        snprintf(err, errlen, "opus: encoding failed: %s", opus_strerror(n));
        return -EIO;
    }
    uint64_t ticks = o->ticks;
    o->ticks += FC_OPUS_FRAME_TICKS;
    return cb(pkt, (size_t)n, ticks, arg);
}

int fc_opus_encode(fc_opus *o, const float *pcm, size_t frames, fc_opus_packet_fn cb, void *arg,
                   char *err, size_t errlen)
{
    while (frames > 0) {
        float *dst = o->pcm + (size_t)o->filled * (size_t)o->channels;
        size_t room = (size_t)(o->frame - o->filled), used;
        if (o->resampler) {
            spx_uint32_t in_len = (spx_uint32_t)(frames > UINT32_MAX ? UINT32_MAX : frames);
            spx_uint32_t out_len = (spx_uint32_t)room;
            speex_resampler_process_interleaved_float(o->resampler, pcm, &in_len, dst, &out_len);
            if (in_len == 0 && out_len == 0) {
                snprintf(err, errlen, "opus: the resampler made no progress");
                return -EIO;
            }
            used = in_len;
            o->filled += (int)out_len;
        } else {
            used = frames < room ? frames : room;
            memcpy(dst, pcm, used * (size_t)o->channels * sizeof *pcm);
            o->filled += (int)used;
        }
        pcm += used * (size_t)o->channels;
        frames -= used;
        if (o->filled == o->frame) {
            int rc = emit(o, cb, arg, err, errlen);
            if (rc < 0) return rc;
        }
    }
    return 0;
}

int fc_opus_flush(fc_opus *o, fc_opus_packet_fn cb, void *arg, char *err, size_t errlen)
{
    if (o->filled == 0) return 0;
    float *dst = o->pcm + (size_t)o->filled * (size_t)o->channels;
    memset(dst, 0, (size_t)(o->frame - o->filled) * (size_t)o->channels * sizeof *dst);
    return emit(o, cb, arg, err, errlen);
}

void fc_opus_close(fc_opus *o)
{
    if (!o) return;
    if (o->enc) opus_encoder_destroy(o->enc);
    if (o->resampler) speex_resampler_destroy(o->resampler);
    free(o->pcm);
    free(o);
}
