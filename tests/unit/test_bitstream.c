/* Bitstream helpers. H.264: real streams made here with x264 (through
 * libavcodec) in every profile and chroma format a camera or encoder may
 * send, each checked against libavcodec's own H.264 parser; plus SPS fields
 * x264 never writes (scaling lists, picture order type 1, an emulation
 * prevention byte) in parameter sets built here from the spec's syntax.
 * VP8: the frame tag cases (frames from a real encoder are in test_vp8). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include <cmocka.h>
#include <libavcodec/avcodec.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>

#include "encode/bitstream.h"

/* One access unit as the encoder gave it. */
typedef struct au {
    uint8_t *data;
    size_t len;
    bool key; /* the encoder's own flag */
} au;

typedef struct h264_case {
    const char *name;
    const char *profile; /* x264's profile name */
    enum AVPixelFormat fmt;
    int width, height;
    const char *preset, *params;
    int profile_idc, constraints; /* what x264 writes for that profile */
} h264_case;

static const h264_case cases[] = {
    {"baseline 320x180", "baseline", AV_PIX_FMT_YUV420P, 320, 180, "ultrafast", "", 66, 0xc0},
    {"main 1280x720, B-frames", "main", AV_PIX_FMT_YUV420P, 1280, 720, "veryfast", "", 77, 0x40},
    {"high 1920x1080", "high", AV_PIX_FMT_YUV420P, 1920, 1080, "superfast", "", 100, 0},
    {"high interlaced 640x360", "high", AV_PIX_FMT_YUV420P, 640, 360, "superfast", "interlaced=1",
     100, 0},
    {"high10 352x288", "high10", AV_PIX_FMT_YUV420P10LE, 352, 288, "ultrafast", "", 110, 0},
    {"high422 642x361", "high422", AV_PIX_FMT_YUV422P, 642, 361, "ultrafast", "", 122, 0},
    {"high444 641x361", "high444", AV_PIX_FMT_YUV444P, 641, 361, "ultrafast", "", 244, 0},
    {"monochrome 321x241", "high", AV_PIX_FMT_GRAY8, 321, 241, "ultrafast", "", 100, 0},
};

#define FRAMES 12
#define GOP 5

/* A moving diagonal pattern in any of the formats above. */
static void fill(AVFrame *f, int i)
{
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(f->format);
    int planes = d->nb_components;
    for (int p = 0; p < planes; p++) {
        int w = p ? AV_CEIL_RSHIFT(f->width, d->log2_chroma_w) : f->width;
        int h = p ? AV_CEIL_RSHIFT(f->height, d->log2_chroma_h) : f->height;
        for (int y = 0; y < h; y++) {
            uint8_t *row = f->data[p] + (size_t)y * (size_t)f->linesize[p];
            for (int x = 0; x < w; x++) {
                int v = p ? 128 + ((x - 2 * i) & 31) : (x + y + 3 * i) & 0xff;
                if (d->comp[0].depth > 8)
                    ((uint16_t *)row)[x] = (uint16_t)(v << 2);
                else
                    row[x] = (uint8_t)v;
            }
        }
    }
}

