/* The RTCP parser on the packets Janus's Streaming plugin sends a source
 * (PLI, REMB; FIR as RFC 5104 lays it out), on compounds a browser sends,
 * and on malformed datagrams, including every truncation of a valid one;
 * and the sender report we write, read back field by field. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "transport/rtcp.h"

#define OURS 0x1a2b3c4du

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int parse(const uint8_t *b, size_t n, fc_rtcp_feedback *fb)
{
    char err[160];
    err[0] = '\0';
    int rc = fc_rtcp_parse(b, n, OURS, fb, err, sizeof err);
    if (rc != 0) assert_true(strncmp(err, "rtcp: ", 6) == 0);
    return rc;
}

/* A PLI from Janus 1.1.2's Streaming plugin as it arrived on our socket when
 * a Chromium viewer joined a mountpoint fed with SSRC 0x1a2b3c4d: sender
 * SSRC 1, media SSRC the one Janus saw on our RTP (janus_rtcp_fix_ssrc). */
static const uint8_t janus_pli[] = {0x81, 0xce, 0x00, 0x02, 0x00, 0x00,
                                    0x00, 0x01, 0x1a, 0x2b, 0x3c, 0x4d};

/* What janus_streaming_rtcp_remb_send builds for 1 Mbit/s (250000 * 2^2,
 * our SSRC listed), from its source: Chromium negotiates transport-cc and
 * sends no REMB, so Janus relays none and none could be captured. */
static const uint8_t janus_remb[] = {0x8f, 0xce, 0x00, 0x05, 0x00, 0x00, 0x00, 0x01,
                                     0x00, 0x00, 0x00, 0x00, 'R',  'E',  'M',  'B',
                                     0x01, 0x0b, 0xd0, 0x90, 0x1a, 0x2b, 0x3c, 0x4d};

static void janus_feedback(void **state)
{
    (void)state;
    fc_rtcp_feedback fb;
    assert_int_equal(parse(janus_pli, sizeof janus_pli, &fb), 0);
    assert_int_equal(fb.pli, 1);
    assert_int_equal(fb.fir, 0);
    assert_int_equal(fb.remb_bps, 0);
    assert_int_equal(parse(janus_remb, sizeof janus_remb, &fb), 0);
    assert_int_equal(fb.pli, 0);
    assert_int_equal(fb.remb_bps, 1000000);
}

/* Before Janus has seen our first RTP packet it does not know our SSRC and
 * sends 0; feedback for somebody else's SSRC is not ours. */
static void ssrc_zero_and_others(void **state)
{
    (void)state;
    uint8_t pli[sizeof janus_pli];
    memcpy(pli, janus_pli, sizeof pli);
    memset(pli + 8, 0, 4);
    fc_rtcp_feedback fb;
    assert_int_equal(parse(pli, sizeof pli, &fb), 0);
    assert_int_equal(fb.pli, 1);
    pli[11] = 9;
    assert_int_equal(parse(pli, sizeof pli, &fb), 0);
    assert_int_equal(fb.pli, 0);
    assert_int_equal(fb.ignored, 1);
    uint8_t remb[sizeof janus_remb];
    memcpy(remb, janus_remb, sizeof remb);
    remb[23] = 0x4e;
    assert_int_equal(parse(remb, sizeof remb, &fb), 0);
    assert_int_equal(fb.remb_bps, 0);
    assert_int_equal(fb.ignored, 1);
}

/* A receiver report, an SDES, a FIR for us and a REMB of two SSRCs in one
 * compound, as a browser sends them. */
static void browser_compound(void **state)
{
    (void)state;
    static const uint8_t c[] = {/* RR, one report block */
                                0x81, 0xc9, 0x00, 0x07, 0x00, 0x00, 0x00, 0x02, 0x1a, 0x2b, 0x3c,
                                0x4d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12, 0x34, 0x00, 0x00,
                                0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                /* SDES: CNAME "ab", the null item, padding */
                                0x81, 0xca, 0x00, 0x03, 0x00, 0x00, 0x00, 0x02, 0x01, 0x02, 'a',
                                'b', 0x00, 0x00, 0x00, 0x00,
                                /* FIR: media SSRC 0, one entry for us with sequence number 3 */
                                0x84, 0xce, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
                                0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x03, 0x00, 0x00, 0x00,
                                /* REMB 300 kbit/s (150000 * 2^1) for another SSRC and us */
                                0x8f, 0xce, 0x00, 0x06, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
                                0x00, 'R', 'E', 'M', 'B', 0x02, 0x06, 0x49, 0xf0, 0x77, 0x77, 0x77,
                                0x77, 0x1a, 0x2b, 0x3c, 0x4d};
    fc_rtcp_feedback fb;
    assert_int_equal(parse(c, sizeof c, &fb), 0);
    assert_int_equal(fb.reports, 1);
    assert_int_equal(fb.fir, 1);
    assert_int_equal(fb.pli, 0);
    assert_int_equal(fb.remb_bps, 300000);
    assert_int_equal(fb.ignored, 1); /* the SDES */

    /* Every truncation is refused whole, never half acted on. */
    for (size_t n = 0; n < sizeof c; n++) {
        uint8_t *cut = malloc(n ? n : 1);
        memcpy(cut, c, n);
        int rc = parse(cut, n, &fb);
        /* A cut exactly between packets is a valid shorter compound. */
        if (n == 32 || n == 48 || n == 68)
            assert_int_equal(rc, 0);
        else
            assert_int_equal(rc, -EBADMSG);
        free(cut);
    }
}

