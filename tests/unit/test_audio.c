/* Speech decoding under hostile input: rate x channels x duration bounded
 * before decoding, exactly FC_AUDIO_MAX_SECONDS accepted, block-wise decode
 * whose memory is the result and not the file, and error texts of our own. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>
#include <sndfile.h>

#include "avatar/audio.h"

typedef float (*wave_fn)(size_t frame, int channel, int rate);

static float silence(size_t frame, int channel, int rate)
{
    (void)frame, (void)channel, (void)rate;
    return 0;
}

static float sine440(size_t frame, int channel, int rate)
{
    (void)channel;
    return 0.5f * sinf(2 * (float)M_PI * 440 * (float)frame / (float)rate);
}

/* A memory file holding `frames` frames of `wave` in `format`, at offset 0. */
static int make_audio(int format, int rate, int channels, size_t frames, wave_fn wave)
{
    int fd = memfd_create("speech", MFD_CLOEXEC);
    assert_true(fd >= 0);
    SF_INFO info = {.samplerate = rate, .channels = channels, .format = format};
    SNDFILE *sf = sf_open_fd(fd, SFM_WRITE, &info, SF_FALSE);
    if (!sf) fail_msg("cannot write a test file: %s", sf_strerror(NULL));
    float block[4096 * 8];
    for (size_t done = 0; done < frames;) {
        size_t n = frames - done < 4096 ? frames - done : 4096;
        for (size_t f = 0; f < n; f++)
            for (int c = 0; c < channels; c++)
                block[f * (size_t)channels + (size_t)c] = wave(done + f, c, rate);
        assert_int_equal(sf_writef_float(sf, block, (sf_count_t)n), (sf_count_t)n);
        done += n;
    }
    sf_close(sf);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

static const int WAV16 = SF_FORMAT_WAV | SF_FORMAT_PCM_16;

static void exactly_600_seconds_is_accepted_one_frame_more_is_not(void **state)
{
    (void)state;
    fc_audio a;
    char err[512] = "";
    int fd = make_audio(WAV16, 8000, 1, 8000u * FC_AUDIO_MAX_SECONDS, silence);
    int rc = fc_audio_load_fd(fd, 8000, 1, &a, err, sizeof err);
    if (rc != 0) fail_msg("exactly %d s refused: %s", FC_AUDIO_MAX_SECONDS, err);
    assert_int_equal(a.frames, 8000u * FC_AUDIO_MAX_SECONDS);
    assert_true(a.duration == FC_AUDIO_MAX_SECONDS);
    fc_audio_free(&a);
    close(fd);

    fd = make_audio(WAV16, 8000, 1, 8000u * FC_AUDIO_MAX_SECONDS + 1, silence);
    assert_int_equal(fc_audio_load_fd(fd, 8000, 1, &a, err, sizeof err), -E2BIG);
    assert_null(a.samples);
    assert_non_null(strstr(err, "600.000 s long, more than 600 s"));
    close(fd);
}

/* FLAC's STREAMINFO states the length: 36 bits of total samples at byte
 * 8 + 13 of the file, after sample rate, channels and bits per sample. */
static void flac_set_total_samples(int fd, uint64_t total)
{
    uint8_t b[8];
    assert_int_equal(pread(fd, b, 5, 8 + 13), 5);
    b[0] = (uint8_t)((b[0] & 0xf0) | ((total >> 32) & 0x0f));
    b[1] = (uint8_t)(total >> 24), b[2] = (uint8_t)(total >> 16), b[3] = (uint8_t)(total >> 8),
    b[4] = (uint8_t)total;
    assert_int_equal(pwrite(fd, b, 5, 8 + 13), 5);
}

/* A FLAC whose header says 600 s of 192 kHz, 8 channels: refused from the
 * header, before a sample is decoded. */
static void rate_times_channels_times_duration_is_bounded_before_decoding(void **state)
{
    (void)state;
    int fd = make_audio(SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 192000, 8, 19200, silence);
    flac_set_total_samples(fd, 192000ull * FC_AUDIO_MAX_SECONDS);
    fc_audio a;
    char err[512] = "";
    assert_int_equal(fc_audio_load_fd(fd, 16000, 1, &a, err, sizeof err), -E2BIG);
    assert_null(a.samples);
    if (!strstr(err, "192000 Hz x 8 channels x 600.0 s is 921600000 samples") ||
        !strstr(err, "--max-audio-samples"))
        fail_msg("%s", err);
    /* The cap is the flag's value: one that admits it decodes what is there. */
    fc_audio_set_max_samples(FC_AUDIO_MAX_SAMPLES_MAX);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    int rc = fc_audio_load_fd(fd, 16000, 1, &a, err, sizeof err);
    fc_audio_set_max_samples(FC_AUDIO_MAX_SAMPLES_DEFAULT);
    if (rc != 0) fail_msg("%s", err);
    assert_true(a.frames >= 1600 - 2 && a.frames <= 1600 + 2);
    fc_audio_free(&a);
    close(fd);
}

static long status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    assert_non_null(f);
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0) v = atol(line + n);
    fclose(f);
    return v;
}

/* 120 s of 48 kHz stereo is 46 MB of floats at the file's rate; converted
 * block by block to 16 kHz mono the peak is the 7.7 MB result plus a block. */