static size_t encode_h264(const h264_case *c, au *out)
{
    const AVCodec *x264 = avcodec_find_encoder_by_name("libx264");
    if (!x264) fail_msg("libavcodec has no libx264 encoder");
    AVCodecContext *ctx = avcodec_alloc_context3(x264);
    ctx->width = c->width;
    ctx->height = c->height;
    ctx->pix_fmt = c->fmt;
    ctx->time_base = (AVRational){1, 30};
    ctx->framerate = (AVRational){30, 1};
    ctx->gop_size = GOP;
    ctx->keyint_min = GOP;
    ctx->thread_count = 1;
    av_opt_set(ctx->priv_data, "preset", c->preset, 0);
    av_opt_set(ctx->priv_data, "profile", c->profile, 0);
    av_opt_set(ctx->priv_data, "x264-params", c->params, 0);
    /* Scene cuts would add key frames where the test expects none. */
    av_opt_set_int(ctx->priv_data, "sc_threshold", 0, 0);
    if (avcodec_open2(ctx, x264, NULL) < 0) fail_msg("%s: libx264 does not open", c->name);
    AVFrame *f = av_frame_alloc();
    f->format = c->fmt;
    f->width = c->width;
    f->height = c->height;
    assert_int_equal(av_frame_get_buffer(f, 0), 0);
    AVPacket *pkt = av_packet_alloc();
    size_t n = 0;
    for (int i = 0; i <= FRAMES; i++) {
        if (i < FRAMES) {
            assert_int_equal(av_frame_make_writable(f), 0);
            fill(f, i);
            f->pts = i;
        }
        assert_int_equal(avcodec_send_frame(ctx, i < FRAMES ? f : NULL), 0);
        while (avcodec_receive_packet(ctx, pkt) == 0) {
            assert_true(n < FRAMES);
            out[n].data = malloc((size_t)pkt->size);
            memcpy(out[n].data, pkt->data, (size_t)pkt->size);
            out[n].len = (size_t)pkt->size;
            out[n].key = pkt->flags & AV_PKT_FLAG_KEY;
            n++;
            av_packet_unref(pkt);
        }
    }
    av_packet_free(&pkt);
    av_frame_free(&f);
    avcodec_free_context(&ctx);
    assert_int_equal(n, FRAMES);
    return n;
}

/* Every byte of the access unit is a start code, a zero between NAL units,
 * or inside a NAL unit the scan returned. */
static void check_scan_covers(const au *a, int *types, int *ntypes)
{
    size_t pos = 0, covered = 0;
    fc_h264_nal nal;
    *ntypes = 0;
    while (fc_h264_next_nal(a->data, a->len, &pos, &nal)) {
        size_t at = (size_t)(nal.data - a->data);
        assert_true(at >= covered + 3);
        assert_memory_equal(a->data + at - 3, "\0\0\1", 3);
        for (size_t k = covered; k < at - 3; k++)
            assert_int_equal(a->data[k], 0);
        assert_int_equal(nal.data[0] & 0x80, 0); /* forbidden_zero_bit */
        assert_int_equal(nal.type, nal.data[0] & 0x1f);
        assert_true(nal.data[nal.len - 1] != 0);
        covered = at + nal.len;
        assert_true(*ntypes < 32);
        types[(*ntypes)++] = nal.type;
    }
    assert_int_equal(pos, a->len);
    for (size_t k = covered; k < a->len; k++)
        assert_int_equal(a->data[k], 0);
}

/* libavcodec's parser on one access unit: the reference the SPS reader and
 * the IDR test are checked against. */
static void parse_with_libavcodec(const au *a, AVCodecParserContext *p, AVCodecContext *ctx)
{
    uint8_t *buf = calloc(1, a->len + AV_INPUT_BUFFER_PADDING_SIZE);
    memcpy(buf, a->data, a->len);
    uint8_t *outp;
    int outn;
    av_parser_parse2(p, ctx, &outp, &outn, buf, (int)a->len, AV_NOPTS_VALUE, AV_NOPTS_VALUE, 0);
    free(buf);
}

static void assert_same_info(const fc_h264_sps_info *a, const fc_h264_sps_info *b)
{
    assert_string_equal(a->codec, b->codec);
    assert_int_equal(a->profile_idc, b->profile_idc);
    assert_int_equal(a->constraint_flags, b->constraint_flags);
    assert_int_equal(a->level_idc, b->level_idc);
    assert_int_equal(a->width, b->width);
    assert_int_equal(a->height, b->height);
    assert_int_equal(a->coded_width, b->coded_width);
    assert_int_equal(a->coded_height, b->coded_height);
}

