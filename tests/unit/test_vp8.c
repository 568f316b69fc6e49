/* The VP8 encoder behind the codec interface, checked with an independent
 * decoder (libavcodec's own VP8 decoder) on frames of the synthetic source:
 * every frame decodes, the picture is the one that went in, key frames come
 * when they must (first, forced, keyint) and never on a bitrate change, the
 * key flag agrees with the bitstream, and bad configs are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>

#include "avdec.h"
#include "core/protocol.h"
#include "encode/bitstream.h"
#include "encode/codec.h"
#include "sources/source.h"

typedef struct run {
    fc_source *src;
    const fc_codec_ops *vp8;
    fc_encoder *enc;
    double fps;
    int tier;
} run;

static void start_tier(run *r, const char *spec, int w, int h, double fps, int kbps, int keyint,
                       int tier)
{
    fc_source_spec s;
    char err[512];
    if (fc_source_spec_parse(spec, &s, err, sizeof err) != 0 ||
        fc_source_create(&s, w, h, fps, &r->src, err, sizeof err) != 0)
        fail_msg("source %s: %s", spec, err);
    r->vp8 = fc_codec_find("vp8");
    assert_non_null(r->vp8);
    fc_codec_config cfg = {
        .width = w, .height = h, .fps = fps, .bitrate_kbps = kbps, .keyint = keyint, .tier = tier};
    if (r->vp8->open(&cfg, &r->enc, err, sizeof err) != 0) fail_msg("open: %s", err);
    r->fps = fps;
    r->tier = tier;
}

static void start(run *r, const char *spec, int w, int h, double fps, int kbps, int keyint)
{
    start_tier(r, spec, w, h, fps, kbps, keyint, 2);
}

static void stop(run *r)
{
    r->vp8->close(r->enc);
    fc_source_destroy(r->src);
}

static fc_frame *render(run *r, uint32_t i)
{
    fc_frame *raw;
    assert_int_equal(r->src->ops->render(r->src, i, 1700000000.0 + i / r->fps, &raw), 0);
    return raw;
}

/* Encodes one frame and checks what every VP8 frame must be: the wire
 * layout, the stamps, and a key flag that agrees with the frame tag. */
static fc_frame *encode(run *r, const fc_frame *raw, fc_encode_args args)
{
    fc_frame *out = NULL;
    char err[512];
    if (r->vp8->encode(r->enc, raw, &args, &out, err, sizeof err) != 0)
        fail_msg("encode frame %u: %s", raw->id, err);
    assert_non_null(out); /* frame dropping is off */
    assert_int_equal(out->codec, FC_CODEC_VP8);
    assert_int_equal(out->tier, r->tier);
    assert_int_equal(out->width, raw->width);
    fc_header h;
    assert_int_equal(fc_header_read(out->wire, fc_frame_wire_len(out), &h), 0);
    assert_int_equal(h.frame_id, raw->id);
    assert_true(h.timestamp == raw->timestamp);
    assert_int_equal(h.payload_len, out->payload_len);
    assert_ptr_equal(out->payload, out->wire + FC_HEADER_SIZE);
    assert_int_equal(fc_vp8_is_key(out->payload, out->payload_len), out->key ? 1 : 0);
    return out;
}

/* 90 frames of each scene through the default ladder's high tier (1171 kbps
 * at 640x360): each frame decodes with libavcodec to a picture close to its
 * own source frame, and closer to it than to the source frame before (no
 * frame of delay).
 *
 * The bounds: here the frames measure 50.2 dB (procedural) and 46.8 dB
 * (face) on average, 41.6 and 40.3 dB at worst (the first frames, while rate
 * control starts); the output is the same on every run (one thread, fixed
 * speed). 36 dB per frame and 42 dB on average leave 4 dB or more for other
 * libvpx builds, while broken output lands far below: swapped chroma planes
 * give 21 dB, a wrong luma stride 14 dB. */
