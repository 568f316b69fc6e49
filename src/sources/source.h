/* Sources: where raw frames come from.
 *
 * A source is described by a spec string (see fc_source_spec_parse) and
 * created once at start-up. A paced source (synthetic now; file later) makes a
 * frame when its stream asks: the stream's timer decides when, a worker job
 * calls `render`. Sources that push frames on their own clock (cameras, RTSP,
 * V4L2, avatars) will get a second entry point; the stream does not care which.
 *
 * Ownership: the stream that is given a source owns it and destroys it.
 * `render` runs on a worker thread and must be safe to call from any worker,
 * but never concurrently for one source (a stream's render stage runs one job
 * at a time). */
#ifndef FC_SOURCES_SOURCE_H
#define FC_SOURCES_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "core/frame.h"

#define FC_ID_MAX 64
#define FC_SPEC_PATH_MAX 1024

/* A parsed --source spec: `TYPE:ARG[,key=value...]`.
 *
 *   synthetic:procedural
 *   synthetic:image=PATH,size=640x360,fps=15,id=lobby,detect=2,motion=0
 *
 * TYPE picks the kind of source (later: file, rtsp, v4l2). Keys every type
 * understands: id, size, fps, encode_fps, detect (`detect` or `detect=on`:
 * face detection at the server's --detect-fps; `detect=F`: at F Hz;
 * `detect=off`: none even with --detect). synthetic:image also takes
 * motion=0 (a still picture: no pan or zoom) and motion=1 (the default). */
typedef struct fc_source_spec {
    char type[16];
    char mode[16];               /* synthetic: "procedural" or "image" */
    char path[FC_SPEC_PATH_MAX]; /* synthetic:image=PATH */
    char id[FC_ID_MAX];          /* "" = assigned (cam0, cam1, ...) */
    int width, height;           /* 0 = server default */
    double fps, encode_fps;      /* 0 = server default */
    int detect;                  /* -1 = server default, 0 = off, 1 = on */
    double detect_fps;           /* 0 = server default */
    int still;                   /* image: 1 = no pan or zoom */
} fc_source_spec;

/* "WxH", both even, 16x16 to 7680x4320 (what I420 and the encoders take):
 * 0, or -1. */
int fc_size_parse(const char *v, int *w, int *h);

/* A stream id: 1-63 characters of A-Z a-z 0-9 . - _ (safe in a URL path, a
 * file name and a viewer token). 1 or 0. */
int fc_source_id_valid(const char *id);

/* Returns 0, or -1 with a message naming the offending part in err. */
int fc_source_spec_parse(const char *spec, fc_source_spec *out, char *err, size_t errlen);

typedef struct fc_source fc_source;

typedef struct fc_source_ops {
    const char *type;
    /* Worker thread: a new I420 frame at the source's size for frame number
     * `index` captured at `t` (Unix seconds). Returns 0 or negative. */
    int (*render)(fc_source *src, uint32_t index, double t, fc_frame **out);
    void (*destroy)(fc_source *src);
} fc_source_ops;

struct fc_source {
    const fc_source_ops *ops;
    int width, height;
    double fps;                              /* the most it can deliver */
    char description[FC_SPEC_PATH_MAX + 32]; /* for /api/streams, e.g. "synthetic:procedural" */
};

/* Creates the source a spec names, at the given size and rate. */
int fc_source_create(const fc_source_spec *spec, int width, int height, double fps, fc_source **out,
                     char *err, size_t errlen);
void fc_source_destroy(fc_source *src);

#endif