static void h264_streams_of_every_profile(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const h264_case *hc = &cases[c];
        au aus[FRAMES];
        size_t n = encode_h264(hc, aus);
        const AVCodec *h264 = avcodec_find_decoder(AV_CODEC_ID_H264);
        AVCodecContext *ctx = avcodec_alloc_context3(h264);
        AVCodecParserContext *p = av_parser_init(AV_CODEC_ID_H264);
        p->flags |= PARSER_FLAG_COMPLETE_FRAMES;
        int keys = 0;
        for (size_t i = 0; i < n; i++) {
            int types[32], nt;
            check_scan_covers(&aus[i], types, &nt);
            bool has5 = false, has7 = false;
            for (int k = 0; k < nt; k++) {
                has5 |= types[k] == FC_H264_NAL_IDR;
                has7 |= types[k] == FC_H264_NAL_SPS;
            }
            parse_with_libavcodec(&aus[i], p, ctx);
            bool idr = fc_h264_has_idr(aus[i].data, aus[i].len);
            if (idr != aus[i].key || idr != has5 || idr != (p->key_frame == 1))
                fail_msg("%s: AU %zu: has_idr %d, encoder key %d, IDR NAL %d, parser key %d",
                         hc->name, i, idr, aus[i].key, has5, p->key_frame);
            keys += idr;
            if (!idr) continue;
            /* x264 repeats SPS and PPS before every IDR picture. */
            assert_true(has7);
            fc_h264_sps_info info;
            char err[200];
            if (fc_h264_sps_info_parse(aus[i].data, aus[i].len, &info, err, sizeof err) != 0)
                fail_msg("%s: %s", hc->name, err);
            if (info.width != hc->width || info.height != hc->height || info.width != p->width ||
                info.height != p->height || info.coded_width != p->coded_width ||
                info.coded_height != p->coded_height)
                fail_msg("%s: SPS says %dx%d (coded %dx%d); libavcodec %dx%d (coded %dx%d)",
                         hc->name, info.width, info.height, info.coded_width, info.coded_height,
                         p->width, p->height, p->coded_width, p->coded_height);
            assert_int_equal(info.profile_idc, hc->profile_idc);
            assert_int_equal(info.profile_idc, ctx->profile & 0xff);
            assert_int_equal(info.constraint_flags, hc->constraints);
            assert_int_equal(info.level_idc, ctx->level);
            char want[16];
            snprintf(want, sizeof want, "avc1.%02X%02X%02X", hc->profile_idc, hc->constraints,
                     ctx->level);
            assert_string_equal(info.codec, want);
            print_message("%s: %s, %dx%d coded %dx%d\n", hc->name, info.codec, info.width,
                          info.height, info.coded_width, info.coded_height);
        }
        assert_int_equal(keys, (FRAMES + GOP - 1) / GOP);
        av_parser_close(p);
        avcodec_free_context(&ctx);
        for (size_t i = 0; i < n; i++)
            free(aus[i].data);
    }
}

/* The SPS on its own (as a container or an SDP carries it), and every
 * prefix of it: a cut SPS is refused by name, never misread. */
static void sps_alone_and_cut_short(void **state)
{
    (void)state;
    au aus[FRAMES];
    size_t n = encode_h264(&cases[1], aus);
    fc_h264_sps_info whole, part;
    char err[200];
    assert_int_equal(fc_h264_sps_info_parse(aus[0].data, aus[0].len, &whole, err, sizeof err), 0);
    size_t pos = 0;
    fc_h264_nal nal;
    while (fc_h264_next_nal(aus[0].data, aus[0].len, &pos, &nal) && nal.type != FC_H264_NAL_SPS)
        ;
    assert_int_equal(nal.type, FC_H264_NAL_SPS);
    uint8_t buf[512] = {0, 0, 0, 1};
    assert_true(nal.len + 4 <= sizeof buf);
    memcpy(buf + 4, nal.data, nal.len);
    assert_int_equal(fc_h264_sps_info_parse(buf, 4 + nal.len, &part, err, sizeof err), 0);
    assert_same_info(&part, &whole);
    for (size_t cut = 4; cut < 4 + nal.len; cut++) {
        memset(&part, 0, sizeof part);
        int rc = fc_h264_sps_info_parse(buf, cut, &part, err, sizeof err);
        if (rc == 0) {
            /* Only the VUI after the cropping may be missing, never the
             * profile and level bytes and what follows them. */
            assert_true(cut >= 4 + 8);
            assert_same_info(&part, &whole);
        } else {
            assert_int_equal(rc, cut == 4 ? -ENOENT : -EINVAL);
            assert_non_null(strstr(err, cut == 4 ? "no sequence parameter set" : "h264: SPS"));
        }
    }
    uint8_t none[] = {0, 0, 1, 0x68, 0xce, 0x38, 0x80, 0, 0, 1, 0x65, 0x88};
    assert_int_equal(fc_h264_sps_info_parse(none, sizeof none, &part, err, sizeof err), -ENOENT);
    assert_false(fc_h264_has_idr(none, 7)); /* a PPS, cut before the slice */
    assert_true(fc_h264_has_idr(none, sizeof none));
    assert_int_equal(fc_h264_sps_info_parse(none, 0, &part, err, sizeof err), -ENOENT);
    for (size_t i = 0; i < n; i++)
        free(aus[i].data);
}

