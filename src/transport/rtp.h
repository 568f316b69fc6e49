/* fc_rtp: RTP packetisation (RFC 3550) of encoded media for Janus:
 * VP8 (RFC 7741), H.264 (RFC 6184: single NAL unit packets and FU-A) and
 * Opus (RFC 7587).
 *
 * Pure byte work on caller memory: no sockets, no allocation, no clock. A
 * packet is the few header bytes this module writes (RTP header and payload
 * descriptor) plus a slice of the encoded frame, so a sender hands both to
 * the kernel as two iovecs and the frame's bytes are never copied in user
 * space (rtp_out.c does that).
 *
 * Why not libavformat's rtp muxer: it copies every payload byte into its own
 * packet buffer, stamps RTP time from the packets' pts rather than from the
 * capture time we must keep, and writes its own RTCP through the same output;
 * what it would save us is a 4-byte VP8 descriptor and a 2-byte FU-A header.
 *
 * One fc_rtp_stream per RTP stream (SSRC), owned by one thread at a time (the
 * loop that sends it). Its sequence numbers and VP8 picture ids run on across
 * key-frame requests and destination changes: nothing resets them. */
#ifndef FC_TRANSPORT_RTP_H
#define FC_TRANSPORT_RTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FC_RTP_HEADER_SIZE 12
/* RTP header plus the longest payload header we write (VP8: 4 bytes). */
#define FC_RTP_MAX_HEAD 16
/* Default packet size: fits any path's MTU with room for Janus's SRTP and
 * header extensions toward the browser. */
#define FC_RTP_DEFAULT_MTU 1200

typedef enum { FC_RTP_VP8 = 1, FC_RTP_H264 = 2, FC_RTP_OPUS = 3 } fc_rtp_codec;

/* "vp8", "h264", "opus" (Janus's codec names), or NULL. */
const char *fc_rtp_codec_name(fc_rtp_codec codec);

typedef struct fc_rtp_stream {
    fc_rtp_codec codec;
    uint8_t pt;
    uint32_t ssrc;
    uint32_t clock_rate; /* 90000 for video, 48000 for Opus (RFC 7587, whatever the input rate) */
    uint16_t seq;        /* next sequence number */
    uint16_t picture_id; /* VP8: next 15-bit PictureID */
    uint32_t ts_base;    /* RTP time of the first capture time seen */
    double capture0;     /* that capture time, Unix seconds */
    bool clock_started;
    /* Sent so far, for sender reports (RFC 3550 6.4.1: payload octets). */
    uint32_t packets, octets;
} fc_rtp_stream;

/* One packet: head[0..head_len) then body[0..body_len) (a slice of the frame). */
typedef struct fc_rtp_packet {
    uint8_t head[FC_RTP_MAX_HEAD];
    uint8_t head_len;
    const uint8_t *body;
    size_t body_len;
} fc_rtp_packet;

/* Starts a stream. ssrc, first_seq, picture_id and ts_base should be random
 * (RFC 3550 5.1); the caller draws them. Returns 0 or -EINVAL for an unknown
 * codec or a payload type outside 0..127. */
int fc_rtp_stream_init(fc_rtp_stream *s, fc_rtp_codec codec, uint8_t pt, uint32_t ssrc,
                       uint16_t first_seq, uint16_t picture_id, uint32_t ts_base);

/* RTP time of a capture time: ts_base at the first capture time ever given,
 * then the elapsed capture time at the stream's clock rate. Capture times
 * (not send times) make the RTP clock the capture clock, which is what a
 * receiver needs for A/V sync and what the sender report maps back. */
uint32_t fc_rtp_timestamp(fc_rtp_stream *s, double capture);

/* Cuts one encoded frame into packets of at most `mtu` bytes: a VP8 frame, an
 * H.264 access unit in Annex-B (start codes), or one Opus packet. Every packet
 * carries `ts`; the last one of the frame has the marker bit (video). Writes
 * at most `max` packets into out and returns how many (> 0), or
 *   -EINVAL    bad arguments (empty frame, mtu too small for any payload),
 *   -EMSGSIZE  the frame needs more than `max` packets (an Opus packet: more
 *              than one),
 *   -EBADMSG   an H.264 access unit without a start code or NAL unit,
 * with the reason in err. On error nothing of the stream changes. */
int fc_rtp_packetize(fc_rtp_stream *s, const uint8_t *frame, size_t len, uint32_t ts, size_t mtu,
                     fc_rtp_packet *out, size_t max, char *err, size_t errlen);

#endif
