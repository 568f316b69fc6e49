/* fc_janus: framecast's client of Janus Gateway's HTTP API: one session with
 * the Streaming plugin attached, through which it creates and destroys `rtp`
 * mountpoints (docs/webrtc.md).
 *
 * It keeps one long poll open on its session: that is how Janus delivers
 * events, it counts as session activity (so no keepalive messages are
 * needed, see scripts/run-janus), and the moment Janus dies its TCP
 * connection drops, so framecast knows at once rather than at its next
 * request. Janus unreachable is a state with a reason, retried with backoff
 * (0.25 s doubling to 5 s); when Janus answers again, a session that still
 * exists means nothing was lost, and a session that is gone ("No such
 * session") means Janus restarted with none of our mountpoints: the client
 * creates them again, with the same ids, and reports their new ports.
 *
 * Mountpoints are owned by the caller: each one reports `ready` (with the
 * ports to send RTP to), `lost` (stop sending: Janus went away; `ready`
 * follows when it is back) and `failed` (Janus refused it; not retried).
 * Every mountpoint gets the admin key as its secret, so only a holder of the
 * key can destroy it. A mountpoint whose id already exists in Janus (left by
 * an earlier framecast that died) is destroyed and created anew.
 *
 * Requests go one at a time beside the long poll; each has a deadline. All
 * memory is bounded: at most max_mountpoints mountpoints, answers of at most
 * 64 KiB.
 *
 * Threads: the loop thread only; callbacks run on it, from libuv callbacks
 * (never inside libwebsockets'), and may create or free mountpoints. */
#ifndef FC_TRANSPORT_JANUS_H
#define FC_TRANSPORT_JANUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "transport/janus_api.h" /* fc_janus_ports */
#include "transport/rtp.h"

/* Payload types of the mountpoints' streams (any dynamic type would do;
 * these are the ones Janus's samples use). */
#define FC_JANUS_VIDEO_PT 96
#define FC_JANUS_AUDIO_PT 111

typedef enum {
    FC_JANUS_CONNECTING = 0, /* creating or checking the session */
    FC_JANUS_READY,
    FC_JANUS_UNREACHABLE, /* retrying; `why` says what failed */
} fc_janus_state;

const char *fc_janus_state_name(fc_janus_state s);

typedef struct fc_janus fc_janus;
typedef struct fc_janus_mountpoint fc_janus_mountpoint;

typedef struct fc_janus_config {
    const char *url;          /* http://ADDRESS:PORT/PATH of the API; ADDRESS an IP literal,
                                 the mountpoints' ports are bound there too */
    const char *admin_key;    /* the Streaming plugin's admin_key */
    unsigned timeout_ms;      /* deadline of each request; 0 = 5000 */
    unsigned max_mountpoints; /* 0 = 256 */
    void (*on_state)(fc_janus_state state, const char *why, void *arg); /* may be NULL */
    void *arg;
} fc_janus_config;

/* Starts connecting; returns 0, or a negative errno-style code with the
 * reason in err (a URL that is not http://IP:PORT/PATH, no admin key). */
int fc_janus_open(uv_loop_t *loop, const fc_janus_config *cfg, fc_janus **out, char *err,
                  size_t errlen);
/* The state now and, unless READY, why (valid until the next callback). */
fc_janus_state fc_janus_status(const fc_janus *j, const char **why);
/* Destroys every mountpoint still open and the session in Janus (each step
 * bounded by the request deadline), then calls done. No callback of any
 * mountpoint runs after this call. */
void fc_janus_close(fc_janus *j, void (*done)(void *arg), void *arg);
/* Frees it, once fc_janus_close has called done and uv_run has returned. */
void fc_janus_free(fc_janus *j);

typedef struct fc_janus_mp_config {
    uint64_t id;             /* 0: Janus picks one; either way it is kept when re-created */
    const char *description; /* may be NULL */
    fc_rtp_codec video;      /* FC_RTP_VP8 or FC_RTP_H264; 0: no video */
    const char *video_fmtp;  /* e.g. "profile-level-id=42e01f;packetization-mode=1"; may be NULL */
    bool audio;              /* an Opus stream (48 kHz RTP clock) */
} fc_janus_mp_config;

typedef struct fc_janus_mp_events {
    void (*ready)(fc_janus_mountpoint *mp, const fc_janus_ports *ports, void *arg);
    void (*lost)(fc_janus_mountpoint *mp, const char *why, void *arg);
    void (*failed)(fc_janus_mountpoint *mp, const char *why, void *arg);
    void *arg;
} fc_janus_mp_events;

/* Asks for a mountpoint; it is created as soon as Janus is ready. Returns 0,
 * or -EINVAL (no media, a codec Janus cannot take), -ENOSPC (max_mountpoints
 * reached), -ESHUTDOWN (closing), with the reason in err. */
int fc_janus_mountpoint_new(fc_janus *j, const fc_janus_mp_config *cfg,
                            const fc_janus_mp_events *ev, fc_janus_mountpoint **out, char *err,
                            size_t errlen);
/* Destroys it in Janus (in the background) and frees it; no callback runs
 * after this call. */
void fc_janus_mountpoint_free(fc_janus_mountpoint *mp);

#endif
