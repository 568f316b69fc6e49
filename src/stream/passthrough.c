#include "stream/passthrough.h"

#include <errno.h>
#include <libavcodec/avcodec.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

/* Room for the SPS and PPS kept for key frames that come without them. A
 * camera's are tens of bytes; a block larger than this is not kept (its
 * own key frames then have to carry theirs). */
#define PARAMS_MAX 4096

const fc_codec_ops fc_h264_passthrough = {
    .abi_version = FC_CODEC_ABI_VERSION,
    .struct_size = sizeof(fc_codec_ops),
    .name = "h264",
    .id = FC_CODEC_H264,
    .inter_frame = true,
};

struct fc_passthrough {
    fc_hub *hub;
    uint8_t params[PARAMS_MAX]; /* SPS and PPS NAL units, each after 00 00 00 01 */
    size_t params_len;
    uint32_t next_id;
    bool h264;     /* the input's packets are H.264 (as its last SEGMENT said) */
    bool need_key; /* a new input: deltas until its first IDR would not decode */
    fc_passthrough_format fmt;
    fc_passthrough_stats stats;
};

int fc_passthrough_new(const char *name, fc_passthrough **out)
{
    fc_passthrough *p = calloc(1, sizeof *p);
    if (!p || fc_hub_new(name, true, &p->hub) != 0) {
        free(p);
        return -ENOMEM;
    }
    p->need_key = true;
    *out = p;
    return 0;
}

void fc_passthrough_free(fc_passthrough *p)
{
    if (!p) return;
    fc_hub_free(p->hub);
    free(p);
}

/* What comes before an access unit's first slice: its parameter sets. */
typedef struct au_info {
    bool idr, sps, pps;
} au_info;

static au_info scan(const uint8_t *au, size_t len)
{
    au_info a = {0};
    size_t pos = 0;
    fc_h264_nal nal;
    while (fc_h264_next_nal(au, len, &pos, &nal)) {
        if (nal.type == FC_H264_NAL_SPS) a.sps = true;
        if (nal.type == FC_H264_NAL_PPS) a.pps = true;
        if (nal.type >= FC_H264_NAL_SLICE && nal.type <= FC_H264_NAL_IDR) {
            /* Every slice of a picture has its type: the first one tells. */
            a.idr = nal.type == FC_H264_NAL_IDR;
            break;
        }
    }
    return a;
}

/* Keeps the SPS and PPS units of `buf` (those before its first slice) as
 * the block to prepend; a block too large to keep leaves the old one. */
static void keep_params(fc_passthrough *p, const uint8_t *buf, size_t len)
{
    uint8_t block[PARAMS_MAX];
    size_t n = 0, pos = 0;
    fc_h264_nal nal;
    while (fc_h264_next_nal(buf, len, &pos, &nal)) {
        if (nal.type >= FC_H264_NAL_SLICE && nal.type <= FC_H264_NAL_IDR) break;
        if (nal.type != FC_H264_NAL_SPS && nal.type != FC_H264_NAL_PPS) continue;
        if (n + 4 + nal.len > sizeof block) return;
        memcpy(block + n, "\0\0\0\1", 4);
        memcpy(block + n + 4, nal.data, nal.len);
        n += 4 + nal.len;
    }
    if (n == 0) return;
    memcpy(p->params, block, n);
    p->params_len = n;
}

void fc_passthrough_segment(fc_passthrough *p, const fc_packet *segment)
{
    const AVCodecParameters *par = fc_packet_params(segment);
    p->h264 = par && par->codec_id == AV_CODEC_ID_H264;
    p->need_key = true;
    /* Annex B extradata (an RTSP session's SDP); a container's avcC form is
     * turned into in-band parameter sets by the source already. */
    if (!par || par->codec_id != AV_CODEC_ID_H264 || par->extradata_size < 4) return;
    const uint8_t *x = par->extradata;
    if (x[0] != 0 || x[1] != 0 || !(x[2] == 1 || (x[2] == 0 && x[3] == 1))) return;
    keep_params(p, x, (size_t)par->extradata_size);
}

int fc_passthrough_codec_string(const fc_packet *segment, char *out, size_t len)
{
    const AVCodecParameters *par = segment ? fc_packet_params(segment) : NULL;
    if (!par || par->codec_id != AV_CODEC_ID_H264 || par->extradata_size < 4) return -ENOENT;
    const uint8_t *x = par->extradata;
    if (x[0] == 1) {
        /* avcC (ISO 14496-15): version 1, then the SPS's profile_idc,
         * constraint flags and level_idc. */
        snprintf(out, len, "avc1.%02X%02X%02X", x[1], x[2], x[3]); /* as bitstream.h */
        return 0;
    }
    fc_h264_sps_info info;
    char err[128];
    int rc = fc_h264_sps_info_parse(x, (size_t)par->extradata_size, &info, err, sizeof err);
    if (rc == 0) snprintf(out, len, "%s", info.codec);
    return rc;
}

