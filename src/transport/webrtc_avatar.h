/* fc_webrtc_avatar: one avatar session over WebRTC (run_kwargs.transport =
 * "webrtc"): a Streaming mountpoint with VP8 video and Opus audio, the
 * session's frames and its speech sent to it (docs/webrtc.md).
 *
 *   ws_avatar: start_streaming ─► fc_webrtc_avatar_new ─► mountpoint asked for
 *   ready(mountpoint id) ─► the session starts; streaming_started names the id
 *   the session's audio block ─► Opus on a worker (FC_JOB_SETUP) ─► 20 ms
 *       packets paced on the audio clock from the moment the block came
 *   the session's frames (VP8, 15 fps) ─► RTP as they are handed over, their
 *       media time on that same clock
 *   PLI/FIR ─► fc_avatar_want_key: the output's coalesced key frame
 *
 * The session paces frames at their media time from its start (session.h),
 * which is when it hands over the audio, so both leave on one clock: Janus
 * stamps its RTCP to the viewers by arrival, which then lines them up. An
 * audio packet found more than AUDIO_LATE_MS late (the Opus job still ran)
 * is skipped rather than sent behind its picture.
 *
 * Opus encodes at the audio's own rate when Opus takes it (8, 12, 16, 24,
 * 48 kHz), else speexdsp resamples it to 48 kHz (encode/opus.h).
 *
 * Ownership: the avatar endpoint owns it and frees it when the session
 * ends (completed, stopped, failed) or the connection closes: that destroys
 * the mountpoint. It may be freed from inside any of its callbacks and from
 * the session's callbacks during fc_webrtc_avatar_wake's sending. Loop
 * thread only. */
#ifndef FC_TRANSPORT_WEBRTC_AVATAR_H
#define FC_TRANSPORT_WEBRTC_AVATAR_H

#include <stddef.h>
#include <stdint.h>

#include "avatar/session.h"
#include "core/pool.h"
#include "transport/webrtc.h"

typedef struct fc_webrtc_avatar fc_webrtc_avatar;

typedef struct fc_webrtc_avatar_events {
    /* The mountpoint exists in Janus (once; a re-creation after a Janus
     * restart is not reported again: its id stays). */
    void (*ready)(void *ctx, uint64_t mountpoint);
    /* Janus refused it, or did not create it within 10 s: `why` names it. */
    void (*failed)(void *ctx, const char *why);
} fc_webrtc_avatar_events;

/* Asks for the mountpoint of `client_id`'s session. 0, or a negative errno
 * with err (-ENOSPC: too many mountpoints, -ENOMEM). */
int fc_webrtc_avatar_new(fc_webrtc *w, fc_pool *pool, const char *client_id,
                         const fc_webrtc_avatar_events *ev, void *ctx, fc_webrtc_avatar **out,
                         char *err, size_t errlen);
/* The session whose frames go out, once it started. */
void fc_webrtc_avatar_attach(fc_webrtc_avatar *r, fc_avatar *av);
/* The session's speech (its audio callback): takes the block, encodes it to
 * Opus on a worker and paces it from now. */
void fc_webrtc_avatar_audio(fc_webrtc_avatar *r, fc_avatar_audio *a);
/* Frames are waiting in the session (its wake callback): they are sent
 * soon, from a callback of our own rather than from inside the hub's. */
void fc_webrtc_avatar_wake(fc_webrtc_avatar *r);
/* Destroys the mountpoint and frees it (once its Opus job is back). NULL is
 * fine. */
void fc_webrtc_avatar_free(fc_webrtc_avatar *r);

#endif
