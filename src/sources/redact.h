/* Credentials never leave the process: every URL a user gave may carry
 * `user:password@`, and everything we print, serve or count about a source
 * (log lines, /api/streams, error texts, FFmpeg's own messages) goes through
 * fc_redact first. Pure functions, any thread. */
#ifndef FC_SOURCES_REDACT_H
#define FC_SOURCES_REDACT_H

#include <stddef.h>

/* Copies `in` to `out` (always NUL-terminated, truncated to outlen) with the
 * user-info of every `scheme://user[:password]@host` in it replaced by three
 * asterisks: after "rtsp://", "admin:pw@cam/x" becomes "***@cam/x". Returns
 * out. */
char *fc_redact(const char *in, char *out, size_t outlen);

#endif
