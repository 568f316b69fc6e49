/* fc_passthrough: a camera's access units become wire frames for an
 * inter-frame hub, unchanged but for SPS/PPS prepended to IDR units that lack
 * them (from the SDP's extradata or the last ones seen), deltas before an
 * input's first IDR skipped, the format following the SPS of IDR units, and
 * other codecs refused. Packets are made here as a source makes them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libavcodec/avcodec.h>

#include "stream/passthrough.h"

/* x264's parameter sets of a 320x240 Constrained Baseline 3.0 stream, and
 * of a 480x272 one (the same with another size). */
static const uint8_t SPS_320[] = {0,    0,    0,    1,    0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x01,
                                  0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00,
                                  0x00, 0x03, 0x03, 0xc0, 0xf1, 0x62, 0xe4, 0x80};
static const uint8_t PPS[] = {0, 0, 0, 1, 0x68, 0xcb, 0x83, 0xcb, 0x20};
static const uint8_t IDR[] = {0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x33};
static const uint8_t DELTA[] = {0, 0, 0, 1, 0x41, 0x9a, 0x21, 0x2f};

static fc_packet *data_packet(const uint8_t *const parts[], const size_t lens[], int n, double t)
{
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += lens[i];
    AVPacket *av = av_packet_alloc();
    assert_non_null(av);
    assert_int_equal(av_new_packet(av, (int)len), 0);
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        memcpy(av->data + at, parts[i], lens[i]);
        at += lens[i];
    }
    fc_packet *p = fc_packet_new_data(av, t);
    assert_non_null(p);
    return p;
}

static fc_packet *segment(enum AVCodecID codec, const uint8_t *extra, size_t len)
{
    AVCodecParameters *par = avcodec_parameters_alloc();
    par->codec_type = AVMEDIA_TYPE_VIDEO;
    par->codec_id = codec;
    if (len) {
        par->extradata = av_mallocz(len + AV_INPUT_BUFFER_PADDING_SIZE);
        memcpy(par->extradata, extra, len);
        par->extradata_size = (int)len;
    }
    fc_packet *p = fc_packet_new_segment(par, 1, 90000, 30);
    avcodec_parameters_free(&par);
    assert_non_null(p);
    return p;
}

static void push(fc_passthrough *pt, fc_packet *p)
{
    if (fc_packet_kind_of(p) == FC_PACKET_SEGMENT)
        fc_passthrough_segment(pt, p);
    else
        fc_passthrough_packet(pt, p);
    fc_packet_unref(p);
}

static void wake(fc_sub *sub, void *ctx)
{
    (void)sub;
    (*(int *)ctx)++;
}