static void decodes_to_the_source_picture(void **state)
{
    (void)state;
    static const char *scenes[] = {"synthetic:procedural",
                                   "synthetic:image=" FC_TEST_FIXTURES "/face-astronaut.png"};
    for (size_t s = 0; s < 2; s++) {
        run r;
        start_tier(&r, scenes[s], 640, 360, 30, 0, 0, 0);
        fc_avdec *dec;
        char err[512];
        if (fc_avdec_open("vp8", &dec, err, sizeof err) != 0) fail_msg("%s", err);
        fc_frame *prev = NULL;
        double worst = 1000, sum = 0;
        for (uint32_t i = 0; i < 90; i++) {
            fc_frame *raw = render(&r, i);
            fc_frame *enc = encode(&r, raw, (fc_encode_args){0});
            if (i == 0) assert_true(enc->key);
            fc_frame *pic;
            if (fc_avdec_decode(dec, enc->payload, enc->payload_len, &pic, err, sizeof err) != 0)
                fail_msg("%s: frame %u (%s, %zu bytes) does not decode: %s", scenes[s], i,
                         enc->key ? "key" : "delta", enc->payload_len, err);
            assert_int_equal(pic->width, 640);
            assert_int_equal(pic->height, 360);
            double psnr = fc_avdec_psnr(pic, raw);
            if (psnr < 36) fail_msg("%s: frame %u decodes at %.1f dB", scenes[s], i, psnr);
            if (prev && fc_avdec_psnr(pic, prev) >= psnr)
                fail_msg("%s: frame %u is closer to the source frame before it", scenes[s], i);
            worst = psnr < worst ? psnr : worst;
            sum += psnr;
            fc_frame_unref(prev);
            prev = raw;
            fc_frame_unref(pic);
            fc_frame_unref(enc);
        }
        print_message("%s: PSNR mean %.1f dB, worst %.1f dB\n", scenes[s], sum / 90, worst);
        if (sum / 90 < 42) fail_msg("%s: mean PSNR %.1f dB", scenes[s], sum / 90);
        fc_frame_unref(prev);
        fc_avdec_close(dec);
        stop(&r);
    }
}

/* The first frame is a key frame, then deltas only, until one is forced;
 * with keyint K a key frame comes at least every K frames; the default is
 * ten seconds of frames. */
static void key_frames_come_when_they_must(void **state)
{
    (void)state;
    run r;
    start(&r, "synthetic:procedural", 320, 180, 30, 300, 1000);
    for (uint32_t i = 0; i < 40; i++) {
        fc_frame *raw = render(&r, i);
        fc_frame *enc = encode(&r, raw, (fc_encode_args){.force_key = i == 25});
        if (enc->key != (i == 0 || i == 25)) fail_msg("frame %u: key %d", i, enc->key);
        fc_frame_unref(enc);
        fc_frame_unref(raw);
    }
    stop(&r);

    start(&r, "synthetic:procedural", 320, 180, 30, 300, 10);
    int since_key = 0, keys = 0;
    for (uint32_t i = 0; i < 45; i++) {
        fc_frame *raw = render(&r, i);
        fc_frame *enc = encode(&r, raw, (fc_encode_args){0});
        since_key = enc->key ? 0 : since_key + 1;
        keys += enc->key;
        if (since_key >= 10) fail_msg("frame %u: %d deltas in a row with keyint 10", i, since_key);
        fc_frame_unref(enc);
        fc_frame_unref(raw);
    }
    assert_true(keys >= 5);
    stop(&r);

    /* keyint 0: ten seconds of frames, 50 at 5 fps. */
    start(&r, "synthetic:procedural", 320, 180, 5, 300, 0);
    for (uint32_t i = 0; i < 55; i++) {
        fc_frame *raw = render(&r, i);
        fc_frame *enc = encode(&r, raw, (fc_encode_args){0});
        if (enc->key != (i == 0 || i == 50))
            fail_msg("keyint 0 at 5 fps: frame %u: key %d", i, enc->key);
        fc_frame_unref(enc);
        fc_frame_unref(raw);
    }
    stop(&r);
}

static double mean_bytes(run *r, uint32_t from, uint32_t n, int kbps, int *keys)
{
    size_t total = 0;
    for (uint32_t i = from; i < from + n; i++) {
        fc_frame *raw = render(r, i);
        fc_frame *enc = encode(r, raw, (fc_encode_args){.bitrate_kbps = kbps});
        total += enc->payload_len;
        *keys += enc->key;
        fc_frame_unref(enc);
        fc_frame_unref(raw);
    }
    return (double)total / n;
}

