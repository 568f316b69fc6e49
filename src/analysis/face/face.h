/* Face detection with MediaPipe's BlazeFace (short-range 128x128 "front" or
 * 256x256 "back" model) on XNNPACK.
 *
 * One detector per model file. It owns the loaded model (shared, read-only)
 * and a pool of per-inference workspaces (XNNPACK runtime + scratch images).
 * Detection calls are thread-safe and may come from any thread, concurrently:
 * each call borrows a free workspace or makes a new one, so the pool grows to
 * the number of threads that ever detect at once, and inference runs on the
 * calling thread (no XNNPACK thread pool, nothing spins or polls).
 * fc_face_detector_close must not race with detection calls.
 *
 * Results are in source-image pixels: x, y is the top-left corner of the box. */
#ifndef FC_ANALYSIS_FACE_H
#define FC_ANALYSIS_FACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FC_FACES_MAX 32
#define FC_FACE_KEYPOINTS 6

/* MediaPipe's keypoint order. */
enum {
    FC_FACE_RIGHT_EYE = 0,
    FC_FACE_LEFT_EYE = 1,
    FC_FACE_NOSE_TIP = 2,
    FC_FACE_MOUTH = 3,
    FC_FACE_RIGHT_EAR = 4,
    FC_FACE_LEFT_EAR = 5,
};

typedef struct fc_face {
    float x, y, w, h;
    float score; /* 0..1 */
    struct {
        float x, y;
    } keypoints[FC_FACE_KEYPOINTS];
} fc_face;

typedef struct fc_faces {
    int count; /* best first */
    fc_face face[FC_FACES_MAX];
} fc_faces;

typedef struct fc_face_detector_opts {
    float min_score; /* keep detections scoring at least this; 0 = 0.5 */
    float nms_iou;   /* merge boxes overlapping more than this; 0 = 0.3 */
    int max_faces;   /* 0 or > FC_FACES_MAX = FC_FACES_MAX */
    /* Run the model on the whole letterbox square even for pictures that are
     * not square. By default the model runs on the band the picture fills,
     * rounded up to the model's coarsest stride (128x80 of 128x128 for
     * 16:9): the same network at a smaller input, 62% of the work there.
     * Faces agree with the square run to within what docs/detection.md
     * states; the square run is the reference (MediaPipe's own input). */
    bool square_input;
} fc_face_detector_opts;

typedef struct fc_face_detector fc_face_detector;

/* Loads the model and checks it looks like BlazeFace (one NHWC RGB input,
 * score and box outputs matching the SSD anchors). opts may be NULL. */
int fc_face_detector_open(const char *model_path, const fc_face_detector_opts *opts,
                          fc_face_detector **out, char *err, size_t errlen);
void fc_face_detector_close(fc_face_detector *d);

/* The model's input size in pixels (square). */
int fc_face_detector_input_size(const fc_face_detector *d);

/* Detects faces in an I420 picture (e.g. an fc_frame's planes). w and h may be
 * odd. Returns 0, or a negative errno (-EINVAL: bad picture, -ENOMEM, -EIO:
 * inference failed) with out->count = 0. */
int fc_face_detect_i420(fc_face_detector *d, const uint8_t *y, int ystride, const uint8_t *u,
                        int ustride, const uint8_t *v, int vstride, int w, int h, fc_faces *out);

/* The size (*sw x *sh) a w x h picture is scaled to inside the model's
 * square. -EINVAL for an impossible size. */
int fc_face_detector_scaled_size(const fc_face_detector *d, int w, int h, int *sw, int *sh);

/* The model input (*iw x *ih) a w x h picture runs at: the band it fills
 * (128x80 for 16:9 with the 128 model) or, with square_input, the square.
 * -EINVAL for an impossible size. */
int fc_face_detector_input_for(const fc_face_detector *d, int w, int h, int *iw, int *ih);

/* Detection in two steps, for callers that look at the scaled picture before
 * deciding to spend an inference on it (motion gating): prepare scales the
 * luma plane into a workspace (the expensive read of the full frame, done
 * once); fc_face_input_luma shows it (*w x *h as fc_face_detector_scaled_size
 * says, rows packed); then either fc_face_input_detect scales the chroma and
 * runs the model or fc_face_input_drop gives the workspace back. Both end the
 * input; the planes must stay valid until then. Same errors as
 * fc_face_detect_i420. */
typedef struct fc_face_input fc_face_input;
#define FC_FACE_SQUARE 1u /* prepare flag: this picture runs on the whole square */
int fc_face_prepare_i420(fc_face_detector *d, const uint8_t *y, int ystride, const uint8_t *u,
                         int ustride, const uint8_t *v, int vstride, int w, int h, unsigned flags,
                         fc_face_input **out);

/* Whether a face box (picture pixels) of a w x h picture lies near enough to
 * an edge the band input cuts (top and bottom of a wide picture, sides of a
 * tall one: within FC_FACE_BAND_EDGE (5%) of the picture's extent that way, or
 * across it) that the band's answer strays from the square's
 * (docs/detection.md, "Band input"). A caller that tracks faces runs the next
 * picture with FC_FACE_SQUARE then. False when the band is the square. */
#define FC_FACE_BAND_EDGE 0.05f
bool fc_face_near_band_edge(const fc_face_detector *d, int w, int h, float x, float y, float bw,
                            float bh);
const uint8_t *fc_face_input_luma(const fc_face_input *in, int *w, int *h);
int fc_face_input_detect(fc_face_input *in, fc_faces *out);
void fc_face_input_drop(fc_face_input *in);

/* Detects faces in packed 8-bit RGB (R, G, B byte order). */
int fc_face_detect_rgb(fc_face_detector *d, const uint8_t *rgb, int stride, int w, int h,
                       fc_faces *out);

/* The square letterboxed RGB picture (size x size x 3, where size is
 * fc_face_detector_input_size) the model sees with square_input, for
 * reference generation and debugging. */
int fc_face_letterbox_rgb(fc_face_detector *d, const uint8_t *rgb, int stride, int w, int h,
                          uint8_t *dst);

/* fc_face_detect_rgb that also reports how long each stage took, for
 * benchmarks. timing may be NULL. */
typedef struct fc_face_timing {
    double preprocess_s, inference_s, decode_s;
} fc_face_timing;
int fc_face_detect_rgb_timed(fc_face_detector *d, const uint8_t *rgb, int stride, int w, int h,
                             fc_faces *out, fc_face_timing *timing);

#endif