static void idr_units_carry_their_parameter_sets(void **state)
{
    (void)state;
    fc_passthrough *pt;
    assert_int_equal(fc_passthrough_new("test (h264)", &pt), 0);
    int wakes = 0;
    fc_sub *sub;
    fc_sub_opts opts = {.auto_tier = true, .tier = FC_TIER_LOW, .queue = 10};
    assert_int_equal(fc_passthrough_subscribe(pt, &opts, wake, &wakes, &sub), 0);

    /* An RTSP session: SPS and PPS in its SDP only. */
    uint8_t sdp[sizeof SPS_320 + sizeof PPS];
    memcpy(sdp, SPS_320, sizeof SPS_320);
    memcpy(sdp + sizeof SPS_320, PPS, sizeof PPS);
    fc_packet *seg = segment(AV_CODEC_ID_H264, sdp, sizeof sdp);
    char codec[16];
    assert_int_equal(fc_passthrough_codec_string(seg, codec, sizeof codec), 0);
    assert_string_equal(codec, "avc1.42C01E");
    push(pt, seg);

    /* A delta before any IDR: nothing could decode it. */
    push(pt, data_packet((const uint8_t *const[]){DELTA}, (size_t[]){sizeof DELTA}, 1, 1.0));
    fc_passthrough_stats st;
    fc_passthrough_get_stats(pt, &st);
    assert_int_equal(st.skipped, 1);
    assert_int_equal(st.published, 0);
    assert_int_equal(fc_passthrough_format_of(pt)->serial, 0);

    /* An IDR without parameter sets gets the SDP's, then the delta after it
     * is as it came. */
    push(pt, data_packet((const uint8_t *const[]){IDR}, (size_t[]){sizeof IDR}, 1, 2.0));
    push(pt, data_packet((const uint8_t *const[]){DELTA}, (size_t[]){sizeof DELTA}, 1, 2.1));
    fc_passthrough_get_stats(pt, &st);
    assert_int_equal(st.published, 2);
    assert_int_equal(st.key_frames, 1);
    assert_int_equal(st.params_prepended, 1);
    const fc_passthrough_format *fmt = fc_passthrough_format_of(pt);
    assert_int_equal(fmt->serial, 1);
    assert_string_equal(fmt->sps.codec, "avc1.42C01E");
    assert_int_equal(fmt->sps.width, 320);
    assert_int_equal(fmt->sps.height, 240);

    fc_sub_stats ss;
    fc_sub_get_stats(sub, &ss);
    assert_int_equal(ss.tier, FC_TIER_HIGH); /* one tier, whatever was asked */
    assert_int_equal(wakes, 1);
    fc_frame *f = fc_sub_next(sub, 0);
    assert_non_null(f);
    assert_true(f->key);
    assert_int_equal(f->codec, FC_CODEC_H264);
    assert_int_equal(f->width, 320);
    assert_int_equal(f->payload_len, sizeof sdp + sizeof IDR);
    assert_memory_equal(f->payload, sdp, sizeof sdp);
    assert_memory_equal(f->payload + sizeof sdp, IDR, sizeof IDR);
    /* The wire header says the payload's length. */
    assert_int_equal(f->wire[12] << 24 | f->wire[13] << 16 | f->wire[14] << 8 | f->wire[15],
                     sizeof sdp + sizeof IDR);
    fc_frame_unref(f);
    f = fc_sub_next(sub, 0);
    assert_non_null(f);
    assert_false(f->key);
    assert_int_equal(f->payload_len, sizeof DELTA);
    assert_memory_equal(f->payload, DELTA, sizeof DELTA);
    fc_frame_unref(f);

    /* An IDR that carries its own is not given more. */
    push(pt, data_packet((const uint8_t *const[]){SPS_320, PPS, IDR},
                         (size_t[]){sizeof SPS_320, sizeof PPS, sizeof IDR}, 3, 3.0));
    f = fc_sub_next(sub, 0);
    assert_non_null(f);
    assert_int_equal(f->payload_len, sizeof sdp + sizeof IDR);
    fc_frame_unref(f);
    fc_passthrough_get_stats(pt, &st);
    assert_int_equal(st.params_prepended, 1);
    assert_int_equal(fc_passthrough_format_of(pt)->serial, 1); /* nothing changed */

    /* A new input of another codec: its packets are refused. */
    push(pt, segment(AV_CODEC_ID_VP8, NULL, 0));
    push(pt, data_packet((const uint8_t *const[]){IDR}, (size_t[]){sizeof IDR}, 1, 4.0));
    fc_passthrough_get_stats(pt, &st);
    assert_int_equal(st.rejected, 1);
    assert_null(fc_sub_next(sub, 0));

    fc_passthrough_unsubscribe(pt, sub);
    fc_passthrough_free(pt);
    assert_int_equal(fc_frame_live_count(), 0);
    assert_int_equal(fc_packet_live_count(), 0);
}

static void idr_without_any_parameter_sets_is_refused(void **state)
{
    (void)state;
    fc_passthrough *pt;
    assert_int_equal(fc_passthrough_new("test (h264)", &pt), 0);
    /* A container's avcC record: its parameter sets reach the packets
     * in-band through the source's filter, so none are kept from it, but
     * its bytes 1-3 give the codec string. */
    const uint8_t avcc[] = {1, 0x64, 0x00, 0x1f, 0xff, 0xe1};
    fc_packet *seg = segment(AV_CODEC_ID_H264, avcc, sizeof avcc);
    char codec[16];
    assert_int_equal(fc_passthrough_codec_string(seg, codec, sizeof codec), 0);
    assert_string_equal(codec, "avc1.64001F");
    push(pt, seg);
    push(pt, data_packet((const uint8_t *const[]){IDR}, (size_t[]){sizeof IDR}, 1, 1.0));
    fc_passthrough_stats st;
    fc_passthrough_get_stats(pt, &st);
    assert_int_equal(st.rejected, 1);
    assert_int_equal(st.published, 0);
    /* Not Annex B at all. */
    const uint8_t junk[] = {0x12, 0x34, 0x56};
    push(pt, data_packet((const uint8_t *const[]){junk}, (size_t[]){sizeof junk}, 1, 1.1));
    fc_passthrough_get_stats(pt, &st);
    assert_int_equal(st.rejected, 2);
    fc_passthrough_free(pt);
    assert_int_equal(fc_packet_live_count(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(idr_units_carry_their_parameter_sets),
        cmocka_unit_test(idr_without_any_parameter_sets_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
