#include "avatar/audio.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sndfile.h>
#include <speex/speex_resampler.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "avatar/media.h"

/* Sample frames read and converted at a time: 32 KB of floats per channel,
 * small next to any result, large enough that the per-call cost vanishes. */
#define BLOCK 8192

static atomic_uint_fast64_t resamplers_created;
static atomic_uint_fast64_t max_samples = FC_AUDIO_MAX_SAMPLES_DEFAULT;

enum { REFUSED_SAMPLES, REFUSED_DURATION, REFUSED_DAMAGED, REFUSED_COUNT };
static atomic_uint_fast64_t refused[REFUSED_COUNT];

uint64_t fc_audio_resamplers_created(void)
{
    return atomic_load(&resamplers_created);
}

void fc_audio_set_max_samples(uint64_t samples)
{
    atomic_store(&max_samples, samples);
}

void fc_audio_free(fc_audio *a)
{
    free(a->samples);
    a->samples = NULL;
    a->frames = 0;
}

/* The block-wise conversion: input blocks in, the result grows. */
typedef struct converter {
    int in_ch, out_ch, in_rate, out_rate;
    SpeexResamplerState *rs; /* NULL while the rates match */
    float *mixed;            /* one block at out_ch channels */
    float *out;
    size_t n, cap, max; /* result frames: written, allocated, the most ever */
} converter;

static int reserve(converter *c, size_t more)
{
    if (c->n + more <= c->cap) return 0;
    size_t want = c->cap ? c->cap : 1;
    while (want < c->n + more)
        want *= 2;
    if (want > c->max) want = c->max;
    if (want < c->n + more) return -E2BIG;
    float *p = realloc(c->out, want * (size_t)c->out_ch * sizeof *p);
    if (!p) return -ENOMEM;
    c->out = p;
    c->cap = want;
    return 0;
}

/* `frames` frames at out_ch channels, at the input rate. */
static int append(converter *c, const float *in, size_t frames)
{
    if (!c->rs) {
        int rc = reserve(c, frames);
        if (rc < 0) return rc;
        memcpy(c->out + c->n * (size_t)c->out_ch, in, frames * (size_t)c->out_ch * sizeof *in);
        c->n += frames;
        return 0;
    }
    while (frames > 0) {
        size_t room = (size_t)((double)frames * c->out_rate / c->in_rate) + 16;
        int rc = reserve(c, room);
        if (rc < 0) return rc;
        spx_uint32_t in_len = (spx_uint32_t)frames;
        spx_uint32_t out_len = (spx_uint32_t)(c->cap - c->n);
        speex_resampler_process_interleaved_float(c->rs, in, &in_len,
                                                  c->out + c->n * (size_t)c->out_ch, &out_len);
        c->n += out_len;
        in += (size_t)in_len * (size_t)c->out_ch;
        frames -= in_len;
        if (in_len == 0 && out_len == 0) break; /* cannot happen with room; never spin */
    }
    return 0;
}

/* Mixes (to mono: the mean) or spreads one block to out_ch channels. */
static void remix(converter *c, const float *in, size_t frames)
{
    for (size_t f = 0; f < frames; f++) {
        const float *s = in + f * (size_t)c->in_ch;
        float *d = c->mixed + f * (size_t)c->out_ch;
        if (c->out_ch == 1) {
            float sum = 0;
            for (int ch = 0; ch < c->in_ch; ch++)
                sum += s[ch];
            d[0] = sum / (float)c->in_ch;
        } else {
            for (int ch = 0; ch < c->out_ch; ch++)
                d[ch] = s[ch < c->in_ch ? ch : c->in_ch - 1];
        }
    }
}

/* The resampler delays its output by its latency: feed that many zeros after
 * the end, drop as many frames from the start, and keep exactly as many as
 * the input's length at the new rate. */
static int finish_resampling(converter *c, size_t in_frames)
{
    spx_uint32_t latency = (spx_uint32_t)speex_resampler_get_input_latency(c->rs);
    spx_uint32_t skip = (spx_uint32_t)speex_resampler_get_output_latency(c->rs);
    float *zeros = calloc((size_t)latency * (size_t)c->out_ch + 1, sizeof *zeros);
    if (!zeros) return -ENOMEM;
    int rc = append(c, zeros, latency);
    free(zeros);
    if (rc < 0) return rc;
    size_t want = (size_t)llround((double)in_frames * c->out_rate / c->in_rate);
    size_t got = c->n > skip ? c->n - skip : 0;
    if (got > want) got = want;
    memmove(c->out, c->out + (size_t)skip * (size_t)c->out_ch,
            got * (size_t)c->out_ch * sizeof *c->out);
    c->n = got;
    return 0;
}

