/* The pure parts of the pushing sources: spec parsing of the new types,
 * credential redaction, the reconnect backoff and the drop-to-key packet
 * queue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libavcodec/avcodec.h>

#include "sources/backoff.h"
#include "sources/packet.h"
#include "sources/pktq.h"
#include "sources/redact.h"
#include "sources/source.h"

static void specs_of_every_type(void **state)
{
    (void)state;
    fc_source_spec s;
    char err[512];
    assert_int_equal(fc_source_spec_parse("file:/v/lobby.mp4,loop,id=lobby,size=640x360,fps=10,"
                                          "encode_fps=5,detect=2",
                                          &s, err, sizeof err),
                     0);
    assert_string_equal(s.type, "file");
    assert_string_equal(s.path, "/v/lobby.mp4");
    assert_true(s.loop);
    assert_string_equal(s.id, "lobby");
    assert_true(s.width == 640 && s.height == 360 && s.fps == 10 && s.encode_fps == 5);
    assert_true(s.detect == 1 && s.detect_fps == 2);
    assert_true(fc_source_spec_pushes(&s));

    assert_int_equal(fc_source_spec_parse("rtsp://user:pa:ss@cam.local:554/stream1,transport=udp,"
                                          "timeout=2.5,detect",
                                          &s, err, sizeof err),
                     0);
    assert_string_equal(s.type, "rtsp");
    assert_string_equal(s.path, "rtsp://user:pa:ss@cam.local:554/stream1");
    assert_int_equal(s.transport, FC_TRANSPORT_UDP);
    assert_true(s.timeout == 2.5 && s.detect == 1);

    assert_int_equal(fc_source_spec_parse("rtsps://cam/x", &s, err, sizeof err), 0);
    assert_string_equal(s.type, "rtsps");
    assert_int_equal(s.transport, FC_TRANSPORT_TCP);

    assert_int_equal(fc_source_spec_parse("v4l2:/dev/video0,input_format=mjpeg,size=1280x720,"
                                          "fps=30",
                                          &s, err, sizeof err),
                     0);
    assert_string_equal(s.path, "/dev/video0");
    assert_string_equal(s.input_format, "mjpeg");
    assert_true(s.width == 1280 && s.fps == 30);

    assert_int_equal(
        fc_source_spec_parse("synthetic:video=clip.mp4,motion=0,detect", &s, err, sizeof err), 0);
    assert_string_equal(s.mode, "video");
    assert_string_equal(s.path, "clip.mp4");
    assert_true(s.still && fc_source_spec_pushes(&s));

    assert_int_equal(fc_source_spec_parse("synthetic:procedural", &s, err, sizeof err), 0);
    assert_false(fc_source_spec_pushes(&s));
    /* No message buffer: still a clean -1. */
    assert_int_equal(fc_source_spec_parse("file:", &s, NULL, 0), -1);
}

