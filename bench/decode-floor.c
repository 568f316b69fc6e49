/* The floor for turning a camera into JPEG: read an RTSP stream with
 * libavformat (TCP), decode it with libavcodec on one thread, encode every
 * frame with libturbojpeg, all on one thread, nothing else. Prints one JSON
 * object with the CPU it took and where it went (bench/decode runs it beside
 * `ffmpeg -rtsp_transport tcp -i URL -f mjpeg -q:v 3 -`).
 *
 *   decode-floor URL SECONDS [QUALITY=85]
 *
 * It also times copying each decoded picture into a frame of its own (what
 * sources/av_convert.c does instead of wrapping the decoder's buffers) and
 * leaves that out of the floor's CPU, so the copy's cost is on record. */
#include <stdbool.h>
#include <stdint.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libyuv.h>
#include <turbojpeg.h>

#include "core/clock.h"
#include "core/frame.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: decode-floor URL SECONDS [QUALITY]\n");
        return 2;
    }
    /* As framecast serve does: frame-sized blocks come from the heap and are
     * reused, not mapped and faulted in afresh for every frame. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    double seconds = atof(argv[2]);
    int quality = argc > 3 ? atoi(argv[3]) : 85;
    AVFormatContext *fmt = NULL;
    AVDictionary *o = NULL;
    av_dict_set(&o, "rtsp_transport", "tcp", 0);
    if (avformat_open_input(&fmt, argv[1], NULL, &o) < 0) {
        fprintf(stderr, "decode-floor: cannot open %s\n", argv[1]);
        return 1;
    }
    av_dict_free(&o);
    int vi = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (vi < 0) {
        fprintf(stderr, "decode-floor: no video\n");
        return 1;
    }
    const AVCodec *codec = avcodec_find_decoder(fmt->streams[vi]->codecpar->codec_id);
    AVCodecContext *ctx = avcodec_alloc_context3(codec);
    avcodec_parameters_to_context(ctx, fmt->streams[vi]->codecpar);
    ctx->thread_count = 1;
    if (avcodec_open2(ctx, codec, NULL) < 0) return 1;
    tjhandle tj = tjInitCompress();
    AVPacket *pkt = av_packet_alloc();
    AVFrame *fr = av_frame_alloc();
    unsigned char *jpeg = NULL;
    unsigned long jpeg_len = 0;
    uint64_t frames = 0, decode_ns = 0, copy_ns = 0, jpeg_ns = 0, bytes = 0;
    uint64_t t0 = fc_now_ns(), c0 = fc_thread_cpu_ns();
    int w = 0, h = 0;
    bool seen_key = false;
    while ((double)(fc_now_ns() - t0) / 1e9 < seconds && av_read_frame(fmt, pkt) >= 0) {
        /* Joining mid-GOP: deltas before the first key frame would only be
         * concealed garbage (framecast skips them too). */
        seen_key |= pkt->stream_index == vi && (pkt->flags & AV_PKT_FLAG_KEY);
        if (pkt->stream_index != vi || !seen_key) {
            av_packet_unref(pkt);
            continue;
        }
        uint64_t a = fc_thread_cpu_ns();
        avcodec_send_packet(ctx, pkt);
        av_packet_unref(pkt);
        while (avcodec_receive_frame(ctx, fr) == 0) {
            uint64_t b = fc_thread_cpu_ns();
            decode_ns += b - a;
            w = fr->width & ~1, h = fr->height & ~1;
            /* The copy sources/av_convert.c makes, timed on the side: the
             * floor itself encodes straight from the decoder's planes. */
            fc_frame *f = fc_frame_new_i420(w, h);
            I420Copy(fr->data[0], fr->linesize[0], fr->data[1], fr->linesize[1], fr->data[2],
                     fr->linesize[2], f->plane[0], f->stride[0], f->plane[1], f->stride[1],
                     f->plane[2], f->stride[2], w, h);
            uint64_t c = fc_thread_cpu_ns();
            copy_ns += c - b;
            const unsigned char *planes[3] = {fr->data[0], fr->data[1], fr->data[2]};
            int strides[3] = {fr->linesize[0], fr->linesize[1], fr->linesize[2]};
            if (tjCompressFromYUVPlanes(tj, planes, w, strides, h, TJSAMP_420, &jpeg, &jpeg_len,
                                        quality, TJFLAG_FASTDCT) == 0)
                bytes += jpeg_len;
            a = fc_thread_cpu_ns();
            jpeg_ns += a - c;
            fc_frame_unref(f);
            frames++;
            av_frame_unref(fr);
        }
        decode_ns += fc_thread_cpu_ns() - a;
    }
    double wall = (double)(fc_now_ns() - t0) / 1e9;
    double cpu = (double)(fc_thread_cpu_ns() - c0 - copy_ns) / 1e9; /* the floor: no copy */
    printf("{\"frames\": %llu, \"width\": %d, \"height\": %d, \"wall_s\": %.3f, \"cpu_s\": %.3f, "
           "\"decode_us_per_frame\": %.1f, \"copy_us_per_frame\": %.1f, "
           "\"jpeg_us_per_frame\": %.1f, \"jpeg_bytes_per_frame\": %.0f}\n",
           (unsigned long long)frames, w, h, wall, cpu, frames ? decode_ns / 1e3 / frames : 0,
           frames ? copy_ns / 1e3 / frames : 0, frames ? jpeg_ns / 1e3 / frames : 0,
           frames ? (double)bytes / frames : 0);
    tjFree(jpeg);
    tjDestroy(tj);
    av_frame_free(&fr);
    av_packet_free(&pkt);
    avcodec_free_context(&ctx);
    avformat_close_input(&fmt);
    return 0;
}
