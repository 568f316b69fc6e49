/* Sources: where raw frames come from.
 *
 * A source is described by a spec string (see fc_source_spec_parse) and
 * created once at start-up. There are two kinds:
 *
 * Paced sources (synthetic:procedural, synthetic:image) make a frame when
 * their stream asks: the stream's timer decides when, a worker job calls
 * `render`. `render` runs on a worker thread and must be safe to call from
 * any worker, but never concurrently for one source (a stream's render stage
 * runs one job at a time).
 *
 * Pushing sources (file:, rtsp://, rtsps://, v4l2:, synthetic:video) deliver
 * frames on their own clock: `render` is NULL and the stream drives them with
 * `start`, `set_demand` and `stop`, and hears from them through a sink of
 * callbacks (sources/av_source.c has the how and why: one demux thread, an
 * in-order decode stage on the pool). Every call and every callback of a
 * pushing source is on the loop thread given to `start`.
 *
 * Ownership: the stream that is given a source owns it and destroys it; a
 * started pushing source only after its sink heard `on_stopped`. A spec of a
 * type this build does not have still makes a source: one that is `failed`
 * from the start and says why, so one bad --source costs its own stream and
 * not the server. */
#ifndef FC_SOURCES_SOURCE_H
#define FC_SOURCES_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/frame.h"
#include "core/loop.h"
#include "core/pool.h"
#include "sources/packet.h"

#define FC_ID_MAX 64
#define FC_SPEC_PATH_MAX 1024

/* A parsed --source spec: `TYPE:ARG[,key=value...]`.
 *
 *   synthetic:procedural
 *   synthetic:image=PATH,size=640x360,fps=15,id=lobby,detect=2,motion=0
 *   synthetic:video=PATH[,motion=0]      a file, looped, panned and zoomed over
 *   file:PATH[,loop]                      a recording at its own rate
 *   rtsp://[user:pass@]host[:port]/path[,transport=tcp|udp][,timeout=S]
 *   rtsps://...                           the same over TLS
 *   v4l2:/dev/videoN[,input_format=mjpeg|yuyv422]
 *
 * The first argument runs to the first comma (a path or URL with a comma in
 * it cannot be given). Keys every type understands: id, size, fps,
 * encode_fps, detect (`detect` or `detect=on`: face detection at the
 * server's --detect-fps; `detect=F`: at F Hz; `detect=off`: none even with
 * --detect). For pushing sources `size` scales what they deliver (default:
 * the picture's own size; synthetic:video: the server's --size) and `fps`
 * caps their rate (decimating; default: their own rate); for a V4L2 device
 * both are also asked of the device. synthetic:image and synthetic:video
 * take motion=0 (no pan or zoom) and motion=1 (the default). `timeout`
 * (seconds, default 5) is how long an RTSP call may go without an answer or
 * data before it counts as a stall. */
typedef enum { FC_TRANSPORT_TCP = 0, FC_TRANSPORT_UDP } fc_transport;

typedef struct fc_source_spec {
    char type[16];               /* synthetic, file, rtsp, rtsps, v4l2 */
    char mode[16];               /* synthetic: "procedural", "image" or "video" */
    char path[FC_SPEC_PATH_MAX]; /* image/video/file path, URL, device */
    char id[FC_ID_MAX];          /* "" = assigned (cam0, cam1, ...) */
    int width, height;           /* 0 = default (see above) */
    double fps, encode_fps;      /* 0 = default */
    int detect;                  /* -1 = server default, 0 = off, 1 = on */
    double detect_fps;           /* 0 = server default */
    int still;                   /* image/video: 1 = no pan or zoom */
    bool loop;                   /* file: rewind at the end */
    fc_transport transport;      /* rtsp, rtsps */
    double timeout;              /* rtsp, rtsps: seconds; 0 = default */
    char input_format[16];       /* v4l2: "" = the device's choice */
} fc_source_spec;

