/* The pure parsers of the transport, on byte buffers (no lws, no loop):
 * stream WebSocket query options and avatar control messages (every error
 * names the option or field and what it takes); the UTF-8 cleaning of text
 * that goes back to clients; the multipart boundary and closing delimiter. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "transport/avatar_msg.h"
#include "transport/multipart.h"
#include "transport/stream_query.h"
#include "transport/utf8.h"

static int query(const char *q, fc_stream_query *out, char *err, size_t errlen)
{
    return fc_stream_query_parse(q, strlen(q), 50, out, err, errlen);
}

static void stream_query_defaults_and_options(void **state)
{
    (void)state;
    fc_stream_query q;
    char err[200];
    assert_int_equal(query("", &q, err, sizeof err), 0);
    assert_true(q.sub.auto_tier);
    assert_int_equal(q.sub.queue, 50);
    assert_int_equal(q.view, FC_VIEW_FULL);
    assert_int_equal(query("quality=low&queue=7&view=ptz", &q, err, sizeof err), 0);
    assert_false(q.sub.auto_tier);
    assert_int_equal(q.sub.tier, FC_TIER_LOW);
    assert_int_equal(q.sub.queue, 7);
    assert_int_equal(q.view, FC_VIEW_PTZ);
    /* Empty pieces are nothing; the last word on an option wins. */
    assert_int_equal(query("&quality=high&&quality=auto&", &q, err, sizeof err), 0);
    assert_true(q.sub.auto_tier);
    assert_int_equal(query("queue=1000", &q, err, sizeof err), 0);
    assert_int_equal(q.sub.queue, 1000);
    /* The codec: the stream's own unless named; h264 is a passthrough. */
    assert_null(q.codec);
    assert_false(q.h264);
    assert_int_equal(query("codec=vp8", &q, err, sizeof err), 0);
    assert_string_equal(q.codec->name, "vp8");
    assert_int_equal(query("codec=jpeg", &q, err, sizeof err), 0);
    assert_string_equal(q.codec->name, "jpeg");
    assert_int_equal(query("codec=h264", &q, err, sizeof err), 0);
    assert_null(q.codec);
    assert_true(q.h264);
}

static void stream_query_errors_name_the_option(void **state)
{
    (void)state;
    fc_stream_query q;
    char err[200];
    assert_int_equal(query("quality=ultra", &q, err, sizeof err), -EINVAL);
    assert_string_equal(err, "bad quality 'ultra': use auto, high, medium or low");
    assert_int_equal(query("queue=0", &q, err, sizeof err), -EINVAL);
    assert_string_equal(err, "bad queue '0': a whole number from 1 to 1000");
    assert_int_equal(query("queue=1001", &q, err, sizeof err), -EINVAL);
    assert_int_equal(query("queue=5x", &q, err, sizeof err), -EINVAL);
    assert_int_equal(query("queue", &q, err, sizeof err), -EINVAL);
    assert_string_equal(err, "bad queue '': a whole number from 1 to 1000");
    assert_int_equal(query("view=sideways", &q, err, sizeof err), -EINVAL);
    assert_string_equal(err, "bad view 'sideways': use full or ptz");
    assert_int_equal(query("fps=60", &q, err, sizeof err), -EINVAL);
    assert_string_equal(err,
                        "unknown option 'fps' (known: quality, queue, view, codec, token, key)");
    assert_int_equal(query("codec=av1", &q, err, sizeof err), -EINVAL);
    assert_string_equal(err, "bad codec 'av1': use jpeg, webp, vp8 or h264");
    /* A NUL inside the buffer is refused, not read past. */
    const char nul[] = "quality=high\0&queue=1";
    assert_int_equal(fc_stream_query_parse(nul, sizeof nul - 1, 50, &q, err, sizeof err), -EINVAL);
    /* An option far longer than any valid one is refused as such, not cut
     * to something that might parse. */
    char big[5000];
    memset(big, 'a', sizeof big);
    memcpy(big, "view=", 5);
    assert_int_equal(fc_stream_query_parse(big, sizeof big, 50, &q, err, sizeof err), -EINVAL);
    assert_string_equal(err, "bad query: an option longer than 513 bytes");
}

static int avatar(const char *text, fc_avatar_msg *m, char *err, size_t errlen)
{
    return fc_avatar_msg_parse(text, strlen(text), 50, m, err, errlen);
}

