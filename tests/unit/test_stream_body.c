/* The bodies of POST and PATCH /api/streams (transport/stream_body.h), on
 * byte buffers: both forms of a new stream, settings and their nulls, every
 * refusal naming its field, and the bounds checked before parsing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "transport/stream_body.h"

static fc_stream_body body; /* large: not on the stack */

static int create(const char *text, char *err, size_t errlen)
{
    return fc_stream_body_parse_create(text, strlen(text), &body, err, errlen);
}

static int change(const char *text, char *err, size_t errlen)
{
    return fc_stream_body_parse_change(text, strlen(text), &body, err, errlen);
}

static void create_with_a_spec(void **state)
{
    (void)state;
    char err[300];
    assert_int_equal(
        create("{\"id\":\"lobby\",\"spec\":\"synthetic:procedural,size=320x240,fps=10\","
               "\"encode_fps\":5,\"detect\":false,\"quality\":{\"high\":90,\"low\":40}}",
               err, sizeof err),
        0);
    assert_string_equal(body.id, "lobby");
    assert_string_equal(body.spec, "synthetic:procedural,size=320x240,fps=10");
    assert_string_equal(body.parsed.mode, "procedural");
    assert_int_equal(body.parsed.width, 320);
    assert_true(body.set.encode_fps == 5);
    assert_int_equal(body.set.detect, 0);
    assert_true(body.set.detect_fps == 0);
    assert_int_equal(body.set.quality[FC_TIER_HIGH], 90);
    assert_int_equal(body.set.quality[FC_TIER_MEDIUM], 0);
    assert_int_equal(body.set.quality[FC_TIER_LOW], 40);
    /* The id may come from the spec alone; unset settings stay unset. */
    assert_int_equal(create("{\"spec\":\"synthetic:procedural,id=hall\"}", err, sizeof err), 0);
    assert_string_equal(body.id, "hall");
    assert_int_equal(body.set.detect, -1);
    assert_int_equal(body.given, 0);
}

static void create_from_fields(void **state)
{
    (void)state;
    char err[300];
    assert_int_equal(create("{\"id\":\"face\",\"type\":\"synthetic\",\"image\":\"/x/face.png\","
                            "\"size\":\"640x360\",\"fps\":15,\"motion\":false,\"detect\":true}",
                            err, sizeof err),
                     0);
    assert_string_equal(body.spec, "synthetic:image=/x/face.png,size=640x360,fps=15,motion=0");
    assert_int_equal(body.parsed.still, 1);
    assert_int_equal(body.set.detect, 1);
    assert_int_equal(
        create("{\"id\":\"c\",\"type\":\"synthetic\",\"procedural\":true}", err, sizeof err), 0);
    assert_string_equal(body.spec, "synthetic:procedural");
    assert_int_equal(create("{\"id\":\"door\",\"type\":\"rtsp\",\"url\":\"rtsp://cam/live\","
                            "\"transport\":\"udp\",\"timeout\":2.5}",
                            err, sizeof err),
                     0);
    assert_string_equal(body.spec, "rtsp://cam/live,transport=udp,timeout=2.5");
    assert_int_equal(
        create("{\"id\":\"rec\",\"type\":\"file\",\"path\":\"/v/a.mp4\",\"loop\":true}", err,
               sizeof err),
        0);
    assert_string_equal(body.spec, "file:/v/a.mp4,loop");
    assert_int_equal(create("{\"id\":\"usb\",\"type\":\"v4l2\",\"device\":\"/dev/video0\","
                            "\"input_format\":\"mjpeg\"}",
                            err, sizeof err),
                     0);
    assert_string_equal(body.spec, "v4l2:/dev/video0,input_format=mjpeg");
}

