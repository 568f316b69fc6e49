/* The codec registry: every registered codec opens by name, encodes a frame
 * into a sealed wire frame that decodes again, and refuses a bad config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <turbojpeg.h>
#include <webp/decode.h>

#include "core/protocol.h"
#include "encode/codec.h"

static fc_frame *gradient(int w, int h)
{
    fc_frame *f = fc_frame_new_i420(w, h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            f->plane[0][y * f->stride[0] + x] = (uint8_t)(x + y);
    memset(f->plane[1], 100, (size_t)(w / 2) * (size_t)(h / 2));
    memset(f->plane[2], 150, (size_t)(w / 2) * (size_t)(h / 2));
    f->id = 7;
    f->timestamp = 1234.5;
    return f;
}

static fc_frame *encode_with(const char *name, fc_frame *raw)
{
    const fc_codec_ops *c = fc_codec_find(name);
    assert_non_null(c);
    assert_int_equal(c->abi_version, FC_CODEC_ABI_VERSION);
    assert_string_equal(c->name, name);
    assert_ptr_equal(fc_codec_by_id(c->id), c);
    fc_codec_config cfg = {
        .width = raw->width, .height = raw->height, .fps = 30, .quality = 80, .tier = 1};
    fc_encoder *e;
    char err[200];
    assert_int_equal(c->open(&cfg, &e, err, sizeof err), 0);
    fc_encode_args args = {0};
    fc_frame *out = NULL;
    assert_int_equal(c->encode(e, raw, &args, &out, err, sizeof err), 0);
    c->close(e);
    assert_non_null(out);
    assert_int_equal(out->codec, c->id);
    assert_true(out->key);
    assert_int_equal(out->tier, 1);
    fc_header h;
    assert_int_equal(fc_header_read(out->wire, fc_frame_wire_len(out), &h), 0);
    assert_int_equal(h.frame_id, 7);
    assert_true(h.timestamp == 1234.5);
    return out;
}

static void test_jpeg_and_webp_round_trip(void **state)
{
    (void)state;
    fc_frame *raw = gradient(64, 48);
    fc_frame *j = encode_with("jpeg", raw);
    tjhandle tj = tjInitDecompress();
    int w, h, sub, cs;
    assert_int_equal(tjDecompressHeader3(tj, j->payload, j->payload_len, &w, &h, &sub, &cs), 0);
    assert_int_equal(w, 64);
    assert_int_equal(h, 48);
    tjDestroy(tj);
    fc_frame *wp = encode_with("webp", raw);
    assert_true(WebPGetInfo(wp->payload, wp->payload_len, &w, &h));
    assert_int_equal(w, 64);
    assert_int_equal(h, 48);
    fc_frame_unref(j);
    fc_frame_unref(wp);
    fc_frame_unref(raw);
}

static void test_unknown_and_bad_config(void **state)
{
    (void)state;
    assert_null(fc_codec_find("mpeg1"));
    assert_non_null(strstr(fc_codec_names(), "jpeg"));
    assert_non_null(strstr(fc_codec_names(), "webp"));
    const fc_codec_ops *c = fc_codec_find("jpeg");
    fc_codec_config cfg = {.width = 64, .height = 48, .quality = 0};
    fc_encoder *e;
    char err[200];
    assert_true(c->open(&cfg, &e, err, sizeof err) < 0);
    assert_non_null(strstr(err, "quality"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jpeg_and_webp_round_trip),
        cmocka_unit_test(test_unknown_and_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
