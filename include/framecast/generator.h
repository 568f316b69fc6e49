/* framecast generator plugin ABI: how a talking-head generator plugs into
 * framecast's avatar sessions.
 *
 * A plugin is a shared object exporting one symbol,
 *
 *     const fc_generator *fc_generator_entry(void);
 *
 * that returns a static, versioned table of function pointers (the way
 * PipeWire's SPA interfaces are built). The table starts with the ABI version
 * and its own size: framecast refuses a plugin whose major version differs
 * from FC_GENERATOR_ABI_VERSION, and reads optional members only when
 * `struct_size` says the plugin's table has them, so members can be appended
 * later without breaking plugins built against this header.
 *
 * Life of one session (one client's start_streaming):
 *
 *   open(source image, setup/run parameters)  -> state, native audio format
 *   push_audio(state, the chunk of audio up to the end of frame i)
 *   render_rgb(state, i, ...)                  for i = 0, 1, ... in order
 *   close(state)
 *
 * Threads: every call for one state comes from framecast's worker pool, one
 * call at a time and in the order above, but not always from the same thread.
 * Different states are used concurrently from different threads, so a plugin
 * keeps per-session data in its state, not in globals. Frames may be skipped
 * (a realtime session that fell behind never asks for a frame whose deadline
 * passed) but never asked for out of order; the audio of skipped frames is
 * still pushed.
 *
 * Memory: the source image and audio buffers belong to framecast and are valid
 * only during the call; the output buffer is framecast's, `height` rows of
 * `stride` bytes. Strings are UTF-8, NUL-terminated. */
#ifndef FRAMECAST_GENERATOR_H
#define FRAMECAST_GENERATOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Major version: bumped on any incompatible change. */
#define FC_GENERATOR_ABI_VERSION 1u

/* The picture the client named as source_path, decoded by framecast. */
typedef struct fc_generator_image {
    int width, height;  /* pixels */
    int stride;         /* bytes per row, >= 3 * width */
    const uint8_t *rgb; /* packed R, G, B bytes */
} fc_generator_image;

/* What open() reports back. */
typedef struct fc_generator_info {
    int width, height; /* size of every frame it will produce (even numbers) */
    int sample_rate;   /* the audio rate it wants, Hz (framecast resamples to it) */
    int channels;      /* the channel count it wants, 1 or 2 (interleaved) */
} fc_generator_info;

typedef struct fc_generator {
    uint32_t abi_version; /* FC_GENERATOR_ABI_VERSION the plugin was built for */
    uint32_t struct_size; /* sizeof(fc_generator) the plugin was built with */
    const char *name;     /* short name for logs and /metrics, e.g. "puppet" */

    /* Starts a session. `setup_json` and `run_json` are the client's
     * setup_kwargs and run_kwargs as compact JSON objects ("{}" when absent).
     * Returns 0 and sets *state and *info, or a negative number with a
     * message in err. */
    int (*open)(const fc_generator_image *source, const char *setup_json, const char *run_json,
                void **state, fc_generator_info *info, char *err, size_t errlen);

    /* The next chunk of the session's audio at info's rate and channel count:
     * `frames` sample frames of float samples in [-1, 1], interleaved. Chunks
     * follow each other without gaps; their sizes vary. Returns 0 or negative. */
    int (*push_audio)(void *state, const float *samples, size_t frames);

    /* Frame `index` (media time index / 25 s) as packed RGB into `rgb`:
     * info.height rows of `stride` bytes. All audio up to the end of the frame
     * has been pushed. Returns 0 or negative. */
    int (*render_rgb)(void *state, uint32_t index, uint8_t *rgb, int stride);

    /* Ends the session and frees the state. */
    void (*close)(void *state);

    /* Optional (may be NULL): the same frame straight into I420 planes, for
     * generators that can skip framecast's RGB to YUV conversion. */
    int (*render_i420)(void *state, uint32_t index, uint8_t *y, int y_stride, uint8_t *u,
                       int u_stride, uint8_t *v, int v_stride);
} fc_generator;

/* The one symbol a plugin exports. */
typedef const fc_generator *(*fc_generator_entry_fn)(void);
#define FC_GENERATOR_ENTRY "fc_generator_entry"

#ifdef __cplusplus
}
#endif

#endif
