/* fc_rtcp: the RTCP framecast reads from and writes to Janus (RFC 3550,
 * RFC 4585, RFC 5104, draft-alvestrand-rmcat-remb).
 *
 * In: what Janus's Streaming plugin sends back on a mountpoint's video RTCP
 * port: PLI (a viewer joined or lost pictures), FIR, and REMB (the lowest
 * bitrate estimate of its viewers, at most once a second). Out: a sender
 * report, which also tells Janus where to send that feedback (it answers the
 * address its RTCP port last heard from and nobody before that).
 *
 * Pure functions on byte buffers, any thread: the parser reads only inside
 * [buf, buf + len) and trusts no length field, so it can be fed any bytes
 * (tests/unit/test_rtcp.c; a fuzz harness). */
#ifndef FC_TRANSPORT_RTCP_H
#define FC_TRANSPORT_RTCP_H

#include <stddef.h>
#include <stdint.h>

typedef struct fc_rtcp_feedback {
    unsigned pli;      /* picture loss indications naming our SSRC */
    unsigned fir;      /* full intra request entries naming our SSRC */
    uint64_t remb_bps; /* lowest REMB estimate naming our SSRC, bits/s; 0 = none */
    unsigned reports;  /* sender and receiver reports (read past) */
    unsigned ignored;  /* other packets, and feedback for other SSRCs */
} fc_rtcp_feedback;

/* Parses one datagram: a compound RTCP packet, or a single feedback packet
 * (RFC 5506 reduced size, which is what Janus sends). Feedback counts for
 * `media_ssrc`, the SSRC we send; feedback naming SSRC 0 counts too (Janus
 * sends that before it has seen our first RTP packet). Returns 0 with *out
 * filled, or -EBADMSG with the reason in err when any part of the datagram is
 * malformed, in which case none of it should be acted on. */
int fc_rtcp_parse(const uint8_t *buf, size_t len, uint32_t media_ssrc, fc_rtcp_feedback *out,
                  char *err, size_t errlen);

/* Longest sender report fc_rtcp_write_sr writes (SR + SDES CNAME). */
#define FC_RTCP_SR_MAX 80

/* Writes a compound sender report for `ssrc`: the NTP time of `capture`
 * (Unix seconds) and the RTP time `rtp_ts` that stands for the same instant,
 * the packet and payload octet counts, and an SDES CNAME (`cname`, at most 32
 * bytes, RFC 3550 6.1 wants one in every compound packet). Returns the length
 * written, or -EMSGSIZE when cap is too small, -EINVAL for a longer cname. */
int fc_rtcp_write_sr(uint8_t *buf, size_t cap, uint32_t ssrc, double capture, uint32_t rtp_ts,
                     uint32_t packets, uint32_t octets, const char *cname);

#endif
