/* fc_event: a JSON text message built once and sent to many subscribers
 * (detection results), refcounted like a frame.
 *
 * The text starts FC_FRAME_HEADROOM bytes into `buf`, so the transport can
 * write its own framing in front of it without a copy. The references are
 * plain counts: an event is made, shared and dropped on its loop thread. */
#ifndef FC_CORE_EVENT_H
#define FC_CORE_EVENT_H

#include <stddef.h>

#include "core/frame.h"

typedef struct fc_event {
    unsigned refs;
    size_t len;
    /* NULL; or, for an event that says a subscriber's request cannot be
     * served, the close reason (static text) its endpoint closes it with
     * once the event is written, on whichever loop it is. */
    const char *closes;
    unsigned char buf[]; /* FC_FRAME_HEADROOM, then len bytes of text */
} fc_event;

/* A new event holding a copy of `text` (one reference), or NULL on OOM. */
fc_event *fc_event_new(const char *text, size_t len);
fc_event *fc_event_ref(fc_event *e);
/* NULL is fine. */
void fc_event_unref(fc_event *e);
static inline unsigned char *fc_event_text(fc_event *e)
{
    return e->buf + FC_FRAME_HEADROOM;
}

#endif