static void avatar_start_defaults_and_kwargs(void **state)
{
    (void)state;
    fc_avatar_msg m;
    char err[300];
    assert_int_equal(avatar("{\"type\":\"start_streaming\",\"audio_path\":\"a.wav\","
                            "\"source_path\":\"f.png\",\"binary\":true}",
                            &m, err, sizeof err),
                     0);
    assert_int_equal(m.type, FC_AVATAR_MSG_START);
    fc_avatar_request *r = &m.start;
    assert_string_equal(r->audio_path, "a.wav");
    assert_string_equal(r->source_path, "f.png");
    assert_string_equal(r->setup_json, "{}");
    assert_string_equal(r->run_json, "{}");
    assert_true(r->realtime);
    assert_false(r->want_audio);
    assert_string_equal(r->codec->name, "jpeg");
    assert_true(r->sub.auto_tier);
    assert_int_equal(r->sub.queue, 50);
    fc_avatar_request_free(r);

    assert_int_equal(
        avatar("{\"type\":\"start_streaming\",\"audio_path\":\"a\",\"source_path\":\"b\","
               "\"setup_kwargs\":{\"face\":null},\"run_kwargs\":{\"realtime\":false,"
               "\"audio\":true,\"format\":\"webp\",\"quality\":\"medium\",\"queue\":3}}",
               &m, err, sizeof err),
        0);
    assert_false(r->realtime);
    assert_true(r->want_audio);
    assert_string_equal(r->codec->name, "webp");
    assert_false(r->sub.auto_tier);
    assert_int_equal(r->sub.tier, FC_TIER_MEDIUM);
    assert_int_equal(r->sub.queue, 3);
    assert_string_equal(r->setup_json, "{\"face\":null}");
    assert_non_null(strstr(r->run_json, "\"queue\":3"));
    fc_avatar_request_free(r);
}

/* run_kwargs.transport "webrtc" means VP8 and the speech handed over (for
 * Opus); another format or transport is refused, naming the field. */
static void avatar_transport_webrtc(void **state)
{
    (void)state;
    fc_avatar_msg m;
    char err[300];
    fc_avatar_request *r = &m.start;
    assert_int_equal(
        avatar("{\"type\":\"start_streaming\",\"audio_path\":\"a\",\"source_path\":\"b\","
               "\"run_kwargs\":{\"transport\":\"webrtc\",\"audio\":false}}",
               &m, err, sizeof err),
        0);
    assert_true(r->webrtc);
    assert_true(r->want_audio);
    assert_string_equal(r->codec->name, "vp8");
    fc_avatar_request_free(r);
    assert_int_equal(
        avatar("{\"type\":\"start_streaming\",\"audio_path\":\"a\",\"source_path\":\"b\","
               "\"run_kwargs\":{\"transport\":\"websocket\"}}",
               &m, err, sizeof err),
        0);
    assert_false(r->webrtc);
    fc_avatar_request_free(r);
    assert_int_equal(
        avatar("{\"type\":\"start_streaming\",\"audio_path\":\"a\",\"source_path\":\"b\","
               "\"run_kwargs\":{\"transport\":\"webrtc\",\"format\":\"jpeg\"}}",
               &m, err, sizeof err),
        -EINVAL);
    assert_string_equal(err, "run_kwargs.transport \"webrtc\" sends VP8: leave run_kwargs.format "
                             "out or make it \"vp8\"");
    assert_int_equal(
        avatar("{\"type\":\"start_streaming\",\"audio_path\":\"a\",\"source_path\":\"b\","
               "\"run_kwargs\":{\"transport\":\"sip\"}}",
               &m, err, sizeof err),
        -EINVAL);
    assert_string_equal(err, "run_kwargs.transport must be \"websocket\" or \"webrtc\"");
}

static void avatar_other_messages(void **state)
{
    (void)state;
    fc_avatar_msg m;
    char err[300];
    assert_int_equal(avatar("{\"type\":\"stop_streaming\"}", &m, err, sizeof err), 0);
    assert_int_equal(m.type, FC_AVATAR_MSG_STOP);
    assert_int_equal(avatar("{\"type\":\"ping\",\"extra\":1}", &m, err, sizeof err), 0);
    assert_int_equal(m.type, FC_AVATAR_MSG_PING);
}

