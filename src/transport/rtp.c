#include "transport/rtp.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* RFC 7741 4.2: X=1, S=1 on the first packet of a frame, partition index 0
 * throughout (we do not align packets with partitions); then I=1 and a
 * 15-bit PictureID (M=1), which lets the receiver tell a lost frame from a
 * late packet. */
#define VP8_DESC_LEN 4
/* RFC 6184 5.8: FU indicator and FU header. */
#define FU_A_LEN 2
#define FU_A_TYPE 28

const char *fc_rtp_codec_name(fc_rtp_codec codec)
{
    switch (codec) {
    case FC_RTP_VP8:
        return "vp8";
    case FC_RTP_H264:
        return "h264";
    case FC_RTP_OPUS:
        return "opus";
    }
    return NULL;
}

int fc_rtp_stream_init(fc_rtp_stream *s, fc_rtp_codec codec, uint8_t pt, uint32_t ssrc,
                       uint16_t first_seq, uint16_t picture_id, uint32_t ts_base)
{
    if (!fc_rtp_codec_name(codec) || pt > 127) return -EINVAL;
    *s = (fc_rtp_stream){
        .codec = codec,
        .pt = pt,
        .ssrc = ssrc,
        .clock_rate = codec == FC_RTP_OPUS ? 48000 : 90000,
        .seq = first_seq,
        .picture_id = picture_id & 0x7fff,
        .ts_base = ts_base,
    };
    return 0;
}

uint32_t fc_rtp_timestamp(fc_rtp_stream *s, double capture)
{
    if (!s->clock_started) {
        s->clock_started = true;
        s->capture0 = capture;
    }
    /* Modulo 2^32 like every RTP clock; a capture time before the first one
     * (a clock step) wraps backwards rather than failing. */
    int64_t ticks = llround((capture - s->capture0) * s->clock_rate);
    return s->ts_base + (uint32_t)ticks;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* The 12-byte fixed header (no CSRC, no extension, no padding). */
static void rtp_header(const fc_rtp_stream *s, fc_rtp_packet *p, uint16_t seq, uint32_t ts,
                       bool marker)
{
    p->head[0] = 0x80;
    p->head[1] = (uint8_t)((marker ? 0x80 : 0) | s->pt);
    put16(p->head + 2, seq);
    put32(p->head + 4, ts);
    put32(p->head + 8, s->ssrc);
    p->head_len = FC_RTP_HEADER_SIZE;
}

/* Splits n bytes into the fewest chunks of at most `room`, of nearly equal
 * sizes, so no frame ends in a runt packet. Returns the chunk count. */
static size_t chunks(size_t n, size_t room)
{
    return (n + room - 1) / room;
}

static size_t chunk_len(size_t n, size_t count, size_t i)
{
    return n / count + (i < n % count ? 1 : 0);
}

static int packetize_vp8(fc_rtp_stream *s, const uint8_t *frame, size_t len, uint32_t ts,
                         size_t room, fc_rtp_packet *out, size_t max, char *err, size_t errlen)
{
    room -= VP8_DESC_LEN;
    size_t n = chunks(len, room);
    if (n > max) {
        snprintf(err, errlen, "rtp: a %zu-byte VP8 frame needs %zu packets, more than %zu", len, n,
                 max);
        return -EMSGSIZE;
    }
    uint16_t seq = s->seq;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        fc_rtp_packet *p = &out[i];
        rtp_header(s, p, seq++, ts, i == n - 1);
        uint8_t *d = p->head + FC_RTP_HEADER_SIZE;
        d[0] = (uint8_t)(0x80 | (i == 0 ? 0x10 : 0));  /* X, S */
        d[1] = 0x80;                                   /* I */
        d[2] = (uint8_t)(0x80 | (s->picture_id >> 8)); /* M, PictureID high */
        d[3] = (uint8_t)s->picture_id;
        p->head_len += VP8_DESC_LEN;
        p->body = frame + off;
        p->body_len = chunk_len(len, n, i);
        off += p->body_len;
    }
    s->picture_id = (s->picture_id + 1) & 0x7fff;
    s->seq = seq;
    return (int)n;
}

/* The next NAL unit of an Annex-B buffer at or after *pos: its bytes without
 * the start code and without trailing zero bytes (trailing_zero_8bits of the
 * next start code). Returns false when no NAL unit is left. */
