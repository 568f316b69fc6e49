/* Making one stream: from a --source spec, the settings stored or given with
 * it, and the server's flags for whatever neither says.
 *
 * Building is split in three because the steps belong on different threads:
 *
 *   fc_stream_plan_make    decides every number (size, rates, qualities,
 *                          detection) and refuses what cannot work; cheap,
 *                          any thread
 *   fc_stream_plan_source  creates the source, which for a picture reads and
 *                          decodes the file: a worker's job once the server
 *                          serves (at start-up the main thread does it)
 *   fc_stream_plan_build   the stream itself (outputs, detection stage, timer)
 *                          on the loop it will belong to
 *
 * A value comes from the settings when they set it, else from the spec, else
 * from the defaults (the server's flags). Rates: a paced source (and
 * synthetic:video, a file paced at the server's rate) runs at fps= or --fps;
 * a file, camera or device keeps its own rate unless fps= caps it (fps 0: no
 * cap). The encode cap is the setting, encode_fps= or --encode-fps, at most
 * the rate; a pushing source without any encodes every frame it delivers.
 * The settings are what the HTTP API may change on a running stream and what
 * the store keeps beside the spec.
 *
 * Ownership: the defaults, and the face detector and histogram they point
 * to, are the caller's and outlive every stream built from them. */
#ifndef FC_STREAM_BUILD_H
#define FC_STREAM_BUILD_H

#include <stdbool.h>
#include <stddef.h>

#include "analysis/detect.h"
#include "core/metrics.h"
#include "sources/source.h"
#include "stream/stream.h"

/* A spec's text is at most this long, NUL included (the store's
 * FC_STORE_SPEC_MAX too). */
#define FC_STREAM_SPEC_MAX 2048

/* What may be changed on a stream without touching its source. */
typedef struct fc_stream_settings {
    double encode_fps;          /* (0, 240]; 0 = not set */
    int detect;                 /* 0 off, 1 on; -1 = not set */
    double detect_fps;          /* (0, 240]; 0 = not set */
    int quality[FC_TIER_COUNT]; /* 1-100 per tier; 0 = not set */
} fc_stream_settings;

#define FC_STREAM_SETTINGS_UNSET ((fc_stream_settings){.detect = -1})

/* The server's flags, for what neither the settings nor the spec say. */
typedef struct fc_stream_defaults {
    int width, height;
    double fps;
    double encode_fps; /* 0 = fps */
    int quality[FC_TIER_COUNT];
    bool detect; /* --detect: streams whose spec does not say */
    double detect_fps, motion_threshold;
    fc_tracker_config tracker;
    fc_ptz_config ptz;
    fc_face_detector *detector;   /* NULL: no stream may detect */
    char detector_missing[512];   /* why it is NULL, for the error */
    fc_detections_event_fn event; /* builds the detections event (the transport's) */
    fc_histogram *loop_lag;       /* where streams record their timer lateness */
    double idle_close;            /* pushing sources: seconds connected after the last consumer */
    fc_key_only_policy key_only;  /* detection-only pushing sources: decode key frames only? */
    double keyint;                /* inter-frame codecs: seconds between periodic key frames */
} fc_stream_defaults;

/* "auto", "always", "never" (the --detect-key-frames choices); else auto. */
fc_key_only_policy fc_key_only_policy_parse(const char *name);

typedef struct fc_stream_plan {
    char id[FC_ID_MAX];
    fc_source_spec spec;
    int width, height;
    fc_stream_config cfg;
} fc_stream_plan;

/* Decides the stream named `id` (a valid stream id) with `spec` and `set`.
 * Refuses, with a message naming the field: detection on a server without a
 * face model; and, when `strict` (a client asked for these settings), an
 * encode_fps or detect_fps above the stream's fps, which are otherwise capped
 * at it (a stored stream whose server now runs at a lower --fps still
 * starts). 0 or -EINVAL. Any thread. */
int fc_stream_plan_make(const fc_stream_defaults *d, const char *id, const fc_source_spec *spec,
                        const fc_stream_settings *set, bool strict, fc_stream_plan *out, char *err,
                        size_t errlen);

/* Creates the plan's source (reads a picture file). 0 or a negative errno
 * with err naming the file or the spec. Any thread. */
int fc_stream_plan_source(const fc_stream_plan *p, fc_source **out, char *err, size_t errlen);

/* The stream, not started yet; takes `src` (also on failure). 0 or a
 * negative errno with err. The loop's thread. */
int fc_stream_plan_build(const fc_stream_plan *p, const fc_stream_defaults *d, fc_loop *loop,
                         fc_pool *pool, fc_source *src, fc_stream **out, char *err, size_t errlen);

#endif