static void decodes_in_blocks_mixed_and_resampled_as_it_goes(void **state)
{
    (void)state;
    size_t frames = 48000u * 120;
    int fd = make_audio(WAV16, 48000, 2, frames, sine440);
    FILE *clear = fopen("/proc/self/clear_refs", "w");
    assert_non_null(clear);
    fputs("5", clear); /* resets VmHWM to the current RSS */
    fclose(clear);
    long base = status_kb("VmRSS:");
    fc_audio a;
    char err[512] = "";
    uint64_t created = fc_audio_resamplers_created();
    assert_int_equal(fc_audio_load_fd(fd, 16000, 1, &a, err, sizeof err), 0);
    long peak = status_kb("VmHWM:");
    assert_int_equal(a.frames, 16000u * 120);
    assert_true(a.resampled);
    assert_int_equal(fc_audio_resamplers_created(), created + 1);
    assert_int_equal(a.file_rate, 48000);
    assert_int_equal(a.file_channels, 2);
    long grew_kb = peak - base, result_kb = (long)(a.frames * sizeof(float) / 1024);
    if (grew_kb > result_kb + 8 * 1024)
        fail_msg("decoding grew the peak by %ld kB for a %ld kB result", grew_kb, result_kb);
    /* The mix and the resampler keep the tone: RMS of a 0.5 sine, and 880
     * zero crossings a second. */
    double sq = 0;
    size_t crossings = 0;
    for (size_t i = 16000; i < a.frames - 16000; i++) {
        sq += (double)a.samples[i] * a.samples[i];
        crossings += (a.samples[i - 1] < 0) != (a.samples[i] < 0);
    }
    double rms = sqrt(sq / (double)(a.frames - 32000));
    assert_true(fabs(rms - 0.5 / sqrt(2)) < 0.02);
    double per_s = (double)crossings / ((double)(a.frames - 32000) / 16000);
    assert_true(fabs(per_s - 880) < 5);
    fc_audio_free(&a);
    close(fd);
}

static void matching_rate_creates_no_resampler_and_keeps_every_sample(void **state)
{
    (void)state;
    int fd = make_audio(WAV16, 24000, 1, 24000 * 3 + 17, sine440);
    uint64_t created = fc_audio_resamplers_created();
    fc_audio a;
    char err[512] = "";
    assert_int_equal(fc_audio_load_fd(fd, 24000, 2, &a, err, sizeof err), 0);
    assert_int_equal(fc_audio_resamplers_created(), created);
    assert_false(a.resampled);
    assert_int_equal(a.frames, 24000 * 3 + 17);
    assert_int_equal(a.channels, 2);
    for (size_t i = 0; i < a.frames; i += 997) {
        float want = roundf(sine440(i, 0, 24000) * 32767) / 32768;
        assert_true(fabsf(a.samples[2 * i] - want) < 1e-4f);
        assert_true(a.samples[2 * i + 1] == a.samples[2 * i]); /* mono spread to both */
    }
    fc_audio_free(&a);
    close(fd);
}

static void resampled_length_is_the_input_s_at_the_new_rate(void **state)
{
    (void)state;
    size_t frames = 44100 * 2 + 333;
    int fd = make_audio(WAV16, 44100, 1, frames, sine440);
    fc_audio a;
    char err[512] = "";
    assert_int_equal(fc_audio_load_fd(fd, 16000, 1, &a, err, sizeof err), 0);
    assert_int_equal(a.frames, (size_t)llround((double)frames * 16000 / 44100));
    assert_true(fabs(a.duration - (double)frames / 44100) < 1e-9);
    fc_audio_free(&a);
    close(fd);
}

static int memfile(const void *data, size_t len)
{
    int fd = memfd_create("garbage", MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

/* The texts are ours: libsndfile's reason for a failed open lives in one
 * process-wide string every worker thread writes. */
static void undecodable_files_get_their_own_error_text(void **state)
{
    (void)state;
    uint8_t junk[4096];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)((i * 2654435761u) >> 13);
    memcpy(junk, "ID3", 3);
    fc_audio a;
    char err[512] = "";
    int fd = memfile(junk, sizeof junk);
    assert_int_equal(fc_audio_load_fd(fd, 16000, 1, &a, err, sizeof err), -EINVAL);
    assert_string_equal(err, "audio: cannot decode this MP3 file: damaged, or a variant "
                             "libsndfile does not read");
    close(fd);
    memcpy(junk, "NOPE", 4);
    fd = memfile(junk, sizeof junk);
    assert_int_equal(fc_audio_load_fd(fd, 16000, 1, &a, err, sizeof err), -EINVAL);
    assert_string_equal(err, "audio: not a WAV, FLAC, OGG or MP3 file");
    close(fd);
    fd = make_audio(WAV16, 16000, 1, 0, silence);
    assert_int_equal(fc_audio_load_fd(fd, 16000, 1, &a, err, sizeof err), -EINVAL);
    assert_string_equal(err, "audio: the file holds no samples");
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decodes_in_blocks_mixed_and_resampled_as_it_goes),
        cmocka_unit_test(exactly_600_seconds_is_accepted_one_frame_more_is_not),
        cmocka_unit_test(rate_times_channels_times_duration_is_bounded_before_decoding),
        cmocka_unit_test(matching_rate_creates_no_resampler_and_keeps_every_sample),
        cmocka_unit_test(resampled_length_is_the_input_s_at_the_new_rate),
        cmocka_unit_test(undecodable_files_get_their_own_error_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
