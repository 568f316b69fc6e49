/* RTP packetisation: the exact header and payload-descriptor bytes of VP8
 * (RFC 7741), H.264 (RFC 6184) and Opus (RFC 7587) packets; frames split
 * into packets that fit the MTU and reassemble to the same bytes; sequence
 * numbers and picture ids that run on; timestamps from capture time; and
 * refusals that change nothing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "transport/rtp.h"

#define MAXP 256

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void check_header(const fc_rtp_packet *p, uint8_t pt, uint16_t seq, uint32_t ts,
                         uint32_t ssrc, int marker)
{
    assert_true(p->head_len >= FC_RTP_HEADER_SIZE);
    assert_int_equal(p->head[0], 0x80); /* V=2, P=0, X=0, CC=0 */
    assert_int_equal(p->head[1] & 0x7f, pt);
    assert_int_equal(p->head[1] >> 7, marker);
    assert_int_equal(get16(p->head + 2), seq);
    assert_int_equal(get32(p->head + 4), ts);
    assert_int_equal(get32(p->head + 8), ssrc);
}

static uint8_t *pattern(size_t n)
{
    uint8_t *b = malloc(n);
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(i * 7 + 3);
    return b;
}

/* A 10-byte VP8 frame in one packet, byte for byte. */
static void vp8_vector(void **state)
{
    (void)state;
    fc_rtp_stream s;
    assert_int_equal(fc_rtp_stream_init(&s, FC_RTP_VP8, 96, 0x11223344, 0xfffe, 0x1234, 1000), 0);
    const uint8_t frame[10] = {0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 1, 2, 3, 4};
    fc_rtp_packet p[4];
    char err[128];
    assert_int_equal(
        fc_rtp_packetize(&s, frame, sizeof frame, 0xa0b0c0d0, 1200, p, 4, err, sizeof err), 1);
    static const uint8_t want[16] = {0x80, 0xe0, 0xff, 0xfe, 0xa0, 0xb0, 0xc0, 0xd0,
                                     0x11, 0x22, 0x33, 0x44, 0x90, 0x80, 0x92, 0x34};
    assert_int_equal(p[0].head_len, 16);
    assert_memory_equal(p[0].head, want, 16);
    assert_ptr_equal(p[0].body, frame);
    assert_int_equal(p[0].body_len, 10);
    assert_int_equal(s.seq, 0xffff);
    assert_int_equal(s.picture_id, 0x1235);
    assert_int_equal(s.packets, 1);
    assert_int_equal(s.octets, 4 + 10); /* payload octets include the descriptor */
}

/* A key-frame-sized VP8 frame: packets fit the MTU, only the first has S,
 * only the last the marker, all the same picture id, and their bodies put
 * back together are the frame. Sequence numbers wrap at 2^16. */
static void vp8_fragments(void **state)
{
    (void)state;
    fc_rtp_stream s;
    fc_rtp_stream_init(&s, FC_RTP_VP8, 100, 7, 65530, 0x7fff, 0);
    size_t len = 30001;
    uint8_t *frame = pattern(len);
    fc_rtp_packet p[MAXP];
    char err[128];
    int n = fc_rtp_packetize(&s, frame, len, 90000, 1200, p, MAXP, err, sizeof err);
    assert_int_equal(n, 26); /* ceil(30001 / (1200 - 12 - 4)) */
    uint8_t *back = malloc(len);
    size_t off = 0, smallest = len, largest = 0;
    for (int i = 0; i < n; i++) {
        check_header(&p[i], 100, (uint16_t)(65530 + i), 90000, 7, i == n - 1);
        assert_true(p[i].head_len + p[i].body_len <= 1200);
        assert_int_equal(p[i].head[12], i == 0 ? 0x90 : 0x80);
        assert_int_equal(p[i].head[14], 0xff);
        assert_int_equal(p[i].head[15], 0xff);
        memcpy(back + off, p[i].body, p[i].body_len);
        off += p[i].body_len;
        smallest = p[i].body_len < smallest ? p[i].body_len : smallest;
        largest = p[i].body_len > largest ? p[i].body_len : largest;
    }
    assert_int_equal(off, len);
    assert_memory_equal(back, frame, len);
    assert_true(largest - smallest <= 1); /* no runt last packet */
    assert_int_equal(s.picture_id, 0);    /* 15 bits wrap */

    /* The next frame (say, a key frame someone asked for) carries on. */
    n = fc_rtp_packetize(&s, frame, 100, 93000, 1200, p, MAXP, err, sizeof err);
    assert_int_equal(n, 1);
    check_header(&p[0], 100, (uint16_t)(65530 + 26), 93000, 7, 1);
    assert_int_equal(p[0].head[14], 0x80);
    assert_int_equal(p[0].head[15], 0x00);
    free(back);
    free(frame);
}