static void spec_errors_name_the_problem_and_hide_passwords(void **state)
{
    (void)state;
    static const struct {
        const char *spec, *needle;
    } bad[] = {
        {"rtsp:cam/x", "rtsp sources are URLs: rtsp://[user:password@]host[:port]/path"},
        {"rtsp://", "rtsp sources are URLs"},
        {"rtsp://cam/x,transport=sctp", "transport 'sctp' must be tcp or udp"},
        {"rtsp://cam/x,timeout=0", "timeout '0' must be seconds in [0.1, 300]"},
        {"rtsp://cam/x,loop", "unknown option 'loop'"},
        {"file:", "file path is empty"},
        {"file:a.mp4,transport=udp", "unknown option 'transport=...'"},
        {"file:a.mp4,motion=0", "unknown option 'motion=...'"},
        {"v4l2:video0", "v4l2 wants a device path"},
        {"v4l2:/dev/video0,input_format=h264", "input_format 'h264' must be mjpeg or yuyv422"},
        {"synthetic:video=", "video path is empty"},
        {"synthetic:procedural,motion=0", "motion=0 needs image=PATH or video=PATH"},
        {"rtsp://admin:hunter2@cam/x,size=1x1", "size '1x1'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fc_source_spec s;
        char err[512] = "";
        assert_int_equal(fc_source_spec_parse(bad[i].spec, &s, err, sizeof err), -1);
        if (!strstr(err, bad[i].needle))
            fail_msg("spec '%s': error '%s' does not say '%s'", bad[i].spec, err, bad[i].needle);
        if (strstr(err, "hunter2")) fail_msg("spec error shows the password: %s", err);
    }
    fc_source_spec s;
    char err[512];
    assert_int_equal(fc_source_spec_parse("rtsp://admin:hunter2@cam/x,bogus", &s, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "rtsp://***@cam/x"));
    /* Not a syntax error: a stream that will say why it cannot run. */
    assert_int_equal(fc_source_spec_parse("http://cam/x", &s, err, sizeof err),
                     FC_SPEC_UNKNOWN_TYPE);
    assert_non_null(
        strstr(err, "unknown source type 'http' (known: synthetic, file, rtsp, rtsps, v4l2)"));
}

/* Every spec makes a source: a pushing one for files, cameras and devices
 * (nothing opened yet), a failed one for a type this build does not have. */
static void specs_make_pushing_and_failed_sources(void **state)
{
    (void)state;
    fc_source_spec s;
    char err[512];
    fc_source *src;
    assert_int_equal(fc_source_spec_parse("rtsp://u:secret@cam/x", &s, err, sizeof err), 0);
    assert_int_equal(fc_source_create(&s, 320, 240, 30, &src, err, sizeof err), 0);
    assert_null(src->ops->render);
    assert_non_null(src->ops->start);
    assert_null(strstr(src->description, "secret"));
    fc_source_destroy(src);

    assert_int_equal(fc_source_spec_parse("ndi:Studio A,id=studio,fps=5", &s, err, sizeof err),
                     FC_SPEC_UNKNOWN_TYPE);
    assert_non_null(strstr(err, "unknown source type 'ndi'"));
    assert_string_equal(s.id, "studio");
    assert_int_equal(fc_source_create(&s, 320, 240, 30, &src, err, sizeof err), 0);
    fc_source_status st;
    src->ops->get_status(src, &st);
    assert_int_equal(st.state, FC_SOURCE_FAILED);
    assert_non_null(strstr(st.error, "unknown source type 'ndi'"));
    assert_string_equal(src->description, "ndi:Studio A,id=studio,fps=5");
    fc_source_destroy(src);

    /* Credentials in a spec of an unknown type are not shown either. */
    assert_int_equal(fc_source_spec_parse("rtmp://me:hunter2@host/live,id=x", &s, err, sizeof err),
                     FC_SPEC_UNKNOWN_TYPE);
    assert_null(strstr(err, "hunter2"));
    assert_null(strstr(s.path, "hunter2"));
}

static void redaction(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"rtsp://admin:pw@cam/x", "rtsp://***@cam/x"},
        {"rtsp://admin@cam:554/x?a=b", "rtsp://***@cam:554/x?a=b"},
        {"rtsp://a:p@ss@cam/x", "rtsp://***@cam/x"}, /* an '@' in the password */
        {"rtsp://cam/x", "rtsp://cam/x"},
        {"rtsp://cam/x@y", "rtsp://cam/x@y"}, /* an '@' in the path is no user-info */
        {"open rtsp://u:p@h/a failed; then rtsps://v:q@k/b",
         "open rtsp://***@h/a failed; then rtsps://***@k/b"},
        {"no url here", "no url here"},
        {"file:/a@b.mp4", "file:/a@b.mp4"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char out[256];
        assert_string_equal(fc_redact(cases[i].in, out, sizeof out), cases[i].out);
    }
    char small[8];
    fc_redact("rtsp://admin:pw@cam/x", small, sizeof small);
    assert_string_equal(small, "rtsp://");
}

