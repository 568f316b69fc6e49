#include "avatar/prepare.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "avatar/generator.h"
#include "sources/image.h"

/* When the client did not say where the face is, ask the detector once and
 * hand the generator setup_kwargs.face = {"mouth", "eyes", "width"} in
 * picture pixels, so it animates the real mouth and eyes. Without a detector
 * or a face, the setup stays as the client sent it. */
static void locate_face(const fc_avatar_env *env, fc_avatar_request *req, const uint8_t *rgb, int w,
                        int h)
{
    if (!env->detector) return;
    json_t *setup = json_loads(req->setup_json, 0, NULL);
    fc_faces faces;
    if (setup && !json_object_get(setup, "face") &&
        fc_face_detect_rgb(env->detector, rgb, w * 3, w, h, &faces) == 0 && faces.count > 0) {
        const fc_face *f = &faces.face[0]; /* best first */
        json_object_set_new(
            setup, "face",
            json_pack("{s:[f,f], s:[[f,f],[f,f]], s:f}", "mouth", f->keypoints[FC_FACE_MOUTH].x,
                      f->keypoints[FC_FACE_MOUTH].y, "eyes", f->keypoints[FC_FACE_RIGHT_EYE].x,
                      f->keypoints[FC_FACE_RIGHT_EYE].y, f->keypoints[FC_FACE_LEFT_EYE].x,
                      f->keypoints[FC_FACE_LEFT_EYE].y, "width", f->w));
        char *text = json_dumps(setup, JSON_COMPACT);
        if (text) {
            free(req->setup_json);
            req->setup_json = text;
        }
    }
    json_decref(setup);
}

/* The picture (decoded from the descriptor that was checked), and the
 * generator opened on it. */
static int open_generator(const fc_avatar_env *env, fc_avatar_request *req, int source_fd,
                          fc_avatar_prepared *p, char *err, size_t errlen)
{
    const fc_generator *g = env->gen;
    char why[300];
    uint8_t *rgb;
    int w, h;
    int rc = fc_image_load_rgb_fd(source_fd, req->source_path, &rgb, &w, &h, why, sizeof why);
    if (rc != 0) {
        /* The loader starts with the name it was given; here it goes in
         * quotes after the field's name. */
        size_t nl = strlen(req->source_path);
        const char *cause =
            strncmp(why, req->source_path, nl) == 0 && strncmp(why + nl, ": ", 2) == 0
                ? why + nl + 2
                : why;
        snprintf(err, errlen, "source_path '%.200s': %s", req->source_path, cause);
        return rc < 0 ? rc : -EINVAL;
    }
    locate_face(env, req, rgb, w, h);
    fc_generator_image img = {.width = w, .height = h, .stride = w * 3, .rgb = rgb};
    rc = g->open(&img, req->setup_json, req->run_json, &p->gen_state, &p->info, why, sizeof why);
    free(rgb);
    if (rc != 0) {
        p->gen_state = NULL;
        snprintf(err, errlen, "generator %s: %s", g->name, why);
        return -EINVAL;
    }
    const fc_generator_info *i = &p->info;
    if (i->width < 2 || i->height < 2 || (i->width | i->height) & 1 || i->sample_rate < 8000 ||
        i->sample_rate > 192000 || i->channels < 1 || i->channels > 2) {
        snprintf(err, errlen,
                 "generator %s: reported %dx%d frames at %d Hz, %d channels (even sizes, "
                 "8-192 kHz, 1-2 channels)",
                 g->name, i->width, i->height, i->sample_rate, i->channels);
        return -EINVAL;
    }
    if (!fc_generator_has_i420(g)) {
        p->rgb = malloc((size_t)i->width * (size_t)i->height * 3);
        if (!p->rgb) {
            snprintf(err, errlen, "out of memory for a %dx%d frame", i->width, i->height);
            return -ENOMEM;
        }
    }
    return 0;
}

/* The speech as 16-bit little-endian PCM, for the client to play. */
static int make_audio_block(fc_avatar_prepared *p, char *err, size_t errlen)
{
    size_t n = p->audio.frames * (size_t)p->audio.channels;
    p->audio_block = malloc(FC_FRAME_HEADROOM + 2 * n);
    if (!p->audio_block) {
        snprintf(err, errlen, "out of memory for %zu audio samples", n);
        return -ENOMEM;
    }
    uint8_t *d = p->audio_block + FC_FRAME_HEADROOM;
    for (size_t i = 0; i < n; i++) {
        float s = p->audio.samples[i];
        s = s > 1 ? 1 : s < -1 ? -1 : s;
        int16_t v = (int16_t)lrintf(s * 32767.0f);
        d[2 * i] = (uint8_t)(v & 0xff);
        d[2 * i + 1] = (uint8_t)((uint16_t)v >> 8);
    }
    p->audio_len = 2 * n;
    return 0;
}

int fc_avatar_prepare(const fc_avatar_env *env, fc_avatar_request *req, fc_avatar_prepared *p,
                      char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    char why[300];
    /* Both are opened (and so checked) before any decoding, and decoded from
     * these descriptors: what was checked is what is read. */
    int source_fd = -1, audio_fd = -1;
    int rc = fc_media_open_file(env->media, req->source_path, &source_fd, why, sizeof why);
    if (rc != 0) {
        snprintf(err, errlen, "source_path: %s", why);
        return rc;
    }
    rc = fc_media_open_file(env->media, req->audio_path, &audio_fd, why, sizeof why);
    if (rc != 0) {
        close(source_fd);
        snprintf(err, errlen, "audio_path: %s", why);
        return rc;
    }
    rc = open_generator(env, req, source_fd, p, err, errlen);
    close(source_fd);
    if (rc == 0) {
        rc = fc_audio_load_fd(audio_fd, p->info.sample_rate, p->info.channels, &p->audio, why,
                              sizeof why);
        if (rc != 0) snprintf(err, errlen, "audio_path '%.200s': %s", req->audio_path, why);
    }
    close(audio_fd);
    if (rc == 0) {
        double frames = ceil(p->audio.duration * req->fps - 1e-9);
        p->expected_frames = frames < 1 ? 1 : (uint32_t)frames;
        if (req->want_audio) rc = make_audio_block(p, err, errlen);
    }
    if (rc != 0) fc_avatar_prepared_release(env->gen, p);
    return rc;
}

void fc_avatar_prepared_release(const fc_generator *gen, fc_avatar_prepared *p)
{
    if (p->gen_state) gen->close(p->gen_state);
    p->gen_state = NULL;
    fc_audio_free(&p->audio);
    free(p->rgb);
    p->rgb = NULL;
}