/* Real SPS and PPS from x264 (baseline, 160x96), then an IDR slice larger
 * than one packet, behind 4- and 3-byte start codes. */
static const uint8_t sps[] = {0x67, 0x42, 0xc0, 0x0a, 0xd9, 0x02, 0x8d, 0xb0,
                              0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00,
                              0x03, 0x00, 0x1e, 0x0f, 0x12, 0x26, 0x48};
static const uint8_t pps[] = {0x68, 0xcb, 0x83, 0xcb, 0x20};

static size_t build_au(uint8_t *au, size_t idr_len)
{
    size_t n = 0;
    memcpy(au + n, "\0\0\0\1", 4);
    n += 4;
    memcpy(au + n, sps, sizeof sps);
    n += sizeof sps;
    memcpy(au + n, "\0\0\1", 3);
    n += 3;
    memcpy(au + n, pps, sizeof pps);
    n += sizeof pps;
    memcpy(au + n, "\0\0\0\1", 4);
    n += 4;
    au[n] = 0x65; /* nal_ref_idc 3, IDR */
    for (size_t i = 1; i < idr_len; i++)
        au[n + i] = (uint8_t)(i % 251 + 1); /* no zero runs: no start code inside */
    return n + idr_len;
}

static void h264_single_and_fu_a(void **state)
{
    (void)state;
    fc_rtp_stream s;
    fc_rtp_stream_init(&s, FC_RTP_H264, 102, 0xcafe, 10, 0, 0);
    size_t idr_len = 2500;
    uint8_t au[4 + sizeof sps + 3 + sizeof pps + 4 + 2500];
    size_t len = build_au(au, idr_len);
    fc_rtp_packet p[MAXP];
    char err[128];
    int n = fc_rtp_packetize(&s, au, len, 3000, 1200, p, MAXP, err, sizeof err);
    /* SPS, PPS as single NAL unit packets; the IDR's 2499 bytes after its
     * header in FU-A fragments of at most 1200 - 12 - 2. */
    assert_int_equal(n, 2 + 3);
    for (int i = 0; i < n; i++) {
        check_header(&p[i], 102, (uint16_t)(10 + i), 3000, 0xcafe, i == n - 1);
        assert_true(p[i].head_len + p[i].body_len <= 1200);
    }
    assert_int_equal(p[0].head_len, 12);
    assert_int_equal(p[0].body_len, sizeof sps);
    assert_memory_equal(p[0].body, sps, sizeof sps);
    assert_int_equal(p[1].body_len, sizeof pps);
    assert_memory_equal(p[1].body, pps, sizeof pps);
    uint8_t back[2500];
    back[0] = 0x65;
    size_t off = 1;
    for (int i = 2; i < n; i++) {
        assert_int_equal(p[i].head_len, 14);
        assert_int_equal(p[i].head[12], 0x60 | 28); /* F=0, NRI=3, type FU-A */
        uint8_t want = (uint8_t)(5 | (i == 2 ? 0x80 : 0) | (i == n - 1 ? 0x40 : 0));
        assert_int_equal(p[i].head[13], want); /* S, E, type IDR */
        memcpy(back + off, p[i].body, p[i].body_len);
        off += p[i].body_len;
    }
    assert_int_equal(off, idr_len);
    assert_memory_equal(back, au + len - idr_len, idr_len);
}

/* trailing_zero_8bits before a start code are no part of the NAL unit, and
 * an empty NAL unit (two start codes in a row) sends nothing. */
static void h264_trailing_zeros(void **state)
{
    (void)state;
    fc_rtp_stream s;
    fc_rtp_stream_init(&s, FC_RTP_H264, 102, 1, 0, 0, 0);
    static const uint8_t au[] = {0, 0, 1, 0x09, 0xf0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0x41, 0x9a, 0, 0};
    fc_rtp_packet p[4];
    char err[128];
    assert_int_equal(fc_rtp_packetize(&s, au, sizeof au, 0, 1200, p, 4, err, sizeof err), 2);
    assert_int_equal(p[0].body_len, 2);
    assert_int_equal(p[0].body[0], 0x09);
    assert_int_equal(p[0].head[1] >> 7, 0);
    assert_int_equal(p[1].body_len, 2);
    assert_int_equal(p[1].body[0], 0x41);
    assert_int_equal(p[1].head[1] >> 7, 1);
}