static void backoff_doubles_with_jitter_and_resets(void **state)
{
    (void)state;
    fc_backoff b;
    fc_backoff_init(&b, 42);
    const double nominal[] = {0.5, 1, 2, 4, 8, 16, 30, 30, 30};
    uint64_t t = 1000000000ull;
    for (size_t i = 0; i < sizeof nominal / sizeof *nominal; i++) {
        double d = fc_backoff_next(&b, t);
        if (d > nominal[i] || d < nominal[i] * (1 - FC_BACKOFF_JITTER))
            fail_msg("attempt %zu: %.3f s, nominal %.1f", i, d, nominal[i]);
    }
    /* Live for less than a minute: the next failure keeps backing off. */
    fc_backoff_live(&b, t);
    assert_true(fc_backoff_next(&b, t + 59000000000ull) > 20);
    /* Live for a minute: back to the start. */
    fc_backoff_live(&b, t);
    assert_true(fc_backoff_next(&b, t + 61000000000ull) <= 0.5);
    /* Jitter spreads: two sources do not retry in step. */
    fc_backoff a, c;
    fc_backoff_init(&a, 1);
    fc_backoff_init(&c, 2);
    bool differ = false;
    for (int i = 0; i < 5; i++)
        differ |= fc_backoff_next(&a, t) != fc_backoff_next(&c, t);
    assert_true(differ);
}

static fc_packet *data(int size, bool key)
{
    AVPacket *av = av_packet_alloc();
    assert_int_equal(av_new_packet(av, size), 0);
    memset(av->data, 0, (size_t)size);
    if (key) av->flags |= AV_PKT_FLAG_KEY;
    return fc_packet_new_data(av, 1.0);
}

static void pktq_drops_to_the_next_key_frame(void **state)
{
    (void)state;
    fc_pktq q;
    assert_int_equal(fc_pktq_init(&q, 4, 1 << 20), 0);
    /* Deltas before the first key frame are skipped, not dropped. */
    fc_pktq_push(&q, data(10, false));
    assert_int_equal(q.count, 0);
    assert_true(q.skipped == 1 && q.dropped == 0);
    fc_pktq_push(&q, data(10, true));
    for (int i = 0; i < 3; i++)
        fc_pktq_push(&q, data(10, false));
    assert_int_equal(q.count, 4);
    /* Full: this delta and every one after it go, counted... */
    fc_pktq_push(&q, data(10, false));
    fc_pktq_push(&q, data(10, false));
    assert_int_equal(q.dropped, 2);
    /* ...even once there is room again. */
    fc_packet_unref(fc_pktq_pop(&q));
    fc_pktq_push(&q, data(10, false));
    assert_int_equal(q.dropped, 3);
    assert_int_equal(q.count, 3);
    /* A key frame with room: queued after what is there. */
    fc_pktq_push(&q, data(10, true));
    assert_int_equal(q.count, 4);
    /* Full and a key frame comes: the older data goes, the key frame stays,
     * markers survive. */
    fc_pktq_push(&q, fc_packet_new_drain());
    assert_int_equal(q.count, 1);
    fc_pktq_push(&q, data(10, true));
    assert_int_equal(q.count, 2);
    fc_packet *p = fc_pktq_pop(&q);
    assert_int_equal(fc_packet_kind_of(p), FC_PACKET_DRAIN);
    fc_packet_unref(p);
    p = fc_pktq_pop(&q);
    assert_true(fc_packet_key(p));
    fc_packet_unref(p);
    assert_int_equal(q.high_water, 4);
    /* Bytes bound too. */
    fc_pktq_clear(&q);
    fc_pktq_push(&q, data(600 << 10, true));
    fc_pktq_push(&q, data(600 << 10, false));
    assert_int_equal(q.count, 1);
    fc_pktq_free(&q);
    assert_int_equal(fc_packet_live_count(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(specs_of_every_type),
        cmocka_unit_test(spec_errors_name_the_problem_and_hide_passwords),
        cmocka_unit_test(specs_make_pushing_and_failed_sources),
        cmocka_unit_test(redaction),
        cmocka_unit_test(backoff_doubles_with_jitter_and_resets),
        cmocka_unit_test(pktq_drops_to_the_next_key_frame),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