/* Each bad message and the start of its error text. */
static const struct {
    const char *text;
    fc_avatar_msg_type type;
    const char *err;
} bad[] = {
    {"{not json", FC_AVATAR_MSG_INVALID, "malformed JSON"},
    {"[1,2]", FC_AVATAR_MSG_INVALID, "message has no string \"type\""},
    {"{\"type\":7}", FC_AVATAR_MSG_INVALID, "message has no string \"type\""},
    {"{\"type\":\"dance\"}", FC_AVATAR_MSG_INVALID,
     "unknown message type 'dance' (known: start_streaming, stop_streaming, ping)"},
    {"{\"type\":\"start_streaming\",\"source_path\":\"x\"}", FC_AVATAR_MSG_START,
     "start_streaming needs string audio_path and source_path"},
    {"{\"type\":\"start_streaming\",\"audio_path\":1,\"source_path\":\"x\"}", FC_AVATAR_MSG_START,
     "start_streaming needs string audio_path and source_path"},
    {"{\"type\":\"start_streaming\",\"audio_path\":\"a\",\"source_path\":\"b\",\"binary\":false}",
     FC_AVATAR_MSG_START, "only binary frames are served: \"binary\" must be true"},
    {"{\"type\":\"start_streaming\",\"audio_path\":\"a\",\"source_path\":\"b\",\"run_kwargs\":3}",
     FC_AVATAR_MSG_START, "run_kwargs must be an object"},
    {"{\"type\":\"start_streaming\",\"audio_path\":\"a\",\"source_path\":\"b\","
     "\"setup_kwargs\":[]}",
     FC_AVATAR_MSG_START, "setup_kwargs and run_kwargs must be objects"},
    {"{\"type\":\"start_streaming\",\"audio_path\":\"a\",\"source_path\":\"b\","
     "\"run_kwargs\":{\"realtime\":1}}",
     FC_AVATAR_MSG_START, "run_kwargs.realtime must be true or false"},
    {"{\"type\":\"start_streaming\",\"audio_path\":\"a\",\"source_path\":\"b\","
     "\"run_kwargs\":{\"audio\":\"yes\"}}",
     FC_AVATAR_MSG_START, "run_kwargs.audio must be true or false"},
    {"{\"type\":\"start_streaming\",\"audio_path\":\"a\",\"source_path\":\"b\","
     "\"run_kwargs\":{\"format\":\"gif\"}}",
     FC_AVATAR_MSG_START, "run_kwargs.format must be one of: jpeg, webp"},
    {"{\"type\":\"start_streaming\",\"audio_path\":\"a\",\"source_path\":\"b\","
     "\"run_kwargs\":{\"quality\":\"best\"}}",
     FC_AVATAR_MSG_START, "run_kwargs.quality must be \"auto\""},
    {"{\"type\":\"start_streaming\",\"audio_path\":\"a\",\"source_path\":\"b\","
     "\"run_kwargs\":{\"queue\":0}}",
     FC_AVATAR_MSG_START, "run_kwargs.queue must be a whole number from 1 to 1000"},
    {"{\"type\":\"start_streaming\",\"audio_path\":\"a\",\"source_path\":\"b\","
     "\"run_kwargs\":{\"queue\":2.5}}",
     FC_AVATAR_MSG_START, "run_kwargs.queue must be a whole number"},
};

static void avatar_errors_name_the_field(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fc_avatar_msg m;
        char err[300] = "";
        assert_int_equal(avatar(bad[i].text, &m, err, sizeof err), -EINVAL);
        assert_int_equal(m.type, bad[i].type);
        if (strncmp(err, bad[i].err, strlen(bad[i].err)) != 0)
            fail_msg("%s: got '%s', want '%s...'", bad[i].text, err, bad[i].err);
    }
    /* Bytes that are not even text. */
    const char junk[] = {'{', 0, '\xff', '"'};
    fc_avatar_msg m;
    char err[300];
    assert_int_equal(fc_avatar_msg_parse(junk, sizeof junk, 50, &m, err, sizeof err), -EINVAL);
    assert_string_equal(err, "malformed JSON");
}