/* "WxH", both even, 16x16 to 7680x4320 (what I420 and the encoders take):
 * 0, or -1. */
int fc_size_parse(const char *v, int *w, int *h);

/* A stream id: 1-63 characters of A-Z a-z 0-9 . - _ (safe in a URL path, a
 * file name and a viewer token). 1 or 0. */
int fc_source_id_valid(const char *id);

/* Whether this build has sources of that type (synthetic, file, rtsp, rtsps,
 * v4l2). */
bool fc_source_type_known(const char *type);

/* fc_source_spec_parse's answer for a spec of a type this build does not
 * have: not a syntax error but a stream that cannot run. `out` then holds
 * the type, the id if `id=` gave a valid one, and in `path` the whole spec
 * as it may be shown; fc_source_create makes a failed source of it. */
#define FC_SPEC_UNKNOWN_TYPE (-2)

/* Returns 0, FC_SPEC_UNKNOWN_TYPE, or -1 (a syntax error), each but 0 with
 * a message naming the offending part in err (which may be NULL).
 * Credentials in the spec never appear in the message. */
int fc_source_spec_parse(const char *spec, fc_source_spec *out, char *err, size_t errlen);

/* Whether the spec names a pushing source. */
bool fc_source_spec_pushes(const fc_source_spec *spec);

typedef struct fc_source fc_source;

/* --- pushing sources ---------------------------------------------------- */

typedef enum {
    FC_SOURCE_IDLE = 0,   /* not connected: not started, or nothing consumes it */
    FC_SOURCE_CONNECTING, /* opening the file, session or device */
    FC_SOURCE_LIVE,       /* packets arrive */
    FC_SOURCE_RETRYING,   /* lost or never got its connection; tries again after a backoff */
    FC_SOURCE_ENDED,      /* a file without loop was played to its end */
    FC_SOURCE_FAILED,     /* will not come back by itself: see the error */
} fc_source_state;

/* "idle", "connecting", "live", "retrying", "ended", "failed". */
const char *fc_source_state_name(fc_source_state state);

typedef struct fc_source_status {
    fc_source_state state;
    uint64_t since_ns;   /* fc_now_ns() when it entered the state */
    uint64_t reconnects; /* connection attempts after a failure */
    char error[256];     /* the last error ("" = none yet), kept after recovery; no credentials */
    double key_interval; /* seconds between the last two key frames read; 0 = not known yet */
    bool key_only;       /* decoding key frames only now (see fc_source_demand) */
    /* Counters since start. */
    uint64_t packets, bytes;  /* read from the input */
    uint64_t handoff_dropped; /* dropped because the loop did not take them in time */
    uint64_t decode_dropped;  /* dropped because decoding fell behind (to the next key frame) */
    uint64_t frames_decoded, key_frames_decoded;
    uint64_t frames_delivered; /* after the fps cap */
    uint64_t decode_errors;    /* packets that did not parse or decode (corrupt data) */
    uint64_t decode_cpu_ns;    /* CPU of decode + conversion jobs */
} fc_source_status;

/* What a pushing source delivers; reported before the first frame or packet
 * and again whenever any of it changes (a camera that switches resolution or
 * codec). */
typedef struct fc_source_format {
    char codec[16];            /* FFmpeg's name: "h264", "vp8", "mjpeg", ... */
    int width, height;         /* the coded picture; 0 until known */
    int out_width, out_height; /* the frames delivered; 0 until the first one */
    double fps;                /* nominal rate; 0 = unknown */
} fc_source_format;

/* What the consumers of a pushing source need right now. Nothing (all
 * false) closes a network source's connection after `idle_close` seconds and
 * pauses a file. */
typedef struct fc_source_demand {
    bool pixels;        /* decoded I420 frames */
    double fps;         /* at most this many per second (by capture time); 0 = every one */
    bool key_only;      /* key frames are enough: decode only them (skip_frame = AVDISCARD_NONKEY,
                           deltas not even queued) ... */
    double key_min_fps; /* ... while they come at least this often (within 5%; the source
                           measures the interval between key frames and decodes everything
                           until it knows it); 0 = whatever their rate */
    bool packets;       /* compressed packets as read (sources/packet.h), e.g. H.264 passthrough */
} fc_source_demand;