/* A bit writer for parameter sets built from the syntax tables, escaped
 * the way an encoder must (7.4.1). */
typedef struct writer {
    uint8_t rbsp[256];
    size_t bits;
} writer;

static void put(writer *w, uint32_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, w->bits++)
        if (v >> i & 1) w->rbsp[w->bits / 8] |= (uint8_t)(0x80 >> (w->bits % 8));
}

static void put_ue(writer *w, uint32_t v)
{
    int len = 0;
    while ((uint64_t)(v + 1) >> (len + 1))
        len++;
    put(w, 0, len);
    put(w, v + 1, len + 1);
}

static void put_se(writer *w, int32_t v)
{
    put_ue(w, v > 0 ? (uint32_t)(2 * v - 1) : (uint32_t)(-2 * (int64_t)v));
}

/* Start code, NAL header 0x67, escaped RBSP with its stop bit. */
static size_t finish(writer *w, uint8_t *out, bool *escaped)
{
    put(w, 1, 1);
    size_t n = (w->bits + 7) / 8, o = 0;
    int zeros = 0;
    memcpy(out, "\0\0\0\1\x67", 5);
    o = 5;
    *escaped = false;
    for (size_t i = 0; i < n; i++) {
        if (zeros >= 2 && w->rbsp[i] <= 3) {
            out[o++] = 3;
            zeros = 0;
            *escaped = true;
        }
        out[o++] = w->rbsp[i];
        zeros = w->rbsp[i] ? 0 : zeros + 1;
    }
    return o;
}

