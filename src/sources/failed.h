/* A source that cannot run: what a --source spec of a type this build does
 * not have becomes. It is a pushing source (render is NULL) whose state is
 * `failed` from the start, with the reason as its error, so the stream exists,
 * says what is wrong in /api/streams and /metrics, and costs nothing: no
 * thread, no connection, no frame.
 *
 * Threads: create on any thread; the fc_source_ops on the loop given to
 * start, like every pushing source. */
#ifndef FC_SOURCES_FAILED_H
#define FC_SOURCES_FAILED_H

#include <stddef.h>

#include "sources/source.h"

/* `description` (shown as the source; no credentials in it) and `error`
 * (why it cannot run) are copied. 0, or -ENOMEM with err. */
int fc_failed_source_create(const char *description, const char *error, fc_source **out, char *err,
                            size_t errlen);

#endif
