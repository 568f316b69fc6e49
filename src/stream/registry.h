/* fc_stream_set: the streams a loop serves, looked up by id.
 * Built at start-up; read by the transport. Loop thread only. */
#ifndef FC_STREAM_REGISTRY_H
#define FC_STREAM_REGISTRY_H

#include <stddef.h>

#include "stream/stream.h"

typedef struct fc_stream_set {
    fc_stream **v;
    size_t n, cap;
} fc_stream_set;

/* Takes the stream: 0, or -EEXIST when the id is taken, -ENOMEM (the caller
 * still owns it then). */
int fc_stream_set_add(fc_stream_set *set, fc_stream *s);
fc_stream *fc_stream_set_find(const fc_stream_set *set, const char *id);
/* Frees the array, not the streams. */
void fc_stream_set_clear(fc_stream_set *set);

#endif
