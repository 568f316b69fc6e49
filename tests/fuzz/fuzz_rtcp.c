/* RTCP datagrams as Janus (or anybody who can reach the socket) sends them:
 * the first four bytes pick the SSRC that counts as ours, the rest is the
 * datagram. Also: every sender report we write parses back. */
#include <assert.h>
#include <string.h>

#include "fuzz.h"
#include "transport/rtcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t ssrc = 0x1a2b3c4d;
    if (size >= 4) {
        ssrc = (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 | (uint32_t)data[2] << 8 | data[3];
        data += 4;
        size -= 4;
    }
    fc_rtcp_feedback fb;
    char err[160], tiny[4];
    if (fc_rtcp_parse(data, size, ssrc, &fb, err, sizeof err) != 0)
        assert(memchr(err, 0, sizeof err));
    fc_rtcp_parse(data, size, ssrc, &fb, tiny, sizeof tiny);

    uint8_t sr[FC_RTCP_SR_MAX];
    char cname[33] = "";
    size_t n = size < 32 ? size : 32;
    for (size_t i = 0; i < n; i++)
        cname[i] = (char)(data[i] % 94 + 33); /* printable, no NUL */
    int len = fc_rtcp_write_sr(sr, sizeof sr, ssrc, 1.7e9, ssrc ^ 0x5555, 7, 9000, cname);
    assert(len > 0);
    assert(fc_rtcp_parse(sr, (size_t)len, ssrc, &fb, err, sizeof err) == 0);
    assert(fb.reports == 1 && fb.pli == 0 && fb.fir == 0 && fb.remb_bps == 0);
    return 0;
}