/* A new target takes effect within a second (the rate control's buffer)
 * and costs no key frame. Only the second half of each window counts: the
 * first is the controller moving to the new rate. */
static void bitrate_change_takes_effect_without_a_key_frame(void **state)
{
    (void)state;
    run r;
    start(&r, "synthetic:procedural", 640, 360, 30, 1600, 1000);
    int keys = 0;
    mean_bytes(&r, 0, 30, 0, &keys);
    double high = mean_bytes(&r, 30, 30, 0, &keys);
    assert_int_equal(keys, 1); /* the first frame */
    keys = 0;
    mean_bytes(&r, 60, 30, 200, &keys);
    double low = mean_bytes(&r, 90, 30, 200, &keys);
    assert_int_equal(keys, 0);
    print_message("1600 kbps: %.0f bytes/frame; 200 kbps: %.0f bytes/frame\n", high, low);
    /* 1600 kbps at 30 fps is 6667 bytes a frame, 200 kbps 833. */
    assert_true(high > 6667 * 0.6 && high < 6667 * 1.4);
    assert_true(low > 833 * 0.5 && low < 833 * 1.5);
    stop(&r);
}

/* The rate follows capture times: frames 1/15 s apart into an encoder
 * opened for 30 fps still make the target bitrate, so each frame gets about
 * twice the bytes. */
static void rate_follows_capture_times(void **state)
{
    (void)state;
    run r;
    start(&r, "synthetic:procedural", 640, 360, 30, 800, 1000);
    r.fps = 15; /* render() stamps frames 1/15 s apart */
    int keys = 0;
    mean_bytes(&r, 0, 30, 0, &keys);
    double per_frame = mean_bytes(&r, 30, 30, 0, &keys);
    print_message("800 kbps, 15 fps fed: %.0f bytes/frame (30 fps would be 3333)\n", per_frame);
    assert_true(per_frame > 6667 * 0.6 && per_frame < 6667 * 1.4);
    stop(&r);
}

typedef struct handoff {
    run *r;
    const fc_frame *raw;
    fc_frame *out;
    int rc;
    char err[256];
} handoff;

/* No cmocka asserts here: they may only fail on the test's own thread. */
static void *encode_on_thread(void *arg)
{
    handoff *h = arg;
    h->rc =
        h->r->vp8->encode(h->r->enc, h->raw, &(fc_encode_args){0}, &h->out, h->err, sizeof h->err);
    return NULL;
}

/* An instance moves between workers (one call at a time): each frame on a
 * new thread still continues the same stream. */
static void encodes_on_any_thread(void **state)
{
    (void)state;
    run r;
    start(&r, "synthetic:procedural", 320, 180, 30, 300, 1000);
    fc_avdec *dec;
    char err[512];
    assert_int_equal(fc_avdec_open("vp8", &dec, err, sizeof err), 0);
    for (uint32_t i = 0; i < 12; i++) {
        handoff h = {.r = &r, .raw = render(&r, i)};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, encode_on_thread, &h), 0);
        assert_int_equal(pthread_join(t, NULL), 0);
        if (h.rc != 0) fail_msg("frame %u: %s", i, h.err);
        assert_non_null(h.out);
        assert_int_equal(h.out->key, i == 0);
        assert_int_equal(fc_vp8_is_key(h.out->payload, h.out->payload_len), i == 0);
        fc_frame *pic;
        if (fc_avdec_decode(dec, h.out->payload, h.out->payload_len, &pic, err, sizeof err))
            fail_msg("frame %u: %s", i, err);
        assert_true(fc_avdec_psnr(pic, h.raw) > 30);
        fc_frame_unref(pic);
        fc_frame_unref(h.out);
        fc_frame_unref((fc_frame *)h.raw);
    }
    fc_avdec_close(dec);
    stop(&r);
}

/* bitrate_kbps 0 is the default ladder: each tier makes about its rate
 * (vp8.h: 1171, 836 and 502 kbps at 640x360 and 30 fps), high above
 * medium above low. */
