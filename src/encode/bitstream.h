/* Facts read from compressed video without decoding it: is a VP8 frame a key
 * frame; the NAL units of an H.264 access unit, whether it starts a picture
 * that decodes on its own (IDR), and what its sequence parameter set says
 * (the WebCodecs codec string and the picture size).
 *
 * H.264 input is Annex B (NAL units after 00 00 01 or 00 00 00 01 start
 * codes), the form RTSP depacketisers and libavcodec's h264_mp4toannexb give
 * and the wire carries; length-prefixed (avcC) buffers are not understood.
 *
 * Pure functions of the bytes given, any thread; they read only within
 * [buf, buf + len) and keep no pointers past the call except where a result
 * points into the caller's buffer (fc_h264_nal). */
#ifndef FC_ENCODE_BITSTREAM_H
#define FC_ENCODE_BITSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* VP8 (RFC 6386, 9.1): 1 when the frame is a key frame, 0 when it is an
 * inter frame, -EINVAL when the bytes are not a VP8 frame (shorter than a
 * frame tag; a key frame without its start code 9d 01 2a). */
int fc_vp8_is_key(const uint8_t *frame, size_t len);

enum {
    FC_H264_NAL_SLICE = 1, /* a slice of a non-IDR picture */
    FC_H264_NAL_IDR = 5,
    FC_H264_NAL_SEI = 6,
    FC_H264_NAL_SPS = 7,
    FC_H264_NAL_PPS = 8,
    FC_H264_NAL_AUD = 9,
};

/* One NAL unit: its bytes from the NAL header on, start code and trailing
 * zero bytes excluded (still escaped: emulation prevention bytes are in). */
typedef struct fc_h264_nal {
    const uint8_t *data; /* into the caller's buffer */
    size_t len;
    int type; /* nal_unit_type, data[0] & 0x1f */
} fc_h264_nal;

/* Iterates over the NAL units of an Annex B buffer: start with *pos = 0;
 * each call fills *nal and returns 1, or returns 0 after the last one.
 * Bytes before the first start code are not a NAL unit and are skipped. */
int fc_h264_next_nal(const uint8_t *buf, size_t len, size_t *pos, fc_h264_nal *nal);

/* Whether the access unit's picture is an IDR picture, which a decoder can
 * start at. Reads NAL headers up to the first slice only (every slice of a
 * picture has its type), so its cost does not grow with the picture. */
bool fc_h264_has_idr(const uint8_t *au, size_t len);

typedef struct fc_h264_sps_info {
    char codec[16];                /* WebCodecs codec string, "avc1.64001f" (avc1.PPCCLL) */
    int profile_idc;               /* PP: 66 baseline, 77 main, 100 high, ... */
    int constraint_flags;          /* CC: constraint_set0..5 flags and 2 reserved bits */
    int level_idc;                 /* LL: 31 = level 3.1 */
    int width, height;             /* the picture as shown: the coded size less cropping */
    int coded_width, coded_height; /* whole macroblocks (16x16), frame height for fields */
} fc_h264_sps_info;

/* Reads the first sequence parameter set in an Annex B buffer (an access
 * unit, or parameter sets from a container or an SDP on their own).
 * Returns 0; -ENOENT when there is no SPS; -EINVAL when the SPS is cut short
 * or out of range; err names the problem. */
int fc_h264_sps_info_parse(const uint8_t *buf, size_t len, fc_h264_sps_info *out, char *err,
                           size_t errlen);

#endif