/* Callbacks, all on the source's loop thread. Frames and packets are lent
 * for the call: take a reference to keep one. */
typedef struct fc_source_sink {
    void *ctx;
    void (*on_frame)(void *ctx, fc_frame *frame); /* I420, ids and timestamps increasing */
    /* DATA packets in decode order while the demand asks for packets, and
     * every SEGMENT packet (a new input's codec parameters) whatever the
     * demand, so a consumer that starts later knows them. */
    void (*on_packet)(void *ctx, fc_packet *packet);
    void (*on_format)(void *ctx, const fc_source_format *format);
    void (*on_state)(void *ctx, const fc_source_status *status);
    void (*on_stopped)(void *ctx); /* after stop: no callback follows; destroy may run */
    /* Optional: a frame encoded in the job that decoded it (see
     * sources/av_decode.h, fc_decode_cb: the same four, with `reserve` and
     * `release` given the sink's ctx). A frame that comes to `on_encoded`
     * does not come to `on_frame`; every reservation ends in exactly one of
     * `on_encoded` and `release`, after stop too. */
    void *(*reserve)(void *ctx);
    void (*encode)(void *res, fc_frame *frame);
    void (*on_encoded)(void *ctx, fc_frame *frame, void *res, uint64_t encode_ns);
    void (*release)(void *ctx, void *res);
} fc_source_sink;

typedef struct fc_source_ops {
    const char *type;
    /* Paced sources. Worker thread: a new I420 frame at the source's size
     * for frame number `index` captured at `t` (Unix seconds). Returns 0 or
     * negative. NULL for pushing sources. */
    int (*render)(fc_source *src, uint32_t index, double t, fc_frame **out);

    /* Pushing sources (NULL for paced ones). `start` begins idle: nothing is
     * opened until set_demand asks for something. `idle_close` is how long a
     * network source or device stays connected once nothing is wanted.
     * Returns 0 or a negative errno with err saying why. */
    int (*start)(fc_source *src, fc_loop *loop, fc_pool *pool, const fc_source_sink *sink,
                 double idle_close, char *err, size_t errlen);
    void (*set_demand)(fc_source *src, const fc_source_demand *demand);
    void (*get_status)(fc_source *src, fc_source_status *out);
    /* Ends it; sink->on_stopped follows once its thread and jobs are done. */
    void (*stop)(fc_source *src);

    void (*destroy)(fc_source *src);
} fc_source_ops;

struct fc_source {
    const fc_source_ops *ops;
    int width, height; /* paced: the frame size; pushing: size= or 0 (native) */
    double fps;        /* the most it can deliver; pushing: 0 = its own rate */
    /* Pushing: its packets are the input's own (file, RTSP), so a consumer
     * may take them as they are (fc_source_demand.packets); not for sources
     * whose pictures are made from the input (synthetic:video). */
    bool packets;
    char description[FC_SPEC_PATH_MAX + 32]; /* for /api/streams; credentials redacted */
};

/* Creates the source a spec names: a paced one for synthetic:procedural and
 * synthetic:image (the picture is loaded now), a pushing one for the others
 * (sources/av_source.h: nothing is opened before its stream asks), and for
 * a spec of an unknown type (FC_SPEC_UNKNOWN_TYPE) a pushing source that is
 * `failed` with the reason (sources/failed.h). width, height and fps are
 * the server's defaults for what the spec leaves out (see fc_source_spec).
 * 0, or -1 with err saying why. */
int fc_source_create(const fc_source_spec *spec, int width, int height, double fps, fc_source **out,
                     char *err, size_t errlen);
void fc_source_destroy(fc_source *src);

#endif
