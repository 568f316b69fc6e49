/* Preparing an avatar session, on a worker: the client's paths resolved
 * inside the media directory, the picture decoded, the face found when the
 * client did not say where it is, the generator opened, the speech decoded
 * and converted to the generator's format, and the opt-in audio block made.
 *
 * Worker threads only (decoding is proportional to the files' sizes; the
 * generator ABI promises generators only worker calls). The caller owns the
 * result and gives it back with fc_avatar_prepared_release, also on a
 * worker. */
#ifndef FC_AVATAR_PREPARE_H
#define FC_AVATAR_PREPARE_H

#include <stddef.h>
#include <stdint.h>

#include "avatar/audio.h"
#include "avatar/session.h"

typedef struct fc_avatar_prepared {
    void *gen_state;
    fc_generator_info info;
    fc_audio audio;
    uint8_t *rgb; /* scratch for generators without render_i420 */
    uint32_t expected_frames;
    /* With want_audio: FC_FRAME_HEADROOM bytes, then the speech as PCM s16le
     * at the generator's rate and channels. */
    uint8_t *audio_block;
    size_t audio_len;
} fc_avatar_prepared;

/* Prepares `req` (whose setup_json may be replaced: it then names the face
 * the detector found). 0, or a negative errno with err naming the client's
 * path or the generator and the cause; what was made is released then. */
int fc_avatar_prepare(const fc_avatar_env *env, fc_avatar_request *req, fc_avatar_prepared *out,
                      char *err, size_t errlen);
/* Closes the generator and frees what fc_avatar_prepare made but the audio
 * block (whoever took it frees it). */
void fc_avatar_prepared_release(const fc_generator *gen, fc_avatar_prepared *p);

#endif
