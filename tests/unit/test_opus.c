/* Opus for WebRTC: the speech fixture at its own 16 kHz becomes 20 ms
 * packets with no resampler, 48 kHz positions 960 apart, that libopus decodes
 * back to sound; 44.1 kHz (a rate Opus does not take) is resampled and a tone
 * keeps its pitch; bad parameters are refused by name. */
#include <errno.h>
#include <math.h>
#include <opus/opus.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "avatar/audio.h"
#include "encode/opus.h"

typedef struct decoded {
    OpusDecoder *dec;
    uint64_t next_ticks;
    size_t packets;
    size_t samples; /* decoded at 48 kHz */
    double energy;
    size_t crossings; /* sign changes, for the pitch */
    float last;
} decoded;

static int on_packet(const uint8_t *pkt, size_t len, uint64_t ticks, void *arg)
{
    decoded *d = arg;
    assert_true(len > 0 && len <= FC_OPUS_MAX_PACKET);
    assert_int_equal(ticks, d->next_ticks);
    d->next_ticks += FC_OPUS_FRAME_TICKS;
    d->packets++;
    float pcm[5760];
    int n = opus_decode_float(d->dec, pkt, (opus_int32)len, pcm, 5760, 0);
    assert_int_equal(n, 960); /* 20 ms at 48 kHz, whatever rate went in */
    for (int i = 0; i < n; i++) {
        d->energy += (double)pcm[i] * pcm[i];
        if ((pcm[i] >= 0) != (d->last >= 0)) d->crossings++;
        d->last = pcm[i];
    }
    d->samples += (size_t)n;
    return 0;
}

static void decoded_init(decoded *d)
{
    memset(d, 0, sizeof *d);
    int rc;
    d->dec = opus_decoder_create(48000, 1, &rc);
    assert_non_null(d->dec);
}

static void speech_at_its_own_rate(void **state)
{
    (void)state;
    fc_audio a;
    char err[256];
    int fd = open(FC_TEST_FIXTURES "/speech-16k.wav", O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(fc_audio_load_fd(fd, 16000, 1, &a, err, sizeof err), 0);
    close(fd);
    assert_false(a.resampled);
    uint64_t resamplers = fc_audio_resamplers_created();
    fc_opus *o;
    assert_int_equal(fc_opus_open(16000, 1, 24000, &o, err, sizeof err), 0);
    assert_false(fc_opus_resamples(o));
    decoded d;
    decoded_init(&d);
    /* In uneven pieces, as an avatar session's frames cut the track. */
    size_t off = 0, piece = 641;
    while (off < a.frames) {
        size_t n = a.frames - off < piece ? a.frames - off : piece;
        assert_int_equal(fc_opus_encode(o, a.samples + off, n, on_packet, &d, err, sizeof err), 0);
        off += n;
    }
    assert_int_equal(fc_opus_flush(o, on_packet, &d, err, sizeof err), 0);
    assert_int_equal(d.packets, (a.frames + 319) / 320);
    assert_true(d.energy / (double)d.samples > 1e-4); /* speech, not silence */
    assert_int_equal(fc_audio_resamplers_created(), resamplers);
    assert_int_equal(fc_opus_flush(o, on_packet, &d, err, sizeof err), 0); /* nothing waits */
    assert_int_equal(d.packets, (a.frames + 319) / 320);
    fc_opus_close(o);
    opus_decoder_destroy(d.dec);
    fc_audio_free(&a);
}

static void tone(float *out, size_t n, int rate, double hz)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (float)(0.5 * sin(2 * M_PI * hz * (double)i / rate));
}

static void other_rates_are_resampled(void **state)
{
    (void)state;
    char err[256];
    fc_opus *o;
    assert_int_equal(fc_opus_open(44100, 1, 0, &o, err, sizeof err), 0);
    assert_true(fc_opus_resamples(o));
    size_t n = 44100 * 2;
    float *pcm = malloc(n * sizeof *pcm);
    tone(pcm, n, 44100, 440);
    decoded d;
    decoded_init(&d);
    for (size_t off = 0; off < n; off += 1000)
        assert_int_equal(fc_opus_encode(o, pcm + off, n - off < 1000 ? n - off : 1000, on_packet,
                                        &d, err, sizeof err),
                         0);
    assert_int_equal(fc_opus_flush(o, on_packet, &d, err, sizeof err), 0);
    /* Two seconds at 48 kHz, less the resampler's few samples of delay. */
    assert_in_range(d.packets, 99, 100);
    /* 440 Hz is 880 sign changes a second. */
    double hz = (double)d.crossings / 2 / ((double)d.samples / 48000);
    assert_true(fabs(hz - 440) < 440 * 0.03);
    fc_opus_close(o);
    opus_decoder_destroy(d.dec);
    free(pcm);
}

static int stop_at_second(const uint8_t *pkt, size_t len, uint64_t ticks, void *arg)
{
    (void)pkt;
    (void)len;
    int *count = arg;
    return ticks >= FC_OPUS_FRAME_TICKS ? -ECANCELED : ++*count;
}

static void callback_error_stops(void **state)
{
    (void)state;
    char err[256];
    fc_opus *o;
    assert_int_equal(fc_opus_open(48000, 2, 64000, &o, err, sizeof err), 0);
    assert_false(fc_opus_resamples(o));
    float pcm[960 * 2 * 3] = {0};
    int count = 0;
    assert_int_equal(fc_opus_encode(o, pcm, 960 * 3, stop_at_second, &count, err, sizeof err),
                     -ECANCELED);
    assert_int_equal(count, 1);
    fc_opus_close(o);
}

static void bad_parameters(void **state)
{
    (void)state;
    char err[256];
    fc_opus *o = NULL;
    assert_int_equal(fc_opus_open(500, 1, 0, &o, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "500 Hz"));
    assert_int_equal(fc_opus_open(16000, 3, 0, &o, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "3 channels"));
    assert_int_equal(fc_opus_open(16000, 1, 1000, &o, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "1000 bit/s"));
    assert_null(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(speech_at_its_own_rate),
        cmocka_unit_test(other_rates_are_resampled),
        cmocka_unit_test(callback_error_stops),
        cmocka_unit_test(bad_parameters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
