#include "encode/bitstream.h"

#include <errno.h>
#include <stdio.h>

int fc_vp8_is_key(const uint8_t *frame, size_t len)
{
    /* The 3-byte frame tag: bit 0 is 0 for a key frame; a key frame then
     * has the start code 9d 01 2a and two 16-bit sizes (RFC 6386, 9.1). */
    if (len < 3) return -EINVAL;
    if (frame[0] & 1) return 0;
    if (len < 10 || frame[3] != 0x9d || frame[4] != 0x01 || frame[5] != 0x2a) return -EINVAL;
    return 1;
}

/* The offset of the first 00 00 01 at or after `from`, or len. */
static size_t find_start_code(const uint8_t *buf, size_t len, size_t from)
{
    size_t i = from;
    while (i + 2 < len) {
        if (buf[i + 2] > 1)
            i += 3; /* no start code can end at or before i + 2 */
        else if (buf[i + 2] == 1 && buf[i + 1] == 0 && buf[i] == 0)
            return i;
        else
            i++;
    }
    return len;
}

int fc_h264_next_nal(const uint8_t *buf, size_t len, size_t *pos, fc_h264_nal *nal)
{
    for (;;) {
        size_t sc = find_start_code(buf, len, *pos);
        if (sc >= len) {
            *pos = len;
            return 0;
        }
        size_t start = sc + 3;
        size_t next = find_start_code(buf, len, start);
        /* A NAL unit never ends in a zero byte (its last byte holds the stop
         * bit), so trailing zeros are the next 4-byte start code's first
         * byte or trailing_zero_8bits. */
        size_t end = next;
        while (end > start && buf[end - 1] == 0)
            end--;
        *pos = next;
        if (end > start) {
            nal->data = buf + start;
            nal->len = end - start;
            nal->type = buf[start] & 0x1f;
            return 1;
        }
    }
}

bool fc_h264_has_idr(const uint8_t *au, size_t len)
{
    /* Looks at each NAL header as soon as its start code is found, without
     * finding where the NAL unit ends: the scan stops at the first slice. */
    size_t sc = find_start_code(au, len, 0);
    while (sc + 3 < len) {
        int type = au[sc + 3] & 0x1f;
        if (type >= FC_H264_NAL_SLICE && type <= FC_H264_NAL_IDR) return type == FC_H264_NAL_IDR;
        sc = find_start_code(au, len, sc + 3);
    }
    return false;
}

/* A bit reader over an escaped NAL unit: it drops the emulation prevention
 * byte of every 00 00 03 as it goes, so the RBSP is never copied out. Past
 * the end it reads zeros and remembers that it ran out. */
typedef struct bits {
    const uint8_t *p;
    size_t len, byte;
    int bit;   /* next bit of p[byte], 7 = most significant */
    int zeros; /* zero bytes just read, to spot emulation prevention */
    bool short_read;
} bits;

static unsigned get_bit(bits *b)
{
    if (b->byte >= b->len) {
        b->short_read = true;
        return 0;
    }
    unsigned v = (b->p[b->byte] >> b->bit) & 1u;
    if (--b->bit < 0) {
        b->zeros = b->p[b->byte] == 0 ? b->zeros + 1 : 0;
        b->bit = 7;
        b->byte++;
        if (b->zeros >= 2 && b->byte < b->len && b->p[b->byte] == 3) {
            b->byte++;
            b->zeros = 0;
        }
    }
    return v;
}

static unsigned get_bits(bits *b, int n)
{
    unsigned v = 0;
    while (n-- > 0)
        v = v << 1 | get_bit(b);
    return v;
}

/* ue(v), 7.2: at most 32 bits of value; longer codes are not H.264. */
static uint32_t get_ue(bits *b)
{
    int zeros = 0;
    while (!get_bit(b)) {
        if (++zeros > 31 || b->short_read) {
            b->short_read = true;
            return 0;
        }
    }
    return (uint32_t)((1ull << zeros) - 1 + get_bits(b, zeros));
}

static int32_t get_se(bits *b)
{
    uint32_t k = get_ue(b);
    return k & 1 ? (int32_t)((k + 1) / 2) : -(int32_t)(k / 2);
}

/* scaling_list(), 7.3.2.1.1.1: only skipped, the values are not needed. */
static void skip_scaling_list(bits *b, int size)
{
    int last = 8, next = 8;
    for (int j = 0; j < size && next != 0 && !b->short_read; j++) {
        next = (last + get_se(b) + 256) % 256;
        last = next ? next : last;
    }
}

static bool has_chroma_info(int profile_idc)
{
    /* The profiles whose SPS carries chroma_format_idc and bit depths (7.3.2.1.1). */
    static const int p[] = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++)
        if (p[i] == profile_idc) return true;
    return false;
}

#define BAD(...)                                                                                   \
    do {                                                                                           \
        snprintf(err, errlen, "h264: SPS: " __VA_ARGS__);                                          \
        return -EINVAL;                                                                            \
    } while (0)

/* seq_parameter_set_data(), 7.3.2.1.1, up to the frame cropping. Written
 * here because libavcodec's SPS reader is internal: its parser reports the
 * size only after a slice that uses the SPS, so it cannot read parameter
 * sets from a container or an SDP on their own, and the constraint flags
 * (CC of avc1.PPCCLL) it does not report at all. */