static int refuse(int reason, int code, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int refuse(int reason, int code, char *err, size_t errlen, const char *fmt, ...)
{
    atomic_fetch_add(&refused[reason], 1);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return code;
}

/* libsndfile keeps the reason an open failed in one process-wide variable
 * (sf_strerror(NULL)) that every worker writes; say what we know instead. */
static int open_failed(int fd, char *err, size_t errlen)
{
    uint8_t head[12];
    ssize_t n = pread(fd, head, sizeof head, 0);
    fc_media_type t = fc_media_sniff(head, n > 0 ? (size_t)n : 0);
    if (!fc_media_is_audio(t))
        return refuse(REFUSED_DAMAGED, -EINVAL, err, errlen,
                      "audio: not a WAV, FLAC, OGG or MP3 file");
    char type[8];
    const char *ext = fc_media_ext(t);
    size_t i = 0;
    for (; ext[i] && i + 1 < sizeof type; i++)
        type[i] = (char)toupper((unsigned char)ext[i]);
    type[i] = 0;
    return refuse(REFUSED_DAMAGED, -EINVAL, err, errlen,
                  "audio: cannot decode this %s file: damaged, or a variant libsndfile does not "
                  "read",
                  type);
}

/* The header's claims against the bounds, before anything is decoded. */
static int check_header(const SF_INFO *info, char *err, size_t errlen)
{
    if (info->samplerate < 1 || info->samplerate > 768000 || info->channels < 1 ||
        info->channels > 8)
        return refuse(REFUSED_DAMAGED, -EINVAL, err, errlen,
                      "audio: unsupported file (%d Hz, %d channels; 1 Hz to 768 kHz and at most "
                      "8 channels)",
                      info->samplerate, info->channels);
    bool known = info->frames > 0 && info->frames != SF_COUNT_MAX;
    if (!known) return 0;
    uint64_t frames = (uint64_t)info->frames, rate = (uint64_t)info->samplerate;
    if (frames > rate * FC_AUDIO_MAX_SECONDS)
        return refuse(REFUSED_DURATION, -E2BIG, err, errlen, "audio: %.3f s long, more than %d s",
                      (double)frames / (double)rate, FC_AUDIO_MAX_SECONDS);
    uint64_t cap = atomic_load(&max_samples);
    if (frames * (uint64_t)info->channels > cap)
        return refuse(REFUSED_SAMPLES, -E2BIG, err, errlen,
                      "audio: %d Hz x %d channels x %.1f s is %llu samples, more than the %llu "
                      "allowed (--max-audio-samples): refused",
                      info->samplerate, info->channels, (double)frames / (double)rate,
                      (unsigned long long)(frames * (uint64_t)info->channels),
                      (unsigned long long)cap);
    return 0;
}

/* Reads every block, converting each as it comes; *in_frames gets the
 * file's length in frames at its own rate. */
static int decode(SNDFILE *sf, const SF_INFO *info, converter *c, size_t *in_frames, char *err,
                  size_t errlen)
{
    uint64_t rate = (uint64_t)info->samplerate;
    uint64_t max_frames = rate * FC_AUDIO_MAX_SECONDS;
    uint64_t cap = atomic_load(&max_samples) / (uint64_t)info->channels;
    float *block = malloc((size_t)BLOCK * (size_t)info->channels * sizeof *block);
    if (!block) {
        snprintf(err, errlen, "audio: out of memory");
        return -ENOMEM;
    }
    int rc = 0;
    size_t n = 0;
    for (;;) {
        sf_count_t got = sf_readf_float(sf, block, BLOCK);
        if (got <= 0) break;
        n += (size_t)got;
        /* Files that do not state their length meet the bounds here. */
        if (n > max_frames) {
            rc = refuse(REFUSED_DURATION, -E2BIG, err, errlen, "audio: longer than %d s",
                        FC_AUDIO_MAX_SECONDS);
            break;
        }
        if (n > cap) {
            rc = refuse(REFUSED_SAMPLES, -E2BIG, err, errlen,
                        "audio: %d Hz x %d channels holds more than the %llu samples allowed "
                        "(--max-audio-samples): refused",
                        info->samplerate, info->channels,
                        (unsigned long long)atomic_load(&max_samples));
            break;
        }
        const float *conv = block;
        if (c->in_ch != c->out_ch) {
            remix(c, block, (size_t)got);
            conv = c->mixed;
        }
        rc = append(c, conv, (size_t)got);
        if (rc < 0) {
            snprintf(err, errlen, "audio: out of memory converting %zu frames", n);
            break;
        }
    }
    if (rc == 0 && sf_error(sf) != SF_ERR_NO_ERROR)
        rc =
            refuse(REFUSED_DAMAGED, -EINVAL, err, errlen, "audio: decoding failed after %.1f s: %s",
                   (double)n / (double)rate, sf_strerror(sf));
    free(block);
    *in_frames = n;
    return rc;
}

int fc_audio_load_fd(int fd, int want_rate, int want_channels, fc_audio *out, char *err,
                     size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (want_rate < 1 || want_channels < 1 || want_channels > 8) {
        snprintf(err, errlen, "audio: cannot convert to %d Hz, %d channels", want_rate,
                 want_channels);
        return -EINVAL;
    }
    SF_INFO info;
    memset(&info, 0, sizeof info);
    /* libsndfile 1.2.0 closes the descriptor when an open fails, whatever
     * close_desc says: give it a copy of its own to close. */
    int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (own < 0) {
        int e = errno;
        snprintf(err, errlen, "audio: %s", strerror(e));
        return -e;
    }
    SNDFILE *sf = sf_open_fd(own, SFM_READ, &info, SF_TRUE);
    if (!sf) return open_failed(fd, err, errlen);
    int rc = check_header(&info, err, errlen);
    if (rc < 0) {
        sf_close(sf);
        return rc;
    }
    converter c = {.in_ch = info.channels,
                   .out_ch = want_channels,
                   .in_rate = info.samplerate,
                   .out_rate = want_rate};
    /* The most the result can hold: the longest file at the new rate, plus
     * the resampler's flush. */
    c.max = (size_t)ceil((double)FC_AUDIO_MAX_SECONDS * want_rate) + 1024;
    bool known = info.frames > 0 && info.frames != SF_COUNT_MAX;
    size_t first = known ? (size_t)((double)info.frames * want_rate / info.samplerate) + 1024
                         : (size_t)want_rate;
    if (reserve(&c, first < c.max ? first : c.max) < 0 ||
        (c.in_ch != c.out_ch &&
         !(c.mixed = malloc((size_t)BLOCK * (size_t)c.out_ch * sizeof *c.mixed)))) {
        snprintf(err, errlen, "audio: out of memory");
        rc = -ENOMEM;
        goto out;
    }
    if (info.samplerate != want_rate) {
        int src;
        c.rs = speex_resampler_init((spx_uint32_t)want_channels, (spx_uint32_t)info.samplerate,
                                    (spx_uint32_t)want_rate, SPEEX_RESAMPLER_QUALITY_DEFAULT, &src);
        if (!c.rs) {
            snprintf(err, errlen, "audio: cannot resample %d Hz to %d Hz: %s", info.samplerate,
                     want_rate, speex_resampler_strerror(src));
            rc = -EINVAL;
            goto out;
        }
        atomic_fetch_add(&resamplers_created, 1);
    }
    size_t in_frames;
    rc = decode(sf, &info, &c, &in_frames, err, errlen);
    if (rc == 0 && in_frames == 0)
        rc = refuse(REFUSED_DAMAGED, -EINVAL, err, errlen, "audio: the file holds no samples");
    if (rc == 0 && c.rs && (rc = finish_resampling(&c, in_frames)) < 0)
        snprintf(err, errlen, "audio: out of memory resampling %zu frames", in_frames);
    if (rc == 0) {
        *out = (fc_audio){.samples = c.out,
                          .frames = c.n,
                          .rate = want_rate,
                          .channels = want_channels,
                          .duration = (double)in_frames / info.samplerate,
                          .file_rate = info.samplerate,
                          .file_channels = info.channels,
                          .resampled = c.rs != NULL};
        c.out = NULL;
    }
out:
    if (c.rs) speex_resampler_destroy(c.rs);
    free(c.mixed);
    free(c.out);
    sf_close(sf);
    return rc;
}

static void m_refused(fc_metrics_out *out, void *ctx)
{
    (void)ctx;
    fc_metrics_sample(out, "reason=\"samples\"", (double)atomic_load(&refused[REFUSED_SAMPLES]));
    fc_metrics_sample(out, "reason=\"duration\"", (double)atomic_load(&refused[REFUSED_DURATION]));
    fc_metrics_sample(out, "reason=\"damaged\"", (double)atomic_load(&refused[REFUSED_DAMAGED]));
}

int fc_audio_metrics_register(fc_metrics *m)
{
    return fc_metrics_register(m, "fc_audio_refused_total", FC_METRIC_COUNTER,
                               "Speech files refused: over --max-audio-samples, longer than "
                               "600 s, damaged or not audio",
                               m_refused, NULL);
}
