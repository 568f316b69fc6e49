#include "transport/utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Length of the well-formed sequence at s (n bytes available), 0 if none:
 * the table of RFC 3629 section 4. */
static size_t sequence_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c >= 0x01 && c <= 0x7F) return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0; /* no overlongs */
        if (c == 0xED) hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90; /* no overlongs */
        if (c == 0xF4) hi = 0x8F; /* nothing past U+10FFFF */
    } else {
        return 0; /* NUL, a continuation byte, C0, C1, F5..FF */
    }
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

size_t fc_utf8_clean(char *dst, size_t dstlen, const char *src, size_t srclen)
{
    if (dstlen == 0) return 0;
    const unsigned char *s = (const unsigned char *)src;
    size_t out = 0, room = dstlen - 1;
    for (size_t i = 0; i < srclen;) {
        size_t len = sequence_len(s + i, srclen - i);
        if (len) {
            if (out + len > room) break;
            memcpy(dst + out, s + i, len);
            out += len;
            i += len;
        } else {
            if (out + 4 > room) break;
            snprintf(dst + out, 5, "\\x%02X", s[i]);
            out += 4;
            i++;
        }
    }
    dst[out] = '\0';
    return out;
}