static const struct {
    const char *text, *err;
} bad_creates[] = {
    {"", "the body is not JSON"},
    {"[1]", "the body must be a JSON object"},
    {"{\"id\":\"a\",\"spec\":\"synthetic:procedural\",\"zoom\":2}", "unknown field 'zoom'"},
    {"{\"id\":\"a\",\"id\":\"b\",\"spec\":\"synthetic:procedural\"}", "the body is not JSON"},
    {"{\"id\":\"a\"}", "spec: required"},
    {"{\"spec\":\"synthetic:procedural\"}", "id: required"},
    {"{\"id\":\"a b\",\"spec\":\"synthetic:procedural\"}", "id: must be"},
    {"{\"id\":7,\"spec\":\"synthetic:procedural\"}", "id: must be"},
    {"{\"id\":\"a\",\"spec\":\"synthetic:procedural,id=b\"}", "id: 'a' is not the spec's id=b"},
    {"{\"id\":\"a\",\"spec\":\"synthetic:sparkles\"}", "spec: source spec"},
    {"{\"id\":\"a\",\"spec\":\"\"}", "spec: must be a non-empty string"},
    {"{\"id\":\"a\",\"spec\":\"synthetic:procedural\",\"type\":\"synthetic\"}",
     "spec: give either spec or"},
    {"{\"id\":\"a\",\"type\":\"camera\"}", "type: 'camera' is not a source type"},
    {"{\"id\":\"a\",\"type\":\"synthetic\"}", "type: a synthetic source takes exactly one"},
    {"{\"id\":\"a\",\"type\":\"synthetic\",\"procedural\":true,\"image\":\"x.png\"}",
     "type: a synthetic source takes exactly one"},
    {"{\"id\":\"a\",\"type\":\"file\"}", "path: required for a file source"},
    {"{\"id\":\"a\",\"type\":\"synthetic\",\"image\":\"a,b.png\"}", "image: a ','"},
    {"{\"id\":\"a\",\"type\":\"synthetic\",\"procedural\":true,\"size\":\"641x360\"}",
     "spec: source spec 'synthetic:procedural,size=641x360': size '641x360'"},
    {"{\"id\":\"a\",\"type\":\"synthetic\",\"procedural\":true,\"fps\":\"fast\"}",
     "fps: must be a number"},
    {"{\"id\":\"a\",\"type\":\"synthetic\",\"procedural\":true,\"motion\":2}",
     "motion: must be true, false, 0 or 1"},
    {"{\"id\":\"a\",\"spec\":\"synthetic:procedural\",\"encode_fps\":0}",
     "encode_fps: must be a number in (0, 240]"},
    {"{\"id\":\"a\",\"spec\":\"synthetic:procedural\",\"encode_fps\":\"9\"}",
     "encode_fps: must be a number in (0, 240]"},
    {"{\"id\":\"a\",\"spec\":\"synthetic:procedural\",\"detect_fps\":241}",
     "detect_fps: must be a number in (0, 240]"},
    {"{\"id\":\"a\",\"spec\":\"synthetic:procedural\",\"detect\":\"yes\"}",
     "detect: must be true, false or null"},
    {"{\"id\":\"a\",\"spec\":\"synthetic:procedural\",\"quality\":90}",
     "quality: must be an object"},
    {"{\"id\":\"a\",\"spec\":\"synthetic:procedural\",\"quality\":{\"ultra\":90}}",
     "quality.ultra: not a tier"},
    {"{\"id\":\"a\",\"spec\":\"synthetic:procedural\",\"quality\":{\"high\":101}}",
     "quality.high: must be a whole number from 1 to 100"},
    {"{\"id\":\"a\",\"spec\":\"synthetic:procedural\",\"quality\":{\"low\":7.5}}",
     "quality.low: must be a whole number from 1 to 100"},
};

static void create_refusals_name_the_field(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_creates / sizeof *bad_creates; i++) {
        char err[400] = "";
        assert_int_equal(create(bad_creates[i].text, err, sizeof err), -EINVAL);
        if (strncmp(err, bad_creates[i].err, strlen(bad_creates[i].err)) != 0)
            fail_msg("%s: got '%s', want '%s...'", bad_creates[i].text, err, bad_creates[i].err);
    }
    /* A NUL inside a string is refused, not cut. */
    const char nul[] = "{\"id\":\"a\",\"spec\":\"synthetic:procedural\\u0000,id=b\"}";
    char err[200];
    assert_int_equal(create(nul, err, sizeof err), -EINVAL);
}

