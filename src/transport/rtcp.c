#include "transport/rtcp.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

enum {
    PT_SR = 200,
    PT_RR = 201,
    PT_SDES = 202,
    PT_RTPFB = 205,
    PT_PSFB = 206,
};
enum { FMT_PLI = 1, FMT_FIR = 4, FMT_AFB = 15 };

/* Seconds from the NTP epoch (1900) to the Unix epoch (1970). */
#define NTP_UNIX_OFFSET 2208988800u

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static bool names_us(uint32_t ssrc, uint32_t ours)
{
    return ssrc == ours || ssrc == 0;
}

/* REMB (draft-alvestrand-rmcat-remb 2.2): "REMB", SSRC count, 6-bit exponent
 * and 18-bit mantissa, then the SSRCs it applies to. `fci` has n bytes. */
static int parse_remb(const uint8_t *fci, size_t n, uint32_t ours, fc_rtcp_feedback *out, char *err,
                      size_t errlen)
{
    if (n < 8 || memcmp(fci, "REMB", 4) != 0) {
        out->ignored++; /* another application-layer feedback */
        return 0;
    }
    size_t count = fci[4];
    if (n < 8 + 4 * count) {
        snprintf(err, errlen, "rtcp: REMB lists %zu SSRCs in %zu bytes", count, n);
        return -EBADMSG;
    }
    unsigned exp = fci[5] >> 2;
    uint64_t mantissa = (uint64_t)(fci[5] & 3) << 16 | (uint64_t)fci[6] << 8 | fci[7];
    bool ours_listed = false;
    for (size_t i = 0; i < count; i++)
        ours_listed |= names_us(get32(fci + 8 + 4 * i), ours);
    /* An estimate of 0 bits/s asks for nothing we could send. */
    if (!ours_listed || mantissa == 0) {
        out->ignored++;
        return 0;
    }
    /* An 18-bit mantissa shifted by up to 63 overflows 64 bits past
     * exponent 46: such an estimate means "no limit". */
    uint64_t bps = exp > 46 ? UINT64_MAX : mantissa << exp;
    if (out->remb_bps == 0 || bps < out->remb_bps) out->remb_bps = bps;
    return 0;
}

static int parse_psfb(const uint8_t *p, size_t size, unsigned fmt, uint32_t ours,
                      fc_rtcp_feedback *out, char *err, size_t errlen)
{
    /* Header, sender SSRC, media SSRC, then the feedback control information. */
    if (size < 12) {
        snprintf(err, errlen, "rtcp: payload-specific feedback of %zu bytes, shorter than 12",
                 size);
        return -EBADMSG;
    }
    uint32_t media = get32(p + 8);
    const uint8_t *fci = p + 12;
    size_t fci_len = size - 12;
    switch (fmt) {
    case FMT_PLI:
        if (names_us(media, ours))
            out->pli++;
        else
            out->ignored++;
        return 0;
    case FMT_FIR:
        /* RFC 5104 4.3.1.2: entries of SSRC, sequence number, 3 reserved bytes;
         * the media SSRC field is not used. */
        if (fci_len == 0 || fci_len % 8 != 0) {
            snprintf(err, errlen, "rtcp: FIR with %zu bytes of entries, not a multiple of 8",
                     fci_len);
            return -EBADMSG;
        }
        for (size_t i = 0; i < fci_len; i += 8) {
            if (names_us(get32(fci + i), ours))
                out->fir++;
            else
                out->ignored++;
        }
        return 0;
    case FMT_AFB:
        return parse_remb(fci, fci_len, ours, out, err, errlen);
    default:
        out->ignored++;
        return 0;
    }
}

int fc_rtcp_parse(const uint8_t *buf, size_t len, uint32_t media_ssrc, fc_rtcp_feedback *out,
                  char *err, size_t errlen)
{
    *out = (fc_rtcp_feedback){0};
    if (len < 4) {
        snprintf(err, errlen, "rtcp: %zu-byte datagram, shorter than a header", len);
        return -EBADMSG;
    }
    size_t off = 0;
    while (off < len) {
        if (len - off < 4) {
            snprintf(err, errlen, "rtcp: %zu stray bytes after the last packet", len - off);
            return -EBADMSG;
        }
        const uint8_t *p = buf + off;
        if (p[0] >> 6 != 2) {
            snprintf(err, errlen, "rtcp: version %u at byte %zu, not 2", p[0] >> 6, off);
            return -EBADMSG;
        }
        size_t size = ((size_t)(p[2] << 8 | p[3]) + 1) * 4;
        if (size > len - off) {
            snprintf(err, errlen, "rtcp: a packet of %zu bytes at byte %zu, only %zu left", size,
                     off, len - off);
            return -EBADMSG;
        }
        /* RFC 3550 6.4.1: only the last packet of a compound may be padded,
         * and the padding count is in its last byte. */
        if (p[0] & 0x20) {
            if (off + size != len || p[size - 1] == 0 || p[size - 1] > size - 4) {
                snprintf(err, errlen, "rtcp: bad padding in the packet at byte %zu", off);
                return -EBADMSG;
            }
            size_t body = size - p[size - 1];
            size = body; /* parse without the padding, then stop */
        }
        unsigned fmt = p[0] & 0x1f, pt = p[1];
        int rc = 0;
        switch (pt) {
        case PT_SR:
        case PT_RR:
            out->reports++;
            break;
        case PT_PSFB:
            rc = parse_psfb(p, size, fmt, media_ssrc, out, err, errlen);
            break;
        default:
            out->ignored++;
            break;
        }
        if (rc != 0) return rc;
        if (p[0] & 0x20) break;
        off += size;
    }
    return 0;
}

int fc_rtcp_write_sr(uint8_t *buf, size_t cap, uint32_t ssrc, double capture, uint32_t rtp_ts,
                     uint32_t packets, uint32_t octets, const char *cname)
{
    size_t cname_len = strlen(cname);
    if (cname_len > 32) return -EINVAL;
    /* SDES chunk: SSRC, CNAME item (type, length, text), a null item, padding
     * to a 32-bit boundary. */
    size_t chunk = (4 + 2 + cname_len + 1 + 3) / 4 * 4;
    size_t total = 28 + 4 + chunk;
    if (cap < total) return -EMSGSIZE;
    memset(buf, 0, total);

    double secs = floor(capture);
    uint32_t ntp_sec = (uint32_t)((uint64_t)secs + NTP_UNIX_OFFSET);
    uint32_t ntp_frac = (uint32_t)ldexp(capture - secs, 32);
    buf[0] = 0x80; /* V=2, no padding, no report blocks */
    buf[1] = PT_SR;
    buf[2] = 0;
    buf[3] = 28 / 4 - 1;
    put32(buf + 4, ssrc);
    put32(buf + 8, ntp_sec);
    put32(buf + 12, ntp_frac);
    put32(buf + 16, rtp_ts);
    put32(buf + 20, packets);
    put32(buf + 24, octets);

    uint8_t *s = buf + 28;
    s[0] = 0x81; /* V=2, one chunk */
    s[1] = PT_SDES;
    s[2] = (uint8_t)(((4 + chunk) / 4 - 1) >> 8);
    s[3] = (uint8_t)((4 + chunk) / 4 - 1);
    put32(s + 4, ssrc);
    s[8] = 1; /* CNAME */
    s[9] = (uint8_t)cname_len;
    memcpy(s + 10, cname, cname_len);
    return (int)total;
}
