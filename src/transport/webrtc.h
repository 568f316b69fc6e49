/* fc_webrtc: framecast's streams over WebRTC through Janus (docs/webrtc.md).
 *
 * `framecast serve --janus URL --janus-admin-key K` opens one: an fc_janus
 * client and, for every stream it is given, a Streaming-plugin `rtp`
 * mountpoint (Janus picks its id; the client keeps it when it re-creates the
 * mountpoint after a Janus restart) and an fc_rtp_out sending to its ports.
 *
 * What is sent is the stream's full view in VP8 on the medium tier, taken
 * as a subscriber of the stream like any WebSocket viewer (the same output:
 * a WebSocket VP8 viewer on that tier shares the encode). Janus forwards one
 * encoding to all its viewers, so the tier is the one most links take.
 * A stream of an H.264 file or camera (fc_stream_offers_h264) sends the
 * camera's own access units instead (RFC 6184, FU-A): a passthrough
 * subscriber, so nothing is decoded or encoded for WebRTC at all.
 * PLI and FIR from the mountpoint's RTCP port, and packets the kernel
 * refused, ask the hub for a key frame through the coalescing every
 * WebSocket join goes through (at most one forced per second per tier).
 *
 * Janus tells nobody when a mountpoint's last viewer leaves (docs/webrtc.md
 * says what was tried), so frames are sent while the mountpoint exists in
 * Janus: from its `ready` until it is `lost` (Janus away: the subscriber is
 * dropped, so nothing is encoded for it) or the stream is removed.
 *
 * Streams come and go while the server runs (the stream API adds, replaces
 * and deletes them): a stream that joins the set gets its mountpoint, one
 * that leaves it loses it (a replaced stream's successor gets a new one,
 * with a new id). When Janus refuses one, the stream says why.
 *
 * Ownership: the server owns the fc_webrtc; streams are borrowed through
 * the stream set, as its user (stream/registry.h). Loop thread only.
 * Errors: negative errno-style codes with the reason. */
#ifndef FC_TRANSPORT_WEBRTC_H
#define FC_TRANSPORT_WEBRTC_H

#include <jansson.h>
#include <stddef.h>

#include "core/loop.h"
#include "stream/registry.h"
#include "stream/stream.h"

typedef struct fc_webrtc fc_webrtc;

typedef struct fc_webrtc_config {
    const char *url;       /* Janus's HTTP API, http://IP:PORT/PATH */
    const char *admin_key; /* the Streaming plugin's admin_key */
    /* Every stream in it gets a mountpoint, and so does every stream that
     * joins it later (its `joined` hook is ours until fc_webrtc_close); each
     * mountpoint goes when its stream leaves (we are a user of each). */
    fc_stream_set *streams;
} fc_webrtc_config;

/* 0, or a negative errno with err (a bad URL, no key). Janus need not be up:
 * the client retries, and every stream says why WebRTC is unavailable. */
int fc_webrtc_open(fc_loop *loop, const fc_webrtc_config *cfg, fc_webrtc **out, char *err,
                   size_t errlen);
/* What /api/streams says of `stream_id`: {"available": bool, "mountpoint":
 * id or null, "why": text or null, "janus": state}; a new reference. */
json_t *fc_webrtc_stream_json(const fc_webrtc *w, const char *stream_id);
/* Janus's origin, http://HOST:PORT: framecast's pages fetch from it (the
 * server's Content-Security-Policy names it). */
const char *fc_webrtc_origin(const fc_webrtc *w);
/* What /api/server says: {"janus": URL pages play from, "state", "why"},
 * or null for NULL; a new reference. */
json_t *fc_webrtc_server_json(const fc_webrtc *w);
/* For the avatar sessions' mountpoints (webrtc_avatar.h): the client and
 * the loop. */
struct fc_janus *fc_webrtc_janus(const fc_webrtc *w);
fc_loop *fc_webrtc_loop(const fc_webrtc *w);
/* Lets go of every stream, destroys the mountpoints and the session in Janus
 * (bounded by the client's request deadline), then calls done. */
void fc_webrtc_close(fc_webrtc *w, void (*done)(void *arg), void *arg);
/* After done and once uv_run has returned. NULL is fine. */
void fc_webrtc_free(fc_webrtc *w);

#endif