static void malformed(void **state)
{
    (void)state;
    fc_rtcp_feedback fb;
    uint8_t b[32];

    memcpy(b, janus_pli, sizeof janus_pli);
    b[0] = 0x41; /* version 1 */
    assert_int_equal(parse(b, sizeof janus_pli, &fb), -EBADMSG);

    memcpy(b, janus_pli, sizeof janus_pli);
    b[3] = 0x03; /* says 16 bytes */
    assert_int_equal(parse(b, sizeof janus_pli, &fb), -EBADMSG);

    memcpy(b, janus_pli, sizeof janus_pli);
    b[3] = 0x01; /* 8-byte PSFB: no media SSRC */
    assert_int_equal(parse(b, 8, &fb), -EBADMSG);

    /* FIR entries are 8 bytes */
    static const uint8_t fir[] = {0x84, 0xce, 0x00, 0x03, 0,    0,    0,    2,
                                  0,    0,    0,    0,    0x1a, 0x2b, 0x3c, 0x4d};
    assert_int_equal(parse(fir, sizeof fir, &fb), -EBADMSG);

    /* REMB listing more SSRCs than it carries */
    memcpy(b, janus_remb, sizeof janus_remb);
    b[16] = 2;
    assert_int_equal(parse(b, sizeof janus_remb, &fb), -EBADMSG);

    /* stray bytes after the last packet */
    memcpy(b, janus_pli, sizeof janus_pli);
    memset(b + 12, 0, 3);
    assert_int_equal(parse(b, 15, &fb), -EBADMSG);

    /* padding: only in the last packet, count within it */
    memcpy(b, janus_pli, sizeof janus_pli);
    b[0] |= 0x20;
    b[3] = 0x03;
    memset(b + 12, 0, 4);
    b[15] = 4;
    assert_int_equal(parse(b, 16, &fb), 0);
    assert_int_equal(fb.pli, 1);
    b[15] = 13;
    assert_int_equal(parse(b, 16, &fb), -EBADMSG);
    b[15] = 0;
    assert_int_equal(parse(b, 16, &fb), -EBADMSG);
    memcpy(b + 16, janus_pli, sizeof janus_pli);
    b[15] = 4;
    assert_int_equal(parse(b, 28, &fb), -EBADMSG);

    assert_int_equal(parse(b, 0, &fb), -EBADMSG);
    assert_int_equal(parse(b, 3, &fb), -EBADMSG);
}

/* An application-layer feedback that is not REMB, and an exponent that
 * would overflow 64 bits. */
static void remb_edges(void **state)
{
    (void)state;
    fc_rtcp_feedback fb;
    uint8_t b[sizeof janus_remb];
    memcpy(b, janus_remb, sizeof b);
    b[12] = 'X';
    assert_int_equal(parse(b, sizeof b, &fb), 0);
    assert_int_equal(fb.remb_bps, 0);
    assert_int_equal(fb.ignored, 1);
    memcpy(b, janus_remb, sizeof b);
    b[17] = 0xfc | 0x03; /* exponent 63 */
    assert_int_equal(parse(b, sizeof b, &fb), 0);
    assert_true(fb.remb_bps == UINT64_MAX);
    b[17] = 0;
    b[18] = 0;
    b[19] = 0; /* 0 bit/s */
    assert_int_equal(parse(b, sizeof b, &fb), 0);
    assert_int_equal(fb.remb_bps, 0);
}

static void sender_report(void **state)
{
    (void)state;
    uint8_t b[FC_RTCP_SR_MAX];
    double capture = 1763724000.75;
    int n = fc_rtcp_write_sr(b, sizeof b, OURS, capture, 0x01020304, 77, 12345, "framecast");
    assert_int_equal(n, 28 + 4 + 16);
    assert_int_equal(b[0], 0x80);
    assert_int_equal(b[1], 200);
    assert_int_equal(b[3], 6);
    assert_int_equal(get32(b + 4), OURS);
    assert_int_equal(get32(b + 8), 1763724000u + 2208988800u);
    assert_int_equal(get32(b + 12), 0xc0000000u); /* .75 */
    assert_int_equal(get32(b + 16), 0x01020304);
    assert_int_equal(get32(b + 20), 77);
    assert_int_equal(get32(b + 24), 12345);
    assert_int_equal(b[28], 0x81);
    assert_int_equal(b[29], 202);
    assert_int_equal(b[31], 4);
    assert_int_equal(get32(b + 32), OURS);
    assert_int_equal(b[36], 1);
    assert_int_equal(b[37], 9);
    assert_memory_equal(b + 38, "framecast", 9);
    assert_int_equal(b[47], 0);
    fc_rtcp_feedback fb;
    assert_int_equal(parse(b, (size_t)n, &fb), 0);
    assert_int_equal(fb.reports, 1);
    assert_int_equal(fb.ignored, 1);

    assert_int_equal(fc_rtcp_write_sr(b, 40, OURS, capture, 0, 0, 0, "framecast"), -EMSGSIZE);
    assert_int_equal(fc_rtcp_write_sr(b, sizeof b, OURS, capture, 0, 0, 0,
                                      "a-cname-that-is-longer-than-32-bytes"),
                     -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(janus_feedback),   cmocka_unit_test(ssrc_zero_and_others),
        cmocka_unit_test(browser_compound), cmocka_unit_test(malformed),
        cmocka_unit_test(remb_edges),       cmocka_unit_test(sender_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
