/* FFmpeg's log, made ours: its lines go to fc_log at debug level (never to
 * stderr on their own, never one per corrupt macroblock at info level), with
 * credentials redacted, and the last error line logged on a thread can be
 * captured into a buffer, because FFmpeg often returns a bare code
 * (AVERROR(EIO)) and says what really happened only in its log ("Failed to
 * resolve hostname cam.local: ..."). */
#ifndef FC_SOURCES_AV_LOG_H
#define FC_SOURCES_AV_LOG_H

#include <stddef.h>

/* Installs the callback and registers the devices (V4L2) once per process.
 * Any thread. */
void fc_av_init(void);

/* From now on, FFmpeg error lines logged on the calling thread are written
 * into buf (each replacing the last); NULL stops. The caller keeps buf alive
 * meanwhile. */
void fc_av_log_capture(char *buf, size_t len);

#endif