static void sps_fields_x264_never_writes(void **state)
{
    (void)state;
    /* 4:2:2 with scaling lists (one ended early, one falling back to the
     * default), picture order type 1 with an offset of -2^29 (30 leading
     * zero bits: at least two zero bytes, so an emulation prevention byte),
     * fields (MBAFF) and cropping on every side. */
    writer w = {0};
    put(&w, 100, 8);
    put(&w, 0x0c, 8);
    put(&w, 40, 8);
    put_ue(&w, 3); /* seq_parameter_set_id */
    put_ue(&w, 2); /* chroma_format_idc: 4:2:2 */
    put_ue(&w, 0); /* bit_depth_luma_minus8 */
    put_ue(&w, 0); /* bit_depth_chroma_minus8 */
    put(&w, 0, 1); /* qpprime_y_zero_transform_bypass_flag */
    put(&w, 1, 1); /* seq_scaling_matrix_present_flag */
    put(&w, 1, 1); /* list 0: use the default (delta -8 at j = 0) */
    put_se(&w, -8);
    put(&w, 1, 1); /* list 1: 16 values */
    for (int j = 0; j < 16; j++)
        put_se(&w, j % 2 ? 3 : -2);
    for (int i = 2; i < 6; i++)
        put(&w, 0, 1);
    put(&w, 1, 1); /* list 6 (8x8): 10 values, then repeat the last */
    for (int j = 0; j < 9; j++)
        put_se(&w, 1);
    put_se(&w, -17); /* next = 0: the rest repeat */
    put(&w, 0, 1);
    put_ue(&w, 2);          /* log2_max_frame_num_minus4 */
    put_ue(&w, 1);          /* pic_order_cnt_type */
    put(&w, 0, 1);          /* delta_pic_order_always_zero_flag */
    put_se(&w, -(1 << 29)); /* offset_for_non_ref_pic */
    put_se(&w, 7);          /* offset_for_top_to_bottom_field */
    put_ue(&w, 3);
    put_se(&w, 1);
    put_se(&w, -2);
    put_se(&w, 3);
    put_ue(&w, 4);  /* max_num_ref_frames */
    put(&w, 0, 1);  /* gaps_in_frame_num_value_allowed_flag */
    put_ue(&w, 39); /* 40 macroblocks: 640 */
    put_ue(&w, 11); /* 12 field map units: 24 macroblock rows, 384 */
    put(&w, 0, 1);  /* frame_mbs_only_flag */
    put(&w, 1, 1);  /* mb_adaptive_frame_field_flag */
    put(&w, 1, 1);  /* direct_8x8_inference_flag */
    put(&w, 1, 1);  /* frame_cropping_flag */
    put_ue(&w, 1);
    put_ue(&w, 2);
    put_ue(&w, 0);
    put_ue(&w, 3);
    put(&w, 0, 1); /* vui_parameters_present_flag */
    uint8_t nal[300];
    bool escaped;
    size_t len = finish(&w, nal, &escaped);
    assert_true(escaped);
    fc_h264_sps_info info;
    char err[200];
    if (fc_h264_sps_info_parse(nal, len, &info, err, sizeof err) != 0) fail_msg("%s", err);
    assert_string_equal(info.codec, "avc1.640C28");
    /* 4:2:2 crops in 2-pixel columns and, for fields, 2-row steps. */
    assert_int_equal(info.coded_width, 640);
    assert_int_equal(info.coded_height, 384);
    assert_int_equal(info.width, 640 - 2 * 3);
    assert_int_equal(info.height, 384 - 2 * 3);

    /* 4:4:4 coded as three separate planes crops in single pixels. */
    writer v = {0};
    put(&v, 244, 8);
    put(&v, 0, 8);
    put(&v, 30, 8);
    put_ue(&v, 0);
    put_ue(&v, 3); /* chroma_format_idc: 4:4:4 */
    put(&v, 1, 1); /* separate_colour_plane_flag */
    put_ue(&v, 0);
    put_ue(&v, 0);
    put(&v, 0, 1);
    put(&v, 0, 1); /* no scaling matrix */
    put_ue(&v, 0);
    put_ue(&v, 2); /* pic_order_cnt_type 2 */
    put_ue(&v, 1);
    put(&v, 0, 1);
    put_ue(&v, 19); /* 320 */
    put_ue(&v, 14); /* 240 */
    put(&v, 1, 1);  /* frames only */
    put(&v, 1, 1);
    put(&v, 1, 1);
    put_ue(&v, 0);
    put_ue(&v, 1);
    put_ue(&v, 1);
    put_ue(&v, 0);
    put(&v, 0, 1);
    len = finish(&v, nal, &escaped);
    assert_int_equal(fc_h264_sps_info_parse(nal, len, &info, err, sizeof err), 0);
    assert_string_equal(info.codec, "avc1.F4001E");
    assert_int_equal(info.width, 319);
    assert_int_equal(info.height, 239);

    /* Out of range: chroma_format_idc 4; cropping that leaves nothing. */
    writer x = {0};
    put(&x, 100, 8);
    put(&x, 0, 8);
    put(&x, 30, 8);
    put_ue(&x, 0);
    put_ue(&x, 4);
    len = finish(&x, nal, &escaped);
    assert_int_equal(fc_h264_sps_info_parse(nal, len, &info, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "chroma_format_idc 4"));
    writer y = {0};
    put(&y, 66, 8);
    put(&y, 0xc0, 8);
    put(&y, 30, 8);
    put_ue(&y, 0);
    put_ue(&y, 0);
    put_ue(&y, 2);
    put_ue(&y, 1);
    put(&y, 0, 1);
    put_ue(&y, 0); /* 16 */
    put_ue(&y, 0); /* 16 */
    put(&y, 1, 1);
    put(&y, 1, 1);
    put(&y, 1, 1);
    put_ue(&y, 4); /* 8 pixels off each side of 16 */
    put_ue(&y, 4);
    put_ue(&y, 0);
    put_ue(&y, 0);
    put(&y, 0, 1);
    len = finish(&y, nal, &escaped);
    assert_int_equal(fc_h264_sps_info_parse(nal, len, &info, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "leaves nothing of 16x16"));
}