static int parse_sps(const fc_h264_nal *nal, fc_h264_sps_info *out, char *err, size_t errlen)
{
    if (nal->len < 4) BAD("%zu bytes is too short", nal->len);
    bits b = {.p = nal->data, .len = nal->len, .byte = 1, .bit = 7};
    int profile = (int)get_bits(&b, 8), constraints = (int)get_bits(&b, 8);
    int level = (int)get_bits(&b, 8);
    if (get_ue(&b) > 31) BAD("seq_parameter_set_id above 31");
    unsigned chroma_format = 1, separate_planes = 0;
    if (has_chroma_info(profile)) {
        chroma_format = get_ue(&b);
        if (chroma_format > 3) BAD("chroma_format_idc %u above 3", chroma_format);
        if (chroma_format == 3) separate_planes = get_bit(&b);
        if (get_ue(&b) > 6 || get_ue(&b) > 6) BAD("bit depth above 14");
        get_bit(&b); /* qpprime_y_zero_transform_bypass_flag */
        if (get_bit(&b)) {
            for (int i = 0; i < (chroma_format != 3 ? 8 : 12); i++)
                if (get_bit(&b)) skip_scaling_list(&b, i < 6 ? 16 : 64);
        }
    }
    if (get_ue(&b) > 12) BAD("log2_max_frame_num_minus4 above 12");
    uint32_t poc_type = get_ue(&b);
    if (poc_type == 0) {
        if (get_ue(&b) > 12) BAD("log2_max_pic_order_cnt_lsb_minus4 above 12");
    } else if (poc_type == 1) {
        get_bit(&b); /* delta_pic_order_always_zero_flag */
        get_se(&b);
        get_se(&b);
        uint32_t cycle = get_ue(&b);
        if (cycle > 255) BAD("num_ref_frames_in_pic_order_cnt_cycle %u above 255", cycle);
        for (uint32_t i = 0; i < cycle && !b.short_read; i++)
            get_se(&b);
    } else if (poc_type > 2) {
        BAD("pic_order_cnt_type %u above 2", poc_type);
    }
    get_ue(&b);  /* max_num_ref_frames */
    get_bit(&b); /* gaps_in_frame_num_value_allowed_flag */
    uint32_t width_mbs = get_ue(&b) + 1, height_units = get_ue(&b) + 1;
    unsigned frame_mbs_only = get_bit(&b);
    if (!frame_mbs_only) get_bit(&b); /* mb_adaptive_frame_field_flag */
    get_bit(&b);                      /* direct_8x8_inference_flag */
    uint32_t crop[4] = {0, 0, 0, 0};  /* left, right, top, bottom */
    if (get_bit(&b))
        for (int i = 0; i < 4; i++)
            crop[i] = get_ue(&b);
    if (b.short_read) BAD("cut short (%zu bytes) or not an SPS", nal->len);
    /* 1024 macroblocks a side is 16384 pixels, beyond every level. */
    uint32_t height_mbs = (2 - frame_mbs_only) * height_units;
    if (width_mbs > 1024 || height_mbs > 1024)
        BAD("%ux%u macroblocks is beyond 16384 pixels a side", width_mbs, height_mbs);
    /* Cropping counts in chroma samples, and in field rows for fields (7.4.2.1.1). */
    bool chroma = chroma_format != 0 && !separate_planes;
    uint32_t unit_x = chroma && chroma_format != 3 ? 2 : 1;
    uint32_t unit_y = (chroma && chroma_format == 1 ? 2 : 1) * (2 - frame_mbs_only);
    uint32_t coded_w = 16 * width_mbs, coded_h = 16 * height_mbs;
    if (crop[0] > coded_w || crop[1] > coded_w || crop[2] > coded_h || crop[3] > coded_h ||
        (crop[0] + crop[1]) * unit_x >= coded_w || (crop[2] + crop[3]) * unit_y >= coded_h)
        BAD("cropping %u,%u,%u,%u leaves nothing of %ux%u", crop[0], crop[1], crop[2], crop[3],
            coded_w, coded_h);
    out->profile_idc = profile;
    out->constraint_flags = constraints;
    out->level_idc = level;
    out->coded_width = (int)coded_w;
    out->coded_height = (int)coded_h;
    out->width = (int)(coded_w - (crop[0] + crop[1]) * unit_x);
    out->height = (int)(coded_h - (crop[2] + crop[3]) * unit_y);
    snprintf(out->codec, sizeof out->codec, "avc1.%02X%02X%02X", (unsigned)profile,
             (unsigned)constraints, (unsigned)level);
    return 0;
}

int fc_h264_sps_info_parse(const uint8_t *buf, size_t len, fc_h264_sps_info *out, char *err,
                           size_t errlen)
{
    size_t pos = 0;
    fc_h264_nal nal;
    while (fc_h264_next_nal(buf, len, &pos, &nal))
        if (nal.type == FC_H264_NAL_SPS) return parse_sps(&nal, out, err, errlen);
    snprintf(err, errlen, "h264: no sequence parameter set in %zu bytes", len);
    return -ENOENT;
}