static bool next_nal(const uint8_t *buf, size_t len, size_t *pos, const uint8_t **nal,
                     size_t *nal_len)
{
    size_t i = *pos;
    for (;;) {
        /* Find a 00 00 01 at or after i. */
        while (i + 3 <= len && !(buf[i] == 0 && buf[i + 1] == 0 && buf[i + 2] == 1))
            i++;
        if (i + 3 > len) return false;
        size_t start = i + 3, end = start;
        while (end + 3 <= len && !(buf[end] == 0 && buf[end + 1] == 0 && buf[end + 2] == 1))
            end++;
        if (end + 3 > len) end = len;
        size_t stop = end;
        while (stop > start && buf[stop - 1] == 0)
            stop--;
        i = end;
        if (stop > start) {
            *nal = buf + start;
            *nal_len = stop - start;
            *pos = end;
            return true;
        }
    }
}

static int packetize_h264(fc_rtp_stream *s, const uint8_t *au, size_t len, uint32_t ts, size_t room,
                          fc_rtp_packet *out, size_t max, char *err, size_t errlen)
{
    /* Annex-B: optional zero bytes, then a start code. */
    size_t lead = 0;
    while (lead < len && au[lead] == 0)
        lead++;
    if (lead < 2 || lead == len || au[lead] != 1) {
        snprintf(err, errlen,
                 "rtp: the H.264 access unit does not begin with an Annex-B start code");
        return -EBADMSG;
    }
    uint16_t seq = s->seq;
    size_t n = 0, pos = 0, nal_len;
    const uint8_t *nal;
    while (next_nal(au, len, &pos, &nal, &nal_len)) {
        size_t count = nal_len <= room ? 1 : chunks(nal_len - 1, room - FU_A_LEN);
        if (n + count > max) {
            snprintf(err, errlen, "rtp: a %zu-byte H.264 access unit needs more than %zu packets",
                     len, max);
            return -EMSGSIZE;
        }
        if (count == 1) {
            fc_rtp_packet *p = &out[n++];
            rtp_header(s, p, seq++, ts, false);
            p->body = nal;
            p->body_len = nal_len;
            continue;
        }
        /* FU-A: the NAL header's F and NRI go into the indicator, its type
         * into the FU header; the header byte itself is not repeated. */
        const uint8_t *payload = nal + 1;
        size_t payload_len = nal_len - 1, off = 0;
        for (size_t i = 0; i < count; i++) {
            fc_rtp_packet *p = &out[n++];
            rtp_header(s, p, seq++, ts, false);
            uint8_t *fu = p->head + FC_RTP_HEADER_SIZE;
            fu[0] = (uint8_t)((nal[0] & 0xe0) | FU_A_TYPE);
            fu[1] = (uint8_t)((i == 0 ? 0x80 : 0) | (i == count - 1 ? 0x40 : 0) | (nal[0] & 0x1f));
            p->head_len += FU_A_LEN;
            p->body = payload + off;
            p->body_len = chunk_len(payload_len, count, i);
            off += p->body_len;
        }
    }
    if (n == 0) {
        snprintf(err, errlen, "rtp: the H.264 access unit holds no NAL unit");
        return -EBADMSG;
    }
    out[n - 1].head[1] |= 0x80; /* marker: the access unit's last packet */
    s->seq = seq;
    return (int)n;
}

int fc_rtp_packetize(fc_rtp_stream *s, const uint8_t *frame, size_t len, uint32_t ts, size_t mtu,
                     fc_rtp_packet *out, size_t max, char *err, size_t errlen)
{
    /* The smallest packet that still carries payload after the longest
     * header we write. */
    if (!frame || len == 0 || !out || max == 0 || mtu < FC_RTP_MAX_HEAD + 1) {
        snprintf(err, errlen,
                 "rtp: nothing to packetise (%zu bytes, mtu %zu, room for %zu packets)", len, mtu,
                 max);
        return -EINVAL;
    }
    size_t room = mtu - FC_RTP_HEADER_SIZE;
    int n;
    switch (s->codec) {
    case FC_RTP_VP8:
        n = packetize_vp8(s, frame, len, ts, room, out, max, err, errlen);
        break;
    case FC_RTP_H264:
        n = packetize_h264(s, frame, len, ts, room, out, max, err, errlen);
        break;
    case FC_RTP_OPUS:
        /* RFC 7587 4.2: one Opus packet per RTP packet, never fragmented. */
        if (len > room) {
            snprintf(err, errlen, "rtp: a %zu-byte Opus packet does not fit a %zu-byte RTP packet",
                     len, mtu);
            return -EMSGSIZE;
        }
        rtp_header(s, &out[0], s->seq++, ts, false);
        out[0].body = frame;
        out[0].body_len = len;
        n = 1;
        break;
    default:
        snprintf(err, errlen, "rtp: unknown codec %d", (int)s->codec);
        return -EINVAL;
    }
    if (n < 0) return n;
    for (int i = 0; i < n; i++)
        s->octets += (uint32_t)(out[i].head_len - FC_RTP_HEADER_SIZE + out[i].body_len);
    s->packets += (uint32_t)n;
    return n;
}