static void change_settings_and_nulls(void **state)
{
    (void)state;
    char err[300];
    assert_int_equal(change("{\"encode_fps\":12.5,\"quality\":{\"medium\":55}}", err, sizeof err),
                     0);
    assert_int_equal(body.given, FC_BODY_ENCODE_FPS | (FC_BODY_QUALITY << FC_TIER_MEDIUM));
    fc_stream_settings set = {
        .encode_fps = 5, .detect = 1, .detect_fps = 3, .quality = {90, 70, 50}};
    fc_stream_body_apply(&body, &set);
    assert_true(set.encode_fps == 12.5);
    assert_int_equal(set.detect, 1);
    assert_true(set.detect_fps == 3);
    assert_int_equal(set.quality[FC_TIER_HIGH], 90);
    assert_int_equal(set.quality[FC_TIER_MEDIUM], 55);
    /* null unsets: the spec or the server's flags decide again. */
    assert_int_equal(
        change("{\"detect\":null,\"detect_fps\":null,\"quality\":null}", err, sizeof err), 0);
    fc_stream_body_apply(&body, &set);
    assert_true(set.encode_fps == 12.5);
    assert_int_equal(set.detect, -1);
    assert_true(set.detect_fps == 0);
    for (int t = 0; t < FC_TIER_COUNT; t++)
        assert_int_equal(set.quality[t], 0);
    assert_int_equal(change("{\"detect\":true,\"quality\":{\"low\":null}}", err, sizeof err), 0);
    assert_int_equal(body.set.detect, 1);
    assert_int_equal(body.given, FC_BODY_DETECT | (FC_BODY_QUALITY << FC_TIER_LOW));
}

static void change_refusals_name_the_field(void **state)
{
    (void)state;
    static const struct {
        const char *text, *err;
    } bad[] = {
        {"{}", "nothing to change"},
        {"{\"spec\":\"synthetic:procedural\"}", "spec: cannot be changed"},
        {"{\"id\":\"b\"}", "id: cannot be changed"},
        {"{\"size\":\"320x240\"}", "size: cannot be changed"},
        {"{\"fps\":10}", "fps: cannot be changed"},
        {"{\"zoom\":2}", "unknown field 'zoom'"},
        {"{\"encode_fps\":-1}", "encode_fps: must be a number in (0, 240]"},
        {"{\"quality\":{\"high\":0}}", "quality.high: must be a whole number from 1 to 100"},
        {"\"encode_fps\"", "the body must be a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char err[400] = "";
        assert_int_equal(change(bad[i].text, err, sizeof err), -EINVAL);
        if (strncmp(err, bad[i].err, strlen(bad[i].err)) != 0)
            fail_msg("%s: got '%s', want '%s...'", bad[i].text, err, bad[i].err);
    }
}

/* Bounds hold before jansson reads a byte: a body too large, and one
 * nesting deeper than any body of ours, even inside a field that is
 * otherwise unknown. Brackets inside strings do not count. */
static void bounds_before_parsing(void **state)
{
    (void)state;
    char err[200];
    size_t n = FC_STREAM_BODY_MAX + 1;
    char *big = malloc(n);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    assert_int_equal(fc_stream_body_parse_create(big, n, &body, err, sizeof err), -E2BIG);
    assert_string_equal(err, "the body is larger than 16384 bytes");
    free(big);
    assert_int_equal(change("{\"quality\":{\"high\":[[[[1]]]]}}", err, sizeof err), -EINVAL);
    assert_string_equal(err, "the body nests deeper than 4 levels");
    char deep[16001];
    for (int i = 0; i < 8000; i++) {
        deep[i] = '[';
        deep[8000 + i] = ']';
    }
    deep[16000] = '\0';
    assert_int_equal(change(deep, err, sizeof err), -EINVAL);
    assert_string_equal(err, "the body nests deeper than 4 levels");
    assert_int_equal(
        create("{\"id\":\"a\",\"spec\":\"synthetic:image=[[[[[{{{{.png\"}", err, sizeof err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(create_with_a_spec),
        cmocka_unit_test(create_from_fields),
        cmocka_unit_test(create_refusals_name_the_field),
        cmocka_unit_test(change_settings_and_nulls),
        cmocka_unit_test(change_refusals_name_the_field),
        cmocka_unit_test(bounds_before_parsing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
