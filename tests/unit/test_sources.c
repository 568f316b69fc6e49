/* Source specs, the synthetic source and JPEG encoding of its frames. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <turbojpeg.h>

#include "encode/jpeg.h"
#include "sources/source.h"

/* The server's JPEG encoder (codec.h), one instance at `quality`. */
static int jpeg_encode(const fc_frame *raw, int quality, int tier, fc_frame **out, char *err,
                       size_t errlen)
{
    fc_codec_config cfg = {
        .width = raw->width, .height = raw->height, .fps = 30, .quality = quality, .tier = tier};
    fc_encoder *e;
    int rc = fc_jpeg_codec.open(&cfg, &e, err, errlen);
    if (rc != 0) return rc;
    fc_encode_args args = {0};
    rc = fc_jpeg_codec.encode(e, raw, &args, out, err, errlen);
    fc_jpeg_codec.close(e);
    return rc;
}

static void spec_parses_options(void **state)
{
    (void)state;
    fc_source_spec s;
    char err[256];
    assert_int_equal(fc_source_spec_parse("synthetic:procedural", &s, err, sizeof err), 0);
    assert_string_equal(s.mode, "procedural");
    assert_int_equal(fc_source_spec_parse(
                         "synthetic:image=/tmp/a b.png,id=lobby,size=640x360,fps=15,encode_fps=5",
                         &s, err, sizeof err),
                     0);
    assert_string_equal(s.mode, "image");
    assert_string_equal(s.path, "/tmp/a b.png");
    assert_string_equal(s.id, "lobby");
    assert_int_equal(s.width, 640);
    assert_int_equal(s.height, 360);
    assert_true(s.fps == 15 && s.encode_fps == 5);
}

static void spec_errors_name_the_problem(void **state)
{
    (void)state;
    static const struct {
        const char *spec, *needle;
    } bad[] = {
        {"procedural", "expected TYPE:ARGS"},
        {"synthetic:", "say procedural, image=PATH or video=PATH"},
        {"synthetic:procedural,size=641x360", "size '641x360'"},
        {"synthetic:procedural,fps=0", "fps '0'"},
        {"synthetic:procedural,colour=red", "unknown option 'colour=...'"},
        {"synthetic:procedural,id=a/b", "id 'a/b'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fc_source_spec s;
        char err[256] = "";
        assert_int_equal(fc_source_spec_parse(bad[i].spec, &s, err, sizeof err), -1);
        if (!strstr(err, bad[i].needle))
            fail_msg("spec '%s': error '%s' does not say '%s'", bad[i].spec, err, bad[i].needle);
    }
    fc_source_spec s;
    char err[256] = "";
    assert_int_equal(fc_source_spec_parse("rtmp:url=x", &s, err, sizeof err), FC_SPEC_UNKNOWN_TYPE);
    assert_non_null(strstr(err, "unknown source type 'rtmp'"));
}

static void image_source_refuses_bad_files(void **state)
{
    (void)state;
    fc_source_spec s;
    char err[512];
    fc_source *src;
    assert_int_equal(fc_source_spec_parse("synthetic:image=/nonexistent.png", &s, err, sizeof err),
                     0);
    assert_int_equal(fc_source_create(&s, 320, 180, 30, &src, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent.png"));
    /* A file that is not a picture. */
    assert_int_equal(fc_source_spec_parse("synthetic:image=" FC_TEST_SRCDIR "/test_sources.c", &s,
                                          err, sizeof err),
                     0);
    assert_int_equal(fc_source_create(&s, 320, 180, 30, &src, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a PNG, JPEG or WebP"));
}

/* Renders with the real source, encodes, decodes with turbojpeg again. */
static void render_and_encode(const char *spec_text, int w, int h)
{
    fc_source_spec spec;
    char err[512];
    fc_source *src;
    assert_int_equal(fc_source_spec_parse(spec_text, &spec, err, sizeof err), 0);
    if (fc_source_create(&spec, w, h, 30, &src, err, sizeof err) != 0) fail_msg("%s", err);
    fc_frame *a, *b;
    assert_int_equal(src->ops->render(src, 1, 1000.0, &a), 0);
    assert_int_equal(src->ops->render(src, 2, 1000.033, &b), 0);
    assert_int_equal(a->width, w);
    assert_int_equal(a->id, 1);
    assert_true(a->timestamp == 1000.0);
    /* Consecutive frames differ: the scene moves. */
    assert_true(memcmp(a->plane[0], b->plane[0], (size_t)w * (size_t)h) != 0);

    fc_frame *jpg;
    assert_int_equal(jpeg_encode(a, 85, 0, &jpg, err, sizeof err), 0);
    assert_int_equal(jpg->id, 1);
    assert_true(jpg->payload[0] == 0xff && jpg->payload[1] == 0xd8);
    fc_header hdr;
    assert_int_equal(fc_header_read(jpg->wire, fc_frame_wire_len(jpg), &hdr), 0);
    assert_int_equal(hdr.frame_id, 1);
    assert_int_equal(hdr.payload_len, jpg->payload_len);

    tjhandle d = tjInitDecompress();
    int dw, dh, sub, cs;
    assert_int_equal(tjDecompressHeader3(d, jpg->payload, jpg->payload_len, &dw, &dh, &sub, &cs),
                     0);
    assert_int_equal(dw, w);
    assert_int_equal(dh, h);
    /* Lower quality, smaller file. */
    fc_frame *low;
    assert_int_equal(jpeg_encode(a, 40, 2, &low, err, sizeof err), 0);
    assert_true(low->payload_len < jpg->payload_len);
    tjDestroy(d);
    fc_frame_unref(low);
    fc_frame_unref(jpg);
    fc_frame_unref(a);
    fc_frame_unref(b);
    fc_source_destroy(src);
}

static void procedural_frames_encode(void **state)
{
    (void)state;
    render_and_encode("synthetic:procedural", 640, 360);
}

static void image_frames_encode(void **state)
{
    (void)state;
    render_and_encode("synthetic:image=" FC_TEST_FIXTURES "/face-astronaut.png", 320, 180);
    assert_int_equal(fc_frame_live_count(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spec_parses_options),
        cmocka_unit_test(spec_errors_name_the_problem),
        cmocka_unit_test(image_source_refuses_bad_files),
        cmocka_unit_test(procedural_frames_encode),
        cmocka_unit_test(image_frames_encode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
