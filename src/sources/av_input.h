/* fc_av_input: one open input (a file, an RTSP session, a V4L2 device) read
 * through libavformat, one video stream of it, with a watchdog.
 *
 * Every blocking call (open, probe, read, seek) re-arms a deadline first;
 * FFmpeg's interrupt callback ends the call once the deadline passes or the
 * owner sets its abort flag. A call that ended that way reports a stall
 * (-ETIMEDOUT) whatever error code FFmpeg gave: a black-holed connect comes
 * back as AVERROR_INVALIDDATA, which is no proof of bad data.
 *
 * What comes out is the video stream only (other streams are discarded in
 * the demuxer), in Annex-B for H.264 and HEVC whatever the container, with
 * codec parameters to match (fc_av_input_params). Codecs are an allow-list
 * (the camera and recording codecs: h264, hevc, vp8, vp9, av1, mjpeg, mpeg4,
 * rawvideo) and pictures are bounded (7680x4320) before anything is decoded.
 *
 * Threads: one thread at a time (the source's demux thread); calls block.
 *
 * Errors (negative, errno-style), each with a message in err:
 *   -ETIMEDOUT  the watchdog fired: no answer / no data within the timeout
 *   -ECANCELED  the abort flag was set
 *   -ENODATA    end of the input (a file's end, the server closed the session)
 *   -ENOENT     missing file or device, RTSP 404
 *   -EACCES     unreadable file, RTSP 401 or 403
 *   -ENOTSUP    no video stream, a codec not on the list, a picture too large
 *   -EPROTO     data that does not parse
 *   other       what the system said (-ECONNREFUSED, -EIO for a name that
 *               does not resolve, ...) */
#ifndef FC_SOURCES_AV_INPUT_H
#define FC_SOURCES_AV_INPUT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct AVPacket;
struct AVCodecParameters;

#define FC_MAX_WIDTH 7680
#define FC_MAX_HEIGHT 4320

typedef enum { FC_INPUT_FILE, FC_INPUT_RTSP, FC_INPUT_V4L2 } fc_input_kind;

typedef struct fc_av_input_cfg {
    fc_input_kind kind;
    const char *target;       /* path, rtsp:// or rtsps:// URL (credentials allowed), device */
    bool udp;                 /* RTSP: RTP over UDP instead of interleaved in the TCP session */
    double timeout;           /* seconds a call may block before it counts as a stall */
    const char *input_format; /* V4L2: "mjpeg", "yuyv422"; NULL = the device's choice */
    int width, height;        /* V4L2: capture size to ask the device for; 0 = its default */
    double fps;               /* V4L2: capture rate to ask for; 0 = its default */
} fc_av_input_cfg;

typedef struct fc_av_input fc_av_input;

/* Opens and selects the video stream. `abort` is read by the watchdog
 * (another thread sets it to end a blocking call) and must outlive the
 * input. */
int fc_av_input_open(const fc_av_input_cfg *cfg, const atomic_bool *abort, fc_av_input **out,
                     char *err, size_t errlen);

/* The next packet of the video stream; the caller owns *out
 * (av_packet_free). Packets are in decode order. */
int fc_av_input_read(fc_av_input *in, struct AVPacket **out, char *err, size_t errlen);

/* Back to the first packet (files). */
int fc_av_input_rewind(fc_av_input *in, char *err, size_t errlen);

/* Codec parameters of the packets read (after the Annex-B conversion). */
const struct AVCodecParameters *fc_av_input_params(const fc_av_input *in);
/* The time base of packet timestamps, and the nominal rate (0 = unknown). */
void fc_av_input_time_base(const fc_av_input *in, int *num, int *den);
double fc_av_input_fps(const fc_av_input *in);

/* Packets read but dropped because they do not parse (corrupt data). */
uint64_t fc_av_input_corrupt(const fc_av_input *in);

/* Closes it; an RTSP session is torn down politely, with a short deadline. */
void fc_av_input_close(fc_av_input *in);

#endif