static void utf8_clean_escapes_and_cuts_between_characters(void **state)
{
    (void)state;
    char out[64];
    /* Valid text passes unchanged: ASCII, 2, 3 and 4-byte characters. */
    const char ok[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
    assert_int_equal(fc_utf8_clean(out, sizeof out, ok, strlen(ok)), strlen(ok));
    assert_string_equal(out, ok);
    /* Not UTF-8: stray bytes, a cut sequence, an overlong '/', a surrogate,
     * past U+10FFFF, NUL. */
    static const struct {
        const char *in;
        size_t len;
        const char *want;
    } bad[] = {
        {"\xff\xfe", 2, "\\xFF\\xFE"},
        {"x\xc3", 2, "x\\xC3"},
        {"\xe2\x82", 2, "\\xE2\\x82"},
        {"\xc0\xaf", 2, "\\xC0\\xAF"},
        {"\xed\xa0\x80", 3, "\\xED\\xA0\\x80"},
        {"\xf4\x90\x80\x80", 4, "\\xF4\\x90\\x80\\x80"},
        {"a\0b", 3, "a\\x00b"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fc_utf8_clean(out, sizeof out, bad[i].in, bad[i].len);
        assert_string_equal(out, bad[i].want);
    }
    /* Cut to fit, never inside a character or an escape. */
    const char e3[] = "x\xc3\xa9\xc3\xa9\xc3\xa9";
    assert_int_equal(fc_utf8_clean(out, 5, e3, strlen(e3)), 3);
    assert_string_equal(out, "x\xc3\xa9");
    assert_int_equal(fc_utf8_clean(out, 4, "\xff", 1), 0);
    assert_string_equal(out, "");
    assert_int_equal(fc_utf8_clean(out, 0, "abc", 3), 0);
}

static void multipart_boundary_as_lws_reads_it(void **state)
{
    (void)state;
    char b[FC_MULTIPART_BOUNDARY_MAX + 1], err[120];
    assert_int_equal(
        fc_multipart_boundary("multipart/form-data; boundary=XyZ", b, sizeof b, err, sizeof err),
        0);
    assert_string_equal(b, "XyZ");
    assert_int_equal(fc_multipart_boundary("multipart/form-data; boundary=\"a b\"; x=1", b,
                                           sizeof b, err, sizeof err),
                     0);
    assert_string_equal(b, "a");
    assert_int_equal(fc_multipart_boundary("multipart/form-data;boundary=q;charset=utf-8", b,
                                           sizeof b, err, sizeof err),
                     0);
    assert_string_equal(b, "q");
    assert_int_equal(fc_multipart_boundary("application/json", b, sizeof b, err, sizeof err),
                     -EINVAL);
    assert_string_equal(err, "POST /upload wants multipart/form-data");
    assert_int_equal(fc_multipart_boundary("multipart/form-data", b, sizeof b, err, sizeof err),
                     -EINVAL);
    assert_string_equal(err, "multipart/form-data without a boundary");
    char longer[200];
    snprintf(longer, sizeof longer, "multipart/form-data; boundary=%071d", 0);
    assert_int_equal(fc_multipart_boundary(longer, b, sizeof b, err, sizeof err), -EINVAL);
    assert_string_equal(err, "multipart boundary must have 1 to 70 characters");
}

/* Whether the body ends with its closing delimiter, whatever the pieces it
 * came in. */
static bool ends_closed(const char *body, size_t piece)
{
    fc_multipart_end e;
    fc_multipart_end_init(&e, "XyZ");
    size_t n = strlen(body);
    for (size_t i = 0; i < n; i += piece)
        fc_multipart_end_feed(&e, body + i, n - i < piece ? n - i : piece);
    return fc_multipart_end_closed(&e);
}

static void multipart_end_seen_in_any_pieces(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        bool closed;
    } cases[] = {
        {"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhi\r\n--XyZ--", true},
        {"--XyZ\r\n\r\nhi\r\n--XyZ--\r\n", true},
        {"--XyZ\r\n\r\nhi\r\n", false},                          /* cut before it */
        {"--XyZ\r\n\r\nhi\r\n--XyZ--\r\nGET / HTTP/1.1", false}, /* bytes after it */
        {"--XyZ\r\n\r\nhi\r\n--XyZ--\r\n\r\n", false},
        {"--XyZ\r\n\r\nhi\r\n--XyZ\r\n", false}, /* a part boundary, not the close */
        {"--XyZ--", false},
        {"", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        for (size_t piece = 1; piece <= 40; piece++)
            if (ends_closed(cases[i].body, piece) != cases[i].closed)
                fail_msg("case %zu in pieces of %zu", i, piece);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stream_query_defaults_and_options),
        cmocka_unit_test(stream_query_errors_name_the_option),
        cmocka_unit_test(avatar_start_defaults_and_kwargs),
        cmocka_unit_test(avatar_transport_webrtc),
        cmocka_unit_test(avatar_other_messages),
        cmocka_unit_test(avatar_errors_name_the_field),
        cmocka_unit_test(utf8_clean_escapes_and_cuts_between_characters),
        cmocka_unit_test(multipart_boundary_as_lws_reads_it),
        cmocka_unit_test(multipart_end_seen_in_any_pieces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