/* An IDR access unit's SPS says what the decoder is configured with; a
 * change takes effect from this frame on. */
static void take_format(fc_passthrough *p, const uint8_t *sps_buf, size_t len, uint32_t id)
{
    fc_h264_sps_info info;
    char err[128];
    if (fc_h264_sps_info_parse(sps_buf, len, &info, err, sizeof err) != 0) return;
    const fc_h264_sps_info *o = &p->fmt.sps;
    if (p->fmt.serial > 0 && strcmp(info.codec, o->codec) == 0 && info.width == o->width &&
        info.height == o->height && info.coded_width == o->coded_width &&
        info.coded_height == o->coded_height)
        return;
    p->fmt.serial++;
    p->fmt.first_id = id;
    p->fmt.sps = info;
}

void fc_passthrough_packet(fc_passthrough *p, const fc_packet *packet)
{
    size_t len;
    const uint8_t *au = fc_packet_data(packet, &len);
    p->stats.access_units++;
    size_t pos = 0;
    fc_h264_nal first;
    if (!p->h264 || !au || !fc_h264_next_nal(au, len, &pos, &first)) {
        p->stats.rejected++; /* another codec, or no start code: not Annex B */
        return;
    }
    au_info a = scan(au, len);
    if (!a.idr && p->need_key) {
        p->stats.skipped++;
        return;
    }
    bool prepend = false;
    if (a.idr) {
        if (a.sps && a.pps) {
            keep_params(p, au, len);
        } else if (p->params_len > 0) {
            prepend = true;
        } else {
            /* Nothing could decode it: subscribers wait for one that can. */
            p->stats.rejected++;
            return;
        }
    }
    size_t extra = prepend ? p->params_len : 0;
    fc_frame *f = fc_frame_new_encoded(extra + len);
    if (!f) {
        p->stats.rejected++;
        return;
    }
    uint32_t id = p->next_id++;
    if (a.idr) take_format(p, prepend ? p->params : au, prepend ? p->params_len : len, id);
    if (prepend) memcpy(f->payload, p->params, extra);
    memcpy(f->payload + extra, au, len);
    f->payload_len = extra + len;
    f->width = p->fmt.sps.width;
    f->height = p->fmt.sps.height;
    f->id = id;
    f->timestamp = fc_packet_time(packet);
    f->codec = FC_CODEC_H264;
    f->tier = FC_TIER_HIGH;
    f->key = a.idr;
    fc_frame_seal(f);
    p->need_key = false;
    p->stats.published++;
    p->stats.key_frames += a.idr;
    p->stats.params_prepended += prepend;
    p->stats.bytes += f->payload_len;
    fc_hub_publish(p->hub, f, 0, fc_now_ns());
    /* Nobody can be given a key frame sooner than the camera sends one:
     * the requests of joiners and gaps are served by waiting. */
    (void)fc_hub_take_key_wanted(p->hub);
    fc_frame_unref(f);
}

int fc_passthrough_subscribe(fc_passthrough *p, const fc_sub_opts *opts, fc_sub_wake_fn wake,
                             void *ctx, fc_sub **out)
{
    fc_sub_opts o = *opts;
    o.auto_tier = false;
    o.tier = FC_TIER_HIGH;
    return fc_hub_add(p->hub, &o, wake, ctx, out);
}

void fc_passthrough_unsubscribe(fc_passthrough *p, fc_sub *sub)
{
    (void)p;
    fc_hub_remove(sub);
}

size_t fc_passthrough_subscribers(const fc_passthrough *p)
{
    return fc_hub_count(p->hub);
}

void fc_passthrough_publish_event(fc_passthrough *p, fc_event *e)
{
    fc_hub_publish_event(p->hub, e);
}

const fc_hub *fc_passthrough_hub(const fc_passthrough *p)
{
    return p->hub;
}

const fc_passthrough_format *fc_passthrough_format_of(const fc_passthrough *p)
{
    return &p->fmt;
}

void fc_passthrough_get_stats(const fc_passthrough *p, fc_passthrough_stats *out)
{
    *out = p->stats;
}

void fc_passthrough_add_stats(const fc_passthrough *p, fc_passthrough_stats *sum)
{
    fc_passthrough_stats ps;
    fc_passthrough_get_stats(p, &ps);
    sum->access_units += ps.access_units;
    sum->published += ps.published;
    sum->skipped += ps.skipped;
    sum->key_frames += ps.key_frames;
    sum->params_prepended += ps.params_prepended;
    sum->bytes += ps.bytes;
    sum->rejected += ps.rejected;
}