static void default_ladder_by_tier(void **state)
{
    (void)state;
    static const double kbps[3] = {1171, 836, 502};
    double bytes[3];
    for (int tier = 0; tier < 3; tier++) {
        run r;
        start_tier(&r, "synthetic:procedural", 640, 360, 30, 0, 0, tier);
        int keys = 0;
        mean_bytes(&r, 0, 30, 0, &keys);
        bytes[tier] = mean_bytes(&r, 30, 60, 0, &keys);
        double want = kbps[tier] * 1000 / 8 / 30;
        print_message("tier %d: %.0f bytes/frame, ladder %.0f\n", tier, bytes[tier], want);
        if (bytes[tier] < want * 0.65 || bytes[tier] > want * 1.35)
            fail_msg("tier %d: %.0f bytes a frame for a %.0f-byte budget", tier, bytes[tier], want);
        stop(&r);
    }
    assert_true(bytes[0] > bytes[1] && bytes[1] > bytes[2]);
}

static void bad_configs_are_refused_by_name(void **state)
{
    (void)state;
    const fc_codec_ops *vp8 = fc_codec_find("vp8");
    assert_non_null(vp8);
    assert_true(vp8->inter_frame);
    assert_ptr_equal(fc_codec_by_id(FC_CODEC_VP8), vp8);
    assert_non_null(strstr(fc_codec_names(), "vp8"));
    static const struct {
        fc_codec_config cfg;
        const char *needle;
    } bad[] = {
        {{.width = 641, .height = 360, .fps = 30}, "641x360 has an odd side"},
        {{.width = 640, .height = 361, .fps = 30}, "640x361 has an odd side"},
        {{.width = 0, .height = 360, .fps = 30}, "size 0x360"},
        {{.width = 20000, .height = 360, .fps = 30}, "size 20000x360"},
        {{.width = 640, .height = 360, .fps = 0}, "fps 0"},
        {{.width = 640, .height = 360, .fps = -5}, "fps -5"},
        {{.width = 640, .height = 360, .fps = 30, .bitrate_kbps = -1}, "bitrate -1 kbps"},
        {{.width = 640, .height = 360, .fps = 30, .keyint = -2}, "keyint -2"},
        {{.width = 640, .height = 360, .fps = 30, .tier = 3}, "tier 3"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fc_encoder *e = NULL;
        char err[256] = "";
        assert_true(vp8->open(&bad[i].cfg, &e, err, sizeof err) < 0);
        if (!strstr(err, bad[i].needle) || strncmp(err, "vp8: ", 5) != 0)
            fail_msg("error '%s' does not say 'vp8: ... %s'", err, bad[i].needle);
    }
    /* A frame of another size, and a bad bitrate request, are refused too. */
    fc_codec_config cfg = {.width = 320, .height = 180, .fps = 30};
    fc_encoder *e;
    char err[256];
    assert_int_equal(vp8->open(&cfg, &e, err, sizeof err), 0);
    fc_frame *raw = fc_frame_new_i420(640, 360), *out = NULL;
    memset(raw->plane[0], 128, 640 * 360 * 3 / 2);
    assert_true(vp8->encode(e, raw, &(fc_encode_args){0}, &out, err, sizeof err) < 0);
    assert_non_null(strstr(err, "640x360 is not an I420 frame of the encoder's 320x180"));
    assert_null(out);
    fc_frame_unref(raw);
    raw = fc_frame_new_i420(320, 180);
    memset(raw->plane[0], 128, 320 * 180 * 3 / 2);
    assert_true(vp8->encode(e, raw, &(fc_encode_args){.bitrate_kbps = -3}, &out, err, sizeof err) <
                0);
    assert_non_null(strstr(err, "bitrate -3 kbps"));
    fc_frame_unref(raw);
    vp8->close(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decodes_to_the_source_picture),
        cmocka_unit_test(key_frames_come_when_they_must),
        cmocka_unit_test(bitrate_change_takes_effect_without_a_key_frame),
        cmocka_unit_test(rate_follows_capture_times),
        cmocka_unit_test(encodes_on_any_thread),
        cmocka_unit_test(default_ladder_by_tier),
        cmocka_unit_test(bad_configs_are_refused_by_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