static void h264_refusals_change_nothing(void **state)
{
    (void)state;
    fc_rtp_stream s;
    fc_rtp_stream_init(&s, FC_RTP_H264, 102, 1, 500, 0, 0);
    fc_rtp_packet p[4];
    char err[128];
    static const uint8_t no_start[] = {0x65, 1, 2, 3, 4};
    assert_int_equal(
        fc_rtp_packetize(&s, no_start, sizeof no_start, 0, 1200, p, 4, err, sizeof err), -EBADMSG);
    assert_non_null(strstr(err, "start code"));
    static const uint8_t only_codes[] = {0, 0, 0, 1, 0, 0, 1, 0};
    assert_int_equal(
        fc_rtp_packetize(&s, only_codes, sizeof only_codes, 0, 1200, p, 4, err, sizeof err),
        -EBADMSG);
    assert_non_null(strstr(err, "no NAL unit"));
    uint8_t au[4 + sizeof sps + 3 + sizeof pps + 4 + 6000];
    size_t len = build_au(au, 6000);
    assert_int_equal(fc_rtp_packetize(&s, au, len, 0, 1200, p, 4, err, sizeof err), -EMSGSIZE);
    assert_int_equal(fc_rtp_packetize(&s, au, 0, 0, 1200, p, 4, err, sizeof err), -EINVAL);
    assert_int_equal(fc_rtp_packetize(&s, au, len, 0, 16, p, 4, err, sizeof err), -EINVAL);
    assert_int_equal(s.seq, 500);
    assert_int_equal(s.packets, 0);
    assert_int_equal(s.octets, 0);
}

static void opus_one_packet(void **state)
{
    (void)state;
    fc_rtp_stream s;
    fc_rtp_stream_init(&s, FC_RTP_OPUS, 111, 0xabcdef01, 1, 0, 0);
    assert_int_equal(s.clock_rate, 48000);
    uint8_t pkt[80];
    memset(pkt, 0x5a, sizeof pkt);
    fc_rtp_packet p[2];
    char err[128];
    assert_int_equal(fc_rtp_packetize(&s, pkt, sizeof pkt, 960, 1200, p, 2, err, sizeof err), 1);
    check_header(&p[0], 111, 1, 960, 0xabcdef01, 0);
    assert_int_equal(p[0].head_len, 12);
    assert_int_equal(p[0].body_len, 80);
    uint8_t big[1300] = {0};
    assert_int_equal(fc_rtp_packetize(&s, big, sizeof big, 0, 1200, p, 2, err, sizeof err),
                     -EMSGSIZE);
    assert_int_equal(s.seq, 2);
}

/* RTP time follows capture time at the clock rate from a random base,
 * whatever the send times; it wraps modulo 2^32. */
static void timestamps_from_capture_time(void **state)
{
    (void)state;
    fc_rtp_stream v, a;
    fc_rtp_stream_init(&v, FC_RTP_VP8, 96, 1, 0, 0, 0xffffff00u);
    fc_rtp_stream_init(&a, FC_RTP_OPUS, 111, 2, 0, 0, 5);
    double t0 = 1763724000.25;
    assert_int_equal(fc_rtp_timestamp(&v, t0), 0xffffff00u);
    assert_int_equal(fc_rtp_timestamp(&v, t0 + 1.0 / 30), 0xffffff00u + 3000u);
    assert_int_equal(fc_rtp_timestamp(&v, t0 + 1.0), (uint32_t)(0xffffff00u + 90000u));
    assert_int_equal(fc_rtp_timestamp(&a, t0 + 2), 5);
    assert_int_equal(fc_rtp_timestamp(&a, t0 + 2 + 0.020), 5 + 960);
    assert_int_equal(fc_rtp_timestamp(&a, t0 + 2 + 100 * 0.020), 5 + 96000);
}

static void init_refuses_bad_arguments(void **state)
{
    (void)state;
    fc_rtp_stream s;
    assert_int_equal(fc_rtp_stream_init(&s, (fc_rtp_codec)9, 96, 1, 0, 0, 0), -EINVAL);
    assert_int_equal(fc_rtp_stream_init(&s, FC_RTP_VP8, 128, 1, 0, 0, 0), -EINVAL);
    assert_string_equal(fc_rtp_codec_name(FC_RTP_H264), "h264");
    assert_null(fc_rtp_codec_name((fc_rtp_codec)0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vp8_vector),
        cmocka_unit_test(vp8_fragments),
        cmocka_unit_test(h264_single_and_fu_a),
        cmocka_unit_test(h264_trailing_zeros),
        cmocka_unit_test(h264_refusals_change_nothing),
        cmocka_unit_test(opus_one_packet),
        cmocka_unit_test(timestamps_from_capture_time),
        cmocka_unit_test(init_refuses_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