static void vp8_frame_tags(void **state)
{
    (void)state;
    /* A key frame: tag (type 0, version 0, shown, first partition 0x123),
     * start code, 640x360. */
    const uint8_t key[] = {0x70, 0x24, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01};
    const uint8_t inter[] = {0x71, 0x24, 0x00};
    const uint8_t bad_code[] = {0x70, 0x24, 0x00, 0x9d, 0x01, 0x2b, 0x80, 0x02, 0x68, 0x01};
    assert_int_equal(fc_vp8_is_key(key, sizeof key), 1);
    assert_int_equal(fc_vp8_is_key(inter, sizeof inter), 0);
    assert_int_equal(fc_vp8_is_key(bad_code, sizeof bad_code), -EINVAL);
    assert_int_equal(fc_vp8_is_key(key, 9), -EINVAL);
    assert_int_equal(fc_vp8_is_key(inter, 2), -EINVAL);
    assert_int_equal(fc_vp8_is_key(NULL, 0), -EINVAL);
}

/* The test vectors docs/protocol.md gives clients for telling key frames
 * from the payload. */
static void protocol_doc_key_frame_vectors(void **state)
{
    (void)state;
    const uint8_t vp8_key[] = {0x70, 0x24, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01};
    const uint8_t vp8_inter[] = {0x71, 0x24, 0x00};
    assert_int_equal(fc_vp8_is_key(vp8_key, sizeof vp8_key), 1);
    assert_int_equal(vp8_key[0] & 1, 0); /* the one bit a client looks at */
    assert_int_equal(fc_vp8_is_key(vp8_inter, sizeof vp8_inter), 0);
    /* Tag 0x002470: version 0, shown, first partition 0x123 bytes. */
    uint32_t tag = vp8_key[0] | vp8_key[1] << 8 | (uint32_t)vp8_key[2] << 16;
    assert_int_equal((tag >> 1) & 7, 0);
    assert_int_equal((tag >> 4) & 1, 1);
    assert_int_equal(tag >> 5, 0x123);
    assert_int_equal((vp8_key[6] | vp8_key[7] << 8) & 0x3fff, 640);
    assert_int_equal((vp8_key[8] | vp8_key[9] << 8) & 0x3fff, 360);
    const uint8_t h264_idr[] = {0, 0, 1, 0x68, 0xce, 0x38, 0x80, 0, 0, 1, 0x65, 0x88};
    const uint8_t h264_slice[] = {0, 0, 0, 1, 0x41, 0x9a};
    assert_true(fc_h264_has_idr(h264_idr, sizeof h264_idr));
    assert_false(fc_h264_has_idr(h264_slice, sizeof h264_slice));
    /* x264's SPS of a 320x240 Constrained Baseline 3.0 stream: the codec
     * string is the three bytes after the NAL header. */
    const uint8_t sps[] = {0,    0,    0,    1,    0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x01,
                           0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00,
                           0x00, 0x03, 0x03, 0xc0, 0xf1, 0x62, 0xe4, 0x80};
    fc_h264_sps_info info;
    char err[128];
    assert_int_equal(fc_h264_sps_info_parse(sps, sizeof sps, &info, err, sizeof err), 0);
    assert_string_equal(info.codec, "avc1.42C01E");
    assert_int_equal(info.width, 320);
    assert_int_equal(info.height, 240);
}

int main(void)
{
    av_log_set_level(AV_LOG_ERROR); /* x264's summary of every stream */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(h264_streams_of_every_profile),  cmocka_unit_test(sps_alone_and_cut_short),
        cmocka_unit_test(sps_fields_x264_never_writes),   cmocka_unit_test(vp8_frame_tags),
        cmocka_unit_test(protocol_doc_key_frame_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
