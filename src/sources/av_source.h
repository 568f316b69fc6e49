/* Pushing sources through FFmpeg's libraries: file:, rtsp://, rtsps://,
 * v4l2: and synthetic:video (a file looped under the synthetic pan/zoom).
 *
 *   demux thread (sources/av_demux.h) ──bounded hand-off──► loop
 *       connect, read, pace, reconnect        │  packets wanted? ─► sink->on_packet
 *                                             │  pixels wanted?  ─► decode stage
 *                                             ▼
 *   decode stage (sources/av_decode.h): in order on the pool, one packet per
 *       job, drop to the next key frame when behind ─► loop ─► sink->on_frame
 *
 * Only what the demand asks for is done: no demand, no connection (after
 * idle_close) and no job; packets only, no decoding; key frames only, no job
 * for a delta. The source's functions are in fc_source_ops (sources/source.h).
 *
 * Threads: create on any thread; everything else on the loop given to
 * start. */
#ifndef FC_SOURCES_AV_SOURCE_H
#define FC_SOURCES_AV_SOURCE_H

#include <stddef.h>

#include "sources/source.h"

/* width, height, fps: the server's defaults, used by synthetic:video (the
 * other types keep the picture's own size and rate unless the spec says). */
int fc_av_source_create(const fc_source_spec *spec, int width, int height, double fps,
                        fc_source **out, char *err, size_t errlen);

#endif
