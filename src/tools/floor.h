/* The encode floor: what bare libturbojpeg costs for the very frames the
 * synthetic cameras produce. A camera scenario that spends this much CPU and
 * no more would have zero overhead; `framecast bench` reports its total CPU as
 * a multiple of it.
 *
 * Frames are rendered by the real synthetic source and encoded by the
 * JPEG codec the server opens (encode/jpeg.h), on the calling thread; only the encodes are
 * timed, on the thread's CPU clock (as the server's fc_encode_milliseconds
 * is). Synchronous; any thread; keeps at most `frames` timings. */
#ifndef FC_TOOLS_FLOOR_H
#define FC_TOOLS_FLOOR_H

#include <stddef.h>

#include "hub/tier.h"

typedef struct fc_floor_config {
    int width, height;
    double fps;                 /* the camera's rate: frames are rendered at its timestamps */
    int quality[FC_TIER_COUNT]; /* JPEG quality of each tier */
    int frames;                 /* frames rendered and encoded once per tier */
} fc_floor_config;

typedef struct fc_floor_result {
    double ms_mean[FC_TIER_COUNT]; /* CPU milliseconds per encode */
    double ms_p50[FC_TIER_COUNT];
    double ms_p99[FC_TIER_COUNT];
    double bytes_mean[FC_TIER_COUNT]; /* JPEG payload size */
} fc_floor_result;

/* Returns 0, or a negative errno with the reason in err. */
int fc_floor_measure(const fc_floor_config *cfg, fc_floor_result *out, char *err, size_t errlen);

#endif
